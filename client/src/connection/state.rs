//! The connection task's state: one explicit enum, one documented line per variant.

use futures_util::future::BoxFuture;
use tokio::time::Instant;

use crate::error::ConnectError;
use crate::transport::Ws;

/// What the connection task is doing right now. The public view of it is
/// [`crate::SocketStatus`], published on every transition.
pub(crate) enum State {
    /// Not connected and not trying: before `connect()`, after `disconnect()`, or after a close
    /// the close policy does not retry.
    Idle,
    /// An attempt (TCP, then the WebSocket handshake) is in flight; commands are still served,
    /// so pushes made now are buffered.
    Connecting {
        /// The pending attempt.
        attempt: BoxFuture<'static, Result<Ws, ConnectError>>,
    },
    /// The WebSocket is open: frames flow, heartbeats run.
    Connected {
        /// The open WebSocket.
        ws: Box<Ws>,
        /// Heartbeat bookkeeping for this connection only (a new connection starts afresh, so a
        /// stale pending beat never fails a fresh link: firezone#4361, phoenix-socket-dart#28).
        heartbeat: Heartbeat,
    },
    /// The last connection or attempt ended; the next attempt starts at `at`.
    WaitingToReconnect {
        /// When the next attempt starts.
        at: Instant,
    },
}

/// Heartbeat timers of one connection. Sending other frames does not move them (firezone#12312).
pub(crate) struct Heartbeat {
    /// When to send the next heartbeat (when none is pending).
    pub next_at: Instant,
    /// The heartbeat awaiting its reply: its ref and the instant it times out.
    pub pending: Option<(String, Instant)>,
}

impl State {
    pub(crate) fn is_connected(&self) -> bool {
        matches!(self, State::Connected { .. })
    }
}
