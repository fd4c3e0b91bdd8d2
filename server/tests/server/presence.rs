//! Presence on a real server: the HelloSockets `PresenceChannel` frame by frame as the
//! recordings in `fixtures/phoenix-*/presence/` show them (refs compared by identity, since they
//! are random), and the leaves on phx_leave, socket close, TCP drop and a channel crash.

use phx_protocol::Frame;
use phx_server::testing::{RecvError, TestClient};
use phx_server::Compat;
use serde_json::{json, Value};

use crate::support::*;

/// The next frame as JSON.
async fn next(c: &mut TestClient) -> Value {
    match c.recv_frame(WAIT).await {
        Ok(Frame::Text(t)) => serde_json::from_str(&t).unwrap(),
        other => panic!("expected a text frame, got {other:?}"),
    }
}

/// The `phx_ref` of the only meta under `key` in `half` (`joins`/`leaves`) of a diff frame.
fn diff_ref(frame: &Value, half: &str, key: &str) -> String {
    assert_eq!(frame[3], "presence_diff", "{frame}");
    assert_eq!(frame[0], Value::Null, "a diff is a broadcast: {frame}");
    let metas = frame[4][half][key]["metas"].as_array().unwrap();
    assert_eq!(metas.len(), 1, "{frame}");
    metas[0]["phx_ref"].as_str().unwrap().to_owned()
}

fn meta(r: &str, device: &str) -> Value {
    json!({"phx_ref": r, "device": device, "online_at": "0"})
}

/// Joins `presence:lobby` as `user` from `device`: reply, own join diff, presence_state.
/// Returns (the presence_state payload, the joiner's phx_ref).
async fn join(c: &mut TestClient, user: &str, device: &str) -> (Value, String) {
    send(
        c,
        &format!(
            r#"["1","1","presence:lobby","phx_join",{{"user_id":"{user}","device":"{device}"}}]"#
        ),
    )
    .await;
    expect(
        c,
        r#"["1","1","presence:lobby","phx_reply",{"response":{},"status":"ok"}]"#,
    )
    .await;
    let diff = next(c).await;
    let r = diff_ref(&diff, "joins", user);
    assert_eq!(
        diff[4],
        json!({"joins": {user: {"metas": [meta(&r, device)]}}, "leaves": {}})
    );
    let state = next(c).await;
    assert_eq!(
        &state.as_array().unwrap()[..4],
        json!(["1", null, "presence:lobby", "presence_state"])
            .as_array()
            .unwrap()
            .as_slice()
    );
    (state[4].clone(), r)
}

async fn scenario_basic(compat: Compat) {
    let server = start(compat).await;
    let mut c1 = v2(&server).await;
    let (state, alice_web) = join(&mut c1, "alice", "web").await;
    assert_eq!(
        state,
        json!({"alice": {"metas": [meta(&alice_web, "web")]}})
    );

    let mut c2 = v2(&server).await;
    let (state, bob) = join(&mut c2, "bob", "phone").await;
    assert_eq!(
        state,
        json!({"alice": {"metas": [meta(&alice_web, "web")]}, "bob": {"metas": [meta(&bob, "phone")]}})
    );
    assert_eq!(diff_ref(&next(&mut c1).await, "joins", "bob"), bob);

    // A second meta under one key: the others see only the new meta; metas in join order.
    let mut c3 = v2(&server).await;
    let (state, alice_tab) = join(&mut c3, "alice", "tablet").await;
    assert_eq!(
        state["alice"],
        json!({"metas": [meta(&alice_web, "web"), meta(&alice_tab, "tablet")]})
    );
    for c in [&mut c1, &mut c2] {
        assert_eq!(diff_ref(&next(c).await, "joins", "alice"), alice_tab);
    }

    // update: the reply, then one diff with a new ref, phx_ref_prev, and the old meta leaving.
    send(
        &mut c2,
        r#"["1","2","presence:lobby","update",{"status":"away"}]"#,
    )
    .await;
    expect(
        &mut c2,
        r#"["1","2","presence:lobby","phx_reply",{"response":{},"status":"ok"}]"#,
    )
    .await;
    let mut bob_away = String::new();
    for c in [&mut c2, &mut c1, &mut c3] {
        let d = next(c).await;
        bob_away = diff_ref(&d, "joins", "bob");
        assert_ne!(bob_away, bob);
        assert_eq!(
            d[4],
            json!({
                "joins": {"bob": {"metas": [{"phx_ref": bob_away, "phx_ref_prev": bob, "device": "phone", "online_at": "0", "status": "away"}]}},
                "leaves": {"bob": {"metas": [meta(&bob, "phone")]}}
            })
        );
    }

    // phx_leave: reply and phx_close, never its own leave diff; the others see the leave.
    send(&mut c3, r#"["1","2","presence:lobby","phx_leave",{}]"#).await;
    expect(
        &mut c3,
        r#"["1","2","presence:lobby","phx_reply",{"response":{},"status":"ok"}]"#,
    )
    .await;
    expect(&mut c3, r#"["1","1","presence:lobby","phx_close",{}]"#).await;
    for c in [&mut c1, &mut c2] {
        let d = next(c).await;
        assert_eq!(
            d[4],
            json!({"joins": {}, "leaves": {"alice": {"metas": [meta(&alice_tab, "tablet")]}}})
        );
    }
    expect_silence(&mut c3).await;

    // Socket close without phx_leave: the leave carries the current meta (with phx_ref_prev).
    c2.close().await;
    let d = next(&mut c1).await;
    assert_eq!(diff_ref(&d, "leaves", "bob"), bob_away);
    assert_eq!(
        d[4]["leaves"]["bob"]["metas"][0]["phx_ref_prev"],
        bob.as_str()
    );
    assert_eq!(server.endpoint().presence().count("presence:lobby"), 1);
    expect_silence(&mut c1).await;
}

#[tokio::test]
async fn the_recorded_basic_scenario_on_1_7() {
    scenario_basic(Compat::V1_7).await;
}

#[tokio::test]
async fn the_recorded_basic_scenario_on_1_8() {
    scenario_basic(Compat::V1_8).await;
}

#[tokio::test]
async fn a_join_without_user_id_is_refused_and_topics_are_isolated() {
    let server = start(Compat::V1_8).await;
    let mut c1 = v2(&server).await;
    exchange(
        &mut c1,
        r#"["1","1","presence:lobby","phx_join",{"device":"web"}]"#,
        &[r#"["1","1","presence:lobby","phx_reply",{"response":{"reason":"user_id required"},"status":"error"}]"#],
    )
    .await;
    expect_silence(&mut c1).await;
    let (_, _) = join(&mut c1, "alice", "web").await;
    let mut c2 = v2(&server).await;
    send(
        &mut c2,
        r#"["1","1","presence:other","phx_join",{"user_id":"carol"}]"#,
    )
    .await;
    expect(
        &mut c2,
        r#"["1","1","presence:other","phx_reply",{"response":{},"status":"ok"}]"#,
    )
    .await;
    let d = next(&mut c2).await;
    let carol = diff_ref(&d, "joins", "carol");
    assert_eq!(
        d[4]["joins"]["carol"]["metas"][0],
        json!({"phx_ref": carol, "device": null, "online_at": "0"})
    );
    let state = next(&mut c2).await;
    assert_eq!(
        state[4],
        json!({"carol": {"metas": [{"phx_ref": carol, "device": null, "online_at": "0"}]}})
    );
    expect_silence(&mut c1).await;
}

#[tokio::test]
async fn auth_socket_does_not_route_presence_topics() {
    let server = start(Compat::V1_8).await;
    let token = server.sign_token("salt identifier", json!(1));
    let mut c = server
        .client("/auth_socket", &[("vsn", "2.0.0"), ("token", &token)])
        .await
        .expect("connect /auth_socket");
    exchange(
        &mut c,
        r#"["1","1","presence:lobby","phx_join",{"user_id":"alice"}]"#,
        &[r#"[null,"1","presence:lobby","phx_reply",{"response":{"reason":"unmatched topic"},"status":"error"}]"#],
    )
    .await;
}

/// c1 watches while c2 joins and then goes away by `how`; c1 must see c2's leave.
async fn leaves_when(how: &str) {
    let server = start(Compat::V1_7).await;
    let mut c1 = v2(&server).await;
    join(&mut c1, "alice", "web").await;
    let mut c2 = v2(&server).await;
    let (_, bob) = join(&mut c2, "bob", "phone").await;
    assert_eq!(diff_ref(&next(&mut c1).await, "joins", "bob"), bob);
    match how {
        "tcp drop" => drop(c2),
        "crash" => {
            // No handle_in clause for an update without a status: the channel crashes.
            send(&mut c2, r#"["1","2","presence:lobby","update",{}]"#).await;
            let m = next(&mut c2).await;
            assert_eq!(m[3], "phx_error", "{m}");
            expect_silence(&mut c2).await;
        }
        "server drop" => server.drop_all_connections(),
        other => panic!("{other}"),
    }
    if how == "server drop" {
        // Everyone was dropped: the view empties.
        server
            .wait_until("the lobby empties", WAIT, |s| {
                s.endpoint().presence().count("presence:lobby") == 0
            })
            .await
            .expect("presences leave when connections drop");
        return;
    }
    let d = next(&mut c1).await;
    assert_eq!(
        d[4],
        json!({"joins": {}, "leaves": {"bob": {"metas": [meta(&bob, "phone")]}}}),
        "{how}"
    );
    assert_eq!(server.endpoint().presence().count("presence:lobby"), 1);
}

#[tokio::test]
async fn a_tcp_drop_is_a_leave() {
    leaves_when("tcp drop").await;
}

#[tokio::test]
async fn a_channel_crash_is_a_leave() {
    leaves_when("crash").await;
}

#[tokio::test]
async fn connections_dropped_by_the_server_leave() {
    leaves_when("server drop").await;
}

#[tokio::test]
async fn v1_clients_get_the_v1_object_with_null_ref() {
    let server = start(Compat::V1_8).await;
    let mut c = server
        .client("/socket", &[("vsn", "1.0.0")])
        .await
        .expect("connect");
    send(
        &mut c,
        r#"{"topic":"presence:lobby","event":"phx_join","payload":{"user_id":"u"},"ref":"1"}"#,
    )
    .await;
    let reply = next(&mut c).await;
    assert_eq!(reply["event"], "phx_reply");
    let d = next(&mut c).await;
    assert_eq!(d["event"], "presence_diff");
    assert_eq!(d["ref"], Value::Null);
    let s = next(&mut c).await;
    assert_eq!(s["event"], "presence_state");
    assert_eq!(s["ref"], Value::Null);
    match c.recv_frame(QUIET).await {
        Err(RecvError::Timeout) => {}
        other => panic!("{other:?}"),
    }
}
