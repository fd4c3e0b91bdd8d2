//! Requests from the [`crate::Socket`] and [`crate::Channel`] handles to the connection task.

use std::sync::Arc;
use std::time::Duration;

use phx_protocol::{Frame, Payload};
use tokio::sync::{oneshot, watch};

use crate::config::JoinPayload;
use crate::error::{ConnectError, JoinError, LeaveError, PushError, SendError};
use crate::events::EventQueue;
use crate::reply::Reply;
use crate::status::ChannelStatus;

/// The id of one `Channel` handle family (clones share it).
pub(crate) type ChannelId = u64;

pub(crate) enum Command {
    Connect {
        done: oneshot::Sender<Result<(), ConnectError>>,
    },
    Disconnect {
        done: oneshot::Sender<()>,
    },
    Join {
        id: ChannelId,
        topic: String,
        payload: JoinPayload,
        status: watch::Sender<ChannelStatus>,
        join_ref: watch::Sender<Option<String>>,
        events: Arc<EventQueue>,
        done: oneshot::Sender<Result<Payload, JoinError>>,
    },
    Leave {
        id: ChannelId,
        done: oneshot::Sender<Result<(), LeaveError>>,
    },
    Push {
        id: ChannelId,
        event: String,
        payload: Payload,
        timeout: Duration,
        done: oneshot::Sender<Result<Reply, PushError>>,
    },
    SendRaw {
        frame: Frame,
        done: oneshot::Sender<Result<(), SendError>>,
    },
}
