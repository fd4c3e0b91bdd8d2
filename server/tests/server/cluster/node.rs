//! A `phx-server serve` process (the built binary) with its stderr log captured, and the
//! control API over plain HTTP/1.1.

use std::net::SocketAddr;
use std::process::Stdio;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use serde_json::Value;
use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader};
use tokio::net::TcpStream;
use tokio::process::{Child, Command};
use tokio::sync::Notify;
use tokio::time::{timeout, Instant};

pub const BIN: &str = env!("CARGO_BIN_EXE_phx-server");

/// The log line `serve` prints once it listens.
const LISTENING: &str = "Running HelloSocketsWeb.Endpoint addr=";

#[derive(Clone, Default)]
pub struct Log {
    lines: Arc<Mutex<Vec<String>>>,
    changed: Arc<Notify>,
}

impl Log {
    fn push(&self, line: String) {
        self.lines.lock().expect("log lock").push(line);
        self.changed.notify_waiters();
    }

    pub fn text(&self) -> String {
        self.lines.lock().expect("log lock").join("\n")
    }

    pub fn count(&self, needle: &str) -> usize {
        self.lines
            .lock()
            .expect("log lock")
            .iter()
            .filter(|l| l.contains(needle))
            .count()
    }

    /// Waits until `needle` has appeared at least `times` times.
    pub async fn wait_for(
        &self,
        needle: &str,
        times: usize,
        within: Duration,
    ) -> Result<(), String> {
        let deadline = Instant::now() + within;
        loop {
            let notified = self.changed.notified();
            if self.count(needle) >= times {
                return Ok(());
            }
            if timeout(deadline.saturating_duration_since(Instant::now()), notified)
                .await
                .is_err()
            {
                return Err(format!(
                    "log line {needle:?} ×{times} not seen within {within:?}; log:\n{}",
                    self.text()
                ));
            }
        }
    }
}

pub struct Node {
    pub name: String,
    pub addr: SocketAddr,
    pub log: Log,
    child: Child,
}

impl Node {
    /// Starts `phx-server serve --port 0 --control --pubsub URL` and waits until it listens.
    pub async fn start(name: &str, compat: &str, pubsub: &str, extra: &[&str]) -> Node {
        let mut child = Command::new(BIN)
            .args([
                "serve",
                "--port",
                "0",
                "--control",
                "--node-name",
                name,
                "--compat",
                compat,
                "--pubsub",
                pubsub,
                // The nodes of one app share its secret_key_base (without it each would make
                // its own random key and refuse the other's tokens).
                "--secret-key-base",
                phx_server::FIXTURE_SECRET_KEY_BASE,
            ])
            .args(extra)
            .env("RUST_LOG", "info")
            .env("NO_COLOR", "1")
            .env_remove("PHX_PUBSUB")
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .kill_on_drop(true)
            .spawn()
            .expect("spawn phx-server");
        let log = Log::default();
        let stderr = child.stderr.take().expect("piped stderr");
        let sink = log.clone();
        tokio::spawn(async move {
            let mut lines = BufReader::new(stderr).lines();
            while let Ok(Some(line)) = lines.next_line().await {
                sink.push(strip_ansi(&line));
            }
            sink.push("<stderr closed>".into());
        });
        if let Err(e) = log.wait_for(LISTENING, 1, Duration::from_secs(20)).await {
            panic!("{name} did not start: {e}");
        }
        let text = log.text();
        let addr = text
            .lines()
            .find_map(|l| l.split(LISTENING).nth(1))
            .and_then(|rest| rest.split_whitespace().next())
            .and_then(|a| a.parse().ok())
            .unwrap_or_else(|| panic!("cannot read the bound address from {name}'s log:\n{text}"));
        Node {
            name: name.into(),
            addr,
            log,
            child,
        }
    }

    /// `kill -9`: the process dies at once, saying goodbye to no one.
    pub async fn kill9(&mut self) {
        let _ = self.child.kill().await;
    }

    pub fn ws_url(&self, path_and_query: &str) -> String {
        format!("ws://{}{path_and_query}", self.addr)
    }

    /// POSTs JSON to the control API; panics unless it answers 200.
    pub async fn control(&self, path: &str, body: Value) -> Value {
        let (status, reply) = http_post(self.addr, path, &body).await;
        assert_eq!(
            status, 200,
            "{} {path} {body} answered {status}: {reply}",
            self.name
        );
        reply
    }

    /// `Endpoint.broadcast(topic, event, payload)` on this node.
    pub async fn broadcast(&self, topic: &str, event: &str, payload: Value) {
        self.control(
            "/api/broadcast",
            serde_json::json!({"topic": topic, "event": event, "payload": payload}),
        )
        .await;
    }
}

async fn http_post(addr: SocketAddr, path: &str, body: &Value) -> (u16, Value) {
    let body = body.to_string();
    let req = format!(
        "POST {path} HTTP/1.1\r\nhost: {addr}\r\ncontent-type: application/json\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{body}",
        body.len()
    );
    let exchange = async {
        let mut s = TcpStream::connect(addr).await?;
        s.write_all(req.as_bytes()).await?;
        let mut out = Vec::new();
        s.read_to_end(&mut out).await?;
        Ok::<_, std::io::Error>(out)
    };
    let raw = timeout(Duration::from_secs(10), exchange)
        .await
        .unwrap_or_else(|_| panic!("POST {path} to {addr}: no answer in 10 s"))
        .unwrap_or_else(|e| panic!("POST {path} to {addr}: {e}"));
    let text = String::from_utf8_lossy(&raw);
    let (head, body) = text
        .split_once("\r\n\r\n")
        .unwrap_or_else(|| panic!("malformed HTTP reply: {text}"));
    let status = head
        .split_whitespace()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .expect("status code");
    let json = serde_json::from_str(body.trim()).unwrap_or(Value::String(body.to_owned()));
    (status, json)
}

fn strip_ansi(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    let mut chars = s.chars();
    while let Some(c) = chars.next() {
        if c == '\u{1b}' {
            // CSI: ESC [ params final-byte
            for c in chars.by_ref() {
                if c.is_ascii_alphabetic() {
                    break;
                }
            }
        } else {
            out.push(c);
        }
    }
    out
}
