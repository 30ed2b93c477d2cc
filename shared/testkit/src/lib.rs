//! Handler tests without the world: a context over the in-memory adapters, callers with real
//! tokens, and the `events/` fixtures (the files `sam local invoke -e` takes) as requests.

use adapters::store::memory::Memory;
use adapters::Context;
use domain::config::{AuthConfig, Stage};
use domain::passwords::PasswordHash;
use domain::ports::{SessionStore, UserStore};
use domain::{Email, Role, User};
use edge::HttpConfig;
use edge::{Api, Service};
use http::StatusCode;
use lambda_http::Body;
use serde_json::Value;
use std::path::PathBuf;

/// The secret every test context signs with.
pub const SECRET: &str = "a-test-secret-of-at-least-32-bytes!!";
/// The password of every caller made by [`caller`] (its hash is a real Argon2id one).
pub const PASSWORD: &str = "a-password-for-tests";

/// A context whose store, queue and bucket are all `memory`.
pub fn context(memory: &Memory) -> Context<Memory, Memory, Memory> {
    let auth = AuthConfig::from_env(&[("JWT_SECRET", SECRET)]).unwrap_or_else(|err| panic!("test secret: {err}"));
    Context::with(&auth, memory.clone(), memory.clone(), memory.clone())
}

/// The HTTP settings of every test service: the local stage and its default frontend.
pub fn http_config() -> HttpConfig {
    HttpConfig {
        stage: Stage::Local,
        project_name: "Test".into(),
        frontend_host: "http://localhost:5173".into(),
        cors_origins: vec!["http://localhost:5173".into()],
    }
}

/// A user of `role` stored in `memory`, logged in, and an access token of that login.
pub async fn caller(memory: &Memory, email: &str, role: Role) -> (User, String) {
    let hash = domain::passwords::hash(&domain::Password::parse(PASSWORD).unwrap_or_else(|e| panic!("{e:?}")))
        .unwrap_or_else(|_| PasswordHash::from_stored(String::new()));
    let email = Email::parse(email).unwrap_or_else(|e| panic!("{email}: {e:?}"));
    let user = User::new(email, hash, None, role);
    memory.create(&user).await.unwrap_or_else(|e| panic!("{e}"));
    let (_, token) = session(memory, user.id).await;
    (user, token)
}

/// A new login of `user_id` (a session of their own) and an access token of it.
pub async fn session(memory: &Memory, user_id: uuid::Uuid) -> (uuid::Uuid, String) {
    let (login, _) = memory
        .start_login(user_id, std::time::Duration::from_secs(3600), &Default::default())
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    let token = context(memory)
        .keys
        .issue_access(user_id, login)
        .unwrap_or_else(|e| panic!("{e}"))
        .token;
    (login, token)
}

fn events_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../events")
}

/// The event file `events/<name>` as it is: the event of a function that is not behind the HTTP
/// API (a queue's batch, a schedule's tick).
pub fn fixture(name: &str) -> Value {
    let path = events_dir().join(name);
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    serde_json::from_str(&text).unwrap_or_else(|e| panic!("{name}: {e}"))
}

/// The event file `events/<name>` as a request, its token placeholder replaced by `token`, and
/// `edit` applied to its JSON first (a body, a path) when the test needs another input.
pub fn event(name: &str, token: &str, edit: impl FnOnce(&mut Value)) -> lambda_http::Request {
    let path = events_dir().join(name);
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    let mut json: Value = serde_json::from_str(&text.replace("REPLACE_WITH_ACCESS_TOKEN", token))
        .unwrap_or_else(|e| panic!("{name}: {e}"));
    edit(&mut json);
    lambda_http::request::from_str(&json.to_string()).unwrap_or_else(|e| panic!("{name}: {e}"))
}

/// Sets the event's path (raw and in the request context).
pub fn set_path(json: &mut Value, path: &str) {
    json["rawPath"] = Value::String(path.to_owned());
    json["requestContext"]["http"]["path"] = Value::String(path.to_owned());
}

/// Sets the event's JSON body.
pub fn set_body(json: &mut Value, body: Value) {
    json["body"] = Value::String(body.to_string());
    json["isBase64Encoded"] = Value::Bool(false);
}

/// Answers `request` through the function's whole service: routing, the handler, the error mapping.
pub async fn call<A: Api>(service: &Service<A>, request: lambda_http::Request) -> (StatusCode, Value) {
    let response = service.call(request).await;
    let body = match response.body() {
        Body::Text(text) => serde_json::from_str(text).unwrap_or(Value::String(text.clone())),
        Body::Binary(bytes) => serde_json::from_slice(bytes).unwrap_or(Value::Null),
        Body::Empty => Value::Null,
        _ => Value::Null,
    };
    (response.status(), body)
}

/// A service over `api` with the test context's HTTP settings.
pub fn service<A: Api>(api: A) -> Service<A> {
    Service::new(api, http_config())
}
