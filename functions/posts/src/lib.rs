//! `posts`: published posts everyone can read, and each author's drafts. The routes are the
//! shared owned-resource handlers (`edge::resource`) over `Post`; what is the posts' own is here
//! (who lists and sees what, and the feed), in `domain::post` and `domain::feed` (the rules) and
//! `contract::posts` (the bodies).
//!
//! The default first page of `GET /posts/` — what nearly every reader asks for — is served from
//! the feed's snapshot (`domain::feed`), not from the index partition that holds every
//! published post; any other page reads the index. Without a token, `?published=true` is the
//! public feed: published posts only, cacheable by a CDN (`Cache-Control: public`, an `ETag`
//! and 304).

use adapters::aws::SqsQueue;
use adapters::store::Table;
use contract::api::posts as api;
use contract::posts::{PostCreate, PostUpdate, PostsQuery};
use contract::public::{Page, PostPublic, Skip};
use domain::feed::{FeedPage, FEED_POSTS};
use domain::job::Job;
use domain::ports::{Accounts, FeedStore, JobQueue, Records};
use domain::tokens::TokenKeys;
use domain::{Listing, Owned, Post, PostSource, User};
use edge::request::{ApiRequest, Caller};
use edge::resource::{conditional, Endpoints, Resource, ResourceApi, Route, Written};
use edge::service::{Api, Response};
use edge::{ApiError, ApiResult, StatusCode};
use uuid::Uuid;

/// What a CDN may do with the public feed (the contract's "Public feed").
const PUBLIC_CACHE: &str = "public, max-age=30, stale-while-revalidate=60";

/// Posts over HTTP.
pub struct PostResource;

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

/// Asks for a feed refresh after every write that a published post took part in (published
/// before, after, or both). A refresh that cannot be enqueued is logged: the worker's scheduled
/// sweep rebuilds a snapshot older than a few minutes.
pub struct FeedRefresh<Q>(Q);

impl<Q: JobQueue + 'static> Written<Post> for FeedRefresh<Q> {
    async fn written(&self, before: Option<&Post>, after: Option<&Post>) {
        if !before.is_some_and(|p| p.published) && !after.is_some_and(|p| p.published) {
            return;
        }
        if let Err(err) = self.0.enqueue(Job::RefreshFeed).await {
            tracing::warn!(error = %err, "feed refresh not enqueued; the sweep will rebuild it");
        }
    }
}

/// The posts API: the owned-resource routes, with the listing's first page from the feed.
pub struct Posts<S = Table, Q = SqsQueue> {
    resource: ResourceApi<PostResource, S, FeedRefresh<Q>>,
}

impl<S: Records<Post> + FeedStore + Accounts + 'static, Q: JobQueue + 'static> Posts<S, Q> {
    pub fn new(keys: TokenKeys, cursors: domain::cursor::CursorKey, store: S, queue: Q) -> Self {
        Self {
            resource: ResourceApi::new(keys, cursors, store).telling(FeedRefresh(queue)),
        }
    }

    fn store(&self) -> &S {
        self.resource.store()
    }

    /// `GET /posts/`: with a token, the caller's listing; without one, `?published=true` is the
    /// public feed (any other query still needs a token).
    async fn list(&self, request: ApiRequest) -> ApiResult<Response> {
        let query: PostsQuery = request.query()?;
        let caller = match request.bearer_token() {
            None if query.published == Some(true) => None,
            _ => Some(self.resource.authenticator().current_user(&request).await?),
        };
        let paging = &query.paging;
        let listing = match &caller {
            Some(caller) => PostResource::listing(caller, &query),
            None => Listing::of(vec![query
                .author_id
                .map_or(PostSource::Published, PostSource::PublishedBy)]),
        };
        let scope = format!(
            "{}|{}",
            listing.scope(Post::COLLECTION),
            caller
                .as_ref()
                .map_or_else(|| "anyone".to_owned(), |c| c.id.to_string())
        );
        let first_page =
            paging.skip == 0 && !paging.has_cursor() && query.author_id.is_none() && paging.limit <= FEED_POSTS;
        let from_feed = match (&caller, first_page) {
            (_, false) => None,
            (None, true) => self
                .store()
                .feed()
                .await?
                .and_then(|feed| feed.public_page(paging.limit)),
            (Some(caller), true) => self.feed_for(caller, &query).await?,
        };
        let (posts, next_cursor, count) = match from_feed {
            Some(FeedPage { posts, more, count }) => {
                let next = more
                    .then(|| {
                        posts
                            .last()
                            .map(|last| self.resource.cursors().sign(&scope, &last.sort_key()))
                    })
                    .flatten();
                (posts, next, count)
            }
            None => {
                let mut listing = listing;
                listing.before = paging.position(self.resource.cursors(), &scope)?;
                let (rows, count) = tokio::try_join!(
                    Records::<Post>::list(self.store(), &listing, paging.wanted()),
                    Records::<Post>::count(self.store(), &listing)
                )?;
                let (page, next) = paging.page(rows, self.resource.cursors(), &scope);
                (page, next, count)
            }
        };
        let mut data: Vec<PostPublic> = posts.iter().map(PostPublic::from).collect();
        let mut next_cursor = next_cursor;
        if let Some(kept) = fitting(&data) {
            // The rest follows from a cursor after the last post sent.
            next_cursor = Some(self.resource.cursors().sign(&scope, &posts[kept - 1].sort_key()));
            data.truncate(kept);
        }
        let page = Page {
            data,
            count,
            next_cursor: Skip::Field(next_cursor),
        };
        if caller.is_some() {
            return edge::service::json(StatusCode::OK, &page);
        }
        public(&request, &page)
    }

    /// The caller's first page from the feed's snapshot and their own posts, read now; `None`
    /// when the snapshot is missing or does not reach that deep.
    async fn feed_for(&self, caller: &User, query: &PostsQuery) -> ApiResult<Option<FeedPage>> {
        let Some(feed) = self.store().feed().await? else {
            return Ok(None);
        };
        let wanted = query.paging.limit + 1;
        let own = Listing::of(vec![PostSource::PublishedBy(caller.id)]);
        let drafts = Listing::of(vec![PostSource::DraftsOf(caller.id)]);
        let with_drafts = query.published.is_none();
        let (own_published, (drafts, draft_count)) = tokio::try_join!(
            // All of the caller's posts the snapshot can reach, to correct its count.
            Records::<Post>::list(self.store(), &own, FEED_POSTS + 1),
            async {
                if with_drafts {
                    tokio::try_join!(
                        Records::<Post>::list(self.store(), &drafts, wanted),
                        Records::<Post>::count(self.store(), &drafts)
                    )
                } else {
                    Ok((Vec::new(), 0))
                }
            }
        )?;
        Ok(feed.page_for(caller.id, own_published, drafts, draft_count, query.paging.limit))
    }
}

/// The most a page's posts may take as JSON: a Lambda answer is at most 6 MB, and API Gateway's
/// envelope escapes the body inside it. A page of long posts (50,000 characters each) is cut
/// here, and `next_cursor` continues it.
const MAX_PAGE_BYTES: usize = 4 * 1024 * 1024;

/// How many of `posts` fit in [`MAX_PAGE_BYTES`], when not all of them do (at least one: a single
/// post is far below the limit).
fn fitting(posts: &[PostPublic]) -> Option<usize> {
    // A bound without serialising: every byte JSON-escaped at its longest (6 bytes), and
    // the other fields. Pages of ordinary posts stay far below it.
    let bound: usize = posts.iter().map(|p| 6 * (p.title.len() + p.content.len()) + 512).sum();
    if bound <= MAX_PAGE_BYTES {
        return None;
    }
    let mut total = 0;
    for (n, post) in posts.iter().enumerate() {
        total += serde_json::to_string(post).map_or(0, |json| json.len() + 1);
        if total > MAX_PAGE_BYTES {
            return Some(n.max(1));
        }
    }
    None
}

/// A public feed answer: cacheable by anyone, with a strong tag of its body; 304 when the
/// client's copy is current.
fn public(request: &ApiRequest, page: &Page<PostPublic>) -> ApiResult<Response> {
    let mut response = edge::service::json(StatusCode::OK, page)?;
    response.headers_mut().insert(
        http::header::CACHE_CONTROL,
        http::HeaderValue::from_static(PUBLIC_CACHE),
    );
    conditional(request, response)
}

impl<S: Records<Post> + FeedStore + Accounts + 'static, Q: JobQueue + 'static> Api for Posts<S, Q> {
    type Route = Route;

    fn routes() -> Vec<(contract::operation::Endpoint, Route)> {
        ResourceApi::<PostResource, S, FeedRefresh<Q>>::routes()
    }

    async fn handle(&self, route: Route, request: ApiRequest) -> ApiResult<Response> {
        match route {
            Route::List => self.list(request).await,
            other => self.resource.handle(other, request).await,
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

    fn posts(memory: &Memory) -> edge::Service<Posts<Memory, Memory>> {
        let ctx = context(memory);
        service(Posts::new(ctx.keys, ctx.cursors, ctx.store, ctx.queue))
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

    /// A request of the public feed: no token; `edit` may add headers.
    fn public_feed(edit: impl FnOnce(&mut Value)) -> lambda_http::Request {
        event("posts/public-feed.json", "", edit)
    }

    async fn answer(memory: &Memory, request: lambda_http::Request) -> lambda_http::Response<lambda_http::Body> {
        posts(memory).call(request).await
    }

    #[tokio::test]
    async fn the_public_feed_needs_no_token_and_is_cacheable() {
        let memory = Memory::default();
        let (_, author) = caller(&memory, "author@example.com", Role::User).await;
        create(
            &memory,
            &author,
            json!({"title": "Out", "content": "Hi", "published": true}),
        )
        .await;
        create(&memory, &author, json!({"title": "Draft", "content": "Not yet"})).await;

        let first = answer(&memory, public_feed(|_| {})).await;
        assert_eq!(first.status(), StatusCode::OK);
        let headers = first.headers();
        assert_eq!(headers["cache-control"], PUBLIC_CACHE);
        let tag = headers["etag"].to_str().unwrap().to_owned();
        let (_, body) = call(&posts(&memory), public_feed(|_| {})).await;
        assert_eq!(
            (body["count"].clone(), body["data"][0]["title"].clone()),
            (json!(1), json!("Out"))
        );

        let again = answer(&memory, public_feed(|e| e["headers"]["if-none-match"] = json!(tag))).await;
        assert_eq!(again.status(), StatusCode::NOT_MODIFIED);
        assert_eq!(again.headers()["etag"].to_str().unwrap(), tag);

        // Anything but the published posts still needs a token.
        let drafts = public_feed(|e| {
            e["rawQueryString"] = json!("published=false");
            e["queryStringParameters"] = json!({"published": "false"});
        });
        assert_eq!(call(&posts(&memory), drafts).await.0, StatusCode::UNAUTHORIZED);
    }

    #[tokio::test]
    async fn a_change_to_a_published_post_asks_for_a_feed_refresh() {
        let memory = Memory::default();
        let (_, author) = caller(&memory, "author@example.com", Role::User).await;
        create(&memory, &author, json!({"title": "Draft", "content": "Not yet"})).await;
        assert!(memory.jobs().is_empty(), "a draft is in no feed");
        let published = create(
            &memory,
            &author,
            json!({"title": "Out", "content": "Hi", "published": true}),
        )
        .await;
        let path = format!("/api/v1/posts/{}", published["id"].as_str().unwrap());
        let unpublish = event("posts/patch-unknown.json", &author, |e| {
            set_path(e, &path);
            set_body(e, json!({"published": false}));
        });
        assert_eq!(call(&posts(&memory), unpublish).await.0, StatusCode::OK);
        let jobs = memory.jobs();
        assert_eq!(jobs, vec![domain::job::Job::RefreshFeed, domain::job::Job::RefreshFeed]);
    }

    #[tokio::test]
    async fn the_first_page_comes_from_the_snapshot_with_the_callers_own_posts_fresh() {
        let memory = Memory::default();
        let (_, author) = caller(&memory, "author@example.com", Role::User).await;
        let (_, reader) = caller(&memory, "reader@example.com", Role::User).await;
        create(
            &memory,
            &author,
            json!({"title": "Old", "content": "Hi", "published": true}),
        )
        .await;
        domain::feed::refresh(&memory, time::OffsetDateTime::now_utc())
            .await
            .unwrap();
        // Published after the snapshot: its refresh job has not run yet.
        create(
            &memory,
            &author,
            json!({"title": "New", "content": "Hi", "published": true}),
        )
        .await;

        let titles = |body: &Value| -> Vec<String> {
            body["data"]
                .as_array()
                .unwrap()
                .iter()
                .map(|p| p["title"].as_str().unwrap().to_owned())
                .collect()
        };
        let (_, public) = call(&posts(&memory), public_feed(|_| {})).await;
        assert_eq!(
            (titles(&public), public["count"].clone()),
            (vec!["Old".to_owned()], json!(1))
        );
        let (_, theirs) = call(&posts(&memory), event("posts/list.json", &reader, |_| {})).await;
        assert_eq!(titles(&theirs), vec!["Old"]);
        let (_, mine) = call(&posts(&memory), event("posts/list.json", &author, |_| {})).await;
        assert_eq!(
            (titles(&mine), mine["count"].clone()),
            (vec!["New".to_owned(), "Old".to_owned()], json!(2))
        );

        // The job runs: everyone sees it.
        domain::feed::refresh(&memory, time::OffsetDateTime::now_utc())
            .await
            .unwrap();
        let (_, public) = call(&posts(&memory), public_feed(|_| {})).await;
        assert_eq!(
            (titles(&public), public["count"].clone()),
            (vec!["New".to_owned(), "Old".to_owned()], json!(2))
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
