//! The routes of the `items` function.

use super::*;

/// Read Items
pub const READ_ITEMS: Operation = Operation {
    endpoint: Endpoint {
        method: Method::GET,
        path: "/api/v1/items/",
        id: "items-read_items",
        key_scope: Some(Scope::ItemsRead),
    },
    tag: "items",
    summary: "Read Items",
    description: "Retrieve items: a superuser's are everyone's, anyone else's their own. Newest first.",
    bearer: Bearer::Required,
    params: &[
        SKIP,
        LIMIT,
        CURSOR,
        Param::query(
            "q",
            "Case-insensitive text in the title or description",
            || json!({"type": "string"}),
        ),
    ],
    body: None,
    replies: &[Reply::ok::<ItemsPublic>(), UNAUTHENTICATED, INVALID, UNAVAILABLE],
};

/// Create Item
pub const CREATE_ITEM: Operation = Operation {
    endpoint: Endpoint {
        method: Method::POST,
        path: "/api/v1/items/",
        id: "items-create_item",
        key_scope: Some(Scope::ItemsWrite),
    },
    tag: "items",
    summary: "Create Item",
    description: "Create new item. With an `Idempotency-Key`, a retry gets the first answer.",
    bearer: Bearer::Required,
    params: &[IDEMPOTENCY_KEY],
    body: Some(Content::json::<ItemCreate>()),
    replies: &[
        Reply::ok::<ItemPublic>().with_headers(ETAG),
        UNAUTHENTICATED,
        INVALID,
        UNAVAILABLE,
    ],
};

/// Read Item
pub const READ_ITEM: Operation = Operation {
    endpoint: Endpoint {
        method: Method::GET,
        path: "/api/v1/items/{id}",
        id: "items-read_item",
        key_scope: Some(Scope::ItemsRead),
    },
    tag: "items",
    summary: "Read Item",
    description: "Get item by ID.",
    bearer: Bearer::Required,
    params: &[Param::path_id("id", "Id"), IF_NONE_MATCH],
    body: None,
    replies: &[
        Reply::ok::<ItemPublic>().with_headers(ETAG),
        NOT_MODIFIED,
        UNAUTHENTICATED,
        Reply::error(403, "Not enough permissions"),
        Reply::error(404, "Item not found"),
        INVALID,
        UNAVAILABLE,
    ],
};

/// Update Item
pub const UPDATE_ITEM: Operation = Operation {
    endpoint: Endpoint {
        method: Method::PUT,
        path: "/api/v1/items/{id}",
        id: "items-update_item",
        key_scope: Some(Scope::ItemsWrite),
    },
    tag: "items",
    summary: "Update Item",
    description: "Update an item: the fields sent. With `If-Match`, a concurrent change is a 412.",
    bearer: Bearer::Required,
    params: &[Param::path_id("id", "Id"), IF_MATCH],
    body: Some(Content::json::<ItemUpdate>()),
    replies: &[
        Reply::ok::<ItemUpdated>().with_headers(NEW_ETAG),
        Reply::error(400, "An If-Match header that is not visible ASCII"),
        UNAUTHENTICATED,
        Reply::error(403, "Not enough permissions"),
        Reply::error(404, "Item not found"),
        Reply::error(409, "Changed by other requests meanwhile: retry"),
        Reply::error(412, "If-Match is not the item's version"),
        INVALID,
        UNAVAILABLE,
    ],
};

/// Delete Item
pub const DELETE_ITEM: Operation = Operation {
    endpoint: Endpoint {
        method: Method::DELETE,
        path: "/api/v1/items/{id}",
        id: "items-delete_item",
        key_scope: Some(Scope::ItemsWrite),
    },
    tag: "items",
    summary: "Delete Item",
    description: "Delete an item.",
    bearer: Bearer::Required,
    params: &[Param::path_id("id", "Id"), IF_MATCH],
    body: None,
    replies: &[
        Reply::ok::<Message>(),
        Reply::error(400, "An If-Match header that is not visible ASCII"),
        UNAUTHENTICATED,
        Reply::error(403, "Not enough permissions"),
        Reply::error(404, "Item not found"),
        Reply::error(412, "If-Match is not the item's version"),
        INVALID,
        UNAVAILABLE,
    ],
};

/// Patch Item
pub const PATCH_ITEM: Operation = Operation {
    endpoint: Endpoint {
        method: Method::PATCH,
        path: "/api/v1/items/{id}",
        id: "items-patch_item",
        key_scope: Some(Scope::ItemsWrite),
    },
    tag: "items",
    summary: "Patch Item",
    description: "The same as `PUT`.",
    bearer: Bearer::Required,
    params: &[Param::path_id("id", "Id"), IF_MATCH],
    body: Some(Content::json::<ItemUpdate>()),
    replies: &[
        Reply::ok::<ItemUpdated>().with_headers(NEW_ETAG),
        Reply::error(400, "An If-Match header that is not visible ASCII"),
        UNAUTHENTICATED,
        Reply::error(403, "Not enough permissions"),
        Reply::error(404, "Item not found"),
        Reply::error(409, "Changed by other requests meanwhile: retry"),
        Reply::error(412, "If-Match is not the item's version"),
        INVALID,
        UNAVAILABLE,
    ],
};

/// Every route of the function, in the order the document lists them.
pub const OPERATIONS: &[Operation] = &[READ_ITEMS, CREATE_ITEM, READ_ITEM, UPDATE_ITEM, DELETE_ITEM, PATCH_ITEM];
