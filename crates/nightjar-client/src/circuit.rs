//! The client's circuits, without I/O (`docs/PROTOCOL.md` §11.10–11.11):
//! one [`ClientCircuit`] per account, built through a path to one swarm
//! member, carrying that account's requests only.
//!
//! A circuit is built with [`ClientCircuit::build`] (which returns the
//! `create` cell for the guard), becomes ready when *created* arrives
//! ([`ClientCircuit::handle_cell`]), cuts each request into cells
//! ([`ClientCircuit::request`]) and reassembles the answers. It refuses a
//! request for another account before anything is sent, and says when it is
//! too old to take a new request ([`CIRCUIT_MAX_USE_MS`]).
//!
//! Not here: the socket, waiting, retrying or falling back to v1 layers
//! (the driver decides with what this returns), or choosing the path
//! ([`crate::paths`]).

use std::collections::HashMap;

use nightjar_crypto::RandomSource;
use nightjar_crypto::circuit::{
    Backward, Cell, CircuitError, CircuitId, CircuitKeys, DestroyReason, FRAGMENT_HEADER_LEN,
    Payload, Reassembly, ReplayWindow, build_create, destroy_cell, fragments, pad_request,
    unpad_response,
};
use nightjar_registry::NodeEntry;
use nightjar_types::AccountKey;

/// A circuit takes no new request once this old (60 s before relays drop it).
pub const CIRCUIT_MAX_USE_MS: u64 = 540_000;
/// How long the client waits for *created*.
pub const CIRCUIT_BUILD_TIMEOUT_MS: u64 = 2_000;
/// After an account's circuit failed to build, or failed on a rebuilt
/// circuit too, its mailbox requests go through v1 layers for this long
/// (v1 blames the failing hop and changes paths; a circuit cannot tell
/// which hop is gone).
pub const CIRCUIT_RETRY_AFTER_MS: u64 = 30_000;

/// Why a circuit cannot take a request.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum CircuitRefusal {
    /// The circuit belongs to another account (§11.11: never mixed).
    #[error("this circuit carries another account's requests")]
    OtherAccount,
    /// The circuit is older than [`CIRCUIT_MAX_USE_MS`].
    #[error("the circuit is too old for a new request")]
    TooOld,
    /// The circuit is not ready (still building, or broken).
    #[error("the circuit is not ready")]
    NotReady,
    /// The request does not fit a circuit.
    #[error("the request does not fit a circuit: {0}")]
    TooLarge(CircuitError),
}

/// What a received cell meant for the circuit.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum CircuitEvent {
    /// The circuit is ready.
    Created,
    /// The complete answer (a response frame) to a request.
    Answer {
        /// The request.
        request_id: u32,
        /// The response frame.
        frame: Vec<u8>,
    },
    /// The exit could not answer a request (codes of §11.10: 1 too large,
    /// 2 another account, 3 busy).
    Refused {
        /// The request.
        request_id: u32,
        /// The code.
        code: u8,
    },
    /// The circuit is gone: a `destroy`, or a relay's error.
    Broken(String),
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum State {
    Building,
    Ready,
    Broken,
}

/// One circuit (see the module doc).
pub struct ClientCircuit {
    id: CircuitId,
    keys: CircuitKeys,
    account: AccountKey,
    hops: Vec<NodeEntry>,
    guard: NodeEntry,
    exit: NodeEntry,
    created_ms: u64,
    state: State,
    next_seq: u64,
    next_request: u32,
    backward: ReplayWindow,
    pending: HashMap<u32, Option<Reassembly>>,
}

impl std::fmt::Debug for ClientCircuit {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ClientCircuit")
            .field("hops", &self.keys.hops())
            .field("state", &self.state)
            .finish_non_exhaustive()
    }
}

impl ClientCircuit {
    /// Starts a circuit for `account` through `hops` (guard first, the
    /// account's swarm member last). Returns it and the `create` cell for the
    /// guard.
    pub fn build(
        rng: &mut dyn RandomSource,
        now_ms: u64,
        account: AccountKey,
        hops: &[NodeEntry],
    ) -> Result<(ClientCircuit, Vec<u8>), CircuitError> {
        let keys: Vec<_> = hops.iter().map(|h| h.id.0).collect();
        let (packet, circuit_keys) = build_create(rng, &keys)?;
        let mut id = [0u8; 8];
        rng.fill(&mut id)
            .map_err(|e| CircuitError::RandomUnavailable(e.to_string()))?;
        let id = CircuitId(u64::from_be_bytes(id));
        let (guard, exit) = match (hops.first(), hops.last()) {
            (Some(g), Some(e)) => (g.clone(), e.clone()),
            _ => return Err(CircuitError::HopCount(0)),
        };
        let cell = packet.cell(id);
        Ok((
            ClientCircuit {
                id,
                keys: circuit_keys,
                account,
                hops: hops.to_vec(),
                guard,
                exit,
                created_ms: now_ms,
                state: State::Building,
                next_seq: 0,
                next_request: 1,
                backward: ReplayWindow::new(),
                pending: HashMap::new(),
            },
            cell,
        ))
    }

    /// The circuit's ID on the link to the guard.
    pub fn id(&self) -> CircuitId {
        self.id
    }

    /// The guard (where cells go).
    pub fn guard(&self) -> &NodeEntry {
        &self.guard
    }

    /// The exit: the swarm member that handles the requests.
    pub fn exit(&self) -> &NodeEntry {
        &self.exit
    }

    /// The path, guard first, exit last.
    pub fn hops(&self) -> &[NodeEntry] {
        &self.hops
    }

    /// The account whose requests it carries.
    pub fn account(&self) -> &AccountKey {
        &self.account
    }

    /// When it was built (Unix ms).
    pub fn created_ms(&self) -> u64 {
        self.created_ms
    }

    /// Whether *created* arrived and nothing broke it since.
    pub fn is_ready(&self) -> bool {
        self.state == State::Ready
    }

    /// Whether it broke (destroyed, or a relay reported a failure).
    pub fn is_broken(&self) -> bool {
        self.state == State::Broken
    }

    /// Whether it can take a new request for `account` at `now_ms`.
    pub fn check(&self, account: &AccountKey, now_ms: u64) -> Result<(), CircuitRefusal> {
        if *account != self.account {
            return Err(CircuitRefusal::OtherAccount);
        }
        if self.state != State::Ready {
            return Err(CircuitRefusal::NotReady);
        }
        if now_ms.saturating_sub(self.created_ms) >= CIRCUIT_MAX_USE_MS {
            return Err(CircuitRefusal::TooOld);
        }
        Ok(())
    }

    /// The cells of a request frame for `account`; returns the request's ID
    /// (its answer arrives as [`CircuitEvent::Answer`] with it). Refused —
    /// with nothing sent — for another account, a circuit not ready or too
    /// old, or a frame too large for circuits.
    pub fn request(
        &mut self,
        account: &AccountKey,
        frame: &[u8],
        now_ms: u64,
    ) -> Result<(u32, Vec<Vec<u8>>), CircuitRefusal> {
        self.check(account, now_ms)?;
        let padded = pad_request(frame).map_err(CircuitRefusal::TooLarge)?;
        let request_id = self.next_request;
        let parts = fragments(request_id, &padded, self.keys.payload_len())
            .map_err(CircuitRefusal::TooLarge)?;
        let mut cells = Vec::with_capacity(parts.len());
        for x in parts {
            let cell = self
                .keys
                .forward_cell(self.id, self.next_seq, &x)
                .map_err(CircuitRefusal::TooLarge)?;
            self.next_seq += 1;
            cells.push(cell);
        }
        self.next_request = self.next_request.wrapping_add(1).max(1);
        self.pending.insert(request_id, None);
        Ok((request_id, cells))
    }

    /// Forgets a request the driver gave up on.
    pub fn abandon(&mut self, request_id: u32) {
        self.pending.remove(&request_id);
    }

    /// The `destroy` cell that closes the circuit (reason *closed*).
    pub fn close(&mut self) -> [u8; 10] {
        self.state = State::Broken;
        destroy_cell(self.id, DestroyReason::Closed)
    }

    /// A datagram received from the guard for this circuit (the caller
    /// checked its circuit ID with [`cell_circuit`]). Anything that does not
    /// open is ignored (`None`).
    pub fn handle_cell(&mut self, datagram: &[u8]) -> Option<CircuitEvent> {
        match Cell::parse(datagram).ok()? {
            Cell::Destroy { circuit, reason } if circuit == self.id => {
                self.state = State::Broken;
                Some(CircuitEvent::Broken(format!(
                    "destroyed ({})",
                    match DestroyReason::from_u8(reason) {
                        Some(DestroyReason::Unknown) => "a node no longer knows the circuit",
                        Some(DestroyReason::Expired) => "expired",
                        Some(DestroyReason::Closed) => "closed",
                        Some(DestroyReason::Unavailable) | None => "a node is full or unreachable",
                    }
                )))
            }
            Cell::Backward {
                circuit,
                seq,
                layer,
            } if circuit == self.id => {
                if !self.backward.is_fresh(seq) {
                    return None;
                }
                let opened = self.keys.open_backward(seq, layer).ok()?;
                self.backward.accept(seq);
                match opened {
                    Backward::RelayError { hop, code } => {
                        self.state = State::Broken;
                        Some(CircuitEvent::Broken(format!(
                            "hop {hop} reports error {code}"
                        )))
                    }
                    Backward::Payload(x) => self.payload(&x),
                }
            }
            _ => None,
        }
    }

    fn payload(&mut self, x: &[u8]) -> Option<CircuitEvent> {
        match Payload::parse(x).ok()? {
            Payload::Created if self.state == State::Building => {
                self.state = State::Ready;
                Some(CircuitEvent::Created)
            }
            Payload::Created => None,
            Payload::Error { request_id, code } => {
                self.pending.remove(&request_id)?;
                Some(CircuitEvent::Refused { request_id, code })
            }
            Payload::Fragment {
                request_id,
                index,
                count,
                chunk,
            } => {
                let chunk_len = self.keys.payload_len() - FRAGMENT_HEADER_LEN;
                let slot = self.pending.get_mut(&request_id)?;
                if slot.is_none() {
                    *slot = Some(Reassembly::new(count, chunk_len).ok()?);
                }
                let joined = slot.as_mut()?.insert(index, count, chunk).ok()??;
                self.pending.remove(&request_id);
                let frame = unpad_response(&joined, count, chunk_len).ok()?;
                Some(CircuitEvent::Answer { request_id, frame })
            }
        }
    }
}

/// The circuit ID of a received cell (to find its circuit), if it parses.
pub fn cell_circuit(datagram: &[u8]) -> Option<CircuitId> {
    match Cell::parse(datagram).ok()? {
        Cell::Backward { circuit, .. } | Cell::Destroy { circuit, .. } => Some(circuit),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::indexing_slicing)]

    use nightjar_crypto::SeededRandom;
    use nightjar_crypto::identity::Identity;
    use nightjar_registry::NodeId;

    use super::*;

    fn entry(id: &Identity, port: u16) -> NodeEntry {
        NodeEntry {
            id: NodeId(id.public_key()),
            addr: format!("127.0.0.1:{port}").parse().unwrap(),
        }
    }

    #[test]
    fn a_circuit_refuses_another_accounts_request_before_sending() {
        let ids: Vec<_> = (0..4).map(|_| Identity::generate().unwrap()).collect();
        let hops: Vec<_> = ids
            .iter()
            .enumerate()
            .map(|(i, id)| entry(id, 9000 + i as u16))
            .collect();
        let mut rng = SeededRandom::from_seed([3; 32]);
        let alice = AccountKey::new([1; 32]);
        let (mut c, create) = ClientCircuit::build(&mut rng, 0, alice, &hops).unwrap();
        assert_eq!(create.len(), nightjar_crypto::circuit::CELL_LEN);
        assert_eq!(c.request(&alice, b"x", 0), Err(CircuitRefusal::NotReady));
        c.state = State::Ready;
        let (id, cells) = c.request(&alice, b"frame", 0).unwrap();
        assert_eq!(id, 1);
        assert_eq!(cells.len(), 1);
        assert_eq!(
            c.request(&AccountKey::new([2; 32]), b"frame", 0),
            Err(CircuitRefusal::OtherAccount)
        );
        assert_eq!(
            c.request(&alice, b"frame", CIRCUIT_MAX_USE_MS),
            Err(CircuitRefusal::TooOld)
        );
        let (id2, _) = c.request(&alice, b"frame", 1).unwrap();
        assert_eq!(id2, 2);
    }
}
