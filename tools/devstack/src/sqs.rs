//! The SQS event source mapping, as Lambda runs it: long-poll the queue, invoke the function
//! with a batch, delete what succeeded. With `ReportBatchItemFailures` only the reported records
//! stay; they reappear after the visibility timeout, and SQS moves them to the dead-letter queue
//! once they were received `maxReceiveCount` times. Each mapping runs one invocation at a time,
//! within any `ScalingConfig.MaximumConcurrency` (2 at least); a function fed by two queues (the
//! worker: jobs and emails) has two mappings, which run side by side as on AWS.

use crate::provision::QueueInfo;
use crate::runtime::{Function, InvokeResult};
use aws_sdk_sqs::types::{DeleteMessageBatchRequestEntry, Message, MessageSystemAttributeName};
use bytes::Bytes;
use serde_json::{json, Map, Value};
use std::collections::HashSet;
use std::sync::Arc;
use std::time::Duration;

pub struct Mapping {
    pub queue: QueueInfo,
    pub function: Arc<Function>,
    pub batch_size: i32,
    pub report_batch_item_failures: bool,
}

pub async fn run(mapping: Mapping, client: aws_sdk_sqs::Client) {
    loop {
        let received = client
            .receive_message()
            .queue_url(&mapping.queue.url)
            .max_number_of_messages(mapping.batch_size.clamp(1, 10))
            .wait_time_seconds(1)
            .message_system_attribute_names(MessageSystemAttributeName::All)
            .message_attribute_names("All")
            .send()
            .await;
        let messages = match received {
            Ok(out) => out.messages.unwrap_or_default(),
            Err(_) => {
                // The emulator is down or restarting; Lambda's pollers back off the same way.
                tokio::time::sleep(Duration::from_secs(1)).await;
                continue;
            }
        };
        if messages.is_empty() {
            continue;
        }
        let event = event(&mapping.queue, &messages);
        let result = mapping
            .function
            .invoke_from(&mapping.queue.logical_id, Bytes::from(event.to_string()))
            .await;
        let succeeded = succeeded(&messages, result, mapping.report_batch_item_failures);
        let entries: Vec<_> = messages
            .iter()
            .filter(|m| m.message_id.as_ref().is_some_and(|id| succeeded.contains(id.as_str())))
            .enumerate()
            .filter_map(|(i, m)| {
                DeleteMessageBatchRequestEntry::builder()
                    .id(i.to_string())
                    .receipt_handle(m.receipt_handle.clone()?)
                    .build()
                    .ok()
            })
            .collect();
        if !entries.is_empty() {
            if let Err(err) = client
                .delete_message_batch()
                .queue_url(&mapping.queue.url)
                .set_entries(Some(entries))
                .send()
                .await
            {
                eprintln!(
                    "devstack: deleting processed messages failed: {}",
                    aws_sdk_sqs::error::DisplayErrorContext(&err)
                );
            }
        }
    }
}

/// The ids of the messages to delete after an invocation.
fn succeeded(messages: &[Message], result: InvokeResult, report_failures: bool) -> HashSet<String> {
    let all: HashSet<String> = messages.iter().filter_map(|m| m.message_id.clone()).collect();
    let payload = match result {
        InvokeResult::Ok(payload) => payload,
        other => {
            eprintln!("devstack: batch of {} failed as a whole: {other:?}", messages.len());
            return HashSet::new();
        }
    };
    if !report_failures {
        return all;
    }
    let response: Value = serde_json::from_slice(&payload).unwrap_or(Value::Null);
    let Some(failures) = response.get("batchItemFailures").and_then(Value::as_array) else {
        // Null or an empty object means every record succeeded.
        return if response.is_null() || response.as_object().is_some_and(Map::is_empty) {
            all
        } else {
            HashSet::new()
        };
    };
    let mut failed = HashSet::new();
    for failure in failures {
        match failure.get("itemIdentifier").and_then(Value::as_str) {
            Some(id) if all.contains(id) => {
                failed.insert(id.to_owned());
            }
            // Lambda treats an unknown or empty identifier as a failure of the whole batch.
            _ => return HashSet::new(),
        }
    }
    all.difference(&failed).cloned().collect()
}

fn event(queue: &QueueInfo, messages: &[Message]) -> Value {
    let records: Vec<Value> = messages
        .iter()
        .map(|m| {
            let attributes: Map<String, Value> = m
                .attributes
                .iter()
                .flatten()
                .map(|(k, v)| (k.as_str().to_owned(), json!(v)))
                .collect();
            let message_attributes: Map<String, Value> = m
                .message_attributes
                .iter()
                .flatten()
                .map(|(k, v)| {
                    (
                        k.clone(),
                        json!({
                            "stringValue": v.string_value,
                            "stringListValues": [],
                            "binaryListValues": [],
                            "dataType": v.data_type,
                        }),
                    )
                })
                .collect();
            json!({
                "messageId": m.message_id,
                "receiptHandle": m.receipt_handle,
                "body": m.body,
                "attributes": attributes,
                "messageAttributes": message_attributes,
                "md5OfBody": m.md5_of_body,
                "eventSource": "aws:sqs",
                "eventSourceARN": queue.arn,
                "awsRegion": crate::template::REGION,
            })
        })
        .collect();
    json!({ "Records": records })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn messages() -> Vec<Message> {
        ["a", "b"]
            .iter()
            .map(|id| {
                Message::builder()
                    .message_id(*id)
                    .receipt_handle(format!("r-{id}"))
                    .build()
            })
            .collect()
    }

    fn ok(body: Value) -> InvokeResult {
        InvokeResult::Ok(Bytes::from(body.to_string()))
    }

    #[test]
    fn reported_failures_stay_on_the_queue() {
        let kept = succeeded(
            &messages(),
            ok(json!({"batchItemFailures": [{"itemIdentifier": "b"}]})),
            true,
        );
        assert_eq!(kept, HashSet::from(["a".to_owned()]));
    }

    #[test]
    fn unknown_identifier_fails_the_batch() {
        assert!(succeeded(
            &messages(),
            ok(json!({"batchItemFailures": [{"itemIdentifier": "zzz"}]})),
            true
        )
        .is_empty());
    }

    #[test]
    fn function_error_fails_the_batch_and_empty_response_succeeds() {
        assert!(succeeded(&messages(), InvokeResult::FunctionError(Bytes::new()), true).is_empty());
        assert_eq!(
            succeeded(&messages(), ok(json!({"batchItemFailures": []})), true).len(),
            2
        );
        assert_eq!(succeeded(&messages(), ok(json!(null)), true).len(), 2);
    }
}
