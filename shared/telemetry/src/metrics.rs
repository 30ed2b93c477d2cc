//! CloudWatch metrics as embedded-metric-format (EMF) log lines: one JSON object on stdout with an
//! `_aws` key, which CloudWatch Logs turns into metrics. No API call, no client, nothing at start.
//!
//! Written here rather than taken from `metrics_cloudwatch_embedded`: that crate brings the
//! `metrics` facade, `futures` and a wrapper of the runtime's run loop; one line per request or
//! batch is a few dozen lines over `serde_json`, which every function already links.

use serde_json::{json, Map, Value};
use std::io::Write;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::OnceLock;
use std::time::{SystemTime, UNIX_EPOCH};

/// Milliseconds since the epoch: the EMF `Timestamp`.
fn now_millis() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX))
        .unwrap_or(0)
}

/// Every metric of the product is in this namespace; the `stage` dimension keeps dev from prod.
pub const NAMESPACE: &str = "ServerlessBackend";

#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Unit {
    Count,
    Milliseconds,
}

impl Unit {
    fn as_str(self) -> &'static str {
        match self {
            Self::Count => "Count",
            Self::Milliseconds => "Milliseconds",
        }
    }
}

/// One EMF document: a dimension set, metric values and searchable properties.
#[derive(Debug, Default)]
pub struct Emf {
    dimensions: Vec<(&'static str, String)>,
    metrics: Vec<(&'static str, f64, Unit)>,
    properties: Map<String, Value>,
}

impl Emf {
    /// A document with the `stage` dimension (from `STAGE`, `local` when unset).
    pub fn new() -> Self {
        Self::default().dimension("stage", stage())
    }

    pub fn dimension(mut self, name: &'static str, value: impl Into<String>) -> Self {
        self.dimensions.push((name, value.into()));
        self
    }

    pub fn metric(mut self, name: &'static str, value: f64, unit: Unit) -> Self {
        self.metrics.push((name, value, unit));
        self
    }

    /// A field that is logged but is no metric (ids to search by in Logs Insights).
    pub fn property(mut self, name: &str, value: impl Into<Value>) -> Self {
        self.properties.insert(name.to_owned(), value.into());
        self
    }

    /// The log line, stamped `timestamp_ms` (milliseconds since the epoch).
    pub fn line(&self, timestamp_ms: u64) -> String {
        let mut root = self.properties.clone();
        for (name, value) in &self.dimensions {
            root.insert((*name).to_owned(), Value::String(value.clone()));
        }
        for (name, value, _) in &self.metrics {
            root.insert((*name).to_owned(), json!(value));
        }
        let dimension_names: Vec<&str> = self.dimensions.iter().map(|(n, _)| *n).collect();
        let definitions: Vec<Value> = self
            .metrics
            .iter()
            .map(|(name, _, unit)| json!({ "Name": name, "Unit": unit.as_str() }))
            .collect();
        root.insert(
            "_aws".to_owned(),
            json!({
                "Timestamp": timestamp_ms,
                "CloudWatchMetrics": [{
                    "Namespace": NAMESPACE,
                    "Dimensions": [dimension_names],
                    "Metrics": definitions,
                }],
            }),
        );
        Value::Object(root).to_string()
    }

    /// Writes the line to stdout, where Lambda sends it to the function's log group.
    pub fn emit(self) {
        if self.metrics.is_empty() {
            return;
        }
        let line = self.line(now_millis());
        // A metric that cannot be written is dropped: it must never fail the request.
        let _ = writeln!(std::io::stdout().lock(), "{line}");
    }
}

fn stage() -> &'static str {
    static STAGE: OnceLock<String> = OnceLock::new();
    STAGE.get_or_init(|| std::env::var("STAGE").unwrap_or_else(|_| "local".to_owned()))
}

/// The X-Ray trace id of the invocation in progress (the runtime sets it per invocation).
pub fn trace_id() -> Option<String> {
    std::env::var("_X_AMZN_TRACE_ID").ok().filter(|t| !t.is_empty())
}

static COLD: AtomicBool = AtomicBool::new(true);

/// `ColdStart` = 1 on the first invocation of an execution environment, per function.
pub fn invocation_started() {
    if COLD.swap(false, Ordering::Relaxed) {
        let function = std::env::var("AWS_LAMBDA_FUNCTION_NAME").unwrap_or_else(|_| "local".to_owned());
        Emf::new()
            .dimension("function", function)
            .metric("ColdStart", 1.0, Unit::Count)
            .emit();
    }
}

/// One API request: `Latency`, `4xx` and `5xx` per route (`GET /api/v1/items/{id}`).
pub fn api_request(method: &str, route: &str, status: u16, latency_ms: f64, request_id: &str) -> Emf {
    let class = |low: u16| if (low..low + 100).contains(&status) { 1.0 } else { 0.0 };
    Emf::new()
        .dimension("route", format!("{method} {route}"))
        .metric("Latency", latency_ms, Unit::Milliseconds)
        .metric("4xx", class(400), Unit::Count)
        .metric("5xx", class(500), Unit::Count)
        .property("status", status)
        .property("request_id", request_id)
}

/// What one worker batch did: `JobsProcessed`, `JobsFailed` and `EmailsSent`.
#[derive(Debug, Default, Clone, Copy, PartialEq)]
pub struct JobCounts {
    pub processed: u32,
    pub failed: u32,
    pub emails_sent: u32,
}

impl JobCounts {
    pub fn emf(&self) -> Emf {
        Emf::new()
            .metric("JobsProcessed", self.processed.into(), Unit::Count)
            .metric("JobsFailed", self.failed.into(), Unit::Count)
            .metric("EmailsSent", self.emails_sent.into(), Unit::Count)
    }
}

/// `ThumbnailsMade`: thumbnails the `thumbnails` function made in one batch.
pub fn thumbnails_made(count: u32) -> Emf {
    Emf::new().metric("ThumbnailsMade", count.into(), Unit::Count)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(emf: &Emf) -> Value {
        serde_json::from_str(&emf.line(1_700_000_000_000)).unwrap()
    }

    #[test]
    fn a_request_line_declares_its_metrics_under_the_route_dimension() {
        let line = parse(&api_request("GET", "/api/v1/items/{id}", 404, 2.5, "r-1"));
        let directive = &line["_aws"]["CloudWatchMetrics"][0];
        assert_eq!(line["_aws"]["Timestamp"], 1_700_000_000_000u64);
        assert_eq!(directive["Namespace"], NAMESPACE);
        assert_eq!(directive["Dimensions"], json!([["stage", "route"]]));
        assert_eq!(
            directive["Metrics"],
            json!([
                {"Name": "Latency", "Unit": "Milliseconds"},
                {"Name": "4xx", "Unit": "Count"},
                {"Name": "5xx", "Unit": "Count"},
            ])
        );
        assert_eq!(line["route"], "GET /api/v1/items/{id}");
        assert_eq!(line["Latency"], 2.5);
        assert_eq!((line["4xx"].as_f64(), line["5xx"].as_f64()), (Some(1.0), Some(0.0)));
        assert_eq!(line["request_id"], "r-1");
    }

    #[test]
    fn a_server_error_counts_as_5xx_only() {
        let line = parse(&api_request("POST", "/api/v1/items/", 503, 1.0, "r-2"));
        assert_eq!((line["4xx"].as_f64(), line["5xx"].as_f64()), (Some(0.0), Some(1.0)));
    }

    #[test]
    fn every_dimension_and_metric_is_a_root_member() {
        let counts = JobCounts {
            processed: 3,
            failed: 1,
            emails_sent: 2,
        };
        let line = parse(&counts.emf());
        for dimension in line["_aws"]["CloudWatchMetrics"][0]["Dimensions"][0]
            .as_array()
            .unwrap()
        {
            assert!(line[dimension.as_str().unwrap()].is_string(), "{dimension}");
        }
        for metric in line["_aws"]["CloudWatchMetrics"][0]["Metrics"].as_array().unwrap() {
            assert!(line[metric["Name"].as_str().unwrap()].is_number(), "{metric}");
        }
        assert_eq!(line["JobsFailed"].as_f64(), Some(1.0));
    }

    #[test]
    fn thumbnails_have_their_metric() {
        let line = parse(&thumbnails_made(4));
        assert_eq!(line["ThumbnailsMade"].as_f64(), Some(4.0));
    }
}
