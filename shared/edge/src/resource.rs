//! What every owned resource (items, posts) shares at the HTTP edge, and the one handler set
//! both run on: listing with paging and cursors, `ETag` / `If-Match`, `Idempotency-Key` replays,
//! and the owner-or-permission rules.

use crate::error::{precondition_failed, ApiError, ApiResult};
use crate::request::ApiRequest;
use crate::request::Caller;
use crate::service::{json, Api, Response};
use contract::operation::Endpoint;
use contract::paging::Paging;
use contract::public::{Message, Page, Skip};
use contract::validation::{FieldError, FromFields, Invalid, Loc};
use domain::auth::Authenticator;
use domain::cursor::CursorKey;
use domain::ports::{Accounts, Records};
use domain::secrets::hex;
use domain::tokens::TokenKeys;
use domain::{Listing, Owned, Permission, Remembered, User, WriteError};
use http::{HeaderValue, StatusCode};
use serde::Serialize;
use serde_json::{Map, Value};
use sha2::{Digest, Sha256};
use uuid::Uuid;

/// What one owned resource (items, posts) is over HTTP: its record, how requests read into it,
/// how it is shown, and who may see it. Each function declares one, and serves it with
/// [`ResourceApi`].
pub trait Resource: Send + Sync + 'static {
    type Record: Owned;
    /// The public shape of a record in responses.
    type Public: Serialize + for<'a> From<&'a Self::Record>;
    /// The body of a create.
    type New: FromFields + Send;
    /// The body of an update, and the changes it makes.
    type Update: FromFields + Into<<Self::Record as Owned>::Changes> + Send;
    /// A listing's query: its paging and filters.
    type Query: FromFields + AsRef<Paging> + Send + Sync;

    /// The resource's routes, as `contract::api` declares them.
    const ENDPOINTS: Endpoints;

    fn create(owner: Uuid, new: Self::New) -> Self::Record;
    /// What the caller lists for `query`.
    fn listing(caller: &User, query: &Self::Query) -> Listing<<Self::Record as Owned>::Source>;
    /// Whether the caller may read the record (`GET`).
    fn check_read(record: &Self::Record, caller: &User) -> ApiResult<()>;
    /// Whether the record exists as far as the caller can tell (before a change or a delete).
    fn check_visible(_record: &Self::Record, _caller: &User) -> ApiResult<()> {
        Ok(())
    }
}

/// `"<version>"`, the strong entity tag of a versioned record.
pub fn etag(version: u64) -> String {
    format!("\"{version}\"")
}

fn with_etag(mut response: Response, version: u64) -> Response {
    if let Ok(value) = HeaderValue::from_str(&etag(version)) {
        response.headers_mut().insert(http::header::ETAG, value);
    }
    response
}

/// Whether the request carries `If-Match`; 412 when it does and `version` is not among its tags.
/// The comparison is strong (RFC 9110 §13.1.1): a weak tag `W/"…"` never matches.
pub fn check_if_match(request: &ApiRequest, version: u64) -> ApiResult<bool> {
    let Some(header) = request.strict_header("if-match")? else {
        return Ok(false);
    };
    let current = etag(version);
    let matches = header.split(',').map(str::trim).any(|tag| tag == "*" || tag == current);
    if matches {
        Ok(true)
    } else {
        Err(precondition_failed())
    }
}

/// Whether the request's `If-None-Match` names `tag` (or is `*`): the client's copy is current.
/// The comparison is weak (RFC 9110 §13.1.2): `W/"3"` matches `"3"`.
pub fn none_match(request: &ApiRequest, tag: &str) -> bool {
    let Some(header) = request.header("if-none-match") else {
        return false;
    };
    let bare = |t: &str| t.trim().trim_start_matches("W/").to_owned();
    header.split(',').any(|t| t.trim() == "*" || bare(t) == bare(tag))
}

/// 304 Not Modified, with the tag and no body.
pub fn not_modified(tag: &str) -> ApiResult<Response> {
    http::Response::builder()
        .status(StatusCode::NOT_MODIFIED)
        .header(http::header::ETAG, tag)
        .body(lambda_http::Body::Empty)
        .map_err(|e| ApiError::Internal(e.to_string()))
}

/// A `GET` answer made conditional: its `ETag` a digest of its body (for records with no
/// version of their own: users, files, the public feed), and a 304 with no body when the
/// request's `If-None-Match` names it. Other answers pass unchanged.
pub fn conditional(request: &ApiRequest, mut response: Response) -> ApiResult<Response> {
    let lambda_http::Body::Text(body) = response.body() else {
        return Ok(response);
    };
    if response.status() != StatusCode::OK {
        return Ok(response);
    }
    let digest = Sha256::digest(body.as_bytes());
    let tag = format!("\"{}\"", hex(&digest[..16]));
    if none_match(request, &tag) {
        let mut not = not_modified(&tag)?;
        if let Some(cache) = response.headers().get(http::header::CACHE_CONTROL) {
            not.headers_mut().insert(http::header::CACHE_CONTROL, cache.clone());
        }
        return Ok(not);
    }
    if let Ok(value) = HeaderValue::from_str(&tag) {
        response.headers_mut().insert(http::header::ETAG, value);
    }
    Ok(response)
}

/// 403 unless the caller owns the record or their role grants `permission`.
pub fn owner_or(caller: &User, owner: Uuid, permission: Permission) -> ApiResult<()> {
    if caller.id == owner || caller.role.can(permission) {
        Ok(())
    } else {
        Err(ApiError::Forbidden("Not enough permissions".into()))
    }
}

fn not_found<T: Owned>() -> ApiError {
    ApiError::NotFound(format!("{} not found", T::NAME))
}

/// The `Idempotency-Key` of a create: `None` without the header; 422 when it is empty, too long
/// or not printable ASCII.
fn idempotency_key(request: &ApiRequest) -> ApiResult<Option<String>> {
    let Some(raw) = request.headers.get("idempotency-key") else {
        return Ok(None);
    };
    let key = String::from_utf8_lossy(raw.as_bytes());
    if key.is_empty() || key.len() > 255 || !key.bytes().all(|b| b.is_ascii_graphic()) {
        let invalid = Invalid::new(
            "value_error",
            "Value error, Idempotency-Key must be 1-255 printable ASCII characters",
        );
        return Err(ApiError::validation(FieldError::new(
            Loc::header("idempotency-key"),
            invalid,
            Value::String(key.into_owned()),
        )));
    }
    Ok(Some(key.into_owned()))
}

/// A digest of the body: serde_json keeps object keys sorted, so equal bodies digest equally.
fn fingerprint(body: &Map<String, Value>) -> String {
    hex(&Sha256::digest(Value::Object(body.clone()).to_string().as_bytes()))
}

/// The remembered answer replayed as it was first given.
fn replay(remembered: &Remembered, fingerprint: &str) -> ApiResult<Response> {
    if remembered.fingerprint != fingerprint {
        let invalid = Invalid::new(
            "value_error",
            "Value error, this Idempotency-Key was used with a different request body",
        );
        return Err(ApiError::validation(FieldError::new(
            Loc::header("idempotency-key"),
            invalid,
            Value::Null,
        )));
    }
    let status = StatusCode::from_u16(remembered.status).unwrap_or(StatusCode::OK);
    let mut response = http::Response::builder()
        .status(status)
        .header(http::header::CONTENT_TYPE, "application/json")
        .header("idempotent-replayed", "true")
        .body(lambda_http::Body::Text(remembered.body.clone()))
        .map_err(|e| ApiError::Internal(e.to_string()))?;
    if let Ok(etag) = HeaderValue::from_str(&remembered.etag) {
        response.headers_mut().insert(http::header::ETAG, etag);
    }
    Ok(response)
}

/// The endpoints of an owned resource: `PUT` and `PATCH` both update.
pub struct Endpoints {
    pub list: Endpoint,
    pub create: Endpoint,
    pub read: Endpoint,
    pub update: Endpoint,
    pub patch: Endpoint,
    pub delete: Endpoint,
}

/// The routes of an owned resource.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Route {
    List,
    Create,
    Read,
    Update,
    Delete,
}

/// What follows a committed write of a record (the posts' feed refresh): `before` is `None`
/// for a create, `after` for a delete. `()` does nothing.
pub trait Written<T>: Send + Sync + 'static {
    fn written(&self, before: Option<&T>, after: Option<&T>) -> impl std::future::Future<Output = ()> + Send;
}

impl<T: Sync> Written<T> for () {
    async fn written(&self, _before: Option<&T>, _after: Option<&T>) {}
}

/// One owned resource served over HTTP: its records in `store`, callers authenticated against
/// the same store's users, and `W` told of every write.
pub struct ResourceApi<R, S, W = ()> {
    auth: Authenticator<S>,
    cursors: CursorKey,
    written: W,
    _resource: std::marker::PhantomData<fn() -> R>,
}

impl<R: Resource, S: Records<R::Record> + Accounts + 'static> ResourceApi<R, S> {
    pub fn new(keys: TokenKeys, cursors: CursorKey, store: S) -> Self {
        Self {
            auth: Authenticator::new(keys, store),
            cursors,
            written: (),
            _resource: std::marker::PhantomData,
        }
    }
}

impl<R: Resource, S: Records<R::Record> + Accounts + 'static, W: Written<R::Record>> ResourceApi<R, S, W> {
    /// The same API, telling `written` of every write it commits.
    pub fn telling<V: Written<R::Record>>(self, written: V) -> ResourceApi<R, S, V> {
        ResourceApi {
            auth: self.auth,
            cursors: self.cursors,
            written,
            _resource: std::marker::PhantomData,
        }
    }

    /// Who is calling, checked against the store's users.
    pub fn authenticator(&self) -> &Authenticator<S> {
        &self.auth
    }

    /// The key that signs this API's cursors.
    pub fn cursors(&self) -> &CursorKey {
        &self.cursors
    }

    pub fn store(&self) -> &S {
        self.auth.users()
    }

    /// The record, or 404.
    async fn load(&self, id: Uuid) -> ApiResult<R::Record> {
        Records::<R::Record>::get(self.store(), id)
            .await?
            .ok_or_else(not_found::<R::Record>)
    }

    fn respond(status: StatusCode, record: &R::Record) -> ApiResult<Response> {
        Ok(with_etag(json(status, &R::Public::from(record))?, record.version()))
    }

    /// The answer to an update: the record, unless the caller may change it but not read it (a
    /// moderator and another user's item) — then only that it was updated.
    fn updated(caller: &User, record: &R::Record) -> ApiResult<Response> {
        if R::check_read(record, caller).is_ok() {
            return Self::respond(StatusCode::OK, record);
        }
        let message = format!("{} updated successfully", R::Record::NAME);
        Ok(with_etag(
            json(StatusCode::OK, &Message::new(message))?,
            record.version(),
        ))
    }

    async fn list(&self, request: ApiRequest) -> ApiResult<Response> {
        let caller = self.auth.current_user(&request).await?;
        let query: R::Query = request.query()?;
        let paging = query.as_ref();
        let mut listing = R::listing(&caller, &query);
        let scope = format!("{}|{}", listing.scope(R::Record::COLLECTION), caller.id);
        listing.before = paging.position(&self.cursors, &scope)?;
        let (rows, count) = tokio::try_join!(
            Records::<R::Record>::list(self.store(), &listing, paging.wanted()),
            Records::<R::Record>::count(self.store(), &listing)
        )?;
        let (page, next_cursor) = paging.page(rows, &self.cursors, &scope);
        let page = Page {
            data: page.iter().map(R::Public::from).collect::<Vec<_>>(),
            count,
            next_cursor: Skip::Field(next_cursor),
        };
        json(StatusCode::OK, &page)
    }

    /// Creates a record; with an `Idempotency-Key`, the first answer is replayed to every later
    /// request with the same key, even when they race.
    async fn create(&self, request: ApiRequest) -> ApiResult<Response> {
        let caller = self.auth.current_user(&request).await?;
        let (new, body): (R::New, _) = request.body_and_json()?;
        let key = idempotency_key(&request)?;
        let fingerprint = fingerprint(&body);
        if let Some(key) = &key {
            if let Some(remembered) = Records::<R::Record>::remembered(self.store(), caller.id, key).await? {
                return replay(&remembered, &fingerprint);
            }
        }
        let record = R::create(caller.id, new);
        let body = serde_json::to_string(&R::Public::from(&record)).map_err(|e| ApiError::Internal(e.to_string()))?;
        let remembered = key.as_ref().map(|key| Remembered {
            owner: caller.id,
            client_key: key.clone(),
            fingerprint: fingerprint.clone(),
            status: StatusCode::OK.as_u16(),
            body,
            etag: etag(record.version()),
        });
        match Records::<R::Record>::create(self.store(), &record, remembered.as_ref()).await {
            Ok(()) => {
                self.written.written(None, Some(&record)).await;
                Self::respond(StatusCode::OK, &record)
            }
            Err(WriteError::KeyTaken) => match &key {
                Some(key) => match Records::<R::Record>::remembered(self.store(), caller.id, key).await? {
                    Some(remembered) => replay(&remembered, &fingerprint),
                    None => Err(WriteError::KeyTaken.into()),
                },
                None => Err(WriteError::KeyTaken.into()),
            },
            Err(other) => Err(other.into()),
        }
    }

    async fn read(&self, request: ApiRequest) -> ApiResult<Response> {
        let caller = self.auth.current_user(&request).await?;
        let record = self.load(request.path_id("id")?).await?;
        R::check_read(&record, &caller)?;
        let tag = etag(record.version());
        if none_match(&request, &tag) {
            return not_modified(&tag);
        }
        Self::respond(StatusCode::OK, &record)
    }

    /// Applies the body's changes if the caller may, honouring `If-Match`. Without `If-Match`, a
    /// concurrent change is retried on the fresh record (no lost update); with it, it is a 412.
    async fn update(&self, request: ApiRequest) -> ApiResult<Response> {
        let caller = self.auth.current_user(&request).await?;
        let id = request.path_id("id")?;
        let changes: <R::Record as Owned>::Changes = request.body::<R::Update>()?.into();
        for _ in 0..3 {
            let current = self.load(id).await?;
            R::check_visible(&current, &caller)?;
            owner_or(&caller, current.owner(), Permission::Write)?;
            let conditional = check_if_match(&request, current.version())?;
            let Some(mut next) = current.changed(&changes) else {
                return Self::updated(&caller, &current);
            };
            next.touch();
            match Records::<R::Record>::replace(self.store(), &current, &next).await {
                Ok(()) => {
                    self.written.written(Some(&current), Some(&next)).await;
                    return Self::updated(&caller, &next);
                }
                Err(WriteError::Conflict) if conditional => return Err(precondition_failed()),
                Err(WriteError::Conflict) => continue,
                Err(other) => return Err(other.into()),
            }
        }
        Err(ApiError::Conflict(format!(
            "The {} is being changed by other requests, retry",
            R::Record::NAME.to_lowercase()
        )))
    }

    async fn delete(&self, request: ApiRequest) -> ApiResult<Response> {
        let caller = self.auth.current_user(&request).await?;
        let current = self.load(request.path_id("id")?).await?;
        R::check_visible(&current, &caller)?;
        owner_or(&caller, current.owner(), Permission::Delete)?;
        let conditional = check_if_match(&request, current.version())?;
        let version = conditional.then_some(current.version());
        match Records::<R::Record>::delete(self.store(), &current, version).await {
            Ok(()) => self.written.written(Some(&current), None).await,
            // Deleted by someone else meanwhile: without If-Match that is the outcome asked for.
            Err(WriteError::Conflict) if !conditional => return Err(not_found::<R::Record>()),
            Err(other) => return Err(other.into()),
        }
        let message = format!("{} deleted successfully", R::Record::NAME);
        json(StatusCode::OK, &Message::new(message))
    }
}

impl<R: Resource, S: Records<R::Record> + Accounts + 'static, W: Written<R::Record>> Api for ResourceApi<R, S, W> {
    type Route = Route;

    fn routes() -> Vec<(Endpoint, Route)> {
        let Endpoints {
            list,
            create,
            read,
            update,
            patch,
            delete,
        } = R::ENDPOINTS;
        vec![
            (list, Route::List),
            (create, Route::Create),
            (read, Route::Read),
            (update, Route::Update),
            (patch, Route::Update),
            (delete, Route::Delete),
        ]
    }

    async fn handle(&self, route: Route, request: ApiRequest) -> ApiResult<Response> {
        match route {
            Route::List => self.list(request).await,
            Route::Create => self.create(request).await,
            Route::Read => self.read(request).await,
            Route::Update => self.update(request).await,
            Route::Delete => self.delete(request).await,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn etags_are_quoted_versions() {
        assert_eq!(etag(3), "\"3\"");
    }

    #[test]
    fn equal_bodies_have_equal_fingerprints() {
        let a: Map<String, Value> = serde_json::from_str(r#"{"b": 1, "a": 2}"#).unwrap();
        let b: Map<String, Value> = serde_json::from_str(r#"{"a": 2, "b": 1}"#).unwrap();
        assert_eq!(fingerprint(&a), fingerprint(&b));
    }
}
