//! The connection registry: owns the live connections of one server. Connections register on
//! upgrade and leave when their task ends; the server drains them at shutdown and waits on a
//! completion signal (no polling).

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use phx_protocol::Ref;
use tokio::sync::Notify;

use super::handle::{ConnHandle, Inbox, Kill};

/// One joined channel, as seen from outside (introspection for tests and the control API).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct JoinedChannel {
    /// The connection number (unique per server).
    pub conn_id: u64,
    /// The socket id, if the socket has one.
    pub socket_id: Option<String>,
    /// The channel's topic.
    pub topic: String,
    /// The join_ref the client joined with.
    pub join_ref: Ref,
}

/// Live connections, by connection number.
#[derive(Default)]
pub(crate) struct Registry {
    conns: Mutex<HashMap<u64, Arc<ConnHandle>>>,
    next_id: AtomicU64,
    /// Set by [`Registry::drain`]: a connection that registers afterwards is closed with 1012
    /// at once instead of living on as a zombie of a stopped server.
    draining: AtomicBool,
    /// Woken when the last connection leaves.
    emptied: Notify,
}

/// Keeps a connection registered; dropping it (the connection task ends) unregisters it.
pub(crate) struct Registration {
    registry: Arc<Registry>,
    id: u64,
}

impl Drop for Registration {
    fn drop(&mut self) {
        let empty = match self.registry.conns.lock() {
            Ok(mut conns) => {
                conns.remove(&self.id);
                conns.is_empty()
            }
            Err(_) => false,
        };
        if empty {
            self.registry.emptied.notify_waiters();
        }
    }
}

impl Registry {
    /// A fresh connection number.
    pub(crate) fn next_id(&self) -> u64 {
        self.next_id.fetch_add(1, Ordering::Relaxed) + 1
    }

    /// Registers a connection until the returned guard drops.
    pub(crate) fn register(self: &Arc<Self>, conn: Arc<ConnHandle>) -> Registration {
        let id = conn.id;
        if let Ok(mut conns) = self.conns.lock() {
            conns.insert(id, conn.clone());
        }
        // Insert first, then check: either drain() saw this connection or we see its flag.
        if self.is_draining() {
            conn.request(Inbox::Drain);
        }
        Registration {
            registry: self.clone(),
            id,
        }
    }

    fn snapshot(&self) -> Vec<Arc<ConnHandle>> {
        self.conns
            .lock()
            .map(|c| c.values().cloned().collect())
            .unwrap_or_default()
    }

    /// Live connections.
    pub(crate) fn len(&self) -> usize {
        self.conns.lock().map(|c| c.len()).unwrap_or(0)
    }

    /// Closes connection `conn_id` as a `"disconnect"` on its socket id would (1000/1001 by
    /// release, 1011 on Bandit 1.7). False when no such connection is live.
    pub(crate) fn disconnect(&self, conn_id: u64) -> bool {
        let conn = self
            .conns
            .lock()
            .ok()
            .and_then(|c| c.get(&conn_id).cloned());
        match conn {
            Some(conn) => {
                conn.request(Inbox::Disconnect);
                true
            }
            None => false,
        }
    }

    /// Drops every connection abruptly (no close frame).
    pub(crate) fn kill_all(&self, why: Kill) {
        for conn in self.snapshot() {
            conn.kill(why);
        }
    }

    /// Asks every connection to close with 1012, now and on registration from now on.
    pub(crate) fn drain(&self) {
        self.draining.store(true, Ordering::SeqCst);
        for conn in self.snapshot() {
            conn.request(Inbox::Drain);
        }
    }

    /// True once [`Registry::drain`] ran.
    pub(crate) fn is_draining(&self) -> bool {
        self.draining.load(Ordering::SeqCst)
    }

    /// Resolves once no connection is registered, or after `within`; true when empty.
    pub(crate) async fn wait_empty(&self, within: Duration) -> bool {
        let wait = async {
            loop {
                // Registered before the check, so a removal in between still wakes us.
                let emptied = self.emptied.notified();
                if self.len() == 0 {
                    return;
                }
                emptied.await;
            }
        };
        tokio::time::timeout(within, wait).await.is_ok()
    }

    /// Every joined channel on every connection, by connection and topic.
    pub(crate) fn joined(&self) -> Vec<JoinedChannel> {
        let mut out = Vec::new();
        for conn in self.snapshot() {
            if let Ok(j) = conn.joined.lock() {
                out.extend(j.iter().map(|(topic, join_ref)| JoinedChannel {
                    conn_id: conn.id,
                    socket_id: conn.socket_id.clone(),
                    topic: topic.clone(),
                    join_ref: join_ref.clone(),
                }));
            }
        }
        out.sort_by(|a, b| (a.conn_id, &a.topic).cmp(&(b.conn_id, &b.topic)));
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tokio::sync::mpsc;

    fn conn(registry: &Registry) -> (Arc<ConnHandle>, mpsc::Receiver<Inbox>) {
        let (out_tx, _out_rx) = mpsc::channel(4);
        let (in_tx, in_rx) = mpsc::channel(4);
        let handle = ConnHandle::new(registry.next_id(), None, out_tx, in_tx);
        (Arc::new(handle), in_rx)
    }

    #[tokio::test(start_paused = true)]
    async fn drain_asks_every_connection_and_wait_empty_wakes_when_the_last_leaves() {
        let registry = Arc::new(Registry::default());
        let (a, mut a_in) = conn(&registry);
        let (b, mut b_in) = conn(&registry);
        let ga = registry.register(a);
        let gb = registry.register(b);
        assert_eq!(registry.len(), 2);
        registry.drain();
        assert!(matches!(a_in.try_recv(), Ok(Inbox::Drain)));
        assert!(matches!(b_in.try_recv(), Ok(Inbox::Drain)));
        let waiter = {
            let registry = registry.clone();
            tokio::spawn(async move { registry.wait_empty(Duration::from_secs(3600)).await })
        };
        drop(ga);
        tokio::task::yield_now().await;
        assert!(!waiter.is_finished(), "one connection is still live");
        drop(gb);
        assert!(waiter.await.unwrap(), "woken by the last removal");
        assert_eq!(registry.len(), 0);
    }

    #[tokio::test(start_paused = true)]
    async fn a_connection_registering_after_drain_is_drained_at_once() {
        let registry = Arc::new(Registry::default());
        registry.drain();
        let (a, mut a_in) = conn(&registry);
        let _g = registry.register(a);
        assert!(matches!(a_in.try_recv(), Ok(Inbox::Drain)));
        assert!(!registry.wait_empty(Duration::from_millis(50)).await);
    }

    #[test]
    fn disconnect_by_id_reaches_only_that_connection() {
        let registry = Arc::new(Registry::default());
        let (a, mut a_in) = conn(&registry);
        let (b, mut b_in) = conn(&registry);
        let id = a.id;
        let _ga = registry.register(a);
        let _gb = registry.register(b);
        assert!(registry.disconnect(id));
        assert!(matches!(a_in.try_recv(), Ok(Inbox::Disconnect)));
        assert!(b_in.try_recv().is_err());
        assert!(!registry.disconnect(999));
    }
}
