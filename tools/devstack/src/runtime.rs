//! A Lambda Runtime API emulator. Each function has a pool of execution environments (processes
//! of its real binary); an invocation goes to an idle one, or starts a new one (a cold start) up
//! to the concurrency limit. Like Lambda, an environment that exceeds its timeout is killed, and
//! one that crashes fails its in-flight invocation. A harness that times environments (`make
//! bench`) starts one ahead of work, watches it start, poll and answer, and stops it.

use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::{Request, Response, StatusCode};
use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::Stdio;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};
use tokio::net::TcpListener;
use tokio::process::Command;
use tokio::sync::{mpsc, oneshot, watch, Mutex, Notify};

#[derive(Debug, Clone)]
pub struct FunctionSpec {
    pub logical_id: String,
    /// The program an environment runs: the function's binary, or an interpreter given `args`.
    pub binary: PathBuf,
    pub args: Vec<String>,
    pub working_dir: Option<PathBuf>,
    pub env: Vec<(String, String)>,
    pub timeout: Duration,
    pub memory_mb: u32,
    pub max_instances: usize,
    pub output: Output,
    /// Kill the environments when this process dies, however it ends. Off where process start
    /// is timed: it makes the spawn fork and exec instead of `posix_spawn`.
    pub die_with_parent: bool,
}

impl FunctionSpec {
    /// Lambda's defaults (3 s, 128 MB), one environment at a time, output shown, tied to us.
    pub fn new(logical_id: impl Into<String>, binary: impl Into<PathBuf>) -> Self {
        Self {
            logical_id: logical_id.into(),
            binary: binary.into(),
            args: Vec::new(),
            working_dir: None,
            env: Vec::new(),
            timeout: Duration::from_secs(3),
            memory_mb: 128,
            max_instances: 1,
            output: Output::Inherit,
            die_with_parent: true,
        }
    }
}

/// Where an environment's stdout and stderr (its logs) go.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Output {
    Inherit,
    Discard,
}

#[derive(Debug)]
pub enum InvokeResult {
    Ok(Bytes),
    /// The handler reported an error through `/invocation/{id}/error`.
    FunctionError(Bytes),
    /// The environment died (or could not start) during the invocation.
    Crashed(String),
    TimedOut,
}

/// What an execution environment did, and when: what a harness times.
#[derive(Debug, Clone)]
pub enum Lifecycle {
    /// `at` is the instant just before the process was spawned.
    Started {
        instance: usize,
        pid: Option<u32>,
        at: Instant,
    },
    /// The environment asked `/invocation/next` for work.
    Polled { instance: usize, at: Instant },
    /// It posted the response (or the error) of its invocation.
    Answered { instance: usize, at: Instant },
    /// Its process exited, was killed, or could not start.
    Ended { instance: usize, reason: String },
}

struct Invocation {
    id: String,
    payload: Bytes,
    deadline_ms: u128,
    reply: oneshot::Sender<InvokeResult>,
}

pub struct Function {
    pub spec: FunctionSpec,
    queue_tx: mpsc::UnboundedSender<Invocation>,
    queue_rx: Mutex<mpsc::UnboundedReceiver<Invocation>>,
    idle: AtomicUsize,
    live: AtomicUsize,
    starts: AtomicUsize,
    observer: Option<mpsc::UnboundedSender<Lifecycle>>,
    stopping: watch::Sender<bool>,
    /// Notified each time an environment has ended.
    ended: Notify,
    /// Where invocations and their durations are recorded, when the stack is metered.
    meter: std::sync::OnceLock<Arc<crate::meter::Meter>>,
}

impl Function {
    pub fn new(spec: FunctionSpec) -> Arc<Self> {
        Self::build(spec, None)
    }

    /// A function whose environments report each step of their lifecycle to `observer`.
    pub fn observed(spec: FunctionSpec, observer: mpsc::UnboundedSender<Lifecycle>) -> Arc<Self> {
        Self::build(spec, Some(observer))
    }

    fn build(spec: FunctionSpec, observer: Option<mpsc::UnboundedSender<Lifecycle>>) -> Arc<Self> {
        let (queue_tx, queue_rx) = mpsc::unbounded_channel();
        Arc::new(Self {
            spec,
            queue_tx,
            queue_rx: Mutex::new(queue_rx),
            idle: AtomicUsize::new(0),
            live: AtomicUsize::new(0),
            starts: AtomicUsize::new(0),
            observer,
            stopping: watch::Sender::new(false),
            ended: Notify::new(),
            meter: std::sync::OnceLock::new(),
        })
    }

    /// Records every invocation of this function, with its duration, in `meter`.
    pub fn metered(&self, meter: Arc<crate::meter::Meter>) {
        let _ = self.meter.set(meter);
    }

    /// How many execution environments were started so far (cold starts).
    pub fn cold_starts(&self) -> usize {
        self.starts.load(Ordering::Relaxed)
    }

    fn observe(&self, event: Lifecycle) {
        if let Some(observer) = &self.observer {
            let _ = observer.send(event);
        }
    }

    fn stopped(&self) -> bool {
        *self.stopping.borrow()
    }

    pub async fn invoke(self: &Arc<Self>, payload: Bytes) -> InvokeResult {
        self.invoke_as(uuid::Uuid::new_v4().to_string(), payload).await
    }

    /// An invocation whose request id (`Lambda-Runtime-Aws-Request-Id`, the function's
    /// `span.requestId`) the caller chose, as API Gateway logs it in `integrationRequestId`.
    pub async fn invoke_as(self: &Arc<Self>, request_id: String, payload: Bytes) -> InvokeResult {
        self.invoke_by(None, request_id, payload).await
    }

    /// An invocation by the event source mapping of queue `source` (the meter tells them apart:
    /// a mapping's maximum concurrency limits only its own invocations).
    pub async fn invoke_from(self: &Arc<Self>, source: &str, payload: Bytes) -> InvokeResult {
        self.invoke_by(Some(source), uuid::Uuid::new_v4().to_string(), payload)
            .await
    }

    async fn invoke_by(self: &Arc<Self>, source: Option<&str>, request_id: String, payload: Bytes) -> InvokeResult {
        if self.stopped() {
            return InvokeResult::Crashed("the function was stopped".into());
        }
        let (reply, answer) = oneshot::channel();
        let deadline = SystemTime::now() + self.spec.timeout;
        let invocation = Invocation {
            id: request_id,
            payload,
            deadline_ms: deadline
                .duration_since(UNIX_EPOCH)
                .map(|d| d.as_millis())
                .unwrap_or_default(),
            reply,
        };
        if self.queue_tx.send(invocation).is_err() {
            return InvokeResult::Crashed("function queue closed".into());
        }
        if self.idle.load(Ordering::SeqCst) == 0 && self.live.load(Ordering::SeqCst) < self.spec.max_instances {
            self.clone().start_instance();
        }
        // The environment enforces the timeout; this only guards against an environment that
        // never starts at all.
        let started = std::time::Instant::now();
        let result = match tokio::time::timeout(self.spec.timeout + Duration::from_secs(30), answer).await {
            Ok(Ok(result)) => result,
            Ok(Err(_)) => InvokeResult::Crashed("invocation dropped".into()),
            Err(_) => InvokeResult::TimedOut,
        };
        if let Some(meter) = self.meter.get() {
            meter.record_invocation(&self.spec.logical_id, self.spec.memory_mb, started.elapsed(), source);
        }
        result
    }

    /// Starts an execution environment before any invocation asks for one, so that its init can
    /// be timed on its own.
    pub fn start_environment(self: &Arc<Self>) {
        self.clone().start_instance();
    }

    /// Kills every environment and returns once all have exited; later invocations fail.
    pub async fn stop(&self) {
        self.stopping.send_replace(true);
        loop {
            let ended = self.ended.notified();
            if self.live.load(Ordering::SeqCst) == 0 {
                return;
            }
            ended.await;
        }
    }

    fn start_instance(self: Arc<Self>) {
        if self.stopped() {
            return;
        }
        self.live.fetch_add(1, Ordering::SeqCst);
        let instance = self.starts.fetch_add(1, Ordering::SeqCst) + 1;
        tokio::spawn(async move {
            let initialised = match self.clone().run_instance(instance).await {
                Ok(initialised) => initialised,
                Err(err) => {
                    eprintln!(
                        "devstack: {} environment {instance} failed to start: {err}",
                        self.spec.logical_id
                    );
                    false
                }
            };
            self.live.fetch_sub(1, Ordering::SeqCst);
            self.ended.notify_waiters();
            if self.stopped() {
                return;
            }
            let Ok(mut queue) = self.queue_rx.try_lock() else {
                return;
            };
            if !initialised {
                // As in Lambda, an environment that dies during init fails the invocation that
                // started it, so a function that cannot start does not restart forever.
                if let Ok(invocation) = queue.try_recv() {
                    let _ = invocation
                        .reply
                        .send(InvokeResult::Crashed("the function exited during init".into()));
                }
            }
            // Work queued while this environment was dying still needs one.
            let waiting = !queue.is_empty();
            drop(queue);
            if waiting && self.live.load(Ordering::SeqCst) == 0 {
                self.clone().start_instance();
            }
        });
    }

    /// The environment's process, with the variables Lambda gives it.
    fn command(&self, runtime_api: SocketAddr, instance: usize) -> Command {
        let spec = &self.spec;
        let mut command = Command::new(&spec.binary);
        command
            .args(&spec.args)
            .env_clear()
            .env("PATH", std::env::var_os("PATH").unwrap_or_default())
            .envs(spec.env.iter().map(|(k, v)| (k.as_str(), v.as_str())))
            .env("AWS_LAMBDA_RUNTIME_API", runtime_api.to_string())
            .env("AWS_LAMBDA_FUNCTION_NAME", &spec.logical_id)
            .env("AWS_LAMBDA_FUNCTION_VERSION", "$LATEST")
            .env("AWS_LAMBDA_FUNCTION_MEMORY_SIZE", spec.memory_mb.to_string())
            .env("AWS_LAMBDA_LOG_GROUP_NAME", format!("/aws/lambda/{}", spec.logical_id))
            .env("AWS_LAMBDA_LOG_STREAM_NAME", format!("local/{instance}"))
            .env("AWS_LAMBDA_INITIALIZATION_TYPE", "on-demand")
            .stdin(Stdio::null())
            .kill_on_drop(true);
        if let Some(dir) = &spec.working_dir {
            command.current_dir(dir);
        }
        if spec.output == Output::Discard {
            command.stdout(Stdio::null()).stderr(Stdio::null());
        }
        if spec.die_with_parent {
            crate::process::die_with_parent(&mut command);
        }
        command
    }

    /// Runs one environment until it exits; true when it got as far as polling for work.
    async fn run_instance(self: Arc<Self>, instance: usize) -> std::io::Result<bool> {
        let listener = TcpListener::bind("127.0.0.1:0").await?;
        let address = listener.local_addr()?;
        let (kill_tx, mut kill_rx) = mpsc::unbounded_channel::<()>();
        let environment = Arc::new(Environment {
            function: self.clone(),
            instance,
            in_flight: Mutex::new(None),
            kill: kill_tx,
            polled: AtomicBool::new(false),
            started: watch::Sender::new(false),
            gone: watch::Sender::new(false),
        });
        let api = environment.clone();
        let server = tokio::spawn(crate::server::serve(listener, move |_, request| {
            route(api.clone(), request)
        }));

        let watchdog = environment.clone();
        let watchdog = tokio::spawn(async move { watchdog.enforce_timeout().await });

        let mut command = self.command(address, instance);
        let started = Instant::now();
        let mut child = match command.spawn() {
            Ok(child) => child,
            Err(err) => {
                server.abort();
                watchdog.abort();
                let reason = format!("cannot start {}: {err}", self.spec.binary.display());
                environment.end(reason).await;
                return Err(err);
            }
        };
        self.observe(Lifecycle::Started {
            instance,
            pid: child.id(),
            at: started,
        });
        environment.started.send_replace(true);
        let mut stopping = self.stopping.subscribe();
        let status = tokio::select! {
            status = child.wait() => status.map(|s| s.to_string()).unwrap_or_else(|e| e.to_string()),
            _ = kill_rx.recv() => {
                let _ = child.kill().await;
                "killed after its timeout".to_owned()
            }
            _ = async { stopping.wait_for(|stop| *stop).await.is_ok() } => {
                let _ = child.kill().await;
                "stopped".to_owned()
            }
        };
        server.abort();
        watchdog.abort();
        environment.end(format!("environment exited: {status}")).await;
        Ok(environment.polled.load(Ordering::SeqCst))
    }
}

/// One execution environment: the runtime API it polls and the invocation it is working on.
struct Environment {
    function: Arc<Function>,
    instance: usize,
    /// The invocation it is working on: its id, whom to answer, and when it was handed over.
    in_flight: Mutex<Option<(String, oneshot::Sender<InvokeResult>, Instant)>>,
    kill: mpsc::UnboundedSender<()>,
    polled: AtomicBool,
    /// Set once its start has been observed: the process may poll before its spawn returns.
    started: watch::Sender<bool>,
    /// Set once the process is gone, so that its pending poll leaves the queue to the others.
    gone: watch::Sender<bool>,
}

impl Environment {
    /// The process is gone: its poll gives up and its invocation, if any, has crashed.
    async fn end(&self, reason: String) {
        self.gone.send_replace(true);
        if let Some((_, reply, _)) = self.in_flight.lock().await.take() {
            let _ = reply.send(InvokeResult::Crashed(reason.clone()));
        }
        self.function.observe(Lifecycle::Ended {
            instance: self.instance,
            reason,
        });
    }

    /// Kills the environment once an invocation outlives the timeout. It looks at the work in
    /// flight at least once per timeout instead of being told of each invocation, so that
    /// handing one over wakes nothing more than the environment's own poll.
    async fn enforce_timeout(&self) {
        let timeout = self.function.spec.timeout.max(Duration::from_millis(1));
        loop {
            let current = self
                .in_flight
                .lock()
                .await
                .as_ref()
                .map(|(id, _, handed)| (id.clone(), *handed));
            match current {
                Some((id, handed)) if handed.elapsed() >= timeout => {
                    if self.complete(&id, InvokeResult::TimedOut).await {
                        let _ = self.kill.send(());
                        return;
                    }
                }
                Some((_, handed)) => tokio::time::sleep_until((handed + timeout).into()).await,
                None => tokio::time::sleep(timeout).await,
            }
        }
    }

    async fn complete(&self, id: &str, result: InvokeResult) -> bool {
        let at = Instant::now();
        let mut slot = self.in_flight.lock().await;
        match slot.take() {
            Some((current, reply, _)) if current == id => {
                if matches!(result, InvokeResult::Ok(_) | InvokeResult::FunctionError(_)) {
                    // Before the reply, so that whoever awaited the invocation finds it seen.
                    self.function.observe(Lifecycle::Answered {
                        instance: self.instance,
                        at,
                    });
                }
                let _ = reply.send(result);
                true
            }
            other => {
                *slot = other;
                false
            }
        }
    }

    /// `GET /runtime/invocation/next`: waits for work, then starts the timeout clock.
    async fn next(self: &Arc<Self>) -> Response<Full<Bytes>> {
        let polled_at = Instant::now();
        let function = &self.function;
        if !self.polled.swap(true, Ordering::SeqCst) {
            // Observers see the start before the first poll.
            let _ = self.started.subscribe().wait_for(|started| *started).await;
        }
        function.idle.fetch_add(1, Ordering::SeqCst);
        function.observe(Lifecycle::Polled {
            instance: self.instance,
            at: polled_at,
        });
        let mut gone = self.gone.subscribe();
        let invocation = tokio::select! {
            invocation = async { function.queue_rx.lock().await.recv().await } => invocation,
            _ = async { gone.wait_for(|gone| *gone).await.is_ok() } => None,
        };
        function.idle.fetch_sub(1, Ordering::SeqCst);
        let Some(invocation) = invocation else {
            return plain(StatusCode::GONE, "shutting down");
        };
        let Invocation {
            id,
            payload,
            deadline_ms,
            reply,
        } = invocation;
        *self.in_flight.lock().await = Some((id.clone(), reply, Instant::now()));
        let arn = format!(
            "arn:aws:lambda:{}:{}:function:{}",
            crate::template::REGION,
            crate::template::ACCOUNT,
            function.spec.logical_id
        );
        Response::builder()
            .status(StatusCode::OK)
            .header("lambda-runtime-aws-request-id", &id)
            .header("lambda-runtime-deadline-ms", deadline_ms.to_string())
            .header("lambda-runtime-invoked-function-arn", arn)
            .header(
                "lambda-runtime-trace-id",
                format!(
                    "Root=1-{:08x}-{}",
                    deadline_ms as u32,
                    id.replace('-', "")[..24].to_owned()
                ),
            )
            .header("content-type", "application/json")
            .body(Full::new(payload))
            .unwrap_or_else(|_| plain(StatusCode::INTERNAL_SERVER_ERROR, "bad invocation"))
    }
}

/// The largest answer a synchronous invocation may return (Lambda's 6 MB payload limit).
const MAX_RESPONSE_BYTES: usize = 6_291_556;

fn plain(status: StatusCode, text: &'static str) -> Response<Full<Bytes>> {
    let mut response = Response::new(Full::new(Bytes::from_static(text.as_bytes())));
    *response.status_mut() = status;
    response
}

async fn route(environment: Arc<Environment>, request: Request<hyper::body::Incoming>) -> Response<Full<Bytes>> {
    let path = request.uri().path().to_owned();
    let Some(rest) = path.strip_prefix("/2018-06-01/runtime/") else {
        return plain(StatusCode::NOT_FOUND, "unknown runtime API path");
    };
    if rest == "invocation/next" {
        return environment.next().await;
    }
    let body = match request.into_body().collect().await {
        Ok(collected) => collected.to_bytes(),
        Err(_) => return plain(StatusCode::BAD_REQUEST, "unreadable body"),
    };
    if rest == "init/error" {
        eprintln!(
            "devstack: {} init error: {}",
            environment.function.spec.logical_id,
            String::from_utf8_lossy(&body)
        );
        return plain(StatusCode::ACCEPTED, "");
    }
    let parts: Vec<&str> = rest.split('/').collect();
    match parts.as_slice() {
        ["invocation", id, "response"] if body.len() > MAX_RESPONSE_BYTES => {
            // As Lambda does: the invocation fails, and API Gateway answers 502 for it.
            let error = format!(
                r#"{{"errorType":"Function.ResponseSizeTooLarge","errorMessage":"Response payload size exceeded maximum allowed payload size ({MAX_RESPONSE_BYTES} bytes)."}}"#
            );
            environment
                .complete(id, InvokeResult::FunctionError(Bytes::from(error)))
                .await;
            plain(StatusCode::PAYLOAD_TOO_LARGE, "response too large")
        }
        ["invocation", id, "response"] => {
            environment.complete(id, InvokeResult::Ok(body)).await;
            plain(StatusCode::ACCEPTED, "")
        }
        ["invocation", id, "error"] => {
            environment.complete(id, InvokeResult::FunctionError(body)).await;
            plain(StatusCode::ACCEPTED, "")
        }
        _ => plain(StatusCode::NOT_FOUND, "unknown runtime API path"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// An environment running this test binary's `fake_function`: it echoes every event.
    fn echo_spec() -> FunctionSpec {
        let mut spec = FunctionSpec::new("Echo", std::env::current_exe().unwrap_or_default());
        spec.args = ["--exact", "runtime::tests::fake_function", "--ignored", "--quiet"]
            .map(str::to_owned)
            .to_vec();
        spec.timeout = Duration::from_secs(10);
        spec.output = Output::Discard;
        spec
    }

    /// The same environment when `FAKE_FUNCTION_HANGS` is set: it takes an event and never answers.
    fn hanging_spec() -> FunctionSpec {
        let mut spec = echo_spec();
        spec.env.push(("FAKE_FUNCTION_HANGS".into(), "1".into()));
        spec.timeout = Duration::from_millis(300);
        spec
    }

    #[test]
    #[ignore = "the process an echo environment runs, not a test of its own"]
    fn fake_function() {
        let Ok(api) = std::env::var("AWS_LAMBDA_RUNTIME_API") else {
            return;
        };
        let base = format!("http://{api}/2018-06-01/runtime/invocation");
        while let Ok(mut next) = ureq::get(&format!("{base}/next")).call() {
            let id = next
                .headers()
                .get("lambda-runtime-aws-request-id")
                .and_then(|id| id.to_str().ok())
                .unwrap_or_default()
                .to_owned();
            let event = next.body_mut().read_to_string().unwrap_or_default();
            if std::env::var_os("FAKE_FUNCTION_HANGS").is_some() {
                std::thread::sleep(Duration::from_secs(60));
                return;
            }
            if ureq::post(&format!("{base}/{id}/response"))
                .send(event.as_str())
                .is_err()
            {
                return;
            }
        }
    }

    async fn next_event(seen: &mut mpsc::UnboundedReceiver<Lifecycle>) -> Lifecycle {
        tokio::time::timeout(Duration::from_secs(10), seen.recv())
            .await
            .ok()
            .flatten()
            .expect("a lifecycle event")
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn an_environment_started_ahead_is_seen_starting_polling_answering_and_stopping() {
        let (observer, mut seen) = mpsc::unbounded_channel();
        let function = Function::observed(echo_spec(), observer);
        function.start_environment();
        let Lifecycle::Started {
            pid: Some(pid),
            at: started,
            ..
        } = next_event(&mut seen).await
        else {
            panic!("the environment did not start first");
        };
        let Lifecycle::Polled { at: polled, .. } = next_event(&mut seen).await else {
            panic!("the environment did not poll");
        };
        assert!(polled > started);

        let result = function.invoke(Bytes::from_static(b"{\"n\":1}")).await;
        assert!(
            matches!(&result, InvokeResult::Ok(body) if body.as_ref() == b"{\"n\":1}"),
            "{result:?}"
        );
        // Seen before the invocation returns, so a harness can read the instant right away.
        assert!(matches!(seen.try_recv(), Ok(Lifecycle::Answered { at, .. }) if at > polled));
        assert_eq!(function.cold_starts(), 1);

        function.stop().await;
        assert!(!std::path::Path::new(&format!("/proc/{pid}")).exists());
        let mut last = None;
        while let Ok(event) = seen.try_recv() {
            last = Some(event);
        }
        assert!(
            matches!(&last, Some(Lifecycle::Ended { reason, .. }) if reason.contains("stopped")),
            "{last:?}"
        );
        assert!(matches!(function.invoke(Bytes::new()).await, InvokeResult::Crashed(_)));
        assert_eq!(function.cold_starts(), 1);
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn an_invocation_that_outlives_the_timeout_times_out_and_its_environment_is_killed() {
        let (observer, mut seen) = mpsc::unbounded_channel();
        let function = Function::observed(hanging_spec(), observer);
        let asked = Instant::now();
        let result = function.invoke(Bytes::from_static(b"{}")).await;
        assert!(matches!(result, InvokeResult::TimedOut), "{result:?}");
        assert!(asked.elapsed() >= Duration::from_millis(300));
        loop {
            if let Lifecycle::Ended { reason, .. } = next_event(&mut seen).await {
                assert!(reason.contains("killed after its timeout"), "{reason}");
                break;
            }
        }
        function.stop().await;
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_function_that_cannot_start_fails_its_invocation_and_ends() {
        let (observer, mut seen) = mpsc::unbounded_channel();
        let function = Function::observed(FunctionSpec::new("Missing", "/nonexistent/bootstrap"), observer);
        let result = function.invoke(Bytes::from_static(b"{}")).await;
        assert!(matches!(result, InvokeResult::Crashed(_)), "{result:?}");
        assert!(
            matches!(next_event(&mut seen).await, Lifecycle::Ended { reason, .. } if reason.contains("cannot start"))
        );
    }
}
