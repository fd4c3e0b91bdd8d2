//! One WebSocket connection: a reader task that feeds the [`SocketMachine`] and applies its
//! effects, and a writer task that drains the bounded outbound queue, coalescing everything
//! queued into one flush.

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
use super::machine::{CloseCause, Effect, Host, Rules, SocketMachine};
use super::wire::{data_frame, encode};
use super::SocketHandler;
use crate::endpoint::Endpoint;
use crate::pubsub::{SubKind, Subscriber, SubscriptionRef};

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

/// What the connection task owns besides the machine: where effects go.
struct Driver<'a> {
    endpoint: &'a Endpoint,
    conn: &'a Arc<ConnHandle>,
    vsn: Vsn,
    /// The pub/sub subscription of each joined channel, by channel key.
    subs: Vec<(u64, SubscriptionRef)>,
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
        for effect in machine.drain_effects() {
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
                    let kind = SubKind::Channel {
                        chan_key,
                        vsn: self.vsn,
                        intercepts,
                    };
                    let subscriber: Arc<dyn Subscriber> = self.conn.clone();
                    let sub = self
                        .endpoint
                        .pubsub()
                        .local()
                        .subscribe(&topic, subscriber, kind);
                    self.subs.push((chan_key, sub));
                }
                Effect::Unsubscribe { chan_key } => {
                    if let Some(i) = self.subs.iter().position(|(k, _)| *k == chan_key) {
                        let (_, sub) = self.subs.swap_remove(i);
                        self.endpoint.pubsub().local().unsubscribe(&sub);
                    }
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
    let registry = endpoint.registry();
    let (out_tx, out_rx) = mpsc::channel(config.outbound_queue.max(1));
    let (inbox_tx, mut inbox_rx) = mpsc::channel(config.outbound_queue.max(1).saturating_mul(4));
    let conn = Arc::new(ConnHandle::new(
        registry.next_id(),
        socket_id.clone(),
        out_tx,
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
    let writer = crate::spawn::spawn(writer_loop(sink, out_rx));
    let mut machine = SocketMachine::new(handler, assigns, socket_id, Rules::from_config(config));
    let mut driver = Driver {
        endpoint: &endpoint,
        conn: &conn,
        vsn,
        subs: Vec::new(),
    };
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
