//! Files in the table: listed per owner (GSI1) and all together (GSI2). A file that is not yet
//! final carries `expires_at` (DynamoDB TTL); until TTL removes it, reads skip it once that time
//! has passed. The quota is checked against the owner's live files, and an owner's creates are
//! serialised by a guard record whose version every create bumps.

use super::attrs::{
    get_bool, get_number, get_opt_text, get_parsed, get_required, get_text, get_time, get_uuid, number, text, time, Row,
};
use super::keys::EXPIRES;
use super::{cancelled_conditions, condition_held, corrupt, keys, send_transaction, unavailable, Table};
use aws_sdk_dynamodb::operation::query::QueryOutput;
use aws_sdk_dynamodb::types::{AttributeValue, Put, Select, TransactWriteItem, Update};
use domain::clock::now_secs;
use domain::file::{File, FileScope, FileStatus, FileType, Filename, UploadLimits, Usage};
use domain::ports::{FileCreateError, FileStore};
use domain::{Description, StoreError};
use std::collections::HashMap;
use std::time::Duration;
use uuid::Uuid;

const STATUS: &str = "status";
/// How long a file may stay `processing` (its checks retried) before it expires.
const PROCESSING_TTL_SECS: u64 = 24 * 3600;
/// Creates of one owner retried after losing the guard to a concurrent create.
const CREATE_ATTEMPTS: usize = 4;

fn to_row(file: &File, expires_at: Option<u64>) -> Row {
    let sort_key = file.sort_key();
    let mut row = Row::from([
        (keys::PK.to_owned(), text(keys::file(file.id))),
        (keys::SK.to_owned(), text(keys::FILE_SK)),
        (keys::GSI1_PK.to_owned(), text(keys::owner_files(file.owner_id))),
        (keys::GSI1_SK.to_owned(), text(&sort_key)),
        (keys::GSI2_PK.to_owned(), text(keys::ALL_FILES)),
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

/// The index and partition that list a scope's files.
fn place(scope: &FileScope) -> (&'static str, String) {
    match scope {
        FileScope::All => (keys::GSI2, keys::ALL_FILES.to_owned()),
        FileScope::Owner(owner) => (keys::GSI1, keys::owner_files(*owner)),
    }
}

impl Table {
    async fn query_files(
        &self,
        scope: &FileScope,
        before: Option<&str>,
        start: Option<HashMap<String, AttributeValue>>,
        limit: Option<usize>,
        count_only: bool,
    ) -> Result<QueryOutput, StoreError> {
        let (index, partition) = place(scope);
        let mut query = self
            .newest_first(index, &partition, before)
            .filter_expression(LIVE_FILTER)
            .expression_attribute_names("#exp", EXPIRES)
            .expression_attribute_values(":now", number(now_secs()))
            .set_exclusive_start_key(start);
        if let Some(limit) = limit {
            // The filter drops expired pending files after the limit is applied: read a little more.
            query = query.limit(i32::try_from(limit.max(50)).unwrap_or(i32::MAX).clamp(1, 1000));
        }
        if count_only {
            query = query.select(Select::Count);
        }
        query.send().await.map_err(unavailable)
    }

    /// What an owner keeps now: every live file, counted in files and bytes.
    async fn usage(&self, owner: Uuid) -> Result<Usage, StoreError> {
        let mut usage = Usage::default();
        let mut start = None;
        loop {
            let page = self
                .query_files(&FileScope::Owner(owner), None, start, Some(1000), false)
                .await?;
            for row in page.items.unwrap_or_default() {
                usage.add(&from_row(&row)?);
            }
            match page.last_evaluated_key {
                Some(key) if !key.is_empty() => start = Some(key),
                _ => return Ok(usage),
            }
        }
    }

    /// The version of an owner's upload guard (0 before their first upload).
    async fn quota_guard(&self, owner: Uuid) -> Result<u64, StoreError> {
        let row = self.get_item(keys::file_quota(owner), keys::FILE_QUOTA_SK).await?;
        Ok(row.as_ref().map(|r| get_number(r, "version")).unwrap_or(0))
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
            if !self.usage(file.owner_id).await?.admits(limits, file.size) {
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
                .update_expression("SET #v = :next")
                .condition_expression("attribute_not_exists(pk) OR #v = :read")
                .expression_attribute_names("#v", "version")
                .expression_attribute_values(":read", number(guard))
                .expression_attribute_values(":next", number(guard + 1))
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
        let mut files = Vec::new();
        let mut start = None;
        while files.len() < wanted {
            let page = self
                .query_files(scope, before, start, Some(wanted - files.len()), false)
                .await?;
            for row in page.items.unwrap_or_default() {
                files.push(from_row(&row)?);
            }
            match page.last_evaluated_key {
                Some(key) if !key.is_empty() => start = Some(key),
                _ => break,
            }
        }
        files.truncate(wanted);
        Ok(files)
    }

    async fn count_files(&self, scope: &FileScope) -> Result<u64, StoreError> {
        let mut count = 0;
        let mut start = None;
        loop {
            let page = self.query_files(scope, None, start, None, true).await?;
            count += u64::try_from(page.count).unwrap_or(0);
            match page.last_evaluated_key {
                Some(key) if !key.is_empty() => start = Some(key),
                _ => return Ok(count),
            }
        }
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
