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
            .send()
            .await
            .map_err(|err| {
                let text = aws_sdk_sesv2::error::DisplayErrorContext(&err).to_string();
                let rejected = err.as_service_error().is_some_and(|e| {
                    e.is_message_rejected()
                        || e.is_bad_request_exception()
                        || e.is_mail_from_domain_not_verified_exception()
                });
                if rejected {
                    SendError::Rejected(text)
                } else {
                    SendError::Unavailable(text)
                }
            })?;
        Ok(out.message_id.unwrap_or_default())
    }
}
