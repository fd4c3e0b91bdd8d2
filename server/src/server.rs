//! The accept loop (plain TCP, or TLS first with [`serve_tls`]), the outbound-memory guard,
//! and graceful shutdown.
//!
//! Each HTTP connection gets Cowboy's limits before the upgrade: the request head must arrive
//! within `request_timeout` (Cowboy's `request_timeout`, 5 s, which also applies while a
//! keep-alive connection waits for its next request; a TLS handshake gets the same time, as
//! Ranch's `handshake_timeout` of 5 s), and more than `max_headers` headers is a 431 (Cowboy's
//! `max_headers`, 100). Per-header lengths are checked in `endpoint::http`.

use std::future::Future;
use std::time::Duration;

use hyper::service::service_fn;
use hyper_util::rt::{TokioIo, TokioTimer};
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::net::TcpListener;
use tokio::time::sleep;

use crate::endpoint::{http, Endpoint};
use crate::tls::TlsAcceptor;

/// Why [`serve`] / [`serve_tls`] stopped with an error.
#[derive(Debug, thiserror::Error)]
pub enum ServeError {
    /// The listener is unusable (its address cannot be read). Bind a fresh listener.
    #[error("the listener is unusable: {0}")]
    Listener(#[source] std::io::Error),
}

/// Serves `endpoint` on an already-bound `listener` until `shutdown` resolves, then closes every
/// WebSocket with 1012 and returns.
pub async fn serve(
    listener: TcpListener,
    endpoint: Endpoint,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> Result<(), ServeError> {
    serve_with(listener, endpoint, None, shutdown).await
}

/// Serves `endpoint` over TLS on `listener` (HTTPS and WSS on the same port) until `shutdown`
/// resolves (see [`serve`]). A client that fails the handshake is dropped; everyone else is served.
pub async fn serve_tls(
    listener: TcpListener,
    endpoint: Endpoint,
    tls: TlsAcceptor,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> Result<(), ServeError> {
    serve_with(listener, endpoint, Some(tls), shutdown).await
}

/// The accept loop behind [`serve`] and [`serve_tls`].
pub async fn serve_with(
    listener: TcpListener,
    endpoint: Endpoint,
    tls: Option<TlsAcceptor>,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> Result<(), ServeError> {
    let addr = listener.local_addr().map_err(ServeError::Listener)?;
    let scheme = if tls.is_some() { "https" } else { "http" };
    // Phoenix logs `Running HelloSocketsWeb.Endpoint`: the first app's name, as the module.
    let app = endpoint.apps().next().map_or("Phoenix", |a| a.name());
    tracing::info!(%addr, scheme, node = endpoint.node_name(), compat = %endpoint.config().compat, "Running {app}Web.Endpoint");
    tokio::pin!(shutdown);
    let guard = crate::spawn::spawn(outbound_guard(endpoint.clone()));
    let config = endpoint.config();
    let mut builder = hyper::server::conn::http1::Builder::new();
    builder
        .timer(TokioTimer::new())
        .header_read_timeout(config.request_timeout)
        .max_headers(config.max_headers);
    loop {
        tokio::select! {
            _ = &mut shutdown => break,
            accepted = listener.accept() => match accepted {
                Ok((tcp, peer)) => {
                    let _ = tcp.set_nodelay(true);
                    let endpoint = endpoint.clone();
                    let tls = tls.clone();
                    let builder = builder.clone();
                    let handshake_timeout = config.request_timeout;
                    crate::spawn::spawn(async move {
                        match tls {
                            None => serve_connection(builder, tcp, peer, endpoint).await,
                            Some(tls) => match tokio::time::timeout(handshake_timeout, tls.handshake(tcp)).await {
                                Ok(Ok(stream)) => serve_connection(builder, stream, peer, endpoint).await,
                                Ok(Err(e)) => tracing::debug!(%peer, "TLS handshake failed: {e}"),
                                Err(_) => tracing::debug!(%peer, "TLS handshake timed out"),
                            },
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

/// HTTP/1.1 (with upgrades) on one accepted connection, plain or TLS.
async fn serve_connection<I>(
    builder: hyper::server::conn::http1::Builder,
    io: I,
    peer: std::net::SocketAddr,
    endpoint: Endpoint,
) where
    I: AsyncRead + AsyncWrite + Unpin + Send + 'static,
{
    let service = service_fn(move |req| http::handle(req, peer, endpoint.clone()));
    let conn = builder
        .serve_connection(TokioIo::new(io), service)
        .with_upgrades();
    if let Err(e) = conn.await {
        tracing::debug!(%peer, "http connection error: {e}");
    }
}

/// Closes every WebSocket with 1012 and waits (bounded) for them to go.
async fn shutdown_gracefully(endpoint: &Endpoint) {
    endpoint.drain();
    // Each connection waits up to the grace for its client's close reply, then for its writer.
    if !endpoint.drained(endpoint.config().shutdown_grace * 2).await {
        tracing::debug!(
            left = endpoint.connection_count(),
            "connections still open after the grace: dropping them"
        );
    }
    endpoint.drop_all_connections();
    endpoint.pubsub().detach();
    tracing::info!(node = endpoint.node_name(), "endpoint stopped");
}
