//! The caller of a request: its bearer token through `domain::auth::Authenticator`, and the
//! permission checks routes ask for, answered in the contract's words.

use crate::error::{ApiError, ApiResult, AuthFailure};
use crate::request::ApiRequest;
use domain::auth::{AuthError, Authenticator};
use domain::ports::Accounts;
use domain::{Permission, User};
use std::future::Future;

/// Who is calling, for the handlers of an API function.
pub trait Caller: Send + Sync {
    /// The caller, who must hold a valid access token (401 otherwise); recorded for the log line.
    fn current_user(&self, request: &ApiRequest) -> impl Future<Output = ApiResult<User>> + Send;

    /// The caller, who must also hold the admin permission (403 otherwise).
    fn current_superuser(&self, request: &ApiRequest) -> impl Future<Output = ApiResult<User>> + Send {
        async move {
            let user = self.current_user(request).await?;
            require(&user, Permission::Admin)?;
            Ok(user)
        }
    }
}

impl<S: Accounts> Caller for Authenticator<S> {
    async fn current_user(&self, request: &ApiRequest) -> ApiResult<User> {
        let token = request
            .bearer_token()
            .ok_or(ApiError::Unauthorized(AuthFailure::Missing))?;
        let user = self.user_of(token).await?;
        request.set_user(user.id);
        Ok(user)
    }
}

impl From<AuthError> for ApiError {
    fn from(err: AuthError) -> Self {
        match err {
            AuthError::Invalid => Self::Unauthorized(AuthFailure::Invalid),
            AuthError::Store(store) => store.into(),
        }
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
