//! `rooms`: a small chat app, deliberately unlike [HelloSockets](super::hello_sockets), for
//! checking that tools written against the tutorial work on someone else's app
//! (`phx-server serve --app rooms`, or [`Rooms`] on an [`Endpoint`] / `TestServer::start_app`).
//! Its Elixir counterpart would be `RoomsWeb.Endpoint` with one socket:
//!
//! - [`RoomSocket`] (`/socket`, `RoomsWeb.UserSocket`): anyone may connect; only `room:*`
//!   topics route (`ping`, `wild:*` and the other tutorial topics are unmatched).
//! - [`RoomChannel`] (`room:*`, `RoomsWeb.RoomChannel`):
//!   - `phx_join` needs `{"name": "<non-empty string>"}`; without it the join is refused with
//!     `{"reason": "name required"}`. The reply is `{"room": "<subtopic>"}`.
//!   - After the join, unasked: a `welcome` push `{"room": …, "name": …}`, the joiner's own
//!     `presence_diff` (Presence tracks `name` with `{"online_at": "<unix seconds>"}`), then a
//!     `presence_state` push, in that order (the order of the guides' `:after_join`).
//!   - `new_msg` `{"body": "<string>"}` is broadcast to the topic as `new_msg`
//!     `{"name": …, "body": …}` (sender included) with no reply (`{:noreply, socket}`); without a
//!     string `body` it is answered `error` `{"reason": "body required"}`.
//!   - `whoami` is answered `ok` `{"name": …, "room": …}`.
//!   - Any other event crashes the channel (a `FunctionClauseError`: `phx_error`).
//!   - Leaving (or closing the socket) untracks the presence: the others get a leave diff.

mod room_channel;

use std::sync::Arc;

pub use room_channel::RoomChannel;

use super::App;
use crate::channel::Channel;
use crate::config::Config;
use crate::endpoint::{Endpoint, Mount};
use crate::pubsub::Backplane;
use crate::socket::{Assigns, ConnectRefused, Params, SocketHandler};

/// The rooms app: [`RoomSocket`] at `/socket`.
#[derive(Clone, Copy, Debug, Default)]
pub struct Rooms;

impl Rooms {
    /// The Elixir module of the app's endpoint, for RPC triggers (`--endpoint-module`).
    pub const ENDPOINT_MODULE: &'static str = "RoomsWeb.Endpoint";

    /// An endpoint serving this app alone.
    pub fn endpoint(self, config: Config, backplane: Option<Arc<dyn Backplane>>) -> Endpoint {
        Endpoint::builder(config)
            .backplane(backplane)
            .app(self)
            .build()
    }
}

impl App for Rooms {
    fn name(&self) -> &str {
        "Rooms"
    }

    fn mounts(&self) -> Vec<Mount> {
        vec![Mount::new("/socket", RoomSocket)]
    }
}

/// `socket "/socket", RoomsWeb.UserSocket`: anyone connects; `room:*` only.
#[derive(Debug, Default, Clone, Copy)]
pub struct RoomSocket;

impl SocketHandler for RoomSocket {
    fn module(&self) -> &str {
        "Elixir.RoomsWeb.UserSocket"
    }

    fn connect(&self, _params: &Params, _endpoint: &Endpoint) -> Result<Assigns, ConnectRefused> {
        Ok(Assigns::new())
    }

    fn id(&self, _assigns: &Assigns) -> Option<String> {
        None
    }

    fn channel(&self, topic: &str) -> Option<Box<dyn Channel>> {
        topic
            .starts_with("room:")
            .then(|| Box::new(RoomChannel::default()) as Box<dyn Channel>)
    }
}
