//! `files`: uploads to S3 — presigned POST forms, and small files sent directly — with listing,
//! reading, downloads and thumbnails as redirects to short-lived presigned GETs, and deletes.
//! The uploaded bytes are checked, and thumbnails made, off the request path by the
//! `thumbnails` function; this one links no image codec.

mod multipart;

use adapters::aws::Bucket;
use adapters::store::Table;
use contract::api::files;
use contract::files::{FileCreate, FileCreated, FilePublic, FilesQuery, UploadPublic};
use contract::operation::Endpoint;
use contract::public::{Message, Page, Skip};
use contract::validation::{FieldError, Loc};
use domain::auth::Authenticator;
use domain::cursor::CursorKey;
use domain::file::{File, FileScope, FileStatus, Filename, NewUpload, UploadLimits};
use domain::ports::{Accounts, FileStore, ObjectStore, UploadTicket};
use domain::{Description, Permission, User};
use edge::request::Caller;
use edge::resource::{conditional, owner_or};
use edge::{json, Api, ApiError, ApiRequest, ApiResult, Response, StatusCode};
use lambda_http::http;
use std::time::Duration;

/// How long a presigned upload form is accepted.
pub const UPLOAD_FORM_TTL: Duration = Duration::from_secs(15 * 60);
/// How long a download or thumbnail link works.
pub const LINK_TTL: Duration = Duration::from_secs(5 * 60);
/// A pending file whose upload never arrives stops counting (and is removed by TTL) after this:
/// the form's 15 minutes and time for the upload to be processed.
pub const PENDING_TTL: Duration = Duration::from_secs(60 * 60);
/// The largest file `POST /files/upload` takes: its body must fit one Lambda request (6 MB,
/// and API Gateway base64-encodes binary bodies).
pub const DIRECT_UPLOAD_MAX: usize = 4 * 1024 * 1024;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Route {
    Create,
    Upload,
    List,
    Read,
    Download,
    Thumbnail,
    Delete,
}

pub struct Files<S = Table, B = Bucket> {
    auth: Authenticator<S>,
    cursors: CursorKey,
    bucket: B,
    limits: UploadLimits,
}

impl<S: FileStore + Accounts + Clone + 'static, B: ObjectStore + 'static> Files<S, B> {
    pub fn new<Q>(ctx: adapters::Context<S, Q, B>, limits: UploadLimits) -> Self {
        Self {
            auth: ctx.authenticator(),
            cursors: ctx.cursors,
            bucket: ctx.bucket,
            limits,
        }
    }

    fn store(&self) -> &S {
        self.auth.users()
    }

    /// The file, or 404.
    async fn load(&self, request: &ApiRequest) -> ApiResult<File> {
        let id = request.path_id("id")?;
        self.store()
            .get_file(id)
            .await?
            .ok_or_else(|| ApiError::NotFound("File not found".into()))
    }

    /// The file if the caller may read it: its owner, or a superuser.
    async fn readable(&self, request: &ApiRequest) -> ApiResult<(User, File)> {
        let caller = self.auth.current_user(request).await?;
        let file = self.load(request).await?;
        if !file.readable_by(&caller) {
            return Err(ApiError::Forbidden("Not enough permissions".into()));
        }
        Ok((caller, file))
    }

    /// `POST /files/`: a pending file and the form that uploads its bytes straight to S3.
    async fn create(&self, request: ApiRequest) -> ApiResult<Response> {
        let caller = self.auth.current_user(&request).await?;
        let upload: NewUpload = request.body::<FileCreate>()?.into();
        let file = File::announce(caller.id, upload, &self.limits)?;
        let ticket = UploadTicket {
            key: &file.upload_key(),
            content_type: file.file_type.mime(),
            size: file.size,
            expires_in: UPLOAD_FORM_TTL,
        };
        let form = self.bucket.upload_form(&ticket).await?;
        self.store().create_file(&file, &self.limits, PENDING_TTL).await?;
        let created = FileCreated {
            file: FilePublic::from(&file),
            upload: UploadPublic::new(form, UPLOAD_FORM_TTL.as_secs()),
        };
        json(StatusCode::CREATED, &created)
    }

    /// `POST /files/upload`: a small file sent as `multipart/form-data`; it lands where a
    /// presigned upload would and is checked the same way.
    async fn upload(&self, request: ApiRequest) -> ApiResult<Response> {
        let caller = self.auth.current_user(&request).await?;
        let direct = read_multipart(&request).await?;
        if direct.bytes.len() > DIRECT_UPLOAD_MAX {
            return Err(too_large_for_direct_upload());
        }
        let upload = NewUpload {
            filename: direct.filename,
            content_type: direct.content_type,
            size: direct.bytes.len() as u64,
            description: direct.description,
        };
        let file = File::announce(caller.id, upload, &self.limits)?;
        self.store().create_file(&file, &self.limits, PENDING_TTL).await?;
        if let Err(err) = self
            .bucket
            .put_object(&file.upload_key(), direct.bytes, file.file_type.mime())
            .await
        {
            // Without its bytes the record would only wait for its TTL while counting.
            let _ = self.store().delete_file(&file).await;
            return Err(err.into());
        }
        json(StatusCode::CREATED, &FilePublic::from(&file))
    }

    async fn list(&self, request: ApiRequest) -> ApiResult<Response> {
        let caller = self.auth.current_user(&request).await?;
        let query: FilesQuery = request.query()?;
        let paging = &query.paging;
        let scope = FileScope::for_caller(&caller);
        let cursor_scope = format!("files|{scope:?}|{}", caller.id);
        let before = paging.position(&self.cursors, &cursor_scope)?;
        let (rows, count) = tokio::try_join!(
            self.store().list_files(&scope, before.as_deref(), paging.wanted()),
            self.store().count_files(&scope)
        )?;
        let (page, next_cursor) = paging.page_by(rows, &self.cursors, &cursor_scope, File::sort_key);
        json(
            StatusCode::OK,
            &Page {
                data: page.iter().map(FilePublic::from).collect::<Vec<_>>(),
                count,
                next_cursor: Skip::Field(next_cursor),
            },
        )
    }

    async fn read(&self, request: ApiRequest) -> ApiResult<Response> {
        let (_, file) = self.readable(&request).await?;
        conditional(&request, json(StatusCode::OK, &FilePublic::from(&file))?)
    }

    async fn download(&self, request: ApiRequest) -> ApiResult<Response> {
        let (_, file) = self.readable(&request).await?;
        if file.status != FileStatus::Ready {
            return Err(ApiError::Conflict("File is not ready".into()));
        }
        let link = self
            .bucket
            .download_link(
                &file.stored_key(),
                file.file_type.mime(),
                Some(&file.filename.content_disposition()),
                LINK_TTL,
            )
            .await?;
        redirect(&link)
    }

    async fn thumbnail(&self, request: ApiRequest) -> ApiResult<Response> {
        let (_, file) = self.readable(&request).await?;
        if !file.has_thumbnail {
            return Err(ApiError::NotFound("Thumbnail not available".into()));
        }
        let link = self
            .bucket
            .download_link(&file.thumbnail_key(), "image/png", None, LINK_TTL)
            .await?;
        redirect(&link)
    }

    /// Deletes the objects first: a failure leaves the record, so the delete can be retried.
    async fn delete(&self, request: ApiRequest) -> ApiResult<Response> {
        let caller = self.auth.current_user(&request).await?;
        let file = self.load(&request).await?;
        owner_or(&caller, file.owner_id, Permission::Delete)?;
        self.bucket
            .delete_objects(&domain::file::objects::all(file.owner_id, file.id))
            .await?;
        self.store().delete_file(&file).await?;
        json(
            StatusCode::OK,
            &Message {
                message: "File deleted successfully".into(),
            },
        )
    }
}

fn too_large_for_direct_upload() -> ApiError {
    ApiError::TooLarge(format!(
        "File too large for a direct upload (at most {} MiB): use POST /api/v1/files/ for a presigned upload",
        DIRECT_UPLOAD_MAX / (1024 * 1024)
    ))
}

/// 307 to a presigned link.
fn redirect(location: &str) -> ApiResult<Response> {
    http::Response::builder()
        .status(StatusCode::TEMPORARY_REDIRECT)
        .header(http::header::LOCATION, location)
        .body(lambda_http::Body::Empty)
        .map_err(|e| ApiError::Internal(e.to_string()))
}

/// The parts of a direct upload.
struct DirectUpload {
    filename: domain::file::Filename,
    content_type: String,
    bytes: Vec<u8>,
    description: Option<Description>,
}

fn body_error(field: &str, kind: &'static str, msg: &str) -> ApiError {
    ApiError::validation(FieldError::new(
        Loc::body(field),
        domain::Invalid::new(kind, msg),
        serde_json::Value::Null,
    ))
}

/// Reads `file` (with its filename and content type) and `description` from a
/// `multipart/form-data` body; anything else is the 422 FastAPI sends for a missing `file`.
async fn read_multipart(request: &ApiRequest) -> ApiResult<DirectUpload> {
    let missing_file = || ApiError::validation(FieldError::missing(Loc::body("file")));
    let boundary = request
        .header("content-type")
        .and_then(multipart::boundary)
        .ok_or_else(missing_file)?;
    let parts = multipart::parts(&request.body, &boundary)
        .ok_or_else(|| body_error("file", "value_error", "Value error, malformed multipart body"))?;
    let file = parts.iter().find(|p| p.name == "file").map(|p| {
        (
            p.filename.clone().unwrap_or_default(),
            p.content_type
                .clone()
                .unwrap_or_else(|| "application/octet-stream".into()),
            p.body.to_vec(),
        )
    });
    let description = match parts.iter().find(|p| p.name == "description") {
        Some(part) => Some(
            String::from_utf8(part.body.to_vec())
                .map_err(|_| body_error("description", "string_unicode", "Input should be a valid string"))?,
        ),
        None => None,
    };
    let (name, content_type, bytes) = file.ok_or_else(missing_file)?;
    let filename = Filename::parse(&name).map_err(|invalid| {
        ApiError::validation(FieldError::new(
            Loc::body("file"),
            invalid,
            serde_json::Value::String(name),
        ))
    })?;
    if bytes.is_empty() {
        // The contract's least size, as `POST /files/` has it: an empty file is nothing to keep.
        return Err(body_error("file", "value_error", "Value error, the file is empty"));
    }
    let description = description
        .map(|text| {
            Description::parse(&text).map_err(|invalid| {
                ApiError::validation(FieldError::new(
                    Loc::body("description"),
                    invalid,
                    serde_json::Value::String(text.clone()),
                ))
            })
        })
        .transpose()?;
    Ok(DirectUpload {
        filename,
        content_type,
        bytes,
        description,
    })
}

impl<S: FileStore + Accounts + Clone + 'static, B: ObjectStore + 'static> Api for Files<S, B> {
    type Route = Route;

    /// A direct upload's file and the multipart framing around it.
    const MAX_BODY_BYTES: usize = DIRECT_UPLOAD_MAX + 64 * 1024;

    fn body_too_large() -> ApiError {
        too_large_for_direct_upload()
    }

    fn routes() -> Vec<(Endpoint, Route)> {
        vec![
            (const { files::CREATE_FILE.endpoint }, Route::Create),
            (const { files::READ_FILES.endpoint }, Route::List),
            (const { files::UPLOAD_FILE.endpoint }, Route::Upload),
            (const { files::READ_FILE.endpoint }, Route::Read),
            (const { files::DELETE_FILE.endpoint }, Route::Delete),
            (const { files::DOWNLOAD_FILE.endpoint }, Route::Download),
            (const { files::READ_THUMBNAIL.endpoint }, Route::Thumbnail),
        ]
    }

    async fn handle(&self, route: Route, request: ApiRequest) -> ApiResult<Response> {
        match route {
            Route::Create => self.create(request).await,
            Route::Upload => self.upload(request).await,
            Route::List => self.list(request).await,
            Route::Read => self.read(request).await,
            Route::Download => self.download(request).await,
            Route::Thumbnail => self.thumbnail(request).await,
            Route::Delete => self.delete(request).await,
        }
    }
}

#[cfg(test)]
mod tests {
    //! Every route through the whole service, from the `events/` fixtures, on in-memory stores.

    use super::*;
    use adapters::store::memory::Memory;
    use domain::file::{objects, Outcome};
    use domain::Role;
    use serde_json::{json, Value};
    use testkit::{call, caller, context, event, service, set_body, set_path};
    use uuid::Uuid;

    const LIMITS: UploadLimits = UploadLimits {
        max_size: 10 * 1024 * 1024,
        quota_files: 2,
        quota_bytes: 1024 * 1024,
    };

    fn files(memory: &Memory) -> edge::Service<Files<Memory, Memory>> {
        service(Files::new(context(memory), LIMITS))
    }

    async fn created(memory: &Memory, token: &str) -> Value {
        let (status, body) = call(&files(memory), event("files/create.json", token, |_| {})).await;
        assert_eq!(status, StatusCode::CREATED, "{body}");
        body
    }

    fn at(path: String) -> impl FnOnce(&mut Value) {
        move |e| set_path(e, &path)
    }

    #[tokio::test]
    async fn a_presigned_upload_is_announced_listed_read_and_deleted() {
        let memory = Memory::default();
        let (owner, token) = caller(&memory, "owner@example.com", Role::User).await;
        let body = created(&memory, &token).await;
        let file = &body["file"];
        let id: Uuid = file["id"].as_str().unwrap().parse().unwrap();
        assert_eq!(file["status"], "pending");
        assert_eq!(file["filename"], "holiday.png");
        assert_eq!(file["content_type"], "image/png");
        assert_eq!(file["size"], 2048);
        assert_eq!(file["has_thumbnail"], false);
        assert_eq!(body["upload"]["expires_in"], 900);
        assert_eq!(body["upload"]["fields"]["key"], objects::upload(owner.id, id).as_str());
        assert_eq!(body["upload"]["fields"]["Content-Type"], "image/png");

        let (status, page) = call(&files(&memory), event("files/list.json", &token, |_| {})).await;
        assert_eq!((status, page["count"].clone()), (StatusCode::OK, json!(1)));
        assert_eq!(page["data"][0]["id"], id.to_string().as_str());

        let one = format!("/api/v1/files/{id}");
        let (status, read) = call(
            &files(&memory),
            event("files/read-unknown.json", &token, at(one.clone())),
        )
        .await;
        assert_eq!((status, &read), (StatusCode::OK, file));
        let download = event("files/download-unknown.json", &token, at(format!("{one}/download")));
        let (status, body) = call(&files(&memory), download).await;
        assert_eq!(
            (status, body["detail"].clone()),
            (StatusCode::CONFLICT, json!("File is not ready"))
        );
        let thumbnail = event("files/thumbnail-unknown.json", &token, at(format!("{one}/thumbnail")));
        let (status, body) = call(&files(&memory), thumbnail).await;
        assert_eq!(
            (status, body["detail"].clone()),
            (StatusCode::NOT_FOUND, json!("Thumbnail not available"))
        );

        let (_, stranger) = caller(&memory, "stranger@example.com", Role::User).await;
        let (status, body) = call(
            &files(&memory),
            event("files/read-unknown.json", &stranger, at(one.clone())),
        )
        .await;
        assert_eq!(
            (status, body["detail"].clone()),
            (StatusCode::FORBIDDEN, json!("Not enough permissions"))
        );
        let (status, _) = call(
            &files(&memory),
            event("files/delete-unknown.json", &stranger, at(one.clone())),
        )
        .await;
        assert_eq!(status, StatusCode::FORBIDDEN);
        let (_, admin) = caller(&memory, "root@example.com", Role::Superuser).await;
        let (status, page) = call(&files(&memory), event("files/list.json", &admin, |_| {})).await;
        assert_eq!((status, page["count"].clone()), (StatusCode::OK, json!(1)));

        let (status, body) = call(
            &files(&memory),
            event("files/delete-unknown.json", &token, at(one.clone())),
        )
        .await;
        assert_eq!(
            (status, body["message"].clone()),
            (StatusCode::OK, json!("File deleted successfully"))
        );
        let (status, body) = call(&files(&memory), event("files/read-unknown.json", &token, at(one))).await;
        assert_eq!(
            (status, body["detail"].clone()),
            (StatusCode::NOT_FOUND, json!("File not found"))
        );
    }

    #[tokio::test]
    async fn types_sizes_and_the_quota_are_enforced() {
        let memory = Memory::default();
        let (_, token) = caller(&memory, "owner@example.com", Role::User).await;
        let (status, body) = call(
            &files(&memory),
            event("files/create-type-not-allowed.json", &token, |_| {}),
        )
        .await;
        assert_eq!(
            (status, body["detail"].clone()),
            (StatusCode::BAD_REQUEST, json!("File type not allowed"))
        );
        let (status, body) = call(&files(&memory), event("files/create-too-large.json", &token, |_| {})).await;
        assert_eq!(
            (status, body["detail"].clone()),
            (StatusCode::PAYLOAD_TOO_LARGE, json!("File too large"))
        );
        // A size beyond any integer type is too large too, not a malformed body (schemathesis).
        let huge = event("files/create.json", &token, |e| {
            set_body(
                e,
                json!({"filename": "a.png", "content_type": "image/png", "size": 4.8553132233738e21}),
            )
        });
        assert_eq!(call(&files(&memory), huge).await.0, StatusCode::PAYLOAD_TOO_LARGE);
        let empty = event("files/create.json", &token, |e| {
            set_body(e, json!({"filename": "a.txt", "content_type": "text/plain", "size": 0}))
        });
        let (status, body) = call(&files(&memory), empty).await;
        assert_eq!(
            (status, body["detail"][0]["loc"].clone()),
            (StatusCode::UNPROCESSABLE_ENTITY, json!(["body", "size"]))
        );
        created(&memory, &token).await;
        created(&memory, &token).await;
        let (status, body) = call(&files(&memory), event("files/create.json", &token, |_| {})).await;
        assert_eq!(
            (status, body["detail"].clone()),
            (StatusCode::BAD_REQUEST, json!("Upload quota exceeded"))
        );
    }

    #[tokio::test]
    async fn a_small_file_is_uploaded_directly_to_where_presigned_uploads_land() {
        let memory = Memory::default();
        let (owner, token) = caller(&memory, "owner@example.com", Role::User).await;
        let (status, file) = call(&files(&memory), event("files/upload.json", &token, |_| {})).await;
        assert_eq!(status, StatusCode::CREATED, "{file}");
        assert_eq!(file["filename"], "notes.txt");
        assert_eq!(file["description"], "Meeting notes");
        assert_eq!(file["status"], "pending");
        let id: Uuid = file["id"].as_str().unwrap().parse().unwrap();
        let (bytes, content_type) = memory.object(&objects::upload(owner.id, id)).unwrap();
        assert_eq!(bytes, b"Agenda:\n1. Files\n2. Thumbnails\n");
        assert_eq!(file["size"], bytes.len());
        assert_eq!(content_type, "text/plain");

        let huge = event("files/upload.json", &token, |e| {
            e["body"] = json!("x".repeat(DIRECT_UPLOAD_MAX + 70 * 1024));
        });
        let (status, body) = call(&files(&memory), huge).await;
        assert_eq!(status, StatusCode::PAYLOAD_TOO_LARGE);
        assert!(
            body["detail"].as_str().unwrap().contains("POST /api/v1/files/"),
            "{body}"
        );
        let not_multipart = event("files/upload.json", &token, |e| {
            e["headers"]["content-type"] = json!("text/plain")
        });
        let (status, body) = call(&files(&memory), not_multipart).await;
        assert_eq!(
            (status, body["detail"][0]["loc"].clone()),
            (StatusCode::UNPROCESSABLE_ENTITY, json!(["body", "file"]))
        );
    }

    #[tokio::test]
    async fn a_ready_file_redirects_to_its_download_and_thumbnail() {
        let memory = Memory::default();
        let (_, token) = caller(&memory, "owner@example.com", Role::User).await;
        let body = created(&memory, &token).await;
        let id: Uuid = body["file"]["id"].as_str().unwrap().parse().unwrap();
        let file = memory.get_file(id).await.unwrap().unwrap();
        assert!(memory
            .transition_file(&file.processing(None), FileStatus::Pending)
            .await
            .unwrap());
        let ready = file.processing(None).settled(&Outcome::Ready { thumbnail: true });
        assert!(memory.transition_file(&ready, FileStatus::Processing).await.unwrap());
        for (route, key) in [("download", file.stored_key()), ("thumbnail", file.thumbnail_key())] {
            let request = event(
                "files/download-unknown.json",
                &token,
                at(format!("/api/v1/files/{id}/{route}")),
            );
            let response = files(&memory).call(request).await;
            assert_eq!(response.status(), StatusCode::TEMPORARY_REDIRECT);
            let location = response.headers()["location"].to_str().unwrap();
            assert!(location.contains(&key), "{location}");
        }
    }
}
