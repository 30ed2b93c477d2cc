//! Test support: a private local stack (the real `devstack` binary, so moto, the runtime API
//! emulator and the real function binaries) and a small HTTP client for talking to it.

use serde_json::Value;
use std::io::{BufRead, BufReader};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::OnceLock;
use std::time::{Duration, Instant};

pub fn project_root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("..")
}

fn target_dir() -> PathBuf {
    std::env::var_os("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| project_root().join("target"))
}

/// A running local stack, stopped when dropped (and, through `--exit-with-parent`, when the
/// test process ends).
pub struct Stack {
    pub url: String,
    /// Taken by `drop`, which waits for its exit.
    child: Option<Child>,
}

impl Stack {
    /// A new stack with its own emulator. Jobs reappear one second after a failed attempt, so a
    /// poison job reaches the dead-letter queue within seconds.
    pub fn start() -> Self {
        Self::start_with(&[])
    }

    /// A new stack with template parameters of its own (`Name=Value`) besides the test defaults.
    pub fn start_with(params: &[&str]) -> Self {
        Self::spawn(params, &[])
    }

    /// A new stack whose functions reach the emulator through the capacity meter
    /// (`/_devstack/meter`: every AWS call they make).
    pub fn start_metered(params: &[&str]) -> Self {
        Self::spawn(params, &["--meter"])
    }

    fn spawn(params: &[&str], flags: &[&str]) -> Self {
        let binary = target_dir().join("debug/devstack");
        assert!(
            binary.exists(),
            "{} is missing: build the workspace first (`make test` does)",
            binary.display()
        );
        let log_path = target_dir().join(format!("devstack-test-{}.log", std::process::id()));
        let log = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&log_path)
            .expect("test log file");
        let mut child = Command::new(binary)
            .current_dir(project_root())
            .args(["up", "--port", "0", "--param", "JobsVisibilityTimeoutSeconds=1"])
            .args(params.iter().flat_map(|param| ["--param", param]))
            .args(flags)
            .args(["--exit-with-parent", &std::process::id().to_string()])
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(log.try_clone().expect("test log file"))
            .spawn()
            .expect("start devstack");
        let stdout = child.stdout.take().expect("devstack stdout");
        let (ready_tx, ready_rx) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            let mut log = log;
            for line in BufReader::new(stdout).lines().map_while(Result::ok) {
                use std::io::Write;
                let _ = writeln!(log, "{line}");
                if let Some(url) = line.strip_prefix("READY ") {
                    let _ = ready_tx.send(url.to_owned());
                }
            }
        });
        match ready_rx.recv_timeout(Duration::from_secs(90)) {
            Ok(url) => Self {
                url,
                child: Some(child),
            },
            Err(_) => {
                let _ = child.kill();
                let log = std::fs::read_to_string(&log_path).unwrap_or_default();
                panic!(
                    "the local stack did not start; its log ({}):\n{log}",
                    log_path.display()
                );
            }
        }
    }

    /// One stack shared by the tests of a test binary.
    pub fn shared() -> &'static Stack {
        static STACK: OnceLock<Stack> = OnceLock::new();
        STACK.get_or_init(Stack::start)
    }

    pub fn api(&self, path: &str) -> String {
        format!("{}/api/v1{path}", self.url)
    }

    pub fn admin(&self, path: &str) -> String {
        format!("{}/_devstack{path}", self.url)
    }

    /// Logs in through the API like a client and returns the bearer token.
    pub fn token(&self, email: &str, password: &str) -> String {
        let response = post_form(
            &self.api("/login/access-token"),
            &[("username", email), ("password", password)],
        );
        assert_eq!(response.status, 200, "login of {email} failed: {}", response.text);
        response.json()["access_token"]
            .as_str()
            .expect("access_token")
            .to_owned()
    }

    pub fn superuser_token(&self) -> String {
        self.token("admin@example.com", "changethis")
    }

    /// The emails SES accepted so far.
    pub fn emails(&self) -> Vec<Value> {
        get(&self.admin("/emails"))
            .json()
            .as_array()
            .cloned()
            .unwrap_or_default()
    }

    /// Waits until an email to `to` has been sent, up to `within`.
    pub fn wait_for_email(&self, to: &str, within: Duration) -> Option<Value> {
        eventually(within, || {
            self.emails()
                .into_iter()
                .find(|m| m["to"].as_array().is_some_and(|t| t.iter().any(|a| a == to)))
        })
    }

    /// Waits until an email to `to` whose subject contains `about` has been sent, up to `within`
    /// (a new user gets a verification email first: a test that waits for another says which).
    pub fn wait_for_email_about(&self, to: &str, about: &str, within: Duration) -> Option<Value> {
        eventually(within, || self.emails_about(to, about).pop())
    }

    /// The emails to `to` whose subject contains `about`, oldest first.
    pub fn emails_about(&self, to: &str, about: &str) -> Vec<Value> {
        self.emails()
            .into_iter()
            .filter(|m| m["to"].as_array().is_some_and(|t| t.iter().any(|a| a == to)))
            .filter(|m| m["subject"].as_str().is_some_and(|s| s.contains(about)))
            .collect()
    }

    /// `(visible, in flight)` messages of a queue of the template.
    pub fn queue_depth(&self, queue: &str) -> (u64, u64) {
        let queues = get(&self.admin("/queues")).json();
        let entry = queues
            .as_array()
            .into_iter()
            .flatten()
            .find(|q| q["id"] == queue)
            .cloned()
            .unwrap_or(Value::Null);
        (
            entry["visible"].as_u64().unwrap_or(0),
            entry["in_flight"].as_u64().unwrap_or(0),
        )
    }
}

impl Drop for Stack {
    fn drop(&mut self) {
        let Some(mut child) = self.child.take() else {
            return;
        };
        // SIGTERM lets devstack stop moto and its functions itself; SIGKILL if it has not exited
        // within 5 s.
        let pid = child.id().to_string();
        let _ = Command::new("kill").args(["-TERM", &pid]).status();
        let (exited_tx, exited_rx) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            let _ = exited_tx.send(child.wait());
        });
        if exited_rx.recv_timeout(Duration::from_secs(5)).is_err() {
            let _ = Command::new("kill").args(["-KILL", &pid]).status();
        }
    }
}

/// Polls `check` until it gives a value or `within` has passed.
pub fn eventually<T>(within: Duration, mut check: impl FnMut() -> Option<T>) -> Option<T> {
    let deadline = Instant::now() + within;
    loop {
        if let Some(value) = check() {
            return Some(value);
        }
        if Instant::now() > deadline {
            return None;
        }
        std::thread::sleep(Duration::from_millis(200));
    }
}

/// An HTTP answer, whatever its status.
#[derive(Debug)]
pub struct Answer {
    pub status: u16,
    pub headers: Vec<(String, String)>,
    pub text: String,
}

impl Answer {
    pub fn json(&self) -> Value {
        serde_json::from_str(&self.text).unwrap_or_else(|e| panic!("not JSON ({e}): {}", self.text))
    }

    /// The `loc` of each entry of a 422's `detail`, in order.
    pub fn locs(&self) -> Vec<Value> {
        let body = self.json();
        let detail = body["detail"].as_array().into_iter().flatten();
        detail.map(|d| d["loc"].clone()).collect()
    }

    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }
}

fn agent() -> &'static ureq::Agent {
    static AGENT: OnceLock<ureq::Agent> = OnceLock::new();
    AGENT.get_or_init(|| {
        ureq::Agent::config_builder()
            .http_status_as_error(false)
            .timeout_global(Some(Duration::from_secs(60)))
            .build()
            .new_agent()
    })
}

fn answer(result: Result<ureq::http::Response<ureq::Body>, ureq::Error>) -> Answer {
    let mut response = result.unwrap_or_else(|e| panic!("request failed: {e}"));
    let headers = response
        .headers()
        .iter()
        .map(|(k, v)| (k.as_str().to_owned(), v.to_str().unwrap_or_default().to_owned()))
        .collect();
    Answer {
        status: response.status().as_u16(),
        headers,
        text: response.body_mut().read_to_string().unwrap_or_default(),
    }
}

/// An answer whose body may be binary, without following redirects.
#[derive(Debug)]
pub struct RawAnswer {
    pub status: u16,
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
}

impl RawAnswer {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }
}

/// A request with a byte body whose answer is kept as bytes; redirects are answers, not followed.
pub fn request_raw(method: &str, url: &str, headers: &[(&str, &str)], body: Vec<u8>) -> RawAnswer {
    static AGENT: OnceLock<ureq::Agent> = OnceLock::new();
    let agent = AGENT.get_or_init(|| {
        ureq::Agent::config_builder()
            .http_status_as_error(false)
            .max_redirects(0)
            .timeout_global(Some(Duration::from_secs(60)))
            .build()
            .new_agent()
    });
    let mut builder = ureq::http::Request::builder().method(method).uri(url);
    for (name, value) in headers {
        builder = builder.header(*name, *value);
    }
    let request = builder.body(body).expect("request");
    let mut response = agent.run(request).unwrap_or_else(|e| panic!("request failed: {e}"));
    let headers = response
        .headers()
        .iter()
        .map(|(k, v)| (k.as_str().to_owned(), v.to_str().unwrap_or_default().to_owned()))
        .collect();
    RawAnswer {
        status: response.status().as_u16(),
        headers,
        body: response
            .body_mut()
            .with_config()
            .limit(64 * 1024 * 1024)
            .read_to_vec()
            .unwrap_or_default(),
    }
}

/// A `multipart/form-data` body of `fields` then one file part `file`; and its content type.
pub fn multipart(fields: &[(String, String)], filename: &str, content_type: &str, bytes: &[u8]) -> (Vec<u8>, String) {
    let boundary = format!("----test{}", uuid::Uuid::new_v4().simple());
    let mut body = Vec::new();
    for (name, value) in fields {
        body.extend_from_slice(
            format!("--{boundary}\r\nContent-Disposition: form-data; name=\"{name}\"\r\n\r\n{value}\r\n").as_bytes(),
        );
    }
    body.extend_from_slice(
        format!(
            "--{boundary}\r\nContent-Disposition: form-data; name=\"file\"; filename=\"{filename}\"\r\nContent-Type: {content_type}\r\n\r\n"
        )
        .as_bytes(),
    );
    body.extend_from_slice(bytes);
    body.extend_from_slice(format!("\r\n--{boundary}--\r\n").as_bytes());
    (body, format!("multipart/form-data; boundary={boundary}"))
}

/// A request with any method, headers and body.
pub fn request(method: &str, url: &str, headers: &[(&str, &str)], body: Option<&str>) -> Answer {
    let mut builder = ureq::http::Request::builder().method(method).uri(url);
    for (name, value) in headers {
        builder = builder.header(*name, *value);
    }
    let request = builder.body(body.unwrap_or_default().to_owned()).expect("request");
    answer(agent().run(request))
}

pub fn get(url: &str) -> Answer {
    request("GET", url, &[], None)
}

pub fn get_auth(url: &str, token: &str) -> Answer {
    request("GET", url, &[("authorization", &format!("Bearer {token}"))], None)
}

pub fn post_json(url: &str, body: &Value, token: Option<&str>) -> Answer {
    let auth = token.map(|t| format!("Bearer {t}"));
    let mut headers = vec![("content-type", "application/json")];
    if let Some(auth) = &auth {
        headers.push(("authorization", auth));
    }
    request("POST", url, &headers, Some(&body.to_string()))
}

pub fn post_form(url: &str, fields: &[(&str, &str)]) -> Answer {
    let body: String = fields
        .iter()
        .map(|(k, v)| format!("{}={}", encode(k), encode(v)))
        .collect::<Vec<_>>()
        .join("&");
    request(
        "POST",
        url,
        &[("content-type", "application/x-www-form-urlencoded")],
        Some(&body),
    )
}

pub fn encode(raw: &str) -> String {
    raw.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'.' | b'_' | b'~' => (b as char).to_string(),
            _ => format!("%{b:02X}"),
        })
        .collect()
}

/// The token of the first link to `FRONTEND_HOST<path>?token=` in an email's HTML (empty when
/// there is none).
pub fn link_token(email: &Value, path: &str) -> String {
    let html = email["html"].as_str().unwrap_or_default();
    let prefix = format!("http://localhost:5173{path}?token=");
    html.split(prefix.as_str())
        .nth(1)
        .map(|rest| rest.chars().take_while(char::is_ascii_alphanumeric).collect())
        .unwrap_or_default()
}

/// A unique address, so tests sharing a stack never see each other's mail.
pub fn unique_email(prefix: &str) -> String {
    format!("{prefix}-{}@example.com", uuid::Uuid::new_v4().simple())
}

/// A user made through the API, with the password it logs in with.
pub struct TestUser {
    pub id: String,
    pub email: String,
    pub password: String,
    pub token: String,
}

impl Stack {
    /// Signs a new user up through `POST /users/signup` and logs them in.
    pub fn signup(&self) -> TestUser {
        let email = unique_email("user");
        let password = format!("pw-{}", uuid::Uuid::new_v4().simple());
        let answer = post_json(
            &self.api("/users/signup"),
            &serde_json::json!({"email": email, "password": password, "full_name": "Test User"}),
            None,
        );
        assert_eq!(answer.status, 200, "signup failed: {}", answer.text);
        let id = answer.json()["id"].as_str().expect("id").to_owned();
        let token = self.token(&email, &password);
        TestUser {
            id,
            email,
            password,
            token,
        }
    }

    /// A user with `role`, created by the superuser through `POST /users/`.
    pub fn user_with_role(&self, role: &str) -> TestUser {
        let email = unique_email(role);
        let password = format!("pw-{}", uuid::Uuid::new_v4().simple());
        let answer = post_json(
            &self.api("/users/"),
            &serde_json::json!({"email": email, "password": password, "role": role}),
            Some(&self.superuser_token()),
        );
        assert_eq!(answer.status, 200, "create failed: {}", answer.text);
        assert_eq!(answer.json()["role"], role);
        let id = answer.json()["id"].as_str().expect("id").to_owned();
        let token = self.token(&email, &password);
        TestUser {
            id,
            email,
            password,
            token,
        }
    }
}

/// The signing secret the local stack gives the functions (kept in `.local/secrets/`), for
/// crafting tokens a client could not get from the API.
pub fn local_jwt_secret() -> String {
    if let Ok(secret) = std::env::var("JWT_SECRET") {
        return secret;
    }
    std::fs::read_to_string(project_root().join(".local/secrets/JWT_SECRET"))
        .expect("local JWT secret")
        .trim()
        .to_owned()
}

pub fn with_token(method: &str, url: &str, token: &str, body: Option<&Value>) -> Answer {
    let auth = format!("Bearer {token}");
    let text = body.map(Value::to_string);
    let mut headers = vec![("authorization", auth.as_str())];
    if text.is_some() {
        headers.push(("content-type", "application/json"));
    }
    request(method, url, &headers, text.as_deref())
}

/// A WebSocket client of the stack's WebSocket API, blocking, every read bounded by a timeout.
pub struct Socket {
    ws: tungstenite::WebSocket<tungstenite::stream::MaybeTlsStream<std::net::TcpStream>>,
}

/// A frame the client got, or how the connection ended.
#[derive(Debug)]
pub enum Received {
    Frame(Value),
    Closed,
    Nothing,
}

impl Stack {
    /// The WebSocket API's URL (`make run` prints it): the HTTP API's host, the stage as path.
    pub fn ws_url(&self) -> String {
        format!("{}/local", self.url.replacen("http://", "ws://", 1))
    }

    /// Connects with `token` (none when `None`); the handshake's status when it is refused.
    pub fn connect(&self, token: Option<&str>) -> Result<Socket, u16> {
        let url = match token {
            Some(token) => format!("{}?token={}", self.ws_url(), encode(token)),
            None => self.ws_url(),
        };
        match tungstenite::connect(url.as_str()) {
            Ok((ws, _)) => {
                if let tungstenite::stream::MaybeTlsStream::Plain(tcp) = ws.get_ref() {
                    tcp.set_read_timeout(Some(Duration::from_millis(200)))
                        .expect("read timeout");
                }
                Ok(Socket { ws })
            }
            Err(tungstenite::Error::Http(response)) => Err(response.status().as_u16()),
            Err(other) => panic!("connecting to {url}: {other}"),
        }
    }
}

impl Socket {
    pub fn send(&mut self, frame: &Value) {
        self.send_text(&frame.to_string());
    }

    pub fn send_text(&mut self, text: &str) {
        self.ws
            .send(tungstenite::Message::Text(text.to_owned().into()))
            .expect("send a frame");
    }

    /// The next text frame within `within`.
    pub fn receive(&mut self, within: Duration) -> Received {
        let deadline = Instant::now() + within;
        while Instant::now() < deadline {
            match self.ws.read() {
                Ok(tungstenite::Message::Text(text)) => {
                    return Received::Frame(serde_json::from_str(text.as_str()).expect("frames are JSON"))
                }
                Ok(tungstenite::Message::Close(_)) => return Received::Closed,
                Ok(_) => {}
                Err(tungstenite::Error::Io(e))
                    if matches!(e.kind(), std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut) => {}
                Err(_) => return Received::Closed,
            }
        }
        Received::Nothing
    }

    /// The next frame of `kind` within 10 s, skipping others; panics without one.
    pub fn expect(&mut self, kind: &str) -> Value {
        let deadline = Instant::now() + Duration::from_secs(10);
        while Instant::now() < deadline {
            match self.receive(Duration::from_millis(500)) {
                Received::Frame(frame) if frame["type"] == kind => return frame,
                Received::Frame(_) | Received::Nothing => {}
                Received::Closed => panic!("closed while waiting for a {kind} frame"),
            }
        }
        panic!("no {kind} frame within 10 s")
    }

    /// Every frame that arrives within `within`.
    pub fn drain(&mut self, within: Duration) -> Vec<Value> {
        let deadline = Instant::now() + within;
        let mut frames = Vec::new();
        while Instant::now() < deadline {
            match self.receive(Duration::from_millis(100)) {
                Received::Frame(frame) => frames.push(frame),
                Received::Closed => break,
                Received::Nothing => {}
            }
        }
        frames
    }

    /// A clean close (close frame, then the server's).
    pub fn close(mut self) {
        let _ = self.ws.close(None);
        let _ = self.receive(Duration::from_secs(2));
    }

    /// Gone without a close frame, as a client whose network dropped; returns once the
    /// gateway has seen it go (no `$disconnect`: the next push to it is answered 410 Gone).
    pub fn vanish(self, stack: &Stack) {
        let tungstenite::stream::MaybeTlsStream::Plain(tcp) = self.ws.get_ref() else {
            panic!("a plain TCP WebSocket")
        };
        let local = tcp.local_addr().expect("the socket's address").to_string();
        let _ = tcp.shutdown(std::net::Shutdown::Both);
        let gone = eventually(Duration::from_secs(10), || {
            let peers = get(&stack.admin("/websockets")).json();
            (!peers["peers"]
                .as_array()
                .into_iter()
                .flatten()
                .any(|p| p == local.as_str()))
            .then_some(())
        });
        assert!(gone.is_some(), "the gateway still holds {local} 10 s after it went");
    }
}
