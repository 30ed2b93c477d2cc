//! The domain and adapters every function shares: configuration, the HTTP contract's shapes,
//! accounts and tokens, the DynamoDB table, the job queue and email.

pub mod accounts;
pub mod api;
pub mod auth;
pub mod aws;
pub mod config;
pub mod cursor;
pub mod domain;
pub mod email;
pub mod error;
pub mod items;
pub mod jobs;
pub mod logging;
pub mod metrics;
pub mod passwords;
pub mod posts;
pub mod records;
pub mod resources;
pub mod secrets;
pub mod sessions;
pub mod storage;
pub mod store;
pub mod tokens;
pub mod users;
pub mod validation;

pub use error::{ApiError, ApiResult};
