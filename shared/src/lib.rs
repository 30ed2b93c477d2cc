//! The code every function shares, in layers with one-way dependencies (docs/architecture.md):
//!
//! - `domain`: entities, value types, account rules and the ports; it imports no other layer.
//! - `store`: the DynamoDB table behind the storage ports, and in-memory stores for tests.
//! - `aws`: SDK clients, the SQS queue, the SES sender, the S3 bucket.
//! - `http`: the service, routing, typed requests, the one error mapping, public shapes.
//!
//! `config`, `logging` and `context` (what a function builds at start) sit beside them.

pub mod aws;
pub mod config;
pub mod context;
pub mod domain;
pub mod http;
pub mod logging;
pub mod metrics;
pub mod store;
#[cfg(any(test, feature = "memory"))]
pub mod testing;

pub use context::Context;
pub use http::{ApiError, ApiResult};
