//! Two-factor records (`USER#<id>` / `TOTP`) and logins waiting for their second factor
//! (`MFA#<digest>` / `MFA`) in the single table. Every "once" is a conditional write: a TOTP
//! step is recorded only if later than the last, a recovery code removed only if present, an
//! `mfa_token` counted only below its attempts and spent only while it stands.

use super::attrs::{get_number, get_opt_text, get_uuid, number, text, Row};
use super::keys::EXPIRES;
use super::users::{HAS_2FA, VERSION};
use super::{cancelled_conditions, condition_held, corrupt, keys, send_transaction, unavailable, Table};
use aws_sdk_dynamodb::error::ProvideErrorMetadata;
use aws_sdk_dynamodb::types::{AttributeValue, Delete, ReturnValue, TransactWriteItem, Update};
use domain::clock::now_secs;
use domain::ports::TwoFactorStore;
use domain::secrets;
use domain::two_factor::{Challenge, TwoFactor};
use domain::StoreError;
use std::time::Duration;
use uuid::Uuid;

/// The sealed secret waiting for its first code.
const PENDING: &str = "pending_secret";
/// The sealed secret of two-factor that is on.
const SECRET: &str = "secret";
/// The last step a TOTP code was accepted for.
const LAST_STEP: &str = "last_step";
/// The digests of the recovery codes not used yet (a string set).
const RECOVERY: &str = "recovery_codes";
const ATTEMPTS: &str = "attempts";
const ISSUED_AT: &str = "issued_at";

impl Table {
    /// The profile's part of turning two-factor on or off: `has_2fa`, as the profile's next
    /// version (a writer holding the one before cannot put the old flag back).
    fn profile_flag(&self, user_id: Uuid, on: bool) -> Result<Update, StoreError> {
        Update::builder()
            .table_name(self.name())
            .key(keys::PK, text(keys::user(user_id)))
            .key(keys::SK, text(keys::USER_SK))
            .update_expression("SET #flag = :flag ADD #v :one")
            .condition_expression("attribute_exists(pk)")
            .expression_attribute_names("#flag", HAS_2FA)
            .expression_attribute_names("#v", VERSION)
            .expression_attribute_values(":flag", AttributeValue::Bool(on))
            .expression_attribute_values(":one", number(1))
            .build()
            .map_err(corrupt)
    }

    /// The delete of a user's two-factor record, for the transaction that deletes the user.
    pub(crate) fn delete_two_factor(&self, user_id: Uuid) -> Result<Delete, StoreError> {
        Delete::builder()
            .table_name(self.name())
            .key(keys::PK, text(keys::user(user_id)))
            .key(keys::SK, text(keys::TWO_FACTOR_SK))
            .build()
            .map_err(corrupt)
    }

    fn challenge_key(token: &str) -> String {
        keys::mfa_challenge(&secrets::digest(token))
    }
}

impl TwoFactorStore for Table {
    async fn two_factor(&self, user_id: Uuid) -> Result<Option<TwoFactor>, StoreError> {
        let row = self.get_item(keys::user(user_id), keys::TWO_FACTOR_SK).await?;
        Ok(row.map(|row| TwoFactor {
            pending: get_opt_text(&row, PENDING).map(str::to_owned),
            secret: get_opt_text(&row, SECRET).map(str::to_owned),
            last_step: row.contains_key(LAST_STEP).then(|| get_number(&row, LAST_STEP)),
            recovery_left: row.get(RECOVERY).and_then(|v| v.as_ss().ok()).map_or(0, Vec::len),
        }))
    }

    async fn begin_totp(&self, user_id: Uuid, sealed: &str) -> Result<bool, StoreError> {
        let result = self
            .client()
            .update_item()
            .table_name(self.name())
            .key(keys::PK, text(keys::user(user_id)))
            .key(keys::SK, text(keys::TWO_FACTOR_SK))
            .update_expression("SET #pending = :sealed, #user = :user")
            .condition_expression("attribute_not_exists(#secret)")
            .expression_attribute_names("#pending", PENDING)
            .expression_attribute_names("#user", "user_id")
            .expression_attribute_names("#secret", SECRET)
            .expression_attribute_values(":sealed", text(sealed))
            .expression_attribute_values(":user", text(user_id.to_string()))
            .send()
            .await;
        condition_held(result)
    }

    /// One transaction: the record (its pending secret becomes the secret, with the step and the
    /// recovery codes) and the profile's flag.
    async fn enable_totp(
        &self,
        user_id: Uuid,
        pending: &str,
        step: u64,
        recovery_digests: &[String],
    ) -> Result<bool, StoreError> {
        let record = Update::builder()
            .table_name(self.name())
            .key(keys::PK, text(keys::user(user_id)))
            .key(keys::SK, text(keys::TWO_FACTOR_SK))
            .update_expression("SET #secret = :pending, #step = :step, #recovery = :codes REMOVE #pending")
            .condition_expression("#pending = :pending AND attribute_not_exists(#secret)")
            .expression_attribute_names("#secret", SECRET)
            .expression_attribute_names("#pending", PENDING)
            .expression_attribute_names("#step", LAST_STEP)
            .expression_attribute_names("#recovery", RECOVERY)
            .expression_attribute_values(":pending", text(pending))
            .expression_attribute_values(":step", number(step))
            .expression_attribute_values(":codes", AttributeValue::Ss(recovery_digests.to_vec()))
            .build()
            .map_err(corrupt)?;
        let result = send_transaction(
            self.client()
                .transact_write_items()
                .transact_items(TransactWriteItem::builder().update(record).build())
                .transact_items(
                    TransactWriteItem::builder()
                        .update(self.profile_flag(user_id, true)?)
                        .build(),
                ),
        )
        .await;
        match result {
            Ok(_) => Ok(true),
            Err(err) if cancelled_conditions(&err).is_some_and(|failed| failed.contains(&true)) => Ok(false),
            Err(err) => Err(unavailable(err)),
        }
    }

    async fn accept_step(&self, user_id: Uuid, step: u64) -> Result<bool, StoreError> {
        let result = self
            .client()
            .update_item()
            .table_name(self.name())
            .key(keys::PK, text(keys::user(user_id)))
            .key(keys::SK, text(keys::TWO_FACTOR_SK))
            .update_expression("SET #step = :step")
            .condition_expression("attribute_exists(#secret) AND (attribute_not_exists(#step) OR #step < :step)")
            .expression_attribute_names("#step", LAST_STEP)
            .expression_attribute_names("#secret", SECRET)
            .expression_attribute_values(":step", number(step))
            .send()
            .await;
        condition_held(result)
    }

    async fn use_recovery_code(&self, user_id: Uuid, digest: &str) -> Result<bool, StoreError> {
        let result = self
            .client()
            .update_item()
            .table_name(self.name())
            .key(keys::PK, text(keys::user(user_id)))
            .key(keys::SK, text(keys::TWO_FACTOR_SK))
            .update_expression("DELETE #recovery :used")
            .condition_expression("attribute_exists(#secret) AND contains(#recovery, :digest)")
            .expression_attribute_names("#recovery", RECOVERY)
            .expression_attribute_names("#secret", SECRET)
            .expression_attribute_values(":used", AttributeValue::Ss(vec![digest.to_owned()]))
            .expression_attribute_values(":digest", text(digest))
            .send()
            .await;
        condition_held(result)
    }

    async fn disable_two_factor(&self, user_id: Uuid) -> Result<(), StoreError> {
        let result = send_transaction(
            self.client()
                .transact_write_items()
                .transact_items(
                    TransactWriteItem::builder()
                        .delete(self.delete_two_factor(user_id)?)
                        .build(),
                )
                .transact_items(
                    TransactWriteItem::builder()
                        .update(self.profile_flag(user_id, false)?)
                        .build(),
                ),
        )
        .await;
        match result {
            Ok(_) => Ok(()),
            Err(err) if cancelled_conditions(&err).is_some_and(|failed| failed.contains(&true)) => {
                Err(StoreError::NotFound)
            }
            Err(err) => Err(unavailable(err)),
        }
    }

    async fn create_challenge(&self, user_id: Uuid, ttl: Duration) -> Result<String, StoreError> {
        let token = secrets::generate().map_err(|e| StoreError::Unavailable(format!("no randomness: {e}")))?;
        let now = now_secs();
        let row = Row::from([
            (keys::PK.to_owned(), text(Self::challenge_key(&token))),
            (keys::SK.to_owned(), text(keys::MFA_CHALLENGE_SK)),
            ("user_id".to_owned(), text(user_id.to_string())),
            (ISSUED_AT.to_owned(), number(now)),
            (ATTEMPTS.to_owned(), number(0)),
            (EXPIRES.to_owned(), number(now + ttl.as_secs())),
        ]);
        self.client()
            .put_item()
            .table_name(self.name())
            .set_item(Some(row))
            .condition_expression("attribute_not_exists(pk)")
            .send()
            .await
            .map_err(unavailable)?;
        Ok(token)
    }

    async fn challenge_attempt(&self, token: &str, max_attempts: u64) -> Result<Option<Challenge>, StoreError> {
        let result = self
            .client()
            .update_item()
            .table_name(self.name())
            .key(keys::PK, text(Self::challenge_key(token)))
            .key(keys::SK, text(keys::MFA_CHALLENGE_SK))
            .update_expression("ADD #attempts :one")
            .condition_expression("attribute_exists(pk) AND #exp > :now AND #attempts < :max")
            .expression_attribute_names("#attempts", ATTEMPTS)
            .expression_attribute_names("#exp", EXPIRES)
            .expression_attribute_values(":one", number(1))
            .expression_attribute_values(":now", number(now_secs()))
            .expression_attribute_values(":max", number(max_attempts))
            .return_values(ReturnValue::AllNew)
            .send()
            .await;
        match result {
            Ok(out) => {
                let row = out.attributes.unwrap_or_default();
                Ok(Some(Challenge {
                    user_id: get_uuid(&row, "user_id")?,
                    issued_at: get_number(&row, ISSUED_AT),
                }))
            }
            Err(err) if err.code() == Some("ConditionalCheckFailedException") => Ok(None),
            Err(err) => Err(unavailable(err)),
        }
    }

    async fn spend_challenge(&self, token: &str) -> Result<bool, StoreError> {
        let result = self
            .client()
            .delete_item()
            .table_name(self.name())
            .key(keys::PK, text(Self::challenge_key(token)))
            .key(keys::SK, text(keys::MFA_CHALLENGE_SK))
            .condition_expression("attribute_exists(pk) AND #exp > :now")
            .expression_attribute_names("#exp", EXPIRES)
            .expression_attribute_values(":now", number(now_secs()))
            .send()
            .await;
        condition_held(result)
    }
}
