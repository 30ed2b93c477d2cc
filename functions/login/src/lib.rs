//! `login`: OAuth2 password login and token checks.

use lambda_http::http::{Method, StatusCode};
use serde::Serialize;
use shared::api::{self, Api, ApiRequest, Response};
use shared::auth::Authenticator;
use shared::aws::AwsConfig;
use shared::config::{AuthConfig, ConfigError, Env, HttpConfig, Resources};
use shared::domain::Email;
use shared::passwords;
use shared::store::Table;
use shared::tokens::TokenKeys;
use shared::users::UserStore;
use shared::validation::{scalar, Echo, Fields, Invalid, Source};
use shared::{ApiError, ApiResult};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Route {
    AccessToken,
    TestToken,
}

pub struct Login {
    http: HttpConfig,
    auth: Authenticator<Table>,
}

/// FastAPI's `Token`, with how long the access token lives.
#[derive(Debug, Serialize)]
struct Token {
    access_token: String,
    token_type: &'static str,
    expires_in: u64,
}

impl Login {
    pub fn from_env(env: &impl Env) -> Result<Self, ConfigError> {
        let http = HttpConfig::from_env(env)?;
        let resources = Resources::from_env(env)?;
        let keys = TokenKeys::new(&AuthConfig::from_env(env)?);
        let aws = AwsConfig::from_env(env)?;
        Ok(Self {
            http,
            auth: Authenticator::new(keys, Table::new(aws.dynamodb(), resources.table)),
        })
    }

    pub fn http_config(&self) -> &HttpConfig {
        &self.http
    }

    /// OAuth2 password flow: form fields `username` (the email) and `password`.
    async fn access_token(&self, request: ApiRequest) -> ApiResult<Response> {
        let form = request.form();
        let mut fields = Fields::new(Source::Body, &form);
        let username = fields.required("username", Echo::Yes, |v| scalar::string(v).map(str::to_owned));
        let password = fields.required("password", Echo::Redact, |v| scalar::string(v).map(str::to_owned));
        fields.optional("grant_type", Echo::Yes, |v| match scalar::string(v)? {
            "password" => Ok(()),
            _ => Err(
                Invalid::new("string_pattern_mismatch", "String should match pattern '^password$'")
                    .with_ctx(serde_json::json!({"pattern": "^password$"})),
            ),
        });
        fields.finish().map_err(ApiError::Validation)?;
        let (Some(username), Some(password)) = (username, password) else {
            return Err(ApiError::Internal("form parsed without values".into()));
        };
        let incorrect = || ApiError::BadRequest("Incorrect email or password".into());
        // An unparseable or unknown email costs the same Argon2 verification as a known one.
        let user = match Email::parse(&username) {
            Ok(email) => self.auth.users().find_by_email(&email).await?,
            Err(_) => None,
        };
        let Some(user) = user else {
            passwords::verify_dummy(&password);
            return Err(incorrect());
        };
        if !passwords::verify(&password, &user.password_hash) {
            return Err(incorrect());
        }
        if !user.is_active {
            return Err(ApiError::BadRequest("Inactive user".into()));
        }
        request.set_user(user.id);
        let issued = self
            .auth
            .keys()
            .issue_access(user.id)
            .map_err(|e| ApiError::Internal(e.to_string()))?;
        api::json(
            StatusCode::OK,
            &Token {
                access_token: issued.token,
                token_type: "bearer",
                expires_in: issued.expires_in,
            },
        )
    }

    async fn test_token(&self, request: ApiRequest) -> ApiResult<Response> {
        let user = self.auth.current_user(&request).await?;
        api::json(StatusCode::OK, &user.public())
    }
}

impl Api for Login {
    type Route = Route;

    fn routes() -> Vec<(Method, &'static str, Route)> {
        vec![
            (Method::POST, "/api/v1/login/access-token", Route::AccessToken),
            (Method::POST, "/api/v1/login/test-token", Route::TestToken),
        ]
    }

    async fn handle(&self, route: Route, request: ApiRequest) -> ApiResult<Response> {
        match route {
            Route::AccessToken => self.access_token(request).await,
            Route::TestToken => self.test_token(request).await,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn route_table_builds() {
        let router = api::Router::new(Login::routes());
        assert!(matches!(
            router.at(&Method::POST, "/api/v1/login/access-token/"),
            api::Matched::Route {
                route: Route::AccessToken,
                ..
            }
        ));
    }
}
