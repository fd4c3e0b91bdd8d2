//! # phx-client
//!
//! An async Phoenix Channels client that reconnects, rejoins every channel, buffers pushes,
//! detects dead links by heartbeat and refreshes its connect params on every reconnect.
//!
//! ## Layout
//! - [`socket`]: [`Socket`], a cheap `Clone` handle: connect, disconnect, status, channels.
//! - [`channel`]: [`Channel`]: join (payload or closure), leave, typed push.
//! - [`events`]: each channel's event queue and its receivers, [`Events`]: backpressure, no
//!   loss for lag, nothing lost between `join()` and `events()`.
//! - `connection` (private), split sans-IO style:
//!   - `connection::machine`: the pure state machine: the socket's phase, every channel and
//!     every pending push. Inputs (decoded messages, commands, connect results, closes,
//!     timeouts) in; outputs (frames, connect/close orders, status changes, events, answers)
//!     and the next deadline out. Unit-tested transition by transition without sockets.
//!   - `connection::deadlines`: its one deadline queue (timers as data).
//!   - `connection::entry`: its record of one channel (phase, join_ref, push buffer).
//!   - `connection::command`: what the handles send to the task.
//!   - `connection` itself: the driver task. It owns the read half, the one timer and the
//!     handles' views, and spawns a writer task per connection (frames queued, bounded in
//!     bytes), so a peer that stops reading never stalls reads, commands or timers.
//! - [`presence`]: [`Presence`], phoenix.js's Presence (syncState/syncDiff, diffs held until the
//!   state of the current join, one ordered stream of joins, leaves and syncs, `list_by`), over a
//!   channel's events; [`PresenceSync`] is its sans-IO core.
//! - [`config`]: [`SocketBuilder`] and [`SocketConfig`]: URL, params (static or closure), auth
//!   token, vsn, heartbeat, schedules, timeouts, close policy, buffer bounds.
//! - [`backoff`]: the [`Backoff`] trait, phoenix.js's [`Stepped`] schedules and [`Jitter`].
//! - [`close_policy`]: [`ClosePolicy`], with the reconnect table per close code.
//! - [`status`]: [`SocketStatus`] and [`ChannelStatus`], published through `tokio::sync::watch`.
//! - [`reply`]: [`Reply`] and [`ChannelEvent`].
//! - [`error`]: one error enum per operation.
//! - [`endpoint`]: URL normalisation and the `Sec-WebSocket-Protocol` auth token.
//! - [`transport`]: the [`Connector`] that opens the byte stream (TCP by default).
//! - [`tls`]: [`TlsConfig`] for `wss://` (rustls, Mozilla's roots plus extra CAs, `insecure`)
//!   and the typed [`TlsError`]; the `tls` feature (on by default) brings it in.
//!
//! ## Semantics (phoenix.js 1.8, PROTOCOL.md §7, with deliberate improvements)
//! - A heartbeat unanswered within `heartbeat_timeout` closes the link and reconnects.
//! - Reconnect after a close follows [`ClosePolicy`]: by default phoenix.js **1.8.16**'s rule
//!   (any close the client did not initiate, 1000 included); `PhoenixJs1812` keeps the older
//!   rule that skips 1000. Schedules: reconnect 10, 50, 100, 150, 200, 250, 500, 1000, 2000 ms
//!   then 5 s; rejoin 1, 2, 5 s then 10 s; push/join/leave timeout 10 s; heartbeat 30 s + 30 s.
//! - After every reconnect each channel that was joined, joining or errored rejoins with a fresh
//!   join_ref; messages carrying a stale join_ref are dropped.
//! - `phx_error` makes a channel errored and it rejoins on the rejoin schedule; `phx_close`
//!   closes it with no rejoin; a join error is retried on the rejoin schedule.
//! - Pushes made while not joined are buffered (bounded) and sent after the join with their
//!   timeout running. Every push ends in exactly one reply or one [`PushError`].
//! - A channel's events are never dropped for lag: each channel has one queue from
//!   [`Socket::channel`] on, every [`Events`] sees every event from where it starts, and when a
//!   receiver falls `event_capacity` behind the socket stops reading (TCP pushes back on the
//!   server) until it catches up. A receiver that stalls longer than the heartbeat timeout
//!   therefore costs a reconnect. Only events nobody listens to are bounded by dropping (the
//!   next [`Events`] gets [`EventsError::Lagged`] first). See [`events`].
//! - Writes never wait inline: a peer that stops reading is detected by the heartbeat, and more
//!   than 4 MiB of unsent frames counts as a dead link.
//! - Improvements over phoenix.js: pushes in flight when the connection drops fail at once with
//!   [`PushError::ConnectionLost`] and on `phx_error` with [`PushError::ChannelErrored`] (phoenix.js
//!   lets them time out); the push buffer is bounded and fails with [`PushError::BufferFull`]
//!   (phoenix.js grows without limit); an `"unmatched topic"` reply to a push on a joined
//!   channel means the server forgot it, so the channel rejoins (firezone#10397); optional jitter
//!   on the reconnect schedule; a second join of a topic on one socket is refused with
//!   [`JoinError::AlreadyJoined`] (phoenix.js silently leaves the older channel).
//!
//! ## Example
//! ```no_run
//! # async fn demo() -> Result<(), Box<dyn std::error::Error>> {
//! use phx_client::Socket;
//! use serde_json::json;
//!
//! let socket = Socket::builder("ws://127.0.0.1:4000/socket").build()?;
//! socket.connect().await?;
//! let ping = socket.channel("ping");
//! ping.join(json!({})).await?;
//! let reply = ping.push("ping", json!({})).await?;
//! assert_eq!(reply.response, json!({"ping": "pong"}).into());
//! # Ok(()) }
//! ```

pub mod backoff;
pub mod channel;
pub mod close_policy;
pub mod config;
mod connection;
pub mod endpoint;
pub mod error;
pub mod events;
pub mod presence;
pub mod reply;
pub mod socket;
pub mod status;
pub mod tls;
pub mod transport;

pub use backoff::{Backoff, Jitter, Stepped};
pub use channel::{Channel, Events};
pub use close_policy::{CloseCause, ClosePolicy};
pub use config::{JoinPayload, Params, SocketBuilder, SocketConfig};
pub use error::{
    ConfigError, ConnectError, EventsError, JoinError, LeaveError, PushError, SendError, WaitError,
};
pub use phx_protocol::{Frame, Payload, Vsn};
pub use presence::{Presence, PresenceChange, PresenceEntry, PresenceError, PresenceSync};
pub use reply::{ChannelEvent, DecodePayloadError, Reply};
pub use socket::Socket;
pub use status::{ChannelStatus, SocketStatus, StatusEvent};
pub use tls::{TlsConfig, TlsConfigError, TlsError, TlsOptions};
pub use transport::{BoxIo, Connector, Io, TcpConnector};
