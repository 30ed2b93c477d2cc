//! The one error type of the HTTP layer, its one mapping to the contract's shapes, and every
//! conversion from the errors of the layers below.

use contract::validation::FieldError;
use domain::file::UploadRefused;
use domain::ports::{FileCreateError, ObjectError, QueueError};
use domain::{passwords::HashError, StoreError, WriteError};
use http::StatusCode;
use serde_json::{json, Value};

/// Why a request could not be authenticated. Both answer 401 with `WWW-Authenticate: Bearer`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AuthFailure {
    /// No bearer token at all.
    Missing,
    /// A token was sent but is not acceptable (bad signature, expired, wrong type, unknown user…).
    Invalid,
}

#[derive(Debug, thiserror::Error)]
pub enum ApiError {
    #[error("request validation failed")]
    Validation(Vec<FieldError>),
    #[error("{0}")]
    BadRequest(String),
    #[error("authentication failed: {0:?}")]
    Unauthorized(AuthFailure),
    /// 401 to a right password on an account with two-factor on: the login goes on at
    /// `POST /login/mfa` with this token.
    #[error("two-factor code required")]
    MfaRequired { mfa_token: String },
    #[error("{0}")]
    Forbidden(String),
    #[error("{0}")]
    NotFound(String),
    #[error("method not allowed")]
    MethodNotAllowed,
    #[error("{0}")]
    Conflict(String),
    #[error("{0}")]
    PreconditionFailed(String),
    #[error("request body too large")]
    PayloadTooLarge { limit: usize },
    /// 413 with its own detail (an upload over a size limit).
    #[error("{0}")]
    TooLarge(String),
    #[error("{detail}")]
    TooManyRequests { detail: String, retry_after_secs: u64 },
    /// A backing service (DynamoDB, S3, SQS, SES) failed or throttled; the cause is logged, not sent.
    #[error("{service} unavailable: {cause}")]
    Unavailable { service: &'static str, cause: String },
    /// A bug on our side. The cause is logged; the client sees a generic message.
    #[error("internal error: {0}")]
    Internal(String),
}

pub type ApiResult<T> = Result<T, ApiError>;

/// Seconds a client should wait before retrying after a backing service failed.
pub const UNAVAILABLE_RETRY_AFTER_SECS: u64 = 5;

impl ApiError {
    pub fn validation(error: FieldError) -> Self {
        Self::Validation(vec![error])
    }

    pub fn unavailable(service: &'static str, cause: impl std::fmt::Display) -> Self {
        Self::Unavailable {
            service,
            cause: cause.to_string(),
        }
    }

    pub fn status(&self) -> StatusCode {
        match self {
            Self::Validation(_) => StatusCode::UNPROCESSABLE_ENTITY,
            Self::BadRequest(_) => StatusCode::BAD_REQUEST,
            Self::Unauthorized(_) | Self::MfaRequired { .. } => StatusCode::UNAUTHORIZED,
            Self::Forbidden(_) => StatusCode::FORBIDDEN,
            Self::NotFound(_) => StatusCode::NOT_FOUND,
            Self::MethodNotAllowed => StatusCode::METHOD_NOT_ALLOWED,
            Self::Conflict(_) => StatusCode::CONFLICT,
            Self::PreconditionFailed(_) => StatusCode::PRECONDITION_FAILED,
            Self::PayloadTooLarge { .. } | Self::TooLarge(_) => StatusCode::PAYLOAD_TOO_LARGE,
            Self::TooManyRequests { .. } => StatusCode::TOO_MANY_REQUESTS,
            Self::Unavailable { .. } => StatusCode::SERVICE_UNAVAILABLE,
            Self::Internal(_) => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }

    /// The `detail` body FastAPI would send, plus the headers the contract asks for.
    pub fn to_parts(&self) -> (StatusCode, Vec<(&'static str, String)>, Value) {
        let mut headers = Vec::new();
        let detail = match self {
            Self::Validation(errors) => Value::Array(errors.iter().map(FieldError::to_json).collect()),
            Self::BadRequest(m) | Self::Forbidden(m) | Self::NotFound(m) | Self::Conflict(m) => {
                json!(m)
            }
            Self::PreconditionFailed(m) | Self::TooLarge(m) => json!(m),
            Self::Unauthorized(reason) => {
                headers.push(("www-authenticate", "Bearer".to_owned()));
                json!(match reason {
                    AuthFailure::Missing => "Not authenticated",
                    AuthFailure::Invalid => "Could not validate credentials",
                })
            }
            Self::MfaRequired { mfa_token } => {
                headers.push(("www-authenticate", r#"Bearer error="mfa_required""#.to_owned()));
                // The token is a credential: no cache may keep the answer.
                headers.push(("cache-control", "no-store".to_owned()));
                let detail = "Two-factor code required";
                return (
                    self.status(),
                    headers,
                    json!({ "detail": detail, "mfa_token": mfa_token }),
                );
            }
            Self::MethodNotAllowed => json!("Method Not Allowed"),
            Self::PayloadTooLarge { limit } => {
                json!(format!("Request body is larger than {limit} bytes"))
            }
            Self::TooManyRequests {
                detail,
                retry_after_secs,
            } => {
                headers.push(("retry-after", retry_after_secs.to_string()));
                json!(detail)
            }
            Self::Unavailable { service, .. } => {
                headers.push(("retry-after", UNAVAILABLE_RETRY_AFTER_SECS.to_string()));
                json!(format!("Service temporarily unavailable ({service}), please retry"))
            }
            Self::Internal(_) => json!("Internal server error"),
        };
        (self.status(), headers, json!({ "detail": detail }))
    }
}

/// 412: the `If-Match` tag is not the stored version, or the record changed meanwhile.
pub fn precondition_failed() -> ApiError {
    ApiError::PreconditionFailed("Precondition failed: the resource was changed by another request".into())
}

impl From<StoreError> for ApiError {
    fn from(err: StoreError) -> Self {
        match err {
            StoreError::EmailTaken => Self::BadRequest("The user with this email already exists in the system".into()),
            StoreError::NotFound => Self::NotFound("User not found".into()),
            StoreError::Conflict => Self::Conflict("The record was changed by another request, retry".into()),
            StoreError::Unavailable(cause) => Self::unavailable("table", cause),
            StoreError::Corrupt(cause) | StoreError::Refused(cause) => Self::Internal(cause),
        }
    }
}

impl From<Box<FieldError>> for ApiError {
    fn from(err: Box<FieldError>) -> Self {
        Self::validation(*err)
    }
}

impl From<WriteError> for ApiError {
    fn from(err: WriteError) -> Self {
        match err {
            WriteError::Conflict => precondition_failed(),
            WriteError::KeyTaken => Self::Conflict("A request with this Idempotency-Key is in progress".into()),
            WriteError::Store(store) => store.into(),
        }
    }
}

impl From<QueueError> for ApiError {
    fn from(err: QueueError) -> Self {
        Self::unavailable("queue", err.0)
    }
}

impl From<UploadRefused> for ApiError {
    fn from(err: UploadRefused) -> Self {
        match err {
            UploadRefused::TooLarge => Self::TooLarge(err.to_string()),
            UploadRefused::TypeNotAllowed | UploadRefused::QuotaExceeded => Self::BadRequest(err.to_string()),
        }
    }
}

impl From<FileCreateError> for ApiError {
    fn from(err: FileCreateError) -> Self {
        match err {
            FileCreateError::QuotaExceeded => UploadRefused::QuotaExceeded.into(),
            FileCreateError::Store(store) => store.into(),
        }
    }
}

impl From<ObjectError> for ApiError {
    fn from(err: ObjectError) -> Self {
        match err {
            ObjectError::Unavailable(cause) => Self::unavailable("bucket", cause),
            ObjectError::Refused(cause) => Self::Internal(cause),
        }
    }
}

impl From<HashError> for ApiError {
    fn from(err: HashError) -> Self {
        Self::Internal(err.to_string())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use contract::validation::{FieldError, Loc};

    #[test]
    fn unauthorized_carries_bearer_challenge() {
        let (status, headers, body) = ApiError::Unauthorized(AuthFailure::Missing).to_parts();
        assert_eq!(status, StatusCode::UNAUTHORIZED);
        assert_eq!(headers, vec![("www-authenticate", "Bearer".to_owned())]);
        assert_eq!(body, json!({"detail": "Not authenticated"}));
    }

    #[test]
    fn a_required_second_factor_is_a_401_with_its_token_and_challenge() {
        let (status, headers, body) = ApiError::MfaRequired {
            mfa_token: "t0k3n".into(),
        }
        .to_parts();
        assert_eq!(status, StatusCode::UNAUTHORIZED);
        assert!(headers.contains(&("www-authenticate", r#"Bearer error="mfa_required""#.to_owned())));
        assert_eq!(
            body,
            json!({"detail": "Two-factor code required", "mfa_token": "t0k3n"})
        );
    }

    #[test]
    fn unavailable_hides_the_cause_and_asks_to_retry() {
        let err = ApiError::unavailable("table", "dispatch failure: connection refused to 10.0.0.1");
        let (status, headers, body) = err.to_parts();
        assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE);
        assert!(headers.iter().any(|(k, _)| *k == "retry-after"));
        assert!(!body.to_string().contains("10.0.0.1"));
    }

    #[test]
    fn validation_lists_every_field() {
        let err = ApiError::Validation(vec![
            FieldError::missing(Loc::body("email")),
            FieldError::missing(Loc::body("password")),
        ]);
        let (status, _, body) = err.to_parts();
        assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
        assert_eq!(body["detail"][1]["loc"], json!(["body", "password"]));
        assert_eq!(body["detail"][0]["type"], json!("missing"));
    }
}
