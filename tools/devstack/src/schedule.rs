//! `Schedule` events, as EventBridge runs them: the function is invoked with a scheduled event
//! every `rate(...)`. Only `rate` expressions are run locally; a `cron` one is reported and left.

use crate::runtime::Function;
use bytes::Bytes;
use serde_json::json;
use std::sync::Arc;
use std::time::Duration;

/// `rate(5 minutes)` → 300 s. `None` for anything else (cron expressions included).
pub fn rate(expression: &str) -> Option<Duration> {
    let inner = expression.trim().strip_prefix("rate(")?.strip_suffix(')')?;
    let (value, unit) = inner.trim().split_once(' ')?;
    let value: u64 = value.parse().ok().filter(|v| *v > 0)?;
    let seconds = match unit.trim() {
        "minute" | "minutes" => 60,
        "hour" | "hours" => 3600,
        "day" | "days" => 86_400,
        _ => return None,
    };
    Some(Duration::from_secs(value * seconds))
}

/// The event EventBridge sends for a scheduled rule.
pub fn event(rule: &str) -> Bytes {
    let now = time::OffsetDateTime::now_utc();
    let at = now
        .replace_nanosecond(0)
        .unwrap_or(now)
        .format(&time::format_description::well_known::Rfc3339)
        .unwrap_or_default();
    Bytes::from(
        json!({
            "version": "0",
            "id": uuid::Uuid::new_v4().to_string(),
            "detail-type": "Scheduled Event",
            "source": "aws.events",
            "account": "123456789012",
            "time": at,
            "region": "us-east-1",
            "resources": [format!("arn:aws:events:us-east-1:123456789012:rule/{rule}")],
            "detail": {},
        })
        .to_string(),
    )
}

/// Invokes `function` every `every`, the first time one period after the start.
pub async fn run(rule: String, every: Duration, function: Arc<Function>) {
    let mut ticks = tokio::time::interval_at(tokio::time::Instant::now() + every, every);
    loop {
        ticks.tick().await;
        let _ = function.invoke(event(&rule)).await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rate_expressions() {
        assert_eq!(rate("rate(10 minutes)"), Some(Duration::from_secs(600)));
        assert_eq!(rate("rate(1 hour)"), Some(Duration::from_secs(3600)));
        assert_eq!(rate("rate(0 minutes)"), None);
        assert_eq!(rate("cron(0 12 * * ? *)"), None);
    }
}
