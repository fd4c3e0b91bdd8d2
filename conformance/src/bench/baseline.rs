//! The baseline: a bare tokio-tungstenite server that speaks just enough of the protocol for
//! the bench (join and heartbeat replies, stamped fan-out), with the writer loop phx-server
//! uses (feed everything queued, flush once). Every figure is given as a ratio to it, measured
//! in the same run. It has no channels, no serializer choice, no outbound bound: the upper
//! limit of a WebSocket server on this machine, not a Phoenix implementation.

use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use futures_util::{SinkExt, StreamExt};
use serde_json::Value;
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{mpsc, watch};
use tokio_tungstenite::tungstenite::protocol::WebSocketConfig;
use tokio_tungstenite::tungstenite::Message;

use super::conn::unix_micros;
use super::runtime::ServerRuntime;

/// Broadcasts sent between two yields (as phx-server's control API does).
const YIELD_EVERY: u64 = 64;

#[derive(Default)]
struct Subscribers {
    senders: Mutex<Vec<mpsc::UnboundedSender<Message>>>,
}

/// A running baseline server.
pub struct BaselineServer {
    rt: Arc<ServerRuntime>,
    addr: SocketAddr,
    subs: Arc<Subscribers>,
    stop: watch::Sender<bool>,
}

impl BaselineServer {
    /// Starts on `127.0.0.1:0`.
    pub async fn start(rt: Arc<ServerRuntime>) -> Result<BaselineServer, String> {
        let subs = Arc::new(Subscribers::default());
        let (stop, _) = watch::channel(false);
        let mut s = BaselineServer {
            rt,
            addr: SocketAddr::from(([127, 0, 0, 1], 0)),
            subs,
            stop,
        };
        s.listen().await?;
        Ok(s)
    }

    async fn listen(&mut self) -> Result<(), String> {
        let addr = self.addr;
        let listener = self
            .rt
            .run(async move { TcpListener::bind(addr).await })
            .await?
            .map_err(|e| format!("baseline cannot listen on {addr}: {e}"))?;
        self.addr = listener.local_addr().map_err(|e| e.to_string())?;
        let (subs, stop) = (self.subs.clone(), self.stop.subscribe());
        self.rt.spawn(accept_loop(listener, subs, stop));
        Ok(())
    }

    /// The socket URL, `ws://127.0.0.1:PORT/socket`.
    pub fn ws_url(&self) -> String {
        format!("ws://{}/socket", self.addr)
    }

    /// Sends `count` stamped broadcasts (`{"i":I,"t":unix µs}`) to every joined socket: each
    /// frame encoded once and shared.
    pub async fn broadcast(&self, topic: &str, event: &str, count: u64) -> Result<(), String> {
        let subs = self.subs.clone();
        let prefix = format!(
            "[null,null,{},{},",
            serde_json::to_string(topic).unwrap_or_default(),
            serde_json::to_string(event).unwrap_or_default()
        );
        self.rt
            .run(async move {
                for i in 0..count {
                    let frame =
                        Message::text(format!("{prefix}{{\"i\":{i},\"t\":{}}}]", unix_micros()));
                    if let Ok(mut senders) = subs.senders.lock() {
                        senders.retain(|tx| tx.send(frame.clone()).is_ok());
                    }
                    if i % YIELD_EVERY == YIELD_EVERY - 1 {
                        tokio::task::yield_now().await;
                    }
                }
            })
            .await
    }

    /// Drops every socket and listens again on the same address (a restart).
    pub async fn restart(&mut self) -> Result<(), String> {
        let _ = self.stop.send(true);
        if let Ok(mut s) = self.subs.senders.lock() {
            s.clear();
        }
        // Each connection task sees the stop and closes; the listener is gone with the loop.
        tokio::time::sleep(Duration::from_millis(20)).await;
        let (stop, _) = watch::channel(false);
        self.stop = stop;
        self.listen().await
    }
}

impl Drop for BaselineServer {
    fn drop(&mut self) {
        let _ = self.stop.send(true);
    }
}

async fn accept_loop(
    listener: TcpListener,
    subs: Arc<Subscribers>,
    mut stop: watch::Receiver<bool>,
) {
    loop {
        tokio::select! {
            _ = stop.changed() => return,
            accepted = listener.accept() => match accepted {
                Ok((tcp, _)) => {
                    let _ = tcp.set_nodelay(true);
                    tokio::spawn(connection(tcp, subs.clone(), stop.clone()));
                }
                Err(_) => tokio::time::sleep(Duration::from_millis(20)).await,
            },
        }
    }
}

async fn connection(tcp: TcpStream, subs: Arc<Subscribers>, mut stop: watch::Receiver<bool>) {
    let config = WebSocketConfig::default()
        .read_buffer_size(4096)
        .write_buffer_size(16 * 1024);
    let Ok(ws) = tokio_tungstenite::accept_async_with_config(tcp, Some(config)).await else {
        return;
    };
    let (mut sink, mut stream) = ws.split();
    let (tx, mut rx) = mpsc::unbounded_channel::<Message>();
    let writer = tokio::spawn(async move {
        while let Some(first) = rx.recv().await {
            if sink.feed(first).await.is_err() {
                return;
            }
            while let Ok(more) = rx.try_recv() {
                if sink.feed(more).await.is_err() {
                    return;
                }
            }
            if sink.flush().await.is_err() {
                return;
            }
        }
    });
    loop {
        let msg = tokio::select! {
            _ = stop.changed() => break,
            msg = stream.next() => msg,
        };
        let Some(Ok(Message::Text(text))) = msg else {
            match msg {
                Some(Ok(_)) => continue,
                _ => break,
            }
        };
        let Ok(Value::Array(a)) = serde_json::from_str::<Value>(text.as_str()) else {
            continue;
        };
        let (Some(join_ref), Some(r), Some(topic), Some(event)) =
            (a.first(), a.get(1), a.get(2), a.get(3))
        else {
            continue;
        };
        if event == "phx_join" {
            if let Ok(mut s) = subs.senders.lock() {
                s.push(tx.clone());
            }
        }
        let reply =
            serde_json::json!([join_ref, r, topic, "phx_reply", {"response": {}, "status": "ok"}]);
        if tx.send(Message::text(reply.to_string())).is_err() {
            break;
        }
    }
    drop(tx);
    writer.abort();
}
