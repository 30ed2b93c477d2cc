//! The routes of the `posts` function.

use super::*;

/// Read Posts
pub const READ_POSTS: Operation = Operation {
    endpoint: Endpoint {
        method: Method::GET,
        path: "/api/v1/posts/",
        id: "posts-read_posts",
        key_scope: Some(Scope::PostsRead),
    },
    tag: "posts",
    summary: "Read Posts",
    description: "Retrieve posts: everyone's published posts and the caller's drafts. Newest first. \
                  Without a token, `published=true` is the public feed: published posts only, answered with \
                  `Cache-Control: public, max-age=30, stale-while-revalidate=60` and an `ETag` (`If-None-Match` \
                  with it: 304).",
    bearer: Bearer::Optional,
    params: &[
        SKIP,
        LIMIT,
        CURSOR,
        Param::query(
            "author_id",
            "Only this author's posts",
            || json!({"type": "string", "format": "uuid"}),
        ),
        Param::query(
            "published",
            "Only published posts, or only drafts",
            || json!({"type": "boolean"}),
        ),
        IF_NONE_MATCH,
    ],
    body: None,
    replies: &[
        Reply::ok::<PostsPublic>().with_headers(PUBLIC_FEED),
        NOT_MODIFIED,
        UNAUTHENTICATED,
        INVALID,
        UNAVAILABLE,
    ],
};

/// Create Post
pub const CREATE_POST: Operation = Operation {
    endpoint: Endpoint {
        method: Method::POST,
        path: "/api/v1/posts/",
        id: "posts-create_post",
        key_scope: Some(Scope::PostsWrite),
    },
    tag: "posts",
    summary: "Create Post",
    description: "Create new post. With an `Idempotency-Key`, a retry gets the first answer.",
    bearer: Bearer::Required,
    params: &[IDEMPOTENCY_KEY],
    body: Some(Content::json::<PostCreate>()),
    replies: &[
        Reply::ok::<PostPublic>().with_headers(ETAG),
        UNAUTHENTICATED,
        INVALID,
        UNAVAILABLE,
    ],
};

/// Read Post
pub const READ_POST: Operation = Operation {
    endpoint: Endpoint {
        method: Method::GET,
        path: "/api/v1/posts/{id}",
        id: "posts-read_post",
        key_scope: Some(Scope::PostsRead),
    },
    tag: "posts",
    summary: "Read Post",
    description: "Get post by ID.",
    bearer: Bearer::Required,
    params: &[Param::path_id("id", "Id"), IF_NONE_MATCH],
    body: None,
    replies: &[
        Reply::ok::<PostPublic>().with_headers(ETAG),
        NOT_MODIFIED,
        UNAUTHENTICATED,
        Reply::error(404, "Post not found (another user's draft included)"),
        INVALID,
        UNAVAILABLE,
    ],
};

/// Update Post
pub const UPDATE_POST: Operation = Operation {
    endpoint: Endpoint {
        method: Method::PUT,
        path: "/api/v1/posts/{id}",
        id: "posts-update_post",
        key_scope: Some(Scope::PostsWrite),
    },
    tag: "posts",
    summary: "Update Post",
    description: "Update a post: the fields sent. With `If-Match`, a concurrent change is a 412.",
    bearer: Bearer::Required,
    params: &[Param::path_id("id", "Id"), IF_MATCH],
    body: Some(Content::json::<PostUpdate>()),
    replies: &[
        Reply::ok::<PostUpdated>().with_headers(NEW_ETAG),
        Reply::error(400, "An If-Match header that is not visible ASCII"),
        UNAUTHENTICATED,
        Reply::error(403, "Not enough permissions"),
        Reply::error(404, "Post not found"),
        Reply::error(409, "Changed by other requests meanwhile: retry"),
        Reply::error(412, "If-Match is not the post's version"),
        INVALID,
        UNAVAILABLE,
    ],
};

/// Delete Post
pub const DELETE_POST: Operation = Operation {
    endpoint: Endpoint {
        method: Method::DELETE,
        path: "/api/v1/posts/{id}",
        id: "posts-delete_post",
        key_scope: Some(Scope::PostsWrite),
    },
    tag: "posts",
    summary: "Delete Post",
    description: "Delete a post.",
    bearer: Bearer::Required,
    params: &[Param::path_id("id", "Id"), IF_MATCH],
    body: None,
    replies: &[
        Reply::ok::<Message>(),
        Reply::error(400, "An If-Match header that is not visible ASCII"),
        UNAUTHENTICATED,
        Reply::error(403, "Not enough permissions"),
        Reply::error(404, "Post not found"),
        Reply::error(412, "If-Match is not the post's version"),
        INVALID,
        UNAVAILABLE,
    ],
};

/// Patch Post
pub const PATCH_POST: Operation = Operation {
    endpoint: Endpoint {
        method: Method::PATCH,
        path: "/api/v1/posts/{id}",
        id: "posts-patch_post",
        key_scope: Some(Scope::PostsWrite),
    },
    tag: "posts",
    summary: "Patch Post",
    description: "The same as `PUT`.",
    bearer: Bearer::Required,
    params: &[Param::path_id("id", "Id"), IF_MATCH],
    body: Some(Content::json::<PostUpdate>()),
    replies: &[
        Reply::ok::<PostUpdated>().with_headers(NEW_ETAG),
        Reply::error(400, "An If-Match header that is not visible ASCII"),
        UNAUTHENTICATED,
        Reply::error(403, "Not enough permissions"),
        Reply::error(404, "Post not found"),
        Reply::error(409, "Changed by other requests meanwhile: retry"),
        Reply::error(412, "If-Match is not the post's version"),
        INVALID,
        UNAVAILABLE,
    ],
};

/// Every route of the function, in the order the document lists them.
pub const OPERATIONS: &[Operation] = &[READ_POSTS, CREATE_POST, READ_POST, UPDATE_POST, DELETE_POST, PATCH_POST];
