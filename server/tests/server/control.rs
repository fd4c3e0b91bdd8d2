//! The control API and the `phx-server broadcast` CLI.

use phx_server::testing::TestServer;
use phx_server::{Compat, Config};
use serde_json::{json, Value};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

use crate::support::*;

/// A raw POST; returns (status, body).
pub async fn post(
    server: &TestServer,
    path: &str,
    bearer: Option<&str>,
    body: &str,
) -> (u16, String) {
    let auth = bearer
        .map(|t| format!("authorization: Bearer {t}\r\n"))
        .unwrap_or_default();
    let req = format!(
        "POST {path} HTTP/1.1\r\nhost: x\r\ncontent-type: application/json\r\n{auth}content-length: {}\r\nconnection: close\r\n\r\n{body}",
        body.len()
    );
    let (status, text) = http(server, &req).await;
    (status, crate::support::body(&text).to_owned())
}

#[tokio::test]
async fn broadcast_with_count_stamp_and_binary() {
    let server = start(Compat::V1_8).await;
    let mut c = v2(&server).await;
    exchange(
        &mut c,
        r#"["1","1","ping","phx_join",{}]"#,
        &[r#"["1","1","ping","phx_reply",{"response":{},"status":"ok"}]"#],
    )
    .await;
    let (status, body) = post(
        &server,
        "/api/broadcast",
        None,
        r#"{"topic":"ping","event":"tick","payload":{"k":"v"},"count":3,"stamp":true}"#,
    )
    .await;
    assert_eq!((status, body.as_str()), (200, r#"{"count":3,"ok":true}"#));
    for i in 0..3 {
        let p = c.assert_broadcast("ping", "tick").await;
        let p = p.as_json().unwrap();
        assert_eq!(p["i"], json!(i));
        assert_eq!(p["k"], json!("v"));
        assert!(p["t"].as_u64().unwrap() > 1_600_000_000_000_000);
    }
    let (status, _) = post(
        &server,
        "/api/broadcast",
        None,
        r#"{"topic":"ping","event":"bin","payload":{"$binary":"010203"}}"#,
    )
    .await;
    assert_eq!(status, 200);
    expect_hex(&mut c, "02040370696e6762696e010203").await;
}

#[tokio::test]
async fn token_and_disconnect_endpoints() {
    let server = start(Compat::V1_8).await;
    let (status, body) = post(
        &server,
        "/api/token",
        None,
        r#"{"salt":"salt identifier","data":1}"#,
    )
    .await;
    assert_eq!(status, 200, "{body}");
    let token = serde_json::from_str::<Value>(&body).unwrap()["token"]
        .as_str()
        .unwrap()
        .to_owned();
    let mut c = server
        .client("/auth_socket", &[("token", &token)])
        .await
        .expect("the token connects");
    // A fixed signed_at gives the same token as real Phoenix: deterministic.
    let (_, a) = post(
        &server,
        "/api/token",
        None,
        r#"{"salt":"s","data":1,"signed_at":1700000000}"#,
    )
    .await;
    let (_, b) = post(
        &server,
        "/api/token",
        None,
        r#"{"salt":"s","data":1,"signed_at":1700000000}"#,
    )
    .await;
    assert_eq!(a, b);
    let (status, _) = post(
        &server,
        "/api/disconnect",
        None,
        r#"{"socket_id":"auth_socket:1"}"#,
    )
    .await;
    assert_eq!(status, 200);
    assert_eq!(expect_close(&mut c).await, Some(1001));
}

#[tokio::test]
async fn bad_requests_get_json_errors() {
    let server = start(Compat::V1_8).await;
    for (path, body, want) in [
        ("/api/broadcast", "not json", 400),
        ("/api/broadcast", r#"{"topic":"ping"}"#, 400),
        (
            "/api/broadcast",
            r#"{"topic":"p","event":"e","payload":{"$binary":"zz"}}"#,
            400,
        ),
        (
            "/api/broadcast",
            r#"{"topic":"p","event":"e","payload":[1],"stamp":true}"#,
            400,
        ),
        (
            "/api/broadcast",
            r#"{"topic":"p","event":"e","count":100000000000}"#,
            400,
        ),
        ("/api/nope", "{}", 404),
        ("/api/dedupe", r#"{"numbers":"x"}"#, 400),
        (
            "/api/dedupe",
            r#"{"numbers":[1,2],"times":18446744073709551615}"#,
            400,
        ),
        ("/api/token", r#"{"salt":"s"}"#, 400),
        ("/api/disconnect", r#"{}"#, 400),
    ] {
        let (status, resp) = post(&server, path, None, body).await;
        assert_eq!(status, want, "{path} {body}: {resp}");
        let v: Value = serde_json::from_str(&resp).unwrap_or_else(|e| panic!("{resp}: {e}"));
        assert!(v["error"].as_str().is_some_and(|e| !e.is_empty()), "{resp}");
    }
}

#[tokio::test]
async fn control_is_off_by_default_and_can_require_a_token() {
    // Off: run() without --control.
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let (tx, rx) = tokio::sync::oneshot::channel::<()>();
    let task = tokio::spawn(phx_server::run(listener, Config::default(), async move {
        let _ = rx.await;
    }));
    let mut s = TcpStream::connect(addr).await.unwrap();
    s.write_all(b"POST /api/broadcast HTTP/1.1\r\nhost: x\r\ncontent-length: 2\r\nconnection: close\r\n\r\n{}").await.unwrap();
    let mut buf = String::new();
    let _ = tokio::time::timeout(WAIT, s.read_to_string(&mut buf)).await;
    assert!(buf.starts_with("HTTP/1.1 404"), "{buf}");
    let _ = tx.send(());
    task.await.unwrap().unwrap();

    let mut cfg = config(Compat::V1_8);
    cfg.control_token = Some("sekrit".into());
    let server = TestServer::start(cfg).await;
    let body = r#"{"topic":"ping","event":"e"}"#;
    assert_eq!(post(&server, "/api/broadcast", None, body).await.0, 401);
    assert_eq!(
        post(&server, "/api/broadcast", Some("wrong"), body).await.0,
        401
    );
    assert_eq!(
        post(&server, "/api/broadcast", Some("sekrit"), body)
            .await
            .0,
        200
    );
}

#[tokio::test]
async fn the_broadcast_cli_calls_the_control_api() {
    let server = start(Compat::V1_8).await;
    let mut c = v2(&server).await;
    exchange(
        &mut c,
        r#"["1","1","ping","phx_join",{}]"#,
        &[r#"["1","1","ping","phx_reply",{"response":{},"status":"ok"}]"#],
    )
    .await;
    let bin = env!("CARGO_BIN_EXE_phx-server");
    let url = server.http_url();
    let out = tokio::process::Command::new(bin)
        .args([
            "broadcast",
            "--control-url",
            &url,
            "ping",
            "request_ping",
            "{}",
        ])
        .output()
        .await
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    expect(
        &mut c,
        r#"["1",null,"ping","send_ping",{"from_node":"server@127.0.0.1"}]"#,
    )
    .await;
    let out = tokio::process::Command::new(bin)
        .args(["broadcast", "--control-url", &url, "ping", "e", "{not json"])
        .output()
        .await
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("not valid JSON"));
}
