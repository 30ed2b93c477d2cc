//! The error bodies of the contract (FastAPI's shapes), as components of the document.

use crate::schema::{collect, component_schema, object, reference, Component, Components};
use serde_json::{json, Value};

/// One entry of a 422's `detail` (`ValidationError`).
pub struct ValidationError;

impl Component for ValidationError {
    const NAME: &'static str = "ValidationError";
    fn definition() -> Value {
        object(
            Self::NAME,
            vec![
                (
                    "loc",
                    json!({
                        "type": "array",
                        "items": { "anyOf": [{ "type": "string" }, { "type": "integer" }] },
                        "title": "Location"
                    }),
                ),
                ("msg", json!({ "type": "string", "title": "Message" })),
                ("type", json!({ "type": "string", "title": "Error Type" })),
                // Whatever the client sent: any JSON value.
                ("input", json!({ "title": "Input" })),
                ("ctx", json!({ "type": "object", "title": "Context" })),
            ],
            &["loc", "msg", "type"],
        )
    }
}
component_schema!(ValidationError);

/// The 422 body: `{"detail": [ValidationError]}`.
pub struct HttpValidationError;

impl Component for HttpValidationError {
    const NAME: &'static str = "HTTPValidationError";
    fn definition() -> Value {
        json!({
            "type": "object",
            "title": Self::NAME,
            "properties": {
                "detail": { "type": "array", "items": reference::<ValidationError>(), "title": "Detail" }
            }
        })
    }
    fn dependencies(components: &mut Components) {
        collect::<ValidationError>(components)
    }
}
component_schema!(HttpValidationError);

/// Every other error body: `{"detail": "<message>"}`.
pub struct HttpError;

impl Component for HttpError {
    const NAME: &'static str = "HTTPError";
    fn definition() -> Value {
        object(
            Self::NAME,
            vec![("detail", json!({ "type": "string", "title": "Detail" }))],
            &["detail"],
        )
    }
}
component_schema!(HttpError);
