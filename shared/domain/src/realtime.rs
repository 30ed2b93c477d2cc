//! Realtime: WebSocket connections, chat rooms with history, private messages and server
//! notifications — the frames of the contract's "Realtime" section, parsed once, and the limits.

use super::clock::{now_micros, now_secs, timestamp};
use super::config::{ConfigError, Env};
use super::session::Limit;
use serde::{Deserialize, Serialize};
use serde_json::Value;
use std::fmt;
use std::time::Duration;
use uuid::Uuid;

/// Frames are JSON text of at most 32 KiB.
pub const MAX_FRAME_BYTES: usize = 32 * 1024;
/// How many messages of a room a joiner gets as history.
pub const HISTORY_LEN: usize = 50;
/// The largest frame API Gateway delivers to a WebSocket client (128 KB), less a margin.
pub const MAX_PUSH_BYTES: usize = 127 * 1024;
/// API Gateway closes a WebSocket connection after two hours; its records expire with it.
pub const CONNECTION_TTL: Duration = Duration::from_secs(2 * 3600);
/// How long a connection is spared the check that it is still there (when its user is at the
/// cap): a handshake takes up to the function's 10 s timeout, and until it has finished the
/// Management API does not know the connection and would call it gone.
pub const HANDSHAKE_GRACE: Duration = Duration::from_secs(30);
/// How long a room's messages are kept for history.
pub const HISTORY_TTL: Duration = Duration::from_secs(7 * 24 * 3600);
/// How many rooms one connection may be in at once (its record lists them).
pub const MAX_ROOMS_PER_CONNECTION: usize = 50;
/// How long an invitation to a `private-` room lets its invitee join it.
pub const INVITATION_TTL: Duration = Duration::from_secs(7 * 24 * 3600);
/// The prefix of rooms that take members by invitation only.
pub const PRIVATE_ROOM_PREFIX: &str = "private-";
/// The most connections one fan-out shard (one message of the fan-out queue) reaches.
pub const SHARD_SIZE: usize = 1000;
/// The pushes one fan-out consumer keeps in flight.
pub const PUSHES_IN_FLIGHT: usize = 100;
/// How many times a shard's unreached connections are tried (1 s, 2 s, 4 s, 8 s apart) before
/// they are given up.
pub const MAX_SHARD_ATTEMPTS: u32 = 5;

/// The abuse limits, all per user (or per source address) rather than per connection, so that
/// opening more sockets buys nothing. Each is a template parameter; see `from_env`.
#[derive(Debug, Clone, Copy)]
pub struct Limits {
    /// Open connections one user may hold: the next handshake is refused (429).
    pub connections_per_user: u64,
    /// Connections one room may hold: the next `join` gets an `error` frame.
    pub room_members: u64,
    /// `$connect` attempts of one user (a valid token), counted before they are checked.
    pub connects_per_user: Limit,
    /// `$connect` attempts from one source address, valid token or not.
    pub connects_per_address: Limit,
    /// Frames one user may send, all of their connections together.
    pub frames_per_user: Limit,
    /// Rooms below this many connections tell their members of every `user_join` and
    /// `user_leave`; larger rooms answer `who` only, so filling a room is not O(N²) pushes.
    pub presence_members: u64,
}

impl Default for Limits {
    fn default() -> Self {
        Self {
            connections_per_user: 10,
            room_members: 1000,
            connects_per_user: Self::connects("ws-connect-user", 20),
            connects_per_address: Self::connects("ws-connect-address", 300),
            frames_per_user: Self::frames(30),
            presence_members: 100,
        }
    }
}

impl Limits {
    fn connects(scope: &'static str, max: u64) -> Limit {
        Limit {
            scope,
            max,
            window: Duration::from_secs(60),
        }
    }

    fn frames(max: u64) -> Limit {
        Limit {
            scope: "ws-frames",
            max,
            window: Duration::from_secs(10),
        }
    }

    /// `REALTIME_CONNECTIONS_PER_USER`, `REALTIME_ROOM_MEMBERS`, `REALTIME_CONNECTS_PER_USER` and
    /// `REALTIME_CONNECTS_PER_ADDRESS` (a minute each), `REALTIME_FRAMES_PER_USER` (10 seconds),
    /// `REALTIME_PRESENCE_MEMBERS`; each a positive whole number, the default when unset.
    pub fn from_env(env: &impl Env) -> Result<Self, ConfigError> {
        let number = |name: &'static str, default: u64| env.positive(name, default);
        let default = Self::default();
        Ok(Self {
            connections_per_user: number("REALTIME_CONNECTIONS_PER_USER", default.connections_per_user)?,
            room_members: number("REALTIME_ROOM_MEMBERS", default.room_members)?,
            connects_per_user: Self::connects(
                default.connects_per_user.scope,
                number("REALTIME_CONNECTS_PER_USER", default.connects_per_user.max)?,
            ),
            connects_per_address: Self::connects(
                default.connects_per_address.scope,
                number("REALTIME_CONNECTS_PER_ADDRESS", default.connects_per_address.max)?,
            ),
            frames_per_user: Self::frames(number("REALTIME_FRAMES_PER_USER", default.frames_per_user.max)?),
            presence_members: number("REALTIME_PRESENCE_MEMBERS", default.presence_members)?,
        })
    }
}

/// A connection id as API Gateway assigns it (`L0SM9cOFvHcCIhw=`): short printable ASCII.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(transparent)]
pub struct ConnectionId(String);

impl ConnectionId {
    pub const MAX_LEN: usize = 128;

    pub fn parse(raw: &str) -> Result<Self, String> {
        if raw.is_empty() || raw.len() > Self::MAX_LEN || !raw.bytes().all(|b| b.is_ascii_graphic()) {
            return Err(format!("{raw:?} is not a connection id"));
        }
        Ok(Self(raw.to_owned()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for ConnectionId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// A room name: `[A-Za-z0-9_-]{1,64}`.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
#[serde(transparent)]
pub struct RoomName(String);

impl RoomName {
    pub const MAX_LEN: usize = 64;

    pub fn parse(raw: &str) -> Result<Self, String> {
        let valid = !raw.is_empty()
            && raw.len() <= Self::MAX_LEN
            && raw.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-');
        if valid {
            Ok(Self(raw.to_owned()))
        } else {
            Err("room must be 1-64 characters of A-Z, a-z, 0-9, _ and -".into())
        }
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl RoomName {
    /// A `private-` room: its members come by invitation.
    pub fn is_private(&self) -> bool {
        self.0.starts_with(PRIVATE_ROOM_PREFIX)
    }

    /// Whether `user` may join without an invitation: any room but a `private-` one, and the
    /// `private-` rooms named after the user (`private-<their id>` or `private-<their id>-…`),
    /// which is how a private room gets its first member. The answer depends on the name and the
    /// user alone, never on whether the room exists, so a refusal tells nothing about it.
    pub fn open_to(&self, user: Uuid) -> bool {
        let Some(rest) = self.0.strip_prefix(PRIVATE_ROOM_PREFIX) else {
            return true;
        };
        let owner = user.to_string();
        rest.strip_prefix(owner.as_str())
            .is_some_and(|tail| tail.is_empty() || tail.starts_with('-'))
    }
}

impl fmt::Display for RoomName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// The text of a chat or private message: 1–4000 characters.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(transparent)]
pub struct MessageText(String);

impl MessageText {
    pub const MAX_LEN: usize = 4000;

    pub fn parse(raw: &str) -> Result<Self, String> {
        match raw.chars().count() {
            0 => Err("message must not be empty".into()),
            n if n > Self::MAX_LEN => Err(format!("message must be at most {} characters", Self::MAX_LEN)),
            _ => Ok(Self(raw.to_owned())),
        }
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// One open WebSocket connection of an authenticated user.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Connection {
    pub id: ConnectionId,
    pub user_id: Uuid,
    /// The login whose access token opened it: ending that session closes it. `None` for a
    /// connection recorded before connections kept their session.
    pub session: Option<Uuid>,
    /// RFC 3339, µs.
    pub connected_at: String,
    /// Epoch seconds after which the record is stale (API Gateway's two-hour limit).
    pub expires_at: u64,
}

/// Whether a connection that expires at `expires_at` has finished its handshake for certain, and
/// may be checked for being gone.
pub fn past_handshake(expires_at: u64) -> bool {
    expires_at + HANDSHAKE_GRACE.as_secs() <= now_secs() + CONNECTION_TTL.as_secs()
}

impl Connection {
    pub fn open(id: ConnectionId, user_id: Uuid, session: Uuid) -> Self {
        Self {
            id,
            user_id,
            session: Some(session),
            connected_at: timestamp(now_micros()),
            expires_at: now_secs() + CONNECTION_TTL.as_secs(),
        }
    }
}

/// Which of a user's connections a notification is for.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Audience {
    /// Every connection of the user.
    #[default]
    User,
    /// The connections opened with one session's tokens.
    Session(Uuid),
    /// Every connection of the user but those of one session (the caller's own, when they end
    /// their other sessions). A connection whose session is unknown counts as another's.
    OtherSessions(Uuid),
}

impl Audience {
    pub fn is_user(&self) -> bool {
        *self == Self::User
    }

    /// Whether a connection opened with `session` is in the audience.
    pub fn reaches(&self, session: Option<Uuid>) -> bool {
        match self {
            Self::User => true,
            Self::Session(id) => session == Some(*id),
            Self::OtherSessions(keep) => session != Some(*keep),
        }
    }
}

/// What asking to join a room led to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Joined {
    Joined,
    /// The connection closed or expired meanwhile.
    ConnectionGone,
    /// The connection is in `MAX_ROOMS_PER_CONNECTION` rooms already.
    TooManyRooms,
    /// The room holds its limit of connections (`Limits::room_members`).
    RoomFull,
}

/// What asking to keep a new connection led to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Opened {
    Opened,
    /// The user holds `Limits::connections_per_user` connections already: these, less those
    /// still within `HANDSHAKE_GRACE`. Some may be gone without a `$disconnect`; the caller may
    /// check them and try again.
    Full(Vec<ConnectionId>),
}

/// Leave for a user to join a `private-` room, given by one of its members.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Invitation {
    pub room: RoomName,
    pub user_id: Uuid,
    pub invited_by: Uuid,
    /// Epoch seconds after which it no longer admits.
    pub expires_at: u64,
}

impl Invitation {
    pub fn new(room: RoomName, user_id: Uuid, invited_by: Uuid) -> Self {
        Self {
            room,
            user_id,
            invited_by,
            expires_at: now_secs() + INVITATION_TTL.as_secs(),
        }
    }
}

/// A connection in a room, and whose it is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Member {
    pub connection: ConnectionId,
    pub user_id: Uuid,
}

/// One page of a room's members, and where the next one starts (`None`: the last page).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct MembersPage {
    pub members: Vec<Member>,
    pub next: Option<String>,
}

/// A message sent to a room, as everyone in it receives it and as history keeps it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ChatMessage {
    pub id: Uuid,
    pub room: String,
    pub user_id: Uuid,
    pub message: MessageText,
    pub timestamp: String,
}

impl ChatMessage {
    pub fn new(room: &RoomName, user_id: Uuid, message: MessageText) -> Self {
        Self {
            id: Uuid::new_v4(),
            room: room.as_str().to_owned(),
            user_id,
            message,
            timestamp: timestamp(now_micros()),
        }
    }
}

/// What a client asks for, parsed from one frame.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Action {
    Ping,
    Join(RoomName),
    Leave(RoomName),
    Send(RoomName, MessageText),
    Private(Uuid, MessageText),
    /// Lets a user join a `private-` room the sender is in.
    Invite(RoomName, Uuid),
    /// How many connections a room the sender is in holds.
    Who(RoomName),
}

impl Action {
    /// Parses a client frame; the error is the `detail` of the `error` frame it gets back.
    pub fn parse(frame: &str) -> Result<Self, String> {
        if frame.len() > MAX_FRAME_BYTES {
            return Err(format!("frame is larger than {MAX_FRAME_BYTES} bytes"));
        }
        let json: Value = serde_json::from_str(frame).map_err(|_| "frame is not JSON".to_owned())?;
        let object = json.as_object().ok_or("frame is not a JSON object")?;
        let text = |name: &str| -> Result<&str, String> {
            match object.get(name) {
                Some(Value::String(s)) => Ok(s.as_str()),
                Some(_) => Err(format!("{name} must be a string")),
                None => Err(format!("{name} is required")),
            }
        };
        let room = || text("room").and_then(RoomName::parse);
        let user = |name: &str| {
            text(name).and_then(|raw| Uuid::parse_str(raw).map_err(|_| format!("{name} must be a user id")))
        };
        let message = || text("message").and_then(MessageText::parse);
        match text("action")? {
            "ping" => Ok(Self::Ping),
            "join" => Ok(Self::Join(room()?)),
            "leave" => Ok(Self::Leave(room()?)),
            "send" => Ok(Self::Send(room()?, message()?)),
            "private" => Ok(Self::Private(user("to")?, message()?)),
            "invite" => Ok(Self::Invite(room()?, user("user_id")?)),
            "who" => Ok(Self::Who(room()?)),
            other => Err(format!(
                "unknown action {:?}",
                other.chars().take(64).collect::<String>()
            )),
        }
    }
}

/// A server event a user's connections receive as a `notification` frame.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum Event {
    /// An uploaded file was processed and can be used.
    #[serde(rename = "file.ready")]
    FileReady,
    /// An uploaded file was refused by its processing.
    #[serde(rename = "file.rejected")]
    FileRejected,
    /// Sessions of the user ended (a logout, a revoked session, a password changed or reset,
    /// two-factor turned on or off, deactivated, deleted): their connections are closed after
    /// this frame.
    #[serde(rename = "session.revoked")]
    SessionRevoked,
}

/// A notification on its way to a user, as the notifications queue carries it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Notification {
    pub version: u32,
    pub user_id: Uuid,
    /// Which of the user's connections get it; absent (every one) in a version-1 body that
    /// predates sessions.
    #[serde(default, skip_serializing_if = "Audience::is_user")]
    pub audience: Audience,
    pub event: Event,
    pub data: Value,
    pub timestamp: String,
}

impl Notification {
    pub const VERSION: u32 = 1;

    pub fn new(user_id: Uuid, event: Event, data: Value) -> Self {
        Self::to(user_id, Audience::User, event, data)
    }

    /// A notification for some of the user's connections.
    pub fn to(user_id: Uuid, audience: Audience, event: Event, data: Value) -> Self {
        Self {
            version: Self::VERSION,
            user_id,
            audience,
            event,
            data,
            timestamp: timestamp(now_micros()),
        }
    }

    pub fn parse(body: &str) -> Result<Self, String> {
        let notification: Self = serde_json::from_str(body).map_err(|e| format!("not a notification: {e}"))?;
        if notification.version != Self::VERSION {
            return Err(format!("unsupported notification version {}", notification.version));
        }
        Ok(notification)
    }

    pub fn to_body(&self) -> String {
        serde_json::to_string(self).unwrap_or_default()
    }
}

/// Delivery work, as the fan-out queue carries it: a frame and whom it goes to. A room's or a
/// user's audience is read by the consumer, off the request path; a room larger than one shard
/// becomes a shard message per [`SHARD_SIZE`] connections.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "fan_out", rename_all = "snake_case")]
pub enum FanOut {
    /// To every connection in the room but `except`.
    Room {
        room: String,
        text: String,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        except: Option<ConnectionId>,
    },
    /// To every connection of the user.
    User { user_id: Uuid, text: String },
    /// To these connections: one shard of a room, or the part of one a push did not reach
    /// (`attempt` counts the tries so far).
    Shard {
        targets: Vec<ConnectionId>,
        text: String,
        #[serde(default)]
        attempt: u32,
    },
}

impl FanOut {
    pub fn room(room: &RoomName, frame: &ServerFrame) -> Self {
        Self::Room {
            room: room.as_str().to_owned(),
            text: frame.to_text(),
            except: None,
        }
    }

    /// To the room's connections but one (a joiner is not told of itself).
    pub fn room_except(room: &RoomName, frame: &ServerFrame, except: &ConnectionId) -> Self {
        Self::Room {
            room: room.as_str().to_owned(),
            text: frame.to_text(),
            except: Some(except.clone()),
        }
    }

    pub fn user(user_id: Uuid, frame: &ServerFrame) -> Self {
        Self::User {
            user_id,
            text: frame.to_text(),
        }
    }

    pub fn to_body(&self) -> String {
        serde_json::to_string(self).unwrap_or_default()
    }
}

/// What a message of the realtime function's queues asks for.
#[derive(Debug, Clone, PartialEq)]
pub enum Queued {
    Notification(Notification),
    FanOut(FanOut),
}

impl Queued {
    /// A fan-out body names its kind in `fan_out`; any other body is a notification.
    pub fn parse(body: &str) -> Result<Self, String> {
        if body.contains("\"fan_out\"") {
            if let Ok(work) = serde_json::from_str(body) {
                return Ok(Self::FanOut(work));
            }
        }
        Notification::parse(body).map(Self::Notification)
    }
}

/// Every frame the server sends, as the contract spells it.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum ServerFrame {
    Pong {
        timestamp: String,
    },
    History {
        room: String,
        messages: Vec<ChatMessage>,
    },
    UserJoin {
        room: String,
        user_id: Uuid,
        timestamp: String,
    },
    UserLeave {
        room: String,
        user_id: Uuid,
        timestamp: String,
    },
    Message(ChatMessage),
    Private {
        /// Lets a client drop a frame it got twice (a retried delivery).
        id: Uuid,
        from_user: Uuid,
        message: MessageText,
        timestamp: String,
    },
    Notification {
        event: Event,
        data: Value,
        timestamp: String,
    },
    /// To the inviter: the invitation is kept (the same whoever the user is, online or not).
    Invited {
        room: String,
        user_id: Uuid,
    },
    /// To every connection of the invitee.
    Invitation {
        room: String,
        from_user: Uuid,
        timestamp: String,
    },
    /// A room's count of connections, on `who`.
    Presence {
        room: String,
        count: u64,
    },
    Error {
        detail: String,
    },
}

impl ServerFrame {
    pub fn pong() -> Self {
        Self::Pong {
            timestamp: timestamp(now_micros()),
        }
    }

    pub fn user_join(room: &RoomName, user_id: Uuid) -> Self {
        Self::UserJoin {
            room: room.as_str().to_owned(),
            user_id,
            timestamp: timestamp(now_micros()),
        }
    }

    pub fn user_leave(room: &RoomName, user_id: Uuid) -> Self {
        Self::UserLeave {
            room: room.as_str().to_owned(),
            user_id,
            timestamp: timestamp(now_micros()),
        }
    }

    pub fn private(from_user: Uuid, message: MessageText) -> Self {
        Self::Private {
            id: Uuid::new_v4(),
            from_user,
            message,
            timestamp: timestamp(now_micros()),
        }
    }

    pub fn invited(invitation: &Invitation) -> Self {
        Self::Invited {
            room: invitation.room.as_str().to_owned(),
            user_id: invitation.user_id,
        }
    }

    pub fn invitation(invitation: &Invitation) -> Self {
        Self::Invitation {
            room: invitation.room.as_str().to_owned(),
            from_user: invitation.invited_by,
            timestamp: timestamp(now_micros()),
        }
    }

    pub fn presence(room: &RoomName, count: u64) -> Self {
        Self::Presence {
            room: room.as_str().to_owned(),
            count,
        }
    }

    pub fn error(detail: impl Into<String>) -> Self {
        Self::Error { detail: detail.into() }
    }

    /// A room's history as `history` frames of at most [`MAX_PUSH_BYTES`] each, oldest
    /// messages first: 50 messages of 4,000 characters can be well over API Gateway's frame
    /// limit, and a frame over it is never delivered. Usually one frame.
    pub fn history(room: &RoomName, messages: Vec<ChatMessage>) -> Vec<Self> {
        let frame = |messages: Vec<ChatMessage>| Self::History {
            room: room.as_str().to_owned(),
            messages,
        };
        let empty = frame(Vec::new()).to_text().len();
        let mut pages = Vec::new();
        let (mut page, mut size) = (Vec::new(), empty);
        for message in messages {
            let bytes = serde_json::to_string(&message).map_or(0, |m| m.len()) + 1;
            if !page.is_empty() && size + bytes > MAX_PUSH_BYTES {
                pages.push(frame(std::mem::take(&mut page)));
                size = empty;
            }
            size += bytes;
            page.push(message);
        }
        if !page.is_empty() || pages.is_empty() {
            pages.push(frame(page));
        }
        pages
    }

    pub fn to_text(&self) -> String {
        serde_json::to_string(self).unwrap_or_default()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn a_long_history_comes_in_frames_under_the_limit_oldest_first() {
        let room = RoomName::parse("r").unwrap();
        let user = Uuid::new_v4();
        let messages: Vec<ChatMessage> = (0..HISTORY_LEN)
            .map(|n| {
                ChatMessage::new(
                    &room,
                    user,
                    MessageText::parse(&format!("{n:02}{}", "😀".repeat(3998))).unwrap(),
                )
            })
            .collect();
        let pages = ServerFrame::history(&room, messages.clone());
        assert!(pages.len() > 1, "{} frames", pages.len());
        let mut seen = Vec::new();
        for page in &pages {
            assert!(page.to_text().len() <= MAX_PUSH_BYTES, "{}", page.to_text().len());
            let ServerFrame::History { messages, .. } = page else {
                panic!("{page:?}")
            };
            seen.extend(messages.iter().cloned());
        }
        assert_eq!(seen, messages);
        let short = ServerFrame::history(&room, messages[..3].to_vec());
        assert_eq!(short.len(), 1);
        assert_eq!(
            ServerFrame::history(&room, Vec::new()).len(),
            1,
            "an empty room still answers"
        );
    }

    #[test]
    fn room_names_follow_the_contract() {
        assert!(RoomName::parse("general_1-a").is_ok());
        assert!(RoomName::parse(&"r".repeat(64)).is_ok());
        for bad in ["", "has space", "ümlaut", "a/b", &"r".repeat(65)] {
            assert!(RoomName::parse(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn private_rooms_are_open_to_their_owner_alone() {
        let owner = Uuid::new_v4();
        let room = |name: String| RoomName::parse(&name).unwrap();
        assert!(room("general".into()).open_to(owner));
        assert!(!room("general".into()).is_private());
        for own in [format!("private-{owner}"), format!("private-{owner}-team")] {
            assert!(room(own.clone()).is_private());
            assert!(room(own.clone()).open_to(owner), "{own}");
            assert!(!room(own.clone()).open_to(Uuid::new_v4()), "{own}");
        }
        for theirs in [
            "private-team".to_owned(),
            format!("private-{owner}x"),
            format!("private-{}", owner.to_string().to_uppercase()),
        ] {
            assert!(!room(theirs.clone()).open_to(owner), "{theirs}");
        }
    }

    #[test]
    fn limits_come_from_the_environment_with_defaults() {
        let defaults = Limits::from_env(&[("UNRELATED", "1")]).unwrap();
        assert_eq!(defaults.frames_per_user.max, 30);
        assert_eq!(
            (defaults.connects_per_user.max, defaults.connects_per_address.max),
            (20, 300)
        );
        assert_eq!((defaults.connections_per_user, defaults.room_members), (10, 1000));
        let set = Limits::from_env(&[
            ("REALTIME_CONNECTIONS_PER_USER", "3"),
            ("REALTIME_ROOM_MEMBERS", "2"),
            ("REALTIME_CONNECTS_PER_USER", "5"),
            ("REALTIME_CONNECTS_PER_ADDRESS", "7"),
            ("REALTIME_FRAMES_PER_USER", "11"),
        ])
        .unwrap();
        assert_eq!((set.connections_per_user, set.room_members), (3, 2));
        assert_eq!(
            (
                set.connects_per_user.max,
                set.connects_per_address.max,
                set.frames_per_user.max
            ),
            (5, 7, 11)
        );
        assert_eq!(set.connects_per_user.window, Duration::from_secs(60));
        for bad in ["0", "-1", "many"] {
            assert!(Limits::from_env(&[("REALTIME_ROOM_MEMBERS", bad)]).is_err(), "{bad}");
        }
    }

    #[test]
    fn messages_are_1_to_4000_characters() {
        assert!(MessageText::parse("").is_err());
        assert!(MessageText::parse(&"é".repeat(4000)).is_ok());
        assert!(MessageText::parse(&"é".repeat(4001)).is_err());
    }

    #[test]
    fn frames_parse_into_actions() {
        let to = Uuid::new_v4();
        assert_eq!(Action::parse(r#"{"action":"ping"}"#), Ok(Action::Ping));
        assert!(matches!(
            Action::parse(r#"{"action":"join","room":"a"}"#),
            Ok(Action::Join(_))
        ));
        assert!(matches!(
            Action::parse(&json!({"action": "private", "to": to, "message": "hi"}).to_string()),
            Ok(Action::Private(id, _)) if id == to
        ));
        assert!(matches!(
            Action::parse(&json!({"action": "invite", "room": "private-a", "user_id": to}).to_string()),
            Ok(Action::Invite(room, id)) if id == to && room.as_str() == "private-a"
        ));
        for (bad, detail) in [
            ("nope", "frame is not JSON"),
            ("[]", "frame is not a JSON object"),
            (r#"{"action":1}"#, "action must be a string"),
            (r#"{"room":"a"}"#, "action is required"),
            (r#"{"action":"dance"}"#, "unknown action \"dance\""),
            (r#"{"action":"join","room":"no way"}"#, "room must be"),
            (
                r#"{"action":"send","room":"a","message":""}"#,
                "message must not be empty",
            ),
            (r#"{"action":"private","to":"x","message":"m"}"#, "to must be a user id"),
            (r#"{"action":"invite","room":"private-a"}"#, "user_id is required"),
            (
                r#"{"action":"invite","room":"private-a","user_id":"x"}"#,
                "user_id must be a user id",
            ),
        ] {
            let err = Action::parse(bad).unwrap_err();
            assert!(err.starts_with(detail), "{bad}: {err}");
        }
        let huge = format!(r#"{{"action":"ping","pad":"{}"}}"#, "x".repeat(MAX_FRAME_BYTES));
        assert!(Action::parse(&huge).unwrap_err().contains("larger than"));
    }

    #[test]
    fn server_frames_have_the_contract_shapes() {
        let room = RoomName::parse("r").unwrap();
        let user = Uuid::new_v4();
        let message = ChatMessage::new(&room, user, MessageText::parse("hi").unwrap());
        let frame: Value = serde_json::from_str(&ServerFrame::Message(message.clone()).to_text()).unwrap();
        assert_eq!(frame["type"], "message");
        assert_eq!(frame["id"], message.id.to_string());
        assert_eq!(frame["room"], "r");
        assert_eq!(frame["message"], "hi");
        let join: Value = serde_json::from_str(&ServerFrame::user_join(&room, user).to_text()).unwrap();
        assert_eq!(join["type"], "user_join");
        assert_eq!(join["user_id"], user.to_string());
        let note = ServerFrame::Notification {
            event: Event::SessionRevoked,
            data: json!({}),
            timestamp: "t".into(),
        };
        assert_eq!(serde_json::to_value(&note).unwrap()["event"], "session.revoked");
        assert_eq!(
            serde_json::to_value(ServerFrame::error("x")).unwrap(),
            json!({"type": "error", "detail": "x"})
        );
    }

    #[test]
    fn an_audience_reaches_its_sessions_connections() {
        let (mine, theirs) = (Uuid::new_v4(), Uuid::new_v4());
        let one = Notification::to(
            Uuid::new_v4(),
            Audience::Session(mine),
            Event::SessionRevoked,
            json!({}),
        );
        let body: Value = serde_json::from_str(&one.to_body()).unwrap();
        assert_eq!(body["audience"], json!({"session": mine}));
        assert_eq!(Notification::parse(&one.to_body()).unwrap(), one);
        assert!(one.audience.reaches(Some(mine)) && !one.audience.reaches(Some(theirs)));
        assert!(!one.audience.reaches(None));
        let others = Audience::OtherSessions(mine);
        assert!(!others.reaches(Some(mine)) && others.reaches(Some(theirs)) && others.reaches(None));
        let everyone = Notification::new(Uuid::new_v4(), Event::FileReady, json!({}));
        assert!(
            !everyone.to_body().contains("audience"),
            "a version-1 reader sees no change"
        );
    }

    #[test]
    fn notifications_round_trip_and_check_their_version() {
        let n = Notification::new(Uuid::new_v4(), Event::FileReady, json!({"file_id": "f"}));
        assert_eq!(Notification::parse(&n.to_body()).unwrap(), n);
        let mut newer: Value = serde_json::from_str(&n.to_body()).unwrap();
        newer["version"] = json!(2);
        assert!(Notification::parse(&newer.to_string()).is_err());
        assert!(Notification::parse(r#"{"event":"file.exploded"}"#).is_err());
    }
}
