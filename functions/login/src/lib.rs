//! `login`: password login, refresh-token rotation, logout, and password recovery.

use lambda_http::http::{HeaderValue, Method, StatusCode};
use serde::Serialize;
use shared::api::{self, Api, ApiRequest, Response};
use shared::auth::Authenticator;
use shared::aws::AwsConfig;
use shared::config::{AuthConfig, ConfigError, Env, HttpConfig, Resources};
use shared::domain::{Email, Password};
use shared::email;
use shared::jobs::{Job, JobQueue, SqsQueue};
use shared::passwords;
use shared::sessions::{Limit, Refresh};
use shared::store::Table;
use shared::tokens::TokenKeys;
use shared::users::{User, UserStore};
use shared::validation::{scalar, Echo, Fields, Invalid, Source};
use shared::{ApiError, ApiResult};
use std::time::Duration;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Route {
    AccessToken,
    TestToken,
    RefreshToken,
    Logout,
    PasswordRecovery,
    ResetPassword,
    RecoveryHtml,
}

/// Failed logins counted per email and per source address.
const LOGIN_PER_EMAIL: Limit = Limit {
    scope: "login-email",
    max: 10,
    window: Duration::from_secs(15 * 60),
};
const LOGIN_PER_IP: Limit = Limit {
    scope: "login-ip",
    max: 100,
    window: Duration::from_secs(15 * 60),
};
/// Recovery requests, counted whether or not the email exists.
const RECOVERY_PER_EMAIL: Limit = Limit {
    scope: "recovery-email",
    max: 5,
    window: Duration::from_secs(3600),
};
const RECOVERY_PER_IP: Limit = Limit {
    scope: "recovery-ip",
    max: 30,
    window: Duration::from_secs(3600),
};

const RECOVERY_SENT: &str = "If that email is registered, we sent a password recovery link";

pub struct Login {
    http: HttpConfig,
    auth: Authenticator<Table>,
    refresh_ttl: Duration,
    queue: SqsQueue,
}

/// FastAPI's `Token`, plus the refresh token and how long the access token lives.
#[derive(Debug, Serialize)]
struct Token {
    access_token: String,
    token_type: &'static str,
    refresh_token: String,
    expires_in: u64,
}

impl Login {
    pub fn from_env(env: &impl Env) -> Result<Self, ConfigError> {
        let http = HttpConfig::from_env(env)?;
        let resources = Resources::from_env(env)?;
        let auth = AuthConfig::from_env(env)?;
        let aws = AwsConfig::from_env(env)?;
        Ok(Self {
            http,
            refresh_ttl: auth.refresh_token_ttl,
            auth: Authenticator::new(TokenKeys::new(&auth), Table::new(aws.dynamodb(), resources.table)),
            queue: SqsQueue::new(&aws, resources.jobs_queue_url),
        })
    }

    pub fn http_config(&self) -> &HttpConfig {
        &self.http
    }

    fn table(&self) -> &Table {
        self.auth.users()
    }

    /// 429 when `key` already used up `limit`.
    async fn refuse_if_limited(&self, limit: &Limit, key: &str, detail: &str) -> ApiResult<()> {
        let (count, retry_after_secs) = self.table().rate_count(limit, key).await?;
        if count >= limit.max {
            return Err(ApiError::TooManyRequests {
                detail: detail.to_owned(),
                retry_after_secs,
            });
        }
        Ok(())
    }

    async fn tokens_for(&self, user: &User, refresh_token: String) -> ApiResult<Response> {
        let access = self
            .auth
            .keys()
            .issue_access(user.id)
            .map_err(|e| ApiError::Internal(e.to_string()))?;
        let token = Token {
            access_token: access.token,
            token_type: "bearer",
            refresh_token,
            expires_in: access.expires_in,
        };
        api::json(StatusCode::OK, &token)
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
        let email_key = username.trim().to_lowercase();
        let ip_key = request.source_ip.clone().unwrap_or_else(|| "unknown".into());
        let limited = "Too many failed login attempts, try again later";
        self.refuse_if_limited(&LOGIN_PER_EMAIL, &email_key, limited).await?;
        self.refuse_if_limited(&LOGIN_PER_IP, &ip_key, limited).await?;

        // An unparseable or unknown email costs the same Argon2 verification as a known one.
        let user = match Email::parse(&username) {
            Ok(email) => self.table().find_by_email(&email).await?,
            Err(_) => None,
        };
        let verified = match &user {
            Some(user) => passwords::verify(&password, &user.password_hash),
            None => passwords::verify_dummy(&password),
        };
        let Some(user) = user.filter(|_| verified) else {
            self.table().rate_hit(&LOGIN_PER_EMAIL, &email_key).await?;
            self.table().rate_hit(&LOGIN_PER_IP, &ip_key).await?;
            return Err(ApiError::BadRequest("Incorrect email or password".into()));
        };
        if !user.is_active {
            return Err(ApiError::BadRequest("Inactive user".into()));
        }
        request.set_user(user.id);
        let (_, refresh_token) = self.table().start_login(user.id, self.refresh_ttl).await?;
        self.tokens_for(&user, refresh_token).await
    }

    async fn test_token(&self, request: ApiRequest) -> ApiResult<Response> {
        let user = self.auth.current_user(&request).await?;
        api::json(StatusCode::OK, &user.public())
    }

    async fn refresh_token(&self, request: ApiRequest) -> ApiResult<Response> {
        let (_, presented) = request.parse_body(|fields| {
            fields.required("refresh_token", Echo::Redact, |v| scalar::string(v).map(str::to_owned))
        })?;
        let presented = presented.unwrap_or_default();
        let rejected = ApiError::Unauthorized(shared::error::AuthFailure::Invalid);
        match self.table().rotate_refresh(&presented, self.refresh_ttl).await? {
            Refresh::Rotated { user_id, family, token } => {
                let user = self.table().get(user_id).await?.filter(|u| u.is_active);
                let Some(user) = user else {
                    self.table().revoke_family(family).await?;
                    return Err(rejected);
                };
                request.set_user(user.id);
                self.tokens_for(&user, token).await
            }
            Refresh::ReuseDetected => {
                tracing::warn!(
                    request_id = request.request_id,
                    "refresh token reused: its login was revoked"
                );
                Err(rejected)
            }
            Refresh::Rejected => Err(rejected),
        }
    }

    async fn logout(&self, request: ApiRequest) -> ApiResult<Response> {
        let user = self.auth.current_user(&request).await?;
        self.table().revoke_user_sessions(user.id).await?;
        api::message(StatusCode::OK, "Logged out successfully")
    }

    /// Always the same answer, so it does not tell whether an email is registered.
    async fn password_recovery(&self, request: ApiRequest) -> ApiResult<Response> {
        let raw = request.param("email").unwrap_or_default().to_owned();
        let email_key = raw.trim().to_lowercase();
        let ip_key = request.source_ip.clone().unwrap_or_else(|| "unknown".into());
        for (limit, key) in [(&RECOVERY_PER_EMAIL, &email_key), (&RECOVERY_PER_IP, &ip_key)] {
            let (count, retry_after_secs) = self.table().rate_hit(limit, key).await?;
            if count > limit.max {
                return Err(ApiError::TooManyRequests {
                    detail: "Too many password recovery requests, try again later".into(),
                    retry_after_secs,
                });
            }
        }
        if let Ok(email) = Email::parse(&raw) {
            if let Some(user) = self.table().find_by_email(&email).await?.filter(|u| u.is_active) {
                let ttl = Duration::from_secs(email::RESET_TOKEN_HOURS * 3600);
                let token = self.table().create_reset_token(user.id, ttl).await?;
                let message =
                    email::password_recovery(&self.http.project_name, &self.http.frontend_host, user.email, &token);
                self.queue.enqueue(Job::SendEmail(message)).await?;
            }
        }
        api::message(StatusCode::OK, RECOVERY_SENT)
    }

    async fn reset_password(&self, request: ApiRequest) -> ApiResult<Response> {
        let (_, (token, password)) = request.parse_body(|fields| {
            let token = fields.required("token", Echo::Redact, |v| scalar::string(v).map(str::to_owned));
            (
                token,
                fields.required("new_password", Echo::Redact, |v| {
                    scalar::string(v).and_then(Password::parse)
                }),
            )
        })?;
        let (Some(token), Some(password)) = (token, password) else {
            return Err(ApiError::Internal("body parsed without values".into()));
        };
        let hash = passwords::hash(&password).map_err(|e| ApiError::Internal(e.to_string()))?;
        let Some(user_id) = self.table().reset_password(&token, hash.as_str()).await? else {
            return Err(ApiError::BadRequest("Invalid token".into()));
        };
        request.set_user(user_id);
        // Whoever knew the old password loses their sessions.
        self.table().revoke_user_sessions(user_id).await?;
        api::message(StatusCode::OK, "Password updated successfully")
    }

    async fn recovery_html(&self, request: ApiRequest) -> ApiResult<Response> {
        self.auth.current_superuser(&request).await?;
        let not_found = || ApiError::NotFound("The user with this username does not exist in the system.".into());
        let email = Email::parse(request.param("email").unwrap_or_default()).map_err(|_| not_found())?;
        let user = self.table().find_by_email(&email).await?.ok_or_else(not_found)?;
        let ttl = Duration::from_secs(email::RESET_TOKEN_HOURS * 3600);
        let token = self.table().create_reset_token(user.id, ttl).await?;
        let message = email::password_recovery(&self.http.project_name, &self.http.frontend_host, user.email, &token);
        let mut response = http_response(StatusCode::OK, message.html)?;
        if let Ok(subject) = HeaderValue::from_str(&message.subject) {
            response.headers_mut().insert("subject", subject);
        }
        Ok(response)
    }
}

fn http_response(status: StatusCode, html: String) -> ApiResult<Response> {
    lambda_http::http::Response::builder()
        .status(status)
        .header("content-type", "text/html; charset=utf-8")
        .body(lambda_http::Body::Text(html))
        .map_err(|e| ApiError::Internal(e.to_string()))
}

impl Api for Login {
    type Route = Route;

    fn routes() -> Vec<(Method, &'static str, Route)> {
        vec![
            (Method::POST, "/api/v1/login/access-token", Route::AccessToken),
            (Method::POST, "/api/v1/login/test-token", Route::TestToken),
            (Method::POST, "/api/v1/login/refresh-token", Route::RefreshToken),
            (Method::POST, "/api/v1/logout", Route::Logout),
            (
                Method::POST,
                "/api/v1/password-recovery/{email}",
                Route::PasswordRecovery,
            ),
            (Method::POST, "/api/v1/reset-password/", Route::ResetPassword),
            (
                Method::POST,
                "/api/v1/password-recovery-html-content/{email}",
                Route::RecoveryHtml,
            ),
        ]
    }

    async fn handle(&self, route: Route, request: ApiRequest) -> ApiResult<Response> {
        match route {
            Route::AccessToken => self.access_token(request).await,
            Route::TestToken => self.test_token(request).await,
            Route::RefreshToken => self.refresh_token(request).await,
            Route::Logout => self.logout(request).await,
            Route::PasswordRecovery => self.password_recovery(request).await,
            Route::ResetPassword => self.reset_password(request).await,
            Route::RecoveryHtml => self.recovery_html(request).await,
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
        assert!(matches!(
            router.at(&Method::POST, "/api/v1/reset-password"),
            api::Matched::Route {
                route: Route::ResetPassword,
                ..
            }
        ));
        assert!(matches!(
            router.at(&Method::POST, "/api/v1/password-recovery/a@example.com"),
            api::Matched::Route {
                route: Route::PasswordRecovery,
                ..
            }
        ));
    }
}
