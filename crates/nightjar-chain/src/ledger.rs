//! The follower's rule (`docs/PROTOCOL.md` §13.4): contract events in, nodes
//! and the registry log out. Pure and deterministic: the same events in the
//! same order give the same nodes and the same log on every follower.
//!
//! # From contract events to the registry log
//!
//! The ledger tracks every live registration, keyed by (key K, operator O),
//! and for each key at most one registration that is **the node** of K,
//! *active* or *exiting*. Each event of the contract, in chain order (block
//! number, then log index), is applied as follows; the right-hand column is
//! what it appends to the registry log that [`nightjar_registry::SwarmMap`]
//! replays.
//!
//! | contract event | ledger | registry log |
//! | --- | --- | --- |
//! | `Registered` (K, O), K has no node, proof verifies (§13.2, with the follower's chain ID and contract, the event's operator, key and nonce), contact decodes (§13.3) | (K, O) is the node of K, active | `Join { K, contact }` |
//! | `Registered` (K, O), otherwise | (K, O) live, ignored for good | — |
//! | `ContactUpdated` of the node, active | contact replaced | `Contact { K, contact }` |
//! | `ContactUpdated` of the node, exiting | contact replaced (still listed) | — (not in a swarm) |
//! | `ExitRequested` of the node, active | exiting; K stays taken | `Exit { K }` |
//! | `Withdrawn` / `Slashed` of the node | the node ends; K is free | `Exit { K }` if it was active, else — |
//! | `Withdrawn` / `Slashed` of another registration | that registration ends | — |
//! | anything else (events of ignored registrations, of unknown ones) | — | — |
//!
//! Cases the contract never produces are given a fixed outcome so that the
//! rule stays total: a `Registered` of a (K, O) that is already live is
//! ignored (the live one is unchanged); a contact that does not decode makes
//! a registration ignored for good, and a `ContactUpdated` with one changes
//! nothing; an `ExitRequested` of an exiting node changes nothing.
//!
//! So every log event of the registry log comes from exactly one contract
//! event, in chain order, and the log always replays (a join only of a key
//! without a node, an exit or contact only of an active one).

use std::collections::BTreeMap;
use std::net::SocketAddr;

use alloy_primitives::{Address, B256, U256};
use nightjar_crypto::registration::RegistrationClaim;
use nightjar_registry::{NodeEntry, NodeId, Registry, RegistryEvent};

use crate::contact::decode_contact;
use crate::events::ContractEvent;
use crate::types::LogPosition;

/// A node's state (§13.4).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum NodeState {
    /// Registered and in the swarms.
    Active,
    /// Exit requested: out of the swarms (handing its data off), still
    /// listed, its key still taken until it is withdrawn or slashed.
    Exiting,
}

impl NodeState {
    /// `"active"` or `"exiting"` (as `nightjar registry --json` prints it).
    pub fn as_str(self) -> &'static str {
        match self {
            NodeState::Active => "active",
            NodeState::Exiting => "exiting",
        }
    }
}

/// A node as the chain defines it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ChainNode {
    /// Its identity key (the event's `ed25519Key`, a valid Ed25519 key).
    pub id: NodeId,
    /// The operator whose registration is the node.
    pub operator: Address,
    /// Its current contact.
    pub addr: SocketAddr,
    /// Active or exiting.
    pub state: NodeState,
    /// The stake of its registration.
    pub stake: U256,
    /// Where its `Registered` event is.
    pub registered_at: LogPosition,
}

impl ChainNode {
    /// The node's registry entry (ID and address).
    pub fn entry(&self) -> NodeEntry {
        NodeEntry {
            id: self.id,
            addr: self.addr,
        }
    }
}

/// What one contract event did (for logs and tests).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    /// A registration became the node of its key (a join).
    Joined,
    /// A registration whose proof does not verify (or whose key is not a
    /// valid Ed25519 key): ignored for good.
    IgnoredBadProof,
    /// A registration of a key that already has a node: ignored for good.
    IgnoredKeyTaken,
    /// A registration whose contact does not decode (never from the
    /// contract): ignored for good.
    IgnoredBadContact,
    /// A registration of a (key, operator) that is already live (never from
    /// the contract): ignored.
    IgnoredDuplicate,
    /// The node's contact changed.
    ContactChanged,
    /// The node is now exiting.
    Exiting,
    /// The node ended (withdrawn or slashed).
    NodeEnded,
    /// A registration that was not the node ended.
    RegistrationEnded,
    /// Nothing changed (an event of an ignored or unknown registration).
    Nothing,
}

impl Outcome {
    /// Whether the nodes or the registry log changed.
    pub fn changes_registry(self) -> bool {
        matches!(
            self,
            Outcome::Joined | Outcome::ContactChanged | Outcome::Exiting | Outcome::NodeEnded
        )
    }
}

/// A registry log event and the contract log it came from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LoggedEvent {
    /// The contract log's position.
    pub position: LogPosition,
    /// The registry log event.
    pub event: RegistryEvent,
}

/// The state derived from the contract's events: registrations, nodes and
/// the registry log. See the [module documentation](self) for the rule.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Ledger {
    chain_id: u64,
    contract: Address,
    /// Live registrations: `true` for the one that is its key's node.
    registrations: BTreeMap<(B256, Address), bool>,
    /// The nodes, by key.
    nodes: BTreeMap<B256, ChainNode>,
    /// The registry log, in chain order.
    log: Vec<LoggedEvent>,
}

impl Ledger {
    /// An empty ledger for the registry contract `contract` on chain
    /// `chain_id` (both are bound into every proof of possession).
    pub fn new(chain_id: u64, contract: Address) -> Ledger {
        Ledger {
            chain_id,
            contract,
            registrations: BTreeMap::new(),
            nodes: BTreeMap::new(),
            log: Vec::new(),
        }
    }

    /// Applies one contract event found at `position` (events must come in
    /// chain order).
    pub fn apply(&mut self, position: LogPosition, event: &ContractEvent) -> Outcome {
        match event {
            ContractEvent::Registered {
                key,
                operator,
                contact,
                signature,
                nonce,
                stake,
            } => {
                if self.registrations.contains_key(&(*key, *operator)) {
                    return Outcome::IgnoredDuplicate;
                }
                let outcome = if self.nodes.contains_key(key) {
                    Outcome::IgnoredKeyTaken
                } else {
                    let claim = RegistrationClaim {
                        chain_id: nightjar_crypto::registration::uint256(self.chain_id),
                        contract: self.contract.into_array(),
                        operator: operator.into_array(),
                        node_key: key.0,
                        nonce: nonce.to_be_bytes::<32>(),
                    };
                    match (claim.verify(signature), decode_contact(contact)) {
                        (Err(_), _) => Outcome::IgnoredBadProof,
                        (Ok(_), None) => Outcome::IgnoredBadContact,
                        (Ok(public), Some(addr)) => {
                            let node = ChainNode {
                                id: NodeId(public),
                                operator: *operator,
                                addr,
                                state: NodeState::Active,
                                stake: *stake,
                                registered_at: position,
                            };
                            self.push(position, RegistryEvent::Join { node: node.entry() });
                            self.nodes.insert(*key, node);
                            Outcome::Joined
                        }
                    }
                };
                self.registrations
                    .insert((*key, *operator), outcome == Outcome::Joined);
                outcome
            }
            ContractEvent::ContactUpdated {
                key,
                operator,
                contact,
            } => {
                let Some(node) = self.node_of_mut(key, operator) else {
                    return Outcome::Nothing;
                };
                let Some(addr) = decode_contact(contact) else {
                    return Outcome::Nothing;
                };
                node.addr = addr;
                if node.state == NodeState::Active {
                    let entry = node.entry();
                    self.push(position, RegistryEvent::Contact { node: entry });
                }
                Outcome::ContactChanged
            }
            ContractEvent::ExitRequested { key, operator, .. } => {
                let Some(node) = self.node_of_mut(key, operator) else {
                    return Outcome::Nothing;
                };
                if node.state == NodeState::Exiting {
                    return Outcome::Nothing;
                }
                node.state = NodeState::Exiting;
                let id = node.id;
                self.push(position, RegistryEvent::Exit { id });
                Outcome::Exiting
            }
            ContractEvent::Withdrawn { key, operator, .. }
            | ContractEvent::Slashed { key, operator, .. } => {
                match self.registrations.remove(&(*key, *operator)) {
                    None => Outcome::Nothing,
                    Some(false) => Outcome::RegistrationEnded,
                    Some(true) => {
                        if let Some(node) = self.nodes.remove(key)
                            && node.state == NodeState::Active
                        {
                            self.push(position, RegistryEvent::Exit { id: node.id });
                        }
                        Outcome::NodeEnded
                    }
                }
            }
        }
    }

    /// The node of `key` if `operator`'s registration is it.
    fn node_of_mut(&mut self, key: &B256, operator: &Address) -> Option<&mut ChainNode> {
        if self.registrations.get(&(*key, *operator)) != Some(&true) {
            return None;
        }
        self.nodes.get_mut(key)
    }

    fn push(&mut self, position: LogPosition, event: RegistryEvent) {
        self.log.push(LoggedEvent { position, event });
    }

    /// Every node (active and exiting), by key.
    pub fn nodes(&self) -> impl Iterator<Item = &ChainNode> {
        self.nodes.values()
    }

    /// How many nodes there are (active and exiting).
    pub fn node_count(&self) -> usize {
        self.nodes.len()
    }

    /// The node of `key`, if it has one.
    pub fn node(&self, key: &B256) -> Option<&ChainNode> {
        self.nodes.get(key)
    }

    /// Whether `operator`'s registration of `key` is live, and if so whether
    /// it is the key's node.
    pub fn registration(&self, key: &B256, operator: &Address) -> Option<bool> {
        self.registrations.get(&(*key, *operator)).copied()
    }

    /// The registry log with each event's origin, in chain order.
    pub fn log(&self) -> &[LoggedEvent] {
        &self.log
    }

    /// The registry log's events, in order.
    pub fn registry_events(&self) -> Vec<RegistryEvent> {
        self.log.iter().map(|e| e.event.clone()).collect()
    }

    /// The registry log as a [`Registry`] of network `network` (no genesis
    /// nodes: every node joins by an event).
    pub fn registry(&self, network: &str) -> Registry {
        Registry {
            network: network.to_owned(),
            nodes: Vec::new(),
            events: self.registry_events(),
            chain: None,
        }
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]
    use super::*;
    use nightjar_crypto::identity::{Identity, Seed};
    use nightjar_registry::SwarmMap;

    const CHAIN: u64 = 31337;

    fn contract() -> Address {
        Address::repeat_byte(0xcc)
    }

    fn op(n: u8) -> Address {
        Address::repeat_byte(n)
    }

    fn identity(n: u8) -> Identity {
        Identity::from_seed(Seed::from_bytes([n; 32]))
    }

    fn key(n: u8) -> B256 {
        B256::from(identity(n).public_key().to_bytes())
    }

    fn contact(port: u16) -> Vec<u8> {
        crate::contact::encode_contact(&SocketAddr::from(([10, 0, 0, 1], port)))
    }

    /// A `Registered` of identity `n` by `operator` with `nonce`, its proof
    /// signed for (`chain`, `contract`, `signed_operator`, `signed_nonce`).
    fn registered_signed(
        n: u8,
        operator: Address,
        nonce: u64,
        chain: u64,
        contract: Address,
        signed_operator: Address,
        signed_nonce: u64,
    ) -> ContractEvent {
        let id = identity(n);
        let claim = RegistrationClaim::new(
            chain,
            contract.into_array(),
            signed_operator.into_array(),
            &id.public_key(),
            signed_nonce,
        );
        ContractEvent::Registered {
            key: key(n),
            operator,
            contact: contact(40_000 + u16::from(n)),
            signature: claim.sign(&id).unwrap().to_vec(),
            nonce: U256::from(nonce),
            stake: U256::from(100),
        }
    }

    fn registered(n: u8, operator: Address, nonce: u64) -> ContractEvent {
        registered_signed(n, operator, nonce, CHAIN, contract(), operator, nonce)
    }

    fn junk(n: u8, operator: Address, nonce: u64) -> ContractEvent {
        ContractEvent::Registered {
            key: key(n),
            operator,
            contact: contact(1),
            signature: vec![0x5a; 64],
            nonce: U256::from(nonce),
            stake: U256::from(100),
        }
    }

    fn exit(n: u8, operator: Address) -> ContractEvent {
        ContractEvent::ExitRequested {
            key: key(n),
            operator,
            withdrawable_at: U256::ZERO,
        }
    }

    fn withdrawn(n: u8, operator: Address) -> ContractEvent {
        ContractEvent::Withdrawn {
            key: key(n),
            operator,
            stake: U256::from(100),
        }
    }

    fn slashed(n: u8, operator: Address) -> ContractEvent {
        ContractEvent::Slashed {
            key: key(n),
            operator,
            stake: U256::from(100),
            treasury: op(0xde),
            reason: B256::ZERO,
        }
    }

    /// Applies `events` at consecutive positions; returns the outcomes.
    fn run(ledger: &mut Ledger, events: &[ContractEvent]) -> Vec<Outcome> {
        let start = ledger.log.last().map_or(0, |e| e.position.block + 1) + 100;
        events
            .iter()
            .enumerate()
            .map(|(i, e)| {
                ledger.apply(
                    LogPosition {
                        block: start + i as u64,
                        index: 0,
                    },
                    e,
                )
            })
            .collect()
    }

    fn kinds(ledger: &Ledger) -> Vec<String> {
        ledger
            .log()
            .iter()
            .map(|e| match &e.event {
                RegistryEvent::Join { node } => format!("join {}", &node.id.to_string()[..4]),
                RegistryEvent::Exit { id } => format!("exit {}", &id.to_string()[..4]),
                RegistryEvent::Contact { node } => {
                    format!("contact {} {}", &node.id.to_string()[..4], node.addr.port())
                }
            })
            .collect()
    }

    fn short(n: u8) -> String {
        hex::encode(key(n))[..4].to_owned()
    }

    #[test]
    fn a_valid_registration_joins_and_the_log_replays() {
        let mut l = Ledger::new(CHAIN, contract());
        assert_eq!(
            run(&mut l, &[registered(1, op(1), 0), registered(2, op(1), 1)]),
            [Outcome::Joined, Outcome::Joined]
        );
        assert_eq!(
            kinds(&l),
            [format!("join {}", short(1)), format!("join {}", short(2))]
        );
        let node = l.node(&key(1)).unwrap();
        assert_eq!(node.state, NodeState::Active);
        assert_eq!(node.addr.port(), 40_001);
        assert_eq!(node.operator, op(1));
        assert_eq!(node.stake, U256::from(100));
        let map = SwarmMap::replay(&l.registry_events()).unwrap();
        assert_eq!(map.node_count(), 2);
        assert_eq!(l.registry("d").swarm_map().unwrap(), map);
    }

    #[test]
    fn a_junk_registration_never_blocks_the_owner() {
        let mut l = Ledger::new(CHAIN, contract());
        // The squatter (operator 9) registers key 1 first with a junk proof;
        // the owner's registration after it wins.
        let outcomes = run(
            &mut l,
            &[
                junk(1, op(9), 0),
                registered(1, op(1), 0),
                junk(1, op(8), 0),
            ],
        );
        assert_eq!(
            outcomes,
            [
                Outcome::IgnoredBadProof,
                Outcome::Joined,
                Outcome::IgnoredKeyTaken
            ]
        );
        assert_eq!(l.node(&key(1)).unwrap().operator, op(1));
        assert_eq!(l.registration(&key(1), &op(9)), Some(false));
        // The squatter's events change nothing; its withdraw only ends it.
        assert_eq!(
            run(
                &mut l,
                &[
                    exit(1, op(9)),
                    ContractEvent::ContactUpdated {
                        key: key(1),
                        operator: op(9),
                        contact: contact(7),
                    },
                    withdrawn(1, op(9)),
                ]
            ),
            [
                Outcome::Nothing,
                Outcome::Nothing,
                Outcome::RegistrationEnded
            ]
        );
        assert_eq!(l.registration(&key(1), &op(9)), None);
        assert_eq!(kinds(&l), [format!("join {}", short(1))]);
        assert_eq!(l.node(&key(1)).unwrap().addr.port(), 40_001);
    }

    #[test]
    fn replayed_proofs_are_ignored() {
        let mut l = Ledger::new(CHAIN, contract());
        let o = op(1);
        let replays = [
            // Signed for another chain, another contract, another operator,
            // another nonce.
            registered_signed(1, o, 0, 42161, contract(), o, 0),
            registered_signed(2, o, 1, CHAIN, op(0xab), o, 1),
            registered_signed(3, o, 2, CHAIN, contract(), op(7), 2),
            registered_signed(4, o, 3, CHAIN, contract(), o, 0),
        ];
        assert_eq!(run(&mut l, &replays), [Outcome::IgnoredBadProof; 4]);
        assert_eq!(l.node_count(), 0);
        assert!(l.log().is_empty());
        // Another key's valid proof does not carry over either.
        let ContractEvent::Registered { signature, .. } = registered(5, o, 4) else {
            unreachable!()
        };
        let stolen = ContractEvent::Registered {
            key: key(6),
            operator: o,
            contact: contact(1),
            signature,
            nonce: U256::from(4),
            stake: U256::from(1),
        };
        assert_eq!(run(&mut l, &[stolen]), [Outcome::IgnoredBadProof]);
        // An invalid key (all zeros, which the contract refuses anyway).
        let zero = ContractEvent::Registered {
            key: B256::ZERO,
            operator: o,
            contact: contact(1),
            signature: vec![0; 64],
            nonce: U256::ZERO,
            stake: U256::from(1),
        };
        assert_eq!(run(&mut l, &[zero]), [Outcome::IgnoredBadProof]);
    }

    #[test]
    fn ignored_for_good_even_after_the_node_ends() {
        let mut l = Ledger::new(CHAIN, contract());
        // Owner signed for two operators: only the first becomes the node.
        let outcomes = run(
            &mut l,
            &[
                registered(1, op(1), 0),
                registered(1, op(2), 0),
                exit(1, op(1)),
                withdrawn(1, op(1)),
                // op(2)'s registration is still live but never the node.
                exit(1, op(2)),
            ],
        );
        assert_eq!(
            outcomes,
            [
                Outcome::Joined,
                Outcome::IgnoredKeyTaken,
                Outcome::Exiting,
                Outcome::NodeEnded,
                Outcome::Nothing
            ]
        );
        assert!(l.node(&key(1)).is_none());
        // A new registration (new nonce, new proof) may become the node again.
        assert_eq!(run(&mut l, &[registered(1, op(3), 0)]), [Outcome::Joined]);
        assert_eq!(
            kinds(&l),
            [
                format!("join {}", short(1)),
                format!("exit {}", short(1)),
                format!("join {}", short(1)),
            ]
        );
        SwarmMap::replay(&l.registry_events()).unwrap();
    }

    #[test]
    fn exit_withdraw_slash_and_contact() {
        let mut l = Ledger::new(CHAIN, contract());
        run(
            &mut l,
            &[
                registered(1, op(1), 0),
                registered(2, op(1), 1),
                registered(3, op(1), 2),
            ],
        );
        let moved = ContractEvent::ContactUpdated {
            key: key(1),
            operator: op(1),
            contact: contact(5000),
        };
        let outcomes = run(
            &mut l,
            &[
                moved,
                exit(1, op(1)),
                ContractEvent::ContactUpdated {
                    key: key(1),
                    operator: op(1),
                    contact: contact(5001),
                },
                exit(1, op(1)),
                slashed(2, op(1)),
                withdrawn(1, op(1)),
                exit(3, op(1)),
                slashed(3, op(1)),
            ],
        );
        assert_eq!(
            outcomes,
            [
                Outcome::ContactChanged,
                Outcome::Exiting,
                Outcome::ContactChanged,
                Outcome::Nothing,
                Outcome::NodeEnded,
                Outcome::NodeEnded,
                Outcome::Exiting,
                Outcome::NodeEnded,
            ]
        );
        assert_eq!(
            kinds(&l),
            [
                format!("join {}", short(1)),
                format!("join {}", short(2)),
                format!("join {}", short(3)),
                format!("contact {} 5000", short(1)),
                format!("exit {}", short(1)),
                // Slashing an active node is its exit; an exiting one already left.
                format!("exit {}", short(2)),
                format!("exit {}", short(3)),
            ]
        );
        assert_eq!(l.node_count(), 0);
        let map = SwarmMap::replay(&l.registry_events()).unwrap();
        assert_eq!(map.node_count(), 0);
    }

    #[test]
    fn an_exiting_node_is_listed_but_not_in_the_swarms() {
        let mut l = Ledger::new(CHAIN, contract());
        run(
            &mut l,
            &[
                registered(1, op(1), 0),
                registered(2, op(1), 1),
                exit(1, op(1)),
            ],
        );
        assert_eq!(l.node(&key(1)).unwrap().state, NodeState::Exiting);
        assert_eq!(l.node_count(), 2);
        let map = SwarmMap::replay(&l.registry_events()).unwrap();
        assert_eq!(map.node_count(), 1);
        // Its key stays taken while it is exiting.
        assert_eq!(
            run(&mut l, &[registered(1, op(2), 0)]),
            [Outcome::IgnoredKeyTaken]
        );
    }

    #[test]
    fn impossible_events_have_a_fixed_outcome() {
        let mut l = Ledger::new(CHAIN, contract());
        let mut bad_contact = registered(1, op(1), 0);
        if let ContractEvent::Registered { contact, .. } = &mut bad_contact {
            contact[0] = 5;
        }
        assert_eq!(run(&mut l, &[bad_contact]), [Outcome::IgnoredBadContact]);
        assert_eq!(
            run(&mut l, &[registered(2, op(1), 1), registered(2, op(1), 1)]),
            [Outcome::Joined, Outcome::IgnoredDuplicate]
        );
        let before = l.clone();
        assert_eq!(
            run(
                &mut l,
                &[ContractEvent::ContactUpdated {
                    key: key(2),
                    operator: op(1),
                    contact: vec![4, 0, 0, 0, 0, 0, 0],
                }]
            ),
            [Outcome::Nothing]
        );
        assert_eq!(l, before);
        assert_eq!(
            run(&mut l, &[withdrawn(7, op(1)), exit(7, op(1))]),
            [Outcome::Nothing, Outcome::Nothing]
        );
    }
}
