//! Listings that read several index partitions at once — the shards of an "all X" partition,
//! or a feed's published posts beside the caller's drafts — merged newest first.
//!
//! Each partition is queried newest first, a page at a time, all of them in parallel. A row is
//! settled once no partition can still hold a newer one: every partition that is not exhausted
//! has been read down to a sort key below it. The listing is done when `wanted` rows are
//! settled; until then only the partitions whose unread rows could still be among them are read
//! further. Records spread evenly over the shards (the shard is a hash of the id), so a listing
//! reads little more than `wanted` rows in all, however many shards there are.

use super::attrs::Row;
use super::{keys, unavailable, Table};
use aws_sdk_dynamodb::operation::query::builders::QueryFluentBuilder;
use aws_sdk_dynamodb::types::{AttributeValue, Select};
use domain::StoreError;
use std::collections::HashMap;
use std::future::Future;

/// One partition of one index.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Partition {
    pub index: &'static str,
    pub key: String,
}

impl Partition {
    pub fn gsi1(key: impl Into<String>) -> Self {
        Self {
            index: keys::GSI1,
            key: key.into(),
        }
    }

    /// Every shard of a sharded partition of `index`.
    pub fn shards(index: &'static str, base: &str) -> Vec<Self> {
        keys::shards(base).into_iter().map(|key| Self { index, key }).collect()
    }

    fn sort_attribute(&self) -> &'static str {
        match self.index {
            keys::GSI2 => keys::GSI2_SK,
            _ => keys::GSI1_SK,
        }
    }
}

/// One page of one partition: its rows with their sort keys, newest first, and where the
/// partition continues (the sort key of the last row it evaluated, and the query's start key),
/// `None` when it is exhausted.
pub(crate) struct Page<R, K> {
    pub rows: Vec<(String, R)>,
    pub next: Option<(String, K)>,
}

/// How many rows to ask each of `partitions` for, to fill `wanted` in one round when the rows
/// are spread evenly: an even share and a quarter more.
fn page_size(wanted: usize, partitions: usize) -> usize {
    let share = wanted.div_ceil(partitions.max(1));
    share + share / 4 + 1
}

struct Cursor<K> {
    /// Sort key below which the partition is unread, and where its next page starts.
    next: Option<(String, K)>,
    started: bool,
}

/// Up to `wanted` rows of `partitions` partitions, newest first: `fetch(partition, start,
/// limit)` reads one page of one partition.
pub(crate) async fn newest_first<R, K, F, Fut>(partitions: usize, wanted: usize, fetch: F) -> Result<Vec<R>, StoreError>
where
    F: Fn(usize, Option<K>, usize) -> Fut,
    Fut: Future<Output = Result<Page<R, K>, StoreError>>,
    K: Clone,
{
    let mut cursors: Vec<Cursor<K>> = (0..partitions)
        .map(|_| Cursor {
            next: None,
            started: false,
        })
        .collect();
    let mut rows: Vec<(String, R)> = Vec::new();
    let size = page_size(wanted, partitions);
    if wanted == 0 {
        return Ok(Vec::new());
    }
    loop {
        // The partitions to read now: those never read, and those not exhausted whose unread
        // rows may still be newer than the `wanted`-th row read so far.
        let cutoff = (rows.len() >= wanted).then(|| rows[wanted - 1].0.clone());
        let reads: Vec<usize> = cursors
            .iter()
            .enumerate()
            .filter(|(_, c)| match (&c.next, &cutoff) {
                _ if !c.started => true,
                (None, _) => false,
                (Some(_), None) => true,
                (Some((frontier, _)), Some(cutoff)) => frontier > cutoff,
            })
            .map(|(i, _)| i)
            .collect();
        if reads.is_empty() {
            break;
        }
        let pages = futures_util::future::try_join_all(reads.iter().map(|&i| {
            let start = cursors[i].next.as_ref().map(|(_, key)| key.clone());
            fetch(i, start, size)
        }))
        .await?;
        for (&i, page) in reads.iter().zip(pages) {
            cursors[i].started = true;
            cursors[i].next = page.next;
            rows.extend(page.rows);
        }
        rows.sort_by(|a, b| b.0.cmp(&a.0));
    }
    rows.truncate(wanted);
    Ok(rows.into_iter().map(|(_, row)| row).collect())
}

type Key = HashMap<String, AttributeValue>;

impl Table {
    /// Up to `wanted` rows of `partitions`, newest first, before the sort key `before`. `shape`
    /// adds a query's filter, given the query and the page size it is asked for (it sets the
    /// query's `Limit`, larger than the page when a filter drops rows after they are read).
    pub(crate) async fn newest_across(
        &self,
        partitions: &[Partition],
        before: Option<&str>,
        wanted: usize,
        shape: impl Fn(QueryFluentBuilder, usize) -> QueryFluentBuilder,
    ) -> Result<Vec<Row>, StoreError> {
        newest_first(partitions.len(), wanted, |i, start: Option<Key>, size| {
            let partition = &partitions[i];
            let query = shape(
                self.newest_first(partition.index, &partition.key, before)
                    .set_exclusive_start_key(start),
                size,
            );
            async move {
                let out = query.send().await.map_err(unavailable)?;
                let attribute = partition.sort_attribute();
                let rows = out
                    .items
                    .unwrap_or_default()
                    .into_iter()
                    .map(|row| (sort_key(&row, attribute), row))
                    .collect();
                let next = out
                    .last_evaluated_key
                    .filter(|key| !key.is_empty())
                    .map(|key| (sort_key(&key, attribute), key));
                Ok(Page { rows, next })
            }
        })
        .await
    }

    /// How many rows of `partitions` a filtered query keeps: a `Select COUNT` query over each,
    /// in parallel.
    pub(crate) async fn count_across(
        &self,
        partitions: &[Partition],
        filter: impl Fn(QueryFluentBuilder) -> QueryFluentBuilder,
    ) -> Result<u64, StoreError> {
        let counts = futures_util::future::try_join_all(partitions.iter().map(|partition| {
            let filter = &filter;
            async move {
                let mut count = 0;
                let mut start = None;
                loop {
                    let query = self
                        .newest_first(partition.index, &partition.key, None)
                        .set_exclusive_start_key(start)
                        .select(Select::Count);
                    let page = filter(query).send().await.map_err(unavailable)?;
                    count += u64::try_from(page.count).unwrap_or(0);
                    match page.last_evaluated_key {
                        Some(key) if !key.is_empty() => start = Some(key),
                        _ => return Ok::<_, StoreError>(count),
                    }
                }
            }
        }))
        .await?;
        Ok(counts.into_iter().sum())
    }
}

fn sort_key(row: &Row, attribute: &str) -> String {
    row.get(attribute)
        .and_then(|v| v.as_s().ok())
        .cloned()
        .unwrap_or_default()
}

/// A `Limit` for a query asked for `size` rows, reading `at_least` when a filter drops rows.
pub(crate) fn limit(size: usize, at_least: usize) -> i32 {
    i32::try_from(size.max(at_least)).unwrap_or(i32::MAX).clamp(1, 1000)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::cell::RefCell;

    /// Partitions in memory: each a list of sort keys, newest first; `keep` is a filter applied
    /// after a page is read, as DynamoDB's `FilterExpression` is.
    struct Fake {
        partitions: Vec<Vec<String>>,
        keep: fn(&str) -> bool,
        read: RefCell<usize>,
        queries: RefCell<usize>,
    }

    impl Fake {
        fn new(partitions: Vec<Vec<String>>) -> Self {
            Self {
                partitions,
                keep: |_| true,
                read: RefCell::new(0),
                queries: RefCell::new(0),
            }
        }

        async fn list(&self, wanted: usize) -> Vec<String> {
            newest_first(self.partitions.len(), wanted, |i, start: Option<usize>, size| {
                let rows = &self.partitions[i];
                let from = start.unwrap_or(0);
                let to = (from + size).min(rows.len());
                *self.read.borrow_mut() += to - from;
                *self.queries.borrow_mut() += 1;
                let page = Page {
                    rows: rows[from..to]
                        .iter()
                        .filter(|k| (self.keep)(k))
                        .map(|k| (k.clone(), k.clone()))
                        .collect(),
                    next: (to < rows.len()).then(|| (rows[to - 1].clone(), to)),
                };
                async move { Ok(page) }
            })
            .await
            .unwrap()
        }

        fn expected(&self, wanted: usize) -> Vec<String> {
            let mut all: Vec<String> = self
                .partitions
                .iter()
                .flatten()
                .filter(|k| (self.keep)(k))
                .cloned()
                .collect();
            all.sort_by(|a, b| b.cmp(a));
            all.truncate(wanted);
            all
        }
    }

    /// `n` sort keys spread over `shards` partitions by a hash, newest first in each.
    fn spread(n: usize, shards: usize) -> Vec<Vec<String>> {
        let mut partitions = vec![Vec::new(); shards];
        for i in 0..n {
            let key = format!("{i:06}");
            let shard = (i.wrapping_mul(2_654_435_761) >> 7) % shards;
            partitions[shard].push(key);
        }
        for p in &mut partitions {
            p.sort_by(|a, b| b.cmp(a));
        }
        partitions
    }

    #[tokio::test]
    async fn the_merge_is_the_newest_rows_of_all_partitions() {
        for (n, shards, wanted) in [
            (0, 4, 10),
            (7, 4, 100),
            (500, 4, 100),
            (500, 4, 1),
            (500, 1, 20),
            (300, 3, 299),
        ] {
            let fake = Fake::new(spread(n, shards));
            assert_eq!(
                fake.list(wanted).await,
                fake.expected(wanted),
                "{n} rows, {shards} shards, {wanted}"
            );
        }
    }

    #[tokio::test]
    async fn a_partition_holding_every_newest_row_is_read_further() {
        let mut partitions = vec![(0..200).rev().map(|i| format!("b{i:03}")).collect::<Vec<_>>()];
        partitions.extend((0..3).map(|s| (0..50).rev().map(|i| format!("a{s}{i:03}")).collect()));
        let fake = Fake::new(partitions);
        assert_eq!(fake.list(100).await, fake.expected(100));
    }

    #[tokio::test]
    async fn filtered_rows_are_skipped_and_the_partition_continues_after_them() {
        let mut fake = Fake::new(spread(400, 4));
        fake.keep = |k| k.ends_with('7');
        assert_eq!(fake.list(25).await, fake.expected(25));
    }

    #[tokio::test]
    async fn an_even_spread_is_read_in_one_round_of_little_more_than_wanted() {
        let fake = Fake::new(spread(10_000, 4));
        assert_eq!(fake.list(100).await, fake.expected(100));
        assert!(*fake.read.borrow() <= 140, "read {} rows for 100", fake.read.borrow());
        assert!(*fake.queries.borrow() <= 6, "{} queries", fake.queries.borrow());
    }
}
