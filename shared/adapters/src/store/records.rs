//! Owned, versioned records (items, posts) in the single table: created with their counters
//! (and optionally an idempotency record) in one transaction; replaced or deleted only if their
//! version is still the one that was read; listed newest first by a sort-key bound, so a cursor
//! is just a sort key.

use super::attrs::{get_number, get_text, number, text, Row};
use super::merge::{self, Partition};
use super::{cancelled_conditions, condition_held, corrupt, keys, send_transaction, unavailable, Table};
use aws_sdk_dynamodb::operation::query::builders::QueryFluentBuilder;
use aws_sdk_dynamodb::operation::transact_write_items::builders::TransactWriteItemsFluentBuilder as Transaction;
use aws_sdk_dynamodb::types::{Delete, Put, TransactWriteItem};
use domain::clock::now_secs;
use domain::ports::Records;
use domain::{Listing, Owned, Remembered, StoreError, WriteError};
use uuid::Uuid;

pub(crate) const VERSION: &str = "version";
/// The attribute a `q` search looks in: lower-cased searchable text.
pub(crate) const SEARCH: &str = "search";
/// How long a create's `Idempotency-Key` is remembered.
pub const IDEMPOTENCY_TTL_SECS: u64 = 24 * 3600;

/// Where a listing source lives: its index partitions (the shards of an "all X" source, one
/// partition otherwise), and the counters whose sum counts it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Place {
    pub partitions: Vec<Partition>,
    pub counters: Vec<String>,
}

/// How one kind of owned record is laid out in the table.
pub(crate) trait TableRow: Owned {
    fn key(id: Uuid) -> (String, &'static str);
    fn to_row(&self) -> Row;
    fn from_row(row: &Row) -> Result<Self, StoreError>;
    /// The counters that count this record in its current state.
    fn counted_in(&self) -> Vec<String>;
    fn place(source: &Self::Source) -> Place;
}

/// The attributes every owned record carries besides its own.
pub(crate) fn base_row<T: TableRow>(record: &T) -> Row {
    let (pk, sk) = T::key(record.id());
    Row::from([
        (keys::PK.to_owned(), text(pk)),
        (keys::SK.to_owned(), text(sk)),
        (keys::GSI1_SK.to_owned(), text(record.sort_key())),
        (VERSION.to_owned(), number(record.version())),
    ])
}

pub(crate) fn version_of(row: &Row) -> u64 {
    get_number(row, VERSION)
}

type CounterDelta = (String, i64);

fn counter_changes<T: TableRow>(before: &T, after: &T) -> Vec<CounterDelta> {
    let (old, new) = (before.counted_in(), after.counted_in());
    let removed = old.iter().filter(|k| !new.contains(k)).map(|k| (k.clone(), -1));
    let added = new.iter().filter(|k| !old.contains(k)).map(|k| (k.clone(), 1));
    removed.chain(added).collect()
}

fn remembered_row(owner: Uuid, collection: &str, remembered: &Remembered) -> Row {
    Row::from([
        (
            keys::PK.to_owned(),
            text(keys::idempotency(owner, collection, &remembered.client_key)),
        ),
        (keys::SK.to_owned(), text(keys::IDEMPOTENCY_SK)),
        ("fingerprint".to_owned(), text(&remembered.fingerprint)),
        ("status".to_owned(), text(remembered.status.to_string())),
        ("body".to_owned(), text(&remembered.body)),
        ("etag".to_owned(), text(&remembered.etag)),
        (keys::EXPIRES.to_owned(), number(now_secs() + IDEMPOTENCY_TTL_SECS)),
    ])
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
            Err(err) => Err(unavailable(err).into()),
        }
    }
}

/// A query narrowed to rows whose searchable text contains `needle`.
fn searching(query: QueryFluentBuilder, needle: &str) -> QueryFluentBuilder {
    query
        .filter_expression("contains(#search, :needle)")
        .expression_attribute_names("#search", SEARCH)
        .expression_attribute_values(":needle", text(needle))
}

impl<T: TableRow> Records<T> for Table {
    async fn get(&self, id: Uuid) -> Result<Option<T>, StoreError> {
        let (pk, sk) = T::key(id);
        self.get_item(pk, sk).await?.map(|row| T::from_row(&row)).transpose()
    }

    async fn list(&self, listing: &Listing<T::Source>, wanted: usize) -> Result<Vec<T>, StoreError> {
        let partitions: Vec<Partition> = listing.sources.iter().flat_map(|s| T::place(s).partitions).collect();
        let search = listing.search.as_deref();
        let rows = self
            .newest_across(
                &partitions,
                listing.before.as_deref(),
                wanted,
                |query, size| match search {
                    // DynamoDB limits the rows a filter reads, not those it keeps: read larger pages.
                    Some(needle) => searching(query, needle).limit(merge::limit(size, 100)),
                    None => query.limit(merge::limit(size, 1)),
                },
            )
            .await?;
        rows.iter().map(T::from_row).collect()
    }

    async fn count(&self, listing: &Listing<T::Source>) -> Result<u64, StoreError> {
        let places = listing.sources.iter().map(T::place);
        match &listing.search {
            Some(needle) => {
                let partitions: Vec<Partition> = places.flat_map(|p| p.partitions).collect();
                self.count_across(&partitions, |query| searching(query, needle)).await
            }
            None => {
                let counters: Vec<String> = places.flat_map(|p| p.counters).collect();
                self.counters_sum(&counters).await
            }
        }
    }

    async fn create(&self, record: &T, remember: Option<&Remembered>) -> Result<(), WriteError> {
        let put = |row: Row| {
            Put::builder()
                .table_name(self.name())
                .set_item(Some(row))
                .condition_expression("attribute_not_exists(pk)")
                .build()
                .map_err(corrupt)
        };
        let counters: Vec<_> = record.counted_in().into_iter().map(|k| (k, 1)).collect();
        let first = TransactWriteItem::builder().put(put(record.to_row())?).build();
        let mut transaction = self.with_counters(first, &counters)?;
        if let Some(remembered) = remember {
            let row = remembered_row(record.owner(), T::COLLECTION, remembered);
            transaction = transaction.transact_items(TransactWriteItem::builder().put(put(row)?).build());
        }
        match send_transaction(transaction).await {
            Ok(_) => Ok(()),
            Err(err) => match cancelled_conditions(&err) {
                Some(failed) if remember.is_some() && failed.last() == Some(&true) => Err(WriteError::KeyTaken),
                Some(failed) if failed.first() == Some(&true) => Err(WriteError::Conflict),
                _ => Err(unavailable(err).into()),
            },
        }
    }

    /// A conditional `PutItem` when no count changes; a transaction with the counters when one
    /// does (publishing or unpublishing a post): half the write units for the common edit.
    async fn replace(&self, current: &T, next: &T) -> Result<(), WriteError> {
        let counters = counter_changes(current, next);
        if counters.is_empty() {
            let result = self
                .client()
                .put_item()
                .table_name(self.name())
                .set_item(Some(next.to_row()))
                .condition_expression("#v = :read")
                .expression_attribute_names("#v", VERSION)
                .expression_attribute_values(":read", number(current.version()))
                .send()
                .await;
            return match condition_held(result)? {
                true => Ok(()),
                false => Err(WriteError::Conflict),
            };
        }
        let put = Put::builder()
            .table_name(self.name())
            .set_item(Some(next.to_row()))
            .condition_expression("#v = :read")
            .expression_attribute_names("#v", VERSION)
            .expression_attribute_values(":read", number(current.version()))
            .build()
            .map_err(corrupt)?;
        self.write_with_counters(TransactWriteItem::builder().put(put).build(), &counters)
            .await
    }

    async fn delete(&self, record: &T, read_version: Option<u64>) -> Result<(), WriteError> {
        let (pk, sk) = T::key(record.id());
        let mut delete = Delete::builder()
            .table_name(self.name())
            .key(keys::PK, text(pk))
            .key(keys::SK, text(sk));
        delete = match read_version {
            Some(version) => delete
                .condition_expression("#v = :read")
                .expression_attribute_names("#v", VERSION)
                .expression_attribute_values(":read", number(version)),
            None => delete.condition_expression("attribute_exists(pk)"),
        };
        let delete = TransactWriteItem::builder()
            .delete(delete.build().map_err(corrupt)?)
            .build();
        let counters: Vec<_> = record.counted_in().into_iter().map(|k| (k, -1)).collect();
        self.write_with_counters(delete, &counters).await
    }

    async fn remembered(&self, owner: Uuid, client_key: &str) -> Result<Option<Remembered>, StoreError> {
        let pk = keys::idempotency(owner, T::COLLECTION, client_key);
        let Some(row) = self.get_item(pk, keys::IDEMPOTENCY_SK).await? else {
            return Ok(None);
        };
        Ok(Some(Remembered {
            owner,
            client_key: client_key.to_owned(),
            fingerprint: get_text(&row, "fingerprint")?.to_owned(),
            status: get_text(&row, "status")?.parse().map_err(corrupt)?,
            body: get_text(&row, "body")?.to_owned(),
            etag: get_text(&row, "etag")?.to_owned(),
        }))
    }
}
