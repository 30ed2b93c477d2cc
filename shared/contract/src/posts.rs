//! The bodies and the query of the post routes, read into the domain's types.

use crate::paging::Paging;
use crate::schema::body;
use crate::validation::{scalar, Echo, Fields, FromFields, Read};
use domain::post::NewPost;
use domain::{PostChanges, PostContent, Title};

body! {
    /// `POST /posts/`.
    pub struct PostCreate as "PostCreate" {
        required title: Title,
        required content: PostContent,
        default published: bool = false,
    }
}

impl From<PostCreate> for NewPost {
    fn from(body: PostCreate) -> Self {
        Self {
            title: body.title,
            content: body.content,
            published: Some(body.published),
        }
    }
}

body! {
    /// `PUT` and `PATCH /posts/{id}`: the fields sent change.
    pub struct PostUpdate as "PostUpdate" {
        optional title: Title,
        optional content: PostContent,
        optional published: bool,
    }
}

impl From<PostUpdate> for PostChanges {
    fn from(body: PostUpdate) -> Self {
        Self {
            title: body.title,
            content: body.content,
            published: body.published,
        }
    }
}

/// `GET /posts/?skip&limit&cursor&author_id&published`.
#[derive(Debug)]
pub struct PostsQuery {
    pub paging: Paging,
    pub author_id: Option<uuid::Uuid>,
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
