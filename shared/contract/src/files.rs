//! Files over HTTP: the create body and the listing query read into domain types, and the
//! public shapes `FilePublic` and the upload form.

use crate::fields::{ByteSize, MediaType};
use crate::paging::Paging;
use crate::public::page_component;
use crate::schema::body;
use crate::schema::{component_schema, nullable, object, response, with, Component, Field};
use crate::validation::{Fields, FromFields, Read};
use domain::clock::timestamp;
use domain::file::{File, Filename, NewUpload};
use domain::ports::UploadForm;
use domain::Description;
use serde_json::{json, Map, Value};
use uuid::Uuid;

body! {
    /// `POST /files/`. The type and size rules (400 / 413) are the domain's, applied after the
    /// body reads.
    pub struct FileCreate as "FileCreate" {
        required filename: Filename,
        required content_type: MediaType,
        required size: ByteSize,
        optional description: Description,
    }
}

impl From<FileCreate> for NewUpload {
    fn from(body: FileCreate) -> Self {
        Self {
            filename: body.filename,
            content_type: body.content_type.0,
            size: body.size.0,
            description: body.description,
        }
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

response! {
    pub struct FilePublic as "FilePublic",
        "A file (`FilePublic`): its record, and whether its upload is checked (`status`)."
    {
        required id: Uuid,
        required owner_id: Uuid,
        required filename: String as json!({ "type": "string", "maxLength": Filename::MAX_LEN }),
        required content_type: &'static str as MediaType::schema(),
        required size: u64 as json!({ "type": "integer", "minimum": 0 }),
        required description: Option<String> as nullable(json!({ "type": "string", "maxLength": Description::MAX_LEN })),
        required status: &'static str as json!({ "type": "string", "enum": ["pending", "processing", "ready", "rejected"] }),
        required reason: Option<String> as nullable(json!({ "type": "string" })),
        required has_thumbnail: bool,
        required created_at: String as json!({ "type": "string", "format": "date-time" }),
        required updated_at: String as json!({ "type": "string", "format": "date-time" }),
    }
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

response! {
    pub struct UploadPublic as "UploadPublic",
        "`{\"url\", \"fields\", \"expires_in\"}`: what a browser POSTs as `multipart/form-data`, \
        the fields first and the file last."
    {
        required url: String as json!({ "type": "string", "format": "uri" }),
        required fields: Map<String, Value> as json!({
            "type": "object",
            "additionalProperties": { "type": "string" },
            "description": "Form fields to POST before the file (the file goes last, as `file`)"
        }),
        required expires_in: u64 as json!({ "type": "integer", "minimum": 0 }),
    }
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

response! {
    pub struct FileCreated as "FileCreated",
        "The answer to `POST /files/`: the new file and the form that uploads it."
    {
        required file: FilePublic,
        required upload: UploadPublic,
    }
}

page_component! {
    FilePublic => "FilesPublic", cursor: true;
}

/// `POST /files/upload`: the multipart form (FastAPI names such bodies `Body_<operation id>`).
pub struct UploadFileForm;

impl Component for UploadFileForm {
    const NAME: &'static str = "Body_files-upload_file";
    fn definition() -> Value {
        object(
            Self::NAME,
            vec![
                (
                    "file",
                    json!({ "type": "string", "format": "binary", "title": "File", "minLength": 1 }),
                ),
                (
                    "description",
                    with(
                        nullable(<Description as Field>::schema()),
                        "title",
                        json!("Description"),
                    ),
                ),
            ],
            &["file"],
        )
    }
}
component_schema!(UploadFileForm);
