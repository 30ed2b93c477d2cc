//! The local stack as a library: moto, the resources of template.yaml, a Lambda Runtime API
//! emulator and an HTTP and WebSocket API gateway in front of the real function binaries. The `devstack`
//! binary runs it; `make bench` times functions under its runtime API.

mod access_log;
mod admin;
pub mod gateway;
pub mod meter;
pub mod moto;
pub mod process;
pub mod provision;
pub mod runtime;
pub mod schedule;
mod server;
pub mod sqs;
pub mod template;
pub mod websocket;

use adapters::aws::AwsConfig;
use gateway::Route;
use runtime::Function;
use std::collections::HashMap;
use std::sync::Arc;

pub struct Stack {
    pub routes: Vec<Route>,
    pub functions: HashMap<String, Arc<Function>>,
    pub queues: Vec<provision::QueueInfo>,
    pub resources: HashMap<String, String>,
    pub moto: tokio::sync::Mutex<moto::Moto>,
    pub moto_endpoint: String,
    pub aws: AwsConfig,
    /// The WebSocket API of the template, served at `/{stage}` beside the HTTP API.
    pub websocket: Option<Arc<websocket::WebSocketApi>>,
    /// The capacity meter, when the stack runs with `--meter`.
    pub meter: Option<Arc<meter::Meter>>,
}
