//! `functions/items`: the owned-resource routes over items.

use super::{ItemUpdated, IDEMPOTENCY_KEY, IF_MATCH};
use shared::domain::item::NewItem;
use shared::domain::ItemChanges;
use shared::http::openapi::{HttpError, HttpValidationError};
use shared::http::public::{ItemPublic, ItemsPublic, Message};

#[derive(utoipa::OpenApi)]
#[openapi(paths(read_items, create_item, read_item, update_item, patch_item, delete_item))]
pub struct Api;

/// Read Items
///
/// Retrieve items: a superuser's are everyone's, anyone else's their own. Newest first.
#[utoipa::path(
    get,
    path = "/api/v1/items/",
    tag = "items",
    operation_id = "items-read_items",
    params(
        ("skip" = Option<i64>, Query, minimum = 0, maximum = 10000, description = "Rows to skip"),
        ("limit" = Option<i64>, Query, minimum = 0, maximum = 1000, description = "Rows to return (default 100)"),
        ("cursor" = Option<String>, Query, description = "`next_cursor` of the previous page"),
        ("q" = Option<String>, Query, description = "Case-insensitive text in the title or description"),
    ),
    security(("OAuth2PasswordBearer" = [])),
    responses(
        (status = 200, description = "Successful Response", body = ItemsPublic),
        (status = 401, description = "Not authenticated", body = HttpError),
        (status = 422, description = "Validation Error", body = HttpValidationError),
        (status = 503, description = "A backing service is unavailable: retry", body = HttpError),
    )
)]
pub fn read_items() {}

/// Create Item
///
/// Create new item. With an `Idempotency-Key`, a retry gets the first answer.
#[utoipa::path(
    post,
    path = "/api/v1/items/",
    tag = "items",
    operation_id = "items-create_item",
    params(("Idempotency-Key" = Option<String>, Header, min_length = 1, max_length = 255, pattern = "^[!-~]+$", description = IDEMPOTENCY_KEY)),
    request_body = NewItem,
    security(("OAuth2PasswordBearer" = [])),
    responses(
        (status = 200, description = "Successful Response", body = ItemPublic,
            headers(("ETag" = String, description = "The item's version"))),
        (status = 401, description = "Not authenticated", body = HttpError),
        (status = 422, description = "Validation Error", body = HttpValidationError),
        (status = 503, description = "A backing service is unavailable: retry", body = HttpError),
    )
)]
pub fn create_item() {}

/// Read Item
///
/// Get item by ID.
#[utoipa::path(
    get,
    path = "/api/v1/items/{id}",
    tag = "items",
    operation_id = "items-read_item",
    params(("id" = uuid::Uuid, Path, description = "Id")),
    security(("OAuth2PasswordBearer" = [])),
    responses(
        (status = 200, description = "Successful Response", body = ItemPublic,
            headers(("ETag" = String, description = "The item's version"))),
        (status = 401, description = "Not authenticated", body = HttpError),
        (status = 403, description = "Not enough permissions", body = HttpError),
        (status = 404, description = "Item not found", body = HttpError),
        (status = 422, description = "Validation Error", body = HttpValidationError),
        (status = 503, description = "A backing service is unavailable: retry", body = HttpError),
    )
)]
pub fn read_item() {}

/// Update Item
///
/// Update an item: the fields sent. With `If-Match`, a concurrent change is a 412.
#[utoipa::path(
    put,
    path = "/api/v1/items/{id}",
    tag = "items",
    operation_id = "items-update_item",
    params(
        ("id" = uuid::Uuid, Path, description = "Id"),
        ("If-Match" = Option<String>, Header, description = IF_MATCH),
    ),
    request_body = ItemChanges,
    security(("OAuth2PasswordBearer" = [])),
    responses(
        (status = 200, description = "Successful Response", body = ItemUpdated,
            headers(("ETag" = String, description = "The item's new version"))),
        (status = 400, description = "An If-Match header that is not visible ASCII", body = HttpError),
        (status = 401, description = "Not authenticated", body = HttpError),
        (status = 403, description = "Not enough permissions", body = HttpError),
        (status = 404, description = "Item not found", body = HttpError),
        (status = 409, description = "Changed by other requests meanwhile: retry", body = HttpError),
        (status = 412, description = "If-Match is not the item's version", body = HttpError),
        (status = 422, description = "Validation Error", body = HttpValidationError),
        (status = 503, description = "A backing service is unavailable: retry", body = HttpError),
    )
)]
pub fn update_item() {}

/// Patch Item
///
/// The same as `PUT`.
#[utoipa::path(
    patch,
    path = "/api/v1/items/{id}",
    tag = "items",
    operation_id = "items-patch_item",
    params(
        ("id" = uuid::Uuid, Path, description = "Id"),
        ("If-Match" = Option<String>, Header, description = IF_MATCH),
    ),
    request_body = ItemChanges,
    security(("OAuth2PasswordBearer" = [])),
    responses(
        (status = 200, description = "Successful Response", body = ItemUpdated,
            headers(("ETag" = String, description = "The item's new version"))),
        (status = 400, description = "An If-Match header that is not visible ASCII", body = HttpError),
        (status = 401, description = "Not authenticated", body = HttpError),
        (status = 403, description = "Not enough permissions", body = HttpError),
        (status = 404, description = "Item not found", body = HttpError),
        (status = 409, description = "Changed by other requests meanwhile: retry", body = HttpError),
        (status = 412, description = "If-Match is not the item's version", body = HttpError),
        (status = 422, description = "Validation Error", body = HttpValidationError),
        (status = 503, description = "A backing service is unavailable: retry", body = HttpError),
    )
)]
pub fn patch_item() {}

/// Delete Item
///
/// Delete an item.
#[utoipa::path(
    delete,
    path = "/api/v1/items/{id}",
    tag = "items",
    operation_id = "items-delete_item",
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
        (status = 404, description = "Item not found", body = HttpError),
        (status = 412, description = "If-Match is not the item's version", body = HttpError),
        (status = 422, description = "Validation Error", body = HttpValidationError),
        (status = 503, description = "A backing service is unavailable: retry", body = HttpError),
    )
)]
pub fn delete_item() {}
