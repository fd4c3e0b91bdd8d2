//! The tutorial's "HelloSockets" app, as described in `fixtures/phoenix-1.7.14/README.md`.
//!
//! - [`HelloSockets`]: the [`App`]: its mounts, its config ([`HelloSocketsConfig`]) and its
//!   control route `POST /api/dedupe` (see [`control`]).
//! - [`UserSocket`] (`/socket`): `ping`, `ping:*`, `wild:*`, `dupe`, `presence:*`.
//! - [`AuthSocket`] (`/auth_socket`): token auth; `ping`, `recurring`, `user:*`.

mod auth_channel;
mod auth_socket;
pub mod control;
mod dedupe_channel;
mod ping_channel;
mod presence_channel;
mod recurring_channel;
mod user_socket;
mod wildcard_channel;

use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

pub use auth_channel::AuthChannel;
pub use auth_socket::{AuthSocket, AUTH_MAX_AGE, AUTH_SALT};
pub use dedupe_channel::{broadcast_numbers, DedupeChannel};
pub use ping_channel::PingChannel;
pub use presence_channel::PresenceChannel;
pub use recurring_channel::RecurringChannel;
pub use user_socket::UserSocket;
pub use wildcard_channel::WildcardChannel;

use super::{App, ControlFuture};
use crate::config::Config;
use crate::endpoint::{Endpoint, Mount};
use crate::pubsub::Backplane;
use crate::server::{serve, ServeError};

/// The app's own knobs (the Phoenix app hard-codes them; the harness shortens them).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct HelloSocketsConfig {
    /// RecurringChannel's push interval (Phoenix app: 5 s).
    pub recurring_interval: Duration,
    /// DedupeChannel's buffering window (Phoenix app: 1 s).
    pub dedupe_window: Duration,
}

impl Default for HelloSocketsConfig {
    fn default() -> Self {
        HelloSocketsConfig {
            recurring_interval: Duration::from_millis(5000),
            dedupe_window: Duration::from_millis(1000),
        }
    }
}

impl HelloSocketsConfig {
    /// Sets RecurringChannel's push interval.
    pub fn recurring_interval(mut self, interval: Duration) -> Self {
        self.recurring_interval = interval;
        self
    }

    /// Sets DedupeChannel's buffering window.
    pub fn dedupe_window(mut self, window: Duration) -> Self {
        self.dedupe_window = window;
        self
    }

    /// The config of the app mounted on `endpoint`; the defaults when it is not (a bare
    /// [`UserSocket`] mounted by a test).
    pub fn of(endpoint: &Endpoint) -> Self {
        endpoint
            .app::<HelloSockets>()
            .map(|a| a.config)
            .unwrap_or_default()
    }
}

/// The HelloSockets app: `/socket` (UserSocket) and `/auth_socket` (AuthSocket).
#[derive(Clone, Debug, Default)]
pub struct HelloSockets {
    /// The app's config.
    pub config: HelloSocketsConfig,
}

impl HelloSockets {
    /// The app with `config`.
    pub fn new(config: HelloSocketsConfig) -> Self {
        HelloSockets { config }
    }

    /// An endpoint serving this app alone.
    pub fn endpoint(self, config: Config, backplane: Option<Arc<dyn Backplane>>) -> Endpoint {
        Endpoint::builder(config)
            .backplane(backplane)
            .app(self)
            .build()
    }
}

impl App for HelloSockets {
    fn name(&self) -> &str {
        "HelloSockets"
    }

    fn mounts(&self) -> Vec<Mount> {
        vec![
            Mount::new("/socket", UserSocket),
            Mount::new("/auth_socket", AuthSocket),
        ]
    }

    fn control<'a>(
        &'a self,
        route: &str,
        body: &'a [u8],
        endpoint: &'a Endpoint,
    ) -> Option<ControlFuture<'a>> {
        match route {
            "dedupe" => Some(Box::pin(control::dedupe(endpoint, body))),
            _ => None,
        }
    }
}

/// Serves HelloSockets with default app settings on an already-bound listener until
/// `shutdown` resolves, then closes every WebSocket with 1012 and returns.
pub async fn run(
    listener: tokio::net::TcpListener,
    config: Config,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> Result<(), ServeError> {
    serve(
        listener,
        HelloSockets::default().endpoint(config, None),
        shutdown,
    )
    .await
}
