//! Items over HTTP: their bodies and query read into the domain's types, and the rules the
//! shared resource handlers apply to them.

use super::error::{ApiError, ApiResult};
use super::paging::Paging;
use super::public::ItemPublic;
use super::resource::Resource;
use super::validation::{scalar, Echo, Fields, FromFields, Invalid, Read};
use crate::domain::item::NewItem;
use crate::domain::{Description, Item, ItemChanges, ItemScope, Listing, Price, Title, User};
use serde_json::{Number, Value};
use uuid::Uuid;

pub fn title(value: &Value) -> Result<Title, Invalid> {
    scalar::string(value).and_then(Title::parse)
}

pub fn description(value: &Value) -> Result<Description, Invalid> {
    scalar::string(value).and_then(Description::parse)
}

/// A JSON number or a numeric string, as pydantic's lax mode takes.
pub fn price(value: &Value) -> Result<Price, Invalid> {
    let number = match value {
        Value::Number(n) => Some(n.clone()),
        Value::String(s) => s
            .trim()
            .parse::<f64>()
            .ok()
            .filter(|f| f.is_finite())
            .and_then(Number::from_f64),
        _ => None,
    }
    .ok_or_else(|| {
        Invalid::new(
            "float_parsing",
            "Input should be a valid number, unable to parse string as a number",
        )
    })?;
    Price::parse(number)
}

impl FromFields for NewItem {
    fn from_fields(fields: &mut Fields<'_>) -> Read<Self> {
        let title = fields.required("title", Echo::Yes, title);
        let description = fields.optional("description", Echo::Yes, description);
        let price = fields.optional("price", Echo::Yes, price);
        let is_available = fields.defaulted("is_available", Echo::Yes, scalar::json_boolean);
        Ok(Self {
            title: title?,
            description: description?,
            price: price?,
            is_available: is_available?,
        })
    }
}

impl FromFields for ItemChanges {
    fn from_fields(fields: &mut Fields<'_>) -> Read<Self> {
        let title = fields.optional("title", Echo::Yes, title);
        let description = fields.patch("description", Echo::Yes, description);
        let price = fields.patch("price", Echo::Yes, price);
        let is_available = fields.optional("is_available", Echo::Yes, scalar::json_boolean);
        Ok(Self {
            title: title?,
            description: description?,
            price: price?,
            is_available: is_available?,
        })
    }
}

/// `GET /items/?skip&limit&cursor&q`.
#[derive(Debug)]
pub struct ItemsQuery {
    pub paging: Paging,
    /// Lower-cased text to search for; empty is no search.
    pub q: Option<String>,
}

impl AsRef<Paging> for ItemsQuery {
    fn as_ref(&self) -> &Paging {
        &self.paging
    }
}

impl FromFields for ItemsQuery {
    fn from_fields(fields: &mut Fields<'_>) -> Read<Self> {
        let paging = Paging::read(fields);
        let q = fields.optional("q", Echo::Yes, |v| scalar::string(v).map(|s| s.trim().to_lowercase()));
        Ok(Self {
            paging: paging?,
            q: q?.filter(|q| !q.is_empty()),
        })
    }
}

impl Resource for Item {
    type Public = ItemPublic;
    type New = NewItem;
    type Query = ItemsQuery;
    const PATHS: (&'static str, &'static str) = ("/api/v1/items/", "/api/v1/items/{id}");

    fn create(owner: Uuid, new: NewItem) -> Self {
        Item::new(owner, new)
    }

    /// A superuser lists every item; anyone else their own.
    fn listing(caller: &User, query: &ItemsQuery) -> Listing<ItemScope> {
        Listing {
            search: query.q.clone(),
            ..Listing::of(vec![ItemScope::for_caller(caller)])
        }
    }

    /// Owners read their items; reading anyone's is a superuser's privilege.
    fn check_read(&self, caller: &User) -> ApiResult<()> {
        if self.readable_by(caller) {
            Ok(())
        } else {
            Err(ApiError::Forbidden("Not enough permissions".into()))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn prices_are_positive_numbers_or_numeric_strings() {
        assert_eq!(price(&json!(12.5)).unwrap().as_number().as_f64(), Some(12.5));
        assert_eq!(price(&json!("3")).unwrap().as_number().as_f64(), Some(3.0));
        assert_eq!(price(&json!(0)).unwrap_err().kind, "greater_than");
        assert_eq!(price(&json!("cheap")).unwrap_err().kind, "float_parsing");
    }
}
