//! Wire details checked against a scripted peer over an in-memory stream: the real server
//! cannot be made to send a stale join_ref or a binary reply, nor to expose the handshake
//! headers it received.

use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::{Arc, Mutex};

use bytes::Bytes;
use phx_client::{ChannelStatus, Payload, Socket};
use phx_protocol::{Broadcast, Push, Ref, Reply, ServerMessage};
use serde_json::json;
use tokio_tungstenite::tungstenite::handshake::server::{Request, Response};
use tokio_tungstenite::tungstenite::http::HeaderValue;

use crate::support::{DuplexConnector, Peer, WAIT};

fn socket(connector: DuplexConnector) -> Socket {
    Socket::builder("ws://fake.invalid/socket")
        .connector(connector)
        .build()
        .unwrap()
}

async fn connected(
    socket: &Socket,
    peers: &mut tokio::sync::mpsc::UnboundedReceiver<tokio::io::DuplexStream>,
) -> Peer {
    let s = socket.clone();
    let connecting = tokio::spawn(async move { s.connect().await });
    let peer = Peer::accept(peers).await;
    connecting.await.unwrap().unwrap();
    peer
}

#[tokio::test]
async fn messages_with_a_stale_join_ref_are_dropped() {
    let (connector, mut peers) = DuplexConnector::new();
    let socket = socket(connector);
    let mut peer = connected(&socket, &mut peers).await;
    let room = socket.channel("room");
    let mut events = room.events();
    let r = room.clone();
    let join = tokio::spawn(async move { r.join(json!({})).await });
    let msg = peer.accept_join().await;
    join.await.unwrap().unwrap();
    let Ref::Str(join_ref) = msg.join_ref.clone() else {
        panic!("string join_ref expected")
    };
    assert_eq!(
        msg.ref_, msg.join_ref,
        "phoenix.js sends join_ref == ref for the join"
    );
    let mut only_bcast = Box::pin(room.on("bcast").into_stream());

    peer.send(ServerMessage::Push(Push::new(
        "999",
        "room",
        "stale",
        json!({}),
    )))
    .await;
    peer.send(ServerMessage::Push(Push::new(
        join_ref.as_str(),
        "room",
        "fresh",
        json!({}),
    )))
    .await;
    peer.send(ServerMessage::Broadcast(Broadcast::new(
        "room",
        "bcast",
        json!({}),
    )))
    .await;
    assert_eq!(events.recv().await.unwrap().event, "fresh");
    assert_eq!(events.recv().await.unwrap().event, "bcast");
    let streamed = futures_util::StreamExt::next(&mut only_bcast)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(streamed.event, "bcast");
    // A phx_close for an old join (duplicate-join order) must not close the current channel.
    peer.send(ServerMessage::Message(phx_protocol::Message::new(
        "999",
        "999",
        "room",
        "phx_close",
        json!({}),
    )))
    .await;
    peer.send(ServerMessage::Broadcast(Broadcast::new(
        "room",
        "after",
        json!({}),
    )))
    .await;
    assert_eq!(events.recv().await.unwrap().event, "after");
    assert_eq!(room.status(), ChannelStatus::Joined);
}

#[tokio::test]
async fn binary_payloads_both_ways() {
    let (connector, mut peers) = DuplexConnector::new();
    let socket = socket(connector);
    let mut peer = connected(&socket, &mut peers).await;
    let room = socket.channel("room");
    let mut events = room.on("blob");
    let r = room.clone();
    let join = tokio::spawn(async move { r.join(json!({})).await });
    let join_msg = peer.accept_join().await;
    join.await.unwrap().unwrap();

    let r = room.clone();
    let push =
        tokio::spawn(async move { r.push("upload", Payload::binary(vec![0u8, 1, 255])).await });
    let got = peer.recv().await;
    assert_eq!(got.event, "upload");
    assert_eq!(got.join_ref, join_msg.join_ref);
    assert_eq!(got.payload, Payload::binary(vec![0u8, 1, 255]));
    let reply = Reply::new(
        got.join_ref.clone(),
        got.ref_.clone(),
        "room",
        "ok",
        Payload::binary(vec![9u8, 8]),
    );
    peer.send(ServerMessage::Reply(reply)).await;
    let reply = push.await.unwrap().unwrap();
    assert_eq!(
        reply.response.as_binary(),
        Some(&Bytes::from_static(&[9, 8]))
    );

    peer.send(ServerMessage::Push(Push::new(
        join_msg.join_ref.clone(),
        "room",
        "blob",
        Payload::binary(vec![7u8]),
    )))
    .await;
    let ev = events.recv().await.unwrap();
    assert_eq!(ev.payload, Payload::binary(vec![7u8]));
}

#[tokio::test]
async fn the_join_payload_closure_is_called_again_at_each_rejoin() {
    let (connector, mut peers) = DuplexConnector::new();
    let socket = socket(connector);
    let mut peer = connected(&socket, &mut peers).await;
    let calls = Arc::new(AtomicU32::new(0));
    let room = socket.channel("room");
    let r = room.clone();
    let c = calls.clone();
    let join = tokio::spawn(async move {
        r.join_with(move || json!({ "attempt": c.fetch_add(1, Ordering::SeqCst) + 1 }).into())
            .await
    });
    let first = peer.accept_join().await;
    join.await.unwrap().unwrap();
    assert_eq!(first.payload, json!({"attempt": 1}).into());

    drop(peer); // abrupt drop: the client reconnects and rejoins
    let mut peer = Peer::accept(&mut peers).await;
    let second = peer.accept_join().await;
    assert_eq!(second.payload, json!({"attempt": 2}).into());
    assert_ne!(
        second.join_ref, first.join_ref,
        "a rejoin uses a fresh join_ref"
    );
    room.wait_for(WAIT, |s| *s == ChannelStatus::Joined)
        .await
        .unwrap();
}

#[tokio::test]
async fn the_auth_token_goes_in_sec_websocket_protocol_and_is_refreshed_per_attempt() {
    let (connector, mut peers) = DuplexConnector::new();
    let token = Arc::new(Mutex::new("first-token".to_owned()));
    let t = token.clone();
    let socket = Socket::builder("ws://fake.invalid/socket")
        .connector(connector)
        .auth_token_with(move || Some(t.lock().unwrap().clone()))
        .build()
        .unwrap();
    let s = socket.clone();
    let connecting = tokio::spawn(async move { s.connect().await });

    let seen = Arc::new(Mutex::new(Vec::<String>::new()));
    let accept = |io, seen: Arc<Mutex<Vec<String>>>| async move {
        // The callback's error type is fixed by tungstenite's Callback trait.
        #[allow(clippy::result_large_err)]
        let callback = move |req: &Request, mut resp: Response| {
            let header = req
                .headers()
                .get("sec-websocket-protocol")
                .and_then(|v| v.to_str().ok())
                .unwrap_or_default();
            seen.lock().unwrap().push(header.to_owned());
            resp.headers_mut().insert(
                "sec-websocket-protocol",
                HeaderValue::from_static("phoenix"),
            );
            Ok(resp)
        };
        tokio_tungstenite::accept_hdr_async(io, callback)
            .await
            .unwrap()
    };
    let ws = accept(peers.recv().await.unwrap(), seen.clone()).await;
    connecting.await.unwrap().unwrap();
    *token.lock().unwrap() = "second?token".to_owned();
    drop(ws);
    let _ws2 = accept(peers.recv().await.unwrap(), seen.clone()).await;
    socket
        .wait_for(WAIT, |s| s.generation() == Some(2))
        .await
        .unwrap();

    let seen = seen.lock().unwrap().clone();
    assert_eq!(
        seen,
        [
            "phoenix, base64url.bearer.phx.Zmlyc3QtdG9rZW4", // base64("first-token"), '=' stripped
            "phoenix, base64url.bearer.phx.c2Vjb25kP3Rva2Vu", // base64("second?token")
        ]
    );
}

#[tokio::test]
async fn an_unmatched_topic_reply_to_a_push_triggers_a_rejoin() {
    let (connector, mut peers) = DuplexConnector::new();
    let socket = Socket::builder("ws://fake.invalid/socket")
        .rejoin_backoff(phx_client::Stepped::constant(
            std::time::Duration::from_millis(10),
        ))
        .connector(connector)
        .build()
        .unwrap();
    let mut peer = connected(&socket, &mut peers).await;
    let room = socket.channel("room");
    let r = room.clone();
    let join = tokio::spawn(async move { r.join(json!({})).await });
    let first = peer.accept_join().await;
    join.await.unwrap().unwrap();

    // The server answers a push as if the channel did not exist (join_ref null).
    let r = room.clone();
    let push = tokio::spawn(async move { r.push("hello", json!({})).await });
    let msg = peer.recv().await;
    let reply = Reply::new(
        Ref::Null,
        msg.ref_.clone(),
        "room",
        "error",
        json!({"reason": "unmatched topic"}),
    );
    peer.send(ServerMessage::Reply(reply)).await;
    assert!(matches!(
        push.await.unwrap(),
        Err(phx_client::PushError::ErrorReply(_))
    ));
    // The client rejoins with a fresh join_ref instead of believing it is still joined.
    let rejoin = peer.accept_join().await;
    assert_ne!(rejoin.join_ref, first.join_ref);
    room.wait_for(WAIT, |s| *s == ChannelStatus::Joined)
        .await
        .unwrap();
}
