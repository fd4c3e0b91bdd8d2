//! Observable states of the socket and of each channel (published through `tokio::sync::watch`,
//! so callers and tests await a state instead of sleeping).

use std::time::Duration;

/// What the socket is doing. Read it with `Socket::status`, await it with `Socket::wait_for`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum SocketStatus {
    /// Not connected and not trying: before `connect()` or after `disconnect()`.
    Idle,
    /// Connection attempt `attempt` (1 for the first after a success) is in flight.
    Connecting {
        /// Attempt number since the last successful connection.
        attempt: u32,
    },
    /// The WebSocket is open. `generation` counts successful connections (1, 2, …), so a test
    /// can await "reconnected" as `generation > before`.
    Connected {
        /// Number of connections opened so far, this one included.
        generation: u64,
    },
    /// Waiting `delay` before attempt `attempt`, because of `reason`.
    Reconnecting {
        /// The attempt that will start after the delay.
        attempt: u32,
        /// The delay chosen by the reconnect schedule.
        delay: Duration,
        /// Why the last connection or attempt ended.
        reason: String,
    },
    /// The server closed the connection and the close policy says not to reconnect, or an
    /// attempt failed with a terminal error (`ConnectError::is_terminal`: a TLS certificate
    /// problem). `connect()` starts again.
    Stopped {
        /// The close code, if the server sent one.
        code: Option<u16>,
        /// A human-readable reason.
        reason: String,
    },
}

impl SocketStatus {
    /// True for [`SocketStatus::Connected`].
    pub fn is_connected(&self) -> bool {
        matches!(self, SocketStatus::Connected { .. })
    }

    /// The connection generation when connected.
    pub fn generation(&self) -> Option<u64> {
        match self {
            SocketStatus::Connected { generation } => Some(*generation),
            _ => None,
        }
    }

    /// A short lowercase name: `idle`, `connecting`, `connected`, `reconnecting`, `stopped`.
    pub fn name(&self) -> &'static str {
        match self {
            SocketStatus::Idle => "idle",
            SocketStatus::Connecting { .. } => "connecting",
            SocketStatus::Connected { .. } => "connected",
            SocketStatus::Reconnecting { .. } => "reconnecting",
            SocketStatus::Stopped { .. } => "stopped",
        }
    }
}

/// One status transition, in order, none coalesced (unlike the `watch` views).
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum StatusEvent {
    /// The socket moved to this status.
    Socket(SocketStatus),
    /// The channel on `topic` moved to `status`.
    Channel {
        /// The channel's topic.
        topic: String,
        /// Its new status.
        status: ChannelStatus,
    },
}

/// What a channel is doing (phoenix.js's channel states).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum ChannelStatus {
    /// Not joined: never joined, left, or closed by the server (`phx_close`). No rejoin.
    Closed,
    /// A join is wanted: sent and awaiting its reply, or waiting for the socket to open.
    Joining,
    /// The server accepted the join; pushes go out immediately.
    Joined,
    /// The join failed, the channel crashed (`phx_error`) or the connection dropped; a rejoin is
    /// scheduled (rejoin schedule) or happens as soon as the socket reopens.
    Errored,
    /// `leave()` sent `phx_leave` and awaits its reply.
    Leaving,
}

impl ChannelStatus {
    /// A short lowercase name: `closed`, `joining`, `joined`, `errored`, `leaving`.
    pub fn name(self) -> &'static str {
        match self {
            ChannelStatus::Closed => "closed",
            ChannelStatus::Joining => "joining",
            ChannelStatus::Joined => "joined",
            ChannelStatus::Errored => "errored",
            ChannelStatus::Leaving => "leaving",
        }
    }
}
