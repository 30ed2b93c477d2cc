//! `login`: password login (and its second factor), refresh-token rotation, logout, and password
//! recovery.

use adapters::aws::{Bucket, SqsQueue};
use adapters::store::Table;
use contract::api::login;
use contract::login::{LoginForm, NewPassword, RefreshTokenRequest, TypedPassword};
use contract::operation::Endpoint;
use contract::public::{Token, UserPublic};
use contract::schema::Secret;
use contract::two_factor::{MfaLogin, OneTimeCode};
use domain::auth::Authenticator;
use domain::email;
use domain::job::Job;
use domain::passwords;
use domain::ports::{Accounts, EmailVerifications, JobQueue, Notifier, RateLimiter, TwoFactorStore};
use domain::realtime::{Audience, Event};
use domain::session::{Count, Limit, LoginOrigin, Refresh};
use domain::two_factor::{self, CODES_PER_ACCOUNT};
use domain::verification;
use domain::{Email, User};
use edge::error::AuthFailure;
use edge::request::Caller;
use edge::HttpConfig;
use edge::{self, Api, ApiRequest, Response};
use futures_util::future::join_all;
use lambda_http::http::{HeaderValue, StatusCode};
use std::time::Duration;
use uuid::Uuid;
use {
    adapters::Context,
    edge::{ApiError, ApiResult},
};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Route {
    AccessToken,
    TestToken,
    RefreshToken,
    Mfa,
    Logout,
    PasswordRecovery,
    ResetPassword,
    RecoveryHtml,
}

/// Failed logins per account from one address, the tight limit: a stranger elsewhere cannot
/// lock the owner out, nor can a colleague behind the same NAT.
const LOGIN_PER_ACCOUNT_AND_IP: Limit = Limit {
    scope: "login-email-ip",
    max: 10,
    window: Duration::from_secs(15 * 60),
};
/// Failed logins per account from everywhere: bounds a guesser spread over many addresses.
const LOGIN_PER_EMAIL: Limit = Limit {
    scope: "login-email",
    max: 100,
    window: Duration::from_secs(15 * 60),
};
/// Failed logins per address over every account (a guesser trying many accounts): much higher,
/// since an office or a mobile carrier puts many users behind one address. Its `max` is the
/// `LoginFailuresPerAddress` parameter (`LOGIN_FAILURES_PER_ADDRESS`).
const LOGIN_PER_IP: Limit = Limit {
    scope: "login-ip",
    max: 1000,
    window: Duration::from_secs(15 * 60),
};
/// Failed password resets per address (made-up or spent tokens).
const RESET_PER_IP: Limit = Limit {
    scope: "reset-ip",
    max: 50,
    window: Duration::from_secs(3600),
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

const INVALID_CODE: &str = "Invalid code";
const TOO_MANY_CODES: &str = "Too many two-factor codes tried, try again later";

const RECOVERY_SENT: &str = "If that email is registered, we sent a password recovery link";

/// What the login routes need of a store.
pub trait LoginStore: Accounts + RateLimiter + EmailVerifications + TwoFactorStore + Clone + 'static {}
impl<S: Accounts + RateLimiter + EmailVerifications + TwoFactorStore + Clone + 'static> LoginStore for S {}

pub struct Login<S = Table, Q = SqsQueue, B = Bucket> {
    auth: Authenticator<S>,
    ctx: Context<S, Q, B>,
    http: HttpConfig,
    per_address: Limit,
    /// `RequireVerifiedEmail`: an unverified user's right password is answered 403.
    require_verified: bool,
    /// How long an `mfa_token` lasts.
    mfa_ttl: Duration,
}

/// The address-wide limit's `max` from `LOGIN_FAILURES_PER_ADDRESS` (the default without it).
pub fn failures_per_address(env: &impl domain::config::Env) -> Result<u64, domain::config::ConfigError> {
    env.positive("LOGIN_FAILURES_PER_ADDRESS", LOGIN_PER_IP.max)
}

/// `REQUIRE_VERIFIED_EMAIL` (the `RequireVerifiedEmail` parameter): `false` without it.
pub fn require_verified_email(env: &impl domain::config::Env) -> Result<bool, domain::config::ConfigError> {
    env.flag("REQUIRE_VERIFIED_EMAIL", false)
}

impl<S: LoginStore, Q: JobQueue + Notifier + 'static, B: Send + Sync + 'static> Login<S, Q, B> {
    pub fn new(ctx: Context<S, Q, B>, http: HttpConfig) -> Self {
        Self {
            http,
            auth: ctx.authenticator(),
            ctx,
            per_address: LOGIN_PER_IP,
            require_verified: false,
            mfa_ttl: two_factor::CHALLENGE_TTL,
        }
    }

    /// Whether only users with a verified email may log in.
    pub fn require_verified_email(self, required: bool) -> Self {
        Self {
            require_verified: required,
            ..self
        }
    }

    /// A verification link for a user whose login was refused for want of one: without it, a
    /// user whose first email went astray could never log in to ask for another. Counted with
    /// the resends (3 an hour), and never answered: the refusal is the same either way.
    async fn resend_on_refusal(&self, user: &User) {
        let limit = &verification::RESENDS;
        match self.store().hit(limit, &user.id.to_string()).await {
            Ok(sent) if sent.count <= limit.max => {}
            Ok(_) => return,
            Err(err) => {
                tracing::warn!(user_id = %user.id, error = %err, "verification resend not counted");
                return;
            }
        }
        let http = &self.http;
        let sent = match verification::link_email(self.store(), user, &http.project_name, &http.frontend_host).await {
            Ok(message) => self
                .ctx
                .queue
                .enqueue(Job::SendEmail(message))
                .await
                .map(|_| ())
                .map_err(|e| e.to_string()),
            Err(err) => Err(err.to_string()),
        };
        if let Err(err) = sent {
            tracing::warn!(user_id = %user.id, error = %err, "verification link not sent");
        }
    }

    /// How long the `mfa_token` of a password step lasts (5 minutes but in tests).
    pub fn mfa_token_ttl(self, mfa_ttl: Duration) -> Self {
        Self { mfa_ttl, ..self }
    }

    /// Failed logins one address may make in a window, over every account.
    pub fn failures_per_address(self, max: u64) -> Self {
        Self {
            per_address: Limit { max, ..LOGIN_PER_IP },
            ..self
        }
    }

    fn store(&self) -> &S {
        &self.ctx.store
    }

    /// Counts a failed attempt against every `(limit, key)` at once, then compares: 429 when
    /// any is past its limit. Counting, then comparing, is what holds under concurrency.
    async fn attempt(&self, limits: &[(&Limit, &str)], detail: &str) -> ApiResult<()> {
        let counts = join_all(limits.iter().map(|(limit, key)| self.store().hit(limit, key))).await;
        for ((limit, _), count) in limits.iter().zip(counts) {
            let Count {
                count,
                retry_after_secs,
            } = count?;
            if count > limit.max {
                return Err(ApiError::TooManyRequests {
                    detail: detail.to_owned(),
                    retry_after_secs,
                });
            }
        }
        Ok(())
    }

    /// 429 when any `(limit, key)` has used up its failures, without counting: a check of the
    /// limits that count only failures, made before an attempt and again after one succeeded.
    async fn check(&self, limits: &[(&Limit, &str)], detail: &str) -> ApiResult<()> {
        let counts = self.store().counts(limits).await?;
        match limits
            .iter()
            .zip(counts)
            .find(|((limit, _), count)| count.count >= limit.max)
        {
            Some((_, count)) => Err(ApiError::TooManyRequests {
                detail: detail.to_owned(),
                retry_after_secs: count.retry_after_secs,
            }),
            None => Ok(()),
        }
    }

    /// The token response of `login`: `Cache-Control: no-store`, as OAuth 2.0 requires.
    async fn tokens_for(&self, user: &User, login: Uuid, refresh_token: String) -> ApiResult<Response> {
        let access = self
            .auth
            .keys()
            .issue_access(user.id, login)
            .map_err(|e| ApiError::Internal(e.to_string()))?;
        let token = Token {
            access_token: access.token,
            token_type: "bearer",
            refresh_token,
            expires_in: access.expires_in,
        };
        let mut response = edge::json(StatusCode::OK, &token)?;
        response
            .headers_mut()
            .insert("cache-control", HeaderValue::from_static("no-store"));
        response
            .headers_mut()
            .insert("pragma", HeaderValue::from_static("no-cache"));
        Ok(response)
    }

    /// OAuth2 password flow: form fields `username` (the email) and `password`.
    async fn access_token(&self, request: ApiRequest) -> ApiResult<Response> {
        let LoginForm {
            username,
            password: TypedPassword(Secret(password)),
            ..
        } = request.form()?;
        let email_key = username.trim().to_lowercase();
        let ip_key = request.source_ip.clone().unwrap_or_else(|| "unknown".into());
        let pair_key = format!("{email_key}\n{ip_key}");
        let limits = [
            (&LOGIN_PER_ACCOUNT_AND_IP, pair_key.as_str()),
            (&LOGIN_PER_EMAIL, email_key.as_str()),
            (&self.per_address, ip_key.as_str()),
        ];
        // Only failures are counted, so a successful login writes nothing here. A client that
        // is limited is refused before the password hash is computed.
        const LIMITED: &str = "Too many failed login attempts, try again later";
        self.check(&limits, LIMITED).await?;

        // An unparseable or unknown email costs the same Argon2 verification as a known one.
        let user = match Email::parse(&username) {
            Ok(email) => self.store().find_by_email(&email).await?,
            Err(_) => None,
        };
        let verified = match &user {
            Some(user) => passwords::verify(&password, &user.password_hash),
            None => passwords::verify_dummy(&password),
        };
        let Some(user) = user.filter(|_| verified) else {
            // Counted atomically: of parallel failures, those past the limit answer 429.
            self.attempt(&limits, LIMITED).await?;
            return Err(ApiError::BadRequest("Incorrect email or password".into()));
        };
        // Again after the hash: failures counted meanwhile (a burst of parallel guesses) hold
        // back a right guess as hit-first counting would.
        self.check(&limits, LIMITED).await?;
        if !user.is_active {
            return Err(ApiError::BadRequest("Inactive user".into()));
        }
        request.set_user(user.id);
        // Only once the password is proven: a stranger learns nothing of the account.
        if self.require_verified && !user.is_verified {
            self.resend_on_refusal(&user).await;
            return Err(ApiError::Forbidden("Email not verified".into()));
        }
        if user.has_2fa {
            // No session yet: the login goes on at `/login/mfa` with this token and a code.
            let mfa_token = self.store().create_challenge(user.id, self.mfa_ttl).await?;
            return Err(ApiError::MfaRequired { mfa_token });
        }
        self.start_session(&request, &user).await
    }

    /// The second step of a login with two-factor on. Every attempt is counted before its code
    /// is checked — against its `mfa_token` (5) and then its account (10 per 15 minutes) — so
    /// parallel guesses cannot pass either limit; a right code gives the account's back.
    async fn login_mfa(&self, request: ApiRequest) -> ApiResult<Response> {
        let MfaLogin {
            mfa_token: Secret(token),
            code: OneTimeCode(code),
        } = request.body()?;
        let invalid = || ApiError::BadRequest(INVALID_CODE.into());
        let challenge = self
            .store()
            .challenge_attempt(&token, two_factor::CHALLENGE_ATTEMPTS)
            .await?
            .ok_or_else(invalid)?;
        let account = challenge.user_id.to_string();
        self.attempt(&[(&CODES_PER_ACCOUNT, &account)], TOO_MANY_CODES).await?;
        // The password step still stands: the user active, with two-factor, no credential
        // change since.
        let user = self
            .store()
            .get(challenge.user_id)
            .await?
            .filter(|u| u.has_2fa && u.accepts_token_issued_at(challenge.issued_at))
            .ok_or_else(invalid)?;
        let record = self.store().two_factor(user.id).await?.unwrap_or_default();
        let now = domain::clock::now_secs();
        if !two_factor::spend_code(self.store(), &self.ctx.totp_key, user.id, &record, &code, now).await? {
            return Err(invalid());
        }
        self.store().refund(&CODES_PER_ACCOUNT, &account).await?;
        // Once: of two right codes racing on one token, one login.
        if !self.store().spend_challenge(&token).await? {
            return Err(invalid());
        }
        request.set_user(user.id);
        self.start_session(&request, &user).await
    }

    /// A new login of `user` from where `request` came, and its tokens.
    async fn start_session(&self, request: &ApiRequest, user: &User) -> ApiResult<Response> {
        let origin = LoginOrigin::new(request.header("user-agent"), request.source_ip.as_deref());
        let (login, refresh_token) = self.store().start_login(user.id, self.ctx.refresh_ttl, &origin).await?;
        self.tokens_for(user, login, refresh_token).await
    }

    async fn test_token(&self, request: ApiRequest) -> ApiResult<Response> {
        let user = self.auth.current_user(&request).await?;
        edge::json(StatusCode::OK, &UserPublic::from(&user))
    }

    async fn refresh_token(&self, request: ApiRequest) -> ApiResult<Response> {
        let RefreshTokenRequest {
            refresh_token: Secret(presented),
        } = request.body()?;
        let rejected = ApiError::Unauthorized(AuthFailure::Invalid);
        match self.store().rotate_refresh(&presented, self.ctx.refresh_ttl).await? {
            Refresh::Rotated {
                user_id,
                family,
                token,
                login_at,
            } => {
                // A login from before the last change of credentials is over, even if ending it
                // failed half-way (the change landed, the revocation did not).
                let user = self
                    .store()
                    .get(user_id)
                    .await?
                    .filter(|u| u.accepts_token_issued_at(login_at));
                let Some(user) = user else {
                    self.store().revoke_family(family).await?;
                    return Err(rejected);
                };
                request.set_user(user.id);
                self.tokens_for(&user, family, token).await
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

    /// Ends the caller's session: its tokens, and its WebSockets (told, then closed).
    async fn logout(&self, request: ApiRequest) -> ApiResult<Response> {
        let me = self.auth.caller(&request).await?;
        let audience = match me.session() {
            Some(session) => {
                self.store().revoke_family(session).await?;
                Audience::Session(session)
            }
            None => {
                self.store().revoke_user_sessions(me.user.id).await?;
                Audience::User
            }
        };
        let data = serde_json::json!({ "reason": "logout" });
        if let Err(err) = self
            .ctx
            .queue
            .notify_to(me.user.id, audience, Event::SessionRevoked, data)
            .await
        {
            tracing::warn!(user_id = %me.user.id, error = %err, "session.revoked not queued");
        }
        edge::message(StatusCode::OK, "Logged out successfully")
    }

    /// Always the same answer, so it does not tell whether an email is registered.
    async fn password_recovery(&self, request: ApiRequest) -> ApiResult<Response> {
        let raw = request.param("email").unwrap_or_default().to_owned();
        let email_key = raw.trim().to_lowercase();
        let ip_key = request.source_ip.clone().unwrap_or_else(|| "unknown".into());
        for (limit, key) in [(&RECOVERY_PER_EMAIL, &email_key), (&RECOVERY_PER_IP, &ip_key)] {
            let Count {
                count,
                retry_after_secs,
            } = self.store().hit(limit, key).await?;
            if count > limit.max {
                return Err(ApiError::TooManyRequests {
                    detail: "Too many password recovery requests, try again later".into(),
                    retry_after_secs,
                });
            }
        }
        if let Ok(email) = Email::parse(&raw) {
            if let Some(user) = self.store().find_by_email(&email).await?.filter(|u| u.is_active) {
                let ttl = Duration::from_secs(email::RESET_TOKEN_HOURS * 3600);
                let token = self.store().create_reset_token(&user, ttl).await?;
                let message =
                    email::password_recovery(&self.http.project_name, &self.http.frontend_host, user.email, &token);
                self.ctx.queue.enqueue(Job::SendEmail(message)).await?;
            }
        }
        edge::message(StatusCode::OK, RECOVERY_SENT)
    }

    async fn reset_password(&self, request: ApiRequest) -> ApiResult<Response> {
        let NewPassword {
            token: Secret(token),
            new_password,
        } = request.body()?;
        let ip_key = request.source_ip.clone().unwrap_or_else(|| "unknown".into());
        let limits = [(&RESET_PER_IP, ip_key.as_str())];
        // As for logins, only failures are counted.
        const LIMITED: &str = "Too many password reset attempts, try again later";
        self.check(&limits, LIMITED).await?;
        // An unknown token costs a look-up, not an Argon2 hash.
        if self.store().reset_target(&token).await?.is_none() {
            self.attempt(&limits, LIMITED).await?;
            return Err(ApiError::BadRequest("Invalid token".into()));
        }
        let hash = passwords::hash(&new_password)?;
        let Some(user_id) = self.store().reset_password(&token, &hash).await? else {
            self.attempt(&limits, LIMITED).await?;
            return Err(ApiError::BadRequest("Invalid token".into()));
        };
        request.set_user(user_id);
        // Whoever knew the old password loses their sessions, WebSocket connections included.
        self.store().revoke_user_sessions(user_id).await?;
        let data = serde_json::json!({ "reason": "password_reset" });
        if let Err(err) = self.ctx.queue.notify(user_id, Event::SessionRevoked, data).await {
            tracing::warn!(%user_id, error = %err, "session.revoked not queued");
        }
        edge::message(StatusCode::OK, "Password updated successfully")
    }

    async fn recovery_html(&self, request: ApiRequest) -> ApiResult<Response> {
        self.auth.current_superuser(&request).await?;
        let not_found = || ApiError::NotFound("The user with this username does not exist in the system.".into());
        let email = Email::parse(request.param("email").unwrap_or_default()).map_err(|_| not_found())?;
        let user = self.store().find_by_email(&email).await?.ok_or_else(not_found)?;
        let ttl = Duration::from_secs(email::RESET_TOKEN_HOURS * 3600);
        let token = self.store().create_reset_token(&user, ttl).await?;
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

impl<S: LoginStore, Q: JobQueue + Notifier + 'static, B: Send + Sync + 'static> Api for Login<S, Q, B> {
    type Route = Route;

    fn routes() -> Vec<(Endpoint, Route)> {
        vec![
            (const { login::LOGIN_ACCESS_TOKEN.endpoint }, Route::AccessToken),
            (const { login::LOGIN_MFA.endpoint }, Route::Mfa),
            (const { login::TEST_TOKEN.endpoint }, Route::TestToken),
            (const { login::REFRESH_TOKEN.endpoint }, Route::RefreshToken),
            (const { login::LOGOUT.endpoint }, Route::Logout),
            (const { login::RECOVER_PASSWORD.endpoint }, Route::PasswordRecovery),
            (const { login::RESET_PASSWORD.endpoint }, Route::ResetPassword),
            (
                const { login::RECOVER_PASSWORD_HTML_CONTENT.endpoint },
                Route::RecoveryHtml,
            ),
        ]
    }

    async fn handle(&self, route: Route, request: ApiRequest) -> ApiResult<Response> {
        match route {
            Route::AccessToken => self.access_token(request).await,
            Route::Mfa => self.login_mfa(request).await,
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
    use edge::service::{Matched, Router};
    use lambda_http::http::Method;

    #[test]
    fn route_table_builds() {
        let router = Router::new(Login::<Table>::routes());
        assert!(matches!(
            router.at(&Method::POST, "/api/v1/login/access-token/"),
            Matched::Route {
                route: Route::AccessToken,
                ..
            }
        ));
        assert!(matches!(
            router.at(&Method::POST, "/api/v1/reset-password"),
            Matched::Route {
                route: Route::ResetPassword,
                ..
            }
        ));
        assert!(matches!(
            router.at(&Method::POST, "/api/v1/password-recovery/a@example.com"),
            Matched::Route {
                route: Route::PasswordRecovery,
                ..
            }
        ));
    }
}

#[cfg(test)]
mod handler_tests {
    //! Every route through the whole service, from the `events/` fixtures, on in-memory stores.

    use super::*;
    use adapters::store::memory::Memory;
    use domain::ports::{SessionStore, TwoFactorStore};
    use domain::Role;
    use edge::StatusCode;
    use serde_json::{json, Value};
    use testkit::{call, caller, context, event, service, set_body, set_path, PASSWORD};

    fn login(memory: &Memory) -> edge::Service<Login<Memory, Memory, Memory>> {
        service(Login::new(context(memory), testkit::http_config()))
    }

    fn form(password: &str) -> impl FnOnce(&mut Value) + '_ {
        move |e| {
            e["body"] = json!(format!("username=admin%40example.com&password={password}"));
        }
    }

    async fn log_in(memory: &Memory) -> Value {
        let (status, body) = call(&login(memory), event("login/access-token.json", "", form(PASSWORD))).await;
        assert_eq!(status, StatusCode::OK, "{body}");
        body
    }

    #[tokio::test]
    async fn a_password_login_gives_tokens_that_work() {
        let memory = Memory::default();
        caller(&memory, "admin@example.com", Role::Superuser).await;
        let tokens = log_in(&memory).await;
        assert_eq!(tokens["token_type"], "bearer");
        let access = tokens["access_token"].as_str().unwrap();
        let (status, me) = call(&login(&memory), event("login/test-token.json", access, |_| {})).await;
        assert_eq!(
            (status, me["email"].clone()),
            (StatusCode::OK, json!("admin@example.com"))
        );
    }

    #[tokio::test]
    async fn when_verification_is_required_only_a_right_password_learns_the_email_is_unverified() {
        let memory = Memory::default();
        caller(&memory, "admin@example.com", Role::User).await;
        let strict = || service(Login::new(context(&memory), testkit::http_config()).require_verified_email(true));
        let wrong = call(&strict(), event("login/access-token-wrong-password.json", "", |_| {})).await;
        assert_eq!(wrong.0, StatusCode::BAD_REQUEST);
        assert!(memory.jobs().is_empty());

        let (status, body) = call(&strict(), event("login/access-token.json", "", form(PASSWORD))).await;
        assert_eq!(
            (status, body),
            (StatusCode::FORBIDDEN, json!({"detail": "Email not verified"}))
        );
        // A refused login sends a new link (the first may have gone astray), at most 3 an hour.
        for _ in 0..3 {
            call(&strict(), event("login/access-token.json", "", form(PASSWORD))).await;
        }
        let links: Vec<String> = memory
            .jobs()
            .into_iter()
            .filter_map(|job| match job {
                Job::SendEmail(message) if message.to.as_str() == "admin@example.com" => Some(message.html),
                _ => None,
            })
            .collect();
        assert_eq!(links.len(), verification::RESENDS.max as usize);
        let token = links[0]
            .split("verify-email?token=")
            .nth(1)
            .map(|t| t.chars().take_while(char::is_ascii_alphanumeric).collect::<String>())
            .unwrap_or_default();
        assert!(memory.verify_email(&token).await.unwrap().is_some());
        let (status, _) = call(&strict(), event("login/access-token.json", "", form(PASSWORD))).await;
        assert_eq!(status, StatusCode::OK);
        // Without the parameter an unverified user logs in as before.
        let memory = Memory::default();
        caller(&memory, "admin@example.com", Role::User).await;
        log_in(&memory).await;
    }

    #[tokio::test]
    async fn wrong_passwords_are_400_until_the_limit_then_429() {
        let memory = Memory::default();
        caller(&memory, "admin@example.com", Role::Superuser).await;
        for _ in 0..LOGIN_PER_ACCOUNT_AND_IP.max {
            let (status, body) = call(
                &login(&memory),
                event("login/access-token-wrong-password.json", "", |_| {}),
            )
            .await;
            assert_eq!(
                (status, body["detail"].clone()),
                (StatusCode::BAD_REQUEST, json!("Incorrect email or password"))
            );
        }
        let response = login(&memory)
            .call(event("login/access-token.json", "", form(PASSWORD)))
            .await;
        assert_eq!(response.status(), StatusCode::TOO_MANY_REQUESTS);
        assert!(response.headers().contains_key("retry-after"));
    }

    fn as_user(email: &str, password: &str, ip: &str) -> impl FnOnce(&mut Value) {
        let body = format!("username={}&password={password}", email.replace('@', "%40"));
        let ip = ip.to_owned();
        move |e| {
            e["body"] = json!(body);
            e["requestContext"]["http"]["sourceIp"] = json!(ip);
        }
    }

    async fn status(
        service: &edge::Service<Login<Memory, Memory, Memory>>,
        email: &str,
        password: &str,
        ip: &str,
    ) -> u16 {
        let request = event("login/access-token.json", "", as_user(email, password, ip));
        service.call(request).await.status().as_u16()
    }

    #[tokio::test]
    async fn a_successful_login_counts_nothing() {
        let memory = Memory::default();
        caller(&memory, "admin@example.com", Role::Superuser).await;
        for _ in 0..3 {
            log_in(&memory).await;
        }
        let pair = "admin@example.com\n127.0.0.1";
        let limits = [
            (&LOGIN_PER_ACCOUNT_AND_IP, pair),
            (&LOGIN_PER_EMAIL, "admin@example.com"),
            (&LOGIN_PER_IP, "127.0.0.1"),
        ];
        let counts: Vec<u64> = memory.counts(&limits).await.unwrap().iter().map(|c| c.count).collect();
        assert_eq!(counts, [0, 0, 0]);
        let (status, _) = call(
            &login(&memory),
            event("login/access-token-wrong-password.json", "", |_| {}),
        )
        .await;
        assert_eq!(status, StatusCode::BAD_REQUEST);
        let counts: Vec<u64> = memory.counts(&limits).await.unwrap().iter().map(|c| c.count).collect();
        assert_eq!(counts, [1, 1, 1], "a failure counts once against each limit");
    }

    #[tokio::test]
    async fn an_address_locks_one_account_long_before_it_locks_the_others() {
        let memory = Memory::default();
        for email in ["a@example.com", "b@example.com", "c@example.com"] {
            caller(&memory, email, Role::User).await;
        }
        let service = service(Login::new(context(&memory), testkit::http_config()).failures_per_address(15));
        let office = "198.51.100.7";
        for _ in 0..10 {
            assert_eq!(status(&service, "a@example.com", "wrong-guess", office).await, 400);
        }
        assert_eq!(
            status(&service, "a@example.com", PASSWORD, office).await,
            429,
            "a is locked here"
        );
        assert_eq!(
            status(&service, "a@example.com", PASSWORD, "203.0.113.1").await,
            200,
            "not elsewhere"
        );
        assert_eq!(
            status(&service, "b@example.com", PASSWORD, office).await,
            200,
            "b logs in from the office"
        );
        for _ in 0..5 {
            assert_eq!(status(&service, "c@example.com", "wrong-guess", office).await, 400);
        }
        // 15 failures from the office: the address-wide limit.
        assert_eq!(status(&service, "b@example.com", PASSWORD, office).await, 429);
        assert_eq!(status(&service, "b@example.com", PASSWORD, "203.0.113.1").await, 200);
    }

    #[tokio::test]
    async fn a_refresh_token_rotates_once_and_its_reuse_ends_the_login() {
        let memory = Memory::default();
        caller(&memory, "admin@example.com", Role::Superuser).await;
        let first = log_in(&memory).await["refresh_token"].clone();
        let refresh = |token: &Value| {
            let token = token.clone();
            event("login/refresh-token-invalid.json", "", move |e| {
                set_body(e, json!({ "refresh_token": token }))
            })
        };
        let (status, second) = call(&login(&memory), refresh(&first)).await;
        assert_eq!(status, StatusCode::OK);
        assert_eq!(call(&login(&memory), refresh(&first)).await.0, StatusCode::UNAUTHORIZED);
        let revoked = call(&login(&memory), refresh(&second["refresh_token"])).await;
        assert_eq!(revoked.0, StatusCode::UNAUTHORIZED);
        let invalid = event("login/refresh-token-invalid.json", "", |_| {});
        assert_eq!(call(&login(&memory), invalid).await.0, StatusCode::UNAUTHORIZED);
    }

    #[tokio::test]
    async fn a_login_older_than_a_credential_change_cannot_refresh_even_if_not_revoked() {
        use domain::ports::UserStore;
        let memory = Memory::default();
        let (admin, _) = caller(&memory, "admin@example.com", Role::Superuser).await;
        let tokens = log_in(&memory).await;
        // The password change landed; the revocation of the logins that should follow did not.
        let mut changed = memory.get(admin.id).await.unwrap().unwrap();
        changed.tokens_valid_after = domain::clock::now_secs() + 1;
        memory.update(&changed, &changed.email).await.unwrap();
        let refresh = event("login/refresh-token-invalid.json", "", |e| {
            set_body(e, json!({ "refresh_token": tokens["refresh_token"] }))
        });
        assert_eq!(call(&login(&memory), refresh).await.0, StatusCode::UNAUTHORIZED);
    }

    #[tokio::test]
    async fn logout_ends_the_callers_session_and_no_other() {
        use domain::ports::SessionStore;
        let memory = Memory::default();
        let (admin, _) = caller(&memory, "admin@example.com", Role::Superuser).await;
        let tokens = log_in(&memory).await;
        let other = log_in(&memory).await;
        let access = tokens["access_token"].as_str().unwrap();
        let (status, body) = call(&login(&memory), event("login/logout.json", access, |_| {})).await;
        assert_eq!(
            (status, body["message"].clone()),
            (StatusCode::OK, json!("Logged out successfully"))
        );
        let refresh = |tokens: &Value| {
            let token = tokens["refresh_token"].clone();
            event("login/refresh-token-invalid.json", "", move |e| {
                set_body(e, json!({ "refresh_token": token }))
            })
        };
        assert_eq!(
            call(&login(&memory), refresh(&tokens)).await.0,
            StatusCode::UNAUTHORIZED
        );
        assert_eq!(call(&login(&memory), refresh(&other)).await.0, StatusCode::OK);
        let sessions = memory.sessions(admin.id).await.unwrap();
        // The fixture's login: where it came from is the session's.
        assert!(sessions
            .iter()
            .all(|s| s.origin.user_agent.as_deref() == Some("curl/8.5.0") || s.origin.user_agent.is_none()));
        assert!(sessions.iter().any(|s| s.origin.ip.as_deref() == Some("127.0.0.1")));
        let [notification] = memory.notifications().try_into().unwrap();
        assert_eq!(notification.event, Event::SessionRevoked);
        assert!(matches!(notification.audience, Audience::Session(s) if !sessions.iter().any(|l| l.id == s)));
    }

    #[tokio::test]
    async fn recovery_sends_a_link_that_resets_the_password_once() {
        let memory = Memory::default();
        caller(&memory, "admin@example.com", Role::Superuser).await;
        let (status, body) = call(&login(&memory), event("login/password-recovery.json", "", |_| {})).await;
        assert_eq!(
            (status, body["message"].clone()),
            (StatusCode::OK, json!(RECOVERY_SENT))
        );
        let unknown = event("login/password-recovery.json", "", |e| {
            set_path(e, "/api/v1/password-recovery/nobody@example.com")
        });
        assert_eq!(call(&login(&memory), unknown).await.1["message"], RECOVERY_SENT);
        let jobs = memory.jobs();
        let [Job::SendEmail(message)] = jobs.as_slice() else {
            panic!("one recovery email expected, got {jobs:?}");
        };
        let token = message
            .text
            .split("token=")
            .nth(1)
            .unwrap()
            .split_whitespace()
            .next()
            .unwrap()
            .to_owned();
        let reset = |token: String| {
            event("login/reset-password-invalid-token.json", "", move |e| {
                set_body(e, json!({"token": token, "new_password": "brand-new-password"}))
            })
        };
        assert_eq!(call(&login(&memory), reset(token.clone())).await.0, StatusCode::OK);
        assert!(matches!(memory.notifications().as_slice(),
            [n] if n.event == Event::SessionRevoked && n.data["reason"] == "password_reset"));
        assert_eq!(call(&login(&memory), reset(token)).await.0, StatusCode::BAD_REQUEST);
        assert_eq!(
            call(
                &login(&memory),
                event("login/access-token.json", "", form("brand-new-password"))
            )
            .await
            .0,
            StatusCode::OK
        );
        let invalid = event("login/reset-password-invalid-token.json", "", |_| {});
        assert_eq!(call(&login(&memory), invalid).await.1["detail"], "Invalid token");
    }

    #[tokio::test]
    async fn the_recovery_email_html_is_for_superusers() {
        let memory = Memory::default();
        let (_, admin) = caller(&memory, "admin@example.com", Role::Superuser).await;
        let (_, user) = caller(&memory, "user@example.com", Role::User).await;
        let response = login(&memory)
            .call(event("login/password-recovery-html-content.json", &admin, |_| {}))
            .await;
        assert_eq!(response.status(), StatusCode::OK);
        assert!(response.headers()["content-type"]
            .to_str()
            .unwrap()
            .starts_with("text/html"));
        let forbidden = event("login/password-recovery-html-content.json", &user, |_| {});
        assert_eq!(call(&login(&memory), forbidden).await.0, StatusCode::FORBIDDEN);
    }

    #[tokio::test]
    async fn a_missing_form_field_is_422() {
        let memory = Memory::default();
        let (status, body) = call(
            &login(&memory),
            event("login/access-token.json", "", |e| e["body"] = json!("username=a")),
        )
        .await;
        assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
        assert_eq!(body["detail"][0]["loc"], json!(["body", "password"]));
    }

    /// Two-factor turned on for `user_id` as the users function does: the secret and the
    /// recovery codes.
    async fn two_factor_on(memory: &Memory, user_id: Uuid) -> (two_factor::TotpSecret, Vec<String>) {
        let secret = two_factor::TotpSecret::generate().unwrap();
        let sealed = context(memory).totp_key.seal(&secret, user_id).unwrap();
        assert!(memory.begin_totp(user_id, &sealed).await.unwrap());
        let (shown, digests) = two_factor::recovery_codes(user_id).unwrap();
        // A step long past, so that every code of now is unused.
        assert!(memory.enable_totp(user_id, &sealed, 0, &digests).await.unwrap());
        (secret, shown)
    }

    fn code(secret: &two_factor::TotpSecret, steps: i64) -> String {
        let step = two_factor::step_at(domain::clock::now_secs()) as i64 + steps;
        format!("{:06}", secret.code(step as u64))
    }

    /// The password step of a login with two-factor on: its `mfa_token`.
    async fn mfa_token(service: &edge::Service<Login<Memory, Memory, Memory>>) -> String {
        let response = service.call(event("login/access-token.json", "", form(PASSWORD))).await;
        assert_eq!(response.status(), StatusCode::UNAUTHORIZED);
        assert_eq!(response.headers()["www-authenticate"], r#"Bearer error="mfa_required""#);
        let lambda_http::Body::Text(body) = response.body() else {
            panic!("a JSON body")
        };
        let body: Value = serde_json::from_str(body).unwrap();
        assert_eq!(body["detail"], "Two-factor code required");
        body["mfa_token"].as_str().unwrap().to_owned()
    }

    fn second_step(token: &str, code: &str) -> lambda_http::Request {
        let body = json!({"mfa_token": token, "code": code});
        event("login/mfa-invalid-token.json", "", move |e| set_body(e, body))
    }

    #[tokio::test]
    async fn with_two_factor_on_a_password_gets_an_mfa_token_and_a_code_the_tokens() {
        let memory = Memory::default();
        let (admin, _) = caller(&memory, "admin@example.com", Role::Superuser).await;
        let (secret, recovery) = two_factor_on(&memory, admin.id).await;
        let service = login(&memory);
        let before = memory.sessions(admin.id).await.unwrap().len();
        let token = mfa_token(&service).await;
        assert_eq!(memory.sessions(admin.id).await.unwrap().len(), before, "no session yet");

        let (status, body) = call(&service, second_step(&token, &code(&secret, 3))).await;
        assert_eq!(
            (status, body),
            (StatusCode::BAD_REQUEST, json!({"detail": INVALID_CODE}))
        );
        // Computed once: a step may turn between two requests.
        let now = code(&secret, 0);
        let (status, tokens) = call(&service, second_step(&token, &now)).await;
        assert_eq!(status, StatusCode::OK, "{tokens}");
        let access = tokens["access_token"].as_str().unwrap();
        let (status, me) = call(&service, event("login/test-token.json", access, |_| {})).await;
        assert_eq!((status, me["has_2fa"].clone()), (StatusCode::OK, json!(true)));
        assert_eq!(
            call(&service, second_step(&token, &recovery[1])).await.0,
            StatusCode::BAD_REQUEST,
            "an mfa_token is single use"
        );
        // The same code with a new mfa_token: a replay.
        let again = mfa_token(&service).await;
        assert_eq!(
            call(&service, second_step(&again, &now)).await.0,
            StatusCode::BAD_REQUEST
        );
        assert_eq!(
            call(&service, second_step(&again, &code(&secret, -2))).await.0,
            StatusCode::BAD_REQUEST
        );
        assert_eq!(
            call(&service, second_step(&again, &recovery[0])).await.0,
            StatusCode::OK
        );
        let third = mfa_token(&service).await;
        assert_eq!(
            call(&service, second_step(&third, &recovery[0])).await.0,
            StatusCode::BAD_REQUEST,
            "a recovery code once ever"
        );
    }

    #[tokio::test]
    async fn five_wrong_codes_end_an_mfa_token_and_ten_an_accounts_attempts() {
        let memory = Memory::default();
        let (admin, _) = caller(&memory, "admin@example.com", Role::Superuser).await;
        let (secret, _) = two_factor_on(&memory, admin.id).await;
        let service = login(&memory);
        let token = mfa_token(&service).await;
        for _ in 0..two_factor::CHALLENGE_ATTEMPTS {
            assert_eq!(
                call(&service, second_step(&token, "not-a-code")).await.0,
                StatusCode::BAD_REQUEST
            );
        }
        assert_eq!(
            call(&service, second_step(&token, &code(&secret, 0))).await.0,
            StatusCode::BAD_REQUEST
        );
        let token = mfa_token(&service).await;
        for _ in 0..CODES_PER_ACCOUNT.max - two_factor::CHALLENGE_ATTEMPTS {
            assert_eq!(
                call(&service, second_step(&token, "000000x")).await.0,
                StatusCode::BAD_REQUEST
            );
        }
        let token = mfa_token(&service).await;
        let response = service.call(second_step(&token, &code(&secret, 0))).await;
        assert_eq!(response.status(), StatusCode::TOO_MANY_REQUESTS);
        assert!(response.headers().contains_key("retry-after"));
    }

    #[tokio::test]
    async fn an_mfa_token_expires() {
        let memory = Memory::default();
        let (admin, _) = caller(&memory, "admin@example.com", Role::Superuser).await;
        let (secret, _) = two_factor_on(&memory, admin.id).await;
        let service = service(Login::new(context(&memory), testkit::http_config()).mfa_token_ttl(Duration::ZERO));
        let token = mfa_token(&service).await;
        assert_eq!(
            call(&service, second_step(&token, &code(&secret, 0))).await.0,
            StatusCode::BAD_REQUEST
        );
        // The code was not spent on the expired token: a fresh one takes it.
        let fresh = mfa_token(&login(&memory)).await;
        assert_eq!(
            call(&login(&memory), second_step(&fresh, &code(&secret, 0))).await.0,
            StatusCode::OK
        );
    }

    #[tokio::test]
    async fn a_credential_change_after_the_password_step_voids_its_mfa_token() {
        use domain::ports::UserStore;
        let memory = Memory::default();
        let (admin, _) = caller(&memory, "admin@example.com", Role::Superuser).await;
        let (secret, _) = two_factor_on(&memory, admin.id).await;
        let token = mfa_token(&login(&memory)).await;
        let mut changed = memory.get(admin.id).await.unwrap().unwrap();
        changed.tokens_valid_after = domain::clock::now_secs() + 1;
        memory.update(&changed, &changed.email).await.unwrap();
        assert_eq!(
            call(&login(&memory), second_step(&token, &code(&secret, 0))).await.0,
            StatusCode::BAD_REQUEST
        );
    }
}
