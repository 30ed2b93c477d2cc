//! Email-verification links in the single table: `VERIFY#<sha256(token)>`, with TTL.

use super::attrs::{get_number, get_text, get_uuid, number, text, Row};
use super::keys::EXPIRES;
use super::users::{IS_VERIFIED, VERSION};
use super::{cancelled_conditions, corrupt, keys, send_transaction, unavailable, Table};
use aws_sdk_dynamodb::types::{AttributeValue, Delete, TransactWriteItem, Update};
use domain::clock::now_secs;
use domain::ports::EmailVerifications;
use domain::{secrets, StoreError, User};
use std::time::Duration;
use uuid::Uuid;

impl EmailVerifications for Table {
    /// One `PutItem` of a random key: links spread over as many partitions as there are tokens.
    async fn create_verification(&self, user: &User, ttl: Duration) -> Result<String, StoreError> {
        let token = secrets::generate().map_err(|e| StoreError::Unavailable(format!("no randomness: {e}")))?;
        let item = Row::from([
            (keys::PK.to_owned(), text(keys::verification(&secrets::digest(&token)))),
            (keys::SK.to_owned(), text(keys::VERIFICATION_SK)),
            ("user_id".to_owned(), text(user.id.to_string())),
            // The address the link was sent to: it verifies that address and no other.
            ("email".to_owned(), text(user.email.as_str())),
            (EXPIRES.to_owned(), number(now_secs() + ttl.as_secs())),
        ]);
        self.client()
            .put_item()
            .table_name(self.name())
            .set_item(Some(item))
            .send()
            .await
            .map_err(unavailable)?;
        Ok(token)
    }

    /// A consistent `GetItem` of the link, then one transaction: `Delete` the link (condition:
    /// there and unexpired — of concurrent redemptions, one commits) and `Update` the profile
    /// (condition: its email is still the link's), bumping its version so that a writer that
    /// read the profile before cannot put `is_verified` back.
    async fn verify_email(&self, presented: &str) -> Result<Option<Uuid>, StoreError> {
        let pk = keys::verification(&secrets::digest(presented));
        let Some(item) = self.get_item(pk.clone(), keys::VERIFICATION_SK).await? else {
            return Ok(None);
        };
        let now = now_secs();
        if get_number(&item, EXPIRES) <= now {
            return Ok(None);
        }
        let user_id = get_uuid(&item, "user_id")?;
        let spend = Delete::builder()
            .table_name(self.name())
            .key(keys::PK, text(pk))
            .key(keys::SK, text(keys::VERIFICATION_SK))
            .condition_expression("attribute_exists(pk) AND #exp > :now")
            .expression_attribute_names("#exp", EXPIRES)
            .expression_attribute_values(":now", number(now))
            .build()
            .map_err(corrupt)?;
        let verify = Update::builder()
            .table_name(self.name())
            .key(keys::PK, text(keys::user(user_id)))
            .key(keys::SK, text(keys::USER_SK))
            .update_expression("SET #verified = :true, #v = if_not_exists(#v, :zero) + :one")
            .condition_expression("attribute_exists(pk) AND email = :email")
            .expression_attribute_names("#verified", IS_VERIFIED)
            .expression_attribute_names("#v", VERSION)
            .expression_attribute_values(":true", AttributeValue::Bool(true))
            .expression_attribute_values(":zero", number(0))
            .expression_attribute_values(":one", number(1))
            .expression_attribute_values(":email", text(get_text(&item, "email")?))
            .build()
            .map_err(corrupt)?;
        let result = send_transaction(
            self.client()
                .transact_write_items()
                .transact_items(TransactWriteItem::builder().delete(spend).build())
                .transact_items(TransactWriteItem::builder().update(verify).build()),
        )
        .await;
        match result {
            Ok(_) => Ok(Some(user_id)),
            // Spent by a concurrent redemption, expired, the user gone, or the address changed.
            Err(err) if cancelled_conditions(&err).is_some_and(|f| f.contains(&true)) => Ok(None),
            Err(err) => Err(unavailable(err)),
        }
    }
}
