//! The `[chain]` section of a registry derived from the staking contract
//! (`docs/PROTOCOL.md` §7, §13): which chain and contract, the block the log
//! was derived at, and every registered node with its operator, stake and
//! state.
//!
//! It makes a served snapshot name the chain state it came from: two nodes
//! that serve the same snapshot hash agree on a block, and a client orders
//! snapshots by block number. Its node list must agree with the log (the
//! active nodes are exactly the log's current nodes, at the same addresses);
//! a registry whose section disagrees is refused.
//!
//! Not here: following the chain (`nightjar-chain`), or any judgement of
//! whether the block is recent (a follower reports staleness itself).

use std::collections::{HashMap, HashSet};
use std::net::SocketAddr;

use serde::{Deserialize, Serialize};

use crate::{NodeEntry, NodeId, RegistryError};

/// Where a chain-derived registry comes from, and the nodes the chain lists.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ChainOrigin {
    /// The chain's EIP-155 ID.
    pub chain_id: u64,
    /// The registry contract's address.
    pub contract: [u8; 20],
    /// The last block the log was derived at.
    pub block: u64,
    /// That block's hash.
    pub block_hash: [u8; 32],
    /// Every registered node, active and exiting, ordered by node ID.
    pub nodes: Vec<StakedNode>,
}

/// A node as the staking contract lists it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StakedNode {
    /// Its identity key and current contact.
    pub node: NodeEntry,
    /// The operator address whose registration is the node.
    pub operator: [u8; 20],
    /// The stake of its registration, in the token's base units, as decimal
    /// digits (a 256-bit amount).
    pub stake: String,
    /// Active or exiting.
    pub state: StakedState,
}

/// Whether a registered node is in the swarms.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum StakedState {
    /// Registered and in the swarms.
    Active,
    /// Exit requested: out of the swarms, still staked until withdrawn.
    Exiting,
}

impl StakedState {
    /// `"active"` or `"exiting"`, as the registry file and
    /// `nightjar registry --json` write it.
    pub fn as_str(self) -> &'static str {
        match self {
            StakedState::Active => "active",
            StakedState::Exiting => "exiting",
        }
    }
}

/// Most decimal digits of a 256-bit amount.
const MAX_STAKE_DIGITS: usize = 78;

#[derive(Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawChain {
    chain_id: u64,
    contract: String,
    block: u64,
    block_hash: String,
    #[serde(default)]
    nodes: Vec<RawStakedNode>,
}

#[derive(Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawStakedNode {
    node_id: String,
    addr: String,
    operator: String,
    stake: String,
    state: String,
}

/// `0x` and lowercase hex.
fn hex0x(bytes: &[u8]) -> String {
    format!("0x{}", hex::encode(bytes))
}

/// Exactly `N` bytes written as `0x` and `2N` hex digits.
fn parse_hex0x<const N: usize>(what: &str, text: &str) -> Result<[u8; N], String> {
    let digits = text
        .strip_prefix("0x")
        .ok_or_else(|| format!("{what} {text:?} does not start with 0x"))?;
    let bytes = hex::decode(digits).map_err(|e| format!("{what} {text:?} is not hex: {e}"))?;
    <[u8; N]>::try_from(bytes.as_slice()).map_err(|_| format!("{what} {text:?} is not {N} bytes"))
}

fn invalid(reason: String) -> RegistryError {
    RegistryError::Parse {
        what: "registry [chain] section",
        message: reason,
    }
}

fn parse_stake(text: &str) -> Result<String, String> {
    let canonical = !text.is_empty()
        && text.len() <= MAX_STAKE_DIGITS
        && text.bytes().all(|b| b.is_ascii_digit())
        && (text == "0" || !text.starts_with('0'));
    if canonical {
        Ok(text.to_owned())
    } else {
        Err(format!(
            "stake {text:?} is not a decimal amount (digits, no leading zeros, at most {MAX_STAKE_DIGITS})"
        ))
    }
}

impl ChainOrigin {
    pub(crate) fn from_raw(raw: RawChain) -> Result<ChainOrigin, RegistryError> {
        let contract = parse_hex0x::<20>("contract", &raw.contract).map_err(invalid)?;
        let block_hash = parse_hex0x::<32>("block_hash", &raw.block_hash).map_err(invalid)?;
        let mut nodes = Vec::with_capacity(raw.nodes.len());
        for (index, n) in raw.nodes.into_iter().enumerate() {
            let at = |reason: String| invalid(format!("node {index}: {reason}"));
            let id: NodeId = n.node_id.parse().map_err(at)?;
            let addr: SocketAddr = n
                .addr
                .parse()
                .map_err(|e| at(format!("addr {:?}: {e}", n.addr)))?;
            let operator = parse_hex0x::<20>("operator", &n.operator).map_err(at)?;
            let stake = parse_stake(&n.stake).map_err(at)?;
            let state = match n.state.as_str() {
                "active" => StakedState::Active,
                "exiting" => StakedState::Exiting,
                other => {
                    return Err(at(format!(
                        "state {other:?} is not \"active\" or \"exiting\""
                    )));
                }
            };
            nodes.push(StakedNode {
                node: NodeEntry { id, addr },
                operator,
                stake,
                state,
            });
        }
        if !nodes.windows(2).all(|w| w[0].node.id < w[1].node.id) {
            return Err(invalid(
                "nodes are not in strictly increasing node_id order (each node once)".into(),
            ));
        }
        Ok(ChainOrigin {
            chain_id: raw.chain_id,
            contract,
            block: raw.block,
            block_hash,
            nodes,
        })
    }

    pub(crate) fn to_raw(&self) -> RawChain {
        RawChain {
            chain_id: self.chain_id,
            contract: hex0x(&self.contract),
            block: self.block,
            block_hash: hex0x(&self.block_hash),
            nodes: self
                .nodes
                .iter()
                .map(|n| RawStakedNode {
                    node_id: n.node.id.to_string(),
                    addr: n.node.addr.to_string(),
                    operator: hex0x(&n.operator),
                    stake: n.stake.clone(),
                    state: n.state.as_str().to_owned(),
                })
                .collect(),
        }
    }

    /// The contract address as `0x` and 40 hex digits.
    pub fn contract_hex(&self) -> String {
        hex0x(&self.contract)
    }

    /// The block hash as `0x` and 64 hex digits.
    pub fn block_hash_hex(&self) -> String {
        hex0x(&self.block_hash)
    }

    /// An operator address as `0x` and 40 hex digits.
    pub fn address_hex(address: &[u8; 20]) -> String {
        hex0x(address)
    }

    /// Checks that the active nodes are exactly `live` (the log's current
    /// nodes), at the same addresses.
    pub(crate) fn check_against(&self, live: &[NodeEntry]) -> Result<(), RegistryError> {
        let live: HashMap<NodeId, SocketAddr> = live.iter().map(|n| (n.id, n.addr)).collect();
        let mut active = HashSet::new();
        for n in &self.nodes {
            let in_log = live.get(&n.node.id);
            match (n.state, in_log) {
                (StakedState::Active, Some(addr)) if *addr == n.node.addr => {
                    active.insert(n.node.id);
                }
                (StakedState::Active, Some(addr)) => {
                    return Err(invalid(format!(
                        "node {} is active at {} but the log has it at {addr}",
                        n.node.id, n.node.addr
                    )));
                }
                (StakedState::Active, None) => {
                    return Err(invalid(format!(
                        "node {} is active but not in the log's network",
                        n.node.id
                    )));
                }
                (StakedState::Exiting, Some(_)) => {
                    return Err(invalid(format!(
                        "node {} is exiting but still in the log's network",
                        n.node.id
                    )));
                }
                (StakedState::Exiting, None) => {}
            }
        }
        if let Some(missing) = live.keys().find(|id| !active.contains(id)) {
            return Err(invalid(format!(
                "node {missing} is in the log's network but not listed as active"
            )));
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use crate::{Registry, RegistryEvent};
    use nightjar_crypto::identity::Identity;

    fn entry(port: u16) -> NodeEntry {
        NodeEntry {
            id: NodeId(Identity::generate().unwrap().public_key()),
            addr: SocketAddr::from(([127, 0, 0, 1], port)),
        }
    }

    fn staked(node: &NodeEntry, state: StakedState) -> StakedNode {
        StakedNode {
            node: node.clone(),
            operator: [0xab; 20],
            stake: "25000000000000000000000".into(),
            state,
        }
    }

    /// Two nodes joined, the second exiting.
    fn chain_registry() -> (Registry, NodeEntry, NodeEntry) {
        let (a, b) = (entry(1), entry(2));
        let mut nodes = vec![
            staked(&a, StakedState::Active),
            staked(&b, StakedState::Exiting),
        ];
        nodes.sort_by_key(|n| n.node.id);
        let registry = Registry {
            network: "chain".into(),
            nodes: Vec::new(),
            events: vec![
                RegistryEvent::Join { node: a.clone() },
                RegistryEvent::Join { node: b.clone() },
                RegistryEvent::Exit { id: b.id },
            ],
            chain: Some(ChainOrigin {
                chain_id: 31337,
                contract: [0x5f; 20],
                block: 42,
                block_hash: [0x77; 32],
                nodes,
            }),
        };
        (registry, a, b)
    }

    #[test]
    fn a_chain_registry_round_trips_and_its_height_is_the_block() {
        let (registry, ..) = chain_registry();
        let text = registry.to_toml();
        assert!(text.contains("[chain]"), "{text}");
        assert!(text.contains("block_hash = \"0x7777"), "{text}");
        assert!(text.contains("state = \"exiting\""), "{text}");
        let back = Registry::from_toml(&text).unwrap();
        assert_eq!(back, registry);
        assert_eq!(back.height(), 42);
        assert_eq!(back.to_toml(), text, "canonical: the same text again");
        let mut file = registry.clone();
        file.chain = None;
        assert_eq!(file.height(), 3, "a file registry's height counts events");
    }

    #[test]
    fn a_chain_section_that_disagrees_with_the_log_is_refused() {
        let (registry, a, _) = chain_registry();
        let refuse = |mutate: &dyn Fn(&mut Registry)| {
            let mut bad = registry.clone();
            mutate(&mut bad);
            let err = Registry::from_toml(&bad.to_toml()).unwrap_err();
            assert!(matches!(err, RegistryError::Parse { .. }), "{err}");
        };
        // The exiting node listed active, the active one exiting.
        refuse(&|r| {
            for n in &mut r.chain.as_mut().unwrap().nodes {
                n.state = StakedState::Active;
            }
        });
        refuse(&|r| {
            for n in &mut r.chain.as_mut().unwrap().nodes {
                n.state = StakedState::Exiting;
            }
        });
        // An active node at another address than the log's.
        refuse(&|r| {
            for n in &mut r.chain.as_mut().unwrap().nodes {
                if n.node.id == a.id {
                    n.node.addr = SocketAddr::from(([127, 0, 0, 1], 9));
                }
            }
        });
        // A live node missing from the list; a node listed twice.
        refuse(&|r| {
            r.chain
                .as_mut()
                .unwrap()
                .nodes
                .retain(|n| n.node.id != a.id)
        });
        refuse(&|r| {
            let chain = r.chain.as_mut().unwrap();
            let first = chain.nodes[0].clone();
            chain.nodes.insert(0, first);
        });
        // Malformed values.
        let text = registry.to_toml();
        for (from, to) in [
            ("stake = \"25000000000000000000000\"", "stake = \"025\""),
            ("stake = \"25000000000000000000000\"", "stake = \"-1\""),
            ("state = \"exiting\"", "state = \"gone\""),
            ("contract = \"0x5f5f", "contract = \"5f5f"),
            ("block_hash = \"0x7777", "block_hash = \"0x77"),
        ] {
            let bad = text.replacen(from, to, 1);
            assert_ne!(bad, text, "{from}");
            assert!(Registry::from_toml(&bad).is_err(), "{to}");
        }
    }
}
