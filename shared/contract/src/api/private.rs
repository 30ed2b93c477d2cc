//! The routes of the `private` function.

use super::*;

/// Create User
pub const CREATE_USER: Operation = Operation {
    endpoint: Endpoint {
        method: Method::POST,
        path: "/api/v1/private/users/",
        id: "private-create_user",
        key_scope: None,
    },
    tag: "private",
    summary: "Create User",
    description: "Create a new user. Local and dev stages only.",
    bearer: Bearer::No,
    params: &[],
    body: Some(Content::json::<PrivateUserCreate>()),
    replies: &[
        Reply::ok::<UserPublic>(),
        Reply::error(400, "The email is taken"),
        INVALID,
        UNAVAILABLE,
    ],
};

/// Every route of the function, in the order the document lists them.
pub const OPERATIONS: &[Operation] = &[CREATE_USER];
