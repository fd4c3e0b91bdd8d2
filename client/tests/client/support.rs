//! Shared helpers: an in-memory connector for scripted peers, and server fixtures.

#![allow(dead_code)]

use std::time::Duration;

use futures_util::future::BoxFuture;
use phx_client::{BoxIo, Connector};
use tokio::io::DuplexStream;
use tokio::sync::mpsc;

/// Wide margin for wall-clock waits on the real server (the assertions do not depend on it).
pub const WAIT: Duration = Duration::from_secs(10);

/// A connector whose every connection is one end of an in-memory duplex stream; the test gets
/// the other end, to run a scripted WebSocket peer on it.
pub struct DuplexConnector {
    peers: mpsc::UnboundedSender<DuplexStream>,
}

impl DuplexConnector {
    pub fn new() -> (Self, mpsc::UnboundedReceiver<DuplexStream>) {
        let (tx, rx) = mpsc::unbounded_channel();
        (DuplexConnector { peers: tx }, rx)
    }
}

impl Connector for DuplexConnector {
    fn connect(&self, _host: String, _port: u16) -> BoxFuture<'static, std::io::Result<BoxIo>> {
        let (client, server) = tokio::io::duplex(64 * 1024);
        let sent = self.peers.send(server);
        Box::pin(async move {
            sent.map_err(|_| {
                std::io::Error::new(std::io::ErrorKind::ConnectionRefused, "test peer gone")
            })?;
            Ok(Box::new(client) as BoxIo)
        })
    }
}

/// A socket builder tuned for tests against the real server: phoenix.js's reconnect schedule,
/// a fast rejoin schedule and a 2 s push timeout.
pub fn builder(url: &str) -> phx_client::SocketBuilder {
    phx_client::Socket::builder(url)
        .rejoin_backoff(phx_client::Stepped::constant(Duration::from_millis(50)))
        .push_timeout(Duration::from_secs(2))
}

/// Topics the server has joined, sorted, with their connection ids.
pub fn server_topics(server: &phx_server::testing::TestServer) -> Vec<(u64, String)> {
    let mut v: Vec<(u64, String)> = server
        .joined()
        .into_iter()
        .map(|j| (j.conn_id, j.topic))
        .collect();
    v.sort();
    v
}

/// True when the server has exactly `topics` joined, all on one connection other than `not_conn`.
pub fn joined_on_one_new_connection(
    server: &phx_server::testing::TestServer,
    topics: &[&str],
    not_conn: Option<u64>,
) -> bool {
    let joined = server.joined();
    let mut got: Vec<&str> = joined.iter().map(|j| j.topic.as_str()).collect();
    got.sort_unstable();
    let mut want = topics.to_vec();
    want.sort_unstable();
    let conns: std::collections::HashSet<u64> = joined.iter().map(|j| j.conn_id).collect();
    got == want && conns.len() == 1 && conns.iter().all(|c| Some(*c) != not_conn)
}

/// A scripted server-side WebSocket peer on a duplex stream.
pub struct Peer {
    pub ws: tokio_tungstenite::WebSocketStream<DuplexStream>,
}

impl Peer {
    /// Accepts the next connection the client opens through a [`DuplexConnector`].
    pub async fn accept(peers: &mut mpsc::UnboundedReceiver<DuplexStream>) -> Peer {
        let io = peers.recv().await.expect("the client connects");
        Peer {
            ws: tokio_tungstenite::accept_async(io)
                .await
                .expect("handshake"),
        }
    }

    /// The next client message (V2), skipping heartbeats.
    pub async fn recv(&mut self) -> phx_protocol::Message {
        use futures_util::StreamExt;
        loop {
            let msg = self.ws.next().await.expect("open").expect("frame");
            let frame = match msg {
                tokio_tungstenite::tungstenite::Message::Text(t) => {
                    phx_protocol::Frame::text(t.as_str())
                }
                tokio_tungstenite::tungstenite::Message::Binary(b) => {
                    phx_protocol::Frame::Binary(b)
                }
                other => panic!("unexpected {other:?}"),
            };
            let m = phx_protocol::Vsn::V2
                .decode_client(&frame)
                .expect("decodable");
            if m.event != "heartbeat" {
                return m;
            }
        }
    }

    /// Sends a server message (V2).
    pub async fn send(&mut self, msg: phx_protocol::ServerMessage) {
        use futures_util::SinkExt;
        let frame = phx_protocol::Vsn::V2
            .encode_server(&msg)
            .expect("encodable");
        let ws_msg = match frame {
            phx_protocol::Frame::Text(t) => tokio_tungstenite::tungstenite::Message::text(t),
            phx_protocol::Frame::Binary(b) => tokio_tungstenite::tungstenite::Message::binary(b),
        };
        self.ws.send(ws_msg).await.expect("send");
    }

    /// Reads a join and answers ok; returns the join message.
    pub async fn accept_join(&mut self) -> phx_protocol::Message {
        let join = self.recv().await;
        assert_eq!(join.event, "phx_join");
        let reply = phx_protocol::Reply::ok(&join, phx_protocol::Payload::empty_object());
        self.send(phx_protocol::ServerMessage::Reply(reply)).await;
        join
    }
}
