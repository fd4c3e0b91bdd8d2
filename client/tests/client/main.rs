//! The phx-client integration tests: one binary, one module per behaviour.
//!
//! Tests against the real in-process phx-server on 127.0.0.1 port 0, except `heartbeat`, which
//! needs a peer that stops answering heartbeats (the real server always answers) and scripts one
//! over an in-memory duplex stream under tokio's paused clock. `tls` runs the server over TLS
//! with certificates generated per run.

#![allow(clippy::unwrap_used)] // helpers outside #[test] fns unwrap too; this is test code

mod auth;
mod backoff;
mod buffering;
mod channel_lifecycle;
mod heartbeat;
mod reconnect;
mod schedules;
mod scripted;
mod support;
#[cfg(feature = "tls")]
mod tls;
