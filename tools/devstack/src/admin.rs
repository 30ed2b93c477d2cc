//! `/_devstack/…`: what a developer or a test needs from the local stack besides the API itself —
//! invoke a function with an event file, read the emails SES was asked to send, look at and feed
//! the queues, and freeze, thaw or stop the emulator to see how the API copes.

use crate::Stack;
use bytes::Bytes;
use http_body_util::Full;
use hyper::{Method, Response, StatusCode};
use serde_json::{json, Value};

fn reply(status: StatusCode, body: Value) -> Response<Full<Bytes>> {
    let mut response = Response::new(Full::new(Bytes::from(body.to_string())));
    *response.status_mut() = status;
    response.headers_mut().insert(
        "content-type",
        hyper::header::HeaderValue::from_static("application/json"),
    );
    response
}

/// The admin API (and the WebSocket Management API) answer local tools only. A web page the developer visits could otherwise
/// reach it through their browser: every browser request of a page carries `Origin` (tools and
/// tests send none), and a DNS-rebinding page reaches it under its own `Host`.
pub fn allowed(headers: &hyper::HeaderMap) -> Result<(), &'static str> {
    if headers.contains_key(hyper::header::ORIGIN) {
        return Err("devstack's admin and Management APIs refuse browser requests (Origin)");
    }
    let host = headers
        .get(hyper::header::HOST)
        .and_then(|h| h.to_str().ok())
        .unwrap_or_default();
    let name = match host.strip_prefix('[') {
        Some(v6) => v6.split(']').next().unwrap_or_default(),
        None => host.split(':').next().unwrap_or_default(),
    };
    if matches!(name, "127.0.0.1" | "localhost" | "::1") {
        Ok(())
    } else {
        Err("devstack's admin and Management APIs answer loopback hosts only")
    }
}

/// Settings shown by `/info` keep their names but not their values when they are secrets (the
/// JWT signing key, passwords). The AWS credentials are moto's fixed test ones: no secret.
fn shown(name: &str, value: &str) -> String {
    let secret = !name.starts_with("AWS_") && ["SECRET", "PASSWORD"].iter().any(|word| name.contains(word));
    if secret {
        "(hidden)".to_owned()
    } else {
        value.to_owned()
    }
}

pub async fn handle(stack: &Stack, method: &Method, path: &str, body: Bytes) -> Response<Full<Bytes>> {
    let parts: Vec<&str> = path.trim_end_matches('/').split('/').collect();
    match (method, parts.as_slice()) {
        (&Method::GET, ["info"]) => reply(StatusCode::OK, info(stack)),
        (&Method::POST, ["invoke", function]) => invoke(stack, function, body).await,
        (&Method::GET, ["emails"]) => emails(stack).await,
        (&Method::GET, ["queues"]) => queues(stack).await,
        (&Method::GET, ["meter", since @ ..]) => match &stack.meter {
            Some(meter) => {
                let since = since.first().and_then(|n| n.parse().ok()).unwrap_or(0);
                reply(StatusCode::OK, json!({ "calls": meter.calls_since(since) }))
            }
            None => reply(
                StatusCode::NOT_FOUND,
                json!({"message": "the stack runs without --meter"}),
            ),
        },
        (&Method::GET, ["websockets"]) => reply(
            StatusCode::OK,
            json!({"peers": stack.websocket.as_ref().map(|ws| ws.peers()).unwrap_or_default()}),
        ),
        (&Method::POST, ["queues", queue, "messages"]) => send(stack, queue, body).await,
        (&Method::POST, ["queues", queue, "batch"]) => send_batch(stack, queue, body).await,
        (&Method::POST, ["emulator", action @ ("freeze" | "thaw")]) => {
            let frozen = *action == "freeze";
            match stack.moto.lock().await.freeze(frozen) {
                true => reply(StatusCode::OK, json!({"frozen": frozen})),
                false => reply(StatusCode::CONFLICT, json!({"message": "the emulator is not running"})),
            }
        }
        (&Method::POST, ["emulator", "stop"]) => {
            stack.moto.lock().await.stop().await;
            reply(StatusCode::OK, json!({"stopped": true}))
        }
        _ => reply(StatusCode::NOT_FOUND, json!({"message": "unknown devstack endpoint"})),
    }
}

fn info(stack: &Stack) -> Value {
    json!({
        "emulator": stack.moto_endpoint,
        "functions": stack.functions.iter().map(|(id, f)| json!({
            "id": id,
            "binary": f.spec.binary,
            "env": f.spec.env.iter().map(|(k, v)| (k.clone(), shown(k, v))).collect::<std::collections::BTreeMap<_, _>>(),
            "timeout_secs": f.spec.timeout.as_secs(),
            "memory_mb": f.spec.memory_mb,
            "cold_starts": f.cold_starts(),
        })).collect::<Vec<_>>(),
        "routes": stack.routes.iter().map(|r| json!({"route_key": r.route_key, "function": r.function.spec.logical_id})).collect::<Vec<_>>(),
        "queues": stack.queues.iter().map(|q| json!({"id": q.logical_id, "url": q.url, "arn": q.arn})).collect::<Vec<_>>(),
        "resources": stack.resources,
    })
}

/// Like `sam local invoke -e`: the event goes to the function as it is; the raw result comes back.
async fn invoke(stack: &Stack, function: &str, event: Bytes) -> Response<Full<Bytes>> {
    let Some(function) = stack.functions.get(function) else {
        return reply(
            StatusCode::NOT_FOUND,
            json!({"message": format!("no function {function} in template.yaml")}),
        );
    };
    if serde_json::from_slice::<Value>(&event).is_err() {
        return reply(StatusCode::BAD_REQUEST, json!({"message": "the event is not JSON"}));
    }
    match function.invoke(event).await {
        crate::runtime::InvokeResult::Ok(payload) => {
            let mut response = Response::new(Full::new(payload));
            response.headers_mut().insert(
                "content-type",
                hyper::header::HeaderValue::from_static("application/json"),
            );
            response
        }
        crate::runtime::InvokeResult::FunctionError(error) => reply(
            StatusCode::BAD_GATEWAY,
            json!({"error": serde_json::from_slice::<Value>(&error).unwrap_or(Value::Null)}),
        ),
        other => reply(StatusCode::BAD_GATEWAY, json!({"error": format!("{other:?}")})),
    }
}

/// Every email SES accepted, newest last, from moto's own record of them.
async fn emails(stack: &Stack) -> Response<Full<Bytes>> {
    let url = format!("{}/_local/ses/messages", stack.moto_endpoint);
    let data = tokio::task::spawn_blocking(move || -> Result<Value, String> {
        let mut response = ureq::get(&url).call().map_err(|e| e.to_string())?;
        response.body_mut().read_json::<Value>().map_err(|e| e.to_string())
    })
    .await
    .map_err(|e| e.to_string())
    .and_then(|r| r);
    match data {
        Ok(data) => {
            let messages: Vec<Value> = data
                .as_array()
                .into_iter()
                .flatten()
                .map(|m| {
                    json!({
                        "id": m["id"],
                        "from": m["source"],
                        "to": m["destinations"]["ToAddresses"],
                        "subject": m["subject"],
                        "html": m["body"],
                    })
                })
                .collect();
            reply(StatusCode::OK, json!(messages))
        }
        Err(err) => reply(
            StatusCode::SERVICE_UNAVAILABLE,
            json!({"message": format!("emulator unavailable: {err}")}),
        ),
    }
}

async fn queues(stack: &Stack) -> Response<Full<Bytes>> {
    use aws_sdk_sqs::types::QueueAttributeName as A;
    let client = stack.aws.sqs();
    let mut out = Vec::new();
    for queue in &stack.queues {
        let attributes = client
            .get_queue_attributes()
            .queue_url(&queue.url)
            .attribute_names(A::ApproximateNumberOfMessages)
            .attribute_names(A::ApproximateNumberOfMessagesNotVisible)
            .send()
            .await;
        let count = |out: &aws_sdk_sqs::operation::get_queue_attributes::GetQueueAttributesOutput, name: A| {
            out.attributes()
                .and_then(|a| a.get(&name))
                .and_then(|v| v.parse::<u64>().ok())
                .unwrap_or(0)
        };
        match attributes {
            Ok(attrs) => out.push(json!({
                "id": queue.logical_id,
                "visible": count(&attrs, A::ApproximateNumberOfMessages),
                "in_flight": count(&attrs, A::ApproximateNumberOfMessagesNotVisible),
            })),
            Err(err) => {
                return reply(
                    StatusCode::SERVICE_UNAVAILABLE,
                    json!({"message": aws_sdk_sqs::error::DisplayErrorContext(&err).to_string()}),
                )
            }
        }
    }
    reply(StatusCode::OK, json!(out))
}

/// Puts a raw message body on a queue, exactly as given (for poison-message tests).
async fn send(stack: &Stack, queue: &str, body: Bytes) -> Response<Full<Bytes>> {
    let Some(queue) = stack.queues.iter().find(|q| q.logical_id == queue) else {
        return reply(
            StatusCode::NOT_FOUND,
            json!({"message": format!("no queue {queue} in template.yaml")}),
        );
    };
    let text = String::from_utf8_lossy(&body).into_owned();
    match stack
        .aws
        .sqs()
        .send_message()
        .queue_url(&queue.url)
        .message_body(text)
        .send()
        .await
    {
        Ok(out) => reply(StatusCode::OK, json!({"message_id": out.message_id})),
        Err(err) => reply(
            StatusCode::SERVICE_UNAVAILABLE,
            json!({"message": aws_sdk_sqs::error::DisplayErrorContext(&err).to_string()}),
        ),
    }
}

/// Puts several raw bodies (a JSON array of strings) on a queue in one `SendMessageBatch`, so a
/// poller receives them together.
async fn send_batch(stack: &Stack, queue: &str, body: Bytes) -> Response<Full<Bytes>> {
    use aws_sdk_sqs::types::SendMessageBatchRequestEntry;
    let Some(queue) = stack.queues.iter().find(|q| q.logical_id == queue) else {
        return reply(
            StatusCode::NOT_FOUND,
            json!({"message": format!("no queue {queue} in template.yaml")}),
        );
    };
    let Ok(bodies) = serde_json::from_slice::<Vec<String>>(&body) else {
        return reply(
            StatusCode::BAD_REQUEST,
            json!({"message": "send a JSON array of message bodies"}),
        );
    };
    let entries: Vec<_> = bodies
        .iter()
        .enumerate()
        .filter_map(|(i, body)| {
            SendMessageBatchRequestEntry::builder()
                .id(i.to_string())
                .message_body(body)
                .build()
                .ok()
        })
        .collect();
    match stack
        .aws
        .sqs()
        .send_message_batch()
        .queue_url(&queue.url)
        .set_entries(Some(entries))
        .send()
        .await
    {
        Ok(out) => reply(
            StatusCode::OK,
            json!({"sent": out.successful.len(), "failed": out.failed.len()}),
        ),
        Err(err) => reply(
            StatusCode::SERVICE_UNAVAILABLE,
            json!({"message": aws_sdk_sqs::error::DisplayErrorContext(&err).to_string()}),
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn headers(pairs: &[(&'static str, &'static str)]) -> hyper::HeaderMap {
        pairs
            .iter()
            .map(|(k, v)| {
                (
                    hyper::header::HeaderName::from_static(k),
                    hyper::header::HeaderValue::from_static(v),
                )
            })
            .collect()
    }

    #[test]
    fn only_local_tools_reach_the_admin_api() {
        for host in ["127.0.0.1:9000", "localhost:9000", "[::1]:9000", "localhost"] {
            assert!(allowed(&headers(&[("host", host)])).is_ok(), "{host}");
        }
        for host in ["evil.example:9000", "127.0.0.1.evil.example", ""] {
            assert!(allowed(&headers(&[("host", host)])).is_err(), "{host}");
        }
        let browser = headers(&[("host", "127.0.0.1:9000"), ("origin", "https://evil.example")]);
        assert!(allowed(&browser).is_err());
    }

    #[test]
    fn secrets_are_named_not_shown() {
        assert_eq!(shown("JWT_SECRET", "s3cret"), "(hidden)");
        assert_eq!(shown("FIRST_SUPERUSER_PASSWORD", "changethis"), "(hidden)");
        assert_eq!(shown("TABLE_NAME", "app"), "app");
        assert_eq!(shown("AWS_SECRET_ACCESS_KEY", "testing"), "testing");
    }
}
