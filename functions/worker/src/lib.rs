//! `worker`: consumes the jobs queue and the emails queue. Each record succeeds or fails on its
//! own; failures are reported as partial batch failures so only they return to the queue (and,
//! after `maxReceiveCount` receives, to the dead-letter queue).
//!
//! Emails are paced to this instance's share of the account's SES sending rate, and sent at
//! most once: a job's email is claimed in the table before it is sent (`SentEmails`), so a
//! redelivered job (a batch that timed out, a duplicate delivery) skips it.

use adapters::aws::batch::Failures;
use adapters::aws::{AwsConfig, Bucket, SesSender};
use adapters::store::Table;
use aws_lambda_events::event::sqs::{SqsBatchResponse, SqsEvent, SqsMessage};
use domain::accounts::{delete_user_data, CascadeError};
use domain::clock::now_secs;
use domain::config::{ConfigError, Env};
use domain::job::{Envelope, EnvelopeError, Job};
use domain::ports::{
    ApiKeyStore, EmailSender, FeedStore, FileStore, ObjectStore, Records, SendError, SentEmails, SessionStore,
    UserStore,
};
use domain::StoreError;
use domain::{Item, Post};
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// What the worker needs of a store: the delete-user cascade's sessions, keys, items, posts and files,
/// and the record of deletions whose cascade is unfinished.
/// The feed's snapshot is refreshed here too (its job, and after a cascade removed posts).
pub trait UserData:
    UserStore + SessionStore + ApiKeyStore + Records<Item> + Records<Post> + FileStore + FeedStore
{
}
impl<S: UserStore + SessionStore + ApiKeyStore + Records<Item> + Records<Post> + FileStore + FeedStore> UserData for S {}

/// How long a deletion's job has to run before the sweep runs the cascade itself (the job is
/// then presumed lost: never enqueued, or dead-lettered).
const SWEEP_AFTER_SECONDS: u64 = 600;
/// Deletions one sweep finishes at most; the next sweep takes the rest.
const SWEEP_BATCH: usize = 25;
/// The sweep rebuilds a feed snapshot older than this: the safety net for a refresh job that
/// was never enqueued (the queue unreachable when a post changed).
const FEED_MAX_AGE: time::Duration = time::Duration::minutes(5);
/// A new SES account's sending quota (emails per second), and the emails queue's maximum
/// concurrency: the defaults of `EmailsPerSecond` and `EmailsMaxConcurrency`.
const EMAILS_PER_SECOND: f64 = 14.0;
const EMAILS_CONSUMERS: f64 = 2.0;
/// A record is started only with this much of the invocation left (an SES call gives up within
/// 8 s); later ones are handed back to the queue unattempted, so a batch never times out.
const RECORD_BUDGET: Duration = Duration::from_secs(9);

/// Spaces this instance's sends so that all the emails queue's consumers together keep to the
/// account's SES rate: each takes `rate / consumers` emails a second.
#[derive(Debug)]
pub struct Pace {
    interval: Duration,
    next: Mutex<Option<Instant>>,
}

impl Pace {
    pub fn new(per_second: f64, consumers: f64) -> Self {
        let share = per_second / consumers.max(1.0);
        Self {
            interval: Duration::from_secs_f64(1.0 / share.max(0.001)),
            next: Mutex::new(None),
        }
    }

    /// How long the next send waits, and that send's slot taken.
    fn reserve(&self, now: Instant) -> Duration {
        let Ok(mut next) = self.next.lock() else {
            return self.interval;
        };
        let at = next.map_or(now, |at| at.max(now));
        *next = Some(at + self.interval);
        at - now
    }

    async fn wait(&self) {
        let wait = self.reserve(Instant::now());
        if !wait.is_zero() {
            tokio::time::sleep(wait).await;
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum JobError {
    #[error(transparent)]
    Envelope(#[from] EnvelopeError),
    #[error(transparent)]
    Email(#[from] SendError),
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error(transparent)]
    Cascade(#[from] CascadeError),
    #[error("not started: too little of the invocation's time left")]
    NoTimeLeft,
    #[error("unexpected event: {0}")]
    Event(String),
}

pub struct Worker<E, D, B> {
    email: E,
    data: D,
    bucket: B,
    sweep_after_secs: u64,
    pace: Pace,
}

/// What one sweep did.
#[derive(Debug, Default, PartialEq, Eq, serde::Serialize)]
pub struct Sweep {
    pub finished: usize,
    pub failed: usize,
}

impl Worker<SesSender, Table, Bucket> {
    pub fn from_env(env: &impl Env) -> Result<Self, ConfigError> {
        let aws = AwsConfig::from_env(env)?;
        let table = Table::on_first_use(&aws, env.required("TABLE_NAME")?);
        let sweep_after = match env.get("DELETION_SWEEP_AFTER_SECONDS") {
            Some(value) => value.trim().parse().map_err(|_| ConfigError::Invalid {
                name: "DELETION_SWEEP_AFTER_SECONDS",
                reason: format!("{value:?} is not a number of seconds"),
            })?,
            None => SWEEP_AFTER_SECONDS,
        };
        let pace = Pace::new(
            env.positive("EMAILS_PER_SECOND", EMAILS_PER_SECOND)?,
            env.positive("EMAILS_MAX_CONCURRENCY", EMAILS_CONSUMERS)?,
        );
        let bucket = Bucket::new(&aws, env.required("BUCKET_NAME")?);
        Ok(Self::new(
            SesSender::new(aws.ses(), env.required("EMAILS_FROM_EMAIL")?),
            table,
            bucket,
        )
        .sweeping_after(sweep_after)
        .pacing(pace))
    }
}

/// What became of one job.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Done {
    /// Its work was done; an email was sent.
    Ran(&'static str),
    /// Its email was claimed before (sent, or its send went unanswered): not sent again.
    AlreadySent,
}

impl<E: EmailSender, D: UserData + SentEmails, B: ObjectStore> Worker<E, D, B> {
    pub fn new(email: E, data: D, bucket: B) -> Self {
        Self {
            email,
            data,
            bucket,
            sweep_after_secs: SWEEP_AFTER_SECONDS,
            pace: Pace::new(EMAILS_PER_SECOND, EMAILS_CONSUMERS),
        }
    }

    pub fn pacing(self, pace: Pace) -> Self {
        Self { pace, ..self }
    }

    pub fn sweeping_after(self, seconds: u64) -> Self {
        Self {
            sweep_after_secs: seconds,
            ..self
        }
    }

    /// The scheduled sweep: runs the cascade of every deletion whose job has not finished it
    /// within `sweep_after_secs` — the job was never enqueued, or it ended in the dead-letter
    /// queue. The cascade is idempotent, so a job still under way does no harm.
    pub async fn sweep(&self) -> Result<Sweep, JobError> {
        let before = now_secs().saturating_sub(self.sweep_after_secs);
        let mut sweep = Sweep::default();
        for user_id in self.data.unfinished_deletions(before, SWEEP_BATCH).await? {
            match self.finish_deletion(user_id).await {
                Ok(()) => sweep.finished += 1,
                Err(err) => {
                    sweep.failed += 1;
                    tracing::error!(%user_id, error = %err, "sweep could not finish a deletion");
                }
            }
        }
        tracing::info!(finished = sweep.finished, failed = sweep.failed, "deletion sweep done");
        let refreshed = domain::feed::refresh(&self.data, time::OffsetDateTime::now_utc() - FEED_MAX_AGE).await?;
        tracing::info!(refreshed, "feed snapshot checked");
        Ok(sweep)
    }

    async fn finish_deletion(&self, user_id: uuid::Uuid) -> Result<(), JobError> {
        let removed = delete_user_data(&self.data, &self.bucket, user_id).await?;
        if removed.posts > 0 {
            domain::feed::refresh_without(&self.data, user_id).await?;
        }
        self.data.deletion_finished(user_id).await?;
        tracing::info!(
            %user_id,
            items = removed.items,
            posts = removed.posts,
            files = removed.files,
            "user data deleted"
        );
        Ok(())
    }

    /// One invocation: a batch from the jobs or the emails queue, or the schedule's tick for
    /// the sweep.
    pub async fn handle(&self, event: serde_json::Value) -> Result<serde_json::Value, JobError> {
        self.handle_until(event, None).await
    }

    /// [`Worker::handle`] within an invocation that ends at `deadline`.
    pub async fn handle_until(
        &self,
        event: serde_json::Value,
        deadline: Option<Instant>,
    ) -> Result<serde_json::Value, JobError> {
        if event.get("Records").is_some() {
            let batch: SqsEvent = serde_json::from_value(event).map_err(|e| JobError::Event(e.to_string()))?;
            return serde_json::to_value(self.handle_batch_until(batch, deadline).await)
                .map_err(|e| JobError::Event(e.to_string()));
        }
        match event.get("detail-type").and_then(serde_json::Value::as_str) {
            Some("Scheduled Event") => {
                serde_json::to_value(self.sweep().await?).map_err(|e| JobError::Event(e.to_string()))
            }
            _ => Err(JobError::Event("neither an SQS batch nor a scheduled event".into())),
        }
    }

    pub async fn handle_batch(&self, event: SqsEvent) -> SqsBatchResponse {
        self.handle_batch_until(event, None).await
    }

    async fn handle_batch_until(&self, event: SqsEvent, deadline: Option<Instant>) -> SqsBatchResponse {
        telemetry::metrics::invocation_started();
        let mut counts = telemetry::metrics::JobCounts::default();
        let mut failures = Failures::default();
        for record in &event.records {
            let time_left = deadline.is_none_or(|end| end.saturating_duration_since(Instant::now()) > RECORD_BUDGET);
            let outcome = if time_left {
                self.handle_record(record).await
            } else {
                Err(JobError::NoTimeLeft)
            };
            match failures.check(record, outcome) {
                Some(Done::Ran(kind)) => {
                    counts.processed += 1;
                    counts.emails_sent += u32::from(kind == "send_email");
                    tracing::info!(message_id = record.message_id, kind, "job done");
                }
                Some(Done::AlreadySent) => {
                    counts.processed += 1;
                    tracing::warn!(
                        message_id = record.message_id,
                        "email job delivered again: not sent again"
                    );
                }
                None => {}
            }
        }
        counts.failed = failures.count() as u32;
        counts.emf().emit();
        failures.response()
    }

    async fn handle_record(&self, record: &SqsMessage) -> Result<Done, JobError> {
        let envelope = Envelope::parse(record.body.as_deref().unwrap_or_default())?;
        let kind = envelope.job.kind();
        match envelope.job {
            Job::SendEmail(message) => return self.send_once(envelope.id, &message).await,
            Job::DeleteUserData { user_id } => self.finish_deletion(user_id).await?,
            Job::RefreshFeed => {
                // A snapshot built after the job was enqueued already shows its change.
                let refreshed = domain::feed::refresh(&self.data, envelope.created_at).await?;
                tracing::info!(refreshed, "feed refresh");
            }
        }
        Ok(Done::Ran(kind))
    }

    /// Sends job `job`'s email unless it was claimed before. The claim comes first: a crash or
    /// a time-out between SES taking the email and the worker hearing so leaves it claimed, and
    /// the email is not sent again (at most once; such an email may be lost, never doubled).
    /// When SES answered that it sent nothing, the claim is given back for the retry.
    async fn send_once(&self, job: uuid::Uuid, message: &domain::email::EmailMessage) -> Result<Done, JobError> {
        if !self.data.claim_email(job).await? {
            return Ok(Done::AlreadySent);
        }
        self.pace.wait().await;
        match self.email.send(message).await {
            Ok(_) => Ok(Done::Ran("send_email")),
            Err(err @ SendError::Unanswered(_)) => {
                tracing::error!(%job, error = %err, "SES did not answer: the email may not have gone out, and is not sent again");
                Err(err.into())
            }
            Err(err) => {
                self.data.release_email(job).await?;
                Err(err.into())
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use adapters::store::memory::Memory;
    use domain::email::EmailMessage;
    use domain::file::{File, Filename, NewUpload, UploadLimits};
    use domain::item::NewItem;
    use domain::ports::Records;
    use domain::{Email, Item, Title};
    use std::sync::Mutex;
    use std::time::Duration;
    use uuid::Uuid;

    /// An outbox whose sends fail for the subject "fail", as an unreachable SES would.
    #[derive(Default)]
    struct Outbox(Mutex<Vec<EmailMessage>>);

    impl EmailSender for Outbox {
        async fn send(&self, message: &EmailMessage) -> Result<String, SendError> {
            if message.subject == "fail" {
                return Err(SendError::Unavailable("down".into()));
            }
            if message.subject == "silence" {
                return Err(SendError::Unanswered("timed out".into()));
            }
            self.0
                .lock()
                .map(|mut sent| sent.push(message.clone()))
                .map_err(|_| SendError::Unavailable("poisoned".into()))?;
            Ok("id".into())
        }
    }

    fn record(id: &str, body: &str) -> SqsMessage {
        let mut message = SqsMessage::default();
        message.message_id = Some(id.into());
        message.body = Some(body.into());
        message
    }

    fn email_body(subject: &str) -> String {
        Envelope::new(Job::SendEmail(EmailMessage {
            to: Email::parse("to@example.com").unwrap(),
            subject: subject.into(),
            html: "<p>x</p>".into(),
            text: "x".into(),
        }))
        .to_body()
    }

    #[tokio::test]
    async fn every_event_fixture_through_the_handler() {
        let worker = Worker::new(Outbox::default(), Memory::default(), Memory::default());
        let sent = worker.handle(testkit::fixture("worker/send-email.json")).await.unwrap();
        assert_eq!(sent["batchItemFailures"], serde_json::json!([]));
        assert_eq!(worker.email.0.lock().unwrap()[0].to.as_str(), "someone@example.com");

        let poisoned = worker
            .handle(testkit::fixture("worker/batch-with-poison.json"))
            .await
            .unwrap();
        let failed: Vec<_> = poisoned["batchItemFailures"]
            .as_array()
            .unwrap()
            .iter()
            .map(|f| f["itemIdentifier"].as_str().unwrap().to_owned())
            .collect();
        let event = testkit::fixture("worker/batch-with-poison.json");
        let poison: Vec<_> = event["Records"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|r| Envelope::parse(r["body"].as_str().unwrap()).is_err())
            .map(|r| r["messageId"].as_str().unwrap().to_owned())
            .collect();
        assert!(!poison.is_empty());
        assert_eq!(failed, poison, "exactly the records that are not jobs fail");

        let swept = worker.handle(testkit::fixture("worker/sweep.json")).await.unwrap();
        assert_eq!(swept, serde_json::json!({"finished": 0, "failed": 0}));
    }

    #[tokio::test]
    async fn a_feed_refresh_job_rebuilds_the_snapshot_and_a_cascade_takes_its_posts_out() {
        let memory = Memory::default();
        let worker = Worker::new(Outbox::default(), memory.clone(), Memory::default());
        let author = Uuid::new_v4();
        let post = Post::new(
            author,
            domain::post::NewPost {
                title: Title::parse("Hello").unwrap(),
                content: domain::PostContent::parse("World").unwrap(),
                published: Some(true),
            },
        );
        Records::<Post>::create(&memory, &post, None).await.unwrap();
        let done = worker
            .handle(testkit::fixture("worker/refresh-feed.json"))
            .await
            .unwrap();
        assert_eq!(done["batchItemFailures"], serde_json::json!([]));
        let feed = memory.feed().await.unwrap().expect("a snapshot");
        assert_eq!((feed.posts, feed.count), (vec![post.clone()], 1));

        // The cascade deletes the author's posts, and the snapshot loses them at once.
        worker.finish_deletion(author).await.unwrap();
        let feed = memory.feed().await.unwrap().expect("a snapshot");
        assert_eq!((feed.posts.len(), feed.count), (0, 0));
    }

    #[tokio::test]
    async fn only_failed_records_are_reported() {
        let worker = Worker::new(Outbox::default(), Memory::default(), Memory::default());
        let mut event = SqsEvent::default();
        event.records = vec![
            record("good", &email_body("hello")),
            record("poison", "not json"),
            record("unknown", r#"{"version":1,"kind":"nope","payload":{}}"#),
            record("retry", &email_body("fail")),
        ];
        let response = worker.handle_batch(event).await;
        let failed: Vec<_> = response
            .batch_item_failures
            .iter()
            .map(|f| f.item_identifier.as_str())
            .collect();
        assert_eq!(failed, ["poison", "unknown", "retry"]);
        assert_eq!(worker.email.0.lock().unwrap().len(), 1);
    }

    fn batch(records: &[(&str, &str)]) -> SqsEvent {
        let mut event = SqsEvent::default();
        event.records = records.iter().map(|(id, body)| record(id, body)).collect();
        event
    }

    fn failed(response: &SqsBatchResponse) -> Vec<&str> {
        response
            .batch_item_failures
            .iter()
            .map(|f| f.item_identifier.as_str())
            .collect()
    }

    #[tokio::test]
    async fn a_redelivered_email_job_is_not_sent_again() {
        let worker = Worker::new(Outbox::default(), Memory::default(), Memory::default());
        let body = email_body("reset your password");
        let first = worker.handle_batch(batch(&[("m1", &body)])).await;
        // The same job again: a batch that timed out after sending, or a duplicate delivery.
        let again = worker.handle_batch(batch(&[("m1", &body), ("m2", &body)])).await;
        assert!(failed(&first).is_empty() && failed(&again).is_empty());
        assert_eq!(worker.email.0.lock().unwrap().len(), 1);
        let other = worker.handle_batch(batch(&[("m3", &email_body("another"))])).await;
        assert!(failed(&other).is_empty());
        assert_eq!(worker.email.0.lock().unwrap().len(), 2, "another job's email is sent");
    }

    #[tokio::test]
    async fn an_email_ses_refused_is_sent_by_the_retry_and_an_unanswered_one_never_again() {
        let store = Memory::default();
        let worker = Worker::new(Outbox::default(), store.clone(), Memory::default());
        let refused = Envelope::new(Job::SendEmail(EmailMessage {
            to: Email::parse("to@example.com").unwrap(),
            subject: "fail".into(),
            html: "x".into(),
            text: "x".into(),
        }));
        assert_eq!(
            failed(&worker.handle_batch(batch(&[("m", &refused.to_body())])).await),
            ["m"]
        );
        assert!(
            store.claim_email(refused.id).await.unwrap(),
            "SES sent nothing: the claim was given back for the retry"
        );

        let unanswered = email_body("silence");
        let first = worker.handle_batch(batch(&[("m", &unanswered)])).await;
        assert_eq!(failed(&first), ["m"], "the failure is reported");
        let retry = worker.handle_batch(batch(&[("m", &unanswered)])).await;
        assert!(failed(&retry).is_empty(), "the retry does not send it again");
    }

    #[tokio::test]
    async fn a_batch_hands_back_the_records_it_has_no_time_for() {
        let worker = Worker::new(Outbox::default(), Memory::default(), Memory::default());
        let body = email_body("hello");
        let response = worker
            .handle_batch_until(batch(&[("m", &body)]), Some(Instant::now() + Duration::from_secs(1)))
            .await;
        assert_eq!(failed(&response), ["m"]);
        assert!(worker.email.0.lock().unwrap().is_empty());
        let response = worker
            .handle_batch_until(batch(&[("m", &body)]), Some(Instant::now() + Duration::from_secs(30)))
            .await;
        assert!(failed(&response).is_empty(), "nothing was claimed: it is sent now");
        assert_eq!(worker.email.0.lock().unwrap().len(), 1);
    }

    #[test]
    fn each_instance_paces_to_its_share_of_the_sending_rate() {
        // 14 emails/s over 2 consumers: 7 a second each, one every 1/7 s.
        let pace = Pace::new(14.0, 2.0);
        let now = Instant::now();
        let step = Duration::from_secs_f64(1.0 / 7.0);
        assert_eq!(pace.reserve(now), Duration::ZERO);
        assert_eq!(pace.reserve(now), step);
        assert_eq!(pace.reserve(now), step * 2);
        // After a quiet spell the next send goes at once.
        assert_eq!(pace.reserve(now + Duration::from_secs(5)), Duration::ZERO);
    }

    #[tokio::test]
    async fn delete_user_data_removes_what_the_user_owned_and_is_safe_to_repeat() {
        let store = Memory::default();
        let (user_id, other) = (Uuid::new_v4(), Uuid::new_v4());
        let item = |owner| {
            Item::new(
                owner,
                NewItem {
                    title: Title::parse("t").unwrap(),
                    description: None,
                    price: None,
                    is_available: None,
                },
            )
        };
        let (mine, theirs) = (item(user_id), item(other));
        store.insert(mine.clone());
        store.insert(theirs.clone());
        let limits = UploadLimits {
            max_size: 100,
            quota_files: 10,
            quota_bytes: 1000,
        };
        let upload = |owner| {
            let new = NewUpload {
                filename: Filename::parse("a.txt").unwrap(),
                content_type: "text/plain".into(),
                size: 1,
                description: None,
            };
            File::announce(owner, new, &limits).unwrap()
        };
        let (my_file, their_file) = (upload(user_id), upload(other));
        for file in [&my_file, &their_file] {
            store.create_file(file, &limits, Duration::from_secs(60)).await.unwrap();
            store
                .put_object(&file.stored_key(), b"x".to_vec(), "text/plain")
                .await
                .unwrap();
        }
        let key = |owner| {
            let asked = domain::api_key::KeyRequest {
                name: domain::api_key::KeyName::parse("k").unwrap(),
                scopes: [domain::api_key::Scope::ItemsRead].into_iter().collect(),
                days: 1,
            };
            domain::api_key::issue(owner, asked, domain::clock::now_micros())
                .unwrap()
                .api_key
        };
        for owner in [user_id, other] {
            assert!(store.create_key(&key(owner)).await.unwrap());
        }
        let worker = Worker::new(Outbox::default(), store.clone(), store.clone());
        let body = Envelope::new(Job::DeleteUserData { user_id }).to_body();
        let mut event = SqsEvent::default();
        event.records = vec![record("del", &body), record("again", &body)];
        assert!(worker.handle_batch(event).await.batch_item_failures.is_empty());
        assert_eq!(Records::<Item>::get(&store, mine.id).await.unwrap(), None);
        assert_eq!(Records::<Item>::get(&store, theirs.id).await.unwrap(), Some(theirs));
        assert_eq!(store.get_file(my_file.id).await.unwrap(), None);
        assert!(store.object(&my_file.stored_key()).is_none());
        assert!(store.get_file(their_file.id).await.unwrap().is_some());
        assert!(store.object(&their_file.stored_key()).is_some());
        assert!(store.keys(user_id).await.unwrap().is_empty());
        assert_eq!(store.keys(other).await.unwrap().len(), 1);
    }

    #[tokio::test]
    async fn the_sweep_finishes_deletions_whose_job_never_ran() {
        let store = Memory::default();
        let user = domain::User::new(
            Email::parse("gone@example.com").unwrap(),
            domain::passwords::PasswordHash::from_stored("$argon2id$v=19$x".into()),
            None,
            domain::Role::User,
        );
        UserStore::create(&store, &user).await.unwrap();
        let item = Item::new(
            user.id,
            NewItem {
                title: Title::parse("t").unwrap(),
                description: None,
                price: None,
                is_available: None,
            },
        );
        store.insert(item.clone());
        UserStore::delete(&store, &user).await.unwrap();

        let patient = Worker::new(Outbox::default(), store.clone(), store.clone());
        assert_eq!(
            patient.sweep().await.unwrap(),
            Sweep::default(),
            "the job has time to run first"
        );
        assert!(Records::<Item>::get(&store, item.id).await.unwrap().is_some());

        let worker = Worker::new(Outbox::default(), store.clone(), store.clone()).sweeping_after(0);
        assert_eq!(worker.sweep().await.unwrap(), Sweep { finished: 1, failed: 0 });
        assert_eq!(Records::<Item>::get(&store, item.id).await.unwrap(), None);
        assert_eq!(
            worker.sweep().await.unwrap(),
            Sweep::default(),
            "a finished deletion is not swept again"
        );
    }

    #[tokio::test]
    async fn a_store_outage_fails_the_job_for_a_retry() {
        let store = Memory::default();
        store.set_down(true);
        let worker = Worker::new(Outbox::default(), store.clone(), store);
        let body = Envelope::new(Job::DeleteUserData {
            user_id: Uuid::new_v4(),
        })
        .to_body();
        let mut event = SqsEvent::default();
        event.records = vec![record("del", &body)];
        assert_eq!(worker.handle_batch(event).await.batch_item_failures.len(), 1);
    }
}
