//! `SentEmails` on the table: one row per email job, written before the email is sent.

use super::attrs::{number, text};
use super::keys::{self, EXPIRES};
use super::{condition_held, primary_key, unavailable, Table};
use domain::clock::now_secs;
use domain::ports::SentEmails;
use domain::StoreError;
use std::time::Duration;
use uuid::Uuid;

/// How long a claim is kept: longer than a job can be redelivered (4 days on the emails queue,
/// 14 in its dead-letter queue, from which it may be redriven).
const CLAIM_TTL: Duration = Duration::from_secs(15 * 24 * 3600);

impl SentEmails for Table {
    async fn claim_email(&self, job: Uuid) -> Result<bool, StoreError> {
        let mut row = primary_key(keys::sent_email(job), keys::SENT_EMAIL_SK);
        row.insert(EXPIRES.to_owned(), number(now_secs() + CLAIM_TTL.as_secs()));
        row.insert(
            "claimed_at".to_owned(),
            text(domain::clock::timestamp(domain::clock::now_micros())),
        );
        condition_held(
            self.client()
                .put_item()
                .table_name(self.name())
                .set_item(Some(row))
                .condition_expression("attribute_not_exists(pk)")
                .send()
                .await,
        )
    }

    async fn release_email(&self, job: Uuid) -> Result<(), StoreError> {
        self.client()
            .delete_item()
            .table_name(self.name())
            .set_key(Some(primary_key(keys::sent_email(job), keys::SENT_EMAIL_SK)))
            .send()
            .await
            .map_err(unavailable)?;
        Ok(())
    }
}
