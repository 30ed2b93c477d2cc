//! Who is calling: bearer token → active user, and the permission checks routes ask for.

use super::error::{ApiError, ApiResult, AuthFailure};
use super::request::ApiRequest;
use crate::domain::ports::Accounts;
use crate::domain::tokens::TokenKeys;
use crate::domain::{Permission, User};

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

    /// The caller, who must hold a valid access token of an existing, active user, issued for
    /// a login that still stands and after the user's sessions last ended.
    pub async fn current_user(&self, request: &ApiRequest) -> ApiResult<User> {
        let token = request
            .bearer_token()
            .ok_or(ApiError::Unauthorized(AuthFailure::Missing))?;
        let user = self.user_of(token).await?;
        request.set_user(user.id);
        Ok(user)
    }

    /// The user an access token acts for, by the same rules as [`Self::current_user`] (the
    /// WebSocket API's `token` query parameter).
    pub async fn user_of(&self, token: &str) -> ApiResult<User> {
        let invalid = || ApiError::Unauthorized(AuthFailure::Invalid);
        let access = self.keys.verify_access(token).map_err(|_| invalid())?;
        let login = access.login.ok_or_else(invalid)?;
        let (user, login_active) = self.users.caller(access.user_id, login).await?;
        let user = user.ok_or_else(invalid)?;
        if !login_active || !user.accepts_token_issued_at(access.issued_at) {
            return Err(invalid());
        }
        Ok(user)
    }

    /// The caller, who must also be a superuser.
    pub async fn current_superuser(&self, request: &ApiRequest) -> ApiResult<User> {
        let user = self.current_user(request).await?;
        require(&user, Permission::Admin)?;
        Ok(user)
    }
}

/// 403 with the reference backend's message unless the user's role grants `permission`.
pub fn require(user: &User, permission: Permission) -> ApiResult<()> {
    if user.role.can(permission) {
        Ok(())
    } else {
        Err(ApiError::Forbidden("The user doesn't have enough privileges".into()))
    }
}
