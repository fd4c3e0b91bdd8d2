//! Run with: cargo run -p phx-client --example recurring_token [-- ws://127.0.0.1:4000/auth_socket TOKEN]
//!
//! The tutorial's RecurringChannel: the server pushes a fresh `new_token` every few seconds, and
//! the client uses the latest one as the `token` connect param of its next reconnect (the
//! params closure is called again at every attempt). Without arguments it starts the reference
//! server in-process (tokens every 500 ms), then drops every connection to show the reconnect
//! with the refreshed token.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use phx_client::{ChannelStatus, Socket};
use serde_json::json;

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let mut args = std::env::args().skip(1);
    let (server, url, first_token) = match (args.next(), args.next()) {
        (Some(url), Some(token)) => (None, url, token),
        _ => {
            use phx_server::apps::hello_sockets::{HelloSockets, HelloSocketsConfig};
            let app = HelloSocketsConfig::default().recurring_interval(Duration::from_millis(500));
            let server = phx_server::testing::TestServer::start_app(
                phx_server::Config::default(),
                HelloSockets::new(app),
                None,
            )
            .await;
            let token = server.sign_token("salt identifier", json!(1));
            let url = format!("ws://{}/auth_socket", server.addr());
            (Some(server), url, token)
        }
    };

    let token = Arc::new(Mutex::new(first_token));
    let params_token = token.clone();
    let socket = Socket::builder(&url)
        .params_with(move || {
            let t = params_token.lock().map(|t| t.clone()).unwrap_or_default();
            println!(
                "connecting with token …{}",
                &t[t.len().saturating_sub(12)..]
            );
            vec![("token".to_owned(), t)]
        })
        .build()?;
    socket.connect().await?;

    let recurring = socket.channel("recurring");
    let mut new_tokens = recurring.on("new_token");
    recurring.join(json!({})).await?;

    // Each new token becomes the next reconnect's param. Bounded demo: six tokens or 30 s.
    let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
    for n in 1..=6 {
        let ev = tokio::time::timeout_at(deadline, new_tokens.recv()).await??;
        if let Some(t) = ev.payload.as_json().and_then(|p| p["token"].as_str()) {
            println!("new_token #{n}: …{}", &t[t.len().saturating_sub(12)..]);
            if let Ok(mut slot) = token.lock() {
                *slot = t.to_owned();
            }
        }
        if n == 3 {
            if let Some(server) = &server {
                println!("server drops every connection");
                server.drop_all_connections();
                socket
                    .wait_for(Duration::from_secs(10), |s| s.generation() == Some(2))
                    .await?;
                recurring
                    .wait_for(Duration::from_secs(10), |s| *s == ChannelStatus::Joined)
                    .await?;
                println!("reconnected and rejoined recurring");
            }
        }
    }
    socket.disconnect().await;
    Ok(())
}
