//! Argon2id password hashing with OWASP's recommended parameters (19 MiB, 2 passes, 1 lane),
//! which are the argon2 crate's defaults.

use super::values::Password;
use argon2::password_hash::{PasswordHasher, PasswordVerifier};
use argon2::Argon2;

/// A PHC string (`$argon2id$v=19$m=19456,t=2,p=1$…`). Never serialised into a response.
#[derive(Clone, PartialEq, Eq)]
pub struct PasswordHash(String);

impl std::fmt::Debug for PasswordHash {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("PasswordHash(***)")
    }
}

#[derive(Debug, thiserror::Error)]
#[error("password hashing failed: {0}")]
pub struct HashError(String);

impl PasswordHash {
    pub fn from_stored(phc: String) -> Self {
        Self(phc)
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

pub fn hash(password: &Password) -> Result<PasswordHash, HashError> {
    Argon2::default()
        .hash_password(password.expose().as_bytes())
        .map(|h| PasswordHash(h.to_string()))
        .map_err(|e| HashError(e.to_string()))
}

/// The hash of a random password nobody knows, with the same parameters as real ones. Login
/// verifies against it when the email is unknown, so both answers take the same time.
const DUMMY_HASH: &str =
    "$argon2id$v=19$m=19456,t=2,p=1$ZN3RmEuBHGwbXFRSBVDfPw$UWvXN3OT7J4SyiHfUhONQDjEa6QC6Wsn8UOr4w9zn/U";

/// Spends the time a real verification takes, and always fails.
pub fn verify_dummy(password: &str) -> bool {
    let _ = verify(password, &PasswordHash(DUMMY_HASH.to_owned()));
    false
}

/// True when `password` matches. A malformed stored hash never matches.
pub fn verify(password: &str, stored: &PasswordHash) -> bool {
    Argon2::default()
        .verify_password(password.as_bytes(), stored.as_str())
        .is_ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hashes_verify_and_are_salted() {
        let password = Password::parse("correct horse battery").unwrap();
        let first = hash(&password).unwrap();
        let second = hash(&password).unwrap();
        assert_ne!(first, second);
        assert!(first.as_str().starts_with("$argon2id$v=19$m=19456,t=2,p=1$"));
        assert!(verify("correct horse battery", &first));
        assert!(!verify("wrong horse battery", &first));
    }

    #[test]
    fn dummy_hash_is_a_real_argon2id_hash_that_never_matches() {
        assert!(argon2::password_hash::phc::PasswordHash::new(DUMMY_HASH).is_ok());
        assert!(!verify_dummy("changethis"));
    }

    #[test]
    fn malformed_stored_hash_never_matches() {
        assert!(!verify(
            "anything",
            &PasswordHash::from_stored("not-a-phc-string".into())
        ));
    }
}
