//! Why a value was refused, in pydantic's words (`kind`, `msg`, `ctx`), and partial updates.

use serde_json::{json, Value};

/// What is wrong with one value, independent of where it came from.
#[derive(Debug, Clone, PartialEq)]
pub struct Invalid {
    pub kind: &'static str,
    pub msg: String,
    pub ctx: Option<Value>,
}

impl Invalid {
    pub fn new(kind: &'static str, msg: impl Into<String>) -> Self {
        Self {
            kind,
            msg: msg.into(),
            ctx: None,
        }
    }
    pub fn with_ctx(mut self, ctx: Value) -> Self {
        self.ctx = Some(ctx);
        self
    }
    pub fn string_type() -> Self {
        Self::new("string_type", "Input should be a valid string")
    }
    pub fn too_short(min: usize) -> Self {
        let unit = if min == 1 { "character" } else { "characters" };
        Self::new("string_too_short", format!("String should have at least {min} {unit}"))
            .with_ctx(json!({ "min_length": min }))
    }
    pub fn too_long(max: usize) -> Self {
        let unit = if max == 1 { "character" } else { "characters" };
        Self::new("string_too_long", format!("String should have at most {max} {unit}"))
            .with_ctx(json!({ "max_length": max }))
    }
}

/// One field of a partial update.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub enum Patch<T> {
    #[default]
    Absent,
    Null,
    Value(T),
}

impl<T> Patch<T> {
    /// The new value, `None` for absent or null.
    pub fn value(self) -> Option<T> {
        match self {
            Self::Value(v) => Some(v),
            _ => None,
        }
    }

    /// Applies the patch to a stored optional field.
    pub fn apply_to(self, field: &mut Option<T>) {
        match self {
            Self::Absent => {}
            Self::Null => *field = None,
            Self::Value(v) => *field = Some(v),
        }
    }
}
