//! `make capacity`: a workload mix (`bench/capacity/mix.json`) run against a local stack that
//! meters every AWS call of the functions (`devstack up --meter`), one request at a time, each
//! request's calls and its asynchronous work (queues drained) attributed to it. From the calls:
//! read and write units by partition key, S3, SQS, SES and Management API calls, Lambda
//! invocations and their durations — and from those, with `bench/capacity/prices.json`, the cost
//! per million requests and the request rate at which the first partition or limit throttles.
//!
//!   capacity --stack URL [--mix FILE] [--prices FILE] [--runs N] [--label NAME]
//!            [--results FILE (JSON, runs by label, appended)] [--out FILE (markdown)]
//!            [--template template.yaml] [--bench bench/results.json] [--doc docs/data-model.md]
//!
//! Every DynamoDB access the run made — operation, table or index, key pattern — must have a row
//! in the access-pattern table of `--doc`: the run fails naming those that have none.

use futures_util::{SinkExt, StreamExt};
use serde_json::{json, Value};
use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::path::PathBuf;
use std::time::{Duration, Instant};
use tokio::sync::mpsc;
use tokio_tungstenite::tungstenite::Message;

struct Options {
    stack: String,
    mix: PathBuf,
    prices: PathBuf,
    runs: usize,
    label: String,
    results: PathBuf,
    out: PathBuf,
    template: PathBuf,
    bench: PathBuf,
    /// The data model whose access-pattern table must have a row for every metered access.
    doc: PathBuf,
}

fn options() -> Result<Options, String> {
    let mut options = Options {
        stack: String::new(),
        mix: "bench/capacity/mix.json".into(),
        prices: "bench/capacity/prices.json".into(),
        runs: 10,
        label: "after".into(),
        results: "bench/capacity.json".into(),
        out: "bench/capacity.md".into(),
        template: "template.yaml".into(),
        bench: "bench/results.json".into(),
        doc: "docs/data-model.md".into(),
    };
    let args: Vec<String> = std::env::args().skip(1).collect();
    let mut i = 0;
    while i < args.len() {
        let value = args
            .get(i + 1)
            .cloned()
            .ok_or_else(|| format!("{} takes a value", args[i]))?;
        match args[i].as_str() {
            "--stack" => options.stack = value.trim_end_matches('/').to_owned(),
            "--mix" => options.mix = value.into(),
            "--prices" => options.prices = value.into(),
            "--runs" => options.runs = value.parse().map_err(|_| "--runs takes a number")?,
            "--label" => options.label = value,
            "--results" => options.results = value.into(),
            "--out" => options.out = value.into(),
            "--template" => options.template = value.into(),
            "--bench" => options.bench = value.into(),
            "--doc" => options.doc = value.into(),
            other => return Err(format!("unknown option {other}")),
        }
        i += 2;
    }
    if options.stack.is_empty() {
        return Err("--stack URL is required".into());
    }
    Ok(options)
}

fn main() {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(4)
        .enable_all()
        .build()
        .expect("a tokio runtime");
    if let Err(err) = runtime.block_on(run()) {
        eprintln!("capacity: {err}");
        std::process::exit(1);
    }
}

// ---------------------------------------------------------------------------------------------
// HTTP and the meter

fn agent() -> ureq::Agent {
    ureq::Agent::config_builder()
        .http_status_as_error(false)
        .max_redirects(0)
        .build()
        .new_agent()
}

fn call(method: &str, url: &str, token: Option<&str>, body: Option<&Value>) -> Result<(u16, Value), String> {
    let mut request = http::Request::builder().method(method).uri(url);
    if let Some(token) = token {
        request = request.header("authorization", format!("Bearer {token}"));
    }
    let body = match body {
        Some(body) => {
            request = request.header("content-type", "application/json");
            body.to_string().into_bytes()
        }
        None => Vec::new(),
    };
    let request = request.body(body).map_err(|e| e.to_string())?;
    let mut response = agent().run(request).map_err(|e| format!("{method} {url}: {e}"))?;
    let status = response.status().as_u16();
    let text = response.body_mut().read_to_string().unwrap_or_default();
    Ok((status, serde_json::from_str(&text).unwrap_or(Value::String(text))))
}

fn expect(method: &str, url: &str, token: Option<&str>, body: Option<&Value>, status: u16) -> Result<Value, String> {
    let (got, answer) = call(method, url, token, body)?;
    if got != status {
        return Err(format!("{method} {url}: {got} {answer}"));
    }
    Ok(answer)
}

fn form(url: &str, fields: &[(&str, &str)]) -> Result<(u16, Value), String> {
    let mut encoded = form_urlencoded::Serializer::new(String::new());
    for (k, v) in fields {
        encoded.append_pair(k, v);
    }
    let request = http::Request::builder()
        .method("POST")
        .uri(url)
        .header("content-type", "application/x-www-form-urlencoded")
        .body(encoded.finish().into_bytes())
        .map_err(|e| e.to_string())?;
    let mut response = agent().run(request).map_err(|e| e.to_string())?;
    let status = response.status().as_u16();
    let text = response.body_mut().read_to_string().unwrap_or_default();
    Ok((status, serde_json::from_str(&text).unwrap_or(Value::Null)))
}

/// The meter's calls after the `since`-th.
fn metered(stack: &str, since: u64) -> Result<Vec<Value>, String> {
    let (_, answer) = call("GET", &format!("{stack}/_devstack/meter/{since}"), None, None)?;
    Ok(answer["calls"].as_array().cloned().unwrap_or_default())
}

fn last_seq(stack: &str, since: u64) -> Result<u64, String> {
    Ok(metered(stack, since)?
        .iter()
        .filter_map(|c| c["seq"].as_u64())
        .max()
        .unwrap_or(since))
}

/// Waits until every queue is empty and nothing is in flight: the request's asynchronous work
/// (jobs, uploads, notifications) is done.
fn settle(stack: &str) -> Result<(), String> {
    let deadline = Instant::now() + Duration::from_secs(60);
    let mut quiet = 0;
    while Instant::now() < deadline {
        let (_, queues) = call("GET", &format!("{stack}/_devstack/queues"), None, None)?;
        let busy = queues
            .as_array()
            .into_iter()
            .flatten()
            .any(|q| q["visible"].as_u64().unwrap_or(0) + q["in_flight"].as_u64().unwrap_or(0) > 0);
        quiet = if busy { 0 } else { quiet + 1 };
        // Twice quiet in a row: an invocation that just deleted its message has answered.
        if quiet >= 2 {
            return Ok(());
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    Err("the queues did not drain within 60 s".into())
}

// ---------------------------------------------------------------------------------------------
// The workload

struct User {
    id: String,
    email: String,
    access: String,
    refresh: String,
    items: Vec<String>,
}

const PASSWORD: &str = "capacity-password-1";

fn signup_and_login(stack: &str, n: usize) -> Result<User, String> {
    let email = format!("capacity-{n}-{}@example.com", uuid::Uuid::new_v4().simple());
    let created = expect(
        "POST",
        &format!("{stack}/api/v1/users/signup"),
        None,
        Some(&json!({"email": email, "password": PASSWORD})),
        200,
    )?;
    let (status, token) = form(
        &format!("{stack}/api/v1/login/access-token"),
        &[("username", &email), ("password", PASSWORD)],
    )?;
    if status != 200 {
        return Err(format!("login: {status} {token}"));
    }
    Ok(User {
        id: created["id"].as_str().unwrap_or_default().to_owned(),
        email,
        access: token["access_token"].as_str().unwrap_or_default().to_owned(),
        refresh: token["refresh_token"].as_str().unwrap_or_default().to_owned(),
        items: Vec::new(),
    })
}

/// The WebSocket clients: `members` in one room, and two connections of one more user for
/// private messages. Every frame any of them gets comes out of one channel.
struct Sockets {
    room: String,
    members: Vec<mpsc::UnboundedSender<String>>,
    target: String,
    target_connections: usize,
    frames: mpsc::UnboundedReceiver<(usize, Value)>,
}

async fn open(
    url: &str,
    index: usize,
    frames: &mpsc::UnboundedSender<(usize, Value)>,
) -> Result<mpsc::UnboundedSender<String>, String> {
    let (socket, _) = tokio_tungstenite::connect_async(url)
        .await
        .map_err(|e| format!("connection {index}: {e}"))?;
    let (mut sink, mut stream) = socket.split();
    let (out_tx, mut out_rx) = mpsc::unbounded_channel::<String>();
    tokio::spawn(async move {
        while let Some(text) = out_rx.recv().await {
            if sink.send(Message::Text(text.into())).await.is_err() {
                break;
            }
        }
    });
    let frames = frames.clone();
    tokio::spawn(async move {
        while let Some(Ok(message)) = stream.next().await {
            if let Message::Text(text) = message {
                if let Ok(frame) = serde_json::from_str::<Value>(text.as_str()) {
                    let _ = frames.send((index, frame));
                }
            }
        }
    });
    Ok(out_tx)
}

async fn sockets(stack: &str, users: &[User], members: usize, target: &User) -> Result<Sockets, String> {
    let ws = stack.replacen("http://", "ws://", 1) + "/local";
    let (frames_tx, mut frames) = mpsc::unbounded_channel();
    // One of many rooms: its name is an id (hex), so its partition counts as one room's.
    let room = uuid::Uuid::new_v4().simple().to_string();
    let mut senders = Vec::new();
    for index in 0..members {
        let user = &users[index % users.len()];
        let sender = open(&format!("{ws}?token={}", user.access), index, &frames_tx).await?;
        sender
            .send(json!({"action": "join", "room": room}).to_string())
            .map_err(|e| e.to_string())?;
        // This joiner's history: the room has index + 1 members before the next joins.
        wait_for(&mut frames, |i, f| i == index && f["type"] == "history", 1).await?;
        senders.push(sender);
    }
    for extra in 0..2 {
        let index = members + extra;
        open(&format!("{ws}?token={}", target.access), index, &frames_tx).await?;
    }
    Ok(Sockets {
        room,
        members: senders,
        target: target.id.clone(),
        target_connections: 2,
        frames,
    })
}

/// Waits for `count` frames that `wanted` accepts (others are dropped).
async fn wait_for(
    frames: &mut mpsc::UnboundedReceiver<(usize, Value)>,
    wanted: impl Fn(usize, &Value) -> bool,
    count: usize,
) -> Result<(), String> {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(60);
    let mut seen = 0;
    while seen < count {
        match tokio::time::timeout_at(deadline, frames.recv()).await {
            Ok(Some((index, frame))) if wanted(index, &frame) => seen += 1,
            Ok(Some(_)) => {}
            _ => return Err(format!("{seen} of {count} frames within 60 s")),
        }
    }
    Ok(())
}

/// A PNG of a few pixels, the upload of the `upload` route.
/// `length` characters of text that compresses like prose (words drawn by a seeded generator),
/// not like one phrase repeated: the feed's snapshot is stored deflated, and
/// a repeated phrase would make it look far cheaper than real posts.
fn prose(seed: u64, length: usize) -> String {
    const WORDS: &[&str] = &[
        "the",
        "of",
        "and",
        "to",
        "in",
        "a",
        "is",
        "that",
        "for",
        "it",
        "as",
        "was",
        "with",
        "be",
        "by",
        "on",
        "not",
        "he",
        "this",
        "are",
        "or",
        "his",
        "from",
        "at",
        "which",
        "but",
        "have",
        "an",
        "had",
        "they",
        "you",
        "were",
        "their",
        "one",
        "all",
        "we",
        "can",
        "her",
        "has",
        "there",
        "been",
        "if",
        "more",
        "when",
        "will",
        "would",
        "who",
        "so",
        "no",
        "server",
        "latency",
        "request",
        "table",
        "queue",
        "deploy",
        "function",
        "memory",
        "cold",
        "start",
        "partition",
        "throughput",
        "cache",
        "region",
        "cost",
        "million",
        "users",
        "because",
        "between",
        "through",
        "during",
        "before",
        "after",
        "above",
        "below",
        "again",
        "further",
        "then",
        "once",
        "here",
        "why",
        "how",
        "both",
        "each",
        "few",
        "most",
        "other",
        "some",
        "such",
        "only",
        "own",
        "same",
        "than",
        "too",
        "very",
        "just",
        "should",
        "now",
        "morning",
        "evening",
        "river",
        "mountain",
        "garden",
        "window",
        "library",
        "journey",
        "kitchen",
        "question",
        "answer",
        "history",
        "science",
        "market",
        "village",
        "winter",
        "summer",
        "yesterday",
        "tomorrow",
        "quickly",
        "slowly",
    ];
    let mut state = seed.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407) | 1;
    let mut text = String::with_capacity(length + 16);
    let mut sentence = 0;
    while text.len() < length {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        // One word in five is a rare one (random letters): with them, the text deflates to about
        // 38% of its size, as English prose does (a fixed vocabulary alone would give 27%).
        let rare: String;
        let word = if state % 5 == 0 {
            let mut letters = state >> 8;
            rare = (0..3 + (state >> 40) % 7)
                .map(|_| {
                    letters = letters.rotate_right(5);
                    char::from(b"etaoinshrdlucmfwypvbgk"[(letters % 22) as usize])
                })
                .collect();
            rare.as_str()
        } else {
            WORDS[(state % WORDS.len() as u64) as usize]
        };
        if sentence == 0 {
            let mut chars = word.chars();
            text.extend(chars.next().map(|c| c.to_ascii_uppercase()));
            text.push_str(chars.as_str());
        } else {
            text.push_str(word);
        }
        sentence += 1;
        if sentence > 8 + (state % 9) as usize {
            text.push_str(". ");
            sentence = 0;
        } else {
            text.push(' ');
        }
    }
    text.truncate(length);
    text
}

fn tiny_png() -> Vec<u8> {
    let image = image::RgbImage::from_pixel(32, 24, image::Rgb([200, 80, 40]));
    let mut bytes = std::io::Cursor::new(Vec::new());
    let _ = image.write_to(&mut bytes, image::ImageFormat::Png);
    bytes.into_inner()
}

struct World {
    stack: String,
    users: Vec<User>,
    sockets: Sockets,
    png: Vec<u8>,
    turn: usize,
    /// Whether the published posts are served without a token.
    public_feed: bool,
}

impl World {
    fn user(&mut self) -> usize {
        self.turn += 1;
        self.turn % self.users.len()
    }
}

/// One request of route `kind`, and what it is expected to answer.
async fn request(world: &mut World, kind: &str) -> Result<(), String> {
    let stack = world.stack.clone();
    let api = |path: &str| format!("{stack}/api/v1{path}");
    let u = world.user();
    match kind {
        "feed_public" => {
            // Before the public feed existed, a reader had to sign in: the same read with a token.
            let token = (!world.public_feed).then(|| world.users[u].access.clone());
            expect("GET", &api("/posts/?published=true"), token.as_deref(), None, 200)?;
        }
        "feed" => {
            expect("GET", &api("/posts/"), Some(&world.users[u].access), None, 200)?;
        }
        "item_read" => {
            let user = &world.users[u];
            let id = &user.items[world.turn % user.items.len()];
            expect("GET", &api(&format!("/items/{id}")), Some(&user.access), None, 200)?;
        }
        "items_list" => {
            expect("GET", &api("/items/"), Some(&world.users[u].access), None, 200)?;
        }
        "item_create" => {
            let body = json!({"title": format!("Item {}", world.turn), "price": 12.5});
            let created = expect("POST", &api("/items/"), Some(&world.users[u].access), Some(&body), 200)?;
            if let Some(id) = created["id"].as_str() {
                world.users[u].items.push(id.to_owned());
            }
        }
        "item_update" => {
            let user = &world.users[u];
            let id = &user.items[world.turn % user.items.len()];
            let body = json!({"title": format!("Renamed {}", world.turn)});
            expect(
                "PUT",
                &api(&format!("/items/{id}")),
                Some(&user.access),
                Some(&body),
                200,
            )?;
        }
        "login" => {
            let email = world.users[u].email.clone();
            let (status, token) = form(
                &api("/login/access-token"),
                &[("username", &email), ("password", PASSWORD)],
            )?;
            if status != 200 {
                return Err(format!("login: {status} {token}"));
            }
            let user = &mut world.users[u];
            user.access = token["access_token"].as_str().unwrap_or_default().to_owned();
            user.refresh = token["refresh_token"].as_str().unwrap_or_default().to_owned();
        }
        "refresh" => {
            let body = json!({"refresh_token": world.users[u].refresh});
            let token = expect("POST", &api("/login/refresh-token"), None, Some(&body), 200)?;
            let user = &mut world.users[u];
            user.access = token["access_token"].as_str().unwrap_or_default().to_owned();
            user.refresh = token["refresh_token"].as_str().unwrap_or_default().to_owned();
        }
        "upload" => {
            let body = json!({"filename": "pixel.png", "content_type": "image/png", "size": world.png.len()});
            let created = expect("POST", &api("/files/"), Some(&world.users[u].access), Some(&body), 201)?;
            let form = &created["upload"];
            let url = form["url"].as_str().unwrap_or_default();
            let boundary = format!("----capacity{}", uuid::Uuid::new_v4().simple());
            let mut multipart = Vec::new();
            for (name, value) in form["fields"].as_object().into_iter().flatten() {
                multipart.extend_from_slice(
                    format!(
                        "--{boundary}\r\nContent-Disposition: form-data; name=\"{name}\"\r\n\r\n{}\r\n",
                        value.as_str().unwrap_or_default()
                    )
                    .as_bytes(),
                );
            }
            multipart.extend_from_slice(
                format!("--{boundary}\r\nContent-Disposition: form-data; name=\"file\"; filename=\"pixel.png\"\r\nContent-Type: image/png\r\n\r\n").as_bytes(),
            );
            multipart.extend_from_slice(&world.png);
            multipart.extend_from_slice(format!("\r\n--{boundary}--\r\n").as_bytes());
            let posted = http::Request::builder()
                .method("POST")
                .uri(url)
                .header("content-type", format!("multipart/form-data; boundary={boundary}"))
                .body(multipart)
                .map_err(|e| e.to_string())?;
            let status = agent().run(posted).map_err(|e| e.to_string())?.status().as_u16();
            if !(200..300).contains(&status) {
                return Err(format!("the presigned POST: {status}"));
            }
        }
        "ws_send" => {
            let sender = world.turn % world.sockets.members.len();
            let text = format!("capacity {}", uuid::Uuid::new_v4().simple());
            let frame = json!({"action": "send", "room": world.sockets.room, "message": text});
            world.sockets.members[sender]
                .send(frame.to_string())
                .map_err(|e| e.to_string())?;
            let members = world.sockets.members.len();
            wait_for(
                &mut world.sockets.frames,
                |_, f| f["type"] == "message" && f["message"] == text.as_str(),
                members,
            )
            .await?;
        }
        "ws_private" => {
            let sender = world.turn % world.sockets.members.len();
            let text = format!("private {}", uuid::Uuid::new_v4().simple());
            let frame = json!({"action": "private", "to": world.sockets.target, "message": text});
            world.sockets.members[sender]
                .send(frame.to_string())
                .map_err(|e| e.to_string())?;
            let connections = world.sockets.target_connections;
            wait_for(
                &mut world.sockets.frames,
                |_, f| f["type"] == "private" && f["message"] == text.as_str(),
                connections,
            )
            .await?;
        }
        other => return Err(format!("the mix names a route this harness does not know: {other}")),
    }
    Ok(())
}

/// Whether a route is a WebSocket frame (priced by message) rather than an HTTP request.
fn is_websocket(kind: &str) -> bool {
    kind.starts_with("ws_")
}

// ---------------------------------------------------------------------------------------------
// What one route costs

#[derive(Debug, Default, Clone, serde::Serialize, serde::Deserialize)]
struct RouteUsage {
    requests: usize,
    /// Per request, averaged over `requests`:
    rru: f64,
    wru: f64,
    /// `service operation` → calls.
    calls: BTreeMap<String, f64>,
    /// Lambda invocations by function: (count, billed ms, memory MB).
    lambda: BTreeMap<String, (f64, f64, u32)>,
    /// Of those, the ms of invocations by a queue's event source mapping, by
    /// `(function, queue)`: what the mapping's maximum concurrency limits.
    #[serde(default)]
    consumers: BTreeMap<String, BTreeMap<String, f64>>,
    /// `(target, key)` → (read units, write units).
    partitions: BTreeMap<String, (f64, f64)>,
    /// The keys seen from more than one caller: shared by everyone, whatever the traffic.
    shared: BTreeSet<String>,
    /// Transactional and strongly consistent DynamoDB calls.
    transactional: f64,
    consistent_reads: f64,
    eventual_reads: f64,
}

fn partition_name(units: &Value) -> String {
    format!(
        "{} {}",
        units["target"].as_str().unwrap_or_default(),
        units["key"].as_str().unwrap_or_default()
    )
}

/// Partitions kept as copies or shards of one another, and how many there are: each read picks
/// one and each write reaches one (a shard) or all (a copy), so the load of the family spreads
/// evenly over them. Their measured load is summed and divided by the count: a run of a few
/// requests picks some copies more often than others by chance.
fn spread() -> Vec<(String, u32)> {
    use adapters::store::keys;
    let mut families = vec![(keys::FEED.to_owned(), adapters::store::FEED_REPLICAS)];
    for base in [
        keys::ALL_ITEMS,
        keys::ALL_FILES,
        keys::USERS_INDEX,
        keys::PUBLISHED_POSTS,
        keys::ALL_ITEMS_COUNTER,
        keys::USERS_COUNTER,
        keys::PUBLISHED_POSTS_COUNTER,
    ] {
        families.push((base.to_owned(), keys::SHARDS));
    }
    families
}

/// The family a key of [`spread`] belongs to, named with its count, and the count.
fn spread_family(key: &str) -> Option<(String, u32)> {
    let (prefix, n) = key.rsplit_once('#')?;
    n.parse::<u32>().ok()?;
    spread()
        .into_iter()
        .find(|(p, _)| p == prefix)
        .map(|(p, count)| (format!("{p}#{{0..{count}}} (each of {count})"), count))
}

/// A key of one caller or one record, spelled as its pattern (`USER#{id}`): ids and digests
/// replaced. Keys that are the same for every caller keep their text.
fn pattern(key: &str) -> String {
    let mut out = String::new();
    for (i, part) in key.split('#').enumerate() {
        if i > 0 {
            out.push('#');
        }
        let is_id = uuid::Uuid::parse_str(part).is_ok();
        let is_digest = part.len() >= 16 && part.chars().all(|c| c.is_ascii_hexdigit());
        let is_time = part.len() >= 20 && part.starts_with("20") && part.contains('T');
        let is_number = !part.is_empty() && part.chars().all(|c| c.is_ascii_digit()) && part.len() >= 6;
        let is_email = part.contains('@');
        out.push_str(if is_id {
            "{id}"
        } else if is_digest {
            "{hash}"
        } else if is_time {
            "{time}"
        } else if is_number {
            "{n}"
        } else if is_email {
            "{email}"
        } else {
            part
        });
    }
    out
}

fn add_calls(usage: &mut RouteUsage, calls: &[Value], caller: usize, callers: &mut HashMap<String, BTreeSet<usize>>) {
    for call in calls {
        let service = call["service"].as_str().unwrap_or_default();
        let operation = call["operation"].as_str().unwrap_or_default();
        if service == "lambda" {
            let entry = usage.lambda.entry(operation.to_owned()).or_insert((0.0, 0.0, 128));
            entry.0 += 1.0;
            entry.1 += call["duration_ms"].as_f64().unwrap_or(0.0).ceil();
            entry.2 = call["memory_mb"].as_u64().unwrap_or(128) as u32;
            if let Some(queue) = call["source"].as_str() {
                *usage
                    .consumers
                    .entry(operation.to_owned())
                    .or_default()
                    .entry(queue.to_owned())
                    .or_default() += call["duration_ms"].as_f64().unwrap_or(0.0).ceil();
            }
            continue;
        }
        *usage.calls.entry(format!("{service} {operation}")).or_default() += 1.0;
        if service != "dynamodb" {
            continue;
        }
        if call["transactional"].as_bool() == Some(true) {
            usage.transactional += 1.0;
        }
        match call["consistent"].as_bool() {
            Some(true) => usage.consistent_reads += 1.0,
            Some(false) => usage.eventual_reads += 1.0,
            None => {}
        }
        for units in call["units"].as_array().into_iter().flatten() {
            let read = units["read"].as_f64().unwrap_or(0.0);
            let write = units["write"].as_f64().unwrap_or(0.0);
            usage.rru += read;
            usage.wru += write;
            let name = partition_name(units);
            callers.entry(name.clone()).or_default().insert(caller);
            let entry = usage.partitions.entry(name).or_default();
            entry.0 += read;
            entry.1 += write;
        }
    }
}

fn average(mut usage: RouteUsage, requests: usize, callers: &HashMap<String, BTreeSet<usize>>) -> RouteUsage {
    let n = requests.max(1) as f64;
    usage.requests = requests;
    usage.rru /= n;
    usage.wru /= n;
    usage.transactional /= n;
    usage.consistent_reads /= n;
    usage.eventual_reads /= n;
    usage.calls.values_mut().for_each(|v| *v /= n);
    usage.lambda.values_mut().for_each(|(count, ms, _)| {
        *count /= n;
        *ms /= n;
    });
    usage
        .consumers
        .values_mut()
        .flat_map(BTreeMap::values_mut)
        .for_each(|ms| *ms /= n);
    usage.partitions.values_mut().for_each(|(r, w)| {
        *r /= n;
        *w /= n;
    });
    // A partition is shared when callers beyond one hit the same key, and it is no per-address
    // key (every local request comes from one address).
    // A key with an id, a digest or a time in it is one record's or one caller's: at scale there
    // are as many as there are records and callers, and the load spreads over them.
    usage.shared = callers
        .iter()
        .filter(|(name, who)| {
            let key = name.split_once(' ').map(|(_, k)| k).unwrap_or_default();
            who.len() > 1 && !name.contains("-ip#") && pattern(key) == key
        })
        .map(|(name, _)| name.clone())
        .collect();
    // Keys of one caller or one record are folded into their pattern; copies and shards into
    // their family, each bearing its share.
    let mut folded: BTreeMap<String, (f64, f64)> = BTreeMap::new();
    for (name, (r, w)) in &usage.partitions {
        let (target, key) = name.split_once(' ').unwrap_or((name, ""));
        if let Some((family, count)) = spread_family(key) {
            let family = format!("{target} {family}");
            let entry = folded.entry(family.clone()).or_default();
            entry.0 += r / f64::from(count);
            entry.1 += w / f64::from(count);
            usage.shared.insert(family);
            continue;
        }
        let key = if usage.shared.contains(name) {
            name.clone()
        } else {
            let (target, key) = name.split_once(' ').unwrap_or((name, ""));
            format!("{target} {}", pattern(key))
        };
        let entry = folded.entry(key).or_default();
        entry.0 += r;
        entry.1 += w;
    }
    usage.partitions = folded;
    usage
}

// ---------------------------------------------------------------------------------------------
// Prices and costs

#[derive(Debug, Clone, Default)]
struct Prices {
    lambda_gb_second: f64,
    lambda_request: f64,
    http_request: f64,
    websocket_message: f64,
    read_unit: f64,
    write_unit: f64,
    sqs_request: f64,
    s3_put: f64,
    s3_get: f64,
    ses_email: f64,
    source: String,
}

fn prices(path: &PathBuf) -> Result<Prices, String> {
    let text = std::fs::read_to_string(path).map_err(|e| format!("{}: {e}", path.display()))?;
    let p: Value = serde_json::from_str(&text).map_err(|e| format!("{}: {e}", path.display()))?;
    let f = |k: &str| {
        p["prices"][k]["usd"]
            .as_f64()
            .ok_or(format!("prices.{k}.usd is missing"))
    };
    Ok(Prices {
        lambda_gb_second: f("lambda_arm64_gb_second")?,
        lambda_request: f("lambda_request")?,
        http_request: f("http_api_request")?,
        websocket_message: f("websocket_message")?,
        read_unit: f("dynamodb_read_request_unit")?,
        write_unit: f("dynamodb_write_request_unit")?,
        sqs_request: f("sqs_request")?,
        s3_put: f("s3_put_copy_post_list_request")?,
        s3_get: f("s3_get_request")?,
        ses_email: f("ses_email")?,
        source: format!(
            "{}, {} (as of {})",
            p["source"].as_str().unwrap_or_default(),
            p["region"].as_str().unwrap_or_default(),
            p["date"].as_str().unwrap_or_default()
        ),
    })
}

#[derive(Debug, Default, Clone, Copy, serde::Serialize)]
struct Cost {
    lambda: f64,
    gateway: f64,
    dynamodb: f64,
    sqs: f64,
    s3: f64,
    ses: f64,
}

impl Cost {
    fn total(&self) -> f64 {
        self.lambda + self.gateway + self.dynamodb + self.sqs + self.s3 + self.ses
    }
    /// What the design controls: everything but API Gateway's request and message fees.
    fn beyond_gateway(&self) -> f64 {
        self.total() - self.gateway
    }
    fn scaled(&self, by: f64) -> Self {
        Self {
            lambda: self.lambda * by,
            gateway: self.gateway * by,
            dynamodb: self.dynamodb * by,
            sqs: self.sqs * by,
            s3: self.s3 * by,
            ses: self.ses * by,
        }
    }
    fn add(&mut self, other: &Self) {
        self.lambda += other.lambda;
        self.gateway += other.gateway;
        self.dynamodb += other.dynamodb;
        self.sqs += other.sqs;
        self.s3 += other.s3;
        self.ses += other.ses;
    }
}

/// SQS messages a request leaves for a consumer: each is received and deleted by the event
/// source (at worst one receive and one delete each), besides the send.
fn consumed_messages(usage: &RouteUsage) -> f64 {
    let sent: f64 = usage
        .calls
        .iter()
        .filter(|(k, _)| k.starts_with("sqs Send"))
        .map(|(_, n)| n)
        .sum();
    // S3 sends one event per upload to the files queue itself.
    let uploads: f64 = usage
        .calls
        .iter()
        .filter(|(k, _)| *k == "s3 PostObject" || *k == "s3 PutObject")
        .map(|(_, n)| n)
        .sum();
    sent + uploads
}

/// The cost of one request of a route. `lambda_scale` and `memory` replace the measured
/// durations and memory (the FastAPI + Mangum peer); `None` keeps them.
fn route_cost(kind: &str, usage: &RouteUsage, prices: &Prices, peer: Option<(f64, u32)>) -> Cost {
    let lambda: f64 = usage
        .lambda
        .values()
        .map(|(count, ms, memory)| {
            let (ms, memory) = match peer {
                Some((scale, peer_memory)) => ((ms * scale).ceil(), peer_memory),
                None => (*ms, *memory),
            };
            count * prices.lambda_request + ms / 1000.0 * (memory as f64 / 1024.0) * prices.lambda_gb_second
        })
        .sum();
    let pushes = usage.calls.get("execute-api PostToConnection").copied().unwrap_or(0.0);
    let gateway = if is_websocket(kind) {
        (1.0 + pushes) * prices.websocket_message
    } else {
        prices.http_request + pushes * prices.websocket_message
    };
    let sqs_calls: f64 = usage
        .calls
        .iter()
        .filter(|(k, _)| k.starts_with("sqs "))
        .map(|(_, n)| n)
        .sum();
    let s3_put: f64 = usage
        .calls
        .iter()
        .filter(|(k, _)| {
            [
                "s3 PutObject",
                "s3 CopyObject",
                "s3 PostObject",
                "s3 ListObjectsV2",
                "s3 DeleteObjects",
            ]
            .contains(&k.as_str())
        })
        .map(|(_, n)| n)
        .sum();
    let s3_get: f64 = usage
        .calls
        .iter()
        .filter(|(k, _)| ["s3 GetObject", "s3 HeadObject"].contains(&k.as_str()))
        .map(|(_, n)| n)
        .sum();
    let emails = usage.calls.get("sesv2 SendEmail").copied().unwrap_or(0.0);
    Cost {
        lambda,
        gateway,
        dynamodb: usage.rru * prices.read_unit + usage.wru * prices.write_unit,
        sqs: (sqs_calls + 2.0 * consumed_messages(usage)) * prices.sqs_request,
        s3: s3_put * prices.s3_put + s3_get * prices.s3_get,
        ses: emails * prices.ses_email,
    }
}

// ---------------------------------------------------------------------------------------------
// The run

#[derive(Debug, Clone, serde::Serialize, serde::Deserialize)]
struct Run {
    label: String,
    date: String,
    mix: Value,
    runs: usize,
    routes: BTreeMap<String, RouteUsage>,
    /// Every DynamoDB access of the run, setup included: `operation index key-pattern` →
    /// (calls, read units, write units), per call.
    #[serde(default)]
    accesses: BTreeMap<String, (f64, f64, f64)>,
    /// `template.yaml` as it was when the run was made: its limits are that run's, not today's.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    template: Option<String>,
}

async fn run() -> Result<(), String> {
    let options = options()?;
    let mix: Value = serde_json::from_str(
        &std::fs::read_to_string(&options.mix).map_err(|e| format!("{}: {e}", options.mix.display()))?,
    )
    .map_err(|e| format!("{}: {e}", options.mix.display()))?;
    let routes: Vec<(String, f64)> = mix["routes"]
        .as_array()
        .ok_or("the mix has no routes")?
        .iter()
        .map(|r| {
            (
                r["route"].as_str().unwrap_or_default().to_owned(),
                r["weight"].as_f64().unwrap_or(0.0),
            )
        })
        .collect();
    let stack = options.stack.clone();
    let room_size = mix["room_size"].as_u64().unwrap_or(100) as usize;

    eprintln!("capacity: setting up users, items, posts and {room_size} WebSocket clients");
    let mut users = Vec::new();
    for n in 0..10 {
        let mut user = signup_and_login(&stack, n)?;
        for i in 0..5 {
            let body = json!({"title": format!("Seed {i}"), "description": "A thing"});
            let item = expect(
                "POST",
                &format!("{stack}/api/v1/items/"),
                Some(&user.access),
                Some(&body),
                200,
            )?;
            user.items.push(item["id"].as_str().unwrap_or_default().to_owned());
        }
        // Enough published posts that the feed's first page is full (100), of a blog post's size.
        for i in 0..11 {
            let body =
                json!({"title": format!("Post {i}"), "content": prose((n * 100 + i) as u64, 1400), "published": true});
            expect(
                "POST",
                &format!("{stack}/api/v1/posts/"),
                Some(&user.access),
                Some(&body),
                200,
            )?;
        }
        users.push(user);
    }
    let target = signup_and_login(&stack, 99)?;
    let sockets = sockets(&stack, &users, room_size, &target).await?;
    let mut world = World {
        stack: stack.clone(),
        users,
        sockets,
        png: tiny_png(),
        turn: 0,
        public_feed: call("GET", &format!("{stack}/api/v1/posts/?published=true"), None, None)?.0 == 200,
    };
    settle(&stack)?;
    // Warm every function first: the mix measures warm invocations.
    for (kind, _) in &routes {
        request(&mut world, kind).await?;
        settle(&stack)?;
    }

    let mut measured = BTreeMap::new();
    // Who touched each partition, over the whole run: a key that several callers reach is shared.
    let mut callers: HashMap<String, BTreeSet<usize>> = HashMap::new();
    let mut usages = Vec::new();
    for (kind, _) in &routes {
        let mut usage = RouteUsage::default();
        for _ in 0..options.runs {
            let since = last_seq(&stack, 0)?;
            request(&mut world, kind).await?;
            settle(&stack)?;
            let calls = metered(&stack, since)?;
            let caller = world.turn % world.users.len();
            add_calls(&mut usage, &calls, caller, &mut callers);
        }
        usages.push((kind.clone(), usage));
        eprintln!("capacity: {kind} measured");
    }
    for (kind, usage) in usages {
        measured.insert(kind, average(usage, options.runs, &callers));
    }

    let this = Run {
        label: options.label.clone(),
        date: time::OffsetDateTime::now_utc()
            .format(&time::format_description::well_known::Rfc3339)
            .unwrap_or_default(),
        mix: mix.clone(),
        runs: options.runs,
        routes: measured,
        accesses: accesses(&metered(&stack, 0)?),
        template: std::fs::read_to_string(&options.template).ok(),
    };
    let mut all: Vec<Run> = std::fs::read_to_string(&options.results)
        .ok()
        .and_then(|t| serde_json::from_str(&t).ok())
        .unwrap_or_default();
    all.retain(|r| r.label != this.label);
    all.push(this);
    if let Some(parent) = options.results.parent() {
        let _ = std::fs::create_dir_all(parent);
    }
    std::fs::write(&options.results, serde_json::to_string_pretty(&all).unwrap_or_default())
        .map_err(|e| format!("{}: {e}", options.results.display()))?;
    let report = report(&all, &options)?;
    std::fs::write(&options.out, &report).map_err(|e| format!("{}: {e}", options.out.display()))?;
    if let Some(summary) = report.lines().rev().find(|l| l.starts_with("capacity:")) {
        println!("{summary}");
    }
    println!("capacity: {} and {}", options.out.display(), options.results.display());
    let doc = std::fs::read_to_string(&options.doc).map_err(|e| format!("{}: {e}", options.doc.display()))?;
    let missing = undocumented(all.last().map(|r| &r.accesses).ok_or("no run")?, &doc);
    if !missing.is_empty() {
        return Err(format!(
            "{} has no row in its access-pattern table for {} metered access(es):\n  {}",
            options.doc.display(),
            missing.len(),
            missing.join("\n  ")
        ));
    }
    println!(
        "capacity: every metered access has its row in {}",
        options.doc.display()
    );
    Ok(())
}

// ---------------------------------------------------------------------------------------------
// Access patterns, and the data model's table of them

/// The heading of the table in docs/data-model.md that lists every access pattern.
const ACCESS_TABLE: &str = "## Capacity per access pattern";

/// A key as an access pattern: ids, digests, times, connection ids, shard and copy numbers
/// folded (`ITEMS#03` → `ITEMS#{shard}`).
fn access_pattern(key: &str) -> String {
    let folded = pattern(key);
    let mut parts: Vec<String> = folded.split('#').map(str::to_owned).collect();
    for (i, part) in parts.iter_mut().enumerate() {
        // Shards (`ITEMS#03`) and the feed's copies (`FEED#7`): small numbers after a name.
        let is_shard = i > 0 && (1..=2).contains(&part.len()) && part.chars().all(|c| c.is_ascii_digit());
        // API Gateway's connection ids: 16 characters of URL-safe base64, ending in `=`.
        let is_connection = part.len() >= 12 && part.ends_with('=');
        if is_shard {
            *part = "{shard}".into();
        } else if is_connection {
            *part = "{connection}".into();
        }
    }
    parts.join("#")
}

/// The index a metered target names: `table`, or the index after the table's name.
fn index_of(target: &str) -> &str {
    target.split_once('/').map(|(_, index)| index).unwrap_or("table")
}

/// Every DynamoDB access of `calls`: `operation index key-pattern` → (calls, RRU, WRU) per call.
fn accesses(calls: &[Value]) -> BTreeMap<String, (f64, f64, f64)> {
    let mut totals: BTreeMap<String, (f64, f64, f64)> = BTreeMap::new();
    for call in calls.iter().filter(|c| c["service"] == "dynamodb") {
        let operation = call["operation"].as_str().unwrap_or_default();
        for units in call["units"].as_array().into_iter().flatten() {
            let target = units["target"].as_str().unwrap_or_default();
            let key = access_pattern(units["key"].as_str().unwrap_or_default());
            let entry = totals
                .entry(format!("{operation} {} {key}", index_of(target)))
                .or_default();
            entry.0 += 1.0;
            entry.1 += units["read"].as_f64().unwrap_or(0.0);
            entry.2 += units["write"].as_f64().unwrap_or(0.0);
        }
    }
    for (calls, read, write) in totals.values_mut() {
        *read /= *calls;
        *write /= *calls;
    }
    totals
}

/// A key pattern with every placeholder (`{id}`, `<id>`) the same, so the doc's spelling and
/// the meter's meet.
fn placeholders_as_one(key: &str) -> String {
    let mut out = String::new();
    let mut inside = None;
    for c in key.chars() {
        match (inside, c) {
            (None, '{') => inside = Some('}'),
            (None, '<') => inside = Some('>'),
            (Some(end), c) if c == end => {
                inside = None;
                out.push('*');
            }
            (Some(_), _) => {}
            (None, c) => out.push(c),
        }
    }
    out
}

/// The (operation, index, key pattern) rows of the doc's access-pattern table: its first three
/// columns, in code spans; an operation cell may name several, comma-separated.
fn documented(doc: &str) -> BTreeSet<(String, String, String)> {
    let mut rows = BTreeSet::new();
    let Some(start) = doc.find(ACCESS_TABLE) else {
        return rows;
    };
    let section = &doc[start + ACCESS_TABLE.len()..];
    let section = section.find("\n## ").map_or(section, |end| &section[..end]);
    for line in section.lines().filter(|l| l.starts_with('|')) {
        let cells: Vec<String> = line
            .trim_matches('|')
            .split('|')
            .map(|c| c.trim().replace('`', ""))
            .collect();
        let [operations, index, key, ..] = cells.as_slice() else {
            continue;
        };
        for operation in operations.split(',').map(str::trim).filter(|o| !o.is_empty()) {
            rows.insert((operation.to_owned(), index.clone(), placeholders_as_one(key)));
        }
    }
    rows
}

/// The metered accesses the doc has no row for, as `operation index key`.
fn undocumented(accesses: &BTreeMap<String, (f64, f64, f64)>, doc: &str) -> Vec<String> {
    let rows = documented(doc);
    accesses
        .iter()
        .filter(|(access, _)| {
            let mut parts = access.splitn(3, ' ');
            let (operation, index, key) = (
                parts.next().unwrap_or_default(),
                parts.next().unwrap_or_default(),
                parts.next().unwrap_or_default(),
            );
            !rows.contains(&(operation.to_owned(), index.to_owned(), placeholders_as_one(key)))
        })
        .map(|(access, (_, read, write))| format!("{access} (per call: {} RRU, {} WRU)", trim(*read), trim(*write)))
        .collect()
}

// ---------------------------------------------------------------------------------------------
// The report

fn usd(x: f64) -> String {
    // + 0.0: an empty sum of floats is -0.0.
    format!("${:.2}", x + 0.0)
}

/// The template's own limits, from its resources and its parameters' defaults.
#[derive(Debug, Default)]
struct TemplateLimits {
    /// Each route of the HTTP API: (rate, burst).
    stage: Option<(f64, f64)>,
    /// Each route of the WebSocket API: (rate, burst).
    websocket_stage: Option<(f64, f64)>,
    /// Function logical id → reserved concurrency.
    reserved: BTreeMap<String, f64>,
    /// (function, queue) logical ids → the event source mapping's maximum concurrency.
    consumers: BTreeMap<(String, String), f64>,
    /// Emails a second the worker paces SES to (`EmailsPerSecond`).
    emails_per_second: Option<f64>,
}

fn template_limits(path: &PathBuf) -> TemplateLimits {
    let text = std::fs::read_to_string(path).unwrap_or_default();
    let yaml: serde_yaml::Value = serde_yaml::from_str(&text).unwrap_or(serde_yaml::Value::Null);
    limits_of(&yaml)
}

/// `!Ref X`, `!GetAtt X.Arn` (tagged, as serde_yaml reads the short forms) or `{Ref: X}`: X.
fn reference(value: &serde_yaml::Value) -> Option<&str> {
    match value {
        serde_yaml::Value::Tagged(tagged) => tagged.value.as_str().map(|v| v.split('.').next().unwrap_or(v)),
        _ => value["Ref"].as_str().or_else(|| value["Fn::GetAtt"][0].as_str()),
    }
}

fn limits_of(yaml: &serde_yaml::Value) -> TemplateLimits {
    let default = |name: &str| {
        yaml["Parameters"][name]["Default"]
            .as_f64()
            .or_else(|| yaml["Parameters"][name]["Default"].as_i64().map(|n| n as f64))
    };
    // A number, or a parameter's default.
    let number = |value: &serde_yaml::Value| {
        value
            .as_f64()
            .or_else(|| value.as_i64().map(|n| n as f64))
            .or_else(|| reference(value).and_then(default))
    };
    let mut limits = TemplateLimits::default();
    for (id, resource) in yaml["Resources"].as_mapping().into_iter().flatten() {
        let id = id.as_str().unwrap_or_default().to_owned();
        let props = &resource["Properties"];
        if let Some(reserved) = number(&props["ReservedConcurrentExecutions"]) {
            limits.reserved.insert(id.clone(), reserved);
        }
        for (_, event) in props["Events"].as_mapping().into_iter().flatten() {
            let event = &event["Properties"];
            if let (Some(queue), Some(maximum)) = (
                reference(&event["Queue"]),
                number(&event["ScalingConfig"]["MaximumConcurrency"]),
            ) {
                limits.consumers.insert((id.clone(), queue.to_owned()), maximum);
            }
        }
        let throttle = |settings: &serde_yaml::Value| {
            number(&settings["ThrottlingRateLimit"])
                .map(|rate| (rate, number(&settings["ThrottlingBurstLimit"]).unwrap_or(0.0)))
        };
        match resource["Type"].as_str() {
            Some("AWS::Serverless::HttpApi") => limits.stage = throttle(&props["DefaultRouteSettings"]),
            Some("AWS::ApiGatewayV2::Stage") => limits.websocket_stage = throttle(&props["DefaultRouteSettings"]),
            _ => {}
        }
    }
    limits.emails_per_second = default("EmailsPerSecond");
    limits
}

/// The logical id of the function a metered invocation names (the meter records logical ids).
fn shares(run: &Run) -> Vec<(String, f64)> {
    let total: f64 = run.mix["routes"]
        .as_array()
        .into_iter()
        .flatten()
        .map(|r| r["weight"].as_f64().unwrap_or(0.0))
        .sum();
    run.mix["routes"]
        .as_array()
        .into_iter()
        .flatten()
        .map(|r| {
            (
                r["route"].as_str().unwrap_or_default().to_owned(),
                r["weight"].as_f64().unwrap_or(0.0) / total.max(1.0),
            )
        })
        .collect()
}

struct Summary {
    cost: Cost,
    first_throttle: (f64, String),
}

fn section(run: &Run, prices: &Prices, limits: &TemplateLimits, peer: (f64, u32), out: &mut String) -> Summary {
    use std::fmt::Write;
    let shares = shares(run);
    let _ = writeln!(
        out,
        "### {} ({}, {} requests of each route)\n",
        run.label, run.date, run.runs
    );
    let _ = writeln!(
        out,
        "| route | share | AWS calls | RRU | WRU | Lambda ms (invocations) | Lambda | API GW | DynamoDB | SQS | S3 | SES | $ / million |\n|---|---:|---|---:|---:|---|---:|---:|---:|---:|---:|---:|---:|"
    );
    let mut mix = Cost::default();
    let mut mix_peer = Cost::default();
    for (kind, share) in &shares {
        let Some(usage) = run.routes.get(kind) else { continue };
        let cost = route_cost(kind, usage, prices, None);
        mix.add(&cost.scaled(*share));
        mix_peer.add(&route_cost(kind, usage, prices, Some(peer)).scaled(*share));
        let calls = usage
            .calls
            .iter()
            .map(|(k, n)| format!("{k} ×{}", trim(*n)))
            .collect::<Vec<_>>()
            .join(", ");
        let lambda = usage
            .lambda
            .iter()
            .map(|(f, (n, ms, mem))| format!("{f} {} ms ×{} @{mem} MB", trim(*ms / n.max(1e-9)), trim(*n)))
            .collect::<Vec<_>>()
            .join(", ");
        let m = 1e6;
        let _ = writeln!(
            out,
            "| {kind} | {:.0}% | {calls} | {} | {} | {lambda} | {} | {} | {} | {} | {} | {} | {} |",
            share * 100.0,
            trim(usage.rru),
            trim(usage.wru),
            usd(cost.lambda * m),
            usd(cost.gateway * m),
            usd(cost.dynamodb * m),
            usd(cost.sqs * m),
            usd(cost.s3 * m),
            usd(cost.ses * m),
            usd(cost.total() * m),
        );
    }
    let m = 1e6;
    let _ = writeln!(
        out,
        "| **mix** | 100% | | | | | {} | {} | {} | {} | {} | {} | **{}** |",
        usd(mix.lambda * m),
        usd(mix.gateway * m),
        usd(mix.dynamodb * m),
        usd(mix.sqs * m),
        usd(mix.s3 * m),
        usd(mix.ses * m),
        usd(mix.total() * m)
    );
    let _ = writeln!(
        out,
        "| FastAPI + Mangum | | | | | same calls; Lambda ×{:.2} time at {} MB | {} | {} | {} | {} | {} | {} | **{}** |\n",
        peer.0,
        peer.1,
        usd(mix_peer.lambda * m),
        usd(mix_peer.gateway * m),
        usd(mix_peer.dynamodb * m),
        usd(mix_peer.sqs * m),
        usd(mix_peer.s3 * m),
        usd(mix_peer.ses * m),
        usd(mix_peer.total() * m)
    );

    // The load on each partition at one request of the mix per second.
    let mut per_partition: BTreeMap<String, (f64, f64, bool)> = BTreeMap::new();
    for (kind, share) in &shares {
        let Some(usage) = run.routes.get(kind) else { continue };
        for (name, (r, w)) in &usage.partitions {
            let entry = per_partition.entry(name.clone()).or_default();
            entry.0 += r * share;
            entry.1 += w * share;
            entry.2 |= usage.shared.contains(name);
        }
    }
    let mut throttles: Vec<(f64, String, String)> = Vec::new();
    for (name, (r, w, shared)) in &per_partition {
        if !shared {
            continue;
        }
        let at_reads = if *r > 0.0 { 3000.0 / r } else { f64::INFINITY };
        let at_writes = if *w > 0.0 { 1000.0 / w } else { f64::INFINITY };
        let (at, why) = if at_reads <= at_writes {
            (at_reads, format!("3,000 RCU/s ({} RRU per mix request)", trim(*r)))
        } else {
            (at_writes, format!("1,000 WCU/s ({} WRU per mix request)", trim(*w)))
        };
        throttles.push((at, name.clone(), why));
    }
    // The template's limits, as request rates of the mix.
    let mut concurrency_by_function: BTreeMap<String, f64> = BTreeMap::new();
    let mut seconds_by_consumer: BTreeMap<(String, String), f64> = BTreeMap::new();
    for (kind, share) in &shares {
        if let Some(usage) = run.routes.get(kind) {
            for (function, (_, ms, _)) in &usage.lambda {
                *concurrency_by_function.entry(function.clone()).or_default() += share * ms / 1000.0;
            }
            for (function, queues) in &usage.consumers {
                for (queue, ms) in queues {
                    *seconds_by_consumer
                        .entry((function.clone(), queue.clone()))
                        .or_default() += share * ms / 1000.0;
                }
            }
        }
    }
    let mut template_rows: Vec<(f64, String, String)> = Vec::new();
    // Stage throttling applies to each route of an API; its busiest route meets it first.
    for (websocket, stage, what) in [
        (false, limits.stage, "HTTP API"),
        (true, limits.websocket_stage, "WebSocket API"),
    ] {
        let Some((rate, burst)) = stage else { continue };
        let busiest = shares
            .iter()
            .filter(|(k, _)| is_websocket(k) == websocket)
            .map(|(k, s)| {
                (
                    if k.starts_with("feed") {
                        "feed".to_owned()
                    } else {
                        k.clone()
                    },
                    *s,
                )
            })
            .fold(BTreeMap::<String, f64>::new(), |mut m, (k, s)| {
                *m.entry(k).or_default() += s;
                m
            })
            .into_iter()
            .max_by(|a, b| a.1.total_cmp(&b.1));
        let (at, route) = match busiest {
            Some((route, share)) if share > 0.0 => (rate / share, format!(" ({route} route)")),
            _ => (f64::INFINITY, String::new()),
        };
        template_rows.push((
            at,
            format!("stage throttling, {what}{route}"),
            format!("{} requests/s per route, burst {}", trim(rate), trim(burst)),
        ));
    }
    for (function, limit) in &limits.reserved {
        let seconds = concurrency_by_function.get(function).copied().unwrap_or(0.0);
        template_rows.push((
            if seconds > 0.0 { limit / seconds } else { f64::INFINITY },
            format!("{function} reserved concurrency"),
            format!("{} concurrent executions", trim(*limit)),
        ));
    }
    for ((function, queue), limit) in &limits.consumers {
        let seconds = seconds_by_consumer
            .get(&(function.clone(), queue.clone()))
            .copied()
            .unwrap_or(0.0);
        template_rows.push((
            if seconds > 0.0 { limit / seconds } else { f64::INFINITY },
            format!("{queue} → {function} maximum concurrency"),
            format!(
                "{} concurrent executions ({} ms of them per mix request; a backlog waits in the queue)",
                trim(*limit),
                trim(seconds * 1000.0)
            ),
        ));
    }
    let emails: f64 = shares
        .iter()
        .filter_map(|(k, s)| {
            run.routes
                .get(k)
                .map(|u| s * u.calls.get("sesv2 SendEmail").copied().unwrap_or(0.0))
        })
        .sum();
    if let Some(per_second) = limits.emails_per_second {
        template_rows.push((
            if emails > 0.0 {
                per_second / emails
            } else {
                f64::INFINITY
            },
            "the worker's SES pace (EmailsPerSecond)".into(),
            format!(
                "{} emails/s ({} emails per mix request; a backlog waits in the queue)",
                trim(per_second),
                trim(emails)
            ),
        ));
    }
    throttles.sort_by(|a, b| a.0.total_cmp(&b.0));
    throttles.truncate(12);
    // Every limit of the template is listed, the ones the mix does not reach included.
    throttles.extend(template_rows);
    throttles.sort_by(|a, b| a.0.total_cmp(&b.0));
    let _ = writeln!(
        out,
        "Partitions shared by every caller (per-caller and per-record keys spread with the users) and the template's limits (its parameters' defaults), by the mix's request rate R at which each throttles:\n\n| key or limit | load at R = 1 request/s, or the limit | throttles at R (requests/s) |\n|---|---|---:|"
    );
    for (at, name, why) in &throttles {
        let _ = writeln!(out, "| {name} | {why} | {} |", rate(*at));
    }
    let first = throttles
        .first()
        .map(|(at, name, _)| (*at, name.clone()))
        .unwrap_or((f64::INFINITY, "none".into()));

    // Quotas AWS raises on request.
    let lambda_seconds: f64 = concurrency_by_function.values().sum();
    let pushes: f64 = shares
        .iter()
        .filter_map(|(k, s)| {
            run.routes
                .get(k)
                .map(|u| s * u.calls.get("execute-api PostToConnection").copied().unwrap_or(0.0))
        })
        .sum();
    let http_share: f64 = shares.iter().filter(|(k, _)| !is_websocket(k)).map(|(_, s)| s).sum();
    let _ = writeln!(
        out,
        "\nAccount quotas (raised by AWS on request), by the R at which the mix reaches them:\n\n| quota | mix per request | reached at R (requests/s) |\n|---|---|---:|\n| Lambda concurrent executions: 1,000 | {} s of execution | {} |\n| API Gateway: 10,000 requests/s per account, shared by `@connections` pushes | {} API requests + {} pushes | {} |\n| SES sending rate: 14 emails/s (a new account's) | {} emails | {} |\n",
        trim(lambda_seconds),
        rate(1000.0 / lambda_seconds.max(1e-12)),
        trim(http_share),
        trim(pushes),
        rate(10_000.0 / (http_share + pushes).max(1e-12)),
        trim(emails),
        rate(if emails > 0.0 { 14.0 / emails } else { f64::INFINITY })
    );
    Summary {
        cost: mix,
        first_throttle: first,
    }
}

fn rate(at: f64) -> String {
    if at.is_finite() {
        format!("{:.0}", at)
    } else {
        "never".into()
    }
}

fn trim(x: f64) -> String {
    let s = format!("{x:.2}");
    s.trim_end_matches('0').trim_end_matches('.').to_owned()
}

fn report(runs: &[Run], options: &Options) -> Result<String, String> {
    use std::fmt::Write;
    let prices = prices(&options.prices)?;
    let limits = template_limits(&options.template);
    // The FastAPI + Mangum peer: `make bench`'s measured warm time of the same route (GET item),
    // as a multiple of the items function's, at the memory its peak RSS needs.
    let bench: Value = std::fs::read_to_string(&options.bench)
        .ok()
        .and_then(|t| serde_json::from_str(&t).ok())
        .unwrap_or(Value::Null);
    let find = |name: &str| {
        bench["results"]
            .as_array()
            .into_iter()
            .flatten()
            .find(|r| r["name"] == name)
            .cloned()
            .unwrap_or(Value::Null)
    };
    let (fastapi, items) = (find("fastapi"), find("items"));
    let scale = match (fastapi["warm_io_p50_ms"].as_f64(), items["warm_io_p50_ms"].as_f64()) {
        (Some(f), Some(i)) if i > 0.0 => f / i,
        _ => 1.5,
    };
    // A Python Lambda of this size is given at least 256 MB (at 128 MB its one CPU share
    // doubles the times measured here, which are at full CPU).
    let peer_memory = 256;
    let mut out = String::new();
    let _ = writeln!(
        out,
        "# Capacity and cost\n\nWritten by `make capacity`: the mix of `{}` ({}) run against a local stack whose functions reach the emulator through devstack's capacity meter, one request at a time; each request's AWS calls and the asynchronous work it caused (the queues drained) are attributed to it. DynamoDB units are DynamoDB's published rules applied to the items actually read and written (the meter reads them: the emulator counts no capacity). Lambda ms are the measured durations of the invocations (warm), billed per started millisecond at the template's memory. Prices: {}.\n\nFastAPI + Mangum: the same AWS calls per request (it serves the same contract on the same table), with Lambda time ×{scale:.2} (its measured warm time of GET /items/{{id}} against the items function's, `bench/results.md`) at {peer_memory} MB (its peak RSS is {:.0} MB; a Python Lambda of that size is given 256 MB or more).\n",
        options.mix.display(),
        runs.last().map(|r| r.mix["name"].as_str().unwrap_or_default().to_owned()).unwrap_or_default(),
        prices.source,
        fastapi["peak_rss_mb"].as_f64().unwrap_or(0.0),
    );
    let mut summaries = BTreeMap::new();
    for run in runs {
        // Each run against the template it ran with; a run recorded without one, today's.
        let recorded = run
            .template
            .as_deref()
            .map(|text| limits_of(&serde_yaml::from_str(text).unwrap_or(serde_yaml::Value::Null)));
        let limits = recorded.as_ref().unwrap_or(&limits);
        let summary = section(run, &prices, limits, (scale, peer_memory), &mut out);
        summaries.insert(run.label.clone(), summary);
    }
    let now = runs.last().map(|r| r.label.clone()).unwrap_or_default();
    if let Some(after) = summaries.get(&now) {
        let before = summaries.get("before").unwrap_or(after);
        // The peer serves the same contract the way the reference design does: the calls of the
        // "before" run (this run's when there is none).
        let peer_cost = {
            let run = runs
                .iter()
                .find(|r| r.label == "before")
                .or(runs.last())
                .ok_or("no run")?;
            let mut peer = Cost::default();
            for (kind, share) in shares(run) {
                if let Some(usage) = run.routes.get(&kind) {
                    peer.add(&route_cost(&kind, usage, &prices, Some((scale, peer_memory))).scaled(share));
                }
            }
            peer
        };
        let m = 1e6;
        let _ = writeln!(
            out,
            "capacity: first throttle at {} requests/s ({}); mix {} per million (before {}; FastAPI + Mangum {}); beyond API Gateway's fees {} (before {})",
            rate(after.first_throttle.0),
            after.first_throttle.1,
            usd(after.cost.total() * m),
            usd(before.cost.total() * m),
            usd(peer_cost.total() * m),
            usd(after.cost.beyond_gateway() * m),
            usd(before.cost.beyond_gateway() * m),
        );
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    #[test]
    fn seeded_prose_deflates_like_english() {
        let text: String = (0..50).map(|seed| super::prose(seed, 1400)).collect();
        assert_eq!(super::prose(7, 1400), super::prose(7, 1400));
        assert_eq!(super::prose(7, 1400).len(), 1400);
        let deflated = miniz_oxide::deflate::compress_to_vec(text.as_bytes(), 6);
        let ratio = deflated.len() as f64 / text.len() as f64;
        assert!((0.33..0.45).contains(&ratio), "{ratio}");
    }

    use super::*;

    #[test]
    fn keys_fold_into_their_patterns() {
        assert_eq!(pattern("USER#3f2b8c1e-8a43-4c59-9d0c-2f2a3c0b7a11"), "USER#{id}");
        assert_eq!(
            pattern("RATE#login-ip#12ca17b49af22894#1764860400"),
            "RATE#login-ip#{hash}#{n}"
        );
        assert_eq!(pattern("POSTS#PUBLISHED"), "POSTS#PUBLISHED");
    }

    #[test]
    fn copies_of_one_partition_share_its_load() {
        let mut usage = RouteUsage::default();
        usage.partitions.insert("t FEED#3".into(), (16.0, 0.0));
        usage.partitions.insert("t FEED#9".into(), (16.0, 32.0));
        let usage = average(usage, 1, &HashMap::new());
        let family = format!("t FEED#{{0..{0}}} (each of {0})", adapters::store::FEED_REPLICAS);
        let each = f64::from(adapters::store::FEED_REPLICAS);
        assert_eq!(usage.partitions.get(&family), Some(&(32.0 / each, 32.0 / each)));
        assert!(usage.shared.contains(&family));
        assert_eq!(spread_family("FEED#PUBLISHED"), None);
    }

    #[test]
    fn the_templates_limits_are_its_parameters_defaults() {
        let limits = template_limits(&"../template.yaml".into());
        let default = |name: &str| {
            let text = std::fs::read_to_string("../template.yaml").unwrap();
            let yaml: serde_yaml::Value = serde_yaml::from_str(&text).unwrap();
            yaml["Parameters"][name]["Default"].as_f64().unwrap()
        };
        assert_eq!(
            limits.stage,
            Some((default("ApiThrottlingRateLimit"), default("ApiThrottlingBurstLimit")))
        );
        assert_eq!(
            limits.websocket_stage,
            Some((
                default("WebSocketThrottlingRateLimit"),
                default("WebSocketThrottlingBurstLimit")
            ))
        );
        let consumer =
            |function: &str, queue: &str| limits.consumers.get(&(function.to_owned(), queue.to_owned())).copied();
        assert_eq!(
            consumer("WorkerFunction", "EmailsQueue"),
            Some(default("EmailsMaxConcurrency"))
        );
        assert_eq!(
            consumer("WorkerFunction", "JobsQueue"),
            Some(default("JobsMaxConcurrency"))
        );
        assert_eq!(
            consumer("ThumbnailsFunction", "FilesQueue"),
            Some(default("ThumbnailsMaxConcurrency"))
        );
        assert_eq!(
            consumer("RealtimeFunction", "NotificationsQueue"),
            Some(default("NotificationsMaxConcurrency"))
        );
        assert_eq!(
            consumer("RealtimeFunction", "FanOutQueue"),
            Some(default("FanOutMaxConcurrency"))
        );
        assert_eq!(
            limits.consumers.len(),
            5,
            "every queue consumer has a maximum concurrency"
        );
        assert_eq!(limits.emails_per_second, Some(default("EmailsPerSecond")));
    }

    #[test]
    fn shards_and_connections_fold_into_access_patterns() {
        assert_eq!(access_pattern("POSTS#PUBLISHED#03"), "POSTS#PUBLISHED#{shard}");
        assert_eq!(access_pattern("COUNTER#ITEMS#00"), "COUNTER#ITEMS#{shard}");
        assert_eq!(access_pattern("FEED#7"), "FEED#{shard}");
        assert_eq!(access_pattern("CONN#0VAdy4EDR6K9Mw=="), "CONN#{connection}");
        assert_eq!(
            access_pattern("COUNTER#ITEMS#3f2b8c1e-8a43-4c59-9d0c-2f2a3c0b7a11"),
            "COUNTER#ITEMS#{id}"
        );
        assert_eq!(index_of("local-apptable/gsi2"), "gsi2");
        assert_eq!(index_of("local-apptable"), "table");
    }

    #[test]
    fn a_metered_access_without_a_row_in_the_doc_is_named() {
        let calls = vec![
            json!({"service": "dynamodb", "operation": "Query", "units": [
                {"target": "t/gsi2", "key": "ITEMS#01", "read": 1.5, "write": 0.0},
            ]}),
            json!({"service": "dynamodb", "operation": "TransactWriteItems", "units": [
                {"target": "t", "key": "ITEM#3f2b8c1e-8a43-4c59-9d0c-2f2a3c0b7a11", "read": 0.0, "write": 2.0},
                {"target": "t", "key": "COUNTER#ITEMS#02", "read": 0.0, "write": 2.0},
            ]}),
            json!({"service": "s3", "operation": "PutObject", "units": []}),
        ];
        let seen = accesses(&calls);
        assert_eq!(seen.len(), 3);
        assert_eq!(seen["Query gsi2 ITEMS#{shard}"], (1.0, 1.5, 0.0));
        let doc = "# Data model\n\n## Capacity per access pattern\n\n| operation | index | key | units |\n|---|---|---|---|\n| `Query` | `gsi2` | `ITEMS#<shard>` | 1.5 RRU |\n| `TransactWriteItems`, `PutItem` | table | `ITEM#<id>` | 2 WRU |\n\n## Next\n\n| `TransactWriteItems` | table | `COUNTER#ITEMS#<shard>` | |\n";
        assert_eq!(
            undocumented(&seen, doc),
            vec!["TransactWriteItems table COUNTER#ITEMS#{shard} (per call: 0 RRU, 2 WRU)".to_owned()],
            "a row outside the section does not count"
        );
        assert_eq!(undocumented(&seen, "no table at all").len(), 3);
    }
}
