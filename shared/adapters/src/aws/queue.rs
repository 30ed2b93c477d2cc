//! The SQS queues: emails and other jobs the worker consumes (two queues, so that a slow job
//! never delays an email: `Job::is_email` picks one), and notifications the realtime function
//! fans out.

use domain::job::{Envelope, Job};
use domain::ports::{JobQueue, Notifier, Probe, QueueError};
use domain::realtime::{Audience, Event, Notification};
use uuid::Uuid;

#[derive(Debug)]
pub struct SqsQueue {
    client: crate::aws::Lazy<aws_sdk_sqs::Client>,
    url: String,
    emails_url: Option<String>,
    notifications_url: Option<String>,
}

impl SqsQueue {
    /// The client is built when the first job is sent: most requests send none.
    pub fn new(aws: &crate::aws::AwsConfig, url: impl Into<String>) -> Self {
        Self {
            client: crate::aws::Lazy::on_first_use(aws),
            url: url.into(),
            emails_url: None,
            notifications_url: None,
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
