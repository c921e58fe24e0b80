//! Bounded work per peer for the requests that outlive their cause:
//! replicas (which keep going after the client's answer), delete forwards
//! and hand-off copies.
//!
//! At most [`CoreConfig::max_peer_in_flight`](super::CoreConfig) of them
//! are sent to one node at a time; the next
//! [`CoreConfig::max_peer_queue`](super::CoreConfig) wait in order and are
//! sent as answers come back; beyond that a request is refused at once
//! ([`PeerFailure::Overloaded`](super::PeerFailure)), so the write quorum
//! decides on the other members and anti-entropy carries the copy later. A
//! member that is down therefore costs at most that many requests (and the
//! copies of data they hold), however many stores arrive.
//!
//! Not bounded here: sync requests (one at a time per round) and onion
//! relays (one per incoming stream, which the transport limits).
//! Not here: timeouts (the core's peer deadlines cover the time queued).

use std::collections::{HashMap, VecDeque};

use nightjar_registry::{NodeEntry, NodeId};
use nightjar_wire::Request;

use super::OpId;

/// A request waiting for its turn.
#[derive(Debug)]
pub(crate) struct Queued {
    /// Names the request.
    pub op: OpId,
    /// The node.
    pub to: NodeEntry,
    /// The request.
    pub request: Box<Request>,
    /// When the core gives up on it (Unix ms, its own deadline).
    pub deadline_ms: u64,
}

/// One node's requests.
#[derive(Debug, Default)]
struct Peer {
    in_flight: Vec<OpId>,
    queue: VecDeque<Queued>,
}

/// What became of a request handed to [`PeerQueues::submit`].
#[derive(Debug)]
pub(crate) enum Admitted {
    /// Send it now.
    Send(Box<Queued>),
    /// It waits for its turn.
    Queued,
    /// Refused: the node has too many already.
    Refused,
}

/// The bounded requests of every peer.
#[derive(Debug, Default)]
pub(crate) struct PeerQueues {
    peers: HashMap<NodeId, Peer>,
    /// The node each bounded request in flight or queued is for.
    ops: HashMap<OpId, NodeId>,
}

impl PeerQueues {
    /// A request for `queued.to`: send it if fewer than `max_in_flight` are
    /// in flight there, queue it if fewer than `max_queue` wait, else refuse it.
    pub fn submit(&mut self, queued: Queued, max_in_flight: usize, max_queue: usize) -> Admitted {
        let id = queued.to.id;
        let peer = self.peers.entry(id).or_default();
        if peer.in_flight.len() < max_in_flight {
            peer.in_flight.push(queued.op);
            self.ops.insert(queued.op, id);
            Admitted::Send(Box::new(queued))
        } else if peer.queue.len() < max_queue {
            self.ops.insert(queued.op, id);
            peer.queue.push_back(queued);
            Admitted::Queued
        } else {
            Admitted::Refused
        }
    }

    /// Request `op` is over (answered, timed out or cancelled): if it was in
    /// flight, the next waiting request of its node, to send now.
    pub fn done(&mut self, op: OpId) -> Option<Queued> {
        let id = self.ops.remove(&op)?;
        let peer = self.peers.get_mut(&id)?;
        let next = match peer.in_flight.iter().position(|o| *o == op) {
            Some(i) => {
                peer.in_flight.swap_remove(i);
                let next = peer.queue.pop_front();
                if let Some(n) = &next {
                    peer.in_flight.push(n.op);
                }
                next
            }
            None => {
                peer.queue.retain(|q| q.op != op);
                None
            }
        };
        if peer.in_flight.is_empty() && peer.queue.is_empty() {
            self.peers.remove(&id);
        }
        next
    }

    /// Requests in flight to all nodes.
    pub fn in_flight(&self) -> usize {
        self.peers.values().map(|p| p.in_flight.len()).sum()
    }

    /// Requests waiting for their turn, for all nodes.
    pub fn queued(&self) -> usize {
        self.peers.values().map(|p| p.queue.len()).sum()
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use nightjar_crypto::identity::Identity;

    fn node() -> NodeEntry {
        NodeEntry {
            id: NodeId(Identity::generate().unwrap().public_key()),
            addr: "127.0.0.1:1".parse().unwrap(),
        }
    }

    fn req(op: u64, to: &NodeEntry) -> Queued {
        Queued {
            op: OpId(op),
            to: to.clone(),
            request: Box::new(Request::Info),
            deadline_ms: 0,
        }
    }

    #[test]
    fn a_peer_gets_a_bounded_number_in_flight_and_queued_and_the_rest_is_refused() {
        let (a, b) = (node(), node());
        let mut q = PeerQueues::default();
        assert!(matches!(q.submit(req(1, &a), 2, 1), Admitted::Send(_)));
        assert!(matches!(q.submit(req(2, &a), 2, 1), Admitted::Send(_)));
        assert!(matches!(q.submit(req(3, &a), 2, 1), Admitted::Queued));
        assert!(matches!(q.submit(req(4, &a), 2, 1), Admitted::Refused));
        // Another node has its own bound.
        assert!(matches!(q.submit(req(5, &b), 2, 1), Admitted::Send(_)));
        assert_eq!((q.in_flight(), q.queued()), (3, 1));
        // An answer lets the queued one go.
        assert_eq!(q.done(OpId(1)).map(|n| n.op), Some(OpId(3)));
        assert_eq!((q.in_flight(), q.queued()), (3, 0));
        assert!(matches!(q.submit(req(6, &a), 2, 1), Admitted::Queued));
        // A queued one that is cancelled just leaves the queue.
        assert!(q.done(OpId(6)).is_none());
        assert!(q.done(OpId(4)).is_none(), "refused: never tracked");
        for op in [2, 3, 5] {
            assert!(q.done(OpId(op)).is_none());
        }
        assert_eq!((q.in_flight(), q.queued()), (0, 0));
        assert!(q.peers.is_empty() && q.ops.is_empty());
    }
}
