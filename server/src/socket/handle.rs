//! The shared handle of one connection: how pub/sub, timers and the server reach its tasks.

use std::sync::atomic::{AtomicBool, AtomicU8, Ordering};
use std::sync::{Arc, Mutex};

use phx_protocol::{Broadcast, Ref};
use tokio::sync::{mpsc, Notify};
use tokio_tungstenite::tungstenite::{Message as WsMessage, Utf8Bytes};

use crate::channel::Info;
use crate::pubsub::{SharedFrame, Subscriber};

/// Messages for a connection's socket task (the "transport process" in Phoenix).
pub(crate) enum Inbox {
    /// An intercepted broadcast for one channel: run `handle_out`.
    Intercept {
        chan_key: u64,
        broadcast: Arc<Broadcast>,
    },
    /// A timer fired for one channel: run `handle_info`.
    Info { chan_key: u64, msg: Info },
    /// A `"disconnect"` broadcast on the socket id.
    Disconnect,
    /// Server shutdown: close with 1012.
    Drain,
}

/// Why a connection is being killed without a close handshake.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[repr(u8)]
pub(crate) enum Kill {
    /// Not killed.
    None = 0,
    /// The outbound queue overflowed.
    SlowConsumer = 1,
    /// Dropped on request (testing: `drop_all_connections`).
    Dropped = 2,
    /// The socket task's inbox overflowed.
    InboxFull = 3,
}

/// Shared by the socket task, its writer, the pub/sub registry (as a [`Subscriber`]) and the
/// server's connection registry.
pub(crate) struct ConnHandle {
    /// Connection number, unique per server.
    pub id: u64,
    /// The socket id (`id/1`), if any.
    pub socket_id: Option<String>,
    /// The bounded writer queue.
    out: mpsc::Sender<WsMessage>,
    /// The bounded socket-task inbox.
    inbox: mpsc::Sender<Inbox>,
    kill: Notify,
    kill_reason: AtomicU8,
    slow_logged: AtomicBool,
    /// (topic, join_ref) of joined channels, for introspection.
    pub joined: Mutex<Vec<(String, Ref)>>,
}

impl ConnHandle {
    pub(crate) fn new(
        id: u64,
        socket_id: Option<String>,
        out: mpsc::Sender<WsMessage>,
        inbox: mpsc::Sender<Inbox>,
    ) -> Self {
        ConnHandle {
            id,
            socket_id,
            out,
            inbox,
            kill: Notify::new(),
            kill_reason: AtomicU8::new(Kill::None as u8),
            slow_logged: AtomicBool::new(false),
            joined: Mutex::new(Vec::new()),
        }
    }

    /// Queues a frame; a full queue marks a slow consumer and kills the connection.
    pub(crate) fn send_frame(&self, frame: WsMessage) {
        match self.out.try_send(frame) {
            Ok(()) => {}
            Err(mpsc::error::TrySendError::Full(_)) => {
                if !self.slow_logged.swap(true, Ordering::Relaxed) {
                    tracing::warn!(
                        conn = self.id,
                        capacity = self.out.max_capacity(),
                        "slow consumer: outbound queue full, disconnecting"
                    );
                }
                self.kill(Kill::SlowConsumer);
            }
            Err(mpsc::error::TrySendError::Closed(_)) => {}
        }
    }

    /// Queues a frame the connection must still send (its close frame); a full queue drops it.
    pub(crate) fn force_frame(&self, frame: WsMessage) {
        if self.out.try_send(frame).is_err() {
            tracing::debug!(
                conn = self.id,
                "close frame not queued: outbound queue full or closed"
            );
        }
    }

    /// Hands a message to the socket task; a full inbox kills the connection.
    pub(crate) fn request(&self, msg: Inbox) {
        match self.inbox.try_send(msg) {
            Ok(()) => {}
            Err(mpsc::error::TrySendError::Full(_)) => {
                tracing::warn!(conn = self.id, "socket inbox full, disconnecting");
                self.kill(Kill::InboxFull);
            }
            Err(mpsc::error::TrySendError::Closed(_)) => {}
        }
    }

    /// A sender for timers.
    pub(crate) fn inbox(&self) -> mpsc::Sender<Inbox> {
        self.inbox.clone()
    }

    /// The inbox sender, borrowed (cloned only when a channel asks for its handle).
    pub(crate) fn inbox_ref(&self) -> &mpsc::Sender<Inbox> {
        &self.inbox
    }

    /// Drops the connection abruptly (no close frame).
    pub(crate) fn kill(&self, why: Kill) {
        let _ = self.kill_reason.compare_exchange(
            Kill::None as u8,
            why as u8,
            Ordering::AcqRel,
            Ordering::Acquire,
        );
        self.kill.notify_one();
    }

    /// Resolves once [`ConnHandle::kill`] was called.
    pub(crate) async fn killed(&self) -> Kill {
        self.kill.notified().await;
        match self.kill_reason.load(Ordering::Acquire) {
            1 => Kill::SlowConsumer,
            2 => Kill::Dropped,
            3 => Kill::InboxFull,
            _ => Kill::Dropped,
        }
    }

    pub(crate) fn set_joined(&self, topic: &str, join_ref: Option<&Ref>) {
        if let Ok(mut j) = self.joined.lock() {
            j.retain(|(t, _)| t != topic);
            if let Some(r) = join_ref {
                j.push((topic.to_owned(), r.clone()));
            }
        }
    }
}

/// Pub/sub reaches the connection only through this: fastlane frames go to the writer queue,
/// the rest to the socket task.
impl Subscriber for ConnHandle {
    fn fastlane(&self, frame: &SharedFrame) {
        let msg = match frame {
            // The bytes came from a String: the check passes (a short scan of shared bytes).
            SharedFrame::Text(b) => match Utf8Bytes::try_from(b.clone()) {
                Ok(t) => WsMessage::Text(t),
                Err(_) => return,
            },
            SharedFrame::Binary(b) => WsMessage::Binary(b.clone()),
        };
        self.send_frame(msg);
    }

    fn intercept(&self, chan_key: u64, broadcast: Arc<Broadcast>) {
        self.request(Inbox::Intercept {
            chan_key,
            broadcast,
        });
    }

    fn disconnect(&self) {
        self.request(Inbox::Disconnect);
    }
}
