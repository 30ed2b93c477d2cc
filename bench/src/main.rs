//! `make bench`: for every function, the floor (an empty `lambda_runtime` function) and the
//! FastAPI + Mangum peer, start the process under devstack's Lambda Runtime API and measure
//! init (process start → first poll of `/next`), first response (process start → response to
//! the route's event, I/O included), warm p50/p99 with and without I/O, peak RSS, and sizes;
//! cold starts go round-robin over the targets; then the realtime fan-out of one message to 100 WebSocket connections in one room.

mod fanout;
mod load;

use bytes::Bytes;
use devstack::runtime::{Function, FunctionSpec, InvokeResult, Lifecycle, Output};
use serde_json::{json, Value};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio::sync::mpsc;

struct Options {
    stack: String,
    release_dir: PathBuf,
    python: PathBuf,
    runs: usize,
    warm: usize,
    out_dir: PathBuf,
    /// Only these targets (by name), when given: a quick comparison. `--only thumbnails` runs
    /// the thumbnail comparison alone (no stack needed).
    only: Vec<String>,
    only_thumbnails: bool,
    /// `--only realtime`: the fan-out and the load test alone.
    only_realtime: bool,
    /// The stack's log, where the functions' lines show the `send` invocation's own duration
    /// and the fan-out consumer's pace.
    stack_log: Option<PathBuf>,
    /// Rooms of these many connections, one fan-out measure each.
    fan_out: Vec<usize>,
    /// The realtime load test; none when not asked for.
    load: Option<load::Load>,
}

fn parse() -> Result<Options, String> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let mut options = Options {
        stack: String::new(),
        release_dir: PathBuf::from("target/release"),
        python: PathBuf::from(".venv/bin/python"),
        runs: 5,
        warm: 1000,
        out_dir: PathBuf::from("bench"),
        only: Vec::new(),
        only_thumbnails: false,
        only_realtime: false,
        stack_log: None,
        fan_out: vec![100],
        load: None,
    };
    let mut i = 0;
    while i < args.len() {
        let value = args
            .get(i + 1)
            .cloned()
            .ok_or_else(|| format!("{} needs a value", args[i]))?;
        match args[i].as_str() {
            "--stack" => options.stack = value,
            "--release-dir" => options.release_dir = value.into(),
            "--python" => options.python = value.into(),
            "--runs" => options.runs = value.parse().map_err(|_| "--runs takes a number")?,
            "--warm" => options.warm = value.parse().map_err(|_| "--warm takes a number")?,
            "--out" => options.out_dir = value.into(),
            "--only" => {
                options.only = value.split(',').map(str::to_owned).collect();
                options.only_thumbnails = value == "thumbnails";
                options.only_realtime = value == "realtime";
            }
            "--stack-log" => options.stack_log = Some(value.into()),
            "--fan-out" if value == "none" => options.fan_out = Vec::new(),
            "--fan-out" => {
                options.fan_out = value
                    .split(',')
                    .map(|n| n.parse().map_err(|_| "--fan-out takes sizes, e.g. 100,1000,10000"))
                    .collect::<Result<_, _>>()?
            }
            "--load" => {
                let parts: Vec<u64> = value
                    .split(',')
                    .map(|n| {
                        n.parse()
                            .map_err(|_| "--load takes connections,rooms,seconds,actions-per-second")
                    })
                    .collect::<Result<_, _>>()?;
                let [connections, rooms, seconds, actions_per_second] = parts[..] else {
                    return Err("--load takes connections,rooms,seconds,actions-per-second".into());
                };
                options.load = Some(load::Load {
                    connections: connections as usize,
                    rooms: rooms as usize,
                    seconds,
                    actions_per_second,
                });
            }
            other => return Err(format!("unknown option {other}")),
        }
        i += 2;
    }
    if options.stack.is_empty() && !options.only_thumbnails {
        return Err(
            "usage: bench --stack http://127.0.0.1:PORT [--runs 5] [--warm 1000] [--out bench] [--only items,floor] | bench --only thumbnails [--runs 5] [--out DIR]"
                .into(),
        );
    }
    Ok(options)
}

/// One process to measure.
struct Target {
    name: String,
    program: PathBuf,
    args: Vec<String>,
    cwd: Option<PathBuf>,
    env: BTreeMap<String, String>,
    binary: Option<PathBuf>,
    no_io: Bytes,
    io: Bytes,
    io_route: String,
}

#[derive(Debug, Default, serde::Serialize)]
struct Measured {
    name: String,
    io_route: String,
    init_ms: f64,
    first_response_ms: f64,
    warm_no_io_p50_ms: f64,
    warm_no_io_p99_ms: f64,
    warm_io_p50_ms: f64,
    warm_io_p99_ms: f64,
    peak_rss_mb: f64,
    binary_bytes: Option<u64>,
    zip_bytes: Option<u64>,
    /// The arm64 zip that deploys, when `make package` has built it (target/lambda/<name>/).
    arm64_zip_bytes: Option<u64>,
    first_status: Value,
    runs: usize,
    warm_invokes: usize,
}

fn main() {
    // The thumbnail child measures its own peak memory: no async runtime, no threads.
    if std::env::args().nth(1).as_deref() == Some("thumbnail") {
        let args: Vec<String> = std::env::args().skip(2).collect();
        match thumbnail_child(&args) {
            Ok(line) => println!("{line}"),
            Err(err) => {
                eprintln!("bench thumbnail: {err}");
                std::process::exit(1);
            }
        }
        return;
    }
    match tokio::runtime::Runtime::new() {
        Ok(runtime) => runtime.block_on(bench_main()),
        Err(err) => {
            eprintln!("bench: no async runtime: {err}");
            std::process::exit(1);
        }
    }
}

async fn bench_main() {
    let options = match parse() {
        Ok(options) => options,
        Err(err) => {
            eprintln!("bench: {err}");
            std::process::exit(2);
        }
    };
    if let Err(err) = run(options).await {
        eprintln!("bench: {err}");
        std::process::exit(1);
    }
}

async fn run(options: Options) -> Result<(), String> {
    let root = std::env::current_dir().map_err(|e| e.to_string())?;
    let mut targets = if options.only_thumbnails || options.only_realtime {
        Vec::new()
    } else {
        targets(&options, &root)?
    };
    if !options.only.is_empty() {
        targets.retain(|t| options.only.contains(&t.name));
    }
    // All cold starts but each target's last go round-robin over the targets, so a slow spell
    // of the shared machine falls on every target alike — and on the floor the ratios divide
    // by — rather than on whichever target was being measured then.
    let mut colds: Vec<Vec<(f64, f64)>> = vec![Vec::new(); targets.len()];
    if options.runs > 1 && !targets.is_empty() {
        eprintln!(
            "bench: {} rounds of cold starts over {} targets",
            options.runs - 1,
            targets.len()
        );
        for _ in 1..options.runs {
            for (target, samples) in targets.iter().zip(&mut colds) {
                samples.push(cold_start(target).await?);
            }
        }
    }
    let mut results = Vec::new();
    for (target, earlier) in targets.iter().zip(colds) {
        eprintln!(
            "bench: {} (its last cold start, then {} warm invokes per route)",
            target.name, options.warm
        );
        let measured = measure(target, earlier, options.runs, options.warm).await?;
        eprintln!(
            "bench:   init {:.1} ms, first response {:.1} ms, warm {:.3}/{:.3} ms, {:.1} MB",
            measured.init_ms,
            measured.first_response_ms,
            measured.warm_no_io_p50_ms,
            measured.warm_io_p50_ms,
            measured.peak_rss_mb
        );
        results.push(measured);
    }
    let realtime = options.only.is_empty() || options.only_realtime;
    let mut fan_out = Vec::new();
    if realtime {
        let admin = admin_token(&options.stack)?;
        let most = options.fan_out.iter().copied().max().unwrap_or(0);
        let users = most.div_ceil(fanout::CONNECTIONS_PER_USER);
        eprintln!("bench: {users} users for the fan-out rooms");
        let tokens: Vec<String> = load::users(&options.stack, &admin, users)
            .await?
            .into_iter()
            .map(|(_, token)| token)
            .collect();
        for &connections in &options.fan_out {
            // Fewer messages to the larger rooms: each is `connections` frames to collect.
            let messages = (options.warm / 10).clamp(3, 100).min((100_000 / connections).max(3));
            eprintln!("bench: realtime fan-out, {messages} messages to {connections} connections in one room");
            let measured = fanout::measure(
                &ws_url(&options.stack),
                &tokens[..connections.div_ceil(fanout::CONNECTIONS_PER_USER)],
                connections,
                messages,
                options.stack_log.as_deref(),
            )
            .await?;
            eprintln!(
                "bench:   send → last delivery p50 {:.1} ms, p99 {:.1} ms; send invocation p50 {:?} ms; {:?} pushes/s per consumer",
                measured.p50_ms, measured.p99_ms, measured.send_p50_ms, measured.pushes_per_second
            );
            fan_out.push(measured);
        }
    }
    let load = match options.load.filter(|_| realtime) {
        Some(load) => {
            eprintln!(
                "bench: realtime load test, {} connections in {} rooms for {} s",
                load.connections, load.rooms, load.seconds
            );
            let token = admin_token(&options.stack)?;
            let report = load::run(&options.stack, &ws_url(&options.stack), &token, load).await?;
            eprintln!("bench:   {report:?}");
            Some(report)
        }
        None => None,
    };
    let thumbnails = if options.only.is_empty() || options.only_thumbnails {
        thumbnails(&options, &root)?
    } else {
        Vec::new()
    };
    std::fs::create_dir_all(&options.out_dir).map_err(|e| e.to_string())?;
    let report = report(&results, &fan_out, load.as_ref(), &thumbnails);
    std::fs::write(
        options.out_dir.join("results.json"),
        serde_json::to_string_pretty(
            &json!({"results": results, "fan_out": fan_out, "load": load, "thumbnails": thumbnails, "machine": machine()}),
        )
        .unwrap_or_default(),
    )
    .map_err(|e| e.to_string())?;
    std::fs::write(options.out_dir.join("results.md"), &report).map_err(|e| e.to_string())?;
    println!("{report}");
    match load {
        Some(load) if !load.passed() => Err(format!("the realtime load test failed: {}", load.failures.join("; "))),
        _ => Ok(()),
    }
}

/// The realtime section: fan-out by room size, the summary line, the projection to 100,000,
/// and the load test.
fn fan_out_report(fan_out: &[fanout::FanOut], load: Option<&load::Report>) -> String {
    let mut out = String::new();
    if !fan_out.is_empty() {
        out.push_str(&format!(
            "\n## Realtime fan-out\n\nOne message to N WebSocket connections in one room, through the local stack's WebSocket API \
             (the realtime function under devstack's runtime API; `send` queues the delivery, one fan-out consumer \
             pushes {} at a time, a shard of at most {} connections per queue message). \
             Send → last delivery is measured at the clients; the `send` invocation and the consumer's pace come from the \
             functions' log lines.\n\n| connections | messages | send → last delivery p50 / p99 / max ms | `send` invocation p50 ms | pushes/s per consumer |\n|---:|---:|---|---:|---:|\n",
            realtime::PUSHES_IN_FLIGHT,
            realtime::SHARD_SIZE
        ));
        let opt = |v: Option<f64>, digits: usize| v.map_or("–".to_owned(), |v| format!("{v:.digits$}"));
        for f in fan_out {
            out.push_str(&format!(
                "| {} | {} | {:.0} / {:.0} / {:.0} | {} | {} |\n",
                f.connections,
                f.messages,
                f.p50_ms,
                f.p99_ms,
                f.max_ms,
                opt(f.send_p50_ms, 1),
                opt(f.pushes_per_second, 0)
            ));
        }
        if let (Some(first), Some(last)) = (fan_out.first(), fan_out.last()) {
            out.push_str(&format!(
                "\nfan-out: {} connections p50 {:.0} ms p99 {:.0} ms; send {} ms at {}, {} ms at {}\n",
                last.connections,
                last.p50_ms,
                last.p99_ms,
                opt(first.send_p50_ms, 0),
                first.connections,
                opt(last.send_p50_ms, 0),
                last.connections
            ));
            if let Some(rate) = last.pushes_per_second.filter(|r| *r > 0.0) {
                out.push_str(&format!(
                    "\nA room of 100,000 at this pace: {:.0} s with one consumer, {:.0} s with the template's 2 \
                     (`FanOutMaxConcurrency`); API Gateway's account limit of 10,000 requests/s, shared with the HTTP API, \
                     bounds it at 10 s whatever the concurrency.\n",
                    100_000.0 / rate,
                    100_000.0 / (2.0 * rate)
                ));
            }
        }
    }
    if let Some(load) = load {
        out.push_str(&format!(
            "\n## Realtime load test\n\n{} connections in {} rooms for {} s: {} joins, {} leaves, {} sends, {} abrupt disconnects. \
             {} deliveries were due (a message to every connection in its room from before it was sent to the end), {} missing; \
             {} frames came twice (each with its id); {} message frames without an id; {} stale records after the run. {}\n",
            load.connections,
            load.rooms,
            load.seconds,
            load.joins,
            load.leaves,
            load.sends,
            load.disconnects,
            load.expected,
            load.missing,
            load.repeated,
            load.without_id,
            load.stale_records,
            if load.passed() { "Passed." } else { "FAILED." }
        ));
    }
    out
}

/// The stack's WebSocket API: the HTTP API's host, the stage (`local`) as path.
fn ws_url(stack: &str) -> String {
    format!("{}/local", stack.replacen("http://", "ws://", 1))
}

fn admin_token(stack: &str) -> Result<String, String> {
    let login: Value = ureq::post(&format!("{stack}/api/v1/login/access-token"))
        .send_form([("username", "admin@example.com"), ("password", "changethis")])
        .map_err(|e| format!("login: {e}"))?
        .body_mut()
        .read_json()
        .map_err(|e| e.to_string())?;
    login["access_token"]
        .as_str()
        .map(str::to_owned)
        .ok_or_else(|| "no access token".to_owned())
}

fn get_json(url: &str, token: Option<&str>) -> Result<Value, String> {
    let mut request = ureq::get(url);
    if let Some(token) = token {
        request = request.header("authorization", &format!("Bearer {token}"));
    }
    request
        .call()
        .map_err(|e| format!("{url}: {e}"))?
        .body_mut()
        .read_json()
        .map_err(|e| e.to_string())
}

fn post_json(url: &str, body: &Value, token: &str) -> Result<Value, String> {
    ureq::post(url)
        .header("authorization", &format!("Bearer {token}"))
        .send_json(body)
        .map_err(|e| format!("{url}: {e}"))?
        .body_mut()
        .read_json()
        .map_err(|e| e.to_string())
}

fn event(root: &Path, file: &str) -> Result<Value, String> {
    let path = root.join("events").join(file);
    serde_json::from_str(&std::fs::read_to_string(&path).map_err(|e| format!("{}: {e}", path.display()))?)
        .map_err(|e| e.to_string())
}

fn with_auth(mut event: Value, token: Option<&str>) -> Bytes {
    match token {
        Some(token) => event["headers"]["authorization"] = json!(format!("Bearer {token}")),
        None => {
            if let Some(headers) = event["headers"].as_object_mut() {
                headers.remove("authorization");
            }
        }
    }
    Bytes::from(event.to_string())
}

/// The GET-one event of items or posts, for a real record.
fn read_one(root: &Path, resource: &str, id: &str) -> Result<Value, String> {
    let mut event = event(root, &format!("{resource}/read-unknown.json"))?;
    let path = format!("/api/v1/{resource}/{id}");
    event["rawPath"] = json!(path);
    event["requestContext"]["http"]["path"] = json!(path);
    event["pathParameters"] = json!({ "proxy": id });
    Ok(event)
}

fn targets(options: &Options, root: &Path) -> Result<Vec<Target>, String> {
    let info = get_json(&format!("{}/_devstack/info", options.stack), None)?;
    let login: Value = ureq::post(&format!("{}/api/v1/login/access-token", options.stack))
        .send_form([("username", "admin@example.com"), ("password", "changethis")])
        .map_err(|e| format!("login: {e}"))?
        .body_mut()
        .read_json()
        .map_err(|e| e.to_string())?;
    let token = login["access_token"].as_str().ok_or("no access token")?.to_owned();
    let item = post_json(
        &format!("{}/api/v1/items/", options.stack),
        &json!({"title": "Bench lamp", "price": 9.5}),
        &token,
    )?;
    let post = post_json(
        &format!("{}/api/v1/posts/", options.stack),
        &json!({"title": "Bench", "content": "Hi", "published": true}),
        &token,
    )?;
    let file = post_json(
        &format!("{}/api/v1/files/", options.stack),
        &json!({"filename": "bench.pdf", "content_type": "application/pdf", "size": 1000}),
        &token,
    )?;
    let (item_id, post_id, file_id) = (
        item["id"].as_str().unwrap_or_default(),
        post["id"].as_str().unwrap_or_default(),
        file["file"]["id"].as_str().unwrap_or_default(),
    );
    let mut connect_anonymous = event(root, "realtime/connect.json")?;
    if let Some(fields) = connect_anonymous.as_object_mut() {
        fields.remove("queryStringParameters");
        fields.remove("multiValueQueryStringParameters");
    }
    let connect = event(root, "realtime/connect.json")?
        .to_string()
        .replace("REPLACE_WITH_ACCESS_TOKEN", &token);
    let token = Some(token.as_str());

    let mut private_bad = event(root, "private/create-user.json")?;
    private_bad["body"] = json!("{}");
    let mut private_taken = event(root, "private/create-user.json")?;
    private_taken["body"] =
        json!(json!({"email": "admin@example.com", "password": "changethis", "full_name": "Taken"}).to_string());
    let mut poison_only = event(root, "worker/batch-with-poison.json")?;
    if let Some(records) = poison_only["Records"].as_array_mut() {
        records.remove(0);
    }
    let item_event = read_one(root, "items", item_id)?;
    let mut file_event = event(root, "files/read-unknown.json")?;
    let file_path = json!(format!("/api/v1/files/{file_id}"));
    file_event["rawPath"] = file_path.clone();
    file_event["requestContext"]["http"]["path"] = file_path;
    file_event["pathParameters"]["proxy"] = json!(file_id);
    let mut upload_poison = event(root, "thumbnails/batch-with-poison.json")?;
    if let Some(records) = upload_poison["Records"].as_array_mut() {
        records.retain(|r| r["body"] == "not an event");
    }

    // (logical id, event without I/O, event with I/O, what the I/O event does)
    let routes: Vec<(&str, Bytes, Bytes, &str)> = vec![
        (
            "UtilsFunction",
            with_auth(event(root, "utils/health-check.json")?, None),
            with_auth(event(root, "utils/health-check-deep.json")?, None),
            "GET /utils/health-check/?deep=true (DescribeTable, HeadBucket, GetQueueAttributes)",
        ),
        (
            "LoginFunction",
            with_auth(event(root, "login/test-token.json")?, None),
            with_auth(event(root, "login/test-token.json")?, token),
            "POST /login/test-token (JWT + GetItem)",
        ),
        (
            "UsersFunction",
            with_auth(event(root, "users/read-me.json")?, None),
            with_auth(event(root, "users/read-me.json")?, token),
            "GET /users/me (JWT + GetItem)",
        ),
        (
            "ItemsFunction",
            with_auth(item_event.clone(), None),
            with_auth(item_event.clone(), token),
            "GET /items/{id} (JWT + 2 GetItem)",
        ),
        (
            "PostsFunction",
            with_auth(read_one(root, "posts", post_id)?, None),
            with_auth(read_one(root, "posts", post_id)?, token),
            "GET /posts/{id} (JWT + 2 GetItem)",
        ),
        (
            "PrivateFunction",
            with_auth(private_bad, None),
            with_auth(private_taken, None),
            "POST /private/users/ with a taken email (2 GetItem)",
        ),
        (
            "FilesFunction",
            with_auth(file_event.clone(), None),
            with_auth(file_event, token),
            "GET /files/{id} (JWT + 2 GetItem)",
        ),
        (
            "ThumbnailsFunction",
            Bytes::from(upload_poison.to_string()),
            Bytes::from(event(root, "thumbnails/s3-object-created.json")?.to_string()),
            "SQS batch of one S3 event of a stray upload (GetItem, DeleteObject)",
        ),
        (
            "WorkerFunction",
            Bytes::from(poison_only.to_string()),
            Bytes::from(event(root, "worker/send-email.json")?.to_string()),
            "SQS batch of one send_email job (SES SendEmail)",
        ),
        (
            "RealtimeFunction",
            Bytes::from(connect_anonymous.to_string()),
            Bytes::from(connect),
            "WebSocket $connect with a token (JWT + BatchGetItem + PutItem); no I/O: without one (401)",
        ),
    ];
    let functions = info["functions"].as_array().ok_or("devstack info has no functions")?;
    let mut targets = Vec::new();
    let mut items_env = BTreeMap::new();
    for (id, no_io, io, io_route) in routes {
        let function = functions
            .iter()
            .find(|f| f["id"] == id)
            .ok_or_else(|| format!("{id} is not in the stack"))?;
        let mut env: BTreeMap<String, String> =
            serde_json::from_value(function["env"].clone()).map_err(|e| format!("{id} env: {e}"))?;
        // devstack's /info names its secrets without showing them: take them where devstack
        // does, from this environment or `.local/secrets/`.
        for (name, value) in env.iter_mut().filter(|(_, v)| v.as_str() == "(hidden)") {
            *value = std::env::var(name)
                .ok()
                .or_else(|| std::fs::read_to_string(root.join(".local/secrets").join(name)).ok())
                .map(|s| s.trim().to_owned())
                .ok_or_else(|| format!("{id}: secret {name} is neither in the environment nor in .local/secrets"))?;
        }
        let binary_name = Path::new(function["binary"].as_str().unwrap_or_default())
            .file_name()
            .ok_or_else(|| format!("{id}: no binary"))?
            .to_owned();
        let binary = options.release_dir.join(binary_name);
        if id == "ItemsFunction" {
            items_env = env.clone();
        }
        targets.push(Target {
            name: id.trim_end_matches("Function").to_lowercase(),
            program: binary.clone(),
            args: vec![],
            cwd: None,
            env,
            binary: Some(binary),
            no_io,
            io,
            io_route: io_route.to_owned(),
        });
    }
    targets.push(Target {
        name: "floor".into(),
        program: options.release_dir.join("floor"),
        args: vec![],
        cwd: None,
        env: BTreeMap::new(),
        binary: Some(options.release_dir.join("floor")),
        no_io: with_auth(item_event.clone(), None),
        io: with_auth(item_event.clone(), token),
        io_route: "any event: a fixed answer, no I/O".into(),
    });
    let mut fastapi_env = items_env;
    fastapi_env.insert("PYTHONDONTWRITEBYTECODE".into(), "1".into());
    targets.push(Target {
        name: "fastapi".into(),
        // Not canonicalised: the virtualenv is found through the path of its own `python` link.
        program: root.join(&options.python),
        args: vec!["-m".into(), "awslambdaric".into(), "app.handler".into()],
        cwd: Some(root.join("bench/fastapi")),
        env: fastapi_env,
        binary: None,
        no_io: with_auth(item_event.clone(), None),
        io: with_auth(item_event, token),
        io_route: "GET /items/{id} (JWT + 2 GetItem), FastAPI + Mangum + boto3".into(),
    });
    Ok(targets)
}

/// A timeout on every wait, and the functions' own timeout.
const TIMEOUT: Duration = Duration::from_secs(60);

/// The function as devstack's runtime API runs it: one environment, started by the bench.
fn spec(target: &Target) -> FunctionSpec {
    let mut env: Vec<(String, String)> = target.env.clone().into_iter().collect();
    env.push(("_HANDLER".into(), "app.handler".into()));
    let task_root = target.cwd.clone().unwrap_or_default();
    env.push(("LAMBDA_TASK_ROOT".into(), task_root.display().to_string()));
    FunctionSpec {
        args: target.args.clone(),
        working_dir: target.cwd.clone(),
        env,
        timeout: TIMEOUT,
        memory_mb: 128,
        max_instances: 1,
        // BENCH_LOGS=1 shows the functions' own log lines (their handler latency) on stderr.
        output: if std::env::var_os("BENCH_LOGS").is_none() {
            Output::Discard
        } else {
            Output::Inherit
        },
        die_with_parent: false,
        ..FunctionSpec::new(target.name.clone(), target.program.clone())
    }
}

/// The next lifecycle step of the measured environment, or why it will not come.
async fn next_step(
    seen: &mut mpsc::UnboundedReceiver<Lifecycle>,
    name: &str,
    waiting_for: &str,
) -> Result<Lifecycle, String> {
    match tokio::time::timeout(TIMEOUT, seen.recv()).await {
        Err(_) => Err(format!("{name}: {waiting_for} within {} s", TIMEOUT.as_secs())),
        Ok(None) => Err(format!("{name}: the runtime API closed")),
        Ok(Some(Lifecycle::Ended { reason, .. })) => Err(format!("{name}: {waiting_for}: {reason}")),
        Ok(Some(step)) => Ok(step),
    }
}

async fn polled(seen: &mut mpsc::UnboundedReceiver<Lifecycle>, name: &str) -> Result<Instant, String> {
    loop {
        if let Lifecycle::Polled { at, .. } = next_step(seen, name, "no poll").await? {
            return Ok(at);
        }
    }
}

/// Hands `event` to the polling environment; what it answered, and when.
async fn answered(
    function: &Arc<Function>,
    seen: &mut mpsc::UnboundedReceiver<Lifecycle>,
    name: &str,
    event: Bytes,
) -> Result<(Instant, Bytes), String> {
    let body = match function.invoke(event).await {
        InvokeResult::Ok(body) | InvokeResult::FunctionError(body) => body,
        InvokeResult::Crashed(reason) => return Err(format!("{name}: no answer: {reason}")),
        InvokeResult::TimedOut => return Err(format!("{name}: no answer within {} s", TIMEOUT.as_secs())),
    };
    loop {
        if let Lifecycle::Answered { at, .. } = next_step(seen, name, "no answer").await? {
            return Ok((at, body));
        }
    }
}

/// One cold start of `target`: process start → first poll of `/next` (init), and → the answer
/// to its I/O event (first response), in ms.
async fn cold_start(target: &Target) -> Result<(f64, f64), String> {
    let (observer, mut seen) = mpsc::unbounded_channel();
    let function = Function::observed(spec(target), observer);
    function.start_environment();
    let started = match next_step(&mut seen, &target.name, "not started").await? {
        Lifecycle::Started { at, .. } => at,
        other => return Err(format!("{}: {other:?} before its start", target.name)),
    };
    let first_poll = polled(&mut seen, &target.name).await?;
    let (answered_at, _) = answered(&function, &mut seen, &target.name, target.io.clone()).await?;
    function.stop().await;
    Ok((ms(first_poll - started), ms(answered_at - started)))
}

/// `target`'s figures: the `earlier` cold starts, one more whose environment then takes the
/// warm invokes (and whose peak RSS is read), and the sizes of its binary and zips.
async fn measure(target: &Target, earlier: Vec<(f64, f64)>, runs: usize, warm: usize) -> Result<Measured, String> {
    let (mut inits, mut firsts): (Vec<f64>, Vec<f64>) = earlier.into_iter().unzip();
    let mut measured = Measured {
        name: target.name.clone(),
        io_route: target.io_route.clone(),
        runs,
        warm_invokes: warm,
        ..Default::default()
    };
    let (observer, mut seen) = mpsc::unbounded_channel();
    let function = Function::observed(spec(target), observer);
    function.start_environment();
    let (started, pid) = match next_step(&mut seen, &target.name, "not started").await? {
        Lifecycle::Started { at, pid, .. } => (at, pid),
        other => return Err(format!("{}: {other:?} before its start", target.name)),
    };

    let first_poll = polled(&mut seen, &target.name).await?;
    inits.push(ms(first_poll - started));
    let (answered_at, body) = answered(&function, &mut seen, &target.name, target.io.clone()).await?;
    firsts.push(ms(answered_at - started));
    let answer: Value = serde_json::from_slice(&body).unwrap_or(Value::Null);
    measured.first_status = answer
        .get("statusCode")
        .cloned()
        .unwrap_or_else(|| json!({"batchItemFailures": answer.get("batchItemFailures")}));
    let mut no_io = Vec::with_capacity(warm);
    let mut io = Vec::with_capacity(warm);
    for (event, samples) in [(&target.no_io, &mut no_io), (&target.io, &mut io)] {
        for _ in 0..warm {
            polled(&mut seen, &target.name).await?;
            let handed = Instant::now();
            let (answered_at, _) = answered(&function, &mut seen, &target.name, event.clone()).await?;
            samples.push(ms(answered_at - handed));
        }
    }
    (measured.warm_no_io_p50_ms, measured.warm_no_io_p99_ms) = percentiles(&mut no_io);
    (measured.warm_io_p50_ms, measured.warm_io_p99_ms) = percentiles(&mut io);
    measured.peak_rss_mb = pid.map(peak_rss_kb).unwrap_or(0) as f64 / 1024.0;
    function.stop().await;
    measured.init_ms = median(&mut inits);
    measured.first_response_ms = median(&mut firsts);
    if let Some(binary) = &target.binary {
        measured.binary_bytes = std::fs::metadata(binary).ok().map(|m| m.len());
        measured.zip_bytes = zip_size(binary);
        // target/release/<name> → target/lambda/<name>/bootstrap.zip
        let arm64_zip = binary
            .parent()
            .map(|release| release.with_file_name("lambda").join(&measured.name));
        measured.arm64_zip_bytes =
            arm64_zip.and_then(|d| std::fs::metadata(d.join("bootstrap.zip")).ok().map(|m| m.len()));
    }
    Ok(measured)
}

fn ms(duration: Duration) -> f64 {
    duration.as_secs_f64() * 1000.0
}

fn median(values: &mut [f64]) -> f64 {
    values.sort_by(f64::total_cmp);
    values.get(values.len() / 2).copied().unwrap_or(0.0)
}

fn percentiles(values: &mut [f64]) -> (f64, f64) {
    values.sort_by(f64::total_cmp);
    let at = |p: usize| {
        values
            .get((values.len() * p / 100).min(values.len().saturating_sub(1)))
            .copied()
            .unwrap_or(0.0)
    };
    (at(50), at(99))
}

fn peak_rss_kb(pid: u32) -> u64 {
    std::fs::read_to_string(format!("/proc/{pid}/status"))
        .ok()
        .and_then(|status| {
            status
                .lines()
                .find(|l| l.starts_with("VmHWM:"))
                .and_then(|l| l.split_whitespace().nth(1)?.parse().ok())
        })
        .unwrap_or(0)
}

/// The deployment package: the binary as `bootstrap`, deflated, as cargo-lambda zips it.
fn zip_size(binary: &Path) -> Option<u64> {
    let zip = std::env::temp_dir().join(format!("bench-{}.zip", uuid::Uuid::new_v4().simple()));
    let script = "import sys, zipfile\nwith zipfile.ZipFile(sys.argv[2], 'w', zipfile.ZIP_DEFLATED, compresslevel=9) as z:\n    z.write(sys.argv[1], 'bootstrap')";
    let status = std::process::Command::new("python3")
        .args(["-c", script])
        .arg(binary)
        .arg(&zip)
        .status()
        .ok()?;
    let size = status
        .success()
        .then(|| std::fs::metadata(&zip).ok().map(|m| m.len()))
        .flatten();
    let _ = std::fs::remove_file(&zip);
    size
}

fn machine() -> Value {
    let cpu = std::fs::read_to_string("/proc/cpuinfo")
        .ok()
        .and_then(|c| {
            c.lines()
                .find(|l| l.starts_with("model name"))
                .map(|l| l.split(':').nth(1).unwrap_or_default().trim().to_owned())
        })
        .unwrap_or_default();
    let cores = std::thread::available_parallelism().map(|n| n.get()).unwrap_or(0);
    json!({ "cpu": cpu, "cores": cores, "date": time::OffsetDateTime::now_utc().date().to_string(), "arch": std::env::consts::ARCH })
}

fn report(
    results: &[Measured],
    fan_out: &[fanout::FanOut],
    load: Option<&load::Report>,
    thumbnails: &[ThumbnailRun],
) -> String {
    let find = |name: &str| results.iter().find(|r| r.name == name);
    let machine = machine();
    let mut out = format!(
        "# Benchmark\n\nMeasured by `make bench` on {} ({} cores, {}), {}. Each function runs under the project's own Lambda Runtime API emulator against the local stack (moto); \
         cold figures are the median of {} cold runs, taken round-robin over the targets (all but each target's last, which then takes the warm invokes) so that a slow spell of the machine falls on all of them alike; warm figures are over {} invokes per route. Binaries: release profile, run on this machine's architecture; \
         arm64 zip is the package that deploys, built by `make package` (cargo-lambda, arm64): its size only, arm64 binaries do not run here.\n\n",
        machine["cpu"].as_str().unwrap_or("?"),
        machine["cores"],
        machine["arch"].as_str().unwrap_or("?"),
        machine["date"].as_str().unwrap_or("?"),
        results.first().map(|r| r.runs).unwrap_or(0),
        results.first().map(|r| r.warm_invokes).unwrap_or(0),
    );
    out.push_str("| function | init ms | first response ms | warm p50 / p99 ms, no I/O | warm p50 / p99 ms, I/O | peak RSS MB | binary MB | zip MB | arm64 zip MB | I/O route |\n|---|---:|---:|---:|---:|---:|---:|---:|---:|---|\n");
    for r in results {
        let mb = |b: Option<u64>| {
            b.map(|b| format!("{:.2}", b as f64 / 1_048_576.0))
                .unwrap_or_else(|| "–".into())
        };
        out.push_str(&format!(
            "| {} | {:.1} | {:.1} | {:.3} / {:.3} | {:.3} / {:.3} | {:.1} | {} | {} | {} | {} |\n",
            r.name,
            r.init_ms,
            r.first_response_ms,
            r.warm_no_io_p50_ms,
            r.warm_no_io_p99_ms,
            r.warm_io_p50_ms,
            r.warm_io_p99_ms,
            r.peak_rss_mb,
            mb(r.binary_bytes),
            mb(r.zip_bytes),
            mb(r.arm64_zip_bytes),
            r.io_route
        ));
    }
    out.push_str(&fan_out_report(fan_out, load));
    if let (Some(floor), Some(fastapi)) = (find("floor"), find("fastapi")) {
        out.push_str("\n## Against the targets\n\n| function | init ÷ floor (≤ 1.5) | warm no-I/O p50 ÷ floor (≤ 1.5) | peak RSS ≤ 12 MB | zip ≤ 3 MB |\n|---|---:|---:|---|---|\n");
        for r in results.iter().filter(|r| r.name != "floor" && r.name != "fastapi") {
            // Every zip measured, the arm64 one included when it was built.
            let zips: Vec<u64> = [r.zip_bytes, r.arm64_zip_bytes].into_iter().flatten().collect();
            let zip_ok = match zips.iter().max() {
                None => "–",
                Some(&z) if z <= 3 * 1_048_576 => "yes",
                Some(_) => "no",
            };
            out.push_str(&format!(
                "| {} | {:.2} | {:.2} | {} ({:.1}) | {} |\n",
                r.name,
                r.init_ms / floor.init_ms.max(1e-9),
                r.warm_no_io_p50_ms / floor.warm_no_io_p50_ms.max(1e-9),
                if r.peak_rss_mb <= 12.0 { "yes" } else { "no" },
                r.peak_rss_mb,
                zip_ok
            ));
        }
        if let Some(items) = find("items") {
            let bound = 1.3 * (floor.first_response_ms + items.warm_io_p50_ms);
            out.push_str(&format!(
                "\nGET item cold first response: {:.1} ms; bound 1.3 × (floor first response {:.1} + warm I/O p50 {:.2}) = {:.1} ms → {}.\n",
                items.first_response_ms,
                floor.first_response_ms,
                items.warm_io_p50_ms,
                bound,
                if items.first_response_ms <= bound { "met" } else { "missed" }
            ));
            out.push_str(&format!(
                "FastAPI + Mangum GET item cold first response: {:.1} ms, {:.0}× the Rust items function (target ≥ 50×); init {:.1} ms, peak RSS {:.1} MB.\n",
                fastapi.first_response_ms,
                fastapi.first_response_ms / items.first_response_ms.max(1e-9),
                fastapi.init_ms,
                fastapi.peak_rss_mb
            ));
        }
    }
    if !thumbnails.is_empty() {
        let first = thumbnails.first();
        out.push_str(&format!(
            "\n## Thumbnails\n\nA {}×{} ({} MP) image to a PNG thumbnail that fits 200×200, turned upright as its Exif orientation says, from the file on disk: the `thumbnails` function's own code \
             (`thumbnails::thumbnail::make`, release build) against Pillow's `Image.open` + `Image.thumbnail((200, 200))` + `ImageOps.exif_transpose` + save as PNG \
             (Pillow {}, the peer a FastAPI backend would use) and libvips' `thumbnail` + PNG to memory (pyvips, libvips {} from pyvips-binary, operation cache off, \
             VIPS_CONCURRENCY={}: one thread, like the other two; a Lambda of 1024 MB has about 0.6 vCPU). Each side runs in {} processes of {} runs, alternating with the others' (Rust, Pillow, libvips, Rust, …) \
             so that load on the machine falls on all: median and fastest time over all its runs, and the largest peak RSS of its processes \
             (VmHWM, the interpreter included for Pillow and libvips, as a Lambda would hold it). Images are generated at bench time, deterministically.\n\n\
             | image | file MB | implementation | median ms | fastest ms | peak RSS MB | thumbnail |\n|---|---:|---|---:|---:|---:|---|\n",
            THUMB_W,
            THUMB_H,
            THUMB_W * THUMB_H / 1_000_000,
            first.map(|t| t.pillow_version.as_str()).unwrap_or("?"),
            first.map(|t| t.vips_version.as_str()).unwrap_or("?"),
            std::env::var("VIPS_CONCURRENCY").unwrap_or_else(|_| "1".into()),
            first.map(|t| t.rounds).unwrap_or(0),
            first.map(|t| t.repeats).unwrap_or(0),
        ));
        for t in thumbnails {
            for (name, side) in [
                ("Rust (thumbnails)", &t.rust),
                ("Pillow", &t.pillow),
                ("libvips", &t.vips),
            ] {
                out.push_str(&format!(
                    "| {} | {:.1} | {} | {:.1} | {:.1} | {:.1} | {}×{} |\n",
                    t.image,
                    t.file_bytes as f64 / 1_048_576.0,
                    name,
                    side.median_ms,
                    side.min_ms,
                    side.peak_rss_kb as f64 / 1024.0,
                    side.width,
                    side.height
                ));
            }
        }
        out.push_str("\nAgainst the target (faster than Pillow and libvips, at no more than libvips' peak memory, on every image):\n\n");
        for t in thumbnails {
            let ratio = |side: &ThumbnailSide| t.rust.median_ms / side.median_ms.max(1e-9);
            let met = t.rust.median_ms < t.pillow.median_ms
                && t.rust.median_ms < t.vips.median_ms
                && t.rust.peak_rss_kb <= t.vips.peak_rss_kb;
            out.push_str(&format!(
                "- {}: {:.2}× Pillow's time, {:.2}× libvips', {:.2}× libvips' peak RSS → {}.\n",
                t.image,
                ratio(&t.pillow),
                ratio(&t.vips),
                t.rust.peak_rss_kb as f64 / (t.vips.peak_rss_kb as f64).max(1.0),
                if met { "met" } else { "missed" },
            ));
        }
    }
    out
}

/// The test images' size: 12 megapixels, a phone camera's 4:3.
const THUMB_W: u32 = 4000;
const THUMB_H: u32 = 3000;

#[derive(Debug, Default, serde::Serialize, serde::Deserialize)]
struct ThumbnailSide {
    median_ms: f64,
    min_ms: f64,
    peak_rss_kb: u64,
    width: u32,
    height: u32,
    /// Every run's time (a child reports them; the parent pools its children's).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    times_ms: Vec<f64>,
}

impl ThumbnailSide {
    /// One side's runs over several processes: median and fastest over all runs, the largest
    /// peak RSS of the processes.
    fn pooled(children: Vec<ThumbnailSide>) -> ThumbnailSide {
        let mut times: Vec<f64> = children.iter().flat_map(|c| c.times_ms.iter().copied()).collect();
        times.sort_by(f64::total_cmp);
        let last = children.last();
        ThumbnailSide {
            median_ms: times.get(times.len() / 2).copied().unwrap_or(0.0),
            min_ms: times.first().copied().unwrap_or(0.0),
            peak_rss_kb: children.iter().map(|c| c.peak_rss_kb).max().unwrap_or(0),
            width: last.map(|c| c.width).unwrap_or(0),
            height: last.map(|c| c.height).unwrap_or(0),
            times_ms: Vec::new(),
        }
    }
}

#[derive(Debug, serde::Serialize)]
struct ThumbnailRun {
    image: String,
    file_bytes: u64,
    /// Processes per side, run alternately with the other side's.
    rounds: usize,
    /// Runs in each process.
    repeats: usize,
    pillow_version: String,
    vips_version: String,
    rust: ThumbnailSide,
    pillow: ThumbnailSide,
    vips: ThumbnailSide,
}

/// A photo-like test image: smooth gradients and shapes with a little deterministic noise (an
/// xorshift generator with a fixed seed), so it compresses like a photo, not like a flat fill.
fn test_image() -> image::RgbImage {
    let mut state: u32 = 0x9E37_79B9;
    image::RgbImage::from_fn(THUMB_W, THUMB_H, |x, y| {
        state ^= state << 13;
        state ^= state >> 17;
        state ^= state << 5;
        let noise = (state % 9) as i32 - 4;
        let (fx, fy) = (x as f32 / THUMB_W as f32, y as f32 / THUMB_H as f32);
        let wave = ((fx * 23.0).sin() * (fy * 17.0).cos() * 40.0) as i32;
        let channel = |base: f32| (base as i32 + wave + noise).clamp(0, 255) as u8;
        image::Rgb([
            channel(60.0 + 150.0 * fx),
            channel(90.0 + 120.0 * fy),
            channel(200.0 - 120.0 * fx * fy),
        ])
    })
}

/// An Exif APP1 segment whose only tag is the orientation (6: turn 90° clockwise to view, as a
/// phone held upright stores its photo).
fn exif_orientation_segment(orientation: u8) -> Vec<u8> {
    let tiff = [
        b"MM\0\x2a\0\0\0\x08\0\x01\x01\x12\0\x03\0\0\0\x01\0".as_slice(),
        &[orientation],
        b"\0\0\0\0\0\0",
    ]
    .concat();
    let payload = [b"Exif\0\0".as_slice(), &tiff].concat();
    let mut segment = vec![0xFF, 0xE1];
    segment.extend_from_slice(&((payload.len() + 2) as u16).to_be_bytes());
    segment.extend_from_slice(&payload);
    segment
}

/// Writes the test images once (target/bench-images/), returns `(name, path, kind)`: the photo as
/// a baseline JPEG (the image crate's encoder, q90), a progressive one and a CMYK one (Adobe's
/// inverted CMYK, as Photoshop writes it; jpeg-encoder, q90, 4:2:0 for the progressive), the
/// baseline one with an Exif orientation, and as PNG, RGB and RGBA (alpha a diagonal gradient).
fn test_images(root: &Path) -> Result<Vec<(&'static str, PathBuf, &'static str)>, String> {
    let dir = root.join("target/bench-images");
    std::fs::create_dir_all(&dir).map_err(|e| e.to_string())?;
    let images: [(&str, &str, &str); 6] = [
        ("12 MP JPEG (q90)", "photo-12mp.jpg", "jpeg"),
        ("12 MP progressive JPEG (q90)", "photo-12mp-progressive.jpg", "jpeg"),
        ("12 MP JPEG, Exif-rotated (q90)", "photo-12mp-rotated.jpg", "jpeg"),
        ("12 MP CMYK JPEG (q90)", "photo-12mp-cmyk.jpg", "jpeg"),
        ("12 MP PNG", "photo-12mp.png", "png"),
        ("12 MP RGBA PNG", "photo-12mp-rgba.png", "png"),
    ];
    if images.iter().any(|(_, file, _)| !dir.join(file).exists()) {
        let image = test_image();
        let write = |file: &str, bytes: &[u8]| std::fs::write(dir.join(file), bytes).map_err(|e| e.to_string());
        let mut baseline = Vec::new();
        image::codecs::jpeg::JpegEncoder::new_with_quality(&mut baseline, 90)
            .encode_image(&image)
            .map_err(|e| e.to_string())?;
        write("photo-12mp.jpg", &baseline)?;
        let rotated = [&baseline[..2], &exif_orientation_segment(6), &baseline[2..]].concat();
        write("photo-12mp-rotated.jpg", &rotated)?;
        let (w, h) = (THUMB_W as u16, THUMB_H as u16);
        let mut progressive = Vec::new();
        let mut encoder = jpeg_encoder::Encoder::new(&mut progressive, 90);
        encoder.set_progressive(true);
        encoder
            .encode(image.as_raw(), w, h, jpeg_encoder::ColorType::Rgb)
            .map_err(|e| e.to_string())?;
        write("photo-12mp-progressive.jpg", &progressive)?;
        // The inks that leave this light: black for what all three lack, the rest coloured.
        let inks: Vec<u8> = image
            .pixels()
            .flat_map(|p| {
                let brightest = p.0.iter().copied().max().unwrap_or(0);
                let black = 255 - brightest;
                let ink = |c: u8| {
                    (u32::from(brightest - c) * 255)
                        .checked_div(u32::from(brightest))
                        .unwrap_or(0) as u8
                };
                [ink(p.0[0]), ink(p.0[1]), ink(p.0[2]), black]
            })
            .collect();
        let mut cmyk = Vec::new();
        jpeg_encoder::Encoder::new(&mut cmyk, 90)
            .encode(&inks, w, h, jpeg_encoder::ColorType::Cmyk)
            .map_err(|e| e.to_string())?;
        write("photo-12mp-cmyk.jpg", &cmyk)?;
        image
            .save_with_format(dir.join("photo-12mp.png"), image::ImageFormat::Png)
            .map_err(|e| e.to_string())?;
        let rgba = image::RgbaImage::from_fn(THUMB_W, THUMB_H, |x, y| {
            let [r, g, b] = image.get_pixel(x, y).0;
            image::Rgba([r, g, b, ((x + y) * 255 / (THUMB_W + THUMB_H)) as u8])
        });
        rgba.save_with_format(dir.join("photo-12mp-rgba.png"), image::ImageFormat::Png)
            .map_err(|e| e.to_string())?;
    }
    Ok(images
        .into_iter()
        .map(|(name, file, kind)| (name, dir.join(file), kind))
        .collect())
}

/// `bench thumbnail IMAGE jpeg|png REPEATS`: the Rust side, in a process of its own.
fn thumbnail_child(args: &[String]) -> Result<String, String> {
    let [path, kind, repeats] = args else {
        return Err("usage: bench thumbnail IMAGE jpeg|png REPEATS".into());
    };
    let kind = match kind.as_str() {
        "jpeg" => thumbnails::FileType::Jpeg,
        "png" => thumbnails::FileType::Png,
        other => return Err(format!("unknown kind {other}")),
    };
    let repeats: usize = repeats.parse().map_err(|_| "REPEATS is a number")?;
    let limits = thumbnails::thumbnail::DecodeLimits::default();
    let mut times = Vec::new();
    let (mut width, mut height) = (0, 0);
    for _ in 0..repeats.max(1) {
        let started = Instant::now();
        let bytes = std::fs::read(path).map_err(|e| e.to_string())?;
        let (png, w, h) = thumbnails::thumbnail::make(&bytes, kind, &limits).map_err(|e| e.to_string())?;
        std::hint::black_box(png);
        times.push(ms(started.elapsed()));
        (width, height) = (w, h);
    }
    times.sort_by(f64::total_cmp);
    let side = ThumbnailSide {
        median_ms: times[times.len() / 2],
        min_ms: times[0],
        peak_rss_kb: peak_rss_kb(std::process::id()),
        width,
        height,
        times_ms: times,
    };
    serde_json::to_string(&side).map_err(|e| e.to_string())
}

fn run_side(program: &Path, args: &[String]) -> Result<ThumbnailSide, String> {
    let output = std::process::Command::new(program)
        .args(args)
        // libvips on one thread, as the Rust side and Pillow run (a Lambda of 1024 MB has
        // about 0.6 vCPU); an explicit VIPS_CONCURRENCY in the bench's environment wins.
        .env(
            "VIPS_CONCURRENCY",
            std::env::var("VIPS_CONCURRENCY").unwrap_or_else(|_| "1".into()),
        )
        .output()
        .map_err(|e| format!("{}: {e}", program.display()))?;
    if !output.status.success() {
        return Err(format!(
            "{} {args:?} failed: {}",
            program.display(),
            String::from_utf8_lossy(&output.stderr)
        ));
    }
    serde_json::from_slice(&output.stdout).map_err(|e| format!("{}: {e}", program.display()))
}

/// The thumbnail comparison: each image through the Rust code, Pillow and libvips. The sides'
/// processes alternate (Rust, Pillow, libvips, Rust, …, up to three of each), so that a load spike
/// on this shared machine does not land on one side only; each side's figures pool all its runs.
fn thumbnails(options: &Options, root: &Path) -> Result<Vec<ThumbnailRun>, String> {
    let total = options.runs.clamp(1, 10);
    let rounds = total.min(3);
    let repeats = total.div_ceil(rounds);
    let me = std::env::current_exe().map_err(|e| e.to_string())?;
    let python = root.join(&options.python);
    let pillow_script = root.join("bench/thumbnail_pillow.py").display().to_string();
    let vips_script = root.join("bench/thumbnail_vips.py").display().to_string();
    let version = |code: &str| {
        std::process::Command::new(&python)
            .args(["-c", code])
            .output()
            .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_owned())
            .unwrap_or_default()
    };
    let pillow_version = version("import PIL; print(PIL.__version__)");
    let vips_version = version("import pyvips; print('%d.%d.%d' % tuple(pyvips.version(i) for i in range(3)))");
    let mut runs = Vec::new();
    for (name, path, kind) in test_images(root)? {
        eprintln!("bench: thumbnail of {name} ({rounds} alternating processes per side, {repeats} runs each)");
        let file = path.display().to_string();
        let (mut rust, mut pillow, mut vips) = (Vec::new(), Vec::new(), Vec::new());
        for _ in 0..rounds {
            rust.push(run_side(
                &me,
                &["thumbnail".into(), file.clone(), kind.into(), repeats.to_string()],
            )?);
            pillow.push(run_side(
                &python,
                &[pillow_script.clone(), file.clone(), repeats.to_string()],
            )?);
            vips.push(run_side(
                &python,
                &[vips_script.clone(), file.clone(), repeats.to_string()],
            )?);
        }
        let (rust, pillow, vips) = (
            ThumbnailSide::pooled(rust),
            ThumbnailSide::pooled(pillow),
            ThumbnailSide::pooled(vips),
        );
        let mb = |kb: u64| kb as f64 / 1024.0;
        eprintln!(
            "bench:   Rust {:.1} ms {:.1} MB, Pillow {:.1} ms {:.1} MB, libvips {:.1} ms {:.1} MB",
            rust.median_ms,
            mb(rust.peak_rss_kb),
            pillow.median_ms,
            mb(pillow.peak_rss_kb),
            vips.median_ms,
            mb(vips.peak_rss_kb)
        );
        runs.push(ThumbnailRun {
            image: name.into(),
            file_bytes: std::fs::metadata(&path).map(|m| m.len()).unwrap_or(0),
            rounds,
            repeats,
            pillow_version: pillow_version.clone(),
            vips_version: vips_version.clone(),
            rust,
            pillow,
            vips,
        });
    }
    Ok(runs)
}
