//! Logins (refresh-token families), password-reset links and rate limits: the rules, without
//! the table they are kept in.

use std::time::Duration;
use uuid::Uuid;

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
