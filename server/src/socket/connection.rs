//! One WebSocket connection: a reader task that feeds the [`SocketMachine`] and applies its
//! effects, and a writer task that drains the byte-bounded outbound queue (see `outbound`),
//! coalescing everything queued into one flush.
//!
//! WebSocket protocol errors close the way Cowboy's `cowboy_websocket` does: 1002 for a frame
//! cow_ws rejects (reserved bits or opcodes, an unmasked client frame, a fragmented or oversized
//! control frame, a continuation out of place), 1007 for a text frame that is not UTF-8, 1009 for
//! a message over `max_frame_size`; a Phoenix frame that does not decode is 1011, as recorded.

use std::future::Future;
use std::sync::Arc;
use std::task::Poll;
use std::time::Duration;

use futures_util::{Sink, SinkExt, StreamExt};
use phx_protocol::Vsn;
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::sync::mpsc;
use tokio::time::{timeout, Instant};
use tokio_tungstenite::tungstenite::error::ProtocolError;
use tokio_tungstenite::tungstenite::protocol::frame::coding::CloseCode;
use tokio_tungstenite::tungstenite::protocol::{CloseFrame, Role, WebSocketConfig};
use tokio_tungstenite::tungstenite::{Error as WsError, Message as WsMessage};
use tokio_tungstenite::WebSocketStream;

use super::handle::{ConnHandle, Inbox, Kill};
use super::machine::{CloseCause, Effect, Host, Rules, SocketMachine};
use super::outbound::{cost, Limits, Metered, Outbound, Receiver};
use super::wire::{data_frame, encode};
use super::SocketHandler;
use crate::config::Config;
use crate::endpoint::Endpoint;
use crate::pubsub::{SubKind, Subscriber};

/// Frames fed to the sink before a flush is forced.
const MAX_BATCH: usize = 512;

/// Messages the socket task's inbox holds (intercepted broadcasts, timers) before the
/// connection is dropped.
const INBOX_CAPACITY: usize = 4096;

/// The close code Cowboy sends for a read error, or None when the client is simply gone.
fn close_code_for(e: &WsError) -> Option<u16> {
    match e {
        WsError::Capacity(_) => Some(1009),
        WsError::Utf8(_) => Some(1007),
        WsError::Protocol(
            ProtocolError::ResetWithoutClosingHandshake
            | ProtocolError::ReceivedAfterClosing
            | ProtocolError::SendAfterClosing,
        ) => None,
        WsError::Protocol(_) => Some(1002),
        _ => None,
    }
}

/// The tungstenite settings for a server-side socket.
fn ws_config(config: &Config) -> WebSocketConfig {
    WebSocketConfig::default()
        .read_buffer_size(config.read_buffer_size)
        .write_buffer_size(config.write_buffer_size)
        .max_message_size(Some(config.max_frame_size))
        .max_frame_size(Some(config.max_frame_size))
}

/// How the reader loop ended.
enum End {
    /// Server-initiated close with this code.
    Close(u16),
    /// The client closed or vanished.
    ClientGone,
    /// Abrupt drop, no close frame.
    Kill(Kill),
}

/// What the connection task owns besides the machine: where effects go.
struct Driver<'a> {
    endpoint: &'a Endpoint,
    conn: &'a Arc<ConnHandle>,
    /// The connection as pub/sub sees it (subscriptions are found again by it and the key).
    subscriber: Arc<dyn Subscriber>,
    vsn: Vsn,
}

impl Driver<'_> {
    fn host(&self) -> Host<'_> {
        Host {
            endpoint: self.endpoint,
            inbox: Some(self.conn.inbox_ref()),
        }
    }

    /// Applies what the machine produced, in order; the close code if it asked to close.
    fn apply(&mut self, machine: &mut SocketMachine) -> Option<u16> {
        let mut close = None;
        for effect in machine.take_effects() {
            match effect {
                Effect::Send(msg) => match encode(self.vsn, &msg) {
                    Ok(frame) => self.conn.send_frame(frame),
                    Err(e) => tracing::error!(
                        conn = self.conn.id,
                        topic = msg.topic(),
                        event = msg.event(),
                        "cannot encode: {e}"
                    ),
                },
                Effect::Subscribe {
                    chan_key,
                    topic,
                    intercepts,
                } => {
                    let local = self.endpoint.pubsub().local();
                    let me = self.subscriber.clone();
                    local.subscribe_channel(&topic, me, chan_key, self.vsn, intercepts);
                }
                Effect::Unsubscribe { chan_key, topic } => {
                    let local = self.endpoint.pubsub().local();
                    local.unsubscribe_channel(&topic, &self.subscriber, chan_key);
                }
                Effect::ArmTimer {
                    chan_key,
                    delay,
                    msg,
                } => {
                    let inbox = self.conn.inbox();
                    crate::spawn::spawn(async move {
                        tokio::time::sleep(delay).await;
                        let _ = inbox.send(Inbox::Info { chan_key, msg }).await;
                    });
                }
                Effect::Joined { topic, join_ref } => self.conn.set_joined(&topic, Some(&join_ref)),
                Effect::Left { topic } => self.conn.set_joined(&topic, None),
                Effect::Close(code) => close = Some(code),
                Effect::Run(work) => work(),
                Effect::Release(channel) => drop(channel),
            }
        }
        close
    }
}

/// Serves one upgraded connection (`io`, past the 101) as a WebSocket until it closes.
pub(crate) async fn serve<S>(
    io: S,
    endpoint: Endpoint,
    handler: Arc<dyn SocketHandler>,
    assigns: super::Assigns,
    socket_id: Option<String>,
    vsn: Vsn,
) where
    S: AsyncRead + AsyncWrite + Unpin + Send + 'static,
{
    // Borrowed: the endpoint outlives this function.
    let config = endpoint.config();
    let registry = endpoint.registry();
    let limits = Limits {
        pause: config.outbound_pause_bytes,
        max: config.outbound_max_bytes,
    };
    let (out, out_rx) = Outbound::new(limits, endpoint.outbound_totals().clone());
    let ws = WebSocketStream::from_raw_socket(
        Metered::new(io, out.clone()),
        Role::Server,
        Some(ws_config(config)),
    )
    .await;
    let (inbox_tx, mut inbox_rx) = mpsc::channel(INBOX_CAPACITY);
    let conn = Arc::new(ConnHandle::new(
        registry.next_id(),
        socket_id.clone(),
        out.clone(),
        inbox_tx,
    ));
    let _registration = registry.register(conn.clone());
    let id_sub = socket_id.as_ref().map(|sid| {
        let subscriber: Arc<dyn Subscriber> = conn.clone();
        endpoint
            .pubsub()
            .local()
            .subscribe(sid, subscriber, SubKind::SocketId)
    });

    let (sink, mut stream) = ws.split();
    let writer = crate::spawn::spawn(writer_loop(
        sink,
        out_rx,
        conn.clone(),
        config.slow_consumer_timeout,
    ));
    let mut machine = SocketMachine::new(handler, assigns, socket_id, Rules::from_config(config));
    let mut driver = Driver {
        endpoint: &endpoint,
        conn: &conn,
        subscriber: conn.clone(),
        vsn,
    };
    // The idle timer is re-armed lazily: a frame only records the time, and when the timer fires
    // early it is pushed to last frame + timeout (no timer-wheel operation per frame).
    let idle = tokio::time::sleep(config.idle_timeout);
    tokio::pin!(idle);
    let mut last_frame = Instant::now();

    let end = loop {
        // Over its outbound budget, the connection's input waits: TCP backpressure reaches a
        // client that pipelines requests without reading the replies.
        let paused = out.over_pause();
        tokio::select! {
            biased;
            why = conn.killed() => break End::Kill(why),
            _ = out.wait_under_pause(), if paused => continue,
            item = stream.next(), if !paused => {
                last_frame = Instant::now();
                match item {
                    None => break End::ClientGone,
                    Some(Err(e)) => match close_code_for(&e) {
                        Some(code) => {
                            tracing::warn!(conn = conn.id, code, "websocket protocol error, closing: {e}");
                            break End::Close(code);
                        }
                        None => {
                            tracing::debug!(conn = conn.id, "websocket read error: {e}");
                            break End::ClientGone;
                        }
                    },
                    Some(Ok(WsMessage::Close(_))) => break End::ClientGone,
                    Some(Ok(msg)) => {
                        let Some(frame) = data_frame(msg) else { continue };
                        match vsn.decode_client(&frame) {
                            Ok(message) => machine.handle_message(message, driver.host()),
                            Err(e) => {
                                // Phoenix's socket process raises here: Cowboy closes with 1011.
                                tracing::error!(conn = conn.id, "undecodable frame, closing: {e}");
                                machine.handle_close(CloseCause::Undecodable);
                            }
                        }
                    }
                }
            }
            Some(msg) = inbox_rx.recv() => match msg {
                Inbox::Intercept { chan_key, broadcast } => {
                    machine.handle_intercept(chan_key, &broadcast, driver.host())
                }
                Inbox::Info { chan_key, msg } => machine.handle_info(chan_key, msg, driver.host()),
                Inbox::Disconnect => {
                    tracing::info!(conn = conn.id, "disconnect broadcast on the socket id");
                    machine.handle_close(CloseCause::Disconnect);
                }
                Inbox::Drain => machine.handle_close(CloseCause::Drain),
            },
            _ = &mut idle => {
                let due = last_frame + config.idle_timeout;
                if due > Instant::now() {
                    idle.as_mut().reset(due);
                    continue;
                }
                tracing::debug!(conn = conn.id, "idle timeout, closing");
                machine.handle_close(CloseCause::Idle);
            }
        }
        if let Some(code) = driver.apply(&mut machine) {
            break End::Close(code);
        }
    };

    // Channels stop with {:shutdown, :closed}; nothing more is sent for them.
    machine.terminate_all(driver.host());
    driver.apply(&mut machine);
    if let Some(sub) = &id_sub {
        endpoint.pubsub().local().unsubscribe(sub);
    }
    match end {
        End::Kill(why) => {
            tracing::debug!(conn = conn.id, ?why, "dropping connection");
            writer.abort();
        }
        End::Close(code) => {
            let frame = CloseFrame {
                code: CloseCode::from(code),
                reason: "".into(),
            };
            conn.force_frame(WsMessage::Close(Some(frame)));
            // Wait (bounded) for the client's close reply, then drop the TCP connection.
            let grace = config.shutdown_grace;
            let _ = timeout(grace, async {
                while let Some(Ok(m)) = stream.next().await {
                    if m.is_close() {
                        break;
                    }
                }
            })
            .await;
            let mut writer = writer;
            if timeout(grace, &mut writer).await.is_err() {
                writer.abort();
            }
        }
        End::ClientGone => {
            // Lets tungstenite answer a client close; then the writer ends with the queue.
            let _ = timeout(config.shutdown_grace, async {
                while let Some(Ok(_)) = stream.next().await {}
            })
            .await;
            writer.abort();
        }
    }
}

/// Receives one frame, feeds everything else already queued, then flushes once. A write that
/// makes no progress for `stall` drops the connection as a slow consumer.
async fn writer_loop<K>(mut sink: K, mut rx: Receiver, conn: Arc<ConnHandle>, stall: Duration)
where
    K: Sink<WsMessage, Error = WsError> + Unpin,
{
    while let Some(first) = rx.recv().await {
        let mut closing = first.is_close();
        let c = cost(&first);
        let fed = progressing(sink.feed(first), &rx, stall).await;
        rx.done(c);
        match fed {
            Some(Ok(())) => {}
            Some(Err(_)) => return,
            None => return stalled(&conn, stall),
        }
        let mut fed = 1;
        while !closing && fed < MAX_BATCH {
            let Some(next) = rx.try_recv() else { break };
            closing = next.is_close();
            let c = cost(&next);
            let r = progressing(sink.feed(next), &rx, stall).await;
            rx.done(c);
            match r {
                Some(Ok(())) => {}
                Some(Err(_)) => return,
                None => return stalled(&conn, stall),
            }
            fed += 1;
        }
        match progressing(sink.flush(), &rx, stall).await {
            Some(Ok(())) if !closing => {}
            Some(_) => return,
            None => return stalled(&conn, stall),
        }
    }
}

fn stalled(conn: &ConnHandle, stall: Duration) {
    conn.slow_consumer(format_args!("its socket took no bytes for {stall:?}"));
}

/// Runs a write, or None once the socket has taken no bytes for `stall` (the queue's progress
/// clock; see `outbound::Metered`). A write that completes at once arms no timer.
async fn progressing<F: Future>(fut: F, rx: &Receiver, stall: Duration) -> Option<F::Output> {
    let mut fut = std::pin::pin!(fut);
    if let Poll::Ready(r) = std::future::poll_fn(|cx| Poll::Ready(fut.as_mut().poll(cx))).await {
        return Some(r);
    }
    let out = rx.outbound();
    loop {
        let since = out.since_progress();
        if since >= stall {
            return None;
        }
        tokio::select! {
            biased;
            r = &mut fut => return Some(r),
            _ = tokio::time::sleep(stall - since) => {}
        }
    }
}
