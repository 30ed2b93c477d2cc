//! API keys for scripts and machines: what a key may do (`Scope`, `Scopes`), the key as its owner
//! sees it (`ApiKey`), and the key itself — issued once, kept only as its SHA-256.
//!
//! A key is `sbk_` and the base64url of 64 bytes: the key's id (16), its owner's id (16) and 32
//! random bytes. The ids let the authenticator read the owner's profile and the key's record in
//! one consistent `BatchGetItem`, as an access token's login is read; the random bytes are the
//! secret. Its first [`PREFIX_LEN`] characters (`sbk_` and 6 bytes of the key's random id) are
//! kept in the clear, so a user can tell their keys apart.

use crate::invalid::Invalid;
use crate::ports::ApiKeyStore;
use crate::secrets;
use crate::StoreError;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine as _;
use std::time::Duration;
use time::OffsetDateTime;
use uuid::Uuid;

/// What every key starts with, and how a bearer credential is told to be one.
pub const KEY_PREFIX: &str = "sbk_";
/// How much of a key is kept and shown: `sbk_` and 8 characters.
pub const PREFIX_LEN: usize = 12;
/// Keys a user may hold at once (expired ones count until deleted, or pruned when at the cap).
pub const MAX_KEYS_PER_USER: u64 = 20;
/// A key's life when its creator names none, and the longest it may have.
pub const DEFAULT_DAYS: i64 = 90;
pub const MAX_DAYS: i64 = 365;
/// `last_used_at` is written at most this often per key, so a busy key is not a write per request.
pub const TOUCH_EVERY: Duration = Duration::from_secs(60);

const ID_BYTES: usize = 16;
const SECRET_BYTES: usize = 32;
const KEY_BYTES: usize = 2 * ID_BYTES + SECRET_BYTES;
/// `sbk_` and the base64url of [`KEY_BYTES`] without padding.
const KEY_LEN: usize = KEY_PREFIX.len() + (KEY_BYTES * 4).div_ceil(3);

/// One thing a key may do. Every route of the API says which one a key needs; routes that say
/// none (accounts, sessions, keys, two-factor, passwords, other users) are never reached by a key.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Scope {
    ItemsRead,
    ItemsWrite,
    PostsRead,
    PostsWrite,
    FilesRead,
    FilesWrite,
    ProfileRead,
}

impl Scope {
    pub const ALL: [Self; 7] = [
        Self::ItemsRead,
        Self::ItemsWrite,
        Self::PostsRead,
        Self::PostsWrite,
        Self::FilesRead,
        Self::FilesWrite,
        Self::ProfileRead,
    ];

    pub const fn as_str(self) -> &'static str {
        match self {
            Self::ItemsRead => "items:read",
            Self::ItemsWrite => "items:write",
            Self::PostsRead => "posts:read",
            Self::PostsWrite => "posts:write",
            Self::FilesRead => "files:read",
            Self::FilesWrite => "files:write",
            Self::ProfileRead => "profile:read",
        }
    }

    pub fn parse(raw: &str) -> Result<Self, Invalid> {
        Self::ALL.into_iter().find(|s| s.as_str() == raw).ok_or_else(|| {
            let names: Vec<String> = Self::ALL.iter().map(|s| format!("'{}'", s.as_str())).collect();
            let (last, rest) = names.split_last().expect("scopes exist");
            Invalid::new("enum", format!("Input should be {} or {last}", rest.join(", ")))
                .with_ctx(serde_json::json!({ "expected": format!("{} or {last}", rest.join(", ")) }))
        })
    }

    const fn bit(self) -> u8 {
        1 << self as u8
    }
}

/// A set of scopes.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Scopes(u8);

impl Scopes {
    pub fn contains(self, scope: Scope) -> bool {
        self.0 & scope.bit() != 0
    }

    pub fn is_empty(self) -> bool {
        self.0 == 0
    }

    /// The scopes in their canonical order.
    pub fn iter(self) -> impl Iterator<Item = Scope> {
        Scope::ALL.into_iter().filter(move |s| self.contains(*s))
    }

    /// Reads stored names; an unknown one (written by a newer version) grants nothing.
    pub fn from_names<'a>(names: impl IntoIterator<Item = &'a str>) -> Self {
        names.into_iter().filter_map(|n| Scope::parse(n).ok()).collect()
    }
}

impl FromIterator<Scope> for Scopes {
    fn from_iter<I: IntoIterator<Item = Scope>>(iter: I) -> Self {
        Self(iter.into_iter().fold(0, |bits, s| bits | s.bit()))
    }
}

/// A key's name as its owner gave it: 1–64 characters.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KeyName(String);

impl KeyName {
    pub const MAX_LEN: usize = 64;

    pub fn parse(raw: &str) -> Result<Self, Invalid> {
        match raw.chars().count() {
            0 => Err(Invalid::too_short(1)),
            n if n > Self::MAX_LEN => Err(Invalid::too_long(Self::MAX_LEN)),
            _ => Ok(Self(raw.to_owned())),
        }
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// A key as its owner sees it, and as it is stored (with the digest of the key, never the key).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ApiKey {
    pub id: Uuid,
    pub user_id: Uuid,
    pub name: KeyName,
    pub prefix: String,
    pub scopes: Scopes,
    pub created_at: OffsetDateTime,
    pub expires_at: OffsetDateTime,
    pub last_used_at: Option<OffsetDateTime>,
    /// The SHA-256 of the whole key, hex.
    pub digest: String,
}

impl ApiKey {
    pub fn is_expired(&self, now: OffsetDateTime) -> bool {
        self.expires_at <= now
    }

    /// Whether a use at `now` should be written down (the last is older than [`TOUCH_EVERY`]).
    pub fn needs_touch(&self, now: OffsetDateTime) -> bool {
        self.last_used_at.is_none_or(|last| now - last >= TOUCH_EVERY)
    }

    /// Whether `presented` is this key: its digest, compared in constant time.
    pub fn matches(&self, presented: &Presented) -> bool {
        presented.key_id == self.id
            && presented.user_id == self.user_id
            && constant_time_eq(self.digest.as_bytes(), presented.digest.as_bytes())
    }
}

/// A user's keys as they are listed: newest first.
pub fn newest_first(keys: &mut [ApiKey]) {
    keys.sort_by(|a, b| b.created_at.cmp(&a.created_at).then(b.id.cmp(&a.id)));
}

fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

/// A new key: the key itself, shown once, and its record.
#[derive(Debug)]
pub struct Issued {
    pub key: String,
    pub api_key: ApiKey,
}

/// What a new key is asked to be.
#[derive(Debug, Clone)]
pub struct KeyRequest {
    pub name: KeyName,
    pub scopes: Scopes,
    /// 1..=[`MAX_DAYS`].
    pub days: i64,
}

/// Makes a new key of `user_id`.
pub fn issue(user_id: Uuid, request: KeyRequest, now: OffsetDateTime) -> Result<Issued, getrandom::Error> {
    let id = Uuid::new_v4();
    let mut bytes = [0u8; KEY_BYTES];
    bytes[..ID_BYTES].copy_from_slice(id.as_bytes());
    bytes[ID_BYTES..2 * ID_BYTES].copy_from_slice(user_id.as_bytes());
    getrandom::getrandom(&mut bytes[2 * ID_BYTES..])?;
    let key = format!("{KEY_PREFIX}{}", URL_SAFE_NO_PAD.encode(bytes));
    let api_key = ApiKey {
        id,
        user_id,
        name: request.name,
        prefix: key[..PREFIX_LEN].to_owned(),
        scopes: request.scopes,
        created_at: now,
        expires_at: now + time::Duration::days(request.days.clamp(1, MAX_DAYS)),
        last_used_at: None,
        digest: secrets::digest(&key),
    };
    Ok(Issued { key, api_key })
}

/// Keeps a new key. At the cap, the owner's expired keys are deleted and the create is tried
/// once more; `false` when the owner still holds [`MAX_KEYS_PER_USER`] keys.
pub async fn keep(store: &impl ApiKeyStore, key: &ApiKey, now: OffsetDateTime) -> Result<bool, StoreError> {
    if store.create_key(key).await? {
        return Ok(true);
    }
    let mut pruned = false;
    for old in store.keys(key.user_id).await?.iter().filter(|k| k.is_expired(now)) {
        pruned |= store.delete_key(old.user_id, old.id).await?;
    }
    if pruned {
        store.create_key(key).await
    } else {
        Ok(false)
    }
}

/// A bearer credential that has the shape of a key: whose key it claims to be, and its digest.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Presented {
    pub key_id: Uuid,
    pub user_id: Uuid,
    pub digest: String,
}

/// Whether a bearer credential is meant as a key (and not as an access token).
pub fn is_key(credential: &str) -> bool {
    credential.starts_with(KEY_PREFIX)
}

/// Reads a presented key; `None` for anything not of [`issue`]'s form.
pub fn presented(credential: &str) -> Option<Presented> {
    let encoded = credential
        .strip_prefix(KEY_PREFIX)
        .filter(|_| credential.len() == KEY_LEN)?;
    let bytes = URL_SAFE_NO_PAD.decode(encoded).ok()?;
    let bytes: [u8; KEY_BYTES] = bytes.try_into().ok()?;
    let id = |range: std::ops::Range<usize>| Uuid::from_slice(&bytes[range]).ok();
    Some(Presented {
        key_id: id(0..ID_BYTES)?,
        user_id: id(ID_BYTES..2 * ID_BYTES)?,
        digest: secrets::digest(credential),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn request(days: i64) -> KeyRequest {
        KeyRequest {
            name: KeyName::parse("ci").unwrap(),
            scopes: [Scope::ItemsRead, Scope::ProfileRead].into_iter().collect(),
            days,
        }
    }

    #[test]
    fn an_issued_key_reads_back_as_its_own_and_nothing_else_does() {
        let user = Uuid::new_v4();
        let now = OffsetDateTime::now_utc();
        let issued = issue(user, request(90), now).unwrap();
        assert!(issued.key.starts_with("sbk_"));
        assert_eq!(issued.key.len(), KEY_LEN);
        assert!(issued.key[4..]
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_'));
        assert_eq!(issued.api_key.prefix, issued.key[..12]);
        assert_ne!(issued.api_key.digest, issued.key);
        assert_eq!(issued.api_key.expires_at - now, time::Duration::days(90));
        let presented = presented(&issued.key).unwrap();
        assert_eq!((presented.key_id, presented.user_id), (issued.api_key.id, user));
        assert!(issued.api_key.matches(&presented));

        // One changed character of the secret: same ids, another digest.
        let mut forged = issued.key.clone();
        let last = forged.pop().unwrap();
        forged.push(if last == 'A' { 'B' } else { 'A' });
        if let Some(forged) = super::presented(&forged) {
            assert!(!issued.api_key.matches(&forged));
        }
        for bad in ["sbk_", "sbk_short", "eyJhbGciOi.x.y", &format!("{}x", issued.key), ""] {
            assert!(super::presented(bad).is_none(), "{bad}");
        }
        assert_ne!(
            issue(user, request(90), now).unwrap().api_key.prefix,
            issued.api_key.prefix
        );
    }

    #[test]
    fn scopes_read_their_names_and_refuse_others() {
        for scope in Scope::ALL {
            assert_eq!(Scope::parse(scope.as_str()), Ok(scope));
        }
        let err = Scope::parse("items:delete").unwrap_err();
        assert_eq!(err.kind, "enum");
        assert!(err.msg.contains("'profile:read'"), "{}", err.msg);
        let scopes = Scopes::from_names(["posts:write", "items:read", "nonsense"]);
        assert_eq!(scopes.iter().collect::<Vec<_>>(), [Scope::ItemsRead, Scope::PostsWrite]);
        assert!(!scopes.contains(Scope::ItemsWrite));
    }

    #[test]
    fn last_use_is_written_once_a_minute() {
        let now = OffsetDateTime::now_utc();
        let mut key = issue(Uuid::new_v4(), request(1), now).unwrap().api_key;
        assert!(key.needs_touch(now));
        key.last_used_at = Some(now - time::Duration::seconds(59));
        assert!(!key.needs_touch(now));
        key.last_used_at = Some(now - time::Duration::seconds(60));
        assert!(key.needs_touch(now));
        assert!(!key.is_expired(now));
        assert!(key.is_expired(now + time::Duration::days(1)));
    }

    #[test]
    fn names_are_one_to_sixty_four_characters() {
        assert!(KeyName::parse("").is_err());
        assert!(KeyName::parse(&"é".repeat(64)).is_ok());
        assert_eq!(KeyName::parse(&"a".repeat(65)).unwrap_err().kind, "string_too_long");
    }
}
