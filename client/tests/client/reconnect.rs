//! The tutorial's scenario: one socket, three channels; the server forgets every channel when
//! the connection goes, and the client must reconnect and rejoin all of them. Proven on the
//! server's side with `TestServer::joined`.

use std::time::Duration;

use phx_client::{ChannelStatus, Socket, SocketStatus, StatusEvent};
use phx_server::testing::TestServer;
use phx_server::Config;
use serde_json::json;

use crate::support::{builder, joined_on_one_new_connection, WAIT};

const TOPICS: [&str; 3] = ["ping", "dupe", "wild:1:2"];

async fn three_channels(server: &TestServer) -> (Socket, Vec<phx_client::Channel>) {
    let socket = builder(&server.ws_url("/socket")).build().unwrap();
    socket.connect().await.unwrap();
    let mut channels = Vec::new();
    for topic in TOPICS {
        let ch = socket.channel(topic);
        ch.join(json!({})).await.unwrap();
        channels.push(ch);
    }
    server
        .wait_until("three channels joined", WAIT, |s| {
            joined_on_one_new_connection(s, &TOPICS, None)
        })
        .await
        .unwrap();
    (socket, channels)
}

fn conn_and_refs(server: &TestServer) -> (u64, Vec<String>) {
    let joined = server.joined();
    let conn = joined[0].conn_id;
    let mut refs: Vec<String> = joined.iter().map(|j| j.join_ref.to_string()).collect();
    refs.sort();
    (conn, refs)
}

/// `same_server`: connection ids are only comparable on the same server instance.
async fn assert_rejoined(
    server: &TestServer,
    socket: &Socket,
    channels: &[phx_client::Channel],
    old: (u64, Vec<String>),
    same_server: bool,
) {
    let old_conn = same_server.then_some(old.0);
    server
        .wait_until(
            "all three channels rejoined on a new connection",
            WAIT,
            |s| joined_on_one_new_connection(s, &TOPICS, old_conn),
        )
        .await
        .unwrap();
    let (_, refs) = conn_and_refs(server);
    for r in &refs {
        assert!(
            !old.1.contains(r),
            "join_ref {r} was reused; every rejoin needs a fresh one"
        );
    }
    for ch in channels {
        ch.wait_for(WAIT, |s| *s == ChannelStatus::Joined)
            .await
            .unwrap();
    }
    assert_eq!(socket.status().generation(), Some(2));
    // The channels work again.
    let reply = channels[0].push("ping", json!({})).await.unwrap();
    assert_eq!(reply.response, json!({"ping": "pong"}).into());
}

#[tokio::test]
async fn three_channels_rejoin_after_the_server_drops_every_connection() {
    let server = TestServer::start(Config::default()).await;
    let (socket, channels) = three_channels(&server).await;
    let before = conn_and_refs(&server);

    server.drop_all_connections();

    assert_rejoined(&server, &socket, &channels, before, true).await;
}

#[tokio::test]
async fn three_channels_rejoin_after_the_server_restarts_on_the_same_port() {
    let server = TestServer::start(Config::default()).await;
    let addr = server.addr();
    let (socket, channels) = three_channels(&server).await;
    let before = conn_and_refs(&server);

    let mut transitions = socket.status_events();
    server.stop().await;
    // The graceful stop closes with 1012 (Service Restart), which the default policy retries.
    let reason = tokio::time::timeout(WAIT, async {
        loop {
            if let StatusEvent::Socket(SocketStatus::Reconnecting { reason, .. }) =
                transitions.recv().await.unwrap()
            {
                return reason;
            }
        }
    })
    .await
    .unwrap();
    assert_eq!(reason, "server closed with 1012");
    for ch in &channels {
        assert_eq!(ch.status(), ChannelStatus::Errored);
    }

    let server = TestServer::start_on(addr, Config::default()).await.unwrap();
    let restarted = std::time::Instant::now();
    assert_rejoined(&server, &socket, &channels, before, false).await;
    println!(
        "server restart -> 3 channels rejoined (server side): {:?}",
        restarted.elapsed()
    );
}

/// What the restart figure in the report measures: stop, wait `down`, start on the same port,
/// then time until the server has every channel joined again (default reconnect schedule).
#[tokio::test]
async fn restart_to_rejoin_time_with_the_default_schedule() {
    for down in [
        Duration::from_millis(0),
        Duration::from_millis(300),
        Duration::from_millis(3000),
    ] {
        let server = TestServer::start(Config::default()).await;
        let addr = server.addr();
        let (_socket, _channels) = three_channels(&server).await;
        server.stop().await;
        tokio::time::sleep(down).await; // the outage being simulated, not a wait for a state
        let server = TestServer::start_on(addr, Config::default()).await.unwrap();
        let restarted = std::time::Instant::now();
        server
            .wait_until("all rejoined", WAIT, |s| {
                joined_on_one_new_connection(s, &TOPICS, None)
            })
            .await
            .unwrap();
        let took = restarted.elapsed();
        println!("outage {down:?}: restart -> 3 channels rejoined in {took:?}");
        assert!(
            took < Duration::from_secs(6),
            "the 5 s reconnect cap bounds it: {took:?}"
        );
    }
}

/// The server's idle timeout closes with 1000 (Cowboy): phoenix.js 1.8.16 reconnects after it,
/// the older 1.8.12 rule does not.
#[tokio::test]
async fn close_code_1000_reconnects_by_default_and_stops_under_the_1_8_12_rule() {
    let config = Config {
        idle_timeout: Duration::from_millis(200),
        ..Config::default()
    };
    let server = TestServer::start(config).await;
    for (policy, reconnects) in [
        (phx_client::ClosePolicy::PhoenixJs1816, true),
        (phx_client::ClosePolicy::PhoenixJs1812, false),
    ] {
        let socket = builder(&server.ws_url("/socket"))
            .close_policy(policy)
            .build()
            .unwrap();
        let mut transitions = socket.status_events();
        socket.connect().await.unwrap();
        let next_status = tokio::time::timeout(WAIT, async {
            loop {
                match transitions.recv().await.unwrap() {
                    StatusEvent::Socket(
                        s @ (SocketStatus::Reconnecting { .. } | SocketStatus::Stopped { .. }),
                    ) => return s,
                    _ => continue,
                }
            }
        })
        .await
        .unwrap();
        if reconnects {
            assert!(
                matches!(&next_status, SocketStatus::Reconnecting { reason, .. } if reason.contains("1000")),
                "{next_status:?}"
            );
            socket
                .wait_for(WAIT, |s| s.generation() == Some(2))
                .await
                .unwrap();
        } else {
            assert!(
                matches!(
                    next_status,
                    SocketStatus::Stopped {
                        code: Some(1000),
                        ..
                    }
                ),
                "{next_status:?}"
            );
        }
        socket.disconnect().await;
    }
}

/// Heartbeats count as inbound data: with an interval under the server's idle timeout the
/// connection survives several idle periods.
#[tokio::test]
async fn heartbeats_keep_an_idle_connection_open() {
    let config = Config {
        idle_timeout: Duration::from_millis(1000),
        ..Config::default()
    };
    let server = TestServer::start(config).await;
    let socket = builder(&server.ws_url("/socket"))
        .heartbeat_interval(Duration::from_millis(100))
        .build()
        .unwrap();
    socket.connect().await.unwrap();
    let mut messages = socket.messages();
    // 10x margin between interval and idle timeout; fifteen replies span 1.5 idle timeouts.
    let mut replies = 0;
    tokio::time::timeout(WAIT, async {
        while replies < 15 {
            if let Ok(phx_protocol::ServerMessage::Reply(r)) = messages.recv().await {
                if r.topic == "phoenix" {
                    replies += 1;
                }
            }
        }
    })
    .await
    .unwrap();
    assert_eq!(socket.status(), SocketStatus::Connected { generation: 1 });
}
