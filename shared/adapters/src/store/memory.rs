//! In-memory implementations of every port, for unit tests of the domain and of the handlers:
//! the same rules as the table (unique emails, versions, counters, single-use tokens), no I/O.

use domain::api_key::{ApiKey, MAX_KEYS_PER_USER};
use domain::clock::now_secs;
use domain::email::EmailMessage;
use domain::feed::FeedSnapshot;
use domain::file::{File, FileScope, FileStatus, UploadLimits, Usage};
use domain::job::Job;
use domain::passwords::PasswordHash;
use domain::ports::{
    ApiKeyStore, Connections, EmailSender, EmailVerifications, FanOutQueue, FeedStore, FileCreateError, FileStore,
    Invitations, JobQueue, Notifier, ObjectError, ObjectStore, Probe, Push, PushError, QueueError, RateLimiter,
    Records, SendError, SentEmails, SessionStore, TwoFactorStore, UploadForm, UploadTicket, UserStore,
};
use domain::realtime::{
    past_handshake, Audience, ChatMessage, Connection, ConnectionId, Event, FanOut, Invitation, Joined, Member,
    MembersPage, Notification, Opened, RoomName, HISTORY_LEN, MAX_ROOMS_PER_CONNECTION,
};
use domain::secrets;
use domain::session::{Count, Limit, LoginOrigin, Refresh, Session};
use domain::two_factor::{Challenge, TwoFactor};
use domain::{Email, Listing, Owned, Remembered, StoreError, User, WriteError};
use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;
use uuid::Uuid;

#[derive(Debug, Clone)]
struct ResetLink {
    user_id: Uuid,
    email: Email,
    user_version: u64,
    expires: u64,
}

#[derive(Debug, Clone)]
struct VerificationLink {
    user_id: Uuid,
    email: Email,
    expires: u64,
}

#[derive(Debug, Clone)]
struct RefreshToken {
    user_id: Uuid,
    family: Uuid,
    used: bool,
    expires: u64,
    login_at: u64,
}

#[derive(Debug, Clone, Default)]
struct TwoFactorRecord {
    pending: Option<String>,
    secret: Option<String>,
    last_step: Option<u64>,
    recovery: HashSet<String>,
}

#[derive(Debug, Clone)]
struct PendingLogin {
    challenge: Challenge,
    attempts: u64,
    expires: u64,
}

/// What [`Memory`] holds.
#[derive(Debug, Default)]
pub struct State {
    users: HashMap<Uuid, User>,
    /// Owned records (items, posts), one map per record type.
    records: HashMap<std::any::TypeId, Box<dyn std::any::Any + Send>>,
    remembered: HashMap<(Uuid, &'static str, String), Remembered>,
    /// family → (its session, revoked)
    families: HashMap<Uuid, (Session, bool)>,
    refresh: HashMap<String, RefreshToken>,
    resets: HashMap<String, ResetLink>,
    /// digest of the token → link
    verifications: HashMap<String, VerificationLink>,
    rates: HashMap<(&'static str, String, u64), u64>,
    /// file → (file, expires at)
    files: HashMap<Uuid, (File, Option<u64>)>,
    /// key → (bytes, content type)
    objects: HashMap<String, (Vec<u8>, String)>,
    /// How many objects were ever written, by key.
    writes: HashMap<String, usize>,
    /// Every version of every object, (key, version) → (bytes, content type), and each key's
    /// current version: the bucket keeps versions.
    versions: HashMap<(String, String), (Vec<u8>, String)>,
    current_versions: HashMap<String, String>,
    jobs: Vec<Job>,
    emails: Vec<EmailMessage>,
    /// Email jobs whose sending was claimed (`SentEmails`).
    claimed_emails: HashSet<Uuid>,
    /// deleted user → when (epoch seconds), until their cascade has run.
    unfinished_deletions: HashMap<Uuid, u64>,
    /// When set, enqueueing fails (the queue alone is unreachable).
    queue_down: bool,
    connections: HashMap<ConnectionId, (Connection, BTreeSet<RoomName>)>,
    members: BTreeMap<RoomName, BTreeMap<ConnectionId, Uuid>>,
    history: HashMap<RoomName, Vec<ChatMessage>>,
    /// (room, invitee) → expires at (epoch seconds)
    invitations: HashMap<(RoomName, Uuid), u64>,
    notifications: Vec<Notification>,
    /// Fan-out work queued and not yet taken by a test, with its delay.
    fan_outs: Vec<(FanOut, u32)>,
    pushed: Vec<(ConnectionId, String)>,
    closed: Vec<ConnectionId>,
    /// Connections the push answers `Gone` for (clients that vanished).
    gone: HashSet<ConnectionId>,
    /// Connections the push cannot reach for now (throttled, a fault), and how many more times.
    unreachable: HashMap<ConnectionId, u32>,
    /// When set, every call fails as an unreachable service would.
    down: bool,
    feed: Option<FeedSnapshot>,
    two_factor: HashMap<Uuid, TwoFactorRecord>,
    /// `mfa_token` digest → the login waiting for its second factor
    challenges: HashMap<String, PendingLogin>,
    /// (owner, key id) → key
    api_keys: BTreeMap<(Uuid, Uuid), ApiKey>,
}

impl State {
    /// A new version of `key`, now its current one.
    fn write_object(&mut self, key: &str, object: (Vec<u8>, String)) {
        let count = self.writes.entry(key.to_owned()).or_insert(0);
        *count += 1;
        let version = format!("v{count:04}");
        self.versions.insert((key.to_owned(), version.clone()), object.clone());
        self.current_versions.insert(key.to_owned(), version);
        self.objects.insert(key.to_owned(), object);
    }

    /// `version` of `key`, or its current object.
    fn object_at(&self, key: &str, version: Option<&str>) -> Option<&(Vec<u8>, String)> {
        match version {
            Some(version) => self.versions.get(&(key.to_owned(), version.to_owned())),
            None => self.objects.get(key),
        }
    }
}

/// Every store port, the job queue and the email sender, in memory. Clones share one state, so
/// a test can hand one to the code under test and read what it did through another.
#[derive(Debug, Clone, Default)]
pub struct Memory(Arc<Mutex<State>>);

impl Memory {
    fn state(&self) -> Result<MutexGuard<'_, State>, StoreError> {
        let state = self
            .0
            .lock()
            .map_err(|_| StoreError::Corrupt("memory store poisoned".into()))?;
        if state.down {
            return Err(StoreError::Unavailable("memory store is down".into()));
        }
        Ok(state)
    }

    /// Makes every later call fail as if the service were unreachable (or reachable again).
    pub fn set_down(&self, down: bool) {
        if let Ok(mut state) = self.0.lock() {
            state.down = down;
        }
    }

    /// Makes enqueueing fail while the stores keep working (or work again).
    pub fn set_queue_down(&self, down: bool) {
        if let Ok(mut state) = self.0.lock() {
            state.queue_down = down;
        }
    }

    /// The jobs enqueued so far.
    pub fn jobs(&self) -> Vec<Job> {
        self.0.lock().map(|s| s.jobs.clone()).unwrap_or_default()
    }

    /// The emails sent so far.
    pub fn emails(&self) -> Vec<EmailMessage> {
        self.0.lock().map(|s| s.emails.clone()).unwrap_or_default()
    }

    /// The notifications queued so far.
    pub fn notifications(&self) -> Vec<Notification> {
        self.0.lock().map(|s| s.notifications.clone()).unwrap_or_default()
    }

    /// Takes the fan-out work queued since the last call, with each one's delay.
    pub fn take_fan_outs(&self) -> Vec<(FanOut, u32)> {
        self.0
            .lock()
            .map(|mut s| std::mem::take(&mut s.fan_outs))
            .unwrap_or_default()
    }

    /// The frames pushed so far, to whom, in order.
    pub fn pushed(&self) -> Vec<(ConnectionId, String)> {
        self.0.lock().map(|s| s.pushed.clone()).unwrap_or_default()
    }

    /// The connections closed from the server's side so far.
    pub fn closed(&self) -> Vec<ConnectionId> {
        self.0.lock().map(|s| s.closed.clone()).unwrap_or_default()
    }

    /// Makes the push answer `Gone` for `connection`, as for a client that vanished.
    pub fn vanish(&self, connection: &ConnectionId) {
        if let Ok(mut state) = self.0.lock() {
            state.gone.insert(connection.clone());
        }
    }

    /// Makes the next `times` pushes to `connection` fail as a throttled or faulty API would.
    pub fn unreachable(&self, connection: &ConnectionId, times: u32) {
        if let Ok(mut state) = self.0.lock() {
            state.unreachable.insert(connection.clone(), times);
        }
    }

    /// The bytes and content type of an object of the bucket.
    pub fn object(&self, key: &str) -> Option<(Vec<u8>, String)> {
        self.0.lock().ok().and_then(|s| s.objects.get(key).cloned())
    }

    /// The version id of the object now at `key` (each write makes one, as a versioned bucket
    /// does).
    pub fn current_version(&self, key: &str) -> Option<String> {
        self.0.lock().ok().and_then(|s| s.current_versions.get(key).cloned())
    }

    /// The versions of `key` still kept, oldest first.
    pub fn versions(&self, key: &str) -> Vec<String> {
        let Ok(state) = self.0.lock() else {
            return Vec::new();
        };
        let mut kept: Vec<String> = state
            .versions
            .keys()
            .filter(|(k, _)| k == key)
            .map(|(_, v)| v.clone())
            .collect();
        kept.sort();
        kept
    }

    /// How many times an object was written at `key`.
    pub fn writes(&self, key: &str) -> usize {
        self.0
            .lock()
            .map(|s| s.writes.get(key).copied().unwrap_or(0))
            .unwrap_or(0)
    }

    /// Stores a record as it is (tests that need a record with a known id).
    pub fn insert<T: Owned>(&self, record: T) {
        if let Ok(mut state) = self.0.lock() {
            state.records::<T>().insert(record.id(), record);
        }
    }
}

impl State {
    /// The records of type `T`, by id.
    fn records<T: Owned>(&mut self) -> &mut HashMap<Uuid, T> {
        self.records
            .entry(std::any::TypeId::of::<T>())
            .or_insert_with(|| Box::new(HashMap::<Uuid, T>::new()))
            .downcast_mut()
            .unwrap_or_else(|| unreachable!("the map under T's TypeId holds T"))
    }
}

impl UserStore for Memory {
    async fn get(&self, id: Uuid) -> Result<Option<User>, StoreError> {
        Ok(self.state()?.users.get(&id).cloned())
    }

    async fn find_by_email(&self, email: &Email) -> Result<Option<User>, StoreError> {
        Ok(self.state()?.users.values().find(|u| &u.email == email).cloned())
    }

    async fn create(&self, user: &User) -> Result<(), StoreError> {
        let mut state = self.state()?;
        if state.users.values().any(|u| u.email == user.email) {
            return Err(StoreError::EmailTaken);
        }
        state.users.insert(user.id, user.clone());
        Ok(())
    }

    async fn list(&self, skip: usize, limit: usize) -> Result<Vec<User>, StoreError> {
        let state = self.state()?;
        let mut all: Vec<User> = state.users.values().cloned().collect();
        all.sort_by_key(|u| std::cmp::Reverse((u.created_at, u.id)));
        Ok(all.into_iter().skip(skip).take(limit).collect())
    }

    async fn count(&self) -> Result<u64, StoreError> {
        Ok(self.state()?.users.len() as u64)
    }

    async fn update(&self, user: &User, _previous_email: &Email) -> Result<(), StoreError> {
        let mut state = self.state()?;
        if state.users.values().any(|u| u.email == user.email && u.id != user.id) {
            return Err(StoreError::EmailTaken);
        }
        match state.users.get_mut(&user.id) {
            Some(stored) if stored.version == user.version => {
                *stored = User {
                    version: user.version + 1,
                    ..user.clone()
                };
                Ok(())
            }
            Some(_) => Err(StoreError::Conflict),
            None => Err(StoreError::NotFound),
        }
    }

    async fn delete(&self, user: &User) -> Result<(), StoreError> {
        let mut state = self.state()?;
        state.users.remove(&user.id).ok_or(StoreError::NotFound)?;
        state.two_factor.remove(&user.id);
        state.unfinished_deletions.insert(user.id, domain::clock::now_secs());
        Ok(())
    }

    async fn unfinished_deletions(&self, before: u64, limit: usize) -> Result<Vec<Uuid>, StoreError> {
        let state = self.state()?;
        let mut found: Vec<_> = state
            .unfinished_deletions
            .iter()
            .filter(|(_, deleted_at)| **deleted_at <= before)
            .map(|(user, deleted_at)| (*deleted_at, *user))
            .collect();
        found.sort_unstable();
        Ok(found.into_iter().take(limit).map(|(_, user)| user).collect())
    }

    async fn deletion_finished(&self, user: Uuid) -> Result<(), StoreError> {
        self.state()?.unfinished_deletions.remove(&user);
        Ok(())
    }
}

fn in_listing<T: Owned>(record: &T, listing: &Listing<T::Source>) -> bool {
    listing.sources.iter().any(|source| record.listed_in(source))
        && listing.search.as_deref().is_none_or(|search| record.matches(search))
}

impl FeedStore for Memory {
    async fn feed(&self) -> Result<Option<FeedSnapshot>, StoreError> {
        Ok(self.state()?.feed.clone())
    }

    async fn feed_built_at(&self) -> Result<Option<time::OffsetDateTime>, StoreError> {
        Ok(self.state()?.feed.as_ref().map(|kept| kept.built_at))
    }

    async fn keep_feed(&self, snapshot: &FeedSnapshot) -> Result<(), StoreError> {
        let mut state = self.state()?;
        if state.feed.as_ref().is_none_or(|kept| kept.built_at < snapshot.built_at) {
            state.feed = Some(snapshot.clone());
        }
        Ok(())
    }
}

impl<T: Owned> Records<T> for Memory {
    async fn get(&self, id: Uuid) -> Result<Option<T>, StoreError> {
        let mut state = self.state()?;
        Ok(state.records::<T>().get(&id).cloned())
    }

    async fn list(&self, listing: &Listing<T::Source>, wanted: usize) -> Result<Vec<T>, StoreError> {
        let mut state = self.state()?;
        let mut rows: Vec<T> = state
            .records::<T>()
            .values()
            .filter(|r| in_listing(*r, listing))
            .filter(|r| {
                listing
                    .before
                    .as_deref()
                    .is_none_or(|before| r.sort_key().as_str() < before)
            })
            .cloned()
            .collect();
        rows.sort_by_key(|r| std::cmp::Reverse(r.sort_key()));
        rows.truncate(wanted);
        Ok(rows)
    }

    async fn count(&self, listing: &Listing<T::Source>) -> Result<u64, StoreError> {
        let mut state = self.state()?;
        Ok(state
            .records::<T>()
            .values()
            .filter(|r| in_listing(*r, listing))
            .count() as u64)
    }

    async fn create(&self, record: &T, remember: Option<&Remembered>) -> Result<(), WriteError> {
        let mut state = self.state()?;
        if let Some(remembered) = remember {
            let key = (remembered.owner, T::COLLECTION, remembered.client_key.clone());
            if state.remembered.contains_key(&key) {
                return Err(WriteError::KeyTaken);
            }
            state.remembered.insert(key, remembered.clone());
        }
        let records = state.records::<T>();
        if records.contains_key(&record.id()) {
            return Err(WriteError::Conflict);
        }
        records.insert(record.id(), record.clone());
        Ok(())
    }

    async fn replace(&self, current: &T, next: &T) -> Result<(), WriteError> {
        let mut state = self.state()?;
        match state.records::<T>().get_mut(&current.id()) {
            Some(stored) if stored.version() == current.version() => {
                *stored = next.clone();
                Ok(())
            }
            _ => Err(WriteError::Conflict),
        }
    }

    async fn delete(&self, record: &T, read_version: Option<u64>) -> Result<(), WriteError> {
        let mut state = self.state()?;
        let records = state.records::<T>();
        match records.get(&record.id()) {
            Some(stored) if read_version.is_none_or(|v| v == stored.version()) => {
                records.remove(&record.id());
                Ok(())
            }
            _ => Err(WriteError::Conflict),
        }
    }

    async fn remembered(&self, owner: Uuid, client_key: &str) -> Result<Option<Remembered>, StoreError> {
        let state = self.state()?;
        Ok(state
            .remembered
            .get(&(owner, T::COLLECTION, client_key.to_owned()))
            .cloned())
    }
}

fn secret() -> Result<String, StoreError> {
    secrets::generate().map_err(|e| StoreError::Unavailable(format!("no randomness: {e}")))
}

impl SessionStore for Memory {
    async fn start_login(
        &self,
        user_id: Uuid,
        ttl: Duration,
        origin: &LoginOrigin,
    ) -> Result<(Uuid, String), StoreError> {
        let (family, token) = (Uuid::new_v4(), secret()?);
        let mut state = self.state()?;
        let now = domain::clock::now_micros();
        let session = Session {
            id: family,
            user_id,
            created_at: now,
            last_used_at: now,
            origin: origin.clone(),
        };
        state.families.insert(family, (session, false));
        let expires = now_secs() + ttl.as_secs();
        let record = RefreshToken {
            user_id,
            family,
            used: false,
            expires,
            login_at: now_secs(),
        };
        state.refresh.insert(secrets::digest(&token), record);
        Ok((family, token))
    }

    async fn rotate_refresh(&self, presented: &str, ttl: Duration) -> Result<Refresh, StoreError> {
        let mut state = self.state()?;
        let Some(record) = state.refresh.get(&secrets::digest(presented)).cloned() else {
            return Ok(Refresh::Rejected);
        };
        if record.expires <= now_secs() {
            return Ok(Refresh::Rejected);
        }
        if record.used {
            if let Some((_, revoked)) = state.families.get_mut(&record.family) {
                *revoked = true;
            }
            return Ok(Refresh::ReuseDetected);
        }
        match state.families.get_mut(&record.family) {
            Some((session, false)) => session.last_used_at = domain::clock::now_micros(),
            _ => return Ok(Refresh::Rejected),
        }
        let token = secret()?;
        if let Some(old) = state.refresh.get_mut(&secrets::digest(presented)) {
            old.used = true;
        }
        let next = RefreshToken {
            used: false,
            expires: now_secs() + ttl.as_secs(),
            ..record.clone()
        };
        state.refresh.insert(secrets::digest(&token), next);
        Ok(Refresh::Rotated {
            user_id: record.user_id,
            family: record.family,
            token,
            login_at: record.login_at,
        })
    }

    async fn sessions(&self, user_id: Uuid) -> Result<Vec<Session>, StoreError> {
        let state = self.state()?;
        let mut sessions: Vec<Session> = state
            .families
            .values()
            .filter(|(session, revoked)| session.user_id == user_id && !revoked)
            .map(|(session, _)| session.clone())
            .collect();
        sessions.sort_by_key(|s| std::cmp::Reverse((s.created_at, s.id)));
        Ok(sessions)
    }

    async fn session(&self, id: Uuid) -> Result<Option<Session>, StoreError> {
        let state = self.state()?;
        Ok(state
            .families
            .get(&id)
            .filter(|(_, revoked)| !revoked)
            .map(|(s, _)| s.clone()))
    }

    async fn login_active(&self, family: Uuid) -> Result<bool, StoreError> {
        Ok(self.state()?.families.get(&family).is_some_and(|(_, revoked)| !revoked))
    }

    async fn reset_target(&self, presented: &str) -> Result<Option<Uuid>, StoreError> {
        let state = self.state()?;
        let link = state.resets.get(&secrets::digest(presented));
        Ok(link.filter(|l| l.expires > now_secs()).map(|l| l.user_id))
    }

    async fn revoke_family(&self, family: Uuid) -> Result<(), StoreError> {
        if let Some((_, revoked)) = self.state()?.families.get_mut(&family) {
            *revoked = true;
        }
        Ok(())
    }

    async fn revoke_user_sessions(&self, user_id: Uuid) -> Result<usize, StoreError> {
        self.revoke_sessions_but(user_id, None)
    }

    async fn revoke_other_sessions(&self, user_id: Uuid, keep: Uuid) -> Result<usize, StoreError> {
        self.revoke_sessions_but(user_id, Some(keep))
    }

    async fn create_reset_token(&self, user: &User, ttl: Duration) -> Result<String, StoreError> {
        let token = secret()?;
        let link = ResetLink {
            user_id: user.id,
            email: user.email.clone(),
            user_version: user.version,
            expires: now_secs() + ttl.as_secs(),
        };
        self.state()?.resets.insert(secrets::digest(&token), link);
        Ok(token)
    }

    async fn reset_password(&self, presented: &str, new_hash: &PasswordHash) -> Result<Option<Uuid>, StoreError> {
        let mut state = self.state()?;
        let Some(link) = state.resets.remove(&secrets::digest(presented)) else {
            return Ok(None);
        };
        if link.expires <= now_secs() {
            return Ok(None);
        }
        match state.users.get_mut(&link.user_id) {
            Some(user) if user.email == link.email && user.version == link.user_version => {
                user.password_hash = new_hash.clone();
                user.version += 1;
                user.end_sessions();
                Ok(Some(link.user_id))
            }
            _ => Ok(None),
        }
    }
}

impl EmailVerifications for Memory {
    async fn create_verification(&self, user: &User, ttl: Duration) -> Result<String, StoreError> {
        let token = secret()?;
        let link = VerificationLink {
            user_id: user.id,
            email: user.email.clone(),
            expires: now_secs() + ttl.as_secs(),
        };
        self.state()?.verifications.insert(secrets::digest(&token), link);
        Ok(token)
    }

    async fn verify_email(&self, presented: &str) -> Result<Option<Uuid>, StoreError> {
        let mut state = self.state()?;
        let digest = secrets::digest(presented);
        let Some(link) = state.verifications.get(&digest).cloned() else {
            return Ok(None);
        };
        if link.expires <= now_secs() {
            return Ok(None);
        }
        // As the table's transaction: nothing changes unless the address is still the link's.
        match state.users.get_mut(&link.user_id) {
            Some(user) if user.email == link.email => {
                user.is_verified = true;
                user.version += 1;
                state.verifications.remove(&digest);
                Ok(Some(link.user_id))
            }
            _ => Ok(None),
        }
    }
}

impl Memory {
    /// Makes every verification link of `user_id` expire now, as 48 hours would.
    pub fn expire_verifications(&self, user_id: Uuid) {
        if let Ok(mut state) = self.0.lock() {
            for link in state.verifications.values_mut().filter(|l| l.user_id == user_id) {
                link.expires = 0;
            }
        }
    }

    fn revoke_sessions_but(&self, user_id: Uuid, keep: Option<Uuid>) -> Result<usize, StoreError> {
        let mut state = self.state()?;
        let mut revoked = 0;
        for (session, family_revoked) in state.families.values_mut() {
            if session.user_id == user_id && !*family_revoked && Some(session.id) != keep {
                *family_revoked = true;
                revoked += 1;
            }
        }
        Ok(revoked)
    }
}

impl Memory {
    /// Sets the profile's flag as the next version, as the table does with the record's write.
    fn set_has_2fa(state: &mut State, user_id: Uuid, on: bool) -> Result<(), StoreError> {
        let user = state.users.get_mut(&user_id).ok_or(StoreError::NotFound)?;
        user.has_2fa = on;
        user.version += 1;
        Ok(())
    }
}

impl TwoFactorStore for Memory {
    async fn two_factor(&self, user_id: Uuid) -> Result<Option<TwoFactor>, StoreError> {
        Ok(self.state()?.two_factor.get(&user_id).map(|r| TwoFactor {
            pending: r.pending.clone(),
            secret: r.secret.clone(),
            last_step: r.last_step,
            recovery_left: r.recovery.len(),
        }))
    }

    async fn begin_totp(&self, user_id: Uuid, sealed: &str) -> Result<bool, StoreError> {
        let mut state = self.state()?;
        let record = state.two_factor.entry(user_id).or_default();
        if record.secret.is_some() {
            return Ok(false);
        }
        record.pending = Some(sealed.to_owned());
        Ok(true)
    }

    async fn enable_totp(
        &self,
        user_id: Uuid,
        pending: &str,
        step: u64,
        recovery_digests: &[String],
    ) -> Result<bool, StoreError> {
        let mut state = self.state()?;
        let ready = state
            .two_factor
            .get(&user_id)
            .is_some_and(|r| r.secret.is_none() && r.pending.as_deref() == Some(pending));
        if !ready || !state.users.contains_key(&user_id) {
            return Ok(false);
        }
        Self::set_has_2fa(&mut state, user_id, true)?;
        state.two_factor.insert(
            user_id,
            TwoFactorRecord {
                pending: None,
                secret: Some(pending.to_owned()),
                last_step: Some(step),
                recovery: recovery_digests.iter().cloned().collect(),
            },
        );
        Ok(true)
    }

    async fn accept_step(&self, user_id: Uuid, step: u64) -> Result<bool, StoreError> {
        let mut state = self.state()?;
        match state.two_factor.get_mut(&user_id) {
            Some(record) if record.secret.is_some() && record.last_step.is_none_or(|last| last < step) => {
                record.last_step = Some(step);
                Ok(true)
            }
            _ => Ok(false),
        }
    }

    async fn use_recovery_code(&self, user_id: Uuid, digest: &str) -> Result<bool, StoreError> {
        let mut state = self.state()?;
        Ok(state
            .two_factor
            .get_mut(&user_id)
            .is_some_and(|r| r.secret.is_some() && r.recovery.remove(digest)))
    }

    async fn disable_two_factor(&self, user_id: Uuid) -> Result<(), StoreError> {
        let mut state = self.state()?;
        Self::set_has_2fa(&mut state, user_id, false)?;
        state.two_factor.remove(&user_id);
        Ok(())
    }

    async fn create_challenge(&self, user_id: Uuid, ttl: Duration) -> Result<String, StoreError> {
        let token = secret()?;
        let now = now_secs();
        let pending = PendingLogin {
            challenge: Challenge {
                user_id,
                issued_at: now,
            },
            attempts: 0,
            expires: now + ttl.as_secs(),
        };
        self.state()?.challenges.insert(secrets::digest(&token), pending);
        Ok(token)
    }

    async fn challenge_attempt(&self, token: &str, max_attempts: u64) -> Result<Option<Challenge>, StoreError> {
        let mut state = self.state()?;
        let now = now_secs();
        match state.challenges.get_mut(&secrets::digest(token)) {
            Some(pending) if pending.expires > now && pending.attempts < max_attempts => {
                pending.attempts += 1;
                Ok(Some(pending.challenge))
            }
            _ => Ok(None),
        }
    }

    async fn spend_challenge(&self, token: &str) -> Result<bool, StoreError> {
        let mut state = self.state()?;
        let now = now_secs();
        Ok(state
            .challenges
            .remove(&secrets::digest(token))
            .is_some_and(|pending| pending.expires > now))
    }
}

impl RateLimiter for Memory {
    async fn hit(&self, limit: &Limit, key: &str) -> Result<Count, StoreError> {
        let now = now_secs();
        let mut state = self.state()?;
        let count = state
            .rates
            .entry((limit.scope, key.to_owned(), limit.window_start(now)))
            .or_insert(0);
        *count += 1;
        Ok(Count {
            count: *count,
            retry_after_secs: limit.retry_after(now),
        })
    }

    async fn counts(&self, limits: &[(&Limit, &str)]) -> Result<Vec<Count>, StoreError> {
        let now = now_secs();
        let state = self.state()?;
        Ok(limits
            .iter()
            .map(|(limit, key)| Count {
                count: state
                    .rates
                    .get(&(limit.scope, (*key).to_owned(), limit.window_start(now)))
                    .copied()
                    .unwrap_or(0),
                retry_after_secs: limit.retry_after(now),
            })
            .collect())
    }

    async fn refund(&self, limit: &Limit, key: &str) -> Result<(), StoreError> {
        let mut state = self.state()?;
        if let Some(count) = state
            .rates
            .get_mut(&(limit.scope, key.to_owned(), limit.window_start(now_secs())))
        {
            *count = count.saturating_sub(1);
        }
        Ok(())
    }
}

impl SentEmails for Memory {
    async fn claim_email(&self, job: Uuid) -> Result<bool, StoreError> {
        Ok(self.state()?.claimed_emails.insert(job))
    }

    async fn release_email(&self, job: Uuid) -> Result<(), StoreError> {
        self.state()?.claimed_emails.remove(&job);
        Ok(())
    }
}

fn file_live(expires: Option<u64>, now: u64) -> bool {
    expires.is_none_or(|at| at > now)
}

impl FileStore for Memory {
    async fn get_file(&self, id: Uuid) -> Result<Option<File>, StoreError> {
        let state = self.state()?;
        Ok(state
            .files
            .get(&id)
            .filter(|(_, expires)| file_live(*expires, now_secs()))
            .map(|(file, _)| file.clone()))
    }

    async fn create_file(
        &self,
        file: &File,
        limits: &UploadLimits,
        pending_ttl: Duration,
    ) -> Result<(), FileCreateError> {
        let mut state = self.state()?;
        let now = now_secs();
        let mut usage = Usage::default();
        for (existing, expires) in state.files.values() {
            if existing.owner_id == file.owner_id && file_live(*expires, now) {
                usage.add(existing);
            }
        }
        if !usage.admits(limits, file.size) {
            return Err(FileCreateError::QuotaExceeded);
        }
        state
            .files
            .insert(file.id, (file.clone(), Some(now + pending_ttl.as_secs())));
        Ok(())
    }

    async fn list_files(
        &self,
        scope: &FileScope,
        before: Option<&str>,
        wanted: usize,
    ) -> Result<Vec<File>, StoreError> {
        let state = self.state()?;
        let now = now_secs();
        let mut files: Vec<File> = state
            .files
            .values()
            .filter(|(file, expires)| {
                file_live(*expires, now)
                    && match scope {
                        FileScope::All => true,
                        FileScope::Owner(owner) => file.owner_id == *owner,
                    }
                    && before.is_none_or(|before| file.sort_key().as_str() < before)
            })
            .map(|(file, _)| file.clone())
            .collect();
        files.sort_by_key(|f| std::cmp::Reverse(f.sort_key()));
        files.truncate(wanted);
        Ok(files)
    }

    async fn count_files(&self, scope: &FileScope) -> Result<u64, StoreError> {
        Ok(self.list_files(scope, None, usize::MAX).await?.len() as u64)
    }

    async fn transition_file(&self, next: &File, from: FileStatus) -> Result<bool, StoreError> {
        let mut state = self.state()?;
        match state.files.get_mut(&next.id) {
            Some((stored, expires)) if stored.status == from => {
                *stored = next.clone();
                if next.status.is_final() {
                    *expires = None;
                }
                Ok(true)
            }
            _ => Ok(false),
        }
    }

    async fn delete_file(&self, file: &File) -> Result<bool, StoreError> {
        Ok(self.state()?.files.remove(&file.id).is_some())
    }

    /// Creates here are serialised by the state's lock: there is no guard to forget.
    async fn forget_uploader(&self, _owner: Uuid) -> Result<(), StoreError> {
        drop(self.state()?);
        Ok(())
    }
}

fn bucket_down(err: StoreError) -> ObjectError {
    ObjectError::Unavailable(err.to_string())
}

impl ObjectStore for Memory {
    async fn upload_form(&self, ticket: &UploadTicket<'_>) -> Result<UploadForm, ObjectError> {
        drop(self.state().map_err(bucket_down)?);
        Ok(UploadForm {
            url: "memory://bucket".into(),
            fields: vec![
                ("key".into(), ticket.key.to_owned()),
                ("Content-Type".into(), ticket.content_type.to_owned()),
            ],
        })
    }

    async fn download_link(
        &self,
        key: &str,
        _content_type: &str,
        _disposition: Option<&str>,
        expires_in: Duration,
    ) -> Result<String, ObjectError> {
        drop(self.state().map_err(bucket_down)?);
        Ok(format!("memory://bucket/{key}?expires={}", expires_in.as_secs()))
    }

    async fn put_object(&self, key: &str, bytes: Vec<u8>, content_type: &str) -> Result<(), ObjectError> {
        let mut state = self.state().map_err(bucket_down)?;
        state.write_object(key, (bytes, content_type.to_owned()));
        Ok(())
    }

    async fn get_object(
        &self,
        key: &str,
        version: Option<&str>,
        max_bytes: u64,
    ) -> Result<Option<Vec<u8>>, ObjectError> {
        let state = self.state().map_err(bucket_down)?;
        let limit = usize::try_from(max_bytes.saturating_add(1)).unwrap_or(usize::MAX);
        Ok(state
            .object_at(key, version)
            .map(|(bytes, _)| bytes.iter().take(limit).copied().collect()))
    }

    async fn copy_object(&self, from: &str, version: Option<&str>, to: &str) -> Result<(), ObjectError> {
        let mut state = self.state().map_err(bucket_down)?;
        let object = state
            .object_at(from, version)
            .cloned()
            .ok_or_else(|| ObjectError::Refused(format!("no object {from} {version:?}")))?;
        state.write_object(to, object);
        Ok(())
    }

    async fn delete_version(&self, key: &str, version: &str) -> Result<(), ObjectError> {
        let mut state = self.state().map_err(bucket_down)?;
        state.versions.remove(&(key.to_owned(), version.to_owned()));
        if state.current_versions.get(key).is_some_and(|v| v == version) {
            state.current_versions.remove(key);
            state.objects.remove(key);
        }
        Ok(())
    }

    async fn delete_objects(&self, keys: &[String]) -> Result<(), ObjectError> {
        let mut state = self.state().map_err(bucket_down)?;
        for key in keys {
            // A versioned bucket keeps the versions behind a delete marker.
            state.objects.remove(key);
            state.current_versions.remove(key);
        }
        Ok(())
    }
}

impl ApiKeyStore for Memory {
    async fn key_caller(&self, user_id: Uuid, key_id: Uuid) -> Result<(Option<User>, Option<ApiKey>), StoreError> {
        let state = self.state()?;
        Ok((
            state.users.get(&user_id).cloned(),
            state.api_keys.get(&(user_id, key_id)).cloned(),
        ))
    }

    async fn touch_key(&self, key: &ApiKey, at: time::OffsetDateTime) -> Result<(), StoreError> {
        let mut state = self.state()?;
        if let Some(stored) = state.api_keys.get_mut(&(key.user_id, key.id)) {
            if stored.needs_touch(at) {
                stored.last_used_at = Some(at);
            }
        }
        Ok(())
    }

    async fn create_key(&self, key: &ApiKey) -> Result<bool, StoreError> {
        let mut state = self.state()?;
        let held = state.api_keys.keys().filter(|(owner, _)| *owner == key.user_id).count() as u64;
        if held >= MAX_KEYS_PER_USER {
            return Ok(false);
        }
        state.api_keys.insert((key.user_id, key.id), key.clone());
        Ok(true)
    }

    async fn keys(&self, user_id: Uuid) -> Result<Vec<ApiKey>, StoreError> {
        let state = self.state()?;
        let mut found: Vec<ApiKey> = state
            .api_keys
            .values()
            .filter(|key| key.user_id == user_id)
            .cloned()
            .collect();
        domain::api_key::newest_first(&mut found);
        Ok(found)
    }

    async fn delete_key(&self, user_id: Uuid, key_id: Uuid) -> Result<bool, StoreError> {
        Ok(self.state()?.api_keys.remove(&(user_id, key_id)).is_some())
    }

    async fn delete_user_keys(&self, user_id: Uuid) -> Result<usize, StoreError> {
        let mut state = self.state()?;
        let before = state.api_keys.len();
        state.api_keys.retain(|(owner, _), _| *owner != user_id);
        Ok(before - state.api_keys.len())
    }
}

impl domain::ports::Accounts for Memory {
    async fn caller(&self, user_id: Uuid, login: Uuid) -> Result<(Option<User>, bool), StoreError> {
        Ok((UserStore::get(self, user_id).await?, self.login_active(login).await?))
    }
}

impl JobQueue for Memory {
    async fn enqueue(&self, job: Job) -> Result<Uuid, QueueError> {
        let mut state = self.state().map_err(|e| QueueError(e.to_string()))?;
        if state.queue_down {
            return Err(QueueError("memory queue is down".into()));
        }
        state.jobs.push(job);
        Ok(Uuid::new_v4())
    }
}

impl EmailSender for Memory {
    async fn send(&self, message: &EmailMessage) -> Result<String, SendError> {
        let mut state = self.state().map_err(|e| SendError::Unavailable(e.to_string()))?;
        state.emails.push(message.clone());
        Ok(Uuid::new_v4().to_string())
    }
}

impl Connections for Memory {
    async fn open(&self, connection: &Connection, max_per_user: u64) -> Result<Opened, StoreError> {
        let mut state = self.state()?;
        if !state.connections.contains_key(&connection.id) {
            let held: Vec<&Connection> = state
                .connections
                .values()
                .filter(|(c, _)| c.user_id == connection.user_id)
                .map(|(c, _)| c)
                .collect();
            if held.len() as u64 >= max_per_user {
                let mut holders: Vec<_> = held
                    .into_iter()
                    .filter(|c| past_handshake(c.expires_at))
                    .map(|c| c.id.clone())
                    .collect();
                holders.sort();
                return Ok(Opened::Full(holders));
            }
        }
        state
            .connections
            .insert(connection.id.clone(), (connection.clone(), BTreeSet::new()));
        Ok(Opened::Opened)
    }

    async fn connection(&self, id: &ConnectionId) -> Result<Option<Connection>, StoreError> {
        Ok(self.state()?.connections.get(id).map(|(c, _)| c.clone()))
    }

    async fn close(&self, id: &ConnectionId) -> Result<Option<(Connection, Vec<RoomName>)>, StoreError> {
        let mut state = self.state()?;
        let Some((connection, rooms)) = state.connections.remove(id) else {
            return Ok(None);
        };
        for room in &rooms {
            if let Some(members) = state.members.get_mut(room) {
                members.remove(id);
            }
        }
        Ok(Some((connection, rooms.into_iter().collect())))
    }

    async fn of_user(&self, user_id: Uuid) -> Result<Vec<ConnectionId>, StoreError> {
        self.of_audience(user_id, &Audience::User).await
    }

    async fn of_audience(&self, user_id: Uuid, audience: &Audience) -> Result<Vec<ConnectionId>, StoreError> {
        let state = self.state()?;
        let mut ids: Vec<_> = state
            .connections
            .values()
            .filter(|(c, _)| c.user_id == user_id && audience.reaches(c.session))
            .map(|(c, _)| c.id.clone())
            .collect();
        ids.sort();
        Ok(ids)
    }

    async fn join(&self, room: &RoomName, connection: &Connection, max_members: u64) -> Result<Joined, StoreError> {
        let mut state = self.state()?;
        let members = state.members.get(room).map_or(0, |m| m.len() as u64);
        let Some((_, rooms)) = state.connections.get_mut(&connection.id) else {
            return Ok(Joined::ConnectionGone);
        };
        if rooms.contains(room) {
            return Ok(Joined::Joined);
        }
        if rooms.len() >= MAX_ROOMS_PER_CONNECTION {
            return Ok(Joined::TooManyRooms);
        }
        if members >= max_members {
            return Ok(Joined::RoomFull);
        }
        rooms.insert(room.clone());
        state
            .members
            .entry(room.clone())
            .or_default()
            .insert(connection.id.clone(), connection.user_id);
        Ok(Joined::Joined)
    }

    async fn is_member(&self, room: &RoomName, connection: &ConnectionId) -> Result<bool, StoreError> {
        let state = self.state()?;
        Ok(state.members.get(room).is_some_and(|m| m.contains_key(connection)))
    }

    async fn leave(&self, room: &RoomName, connection: &ConnectionId) -> Result<bool, StoreError> {
        let mut state = self.state()?;
        if let Some((_, rooms)) = state.connections.get_mut(connection) {
            rooms.remove(room);
        }
        Ok(state
            .members
            .get_mut(room)
            .is_some_and(|members| members.remove(connection).is_some()))
    }

    async fn members(&self, room: &RoomName) -> Result<Vec<Member>, StoreError> {
        let state = self.state()?;
        Ok(state
            .members
            .get(room)
            .into_iter()
            .flatten()
            .map(|(connection, user_id)| Member {
                connection: connection.clone(),
                user_id: *user_id,
            })
            .collect())
    }

    async fn members_page(
        &self,
        room: &RoomName,
        after: Option<&str>,
        limit: usize,
    ) -> Result<MembersPage, StoreError> {
        let state = self.state()?;
        let members: Vec<Member> = state
            .members
            .get(room)
            .into_iter()
            .flatten()
            .filter(|(connection, _)| after.is_none_or(|after| connection.as_str() > after))
            .take(limit)
            .map(|(connection, user_id)| Member {
                connection: connection.clone(),
                user_id: *user_id,
            })
            .collect();
        let next = (members.len() == limit)
            .then(|| members.last().map(|m| m.connection.as_str().to_owned()))
            .flatten();
        Ok(MembersPage { members, next })
    }

    async fn room_size(&self, room: &RoomName) -> Result<u64, StoreError> {
        Ok(self.state()?.members.get(room).map_or(0, |m| m.len() as u64))
    }

    async fn forget_gone(&self, ids: &[ConnectionId]) -> Result<Vec<(RoomName, Uuid)>, StoreError> {
        let mut memberships = Vec::new();
        for id in ids {
            if let Some((connection, rooms)) = Connections::close(self, id).await? {
                memberships.extend(rooms.into_iter().map(|room| (room, connection.user_id)));
            }
        }
        Ok(memberships)
    }

    async fn remember(&self, message: &ChatMessage) -> Result<(), StoreError> {
        let room = RoomName::parse(&message.room).map_err(StoreError::Corrupt)?;
        self.state()?.history.entry(room).or_default().push(message.clone());
        Ok(())
    }

    async fn history(&self, room: &RoomName) -> Result<Vec<ChatMessage>, StoreError> {
        let state = self.state()?;
        let all = state.history.get(room).cloned().unwrap_or_default();
        Ok(all[all.len().saturating_sub(HISTORY_LEN)..].to_vec())
    }
}

impl Invitations for Memory {
    async fn invite(&self, invitation: &Invitation) -> Result<(), StoreError> {
        let mut state = self.state()?;
        state
            .invitations
            .insert((invitation.room.clone(), invitation.user_id), invitation.expires_at);
        Ok(())
    }

    async fn is_invited(&self, room: &RoomName, user_id: Uuid) -> Result<bool, StoreError> {
        let state = self.state()?;
        Ok(state
            .invitations
            .get(&(room.clone(), user_id))
            .is_some_and(|expires_at| *expires_at > now_secs()))
    }
}

impl Push for Memory {
    async fn send(&self, to: &ConnectionId, frame: &str) -> Result<(), PushError> {
        let mut state = self.state().map_err(|e| PushError::Unavailable(e.to_string()))?;
        if state.gone.contains(to) {
            return Err(PushError::Gone);
        }
        if let Some(times) = state.unreachable.get_mut(to).filter(|times| **times > 0) {
            *times -= 1;
            return Err(PushError::Unavailable("throttled".into()));
        }
        state.pushed.push((to.clone(), frame.to_owned()));
        Ok(())
    }

    async fn close(&self, connection: &ConnectionId) -> Result<(), PushError> {
        let mut state = self.state().map_err(|e| PushError::Unavailable(e.to_string()))?;
        if state.gone.contains(connection) {
            return Err(PushError::Gone);
        }
        state.closed.push(connection.clone());
        Ok(())
    }

    async fn is_open(&self, connection: &ConnectionId) -> Result<bool, PushError> {
        let state = self.state().map_err(|e| PushError::Unavailable(e.to_string()))?;
        Ok(!state.gone.contains(connection))
    }
}

impl Notifier for Memory {
    async fn notify_to(
        &self,
        user_id: Uuid,
        audience: Audience,
        event: Event,
        data: serde_json::Value,
    ) -> Result<(), QueueError> {
        let mut state = self.state().map_err(|e| QueueError(e.to_string()))?;
        state
            .notifications
            .push(Notification::to(user_id, audience, event, data));
        Ok(())
    }
}

impl FanOutQueue for Memory {
    async fn fan_out(&self, work: &[FanOut], delay_secs: u32) -> Result<(), QueueError> {
        let mut state = self.state().map_err(|e| QueueError(e.to_string()))?;
        if state.queue_down {
            return Err(QueueError("memory queue is down".into()));
        }
        state.fan_outs.extend(work.iter().map(|w| (w.clone(), delay_secs)));
        Ok(())
    }
}

impl Probe for Memory {
    fn service(&self) -> &'static str {
        "memory"
    }

    async fn probe(&self) -> Result<(), String> {
        self.state().map(|_| ()).map_err(|e| e.to_string())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use domain::accounts::{ensure_first_superuser, Bootstrap};
    use domain::{passwords, Password};

    #[tokio::test]
    async fn first_superuser_is_created_once() {
        let store = Memory::default();
        let email = Email::parse("admin@example.com").unwrap();
        let password = Password::parse("changethis").unwrap();
        let Bootstrap::Created(id) = ensure_first_superuser(&store, &email, &password).await.unwrap() else {
            panic!("expected a new superuser");
        };
        assert_eq!(
            ensure_first_superuser(&store, &email, &password).await.unwrap(),
            Bootstrap::AlreadyPresent(id)
        );
        let user = UserStore::get(&store, id).await.unwrap().unwrap();
        assert!(user.role.is_superuser());
        assert!(passwords::verify("changethis", &user.password_hash));
    }
}
