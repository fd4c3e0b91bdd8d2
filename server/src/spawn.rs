//! `tokio::spawn` (and `spawn_blocking`) that carries the current tracing dispatcher into the task, so logs of a
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

/// `tokio::task::spawn_blocking` with the caller's tracing dispatcher.
pub(crate) fn spawn_blocking<F, R>(f: F) -> tokio::task::JoinHandle<R>
where
    F: FnOnce() -> R + Send + 'static,
    R: Send + 'static,
{
    let dispatch = tracing::dispatcher::get_default(|d| d.clone());
    tokio::task::spawn_blocking(move || tracing::dispatcher::with_default(&dispatch, f))
}
