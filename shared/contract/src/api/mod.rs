//! Every route of the contract, one module per function crate: each route's one declaration,
//! which the function's router matches and the docs function writes into the OpenAPI document.
//! Names (operation ids `<tag>-<handler>`, tags, summaries, bodies) are FastAPI's reference
//! backend's where it has the route.

pub mod files;
pub mod items;
pub mod login;
pub mod posts;
pub mod private;
pub mod users;
pub mod utils;

use crate::accounts::{
    PrivateUserCreate, UpdatePassword, UserCreate, UserRegister, UserUpdate, UserUpdateMe, VerifyEmail,
};
use crate::api_keys::{ApiKeyCreate, ApiKeyCreated, ApiKeysPublic};
use crate::files::{FileCreate, FileCreated, FilePublic, UploadFileForm};
use crate::items::{ItemCreate, ItemUpdate};
use crate::login::{LoginForm, NewPassword, RefreshTokenRequest};
use crate::operation::{
    Bearer, Content, Endpoint, Header, Operation, Param, Reply, INVALID, UNAUTHENTICATED, UNAVAILABLE,
};
use crate::paging::{MAX_LIMIT, MAX_SKIP};
use crate::posts::{PostCreate, PostUpdate};
use crate::public::{
    Health, HealthCheck, ItemPublic, ItemUpdated, ItemsPublic, Message, Page, PostPublic, PostUpdated, PostsPublic,
    Token, UserPublic, UsersPublic,
};
use crate::sessions::SessionsPublic;
use crate::two_factor::{
    MfaLogin, MfaRequired, RecoveryCodes, TotpConfirm, TotpSetup, TotpSetupRequest, TwoFactorDisable,
};
use domain::api_key::Scope;
use http::Method;
use serde_json::json;

/// The API functions and their routes, in the order the document lists them.
pub const FUNCTIONS: &[(&str, &[Operation])] = &[
    ("login", login::OPERATIONS),
    ("users", users::OPERATIONS),
    ("utils", utils::OPERATIONS),
    ("items", items::OPERATIONS),
    ("posts", posts::OPERATIONS),
    ("files", files::OPERATIONS),
    ("private", private::OPERATIONS),
];

const SKIP: Param = Param::query(
    "skip",
    "Rows to skip",
    || json!({ "type": "integer", "format": "int64", "minimum": 0, "maximum": MAX_SKIP }),
);
const LIMIT: Param = Param::query(
    "limit",
    "Rows to return (default 100)",
    || json!({ "type": "integer", "format": "int64", "minimum": 0, "maximum": MAX_LIMIT }),
);
const CURSOR: Param = Param::query(
    "cursor",
    "`next_cursor` of the previous page",
    || json!({ "type": "string" }),
);
const IF_MATCH: Param = Param::header(
    "If-Match",
    "The `ETag` last read: a record changed since is a 412",
    || json!({ "type": ["string", "null"] }),
);
const IF_NONE_MATCH: Param = Param::header(
    "If-None-Match",
    "An `ETag` read before: if it is still current, a 304 with no body",
    || json!({ "type": ["string", "null"] }),
);
/// 304: the copy the client holds (`If-None-Match`) is current.
const NOT_MODIFIED: Reply = Reply {
    status: 304,
    description: "Not Modified: the client's copy is current",
    content: None,
    headers: ETAG,
};
const IDEMPOTENCY_KEY: Param = Param::header(
    "Idempotency-Key",
    "A retry with the same key and body gets the first answer (kept 24 h)",
    || json!({ "type": ["string", "null"], "minLength": 1, "maxLength": 255, "pattern": "^[!-~]+$" }),
);

const ETAG: &[Header] = &[Header {
    name: "ETag",
    description: "The item's version",
    schema: || json!({ "type": "string" }),
}];
/// The tag of an answer whose record has no version of its own (a user, a file).
const BODY_ETAG: &[Header] = &[Header {
    name: "ETag",
    description: "A tag of this answer, for `If-None-Match`",
    schema: || json!({ "type": "string" }),
}];
/// The public feed's caching headers.
const PUBLIC_FEED: &[Header] = &[
    Header {
        name: "ETag",
        description: "A tag of this page",
        schema: || json!({ "type": "string" }),
    },
    Header {
        name: "Cache-Control",
        description: "Without a token: `public, max-age=30, stale-while-revalidate=60`",
        schema: || json!({ "type": "string" }),
    },
];
const NEW_ETAG: &[Header] = &[Header {
    name: "ETag",
    description: "The item's new version",
    schema: || json!({ "type": "string" }),
}];
const RETRY_AFTER: &[Header] = &[Header {
    name: "Retry-After",
    description: "Seconds to wait",
    schema: || json!({ "type": "integer", "format": "int64", "minimum": 0 }),
}];
const LOCATION: &[Header] = &[Header {
    name: "Location",
    description: "A presigned GET, valid 5 minutes",
    schema: || json!({ "type": "string" }),
}];

#[cfg(test)]
mod tests {
    use super::*;

    /// The key policy in one table: a key reaches items, posts and files by their read and
    /// write scopes, the owner's profile by `profile:read`, and no other route.
    #[test]
    fn keys_reach_resources_by_their_scopes_and_no_account_route() {
        for (_, operations) in FUNCTIONS {
            for Operation { endpoint, .. } in *operations {
                let read = endpoint.method == Method::GET;
                let by_resource = [
                    ("/api/v1/items/", Scope::ItemsRead, Scope::ItemsWrite),
                    ("/api/v1/posts/", Scope::PostsRead, Scope::PostsWrite),
                    ("/api/v1/files/", Scope::FilesRead, Scope::FilesWrite),
                ]
                .into_iter()
                .find(|(prefix, ..)| endpoint.path.starts_with(prefix))
                .map(|(_, r, w)| if read { r } else { w });
                let expected = match (endpoint.method.as_str(), endpoint.path) {
                    ("GET", "/api/v1/users/me") | ("POST", "/api/v1/login/test-token") => Some(Scope::ProfileRead),
                    _ => by_resource,
                };
                assert_eq!(endpoint.key_scope, expected, "{}", endpoint.id);
            }
        }
    }
}
