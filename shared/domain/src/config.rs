//! Settings read once from the environment at start-up. A missing or bad setting is a start-up
//! error naming the variable, never a panic in the middle of a request.

use std::fmt;
use std::time::Duration;

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum ConfigError {
    #[error("missing setting {0}: set it in the function's environment (template.yaml)")]
    Missing(&'static str),
    #[error("bad setting {name}: {reason}")]
    Invalid { name: &'static str, reason: String },
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Stage {
    Local,
    Dev,
    Prod,
}

impl Stage {
    pub fn parse(raw: &str) -> Result<Self, ConfigError> {
        match raw {
            "local" => Ok(Self::Local),
            "dev" => Ok(Self::Dev),
            "prod" => Ok(Self::Prod),
            other => Err(ConfigError::Invalid {
                name: "STAGE",
                reason: format!("{other:?} is not local, dev or prod"),
            }),
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Self::Local => "local",
            Self::Dev => "dev",
            Self::Prod => "prod",
        }
    }
}

/// Where settings come from: the process environment in functions, a map in unit tests.
pub trait Env {
    fn get(&self, name: &str) -> Option<String>;

    fn required(&self, name: &'static str) -> Result<String, ConfigError> {
        self.get(name)
            .filter(|v| !v.trim().is_empty())
            .ok_or(ConfigError::Missing(name))
    }

    /// A number above zero (`u64` or `f64`); `default` when unset or blank.
    fn positive<T>(&self, name: &'static str, default: T) -> Result<T, ConfigError>
    where
        T: std::str::FromStr + PartialOrd + Default,
    {
        let Some(raw) = self.get(name).filter(|v| !v.trim().is_empty()) else {
            return Ok(default);
        };
        raw.trim()
            .parse::<T>()
            .ok()
            .filter(|n| *n > T::default())
            .ok_or_else(|| ConfigError::Invalid {
                name,
                reason: format!("{raw:?} is not a positive number"),
            })
    }

    /// `true` or `false` (a template parameter's text, case ignored); `default` when unset or blank.
    fn flag(&self, name: &'static str, default: bool) -> Result<bool, ConfigError> {
        match self.get(name).map(|v| v.trim().to_ascii_lowercase()).as_deref() {
            None | Some("") => Ok(default),
            Some("true") => Ok(true),
            Some("false") => Ok(false),
            Some(other) => Err(ConfigError::Invalid {
                name,
                reason: format!("{other:?} is neither true nor false"),
            }),
        }
    }
}

pub struct ProcessEnv;

impl Env for ProcessEnv {
    fn get(&self, name: &str) -> Option<String> {
        std::env::var(name).ok()
    }
}

impl<const N: usize> Env for [(&str, &str); N] {
    fn get(&self, name: &str) -> Option<String> {
        self.iter().find(|(k, _)| *k == name).map(|(_, v)| (*v).to_owned())
    }
}

/// The signing key for access tokens. Its `Debug` never shows it.
#[derive(Clone)]
pub struct JwtSecret(Vec<u8>);

impl JwtSecret {
    pub const MIN_BYTES: usize = 32;

    pub fn parse(raw: String) -> Result<Self, ConfigError> {
        if raw.len() < Self::MIN_BYTES {
            return Err(ConfigError::Invalid {
                name: "JWT_SECRET",
                reason: format!("must be at least {} bytes, got {}", Self::MIN_BYTES, raw.len()),
            });
        }
        Ok(Self(raw.into_bytes()))
    }

    pub fn bytes(&self) -> &[u8] {
        &self.0
    }
}

impl fmt::Debug for JwtSecret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("JwtSecret(***)")
    }
}

#[derive(Debug, Clone)]
pub struct AuthConfig {
    pub secret: JwtSecret,
    pub access_token_ttl: Duration,
    pub refresh_token_ttl: Duration,
}

impl AuthConfig {
    /// FastAPI's reference backend: 8 days.
    pub const DEFAULT_ACCESS_MINUTES: u64 = 60 * 24 * 8;
    pub const DEFAULT_REFRESH_DAYS: u64 = 30;

    pub fn from_env(env: &impl Env) -> Result<Self, ConfigError> {
        let secret = JwtSecret::parse(env.required("JWT_SECRET")?)?;
        let minutes = match env.get("ACCESS_TOKEN_EXPIRE_MINUTES") {
            None => Self::DEFAULT_ACCESS_MINUTES,
            Some(raw) => raw
                .trim()
                .parse::<u64>()
                .ok()
                .filter(|m| *m > 0)
                .ok_or_else(|| ConfigError::Invalid {
                    name: "ACCESS_TOKEN_EXPIRE_MINUTES",
                    reason: format!("{raw:?} is not a positive number of minutes"),
                })?,
        };
        let days = match env.get("REFRESH_TOKEN_EXPIRE_DAYS") {
            None => Self::DEFAULT_REFRESH_DAYS,
            Some(raw) => raw
                .trim()
                .parse::<u64>()
                .ok()
                .filter(|d| *d > 0)
                .ok_or_else(|| ConfigError::Invalid {
                    name: "REFRESH_TOKEN_EXPIRE_DAYS",
                    reason: format!("{raw:?} is not a positive number of days"),
                })?,
        };
        Ok(Self {
            secret,
            access_token_ttl: Duration::from_secs(minutes * 60),
            refresh_token_ttl: Duration::from_secs(days * 24 * 3600),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn short_jwt_secret_is_refused() {
        let err = AuthConfig::from_env(&[("JWT_SECRET", "too-short")]).unwrap_err();
        assert!(matches!(err, ConfigError::Invalid { name: "JWT_SECRET", .. }));
        assert!(!err.to_string().contains("too-short"));
    }
    #[test]
    fn flags_are_true_or_false() {
        assert!([("F", "True")].flag("F", false).unwrap());
        assert!(![("F", "false")].flag("F", true).unwrap());
        assert!([("G", "x")].flag("F", true).unwrap());
        assert!([("F", "yes")].flag("F", false).is_err());
    }

    #[test]
    fn token_lifetime_defaults_to_eight_days() {
        let secret = "0123456789abcdef0123456789abcdef";
        let config = AuthConfig::from_env(&[("JWT_SECRET", secret)]).unwrap();
        assert_eq!(config.access_token_ttl, Duration::from_secs(8 * 24 * 3600));
        assert!(AuthConfig::from_env(&[("JWT_SECRET", secret), ("ACCESS_TOKEN_EXPIRE_MINUTES", "0")]).is_err());
    }
}
