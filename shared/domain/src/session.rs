//! Logins (refresh-token families) as the sessions their owner sees and ends, password-reset
//! links and rate limits: the rules, without the table they are kept in.

use std::time::Duration;
use time::OffsetDateTime;
use uuid::Uuid;

/// Where a login came from, as its session shows it: the client's `User-Agent` (at most
/// [`LoginOrigin::MAX_USER_AGENT`] characters, control characters dropped) and source address.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct LoginOrigin {
    pub user_agent: Option<String>,
    pub ip: Option<String>,
}

impl LoginOrigin {
    pub const MAX_USER_AGENT: usize = 255;
    /// Longer than any IPv6 address in text; an address is API Gateway's, never the client's word.
    const MAX_IP: usize = 64;

    pub fn new(user_agent: Option<&str>, ip: Option<&str>) -> Self {
        let clean = |raw: &str, max: usize| {
            let kept: String = raw.chars().filter(|c| !c.is_control()).take(max).collect();
            let kept = kept.trim().to_owned();
            (!kept.is_empty()).then_some(kept)
        };
        Self {
            user_agent: user_agent.and_then(|ua| clean(ua, Self::MAX_USER_AGENT)),
            ip: ip.and_then(|ip| clean(ip, Self::MAX_IP)),
        }
    }
}

/// One login of a user, as they see it in their list of sessions.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Session {
    pub id: Uuid,
    pub user_id: Uuid,
    pub created_at: OffsetDateTime,
    /// The last refresh (the login itself until there is one).
    pub last_used_at: OffsetDateTime,
    pub origin: LoginOrigin,
}

/// What presenting a refresh token led to.
#[derive(Debug, PartialEq, Eq)]
pub enum Refresh {
    Rotated {
        user_id: Uuid,
        family: Uuid,
        token: String,
        /// When the login began (epoch seconds): a login older than the user's last credential
        /// change must not mint tokens, even if its revocation never landed.
        login_at: u64,
    },
    /// Unknown, expired, or of a revoked login.
    Rejected,
    /// The token had been used already: its whole login was revoked.
    ReuseDetected,
}

/// A fixed-window limit on how often something may happen per key.
#[derive(Debug, Clone, Copy)]
pub struct Limit {
    pub scope: &'static str,
    pub max: u64,
    pub window: Duration,
}

impl Limit {
    pub fn window_start(&self, now: u64) -> u64 {
        let window = self.window.as_secs().max(1);
        now / window * window
    }

    /// Seconds until the window that holds `now` ends (at least 1).
    pub fn retry_after(&self, now: u64) -> u64 {
        (self.window_start(now) + self.window.as_secs())
            .saturating_sub(now)
            .max(1)
    }
}

/// How often a key was counted in the current window, and when that window ends.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Count {
    pub count: u64,
    pub retry_after_secs: u64,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_origin_is_bounded_and_printable() {
        let long = format!("Mozilla/5.0 \u{7}{}", "x".repeat(400));
        let origin = LoginOrigin::new(Some(&long), Some(" 203.0.113.9 "));
        let agent = origin.user_agent.unwrap();
        assert_eq!(agent.chars().count(), LoginOrigin::MAX_USER_AGENT);
        assert!(!agent.contains('\u{7}'));
        assert_eq!(origin.ip.as_deref(), Some("203.0.113.9"));
        assert_eq!(LoginOrigin::new(Some("  "), None), LoginOrigin::default());
    }

    #[test]
    fn windows_are_aligned_and_retry_after_counts_down() {
        let limit = Limit {
            scope: "login",
            max: 5,
            window: Duration::from_secs(900),
        };
        assert_eq!(limit.window_start(1_000), 900);
        assert_eq!(limit.retry_after(1_000), 800);
        assert_eq!(limit.retry_after(1_799), 1);
    }
}
