//! `functions/utils`: health checks and the test email.

use super::HealthCheck;
use shared::http::openapi::{HttpError, HttpValidationError};
use shared::http::public::{Health, Message};

#[derive(utoipa::OpenApi)]
#[openapi(paths(test_email, health_check))]
pub struct Api;

/// Test Email
///
/// Test emails.
#[utoipa::path(
    post,
    path = "/api/v1/utils/test-email/",
    tag = "utils",
    operation_id = "utils-test_email",
    params(("email_to" = String, Query, format = Email, description = "Where to send the test email")),
    security(("OAuth2PasswordBearer" = [])),
    responses(
        (status = 201, description = "Successful Response", body = Message),
        (status = 401, description = "Not authenticated", body = HttpError),
        (status = 403, description = "The user doesn't have enough privileges", body = HttpError),
        (status = 422, description = "Validation Error", body = HttpValidationError),
        (status = 503, description = "A backing service is unavailable: retry", body = HttpError),
    )
)]
pub fn test_email() {}

/// Health Check
///
/// `true`; with `deep=true`, the state of each backing service (table, bucket, queue).
#[utoipa::path(
    get,
    path = "/api/v1/utils/health-check/",
    tag = "utils",
    operation_id = "utils-health_check",
    params(("deep" = Option<bool>, Query, description = "Check every backing service")),
    responses(
        (status = 200, description = "Successful Response", body = inline(HealthCheck)),
        (status = 422, description = "Validation Error", body = HttpValidationError),
        (status = 503, description = "A backing service is unavailable", body = Health),
    )
)]
pub fn health_check() {}
