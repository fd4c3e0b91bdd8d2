//! The accept loop, the outbound-memory guard, and graceful shutdown.
//!
//! Each HTTP connection gets Cowboy's limits before the upgrade: the request head must arrive
//! within `request_timeout` (Cowboy's `request_timeout`, 5 s, which also applies while a
//! keep-alive connection waits for its next request), and more than `max_headers` headers is a
//! 431 (Cowboy's `max_headers`, 100). Per-header lengths are checked in `endpoint::http`.

use std::future::Future;
use std::time::Duration;

use hyper::service::service_fn;
use hyper_util::rt::{TokioIo, TokioTimer};
use tokio::net::TcpListener;
use tokio::time::{sleep, Instant};

use crate::config::Config;
use crate::endpoint::{http, Endpoint};

/// Why [`run`] / [`serve`] stopped with an error.
#[derive(Debug, thiserror::Error)]
pub enum ServeError {
    /// The listener is unusable (its address cannot be read). Bind a fresh listener.
    #[error("the listener is unusable: {0}")]
    Listener(#[source] std::io::Error),
}

/// Serves the HelloSockets app on an already-bound listener until `shutdown` resolves, then
/// closes every WebSocket with 1012 and returns.
pub async fn run(
    listener: TcpListener,
    config: Config,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> Result<(), ServeError> {
    serve(listener, Endpoint::hello_sockets(config, None), shutdown).await
}

/// Serves `endpoint` on `listener` until `shutdown` resolves (see [`run`]).
pub async fn serve(
    listener: TcpListener,
    endpoint: Endpoint,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> Result<(), ServeError> {
    let addr = listener.local_addr().map_err(ServeError::Listener)?;
    tracing::info!(%addr, node = endpoint.node_name(), compat = %endpoint.config().compat, "Running HelloSocketsWeb.Endpoint");
    tokio::pin!(shutdown);
    let guard = crate::spawn::spawn(outbound_guard(endpoint.clone()));
    let config = endpoint.config();
    let mut http = hyper::server::conn::http1::Builder::new();
    http.timer(TokioTimer::new())
        .header_read_timeout(config.request_timeout)
        .max_headers(config.max_headers);
    loop {
        tokio::select! {
            _ = &mut shutdown => break,
            accepted = listener.accept() => match accepted {
                Ok((tcp, peer)) => {
                    let _ = tcp.set_nodelay(true);
                    let endpoint = endpoint.clone();
                    let http = http.clone();
                    crate::spawn::spawn(async move {
                        let service = service_fn(move |req| http::handle(req, peer, endpoint.clone()));
                        let conn = http
                            .serve_connection(TokioIo::new(tcp), service)
                            .with_upgrades();
                        if let Err(e) = conn.await {
                            tracing::debug!(%peer, "http connection error: {e}");
                        }
                    });
                }
                Err(e) => {
                    // EMFILE and friends: keep serving the connections we have.
                    tracing::error!("accept failed: {e}");
                    sleep(Duration::from_millis(50)).await;
                }
            },
        }
    }
    drop(listener);
    shutdown_gracefully(&endpoint).await;
    guard.abort();
    Ok(())
}

/// Keeps the sum of all outbound queues under `outbound_total_bytes`: whenever a frame takes it
/// over, drops the connections that drained least (longest without socket progress, then most
/// queued) until what they hold brings the sum under 90 % of the cap.
async fn outbound_guard(endpoint: Endpoint) {
    let totals = endpoint.outbound_totals().clone();
    loop {
        totals.over_cap().await;
        let cap = totals.cap();
        let target = cap / 10 * 9;
        if totals.queued() <= cap {
            continue;
        }
        let mut conns: Vec<_> = endpoint
            .connections()
            .into_iter()
            .filter(|c| !c.is_killed() && c.outbound().queued() > 0)
            .collect();
        conns.sort_by_key(|c| {
            (
                c.outbound().last_progress_ms(),
                std::cmp::Reverse(c.outbound().queued()),
            )
        });
        let mut left = totals.queued();
        for conn in conns {
            if left <= target {
                break;
            }
            left = left.saturating_sub(conn.outbound().queued());
            conn.slow_consumer(format_args!(
                "the outbound total is over outbound_total_bytes ({cap}) and it drained least"
            ));
        }
        // Let the dropped connections free their queues before looking again.
        sleep(Duration::from_millis(10)).await;
    }
}

/// Closes every WebSocket with 1012 and waits (bounded) for them to go.
async fn shutdown_gracefully(endpoint: &Endpoint) {
    endpoint.drain();
    let deadline = Instant::now() + endpoint.config().shutdown_grace * 2;
    while endpoint.connection_count() > 0 && Instant::now() < deadline {
        sleep(Duration::from_millis(10)).await;
    }
    endpoint.drop_all_connections();
    endpoint.pubsub().detach();
    tracing::info!(node = endpoint.node_name(), "endpoint stopped");
}
