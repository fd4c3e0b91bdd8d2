//! A peer that stops reading: the client's writes stall, but it keeps reading, serving commands
//! and running timers, and it detects the dead link by the unanswered heartbeat.
//!
//! A real WebSocket on 127.0.0.1 port 0. The peer is scripted (the real server always reads),
//! and both ends use 4 KiB socket buffers so a few megabytes of pushes fill them for certain.

use std::time::Duration;

use futures_util::future::BoxFuture;
use futures_util::{SinkExt, StreamExt};
use phx_client::{BoxIo, Connector, PushError, Socket, SocketStatus, Stepped};
use phx_protocol::{Push, Reply, ServerMessage, Vsn};
use serde_json::json;
use tokio::net::TcpSocket;
use tokio_tungstenite::tungstenite::Message as WsMessage;

use crate::support::WAIT;

/// TCP with a small send buffer, so a stalled peer blocks the client's writes quickly.
struct SmallBufferTcp;

impl Connector for SmallBufferTcp {
    fn connect(&self, host: String, port: u16) -> BoxFuture<'static, std::io::Result<BoxIo>> {
        Box::pin(async move {
            let addr = tokio::net::lookup_host((host.as_str(), port))
                .await?
                .next()
                .ok_or_else(|| std::io::Error::other("no address"))?;
            let socket = TcpSocket::new_v4()?;
            socket.set_send_buffer_size(4096)?;
            Ok(Box::new(socket.connect(addr).await?) as BoxIo)
        })
    }
}

fn ws_text(msg: &ServerMessage) -> WsMessage {
    match Vsn::V2.encode_server(msg).unwrap() {
        phx_protocol::Frame::Text(t) => WsMessage::text(t),
        phx_protocol::Frame::Binary(b) => WsMessage::binary(b),
    }
}

#[tokio::test]
async fn a_peer_that_stops_reading_does_not_stall_reads_or_commands_and_dies_by_heartbeat() {
    let listener = TcpSocket::new_v4().unwrap();
    listener.set_recv_buffer_size(4096).unwrap();
    listener.bind("127.0.0.1:0".parse().unwrap()).unwrap();
    let listener = listener.listen(16).unwrap();
    let addr = listener.local_addr().unwrap();

    let socket = Socket::builder(&format!("ws://{addr}/socket"))
        .heartbeat_interval(Duration::from_secs(2))
        .heartbeat_timeout(Duration::from_secs(2))
        .reconnect_backoff(Stepped::constant(Duration::from_secs(60)))
        .connector(SmallBufferTcp)
        .build()
        .unwrap();
    let connecting = tokio::spawn({
        let socket = socket.clone();
        async move { socket.connect().await }
    });
    let (tcp, _) = listener.accept().await.unwrap();
    let ws = tokio_tungstenite::accept_async(tcp).await.unwrap();
    connecting.await.unwrap().unwrap();
    let (mut sink, mut stream) = ws.split();

    // Join normally, then the peer never reads again (it keeps `stream` open, unpolled).
    let room = socket.channel("room:1");
    let mut ticks = room.on("tick");
    let joining = tokio::spawn({
        let room = room.clone();
        async move { room.join(json!({})).await }
    });
    let join = loop {
        let frame = stream.next().await.unwrap().unwrap();
        let text = frame.to_text().unwrap().to_owned();
        let msg = Vsn::V2
            .decode_client(&phx_protocol::Frame::text(text))
            .unwrap();
        if msg.event == "phx_join" {
            break msg;
        }
    };
    sink.send(ws_text(&ServerMessage::Reply(Reply::ok(&join, json!({})))))
        .await
        .unwrap();
    joining.await.unwrap().unwrap();

    // 2.5 MiB of pushes: far more than the socket buffers, so the client's writer is stuck.
    let big = "x".repeat(64 * 1024);
    let stuck: Vec<_> = (0..40)
        .map(|_| {
            let room = room.clone();
            let big = big.clone();
            tokio::spawn(async move {
                room.push_with_timeout("big", json!({ "b": big }), Duration::from_secs(60))
                    .await
            })
        })
        .collect();

    // The peer still writes; the client still reads.
    for i in 0..5 {
        let push = Push::new(join.join_ref.clone(), "room:1", "tick", json!({ "i": i }));
        sink.send(ws_text(&ServerMessage::Push(push)))
            .await
            .unwrap();
        let ev = tokio::time::timeout(WAIT, ticks.recv())
            .await
            .expect("the client keeps reading while its writes are stuck")
            .unwrap();
        assert_eq!(ev.payload, json!({ "i": i }).into());
    }
    // Commands and timers are still served: a short push times out on time, on this link.
    let short = room
        .push_with_timeout("short", json!({}), Duration::from_millis(100))
        .await;
    assert!(matches!(short, Err(PushError::Timeout(_))), "{short:?}");
    assert_eq!(
        socket.status().generation(),
        Some(1),
        "still the first link"
    );

    // The heartbeat goes unanswered (the peer does not read): the link is declared dead.
    let status = socket
        .wait_for(WAIT, |s| matches!(s, SocketStatus::Reconnecting { .. }))
        .await
        .unwrap();
    match status {
        SocketStatus::Reconnecting { reason, .. } => assert_eq!(reason, "heartbeat timeout"),
        other => panic!("{other:?}"),
    }
    for push in stuck {
        let outcome = tokio::time::timeout(WAIT, push).await.unwrap().unwrap();
        assert!(
            matches!(outcome, Err(PushError::ConnectionLost)),
            "{outcome:?}"
        );
    }
    drop(stream);
}
