//! The HTTP API in front of the functions: matches the template's routes, turns each request
//! into an API Gateway HTTP API (payload 2.0) event, invokes the function, and turns its answer
//! back into HTTP, the way API Gateway does.

use crate::access_log::AccessLog;
use crate::runtime::{Function, InvokeResult};
use crate::Stack;
use base64::Engine;
use bytes::Bytes;
use http_body_util::{BodyExt, Full, Limited};
use hyper::header::{HeaderName, HeaderValue};
use hyper::{Method, Request, Response, StatusCode};
use serde_json::{json, Map, Value};
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{SystemTime, UNIX_EPOCH};
use tokio::net::TcpListener;

/// Decodes `%XX` escapes (invalid ones stay as they are; `+` stays a plus, as in paths).
fn percent_decode(raw: &str) -> String {
    percent_encoding::percent_decode_str(raw)
        .decode_utf8_lossy()
        .into_owned()
}

/// API Gateway's own payload limit.
const MAX_PAYLOAD: usize = 10 * 1024 * 1024;

#[derive(Debug, Clone, PartialEq)]
enum Segment {
    Literal(String),
    Param(String),
    Greedy(String),
}

pub struct Route {
    pub route_key: String,
    method: Option<Method>,
    segments: Vec<Segment>,
    pub function: Arc<Function>,
}

impl Route {
    pub fn new(method: &str, path: &str, function: Arc<Function>) -> Self {
        let segments = path
            .trim_matches('/')
            .split('/')
            .filter(|s| !s.is_empty())
            .map(|s| match s.strip_prefix('{').and_then(|s| s.strip_suffix('}')) {
                Some(name) => match name.strip_suffix('+') {
                    Some(greedy) => Segment::Greedy(greedy.to_owned()),
                    None => Segment::Param(name.to_owned()),
                },
                None => Segment::Literal(s.to_owned()),
            })
            .collect();
        let method_upper = method.to_ascii_uppercase();
        let method = if method_upper == "ANY" {
            None
        } else {
            Method::from_bytes(method_upper.as_bytes()).ok()
        };
        Self {
            route_key: format!("{method_upper} {path}"),
            method,
            segments,
            function,
        }
    }

    /// The path parameters when `path` matches; a greedy parameter needs at least one segment,
    /// as in API Gateway.
    fn matches(&self, method: &Method, path: &str) -> Option<Map<String, Value>> {
        if self.method.as_ref().is_some_and(|m| m != method) {
            return None;
        }
        let trimmed = path.strip_prefix('/').unwrap_or(path);
        let mut rest = trimmed;
        let mut params = Map::new();
        for segment in &self.segments {
            match segment {
                Segment::Greedy(name) => {
                    if rest.is_empty() {
                        return None;
                    }
                    params.insert(name.clone(), json!(percent_decode(rest)));
                    return Some(params);
                }
                _ => {
                    let (head, tail) = rest.split_once('/').unwrap_or((rest, ""));
                    match segment {
                        Segment::Literal(literal) if literal == head => {}
                        Segment::Param(name) if !head.is_empty() => {
                            params.insert(name.clone(), json!(percent_decode(head)));
                        }
                        _ => return None,
                    }
                    rest = tail;
                }
            }
        }
        rest.is_empty().then_some(params)
    }

    /// More literal segments first; greedy routes last.
    fn specificity(&self) -> (usize, usize) {
        let literals = self
            .segments
            .iter()
            .filter(|s| matches!(s, Segment::Literal(_)))
            .count();
        let greedy = self.segments.iter().any(|s| matches!(s, Segment::Greedy(_)));
        (usize::from(!greedy), literals)
    }
}

pub fn sort_routes(routes: &mut [Route]) {
    routes.sort_by_key(|r| std::cmp::Reverse(r.specificity()));
}

pub async fn serve(listener: TcpListener, stack: Arc<Stack>) {
    crate::server::serve(listener, move |peer, request| handle(stack.clone(), peer, request)).await;
}

fn respond(status: StatusCode, body: Value) -> Response<Full<Bytes>> {
    let mut response = Response::new(Full::new(Bytes::from(body.to_string())));
    *response.status_mut() = status;
    response
        .headers_mut()
        .insert("content-type", HeaderValue::from_static("application/json"));
    response
}

async fn handle(stack: Arc<Stack>, peer: SocketAddr, request: Request<hyper::body::Incoming>) -> Response<Full<Bytes>> {
    if let Some(websocket) = &stack.websocket {
        if crate::websocket::is_upgrade(&request) && websocket.is_stage_path(request.uri().path()) {
            return websocket.handshake(peer, request).await;
        }
    }
    let (parts, body) = request.into_parts();
    let body = match Limited::new(body, MAX_PAYLOAD).collect().await {
        Ok(collected) => collected.to_bytes(),
        Err(_) => {
            return respond(
                StatusCode::PAYLOAD_TOO_LARGE,
                json!({"message": "Request Entity Too Large"}),
            )
        }
    };
    let path = parts.uri.path().to_owned();
    if let Some(admin) = path.strip_prefix("/_devstack/") {
        if let Err(refused) = crate::admin::allowed(&parts.headers) {
            return respond(StatusCode::FORBIDDEN, json!({ "message": refused }));
        }
        return crate::admin::handle(&stack, &parts.method, admin, body).await;
    }
    if let Some(websocket) = &stack.websocket {
        if let Some(id) = websocket.management_path(&path) {
            // The functions' Management API, which pushes to and closes any client: local
            // tools only, as the admin API (on AWS it takes SigV4-signed calls only).
            if let Err(refused) = crate::admin::allowed(&parts.headers) {
                return respond(StatusCode::FORBIDDEN, json!({ "message": refused }));
            }
            let sent = body.len() as u64;
            let response = websocket.manage(&parts.method, &id, body).await;
            if let Some(meter) = &stack.meter {
                let operation = match parts.method.as_str() {
                    "POST" => "PostToConnection",
                    "DELETE" => "DeleteConnection",
                    _ => "GetConnection",
                };
                meter.record("execute-api", operation, response.status().as_u16(), sent);
            }
            return response;
        }
    }
    let mut log = AccessLog::start(&parts, peer);
    let Some((route, params)) = stack
        .routes
        .iter()
        .find_map(|r| r.matches(&parts.method, &path).map(|p| (r, p)))
    else {
        return log.finish(respond(StatusCode::NOT_FOUND, json!({"message": "Not Found"})));
    };
    let event = event(&parts, &path, route, params, &body, peer);
    let invocation_id = uuid::Uuid::new_v4().to_string();
    log.invoked(route, &event, &invocation_id);
    let result = route
        .function
        .invoke_as(invocation_id, Bytes::from(event.to_string()))
        .await;
    log.answered(&result);
    log.finish(proxy_response(&route.route_key, result))
}

/// The API Gateway HTTP API payload 2.0 event for one request.
fn event(
    parts: &hyper::http::request::Parts,
    path: &str,
    route: &Route,
    params: Map<String, Value>,
    body: &Bytes,
    peer: SocketAddr,
) -> Value {
    let mut headers = Map::new();
    let mut cookies = Vec::new();
    for (name, value) in &parts.headers {
        let value = String::from_utf8_lossy(value.as_bytes()).into_owned();
        if name == hyper::header::COOKIE {
            cookies.extend(value.split(';').map(|c| json!(c.trim())));
            continue;
        }
        match headers.get_mut(name.as_str()) {
            Some(Value::String(existing)) => {
                existing.push(',');
                existing.push_str(&value);
            }
            _ => {
                headers.insert(name.as_str().to_owned(), json!(value));
            }
        }
    }
    let raw_query = parts.uri.query().unwrap_or_default().to_owned();
    let mut query = Map::new();
    for pair in raw_query.split('&').filter(|p| !p.is_empty()) {
        let (key, value) = pair.split_once('=').unwrap_or((pair, ""));
        let (key, value) = (percent_decode(key), percent_decode(value));
        match query.get_mut(&key) {
            Some(Value::String(existing)) => {
                existing.push(',');
                existing.push_str(&value);
            }
            _ => {
                query.insert(key, json!(value));
            }
        }
    }
    let now = SystemTime::now().duration_since(UNIX_EPOCH).unwrap_or_default();
    let request_id = uuid::Uuid::new_v4().simple().to_string()[..16].to_owned();
    let (body, is_base64) = match std::str::from_utf8(body) {
        Ok(text) => (text.to_owned(), false),
        Err(_) => (base64::engine::general_purpose::STANDARD.encode(body), true),
    };
    let mut event = json!({
        "version": "2.0",
        "routeKey": route.route_key,
        "rawPath": path,
        "rawQueryString": raw_query,
        "headers": headers,
        "requestContext": {
            "accountId": crate::template::ACCOUNT,
            "apiId": "local",
            "domainName": headers_host(&parts.headers),
            "domainPrefix": "local",
            "http": {
                "method": parts.method.as_str(),
                "path": path,
                "protocol": "HTTP/1.1",
                "sourceIp": peer.ip().to_string(),
                "userAgent": parts.headers.get("user-agent").and_then(|v| v.to_str().ok()).unwrap_or_default(),
            },
            "requestId": request_id,
            "routeKey": route.route_key,
            "stage": "$default",
            "time": time::OffsetDateTime::now_utc().format(&time::format_description::well_known::Rfc2822).unwrap_or_default(),
            "timeEpoch": now.as_millis() as u64,
        },
        "isBase64Encoded": is_base64,
    });
    if !cookies.is_empty() {
        event["cookies"] = json!(cookies);
    }
    if !query.is_empty() {
        event["queryStringParameters"] = Value::Object(query);
    }
    if !params.is_empty() {
        event["pathParameters"] = Value::Object(params);
    }
    if !body.is_empty() {
        event["body"] = json!(body);
    }
    event
}

fn headers_host(headers: &hyper::HeaderMap) -> String {
    headers
        .get("host")
        .and_then(|v| v.to_str().ok())
        .unwrap_or("127.0.0.1")
        .to_owned()
}

/// A function's answer as API Gateway would send it on.
fn proxy_response(route_key: &str, result: InvokeResult) -> Response<Full<Bytes>> {
    let payload = match result {
        InvokeResult::Ok(payload) => payload,
        InvokeResult::FunctionError(error) => {
            eprintln!(
                "devstack: {route_key}: function error: {}",
                String::from_utf8_lossy(&error)
            );
            return respond(
                StatusCode::INTERNAL_SERVER_ERROR,
                json!({"message": "Internal Server Error"}),
            );
        }
        InvokeResult::Crashed(reason) => {
            eprintln!("devstack: {route_key}: {reason}");
            return respond(
                StatusCode::INTERNAL_SERVER_ERROR,
                json!({"message": "Internal Server Error"}),
            );
        }
        InvokeResult::TimedOut => {
            eprintln!("devstack: {route_key}: function timed out");
            return respond(
                StatusCode::SERVICE_UNAVAILABLE,
                json!({"message": "Service Unavailable"}),
            );
        }
    };
    let value: Value = serde_json::from_slice(&payload).unwrap_or(Value::Null);
    let Some(status) = value.get("statusCode").and_then(Value::as_u64) else {
        // Payload 2.0: a result without statusCode is sent as a 200 JSON body.
        let mut response = Response::new(Full::new(payload));
        response
            .headers_mut()
            .insert("content-type", HeaderValue::from_static("application/json"));
        return response;
    };
    let body = value.get("body").and_then(Value::as_str).unwrap_or_default();
    let body = if value.get("isBase64Encoded").and_then(Value::as_bool).unwrap_or(false) {
        base64::engine::general_purpose::STANDARD
            .decode(body)
            .unwrap_or_default()
    } else {
        body.as_bytes().to_vec()
    };
    let mut response = Response::new(Full::new(Bytes::from(body)));
    *response.status_mut() = StatusCode::from_u16(status as u16).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    let headers = response.headers_mut();
    for source in ["headers", "multiValueHeaders"] {
        for (name, value) in value.get(source).and_then(Value::as_object).into_iter().flatten() {
            let values: Vec<&str> = match value {
                Value::String(s) => vec![s.as_str()],
                Value::Array(items) => items.iter().filter_map(Value::as_str).collect(),
                _ => vec![],
            };
            for v in values {
                if let (Ok(name), Ok(v)) = (HeaderName::from_bytes(name.as_bytes()), HeaderValue::from_str(v)) {
                    headers.append(name, v);
                }
            }
        }
    }
    for cookie in value
        .get("cookies")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .filter_map(Value::as_str)
    {
        if let Ok(cookie) = HeaderValue::from_str(cookie) {
            headers.append(hyper::header::SET_COOKIE, cookie);
        }
    }
    response
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::runtime::FunctionSpec;
    use std::time::Duration;

    fn function() -> Arc<Function> {
        Function::new(FunctionSpec {
            timeout: Duration::from_secs(1),
            ..FunctionSpec::new("F", "/bin/false")
        })
    }

    #[test]
    fn greedy_route_needs_a_segment_and_captures_the_rest() {
        let route = Route::new("ANY", "/api/v1/utils/{proxy+}", function());
        let params = route.matches(&Method::GET, "/api/v1/utils/health-check/").unwrap();
        assert_eq!(params["proxy"], "health-check/");
        assert!(route.matches(&Method::GET, "/api/v1/utils/").is_none());
        assert!(route.matches(&Method::GET, "/api/v1/other/x").is_none());
    }

    #[test]
    fn specific_routes_win_over_greedy_ones() {
        let mut routes = vec![
            Route::new("ANY", "/api/v1/{proxy+}", function()),
            Route::new("GET", "/api/v1/items/{id}", function()),
        ];
        sort_routes(&mut routes);
        assert_eq!(routes[0].route_key, "GET /api/v1/items/{id}");
        assert!(routes[0].matches(&Method::POST, "/api/v1/items/1").is_none());
    }

    #[test]
    fn percent_decoding() {
        assert_eq!(percent_decode("a%2Bb%40example.com"), "a+b@example.com");
        assert_eq!(percent_decode("100%"), "100%");
        assert_eq!(percent_decode("%zz"), "%zz");
        assert_eq!(percent_decode("%é%"), "%é%");
    }

    #[test]
    fn proxy_response_keeps_status_headers_and_body() {
        let payload =
            json!({"statusCode": 201, "headers": {"x-a": "1"}, "body": "{\"ok\":true}", "isBase64Encoded": false});
        let response = proxy_response("r", InvokeResult::Ok(Bytes::from(payload.to_string())));
        assert_eq!(response.status(), StatusCode::CREATED);
        assert_eq!(response.headers()["x-a"], "1");
        let crashed = proxy_response("r", InvokeResult::Crashed("boom".into()));
        assert_eq!(crashed.status(), StatusCode::INTERNAL_SERVER_ERROR);
    }
}
