//! JSON logs, one object per line, as CloudWatch Logs Insights reads them.

use tracing_subscriber::EnvFilter;

/// Installs the JSON subscriber. `RUST_LOG` overrides the default `info` level.
pub fn init() {
    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("info"));
    let _ = tracing_subscriber::fmt()
        .json()
        .flatten_event(true)
        .with_current_span(false)
        .with_span_list(false)
        .with_target(false)
        .with_ansi(false)
        .with_env_filter(filter)
        .try_init();
}

/// A function that cannot start says why on stderr and in the log, then exits.
pub fn fail_start(err: impl std::fmt::Display) -> ! {
    tracing::error!(error = %err, "cannot start");
    eprintln!("cannot start: {err}");
    std::process::exit(1)
}
