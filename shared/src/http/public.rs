//! The response bodies of the contract, as types.

use crate::domain::clock::timestamp;
use crate::domain::{Email, FullName, Item, Post, Role, User};
use serde::Serialize;
use serde_json::Number;
use time::OffsetDateTime;
use uuid::Uuid;

/// What any response may show of a user (`UserPublic`).
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct UserPublic {
    pub id: Uuid,
    #[cfg_attr(feature = "openapi", schema(value_type = String, format = Email))]
    pub email: Email,
    pub is_active: bool,
    pub is_superuser: bool,
    #[cfg_attr(feature = "openapi", schema(value_type = Option<String>, max_length = 255))]
    pub full_name: Option<FullName>,
    #[serde(with = "time::serde::rfc3339")]
    #[cfg_attr(feature = "openapi", schema(value_type = String, format = DateTime))]
    pub created_at: OffsetDateTime,
    pub role: Role,
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
        }
    }
}

/// An item (`ItemPublic`).
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct ItemPublic {
    pub id: Uuid,
    pub title: String,
    pub description: Option<String>,
    pub owner_id: Uuid,
    #[cfg_attr(feature = "openapi", schema(format = DateTime))]
    pub created_at: String,
    #[cfg_attr(feature = "openapi", schema(value_type = Option<f64>))]
    pub price: Option<Number>,
    pub is_available: bool,
    #[cfg_attr(feature = "openapi", schema(format = DateTime))]
    pub updated_at: String,
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

/// A post (`PostPublic`): published, or a draft only its author sees.
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct PostPublic {
    pub id: Uuid,
    pub title: String,
    pub content: String,
    pub published: bool,
    pub author_id: Uuid,
    #[cfg_attr(feature = "openapi", schema(format = DateTime))]
    pub created_at: String,
    #[cfg_attr(feature = "openapi", schema(format = DateTime))]
    pub updated_at: String,
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

/// The deep health check's answer (`GET /utils/health-check/?deep=true`): 200 when every backing
/// service answers, else 503 with `detail` naming the failing ones.
#[derive(Debug, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Health {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub detail: Option<String>,
    /// `ok`, or `error` when a check failed.
    pub status: &'static str,
    /// Each backing service (`table`, `bucket`, `queue`) and whether it answered: `ok` or `unavailable`.
    pub checks: std::collections::BTreeMap<&'static str, &'static str>,
}

/// A confirmation (FastAPI's `Message`).
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Debug, Serialize)]
pub struct Message<'a> {
    pub message: &'a str,
}

/// A bearer access token, the refresh token that renews it, and the access token's lifetime in
/// seconds (FastAPI's `Token`, plus `refresh_token` and `expires_in`).
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Debug, Serialize)]
pub struct Token {
    pub access_token: String,
    pub token_type: &'static str,
    pub refresh_token: String,
    pub expires_in: u64,
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::passwords::PasswordHash;

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
