//! The connection task's record of one channel.

use std::collections::VecDeque;
use std::time::Duration;

use phx_protocol::Payload;
use tokio::sync::{broadcast, oneshot, watch};
use tokio::time::Instant;

use crate::config::JoinPayload;
use crate::error::{JoinError, LeaveError, PushError};
use crate::reply::{ChannelEvent, Reply};
use crate::status::{ChannelStatus, StatusEvent};

/// Where a channel is in its join cycle (the public view is [`ChannelStatus`]).
pub(crate) enum Phase {
    /// A join is wanted. `sent`: it went out on the current connection. `deadline`: when it
    /// times out (for a first join it runs from the `join()` call, as in phoenix.js).
    Joining { sent: bool, deadline: Instant },
    /// The server accepted the current join_ref.
    Joined,
    /// Needs a rejoin: at `rejoin_at` (rejoin schedule), or when the socket opens if None.
    Errored { rejoin_at: Option<Instant> },
    /// `phx_leave` sent with ref `leave_ref`; closes on its reply, on `phx_close`, or at `deadline`.
    Leaving {
        leave_ref: String,
        deadline: Instant,
    },
}

/// A push waiting for the join (phoenix.js `pushBuffer`); its timeout runs while it waits.
pub(crate) struct Buffered {
    pub event: String,
    pub payload: Payload,
    pub timeout: Duration,
    pub deadline: Instant,
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
    pub status: watch::Sender<ChannelStatus>,
    /// Published copy of `join_ref` for `Channel::join_ref`.
    pub join_ref_view: watch::Sender<Option<String>>,
    pub events: broadcast::Sender<ChannelEvent>,
    pub transitions: broadcast::Sender<StatusEvent>,
    /// The caller of `join()`, answered by the first outcome.
    pub join_waiter: Option<oneshot::Sender<Result<Payload, JoinError>>>,
    pub leave_waiters: Vec<oneshot::Sender<Result<(), LeaveError>>>,
    pub buffer: VecDeque<Buffered>,
}

impl Entry {
    pub(crate) fn set_phase(&mut self, phase: Phase) {
        let status = match &phase {
            Phase::Joining { .. } => ChannelStatus::Joining,
            Phase::Joined => ChannelStatus::Joined,
            Phase::Errored { .. } => ChannelStatus::Errored,
            Phase::Leaving { .. } => ChannelStatus::Leaving,
        };
        self.phase = phase;
        let changed = self.status.send_if_modified(|s| {
            let changed = *s != status;
            *s = status;
            changed
        });
        if changed {
            let _ = self.transitions.send(StatusEvent::Channel {
                topic: self.topic.clone(),
                status,
            });
        }
    }

    /// The earliest instant this channel needs the task to wake up.
    pub(crate) fn next_deadline(&self) -> Option<Instant> {
        let phase = match &self.phase {
            Phase::Joining { deadline, .. } | Phase::Leaving { deadline, .. } => Some(*deadline),
            Phase::Errored { rejoin_at } => *rejoin_at,
            Phase::Joined => None,
        };
        let buffered = self.buffer.iter().map(|b| b.deadline).min();
        match (phase, buffered) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        }
    }
}
