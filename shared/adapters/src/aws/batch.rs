//! A batch from an SQS event source, record by record: each succeeds or fails on its own, and
//! only the failed ones are reported (`ReportBatchItemFailures`), so only they return to the
//! queue — and after `maxReceiveCount` receives, go to its dead-letter queue.

use aws_lambda_events::event::sqs::{BatchItemFailure, SqsBatchResponse, SqsMessage};
use std::fmt::Display;

/// The records of one batch that failed. Handle the records in a loop, pass each outcome to
/// [`Failures::check`], and answer with [`Failures::response`].
#[derive(Debug, Default)]
pub struct Failures(SqsBatchResponse);

impl Failures {
    /// The record's value, or `None` when it failed: the failure is logged with the record's
    /// message id and receive count, and reported.
    pub fn check<T, E: Display>(&mut self, record: &SqsMessage, outcome: Result<T, E>) -> Option<T> {
        match outcome {
            Ok(value) => Some(value),
            Err(err) => {
                let message_id = record.message_id.clone().unwrap_or_default();
                tracing::error!(message_id, error = %err, receive_count = receive_count(record), "record failed");
                let mut failure = BatchItemFailure::default();
                failure.item_identifier = message_id;
                self.0.batch_item_failures.push(failure);
                None
            }
        }
    }

    pub fn count(&self) -> usize {
        self.0.batch_item_failures.len()
    }

    /// The answer to SQS: the failed records' ids.
    pub fn response(self) -> SqsBatchResponse {
        self.0
    }
}

/// How many times SQS has handed this record out (1 on the first delivery).
pub fn receive_count(record: &SqsMessage) -> u64 {
    record
        .attributes
        .get("ApproximateReceiveCount")
        .and_then(|n| n.parse().ok())
        .unwrap_or(1)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_the_failed_records_are_reported() {
        let mut failures = Failures::default();
        let mut seen = Vec::new();
        for (i, body) in ["1", "x", "3"].into_iter().enumerate() {
            let mut record = SqsMessage::default();
            record.message_id = Some(format!("m{i}"));
            if let Some(n) = failures.check(&record, body.parse::<u32>()) {
                seen.push(n);
            }
        }
        assert_eq!(seen, [1, 3]);
        let response = failures.response();
        let failed: Vec<_> = response
            .batch_item_failures
            .iter()
            .map(|f| f.item_identifier.as_str())
            .collect();
        assert_eq!(failed, ["m1"]);
    }
}
