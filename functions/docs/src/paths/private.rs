//! `functions/private`: local and dev stages only.

use shared::http::accounts::PrivateUserCreate;
use shared::http::openapi::{HttpError, HttpValidationError};
use shared::http::public::UserPublic;

#[derive(utoipa::OpenApi)]
#[openapi(paths(create_user))]
pub struct Api;

/// Create User
///
/// Create a new user. Local and dev stages only.
#[utoipa::path(
    post,
    path = "/api/v1/private/users/",
    tag = "private",
    operation_id = "private-create_user",
    request_body = PrivateUserCreate,
    responses(
        (status = 200, description = "Successful Response", body = UserPublic),
        (status = 400, description = "The email is taken", body = HttpError),
        (status = 422, description = "Validation Error", body = HttpValidationError),
        (status = 503, description = "A backing service is unavailable: retry", body = HttpError),
    )
)]
pub fn create_user() {}
