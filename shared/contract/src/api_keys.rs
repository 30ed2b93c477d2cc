//! API keys over HTTP: the body that asks for one, the key as its owner sees it
//! (`ApiKeyPublic`), the answer that shows a new key once, and the list.

use crate::public::{page_component, Page, Skip};
use crate::schema::{body, response, Field};
use crate::validation::{scalar, Invalid};
use domain::api_key::{ApiKey, KeyName, Scope, Scopes, DEFAULT_DAYS, MAX_DAYS};
use serde_json::{json, Value};
use time::OffsetDateTime;
use uuid::Uuid;

impl Field for KeyName {
    fn parse(value: &Value) -> Result<Self, Invalid> {
        scalar::string(value).and_then(KeyName::parse)
    }
    fn schema() -> Value {
        json!({ "type": "string", "minLength": 1, "maxLength": KeyName::MAX_LEN })
    }
}

fn scope_schema() -> Value {
    json!({ "type": "string", "enum": Scope::ALL.iter().map(|s| s.as_str()).collect::<Vec<_>>() })
}

/// The scopes asked for: a list of at least one scope name (repeats are one).
impl Field for Scopes {
    fn parse(value: &Value) -> Result<Self, Invalid> {
        let list = value
            .as_array()
            .ok_or_else(|| Invalid::new("list_type", "Input should be a valid list"))?;
        if list.is_empty() {
            return Err(
                Invalid::new("too_short", "List should have at least 1 item after validation, not 0")
                    .with_ctx(json!({ "field_type": "List", "min_length": 1, "actual_length": 0 })),
            );
        }
        list.iter()
            .enumerate()
            .map(|(at, name)| {
                scalar::string(name).and_then(Scope::parse).map_err(|invalid| Invalid {
                    msg: format!("Item {at}: {}", invalid.msg),
                    ..invalid
                })
            })
            .collect()
    }
    fn schema() -> Value {
        json!({ "type": "array", "items": scope_schema(), "minItems": 1 })
    }
}

/// A key's life in days: 1–365.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct KeyDays(pub i64);

impl Field for KeyDays {
    fn parse(value: &Value) -> Result<Self, Invalid> {
        scalar::integer(value, 1, MAX_DAYS).map(Self)
    }
    fn schema() -> Value {
        json!({ "type": "integer", "minimum": 1, "maximum": MAX_DAYS, "default": DEFAULT_DAYS })
    }
}

body! {
    /// `POST /users/me/api-keys`.
    pub struct ApiKeyCreate as "ApiKeyCreate" {
        required name: KeyName,
        required scopes: Scopes,
        optional expires_in_days: KeyDays,
    }
}

response! {
    #[derive(Clone, PartialEq)]
    pub struct ApiKeyPublic as "ApiKeyPublic",
        "An API key as its owner sees it (`ApiKeyPublic`): never the key, only its first 12 \
        characters (`prefix`); what it may do (`scopes`), until when, and when it was last used \
        (written at most once a minute)."
    {
        required id: Uuid,
        required name: String as json!({ "type": "string", "minLength": 1, "maxLength": KeyName::MAX_LEN }),
        required prefix: String,
        required scopes: Vec<&'static str> as json!({ "type": "array", "items": scope_schema() }),
        #[serde(with = "time::serde::rfc3339")]
        required created_at: OffsetDateTime,
        #[serde(with = "time::serde::rfc3339")]
        required expires_at: OffsetDateTime,
        #[serde(with = "time::serde::rfc3339::option")]
        required last_used_at: Option<OffsetDateTime>,
    }
}

impl From<&ApiKey> for ApiKeyPublic {
    fn from(key: &ApiKey) -> Self {
        Self {
            id: key.id,
            name: key.name.as_str().to_owned(),
            prefix: key.prefix.clone(),
            scopes: key.scopes.iter().map(Scope::as_str).collect(),
            created_at: key.created_at,
            expires_at: key.expires_at,
            last_used_at: key.last_used_at,
        }
    }
}

response! {
    pub struct ApiKeyCreated as "ApiKeyCreated",
        "A new API key: `key` is shown this once (only its hash is kept); send it as \
        `Authorization: Bearer sbk_...`."
    {
        required key: String,
        required api_key: ApiKeyPublic,
    }
}

/// `ApiKeysPublic`: the caller's keys, newest first.
pub type ApiKeysPublic = Page<ApiKeyPublic>;

page_component! {
    ApiKeyPublic => "ApiKeysPublic", cursor: false;
}

/// The page of `keys`.
pub fn keys_page(keys: &[ApiKey]) -> ApiKeysPublic {
    Page {
        data: keys.iter().map(ApiKeyPublic::from).collect(),
        count: keys.len() as u64,
        next_cursor: Skip::Omitted,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::validation::{read, Loc, Source};

    fn create(body: Value) -> Result<ApiKeyCreate, Vec<crate::validation::FieldError>> {
        read(Source::Body, body.as_object().unwrap())
    }

    #[test]
    fn a_key_is_asked_for_with_a_name_scopes_and_maybe_days() {
        let asked = create(json!({"name": "ci", "scopes": ["items:read", "items:read", "posts:write"]})).unwrap();
        assert_eq!(asked.name.as_str(), "ci");
        assert_eq!(
            asked.scopes.iter().collect::<Vec<_>>(),
            [Scope::ItemsRead, Scope::PostsWrite]
        );
        assert_eq!(asked.expires_in_days, None);
        let asked = create(json!({"name": "ci", "scopes": ["profile:read"], "expires_in_days": 365})).unwrap();
        assert_eq!(asked.expires_in_days, Some(KeyDays(365)));
    }

    #[test]
    fn bad_names_scopes_and_days_are_422s_at_their_fields() {
        let fields = |body| {
            create(body)
                .unwrap_err()
                .iter()
                .map(|e| (e.loc.clone(), e.kind))
                .collect::<Vec<_>>()
        };
        assert_eq!(
            fields(json!({"name": "", "scopes": [], "expires_in_days": 0})),
            [
                (Loc::body("name"), "string_too_short"),
                (Loc::body("scopes"), "too_short"),
                (Loc::body("expires_in_days"), "greater_than_equal"),
            ]
        );
        assert_eq!(
            fields(json!({"name": "x".repeat(65), "scopes": ["items:read", "users:write"], "expires_in_days": 366})),
            [
                (Loc::body("name"), "string_too_long"),
                (Loc::body("scopes"), "enum"),
                (Loc::body("expires_in_days"), "less_than_equal"),
            ]
        );
        assert_eq!(
            fields(json!({"scopes": "items:read"})),
            [(Loc::body("name"), "missing"), (Loc::body("scopes"), "list_type")]
        );
    }
}
