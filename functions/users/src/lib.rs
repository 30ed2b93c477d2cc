//! `users`: accounts — signup, the caller's own account (its sessions and two-factor), and user
//! management by superusers.

use adapters::aws::{Bucket, SqsQueue};
use adapters::store::Table;
use contract::accounts::{UpdatePassword, UserCreate, UserRegister, UserUpdate, UserUpdateMe, VerifyEmail};
use contract::api::users;
use contract::api_keys::{keys_page, ApiKeyCreate, ApiKeyCreated, ApiKeyPublic};
use contract::operation::Endpoint;
use contract::paging::Paging;
use contract::public::{Page, Skip, UserPublic};
use contract::schema::Secret;
use contract::sessions::sessions_page;
use contract::two_factor::{OneTimeCode, RecoveryCodes, TotpConfirm, TotpSetup, TotpSetupRequest, TwoFactorDisable};
use domain::accounts::AccountError;
use domain::api_key::{self, KeyRequest};
use domain::email;
use domain::job::Job;
use domain::passwords;
use domain::ports::{Accounts, EmailVerifications, JobQueue, Notifier, RateLimiter, TwoFactorStore};
use domain::realtime::{Audience, Event};
use domain::session::Limit;
use domain::two_factor::{self, SecondFactor, TotpSecret, CODES_PER_ACCOUNT};
use domain::user::AccountChanges;
use domain::verification;
use domain::{Email, Permission, StoreError, User};
use edge::resource::conditional;
use edge::HttpConfig;
use edge::{self, Api, ApiRequest, Response};
use lambda_http::http::StatusCode;
use std::time::Duration;
use {
    adapters::Context,
    edge::{ApiError, ApiResult},
};
use {
    domain::auth::Authenticator,
    edge::request::{require, Caller},
};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Route {
    List,
    Create,
    ReadMe,
    UpdateMe,
    DeleteMe,
    UpdatePasswordMe,
    Signup,
    Read,
    Update,
    Delete,
    Sessions,
    RevokeSession,
    RevokeOtherSessions,
    VerifyEmail,
    SendVerificationEmail,
    SetupTotp,
    ConfirmTotp,
    DisableTwoFactorMe,
    ResetTwoFactor,
    CreateApiKey,
    ApiKeys,
    DeleteApiKey,
}

const EMAIL_TAKEN_BY_ADMIN: &str = "The user with this email already exists in the system.";
const EMAIL_TAKEN_AT_SIGNUP: &str = "The user with this email already exists in the system";
const EMAIL_CONFLICT: &str = "User with this email already exists";
const NO_SUCH_USER: &str = "The user with this id does not exist in the system";
const SUPERUSER_SELF_DELETE: &str = "Super users are not allowed to delete themselves";
const INCORRECT_PASSWORD: &str = "Incorrect password";
const INVALID_CODE: &str = "Invalid code";
const TWO_FACTOR_ON: &str = "Two-factor authentication is already enabled";
const TWO_FACTOR_OFF: &str = "Two-factor authentication is not enabled";
const TWO_FACTOR_DISABLED: &str = "Two-factor authentication disabled";
const TOO_MANY_KEYS: &str = "Too many API keys";

/// Wrong current passwords per account: the check is a password oracle for whoever holds a
/// token, and counting it apart from logins keeps a thief from locking the owner out of login.
const CURRENT_PASSWORD: Limit = Limit {
    scope: "current-password",
    max: 10,
    window: Duration::from_secs(15 * 60),
};

/// What the users routes need of a store.
pub trait UsersStore: Accounts + RateLimiter + EmailVerifications + TwoFactorStore + Clone + 'static {}
impl<S: Accounts + RateLimiter + EmailVerifications + TwoFactorStore + Clone + 'static> UsersStore for S {}

pub struct Users<S = Table, Q = SqsQueue, B = Bucket> {
    auth: Authenticator<S>,
    ctx: Context<S, Q, B>,
    http: HttpConfig,
}

/// The QR code of an `otpauth://` URI, as SVG, drawn here: the secret never leaves for a
/// QR service.
fn qr_svg(uri: &str) -> ApiResult<String> {
    use qrcode::render::svg;
    let code = qrcode::QrCode::new(uri.as_bytes()).map_err(|e| ApiError::Internal(format!("QR code: {e}")))?;
    Ok(code
        .render::<svg::Color<'_>>()
        .min_dimensions(200, 200)
        .dark_color(svg::Color("#000000"))
        .light_color(svg::Color("#ffffff"))
        .build())
}

impl<S: UsersStore, Q: JobQueue + Notifier + 'static, B: Send + Sync + 'static> Users<S, Q, B> {
    pub fn new(ctx: Context<S, Q, B>, http: HttpConfig) -> Self {
        Self {
            http,
            auth: ctx.authenticator(),
            ctx,
        }
    }

    fn store(&self) -> &S {
        &self.ctx.store
    }

    /// Tells the WebSocket connections of the sessions that ended (`audience`) so, and they are
    /// then closed. The sessions are over whatever happens here, so a queue failure is logged,
    /// not answered.
    /// Ends every session of the caller's but the one it calls with (all of them for a caller
    /// without one), and tells their WebSockets why.
    async fn end_other_sessions(&self, me: &domain::auth::Principal, reason: &str) -> ApiResult<()> {
        let audience = match me.session() {
            Some(keep) => {
                self.store().revoke_other_sessions(me.user.id, keep).await?;
                Audience::OtherSessions(keep)
            }
            None => {
                self.store().revoke_user_sessions(me.user.id).await?;
                Audience::User
            }
        };
        self.sessions_ended(me.user.id, audience, reason).await;
        Ok(())
    }

    async fn sessions_ended(&self, user_id: uuid::Uuid, audience: Audience, reason: &str) {
        let data = serde_json::json!({ "reason": reason });
        if let Err(err) = self
            .ctx
            .queue
            .notify_to(user_id, audience, Event::SessionRevoked, data)
            .await
        {
            tracing::warn!(%user_id, error = %err, "session.revoked not queued");
        }
    }

    async fn admin(&self, request: &ApiRequest) -> ApiResult<User> {
        let user = self.auth.current_user(request).await?;
        require(&user, Permission::Admin)?;
        Ok(user)
    }

    fn user_json(status: StatusCode, user: &User) -> ApiResult<Response> {
        edge::json(status, &UserPublic::from(user))
    }

    async fn list(&self, request: ApiRequest) -> ApiResult<Response> {
        self.admin(&request).await?;
        let paging: Paging = request.query()?;
        let (users, count) = tokio::try_join!(self.store().list(paging.skip, paging.limit), self.store().count())?;
        let page = Page {
            data: users.iter().map(UserPublic::from).collect(),
            count,
            next_cursor: Skip::Omitted,
        };
        edge::json(StatusCode::OK, &page)
    }

    async fn create(&self, request: ApiRequest) -> ApiResult<Response> {
        self.admin(&request).await?;
        let account = request.body::<UserCreate>()?.into_account();
        let user = account.create(self.store()).await.map_err(|err| match err {
            AccountError::EmailTaken => ApiError::BadRequest(EMAIL_TAKEN_BY_ADMIN.into()),
            other => account_error(other),
        })?;
        let http = &self.http;
        // The administrator typed the address: the welcome email carries its verification link.
        let token = self.store().create_verification(&user, verification::LINK_TTL).await?;
        let welcome = email::new_account(&http.project_name, &http.frontend_host, user.email.clone(), &token);
        self.ctx.queue.enqueue(Job::SendEmail(welcome)).await?;
        Self::user_json(StatusCode::OK, &user)
    }

    async fn signup(&self, request: ApiRequest) -> ApiResult<Response> {
        let account = request.body::<UserRegister>()?.into_account();
        let user = account.create(self.store()).await.map_err(|err| match err {
            AccountError::EmailTaken => ApiError::BadRequest(EMAIL_TAKEN_AT_SIGNUP.into()),
            other => account_error(other),
        })?;
        request.set_user(user.id);
        self.verification_link_or_log(&user).await;
        Self::user_json(StatusCode::OK, &user)
    }

    /// Sends `user` a new verification link for their current email.
    async fn verification_link(&self, user: &User) -> ApiResult<()> {
        let http = &self.http;
        let message = verification::link_email(self.store(), user, &http.project_name, &http.frontend_host).await?;
        self.ctx.queue.enqueue(Job::SendEmail(message)).await?;
        Ok(())
    }

    /// The link after a write that has landed (a signup, an email change): failing to send it
    /// must not answer as if the write had failed, and the user may ask for another.
    async fn verification_link_or_log(&self, user: &User) {
        if let Err(err) = self.verification_link(user).await {
            tracing::warn!(user_id = %user.id, error = %err, "verification link not sent");
        }
    }

    /// `POST /users/verify-email`: failures are counted per address, as for password resets.
    async fn verify_email(&self, request: ApiRequest) -> ApiResult<Response> {
        let VerifyEmail { token: Secret(token) } = request.body()?;
        let ip_key = request.source_ip.clone().unwrap_or_else(|| "unknown".into());
        let limit = &verification::FAILURES_PER_ADDRESS;
        let limited = |retry_after_secs| ApiError::TooManyRequests {
            detail: "Too many invalid verification tokens, try again later".into(),
            retry_after_secs,
        };
        let [before] = <[_; 1]>::try_from(self.store().counts(&[(limit, ip_key.as_str())]).await?)
            .map_err(|_| ApiError::Internal("rate-limit counts".into()))?;
        if before.count >= limit.max {
            return Err(limited(before.retry_after_secs));
        }
        let Some(user_id) = self.store().verify_email(&token).await? else {
            let failed = self.store().hit(limit, &ip_key).await?;
            if failed.count > limit.max {
                return Err(limited(failed.retry_after_secs));
            }
            return Err(ApiError::BadRequest("Invalid token".into()));
        };
        request.set_user(user_id);
        edge::message(StatusCode::OK, "Email verified")
    }

    /// `POST /users/me/verification-email`: a new link, at most [`verification::RESENDS`] an hour.
    async fn send_verification_email(&self, request: ApiRequest) -> ApiResult<Response> {
        let me = self.auth.current_user(&request).await?;
        if me.is_verified {
            return Err(ApiError::BadRequest("Email already verified".into()));
        }
        let limit = &verification::RESENDS;
        let sent = self.store().hit(limit, &me.id.to_string()).await?;
        if sent.count > limit.max {
            return Err(ApiError::TooManyRequests {
                detail: "Too many verification emails, try again later".into(),
                retry_after_secs: sent.retry_after_secs,
            });
        }
        self.verification_link(&me).await?;
        edge::message(StatusCode::OK, "Verification email sent")
    }

    async fn read_me(&self, request: ApiRequest) -> ApiResult<Response> {
        let me = self.auth.current_user(&request).await?;
        conditional(&request, Self::user_json(StatusCode::OK, &me)?)
    }

    async fn update_me(&self, request: ApiRequest) -> ApiResult<Response> {
        let mut me = self.auth.current_user(&request).await?;
        let changes: AccountChanges = request.body::<UserUpdateMe>()?.into();
        let previous = me.email.clone();
        changes.apply(&mut me)?;
        self.save(&me, &previous).await?;
        if me.email != previous {
            self.verification_link_or_log(&me).await;
        }
        Self::user_json(StatusCode::OK, &me)
    }

    async fn save(&self, user: &User, previous_email: &Email) -> ApiResult<()> {
        match self.store().update(user, previous_email).await {
            Ok(()) => Ok(()),
            Err(StoreError::EmailTaken) => Err(ApiError::Conflict(EMAIL_CONFLICT.into())),
            Err(StoreError::NotFound) => Err(ApiError::NotFound(NO_SUCH_USER.into())),
            Err(other) => Err(other.into()),
        }
    }

    async fn update_password_me(&self, request: ApiRequest) -> ApiResult<Response> {
        let mut me = self.auth.current_user(&request).await?;
        let UpdatePassword {
            current_password,
            new_password,
        } = request.body()?;
        let key = me.id.to_string();
        let attempt = self.store().hit(&CURRENT_PASSWORD, &key).await?;
        if attempt.count > CURRENT_PASSWORD.max {
            return Err(ApiError::TooManyRequests {
                detail: "Too many wrong passwords, try again later".into(),
                retry_after_secs: attempt.retry_after_secs,
            });
        }
        if !passwords::verify(current_password.expose(), &me.password_hash) {
            return Err(ApiError::BadRequest("Incorrect password".into()));
        }
        self.store().refund(&CURRENT_PASSWORD, &key).await?;
        if current_password == new_password {
            return Err(ApiError::BadRequest(
                "New password cannot be the same as the current one".into(),
            ));
        }
        me.password_hash = passwords::hash(&new_password)?;
        me.end_sessions();
        let email = me.email.clone();
        self.save(&me, &email).await?;
        // Every login ends with the old password, this one included: a thief's token as well.
        self.store().revoke_user_sessions(me.id).await?;
        self.sessions_ended(me.id, Audience::User, "password_changed").await;
        edge::message(StatusCode::OK, "Password updated successfully")
    }

    async fn delete_me(&self, request: ApiRequest) -> ApiResult<Response> {
        let me = self.auth.current_user(&request).await?;
        if me.role.is_superuser() {
            return Err(ApiError::Forbidden(SUPERUSER_SELF_DELETE.into()));
        }
        self.remove(&me).await
    }

    /// Deletes the account now (its email is free at once, its tokens stop working) and leaves
    /// what it owned to an idempotent background job. The delete itself records the cascade as
    /// unfinished, so a job that cannot be enqueued now is run by the worker's sweep instead:
    /// the answer is the same, and nothing the user owned is left behind.
    async fn remove(&self, user: &User) -> ApiResult<Response> {
        match self.store().delete(user).await {
            Ok(()) | Err(StoreError::NotFound) => {}
            Err(other) => return Err(other.into()),
        }
        if let Err(err) = self.ctx.queue.enqueue(Job::DeleteUserData { user_id: user.id }).await {
            tracing::warn!(user_id = %user.id, error = %err, "cascade not enqueued; the sweep will run it");
        }
        self.sessions_ended(user.id, Audience::User, "user_deleted").await;
        edge::message(StatusCode::OK, "User deleted successfully")
    }

    async fn read(&self, request: ApiRequest) -> ApiResult<Response> {
        let caller = self.auth.current_user(&request).await?;
        let id = request.path_id("user_id")?;
        if id == caller.id {
            return conditional(&request, Self::user_json(StatusCode::OK, &caller)?);
        }
        require(&caller, Permission::Admin)?;
        let user = self
            .store()
            .get(id)
            .await?
            .ok_or_else(|| ApiError::NotFound("User not found".into()))?;
        conditional(&request, Self::user_json(StatusCode::OK, &user)?)
    }

    async fn update(&self, request: ApiRequest) -> ApiResult<Response> {
        self.admin(&request).await?;
        let id = request.path_id("user_id")?;
        let changes: AccountChanges = request.body::<UserUpdate>()?.into();
        let mut user = self
            .store()
            .get(id)
            .await?
            .ok_or_else(|| ApiError::NotFound(NO_SUCH_USER.into()))?;
        let (previous, sessions_until) = (user.email.clone(), user.tokens_valid_after);
        changes.apply(&mut user)?;
        self.save(&user, &previous).await?;
        if user.tokens_valid_after != sessions_until {
            // A new password, role or active flag: the user's logins end with the old one.
            self.store().revoke_user_sessions(user.id).await?;
            let reason = if user.is_active {
                "account_changed"
            } else {
                "user_deactivated"
            };
            self.sessions_ended(user.id, Audience::User, reason).await;
        }
        if user.email != previous {
            self.verification_link_or_log(&user).await;
        }
        Self::user_json(StatusCode::OK, &user)
    }

    async fn sessions(&self, request: ApiRequest) -> ApiResult<Response> {
        let me = self.auth.caller(&request).await?;
        let sessions = self.store().sessions(me.user.id).await?;
        edge::json(StatusCode::OK, &sessions_page(&sessions, me.session()))
    }

    /// Ends one of the caller's sessions; another user's is as unknown as a made-up id.
    async fn revoke_session(&self, request: ApiRequest) -> ApiResult<Response> {
        let me = self.auth.caller(&request).await?;
        let id = request.path_id("session_id")?;
        let session = self
            .store()
            .session(id)
            .await?
            .filter(|session| session.user_id == me.user.id)
            .ok_or_else(|| ApiError::NotFound("Session not found".into()))?;
        self.store().revoke_family(session.id).await?;
        self.sessions_ended(me.user.id, Audience::Session(session.id), "session_revoked")
            .await;
        edge::message(StatusCode::OK, "Session revoked")
    }

    async fn revoke_other_sessions(&self, request: ApiRequest) -> ApiResult<Response> {
        let me = self.auth.caller(&request).await?;
        self.end_other_sessions(&me, "session_revoked").await?;
        edge::message(StatusCode::OK, "Other sessions revoked")
    }

    /// A new API key of the caller, shown this once.
    async fn create_api_key(&self, request: ApiRequest) -> ApiResult<Response> {
        let me = self.auth.caller(&request).await?;
        let asked: ApiKeyCreate = request.body()?;
        let now = domain::clock::now_micros();
        let wanted = KeyRequest {
            name: asked.name,
            scopes: asked.scopes,
            days: asked.expires_in_days.map_or(api_key::DEFAULT_DAYS, |days| days.0),
        };
        let issued = api_key::issue(me.user.id, wanted, now)
            .map_err(|e| StoreError::Unavailable(format!("no randomness: {e}")))?;
        if !api_key::keep(self.store(), &issued.api_key, now).await? {
            return Err(ApiError::BadRequest(TOO_MANY_KEYS.into()));
        }
        tracing::info!(user_id = %me.user.id, key_id = %issued.api_key.id, "api key created");
        edge::json(
            StatusCode::CREATED,
            &ApiKeyCreated {
                key: issued.key,
                api_key: ApiKeyPublic::from(&issued.api_key),
            },
        )
    }

    async fn api_keys(&self, request: ApiRequest) -> ApiResult<Response> {
        let me = self.auth.caller(&request).await?;
        edge::json(StatusCode::OK, &keys_page(&self.store().keys(me.user.id).await?))
    }

    /// Deletes one of the caller's keys; another user's is as unknown as a made-up id (the key
    /// row lives in its owner's partition, so another's id is simply not found there).
    async fn delete_api_key(&self, request: ApiRequest) -> ApiResult<Response> {
        let me = self.auth.caller(&request).await?;
        let id = request.path_id("key_id")?;
        if !self.store().delete_key(me.user.id, id).await? {
            return Err(ApiError::NotFound("API key not found".into()));
        }
        tracing::info!(user_id = %me.user.id, key_id = %id, "api key deleted");
        edge::message(StatusCode::OK, "API key deleted")
    }

    /// The caller's current password, checked against the same per-account limit as a password
    /// change (a password oracle for whoever holds a token), counted first.
    async fn check_password(&self, me: &User, password: &str) -> ApiResult<()> {
        let key = me.id.to_string();
        let attempt = self.store().hit(&CURRENT_PASSWORD, &key).await?;
        if attempt.count > CURRENT_PASSWORD.max {
            return Err(ApiError::TooManyRequests {
                detail: "Too many wrong passwords, try again later".into(),
                retry_after_secs: attempt.retry_after_secs,
            });
        }
        if !passwords::verify(password, &me.password_hash) {
            return Err(ApiError::BadRequest(INCORRECT_PASSWORD.into()));
        }
        self.store().refund(&CURRENT_PASSWORD, &key).await?;
        Ok(())
    }

    /// Counts a code against the account's limit before it is checked (429 past it), so
    /// parallel guesses cannot pass it; a right code gives it back.
    async fn code_attempt(&self, user_id: uuid::Uuid) -> ApiResult<()> {
        let attempt = self.store().hit(&CODES_PER_ACCOUNT, &user_id.to_string()).await?;
        if attempt.count > CODES_PER_ACCOUNT.max {
            return Err(ApiError::TooManyRequests {
                detail: "Too many two-factor codes tried, try again later".into(),
                retry_after_secs: attempt.retry_after_secs,
            });
        }
        Ok(())
    }

    async fn code_accepted(&self, user_id: uuid::Uuid) -> ApiResult<()> {
        Ok(self.store().refund(&CODES_PER_ACCOUNT, &user_id.to_string()).await?)
    }

    /// A new secret, pending until confirmed: shown with its URI and QR code, kept sealed.
    async fn setup_totp(&self, request: ApiRequest) -> ApiResult<Response> {
        let me = self.auth.current_user(&request).await?;
        let TotpSetupRequest { password } = request.body()?;
        self.check_password(&me, &password.0 .0).await?;
        if me.has_2fa {
            return Err(ApiError::BadRequest(TWO_FACTOR_ON.into()));
        }
        let secret = TotpSecret::generate()?;
        let sealed = self.ctx.totp_key.seal(&secret, me.id)?;
        if !self.store().begin_totp(me.id, &sealed).await? {
            return Err(ApiError::BadRequest(TWO_FACTOR_ON.into()));
        }
        let otpauth_uri = secret.otpauth_uri(&self.http.project_name, me.email.as_str());
        let setup = TotpSetup {
            secret: secret.base32(),
            qr_svg: qr_svg(&otpauth_uri)?,
            otpauth_uri,
        };
        edge::json(StatusCode::OK, &setup)
    }

    /// Turns two-factor on with a code of the pending secret; the recovery codes, shown once.
    async fn confirm_totp(&self, request: ApiRequest) -> ApiResult<Response> {
        let me = self.auth.current_user(&request).await?;
        let TotpConfirm {
            code: OneTimeCode(code),
        } = request.body()?;
        if me.has_2fa {
            return Err(ApiError::BadRequest(TWO_FACTOR_ON.into()));
        }
        let pending = self.store().two_factor(me.id).await?.and_then(|record| record.pending);
        let Some(pending) = pending else {
            return Err(ApiError::BadRequest("No two-factor setup to confirm".into()));
        };
        self.code_attempt(me.id).await?;
        let secret = self
            .ctx
            .totp_key
            .open(&pending, me.id)
            .map_err(|e| ApiError::Internal(format!("{}: {e}", me.id)))?;
        let now = domain::clock::now_secs();
        let step = match SecondFactor::parse(&code) {
            Some(SecondFactor::Totp(code)) => secret.matching_step(&code, now, None),
            _ => None,
        };
        let Some(step) = step else {
            return Err(ApiError::BadRequest(INVALID_CODE.into()));
        };
        self.code_accepted(me.id).await?;
        let (shown, digests) = two_factor::recovery_codes(me.id)?;
        // The step is the last accepted: the code that confirmed cannot log in too.
        if !self.store().enable_totp(me.id, &pending, step, &digests).await? {
            // Confirmed by a parallel request, or replaced by a newer setup meanwhile.
            return Err(ApiError::BadRequest(INVALID_CODE.into()));
        }
        edge::json(StatusCode::OK, &RecoveryCodes { recovery_codes: shown })
    }

    /// Turns the caller's two-factor off (password and a code), ending their other sessions.
    async fn disable_two_factor_me(&self, request: ApiRequest) -> ApiResult<Response> {
        let me = self.auth.caller(&request).await?;
        let TwoFactorDisable {
            password,
            code: OneTimeCode(code),
        } = request.body()?;
        self.check_password(&me.user, &password.0 .0).await?;
        if !me.user.has_2fa {
            return Err(ApiError::BadRequest(TWO_FACTOR_OFF.into()));
        }
        self.code_attempt(me.user.id).await?;
        let record = self.store().two_factor(me.user.id).await?.unwrap_or_default();
        let now = domain::clock::now_secs();
        let key = &self.ctx.totp_key;
        if !two_factor::spend_code(self.store(), key, me.user.id, &record, &code, now).await? {
            return Err(ApiError::BadRequest(INVALID_CODE.into()));
        }
        self.code_accepted(me.user.id).await?;
        self.store().disable_two_factor(me.user.id).await?;
        self.end_other_sessions(&me, "two_factor_disabled").await?;
        edge::message(StatusCode::OK, TWO_FACTOR_DISABLED)
    }

    /// An administrator turns a locked-out user's two-factor off; that user's sessions end.
    async fn reset_two_factor(&self, request: ApiRequest) -> ApiResult<Response> {
        self.admin(&request).await?;
        let id = request.path_id("user_id")?;
        let not_found = || ApiError::NotFound("User not found".into());
        self.store().get(id).await?.ok_or_else(not_found)?;
        match self.store().disable_two_factor(id).await {
            Ok(()) => {}
            Err(StoreError::NotFound) => return Err(not_found()),
            Err(other) => return Err(other.into()),
        }
        self.store().revoke_user_sessions(id).await?;
        self.sessions_ended(id, Audience::User, "two_factor_reset").await;
        edge::message(StatusCode::OK, TWO_FACTOR_DISABLED)
    }

    async fn delete(&self, request: ApiRequest) -> ApiResult<Response> {
        let caller = self.admin(&request).await?;
        let id = request.path_id("user_id")?;
        if id == caller.id {
            return Err(ApiError::Forbidden(SUPERUSER_SELF_DELETE.into()));
        }
        let user = self
            .store()
            .get(id)
            .await?
            .ok_or_else(|| ApiError::NotFound("User not found".into()))?;
        self.remove(&user).await
    }
}

fn account_error(err: AccountError) -> ApiError {
    match err {
        AccountError::EmailTaken => StoreError::EmailTaken.into(),
        AccountError::Store(store) => store.into(),
        AccountError::Hash(hash) => hash.into(),
    }
}

impl<S: UsersStore, Q: JobQueue + Notifier + 'static, B: Send + Sync + 'static> Api for Users<S, Q, B> {
    type Route = Route;

    fn routes() -> Vec<(Endpoint, Route)> {
        vec![
            (const { users::READ_USERS.endpoint }, Route::List),
            (const { users::CREATE_USER.endpoint }, Route::Create),
            (const { users::READ_USER_ME.endpoint }, Route::ReadMe),
            (const { users::UPDATE_USER_ME.endpoint }, Route::UpdateMe),
            (const { users::DELETE_USER_ME.endpoint }, Route::DeleteMe),
            (const { users::UPDATE_PASSWORD_ME.endpoint }, Route::UpdatePasswordMe),
            (const { users::REGISTER_USER.endpoint }, Route::Signup),
            (const { users::READ_USER_BY_ID.endpoint }, Route::Read),
            (const { users::UPDATE_USER.endpoint }, Route::Update),
            (const { users::DELETE_USER.endpoint }, Route::Delete),
            (const { users::READ_SESSIONS.endpoint }, Route::Sessions),
            (const { users::REVOKE_SESSION.endpoint }, Route::RevokeSession),
            (
                const { users::REVOKE_OTHER_SESSIONS.endpoint },
                Route::RevokeOtherSessions,
            ),
            (const { users::VERIFY_EMAIL.endpoint }, Route::VerifyEmail),
            (
                const { users::SEND_VERIFICATION_EMAIL.endpoint },
                Route::SendVerificationEmail,
            ),
            (const { users::SETUP_TOTP.endpoint }, Route::SetupTotp),
            (const { users::CONFIRM_TOTP.endpoint }, Route::ConfirmTotp),
            (
                const { users::DISABLE_TWO_FACTOR_ME.endpoint },
                Route::DisableTwoFactorMe,
            ),
            (const { users::RESET_TWO_FACTOR.endpoint }, Route::ResetTwoFactor),
            (const { users::CREATE_API_KEY.endpoint }, Route::CreateApiKey),
            (const { users::READ_API_KEYS.endpoint }, Route::ApiKeys),
            (const { users::DELETE_API_KEY.endpoint }, Route::DeleteApiKey),
        ]
    }

    async fn handle(&self, route: Route, request: ApiRequest) -> ApiResult<Response> {
        match route {
            Route::List => self.list(request).await,
            Route::Create => self.create(request).await,
            Route::ReadMe => self.read_me(request).await,
            Route::UpdateMe => self.update_me(request).await,
            Route::DeleteMe => self.delete_me(request).await,
            Route::UpdatePasswordMe => self.update_password_me(request).await,
            Route::Signup => self.signup(request).await,
            Route::Read => self.read(request).await,
            Route::Update => self.update(request).await,
            Route::Delete => self.delete(request).await,
            Route::Sessions => self.sessions(request).await,
            Route::RevokeSession => self.revoke_session(request).await,
            Route::RevokeOtherSessions => self.revoke_other_sessions(request).await,
            Route::VerifyEmail => self.verify_email(request).await,
            Route::SendVerificationEmail => self.send_verification_email(request).await,
            Route::SetupTotp => self.setup_totp(request).await,
            Route::ConfirmTotp => self.confirm_totp(request).await,
            Route::DisableTwoFactorMe => self.disable_two_factor_me(request).await,
            Route::ResetTwoFactor => self.reset_two_factor(request).await,
            Route::CreateApiKey => self.create_api_key(request).await,
            Route::ApiKeys => self.api_keys(request).await,
            Route::DeleteApiKey => self.delete_api_key(request).await,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use edge::service::{Matched, Router};
    use lambda_http::http::Method;

    #[test]
    fn static_routes_win_over_the_user_id() {
        let router = Router::new(Users::<Table>::routes());
        assert!(matches!(
            router.at(&Method::GET, "/api/v1/users/me"),
            Matched::Route {
                route: Route::ReadMe,
                ..
            }
        ));
        assert!(matches!(
            router.at(&Method::POST, "/api/v1/users/signup/"),
            Matched::Route {
                route: Route::Signup,
                ..
            }
        ));
        assert!(matches!(
            router.at(&Method::GET, "/api/v1/users/7"),
            Matched::Route { route: Route::Read, .. }
        ));
        assert!(matches!(
            router.at(&Method::GET, "/api/v1/users"),
            Matched::Route { route: Route::List, .. }
        ));
    }
}

#[cfg(test)]
mod handler_tests {
    //! Every route through the whole service, from the `events/` fixtures, on in-memory stores.

    use super::*;
    use adapters::store::memory::Memory;
    use domain::ports::{ApiKeyStore, TwoFactorStore, UserStore};
    use domain::Role;
    use edge::StatusCode;
    use serde_json::{json, Value};
    use testkit::{call, caller, context, event, service, set_body, set_path, PASSWORD};
    use time::format_description::well_known::Rfc3339;

    fn users(memory: &Memory) -> edge::Service<Users<Memory, Memory, Memory>> {
        service(Users::new(context(memory), testkit::http_config()))
    }

    #[tokio::test]
    async fn a_superuser_lists_and_creates_users_and_a_user_may_not() {
        let memory = Memory::default();
        let (_, admin) = caller(&memory, "admin@example.com", Role::Superuser).await;
        let (_, user) = caller(&memory, "user@example.com", Role::User).await;
        let (status, page) = call(&users(&memory), event("users/list.json", &admin, |_| {})).await;
        assert_eq!((status, page["count"].clone()), (StatusCode::OK, json!(2)));
        assert!(page.get("next_cursor").is_none());
        assert_eq!(
            call(&users(&memory), event("users/list.json", &user, |_| {})).await.0,
            StatusCode::FORBIDDEN
        );

        let (status, created) = call(&users(&memory), event("users/create.json", &admin, |_| {})).await;
        assert_eq!(
            (status, created["email"].clone()),
            (StatusCode::OK, json!("new.user@example.com"))
        );
        assert!(
            matches!(memory.jobs().as_slice(), [Job::SendEmail(message)] if message.to.as_str() == "new.user@example.com")
        );
        let (status, again) = call(&users(&memory), event("users/create.json", &admin, |_| {})).await;
        assert_eq!(status, StatusCode::BAD_REQUEST);
        assert_eq!(again["detail"], EMAIL_TAKEN_BY_ADMIN);
        assert_eq!(
            call(&users(&memory), event("users/create.json", &user, |_| {})).await.0,
            StatusCode::FORBIDDEN
        );
    }

    #[tokio::test]
    async fn signup_makes_a_plain_user_once() {
        let memory = Memory::default();
        let claims_superuser = |e: &mut Value| {
            set_body(
                e,
                json!({"email": "signup@example.com", "password": "changethis123", "is_superuser": true}),
            )
        };
        let (status, body) = call(&users(&memory), event("users/signup.json", "", claims_superuser)).await;
        assert_eq!(
            (status, body["is_superuser"].clone(), body["role"].clone()),
            (StatusCode::OK, json!(false), json!("user"))
        );
        let (status, again) = call(&users(&memory), event("users/signup.json", "", |_| {})).await;
        assert_eq!(
            (status, again["detail"].clone()),
            (StatusCode::BAD_REQUEST, json!(EMAIL_TAKEN_AT_SIGNUP))
        );
    }

    /// The token of the newest verification link emailed to `to`.
    fn link_to(memory: &Memory, to: &str) -> String {
        memory
            .jobs()
            .into_iter()
            .rev()
            .find_map(|job| match job {
                Job::SendEmail(message) if message.to.as_str() == to => {
                    let token = message.html.split("/verify-email?token=").nth(1)?;
                    Some(token.chars().take_while(char::is_ascii_alphanumeric).collect())
                }
                _ => None,
            })
            .unwrap_or_else(|| panic!("no verification link to {to}"))
    }

    fn redeem(token: &str) -> lambda_http::Request {
        let token = token.to_owned();
        event("users/verify-email-invalid.json", "", move |e| {
            set_body(e, json!({ "token": token }))
        })
    }

    #[tokio::test]
    async fn a_signup_link_verifies_the_address_once() {
        let memory = Memory::default();
        let (status, body) = call(&users(&memory), event("users/signup.json", "", |_| {})).await;
        assert_eq!((status, body["is_verified"].clone()), (StatusCode::OK, json!(false)));
        let token = link_to(&memory, "signup@example.com");
        assert_eq!(token.len(), 64);

        assert_eq!(
            call(&users(&memory), redeem(&token)).await,
            (StatusCode::OK, json!({"message": "Email verified"}))
        );
        let user = memory
            .find_by_email(&Email::parse("signup@example.com").unwrap())
            .await
            .unwrap()
            .unwrap();
        assert!(user.is_verified);
        assert_eq!(
            call(&users(&memory), redeem(&token)).await,
            (StatusCode::BAD_REQUEST, json!({"detail": "Invalid token"}))
        );
        let made_up = event("users/verify-email-invalid.json", "", |_| {});
        assert_eq!(
            call(&users(&memory), made_up).await,
            (StatusCode::BAD_REQUEST, json!({"detail": "Invalid token"}))
        );
    }

    #[tokio::test]
    async fn an_email_change_unverifies_and_voids_the_old_link() {
        let memory = Memory::default();
        let (me, token) = caller(&memory, "me@example.com", Role::User).await;
        let resend = || event("users/send-verification-email-verified.json", &token, |_| {});
        assert_eq!(call(&users(&memory), resend()).await.0, StatusCode::OK);
        let old_link = link_to(&memory, "me@example.com");

        let change = event("users/update-me.json", &token, |e| {
            set_body(e, json!({"email": "new@example.com"}))
        });
        let (status, body) = call(&users(&memory), change).await;
        assert_eq!((status, body["is_verified"].clone()), (StatusCode::OK, json!(false)));
        assert_eq!(
            call(&users(&memory), redeem(&old_link)).await,
            (StatusCode::BAD_REQUEST, json!({"detail": "Invalid token"})),
            "a link to the old address is stale"
        );
        let new_link = link_to(&memory, "new@example.com");
        memory.expire_verifications(me.id);
        assert_eq!(
            call(&users(&memory), redeem(&new_link)).await.0,
            StatusCode::BAD_REQUEST
        );
        assert_eq!(call(&users(&memory), resend()).await.0, StatusCode::OK);
        let fresh = link_to(&memory, "new@example.com");
        assert_eq!(call(&users(&memory), redeem(&fresh)).await.0, StatusCode::OK);
        let (_, read) = call(&users(&memory), event("users/read-me.json", &token, |_| {})).await;
        assert_eq!(
            (read["email"].clone(), read["is_verified"].clone()),
            (json!("new@example.com"), json!(true))
        );
        assert_eq!(
            call(&users(&memory), resend()).await,
            (StatusCode::BAD_REQUEST, json!({"detail": "Email already verified"}))
        );
    }

    #[tokio::test]
    async fn resends_are_limited_to_three_an_hour() {
        let memory = Memory::default();
        let (_, token) = caller(&memory, "me@example.com", Role::User).await;
        let resend = || event("users/send-verification-email-verified.json", &token, |_| {});
        for _ in 0..verification::RESENDS.max {
            assert_eq!(
                call(&users(&memory), resend()).await,
                (StatusCode::OK, json!({"message": "Verification email sent"}))
            );
        }
        let response = users(&memory).call(resend()).await;
        assert_eq!(response.status(), StatusCode::TOO_MANY_REQUESTS);
        assert!(response.headers().contains_key("retry-after"));
        assert_eq!(memory.jobs().len(), 3);
    }

    #[tokio::test]
    async fn the_caller_reads_and_changes_their_own_account() {
        let memory = Memory::default();
        let (me, token) = caller(&memory, "me@example.com", Role::User).await;
        let (_, read) = call(&users(&memory), event("users/read-me.json", &token, |_| {})).await;
        assert_eq!(read["id"], me.id.to_string());
        let (_, updated) = call(&users(&memory), event("users/update-me.json", &token, |_| {})).await;
        assert_eq!(updated["full_name"], "Local Admin");
        let (_, other) = caller(&memory, "other@example.com", Role::User).await;
        let taken = event("users/update-me.json", &other, |e| {
            set_body(e, json!({"email": "me@example.com"}))
        });
        assert_eq!(call(&users(&memory), taken).await.0, StatusCode::CONFLICT);
    }

    #[tokio::test]
    async fn a_password_change_needs_the_current_password() {
        let memory = Memory::default();
        let (me, token) = caller(&memory, "me@example.com", Role::User).await;
        let wrong = event("users/update-password-me-wrong-current.json", &token, |_| {});
        let (status, body) = call(&users(&memory), wrong).await;
        assert_eq!(
            (status, body["detail"].clone()),
            (StatusCode::BAD_REQUEST, json!("Incorrect password"))
        );
        let right = event("users/update-password-me-wrong-current.json", &token, |e| {
            set_body(
                e,
                json!({"current_password": PASSWORD, "new_password": "a-new-password"}),
            )
        });
        assert_eq!(call(&users(&memory), right).await.0, StatusCode::OK);
        let stored = memory.get(me.id).await.unwrap().unwrap();
        assert!(passwords::verify("a-new-password", &stored.password_hash));
        let notified: Vec<_> = memory
            .notifications()
            .into_iter()
            .map(|n| (n.user_id, n.event, n.data))
            .collect();
        assert_eq!(
            notified,
            [(me.id, Event::SessionRevoked, json!({"reason": "password_changed"}))]
        );
    }

    #[tokio::test]
    async fn deleting_an_account_leaves_its_data_to_the_worker() {
        let memory = Memory::default();
        let (_, admin) = caller(&memory, "admin@example.com", Role::Superuser).await;
        let (me, token) = caller(&memory, "me@example.com", Role::User).await;
        let superuser_self = event("users/delete-me-superuser.json", &admin, |_| {});
        assert_eq!(call(&users(&memory), superuser_self).await.0, StatusCode::FORBIDDEN);
        let (status, _) = call(&users(&memory), event("users/delete-me-superuser.json", &token, |_| {})).await;
        assert_eq!(status, StatusCode::OK);
        assert_eq!(memory.get(me.id).await.unwrap(), None);
        assert!(matches!(memory.jobs().as_slice(), [Job::DeleteUserData { user_id }] if *user_id == me.id));
        assert!(
            matches!(memory.notifications().as_slice(), [n] if n.user_id == me.id && n.event == Event::SessionRevoked)
        );
        let gone = event("users/read-me.json", &token, |_| {});
        assert_eq!(call(&users(&memory), gone).await.0, StatusCode::UNAUTHORIZED);
    }

    #[tokio::test]
    async fn a_deletion_whose_job_cannot_be_enqueued_is_left_to_the_sweep() {
        let memory = Memory::default();
        let (me, token) = caller(&memory, "me@example.com", Role::User).await;
        memory.set_queue_down(true);
        let (status, body) = call(&users(&memory), event("users/delete-me-superuser.json", &token, |_| {})).await;
        assert_eq!(
            (status, body["message"].clone()),
            (StatusCode::OK, json!("User deleted successfully"))
        );
        assert_eq!(memory.get(me.id).await.unwrap(), None);
        assert!(memory.jobs().is_empty());
        let now = domain::clock::now_secs();
        assert_eq!(memory.unfinished_deletions(now, 10).await.unwrap(), vec![me.id]);
    }

    #[tokio::test]
    async fn sessions_are_listed_and_ended_one_at_a_time_or_all_but_the_callers() {
        let memory = Memory::default();
        let (me, first) = caller(&memory, "me@example.com", Role::User).await;
        let (second_id, second) = testkit::session(&memory, me.id).await;
        let (third_id, third) = testkit::session(&memory, me.id).await;
        let (status, page) = call(&users(&memory), event("users/sessions.json", &third, |_| {})).await;
        assert_eq!((status, page["count"].clone()), (StatusCode::OK, json!(3)));
        let listed = page["data"].as_array().unwrap();
        let created: Vec<&str> = listed.iter().map(|s| s["created_at"].as_str().unwrap()).collect();
        assert!(created.windows(2).all(|w| w[0] >= w[1]), "newest first: {created:?}");
        let current: Vec<&Value> = listed.iter().filter(|s| s["current"] == true).collect();
        assert_eq!(current.len(), 1);
        assert_eq!(current[0]["id"], third_id.to_string());

        let path = format!("/api/v1/users/me/sessions/{second_id}");
        let (_, stranger) = caller(&memory, "other@example.com", Role::User).await;
        let theirs = event("users/revoke-session-unknown.json", &stranger, |e| set_path(e, &path));
        assert_eq!(
            call(&users(&memory), theirs).await,
            (StatusCode::NOT_FOUND, json!({"detail": "Session not found"}))
        );
        let unknown = event("users/revoke-session-unknown.json", &third, |_| {});
        assert_eq!(call(&users(&memory), unknown).await.0, StatusCode::NOT_FOUND);

        let revoke = event("users/revoke-session-unknown.json", &third, |e| set_path(e, &path));
        assert_eq!(
            call(&users(&memory), revoke).await,
            (StatusCode::OK, json!({"message": "Session revoked"}))
        );
        let read_me = |token: &str| event("users/read-me.json", token, |_| {});
        assert_eq!(
            call(&users(&memory), read_me(&second)).await.0,
            StatusCode::UNAUTHORIZED
        );
        assert_eq!(call(&users(&memory), read_me(&first)).await.0, StatusCode::OK);

        let others = event("users/revoke-other-sessions.json", &third, |_| {});
        assert_eq!(call(&users(&memory), others).await.0, StatusCode::OK);
        assert_eq!(call(&users(&memory), read_me(&first)).await.0, StatusCode::UNAUTHORIZED);
        assert_eq!(call(&users(&memory), read_me(&third)).await.0, StatusCode::OK);
        let (_, page) = call(&users(&memory), event("users/sessions.json", &third, |_| {})).await;
        assert_eq!(page["count"], 1);

        let audiences: Vec<_> = memory
            .notifications()
            .into_iter()
            .map(|n| (n.user_id, n.audience, n.event))
            .collect();
        assert_eq!(
            audiences,
            [
                (me.id, Audience::Session(second_id), Event::SessionRevoked),
                (me.id, Audience::OtherSessions(third_id), Event::SessionRevoked),
            ]
        );
    }

    #[tokio::test]
    async fn users_by_id_follow_the_contract() {
        let memory = Memory::default();
        let (_, admin) = caller(&memory, "admin@example.com", Role::Superuser).await;
        let (other, token) = caller(&memory, "user@example.com", Role::User).await;
        for (name, detail) in [
            ("read-user-unknown", "User not found"),
            ("update-user-unknown", NO_SUCH_USER),
            ("delete-user-unknown", "User not found"),
        ] {
            let (status, body) = call(&users(&memory), event(&format!("users/{name}.json"), &admin, |_| {})).await;
            assert_eq!(
                (status, body["detail"].clone()),
                (StatusCode::NOT_FOUND, json!(detail)),
                "{name}"
            );
        }
        let path = format!("/api/v1/users/{}", other.id);
        let promote = event("users/update-user-unknown.json", &admin, |e| {
            set_path(e, &path);
            set_body(e, json!({"role": "moderator"}));
        });
        assert_eq!(call(&users(&memory), promote).await.1["role"], "moderator");
        let ended = event("users/read-me.json", &token, |_| {});
        assert_eq!(
            call(&users(&memory), ended).await.0,
            StatusCode::UNAUTHORIZED,
            "a role change ends sessions"
        );
        assert!(
            matches!(memory.notifications().as_slice(), [n] if n.user_id == other.id && n.data["reason"] == "account_changed")
        );
        let admin_user = memory
            .find_by_email(&Email::parse("admin@example.com").unwrap())
            .await
            .unwrap()
            .unwrap();
        let admin_path = format!("/api/v1/users/{}", admin_user.id);
        // The promotion ended `other`'s sessions: a plain user of their own asks instead.
        let (_, plain) = caller(&memory, "plain@example.com", Role::User).await;
        let someone_else = event("users/read-user-unknown.json", &plain, |e| set_path(e, &admin_path));
        assert_eq!(call(&users(&memory), someone_else).await.0, StatusCode::FORBIDDEN);
        let bad = event("users/read-user-unknown.json", &admin, |e| {
            set_path(e, "/api/v1/users/42")
        });
        let (status, body) = call(&users(&memory), bad).await;
        assert_eq!(
            (status, body["detail"][0]["loc"].clone()),
            (StatusCode::UNPROCESSABLE_ENTITY, json!(["path", "user_id"]))
        );
    }

    #[tokio::test]
    async fn api_keys_are_shown_once_listed_kept_to_their_scopes_capped_and_deleted() {
        let memory = Memory::default();
        let (me, token) = caller(&memory, "me@example.com", Role::User).await;
        let (status, created) = call(&users(&memory), event("users/create-api-key.json", &token, |_| {})).await;
        assert_eq!(status, StatusCode::CREATED, "{created}");
        let key = created["key"].as_str().unwrap().to_owned();
        assert!(key.starts_with("sbk_") && key.len() >= 4 + 43, "{key}");
        let shown = &created["api_key"];
        assert_eq!(shown["prefix"], json!(&key[..12]));
        assert_eq!(shown["scopes"], json!(["items:read", "posts:read"]));
        assert_eq!(shown["last_used_at"], Value::Null);
        let made = time::OffsetDateTime::parse(shown["created_at"].as_str().unwrap(), &Rfc3339).unwrap();
        let ends = time::OffsetDateTime::parse(shown["expires_at"].as_str().unwrap(), &Rfc3339).unwrap();
        assert_eq!(ends - made, time::Duration::days(30));

        // Listed without the key; the key itself reaches no account route.
        let (status, page) = call(&users(&memory), event("users/api-keys.json", &token, |_| {})).await;
        assert_eq!((status, page["count"].clone()), (StatusCode::OK, json!(1)));
        assert_eq!(page["data"][0]["id"], shown["id"]);
        assert!(!page.to_string().contains(&key));
        for name in [
            "users/read-me.json",
            "users/api-keys.json",
            "users/create-api-key.json",
            "users/sessions.json",
        ] {
            let (status, body) = call(&users(&memory), event(name, &key, |_| {})).await;
            assert_eq!(
                (status, body["detail"].clone()),
                (StatusCode::FORBIDDEN, json!("Insufficient scope")),
                "{name}"
            );
        }

        // With `profile:read`, `GET /users/me` answers, and the use is written down.
        let profile = event(
            "users/create-api-key.json",
            &token,
            with_body(json!({"name": "me", "scopes": ["profile:read"]})),
        );
        let (_, profile) = call(&users(&memory), profile).await;
        let profile_key = profile["key"].as_str().unwrap().to_owned();
        let (status, body) = call(&users(&memory), event("users/read-me.json", &profile_key, |_| {})).await;
        assert_eq!((status, body["id"].clone()), (StatusCode::OK, json!(me.id)));
        let listed = memory.keys(me.id).await.unwrap();
        let used = listed
            .iter()
            .find(|k| k.id.to_string() == profile["api_key"]["id"])
            .unwrap();
        assert!(used.last_used_at.is_some());

        // At most 20: the 21st is refused, unless an expired one can make room.
        for n in 2..20 {
            let more = event(
                "users/create-api-key.json",
                &token,
                with_body(json!({"name": format!("k{n}"), "scopes": ["items:read"]})),
            );
            assert_eq!(call(&users(&memory), more).await.0, StatusCode::CREATED, "key {n}");
        }
        let over = || {
            event(
                "users/create-api-key.json",
                &token,
                with_body(json!({"name": "one more", "scopes": ["items:read"]})),
            )
        };
        let (status, body) = call(&users(&memory), over()).await;
        assert_eq!(
            (status, body["detail"].clone()),
            (StatusCode::BAD_REQUEST, json!("Too many API keys"))
        );
        let mut expired = memory.keys(me.id).await.unwrap().pop().unwrap();
        memory.delete_key(me.id, expired.id).await.unwrap();
        expired.expires_at = domain::clock::now_micros() - time::Duration::seconds(1);
        assert!(memory.create_key(&expired).await.unwrap());
        assert_eq!(call(&users(&memory), over()).await.0, StatusCode::CREATED);
        assert!(memory.keys(me.id).await.unwrap().iter().all(|k| k.id != expired.id));

        // Deleting: another's key or a made-up id is not found; one's own stops working.
        let (_, theirs) = caller(&memory, "them@example.com", Role::User).await;
        let key_path = format!(
            "/api/v1/users/me/api-keys/{}",
            profile["api_key"]["id"].as_str().unwrap()
        );
        let (status, body) = call(
            &users(&memory),
            event("users/delete-api-key-unknown.json", &token, |_| {}),
        )
        .await;
        assert_eq!(
            (status, body["detail"].clone()),
            (StatusCode::NOT_FOUND, json!("API key not found"))
        );
        let by_them = event("users/delete-api-key-unknown.json", &theirs, |e| set_path(e, &key_path));
        assert_eq!(call(&users(&memory), by_them).await.0, StatusCode::NOT_FOUND);
        let by_key = event("users/delete-api-key-unknown.json", &profile_key, |e| {
            set_path(e, &key_path)
        });
        assert_eq!(call(&users(&memory), by_key).await.0, StatusCode::FORBIDDEN);
        let mine = event("users/delete-api-key-unknown.json", &token, |e| set_path(e, &key_path));
        let (status, body) = call(&users(&memory), mine).await;
        assert_eq!(
            (status, body["message"].clone()),
            (StatusCode::OK, json!("API key deleted"))
        );
        let (status, body) = call(&users(&memory), event("users/read-me.json", &profile_key, |_| {})).await;
        assert_eq!(
            (status, body["detail"].clone()),
            (StatusCode::UNAUTHORIZED, json!("Could not validate credentials"))
        );
    }

    #[tokio::test]
    async fn an_expired_key_is_refused() {
        let memory = Memory::default();
        let (me, _) = caller(&memory, "me@example.com", Role::User).await;
        let asked = KeyRequest {
            name: api_key::KeyName::parse("old").unwrap(),
            scopes: [api_key::Scope::ProfileRead].into_iter().collect(),
            days: 1,
        };
        let issued = api_key::issue(me.id, asked, domain::clock::now_micros() - time::Duration::days(2)).unwrap();
        assert!(memory.create_key(&issued.api_key).await.unwrap());
        let (status, body) = call(&users(&memory), event("users/read-me.json", &issued.key, |_| {})).await;
        assert_eq!(
            (status, body["detail"].clone()),
            (StatusCode::UNAUTHORIZED, json!("Could not validate credentials"))
        );
    }

    #[tokio::test]
    async fn a_key_dies_with_its_owners_deactivation() {
        let memory = Memory::default();
        let (_, admin) = caller(&memory, "admin@example.com", Role::Superuser).await;
        let (me, token) = caller(&memory, "me@example.com", Role::User).await;
        let asked = event(
            "users/create-api-key.json",
            &token,
            with_body(json!({"name": "me", "scopes": ["profile:read"]})),
        );
        let (_, created) = call(&users(&memory), asked).await;
        let key = created["key"].as_str().unwrap().to_owned();
        assert_eq!(
            call(&users(&memory), event("users/read-me.json", &key, |_| {})).await.0,
            StatusCode::OK
        );
        let path = format!("/api/v1/users/{}", me.id);
        let deactivate = event("users/update-user-unknown.json", &admin, |e| {
            set_path(e, &path);
            set_body(e, json!({"is_active": false}));
        });
        assert_eq!(call(&users(&memory), deactivate).await.0, StatusCode::OK);
        assert_eq!(
            call(&users(&memory), event("users/read-me.json", &key, |_| {})).await.0,
            StatusCode::UNAUTHORIZED
        );
    }

    /// The code of `secret` (base32, as the setup answers it) `steps` from now.
    fn code_of(secret: &Value, steps: i64) -> String {
        let secret = TotpSecret::from_base32(secret.as_str().unwrap()).unwrap();
        let step = two_factor::step_at(domain::clock::now_secs()) as i64 + steps;
        format!("{:06}", secret.code(step as u64))
    }

    fn with_body(body: Value) -> impl FnOnce(&mut Value) {
        move |e| set_body(e, body)
    }

    /// Two-factor set up and confirmed for the caller of `token`: the secret, the code that
    /// confirmed it and the recovery codes.
    async fn two_factor_on(memory: &Memory, token: &str) -> (Value, String, Vec<String>) {
        let setup = event(
            "users/setup-totp-wrong-password.json",
            token,
            with_body(json!({"password": PASSWORD})),
        );
        let (status, setup) = call(&users(memory), setup).await;
        assert_eq!(status, StatusCode::OK, "{setup}");
        let confirming = code_of(&setup["secret"], 0);
        let confirm = event(
            "users/confirm-totp-not-set-up.json",
            token,
            with_body(json!({"code": confirming.clone()})),
        );
        let (status, codes) = call(&users(memory), confirm).await;
        assert_eq!(status, StatusCode::OK, "{codes}");
        let codes = codes["recovery_codes"]
            .as_array()
            .unwrap()
            .iter()
            .map(|c| c.as_str().unwrap().to_owned())
            .collect();
        (setup["secret"].clone(), confirming, codes)
    }

    #[tokio::test]
    async fn totp_is_set_up_with_the_password_and_on_once_a_code_confirms_it() {
        let memory = Memory::default();
        let (me, token) = caller(&memory, "me@example.com", Role::User).await;
        let wrong = event("users/setup-totp-wrong-password.json", &token, |_| {});
        assert_eq!(
            call(&users(&memory), wrong).await,
            (StatusCode::BAD_REQUEST, json!({"detail": "Incorrect password"}))
        );
        let unconfirmed = event("users/confirm-totp-not-set-up.json", &token, |_| {});
        assert_eq!(call(&users(&memory), unconfirmed).await.0, StatusCode::BAD_REQUEST);

        let setup = event(
            "users/setup-totp-wrong-password.json",
            &token,
            with_body(json!({"password": PASSWORD})),
        );
        let (status, setup) = call(&users(&memory), setup).await;
        assert_eq!(status, StatusCode::OK);
        let secret = setup["secret"].as_str().unwrap();
        assert_eq!(secret.len(), 32);
        let uri = setup["otpauth_uri"].as_str().unwrap();
        assert!(uri.starts_with("otpauth://totp/Test:me%40example.com?secret="), "{uri}");
        assert!(uri.contains(secret));
        assert!(setup["qr_svg"].as_str().unwrap().contains("<svg"));
        let stored = memory.two_factor(me.id).await.unwrap().unwrap();
        assert!(!stored.pending.unwrap().contains(secret), "sealed at rest");
        let read_me = || event("users/read-me.json", &token, |_| {});
        assert_eq!(
            call(&users(&memory), read_me()).await.1["has_2fa"],
            false,
            "not before it is confirmed"
        );

        let late = event(
            "users/confirm-totp-not-set-up.json",
            &token,
            with_body(json!({"code": code_of(&setup["secret"], -2)})),
        );
        assert_eq!(
            call(&users(&memory), late).await,
            (StatusCode::BAD_REQUEST, json!({"detail": "Invalid code"}))
        );
        let right = event(
            "users/confirm-totp-not-set-up.json",
            &token,
            with_body(json!({"code": code_of(&setup["secret"], 0)})),
        );
        let (status, codes) = call(&users(&memory), right).await;
        assert_eq!(status, StatusCode::OK);
        assert_eq!(codes["recovery_codes"].as_array().unwrap().len(), 10);
        assert_eq!(call(&users(&memory), read_me()).await.1["has_2fa"], true);
        let stored = memory.two_factor(me.id).await.unwrap().unwrap();
        assert_eq!((stored.pending, stored.recovery_left), (None, 10));
        let again = event(
            "users/setup-totp-wrong-password.json",
            &token,
            with_body(json!({"password": PASSWORD})),
        );
        assert_eq!(
            call(&users(&memory), again).await,
            (StatusCode::BAD_REQUEST, json!({"detail": TWO_FACTOR_ON}))
        );
    }

    #[tokio::test]
    async fn disabling_takes_the_password_and_an_unused_code_and_ends_the_other_sessions() {
        let memory = Memory::default();
        let (me, token) = caller(&memory, "me@example.com", Role::User).await;
        let (_, other) = testkit::session(&memory, me.id).await;
        let (_, confirming, recovery) = two_factor_on(&memory, &token).await;
        let disable = |password: &str, code: &str| {
            event(
                "users/disable-two-factor-me-wrong-password.json",
                &token,
                with_body(json!({"password": password, "code": code})),
            )
        };
        let wrong_password = disable("not-the-password", &recovery[0]);
        assert_eq!(
            call(&users(&memory), wrong_password).await.1["detail"],
            "Incorrect password"
        );
        // The code that confirmed the setup was accepted already: a replay.
        let replay = disable(PASSWORD, &confirming);
        assert_eq!(call(&users(&memory), replay).await.1["detail"], "Invalid code");
        let (status, body) = call(&users(&memory), disable(PASSWORD, &recovery[0].to_uppercase())).await;
        assert_eq!(
            (status, body),
            (StatusCode::OK, json!({"message": TWO_FACTOR_DISABLED}))
        );
        assert_eq!(memory.two_factor(me.id).await.unwrap(), None);
        let read_me = |token: &str| event("users/read-me.json", token, |_| {});
        let (status, read) = call(&users(&memory), read_me(&token)).await;
        assert_eq!((status, read["has_2fa"].clone()), (StatusCode::OK, json!(false)));
        assert_eq!(call(&users(&memory), read_me(&other)).await.0, StatusCode::UNAUTHORIZED);
        assert!(matches!(memory.notifications().as_slice(),
            [n] if n.user_id == me.id && matches!(n.audience, Audience::OtherSessions(_))));
        let (status, body) = call(&users(&memory), disable(PASSWORD, &recovery[1])).await;
        assert_eq!(
            (status, body["detail"].clone()),
            (StatusCode::BAD_REQUEST, json!(TWO_FACTOR_OFF))
        );
    }

    #[tokio::test]
    async fn an_administrator_resets_a_locked_out_users_two_factor_and_ends_their_sessions() {
        let memory = Memory::default();
        let (_, admin) = caller(&memory, "admin@example.com", Role::Superuser).await;
        let (locked, token) = caller(&memory, "locked@example.com", Role::User).await;
        two_factor_on(&memory, &token).await;
        let path = format!("/api/v1/users/{}/2fa", locked.id);
        let reset = |token: &str| event("users/reset-two-factor-unknown.json", token, |e| set_path(e, &path));
        let (_, plain) = caller(&memory, "plain@example.com", Role::User).await;
        assert_eq!(call(&users(&memory), reset(&plain)).await.0, StatusCode::FORBIDDEN);
        let unknown = event("users/reset-two-factor-unknown.json", &admin, |_| {});
        assert_eq!(
            call(&users(&memory), unknown).await,
            (StatusCode::NOT_FOUND, json!({"detail": "User not found"}))
        );
        assert_eq!(
            call(&users(&memory), reset(&admin)).await,
            (StatusCode::OK, json!({"message": TWO_FACTOR_DISABLED}))
        );
        let stored = memory.get(locked.id).await.unwrap().unwrap();
        assert!(!stored.has_2fa);
        assert_eq!(memory.two_factor(locked.id).await.unwrap(), None);
        let ended = event("users/read-me.json", &token, |_| {});
        assert_eq!(call(&users(&memory), ended).await.0, StatusCode::UNAUTHORIZED);
        assert!(memory
            .notifications()
            .iter()
            .any(|n| n.user_id == locked.id && n.audience == Audience::User && n.data["reason"] == "two_factor_reset"));
    }
}
