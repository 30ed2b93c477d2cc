//! `worker`: consumes the jobs queue. Each record succeeds or fails on its own; failures are
//! reported as partial batch failures so only they return to the queue (and, after
//! `maxReceiveCount` receives, to the dead-letter queue).

use aws_lambda_events::event::sqs::{BatchItemFailure, SqsBatchResponse, SqsEvent, SqsMessage};
use shared::aws::AwsConfig;
use shared::config::{emails_from, ConfigError, Env};
use shared::email::{EmailSender, SendError, SesSender};
use shared::jobs::{Envelope, EnvelopeError, Job};

#[derive(Debug, thiserror::Error)]
pub enum JobError {
    #[error(transparent)]
    Envelope(#[from] EnvelopeError),
    #[error(transparent)]
    Email(#[from] SendError),
}

pub struct Worker<E> {
    email: E,
}

impl Worker<SesSender> {
    pub fn from_env(env: &impl Env) -> Result<Self, ConfigError> {
        let aws = AwsConfig::from_env(env)?;
        Ok(Self::new(SesSender::new(aws.ses(), emails_from(env)?)))
    }
}

impl<E: EmailSender> Worker<E> {
    pub fn new(email: E) -> Self {
        Self { email }
    }

    pub async fn handle_batch(&self, event: SqsEvent) -> SqsBatchResponse {
        let mut response = SqsBatchResponse::default();
        for record in &event.records {
            let message_id = record.message_id.clone().unwrap_or_default();
            match self.handle_record(record).await {
                Ok(kind) => tracing::info!(message_id, kind, "job done"),
                Err(err) => {
                    tracing::error!(message_id, error = %err, receive_count = receive_count(record), "job failed");
                    let mut failure = BatchItemFailure::default();
                    failure.item_identifier = message_id;
                    response.batch_item_failures.push(failure);
                }
            }
        }
        response
    }

    async fn handle_record(&self, record: &SqsMessage) -> Result<&'static str, JobError> {
        let envelope = Envelope::parse(record.body.as_deref().unwrap_or_default())?;
        let kind = envelope.job.kind();
        match envelope.job {
            Job::SendEmail(message) => {
                self.email.send(&message).await?;
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
        let worker = Worker::new(Outbox::default());
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
}
