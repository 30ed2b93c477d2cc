//! `posts`: published posts everyone can read, and each author's drafts. The routes are the
//! shared owned-resource handlers (`edge::resource`) over `Post`; what is the posts' own is here
//! (who lists and sees what), in `domain::post` (the rules) and `contract::posts` (the bodies).

use adapters::store::Table;
use contract::api::posts as api;
use contract::posts::{PostCreate, PostUpdate, PostsQuery};
use contract::public::PostPublic;
use domain::{Listing, Post, PostSource, User};
use edge::resource::{Endpoints, Resource, ResourceApi};
use edge::{ApiError, ApiResult};
use uuid::Uuid;

/// Posts over HTTP.
pub struct PostResource;

pub type Posts<S = Table> = ResourceApi<PostResource, S>;

impl Resource for PostResource {
    type Record = Post;
    type Public = PostPublic;
    type New = PostCreate;
    type Update = PostUpdate;
    type Query = PostsQuery;
    const ENDPOINTS: Endpoints = Endpoints {
        list: api::READ_POSTS.endpoint,
        create: api::CREATE_POST.endpoint,
        read: api::READ_POST.endpoint,
        update: api::UPDATE_POST.endpoint,
        patch: api::PATCH_POST.endpoint,
        delete: api::DELETE_POST.endpoint,
    };

    fn create(author: Uuid, new: PostCreate) -> Post {
        Post::new(author, new.into())
    }

    /// Published posts of everyone plus the caller's drafts, narrowed by `author_id` and `published`.
    fn listing(caller: &User, query: &PostsQuery) -> Listing<PostSource> {
        Listing::of(PostSource::for_listing(caller.id, query.author_id, query.published))
    }

    fn check_read(post: &Post, caller: &User) -> ApiResult<()> {
        Self::check_visible(post, caller)
    }

    /// Another user's draft does not exist as far as the caller can tell.
    fn check_visible(post: &Post, caller: &User) -> ApiResult<()> {
        if post.visible_to(caller) {
            Ok(())
        } else {
            Err(ApiError::NotFound("Post not found".into()))
        }
    }
}

#[cfg(test)]
mod tests {
    //! Every route through the whole service, from the `events/` fixtures, on in-memory stores.

    use super::*;
    use adapters::store::memory::Memory;
    use domain::Role;
    use edge::StatusCode;
    use serde_json::{json, Value};
    use testkit::{call, caller, context, event, service, set_body, set_path};

    fn posts(memory: &Memory) -> edge::Service<Posts<Memory>> {
        {
            let ctx = context(memory);
            service(Posts::new(ctx.keys, ctx.cursors, ctx.store))
        }
    }

    async fn create(memory: &Memory, token: &str, body: Value) -> Value {
        // The fixture carries an Idempotency-Key; another body must not reuse it.
        let request = event("posts/create.json", token, |e| {
            set_body(e, body);
            e["headers"].as_object_mut().map(|h| h.remove("idempotency-key"));
        });
        let (status, created) = call(&posts(memory), request).await;
        assert_eq!(status, StatusCode::OK, "{created}");
        created
    }

    #[tokio::test]
    async fn published_posts_are_everyones_and_drafts_their_authors() {
        let memory = Memory::default();
        let (_, author) = caller(&memory, "author@example.com", Role::User).await;
        let (_, reader) = caller(&memory, "reader@example.com", Role::User).await;
        let (status, published) = call(&posts(&memory), event("posts/create.json", &author, |_| {})).await;
        assert_eq!((status, published["published"].clone()), (StatusCode::OK, json!(true)));
        let draft = create(&memory, &author, json!({"title": "Draft", "content": "Not yet"})).await;
        assert_eq!(draft["published"], false);

        let (_, mine) = call(&posts(&memory), event("posts/list.json", &author, |_| {})).await;
        assert_eq!(mine["count"], 2);
        let (_, theirs) = call(&posts(&memory), event("posts/list.json", &reader, |_| {})).await;
        assert_eq!(theirs["count"], 1);
        assert_eq!(theirs["data"][0]["title"], "Hello");

        let draft_path = format!("/api/v1/posts/{}", draft["id"].as_str().unwrap());
        for name in ["read", "patch", "delete"] {
            let request = event(&format!("posts/{name}-unknown.json"), &reader, |e| {
                set_path(e, &draft_path)
            });
            let (status, body) = call(&posts(&memory), request).await;
            assert_eq!(
                (status, body["detail"].clone()),
                (StatusCode::NOT_FOUND, json!("Post not found")),
                "{name}"
            );
        }
        let read = event("posts/read-unknown.json", &author, |e| set_path(e, &draft_path));
        assert_eq!(call(&posts(&memory), read).await.0, StatusCode::OK);
    }

    #[tokio::test]
    async fn publishing_a_draft_moves_it_between_listings() {
        let memory = Memory::default();
        let (_, author) = caller(&memory, "author@example.com", Role::User).await;
        let (_, reader) = caller(&memory, "reader@example.com", Role::User).await;
        let draft = create(&memory, &author, json!({"title": "Draft", "content": "Soon"})).await;
        let path = format!("/api/v1/posts/{}", draft["id"].as_str().unwrap());
        let publish = event("posts/patch-unknown.json", &author, |e| {
            set_path(e, &path);
            set_body(e, json!({"published": true}));
        });
        assert_eq!(call(&posts(&memory), publish).await.1["published"], true);
        let (_, theirs) = call(&posts(&memory), event("posts/list.json", &reader, |_| {})).await;
        assert_eq!(theirs["count"], 1);
    }

    #[tokio::test]
    async fn another_users_published_post_cannot_be_changed() {
        let memory = Memory::default();
        let (_, author) = caller(&memory, "author@example.com", Role::User).await;
        let (_, reader) = caller(&memory, "reader@example.com", Role::User).await;
        let (_, published) = call(&posts(&memory), event("posts/create.json", &author, |_| {})).await;
        let path = format!("/api/v1/posts/{}", published["id"].as_str().unwrap());
        for name in ["put", "delete"] {
            let request = event(&format!("posts/{name}-unknown.json"), &reader, |e| set_path(e, &path));
            assert_eq!(call(&posts(&memory), request).await.0, StatusCode::FORBIDDEN, "{name}");
        }
        let delete = event("posts/delete-unknown.json", &author, |e| set_path(e, &path));
        assert_eq!(
            call(&posts(&memory), delete).await.1["message"],
            "Post deleted successfully"
        );
    }

    #[tokio::test]
    async fn bad_input_gets_the_contracts_errors() {
        let memory = Memory::default();
        let (_, token) = caller(&memory, "author@example.com", Role::User).await;
        let cursor = event("posts/list-bad-cursor.json", &token, |_| {});
        assert_eq!(call(&posts(&memory), cursor).await.0, StatusCode::UNPROCESSABLE_ENTITY);
        let empty = event("posts/create.json", &token, |e| {
            set_body(e, json!({"title": "T", "content": ""}))
        });
        let (status, body) = call(&posts(&memory), empty).await;
        assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
        assert_eq!(body["detail"][0]["loc"], json!(["body", "content"]));
        for name in ["read", "put", "patch", "delete"] {
            let request = event(&format!("posts/{name}-unknown.json"), &token, |_| {});
            assert_eq!(call(&posts(&memory), request).await.0, StatusCode::NOT_FOUND, "{name}");
        }
    }
}
