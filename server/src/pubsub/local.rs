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

use bytes::Bytes;
use phx_protocol::{Broadcast, Frame, ServerMessage, Vsn};

const SHARDS: usize = 32;

/// A broadcast encoded once for one serializer. Every fastlane subscriber of one delivery gets
/// a clone of the same bytes (an O(1) reference-count bump), never a copy.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum SharedFrame {
    /// A text frame; the bytes are UTF-8 (they come from a `String`).
    Text(Bytes),
    /// A binary frame.
    Binary(Bytes),
}

impl From<Frame> for SharedFrame {
    fn from(frame: Frame) -> Self {
        match frame {
            Frame::Text(t) => SharedFrame::Text(Bytes::from(t)),
            Frame::Binary(b) => SharedFrame::Binary(b),
        }
    }
}

/// Who receives a topic's broadcasts: a connection, in practice. The registry never blocks on
/// a subscriber; each method must queue the work and return.
pub trait Subscriber: Send + Sync + 'static {
    /// A broadcast on a subscribed channel topic that the channel does not intercept, encoded
    /// for the serializer the subscription was made with.
    fn fastlane(&self, frame: &SharedFrame);
    /// A broadcast that channel `chan_key` intercepts: run its `handle_out`.
    fn intercept(&self, chan_key: u64, broadcast: Arc<Broadcast>);
    /// A `"disconnect"` broadcast on the subscriber's socket id topic.
    fn disconnect(&self);
}

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
struct Subscription {
    id: u64,
    subscriber: Arc<dyn Subscriber>,
    kind: SubKind,
}

/// What a subscription is for.
#[derive(Clone, Copy, Debug)]
pub enum SubKind {
    /// A joined channel: fastlane unless the event is intercepted.
    Channel {
        /// The channel's key on its connection, handed back with intercepted broadcasts.
        chan_key: u64,
        /// The serializer of the connection: which encoding of the broadcast it gets.
        vsn: Vsn,
        /// Events that go to [`Subscriber::intercept`] instead of the fastlane.
        intercepts: &'static [&'static str],
    },
    /// The socket's id topic: only `"disconnect"` matters.
    SocketId,
}

/// Handle to remove a subscription again.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SubscriptionRef {
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

    /// Subscribes `subscriber` to `topic`'s broadcasts on this node.
    pub fn subscribe(
        &self,
        topic: &str,
        subscriber: Arc<dyn Subscriber>,
        kind: SubKind,
    ) -> SubscriptionRef {
        let id = self.inner.next_id.fetch_add(1, Ordering::Relaxed);
        if let Ok(mut shard) = self.shard(topic).write() {
            let sub = Subscription {
                id,
                subscriber,
                kind,
            };
            match shard.get_mut(topic) {
                Some(list) => list.push(sub),
                None => {
                    shard.insert(topic.to_owned(), vec![sub]);
                }
            }
        }
        SubscriptionRef {
            topic: topic.to_owned(),
            id,
        }
    }

    /// Removes a subscription (a no-op when it is already gone).
    pub fn unsubscribe(&self, sub: &SubscriptionRef) {
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
        let mut frames: [Option<Option<SharedFrame>>; 2] = [None, None];
        let mut shared: Option<Arc<Broadcast>> = None;
        for sub in subs {
            match &sub.kind {
                SubKind::SocketId => {
                    if broadcast.event == "disconnect" {
                        sub.subscriber.disconnect();
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
                        sub.subscriber.intercept(*chan_key, b);
                        continue;
                    }
                    let slot = match vsn {
                        Vsn::V1 => &mut frames[0],
                        Vsn::V2 => &mut frames[1],
                    };
                    let frame = slot.get_or_insert_with(|| {
                        match vsn.encode_server(&ServerMessage::Broadcast(broadcast.clone())) {
                            Ok(f) => Some(SharedFrame::from(f)),
                            Err(e) => {
                                tracing::error!(topic = %broadcast.topic, event = %broadcast.event, "cannot encode broadcast: {e}");
                                None
                            }
                        }
                    });
                    if let Some(frame) = frame {
                        sub.subscriber.fastlane(frame);
                    }
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use phx_protocol::Payload;
    use serde_json::json;
    use std::sync::Mutex;

    /// Records what the registry hands it.
    #[derive(Default)]
    struct Recorder {
        frames: Mutex<Vec<SharedFrame>>,
        intercepts: Mutex<Vec<(u64, String)>>,
        disconnects: Mutex<u32>,
    }

    impl Subscriber for Recorder {
        fn fastlane(&self, frame: &SharedFrame) {
            self.frames.lock().unwrap().push(frame.clone());
        }
        fn intercept(&self, chan_key: u64, broadcast: Arc<Broadcast>) {
            self.intercepts
                .lock()
                .unwrap()
                .push((chan_key, broadcast.event.clone()));
        }
        fn disconnect(&self) {
            *self.disconnects.lock().unwrap() += 1;
        }
    }

    fn text(f: &SharedFrame) -> &[u8] {
        match f {
            SharedFrame::Text(b) => b,
            SharedFrame::Binary(_) => panic!("text frame expected"),
        }
    }

    #[test]
    fn fastlane_encodes_once_and_shares_the_bytes() {
        let local = LocalDelivery::new();
        let subs: Vec<Arc<Recorder>> = (0..3).map(|_| Arc::default()).collect();
        for (sub, vsn) in subs.iter().zip([Vsn::V2, Vsn::V2, Vsn::V1]) {
            let kind = SubKind::Channel {
                chan_key: 1,
                vsn,
                intercepts: &["request_ping"],
            };
            local.subscribe("ping", sub.clone(), kind);
        }
        local.deliver(&Broadcast::new(
            "ping",
            "plain_event",
            Payload::Json(json!({"n": 1})),
        ));
        let got: Vec<SharedFrame> = subs
            .iter()
            .map(|s| s.frames.lock().unwrap()[0].clone())
            .collect();
        assert_eq!(
            text(&got[0]),
            br#"[null,null,"ping","plain_event",{"n":1}]"#
        );
        // The same allocation, not an equal copy.
        assert_eq!(text(&got[0]).as_ptr(), text(&got[1]).as_ptr());
        assert_eq!(
            text(&got[2]),
            br#"{"event":"plain_event","payload":{"n":1},"ref":null,"topic":"ping"}"#
        );
    }

    #[test]
    fn intercepted_events_go_to_the_subscriber_and_unsubscribe_stops_delivery() {
        let local = LocalDelivery::new();
        let a = Arc::new(Recorder::default());
        let kind = SubKind::Channel {
            chan_key: 7,
            vsn: Vsn::V2,
            intercepts: &["request_ping"],
        };
        let sub = local.subscribe("ping", a.clone(), kind);
        local.deliver(&Broadcast::new(
            "ping",
            "request_ping",
            Payload::empty_object(),
        ));
        assert!(
            a.frames.lock().unwrap().is_empty(),
            "intercepted events skip the fastlane"
        );
        assert_eq!(
            *a.intercepts.lock().unwrap(),
            vec![(7, "request_ping".to_owned())]
        );
        assert_eq!(local.subscriber_count("ping"), 1);
        local.unsubscribe(&sub);
        assert_eq!(local.subscriber_count("ping"), 0);
        local.deliver(&Broadcast::new(
            "ping",
            "plain_event",
            Payload::empty_object(),
        ));
        assert!(a.frames.lock().unwrap().is_empty());
    }

    #[test]
    fn only_disconnect_reaches_a_socket_id_subscription() {
        let local = LocalDelivery::new();
        let a = Arc::new(Recorder::default());
        local.subscribe("user_socket:1", a.clone(), SubKind::SocketId);
        local.deliver(&Broadcast::new(
            "user_socket:1",
            "other",
            Payload::empty_object(),
        ));
        assert_eq!(*a.disconnects.lock().unwrap(), 0);
        local.deliver(&Broadcast::new(
            "user_socket:1",
            "disconnect",
            Payload::empty_object(),
        ));
        assert_eq!(*a.disconnects.lock().unwrap(), 1);
        assert!(a.frames.lock().unwrap().is_empty());
    }
}
