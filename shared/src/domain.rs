//! Domain types parsed once at the edge: past their constructors, values are known to be valid.

use crate::validation::Invalid;
use serde::{Deserialize, Serialize};
use serde_json::json;
use std::fmt;
use validator::ValidateEmail;

/// An email address: syntactically valid, trimmed and stored lower-cased, so comparisons are
/// case-insensitive everywhere.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(transparent)]
pub struct Email(String);

impl Email {
    pub const MAX_LEN: usize = 254;

    pub fn parse(raw: &str) -> Result<Self, Invalid> {
        let candidate = raw.trim().to_lowercase();
        let reason = if !candidate.contains('@') {
            Some("An email address must have an @-sign.")
        } else if candidate.len() > Self::MAX_LEN {
            Some("The email address is too long.")
        } else if !candidate.validate_email() || !has_dotted_domain(&candidate) {
            Some("The email address is not valid.")
        } else {
            None
        };
        match reason {
            None => Ok(Self(candidate)),
            Some(reason) => Err(
                Invalid::new("value_error", format!("value is not a valid email address: {reason}"))
                    .with_ctx(json!({ "reason": reason })),
            ),
        }
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// `user@localhost` passes RFC syntax but can never receive mail from SES; pydantic's
/// email-validator rejects it too.
fn has_dotted_domain(email: &str) -> bool {
    email
        .rsplit_once('@')
        .is_some_and(|(_, domain)| domain.contains('.') && !domain.starts_with('.') && !domain.ends_with('.'))
}

impl fmt::Display for Email {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// A plain-text password as the client sent it: 8–128 characters. Its `Debug` never shows it.
#[derive(Clone, PartialEq, Eq)]
pub struct Password(String);

impl Password {
    pub const MIN_LEN: usize = 8;
    pub const MAX_LEN: usize = 128;

    pub fn parse(raw: &str) -> Result<Self, Invalid> {
        let chars = raw.chars().count();
        if chars < Self::MIN_LEN {
            Err(Invalid::too_short(Self::MIN_LEN))
        } else if chars > Self::MAX_LEN {
            Err(Invalid::too_long(Self::MAX_LEN))
        } else {
            Ok(Self(raw.to_owned()))
        }
    }

    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for Password {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Password(***)")
    }
}

/// A person's display name, at most 255 characters.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(transparent)]
pub struct FullName(String);

impl FullName {
    pub const MAX_LEN: usize = 255;

    pub fn parse(raw: &str) -> Result<Self, Invalid> {
        if raw.chars().count() > Self::MAX_LEN {
            Err(Invalid::too_long(Self::MAX_LEN))
        } else {
            Ok(Self(raw.to_owned()))
        }
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// What a role lets its holder do, as the contract's Roles table says.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Permission {
    Read,
    Write,
    Delete,
    Admin,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, Default)]
#[serde(rename_all = "lowercase")]
pub enum Role {
    #[default]
    User,
    Moderator,
    Admin,
    Superuser,
}

impl Role {
    pub fn parse(raw: &str) -> Result<Self, Invalid> {
        match raw {
            "user" => Ok(Self::User),
            "moderator" => Ok(Self::Moderator),
            "admin" => Ok(Self::Admin),
            "superuser" => Ok(Self::Superuser),
            _ => Err(
                Invalid::new("enum", "Input should be 'user', 'moderator', 'admin' or 'superuser'")
                    .with_ctx(json!({ "expected": "'user', 'moderator', 'admin' or 'superuser'" })),
            ),
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Self::User => "user",
            Self::Moderator => "moderator",
            Self::Admin => "admin",
            Self::Superuser => "superuser",
        }
    }

    pub fn can(self, permission: Permission) -> bool {
        use Permission::*;
        match self {
            Self::User => matches!(permission, Read),
            Self::Moderator => matches!(permission, Read | Write),
            Self::Admin => matches!(permission, Read | Write | Delete),
            Self::Superuser => true,
        }
    }

    pub fn is_superuser(self) -> bool {
        self == Self::Superuser
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn email_is_trimmed_and_lowercased() {
        assert_eq!(
            Email::parse("  Alice@Example.COM ").unwrap().as_str(),
            "alice@example.com"
        );
    }

    #[test]
    fn email_without_at_sign_explains_why() {
        let err = Email::parse("alice.example.com").unwrap_err();
        assert_eq!(err.kind, "value_error");
        assert!(err.msg.contains("@-sign"));
    }

    #[test]
    fn email_needs_a_real_domain() {
        assert!(Email::parse("alice@localhost").is_err());
        assert!(Email::parse("alice@").is_err());
        assert!(Email::parse("a b@example.com").is_err());
        assert!(Email::parse(&format!("{}@example.com", "a".repeat(250))).is_err());
    }

    #[test]
    fn password_length_is_counted_in_characters() {
        assert!(Password::parse("ééééééé").is_err());
        assert!(Password::parse("éééééééé").is_ok());
        assert_eq!(Password::parse(&"x".repeat(129)).unwrap_err().kind, "string_too_long");
    }

    #[test]
    fn password_debug_hides_the_secret() {
        let password = Password::parse("hunter2hunter2").unwrap();
        assert!(!format!("{password:?}").contains("hunter2"));
    }

    #[test]
    fn full_name_is_capped() {
        assert!(FullName::parse(&"n".repeat(255)).is_ok());
        assert!(FullName::parse(&"n".repeat(256)).is_err());
    }

    #[test]
    fn roles_grant_what_the_contract_says() {
        assert!(Role::User.can(Permission::Read) && !Role::User.can(Permission::Write));
        assert!(Role::Moderator.can(Permission::Write) && !Role::Moderator.can(Permission::Delete));
        assert!(Role::Admin.can(Permission::Delete) && !Role::Admin.can(Permission::Admin));
        assert!(Role::Superuser.can(Permission::Admin) && Role::Superuser.is_superuser());
        assert_eq!(Role::parse("root").unwrap_err().kind, "enum");
    }
}
