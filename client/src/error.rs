//! One error enum per public operation; each variant says what the caller can do.

use std::time::Duration;

use phx_protocol::Payload;

use crate::tls::TlsError;

/// Building a socket failed.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    /// The endpoint URL does not parse, or is not `ws://`/`wss://`/`http://`/`https://`.
    #[error("invalid endpoint URL {url:?}: {reason}")]
    InvalidUrl {
        /// The URL given.
        url: String,
        /// What is wrong with it.
        reason: String,
    },
    /// `build()` was called outside a tokio runtime; call it from inside one.
    #[error("phx-client needs a tokio runtime: build the socket from inside one")]
    NoRuntime,
}

/// A connection attempt failed. The socket keeps retrying on its reconnect schedule until
/// `disconnect()`, except after a terminal error ([`ConnectError::is_terminal`]: a certificate
/// the client cannot trust, a server that does not speak TLS), where it stops
/// ([`crate::SocketStatus::Stopped`]) unless `SocketBuilder::retry_tls_errors(true)`.
#[derive(Debug, Clone, thiserror::Error)]
pub enum ConnectError {
    /// The server answered the upgrade with an HTTP error (Phoenix: 403 when `connect/3`
    /// refuses, the vsn is unsupported, or the origin is not allowed). Check params and token.
    #[error("the server refused the connection with HTTP {status}{}", body_suffix(.body))]
    Refused {
        /// The HTTP status.
        status: u16,
        /// The response body, if any.
        body: String,
    },
    /// TCP connect failed (nothing listening, unreachable host).
    #[error("cannot reach {addr}: {reason}")]
    Unreachable {
        /// host:port.
        addr: String,
        /// The I/O error.
        reason: String,
    },
    /// The WebSocket handshake failed for another reason (bad response, subprotocol mismatch).
    #[error("WebSocket handshake failed: {0}")]
    Handshake(String),
    /// The attempt did not finish within the connect timeout.
    #[error("connection attempt timed out after {0:?}")]
    Timeout(Duration),
    /// The TLS handshake of a `wss://` attempt failed; the variant says why (expired, wrong
    /// host, unknown issuer, not TLS at all, or no TLS in this build).
    #[error(transparent)]
    Tls(#[from] TlsError),
    /// `disconnect()` was called while the attempt was pending.
    #[error("disconnect() was called before the connection opened")]
    Cancelled,
    /// The socket task is gone (every handle dropped or the runtime shut down).
    #[error("the socket task has stopped")]
    SocketGone,
}

impl ConnectError {
    /// True when another attempt cannot succeed until something changes on one side (a
    /// certificate, the trusted CAs, the URL): the TLS errors of [`TlsError::is_terminal`].
    pub fn is_terminal(&self) -> bool {
        matches!(self, ConnectError::Tls(e) if e.is_terminal())
    }
}

fn body_suffix(body: &str) -> String {
    if body.is_empty() {
        String::new()
    } else {
        format!(": {body}")
    }
}

/// `Channel::join` failed. Unless the error is [`JoinError::AlreadyJoined`] or
/// [`JoinError::Closed`], the channel keeps retrying on the rejoin schedule until `leave()`.
#[derive(Debug, Clone, thiserror::Error)]
pub enum JoinError {
    /// The server answered `{"status":"error"}` with this response (e.g. `{"reason":"unmatched topic"}`).
    #[error("the server refused the join: {}", payload_text(.0))]
    Rejected(Payload),
    /// No reply within the push timeout.
    #[error("the join got no reply within {0:?}")]
    Timeout(Duration),
    /// The channel was closed (by `leave()` or the server's `phx_close`) before the join finished.
    #[error("the channel was closed before the join finished")]
    Closed,
    /// This channel is already joined or joining; another channel holds this topic. Leave first.
    #[error("topic {0:?} is already joined or joining on this socket")]
    AlreadyJoined(String),
    /// The join payload cannot be encoded (e.g. binary on vsn 1.0.0); the channel is closed.
    #[error("cannot encode the join: {0}")]
    Encode(String),
    /// The socket task is gone.
    #[error("the socket task has stopped")]
    SocketGone,
}

/// `Channel::push` failed. Every push ends in exactly one reply or one of these.
#[derive(Debug, Clone, thiserror::Error)]
pub enum PushError {
    /// No reply within the push timeout (the push may or may not have been sent).
    #[error("no reply within {0:?}")]
    Timeout(Duration),
    /// The server replied `{"status":"error"}` with this response.
    #[error("the server replied with an error: {}", payload_text(.0))]
    ErrorReply(Payload),
    /// The channel is closed (left, or `phx_close`), so the push was not or will not be answered.
    #[error("the channel is closed")]
    ChannelClosed,
    /// The channel crashed (`phx_error`) after the push was sent; its reply will never come.
    #[error("the channel crashed before replying: {}", payload_text(.0))]
    ChannelErrored(Payload),
    /// The connection dropped after the push was sent; the server may or may not have handled it.
    #[error("the connection dropped before the reply arrived")]
    ConnectionLost,
    /// The channel is not joined and its push buffer holds `capacity` pushes already.
    #[error("the push buffer is full ({capacity} pushes waiting for the join)")]
    BufferFull {
        /// The configured buffer size.
        capacity: usize,
    },
    /// The channel is closed: never joined, left, or closed by the server. Join it first.
    #[error("the channel is not joined: join it first")]
    NotJoined,
    /// The payload cannot be encoded (e.g. a binary payload on vsn 1.0.0, or a field over 255 bytes).
    #[error("cannot encode the push: {0}")]
    Encode(String),
    /// The socket task is gone.
    #[error("the socket task has stopped")]
    SocketGone,
}

/// `Channel::leave` failed.
#[derive(Debug, Clone, thiserror::Error)]
pub enum LeaveError {
    /// The socket task is gone.
    #[error("the socket task has stopped")]
    SocketGone,
}

/// `Socket::send_raw` failed.
#[derive(Debug, Clone, thiserror::Error)]
pub enum SendError {
    /// The socket is not connected; nothing was sent.
    #[error("not connected")]
    NotConnected,
    /// Writing to the WebSocket failed; the connection is being re-established.
    #[error("write failed: {0}")]
    Io(String),
    /// The socket task is gone.
    #[error("the socket task has stopped")]
    SocketGone,
}

/// Waiting for a status gave up.
#[derive(Debug, Clone, thiserror::Error)]
pub enum WaitError {
    /// The state was not reached in time; `last` is the state seen last.
    #[error("timed out after {timeout:?}; last status: {last}")]
    Timeout {
        /// The timeout given.
        timeout: Duration,
        /// The last observed status, formatted.
        last: String,
    },
    /// The socket task is gone.
    #[error("the socket task has stopped")]
    SocketGone,
}

/// Receiving a channel event failed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum EventsError {
    /// `0` events arrived while the channel had no receiver at all and were dropped once more
    /// than `event_capacity` waited (a receiver that exists is never lagged: it backpressures
    /// the socket instead). Reported once, first; keep receiving for the events kept. Create
    /// the receiver before traffic starts to never see this.
    #[error("lagged: {0} events were dropped while the channel had no receiver")]
    Lagged(u64),
    /// Every handle of the channel is gone and the queued events are taken: no more will come.
    #[error("no more events: the channel is closed")]
    Closed,
}

pub(crate) fn payload_text(p: &Payload) -> String {
    match p {
        Payload::Json(v) => phx_protocol::json::to_string(v),
        Payload::Binary(b) => format!("<{} bytes>", b.len()),
    }
}
