//! The accept loop and graceful shutdown.

use std::future::Future;
use std::time::Duration;

use hyper::service::service_fn;
use hyper_util::rt::TokioIo;
use tokio::net::TcpListener;
use tokio::time::sleep;

use crate::endpoint::{http, Endpoint};

/// Why [`run`] / [`serve`] stopped with an error.
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
    let addr = listener.local_addr().map_err(ServeError::Listener)?;
    // Phoenix logs `Running HelloSocketsWeb.Endpoint`: the first app's name, as the module.
    let app = endpoint.apps().next().map_or("Phoenix", |a| a.name());
    tracing::info!(%addr, node = endpoint.node_name(), compat = %endpoint.config().compat, "Running {app}Web.Endpoint");
    tokio::pin!(shutdown);
    loop {
        tokio::select! {
            _ = &mut shutdown => break,
            accepted = listener.accept() => match accepted {
                Ok((tcp, peer)) => {
                    let _ = tcp.set_nodelay(true);
                    let endpoint = endpoint.clone();
                    crate::spawn::spawn(async move {
                        let service = service_fn(move |req| http::handle(req, peer, endpoint.clone()));
                        let conn = hyper::server::conn::http1::Builder::new()
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
    Ok(())
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
