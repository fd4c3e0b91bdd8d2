//! Run with: cargo run --release -p phx-client --example rejoin_after_restart [-- ROUNDS]
//!
//! Measures the tutorial's scenario end to end: one socket with three channels; the reference
//! server is stopped (close 1012) and started again on the same port after an outage; the time
//! is taken from the restart until the *server* has all three channels joined again
//! (`TestServer::joined`). Default reconnect schedule (phoenix.js). Prints min/median/max per
//! outage length.

use std::time::{Duration, Instant};

use phx_client::Socket;
use phx_server::testing::TestServer;
use phx_server::Config;
use serde_json::json;

const TOPICS: [&str; 3] = ["ping", "dupe", "wild:1:2"];

fn all_joined(server: &TestServer) -> bool {
    let mut topics: Vec<String> = server.joined().into_iter().map(|j| j.topic).collect();
    topics.sort();
    let mut want: Vec<String> = TOPICS.iter().map(|t| t.to_string()).collect();
    want.sort();
    topics == want
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let rounds: usize = std::env::args()
        .nth(1)
        .and_then(|r| r.parse().ok())
        .unwrap_or(10)
        .clamp(1, 200);
    let mut server = TestServer::start(Config::default()).await;
    let addr = server.addr();
    let socket = Socket::builder(&format!("ws://{addr}/socket")).build()?;
    socket.connect().await?;
    let mut channels = Vec::new();
    for topic in TOPICS {
        let ch = socket.channel(topic);
        ch.join(json!({})).await?;
        channels.push(ch);
    }
    for outage in [
        Duration::ZERO,
        Duration::from_millis(100),
        Duration::from_millis(1000),
    ] {
        let mut samples = Vec::new();
        for _ in 0..rounds {
            server
                .wait_until("joined", Duration::from_secs(10), all_joined)
                .await?;
            server.stop().await;
            tokio::time::sleep(outage).await; // the simulated outage
            server = TestServer::start_on(addr, Config::default()).await?;
            let restarted = Instant::now();
            server
                .wait_until("rejoined", Duration::from_secs(10), all_joined)
                .await?;
            samples.push(restarted.elapsed());
        }
        samples.sort();
        println!(
            "outage {:>6?}: restart -> 3 channels rejoined: min {:?}, median {:?}, max {:?} ({} rounds)",
            outage,
            samples[0],
            samples[samples.len() / 2],
            samples[samples.len() - 1],
            rounds
        );
    }
    socket.disconnect().await;
    Ok(())
}
