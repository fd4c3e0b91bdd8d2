//! The accept loop (plain TCP, or TLS first with [`serve_tls`]) and graceful shutdown.

use std::future::Future;
use std::time::Duration;

use hyper::service::service_fn;
use hyper_util::rt::TokioIo;
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
    loop {
        tokio::select! {
            _ = &mut shutdown => break,
            accepted = listener.accept() => match accepted {
                Ok((tcp, peer)) => {
                    let _ = tcp.set_nodelay(true);
                    let endpoint = endpoint.clone();
                    let tls = tls.clone();
                    crate::spawn::spawn(async move {
                        match tls {
                            None => serve_connection(tcp, peer, endpoint).await,
                            Some(tls) => match tls.handshake(tcp).await {
                                Ok(stream) => serve_connection(stream, peer, endpoint).await,
                                Err(e) => tracing::debug!(%peer, "TLS handshake failed: {e}"),
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
    Ok(())
}

/// HTTP/1.1 (with upgrades) on one accepted connection, plain or TLS.
async fn serve_connection<I>(io: I, peer: std::net::SocketAddr, endpoint: Endpoint)
where
    I: AsyncRead + AsyncWrite + Unpin + Send + 'static,
{
    let service = service_fn(move |req| http::handle(req, peer, endpoint.clone()));
    let conn = hyper::server::conn::http1::Builder::new()
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
