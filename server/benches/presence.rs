//! Presence at scale (not a timed test; `cargo test` does not run it).
//!
//! Run with: `cargo bench -p phx-server --bench presence` (`PHX_BENCH_PRESENCE`, default 5,000).
//!
//! N clients join one `presence:bench` topic at concurrency 100 (a client holds its slot from
//! connect until its `presence_state`), each as its own user, against the release `phx-server`
//! (a child process). Every client keeps a view (the keys of its state plus the keys of the join
//! diffs after it). Reported:
//! - the time until every client's view holds all N, against the baseline: the same N clients
//!   joining `ping` (no presence) on a fresh server, in the same run;
//! - the bytes sent per join: every text frame payload the clients received, divided by N (the
//!   state each joiner gets plus the diff every member gets: Phoenix's N² traffic);
//! - the server's RSS per presence: (RSS with N presences − RSS with N plain `ping` channels) / N.
//!
//! phx-server sends what Phoenix sends: every joiner the whole state, every member every diff,
//! one frame per change; it does not batch diffs.

#![allow(clippy::unwrap_used, missing_docs)]

use std::process::Stdio;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use futures_util::{SinkExt, StreamExt};
use tokio::net::TcpStream;
use tokio::process::{Child, Command};
use tokio::sync::Semaphore;
use tokio_tungstenite::tungstenite::Message;

const CONCURRENCY: usize = 100;
const LIMIT: Duration = Duration::from_secs(600);

struct Server {
    _child: Child,
    port: u16,
    pid: u32,
}

async fn spawn_server() -> Server {
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let mut child = Command::new(env!("CARGO_BIN_EXE_phx-server"))
        .args(["serve", "--port", &port.to_string()])
        .env("RUST_LOG", "warn")
        .stdout(Stdio::null())
        .stderr(Stdio::inherit())
        .kill_on_drop(true)
        .spawn()
        .unwrap();
    let pid = child.id().unwrap();
    let deadline = Instant::now() + Duration::from_secs(10);
    while TcpStream::connect(("127.0.0.1", port)).await.is_err() {
        assert!(Instant::now() < deadline, "server did not start");
        assert!(child.try_wait().unwrap().is_none(), "server exited");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    Server {
        _child: child,
        port,
        pid,
    }
}

fn rss_kib(pid: u32) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap();
    let line = status.lines().find(|l| l.starts_with("VmRSS:")).unwrap();
    line.split_whitespace().nth(1).unwrap().parse().unwrap()
}

/// The user number of the only key in a join diff's `joins` (`"u123"` → 123).
fn joined_user(frame: &str) -> Option<usize> {
    let rest = frame.split_once(r#""joins":{"u"#)?.1;
    rest.split('"').next()?.parse().ok()
}

struct Run {
    /// Until every view held all N.
    all_views: Duration,
    bytes: u64,
    rss_kib: u64,
}

/// N clients join `topic` (a presence topic when `presence`); returns when every view is full
/// (or, without presence, when every join is answered), keeping the sockets open.
async fn run(n: usize, presence: bool) -> (Run, Server) {
    let server = spawn_server().await;
    let url = format!("ws://127.0.0.1:{}/socket/websocket?vsn=2.0.0", server.port);
    let slots = Arc::new(Semaphore::new(CONCURRENCY));
    let bytes = Arc::new(AtomicU64::new(0));
    let (done_tx, mut done_rx) = tokio::sync::mpsc::unbounded_channel::<()>();
    let started = Instant::now();
    for i in 0..n {
        let (url, slots, bytes, done) =
            (url.clone(), slots.clone(), bytes.clone(), done_tx.clone());
        tokio::spawn(async move {
            let permit = slots.acquire_owned().await.unwrap();
            let (mut ws, _) = tokio_tungstenite::connect_async(&url).await.unwrap();
            let join = if presence {
                format!(r#"["1","1","presence:bench","phx_join",{{"user_id":"u{i}"}}]"#)
            } else {
                r#"["1","1","ping","phx_join",{}]"#.to_owned()
            };
            ws.send(Message::text(join)).await.unwrap();
            let mut permit = Some(permit);
            let mut seen = vec![false; n];
            let mut count = 0;
            let mut reported = false;
            while let Some(Ok(msg)) = ws.next().await {
                let Message::Text(t) = msg else { continue };
                bytes.fetch_add(t.len() as u64, Ordering::Relaxed);
                if !presence {
                    drop(permit.take());
                    let _ = done.send(());
                    reported = true;
                    // Keep the socket open for the RSS reading.
                    std::future::pending::<()>().await;
                }
                if t.contains(r#""presence_state""#) {
                    drop(permit.take());
                    let v: serde_json::Value = serde_json::from_str(&t).unwrap();
                    for k in v[4].as_object().unwrap().keys() {
                        if let Ok(u) = k[1..].parse::<usize>() {
                            if u < n && !seen[u] {
                                seen[u] = true;
                                count += 1;
                            }
                        }
                    }
                } else if let Some(u) = joined_user(&t) {
                    if u < n && !seen[u] {
                        seen[u] = true;
                        count += 1;
                    }
                }
                if count == n && !reported {
                    reported = true;
                    let _ = done.send(());
                }
            }
        });
    }
    drop(done_tx);
    let mut finished = 0;
    while finished < n {
        match tokio::time::timeout(LIMIT.saturating_sub(started.elapsed()), done_rx.recv()).await {
            Ok(Some(())) => finished += 1,
            other => panic!("only {finished} of {n} views were full after {LIMIT:?} ({other:?})"),
        }
    }
    let all_views = started.elapsed();
    tokio::time::sleep(Duration::from_millis(500)).await;
    let r = Run {
        all_views,
        bytes: bytes.load(Ordering::Relaxed),
        rss_kib: rss_kib(server.pid),
    };
    (r, server)
}

fn main() {
    let n: usize = std::env::var("PHX_BENCH_PRESENCE")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(5000);
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(async {
        let (base, base_server) = run(n, false).await;
        drop(base_server);
        let (p, _server) = run(n, true).await;
        println!("presence: {n} clients join one topic at concurrency {CONCURRENCY}");
        println!(
            "  every view holds all {n}: {:.2} s (baseline, {n} plain joins answered: {:.2} s; ratio {:.1}x)",
            p.all_views.as_secs_f64(),
            base.all_views.as_secs_f64(),
            p.all_views.as_secs_f64() / base.all_views.as_secs_f64()
        );
        println!(
            "  bytes sent per join: {:.0} (payload bytes of every frame received / {n}; baseline plain join: {:.0})",
            p.bytes as f64 / n as f64,
            base.bytes as f64 / n as f64
        );
        println!(
            "  server RSS: {} KiB with {n} presences, {} KiB with {n} plain channels: {:.2} KiB per presence",
            p.rss_kib,
            base.rss_kib,
            (p.rss_kib as f64 - base.rss_kib as f64) / n as f64
        );
    });
}
