//! Files over HTTP: the create body and the listing query read into domain types, and the
//! public shapes `FilePublic` and the upload form.

use super::items::description;
use super::paging::Paging;
use super::validation::{scalar, Echo, Fields, FromFields, Read};
use crate::domain::clock::timestamp;
use crate::domain::file::{File, Filename, NewUpload};
use crate::domain::ports::UploadForm;
use crate::domain::Invalid;
use serde::Serialize;
use serde_json::{Map, Value};
use uuid::Uuid;

pub fn filename(value: &Value) -> Result<Filename, Invalid> {
    scalar::string(value).and_then(Filename::parse)
}

/// `POST /files/`: `filename, content_type, size, description?`. The type and size rules (400 /
/// 413) are the domain's, applied after the body reads.
impl FromFields for NewUpload {
    fn from_fields(fields: &mut Fields<'_>) -> Read<Self> {
        let filename = fields.required("filename", Echo::Yes, filename);
        let content_type = fields.required("content_type", Echo::Yes, |v| scalar::string(v).map(str::to_owned));
        // Any whole number of bytes is a size; one beyond i64 is simply too large (413 from the
        // domain's limit), not a malformed body.
        let size = fields.required("size", Echo::Yes, |v| match scalar::integer(v, 1, i64::MAX) {
            Err(invalid) if invalid.kind == "less_than_equal" => Ok(i64::MAX),
            other => other,
        });
        let description = fields.optional("description", Echo::Yes, description);
        Ok(Self {
            filename: filename?,
            content_type: content_type?,
            size: u64::try_from(size?).unwrap_or(0),
            description: description?,
        })
    }
}

/// `GET /files/?skip&limit&cursor`.
#[derive(Debug)]
pub struct FilesQuery {
    pub paging: Paging,
}

impl FromFields for FilesQuery {
    fn from_fields(fields: &mut Fields<'_>) -> Read<Self> {
        Ok(Self {
            paging: Paging::read(fields)?,
        })
    }
}

/// `FilePublic`.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct FilePublic {
    pub id: Uuid,
    pub owner_id: Uuid,
    pub filename: String,
    pub content_type: &'static str,
    pub size: u64,
    pub description: Option<String>,
    pub status: &'static str,
    pub reason: Option<String>,
    pub has_thumbnail: bool,
    pub created_at: String,
    pub updated_at: String,
}

impl From<&File> for FilePublic {
    fn from(file: &File) -> Self {
        Self {
            id: file.id,
            owner_id: file.owner_id,
            filename: file.filename.as_str().to_owned(),
            content_type: file.file_type.mime(),
            size: file.size,
            description: file.description.as_ref().map(|d| d.as_str().to_owned()),
            status: file.status.as_str(),
            reason: file.reason.clone(),
            has_thumbnail: file.has_thumbnail,
            created_at: timestamp(file.created_at),
            updated_at: timestamp(file.updated_at),
        }
    }
}

/// `{"url", "fields", "expires_in"}`: what a browser POSTs as `multipart/form-data`, the fields
/// first and the file last.
#[derive(Debug, Serialize)]
pub struct UploadPublic {
    pub url: String,
    pub fields: Map<String, Value>,
    pub expires_in: u64,
}

impl UploadPublic {
    pub fn new(form: UploadForm, expires_in: u64) -> Self {
        Self {
            url: form.url,
            fields: form.fields.into_iter().map(|(k, v)| (k, Value::String(v))).collect(),
            expires_in,
        }
    }
}

/// The answer to `POST /files/`.
#[derive(Debug, Serialize)]
pub struct FileCreated {
    pub file: FilePublic,
    pub upload: UploadPublic,
}
