//! Broadcasts: intercepted (handle_out per subscriber, own node name) and fastlane (encoded once),
//! across an in-process two-node cluster, plus the fixture's single-node half replayed.

use std::time::Duration;

use phx_protocol::Payload;
use phx_server::apps::hello_sockets::{HelloSockets, HelloSocketsConfig};
use phx_server::pubsub::in_process::InProcessBus;
use phx_server::testing::TestServer;
use phx_server::Compat;
use serde_json::{json, Value};

use crate::support::*;

const JOIN: &str = r#"["1","1","ping","phx_join",{}]"#;
const JOINED: &str = r#"["1","1","ping","phx_reply",{"response":{},"status":"ok"}]"#;

/// Replays the connections of `broadcast.jsonl` that were on the first node (port 4000/4100)
/// against one server named like the recorded node; ctl lines go through the control API.
async fn replay_single_node(dir: &str, node: &str, port: &str) {
    let path = format!(
        "{}/../fixtures/{dir}/transcripts/broadcast.jsonl",
        env!("CARGO_MANIFEST_DIR")
    );
    let text = std::fs::read_to_string(&path).expect("fixture");
    let mut cfg = config(Compat::V1_8);
    cfg.node_name = node.into();
    let server = TestServer::start(cfg).await;
    let mut clients = std::collections::HashMap::new();
    let mut checked = 0;
    for line in text.lines() {
        let v: Value = serde_json::from_str(line).unwrap();
        let conn = v["conn"].as_str().unwrap_or("");
        let frame = v["frame"].as_str().unwrap_or("");
        let local = conn.ends_with(&format!("@{port}"));
        match v["dir"].as_str() {
            Some("event") if frame.starts_with("connect ") && local => {
                clients.insert(conn.to_owned(), v2(&server).await);
            }
            Some("event") if frame.starts_with("ctl ping ") && frame.ends_with("(triggered)") => {
                control(
                    &server,
                    "/api/broadcast",
                    json!({"topic": "ping", "event": "request_ping", "payload": {}}),
                )
                .await;
            }
            Some("event") if frame.contains("plain_event") && frame.ends_with("(triggered)") => {
                control(
                    &server,
                    "/api/broadcast",
                    json!({"topic": "ping", "event": "plain_event", "payload": {"n": 1}}),
                )
                .await;
            }
            Some("send") if local => send(clients.get_mut(conn).unwrap(), frame).await,
            Some("recv") if local => {
                expect(clients.get_mut(conn).unwrap(), frame).await;
                checked += 1;
            }
            _ => {}
        }
    }
    // Per local client: the join reply, two send_ping, one plain_event.
    assert_eq!(checked, 8, "{dir}");
}

/// POSTs to the control API through the typed client; asserts success.
pub async fn control(server: &TestServer, path: &str, body: Value) -> Value {
    let client = phx_server::control::Client::new(server.addr().to_string(), None);
    client
        .post(path, &body)
        .await
        .unwrap_or_else(|e| panic!("{path}: {e}"))
}

#[tokio::test]
async fn the_single_node_half_of_the_broadcast_recording_replays_exactly() {
    replay_single_node("phoenix-1.7.14", "server@127.0.0.1", "4000").await;
    replay_single_node("phoenix-1.8.12", "server18@127.0.0.1", "4100").await;
}

#[tokio::test]
async fn two_nodes_on_one_bus_each_use_their_own_node_name() {
    let bus = InProcessBus::new();
    let mut c1 = config(Compat::V1_8);
    c1.node_name = "server@127.0.0.1".into();
    let mut c2 = config(Compat::V1_8);
    c2.node_name = "remote@127.0.0.1".into();
    let server = TestServer::start_with_bus(c1, bus.clone()).await;
    let remote = TestServer::start_with_bus(c2, bus.clone()).await;
    assert_eq!(bus.node_count(), 2);
    let mut a = v2(&server).await;
    let mut b = v2(&server).await;
    let mut c = v2(&remote).await;
    for cl in [&mut a, &mut b, &mut c] {
        exchange(cl, JOIN, &[JOINED]).await;
    }
    for origin in [&server, &remote] {
        origin.broadcast("ping", "request_ping", json!({}).into());
        for cl in [&mut a, &mut b] {
            expect(
                cl,
                r#"["1",null,"ping","send_ping",{"from_node":"server@127.0.0.1"}]"#,
            )
            .await;
        }
        expect(
            &mut c,
            r#"["1",null,"ping","send_ping",{"from_node":"remote@127.0.0.1"}]"#,
        )
        .await;
    }
    remote.broadcast("ping", "plain_event", json!({"n": 1}).into());
    for cl in [&mut a, &mut b, &mut c] {
        expect(cl, r#"[null,null,"ping","plain_event",{"n":1}]"#).await;
        // Delivered once per node: never twice.
        expect_silence(cl).await;
    }
}

#[tokio::test]
async fn fastlane_reaches_v1_and_v2_subscribers_in_their_own_encoding() {
    let server = start(Compat::V1_8).await;
    let mut v2c = v2(&server).await;
    let mut v1c = server.client("/socket", &[("vsn", "1.0.0")]).await.unwrap();
    exchange(&mut v2c, JOIN, &[JOINED]).await;
    exchange(&mut v1c, r#"{"topic":"ping","event":"phx_join","payload":{},"ref":"1"}"#, &[r#"{"event":"phx_reply","payload":{"response":{},"status":"ok"},"ref":"1","topic":"ping"}"#]).await;
    server.broadcast("ping", "plain_event", json!({"n": 1}).into());
    expect(&mut v2c, r#"[null,null,"ping","plain_event",{"n":1}]"#).await;
    expect(
        &mut v1c,
        r#"{"event":"plain_event","payload":{"n":1},"ref":null,"topic":"ping"}"#,
    )
    .await;
    // A topic with no subscribers is fine.
    server.broadcast("nobody", "x", Payload::empty_object());
    expect_silence(&mut v2c).await;
}

#[tokio::test]
async fn dedupe_pushes_each_distinct_number_once_after_the_window() {
    let app = HelloSocketsConfig::default().dedupe_window(Duration::from_millis(200));
    let server = TestServer::start_app(config(Compat::V1_8), HelloSockets::new(app), None).await;
    let mut c = v2(&server).await;
    exchange(
        &mut c,
        r#"["1","1","dupe","phx_join",{}]"#,
        &[r#"["1","1","dupe","phx_reply",{"response":{},"status":"ok"}]"#],
    )
    .await;
    let started = tokio::time::Instant::now();
    let resp = control(
        &server,
        "/api/dedupe",
        json!({"numbers": [1, 2, 3], "times": 100}),
    )
    .await;
    assert_eq!(resp["broadcasts"], json!(300));
    for n in 1..=3 {
        expect(
            &mut c,
            &format!(r#"["1",null,"dupe","number",{{"value":{n}}}]"#),
        )
        .await;
    }
    assert!(
        started.elapsed() >= Duration::from_millis(200),
        "pushed before the window"
    );
    expect_silence(&mut c).await;
}

#[tokio::test]
async fn recurring_pushes_a_fresh_token_every_interval() {
    let app = HelloSocketsConfig::default().recurring_interval(Duration::from_millis(150));
    let server = TestServer::start_app(config(Compat::V1_8), HelloSockets::new(app), None).await;
    let token = server.sign_token("salt identifier", json!(1));
    let mut c = server
        .client("/auth_socket", &[("token", &token)])
        .await
        .unwrap();
    assert_eq!(c.join("recurring", json!({})).await.0, "ok");
    for _ in 0..2 {
        let p = c.assert_push("recurring", "new_token").await;
        let t = p
            .as_json()
            .and_then(|v| v["token"].as_str())
            .expect("token string")
            .to_owned();
        assert!(t.starts_with("SFMyNTY."), "{t}");
        let v = server
            .endpoint()
            .verify_token("salt identifier", &t, 86400)
            .expect("the pushed token verifies");
        assert_eq!(v, json!(1));
    }
}
