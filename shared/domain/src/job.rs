//! Background jobs: a typed, versioned envelope carried as the body of an SQS message.

use super::email::EmailMessage;
use serde::{Deserialize, Serialize};
use time::OffsetDateTime;
use uuid::Uuid;

/// The envelope version this code writes and reads.
pub const ENVELOPE_VERSION: u32 = 1;

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", content = "payload", rename_all = "snake_case")]
pub enum Job {
    SendEmail(EmailMessage),
    /// Removes what a deleted user owned. Idempotent: safe to run twice or after a partial run.
    DeleteUserData {
        user_id: Uuid,
    },
    /// Rebuilds the feed's snapshot (`feed::refresh`): a published post changed.
    RefreshFeed,
}

impl Job {
    pub fn kind(&self) -> &'static str {
        match self {
            Self::SendEmail(_) => "send_email",
            Self::DeleteUserData { .. } => "delete_user_data",
            Self::RefreshFeed => "refresh_feed",
        }
    }

    /// How long the queue holds the job before a consumer sees it. A feed refresh waits for
    /// the change that asked for it to reach the index it lists (indexes are eventually
    /// consistent; their lag is typically well under a second).
    pub fn delay_seconds(&self) -> i32 {
        match self {
            Self::RefreshFeed => 1,
            _ => 0,
        }
    }

    /// Emails have a queue of their own, so that no slow job (a delete-user cascade) delays a
    /// password-reset email; every other kind, a new one included, goes to the jobs queue.
    pub fn is_email(&self) -> bool {
        matches!(self, Self::SendEmail(_))
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Envelope {
    pub version: u32,
    pub id: Uuid,
    #[serde(with = "time::serde::rfc3339")]
    pub created_at: OffsetDateTime,
    #[serde(flatten)]
    pub job: Job,
}

#[derive(Debug, thiserror::Error)]
pub enum EnvelopeError {
    #[error("message body is not a job envelope: {0}")]
    Malformed(String),
    #[error("unsupported envelope version {0}")]
    UnsupportedVersion(u32),
}

impl Envelope {
    pub fn new(job: Job) -> Self {
        Self {
            version: ENVELOPE_VERSION,
            id: Uuid::new_v4(),
            created_at: OffsetDateTime::now_utc(),
            job,
        }
    }

    pub fn to_body(&self) -> String {
        serde_json::to_string(self).unwrap_or_default()
    }

    /// Reads a message body. The version is checked first, so a newer producer's job is reported
    /// as such rather than as a malformed body.
    pub fn parse(body: &str) -> Result<Self, EnvelopeError> {
        #[derive(Deserialize)]
        struct VersionOnly {
            version: u32,
        }
        let VersionOnly { version } =
            serde_json::from_str(body).map_err(|e| EnvelopeError::Malformed(e.to_string()))?;
        if version != ENVELOPE_VERSION {
            return Err(EnvelopeError::UnsupportedVersion(version));
        }
        serde_json::from_str(body).map_err(|e| EnvelopeError::Malformed(e.to_string()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::Email;

    fn email_job() -> Job {
        Job::SendEmail(EmailMessage {
            to: Email::parse("to@example.com").unwrap(),
            subject: "Hi".into(),
            html: "<p>Hi</p>".into(),
            text: "Hi".into(),
        })
    }

    #[test]
    fn envelope_round_trips_with_kind_and_payload() {
        let envelope = Envelope::new(email_job());
        let body = envelope.to_body();
        let json: serde_json::Value = serde_json::from_str(&body).unwrap();
        assert_eq!(json["kind"], "send_email");
        assert_eq!(json["version"], 1);
        assert_eq!(json["payload"]["to"], "to@example.com");
        assert_eq!(Envelope::parse(&body).unwrap(), envelope);
    }

    #[test]
    fn only_emails_take_the_email_queue() {
        assert!(email_job().is_email());
        assert!(!Job::DeleteUserData { user_id: Uuid::nil() }.is_email());
    }

    #[test]
    fn unknown_kind_is_malformed() {
        let body = r#"{"version":1,"id":"00000000-0000-0000-0000-000000000000","created_at":"2026-01-01T00:00:00Z","kind":"launch_rockets","payload":{}}"#;
        assert!(matches!(Envelope::parse(body), Err(EnvelopeError::Malformed(_))));
    }

    #[test]
    fn newer_version_is_named() {
        let body = r#"{"version":2,"kind":"send_email"}"#;
        assert!(matches!(
            Envelope::parse(body),
            Err(EnvelopeError::UnsupportedVersion(2))
        ));
    }

    #[test]
    fn invalid_recipient_is_malformed() {
        let body = r#"{"version":1,"id":"00000000-0000-0000-0000-000000000000","created_at":"2026-01-01T00:00:00Z","kind":"send_email","payload":{"to":"nobody","subject":"s","html":"h","text":"t"}}"#;
        assert!(matches!(Envelope::parse(body), Err(EnvelopeError::Malformed(_))));
    }
}
