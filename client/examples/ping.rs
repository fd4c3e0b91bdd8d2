//! Run with: cargo run -p phx-client --example ping [-- ws://127.0.0.1:4000/socket]
//!
//! The smallest round trip: connect, join `ping`, push `ping`, print the reply. Without a URL it
//! starts the reference phx-server in-process on a loopback port.

use phx_client::Socket;
use serde_json::json;

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let (_server, url) = match std::env::args().nth(1) {
        Some(url) => (None, url),
        None => {
            let server =
                phx_server::testing::TestServer::start(phx_server::Config::default()).await;
            let url = format!("ws://{}/socket", server.addr());
            (Some(server), url)
        }
    };
    let socket = Socket::builder(&url).build()?;
    socket.connect().await?;
    let ping = socket.channel("ping");
    ping.join(json!({})).await?;
    let reply = ping.push("ping", json!({"ack_phrase": "hello"})).await?;
    println!("{} replied {}: {:?}", url, reply.status, reply.response);
    socket.disconnect().await;
    Ok(())
}
