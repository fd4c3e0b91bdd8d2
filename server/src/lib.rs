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
//! `pubsub` imports neither `socket` nor `endpoint` (it delivers to a [`pubsub::Subscriber`]);
//! the socket machine sees the [`Endpoint`] only as the handle lent to channel callbacks; `apps`
//! plug into the endpoint from outside, and nothing generic names an app.
//! - [`config`]: [`Config`], [`Compat`] (the shared `phx_protocol::version::PhoenixVersion`)
//!   and [`Adapter`] (Cowboy or Bandit close codes).
//! - [`server`]: [`serve`] / [`serve_tls`]: the accept loop with Cowboy's request-head limits,
//!   the outbound-memory guard, and graceful shutdown (1012, then a wait on the registry's
//!   completion signal).
//! - [`endpoint`]: [`Endpoint`] (config, pub/sub, mounts, apps, the connection registry) built
//!   with [`Endpoint::builder`]; HTTP routing, the WebSocket upgrade, params, `check_origin`.
//! - [`socket`]: the [`SocketHandler`] trait; per connection the sans-IO `machine` (join,
//!   leave, stale refs, crashes, close codes: inputs in, effects out, unit-tested per COMPAT.md
//!   row), the `connection` task that applies its effects, its writer fed by an `outbound`
//!   queue bounded in bytes (reader pause, slow-consumer drops, a total cap), the `handle`
//!   pub/sub delivers to, and the `registry` of live connections (register, disconnect, drain,
//!   wait).
//! - [`channel`]: the [`Channel`] trait (join, handle_in, handle_out, handle_info, terminate).
//! - [`pubsub`]: sharded local registry with fastlane dispatch to [`pubsub::Subscriber`]s, the
//!   [`pubsub::Backplane`] trait, the in-process bus and the Redis backplane
//!   ([`pubsub::redis`], see `CLUSTER.md`).
//! - [`presence`]: [`Presence`] (Phoenix.Presence): track, update, untrack, list, the
//!   `presence_diff` broadcasts, and sharing them across the cluster's backplane.
//! - [`apps`]: the [`App`] trait (mounts and control routes); [`apps::hello_sockets`]: the
//!   tutorial's app, its config and its `/api/dedupe` route; [`run`] serves it;
//!   [`apps::rooms`]: a second app unlike it (a join param, pushes after the join, Presence).
//! - [`control`]: the loopback control API (`/api/broadcast`, `/api/token`, …, then apps'
//!   routes) and its one typed client, [`control::Client`].
//! - [`token`]: Phoenix.Token for the endpoint.
//! - [`tls`]: [`TlsAcceptor`] from PEM files, for [`serve_tls`] (HTTPS and WSS on one port).
//! - [`testing`]: the test kit: [`testing::TestServer`], a WebSocket test client with
//!   assertions, in-process `connect`, log capture, and the hostile-input harness
//!   ([`testing::hostile`]).

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
pub use config::{
    process_secret_key_base, Adapter, Breakage, Compat, Config, FIXTURE_SECRET_KEY_BASE,
};
pub use endpoint::{Endpoint, EndpointBuilder, JoinedChannel, Mount};
pub use presence::{Presence, Tracked};
pub use server::{serve, serve_tls, serve_with, ServeError};
pub use socket::SocketHandler;
pub use tls::{TlsAcceptor, TlsSetupError};
