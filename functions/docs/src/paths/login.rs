//! `functions/login`: password login, refresh-token rotation, logout, password recovery.

use serde_json::json;
use shared::domain::Password;
use shared::http::openapi::{schema, HttpError, HttpValidationError};
use shared::http::public::{Message, Token, UserPublic};
use std::borrow::Cow;
use utoipa::openapi::schema::Schema;
use utoipa::openapi::RefOr;
use utoipa::{PartialSchema, ToSchema};

#[derive(utoipa::OpenApi)]
#[openapi(paths(
    login_access_token,
    test_token,
    refresh_token,
    logout,
    recover_password,
    reset_password,
    recover_password_html_content
))]
pub struct Api;

/// The OAuth2 password form the login function reads (its `PasswordForm`).
pub struct LoginForm;

impl PartialSchema for LoginForm {
    fn schema() -> RefOr<Schema> {
        schema(json!({
            "type": "object",
            "title": "Body_login-login_access_token",
            "required": ["username", "password"],
            "properties": {
                "grant_type": {
                    "anyOf": [{ "type": "string", "pattern": "^password$" }, { "type": "null" }],
                    "title": "Grant Type"
                },
                "username": { "type": "string", "title": "Username" },
                "password": { "type": "string", "format": "password", "title": "Password" },
                "scope": { "type": "string", "default": "", "title": "Scope" },
                "client_id": { "anyOf": [{ "type": "string" }, { "type": "null" }], "title": "Client Id" },
                "client_secret": {
                    "anyOf": [{ "type": "string" }, { "type": "null" }],
                    "format": "password",
                    "title": "Client Secret"
                }
            }
        }))
    }
}

impl ToSchema for LoginForm {
    fn name() -> Cow<'static, str> {
        Cow::Borrowed("Body_login-login_access_token")
    }
}

/// The body of `POST /login/refresh-token` (the login function's `RefreshBody`).
pub struct RefreshTokenRequest;

impl PartialSchema for RefreshTokenRequest {
    fn schema() -> RefOr<Schema> {
        schema(json!({
            "type": "object",
            "title": "RefreshTokenRequest",
            "required": ["refresh_token"],
            "properties": { "refresh_token": { "type": "string", "title": "Refresh Token" } }
        }))
    }
}

impl ToSchema for RefreshTokenRequest {
    fn name() -> Cow<'static, str> {
        Cow::Borrowed("RefreshTokenRequest")
    }
}

/// The body of `POST /reset-password/` (the login function's `NewPassword`).
pub struct NewPassword;

impl PartialSchema for NewPassword {
    fn schema() -> RefOr<Schema> {
        schema(json!({
            "type": "object",
            "title": "NewPassword",
            "required": ["token", "new_password"],
            "properties": {
                "token": { "type": "string", "title": "Token" },
                "new_password": {
                    "type": "string",
                    "minLength": Password::MIN_LEN,
                    "maxLength": Password::MAX_LEN,
                    "title": "New Password"
                }
            }
        }))
    }
}

impl ToSchema for NewPassword {
    fn name() -> Cow<'static, str> {
        Cow::Borrowed("NewPassword")
    }
}

/// Login Access Token
///
/// OAuth2 compatible token login, get an access token for future requests.
#[utoipa::path(
    post,
    path = "/api/v1/login/access-token",
    tag = "login",
    operation_id = "login-login_access_token",
    request_body(content = LoginForm, content_type = "application/x-www-form-urlencoded"),
    responses(
        (status = 200, description = "Successful Response", body = Token),
        (status = 400, description = "Incorrect email or password, or an inactive user", body = HttpError),
        (status = 422, description = "Validation Error", body = HttpValidationError),
        (status = 429, description = "Too many failed logins", body = HttpError,
            headers(("Retry-After" = u64, description = "Seconds to wait"))),
        (status = 503, description = "A backing service is unavailable: retry", body = HttpError),
    )
)]
pub fn login_access_token() {}

/// Test Token
///
/// Test access token.
#[utoipa::path(
    post,
    path = "/api/v1/login/test-token",
    tag = "login",
    operation_id = "login-test_token",
    security(("OAuth2PasswordBearer" = [])),
    responses(
        (status = 200, description = "Successful Response", body = UserPublic),
        (status = 401, description = "Not authenticated", body = HttpError),
        (status = 503, description = "A backing service is unavailable: retry", body = HttpError),
    )
)]
pub fn test_token() {}

/// Refresh Token
///
/// A new access token and a new refresh token for a refresh token, which stops working. A refresh
/// token used twice revokes its whole login (401).
#[utoipa::path(
    post,
    path = "/api/v1/login/refresh-token",
    tag = "login",
    operation_id = "login-refresh_token",
    request_body = RefreshTokenRequest,
    responses(
        (status = 200, description = "Successful Response", body = Token),
        (status = 401, description = "Invalid, expired or reused refresh token", body = HttpError),
        (status = 422, description = "Validation Error", body = HttpValidationError),
        (status = 503, description = "A backing service is unavailable: retry", body = HttpError),
    )
)]
pub fn refresh_token() {}

/// Logout
///
/// Revokes the caller's refresh tokens.
#[utoipa::path(
    post,
    path = "/api/v1/logout",
    tag = "login",
    operation_id = "login-logout",
    security(("OAuth2PasswordBearer" = [])),
    responses(
        (status = 200, description = "Successful Response", body = Message),
        (status = 401, description = "Not authenticated", body = HttpError),
        (status = 503, description = "A backing service is unavailable: retry", body = HttpError),
    )
)]
pub fn logout() {}

/// Recover Password
///
/// Password Recovery
#[utoipa::path(
    post,
    path = "/api/v1/password-recovery/{email}",
    tag = "login",
    operation_id = "login-recover_password",
    params(("email" = String, Path, description = "Email")),
    responses(
        (status = 200, description = "Successful Response", body = Message),
        (status = 429, description = "Too many recovery requests", body = HttpError,
            headers(("Retry-After" = u64, description = "Seconds to wait"))),
        (status = 503, description = "A backing service is unavailable: retry", body = HttpError),
    )
)]
pub fn recover_password() {}

/// Reset Password
///
/// Reset password
#[utoipa::path(
    post,
    path = "/api/v1/reset-password/",
    tag = "login",
    operation_id = "login-reset_password",
    request_body = NewPassword,
    responses(
        (status = 200, description = "Successful Response", body = Message),
        (status = 400, description = "Invalid token", body = HttpError),
        (status = 422, description = "Validation Error", body = HttpValidationError),
        (status = 429, description = "Too many failed resets", body = HttpError,
            headers(("Retry-After" = u64, description = "Seconds to wait"))),
        (status = 503, description = "A backing service is unavailable: retry", body = HttpError),
    )
)]
pub fn reset_password() {}

/// Recover Password Html Content
///
/// HTML Content for Password Recovery
#[utoipa::path(
    post,
    path = "/api/v1/password-recovery-html-content/{email}",
    tag = "login",
    operation_id = "login-recover_password_html_content",
    params(("email" = String, Path, description = "Email")),
    security(("OAuth2PasswordBearer" = [])),
    responses(
        (status = 200, description = "Successful Response", content_type = "text/html", body = String),
        (status = 401, description = "Not authenticated", body = HttpError),
        (status = 403, description = "The user doesn't have enough privileges", body = HttpError),
        (status = 404, description = "No user with this email", body = HttpError),
        (status = 503, description = "A backing service is unavailable: retry", body = HttpError),
    )
)]
pub fn recover_password_html_content() {}
