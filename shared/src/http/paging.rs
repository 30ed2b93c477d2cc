//! Paging: `skip`, `limit` and `cursor`, and the opaque, tamper-evident cursors: the position (the sort key of the last row served) and
//! the listing it belongs to, signed with a key derived from the server secret. A forged cursor,
//! or one from another user's listing, fails to verify and is a 422.

use super::error::{ApiError, ApiResult};
use super::validation::{scalar, Echo, FieldError, Fields, FromFields, Loc, Read};
use crate::config::JwtSecret;
use crate::domain::{Invalid, Owned};
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use hmac::{Hmac, Mac};
use serde::{Deserialize, Serialize};
use serde_json::Value;
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

/// The largest page any listing serves; more is a 422.
pub const MAX_LIMIT: i64 = 1000;
/// The deepest `skip`: every skipped row is read, so deeper pages go by `cursor`.
pub const MAX_SKIP: i64 = 10_000;

/// `skip`, `limit` and `cursor` of a listing.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Paging {
    pub skip: usize,
    pub limit: usize,
    cursor: Option<String>,
}

impl Paging {
    /// Reads the paging parameters into `fields`, so their errors join the route's own.
    pub fn read(fields: &mut Fields<'_>) -> Read<Self> {
        let skip = fields.optional("skip", Echo::Yes, |v| {
            scalar::integer(v, 0, MAX_SKIP).map_err(|invalid| match invalid.kind {
                "less_than_equal" => Invalid::new(
                    "less_than_equal",
                    format!("Input should be less than or equal to {MAX_SKIP}; page deeper with `cursor`"),
                )
                .with_ctx(serde_json::json!({ "le": MAX_SKIP })),
                _ => invalid,
            })
        });
        let limit = fields.optional("limit", Echo::Yes, |v| scalar::integer(v, 0, MAX_LIMIT));
        let cursor = fields.optional("cursor", Echo::Yes, |v| scalar::string(v).map(str::to_owned));
        Ok(Self {
            skip: usize::try_from(skip?.unwrap_or(0)).unwrap_or(0),
            limit: usize::try_from(limit?.unwrap_or(100)).unwrap_or(100),
            cursor: cursor?.filter(|c| !c.is_empty()),
        })
    }

    /// The sort key to continue before, when a cursor was sent; a cursor that is not ours or
    /// belongs to another listing is a 422.
    pub fn position(&self, key: &CursorKey, scope: &str) -> ApiResult<Option<String>> {
        let Some(cursor) = &self.cursor else { return Ok(None) };
        key.verify(scope, cursor).map(Some).map_err(|invalid| {
            ApiError::validation(FieldError::new(
                Loc::query("cursor"),
                invalid,
                Value::String(cursor.clone()),
            ))
        })
    }

    /// The rows to fetch: the page after `skip`, plus one to tell whether more follow.
    pub fn wanted(&self) -> usize {
        self.skip + self.limit + 1
    }

    /// The page out of `rows` (fetched with `wanted()`), and the cursor after it when more follow.
    pub fn page<T: Owned>(&self, rows: Vec<T>, key: &CursorKey, scope: &str) -> (Vec<T>, Option<String>) {
        self.page_by(rows, key, scope, T::sort_key)
    }

    /// [`Self::page`] of rows whose position is `sort_key`.
    pub fn page_by<T>(
        &self,
        mut rows: Vec<T>,
        key: &CursorKey,
        scope: &str,
        sort_key: impl Fn(&T) -> String,
    ) -> (Vec<T>, Option<String>) {
        let more = rows.len() > self.skip + self.limit;
        rows.truncate(self.skip + self.limit);
        let page: Vec<T> = rows.into_iter().skip(self.skip).collect();
        let next = if more {
            page.last().map(|last| key.sign(scope, &sort_key(last)))
        } else {
            None
        };
        (page, next)
    }
}

impl FromFields for Paging {
    fn from_fields(fields: &mut Fields<'_>) -> Read<Self> {
        Self::read(fields)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

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
