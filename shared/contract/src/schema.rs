//! JSON Schemas of the contract's types (OpenAPI 3.1 schemas are JSON Schema 2020-12), written
//! once next to the parser or the serialiser they describe: a value type says how it reads and
//! what its schema is (`Field`), a body declares its fields once (`body!`) and gets both its
//! parser and its schema, and a named shape is a component of the document (`Component`).

use crate::validation::{scalar, Echo, Invalid};
use serde_json::{json, Map, Value};
use std::collections::BTreeMap;

/// The document's `components.schemas`, by name.
pub type Components = BTreeMap<String, Value>;

/// A type that has a JSON Schema where it is used: inline, or a `$ref` to its component.
pub trait Schema {
    fn schema() -> Value;
    /// Adds every component the schema refers to (itself, when it is one).
    fn collect(_components: &mut Components) {}
}

/// A named schema of `components.schemas`, referred to by `$ref`.
pub trait Component {
    /// FastAPI's name where the reference backend has the shape.
    const NAME: &'static str;
    fn definition() -> Value;
    /// Adds the components the definition refers to.
    fn dependencies(_components: &mut Components) {}
}

/// `{"$ref": "#/components/schemas/<T::NAME>"}`.
pub fn reference<T: Component>() -> Value {
    json!({ "$ref": format!("#/components/schemas/{}", T::NAME) })
}

/// Adds `T` and what it refers to.
pub fn collect<T: Component>(components: &mut Components) {
    if !components.contains_key(T::NAME) {
        components.insert(T::NAME.to_owned(), T::definition());
        T::dependencies(components);
    }
}

/// `Schema` for components: a `$ref`, and the component collected.
macro_rules! component_schema {
    ($($ty:ty),* $(,)?) => {$(
        impl $crate::schema::Schema for $ty {
            fn schema() -> serde_json::Value {
                $crate::schema::reference::<$ty>()
            }
            fn collect(components: &mut $crate::schema::Components) {
                $crate::schema::collect::<$ty>(components)
            }
        }
    )*};
}
pub(crate) use component_schema;

/// FastAPI's title of a field: `owner_id` → `Owner Id`.
pub fn title(field: &str) -> String {
    field
        .split('_')
        .filter(|w| !w.is_empty())
        .map(|w| {
            let mut chars = w.chars();
            chars
                .next()
                .map(|c| c.to_uppercase().chain(chars).collect::<String>())
                .unwrap_or_default()
        })
        .collect::<Vec<_>>()
        .join(" ")
}

/// `schema` with `key: value` added (a title, a default, a description).
pub fn with(mut schema: Value, key: &str, value: Value) -> Value {
    if let Some(object) = schema.as_object_mut() {
        object.insert(key.to_owned(), value);
    }
    schema
}

/// A value that may be `null`: `{"anyOf": [schema, {"type": "null"}]}`.
pub fn nullable(schema: Value) -> Value {
    json!({ "anyOf": [schema, { "type": "null" }] })
}

/// An object of `properties` (name → schema), `required` listing the names that must be sent.
pub fn object(title: &str, properties: Vec<(&str, Value)>, required: &[&str]) -> Value {
    let mut object = json!({
        "type": "object",
        "title": title,
        "properties": properties.into_iter().map(|(k, v)| (k.to_owned(), v)).collect::<Map<_, _>>(),
    });
    if !required.is_empty() {
        object["required"] = json!(required);
    }
    object
}

/// A value of a request body, form or query: how it reads from JSON and what its schema is.
pub trait Field: Sized {
    /// Whether a failing value may be echoed back in the 422's `input` (never a secret).
    const ECHO: Echo = Echo::Yes;
    fn parse(value: &Value) -> Result<Self, Invalid>;
    fn schema() -> Value;
    fn collect(_components: &mut Components) {}
}

impl Field for bool {
    /// A JSON `true` or `false`, and nothing else (pydantic's strict mode).
    fn parse(value: &Value) -> Result<Self, Invalid> {
        scalar::json_boolean(value)
    }
    fn schema() -> Value {
        json!({ "type": "boolean" })
    }
}

impl Field for String {
    fn parse(value: &Value) -> Result<Self, Invalid> {
        scalar::string(value).map(str::to_owned)
    }
    fn schema() -> Value {
        json!({ "type": "string" })
    }
}

/// A secret sent as text (a password to check, a token): read like any string, never echoed in
/// a 422, and its `Debug` shows nothing.
#[derive(Clone, PartialEq, Eq)]
pub struct Secret(pub String);

impl std::fmt::Debug for Secret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Secret(***)")
    }
}

impl Field for Secret {
    const ECHO: Echo = Echo::Redact;
    fn parse(value: &Value) -> Result<Self, Invalid> {
        scalar::string(value).map(|s| Self(s.to_owned()))
    }
    fn schema() -> Value {
        json!({ "type": "string" })
    }
}

/// Declares a request body once: the struct, its parser (`FromFields`: one 422 entry per
/// failing field, pydantic's way) and its schema (`Component`, under FastAPI's name).
///
/// Each field is `required`, `optional` (absent or `null` is `None`), `patch` (absent, `null`
/// or a value: `Patch<T>`), or `default` (absent is the default; `null` is refused, as pydantic
/// refuses it for `is_active: bool = True`). Field types implement [`Field`].
macro_rules! body {
    (
        $(#[$meta:meta])*
        pub struct $name:ident as $component:literal {
            $( $(#[$field_meta:meta])* $mode:ident $field:ident : $ty:ty $(= $default:expr)? ),* $(,)?
        }
    ) => {
        $(#[$meta])*
        #[derive(Debug)]
        pub struct $name {
            $( $(#[$field_meta])* pub $field: $crate::schema::body!(@type $mode $ty), )*
        }

        impl $crate::validation::FromFields for $name {
            fn from_fields(fields: &mut $crate::validation::Fields<'_>) -> $crate::validation::Read<Self> {
                $( let $field = $crate::schema::body!(@read fields $mode $field $ty $(= $default)?); )*
                Ok(Self { $( $field: $field?, )* })
            }
        }

        impl $crate::schema::Component for $name {
            const NAME: &'static str = $component;
            fn definition() -> serde_json::Value {
                let mut required: Vec<&str> = Vec::new();
                $( if $crate::schema::body!(@required $mode) { required.push(stringify!($field)); } )*
                $crate::schema::object(
                    $component,
                    vec![$( (stringify!($field), $crate::schema::body!(@schema $mode $field $ty $(= $default)?)), )*],
                    &required,
                )
            }
            fn dependencies(components: &mut $crate::schema::Components) {
                $( <$ty as $crate::schema::Field>::collect(components); )*
            }
        }

        $crate::schema::component_schema!($name);
    };

    (@type required $ty:ty) => { $ty };
    (@type optional $ty:ty) => { Option<$ty> };
    (@type patch $ty:ty) => { domain::Patch<$ty> };
    (@type default $ty:ty) => { $ty };

    (@read $fields:ident required $field:ident $ty:ty) => {
        $fields.required(stringify!($field), <$ty as $crate::schema::Field>::ECHO, <$ty as $crate::schema::Field>::parse)
    };
    (@read $fields:ident optional $field:ident $ty:ty) => {
        $fields.optional(stringify!($field), <$ty as $crate::schema::Field>::ECHO, <$ty as $crate::schema::Field>::parse)
    };
    (@read $fields:ident patch $field:ident $ty:ty) => {
        $fields.patch(stringify!($field), <$ty as $crate::schema::Field>::ECHO, <$ty as $crate::schema::Field>::parse)
    };
    (@read $fields:ident default $field:ident $ty:ty = $default:expr) => {
        $fields
            .defaulted(stringify!($field), <$ty as $crate::schema::Field>::ECHO, <$ty as $crate::schema::Field>::parse)
            .map(|value| value.unwrap_or_else(|| $default.into()))
    };

    (@required required) => { true };
    (@required $other:ident) => { false };

    (@schema required $field:ident $ty:ty) => {
        $crate::schema::with(
            <$ty as $crate::schema::Field>::schema(),
            "title",
            serde_json::Value::String($crate::schema::title(stringify!($field))),
        )
    };
    (@schema optional $field:ident $ty:ty) => {
        $crate::schema::with(
            $crate::schema::nullable(<$ty as $crate::schema::Field>::schema()),
            "title",
            serde_json::Value::String($crate::schema::title(stringify!($field))),
        )
    };
    (@schema patch $field:ident $ty:ty) => {
        $crate::schema::body!(@schema optional $field $ty)
    };
    (@schema default $field:ident $ty:ty = $default:expr) => {
        $crate::schema::with(
            $crate::schema::body!(@schema required $field $ty),
            "default",
            serde_json::json!($default),
        )
    };
}
pub(crate) use body;

/// Declares a response body once: the serialised struct and its schema (`Component`, under
/// FastAPI's name). Each field is `required` (the key is always there; `Option` fields may be
/// `null`) or `optional` (an `Option` that may be left out or `null`); a field's schema is its
/// type's [`Schema`], or the expression after `as`. The text after the name is the type's doc
/// comment and the schema's description.
macro_rules! response {
    (
        $(#[$meta:meta])*
        pub struct $name:ident as $component:literal, $doc:literal {
            $( $(#[$field_meta:meta])* $mode:ident $field:ident : $ty:ty $(as $schema:expr)? ),* $(,)?
        }
    ) => {
        #[doc = $doc]
        $(#[$meta])*
        #[derive(Debug, serde::Serialize)]
        pub struct $name {
            $( $(#[$field_meta])* pub $field: $ty, )*
        }

        impl $crate::schema::Component for $name {
            const NAME: &'static str = $component;
            fn definition() -> serde_json::Value {
                let mut required: Vec<&str> = Vec::new();
                $( if $crate::schema::response!(@required $mode) { required.push(stringify!($field)); } )*
                let mut definition = $crate::schema::object(
                    $component,
                    vec![$( (
                        stringify!($field),
                        $crate::schema::with(
                            $crate::schema::response!(@schema $ty $(as $schema)?),
                            "title",
                            serde_json::Value::String($crate::schema::title(stringify!($field))),
                        ),
                    ), )*],
                    &required,
                );
                definition["description"] = serde_json::Value::String($doc.to_owned());
                definition
            }
            #[allow(unused_variables)]
            fn dependencies(components: &mut $crate::schema::Components) {
                $( $crate::schema::response!(@collect components $ty $(as $schema)?); )*
            }
        }

        $crate::schema::component_schema!($name);
    };

    (@required required) => { true };
    (@required optional) => { false };

    (@schema $ty:ty) => { <$ty as $crate::schema::Schema>::schema() };
    (@schema $ty:ty as $schema:expr) => { $schema };

    (@collect $components:ident $ty:ty) => { <$ty as $crate::schema::Schema>::collect($components) };
    (@collect $components:ident $ty:ty as $schema:expr) => {};
}
pub(crate) use response;

impl Schema for bool {
    fn schema() -> Value {
        json!({ "type": "boolean" })
    }
}

impl Schema for String {
    fn schema() -> Value {
        json!({ "type": "string" })
    }
}

impl Schema for &str {
    fn schema() -> Value {
        json!({ "type": "string" })
    }
}

impl Schema for u64 {
    fn schema() -> Value {
        json!({ "type": "integer", "format": "int64", "minimum": 0 })
    }
}

impl Schema for uuid::Uuid {
    fn schema() -> Value {
        json!({ "type": "string", "format": "uuid" })
    }
}

impl Schema for time::OffsetDateTime {
    fn schema() -> Value {
        json!({ "type": "string", "format": "date-time" })
    }
}

impl Schema for serde_json::Number {
    fn schema() -> Value {
        json!({ "type": "number", "format": "double" })
    }
}

impl Schema for domain::Email {
    fn schema() -> Value {
        json!({ "type": "string", "format": "email" })
    }
}

impl Schema for domain::FullName {
    fn schema() -> Value {
        json!({ "type": "string", "maxLength": domain::FullName::MAX_LEN })
    }
}

impl Schema for domain::Role {
    fn schema() -> Value {
        reference::<domain::Role>()
    }
    fn collect(components: &mut Components) {
        collect::<domain::Role>(components)
    }
}

/// A value or `null`: `null` joins a plain type's `type`, and a reference becomes `anyOf`.
impl<T: Schema> Schema for Option<T> {
    fn schema() -> Value {
        let inner = T::schema();
        match inner.get("type").and_then(Value::as_str) {
            Some(kind) => {
                let mut schema = inner.clone();
                schema["type"] = json!([kind, "null"]);
                schema
            }
            None => nullable(inner),
        }
    }
    fn collect(components: &mut Components) {
        T::collect(components)
    }
}

impl<T: Schema> Schema for Vec<T> {
    fn schema() -> Value {
        json!({ "type": "array", "items": T::schema() })
    }
    fn collect(components: &mut Components) {
        T::collect(components)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn titles_are_fastapis() {
        assert_eq!(title("owner_id"), "Owner Id");
        assert_eq!(title("is_available"), "Is Available");
        assert_eq!(title("q"), "Q");
    }
}
