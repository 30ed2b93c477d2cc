//! The moto server: started on a free loopback port and stopped with the stack.

use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::{Duration, Instant};
use tokio::process::{Child, Command};

pub struct Moto {
    pub endpoint: String,
    child: Option<Child>,
}

#[derive(Debug, thiserror::Error)]
pub enum MotoError {
    #[error("{0} not found: run `make setup` (it installs the pinned tools into .venv)")]
    NotInstalled(String),
    #[error("cannot start moto: {0}")]
    Spawn(String),
    #[error("moto did not answer on {0} within 30 s")]
    NotReady(String),
}

pub fn free_port() -> std::io::Result<u16> {
    Ok(std::net::TcpListener::bind("127.0.0.1:0")?.local_addr()?.port())
}

impl Moto {
    /// Starts moto through `tools/moto/serve.py` (moto's server with DynamoDB requests
    /// serialised; that file says why) with the project's Python.
    pub async fn start(python: &Path, launcher: &Path, port: u16, log: Stdio) -> Result<Self, MotoError> {
        for needed in [python, launcher] {
            if !needed.exists() {
                return Err(MotoError::NotInstalled(needed.display().to_string()));
            }
        }
        let mut command = Command::new(python);
        command
            .arg(launcher)
            .args(["127.0.0.1", &port.to_string()])
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(log)
            .kill_on_drop(true);
        crate::process::die_with_parent(&mut command);
        let child = command.spawn().map_err(|e| MotoError::Spawn(e.to_string()))?;
        let moto = Self {
            endpoint: format!("http://127.0.0.1:{port}"),
            child: Some(child),
        };
        let deadline = Instant::now() + Duration::from_secs(30);
        while Instant::now() < deadline {
            if moto.is_up().await {
                return Ok(moto);
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        Err(MotoError::NotReady(moto.endpoint.clone()))
    }

    pub async fn is_up(&self) -> bool {
        let url = format!("{}/moto-api/data.json", self.endpoint);
        tokio::task::spawn_blocking(move || {
            ureq::get(&url)
                .config()
                .timeout_global(Some(Duration::from_secs(2)))
                .build()
                .call()
                .is_ok()
        })
        .await
        .unwrap_or(false)
    }

    /// Freezes the emulator (`true`) or lets it go on (`false`), as a hung service would be:
    /// connections are accepted and nothing answers until it goes on; its data is kept.
    pub fn freeze(&self, frozen: bool) -> bool {
        let Some(pid) = self.child.as_ref().and_then(Child::id) else {
            return false;
        };
        let signal = if frozen { libc::SIGSTOP } else { libc::SIGCONT };
        let Ok(pid) = libc::pid_t::try_from(pid) else {
            return false;
        };
        // SAFETY: kill(2) with the pid of our own live child and a stop/continue signal.
        unsafe { libc::kill(pid, signal) == 0 }
    }

    pub async fn stop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill().await;
        }
    }
}

/// The Python that has moto installed: `$DEVSTACK_PYTHON`, else the project's `.venv`.
pub fn python(project_root: &Path) -> PathBuf {
    std::env::var_os("DEVSTACK_PYTHON")
        .map(PathBuf::from)
        .unwrap_or_else(|| project_root.join(".venv/bin/python"))
}

pub fn launcher(project_root: &Path) -> PathBuf {
    project_root.join("tools/moto/serve.py")
}
