//! Paging: `skip`, `limit` and `cursor` of every listing. A cursor is `domain::cursor`'s signed
//! position; one that is forged, or from another listing, is a 422 on `cursor`.

use crate::validation::{scalar, Echo, FieldError, Fields, FromFields, Loc, Read};
use domain::cursor::CursorKey;
use domain::{Invalid, Owned};
use serde_json::Value;

/// The largest page any listing serves; more is a 422.
pub const MAX_LIMIT: i64 = 1000;
/// The deepest `skip`: every skipped row is read, so deeper pages go by `cursor`.
pub const MAX_SKIP: i64 = 10_000;

/// `skip`, `limit` and `cursor` of a listing.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Paging {
    pub skip: usize,
    pub limit: usize,
    cursor: Option<String>,
}

impl Paging {
    /// Reads the paging parameters into `fields`, so their errors join the route's own.
    pub fn read(fields: &mut Fields<'_>) -> Read<Self> {
        let skip = fields.optional("skip", Echo::Yes, |v| {
            scalar::integer(v, 0, MAX_SKIP).map_err(|invalid| match invalid.kind {
                "less_than_equal" => Invalid::new(
                    "less_than_equal",
                    format!("Input should be less than or equal to {MAX_SKIP}; page deeper with `cursor`"),
                )
                .with_ctx(serde_json::json!({ "le": MAX_SKIP })),
                _ => invalid,
            })
        });
        let limit = fields.optional("limit", Echo::Yes, |v| scalar::integer(v, 0, MAX_LIMIT));
        let cursor = fields.optional("cursor", Echo::Yes, |v| scalar::string(v).map(str::to_owned));
        Ok(Self {
            skip: usize::try_from(skip?.unwrap_or(0)).unwrap_or(0),
            limit: usize::try_from(limit?.unwrap_or(100)).unwrap_or(100),
            cursor: cursor?.filter(|c| !c.is_empty()),
        })
    }

    /// The sort key to continue before, when a cursor was sent; a cursor that is not ours or
    /// belongs to another listing is a 422.
    pub fn position(&self, key: &CursorKey, scope: &str) -> Result<Option<String>, Box<FieldError>> {
        let Some(cursor) = &self.cursor else { return Ok(None) };
        key.verify(scope, cursor).map(Some).map_err(|invalid| {
            Box::new(FieldError::new(
                Loc::query("cursor"),
                invalid,
                Value::String(cursor.clone()),
            ))
        })
    }

    /// Whether the request continues from a cursor.
    pub fn has_cursor(&self) -> bool {
        self.cursor.is_some()
    }

    /// The rows to fetch: the page after `skip`, plus one to tell whether more follow.
    pub fn wanted(&self) -> usize {
        self.skip + self.limit + 1
    }

    /// The page out of `rows` (fetched with `wanted()`), and the cursor after it when more follow.
    pub fn page<T: Owned>(&self, rows: Vec<T>, key: &CursorKey, scope: &str) -> (Vec<T>, Option<String>) {
        self.page_by(rows, key, scope, T::sort_key)
    }

    /// [`Self::page`] of rows whose position is `sort_key`.
    pub fn page_by<T>(
        &self,
        mut rows: Vec<T>,
        key: &CursorKey,
        scope: &str,
        sort_key: impl Fn(&T) -> String,
    ) -> (Vec<T>, Option<String>) {
        let more = rows.len() > self.skip + self.limit;
        rows.truncate(self.skip + self.limit);
        let page: Vec<T> = rows.into_iter().skip(self.skip).collect();
        let next = if more {
            page.last().map(|last| key.sign(scope, &sort_key(last)))
        } else {
            None
        };
        (page, next)
    }
}

impl FromFields for Paging {
    fn from_fields(fields: &mut Fields<'_>) -> Read<Self> {
        Self::read(fields)
    }
}
