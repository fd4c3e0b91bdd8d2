//! The endpoint: shared server state (config, pub/sub, live connections, socket mounts) and the
//! HTTP front door.
//!
//! - `http`: request routing (`GET /`, WebSocket mounts, the control API).
//! - `upgrade`: the WebSocket upgrade: origin, vsn, `connect/3`, handshake.
//! - `params`: query-string decoding as Plug does it.
//! - `origin`: the `check_origin` list.

pub(crate) mod http;
pub(crate) mod origin;
pub(crate) mod params;
pub(crate) mod upgrade;

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use phx_protocol::{Broadcast, Payload, Ref};
use serde_json::Value;

use crate::apps::hello_sockets::{AuthSocket, UserSocket};
use crate::config::Config;
use crate::pubsub::{Backplane, NodeId, PubSub};
use crate::socket::handle::{ConnHandle, Inbox, Kill};
use crate::socket::outbound::Totals;
use crate::socket::SocketHandler;
use crate::token::{self, TokenError};

/// One joined channel, as seen from outside (introspection for tests and the control API).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct JoinedChannel {
    /// The connection number (unique per server).
    pub conn_id: u64,
    /// The socket id, if the socket has one.
    pub socket_id: Option<String>,
    /// The channel's topic.
    pub topic: String,
    /// The join_ref the client joined with.
    pub join_ref: Ref,
}

/// A socket module mounted at a path (`socket "/socket", UserSocket`).
#[derive(Clone)]
pub struct Mount {
    /// The mount path without `/websocket`, e.g. `"/socket"`.
    pub path: String,
    /// The socket module.
    pub handler: Arc<dyn SocketHandler>,
}

impl Mount {
    /// Mounts `handler` at `path`.
    pub fn new(path: impl Into<String>, handler: impl SocketHandler) -> Self {
        Mount {
            path: path.into(),
            handler: Arc::new(handler),
        }
    }
}

/// The shared state of one server (Phoenix's Endpoint). Cheap to clone.
#[derive(Clone)]
pub struct Endpoint {
    inner: Arc<Inner>,
}

struct Inner {
    config: Config,
    pubsub: PubSub,
    mounts: Vec<Mount>,
    conns: Mutex<HashMap<u64, Arc<ConnHandle>>>,
    next_conn: AtomicU64,
    /// The sum of all outbound queues, and the slow-consumer drop count.
    outbound: Arc<Totals>,
    /// Set by [`Endpoint::drain`]: a connection whose upgrade completes afterwards is closed
    /// with 1012 at once instead of living on as a zombie of a stopped server.
    draining: AtomicBool,
}

/// Removes a connection from the endpoint's list when dropped.
pub(crate) struct Registration {
    endpoint: Endpoint,
    id: u64,
}

impl Drop for Registration {
    fn drop(&mut self) {
        if let Ok(mut conns) = self.endpoint.inner.conns.lock() {
            conns.remove(&self.id);
        }
    }
}

impl Endpoint {
    /// The HelloSockets endpoint: `/socket` (UserSocket) and `/auth_socket` (AuthSocket).
    pub fn hello_sockets(config: Config, backplane: Option<Arc<dyn Backplane>>) -> Self {
        Self::new(
            config,
            backplane,
            vec![
                Mount::new("/socket", UserSocket),
                Mount::new("/auth_socket", AuthSocket),
            ],
        )
    }

    /// An endpoint with custom socket mounts.
    pub fn new(config: Config, backplane: Option<Arc<dyn Backplane>>, mounts: Vec<Mount>) -> Self {
        let pubsub = PubSub::new(NodeId::new(config.node_name.clone()), backplane);
        Endpoint {
            inner: Arc::new(Inner {
                outbound: Arc::new(Totals::new(config.outbound_total_bytes)),
                config,
                pubsub,
                mounts,
                conns: Mutex::new(HashMap::new()),
                next_conn: AtomicU64::new(1),
                draining: AtomicBool::new(false),
            }),
        }
    }

    /// The configuration.
    pub fn config(&self) -> &Config {
        &self.inner.config
    }

    /// This node's name.
    pub fn node_name(&self) -> &str {
        &self.inner.config.node_name
    }

    /// The node's pub/sub.
    pub fn pubsub(&self) -> &PubSub {
        &self.inner.pubsub
    }

    /// The socket mounted at `path` (e.g. `"/socket"`).
    pub fn mount(&self, path: &str) -> Option<&Mount> {
        self.inner.mounts.iter().find(|m| m.path == path)
    }

    /// `Endpoint.broadcast(topic, event, payload)`: this node at once, then the cluster.
    pub fn broadcast(&self, topic: &str, event: &str, payload: Payload) {
        self.inner
            .pubsub
            .broadcast(&Broadcast::new(topic, event, payload));
    }

    /// `Endpoint.broadcast(socket_id, "disconnect", %{})`: closes every socket with that id.
    pub fn disconnect(&self, socket_id: &str) {
        self.broadcast(socket_id, "disconnect", Payload::empty_object());
    }

    /// `Phoenix.Token.sign(endpoint, salt, data)` with this endpoint's secret.
    pub fn sign_token(&self, salt: &str, data: &Value) -> Result<String, TokenError> {
        token::sign(&self.inner.config.secret_key_base, salt, data, None, None)
    }

    /// `Phoenix.Token.verify(endpoint, salt, token, max_age: max_age)`.
    pub fn verify_token(&self, salt: &str, token: &str, max_age: u64) -> Result<Value, TokenError> {
        token::verify(&self.inner.config.secret_key_base, salt, token, max_age)
    }

    /// Connections dropped as slow consumers since the server started (no socket progress
    /// for `slow_consumer_timeout`, over `outbound_max_bytes`, or dropped to bring the outbound
    /// total under `outbound_total_bytes`).
    pub fn slow_consumer_drops(&self) -> u64 {
        self.inner.outbound.drops()
    }

    /// Bytes queued for sending over all connections.
    pub fn outbound_queued_bytes(&self) -> usize {
        self.inner.outbound.queued()
    }

    pub(crate) fn outbound_totals(&self) -> &Arc<Totals> {
        &self.inner.outbound
    }

    /// Live WebSocket connections.
    pub fn connection_count(&self) -> usize {
        self.inner.conns.lock().map(|c| c.len()).unwrap_or(0)
    }

    /// Every joined channel on every connection.
    pub fn joined(&self) -> Vec<JoinedChannel> {
        let conns: Vec<Arc<ConnHandle>> = match self.inner.conns.lock() {
            Ok(c) => c.values().cloned().collect(),
            Err(_) => return Vec::new(),
        };
        let mut out = Vec::new();
        for conn in conns {
            if let Ok(j) = conn.joined.lock() {
                out.extend(j.iter().map(|(topic, join_ref)| JoinedChannel {
                    conn_id: conn.id,
                    socket_id: conn.socket_id.clone(),
                    topic: topic.clone(),
                    join_ref: join_ref.clone(),
                }));
            }
        }
        out.sort_by(|a, b| (a.conn_id, &a.topic).cmp(&(b.conn_id, &b.topic)));
        out
    }

    /// Drops every WebSocket abruptly: TCP closed, no close frame (a crashed server, as seen
    /// by clients).
    pub fn drop_all_connections(&self) {
        for conn in self.conns() {
            conn.kill(Kill::Dropped);
        }
    }

    /// Asks every WebSocket to close with 1012 (Phoenix's drain at shutdown).
    pub fn drain(&self) {
        self.inner.draining.store(true, Ordering::SeqCst);
        for conn in self.conns() {
            conn.request(Inbox::Drain);
        }
    }

    /// True once [`Endpoint::drain`] ran: the server is shutting down.
    pub fn is_draining(&self) -> bool {
        self.inner.draining.load(Ordering::SeqCst)
    }

    pub(crate) fn connections(&self) -> Vec<Arc<ConnHandle>> {
        self.conns()
    }

    fn conns(&self) -> Vec<Arc<ConnHandle>> {
        self.inner
            .conns
            .lock()
            .map(|c| c.values().cloned().collect())
            .unwrap_or_default()
    }

    pub(crate) fn next_conn_id(&self) -> u64 {
        self.inner.next_conn.fetch_add(1, Ordering::Relaxed)
    }

    pub(crate) fn register(&self, conn: Arc<ConnHandle>) -> Registration {
        let id = conn.id;
        if let Ok(mut conns) = self.inner.conns.lock() {
            conns.insert(id, conn.clone());
        }
        // Insert first, then check: either drain() saw this connection or we see its flag.
        if self.is_draining() {
            conn.request(Inbox::Drain);
        }
        Registration {
            endpoint: self.clone(),
            id,
        }
    }
}
