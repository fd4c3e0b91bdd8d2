//! `tokio::spawn` that carries the current tracing dispatcher into the task, so logs of a
//! server started under a capturing subscriber (the test kit) stay with that server.

use std::future::Future;

use tracing::instrument::WithSubscriber;

/// Spawns `fut` with the caller's tracing dispatcher.
pub(crate) fn spawn<F>(fut: F) -> tokio::task::JoinHandle<F::Output>
where
    F: Future + Send + 'static,
    F::Output: Send + 'static,
{
    let dispatch = tracing::dispatcher::get_default(|d| d.clone());
    tokio::spawn(fut.with_subscriber(dispatch))
}
