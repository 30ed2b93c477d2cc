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
    fn parse(raw: &str) -> Result<Self, ConfigError> {
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

/// The default frontend of the local stage: the reference frontend's Vite dev server.
pub const LOCAL_FRONTEND_HOST: &str = "http://localhost:5173";

/// What every HTTP function needs.
#[derive(Debug, Clone)]
pub struct HttpConfig {
    pub stage: Stage,
    pub project_name: String,
    pub frontend_host: String,
    pub cors_origins: Vec<String>,
}

impl HttpConfig {
    pub fn from_env(env: &impl Env) -> Result<Self, ConfigError> {
        let stage = Stage::parse(&env.required("STAGE")?)?;
        let frontend_host = match env.get("FRONTEND_HOST").filter(|v| !v.is_empty()) {
            Some(host) => host,
            None if stage == Stage::Local => LOCAL_FRONTEND_HOST.to_owned(),
            None => return Err(ConfigError::Missing("FRONTEND_HOST")),
        };
        let frontend_host = frontend_host.trim_end_matches('/').to_owned();
        let cors_origins = match env.get("CORS_ORIGINS").filter(|v| !v.trim().is_empty()) {
            Some(list) => list
                .split(',')
                .map(|o| o.trim().trim_end_matches('/').to_owned())
                .filter(|o| !o.is_empty())
                .collect(),
            None => vec![frontend_host.clone()],
        };
        // Origins are reflected with credentials allowed: a wildcard would let any site act
        // with a signed-in user's browser.
        if let Some(bad) = cors_origins.iter().find(|o: &&String| o.contains('*')) {
            return Err(ConfigError::Invalid {
                name: "CORS_ORIGINS",
                reason: format!("{bad:?}: list each allowed origin; wildcards are refused"),
            });
        }
        Ok(Self {
            stage,
            project_name: env
                .get("PROJECT_NAME")
                .unwrap_or_else(|| "Serverless Backend".to_owned()),
            frontend_host,
            cors_origins,
        })
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

/// Names of the backing resources, as template.yaml passes them.
#[derive(Debug, Clone)]
pub struct Resources {
    pub table: String,
    pub bucket: String,
    pub jobs_queue_url: String,
    /// Where server events for WebSocket clients are queued (`Notifier`).
    pub notifications_queue_url: String,
}

impl Resources {
    pub fn from_env(env: &impl Env) -> Result<Self, ConfigError> {
        Ok(Self {
            table: env.required("TABLE_NAME")?,
            bucket: env.required("BUCKET_NAME")?,
            jobs_queue_url: env.required("JOBS_QUEUE_URL")?,
            notifications_queue_url: env.required("NOTIFICATIONS_QUEUE_URL")?,
        })
    }
}

/// The upload limits: `FILES_MAX_SIZE` (bytes, default 10 MiB), `FILES_QUOTA_COUNT` (files a
/// user may keep, default 100) and `FILES_QUOTA_BYTES` (default 1 GiB).
pub fn upload_limits(env: &impl Env) -> Result<crate::domain::file::UploadLimits, ConfigError> {
    let number = |name: &'static str, default: u64| -> Result<u64, ConfigError> {
        match env.get(name).filter(|v| !v.is_empty()) {
            None => Ok(default),
            Some(raw) => raw
                .trim()
                .parse::<u64>()
                .ok()
                .filter(|n| *n > 0)
                .ok_or_else(|| ConfigError::Invalid {
                    name,
                    reason: format!("{raw:?} is not a positive whole number"),
                }),
        }
    };
    Ok(crate::domain::file::UploadLimits {
        max_size: number("FILES_MAX_SIZE", crate::domain::file::UploadLimits::DEFAULT_MAX_SIZE)?,
        quota_files: number("FILES_QUOTA_COUNT", 100)?,
        quota_bytes: number("FILES_QUOTA_BYTES", 1024 * 1024 * 1024)?,
    })
}

/// The sender address of every email (an identity verified in SES).
pub fn emails_from(env: &impl Env) -> Result<String, ConfigError> {
    env.required("EMAILS_FROM_EMAIL")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn local_stage_defaults_the_frontend() {
        let config = HttpConfig::from_env(&[("STAGE", "local")]).unwrap();
        assert_eq!(config.frontend_host, LOCAL_FRONTEND_HOST);
        assert_eq!(config.cors_origins, vec![LOCAL_FRONTEND_HOST.to_owned()]);
    }

    #[test]
    fn other_stages_must_name_their_frontend() {
        assert_eq!(
            HttpConfig::from_env(&[("STAGE", "prod")]).unwrap_err(),
            ConfigError::Missing("FRONTEND_HOST")
        );
    }

    #[test]
    fn cors_origins_are_a_comma_list() {
        let env = [
            ("STAGE", "dev"),
            ("FRONTEND_HOST", "https://app.example.com/"),
            ("CORS_ORIGINS", "https://a.example.com, https://b.example.com/"),
        ];
        let config = HttpConfig::from_env(&env).unwrap();
        assert_eq!(config.frontend_host, "https://app.example.com");
        assert_eq!(config.cors_origins, ["https://a.example.com", "https://b.example.com"]);
    }

    #[test]
    fn a_wildcard_origin_is_refused() {
        for origins in ["*", "https://a.example.com,*", "https://*.example.com"] {
            let env = [
                ("STAGE", "dev"),
                ("FRONTEND_HOST", "https://app.example.com"),
                ("CORS_ORIGINS", origins),
            ];
            assert!(
                matches!(
                    HttpConfig::from_env(&env),
                    Err(ConfigError::Invalid {
                        name: "CORS_ORIGINS",
                        ..
                    })
                ),
                "{origins}"
            );
        }
    }

    #[test]
    fn unknown_stage_is_refused() {
        assert!(matches!(
            HttpConfig::from_env(&[("STAGE", "qa")]),
            Err(ConfigError::Invalid { name: "STAGE", .. })
        ));
    }

    #[test]
    fn short_jwt_secret_is_refused() {
        let err = AuthConfig::from_env(&[("JWT_SECRET", "too-short")]).unwrap_err();
        assert!(matches!(err, ConfigError::Invalid { name: "JWT_SECRET", .. }));
        assert!(!err.to_string().contains("too-short"));
    }

    #[test]
    fn token_lifetime_defaults_to_eight_days() {
        let secret = "0123456789abcdef0123456789abcdef";
        let config = AuthConfig::from_env(&[("JWT_SECRET", secret)]).unwrap();
        assert_eq!(config.access_token_ttl, Duration::from_secs(8 * 24 * 3600));
        assert!(AuthConfig::from_env(&[("JWT_SECRET", secret), ("ACCESS_TOKEN_EXPIRE_MINUTES", "0")]).is_err());
    }

    #[test]
    fn missing_resource_is_named() {
        assert_eq!(
            Resources::from_env(&[("TABLE_NAME", "t")]).unwrap_err(),
            ConfigError::Missing("BUCKET_NAME")
        );
    }
}
