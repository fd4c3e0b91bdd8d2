//! The certification app, mounted on an embedded phx-server through its public
//! [`SocketHandler`] / [`Channel`] API: `/socket` accepts the certification topics, counts the
//! `echo_reply`s it receives, and lets the driver refuse connects (403) and joins, push `echo`,
//! crash a channel or close it.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use phx_protocol::Payload;
use phx_server::channel::{ChannelHandle, Info};
use phx_server::socket::{Assigns, ConnectRefused, Params};
use phx_server::{
    Channel, ChannelContext, Config, Crash, Endpoint, JoinOutcome, Mount, Outcome, SocketHandler,
    StopReason,
};
use serde_json::{json, Value};
use tokio::net::TcpListener;
use tokio::sync::oneshot;
use tokio::task::JoinHandle;

use super::observer::{Ev, Observer};

/// The socket id every certification socket gets (`disconnect` by socket id targets it).
pub const SOCKET_ID: &str = "certify_socket";

/// What the driver tells the channels to do (`handle_info`).
enum Order {
    Echo(Value),
    Crash,
    Close,
}

/// The driver's levers, shared by every server instance of one case (it outlives restarts).
#[derive(Clone)]
pub struct Control {
    inner: Arc<ControlInner>,
}

struct ControlInner {
    topics: Vec<String>,
    observer: Observer,
    refuse_connects: Mutex<u32>,
    refuse_joins: Mutex<HashMap<String, u32>>,
    /// The latest joined channel per topic.
    channels: Mutex<HashMap<String, ChannelHandle>>,
}

impl Control {
    /// Levers for these topics, reporting to `observer`.
    pub fn new(topics: Vec<String>, observer: Observer) -> Self {
        Control {
            inner: Arc::new(ControlInner {
                topics,
                observer,
                refuse_connects: Mutex::new(0),
                refuse_joins: Mutex::new(HashMap::new()),
                channels: Mutex::new(HashMap::new()),
            }),
        }
    }

    /// The next `n` connects are refused with 403.
    pub fn refuse_connects(&self, n: u32) {
        if let Ok(mut r) = self.inner.refuse_connects.lock() {
            *r = n;
        }
    }

    /// The next `n` joins of `topic` are refused.
    pub fn refuse_joins(&self, topic: &str, n: u32) {
        if let Ok(mut r) = self.inner.refuse_joins.lock() {
            r.insert(topic.to_string(), n);
        }
    }

    fn handle(&self, topic: &str) -> Option<ChannelHandle> {
        self.inner.channels.lock().ok()?.get(topic).cloned()
    }

    async fn order(&self, topic: &str, order: Order) -> bool {
        match self.handle(topic) {
            Some(h) => h.send(Box::new(order)).await.is_ok(),
            None => false,
        }
    }

    /// Pushes `echo` with `payload` on the latest join of `topic`. False: no live channel.
    pub async fn echo(&self, topic: &str, payload: Value) -> bool {
        self.order(topic, Order::Echo(payload)).await
    }

    /// Crashes the channel of `topic` (phx_error).
    pub async fn crash(&self, topic: &str) -> bool {
        self.order(topic, Order::Crash).await
    }

    /// Stops the channel of `topic` normally (phx_close).
    pub async fn close(&self, topic: &str) -> bool {
        self.order(topic, Order::Close).await
    }
}

struct CertifySocket(Control);

impl SocketHandler for CertifySocket {
    fn module(&self) -> &str {
        "Elixir.PhxCertify.Socket"
    }

    fn connect(&self, _params: &Params, _endpoint: &Endpoint) -> Result<Assigns, ConnectRefused> {
        if let Ok(mut n) = self.0.inner.refuse_connects.lock() {
            if *n > 0 {
                *n -= 1;
                return Err(ConnectRefused);
            }
        }
        Ok(Assigns::new())
    }

    fn id(&self, _assigns: &Assigns) -> Option<String> {
        Some(SOCKET_ID.into())
    }

    fn channel(&self, topic: &str) -> Option<Box<dyn Channel>> {
        self.0
            .inner
            .topics
            .iter()
            .any(|t| t == topic)
            .then(|| Box::new(CertifyChannel(self.0.clone())) as Box<dyn Channel>)
    }
}

struct CertifyChannel(Control);

impl Channel for CertifyChannel {
    fn join(
        &mut self,
        topic: &str,
        _payload: Payload,
        ctx: &mut ChannelContext<'_>,
    ) -> Result<JoinOutcome, Crash> {
        if let Ok(mut r) = self.0.inner.refuse_joins.lock() {
            if let Some(n) = r.get_mut(topic).filter(|n| **n > 0) {
                *n -= 1;
                return Ok(JoinOutcome::Error(
                    json!({"reason": "refused by phx certify"}).into(),
                ));
            }
        }
        if let (Some(h), Ok(mut chans)) = (ctx.handle(), self.0.inner.channels.lock()) {
            chans.insert(topic.to_string(), h);
        }
        Ok(JoinOutcome::Ok(Payload::empty_object()))
    }

    fn handle_in(
        &mut self,
        event: &str,
        payload: Payload,
        ctx: &mut ChannelContext<'_>,
    ) -> Result<Outcome, Crash> {
        if event == "echo_reply" {
            let p = payload.as_json().cloned().unwrap_or(Value::Null);
            self.0
                .inner
                .observer
                .record(Ev::Delivered(ctx.topic().to_string(), p));
        }
        Ok(Outcome::reply_ok(Payload::empty_object()))
    }

    fn handle_info(&mut self, msg: Info, ctx: &mut ChannelContext<'_>) -> Result<Outcome, Crash> {
        match msg.downcast::<Order>().map(|o| *o) {
            Ok(Order::Echo(p)) => {
                ctx.push("echo", p);
                Ok(Outcome::NoReply)
            }
            Ok(Order::Crash) => Err(Crash::new("crashed on purpose by phx certify")),
            Ok(Order::Close) => Ok(Outcome::Stop {
                reason: StopReason::Normal,
                reply: None,
            }),
            Err(_) => Ok(Outcome::NoReply),
        }
    }
}

/// The embedded phx-server of one case, restartable on the same port.
pub struct Server {
    addr: SocketAddr,
    control: Control,
    running: Option<(oneshot::Sender<()>, JoinHandle<()>, Endpoint)>,
}

/// The embedded server could not start.
#[derive(Debug, thiserror::Error)]
#[error("cannot start the embedded phx-server on {addr}: {source}")]
pub struct ServerError {
    addr: String,
    #[source]
    source: std::io::Error,
}

impl Server {
    /// Starts on 127.0.0.1, port 0.
    pub async fn start(control: Control) -> Result<Self, ServerError> {
        let mut s = Server {
            addr: SocketAddr::from(([127, 0, 0, 1], 0)),
            control,
            running: None,
        };
        s.launch().await?;
        Ok(s)
    }

    async fn launch(&mut self) -> Result<(), ServerError> {
        let listener = TcpListener::bind(self.addr)
            .await
            .map_err(|source| ServerError {
                addr: self.addr.to_string(),
                source,
            })?;
        self.addr = listener.local_addr().map_err(|source| ServerError {
            addr: self.addr.to_string(),
            source,
        })?;
        let config = Config {
            node_name: "certify@127.0.0.1".into(),
            shutdown_grace: Duration::from_millis(300),
            ..Config::default()
        };
        let endpoint = Endpoint::new(
            config,
            None,
            vec![Mount::new("/socket", CertifySocket(self.control.clone()))],
        );
        let (stop, stopped) = oneshot::channel::<()>();
        let ep = endpoint.clone();
        let task = tokio::spawn(async move {
            let _ = phx_server::serve(listener, ep, async {
                let _ = stopped.await;
            })
            .await;
        });
        self.running = Some((stop, task, endpoint));
        Ok(())
    }

    /// Where it listens.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// `Endpoint.broadcast(socket_id, "disconnect", %{})`.
    pub fn disconnect_socket_id(&self) {
        if let Some((_, _, ep)) = &self.running {
            ep.disconnect(SOCKET_ID);
        }
    }

    /// Stops gracefully (1012 to every socket), waits for it, then starts again on the same
    /// port after `down`.
    pub async fn restart(&mut self, down: Duration) -> Result<(), ServerError> {
        self.stop().await;
        tokio::time::sleep(down).await;
        self.launch().await
    }

    /// Stops gracefully and waits (bounded) for it.
    pub async fn stop(&mut self) {
        if let Some((stop, task, ep)) = self.running.take() {
            let _ = stop.send(());
            if tokio::time::timeout(Duration::from_secs(3), task)
                .await
                .is_err()
            {
                ep.drop_all_connections();
            }
        }
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        if let Some((stop, task, ep)) = self.running.take() {
            let _ = stop.send(());
            ep.drop_all_connections();
            task.abort();
        }
    }
}
