//! Access tokens: HS256 JWTs with `sub`, `exp`, `iat`, `jti` and `type: "access"`.

use crate::config::AuthConfig;
use jsonwebtoken::{decode, encode, Algorithm, DecodingKey, EncodingKey, Header, Validation};
use serde::{Deserialize, Serialize};
use std::time::{SystemTime, UNIX_EPOCH};
use uuid::Uuid;

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct Claims {
    pub sub: String,
    pub exp: u64,
    pub iat: u64,
    pub jti: String,
    #[serde(rename = "type")]
    pub token_type: String,
}

pub const ACCESS: &str = "access";

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum TokenError {
    #[error("token rejected")]
    Rejected,
    #[error("token could not be signed: {0}")]
    Signing(String),
}

/// Signs and checks access tokens with one secret.
#[derive(Clone)]
pub struct TokenKeys {
    encoding: EncodingKey,
    decoding: DecodingKey,
    validation: Validation,
    ttl_secs: u64,
}

pub struct IssuedToken {
    pub token: String,
    pub expires_in: u64,
}

impl TokenKeys {
    pub fn new(config: &AuthConfig) -> Self {
        // Only HS256; `alg: none` and every other algorithm fail validation.
        let mut validation = Validation::new(Algorithm::HS256);
        validation.leeway = 0;
        validation.set_required_spec_claims(&["exp", "sub", "iat"]);
        Self {
            encoding: EncodingKey::from_secret(config.secret.bytes()),
            decoding: DecodingKey::from_secret(config.secret.bytes()),
            validation,
            ttl_secs: config.access_token_ttl.as_secs(),
        }
    }

    pub fn issue_access(&self, user_id: Uuid) -> Result<IssuedToken, TokenError> {
        let now = now_secs();
        self.sign(&Claims {
            sub: user_id.to_string(),
            iat: now,
            exp: now + self.ttl_secs,
            jti: Uuid::new_v4().to_string(),
            token_type: ACCESS.to_owned(),
        })
    }

    pub fn sign(&self, claims: &Claims) -> Result<IssuedToken, TokenError> {
        let token = encode(&Header::new(Algorithm::HS256), claims, &self.encoding)
            .map_err(|e| TokenError::Signing(e.to_string()))?;
        Ok(IssuedToken {
            token,
            expires_in: claims.exp.saturating_sub(claims.iat),
        })
    }

    /// The user id of a valid, unexpired access token.
    pub fn verify_access(&self, token: &str) -> Result<Uuid, TokenError> {
        let data = decode::<Claims>(token, &self.decoding, &self.validation).map_err(|_| TokenError::Rejected)?;
        if data.claims.token_type != ACCESS {
            return Err(TokenError::Rejected);
        }
        Uuid::parse_str(&data.claims.sub).map_err(|_| TokenError::Rejected)
    }
}

pub fn now_secs() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::JwtSecret;
    use std::time::Duration;

    fn keys(secret: &str) -> TokenKeys {
        TokenKeys::new(&AuthConfig {
            secret: JwtSecret::parse(secret.to_owned()).unwrap(),
            access_token_ttl: Duration::from_secs(3600),
            refresh_token_ttl: Duration::from_secs(7200),
        })
    }

    const SECRET: &str = "an-example-secret-of-at-least-32-bytes";

    #[test]
    fn issued_token_verifies() {
        let keys = keys(SECRET);
        let id = Uuid::new_v4();
        let issued = keys.issue_access(id).unwrap();
        assert_eq!(issued.expires_in, 3600);
        assert_eq!(keys.verify_access(&issued.token), Ok(id));
    }

    #[test]
    fn other_secret_is_rejected() {
        let token = keys(SECRET).issue_access(Uuid::new_v4()).unwrap().token;
        assert_eq!(
            keys("another-secret-that-is-32-bytes-long!").verify_access(&token),
            Err(TokenError::Rejected)
        );
    }

    #[test]
    fn expired_token_is_rejected() {
        let keys = keys(SECRET);
        let now = now_secs();
        let claims = Claims {
            sub: Uuid::new_v4().to_string(),
            iat: now - 100,
            exp: now - 1,
            jti: "j".into(),
            token_type: ACCESS.into(),
        };
        let token = keys.sign(&claims).unwrap().token;
        assert_eq!(keys.verify_access(&token), Err(TokenError::Rejected));
    }

    #[test]
    fn non_access_token_is_rejected() {
        let keys = keys(SECRET);
        let now = now_secs();
        let claims = Claims {
            sub: Uuid::new_v4().to_string(),
            iat: now,
            exp: now + 60,
            jti: "j".into(),
            token_type: "refresh".into(),
        };
        let token = keys.sign(&claims).unwrap().token;
        assert_eq!(keys.verify_access(&token), Err(TokenError::Rejected));
    }

    #[test]
    fn unsigned_token_is_rejected() {
        // {"alg":"none","typ":"JWT"} . {"sub":…,"exp":far future,"type":"access"} . (no signature)
        let header = "eyJhbGciOiJub25lIiwidHlwIjoiSldUIn0";
        let payload = "eyJzdWIiOiIwMDAwMDAwMC0wMDAwLTAwMDAtMDAwMC0wMDAwMDAwMDAwMDAiLCJleHAiOjQxMDI0NDQ4MDAsImlhdCI6MSwianRpIjoiaiIsInR5cGUiOiJhY2Nlc3MifQ";
        assert_eq!(
            keys(SECRET).verify_access(&format!("{header}.{payload}.")),
            Err(TokenError::Rejected)
        );
    }
}
