//! The request readers against arbitrary and half-right input: every body, form and query of the
//! contract, read from bytes or objects a client could send, is its value or a 422 that lists
//! where it failed — never a panic, never another error, never a secret echoed back.
//!
//! `FUZZ_CASES` sets how many cases each reader gets (default: about a second in all, as
//! `make test` runs it); `FUZZ_SEED` another seed (the default is fixed, so a failure repeats).

use contract::accounts::{PrivateUserCreate, UpdatePassword, UserCreate, UserRegister, UserUpdate, UserUpdateMe};
use contract::files::{FileCreate, FilesQuery};
use contract::items::{ItemCreate, ItemUpdate, ItemsQuery};
use contract::login::{LoginForm, NewPassword, RefreshTokenRequest};
use contract::posts::{PostCreate, PostUpdate, PostsQuery};
use contract::schema::Component;
use contract::validation::FromFields;
use edge::{ApiError, ApiRequest};
use http::{HeaderMap, HeaderValue, Method};
use serde_json::{json, Map, Value};
use std::sync::Arc;

/// xorshift64*: small, seeded, and the same sequence everywhere.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }
    fn below(&mut self, n: u64) -> u64 {
        self.next() % n.max(1)
    }
    fn pick<'a, T>(&mut self, items: &'a [T]) -> &'a T {
        &items[self.below(items.len() as u64) as usize]
    }
}

fn env_number(name: &str) -> Option<u64> {
    std::env::var(name).ok().and_then(|v| v.trim().parse().ok())
}

const TEXTS: &[&str] = &[
    "",
    " ",
    "a@example.com",
    "ADMIN@EXAMPLE.COM ",
    "not-an-email",
    "password1",
    "short",
    "Desk lamp",
    "image/png",
    "application/x-msdownload",
    "holiday.png",
    "../../etc/passwd",
    "invoice\u{202e}fdp.txt",
    "superuser",
    "user",
    "true",
    "0",
    "-1",
    "1e309",
    "12.5",
    "null",
    "\u{0}",
    "😀",
    "password",
];

fn text(rng: &mut Rng) -> String {
    match rng.below(4) {
        0 => "x".repeat(rng.below(60_000) as usize),
        1 => (0..rng.below(40))
            .map(|_| char::from_u32(rng.below(0x11_0000) as u32).unwrap_or('?'))
            .collect(),
        _ => (*rng.pick(TEXTS)).to_owned(),
    }
}

fn value(rng: &mut Rng, depth: u32) -> Value {
    match rng.below(if depth > 2 { 6 } else { 8 }) {
        0 => Value::Null,
        1 => Value::Bool(rng.below(2) == 0),
        2 => json!(rng.next() as i64),
        3 => json!(*rng.pick(&[0.0, -0.5, 1e-7, 12.5, 1e15, 1.5e15, f64::MAX, 4.8553132233738e21])),
        4 | 5 => Value::String(text(rng)),
        6 => Value::Array((0..rng.below(4)).map(|_| value(rng, depth + 1)).collect()),
        _ => Value::Object((0..rng.below(4)).map(|_| (text(rng), value(rng, depth + 1))).collect()),
    }
}

/// An object whose keys are mostly the body's own fields, with any values.
fn object(rng: &mut Rng, fields: &[String]) -> Map<String, Value> {
    let mut object = Map::new();
    for field in fields {
        if rng.below(4) != 0 {
            object.insert(field.clone(), value(rng, 0));
        }
    }
    if rng.below(4) == 0 {
        object.insert(text(rng), value(rng, 0));
    }
    object
}

fn bytes(rng: &mut Rng) -> Vec<u8> {
    (0..rng.below(200)).map(|_| rng.next() as u8).collect()
}

fn request(content_type: &str, body: Vec<u8>, query: Map<String, Value>) -> ApiRequest {
    let mut headers = HeaderMap::new();
    if let Ok(value) = HeaderValue::from_str(content_type) {
        headers.insert("content-type", value);
    }
    ApiRequest::new(
        Method::POST,
        "/".into(),
        headers,
        body,
        "fuzz".into(),
        None,
        Vec::new(),
        query,
        Arc::default(),
    )
}

/// The answer is the value or a 422 whose entries name a place and echo no secret.
fn check<T>(outcome: Result<T, ApiError>, secrets: &[&str], source: &str, input: &dyn std::fmt::Display) {
    let Err(err) = outcome else { return };
    let ApiError::Validation(errors) = &err else {
        panic!("{input}: not a 422: {err:?}")
    };
    assert!(!errors.is_empty(), "{input}: a 422 with no entry");
    for error in errors {
        let entry = error.to_json();
        let loc = entry["loc"].as_array().cloned().unwrap_or_default();
        assert_eq!(loc.first(), Some(&json!(source)), "{input}: {entry}");
        if let Some(field) = loc.get(1).and_then(Value::as_str) {
            if secrets.contains(&field) {
                assert_eq!(entry["input"], Value::Null, "{input}: a secret echoed: {entry}");
            }
        }
    }
}

fn properties<T: Component>() -> Vec<String> {
    T::definition()["properties"]
        .as_object()
        .map(|p| p.keys().cloned().collect())
        .unwrap_or_default()
}

fn fuzz_body<T: FromFields + Component>(rng: &mut Rng, cases: u64, secrets: &[&str]) {
    let fields = properties::<T>();
    for _ in 0..cases {
        let raw = if rng.below(3) == 0 {
            bytes(rng)
        } else {
            Value::Object(object(rng, &fields)).to_string().into_bytes()
        };
        let shown = String::from_utf8_lossy(&raw).chars().take(300).collect::<String>();
        check(
            request("application/json", raw, Map::new()).body::<T>(),
            secrets,
            "body",
            &shown,
        );
    }
}

fn fuzz_query<T: FromFields>(rng: &mut Rng, cases: u64, fields: &[&str]) {
    let fields: Vec<String> = fields.iter().map(|f| (*f).to_owned()).collect();
    for _ in 0..cases {
        // A query's values are strings, as API Gateway hands them over.
        let query: Map<String, Value> = object(rng, &fields)
            .into_iter()
            .map(|(k, v)| {
                (
                    k,
                    Value::String(v.as_str().map(str::to_owned).unwrap_or_else(|| v.to_string())),
                )
            })
            .collect();
        let shown = Value::Object(query.clone()).to_string();
        check(request("", Vec::new(), query).query::<T>(), &[], "query", &shown);
    }
}

#[test]
fn every_body_form_and_query_is_its_value_or_a_422() {
    let cases = env_number("FUZZ_CASES").unwrap_or(400);
    let mut rng = Rng(env_number("FUZZ_SEED").unwrap_or(0x5EED_2026_1204) | 1);
    let passwords = [
        "password",
        "current_password",
        "new_password",
        "token",
        "refresh_token",
        "client_secret",
    ];
    fuzz_body::<UserCreate>(&mut rng, cases, &passwords);
    fuzz_body::<UserRegister>(&mut rng, cases, &passwords);
    fuzz_body::<PrivateUserCreate>(&mut rng, cases, &passwords);
    fuzz_body::<UserUpdateMe>(&mut rng, cases, &passwords);
    fuzz_body::<UserUpdate>(&mut rng, cases, &passwords);
    fuzz_body::<UpdatePassword>(&mut rng, cases, &passwords);
    fuzz_body::<ItemCreate>(&mut rng, cases, &passwords);
    fuzz_body::<ItemUpdate>(&mut rng, cases, &passwords);
    fuzz_body::<PostCreate>(&mut rng, cases, &passwords);
    fuzz_body::<PostUpdate>(&mut rng, cases, &passwords);
    fuzz_body::<FileCreate>(&mut rng, cases, &passwords);
    fuzz_body::<RefreshTokenRequest>(&mut rng, cases, &passwords);
    fuzz_body::<NewPassword>(&mut rng, cases, &passwords);

    let form_fields = properties::<LoginForm>();
    for _ in 0..cases {
        let raw = if rng.below(3) == 0 {
            bytes(&mut rng)
        } else {
            let mut form = form_urlencoded::Serializer::new(String::new());
            for (k, v) in object(&mut rng, &form_fields) {
                form.append_pair(&k, v.as_str().unwrap_or(&v.to_string()));
            }
            form.finish().into_bytes()
        };
        let shown = String::from_utf8_lossy(&raw).chars().take(300).collect::<String>();
        let form = request("application/x-www-form-urlencoded", raw, Map::new()).form::<LoginForm>();
        check(form, &passwords, "body", &shown);
    }

    fuzz_query::<ItemsQuery>(&mut rng, cases, &["skip", "limit", "cursor", "q"]);
    fuzz_query::<PostsQuery>(&mut rng, cases, &["skip", "limit", "cursor", "author_id", "published"]);
    fuzz_query::<FilesQuery>(&mut rng, cases, &["skip", "limit", "cursor"]);
}

#[test]
fn what_a_body_accepts_it_reads_again_from_its_own_echo() {
    // A body that reads is read the same from the same JSON written out again (no reader
    // depends on the bytes' spelling, only on the values).
    let cases = env_number("FUZZ_CASES").unwrap_or(400);
    let mut rng = Rng(env_number("FUZZ_SEED").unwrap_or(0x0BAD_5EED) | 1);
    let fields = properties::<ItemCreate>();
    let mut accepted = 0;
    for _ in 0..cases * 4 {
        let object = object(&mut rng, &fields);
        let spelled = Value::Object(object.clone()).to_string();
        let pretty = serde_json::to_string_pretty(&Value::Object(object)).unwrap_or_default();
        let first = request("application/json", spelled.into_bytes(), Map::new()).body::<ItemCreate>();
        let second = request("application/json", pretty.into_bytes(), Map::new()).body::<ItemCreate>();
        match (first, second) {
            (Ok(a), Ok(b)) => {
                accepted += 1;
                assert_eq!(format!("{a:?}"), format!("{b:?}"));
            }
            (Err(_), Err(_)) => {}
            (a, b) => panic!("read differently: {a:?} / {b:?}"),
        }
    }
    assert!(accepted > 0, "the generator never made a valid item");
}
