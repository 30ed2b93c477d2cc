//! Items: what a user owns in the reference app, with a price and availability on top.

use crate::records::{version_of, VERSION};
use crate::resources::{search_text, Owned};
use crate::store::{get_s, get_time, get_uuid, keys, s, timestamp, Item, StoreError};
use crate::users::now_micros;
use crate::validation::{scalar, Echo, Fields, Invalid, Patch};
use aws_sdk_dynamodb::types::AttributeValue;
use serde_json::{json, Number, Value};
use time::OffsetDateTime;
use uuid::Uuid;

/// 1–255 characters.
pub fn title(value: &Value) -> Result<String, Invalid> {
    let text = scalar::string(value)?;
    match text.chars().count() {
        0 => Err(Invalid::too_short(1)),
        n if n > 255 => Err(Invalid::too_long(255)),
        _ => Ok(text.to_owned()),
    }
}

/// At most `max` characters.
pub fn text_up_to(max: usize) -> impl Fn(&Value) -> Result<String, Invalid> {
    move |value| {
        let text = scalar::string(value)?;
        if text.chars().count() > max {
            Err(Invalid::too_long(max))
        } else {
            Ok(text.to_owned())
        }
    }
}

/// A number greater than zero (JSON number or numeric string, as pydantic's lax mode takes).
pub fn price(value: &Value) -> Result<Number, Invalid> {
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
    if number.as_f64().is_some_and(|f| f > 0.0 && f.is_finite()) {
        Ok(number)
    } else {
        Err(Invalid::new("greater_than", "Input should be greater than 0").with_ctx(json!({ "gt": 0 })))
    }
}

#[derive(Debug, Clone, PartialEq)]
pub struct ItemRecord {
    pub id: Uuid,
    pub owner_id: Uuid,
    pub title: String,
    pub description: Option<String>,
    pub price: Option<Number>,
    pub is_available: bool,
    pub created_at: OffsetDateTime,
    pub updated_at: OffsetDateTime,
    pub version: u64,
}

/// The fields of an item body; on create, `title` is required and the rest default.
#[derive(Debug, Clone, Default)]
pub struct ItemFields {
    pub title: Option<String>,
    pub description: Patch<String>,
    pub price: Patch<Number>,
    pub is_available: Option<bool>,
}

impl ItemFields {
    pub fn read(fields: &mut Fields<'_>, creating: bool) -> Self {
        let title_value = if creating {
            fields.required("title", Echo::Yes, title)
        } else {
            fields.optional("title", Echo::Yes, title).flatten()
        };
        Self {
            title: title_value,
            description: fields.patch("description", Echo::Yes, text_up_to(255)),
            price: fields.patch("price", Echo::Yes, price),
            is_available: fields.optional("is_available", Echo::Yes, scalar::boolean).flatten(),
        }
    }

    pub fn apply(self, item: &mut ItemRecord) {
        if let Some(title) = self.title {
            item.title = title;
        }
        match self.description {
            Patch::Absent => {}
            Patch::Null => item.description = None,
            Patch::Value(text) => item.description = Some(text),
        }
        match self.price {
            Patch::Absent => {}
            Patch::Null => item.price = None,
            Patch::Value(price) => item.price = Some(price),
        }
        if let Some(available) = self.is_available {
            item.is_available = available;
        }
    }
}

impl ItemRecord {
    pub fn new(owner_id: Uuid, fields: ItemFields) -> Self {
        let now = now_micros();
        let mut item = Self {
            id: Uuid::new_v4(),
            owner_id,
            title: String::new(),
            description: None,
            price: None,
            is_available: true,
            created_at: now,
            updated_at: now,
            version: 1,
        };
        fields.apply(&mut item);
        item
    }

    pub fn sort_key(&self) -> String {
        format!("{}#{}", timestamp(self.created_at), self.id)
    }
}

pub fn owner_partition(owner: Uuid) -> String {
    format!("OWNER#{owner}#ITEMS")
}
pub const ALL_PARTITION: &str = "ITEMS";
pub const ALL_COUNTER: &str = "COUNTER#ITEMS";
pub fn owner_counter(owner: Uuid) -> String {
    format!("COUNTER#ITEMS#{owner}")
}
pub const SEARCH: &str = "search";

impl Owned for ItemRecord {
    const NAME: &'static str = "Item";

    fn id(&self) -> Uuid {
        self.id
    }
    fn owner(&self) -> Uuid {
        self.owner_id
    }
    fn version(&self) -> u64 {
        self.version
    }
    fn touch(&mut self) {
        self.version += 1;
        self.updated_at = now_micros();
    }
    fn key(id: Uuid) -> (String, &'static str) {
        (format!("ITEM#{id}"), "ITEM")
    }

    fn to_item(&self) -> Item {
        let (pk, sk) = Self::key(self.id);
        let mut item = Item::from([
            (keys::PK.to_owned(), s(pk)),
            (keys::SK.to_owned(), s(sk)),
            (keys::GSI1_PK.to_owned(), s(owner_partition(self.owner_id))),
            (keys::GSI1_SK.to_owned(), s(self.sort_key())),
            (keys::GSI2_PK.to_owned(), s(ALL_PARTITION)),
            (keys::GSI2_SK.to_owned(), s(self.sort_key())),
            ("id".to_owned(), s(self.id.to_string())),
            ("owner_id".to_owned(), s(self.owner_id.to_string())),
            ("title".to_owned(), s(&self.title)),
            ("is_available".to_owned(), AttributeValue::Bool(self.is_available)),
            ("created_at".to_owned(), s(timestamp(self.created_at))),
            ("updated_at".to_owned(), s(timestamp(self.updated_at))),
            (VERSION.to_owned(), AttributeValue::N(self.version.to_string())),
            (
                SEARCH.to_owned(),
                s(search_text(&[Some(&self.title), self.description.as_deref()])),
            ),
        ]);
        if let Some(description) = &self.description {
            item.insert("description".to_owned(), s(description));
        }
        if let Some(price) = &self.price {
            item.insert("price".to_owned(), AttributeValue::N(price.to_string()));
        }
        item
    }

    fn from_item(item: &Item) -> Result<Self, StoreError> {
        Ok(Self {
            id: get_uuid(item, "id")?,
            owner_id: get_uuid(item, "owner_id")?,
            title: get_s(item, "title")?.to_owned(),
            description: item.get("description").and_then(|v| v.as_s().ok()).cloned(),
            price: item
                .get("price")
                .and_then(|v| v.as_n().ok())
                .and_then(|n| serde_json::from_str::<Number>(n).ok()),
            is_available: item
                .get("is_available")
                .and_then(|v| v.as_bool().ok())
                .copied()
                .unwrap_or(true),
            created_at: get_time(item, "created_at")?,
            updated_at: get_time(item, "updated_at")?,
            version: version_of(item),
        })
    }

    fn public(&self) -> Value {
        json!({
            "id": self.id,
            "title": self.title,
            "description": self.description,
            "owner_id": self.owner_id,
            "created_at": timestamp(self.created_at),
            "price": self.price,
            "is_available": self.is_available,
            "updated_at": timestamp(self.updated_at),
        })
    }

    fn counted_in(&self) -> Vec<String> {
        vec![ALL_COUNTER.to_owned(), owner_counter(self.owner_id)]
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn prices_must_be_positive_numbers() {
        assert_eq!(price(&json!(12.5)).unwrap().as_f64(), Some(12.5));
        assert_eq!(price(&json!("3")).unwrap().as_f64(), Some(3.0));
        assert_eq!(price(&json!(0)).unwrap_err().kind, "greater_than");
        assert_eq!(price(&json!(-1)).unwrap_err().kind, "greater_than");
        assert_eq!(price(&json!("cheap")).unwrap_err().kind, "float_parsing");
    }

    #[test]
    fn titles_are_one_to_255_characters() {
        assert_eq!(title(&json!("")).unwrap_err().kind, "string_too_short");
        assert_eq!(title(&json!("x".repeat(256))).unwrap_err().kind, "string_too_long");
        assert!(title(&json!("x".repeat(255))).is_ok());
    }

    #[test]
    fn items_round_trip_through_the_table_format() {
        let body = json!({"title": "Lamp", "description": "Bright", "price": 19.99});
        let map = body.as_object().unwrap();
        let mut fields = Fields::new(crate::validation::Source::Body, map);
        let item = ItemRecord::new(Uuid::new_v4(), ItemFields::read(&mut fields, true));
        assert!(fields.finish().is_ok());
        let back = ItemRecord::from_item(&item.to_item()).unwrap();
        assert_eq!(back, item);
        assert_eq!(back.public()["price"], json!(19.99));
        assert_eq!(item.to_item()[SEARCH].as_s().unwrap(), "lamp\nbright");
    }
}
