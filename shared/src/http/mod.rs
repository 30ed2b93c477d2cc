//! The HTTP edge: the service every API function runs in, routing, typed requests, the one
//! error mapping, authentication, paging, the shared owned-resource handlers and the public
//! response types.

pub mod accounts;
pub mod auth;
pub mod error;
pub mod files;
pub mod items;
#[cfg(feature = "openapi")]
pub mod openapi;
pub mod paging;
pub mod posts;
pub mod public;
pub mod request;
pub mod resource;
pub mod router;
pub mod service;
pub mod validation;

pub use ::http::StatusCode;
pub use error::{ApiError, ApiResult};
pub use request::ApiRequest;
pub use service::{json, message, run, start, Api, Response, Service};
