//! `worker`: consumes the jobs queue. Each record succeeds or fails on its own; failures are
//! reported as partial batch failures so only they return to the queue (and, after
//! `maxReceiveCount` receives, to the dead-letter queue).

use aws_lambda_events::event::sqs::{BatchItemFailure, SqsBatchResponse, SqsEvent, SqsMessage};
use shared::aws::{AwsConfig, SesSender};
use shared::config::{emails_from, ConfigError, Env};
use shared::domain::accounts::delete_user_data;
use shared::domain::job::{Envelope, EnvelopeError, Job};
use shared::domain::ports::{EmailSender, ItemStore, PostStore, SendError, SessionStore};
use shared::domain::StoreError;
use shared::store::Table;

/// What the worker needs of a store: the delete-user cascade's sessions, items and posts.
pub trait UserData: SessionStore + ItemStore + PostStore {}
impl<S: SessionStore + ItemStore + PostStore> UserData for S {}

#[derive(Debug, thiserror::Error)]
pub enum JobError {
    #[error(transparent)]
    Envelope(#[from] EnvelopeError),
    #[error(transparent)]
    Email(#[from] SendError),
    #[error(transparent)]
    Store(#[from] StoreError),
}

pub struct Worker<E, D> {
    email: E,
    data: D,
}

impl Worker<SesSender, Table> {
    pub fn from_env(env: &impl Env) -> Result<Self, ConfigError> {
        let aws = AwsConfig::from_env(env)?;
        let table = Table::on_first_use(&aws, env.required("TABLE_NAME")?);
        Ok(Self::new(SesSender::new(aws.ses(), emails_from(env)?), table))
    }
}

impl<E: EmailSender, D: UserData> Worker<E, D> {
    pub fn new(email: E, data: D) -> Self {
        Self { email, data }
    }

    pub async fn handle_batch(&self, event: SqsEvent) -> SqsBatchResponse {
        let mut response = SqsBatchResponse::default();
        shared::metrics::invocation_started();
        let mut counts = shared::metrics::JobCounts::default();
        for record in &event.records {
            let message_id = record.message_id.clone().unwrap_or_default();
            match self.handle_record(record).await {
                Ok(kind) => {
                    counts.processed += 1;
                    counts.emails_sent += u32::from(kind == "send_email");
                    tracing::info!(message_id, kind, "job done")
                }
                Err(err) => {
                    counts.failed += 1;
                    tracing::error!(message_id, error = %err, receive_count = receive_count(record), "job failed");
                    let mut failure = BatchItemFailure::default();
                    failure.item_identifier = message_id;
                    response.batch_item_failures.push(failure);
                }
            }
        }
        counts.emf().emit();
        response
    }

    async fn handle_record(&self, record: &SqsMessage) -> Result<&'static str, JobError> {
        let envelope = Envelope::parse(record.body.as_deref().unwrap_or_default())?;
        let kind = envelope.job.kind();
        match envelope.job {
            Job::SendEmail(message) => {
                self.email.send(&message).await?;
            }
            Job::DeleteUserData { user_id } => {
                let (items, posts) = delete_user_data(&self.data, user_id).await?;
                tracing::info!(%user_id, items, posts, "user data deleted");
            }
        }
        Ok(kind)
    }
}

fn receive_count(record: &SqsMessage) -> Option<&str> {
    record.attributes.get("ApproximateReceiveCount").map(String::as_str)
}

#[cfg(test)]
mod tests {
    use super::*;
    use shared::domain::email::EmailMessage;
    use shared::domain::item::NewItem;
    use shared::domain::ports::Records;
    use shared::domain::{Email, Item, Title};
    use shared::store::memory::Memory;
    use std::sync::Mutex;
    use uuid::Uuid;

    /// An outbox whose sends fail for the subject "fail", as an unreachable SES would.
    #[derive(Default)]
    struct Outbox(Mutex<Vec<EmailMessage>>);

    impl EmailSender for Outbox {
        async fn send(&self, message: &EmailMessage) -> Result<String, SendError> {
            if message.subject == "fail" {
                return Err(SendError::Unavailable("down".into()));
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
    async fn only_failed_records_are_reported() {
        let worker = Worker::new(Outbox::default(), Memory::default());
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
        let worker = Worker::new(Outbox::default(), store.clone());
        let body = Envelope::new(Job::DeleteUserData { user_id }).to_body();
        let mut event = SqsEvent::default();
        event.records = vec![record("del", &body), record("again", &body)];
        assert!(worker.handle_batch(event).await.batch_item_failures.is_empty());
        assert_eq!(Records::<Item>::get(&store, mine.id).await.unwrap(), None);
        assert_eq!(Records::<Item>::get(&store, theirs.id).await.unwrap(), Some(theirs));
    }

    #[tokio::test]
    async fn a_store_outage_fails_the_job_for_a_retry() {
        let store = Memory::default();
        store.set_down(true);
        let worker = Worker::new(Outbox::default(), store);
        let body = Envelope::new(Job::DeleteUserData {
            user_id: Uuid::new_v4(),
        })
        .to_body();
        let mut event = SqsEvent::default();
        event.records = vec![record("del", &body)];
        assert_eq!(worker.handle_batch(event).await.batch_item_failures.len(), 1);
    }
}
