//! Who is calling: a bearer credential → the active user it acts for and how (`Principal`), by
//! one set of rules for every door (the HTTP API's bearer token, the WebSocket API's `token`
//! parameter). A credential is an access token of a login, or an API key (`sbk_…`) with its
//! scopes; both become the same `Principal`.

use crate::api_key::{self, Scope, Scopes};
use crate::ports::Accounts;
use crate::tokens::TokenKeys;
use crate::{StoreError, User};
use time::OffsetDateTime;
use uuid::Uuid;

/// What a caller presented.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Credential {
    /// An access token of a login (a session): the user themselves.
    Session(Uuid),
    /// An API key: its owner, within the key's scopes.
    ApiKey { id: Uuid, scopes: Scopes },
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
            Credential::ApiKey { .. } => None,
        }
    }

    /// Whether the caller may use a route that a key reaches with `needed` (`None`: a route no
    /// key reaches). The user themselves may use every route; a key, the routes of its scopes.
    pub fn may_use(&self, needed: Option<Scope>) -> bool {
        match self.credential {
            Credential::Session(_) => true,
            Credential::ApiKey { scopes, .. } => needed.is_some_and(|scope| scopes.contains(scope)),
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

    /// Who a bearer credential acts for: an API key's owner, or an access token's user.
    pub async fn caller_of(&self, token: &str) -> Result<Principal, AuthError> {
        if api_key::is_key(token) {
            self.key_of(token).await
        } else {
            self.session_of(token).await
        }
    }

    /// Who an API key acts for: its owner, existing and active, the key neither deleted nor
    /// expired. A use is written down at most once a minute ([`api_key::TOUCH_EVERY`]).
    pub async fn key_of(&self, token: &str) -> Result<Principal, AuthError> {
        let presented = api_key::presented(token).ok_or(AuthError::Invalid)?;
        let (user, key) = self.users.key_caller(presented.user_id, presented.key_id).await?;
        let (Some(user), Some(key)) = (user, key) else {
            return Err(AuthError::Invalid);
        };
        let now = OffsetDateTime::now_utc();
        if !user.is_active || !key.matches(&presented) || key.is_expired(now) {
            return Err(AuthError::Invalid);
        }
        if key.needs_touch(now) {
            // A lost write costs only that minute's `last_used_at`; the request is served.
            let _ = self.users.touch_key(&key, now).await;
        }
        Ok(Principal {
            user,
            credential: Credential::ApiKey {
                id: key.id,
                scopes: key.scopes,
            },
        })
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
