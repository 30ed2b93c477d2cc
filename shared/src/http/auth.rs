//! Who is calling: bearer token → active user, and the permission checks routes ask for.

use super::error::{ApiError, ApiResult, AuthFailure};
use super::request::ApiRequest;
use crate::domain::ports::UserStore;
use crate::domain::tokens::TokenKeys;
use crate::domain::{Permission, User};

pub struct Authenticator<S> {
    keys: TokenKeys,
    users: S,
}

impl<S: UserStore> Authenticator<S> {
    pub fn new(keys: TokenKeys, users: S) -> Self {
        Self { keys, users }
    }

    pub fn keys(&self) -> &TokenKeys {
        &self.keys
    }

    pub fn users(&self) -> &S {
        &self.users
    }

    /// The caller, who must hold a valid access token of an existing, active user.
    pub async fn current_user(&self, request: &ApiRequest) -> ApiResult<User> {
        let token = request
            .bearer_token()
            .ok_or(ApiError::Unauthorized(AuthFailure::Missing))?;
        let user_id = self
            .keys
            .verify_access(token)
            .map_err(|_| ApiError::Unauthorized(AuthFailure::Invalid))?;
        let user = self
            .users
            .get(user_id)
            .await?
            .ok_or(ApiError::Unauthorized(AuthFailure::Invalid))?;
        if !user.is_active {
            return Err(ApiError::Unauthorized(AuthFailure::Invalid));
        }
        request.set_user(user.id);
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
