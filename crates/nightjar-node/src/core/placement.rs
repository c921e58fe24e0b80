//! Where an account's requests belong (this swarm or another) and how many
//! copies acknowledge a store.

use nightjar_registry::NodeEntry;
use nightjar_wire::SwarmInfo;

/// How many durable copies a store needs before it is acknowledged.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum WriteQuorum {
    /// A majority of the swarm: `members / 2 + 1`.
    Majority,
    /// A fixed number of members (capped at the swarm's size).
    Count(usize),
}

impl WriteQuorum {
    /// The quorum for a swarm of `members` nodes.
    pub fn of(self, members: usize) -> usize {
        match self {
            WriteQuorum::Majority => members / 2 + 1,
            WriteQuorum::Count(n) => n.clamp(1, members.max(1)),
        }
    }
}

/// Where an account's requests belong, from this node's point of view.
pub(crate) enum Placement {
    /// This node serves it; these are the other members and the quorum.
    Here {
        peers: Vec<NodeEntry>,
        quorum: usize,
    },
    /// Another swarm holds it.
    Elsewhere(SwarmInfo),
}
