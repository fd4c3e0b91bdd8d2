//! The connection machine's record of one channel.

use std::collections::VecDeque;
use std::time::Duration;

use phx_protocol::Payload;
use tokio::sync::oneshot;

use crate::config::JoinPayload;
use crate::error::{JoinError, LeaveError, PushError};
use crate::reply::Reply;
use crate::status::ChannelStatus;

/// Where a channel is in its join cycle (the public view is [`ChannelStatus`]). Each phase's
/// deadline (join timeout, scheduled rejoin, leave timeout) is the machine's
/// `Timer::Channel(id)`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) enum Phase {
    /// A join is wanted. `sent`: it went out on the current connection. Its timeout runs from
    /// the `join()` call for a first join, as in phoenix.js.
    Joining { sent: bool },
    /// The server accepted the current join_ref.
    Joined,
    /// Needs a rejoin: when its timer fires (rejoin schedule), or when the socket opens if no
    /// timer is armed.
    Errored,
    /// `phx_leave` sent with ref `leave_ref`; closes on its reply, on `phx_close`, or on timeout.
    Leaving { leave_ref: String },
}

impl Phase {
    pub(crate) fn status(&self) -> ChannelStatus {
        match self {
            Phase::Joining { .. } => ChannelStatus::Joining,
            Phase::Joined => ChannelStatus::Joined,
            Phase::Errored => ChannelStatus::Errored,
            Phase::Leaving { .. } => ChannelStatus::Leaving,
        }
    }
}

/// A push waiting for the join (phoenix.js `pushBuffer`); its timeout (`Timer::Buffered`) runs
/// while it waits.
pub(crate) struct Buffered {
    /// Identifies its timer.
    pub seq: u64,
    pub event: String,
    pub payload: Payload,
    pub timeout: Duration,
    pub done: oneshot::Sender<Result<Reply, PushError>>,
}

pub(crate) struct Entry {
    pub topic: String,
    pub payload: JoinPayload,
    pub phase: Phase,
    /// The ref of the last join sent; messages carrying another non-null join_ref are stale.
    pub join_ref: Option<String>,
    /// Consecutive failed joins, indexing the rejoin schedule; reset by a successful join.
    pub rejoin_attempts: u32,
    /// The caller of `join()`, answered by the first outcome.
    pub join_waiter: Option<oneshot::Sender<Result<Payload, JoinError>>>,
    pub leave_waiters: Vec<oneshot::Sender<Result<(), LeaveError>>>,
    pub buffer: VecDeque<Buffered>,
}
