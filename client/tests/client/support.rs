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
