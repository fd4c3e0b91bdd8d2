//! The phx-client integration tests: one binary, one module per behaviour.
//!
//! Tests against the real in-process phx-server on 127.0.0.1 port 0, except where the peer must
//! misbehave or be timed exactly, which the real server never does: `heartbeat` (a peer that
//! stops answering) and `event_delivery` (pushes written at chosen moments) script one over an
//! in-memory duplex stream, `stalled_writer` (a peer that stops reading) over real TCP. `tls`
//! runs the server over TLS with certificates generated per run.

#![allow(clippy::unwrap_used)] // helpers outside #[test] fns unwrap too; this is test code

mod auth;
mod backoff;
mod buffering;
mod channel_lifecycle;
mod event_delivery;
mod heartbeat;
mod presence;
mod reconnect;
mod schedules;
mod scripted;
mod stalled_writer;
mod support;
#[cfg(feature = "tls")]
mod tls;
