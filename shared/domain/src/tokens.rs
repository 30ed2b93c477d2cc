//! Access tokens: HS256 JWTs with `sub`, `exp`, `iat`, `jti` and `type: "access"`.

use super::clock::now_secs;
use crate::config::AuthConfig;
use jsonwebtoken::{decode, encode, Algorithm, DecodingKey, EncodingKey, Header, Validation};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct Claims {
    pub sub: String,
    pub exp: u64,
    pub iat: u64,
    pub jti: String,
    #[serde(rename = "type")]
    pub token_type: String,
    /// The login (refresh-token family) the token belongs to: ending the login ends the token.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sid: Option<String>,
}

/// What a valid access token says.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Access {
    pub user_id: Uuid,
    /// Its login, when it was issued for one.
    pub login: Option<Uuid>,
    pub issued_at: u64,
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

/// jsonwebtoken's crypto backend, limited to the one algorithm this product signs with. The
/// crate's bundled backends link RSA, ECDSA and EdDSA code into every binary (it picks the
/// algorithm at run time); this one is HMAC-SHA256 on the `hmac` and `sha2` crates, and
/// refuses every other algorithm.
mod hs256 {
    use hmac::{Hmac, Mac};
    use jsonwebtoken::crypto::{CryptoProvider, JwtSigner, JwtVerifier, KeyUtils};
    use jsonwebtoken::errors::{Error, ErrorKind};
    use jsonwebtoken::signature::{self, Signer, Verifier};
    use jsonwebtoken::{Algorithm, DecodingKey, EncodingKey};
    use sha2::Sha256;

    type HmacSha256 = Hmac<Sha256>;

    struct Hs256(HmacSha256);

    impl Signer<Vec<u8>> for Hs256 {
        fn try_sign(&self, message: &[u8]) -> Result<Vec<u8>, signature::Error> {
            let mut mac = self.0.clone();
            mac.update(message);
            Ok(mac.finalize().into_bytes().to_vec())
        }
    }

    impl Verifier<Vec<u8>> for Hs256 {
        fn verify(&self, message: &[u8], tag: &Vec<u8>) -> Result<(), signature::Error> {
            let mut mac = self.0.clone();
            mac.update(message);
            mac.verify_slice(tag).map_err(signature::Error::from_source)
        }
    }

    impl JwtSigner for Hs256 {
        fn algorithm(&self) -> Algorithm {
            Algorithm::HS256
        }
    }

    impl JwtVerifier for Hs256 {
        fn algorithm(&self) -> Algorithm {
            Algorithm::HS256
        }
    }

    fn keyed(algorithm: &Algorithm, secret: &[u8]) -> Result<Hs256, Error> {
        if *algorithm != Algorithm::HS256 {
            return Err(ErrorKind::InvalidAlgorithm.into());
        }
        HmacSha256::new_from_slice(secret)
            .map(Hs256)
            .map_err(|_| ErrorKind::InvalidKeyFormat.into())
    }

    fn signer(algorithm: &Algorithm, key: &EncodingKey) -> Result<Box<dyn JwtSigner>, Error> {
        Ok(Box::new(keyed(algorithm, key.as_bytes())?))
    }

    fn verifier(algorithm: &Algorithm, key: &DecodingKey) -> Result<Box<dyn JwtVerifier>, Error> {
        Ok(Box::new(keyed(algorithm, key.try_get_as_bytes()?)?))
    }

    static PROVIDER: CryptoProvider = CryptoProvider {
        signer_factory: signer,
        verifier_factory: verifier,
        key_utils: KeyUtils::new_unimplemented(),
    };

    /// Installs the provider for the process; later calls (or a provider already set) are no-ops.
    pub fn install() {
        let _ = PROVIDER.install_default();
    }
}

impl TokenKeys {
    pub fn new(config: &AuthConfig) -> Self {
        hs256::install();
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

    /// An access token of `login` (a refresh-token family) for `user_id`.
    pub fn issue_access(&self, user_id: Uuid, login: Uuid) -> Result<IssuedToken, TokenError> {
        let now = now_secs();
        self.sign(&Claims {
            sub: user_id.to_string(),
            iat: now,
            exp: now + self.ttl_secs,
            jti: Uuid::new_v4().to_string(),
            token_type: ACCESS.to_owned(),
            sid: Some(login.to_string()),
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

    /// What a valid, unexpired access token says.
    pub fn verify_access(&self, token: &str) -> Result<Access, TokenError> {
        let data = decode::<Claims>(token, &self.decoding, &self.validation).map_err(|_| TokenError::Rejected)?;
        let claims = data.claims;
        if claims.token_type != ACCESS {
            return Err(TokenError::Rejected);
        }
        let login = match &claims.sid {
            Some(sid) => Some(Uuid::parse_str(sid).map_err(|_| TokenError::Rejected)?),
            None => None,
        };
        Ok(Access {
            user_id: Uuid::parse_str(&claims.sub).map_err(|_| TokenError::Rejected)?,
            login,
            issued_at: claims.iat,
        })
    }
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
        let login = Uuid::new_v4();
        let issued = keys.issue_access(id, login).unwrap();
        assert_eq!(issued.expires_in, 3600);
        let access = keys.verify_access(&issued.token).unwrap();
        assert_eq!((access.user_id, access.login), (id, Some(login)));
    }

    #[test]
    fn other_secret_is_rejected() {
        let token = keys(SECRET).issue_access(Uuid::new_v4(), Uuid::new_v4()).unwrap().token;
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
            sid: None,
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
            sid: None,
        };
        let token = keys.sign(&claims).unwrap().token;
        assert_eq!(keys.verify_access(&token), Err(TokenError::Rejected));
    }

    #[test]
    fn other_algorithms_are_refused_even_with_the_right_secret() {
        let _installed = keys(SECRET);
        let now = now_secs();
        let claims = Claims {
            sub: Uuid::new_v4().to_string(),
            iat: now,
            exp: now + 60,
            jti: "j".into(),
            token_type: ACCESS.into(),
            sid: None,
        };
        let hs512 = encode(
            &Header::new(Algorithm::HS512),
            &claims,
            &EncodingKey::from_secret(SECRET.as_bytes()),
        );
        assert!(hs512.is_err(), "this backend cannot even sign HS512");
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
