//! An in-process backplane: several servers in one process share broadcasts.

use std::sync::{Arc, RwLock};

use phx_protocol::Broadcast;

use super::{Backplane, LocalDelivery, NodeId};

/// Joins the nodes of one process into a cluster, like Erlang distribution joins BEAM nodes.
/// Create one with [`InProcessBus::new`] and give a clone to each server.
#[derive(Default)]
pub struct InProcessBus {
    nodes: RwLock<Vec<(NodeId, LocalDelivery)>>,
}

impl InProcessBus {
    /// An empty bus, ready to share.
    pub fn new() -> Arc<Self> {
        Arc::new(InProcessBus::default())
    }

    /// How many nodes are attached.
    pub fn node_count(&self) -> usize {
        self.nodes.read().map(|n| n.len()).unwrap_or(0)
    }
}

impl Backplane for InProcessBus {
    fn attach(&self, node: &NodeId, local: LocalDelivery) {
        if let Ok(mut nodes) = self.nodes.write() {
            nodes.push((node.clone(), local));
        }
    }

    fn detach(&self, node: &NodeId) {
        if let Ok(mut nodes) = self.nodes.write() {
            nodes.retain(|(id, _)| id != node);
        }
    }

    fn publish(&self, origin: &NodeId, broadcast: &Broadcast) {
        let targets: Vec<LocalDelivery> = match self.nodes.read() {
            Ok(nodes) => nodes
                .iter()
                .filter(|(id, _)| id != origin)
                .map(|(_, l)| l.clone())
                .collect(),
            Err(_) => return,
        };
        for local in targets {
            local.deliver(broadcast);
        }
    }
}
