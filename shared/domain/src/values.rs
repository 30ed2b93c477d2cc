//! Domain types parsed once at the edge: past their constructors, values are known to be valid.

use super::Invalid;
use serde::{Deserialize, Serialize};
use serde_json::{json, Number};
use std::fmt;
use validator::ValidateEmail;

/// An email address: syntactically valid, trimmed and stored lower-cased, so comparisons are
/// case-insensitive everywhere.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(transparent)]
pub struct Email(String);

impl Email {
    pub const MAX_LEN: usize = 254;

    /// Parses and normalises an address once, so one mailbox is one account: the local part in
    /// lower case, the domain through IDNA (UTS #46, which includes NFC) to its ASCII form — so a
    /// soft hyphen, fullwidth or mathematical letters, NFD and punycode spellings of one domain
    /// are the same address. Domain literals and quoted or malformed local parts are refused.
    pub fn parse(raw: &str) -> Result<Self, Invalid> {
        Self::normalise(raw.trim()).map(Self).map_err(|reason| {
            Invalid::new("value_error", format!("value is not a valid email address: {reason}"))
                .with_ctx(json!({ "reason": reason }))
        })
    }

    fn normalise(raw: &str) -> Result<String, &'static str> {
        const INVALID: &str = "The email address is not valid.";
        let (local, domain) = raw.rsplit_once('@').ok_or("An email address must have an @-sign.")?;
        if raw.len() > 4 * Self::MAX_LEN {
            return Err("The email address is too long.");
        }
        if domain.starts_with('[') {
            return Err("A domain literal is not accepted.");
        }
        // Local parts are ASCII (the address syntax check below takes no other), so lower case
        // is their whole normalisation.
        let local = local.to_lowercase();
        if !is_dot_atom(&local) {
            return Err(INVALID);
        }
        let domain = idna::domain_to_ascii_strict(domain).map_err(|_| INVALID)?;
        let candidate = format!("{local}@{domain}");
        if candidate.len() > Self::MAX_LEN {
            return Err("The email address is too long.");
        }
        if !candidate.validate_email() || !has_dotted_domain(&candidate) {
            return Err(INVALID);
        }
        Ok(candidate)
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// `user@localhost` passes RFC syntax but can never receive mail from SES; pydantic's
/// email-validator rejects it too.
/// RFC 5322's dot-atom, with UTF-8 allowed (RFC 6531): no empty, leading, trailing or doubled
/// dot, and no character that would need quoting.
fn is_dot_atom(local: &str) -> bool {
    let special = |c: char| c.is_control() || c.is_whitespace() || "\"(),:;<>@[\\]".contains(c);
    !local.is_empty()
        && local.len() <= 64
        && local.split('.').all(|atom| !atom.is_empty())
        && !local.chars().any(special)
}

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

/// Text of `min..=max` characters (counted as characters, as pydantic does).
fn text_between(raw: &str, min: usize, max: usize) -> Result<String, Invalid> {
    match raw.chars().count() {
        n if n < min => Err(Invalid::too_short(min)),
        n if n > max => Err(Invalid::too_long(max)),
        _ => Ok(raw.to_owned()),
    }
}

/// An item's or a post's title: 1–255 characters.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(transparent)]
pub struct Title(String);

impl Title {
    pub const MAX_LEN: usize = 255;

    pub fn parse(raw: &str) -> Result<Self, Invalid> {
        text_between(raw, 1, Self::MAX_LEN).map(Self)
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// An item's description: at most 255 characters.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(transparent)]
pub struct Description(String);

impl Description {
    pub const MAX_LEN: usize = 255;

    pub fn parse(raw: &str) -> Result<Self, Invalid> {
        text_between(raw, 0, Self::MAX_LEN).map(Self)
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// A post's body: 1–50 000 characters.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(transparent)]
pub struct PostContent(String);

impl PostContent {
    pub const MAX_LEN: usize = 50_000;

    pub fn parse(raw: &str) -> Result<Self, Invalid> {
        text_between(raw, 1, Self::MAX_LEN).map(Self)
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// A price: a finite number greater than zero that the table can store exactly (DynamoDB keeps
/// 38 significant digits between 1e-130 and 1e126).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(transparent)]
pub struct Price(Number);

impl Price {
    /// Largest magnitude accepted, well inside what the table stores.
    pub const MAX: f64 = 1e15;
    /// Smallest positive value accepted.
    pub const MIN: f64 = 1e-6;

    pub fn parse(number: Number) -> Result<Self, Invalid> {
        let value = number.as_f64().filter(|f| f.is_finite());
        match value {
            Some(f) if f <= 0.0 => {
                Err(Invalid::new("greater_than", "Input should be greater than 0").with_ctx(json!({ "gt": 0 })))
            }
            Some(f) if f > Self::MAX => Err(Invalid::new(
                "less_than_equal",
                format!("Input should be less than or equal to {}", Self::MAX),
            )
            .with_ctx(json!({ "le": Self::MAX }))),
            Some(f) if f < Self::MIN => Err(Invalid::new(
                "greater_than_equal",
                format!("Input should be greater than or equal to {}", Self::MIN),
            )
            .with_ctx(json!({ "ge": Self::MIN }))),
            Some(_)
                if number
                    .to_string()
                    .trim_start_matches('-')
                    .chars()
                    .filter(char::is_ascii_digit)
                    .count()
                    > 38 =>
            {
                Err(Invalid::new(
                    "decimal_max_digits",
                    "Decimal input should have no more than 38 digits in total",
                )
                .with_ctx(json!({ "max_digits": 38 })))
            }
            Some(_) => Ok(Self(number)),
            None => Err(Invalid::new("finite_number", "Input should be a finite number")),
        }
    }

    pub fn as_number(&self) -> &Number {
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
    /// Every role, least privileged first.
    pub const ALL: [Self; 4] = [Self::User, Self::Moderator, Self::Admin, Self::Superuser];

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
    fn one_mailbox_is_one_address_however_it_is_spelled() {
        let plain = Email::parse("a@example.com").unwrap();
        for spelling in [
            "a@exam\u{ad}ple.com",
            "a@\u{ff45}xample.com",
            "a@\u{1d41e}xample.com",
            "A@EXAMPLE.COM",
        ] {
            assert_eq!(Email::parse(spelling).unwrap(), plain, "{spelling:?}");
        }
        let nfc = Email::parse("jose@b\u{fc}cher.example").unwrap();
        assert_eq!(Email::parse("jose@bu\u{308}cher.example").unwrap(), nfc);
        assert_eq!(Email::parse("jose@xn--bcher-kva.example").unwrap(), nfc);
        assert_eq!(nfc.as_str(), "jose@xn--bcher-kva.example");
    }

    #[test]
    fn literals_and_bad_dot_atoms_are_refused() {
        for bad in [
            "u@[127.0.0.1]",
            ".a@example.com",
            "a.@example.com",
            "a..b@example.com",
            "\"a b\"@example.com",
            "a@exa_mple.com",
        ] {
            assert!(Email::parse(bad).is_err(), "{bad}");
        }
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

    #[test]
    fn titles_descriptions_and_contents_are_bounded_in_characters() {
        assert_eq!(Title::parse("").unwrap_err().kind, "string_too_short");
        assert_eq!(Title::parse(&"é".repeat(256)).unwrap_err().kind, "string_too_long");
        assert!(Title::parse(&"é".repeat(255)).is_ok());
        assert!(Description::parse("").is_ok());
        assert!(Description::parse(&"d".repeat(256)).is_err());
        assert_eq!(PostContent::parse("").unwrap_err().kind, "string_too_short");
        assert!(PostContent::parse(&"p".repeat(50_001)).is_err());
    }

    #[test]
    fn prices_are_positive_and_storable() {
        let price = |f: f64| Price::parse(Number::from_f64(f).unwrap());
        assert!(price(12.5).is_ok());
        assert_eq!(price(0.0).unwrap_err().kind, "greater_than");
        assert_eq!(price(-1.0).unwrap_err().kind, "greater_than");
        assert_eq!(price(1e200).unwrap_err().kind, "less_than_equal");
        assert_eq!(price(1e-200).unwrap_err().kind, "greater_than_equal");
    }
}
