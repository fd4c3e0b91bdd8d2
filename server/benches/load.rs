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
//! 3. Connect+join rate at concurrency 100 (`PHX_BENCH_CONNS` sockets, each `phx_join` answered),
//!    in `PHX_BENCH_ROUNDS` (3) rounds alternating the bare server and phx-server; the median
//!    of the per-round ratios is reported.
//!
//! Each figure is also measured, in the same run, on a bare tokio-tungstenite server (this bench
//! binary re-run as a child with `PHX_BENCH_BARE_PORT` set): the WebSocket handshake, a reply to
//! the join built with serde_json, and a fastlane that encodes each broadcast once and hands the
//! same bytes to every socket's coalescing writer. It is the ceiling a Phoenix-speaking server
//! built on tokio-tungstenite can approach; the figures are reported as ratios to it.
//!
//! The servers are child processes (`phx-server` release binary, the bare server); clients live
//! in this process. Every loop is bounded by count and time.

#![allow(clippy::unwrap_used, missing_docs)]

mod common;

use common::{cpu_ticks, rss_kib, Server};

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use futures_util::{SinkExt, StreamExt};
use serde_json::Value;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::process::Command;
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

/// Which server a figure is measured on.
#[derive(Clone, Copy)]
enum Kind<'a> {
    /// The release `phx-server serve --control` with these extra flags.
    Phx(&'a [&'a str]),
    /// The bare tokio-tungstenite server ([`bare`]).
    Bare,
}

async fn spawn_server(kind: Kind<'_>) -> Server {
    let port = common::free_port();
    let command = match kind {
        Kind::Phx(extra) => {
            let mut c = common::phx_server(port, &["--control"]);
            c.args(extra);
            c
        }
        Kind::Bare => {
            let mut c = Command::new(std::env::current_exe().unwrap());
            c.env(bare::PORT_VAR, port.to_string());
            c
        }
    };
    common::start(command, port, "warn").await
}

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(f64::total_cmp);
    v[v.len() / 2]
}

/// Connects `n` sockets and joins `topic` on each, 100 at a time (100 workers, each connecting
/// and joining its share one after the other); returns the sockets and connect+join per second.
async fn connect_and_join(port: u16, n: usize, topic: &str) -> (Vec<Ws>, f64) {
    const CONCURRENCY: usize = 100;
    let url = format!("ws://127.0.0.1:{port}/socket/websocket?vsn=2.0.0");
    let cfg = WebSocketConfig::default()
        .read_buffer_size(4096)
        .write_buffer_size(0);
    let started = Instant::now();
    let mut workers = Vec::new();
    for w in 0..CONCURRENCY.min(n) {
        let share = n / CONCURRENCY.min(n) + usize::from(w < n % CONCURRENCY.min(n));
        let (url, topic) = (url.clone(), topic.to_owned());
        workers.push(tokio::spawn(async move {
            let mut mine = Vec::with_capacity(share);
            for _ in 0..share {
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
                mine.push(ws);
                assert!(
                    started.elapsed() < Duration::from_secs(120),
                    "connecting took too long"
                );
            }
            mine
        }));
    }
    let mut out = Vec::with_capacity(n);
    for w in workers {
        out.extend(w.await.unwrap());
    }
    let rate = n as f64 / started.elapsed().as_secs_f64();
    (out, rate)
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

/// Connect+join rate and RSS per idle joined socket, `conns` sockets.
async fn idle_figure(label: &str, kind: Kind<'_>, conns: usize) -> (f64, f64) {
    let server = spawn_server(kind).await;
    tokio::time::sleep(Duration::from_millis(300)).await;
    let before = rss_kib(server.pid);
    let (clients, rate) = connect_and_join(server.port, conns, "ping").await;
    tokio::time::sleep(Duration::from_millis(500)).await;
    let after = rss_kib(server.pid);
    let per = (after.saturating_sub(before)) as f64 / conns as f64;
    println!("connect+join[{label}]: {conns} sockets at concurrency 100: {rate:.0}/s");
    println!("rss[{label}]: {conns} conns, 1 channel each: {before} KiB -> {after} KiB = {per:.2} KiB/conn");
    drop(clients);
    drop(server.child);
    (rate, per)
}

fn unix_micros() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_micros() as u64
}

async fn fanout_figure(label: &str, kind: Kind<'_>, subs: usize, broadcasts: usize) -> f64 {
    let server = spawn_server(kind).await;
    let (clients, _) = connect_and_join(server.port, subs, "ping:fanout").await;
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
    match kind {
        Kind::Phx(_) => {
            let body = format!(
                r#"{{"topic":"ping:fanout","event":"tick","payload":{{"n":1}},"count":{broadcasts},"stamp":true}}"#
            );
            let resp = post(server.port, "/api/broadcast", &body).await;
            assert!(resp.starts_with("HTTP/1.1 200"), "{resp}");
        }
        Kind::Bare => bare::publish(server.port, broadcasts).await,
    }
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
    if let Ok(port) = std::env::var(bare::PORT_VAR) {
        bare::serve(port.parse().unwrap());
        return;
    }
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(async {
        let conns = env_num("PHX_BENCH_CONNS", 5000) as usize;
        let subs = env_num("PHX_BENCH_SUBS", 1000) as usize;
        let broadcasts = env_num("PHX_BENCH_BROADCASTS", 500) as usize;
        if conns > 0 {
            // Bare and phx-server alternate, so that load from elsewhere on the machine hits
            // both alike; the median of the per-round ratios is the figure.
            let rounds = env_num("PHX_BENCH_ROUNDS", 3).max(1) as usize;
            let (mut rate_ratios, mut rss, mut bare_rss) = (Vec::new(), Vec::new(), Vec::new());
            for round in 1..=rounds {
                let (b_rate, b_rss) = idle_figure(&format!("bare tokio-tungstenite, round {round}"), Kind::Bare, conns).await;
                let (p_rate, p_rss) = idle_figure(&format!("phx-server: read 4 KiB, write 16 KiB, round {round}"), Kind::Phx(&[]), conns).await;
                println!("connect+join ratio phx-server / bare, round {round}: {:.2}", p_rate / b_rate);
                rate_ratios.push(p_rate / b_rate);
                rss.push(p_rss);
                bare_rss.push(b_rss);
            }
            let (_, default) = idle_figure(
                "phx-server, tungstenite defaults: read 128 KiB, write 128 KiB",
                Kind::Phx(&["--ws-read-buffer", "131072", "--ws-write-buffer", "131072"]),
                conns,
            )
            .await;
            let (ratio, rss, bare_rss) = (median(rate_ratios), median(rss), median(bare_rss));
            println!("connect+join ratio phx-server / bare (median of {rounds}): {ratio:.2}");
            println!("rss per idle joined socket (median of {rounds}): phx-server {rss:.2} KiB, bare {bare_rss:.2} KiB");
            println!("rss ratio tungstenite defaults / configured: {:.1}x", default / rss);
        }
        let bare = fanout_figure("bare tokio-tungstenite", Kind::Bare, subs, broadcasts).await;
        // Outbound queues are bounded in bytes (64 MiB per connection by default): no flag.
        let q: [&str; 0] = [];
        let eager = fanout_figure(
            "phx-server, write buffer 0",
            Kind::Phx(&[&q[..], &["--ws-write-buffer", "0"]].concat()),
            subs,
            broadcasts,
        )
        .await;
        println!(
            "fanout ratio phx-server write buffer 0 / bare: {:.2}",
            eager / bare
        );
        for (label, size) in [
            ("phx-server, write buffer 16 KiB (configured)", "16384"),
            ("phx-server, write buffer 64 KiB", "65536"),
        ] {
            let buffered = fanout_figure(
                label,
                Kind::Phx(&[&q[..], &["--ws-write-buffer", size]].concat()),
                subs,
                broadcasts,
            )
            .await;
            println!("fanout ratio {label} / bare: {:.2}", buffered / bare);
            println!(
                "fanout ratio {label} / write buffer 0: {:.2}x",
                buffered / eager
            );
        }
    });
}

/// The bare tokio-tungstenite server: the baseline every figure is compared with.
mod bare {
    use std::sync::{Arc, Mutex};
    use std::time::Duration;

    use futures_util::{SinkExt, StreamExt};
    use serde_json::{json, Value};
    use tokio::net::{TcpListener, TcpStream};
    use tokio::sync::mpsc;
    use tokio_tungstenite::tungstenite::protocol::WebSocketConfig;
    use tokio_tungstenite::tungstenite::{Message, Utf8Bytes};

    /// Set to a port: this binary serves the bare server there instead of running the bench.
    pub const PORT_VAR: &str = "PHX_BENCH_BARE_PORT";
    /// A text frame that asks the bare server to publish N stamped broadcasts to every joined socket.
    const FANOUT: &str = "fanout ";

    type Subscribers = Arc<Mutex<Vec<mpsc::Sender<Message>>>>;

    pub fn serve(port: u16) {
        let rt = tokio::runtime::Builder::new_multi_thread()
            .enable_all()
            .build()
            .unwrap();
        rt.block_on(async {
            let listener = TcpListener::bind(("127.0.0.1", port)).await.unwrap();
            let subs = Subscribers::default();
            loop {
                let Ok((tcp, _)) = listener.accept().await else {
                    continue;
                };
                let _ = tcp.set_nodelay(true);
                tokio::spawn(connection(tcp, subs.clone()));
            }
        });
    }

    async fn connection(tcp: TcpStream, subs: Subscribers) {
        // The same buffers and queue bound as phx-server's defaults in this bench.
        let cfg = WebSocketConfig::default()
            .read_buffer_size(4096)
            .write_buffer_size(16 * 1024);
        let Ok(ws) = tokio_tungstenite::accept_async_with_config(tcp, Some(cfg)).await else {
            return;
        };
        let (mut sink, mut stream) = ws.split();
        let (tx, mut rx) = mpsc::channel::<Message>(4096);
        tokio::spawn(async move {
            while let Some(first) = rx.recv().await {
                if sink.feed(first).await.is_err() {
                    return;
                }
                while let Ok(next) = rx.try_recv() {
                    if sink.feed(next).await.is_err() {
                        return;
                    }
                }
                if sink.flush().await.is_err() {
                    return;
                }
            }
        });
        while let Some(Ok(msg)) = stream.next().await {
            let Message::Text(text) = msg else { continue };
            if let Some(n) = text.strip_prefix(FANOUT) {
                publish_all(n.parse().unwrap_or(0), &subs).await;
                let _ = tx.try_send(Message::text("done"));
                continue;
            }
            let Ok(v) = serde_json::from_str::<Value>(&text) else {
                continue;
            };
            if v[3] == "phx_join" {
                subs.lock().unwrap().push(tx.clone());
            }
            let reply = json!([v[0], v[1], v[2], "phx_reply", {"response": {}, "status": "ok"}]);
            let _ = tx.try_send(Message::text(reply.to_string()));
        }
    }

    /// Each broadcast encoded once; the same bytes go to every subscriber's writer.
    async fn publish_all(count: u64, subs: &Subscribers) {
        let targets: Vec<_> = subs.lock().unwrap().clone();
        for i in 0..count {
            let frame = json!([null, null, "ping:fanout", "tick", {"n": 1, "i": i, "t": super::unix_micros()}]);
            let frame = Utf8Bytes::from(frame.to_string());
            for t in &targets {
                let _ = t.try_send(Message::Text(frame.clone()));
            }
            if i % 64 == 63 {
                tokio::task::yield_now().await;
            }
        }
    }

    /// Asks the bare server at `port` to publish `count` broadcasts; returns once it has.
    pub async fn publish(port: u16, count: usize) {
        let url = format!("ws://127.0.0.1:{port}/");
        let (mut ws, _) = tokio_tungstenite::connect_async(&url).await.unwrap();
        ws.send(Message::text(format!("{FANOUT}{count}")))
            .await
            .unwrap();
        let done = tokio::time::timeout(Duration::from_secs(60), ws.next()).await;
        assert!(matches!(done, Ok(Some(Ok(Message::Text(t)))) if t == "done"));
    }
}
