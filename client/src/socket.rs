//! [`Socket`]: a cheap `Clone` handle to the connection task.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use phx_protocol::{Frame, ServerMessage};
use tokio::sync::{broadcast, mpsc, oneshot, watch};

use crate::channel::Channel;
use crate::config::{SocketBuilder, SocketConfig};
use crate::connection::command::Command;
use crate::connection::{Shared, Task};
use crate::error::{ConfigError, ConnectError, SendError, WaitError};
use crate::status::{SocketStatus, StatusEvent};

/// A Phoenix socket. Cloning is cheap; every clone drives the same connection task, which
/// stops (closing the connection) when the last `Socket` and `Channel` handle is dropped.
#[derive(Clone)]
pub struct Socket {
    inner: Arc<Inner>,
}

struct Inner {
    commands: mpsc::Sender<Command>,
    shared: Arc<Shared>,
    config: SocketConfig,
    next_channel: AtomicU64,
}

impl std::fmt::Debug for Socket {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Socket")
            .field("endpoint", &self.inner.config.endpoint.as_str())
            .field("status", &*self.inner.shared.status.borrow())
            .finish()
    }
}

impl Socket {
    /// Starts configuring a socket for `url` (`ws://host:port/socket` or `…/socket/websocket`).
    pub fn builder(url: &str) -> SocketBuilder {
        SocketBuilder::new(url)
    }

    pub(crate) fn start(config: SocketConfig) -> Result<Socket, ConfigError> {
        let runtime = tokio::runtime::Handle::try_current().map_err(|_| ConfigError::NoRuntime)?;
        let (tx, rx) = mpsc::channel(256);
        let shared = Arc::new(Shared::new(config.ring_capacity));
        runtime.spawn(Task::new(config.clone(), rx, shared.clone()).run());
        Ok(Socket {
            inner: Arc::new(Inner {
                commands: tx,
                shared,
                config,
                next_channel: AtomicU64::new(1),
            }),
        })
    }

    /// The configuration this socket runs with.
    pub fn config(&self) -> &SocketConfig {
        &self.inner.config
    }

    pub(crate) async fn command(&self, cmd: Command) -> bool {
        self.inner.commands.send(cmd).await.is_ok()
    }

    /// Connects, and resolves on the first outcome: `Ok` once open, or the first attempt's
    /// error. After an error the socket keeps retrying on its reconnect schedule (a refreshed
    /// token may fix a 403) until [`Socket::disconnect`], except after a terminal error
    /// ([`ConnectError::is_terminal`], e.g. an untrusted certificate), where it stops. Calling it
    /// while connected is a no-op.
    pub async fn connect(&self) -> Result<(), ConnectError> {
        let (done, rx) = oneshot::channel();
        if !self.command(Command::Connect { done }).await {
            return Err(ConnectError::SocketGone);
        }
        rx.await.unwrap_or(Err(ConnectError::SocketGone))
    }

    /// Closes the connection (code 1000) and stops reconnecting. Channels stay registered and
    /// rejoin on the next [`Socket::connect`]; in-flight pushes fail with `ConnectionLost`.
    pub async fn disconnect(&self) {
        let (done, rx) = oneshot::channel();
        if self.command(Command::Disconnect { done }).await {
            let _ = rx.await;
        }
    }

    /// A handle for `topic`. Nothing is sent until [`Channel::join`].
    pub fn channel(&self, topic: impl Into<String>) -> Channel {
        let id = self.inner.next_channel.fetch_add(1, Ordering::Relaxed);
        Channel::new(
            self.clone(),
            id,
            topic.into(),
            self.inner.config.event_capacity,
        )
    }

    /// The current status.
    pub fn status(&self) -> SocketStatus {
        self.inner.shared.status.borrow().clone()
    }

    /// A receiver of status changes.
    pub fn watch_status(&self) -> watch::Receiver<SocketStatus> {
        self.inner.shared.status.subscribe()
    }

    /// Waits until the status satisfies `pred`, for at most `timeout`.
    pub async fn wait_for(
        &self,
        timeout: Duration,
        pred: impl FnMut(&SocketStatus) -> bool,
    ) -> Result<SocketStatus, WaitError> {
        let mut rx = self.watch_status();
        wait_watch(&mut rx, timeout, pred).await
    }

    /// Every status transition of the socket and its channels from now on, in order (the
    /// `watch` views coalesce; this does not). Bounded: a slow receiver gets `Lagged`.
    pub fn status_events(&self) -> broadcast::Receiver<StatusEvent> {
        self.inner.shared.transitions().subscribe()
    }

    /// Every message the server sends, decoded, before channel routing (heartbeat replies and
    /// stale messages included). Bounded: a slow receiver gets `Lagged`.
    pub fn messages(&self) -> broadcast::Receiver<ServerMessage> {
        self.inner.shared.messages().subscribe()
    }

    /// Sends a raw frame as is, bypassing channels (for tools; the server may close on garbage).
    /// `Ok` once it is queued for the writer; a write that fails later shows as a reconnect.
    pub async fn send_raw(&self, frame: Frame) -> Result<(), SendError> {
        let (done, rx) = oneshot::channel();
        if !self.command(Command::SendRaw { frame, done }).await {
            return Err(SendError::SocketGone);
        }
        rx.await.unwrap_or(Err(SendError::SocketGone))
    }
}

pub(crate) async fn wait_watch<T: Clone + std::fmt::Debug>(
    rx: &mut watch::Receiver<T>,
    timeout: Duration,
    mut pred: impl FnMut(&T) -> bool,
) -> Result<T, WaitError> {
    let result = match tokio::time::timeout(timeout, rx.wait_for(|v| pred(v))).await {
        Ok(Ok(v)) => Some(Ok(v.clone())),
        Ok(Err(_)) => Some(Err(WaitError::SocketGone)),
        Err(_) => None,
    };
    result.unwrap_or_else(|| {
        Err(WaitError::Timeout {
            timeout,
            last: format!("{:?}", *rx.borrow()),
        })
    })
}
