//! The one clock: every "now" of the domain and its stored form.

use std::time::{SystemTime, UNIX_EPOCH};
use time::format_description::well_known::Rfc3339;
use time::OffsetDateTime;

/// Seconds since the Unix epoch (token times, TTLs, rate-limit windows).
pub fn now_secs() -> u64 {
    now_millis() / 1000
}

/// Milliseconds since the Unix epoch (metric timestamps).
pub fn now_millis() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX))
        .unwrap_or(0)
}

/// Now, to the microsecond, as pydantic serialises datetimes.
pub fn now_micros() -> OffsetDateTime {
    let now = OffsetDateTime::now_utc();
    now.replace_nanosecond(now.nanosecond() / 1_000 * 1_000).unwrap_or(now)
}

/// RFC 3339, which sorts as text in time order: how times are stored and shown.
pub fn timestamp(at: OffsetDateTime) -> String {
    at.format(&Rfc3339).unwrap_or_default()
}

/// The inverse of [`timestamp`].
pub fn parse_timestamp(text: &str) -> Option<OffsetDateTime> {
    OffsetDateTime::parse(text, &Rfc3339).ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn timestamps_round_trip_and_sort_as_text() {
        let earlier = now_micros();
        let later = earlier + time::Duration::seconds(1);
        assert_eq!(parse_timestamp(&timestamp(earlier)), Some(earlier));
        assert!(timestamp(earlier) < timestamp(later));
    }
}
