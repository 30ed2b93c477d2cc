//! `realtime`: the WebSocket API's function — `$connect` (the access token of the `token` query
//! parameter), `$disconnect`, and the frames of the contract's "Realtime" section — and the
//! consumer of the notifications queue. Frames reach clients through the Management API,
//! concurrently and bounded; a connection that is gone (410) is forgotten with its memberships.
//! Abuse limits are per user (and per source address for handshakes), never per connection:
//! another socket buys no more frames, connections, or handshakes.

use adapters::aws::batch::Failures;
use adapters::aws::{AwsConfig, ManagementApi};
use adapters::store::Table;
use aws_lambda_events::event::apigw::ApiGatewayWebsocketProxyRequest;
use aws_lambda_events::event::sqs::{SqsBatchResponse, SqsEvent};
use domain::auth::{AuthError, Authenticator};
use domain::config::{AuthConfig, ConfigError, Env};
use domain::ports::{Accounts, Connections, Invitations, Push, PushError, RateLimiter};
use domain::realtime::{
    Action, ChatMessage, Connection, ConnectionId, Event, Invitation, Joined, Limits, MessageText, Notification,
    Opened, RoomName, ServerFrame,
};
use domain::session::Limit;
use domain::tokens::TokenKeys;
use domain::StoreError;
use futures_util::stream::{self, StreamExt};
use serde_json::{json, Value};
use std::collections::HashSet;
use uuid::Uuid;

/// How many frames one invocation pushes at once.
pub const FAN_OUT_CONCURRENCY: usize = 32;

/// What the realtime function needs of a store.
pub trait Store: Accounts + Connections + Invitations + RateLimiter + Clone {}
impl<S: Accounts + Connections + Invitations + RateLimiter + Clone> Store for S {}

pub struct Realtime<S = Table, P = ManagementApi> {
    auth: Authenticator<S>,
    store: S,
    push: P,
    limits: Limits,
}

impl Realtime {
    /// `TABLE_NAME`, `JWT_SECRET`, `WEBSOCKET_MANAGEMENT_URL` (the stage's
    /// `https://{api}.execute-api.{region}.amazonaws.com/{stage}`; locally
    /// `AWS_ENDPOINT_URL_APIGATEWAYMANAGEMENTAPI` overrides it) and the `REALTIME_*` limits.
    pub fn from_env(env: &impl Env) -> Result<Self, ConfigError> {
        let aws = AwsConfig::from_env(env)?;
        let auth = AuthConfig::from_env(env)?;
        let limits = Limits::from_env(env)?;
        let table = Table::new(aws.dynamodb(), env.required("TABLE_NAME")?);
        let push = ManagementApi::new(&aws, env.required("WEBSOCKET_MANAGEMENT_URL")?);
        Ok(Self::new(TokenKeys::new(&auth), table, push).with_limits(limits))
    }
}

/// An API Gateway answer to a WebSocket route. Only `$connect`'s status reaches the client (it
/// accepts or refuses the handshake); frames go back through the Management API.
fn answer(status: u16, request_id: &str, message: &str) -> Value {
    json!({
        "statusCode": status,
        "headers": {"content-type": "application/json", "x-request-id": request_id},
        "body": json!({"message": message}).to_string(),
    })
}

/// Why a frame could not be handled: the sender gets `detail` as an `error` frame.
struct Refused {
    status: u16,
    detail: String,
}

impl From<StoreError> for Refused {
    fn from(err: StoreError) -> Self {
        tracing::error!(error = %err, "store failed");
        Self {
            status: 503,
            detail: "Service temporarily unavailable, try again".into(),
        }
    }
}

fn refused(detail: impl Into<String>) -> Refused {
    Refused {
        status: 200,
        detail: detail.into(),
    }
}

impl<S: Store, P: Push> Realtime<S, P> {
    pub fn new(keys: TokenKeys, store: S, push: P) -> Self {
        Self {
            auth: Authenticator::new(keys, store.clone()),
            store,
            push,
            limits: Limits::default(),
        }
    }

    pub fn with_limits(self, limits: Limits) -> Self {
        Self { limits, ..self }
    }

    /// One invocation: a WebSocket route's event, or a batch of the notifications queue.
    pub async fn handle(&self, event: Value) -> Result<Value, lambda_runtime::Error> {
        telemetry::metrics::invocation_started();
        if event.get("Records").is_some() {
            let batch: SqsEvent = serde_json::from_value(event)?;
            return Ok(serde_json::to_value(self.notifications(batch).await)?);
        }
        let request: ApiGatewayWebsocketProxyRequest = serde_json::from_value(event)?;
        Ok(self.websocket(request).await)
    }

    pub async fn websocket(&self, request: ApiGatewayWebsocketProxyRequest) -> Value {
        let context = &request.request_context;
        let request_id = context.request_id.clone().unwrap_or_default();
        let route = context.route_key.clone().unwrap_or_default();
        let Some(id) = context
            .connection_id
            .as_deref()
            .and_then(|c| ConnectionId::parse(c).ok())
        else {
            return answer(400, &request_id, "No connection id");
        };
        let started = std::time::Instant::now();
        let (status, user) = match context.event_type.as_deref() {
            Some("CONNECT") => {
                let token = request.query_string_parameters.first("token");
                self.connect(&id, token, context.identity.source_ip.as_deref()).await
            }
            Some("DISCONNECT") => (self.disconnect(&id).await, None),
            _ => {
                let body = request.body.as_deref().unwrap_or_default();
                let frame = if request.is_base64_encoded { None } else { Some(body) };
                self.frame(&id, frame).await
            }
        };
        tracing::info!(
            request_id,
            route,
            connection_id = %id,
            status,
            user_id = user.map(|u| u.to_string()),
            latency_ms = started.elapsed().as_secs_f64() * 1000.0,
            "websocket request"
        );
        let message = match status {
            200 => "OK",
            401 => "Unauthorized",
            429 => "Too Many Requests",
            _ => "Service Unavailable",
        };
        answer(status, &request_id, message)
    }

    /// The handshake: the source address's attempts, an access token by the HTTP API's rules,
    /// the user's attempts, then the connection's record within the user's cap. Attempts are
    /// counted before they are checked, so parallel handshakes cannot slip past a limit.
    async fn connect(&self, id: &ConnectionId, token: Option<&str>, source: Option<&str>) -> (u16, Option<Uuid>) {
        if let Some(source) = source {
            match self.over(&self.limits.connects_per_address, source).await {
                Ok(false) => {}
                Ok(true) => return (429, None),
                Err(status) => return (status, None),
            }
        }
        let Some(token) = token.filter(|t| !t.is_empty()) else {
            return (401, None);
        };
        // An access token of a session only: the connection is that session's, and ends with it.
        let principal = match self.auth.session_of(token).await {
            Ok(principal) => principal,
            Err(AuthError::Invalid) => return (401, None),
            Err(err) => {
                tracing::error!(error = %err, "cannot check the token");
                return (503, None);
            }
        };
        let (user_id, session) = (principal.user.id, principal.session());
        let Some(session) = session else {
            return (401, None);
        };
        match self.over(&self.limits.connects_per_user, &user_id.to_string()).await {
            Ok(false) => {}
            Ok(true) => return (429, Some(user_id)),
            Err(status) => return (status, Some(user_id)),
        }
        match self.open(&Connection::open(id.clone(), user_id, session)).await {
            Ok(Opened::Opened) => (200, Some(user_id)),
            Ok(Opened::Full(_)) => (429, Some(user_id)),
            Err(err) => {
                tracing::error!(error = %err, "cannot keep the connection");
                (503, Some(user_id))
            }
        }
    }

    /// Counts one more attempt against `limit`; whether it is over, or the status to answer.
    async fn over(&self, limit: &Limit, key: &str) -> Result<bool, u16> {
        match self.store.hit(limit, key).await {
            Ok(count) => Ok(count.count > limit.max),
            Err(err) => {
                tracing::error!(error = %err, "cannot count the attempt");
                Err(503)
            }
        }
    }

    /// Keeps the connection within its user's cap. At the cap, the connections that hold it are
    /// asked for (the Management API's `GET @connections`): those gone without a `$disconnect`
    /// are forgotten, and the connection tries once more. Holders younger than
    /// `HANDSHAKE_GRACE` are not asked: their handshake may still be under way.
    async fn open(&self, connection: &Connection) -> Result<Opened, StoreError> {
        let cap = self.limits.connections_per_user;
        let Opened::Full(holders) = self.store.open(connection, cap).await? else {
            return Ok(Opened::Opened);
        };
        let mut freed = false;
        for holder in holders {
            match self.push.is_open(&holder).await {
                Ok(true) => {}
                Ok(false) => {
                    tracing::info!(connection_id = %holder, "connection gone: forgotten");
                    self.close_record(&holder).await?;
                    freed = true;
                }
                Err(err) => tracing::warn!(connection_id = %holder, error = %err, "cannot ask for a connection"),
            }
        }
        if !freed {
            return Ok(Opened::Full(Vec::new()));
        }
        self.store.open(connection, cap).await
    }

    /// Forgets the connection; the rooms it was in see it leave.
    async fn disconnect(&self, id: &ConnectionId) -> u16 {
        match self.close_record(id).await {
            Ok(()) => 200,
            Err(err) => {
                tracing::error!(error = %err, "cannot forget the connection");
                503
            }
        }
    }

    async fn close_record(&self, id: &ConnectionId) -> Result<(), StoreError> {
        let notices = self.forget(id).await?;
        self.deliver_all(notices, HashSet::from([id.clone()])).await;
        Ok(())
    }

    /// Forgets a connection with its memberships, and returns what each room it was in must be
    /// told (`user_leave`, to its members); nothing when it was forgotten already.
    async fn forget(&self, id: &ConnectionId) -> Result<Vec<(Vec<ConnectionId>, String)>, StoreError> {
        let Some((connection, rooms)) = self.store.close(id).await? else {
            return Ok(Vec::new());
        };
        let mut notices = Vec::new();
        for room in rooms {
            let members = self.store.members(&room).await?;
            notices.push((
                members.into_iter().map(|m| m.connection).collect(),
                ServerFrame::user_leave(&room, connection.user_id).to_text(),
            ));
        }
        Ok(notices)
    }

    /// A client frame: rate limit, the sender's connection, the action. Every refusal is an
    /// `error` frame to the sender; the connection stays.
    async fn frame(&self, id: &ConnectionId, frame: Option<&str>) -> (u16, Option<Uuid>) {
        let mut user = None;
        let outcome = self.act(id, frame, &mut user).await;
        match outcome {
            Ok(()) => (200, user),
            Err(Refused { status, detail }) => {
                self.reply(id, &ServerFrame::error(detail)).await;
                (status, user)
            }
        }
    }

    async fn act(&self, id: &ConnectionId, frame: Option<&str>, user: &mut Option<Uuid>) -> Result<(), Refused> {
        let connection = self
            .store
            .connection(id)
            .await?
            .ok_or_else(|| refused("This connection is not open any more; reconnect"))?;
        *user = Some(connection.user_id);
        // Per user: every connection of the user draws on the one allowance.
        let limit = &self.limits.frames_per_user;
        let count = self.store.hit(limit, &connection.user_id.to_string()).await?;
        if count.count > limit.max {
            return Err(refused(format!(
                "Too many frames, slow down (retry in {} s)",
                count.retry_after_secs
            )));
        }
        let frame = frame.ok_or_else(|| refused("Frames are JSON text"))?;
        match Action::parse(frame).map_err(refused)? {
            Action::Ping => {
                self.reply(id, &ServerFrame::pong()).await;
            }
            Action::Join(room) => self.join(&connection, room).await?,
            Action::Leave(room) => self.leave(&connection, room).await?,
            Action::Send(room, message) => self.send(&connection, room, message).await?,
            Action::Private(to, message) => {
                // Nothing goes back to the sender either way: whether `to` is online, or exists,
                // is not theirs to learn.
                let targets = self.store.of_user(to).await?;
                self.deliver(targets, &ServerFrame::private(connection.user_id, message))
                    .await;
            }
            Action::Invite(room, user_id) => self.invite(&connection, room, user_id).await?,
        }
        Ok(())
    }

    async fn join(&self, connection: &Connection, room: RoomName) -> Result<(), Refused> {
        // The same refusal whether the room exists or not, and before anything of it is read.
        if !room.open_to(connection.user_id) && !self.store.is_invited(&room, connection.user_id).await? {
            return Err(refused(format!("Room {room} takes members by invitation only")));
        }
        match self.store.join(&room, connection, self.limits.room_members).await? {
            Joined::Joined => {}
            Joined::RoomFull => {
                return Err(refused(format!(
                    "Room {room} is full ({} connections)",
                    self.limits.room_members
                )))
            }
            Joined::ConnectionGone => return Err(refused("This connection is not open any more; reconnect")),
            Joined::TooManyRooms => {
                return Err(refused(format!(
                    "A connection may be in at most {} rooms",
                    domain::realtime::MAX_ROOMS_PER_CONNECTION
                )))
            }
        }
        let (messages, members) = futures_util::try_join!(self.store.history(&room), self.store.members(&room))?;
        for page in ServerFrame::history(&room, messages) {
            self.reply(&connection.id, &page).await;
        }
        let others = members
            .into_iter()
            .map(|m| m.connection)
            .filter(|c| *c != connection.id)
            .collect();
        self.deliver(others, &ServerFrame::user_join(&room, connection.user_id))
            .await;
        Ok(())
    }

    /// A member of a `private-` room lets `user_id` join it. The inviter's answer is the same
    /// whoever `user_id` is; the invitee's connections are told.
    async fn invite(&self, connection: &Connection, room: RoomName, user_id: Uuid) -> Result<(), Refused> {
        if !room.is_private() {
            return Err(refused(format!(
                "Room {room} is open to everyone: only private- rooms take invitations"
            )));
        }
        if !self.store.is_member(&room, &connection.id).await? {
            return Err(refused(format!("Join room {room} before inviting to it")));
        }
        let invitation = Invitation::new(room, user_id, connection.user_id);
        self.store.invite(&invitation).await?;
        self.reply(&connection.id, &ServerFrame::invited(&invitation)).await;
        let invitee = self.store.of_user(user_id).await?;
        self.deliver(invitee, &ServerFrame::invitation(&invitation)).await;
        Ok(())
    }

    async fn leave(&self, connection: &Connection, room: RoomName) -> Result<(), Refused> {
        if !self.store.leave(&room, &connection.id).await? {
            return Err(refused(format!("Not in room {room}")));
        }
        let members = self.store.members(&room).await?;
        let mut targets: Vec<_> = members.into_iter().map(|m| m.connection).collect();
        targets.push(connection.id.clone());
        self.deliver(targets, &ServerFrame::user_leave(&room, connection.user_id))
            .await;
        Ok(())
    }

    async fn send(&self, connection: &Connection, room: RoomName, text: MessageText) -> Result<(), Refused> {
        let members = self.store.members(&room).await?;
        if !members.iter().any(|m| m.connection == connection.id) {
            return Err(refused(format!("Join room {room} before sending to it")));
        }
        let message = ChatMessage::new(&room, connection.user_id, text);
        self.store.remember(&message).await?;
        self.deliver(
            members.into_iter().map(|m| m.connection).collect(),
            &ServerFrame::Message(message),
        )
        .await;
        Ok(())
    }

    /// A frame to the sender alone.
    async fn reply(&self, to: &ConnectionId, frame: &ServerFrame) {
        self.deliver(vec![to.clone()], frame).await;
    }

    /// One frame to many connections.
    async fn deliver(&self, targets: Vec<ConnectionId>, frame: &ServerFrame) {
        self.deliver_all(vec![(targets, frame.to_text())], HashSet::new()).await;
    }

    /// Pushes each frame to its connections, `FAN_OUT_CONCURRENCY` at a time. A connection that
    /// is gone is forgotten with its memberships, and the rooms it was in see it leave — which
    /// may find more gone connections, each handled once.
    async fn deliver_all(&self, mut work: Vec<(Vec<ConnectionId>, String)>, mut closed: HashSet<ConnectionId>) {
        while let Some((targets, text)) = work.pop() {
            let targets: Vec<_> = targets.into_iter().filter(|t| !closed.contains(t)).collect();
            let text = &text;
            let gone: Vec<ConnectionId> = stream::iter(targets)
                .map(|to| async move {
                    match self.push.send(&to, text).await {
                        Ok(()) => None,
                        Err(PushError::Gone) => Some(to),
                        Err(PushError::Unavailable(err)) => {
                            tracing::warn!(connection_id = %to, error = %err, "push failed");
                            None
                        }
                    }
                })
                .buffer_unordered(FAN_OUT_CONCURRENCY)
                .filter_map(|gone| async move { gone })
                .collect()
                .await;
            for id in gone {
                closed.insert(id.clone());
                tracing::info!(connection_id = %id, "connection gone: forgotten");
                match self.forget(&id).await {
                    Ok(notices) => work.extend(notices),
                    Err(err) => tracing::warn!(connection_id = %id, error = %err, "cannot forget a gone connection"),
                }
            }
        }
    }

    /// A batch of the notifications queue: each record to every connection of its user; a
    /// `session.revoked` then closes those connections. A record fails alone (partial batch
    /// failure) when the store cannot be read.
    pub async fn notifications(&self, batch: SqsEvent) -> SqsBatchResponse {
        let mut failures = Failures::default();
        for record in &batch.records {
            let outcome = match Notification::parse(record.body.as_deref().unwrap_or_default()) {
                Ok(notification) => self.notify(notification).await.map_err(|e| e.to_string()),
                Err(err) => Err(err),
            };
            if let Some(delivered) = failures.check(record, outcome) {
                tracing::info!(message_id = record.message_id, delivered, "notification delivered");
            }
        }
        failures.response()
    }

    /// Returns to how many connections the notification went: those of its audience (every
    /// connection of the user, or one session's, or all but one session's).
    async fn notify(&self, notification: Notification) -> Result<usize, StoreError> {
        let targets = self
            .store
            .of_audience(notification.user_id, &notification.audience)
            .await?;
        let frame = ServerFrame::Notification {
            event: notification.event,
            data: notification.data,
            timestamp: notification.timestamp,
        };
        self.deliver(targets.clone(), &frame).await;
        if notification.event == Event::SessionRevoked {
            for id in &targets {
                match self.push.close(id).await {
                    Ok(()) | Err(PushError::Gone) => {}
                    Err(PushError::Unavailable(err)) => {
                        tracing::warn!(connection_id = %id, error = %err, "close failed")
                    }
                }
                // API Gateway calls $disconnect too, but only on a best-effort basis.
                self.close_record(id).await?;
            }
        }
        Ok(targets.len())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use adapters::store::memory::Memory;
    use domain::ports::Notifier;
    use domain::Role;
    use testkit as testing;

    fn event(name: &str, token: &str, edit: impl FnOnce(&mut Value)) -> Value {
        let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("../../events/realtime")
            .join(name);
        let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
        let mut json: Value = serde_json::from_str(&text.replace("REPLACE_WITH_ACCESS_TOKEN", token)).unwrap();
        edit(&mut json);
        json
    }

    fn on(connection: &str) -> impl FnOnce(&mut Value) + '_ {
        move |json| json["requestContext"]["connectionId"] = json!(connection)
    }

    fn with_body(connection: &'static str, body: Value) -> impl FnOnce(&mut Value) {
        move |json| {
            json["requestContext"]["connectionId"] = json!(connection);
            json["body"] = json!(body.to_string());
        }
    }

    fn realtime(memory: &Memory) -> Realtime<Memory, Memory> {
        Realtime::new(testing::context(memory).keys, memory.clone(), memory.clone())
    }

    async fn status(realtime: &Realtime<Memory, Memory>, event: Value) -> u64 {
        realtime.handle(event).await.unwrap()["statusCode"].as_u64().unwrap()
    }

    /// The frames pushed to `connection`, as JSON.
    fn frames(memory: &Memory, connection: &str) -> Vec<Value> {
        memory
            .pushed()
            .into_iter()
            .filter(|(to, _)| to.as_str() == connection)
            .map(|(_, text)| serde_json::from_str(&text).unwrap())
            .collect()
    }

    async fn connected(memory: &Memory, realtime: &Realtime<Memory, Memory>, email: &str, ids: &[&str]) -> Uuid {
        let (user, token) = testing::caller(memory, email, Role::User).await;
        for id in ids {
            assert_eq!(status(realtime, event("connect.json", &token, on(id))).await, 200);
        }
        user.id
    }

    #[tokio::test]
    async fn connect_needs_a_valid_access_token() {
        let memory = Memory::default();
        let realtime = realtime(&memory);
        let (user, token) = testing::caller(&memory, "a@example.com", Role::User).await;
        assert_eq!(
            status(&realtime, event("connect.json", "not-a-token", on("c1"))).await,
            401
        );
        let no_token = event("connect.json", "", |json| json["queryStringParameters"] = json!({}));
        assert_eq!(status(&realtime, no_token).await, 401);
        assert_eq!(status(&realtime, event("connect.json", &token, on("c1"))).await, 200);
        assert_eq!(memory.of_user(user.id).await.unwrap().len(), 1);
        memory.set_down(true);
        assert_eq!(status(&realtime, event("connect.json", &token, on("c2"))).await, 503);
    }

    #[tokio::test]
    async fn room_messages_reach_every_member_and_history_reaches_joiners() {
        let memory = Memory::default();
        let realtime = realtime(&memory);
        let alice = connected(&memory, &realtime, "a@example.com", &["a"]).await;
        let bob = connected(&memory, &realtime, "b@example.com", &["b"]).await;
        assert_eq!(status(&realtime, event("join.json", "", on("a"))).await, 200);
        assert_eq!(status(&realtime, event("join.json", "", on("b"))).await, 200);
        assert_eq!(frames(&memory, "a")[1]["type"], "user_join");
        assert_eq!(frames(&memory, "a")[1]["user_id"], bob.to_string());
        assert_eq!(status(&realtime, event("send.json", "", on("a"))).await, 200);
        for member in ["a", "b"] {
            let last = frames(&memory, member).pop().unwrap();
            assert_eq!(last["type"], "message");
            assert_eq!(last["user_id"], alice.to_string());
        }
        connected(&memory, &realtime, "c@example.com", &["c"]).await;
        status(&realtime, event("join.json", "", on("c"))).await;
        let history = &frames(&memory, "c")[0];
        assert_eq!(history["type"], "history");
        assert_eq!(history["messages"].as_array().unwrap().len(), 1);
        assert_eq!(status(&realtime, event("leave.json", "", on("c"))).await, 200);
        assert_eq!(frames(&memory, "a").pop().unwrap()["type"], "user_leave");
    }

    #[tokio::test]
    async fn bad_frames_get_an_error_frame() {
        let memory = Memory::default();
        let realtime = realtime(&memory);
        connected(&memory, &realtime, "a@example.com", &["a"]).await;
        for body in [
            json!({"action": "join", "room": "bad room"}),
            json!({"action": "dance"}),
            json!({"action": "send", "room": "general", "message": "not joined"}),
        ] {
            assert_eq!(
                status(&realtime, event("default.json", "", with_body("a", body))).await,
                200
            );
            assert_eq!(frames(&memory, "a").pop().unwrap()["type"], "error");
        }
        assert_eq!(status(&realtime, event("ping.json", "", on("a"))).await, 200);
        assert_eq!(frames(&memory, "a").pop().unwrap()["type"], "pong");
    }

    #[tokio::test]
    async fn a_fast_sender_is_limited_on_every_connection_of_theirs() {
        let memory = Memory::default();
        let realtime = realtime(&memory);
        connected(&memory, &realtime, "a@example.com", &["a1", "a2"]).await;
        connected(&memory, &realtime, "b@example.com", &["b"]).await;
        for _ in 0..Limits::default().frames_per_user.max {
            status(&realtime, event("ping.json", "", on("a1"))).await;
        }
        assert_eq!(frames(&memory, "a1").pop().unwrap()["type"], "pong");
        status(&realtime, event("ping.json", "", on("a2"))).await;
        let last = frames(&memory, "a2").pop().unwrap();
        assert_eq!(last["type"], "error", "the second socket shares the first's allowance");
        assert!(last["detail"].as_str().unwrap().contains("Too many frames"));
        status(&realtime, event("ping.json", "", on("b"))).await;
        assert_eq!(
            frames(&memory, "b").pop().unwrap()["type"],
            "pong",
            "another user is not limited"
        );
    }

    fn limits(edit: impl FnOnce(&mut Limits)) -> Limits {
        let mut limits = Limits::default();
        edit(&mut limits);
        limits
    }

    #[tokio::test]
    async fn a_user_holds_at_most_their_cap_of_connections_and_a_vanished_one_frees_its_place() {
        let memory = Memory::default();
        let realtime = realtime(&memory).with_limits(limits(|l| l.connections_per_user = 2));
        let (user, token) = testing::caller(&memory, "a@example.com", Role::User).await;
        // c1 opened a minute ago: past its handshake.
        let mut earlier = Connection::open(ConnectionId::parse("c1").unwrap(), user.id, Uuid::new_v4());
        earlier.expires_at -= 60;
        assert_eq!(memory.open(&earlier, 2).await.unwrap(), Opened::Opened);
        assert_eq!(status(&realtime, event("connect.json", &token, on("c2"))).await, 200);
        let refused = realtime.handle(event("connect.json", &token, on("c3"))).await.unwrap();
        assert_eq!(refused["statusCode"], 429);
        assert!(refused["body"].as_str().unwrap().contains("Too Many Requests"));
        assert_eq!(
            status(&realtime, event("connect.json", &token, on("c2"))).await,
            200,
            "the same connection again keeps its place"
        );
        connected(&memory, &realtime, "b@example.com", &["b1", "b2"]).await;
        memory.vanish(&ConnectionId::parse("c2").unwrap());
        assert_eq!(
            status(&realtime, event("connect.json", &token, on("c3"))).await,
            429,
            "c2 may still be in its handshake: it is not asked for"
        );
        memory.vanish(&ConnectionId::parse("c1").unwrap());
        assert_eq!(status(&realtime, event("connect.json", &token, on("c3"))).await, 200);
        let mut held = memory.of_user(user.id).await.unwrap();
        held.sort();
        assert_eq!(held, ["c2", "c3"].map(|c| ConnectionId::parse(c).unwrap()));
    }

    #[tokio::test]
    async fn handshakes_are_limited_per_user_and_per_address() {
        let memory = Memory::default();
        let realtime = realtime(&memory).with_limits(limits(|l| {
            l.connects_per_user.max = 2;
            l.connects_per_address.max = 3;
        }));
        let (_, token) = testing::caller(&memory, "a@example.com", Role::User).await;
        let (_, other) = testing::caller(&memory, "b@example.com", Role::User).await;
        let from = |address: &'static str, id: &'static str| {
            move |json: &mut Value| {
                json["requestContext"]["connectionId"] = json!(id);
                json["requestContext"]["identity"]["sourceIp"] = json!(address);
            }
        };
        assert_eq!(
            status(&realtime, event("connect.json", &token, from("10.0.0.1", "a1"))).await,
            200
        );
        assert_eq!(
            status(&realtime, event("connect.json", &token, from("10.0.0.2", "a2"))).await,
            200
        );
        assert_eq!(
            status(&realtime, event("connect.json", &token, from("10.0.0.3", "a3"))).await,
            429,
            "the user's third attempt in the minute, from a fresh address"
        );
        assert_eq!(
            status(&realtime, event("connect.json", &other, from("10.0.0.1", "b1"))).await,
            200
        );
        assert_eq!(
            status(&realtime, event("connect.json", "bad", from("10.0.0.1", "x1"))).await,
            401
        );
        assert_eq!(
            status(&realtime, event("connect.json", &other, from("10.0.0.1", "b2"))).await,
            429,
            "the address's fourth attempt, a bad token's included"
        );
    }

    #[tokio::test]
    async fn a_full_room_refuses_the_next_join() {
        let memory = Memory::default();
        let realtime = realtime(&memory).with_limits(limits(|l| l.room_members = 2));
        connected(&memory, &realtime, "a@example.com", &["a", "a2"]).await;
        connected(&memory, &realtime, "b@example.com", &["b"]).await;
        assert_eq!(status(&realtime, event("join.json", "", on("a"))).await, 200);
        assert_eq!(status(&realtime, event("join.json", "", on("a2"))).await, 200);
        assert_eq!(status(&realtime, event("join.json", "", on("b"))).await, 200);
        let error = frames(&memory, "b").pop().unwrap();
        assert_eq!(error["type"], "error");
        assert!(error["detail"].as_str().unwrap().contains("is full"), "{error}");
        assert_eq!(status(&realtime, event("join.json", "", on("a"))).await, 200);
        assert_eq!(
            frames(&memory, "a").pop().unwrap()["type"],
            "history",
            "a member joins again"
        );
        status(&realtime, event("leave.json", "", on("a2"))).await;
        status(&realtime, event("join.json", "", on("b"))).await;
        assert_eq!(frames(&memory, "b").pop().unwrap()["type"], "history");
    }

    #[tokio::test]
    async fn a_private_message_answers_the_sender_nothing_whether_or_not_the_target_is_online() {
        let memory = Memory::default();
        let realtime = realtime(&memory);
        connected(&memory, &realtime, "a@example.com", &["a"]).await;
        let bob = connected(&memory, &realtime, "b@example.com", &["b"]).await;
        let offline = testing::caller(&memory, "c@example.com", Role::User).await.0.id;
        for to in [bob, offline, Uuid::new_v4()] {
            let body = json!({"action": "private", "to": to, "message": "psst"});
            assert_eq!(
                status(&realtime, event("private.json", "", with_body("a", body))).await,
                200
            );
        }
        assert!(frames(&memory, "a").is_empty());
        assert_eq!(frames(&memory, "b").len(), 1);
    }

    #[tokio::test]
    async fn a_private_room_admits_its_owner_and_whom_a_member_invited() {
        let memory = Memory::default();
        let realtime = realtime(&memory);
        let owner = connected(&memory, &realtime, "a@example.com", &["a"]).await;
        let bob = connected(&memory, &realtime, "b@example.com", &["b"]).await;
        connected(&memory, &realtime, "c@example.com", &["c"]).await;
        let room = format!("private-{owner}-team");
        let send = |on: &'static str, body: Value| event("default.json", "", with_body(on, body));
        let join = |room: &str| json!({"action": "join", "room": room});
        for (who, name) in [("b", room.as_str()), ("b", "private-nobody-made-this")] {
            status(&realtime, send(who, join(name))).await;
            let error = frames(&memory, who).pop().unwrap();
            assert_eq!(
                error["detail"],
                format!("Room {name} takes members by invitation only"),
                "the same refusal whether the room exists or not"
            );
        }
        let invite = json!({"action": "invite", "room": room, "user_id": bob});
        status(&realtime, send("c", invite.clone())).await;
        assert!(frames(&memory, "c").pop().unwrap()["detail"]
            .as_str()
            .unwrap()
            .starts_with("Join room"));
        status(&realtime, send("a", join(&room))).await;
        assert_eq!(frames(&memory, "a").pop().unwrap()["type"], "history");
        status(&realtime, send("a", invite)).await;
        let invited = frames(&memory, "a").pop().unwrap();
        assert_eq!(invited, json!({"type": "invited", "room": room, "user_id": bob}));
        let invitation = frames(&memory, "b").pop().unwrap();
        assert_eq!(
            (invitation["type"].as_str(), invitation["from_user"].as_str()),
            (Some("invitation"), Some(owner.to_string().as_str()))
        );
        status(&realtime, send("b", join(&room))).await;
        assert_eq!(frames(&memory, "b").pop().unwrap()["type"], "history");
        status(&realtime, send("c", join(&room))).await;
        assert_eq!(
            frames(&memory, "c").pop().unwrap()["type"],
            "error",
            "bob's invitation is his"
        );
        status(
            &realtime,
            send("a", json!({"action": "invite", "room": "general", "user_id": bob})),
        )
        .await;
        assert!(frames(&memory, "a").pop().unwrap()["detail"]
            .as_str()
            .unwrap()
            .contains("only private- rooms"));
    }

    #[tokio::test]
    async fn private_messages_reach_every_connection_of_the_user_only() {
        let memory = Memory::default();
        let realtime = realtime(&memory);
        let alice = connected(&memory, &realtime, "a@example.com", &["a"]).await;
        let bob = connected(&memory, &realtime, "b@example.com", &["b1", "b2"]).await;
        connected(&memory, &realtime, "c@example.com", &["c"]).await;
        let body = json!({"action": "private", "to": bob, "message": "psst"});
        assert_eq!(
            status(&realtime, event("private.json", "", with_body("a", body))).await,
            200
        );
        for b in ["b1", "b2"] {
            let frame = frames(&memory, b).pop().unwrap();
            assert_eq!(frame["type"], "private");
            assert_eq!(frame["from_user"], alice.to_string());
            assert_eq!(frame["message"], "psst");
        }
        assert!(frames(&memory, "a").is_empty());
        assert!(frames(&memory, "c").is_empty());
    }

    #[tokio::test]
    async fn a_vanished_connection_is_forgotten_at_the_next_fan_out() {
        let memory = Memory::default();
        let realtime = realtime(&memory);
        connected(&memory, &realtime, "a@example.com", &["a"]).await;
        let bob = connected(&memory, &realtime, "b@example.com", &["b"]).await;
        status(&realtime, event("join.json", "", on("a"))).await;
        status(&realtime, event("join.json", "", on("b"))).await;
        memory.vanish(&ConnectionId::parse("b").unwrap());
        status(&realtime, event("send.json", "", on("a"))).await;
        assert!(memory.of_user(bob).await.unwrap().is_empty());
        let leave = frames(&memory, "a").pop().unwrap();
        assert_eq!(leave["type"], "user_leave");
        assert_eq!(leave["user_id"], bob.to_string());
    }

    #[tokio::test]
    async fn disconnect_tells_the_rooms() {
        let memory = Memory::default();
        let realtime = realtime(&memory);
        connected(&memory, &realtime, "a@example.com", &["a"]).await;
        let bob = connected(&memory, &realtime, "b@example.com", &["b"]).await;
        status(&realtime, event("join.json", "", on("a"))).await;
        status(&realtime, event("join.json", "", on("b"))).await;
        assert_eq!(status(&realtime, event("disconnect.json", "", on("b"))).await, 200);
        assert!(memory.of_user(bob).await.unwrap().is_empty());
        assert_eq!(frames(&memory, "a").pop().unwrap()["type"], "user_leave");
    }

    #[tokio::test]
    async fn session_revoked_is_delivered_then_closes_the_connections() {
        let memory = Memory::default();
        let realtime = realtime(&memory);
        let bob = connected(&memory, &realtime, "b@example.com", &["b1", "b2"]).await;
        memory
            .notify(bob, Event::SessionRevoked, json!({"reason": "password_changed"}))
            .await
            .unwrap();
        let mut batch = event("notifications.json", "", |_| {});
        batch["Records"][0]["body"] = json!(memory.notifications()[0].to_body());
        batch["Records"] = json!([batch["Records"][0].clone()]);
        let answer = realtime.handle(batch).await.unwrap();
        assert_eq!(answer["batchItemFailures"], json!([]));
        for b in ["b1", "b2"] {
            let frame = frames(&memory, b).pop().unwrap();
            assert_eq!(frame["type"], "notification");
            assert_eq!(frame["event"], "session.revoked");
            assert_eq!(frame["data"]["reason"], "password_changed");
        }
        assert_eq!(memory.closed().len(), 2);
        assert!(memory.of_user(bob).await.unwrap().is_empty());
    }

    #[tokio::test]
    async fn a_revoked_session_closes_its_own_connections_only() {
        use domain::realtime::Audience;
        let memory = Memory::default();
        let realtime = realtime(&memory);
        let (bob, first) = testing::caller(&memory, "b@example.com", Role::User).await;
        let (second_session, second) = testing::session(&memory, bob.id).await;
        assert_eq!(status(&realtime, event("connect.json", &first, on("one"))).await, 200);
        assert_eq!(status(&realtime, event("connect.json", &second, on("two"))).await, 200);
        memory
            .notify_to(
                bob.id,
                Audience::Session(second_session),
                Event::SessionRevoked,
                json!({"reason": "session_revoked"}),
            )
            .await
            .unwrap();
        let mut batch = event("notifications.json", "", |_| {});
        batch["Records"][0]["body"] = json!(memory.notifications()[0].to_body());
        batch["Records"] = json!([batch["Records"][0].clone()]);
        assert_eq!(realtime.handle(batch).await.unwrap()["batchItemFailures"], json!([]));
        assert_eq!(frames(&memory, "two").pop().unwrap()["event"], "session.revoked");
        assert!(frames(&memory, "one").is_empty());
        assert_eq!(memory.closed(), [ConnectionId::parse("two").unwrap()]);
        assert_eq!(
            memory.of_user(bob.id).await.unwrap(),
            [ConnectionId::parse("one").unwrap()]
        );
    }

    #[tokio::test]
    async fn a_malformed_notification_fails_alone() {
        let memory = Memory::default();
        let realtime = realtime(&memory);
        let answer = realtime.handle(event("notifications.json", "", |_| {})).await.unwrap();
        let failed: Vec<_> = answer["batchItemFailures"]
            .as_array()
            .unwrap()
            .iter()
            .map(|f| f["itemIdentifier"].as_str().unwrap().to_owned())
            .collect();
        assert_eq!(failed, ["5d0e5a4e-2222-4c59-9d0c-000000000002"]);
    }
}
