//! The HTTP API's access log, one JSON line per request on stdout, with the fields and shape of
//! the template's `AccessLogSettings.Format` (values are strings, "-" when there is none).

use crate::gateway::Route;
use crate::runtime::InvokeResult;
use bytes::Bytes;
use http_body_util::Full;
use hyper::body::Body;
use hyper::Response;
use serde_json::{Map, Value};
use std::io::Write;
use std::net::SocketAddr;
use std::time::{Duration, Instant};
use time::OffsetDateTime;

/// One request's access log line in the making, printed when the response is ready.
pub struct AccessLog {
    started: Instant,
    received: OffsetDateTime,
    ip: String,
    method: String,
    path: String,
    user_agent: String,
    request_id: String,
    route_key: String,
    invocation_id: String,
    invoked: Option<Instant>,
    integration: Option<(Duration, u16)>,
    integration_error: Option<&'static str>,
}

impl AccessLog {
    pub fn start(parts: &hyper::http::request::Parts, peer: SocketAddr) -> Self {
        Self {
            started: Instant::now(),
            received: OffsetDateTime::now_utc(),
            ip: peer.ip().to_string(),
            method: parts.method.to_string(),
            path: parts.uri.path().to_owned(),
            user_agent: parts
                .headers
                .get("user-agent")
                .and_then(|v| v.to_str().ok())
                .unwrap_or_default()
                .to_owned(),
            request_id: uuid::Uuid::new_v4().simple().to_string()[..16].to_owned(),
            route_key: String::new(),
            invocation_id: String::new(),
            invoked: None,
            integration: None,
            integration_error: None,
        }
    }

    /// The route matched and its function is about to be invoked with `event`, as Lambda's
    /// request `invocation_id`.
    pub fn invoked(&mut self, route: &Route, event: &Value, invocation_id: &str) {
        self.route_key = route.route_key.clone();
        invocation_id.clone_into(&mut self.invocation_id);
        if let Some(id) = event["requestContext"]["requestId"].as_str() {
            self.request_id = id.to_owned();
        }
        self.invoked = Some(Instant::now());
    }

    /// What Lambda's Invoke answered, as API Gateway sees it.
    pub fn answered(&mut self, result: &InvokeResult) {
        let latency = self.invoked.map(|t| t.elapsed()).unwrap_or_default();
        let (status, error) = match result {
            InvokeResult::Ok(_) => (200, None),
            InvokeResult::FunctionError(_) => (200, Some("The Lambda function returned an error")),
            InvokeResult::Crashed(_) => (502, Some("The Lambda function crashed")),
            InvokeResult::TimedOut => (504, Some("The Lambda function timed out")),
        };
        self.integration = Some((latency, status));
        self.integration_error = error;
    }

    /// Prints the line and hands the response on.
    pub fn finish(self, response: Response<Full<Bytes>>) -> Response<Full<Bytes>> {
        let entry = Entry {
            request_id: &self.request_id,
            ip: &self.ip,
            user_agent: &self.user_agent,
            received: self.received,
            method: &self.method,
            route_key: if self.route_key.is_empty() {
                "-"
            } else {
                &self.route_key
            },
            path: &self.path,
            status: response.status().as_u16(),
            response_length: response.body().size_hint().exact().unwrap_or_default(),
            response_latency: self.started.elapsed(),
            integration: self.integration,
            integration_request_id: &self.invocation_id,
            integration_error: self.integration_error,
        };
        // A closed stdout must not take the request down with it.
        let _ = writeln!(std::io::stdout().lock(), "{}", entry.line());
        response
    }
}

/// What API Gateway knows of one request when it writes the access log line.
pub struct Entry<'a> {
    pub request_id: &'a str,
    pub ip: &'a str,
    pub user_agent: &'a str,
    pub received: OffsetDateTime,
    pub method: &'a str,
    /// `-` when no route matched.
    pub route_key: &'a str,
    pub path: &'a str,
    pub status: u16,
    pub response_length: u64,
    pub response_latency: Duration,
    /// Latency and status of the Lambda invoke; `None` when no function was invoked.
    pub integration: Option<(Duration, u16)>,
    /// The invocation's Lambda request id (the function's `span.requestId`); empty when none.
    pub integration_request_id: &'a str,
    pub integration_error: Option<&'a str>,
}

impl Entry<'_> {
    pub fn line(&self) -> String {
        let text = |s: &str| Value::String(if s.is_empty() { "-".to_owned() } else { s.to_owned() });
        let ms = |d: Duration| Value::String(d.as_millis().to_string());
        let mut m = Map::new();
        m.insert("requestId".into(), text(self.request_id));
        m.insert("ip".into(), text(self.ip));
        m.insert("userAgent".into(), text(self.user_agent));
        m.insert("requestTime".into(), text(&clf_time(self.received)));
        m.insert("httpMethod".into(), text(self.method));
        m.insert("routeKey".into(), text(self.route_key));
        m.insert("path".into(), text(self.path));
        m.insert("protocol".into(), text("HTTP/1.1"));
        m.insert("status".into(), text(&self.status.to_string()));
        m.insert("responseLength".into(), text(&self.response_length.to_string()));
        m.insert("responseLatency".into(), ms(self.response_latency));
        let (latency, status) = match self.integration {
            Some((latency, status)) => (ms(latency), text(&status.to_string())),
            None => (text(""), text("")),
        };
        m.insert("integrationLatency".into(), latency);
        m.insert("integrationStatus".into(), status);
        m.insert("integrationRequestId".into(), text(self.integration_request_id));
        m.insert(
            "integrationError".into(),
            text(self.integration_error.unwrap_or_default()),
        );
        Value::Object(m).to_string()
    }
}

/// `$context.requestTime`: the common log format's time, `27/Nov/2026:07:30:00 +0000`.
fn clf_time(t: OffsetDateTime) -> String {
    let t = t.to_offset(time::UtcOffset::UTC);
    let month = [
        "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
    ][usize::from(u8::from(t.month())) - 1];
    format!(
        "{:02}/{month}/{}:{:02}:{:02}:{:02} +0000",
        t.day(),
        t.year(),
        t.hour(),
        t.minute(),
        t.second()
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entry() -> Entry<'static> {
        Entry {
            request_id: "abc",
            ip: "127.0.0.1",
            user_agent: "curl/8",
            received: time::macros::datetime!(2026-11-27 07:30:05 UTC),
            method: "GET",
            route_key: "ANY /api/v1/utils/{proxy+}",
            path: "/api/v1/utils/health-check/",
            status: 200,
            response_length: 4,
            response_latency: Duration::from_millis(12),
            integration: Some((Duration::from_millis(11), 200)),
            integration_request_id: "8f0c3a8e-1b2c-4d5e-9f00-0123456789ab",
            integration_error: None,
        }
    }

    /// The keys of the template's access log format, in its order.
    fn template_keys() -> Vec<String> {
        let path = concat!(env!("CARGO_MANIFEST_DIR"), "/../../template.yaml");
        let text = std::fs::read_to_string(path).unwrap();
        let template: serde_yaml::Value = serde_yaml::from_str(&text).unwrap();
        let format = template["Resources"]["HttpApi"]["Properties"]["AccessLogSettings"]["Format"]
            .as_str()
            .unwrap()
            .to_owned();
        let format: Map<String, Value> = serde_json::from_str(&format).unwrap();
        format.keys().cloned().collect()
    }

    #[test]
    fn the_line_has_the_fields_of_the_templates_format() {
        let line: Map<String, Value> = serde_json::from_str(&entry().line()).unwrap();
        let mut keys: Vec<String> = line.keys().cloned().collect();
        let mut expected = template_keys();
        keys.sort();
        expected.sort();
        assert_eq!(keys, expected);
        assert!(line.values().all(Value::is_string));
    }

    #[test]
    fn values_read_as_api_gateway_writes_them() {
        let line: Value = serde_json::from_str(&entry().line()).unwrap();
        assert_eq!(line["requestTime"], "27/Nov/2026:07:30:05 +0000");
        assert_eq!(line["status"], "200");
        assert_eq!(line["responseLatency"], "12");
        assert_eq!(line["integrationError"], "-");
        assert_eq!(line["integrationRequestId"], "8f0c3a8e-1b2c-4d5e-9f00-0123456789ab");
    }

    #[test]
    fn an_unmatched_route_has_no_integration() {
        let mut e = entry();
        e.route_key = "-";
        e.status = 404;
        e.integration = None;
        e.integration_request_id = "";
        let line: Value = serde_json::from_str(&e.line()).unwrap();
        assert_eq!(
            (
                line["integrationLatency"].as_str(),
                line["integrationStatus"].as_str(),
                line["integrationRequestId"].as_str()
            ),
            (Some("-"), Some("-"), Some("-"))
        );
    }
}
