//! The DynamoDB single table (see docs/data-model.md) and one implementation of each storage
//! port on it; `memory` holds the in-memory ones for unit tests.

mod api_keys;
pub mod attrs;
mod connections;
mod emails;
mod feed;
mod files;
mod items;
pub mod keys;
pub mod memory;
mod merge;
mod posts;
mod records;
mod sessions;
mod two_factor;
mod users;
mod verifications;

pub use feed::REPLICAS as FEED_REPLICAS;

use attrs::{text, Row};
use aws_sdk_dynamodb::error::{ProvideErrorMetadata, SdkError};
use aws_sdk_dynamodb::operation::transact_write_items::TransactWriteItemsError;
use aws_sdk_dynamodb::types::{AttributeValue, DeleteRequest, KeysAndAttributes, Update, WriteRequest};
use aws_sdk_dynamodb::Client;
use domain::StoreError;

/// Error codes of DynamoDB that mean "try again later", whatever the request.
const RETRYABLE_CODES: &[&str] = &[
    "ProvisionedThroughputExceededException",
    "ThrottlingException",
    "RequestLimitExceeded",
    "LimitExceededException",
    "InternalServerError",
    "ServiceUnavailable",
    "TransactionInProgressException",
];

/// Any SDK failure other than a condition we test for. Throttling, time-outs, connection
/// failures and 5xx answers are `Unavailable` (a retry may work: 503); anything else the table
/// refused is `Refused` — a request we should never have sent (500, logged), never a 503 that
/// would have the client retry the same bad input forever.
pub(crate) fn unavailable<E>(err: SdkError<E, aws_smithy_runtime_api::http::Response>) -> StoreError
where
    E: ProvideErrorMetadata + std::error::Error + 'static,
{
    let failure = crate::aws::SdkFailure::of(&err, RETRYABLE_CODES);
    if failure.retryable {
        StoreError::Unavailable(failure.cause)
    } else {
        StoreError::Refused(failure.cause)
    }
}

/// A conditional write's outcome: `true` when it was made, `false` when its condition did not
/// hold (`ConditionalCheckFailedException`), the classified error otherwise.
pub(crate) fn condition_held<T, E>(
    result: Result<T, SdkError<E, aws_smithy_runtime_api::http::Response>>,
) -> Result<bool, StoreError>
where
    E: ProvideErrorMetadata + std::error::Error + 'static,
{
    match result {
        Ok(_) => Ok(true),
        Err(err) if err.code() == Some("ConditionalCheckFailedException") => Ok(false),
        Err(err) => Err(unavailable(err)),
    }
}

/// The primary key of a row: its `pk` and `sk`.
pub(crate) fn primary_key(pk: String, sk: &str) -> Row {
    Row::from([(keys::PK.to_owned(), text(pk)), (keys::SK.to_owned(), text(sk))])
}

fn corrupt<E: std::fmt::Display>(e: E) -> StoreError {
    StoreError::Corrupt(e.to_string())
}

/// Sends a transaction, retrying briefly when DynamoDB cancels it only because another
/// transaction held one of its items (`TransactionConflict`, which the SDK does not retry):
/// counters are shared by concurrent writers.
///
/// Each send carries a fresh `ClientRequestToken`, which the SDK's own retries (after a time-out
/// or a dropped connection) repeat: if the first attempt committed unseen, DynamoDB answers the
/// retry with success instead of running it again — where the retry's conditions, made false by
/// that very commit, would report "email taken" for one's own signup, or a token reuse for one's
/// own refresh.
pub(crate) async fn send_transaction(
    transaction: aws_sdk_dynamodb::operation::transact_write_items::builders::TransactWriteItemsFluentBuilder,
) -> Result<
    aws_sdk_dynamodb::operation::transact_write_items::TransactWriteItemsOutput,
    SdkError<TransactWriteItemsError, aws_smithy_runtime_api::http::Response>,
> {
    let mut attempt = 0u32;
    loop {
        let token = uuid::Uuid::new_v4().to_string();
        match transaction.clone().client_request_token(token).send().await {
            Err(err) if attempt < 5 && only_conflicts(&err) => {
                attempt += 1;
                let jitter = u64::from(
                    std::time::SystemTime::now()
                        .duration_since(std::time::UNIX_EPOCH)
                        .map(|d| d.subsec_nanos())
                        .unwrap_or(0)
                        % 20,
                );
                tokio::time::sleep(std::time::Duration::from_millis(10 * u64::from(attempt) + jitter)).await;
            }
            other => return other,
        }
    }
}

fn only_conflicts(err: &SdkError<TransactWriteItemsError, aws_smithy_runtime_api::http::Response>) -> bool {
    match err.as_service_error() {
        Some(TransactWriteItemsError::TransactionCanceledException(cancelled)) => {
            let codes: Vec<_> = cancelled
                .cancellation_reasons()
                .iter()
                .filter_map(|r| r.code())
                .collect();
            codes.contains(&"TransactionConflict") && !codes.contains(&"ConditionalCheckFailed")
        }
        _ => false,
    }
}

#[derive(Clone, Debug)]
pub struct Table {
    client: std::sync::Arc<crate::aws::Lazy<Client>>,
    name: String,
}

impl Table {
    pub fn new(client: Client, name: impl Into<String>) -> Self {
        Self {
            client: std::sync::Arc::new(crate::aws::Lazy::ready(client)),
            name: name.into(),
        }
    }

    /// For functions where only some work touches the table (the worker's cleanup jobs).
    pub fn on_first_use(aws: &crate::aws::AwsConfig, name: impl Into<String>) -> Self {
        let client = crate::aws::Lazy::on_first_use(aws);
        Self {
            client: std::sync::Arc::new(client),
            name: name.into(),
        }
    }

    pub fn name(&self) -> &str {
        &self.name
    }

    pub fn client(&self) -> &Client {
        self.client.get_with(crate::aws::AwsConfig::dynamodb)
    }

    pub(crate) async fn get_item(&self, pk: String, sk: &str) -> Result<Option<Row>, StoreError> {
        let out = self
            .client()
            .get_item()
            .table_name(&self.name)
            .key(keys::PK, text(pk))
            .key(keys::SK, text(sk))
            .consistent_read(true)
            .send()
            .await
            .map_err(unavailable)?;
        Ok(out.item)
    }
}

impl Table {
    /// Every row of a partition whose sort key starts with `prefix`, page by page (consistent).
    pub(crate) async fn rows_with_prefix(&self, pk: String, prefix: &str) -> Result<Vec<Row>, StoreError> {
        let mut rows = Vec::new();
        let mut start = None;
        loop {
            let page = self
                .client()
                .query()
                .table_name(self.name())
                .key_condition_expression("#pk = :pk AND begins_with(#sk, :prefix)")
                .expression_attribute_names("#pk", keys::PK)
                .expression_attribute_names("#sk", keys::SK)
                .expression_attribute_values(":pk", text(pk.clone()))
                .expression_attribute_values(":prefix", text(prefix))
                .consistent_read(true)
                .set_exclusive_start_key(start)
                .send()
                .await
                .map_err(unavailable)?;
            rows.extend(page.items.unwrap_or_default());
            match page.last_evaluated_key {
                Some(next) if !next.is_empty() => start = Some(next),
                _ => return Ok(rows),
            }
        }
    }

    /// A query of one partition of an index (`gsi1` or `gsi2`), newest first, after the sort
    /// key `before` when there is one: how every listing reads.
    pub(crate) fn newest_first(
        &self,
        index: &str,
        partition: &str,
        before: Option<&str>,
    ) -> aws_sdk_dynamodb::operation::query::builders::QueryFluentBuilder {
        let (pk_attr, sk_attr) = match index {
            keys::GSI2 => (keys::GSI2_PK, keys::GSI2_SK),
            _ => (keys::GSI1_PK, keys::GSI1_SK),
        };
        let query = self
            .client()
            .query()
            .table_name(self.name())
            .index_name(index)
            .scan_index_forward(false)
            .expression_attribute_names("#pk", pk_attr)
            .expression_attribute_values(":pk", text(partition));
        match before {
            Some(before) => query
                .key_condition_expression("#pk = :pk AND #sk < :before")
                .expression_attribute_names("#sk", sk_attr)
                .expression_attribute_values(":before", text(before)),
            None => query.key_condition_expression("#pk = :pk"),
        }
    }

    /// The transaction's part that adds `delta` to the counter at `key` (created at 0 when absent).
    pub(crate) fn counter_update(&self, key: &str, delta: i64) -> Result<Update, StoreError> {
        Update::builder()
            .table_name(&self.name)
            .key(keys::PK, text(key))
            .key(keys::SK, text(keys::COUNTER_SK))
            .update_expression("ADD #n :delta")
            .expression_attribute_names("#n", "n")
            .expression_attribute_values(":delta", AttributeValue::N(delta.to_string()))
            .build()
            .map_err(corrupt)
    }

    /// The sum of counters kept by `ADD` (one never written is 0): every shard of a sharded
    /// count, or one owner's. Eventually consistent, as the index listing it counts is: a count
    /// may lag a write by the same moment the listing does, and costs half.
    pub(crate) async fn counters_sum(&self, keys: &[String]) -> Result<u64, StoreError> {
        let value = |row: &Row| {
            let n = row.get("n").and_then(|v| v.as_n().ok());
            n.and_then(|n| n.parse::<i64>().ok()).unwrap_or(0)
        };
        let mut sum = 0i64;
        if let [key] = keys {
            let out = self
                .client()
                .get_item()
                .table_name(&self.name)
                .key(keys::PK, text(key))
                .key(keys::SK, text(keys::COUNTER_SK))
                .send()
                .await
                .map_err(unavailable)?;
            sum = out.item.as_ref().map(value).unwrap_or(0);
        } else if !keys.is_empty() {
            let wanted = keys
                .iter()
                .map(|key| primary_key(key.clone(), keys::COUNTER_SK))
                .collect();
            sum = self.batch_get(wanted, false).await?.iter().map(value).sum();
        }
        Ok(sum.max(0) as u64)
    }
}

impl Table {
    /// Rows by primary key, 100 to a `BatchGetItem`; absent rows are left out. Keys the table
    /// hands back unprocessed (throttled) are asked again, a few times.
    pub(crate) async fn batch_get(&self, wanted: Vec<Row>, consistent: bool) -> Result<Vec<Row>, StoreError> {
        let mut rows = Vec::new();
        for chunk in wanted.chunks(100) {
            let mut request = Some(
                KeysAndAttributes::builder()
                    .set_keys(Some(chunk.to_vec()))
                    .consistent_read(consistent)
                    .build()
                    .map_err(corrupt)?,
            );
            let mut attempts = 0;
            while let Some(asked) = request.take() {
                attempts += 1;
                if attempts > 4 {
                    return Err(StoreError::Unavailable("batch read throttled".into()));
                }
                if attempts > 1 {
                    tokio::time::sleep(std::time::Duration::from_millis(20 * attempts)).await;
                }
                let out = self
                    .client()
                    .batch_get_item()
                    .request_items(&self.name, asked)
                    .send()
                    .await
                    .map_err(unavailable)?;
                rows.extend(out.responses.unwrap_or_default().remove(&self.name).unwrap_or_default());
                request = out
                    .unprocessed_keys
                    .unwrap_or_default()
                    .remove(&self.name)
                    .filter(|rest| !rest.keys().is_empty());
            }
        }
        Ok(rows)
    }

    /// Deletes rows by primary key, 25 to a `BatchWriteItem`, unprocessed ones again.
    pub(crate) async fn batch_delete(&self, doomed: Vec<Row>) -> Result<(), StoreError> {
        for chunk in doomed.chunks(25) {
            let mut requests = chunk
                .iter()
                .map(|key| {
                    let delete = DeleteRequest::builder()
                        .set_key(Some(key.clone()))
                        .build()
                        .map_err(corrupt)?;
                    Ok(WriteRequest::builder().delete_request(delete).build())
                })
                .collect::<Result<Vec<_>, StoreError>>()?;
            let mut attempts = 0;
            while !requests.is_empty() {
                attempts += 1;
                if attempts > 4 {
                    return Err(StoreError::Unavailable("batch delete throttled".into()));
                }
                if attempts > 1 {
                    tokio::time::sleep(std::time::Duration::from_millis(20 * attempts)).await;
                }
                let out = self
                    .client()
                    .batch_write_item()
                    .request_items(&self.name, std::mem::take(&mut requests))
                    .send()
                    .await
                    .map_err(unavailable)?;
                requests = out
                    .unprocessed_items
                    .unwrap_or_default()
                    .remove(&self.name)
                    .unwrap_or_default();
            }
        }
        Ok(())
    }
}

/// Which conditions of a cancelled transaction failed, in the order of its operations.
pub(crate) fn cancelled_conditions(
    err: &SdkError<TransactWriteItemsError, aws_smithy_runtime_api::http::Response>,
) -> Option<Vec<bool>> {
    match err.as_service_error() {
        Some(TransactWriteItemsError::TransactionCanceledException(cancelled)) => Some(
            cancelled
                .cancellation_reasons()
                .iter()
                .map(|r| r.code() == Some("ConditionalCheckFailed"))
                .collect(),
        ),
        _ => None,
    }
}

impl domain::ports::Probe for Table {
    fn service(&self) -> &'static str {
        "table"
    }

    /// A cheap, read-only round trip: is the table there and reachable?
    async fn probe(&self) -> Result<(), String> {
        self.client()
            .describe_table()
            .table_name(&self.name)
            .send()
            .await
            .map(|_| ())
            .map_err(|e| unavailable(e).to_string())
    }
}
