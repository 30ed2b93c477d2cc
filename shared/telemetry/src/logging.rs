//! JSON logs, one object per line, as CloudWatch Logs Insights reads them.

use tracing_subscriber::filter::{LevelFilter, Targets};
use tracing_subscriber::layer::SubscriberExt;
use tracing_subscriber::util::SubscriberInitExt;

/// Installs the JSON subscriber. `RUST_LOG` sets the level (`info` by default); a plain level
/// skips parsing filter directives at start-up, anything else is read as per-target levels
/// (`info,adapters::store=debug`). `Targets` rather than `EnvFilter`: no span or field
/// filters, and no regex engine in every binary (about 240 KB of code).
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
    // `try_init`: a second call (in tests) keeps the first subscriber.
    if let Some(level) = plain_level(&setting) {
        let _ = builder.with_max_level(level).try_init();
        return;
    }
    match setting.parse::<Targets>() {
        Ok(targets) => {
            let _ = builder.finish().with(targets).try_init();
        }
        Err(err) => {
            let _ = builder.with_max_level(LevelFilter::INFO).try_init();
            tracing::warn!(error = %err, setting, "RUST_LOG is not a list of target=level directives; logging at info");
        }
    }
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

    #[test]
    fn directives_name_targets_and_levels() {
        let targets: Targets = "info,adapters::store=debug".parse().unwrap();
        assert_eq!(targets.default_level(), Some(LevelFilter::INFO));
        assert!(targets.would_enable("adapters::store::users", &tracing::Level::DEBUG));
        assert!(!targets.would_enable("edge::service", &tracing::Level::DEBUG));
        assert!("shared=loud".parse::<Targets>().is_err());
    }
}
