//! `functions/users`: accounts, the caller's own and (with the admin permission) everyone's.

use shared::http::accounts::{UpdatePassword, UserCreate, UserRegister, UserUpdate, UserUpdateMe};
use shared::http::openapi::{HttpError, HttpValidationError};
use shared::http::public::{Message, UserPublic, UsersPublic};

#[derive(utoipa::OpenApi)]
#[openapi(paths(
    read_users,
    create_user,
    read_user_me,
    delete_user_me,
    update_user_me,
    update_password_me,
    register_user,
    read_user_by_id,
    update_user,
    delete_user
))]
pub struct Api;

/// Read Users
///
/// Retrieve users.
#[utoipa::path(
    get,
    path = "/api/v1/users/",
    tag = "users",
    operation_id = "users-read_users",
    params(
        ("skip" = Option<i64>, Query, minimum = 0, maximum = 10000, description = "Rows to skip"),
        ("limit" = Option<i64>, Query, minimum = 0, maximum = 1000, description = "Rows to return (default 100)"),
    ),
    security(("OAuth2PasswordBearer" = [])),
    responses(
        (status = 200, description = "Successful Response", body = UsersPublic),
        (status = 401, description = "Not authenticated", body = HttpError),
        (status = 403, description = "The user doesn't have enough privileges", body = HttpError),
        (status = 422, description = "Validation Error", body = HttpValidationError),
        (status = 503, description = "A backing service is unavailable: retry", body = HttpError),
    )
)]
pub fn read_users() {}

/// Create User
///
/// Create new user.
#[utoipa::path(
    post,
    path = "/api/v1/users/",
    tag = "users",
    operation_id = "users-create_user",
    request_body = UserCreate,
    security(("OAuth2PasswordBearer" = [])),
    responses(
        (status = 200, description = "Successful Response", body = UserPublic),
        (status = 400, description = "The email is taken", body = HttpError),
        (status = 401, description = "Not authenticated", body = HttpError),
        (status = 403, description = "The user doesn't have enough privileges", body = HttpError),
        (status = 422, description = "Validation Error", body = HttpValidationError),
        (status = 503, description = "A backing service is unavailable: retry", body = HttpError),
    )
)]
pub fn create_user() {}

/// Delete User Me
///
/// Delete own user.
#[utoipa::path(
    delete,
    path = "/api/v1/users/me",
    tag = "users",
    operation_id = "users-delete_user_me",
    security(("OAuth2PasswordBearer" = [])),
    responses(
        (status = 200, description = "Successful Response", body = Message),
        (status = 401, description = "Not authenticated", body = HttpError),
        (status = 403, description = "Super users are not allowed to delete themselves", body = HttpError),
        (status = 503, description = "A backing service is unavailable: retry", body = HttpError),
    )
)]
pub fn delete_user_me() {}

/// Read User Me
///
/// Get current user.
#[utoipa::path(
    get,
    path = "/api/v1/users/me",
    tag = "users",
    operation_id = "users-read_user_me",
    security(("OAuth2PasswordBearer" = [])),
    responses(
        (status = 200, description = "Successful Response", body = UserPublic),
        (status = 401, description = "Not authenticated", body = HttpError),
        (status = 503, description = "A backing service is unavailable: retry", body = HttpError),
    )
)]
pub fn read_user_me() {}

/// Update User Me
///
/// Update own user.
#[utoipa::path(
    patch,
    path = "/api/v1/users/me",
    tag = "users",
    operation_id = "users-update_user_me",
    request_body = UserUpdateMe,
    security(("OAuth2PasswordBearer" = [])),
    responses(
        (status = 200, description = "Successful Response", body = UserPublic),
        (status = 401, description = "Not authenticated", body = HttpError),
        (status = 409, description = "User with this email already exists", body = HttpError),
        (status = 422, description = "Validation Error", body = HttpValidationError),
        (status = 503, description = "A backing service is unavailable: retry", body = HttpError),
    )
)]
pub fn update_user_me() {}

/// Update Password Me
///
/// Update own password.
#[utoipa::path(
    patch,
    path = "/api/v1/users/me/password",
    tag = "users",
    operation_id = "users-update_password_me",
    request_body = UpdatePassword,
    security(("OAuth2PasswordBearer" = [])),
    responses(
        (status = 200, description = "Successful Response", body = Message),
        (status = 400, description = "Incorrect password, or the new one is the current one", body = HttpError),
        (status = 401, description = "Not authenticated", body = HttpError),
        (status = 422, description = "Validation Error", body = HttpValidationError),
        (status = 429, description = "Too many wrong passwords", body = HttpError,
            headers(("Retry-After" = u64, description = "Seconds to wait"))),
        (status = 503, description = "A backing service is unavailable: retry", body = HttpError),
    )
)]
pub fn update_password_me() {}

/// Register User
///
/// Create new user without the need to be logged in.
#[utoipa::path(
    post,
    path = "/api/v1/users/signup",
    tag = "users",
    operation_id = "users-register_user",
    request_body = UserRegister,
    responses(
        (status = 200, description = "Successful Response", body = UserPublic),
        (status = 400, description = "The email is taken", body = HttpError),
        (status = 422, description = "Validation Error", body = HttpValidationError),
        (status = 503, description = "A backing service is unavailable: retry", body = HttpError),
    )
)]
pub fn register_user() {}

/// Read User By Id
///
/// Get a specific user by id.
#[utoipa::path(
    get,
    path = "/api/v1/users/{user_id}",
    tag = "users",
    operation_id = "users-read_user_by_id",
    params(("user_id" = uuid::Uuid, Path, description = "User Id")),
    security(("OAuth2PasswordBearer" = [])),
    responses(
        (status = 200, description = "Successful Response", body = UserPublic),
        (status = 401, description = "Not authenticated", body = HttpError),
        (status = 403, description = "The user doesn't have enough privileges", body = HttpError),
        (status = 404, description = "User not found", body = HttpError),
        (status = 422, description = "Validation Error", body = HttpValidationError),
        (status = 503, description = "A backing service is unavailable: retry", body = HttpError),
    )
)]
pub fn read_user_by_id() {}

/// Update User
///
/// Update a user.
#[utoipa::path(
    patch,
    path = "/api/v1/users/{user_id}",
    tag = "users",
    operation_id = "users-update_user",
    params(("user_id" = uuid::Uuid, Path, description = "User Id")),
    request_body = UserUpdate,
    security(("OAuth2PasswordBearer" = [])),
    responses(
        (status = 200, description = "Successful Response", body = UserPublic),
        (status = 401, description = "Not authenticated", body = HttpError),
        (status = 403, description = "The user doesn't have enough privileges", body = HttpError),
        (status = 404, description = "The user with this id does not exist in the system", body = HttpError),
        (status = 409, description = "User with this email already exists", body = HttpError),
        (status = 422, description = "Validation Error", body = HttpValidationError),
        (status = 503, description = "A backing service is unavailable: retry", body = HttpError),
    )
)]
pub fn update_user() {}

/// Delete User
///
/// Delete a user.
#[utoipa::path(
    delete,
    path = "/api/v1/users/{user_id}",
    tag = "users",
    operation_id = "users-delete_user",
    params(("user_id" = uuid::Uuid, Path, description = "User Id")),
    security(("OAuth2PasswordBearer" = [])),
    responses(
        (status = 200, description = "Successful Response", body = Message),
        (status = 401, description = "Not authenticated", body = HttpError),
        (status = 403, description = "The user doesn't have enough privileges", body = HttpError),
        (status = 404, description = "User not found", body = HttpError),
        (status = 422, description = "Validation Error", body = HttpValidationError),
        (status = 503, description = "A backing service is unavailable: retry", body = HttpError),
    )
)]
pub fn delete_user() {}
