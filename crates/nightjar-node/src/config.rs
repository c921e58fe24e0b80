//! The node's configuration: a TOML file whose every key a command-line flag
//! can override (see `docs/OPERATING.md`).

use std::net::SocketAddr;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

/// Why the configuration is unusable.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ConfigError {
    /// The file could not be read.
    #[error("cannot read config {path}: {source}")]
    Read {
        /// The file.
        path: PathBuf,
        /// Why.
        #[source]
        source: std::io::Error,
    },
    /// The file is not valid TOML for this schema.
    #[error("invalid config {path}: {message}")]
    Parse {
        /// The file.
        path: PathBuf,
        /// What the parser said.
        message: String,
    },
    /// A value is out of range or inconsistent.
    #[error("invalid setting {key}: {reason}")]
    Invalid {
        /// Which key.
        key: &'static str,
        /// What is wrong.
        reason: String,
    },
}

/// Everything a node needs to run.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NodeConfig {
    /// UDP address the QUIC endpoint listens on.
    pub listen: SocketAddr,
    /// Where the message database and (by default) the key file live.
    pub data_dir: PathBuf,
    /// The node's identity key file; default `data_dir/node.key`.
    #[serde(default)]
    pub key_file: Option<PathBuf>,
    /// Loopback TCP address for `/metrics` and `/health`; none disables it.
    #[serde(default)]
    pub admin: Option<SocketAddr>,
    /// Most messages one account may hold on this node.
    #[serde(default = "default_max_messages")]
    pub max_messages_per_account: u64,
    /// Most bytes one account may hold on this node.
    #[serde(default = "default_max_bytes")]
    pub max_bytes_per_account: u64,
    /// Seconds between purges of expired messages.
    #[serde(default = "default_purge_interval")]
    pub purge_interval_secs: u64,
    /// Most stores committed together in one transaction (one fsync).
    #[serde(default = "default_max_batch")]
    pub max_batch: usize,
    /// The log filter (`tracing` env-filter syntax), e.g. `info` or `nightjar_node=debug`.
    #[serde(default = "default_log")]
    pub log: String,
    /// The registry file (devnet form); the node re-reads it when it changes.
    /// Without one (and without `[chain]`) the node serves every account
    /// alone.
    #[serde(default)]
    pub registry: Option<PathBuf>,
    /// Follow the staking contract on an EVM chain for the registry
    /// (`[chain]`, `docs/OPERATING.md`); excludes `registry`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub chain: Option<ChainConfig>,
    /// Durable copies a store needs before it is acknowledged; default a
    /// majority of the account's swarm.
    #[serde(default)]
    pub write_quorum: Option<usize>,
    /// Seconds between anti-entropy rounds with the swarm's other members.
    #[serde(default = "default_sync_interval")]
    pub sync_interval_secs: u64,
    /// Milliseconds a request frame has to arrive completely, counted from
    /// the moment its stream opens; a slower stream is answered `bad_request`
    /// and freed.
    #[serde(default = "default_request_read_timeout")]
    pub request_read_timeout_ms: u64,
    /// Requests per second one connection may make (a token bucket holding
    /// twice this many); beyond it the node answers `rate_limited` without
    /// reading the request. Connections from registered nodes are exempt.
    #[serde(default = "default_requests_per_sec")]
    pub requests_per_sec_per_connection: u32,
    /// Most concurrent connections (handshakes included) from one IP address
    /// (one /64 prefix for IPv6); extra ones are refused before the handshake.
    #[serde(default = "default_max_connections_per_ip")]
    pub max_connections_per_ip: usize,
    /// Most concurrent connections (handshakes included) from everyone;
    /// extra ones are refused before the handshake.
    #[serde(default = "default_max_connections")]
    pub max_connections: usize,
    /// Longest this node waits, as an onion relay, for the next hop's answer
    /// (a layer may ask for less, never for more).
    #[serde(default = "default_max_hop_timeout")]
    pub max_hop_timeout_ms: u64,
    /// How long a circuit lives from its creation, in seconds (1 to 600,
    /// PROTOCOL.md §11.10); the node then drops it and tells both sides.
    #[serde(default = "default_circuit_lifetime")]
    pub circuit_lifetime_secs: u64,
    /// Most circuits this node relays or ends at once; a `create` beyond it
    /// is refused with `destroy`.
    #[serde(default = "default_circuit_max")]
    pub circuit_max: usize,
    /// Test networks only: record which addresses connected, which accounts
    /// were named in requests and the first bytes of every onion answer, and
    /// serve them on the admin address at `/debug/accounting`. Off by default;
    /// never enable it on a node that serves real users.
    #[serde(default)]
    pub debug_accounting: bool,
}

/// The `[chain]` section: where the registry contract is and how to follow
/// it (`docs/PROTOCOL.md` §13).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ChainConfig {
    /// The network's name, written into the registry the node serves
    /// (clients refuse another network's registry).
    pub network: String,
    /// JSON-RPC endpoints (`http://` or `https://`), in order of preference;
    /// at least one. They are never logged (an URL may hold an API key).
    pub rpc: Vec<String>,
    /// The chain ID every endpoint must report.
    pub chain_id: u64,
    /// The registry contract's address, `0x` and 40 hex digits.
    pub contract: String,
    /// The first block to read (the contract's deployment block).
    #[serde(default)]
    pub start_block: u64,
    /// How many blocks behind the head the node's registry stays.
    #[serde(default = "default_confirmations")]
    pub confirmations: u64,
    /// Milliseconds between polls of the chain.
    #[serde(default = "default_chain_poll")]
    pub poll_interval_ms: u64,
    /// After this many seconds without the chain advancing or without
    /// catching up, the node reports its registry stale (it keeps it).
    #[serde(default = "default_stale_after")]
    pub stale_after_secs: u64,
    /// Seconds the node waits at start for a first registry when it has no
    /// saved chain state; it refuses to start without one.
    #[serde(default = "default_initial_sync")]
    pub initial_sync_secs: u64,
    /// Where the follower keeps its position; default
    /// `data_dir/chain-state.json`.
    #[serde(default)]
    pub state_file: Option<PathBuf>,
}

fn default_confirmations() -> u64 {
    nightjar_chain::follower::DEFAULT_CONFIRMATIONS
}
fn default_chain_poll() -> u64 {
    nightjar_chain::follower::DEFAULT_POLL_INTERVAL_MS
}
fn default_stale_after() -> u64 {
    nightjar_chain::follower::DEFAULT_STALE_AFTER_MS / 1000
}
fn default_initial_sync() -> u64 {
    120
}

impl ChainConfig {
    /// The contract address, parsed.
    pub fn contract_address(&self) -> Result<nightjar_chain::Address, ConfigError> {
        let digits = self.contract.strip_prefix("0x").unwrap_or("");
        let bytes = hex::decode(digits).ok().filter(|b| b.len() == 20);
        bytes
            .map(|b| nightjar_chain::Address::from_slice(&b))
            .ok_or_else(|| ConfigError::Invalid {
                key: "chain.contract",
                reason: format!("{:?} is not 0x and 40 hex digits", self.contract),
            })
    }

    /// The follower's configuration.
    pub fn follower_config(&self) -> Result<nightjar_chain::FollowerConfig, ConfigError> {
        let mut config = nightjar_chain::FollowerConfig::new(
            self.chain_id,
            self.contract_address()?,
            self.rpc.len(),
        );
        config.start_block = self.start_block;
        config.confirmations = self.confirmations;
        config.poll_interval_ms = self.poll_interval_ms;
        config.stale_after_ms = self.stale_after_secs.saturating_mul(1000);
        config.validate().map_err(|e| ConfigError::Invalid {
            key: "chain",
            reason: e.to_string(),
        })?;
        Ok(config)
    }
}

fn default_max_messages() -> u64 {
    10_000
}
fn default_max_bytes() -> u64 {
    100 * 1024 * 1024
}
fn default_purge_interval() -> u64 {
    10
}
fn default_max_batch() -> usize {
    256
}
fn default_sync_interval() -> u64 {
    5
}
fn default_request_read_timeout() -> u64 {
    10_000
}
fn default_requests_per_sec() -> u32 {
    300
}
fn default_max_connections_per_ip() -> usize {
    64
}
fn default_max_connections() -> usize {
    10_000
}
fn default_max_hop_timeout() -> u64 {
    45_000
}
fn default_circuit_lifetime() -> u64 {
    600
}
fn default_circuit_max() -> usize {
    crate::circuit::DEFAULT_MAX_CIRCUITS
}
fn default_log() -> String {
    "info".to_string()
}

impl NodeConfig {
    /// A configuration with defaults for everything but the address and directory.
    pub fn new(listen: SocketAddr, data_dir: PathBuf) -> NodeConfig {
        NodeConfig {
            listen,
            data_dir,
            key_file: None,
            admin: None,
            max_messages_per_account: default_max_messages(),
            max_bytes_per_account: default_max_bytes(),
            purge_interval_secs: default_purge_interval(),
            max_batch: default_max_batch(),
            log: default_log(),
            registry: None,
            chain: None,
            write_quorum: None,
            sync_interval_secs: default_sync_interval(),
            request_read_timeout_ms: default_request_read_timeout(),
            requests_per_sec_per_connection: default_requests_per_sec(),
            max_connections_per_ip: default_max_connections_per_ip(),
            max_connections: default_max_connections(),
            max_hop_timeout_ms: default_max_hop_timeout(),
            circuit_lifetime_secs: default_circuit_lifetime(),
            circuit_max: default_circuit_max(),
            debug_accounting: false,
        }
    }

    /// Read a TOML configuration file.
    pub fn from_file(path: &Path) -> Result<NodeConfig, ConfigError> {
        let text = std::fs::read_to_string(path).map_err(|source| ConfigError::Read {
            path: path.to_path_buf(),
            source,
        })?;
        Self::from_toml(&text).map_err(|message| ConfigError::Parse {
            path: path.to_path_buf(),
            message,
        })
    }

    /// Parse TOML text.
    pub fn from_toml(text: &str) -> Result<NodeConfig, String> {
        toml::from_str(text).map_err(|e| e.to_string())
    }

    /// Render as TOML.
    pub fn to_toml(&self) -> String {
        // Serializing this plain struct cannot fail; fall back to an empty document if it ever did.
        toml::to_string(self).unwrap_or_default()
    }

    /// The key file path in force.
    pub fn key_path(&self) -> PathBuf {
        self.key_file
            .clone()
            .unwrap_or_else(|| self.data_dir.join("node.key"))
    }

    /// The database path.
    pub fn db_path(&self) -> PathBuf {
        self.data_dir.join("messages.sqlite")
    }

    /// The chain follower's state file, if the node follows a chain.
    pub fn chain_state_path(&self) -> Option<PathBuf> {
        self.chain.as_ref().map(|c| {
            c.state_file
                .clone()
                .unwrap_or_else(|| self.data_dir.join("chain-state.json"))
        })
    }

    /// Check ranges and the admin address (which must be loopback: metrics are
    /// for the operator, not the world).
    pub fn validate(&self) -> Result<(), ConfigError> {
        if let Some(admin) = self.admin
            && !admin.ip().is_loopback()
        {
            return Err(ConfigError::Invalid {
                key: "admin",
                reason: format!(
                    "{admin} is not a loopback address; the admin endpoint is local-only"
                ),
            });
        }
        if self.max_messages_per_account == 0 || self.max_bytes_per_account == 0 {
            return Err(ConfigError::Invalid {
                key: "max_messages_per_account/max_bytes_per_account",
                reason: "quotas must be positive".into(),
            });
        }
        if self.purge_interval_secs == 0 {
            return Err(ConfigError::Invalid {
                key: "purge_interval_secs",
                reason: "must be at least 1".into(),
            });
        }
        if self.sync_interval_secs == 0 {
            return Err(ConfigError::Invalid {
                key: "sync_interval_secs",
                reason: "must be at least 1".into(),
            });
        }
        if self.write_quorum == Some(0) {
            return Err(ConfigError::Invalid {
                key: "write_quorum",
                reason: "must be at least 1".into(),
            });
        }
        if self.max_batch == 0 {
            return Err(ConfigError::Invalid {
                key: "max_batch",
                reason: "must be at least 1".into(),
            });
        }
        if self.circuit_lifetime_secs == 0 || self.circuit_lifetime_secs > 600 {
            return Err(ConfigError::Invalid {
                key: "circuit_lifetime_secs",
                reason: "must be 1 to 600".into(),
            });
        }
        let limits: [(&'static str, bool); 6] = [
            ("circuit_max", self.circuit_max == 0),
            ("request_read_timeout_ms", self.request_read_timeout_ms == 0),
            ("max_hop_timeout_ms", self.max_hop_timeout_ms == 0),
            (
                "requests_per_sec_per_connection",
                self.requests_per_sec_per_connection == 0,
            ),
            ("max_connections_per_ip", self.max_connections_per_ip == 0),
            ("max_connections", self.max_connections == 0),
        ];
        if let Some((key, _)) = limits.into_iter().find(|(_, zero)| *zero) {
            return Err(ConfigError::Invalid {
                key,
                reason: "must be at least 1".into(),
            });
        }
        if let Some(chain) = &self.chain {
            if self.registry.is_some() {
                return Err(ConfigError::Invalid {
                    key: "registry",
                    reason: "a node follows either a registry file or a chain ([chain]), not both"
                        .into(),
                });
            }
            if chain.network.is_empty() {
                return Err(ConfigError::Invalid {
                    key: "chain.network",
                    reason: "must name the network".into(),
                });
            }
            chain.follower_config()?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn minimal_config_gets_defaults() {
        let c =
            NodeConfig::from_toml("listen = \"127.0.0.1:4000\"\ndata_dir = \"/tmp/x\"\n").unwrap();
        assert_eq!(c.max_messages_per_account, 10_000);
        assert_eq!(c.request_read_timeout_ms, 10_000);
        assert_eq!(c.requests_per_sec_per_connection, 300);
        assert_eq!(c.max_connections_per_ip, 64);
        assert_eq!(c.max_connections, 10_000);
        assert_eq!(c, NodeConfig::new(c.listen, c.data_dir.clone()));
        assert_eq!(c.key_path(), PathBuf::from("/tmp/x/node.key"));
        c.validate().unwrap();
        assert_eq!(NodeConfig::from_toml(&c.to_toml()).unwrap(), c);
    }

    #[test]
    fn unknown_key_is_rejected() {
        assert!(
            NodeConfig::from_toml(
                "listen = \"127.0.0.1:4000\"\ndata_dir = \"x\"\nlisten_typo = 1\n"
            )
            .is_err()
        );
    }

    #[test]
    fn limits_round_trip_and_zero_is_rejected() {
        let mut c = NodeConfig::new("127.0.0.1:1".parse().unwrap(), "d".into());
        c.request_read_timeout_ms = 1_000;
        c.requests_per_sec_per_connection = 50;
        c.max_connections_per_ip = 8;
        c.max_connections = 100;
        c.validate().unwrap();
        assert_eq!(NodeConfig::from_toml(&c.to_toml()).unwrap(), c);
        let zeroed: [fn(&mut NodeConfig); 4] = [
            |c| c.request_read_timeout_ms = 0,
            |c| c.requests_per_sec_per_connection = 0,
            |c| c.max_connections_per_ip = 0,
            |c| c.max_connections = 0,
        ];
        for (i, zero) in zeroed.iter().enumerate() {
            let mut bad = c.clone();
            zero(&mut bad);
            assert!(
                matches!(bad.validate(), Err(ConfigError::Invalid { .. })),
                "case {i}"
            );
        }
    }

    #[test]
    fn a_chain_section_parses_with_defaults_and_excludes_a_registry_file() {
        let text = "listen = \"127.0.0.1:4000\"\ndata_dir = \"/tmp/x\"\n\n[chain]\n\
                    network = \"nightjar-devnet\"\nrpc = [\"http://127.0.0.1:8545\"]\n\
                    chain_id = 31337\ncontract = \"0x5fbdb2315678afecb367f032d93f642f64180aa3\"\n";
        let c = NodeConfig::from_toml(text).unwrap();
        c.validate().unwrap();
        let chain = c.chain.as_ref().unwrap();
        assert_eq!(
            chain.confirmations,
            nightjar_chain::follower::DEFAULT_CONFIRMATIONS
        );
        assert_eq!(
            c.chain_state_path(),
            Some(PathBuf::from("/tmp/x/chain-state.json"))
        );
        assert_eq!(NodeConfig::from_toml(&c.to_toml()).unwrap(), c);
        let follower = chain.follower_config().unwrap();
        assert_eq!(follower.chain_id, 31337);
        assert_eq!(follower.endpoints, 1);

        let mut both = c.clone();
        both.registry = Some("registry.toml".into());
        assert!(matches!(
            both.validate(),
            Err(ConfigError::Invalid {
                key: "registry",
                ..
            })
        ));
        for bad in [
            |c: &mut ChainConfig| c.contract = "5fbdb2315678afecb367f032d93f642f64180aa3".into(),
            |c: &mut ChainConfig| c.contract = "0x5fbd".into(),
            |c: &mut ChainConfig| c.rpc.clear(),
            |c: &mut ChainConfig| c.network.clear(),
        ] {
            let mut wrong = c.clone();
            bad(wrong.chain.as_mut().unwrap());
            assert!(wrong.validate().is_err(), "{:?}", wrong.chain);
        }
    }

    #[test]
    fn public_admin_address_is_rejected() {
        let mut c = NodeConfig::new("127.0.0.1:1".parse().unwrap(), "d".into());
        c.admin = Some("0.0.0.0:9000".parse().unwrap());
        assert!(c.validate().is_err());
    }
}
