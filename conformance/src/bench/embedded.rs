//! phx-server embedded in the bench process, on its own [`ServerRuntime`], control API on;
//! optionally a node of a Redis cluster; restartable on the same address (reconnect storm).

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use phx_server::apps::hello_sockets::HelloSockets;
use phx_server::pubsub::redis::{RedisBackplane, RedisConfig};
use phx_server::pubsub::Backplane;
use phx_server::Config;
use tokio::net::TcpListener;
use tokio::sync::oneshot;
use tokio::task::JoinHandle;

use super::runtime::ServerRuntime;
use phx_server::control::Client;

/// A running embedded phx-server.
pub struct EmbeddedServer {
    rt: Arc<ServerRuntime>,
    addr: SocketAddr,
    config: Config,
    redis: Option<RedisConfig>,
    stop: Option<oneshot::Sender<()>>,
    task: Option<JoinHandle<()>>,
}

impl EmbeddedServer {
    /// The configuration the bench uses: defaults (the outbound queue is bounded in bytes and
    /// a client that keeps reading gets a whole burst), control API on, named `node`.
    pub fn config(node: &str) -> Config {
        Config {
            node_name: node.into(),
            control: true,
            shutdown_grace: Duration::from_millis(500),
            ..Config::default()
        }
    }

    /// Starts on `127.0.0.1:0` (or `addr`), attached to Redis when `redis` is given (its own
    /// backplane, as a separate process would have).
    pub async fn start(
        rt: Arc<ServerRuntime>,
        config: Config,
        redis: Option<RedisConfig>,
        addr: Option<SocketAddr>,
    ) -> Result<EmbeddedServer, String> {
        let mut s = EmbeddedServer {
            rt,
            addr: addr.unwrap_or_else(|| SocketAddr::from(([127, 0, 0, 1], 0))),
            config,
            redis,
            stop: None,
            task: None,
        };
        s.serve().await?;
        Ok(s)
    }

    async fn serve(&mut self) -> Result<(), String> {
        let (addr, config, redis) = (self.addr, self.config.clone(), self.redis.clone());
        let (stop, stopped) = oneshot::channel::<()>();
        let (ready_tx, ready) = oneshot::channel::<Result<SocketAddr, String>>();
        let task = self
            .rt
            .spawn(async move {
                let backplane: Option<Arc<dyn Backplane>> = match redis {
                    Some(r) => match RedisBackplane::connect(r).await {
                        Ok(b) => Some(b),
                        Err(e) => {
                            let _ = ready_tx.send(Err(e.to_string()));
                            return;
                        }
                    },
                    None => None,
                };
                let listener = match TcpListener::bind(addr).await {
                    Ok(l) => l,
                    Err(e) => {
                        let _ = ready_tx.send(Err(format!("cannot listen on {addr}: {e}")));
                        return;
                    }
                };
                let bound = listener.local_addr().unwrap_or(addr);
                let endpoint = HelloSockets::default().endpoint(config, backplane);
                let _ = ready_tx.send(Ok(bound));
                let _ = phx_server::serve(listener, endpoint, async move {
                    let _ = stopped.await;
                })
                .await;
            })
            .ok_or("the server runtime is stopped")?;
        self.addr = ready
            .await
            .map_err(|_| "the embedded server did not start".to_string())??;
        self.stop = Some(stop);
        self.task = Some(task);
        Ok(())
    }

    /// The socket URL, `ws://127.0.0.1:PORT/socket`.
    pub fn ws_url(&self) -> String {
        format!("ws://{}/socket", self.addr)
    }

    /// Its control API, each call bounded by `timeout`.
    pub fn control(&self, timeout: Duration) -> Client {
        Client::new(self.addr.to_string(), None).with_timeout(timeout)
    }

    /// Stops serving (every socket gets the 1012 close of a shutdown, then is dropped) and
    /// serves again on the same address with a fresh endpoint: a server restart as clients
    /// see it.
    pub async fn restart(&mut self) -> Result<(), String> {
        self.shutdown().await;
        self.serve().await
    }

    async fn shutdown(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        if let Some(task) = self.task.take() {
            let _ = tokio::time::timeout(Duration::from_secs(10), task).await;
        }
    }
}

impl Drop for EmbeddedServer {
    fn drop(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
    }
}
