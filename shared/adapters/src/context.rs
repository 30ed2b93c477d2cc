//! What an API function builds once at start: the token keys, the cursor key, and its adapters.

use crate::aws::{AwsConfig, Bucket, SqsQueue};
use crate::config::ResourceNames;
use crate::store::Table;
use domain::auth::Authenticator;
use domain::config::{AuthConfig, ConfigError, Env};
use domain::cursor::CursorKey;
use domain::ports::Accounts;
use domain::tokens::TokenKeys;
use domain::two_factor::TotpKey;
use std::time::Duration;

/// One function's keys and adapters: `S` the store (the table, or memory in tests), `Q` the job
/// queue, `B` the uploads bucket. Clients are built on first use, so an adapter a function never
/// calls costs it nothing at start.
pub struct Context<S = Table, Q = SqsQueue, B = Bucket> {
    pub keys: TokenKeys,
    pub cursors: CursorKey,
    /// Seals TOTP secrets at rest; derived from the JWT secret under a label of its own.
    pub totp_key: TotpKey,
    pub refresh_ttl: Duration,
    pub store: S,
    pub queue: Q,
    pub bucket: B,
}

impl Context {
    /// Reads the settings and builds the adapters.
    pub fn from_env(env: &impl Env) -> Result<Self, ConfigError> {
        let resources = ResourceNames::from_env(env)?;
        let auth = AuthConfig::from_env(env)?;
        let aws = AwsConfig::from_env(env)?;
        Ok(Self::with(
            &auth,
            Table::new(aws.dynamodb(), resources.table),
            SqsQueue::new(&aws, resources.jobs_queue_url)
                .with_emails(resources.emails_queue_url)
                .with_notifications(resources.notifications_queue_url),
            Bucket::new(&aws, resources.bucket),
        ))
    }
}

impl<S, Q, B> Context<S, Q, B> {
    /// A context over other adapters (the in-memory ones of the handler tests).
    pub fn with(auth: &AuthConfig, store: S, queue: Q, bucket: B) -> Self {
        Self {
            keys: TokenKeys::new(auth),
            cursors: CursorKey::derive(&auth.secret),
            totp_key: TotpKey::derive(&auth.secret),
            refresh_ttl: auth.refresh_token_ttl,
            store,
            queue,
            bucket,
        }
    }

    /// Who is calling, checked against this context's users.
    pub fn authenticator(&self) -> Authenticator<S>
    where
        S: Accounts + Clone,
    {
        Authenticator::new(self.keys.clone(), self.store.clone())
    }
}
