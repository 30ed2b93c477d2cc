//! JSON logs, one object per line, as CloudWatch Logs Insights reads them.

use tracing_subscriber::filter::LevelFilter;
use tracing_subscriber::EnvFilter;

/// Installs the JSON subscriber. `RUST_LOG` sets the level (`info` by default); a plain level
/// skips parsing filter directives at start-up, anything else is read as an `EnvFilter`.
pub fn init() {
    let builder = tracing_subscriber::fmt()
        .json()
        .flatten_event(true)
        // The runtime's per-invocation span carries requestId and xrayTraceId into every line.
        .with_current_span(true)
        .with_span_list(false)
        .with_target(false)
        .with_ansi(false);
    let setting = std::env::var("RUST_LOG").unwrap_or_default();
    let _ = match plain_level(&setting) {
        Some(level) => builder.with_max_level(level).try_init(),
        None => builder.with_env_filter(EnvFilter::new(setting)).try_init(),
    };
}

fn plain_level(setting: &str) -> Option<LevelFilter> {
    match setting.trim().to_ascii_lowercase().as_str() {
        "" | "info" => Some(LevelFilter::INFO),
        "off" => Some(LevelFilter::OFF),
        "error" => Some(LevelFilter::ERROR),
        "warn" => Some(LevelFilter::WARN),
        "debug" => Some(LevelFilter::DEBUG),
        "trace" => Some(LevelFilter::TRACE),
        _ => None,
    }
}

/// A function that cannot start says why on stderr and in the log, then exits.
pub fn fail_start(err: impl std::fmt::Display) -> ! {
    tracing::error!(error = %err, "cannot start");
    eprintln!("cannot start: {err}");
    std::process::exit(1)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn plain_levels_skip_directive_parsing() {
        assert_eq!(plain_level(""), Some(LevelFilter::INFO));
        assert_eq!(plain_level("WARN"), Some(LevelFilter::WARN));
        assert_eq!(plain_level("shared=debug,info"), None);
    }
}
