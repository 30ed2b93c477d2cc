//! Items in the table: listed per owner (GSI1) and all together (GSI2), counted both ways.

use super::attrs::{get_bool, get_parsed, get_required, get_time, get_uuid, number, text, time, Row};
use super::keys;
use super::merge::Partition;
use super::records::{base_row, version_of, Place, TableRow, SEARCH};
use aws_sdk_dynamodb::types::AttributeValue;
use domain::{Description, Item, ItemScope, Price, StoreError, Title};
use serde_json::Number;
use uuid::Uuid;

impl TableRow for Item {
    fn key(id: Uuid) -> (String, &'static str) {
        (keys::item(id), keys::ITEM_SK)
    }

    fn to_row(&self) -> Row {
        let mut row = base_row(self);
        row.extend([
            (keys::GSI1_PK.to_owned(), text(keys::owner_items(self.owner_id))),
            (
                keys::GSI2_PK.to_owned(),
                text(keys::sharded(keys::ALL_ITEMS, keys::shard(self.id))),
            ),
            (keys::GSI2_SK.to_owned(), text(domain::Owned::sort_key(self))),
            ("id".to_owned(), text(self.id.to_string())),
            ("owner_id".to_owned(), text(self.owner_id.to_string())),
            ("title".to_owned(), text(self.title.as_str())),
            ("is_available".to_owned(), AttributeValue::Bool(self.is_available)),
            ("created_at".to_owned(), time(self.created_at)),
            ("updated_at".to_owned(), time(self.updated_at)),
            (SEARCH.to_owned(), text(self.search_text())),
        ]);
        if let Some(description) = &self.description {
            row.insert("description".to_owned(), text(description.as_str()));
        }
        if let Some(price) = &self.price {
            row.insert("price".to_owned(), number(price.as_number()));
        }
        row
    }

    fn from_row(row: &Row) -> Result<Self, StoreError> {
        let price = match row.get("price").and_then(|v| v.as_n().ok()) {
            Some(raw) => Some(
                serde_json::from_str::<Number>(raw)
                    .ok()
                    .and_then(|number| Price::parse(number).ok())
                    .ok_or_else(|| StoreError::Corrupt("attribute price is malformed".into()))?,
            ),
            None => None,
        };
        Ok(Self {
            id: get_uuid(row, "id")?,
            owner_id: get_uuid(row, "owner_id")?,
            title: get_required(row, "title", Title::parse)?,
            description: get_parsed(row, "description", Description::parse)?,
            price,
            is_available: get_bool(row, "is_available", true),
            created_at: get_time(row, "created_at")?,
            updated_at: get_time(row, "updated_at")?,
            version: version_of(row),
        })
    }

    fn counted_in(&self) -> Vec<String> {
        vec![
            keys::sharded(keys::ALL_ITEMS_COUNTER, keys::shard(self.id)),
            keys::owner_items_counter(self.owner_id),
        ]
    }

    fn place(source: &ItemScope) -> Place {
        match source {
            ItemScope::All => Place {
                partitions: Partition::shards(keys::GSI2, keys::ALL_ITEMS),
                counters: keys::shards(keys::ALL_ITEMS_COUNTER),
            },
            ItemScope::Owner(owner) => Place {
                partitions: vec![Partition::gsi1(keys::owner_items(*owner))],
                counters: vec![keys::owner_items_counter(*owner)],
            },
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use domain::item::NewItem;

    #[test]
    fn items_round_trip_through_the_table_format() {
        let item = Item::new(
            Uuid::new_v4(),
            NewItem {
                title: Title::parse("Lamp").unwrap(),
                description: Some(Description::parse("Bright").unwrap()),
                price: Some(Price::parse(Number::from_f64(19.99).unwrap()).unwrap()),
                is_available: None,
            },
        );
        let row = item.to_row();
        assert_eq!(Item::from_row(&row).unwrap(), item);
        assert_eq!(row[SEARCH].as_s().unwrap(), "lamp\nbright");
        assert_eq!(row[keys::GSI1_PK].as_s().unwrap(), &keys::owner_items(item.owner_id));
        let shard = keys::sharded(keys::ALL_ITEMS, keys::shard(item.id));
        assert_eq!(row[keys::GSI2_PK].as_s().unwrap(), &shard);
        assert!(Item::place(&ItemScope::All).partitions.iter().any(|p| p.key == shard));
        let counter = keys::sharded(keys::ALL_ITEMS_COUNTER, keys::shard(item.id));
        assert!(item.counted_in().contains(&counter));
        assert!(Item::place(&ItemScope::All).counters.contains(&counter));
    }
}
