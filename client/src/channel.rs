//! [`Channel`]: a handle to one topic on a [`Socket`].

use std::sync::Arc;
use std::time::Duration;

use phx_protocol::Payload;
use serde::Serialize;
use tokio::sync::{oneshot, watch};

use crate::config::JoinPayload;
use crate::connection::command::{ChannelId, Command};
use crate::error::{JoinError, LeaveError, PushError, WaitError};
use crate::events::EventQueue;
pub use crate::events::Events;
use crate::reply::Reply;
use crate::socket::{wait_watch, Socket};
use crate::status::ChannelStatus;

/// A channel handle; clones share the same channel. Its event queue exists from
/// [`crate::Socket::channel`] on, so an [`Events`] made after `join()` returns still gets every
/// event that arrived in between.
#[derive(Clone)]
pub struct Channel {
    inner: Arc<Inner>,
}

struct Inner {
    socket: Socket,
    id: ChannelId,
    topic: String,
    status: watch::Sender<ChannelStatus>,
    join_ref: watch::Sender<Option<String>>,
    events: Arc<EventQueue>,
}

impl Drop for Inner {
    fn drop(&mut self) {
        self.events.close();
    }
}

impl std::fmt::Debug for Channel {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Channel")
            .field("topic", &self.inner.topic)
            .field("status", &self.status())
            .finish()
    }
}

impl Channel {
    pub(crate) fn new(socket: Socket, id: ChannelId, topic: String, capacity: usize) -> Self {
        Channel {
            inner: Arc::new(Inner {
                socket,
                id,
                topic,
                status: watch::Sender::new(ChannelStatus::Closed),
                join_ref: watch::Sender::new(None),
                events: EventQueue::new(capacity),
            }),
        }
    }

    /// The topic.
    pub fn topic(&self) -> &str {
        &self.inner.topic
    }

    /// The socket this channel belongs to.
    pub fn socket(&self) -> &Socket {
        &self.inner.socket
    }

    /// Joins with a fixed payload, resolving on the first outcome: the server's ok response,
    /// or an error. After `Rejected` or `Timeout` the channel keeps retrying on the rejoin
    /// schedule until [`Channel::leave`]; watch [`Channel::status`] for `Joined`. After a
    /// reconnect the channel rejoins on its own with a fresh join_ref.
    pub async fn join(&self, payload: impl Into<Payload>) -> Result<Payload, JoinError> {
        self.join_payload(JoinPayload::Static(payload.into())).await
    }

    /// Joins with a payload computed again at every (re)join (e.g. a refreshed token).
    pub async fn join_with(
        &self,
        f: impl Fn() -> Payload + Send + Sync + 'static,
    ) -> Result<Payload, JoinError> {
        self.join_payload(JoinPayload::Dynamic(Arc::new(f))).await
    }

    async fn join_payload(&self, payload: JoinPayload) -> Result<Payload, JoinError> {
        let (done, rx) = oneshot::channel();
        let cmd = Command::Join {
            id: self.inner.id,
            topic: self.inner.topic.clone(),
            payload,
            status: self.inner.status.clone(),
            join_ref: self.inner.join_ref.clone(),
            events: self.inner.events.clone(),
            done,
        };
        if !self.inner.socket.command(cmd).await {
            return Err(JoinError::SocketGone);
        }
        rx.await.unwrap_or(Err(JoinError::SocketGone))
    }

    /// Leaves: sends `phx_leave` and resolves on its reply or timeout (or at once when not
    /// joined). Pending pushes fail with `ChannelClosed`; no event is delivered afterwards.
    /// The channel may be joined again later.
    pub async fn leave(&self) -> Result<(), LeaveError> {
        let (done, rx) = oneshot::channel();
        if !self
            .inner
            .socket
            .command(Command::Leave {
                id: self.inner.id,
                done,
            })
            .await
        {
            return Err(LeaveError::SocketGone);
        }
        rx.await.unwrap_or(Err(LeaveError::SocketGone))
    }

    /// Pushes an event with the default timeout. While the channel is not joined (socket down,
    /// joining, errored) the push is buffered and sent after the join; its timeout keeps running.
    pub async fn push(
        &self,
        event: impl Into<String>,
        payload: impl Into<Payload>,
    ) -> Result<Reply, PushError> {
        let timeout = self.inner.socket.config().push_timeout;
        self.push_with_timeout(event, payload, timeout).await
    }

    /// Pushes a serializable value as JSON.
    pub async fn push_json<T: Serialize + ?Sized>(
        &self,
        event: impl Into<String>,
        payload: &T,
    ) -> Result<Reply, PushError> {
        let value = serde_json::to_value(payload).map_err(|e| PushError::Encode(e.to_string()))?;
        self.push(event, value).await
    }

    /// Pushes with an explicit timeout.
    pub async fn push_with_timeout(
        &self,
        event: impl Into<String>,
        payload: impl Into<Payload>,
        timeout: Duration,
    ) -> Result<Reply, PushError> {
        if *self.inner.status.borrow() == ChannelStatus::Closed {
            return Err(PushError::NotJoined);
        }
        let (done, rx) = oneshot::channel();
        let cmd = Command::Push {
            id: self.inner.id,
            event: event.into(),
            payload: payload.into(),
            timeout,
            done,
        };
        if !self.inner.socket.command(cmd).await {
            return Err(PushError::SocketGone);
        }
        rx.await.unwrap_or(Err(PushError::SocketGone))
    }

    /// The current status.
    pub fn status(&self) -> ChannelStatus {
        *self.inner.status.borrow()
    }

    /// The join_ref of the latest join sent (a fresh one at every rejoin), if any.
    pub fn join_ref(&self) -> Option<String> {
        self.inner.join_ref.borrow().clone()
    }

    /// A receiver of status changes.
    pub fn watch_status(&self) -> watch::Receiver<ChannelStatus> {
        self.inner.status.subscribe()
    }

    /// Waits until the status satisfies `pred`, for at most `timeout`.
    pub async fn wait_for(
        &self,
        timeout: Duration,
        pred: impl FnMut(&ChannelStatus) -> bool,
    ) -> Result<ChannelStatus, WaitError> {
        let mut rx = self.watch_status();
        wait_watch(&mut rx, timeout, pred).await
    }

    /// Every event of this channel: those no receiver has taken yet (all of them, for the
    /// first receiver, since the channel was created), then every new one.
    pub fn events(&self) -> Events {
        Events::new(&self.inner.events, None)
    }

    /// Events named `name` only (e.g. `"new_token"`), with the same start as [`Channel::events`].
    pub fn on(&self, name: impl Into<String>) -> Events {
        Events::new(&self.inner.events, Some(name.into()))
    }
}
