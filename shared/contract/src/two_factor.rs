//! Two-factor over HTTP: the bodies of setup, confirmation, disabling and the second login step,
//! and what they answer (the secret and its QR code once, the recovery codes once, the 401 that
//! asks for a code).

use crate::login::TypedPassword;
use crate::schema::{body, response, Field, Secret};
use crate::validation::{scalar, Echo, Invalid};
use serde_json::{json, Value};

/// A second factor as typed: a TOTP code or a recovery code. Any text up to [`Self::MAX_LEN`]
/// characters reads (a wrong one is the contract's 400 `Invalid code`, not a 422), and it is
/// never echoed back.
#[derive(Clone, PartialEq, Eq)]
pub struct OneTimeCode(pub String);

impl std::fmt::Debug for OneTimeCode {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("OneTimeCode(***)")
    }
}

impl OneTimeCode {
    pub const MAX_LEN: usize = 32;
}

impl Field for OneTimeCode {
    const ECHO: Echo = Echo::Redact;
    fn parse(value: &Value) -> Result<Self, Invalid> {
        let code = scalar::string(value)?;
        if code.chars().count() > Self::MAX_LEN {
            return Err(Invalid::too_long(Self::MAX_LEN));
        }
        Ok(Self(code.to_owned()))
    }
    fn schema() -> Value {
        json!({
            "type": "string",
            "maxLength": Self::MAX_LEN,
            "description": "A 6-digit TOTP code, or a recovery code (`xxxxx-xxxxx`)",
        })
    }
}

body! {
    /// `POST /users/me/2fa/totp`.
    pub struct TotpSetupRequest as "TotpSetupRequest" {
        required password: TypedPassword,
    }
}

body! {
    /// `POST /users/me/2fa/totp/confirm`: a code of the new secret.
    pub struct TotpConfirm as "TotpConfirm" {
        required code: OneTimeCode,
    }
}

body! {
    /// `DELETE /users/me/2fa`: the password and a code (TOTP or recovery).
    pub struct TwoFactorDisable as "TwoFactorDisable" {
        required password: TypedPassword,
        required code: OneTimeCode,
    }
}

body! {
    /// `POST /login/mfa`: the `mfa_token` of the password step and a code (TOTP or recovery).
    pub struct MfaLogin as "MfaLogin" {
        required mfa_token: Secret,
        required code: OneTimeCode,
    }
}

response! {
    pub struct TotpSetup as "TotpSetup",
        "A new TOTP secret, inactive until a code of it is confirmed: the secret in base32, the \
        `otpauth://` URI an authenticator app takes, and that URI as a QR code (SVG)."
    {
        required secret: String,
        required otpauth_uri: String,
        required qr_svg: String,
    }
}

response! {
    pub struct RecoveryCodes as "RecoveryCodes",
        "The recovery codes, shown this once (only their hashes are kept): each logs in once in \
        place of a TOTP code."
    {
        required recovery_codes: Vec<String>,
    }
}

response! {
    pub struct MfaRequired as "MfaRequired",
        "The password was right and the account has two-factor on: send a code with this \
        `mfa_token` (single use, 5 minutes) to `POST /login/mfa`."
    {
        required detail: String,
        required mfa_token: String,
    }
}
