//! Sessions over HTTP: a login as its owner sees it (`SessionPublic`) and the list of them.

use crate::public::{page_component, Page, Skip};
use crate::schema::response;
use domain::session::Session;
use serde_json::json;
use time::OffsetDateTime;
use uuid::Uuid;

response! {
    #[derive(Clone, PartialEq)]
    pub struct SessionPublic as "SessionPublic",
        "A login that still stands (`SessionPublic`): when it began and was last refreshed, where it \
        came from, and whether it is the caller's own."
    {
        required id: Uuid,
        #[serde(with = "time::serde::rfc3339")]
        required created_at: OffsetDateTime,
        #[serde(with = "time::serde::rfc3339")]
        required last_used_at: OffsetDateTime,
        required user_agent: Option<String>
            as json!({ "type": ["string", "null"], "maxLength": domain::session::LoginOrigin::MAX_USER_AGENT }),
        required ip: Option<String>,
        required current: bool,
    }
}

impl SessionPublic {
    /// `session` as shown to a caller whose own login is `current`.
    pub fn of(session: &Session, current: Option<Uuid>) -> Self {
        Self {
            id: session.id,
            created_at: session.created_at,
            last_used_at: session.last_used_at,
            user_agent: session.origin.user_agent.clone(),
            ip: session.origin.ip.clone(),
            current: current == Some(session.id),
        }
    }
}

/// `SessionsPublic`: every session of the caller, newest first.
pub type SessionsPublic = Page<SessionPublic>;

page_component! {
    SessionPublic => "SessionsPublic", cursor: false;
}

/// The page of `sessions`, the caller's own marked.
pub fn sessions_page(sessions: &[Session], current: Option<Uuid>) -> SessionsPublic {
    Page {
        data: sessions.iter().map(|s| SessionPublic::of(s, current)).collect(),
        count: sessions.len() as u64,
        next_cursor: Skip::Omitted,
    }
}
