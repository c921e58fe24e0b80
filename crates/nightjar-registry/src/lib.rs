//! Nightjar's node registry and network file, in their devnet form.
//!
//! The **registry** says which service nodes exist: each node's Ed25519
//! identity key (its node ID) and its address. On the devnet it is a file
//! (`registry.toml`) holding an ordered log: the genesis nodes, then join,
//! exit and contact events; on a network that follows the staking contract,
//! `nightjar-chain` derives the same kind of log from the contract's events. The
//! **network file** (`network.toml`) is what a client starts from: the
//! network's name, its seed nodes, and (devnet only) where the registry file
//! is.
//!
//! Replaying the log gives a [`SwarmMap`]: the nodes grouped into swarms, and
//! for every account the swarm that holds its mailbox
//! ([`swarm_members_for_account`]); the rules are in the [`swarm`] module.
//!
//! This crate does no networking and reads files only in [`Registry::load`]
//! and [`NetworkFile::load`]; both formats are specified in `docs/PROTOCOL.md`.

pub mod chain;
pub mod swarm;

use std::cmp::Ordering;
use std::collections::{HashMap, HashSet};
use std::fmt;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};

use nightjar_crypto::identity::PublicKey;
use serde::{Deserialize, Serialize};

pub use chain::{ChainOrigin, StakedNode, StakedState};
pub use swarm::{
    MAX_SWARM_SIZE, MIN_SWARM_SIZE, ParseSwarmIdError, RegistryEvent, SwarmId, SwarmMap,
    TARGET_SWARM_SIZE,
};

/// The only file format version this build reads and writes.
pub const FORMAT_VERSION: u32 = 1;
/// Largest registry or network file accepted, in bytes.
pub const MAX_FILE_SIZE: u64 = 4 * 1024 * 1024;

/// Why a registry or network file is unusable.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum RegistryError {
    /// The file could not be read.
    #[error("cannot read {path}: {source}")]
    Read {
        /// The file.
        path: PathBuf,
        /// Why.
        #[source]
        source: std::io::Error,
    },
    /// The file is larger than [`MAX_FILE_SIZE`].
    #[error("{path} is {size} bytes, more than the limit of {MAX_FILE_SIZE}")]
    TooLarge {
        /// The file.
        path: PathBuf,
        /// Its size.
        size: u64,
    },
    /// The file is not valid TOML for its schema.
    #[error("cannot parse {what}: {message}")]
    Parse {
        /// Which document.
        what: &'static str,
        /// The parser's message.
        message: String,
    },
    /// The file's `version` is not one this build reads; upgrade Nightjar.
    #[error("unsupported {what} format version {version} (this build reads {FORMAT_VERSION})")]
    UnsupportedVersion {
        /// Which document.
        what: &'static str,
        /// The version it declares.
        version: u32,
    },
    /// A node entry is invalid.
    #[error("node entry {index}: {reason}")]
    InvalidNode {
        /// Position in the list (0-based).
        index: usize,
        /// What is wrong.
        reason: String,
    },
    /// There are no nodes to talk to.
    #[error("the registry lists no nodes")]
    Empty,
    /// An `[[events]]` entry is malformed.
    #[error("event entry {index}: {reason}")]
    InvalidEvent {
        /// Position in the `[[events]]` list (0-based).
        index: usize,
        /// What is wrong.
        reason: String,
    },
    /// An event of the registry log does not fit the events before it.
    #[error("registry log event {position}: {problem}")]
    EventRejected {
        /// Position in the whole log (0-based; the genesis nodes come first).
        position: u64,
        /// What is wrong.
        problem: Box<EventProblem>,
    },
}

/// Why a registry event cannot be applied.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum EventProblem {
    /// A join of a node that is already in the network.
    #[error("node {0} joins but is already in the network")]
    AlreadyJoined(NodeId),
    /// An exit of a node that is not in the network.
    #[error("node {0} exits but is not in the network")]
    NotJoined(NodeId),
}

/// A node's identity key, shown as 64 lowercase hex digits. Node IDs are
/// ordered by their 32 key bytes (the same order as their hex).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct NodeId(pub PublicKey);

impl Ord for NodeId {
    fn cmp(&self, other: &NodeId) -> Ordering {
        self.0.as_bytes().cmp(other.0.as_bytes())
    }
}

impl PartialOrd for NodeId {
    fn partial_cmp(&self, other: &NodeId) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}

impl fmt::Display for NodeId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0.to_hex())
    }
}

impl std::str::FromStr for NodeId {
    type Err = String;
    fn from_str(s: &str) -> Result<NodeId, String> {
        let bytes = hex::decode(s).map_err(|e| format!("node_id is not hex: {e}"))?;
        PublicKey::from_slice(&bytes)
            .map(NodeId)
            .map_err(|e| format!("node_id is not an Ed25519 public key: {e}"))
    }
}

/// One service node.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct NodeEntry {
    /// The node's identity key; clients pin it in TLS.
    pub id: NodeId,
    /// Where its QUIC endpoint listens.
    pub addr: SocketAddr,
}

#[derive(Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawNode {
    node_id: String,
    addr: String,
}

#[derive(Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawEvent {
    kind: String,
    node_id: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    addr: Option<String>,
}

#[derive(Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawRegistry {
    version: u32,
    network: String,
    #[serde(default)]
    nodes: Vec<RawNode>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    events: Vec<RawEvent>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    chain: Option<chain::RawChain>,
}

#[derive(Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawNetwork {
    version: u32,
    network: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    registry: Option<String>,
    #[serde(default)]
    seeds: Vec<RawNode>,
}

fn parse_nodes(raw: Vec<RawNode>) -> Result<Vec<NodeEntry>, RegistryError> {
    let mut seen = HashSet::new();
    let mut out = Vec::with_capacity(raw.len());
    for (index, n) in raw.into_iter().enumerate() {
        let id: NodeId = n
            .node_id
            .parse()
            .map_err(|reason| RegistryError::InvalidNode { index, reason })?;
        let addr: SocketAddr = n.addr.parse().map_err(|e| RegistryError::InvalidNode {
            index,
            reason: format!("addr {:?}: {e}", n.addr),
        })?;
        if !seen.insert(id) {
            return Err(RegistryError::InvalidNode {
                index,
                reason: format!("node {id} is listed twice"),
            });
        }
        out.push(NodeEntry { id, addr });
    }
    Ok(out)
}

fn parse_events(raw: Vec<RawEvent>) -> Result<Vec<RegistryEvent>, RegistryError> {
    let mut out = Vec::with_capacity(raw.len());
    for (index, e) in raw.into_iter().enumerate() {
        let invalid = |reason| RegistryError::InvalidEvent { index, reason };
        let id: NodeId = e.node_id.parse().map_err(invalid)?;
        let event = match (e.kind.as_str(), e.addr) {
            ("join", Some(addr)) => {
                let addr: SocketAddr = addr
                    .parse()
                    .map_err(|err| invalid(format!("addr {addr:?}: {err}")))?;
                RegistryEvent::Join {
                    node: NodeEntry { id, addr },
                }
            }
            ("join", None) => return Err(invalid("a join needs an addr".into())),
            ("exit", None) => RegistryEvent::Exit { id },
            ("exit", Some(_)) => return Err(invalid("an exit has no addr".into())),
            ("contact", Some(addr)) => {
                let addr: SocketAddr = addr
                    .parse()
                    .map_err(|err| invalid(format!("addr {addr:?}: {err}")))?;
                RegistryEvent::Contact {
                    node: NodeEntry { id, addr },
                }
            }
            ("contact", None) => return Err(invalid("a contact change needs an addr".into())),
            (kind, _) => {
                return Err(invalid(format!(
                    "kind {kind:?} is not \"join\", \"exit\" or \"contact\""
                )));
            }
        };
        out.push(event);
    }
    Ok(out)
}

fn events_to_raw(events: &[RegistryEvent]) -> Vec<RawEvent> {
    events
        .iter()
        .map(|e| match e {
            RegistryEvent::Join { node } => RawEvent {
                kind: "join".into(),
                node_id: node.id.to_string(),
                addr: Some(node.addr.to_string()),
            },
            RegistryEvent::Exit { id } => RawEvent {
                kind: "exit".into(),
                node_id: id.to_string(),
                addr: None,
            },
            RegistryEvent::Contact { node } => RawEvent {
                kind: "contact".into(),
                node_id: node.id.to_string(),
                addr: Some(node.addr.to_string()),
            },
        })
        .collect()
}

fn to_raw(nodes: &[NodeEntry]) -> Vec<RawNode> {
    nodes
        .iter()
        .map(|n| RawNode {
            node_id: n.id.to_string(),
            addr: n.addr.to_string(),
        })
        .collect()
}

fn read_bounded(path: &Path) -> Result<String, RegistryError> {
    let read_err = |source| RegistryError::Read {
        path: path.to_path_buf(),
        source,
    };
    let size = std::fs::metadata(path).map_err(read_err)?.len();
    if size > MAX_FILE_SIZE {
        return Err(RegistryError::TooLarge {
            path: path.to_path_buf(),
            size,
        });
    }
    std::fs::read_to_string(path).map_err(read_err)
}

/// The registry log (devnet form): genesis nodes, then join, exit and contact
/// events.
///
/// The whole log ([`Registry::log`]) is the genesis nodes as joins, in
/// order, followed by `events`; replaying it ([`Registry::swarm_map`]) gives
/// the current nodes and swarms. A registry read from a file always has a
/// valid log; one built by hand is checked when it is replayed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Registry {
    /// The network's name; clients and nodes refuse to mix networks.
    pub network: String,
    /// The genesis nodes, in file order (`[[nodes]]`): the log's first
    /// events, all joins. The *current* nodes are [`Registry::live_nodes`].
    pub nodes: Vec<NodeEntry>,
    /// The events after genesis, in order (`[[events]]`).
    pub events: Vec<RegistryEvent>,
    /// For a registry derived from the staking contract (`[chain]`): the
    /// chain, contract and block it was derived at, and every registered
    /// node. `None` for a hand-made (devnet file) registry.
    pub chain: Option<ChainOrigin>,
}

impl Registry {
    /// Parse registry TOML.
    pub fn from_toml(text: &str) -> Result<Registry, RegistryError> {
        if text.len() as u64 > MAX_FILE_SIZE {
            return Err(RegistryError::TooLarge {
                path: PathBuf::from("<registry>"),
                size: text.len() as u64,
            });
        }
        let raw: RawRegistry = toml::from_str(text).map_err(|e| RegistryError::Parse {
            what: "registry",
            message: e.to_string(),
        })?;
        if raw.version != FORMAT_VERSION {
            return Err(RegistryError::UnsupportedVersion {
                what: "registry",
                version: raw.version,
            });
        }
        let registry = Registry {
            network: raw.network,
            nodes: parse_nodes(raw.nodes)?,
            events: parse_events(raw.events)?,
            chain: raw.chain.map(ChainOrigin::from_raw).transpose()?,
        };
        // The log must replay; a [chain] section must agree with it.
        match &registry.chain {
            Some(chain) => chain.check_against(&registry.live_nodes()?)?,
            None => {
                registry.swarm_map()?;
            }
        }
        Ok(registry)
    }

    /// A registry with genesis nodes only.
    pub fn genesis(network: impl Into<String>, nodes: Vec<NodeEntry>) -> Registry {
        Registry {
            network: network.into(),
            nodes,
            events: Vec::new(),
            chain: None,
        }
    }

    /// The snapshot's height (`docs/PROTOCOL.md` §12), by which clients
    /// order snapshots: the block it was derived at for a chain registry,
    /// otherwise the number of events in the whole log.
    pub fn height(&self) -> u64 {
        match &self.chain {
            Some(chain) => chain.block,
            None => u64::try_from(self.nodes.len() + self.events.len()).unwrap_or(u64::MAX),
        }
    }

    /// The whole log: the genesis nodes as joins, then `events`.
    pub fn log(&self) -> Vec<RegistryEvent> {
        self.nodes
            .iter()
            .map(|node| RegistryEvent::Join { node: node.clone() })
            .chain(self.events.iter().cloned())
            .collect()
    }

    /// Replays the whole log into the current swarms.
    ///
    /// Fails with [`RegistryError::EventRejected`] if an event does not fit
    /// (its `position` counts the genesis nodes first).
    pub fn swarm_map(&self) -> Result<SwarmMap, RegistryError> {
        // As `SwarmMap::replay`: each swarm's shared entries are rebuilt once,
        // at the end, not after every event.
        let mut map = SwarmMap::new();
        for node in &self.nodes {
            map.apply_deferred(&RegistryEvent::Join { node: node.clone() })?;
        }
        for event in &self.events {
            map.apply_deferred(event)?;
        }
        map.refresh_all();
        Ok(map)
    }

    /// The nodes in the network after the whole log, in the order of their
    /// latest join (for a registry without events: the genesis nodes, in
    /// file order).
    pub fn live_nodes(&self) -> Result<Vec<NodeEntry>, RegistryError> {
        let map = self.swarm_map()?;
        let mut joined_at = HashMap::new();
        for (position, event) in self.log().into_iter().enumerate() {
            if let RegistryEvent::Join { node } = event {
                joined_at.insert(node.id, position);
            }
        }
        let mut live = map.nodes();
        live.sort_by_key(|n| joined_at.get(&n.id).copied().unwrap_or(usize::MAX));
        Ok(live)
    }

    /// Appends `event` to the log if it fits (a join of a node not in the
    /// network, an exit or contact change of one that is); otherwise returns
    /// [`RegistryError::EventRejected`] and leaves the registry unchanged.
    ///
    /// This replays the whole log; it is meant for devnet tools.
    pub fn append(&mut self, event: RegistryEvent) -> Result<(), RegistryError> {
        self.swarm_map()?.apply(&event)?;
        self.events.push(event);
        Ok(())
    }

    /// Read a registry file.
    pub fn load(path: &Path) -> Result<Registry, RegistryError> {
        Self::from_toml(&read_bounded(path)?)
    }

    /// Render as TOML.
    pub fn to_toml(&self) -> String {
        let raw = RawRegistry {
            version: FORMAT_VERSION,
            network: self.network.clone(),
            nodes: to_raw(&self.nodes),
            events: events_to_raw(&self.events),
            chain: self.chain.as_ref().map(ChainOrigin::to_raw),
        };
        // A struct of strings and vectors always serializes.
        toml::to_string(&raw).unwrap_or_default()
    }
}

/// What a client starts from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NetworkFile {
    /// The network's name.
    pub network: String,
    /// Where the registry file is (devnet only), resolved against the
    /// network file's directory.
    pub registry: Option<PathBuf>,
    /// Nodes to bootstrap from.
    pub seeds: Vec<NodeEntry>,
}

impl NetworkFile {
    /// Parse network TOML; a relative `registry` path is resolved against `base_dir`.
    pub fn from_toml(text: &str, base_dir: &Path) -> Result<NetworkFile, RegistryError> {
        if text.len() as u64 > MAX_FILE_SIZE {
            return Err(RegistryError::TooLarge {
                path: PathBuf::from("<network file>"),
                size: text.len() as u64,
            });
        }
        let raw: RawNetwork = toml::from_str(text).map_err(|e| RegistryError::Parse {
            what: "network file",
            message: e.to_string(),
        })?;
        if raw.version != FORMAT_VERSION {
            return Err(RegistryError::UnsupportedVersion {
                what: "network file",
                version: raw.version,
            });
        }
        let seeds = parse_nodes(raw.seeds)?;
        if seeds.is_empty() {
            return Err(RegistryError::Empty);
        }
        Ok(NetworkFile {
            network: raw.network,
            registry: raw.registry.map(|r| base_dir.join(r)),
            seeds,
        })
    }

    /// Read a network file.
    pub fn load(path: &Path) -> Result<NetworkFile, RegistryError> {
        let base = path.parent().unwrap_or(Path::new("."));
        Self::from_toml(&read_bounded(path)?, base)
    }

    /// Render as TOML; `registry` is written as given (keep it relative for a
    /// devnet directory that may move).
    pub fn to_toml(&self, registry: Option<&str>) -> String {
        let raw = RawNetwork {
            version: FORMAT_VERSION,
            network: self.network.clone(),
            registry: registry.map(str::to_string),
            seeds: to_raw(&self.seeds),
        };
        toml::to_string(&raw).unwrap_or_default()
    }

    /// The node list a client uses: the registry's current nodes
    /// ([`Registry::live_nodes`]) when the network file names one (and it
    /// belongs to the same network), else the seeds.
    pub fn nodes(&self) -> Result<Vec<NodeEntry>, RegistryError> {
        match &self.registry {
            Some(path) => {
                let reg = Registry::load(path)?;
                if reg.network != self.network {
                    return Err(RegistryError::Parse {
                        what: "registry",
                        message: format!(
                            "registry is for network {:?}, network file for {:?}",
                            reg.network, self.network
                        ),
                    });
                }
                let nodes = reg.live_nodes()?;
                if nodes.is_empty() {
                    return Err(RegistryError::Empty);
                }
                Ok(nodes)
            }
            None => Ok(self.seeds.clone()),
        }
    }
}

/// The members of the swarm that holds `account`'s mailbox (sorted by node
/// ID); empty if the map has no swarms.
pub fn swarm_members_for_account(map: &SwarmMap, account: &PublicKey) -> Vec<NodeEntry> {
    map.swarm_for_account(account)
        .and_then(|swarm| map.members(swarm))
        .unwrap_or_default()
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use nightjar_crypto::identity::Identity;

    fn node(port: u16) -> NodeEntry {
        NodeEntry {
            id: NodeId(Identity::generate().unwrap().public_key()),
            addr: SocketAddr::from(([127, 0, 0, 1], port)),
        }
    }

    /// The position and problem of an [`RegistryError::EventRejected`].
    pub(crate) fn rejection<T>(r: Result<T, RegistryError>) -> Option<(u64, EventProblem)> {
        match r {
            Err(RegistryError::EventRejected { position, problem }) => Some((position, *problem)),
            _ => None,
        }
    }

    #[test]
    fn registry_round_trips() {
        let reg = Registry {
            network: "devnet".into(),
            nodes: vec![node(1), node(2)],
            events: Vec::new(),
            chain: None,
        };
        assert_eq!(Registry::from_toml(&reg.to_toml()).unwrap(), reg);
    }

    #[test]
    fn registry_with_events_round_trips() {
        let (a, b, c) = (node(1), node(2), node(3));
        let mut reg = Registry::genesis("devnet", vec![a.clone(), b.clone()]);
        reg.append(RegistryEvent::Join { node: c.clone() }).unwrap();
        reg.append(RegistryEvent::Exit { id: a.id }).unwrap();
        reg.append(RegistryEvent::Join { node: node(4) }).unwrap();
        let text = reg.to_toml();
        assert!(text.contains("[[nodes]]") && text.contains("[[events]]"));
        assert!(text.contains("kind = \"exit\""));
        let parsed = Registry::from_toml(&text).unwrap();
        assert_eq!(parsed, reg);
        assert_eq!(parsed.log().len(), 5);
        assert_eq!(parsed.swarm_map().unwrap().height(), 5);
        // Current nodes, in the order of their latest join.
        let live: Vec<_> = parsed.live_nodes().unwrap();
        assert_eq!(live, vec![b, c, reg.events[2].clone().into_join().unwrap()]);
    }

    impl RegistryEvent {
        fn into_join(self) -> Option<NodeEntry> {
            match self {
                RegistryEvent::Join { node } => Some(node),
                RegistryEvent::Exit { .. } | RegistryEvent::Contact { .. } => None,
            }
        }
    }

    #[test]
    fn genesis_only_files_keep_the_old_format() {
        let reg = Registry::genesis("d", vec![node(1)]);
        let text = reg.to_toml();
        assert!(!text.contains("events"));
        let old = format!(
            "version = 1\nnetwork = \"d\"\n[[nodes]]\nnode_id = \"{}\"\naddr = \"127.0.0.1:1\"\n",
            reg.nodes[0].id
        );
        assert_eq!(Registry::from_toml(&old).unwrap(), reg);
        assert_eq!(reg.live_nodes().unwrap(), reg.nodes);
    }

    #[test]
    fn malformed_and_misplaced_events_are_rejected() {
        let id = node(1).id;
        let head = "version = 1\nnetwork = \"d\"\n";
        let with = |events: &str| Registry::from_toml(&format!("{head}{events}"));
        let join =
            format!("[[events]]\nkind = \"join\"\nnode_id = \"{id}\"\naddr = \"127.0.0.1:1\"\n");
        let exit = format!("[[events]]\nkind = \"exit\"\nnode_id = \"{id}\"\n");
        assert!(with(&join).is_ok());
        assert!(with(&format!("{join}{exit}")).is_ok());
        let cases = [
            format!("[[events]]\nkind = \"leave\"\nnode_id = \"{id}\"\n"),
            format!("[[events]]\nkind = \"join\"\nnode_id = \"{id}\"\n"),
            format!("[[events]]\nkind = \"exit\"\nnode_id = \"{id}\"\naddr = \"127.0.0.1:1\"\n"),
            "[[events]]\nkind = \"exit\"\nnode_id = \"00\"\n".to_string(),
            format!("[[events]]\nkind = \"join\"\nnode_id = \"{id}\"\naddr = \"nowhere\"\n"),
        ];
        for case in &cases {
            assert!(
                matches!(
                    with(&format!("{join}{case}")),
                    Err(RegistryError::InvalidEvent { index: 1, .. })
                ),
                "{case}"
            );
        }
        assert!(matches!(
            with(&format!(
                "{join}[[events]]\nkind = \"exit\"\nnode_id = \"{id}\"\nextra = 1\n"
            )),
            Err(RegistryError::Parse { .. })
        ));
        assert_eq!(
            rejection(with(&exit)),
            Some((0, EventProblem::NotJoined(id)))
        );
        assert_eq!(
            rejection(with(&format!("{join}{exit}{exit}"))),
            Some((2, EventProblem::NotJoined(id)))
        );
        // A join of a genesis node: positions count the genesis nodes first.
        let genesis = format!("[[nodes]]\nnode_id = \"{id}\"\naddr = \"127.0.0.1:1\"\n");
        assert_eq!(
            rejection(with(&format!("{genesis}{join}"))),
            Some((1, EventProblem::AlreadyJoined(id)))
        );
    }

    #[test]
    fn contact_events_move_a_node_and_round_trip() {
        let (a, b) = (node(1), node(2));
        let mut reg = Registry::genesis("d", vec![a.clone(), b.clone()]);
        let moved = NodeEntry {
            id: a.id,
            addr: "[2001:db8::1]:443".parse().unwrap(),
        };
        reg.append(RegistryEvent::Contact {
            node: moved.clone(),
        })
        .unwrap();
        let text = reg.to_toml();
        assert!(text.contains("kind = \"contact\""), "{text}");
        assert!(text.contains("addr = \"[2001:db8::1]:443\""), "{text}");
        let parsed = Registry::from_toml(&text).unwrap();
        assert_eq!(parsed, reg);
        let map = parsed.swarm_map().unwrap();
        assert_eq!(map.node(&a.id), Some(&moved));
        assert_eq!(map.height(), 3);
        // Still in genesis order (a contact change is not a join).
        assert_eq!(parsed.live_nodes().unwrap(), vec![moved.clone(), b]);
        assert_eq!(
            map.members(SwarmId(0))
                .unwrap()
                .iter()
                .find(|n| n.id == a.id),
            Some(&moved)
        );

        // Of a node that is not in the network: refused.
        let stranger = node(3);
        assert!(matches!(
            reg.append(RegistryEvent::Contact {
                node: stranger.clone()
            }),
            Err(RegistryError::EventRejected { position: 3, .. })
        ));
        let head = "version = 1\nnetwork = \"d\"\n";
        let no_addr = format!(
            "{head}[[events]]\nkind = \"contact\"\nnode_id = \"{}\"\n",
            a.id
        );
        assert!(matches!(
            Registry::from_toml(&no_addr),
            Err(RegistryError::InvalidEvent { index: 0, .. })
        ));
        let unknown = format!(
            "{head}[[events]]\nkind = \"contact\"\nnode_id = \"{}\"\naddr = \"127.0.0.1:9\"\n",
            stranger.id
        );
        assert_eq!(
            rejection(Registry::from_toml(&unknown)),
            Some((0, EventProblem::NotJoined(stranger.id)))
        );
    }

    #[test]
    fn append_rejects_events_that_do_not_fit() {
        let a = node(1);
        let mut reg = Registry::genesis("d", vec![a.clone()]);
        let before = reg.clone();
        assert!(matches!(
            reg.append(RegistryEvent::Join { node: a.clone() }),
            Err(RegistryError::EventRejected { position: 1, .. })
        ));
        assert!(matches!(
            reg.append(RegistryEvent::Exit { id: node(2).id }),
            Err(RegistryError::EventRejected { position: 1, .. })
        ));
        assert_eq!(reg, before);
        reg.append(RegistryEvent::Exit { id: a.id }).unwrap();
        reg.append(RegistryEvent::Join { node: a }).unwrap();
        assert_eq!(reg.events.len(), 2);
    }

    #[test]
    fn network_file_uses_the_registry_s_current_nodes() {
        let dir = tempfile::tempdir().unwrap();
        let (a, b, c) = (node(1), node(2), node(3));
        let mut reg = Registry::genesis("d", vec![a.clone(), b.clone()]);
        reg.append(RegistryEvent::Exit { id: a.id }).unwrap();
        reg.append(RegistryEvent::Join { node: c.clone() }).unwrap();
        std::fs::write(dir.path().join("registry.toml"), reg.to_toml()).unwrap();
        let net = NetworkFile {
            network: "d".into(),
            registry: None,
            seeds: vec![a.clone()],
        };
        let path = dir.path().join("network.toml");
        std::fs::write(&path, net.to_toml(Some("registry.toml"))).unwrap();
        let loaded = NetworkFile::load(&path).unwrap();
        assert_eq!(loaded.nodes().unwrap(), vec![b.clone(), c]);

        reg.append(RegistryEvent::Exit { id: b.id }).unwrap();
        let last = match &reg.events[1] {
            RegistryEvent::Join { node } => node.id,
            RegistryEvent::Exit { .. } | RegistryEvent::Contact { .. } => unreachable!(),
        };
        reg.append(RegistryEvent::Exit { id: last }).unwrap();
        std::fs::write(dir.path().join("registry.toml"), reg.to_toml()).unwrap();
        assert!(matches!(loaded.nodes(), Err(RegistryError::Empty)));
    }

    #[test]
    fn swarm_members_for_account_is_the_account_s_swarm() {
        let nodes: Vec<_> = (1..=12).map(node).collect();
        let reg = Registry::genesis("d", nodes);
        let map = reg.swarm_map().unwrap();
        assert_eq!(map.swarm_count(), 2);
        let account = Identity::generate().unwrap().public_key();
        let members = swarm_members_for_account(&map, &account);
        let swarm = map.swarm_for_account(&account).unwrap();
        assert_eq!(Some(members.clone()), map.members(swarm));
        assert!((MIN_SWARM_SIZE..=MAX_SWARM_SIZE).contains(&members.len()));
        assert!(swarm_members_for_account(&SwarmMap::new(), &account).is_empty());
    }

    #[test]
    fn duplicate_and_invalid_nodes_are_rejected() {
        let n = node(1);
        let dup = Registry {
            network: "d".into(),
            nodes: vec![n.clone(), n],
            events: Vec::new(),
            chain: None,
        };
        assert!(matches!(
            Registry::from_toml(&dup.to_toml()),
            Err(RegistryError::InvalidNode { index: 1, .. })
        ));
        let bad =
            "version = 1\nnetwork = \"d\"\n[[nodes]]\nnode_id = \"zz\"\naddr = \"127.0.0.1:1\"\n";
        assert!(matches!(
            Registry::from_toml(bad),
            Err(RegistryError::InvalidNode { index: 0, .. })
        ));
        let v2 = "version = 2\nnetwork = \"d\"\n";
        assert!(matches!(
            Registry::from_toml(v2),
            Err(RegistryError::UnsupportedVersion { version: 2, .. })
        ));
    }

    #[test]
    fn network_file_resolves_registry_relative_to_itself() {
        let net = NetworkFile {
            network: "d".into(),
            registry: None,
            seeds: vec![node(5)],
        };
        let text = net.to_toml(Some("registry.toml"));
        let parsed = NetworkFile::from_toml(&text, Path::new("/x/y")).unwrap();
        assert_eq!(parsed.registry, Some(PathBuf::from("/x/y/registry.toml")));
        assert_eq!(parsed.seeds, net.seeds);
    }
}
