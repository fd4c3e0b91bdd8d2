//! Pushes made while disconnected or joining: delivered after the (re)join, or failed with a
//! timeout, never both; and never silently dropped.

use std::time::Duration;

use phx_client::{ChannelStatus, PushError, SocketStatus};
use phx_protocol::ServerMessage;
use phx_server::testing::TestServer;
use phx_server::Config;
use serde_json::json;

use crate::support::{builder, WAIT};

#[tokio::test]
async fn a_push_made_while_disconnected_is_delivered_after_the_rejoin() {
    let server = TestServer::start(Config::default()).await;
    let addr = server.addr();
    let socket = builder(&server.ws_url("/socket"))
        .push_timeout(Duration::from_secs(10))
        .build()
        .unwrap();
    socket.connect().await.unwrap();
    let ping = socket.channel("ping");
    ping.join(json!({})).await.unwrap();

    server.stop().await;
    ping.wait_for(WAIT, |s| *s == ChannelStatus::Errored)
        .await
        .unwrap();
    assert!(!socket.status().is_connected());

    let push = tokio::spawn({
        let ping = ping.clone();
        async move { ping.push("param_ping", json!({"n": 7})).await }
    });
    // Not answered while the server is down.
    tokio::task::yield_now().await;
    assert!(!push.is_finished());

    let _server = TestServer::start_on(addr, Config::default()).await.unwrap();
    let reply = tokio::time::timeout(WAIT, push)
        .await
        .unwrap()
        .unwrap()
        .unwrap();
    // param_ping echoes the payload: the server really received the buffered push.
    assert_eq!(reply.status, "ok");
    assert_eq!(reply.response, json!({"n": 7}).into());
}

#[tokio::test]
async fn a_push_made_while_disconnected_times_out_and_is_then_never_sent() {
    let server = TestServer::start(Config::default()).await;
    let addr = server.addr();
    let socket = builder(&server.ws_url("/socket")).build().unwrap();
    socket.connect().await.unwrap();
    let ping = socket.channel("ping");
    ping.join(json!({})).await.unwrap();
    server.stop().await;
    ping.wait_for(WAIT, |s| *s == ChannelStatus::Errored)
        .await
        .unwrap();

    let result = ping
        .push_with_timeout(
            "param_ping",
            json!({"late": true}),
            Duration::from_millis(200),
        )
        .await;
    assert!(
        matches!(result, Err(PushError::Timeout(d)) if d == Duration::from_millis(200)),
        "{result:?}"
    );

    // After the restart the timed-out push must not go out: the only param_ping the server
    // answers is the one sent now, which is answered with its own payload.
    let mut messages = socket.messages();
    let _server = TestServer::start_on(addr, Config::default()).await.unwrap();
    ping.wait_for(WAIT, |s| *s == ChannelStatus::Joined)
        .await
        .unwrap();
    let reply = ping
        .push("param_ping", json!({"fresh": true}))
        .await
        .unwrap();
    assert_eq!(reply.response, json!({"fresh": true}).into());
    while let Ok(msg) = messages.try_recv() {
        if let ServerMessage::Reply(r) = msg {
            assert_ne!(
                r.response,
                json!({"late": true}).into(),
                "a timed-out push was sent after all"
            );
        }
    }
}

#[tokio::test]
async fn pushes_made_while_joining_are_flushed_after_the_join_in_order() {
    let server = TestServer::start(Config::default()).await;
    let socket = builder(&server.ws_url("/socket")).build().unwrap();
    // Not connected yet: the join and the pushes all wait.
    let ping = socket.channel("ping");
    let join = tokio::spawn({
        let ping = ping.clone();
        async move { ping.join(json!({})).await }
    });
    ping.wait_for(WAIT, |s| *s == ChannelStatus::Joining)
        .await
        .unwrap();
    let pushes: Vec<_> = (0..5)
        .map(|n| {
            let ping = ping.clone();
            tokio::spawn(async move { ping.push("param_ping", json!({ "n": n })).await })
        })
        .collect();
    socket.connect().await.unwrap();
    join.await.unwrap().unwrap();
    for (n, p) in pushes.into_iter().enumerate() {
        let reply = p.await.unwrap().unwrap();
        assert_eq!(reply.response, json!({ "n": n }).into());
    }
}

#[tokio::test]
async fn a_full_push_buffer_fails_the_push_with_a_typed_error() {
    let server = TestServer::start(Config::default()).await;
    let socket = builder(&server.ws_url("/socket"))
        .max_buffered_pushes(2)
        .build()
        .unwrap();
    let ping = socket.channel("ping");
    let ping2 = ping.clone();
    let _join = tokio::spawn(async move { ping2.join(json!({})).await });
    ping.wait_for(WAIT, |s| *s == ChannelStatus::Joining)
        .await
        .unwrap();
    // Three pushes into a buffer of two: exactly one is refused at once, the others are delivered.
    let pushes: Vec<_> = (0..3)
        .map(|n| {
            let ping = ping.clone();
            tokio::spawn(async move { ping.push("param_ping", json!({ "n": n })).await })
        })
        .collect();
    let refused = tokio::time::timeout(WAIT, async {
        loop {
            if let Some(p) = pushes.iter().position(|p| p.is_finished()) {
                return p;
            }
            tokio::task::yield_now().await;
        }
    })
    .await
    .unwrap();
    socket.connect().await.unwrap();
    for (i, p) in pushes.into_iter().enumerate() {
        let result = p.await.unwrap();
        if i == refused {
            assert!(
                matches!(result, Err(PushError::BufferFull { capacity: 2 })),
                "{result:?}"
            );
        } else {
            assert_eq!(result.unwrap().response, json!({ "n": i }).into());
        }
    }
}

#[tokio::test]
async fn a_push_in_flight_when_the_connection_drops_fails_with_connection_lost() {
    let server = TestServer::start(Config::default()).await;
    let socket = builder(&server.ws_url("/socket")).build().unwrap();
    socket.connect().await.unwrap();
    let ping = socket.channel("ping");
    ping.join(json!({})).await.unwrap();
    // "pong" gets no reply ({:noreply}), so the push stays in flight until the drop.
    let push = tokio::spawn({
        let ping = ping.clone();
        async move {
            ping.push_with_timeout("pong", json!({}), Duration::from_secs(30))
                .await
        }
    });
    // Commands and replies are ordered: once a later push is answered, "pong" is on the wire.
    ping.push("ping", json!({})).await.unwrap();
    assert!(!push.is_finished());
    server.drop_all_connections();
    let result = tokio::time::timeout(WAIT, push).await.unwrap().unwrap();
    assert!(
        matches!(result, Err(PushError::ConnectionLost)),
        "{result:?}"
    );
    socket
        .wait_for(WAIT, |s| s.generation() == Some(2))
        .await
        .unwrap();
    assert!(matches!(socket.status(), SocketStatus::Connected { .. }));
}

#[tokio::test]
async fn a_push_with_an_endless_timeout_is_buffered_not_a_crash() {
    // Duration::MAX used to overflow `Instant + timeout` and kill the connection task.
    let server = TestServer::start(Config::default()).await;
    let socket = builder(&server.ws_url("/socket")).build().unwrap();
    let ping = socket.channel("ping");
    let ping2 = ping.clone();
    let join = tokio::spawn(async move { ping2.join(json!({})).await });
    ping.wait_for(WAIT, |s| *s == ChannelStatus::Joining)
        .await
        .unwrap();
    let ping3 = ping.clone();
    let push = tokio::spawn(async move {
        ping3
            .push_with_timeout("param_ping", json!({ "n": 1 }), Duration::MAX)
            .await
    });
    socket.connect().await.unwrap();
    join.await.unwrap().unwrap();
    let reply = tokio::time::timeout(WAIT, push).await.unwrap().unwrap();
    assert_eq!(reply.unwrap().response, json!({ "n": 1 }).into());
}
