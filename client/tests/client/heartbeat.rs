//! A server that stops answering heartbeats is detected within interval + timeout.
//!
//! The real phx-server always answers heartbeats, so these tests script the peer over an
//! in-memory duplex stream (a real WebSocket handshake and real frames, no TCP) and drive the
//! timers with tokio's paused clock.

use std::time::Duration;

use futures_util::{SinkExt, StreamExt};
use phx_client::{Socket, SocketStatus, Stepped};
use tokio::time::Instant;
use tokio_tungstenite::tungstenite::Message;

use crate::support::DuplexConnector;

const INTERVAL: Duration = Duration::from_secs(30);
const TIMEOUT: Duration = Duration::from_secs(10);

fn socket(connector: DuplexConnector) -> Socket {
    Socket::builder("ws://fake.invalid/socket")
        .heartbeat_interval(INTERVAL)
        .heartbeat_timeout(TIMEOUT)
        .reconnect_backoff(Stepped::constant(Duration::from_secs(1)))
        .connector(connector)
        .build()
        .unwrap()
}

fn is_heartbeat(msg: &Message) -> Option<String> {
    let text = msg.to_text().ok()?;
    let v: serde_json::Value = serde_json::from_str(text).ok()?;
    let arr = v.as_array()?;
    (arr.get(2)? == "phoenix" && arr.get(3)? == "heartbeat")
        .then(|| arr[1].as_str().unwrap_or_default().to_owned())
}

#[tokio::test(start_paused = true)]
async fn a_silent_server_is_detected_within_interval_plus_timeout() {
    let (connector, mut peers) = DuplexConnector::new();
    let socket = socket(connector);
    let connecting = tokio::spawn({
        let socket = socket.clone();
        async move { socket.connect().await }
    });
    let mut peer = tokio_tungstenite::accept_async(peers.recv().await.unwrap())
        .await
        .unwrap();
    connecting.await.unwrap().unwrap();
    let opened = Instant::now();

    // The first heartbeat comes one interval after the open; the peer reads it and stays silent.
    let first = peer.next().await.unwrap().unwrap();
    assert!(
        is_heartbeat(&first).is_some(),
        "expected a heartbeat, got {first:?}"
    );
    assert_eq!(opened.elapsed(), INTERVAL);

    let status = socket
        .wait_for(Duration::from_secs(600), |s| {
            matches!(s, SocketStatus::Reconnecting { .. })
        })
        .await
        .unwrap();
    assert_eq!(
        opened.elapsed(),
        INTERVAL + TIMEOUT,
        "detected at {:?}",
        opened.elapsed()
    );
    match status {
        SocketStatus::Reconnecting { reason, .. } => assert_eq!(reason, "heartbeat timeout"),
        other => panic!("{other:?}"),
    }
    // The client closed the dead link itself (1000, "heartbeat timeout"), as phoenix.js does...
    match peer.next().await {
        Some(Ok(Message::Close(Some(frame)))) => {
            assert_eq!(u16::from(frame.code), 1000);
            assert_eq!(frame.reason.as_str(), "heartbeat timeout");
        }
        other => panic!("expected a close frame, got {other:?}"),
    }
    // ...and reconnects after the schedule's delay.
    let _second = tokio_tungstenite::accept_async(peers.recv().await.unwrap())
        .await
        .unwrap();
    socket
        .wait_for(Duration::from_secs(60), |s| s.generation() == Some(2))
        .await
        .unwrap();
    assert_eq!(
        opened.elapsed(),
        INTERVAL + TIMEOUT + Duration::from_secs(1)
    );
}

#[tokio::test(start_paused = true)]
async fn a_server_that_answers_keeps_the_connection() {
    let (connector, mut peers) = DuplexConnector::new();
    let socket = socket(connector);
    let connecting = tokio::spawn({
        let socket = socket.clone();
        async move { socket.connect().await }
    });
    let mut peer = tokio_tungstenite::accept_async(peers.recv().await.unwrap())
        .await
        .unwrap();
    connecting.await.unwrap().unwrap();
    let opened = Instant::now();
    // Answer ten heartbeats (five simulated minutes); each comes one interval after the reply.
    for n in 1..=10u32 {
        let msg = peer.next().await.unwrap().unwrap();
        let r = is_heartbeat(&msg).expect("a heartbeat");
        assert_eq!(opened.elapsed(), INTERVAL * n);
        let reply =
            format!(r#"[null,"{r}","phoenix","phx_reply",{{"response":{{}},"status":"ok"}}]"#);
        peer.send(Message::text(reply)).await.unwrap();
    }
    assert_eq!(socket.status(), SocketStatus::Connected { generation: 1 });
    assert!(
        peers.try_recv().is_err(),
        "the client must not have reconnected"
    );
}
