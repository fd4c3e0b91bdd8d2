//! The schedules in action, under tokio's paused clock: reconnect attempts follow phoenix.js's
//! 10 ms … 2 s then 5 s steps; a refused join is retried 1, 2, 5, then 10 s apart; a join that
//! gets no reply times out, is cleaned up with phx_leave and retried with a fresh join_ref.
//! Scripted peers: the real server cannot refuse every connection or ignore a join.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use futures_util::future::BoxFuture;
use phx_client::{BoxIo, ChannelStatus, Connector, JoinError, Socket, SocketStatus, StatusEvent};
use phx_protocol::{Payload, Reply, ServerMessage};
use serde_json::json;
use tokio::time::Instant;

use crate::support::{DuplexConnector, Peer};

/// Refuses every connection and records when each attempt was made.
struct Refusing(Arc<Mutex<Vec<Instant>>>);

impl Connector for Refusing {
    fn connect(&self, _host: String, _port: u16) -> BoxFuture<'static, std::io::Result<BoxIo>> {
        self.0.lock().unwrap().push(Instant::now());
        Box::pin(async {
            Err(std::io::Error::new(
                std::io::ErrorKind::ConnectionRefused,
                "refused",
            ))
        })
    }
}

fn gaps_ms(times: &[Instant]) -> Vec<u64> {
    times
        .windows(2)
        .map(|w| (w[1] - w[0]).as_millis() as u64)
        .collect()
}

#[tokio::test(start_paused = true)]
async fn reconnect_attempts_follow_the_phoenix_js_schedule() {
    let times = Arc::new(Mutex::new(Vec::new()));
    let socket = Socket::builder("ws://fake.invalid/socket")
        .connector(Refusing(times.clone()))
        .build()
        .unwrap();
    let mut transitions = socket.status_events();
    let err = socket.connect().await.unwrap_err();
    assert!(
        matches!(err, phx_client::ConnectError::Unreachable { .. }),
        "{err:?}"
    );
    tokio::time::timeout(Duration::from_secs(60), async {
        while transitions.recv().await.unwrap()
            != StatusEvent::Socket(SocketStatus::Connecting { attempt: 12 })
        {}
    })
    .await
    .unwrap();
    let times = times.lock().unwrap()[..13].to_vec();
    assert_eq!(
        gaps_ms(&times),
        [10, 50, 100, 150, 200, 250, 500, 1000, 2000, 5000, 5000, 5000]
    );
}

#[tokio::test(start_paused = true)]
async fn a_refused_join_is_retried_on_the_rejoin_schedule() {
    let (connector, mut peers) = DuplexConnector::new();
    let socket = Socket::builder("ws://fake.invalid/socket")
        .connector(connector)
        .build()
        .unwrap();
    let s = socket.clone();
    let connecting = tokio::spawn(async move { s.connect().await });
    let mut peer = Peer::accept(&mut peers).await;
    connecting.await.unwrap().unwrap();

    let room = socket.channel("room");
    let r = room.clone();
    let first = tokio::spawn(async move { r.join(json!({})).await });
    let mut times = Vec::new();
    let mut refs = Vec::new();
    for _ in 0..5 {
        let join = peer.recv().await;
        assert_eq!(join.event, "phx_join");
        times.push(Instant::now());
        refs.push(join.join_ref.clone());
        peer.send(ServerMessage::Reply(Reply::error(
            &join,
            json!({"reason": "nope"}),
        )))
        .await;
    }
    match first.await.unwrap() {
        Err(JoinError::Rejected(p)) => assert_eq!(p, json!({"reason": "nope"}).into()),
        other => panic!("{other:?}"),
    }
    assert_eq!(gaps_ms(&times), [1000, 2000, 5000, 10_000]);
    refs.dedup();
    assert_eq!(refs.len(), 5, "every retry uses a fresh join_ref");
    // The sixth attempt succeeds.
    peer.accept_join().await;
    room.wait_for(Duration::from_secs(60), |s| *s == ChannelStatus::Joined)
        .await
        .unwrap();
}

#[tokio::test(start_paused = true)]
async fn a_join_without_reply_times_out_is_left_and_retried() {
    let (connector, mut peers) = DuplexConnector::new();
    let socket = Socket::builder("ws://fake.invalid/socket")
        .connector(connector)
        .build()
        .unwrap();
    let s = socket.clone();
    let connecting = tokio::spawn(async move { s.connect().await });
    let mut peer = Peer::accept(&mut peers).await;
    connecting.await.unwrap().unwrap();

    let room = socket.channel("room");
    let r = room.clone();
    let started = Instant::now();
    let join = tokio::spawn(async move { r.join(json!({})).await });
    let ignored = peer.recv().await;
    assert_eq!(ignored.event, "phx_join");
    // No reply: after the push timeout (10 s) the client leaves that join and reports Timeout.
    let leave = peer.recv().await;
    assert_eq!(started.elapsed(), Duration::from_secs(10));
    assert_eq!(
        (leave.event.as_str(), &leave.join_ref),
        ("phx_leave", &ignored.join_ref)
    );
    assert!(
        matches!(join.await.unwrap(), Err(JoinError::Timeout(d)) if d == Duration::from_secs(10))
    );
    assert_eq!(room.status(), ChannelStatus::Errored);
    // One second later (rejoin schedule) it joins again with a fresh join_ref.
    let retry = peer.recv().await;
    assert_eq!(started.elapsed(), Duration::from_secs(11));
    assert_eq!(retry.event, "phx_join");
    assert_ne!(retry.join_ref, ignored.join_ref);
    peer.send(ServerMessage::Reply(Reply::ok(
        &retry,
        Payload::empty_object(),
    )))
    .await;
    room.wait_for(Duration::from_secs(60), |s| *s == ChannelStatus::Joined)
        .await
        .unwrap();
}
