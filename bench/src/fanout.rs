//! Realtime fan-out on the local stack: `connections` WebSocket clients in one room, one of them
//! sends a message, and the time from the send to its delivery to the last of them is measured
//! (`messages` times, each from another sender, so no sender meets the frame rate limit).
//!
//! From the stack's log (the functions' JSON lines) the same run also reads what the client
//! cannot see: the `send` invocation's own duration, and how fast the fan-out consumer pushes.

use futures_util::stream::{SplitSink, SplitStream};
use futures_util::{SinkExt, StreamExt};
use serde_json::{json, Value};
use std::path::Path;
use std::time::{Duration, Instant};
use tokio::net::TcpStream;
use tokio::sync::mpsc;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::{MaybeTlsStream, WebSocketStream};

#[derive(Debug, Default, Clone, serde::Serialize)]
pub struct FanOut {
    pub connections: usize,
    pub messages: usize,
    pub p50_ms: f64,
    pub p99_ms: f64,
    pub max_ms: f64,
    /// The `send` frame's invocation, p50 (its `latency_ms` log field), when the log was read.
    pub send_p50_ms: Option<f64>,
    /// Pushes per second of one fan-out consumer: connections reached over the time its
    /// invocations spent on fan-out records.
    pub pushes_per_second: Option<f64>,
}

const WAIT: Duration = Duration::from_secs(120);
/// Handshakes and joins in flight while the room fills.
const JOINING: usize = 32;

pub type Socket = WebSocketStream<MaybeTlsStream<TcpStream>>;

/// Opens a connection and joins `room`; returns once its history came (so it is a member).
pub async fn joined(ws_url: &str, token: &str, room: &str) -> Result<Socket, String> {
    let (mut socket, _) = tokio_tungstenite::connect_async(format!("{ws_url}?token={token}"))
        .await
        .map_err(|e| format!("connect: {e}"))?;
    socket
        .send(Message::Text(
            json!({"action": "join", "room": room}).to_string().into(),
        ))
        .await
        .map_err(|e| e.to_string())?;
    loop {
        let frame = tokio::time::timeout(WAIT, socket.next())
            .await
            .map_err(|_| "no history".to_owned())?;
        match frame {
            Some(Ok(Message::Text(text))) => {
                let value: Value = serde_json::from_str(text.as_str()).unwrap_or(Value::Null);
                if value["type"] == "history" {
                    return Ok(socket);
                }
                if value["type"] == "error" {
                    return Err(format!("join refused: {}", value["detail"]));
                }
            }
            Some(Ok(_)) => {}
            Some(Err(err)) => return Err(err.to_string()),
            None => return Err("closed before its history".into()),
        }
    }
}

/// Each user opens at most this many of the room's connections (the template's default cap):
/// a user's handshake reads its slots, so one user holding thousands would measure that.
pub const CONNECTIONS_PER_USER: usize = 10;

pub async fn measure(
    ws_url: &str,
    tokens: &[String],
    connections: usize,
    messages: usize,
    log: Option<&Path>,
) -> Result<FanOut, String> {
    let room = format!("bench-{}", uuid::Uuid::new_v4().simple());
    let (delivered_tx, mut delivered) = mpsc::unbounded_channel::<(usize, String, Instant)>();
    let sockets: Vec<Result<Socket, String>> = futures_util::stream::iter(0..connections)
        .map(|i| joined(ws_url, &tokens[i % tokens.len()], &room))
        .buffered(JOINING)
        .collect()
        .await;
    let mut senders: Vec<SplitSink<Socket, Message>> = Vec::with_capacity(connections);
    for (index, socket) in sockets.into_iter().enumerate() {
        let (sink, stream) = socket.map_err(|e| format!("connection {index}: {e}"))?.split();
        tokio::spawn(read(index, stream, delivered_tx.clone()));
        senders.push(sink);
    }
    let log_from = log.map(log_length);
    let mut samples = Vec::with_capacity(messages);
    for n in 0..messages {
        let text = format!("fan-out {n}");
        let sender = &mut senders[n % connections];
        let sent = Instant::now();
        sender
            .send(Message::Text(
                json!({"action": "send", "room": room, "message": text})
                    .to_string()
                    .into(),
            ))
            .await
            .map_err(|e| e.to_string())?;
        let mut reached = vec![false; connections];
        let mut last = sent;
        let mut count = 0;
        while count < connections {
            let (index, message, at) = tokio::time::timeout(WAIT, delivered.recv())
                .await
                .map_err(|_| format!("message {n} reached {count} of {connections} connections"))?
                .ok_or("the readers stopped")?;
            if message == text && !reached[index] {
                reached[index] = true;
                count += 1;
                last = last.max(at);
            }
        }
        samples.push((last - sent).as_secs_f64() * 1000.0);
    }
    // The last delivery's log line may trail its frame by a moment.
    tokio::time::sleep(Duration::from_millis(300)).await;
    let (send_p50_ms, pushes_per_second) = match (log, log_from) {
        (Some(log), Some(from)) => read_log(log, from),
        _ => (None, None),
    };
    for mut sink in senders {
        let _ = sink.close().await;
    }
    samples.sort_by(f64::total_cmp);
    let at = |p: usize| samples[(samples.len() * p / 100).min(samples.len() - 1)];
    Ok(FanOut {
        connections,
        messages,
        p50_ms: at(50),
        p99_ms: at(99),
        max_ms: samples.last().copied().unwrap_or(0.0),
        send_p50_ms,
        pushes_per_second,
    })
}

async fn read(
    index: usize,
    mut stream: SplitStream<Socket>,
    delivered: mpsc::UnboundedSender<(usize, String, Instant)>,
) {
    while let Some(Ok(frame)) = stream.next().await {
        let at = Instant::now();
        if let Message::Text(text) = frame {
            let value: Value = serde_json::from_str(text.as_str()).unwrap_or(Value::Null);
            if value["type"] == "message" {
                let _ = delivered.send((index, value["message"].as_str().unwrap_or_default().to_owned(), at));
            }
        }
    }
}

fn log_length(log: &Path) -> u64 {
    std::fs::metadata(log).map(|m| m.len()).unwrap_or(0)
}

/// From the log lines written since byte `from`: the p50 of the `send` invocations' latency,
/// and the fan-out consumer's pushes per second (the `delivered` lines of fan-out records).
fn read_log(log: &Path, from: u64) -> (Option<f64>, Option<f64>) {
    let Ok(bytes) = std::fs::read(log) else {
        return (None, None);
    };
    let text = String::from_utf8_lossy(&bytes[(from as usize).min(bytes.len())..]).into_owned();
    let mut sends = Vec::new();
    let (mut pushes, mut pushing_ms) = (0.0, 0.0);
    for line in text.lines().filter(|l| l.starts_with('{')) {
        let Ok(value) = serde_json::from_str::<Value>(line) else {
            continue;
        };
        match value["message"].as_str() {
            Some("websocket request") if value["route"] == "send" => {
                sends.extend(value["latency_ms"].as_f64());
            }
            Some("delivered") => {
                if let (Some(n), Some(ms)) = (value["delivered"].as_f64(), value["latency_ms"].as_f64()) {
                    pushes += n;
                    pushing_ms += ms;
                }
            }
            _ => {}
        }
    }
    sends.sort_by(f64::total_cmp);
    let send_p50 = (!sends.is_empty()).then(|| sends[sends.len() / 2]);
    let rate = (pushing_ms > 0.0).then(|| pushes / (pushing_ms / 1000.0));
    (send_p50, rate)
}
