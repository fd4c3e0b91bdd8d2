//! The endpoint and transport: upgrades, vsn, origin, invalid frames, idle timeout,
//! disconnect by id, frame size, shutdown.

use std::time::Duration;

use phx_protocol::Vsn;
use phx_server::apps::hello_sockets::AUTH_SALT;
use phx_server::testing::{ClientError, TestClient, TestServer};
use phx_server::Compat;
use serde_json::json;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio_tungstenite::tungstenite::Message as WsMessage;

use crate::support::*;

#[tokio::test]
async fn get_root_reports_the_node() {
    let server = start(Compat::V1_8).await;
    let (status, resp) = http(
        &server,
        "GET / HTTP/1.1\r\nhost: x\r\nconnection: close\r\n\r\n",
    )
    .await;
    assert_eq!(status, 200);
    assert_eq!(body(&resp), r#"{"node":"server@127.0.0.1","ok":true}"#);
}

#[tokio::test]
async fn vsn_negotiation_refusals() {
    for compat in [Compat::V1_7, Compat::V1_8] {
        let server = start(compat).await;
        for bad in ["vsn=3.0.0", "vsn=abc", "vsn=", "vsn=2"] {
            let url = format!("{}?{bad}", server.ws_url("/socket"));
            match TestClient::connect_raw(&url, Vsn::V2).await {
                Err(ClientError::Refused { status: 403, body }) => assert_eq!(body, ""),
                Err(e) => panic!("{bad}: expected 403, got {e}"),
                Ok(_) => panic!("{bad}: expected 403"),
            }
        }
        let url = format!("{}?vsn[]=2.0.0", server.ws_url("/socket"));
        match (compat, TestClient::connect_raw(&url, Vsn::V2).await) {
            (Compat::V1_7, Err(ClientError::Refused { status: 500, body })) => {
                assert_eq!(body, r#"{"errors":{"detail":"Internal Server Error"}}"#)
            }
            (Compat::V1_8, Err(ClientError::Refused { status: 403, body })) => assert_eq!(body, ""),
            (_, other) => panic!("{compat}: vsn list gave {:?}", other.err()),
        }
    }
    // And the 1.7 500 is JSON.
    let server = start(Compat::V1_7).await;
    let (status, resp) = http(
        &server,
        "GET /socket/websocket?vsn[]=2.0.0 HTTP/1.1\r\nhost: x\r\nconnection: Upgrade\r\nupgrade: websocket\r\nsec-websocket-version: 13\r\nsec-websocket-key: dGhlIHNhbXBsZSBub25jZQ==\r\n\r\n",
    )
    .await;
    assert_eq!(status, 500);
    assert!(
        resp.to_ascii_lowercase()
            .contains("content-type: application/json"),
        "{resp}"
    );
}

#[tokio::test]
async fn a_bad_upgrade_is_400_and_a_bad_method_too() {
    let server = start(Compat::V1_8).await;
    let (status, _) = http(
        &server,
        "GET /socket/websocket?vsn=2.0.0 HTTP/1.1\r\nhost: x\r\nconnection: close\r\n\r\n",
    )
    .await;
    assert_eq!(status, 400);
    let (status, _) = http(&server, "POST /socket/websocket HTTP/1.1\r\nhost: x\r\ncontent-length: 0\r\nconnection: close\r\n\r\n").await;
    assert_eq!(status, 400);
}

#[tokio::test]
async fn check_origin_refuses_foreign_origins_and_allows_a_missing_one() {
    let mut cfg = config(Compat::V1_8);
    cfg.check_origin = Some(vec!["https://example.com".into()]);
    let server = TestServer::start(cfg).await;
    let upgrade = |origin: Option<&str>| {
        let o = origin
            .map(|o| format!("origin: {o}\r\n"))
            .unwrap_or_default();
        format!("GET /socket/websocket?vsn=2.0.0 HTTP/1.1\r\nhost: x\r\n{o}connection: Upgrade\r\nupgrade: websocket\r\nsec-websocket-version: 13\r\nsec-websocket-key: dGhlIHNhbXBsZSBub25jZQ==\r\n\r\n")
    };
    let (status, _) = http(&server, &upgrade(Some("https://evil.com"))).await;
    assert_eq!(status, 403);
    // 101 responses keep the connection open: read just the status line.
    for origin in [Some("https://example.com"), None] {
        let mut s = TcpStream::connect(server.addr()).await.unwrap();
        s.write_all(upgrade(origin).as_bytes()).await.unwrap();
        let mut buf = [0u8; 12];
        s.read_exact(&mut buf).await.unwrap();
        assert_eq!(&buf, b"HTTP/1.1 101", "{origin:?}");
    }
}

#[tokio::test]
async fn undecodable_frames_close_with_1011_and_no_phoenix_frame() {
    let server = start(Compat::V1_8).await;
    let cases: Vec<(Vsn, WsMessage)> = vec![
        (Vsn::V2, WsMessage::Text("not json".into())),
        (Vsn::V2, WsMessage::Text(r#"{"topic":"ping"}"#.into())),
        (
            Vsn::V2,
            WsMessage::Text(r#"["1","1","ping","phx_join"]"#.into()),
        ),
        (Vsn::V2, WsMessage::Text("".into())),
        (Vsn::V2, WsMessage::Binary(vec![9u8, 1, 2].into())),
        (Vsn::V2, WsMessage::Binary(Vec::new().into())),
        (
            Vsn::V1,
            WsMessage::Text(r#"["1","1","ping","phx_join",{}]"#.into()),
        ),
        (
            Vsn::V1,
            WsMessage::Text(r#"{"topic":"ping","event":"phx_join"}"#.into()),
        ),
        (Vsn::V1, WsMessage::Binary(vec![0u8, 1, 1, 4, 4].into())),
    ];
    for (vsn, frame) in cases {
        let mut c = server
            .client("/socket", &[("vsn", vsn.as_str())])
            .await
            .unwrap();
        let desc = format!("{vsn} {frame:?}");
        c.send_raw(frame).await.unwrap();
        assert_eq!(expect_close(&mut c).await, Some(1011), "{desc}");
    }
    // A 6-element array is fine (extra element ignored), the server still serves.
    let mut c = v2(&server).await;
    exchange(
        &mut c,
        r#"["1","1","ping","phx_join",{},"extra"]"#,
        &[r#"["1","1","ping","phx_reply",{"response":{},"status":"ok"}]"#],
    )
    .await;
}

#[tokio::test]
async fn idle_sockets_are_closed_with_1000() {
    let mut cfg = config(Compat::V1_8);
    cfg.idle_timeout = Duration::from_millis(600);
    let server = TestServer::start(cfg).await;
    let mut quiet = v2(&server).await;
    let mut chatty = v2(&server).await;
    let started = tokio::time::Instant::now();
    let quiet = tokio::spawn(async move {
        let code = expect_close(&mut quiet).await;
        (code, started.elapsed())
    });
    // The chatty client keeps its socket alive past the timeout.
    for i in 0..10 {
        tokio::time::sleep(Duration::from_millis(100)).await;
        exchange(
            &mut chatty,
            &format!(r#"[null,"{i}","phoenix","heartbeat",{{}}]"#),
            &[&format!(
                r#"[null,"{i}","phoenix","phx_reply",{{"response":{{}},"status":"ok"}}]"#
            )],
        )
        .await;
    }
    let (code, closed_after) = quiet.await.unwrap();
    assert_eq!(code, Some(1000));
    assert!(
        closed_after >= Duration::from_millis(600),
        "closed after {closed_after:?}"
    );
    assert_eq!(expect_close(&mut chatty).await, Some(1000));
}

#[tokio::test]
async fn disconnect_by_socket_id_closes_without_channel_frames() {
    for (compat, code) in [(Compat::V1_7, 1000), (Compat::V1_8, 1001)] {
        let server = start(compat).await;
        let token = server.sign_token(AUTH_SALT, json!(1));
        let mut c1 = server
            .client("/auth_socket", &[("token", &token)])
            .await
            .unwrap();
        let other = server.sign_token(AUTH_SALT, json!(2));
        let mut c2 = server
            .client("/auth_socket", &[("token", &other)])
            .await
            .unwrap();
        assert_eq!(c1.join("user:1", json!({})).await.0, "ok");
        assert_eq!(c1.join("ping", json!({})).await.0, "ok");
        // Other broadcasts on the id topic are ignored.
        server.broadcast("auth_socket:1", "something_else", json!({}).into());
        server.endpoint().disconnect("auth_socket:1");
        assert_eq!(expect_close(&mut c1).await, Some(code), "{compat}");
        assert_eq!(
            c2.join("user:2", json!({})).await.0,
            "ok",
            "the other socket is untouched"
        );
    }
}

#[tokio::test]
async fn oversized_messages_close_with_1009() {
    let mut cfg = config(Compat::V1_8);
    cfg.max_frame_size = 1024;
    let server = TestServer::start(cfg).await;
    let mut c = v2(&server).await;
    let big = format!(
        r#"["1","1","ping","phx_join",{{"x":"{}"}}]"#,
        "a".repeat(2000)
    );
    send(&mut c, &big).await;
    assert_eq!(expect_close(&mut c).await, Some(1009));
    let mut c = v2(&server).await;
    exchange(
        &mut c,
        r#"["1","1","ping","phx_join",{}]"#,
        &[r#"["1","1","ping","phx_reply",{"response":{},"status":"ok"}]"#],
    )
    .await;
}

#[tokio::test]
async fn stop_closes_sockets_with_1012_and_releases_the_port() {
    let server = start(Compat::V1_8).await;
    let addr = server.addr();
    let mut c = v2(&server).await;
    exchange(
        &mut c,
        r#"["1","1","ping","phx_join",{}]"#,
        &[r#"["1","1","ping","phx_reply",{"response":{},"status":"ok"}]"#],
    )
    .await;
    let closing = tokio::spawn(async move { expect_close(&mut c).await });
    server.stop().await;
    assert_eq!(closing.await.unwrap(), Some(1012));
    let again = TestServer::start_on(addr, config(Compat::V1_8))
        .await
        .expect("port released");
    assert_eq!(again.addr(), addr);
    let mut c = v2(&again).await;
    exchange(
        &mut c,
        r#"[null,"1","phoenix","heartbeat",{}]"#,
        &[r#"[null,"1","phoenix","phx_reply",{"response":{},"status":"ok"}]"#],
    )
    .await;
}

#[tokio::test]
async fn drop_all_connections_closes_tcp_without_a_close_frame() {
    let server = start(Compat::V1_8).await;
    let mut a = v2(&server).await;
    let mut b = v2(&server).await;
    server
        .wait_until("two connections", WAIT, |s| s.connection_count() == 2)
        .await
        .unwrap();
    server.drop_all_connections();
    assert_eq!(expect_close(&mut a).await, None);
    assert_eq!(expect_close(&mut b).await, None);
    server
        .wait_until("no connections", WAIT, |s| s.connection_count() == 0)
        .await
        .unwrap();
}

#[tokio::test]
async fn a_slow_consumer_is_disconnected_and_logged() {
    let mut cfg = config(Compat::V1_8);
    cfg.outbound_max_bytes = 1024 * 1024;
    let server = TestServer::start(cfg).await;
    let mut slow = v2(&server).await;
    let mut fast = v2(&server).await;
    exchange(
        &mut slow,
        r#"["1","1","ping","phx_join",{}]"#,
        &[r#"["1","1","ping","phx_reply",{"response":{},"status":"ok"}]"#],
    )
    .await;
    exchange(
        &mut fast,
        r#"["1","1","ping","phx_join",{}]"#,
        &[r#"["1","1","ping","phx_reply",{"response":{},"status":"ok"}]"#],
    )
    .await;
    // The slow client never reads; big broadcasts fill the kernel buffers, then its queue.
    let payload = json!({"blob": "x".repeat(64 * 1024)});
    let mut sent = 0;
    while !server.logs().contains("slow consumer") && sent < 2000 {
        server.broadcast("ping", "blob", payload.clone().into());
        sent += 1;
        // Let the fast client drain so only the slow one overflows.
        while let Ok(f) = fast.recv_frame(Duration::from_millis(1)).await {
            drop(f);
        }
    }
    assert!(
        server.logs().contains("slow consumer"),
        "no slow consumer after {sent} broadcasts"
    );
    server
        .wait_until("slow connection dropped", WAIT, |s| {
            s.connection_count() == 1
        })
        .await
        .unwrap();
    send(&mut fast, r#"[null,"hb","phoenix","heartbeat",{}]"#).await;
    let reply = r#"[null,"hb","phoenix","phx_reply",{"response":{},"status":"ok"}]"#;
    let mut seen = false;
    for _ in 0..5000 {
        match fast.recv_frame(WAIT).await {
            Ok(phx_protocol::Frame::Text(t)) if t == reply => {
                seen = true;
                break;
            }
            Ok(_) => continue,
            Err(e) => panic!("the fast client lost its connection: {e}"),
        }
    }
    assert!(seen, "the fast client still gets heartbeat replies");
    drop(slow);
}

/// Nothing may outlive shutdown: once the endpoint drains, a new upgrade (or any HTTP request on
/// a kept-alive connection) is refused with 503 instead of becoming a zombie socket of a stopped
/// server. (An upgrade already past this check when drain starts is closed with 1012 on
/// registration; that window is too narrow to hit deterministically from a test.)
#[tokio::test]
async fn requests_after_drain_are_refused_with_503() {
    let server = start(Compat::V1_8).await;
    let mut before = v2(&server).await;
    // Drain without stopping the accept loop: the state a late request finds during shutdown.
    server.endpoint().drain();
    assert_eq!(expect_close(&mut before).await, Some(1012));
    let upgrade = "GET /socket/websocket?vsn=2.0.0 HTTP/1.1\r\nhost: x\r\nconnection: Upgrade\r\n\
                   upgrade: websocket\r\nsec-websocket-version: 13\r\n\
                   sec-websocket-key: dGhlIHNhbXBsZSBub25jZQ==\r\n\r\n";
    let (status, resp) = http(&server, upgrade).await;
    assert_eq!(status, 503, "{resp}");
    let (status, resp) = http(
        &server,
        "GET / HTTP/1.1\r\nhost: x\r\nconnection: close\r\n\r\n",
    )
    .await;
    assert_eq!(status, 503, "{resp}");
    assert!(body(&resp).contains("shutting down"), "{resp}");
    assert_eq!(server.connection_count(), 0);
}
