//! Users in the table: the profile row, the email guard that makes an email belong to one
//! user, and the user count — written together in one transaction.

use super::attrs::{get_bool, get_number, get_parsed, get_required, get_text, get_time, get_uuid, number, text, Row};
use super::merge::{self, Partition};
use super::{cancelled_conditions, keys, send_transaction, unavailable, Table};
use aws_sdk_dynamodb::operation::transact_write_items::TransactWriteItemsError;
use aws_sdk_dynamodb::types::{AttributeValue, Delete, Put, TransactWriteItem};
use domain::passwords::PasswordHash;
use domain::ports::UserStore;
use domain::{Email, FullName, Role, StoreError, User};
use uuid::Uuid;

/// Access tokens issued before this time (epoch seconds) are void.
pub(crate) const TOKENS_VALID_AFTER: &str = "tokens_valid_after";
/// Bumped by every write of the profile.
pub(crate) const VERSION: &str = "version";
/// Whether a verification link for the current email was followed.
pub(crate) const IS_VERIFIED: &str = "is_verified";
/// Whether logins need a second factor: set and cleared with the two-factor record.
pub(crate) const HAS_2FA: &str = "has_2fa";

/// The shard of the user count that counts this user.
fn users_counter(user: Uuid) -> String {
    keys::sharded(keys::USERS_COUNTER, keys::shard(user))
}

fn user_to_item(user: &User) -> Row {
    let created = domain::clock::timestamp(user.created_at);
    let mut item = Row::from([
        (keys::PK.to_owned(), text(keys::user(user.id))),
        (keys::SK.to_owned(), text(keys::USER_SK)),
        (
            keys::GSI1_PK.to_owned(),
            text(keys::sharded(keys::USERS_INDEX, keys::shard(user.id))),
        ),
        (keys::GSI1_SK.to_owned(), text(format!("{created}#{}", user.id))),
        ("id".to_owned(), text(user.id.to_string())),
        ("email".to_owned(), text(user.email.as_str())),
        ("is_active".to_owned(), AttributeValue::Bool(user.is_active)),
        (IS_VERIFIED.to_owned(), AttributeValue::Bool(user.is_verified)),
        ("role".to_owned(), text(user.role.as_str())),
        ("created_at".to_owned(), text(created)),
        ("hashed_password".to_owned(), text(user.password_hash.as_str())),
        (TOKENS_VALID_AFTER.to_owned(), number(user.tokens_valid_after)),
        (HAS_2FA.to_owned(), AttributeValue::Bool(user.has_2fa)),
        (VERSION.to_owned(), number(user.version)),
    ]);
    if let Some(name) = &user.full_name {
        item.insert("full_name".to_owned(), text(name.as_str()));
    }
    item
}

pub(crate) fn user_from_item(item: &Row) -> Result<User, StoreError> {
    Ok(User {
        id: get_uuid(item, "id")?,
        email: get_required(item, "email", Email::parse)?,
        full_name: get_parsed(item, "full_name", FullName::parse)?,
        is_active: get_bool(item, "is_active", false),
        // Profiles written before verification existed never had a link: unverified.
        is_verified: get_bool(item, IS_VERIFIED, false),
        role: get_required(item, "role", Role::parse)?,
        created_at: get_time(item, "created_at")?,
        password_hash: PasswordHash::from_stored(get_text(item, "hashed_password")?.to_owned()),
        tokens_valid_after: get_number(item, TOKENS_VALID_AFTER),
        has_2fa: get_bool(item, HAS_2FA, false),
        version: get_number(item, VERSION),
    })
}

impl Table {
    fn email_guard(&self, email: &Email, user: Uuid) -> Result<Put, StoreError> {
        let guard = Row::from([
            (keys::PK.to_owned(), text(keys::email(email.as_str()))),
            (keys::SK.to_owned(), text(keys::EMAIL_SK)),
            ("user_id".to_owned(), text(user.to_string())),
        ]);
        Put::builder()
            .table_name(&self.name)
            .set_item(Some(guard))
            .condition_expression("attribute_not_exists(pk)")
            .build()
            .map_err(super::corrupt)
    }

    fn delete_email_guard(&self, email: &Email, user: Uuid) -> Result<Delete, StoreError> {
        Delete::builder()
            .table_name(&self.name)
            .key(keys::PK, text(keys::email(email.as_str())))
            .key(keys::SK, text(keys::EMAIL_SK))
            .condition_expression("user_id = :user")
            .expression_attribute_values(":user", text(user.to_string()))
            .build()
            .map_err(super::corrupt)
    }
}

impl UserStore for Table {
    async fn get(&self, id: Uuid) -> Result<Option<User>, StoreError> {
        self.get_item(keys::user(id), keys::USER_SK)
            .await?
            .map(|item| user_from_item(&item))
            .transpose()
    }

    async fn find_by_email(&self, email: &Email) -> Result<Option<User>, StoreError> {
        let Some(guard) = self.get_item(keys::email(email.as_str()), keys::EMAIL_SK).await? else {
            return Ok(None);
        };
        let id =
            Uuid::parse_str(get_text(&guard, "user_id")?).map_err(|_| StoreError::Corrupt("email guard".into()))?;
        self.get(id).await
    }

    /// One transaction writes the user, claims the email and bumps the user count, so an email
    /// belongs to one user however many signups race for it.
    async fn create(&self, user: &User) -> Result<(), StoreError> {
        let put_user = Put::builder()
            .table_name(&self.name)
            .set_item(Some(user_to_item(user)))
            .condition_expression("attribute_not_exists(pk)")
            .build()
            .map_err(super::corrupt)?;
        let result = send_transaction(
            self.client()
                .transact_write_items()
                .transact_items(TransactWriteItem::builder().put(put_user).build())
                .transact_items(
                    TransactWriteItem::builder()
                        .put(self.email_guard(&user.email, user.id)?)
                        .build(),
                )
                .transact_items(
                    TransactWriteItem::builder()
                        .update(self.counter_update(&users_counter(user.id), 1)?)
                        .build(),
                ),
        )
        .await;
        match result {
            Ok(_) => Ok(()),
            Err(err) => {
                let conflict = match err.as_service_error() {
                    Some(TransactWriteItemsError::TransactionCanceledException(cancelled)) => cancelled
                        .cancellation_reasons()
                        .iter()
                        .any(|reason| reason.code() == Some("ConditionalCheckFailed")),
                    _ => false,
                };
                // A user id is new with each signup: if its record is there, this transaction
                // committed on an attempt whose answer was lost, and the SDK's retry found its
                // own email guard (an emulator may not honour the request token).
                if conflict && self.get(user.id).await?.is_some() {
                    Ok(())
                } else if conflict {
                    Err(StoreError::EmailTaken)
                } else {
                    Err(unavailable(err))
                }
            }
        }
    }

    async fn list(&self, skip: usize, limit: usize) -> Result<Vec<User>, StoreError> {
        let shards = Partition::shards(keys::GSI1, keys::USERS_INDEX);
        let rows = self
            .newest_across(&shards, None, skip + limit, |query, size| {
                query.limit(merge::limit(size, 1))
            })
            .await?;
        rows.iter().skip(skip).take(limit).map(user_from_item).collect()
    }

    async fn count(&self) -> Result<u64, StoreError> {
        self.counters_sum(&keys::shards(keys::USERS_COUNTER)).await
    }

    /// Writes `user` over its stored record; when its email changed from `previous_email`, the
    /// new address is claimed and the old one released in the same transaction.
    /// Writes `user` over its stored profile if that is still at `user.version` (else
    /// `Conflict`), as the next version.
    async fn update(&self, user: &User, previous_email: &Email) -> Result<(), StoreError> {
        let next = User {
            version: user.version + 1,
            ..user.clone()
        };
        let put_user = Put::builder()
            .table_name(&self.name)
            .set_item(Some(user_to_item(&next)))
            .condition_expression("attribute_exists(pk) AND (attribute_not_exists(#v) OR #v = :read)")
            .expression_attribute_names("#v", VERSION)
            .expression_attribute_values(":read", number(user.version))
            .build()
            .map_err(super::corrupt)?;
        let mut transaction = self
            .client()
            .transact_write_items()
            .transact_items(TransactWriteItem::builder().put(put_user).build());
        let email_changed = &user.email != previous_email;
        if email_changed {
            transaction = transaction
                .transact_items(
                    TransactWriteItem::builder()
                        .put(self.email_guard(&user.email, user.id)?)
                        .build(),
                )
                .transact_items(
                    TransactWriteItem::builder()
                        .delete(self.delete_email_guard(previous_email, user.id)?)
                        .build(),
                );
        }
        match send_transaction(transaction).await {
            Ok(_) => Ok(()),
            Err(err) => match cancelled_conditions(&err) {
                Some(failed) if failed.first() == Some(&true) => match UserStore::get(self, user.id).await? {
                    Some(_) => Err(StoreError::Conflict),
                    None => Err(StoreError::NotFound),
                },
                Some(failed) if email_changed && failed.get(1) == Some(&true) => Err(StoreError::EmailTaken),
                _ => Err(unavailable(err)),
            },
        }
    }

    async fn delete(&self, user: &User) -> Result<(), StoreError> {
        let delete_user = Delete::builder()
            .table_name(&self.name)
            .key(keys::PK, text(keys::user(user.id)))
            .key(keys::SK, text(keys::USER_SK))
            .condition_expression("attribute_exists(pk)")
            .build()
            .map_err(super::corrupt)?;
        let result = send_transaction(
            self.client()
                .transact_write_items()
                .transact_items(TransactWriteItem::builder().delete(delete_user).build())
                .transact_items(
                    TransactWriteItem::builder()
                        .delete(self.delete_email_guard(&user.email, user.id)?)
                        .build(),
                )
                .transact_items(
                    TransactWriteItem::builder()
                        .update(self.counter_update(&users_counter(user.id), -1)?)
                        .build(),
                )
                .transact_items(TransactWriteItem::builder().put(self.deletion_marker(user.id)?).build())
                // Unconditional: most users have no two-factor record.
                .transact_items(
                    TransactWriteItem::builder()
                        .delete(self.delete_two_factor(user.id)?)
                        .build(),
                ),
        )
        .await;
        match result {
            Ok(_) => Ok(()),
            Err(err) if cancelled_conditions(&err).is_some_and(|f| f.contains(&true)) => Err(StoreError::NotFound),
            Err(err) => Err(unavailable(err)),
        }
    }

    async fn unfinished_deletions(&self, before: u64, limit: usize) -> Result<Vec<Uuid>, StoreError> {
        let mut found = Vec::new();
        let mut start = None;
        loop {
            let page = self
                .client()
                .query()
                .table_name(&self.name)
                .key_condition_expression("pk = :pk")
                .filter_expression("deleted_at <= :before")
                .expression_attribute_values(":pk", text(keys::UNFINISHED_DELETIONS))
                .expression_attribute_values(":before", number(before))
                .consistent_read(true)
                .set_exclusive_start_key(start)
                .send()
                .await
                .map_err(unavailable)?;
            for row in page.items.unwrap_or_default() {
                found.push((get_number(&row, "deleted_at"), get_uuid(&row, "user_id")?));
            }
            match page.last_evaluated_key {
                Some(key) if !key.is_empty() && found.len() < limit => start = Some(key),
                _ => break,
            }
        }
        found.sort_unstable();
        Ok(found.into_iter().take(limit).map(|(_, user)| user).collect())
    }

    async fn deletion_finished(&self, user: Uuid) -> Result<(), StoreError> {
        self.client()
            .delete_item()
            .table_name(&self.name)
            .key(keys::PK, text(keys::UNFINISHED_DELETIONS))
            .key(keys::SK, text(user.to_string()))
            .send()
            .await
            .map_err(unavailable)?;
        Ok(())
    }
}

impl Table {
    /// The record of a deletion whose cascade is still to run; removed when it has run.
    fn deletion_marker(&self, user: Uuid) -> Result<Put, StoreError> {
        let marker = Row::from([
            (keys::PK.to_owned(), text(keys::UNFINISHED_DELETIONS)),
            (keys::SK.to_owned(), text(user.to_string())),
            ("user_id".to_owned(), text(user.to_string())),
            ("deleted_at".to_owned(), number(domain::clock::now_secs())),
        ]);
        Put::builder()
            .table_name(&self.name)
            .set_item(Some(marker))
            .build()
            .map_err(super::corrupt)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn user_item_round_trips() {
        let user = User::new(
            Email::parse("a@example.com").unwrap(),
            PasswordHash::from_stored("$argon2id$v=19$x".into()),
            Some(FullName::parse("Ada").unwrap()),
            Role::Moderator,
        );
        let item = user_to_item(&user);
        assert_eq!(get_text(&item, keys::PK).unwrap(), keys::user(user.id));
        let back = user_from_item(&item).unwrap();
        assert_eq!(back.id, user.id);
        assert_eq!(back.email, user.email);
        assert_eq!(back.role, Role::Moderator);
        assert_eq!(back.full_name, user.full_name);
        assert_eq!(back.created_at.unix_timestamp(), user.created_at.unix_timestamp());
    }

    #[test]
    fn malformed_item_is_corrupt_not_a_panic() {
        let item = Row::from([("id".to_owned(), text("not-a-uuid"))]);
        assert!(matches!(user_from_item(&item), Err(StoreError::Corrupt(_))));
    }
}
