//! The HTTP edge every API function runs in: the service (request ids, CORS, security headers,
//! body limits, the request log), routing, typed requests, the caller's authentication, the one
//! error mapping, and the handler set of owned resources. It speaks `domain` and `contract`, and
//! knows no AWS service: the adapters are handed to it by each function's `main`.

pub mod config;
pub mod error;
pub mod request;
pub mod resource;
pub mod service;

pub use config::HttpConfig;
pub use error::{ApiError, ApiResult};
pub use http::StatusCode;
pub use request::ApiRequest;
pub use service::{json, message, run, start, Api, Response, Service};
