//! `thumbnails`: processes uploads. S3 notifies the files queue of every object created under
//! `uploads/`; for each, this function reads the bytes, checks their real type against the
//! declared one (a mismatch deletes the object and marks the file `rejected` with the reason),
//! makes a thumbnail of images, keeps the accepted bytes under `files/` and marks the file
//! `ready`. Each SQS record succeeds or fails on its own (partial batch failures).
//!
//! An upload form is good for one object. Each event names the object's version; the first
//! delivery to move the file to `processing` claims its version, which is the one read, checked,
//! copied (by version: bytes POSTed to the key since are never kept) and then deleted by version.
//! Any other version of the key — the form POSTed again — is deleted unread.
//!
//! Retries are safe: a file already final is left alone, the thumbnail and the kept copy are
//! written at fixed keys (a second run overwrites the same object), and the state changes only
//! if it is still the one this run started from — one state change, however many deliveries.

pub mod jpeg_dc;
pub mod thumbnail;

pub use domain::file::FileType;

use adapters::aws::batch::Failures;
use adapters::aws::{AwsConfig, Bucket, SqsQueue};
use adapters::store::Table;
use aws_lambda_events::event::sqs::{SqsBatchResponse, SqsEvent, SqsMessage};
use contract::files::FilePublic;
use domain::config::{ConfigError, Env};
use domain::file::{check_content, objects, File, FileStatus, Outcome, UploadLimits};
use domain::ports::{FileStore, Notifier, ObjectError, ObjectStore};
use domain::realtime::Event;
use domain::StoreError;
use serde::Deserialize;
use thumbnail::DecodeLimits;

#[derive(Debug, thiserror::Error)]
pub enum ProcessError {
    #[error("not an S3 event: {0}")]
    Malformed(String),
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error(transparent)]
    Bucket(#[from] ObjectError),
    #[error("the upload {0} is not in the bucket (yet)")]
    Missing(String),
}

/// What became of one upload.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Done {
    Settled(Outcome),
    /// Another delivery of the same upload settled it first, or had already.
    AlreadySettled,
    /// The upload form was POSTed again: that version is deleted unread (a form is good for one
    /// object), and the file stays as its first upload makes it.
    Reupload,
    /// No file waits for these bytes (deleted, expired, or never announced): they were removed.
    Stray,
}

pub struct Processor<S, B, N> {
    store: S,
    bucket: B,
    /// The owner hears of the outcome (`file.ready` / `file.rejected`) on their WebSockets.
    notifier: N,
    limits: UploadLimits,
    decode: DecodeLimits,
}

impl Processor<Table, Bucket, SqsQueue> {
    pub fn from_env(env: &impl Env) -> Result<Self, ConfigError> {
        let aws = AwsConfig::from_env(env)?;
        let store = Table::new(aws.dynamodb(), env.required("TABLE_NAME")?);
        let bucket = Bucket::new(&aws, env.required("BUCKET_NAME")?);
        let limits = domain::file::UploadLimits::from_env(env)?;
        let notifier = SqsQueue::new(&aws, env.required("JOBS_QUEUE_URL")?)
            .with_notifications(env.required("NOTIFICATIONS_QUEUE_URL")?);
        Ok(Self::new(store, bucket, notifier, limits))
    }
}

/// The parts of an S3 event notification this function reads: the event's name and the object's
/// key and version. Not `aws_lambda_events`' `S3Event`: its records require `userIdentity` and
/// `requestParameters`, which the local emulator's notifications leave out (moto 5.2), and it
/// links chrono and the http crates into a function that uses neither.
#[derive(Debug, Deserialize)]
struct S3Notification {
    #[serde(rename = "Records", default)]
    records: Vec<S3Record>,
    /// `s3:TestEvent`, which S3 sends once when the notification is configured.
    #[serde(rename = "Event")]
    event: Option<String>,
}

#[derive(Debug, Deserialize)]
struct S3Record {
    #[serde(rename = "eventName")]
    event_name: String,
    s3: S3Entity,
}

#[derive(Debug, Deserialize)]
struct S3Entity {
    object: S3Object,
}

#[derive(Debug, Deserialize)]
struct S3Object {
    key: String,
    /// Present when the bucket keeps versions (the template's does).
    #[serde(rename = "versionId", default)]
    version_id: Option<String>,
}

/// Keys arrive URL-encoded, spaces as `+`.
fn decode_key(raw: &str) -> String {
    percent_encoding::percent_decode_str(&raw.replace('+', " "))
        .decode_utf8_lossy()
        .into_owned()
}

impl<S: FileStore, B: ObjectStore, N: Notifier> Processor<S, B, N> {
    pub fn new(store: S, bucket: B, notifier: N, limits: UploadLimits) -> Self {
        Self {
            store,
            bucket,
            notifier,
            limits,
            decode: DecodeLimits::default(),
        }
    }

    pub async fn handle_batch(&self, event: SqsEvent) -> SqsBatchResponse {
        telemetry::metrics::invocation_started();
        let mut failures = Failures::default();
        let mut made = 0;
        for record in &event.records {
            if let Some(done) = failures.check(record, self.handle_record(record).await) {
                made += done
                    .iter()
                    .filter(|d| **d == Done::Settled(Outcome::Ready { thumbnail: true }))
                    .count() as u32;
                tracing::info!(message_id = record.message_id.as_deref(), ?done, "uploads processed");
            }
        }
        telemetry::metrics::thumbnails_made(made).emit();
        failures.response()
    }

    async fn handle_record(&self, record: &SqsMessage) -> Result<Vec<Done>, ProcessError> {
        let body = record.body.as_deref().unwrap_or_default();
        let notification: S3Notification =
            serde_json::from_str(body).map_err(|e| ProcessError::Malformed(e.to_string()))?;
        if notification.event.as_deref() == Some("s3:TestEvent") {
            return Ok(Vec::new());
        }
        if notification.records.is_empty() {
            return Err(ProcessError::Malformed("no records".into()));
        }
        let mut done = Vec::new();
        for s3 in &notification.records {
            if s3.event_name.starts_with("ObjectCreated:") {
                let object = &s3.s3.object;
                done.push(
                    self.process(&decode_key(&object.key), object.version_id.as_deref())
                        .await?,
                );
            }
        }
        Ok(done)
    }

    /// Checks one upload (`version` of `key`, as the event names it) and settles its file.
    pub async fn process(&self, key: &str, version: Option<&str>) -> Result<Done, ProcessError> {
        let Some((owner, id)) = objects::parse_upload(key) else {
            self.discard(key, version).await?;
            return Ok(Done::Stray);
        };
        let Some(mut file) = self.store.get_file(id).await?.filter(|file| file.owner_id == owner) else {
            self.discard(key, version).await?;
            return Ok(Done::Stray);
        };
        if file.status == FileStatus::Pending {
            // The first delivery to move the file claims its version; one that loses the race
            // reads which version won.
            let claimed = file.processing(version);
            if self.store.transition_file(&claimed, FileStatus::Pending).await? {
                file = claimed;
            } else {
                match self.store.get_file(id).await? {
                    Some(now) => file = now,
                    None => return Ok(Done::Stray),
                }
            }
        }
        if file.is_reupload(version) {
            self.discard(key, version).await?;
            tracing::info!(file_id = %file.id, ?version, "re-upload of a single-use form deleted");
            return Ok(Done::Reupload);
        }
        if file.status.is_final() {
            return Ok(Done::AlreadySettled);
        }
        // A file claimed by an event that named no version (an older record) is checked as it is.
        let version = file.upload_version.clone().or(version.map(str::to_owned));
        let version = version.as_deref();
        let bytes = self
            .bucket
            .get_object(key, version, self.limits.max_size)
            .await?
            .ok_or_else(|| ProcessError::Missing(key.to_owned()))?;
        if let Err(reason) = check_content(&file, &bytes) {
            return self.reject(&file, reason).await;
        }
        let thumbnail = if file.file_type.is_image() {
            match thumbnail::make(&bytes, file.file_type, &self.decode) {
                Ok((png, ..)) => {
                    self.bucket.put_object(&file.thumbnail_key(), png, "image/png").await?;
                    true
                }
                Err(err) => {
                    tracing::warn!(file_id = %file.id, error = ?err, "image refused");
                    return self.reject(&file, err.to_string()).await;
                }
            }
        } else {
            false
        };
        // The version read is the version copied: bytes POSTed since are never kept unchecked.
        self.bucket.copy_object(key, version, &file.stored_key()).await?;
        let done = self.settle(&file, Outcome::Ready { thumbnail }).await?;
        if done != Done::Stray {
            self.forget_upload(&file).await?;
        }
        Ok(done)
    }

    async fn reject(&self, file: &File, reason: String) -> Result<Done, ProcessError> {
        let done = self.settle(file, Outcome::Rejected(reason)).await?;
        self.forget_upload(file).await?;
        Ok(done)
    }

    /// Deletes an upload nobody will check: the version the event names, for good; the key when
    /// it names none.
    async fn discard(&self, key: &str, version: Option<&str>) -> Result<(), ProcessError> {
        match version {
            Some(version) => self.bucket.delete_version(key, version).await?,
            None => self.bucket.delete_objects(&[key.to_owned()]).await?,
        }
        Ok(())
    }

    /// The checked upload is deleted for good: its version (nothing noncurrent is left behind), or
    /// the key when the event named no version.
    async fn forget_upload(&self, file: &File) -> Result<(), ProcessError> {
        self.discard(&file.upload_key(), file.upload_version.as_deref()).await
    }

    /// THE place a file reaches its final state (`ready` or `rejected`): the one transition from
    /// `processing`, made once however many deliveries race; the owner is notified once, by the
    /// delivery that made it.
    async fn settle(&self, file: &File, outcome: Outcome) -> Result<Done, ProcessError> {
        let settled = file.settled(&outcome);
        if self.store.transition_file(&settled, FileStatus::Processing).await? {
            tracing::info!(file_id = %file.id, status = settled.status.as_str(), reason = ?settled.reason, "file settled");
            let event = match outcome {
                Outcome::Ready { .. } => Event::FileReady,
                Outcome::Rejected(_) => Event::FileRejected,
            };
            let data = serde_json::to_value(FilePublic::from(&settled)).unwrap_or_default();
            // The state is the truth (the owner can always GET it); a lost notification is logged.
            if let Err(err) = self.notifier.notify(settled.owner_id, event, data).await {
                tracing::warn!(file_id = %file.id, error = %err, "file notification not queued");
            }
            return Ok(Done::Settled(outcome));
        }
        if self.store.get_file(file.id).await?.is_none() {
            // Deleted while it was processed: what this run wrote must not outlive it.
            self.bucket
                .delete_objects(&objects::all(file.owner_id, file.id))
                .await?;
            return Ok(Done::Stray);
        }
        Ok(Done::AlreadySettled)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use adapters::store::memory::Memory;
    use domain::file::{FileScope, Filename, NewUpload};
    use std::io::Cursor;
    use std::time::Duration;
    use uuid::Uuid;

    const LIMITS: UploadLimits = UploadLimits {
        max_size: 10 * 1024 * 1024,
        quota_files: 100,
        quota_bytes: 1 << 30,
    };

    fn png(width: u32, height: u32) -> Vec<u8> {
        let image = image::RgbImage::from_fn(width, height, |x, y| image::Rgb([x as u8, y as u8, 0]));
        let mut bytes = Vec::new();
        image::DynamicImage::ImageRgb8(image)
            .write_to(&mut Cursor::new(&mut bytes), image::ImageFormat::Png)
            .unwrap();
        bytes
    }

    /// A pending file whose bytes are in the bucket, as after a presigned POST.
    async fn uploaded(memory: &Memory, name: &str, mime: &str, bytes: Vec<u8>) -> File {
        let upload = NewUpload {
            filename: Filename::parse(name).unwrap(),
            content_type: mime.into(),
            size: bytes.len() as u64,
            description: None,
        };
        let file = File::announce(Uuid::new_v4(), upload, &LIMITS).unwrap();
        memory
            .create_file(&file, &LIMITS, Duration::from_secs(60))
            .await
            .unwrap();
        memory.put_object(&file.upload_key(), bytes, mime).await.unwrap();
        file
    }

    fn event(keys: &[&str]) -> SqsEvent {
        versioned_event(&keys.iter().map(|key| (*key, None)).collect::<Vec<_>>())
    }

    /// One SQS record per object, each naming its version when given one.
    fn versioned_event(objects: &[(&str, Option<&str>)]) -> SqsEvent {
        let mut event = SqsEvent::default();
        event.records = objects
            .iter()
            .enumerate()
            .map(|(i, (key, version))| {
                let mut object = serde_json::json!({"key": key, "size": 1});
                if let Some(version) = version {
                    object["versionId"] = serde_json::json!(version);
                }
                let body = serde_json::json!({"Records": [{
                    "eventName": "ObjectCreated:Post",
                    "s3": {"bucket": {"name": "b"}, "object": object},
                }]});
                let mut message = SqsMessage::default();
                message.message_id = Some(format!("m{i}"));
                message.body = Some(body.to_string());
                message
            })
            .collect();
        event
    }

    #[tokio::test]
    async fn an_image_gets_a_thumbnail_and_becomes_ready_once_however_often_it_is_delivered() {
        let memory = Memory::default();
        let processor = Processor::new(memory.clone(), memory.clone(), memory.clone(), LIMITS);
        let bytes = png(640, 480);
        let file = uploaded(&memory, "cat.png", "image/png", bytes.clone()).await;
        let key = file.upload_key();
        let response = processor.handle_batch(event(&[&key, &key])).await;
        assert!(response.batch_item_failures.is_empty());
        let stored = memory.get_file(file.id).await.unwrap().unwrap();
        assert_eq!(stored.status, FileStatus::Ready);
        assert!(stored.has_thumbnail);
        assert_eq!(memory.writes(&file.thumbnail_key()), 1, "one thumbnail");
        let (thumb, content_type) = memory.object(&file.thumbnail_key()).unwrap();
        assert_eq!(content_type, "image/png");
        let thumb = image::load_from_memory(&thumb).unwrap();
        assert_eq!((thumb.width(), thumb.height()), (200, 150));
        assert_eq!(memory.object(&file.stored_key()).unwrap().0, bytes);
        assert!(memory.object(&key).is_none(), "the upload moved to files/");

        // The owner hears of it once, whatever the deliveries.
        let heard: Vec<_> = memory
            .notifications()
            .into_iter()
            .map(|n| (n.user_id, n.event, n.data))
            .collect();
        assert_eq!(heard.len(), 1, "{heard:?}");
        assert_eq!((heard[0].0, heard[0].1), (file.owner_id, Event::FileReady));
        assert_eq!(heard[0].2["status"], "ready");
        assert_eq!(heard[0].2["has_thumbnail"], true);

        // A late redelivery changes nothing.
        assert_eq!(processor.process(&key, None).await.unwrap(), Done::AlreadySettled);
        assert_eq!(memory.notifications().len(), 1);
        assert_eq!(
            memory.get_file(file.id).await.unwrap().unwrap().updated_at,
            stored.updated_at
        );
    }

    #[tokio::test]
    async fn a_form_posted_again_changes_nothing_and_its_other_versions_are_deleted() {
        let memory = Memory::default();
        let processor = Processor::new(memory.clone(), memory.clone(), memory.clone(), LIMITS);
        let first = png(64, 48);
        let file = uploaded(&memory, "cat.png", "image/png", first.clone()).await;
        let key = file.upload_key();
        let v1 = memory.current_version(&key).unwrap();
        // POSTed again before the first event was handled: the key's current bytes are another
        // upload (an executable, say), and both versions have their event.
        memory
            .put_object(&key, b"MZ\x90\x00 not a png".to_vec(), "image/png")
            .await
            .unwrap();
        let v2 = memory.current_version(&key).unwrap();
        let response = processor
            .handle_batch(versioned_event(&[(&key, Some(&v1)), (&key, Some(&v2))]))
            .await;
        assert!(response.batch_item_failures.is_empty());
        let stored = memory.get_file(file.id).await.unwrap().unwrap();
        assert_eq!(
            (stored.status, stored.upload_version.as_deref()),
            (FileStatus::Ready, Some(v1.as_str()))
        );
        assert_eq!(
            memory.object(&file.stored_key()).unwrap().0,
            first,
            "the checked version was kept"
        );
        assert!(memory.versions(&key).is_empty(), "no version of the upload is left");

        // And after it settled: a later POST is deleted unread, once or however often delivered.
        memory.put_object(&key, png(10, 10), "image/png").await.unwrap();
        let v3 = memory.current_version(&key).unwrap();
        assert_eq!(processor.process(&key, Some(&v3)).await.unwrap(), Done::Reupload);
        assert_eq!(processor.process(&key, Some(&v3)).await.unwrap(), Done::Reupload);
        assert!(memory.versions(&key).is_empty());
        assert_eq!(memory.get_file(file.id).await.unwrap().unwrap(), stored);
        assert_eq!(memory.notifications().len(), 1, "one file.ready");
    }

    #[tokio::test]
    async fn an_executable_declared_as_png_is_rejected_and_removed() {
        let memory = Memory::default();
        let processor = Processor::new(memory.clone(), memory.clone(), memory.clone(), LIMITS);
        let elf = b"\x7fELF\x02\x01\x01\0\0\0\0\0\0\0\0\0".to_vec();
        let file = uploaded(&memory, "innocent.png", "image/png", elf).await;
        assert!(processor
            .handle_batch(event(&[&file.upload_key()]))
            .await
            .batch_item_failures
            .is_empty());
        let stored = memory.get_file(file.id).await.unwrap().unwrap();
        assert_eq!(stored.status, FileStatus::Rejected);
        assert!(stored.reason.unwrap().contains("image/png"));
        let heard = memory.notifications();
        assert_eq!(heard.len(), 1);
        assert_eq!((heard[0].user_id, heard[0].event), (file.owner_id, Event::FileRejected));
        for key in objects::all(file.owner_id, file.id) {
            assert!(memory.object(&key).is_none(), "{key}");
        }
    }

    #[tokio::test]
    async fn documents_are_kept_without_a_thumbnail_and_broken_images_rejected() {
        let memory = Memory::default();
        let processor = Processor::new(memory.clone(), memory.clone(), memory.clone(), LIMITS);
        let pdf = uploaded(&memory, "cv.pdf", "application/pdf", b"%PDF-1.7\n%%EOF\n".to_vec()).await;
        let broken = uploaded(&memory, "b.png", "image/png", b"\x89PNG\r\n\x1a\ntruncated".to_vec()).await;
        let response = processor
            .handle_batch(event(&[&pdf.upload_key(), &broken.upload_key()]))
            .await;
        assert!(response.batch_item_failures.is_empty());
        let pdf = memory.get_file(pdf.id).await.unwrap().unwrap();
        assert_eq!((pdf.status, pdf.has_thumbnail), (FileStatus::Ready, false));
        let broken = memory.get_file(broken.id).await.unwrap().unwrap();
        assert_eq!(broken.status, FileStatus::Rejected);
        assert!(broken.reason.unwrap().contains("cannot be decoded"));
    }

    #[tokio::test]
    async fn stray_uploads_are_removed_and_bad_messages_fail_alone() {
        let memory = Memory::default();
        let processor = Processor::new(memory.clone(), memory.clone(), memory.clone(), LIMITS);
        let stray = objects::upload(Uuid::new_v4(), Uuid::new_v4());
        memory.put_object(&stray, b"x".to_vec(), "text/plain").await.unwrap();
        let mut batch = event(&[&stray]);
        let mut poison = SqsMessage::default();
        poison.message_id = Some("poison".into());
        poison.body = Some("not an event".into());
        batch.records.push(poison);
        let failed = processor.handle_batch(batch).await.batch_item_failures;
        assert_eq!(failed.len(), 1);
        assert_eq!(failed[0].item_identifier, "poison");
        assert!(memory.object(&stray).is_none());
        assert_eq!(memory.count_files(&FileScope::All).await.unwrap(), 0);
    }

    #[tokio::test]
    async fn the_event_files_are_read() {
        let memory = Memory::default();
        let processor = Processor::new(memory.clone(), memory.clone(), memory, LIMITS);
        let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../events/thumbnails");
        let read = |name: &str| -> SqsEvent {
            serde_json::from_str(&std::fs::read_to_string(dir.join(name)).unwrap()).unwrap()
        };
        let ok = processor.handle_batch(read("s3-object-created.json")).await;
        assert!(ok.batch_item_failures.is_empty());
        let mixed = processor.handle_batch(read("batch-with-poison.json")).await;
        let failed: Vec<_> = mixed
            .batch_item_failures
            .iter()
            .map(|f| f.item_identifier.as_str())
            .collect();
        assert_eq!(failed, ["5a1e0c3e-2222-4c59-9d0c-000000000003"]);
    }
}
