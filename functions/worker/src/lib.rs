//! `worker`: consumes the jobs queue. Each record succeeds or fails on its own; failures are
//! reported as partial batch failures so only they return to the queue (and, after
//! `maxReceiveCount` receives, to the dead-letter queue).

use aws_lambda_events::event::sqs::{BatchItemFailure, SqsBatchResponse, SqsEvent, SqsMessage};
use shared::aws::AwsConfig;
use shared::config::{emails_from, ConfigError, Env};
use shared::email::{EmailSender, SendError, SesSender};
use shared::items::{self, ItemRecord};
use shared::jobs::{Envelope, EnvelopeError, Job};
use shared::posts::{self, PostRecord};
use shared::records::Listing;
use shared::resources::delete_all;
use shared::store::{keys, StoreError, Table};
use std::future::Future;
use uuid::Uuid;

/// Removes what a deleted user left behind. Must be idempotent: the job may run more than once.
pub trait UserData: Send + Sync {
    fn delete_user_data(&self, user_id: Uuid) -> impl Future<Output = Result<(), StoreError>> + Send;
}

impl UserData for Table {
    async fn delete_user_data(&self, user_id: Uuid) -> Result<(), StoreError> {
        self.revoke_user_sessions(user_id).await?;
        let listing = |partition: String| Listing {
            index: keys::GSI1,
            partition,
            before: None,
            contains: None,
        };
        let items = delete_all::<ItemRecord>(self, &listing(items::owner_partition(user_id))).await?;
        let mut posts = 0;
        for published in [true, false] {
            posts += delete_all::<PostRecord>(self, &listing(posts::author_partition(user_id, published))).await?;
        }
        tracing::info!(%user_id, items, posts, "user data deleted");
        Ok(())
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
            Job::DeleteUserData { user_id } => self.data.delete_user_data(user_id).await?,
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
    use shared::email::EmailMessage;
    use std::sync::Mutex;

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

    #[derive(Default)]
    struct Deleted(Mutex<Vec<Uuid>>);

    impl UserData for Deleted {
        async fn delete_user_data(&self, user_id: Uuid) -> Result<(), StoreError> {
            self.0
                .lock()
                .map(|mut d| d.push(user_id))
                .map_err(|_| StoreError::Corrupt("poisoned".into()))
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
            to: shared::domain::Email::parse("to@example.com").unwrap(),
            subject: subject.into(),
            html: "<p>x</p>".into(),
            text: "x".into(),
        }))
        .to_body()
    }

    #[tokio::test]
    async fn only_failed_records_are_reported() {
        let worker = Worker::new(Outbox::default(), Deleted::default());
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
    async fn delete_user_data_jobs_reach_the_store() {
        let worker = Worker::new(Outbox::default(), Deleted::default());
        let user_id = Uuid::new_v4();
        let mut event = SqsEvent::default();
        event.records = vec![record("del", &Envelope::new(Job::DeleteUserData { user_id }).to_body())];
        assert!(worker.handle_batch(event).await.batch_item_failures.is_empty());
        assert_eq!(*worker.data.0.lock().unwrap(), vec![user_id]);
    }
}
