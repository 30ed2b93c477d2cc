//! The HTTP edge every API function shares: routing (each route matched once, with and without
//! a trailing slash), request ids, CORS, security headers, body limits, the error mapping and the
//! per-request log line. Each function supplies its route table and a `handle`; nothing here
//! knows one function's routes.

use crate::config::HttpConfig;
use crate::error::{ApiError, ApiResult};
use crate::request::ApiRequest;
use contract::operation::Endpoint;
use domain::api_key::Scope;
use domain::config::{ConfigError, ProcessEnv};
use http::header::{HeaderName, HeaderValue};
use http::{Method, StatusCode};
use lambda_http::request::RequestContext;
use lambda_http::{Body, RequestExt};
use percent_encoding::percent_decode_str;
use serde::Serialize;
use serde_json::Value;
use std::future::Future;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, OnceLock};
use std::time::Instant;

pub type Response = http::Response<Body>;

/// Largest JSON body accepted; larger ones get 413 before any parsing.
pub const MAX_BODY_BYTES: usize = 1024 * 1024;

/// The routes that share one path: `(method, route, pattern as written, the scope a key needs)`.
type Endpoints<R> = Vec<(Method, R, &'static str, Option<Scope>)>;

/// Routes of one function, matched once per request.
pub struct Router<R> {
    inner: matchit::Router<Endpoints<R>>,
}

pub enum Matched<R> {
    Route {
        route: R,
        pattern: &'static str,
        params: Vec<(String, String)>,
        /// What an API key needs to use the route (`Endpoint::key_scope`).
        key_scope: Option<Scope>,
    },
    MethodNotAllowed {
        allowed: Vec<Method>,
        pattern: &'static str,
    },
    NotFound,
}

fn normalise(path: &str) -> &str {
    match path.trim_end_matches('/') {
        "" => "/",
        trimmed => trimmed,
    }
}

impl<R: Copy> Router<R> {
    /// Panics on a malformed or duplicate route: that is a bug in a function's route table,
    /// caught by its first unit test.
    pub fn new(routes: Vec<(Endpoint, R)>) -> Self {
        let mut grouped: Vec<(&'static str, Endpoints<R>)> = Vec::new();
        for (
            Endpoint {
                method,
                path: pattern,
                key_scope,
                ..
            },
            route,
        ) in routes
        {
            let key = normalise(pattern);
            let endpoint = (method, route, pattern, key_scope);
            match grouped.iter_mut().find(|(k, _)| *k == key) {
                Some((_, list)) => list.push(endpoint),
                None => grouped.push((key, vec![endpoint])),
            }
        }
        let mut inner = matchit::Router::new();
        for (key, list) in grouped {
            if let Err(err) = inner.insert(key, list) {
                panic!("bad route {key}: {err}");
            }
        }
        Self { inner }
    }

    pub fn at(&self, method: &Method, path: &str) -> Matched<R> {
        let Ok(found) = self.inner.at(normalise(path)) else {
            return Matched::NotFound;
        };
        let params = found
            .params
            .iter()
            .map(|(k, v)| (k.to_owned(), percent_decode_str(v).decode_utf8_lossy().into_owned()))
            .collect();
        let lookup = if method == Method::HEAD { &Method::GET } else { method };
        match found.value.iter().find(|(m, ..)| m == lookup) {
            Some((_, route, pattern, key_scope)) => Matched::Route {
                route: *route,
                pattern,
                params,
                key_scope: *key_scope,
            },
            None => Matched::MethodNotAllowed {
                allowed: found.value.iter().map(|(m, ..)| m.clone()).collect(),
                pattern: found.value[0].2,
            },
        }
    }
}

/// One API function: its routes, and what it does for each.
pub trait Api: Send + Sync + 'static {
    type Route: Copy + Send + Sync + 'static;

    /// Each route's endpoint (its declaration in `contract::api`) and what the function does for
    /// it; paths use `{name}` for parameters and are matched with or without a trailing slash.
    fn routes() -> Vec<(Endpoint, Self::Route)>;

    /// The largest request body this function reads; larger ones are refused before any parsing.
    const MAX_BODY_BYTES: usize = MAX_BODY_BYTES;

    /// The answer to a body over [`Self::MAX_BODY_BYTES`].
    fn body_too_large() -> ApiError {
        ApiError::PayloadTooLarge {
            limit: Self::MAX_BODY_BYTES,
        }
    }

    fn handle(&self, route: Self::Route, request: ApiRequest) -> impl Future<Output = ApiResult<Response>> + Send;
}

/// A JSON response.
pub fn json<T: Serialize>(status: StatusCode, body: &T) -> ApiResult<Response> {
    let text = serde_json::to_string(body).map_err(|e| ApiError::Internal(e.to_string()))?;
    http::Response::builder()
        .status(status)
        .header(http::header::CONTENT_TYPE, "application/json")
        .body(Body::Text(text))
        .map_err(|e| ApiError::Internal(e.to_string()))
}

/// `{"message": "..."}`, FastAPI's `Message`.
pub fn message(status: StatusCode, text: &str) -> ApiResult<Response> {
    json(status, &contract::public::Message::new(text))
}

static COLD: AtomicBool = AtomicBool::new(true);

/// An API function ready to serve: its handler, router and HTTP settings, built once per
/// execution environment.
pub struct Service<A: Api> {
    api: A,
    router: Router<A::Route>,
    http: HttpConfig,
}

impl<A: Api> Service<A> {
    pub fn new(api: A, http: HttpConfig) -> Self {
        Self {
            api,
            router: Router::new(A::routes()),
            http,
        }
    }

    /// Answers one API Gateway request; every outcome, errors included, is a contract-shaped response.
    pub async fn call(&self, request: lambda_http::Request) -> Response {
        let started = Instant::now();
        let cold_start = COLD.swap(false, Ordering::Relaxed);
        let request_id = request_id(&request);
        let method = request.method().clone();
        let origin = request
            .headers()
            .get(http::header::ORIGIN)
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned);
        let authenticated = request.headers().contains_key(http::header::AUTHORIZATION);
        let user = Arc::new(OnceLock::new());

        let (route, result) = self.dispatch(request, request_id.clone(), user.clone()).await;
        let mut response = match result {
            Ok(response) => response,
            Err(err) => {
                match &err {
                    ApiError::Unavailable { service, cause } => {
                        tracing::error!(request_id, service, cause, "backing service failed")
                    }
                    ApiError::Internal(cause) => {
                        tracing::error!(request_id, cause, "internal error")
                    }
                    _ => {}
                }
                error_response(&err)
            }
        };
        self.finish_headers(&mut response, &request_id, origin.as_deref(), authenticated);
        tracing::info!(
            request_id,
            route,
            method = method.as_str(),
            status = response.status().as_u16(),
            latency_ms = started.elapsed().as_secs_f64() * 1000.0,
            cold_start,
            user_id = user.get().map(String::as_str),
            "request"
        );
        telemetry::metrics::invocation_started();
        let latency_ms = started.elapsed().as_secs_f64() * 1000.0;
        telemetry::metrics::api_request(
            method.as_str(),
            route,
            response.status().as_u16(),
            latency_ms,
            &request_id,
        )
        .emit();
        response
    }

    async fn dispatch(
        &self,
        request: lambda_http::Request,
        request_id: String,
        user: Arc<OnceLock<String>>,
    ) -> (&'static str, ApiResult<Response>) {
        let path = request.raw_http_path().to_owned();
        let path = if path.is_empty() {
            request.uri().path().to_owned()
        } else {
            path
        };
        let method = request.method().clone();
        if method == Method::OPTIONS && request.headers().contains_key("access-control-request-method") {
            return ("preflight", self.preflight(&request));
        }
        let (route, pattern, params, key_scope) = match self.router.at(&method, &path) {
            Matched::Route {
                route,
                pattern,
                params,
                key_scope,
            } => (route, pattern, params, key_scope),
            Matched::MethodNotAllowed { allowed, pattern } => {
                let mut response = error_response(&ApiError::MethodNotAllowed);
                let allow = allowed.iter().map(Method::as_str).collect::<Vec<_>>().join(", ");
                if let Ok(value) = HeaderValue::from_str(&allow) {
                    response.headers_mut().insert(http::header::ALLOW, value);
                }
                return (pattern, Ok(response));
            }
            Matched::NotFound => return ("unmatched", Err(ApiError::NotFound("Not Found".into()))),
        };
        let query = request
            .query_string_parameters_ref()
            .map(|q| {
                q.iter()
                    .map(|(k, v)| (k.to_owned(), Value::String(v.to_owned())))
                    .collect()
            })
            .unwrap_or_default();
        let source_ip = match request.request_context_ref() {
            Some(RequestContext::ApiGatewayV2(ctx)) => ctx.http.source_ip.clone(),
            _ => None,
        };
        let (parts, body) = request.into_parts();
        let body = body.to_vec();
        if body.len() > A::MAX_BODY_BYTES {
            return (pattern, Err(A::body_too_large()));
        }
        let request = ApiRequest::new(
            parts.method,
            path,
            parts.headers,
            body,
            request_id,
            source_ip,
            params,
            query,
            user,
        )
        .with_key_scope(key_scope);
        let mut result = self.api.handle(route, request).await;
        if method == Method::HEAD {
            if let Ok(response) = &mut result {
                *response.body_mut() = Body::Empty;
            }
        }
        (pattern, result)
    }

    fn preflight(&self, request: &lambda_http::Request) -> ApiResult<Response> {
        let origin = request
            .headers()
            .get(http::header::ORIGIN)
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default();
        if !self.origin_allowed(origin) {
            return Err(ApiError::BadRequest("Disallowed CORS origin".into()));
        }
        let requested_headers = request
            .headers()
            .get("access-control-request-headers")
            .and_then(|v| v.to_str().ok())
            .unwrap_or("authorization, content-type");
        http::Response::builder()
            .status(StatusCode::OK)
            .header(
                "access-control-allow-methods",
                "DELETE, GET, HEAD, OPTIONS, PATCH, POST, PUT",
            )
            .header("access-control-allow-headers", requested_headers)
            .header("access-control-max-age", "600")
            .header(http::header::CONTENT_TYPE, "text/plain")
            .body(Body::Text("OK".into()))
            .map_err(|e| ApiError::Internal(e.to_string()))
    }

    fn origin_allowed(&self, origin: &str) -> bool {
        self.http.cors_origins.iter().any(|allowed| allowed == origin)
    }

    fn finish_headers(&self, response: &mut Response, request_id: &str, origin: Option<&str>, authenticated: bool) {
        let headers = response.headers_mut();
        let mut set = |name: &'static str, value: &str| {
            if let Ok(value) = HeaderValue::from_str(value) {
                headers.insert(HeaderName::from_static(name), value);
            }
        };
        set("x-request-id", request_id);
        set("x-content-type-options", "nosniff");
        set("x-frame-options", "DENY");
        set("strict-transport-security", "max-age=63072000; includeSubDomains");
        set("referrer-policy", "no-referrer");
        if authenticated {
            set("cache-control", "no-store");
        }
        if let Some(origin) = origin.filter(|o| self.origin_allowed(o)) {
            set("access-control-allow-origin", origin);
            set("access-control-allow-credentials", "true");
            set("access-control-expose-headers", "etag, retry-after, x-request-id");
            set("vary", "Origin");
        }
    }
}

/// The one place an `ApiError` becomes an HTTP response.
pub fn error_response(err: &ApiError) -> Response {
    let (status, headers, body) = err.to_parts();
    let mut response = http::Response::new(Body::Text(body.to_string()));
    *response.status_mut() = status;
    let map = response.headers_mut();
    map.insert(http::header::CONTENT_TYPE, HeaderValue::from_static("application/json"));
    for (name, value) in headers {
        if let Ok(value) = HeaderValue::from_str(&value) {
            map.insert(HeaderName::from_static(name), value);
        }
    }
    response
}

/// The caller's `X-Request-ID` when it is sane (1–128 of `[A-Za-z0-9._:-]`), else API Gateway's.
fn request_id(request: &lambda_http::Request) -> String {
    let sane = |id: &str| {
        !id.is_empty() && id.len() <= 128 && id.bytes().all(|b| b.is_ascii_alphanumeric() || b"._:-".contains(&b))
    };
    if let Some(id) = request
        .headers()
        .get("x-request-id")
        .and_then(|v| v.to_str().ok())
        .filter(|id| sane(id))
    {
        return id.to_owned();
    }
    match request.request_context_ref() {
        Some(RequestContext::ApiGatewayV2(ctx)) => ctx.request_id.clone(),
        _ => None,
    }
    .or_else(|| request.lambda_context_ref().map(|ctx| ctx.request_id.clone()))
    .filter(|id| !id.is_empty())
    .unwrap_or_else(|| uuid::Uuid::new_v4().to_string())
}

/// The whole `main` of an API function: JSON logs, the HTTP settings and `build`'s API from the
/// environment (or a start-up error naming the bad setting), then served until the runtime stops.
pub async fn start<A: Api>(
    build: impl FnOnce(&ProcessEnv, &HttpConfig) -> Result<A, ConfigError>,
) -> Result<(), lambda_http::Error> {
    telemetry::logging::init();
    let http = HttpConfig::from_env(&ProcessEnv).unwrap_or_else(|err| telemetry::logging::fail_start(err));
    let api = build(&ProcessEnv, &http).unwrap_or_else(|err| telemetry::logging::fail_start(err));
    run(api, http).await
}

/// Serves `api` as a Lambda function until the runtime stops it.
pub async fn run<A: Api>(api: A, http: HttpConfig) -> Result<(), lambda_http::Error> {
    // Leaked once: the service lives as long as the execution environment.
    let service: &'static Service<A> = Box::leak(Box::new(Service::new(api, http)));
    lambda_http::run(lambda_http::service_fn(
        move |request: lambda_http::Request| async move {
            Ok::<_, std::convert::Infallible>(Finished(service.call(request).await))
        },
    ))
    .await
}

/// A response whose body is already what API Gateway gets: JSON and other text as `Body::Text`,
/// nothing else. lambda_http's own `IntoResponse for Response<B>` would copy every text body
/// once more, through a charset decoder that links every legacy encoding's tables (encoding_rs,
/// about 150 KB in each binary) — for bodies this crate wrote as UTF-8 in the first place.
struct Finished(Response);

impl lambda_http::IntoResponse for Finished {
    fn into_response(self) -> std::pin::Pin<Box<dyn Future<Output = Response> + Send>> {
        Box::pin(std::future::ready(self.0))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use domain::config::Stage;

    #[derive(Clone, Copy, Debug, PartialEq)]
    enum R {
        Health,
        Item,
        CreateItem,
    }

    struct Echo;

    impl Api for Echo {
        type Route = R;
        fn routes() -> Vec<(Endpoint, R)> {
            let endpoint = |method, path, id| Endpoint {
                method,
                path,
                id,
                key_scope: None,
            };
            vec![
                (endpoint(Method::GET, "/api/v1/health/", "t-health"), R::Health),
                (endpoint(Method::GET, "/api/v1/items/{id}", "t-item"), R::Item),
                (endpoint(Method::POST, "/api/v1/items/", "t-create_item"), R::CreateItem),
            ]
        }
        async fn handle(&self, route: R, request: ApiRequest) -> ApiResult<Response> {
            match route {
                R::Health => json(StatusCode::OK, &true),
                R::Item => json(StatusCode::OK, &request.param("id")),
                R::CreateItem => {
                    let body = request.json_object()?;
                    request.set_user("u-1");
                    json(StatusCode::OK, &body)
                }
            }
        }
    }

    fn service() -> Service<Echo> {
        let http = HttpConfig {
            stage: Stage::Local,
            project_name: "Test".into(),
            frontend_host: "http://localhost:5173".into(),
            cors_origins: vec!["http://localhost:5173".into()],
        };
        Service::new(Echo, http)
    }

    fn request(method: &str, uri: &str, body: &str) -> lambda_http::Request {
        let mut request = http::Request::builder()
            .method(method)
            .uri(uri)
            .body(Body::from(body))
            .unwrap();
        request
            .headers_mut()
            .insert("origin", HeaderValue::from_static("http://localhost:5173"));
        request
    }

    fn body(response: &Response) -> Value {
        match response.body() {
            Body::Text(text) => serde_json::from_str(text).unwrap(),
            _ => Value::Null,
        }
    }

    #[tokio::test]
    async fn trailing_slash_is_optional() {
        let service = service();
        for path in [
            "/api/v1/health/",
            "/api/v1/health",
            "/api/v1/items/7",
            "/api/v1/items/7/",
        ] {
            assert_eq!(
                service.call(request("GET", path, "")).await.status(),
                StatusCode::OK,
                "{path}"
            );
        }
        assert_eq!(
            body(&service.call(request("GET", "/api/v1/items/7/", "")).await),
            Value::from("7")
        );
    }

    #[tokio::test]
    async fn unknown_path_and_method_get_fastapi_answers() {
        let service = service();
        let missing = service.call(request("GET", "/api/v1/nothing", "")).await;
        assert_eq!(missing.status(), StatusCode::NOT_FOUND);
        assert_eq!(body(&missing), serde_json::json!({"detail": "Not Found"}));
        let wrong = service.call(request("DELETE", "/api/v1/health", "")).await;
        assert_eq!(wrong.status(), StatusCode::METHOD_NOT_ALLOWED);
        assert_eq!(wrong.headers()["allow"], "GET");
    }

    #[tokio::test]
    async fn every_response_has_request_id_and_security_headers() {
        let response = service().call(request("GET", "/api/v1/nothing", "")).await;
        for header in [
            "x-request-id",
            "x-content-type-options",
            "x-frame-options",
            "strict-transport-security",
            "referrer-policy",
        ] {
            assert!(response.headers().contains_key(header), "{header}");
        }
        assert_eq!(
            response.headers()["access-control-allow-origin"],
            "http://localhost:5173"
        );
    }

    #[tokio::test]
    async fn sane_caller_request_id_is_kept_and_insane_one_replaced() {
        let mut sane = request("GET", "/api/v1/health", "");
        sane.headers_mut()
            .insert("x-request-id", HeaderValue::from_static("abc-123"));
        assert_eq!(service().call(sane).await.headers()["x-request-id"], "abc-123");
        let mut insane = request("GET", "/api/v1/health", "");
        insane
            .headers_mut()
            .insert("x-request-id", HeaderValue::from_static("<script>"));
        assert_ne!(service().call(insane).await.headers()["x-request-id"], "<script>");
    }

    #[tokio::test]
    async fn malformed_json_is_422_json_invalid() {
        let response = service().call(request("POST", "/api/v1/items/", "{\"title\": ")).await;
        assert_eq!(response.status(), StatusCode::UNPROCESSABLE_ENTITY);
        assert_eq!(body(&response)["detail"][0]["type"], "json_invalid");
        let array = service().call(request("POST", "/api/v1/items/", "[1]")).await;
        assert_eq!(body(&array)["detail"][0]["type"], "model_attributes_type");
    }

    #[tokio::test]
    async fn oversized_body_is_413() {
        let big = format!("{{\"a\":\"{}\"}}", "x".repeat(MAX_BODY_BYTES));
        let response = service().call(request("POST", "/api/v1/items/", &big)).await;
        assert_eq!(response.status(), StatusCode::PAYLOAD_TOO_LARGE);
    }

    #[tokio::test]
    async fn preflight_answers_allowed_origins_only() {
        let mut ok = request("OPTIONS", "/api/v1/items/", "");
        ok.headers_mut()
            .insert("access-control-request-method", HeaderValue::from_static("POST"));
        let response = service().call(ok).await;
        assert_eq!(response.status(), StatusCode::OK);
        assert!(response.headers()["access-control-allow-methods"]
            .to_str()
            .unwrap()
            .contains("POST"));
        let mut bad = request("OPTIONS", "/api/v1/items/", "");
        bad.headers_mut()
            .insert("access-control-request-method", HeaderValue::from_static("POST"));
        bad.headers_mut()
            .insert("origin", HeaderValue::from_static("https://evil.example"));
        let response = service().call(bad).await;
        assert_eq!(response.status(), StatusCode::BAD_REQUEST);
        assert!(!response.headers().contains_key("access-control-allow-origin"));
    }

    #[test]
    fn path_parameters_are_percent_decoded() {
        let endpoint = Endpoint {
            method: Method::POST,
            path: "/r/{email}",
            id: "t-recover",
            key_scope: None,
        };
        let router = Router::new(vec![(endpoint, ())]);
        let Matched::Route { params, .. } = router.at(&Method::POST, "/r/x%40example.com") else {
            panic!("no match")
        };
        assert_eq!(params, vec![("email".to_owned(), "x@example.com".to_owned())]);
    }
}
