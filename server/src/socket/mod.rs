//! Sockets: the [`SocketHandler`] trait (Phoenix's `use Phoenix.Socket` module) and the
//! per-connection machinery.
//!
//! - `machine`: the sans-IO protocol core (join, leave, duplicate join, stale join_refs,
//!   crashes, close codes): inputs in, effects out, no I/O.
//! - `connection`: the connection's tasks: a reader that feeds the machine and applies its
//!   effects, and a writer that coalesces queued frames.
//! - `handle`: the shared handle through which pub/sub (a `Subscriber`), timers and the
//!   registry reach them.
//! - `registry`: the live connections of a server: register, disconnect, drain and wait.
//! - `wire`: between phx-protocol frames and tungstenite messages.

pub(crate) mod connection;
pub(crate) mod handle;
pub(crate) mod machine;
pub(crate) mod registry;
pub(crate) mod wire;

use serde_json::Value;

use crate::channel::Channel;
use crate::endpoint::Endpoint;

/// Socket assigns (`socket.assigns`), set by [`SocketHandler::connect`].
pub type Assigns = serde_json::Map<String, Value>;

/// Connect params: the query string decoded the way Plug does (`a[]=1` is a list, `a[b]=1` a
/// map), including `"vsn"`.
pub type Params = serde_json::Map<String, Value>;

/// `connect/3` returned `:error`: the upgrade is refused with HTTP 403 and an empty body.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("connection refused by the socket's connect (HTTP 403)")]
pub struct ConnectRefused;

/// A Phoenix socket module: authenticates a connection and routes topics to channels.
pub trait SocketHandler: Send + Sync + 'static {
    /// The Elixir module name, used as the log prefix (e.g. `Elixir.HelloSocketsWeb.AuthSocket`).
    fn module(&self) -> &str;

    /// `connect/3`: accept with the socket's assigns, or refuse.
    fn connect(&self, params: &Params, endpoint: &Endpoint) -> Result<Assigns, ConnectRefused>;

    /// `id/1`: the socket id, whose `"disconnect"` broadcast closes the socket.
    fn id(&self, assigns: &Assigns) -> Option<String>;

    /// The `channel "topic*", Module` routes: a fresh channel for `topic`, or `None` (unmatched).
    fn channel(&self, topic: &str) -> Option<Box<dyn Channel>>;
}
