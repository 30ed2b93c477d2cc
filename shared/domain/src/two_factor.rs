//! Two-factor login by TOTP (RFC 6238: HMAC-SHA1, 6 digits, 30 s steps, one step either side)
//! and recovery codes: the secret and how it is kept (sealed with AES-256-GCM under a key derived
//! from the server secret, bound to its user), the codes a client may send, and the one check
//! of a code that login and disabling share — a code accepted once, whatever races it.

use crate::config::JwtSecret;
use crate::ports::TwoFactorStore;
use crate::session::Limit;
use crate::StoreError;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use hmac::{Hmac, Mac};
use ring::aead::{Aad, LessSafeKey, Nonce, UnboundKey, AES_256_GCM, NONCE_LEN};
use sha2::Sha256;
use std::fmt;
use std::time::Duration;
use uuid::Uuid;

/// Seconds per TOTP step.
pub const STEP_SECS: u64 = 30;
/// Digits of a code.
pub const DIGITS: usize = 6;
/// Steps accepted either side of now (clock drift, a code typed as it turned).
pub const SKEW: u64 = 1;
/// Recovery codes made when two-factor is turned on.
pub const RECOVERY_CODES: usize = 10;
/// How long an `mfa_token` (the login between password and code) lasts.
pub const CHALLENGE_TTL: Duration = Duration::from_secs(5 * 60);
/// Codes one `mfa_token` may be tried with: the fifth wrong one ends it.
pub const CHALLENGE_ATTEMPTS: u64 = 5;
/// Codes tried per account (logins and disabling), counted before each is checked, so parallel
/// guesses cannot pass it; a right code is given back.
pub const CODES_PER_ACCOUNT: Limit = Limit {
    scope: "2fa-code-user",
    max: 10,
    window: Duration::from_secs(15 * 60),
};

/// RFC 4648's base32 alphabet (authenticator apps take the secret in it).
const BASE32: &[u8; 32] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZ234567";

/// Base32 without padding.
pub fn base32(bytes: &[u8]) -> String {
    let mut out = String::with_capacity(bytes.len().div_ceil(5) * 8);
    let (mut buffer, mut bits) = (0u32, 0u32);
    for &byte in bytes {
        buffer = (buffer << 8) | u32::from(byte);
        bits += 8;
        while bits >= 5 {
            bits -= 5;
            out.push(char::from(BASE32[((buffer >> bits) & 31) as usize]));
        }
    }
    if bits > 0 {
        out.push(char::from(BASE32[((buffer << (5 - bits)) & 31) as usize]));
    }
    out
}

/// Equal without telling where they differ by the time it takes.
fn same(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

fn random<const N: usize>() -> Result<[u8; N], StoreError> {
    let mut bytes = [0u8; N];
    getrandom::getrandom(&mut bytes).map_err(|e| StoreError::Unavailable(format!("no randomness: {e}")))?;
    Ok(bytes)
}

/// The step that holds `now` (epoch seconds).
pub fn step_at(now: u64) -> u64 {
    now / STEP_SECS
}

/// A user's TOTP secret: 160 random bits, as RFC 4226 recommends. Its `Debug` never shows it.
#[derive(Clone, PartialEq, Eq)]
pub struct TotpSecret([u8; 20]);

impl fmt::Debug for TotpSecret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("TotpSecret(***)")
    }
}

impl TotpSecret {
    pub fn generate() -> Result<Self, StoreError> {
        random().map(Self)
    }

    /// The secret from its base32 form (as an authenticator app reads it); `None` unless it is
    /// 32 characters of RFC 4648's alphabet.
    pub fn from_base32(text: &str) -> Option<Self> {
        let (mut buffer, mut bits, mut out) = (0u64, 0u32, Vec::with_capacity(20));
        for c in text.bytes() {
            let value = BASE32.iter().position(|&b| b == c.to_ascii_uppercase())?;
            buffer = (buffer << 5) | value as u64;
            bits += 5;
            if bits >= 8 {
                bits -= 8;
                out.push((buffer >> bits) as u8);
            }
        }
        out.try_into().ok().map(Self)
    }

    /// The secret as an authenticator app is given it.
    pub fn base32(&self) -> String {
        base32(&self.0)
    }

    /// The code of `step` (RFC 4226's HOTP with the step as the counter).
    pub fn code(&self, step: u64) -> u32 {
        let key = ring::hmac::Key::new(ring::hmac::HMAC_SHA1_FOR_LEGACY_USE_ONLY, &self.0);
        let tag = ring::hmac::sign(&key, &step.to_be_bytes());
        let mac = tag.as_ref();
        let offset = usize::from(mac[mac.len() - 1] & 0x0f);
        let binary = u32::from_be_bytes([mac[offset] & 0x7f, mac[offset + 1], mac[offset + 2], mac[offset + 3]]);
        binary % 10u32.pow(DIGITS as u32)
    }

    /// The step within [`SKEW`] of `now` whose code `code` is, later than `after` (the last step
    /// accepted: a code is good once).
    pub fn matching_step(&self, code: &TotpCode, now: u64, after: Option<u64>) -> Option<u64> {
        let current = step_at(now);
        let wanted = code.0.as_bytes();
        (current.saturating_sub(SKEW)..=current + SKEW)
            .filter(|step| after.is_none_or(|last| *step > last))
            .find(|step| {
                same(
                    format!("{:0width$}", self.code(*step), width = DIGITS).as_bytes(),
                    wanted,
                )
            })
    }

    /// `otpauth://totp/…`: what the QR code holds for an authenticator app.
    pub fn otpauth_uri(&self, issuer: &str, account: &str) -> String {
        format!(
            "otpauth://totp/{}:{}?secret={}&issuer={}&algorithm=SHA1&digits={DIGITS}&period={STEP_SECS}",
            uri_encode(issuer),
            uri_encode(account),
            self.base32(),
            uri_encode(issuer),
        )
    }
}

/// Percent-encoding of everything but RFC 3986's unreserved characters.
fn uri_encode(raw: &str) -> String {
    use std::fmt::Write;
    raw.bytes().fold(String::with_capacity(raw.len()), |mut out, b| {
        if b.is_ascii_alphanumeric() || b"-._~".contains(&b) {
            out.push(char::from(b));
        } else {
            let _ = write!(out, "%{b:02X}");
        }
        out
    })
}

/// Six digits, as typed (spaces dropped).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TotpCode(String);

/// A recovery code, normalised: ten base32 characters, lower-case, without the dash.
#[derive(Clone, PartialEq, Eq)]
pub struct RecoveryCode(String);

impl fmt::Debug for RecoveryCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("RecoveryCode(***)")
    }
}

const RECOVERY_LEN: usize = 10;

impl RecoveryCode {
    /// A fresh code (50 random bits), and how it is shown: `xxxxx-xxxxx`.
    fn generate() -> Result<(Self, String), StoreError> {
        let bytes: [u8; 7] = random()?;
        let code: String = base32(&bytes).to_ascii_lowercase().chars().take(RECOVERY_LEN).collect();
        let shown = format!("{}-{}", &code[..5], &code[5..]);
        Ok((Self(code), shown))
    }

    /// What is stored of the code: SHA-256 of the user and the code, so equal codes of two users
    /// differ and a table dump does not give them away.
    pub fn digest(&self, user_id: Uuid) -> String {
        crate::secrets::digest(&format!("recovery-code-v1:{user_id}:{}", self.0))
    }
}

/// What a client sent as its second factor.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SecondFactor {
    Totp(TotpCode),
    Recovery(RecoveryCode),
}

impl SecondFactor {
    /// Six digits are a TOTP code, ten base32 characters (a dash and spaces aside, any case) a
    /// recovery code; anything else is no code (`None`: a wrong code, not a malformed request).
    pub fn parse(raw: &str) -> Option<Self> {
        let kept: String = raw.chars().filter(|c| !c.is_whitespace() && *c != '-').collect();
        if kept.len() == DIGITS && kept.bytes().all(|b| b.is_ascii_digit()) {
            return Some(Self::Totp(TotpCode(kept)));
        }
        let lower = kept.to_ascii_lowercase();
        let base32 = |b: u8| b.is_ascii_lowercase() || (b'2'..=b'7').contains(&b);
        (lower.len() == RECOVERY_LEN && lower.bytes().all(base32)).then_some(Self::Recovery(RecoveryCode(lower)))
    }
}

/// Ten fresh recovery codes: as shown to the user once, and the digests that are stored.
pub fn recovery_codes(user_id: Uuid) -> Result<(Vec<String>, Vec<String>), StoreError> {
    let mut shown = Vec::with_capacity(RECOVERY_CODES);
    let mut digests = Vec::with_capacity(RECOVERY_CODES);
    while shown.len() < RECOVERY_CODES {
        let (code, display) = RecoveryCode::generate()?;
        let digest = code.digest(user_id);
        if !digests.contains(&digest) {
            shown.push(display);
            digests.push(digest);
        }
    }
    Ok((shown, digests))
}

/// The key TOTP secrets are sealed with at rest: derived from the server secret under a label of
/// its own, so it is never a token key nor a cursor key. Its `Debug` never shows it.
#[derive(Clone)]
pub struct TotpKey([u8; 32]);

impl fmt::Debug for TotpKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("TotpKey(***)")
    }
}

/// A sealed secret that does not open: another key, another user, or altered.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
#[error("sealed TOTP secret does not open")]
pub struct Unsealable;

const SEALED_PREFIX: &str = "v1.";

impl TotpKey {
    pub fn derive(secret: &JwtSecret) -> Self {
        // An HMAC accepts keys of any length.
        let mut mac = <Hmac<Sha256> as Mac>::new_from_slice(secret.bytes())
            .unwrap_or_else(|_| unreachable!("HMAC takes any key length"));
        mac.update(b"totp-secret-encryption-v1");
        Self(mac.finalize().into_bytes().into())
    }

    fn cipher(&self) -> LessSafeKey {
        // 32 bytes is AES-256's key length: this cannot fail.
        LessSafeKey::new(
            UnboundKey::new(&AES_256_GCM, &self.0).unwrap_or_else(|_| unreachable!("AES-256 takes 32 bytes")),
        )
    }

    /// The user's id is the associated data: a sealed secret copied to another user does not open.
    fn aad(user_id: Uuid) -> [u8; 16] {
        *user_id.as_bytes()
    }

    /// `v1.` + base64url(nonce ‖ ciphertext ‖ tag), a fresh random nonce each time.
    pub fn seal(&self, secret: &TotpSecret, user_id: Uuid) -> Result<String, StoreError> {
        let nonce: [u8; NONCE_LEN] = random()?;
        let mut sealed = secret.0.to_vec();
        self.cipher()
            .seal_in_place_append_tag(
                Nonce::assume_unique_for_key(nonce),
                Aad::from(Self::aad(user_id)),
                &mut sealed,
            )
            .map_err(|_| StoreError::Corrupt("TOTP secret not sealed".into()))?;
        let mut out = nonce.to_vec();
        out.extend_from_slice(&sealed);
        Ok(format!("{SEALED_PREFIX}{}", URL_SAFE_NO_PAD.encode(out)))
    }

    pub fn open(&self, sealed: &str, user_id: Uuid) -> Result<TotpSecret, Unsealable> {
        let bytes = sealed
            .strip_prefix(SEALED_PREFIX)
            .and_then(|b64| URL_SAFE_NO_PAD.decode(b64).ok())
            .filter(|b| b.len() > NONCE_LEN)
            .ok_or(Unsealable)?;
        let (nonce, rest) = bytes.split_at(NONCE_LEN);
        let nonce = Nonce::try_assume_unique_for_key(nonce).map_err(|_| Unsealable)?;
        let mut in_out = rest.to_vec();
        let plain = self
            .cipher()
            .open_in_place(nonce, Aad::from(Self::aad(user_id)), &mut in_out)
            .map_err(|_| Unsealable)?;
        plain.try_into().map(TotpSecret).map_err(|_| Unsealable)
    }
}

/// A user's two-factor record as kept: a secret set up but not confirmed, the confirmed one, the
/// last step a code was accepted for, and how many recovery codes are left.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct TwoFactor {
    /// Sealed; replaced by each new setup until one is confirmed.
    pub pending: Option<String>,
    /// Sealed; present while two-factor is on.
    pub secret: Option<String>,
    pub last_step: Option<u64>,
    pub recovery_left: usize,
}

/// A login waiting for its second factor, as one attempt at its `mfa_token` found it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Challenge {
    pub user_id: Uuid,
    /// When the password was checked (epoch seconds): a credential change since voids it.
    pub issued_at: u64,
}

/// Checks `code` against the user's two-factor record and spends it: a TOTP code's step is
/// recorded as the last accepted (a conditional write, so of concurrent replays one passes), a
/// recovery code is removed (conditionally, so it passes once ever). `false`: a wrong, used or
/// malformed code, or two-factor is off.
pub async fn spend_code<S: TwoFactorStore>(
    store: &S,
    key: &TotpKey,
    user_id: Uuid,
    record: &TwoFactor,
    code: &str,
    now: u64,
) -> Result<bool, StoreError> {
    let Some(sealed) = &record.secret else {
        return Ok(false);
    };
    match SecondFactor::parse(code) {
        Some(SecondFactor::Totp(code)) => {
            let secret = key
                .open(sealed, user_id)
                .map_err(|e| StoreError::Corrupt(format!("{user_id}: {e}")))?;
            match secret.matching_step(&code, now, record.last_step) {
                Some(step) => store.accept_step(user_id, step).await,
                None => Ok(false),
            }
        }
        Some(SecondFactor::Recovery(code)) => store.use_recovery_code(user_id, &code.digest(user_id)).await,
        None => Ok(false),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rfc_secret() -> TotpSecret {
        // RFC 6238's SHA-1 test key: "12345678901234567890".
        TotpSecret(*b"12345678901234567890")
    }

    #[test]
    fn codes_are_rfc_6238s() {
        // RFC 6238, appendix B (the last six of its eight digits).
        for (time, code) in [
            (59u64, 287_082u32),
            (1_111_111_109, 81_804),
            (1_111_111_111, 50_471),
            (1_234_567_890, 5_924),
            (2_000_000_000, 279_037),
        ] {
            assert_eq!(rfc_secret().code(step_at(time)), code, "at {time}");
        }
    }

    #[test]
    fn base32_is_rfc_4648s() {
        assert_eq!(base32(b"foobar"), "MZXW6YTBOI");
        assert_eq!(rfc_secret().base32(), "GEZDGNBVGY3TQOJQGEZDGNBVGY3TQOJQ");
        assert_eq!(
            TotpSecret::from_base32("GEZDGNBVGY3TQOJQGEZDGNBVGY3TQOJQ"),
            Some(rfc_secret())
        );
        assert_eq!(TotpSecret::from_base32("MZXW6YTBOI"), None, "not 20 bytes");
        assert_eq!(TotpSecret::from_base32("GEZDGNBVGY3TQOJQGEZDGNBVGY3TQOJ1"), None);
    }

    #[test]
    fn a_code_matches_one_step_either_side_and_only_after_the_last_accepted() {
        let secret = rfc_secret();
        let now = 1_111_111_111;
        let at = |step: u64| TotpCode(format!("{:06}", secret.code(step)));
        let current = step_at(now);
        assert_eq!(secret.matching_step(&at(current), now, None), Some(current));
        assert_eq!(secret.matching_step(&at(current - 1), now, None), Some(current - 1));
        assert_eq!(secret.matching_step(&at(current + 1), now, None), Some(current + 1));
        assert_eq!(
            secret.matching_step(&at(current - 2), now, None),
            None,
            "two steps late"
        );
        assert_eq!(secret.matching_step(&at(current), now, Some(current)), None, "a replay");
        assert_eq!(
            secret.matching_step(&at(current - 1), now, Some(current)),
            None,
            "older than the last"
        );
    }

    #[test]
    fn second_factors_parse_by_their_shape() {
        assert!(matches!(SecondFactor::parse(" 123 456 "), Some(SecondFactor::Totp(_))));
        let recovery = SecondFactor::parse("ABCDE-23456");
        assert_eq!(
            recovery,
            Some(SecondFactor::Recovery(RecoveryCode("abcde23456".into())))
        );
        for wrong in ["", "12345", "1234567", "abcde-2345", "abcde-23451", "abcdefghijk"] {
            assert_eq!(SecondFactor::parse(wrong), None, "{wrong}");
        }
    }

    #[test]
    fn recovery_codes_are_ten_distinct_and_stored_as_digests_per_user() {
        let user = Uuid::new_v4();
        let (shown, digests) = recovery_codes(user).unwrap();
        assert_eq!((shown.len(), digests.len()), (RECOVERY_CODES, RECOVERY_CODES));
        for (code, digest) in shown.iter().zip(&digests) {
            assert_eq!(code.len(), 11);
            let Some(SecondFactor::Recovery(parsed)) = SecondFactor::parse(code) else {
                panic!("{code} is a recovery code")
            };
            assert_eq!(&parsed.digest(user), digest);
            assert_ne!(&parsed.digest(Uuid::new_v4()), digest);
            assert!(!digest.contains(&code[..5]));
        }
    }

    #[test]
    fn a_sealed_secret_opens_with_its_key_for_its_user_only() {
        let key = TotpKey::derive(&JwtSecret::parse("s".repeat(32)).unwrap());
        let other = TotpKey::derive(&JwtSecret::parse("t".repeat(32)).unwrap());
        let (secret, user) = (TotpSecret::generate().unwrap(), Uuid::new_v4());
        let sealed = key.seal(&secret, user).unwrap();
        assert!(!sealed.contains(&secret.base32()));
        assert_ne!(sealed, key.seal(&secret, user).unwrap(), "a fresh nonce each time");
        assert_eq!(key.open(&sealed, user), Ok(secret));
        assert_eq!(key.open(&sealed, Uuid::new_v4()), Err(Unsealable));
        assert_eq!(other.open(&sealed, user), Err(Unsealable));
        let mut altered = sealed.clone().into_bytes();
        let last = altered.len() - 1;
        altered[last] = if altered[last] == b'A' { b'B' } else { b'A' };
        assert_eq!(key.open(std::str::from_utf8(&altered).unwrap(), user), Err(Unsealable));
        assert_eq!(format!("{key:?}"), "TotpKey(***)");
    }

    #[test]
    fn the_uri_names_the_issuer_and_account_encoded() {
        let uri = rfc_secret().otpauth_uri("Full Stack", "a+b@example.com");
        assert_eq!(
            uri,
            "otpauth://totp/Full%20Stack:a%2Bb%40example.com?secret=GEZDGNBVGY3TQOJQGEZDGNBVGY3TQOJQ\
             &issuer=Full%20Stack&algorithm=SHA1&digits=6&period=30"
        );
    }
}
