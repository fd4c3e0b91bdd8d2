//! What a channel callback can see and do.

use std::time::Duration;

use phx_protocol::{Payload, Ref};
use serde_json::Value;

use super::{Deferred, Info};
use crate::endpoint::Endpoint;
use crate::socket::handle::Inbox;
use crate::socket::Assigns;

/// A channel's address (Phoenix: its pid): lets any task send it a message for
/// [`Channel::handle_info`](super::Channel::handle_info). Messages to a channel that has left are
/// dropped, like messages to a dead process.
#[derive(Clone)]
pub struct ChannelHandle {
    inbox: tokio::sync::mpsc::Sender<Inbox>,
    chan_key: u64,
}

/// The channel's socket is gone; the message was not delivered.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("the channel's socket has closed")]
pub struct ChannelGone;

impl ChannelHandle {
    /// `send(pid, msg)`: waits for room in the socket's inbox.
    pub async fn send(&self, msg: Info) -> Result<(), ChannelGone> {
        self.inbox
            .send(Inbox::Info {
                chan_key: self.chan_key,
                msg,
            })
            .await
            .map_err(|_| ChannelGone)
    }
}

impl std::fmt::Debug for ChannelHandle {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ChannelHandle")
            .field("chan_key", &self.chan_key)
            .finish()
    }
}

/// The channel's view of its socket and endpoint, passed to every callback.
pub struct ChannelContext<'a> {
    pub(crate) topic: &'a str,
    pub(crate) join_ref: &'a Ref,
    pub(crate) assigns: &'a Assigns,
    pub(crate) socket_id: Option<&'a str>,
    pub(crate) endpoint: &'a Endpoint,
    /// The socket task's inbox and this channel's key; a [`ChannelHandle`] is made from them
    /// only when asked for, so callbacks that never call [`ChannelContext::handle`] cost no
    /// sender clone.
    pub(crate) me: Option<(&'a tokio::sync::mpsc::Sender<Inbox>, u64)>,
    pub(crate) pushes: Vec<(String, Payload)>,
    pub(crate) timers: Vec<(Duration, Info)>,
    pub(crate) deferred: Vec<Deferred>,
}

impl<'a> ChannelContext<'a> {
    pub(crate) fn new(
        topic: &'a str,
        join_ref: &'a Ref,
        assigns: &'a Assigns,
        socket_id: Option<&'a str>,
        endpoint: &'a Endpoint,
    ) -> Self {
        ChannelContext {
            topic,
            join_ref,
            assigns,
            socket_id,
            endpoint,
            me: None,
            pushes: Vec::new(),
            timers: Vec::new(),
            deferred: Vec::new(),
        }
    }

    /// The channel's topic.
    pub fn topic(&self) -> &str {
        self.topic
    }

    /// The join_ref the channel's replies and pushes carry (`join_ref || ref` of the join).
    pub fn join_ref(&self) -> &Ref {
        self.join_ref
    }

    /// The socket's assigns (set by the socket's `connect`).
    pub fn assigns(&self) -> &Assigns {
        self.assigns
    }

    /// One assign.
    pub fn assign(&self, key: &str) -> Option<&Value> {
        self.assigns.get(key)
    }

    /// The socket id, if the socket has one.
    pub fn socket_id(&self) -> Option<&str> {
        self.socket_id
    }

    /// This channel's address, for tasks that report back through `handle_info` (`self()`).
    /// `None` only outside a live connection (e.g. in-process tests of a bare channel).
    pub fn handle(&self) -> Option<ChannelHandle> {
        self.me.map(|(inbox, chan_key)| ChannelHandle {
            inbox: inbox.clone(),
            chan_key,
        })
    }

    pub(crate) fn with_handle(
        mut self,
        inbox: Option<&'a tokio::sync::mpsc::Sender<Inbox>>,
        chan_key: u64,
    ) -> Self {
        self.me = inbox.map(|inbox| (inbox, chan_key));
        self
    }

    /// The endpoint (node name, config, broadcast, tokens).
    pub fn endpoint(&self) -> &Endpoint {
        self.endpoint
    }

    /// `push(socket, event, payload)`: a push to this channel's client.
    pub fn push(&mut self, event: impl Into<String>, payload: impl Into<Payload>) {
        self.pushes.push((event.into(), payload.into()));
    }

    /// `Process.send_after(self(), msg, delay)`: `msg` comes back to `handle_info`.
    pub fn send_after(&mut self, delay: Duration, msg: Info) {
        self.timers.push((delay, msg));
    }

    /// Runs `work` once this callback has returned and its pushes and reply are queued, in the
    /// order deferred. Presence uses it so that a diff follows the reply of the `handle_in` that
    /// caused it, as the Tracker's asynchronous diffs do in every recording.
    pub(crate) fn defer(&mut self, work: impl FnOnce() + Send + 'static) {
        self.deferred.push(Box::new(work));
    }

    /// `Endpoint.broadcast(topic, event, payload)` on this node (and the cluster).
    pub fn broadcast(&self, topic: &str, event: &str, payload: impl Into<Payload>) {
        self.endpoint.broadcast(topic, event, payload.into());
    }
}
