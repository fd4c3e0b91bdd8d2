//! [`TestServer`]: the real server on a loopback port, in-process.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use phx_protocol::Payload;
use serde_json::Value;
use tokio::net::TcpListener;
use tokio::sync::oneshot;
use tokio::task::JoinHandle;
use tokio::time::{sleep, Instant};
use tracing::instrument::WithSubscriber;

use super::client::{ClientError, TestClient};
use super::logs::LogCapture;
use crate::apps::hello_sockets::HelloSockets;
use crate::apps::App;
use crate::config::Config;
use crate::endpoint::{Endpoint, JoinedChannel, Mount};
use crate::pubsub::Backplane;
use crate::server::{serve_with, ServeError};
use crate::tls::TlsAcceptor;

/// A condition did not hold in time.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("timed out after {timeout:?} waiting for {what}")]
pub struct WaitError {
    /// What was awaited (the caller's words).
    pub what: String,
    /// How long we waited.
    pub timeout: Duration,
}

/// The server running in-process on a loopback port, control API on, logs captured. It serves
/// HelloSockets with its default settings unless started with an app or mounts of your own.
pub struct TestServer {
    addr: SocketAddr,
    endpoint: Endpoint,
    logs: LogCapture,
    dispatch: tracing::Dispatch,
    shutdown: Option<oneshot::Sender<()>>,
    task: Option<JoinHandle<Result<(), ServeError>>>,
    tls: bool,
}

impl TestServer {
    /// Starts on `127.0.0.1:0`.
    ///
    /// # Panics
    /// When no loopback port can be bound (the machine is out of ports).
    pub async fn start(config: Config) -> TestServer {
        Self::start_inner("127.0.0.1:0".parse().expect("valid address"), config, None)
            .await
            .expect("bind 127.0.0.1:0")
    }

    /// Starts on a given address, e.g. the address of a server that was just stopped.
    pub async fn start_on(addr: SocketAddr, config: Config) -> std::io::Result<TestServer> {
        Self::start_inner(addr, config, None).await
    }

    /// Starts on `127.0.0.1:0`, attached to a shared backplane (e.g. an
    /// [`InProcessBus`](crate::pubsub::in_process::InProcessBus)): broadcasts on either node
    /// reach both.
    ///
    /// # Panics
    /// When no loopback port can be bound.
    pub async fn start_with_bus(config: Config, bus: Arc<dyn Backplane>) -> TestServer {
        Self::start_inner(
            "127.0.0.1:0".parse().expect("valid address"),
            config,
            Some(bus),
        )
        .await
        .expect("bind 127.0.0.1:0")
    }

    /// Starts on `127.0.0.1:0` serving custom socket mounts instead of HelloSockets (e.g. a
    /// socket whose channel misbehaves).
    ///
    /// # Panics
    /// When no loopback port can be bound.
    pub async fn start_with_mounts(config: Config, mounts: Vec<Mount>) -> TestServer {
        Self::start_endpoint(
            "127.0.0.1:0".parse().expect("valid address"),
            config,
            None,
            Some(mounts),
        )
        .await
        .expect("bind 127.0.0.1:0")
    }

    /// Starts on `127.0.0.1:0` serving `app` (e.g. HelloSockets with short intervals, or an
    /// app of your own), optionally on a shared backplane.
    ///
    /// # Panics
    /// When no loopback port can be bound.
    pub async fn start_app(
        config: Config,
        app: impl App,
        bus: Option<Arc<dyn Backplane>>,
    ) -> TestServer {
        let builder = Self::builder(config).backplane(bus).app(app);
        Self::serve_endpoint("127.0.0.1:0".parse().expect("valid address"), builder, None)
            .await
            .expect("bind 127.0.0.1:0")
    }

    /// Starts on `addr` serving `app` over HTTPS and WSS with `tls`.
    pub async fn start_app_tls(
        addr: SocketAddr,
        config: Config,
        app: impl App,
        tls: TlsAcceptor,
    ) -> std::io::Result<TestServer> {
        let builder = Self::builder(config).app(app);
        Self::serve_endpoint(addr, builder, Some(tls)).await
    }

    fn builder(mut config: Config) -> crate::endpoint::EndpointBuilder {
        config.control = true;
        Endpoint::builder(config)
    }

    /// Starts on `addr` (`127.0.0.1:0` for any port) serving HTTPS and WSS with `tls`
    /// (see [`super::certs`]); [`TestServer::ws_url`] and [`TestServer::http_url`] say `wss`/`https`.
    pub async fn start_tls(
        addr: SocketAddr,
        config: Config,
        tls: TlsAcceptor,
    ) -> std::io::Result<TestServer> {
        Self::start_endpoint_tls(addr, config, None, None, Some(tls)).await
    }

    async fn start_inner(
        addr: SocketAddr,
        config: Config,
        bus: Option<Arc<dyn Backplane>>,
    ) -> std::io::Result<TestServer> {
        Self::start_endpoint(addr, config, bus, None).await
    }

    async fn start_endpoint(
        addr: SocketAddr,
        config: Config,
        bus: Option<Arc<dyn Backplane>>,
        mounts: Option<Vec<Mount>>,
    ) -> std::io::Result<TestServer> {
        Self::start_endpoint_tls(addr, config, bus, mounts, None).await
    }

    async fn start_endpoint_tls(
        addr: SocketAddr,
        config: Config,
        bus: Option<Arc<dyn Backplane>>,
        mounts: Option<Vec<Mount>>,
        tls: Option<TlsAcceptor>,
    ) -> std::io::Result<TestServer> {
        let builder = Self::builder(config).backplane(bus);
        let builder = match mounts {
            Some(mounts) => mounts.into_iter().fold(builder, |b, m| b.mount(m)),
            None => builder.app(HelloSockets::default()),
        };
        Self::serve_endpoint(addr, builder, tls).await
    }

    async fn serve_endpoint(
        addr: SocketAddr,
        builder: crate::endpoint::EndpointBuilder,
        tls: Option<TlsAcceptor>,
    ) -> std::io::Result<TestServer> {
        let listener = TcpListener::bind(addr).await?;
        let addr = listener.local_addr()?;
        let logs = LogCapture::new();
        let endpoint = builder.build();
        let (tx, rx) = oneshot::channel::<()>();
        let dispatch = logs.dispatch();
        let is_tls = tls.is_some();
        let task = tokio::spawn(
            serve_with(listener, endpoint.clone(), tls, async move {
                let _ = rx.await;
            })
            .with_subscriber(dispatch.clone()),
        );
        Ok(TestServer {
            addr,
            endpoint,
            logs,
            dispatch,
            shutdown: Some(tx),
            task: Some(task),
            tls: is_tls,
        })
    }

    /// The bound address.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// `ws://127.0.0.1:P/socket/websocket` for `socket_path` `"/socket"` (no query); `wss://`
    /// when serving TLS.
    pub fn ws_url(&self, socket_path: &str) -> String {
        let scheme = if self.tls { "wss" } else { "ws" };
        format!("{scheme}://{}{}/websocket", self.addr, socket_path)
    }

    /// `http://127.0.0.1:P` (`https://` when serving TLS).
    pub fn http_url(&self) -> String {
        let scheme = if self.tls { "https" } else { "http" };
        format!("{scheme}://{}", self.addr)
    }

    /// The server's endpoint (config, pub/sub, introspection).
    pub fn endpoint(&self) -> &Endpoint {
        &self.endpoint
    }

    /// The server's captured logs.
    pub fn logs(&self) -> &LogCapture {
        &self.logs
    }

    /// Connects a [`TestClient`] to `socket_path` with query `params` (`vsn` defaults to 2.0.0).
    pub async fn client(
        &self,
        socket_path: &str,
        params: &[(&str, &str)],
    ) -> Result<TestClient, ClientError> {
        TestClient::connect(&self.ws_url(socket_path), params).await
    }

    /// Drops every WebSocket abruptly (TCP closed, no close frame).
    pub fn drop_all_connections(&self) {
        self.endpoint.drop_all_connections();
    }

    /// Live WebSocket connections.
    pub fn connection_count(&self) -> usize {
        self.endpoint.connection_count()
    }

    /// Every joined channel.
    pub fn joined(&self) -> Vec<JoinedChannel> {
        self.endpoint.joined()
    }

    /// Polls `pred` every 5 ms until it holds or `timeout` passes.
    pub async fn wait_until(
        &self,
        what: &str,
        timeout: Duration,
        pred: impl Fn(&TestServer) -> bool,
    ) -> Result<(), WaitError> {
        let deadline = Instant::now() + timeout;
        loop {
            if pred(self) {
                return Ok(());
            }
            if Instant::now() >= deadline {
                return Err(WaitError {
                    what: what.to_owned(),
                    timeout,
                });
            }
            sleep(Duration::from_millis(5)).await;
        }
    }

    /// Waits until the captured logs contain `needle`.
    pub async fn wait_for_log(&self, needle: &str, timeout: Duration) -> Result<(), WaitError> {
        self.wait_until(&format!("a log line containing {needle:?}"), timeout, |s| {
            s.logs.contains(needle)
        })
        .await
    }

    /// `Endpoint.broadcast(topic, event, payload)` on this node (and its bus).
    /// Runs under the server's log capture, so delivery logs (slow consumers) are captured.
    pub fn broadcast(&self, topic: &str, event: &str, payload: Payload) {
        tracing::dispatcher::with_default(&self.dispatch, || {
            self.endpoint.broadcast(topic, event, payload)
        });
    }

    /// `Phoenix.Token.sign(endpoint, salt, data)`.
    ///
    /// # Panics
    /// When the data cannot be signed.
    pub fn sign_token(&self, salt: &str, data: Value) -> String {
        self.endpoint.sign_token(salt, &data).expect("sign token")
    }

    /// Graceful stop: sockets closed with 1012, port released.
    pub async fn stop(mut self) {
        self.stop_inner().await;
    }

    async fn stop_inner(&mut self) {
        if let Some(tx) = self.shutdown.take() {
            let _ = tx.send(());
        }
        if let Some(task) = self.task.take() {
            let _ = task.await;
        }
    }
}

impl Drop for TestServer {
    fn drop(&mut self) {
        if let Some(tx) = self.shutdown.take() {
            let _ = tx.send(());
        }
    }
}
