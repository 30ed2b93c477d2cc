//! The HTTP settings every API function reads at start.

use domain::config::{ConfigError, Env, Stage};

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
}
