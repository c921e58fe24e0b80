//! Test support: a few real node identities that carry an onion request the
//! way nodes do (peel with `nightjar_crypto::onion::peel`, answer with the
//! reply keys), with faults injected at chosen positions.

#![allow(clippy::unwrap_used)]

use std::net::SocketAddr;

use nightjar_crypto::identity::{Identity, Seed};
use nightjar_crypto::onion::{HopFailure, Peeled, peel};
use nightjar_registry::{NodeEntry, NodeId};
use nightjar_wire::{ErrorCode, Request, Response, ResponseBody};

use crate::ClientError;
use crate::call::OnionAttempt;

/// What goes wrong while a request travels.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Fault {
    /// Nothing.
    None,
    /// The guard cannot be reached at all.
    GuardUnreachable,
    /// The guard answers an error instead of relaying.
    GuardRefuses,
    /// The node at this position of guard → relay → relay → destination
    /// (1..=3) does not answer: the node before it reports a hop error.
    Silent(usize),
    /// The destination answers bytes that are not a response frame.
    DestinationGarbage,
}

/// Real identities for `n` nodes, each in its own /24.
pub struct Net {
    ids: Vec<Identity>,
    /// The registry's view of them.
    pub nodes: Vec<NodeEntry>,
}

impl Net {
    /// `n` nodes.
    pub fn new(n: u8) -> Net {
        let ids: Vec<Identity> = (1..=n)
            .map(|i| Identity::from_seed(Seed::from_bytes([i; 32])))
            .collect();
        let nodes = ids
            .iter()
            .zip(1..=n)
            .map(|(id, i)| NodeEntry {
                id: NodeId(id.public_key()),
                addr: format!("10.0.{i}.1:4000").parse::<SocketAddr>().unwrap(),
            })
            .collect();
        Net { ids, nodes }
    }

    fn identity(&self, key: &[u8; 32]) -> &Identity {
        self.ids
            .iter()
            .find(|id| id.public_key().as_bytes() == key)
            .unwrap()
    }

    /// Carry `attempt` to its destination and back, the destination
    /// answering with `answer`. Returns what the guard answers the client.
    pub fn carry(
        &self,
        attempt: &OnionAttempt,
        fault: Fault,
        answer: &dyn Fn(&Request) -> Response,
    ) -> Result<Response, ClientError> {
        let Request::Onion(onion) = attempt.request() else {
            panic!("not an onion request")
        };
        match fault {
            Fault::GuardUnreachable => {
                return Err(ClientError::Transport {
                    addr: attempt.guard().addr,
                    source: nightjar_transport::TransportError::Timeout(attempt.timeout()),
                });
            }
            Fault::GuardRefuses => {
                return Ok(Response::error(5, ErrorCode::Unavailable, "busy"));
            }
            _ => {}
        }
        let guard = attempt.guard().id.0.to_bytes();
        let blob = self.visit(0, &guard, &onion.ephemeral_key, &onion.layer, fault, answer);
        Ok(Response {
            node_time_ms: 5,
            body: ResponseBody::Onion(blob),
        })
    }

    fn visit(
        &self,
        position: usize,
        key: &[u8; 32],
        ephemeral: &[u8; 32],
        layer: &[u8],
        fault: Fault,
        answer: &dyn Fn(&Request) -> Response,
    ) -> Vec<u8> {
        let (peeled, reply) = peel(self.identity(key), ephemeral, layer).unwrap();
        match peeled {
            Peeled::Forward {
                next,
                ephemeral_key,
                layer,
                ..
            } => {
                if fault == Fault::Silent(position + 1) {
                    return reply.hop_error(HopFailure::TimedOut);
                }
                let inner = self.visit(position + 1, &next, &ephemeral_key, &layer, fault, answer);
                reply.relayed(&inner)
            }
            Peeled::Deliver { request_frame } => {
                if fault == Fault::DestinationGarbage {
                    return reply.final_response(&[0, 0, 0, 3, 9, 9, 9]).unwrap();
                }
                let request = Request::from_frame(&request_frame).unwrap();
                reply.final_response(&answer(&request).to_frame()).unwrap()
            }
        }
    }
}
