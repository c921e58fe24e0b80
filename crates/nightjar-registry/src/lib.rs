//! Nightjar's node registry and network file, in their devnet form.
//!
//! The **registry** says which service nodes exist: each node's Ed25519
//! identity key (its node ID) and its address. On the devnet it is a genesis
//! file (`registry.toml`); later it becomes an ordered log of join and exit
//! events and then a staking contract's events. The **network file**
//! (`network.toml`) is what a client starts from: the network's name, its seed
//! nodes, and (devnet only) where the registry file is.
//!
//! [`choose_node`] is the one place where a client decides which node holds an
//! account's mailbox. Today it is rendezvous hashing over the registry's nodes
//! (every client derives the same node for an account); swarms replace it.
//!
//! This crate does no networking and reads files only in [`Registry::load`]
//! and [`NetworkFile::load`]; both formats are specified in `docs/PROTOCOL.md`.

use std::collections::HashSet;
use std::fmt;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};

use nightjar_crypto::identity::PublicKey;
use serde::{Deserialize, Serialize};

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
}

/// A node's identity key, shown as 64 lowercase hex digits.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct NodeId(pub PublicKey);

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
struct RawRegistry {
    version: u32,
    network: String,
    #[serde(default)]
    nodes: Vec<RawNode>,
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

/// The set of service nodes (devnet genesis form).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Registry {
    /// The network's name; clients and nodes refuse to mix networks.
    pub network: String,
    /// The nodes, in file order.
    pub nodes: Vec<NodeEntry>,
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
        Ok(Registry {
            network: raw.network,
            nodes: parse_nodes(raw.nodes)?,
        })
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

    /// The node list a client uses: the registry when the network file names
    /// one (and it belongs to the same network), else the seeds.
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
                if reg.nodes.is_empty() {
                    return Err(RegistryError::Empty);
                }
                Ok(reg.nodes)
            }
            None => Ok(self.seeds.clone()),
        }
    }
}

/// The node that holds `account`'s mailbox: the node with the highest
/// rendezvous score `BLAKE2b(key "nightjar/v1/node-choice", account ‖ node_id)`,
/// read as a big-endian number (ties cannot happen between distinct nodes in
/// practice; they fall to file order). Every client computes the same answer
/// from the same registry, and removing a node moves only that node's accounts.
pub fn choose_node<'a>(nodes: &'a [NodeEntry], account: &PublicKey) -> Option<&'a NodeEntry> {
    nodes
        .iter()
        .max_by_key(|n| nightjar_crypto::hash::rendezvous_score(account, &n.id.0))
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

    #[test]
    fn registry_round_trips() {
        let reg = Registry {
            network: "devnet".into(),
            nodes: vec![node(1), node(2)],
        };
        assert_eq!(Registry::from_toml(&reg.to_toml()).unwrap(), reg);
    }

    #[test]
    fn duplicate_and_invalid_nodes_are_rejected() {
        let n = node(1);
        let dup = Registry {
            network: "d".into(),
            nodes: vec![n.clone(), n],
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

    #[test]
    fn node_choice_is_deterministic_and_stable_when_others_leave() {
        let nodes: Vec<_> = (1..=5).map(node).collect();
        let account = Identity::generate().unwrap().public_key();
        let chosen = choose_node(&nodes, &account).unwrap().clone();
        let mut shuffled = nodes.clone();
        shuffled.reverse();
        assert_eq!(choose_node(&shuffled, &account).unwrap(), &chosen);
        let without_other: Vec<_> = nodes
            .iter()
            .filter(|n| n.id == chosen.id)
            .chain(nodes.iter().filter(|n| n.id != chosen.id).skip(1))
            .cloned()
            .collect();
        assert_eq!(without_other.len(), 4);
        assert_eq!(choose_node(&without_other, &account).unwrap(), &chosen);
    }
}
