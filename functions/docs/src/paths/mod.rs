//! The operations of every API function, one module per function crate, each its own `OpenApi`
//! merged into the document by `crate::document`. Names (operation ids `<tag>-<function>`, tags,
//! summaries, bodies) are FastAPI's reference backend's where it has the route.
//!
//! Each operation is declared on a function named like the reference backend's handler; the
//! handler itself is the route of the named function crate (`Api::routes`), and
//! `tests/api/docs.rs` checks that the two and `template.yaml` agree.

pub mod files;
pub mod items;
pub mod login;
pub mod posts;
pub mod private;
pub mod users;
pub mod utils;

use serde_json::json;
use shared::http::openapi::schema;
use std::borrow::Cow;
use utoipa::openapi::schema::Schema;
use utoipa::openapi::RefOr;
use utoipa::{PartialSchema, ToSchema};

const IDEMPOTENCY_KEY: &str = "A retry with the same key and body gets the first answer (kept 24 h)";
const IF_MATCH: &str = "The `ETag` last read: a record changed since is a 412";

/// The answer to an update: the record, or only a `Message` when the caller may change it but not
/// read it (a moderator and another user's item).
macro_rules! updated {
    ($marker:ident, $public:ty, $name:literal) => {
        pub struct $marker;

        impl PartialSchema for $marker {
            fn schema() -> RefOr<Schema> {
                schema(json!({
                    "oneOf": [
                        { "$ref": format!("#/components/schemas/{}", <$public>::name()) },
                        { "$ref": "#/components/schemas/Message" }
                    ],
                    "title": $name
                }))
            }
        }

        impl ToSchema for $marker {
            fn name() -> Cow<'static, str> {
                Cow::Borrowed($name)
            }
            fn schemas(schemas: &mut Vec<(String, RefOr<Schema>)>) {
                schemas.push((<$public>::name().into_owned(), <$public>::schema()));
                schemas.push(("Message".into(), shared::http::public::Message::schema()));
            }
        }
    };
}

updated!(ItemUpdated, shared::http::public::ItemPublic, "ItemUpdated");
updated!(PostUpdated, shared::http::public::PostPublic, "PostUpdated");

/// `true`, or with `deep=true` the state of every backing service.
pub struct HealthCheck;

impl PartialSchema for HealthCheck {
    fn schema() -> RefOr<Schema> {
        schema(json!({
            "oneOf": [{ "type": "boolean" }, { "$ref": "#/components/schemas/Health" }],
            "title": "Response Utils-Health Check"
        }))
    }
}

impl ToSchema for HealthCheck {
    fn name() -> Cow<'static, str> {
        Cow::Borrowed("HealthCheck")
    }
    fn schemas(schemas: &mut Vec<(String, RefOr<Schema>)>) {
        schemas.push(("Health".into(), shared::http::public::Health::schema()));
    }
}
