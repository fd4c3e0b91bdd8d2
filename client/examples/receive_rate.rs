//! Receive-path bench: how fast phx-client takes fastlane broadcasts, whether it loses any, and
//! what an idle socket costs. `receive_rate.js` is the same program for phoenix.js, and
//! `receive_rate.sh` runs both against one phx-server in the same run.
//!
//! Run with: `bash client/examples/receive_rate.sh` (it builds, starts phx-server, runs both), or
//! by hand against a `phx-server --control` on PORT:
//! - `cargo run --release -p phx-client --example receive_rate -- rate ws://127.0.0.1:PORT/socket http://127.0.0.1:PORT SOCKETS MESSAGES`
//! - `cargo run --release -p phx-client --example receive_rate -- idle ws://127.0.0.1:PORT/socket SOCKETS`
//!
//! `rate`: SOCKETS sockets each join `ping:bench`; one control-API call broadcasts MESSAGES
//! events to the topic; every socket counts its events with one task that only counts. The rate
//! is all deliveries over the time from the first event received to the last. Prints one JSON
//! line with the rate and the number of events missing.
//!
//! `idle`: SOCKETS sockets each joined to one channel; prints the RSS growth per socket.
//!
//! The runtime is tokio's current-thread one (node runs phoenix.js on one thread too);
//! `RUNTIME=multi` uses the default multi-thread runtime instead.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use phx_client::{Channel, Socket};
use serde_json::json;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::time::Instant;

const TOPIC: &str = "ping:bench";

fn runtime_name() -> &'static str {
    if std::env::var("RUNTIME").is_ok_and(|r| r == "multi") {
        "phx-client (tokio multi-thread)"
    } else {
        "phx-client (tokio current-thread)"
    }
}

fn usage() -> ! {
    eprintln!("usage: receive_rate rate WS_URL CONTROL_URL SOCKETS MESSAGES | idle WS_URL SOCKETS");
    std::process::exit(2)
}

fn arg<T: std::str::FromStr>(args: &[String], i: usize) -> T {
    args.get(i)
        .and_then(|a| a.parse().ok())
        .unwrap_or_else(|| usage())
}

/// This process's CPU time (user + system), from /proc/self/stat (clock ticks of 10 ms).
fn cpu_secs() -> f64 {
    let stat = std::fs::read_to_string("/proc/self/stat").unwrap_or_default();
    // The fields after the parenthesised command name start at field 3 (state); utime and
    // stime are fields 14 and 15.
    let rest = stat.rsplit_once(')').map_or("", |(_, r)| r);
    let f: Vec<&str> = rest.split_whitespace().collect();
    let tick = |i: usize| f.get(i).and_then(|x| x.parse::<u64>().ok()).unwrap_or(0);
    (tick(11) + tick(12)) as f64 / 100.0
}

fn rss_kib() -> u64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("VmRSS:"))
                .and_then(|l| l.split_whitespace().nth(1)?.parse().ok())
        })
        .unwrap_or(0)
}

/// Opens `n` sockets, 100 at a time, each with `ping:bench` joined.
async fn open(url: &str, n: usize) -> Vec<(Socket, Channel)> {
    let mut out = Vec::with_capacity(n);
    let mut start = 0;
    while start < n {
        let batch = (start..n.min(start + 100)).map(|_| async {
            let socket = Socket::builder(url).build().expect("valid url");
            socket.connect().await.expect("connect");
            let channel = socket.channel(TOPIC);
            channel.join(json!({})).await.expect("join");
            (socket, channel)
        });
        out.extend(futures_util::future::join_all(batch).await);
        start += 100;
    }
    out
}

/// POSTs one broadcast request to the control API (plain HTTP/1.1 on loopback).
async fn broadcast(control: &str, count: u64) {
    let addr = control.trim_start_matches("http://").trim_end_matches('/');
    let body =
        json!({"topic": TOPIC, "event": "bench", "payload": {"n": 1}, "count": count}).to_string();
    let request = format!(
        "POST /api/broadcast HTTP/1.1\r\nhost: {addr}\r\ncontent-type: application/json\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{body}",
        body.len()
    );
    let mut stream = tokio::net::TcpStream::connect(addr)
        .await
        .expect("control API reachable");
    stream
        .write_all(request.as_bytes())
        .await
        .expect("request sent");
    let mut response = String::new();
    let _ = stream.read_to_string(&mut response).await;
    if !response.starts_with("HTTP/1.1 200") {
        eprintln!("broadcast failed: {response}");
        std::process::exit(1);
    }
}

async fn rate(url: &str, control: &str, sockets: usize, messages: u64) {
    let base = Instant::now();
    let first = Arc::new(AtomicU64::new(u64::MAX));
    let last = Arc::new(AtomicU64::new(0));
    let opened = open(url, sockets).await;
    // One counting task per socket; it only counts, with no timer of its own. The main task
    // watches the totals and gives up after 10 s without progress.
    let counts: Arc<Vec<AtomicU64>> = Arc::new((0..sockets).map(|_| AtomicU64::new(0)).collect());
    for (i, (_, channel)) in opened.iter().enumerate() {
        let mut events = channel.events();
        let (first, last, counts) = (first.clone(), last.clone(), counts.clone());
        tokio::spawn(async move {
            let mut got = 0u64;
            while got < messages {
                if events.recv().await.is_err() {
                    break; // Lagged would be a loss; Closed ends the count
                }
                if got == 0 {
                    first.fetch_min(base.elapsed().as_nanos() as u64, Ordering::Relaxed);
                }
                got += 1;
                if got % 256 == 0 || got == messages {
                    counts[i].store(got, Ordering::Relaxed);
                }
            }
            counts[i].store(got, Ordering::Relaxed);
            last.fetch_max(base.elapsed().as_nanos() as u64, Ordering::Relaxed);
        });
    }
    let cpu_before = cpu_secs();
    broadcast(control, messages).await;
    let expected = messages * sockets as u64;
    let total = || {
        counts
            .iter()
            .map(|c| c.load(Ordering::Relaxed))
            .sum::<u64>()
    };
    let (mut seen, mut progress_at) = (0, Instant::now());
    while seen < expected && progress_at.elapsed() < Duration::from_secs(10) {
        tokio::time::sleep(Duration::from_millis(20)).await;
        let now = total();
        if now > seen {
            (seen, progress_at) = (now, Instant::now());
        }
    }
    let received = total();
    // Up to the last event received (the 10 s silence that may follow a loss is not counted).
    let cpu = cpu_secs() - cpu_before;
    let first = Duration::from_nanos(first.load(Ordering::Relaxed));
    let last = Duration::from_nanos(last.load(Ordering::Relaxed));
    let secs = last.saturating_sub(first).as_secs_f64();
    let rate = if secs > 0.0 {
        received as f64 / secs
    } else {
        0.0
    };
    println!(
        "{}",
        json!({"client": runtime_name(), "mode": "rate", "sockets": sockets, "messages": messages,
               "received": received, "missing": expected - received.min(expected),
               "secs": secs, "rate": rate.round(), "cpu_secs": cpu,
               "events_per_cpu_sec": if cpu > 0.0 { (received as f64 / cpu).round() } else { 0.0 }})
    );
    drop(opened);
}

async fn idle(url: &str, sockets: usize) {
    // Warm the runtime and the allocator with one socket, so the figure is per extra socket.
    let warm = open(url, 1).await;
    tokio::time::sleep(Duration::from_millis(500)).await;
    let before = rss_kib();
    let opened = open(url, sockets).await;
    tokio::time::sleep(Duration::from_secs(2)).await;
    let after = rss_kib();
    let per = (after.saturating_sub(before)) as f64 / sockets as f64;
    println!(
        "{}",
        json!({"client": runtime_name(), "mode": "idle", "sockets": sockets,
               "rss_before_kib": before, "rss_after_kib": after, "kib_per_socket": (per * 10.0).round() / 10.0})
    );
    drop((warm, opened));
}

fn main() {
    // RUNTIME=multi: tokio's default multi-thread runtime; otherwise one thread, as node has.
    let multi = std::env::var("RUNTIME").is_ok_and(|r| r == "multi");
    let runtime = if multi {
        tokio::runtime::Builder::new_multi_thread()
            .enable_all()
            .build()
    } else {
        tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
    };
    runtime.expect("a tokio runtime").block_on(run());
}

async fn run() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    match args.first().map(String::as_str) {
        Some("rate") => {
            let url: String = arg(&args, 1);
            let control: String = arg(&args, 2);
            rate(&url, &control, arg(&args, 3), arg(&args, 4)).await
        }
        Some("idle") => {
            let url: String = arg(&args, 1);
            idle(&url, arg(&args, 2)).await
        }
        _ => usage(),
    }
}
