//! Who is calling: a bearer credential → the active user it acts for and how (`Principal`), by
//! one set of rules for every door (the HTTP API's bearer token, the WebSocket API's `token`
//! parameter).

use crate::ports::Accounts;
use crate::tokens::TokenKeys;
use crate::{StoreError, User};
use uuid::Uuid;

/// What a caller presented.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Credential {
    /// An access token of a login (a session): the user themselves.
    Session(Uuid),
}

/// Who a request acts for, and through which credential.
#[derive(Debug, Clone, PartialEq)]
pub struct Principal {
    pub user: User,
    pub credential: Credential,
}

impl Principal {
    /// The login the caller's access token belongs to.
    pub fn session(&self) -> Option<Uuid> {
        match self.credential {
            Credential::Session(id) => Some(id),
        }
    }
}

/// Why a token does not authenticate anyone.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum AuthError {
    /// Bad signature, expired, wrong type, unknown or inactive user, or a login that ended.
    #[error("invalid credentials")]
    Invalid,
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// Checks access tokens against the users and logins of `S`.
#[derive(Clone)]
pub struct Authenticator<S> {
    keys: TokenKeys,
    users: S,
}

impl<S: Accounts> Authenticator<S> {
    pub fn new(keys: TokenKeys, users: S) -> Self {
        Self { keys, users }
    }

    pub fn keys(&self) -> &TokenKeys {
        &self.keys
    }

    pub fn users(&self) -> &S {
        &self.users
    }

    /// Who a bearer credential acts for.
    pub async fn caller_of(&self, token: &str) -> Result<Principal, AuthError> {
        self.session_of(token).await
    }

    /// Who an access token acts for: an existing, active user, the token issued for a login that
    /// still stands and after the user's sessions last ended.
    pub async fn session_of(&self, token: &str) -> Result<Principal, AuthError> {
        let access = self.keys.verify_access(token).map_err(|_| AuthError::Invalid)?;
        let login = access.login.ok_or(AuthError::Invalid)?;
        let (user, login_active) = self.users.caller(access.user_id, login).await?;
        let user = user.ok_or(AuthError::Invalid)?;
        if !login_active || !user.accepts_token_issued_at(access.issued_at) {
            return Err(AuthError::Invalid);
        }
        Ok(Principal {
            user,
            credential: Credential::Session(login),
        })
    }
}
