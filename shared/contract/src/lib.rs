//! The HTTP contract (`shared/api-contract.md`) as types, with no runtime behind them: the request
//! bodies and queries with their parsers (`validation`: pydantic-shaped 422s), the response
//! bodies, and every route's declaration. Functions route by these declarations, and the docs
//! function builds the OpenAPI document from the same ones (feature `openapi`).

pub mod accounts;
pub mod api;
pub mod api_keys;
pub mod errors;
pub mod fields;
pub mod files;
pub mod items;
pub mod login;
pub mod operation;
pub mod paging;
pub mod posts;
pub mod public;
pub mod schema;
pub mod sessions;
pub mod two_factor;
pub mod validation;
