//! [`SocketBuilder`]: every knob of a socket, with phoenix.js's defaults.

use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use phx_protocol::{Payload, Vsn};
use url::Url;

use crate::backoff::{Backoff, Stepped};
use crate::close_policy::ClosePolicy;
use crate::endpoint::normalise_endpoint;
use crate::error::ConfigError;
use crate::socket::Socket;
use crate::tls::TlsConfig;
use crate::transport::{Connector, TcpConnector};

type ParamsFn = dyn Fn() -> Vec<(String, String)> + Send + Sync;
type TokenFn = dyn Fn() -> Option<String> + Send + Sync;
type PayloadFn = dyn Fn() -> Payload + Send + Sync;

/// Connect params: fixed, or a closure called again before every (re)connect attempt, so a
/// refreshed token is used (phoenix.js `params` as a function).
#[derive(Clone)]
pub enum Params {
    /// The same params on every attempt.
    Static(Vec<(String, String)>),
    /// Called at every attempt.
    Dynamic(Arc<ParamsFn>),
}

impl Params {
    /// The params for one attempt.
    pub fn resolve(&self) -> Vec<(String, String)> {
        match self {
            Params::Static(v) => v.clone(),
            Params::Dynamic(f) => f(),
        }
    }
}

impl fmt::Debug for Params {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Params::Static(v) => f.debug_tuple("Static").field(&v.len()).finish(),
            Params::Dynamic(_) => f.write_str("Dynamic(..)"),
        }
    }
}

/// A join payload: fixed, or a closure called again at every rejoin.
#[derive(Clone)]
pub enum JoinPayload {
    /// The same payload on every (re)join.
    Static(Payload),
    /// Called at every (re)join.
    Dynamic(Arc<PayloadFn>),
}

impl JoinPayload {
    /// The payload for one join attempt.
    pub fn resolve(&self) -> Payload {
        match self {
            JoinPayload::Static(p) => p.clone(),
            JoinPayload::Dynamic(f) => f(),
        }
    }
}

impl fmt::Debug for JoinPayload {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            JoinPayload::Static(p) => f.debug_tuple("Static").field(p).finish(),
            JoinPayload::Dynamic(_) => f.write_str("Dynamic(..)"),
        }
    }
}

/// The resolved configuration a socket runs with.
#[derive(Clone)]
#[non_exhaustive]
pub struct SocketConfig {
    /// The endpoint, normalised to end in `/websocket`.
    pub endpoint: Url,
    /// Connect params (query string).
    pub params: Params,
    /// Auth token sent through `Sec-WebSocket-Protocol` (Phoenix 1.8 `authToken`), resolved at
    /// every attempt; `None` from the closure sends no token.
    pub auth_token: Option<Arc<TokenFn>>,
    /// Serializer version (default 2.0.0, as phoenix.js).
    pub vsn: Vsn,
    /// Time between a heartbeat reply and the next heartbeat (default 30 s).
    pub heartbeat_interval: Duration,
    /// How long a heartbeat may go unanswered before the connection is declared dead and
    /// replaced (default 30 s, as phoenix.js: detection within interval + timeout).
    pub heartbeat_timeout: Duration,
    /// Delay before reconnect attempt n (default phoenix.js: 10 ms … 2 s, then 5 s).
    pub reconnect: Arc<dyn Backoff>,
    /// Delay before rejoin attempt n after a join error, join timeout or `phx_error`
    /// (default phoenix.js: 1, 2, 5 s, then 10 s).
    pub rejoin: Arc<dyn Backoff>,
    /// Default timeout for join, push and leave (default 10 s).
    pub push_timeout: Duration,
    /// Timeout of one connection attempt (TCP + handshake; default 10 s).
    pub connect_timeout: Duration,
    /// When to reconnect after a close (default: phoenix.js 1.8.16).
    pub close_policy: ClosePolicy,
    /// Pushes one channel may buffer while not joined (default 100); beyond it a push fails
    /// with `PushError::BufferFull`.
    pub max_buffered_pushes: usize,
    /// Events a channel's queue holds (default 256). When it is full the socket stops reading
    /// until a receiver catches up (backpressure: nothing is dropped); the queue grows to it on
    /// demand, nothing is pre-allocated. A bound of 1,024 made a lagging reader's queues four
    /// times larger and the 1,000-socket receive rate 10–20 % lower (page faults and copies as
    /// they grew), for no event more delivered.
    pub event_capacity: usize,
    /// The ring size of `Socket::messages` and `Socket::status_events` (default 1024), which
    /// are lossy (`Lagged`) rather than backpressured; allocated on their first use.
    pub ring_capacity: usize,
    /// Opens the byte stream (default TCP).
    pub connector: Arc<dyn Connector>,
    /// The WebSocket read buffer, allocated per connection (default 4 KiB: tungstenite's own
    /// default of 128 KiB would make it most of an idle socket's memory). Larger frames still
    /// arrive whole; a bigger buffer only means fewer reads under a flood.
    pub read_buffer_size: usize,
    /// TLS for `wss://` (default: Mozilla's roots); shared by every reconnect.
    pub tls: TlsConfig,
    /// Keep reconnecting after a terminal TLS error (an untrusted or expired certificate, a
    /// server that is not TLS) instead of stopping (default false: such an error does not fix
    /// itself, and hammering a misconfigured server helps nobody).
    pub retry_tls_errors: bool,
}

impl fmt::Debug for SocketConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SocketConfig")
            .field("endpoint", &self.endpoint.as_str())
            .field("params", &self.params)
            .field("auth_token", &self.auth_token.as_ref().map(|_| ".."))
            .field("vsn", &self.vsn)
            .field("heartbeat_interval", &self.heartbeat_interval)
            .field("heartbeat_timeout", &self.heartbeat_timeout)
            .field("reconnect", &self.reconnect)
            .field("rejoin", &self.rejoin)
            .field("push_timeout", &self.push_timeout)
            .field("close_policy", &self.close_policy)
            .field("max_buffered_pushes", &self.max_buffered_pushes)
            .field("event_capacity", &self.event_capacity)
            .field("ring_capacity", &self.ring_capacity)
            .field("tls", &self.tls)
            .field("retry_tls_errors", &self.retry_tls_errors)
            .finish_non_exhaustive()
    }
}

/// Builds a [`Socket`]: `Socket::builder("ws://127.0.0.1:4000/socket").param("k", "v").build()`.
#[derive(Debug)]
#[must_use]
pub struct SocketBuilder {
    config: Result<SocketConfig, ConfigError>,
}

impl SocketBuilder {
    pub(crate) fn new(url: &str) -> Self {
        let config = normalise_endpoint(url).map(|endpoint| SocketConfig {
            endpoint,
            params: Params::Static(Vec::new()),
            auth_token: None,
            vsn: Vsn::V2,
            heartbeat_interval: Duration::from_secs(30),
            heartbeat_timeout: Duration::from_secs(30),
            reconnect: Arc::new(Stepped::phoenix_reconnect()),
            rejoin: Arc::new(Stepped::phoenix_rejoin()),
            push_timeout: Duration::from_secs(10),
            connect_timeout: Duration::from_secs(10),
            close_policy: ClosePolicy::default(),
            max_buffered_pushes: 100,
            event_capacity: 256,
            ring_capacity: 1024,
            connector: Arc::new(TcpConnector),
            read_buffer_size: 4096,
            tls: TlsConfig::default(),
            retry_tls_errors: false,
        });
        SocketBuilder { config }
    }

    fn with(mut self, f: impl FnOnce(&mut SocketConfig)) -> Self {
        if let Ok(c) = self.config.as_mut() {
            f(c);
        }
        self
    }

    /// Adds a static connect param. Replaces a params closure set earlier.
    pub fn param(self, key: impl Into<String>, value: impl Into<String>) -> Self {
        let (key, value) = (key.into(), value.into());
        self.with(|c| match &mut c.params {
            Params::Static(v) => v.push((key, value)),
            Params::Dynamic(_) => c.params = Params::Static(vec![(key, value)]),
        })
    }

    /// Connect params from a closure, called before every (re)connect attempt.
    pub fn params_with(
        self,
        f: impl Fn() -> Vec<(String, String)> + Send + Sync + 'static,
    ) -> Self {
        self.with(|c| c.params = Params::Dynamic(Arc::new(f)))
    }

    /// A fixed auth token sent through `Sec-WebSocket-Protocol` (Phoenix ≥1.8 `auth_token: true`).
    pub fn auth_token(self, token: impl Into<String>) -> Self {
        let token = token.into();
        self.with(|c| c.auth_token = Some(Arc::new(move || Some(token.clone()))))
    }

    /// An auth token from a closure, called before every attempt (`None` sends no token).
    pub fn auth_token_with(self, f: impl Fn() -> Option<String> + Send + Sync + 'static) -> Self {
        self.with(|c| c.auth_token = Some(Arc::new(f)))
    }

    /// The serializer version: `Vsn::V2` (default) or `Vsn::V1`.
    pub fn vsn(self, vsn: Vsn) -> Self {
        self.with(|c| c.vsn = vsn)
    }

    /// Heartbeat interval (default 30 s).
    pub fn heartbeat_interval(self, d: Duration) -> Self {
        self.with(|c| c.heartbeat_interval = d)
    }

    /// Heartbeat timeout (default 30 s).
    pub fn heartbeat_timeout(self, d: Duration) -> Self {
        self.with(|c| c.heartbeat_timeout = d)
    }

    /// The reconnect schedule.
    pub fn reconnect_backoff(self, b: impl Backoff + 'static) -> Self {
        self.with(|c| c.reconnect = Arc::new(b))
    }

    /// The rejoin schedule.
    pub fn rejoin_backoff(self, b: impl Backoff + 'static) -> Self {
        self.with(|c| c.rejoin = Arc::new(b))
    }

    /// Default timeout of join, push and leave (default 10 s).
    pub fn push_timeout(self, d: Duration) -> Self {
        self.with(|c| c.push_timeout = d)
    }

    /// Timeout of one connection attempt (default 10 s).
    pub fn connect_timeout(self, d: Duration) -> Self {
        self.with(|c| c.connect_timeout = d)
    }

    /// The close-code policy (default phoenix.js 1.8.16).
    pub fn close_policy(self, p: ClosePolicy) -> Self {
        self.with(|c| c.close_policy = p)
    }

    /// Per-channel push buffer bound (default 100).
    pub fn max_buffered_pushes(self, n: usize) -> Self {
        self.with(|c| c.max_buffered_pushes = n)
    }

    /// Per-channel event queue bound before backpressure (default 256, minimum 1).
    pub fn event_capacity(self, n: usize) -> Self {
        self.with(|c| c.event_capacity = n.max(1))
    }

    /// Ring size of `Socket::messages` and `Socket::status_events` (default 1024, minimum 1).
    pub fn ring_capacity(self, n: usize) -> Self {
        self.with(|c| c.ring_capacity = n.max(1))
    }

    /// The WebSocket read buffer per connection (default 4 KiB, minimum 256 bytes).
    pub fn read_buffer_size(self, bytes: usize) -> Self {
        self.with(|c| c.read_buffer_size = bytes.max(256))
    }

    /// The byte-stream connector (default TCP).
    pub fn connector(self, connector: impl Connector) -> Self {
        self.with(|c| c.connector = Arc::new(connector))
    }

    /// The TLS setup for `wss://` (extra CAs, `insecure`); see [`crate::tls`].
    pub fn tls(self, tls: TlsConfig) -> Self {
        self.with(|c| c.tls = tls)
    }

    /// Keep retrying after terminal TLS errors (default false: the socket stops, see
    /// [`crate::ConnectError::is_terminal`]).
    pub fn retry_tls_errors(self, retry: bool) -> Self {
        self.with(|c| c.retry_tls_errors = retry)
    }

    /// The configuration, validated, without starting anything.
    pub fn into_config(self) -> Result<SocketConfig, ConfigError> {
        self.config
    }

    /// Starts the socket's connection task (it does not connect until [`Socket::connect`]).
    /// Must be called inside a tokio runtime.
    pub fn build(self) -> Result<Socket, ConfigError> {
        Socket::start(self.into_config()?)
    }
}
