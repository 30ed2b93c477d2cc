//! `realtime`: the WebSocket API's function — `$connect` (the access token of the `token` query
//! parameter), `$disconnect`, and the frames of the contract's "Realtime" section — and the
//! consumer of two queues: notifications (server events for a user's connections) and fan-out.
//!
//! A frame's own invocation never pushes to a room: it stores what it must (the message for
//! history, a membership) and queues the delivery (`FanOut`), so its duration does not grow with
//! the room. The fan-out consumer reads the room's members a page of [`SHARD_SIZE`] at a time;
//! a room of one page is pushed at once, a larger one becomes a shard message per page. Each
//! shard is pushed [`PUSHES_IN_FLIGHT`] at a time; the connections a push could not reach are
//! queued again (and only they), connections found gone are forgotten in batches. Presence
//! (`user_join`, `user_leave`) goes only to rooms below the presence size; any room answers `who`.
//! Abuse limits are per user (and per source address for handshakes), never per connection.

use adapters::aws::batch::Failures;
use adapters::aws::{AwsConfig, ManagementApi, SqsQueue};
use adapters::store::Table;
use aws_lambda_events::event::apigw::ApiGatewayWebsocketProxyRequest;
use aws_lambda_events::event::sqs::{SqsBatchResponse, SqsEvent};
use domain::auth::{AuthError, Authenticator};
use domain::config::{AuthConfig, ConfigError, Env};
use domain::ports::{Accounts, Connections, FanOutQueue, Invitations, Push, PushError, QueueError, RateLimiter};
use domain::realtime::{
    Action, ChatMessage, Connection, ConnectionId, Event, FanOut, Invitation, Joined, Limits, MessageText,
    Notification, Opened, Queued, RoomName, ServerFrame, MAX_SHARD_ATTEMPTS,
};
use domain::session::Limit;
use domain::tokens::TokenKeys;
use domain::StoreError;
use futures_util::stream::{self, StreamExt};
use serde_json::{json, Value};
use std::fmt;
use uuid::Uuid;

pub use domain::realtime::{PUSHES_IN_FLIGHT, SHARD_SIZE};

/// How many shard messages the fan-out of a large room queues at once (one `SendMessageBatch`).
const SHARDS_PER_SEND: usize = 10;

/// What the realtime function needs of a store.
pub trait Store: Accounts + Connections + Invitations + RateLimiter + Clone {}
impl<S: Accounts + Connections + Invitations + RateLimiter + Clone> Store for S {}

pub struct Realtime<S = Table, P = ManagementApi, Q = SqsQueue> {
    auth: Authenticator<S>,
    store: S,
    push: P,
    queue: Q,
    limits: Limits,
}

impl Realtime {
    /// `TABLE_NAME`, `JWT_SECRET`, `WEBSOCKET_MANAGEMENT_URL` (the stage's
    /// `https://{api}.execute-api.{region}.amazonaws.com/{stage}`; locally
    /// `AWS_ENDPOINT_URL_APIGATEWAYMANAGEMENTAPI` overrides it), `FANOUT_QUEUE_URL` and the
    /// `REALTIME_*` limits.
    pub fn from_env(env: &impl Env) -> Result<Self, ConfigError> {
        let aws = AwsConfig::from_env(env)?;
        let auth = AuthConfig::from_env(env)?;
        let limits = Limits::from_env(env)?;
        let table = Table::new(aws.dynamodb(), env.required("TABLE_NAME")?);
        let push = ManagementApi::new(&aws, env.required("WEBSOCKET_MANAGEMENT_URL")?);
        let fan_out = env.required("FANOUT_QUEUE_URL")?;
        let queue = SqsQueue::new(&aws, fan_out.clone()).with_fan_out(fan_out);
        Ok(Self::new(TokenKeys::new(&auth), table, push, queue).with_limits(limits))
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

/// A backing service failed: the table or the fan-out queue.
#[derive(Debug)]
pub enum Failed {
    Store(StoreError),
    Queue(QueueError),
}

impl fmt::Display for Failed {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Store(err) => err.fmt(f),
            Self::Queue(err) => err.fmt(f),
        }
    }
}

impl From<StoreError> for Failed {
    fn from(err: StoreError) -> Self {
        Self::Store(err)
    }
}

impl From<QueueError> for Failed {
    fn from(err: QueueError) -> Self {
        Self::Queue(err)
    }
}

/// Why a frame could not be handled: the sender gets `detail` as an `error` frame.
struct Refused {
    status: u16,
    detail: String,
}

impl From<Failed> for Refused {
    fn from(err: Failed) -> Self {
        tracing::error!(error = %err, "backing service failed");
        Self {
            status: 503,
            detail: "Service temporarily unavailable, try again".into(),
        }
    }
}

impl From<StoreError> for Refused {
    fn from(err: StoreError) -> Self {
        Failed::from(err).into()
    }
}

impl From<QueueError> for Refused {
    fn from(err: QueueError) -> Self {
        Failed::from(err).into()
    }
}

fn refused(detail: impl Into<String>) -> Refused {
    Refused {
        status: 200,
        detail: detail.into(),
    }
}

impl<S: Store, P: Push, Q: FanOutQueue> Realtime<S, P, Q> {
    pub fn new(keys: TokenKeys, store: S, push: P, queue: Q) -> Self {
        Self {
            auth: Authenticator::new(keys, store.clone()),
            store,
            push,
            queue,
            limits: Limits::default(),
        }
    }

    pub fn with_limits(self, limits: Limits) -> Self {
        Self { limits, ..self }
    }

    /// One invocation: a WebSocket route's event, or a batch of one of the queues.
    pub async fn handle(&self, event: Value) -> Result<Value, lambda_runtime::Error> {
        telemetry::metrics::invocation_started();
        if event.get("Records").is_some() {
            let batch: SqsEvent = serde_json::from_value(event)?;
            return Ok(serde_json::to_value(self.queued(batch).await)?);
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
    async fn open(&self, connection: &Connection) -> Result<Opened, Failed> {
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
        Ok(self.store.open(connection, cap).await?)
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

    /// Forgets a connection with its memberships; the rooms it was in are told.
    async fn close_record(&self, id: &ConnectionId) -> Result<(), Failed> {
        let Some((connection, rooms)) = self.store.close(id).await? else {
            return Ok(());
        };
        let left = rooms.into_iter().map(|room| (room, connection.user_id)).collect();
        self.tell_left(left).await
    }

    /// Queues `user_leave` to each room, of those below the presence size, that a user left.
    async fn tell_left(&self, left: Vec<(RoomName, Uuid)>) -> Result<(), Failed> {
        let mut work = Vec::new();
        for (room, user_id) in left {
            if self.shows_presence(&room).await? {
                work.push(FanOut::room(&room, &ServerFrame::user_leave(&room, user_id)));
            }
        }
        if !work.is_empty() {
            self.queue.fan_out(&work, 0).await?;
        }
        Ok(())
    }

    /// Whether the room is small enough for its members to hear of every join and leave.
    async fn shows_presence(&self, room: &RoomName) -> Result<bool, StoreError> {
        Ok(self.store.room_size(room).await? < self.limits.presence_members)
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
                let frame = ServerFrame::private(connection.user_id, message);
                self.queue.fan_out(&[FanOut::user(to, &frame)], 0).await?;
            }
            Action::Invite(room, user_id) => self.invite(&connection, room, user_id).await?,
            Action::Who(room) => self.who(&connection, room).await?,
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
        let (messages, small) = futures_util::try_join!(self.store.history(&room), self.shows_presence(&room))?;
        for page in ServerFrame::history(&room, messages) {
            self.reply(&connection.id, &page).await;
        }
        if small {
            let joined = ServerFrame::user_join(&room, connection.user_id);
            self.queue
                .fan_out(&[FanOut::room_except(&room, &joined, &connection.id)], 0)
                .await?;
        }
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
        let told = FanOut::user(user_id, &ServerFrame::invitation(&invitation));
        self.queue.fan_out(&[told], 0).await?;
        Ok(())
    }

    async fn leave(&self, connection: &Connection, room: RoomName) -> Result<(), Refused> {
        if !self.store.leave(&room, &connection.id).await? {
            return Err(refused(format!("Not in room {room}")));
        }
        let left = ServerFrame::user_leave(&room, connection.user_id);
        self.reply(&connection.id, &left).await;
        if self.shows_presence(&room).await? {
            self.queue.fan_out(&[FanOut::room(&room, &left)], 0).await?;
        }
        Ok(())
    }

    /// One `GetItem` for the sender's membership, one `PutItem` for history, one message to
    /// the fan-out queue: the same work in a room of 2 or of 100,000.
    async fn send(&self, connection: &Connection, room: RoomName, text: MessageText) -> Result<(), Refused> {
        if !self.store.is_member(&room, &connection.id).await? {
            return Err(refused(format!("Join room {room} before sending to it")));
        }
        let message = ChatMessage::new(&room, connection.user_id, text);
        self.store.remember(&message).await?;
        self.queue
            .fan_out(&[FanOut::room(&room, &ServerFrame::Message(message))], 0)
            .await?;
        Ok(())
    }

    /// A room's count of connections, to a member of it.
    async fn who(&self, connection: &Connection, room: RoomName) -> Result<(), Refused> {
        if !self.store.is_member(&room, &connection.id).await? {
            return Err(refused(format!("Join room {room} before asking who is in it")));
        }
        let count = self.store.room_size(&room).await?;
        self.reply(&connection.id, &ServerFrame::presence(&room, count)).await;
        Ok(())
    }

    /// A frame to the sender alone; a sender found gone is forgotten.
    async fn reply(&self, to: &ConnectionId, frame: &ServerFrame) {
        match self.push.send(to, &frame.to_text()).await {
            Ok(()) => {}
            Err(PushError::Gone) => {
                if let Err(err) = self.close_record(to).await {
                    tracing::warn!(connection_id = %to, error = %err, "cannot forget a gone connection");
                }
            }
            Err(PushError::Unavailable(err)) => tracing::warn!(connection_id = %to, error = %err, "push failed"),
        }
    }

    /// A batch of the notifications or the fan-out queue (a body says which). A record fails
    /// alone (partial batch failure) when a backing service cannot be reached.
    pub async fn queued(&self, batch: SqsEvent) -> SqsBatchResponse {
        let mut failures = Failures::default();
        for record in &batch.records {
            let started = std::time::Instant::now();
            let outcome = match Queued::parse(record.body.as_deref().unwrap_or_default()) {
                Ok(Queued::Notification(notification)) => self.notify(notification).await.map_err(|e| e.to_string()),
                Ok(Queued::FanOut(work)) => self.fan_out(work).await.map_err(|e| e.to_string()),
                Err(err) => Err(err),
            };
            if let Some(delivered) = failures.check(record, outcome) {
                tracing::info!(
                    message_id = record.message_id,
                    delivered,
                    latency_ms = started.elapsed().as_secs_f64() * 1000.0,
                    "delivered"
                );
            }
        }
        failures.response()
    }

    /// Returns to how many connections the notification went: those of its audience (every
    /// connection of the user, or one session's, or all but one session's).
    async fn notify(&self, notification: Notification) -> Result<usize, Failed> {
        let targets = self
            .store
            .of_audience(notification.user_id, &notification.audience)
            .await?;
        let frame = ServerFrame::Notification {
            event: notification.event,
            data: notification.data,
            timestamp: notification.timestamp,
        };
        let delivered = self.push_shard(targets.clone(), &frame.to_text(), 0).await?;
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
        Ok(delivered)
    }

    /// Delivers fan-out work; returns how many pushes this invocation made or queued.
    pub async fn fan_out(&self, work: FanOut) -> Result<usize, Failed> {
        match work {
            FanOut::User { user_id, text } => {
                let targets = self.store.of_user(user_id).await?;
                self.push_shard(targets, &text, 0).await
            }
            FanOut::Shard { targets, text, attempt } => self.push_shard(targets, &text, attempt).await,
            FanOut::Room { room, text, except } => {
                let room = RoomName::parse(&room).map_err(StoreError::Corrupt)?;
                self.fan_out_room(&room, text, except).await
            }
        }
    }

    /// A room of one page is pushed here; a larger one becomes a shard message per page, queued
    /// [`SHARDS_PER_SEND`] at a time, so that each consumer pushes at most [`SHARD_SIZE`].
    async fn fan_out_room(&self, room: &RoomName, text: String, except: Option<ConnectionId>) -> Result<usize, Failed> {
        let mut after: Option<String> = None;
        let mut shards = Vec::new();
        let mut queued = 0;
        loop {
            let page = self.store.members_page(room, after.as_deref(), SHARD_SIZE).await?;
            let targets: Vec<ConnectionId> = page
                .members
                .into_iter()
                .map(|m| m.connection)
                .filter(|c| except.as_ref() != Some(c))
                .collect();
            if after.is_none() && page.next.is_none() {
                return self.push_shard(targets, &text, 0).await;
            }
            if !targets.is_empty() {
                queued += targets.len();
                shards.push(FanOut::Shard {
                    targets,
                    text: text.clone(),
                    attempt: 0,
                });
            }
            if shards.len() >= SHARDS_PER_SEND || (page.next.is_none() && !shards.is_empty()) {
                self.queue.fan_out(&std::mem::take(&mut shards), 0).await?;
            }
            match page.next {
                Some(next) => after = Some(next),
                None => return Ok(queued),
            }
        }
    }

    /// Pushes one frame to the targets, [`PUSHES_IN_FLIGHT`] at a time. Connections found gone
    /// are forgotten in one batch, and the small rooms they were in told; the ones a push could
    /// not reach (throttled, a fault) go back to the queue alone, after a back-off, so a retry
    /// never repeats a frame to a connection that has it. Returns how many were reached.
    async fn push_shard(&self, targets: Vec<ConnectionId>, text: &str, attempt: u32) -> Result<usize, Failed> {
        let outcomes: Vec<(ConnectionId, Result<(), PushError>)> = stream::iter(targets)
            .map(|to| async move {
                let outcome = self.push.send(&to, text).await;
                (to, outcome)
            })
            .buffer_unordered(PUSHES_IN_FLIGHT)
            .collect()
            .await;
        let (mut reached, mut gone, mut unreached) = (0, Vec::new(), Vec::new());
        for (to, outcome) in outcomes {
            match outcome {
                Ok(()) => reached += 1,
                Err(PushError::Gone) => gone.push(to),
                Err(PushError::Unavailable(err)) => {
                    tracing::warn!(connection_id = %to, error = %err, "push failed");
                    unreached.push(to);
                }
            }
        }
        if !gone.is_empty() {
            tracing::info!(gone = gone.len(), "connections gone: forgotten");
            // Best effort: what is not forgotten now expires with its record.
            let forgotten = match self.store.forget_gone(&gone).await {
                Ok(left) => self.tell_left(left).await,
                Err(err) => Err(err.into()),
            };
            if let Err(err) = forgotten {
                tracing::warn!(error = %err, "cannot forget gone connections");
            }
        }
        if !unreached.is_empty() {
            let attempt = attempt + 1;
            if attempt < MAX_SHARD_ATTEMPTS {
                let again = FanOut::Shard {
                    targets: unreached,
                    text: text.to_owned(),
                    attempt,
                };
                self.queue.fan_out(&[again], 1 << (attempt - 1)).await?;
            } else {
                tracing::warn!(dropped = unreached.len(), attempt, "fan-out gave up on connections");
            }
        }
        Ok(reached)
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

    type Tested = Realtime<Memory, Memory, Memory>;

    fn realtime(memory: &Memory) -> Tested {
        Realtime::new(
            testing::context(memory).keys,
            memory.clone(),
            memory.clone(),
            memory.clone(),
        )
    }

    /// Handles the event, then every fan-out it queued (and what those queued), as the fan-out
    /// consumer would; the status of the event.
    async fn status(realtime: &Tested, event: Value) -> u64 {
        let status = realtime.handle(event).await.unwrap()["statusCode"].as_u64().unwrap();
        deliver(realtime).await;
        status
    }

    async fn deliver(realtime: &Tested) {
        loop {
            let work = realtime.queue.take_fan_outs();
            if work.is_empty() {
                return;
            }
            for (work, _) in work {
                realtime.fan_out(work).await.unwrap();
            }
        }
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

    async fn connected(memory: &Memory, realtime: &Tested, email: &str, ids: &[&str]) -> Uuid {
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

    /// `n` connections of one user in `room`, stored directly.
    async fn crowd(memory: &Memory, room: &RoomName, n: usize) -> Vec<ConnectionId> {
        let user = Uuid::new_v4();
        let mut ids = Vec::new();
        for i in 0..n {
            let connection = Connection::open(ConnectionId::parse(&format!("m{i:05}")).unwrap(), user, Uuid::new_v4());
            memory.open(&connection, u64::MAX).await.unwrap();
            assert_eq!(memory.join(room, &connection, u64::MAX).await.unwrap(), Joined::Joined);
            ids.push(connection.id);
        }
        ids
    }

    #[tokio::test]
    async fn a_send_queues_one_delivery_and_a_large_room_is_pushed_in_shards_once_each() {
        let memory = Memory::default();
        let realtime = realtime(&memory).with_limits(limits(|l| l.room_members = 10_000));
        let room = RoomName::parse("general").unwrap();
        let crowd = crowd(&memory, &room, 2 * SHARD_SIZE + 500).await;
        connected(&memory, &realtime, "a@example.com", &["a"]).await;
        status(&realtime, event("join.json", "", on("a"))).await;
        memory.take_fan_outs();
        let pushed_before = memory.pushed().len();
        assert_eq!(
            realtime.handle(event("send.json", "", on("a"))).await.unwrap()["statusCode"],
            200
        );
        assert_eq!(memory.pushed().len(), pushed_before, "the send itself pushes nothing");
        let queued = memory.take_fan_outs();
        assert!(matches!(queued.as_slice(), [(FanOut::Room { .. }, 0)]), "{queued:?}");
        // The room's fan-out: three shards of at most SHARD_SIZE, none pushed yet.
        realtime.fan_out(queued[0].0.clone()).await.unwrap();
        let shards = memory.take_fan_outs();
        let sizes: Vec<usize> = shards
            .iter()
            .map(|(work, _)| match work {
                FanOut::Shard { targets, .. } => targets.len(),
                other => panic!("{other:?}"),
            })
            .collect();
        assert_eq!(sizes, [SHARD_SIZE, SHARD_SIZE, 501]);
        assert_eq!(memory.pushed().len(), pushed_before);
        for (shard, _) in shards {
            realtime.fan_out(shard).await.unwrap();
        }
        for member in crowd.iter().map(ConnectionId::as_str).chain(["a"]) {
            let messages: Vec<_> = frames(&memory, member)
                .into_iter()
                .filter(|f| f["type"] == "message")
                .collect();
            assert_eq!(messages.len(), 1, "{member}");
        }
    }

    #[tokio::test]
    async fn a_shard_that_fails_part_way_is_retried_for_the_unreached_alone() {
        let memory = Memory::default();
        let realtime = realtime(&memory);
        let room = RoomName::parse("general").unwrap();
        let crowd = crowd(&memory, &room, 300).await;
        let (flaky, stubborn) = (&crowd[7], &crowd[200]);
        memory.unreachable(flaky, 1);
        memory.unreachable(stubborn, MAX_SHARD_ATTEMPTS);
        let text = ServerFrame::pong().to_text();
        let reached = realtime
            .fan_out(FanOut::Room {
                room: "general".into(),
                text: text.clone(),
                except: None,
            })
            .await
            .unwrap();
        assert_eq!(reached, 298);
        let mut delays = Vec::new();
        loop {
            let again = memory.take_fan_outs();
            let Some((work, delay)) = again.into_iter().next() else {
                break;
            };
            delays.push(delay);
            let FanOut::Shard { targets, attempt, .. } = &work else {
                panic!("{work:?}")
            };
            assert_eq!(*attempt as usize, delays.len());
            assert!(targets.len() <= 2 && targets.contains(stubborn), "{targets:?}");
            realtime.fan_out(work).await.unwrap();
        }
        assert_eq!(delays, [1, 2, 4, 8], "backed off, then given up");
        let count = |c: &ConnectionId| memory.pushed().iter().filter(|(to, _)| to == c).count();
        assert_eq!(count(flaky), 1, "reached on the retry");
        assert_eq!(count(stubborn), 0, "given up after {MAX_SHARD_ATTEMPTS} attempts");
        assert!(
            crowd.iter().filter(|c| *c != stubborn).all(|c| count(c) == 1),
            "no duplicate"
        );
    }

    #[tokio::test]
    async fn a_room_at_the_presence_size_stops_telling_joins_and_answers_who() {
        let memory = Memory::default();
        let realtime = realtime(&memory).with_limits(limits(|l| l.presence_members = 3));
        connected(&memory, &realtime, "a@example.com", &["a"]).await;
        connected(&memory, &realtime, "b@example.com", &["b"]).await;
        connected(&memory, &realtime, "c@example.com", &["c"]).await;
        connected(&memory, &realtime, "d@example.com", &["d"]).await;
        for member in ["a", "b", "c", "d"] {
            status(&realtime, event("join.json", "", on(member))).await;
        }
        let seen = |member| -> Vec<String> {
            frames(&memory, member)
                .iter()
                .filter(|f| f["type"] == "user_join")
                .map(|f| f["user_id"].as_str().unwrap().to_owned())
                .collect()
        };
        assert_eq!(seen("a").len(), 1, "b's join (2 members); c's made 3: {:?}", seen("a"));
        assert!(seen("d").is_empty());
        let who = json!({"action": "who", "room": "general"});
        status(&realtime, event("default.json", "", with_body("d", who.clone()))).await;
        assert_eq!(
            frames(&memory, "d").pop().unwrap(),
            json!({"type": "presence", "room": "general", "count": 4})
        );
        connected(&memory, &realtime, "e@example.com", &["e"]).await;
        status(&realtime, event("default.json", "", with_body("e", who))).await;
        assert!(frames(&memory, "e").pop().unwrap()["detail"]
            .as_str()
            .unwrap()
            .starts_with("Join room general"));
        status(&realtime, event("leave.json", "", on("d"))).await;
        assert_eq!(
            frames(&memory, "d").pop().unwrap()["type"],
            "user_leave",
            "the leaver is told"
        );
        assert!(
            !frames(&memory, "a").iter().any(|f| f["type"] == "user_leave"),
            "a room of 4 is not told"
        );
        status(&realtime, event("leave.json", "", on("c"))).await;
        assert_eq!(
            frames(&memory, "a").pop().unwrap()["type"],
            "user_leave",
            "a room of 2 is"
        );
    }

    #[tokio::test]
    async fn the_fan_out_fixture_delivers_each_kind_and_fails_its_bad_record_alone() {
        let memory = Memory::default();
        let realtime = realtime(&memory);
        let user = Uuid::parse_str("3f1e2d4c-5b6a-4788-9910-aabbccddeeff").unwrap();
        let room = RoomName::parse("general").unwrap();
        for id in ["EvtConn0001=", "EvtConn0002="] {
            let connection = Connection::open(ConnectionId::parse(id).unwrap(), user, Uuid::new_v4());
            memory.open(&connection, 10).await.unwrap();
            memory.join(&room, &connection, 10).await.unwrap();
        }
        let answer = realtime.handle(event("fan-out.json", "", |_| {})).await.unwrap();
        assert_eq!(
            answer["batchItemFailures"],
            json!([{"itemIdentifier": "6e1f6b5f-3333-4c59-9d0c-000000000004"}])
        );
        for id in ["EvtConn0001=", "EvtConn0002="] {
            let kinds: Vec<_> = frames(&memory, id).iter().map(|f| f["type"].clone()).collect();
            assert_eq!(kinds, ["message", "user_leave", "private"], "{id}");
        }
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
