//! Outgoing email: the message, the templates of this product, and the SES sender.

use super::values::Email;
use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct EmailMessage {
    #[serde(deserialize_with = "deserialize_email")]
    pub to: Email,
    pub subject: String,
    pub html: String,
    pub text: String,
}

/// A job from the queue is input like any other: its address is parsed, not trusted.
fn deserialize_email<'de, D: serde::Deserializer<'de>>(deserializer: D) -> Result<Email, D::Error> {
    let raw = String::deserialize(deserializer)?;
    Email::parse(&raw).map_err(|invalid| serde::de::Error::custom(invalid.msg))
}

/// The email `POST /utils/test-email/` sends.
pub fn test_email(project_name: &str, to: Email) -> EmailMessage {
    let subject = format!("{project_name} - Test email");
    EmailMessage {
        to,
        html: format!("<p>Test email from {}</p>", escape_html(project_name)),
        text: format!("Test email from {project_name}"),
        subject,
    }
}

/// Hours a password-reset link stays valid.
pub const RESET_TOKEN_HOURS: u64 = 48;

/// The email `POST /password-recovery/{email}` sends, with its single-use reset link.
pub fn password_recovery(project_name: &str, frontend_host: &str, to: Email, token: &str) -> EmailMessage {
    let link = format!("{frontend_host}/reset-password?token={token}");
    let subject = format!("{project_name} - Password recovery for user {to}");
    EmailMessage {
        html: format!(
            "<p>Hello {email},</p>\
             <p>We received a request to recover the password of your {project} account.</p>\
             <p><a href=\"{link}\">Reset your password</a></p>\
             <p>The link is valid for {RESET_TOKEN_HOURS} hours and works once. \
             If you did not ask for it, you can ignore this email.</p>",
            email = escape_html(to.as_str()),
            project = escape_html(project_name),
            link = escape_html(&link),
        ),
        text: format!(
            "Hello {to},\n\nReset the password of your {project_name} account here (valid {RESET_TOKEN_HOURS} hours, once):\n{link}\n\nIf you did not ask for it, ignore this email.\n"
        ),
        subject,
        to,
    }
}

/// The email an administrator's `POST /users/` sends to the new user, with a link that verifies
/// the address (`verify_token`). It never carries the password.
pub fn new_account(project_name: &str, frontend_host: &str, to: Email, verify_token: &str) -> EmailMessage {
    let link = verification_link(frontend_host, verify_token);
    let subject = format!("{project_name} - New account for user {to}");
    EmailMessage {
        html: format!(
            "<p>Welcome to {project}!</p><p>An account was created for {email}.</p>\
             <p><a href=\"{host}\">Go to the dashboard</a></p>\
             <p><a href=\"{link}\">Verify your email address</a> (valid for {VERIFY_TOKEN_HOURS} hours, once).</p>",
            project = escape_html(project_name),
            email = escape_html(to.as_str()),
            host = escape_html(frontend_host),
            link = escape_html(&link),
        ),
        text: format!(
            "Welcome to {project_name}!\n\nAn account was created for {to}: {frontend_host}\n\nVerify your email address here (valid {VERIFY_TOKEN_HOURS} hours, once):\n{link}\n"
        ),
        subject,
        to,
    }
}

/// Hours an email-verification link stays valid.
pub const VERIFY_TOKEN_HOURS: u64 = 48;

fn verification_link(frontend_host: &str, token: &str) -> String {
    format!("{frontend_host}/verify-email?token={token}")
}

/// The email that asks the owner of a new address (a signup, an email change, a resend) to
/// follow its single-use verification link.
pub fn verify_email(project_name: &str, frontend_host: &str, to: Email, token: &str) -> EmailMessage {
    let link = verification_link(frontend_host, token);
    let subject = format!("{project_name} - Verify your email {to}");
    EmailMessage {
        html: format!(
            "<p>Hello {email},</p>\
             <p>Please confirm that this address belongs to your {project} account.</p>\
             <p><a href=\"{link}\">Verify your email address</a></p>\
             <p>The link is valid for {VERIFY_TOKEN_HOURS} hours and works once. \
             If you did not ask for it, you can ignore this email.</p>",
            email = escape_html(to.as_str()),
            project = escape_html(project_name),
            link = escape_html(&link),
        ),
        text: format!(
            "Hello {to},\n\nConfirm that this address belongs to your {project_name} account here (valid {VERIFY_TOKEN_HOURS} hours, once):\n{link}\n\nIf you did not ask for it, ignore this email.\n"
        ),
        subject,
        to,
    }
}

pub fn escape_html(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#x27;"),
            c => out.push(c),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn recovery_email_carries_the_link_and_its_validity() {
        let message = password_recovery(
            "Acme",
            "http://localhost:5173",
            Email::parse("a@example.com").unwrap(),
            "tok123",
        );
        assert!(message
            .html
            .contains("http://localhost:5173/reset-password?token=tok123"));
        assert!(message.text.contains("48 hours"));
        assert_eq!(message.subject, "Acme - Password recovery for user a@example.com");
    }

    #[test]
    fn verification_emails_carry_their_link() {
        let to = || Email::parse("a@example.com").unwrap();
        let message = verify_email("Acme", "http://localhost:5173", to(), "tok123");
        assert!(message.html.contains("http://localhost:5173/verify-email?token=tok123"));
        assert!(message.text.contains("48 hours"));
        assert_eq!(message.subject, "Acme - Verify your email a@example.com");
        let welcome = new_account("Acme", "http://localhost:5173", to(), "tok456");
        assert!(welcome.html.contains("/verify-email?token=tok456"));
    }

    #[test]
    fn test_email_names_the_project_safely() {
        let message = test_email("<Acme>", Email::parse("x@example.com").unwrap());
        assert_eq!(message.subject, "<Acme> - Test email");
        assert!(message.html.contains("&lt;Acme&gt;"));
    }
}
