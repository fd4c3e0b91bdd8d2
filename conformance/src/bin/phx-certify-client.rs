//! The `phx certify` contract client built on phx-client: joins every topic of
//! `PHX_CERTIFY_TOPICS` on `PHX_CERTIFY_URL` with the heartbeat of `PHX_CERTIFY_HEARTBEAT_MS`,
//! and answers every `echo` with an `echo_reply` of the same payload. Reconnects, rejoins and
//! buffering are phx-client's own. Certify it with `phx certify -- phx-certify-client`.

use std::time::Duration;

use phx_client::Socket;
use serde_json::json;

fn env(name: &str) -> Result<String, String> {
    std::env::var(name).map_err(|_| format!("{name} is not set (run me under `phx certify`)"))
}

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), String> {
    let url = env("PHX_CERTIFY_URL")?;
    let heartbeat = Duration::from_millis(
        env("PHX_CERTIFY_HEARTBEAT_MS")?
            .parse()
            .map_err(|e| format!("PHX_CERTIFY_HEARTBEAT_MS: {e}"))?,
    );
    let socket = Socket::builder(&url)
        .heartbeat_interval(heartbeat)
        .heartbeat_timeout(heartbeat) // as phoenix.js: the next tick without a reply closes the link
        .build()
        .map_err(|e| e.to_string())?;
    let _ = socket.connect().await; // a first failure keeps retrying on the reconnect schedule
    for topic in env("PHX_CERTIFY_TOPICS")?.split(',') {
        let channel = socket.channel(topic);
        let mut echoes = channel.on("echo");
        tokio::spawn(async move {
            let _ = channel.join(json!({})).await; // a refused join is retried on the rejoin schedule
            while let Ok(ev) = echoes.recv().await {
                let ch = channel.clone();
                tokio::spawn(async move { ch.push("echo_reply", ev.payload).await });
            }
        });
    }
    std::future::pending().await
}
