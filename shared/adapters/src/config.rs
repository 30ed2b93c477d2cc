//! Names of the backing resources, as template.yaml passes them.

use domain::config::{ConfigError, Env};

/// Names of the backing resources, as template.yaml passes them.
#[derive(Debug, Clone)]
pub struct ResourceNames {
    pub table: String,
    pub bucket: String,
    pub jobs_queue_url: String,
    /// Emails have a queue of their own (`Job::is_email`).
    pub emails_queue_url: String,
    /// Where server events for WebSocket clients are queued (`Notifier`).
    pub notifications_queue_url: String,
}

impl ResourceNames {
    pub fn from_env(env: &impl Env) -> Result<Self, ConfigError> {
        Ok(Self {
            table: env.required("TABLE_NAME")?,
            bucket: env.required("BUCKET_NAME")?,
            jobs_queue_url: env.required("JOBS_QUEUE_URL")?,
            emails_queue_url: env.required("EMAILS_QUEUE_URL")?,
            notifications_queue_url: env.required("NOTIFICATIONS_QUEUE_URL")?,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn missing_resource_is_named() {
        assert_eq!(
            ResourceNames::from_env(&[("TABLE_NAME", "t")]).unwrap_err(),
            ConfigError::Missing("BUCKET_NAME")
        );
    }
}
