//! The registry as a node core sees it: the swarm map, the nodes by key, every
//! node key the log ever named, and the snapshot served to `get_registry`.
//!
//! Built once per registry version and shared by `Arc`: a simulator hands the
//! same view to thousands of cores, so nothing per node copies the map.
//! Not here: reading the registry file (the driver polls it; it is I/O).

use std::collections::{HashMap, HashSet};

use nightjar_registry::{NodeEntry, Registry, RegistryError, SwarmMap};
use nightjar_types::NodeKey;

use crate::core::{RegistrySnapshot, node_key_of};

/// One version of the registry, as every node core needs it.
#[derive(Debug, Clone)]
pub struct RegistryView {
    /// The swarm map replayed from the registry.
    pub map: SwarmMap,
    /// The map's nodes by their key bytes (an onion hop looks one up).
    pub nodes_by_key: HashMap<NodeKey, NodeEntry>,
    /// Every node key the registry log ever named, current nodes included
    /// (a node that left may still hand its data over).
    pub known_nodes: HashSet<NodeKey>,
    /// What `get_registry` answers, if the node serves one.
    pub snapshot: Option<RegistrySnapshot>,
}

impl RegistryView {
    /// The view of `map`, with the keys of every node the log ever named and
    /// the snapshot to serve.
    pub fn new(
        map: SwarmMap,
        known_nodes: impl IntoIterator<Item = NodeKey>,
        snapshot: Option<RegistrySnapshot>,
    ) -> RegistryView {
        let nodes_by_key: HashMap<NodeKey, NodeEntry> = map
            .nodes()
            .into_iter()
            .map(|n| (node_key_of(&n.id.0), n))
            .collect();
        let mut known_nodes: HashSet<NodeKey> = known_nodes.into_iter().collect();
        known_nodes.extend(nodes_by_key.keys().copied());
        RegistryView {
            map,
            nodes_by_key,
            known_nodes,
            snapshot,
        }
    }

    /// The view of a loaded registry (map, every node it ever named, snapshot).
    pub fn of_registry(registry: &Registry) -> Result<RegistryView, RegistryError> {
        let known: Vec<NodeKey> = registry
            .log()
            .iter()
            .filter_map(|e| match e {
                nightjar_registry::RegistryEvent::Join { node } => Some(node_key_of(&node.id.0)),
                _ => None,
            })
            .collect();
        Ok(RegistryView::new(
            registry.swarm_map()?,
            known,
            Some(RegistrySnapshot::of(registry)),
        ))
    }
}
