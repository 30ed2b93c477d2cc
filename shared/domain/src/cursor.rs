//! Paging cursors: the position (the sort key of the last row served) and the listing it
//! belongs to, signed with a key derived from the server secret, so a forged cursor, or one from
//! another user's listing, fails to verify.

use crate::config::JwtSecret;
use crate::Invalid;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use hmac::{Hmac, Mac};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

type HmacSha256 = Hmac<Sha256>;

#[derive(Clone)]
pub struct CursorKey([u8; 32]);

impl CursorKey {
    /// A key of its own, so a cursor can never be confused with a token.
    pub fn derive(secret: &JwtSecret) -> Self {
        let mut hasher = Sha256::new();
        hasher.update(b"paging-cursor-v1:");
        hasher.update(secret.bytes());
        Self(hasher.finalize().into())
    }

    fn mac(&self) -> HmacSha256 {
        // An HMAC accepts keys of any length; 32 bytes cannot fail.
        <HmacSha256 as Mac>::new_from_slice(&self.0).unwrap_or_else(|_| unreachable!("HMAC takes any key length"))
    }

    /// A cursor for `scope` (who lists what, with which filters) continuing after `last`.
    pub fn sign(&self, scope: &str, last: &str) -> String {
        let payload = serde_json::to_vec(&Payload {
            v: 1,
            scope: scope.to_owned(),
            last: last.to_owned(),
        })
        .unwrap_or_default();
        let mut mac = self.mac();
        mac.update(&payload);
        let tag = mac.finalize().into_bytes();
        format!("{}.{}", URL_SAFE_NO_PAD.encode(&payload), URL_SAFE_NO_PAD.encode(tag))
    }

    /// The position a cursor continues after, if it is ours and for this `scope`.
    pub fn verify(&self, scope: &str, cursor: &str) -> Result<String, Invalid> {
        let invalid = || Invalid::new("value_error", "Value error, invalid cursor");
        let (payload, tag) = cursor.split_once('.').ok_or_else(invalid)?;
        let payload = URL_SAFE_NO_PAD.decode(payload).map_err(|_| invalid())?;
        let tag = URL_SAFE_NO_PAD.decode(tag).map_err(|_| invalid())?;
        let mut mac = self.mac();
        mac.update(&payload);
        mac.verify_slice(&tag).map_err(|_| invalid())?;
        let payload: Payload = serde_json::from_slice(&payload).map_err(|_| invalid())?;
        if payload.v != 1 || payload.scope != scope {
            return Err(invalid());
        }
        Ok(payload.last)
    }
}

#[derive(Serialize, Deserialize)]
struct Payload {
    v: u8,
    scope: String,
    last: String,
}

#[cfg(test)]
mod tests {
    use super::*;
    use base64::engine::general_purpose::URL_SAFE_NO_PAD;

    fn key(secret: &str) -> CursorKey {
        CursorKey::derive(&JwtSecret::parse(secret.to_owned()).unwrap())
    }

    const SECRET: &str = "an-example-secret-of-at-least-32-bytes";

    #[test]
    fn cursors_round_trip_within_their_scope() {
        let cursor = key(SECRET).sign("items:owner:1", "2026-01-01T00:00:00Z#abc");
        assert_eq!(
            key(SECRET).verify("items:owner:1", &cursor),
            Ok("2026-01-01T00:00:00Z#abc".to_owned())
        );
    }

    #[test]
    fn another_scope_or_key_or_a_forgery_fails() {
        let cursor = key(SECRET).sign("items:owner:1", "x");
        assert!(key(SECRET).verify("items:owner:2", &cursor).is_err());
        assert!(key("another-secret-that-is-32-bytes-long!")
            .verify("items:owner:1", &cursor)
            .is_err());
        let (payload, tag) = cursor.split_once('.').unwrap();
        let forged_payload = URL_SAFE_NO_PAD.encode(br#"{"v":1,"scope":"items:owner:1","last":"y"}"#);
        assert!(key(SECRET)
            .verify("items:owner:1", &format!("{forged_payload}.{tag}"))
            .is_err());
        assert!(key(SECRET).verify("items:owner:1", payload).is_err());
        assert!(key(SECRET).verify("items:owner:1", "%%%").is_err());
    }
}
