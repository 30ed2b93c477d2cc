//! Realtime fan-out on the local stack: `connections` WebSocket clients in one room, one of them
//! sends a message, and the time from the send to its delivery to the last of them is measured
//! (`messages` times, each from another sender, so no sender meets the frame rate limit).

use futures_util::{SinkExt, StreamExt};
use serde_json::{json, Value};
use std::time::{Duration, Instant};
use tokio::sync::mpsc;
use tokio_tungstenite::tungstenite::Message;

#[derive(Debug, Default, serde::Serialize)]
pub struct FanOut {
    pub connections: usize,
    pub messages: usize,
    pub p50_ms: f64,
    pub p99_ms: f64,
    pub max_ms: f64,
}

const WAIT: Duration = Duration::from_secs(60);

pub async fn measure(ws_url: &str, token: &str, connections: usize, messages: usize) -> Result<FanOut, String> {
    let room = format!("bench-{}", uuid::Uuid::new_v4().simple());
    let (delivered_tx, mut delivered) = mpsc::unbounded_channel::<(usize, String, Instant)>();
    let mut senders = Vec::with_capacity(connections);
    for index in 0..connections {
        let (socket, _) = tokio_tungstenite::connect_async(format!("{ws_url}?token={token}"))
            .await
            .map_err(|e| format!("connection {index}: {e}"))?;
        let (mut sink, mut stream) = socket.split();
        sink.send(Message::Text(
            json!({"action": "join", "room": room}).to_string().into(),
        ))
        .await
        .map_err(|e| e.to_string())?;
        // Wait for this joiner's history, so the room has `index + 1` members before the next.
        loop {
            let frame = tokio::time::timeout(WAIT, stream.next())
                .await
                .map_err(|_| format!("connection {index}: no history"))?;
            if let Some(Ok(Message::Text(text))) = frame {
                if serde_json::from_str::<Value>(text.as_str()).is_ok_and(|v| v["type"] == "history") {
                    break;
                }
            }
        }
        let delivered_tx = delivered_tx.clone();
        tokio::spawn(async move {
            while let Some(Ok(frame)) = stream.next().await {
                let at = Instant::now();
                if let Message::Text(text) = frame {
                    let value: Value = serde_json::from_str(text.as_str()).unwrap_or(Value::Null);
                    if value["type"] == "message" {
                        let _ =
                            delivered_tx.send((index, value["message"].as_str().unwrap_or_default().to_owned(), at));
                    }
                }
            }
        });
        senders.push(sink);
    }
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
    })
}
