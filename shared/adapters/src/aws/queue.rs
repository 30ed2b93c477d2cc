//! The SQS queues: emails and other jobs the worker consumes (two queues, so that a slow job
//! never delays an email: `Job::is_email` picks one), and notifications the realtime function
//! fans out.

use domain::job::{Envelope, Job};
use domain::ports::{FanOutQueue, JobQueue, Notifier, Probe, QueueError};
use domain::realtime::{Audience, Event, FanOut, Notification};
use uuid::Uuid;

#[derive(Debug)]
pub struct SqsQueue {
    client: crate::aws::Lazy<aws_sdk_sqs::Client>,
    url: String,
    emails_url: Option<String>,
    notifications_url: Option<String>,
    fan_out_url: Option<String>,
}

/// SQS takes at most 10 messages and 256 KiB of bodies in one `SendMessageBatch`.
const BATCH_MESSAGES: usize = 10;
const BATCH_BYTES: usize = 256 * 1024;

impl SqsQueue {
    /// The client is built when the first job is sent: most requests send none.
    pub fn new(aws: &crate::aws::AwsConfig, url: impl Into<String>) -> Self {
        Self {
            client: crate::aws::Lazy::on_first_use(aws),
            url: url.into(),
            emails_url: None,
            notifications_url: None,
            fan_out_url: None,
        }
    }

    /// Emails go to the queue at `url`; without it, to the jobs queue with the rest.
    pub fn with_emails(mut self, url: impl Into<String>) -> Self {
        self.emails_url = Some(url.into());
        self
    }

    /// The queue a job goes to.
    fn url_of(&self, job: &Job) -> &str {
        match &self.emails_url {
            Some(emails) if job.is_email() => emails,
            _ => &self.url,
        }
    }

    /// The same client also queues notifications, to the queue at `url`.
    pub fn with_notifications(mut self, url: impl Into<String>) -> Self {
        self.notifications_url = Some(url.into());
        self
    }

    /// The same client also queues fan-out work, to the queue at `url`.
    pub fn with_fan_out(mut self, url: impl Into<String>) -> Self {
        self.fan_out_url = Some(url.into());
        self
    }
}

/// Bodies grouped as `SendMessageBatch` takes them: up to 10 and 256 KiB a batch.
fn batches(bodies: Vec<String>) -> Vec<Vec<String>> {
    let mut batches: Vec<Vec<String>> = Vec::new();
    let mut size = 0;
    for body in bodies {
        match batches.last_mut() {
            Some(batch) if batch.len() < BATCH_MESSAGES && size + body.len() <= BATCH_BYTES => {
                size += body.len();
                batch.push(body);
            }
            _ => {
                size = body.len();
                batches.push(vec![body]);
            }
        }
    }
    batches
}

impl FanOutQueue for SqsQueue {
    /// One `SendMessageBatch` per 10 messages (or 256 KiB); a batch any of whose messages SQS
    /// refused fails the call, and the caller's work is retried whole.
    async fn fan_out(&self, work: &[FanOut], delay_secs: u32) -> Result<(), QueueError> {
        let url = self
            .fan_out_url
            .as_deref()
            .ok_or_else(|| QueueError("no fan-out queue configured".into()))?;
        let client = self.client.get_with(crate::aws::AwsConfig::sqs);
        for batch in batches(work.iter().map(FanOut::to_body).collect()) {
            let entries = batch
                .into_iter()
                .enumerate()
                .map(|(i, body)| {
                    aws_sdk_sqs::types::SendMessageBatchRequestEntry::builder()
                        .id(i.to_string())
                        .message_body(body)
                        .delay_seconds(delay_secs.min(900) as i32)
                        .build()
                        .map_err(|e| QueueError(e.to_string()))
                })
                .collect::<Result<Vec<_>, _>>()?;
            let out = client
                .send_message_batch()
                .queue_url(url)
                .set_entries(Some(entries))
                .send()
                .await
                .map_err(|e| QueueError(aws_sdk_sqs::error::DisplayErrorContext(&e).to_string()))?;
            if let Some(failed) = out.failed.first() {
                return Err(QueueError(format!(
                    "{} of the batch refused: {} {}",
                    out.failed.len(),
                    failed.code,
                    failed.message.as_deref().unwrap_or_default()
                )));
            }
        }
        Ok(())
    }
}

impl Notifier for SqsQueue {
    async fn notify_to(
        &self,
        user_id: Uuid,
        audience: Audience,
        event: Event,
        data: serde_json::Value,
    ) -> Result<(), QueueError> {
        let url = self
            .notifications_url
            .as_deref()
            .ok_or_else(|| QueueError("no notifications queue configured".into()))?;
        self.client
            .get_with(crate::aws::AwsConfig::sqs)
            .send_message()
            .queue_url(url)
            .message_body(Notification::to(user_id, audience, event, data).to_body())
            .send()
            .await
            .map_err(|e| QueueError(aws_sdk_sqs::error::DisplayErrorContext(&e).to_string()))?;
        Ok(())
    }
}

impl Probe for SqsQueue {
    fn service(&self) -> &'static str {
        "queue"
    }

    async fn probe(&self) -> Result<(), String> {
        self.client
            .get_with(crate::aws::AwsConfig::sqs)
            .get_queue_attributes()
            .queue_url(&self.url)
            .attribute_names(aws_sdk_sqs::types::QueueAttributeName::ApproximateNumberOfMessages)
            .send()
            .await
            .map(|_| ())
            .map_err(|e| aws_sdk_sqs::error::DisplayErrorContext(&e).to_string())
    }
}

impl JobQueue for SqsQueue {
    async fn enqueue(&self, job: Job) -> Result<Uuid, QueueError> {
        let envelope = Envelope::new(job);
        let kind = aws_sdk_sqs::types::MessageAttributeValue::builder()
            .data_type("String")
            .string_value(envelope.job.kind())
            .build()
            .map_err(|e| QueueError(e.to_string()))?;
        self.client
            .get_with(crate::aws::AwsConfig::sqs)
            .send_message()
            .queue_url(self.url_of(&envelope.job))
            .message_body(envelope.to_body())
            .message_attributes("kind", kind)
            .delay_seconds(envelope.job.delay_seconds())
            .send()
            .await
            .map_err(|e| QueueError(aws_sdk_sqs::error::DisplayErrorContext(&e).to_string()))?;
        Ok(envelope.id)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use domain::email::EmailMessage;
    use domain::Email;

    fn queue(emails: Option<&str>) -> SqsQueue {
        let env = [
            ("AWS_REGION", "us-east-1"),
            ("AWS_ACCESS_KEY_ID", "k"),
            ("AWS_SECRET_ACCESS_KEY", "s"),
        ];
        let aws = crate::aws::AwsConfig::from_env(&env).unwrap();
        let queue = SqsQueue::new(&aws, "jobs");
        match emails {
            Some(url) => queue.with_emails(url),
            None => queue,
        }
    }

    #[test]
    fn emails_take_their_own_queue_and_every_other_job_the_jobs_queue() {
        let email = Job::SendEmail(EmailMessage {
            to: Email::parse("to@example.com").unwrap(),
            subject: "s".into(),
            html: "h".into(),
            text: "t".into(),
        });
        let cascade = Job::DeleteUserData { user_id: Uuid::nil() };
        let queue = queue(Some("emails"));
        assert_eq!(queue.url_of(&email), "emails");
        assert_eq!(queue.url_of(&cascade), "jobs");
        assert_eq!(self::queue(None).url_of(&email), "jobs");
    }
}
