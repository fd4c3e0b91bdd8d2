//! Channel events are never dropped for lag: a receiver made after `join()` returns still gets
//! what arrived in between, and a slow receiver slows the socket down (backpressure) instead
//! of losing events.
//!
//! The peer is scripted over an in-memory duplex stream (a real WebSocket handshake and real
//! frames, no TCP) because the test must control exactly when each push is written.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use phx_client::Socket;
use phx_protocol::{Push, ServerMessage};
use serde_json::json;

use crate::support::{DuplexConnector, Peer, WAIT};

#[tokio::test]
async fn events_pushed_right_after_the_join_reach_a_receiver_made_after_join_returns() {
    let (connector, mut peers) = DuplexConnector::new();
    let socket = Socket::builder("ws://fake.invalid/socket")
        .connector(connector)
        .build()
        .unwrap();
    let mut tap = socket.messages();
    let connecting = tokio::spawn({
        let socket = socket.clone();
        async move { socket.connect().await }
    });
    let mut peer = Peer::accept(&mut peers).await;
    connecting.await.unwrap().unwrap();
    let room = socket.channel("room:1");
    let joining = tokio::spawn({
        let room = room.clone();
        async move { room.join(json!({})).await }
    });
    let join = peer.accept_join().await;
    for i in 0..5 {
        let push = Push::new(
            join.join_ref.clone(),
            "room:1",
            "after_join",
            json!({ "i": i }),
        );
        peer.send(ServerMessage::Push(push)).await;
    }
    joining.await.unwrap().unwrap();
    // Subscribe only once the client has read all five: the race of issue #12, made certain.
    let mut seen = 0;
    while seen < 5 {
        let msg = tokio::time::timeout(WAIT, tap.recv())
            .await
            .unwrap()
            .unwrap();
        if msg.event() == "after_join" {
            seen += 1;
        }
    }
    let mut events = room.events();
    for i in 0..5 {
        let ev = tokio::time::timeout(WAIT, events.recv())
            .await
            .unwrap()
            .unwrap();
        assert_eq!(ev.payload, json!({ "i": i }).into());
    }
    assert!(events.try_recv().is_none());
}

#[tokio::test(start_paused = true)]
async fn a_slow_receiver_stops_the_reads_and_still_gets_every_event_in_order() {
    const N: usize = 3000;
    let (connector, mut peers) = DuplexConnector::new();
    let socket = Socket::builder("ws://fake.invalid/socket")
        .event_capacity(8)
        .connector(connector)
        .build()
        .unwrap();
    let connecting = tokio::spawn({
        let socket = socket.clone();
        async move { socket.connect().await }
    });
    let mut peer = Peer::accept(&mut peers).await;
    connecting.await.unwrap().unwrap();
    let room = socket.channel("room:1");
    let mut events = room.events();
    let joining = tokio::spawn({
        let room = room.clone();
        async move { room.join(json!({})).await }
    });
    let join = peer.accept_join().await;
    joining.await.unwrap().unwrap();
    let sent = Arc::new(AtomicUsize::new(0));
    let sender = tokio::spawn({
        let sent = sent.clone();
        async move {
            for i in 0..N {
                let push = Push::new(join.join_ref.clone(), "room:1", "n", json!({ "i": i }));
                peer.send(ServerMessage::Push(push)).await;
                sent.fetch_add(1, Ordering::Relaxed);
            }
            peer
        }
    });
    // The paused clock only moves once every task is stuck: the receiver reads nothing, so the
    // client stops reading and the peer blocks on a full stream (3000 pushes > 64 KiB buffer).
    tokio::time::sleep(Duration::from_secs(1)).await;
    let stuck_at = sent.load(Ordering::Relaxed);
    assert!(
        stuck_at < N,
        "the peer wrote all {N} pushes although nobody read"
    );
    for i in 0..N {
        let ev = tokio::time::timeout(WAIT, events.recv())
            .await
            .unwrap()
            .unwrap_or_else(|e| panic!("event {i}: {e}"));
        assert_eq!(ev.payload, json!({ "i": i }).into());
        if i % 7 == 0 {
            tokio::task::yield_now().await;
        }
    }
    let _peer = sender.await.unwrap();
    assert_eq!(sent.load(Ordering::Relaxed), N);
}
