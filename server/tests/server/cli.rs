//! The `phx-server serve` binary: env configuration, serving, and SIGTERM → sockets closed
//! with 1012 and exit 0.

use std::process::Stdio;
use std::time::Duration;

use phx_server::testing::TestClient;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::process::Command;

use crate::support::*;

#[tokio::test]
async fn serve_reads_env_and_drains_on_sigterm() {
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let mut child = Command::new(env!("CARGO_BIN_EXE_phx-server"))
        .arg("serve")
        .env("PORT", port.to_string())
        .env("NODE_NAME", "cli@127.0.0.1")
        .env("RUST_LOG", "warn")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .kill_on_drop(true)
        .spawn()
        .unwrap();
    let deadline = tokio::time::Instant::now() + WAIT;
    let mut s = loop {
        match TcpStream::connect(("127.0.0.1", port)).await {
            Ok(s) => break s,
            Err(_) if tokio::time::Instant::now() < deadline => {
                tokio::time::sleep(Duration::from_millis(20)).await
            }
            Err(e) => panic!("phx-server did not start: {e}"),
        }
    };
    s.write_all(b"GET / HTTP/1.1\r\nhost: x\r\nconnection: close\r\n\r\n")
        .await
        .unwrap();
    let mut resp = String::new();
    s.read_to_string(&mut resp).await.unwrap();
    assert!(
        resp.ends_with(r#"{"node":"cli@127.0.0.1","ok":true}"#),
        "{resp}"
    );

    let url = format!("ws://127.0.0.1:{port}/socket/websocket");
    let mut c = TestClient::connect(&url, &[]).await.unwrap();
    exchange(
        &mut c,
        r#"["1","1","ping","phx_join",{}]"#,
        &[r#"["1","1","ping","phx_reply",{"response":{},"status":"ok"}]"#],
    )
    .await;
    let pid = child.id().unwrap().to_string();
    let killed = Command::new("kill")
        .args(["-TERM", &pid])
        .status()
        .await
        .unwrap();
    assert!(killed.success());
    assert_eq!(expect_close(&mut c).await, Some(1012));
    let status = tokio::time::timeout(WAIT, child.wait())
        .await
        .expect("exits after draining")
        .unwrap();
    assert!(status.success(), "{status}");
}

#[tokio::test]
async fn serve_refuses_a_short_secret_key_base_and_a_busy_port() {
    let out = Command::new(env!("CARGO_BIN_EXE_phx-server"))
        .args(["serve", "--port", "0"])
        .env("SECRET_KEY_BASE", "too short")
        .output()
        .await
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("at least 64 bytes"));

    let busy = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = busy.local_addr().unwrap().port().to_string();
    let out = Command::new(env!("CARGO_BIN_EXE_phx-server"))
        .args(["serve", "--port", &port])
        .output()
        .await
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("cannot listen on"),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}
