//! The response bodies of the contract, as types.

use crate::domain::clock::timestamp;
use crate::domain::{Email, FullName, Item, Post, Role, User};
use serde::Serialize;
use serde_json::Number;
use time::OffsetDateTime;
use uuid::Uuid;

/// `UserPublic`: what any response may show of a user.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct UserPublic {
    pub id: Uuid,
    pub email: Email,
    pub is_active: bool,
    pub is_superuser: bool,
    pub full_name: Option<FullName>,
    #[serde(with = "time::serde::rfc3339")]
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

/// `ItemPublic`.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct ItemPublic {
    pub id: Uuid,
    pub title: String,
    pub description: Option<String>,
    pub owner_id: Uuid,
    pub created_at: String,
    pub price: Option<Number>,
    pub is_available: bool,
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

/// `PostPublic`.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct PostPublic {
    pub id: Uuid,
    pub title: String,
    pub content: String,
    pub published: bool,
    pub author_id: Uuid,
    pub created_at: String,
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

/// FastAPI's `Message`.
#[derive(Debug, Serialize)]
pub struct Message<'a> {
    pub message: &'a str,
}

/// FastAPI's `Token`, plus the refresh token and how long the access token lives.
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
