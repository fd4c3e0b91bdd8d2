//! The one task that owns the connection, every channel's state and every pending push.
//!
//! Handles talk to it over an mpsc queue ([`command::Command`]); it publishes the socket status
//! and each channel's status through `watch`, and events through `broadcast`. All timers (heartbeat,
//! reconnect, join, rejoin, push and leave timeouts) are deadlines checked in one loop, so tokio's
//! paused clock drives them deterministically in tests.

pub(crate) mod command;
mod entry;
mod state;

use std::collections::{BTreeMap, HashMap, VecDeque};
use std::sync::Arc;
use std::time::Duration;

use futures_util::{SinkExt, StreamExt};
use phx_protocol::events;
use phx_protocol::{Frame, Message, Payload, Ref, ServerMessage};
use tokio::sync::{broadcast, mpsc, oneshot, watch};
use tokio::time::{sleep_until, Instant};
use tokio_tungstenite::tungstenite::protocol::frame::coding::CloseCode;
use tokio_tungstenite::tungstenite::protocol::CloseFrame;
use tokio_tungstenite::tungstenite::Message as WsMessage;

use crate::close_policy::CloseCause;
use crate::config::{JoinPayload, SocketConfig};
use crate::endpoint::{attempt_url, auth_subprotocols};
use crate::error::{ConnectError, JoinError, LeaveError, PushError, SendError};
use crate::reply::{ChannelEvent, Reply};
use crate::status::{ChannelStatus, SocketStatus, StatusEvent};
use crate::transport::{self, Ws};
use command::{ChannelId, Command};
use entry::{Buffered, Entry, Phase};
use state::{Heartbeat, State};

/// State shared with the handles.
pub(crate) struct Shared {
    pub status: watch::Sender<SocketStatus>,
    /// Every decoded server message, before channel routing (for tools like `phx connect`).
    pub messages: broadcast::Sender<ServerMessage>,
    /// Every status transition of the socket and its channels, in order.
    pub transitions: broadcast::Sender<StatusEvent>,
}

/// A push written to the wire, awaiting its reply.
struct InFlight {
    channel: ChannelId,
    timeout: Duration,
    deadline: Instant,
    done: oneshot::Sender<Result<Reply, PushError>>,
}

enum Wake {
    Command(Option<Command>),
    Opened(Result<Ws, ConnectError>),
    Frame(Option<Result<WsMessage, tokio_tungstenite::tungstenite::Error>>),
    Timer,
}

pub(crate) struct Task {
    config: SocketConfig,
    commands: mpsc::Receiver<Command>,
    shared: Arc<Shared>,
    state: State,
    /// Set when a write failed; the loop then tears the connection down (never mid-iteration).
    broken: bool,
    /// Per-socket ref counter, never reset, so a ref is never reused across connections.
    next_ref: u64,
    generation: u64,
    /// Failed attempts and drops since the last open; indexes the reconnect schedule.
    retries: u32,
    connect_waiters: Vec<oneshot::Sender<Result<(), ConnectError>>>,
    channels: BTreeMap<ChannelId, Entry>,
    /// topic -> the channel holding it (at most one per topic), for O(1) routing.
    topics: HashMap<String, ChannelId>,
    in_flight: HashMap<String, InFlight>,
}

/// `from + d`, saturating: a `Duration::MAX` timeout (or a backoff that returns one) means
/// "practically never" instead of an overflow panic that would kill the connection task.
fn after(from: Instant, d: Duration) -> Instant {
    const FAR: Duration = Duration::from_secs(100 * 365 * 24 * 3600);
    from.checked_add(d)
        .or_else(|| from.checked_add(FAR))
        .unwrap_or(from)
}

fn make_ref(counter: &mut u64) -> String {
    *counter += 1;
    counter.to_string()
}

/// Writes one message; on failure marks the connection broken (the loop tears it down).
async fn send(
    state: &mut State,
    broken: &mut bool,
    config: &SocketConfig,
    msg: &Message,
) -> Result<(), PushError> {
    let frame = config
        .vsn
        .encode_client(msg)
        .map_err(|e| PushError::Encode(e.to_string()))?;
    send_frame(state, broken, config, frame)
        .await
        .map_err(|_| PushError::ConnectionLost)
}

async fn send_frame(
    state: &mut State,
    broken: &mut bool,
    config: &SocketConfig,
    frame: Frame,
) -> Result<(), SendError> {
    let State::Connected { ws, .. } = state else {
        return Err(SendError::NotConnected);
    };
    if *broken {
        return Err(SendError::NotConnected);
    }
    let msg = match frame {
        Frame::Text(t) => WsMessage::text(t),
        Frame::Binary(b) => WsMessage::binary(b),
    };
    // A peer that stops reading must not wedge the task: bound the write like a heartbeat.
    match tokio::time::timeout(config.heartbeat_timeout, ws.send(msg)).await {
        Ok(Ok(())) => Ok(()),
        Ok(Err(e)) => {
            *broken = true;
            Err(SendError::Io(e.to_string()))
        }
        Err(_) => {
            *broken = true;
            Err(SendError::Io("write timed out".into()))
        }
    }
}

impl Task {
    pub(crate) fn new(
        config: SocketConfig,
        commands: mpsc::Receiver<Command>,
        shared: Arc<Shared>,
    ) -> Self {
        Task {
            config,
            commands,
            shared,
            state: State::Idle,
            broken: false,
            next_ref: 0,
            generation: 0,
            retries: 0,
            connect_waiters: Vec::new(),
            channels: BTreeMap::new(),
            topics: HashMap::new(),
            in_flight: HashMap::new(),
        }
    }

    pub(crate) async fn run(mut self) {
        loop {
            let deadline = self.next_deadline();
            let sleep = async move {
                match deadline {
                    Some(d) => sleep_until(d).await,
                    None => std::future::pending().await,
                }
            };
            let wake = match &mut self.state {
                State::Connecting { attempt } => tokio::select! {
                    c = self.commands.recv() => Wake::Command(c),
                    r = attempt => Wake::Opened(r),
                    () = sleep => Wake::Timer,
                },
                State::Connected { ws, .. } => tokio::select! {
                    c = self.commands.recv() => Wake::Command(c),
                    f = ws.next() => Wake::Frame(f),
                    () = sleep => Wake::Timer,
                },
                State::Idle | State::WaitingToReconnect { .. } => tokio::select! {
                    c = self.commands.recv() => Wake::Command(c),
                    () = sleep => Wake::Timer,
                },
            };
            match wake {
                Wake::Command(None) => {
                    self.shutdown().await;
                    return;
                }
                Wake::Command(Some(cmd)) => self.on_command(cmd).await,
                Wake::Opened(result) => self.on_opened(result).await,
                Wake::Frame(frame) => self.on_frame(frame).await,
                Wake::Timer => self.on_timer().await,
            }
            if self.broken {
                self.connection_lost(CloseCause::Dropped, "write failed".into())
                    .await;
            }
        }
    }

    fn set_status(&self, status: SocketStatus) {
        let changed = self.shared.status.send_if_modified(|s| {
            let changed = *s != status;
            *s = status.clone();
            changed
        });
        if changed {
            let _ = self.shared.transitions.send(StatusEvent::Socket(status));
        }
    }

    fn next_deadline(&self) -> Option<Instant> {
        let state = match &self.state {
            State::WaitingToReconnect { at } => Some(*at),
            State::Connected { heartbeat, .. } => Some(
                heartbeat
                    .pending
                    .as_ref()
                    .map_or(heartbeat.next_at, |p| p.1),
            ),
            State::Idle | State::Connecting { .. } => None,
        };
        let pushes = self.in_flight.values().map(|f| f.deadline);
        let channels = self.channels.values().filter_map(Entry::next_deadline);
        state.into_iter().chain(pushes).chain(channels).min()
    }

    // ----- connection lifecycle -------------------------------------------------------------

    fn start_connect(&mut self) {
        let params = self.config.params.resolve();
        let url = attempt_url(&self.config.endpoint, &params, self.config.vsn);
        let protocols = self
            .config
            .auth_token
            .as_ref()
            .and_then(|f| f())
            .map(|t| auth_subprotocols(&t));
        let attempt = transport::open(&self.config, url, protocols);
        self.state = State::Connecting {
            attempt: Box::pin(attempt),
        };
        self.set_status(SocketStatus::Connecting {
            attempt: self.retries,
        });
    }

    fn schedule_reconnect(&mut self, reason: String) {
        self.retries = self.retries.saturating_add(1);
        let delay = self.config.reconnect.delay(self.retries);
        self.state = State::WaitingToReconnect {
            at: after(Instant::now(), delay),
        };
        self.set_status(SocketStatus::Reconnecting {
            attempt: self.retries,
            delay,
            reason,
        });
    }

    async fn on_opened(&mut self, result: Result<Ws, ConnectError>) {
        let ws = match result {
            Ok(ws) => ws,
            Err(e) => {
                tracing::debug!(error = %e, "connection attempt failed");
                for w in self.connect_waiters.drain(..) {
                    let _ = w.send(Err(e.clone()));
                }
                if e.is_terminal() && !self.config.retry_tls_errors {
                    self.state = State::Idle;
                    self.set_status(SocketStatus::Stopped {
                        code: None,
                        reason: e.to_string(),
                    });
                    return;
                }
                self.schedule_reconnect(e.to_string());
                return;
            }
        };
        let now = Instant::now();
        self.generation += 1;
        self.retries = 0;
        self.broken = false;
        self.state = State::Connected {
            ws: Box::new(ws),
            heartbeat: Heartbeat {
                next_at: after(now, self.config.heartbeat_interval),
                pending: None,
            },
        };
        self.set_status(SocketStatus::Connected {
            generation: self.generation,
        });
        for w in self.connect_waiters.drain(..) {
            let _ = w.send(Ok(()));
        }
        // Rejoin everything that was joined or joining, each with a fresh join_ref.
        let ids: Vec<ChannelId> = self.channels.keys().copied().collect();
        for id in ids {
            let Some(entry) = self.channels.get_mut(&id) else {
                continue;
            };
            entry.rejoin_attempts = 0;
            let deadline = match entry.phase {
                Phase::Joining { deadline, .. } => deadline,
                Phase::Errored { .. } => after(now, self.config.push_timeout),
                Phase::Joined | Phase::Leaving { .. } => continue,
            };
            self.send_join(id, deadline).await;
        }
    }

    /// Tears down the current connection (if any), fails what can no longer be answered and
    /// decides, through the close policy, whether to reconnect.
    async fn connection_lost(&mut self, cause: CloseCause, reason: String) {
        let old = std::mem::replace(&mut self.state, State::Idle);
        self.broken = false;
        let was_connected = matches!(old, State::Connected { .. });
        if let State::Connected { mut ws, .. } = old {
            if matches!(
                cause,
                CloseCause::ClientDisconnect | CloseCause::HeartbeatTimeout
            ) {
                let frame = CloseFrame {
                    code: CloseCode::Normal,
                    reason: reason.clone().into(),
                };
                let _ = tokio::time::timeout(
                    Duration::from_millis(500),
                    Ws::close(&mut ws, Some(frame)),
                )
                .await;
            }
        }
        if was_connected {
            tracing::debug!(?cause, %reason, "connection lost");
            for (_, f) in self.in_flight.drain() {
                let _ = f.done.send(Err(PushError::ConnectionLost));
            }
            let mut closed = Vec::new();
            for (id, entry) in &mut self.channels {
                match entry.phase {
                    Phase::Joined | Phase::Joining { sent: true, .. } | Phase::Errored { .. } => {
                        entry.set_phase(Phase::Errored { rejoin_at: None })
                    }
                    Phase::Joining { sent: false, .. } => {}
                    Phase::Leaving { .. } => closed.push(*id),
                }
            }
            for id in closed {
                self.finish_close(id);
            }
        }
        for w in self.connect_waiters.drain(..) {
            let _ = w.send(Err(ConnectError::Cancelled));
        }
        if self.config.close_policy.should_reconnect(&cause) {
            self.schedule_reconnect(reason);
        } else if let CloseCause::ServerClose(code) = cause {
            self.set_status(SocketStatus::Stopped { code, reason });
        } else if cause == CloseCause::Dropped {
            self.set_status(SocketStatus::Stopped { code: None, reason });
        } else {
            self.set_status(SocketStatus::Idle);
        }
    }

    async fn shutdown(&mut self) {
        if self.state.is_connected() {
            self.connection_lost(CloseCause::ClientDisconnect, "socket dropped".into())
                .await;
        }
        let ids: Vec<ChannelId> = self.channels.keys().copied().collect();
        for id in ids {
            self.finish_close(id);
        }
    }

    // ----- commands -------------------------------------------------------------------------

    async fn on_command(&mut self, cmd: Command) {
        match cmd {
            Command::Connect { done } => match self.state {
                State::Connected { .. } => {
                    let _ = done.send(Ok(()));
                }
                State::Connecting { .. } => self.connect_waiters.push(done),
                State::WaitingToReconnect { .. } | State::Idle => {
                    self.connect_waiters.push(done);
                    if matches!(self.state, State::Idle) {
                        self.retries = 0;
                    }
                    self.start_connect();
                }
            },
            Command::Disconnect { done } => {
                match self.state {
                    State::Connected { .. } => {
                        self.connection_lost(
                            CloseCause::ClientDisconnect,
                            "client disconnect".into(),
                        )
                        .await
                    }
                    State::Connecting { .. } | State::WaitingToReconnect { .. } | State::Idle => {
                        self.state = State::Idle;
                        for w in self.connect_waiters.drain(..) {
                            let _ = w.send(Err(ConnectError::Cancelled));
                        }
                        self.set_status(SocketStatus::Idle);
                    }
                }
                let _ = done.send(());
            }
            Command::Join {
                id,
                topic,
                payload,
                status,
                join_ref,
                events,
                done,
            } => {
                self.on_join(id, topic, payload, (status, join_ref), events, done)
                    .await
            }
            Command::Leave { id, done } => self.on_leave(id, done).await,
            Command::Push {
                id,
                event,
                payload,
                timeout,
                done,
            } => self.on_push(id, event, payload, timeout, done).await,
            Command::SendRaw { frame, done } => {
                let r = send_frame(&mut self.state, &mut self.broken, &self.config, frame).await;
                let _ = done.send(r);
            }
        }
    }

    async fn on_join(
        &mut self,
        id: ChannelId,
        topic: String,
        payload: JoinPayload,
        (status, join_ref_view): (watch::Sender<ChannelStatus>, watch::Sender<Option<String>>),
        events: broadcast::Sender<ChannelEvent>,
        done: oneshot::Sender<Result<Payload, JoinError>>,
    ) {
        if self.channels.contains_key(&id) || self.topics.contains_key(&topic) {
            let _ = done.send(Err(JoinError::AlreadyJoined(topic)));
            return;
        }
        let deadline = after(Instant::now(), self.config.push_timeout);
        let mut entry = Entry {
            topic,
            payload,
            phase: Phase::Joining {
                sent: false,
                deadline,
            },
            join_ref: None,
            rejoin_attempts: 0,
            status,
            join_ref_view,
            events,
            transitions: self.shared.transitions.clone(),
            join_waiter: Some(done),
            leave_waiters: Vec::new(),
            buffer: VecDeque::new(),
        };
        entry.set_phase(Phase::Joining {
            sent: false,
            deadline,
        });
        self.topics.insert(entry.topic.clone(), id);
        self.channels.insert(id, entry);
        if self.state.is_connected() {
            self.send_join(id, deadline).await;
        }
    }

    /// Sends a join with a fresh join_ref (phoenix.js `joinPush.resend()`).
    async fn send_join(&mut self, id: ChannelId, deadline: Instant) {
        let Some(entry) = self.channels.get_mut(&id) else {
            return;
        };
        let join_ref = make_ref(&mut self.next_ref);
        entry.join_ref = Some(join_ref.clone());
        entry.join_ref_view.send_replace(Some(join_ref.clone()));
        let msg = Message::new(
            join_ref.as_str(),
            join_ref.as_str(),
            entry.topic.clone(),
            events::JOIN,
            entry.payload.resolve(),
        );
        entry.set_phase(Phase::Joining {
            sent: true,
            deadline,
        });
        if let Err(PushError::Encode(e)) =
            send(&mut self.state, &mut self.broken, &self.config, &msg).await
        {
            if let Some(w) = entry.join_waiter.take() {
                let _ = w.send(Err(JoinError::Encode(e)));
            }
            self.finish_close(id);
        }
    }

    async fn on_leave(&mut self, id: ChannelId, done: oneshot::Sender<Result<(), LeaveError>>) {
        let connected = self.state.is_connected();
        let Some(entry) = self.channels.get_mut(&id) else {
            let _ = done.send(Ok(()));
            return;
        };
        let join_ref = entry.join_ref.clone();
        match (&entry.phase, connected) {
            (Phase::Leaving { .. }, _) => entry.leave_waiters.push(done),
            (Phase::Joined, true) => {
                let leave_ref = make_ref(&mut self.next_ref);
                let msg = Message::new(
                    join_ref,
                    leave_ref.as_str(),
                    entry.topic.clone(),
                    events::LEAVE,
                    Payload::empty_object(),
                );
                entry.leave_waiters.push(done);
                entry.set_phase(Phase::Leaving {
                    leave_ref,
                    deadline: after(Instant::now(), self.config.push_timeout),
                });
                let _ = send(&mut self.state, &mut self.broken, &self.config, &msg).await;
            }
            (Phase::Joining { sent: true, .. }, true) => {
                // Tell the server, which may already have joined, then close without waiting.
                let msg = Message::new(
                    join_ref,
                    make_ref(&mut self.next_ref).as_str(),
                    entry.topic.clone(),
                    events::LEAVE,
                    Payload::empty_object(),
                );
                entry.leave_waiters.push(done);
                let _ = send(&mut self.state, &mut self.broken, &self.config, &msg).await;
                self.finish_close(id);
            }
            _ => {
                entry.leave_waiters.push(done);
                self.finish_close(id);
            }
        }
    }

    async fn on_push(
        &mut self,
        id: ChannelId,
        event: String,
        payload: Payload,
        timeout: Duration,
        done: oneshot::Sender<Result<Reply, PushError>>,
    ) {
        let connected = self.state.is_connected();
        let Some(entry) = self.channels.get_mut(&id) else {
            let _ = done.send(Err(PushError::ChannelClosed));
            return;
        };
        if payload.is_binary() && self.config.vsn == phx_protocol::Vsn::V1 {
            let _ = done.send(Err(PushError::Encode(
                "binary payloads need vsn 2.0.0".into(),
            )));
            return;
        }
        let deadline = after(Instant::now(), timeout);
        match entry.phase {
            Phase::Leaving { .. } => {
                let _ = done.send(Err(PushError::ChannelClosed));
            }
            Phase::Joined if connected => {
                let push_ref = make_ref(&mut self.next_ref);
                let msg = Message::new(
                    entry.join_ref.clone(),
                    push_ref.as_str(),
                    entry.topic.clone(),
                    event,
                    payload,
                );
                match send(&mut self.state, &mut self.broken, &self.config, &msg).await {
                    Err(PushError::Encode(e)) => {
                        let _ = done.send(Err(PushError::Encode(e)));
                    }
                    // Sent, or the write failed and teardown will answer ConnectionLost.
                    _ => {
                        self.in_flight.insert(
                            push_ref,
                            InFlight {
                                channel: id,
                                timeout,
                                deadline,
                                done,
                            },
                        );
                    }
                }
            }
            _ if entry.buffer.len() >= self.config.max_buffered_pushes => {
                let _ = done.send(Err(PushError::BufferFull {
                    capacity: self.config.max_buffered_pushes,
                }));
            }
            _ => entry.buffer.push_back(Buffered {
                event,
                payload,
                timeout,
                deadline,
                done,
            }),
        }
    }

    // ----- incoming ---------------------------------------------------------------------------

    async fn on_frame(
        &mut self,
        frame: Option<Result<WsMessage, tokio_tungstenite::tungstenite::Error>>,
    ) {
        let frame = match frame {
            Some(Ok(WsMessage::Text(t))) => Frame::Text(t.as_str().to_owned()),
            Some(Ok(WsMessage::Binary(b))) => Frame::Binary(b),
            Some(Ok(WsMessage::Close(close))) => {
                let code = close.as_ref().map(|c| u16::from(c.code));
                let reason = match &close {
                    Some(c) => format!(
                        "server closed with {} {}",
                        u16::from(c.code),
                        c.reason.as_str()
                    ),
                    None => "server closed without a code".to_owned(),
                };
                self.connection_lost(CloseCause::ServerClose(code), reason.trim_end().to_owned())
                    .await;
                return;
            }
            Some(Ok(_)) => return, // ping/pong: tungstenite answers pings itself
            Some(Err(e)) => {
                self.connection_lost(CloseCause::Dropped, format!("connection error: {e}"))
                    .await;
                return;
            }
            None => {
                self.connection_lost(CloseCause::Dropped, "connection dropped".into())
                    .await;
                return;
            }
        };
        match self.config.vsn.decode_server(&frame) {
            Ok(msg) => self.on_message(msg).await,
            Err(e) => tracing::warn!(error = %e, "ignoring an undecodable frame from the server"),
        }
    }

    async fn on_message(&mut self, msg: ServerMessage) {
        if self.shared.messages.receiver_count() > 0 {
            let _ = self.shared.messages.send(msg.clone());
        }
        let ref_ = match msg.ref_() {
            Ref::Str(s) => Some(s.clone()),
            _ => None,
        };
        // Heartbeat reply.
        if let (State::Connected { heartbeat, .. }, ServerMessage::Reply(_), Some(r)) =
            (&mut self.state, &msg, &ref_)
        {
            if msg.topic() == events::HEARTBEAT_TOPIC
                && heartbeat.pending.as_ref().is_some_and(|p| &p.0 == r)
            {
                heartbeat.pending = None;
                heartbeat.next_at = after(Instant::now(), self.config.heartbeat_interval);
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
                let Some(r) = ref_ else { return };
                match &entry.phase {
                    Phase::Joining { sent: true, .. } if entry.join_ref.as_ref() == Some(&r) => {
                        self.on_join_reply(id, reply.status, reply.response).await
                    }
                    Phase::Leaving { leave_ref, .. } if *leave_ref == r => self.finish_close(id),
                    _ => {
                        if self.in_flight.get(&r).is_some_and(|f| f.channel == id) {
                            // "unmatched topic" to a push: the server no longer has this
                            // channel, so the client's "joined" is wrong; rejoin (firezone#10397).
                            let forgotten = reply.status == "error"
                                && reply.join_ref.is_null()
                                && matches!(entry.phase, Phase::Joined)
                                && reply.response.as_json().and_then(|v| v.get("reason"))
                                    == Some(&serde_json::Value::from(events::UNMATCHED_TOPIC));
                            let reason = forgotten.then(|| reply.response.clone());
                            if let Some(f) = self.in_flight.remove(&r) {
                                let result = if reply.status == "error" {
                                    Err(PushError::ErrorReply(reply.response))
                                } else {
                                    Ok(Reply {
                                        status: reply.status,
                                        response: reply.response,
                                    })
                                };
                                let _ = f.done.send(result);
                            }
                            if let Some(reason) = reason {
                                tracing::debug!(topic = %entry.topic, "server forgot the channel; rejoining");
                                self.errored(id, reason);
                            }
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
                let _ = entry.events.send(event);
                if close {
                    self.finish_close(id);
                } else if let Some(reason) = error {
                    self.errored(id, reason);
                }
            }
        }
    }

    async fn on_join_reply(&mut self, id: ChannelId, status: String, response: Payload) {
        let connected = self.state.is_connected();
        let Some(entry) = self.channels.get_mut(&id) else {
            return;
        };
        if status == "ok" {
            entry.rejoin_attempts = 0;
            entry.set_phase(Phase::Joined);
            if let Some(w) = entry.join_waiter.take() {
                let _ = w.send(Ok(response));
            }
            // Flush pushes buffered while joining, with the new join_ref; their timeouts keep running.
            let buffered: Vec<Buffered> = entry.buffer.drain(..).collect();
            let join_ref = entry.join_ref.clone();
            let topic = entry.topic.clone();
            for b in buffered {
                let push_ref = make_ref(&mut self.next_ref);
                let msg = Message::new(
                    join_ref.clone(),
                    push_ref.as_str(),
                    topic.clone(),
                    b.event,
                    b.payload,
                );
                match send(&mut self.state, &mut self.broken, &self.config, &msg).await {
                    Err(PushError::Encode(e)) => {
                        let _ = b.done.send(Err(PushError::Encode(e)));
                    }
                    _ => {
                        self.in_flight.insert(
                            push_ref,
                            InFlight {
                                channel: id,
                                timeout: b.timeout,
                                deadline: b.deadline,
                                done: b.done,
                            },
                        );
                    }
                }
            }
        } else {
            entry.rejoin_attempts = entry.rejoin_attempts.saturating_add(1);
            let rejoin_at = connected.then(|| {
                after(
                    Instant::now(),
                    self.config.rejoin.delay(entry.rejoin_attempts),
                )
            });
            entry.set_phase(Phase::Errored { rejoin_at });
            if let Some(w) = entry.join_waiter.take() {
                let _ = w.send(Err(JoinError::Rejected(response)));
            }
        }
    }

    /// `phx_error`: the server's channel is gone; answer its in-flight pushes, rejoin with backoff.
    fn errored(&mut self, id: ChannelId, reason: Payload) {
        let connected = self.state.is_connected();
        self.fail_in_flight(id, || PushError::ChannelErrored(reason.clone()));
        let Some(entry) = self.channels.get_mut(&id) else {
            return;
        };
        entry.rejoin_attempts = entry.rejoin_attempts.saturating_add(1);
        let rejoin_at = connected.then(|| {
            after(
                Instant::now(),
                self.config.rejoin.delay(entry.rejoin_attempts),
            )
        });
        entry.set_phase(Phase::Errored { rejoin_at });
    }

    fn fail_in_flight(&mut self, id: ChannelId, error: impl Fn() -> PushError) {
        let refs: Vec<String> = self
            .in_flight
            .iter()
            .filter(|(_, f)| f.channel == id)
            .map(|(r, _)| r.clone())
            .collect();
        for r in refs {
            if let Some(f) = self.in_flight.remove(&r) {
                let _ = f.done.send(Err(error()));
            }
        }
    }

    /// Closes a channel for good: left, `phx_close`, or the socket is going away.
    fn finish_close(&mut self, id: ChannelId) {
        self.fail_in_flight(id, || PushError::ChannelClosed);
        let Some(entry) = self.channels.remove(&id) else {
            return;
        };
        self.topics.remove(&entry.topic);
        entry.status.send_replace(ChannelStatus::Closed);
        let _ = entry.transitions.send(StatusEvent::Channel {
            topic: entry.topic.clone(),
            status: ChannelStatus::Closed,
        });
        if let Some(w) = entry.join_waiter {
            let _ = w.send(Err(JoinError::Closed));
        }
        for w in entry.leave_waiters {
            let _ = w.send(Ok(()));
        }
        for b in entry.buffer {
            let _ = b.done.send(Err(PushError::ChannelClosed));
        }
    }

    // ----- timers -----------------------------------------------------------------------------

    async fn on_timer(&mut self) {
        let now = Instant::now();
        if let State::WaitingToReconnect { at } = self.state {
            if at <= now {
                self.start_connect();
            }
        }
        let mut heartbeat_timed_out = false;
        let mut beat = None;
        if let State::Connected { heartbeat, .. } = &mut self.state {
            match &heartbeat.pending {
                Some((_, deadline)) if *deadline <= now => heartbeat_timed_out = true,
                None if heartbeat.next_at <= now => {
                    let r = make_ref(&mut self.next_ref);
                    heartbeat.pending =
                        Some((r.clone(), after(now, self.config.heartbeat_timeout)));
                    beat = Some(r);
                }
                _ => {}
            }
        }
        if let Some(r) = beat {
            let msg = Message::new(
                Ref::Null,
                r.as_str(),
                events::HEARTBEAT_TOPIC,
                events::HEARTBEAT,
                Payload::empty_object(),
            );
            let _ = send(&mut self.state, &mut self.broken, &self.config, &msg).await;
        }
        let expired: Vec<String> = self
            .in_flight
            .iter()
            .filter(|(_, f)| f.deadline <= now)
            .map(|(r, _)| r.clone())
            .collect();
        for r in expired {
            if let Some(f) = self.in_flight.remove(&r) {
                let _ = f.done.send(Err(PushError::Timeout(f.timeout)));
            }
        }
        let connected = self.state.is_connected();
        let ids: Vec<ChannelId> = self.channels.keys().copied().collect();
        for id in ids {
            let Some(entry) = self.channels.get_mut(&id) else {
                continue;
            };
            while let Some(pos) = entry.buffer.iter().position(|b| b.deadline <= now) {
                if let Some(b) = entry.buffer.remove(pos) {
                    let _ = b.done.send(Err(PushError::Timeout(b.timeout)));
                }
            }
            match entry.phase {
                Phase::Joining { sent, deadline } if deadline <= now => {
                    if sent && connected {
                        // Let the server drop a join it may still complete (phoenix.js does the same).
                        let msg = Message::new(
                            entry.join_ref.clone(),
                            make_ref(&mut self.next_ref).as_str(),
                            entry.topic.clone(),
                            events::LEAVE,
                            Payload::empty_object(),
                        );
                        let _ = send(&mut self.state, &mut self.broken, &self.config, &msg).await;
                    }
                    entry.rejoin_attempts = entry.rejoin_attempts.saturating_add(1);
                    let rejoin_at = connected
                        .then(|| after(now, self.config.rejoin.delay(entry.rejoin_attempts)));
                    entry.set_phase(Phase::Errored { rejoin_at });
                    if let Some(w) = entry.join_waiter.take() {
                        let _ = w.send(Err(JoinError::Timeout(self.config.push_timeout)));
                    }
                }
                Phase::Errored {
                    rejoin_at: Some(at),
                } if at <= now => {
                    if connected {
                        self.send_join(id, after(now, self.config.push_timeout))
                            .await;
                    } else {
                        entry.set_phase(Phase::Errored { rejoin_at: None });
                    }
                }
                Phase::Leaving { deadline, .. } if deadline <= now => self.finish_close(id),
                _ => {}
            }
        }
        if heartbeat_timed_out {
            tracing::debug!("heartbeat timed out; reconnecting");
            self.connection_lost(CloseCause::HeartbeatTimeout, "heartbeat timeout".into())
                .await;
        }
    }
}
