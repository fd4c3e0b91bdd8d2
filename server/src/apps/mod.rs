//! Applications served by an endpoint. An [`App`] brings its socket mounts and, optionally, its
//! own control routes; the generic server names none of them. [`hello_sockets`] is the
//! tutorial's app; [`rooms`] a small chat app unlike it (a join param, pushes after the join,
//! rebroadcast messages, Presence), for trying tools on an app they were not written for.
//!
//! A second app mounts in a few lines:
//!
//! ```
//! use phx_server::apps::App;
//! use phx_server::apps::hello_sockets::UserSocket;
//! use phx_server::{Config, Endpoint, Mount};
//!
//! /// The tutorial's UserSocket again, at `/echo`.
//! struct Echo;
//!
//! impl App for Echo {
//!     fn name(&self) -> &str {
//!         "Echo"
//!     }
//!     fn mounts(&self) -> Vec<Mount> {
//!         vec![Mount::new("/echo", UserSocket)]
//!     }
//! }
//!
//! let endpoint = Endpoint::builder(Config::default()).app(Echo).build();
//! assert!(endpoint.mount("/echo").is_some());
//! assert!(endpoint.app::<Echo>().is_some());
//! ```

pub mod hello_sockets;
pub mod rooms;

use std::future::Future;
use std::pin::Pin;

use serde_json::Value;

use crate::endpoint::{Endpoint, Mount};

/// The answer of an app's control route: `Ok` is a 200 with that JSON, `Err` a 400 with
/// `{"error": message}`.
pub type ControlResult = Result<Value, String>;

/// A control route's pending answer.
pub type ControlFuture<'a> = Pin<Box<dyn Future<Output = ControlResult> + Send + 'a>>;

/// An application: socket mounts, plus control routes under `/api/`.
pub trait App: Send + Sync + 'static {
    /// The app's name, for logs (`HelloSockets`).
    fn name(&self) -> &str;

    /// The `socket "/path", Module` lines of the app's endpoint.
    fn mounts(&self) -> Vec<Mount>;

    /// `POST /api/<route>` with a JSON `body`, for the routes this app owns (e.g. `"dedupe"`);
    /// `None` for a route it does not know. Only loopback peers with the control token get here.
    fn control<'a>(
        &'a self,
        route: &str,
        body: &'a [u8],
        endpoint: &'a Endpoint,
    ) -> Option<ControlFuture<'a>> {
        let _ = (route, body, endpoint);
        None
    }
}
