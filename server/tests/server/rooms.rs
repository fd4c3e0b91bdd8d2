//! The rooms app (`phx_server::apps::rooms`) over a real WebSocket: a join that needs a name,
//! the pushes after the join, Presence, rebroadcast messages, under both compat modes; and
//! `phx-server serve --app rooms` as an external process.

use std::process::Stdio;
use std::time::Duration;

use phx_protocol::Frame;
use phx_server::apps::rooms::Rooms;
use phx_server::testing::{TestClient, TestServer};
use phx_server::Compat;
use serde_json::{json, Value};

use crate::support::*;

async fn start_rooms(compat: Compat) -> TestServer {
    TestServer::start_app(config(compat), Rooms, None).await
}

/// The next frame as JSON.
async fn next(c: &mut TestClient) -> Value {
    match c.recv_frame(WAIT).await {
        Ok(Frame::Text(t)) => serde_json::from_str(&t).unwrap(),
        other => panic!("expected a text frame, got {other:?}"),
    }
}

/// The `phx_ref` of `name`'s only meta in `half` of a presence_diff frame on `room:lobby`.
fn diff_ref(frame: &Value, half: &str, name: &str) -> String {
    assert_eq!(frame[2], "room:lobby", "{frame}");
    assert_eq!(frame[3], "presence_diff", "{frame}");
    let metas = frame[4][half][name]["metas"].as_array().unwrap();
    assert_eq!(metas.len(), 1, "{frame}");
    let online_at = metas[0]["online_at"].as_str().unwrap();
    assert!(online_at.parse::<u64>().unwrap() > 1_700_000_000, "{frame}");
    metas[0]["phx_ref"].as_str().unwrap().to_owned()
}

/// Joins `room:lobby` as `name` with join_ref `r`: reply, welcome, own join diff,
/// presence_state. Returns (the presence_state payload, the joiner's phx_ref).
async fn join_lobby(c: &mut TestClient, r: &str, name: &str) -> (Value, String) {
    send(
        c,
        &format!(r#"["{r}","{r}","room:lobby","phx_join",{{"name":"{name}"}}]"#),
    )
    .await;
    expect(
        c,
        &format!(r#"["{r}","{r}","room:lobby","phx_reply",{{"response":{{"room":"lobby"}},"status":"ok"}}]"#),
    )
    .await;
    assert_eq!(
        next(c).await,
        json!([r, null, "room:lobby", "welcome", {"room": "lobby", "name": name}])
    );
    let diff = next(c).await;
    let own = diff_ref(&diff, "joins", name);
    assert_eq!(diff[0], Value::Null, "a diff is a broadcast: {diff}");
    assert_eq!(diff[4]["leaves"], json!({}));
    let state = next(c).await;
    assert_eq!(state[0], r);
    assert_eq!(state[3], "presence_state");
    (state[4].clone(), own)
}

async fn members_see_each_other_and_messages(compat: Compat) {
    let server = start_rooms(compat).await;
    let mut alice = v2(&server).await;
    exchange(
        &mut alice,
        r#"["1","1","room:lobby","phx_join",{}]"#,
        &[r#"["1","1","room:lobby","phx_reply",{"response":{"reason":"name required"},"status":"error"}]"#],
    )
    .await;
    exchange(
        &mut alice,
        r#"["2","2","room:lobby","phx_join",{"name":""}]"#,
        &[r#"["2","2","room:lobby","phx_reply",{"response":{"reason":"name required"},"status":"error"}]"#],
    )
    .await;
    let (state, alice_ref) = join_lobby(&mut alice, "3", "alice").await;
    assert_eq!(state["alice"]["metas"][0]["phx_ref"], alice_ref.as_str());
    assert_eq!(state.as_object().unwrap().len(), 1, "{state}");

    let mut bob = v2(&server).await;
    let (state, bob_ref) = join_lobby(&mut bob, "1", "bob").await;
    assert_eq!(
        state.as_object().unwrap().keys().collect::<Vec<_>>(),
        ["alice", "bob"]
    );
    // Alice sees Bob arrive.
    assert_eq!(diff_ref(&next(&mut alice).await, "joins", "bob"), bob_ref);

    // new_msg: broadcast to both, sender included, and no reply.
    send(
        &mut bob,
        r#"["1","2","room:lobby","new_msg",{"body":"hi all"}]"#,
    )
    .await;
    let msg = r#"[null,null,"room:lobby","new_msg",{"body":"hi all","name":"bob"}]"#;
    expect(&mut alice, msg).await;
    expect(&mut bob, msg).await;
    exchange(
        &mut bob,
        r#"["1","3","room:lobby","new_msg",{"text":"no body"}]"#,
        &[r#"["1","3","room:lobby","phx_reply",{"response":{"reason":"body required"},"status":"error"}]"#],
    )
    .await;
    exchange(
        &mut bob,
        r#"["1","4","room:lobby","whoami",{}]"#,
        &[r#"["1","4","room:lobby","phx_reply",{"response":{"name":"bob","room":"lobby"},"status":"ok"}]"#],
    )
    .await;
    expect_silence(&mut alice).await;

    // Bob leaves: reply, phx_close, and Alice gets his leave diff.
    exchange(
        &mut bob,
        r#"["1","5","room:lobby","phx_leave",{}]"#,
        &[
            r#"["1","5","room:lobby","phx_reply",{"response":{},"status":"ok"}]"#,
            r#"["1","1","room:lobby","phx_close",{}]"#,
        ],
    )
    .await;
    assert_eq!(diff_ref(&next(&mut alice).await, "leaves", "bob"), bob_ref);
    expect_silence(&mut bob).await;
}

#[tokio::test]
async fn rooms_members_see_each_other_and_messages_on_1_7() {
    members_see_each_other_and_messages(Compat::V1_7).await;
}

#[tokio::test]
async fn rooms_members_see_each_other_and_messages_on_1_8() {
    members_see_each_other_and_messages(Compat::V1_8).await;
}

#[tokio::test]
async fn rooms_routes_only_room_topics_and_an_unknown_event_crashes_the_channel() {
    for compat in [Compat::V1_7, Compat::V1_8] {
        let server = start_rooms(compat).await;
        let mut c = v2(&server).await;
        exchange(
            &mut c,
            r#"["1","1","ping","phx_join",{}]"#,
            &[r#"[null,"1","ping","phx_reply",{"response":{"reason":"unmatched topic"},"status":"error"}]"#],
        )
        .await;
        assert!(server.client("/auth_socket", &[]).await.is_err());
        join_lobby(&mut c, "2", "carol").await;
        send(&mut c, r#"["2","3","room:lobby","ping",{}]"#).await;
        let error = next(&mut c).await;
        assert_eq!(
            &error.as_array().unwrap()[..4],
            json!(["2", "2", "room:lobby", "phx_error"])
                .as_array()
                .unwrap()
                .as_slice(),
            "{compat}"
        );
        // The crash untracked her; a new member sees only itself.
        let mut d = v2(&server).await;
        let (state, _) = join_lobby(&mut d, "1", "dave").await;
        assert_eq!(
            state.as_object().unwrap().keys().collect::<Vec<_>>(),
            ["dave"],
            "{compat}"
        );
    }
}

#[tokio::test]
async fn serve_app_rooms_runs_as_an_external_process_with_a_broken_rule() {
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let mut child = tokio::process::Command::new(env!("CARGO_BIN_EXE_phx-server"))
        .args(["serve", "--app", "rooms", "--compat", "1.7"])
        .args(["--break", "heartbeat-join-ref", "--port", &port.to_string()])
        .env("RUST_LOG", "warn")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .kill_on_drop(true)
        .spawn()
        .unwrap();
    let url = format!("ws://127.0.0.1:{port}/socket/websocket");
    let deadline = tokio::time::Instant::now() + WAIT;
    let mut c = loop {
        match TestClient::connect(&url, &[]).await {
            Ok(c) => break c,
            Err(_) if tokio::time::Instant::now() < deadline => {
                tokio::time::sleep(Duration::from_millis(20)).await
            }
            Err(e) => panic!("phx-server --app rooms did not start: {e}"),
        }
    };
    join_lobby(&mut c, "1", "erin").await;
    exchange(
        &mut c,
        r#"[null,"7","phoenix","heartbeat",{}]"#,
        &[r#"["7","7","phoenix","phx_reply",{"response":{},"status":"ok"}]"#],
    )
    .await;
    child.start_kill().unwrap();
    let _ = child.wait().await;

    let out = tokio::process::Command::new(env!("CARGO_BIN_EXE_phx-server"))
        .args(["serve", "--port", "0", "--break", "everything"])
        .output()
        .await
        .unwrap();
    assert_eq!(out.status.code(), Some(2), "a usage error");
    assert!(String::from_utf8_lossy(&out.stderr).contains("omit-leave-close"));
}

/// Each `Config::breakage` on a real server breaks its rule, and a faithful server does not.
#[tokio::test]
async fn test_server_breaks_each_rule_it_is_told_to() {
    use phx_server::Breakage;
    let leave = r#"["1","2","room:lobby","phx_leave",{}]"#;
    let left = r#"["1","2","room:lobby","phx_reply",{"response":{},"status":"ok"}]"#;
    let closed = r#"["1","1","room:lobby","phx_close",{}]"#;
    let heartbeat = r#"[null,"3","phoenix","heartbeat",{}]"#;
    let duplicate = r#"["4","4","room:lobby","phx_join",{"name":"x"}]"#;
    for breakage in [None]
        .into_iter()
        .chain(Breakage::ALL.into_iter().map(Some))
    {
        let mut cfg = config(Compat::V1_8);
        cfg.breakage = breakage;
        let server = TestServer::start_app(cfg, Rooms, None).await;
        let mut c = v2(&server).await;
        join_lobby(&mut c, "1", "x").await;
        send(&mut c, duplicate).await;
        expect(
            &mut c,
            r#"["4","4","room:lobby","phx_reply",{"response":{"room":"lobby"},"status":"ok"}]"#,
        )
        .await;
        if breakage == Some(Breakage::KeepOldChannelOnDuplicateJoin) {
            // No phx_close, no new channel: nothing else comes.
            expect_silence(&mut c).await;
        } else {
            // Phoenix: the old join_ref is closed right after the new join's reply.
            expect(&mut c, closed).await;
        }
        // A server of its own, so that no other member's presence traffic interleaves.
        let server = TestServer::start_app(server.endpoint().config().clone(), Rooms, None).await;
        let mut c = v2(&server).await;
        join_lobby(&mut c, "1", "y").await;
        send(&mut c, leave).await;
        expect(&mut c, left).await;
        if breakage == Some(Breakage::OmitLeaveClose) {
            expect_silence(&mut c).await;
        } else {
            expect(&mut c, closed).await;
        }
        let expected_heartbeat = if breakage == Some(Breakage::HeartbeatJoinRef) {
            r#"["3","3","phoenix","phx_reply",{"response":{},"status":"ok"}]"#
        } else {
            r#"[null,"3","phoenix","phx_reply",{"response":{},"status":"ok"}]"#
        };
        exchange(&mut c, heartbeat, &[expected_heartbeat]).await;
    }
}
