//! What a store port can answer besides its value. The HTTP layer maps these to the contract.

/// A store failed, or found something other than asked.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum StoreError {
    #[error("email already registered")]
    EmailTaken,
    #[error("record not found")]
    NotFound,
    /// Another writer changed the record since it was read.
    #[error("record changed concurrently")]
    Conflict,
    /// The store could not be reached or throttled: retrying later may work.
    #[error("store unavailable: {0}")]
    Unavailable(String),
    #[error("stored record is malformed: {0}")]
    Corrupt(String),
    /// The store refused a request that should never have been sent (a bug, not bad input:
    /// input is checked before it reaches the store).
    #[error("store refused the request: {0}")]
    Refused(String),
}

/// A conditional write of a versioned record did not happen.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum WriteError {
    /// The record is gone, or another writer changed it since it was read.
    #[error("the record changed or disappeared")]
    Conflict,
    /// The idempotency key was taken by a concurrent request.
    #[error("idempotency key already used")]
    KeyTaken,
    #[error(transparent)]
    Store(#[from] StoreError),
}
