//! The sans-IO connection machine: the socket's phase, every channel and every pending push.
//!
//! It performs no I/O and owns no timer or socket (the shape of `quinn_proto::Connection`):
//! - inputs are the `handle_*` methods (a decoded server message, a connect result, a closed
//!   link, a timeout) and the command methods (`connect`, `join`, `push`, …), each given `now`;
//! - outputs are [`Machine::poll_output`] (frames to send, connect/close orders, status changes,
//!   channel events) and [`Machine::poll_timeout`], the one instant it next needs waking.
//!
//! The driver (`super::Task`) feeds it and acts on what it returns; the unit tests below step it
//! by hand, with no WebSocket and no runtime.

use std::collections::{BTreeMap, HashMap, VecDeque};
use std::time::Duration;

use phx_protocol::events;
use phx_protocol::{Frame, Message, Payload, Ref, ServerMessage};
use tokio::sync::oneshot;
use tokio::time::Instant;

use super::command::ChannelId;
use super::deadlines::{Deadlines, Timer};
use super::entry::{Buffered, Entry, Phase};
use crate::close_policy::CloseCause;
use crate::config::{JoinPayload, SocketConfig};
use crate::error::{ConnectError, JoinError, LeaveError, PushError, SendError};
use crate::reply::{ChannelEvent, Reply};
use crate::status::{ChannelStatus, SocketStatus};

/// What the driver must do next, in order.
#[derive(Debug)]
pub(crate) enum Output {
    /// Start a connection attempt (resolve params and token now) and report it with
    /// [`Machine::handle_connected`] or [`Machine::handle_connect_failed`].
    Connect,
    /// Write this frame on the open connection.
    Send(Frame),
    /// Drop the connection or the attempt in progress. `graceful`: first send a close frame
    /// (1000) with `reason`.
    Close { graceful: bool, reason: String },
    /// The socket's status changed.
    Socket(SocketStatus),
    /// A channel's status changed; `Closed` means the machine forgot the channel.
    Channel {
        id: ChannelId,
        topic: String,
        status: ChannelStatus,
    },
    /// A channel sent a join with this join_ref.
    JoinRef { id: ChannelId, join_ref: String },
    /// Deliver an event to a channel's receivers.
    Event { id: ChannelId, event: ChannelEvent },
    /// Answer a caller. Always output after the status changes it depends on, so a caller
    /// woken by its answer already sees the new status.
    Done(Done),
}

/// A caller's answer: the waiter and what to tell it.
pub(crate) enum Done {
    Connect(
        oneshot::Sender<Result<(), ConnectError>>,
        Result<(), ConnectError>,
    ),
    Join(
        oneshot::Sender<Result<Payload, JoinError>>,
        Result<Payload, JoinError>,
    ),
    Leave(oneshot::Sender<Result<(), LeaveError>>),
    Push(
        oneshot::Sender<Result<Reply, PushError>>,
        Result<Reply, PushError>,
    ),
}

impl Done {
    /// Sends the answer (a caller that stopped waiting is not an error).
    pub(crate) fn complete(self) {
        match self {
            Done::Connect(tx, r) => drop(tx.send(r)),
            Done::Join(tx, r) => drop(tx.send(r)),
            Done::Leave(tx) => drop(tx.send(Ok(()))),
            Done::Push(tx, r) => drop(tx.send(r)),
        }
    }
}

impl std::fmt::Debug for Done {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Done::Connect(_, r) => f.debug_tuple("Connect").field(r).finish(),
            Done::Join(_, r) => f.debug_tuple("Join").field(r).finish(),
            Done::Leave(_) => f.write_str("Leave"),
            Done::Push(_, r) => f.debug_tuple("Push").field(r).finish(),
        }
    }
}

/// The socket's phase (public view: [`SocketStatus`]).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Link {
    /// Not connected and not trying.
    Idle,
    /// An attempt is in flight; pushes made now are buffered.
    Connecting,
    /// Open: frames flow, heartbeats run. `pending`: the heartbeat ref awaiting its reply (a new
    /// connection starts afresh, so a stale beat never fails a fresh link: firezone#4361).
    Connected { pending: Option<u64> },
    /// Waiting for `Timer::Reconnect`.
    WaitingToReconnect,
}

/// A push written to the wire, awaiting its reply (its timeout is `Timer::Push(ref)`).
struct InFlight {
    channel: ChannelId,
    timeout: Duration,
    done: oneshot::Sender<Result<Reply, PushError>>,
}

pub(crate) struct Machine {
    config: SocketConfig,
    link: Link,
    /// The last status published, so only changes are output.
    status: SocketStatus,
    /// Per-socket ref counter, never reset, so a ref is never reused across connections.
    next_ref: u64,
    /// Sequence numbers of buffered pushes (their timers' keys).
    next_seq: u64,
    generation: u64,
    /// Failed attempts and drops since the last open; indexes the reconnect schedule.
    retries: u32,
    connect_waiters: Vec<oneshot::Sender<Result<(), ConnectError>>>,
    channels: BTreeMap<ChannelId, Entry>,
    /// topic -> the channel holding it (at most one per topic), for O(1) routing.
    topics: HashMap<String, ChannelId>,
    in_flight: HashMap<u64, InFlight>,
    deadlines: Deadlines,
    out: VecDeque<Output>,
}

/// `from + d`, saturating: a `Duration::MAX` timeout (or a backoff that returns one) means
/// "practically never" instead of an overflow panic.
fn after(from: Instant, d: Duration) -> Instant {
    const FAR: Duration = Duration::from_secs(100 * 365 * 24 * 3600);
    from.checked_add(d)
        .or_else(|| from.checked_add(FAR))
        .unwrap_or(from)
}

fn ref_number(r: &Ref) -> Option<u64> {
    match r {
        Ref::Str(s) => s.parse().ok(),
        _ => None,
    }
}

impl Machine {
    pub(crate) fn new(config: SocketConfig) -> Self {
        Machine {
            config,
            link: Link::Idle,
            status: SocketStatus::Idle,
            next_ref: 0,
            next_seq: 0,
            generation: 0,
            retries: 0,
            connect_waiters: Vec::new(),
            channels: BTreeMap::new(),
            topics: HashMap::new(),
            in_flight: HashMap::new(),
            deadlines: Deadlines::default(),
            out: VecDeque::new(),
        }
    }

    // ----- polls ------------------------------------------------------------------------------

    /// The next thing the driver must do.
    pub(crate) fn poll_output(&mut self) -> Option<Output> {
        self.out.pop_front()
    }

    /// When the machine next needs [`Machine::handle_timeout`].
    pub(crate) fn poll_timeout(&self) -> Option<Instant> {
        self.deadlines.next()
    }

    /// True while the link is open.
    pub(crate) fn is_connected(&self) -> bool {
        matches!(self.link, Link::Connected { .. })
    }

    // ----- small helpers ----------------------------------------------------------------------

    fn make_ref(&mut self) -> u64 {
        self.next_ref += 1;
        self.next_ref
    }

    fn set_status(&mut self, status: SocketStatus) {
        if self.status != status {
            self.status = status.clone();
            self.out.push_back(Output::Socket(status));
        }
    }

    fn set_phase(&mut self, id: ChannelId, phase: Phase) {
        let Some(entry) = self.channels.get_mut(&id) else {
            return;
        };
        let before = entry.phase.status();
        let after = phase.status();
        entry.phase = phase;
        if before != after {
            self.out.push_back(Output::Channel {
                id,
                topic: entry.topic.clone(),
                status: after,
            });
        }
    }

    /// Encodes and queues one message. Only an encoding error is reported: a write that fails
    /// later shows up as a lost connection, which answers whatever was in flight.
    fn send(&mut self, msg: &Message) -> Result<(), String> {
        let frame = self
            .config
            .vsn
            .encode_client(msg)
            .map_err(|e| e.to_string())?;
        self.out.push_back(Output::Send(frame));
        Ok(())
    }

    // ----- connection lifecycle -------------------------------------------------------------

    fn start_connect(&mut self) {
        self.link = Link::Connecting;
        self.deadlines.cancel(Timer::Reconnect);
        self.out.push_back(Output::Connect);
        self.set_status(SocketStatus::Connecting {
            attempt: self.retries,
        });
    }

    fn schedule_reconnect(&mut self, now: Instant, reason: String) {
        self.retries = self.retries.saturating_add(1);
        let delay = self.config.reconnect.delay(self.retries);
        self.link = Link::WaitingToReconnect;
        self.deadlines.set(Timer::Reconnect, after(now, delay));
        self.set_status(SocketStatus::Reconnecting {
            attempt: self.retries,
            delay,
            reason,
        });
    }

    /// The one place a rejoin is scheduled: after a join error, a join timeout, a `phx_error`
    /// or an "unmatched topic" reply. While disconnected the rejoin waits for the next open.
    fn schedule_rejoin(&mut self, id: ChannelId, now: Instant) {
        let connected = self.is_connected();
        let Some(entry) = self.channels.get_mut(&id) else {
            return;
        };
        entry.rejoin_attempts = entry.rejoin_attempts.saturating_add(1);
        let delay = self.config.rejoin.delay(entry.rejoin_attempts);
        if connected {
            self.deadlines.set(Timer::Channel(id), after(now, delay));
        } else {
            self.deadlines.cancel(Timer::Channel(id));
        }
        self.set_phase(id, Phase::Errored);
    }

    /// A connection attempt succeeded.
    pub(crate) fn handle_connected(&mut self, now: Instant) {
        if self.link != Link::Connecting {
            return;
        }
        self.generation += 1;
        self.retries = 0;
        self.link = Link::Connected { pending: None };
        self.deadlines
            .set(Timer::Heartbeat, after(now, self.config.heartbeat_interval));
        self.set_status(SocketStatus::Connected {
            generation: self.generation,
        });
        for w in std::mem::take(&mut self.connect_waiters) {
            self.out.push_back(Output::Done(Done::Connect(w, Ok(()))));
        }
        // Rejoin everything that was joined or joining, each with a fresh join_ref.
        let ids: Vec<ChannelId> = self.channels.keys().copied().collect();
        for id in ids {
            let Some(entry) = self.channels.get_mut(&id) else {
                continue;
            };
            entry.rejoin_attempts = 0;
            match entry.phase {
                // A first join keeps the timeout that runs from the join() call.
                Phase::Joining { .. } => self.send_join(id, now, false),
                Phase::Errored => self.send_join(id, now, true),
                Phase::Joined | Phase::Leaving { .. } => {}
            }
        }
    }

    /// A connection attempt failed.
    pub(crate) fn handle_connect_failed(&mut self, now: Instant, error: ConnectError) {
        if self.link != Link::Connecting {
            return;
        }
        tracing::debug!(error = %error, "connection attempt failed");
        if error.is_terminal() && !self.config.retry_tls_errors {
            // An untrusted certificate or a server that is not TLS does not fix itself.
            self.link = Link::Idle;
            self.set_status(SocketStatus::Stopped {
                code: None,
                reason: error.to_string(),
            });
        } else {
            self.schedule_reconnect(now, error.to_string());
        }
        for w in std::mem::take(&mut self.connect_waiters) {
            self.out
                .push_back(Output::Done(Done::Connect(w, Err(error.clone()))));
        }
    }

    /// The open link ended: a close frame, a dropped stream, or a failed write.
    pub(crate) fn handle_closed(&mut self, now: Instant, cause: CloseCause, reason: String) {
        if !self.is_connected() {
            return;
        }
        self.connection_lost(now, cause, reason);
    }

    /// Tears down the current connection (if any), fails what can no longer be answered and
    /// decides, through the close policy, whether to reconnect.
    fn connection_lost(&mut self, now: Instant, cause: CloseCause, reason: String) {
        let was_connected = self.is_connected();
        self.link = Link::Idle;
        self.deadlines.cancel(Timer::Heartbeat);
        self.deadlines.cancel(Timer::Reconnect);
        let graceful = matches!(
            cause,
            CloseCause::ClientDisconnect | CloseCause::HeartbeatTimeout
        );
        self.out.push_back(Output::Close {
            graceful: graceful && was_connected,
            reason: reason.clone(),
        });
        // Answered last, after the statuses, but taken first so no channel close claims them.
        let lost = std::mem::take(&mut self.in_flight);
        if was_connected {
            tracing::debug!(?cause, %reason, "connection lost");
            let mut closed = Vec::new();
            let ids: Vec<ChannelId> = self.channels.keys().copied().collect();
            for id in ids {
                let Some(entry) = self.channels.get(&id) else {
                    continue;
                };
                match entry.phase {
                    Phase::Joined | Phase::Joining { sent: true } | Phase::Errored => {
                        // Rejoins as soon as the socket reopens, not on the rejoin schedule.
                        self.deadlines.cancel(Timer::Channel(id));
                        self.set_phase(id, Phase::Errored);
                    }
                    Phase::Joining { sent: false } => {}
                    Phase::Leaving { .. } => closed.push(id),
                }
            }
            for id in closed {
                self.finish_close(id);
            }
        }
        if self.config.close_policy.should_reconnect(&cause) {
            self.schedule_reconnect(now, reason);
        } else if let CloseCause::ServerClose(code) = cause {
            self.set_status(SocketStatus::Stopped { code, reason });
        } else if cause == CloseCause::Dropped {
            self.set_status(SocketStatus::Stopped { code: None, reason });
        } else {
            self.set_status(SocketStatus::Idle);
        }
        for w in std::mem::take(&mut self.connect_waiters) {
            self.out
                .push_back(Output::Done(Done::Connect(w, Err(ConnectError::Cancelled))));
        }
        for (r, f) in lost {
            self.deadlines.cancel(Timer::Push(r));
            self.out.push_back(Output::Done(Done::Push(
                f.done,
                Err(PushError::ConnectionLost),
            )));
        }
    }

    /// Every handle is gone: close the link and every channel.
    pub(crate) fn shutdown(&mut self, now: Instant) {
        if self.is_connected() {
            self.connection_lost(now, CloseCause::ClientDisconnect, "socket dropped".into());
        }
        let ids: Vec<ChannelId> = self.channels.keys().copied().collect();
        for id in ids {
            self.finish_close(id);
        }
    }

    // ----- commands -------------------------------------------------------------------------

    /// `Socket::connect`.
    pub(crate) fn connect(&mut self, done: oneshot::Sender<Result<(), ConnectError>>) {
        match self.link {
            Link::Connected { .. } => {
                self.out
                    .push_back(Output::Done(Done::Connect(done, Ok(()))));
            }
            Link::Connecting => self.connect_waiters.push(done),
            Link::WaitingToReconnect | Link::Idle => {
                self.connect_waiters.push(done);
                if self.link == Link::Idle {
                    self.retries = 0;
                }
                self.start_connect();
            }
        }
    }

    /// `Socket::disconnect`.
    pub(crate) fn disconnect(&mut self, now: Instant) {
        match self.link {
            Link::Connected { .. } => self.connection_lost(
                now,
                CloseCause::ClientDisconnect,
                "client disconnect".into(),
            ),
            Link::Connecting | Link::WaitingToReconnect | Link::Idle => {
                if self.link == Link::Connecting {
                    self.out.push_back(Output::Close {
                        graceful: false,
                        reason: "client disconnect".into(),
                    });
                }
                self.link = Link::Idle;
                self.deadlines.cancel(Timer::Reconnect);
                self.set_status(SocketStatus::Idle);
                for w in std::mem::take(&mut self.connect_waiters) {
                    self.out
                        .push_back(Output::Done(Done::Connect(w, Err(ConnectError::Cancelled))));
                }
            }
        }
    }

    /// `Socket::send_raw`: the frame as is.
    pub(crate) fn send_raw(&mut self, frame: Frame) -> Result<(), SendError> {
        if !self.is_connected() {
            return Err(SendError::NotConnected);
        }
        self.out.push_back(Output::Send(frame));
        Ok(())
    }

    /// `Channel::join`. False (and `done` answered) when the channel or topic is taken.
    pub(crate) fn join(
        &mut self,
        now: Instant,
        id: ChannelId,
        topic: String,
        payload: JoinPayload,
        done: oneshot::Sender<Result<Payload, JoinError>>,
    ) -> bool {
        if self.channels.contains_key(&id) || self.topics.contains_key(&topic) {
            self.out.push_back(Output::Done(Done::Join(
                done,
                Err(JoinError::AlreadyJoined(topic)),
            )));
            return false;
        }
        self.deadlines
            .set(Timer::Channel(id), after(now, self.config.push_timeout));
        self.topics.insert(topic.clone(), id);
        self.out.push_back(Output::Channel {
            id,
            topic: topic.clone(),
            status: ChannelStatus::Joining,
        });
        self.channels.insert(
            id,
            Entry {
                topic,
                payload,
                phase: Phase::Joining { sent: false },
                join_ref: None,
                rejoin_attempts: 0,
                join_waiter: Some(done),
                leave_waiters: Vec::new(),
                buffer: VecDeque::new(),
            },
        );
        if self.is_connected() {
            self.send_join(id, now, false);
        }
        true
    }

    /// Sends a join with a fresh join_ref (phoenix.js `joinPush.resend()`). `fresh_timeout`:
    /// start a new join timeout (else the armed one keeps running).
    fn send_join(&mut self, id: ChannelId, now: Instant, fresh_timeout: bool) {
        let join_ref = self.make_ref().to_string();
        let Some(entry) = self.channels.get_mut(&id) else {
            return;
        };
        entry.join_ref = Some(join_ref.clone());
        let msg = Message::new(
            join_ref.as_str(),
            join_ref.as_str(),
            entry.topic.clone(),
            events::JOIN,
            entry.payload.resolve(),
        );
        self.out.push_back(Output::JoinRef {
            id,
            join_ref: join_ref.clone(),
        });
        if fresh_timeout || self.deadlines.get(Timer::Channel(id)).is_none() {
            self.deadlines
                .set(Timer::Channel(id), after(now, self.config.push_timeout));
        }
        self.set_phase(id, Phase::Joining { sent: true });
        if let Err(e) = self.send(&msg) {
            let waiter = self
                .channels
                .get_mut(&id)
                .and_then(|entry| entry.join_waiter.take());
            self.finish_close(id);
            if let Some(w) = waiter {
                self.out
                    .push_back(Output::Done(Done::Join(w, Err(JoinError::Encode(e)))));
            }
        }
    }

    /// `Channel::leave`.
    pub(crate) fn leave(
        &mut self,
        now: Instant,
        id: ChannelId,
        done: oneshot::Sender<Result<(), LeaveError>>,
    ) {
        let connected = self.is_connected();
        let Some(entry) = self.channels.get_mut(&id) else {
            self.out.push_back(Output::Done(Done::Leave(done)));
            return;
        };
        entry.leave_waiters.push(done);
        let phase = entry.phase.clone();
        match (phase, connected) {
            (Phase::Leaving { .. }, _) => {}
            (Phase::Joined, true) => {
                let leave_ref = self.make_ref().to_string();
                self.send_leave(id, &leave_ref);
                self.deadlines
                    .set(Timer::Channel(id), after(now, self.config.push_timeout));
                self.set_phase(id, Phase::Leaving { leave_ref });
            }
            (Phase::Joining { sent: true }, true) => {
                // Tell the server, which may already have joined, then close without waiting.
                let leave_ref = self.make_ref().to_string();
                self.send_leave(id, &leave_ref);
                self.finish_close(id);
            }
            _ => self.finish_close(id),
        }
    }

    fn send_leave(&mut self, id: ChannelId, leave_ref: &str) {
        let Some(entry) = self.channels.get(&id) else {
            return;
        };
        let msg = Message::new(
            entry.join_ref.clone(),
            leave_ref,
            entry.topic.clone(),
            events::LEAVE,
            Payload::empty_object(),
        );
        let _ = self.send(&msg);
    }

    /// `Channel::push`: sent now when joined, else buffered (bounded) until the join.
    pub(crate) fn push(
        &mut self,
        now: Instant,
        id: ChannelId,
        event: String,
        payload: Payload,
        timeout: Duration,
        done: oneshot::Sender<Result<Reply, PushError>>,
    ) {
        let connected = self.is_connected();
        let Some(entry) = self.channels.get_mut(&id) else {
            self.out.push_back(Output::Done(Done::Push(
                done,
                Err(PushError::ChannelClosed),
            )));
            return;
        };
        if payload.is_binary() && self.config.vsn == phx_protocol::Vsn::V1 {
            self.out.push_back(Output::Done(Done::Push(
                done,
                Err(PushError::Encode("binary payloads need vsn 2.0.0".into())),
            )));
            return;
        }
        let deadline = after(now, timeout);
        match entry.phase {
            Phase::Leaving { .. } => {
                self.out.push_back(Output::Done(Done::Push(
                    done,
                    Err(PushError::ChannelClosed),
                )));
            }
            Phase::Joined if connected => {
                let join_ref = entry.join_ref.clone();
                let topic = entry.topic.clone();
                self.send_push(id, join_ref, topic, event, payload, timeout, deadline, done);
            }
            _ if entry.buffer.len() >= self.config.max_buffered_pushes => {
                self.out.push_back(Output::Done(Done::Push(
                    done,
                    Err(PushError::BufferFull {
                        capacity: self.config.max_buffered_pushes,
                    }),
                )));
            }
            _ => {
                self.next_seq += 1;
                let seq = self.next_seq;
                entry.buffer.push_back(Buffered {
                    seq,
                    event,
                    payload,
                    timeout,
                    done,
                });
                self.deadlines.set(Timer::Buffered(id, seq), deadline);
            }
        }
    }

    #[allow(clippy::too_many_arguments)] // one push's fields; a struct would only rename them
    fn send_push(
        &mut self,
        id: ChannelId,
        join_ref: Option<String>,
        topic: String,
        event: String,
        payload: Payload,
        timeout: Duration,
        deadline: Instant,
        done: oneshot::Sender<Result<Reply, PushError>>,
    ) {
        let push_ref = self.make_ref();
        let msg = Message::new(
            join_ref,
            push_ref.to_string().as_str(),
            topic,
            event,
            payload,
        );
        match self.send(&msg) {
            Err(e) => {
                self.out
                    .push_back(Output::Done(Done::Push(done, Err(PushError::Encode(e)))));
            }
            Ok(()) => {
                self.deadlines.set(Timer::Push(push_ref), deadline);
                self.in_flight.insert(
                    push_ref,
                    InFlight {
                        channel: id,
                        timeout,
                        done,
                    },
                );
            }
        }
    }

    // ----- incoming ---------------------------------------------------------------------------

    /// A decoded message from the server.
    pub(crate) fn handle_message(&mut self, now: Instant, msg: ServerMessage) {
        let ref_num = ref_number(msg.ref_());
        // Heartbeat reply.
        if let (Link::Connected { pending: Some(p) }, ServerMessage::Reply(_)) = (self.link, &msg) {
            if msg.topic() == events::HEARTBEAT_TOPIC && ref_num == Some(p) {
                self.link = Link::Connected { pending: None };
                self.deadlines
                    .set(Timer::Heartbeat, after(now, self.config.heartbeat_interval));
                return;
            }
        }
        let Some(&id) = self.topics.get(msg.topic()) else {
            return;
        };
        let Some(entry) = self.channels.get_mut(&id) else {
            return;
        };
        // Drop messages from an older join of this topic (phoenix.js `isMember`).
        let current = match msg.join_ref() {
            Ref::Null => true,
            Ref::Str(s) => entry.join_ref.as_deref() == Some(s.as_str()),
            _ => false,
        };
        if !current {
            tracing::debug!(
                topic = msg.topic(),
                event = msg.event(),
                "dropping a message with a stale join_ref"
            );
            return;
        }
        match msg {
            ServerMessage::Reply(reply) => {
                let Ref::Str(r) = &reply.ref_ else { return };
                match &entry.phase {
                    Phase::Joining { sent: true } if entry.join_ref.as_ref() == Some(r) => {
                        self.on_join_reply(id, now, reply.status, reply.response)
                    }
                    Phase::Leaving { leave_ref } if leave_ref == r => self.finish_close(id),
                    _ => {
                        let Some(push_ref) = ref_num else { return };
                        if self
                            .in_flight
                            .get(&push_ref)
                            .is_none_or(|f| f.channel != id)
                        {
                            return;
                        }
                        // "unmatched topic" to a push: the server no longer has this channel,
                        // so the client's "joined" is wrong; rejoin (firezone#10397).
                        let forgotten = reply.status == "error"
                            && reply.join_ref.is_null()
                            && matches!(entry.phase, Phase::Joined)
                            && reply.response.as_json().and_then(|v| v.get("reason"))
                                == Some(&serde_json::Value::from(events::UNMATCHED_TOPIC));
                        let reason = forgotten.then(|| reply.response.clone());
                        self.deadlines.cancel(Timer::Push(push_ref));
                        if let Some(f) = self.in_flight.remove(&push_ref) {
                            let result = if reply.status == "error" {
                                Err(PushError::ErrorReply(reply.response))
                            } else {
                                Ok(Reply {
                                    status: reply.status,
                                    response: reply.response,
                                })
                            };
                            self.out.push_back(Output::Done(Done::Push(f.done, result)));
                        }
                        if let Some(reason) = reason {
                            tracing::debug!("server forgot the channel; rejoining");
                            self.errored(id, now, reason);
                        }
                    }
                }
            }
            other => {
                let m = other.into_message();
                let event = ChannelEvent {
                    topic: m.topic,
                    event: m.event,
                    payload: m.payload,
                    join_ref: m.join_ref,
                };
                // The per-message path clones nothing but a phx_error's reason.
                let close = event.event == events::CLOSE;
                let error = (event.event == events::ERROR).then(|| event.payload.clone());
                self.out.push_back(Output::Event { id, event });
                if close {
                    self.finish_close(id);
                } else if let Some(reason) = error {
                    self.errored(id, now, reason);
                }
            }
        }
    }

    fn on_join_reply(&mut self, id: ChannelId, now: Instant, status: String, response: Payload) {
        let Some(entry) = self.channels.get_mut(&id) else {
            return;
        };
        let waiter = entry.join_waiter.take();
        if status != "ok" {
            self.schedule_rejoin(id, now);
            if let Some(w) = waiter {
                self.out.push_back(Output::Done(Done::Join(
                    w,
                    Err(JoinError::Rejected(response)),
                )));
            }
            return;
        }
        entry.rejoin_attempts = 0;
        // Flush pushes buffered while joining, with the new join_ref; their timeouts keep running.
        let buffered: Vec<Buffered> = entry.buffer.drain(..).collect();
        let join_ref = entry.join_ref.clone();
        let topic = entry.topic.clone();
        self.deadlines.cancel(Timer::Channel(id));
        self.set_phase(id, Phase::Joined);
        if let Some(w) = waiter {
            self.out
                .push_back(Output::Done(Done::Join(w, Ok(response))));
        }
        for b in buffered {
            let timer = Timer::Buffered(id, b.seq);
            let deadline = self.deadlines.get(timer).unwrap_or(now);
            self.deadlines.cancel(timer);
            self.send_push(
                id,
                join_ref.clone(),
                topic.clone(),
                b.event,
                b.payload,
                b.timeout,
                deadline,
                b.done,
            );
        }
    }

    /// `phx_error`: the server's channel is gone; answer its in-flight pushes, rejoin with backoff.
    fn errored(&mut self, id: ChannelId, now: Instant, reason: Payload) {
        self.schedule_rejoin(id, now);
        self.fail_in_flight(id, || PushError::ChannelErrored(reason.clone()));
    }

    fn fail_in_flight(&mut self, id: ChannelId, error: impl Fn() -> PushError) {
        let refs: Vec<u64> = self
            .in_flight
            .iter()
            .filter(|(_, f)| f.channel == id)
            .map(|(r, _)| *r)
            .collect();
        for r in refs {
            self.deadlines.cancel(Timer::Push(r));
            if let Some(f) = self.in_flight.remove(&r) {
                self.out
                    .push_back(Output::Done(Done::Push(f.done, Err(error()))));
            }
        }
    }

    /// Closes a channel for good: left, `phx_close`, or the socket is going away.
    fn finish_close(&mut self, id: ChannelId) {
        let Some(entry) = self.channels.remove(&id) else {
            return;
        };
        self.deadlines.cancel(Timer::Channel(id));
        self.topics.remove(&entry.topic);
        self.out.push_back(Output::Channel {
            id,
            topic: entry.topic,
            status: ChannelStatus::Closed,
        });
        self.fail_in_flight(id, || PushError::ChannelClosed);
        if let Some(w) = entry.join_waiter {
            self.out
                .push_back(Output::Done(Done::Join(w, Err(JoinError::Closed))));
        }
        for w in entry.leave_waiters {
            self.out.push_back(Output::Done(Done::Leave(w)));
        }
        for b in entry.buffer {
            self.deadlines.cancel(Timer::Buffered(id, b.seq));
            self.out.push_back(Output::Done(Done::Push(
                b.done,
                Err(PushError::ChannelClosed),
            )));
        }
    }

    // ----- timers -----------------------------------------------------------------------------

    /// Fires every timer due at `now`.
    pub(crate) fn handle_timeout(&mut self, now: Instant) {
        while let Some(timer) = self.deadlines.pop_due(now) {
            match timer {
                Timer::Reconnect => {
                    if self.link == Link::WaitingToReconnect {
                        self.start_connect();
                    }
                }
                Timer::Heartbeat => self.on_heartbeat_timer(now),
                Timer::Push(r) => {
                    if let Some(f) = self.in_flight.remove(&r) {
                        self.out.push_back(Output::Done(Done::Push(
                            f.done,
                            Err(PushError::Timeout(f.timeout)),
                        )));
                    }
                }
                Timer::Buffered(id, seq) => {
                    let Some(entry) = self.channels.get_mut(&id) else {
                        continue;
                    };
                    if let Some(pos) = entry.buffer.iter().position(|b| b.seq == seq) {
                        if let Some(b) = entry.buffer.remove(pos) {
                            self.out.push_back(Output::Done(Done::Push(
                                b.done,
                                Err(PushError::Timeout(b.timeout)),
                            )));
                        }
                    }
                }
                Timer::Channel(id) => self.on_channel_timer(id, now),
            }
        }
    }

    fn on_heartbeat_timer(&mut self, now: Instant) {
        let Link::Connected { pending } = self.link else {
            return;
        };
        if pending.is_some() {
            tracing::debug!("heartbeat timed out; reconnecting");
            self.connection_lost(
                now,
                CloseCause::HeartbeatTimeout,
                "heartbeat timeout".into(),
            );
            return;
        }
        let r = self.make_ref();
        self.link = Link::Connected { pending: Some(r) };
        self.deadlines
            .set(Timer::Heartbeat, after(now, self.config.heartbeat_timeout));
        let msg = Message::new(
            Ref::Null,
            r.to_string().as_str(),
            events::HEARTBEAT_TOPIC,
            events::HEARTBEAT,
            Payload::empty_object(),
        );
        let _ = self.send(&msg);
    }

    fn on_channel_timer(&mut self, id: ChannelId, now: Instant) {
        let connected = self.is_connected();
        let Some(entry) = self.channels.get_mut(&id) else {
            return;
        };
        match entry.phase {
            Phase::Joining { sent } => {
                if sent && connected {
                    // Let the server drop a join it may still complete (phoenix.js does the same).
                    let leave_ref = self.make_ref().to_string();
                    self.send_leave(id, &leave_ref);
                }
                let waiter = self
                    .channels
                    .get_mut(&id)
                    .and_then(|entry| entry.join_waiter.take());
                self.schedule_rejoin(id, now);
                if let Some(w) = waiter {
                    self.out.push_back(Output::Done(Done::Join(
                        w,
                        Err(JoinError::Timeout(self.config.push_timeout)),
                    )));
                }
            }
            Phase::Errored => {
                if connected {
                    self.send_join(id, now, true);
                }
            }
            Phase::Leaving { .. } => self.finish_close(id),
            Phase::Joined => {}
        }
    }
}

#[cfg(test)]
#[path = "machine_tests.rs"]
mod tests;
