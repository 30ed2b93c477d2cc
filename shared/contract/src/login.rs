//! The bodies of the login routes: OAuth2's password form, the refresh token, the new password
//! of a reset.

use crate::schema::{body, Field, Secret};
use crate::validation::{scalar, Echo, Invalid};
use domain::Password;
use serde_json::{json, Value};

/// OAuth2's `grant_type`, which must be `password` when it is sent.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PasswordGrant;

impl Field for PasswordGrant {
    fn parse(value: &Value) -> Result<Self, Invalid> {
        match scalar::string(value)? {
            "password" => Ok(Self),
            _ => Err(
                Invalid::new("string_pattern_mismatch", "String should match pattern '^password$'")
                    .with_ctx(json!({"pattern": "^password$"})),
            ),
        }
    }
    fn schema() -> Value {
        json!({ "type": "string", "pattern": "^password$" })
    }
}

/// A password to check as typed: no rules but being text (a login must not tell which rule an
/// old password breaks), never echoed back.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TypedPassword(pub Secret);

impl Field for TypedPassword {
    const ECHO: Echo = Echo::Redact;
    fn parse(value: &Value) -> Result<Self, Invalid> {
        Secret::parse(value).map(Self)
    }
    fn schema() -> Value {
        json!({ "type": "string", "format": "password" })
    }
}

body! {
    /// `POST /login/access-token`: OAuth2's password form (`username` is the email). `scope`,
    /// `client_id` and `client_secret` are read for the form's sake and not used.
    pub struct LoginForm as "Body_login-login_access_token" {
        optional grant_type: PasswordGrant,
        required username: String,
        required password: TypedPassword,
        default scope: String = "",
        optional client_id: String,
        optional client_secret: TypedPassword,
    }
}

body! {
    /// `POST /login/refresh-token`.
    pub struct RefreshTokenRequest as "RefreshTokenRequest" {
        required refresh_token: Secret,
    }
}

body! {
    /// `POST /reset-password/`.
    pub struct NewPassword as "NewPassword" {
        required token: Secret,
        required new_password: Password,
    }
}
