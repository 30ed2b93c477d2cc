//! The SES sender of outgoing email.

use domain::email::EmailMessage;
use domain::ports::{EmailSender, SendError};

#[derive(Clone, Debug)]
pub struct SesSender {
    client: aws_sdk_sesv2::Client,
    from: String,
}

impl SesSender {
    pub fn new(client: aws_sdk_sesv2::Client, from: impl Into<String>) -> Self {
        Self {
            client,
            from: from.into(),
        }
    }
}

impl EmailSender for SesSender {
    async fn send(&self, message: &EmailMessage) -> Result<String, SendError> {
        use aws_sdk_sesv2::types::{Body, Content, Destination, EmailContent, Message};
        let content = |data: &str| {
            Content::builder()
                .data(data)
                .charset("UTF-8")
                .build()
                .map_err(|e| SendError::Rejected(e.to_string()))
        };
        let body = Body::builder()
            .html(content(&message.html)?)
            .text(content(&message.text)?)
            .build();
        let email = Message::builder()
            .subject(content(&message.subject)?)
            .body(body)
            .build();
        let out = self
            .client
            .send_email()
            .from_email_address(&self.from)
            .destination(Destination::builder().to_addresses(message.to.as_str()).build())
            .content(EmailContent::builder().simple(email).build())
            // One attempt: the SDK retries a call that timed out, which SES may have taken, and
            // an email must not go out twice. The worker's retry (through the queue) is safe.
            .customize()
            .config_override(
                aws_sdk_sesv2::config::Builder::default()
                    .retry_config(aws_sdk_sesv2::config::retry::RetryConfig::disabled()),
            )
            .send()
            .await
            .map_err(|err| {
                use aws_sdk_sesv2::error::SdkError;
                let text = aws_sdk_sesv2::error::DisplayErrorContext(&err).to_string();
                match &err {
                    SdkError::ServiceError(service)
                        if service.err().is_message_rejected()
                            || service.err().is_bad_request_exception()
                            || service.err().is_mail_from_domain_not_verified_exception() =>
                    {
                        SendError::Rejected(text)
                    }
                    // SES answered, or was never reached: nothing was sent.
                    SdkError::ServiceError(_) | SdkError::ConstructionFailure(_) | SdkError::DispatchFailure(_) => {
                        SendError::Unavailable(text)
                    }
                    _ => SendError::Unanswered(text),
                }
            })?;
        Ok(out.message_id.unwrap_or_default())
    }
}
