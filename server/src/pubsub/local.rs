//! The local subscription registry and fastlane dispatch.
//!
//! Subscriptions are sharded by topic hash, each shard behind its own `RwLock`, so broadcasts to
//! different topics never contend and a broadcast holds only a read lock. A non-intercepted event
//! is encoded once per serializer and the same frame (an O(1) clone) goes to every subscriber's
//! writer queue; an intercepted event goes to each subscriber's socket task for `handle_out`.

use std::collections::hash_map::DefaultHasher;
use std::collections::HashMap;
use std::hash::{Hash, Hasher};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, RwLock};

use phx_protocol::{Broadcast, ServerMessage, Vsn};

use crate::socket::handle::{ConnHandle, Inbox};
use crate::socket::wire::encode;

const SHARDS: usize = 32;

/// A node's local subscriptions. Cheap to clone; a [`super::Backplane`] calls
/// [`LocalDelivery::deliver`] for messages from other nodes.
#[derive(Clone)]
pub struct LocalDelivery {
    inner: Arc<Registry>,
}

/// One shard: topic → subscriptions.
type Shard = RwLock<HashMap<String, Vec<Subscription>>>;

struct Registry {
    shards: Box<[Shard]>,
    next_id: AtomicU64,
}

/// Who receives a topic's broadcasts.
pub(crate) struct Subscription {
    id: u64,
    conn: Arc<ConnHandle>,
    kind: SubKind,
}

/// What a subscription is for.
pub(crate) enum SubKind {
    /// A joined channel: fastlane unless the event is intercepted.
    Channel {
        chan_key: u64,
        vsn: Vsn,
        intercepts: &'static [&'static str],
    },
    /// The socket's id topic: only `"disconnect"` matters.
    SocketId,
}

/// Handle to remove a subscription again.
#[derive(Clone, Debug)]
pub(crate) struct SubscriptionRef {
    topic: String,
    id: u64,
}

impl Default for LocalDelivery {
    fn default() -> Self {
        Self::new()
    }
}

impl LocalDelivery {
    /// An empty registry.
    pub fn new() -> Self {
        let shards = (0..SHARDS).map(|_| RwLock::new(HashMap::new())).collect();
        LocalDelivery {
            inner: Arc::new(Registry {
                shards,
                next_id: AtomicU64::new(1),
            }),
        }
    }

    fn shard(&self, topic: &str) -> &Shard {
        let mut h = DefaultHasher::new();
        topic.hash(&mut h);
        &self.inner.shards[(h.finish() as usize) % SHARDS]
    }

    pub(crate) fn subscribe(
        &self,
        topic: &str,
        conn: Arc<ConnHandle>,
        kind: SubKind,
    ) -> SubscriptionRef {
        let id = self.inner.next_id.fetch_add(1, Ordering::Relaxed);
        if let Ok(mut shard) = self.shard(topic).write() {
            shard
                .entry(topic.to_owned())
                .or_default()
                .push(Subscription { id, conn, kind });
        }
        SubscriptionRef {
            topic: topic.to_owned(),
            id,
        }
    }

    pub(crate) fn unsubscribe(&self, sub: &SubscriptionRef) {
        if let Ok(mut shard) = self.shard(&sub.topic).write() {
            if let Some(list) = shard.get_mut(&sub.topic) {
                list.retain(|s| s.id != sub.id);
                if list.is_empty() {
                    shard.remove(&sub.topic);
                }
            }
        }
    }

    /// Number of local subscriptions on `topic` (channels and socket ids).
    pub fn subscriber_count(&self, topic: &str) -> usize {
        self.shard(topic)
            .read()
            .map(|s| s.get(topic).map_or(0, Vec::len))
            .unwrap_or(0)
    }

    /// Delivers a broadcast to this node's subscribers only.
    pub fn deliver(&self, broadcast: &Broadcast) {
        let Ok(shard) = self.shard(&broadcast.topic).read() else {
            return;
        };
        let Some(subs) = shard.get(&broadcast.topic) else {
            return;
        };
        // Encoded once per serializer, shared by every fastlane subscriber.
        let mut frames: [Option<Option<tokio_tungstenite::tungstenite::Message>>; 2] = [None, None];
        let mut shared: Option<Arc<Broadcast>> = None;
        for sub in subs {
            match &sub.kind {
                SubKind::SocketId => {
                    if broadcast.event == "disconnect" {
                        sub.conn.request(Inbox::Disconnect);
                    }
                }
                SubKind::Channel {
                    chan_key,
                    vsn,
                    intercepts,
                } => {
                    if intercepts.contains(&broadcast.event.as_str()) {
                        let b = shared
                            .get_or_insert_with(|| Arc::new(broadcast.clone()))
                            .clone();
                        sub.conn.request(Inbox::Intercept {
                            chan_key: *chan_key,
                            broadcast: b,
                        });
                        continue;
                    }
                    let slot = match vsn {
                        Vsn::V1 => &mut frames[0],
                        Vsn::V2 => &mut frames[1],
                    };
                    let frame = slot.get_or_insert_with(|| {
                        match encode(*vsn, &ServerMessage::Broadcast(broadcast.clone())) {
                            Ok(m) => Some(m),
                            Err(e) => {
                                tracing::error!(topic = %broadcast.topic, event = %broadcast.event, "cannot encode broadcast: {e}");
                                None
                            }
                        }
                    });
                    if let Some(frame) = frame {
                        sub.conn.send_frame(frame.clone());
                    }
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::socket::outbound::{Limits, Outbound, Receiver, Totals};
    use phx_protocol::Payload;
    use serde_json::json;
    use tokio::sync::mpsc;
    use tokio_tungstenite::tungstenite::Message as WsMessage;

    fn conn(id: u64) -> (Arc<ConnHandle>, Receiver, mpsc::Receiver<Inbox>) {
        let limits = Limits {
            pause: 1 << 20,
            max: 1 << 24,
        };
        let (out, out_rx) = Outbound::new(limits, Arc::new(Totals::new(1 << 30)));
        let (in_tx, in_rx) = mpsc::channel(8);
        (
            Arc::new(ConnHandle::new(id, None, out, in_tx)),
            out_rx,
            in_rx,
        )
    }

    #[test]
    fn fastlane_encodes_once_and_shares_the_bytes() {
        let local = LocalDelivery::new();
        let (a, mut a_out, _a_in) = conn(1);
        let (b, mut b_out, _b_in) = conn(2);
        let (c, mut c_out, _c_in) = conn(3);
        for (conn, vsn) in [(a, Vsn::V2), (b, Vsn::V2), (c, Vsn::V1)] {
            let kind = SubKind::Channel {
                chan_key: 1,
                vsn,
                intercepts: &["request_ping"],
            };
            local.subscribe("ping", conn, kind);
        }
        local.deliver(&Broadcast::new(
            "ping",
            "plain_event",
            Payload::Json(json!({"n": 1})),
        ));
        let (WsMessage::Text(x), WsMessage::Text(y), WsMessage::Text(z)) = (
            a_out.try_recv().unwrap(),
            b_out.try_recv().unwrap(),
            c_out.try_recv().unwrap(),
        ) else {
            panic!("text frames expected");
        };
        assert_eq!(x.as_str(), r#"[null,null,"ping","plain_event",{"n":1}]"#);
        // The same allocation, not an equal copy.
        assert_eq!(x.as_str().as_ptr(), y.as_str().as_ptr());
        assert_eq!(
            z.as_str(),
            r#"{"event":"plain_event","payload":{"n":1},"ref":null,"topic":"ping"}"#
        );
    }

    #[test]
    fn intercepted_events_go_to_the_socket_task_and_unsubscribe_stops_delivery() {
        let local = LocalDelivery::new();
        let (a, mut a_out, mut a_in) = conn(1);
        let kind = SubKind::Channel {
            chan_key: 7,
            vsn: Vsn::V2,
            intercepts: &["request_ping"],
        };
        let sub = local.subscribe("ping", a, kind);
        local.deliver(&Broadcast::new(
            "ping",
            "request_ping",
            Payload::empty_object(),
        ));
        assert!(
            a_out.try_recv().is_none(),
            "intercepted events skip the fastlane"
        );
        assert!(matches!(
            a_in.try_recv(),
            Ok(Inbox::Intercept { chan_key: 7, .. })
        ));
        assert_eq!(local.subscriber_count("ping"), 1);
        local.unsubscribe(&sub);
        assert_eq!(local.subscriber_count("ping"), 0);
        local.deliver(&Broadcast::new(
            "ping",
            "plain_event",
            Payload::empty_object(),
        ));
        assert!(a_out.try_recv().is_none());
    }
}
