//! `functions/posts`: the owned-resource routes over posts.

use super::{PostUpdated, IDEMPOTENCY_KEY, IF_MATCH};
use shared::domain::post::NewPost;
use shared::domain::PostChanges;
use shared::http::openapi::{HttpError, HttpValidationError};
use shared::http::public::{Message, PostPublic, PostsPublic};

#[derive(utoipa::OpenApi)]
#[openapi(paths(read_posts, create_post, read_post, update_post, patch_post, delete_post))]
pub struct Api;

/// Read Posts
///
/// Retrieve posts: everyone's published posts and the caller's drafts. Newest first.
#[utoipa::path(
    get,
    path = "/api/v1/posts/",
    tag = "posts",
    operation_id = "posts-read_posts",
    params(
        ("skip" = Option<i64>, Query, minimum = 0, maximum = 10000, description = "Rows to skip"),
        ("limit" = Option<i64>, Query, minimum = 0, maximum = 1000, description = "Rows to return (default 100)"),
        ("cursor" = Option<String>, Query, description = "`next_cursor` of the previous page"),
        ("author_id" = Option<uuid::Uuid>, Query, description = "Only this author's posts"),
        ("published" = Option<bool>, Query, description = "Only published posts, or only drafts"),
    ),
    security(("OAuth2PasswordBearer" = [])),
    responses(
        (status = 200, description = "Successful Response", body = PostsPublic),
        (status = 401, description = "Not authenticated", body = HttpError),
        (status = 422, description = "Validation Error", body = HttpValidationError),
        (status = 503, description = "A backing service is unavailable: retry", body = HttpError),
    )
)]
pub fn read_posts() {}

/// Create Post
///
/// Create new post. With an `Idempotency-Key`, a retry gets the first answer.
#[utoipa::path(
    post,
    path = "/api/v1/posts/",
    tag = "posts",
    operation_id = "posts-create_post",
    params(("Idempotency-Key" = Option<String>, Header, min_length = 1, max_length = 255, pattern = "^[!-~]+$", description = IDEMPOTENCY_KEY)),
    request_body = NewPost,
    security(("OAuth2PasswordBearer" = [])),
    responses(
        (status = 200, description = "Successful Response", body = PostPublic,
            headers(("ETag" = String, description = "The item's version"))),
        (status = 401, description = "Not authenticated", body = HttpError),
        (status = 422, description = "Validation Error", body = HttpValidationError),
        (status = 503, description = "A backing service is unavailable: retry", body = HttpError),
    )
)]
pub fn create_post() {}

/// Read Post
///
/// Get post by ID.
#[utoipa::path(
    get,
    path = "/api/v1/posts/{id}",
    tag = "posts",
    operation_id = "posts-read_post",
    params(("id" = uuid::Uuid, Path, description = "Id")),
    security(("OAuth2PasswordBearer" = [])),
    responses(
        (status = 200, description = "Successful Response", body = PostPublic,
            headers(("ETag" = String, description = "The item's version"))),
        (status = 401, description = "Not authenticated", body = HttpError),
        (status = 404, description = "Post not found (another user's draft included)", body = HttpError),
        (status = 422, description = "Validation Error", body = HttpValidationError),
        (status = 503, description = "A backing service is unavailable: retry", body = HttpError),
    )
)]
pub fn read_post() {}

/// Update Post
///
/// Update a post: the fields sent. With `If-Match`, a concurrent change is a 412.
#[utoipa::path(
    put,
    path = "/api/v1/posts/{id}",
    tag = "posts",
    operation_id = "posts-update_post",
    params(
        ("id" = uuid::Uuid, Path, description = "Id"),
        ("If-Match" = Option<String>, Header, description = IF_MATCH),
    ),
    request_body = PostChanges,
    security(("OAuth2PasswordBearer" = [])),
    responses(
        (status = 200, description = "Successful Response", body = PostUpdated,
            headers(("ETag" = String, description = "The item's new version"))),
        (status = 400, description = "An If-Match header that is not visible ASCII", body = HttpError),
        (status = 401, description = "Not authenticated", body = HttpError),
        (status = 403, description = "Not enough permissions", body = HttpError),
        (status = 404, description = "Post not found", body = HttpError),
        (status = 409, description = "Changed by other requests meanwhile: retry", body = HttpError),
        (status = 412, description = "If-Match is not the post's version", body = HttpError),
        (status = 422, description = "Validation Error", body = HttpValidationError),
        (status = 503, description = "A backing service is unavailable: retry", body = HttpError),
    )
)]
pub fn update_post() {}

/// Patch Post
///
/// The same as `PUT`.
#[utoipa::path(
    patch,
    path = "/api/v1/posts/{id}",
    tag = "posts",
    operation_id = "posts-patch_post",
    params(
        ("id" = uuid::Uuid, Path, description = "Id"),
        ("If-Match" = Option<String>, Header, description = IF_MATCH),
    ),
    request_body = PostChanges,
    security(("OAuth2PasswordBearer" = [])),
    responses(
        (status = 200, description = "Successful Response", body = PostUpdated,
            headers(("ETag" = String, description = "The item's new version"))),
        (status = 400, description = "An If-Match header that is not visible ASCII", body = HttpError),
        (status = 401, description = "Not authenticated", body = HttpError),
        (status = 403, description = "Not enough permissions", body = HttpError),
        (status = 404, description = "Post not found", body = HttpError),
        (status = 409, description = "Changed by other requests meanwhile: retry", body = HttpError),
        (status = 412, description = "If-Match is not the post's version", body = HttpError),
        (status = 422, description = "Validation Error", body = HttpValidationError),
        (status = 503, description = "A backing service is unavailable: retry", body = HttpError),
    )
)]
pub fn patch_post() {}

/// Delete Post
///
/// Delete a post.
#[utoipa::path(
    delete,
    path = "/api/v1/posts/{id}",
    tag = "posts",
    operation_id = "posts-delete_post",
    params(
        ("id" = uuid::Uuid, Path, description = "Id"),
        ("If-Match" = Option<String>, Header, description = IF_MATCH),
    ),
    security(("OAuth2PasswordBearer" = [])),
    responses(
        (status = 200, description = "Successful Response", body = Message),
        (status = 400, description = "An If-Match header that is not visible ASCII", body = HttpError),
        (status = 401, description = "Not authenticated", body = HttpError),
        (status = 403, description = "Not enough permissions", body = HttpError),
        (status = 404, description = "Post not found", body = HttpError),
        (status = 412, description = "If-Match is not the post's version", body = HttpError),
        (status = 422, description = "Validation Error", body = HttpValidationError),
        (status = 503, description = "A backing service is unavailable: retry", body = HttpError),
    )
)]
pub fn delete_post() {}
