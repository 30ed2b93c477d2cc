//! Owned, versioned records (items, posts) in the single table: created with their counters
//! (and optionally an idempotency record) in one transaction; replaced or deleted only if their
//! version is still the one that was read; listed newest first by a sort-key bound, so a cursor
//! is just a sort key.

use super::attrs::{get_number, get_text, number, text, Row};
use super::{cancelled_conditions, corrupt, keys, send_transaction, unavailable, Table};
use aws_sdk_dynamodb::operation::query::QueryOutput;
use aws_sdk_dynamodb::operation::transact_write_items::builders::TransactWriteItemsFluentBuilder as Transaction;
use aws_sdk_dynamodb::types::{AttributeValue, Delete, Put, Select, TransactWriteItem};
use domain::clock::now_secs;
use domain::ports::Records;
use domain::{Listing, Owned, Remembered, StoreError, WriteError};
use std::collections::HashMap;
use uuid::Uuid;

pub(crate) const VERSION: &str = "version";
/// The attribute a `q` search looks in: lower-cased searchable text.
pub(crate) const SEARCH: &str = "search";
/// How long a create's `Idempotency-Key` is remembered.
pub const IDEMPOTENCY_TTL_SECS: u64 = 24 * 3600;

/// Where a listing source lives: an index, its partition, and the counter that counts it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Place {
    pub index: &'static str,
    pub partition: String,
    pub counter: String,
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

    /// Up to `wanted` rows of one place, newest first, before a sort key, optionally filtered.
    async fn list_place(
        &self,
        place: &Place,
        before: Option<&str>,
        search: Option<&str>,
        wanted: usize,
    ) -> Result<Vec<Row>, StoreError> {
        let mut rows = Vec::new();
        let mut start = None;
        while rows.len() < wanted {
            let page = self
                .query_place(place, before, search, start, Some(wanted - rows.len()), false)
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

    /// How many rows of one place match `search` (a `Select COUNT` query over its partition).
    async fn count_place(&self, place: &Place, search: &str) -> Result<u64, StoreError> {
        let mut count = 0;
        let mut start = None;
        loop {
            let page = self.query_place(place, None, Some(search), start, None, true).await?;
            count += u64::try_from(page.count).unwrap_or(0);
            match page.last_evaluated_key {
                Some(key) if !key.is_empty() => start = Some(key),
                _ => return Ok(count),
            }
        }
    }

    async fn query_place(
        &self,
        place: &Place,
        before: Option<&str>,
        search: Option<&str>,
        start: Option<HashMap<String, AttributeValue>>,
        limit: Option<usize>,
        count_only: bool,
    ) -> Result<QueryOutput, StoreError> {
        let mut query = self
            .newest_first(place.index, &place.partition, before)
            .set_exclusive_start_key(start);
        if let Some(needle) = search {
            query = query
                .filter_expression("contains(#search, :needle)")
                .expression_attribute_names("#search", SEARCH)
                .expression_attribute_values(":needle", text(needle));
        }
        if let Some(limit) = limit {
            // With a filter, DynamoDB limits rows read, not rows matched: read in larger pages.
            let read = if search.is_some() { limit.max(100) } else { limit };
            query = query.limit(i32::try_from(read).unwrap_or(i32::MAX).clamp(1, 1000));
        }
        if count_only {
            query = query.select(Select::Count);
        }
        query.send().await.map_err(unavailable)
    }
}

impl<T: TableRow> Records<T> for Table {
    async fn get(&self, id: Uuid) -> Result<Option<T>, StoreError> {
        let (pk, sk) = T::key(id);
        self.get_item(pk, sk).await?.map(|row| T::from_row(&row)).transpose()
    }

    async fn list(&self, listing: &Listing<T::Source>, wanted: usize) -> Result<Vec<T>, StoreError> {
        let mut records = Vec::new();
        for source in &listing.sources {
            let rows = self
                .list_place(
                    &T::place(source),
                    listing.before.as_deref(),
                    listing.search.as_deref(),
                    wanted,
                )
                .await?;
            for row in &rows {
                records.push(T::from_row(row)?);
            }
        }
        if listing.sources.len() > 1 {
            records.sort_by_key(|record| std::cmp::Reverse(record.sort_key()));
        }
        records.truncate(wanted);
        Ok(records)
    }

    async fn count(&self, listing: &Listing<T::Source>) -> Result<u64, StoreError> {
        let mut count = 0;
        for source in &listing.sources {
            let place = T::place(source);
            count += match &listing.search {
                Some(search) => self.count_place(&place, search).await?,
                None => self.counter(&place.counter).await?,
            };
        }
        Ok(count)
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

    async fn replace(&self, current: &T, next: &T) -> Result<(), WriteError> {
        let put = Put::builder()
            .table_name(self.name())
            .set_item(Some(next.to_row()))
            .condition_expression("#v = :read")
            .expression_attribute_names("#v", VERSION)
            .expression_attribute_values(":read", number(current.version()))
            .build()
            .map_err(corrupt)?;
        let counters = counter_changes(current, next);
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
