//! Owned, versioned records in the single table: created with their counters (and optionally an
//! idempotency record) in one transaction; replaced or deleted only if their version is still the
//! one that was read; listed newest first by a sort-key bound, so a cursor is just a sort key.

use crate::store::{cancelled_conditions, keys, s, send_transaction, Item, StoreError, Table};
use aws_sdk_dynamodb::operation::transact_write_items::builders::TransactWriteItemsFluentBuilder as Transaction;
use aws_sdk_dynamodb::types::{AttributeValue, Delete, Put, ReturnValue, Select, TransactWriteItem};
use std::collections::HashMap;

pub const VERSION: &str = "version";

/// A counter change that goes with a write: `(counter key, delta)`.
pub type CounterDelta = (String, i64);

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum WriteError {
    /// The record is gone, or another writer changed it since it was read.
    #[error("the record changed or disappeared")]
    Conflict,
    /// The idempotency key was taken by a concurrent request.
    #[error("idempotency key already used")]
    KeyTaken,
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// Where and how to list: an index, its partition, the sort key to continue before, and an
/// optional case-insensitive substring filter on one attribute.
#[derive(Debug, Clone)]
pub struct Listing<'a> {
    pub index: &'static str,
    pub partition: String,
    pub before: Option<String>,
    pub contains: Option<(&'static str, &'a str)>,
}

impl Listing<'_> {
    fn attributes(&self) -> (&'static str, &'static str) {
        match self.index {
            keys::GSI2 => (keys::GSI2_PK, keys::GSI2_SK),
            _ => (keys::GSI1_PK, keys::GSI1_SK),
        }
    }
}

pub fn version_of(item: &Item) -> u64 {
    item.get(VERSION)
        .and_then(|v| v.as_n().ok())
        .and_then(|v| v.parse().ok())
        .unwrap_or(0)
}

fn corrupt<E: std::fmt::Display>(e: E) -> StoreError {
    StoreError::Corrupt(e.to_string())
}

impl Table {
    /// A transaction of `first` followed by the counter changes that go with it.
    fn with_counters(&self, first: TransactWriteItem, counters: &[CounterDelta]) -> Result<Transaction, StoreError> {
        let mut transaction = self.client().transact_write_items().transact_items(first);
        for (key, delta) in counters {
            let update = self.counter_update(key, *delta)?;
            transaction = transaction.transact_items(TransactWriteItem::builder().update(update).build());
        }
        Ok(transaction)
    }

    /// Sends `first` with its counters; `first`'s condition failing is a `Conflict`.
    async fn write_with_counters(&self, first: TransactWriteItem, counters: &[CounterDelta]) -> Result<(), WriteError> {
        match send_transaction(self.with_counters(first, counters)?).await {
            Ok(_) => Ok(()),
            Err(err) if cancelled_conditions(&err).is_some_and(|f| f.first() == Some(&true)) => {
                Err(WriteError::Conflict)
            }
            Err(err) => Err(StoreError::from_sdk(err).into()),
        }
    }

    /// Creates `record` (which must not exist), applies `counters`, and stores `idempotency`
    /// (which must not exist either) — all or nothing.
    pub async fn create_record(
        &self,
        record: Item,
        counters: &[CounterDelta],
        idempotency: Option<Item>,
    ) -> Result<(), WriteError> {
        let put = |item: Item| {
            Put::builder()
                .table_name(self.name())
                .set_item(Some(item))
                .condition_expression("attribute_not_exists(pk)")
                .build()
                .map_err(corrupt)
        };
        let mut transaction = self.with_counters(TransactWriteItem::builder().put(put(record)?).build(), counters)?;
        let has_idempotency = idempotency.is_some();
        if let Some(record) = idempotency {
            transaction = transaction.transact_items(TransactWriteItem::builder().put(put(record)?).build());
        }
        match send_transaction(transaction).await {
            Ok(_) => Ok(()),
            Err(err) => match cancelled_conditions(&err) {
                Some(failed) if has_idempotency && failed.last() == Some(&true) => Err(WriteError::KeyTaken),
                Some(failed) if failed.first() == Some(&true) => Err(WriteError::Conflict),
                _ => Err(StoreError::from_sdk(err).into()),
            },
        }
    }

    pub async fn get_record(&self, pk: String, sk: &str) -> Result<Option<Item>, StoreError> {
        self.get_item(pk, sk).await
    }

    /// Replaces a record if its stored version is still `read_version`.
    pub async fn replace_record(
        &self,
        record: Item,
        read_version: u64,
        counters: &[CounterDelta],
    ) -> Result<(), WriteError> {
        let put = Put::builder()
            .table_name(self.name())
            .set_item(Some(record))
            .condition_expression("#v = :read")
            .expression_attribute_names("#v", VERSION)
            .expression_attribute_values(":read", AttributeValue::N(read_version.to_string()))
            .build()
            .map_err(corrupt)?;
        self.write_with_counters(TransactWriteItem::builder().put(put).build(), counters)
            .await
    }

    /// Deletes a record if its stored version is still `read_version` (any version when `None`),
    /// with its counters. Deleting what is already gone is a `Conflict` and changes no counter.
    pub async fn delete_record(
        &self,
        pk: String,
        sk: &str,
        read_version: Option<u64>,
        counters: &[CounterDelta],
    ) -> Result<(), WriteError> {
        let mut delete = Delete::builder()
            .table_name(self.name())
            .key(keys::PK, s(pk))
            .key(keys::SK, s(sk));
        delete = match read_version {
            Some(version) => delete
                .condition_expression("#v = :read")
                .expression_attribute_names("#v", VERSION)
                .expression_attribute_values(":read", AttributeValue::N(version.to_string())),
            None => delete.condition_expression("attribute_exists(pk)"),
        };
        let delete = TransactWriteItem::builder()
            .delete(delete.build().map_err(corrupt)?)
            .build();
        self.write_with_counters(delete, counters).await
    }

    /// Up to `wanted` rows of a listing, newest first.
    pub async fn list_newest(&self, listing: &Listing<'_>, wanted: usize) -> Result<Vec<Item>, StoreError> {
        let mut rows = Vec::new();
        let mut start = None;
        while rows.len() < wanted {
            let page = self
                .query_listing(listing, start, Some(wanted - rows.len()), false)
                .await?;
            rows.extend(page.items.unwrap_or_default());
            match page.last_evaluated_key {
                Some(key) if !key.is_empty() => start = Some(key),
                _ => break,
            }
        }
        rows.truncate(wanted);
        Ok(rows)
    }

    /// How many rows a filtered listing has (a `Select COUNT` query over its partition).
    pub async fn count_listing(&self, listing: &Listing<'_>) -> Result<u64, StoreError> {
        let mut count = 0;
        let mut start = None;
        loop {
            let page = self.query_listing(listing, start, None, true).await?;
            count += u64::try_from(page.count).unwrap_or(0);
            match page.last_evaluated_key {
                Some(key) if !key.is_empty() => start = Some(key),
                _ => return Ok(count),
            }
        }
    }

    async fn query_listing(
        &self,
        listing: &Listing<'_>,
        start: Option<HashMap<String, AttributeValue>>,
        limit: Option<usize>,
        count_only: bool,
    ) -> Result<aws_sdk_dynamodb::operation::query::QueryOutput, StoreError> {
        let (pk_attr, sk_attr) = listing.attributes();
        let mut query = self
            .client()
            .query()
            .table_name(self.name())
            .index_name(listing.index)
            .scan_index_forward(false)
            .expression_attribute_names("#pk", pk_attr)
            .expression_attribute_values(":pk", s(&listing.partition))
            .set_exclusive_start_key(start);
        query = match &listing.before {
            Some(before) => query
                .key_condition_expression("#pk = :pk AND #sk < :before")
                .expression_attribute_names("#sk", sk_attr)
                .expression_attribute_values(":before", s(before)),
            None => query.key_condition_expression("#pk = :pk"),
        };
        if let Some((attribute, needle)) = listing.contains {
            query = query
                .filter_expression("contains(#search, :needle)")
                .expression_attribute_names("#search", attribute)
                .expression_attribute_values(":needle", s(needle));
        }
        if let Some(limit) = limit {
            // With a filter, DynamoDB limits rows read, not rows matched: read in larger pages.
            let read = if listing.contains.is_some() {
                limit.max(100)
            } else {
                limit
            };
            query = query.limit(i32::try_from(read).unwrap_or(i32::MAX).clamp(1, 1000));
        }
        if count_only {
            query = query.select(Select::Count);
        }
        query.send().await.map_err(StoreError::from_sdk)
    }

    /// The value of a counter kept by `ADD` (0 when it was never written).
    pub async fn counter(&self, key: &str) -> Result<u64, StoreError> {
        let item = self.get_item(key.to_owned(), keys::COUNTER_SK).await?;
        let n = item.as_ref().and_then(|i| i.get("n")).and_then(|v| v.as_n().ok());
        Ok(n.and_then(|n| n.parse::<i64>().ok()).unwrap_or(0).max(0) as u64)
    }

    /// Sets a counter to an exact value (the cascade uses it after removing a user's last rows).
    pub async fn reset_counter(&self, key: &str) -> Result<(), StoreError> {
        self.client()
            .delete_item()
            .table_name(self.name())
            .key(keys::PK, s(key))
            .key(keys::SK, s(keys::COUNTER_SK))
            .return_values(ReturnValue::None)
            .send()
            .await
            .map(|_| ())
            .map_err(StoreError::from_sdk)
    }
}

/// The sort key every owned record carries (`<created_at>#<id>`), whatever index lists it.
pub fn sort_key(item: &Item) -> Option<String> {
    item.get(keys::GSI1_SK).and_then(|v| v.as_s().ok()).cloned()
}

impl Table {
    /// Up to `wanted` rows of several listings merged newest first (posts: the published ones and
    /// the caller's drafts).
    pub async fn merge_newest(&self, listings: &[Listing<'_>], wanted: usize) -> Result<Vec<Item>, StoreError> {
        let mut rows = Vec::new();
        for listing in listings {
            rows.extend(self.list_newest(listing, wanted).await?);
        }
        rows.sort_by_key(|row| std::cmp::Reverse(sort_key(row)));
        rows.truncate(wanted);
        Ok(rows)
    }
}
