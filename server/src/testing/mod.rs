//! The test kit, in the spirit of Phoenix's `ChannelCase`.
//!
//! - [`TestServer`]: the server running in-process on `127.0.0.1:0` with the control API on,
//!   its logs captured; two of them can share an [`InProcessBus`](crate::pubsub::in_process::InProcessBus).
//! - [`TestClient`]: a real WebSocket client with `join`/`push` helpers and `assert_reply`,
//!   `assert_push`, `assert_broadcast`, `refute_receive`, `assert_closed`.
//! - [`connect`]: `connect(UserSocket, params)` in-process, without a WebSocket, returning a
//!   [`TestSocket`] with [`TestSocket::id`].
//! - [`capture_log`] / [`LogCapture`]: `ExUnit.CaptureLog` for tracing output, formatted as
//!   `[level] message`.
//! - [`certs`] (feature `tls`): a test CA and the certificates it signs, made per run, for
//!   [`TestServer::start_tls`] and the wss:// tests.
//!
//! ```
//! use phx_server::apps::hello_sockets::UserSocket;
//! let socket = phx_server::testing::connect(&UserSocket, &[]).unwrap();
//! assert_eq!(socket.id(), None);
//! ```

#[cfg(feature = "tls")]
pub mod certs;
mod client;
mod connect;
mod logs;
mod server;

pub use client::{ClientError, RecvError, TestClient};
pub use connect::{connect, connect_with, TestSocket};
pub use logs::{capture_log, LogCapture};
pub use server::{TestServer, WaitError};

pub use crate::endpoint::JoinedChannel;
