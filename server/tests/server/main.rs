//! Integration tests of phx-server: one binary, one module per behaviour.
//!
//! Everything runs against the real server on 127.0.0.1 port 0 over real WebSockets; the
//! phoenix.js test drives the official npm client under node.

// Helpers outside #[test] functions panic on purpose, like assertions.
#![allow(clippy::unwrap_used)]

mod adapters;
mod apps;
mod broadcast;
mod channels;
mod cli;
mod cluster;
mod control;
mod custom;
mod hostile;
mod phoenix_js;
mod presence;
mod props;
mod rooms;
mod smoke;
mod sockets;
mod support;
mod transport;
