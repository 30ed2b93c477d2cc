//! Posts: published for everyone to read, drafts for their author alone.

use crate::items::title;
use crate::records::{version_of, VERSION};
use crate::resources::Owned;
use crate::store::{get_bool, get_s, get_time, get_uuid, keys, s, timestamp, Item, StoreError};
use crate::users::now_micros;
use crate::validation::{scalar, Echo, Fields, Invalid};
use aws_sdk_dynamodb::types::AttributeValue;
use serde_json::{json, Value};
use time::OffsetDateTime;
use uuid::Uuid;

pub const MAX_CONTENT: usize = 50_000;

/// 1–50 000 characters.
pub fn content(value: &Value) -> Result<String, Invalid> {
    let text = scalar::string(value)?;
    match text.chars().count() {
        0 => Err(Invalid::too_short(1)),
        n if n > MAX_CONTENT => Err(Invalid::too_long(MAX_CONTENT)),
        _ => Ok(text.to_owned()),
    }
}

#[derive(Debug, Clone, PartialEq)]
pub struct PostRecord {
    pub id: Uuid,
    pub author_id: Uuid,
    pub title: String,
    pub content: String,
    pub published: bool,
    pub created_at: OffsetDateTime,
    pub updated_at: OffsetDateTime,
    pub version: u64,
}

#[derive(Debug, Clone, Default)]
pub struct PostFields {
    pub title: Option<String>,
    pub content: Option<String>,
    pub published: Option<bool>,
}

impl PostFields {
    pub fn read(fields: &mut Fields<'_>, creating: bool) -> Self {
        if creating {
            Self {
                title: fields.required("title", Echo::Yes, title),
                content: fields.required("content", Echo::Yes, content),
                published: fields.optional("published", Echo::Yes, scalar::boolean).flatten(),
            }
        } else {
            Self {
                title: fields.optional("title", Echo::Yes, title).flatten(),
                content: fields.optional("content", Echo::Yes, content).flatten(),
                published: fields.optional("published", Echo::Yes, scalar::boolean).flatten(),
            }
        }
    }

    pub fn apply(self, post: &mut PostRecord) {
        if let Some(title) = self.title {
            post.title = title;
        }
        if let Some(content) = self.content {
            post.content = content;
        }
        if let Some(published) = self.published {
            post.published = published;
        }
    }
}

/// The listings a post can be in.
pub fn author_partition(author: Uuid, published: bool) -> String {
    format!("AUTHOR#{author}#{}", if published { "PUBLISHED" } else { "DRAFTS" })
}
pub const PUBLISHED_PARTITION: &str = "POSTS#PUBLISHED";
pub const PUBLISHED_COUNTER: &str = "COUNTER#POSTS#PUBLISHED";
pub fn author_counter(author: Uuid, published: bool) -> String {
    format!(
        "COUNTER#POSTS#{author}#{}",
        if published { "PUBLISHED" } else { "DRAFTS" }
    )
}

impl PostRecord {
    pub fn new(author_id: Uuid, fields: PostFields) -> Self {
        let now = now_micros();
        let mut post = Self {
            id: Uuid::new_v4(),
            author_id,
            title: String::new(),
            content: String::new(),
            published: false,
            created_at: now,
            updated_at: now,
            version: 1,
        };
        fields.apply(&mut post);
        post
    }

    pub fn sort_key(&self) -> String {
        format!("{}#{}", timestamp(self.created_at), self.id)
    }
}

impl Owned for PostRecord {
    const NAME: &'static str = "Post";

    fn id(&self) -> Uuid {
        self.id
    }
    fn owner(&self) -> Uuid {
        self.author_id
    }
    fn version(&self) -> u64 {
        self.version
    }
    fn touch(&mut self) {
        self.version += 1;
        self.updated_at = now_micros();
    }
    fn key(id: Uuid) -> (String, &'static str) {
        (format!("POST#{id}"), "POST")
    }

    fn to_item(&self) -> Item {
        let (pk, sk) = Self::key(self.id);
        let mut item = Item::from([
            (keys::PK.to_owned(), s(pk)),
            (keys::SK.to_owned(), s(sk)),
            (
                keys::GSI1_PK.to_owned(),
                s(author_partition(self.author_id, self.published)),
            ),
            (keys::GSI1_SK.to_owned(), s(self.sort_key())),
            ("id".to_owned(), s(self.id.to_string())),
            ("author_id".to_owned(), s(self.author_id.to_string())),
            ("title".to_owned(), s(&self.title)),
            ("content".to_owned(), s(&self.content)),
            ("published".to_owned(), AttributeValue::Bool(self.published)),
            ("created_at".to_owned(), s(timestamp(self.created_at))),
            ("updated_at".to_owned(), s(timestamp(self.updated_at))),
            (VERSION.to_owned(), AttributeValue::N(self.version.to_string())),
        ]);
        // Sparse: only published posts are in the everyone-reads listing.
        if self.published {
            item.insert(keys::GSI2_PK.to_owned(), s(PUBLISHED_PARTITION));
            item.insert(keys::GSI2_SK.to_owned(), s(self.sort_key()));
        }
        item
    }

    fn from_item(item: &Item) -> Result<Self, StoreError> {
        Ok(Self {
            id: get_uuid(item, "id")?,
            author_id: get_uuid(item, "author_id")?,
            title: get_s(item, "title")?.to_owned(),
            content: get_s(item, "content")?.to_owned(),
            published: get_bool(item, "published"),
            created_at: get_time(item, "created_at")?,
            updated_at: get_time(item, "updated_at")?,
            version: version_of(item),
        })
    }

    fn public(&self) -> Value {
        json!({
            "id": self.id,
            "title": self.title,
            "content": self.content,
            "published": self.published,
            "author_id": self.author_id,
            "created_at": timestamp(self.created_at),
            "updated_at": timestamp(self.updated_at),
        })
    }

    fn counted_in(&self) -> Vec<String> {
        if self.published {
            vec![PUBLISHED_COUNTER.to_owned(), author_counter(self.author_id, true)]
        } else {
            vec![author_counter(self.author_id, false)]
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn content_is_one_to_fifty_thousand_characters() {
        assert_eq!(content(&json!("")).unwrap_err().kind, "string_too_short");
        assert!(content(&json!("x".repeat(MAX_CONTENT))).is_ok());
        assert_eq!(
            content(&json!("x".repeat(MAX_CONTENT + 1))).unwrap_err().kind,
            "string_too_long"
        );
    }

    #[test]
    fn only_published_posts_enter_the_public_listing() {
        let mut post = PostRecord::new(
            Uuid::new_v4(),
            PostFields {
                title: Some("T".into()),
                content: Some("C".into()),
                published: None,
            },
        );
        assert!(!post.to_item().contains_key(keys::GSI2_PK));
        assert_eq!(post.counted_in(), vec![author_counter(post.author_id, false)]);
        post.published = true;
        assert_eq!(post.to_item()[keys::GSI2_PK].as_s().unwrap(), PUBLISHED_PARTITION);
        assert_eq!(PostRecord::from_item(&post.to_item()).unwrap(), post);
    }
}
