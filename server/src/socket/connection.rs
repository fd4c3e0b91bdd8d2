//! One WebSocket connection: a reader task that owns the [`SocketState`] and a writer task that
//! drains the bounded outbound queue, coalescing everything queued into one flush.

use std::sync::Arc;

use futures_util::{Sink, SinkExt, StreamExt};
use phx_protocol::Vsn;
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::sync::mpsc;
use tokio::time::{timeout, Instant};
use tokio_tungstenite::tungstenite::protocol::frame::coding::CloseCode;
use tokio_tungstenite::tungstenite::protocol::CloseFrame;
use tokio_tungstenite::tungstenite::{Error as WsError, Message as WsMessage};
use tokio_tungstenite::WebSocketStream;

use super::handle::{ConnHandle, Inbox, Kill};
use super::state::{Env, SocketState};
use super::wire::{data_frame, encode};
use super::SocketHandler;
use crate::endpoint::Endpoint;
use crate::pubsub::local::SubKind;
use phx_protocol::version::Behaviour;

/// Frames fed to the sink before a flush is forced.
const MAX_BATCH: usize = 512;

/// How the reader loop ended.
enum End {
    /// Server-initiated close with this code.
    Close(u16),
    /// The client closed or vanished.
    ClientGone,
    /// Abrupt drop, no close frame.
    Kill(Kill),
}

/// Serves one upgraded WebSocket until it closes.
pub(crate) async fn serve<S>(
    ws: WebSocketStream<S>,
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
    let (out_tx, out_rx) = mpsc::channel(config.outbound_queue.max(1));
    let (inbox_tx, mut inbox_rx) = mpsc::channel(config.outbound_queue.max(1).saturating_mul(4));
    let conn = Arc::new(ConnHandle::new(
        endpoint.next_conn_id(),
        socket_id.clone(),
        out_tx,
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
    let writer = crate::spawn::spawn(writer_loop(sink, out_rx));
    let env = Env {
        endpoint: endpoint.clone(),
        assigns,
        socket_id,
    };
    let mut state = SocketState::new(env, handler, Some(conn.clone()), vsn);
    let idle = tokio::time::sleep(config.idle_timeout);
    tokio::pin!(idle);

    let end = loop {
        tokio::select! {
            biased;
            why = conn.killed() => break End::Kill(why),
            item = stream.next() => {
                idle.as_mut().reset(Instant::now() + config.idle_timeout);
                match item {
                    None => break End::ClientGone,
                    Some(Err(WsError::Capacity(e))) => {
                        tracing::warn!(conn = conn.id, "frame too large, closing with 1009: {e}");
                        break End::Close(1009);
                    }
                    Some(Err(e)) => {
                        tracing::debug!(conn = conn.id, "websocket read error: {e}");
                        break End::ClientGone;
                    }
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
                    let code = if config.compat.has(Behaviour::DisconnectGoingAway) { 1001 } else { 1000 };
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

/// Receives one frame, feeds everything else already queued, then flushes once.
async fn writer_loop<K>(mut sink: K, mut rx: mpsc::Receiver<WsMessage>)
where
    K: Sink<WsMessage, Error = WsError> + Unpin,
{
    while let Some(first) = rx.recv().await {
        let mut closing = first.is_close();
        if sink.feed(first).await.is_err() {
            return;
        }
        let mut fed = 1;
        while !closing && fed < MAX_BATCH {
            let Ok(next) = rx.try_recv() else { break };
            closing = next.is_close();
            if sink.feed(next).await.is_err() {
                return;
            }
            fed += 1;
        }
        if sink.flush().await.is_err() || closing {
            return;
        }
    }
}
