//! Posts over HTTP: their bodies and query read into the domain's types, and the rules the
//! shared resource handlers apply to them.

use super::error::{ApiError, ApiResult};
use super::items::title;
use super::paging::Paging;
use super::public::PostPublic;
use super::resource::Resource;
use super::validation::{scalar, Echo, Fields, FromFields, Invalid, Read};
use crate::domain::post::NewPost;
use crate::domain::{Listing, Post, PostChanges, PostContent, PostSource, User};
use serde_json::Value;
use uuid::Uuid;

pub fn content(value: &Value) -> Result<PostContent, Invalid> {
    scalar::string(value).and_then(PostContent::parse)
}

impl FromFields for NewPost {
    fn from_fields(fields: &mut Fields<'_>) -> Read<Self> {
        let title = fields.required("title", Echo::Yes, title);
        let content = fields.required("content", Echo::Yes, content);
        let published = fields.defaulted("published", Echo::Yes, scalar::json_boolean);
        Ok(Self {
            title: title?,
            content: content?,
            published: published?,
        })
    }
}

impl FromFields for PostChanges {
    fn from_fields(fields: &mut Fields<'_>) -> Read<Self> {
        let title = fields.optional("title", Echo::Yes, title);
        let content = fields.optional("content", Echo::Yes, content);
        let published = fields.optional("published", Echo::Yes, scalar::json_boolean);
        Ok(Self {
            title: title?,
            content: content?,
            published: published?,
        })
    }
}

/// `GET /posts/?skip&limit&cursor&author_id&published`.
#[derive(Debug)]
pub struct PostsQuery {
    pub paging: Paging,
    pub author_id: Option<Uuid>,
    pub published: Option<bool>,
}

impl AsRef<Paging> for PostsQuery {
    fn as_ref(&self) -> &Paging {
        &self.paging
    }
}

impl FromFields for PostsQuery {
    fn from_fields(fields: &mut Fields<'_>) -> Read<Self> {
        let paging = Paging::read(fields);
        let author_id = fields.optional("author_id", Echo::Yes, scalar::uuid);
        let published = fields.optional("published", Echo::Yes, scalar::boolean);
        Ok(Self {
            paging: paging?,
            author_id: author_id?,
            published: published?,
        })
    }
}

impl Resource for Post {
    type Public = PostPublic;
    type New = NewPost;
    type Query = PostsQuery;
    const PATHS: (&'static str, &'static str) = ("/api/v1/posts/", "/api/v1/posts/{id}");

    fn create(author: Uuid, new: NewPost) -> Self {
        Post::new(author, new)
    }

    /// Published posts of everyone plus the caller's drafts, narrowed by `author_id` and `published`.
    fn listing(caller: &User, query: &PostsQuery) -> Listing<PostSource> {
        Listing::of(PostSource::for_listing(caller.id, query.author_id, query.published))
    }

    fn check_read(&self, caller: &User) -> ApiResult<()> {
        self.check_visible(caller)
    }

    /// Another user's draft does not exist as far as the caller can tell.
    fn check_visible(&self, caller: &User) -> ApiResult<()> {
        if self.visible_to(caller) {
            Ok(())
        } else {
            Err(ApiError::NotFound("Post not found".into()))
        }
    }
}
