//! `functions/files`: uploads (presigned POST to S3, or a small multipart body), listing, reads,
//! download and thumbnail links, deletes. The reference backend has no files: the names follow its
//! scheme.

use shared::domain::file::NewUpload;
use shared::http::files::{FileCreated, FilePublic};
use shared::http::openapi::{HttpError, HttpValidationError, UploadFileForm};
use shared::http::public::{Message, Page};

#[derive(utoipa::OpenApi)]
#[openapi(paths(
    create_file,
    upload_file,
    read_files,
    read_file,
    download_file,
    read_thumbnail,
    delete_file
))]
pub struct Api;

type FilesPublic = Page<FilePublic>;

/// Create File
///
/// Announce an upload: the file's record (`pending`) and a presigned S3 POST form that accepts
/// exactly this size and type for 15 minutes. POST the form's `fields`, then the file, to `url`.
#[utoipa::path(
    post,
    path = "/api/v1/files/",
    tag = "files",
    operation_id = "files-create_file",
    request_body = NewUpload,
    security(("OAuth2PasswordBearer" = [])),
    responses(
        (status = 201, description = "Successful Response", body = FileCreated),
        (status = 400, description = "File type not allowed, or the upload quota is exceeded", body = HttpError),
        (status = 401, description = "Not authenticated", body = HttpError),
        (status = 413, description = "File too large", body = HttpError),
        (status = 422, description = "Validation Error", body = HttpValidationError),
        (status = 503, description = "A backing service is unavailable: retry", body = HttpError),
    )
)]
pub fn create_file() {}

/// Upload File
///
/// Upload a small file (at most 4 MiB) in the request itself; larger files go through
/// `POST /api/v1/files/`.
#[utoipa::path(
    post,
    path = "/api/v1/files/upload",
    tag = "files",
    operation_id = "files-upload_file",
    request_body(content = UploadFileForm, content_type = "multipart/form-data"),
    security(("OAuth2PasswordBearer" = [])),
    responses(
        (status = 201, description = "Successful Response", body = FilePublic),
        (status = 400, description = "File type not allowed, or the upload quota is exceeded", body = HttpError),
        (status = 401, description = "Not authenticated", body = HttpError),
        (status = 413, description = "Too large for a direct upload: use the presigned route", body = HttpError),
        (status = 422, description = "Validation Error", body = HttpValidationError),
        (status = 503, description = "A backing service is unavailable: retry", body = HttpError),
    )
)]
pub fn upload_file() {}

/// Read Files
///
/// Retrieve files: a superuser's are everyone's, anyone else's their own. Newest first.
#[utoipa::path(
    get,
    path = "/api/v1/files/",
    tag = "files",
    operation_id = "files-read_files",
    params(
        ("skip" = Option<i64>, Query, minimum = 0, maximum = 10000, description = "Rows to skip"),
        ("limit" = Option<i64>, Query, minimum = 0, maximum = 1000, description = "Rows to return (default 100)"),
        ("cursor" = Option<String>, Query, description = "`next_cursor` of the previous page"),
    ),
    security(("OAuth2PasswordBearer" = [])),
    responses(
        (status = 200, description = "Successful Response", body = FilesPublic),
        (status = 401, description = "Not authenticated", body = HttpError),
        (status = 422, description = "Validation Error", body = HttpValidationError),
        (status = 503, description = "A backing service is unavailable: retry", body = HttpError),
    )
)]
pub fn read_files() {}

/// Read File
///
/// Get a file's record by ID.
#[utoipa::path(
    get,
    path = "/api/v1/files/{id}",
    tag = "files",
    operation_id = "files-read_file",
    params(("id" = uuid::Uuid, Path, description = "Id")),
    security(("OAuth2PasswordBearer" = [])),
    responses(
        (status = 200, description = "Successful Response", body = FilePublic),
        (status = 401, description = "Not authenticated", body = HttpError),
        (status = 403, description = "Not enough permissions", body = HttpError),
        (status = 404, description = "File not found", body = HttpError),
        (status = 422, description = "Validation Error", body = HttpValidationError),
        (status = 503, description = "A backing service is unavailable: retry", body = HttpError),
    )
)]
pub fn read_file() {}

/// Download File
///
/// Redirect to a presigned GET of the file's bytes (valid 5 minutes), answered as an attachment
/// with the original filename.
#[utoipa::path(
    get,
    path = "/api/v1/files/{id}/download",
    tag = "files",
    operation_id = "files-download_file",
    params(("id" = uuid::Uuid, Path, description = "Id")),
    security(("OAuth2PasswordBearer" = [])),
    responses(
        (status = 307, description = "Redirect to the bytes",
            headers(("Location" = String, description = "A presigned GET, valid 5 minutes"))),
        (status = 401, description = "Not authenticated", body = HttpError),
        (status = 403, description = "Not enough permissions", body = HttpError),
        (status = 404, description = "File not found", body = HttpError),
        (status = 409, description = "File is not ready", body = HttpError),
        (status = 422, description = "Validation Error", body = HttpValidationError),
        (status = 503, description = "A backing service is unavailable: retry", body = HttpError),
    )
)]
pub fn download_file() {}

/// Read Thumbnail
///
/// Redirect to the image's thumbnail (fits 200×200, aspect kept).
#[utoipa::path(
    get,
    path = "/api/v1/files/{id}/thumbnail",
    tag = "files",
    operation_id = "files-read_thumbnail",
    params(("id" = uuid::Uuid, Path, description = "Id")),
    security(("OAuth2PasswordBearer" = [])),
    responses(
        (status = 307, description = "Redirect to the thumbnail",
            headers(("Location" = String, description = "A presigned GET, valid 5 minutes"))),
        (status = 401, description = "Not authenticated", body = HttpError),
        (status = 403, description = "Not enough permissions", body = HttpError),
        (status = 404, description = "File not found, or Thumbnail not available", body = HttpError),
        (status = 422, description = "Validation Error", body = HttpValidationError),
        (status = 503, description = "A backing service is unavailable: retry", body = HttpError),
    )
)]
pub fn read_thumbnail() {}

/// Delete File
///
/// Delete a file: its record and its objects.
#[utoipa::path(
    delete,
    path = "/api/v1/files/{id}",
    tag = "files",
    operation_id = "files-delete_file",
    params(("id" = uuid::Uuid, Path, description = "Id")),
    security(("OAuth2PasswordBearer" = [])),
    responses(
        (status = 200, description = "Successful Response", body = Message),
        (status = 401, description = "Not authenticated", body = HttpError),
        (status = 403, description = "Not enough permissions", body = HttpError),
        (status = 404, description = "File not found", body = HttpError),
        (status = 422, description = "Validation Error", body = HttpValidationError),
        (status = 503, description = "A backing service is unavailable: retry", body = HttpError),
    )
)]
pub fn delete_file() {}
