//! What every function writes besides its answers: one JSON log line per event (`logging`) and
//! CloudWatch embedded-metric lines (`metrics`).

pub mod logging;
pub mod metrics;
