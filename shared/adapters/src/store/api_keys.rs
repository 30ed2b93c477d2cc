//! API keys in the single table, in their owner's partition: one row per key
//! (`USER#<id>` / `APIKEY#<key id>`, the key's digest and never the key) and the owner's key
//! count (`USER#<id>` / `APIKEYS`). A create and the count's conditional increment are one
//! transaction, so the cap holds under any number of parallel creates; a delete decrements it
//! in the same way. Keys have no TTL: a row the table removed on its own would leave the count
//! behind, so expired keys stay listed until their owner deletes them (or a create at the cap
//! prunes them).

use super::attrs::{get_number, get_opt_text, get_text, get_time, get_uuid, number, text, time, Row};
use super::{cancelled_conditions, condition_held, corrupt, keys, primary_key, send_transaction, unavailable, Table};
use aws_sdk_dynamodb::types::{AttributeValue, Delete, Put, TransactWriteItem, Update};
use domain::api_key::{self, ApiKey, KeyName, Scopes, MAX_KEYS_PER_USER, TOUCH_EVERY};
use domain::ports::ApiKeyStore;
use domain::{StoreError, User};
use time::OffsetDateTime;
use uuid::Uuid;

const KEY_ID: &str = "key_id";
const USER_ID: &str = "user_id";
const NAME: &str = "name";
const PREFIX: &str = "prefix";
const SCOPES: &str = "scopes";
const CREATED_AT: &str = "created_at";
/// When the key stops working (RFC 3339). Not the table's TTL attribute: see the module comment.
const KEY_EXPIRES_AT: &str = "key_expires_at";
/// The last use written down (epoch seconds), at most once per [`TOUCH_EVERY`].
const LAST_USED: &str = "last_used";
const DIGEST: &str = "digest";
/// The owner's count of keys, on the `APIKEYS` row.
const COUNT: &str = "n";

fn key_to_row(key: &ApiKey) -> Row {
    Row::from([
        (keys::PK.to_owned(), text(keys::user(key.user_id))),
        (keys::SK.to_owned(), text(keys::api_key(key.id))),
        (KEY_ID.to_owned(), text(key.id.to_string())),
        (USER_ID.to_owned(), text(key.user_id.to_string())),
        (NAME.to_owned(), text(key.name.as_str())),
        (PREFIX.to_owned(), text(&key.prefix)),
        (
            SCOPES.to_owned(),
            AttributeValue::Ss(key.scopes.iter().map(|s| s.as_str().to_owned()).collect()),
        ),
        (CREATED_AT.to_owned(), time(key.created_at)),
        (KEY_EXPIRES_AT.to_owned(), time(key.expires_at)),
        (DIGEST.to_owned(), text(&key.digest)),
    ])
}

fn key_from_row(row: &Row) -> Result<ApiKey, StoreError> {
    let scopes = row
        .get(SCOPES)
        .and_then(|v| v.as_ss().ok())
        .map(|names| Scopes::from_names(names.iter().map(String::as_str)))
        .unwrap_or_default();
    let last_used = row
        .contains_key(LAST_USED)
        .then(|| OffsetDateTime::from_unix_timestamp(get_number(row, LAST_USED) as i64))
        .transpose()
        .map_err(corrupt)?;
    Ok(ApiKey {
        id: get_uuid(row, KEY_ID)?,
        user_id: get_uuid(row, USER_ID)?,
        name: KeyName::parse(get_text(row, NAME)?).map_err(|e| corrupt(e.msg))?,
        prefix: get_opt_text(row, PREFIX).unwrap_or_default().to_owned(),
        scopes,
        created_at: get_time(row, CREATED_AT)?,
        expires_at: get_time(row, KEY_EXPIRES_AT)?,
        last_used_at: last_used,
        digest: get_text(row, DIGEST)?.to_owned(),
    })
}

impl Table {
    /// The transaction's part that moves the owner's key count by `delta`; going up only below
    /// the cap.
    fn key_count(&self, user_id: Uuid, delta: i64) -> Result<Update, StoreError> {
        let update = Update::builder()
            .table_name(self.name())
            .key(keys::PK, text(keys::user(user_id)))
            .key(keys::SK, text(keys::API_KEYS_SK))
            .update_expression("ADD #n :delta")
            .expression_attribute_names("#n", COUNT)
            .expression_attribute_values(":delta", number(delta));
        let update = if delta > 0 {
            update
                .condition_expression("attribute_not_exists(#n) OR #n < :max")
                .expression_attribute_values(":max", number(MAX_KEYS_PER_USER))
        } else {
            update
        };
        update.build().map_err(corrupt)
    }
}

impl ApiKeyStore for Table {
    /// One consistent `BatchGetItem` of the profile and the key, as for an access token's login.
    async fn key_caller(&self, user_id: Uuid, key_id: Uuid) -> Result<(Option<User>, Option<ApiKey>), StoreError> {
        let (user_pk, key_sk) = (keys::user(user_id), keys::api_key(key_id));
        let rows = self
            .batch_get(
                vec![
                    primary_key(user_pk.clone(), keys::USER_SK),
                    primary_key(user_pk, &key_sk),
                ],
                true,
            )
            .await?;
        let sk_is = |row: &&Row, sk: &str| row.get(keys::SK).and_then(|v| v.as_s().ok()).is_some_and(|v| v == sk);
        let user = rows
            .iter()
            .find(|row| sk_is(row, keys::USER_SK))
            .map(super::users::user_from_item)
            .transpose()?;
        let key = rows
            .iter()
            .find(|row| sk_is(row, &key_sk))
            .map(key_from_row)
            .transpose()?;
        Ok((user, key))
    }

    /// A conditional `UpdateItem`: the use is written only if none within [`TOUCH_EVERY`] was,
    /// so parallel requests of one key write it once.
    async fn touch_key(&self, key: &ApiKey, at: OffsetDateTime) -> Result<(), StoreError> {
        let at = at.unix_timestamp().max(0) as u64;
        let result = self
            .client()
            .update_item()
            .table_name(self.name())
            .key(keys::PK, text(keys::user(key.user_id)))
            .key(keys::SK, text(keys::api_key(key.id)))
            .update_expression("SET #used = :at")
            .condition_expression("attribute_exists(pk) AND (attribute_not_exists(#used) OR #used <= :stale)")
            .expression_attribute_names("#used", LAST_USED)
            .expression_attribute_values(":at", number(at))
            .expression_attribute_values(":stale", number(at.saturating_sub(TOUCH_EVERY.as_secs())))
            .send()
            .await;
        condition_held(result).map(|_| ())
    }

    async fn create_key(&self, key: &ApiKey) -> Result<bool, StoreError> {
        let put = Put::builder()
            .table_name(self.name())
            .set_item(Some(key_to_row(key)))
            .condition_expression("attribute_not_exists(pk)")
            .build()
            .map_err(corrupt)?;
        let result = send_transaction(
            self.client()
                .transact_write_items()
                .transact_items(
                    TransactWriteItem::builder()
                        .update(self.key_count(key.user_id, 1)?)
                        .build(),
                )
                .transact_items(TransactWriteItem::builder().put(put).build()),
        )
        .await;
        match result {
            Ok(_) => Ok(true),
            Err(err) => match cancelled_conditions(&err) {
                Some(failed) if failed.first() == Some(&true) => Ok(false),
                // A fresh id taken: this create committed on an attempt whose answer was lost.
                Some(failed) if failed.get(1) == Some(&true) => Ok(true),
                _ => Err(unavailable(err)),
            },
        }
    }

    /// One `Query` of the owner's partition (at most 20 rows of ~300 bytes: 2 RRU,
    /// consistent so a key just made or deleted shows as such), newest first.
    async fn keys(&self, user_id: Uuid) -> Result<Vec<ApiKey>, StoreError> {
        let rows = self.rows_with_prefix(keys::user(user_id), keys::API_KEY_PREFIX).await?;
        let mut found = rows.iter().map(key_from_row).collect::<Result<Vec<_>, _>>()?;
        api_key::newest_first(&mut found);
        Ok(found)
    }

    async fn delete_key(&self, user_id: Uuid, key_id: Uuid) -> Result<bool, StoreError> {
        let delete = Delete::builder()
            .table_name(self.name())
            .key(keys::PK, text(keys::user(user_id)))
            .key(keys::SK, text(keys::api_key(key_id)))
            .condition_expression("attribute_exists(pk)")
            .build()
            .map_err(corrupt)?;
        let result = send_transaction(
            self.client()
                .transact_write_items()
                .transact_items(TransactWriteItem::builder().delete(delete).build())
                .transact_items(
                    TransactWriteItem::builder()
                        .update(self.key_count(user_id, -1)?)
                        .build(),
                ),
        )
        .await;
        match result {
            Ok(_) => Ok(true),
            Err(err) if cancelled_conditions(&err).is_some_and(|f| f.first() == Some(&true)) => Ok(false),
            Err(err) => Err(unavailable(err)),
        }
    }

    /// The keys and the count, in `BatchWriteItem`s: the owner is gone, so no create races it.
    async fn delete_user_keys(&self, user_id: Uuid) -> Result<usize, StoreError> {
        let found = self.keys(user_id).await?;
        let mut doomed: Vec<Row> = found
            .iter()
            .map(|key| primary_key(keys::user(user_id), &keys::api_key(key.id)))
            .collect();
        doomed.push(primary_key(keys::user(user_id), keys::API_KEYS_SK));
        self.batch_delete(doomed).await?;
        Ok(found.len())
    }
}
