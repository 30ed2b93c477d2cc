//! The response bodies of the contract, each declared once: its fields and its schema.

use crate::fields::MediaType;
use crate::schema::{collect, component_schema, nullable, reference, response, with, Component, Components, Schema};
use domain::clock::timestamp;
use domain::{Email, FullName, Item, Post, Role, User};
use serde::Serialize;
use serde_json::{json, Number, Value};
use time::OffsetDateTime;
use uuid::Uuid;

/// A timestamp as the contract writes it: RFC 3339, UTC, microseconds.
fn date_time() -> Value {
    json!({ "type": "string", "format": "date-time" })
}

response! {
    #[derive(Clone, PartialEq)]
    pub struct UserPublic as "UserPublic",
        "What any response may show of a user (`UserPublic`)."
    {
        required id: Uuid,
        required email: Email,
        required is_active: bool,
        required is_superuser: bool,
        optional full_name: Option<FullName>,
        #[serde(with = "time::serde::rfc3339")]
        required created_at: OffsetDateTime,
        required role: Role,
        // Always sent; left out of the schema's `required` so the document only adds to the
        // one the reference clients were generated from (`functions/docs` checks it).
        optional is_verified: bool,
        // Always sent; not `required` in the schema, so that clients generated from the
        // document before it stay valid (additions only).
        optional has_2fa: bool,
    }
}

impl From<&User> for UserPublic {
    fn from(user: &User) -> Self {
        Self {
            id: user.id,
            email: user.email.clone(),
            is_active: user.is_active,
            is_superuser: user.role.is_superuser(),
            full_name: user.full_name.clone(),
            created_at: user.created_at,
            role: user.role,
            is_verified: user.is_verified,
            has_2fa: user.has_2fa,
        }
    }
}

response! {
    #[derive(Clone, PartialEq)]
    pub struct ItemPublic as "ItemPublic",
        "An item (`ItemPublic`)."
    {
        required id: Uuid,
        required title: String,
        optional description: Option<String>,
        required owner_id: Uuid,
        required created_at: String as date_time(),
        optional price: Option<Number>,
        required is_available: bool,
        required updated_at: String as date_time(),
    }
}

impl From<&Item> for ItemPublic {
    fn from(item: &Item) -> Self {
        Self {
            id: item.id,
            title: item.title.as_str().to_owned(),
            description: item.description.as_ref().map(|d| d.as_str().to_owned()),
            owner_id: item.owner_id,
            created_at: timestamp(item.created_at),
            price: item.price.as_ref().map(|p| p.as_number().clone()),
            is_available: item.is_available,
            updated_at: timestamp(item.updated_at),
        }
    }
}

response! {
    #[derive(Clone, PartialEq)]
    pub struct PostPublic as "PostPublic",
        "A post (`PostPublic`): published, or a draft only its author sees."
    {
        required id: Uuid,
        required title: String,
        required content: String,
        required published: bool,
        required author_id: Uuid,
        required created_at: String as date_time(),
        required updated_at: String as date_time(),
    }
}

impl From<&Post> for PostPublic {
    fn from(post: &Post) -> Self {
        Self {
            id: post.id,
            title: post.title.as_str().to_owned(),
            content: post.content.as_str().to_owned(),
            published: post.published,
            author_id: post.author_id,
            created_at: timestamp(post.created_at),
            updated_at: timestamp(post.updated_at),
        }
    }
}

/// One page of a listing: `{"data", "count", "next_cursor"}` (`UsersPublic` has no cursor).
#[derive(Debug, Serialize)]
pub struct Page<T> {
    pub data: Vec<T>,
    pub count: u64,
    #[serde(skip_serializing_if = "Skip::skip")]
    pub next_cursor: Skip<String>,
}

/// `UsersPublic`: a page of users (no cursor).
pub type UsersPublic = Page<UserPublic>;
/// `ItemsPublic`.
pub type ItemsPublic = Page<ItemPublic>;
/// `PostsPublic`.
pub type PostsPublic = Page<PostPublic>;

/// The schema of a page of `T` named `name`, with `next_cursor` when the listing has cursors.
pub fn page<T: Component>(name: &str, cursor: bool) -> Value {
    let mut properties = vec![
        (
            "data",
            json!({ "type": "array", "items": reference::<T>(), "title": "Data" }),
        ),
        ("count", json!({ "type": "integer", "minimum": 0, "title": "Count" })),
    ];
    let mut required = vec!["data", "count"];
    if cursor {
        properties.push((
            "next_cursor",
            with(nullable(json!({ "type": "string" })), "title", json!("Next Cursor")),
        ));
        required.push("next_cursor");
    }
    crate::schema::object(name, properties, &required)
}

/// `Component` for a page of a component: `Page<ItemPublic>` is `ItemsPublic`.
macro_rules! page_component {
    ($($item:ty => $name:literal, cursor: $cursor:literal;)*) => {$(
        impl $crate::schema::Component for $crate::public::Page<$item> {
            const NAME: &'static str = $name;
            fn definition() -> serde_json::Value {
                $crate::public::page::<$item>($name, $cursor)
            }
            fn dependencies(components: &mut $crate::schema::Components) {
                $crate::schema::collect::<$item>(components)
            }
        }
        $crate::schema::component_schema!($crate::public::Page<$item>);
    )*};
}
pub(crate) use page_component;

page_component! {
    UserPublic => "UsersPublic", cursor: false;
    ItemPublic => "ItemsPublic", cursor: true;
    PostPublic => "PostsPublic", cursor: true;
}

/// A field present as a value or `null`, or left out of the body altogether.
#[derive(Debug)]
pub enum Skip<T> {
    Field(Option<T>),
    Omitted,
}

impl<T> Skip<T> {
    fn skip(&self) -> bool {
        matches!(self, Self::Omitted)
    }
}

impl<T: Serialize> Serialize for Skip<T> {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        match self {
            Self::Field(value) => value.serialize(serializer),
            Self::Omitted => serializer.serialize_none(),
        }
    }
}

response! {
    pub struct Health as "Health",
        "The deep health check's answer (`GET /utils/health-check/?deep=true`): 200 when every \
        backing service answers, else 503 with `detail` naming the failing ones."
    {
        #[serde(skip_serializing_if = "Option::is_none")]
        optional detail: Option<String>,
        required status: &'static str
            as json!({ "type": "string", "description": "`ok`, or `error` when a check failed." }),
        required checks: std::collections::BTreeMap<&'static str, &'static str>
            as json!({
                "type": "object",
                "description": "Each backing service (`table`, `bucket`, `queue`) and whether it answered: `ok` or `unavailable`.",
                "additionalProperties": { "type": "string" },
                "propertyNames": { "type": "string" }
            }),
    }
}

/// The answer of `GET /utils/health-check/`: `true`, or with `deep=true` the state of every
/// backing service (an inline schema, as FastAPI writes a union).
pub struct HealthCheck;

impl Schema for HealthCheck {
    fn schema() -> Value {
        json!({
            "oneOf": [{ "type": "boolean" }, reference::<Health>()],
            "title": "Response Utils-Health Check"
        })
    }
    fn collect(components: &mut Components) {
        collect::<Health>(components)
    }
}

response! {
    pub struct Message as "Message",
        "A confirmation (FastAPI's `Message`)."
    {
        required message: String,
    }
}

impl Message {
    pub fn new(text: impl Into<String>) -> Self {
        Self { message: text.into() }
    }
}

/// The answer to an update: the record, or only a `Message` when the caller may change it but
/// not read it (a moderator and another user's item).
macro_rules! updated {
    ($($marker:ident: $public:ty => $name:literal;)*) => {$(
        #[doc = concat!("`", $name, "`: the record, or a `Message` for a caller who may change it but not read it.")]
        pub struct $marker;

        impl Component for $marker {
            const NAME: &'static str = $name;
            fn definition() -> Value {
                json!({ "oneOf": [reference::<$public>(), reference::<Message>()], "title": $name })
            }
            fn dependencies(components: &mut Components) {
                collect::<$public>(components);
                collect::<Message>(components);
            }
        }
        component_schema!($marker);
    )*};
}

updated! {
    ItemUpdated: ItemPublic => "ItemUpdated";
    PostUpdated: PostPublic => "PostUpdated";
}

response! {
    pub struct Token as "Token",
        "A bearer access token, the refresh token that renews it, and the access token's lifetime \
        in seconds (FastAPI's `Token`, plus `refresh_token` and `expires_in`)."
    {
        required access_token: String,
        required token_type: &'static str,
        required refresh_token: String,
        required expires_in: u64,
    }
}

/// The schema of `content_type` in responses: one of the allowed media types.
pub fn media_type() -> Value {
    MediaType::schema()
}

#[cfg(test)]
mod tests {
    use super::*;
    use domain::passwords::PasswordHash;

    #[test]
    fn public_shape_has_no_password_hash() {
        let user = User::new(
            Email::parse("a@example.com").unwrap(),
            PasswordHash::from_stored("$argon2id$secret".into()),
            None,
            Role::User,
        );
        let json = serde_json::to_value(UserPublic::from(&user)).unwrap();
        assert!(!json.to_string().contains("argon2"));
        assert_eq!(json["role"], "user");
        assert_eq!(json["is_superuser"], false);
        assert!(json["full_name"].is_null());
    }

    #[test]
    fn pages_without_cursors_omit_the_field() {
        let page = Page::<u8> {
            data: vec![],
            count: 0,
            next_cursor: Skip::Omitted,
        };
        assert_eq!(
            serde_json::to_value(page).unwrap(),
            serde_json::json!({"data": [], "count": 0})
        );
    }
}
