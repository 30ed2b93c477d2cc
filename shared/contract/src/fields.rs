//! The domain's value types as fields of request bodies: each reads from JSON through its one
//! constructor and states its schema, with the same limits.

use crate::schema::{collect, reference, Component, Components, Field};
use crate::validation::{scalar, Echo, Invalid};
use domain::file::{FileType, Filename};
use domain::{Description, Email, FullName, Password, PostContent, Price, Role, Title};
use serde_json::{json, Number, Value};

impl Field for Email {
    fn parse(value: &Value) -> Result<Self, Invalid> {
        scalar::string(value).and_then(Email::parse)
    }
    fn schema() -> Value {
        json!({ "type": "string", "format": "email", "maxLength": Email::MAX_LEN })
    }
}

impl Field for Password {
    const ECHO: Echo = Echo::Redact;
    fn parse(value: &Value) -> Result<Self, Invalid> {
        scalar::string(value).and_then(Password::parse)
    }
    fn schema() -> Value {
        json!({ "type": "string", "minLength": Password::MIN_LEN, "maxLength": Password::MAX_LEN })
    }
}

impl Field for FullName {
    fn parse(value: &Value) -> Result<Self, Invalid> {
        scalar::string(value).and_then(FullName::parse)
    }
    fn schema() -> Value {
        json!({ "type": "string", "maxLength": FullName::MAX_LEN })
    }
}

impl Component for Role {
    const NAME: &'static str = "Role";
    fn definition() -> Value {
        json!({
            "type": "string",
            "enum": Role::ALL.iter().map(|r| r.as_str()).collect::<Vec<_>>(),
            "title": "Role",
            "description": "user: read; moderator: read, write; admin: read, write, delete; superuser: everything, and user management."
        })
    }
}

impl Field for Role {
    fn parse(value: &Value) -> Result<Self, Invalid> {
        scalar::string(value).and_then(Role::parse)
    }
    fn schema() -> Value {
        reference::<Role>()
    }
    fn collect(components: &mut Components) {
        collect::<Role>(components)
    }
}

impl Field for Title {
    fn parse(value: &Value) -> Result<Self, Invalid> {
        scalar::string(value).and_then(Title::parse)
    }
    fn schema() -> Value {
        json!({ "type": "string", "minLength": 1, "maxLength": Title::MAX_LEN })
    }
}

impl Field for Description {
    fn parse(value: &Value) -> Result<Self, Invalid> {
        scalar::string(value).and_then(Description::parse)
    }
    fn schema() -> Value {
        json!({ "type": "string", "maxLength": Description::MAX_LEN })
    }
}

impl Field for PostContent {
    fn parse(value: &Value) -> Result<Self, Invalid> {
        scalar::string(value).and_then(PostContent::parse)
    }
    fn schema() -> Value {
        json!({ "type": "string", "minLength": 1, "maxLength": PostContent::MAX_LEN })
    }
}

impl Field for Price {
    /// A JSON number or a numeric string, as pydantic's lax mode takes.
    fn parse(value: &Value) -> Result<Self, Invalid> {
        let number = match value {
            Value::Number(n) => Some(n.clone()),
            Value::String(s) => s
                .trim()
                .parse::<f64>()
                .ok()
                .filter(|f| f.is_finite())
                .and_then(Number::from_f64),
            _ => None,
        }
        .ok_or_else(|| {
            Invalid::new(
                "float_parsing",
                "Input should be a valid number, unable to parse string as a number",
            )
        })?;
        Price::parse(number)
    }
    fn schema() -> Value {
        json!({ "type": "number", "minimum": Price::MIN, "maximum": Price::MAX })
    }
}

impl Field for Filename {
    fn parse(value: &Value) -> Result<Self, Invalid> {
        scalar::string(value).and_then(Filename::parse)
    }
    /// The last path segment must keep a character that is not a control character, white
    /// space or a dot: what `Filename::parse` keeps.
    fn schema() -> Value {
        json!({
            "type": "string",
            "minLength": 1,
            "maxLength": Filename::MAX_LEN,
            "pattern": "[^\\s\\x00-\\x1f\\x7f-\\x9f./\\\\][^/\\\\]*$"
        })
    }
}

/// The media type a client declares for an upload: any string reads (a type that is not allowed
/// is the domain's 400, not a 422), and the schema lists the allowed ones.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MediaType(pub String);

impl MediaType {
    pub fn schema() -> Value {
        let allowed: Vec<&str> = FileType::ALL.iter().map(|t| t.mime()).collect();
        json!({ "type": "string", "enum": allowed })
    }
}

impl Field for MediaType {
    fn parse(value: &Value) -> Result<Self, Invalid> {
        scalar::string(value).map(|s| Self(s.to_owned()))
    }
    fn schema() -> Value {
        Self::schema()
    }
}

/// A declared size in bytes: any whole number of at least 1. One beyond `i64` is simply too
/// large (the domain's 413), not a malformed body.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ByteSize(pub u64);

impl Field for ByteSize {
    fn parse(value: &Value) -> Result<Self, Invalid> {
        match scalar::integer(value, 1, i64::MAX) {
            Err(invalid) if invalid.kind == "less_than_equal" => Ok(Self(u64::MAX)),
            Err(invalid) => Err(invalid),
            Ok(size) => Ok(Self(u64::try_from(size).unwrap_or(0))),
        }
    }
    fn schema() -> Value {
        json!({ "type": "integer", "minimum": 1 })
    }
}
