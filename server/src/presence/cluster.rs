//! Presence across nodes, over the pub/sub backplane (in-process bus or Redis): no broker state.
//!
//! Each node owns the presences its channels track and publishes every change as a delta on
//! the internal topic [`CLUSTER_TOPIC`]; every node applies the others' deltas to its view and
//! broadcasts them to its own subscribers as ordinary `presence_diff`s. Every [`BEAT`] a node
//! that tracks presences publishes a heartbeat with a digest (count and hash of its entries;
//! a node with none stays silent). A node that sees a digest
//! differ from its view of the sender (it started late, missed messages in a Redis outage) asks
//! for that node's state and replaces its view with it, reporting the differences as joins and
//! leaves. A node not heard from for [`NODE_TIMEOUT`] (killed, cut off) has its presences
//! removed, as leaves.
//!
//! Deltas are published from one task per node in the order the state changed, so a receiver
//! sees one node's changes in order (the backplane keeps one publisher's order). Unlike
//! Phoenix.Tracker's CRDT, which merges node states pairwise with vector clocks over Erlang
//! distribution, this needs the backplane to be up for changes to spread, and a partition heals
//! by re-sending whole node states, not by merging deltas.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use phx_protocol::{Broadcast, Payload, Vsn};
use serde_json::{json, Value};
use tokio::sync::mpsc;
use tokio::time::Instant;

use super::state::{Entry, Owner};
use super::{Meta, Presence};
use crate::pubsub::{SharedFrame, SubKind, Subscriber};

/// The internal topic presence messages travel on (no socket routes it).
pub const CLUSTER_TOPIC: &str = "phx_presence:cluster";
/// How often each node publishes its heartbeat.
pub const BEAT: Duration = Duration::from_millis(500);
/// A node not heard from for this long is gone: its presences leave. With [`BEAT`], a killed
/// node's presences leave between 3 and 3.5 s after its last heartbeat.
pub const NODE_TIMEOUT: Duration = Duration::from_secs(3);
/// Deltas waiting for the publisher task; beyond this a delta is dropped and the next
/// heartbeat's digest repairs the other views.
const OUTBOX: usize = 65_536;

const EVENTS: &[&str] = &["join", "update", "leave", "beat", "sync", "state"];

/// A node's side of the cluster: the ordered outbox of its messages.
pub(super) struct Link {
    outbox: mpsc::Sender<Broadcast>,
}

impl Link {
    fn send(&self, event: &str, payload: Value) {
        let _ = self
            .outbox
            .try_send(Broadcast::new(CLUSTER_TOPIC, event, Payload::Json(payload)));
    }

    pub(super) fn publish_join(&self, topic: &str, entry: &Entry) {
        self.send(
            "join",
            json!({"node": entry.owner.node, "topic": topic, "id": entry.owner.id, "key": entry.key, "meta": entry.meta}),
        );
    }

    pub(super) fn publish_update(&self, topic: &str, owner: &Owner, key: &str, meta: &Meta) {
        self.send(
            "update",
            json!({"node": owner.node, "topic": topic, "id": owner.id, "key": key, "meta": meta}),
        );
    }

    pub(super) fn publish_leave(&self, topic: &str, owner: &Owner, key: &str) {
        self.send(
            "leave",
            json!({"node": owner.node, "topic": topic, "id": owner.id, "key": key}),
        );
    }
}

/// Receives the other nodes' presence messages from the local registry and hands them to the
/// node's cluster task (never handled inside the registry's delivery, which holds its lock).
struct Receiver {
    inbox: mpsc::Sender<Arc<Broadcast>>,
}

impl Subscriber for Receiver {
    fn fastlane(&self, _frame: &SharedFrame) {}

    fn intercept(&self, _chan_key: u64, broadcast: Arc<Broadcast>) {
        // Full: dropped; the sender's next heartbeat digest repairs the view.
        let _ = self.inbox.try_send(broadcast);
    }

    fn disconnect(&self) {}
}

fn entry_of(v: &Value) -> Option<(String, Entry)> {
    Some((
        v.get("topic")?.as_str()?.to_owned(),
        Entry {
            owner: Owner {
                node: v.get("node")?.as_str()?.to_owned(),
                id: v.get("id")?.as_u64()?,
            },
            key: v.get("key")?.as_str()?.to_owned(),
            meta: v.get("meta")?.as_object()?.clone(),
        },
    ))
}

/// One message from another node (malformed ones are ignored: the digest repairs the view).
fn handle(p: &Presence, peers: &Mutex<HashMap<String, Instant>>, event: &str, v: &Value) {
    let Some(node) = v.get("node").and_then(Value::as_str) else {
        return;
    };
    if node == p.node() {
        return;
    }
    if let Ok(mut peers) = peers.lock() {
        peers.insert(node.to_owned(), Instant::now());
    }
    match event {
        "join" => {
            if let Some((topic, entry)) = entry_of(v) {
                let mut state = p.state();
                let diff = state.join(&topic, entry);
                p.changed(&topic, &diff);
            }
        }
        "update" => {
            if let Some((topic, entry)) = entry_of(v) {
                let mut state = p.state();
                let diff = state.update(&topic, &entry.owner, &entry.key, entry.meta);
                p.changed(&topic, &diff);
            }
        }
        "leave" => {
            let (Some(topic), Some(id), Some(key)) = (
                v.get("topic").and_then(Value::as_str),
                v.get("id").and_then(Value::as_u64),
                v.get("key").and_then(Value::as_str),
            ) else {
                return;
            };
            let owner = Owner {
                node: node.to_owned(),
                id,
            };
            let mut state = p.state();
            let diff = state.leave(topic, &owner, key);
            p.changed(topic, &diff);
        }
        "state" => {
            let entries: Vec<(String, Entry)> = v
                .get("entries")
                .and_then(Value::as_array)
                .map(|es| {
                    es.iter()
                        .filter_map(entry_of)
                        .filter(|(_, e)| e.owner.node == node)
                        .collect()
                })
                .unwrap_or_default();
            let mut state = p.state();
            for (topic, diff) in state.replace_node(node, entries) {
                p.changed(&topic, &diff);
            }
        }
        "beat" => {
            let digest = (
                v.get("count").and_then(Value::as_u64).unwrap_or(0),
                v.get("sum").and_then(Value::as_u64).unwrap_or(0),
            );
            if p.state().digest(node) != digest {
                if let Some(link) = p.inner.cluster.get() {
                    link.send("sync", json!({"node": p.node(), "of": node}));
                }
            }
        }
        "sync" if v.get("of").and_then(Value::as_str) == Some(p.node()) => send_state(p),
        _ => {}
    }
}

fn send_state(p: &Presence) {
    let state = p.state();
    let entries: Vec<Value> = state
        .entries_of(p.node())
        .into_iter()
        .map(|(topic, e)| {
            json!({"node": e.owner.node, "topic": topic, "id": e.owner.id, "key": e.key, "meta": e.meta})
        })
        .collect();
    // Queued under the lock: the state is ordered with the deltas around it.
    if let Some(link) = p.inner.cluster.get() {
        link.send("state", json!({"node": p.node(), "entries": entries}));
    }
}

impl Presence {
    /// Shares this node's presences with the other nodes on its backplane: subscribes to
    /// [`CLUSTER_TOPIC`] and starts the publisher and heartbeat tasks. Needs a tokio runtime;
    /// a second call does nothing. A node without a backplane needs no call.
    pub fn start_cluster(&self) {
        let (tx, mut rx) = mpsc::channel::<Broadcast>(OUTBOX);
        if self.inner.cluster.set(Link { outbox: tx }).is_err() {
            return;
        }
        let peers: Arc<Mutex<HashMap<String, Instant>>> = Arc::new(Mutex::new(HashMap::new()));
        let (in_tx, mut in_rx) = mpsc::channel::<Arc<Broadcast>>(OUTBOX);
        let receiver: Arc<dyn Subscriber> = Arc::new(Receiver { inbox: in_tx });
        self.inner.pubsub.local().subscribe(
            CLUSTER_TOPIC,
            receiver,
            SubKind::Channel {
                chan_key: 0,
                vsn: Vsn::V2,
                intercepts: EVENTS,
            },
        );
        let pubsub = self.inner.pubsub.clone();
        crate::spawn::spawn(async move {
            while let Some(b) = rx.recv().await {
                pubsub.broadcast(&b);
            }
        });
        let (weak, seen) = (Arc::downgrade(&self.inner), peers.clone());
        crate::spawn::spawn(async move {
            while let Some(b) = in_rx.recv().await {
                let Some(inner) = weak.upgrade() else { return };
                if let Payload::Json(v) = &b.payload {
                    handle(&Presence { inner }, &seen, &b.event, v);
                }
            }
        });
        let weak = Arc::downgrade(&self.inner);
        crate::spawn::spawn(async move {
            let mut tick = tokio::time::interval(BEAT);
            loop {
                tick.tick().await;
                let Some(inner) = weak.upgrade() else { return };
                let p = Presence { inner };
                {
                    // Queued under the lock, so the digest matches the deltas before it. A node
                    // without presences is silent: the others' view of it is empty anyway, and
                    // after the timeout they drop nothing, so apps that never track add no
                    // traffic to the backplane.
                    let state = p.state();
                    let (count, sum) = state.digest(p.node());
                    if let (true, Some(link)) = (count > 0, p.inner.cluster.get()) {
                        link.send(
                            "beat",
                            json!({"node": p.node(), "count": count, "sum": sum}),
                        );
                    }
                }
                let dead: Vec<String> = match peers.lock() {
                    Ok(mut peers) => {
                        let now = Instant::now();
                        let dead: Vec<String> = peers
                            .iter()
                            .filter(|(_, seen)| now.duration_since(**seen) > NODE_TIMEOUT)
                            .map(|(n, _)| n.clone())
                            .collect();
                        for n in &dead {
                            peers.remove(n);
                        }
                        dead
                    }
                    Err(_) => Vec::new(),
                };
                for node in dead {
                    let mut state = p.state();
                    let gone = state.remove_node(&node);
                    if !gone.is_empty() {
                        tracing::warn!(%node, "presence: node silent for {NODE_TIMEOUT:?}, its presences leave");
                    }
                    for (topic, diff) in gone {
                        p.changed(&topic, &diff);
                    }
                }
            }
        });
    }
}
