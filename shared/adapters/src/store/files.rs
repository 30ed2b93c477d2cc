//! Files in the table: listed per owner (GSI1) and all together (GSI2). A file that is not yet
//! final carries `expires_at` (DynamoDB TTL); until TTL removes it, reads skip it once that time
//! has passed. The quota is checked against the owner's live files, and an owner's creates are
//! serialised by a guard record whose version every create bumps. The owner's files are read
//! from an index, which DynamoDB updates after the write (eventually consistent): the guard also
//! keeps the creates of the last minute, and one the index does not show yet is read from the
//! table and counted.

use super::attrs::{
    get_bool, get_number, get_opt_text, get_parsed, get_required, get_text, get_time, get_uuid, number, text, time, Row,
};
use super::keys::EXPIRES;
use super::merge::{self, Partition};
use super::{cancelled_conditions, condition_held, corrupt, keys, send_transaction, unavailable, Table};
use aws_sdk_dynamodb::operation::query::builders::QueryFluentBuilder;
use aws_sdk_dynamodb::operation::query::QueryOutput;
use aws_sdk_dynamodb::types::{AttributeValue, Put, TransactWriteItem, Update};
use domain::clock::now_secs;
use domain::file::{File, FileScope, FileStatus, FileType, Filename, UploadLimits, Usage};
use domain::ports::{FileCreateError, FileStore};
use domain::{Description, StoreError};
use std::collections::HashMap;
use std::time::Duration;
use uuid::Uuid;

const STATUS: &str = "status";
/// The upload's object version that the file checks (`File::upload_version`).
const UPLOAD_VERSION: &str = "upload_version";
/// How long a file may stay `processing` (its checks retried) before it expires.
const PROCESSING_TTL_SECS: u64 = 24 * 3600;
/// Creates of one owner retried after losing the guard to a concurrent create.
const CREATE_ATTEMPTS: usize = 4;
/// The guard's map of recent creates: file id → epoch seconds of the create.
const RECENT: &str = "recent";
/// How long a create stays on the guard: far longer than a global secondary index takes to show
/// a write (typically under a second).
const INDEX_LAG_SECS: u64 = 60;

/// An owner's upload guard: its version, and the creates of the last [`INDEX_LAG_SECS`].
#[derive(Debug, Default)]
struct Guard {
    version: u64,
    recent: Vec<(Uuid, u64)>,
}

impl Guard {
    fn from_row(row: Option<&Row>) -> Self {
        let Some(row) = row else {
            return Self::default();
        };
        let recent = row
            .get(RECENT)
            .and_then(|map| map.as_m().ok())
            .into_iter()
            .flatten()
            .filter_map(|(id, at)| {
                let id = Uuid::parse_str(id).ok()?;
                let at = at.as_n().ok()?.parse().ok()?;
                Some((id, at))
            })
            .collect();
        Self {
            version: get_number(row, "version"),
            recent,
        }
    }

    /// The creates still within the index's lag at `now`.
    fn within_lag(&self, now: u64) -> impl Iterator<Item = &(Uuid, u64)> {
        self.recent.iter().filter(move |(_, at)| at + INDEX_LAG_SECS > now)
    }

    /// The map the guard keeps after a create of `id` at `now`: the recent ones, and it.
    fn recent_after(&self, id: Uuid, now: u64) -> AttributeValue {
        let mut map: HashMap<String, AttributeValue> = self
            .within_lag(now)
            .map(|(id, at)| (id.to_string(), number(*at)))
            .collect();
        map.insert(id.to_string(), number(now));
        AttributeValue::M(map)
    }
}

fn to_row(file: &File, expires_at: Option<u64>) -> Row {
    let sort_key = file.sort_key();
    let mut row = Row::from([
        (keys::PK.to_owned(), text(keys::file(file.id))),
        (keys::SK.to_owned(), text(keys::FILE_SK)),
        (keys::GSI1_PK.to_owned(), text(keys::owner_files(file.owner_id))),
        (keys::GSI1_SK.to_owned(), text(&sort_key)),
        (
            keys::GSI2_PK.to_owned(),
            text(keys::sharded(keys::ALL_FILES, keys::shard(file.id))),
        ),
        (keys::GSI2_SK.to_owned(), text(sort_key)),
        ("id".to_owned(), text(file.id.to_string())),
        ("owner_id".to_owned(), text(file.owner_id.to_string())),
        ("filename".to_owned(), text(file.filename.as_str())),
        ("content_type".to_owned(), text(file.file_type.mime())),
        ("size".to_owned(), number(file.size)),
        (STATUS.to_owned(), text(file.status.as_str())),
        ("has_thumbnail".to_owned(), AttributeValue::Bool(file.has_thumbnail)),
        ("created_at".to_owned(), time(file.created_at)),
        ("updated_at".to_owned(), time(file.updated_at)),
    ]);
    if let Some(description) = &file.description {
        row.insert("description".to_owned(), text(description.as_str()));
    }
    if let Some(reason) = &file.reason {
        row.insert("reason".to_owned(), text(reason));
    }
    if let Some(at) = expires_at {
        row.insert(EXPIRES.to_owned(), number(at));
    }
    if let Some(version) = &file.upload_version {
        row.insert(UPLOAD_VERSION.to_owned(), text(version));
    }
    row
}

fn from_row(row: &Row) -> Result<File, StoreError> {
    Ok(File {
        id: get_uuid(row, "id")?,
        owner_id: get_uuid(row, "owner_id")?,
        filename: Filename::from_stored(get_text(row, "filename")?.to_owned()),
        file_type: get_required(row, "content_type", |m| FileType::from_mime(m).ok_or(()))?,
        size: get_number(row, "size"),
        description: get_parsed(row, "description", Description::parse)?,
        status: get_required(row, STATUS, |raw| FileStatus::parse(raw).ok_or(()))?,
        reason: get_opt_text(row, "reason").map(str::to_owned),
        has_thumbnail: get_bool(row, "has_thumbnail", false),
        created_at: get_time(row, "created_at")?,
        updated_at: get_time(row, "updated_at")?,
        upload_version: get_opt_text(row, UPLOAD_VERSION).map(str::to_owned),
    })
}

/// Whether a stored row is still a file: final, or not yet past its `expires_at`.
fn live(row: &Row, now: u64) -> bool {
    row.get(EXPIRES)
        .and_then(|v| v.as_n().ok())
        .and_then(|v| v.parse::<u64>().ok())
        .is_none_or(|at| at > now)
}

/// The query filter of [`live`].
const LIVE_FILTER: &str = "attribute_not_exists(#exp) OR #exp > :now";

/// The index partitions that list a scope's files: the shards of all files, or one owner's.
fn partitions(scope: &FileScope) -> Vec<Partition> {
    match scope {
        FileScope::All => Partition::shards(keys::GSI2, keys::ALL_FILES),
        FileScope::Owner(owner) => vec![Partition::gsi1(keys::owner_files(*owner))],
    }
}

/// A query narrowed to live files.
fn live_only(query: QueryFluentBuilder) -> QueryFluentBuilder {
    query
        .filter_expression(LIVE_FILTER)
        .expression_attribute_names("#exp", EXPIRES)
        .expression_attribute_values(":now", number(now_secs()))
}

impl Table {
    /// One page of an owner's live files, from `start`.
    async fn owner_files(
        &self,
        owner: Uuid,
        start: Option<HashMap<String, AttributeValue>>,
    ) -> Result<QueryOutput, StoreError> {
        live_only(self.newest_first(keys::GSI1, &keys::owner_files(owner), None))
            .set_exclusive_start_key(start)
            .limit(1000)
            .send()
            .await
            .map_err(unavailable)
    }

    /// What an owner keeps now: every live file, counted in files and bytes — those the index
    /// shows, and the guard's recent creates it does not show yet, read from the table.
    async fn usage(&self, owner: Uuid, guard: &Guard) -> Result<Usage, StoreError> {
        let mut usage = Usage::default();
        let mut seen = std::collections::HashSet::new();
        let mut start = None;
        loop {
            let page = self.owner_files(owner, start).await?;
            for row in page.items.unwrap_or_default() {
                let file = from_row(&row)?;
                seen.insert(file.id);
                usage.add(&file);
            }
            match page.last_evaluated_key {
                Some(key) if !key.is_empty() => start = Some(key),
                _ => break,
            }
        }
        for (id, _) in guard.within_lag(now_secs()) {
            if !seen.contains(id) {
                if let Some(file) = self.get_file(*id).await? {
                    usage.add(&file);
                }
            }
        }
        Ok(usage)
    }

    /// An owner's upload guard (version 0 and no recent creates before their first upload).
    async fn quota_guard(&self, owner: Uuid) -> Result<Guard, StoreError> {
        let row = self.get_item(keys::file_quota(owner), keys::FILE_QUOTA_SK).await?;
        Ok(Guard::from_row(row.as_ref()))
    }
}

impl FileStore for Table {
    async fn get_file(&self, id: Uuid) -> Result<Option<File>, StoreError> {
        let row = self.get_item(keys::file(id), keys::FILE_SK).await?;
        row.filter(|row| live(row, now_secs()))
            .map(|row| from_row(&row))
            .transpose()
    }

    async fn create_file(
        &self,
        file: &File,
        limits: &UploadLimits,
        pending_ttl: Duration,
    ) -> Result<(), FileCreateError> {
        let expires_at = now_secs() + pending_ttl.as_secs();
        for _ in 0..CREATE_ATTEMPTS {
            let guard = self.quota_guard(file.owner_id).await?;
            if !self.usage(file.owner_id, &guard).await?.admits(limits, file.size) {
                return Err(FileCreateError::QuotaExceeded);
            }
            let put = Put::builder()
                .table_name(self.name())
                .set_item(Some(to_row(file, Some(expires_at))))
                .condition_expression("attribute_not_exists(pk)")
                .build()
                .map_err(corrupt)?;
            let bump = Update::builder()
                .table_name(self.name())
                .key(keys::PK, text(keys::file_quota(file.owner_id)))
                .key(keys::SK, text(keys::FILE_QUOTA_SK))
                .update_expression("SET #v = :next, #recent = :recent")
                .condition_expression("attribute_not_exists(pk) OR #v = :read")
                .expression_attribute_names("#v", "version")
                .expression_attribute_names("#recent", RECENT)
                .expression_attribute_values(":read", number(guard.version))
                .expression_attribute_values(":next", number(guard.version + 1))
                .expression_attribute_values(":recent", guard.recent_after(file.id, now_secs()))
                .build()
                .map_err(corrupt)?;
            let transaction = self
                .client()
                .transact_write_items()
                .transact_items(TransactWriteItem::builder().put(put).build())
                .transact_items(TransactWriteItem::builder().update(bump).build());
            match send_transaction(transaction).await {
                Ok(_) => return Ok(()),
                // Another create of this owner committed since the guard was read: count again.
                Err(err) if cancelled_conditions(&err).is_some_and(|f| f.get(1) == Some(&true)) => continue,
                Err(err) => return Err(unavailable(err).into()),
            }
        }
        Err(StoreError::Conflict.into())
    }

    async fn list_files(
        &self,
        scope: &FileScope,
        before: Option<&str>,
        wanted: usize,
    ) -> Result<Vec<File>, StoreError> {
        // The filter drops expired pending files after the limit is applied: read a little more.
        let rows = self
            .newest_across(&partitions(scope), before, wanted, |query, size| {
                live_only(query).limit(merge::limit(size, 50))
            })
            .await?;
        rows.iter().map(from_row).collect()
    }

    async fn count_files(&self, scope: &FileScope) -> Result<u64, StoreError> {
        self.count_across(&partitions(scope), live_only).await
    }

    async fn transition_file(&self, next: &File, from: FileStatus) -> Result<bool, StoreError> {
        let expires_at = match next.status {
            FileStatus::Pending | FileStatus::Processing => Some(now_secs() + PROCESSING_TTL_SECS),
            FileStatus::Ready | FileStatus::Rejected => None,
        };
        let result = self
            .client()
            .put_item()
            .table_name(self.name())
            .set_item(Some(to_row(next, expires_at)))
            .condition_expression("attribute_exists(pk) AND #st = :from")
            .expression_attribute_names("#st", STATUS)
            .expression_attribute_values(":from", text(from.as_str()))
            .send()
            .await;
        condition_held(result)
    }

    async fn delete_file(&self, file: &File) -> Result<bool, StoreError> {
        let result = self
            .client()
            .delete_item()
            .table_name(self.name())
            .key(keys::PK, text(keys::file(file.id)))
            .key(keys::SK, text(keys::FILE_SK))
            .condition_expression("attribute_exists(pk)")
            .send()
            .await;
        condition_held(result)
    }

    async fn forget_uploader(&self, owner: Uuid) -> Result<(), StoreError> {
        self.client()
            .delete_item()
            .table_name(self.name())
            .key(keys::PK, text(keys::file_quota(owner)))
            .key(keys::SK, text(keys::FILE_QUOTA_SK))
            .send()
            .await
            .map(|_| ())
            .map_err(unavailable)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use domain::file::NewUpload;

    #[test]
    fn the_guard_keeps_the_creates_of_the_last_minute() {
        let (old, young, new) = (Uuid::new_v4(), Uuid::new_v4(), Uuid::new_v4());
        let guard = Guard {
            version: 3,
            recent: vec![(old, 1_000), (young, 1_050)],
        };
        let AttributeValue::M(kept) = guard.recent_after(new, 1_070) else {
            panic!("a map")
        };
        let mut ids: Vec<_> = kept.keys().cloned().collect();
        ids.sort();
        let mut expected = vec![young.to_string(), new.to_string()];
        expected.sort();
        assert_eq!(ids, expected, "the create of 70 s ago is dropped");
        let row = Row::from([
            ("version".to_owned(), number(4)),
            (RECENT.to_owned(), AttributeValue::M(kept)),
        ]);
        let read = Guard::from_row(Some(&row));
        assert_eq!(read.version, 4);
        assert_eq!(read.within_lag(1_071).count(), 2);
        assert_eq!(read.within_lag(1_110).map(|(id, _)| *id).collect::<Vec<_>>(), [new]);
        assert_eq!(Guard::from_row(None).version, 0);
    }

    #[test]
    fn files_round_trip_through_the_table_format() {
        let limits = UploadLimits {
            max_size: 100,
            quota_files: 1,
            quota_bytes: 100,
        };
        let upload = NewUpload {
            filename: Filename::parse("cat.png").unwrap(),
            content_type: "image/png".into(),
            size: 42,
            description: Some(Description::parse("a cat").unwrap()),
        };
        let file = File::announce(Uuid::new_v4(), upload, &limits).unwrap();
        let row = to_row(&file, Some(7));
        assert_eq!(from_row(&row).unwrap(), file);
        assert!(!live(&row, 7));
        assert!(live(&row, 6));
        let settled = file.settled(&domain::file::Outcome::Rejected("no".into()));
        let row = to_row(&settled, None);
        assert_eq!(from_row(&row).unwrap(), settled);
        assert!(live(&row, u64::MAX));
    }
}
