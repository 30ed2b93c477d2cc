//! Items: what a user owns in the reference app, with a price and availability on top.

use super::clock::now_micros;
use super::owned::Owned;
use super::values::{Description, Price, Title};
use super::Patch;
use time::OffsetDateTime;
use uuid::Uuid;

#[derive(Debug, Clone, PartialEq)]
pub struct Item {
    pub id: Uuid,
    pub owner_id: Uuid,
    pub title: Title,
    pub description: Option<Description>,
    pub price: Option<Price>,
    pub is_available: bool,
    pub created_at: OffsetDateTime,
    pub updated_at: OffsetDateTime,
    pub version: u64,
}

/// A new item: the title is required, the rest default.
#[derive(Debug, Clone)]
pub struct NewItem {
    pub title: Title,
    pub description: Option<Description>,
    pub price: Option<Price>,
    pub is_available: Option<bool>,
}

/// What an update changes; absent fields stay as they are, null clears.
#[derive(Debug, Clone, Default)]
pub struct ItemChanges {
    pub title: Option<Title>,
    pub description: Patch<Description>,
    pub price: Patch<Price>,
    pub is_available: Option<bool>,
}

/// Where items are listed from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ItemScope {
    /// Every item (a superuser's view).
    All,
    Owner(Uuid),
}

impl ItemScope {
    /// A superuser lists every item; anyone else their own.
    pub fn for_caller(caller: &super::User) -> Self {
        if caller.role.is_superuser() {
            Self::All
        } else {
            Self::Owner(caller.id)
        }
    }
}

impl Item {
    pub fn new(owner_id: Uuid, new: NewItem) -> Self {
        let now = now_micros();
        Self {
            id: Uuid::new_v4(),
            owner_id,
            title: new.title,
            description: new.description,
            price: new.price,
            is_available: new.is_available.unwrap_or(true),
            created_at: now,
            updated_at: now,
            version: 1,
        }
    }

    /// Lower-cased text a `q` search looks in.
    pub fn search_text(&self) -> String {
        search_text(&[
            Some(self.title.as_str()),
            self.description.as_ref().map(Description::as_str),
        ])
    }

    /// Owners read their items; reading anyone's is a superuser's privilege.
    pub fn readable_by(&self, caller: &super::User) -> bool {
        caller.id == self.owner_id || caller.role.is_superuser()
    }
}

/// Lower-cased parts joined by newlines: what a `q` search looks in.
pub fn search_text(parts: &[Option<&str>]) -> String {
    parts
        .iter()
        .flatten()
        .map(|p| p.to_lowercase())
        .collect::<Vec<_>>()
        .join("\n")
}

impl Owned for Item {
    const NAME: &'static str = "Item";
    const COLLECTION: &'static str = "items";
    type Source = ItemScope;
    type Changes = ItemChanges;

    fn id(&self) -> Uuid {
        self.id
    }
    fn owner(&self) -> Uuid {
        self.owner_id
    }
    fn version(&self) -> u64 {
        self.version
    }
    fn sort_key(&self) -> String {
        format!("{}#{}", super::clock::timestamp(self.created_at), self.id)
    }
    fn sources_of(owner: Uuid) -> Vec<ItemScope> {
        vec![ItemScope::Owner(owner)]
    }
    fn listed_in(&self, source: &ItemScope) -> bool {
        match source {
            ItemScope::All => true,
            ItemScope::Owner(owner) => *owner == self.owner_id,
        }
    }
    fn matches(&self, search: &str) -> bool {
        self.search_text().contains(search)
    }
    fn changed(&self, changes: &ItemChanges) -> Option<Self> {
        let mut next = self.clone();
        if let Some(title) = &changes.title {
            next.title = title.clone();
        }
        changes.description.clone().apply_to(&mut next.description);
        changes.price.clone().apply_to(&mut next.price);
        if let Some(available) = changes.is_available {
            next.is_available = available;
        }
        (next != *self).then_some(next)
    }
    fn touch(&mut self) {
        self.version += 1;
        self.updated_at = now_micros();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn lamp() -> Item {
        Item::new(
            Uuid::new_v4(),
            NewItem {
                title: Title::parse("Lamp").unwrap(),
                description: Some(Description::parse("Bright").unwrap()),
                price: None,
                is_available: None,
            },
        )
    }

    #[test]
    fn new_items_are_available_at_version_one() {
        let item = lamp();
        assert!(item.is_available);
        assert_eq!(item.version, 1);
        assert_eq!(item.search_text(), "lamp\nbright");
    }

    #[test]
    fn an_empty_change_changes_nothing() {
        let item = lamp();
        assert!(item.changed(&ItemChanges::default()).is_none());
        let cleared = ItemChanges {
            description: Patch::Null,
            ..ItemChanges::default()
        };
        assert_eq!(item.changed(&cleared).unwrap().description, None);
    }
}
