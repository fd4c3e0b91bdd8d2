//! The runtime an in-process server (embedded phx-server, the baseline) runs on: its own
//! threads, named [`SERVER_THREAD`], so that the generator's CPU is measured apart.

use std::future::Future;
use std::sync::Arc;

use super::cpu::SERVER_THREAD;

/// A server runtime; servers keep an `Arc` to it, and it stops when the last one goes.
pub struct ServerRuntime {
    rt: Option<tokio::runtime::Runtime>,
}

impl ServerRuntime {
    /// Starts `threads` worker threads.
    pub fn start(threads: usize) -> Result<Arc<ServerRuntime>, String> {
        let rt = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(threads.max(1))
            .thread_name(SERVER_THREAD)
            .enable_all()
            .build()
            .map_err(|e| format!("cannot start the server runtime: {e}"))?;
        Ok(Arc::new(ServerRuntime { rt: Some(rt) }))
    }

    /// Runs `fut` on the server runtime and waits for it from any runtime.
    pub async fn run<F>(&self, fut: F) -> Result<F::Output, String>
    where
        F: Future + Send + 'static,
        F::Output: Send + 'static,
    {
        match &self.rt {
            Some(rt) => rt
                .spawn(fut)
                .await
                .map_err(|e| format!("server task failed: {e}")),
            None => Err("the server runtime is stopped".into()),
        }
    }

    /// Spawns `fut` on the server runtime.
    pub fn spawn<F>(&self, fut: F) -> Option<tokio::task::JoinHandle<F::Output>>
    where
        F: Future + Send + 'static,
        F::Output: Send + 'static,
    {
        self.rt.as_ref().map(|rt| rt.spawn(fut))
    }
}

impl Drop for ServerRuntime {
    fn drop(&mut self) {
        // Dropping a runtime blocks, which panics inside another runtime: let it go instead.
        if let Some(rt) = self.rt.take() {
            rt.shutdown_background();
        }
    }
}
