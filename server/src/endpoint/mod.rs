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

use std::any::Any;
use std::sync::Arc;
use std::time::Duration;

use phx_protocol::{Broadcast, Payload};
use serde_json::Value;

use crate::apps::App;
use crate::config::Config;
use crate::presence::Presence;
use crate::pubsub::{Backplane, NodeId, PubSub};
use crate::socket::handle::ConnHandle;
use crate::socket::handle::Kill;
use crate::socket::outbound::Totals;
pub use crate::socket::registry::JoinedChannel;
use crate::socket::registry::Registry;
use crate::socket::SocketHandler;
use crate::token::{self, TokenError};

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

/// One mounted app, seen both as an [`App`] (routes) and as `Any` (for [`Endpoint::app`]).
struct Mounted {
    app: Arc<dyn App>,
    any: Arc<dyn Any + Send + Sync>,
}

struct Inner {
    config: Config,
    pubsub: PubSub,
    presence: Presence,
    mounts: Vec<Mount>,
    apps: Vec<Mounted>,
    /// Owns the live connections (drain, disconnect, introspection).
    conns: Arc<Registry>,
    /// The sum of all outbound queues, and the slow-consumer drop count.
    outbound: Arc<Totals>,
}

/// Builds an [`Endpoint`]: config, then apps and/or bare mounts and a backplane.
pub struct EndpointBuilder {
    config: Config,
    backplane: Option<Arc<dyn Backplane>>,
    mounts: Vec<Mount>,
    apps: Vec<Mounted>,
}

impl EndpointBuilder {
    /// Serves `app`: its mounts and its control routes.
    pub fn app<A: App>(mut self, app: A) -> Self {
        let app = Arc::new(app);
        self.mounts.extend(app.mounts());
        self.apps.push(Mounted {
            app: app.clone(),
            any: app,
        });
        self
    }

    /// Mounts one socket module outside any app.
    pub fn mount(mut self, mount: Mount) -> Self {
        self.mounts.push(mount);
        self
    }

    /// Joins a cluster through `backplane` (`None`: a single node).
    pub fn backplane(mut self, backplane: Option<Arc<dyn Backplane>>) -> Self {
        self.backplane = backplane;
        self
    }

    /// The endpoint, attached to its backplane. With a backplane and inside a tokio runtime,
    /// its [`Presence`] joins the cluster's (see [`Presence::start_cluster`]).
    pub fn build(self) -> Endpoint {
        let clustered = self.backplane.is_some();
        let pubsub = PubSub::new(NodeId::new(self.config.node_name.clone()), self.backplane);
        let presence = Presence::new(pubsub.clone());
        if clustered && tokio::runtime::Handle::try_current().is_ok() {
            presence.start_cluster();
        }
        Endpoint {
            inner: Arc::new(Inner {
                outbound: Arc::new(Totals::new(self.config.outbound_total_bytes)),
                config: self.config,
                pubsub,
                presence,
                mounts: self.mounts,
                apps: self.apps,
                conns: Arc::new(Registry::default()),
            }),
        }
    }
}

impl Endpoint {
    /// Starts building an endpoint with `config`.
    pub fn builder(config: Config) -> EndpointBuilder {
        EndpointBuilder {
            config,
            backplane: None,
            mounts: Vec::new(),
            apps: Vec::new(),
        }
    }

    /// An endpoint with custom socket mounts and no app.
    pub fn new(config: Config, backplane: Option<Arc<dyn Backplane>>, mounts: Vec<Mount>) -> Self {
        mounts
            .into_iter()
            .fold(Self::builder(config).backplane(backplane), |b, m| {
                b.mount(m)
            })
            .build()
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

    /// The node's presences (Phoenix.Presence), for channels to track.
    pub fn presence(&self) -> &Presence {
        &self.inner.presence
    }

    /// The socket mounted at `path` (e.g. `"/socket"`).
    pub fn mount(&self, path: &str) -> Option<&Mount> {
        self.inner.mounts.iter().find(|m| m.path == path)
    }

    /// The mounted app of type `A` (its config, for its channels).
    pub fn app<A: App>(&self) -> Option<&A> {
        self.inner
            .apps
            .iter()
            .find_map(|m| m.any.downcast_ref::<A>())
    }

    /// The mounted apps, in mount order.
    pub fn apps(&self) -> impl Iterator<Item = &dyn App> {
        self.inner.apps.iter().map(|m| m.app.as_ref())
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

    /// Closes connection `conn_id` of this node as a `"disconnect"` on its socket id would;
    /// false when it is not live.
    pub fn disconnect_connection(&self, conn_id: u64) -> bool {
        self.inner.conns.disconnect(conn_id)
    }

    /// `Phoenix.Token.sign(endpoint, salt, data)` with this endpoint's secret.
    pub fn sign_token(&self, salt: &str, data: &Value) -> Result<String, TokenError> {
        token::sign(&self.inner.config.secret_key_base, salt, data, None, None)
    }

    /// `Phoenix.Token.verify(endpoint, salt, token, max_age: max_age)`.
    pub fn verify_token(&self, salt: &str, token: &str, max_age: u64) -> Result<Value, TokenError> {
        let c = &self.inner.config;
        let plug_crypto = c.plug_crypto.unwrap_or(c.compat.plug_crypto());
        token::verify(&c.secret_key_base, salt, token, max_age, plug_crypto)
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
        self.inner.conns.len()
    }

    /// Every joined channel on every connection.
    pub fn joined(&self) -> Vec<JoinedChannel> {
        self.inner.conns.joined()
    }

    /// Drops every WebSocket abruptly: TCP closed, no close frame (a crashed server, as seen
    /// by clients).
    pub fn drop_all_connections(&self) {
        self.inner.conns.kill_all(Kill::Dropped);
    }

    /// Asks every WebSocket to close with 1012 (Phoenix's drain at shutdown).
    pub fn drain(&self) {
        self.inner.conns.drain();
    }

    /// Resolves once every WebSocket has gone, or after `within`; true when none is left.
    pub async fn drained(&self, within: Duration) -> bool {
        self.inner.conns.wait_empty(within).await
    }

    /// True once [`Endpoint::drain`] ran: the server is shutting down.
    pub fn is_draining(&self) -> bool {
        self.inner.conns.is_draining()
    }

    /// The connection registry.
    pub(crate) fn registry(&self) -> &Arc<Registry> {
        &self.inner.conns
    }

    /// Every live connection.
    pub(crate) fn connections(&self) -> Vec<Arc<ConnHandle>> {
        self.inner.conns.snapshot()
    }
}
