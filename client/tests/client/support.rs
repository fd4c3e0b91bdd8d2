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
            sent.map_err(|_| std::io::Error::new(std::io::ErrorKind::ConnectionRefused, "test peer gone"))?;
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
    let mut v: Vec<(u64, String)> = server.joined().into_iter().map(|j| (j.conn_id, j.topic)).collect();
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
