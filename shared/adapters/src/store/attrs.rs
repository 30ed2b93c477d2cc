//! Reading and writing attributes of stored rows: a missing or malformed attribute is a
//! `Corrupt` record, never a panic.

use aws_sdk_dynamodb::types::AttributeValue;
use domain::clock::{parse_timestamp, timestamp};
use domain::StoreError;
use std::collections::HashMap;
use time::OffsetDateTime;
use uuid::Uuid;

/// One row of the table.
pub type Row = HashMap<String, AttributeValue>;

pub fn text(value: impl Into<String>) -> AttributeValue {
    AttributeValue::S(value.into())
}

pub fn number(value: impl ToString) -> AttributeValue {
    AttributeValue::N(value.to_string())
}

pub fn time(at: OffsetDateTime) -> AttributeValue {
    text(timestamp(at))
}

pub fn get_text<'a>(row: &'a Row, name: &str) -> Result<&'a str, StoreError> {
    row.get(name)
        .and_then(|v| v.as_s().ok())
        .map(String::as_str)
        .ok_or_else(|| StoreError::Corrupt(format!("attribute {name} missing")))
}

/// A text attribute that may be absent.
pub fn get_opt_text<'a>(row: &'a Row, name: &str) -> Option<&'a str> {
    row.get(name).and_then(|v| v.as_s().ok()).map(String::as_str)
}

pub fn get_uuid(row: &Row, name: &str) -> Result<Uuid, StoreError> {
    Uuid::parse_str(get_text(row, name)?).map_err(|_| StoreError::Corrupt(format!("attribute {name} is no uuid")))
}

pub fn get_time(row: &Row, name: &str) -> Result<OffsetDateTime, StoreError> {
    parse_timestamp(get_text(row, name)?).ok_or_else(|| StoreError::Corrupt(format!("attribute {name} is no time")))
}

/// A flag: absent is `default`.
pub fn get_bool(row: &Row, name: &str, default: bool) -> bool {
    row.get(name).and_then(|v| v.as_bool().ok()).copied().unwrap_or(default)
}

/// A whole number: absent or malformed is 0.
pub fn get_number(row: &Row, name: &str) -> u64 {
    row.get(name)
        .and_then(|v| v.as_n().ok())
        .and_then(|v| v.parse().ok())
        .unwrap_or(0)
}

/// A parsed value of text form: absent is `None`, malformed is `Corrupt`.
pub fn get_parsed<T, E>(
    row: &Row,
    name: &str,
    parse: impl FnOnce(&str) -> Result<T, E>,
) -> Result<Option<T>, StoreError> {
    get_opt_text(row, name)
        .map(|raw| parse(raw).map_err(|_| StoreError::Corrupt(format!("attribute {name} is malformed"))))
        .transpose()
}

/// A required value of text form.
pub fn get_required<T, E>(row: &Row, name: &str, parse: impl FnOnce(&str) -> Result<T, E>) -> Result<T, StoreError> {
    parse(get_text(row, name)?).map_err(|_| StoreError::Corrupt(format!("attribute {name} is malformed")))
}
