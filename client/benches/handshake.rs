//! Handshake cost of wss:// against ws:// (not a timed test; `cargo test` does not run it).
//!
//! Run with: `cargo bench -p phx-client --bench handshake`
//!
//! Connects per second to phx-server in this process (one plain, one TLS server with a
//! certificate from a per-run test CA, ECDSA P-256): TCP connect, TLS handshake (wss), WebSocket
//! upgrade, then the connection is dropped. `PHX_BENCH_CONCURRENCY` (8) tasks connect in a loop
//! for `PHX_BENCH_SECS` (2) seconds per round; the modes alternate for `PHX_BENCH_ROUNDS` (5)
//! rounds and the median round of each is reported, with its ratio to ws:// from the same run.
//!
//! Modes: `ws`; `wss` with one shared `TlsConfig`, as a socket's reconnects use it (TLS 1.3
//! session resumption can apply); `wss-full`, a fresh `TlsConfig` per connect (full handshake
//! every time, plus building the config).

#![allow(clippy::unwrap_used, missing_docs)]

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use phx_client::{TcpConnector, TlsConfig, TlsOptions};
use phx_server::testing::certs::TestCa;
use phx_server::testing::TestServer;
use phx_server::Config;

fn env_num(name: &str, default: u64) -> u64 {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum Mode {
    Ws,
    Wss,
    WssFull,
}

impl Mode {
    fn name(self) -> &'static str {
        match self {
            Mode::Ws => "ws",
            Mode::Wss => "wss",
            Mode::WssFull => "wss-full",
        }
    }
}

/// One connect: stream (TLS for wss), WebSocket upgrade, drop.
async fn connect_once(url: &url::Url, tls: &TlsConfig) -> Result<(), String> {
    let io = phx_client::transport::open_stream(&TcpConnector, tls, url)
        .await
        .map_err(|e| e.to_string())?;
    let (ws, _) = tokio_tungstenite::client_async(url.as_str(), io)
        .await
        .map_err(|e| e.to_string())?;
    drop(ws);
    Ok(())
}

async fn round(mode: Mode, url: &url::Url, options: &TlsOptions, secs: u64, conc: u64) -> f64 {
    let shared = TlsConfig::new(options).unwrap();
    let done = Arc::new(AtomicU64::new(0));
    let start = Instant::now();
    let until = start + Duration::from_secs(secs);
    let mut tasks = Vec::new();
    for _ in 0..conc {
        let (url, options, shared, done) =
            (url.clone(), options.clone(), shared.clone(), done.clone());
        tasks.push(tokio::spawn(async move {
            // Bounded by time, and by count as a backstop.
            for _ in 0..1_000_000u32 {
                if Instant::now() >= until {
                    break;
                }
                let tls = match mode {
                    Mode::WssFull => TlsConfig::new(&options).unwrap(),
                    _ => shared.clone(),
                };
                connect_once(&url, &tls).await.unwrap();
                done.fetch_add(1, Ordering::Relaxed);
            }
        }));
    }
    for t in tasks {
        t.await.unwrap();
    }
    done.load(Ordering::Relaxed) as f64 / start.elapsed().as_secs_f64()
}

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(f64::total_cmp);
    v[v.len() / 2]
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() {
    let secs = env_num("PHX_BENCH_SECS", 2);
    let rounds = env_num("PHX_BENCH_ROUNDS", 5).max(1);
    let conc = env_num("PHX_BENCH_CONCURRENCY", 8).max(1);
    let ca = TestCa::new("bench CA").unwrap();
    let leaf = ca.issue(&["127.0.0.1"]).unwrap();
    let any: std::net::SocketAddr = "127.0.0.1:0".parse().unwrap();
    let plain = TestServer::start(Config::default()).await;
    let tls = TestServer::start_tls(any, Config::default(), leaf.acceptor().unwrap())
        .await
        .unwrap();
    let options = TlsOptions {
        ca_pem: vec![ca.cert_pem().into_bytes()],
        ..TlsOptions::default()
    };
    let ws_url = url::Url::parse(&format!("{}?vsn=2.0.0", plain.ws_url("/socket"))).unwrap();
    let wss_url = url::Url::parse(&format!("{}?vsn=2.0.0", tls.ws_url("/socket"))).unwrap();
    println!(
        "handshake bench: {rounds} rounds x {secs} s per mode, concurrency {conc}, 2 runtime threads"
    );
    let modes = [Mode::Ws, Mode::Wss, Mode::WssFull];
    let mut rates: Vec<Vec<f64>> = vec![Vec::new(); modes.len()];
    for r in 0..rounds {
        for (i, mode) in modes.iter().enumerate() {
            let url = if *mode == Mode::Ws { &ws_url } else { &wss_url };
            let rate = round(*mode, url, &options, secs, conc).await;
            println!("round {r} {:<8} {rate:>9.0} connects/s", mode.name());
            rates[i].push(rate);
        }
    }
    let medians: Vec<f64> = rates.into_iter().map(median).collect();
    println!("median connects/s (ratio to ws in this run):");
    for (mode, m) in modes.iter().zip(&medians) {
        println!("  {:<8} {m:>9.0}  x{:.2}", mode.name(), m / medians[0]);
    }
}
