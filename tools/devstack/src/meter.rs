//! The capacity meter (`devstack up --meter`): a proxy between the functions and the emulator
//! that records every AWS call a function makes — the service, the operation, and for DynamoDB
//! the read and write units it consumes on each partition of the table and of every index, by
//! DynamoDB's published rules (items rounded up to 4 KB for reads and 1 KB for writes,
//! eventually consistent reads at half, transactions at twice, index upkeep for every write that
//! puts, moves or removes an index entry). moto counts no capacity, so the meter reads what it
//! needs itself: the item before and after each write, and the items a filtered query evaluated.
//!
//! Writes pass the meter one at a time, so the images around a write are that write's; reads go
//! straight through. The meter's own reads are not recorded. `GET /_devstack/meter?since=N` lists
//! the calls after the N-th.

use crate::server;
use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::body::Incoming;
use hyper::{Request, Response, StatusCode};
use serde::Serialize;
use serde_json::{json, Map, Value};
use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use tokio::net::TcpListener;

/// Units on one partition of the table or of an index.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct Units {
    /// The table's name, or `<table>/<index>`.
    pub target: String,
    /// The partition key's value.
    pub key: String,
    pub read: f64,
    pub write: f64,
}

/// One AWS call a function made.
#[derive(Debug, Clone, Serialize)]
pub struct Call {
    pub seq: u64,
    pub service: &'static str,
    pub operation: String,
    pub status: u16,
    /// DynamoDB: the units by partition.
    pub units: Vec<Units>,
    /// DynamoDB reads: strongly consistent or not.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub consistent: Option<bool>,
    pub transactional: bool,
    /// Bytes of the item(s) read and written (DynamoDB), of the body sent (others).
    pub bytes: u64,
    /// A Lambda invocation: its duration, from the event handed over to the answer.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub duration_ms: Option<f64>,
    /// A Lambda invocation: the function's memory.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub memory_mb: Option<u32>,
    /// A Lambda invocation by an event source mapping: its queue's logical id (what the
    /// mapping's maximum concurrency limits).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub source: Option<String>,
}

/// The key schema of a table and its indexes: `(hash, range)` attribute names by target.
#[derive(Debug, Clone, Default)]
struct Schema {
    table: (String, Option<String>),
    indexes: HashMap<String, (String, Option<String>)>,
}

pub struct Meter {
    upstream: String,
    agent: ureq::Agent,
    calls: Mutex<Vec<Call>>,
    seq: AtomicU64,
    schemas: Mutex<HashMap<String, Schema>>,
    writes: tokio::sync::Mutex<()>,
}

impl Meter {
    /// The meter in front of `upstream` (the emulator), serving on a port of its own: the URL to
    /// give the functions as their AWS endpoint.
    pub async fn start(upstream: &str) -> Result<(Arc<Self>, String), String> {
        let listener = TcpListener::bind("127.0.0.1:0").await.map_err(|e| e.to_string())?;
        let url = format!("http://{}", listener.local_addr().map_err(|e| e.to_string())?);
        let agent = ureq::Agent::config_builder()
            .http_status_as_error(false)
            .max_redirects(0)
            .allow_non_standard_methods(true)
            .build()
            .new_agent();
        let meter = Arc::new(Self {
            upstream: upstream.trim_end_matches('/').to_owned(),
            agent,
            calls: Mutex::new(Vec::new()),
            seq: AtomicU64::new(0),
            schemas: Mutex::new(HashMap::new()),
            writes: tokio::sync::Mutex::new(()),
        });
        let serving = meter.clone();
        tokio::spawn(server::serve(listener, move |_, request| {
            let meter = serving.clone();
            async move { meter.handle(request).await }
        }));
        Ok((meter, url))
    }

    /// The calls recorded after the `since`-th.
    pub fn calls_since(&self, since: u64) -> Vec<Call> {
        self.calls
            .lock()
            .map(|calls| calls.iter().filter(|c| c.seq > since).cloned().collect())
            .unwrap_or_default()
    }

    /// Records a call that does not pass the proxy (a Management API push to a connection).
    pub fn record(&self, service: &'static str, operation: &str, status: u16, bytes: u64) {
        self.push(Call {
            seq: 0,
            service,
            operation: operation.to_owned(),
            status,
            units: Vec::new(),
            consistent: None,
            transactional: false,
            bytes,
            duration_ms: None,
            memory_mb: None,
            source: None,
        });
    }

    /// Records an invocation of `function`, how long it took, and the queue that fed it if any.
    pub fn record_invocation(&self, function: &str, memory_mb: u32, took: std::time::Duration, source: Option<&str>) {
        self.push(Call {
            seq: 0,
            service: "lambda",
            operation: function.to_owned(),
            status: 200,
            units: Vec::new(),
            consistent: None,
            transactional: false,
            bytes: 0,
            duration_ms: Some(took.as_secs_f64() * 1000.0),
            memory_mb: Some(memory_mb),
            source: source.map(str::to_owned),
        });
    }

    fn push(&self, mut call: Call) {
        call.seq = self.seq.fetch_add(1, Ordering::SeqCst) + 1;
        if let Ok(mut calls) = self.calls.lock() {
            calls.push(call);
        }
    }

    async fn handle(self: Arc<Self>, request: Request<Incoming>) -> Response<Full<Bytes>> {
        let (parts, body) = request.into_parts();
        let body = match body.collect().await {
            Ok(collected) => collected.to_bytes(),
            Err(err) => return plain(StatusCode::BAD_REQUEST, &err.to_string()),
        };
        let target = header(&parts.headers, "x-amz-target").unwrap_or_default();
        let (service, operation) = identify(&parts, &target);
        if service == "dynamodb" {
            let _write = if is_write(&operation) {
                Some(self.writes.lock().await)
            } else {
                None
            };
            let request_json: Value = serde_json::from_slice(&body).unwrap_or(Value::Null);
            let auth = header(&parts.headers, "authorization").unwrap_or_default();
            let before = self.images(&operation, &request_json, &auth).await;
            let response = self.forward(&parts, body.clone()).await;
            let status = response.status().as_u16();
            let response_json: Value = serde_json::from_slice(response.body()).unwrap_or(Value::Null);
            let after = if status == 200 {
                self.images(&operation, &request_json, &auth).await
            } else {
                before.clone()
            };
            let (units, consistent, bytes) = self
                .dynamodb_units(
                    &operation,
                    &request_json,
                    &response_json,
                    &before,
                    &after,
                    status,
                    &auth,
                )
                .await;
            self.push(Call {
                seq: 0,
                service,
                transactional: operation.starts_with("Transact"),
                operation,
                status,
                units,
                consistent,
                bytes,
                duration_ms: None,
                memory_mb: None,
                source: None,
            });
            return into_hyper(response);
        }
        let bytes = body.len() as u64;
        let response = self.forward(&parts, body).await;
        self.push(Call {
            seq: 0,
            service,
            operation,
            status: response.status().as_u16(),
            units: Vec::new(),
            consistent: None,
            transactional: false,
            bytes,
            duration_ms: None,
            memory_mb: None,
            source: None,
        });
        into_hyper(response)
    }

    /// The request, sent on to the emulator as it came.
    async fn forward(&self, parts: &hyper::http::request::Parts, body: Bytes) -> http::Response<Vec<u8>> {
        let uri = format!(
            "{}{}",
            self.upstream,
            parts.uri.path_and_query().map(|p| p.as_str()).unwrap_or("/")
        );
        let mut builder = http::Request::builder().method(parts.method.as_str()).uri(uri);
        for (name, value) in &parts.headers {
            if name != "host" && name != "content-length" {
                builder = builder.header(name.as_str(), value.as_bytes());
            }
        }
        let Ok(request) = builder.body(body.to_vec()) else {
            return status_only(StatusCode::BAD_REQUEST);
        };
        let agent = self.agent.clone();
        let sent = tokio::task::spawn_blocking(move || {
            let response = agent.run(request).map_err(|e| e.to_string())?;
            let (parts, mut body) = response.into_parts();
            let bytes = body
                .with_config()
                .limit(64 * 1024 * 1024)
                .read_to_vec()
                .map_err(|e| e.to_string())?;
            Ok::<_, String>(http::Response::from_parts(parts, bytes))
        })
        .await;
        match sent {
            Ok(Ok(response)) => response,
            _ => status_only(StatusCode::BAD_GATEWAY),
        }
    }

    /// One DynamoDB call of the meter's own to the emulator (not recorded).
    async fn dynamodb(&self, operation: &str, body: Value, auth: &str) -> Value {
        let request = http::Request::builder()
            .method("POST")
            .uri(format!("{}/", self.upstream))
            .header("content-type", "application/x-amz-json-1.0")
            .header("x-amz-target", format!("DynamoDB_20120810.{operation}"))
            .header("authorization", auth)
            .body(body.to_string().into_bytes());
        let Ok(request) = request else { return Value::Null };
        let agent = self.agent.clone();
        tokio::task::spawn_blocking(move || {
            let mut response = agent.run(request).ok()?;
            let text = response.body_mut().read_to_string().ok()?;
            serde_json::from_str::<Value>(&text).ok()
        })
        .await
        .ok()
        .flatten()
        .unwrap_or(Value::Null)
    }

    async fn schema(&self, table: &str, auth: &str) -> Schema {
        if let Some(schema) = self.schemas.lock().ok().and_then(|s| s.get(table).cloned()) {
            return schema;
        }
        let described = self
            .dynamodb("DescribeTable", json!({ "TableName": table }), auth)
            .await;
        let keys = |schema: &Value| {
            let mut hash = String::new();
            let mut range = None;
            for key in schema.as_array().into_iter().flatten() {
                let name = key["AttributeName"].as_str().unwrap_or_default().to_owned();
                match key["KeyType"].as_str() {
                    Some("HASH") => hash = name,
                    _ => range = Some(name),
                }
            }
            (hash, range)
        };
        let table_info = &described["Table"];
        let schema = Schema {
            table: keys(&table_info["KeySchema"]),
            indexes: table_info["GlobalSecondaryIndexes"]
                .as_array()
                .into_iter()
                .flatten()
                .map(|index| {
                    (
                        index["IndexName"].as_str().unwrap_or_default().to_owned(),
                        keys(&index["KeySchema"]),
                    )
                })
                .collect(),
        };
        if let Ok(mut schemas) = self.schemas.lock() {
            schemas.insert(table.to_owned(), schema.clone());
        }
        schema
    }

    /// The items a write touches, as they are now: `(table, key) → item` (`Null` when absent).
    async fn images(&self, operation: &str, request: &Value, auth: &str) -> Vec<(String, Value, Value)> {
        let mut keys: Vec<(String, Value)> = Vec::new();
        let mut key_of = |table: &str, item_or_key: &Value, schema: &Schema| {
            let mut key = Map::new();
            for name in [Some(&schema.table.0), schema.table.1.as_ref()].into_iter().flatten() {
                if let Some(value) = item_or_key.get(name) {
                    key.insert(name.clone(), value.clone());
                }
            }
            keys.push((table.to_owned(), Value::Object(key)));
        };
        match operation {
            "PutItem" | "UpdateItem" | "DeleteItem" => {
                let table = request["TableName"].as_str().unwrap_or_default();
                let schema = self.schema(table, auth).await;
                let key = if operation == "PutItem" {
                    &request["Item"]
                } else {
                    &request["Key"]
                };
                key_of(table, key, &schema);
            }
            "TransactWriteItems" => {
                for item in request["TransactItems"].as_array().into_iter().flatten() {
                    for (kind, op) in item.as_object().into_iter().flatten() {
                        let table = op["TableName"].as_str().unwrap_or_default();
                        let schema = self.schema(table, auth).await;
                        let key = if kind == "Put" { &op["Item"] } else { &op["Key"] };
                        key_of(table, key, &schema);
                    }
                }
            }
            "BatchWriteItem" => {
                for (table, requests) in request["RequestItems"].as_object().into_iter().flatten() {
                    let schema = self.schema(table, auth).await;
                    for write in requests.as_array().into_iter().flatten() {
                        if let Some(item) = write["PutRequest"].get("Item") {
                            key_of(table, item, &schema);
                        } else if let Some(key) = write["DeleteRequest"].get("Key") {
                            key_of(table, key, &schema);
                        }
                    }
                }
            }
            _ => return Vec::new(),
        }
        let mut images = Vec::new();
        for (table, key) in keys {
            let got = self
                .dynamodb(
                    "GetItem",
                    json!({ "TableName": table, "Key": key, "ConsistentRead": true }),
                    auth,
                )
                .await;
            images.push((table, key, got.get("Item").cloned().unwrap_or(Value::Null)));
        }
        images
    }

    #[allow(clippy::too_many_arguments)]
    async fn dynamodb_units(
        &self,
        operation: &str,
        request: &Value,
        response: &Value,
        before: &[(String, Value, Value)],
        after: &[(String, Value, Value)],
        status: u16,
        auth: &str,
    ) -> (Vec<Units>, Option<bool>, u64) {
        let mut units = Vec::new();
        let mut bytes = 0;
        match operation {
            "GetItem" => {
                let table = request["TableName"].as_str().unwrap_or_default();
                let schema = self.schema(table, auth).await;
                let consistent = request["ConsistentRead"].as_bool().unwrap_or(false);
                let size = response.get("Item").map(item_size).unwrap_or(0);
                bytes += size;
                units.push(Units {
                    target: table.to_owned(),
                    key: key_value(&request["Key"], &schema.table.0),
                    read: read_units(size, consistent, false),
                    write: 0.0,
                });
                return (units, Some(consistent), bytes);
            }
            "BatchGetItem" => {
                let mut consistent = false;
                for (table, wanted) in request["RequestItems"].as_object().into_iter().flatten() {
                    let schema = self.schema(table, auth).await;
                    consistent = wanted["ConsistentRead"].as_bool().unwrap_or(false);
                    let found = response["Responses"][table].as_array().cloned().unwrap_or_default();
                    for key in wanted["Keys"].as_array().into_iter().flatten() {
                        let item = found.iter().find(|item| same_key(item, key));
                        let size = item.map(item_size).unwrap_or(0);
                        bytes += size;
                        units.push(Units {
                            target: table.clone(),
                            key: key_value(key, &schema.table.0),
                            read: read_units(size, consistent, false),
                            write: 0.0,
                        });
                    }
                }
                return (units, Some(consistent), bytes);
            }
            "TransactGetItems" => {
                for (i, item) in request["TransactItems"].as_array().into_iter().flatten().enumerate() {
                    let get = &item["Get"];
                    let table = get["TableName"].as_str().unwrap_or_default();
                    let schema = self.schema(table, auth).await;
                    let size = response["Responses"][i].get("Item").map(item_size).unwrap_or(0);
                    bytes += size;
                    units.push(Units {
                        target: table.to_owned(),
                        key: key_value(&get["Key"], &schema.table.0),
                        read: read_units(size, true, true),
                        write: 0.0,
                    });
                }
                return (units, Some(true), bytes);
            }
            "Query" | "Scan" => {
                let table = request["TableName"].as_str().unwrap_or_default();
                let schema = self.schema(table, auth).await;
                let index = request["IndexName"].as_str();
                let consistent = request["ConsistentRead"].as_bool().unwrap_or(false);
                let (target, hash) = match index {
                    Some(index) => (
                        format!("{table}/{index}"),
                        schema.indexes.get(index).map(|k| k.0.clone()).unwrap_or_default(),
                    ),
                    None => (table.to_owned(), schema.table.0.clone()),
                };
                // What the query evaluated: the filter and a count drop items after they are
                // read, so the meter asks again for the items themselves.
                let evaluated =
                    if request.get("FilterExpression").is_some() || request["Select"].as_str() == Some("COUNT") {
                        let mut unfiltered = request.clone();
                        if let Some(object) = unfiltered.as_object_mut() {
                            object.remove("FilterExpression");
                            object.remove("Select");
                            object.remove("ProjectionExpression");
                            prune_names_and_values(object);
                        }
                        self.dynamodb(operation, unfiltered, auth).await
                    } else {
                        response.clone()
                    };
                let size: u64 = evaluated["Items"].as_array().into_iter().flatten().map(item_size).sum();
                bytes += size;
                let key = if operation == "Scan" {
                    "*".to_owned()
                } else {
                    partition_of_query(request, &hash)
                };
                units.push(Units {
                    target,
                    key,
                    read: read_units(size, consistent, false),
                    write: 0.0,
                });
                return (units, Some(consistent), bytes);
            }
            _ => {}
        }
        // Writes: each item's units on the table, and the upkeep of every index it is in.
        let transactional = operation == "TransactWriteItems";
        let kinds: Vec<String> = match operation {
            "TransactWriteItems" => request["TransactItems"]
                .as_array()
                .into_iter()
                .flatten()
                .filter_map(|i| i.as_object().and_then(|o| o.keys().next().cloned()))
                .collect(),
            _ => before.iter().map(|_| operation.to_owned()).collect(),
        };
        let committed = status == 200;
        for (i, (table, key, old)) in before.iter().enumerate() {
            let new = after.get(i).map(|(_, _, item)| item).unwrap_or(&Value::Null);
            let schema = self.schema(table, auth).await;
            let (old_size, new_size) = (item_size(old), item_size(new));
            bytes += old_size.max(new_size);
            let kind = kinds.get(i).map(String::as_str).unwrap_or_default();
            // A condition check reads the item under write capacity; a failed write still
            // spends the units of the item it checked.
            let size = if kind == "ConditionCheck" || !committed {
                old_size
            } else {
                old_size.max(new_size)
            };
            units.push(Units {
                target: table.clone(),
                key: key_value(key, &schema.table.0),
                read: 0.0,
                write: write_units(size, transactional),
            });
            if !committed || kind == "ConditionCheck" {
                continue;
            }
            for (index, (hash, _)) in &schema.indexes {
                let old_key = old.get(hash).map(|_| key_value(old, hash));
                let new_key = new.get(hash).map(|_| key_value(new, hash));
                let target = format!("{table}/{index}");
                match (old_key, new_key) {
                    (None, None) => {}
                    (Some(o), Some(n)) if o == n => {
                        if old != new {
                            units.push(index_write(&target, n, new_size.max(old_size)));
                        }
                    }
                    (o, n) => {
                        if let Some(o) = o {
                            units.push(index_write(&target, o, old_size));
                        }
                        if let Some(n) = n {
                            units.push(index_write(&target, n, new_size));
                        }
                    }
                }
            }
        }
        (units, None, bytes)
    }
}

fn index_write(target: &str, key: String, size: u64) -> Units {
    Units {
        target: target.to_owned(),
        key,
        read: 0.0,
        write: write_units(size, false),
    }
}

/// Read units of `size` bytes: 4 KB each, at least one; half when eventually consistent,
/// twice in a transaction.
pub fn read_units(size: u64, consistent: bool, transactional: bool) -> f64 {
    let units = size.div_ceil(4096).max(1) as f64;
    if transactional {
        units * 2.0
    } else if consistent {
        units
    } else {
        units / 2.0
    }
}

/// Write units of `size` bytes: 1 KB each, at least one; twice in a transaction.
pub fn write_units(size: u64, transactional: bool) -> f64 {
    let units = size.div_ceil(1024).max(1) as f64;
    if transactional {
        units * 2.0
    } else {
        units
    }
}

/// An item's size as DynamoDB counts it: each attribute's name and value.
pub fn item_size(item: &Value) -> u64 {
    item.as_object()
        .map(|attributes| {
            attributes
                .iter()
                .map(|(name, value)| name.len() as u64 + value_size(value))
                .sum()
        })
        .unwrap_or(0)
}

fn number_size(n: &str) -> u64 {
    let digits = n.trim_start_matches('-').replace('.', "");
    let significant = digits.trim_start_matches('0').trim_end_matches('0').len().max(1) as u64;
    significant.div_ceil(2) + 1
}

fn value_size(value: &Value) -> u64 {
    let Some((kind, inner)) = value.as_object().and_then(|o| o.iter().next()) else {
        return 0;
    };
    match kind.as_str() {
        "S" => inner.as_str().map(|s| s.len() as u64).unwrap_or(0),
        "N" => inner.as_str().map(number_size).unwrap_or(1),
        "B" => inner.as_str().map(|b| (b.len() as u64 * 3) / 4).unwrap_or(0),
        "BOOL" | "NULL" => 1,
        "SS" => inner
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(Value::as_str)
            .map(|s| s.len() as u64)
            .sum(),
        "NS" => inner
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(Value::as_str)
            .map(number_size)
            .sum(),
        "BS" => inner
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(Value::as_str)
            .map(|b| (b.len() as u64 * 3) / 4)
            .sum(),
        "L" => {
            3 + inner
                .as_array()
                .into_iter()
                .flatten()
                .map(|v| 1 + value_size(v))
                .sum::<u64>()
        }
        "M" => {
            3 + inner
                .as_object()
                .into_iter()
                .flatten()
                .map(|(k, v)| k.len() as u64 + 1 + value_size(v))
                .sum::<u64>()
        }
        _ => 0,
    }
}

/// The text of a key attribute's value (`S` or `N`).
fn key_value(item: &Value, attribute: &str) -> String {
    let value = &item[attribute];
    value["S"]
        .as_str()
        .or_else(|| value["N"].as_str())
        .unwrap_or_default()
        .to_owned()
}

fn same_key(item: &Value, key: &Value) -> bool {
    key.as_object()
        .into_iter()
        .flatten()
        .all(|(name, value)| item.get(name) == Some(value))
}

/// The partition a query reads: the value its key condition gives the hash attribute.
fn partition_of_query(request: &Value, hash: &str) -> String {
    let condition = request["KeyConditionExpression"].as_str().unwrap_or_default();
    let names = request["ExpressionAttributeNames"].as_object();
    let values = &request["ExpressionAttributeValues"];
    for clause in condition.split(" AND ").chain(condition.split(" and ")) {
        let Some((left, right)) = clause.split_once('=') else {
            continue;
        };
        let (left, right) = (left.trim().trim_start_matches('('), right.trim().trim_end_matches(')'));
        let attribute = names.and_then(|n| n.get(left)).and_then(Value::as_str).unwrap_or(left);
        if attribute == hash {
            return key_value(&json!({ "v": values[right] }), "v");
        }
    }
    String::new()
}

/// Drops the placeholder names and values nothing refers to any more (DynamoDB refuses unused ones).
fn prune_names_and_values(request: &mut Map<String, Value>) {
    let used: String = ["KeyConditionExpression", "FilterExpression", "ProjectionExpression"]
        .iter()
        .filter_map(|k| request.get(*k).and_then(Value::as_str))
        .collect::<Vec<_>>()
        .join(" ");
    for field in ["ExpressionAttributeNames", "ExpressionAttributeValues"] {
        if let Some(Value::Object(map)) = request.get_mut(field) {
            map.retain(|placeholder, _| {
                used.split(|c: char| !(c.is_alphanumeric() || c == '#' || c == ':' || c == '_'))
                    .any(|token| token == placeholder)
            });
            if map.is_empty() {
                request.remove(field);
            }
        }
    }
}

fn is_write(operation: &str) -> bool {
    matches!(
        operation,
        "PutItem" | "UpdateItem" | "DeleteItem" | "TransactWriteItems" | "BatchWriteItem"
    )
}

fn header(headers: &hyper::HeaderMap, name: &str) -> Option<String> {
    headers.get(name).and_then(|v| v.to_str().ok()).map(str::to_owned)
}

/// The service and operation of a request, as the SDK sends them.
fn identify(parts: &hyper::http::request::Parts, target: &str) -> (&'static str, String) {
    if let Some(op) = target.strip_prefix("DynamoDB_20120810.") {
        return ("dynamodb", op.to_owned());
    }
    if let Some(op) = target.strip_prefix("AmazonSQS.") {
        return ("sqs", op.to_owned());
    }
    let path = parts.uri.path();
    if path.starts_with("/v2/email/") {
        return ("sesv2", "SendEmail".to_owned());
    }
    let query = parts.uri.query().unwrap_or_default();
    let operation = match (parts.method.as_str(), query) {
        ("POST", q) if q.contains("delete") => "DeleteObjects",
        ("POST", _) => "PostObject",
        ("PUT", _) if parts.headers.contains_key("x-amz-copy-source") => "CopyObject",
        ("PUT", _) => "PutObject",
        ("GET", q) if q.contains("list-type") => "ListObjectsV2",
        ("GET", _) => "GetObject",
        ("HEAD", _) => "HeadObject",
        ("DELETE", _) => "DeleteObject",
        (other, _) => other,
    };
    ("s3", operation.to_owned())
}

fn status_only(status: StatusCode) -> http::Response<Vec<u8>> {
    let mut response = http::Response::new(Vec::new());
    *response.status_mut() = status;
    response
}

fn plain(status: StatusCode, text: &str) -> Response<Full<Bytes>> {
    let mut response = Response::new(Full::new(Bytes::from(text.to_owned())));
    *response.status_mut() = status;
    response
}

fn into_hyper(response: http::Response<Vec<u8>>) -> Response<Full<Bytes>> {
    let (parts, body) = response.into_parts();
    let mut out = Response::new(Full::new(Bytes::from(body)));
    *out.status_mut() = parts.status;
    for (name, value) in &parts.headers {
        if name != "transfer-encoding" && name != "content-length" && name != "connection" {
            out.headers_mut().append(name.clone(), value.clone());
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn item_sizes_follow_dynamodbs_rules() {
        // "pk" (2) + "USER#1" (6), "n" (1) + 12345 (3 significant digit pairs + 1 = 4)
        let item = json!({ "pk": { "S": "USER#1" }, "n": { "N": "12345" } });
        assert_eq!(item_size(&item), 2 + 6 + 1 + 4);
        assert_eq!(item_size(&json!({ "b": { "BOOL": true } })), 2);
        assert_eq!(item_size(&json!({ "l": { "L": [{ "S": "ab" }] } })), 1 + 3 + 1 + 2);
    }

    #[test]
    fn units_round_up_and_scale() {
        assert_eq!(read_units(1, true, false), 1.0);
        assert_eq!(read_units(4097, true, false), 2.0);
        assert_eq!(read_units(100, false, false), 0.5);
        assert_eq!(
            read_units(0, false, false),
            0.5,
            "a missing item still costs the minimum"
        );
        assert_eq!(write_units(1025, false), 2.0);
        assert_eq!(write_units(10, true), 2.0);
    }

    #[test]
    fn a_querys_partition_is_its_key_conditions_hash_value() {
        let request = json!({
            "KeyConditionExpression": "#pk = :pk AND #sk < :before",
            "ExpressionAttributeNames": { "#pk": "gsi2pk", "#sk": "gsi2sk" },
            "ExpressionAttributeValues": { ":pk": { "S": "POSTS#PUBLISHED" }, ":before": { "S": "x" } }
        });
        assert_eq!(partition_of_query(&request, "gsi2pk"), "POSTS#PUBLISHED");
    }

    #[test]
    fn unused_placeholders_are_pruned() {
        let mut request = json!({
            "KeyConditionExpression": "#pk = :pk",
            "ExpressionAttributeNames": { "#pk": "pk", "#s": "search" },
            "ExpressionAttributeValues": { ":pk": { "S": "a" }, ":q": { "S": "b" } }
        });
        prune_names_and_values(request.as_object_mut().unwrap());
        assert_eq!(request["ExpressionAttributeNames"], json!({ "#pk": "pk" }));
        assert_eq!(request["ExpressionAttributeValues"], json!({ ":pk": { "S": "a" } }));
    }
}
