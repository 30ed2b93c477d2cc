//! What items and posts share: a record one user owns, versioned so concurrent writers cannot
//! lose each other's changes, listed newest first from one or more sources.

use uuid::Uuid;

/// A record a user owns.
pub trait Owned: Sized + Clone + Send + Sync + 'static {
    /// "Item", "Post": used in messages (`Item not found`).
    const NAME: &'static str;
    /// The resource's path segment and idempotency scope: "items", "posts".
    const COLLECTION: &'static str;
    /// Where a listing reads from (all items, one owner's, published posts, drafts…).
    type Source: Clone + std::fmt::Debug + Send + Sync;
    /// What an update may change.
    type Changes: Clone + Send + Sync;

    fn id(&self) -> Uuid;
    fn owner(&self) -> Uuid;
    fn version(&self) -> u64;
    /// `<created_at>#<id>`: the order of every listing (newest first) and a cursor's position.
    fn sort_key(&self) -> String;
    /// Every source that lists records of `owner` (what the delete-user cascade empties).
    fn sources_of(owner: Uuid) -> Vec<Self::Source>;
    /// Whether the record is listed in `source`.
    fn listed_in(&self, source: &Self::Source) -> bool;
    /// Whether `search` (lower-case) is in the record's searchable text.
    fn matches(&self, search: &str) -> bool;
    /// The record with `changes` applied, or `None` when they change nothing.
    fn changed(&self, changes: &Self::Changes) -> Option<Self>;
    /// Marks a new revision: the version goes up and `updated_at` is now.
    fn touch(&mut self);
}

/// Which rows to list: the union of `sources`, newest first, before a position, optionally
/// narrowed to rows whose text contains `search`.
#[derive(Debug, Clone)]
pub struct Listing<S> {
    pub sources: Vec<S>,
    pub search: Option<String>,
    /// The sort key to continue after (exclusive), from a cursor.
    pub before: Option<String>,
}

impl<S> Listing<S> {
    pub fn of(sources: Vec<S>) -> Self {
        Self {
            sources,
            search: None,
            before: None,
        }
    }

    /// What a cursor must be signed for: the same sources and search, any position.
    pub fn scope(&self, collection: &str) -> String
    where
        S: std::fmt::Debug,
    {
        format!(
            "{collection}|{:?}|q={}",
            self.sources,
            self.search.as_deref().unwrap_or_default()
        )
    }
}

/// The first answer to a create with an `Idempotency-Key`, kept to replay it to retries.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Remembered {
    /// Whose create it was: one user's key never replays another's answer.
    pub owner: Uuid,
    /// The client's `Idempotency-Key`.
    pub client_key: String,
    /// A digest of the request body: the same key with another body is refused.
    pub fingerprint: String,
    pub status: u16,
    pub body: String,
    pub etag: String,
}
