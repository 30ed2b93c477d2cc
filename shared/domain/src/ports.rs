//! The ports: what the domain needs from the world, one trait per capability. `store` implements
//! the storage ports on DynamoDB (and in memory, for tests); `aws` implements the queue and the
//! email sender.

use super::api_key::ApiKey;
use super::email::EmailMessage;
use super::feed::FeedSnapshot;
use super::file::{File, FileScope, FileStatus, UploadLimits};
use super::job::Job;
use super::owned::{Listing, Owned, Remembered};
use super::passwords::PasswordHash;
use super::realtime::{
    Audience, ChatMessage, Connection, ConnectionId, Event, FanOut, Invitation, Joined, Member, MembersPage, Opened,
    RoomName,
};
use super::session::{Count, Limit, LoginOrigin, Refresh, Session};
use super::two_factor::{Challenge, TwoFactor};
use super::user::User;
use super::values::Email;
use super::{StoreError, WriteError};
use std::future::Future;
use std::time::Duration;
use uuid::Uuid;

/// Where users are kept. `create` fails with `EmailTaken` when another user holds the email,
/// however many requests race for it.
pub trait UserStore: Send + Sync {
    fn get(&self, id: Uuid) -> impl Future<Output = Result<Option<User>, StoreError>> + Send;
    fn find_by_email(&self, email: &Email) -> impl Future<Output = Result<Option<User>, StoreError>> + Send;
    fn create(&self, user: &User) -> impl Future<Output = Result<(), StoreError>> + Send;
    /// Newest first.
    fn list(&self, skip: usize, limit: usize) -> impl Future<Output = Result<Vec<User>, StoreError>> + Send;
    fn count(&self) -> impl Future<Output = Result<u64, StoreError>> + Send;
    /// Writes `user` as its next version if the stored one is still at `user.version`:
    /// `Conflict` when another write came first, `NotFound` when the user is gone, `EmailTaken`
    /// when the new email belongs to someone else.
    fn update(&self, user: &User, previous_email: &Email) -> impl Future<Output = Result<(), StoreError>> + Send;
    /// Deletes the user and, in the same write, records that what they owned is still to be
    /// removed: the cascade cannot be lost between the delete and the job that runs it.
    fn delete(&self, user: &User) -> impl Future<Output = Result<(), StoreError>> + Send;
    /// Deleted users whose cascade is not confirmed done and who were deleted at or before
    /// `before` (epoch seconds): the sweep's work list, oldest first, at most `limit`.
    fn unfinished_deletions(
        &self,
        before: u64,
        limit: usize,
    ) -> impl Future<Output = Result<Vec<Uuid>, StoreError>> + Send;
    /// Records that the deleted user's cascade ran to the end.
    fn deletion_finished(&self, user: Uuid) -> impl Future<Output = Result<(), StoreError>> + Send;
}

/// Owned, versioned records (items, posts): created with the counts that include them, replaced
/// or deleted only if their version is still the one read, listed newest first.
pub trait Records<T: Owned>: Send + Sync {
    fn get(&self, id: Uuid) -> impl Future<Output = Result<Option<T>, StoreError>> + Send;
    /// Up to `wanted` records of `listing`, newest first, after its `before` position.
    fn list(
        &self,
        listing: &Listing<T::Source>,
        wanted: usize,
    ) -> impl Future<Output = Result<Vec<T>, StoreError>> + Send;
    /// How many records `listing` has in all (its position ignored).
    fn count(&self, listing: &Listing<T::Source>) -> impl Future<Output = Result<u64, StoreError>> + Send;
    /// Creates `record`, which must be new, and remembers the answer for an idempotent retry —
    /// all or nothing. `KeyTaken` when another create holds the same key.
    fn create(&self, record: &T, remember: Option<&Remembered>) -> impl Future<Output = Result<(), WriteError>> + Send;
    /// Replaces `current` with `next` if the stored record is still `current`'s version; else
    /// `Conflict`.
    fn replace(&self, current: &T, next: &T) -> impl Future<Output = Result<(), WriteError>> + Send;
    /// Deletes `record` if the stored one is still at `read_version` (any, when `None`);
    /// `Conflict` when it changed or is gone.
    fn delete(&self, record: &T, read_version: Option<u64>) -> impl Future<Output = Result<(), WriteError>> + Send;
    /// The remembered answer to `owner`'s idempotency key.
    fn remembered(
        &self,
        owner: Uuid,
        client_key: &str,
    ) -> impl Future<Output = Result<Option<Remembered>, StoreError>> + Send;
}

/// Where the feed's snapshot is kept (see `feed`): read by every default `GET /posts/`,
/// written by the refresh job.
pub trait FeedStore: Send + Sync {
    /// The snapshot, from any replica; `None` before the first refresh.
    fn feed(&self) -> impl Future<Output = Result<Option<FeedSnapshot>, StoreError>> + Send;
    /// When the kept snapshot was built, without reading its page (what a refresh job checks).
    fn feed_built_at(&self) -> impl Future<Output = Result<Option<time::OffsetDateTime>, StoreError>> + Send;
    /// Keeps `snapshot` unless a newer one (by `built_at`) is kept already.
    fn keep_feed(&self, snapshot: &FeedSnapshot) -> impl Future<Output = Result<(), StoreError>> + Send;
}

/// Logins (refresh-token families, which their owner sees as sessions) and password-reset links.
pub trait SessionStore: Send + Sync {
    /// Starts a login from `origin`: a new family and its first refresh token, valid for `ttl`.
    fn start_login(
        &self,
        user_id: Uuid,
        ttl: Duration,
        origin: &LoginOrigin,
    ) -> impl Future<Output = Result<(Uuid, String), StoreError>> + Send;
    /// The user's logins that still stand, newest first.
    fn sessions(&self, user_id: Uuid) -> impl Future<Output = Result<Vec<Session>, StoreError>> + Send;
    /// A login that still stands (not revoked, not expired), whoever's it is.
    fn session(&self, id: Uuid) -> impl Future<Output = Result<Option<Session>, StoreError>> + Send;
    /// Exchanges a refresh token for a new one. The old one stops working; presenting it again
    /// revokes every token of its login.
    fn rotate_refresh(
        &self,
        presented: &str,
        ttl: Duration,
    ) -> impl Future<Output = Result<Refresh, StoreError>> + Send;
    fn revoke_family(&self, family: Uuid) -> impl Future<Output = Result<(), StoreError>> + Send;
    /// Whether a login is still valid (not revoked, not expired): its access tokens die with it.
    fn login_active(&self, family: Uuid) -> impl Future<Output = Result<bool, StoreError>> + Send;
    /// Revokes every login of a user. Returns how many.
    fn revoke_user_sessions(&self, user_id: Uuid) -> impl Future<Output = Result<usize, StoreError>> + Send;
    /// Revokes every login of a user but `keep`. Returns how many.
    fn revoke_other_sessions(
        &self,
        user_id: Uuid,
        keep: Uuid,
    ) -> impl Future<Output = Result<usize, StoreError>> + Send;
    /// A single-use password-reset token for `user`, valid for `ttl`.
    fn create_reset_token(&self, user: &User, ttl: Duration)
        -> impl Future<Output = Result<String, StoreError>> + Send;
    /// The user a reset token is for, when it is known and unexpired (a cheap look-up before
    /// the password is hashed).
    fn reset_target(&self, presented: &str) -> impl Future<Output = Result<Option<Uuid>, StoreError>> + Send;
    /// Spends a reset token and sets its user's password hash at once, ending their sessions.
    /// `None` when the token is unknown, expired or spent, its user is gone, or it was voided
    /// (the account was written since it was issued: another reset, a password or email change).
    fn reset_password(
        &self,
        presented: &str,
        new_hash: &PasswordHash,
    ) -> impl Future<Output = Result<Option<Uuid>, StoreError>> + Send;
}

/// Email-verification links: single use, bound to the address they were sent to.
pub trait EmailVerifications: Send + Sync {
    /// A new link for `user`'s current address, valid for `ttl`: the raw token, which is kept
    /// only as its SHA-256.
    fn create_verification(
        &self,
        user: &User,
        ttl: Duration,
    ) -> impl Future<Output = Result<String, StoreError>> + Send;
    /// Spends the token and marks its user verified, at once: of concurrent redemptions one
    /// wins. `None` when the token is unknown, expired or spent, its user is gone, or the
    /// user's email is no longer the address it was sent to.
    fn verify_email(&self, presented: &str) -> impl Future<Output = Result<Option<Uuid>, StoreError>> + Send;
}

/// A user's API keys, kept as digests beside the profile, at most
/// [`crate::api_key::MAX_KEYS_PER_USER`] at once however many creates race.
pub trait ApiKeyStore: Send + Sync {
    /// The owner's profile and the key — in one round trip where the store can, as every keyed
    /// request asks it.
    fn key_caller(
        &self,
        user_id: Uuid,
        key_id: Uuid,
    ) -> impl Future<Output = Result<(Option<User>, Option<ApiKey>), StoreError>> + Send;
    /// Writes `at` as the key's last use, unless a use within [`crate::api_key::TOUCH_EVERY`]
    /// was written already (by this request's peers).
    fn touch_key(&self, key: &ApiKey, at: time::OffsetDateTime) -> impl Future<Output = Result<(), StoreError>> + Send;
    /// Keeps a new key; `false` when its owner holds the most keys already.
    fn create_key(&self, key: &ApiKey) -> impl Future<Output = Result<bool, StoreError>> + Send;
    /// The user's keys, newest first.
    fn keys(&self, user_id: Uuid) -> impl Future<Output = Result<Vec<ApiKey>, StoreError>> + Send;
    /// Deletes one of the user's keys; `false` when they have no such key.
    fn delete_key(&self, user_id: Uuid, key_id: Uuid) -> impl Future<Output = Result<bool, StoreError>> + Send;
    /// Deletes every key of a user (the delete-user cascade). Returns how many.
    fn delete_user_keys(&self, user_id: Uuid) -> impl Future<Output = Result<usize, StoreError>> + Send;
}

/// What authenticating a caller needs: their user, and whether their login (or key) still stands.
pub trait Accounts: UserStore + SessionStore + ApiKeyStore {
    /// The user and whether `login` still stands — in one round trip where the store can, as
    /// every authenticated request asks it.
    fn caller(
        &self,
        user_id: Uuid,
        login: Uuid,
    ) -> impl Future<Output = Result<(Option<User>, bool), StoreError>> + Send;
}

/// Two-factor records (TOTP secrets, sealed, and recovery-code digests) and the logins waiting
/// for their second factor (`mfa_token`s, kept as digests). Turning two-factor on or off writes
/// the profile's `has_2fa` in the same transaction, as the next version of the profile.
pub trait TwoFactorStore: Send + Sync {
    /// The user's record; `None` when they never set one up (or turned it off).
    fn two_factor(&self, user_id: Uuid) -> impl Future<Output = Result<Option<TwoFactor>, StoreError>> + Send;
    /// Keeps `sealed` as the secret waiting for confirmation, replacing any earlier one; `false`
    /// when two-factor is on already.
    fn begin_totp(&self, user_id: Uuid, sealed: &str) -> impl Future<Output = Result<bool, StoreError>> + Send;
    /// Turns two-factor on with the pending secret `pending` (if it is still the pending one and
    /// two-factor is off), `step` as the last step accepted and the recovery codes' digests;
    /// `false` when the condition failed (a newer setup, or confirmed meanwhile).
    fn enable_totp(
        &self,
        user_id: Uuid,
        pending: &str,
        step: u64,
        recovery_digests: &[String],
    ) -> impl Future<Output = Result<bool, StoreError>> + Send;
    /// Records `step` as the last accepted if it is later than the one recorded: `false` when it
    /// is not (the code was used), however many requests race with it.
    fn accept_step(&self, user_id: Uuid, step: u64) -> impl Future<Output = Result<bool, StoreError>> + Send;
    /// Removes the recovery code's digest if it is there: `true` once ever per code.
    fn use_recovery_code(&self, user_id: Uuid, digest: &str) -> impl Future<Output = Result<bool, StoreError>> + Send;
    /// Turns two-factor off: the record goes, the profile's `has_2fa` is cleared. `NotFound`
    /// when the user is gone.
    fn disable_two_factor(&self, user_id: Uuid) -> impl Future<Output = Result<(), StoreError>> + Send;
    /// A new `mfa_token` for a login of `user_id` whose password was right, valid for `ttl`.
    fn create_challenge(&self, user_id: Uuid, ttl: Duration)
        -> impl Future<Output = Result<String, StoreError>> + Send;
    /// Counts one attempt at the token before its code is checked: the challenge, or `None`
    /// when the token is unknown, expired, spent or has had `max_attempts` already.
    fn challenge_attempt(
        &self,
        token: &str,
        max_attempts: u64,
    ) -> impl Future<Output = Result<Option<Challenge>, StoreError>> + Send;
    /// Ends the token, once: `false` when it was spent or expired meanwhile.
    fn spend_challenge(&self, token: &str) -> impl Future<Output = Result<bool, StoreError>> + Send;
}

/// Fixed-window counters for rate limits.
pub trait RateLimiter: Send + Sync {
    /// Counts one more attempt for `key` and returns the new count — atomically, so callers
    /// compare after counting and parallel attempts cannot all pass one stale count.
    fn hit(&self, limit: &Limit, key: &str) -> impl Future<Output = Result<Count, StoreError>> + Send;
    /// Takes back one attempt (it succeeded, and only failures are limited).
    fn refund(&self, limit: &Limit, key: &str) -> impl Future<Output = Result<(), StoreError>> + Send;
    /// The current count of each `(limit, key)`, in order, without counting: what a check that
    /// counts only failures reads before and after the attempt (the latest counts, in one round
    /// trip where the store can).
    fn counts(&self, limits: &[(&Limit, &str)]) -> impl Future<Output = Result<Vec<Count>, StoreError>> + Send;
}

#[derive(Debug, thiserror::Error)]
#[error("job queue unavailable: {0}")]
pub struct QueueError(pub String);

/// Where jobs are sent for the worker.
pub trait JobQueue: Send + Sync {
    fn enqueue(&self, job: Job) -> impl Future<Output = Result<Uuid, QueueError>> + Send;
}

#[derive(Debug, thiserror::Error)]
pub enum SendError {
    /// SES refused this message (unverified sender, bad address): retrying will not help.
    #[error("message rejected: {0}")]
    Rejected(String),
    /// SES could not be reached or throttled: nothing was sent, worth retrying.
    #[error("email service unavailable: {0}")]
    Unavailable(String),
    /// SES did not answer (a time-out, a lost answer): the email may have gone out.
    #[error("email service did not answer: {0}")]
    Unanswered(String),
}

/// The emails the worker sent, by job: a job delivered twice (a batch that timed out, SQS's
/// at-least-once delivery) must not send its email twice.
pub trait SentEmails: Send + Sync {
    /// Claims the sending of job `job`'s email, before it is sent: `false` when it was claimed
    /// before (sent, or its send ended without an answer), and must not be sent again.
    fn claim_email(&self, job: Uuid) -> impl Future<Output = Result<bool, StoreError>> + Send;
    /// Gives a claim back when SES answered that it sent nothing, so that the retry sends it.
    fn release_email(&self, job: Uuid) -> impl Future<Output = Result<(), StoreError>> + Send;
}

pub trait EmailSender: Send + Sync {
    fn send(&self, message: &EmailMessage) -> impl Future<Output = Result<String, SendError>> + Send;
}

/// A backing service the deep health check can ask whether it is reachable.
pub trait Probe: Send + Sync {
    /// The service's name in the health answer ("table", "bucket", "queue").
    fn service(&self) -> &'static str;
    fn probe(&self) -> impl Future<Output = Result<(), String>> + Send;
}

/// Open WebSocket connections, the rooms they are in and each room's recent messages.
pub trait Connections: Send + Sync {
    /// Keeps a new connection, unless its user holds `max_per_user` open ones already — checked
    /// and taken in one conditional write, so parallel handshakes cannot pass the cap. Opening
    /// a connection id that is open already keeps its place.
    fn open(
        &self,
        connection: &Connection,
        max_per_user: u64,
    ) -> impl Future<Output = Result<Opened, StoreError>> + Send;
    /// The connection, unless it is closed or expired.
    fn connection(&self, id: &ConnectionId) -> impl Future<Output = Result<Option<Connection>, StoreError>> + Send;
    /// Removes a connection and its memberships, returning it and the rooms it was in; `None`
    /// when it was gone already.
    fn close(
        &self,
        id: &ConnectionId,
    ) -> impl Future<Output = Result<Option<(Connection, Vec<RoomName>)>, StoreError>> + Send;
    /// Every open connection of a user.
    fn of_user(&self, user_id: Uuid) -> impl Future<Output = Result<Vec<ConnectionId>, StoreError>> + Send;
    /// The open connections of a user that `audience` names (by the session that opened each).
    fn of_audience(
        &self,
        user_id: Uuid,
        audience: &Audience,
    ) -> impl Future<Output = Result<Vec<ConnectionId>, StoreError>> + Send;
    /// Adds the connection to the room, unless it is gone, in `MAX_ROOMS_PER_CONNECTION` rooms,
    /// or the room holds `max_members` connections (counted in the same transaction).
    fn join(
        &self,
        room: &RoomName,
        connection: &Connection,
        max_members: u64,
    ) -> impl Future<Output = Result<Joined, StoreError>> + Send;
    /// Whether the connection is in the room.
    fn is_member(
        &self,
        room: &RoomName,
        connection: &ConnectionId,
    ) -> impl Future<Output = Result<bool, StoreError>> + Send;
    /// Takes the connection out of the room; `false` when it was not in it.
    fn leave(
        &self,
        room: &RoomName,
        connection: &ConnectionId,
    ) -> impl Future<Output = Result<bool, StoreError>> + Send;
    fn members(&self, room: &RoomName) -> impl Future<Output = Result<Vec<Member>, StoreError>> + Send;
    /// At most `limit` of the room's members, after the page that `after` (its `next`) ended.
    fn members_page(
        &self,
        room: &RoomName,
        after: Option<&str>,
        limit: usize,
    ) -> impl Future<Output = Result<MembersPage, StoreError>> + Send;
    /// The room's count of connections, as joins and leaves keep it (eventually consistent; it
    /// may still count connections that vanished without a `$disconnect`).
    fn room_size(&self, room: &RoomName) -> impl Future<Output = Result<u64, StoreError>> + Send;
    /// Forgets connections a push found gone, in batches rather than one by one, and returns
    /// the memberships they held (room, user) so that small rooms can be told.
    fn forget_gone(
        &self,
        ids: &[ConnectionId],
    ) -> impl Future<Output = Result<Vec<(RoomName, Uuid)>, StoreError>> + Send;
    /// Keeps a message for the room's history.
    fn remember(&self, message: &ChatMessage) -> impl Future<Output = Result<(), StoreError>> + Send;
    /// The room's last `HISTORY_LEN` messages, oldest first.
    fn history(&self, room: &RoomName) -> impl Future<Output = Result<Vec<ChatMessage>, StoreError>> + Send;
}

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum PushError {
    /// The connection is gone (API Gateway's `GoneException`): forget it.
    #[error("connection gone")]
    Gone,
    #[error("push unavailable: {0}")]
    Unavailable(String),
}

/// Frames to connected clients (API Gateway's Management API).
pub trait Push: Send + Sync {
    fn send(&self, to: &ConnectionId, frame: &str) -> impl Future<Output = Result<(), PushError>> + Send;
    /// Closes a connection from the server's side.
    fn close(&self, connection: &ConnectionId) -> impl Future<Output = Result<(), PushError>> + Send;
    /// Whether the client is still there (`Gone` is `false`), without sending it anything.
    fn is_open(&self, connection: &ConnectionId) -> impl Future<Output = Result<bool, PushError>> + Send;
}

/// Invitations to `private-` rooms.
pub trait Invitations: Send + Sync {
    /// Keeps the invitation until it expires (a newer one for the same room and user replaces it).
    fn invite(&self, invitation: &Invitation) -> impl Future<Output = Result<(), StoreError>> + Send;
    /// Whether `user_id` holds an unexpired invitation to the room.
    fn is_invited(&self, room: &RoomName, user_id: Uuid) -> impl Future<Output = Result<bool, StoreError>> + Send;
}

/// Server events for a user's WebSocket connections (`file.ready`, `session.revoked`, …). The
/// call only queues the event: whatever the fan-out costs, the caller does not wait for it.
pub trait Notifier: Send + Sync {
    /// Queues the event for the connections of `user_id` that `audience` names.
    fn notify_to(
        &self,
        user_id: Uuid,
        audience: Audience,
        event: Event,
        data: serde_json::Value,
    ) -> impl Future<Output = Result<(), QueueError>> + Send;

    /// Queues the event for every connection of `user_id`.
    fn notify(
        &self,
        user_id: Uuid,
        event: Event,
        data: serde_json::Value,
    ) -> impl Future<Output = Result<(), QueueError>> + Send {
        self.notify_to(user_id, Audience::User, event, data)
    }
}

/// Delivery work for the fan-out queue: the caller stores what it must and returns, and the
/// fan-out consumer pushes the frames.
pub trait FanOutQueue: Send + Sync {
    /// Queues the work, visible to the consumer after `delay_secs` (at most 900).
    fn fan_out(&self, work: &[FanOut], delay_secs: u32) -> impl Future<Output = Result<(), QueueError>> + Send;
}

/// Why a new file was not stored.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum FileCreateError {
    /// The owner's files would pass the count or bytes quota.
    #[error("upload quota exceeded")]
    QuotaExceeded,
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// Where file records are kept. A pending file that never got its upload expires after the
/// `pending_ttl` given at its creation: it is no longer listed, counted or read.
pub trait FileStore: Send + Sync {
    fn get_file(&self, id: Uuid) -> impl Future<Output = Result<Option<File>, StoreError>> + Send;
    /// Stores a new pending file if its owner's files, it included, stay within `limits` —
    /// however many creates of one owner race.
    fn create_file(
        &self,
        file: &File,
        limits: &UploadLimits,
        pending_ttl: Duration,
    ) -> impl Future<Output = Result<(), FileCreateError>> + Send;
    /// Up to `wanted` files of `scope`, newest first, before the sort key `before`.
    fn list_files(
        &self,
        scope: &FileScope,
        before: Option<&str>,
        wanted: usize,
    ) -> impl Future<Output = Result<Vec<File>, StoreError>> + Send;
    fn count_files(&self, scope: &FileScope) -> impl Future<Output = Result<u64, StoreError>> + Send;
    /// Writes `next` (a new status of the same file) if the stored file is still in `from`:
    /// `false` when it is not (another delivery of the same upload moved it first, or it is gone).
    fn transition_file(&self, next: &File, from: FileStatus) -> impl Future<Output = Result<bool, StoreError>> + Send;
    /// Deletes the record; `false` when it was gone already.
    fn delete_file(&self, file: &File) -> impl Future<Output = Result<bool, StoreError>> + Send;
    /// Forgets what is kept of an owner's uploads beside their files (the quota guard that
    /// serialises their creates): the last step of deleting the owner's files.
    fn forget_uploader(&self, owner: Uuid) -> impl Future<Output = Result<(), StoreError>> + Send;
}

/// A bucket failed.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum ObjectError {
    /// Not reachable or throttling: retrying may work.
    #[error("bucket unavailable: {0}")]
    Unavailable(String),
    /// Refused a request we should not have sent.
    #[error("bucket refused the request: {0}")]
    Refused(String),
}

/// A browser upload form: POST `fields` and then the file (as the last part) to `url`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UploadForm {
    pub url: String,
    pub fields: Vec<(String, String)>,
}

/// One object to upload through a form: exactly `size` bytes of `content_type` at `key`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UploadTicket<'a> {
    pub key: &'a str,
    pub content_type: &'a str,
    pub size: u64,
    pub expires_in: Duration,
}

/// The uploads bucket: objects by key, and short-lived signed links a client uses directly.
pub trait ObjectStore: Send + Sync {
    /// A signed POST form that accepts exactly the ticket's object, until it expires.
    fn upload_form(&self, ticket: &UploadTicket<'_>) -> impl Future<Output = Result<UploadForm, ObjectError>> + Send;
    /// A signed GET of `key`, answered with these `Content-Type` and `Content-Disposition`.
    fn download_link(
        &self,
        key: &str,
        content_type: &str,
        disposition: Option<&str>,
        expires_in: Duration,
    ) -> impl Future<Output = Result<String, ObjectError>> + Send;
    fn put_object(
        &self,
        key: &str,
        bytes: Vec<u8>,
        content_type: &str,
    ) -> impl Future<Output = Result<(), ObjectError>> + Send;
    /// The bytes of the object's `version` (the current one for `None`); `None` when there is
    /// no such object or version. Objects larger than `max_bytes` are read only to
    /// `max_bytes + 1` bytes, enough to tell they are too large.
    fn get_object(
        &self,
        key: &str,
        version: Option<&str>,
        max_bytes: u64,
    ) -> impl Future<Output = Result<Option<Vec<u8>>, ObjectError>> + Send;
    /// Copies `version` of `from` (the current one for `None`) to `to`.
    fn copy_object(
        &self,
        from: &str,
        version: Option<&str>,
        to: &str,
    ) -> impl Future<Output = Result<(), ObjectError>> + Send;
    /// Deletes one version of `key` for good (no delete marker, nothing noncurrent left).
    fn delete_version(&self, key: &str, version: &str) -> impl Future<Output = Result<(), ObjectError>> + Send;
    /// Deletes the objects; absent ones are no error.
    fn delete_objects(&self, keys: &[String]) -> impl Future<Output = Result<(), ObjectError>> + Send;
}
