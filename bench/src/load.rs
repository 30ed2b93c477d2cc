//! The realtime load test, through the local stack's WebSocket API (loopback only, bounded in
//! count and time): `connections` clients of one user spread over `rooms` rooms make random
//! joins, leaves, sends and abrupt disconnects (the socket dropped without a close frame, so no
//! `$disconnect` comes, as API Gateway may do) for `seconds`, each replaced by a new client.
//!
//! Then, with the activity stopped, every room gets one more message (which also lets the
//! fan-out find the vanished clients gone), every client closes cleanly, and the run checks:
//! - every message reached every connection that was in its room from before it was sent to the
//!   end of the run;
//! - every `message` frame carries its `id` (a retried delivery may repeat a frame; the id is
//!   how a client drops it), and how many such repeats came is reported;
//! - no record of the run's connections is left in the table: connection records, memberships,
//!   slots, and room counts above zero.
//!
//! Clients leave a room only while they are in another, so every client is in a room when it
//! vanishes: a vanished client in no room is found only by its user's next handshake at the cap
//! or its record's expiry (2 h), which this run could not wait for.

use crate::fanout::{joined, Socket, CONNECTIONS_PER_USER};
use adapters::aws::AwsConfig;
use adapters::store::Table;
use domain::config::Env;
use futures_util::stream::SplitSink;
use futures_util::{SinkExt, StreamExt};
use serde_json::{json, Value};
use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use tokio_tungstenite::tungstenite::Message;

#[derive(Debug, Clone, Copy)]
pub struct Load {
    pub connections: usize,
    pub rooms: usize,
    pub seconds: u64,
    /// Random actions a second, all clients together.
    pub actions_per_second: u64,
}

#[derive(Debug, Default, serde::Serialize)]
pub struct Report {
    pub connections: usize,
    pub rooms: usize,
    pub seconds: u64,
    pub joins: usize,
    pub leaves: usize,
    pub sends: usize,
    pub disconnects: usize,
    /// (message, connection) pairs that had to arrive, and how many did not.
    pub expected: usize,
    pub missing: usize,
    /// A frame that came again (with its id, so a client drops it).
    pub repeated: usize,
    pub without_id: usize,
    pub stale_records: usize,
    pub failures: Vec<String>,
}

impl Report {
    pub fn passed(&self) -> bool {
        self.failures.is_empty()
    }
}

/// What the clients saw, shared by their reader tasks.
#[derive(Default)]
struct Seen {
    /// (client, message text) → times received
    received: HashMap<(usize, String), usize>,
    /// (client, room) → when its history came: a member from then on
    joined: HashMap<(usize, String), Instant>,
    without_id: usize,
    errors: Vec<String>,
}

struct Client {
    /// `None` once the client vanished.
    sink: Option<SplitSink<Socket, Message>>,
    reader: tokio::task::JoinHandle<()>,
    /// The rooms it joined and has not left (a join counts once its history came: `Seen::joined`).
    rooms: BTreeSet<String>,
    /// Rooms it left: it joins each room once at most, so a history always answers one join.
    departed: HashSet<String>,
}

struct Sent {
    room: String,
    text: String,
    at: Instant,
}

/// A small xorshift: the run needs variety, not unpredictability.
struct Dice(u64);

impl Dice {
    fn below(&mut self, n: usize) -> usize {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        (self.0 % n.max(1) as u64) as usize
    }
}

fn seen(seen: &Mutex<Seen>) -> std::sync::MutexGuard<'_, Seen> {
    seen.lock().unwrap_or_else(|e| e.into_inner())
}

/// A client in `room` (its history came), reading what it is sent from now on.
fn member(index: usize, socket: Socket, room: String, joined: &Arc<Mutex<Seen>>) -> Client {
    seen(joined).joined.insert((index, room.clone()), Instant::now());
    let (sink, mut stream) = socket.split();
    let shared = joined.clone();
    let reader = tokio::spawn(async move {
        while let Some(Ok(frame)) = stream.next().await {
            let Message::Text(text) = frame else { continue };
            let at = Instant::now();
            let value: Value = serde_json::from_str(text.as_str()).unwrap_or(Value::Null);
            let mut seen = seen(&shared);
            match value["type"].as_str() {
                Some("message") => {
                    if value["id"].as_str().is_none_or(str::is_empty) {
                        seen.without_id += 1;
                    }
                    let message = value["message"].as_str().unwrap_or_default().to_owned();
                    *seen.received.entry((index, message)).or_default() += 1;
                }
                Some("history") => {
                    let room = value["room"].as_str().unwrap_or_default().to_owned();
                    seen.joined.entry((index, room)).or_insert(at);
                }
                Some("error") => seen.errors.push(value["detail"].to_string()),
                _ => {}
            }
        }
    });
    Client {
        sink: Some(sink),
        reader,
        rooms: BTreeSet::from([room]),
        departed: HashSet::new(),
    }
}

async fn frame(sink: &mut SplitSink<Socket, Message>, body: Value) -> Result<(), String> {
    sink.send(Message::Text(body.to_string().into()))
        .await
        .map_err(|e| e.to_string())
}

pub async fn run(stack: &str, ws_url: &str, admin_token: &str, load: Load) -> Result<Report, String> {
    let accounts = users(stack, admin_token, load.connections.div_ceil(CONNECTIONS_PER_USER)).await?;
    let user_ids: HashSet<String> = accounts.iter().map(|(id, _)| id.to_string()).collect();
    let run = uuid::Uuid::new_v4().simple().to_string();
    let rooms: Vec<String> = (0..load.rooms).map(|n| format!("load-{}-{n}", &run[..8])).collect();
    let seen_all = Arc::new(Mutex::new(Seen::default()));
    let mut dice = Dice(0x9E37_79B9_7F4A_7C15 ^ u64::from_str_radix(&run[..16], 16).unwrap_or(1));
    let mut report = Report {
        connections: load.connections,
        rooms: load.rooms,
        seconds: load.seconds,
        ..Report::default()
    };
    let mut clients: Vec<Client> = Vec::new();
    let firsts: Vec<String> = (0..load.connections).map(|n| rooms[n % rooms.len()].clone()).collect();
    let token_of = |client: usize| accounts[client % accounts.len()].1.as_str();
    let opened: Vec<Result<Socket, String>> = futures_util::stream::iter(firsts.iter().enumerate())
        .map(|(i, room)| joined(ws_url, token_of(i), room))
        .buffered(32)
        .collect()
        .await;
    for (socket, room) in opened.into_iter().zip(firsts) {
        clients.push(member(clients.len(), socket?, room, &seen_all));
    }
    let mut sent: Vec<Sent> = Vec::new();
    let tick = Duration::from_micros(1_000_000 / load.actions_per_second.max(1));
    let end = Instant::now() + Duration::from_secs(load.seconds);
    while Instant::now() < end {
        tokio::time::sleep(tick).await;
        let live: Vec<usize> = (0..clients.len()).filter(|&i| clients[i].sink.is_some()).collect();
        let index = live[dice.below(live.len())];
        let client = &mut clients[index];
        let Some(sink) = client.sink.as_mut() else { continue };
        match dice.below(100) {
            // A send to one of its rooms whose history came (a member for sure).
            0..=59 => {
                let member_of: Vec<&String> = {
                    let seen = seen(&seen_all);
                    client
                        .rooms
                        .iter()
                        .filter(|r| seen.joined.contains_key(&(index, (*r).clone())))
                        .collect()
                };
                let Some(room) = member_of.get(dice.below(member_of.len())).map(|r| (*r).clone()) else {
                    continue;
                };
                let text = format!("{run} {}", sent.len());
                let at = Instant::now();
                frame(sink, json!({"action": "send", "room": room, "message": text})).await?;
                sent.push(Sent { room, text, at });
                report.sends += 1;
            }
            // A join of a room it was never in.
            60..=79 => {
                let room = rooms[dice.below(rooms.len())].clone();
                if client.rooms.contains(&room) || client.departed.contains(&room) {
                    continue;
                }
                frame(sink, json!({"action": "join", "room": room})).await?;
                client.rooms.insert(room);
                report.joins += 1;
            }
            // A leave, while in another room.
            80..=91 => {
                if client.rooms.len() < 2 {
                    continue;
                }
                let room = client.rooms.iter().nth(dice.below(client.rooms.len())).cloned();
                let Some(room) = room else { continue };
                frame(sink, json!({"action": "leave", "room": room})).await?;
                client.rooms.remove(&room);
                client.departed.insert(room);
                report.leaves += 1;
            }
            // An abrupt disconnect: both halves of the socket dropped, no close frame (the
            // stack sees it fail). A new client takes its place.
            _ => {
                client.sink = None;
                client.reader.abort();
                let left: Vec<String> = std::mem::take(&mut client.rooms).into_iter().collect();
                client.departed.extend(left);
                report.disconnects += 1;
                let room = rooms[dice.below(rooms.len())].clone();
                // The vanished client's user (its slot is freed when a push finds it gone).
                let socket = joined(ws_url, token_of(index), &room).await?;
                let at = clients.len();
                clients.push(member(at, socket, room, &seen_all));
            }
        }
    }
    // Joins whose history has not come yet count as not made (the check reads `Seen::joined`).
    // One more message to each room, from a member, so that every vanished member is pushed to
    // (and found gone) after the activity.
    for room in &rooms {
        let member = {
            let seen = seen(&seen_all);
            clients.iter().enumerate().position(|(i, c)| {
                c.sink.is_some() && seen.joined.contains_key(&(i, room.clone())) && c.rooms.contains(room)
            })
        };
        if let Some(sink) = member.and_then(|i| clients[i].sink.as_mut()) {
            let text = format!("{run} last {room}");
            let at = Instant::now();
            frame(sink, json!({"action": "send", "room": room, "message": text})).await?;
            sent.push(Sent {
                room: room.clone(),
                text,
                at,
            });
            report.sends += 1;
        }
    }
    // Wait until the fan-out queue is empty (joins' presence and the sends queue up behind one
    // local consumer) and nothing more arrived for 2 s; 5 minutes at most.
    let mut last_count = usize::MAX;
    let waited = Instant::now();
    while waited.elapsed() < Duration::from_secs(300) {
        tokio::time::sleep(Duration::from_secs(2)).await;
        let count: usize = seen(&seen_all).received.values().sum();
        if count == last_count && fan_out_drained(stack)? {
            break;
        }
        last_count = count;
    }
    {
        let seen = seen(&seen_all);
        for message in &sent {
            for (index, client) in clients.iter().enumerate() {
                let joined = seen.joined.get(&(index, message.room.clone()));
                let stayed = client.sink.is_some()
                    && client.rooms.contains(&message.room)
                    && joined.is_some_and(|joined| *joined < message.at);
                if !stayed {
                    continue;
                }
                report.expected += 1;
                match seen.received.get(&(index, message.text.clone())) {
                    None => report.missing += 1,
                    Some(n) => report.repeated += n - 1,
                }
            }
        }
        report.without_id = seen.without_id;
        if !seen.errors.is_empty() {
            report
                .failures
                .push(format!("{} error frames, e.g. {}", seen.errors.len(), seen.errors[0]));
        }
    }
    if report.missing > 0 {
        report
            .failures
            .push(format!("{} of {} deliveries missing", report.missing, report.expected));
    }
    if report.without_id > 0 {
        report
            .failures
            .push(format!("{} message frames without an id", report.without_id));
    }
    for client in &mut clients {
        if let Some(mut sink) = client.sink.take() {
            let _ = sink.close().await;
        }
    }
    // $disconnect runs after the close: wait until the table holds none of the run's rows (or 2 minutes).
    let table = table(stack)?;
    let waited = Instant::now();
    loop {
        tokio::time::sleep(Duration::from_secs(1)).await;
        let stale = stale_rows(&table, &user_ids, &rooms).await?;
        report.stale_records = stale.len();
        if stale.is_empty() || waited.elapsed() > Duration::from_secs(120) {
            if !stale.is_empty() {
                report.failures.push(format!(
                    "{} stale records left: {}",
                    stale.len(),
                    stale.iter().take(5).cloned().collect::<Vec<_>>().join(", ")
                ));
            }
            break;
        }
    }
    Ok(report)
}

/// `n` new users (made by the admin, `in_flight` at a time), each with an access token: a
/// room of thousands of connections is thousands of users, each within the per-user cap.
pub async fn users(stack: &str, admin_token: &str, n: usize) -> Result<Vec<(uuid::Uuid, String)>, String> {
    futures_util::stream::iter(0..n)
        .map(|_| {
            let (stack, admin) = (stack.to_owned(), admin_token.to_owned());
            async move {
                tokio::task::spawn_blocking(move || load_user(&stack, &admin))
                    .await
                    .map_err(|e| e.to_string())?
            }
        })
        .buffered(8)
        .collect::<Vec<_>>()
        .await
        .into_iter()
        .collect()
}

/// Whether the stack's fan-out queue holds no message, visible or in flight.
fn fan_out_drained(stack: &str) -> Result<bool, String> {
    let queues: Value = ureq::get(&format!("{stack}/_devstack/queues"))
        .call()
        .map_err(|e| e.to_string())?
        .body_mut()
        .read_json()
        .map_err(|e| e.to_string())?;
    let listed = queues.get("queues").unwrap_or(&queues);
    Ok(listed
        .as_array()
        .into_iter()
        .flatten()
        .filter(|q| q["id"] == "FanOutQueue")
        .all(|q| q["visible"] == 0 && q["in_flight"] == 0))
}

/// A user of the run's own, made by the admin, so that its rows are the run's alone.
fn load_user(stack: &str, admin_token: &str) -> Result<(uuid::Uuid, String), String> {
    let email = format!("load-{}@example.com", uuid::Uuid::new_v4().simple());
    let password = "load-test-password";
    let user: Value = ureq::post(&format!("{stack}/api/v1/users/"))
        .header("authorization", &format!("Bearer {admin_token}"))
        .send_json(json!({"email": email, "password": password}))
        .map_err(|e| format!("create the load user: {e}"))?
        .body_mut()
        .read_json()
        .map_err(|e| e.to_string())?;
    let id = user["id"]
        .as_str()
        .and_then(|id| uuid::Uuid::parse_str(id).ok())
        .ok_or("the load user has no id")?;
    let login: Value = ureq::post(&format!("{stack}/api/v1/login/access-token"))
        .send_form([("username", email.as_str()), ("password", password)])
        .map_err(|e| format!("login: {e}"))?
        .body_mut()
        .read_json()
        .map_err(|e| e.to_string())?;
    let token = login["access_token"].as_str().ok_or("no access token")?.to_owned();
    Ok((id, token))
}

struct Settings(BTreeMap<String, String>);

impl Env for Settings {
    fn get(&self, name: &str) -> Option<String> {
        self.0.get(name).cloned()
    }
}

/// The stack's table, as the realtime function reaches it (its settings from `/_devstack/info`).
fn table(stack: &str) -> Result<Table, String> {
    let info: Value = ureq::get(&format!("{stack}/_devstack/info"))
        .call()
        .map_err(|e| e.to_string())?
        .body_mut()
        .read_json()
        .map_err(|e| e.to_string())?;
    let function = info["functions"]
        .as_array()
        .into_iter()
        .flatten()
        .find(|f| f["id"] == "RealtimeFunction")
        .ok_or("no RealtimeFunction in the stack")?;
    let env: BTreeMap<String, String> = function["env"]
        .as_object()
        .into_iter()
        .flatten()
        .filter_map(|(k, v)| Some((k.clone(), v.as_str()?.to_owned())))
        .collect();
    let settings = Settings(env);
    let aws = AwsConfig::from_env(&settings).map_err(|e| e.to_string())?;
    let name = settings.get("TABLE_NAME").ok_or("no TABLE_NAME")?;
    Ok(Table::new(aws.dynamodb(), name))
}

/// The run's rows that should be gone: its user's connections and slots, memberships of its
/// rooms, and room counts above zero.
async fn stale_rows(table: &Table, users: &HashSet<String>, rooms: &[String]) -> Result<Vec<String>, String> {
    let mut stale = Vec::new();
    let mut start = None;
    let slots: HashSet<String> = users.iter().map(|user| format!("USER#{user}#WSSLOTS")).collect();
    let room_keys: HashSet<String> = rooms.iter().map(|r| format!("ROOM#{r}")).collect();
    loop {
        let page = table
            .client()
            .scan()
            .table_name(table.name())
            .set_exclusive_start_key(start)
            .send()
            .await
            .map_err(|e| format!("scan: {e}"))?;
        for row in page.items.unwrap_or_default() {
            let text = |name: &str| row.get(name).and_then(|v| v.as_s().ok()).cloned().unwrap_or_default();
            let (pk, sk) = (text("pk"), text("sk"));
            let ours = users.contains(&text("user_id"));
            let stale_row = (pk.starts_with("CONN#") && ours)
                || slots.contains(&pk)
                || (room_keys.contains(&pk) && sk.starts_with("MEMBER#"))
                || (room_keys.contains(&pk)
                    && sk == "COUNT"
                    && row.get("members").and_then(|v| v.as_n().ok()).is_some_and(|n| n != "0"));
            if stale_row {
                stale.push(format!("{pk} / {sk}"));
            }
        }
        match page.last_evaluated_key {
            Some(next) if !next.is_empty() => start = Some(next),
            _ => return Ok(stale),
        }
    }
}
