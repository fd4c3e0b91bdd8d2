//! phx_error, phx_close, join errors and leave, against the real server.

use phx_client::{ChannelStatus, JoinError, PushError, Socket};
use phx_protocol::ServerMessage;
use phx_server::testing::TestServer;
use phx_server::Config;
use serde_json::json;

use crate::support::{builder, WAIT};

async fn joined_ping(server: &TestServer) -> (Socket, phx_client::Channel) {
    let socket = builder(&server.ws_url("/socket")).build().unwrap();
    socket.connect().await.unwrap();
    let ping = socket.channel("ping");
    ping.join(json!({})).await.unwrap();
    (socket, ping)
}

fn server_join_ref(server: &TestServer, topic: &str) -> Option<String> {
    server
        .joined()
        .into_iter()
        .find(|j| j.topic == topic)
        .map(|j| j.join_ref.to_string())
}

#[tokio::test]
async fn phx_error_errors_the_channel_which_rejoins_with_backoff() {
    let server = TestServer::start(Config::default()).await;
    let (socket, ping) = joined_ping(&server).await;
    let first = server_join_ref(&server, "ping").unwrap();
    let mut events = ping.on("phx_error");
    let mut transitions = socket.status_events();

    // PingChannel has no clause for "boom": the channel crashes and the server sends phx_error.
    let result = ping.push("boom", json!({})).await;
    assert!(
        matches!(result, Err(PushError::ChannelErrored(_))),
        "{result:?}"
    );
    let ev = tokio::time::timeout(WAIT, events.recv())
        .await
        .unwrap()
        .unwrap();
    assert_eq!(ev.payload, json!({"reason": "channel_crash"}).into());

    ping.wait_for(WAIT, |s| *s == ChannelStatus::Joined)
        .await
        .unwrap();
    let statuses: Vec<ChannelStatus> = std::iter::from_fn(|| transitions.try_recv().ok())
        .filter_map(|t| match t {
            phx_client::StatusEvent::Channel { status, .. } => Some(status),
            _ => None,
        })
        .collect();
    assert_eq!(
        statuses,
        [
            ChannelStatus::Errored,
            ChannelStatus::Joining,
            ChannelStatus::Joined
        ]
    );
    server
        .wait_until("ping rejoined", WAIT, |s| {
            server_join_ref(s, "ping").is_some_and(|r| r != first)
        })
        .await
        .unwrap();
    assert!(
        socket.status().generation() == Some(1),
        "a channel crash must not reconnect the socket"
    );
}

#[tokio::test]
async fn phx_close_closes_the_channel_without_rejoin() {
    let server = TestServer::start(Config::default()).await;
    let (socket, ping) = joined_ping(&server).await;
    let mut events = ping.events();
    // "ding" replies then stops the channel normally: phx_close.
    let reply = ping.push("ding", json!({})).await.unwrap();
    assert_eq!(reply.response, json!({"msg": "shutting down"}).into());
    ping.wait_for(WAIT, |s| *s == ChannelStatus::Closed)
        .await
        .unwrap();
    assert_eq!(events.recv().await.unwrap().event, "phx_close");

    // Prove no rejoin happened: a later round trip on another channel, then the server's view.
    let other = socket.channel("ping:other");
    other.join(json!({})).await.unwrap();
    other.push("ping", json!({})).await.unwrap();
    assert_eq!(server_join_ref(&server, "ping"), None);
    assert_eq!(ping.status(), ChannelStatus::Closed);
    assert!(matches!(
        ping.push("ping", json!({})).await,
        Err(PushError::NotJoined)
    ));
}

#[tokio::test]
async fn a_join_error_is_retried_with_backoff_until_leave() {
    let server = TestServer::start(Config::default()).await;
    let socket = builder(&server.ws_url("/socket")).build().unwrap();
    socket.connect().await.unwrap();
    let mut messages = socket.messages();
    let nope = socket.channel("nope");
    let err = nope.join(json!({})).await.unwrap_err();
    match err {
        JoinError::Rejected(p) => assert_eq!(p, json!({"reason": "unmatched topic"}).into()),
        other => panic!("{other:?}"),
    }
    // The rejoin schedule (50 ms in tests) keeps trying: count three more refusals.
    let mut refusals = 0;
    tokio::time::timeout(WAIT, async {
        while refusals < 4 {
            if let Ok(ServerMessage::Reply(r)) = messages.recv().await {
                if r.topic == "nope" && r.status == "error" {
                    refusals += 1;
                }
            }
        }
    })
    .await
    .unwrap();
    nope.leave().await.unwrap();
    assert_eq!(nope.status(), ChannelStatus::Closed);
}

#[tokio::test]
async fn nothing_is_delivered_after_leave() {
    let server = TestServer::start(Config::default()).await;
    let (socket, ping) = joined_ping(&server).await;
    let mut events = ping.on("send_ping");
    server.broadcast("ping", "request_ping", json!({}).into());
    assert_eq!(events.recv().await.unwrap().event, "send_ping");
    ping.leave().await.unwrap();
    assert_eq!(ping.status(), ChannelStatus::Closed);
    server
        .wait_until("ping left on the server", WAIT, |s| {
            server_join_ref(s, "ping").is_none()
        })
        .await
        .unwrap();
    server.broadcast("ping", "request_ping", json!({}).into());
    // Round trip on another channel so the broadcast, had it been routed, would have arrived.
    let other = socket.channel("ping:x");
    other.join(json!({})).await.unwrap();
    other.push("ping", json!({})).await.unwrap();
    assert!(events.try_recv().is_none());
}

#[tokio::test]
async fn a_binary_push_reaches_the_real_server_on_vsn_2() {
    let server = TestServer::start(Config::default()).await;
    let (_socket, ping) = joined_ping(&server).await;
    // PingChannel answers "ping" with pong whatever the payload: the binary frame was decoded.
    let reply = ping
        .push("ping", phx_client::Payload::binary(vec![1u8, 2, 3]))
        .await
        .unwrap();
    assert_eq!(reply.response, json!({"ping": "pong"}).into());
}

#[tokio::test]
async fn a_binary_push_on_vsn_1_is_refused_with_a_typed_error() {
    let server = TestServer::start(Config::default()).await;
    let socket = builder(&server.ws_url("/socket"))
        .vsn(phx_client::Vsn::V1)
        .build()
        .unwrap();
    socket.connect().await.unwrap();
    let ping = socket.channel("ping");
    ping.join(json!({})).await.unwrap();
    let result = ping
        .push("ping", phx_client::Payload::binary(vec![1u8]))
        .await;
    assert!(matches!(result, Err(PushError::Encode(_))), "{result:?}");
    // V1 still works for JSON.
    assert_eq!(
        ping.push("ping", json!({})).await.unwrap().response,
        json!({"ping": "pong"}).into()
    );
}
