//! Shared helpers: start servers, send raw frames, expect exact frames.

use std::time::Duration;

use phx_protocol::Frame;
use phx_server::testing::{RecvError, TestClient, TestServer};
use phx_server::{Compat, Config};

/// Generous wait for things that must happen (never reached when the server is right).
pub const WAIT: Duration = Duration::from_secs(5);
/// How long "nothing arrives" is watched.
pub const QUIET: Duration = Duration::from_millis(300);

pub fn config(compat: Compat) -> Config {
    Config {
        compat,
        node_name: "server@127.0.0.1".into(),
        ..Config::default()
    }
}

pub async fn start(compat: Compat) -> TestServer {
    TestServer::start(config(compat)).await
}

/// A V2 client on `/socket`.
pub async fn v2(server: &TestServer) -> TestClient {
    server
        .client("/socket", &[("vsn", "2.0.0")])
        .await
        .expect("connect /socket")
}

pub async fn send(c: &mut TestClient, text: &str) {
    c.send_text(text).await.expect("send");
}

/// The next frame must be exactly `text`.
pub async fn expect(c: &mut TestClient, text: &str) {
    match c.recv_frame(WAIT).await {
        Ok(Frame::Text(got)) => assert_eq!(got, text),
        Ok(Frame::Binary(b)) => panic!("expected {text}, got binary {}", hex::encode(b)),
        Err(e) => panic!("expected {text}, got {e}"),
    }
}

/// The next frame must be this binary frame (hex).
pub async fn expect_hex(c: &mut TestClient, hex_frame: &str) {
    match c.recv_frame(WAIT).await {
        Ok(Frame::Binary(b)) => assert_eq!(hex::encode(b), hex_frame),
        Ok(Frame::Text(t)) => panic!("expected binary {hex_frame}, got {t}"),
        Err(e) => panic!("expected binary {hex_frame}, got {e}"),
    }
}

/// Nothing arrives for [`QUIET`].
pub async fn expect_silence(c: &mut TestClient) {
    match c.recv_frame(QUIET).await {
        Err(RecvError::Timeout) => {}
        Ok(f) => panic!("expected silence, got {f:?}"),
        Err(e) => panic!("expected silence, got {e}"),
    }
}

/// Sends and expects exactly the listed frames back, in order.
pub async fn exchange(c: &mut TestClient, text: &str, replies: &[&str]) {
    send(c, text).await;
    for r in replies {
        expect(c, r).await;
    }
}

/// The server closes the connection; returns the close code.
pub async fn expect_close(c: &mut TestClient) -> Option<u16> {
    match c.recv_frame(WAIT).await {
        Err(RecvError::Closed(code)) => code,
        other => panic!("expected a close, got {other:?}"),
    }
}

/// A raw HTTP/1.1 exchange over a fresh TCP connection: returns (status, the whole response text).
/// Raw on purpose: the tests check exact status lines, headers and empty bodies.
pub async fn http(server: &TestServer, request: &str) -> (u16, String) {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let mut s = tokio::net::TcpStream::connect(server.addr()).await.unwrap();
    s.write_all(request.as_bytes()).await.unwrap();
    let mut buf = Vec::new();
    let _ = tokio::time::timeout(WAIT, s.read_to_end(&mut buf)).await;
    let text = String::from_utf8_lossy(&buf).into_owned();
    let status = text
        .split_whitespace()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or(0);
    (status, text)
}

/// The body of a raw HTTP response.
pub fn body(resp: &str) -> &str {
    resp.split_once("\r\n\r\n").map(|(_, b)| b).unwrap_or("")
}
