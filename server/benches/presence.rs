//! Presence at scale (not a timed test; `cargo test` does not run it).
//!
//! Run with: `cargo bench -p phx-server --bench presence`
//! (`PHX_BENCH_PRESENCE`: the client counts, comma-separated, default `5000`;
//! `PHX_BENCH_PRESENCE_SECS`: the time limit of one run, default 300).
//!
//! N clients join one `presence:bench` topic at concurrency 100 (a client holds its slot from
//! connect until its `presence_state`), each as its own user, against the release `phx-server`
//! (a child process, default config). Every client keeps a view (the keys of its state plus the
//! keys of the join diffs after it) and heartbeats every 30 s as phoenix.js does: a run at 5,000
//! takes longer than the server's 60 s idle timeout. Reported:
//! - the time until every client's view holds all N, against the baseline: the same N clients
//!   joining `ping` (no presence) on a fresh server, in the same run, until every join is
//!   answered;
//! - the bytes sent per join: every text frame payload the clients received, divided by N,
//!   split into `presence_state` pushes and `presence_diff`s (the state each joiner gets plus
//!   the diff every member gets: Phoenix's N² traffic);
//! - the server's RSS per presence: (RSS with N presences − RSS with N plain `ping` channels) / N,
//!   read 500 ms after the last view filled; and both processes' CPU time.
//!
//! Every run is bounded by count (N) and time (the limit); a client whose socket ends before its
//! view is full fails the run at once, naming it.
//!
//! What phx-server does about the N² traffic: it sends what Phoenix sends, frame for frame (every
//! joiner the whole state, every member one `presence_diff` per change, as Phoenix.Presence does
//! on one node: its recordings show one diff per change, 0.5–5 ms after it); it does not batch
//! diffs on one node. What it saves is work, not bytes: a diff is a fastlane broadcast, encoded
//! once per serializer and handed as the same bytes to every subscriber's writer, so the N²
//! part costs N² queue pushes and socket writes, and the encodes are N (diffs) plus N
//! (`presence_state`, one per joiner, O(N) each).
//!
//! Measured (2-core VM shared with 3 other agents compiling, load average 4.1 → 5.0 during the
//! run; the series for N = 500–2,000 and a second 5,000 run are in `server/CLUSTER.md`,
//! "Presence at scale"):
//!
//! ```text
//! presence: 5000 clients join one topic at concurrency 100
//!   every view holds all 5000: 77.44 s (baseline, 5000 plain joins answered: 2.06 s; ratio 37.6x)
//!   bytes sent per join: 578578 (presence_state 203280 + presence_diff 375156 + other 142;
//!     baseline plain join: 58); 12593808 diff frames = 1.007 x N(N+1)/2
//!   server RSS: 1138924 KiB with 5000 presences, 71620 KiB with 5000 plain channels:
//!     213.46 KiB per presence (mean presence_state 198.5 KiB)
//!   CPU: server 52.5 s (baseline 0.7 s), bench clients 21.8 s (baseline 1.6 s)
//! ```
//!
//! The wall time swings with the machine's load (147 s in another run at load 3.7 → 7.8); the
//! bytes, frames and RSS do not. The RSS per presence follows the mean `presence_state` size:
//! each socket's tungstenite write buffer keeps the capacity of the largest frame it sent.

#![allow(clippy::unwrap_used, missing_docs)]

mod common;

use common::{rss_kib, Server};

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use futures_util::{SinkExt, StreamExt};
use serde::de::IgnoredAny;
use tokio::sync::Semaphore;
use tokio::task::JoinHandle;
use tokio_tungstenite::tungstenite::Message;

const CONCURRENCY: usize = 100;
/// phoenix.js's heartbeat interval.
const HEARTBEAT: Duration = Duration::from_secs(30);

async fn spawn_server() -> Server {
    let port = common::free_port();
    common::start(common::phx_server(port, &[]), port, "error").await
}

/// utime + stime in seconds.
fn cpu_secs(pid: &str) -> f64 {
    common::cpu_ticks(pid) as f64 / 100.0
}

/// The user number of the only key in a join diff's `joins` (`"u123"` → 123).
fn joined_user(frame: &str) -> Option<usize> {
    let rest = frame.split_once(r#""joins":{"u"#)?.1;
    rest.split('"').next()?.parse().ok()
}

/// Whether a V2 frame's event (in its first bytes) is `event`.
fn is_event(frame: &str, event: &str) -> bool {
    let head = frame.get(..frame.len().min(80)).unwrap_or(frame);
    head.contains(event)
}

/// The payload bytes the clients received, by kind.
#[derive(Default)]
struct Bytes {
    state: AtomicU64,
    diff: AtomicU64,
    other: AtomicU64,
    diff_frames: AtomicU64,
}

struct Run {
    /// Until every view held all N (every join answered, for the baseline).
    all_views: Duration,
    state: u64,
    diff: u64,
    other: u64,
    diff_frames: u64,
    rss_kib: u64,
    server_cpu: f64,
    bench_cpu: f64,
}

impl Run {
    fn bytes(&self) -> u64 {
        self.state + self.diff + self.other
    }
}

/// One client: joins, keeps its view, reports once when the view is full (`Ok`) or when its
/// socket ended first (`Err`), and keeps the socket open and heartbeating until aborted.
async fn client(
    i: usize,
    n: usize,
    url: String,
    presence: bool,
    slots: Arc<Semaphore>,
    bytes: Arc<Bytes>,
    done: tokio::sync::mpsc::UnboundedSender<Result<(), String>>,
) {
    let permit = slots.acquire_owned().await.unwrap();
    let mut ws = match tokio_tungstenite::connect_async(&url).await {
        Ok((ws, _)) => ws,
        Err(e) => {
            let _ = done.send(Err(format!("client {i}: connect: {e}")));
            return;
        }
    };
    let join = if presence {
        format!(r#"["1","1","presence:bench","phx_join",{{"user_id":"u{i}"}}]"#)
    } else {
        r#"["1","1","ping","phx_join",{}]"#.to_owned()
    };
    if let Err(e) = ws.send(Message::text(join)).await {
        let _ = done.send(Err(format!("client {i}: send join: {e}")));
        return;
    }
    let mut permit = Some(permit);
    let mut seen = vec![false; if presence { n } else { 0 }];
    let mut count = 0;
    let mut reported = false;
    let mut heartbeat =
        tokio::time::interval_at(tokio::time::Instant::now() + HEARTBEAT, HEARTBEAT);
    let mut hb_ref = 1u64;
    let end = loop {
        let msg = tokio::select! {
            msg = ws.next() => msg,
            _ = heartbeat.tick() => {
                hb_ref += 1;
                let hb = format!(r#"[null,"{hb_ref}","phoenix","heartbeat",{{}}]"#);
                if let Err(e) = ws.send(Message::text(hb)).await {
                    break format!("send heartbeat: {e}");
                }
                continue;
            }
        };
        let t = match msg {
            Some(Ok(Message::Text(t))) => t,
            Some(Ok(Message::Close(c))) => break format!("closed by the server: {c:?}"),
            Some(Ok(_)) => continue,
            Some(Err(e)) => break format!("read: {e}"),
            None => break "socket ended".to_owned(),
        };
        let len = t.len() as u64;
        if !presence {
            bytes.other.fetch_add(len, Ordering::Relaxed);
            if !reported && is_event(&t, r#""phx_reply""#) {
                drop(permit.take());
                reported = true;
                let _ = done.send(Ok(()));
            }
            continue;
        }
        if is_event(&t, r#""presence_state""#) {
            bytes.state.fetch_add(len, Ordering::Relaxed);
            drop(permit.take());
            type State<'a> = (
                IgnoredAny,
                IgnoredAny,
                IgnoredAny,
                IgnoredAny,
                HashMap<&'a str, IgnoredAny>,
            );
            let state: State<'_> = match serde_json::from_str(&t) {
                Ok(s) => s,
                Err(e) => break format!("bad presence_state: {e}"),
            };
            for k in state.4.keys() {
                if let Some(u) = k.strip_prefix('u').and_then(|u| u.parse::<usize>().ok()) {
                    if u < n && !seen[u] {
                        seen[u] = true;
                        count += 1;
                    }
                }
            }
        } else if is_event(&t, r#""presence_diff""#) {
            bytes.diff.fetch_add(len, Ordering::Relaxed);
            bytes.diff_frames.fetch_add(1, Ordering::Relaxed);
            if let Some(u) = joined_user(&t) {
                if u < n && !seen[u] {
                    seen[u] = true;
                    count += 1;
                }
            }
        } else {
            bytes.other.fetch_add(len, Ordering::Relaxed);
        }
        if count == n && !reported {
            reported = true;
            let _ = done.send(Ok(()));
        }
    };
    if !reported {
        let _ = done.send(Err(format!(
            "client {i}: {end} with {count} of {n} in its view"
        )));
    }
}

/// N clients join `topic` (a presence topic when `presence`); returns when every view is full
/// (or, without presence, when every join is answered), with the sockets still open.
async fn run(n: usize, presence: bool, limit: Duration) -> Run {
    let server = spawn_server().await;
    let url = format!("ws://127.0.0.1:{}/socket/websocket?vsn=2.0.0", server.port);
    let slots = Arc::new(Semaphore::new(CONCURRENCY));
    let bytes = Arc::new(Bytes::default());
    let (done_tx, mut done_rx) = tokio::sync::mpsc::unbounded_channel();
    let cpu_before = cpu_secs("self");
    let started = Instant::now();
    let clients: Vec<JoinHandle<()>> = (0..n)
        .map(|i| {
            tokio::spawn(client(
                i,
                n,
                url.clone(),
                presence,
                slots.clone(),
                bytes.clone(),
                done_tx.clone(),
            ))
        })
        .collect();
    drop(done_tx);
    let mut finished = 0;
    while finished < n {
        match tokio::time::timeout(limit.saturating_sub(started.elapsed()), done_rx.recv()).await {
            Ok(Some(Ok(()))) => finished += 1,
            Ok(Some(Err(e))) => panic!("{finished} of {n} views full, then {e}"),
            Ok(None) => panic!("{finished} of {n} views full, then every client ended"),
            Err(_) => panic!("only {finished} of {n} views were full after {limit:?}"),
        }
    }
    let all_views = started.elapsed();
    let bench_cpu = cpu_secs("self") - cpu_before;
    tokio::time::sleep(Duration::from_millis(500)).await;
    let r = Run {
        all_views,
        state: bytes.state.load(Ordering::Relaxed),
        diff: bytes.diff.load(Ordering::Relaxed),
        other: bytes.other.load(Ordering::Relaxed),
        diff_frames: bytes.diff_frames.load(Ordering::Relaxed),
        rss_kib: rss_kib(server.pid),
        server_cpu: cpu_secs(&server.pid.to_string()),
        bench_cpu,
    };
    for c in clients {
        c.abort();
    }
    drop(server);
    r
}

fn main() {
    let counts: Vec<usize> = std::env::var("PHX_BENCH_PRESENCE")
        .ok()
        .map(|v| v.split(',').filter_map(|s| s.trim().parse().ok()).collect())
        .filter(|v: &Vec<usize>| !v.is_empty())
        .unwrap_or_else(|| vec![5000]);
    let limit = Duration::from_secs(
        std::env::var("PHX_BENCH_PRESENCE_SECS")
            .ok()
            .and_then(|v| v.parse().ok())
            .unwrap_or(300),
    );
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(async {
        for n in counts {
            let base = run(n, false, limit).await;
            let p = run(n, true, limit).await;
            let per = |b: u64| b as f64 / n as f64;
            println!("presence: {n} clients join one topic at concurrency {CONCURRENCY}");
            println!(
                "  every view holds all {n}: {:.2} s (baseline, {n} plain joins answered: {:.2} s; ratio {:.1}x)",
                p.all_views.as_secs_f64(),
                base.all_views.as_secs_f64(),
                p.all_views.as_secs_f64() / base.all_views.as_secs_f64()
            );
            println!(
                "  bytes sent per join: {:.0} (presence_state {:.0} + presence_diff {:.0} + other {:.0}; baseline plain join: {:.0}); {} diff frames = {:.3} x N(N+1)/2",
                per(p.bytes()),
                per(p.state),
                per(p.diff),
                per(p.other),
                per(base.bytes()),
                p.diff_frames,
                p.diff_frames as f64 / (n as f64 * (n as f64 + 1.0) / 2.0)
            );
            println!(
                "  server RSS: {} KiB with {n} presences, {} KiB with {n} plain channels: {:.2} KiB per presence (mean presence_state {:.1} KiB)",
                p.rss_kib,
                base.rss_kib,
                (p.rss_kib as f64 - base.rss_kib as f64) / n as f64,
                per(p.state) / 1024.0
            );
            println!(
                "  CPU: server {:.1} s (baseline {:.1} s), bench clients {:.1} s (baseline {:.1} s)",
                p.server_cpu, base.server_cpu, p.bench_cpu, base.bench_cpu
            );
        }
    });
}
