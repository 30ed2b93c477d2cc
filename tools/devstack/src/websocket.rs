//! The WebSocket API of template.yaml, as API Gateway runs it: upgrades connections at
//! `/{stage}`, invokes `$connect` with API Gateway's WebSocket event and answers the handshake
//! with its status, routes each frame on the selection expression (`$request.body.action`,
//! else `$default`), invokes `$disconnect` when a connection closes, and serves the Management
//! API (`POST`/`GET`/`DELETE /{stage}/@connections/{id}`) that the functions' SDK clients are
//! pointed at (`AWS_ENDPOINT_URL_APIGATEWAYMANAGEMENTAPI`).
//!
//! A client that vanishes without a close frame gets no `$disconnect`: API Gateway delivers it
//! only on a best-effort basis, so the functions must cope with its absence (the next push to
//! such a connection answers 410 Gone), and locally they always have to.

use crate::runtime::{Function, InvokeResult};
use base64::Engine;
use bytes::Bytes;
use futures_util::{SinkExt, StreamExt};
use http_body_util::Full;
use hyper::header::HeaderValue;
use hyper::{Method, Request, Response, StatusCode};
use hyper_util::rt::TokioIo;
use serde_json::{json, Map, Value};
use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::{SystemTime, UNIX_EPOCH};
use tokio::sync::mpsc;
use tokio_tungstenite::tungstenite::protocol::frame::coding::CloseCode;
use tokio_tungstenite::tungstenite::protocol::{CloseFrame, Role, WebSocketConfig};
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::WebSocketStream;

/// API Gateway's limit on one WebSocket message (frames of 32 KiB, messages of 128 KiB).
const MAX_MESSAGE: usize = 128 * 1024;

/// One WebSocket API: its stage, route selection and routes.
pub struct WebSocketApi {
    pub api_id: String,
    pub stage: String,
    /// The body field named by `$request.body.<field>`.
    pub selection_field: String,
    /// Route key (`$connect`, `$default`, `send`, …) → function.
    pub routes: HashMap<String, Arc<Function>>,
    connections: Mutex<HashMap<String, Live>>,
}

/// An open connection: where its outgoing frames go, and what `GET @connections` tells.
struct Live {
    outgoing: mpsc::UnboundedSender<Message>,
    connected_at: SystemTime,
    last_active: Arc<Mutex<SystemTime>>,
    source_ip: String,
    user_agent: String,
    /// The client's address and port: tells a test's socket from the others.
    peer: SocketAddr,
}

fn now_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_millis() as u64)
        .unwrap_or(0)
}

fn iso(at: SystemTime) -> String {
    time::OffsetDateTime::from(at)
        .format(&time::format_description::well_known::Rfc3339)
        .unwrap_or_default()
}

fn reply(status: StatusCode, body: Value) -> Response<Full<Bytes>> {
    let mut response = Response::new(Full::new(Bytes::from(body.to_string())));
    *response.status_mut() = status;
    response
        .headers_mut()
        .insert("content-type", HeaderValue::from_static("application/json"));
    response
}

/// The Management API's "that connection is gone", as the SDK recognises it.
fn gone() -> Response<Full<Bytes>> {
    let mut response = reply(StatusCode::GONE, json!({ "message": null }));
    response
        .headers_mut()
        .insert("x-amzn-errortype", HeaderValue::from_static("GoneException"));
    response
}

/// A connection id in API Gateway's style (`L0SM9cOFvHcCIhw=`): 10 random bytes, base64.
fn new_connection_id() -> String {
    let uuid = uuid::Uuid::new_v4();
    base64::engine::general_purpose::URL_SAFE.encode(&uuid.as_bytes()[..10])
}

pub fn is_upgrade<B>(request: &Request<B>) -> bool {
    request
        .headers()
        .get(hyper::header::UPGRADE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.eq_ignore_ascii_case("websocket"))
}

impl WebSocketApi {
    pub fn new(api_id: String, stage: String, selection_field: String, routes: HashMap<String, Arc<Function>>) -> Self {
        Self {
            api_id,
            stage,
            selection_field,
            routes,
            connections: Mutex::new(HashMap::new()),
        }
    }

    /// Whether `path` is this API's stage (where clients connect).
    pub fn is_stage_path(&self, path: &str) -> bool {
        path.trim_end_matches('/') == format!("/{}", self.stage)
    }

    /// The id of `/{stage}/@connections/{id}`, when `path` is one.
    pub fn management_path(&self, path: &str) -> Option<String> {
        let id = path.strip_prefix(&format!("/{}/@connections/", self.stage))?;
        let id = percent_encoding::percent_decode_str(id)
            .decode_utf8_lossy()
            .into_owned();
        (!id.is_empty() && !id.contains('/')).then_some(id)
    }

    fn live(&self) -> std::sync::MutexGuard<'_, HashMap<String, Live>> {
        self.connections.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    fn context(
        &self,
        id: &str,
        route_key: &str,
        event_type: &str,
        host: &str,
        identity: (&str, &str),
        connected_at: u64,
    ) -> Value {
        let request_id = uuid::Uuid::new_v4().to_string();
        let now = now_ms();
        json!({
            "routeKey": route_key,
            "eventType": event_type,
            "extendedRequestId": request_id,
            "requestTime": time::OffsetDateTime::now_utc().format(&time::format_description::well_known::Rfc2822).unwrap_or_default(),
            "messageDirection": "IN",
            "stage": self.stage,
            "connectedAt": connected_at,
            "requestTimeEpoch": now,
            "identity": {"sourceIp": identity.0, "userAgent": identity.1},
            "requestId": request_id,
            "domainName": host,
            "connectionId": id,
            "apiId": self.api_id,
        })
    }

    /// Invokes a route's function with `event`; the status it answered (500 for an error).
    async fn invoke(&self, route_key: &str, event: Value) -> (u16, Option<String>) {
        let Some(function) = self.routes.get(route_key).or_else(|| self.routes.get("$default")) else {
            return (404, None);
        };
        let started = std::time::Instant::now();
        let request_id = event["requestContext"]["requestId"]
            .as_str()
            .unwrap_or_default()
            .to_owned();
        let connection_id = event["requestContext"]["connectionId"]
            .as_str()
            .unwrap_or_default()
            .to_owned();
        let event_type = event["requestContext"]["eventType"]
            .as_str()
            .unwrap_or_default()
            .to_owned();
        let invocation_id = uuid::Uuid::new_v4().to_string();
        let result = function
            .invoke_as(invocation_id.clone(), Bytes::from(event.to_string()))
            .await;
        let (status, error) = match result {
            InvokeResult::Ok(payload) => {
                let answer: Value = serde_json::from_slice(&payload).unwrap_or(Value::Null);
                (answer["statusCode"].as_u64().unwrap_or(200) as u16, None)
            }
            InvokeResult::FunctionError(error) => (500, Some(String::from_utf8_lossy(&error).into_owned())),
            InvokeResult::Crashed(reason) => (500, Some(reason)),
            InvokeResult::TimedOut => (504, Some("function timed out".to_owned())),
        };
        // The stage's access log line (template.yaml, WebSocketStage.AccessLogSettings).
        println!(
            "{}",
            json!({
                "requestId": request_id,
                "routeKey": route_key,
                "eventType": event_type,
                "connectionId": connection_id,
                "status": status.to_string(),
                "integrationLatency": started.elapsed().as_millis().to_string(),
                "integrationRequestId": invocation_id,
                "integrationError": error.clone().unwrap_or_default(),
            })
        );
        (status, error)
    }

    /// The opening handshake: `$connect` decides; a 2xx upgrades the connection.
    pub async fn handshake(
        self: &Arc<Self>,
        peer: SocketAddr,
        mut request: Request<hyper::body::Incoming>,
    ) -> Response<Full<Bytes>> {
        let headers = request.headers();
        let Some(key) = headers.get("sec-websocket-key").map(|k| k.as_bytes().to_vec()) else {
            return reply(StatusCode::BAD_REQUEST, json!({"message": "Missing Sec-WebSocket-Key"}));
        };
        let host = headers
            .get("host")
            .and_then(|v| v.to_str().ok())
            .unwrap_or("127.0.0.1")
            .to_owned();
        let user_agent = headers
            .get("user-agent")
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default()
            .to_owned();
        let source_ip = peer.ip().to_string();
        let (mut single, mut multi) = (Map::new(), Map::new());
        for (name, value) in headers {
            let value = String::from_utf8_lossy(value.as_bytes()).into_owned();
            single.insert(name.as_str().to_owned(), json!(value));
            if let Some(values) = multi
                .entry(name.as_str().to_owned())
                .or_insert_with(|| json!([]))
                .as_array_mut()
            {
                values.push(json!(value));
            }
        }
        let (mut query, mut multi_query) = (Map::new(), Map::new());
        for (k, v) in form_pairs(request.uri().query().unwrap_or_default()) {
            query.insert(k.clone(), json!(v));
            if let Some(values) = multi_query.entry(k).or_insert_with(|| json!([])).as_array_mut() {
                values.push(json!(v));
            }
        }
        let id = new_connection_id();
        let connected_at = now_ms();
        let mut event = json!({
            "headers": single,
            "multiValueHeaders": multi,
            "requestContext": self.context(&id, "$connect", "CONNECT", &host, (&source_ip, &user_agent), connected_at),
            "isBase64Encoded": false,
        });
        if !query.is_empty() {
            event["queryStringParameters"] = Value::Object(query);
            event["multiValueQueryStringParameters"] = Value::Object(multi_query);
        }
        let upgrade = hyper::upgrade::on(&mut request);
        let (status, _) = self.invoke("$connect", event).await;
        if !(200..300).contains(&status) {
            let status = StatusCode::from_u16(status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
            let message = status.canonical_reason().unwrap_or("Refused");
            return reply(status, json!({ "message": message }));
        }
        let (outgoing, frames) = mpsc::unbounded_channel();
        let last_active = Arc::new(Mutex::new(SystemTime::now()));
        self.live().insert(
            id.clone(),
            Live {
                outgoing,
                connected_at: SystemTime::now(),
                last_active: last_active.clone(),
                source_ip: source_ip.clone(),
                user_agent: user_agent.clone(),
                peer,
            },
        );
        let api = self.clone();
        tokio::spawn(async move {
            match upgrade.await {
                Ok(upgraded) => {
                    let config = WebSocketConfig::default()
                        .max_message_size(Some(MAX_MESSAGE))
                        .max_frame_size(Some(MAX_MESSAGE));
                    let socket =
                        WebSocketStream::from_raw_socket(TokioIo::new(upgraded), Role::Server, Some(config)).await;
                    let session = Session {
                        id,
                        host,
                        identity: (source_ip, user_agent),
                        connected_at,
                        last_active,
                    };
                    api.run(session, socket, frames).await;
                }
                Err(err) => {
                    eprintln!("devstack: websocket upgrade failed: {err}");
                    api.live().remove(&id);
                }
            }
        });
        let mut response = Response::new(Full::new(Bytes::new()));
        *response.status_mut() = StatusCode::SWITCHING_PROTOCOLS;
        let headers = response.headers_mut();
        headers.insert(hyper::header::UPGRADE, HeaderValue::from_static("websocket"));
        headers.insert(hyper::header::CONNECTION, HeaderValue::from_static("Upgrade"));
        if let Ok(accept) = HeaderValue::from_str(&tokio_tungstenite::tungstenite::handshake::derive_accept_key(&key)) {
            headers.insert("sec-websocket-accept", accept);
        }
        response
    }

    /// Reads the client's frames in order, invoking one route at a time, while a writer task
    /// sends what the Management API posts.
    async fn run(
        self: Arc<Self>,
        session: Session,
        socket: WebSocketStream<TokioIo<hyper::upgrade::Upgraded>>,
        mut frames: mpsc::UnboundedReceiver<Message>,
    ) {
        let (mut sink, mut stream) = socket.split();
        let writer = tokio::spawn(async move {
            while let Some(frame) = frames.recv().await {
                let closing = matches!(frame, Message::Close(_));
                if sink.send(frame).await.is_err() || closing {
                    break;
                }
            }
            let _ = sink.close().await;
        });
        let outcome = loop {
            let message = match stream.next().await {
                Some(Ok(message)) => message,
                Some(Err(err)) => break Err(err.to_string()),
                None => break Err("the connection ended without a close frame".to_owned()),
            };
            *session.last_active.lock().unwrap_or_else(|p| p.into_inner()) = SystemTime::now();
            let (body, base64) = match message {
                Message::Text(text) => (text.as_str().to_owned(), false),
                Message::Binary(bytes) => (base64::engine::general_purpose::STANDARD.encode(&bytes), true),
                Message::Close(frame) => break Ok(frame),
                _ => continue,
            };
            let route = self.select_route(&body, base64);
            let mut context = self.context(
                &session.id,
                &route,
                "MESSAGE",
                &session.host,
                (&session.identity.0, &session.identity.1),
                session.connected_at,
            );
            context["messageId"] = json!(uuid::Uuid::new_v4().simple().to_string());
            let event = json!({"requestContext": context, "body": body, "isBase64Encoded": base64});
            let request_id = event["requestContext"]["requestId"].clone();
            if let (_, Some(_)) = self.invoke(&route, event).await {
                // What API Gateway sends the client when the integration fails.
                let error =
                    json!({"message": "Internal server error", "connectionId": session.id, "requestId": request_id});
                self.push(&session.id, Message::Text(error.to_string().into()));
            }
        };
        let removed = self.live().remove(&session.id).is_some();
        match outcome {
            Ok(frame) if removed => {
                let (code, reason) = frame
                    .map(|f| (u16::from(f.code), f.reason.as_str().to_owned()))
                    .unwrap_or((1005, String::new()));
                self.disconnect(&session, code, &reason).await;
            }
            Ok(_) => {}
            Err(cause) if removed => eprintln!(
                "devstack: websocket {}: {cause}; no $disconnect (best effort in API Gateway too)",
                session.id
            ),
            Err(_) => {}
        }
        let _ = writer.await;
    }

    fn select_route(&self, body: &str, base64: bool) -> String {
        if base64 {
            return "$default".to_owned();
        }
        serde_json::from_str::<Value>(body)
            .ok()
            .and_then(|v| v.get(&self.selection_field).and_then(Value::as_str).map(str::to_owned))
            .filter(|key| !key.starts_with('$') && self.routes.contains_key(key))
            .unwrap_or_else(|| "$default".to_owned())
    }

    async fn disconnect(&self, session: &Session, code: u16, reason: &str) {
        let mut context = self.context(
            &session.id,
            "$disconnect",
            "DISCONNECT",
            &session.host,
            (&session.identity.0, &session.identity.1),
            session.connected_at,
        );
        context["disconnectStatusCode"] = json!(code);
        context["disconnectReason"] = json!(reason);
        let event = json!({
            "headers": {"Host": session.host},
            "multiValueHeaders": {"Host": [session.host]},
            "requestContext": context,
            "isBase64Encoded": false,
        });
        self.invoke("$disconnect", event).await;
    }

    fn push(&self, id: &str, frame: Message) -> bool {
        self.live()
            .get(id)
            .is_some_and(|live| live.outgoing.send(frame).is_ok())
    }

    /// `POST`/`GET`/`DELETE /{stage}/@connections/{id}`.
    pub async fn manage(self: &Arc<Self>, method: &Method, id: &str, body: Bytes) -> Response<Full<Bytes>> {
        match *method {
            Method::POST => {
                if body.len() > MAX_MESSAGE {
                    let mut response = reply(StatusCode::PAYLOAD_TOO_LARGE, json!({"message": "Message too long"}));
                    response
                        .headers_mut()
                        .insert("x-amzn-errortype", HeaderValue::from_static("PayloadTooLargeException"));
                    return response;
                }
                let frame = match String::from_utf8(body.to_vec()) {
                    Ok(text) => Message::Text(text.into()),
                    Err(_) => Message::Binary(body),
                };
                if self.push(id, frame) {
                    reply(StatusCode::OK, json!({}))
                } else {
                    gone()
                }
            }
            Method::GET => {
                let live = self.live();
                let Some(connection) = live.get(id) else {
                    return gone();
                };
                let last_active = *connection.last_active.lock().unwrap_or_else(|p| p.into_inner());
                reply(
                    StatusCode::OK,
                    json!({
                        "ConnectedAt": iso(connection.connected_at),
                        "LastActiveAt": iso(last_active),
                        "Identity": {"SourceIp": connection.source_ip, "UserAgent": connection.user_agent},
                    }),
                )
            }
            Method::DELETE => {
                let Some(connection) = self.live().remove(id) else {
                    return gone();
                };
                let close = CloseFrame {
                    code: CloseCode::Normal,
                    reason: "Going away".into(),
                };
                let _ = connection.outgoing.send(Message::Close(Some(close)));
                // API Gateway calls $disconnect after a server-side close, without making the
                // caller (often the same function) wait for it.
                let api = self.clone();
                let session = Session {
                    id: id.to_owned(),
                    host: "127.0.0.1".to_owned(),
                    identity: (connection.source_ip, connection.user_agent),
                    connected_at: connection
                        .connected_at
                        .duration_since(UNIX_EPOCH)
                        .map(|d| d.as_millis() as u64)
                        .unwrap_or(0),
                    last_active: connection.last_active,
                };
                tokio::spawn(async move { api.disconnect(&session, 1000, "Going away").await });
                let mut response = Response::new(Full::new(Bytes::new()));
                *response.status_mut() = StatusCode::NO_CONTENT;
                response
            }
            _ => reply(StatusCode::METHOD_NOT_ALLOWED, json!({"message": "Method Not Allowed"})),
        }
    }

    /// The client addresses of the open connections (`GET /_devstack/websockets`): a test waits
    /// on it to know that the gateway has seen a client go.
    pub fn peers(&self) -> Vec<String> {
        self.live().values().map(|live| live.peer.to_string()).collect()
    }
}

struct Session {
    id: String,
    host: String,
    identity: (String, String),
    connected_at: u64,
    last_active: Arc<Mutex<SystemTime>>,
}

fn form_pairs(query: &str) -> Vec<(String, String)> {
    query
        .split('&')
        .filter(|p| !p.is_empty())
        .map(|pair| {
            let (k, v) = pair.split_once('=').unwrap_or((pair, ""));
            let decode = |s: &str| {
                percent_encoding::percent_decode_str(&s.replace('+', " "))
                    .decode_utf8_lossy()
                    .into_owned()
            };
            (decode(k), decode(v))
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::runtime::FunctionSpec;

    fn api() -> WebSocketApi {
        let function = Function::new(FunctionSpec::new("F", "/bin/false"));
        let routes = ["$connect", "$default", "send"]
            .iter()
            .map(|k| ((*k).to_owned(), function.clone()))
            .collect();
        WebSocketApi::new("api".into(), "local".into(), "action".into(), routes)
    }

    #[test]
    fn frames_route_on_the_selection_field_else_default() {
        let api = api();
        assert_eq!(api.select_route(r#"{"action":"send"}"#, false), "send");
        assert_eq!(api.select_route(r#"{"action":"dance"}"#, false), "$default");
        assert_eq!(api.select_route(r#"{"action":"$connect"}"#, false), "$default");
        assert_eq!(api.select_route("not json", false), "$default");
    }

    #[test]
    fn management_paths_decode_the_connection_id() {
        let api = api();
        assert_eq!(
            api.management_path("/local/@connections/abc%3D").as_deref(),
            Some("abc=")
        );
        assert_eq!(api.management_path("/other/@connections/abc"), None);
        assert!(api.is_stage_path("/local/") && !api.is_stage_path("/locals"));
        assert_eq!(new_connection_id().len(), 16);
    }
}
