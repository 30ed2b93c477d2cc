//! The DynamoDB single table (see docs/data-model.md) and the stores built on it.

use crate::domain::{Email, FullName, Role};
use crate::passwords::PasswordHash;
use crate::users::{User, UserStore};
use aws_sdk_dynamodb::error::{ProvideErrorMetadata, SdkError};
use aws_sdk_dynamodb::operation::transact_write_items::TransactWriteItemsError;
use aws_sdk_dynamodb::types::{AttributeValue, Delete, Put, TransactWriteItem, Update};
use aws_sdk_dynamodb::Client;
use std::collections::HashMap;
use time::format_description::well_known::Rfc3339;
use time::OffsetDateTime;
use uuid::Uuid;

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum StoreError {
    #[error("email already registered")]
    EmailTaken,
    #[error("record not found")]
    NotFound,
    #[error("table unavailable: {0}")]
    Unavailable(String),
    #[error("stored record is malformed: {0}")]
    Corrupt(String),
}

impl From<StoreError> for crate::error::ApiError {
    fn from(err: StoreError) -> Self {
        match err {
            StoreError::EmailTaken => Self::BadRequest("The user with this email already exists in the system".into()),
            StoreError::NotFound => Self::NotFound("User not found".into()),
            StoreError::Unavailable(cause) => Self::unavailable("table", cause),
            StoreError::Corrupt(cause) => Self::Internal(cause),
        }
    }
}

impl StoreError {
    /// Any SDK failure other than a condition we test for: the table is unreachable or throttling.
    pub fn from_sdk<E, R>(err: SdkError<E, R>) -> Self
    where
        E: ProvideErrorMetadata + std::error::Error + 'static,
        R: std::fmt::Debug,
    {
        let code = err.code().unwrap_or("no error code").to_owned();
        Self::Unavailable(format!(
            "{code}: {}",
            aws_sdk_dynamodb::error::DisplayErrorContext(&err)
        ))
    }
}

fn unavailable<E, R>(err: SdkError<E, R>) -> StoreError
where
    E: ProvideErrorMetadata + std::error::Error + 'static,
    R: std::fmt::Debug,
{
    StoreError::from_sdk(err)
}

pub(crate) type Item = HashMap<String, AttributeValue>;

/// Sends a transaction, retrying briefly when DynamoDB cancels it only because another
/// transaction held one of its items (`TransactionConflict`, which the SDK does not retry):
/// counters are shared by concurrent writers.
pub(crate) async fn send_transaction(
    transaction: aws_sdk_dynamodb::operation::transact_write_items::builders::TransactWriteItemsFluentBuilder,
) -> Result<
    aws_sdk_dynamodb::operation::transact_write_items::TransactWriteItemsOutput,
    SdkError<TransactWriteItemsError, aws_smithy_runtime_api::http::Response>,
> {
    let mut attempt = 0u32;
    loop {
        match transaction.clone().send().await {
            Err(err) if attempt < 5 && only_conflicts(&err) => {
                attempt += 1;
                let jitter = u64::from(
                    std::time::SystemTime::now()
                        .duration_since(std::time::UNIX_EPOCH)
                        .map(|d| d.subsec_nanos())
                        .unwrap_or(0)
                        % 20,
                );
                tokio::time::sleep(std::time::Duration::from_millis(10 * u64::from(attempt) + jitter)).await;
            }
            other => return other,
        }
    }
}

fn only_conflicts(err: &SdkError<TransactWriteItemsError, aws_smithy_runtime_api::http::Response>) -> bool {
    match err.as_service_error() {
        Some(TransactWriteItemsError::TransactionCanceledException(cancelled)) => {
            let codes: Vec<_> = cancelled
                .cancellation_reasons()
                .iter()
                .filter_map(|r| r.code())
                .collect();
            codes.contains(&"TransactionConflict") && !codes.contains(&"ConditionalCheckFailed")
        }
        _ => false,
    }
}

pub(crate) fn s(value: impl Into<String>) -> AttributeValue {
    AttributeValue::S(value.into())
}

// Reading a stored record: a missing or malformed attribute is a `Corrupt` record.

pub(crate) fn get_s<'a>(item: &'a Item, name: &str) -> Result<&'a str, StoreError> {
    item.get(name)
        .and_then(|v| v.as_s().ok())
        .map(String::as_str)
        .ok_or_else(|| StoreError::Corrupt(format!("attribute {name} missing")))
}

pub(crate) fn get_uuid(item: &Item, name: &str) -> Result<Uuid, StoreError> {
    Uuid::parse_str(get_s(item, name)?).map_err(|_| StoreError::Corrupt(format!("attribute {name} is no uuid")))
}

pub(crate) fn get_time(item: &Item, name: &str) -> Result<OffsetDateTime, StoreError> {
    OffsetDateTime::parse(get_s(item, name)?, &Rfc3339)
        .map_err(|_| StoreError::Corrupt(format!("attribute {name} is no time")))
}

/// A flag: absent is false.
pub(crate) fn get_bool(item: &Item, name: &str) -> bool {
    item.get(name).and_then(|v| v.as_bool().ok()).copied().unwrap_or(false)
}

/// How every time is stored: RFC 3339, which sorts as text in time order.
pub(crate) fn timestamp(at: OffsetDateTime) -> String {
    at.format(&Rfc3339).unwrap_or_default()
}

/// Key layout of the single table.
pub mod keys {
    use uuid::Uuid;

    pub const PK: &str = "pk";
    pub const SK: &str = "sk";
    pub const GSI1: &str = "gsi1";
    pub const GSI1_PK: &str = "gsi1pk";
    pub const GSI1_SK: &str = "gsi1sk";
    pub const GSI2: &str = "gsi2";
    pub const GSI2_PK: &str = "gsi2pk";
    pub const GSI2_SK: &str = "gsi2sk";

    pub fn user(id: Uuid) -> String {
        format!("USER#{id}")
    }
    pub const USER_SK: &str = "PROFILE";
    pub fn email(email: &str) -> String {
        format!("EMAIL#{email}")
    }
    pub const EMAIL_SK: &str = "EMAIL";
    pub const USERS_INDEX: &str = "USERS";
    pub const USERS_COUNTER: &str = "COUNTER#USERS";
    pub const COUNTER_SK: &str = "COUNTER";
    pub fn refresh(digest: &str) -> String {
        format!("REFRESH#{digest}")
    }
    pub const REFRESH_SK: &str = "REFRESH";
    pub fn family(id: Uuid) -> String {
        format!("FAMILY#{id}")
    }
    pub const FAMILY_SK: &str = "FAMILY";
    pub fn user_families(user: Uuid) -> String {
        format!("USER#{user}#FAMILIES")
    }
    pub fn reset(digest: &str) -> String {
        format!("RESET#{digest}")
    }
    pub const RESET_SK: &str = "RESET";
    pub fn rate(scope: &str, key: &str, window_start: u64) -> String {
        format!("RATE#{scope}#{key}#{window_start}")
    }
    pub const RATE_SK: &str = "RATE";
    pub const IDEMPOTENCY_SK: &str = "IDEMP";
}

#[derive(Clone, Debug)]
pub struct Table {
    client: std::sync::Arc<crate::aws::Lazy<Client>>,
    name: String,
}

impl Table {
    pub fn new(client: Client, name: impl Into<String>) -> Self {
        Self {
            client: std::sync::Arc::new(crate::aws::Lazy::ready(client)),
            name: name.into(),
        }
    }

    /// For functions where only some work touches the table (the worker's cleanup jobs).
    pub fn on_first_use(aws: &crate::aws::AwsConfig, name: impl Into<String>) -> Self {
        let client = crate::aws::Lazy::on_first_use(aws, crate::aws::AwsConfig::dynamodb);
        Self {
            client: std::sync::Arc::new(client),
            name: name.into(),
        }
    }

    pub fn name(&self) -> &str {
        &self.name
    }

    pub fn client(&self) -> &Client {
        self.client.get()
    }

    /// A cheap, read-only round trip: is the table there and reachable?
    pub async fn probe(&self) -> Result<(), StoreError> {
        self.client()
            .describe_table()
            .table_name(&self.name)
            .send()
            .await
            .map(|_| ())
            .map_err(unavailable)
    }

    pub(crate) async fn get_item(&self, pk: String, sk: &str) -> Result<Option<Item>, StoreError> {
        let out = self
            .client()
            .get_item()
            .table_name(&self.name)
            .key(keys::PK, s(pk))
            .key(keys::SK, s(sk))
            .consistent_read(true)
            .send()
            .await
            .map_err(unavailable)?;
        Ok(out.item)
    }
}

fn user_to_item(user: &User) -> Item {
    let created = timestamp(user.created_at);
    let mut item = Item::from([
        (keys::PK.to_owned(), s(keys::user(user.id))),
        (keys::SK.to_owned(), s(keys::USER_SK)),
        (keys::GSI1_PK.to_owned(), s(keys::USERS_INDEX)),
        (keys::GSI1_SK.to_owned(), s(format!("{created}#{}", user.id))),
        ("id".to_owned(), s(user.id.to_string())),
        ("email".to_owned(), s(user.email.as_str())),
        ("is_active".to_owned(), AttributeValue::Bool(user.is_active)),
        ("role".to_owned(), s(user.role.as_str())),
        ("created_at".to_owned(), s(created)),
        ("hashed_password".to_owned(), s(user.password_hash.as_str())),
    ]);
    if let Some(name) = &user.full_name {
        item.insert("full_name".to_owned(), s(name.as_str()));
    }
    item
}

fn user_from_item(item: &Item) -> Result<User, StoreError> {
    let corrupt = |what: &str| StoreError::Corrupt(format!("user {what}"));
    Ok(User {
        id: get_uuid(item, "id")?,
        email: Email::parse(get_s(item, "email")?).map_err(|_| corrupt("email"))?,
        full_name: match item.get("full_name").and_then(|v| v.as_s().ok()) {
            Some(name) => Some(FullName::parse(name).map_err(|_| corrupt("full_name"))?),
            None => None,
        },
        is_active: get_bool(item, "is_active"),
        role: Role::parse(get_s(item, "role")?).map_err(|_| corrupt("role"))?,
        created_at: get_time(item, "created_at")?,
        password_hash: PasswordHash::from_stored(get_s(item, "hashed_password")?.to_owned()),
    })
}

impl Table {
    /// Adds `delta` to the counter at `key` (created at 0 when absent).
    pub(crate) fn counter_update(&self, key: &str, delta: i64) -> Result<Update, StoreError> {
        Update::builder()
            .table_name(&self.name)
            .key(keys::PK, s(key))
            .key(keys::SK, s(keys::COUNTER_SK))
            .update_expression("ADD #n :delta")
            .expression_attribute_names("#n", "n")
            .expression_attribute_values(":delta", AttributeValue::N(delta.to_string()))
            .build()
            .map_err(|e| StoreError::Corrupt(e.to_string()))
    }

    fn email_guard(&self, email: &Email, user: Uuid) -> Result<Put, StoreError> {
        let guard = Item::from([
            (keys::PK.to_owned(), s(keys::email(email.as_str()))),
            (keys::SK.to_owned(), s(keys::EMAIL_SK)),
            ("user_id".to_owned(), s(user.to_string())),
        ]);
        Put::builder()
            .table_name(&self.name)
            .set_item(Some(guard))
            .condition_expression("attribute_not_exists(pk)")
            .build()
            .map_err(|e| StoreError::Corrupt(e.to_string()))
    }

    fn delete_email_guard(&self, email: &Email, user: Uuid) -> Result<Delete, StoreError> {
        Delete::builder()
            .table_name(&self.name)
            .key(keys::PK, s(keys::email(email.as_str())))
            .key(keys::SK, s(keys::EMAIL_SK))
            .condition_expression("user_id = :user")
            .expression_attribute_values(":user", s(user.to_string()))
            .build()
            .map_err(|e| StoreError::Corrupt(e.to_string()))
    }
}

/// Which conditions of a cancelled transaction failed, in the order of its operations.
pub(crate) fn cancelled_conditions(
    err: &SdkError<TransactWriteItemsError, aws_smithy_runtime_api::http::Response>,
) -> Option<Vec<bool>> {
    match err.as_service_error() {
        Some(TransactWriteItemsError::TransactionCanceledException(cancelled)) => Some(
            cancelled
                .cancellation_reasons()
                .iter()
                .map(|r| r.code() == Some("ConditionalCheckFailed"))
                .collect(),
        ),
        _ => None,
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
        let id = Uuid::parse_str(get_s(&guard, "user_id")?).map_err(|_| StoreError::Corrupt("email guard".into()))?;
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
            .map_err(|e| StoreError::Corrupt(e.to_string()))?;
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
                        .update(self.counter_update(keys::USERS_COUNTER, 1)?)
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
                if conflict {
                    Err(StoreError::EmailTaken)
                } else {
                    Err(unavailable(err))
                }
            }
        }
    }

    async fn list(&self, skip: usize, limit: usize) -> Result<Vec<User>, StoreError> {
        let wanted = skip + limit;
        let mut items = Vec::new();
        let mut start = None;
        while items.len() < wanted {
            let page = self
                .client()
                .query()
                .table_name(&self.name)
                .index_name(keys::GSI1)
                .key_condition_expression("gsi1pk = :pk")
                .expression_attribute_values(":pk", s(keys::USERS_INDEX))
                .scan_index_forward(false)
                .limit(i32::try_from(wanted - items.len()).unwrap_or(i32::MAX).clamp(1, 1000))
                .set_exclusive_start_key(start)
                .send()
                .await
                .map_err(unavailable)?;
            items.extend(page.items.unwrap_or_default());
            match page.last_evaluated_key {
                Some(key) if !key.is_empty() => start = Some(key),
                _ => break,
            }
        }
        items.iter().skip(skip).take(limit).map(user_from_item).collect()
    }

    async fn count(&self) -> Result<u64, StoreError> {
        self.counter(keys::USERS_COUNTER).await
    }

    /// Writes `user` over its stored record; when its email changed from `previous_email`, the
    /// new address is claimed and the old one released in the same transaction.
    async fn update(&self, user: &User, previous_email: &Email) -> Result<(), StoreError> {
        let put_user = Put::builder()
            .table_name(&self.name)
            .set_item(Some(user_to_item(user)))
            .condition_expression("attribute_exists(pk)")
            .build()
            .map_err(|e| StoreError::Corrupt(e.to_string()))?;
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
                Some(failed) if failed.first() == Some(&true) => Err(StoreError::NotFound),
                Some(failed) if email_changed && failed.get(1) == Some(&true) => Err(StoreError::EmailTaken),
                _ => Err(unavailable(err)),
            },
        }
    }

    async fn delete(&self, user: &User) -> Result<(), StoreError> {
        let delete_user = Delete::builder()
            .table_name(&self.name)
            .key(keys::PK, s(keys::user(user.id)))
            .key(keys::SK, s(keys::USER_SK))
            .condition_expression("attribute_exists(pk)")
            .build()
            .map_err(|e| StoreError::Corrupt(e.to_string()))?;
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
                        .update(self.counter_update(keys::USERS_COUNTER, -1)?)
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
        assert_eq!(get_s(&item, keys::PK).unwrap(), keys::user(user.id));
        let back = user_from_item(&item).unwrap();
        assert_eq!(back.id, user.id);
        assert_eq!(back.email, user.email);
        assert_eq!(back.role, Role::Moderator);
        assert_eq!(back.full_name, user.full_name);
        assert_eq!(back.created_at.unix_timestamp(), user.created_at.unix_timestamp());
    }

    #[test]
    fn malformed_item_is_corrupt_not_a_panic() {
        let item = Item::from([("id".to_owned(), s("not-a-uuid"))]);
        assert!(matches!(user_from_item(&item), Err(StoreError::Corrupt(_))));
    }
}
