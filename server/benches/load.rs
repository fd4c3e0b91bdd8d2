//! Load figures for the reference server (not a timed test; `cargo test` does not run it).
//!
//! Run with: `cargo bench -p phx-server --bench load`
//!
//! 1. Server RSS (user space, /proc/PID/status VmRSS) per idle connection with one joined
//!    channel, at `PHX_BENCH_CONNS` (5,000) connections; baseline: tungstenite's default buffers.
//! 2. Fastlane broadcast deliveries/s to `PHX_BENCH_SUBS` (1,000) subscribers, `PHX_BENCH_BROADCASTS`
//!    (500) broadcasts published inside the server by the control API; write buffer 0 (baseline)
//!    vs 64 KiB, with publish → last-receiver latency and both processes' CPU.
//!
//! The server is the release `phx-server` binary in a child process; clients live in this
//! process. Every loop is bounded by count and time.

#![allow(clippy::unwrap_used, missing_docs)]

use std::process::Stdio;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use futures_util::{SinkExt, StreamExt};
use serde_json::Value;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::process::{Child, Command};
use tokio_tungstenite::tungstenite::protocol::WebSocketConfig;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::{connect_async_with_config, MaybeTlsStream, WebSocketStream};

type Ws = WebSocketStream<MaybeTlsStream<TcpStream>>;

fn env_num(name: &str, default: u64) -> u64 {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

struct Server {
    child: Child,
    port: u16,
    pid: u32,
}

async fn spawn_server(extra: &[&str]) -> Server {
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let mut child = Command::new(env!("CARGO_BIN_EXE_phx-server"))
        .args(["serve", "--port", &port.to_string(), "--control"])
        .args(extra)
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
    Server { child, port, pid }
}

fn rss_kib(pid: u32) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap();
    let line = status.lines().find(|l| l.starts_with("VmRSS:")).unwrap();
    line.split_whitespace().nth(1).unwrap().parse().unwrap()
}

/// utime + stime in clock ticks (100/s on Linux).
fn cpu_ticks(pid: &str) -> u64 {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap();
    let after_comm = &stat[stat.rfind(')').unwrap() + 2..];
    let f: Vec<&str> = after_comm.split_whitespace().collect();
    f[11].parse::<u64>().unwrap() + f[12].parse::<u64>().unwrap()
}

async fn connect_and_join(port: u16, n: usize, topic: &str) -> Vec<Ws> {
    let url = format!("ws://127.0.0.1:{port}/socket/websocket?vsn=2.0.0");
    let cfg = WebSocketConfig::default()
        .read_buffer_size(4096)
        .write_buffer_size(0);
    let mut out = Vec::with_capacity(n);
    let started = Instant::now();
    for chunk in (0..n).collect::<Vec<_>>().chunks(100) {
        let mut joins = Vec::new();
        for _ in chunk {
            let url = url.clone();
            let topic = topic.to_owned();
            joins.push(tokio::spawn(async move {
                let (mut ws, _) = connect_async_with_config(&url, Some(cfg), false)
                    .await
                    .unwrap();
                ws.send(Message::text(format!(
                    r#"["1","1","{topic}","phx_join",{{}}]"#
                )))
                .await
                .unwrap();
                let reply = tokio::time::timeout(Duration::from_secs(10), ws.next())
                    .await
                    .unwrap()
                    .unwrap()
                    .unwrap();
                assert!(reply.to_text().unwrap().contains(r#""status":"ok""#));
                ws
            }));
        }
        for j in joins {
            out.push(j.await.unwrap());
        }
        assert!(
            started.elapsed() < Duration::from_secs(120),
            "connecting took too long"
        );
    }
    out
}

async fn post(port: u16, path: &str, body: &str) -> String {
    let mut s = TcpStream::connect(("127.0.0.1", port)).await.unwrap();
    let req = format!(
        "POST {path} HTTP/1.1\r\nhost: x\r\ncontent-type: application/json\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{body}",
        body.len()
    );
    s.write_all(req.as_bytes()).await.unwrap();
    let mut resp = String::new();
    s.read_to_string(&mut resp).await.unwrap();
    resp
}

async fn rss_figure(label: &str, extra: &[&str], conns: usize) -> f64 {
    let server = spawn_server(extra).await;
    tokio::time::sleep(Duration::from_millis(300)).await;
    let before = rss_kib(server.pid);
    let clients = connect_and_join(server.port, conns, "ping").await;
    tokio::time::sleep(Duration::from_millis(500)).await;
    let after = rss_kib(server.pid);
    let per = (after.saturating_sub(before)) as f64 / conns as f64;
    println!("rss[{label}]: {conns} conns, 1 channel each: {before} KiB -> {after} KiB = {per:.2} KiB/conn");
    drop(clients);
    drop(server.child);
    per
}

fn unix_micros() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_micros() as u64
}

async fn fanout_figure(label: &str, extra: &[&str], subs: usize, broadcasts: usize) -> f64 {
    let server = spawn_server(extra).await;
    let clients = connect_and_join(server.port, subs, "ping:fanout").await;
    let counts: Arc<Vec<AtomicU64>> = Arc::new((0..subs).map(|_| AtomicU64::new(0)).collect());
    let last_recv: Arc<Vec<AtomicU64>> =
        Arc::new((0..broadcasts).map(|_| AtomicU64::new(0)).collect());
    let sent_at: Arc<Vec<AtomicU64>> =
        Arc::new((0..broadcasts).map(|_| AtomicU64::new(0)).collect());
    let done = Arc::new(AtomicU64::new(0));
    let mut readers = Vec::new();
    for (k, mut ws) in clients.into_iter().enumerate() {
        let (counts, last_recv, sent_at, done) = (
            counts.clone(),
            last_recv.clone(),
            sent_at.clone(),
            done.clone(),
        );
        readers.push(tokio::spawn(async move {
            let deadline = tokio::time::Instant::now() + Duration::from_secs(60);
            while let Ok(Some(Ok(msg))) = tokio::time::timeout_at(deadline, ws.next()).await {
                let Message::Text(t) = msg else { continue };
                let v: Value = serde_json::from_str(t.as_str()).unwrap();
                let i = v[4]["i"].as_u64().unwrap() as usize;
                sent_at[i].store(v[4]["t"].as_u64().unwrap(), Ordering::Relaxed);
                last_recv[i].fetch_max(unix_micros(), Ordering::Relaxed);
                if counts[k].fetch_add(1, Ordering::Relaxed) + 1 == broadcasts as u64 {
                    done.fetch_add(1, Ordering::Relaxed);
                    break;
                }
            }
            ws
        }));
    }
    let (self_cpu0, srv_cpu0) = (cpu_ticks("self"), cpu_ticks(&server.pid.to_string()));
    let started = Instant::now();
    let body = format!(
        r#"{{"topic":"ping:fanout","event":"tick","payload":{{"n":1}},"count":{broadcasts},"stamp":true}}"#
    );
    let resp = post(server.port, "/api/broadcast", &body).await;
    assert!(resp.starts_with("HTTP/1.1 200"), "{resp}");
    let publish_time = started.elapsed();
    let deadline = Instant::now() + Duration::from_secs(60);
    while done.load(Ordering::Relaxed) < subs as u64 && Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(1)).await;
    }
    let elapsed = started.elapsed();
    let (self_cpu, srv_cpu) = (
        cpu_ticks("self") - self_cpu0,
        cpu_ticks(&server.pid.to_string()) - srv_cpu0,
    );
    let delivered: u64 = counts.iter().map(|c| c.load(Ordering::Relaxed)).sum();
    let expected = (subs * broadcasts) as u64;
    let mut lat: Vec<u64> = (0..broadcasts)
        .map(|i| {
            last_recv[i]
                .load(Ordering::Relaxed)
                .saturating_sub(sent_at[i].load(Ordering::Relaxed))
        })
        .collect();
    lat.sort_unstable();
    let pct = |p: f64| lat[((lat.len() - 1) as f64 * p) as usize] as f64 / 1000.0;
    let rate = delivered as f64 / elapsed.as_secs_f64();
    let secs = elapsed.as_secs_f64();
    println!(
        "fanout[{label}]: {subs} subs x {broadcasts} broadcasts: delivered {delivered}/{expected} in {:.1} ms (publish loop {:.1} ms) = {:.0} deliveries/s; \
         publish->last receiver p50 {:.1} ms p99 {:.1} ms max {:.1} ms; CPU: server {:.0}% generator {:.0}% of one core",
        secs * 1000.0,
        publish_time.as_secs_f64() * 1000.0,
        rate,
        pct(0.5),
        pct(0.99),
        pct(1.0),
        srv_cpu as f64 / secs,
        self_cpu as f64 / secs,
    );
    assert_eq!(delivered, expected, "deliveries missing or extra");
    println!(
        "fanout[{label}]: server RSS after the burst: {} KiB",
        rss_kib(server.pid)
    );
    for r in readers {
        r.abort();
    }
    drop(server.child);
    rate
}

fn main() {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(async {
        let conns = env_num("PHX_BENCH_CONNS", 5000) as usize;
        let subs = env_num("PHX_BENCH_SUBS", 1000) as usize;
        let broadcasts = env_num("PHX_BENCH_BROADCASTS", 500) as usize;
        if conns > 0 {
            let small = rss_figure("configured: read 4 KiB, write 16 KiB", &[], conns).await;
            let default = rss_figure(
                "tungstenite defaults: read 128 KiB, write 128 KiB (baseline)",
                &["--ws-read-buffer", "131072", "--ws-write-buffer", "131072"],
                conns,
            )
            .await;
            println!("rss ratio baseline/configured: {:.1}x", default / small);
        }
        // Outbound queues are bounded in bytes (64 MiB per connection by default): no flag.
        let q: [&str; 0] = [];
        let eager = fanout_figure(
            "write buffer 0 (baseline)",
            &[&q[..], &["--ws-write-buffer", "0"]].concat(),
            subs,
            broadcasts,
        )
        .await;
        for (label, size) in [
            ("write buffer 16 KiB (configured)", "16384"),
            ("write buffer 64 KiB", "65536"),
        ] {
            let buffered = fanout_figure(
                label,
                &[&q[..], &["--ws-write-buffer", size]].concat(),
                subs,
                broadcasts,
            )
            .await;
            println!(
                "fanout ratio {label} / write buffer 0: {:.2}x",
                buffered / eager
            );
        }
    });
}
