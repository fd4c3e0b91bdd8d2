//! # phx-server
//!
//! A reference Phoenix Channels server: the tutorial's "HelloSockets" app, behaving like Phoenix
//! 1.7.14 or 1.8.12 (see `COMPAT.md`) down to the frame.
//!
//! ```no_run
//! # async fn demo() -> Result<(), Box<dyn std::error::Error>> {
//! let listener = tokio::net::TcpListener::bind("127.0.0.1:4000").await?;
//! phx_server::run(listener, phx_server::Config::default(), async {
//!     let _ = tokio::signal::ctrl_c().await;
//! })
//! .await?;
//! # Ok(()) }
//! ```
//!
//! ## Layout
//! - [`config`]: [`Config`] and [`Compat`].
//! - [`server`]: [`run`] / [`serve`]: the accept loop and graceful shutdown (1012).
//! - [`endpoint`]: [`Endpoint`], the shared server state; HTTP routing, the WebSocket upgrade,
//!   params, `check_origin`.
//! - [`socket`]: the [`SocketHandler`] trait; per connection a reader task driving the routing
//!   state machine (join/leave/stale refs/crashes) and a writer task coalescing frames.
//! - [`channel`]: the [`Channel`] trait (join, handle_in, handle_out, handle_info, terminate).
//! - [`pubsub`]: sharded local registry with fastlane dispatch, the [`pubsub::Backplane`] trait
//!   the in-process bus and the Redis backplane ([`pubsub::redis`], see `CLUSTER.md`).
//! - [`presence`]: [`Presence`] (Phoenix.Presence): track, update, untrack, list, the
//!   `presence_diff` broadcasts, and sharing them across the cluster's backplane.
//! - [`apps::hello_sockets`]: UserSocket, AuthSocket and their channels.
//! - [`control`]: the loopback control API (`/api/broadcast`, `/api/token`, …).
//! - [`token`]: Phoenix.Token for the endpoint.
//! - [`tls`]: [`TlsAcceptor`] from PEM files, for [`serve_tls`] (HTTPS and WSS on one port).
//! - [`testing`]: the test kit: [`testing::TestServer`], a WebSocket test client with
//!   assertions, in-process `connect`, and log capture.

pub mod apps;
pub mod channel;
pub mod config;
pub mod control;
pub mod endpoint;
pub mod presence;
pub mod pubsub;
pub mod server;
pub mod socket;
mod spawn;
pub mod testing;
pub mod tls;
pub mod token;

pub use apps::hello_sockets::run;
pub use apps::App;
pub use channel::{Channel, ChannelContext, Crash, JoinOutcome, Outcome, StopReason};
pub use config::{Adapter, Compat, Config, FIXTURE_SECRET_KEY_BASE};
pub use endpoint::{Endpoint, EndpointBuilder, JoinedChannel, Mount};
pub use presence::{Presence, Tracked};
pub use server::{serve, serve_tls, serve_with, ServeError};
pub use socket::SocketHandler;
pub use tls::{TlsAcceptor, TlsSetupError};
