//! Pub/sub: a node's local subscription registry plus an optional [`Backplane`] to other nodes.
//!
//! A broadcast published on a node is delivered locally at once (see [`local`]) and handed to
//! the backplane, which forwards it to the other nodes. Messages arriving from other nodes are
//! delivered locally only, so a node never delivers its own broadcast twice.
//! [`in_process::InProcessBus`] joins nodes living in one process (tests, the conformance
//! suite's two-node cluster); [`redis::RedisBackplane`] joins processes through Redis pub/sub.

pub mod in_process;
pub mod local;
pub mod redis;

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use phx_protocol::Broadcast;

pub use local::{LocalDelivery, SharedFrame, SubKind, Subscriber, SubscriptionRef};

/// Identifies one running node: its Erlang-style name plus a process-unique instance number,
/// so that two nodes with the same name in one process are still told apart.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct NodeId {
    /// The node name (`Config::node_name`).
    pub name: String,
    /// Unique per started server in this process.
    pub instance: u64,
}

impl NodeId {
    /// A fresh id for a node named `name`.
    pub fn new(name: impl Into<String>) -> Self {
        static NEXT: AtomicU64 = AtomicU64::new(1);
        NodeId {
            name: name.into(),
            instance: NEXT.fetch_add(1, Ordering::Relaxed),
        }
    }
}

/// Forwards broadcasts between nodes (Phoenix.PubSub's adapter: PG2, Redis, …).
///
/// Contract: [`Backplane::publish`] must not block (queue the work and return) and must not hand
/// the message back to `origin`. Messages from other nodes go to the [`LocalDelivery`] given to
/// [`Backplane::attach`], which delivers them locally only.
pub trait Backplane: Send + Sync + 'static {
    /// A node starts: deliver messages published by *other* nodes to `local`.
    fn attach(&self, node: &NodeId, local: LocalDelivery);
    /// A node stops: forget it.
    fn detach(&self, node: &NodeId);
    /// Forward a broadcast that `origin` has already delivered locally.
    fn publish(&self, origin: &NodeId, broadcast: &Broadcast);
}

/// A node's pub/sub: local delivery first, then the backplane. Cheap to clone.
#[derive(Clone)]
pub struct PubSub {
    node: NodeId,
    local: LocalDelivery,
    backplane: Option<Arc<dyn Backplane>>,
}

impl PubSub {
    /// A pub/sub for `node`, attached to `backplane` when given.
    pub fn new(node: NodeId, backplane: Option<Arc<dyn Backplane>>) -> Self {
        let local = LocalDelivery::new();
        if let Some(bp) = &backplane {
            bp.attach(&node, local.clone());
        }
        PubSub {
            node,
            local,
            backplane,
        }
    }

    /// This node's id.
    pub fn node(&self) -> &NodeId {
        &self.node
    }

    /// `Endpoint.broadcast/3`: deliver to local subscribers, then forward to other nodes.
    pub fn broadcast(&self, broadcast: &Broadcast) {
        self.local.deliver(broadcast);
        if let Some(bp) = &self.backplane {
            bp.publish(&self.node, broadcast);
        }
    }

    /// The local registry (subscribe/unsubscribe, local-only delivery).
    pub fn local(&self) -> &LocalDelivery {
        &self.local
    }

    /// Detaches from the backplane (server shutdown).
    pub fn detach(&self) {
        if let Some(bp) = &self.backplane {
            bp.detach(&self.node);
        }
    }
}
