//! The bodies and the query of the item routes, read into the domain's types.

use crate::paging::Paging;
use crate::schema::body;
use crate::validation::{scalar, Echo, Fields, FromFields, Read};
use domain::item::NewItem;
use domain::{Description, ItemChanges, Price, Title};

body! {
    /// `POST /items/`.
    pub struct ItemCreate as "ItemCreate" {
        required title: Title,
        optional description: Description,
        optional price: Price,
        default is_available: bool = true,
    }
}

impl From<ItemCreate> for NewItem {
    fn from(body: ItemCreate) -> Self {
        Self {
            title: body.title,
            description: body.description,
            price: body.price,
            is_available: Some(body.is_available),
        }
    }
}

body! {
    /// `PUT` and `PATCH /items/{id}`: the fields sent change, `null` clears.
    pub struct ItemUpdate as "ItemUpdate" {
        optional title: Title,
        patch description: Description,
        patch price: Price,
        optional is_available: bool,
    }
}

impl From<ItemUpdate> for ItemChanges {
    fn from(body: ItemUpdate) -> Self {
        Self {
            title: body.title,
            description: body.description,
            price: body.price,
            is_available: body.is_available,
        }
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::schema::{Component, Field};
    use crate::validation::{read, Source};
    use serde_json::json;

    #[test]
    fn prices_are_positive_numbers_or_numeric_strings() {
        assert_eq!(
            <Price as Field>::parse(&json!(12.5)).unwrap().as_number().as_f64(),
            Some(12.5)
        );
        assert_eq!(
            <Price as Field>::parse(&json!("3")).unwrap().as_number().as_f64(),
            Some(3.0)
        );
        assert_eq!(<Price as Field>::parse(&json!(0)).unwrap_err().kind, "greater_than");
        assert_eq!(
            <Price as Field>::parse(&json!("cheap")).unwrap_err().kind,
            "float_parsing"
        );
    }

    #[test]
    fn a_body_reads_every_field_and_its_schema_says_the_same() {
        let body = json!({"title": "Lamp", "price": "3"});
        let item: ItemCreate = read(Source::Body, body.as_object().unwrap()).unwrap();
        assert!(item.is_available, "the declared default");
        assert_eq!(item.description, None);
        let errors = read::<ItemCreate>(
            Source::Body,
            json!({"price": 0, "is_available": null}).as_object().unwrap(),
        )
        .unwrap_err();
        let kinds: Vec<_> = errors.iter().map(|e| e.kind).collect();
        assert_eq!(kinds, ["missing", "greater_than", "bool_type"]);
        let schema = ItemCreate::definition();
        assert_eq!(schema["required"], json!(["title"]));
        assert_eq!(schema["properties"]["title"]["maxLength"], 255);
        assert_eq!(schema["properties"]["is_available"]["default"], true);
        assert_eq!(schema["properties"]["price"]["anyOf"][1]["type"], "null");
    }
}
