//! `phx_client::Presence` against the real server's PresenceChannel: every client's view ends
//! equal to the server's `Presence.list`, through joins, a second meta, an update, leaves, and a
//! rejoin after the server drops every connection (the new state replaces the view, and whoever
//! vanished meanwhile is reported as a leave).

use phx_client::{Presence, PresenceChange, Socket};
use phx_server::testing::TestServer;
use phx_server::Config;
use serde_json::{json, Value};
use tokio::time::{timeout, Instant};

use crate::support::{builder, WAIT};

const TOPIC: &str = "presence:lobby";

/// Metas sorted by phx_ref: meta order within a key is not part of a view (see the proptest).
fn by_ref(mut v: Value) -> Value {
    if let Some(o) = v.as_object_mut() {
        for p in o.values_mut() {
            if let Some(a) = p["metas"].as_array_mut() {
                a.sort_by(|x, y| x["phx_ref"].as_str().cmp(&y["phx_ref"].as_str()));
            }
        }
    }
    v
}

/// Takes changes until the view equals the server's list after a Sync; the changes seen.
async fn until_synced(p: &mut Presence, server: &TestServer) -> Vec<PresenceChange> {
    let deadline = Instant::now() + WAIT;
    let mut seen = Vec::new();
    loop {
        let want = by_ref(server.endpoint().presence().list(TOPIC));
        if seen.last() == Some(&PresenceChange::Sync) && by_ref(p.to_value()) == want {
            return seen;
        }
        let left = deadline.saturating_duration_since(Instant::now());
        match timeout(left, p.next()).await {
            Ok(Ok(c)) => seen.push(c),
            other => panic!(
                "view {} never matched the server's {want} ({other:?}); changes {seen:?}",
                p.to_value()
            ),
        }
    }
}

async fn member(
    server: &TestServer,
    user: &str,
    device: &str,
) -> (Socket, phx_client::Channel, Presence) {
    let socket = builder(&server.ws_url("/socket")).build().unwrap();
    socket.connect().await.unwrap();
    let channel = socket.channel(TOPIC);
    channel
        .join(json!({"user_id": user, "device": device}))
        .await
        .unwrap();
    // Made after join() returned: the channel's events queue from its creation.
    let presence = Presence::new(&channel);
    (socket, channel, presence)
}

fn keys(p: &Presence) -> Vec<String> {
    p.list_by(|k, _| k.to_owned())
}

#[tokio::test]
async fn views_follow_the_server_through_joins_updates_leaves_and_a_rejoin() {
    let server = TestServer::start(Config::default()).await;
    let (_s1, _c1, mut p1) = member(&server, "alice", "web").await;
    until_synced(&mut p1, &server).await;
    assert_eq!(keys(&p1), vec!["alice"]);

    let (_s2, c2, mut p2) = member(&server, "bob", "phone").await;
    until_synced(&mut p2, &server).await;
    let changes = until_synced(&mut p1, &server).await;
    assert!(
        changes
            .iter()
            .any(|c| matches!(c, PresenceChange::Join { key, current: None, .. } if key == "bob")),
        "{changes:?}"
    );

    let (s3, _c3, mut p3) = member(&server, "alice", "tablet").await;
    until_synced(&mut p3, &server).await;
    until_synced(&mut p1, &server).await;
    assert_eq!(
        p1.to_value()["alice"]["metas"].as_array().map(Vec::len),
        Some(2)
    );

    c2.push("update", json!({"status": "away"})).await.unwrap();
    until_synced(&mut p1, &server).await;
    let view = p1.to_value();
    assert_eq!(view["bob"]["metas"][0]["status"], "away");
    assert!(view["bob"]["metas"][0]["phx_ref_prev"].is_string());

    s3.disconnect().await;
    server
        .wait_until("the tablet leaves", WAIT, |s| {
            s.endpoint().presence().list(TOPIC)["alice"]["metas"]
                .as_array()
                .map(Vec::len)
                == Some(1)
        })
        .await
        .unwrap();
    let changes = until_synced(&mut p1, &server).await;
    assert!(changes.iter().any(|c| matches!(c, PresenceChange::Leave { key, current, .. } if key == "alice" && current.metas.len() == 1)), "{changes:?}");

    // Every connection drops; both sockets reconnect and rejoin. While they are away bob's
    // presence is gone from the server for a moment, and each view ends equal to the list again.
    let before = server.endpoint().presence().list(TOPIC);
    server.drop_all_connections();
    // Both members are back on the server under fresh refs before the views are compared.
    server
        .wait_until("both rejoin", WAIT, |s| {
            let l = s.endpoint().presence().list(TOPIC);
            let fresh = |k: &str| {
                l.get(k).is_some()
                    && l[k]["metas"][0]["phx_ref"] != before[k]["metas"][0]["phx_ref"]
            };
            fresh("alice") && fresh("bob")
        })
        .await
        .unwrap();
    until_synced(&mut p1, &server).await;
    until_synced(&mut p2, &server).await;
    let mut list = keys(&p1);
    list.sort();
    assert_eq!(list, vec!["alice", "bob"]);
    // The old refs are gone: each key has fresh metas from the rejoin.
    assert_eq!(
        p1.to_value()["alice"]["metas"].as_array().map(Vec::len),
        Some(1)
    );
    assert_eq!(p1.pending_diffs(), 0);
}

#[tokio::test]
async fn a_rejoin_reports_leaves_for_members_that_vanished_meanwhile() {
    let server = TestServer::start(Config::default()).await;
    let (_s1, c1, mut p1) = member(&server, "alice", "web").await;
    let (s2, _c2, mut p2) = member(&server, "bob", "phone").await;
    until_synced(&mut p2, &server).await;
    until_synced(&mut p1, &server).await;
    // alice's channel leaves and bob goes away before alice rejoins: her rejoined state has no
    // bob, and the view reports his leave.
    c1.leave().await.unwrap();
    s2.disconnect().await;
    server
        .wait_until("bob leaves", WAIT, |s| {
            s.endpoint().presence().list(TOPIC).get("bob").is_none()
        })
        .await
        .unwrap();
    c1.join(json!({"user_id": "alice", "device": "web"}))
        .await
        .unwrap();
    let changes = until_synced(&mut p1, &server).await;
    assert!(
        changes
            .iter()
            .any(|c| matches!(c, PresenceChange::Leave { key, .. } if key == "bob")),
        "{changes:?}"
    );
    assert_eq!(keys(&p1), vec!["alice"]);
}
