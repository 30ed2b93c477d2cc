//! A Lambda Runtime API emulator. Each function has a pool of execution environments (processes
//! of its real binary); an invocation goes to an idle one, or starts a new one (a cold start) up
//! to the concurrency limit. Like Lambda, an environment that exceeds its timeout is killed, and
//! one that crashes fails its in-flight invocation.

use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::{Request, Response, StatusCode};
use hyper_util::rt::TokioIo;
use std::path::PathBuf;
use std::process::Stdio;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};
use tokio::net::TcpListener;
use tokio::process::Command;
use tokio::sync::{mpsc, oneshot, Mutex};

#[derive(Debug, Clone)]
pub struct FunctionSpec {
    pub logical_id: String,
    pub binary: PathBuf,
    pub env: Vec<(String, String)>,
    pub timeout: Duration,
    pub memory_mb: u32,
    pub max_instances: usize,
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
}

impl Function {
    pub fn new(spec: FunctionSpec) -> Arc<Self> {
        let (queue_tx, queue_rx) = mpsc::unbounded_channel();
        Arc::new(Self {
            spec,
            queue_tx,
            queue_rx: Mutex::new(queue_rx),
            idle: AtomicUsize::new(0),
            live: AtomicUsize::new(0),
            starts: AtomicUsize::new(0),
        })
    }

    /// How many execution environments were started so far (cold starts).
    pub fn cold_starts(&self) -> usize {
        self.starts.load(Ordering::Relaxed)
    }

    pub async fn invoke(self: &Arc<Self>, payload: Bytes) -> InvokeResult {
        let (reply, answer) = oneshot::channel();
        let deadline = SystemTime::now() + self.spec.timeout;
        let invocation = Invocation {
            id: uuid::Uuid::new_v4().to_string(),
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
        match tokio::time::timeout(self.spec.timeout + Duration::from_secs(30), answer).await {
            Ok(Ok(result)) => result,
            Ok(Err(_)) => InvokeResult::Crashed("invocation dropped".into()),
            Err(_) => InvokeResult::TimedOut,
        }
    }

    fn start_instance(self: Arc<Self>) {
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

    /// Runs one environment until it exits; true when it got as far as polling for work.
    async fn run_instance(self: Arc<Self>, instance: usize) -> std::io::Result<bool> {
        let listener = TcpListener::bind("127.0.0.1:0").await?;
        let address = listener.local_addr()?;
        let (kill_tx, mut kill_rx) = mpsc::unbounded_channel::<()>();
        let environment = Arc::new(Environment {
            function: self.clone(),
            in_flight: Mutex::new(None),
            kill: kill_tx,
            polled: AtomicBool::new(false),
        });
        let server = tokio::spawn(serve_runtime_api(listener, environment.clone()));

        let mut command = Command::new(&self.spec.binary);
        command
            .env_clear()
            .env("PATH", std::env::var_os("PATH").unwrap_or_default())
            .envs(self.spec.env.iter().map(|(k, v)| (k.as_str(), v.as_str())))
            .env("AWS_LAMBDA_RUNTIME_API", address.to_string())
            .env("AWS_LAMBDA_FUNCTION_NAME", &self.spec.logical_id)
            .env("AWS_LAMBDA_FUNCTION_VERSION", "$LATEST")
            .env("AWS_LAMBDA_FUNCTION_MEMORY_SIZE", self.spec.memory_mb.to_string())
            .env(
                "AWS_LAMBDA_LOG_GROUP_NAME",
                format!("/aws/lambda/{}", self.spec.logical_id),
            )
            .env("AWS_LAMBDA_LOG_STREAM_NAME", format!("local/{instance}"))
            .env("AWS_LAMBDA_INITIALIZATION_TYPE", "on-demand")
            .stdin(Stdio::null())
            .kill_on_drop(true);
        crate::process::die_with_parent(&mut command);
        let mut child = match command.spawn() {
            Ok(child) => child,
            Err(err) => {
                server.abort();
                environment
                    .fail_in_flight(format!("cannot start {}: {err}", self.spec.binary.display()))
                    .await;
                return Err(err);
            }
        };
        let status = tokio::select! {
            status = child.wait() => status.map(|s| s.to_string()).unwrap_or_else(|e| e.to_string()),
            _ = kill_rx.recv() => {
                let _ = child.kill().await;
                "killed after its timeout".to_owned()
            }
        };
        server.abort();
        environment
            .fail_in_flight(format!("environment exited: {status}"))
            .await;
        Ok(environment.polled.load(Ordering::SeqCst))
    }
}

/// One execution environment: the runtime API it polls and the invocation it is working on.
struct Environment {
    function: Arc<Function>,
    in_flight: Mutex<Option<(String, oneshot::Sender<InvokeResult>)>>,
    kill: mpsc::UnboundedSender<()>,
    polled: AtomicBool,
}

impl Environment {
    async fn fail_in_flight(&self, reason: String) {
        if let Some((_, reply)) = self.in_flight.lock().await.take() {
            let _ = reply.send(InvokeResult::Crashed(reason));
        }
    }

    async fn complete(&self, id: &str, result: InvokeResult) -> bool {
        let mut slot = self.in_flight.lock().await;
        match slot.take() {
            Some((current, reply)) if current == id => {
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
        let function = &self.function;
        self.polled.store(true, Ordering::SeqCst);
        function.idle.fetch_add(1, Ordering::SeqCst);
        let invocation = function.queue_rx.lock().await.recv().await;
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
        *self.in_flight.lock().await = Some((id.clone(), reply));
        let watchdog = self.clone();
        let timeout = function.spec.timeout;
        let watched = id.clone();
        tokio::spawn(async move {
            tokio::time::sleep(timeout).await;
            if watchdog.complete(&watched, InvokeResult::TimedOut).await {
                let _ = watchdog.kill.send(());
            }
        });
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

fn plain(status: StatusCode, text: &'static str) -> Response<Full<Bytes>> {
    let mut response = Response::new(Full::new(Bytes::from_static(text.as_bytes())));
    *response.status_mut() = status;
    response
}

async fn serve_runtime_api(listener: TcpListener, environment: Arc<Environment>) {
    loop {
        let Ok((stream, _)) = listener.accept().await else {
            continue;
        };
        let environment = environment.clone();
        tokio::spawn(async move {
            let service = hyper::service::service_fn(move |request| {
                let environment = environment.clone();
                async move { Ok::<_, std::convert::Infallible>(route(environment, request).await) }
            });
            let _ = hyper::server::conn::http1::Builder::new()
                .serve_connection(TokioIo::new(stream), service)
                .await;
        });
    }
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
