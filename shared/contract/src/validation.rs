//! FastAPI/pydantic-shaped validation errors, and typed reading of request parts that collects one
//! error per failing field.

pub use domain::{Invalid, Patch};
use serde_json::{json, Map, Value};

/// Where a failing value came from: `["body", "email"]`, `["query", "limit"]`, `["path", "id"]`.
#[derive(Debug, Clone, PartialEq)]
pub struct Loc(Vec<Value>);

impl Loc {
    pub fn body(field: &str) -> Self {
        Self(vec![json!("body"), json!(field)])
    }
    pub fn body_root() -> Self {
        Self(vec![json!("body")])
    }
    pub fn query(field: &str) -> Self {
        Self(vec![json!("query"), json!(field)])
    }
    pub fn path(field: &str) -> Self {
        Self(vec![json!("path"), json!(field)])
    }
    pub fn header(field: &str) -> Self {
        Self(vec![json!("header"), json!(field)])
    }
    fn in_source(source: Source, field: &str) -> Self {
        match source {
            Source::Body => Self::body(field),
            Source::Query => Self::query(field),
            Source::Path => Self::path(field),
        }
    }
}

/// One entry of a 422 `detail` list.
#[derive(Debug, Clone, PartialEq)]
pub struct FieldError {
    pub kind: &'static str,
    pub loc: Loc,
    pub msg: String,
    pub input: Value,
    pub ctx: Option<Value>,
}

impl FieldError {
    pub fn new(loc: Loc, invalid: Invalid, input: Value) -> Self {
        Self {
            kind: invalid.kind,
            loc,
            msg: invalid.msg,
            input,
            ctx: invalid.ctx,
        }
    }

    pub fn missing(loc: Loc) -> Self {
        Self {
            kind: "missing",
            loc,
            msg: "Field required".into(),
            input: Value::Null,
            ctx: None,
        }
    }

    /// The body is not JSON at all (FastAPI: `json_invalid`).
    pub fn json_invalid(error: &serde_json::Error) -> Self {
        let mut loc = Loc::body_root();
        loc.0.push(json!(error.column()));
        Self {
            kind: "json_invalid",
            loc,
            msg: "JSON decode error".into(),
            input: json!({}),
            ctx: Some(json!({ "error": error_class(error) })),
        }
    }

    pub fn to_json(&self) -> Value {
        let mut entry = json!({
            "type": self.kind,
            "loc": self.loc.0,
            "msg": self.msg,
            "input": self.input,
        });
        if let Some(ctx) = &self.ctx {
            entry["ctx"] = ctx.clone();
        }
        entry
    }
}

fn error_class(error: &serde_json::Error) -> &'static str {
    use serde_json::error::Category;
    match error.classify() {
        Category::Eof => "Expecting value",
        Category::Syntax => "Invalid JSON syntax",
        Category::Data => "Invalid JSON data",
        Category::Io => "Unreadable body",
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Source {
    Body,
    Query,
    Path,
}

/// Reads named values out of a JSON object (a body) or a string map (query, path), parsing each into
/// its domain type and collecting every failure, so one 422 lists them all as FastAPI does.
pub struct Fields<'a> {
    source: Source,
    values: &'a Map<String, Value>,
    errors: Vec<FieldError>,
}

/// Whether a value's content should be echoed back in `input` when it fails.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Echo {
    Yes,
    /// Passwords and tokens: never sent back.
    Redact,
}

impl<'a> Fields<'a> {
    pub fn new(source: Source, values: &'a Map<String, Value>) -> Self {
        Self {
            source,
            values,
            errors: Vec::new(),
        }
    }

    /// A value that must be present and not null.
    pub fn required<T>(&mut self, name: &str, echo: Echo, parse: impl FnOnce(&Value) -> Result<T, Invalid>) -> Read<T> {
        match self.values.get(name) {
            None => Err(self.fail(FieldError::missing(Loc::in_source(self.source, name)))),
            Some(value) => self.parse(name, value, echo, parse),
        }
    }

    /// A value that may be absent or null (`None`); present values must parse.
    pub fn optional<T>(
        &mut self,
        name: &str,
        echo: Echo,
        parse: impl FnOnce(&Value) -> Result<T, Invalid>,
    ) -> Read<Option<T>> {
        match self.values.get(name) {
            None | Some(Value::Null) => Ok(None),
            Some(value) => self.parse(name, value, echo, parse).map(Some),
        }
    }

    /// A value with a default: absent is `None` (the default applies), but a value sent must
    /// parse, `null` included — pydantic's `is_active: bool = True` refuses `null` too.
    pub fn defaulted<T>(
        &mut self,
        name: &str,
        echo: Echo,
        parse: impl FnOnce(&Value) -> Result<T, Invalid>,
    ) -> Read<Option<T>> {
        match self.values.get(name) {
            None => Ok(None),
            Some(value) => self.parse(name, value, echo, parse).map(Some),
        }
    }

    /// A value of a partial update: absent (leave as is), null (clear), or a new value.
    pub fn patch<T>(
        &mut self,
        name: &str,
        echo: Echo,
        parse: impl FnOnce(&Value) -> Result<T, Invalid>,
    ) -> Read<Patch<T>> {
        match self.values.get(name) {
            None => Ok(Patch::Absent),
            Some(Value::Null) => Ok(Patch::Null),
            Some(value) => self.parse(name, value, echo, parse).map(Patch::Value),
        }
    }

    fn parse<T>(
        &mut self,
        name: &str,
        value: &Value,
        echo: Echo,
        parse: impl FnOnce(&Value) -> Result<T, Invalid>,
    ) -> Read<T> {
        parse(value).map_err(|invalid| {
            let input = match echo {
                Echo::Yes => value.clone(),
                Echo::Redact => Value::Null,
            };
            self.fail(FieldError::new(Loc::in_source(self.source, name), invalid, input))
        })
    }

    /// Records a failure; the returned proof is the only way to make a `Read` fail.
    pub fn fail(&mut self, error: FieldError) -> Failed {
        self.errors.push(error);
        Failed(())
    }

    /// The value read, or every failure recorded while reading it.
    pub fn finish<T>(self, read: Read<T>) -> Result<T, Vec<FieldError>> {
        match read {
            Ok(value) if self.errors.is_empty() => Ok(value),
            _ => Err(self.errors),
        }
    }
}

/// Proof that a failure was recorded in the `Fields` being read: a `Read` can only fail with one,
/// so `finish` never meets a failed read without its 422 entry.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Failed(());

/// The outcome of reading one value (or a whole request part) from `Fields`.
pub type Read<T> = Result<T, Failed>;

/// A request part (body, query, form) that reads itself from its fields, reporting every failure.
pub trait FromFields: Sized {
    fn from_fields(fields: &mut Fields<'_>) -> Read<Self>;
}

/// Parses a whole object of `source` as `T`: the value, or every failing field.
pub fn read<T: FromFields>(source: Source, values: &Map<String, Value>) -> Result<T, Vec<FieldError>> {
    let mut fields = Fields::new(source, values);
    let read = T::from_fields(&mut fields);
    fields.finish(read)
}

/// Parsers for JSON scalars, in pydantic's words.
pub mod scalar {
    use super::Invalid;
    use serde_json::Value;

    pub fn string(value: &Value) -> Result<&str, Invalid> {
        value.as_str().ok_or_else(Invalid::string_type)
    }

    /// A whole number in `min..=max`, from JSON or a query string.
    pub fn integer(value: &Value, min: i64, max: i64) -> Result<i64, Invalid> {
        let parsing = || {
            Invalid::new(
                "int_parsing",
                "Input should be a valid integer, unable to parse string as an integer",
            )
        };
        let too_small = || {
            Invalid::new(
                "greater_than_equal",
                format!("Input should be greater than or equal to {min}"),
            )
            .with_ctx(serde_json::json!({ "ge": min }))
        };
        let too_large = || {
            Invalid::new(
                "less_than_equal",
                format!("Input should be less than or equal to {max}"),
            )
            .with_ctx(serde_json::json!({ "le": max }))
        };
        let parsed = match value {
            Value::Number(n) => match n.as_i64() {
                Some(whole) => whole,
                // A float with no fractional part is an integer (JSON Schema's reading, and
                // pydantic's: 956.0 is 956); one beyond i64 is beyond any bound we set.
                None => match n.as_f64() {
                    Some(f) if f.fract() != 0.0 => {
                        return Err(Invalid::new(
                            "int_from_float",
                            "Input should be a valid integer, got a number with a fractional part",
                        ))
                    }
                    Some(f) if f < min as f64 => return Err(too_small()),
                    Some(f) if f > max as f64 => return Err(too_large()),
                    Some(f) => f as i64,
                    None => return Err(parsing()),
                },
            },
            Value::String(s) => s.trim().parse::<i64>().map_err(|_| parsing())?,
            _ => return Err(parsing()),
        };
        if parsed < min {
            return Err(too_small());
        }
        if parsed > max {
            return Err(too_large());
        }
        Ok(parsed)
    }

    pub fn uuid(value: &Value) -> Result<uuid::Uuid, Invalid> {
        let raw = value
            .as_str()
            .ok_or_else(|| Invalid::new("uuid_type", "UUID input should be a string, bytes or UUID object"))?;
        uuid::Uuid::parse_str(raw).map_err(|e| {
            Invalid::new("uuid_parsing", format!("Input should be a valid UUID, {e}"))
                .with_ctx(serde_json::json!({ "error": e.to_string() }))
        })
    }

    /// A JSON `true` or `false`, and nothing else: a body's booleans are what its schema says
    /// (pydantic's lax `0`, `"yes"` and the like are refused, as in its strict mode).
    pub fn json_boolean(value: &Value) -> Result<bool, Invalid> {
        value
            .as_bool()
            .ok_or_else(|| Invalid::new("bool_type", "Input should be a valid boolean"))
    }

    /// A boolean of a query string (or lax JSON): `true`, `1`, `yes`, `on`… as pydantic reads them.
    pub fn boolean(value: &Value) -> Result<bool, Invalid> {
        match value {
            Value::Bool(b) => Ok(*b),
            Value::String(s) => parse_bool(s),
            Value::Number(n) if n.as_i64() == Some(0) => Ok(false),
            Value::Number(n) if n.as_i64() == Some(1) => Ok(true),
            _ => Err(Invalid::new("bool_type", "Input should be a valid boolean")),
        }
    }

    /// Booleans as pydantic accepts them in query strings and lax JSON.
    pub fn parse_bool(s: &str) -> Result<bool, Invalid> {
        match s.to_ascii_lowercase().as_str() {
            "true" | "1" | "yes" | "on" | "t" | "y" => Ok(true),
            "false" | "0" | "no" | "off" | "f" | "n" => Ok(false),
            _ => Err(Invalid::new(
                "bool_parsing",
                "Input should be a valid boolean, unable to interpret input",
            )),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn object(value: Value) -> Map<String, Value> {
        value.as_object().cloned().unwrap_or_default()
    }

    #[test]
    fn collects_every_failing_field() {
        let body = object(json!({"name": 3}));
        let mut fields = Fields::new(Source::Body, &body);
        let name = fields.required("name", Echo::Yes, |v| scalar::string(v).map(str::to_owned));
        let pass = fields.required("password", Echo::Redact, |v| scalar::string(v).map(str::to_owned));
        assert!(name.is_err() && pass.is_err());
        let errors = fields.finish(name.and(pass)).unwrap_err();
        assert_eq!(errors.len(), 2);
        assert_eq!(errors[0].kind, "string_type");
        assert_eq!(errors[0].input, json!(3));
        assert_eq!(errors[1].kind, "missing");
        assert_eq!(errors[1].loc, Loc::body("password"));
    }

    #[test]
    fn redacted_input_is_never_echoed() {
        let body = object(json!({"password": "short"}));
        let mut fields = Fields::new(Source::Body, &body);
        let read = fields.required("password", Echo::Redact, |_| Err::<(), _>(Invalid::too_short(8)));
        let errors = fields.finish(read).unwrap_err();
        assert_eq!(errors[0].input, Value::Null);
        assert_eq!(errors[0].ctx, Some(json!({"min_length": 8})));
    }

    #[test]
    fn null_optional_is_absent() {
        let body = object(json!({"full_name": null}));
        let mut fields = Fields::new(Source::Body, &body);
        let name = fields.optional("full_name", Echo::Yes, |v| scalar::string(v).map(str::to_owned));
        assert_eq!(name, Ok(None));
        assert_eq!(fields.finish(name), Ok(None));
    }

    #[test]
    fn integers_are_bounded() {
        assert_eq!(scalar::integer(&json!("5"), 0, 10), Ok(5));
        assert_eq!(
            scalar::integer(&json!(-1), 0, 10).unwrap_err().kind,
            "greater_than_equal"
        );
        assert_eq!(
            scalar::integer(&json!("11"), 0, 10).unwrap_err().kind,
            "less_than_equal"
        );
        assert_eq!(scalar::integer(&json!("x"), 0, 10).unwrap_err().kind, "int_parsing");
        assert_eq!(
            scalar::integer(&json!(7.0), 0, 10),
            Ok(7),
            "a whole float is an integer"
        );
        assert_eq!(scalar::integer(&json!(7.5), 0, 10).unwrap_err().kind, "int_from_float");
        assert_eq!(
            scalar::integer(&json!(1e300), 0, i64::MAX).unwrap_err().kind,
            "less_than_equal"
        );
        assert_eq!(
            scalar::integer(&json!(-1e300), 0, 10).unwrap_err().kind,
            "greater_than_equal"
        );
    }

    #[test]
    fn a_defaulted_value_may_be_absent_but_not_null() {
        let body = object(json!({"a": null, "b": true}));
        let mut fields = Fields::new(Source::Body, &body);
        assert_eq!(fields.defaulted("b", Echo::Yes, scalar::json_boolean), Ok(Some(true)));
        assert_eq!(fields.defaulted("c", Echo::Yes, scalar::json_boolean), Ok(None));
        let null = fields.defaulted("a", Echo::Yes, scalar::json_boolean);
        assert_eq!(fields.finish(null).unwrap_err()[0].kind, "bool_type");
    }

    #[test]
    fn patch_tells_absent_from_null() {
        let body = object(json!({"a": null, "b": "x"}));
        let mut fields = Fields::new(Source::Body, &body);
        let string = |v: &Value| scalar::string(v).map(str::to_owned);
        assert_eq!(fields.patch("a", Echo::Yes, string), Ok(Patch::Null));
        assert_eq!(fields.patch("b", Echo::Yes, string), Ok(Patch::Value("x".to_owned())));
        assert_eq!(fields.patch("c", Echo::Yes, string), Ok(Patch::Absent));
    }

    #[test]
    fn body_booleans_are_json_booleans() {
        assert_eq!(scalar::json_boolean(&json!(true)), Ok(true));
        for lax in [json!(0), json!("yes"), json!(null), json!({})] {
            assert_eq!(scalar::json_boolean(&lax).unwrap_err().kind, "bool_type", "{lax}");
        }
    }

    #[test]
    fn query_booleans_follow_pydantic() {
        assert_eq!(scalar::parse_bool("TRUE"), Ok(true));
        assert_eq!(scalar::parse_bool("0"), Ok(false));
        assert_eq!(scalar::parse_bool("maybe").unwrap_err().kind, "bool_parsing");
    }
}
