//! The connection task: a thin driver around the sans-IO [`machine::Machine`].
//!
//! Handles talk to it over an mpsc queue ([`command::Command`]). The driver owns the three
//! things the machine must not: the WebSocket (read half here, write half in a writer task),
//! the one timer (a single `Sleep` reset to [`machine::Machine::poll_timeout`]), and the
//! handles' views (status `watch`es, event queues, the socket-wide taps). It feeds the machine
//! each input and then applies every [`machine::Output`] in order.
//!
//! Writes never block the loop: frames go to the writer task over a queue bounded in bytes
//! ([`MAX_QUEUED_WRITE_BYTES`]), so a peer that stops reading stalls only the writer, while this
//! loop keeps reading replies, serving commands and running timers, and the unanswered
//! heartbeat declares the link dead. Reads stop only for backpressure: when a channel's event
//! queue is full, the loop stops reading the socket until a receiver catches up.

pub(crate) mod command;
mod deadlines;
mod entry;
pub(crate) mod machine;

use std::collections::HashMap;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, OnceLock};
use std::time::Duration;

use futures_util::future::BoxFuture;
use futures_util::stream::{SplitSink, SplitStream};
use futures_util::{FutureExt, SinkExt, StreamExt};
use phx_protocol::serializer;
use phx_protocol::{DecodeError, Frame, ServerMessage, Vsn};
use tokio::sync::{broadcast, mpsc, oneshot, watch};
use tokio::task::AbortHandle;
use tokio::time::Instant;
use tokio_tungstenite::tungstenite::protocol::frame::coding::CloseCode;
use tokio_tungstenite::tungstenite::protocol::CloseFrame;
use tokio_tungstenite::tungstenite::Message as WsMessage;

use crate::close_policy::CloseCause;
use crate::config::SocketConfig;
use crate::endpoint::{attempt_url, auth_subprotocols};
use crate::error::ConnectError;
use crate::events::EventQueue;
use crate::status::{ChannelStatus, SocketStatus, StatusEvent};
use crate::transport::{self, Ws};
use command::{ChannelId, Command};
use machine::{Machine, Output};

/// Bytes that may wait for the writer task. A peer that stops reading fills it only if the
/// application keeps pushing; beyond it the link is declared dead (heartbeats usually do that
/// first).
pub(crate) const MAX_QUEUED_WRITE_BYTES: usize = 4 * 1024 * 1024;

/// Frames read in one go before the loop looks at commands and timers again.
const READ_BATCH: usize = 64;

/// How long a graceful close may take before the writer is dropped.
const CLOSE_GRACE: Duration = Duration::from_millis(500);

/// State shared with the handles.
pub(crate) struct Shared {
    pub status: watch::Sender<SocketStatus>,
    /// Every decoded server message, before channel routing (for tools like `phx connect`).
    /// Created on first use, so a socket nobody taps allocates no ring.
    pub messages: OnceLock<broadcast::Sender<ServerMessage>>,
    /// Every status transition of the socket and its channels, in order (created on first use).
    pub transitions: OnceLock<broadcast::Sender<StatusEvent>>,
    /// Ring size of the two taps above.
    pub tap_capacity: usize,
}

impl Shared {
    pub(crate) fn new(tap_capacity: usize) -> Self {
        Shared {
            status: watch::Sender::new(SocketStatus::Idle),
            messages: OnceLock::new(),
            transitions: OnceLock::new(),
            tap_capacity,
        }
    }

    pub(crate) fn messages(&self) -> &broadcast::Sender<ServerMessage> {
        self.messages
            .get_or_init(|| broadcast::Sender::new(self.tap_capacity))
    }

    pub(crate) fn transitions(&self) -> &broadcast::Sender<StatusEvent> {
        self.transitions
            .get_or_init(|| broadcast::Sender::new(self.tap_capacity))
    }

    fn transition(&self, event: StatusEvent) {
        if let Some(tx) = self.transitions.get() {
            let _ = tx.send(event);
        }
    }
}

/// The handles' views of one channel, updated from the machine's outputs.
struct ChannelViews {
    status: watch::Sender<ChannelStatus>,
    join_ref: watch::Sender<Option<String>>,
    events: Arc<EventQueue>,
}

/// The write half, in its own task.
struct Writer {
    tx: mpsc::UnboundedSender<WsMessage>,
    /// Bytes queued and not yet flushed.
    queued: Arc<AtomicUsize>,
    /// Resolves with the error when a write fails.
    failed: oneshot::Receiver<String>,
    abort: AbortHandle,
}

enum Conn {
    None,
    Opening(BoxFuture<'static, Result<Ws, ConnectError>>),
    Open {
        read: SplitStream<Ws>,
        writer: Writer,
    },
}

enum Wake {
    Command(Option<Command>),
    Opened(Result<Ws, ConnectError>),
    Frame(Option<Result<WsMessage, tokio_tungstenite::tungstenite::Error>>),
    WriteFailed(String),
    Writable,
    Timer,
}

pub(crate) struct Task {
    config: SocketConfig,
    commands: mpsc::Receiver<Command>,
    shared: Arc<Shared>,
    machine: Machine,
    conn: Conn,
    views: HashMap<ChannelId, ChannelViews>,
    /// A full event queue: reading waits until it has room (backpressure).
    blocked: Option<Arc<EventQueue>>,
    /// Set when the write queue overflowed; the loop then reports the link closed.
    broken: Option<String>,
    /// Queues that got events since the last wake (woken once per loop turn, not per event).
    touched: Vec<Arc<EventQueue>>,
}

impl Task {
    pub(crate) fn new(
        config: SocketConfig,
        commands: mpsc::Receiver<Command>,
        shared: Arc<Shared>,
    ) -> Self {
        Task {
            machine: Machine::new(config.clone()),
            config,
            commands,
            shared,
            conn: Conn::None,
            views: HashMap::new(),
            blocked: None,
            broken: None,
            touched: Vec::new(),
        }
    }

    pub(crate) async fn run(mut self) {
        const FAR: Duration = Duration::from_secs(365 * 24 * 3600);
        let sleep = tokio::time::sleep(FAR);
        tokio::pin!(sleep);
        loop {
            let deadline = self
                .machine
                .poll_timeout()
                .unwrap_or_else(|| Instant::now() + FAR);
            if sleep.deadline() != deadline {
                sleep.as_mut().reset(deadline);
            }
            let blocked = self.blocked.clone();
            let writable = async move {
                match blocked {
                    Some(q) => q.writable().await,
                    None => std::future::pending().await,
                }
            };
            let reading = self.blocked.is_none();
            let wake = match &mut self.conn {
                Conn::Opening(attempt) => tokio::select! {
                    c = self.commands.recv() => Wake::Command(c),
                    r = attempt => Wake::Opened(r),
                    () = writable => Wake::Writable,
                    () = &mut sleep => Wake::Timer,
                },
                Conn::Open { read, writer } => tokio::select! {
                    c = self.commands.recv() => Wake::Command(c),
                    f = read.next(), if reading => Wake::Frame(f),
                    () = writable => Wake::Writable,
                    e = &mut writer.failed => Wake::WriteFailed(e.unwrap_or_else(|_| "writer stopped".into())),
                    () = &mut sleep => Wake::Timer,
                },
                Conn::None => tokio::select! {
                    c = self.commands.recv() => Wake::Command(c),
                    () = writable => Wake::Writable,
                    () = &mut sleep => Wake::Timer,
                },
            };
            let now = Instant::now();
            match wake {
                Wake::Command(None) => {
                    self.machine.shutdown(now);
                    self.apply();
                    for queue in self.touched.drain(..) {
                        queue.wake();
                    }
                    return;
                }
                Wake::Command(Some(cmd)) => self.on_command(now, cmd),
                Wake::Opened(Ok(ws)) => self.on_open(now, ws),
                Wake::Opened(Err(e)) => {
                    self.conn = Conn::None;
                    self.machine.handle_connect_failed(now, e);
                }
                Wake::Frame(frame) => self.on_frames(now, frame),
                Wake::WriteFailed(e) => {
                    self.machine.handle_closed(
                        now,
                        CloseCause::Dropped,
                        format!("write failed: {e}"),
                    );
                }
                Wake::Writable => self.blocked = None,
                Wake::Timer => self.machine.handle_timeout(now),
            }
            self.apply();
            if let Some(reason) = self.broken.take() {
                self.machine.handle_closed(now, CloseCause::Dropped, reason);
                self.apply();
            }
            for queue in self.touched.drain(..) {
                queue.wake();
            }
        }
    }

    fn on_command(&mut self, now: Instant, cmd: Command) {
        match cmd {
            Command::Connect { done } => self.machine.connect(done),
            Command::Disconnect { done } => {
                self.machine.disconnect(now);
                self.apply();
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
                if self.machine.join(now, id, topic, payload, done) {
                    self.views.insert(
                        id,
                        ChannelViews {
                            status,
                            join_ref,
                            events,
                        },
                    );
                }
            }
            Command::Leave { id, done } => self.machine.leave(now, id, done),
            Command::Push {
                id,
                event,
                payload,
                timeout,
                done,
            } => self.machine.push(now, id, event, payload, timeout, done),
            Command::SendRaw { frame, done } => {
                let _ = done.send(self.machine.send_raw(frame));
            }
        }
    }

    fn on_open(&mut self, now: Instant, ws: Ws) {
        let (sink, read) = ws.split();
        let (tx, rx) = mpsc::unbounded_channel();
        let (failed_tx, failed) = oneshot::channel();
        let queued = Arc::new(AtomicUsize::new(0));
        let task = tokio::spawn(write_loop(sink, rx, queued.clone(), failed_tx));
        self.conn = Conn::Open {
            read,
            writer: Writer {
                tx,
                queued,
                failed,
                abort: task.abort_handle(),
            },
        };
        self.machine.handle_connected(now);
    }

    /// Handles one frame, then whatever else is already readable (up to a batch), so a burst
    /// costs one trip through `select!` instead of one per frame.
    fn on_frames(
        &mut self,
        now: Instant,
        first: Option<Result<WsMessage, tokio_tungstenite::tungstenite::Error>>,
    ) {
        self.on_frame(now, first);
        for _ in 1..READ_BATCH {
            self.apply();
            if self.blocked.is_some() || self.broken.is_some() {
                return;
            }
            let Conn::Open { read, .. } = &mut self.conn else {
                return;
            };
            match read.next().now_or_never() {
                Some(frame) => self.on_frame(now, frame),
                None => return,
            }
        }
    }

    fn on_frame(
        &mut self,
        now: Instant,
        frame: Option<Result<WsMessage, tokio_tungstenite::tungstenite::Error>>,
    ) {
        let decoded = match frame {
            Some(Ok(WsMessage::Text(t))) => decode_text(self.config.vsn, t.as_str()),
            Some(Ok(WsMessage::Binary(b))) => match self.config.vsn {
                Vsn::V1 => Err(DecodeError::BinaryOnV1),
                Vsn::V2 => serializer::binary::decode_server(&b),
            },
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
                self.machine.handle_closed(
                    now,
                    CloseCause::ServerClose(code),
                    reason.trim_end().to_owned(),
                );
                return;
            }
            Some(Ok(_)) => return, // ping/pong: tungstenite answers pings itself
            Some(Err(e)) => {
                self.machine.handle_closed(
                    now,
                    CloseCause::Dropped,
                    format!("connection error: {e}"),
                );
                return;
            }
            None => {
                self.machine
                    .handle_closed(now, CloseCause::Dropped, "connection dropped".into());
                return;
            }
        };
        match decoded {
            Ok(msg) => {
                if let Some(tx) = self.shared.messages.get() {
                    if tx.receiver_count() > 0 {
                        let _ = tx.send(msg.clone());
                    }
                }
                self.machine.handle_message(now, msg);
            }
            Err(e) => tracing::warn!(error = %e, "ignoring an undecodable frame from the server"),
        }
    }

    /// Acts on every output of the machine, in order.
    fn apply(&mut self) {
        while let Some(out) = self.machine.poll_output() {
            match out {
                Output::Connect => self.start_connect(),
                Output::Send(frame) => self.write(frame),
                Output::Close { graceful, reason } => self.close(graceful, reason),
                Output::Socket(status) => {
                    self.shared.status.send_replace(status.clone());
                    self.shared.transition(StatusEvent::Socket(status));
                }
                Output::Channel { id, topic, status } => {
                    let views = if status == ChannelStatus::Closed {
                        self.views.remove(&id)
                    } else {
                        None
                    };
                    if let Some(v) = views.as_ref().or_else(|| self.views.get(&id)) {
                        v.status.send_replace(status);
                    }
                    self.shared
                        .transition(StatusEvent::Channel { topic, status });
                }
                Output::JoinRef { id, join_ref } => {
                    if let Some(v) = self.views.get(&id) {
                        v.join_ref.send_replace(Some(join_ref));
                    }
                }
                Output::Done(done) => done.complete(),
                Output::Event { id, event } => {
                    if let Some(v) = self.views.get(&id) {
                        if v.events.push(event) {
                            self.blocked = Some(v.events.clone());
                        }
                        if !self.touched.iter().any(|q| Arc::ptr_eq(q, &v.events)) {
                            self.touched.push(v.events.clone());
                        }
                    }
                }
            }
        }
    }

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
        self.conn = Conn::Opening(Box::pin(attempt));
    }

    fn write(&mut self, frame: Frame) {
        let Conn::Open { writer, .. } = &self.conn else {
            return;
        };
        let msg = match frame {
            Frame::Text(t) => WsMessage::text(t),
            Frame::Binary(b) => WsMessage::binary(b),
        };
        let queued = writer.queued.fetch_add(msg.len(), Ordering::Relaxed) + msg.len();
        if queued > MAX_QUEUED_WRITE_BYTES {
            self.broken = Some(format!(
                "write queue full ({queued} bytes unsent): the server stopped reading"
            ));
            return;
        }
        let _ = writer.tx.send(msg);
    }

    fn close(&mut self, graceful: bool, reason: String) {
        let Conn::Open { writer, .. } = std::mem::replace(&mut self.conn, Conn::None) else {
            return;
        };
        if graceful {
            let frame = CloseFrame {
                code: CloseCode::Normal,
                reason: reason.into(),
            };
            let _ = writer.tx.send(WsMessage::Close(Some(frame)));
            // The writer ends after the close; a writer stuck on a dead peer is dropped.
            let abort = writer.abort;
            tokio::spawn(async move {
                tokio::time::sleep(CLOSE_GRACE).await;
                abort.abort();
            });
        } else {
            writer.abort.abort();
        }
    }
}

fn decode_text(vsn: Vsn, text: &str) -> Result<ServerMessage, DecodeError> {
    match vsn {
        Vsn::V1 => serializer::v1::decode_server(text),
        Vsn::V2 => serializer::v2::decode_server(text),
    }
}

/// The writer task: takes one frame, feeds whatever else is queued, flushes once.
async fn write_loop(
    mut sink: SplitSink<Ws, WsMessage>,
    mut rx: mpsc::UnboundedReceiver<WsMessage>,
    queued: Arc<AtomicUsize>,
    failed: oneshot::Sender<String>,
) {
    let result: Result<(), tokio_tungstenite::tungstenite::Error> = async {
        while let Some(first) = rx.recv().await {
            let mut bytes = first.len();
            let mut close = first.is_close();
            sink.feed(first).await?;
            while !close {
                let Ok(next) = rx.try_recv() else { break };
                bytes += next.len();
                close = next.is_close();
                sink.feed(next).await?;
            }
            sink.flush().await?;
            queued.fetch_sub(bytes, Ordering::Relaxed);
            if close {
                break;
            }
        }
        Ok(())
    }
    .await;
    if let Err(e) = result {
        let _ = failed.send(e.to_string());
    }
}
