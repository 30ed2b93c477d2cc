//! What every function builds once at start: its settings, the token keys, and its adapters.

use crate::aws::{AwsConfig, Bucket, SqsQueue};
use crate::config::{AuthConfig, ConfigError, Env, HttpConfig, Resources};
use crate::domain::ports::Accounts;
use crate::domain::tokens::TokenKeys;
use crate::http::auth::Authenticator;
use crate::http::paging::CursorKey;
use crate::store::Table;
use std::time::Duration;

/// One function's settings and adapters: `S` the store (the table, or memory in tests), `Q` the
/// job queue, `B` the uploads bucket. Clients are built on first use, so an adapter a function
/// never calls costs it nothing at start.
pub struct Context<S = Table, Q = SqsQueue, B = Bucket> {
    pub http: HttpConfig,
    pub keys: TokenKeys,
    pub cursors: CursorKey,
    pub refresh_ttl: Duration,
    pub store: S,
    pub queue: Q,
    pub bucket: B,
}

impl Context {
    /// Reads the settings and builds the adapters.
    pub fn from_env(env: &impl Env) -> Result<Self, ConfigError> {
        let http = HttpConfig::from_env(env)?;
        let resources = Resources::from_env(env)?;
        let auth = AuthConfig::from_env(env)?;
        let aws = AwsConfig::from_env(env)?;
        Ok(Self {
            keys: TokenKeys::new(&auth),
            cursors: CursorKey::derive(&auth.secret),
            refresh_ttl: auth.refresh_token_ttl,
            store: Table::new(aws.dynamodb(), resources.table),
            queue: SqsQueue::new(&aws, resources.jobs_queue_url).with_notifications(resources.notifications_queue_url),
            bucket: Bucket::new(&aws, resources.bucket),
            http,
        })
    }
}

impl<S, Q, B> Context<S, Q, B> {
    /// A context over other adapters (the in-memory ones of the handler tests).
    pub fn with(http: HttpConfig, auth: &AuthConfig, store: S, queue: Q, bucket: B) -> Self {
        Self {
            http,
            keys: TokenKeys::new(auth),
            cursors: CursorKey::derive(&auth.secret),
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
