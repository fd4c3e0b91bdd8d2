//! One WebSocket connection: a reader task that owns the [`SocketState`] and a writer task that
//! drains the byte-bounded outbound queue (see `outbound`), coalescing everything queued into one
//! flush.
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
use super::outbound::{cost, Limits, Metered, Outbound, Receiver};
use super::state::{Env, SocketState};
use super::wire::{data_frame, encode};
use super::SocketHandler;
use crate::config::{Compat, Config};
use crate::endpoint::Endpoint;
use crate::pubsub::local::SubKind;

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
        endpoint.next_conn_id(),
        socket_id.clone(),
        out.clone(),
        inbox_tx,
    ));
    let _registration = endpoint.register(conn.clone());
    let id_sub = socket_id.as_ref().map(|sid| {
        endpoint
            .pubsub()
            .local()
            .subscribe(sid, conn.clone(), SubKind::SocketId)
    });

    let (sink, mut stream) = ws.split();
    let writer = crate::spawn::spawn(writer_loop(
        sink,
        out_rx,
        conn.clone(),
        config.slow_consumer_timeout,
    ));
    let env = Env {
        endpoint: endpoint.clone(),
        assigns,
        socket_id,
    };
    let mut state = SocketState::new(env, handler, Some(conn.clone()), vsn);
    let idle = tokio::time::sleep(config.idle_timeout);
    tokio::pin!(idle);

    let end = loop {
        // Over its outbound budget, the connection's input waits: TCP backpressure reaches a
        // client that pipelines requests without reading the replies.
        let paused = out.over_pause();
        tokio::select! {
            biased;
            why = conn.killed() => break End::Kill(why),
            _ = out.wait_under_pause(), if paused => continue,
            item = stream.next(), if !paused => {
                idle.as_mut().reset(Instant::now() + config.idle_timeout);
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
                            Ok(message) => state.handle_message(message),
                            Err(e) => {
                                // Phoenix's socket process raises here: Cowboy closes with 1011.
                                tracing::error!(conn = conn.id, "undecodable frame, closing with 1011: {e}");
                                break End::Close(1011);
                            }
                        }
                    }
                }
            }
            Some(msg) = inbox_rx.recv() => match msg {
                Inbox::Intercept { chan_key, broadcast } => state.handle_intercept(chan_key, &broadcast),
                Inbox::Info { chan_key, msg } => state.handle_info(chan_key, msg),
                Inbox::Disconnect => {
                    let code = match config.compat { Compat::V1_7 => 1000, Compat::V1_8 => 1001 };
                    tracing::info!(conn = conn.id, code, "disconnect broadcast on the socket id");
                    break End::Close(code);
                }
                Inbox::Drain => break End::Close(1012),
            },
            _ = &mut idle => {
                tracing::debug!(conn = conn.id, "idle timeout, closing with 1000");
                break End::Close(1000);
            }
        }
        flush(&mut state, &conn, vsn);
    };

    // Channels stop with {:shutdown, :closed}; nothing more is sent for them.
    state.terminate_all();
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

/// Encodes and queues what the state machine produced, and arms its timers.
fn flush(state: &mut SocketState, conn: &Arc<ConnHandle>, vsn: Vsn) {
    let (messages, timers) = state.take_output();
    for msg in messages {
        match encode(vsn, &msg) {
            Ok(frame) => conn.send_frame(frame),
            Err(e) => tracing::error!(
                conn = conn.id,
                topic = msg.topic(),
                event = msg.event(),
                "cannot encode: {e}"
            ),
        }
    }
    for timer in timers {
        let inbox = conn.inbox();
        crate::spawn::spawn(async move {
            tokio::time::sleep(timer.delay).await;
            let _ = inbox
                .send(Inbox::Info {
                    chan_key: timer.chan_key,
                    msg: timer.msg,
                })
                .await;
        });
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
    let Some(out) = rx.outbound() else {
        return Some(fut.await);
    };
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
