//! The ports of `domain` on AWS, and in memory for tests:
//!
//! - `store`: the DynamoDB single table behind every storage port (`store::memory`: the same
//!   ports in memory, for tests);
//! - `aws`: SDK clients built from the Lambda environment, the SQS queue, the SES sender, the S3
//!   bucket and API Gateway's Management API;
//! - `Context`: what an API function builds once at start.

pub mod aws;
pub mod config;
pub mod context;
pub mod store;

pub use context::Context;
