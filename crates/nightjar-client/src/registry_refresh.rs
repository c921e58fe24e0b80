//! When a client adopts a registry snapshot a node offers, sans-IO.
//!
//! The rule: adopt an offered snapshot (already checked against its hash and
//! network, see [`crate::bootstrap::registry_of`]) when its hash differs from
//! the one in use and its height (events in the log) is not lower. Ask a
//! node that is not one of the guards ([`refresh_candidates`]).
//!
//! Not here: fetching it, saving it.

use nightjar_registry::{NodeEntry, NodeId, Registry};

/// A snapshot's identity: its hash and height.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SnapshotId {
    /// `registry_snapshot_hash` of its text.
    pub hash: [u8; 32],
    /// Events in its log.
    pub height: u64,
}

impl SnapshotId {
    /// The identity of `registry`.
    pub fn of(registry: &Registry) -> SnapshotId {
        SnapshotId {
            hash: nightjar_crypto::hash::registry_snapshot_hash(registry.to_toml().as_bytes()),
            height: registry.height(),
        }
    }
}

/// Whether to replace the snapshot `current` by `offered`.
pub fn should_adopt(current: SnapshotId, offered: SnapshotId) -> bool {
    offered.hash != current.hash && offered.height >= current.height
}

/// The nodes a refresh may ask: every node but the guards.
pub fn refresh_candidates(nodes: &[NodeEntry], guards: &[NodeId]) -> Vec<NodeEntry> {
    nodes
        .iter()
        .filter(|n| !guards.contains(&n.id))
        .cloned()
        .collect()
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use crate::testnet::Net;
    use nightjar_registry::RegistryEvent;

    #[test]
    fn a_longer_different_snapshot_is_adopted_and_a_shorter_one_is_not() {
        let net = Net::new(6);
        let old = Registry::genesis("devnet", net.nodes[..5].to_vec());
        let mut new = old.clone();
        new.append(RegistryEvent::Join {
            node: net.nodes[5].clone(),
        })
        .unwrap();
        let (old, new) = (SnapshotId::of(&old), SnapshotId::of(&new));
        assert_eq!(new.height, old.height + 1);
        assert!(should_adopt(old, new));
        assert!(!should_adopt(new, old), "never go back");
        assert!(!should_adopt(new, new), "the same snapshot changes nothing");
    }

    #[test]
    fn a_different_snapshot_of_the_same_height_is_adopted() {
        let net = Net::new(6);
        let a = SnapshotId::of(&Registry::genesis("devnet", net.nodes[..5].to_vec()));
        let b = SnapshotId::of(&Registry::genesis("devnet", net.nodes[1..].to_vec()));
        assert_eq!(a.height, b.height);
        assert!(should_adopt(a, b));
    }

    #[test]
    fn a_refresh_never_asks_a_guard() {
        let net = Net::new(4);
        let guards = [net.nodes[0].id, net.nodes[2].id];
        let c = refresh_candidates(&net.nodes, &guards);
        assert_eq!(c, vec![net.nodes[1].clone(), net.nodes[3].clone()]);
    }
}
