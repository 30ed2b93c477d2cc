//! What every owned resource (items, posts) shares at the HTTP edge: paging parameters and
//! cursors, `ETag` / `If-Match`, and `Idempotency-Key` replays.

use crate::api::{ApiRequest, Response};
use crate::cursor::CursorKey;
use crate::error::{ApiError, ApiResult};
use crate::records::WriteError;
use crate::store::{keys, s, Item, Table};
use crate::tokens::now_secs;
use crate::validation::{scalar, Echo, FieldError, Fields, Invalid, Loc};
use http::{HeaderValue, StatusCode};
use serde_json::{Map, Value};
use sha2::{Digest, Sha256};
use uuid::Uuid;

/// The largest page any listing serves; more is a 422.
pub const MAX_LIMIT: i64 = 1000;
/// How long a create's `Idempotency-Key` is remembered.
pub const IDEMPOTENCY_TTL_SECS: u64 = 24 * 3600;

/// `skip`, `limit` and `cursor` of a listing, plus any filters the route reads itself.
#[derive(Debug)]
pub struct Paging {
    pub skip: usize,
    pub limit: usize,
    cursor: Option<String>,
}

impl Paging {
    /// Reads the paging parameters into `fields` (so their errors join the route's own).
    pub fn read(fields: &mut Fields<'_>) -> Option<Self> {
        let skip = fields.optional("skip", Echo::Yes, |v| scalar::integer(v, 0, i64::from(i32::MAX)));
        let limit = fields.optional("limit", Echo::Yes, |v| scalar::integer(v, 0, MAX_LIMIT));
        let cursor = fields.optional("cursor", Echo::Yes, |v| scalar::string(v).map(str::to_owned));
        Some(Self {
            skip: skip?.unwrap_or(0) as usize,
            limit: limit?.unwrap_or(100) as usize,
            cursor: cursor?.filter(|c| !c.is_empty()),
        })
    }

    /// The sort key to continue before, when a cursor was sent; a cursor that is not ours or
    /// belongs to another listing is a 422.
    pub fn position(&self, key: &CursorKey, scope: &str) -> ApiResult<Option<String>> {
        let Some(cursor) = &self.cursor else { return Ok(None) };
        key.verify(scope, cursor).map(Some).map_err(|invalid| {
            ApiError::validation(FieldError::new(
                Loc::query("cursor"),
                invalid,
                Value::String(cursor.clone()),
            ))
        })
    }

    /// The rows to fetch: the page after `skip`, plus one to tell whether more follow.
    pub fn wanted(&self) -> usize {
        self.skip + self.limit + 1
    }

    /// The page out of `rows` (fetched with `wanted()`), and the cursor after it when more follow.
    pub fn page<'a>(
        &self,
        rows: &'a [Item],
        sort_key: impl Fn(&Item) -> Option<String>,
        key: &CursorKey,
        scope: &str,
    ) -> (&'a [Item], Option<String>) {
        let start = self.skip.min(rows.len());
        let end = (self.skip + self.limit).min(rows.len());
        let page = &rows[start..end];
        let more = rows.len() > self.skip + self.limit;
        let next = if more {
            page.last().and_then(&sort_key).map(|last| key.sign(scope, &last))
        } else {
            None
        };
        (page, next)
    }
}

/// `"<version>"`, the strong entity tag of a versioned record.
pub fn etag(version: u64) -> String {
    format!("\"{version}\"")
}

pub fn with_etag(mut response: Response, version: u64) -> Response {
    if let Ok(value) = HeaderValue::from_str(&etag(version)) {
        response.headers_mut().insert(http::header::ETAG, value);
    }
    response
}

/// Whether the request carries `If-Match`; 412 when it does and `version` is not among its tags.
pub fn check_if_match(request: &ApiRequest, version: u64) -> ApiResult<bool> {
    let Some(header) = request.header("if-match") else {
        return Ok(false);
    };
    let current = etag(version);
    let matches = header
        .split(',')
        .map(str::trim)
        .any(|tag| tag == "*" || tag.trim_start_matches("W/") == current);
    if matches {
        Ok(true)
    } else {
        Err(precondition_failed())
    }
}

pub fn precondition_failed() -> ApiError {
    ApiError::PreconditionFailed("Precondition failed: the resource was changed by another request".into())
}

impl From<WriteError> for ApiError {
    fn from(err: WriteError) -> Self {
        match err {
            WriteError::Conflict => precondition_failed(),
            WriteError::KeyTaken => ApiError::Conflict("A request with this Idempotency-Key is in progress".into()),
            WriteError::Store(store) => store.into(),
        }
    }
}

/// The `Idempotency-Key` of a create, with the request it stands for.
#[derive(Debug)]
pub struct Idempotency {
    record_key: String,
    fingerprint: String,
}

impl Idempotency {
    /// `None` without the header; 422 when it is empty, too long or not printable ASCII.
    pub fn read(
        request: &ApiRequest,
        owner: Uuid,
        resource: &str,
        body: &Map<String, Value>,
    ) -> ApiResult<Option<Self>> {
        let Some(key) = request.header("idempotency-key") else {
            return Ok(None);
        };
        if key.is_empty() || key.len() > 255 || !key.bytes().all(|b| b.is_ascii_graphic()) {
            let invalid = Invalid::new(
                "value_error",
                "Value error, Idempotency-Key must be 1-255 printable ASCII characters",
            );
            return Err(ApiError::validation(FieldError::new(
                Loc::header("idempotency-key"),
                invalid,
                Value::String(key.to_owned()),
            )));
        }
        // serde_json keeps object keys sorted, so equal bodies serialise equally.
        let fingerprint = hex(&Sha256::digest(Value::Object(body.clone()).to_string().as_bytes()));
        Ok(Some(Self {
            record_key: format!("IDEMP#{owner}#{resource}#{key}"),
            fingerprint,
        }))
    }

    /// The first response to this key, when there was one: replayed as it was, or 422 when the
    /// key came with another body.
    pub async fn replay(&self, table: &Table) -> ApiResult<Option<Response>> {
        let Some(record) = table.get_record(self.record_key.clone(), keys::IDEMPOTENCY_SK).await? else {
            return Ok(None);
        };
        let stored = |name: &str| {
            record
                .get(name)
                .and_then(|v| v.as_s().ok())
                .cloned()
                .unwrap_or_default()
        };
        if stored("fingerprint") != self.fingerprint {
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
        let status = stored("status")
            .parse::<u16>()
            .ok()
            .and_then(|s| StatusCode::from_u16(s).ok())
            .unwrap_or(StatusCode::OK);
        let mut response = http::Response::builder()
            .status(status)
            .header(http::header::CONTENT_TYPE, "application/json")
            .header("idempotent-replayed", "true")
            .body(lambda_http::Body::Text(stored("body")))
            .map_err(|e| ApiError::Internal(e.to_string()))?;
        if let Ok(etag) = HeaderValue::from_str(&stored("etag")) {
            response.headers_mut().insert(http::header::ETAG, etag);
        }
        Ok(Some(response))
    }

    /// The record that remembers `body` as the answer to this key, written with the create.
    pub fn record(&self, status: StatusCode, body: &str, etag: &str) -> Item {
        Item::from([
            (keys::PK.to_owned(), s(&self.record_key)),
            (keys::SK.to_owned(), s(keys::IDEMPOTENCY_SK)),
            ("fingerprint".to_owned(), s(&self.fingerprint)),
            ("status".to_owned(), s(status.as_u16().to_string())),
            ("body".to_owned(), s(body)),
            ("etag".to_owned(), s(etag)),
            (
                "expires_at".to_owned(),
                aws_sdk_dynamodb::types::AttributeValue::N((now_secs() + IDEMPOTENCY_TTL_SECS).to_string()),
            ),
        ])
    }
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// Lower-cased text a `q` search looks in.
pub fn search_text(parts: &[Option<&str>]) -> String {
    parts
        .iter()
        .flatten()
        .map(|p| p.to_lowercase())
        .collect::<Vec<_>>()
        .join("\n")
}

/// A record a user owns, kept versioned in the table.
pub trait Owned: Sized + Clone + Send + Sync {
    /// "Item", "Post": used in messages (`Item not found`).
    const NAME: &'static str;

    fn id(&self) -> Uuid;
    fn owner(&self) -> Uuid;
    fn version(&self) -> u64;
    /// Marks a new revision: the version goes up and `updated_at` is now.
    fn touch(&mut self);
    fn key(id: Uuid) -> (String, &'static str);
    fn to_item(&self) -> Item;
    fn from_item(item: &Item) -> Result<Self, crate::store::StoreError>;
    fn public(&self) -> Value;
    /// The counters that count this record in its current state.
    fn counted_in(&self) -> Vec<String>;
}

fn not_found<T: Owned>() -> ApiError {
    ApiError::NotFound(format!("{} not found", T::NAME))
}

/// The record, or 404.
pub async fn load<T: Owned>(table: &Table, id: Uuid) -> ApiResult<T> {
    let (pk, sk) = T::key(id);
    let item = table.get_record(pk, sk).await?.ok_or_else(not_found::<T>)?;
    Ok(T::from_item(&item)?)
}

/// A JSON response of `record` with its `ETag`.
pub fn respond<T: Owned>(status: StatusCode, record: &T) -> ApiResult<Response> {
    Ok(with_etag(crate::api::json(status, &record.public())?, record.version()))
}

/// Creates `record` with its counters; with an `Idempotency-Key`, the first answer is replayed
/// to every later request with the same key, even when they race.
pub async fn create<T: Owned>(table: &Table, record: T, idempotency: Option<Idempotency>) -> ApiResult<Response> {
    let counters: Vec<_> = record.counted_in().into_iter().map(|k| (k, 1)).collect();
    let body = serde_json::to_string(&record.public()).map_err(|e| ApiError::Internal(e.to_string()))?;
    let remembered = idempotency
        .as_ref()
        .map(|i| i.record(StatusCode::OK, &body, &etag(record.version())));
    match table.create_record(record.to_item(), &counters, remembered).await {
        Ok(()) => respond(StatusCode::OK, &record),
        Err(WriteError::KeyTaken) => match &idempotency {
            Some(idempotency) => idempotency
                .replay(table)
                .await?
                .ok_or_else(|| WriteError::KeyTaken.into()),
            None => Err(WriteError::KeyTaken.into()),
        },
        Err(other) => Err(other.into()),
    }
}

/// `POST` of an owned resource: replays the first answer to a repeated `Idempotency-Key`, else
/// creates `record`.
pub async fn create_from_request<T: Owned>(
    table: &Table,
    request: &ApiRequest,
    resource: &str,
    body: &Map<String, Value>,
    record: T,
) -> ApiResult<Response> {
    let idempotency = Idempotency::read(request, record.owner(), resource, body)?;
    if let Some(idempotency) = &idempotency {
        if let Some(replayed) = idempotency.replay(table).await? {
            return Ok(replayed);
        }
    }
    create(table, record, idempotency).await
}

/// A page of a listing: `{"data", "count", "next_cursor"}`.
pub fn page_response<T: Owned>(rows: &[Item], count: u64, next_cursor: Option<String>) -> ApiResult<Response> {
    let data = rows
        .iter()
        .map(|row| T::from_item(row).map(|record| record.public()))
        .collect::<Result<Vec<_>, _>>()?;
    crate::api::json(
        StatusCode::OK,
        &serde_json::json!({ "data": data, "count": count, "next_cursor": next_cursor }),
    )
}

/// Applies `change` to the stored record if `allowed` lets the caller, honouring `If-Match`.
/// Without `If-Match`, a concurrent change is retried on the fresh record (no lost update); with
/// it, a concurrent change is a 412.
pub async fn update<T: Owned>(
    table: &Table,
    request: &ApiRequest,
    id: Uuid,
    allowed: impl Fn(&T) -> ApiResult<()>,
    change: impl Fn(&mut T),
) -> ApiResult<T> {
    for _ in 0..3 {
        let current: T = load(table, id).await?;
        allowed(&current)?;
        let conditional = check_if_match(request, current.version())?;
        let mut next = current.clone();
        change(&mut next);
        next.touch();
        let counters = counter_changes(&current, &next);
        match table.replace_record(next.to_item(), current.version(), &counters).await {
            Ok(()) => return Ok(next),
            Err(WriteError::Conflict) if conditional => return Err(precondition_failed()),
            Err(WriteError::Conflict) => continue,
            Err(other) => return Err(other.into()),
        }
    }
    Err(ApiError::Conflict(format!(
        "The {} is being changed by other requests, retry",
        T::NAME.to_lowercase()
    )))
}

/// Deletes the stored record if `allowed` lets the caller, honouring `If-Match`.
pub async fn delete<T: Owned>(
    table: &Table,
    request: &ApiRequest,
    id: Uuid,
    allowed: impl Fn(&T) -> ApiResult<()>,
) -> ApiResult<()> {
    let current: T = load(table, id).await?;
    allowed(&current)?;
    let conditional = check_if_match(request, current.version())?;
    let (pk, sk) = T::key(id);
    let counters: Vec<_> = current.counted_in().into_iter().map(|k| (k, -1)).collect();
    let version = conditional.then_some(current.version());
    match table.delete_record(pk, sk, version, &counters).await {
        Ok(()) => Ok(()),
        // Deleted by someone else meanwhile: without If-Match that is the outcome asked for.
        Err(WriteError::Conflict) if !conditional => Err(not_found::<T>()),
        Err(other) => Err(other.into()),
    }
}

/// Removes every record of a listing (the delete-user cascade). Safe to rerun: what is already
/// gone is skipped without touching counters.
pub async fn delete_all<T: Owned>(
    table: &Table,
    listing: &crate::records::Listing<'_>,
) -> Result<usize, crate::store::StoreError> {
    let mut deleted = 0;
    loop {
        let rows = table.list_newest(listing, 100).await?;
        if rows.is_empty() {
            return Ok(deleted);
        }
        for row in &rows {
            let record = T::from_item(row)?;
            let (pk, sk) = T::key(record.id());
            let counters: Vec<_> = record.counted_in().into_iter().map(|k| (k, -1)).collect();
            match table.delete_record(pk, sk, None, &counters).await {
                Ok(()) => deleted += 1,
                Err(WriteError::Conflict) => {}
                Err(WriteError::Store(err)) => return Err(err),
                Err(WriteError::KeyTaken) => {}
            }
        }
    }
}

fn counter_changes<T: Owned>(before: &T, after: &T) -> Vec<crate::records::CounterDelta> {
    let (old, new) = (before.counted_in(), after.counted_in());
    let removed = old.iter().filter(|k| !new.contains(k)).map(|k| (k.clone(), -1));
    let added = new.iter().filter(|k| !old.contains(k)).map(|k| (k.clone(), 1));
    removed.chain(added).collect()
}

/// The `{id}` path parameter as a UUID, or the 422 FastAPI sends.
pub fn path_id(request: &ApiRequest, name: &str) -> ApiResult<Uuid> {
    let raw = request.param(name).unwrap_or_default();
    scalar::uuid(&Value::String(raw.to_owned())).map_err(|invalid| {
        ApiError::validation(FieldError::new(Loc::path(name), invalid, Value::String(raw.to_owned())))
    })
}

/// 403 unless the caller owns the record or their role grants `permission`.
pub fn owner_or(caller: &crate::users::User, owner: Uuid, permission: crate::domain::Permission) -> ApiResult<()> {
    if caller.id == owner || caller.role.can(permission) {
        Ok(())
    } else {
        Err(ApiError::Forbidden("Not enough permissions".into()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::JwtSecret;
    use crate::records::sort_key;

    fn key() -> CursorKey {
        CursorKey::derive(&JwtSecret::parse("an-example-secret-of-at-least-32-bytes".into()).unwrap())
    }

    fn row(sk: &str) -> Item {
        Item::from([("gsi1sk".to_owned(), s(sk))])
    }

    #[test]
    fn a_full_page_gets_a_cursor_to_its_last_row() {
        let paging = Paging {
            skip: 1,
            limit: 2,
            cursor: None,
        };
        let rows: Vec<_> = ["d", "c", "b", "a"].iter().map(|k| row(k)).collect();
        let (page, next) = paging.page(&rows[..paging.wanted().min(4)], sort_key, &key(), "scope");
        assert_eq!(page.iter().filter_map(sort_key).collect::<Vec<_>>(), ["c", "b"]);
        assert_eq!(key().verify("scope", &next.unwrap()), Ok("b".to_owned()));
    }

    #[test]
    fn the_last_page_has_no_cursor() {
        let paging = Paging {
            skip: 0,
            limit: 5,
            cursor: None,
        };
        let rows: Vec<_> = ["b", "a"].iter().map(|k| row(k)).collect();
        let (page, next) = paging.page(&rows, sort_key, &key(), "scope");
        assert_eq!(page.len(), 2);
        assert!(next.is_none());
    }

    #[test]
    fn etags_are_quoted_versions() {
        assert_eq!(etag(3), "\"3\"");
    }

    #[test]
    fn search_text_is_lower_case() {
        assert_eq!(search_text(&[Some("Hello"), None, Some("WORLD")]), "hello\nworld");
    }
}
