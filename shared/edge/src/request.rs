//! A request as handlers see it, with typed extraction: `request.body::<T>()`,
//! `request.query::<T>()` and `request.form::<T>()` give the value or the contract's 422; and
//! who sends it (`Caller`: its bearer token through the domain's authenticator, and the
//! permission checks routes ask for).

use crate::error::{ApiError, ApiResult, AuthFailure};
use contract::validation::{self, scalar, FieldError, FromFields, Invalid, Loc, Source};
use domain::api_key::Scope;
use domain::auth::{AuthError, Authenticator, Principal};
use domain::ports::Accounts;
use domain::{Permission, User};
use http::{HeaderMap, Method};
use serde_json::{Map, Value};
use std::future::Future;
use std::sync::{Arc, OnceLock};
use uuid::Uuid;

#[derive(Debug)]
pub struct ApiRequest {
    pub method: Method,
    pub path: String,
    pub headers: HeaderMap,
    pub body: Vec<u8>,
    pub request_id: String,
    pub source_ip: Option<String>,
    params: Vec<(String, String)>,
    query: Map<String, Value>,
    user: Arc<OnceLock<String>>,
    /// What an API key needs to use the route (`None`: no key may).
    key_scope: Option<Scope>,
}

impl ApiRequest {
    #[allow(clippy::too_many_arguments)]
    pub fn new(
        method: Method,
        path: String,
        headers: HeaderMap,
        body: Vec<u8>,
        request_id: String,
        source_ip: Option<String>,
        params: Vec<(String, String)>,
        query: Map<String, Value>,
        user: Arc<OnceLock<String>>,
    ) -> Self {
        Self {
            method,
            path,
            headers,
            body,
            request_id,
            source_ip,
            params,
            query,
            user,
            key_scope: None,
        }
    }

    /// The route's `Endpoint::key_scope`, which `Caller::caller` holds an API key to.
    pub fn with_key_scope(self, key_scope: Option<Scope>) -> Self {
        Self { key_scope, ..self }
    }

    pub fn param(&self, name: &str) -> Option<&str> {
        self.params.iter().find(|(k, _)| k == name).map(|(_, v)| v.as_str())
    }

    /// A path parameter as a UUID, or the 422 FastAPI sends.
    pub fn path_id(&self, name: &str) -> ApiResult<Uuid> {
        let raw = self.param(name).unwrap_or_default();
        scalar::uuid(&Value::String(raw.to_owned())).map_err(|invalid| {
            ApiError::validation(FieldError::new(Loc::path(name), invalid, Value::String(raw.to_owned())))
        })
    }

    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).and_then(|v| v.to_str().ok())
    }

    /// The query parameters read as `T`, or the 422 listing every failing one.
    pub fn query<T: FromFields>(&self) -> ApiResult<T> {
        validation::read(Source::Query, &self.query).map_err(ApiError::Validation)
    }

    /// The JSON body read as `T`, or the 422 listing every failing field.
    pub fn body<T: FromFields>(&self) -> ApiResult<T> {
        self.body_and_json().map(|(value, _)| value)
    }

    /// The JSON body read as `T`, with the object it was read from (what idempotency remembers).
    pub fn body_and_json<T: FromFields>(&self) -> ApiResult<(T, Map<String, Value>)> {
        self.require_json()?;
        let object = self.json_object()?;
        let value = validation::read(Source::Body, &object).map_err(ApiError::Validation)?;
        Ok((value, object))
    }

    /// An `application/x-www-form-urlencoded` body read as `T`. Any other body reads as an empty
    /// form, so each required field is `missing`, as FastAPI answers.
    pub fn form<T: FromFields>(&self) -> ApiResult<T> {
        let is_form = self.header("content-type").is_some_and(|t| {
            t.split(';')
                .next()
                .is_some_and(|m| m.trim().eq_ignore_ascii_case("application/x-www-form-urlencoded"))
        });
        let form: Map<String, Value> = if is_form {
            form_urlencoded::parse(&self.body)
                .map(|(k, v)| (k.into_owned(), Value::String(v.into_owned())))
                .collect()
        } else {
            Map::new()
        };
        validation::read(Source::Body, &form).map_err(ApiError::Validation)
    }

    /// A body sent as another media type is not read as JSON, as FastAPI does: it is the 422 of
    /// a body that is no object. (Without this a JSON route would take `text/plain`, which a
    /// browser sends cross-origin without a CORS preflight.) No `Content-Type` reads as JSON.
    fn require_json(&self) -> ApiResult<()> {
        let Some(raw) = self.headers.get(http::header::CONTENT_TYPE) else {
            return Ok(());
        };
        let media = raw
            .to_str()
            .ok()
            .and_then(|t| t.split(';').next())
            .map(|m| m.trim().to_ascii_lowercase())
            .unwrap_or_default();
        if media == "application/json" || (media.starts_with("application/") && media.ends_with("+json")) {
            return Ok(());
        }
        Err(ApiError::validation(FieldError::new(
            Loc::body_root(),
            Invalid::new(
                "model_attributes_type",
                "Input should be a valid dictionary or object to extract fields from",
            ),
            Value::String(String::from_utf8_lossy(&self.body).chars().take(200).collect()),
        )))
    }

    /// A header that is present, whatever its bytes: `Err` with the header's 400 when it is not
    /// visible ASCII, so a malformed value is never taken for an absent one.
    pub fn strict_header(&self, name: &'static str) -> ApiResult<Option<&str>> {
        match self.headers.get(name) {
            None => Ok(None),
            Some(value) => value
                .to_str()
                .map(Some)
                .map_err(|_| ApiError::BadRequest(format!("Invalid {name} header: it must be visible ASCII"))),
        }
    }

    /// The body as a JSON object, or the 422 FastAPI sends for a body that is not one.
    pub fn json_object(&self) -> ApiResult<Map<String, Value>> {
        if self.body.iter().all(u8::is_ascii_whitespace) {
            return Err(ApiError::validation(FieldError::missing(Loc::body_root())));
        }
        match serde_json::from_slice::<Value>(&self.body) {
            Ok(Value::Object(object)) => Ok(object),
            Ok(other) => Err(ApiError::validation(FieldError::new(
                Loc::body_root(),
                Invalid::new(
                    "model_attributes_type",
                    "Input should be a valid dictionary or object to extract fields from",
                ),
                other,
            ))),
            Err(err) => Err(ApiError::validation(FieldError::json_invalid(&err))),
        }
    }

    /// The bearer token of the `Authorization` header.
    pub fn bearer_token(&self) -> Option<&str> {
        let value = self.header("authorization")?;
        let (scheme, token) = value.split_once(' ')?;
        let token = token.trim();
        (scheme.eq_ignore_ascii_case("bearer") && !token.is_empty()).then_some(token)
    }

    /// Records who made the request, for the request's log line.
    pub fn set_user(&self, user_id: impl ToString) {
        let _ = self.user.set(user_id.to_string());
    }
}

/// The 403 of an API key on a route outside its scopes (or one no key may use).
pub const INSUFFICIENT_SCOPE: &str = "Insufficient scope";

/// Who is calling, for the handlers of an API function.
pub trait Caller: Send + Sync {
    /// Who is calling and through which credential: a valid bearer credential (401 otherwise),
    /// which an API key is only within the route's scope (403 `Insufficient scope` otherwise);
    /// recorded for the log line.
    fn caller(&self, request: &ApiRequest) -> impl Future<Output = ApiResult<Principal>> + Send;

    /// The user the caller acts for.
    fn current_user(&self, request: &ApiRequest) -> impl Future<Output = ApiResult<User>> + Send {
        async move { self.caller(request).await.map(|principal| principal.user) }
    }

    /// The caller, who must also hold the admin permission (403 otherwise).
    fn current_superuser(&self, request: &ApiRequest) -> impl Future<Output = ApiResult<User>> + Send {
        async move {
            let user = self.current_user(request).await?;
            require(&user, Permission::Admin)?;
            Ok(user)
        }
    }
}

impl<S: Accounts> Caller for Authenticator<S> {
    async fn caller(&self, request: &ApiRequest) -> ApiResult<Principal> {
        let token = request
            .bearer_token()
            .ok_or(ApiError::Unauthorized(AuthFailure::Missing))?;
        let principal = self.caller_of(token).await?;
        request.set_user(principal.user.id);
        if !principal.may_use(request.key_scope) {
            return Err(ApiError::Forbidden(INSUFFICIENT_SCOPE.into()));
        }
        Ok(principal)
    }
}

impl From<AuthError> for ApiError {
    fn from(err: AuthError) -> Self {
        match err {
            AuthError::Invalid => Self::Unauthorized(AuthFailure::Invalid),
            AuthError::Store(store) => store.into(),
        }
    }
}

/// 403 with the reference backend's message unless the user's role grants `permission`.
pub fn require(user: &User, permission: Permission) -> ApiResult<()> {
    if user.role.can(permission) {
        Ok(())
    } else {
        Err(ApiError::Forbidden("The user doesn't have enough privileges".into()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use http::HeaderValue;

    fn request(headers: HeaderMap, body: &str) -> ApiRequest {
        ApiRequest::new(
            Method::GET,
            "/".into(),
            headers,
            body.as_bytes().to_vec(),
            "r".into(),
            None,
            vec![("id".into(), "not-a-uuid".into())],
            Map::new(),
            Arc::default(),
        )
    }

    #[test]
    fn bearer_token_is_read_case_insensitively() {
        let mut headers = HeaderMap::new();
        headers.insert("authorization", HeaderValue::from_static("bearer abc.def"));
        assert_eq!(request(headers, "").bearer_token(), Some("abc.def"));
    }

    #[test]
    fn a_bad_path_id_is_a_422_at_its_location() {
        let Err(ApiError::Validation(errors)) = request(HeaderMap::new(), "").path_id("id") else {
            panic!("expected a 422");
        };
        assert_eq!(errors[0].loc, Loc::path("id"));
        assert_eq!(errors[0].kind, "uuid_parsing");
    }
}
