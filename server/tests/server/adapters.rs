//! `--adapter cowboy|bandit` over real WebSockets: the same frames, Bandit's close codes
//! (idle timeout 1002; disconnect by socket id 1011 on 1.7, 1001 on 1.8).

use std::time::Duration;

use phx_server::apps::hello_sockets::AUTH_SALT;
use phx_server::testing::TestServer;
use phx_server::{Adapter, Compat};
use serde_json::json;

use crate::support::*;

fn adapter_config(compat: Compat, adapter: Adapter) -> phx_server::Config {
    phx_server::Config {
        adapter,
        ..config(compat)
    }
}

#[tokio::test]
async fn disconnect_by_socket_id_uses_the_adapters_code() {
    for (compat, adapter, code) in [
        (Compat::V1_7, Adapter::Cowboy, 1000),
        (Compat::V1_7, Adapter::Bandit, 1011),
        (Compat::V1_8, Adapter::Cowboy, 1001),
        (Compat::V1_8, Adapter::Bandit, 1001),
    ] {
        let server = TestServer::start(adapter_config(compat, adapter)).await;
        let token = server.sign_token(AUTH_SALT, json!(1));
        let mut c = server
            .client("/auth_socket", &[("token", &token)])
            .await
            .unwrap();
        assert_eq!(c.join("user:1", json!({})).await.0, "ok");
        server.endpoint().disconnect("auth_socket:1");
        assert_eq!(expect_close(&mut c).await, Some(code), "{compat} {adapter}");
    }
}

#[tokio::test]
async fn the_idle_timeout_closes_1000_on_cowboy_and_1002_on_bandit() {
    for (adapter, code) in [(Adapter::Cowboy, 1000), (Adapter::Bandit, 1002)] {
        let mut cfg = adapter_config(Compat::V1_8, adapter);
        cfg.idle_timeout = Duration::from_millis(300);
        let server = TestServer::start(cfg).await;
        let mut c = v2(&server).await;
        let started = tokio::time::Instant::now();
        assert_eq!(expect_close(&mut c).await, Some(code), "{adapter}");
        assert!(started.elapsed() >= Duration::from_millis(300));
    }
}

#[tokio::test]
async fn the_adapter_does_not_change_any_frame() {
    for adapter in [Adapter::Cowboy, Adapter::Bandit] {
        let server = TestServer::start(adapter_config(Compat::V1_8, adapter)).await;
        let mut c = v2(&server).await;
        exchange(
            &mut c,
            r#"["1","1","ping","phx_join",{}]"#,
            &[r#"["1","1","ping","phx_reply",{"response":{},"status":"ok"}]"#],
        )
        .await;
        exchange(
            &mut c,
            r#"["1","2","ping","unknown",{}]"#,
            &[r#"["1","1","ping","phx_error",{"reason":"channel_crash"}]"#],
        )
        .await;
    }
}

#[tokio::test]
async fn phx_server_serve_takes_adapter_bandit() {
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let mut child = tokio::process::Command::new(env!("CARGO_BIN_EXE_phx-server"))
        .args(["serve", "--port", &port.to_string(), "--adapter", "bandit"])
        .args(["--idle-timeout-ms", "300"])
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .kill_on_drop(true)
        .spawn()
        .unwrap();
    let url = format!("ws://127.0.0.1:{port}/socket/websocket");
    let deadline = tokio::time::Instant::now() + WAIT;
    let mut c = loop {
        match phx_server::testing::TestClient::connect(&url, &[("vsn", "2.0.0")]).await {
            Ok(c) => break c,
            Err(e) => {
                assert!(tokio::time::Instant::now() < deadline, "server not up: {e}");
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
        }
    };
    assert_eq!(expect_close(&mut c).await, Some(1002));
    let _ = child.kill().await;
    let out = tokio::process::Command::new(env!("CARGO_BIN_EXE_phx-server"))
        .args(["serve", "--adapter", "apache"])
        .output()
        .await
        .unwrap();
    assert_eq!(out.status.code(), Some(2), "a usage error");
}
