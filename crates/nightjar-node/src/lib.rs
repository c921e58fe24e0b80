//! The Nightjar service node: stores sealed envelopes for a limited time and
//! answers `store`, `retrieve` (with push-style waiting), `delete` and `info`.
//!
//! The protocol logic is sans-IO. [`engine`] is the whole node as one
//! event-driven state machine ([`engine::NodeCore`]: requests, store and
//! peer answers and timeouts in; replies, store commands, peer requests and
//! events out), holding the one write-quorum tracker (verified receipts) that
//! stores and hand-off share, waiting retrieves, onion relaying, sync
//! answers, anti-entropy rounds and hand-off. [`core`] is its per-request
//! part: authentication, replay and placement. [`driver`] is the thin
//! tokio layer that runs the engine over QUIC (`nightjar-transport`)
//! against the SQLite store (`nightjar-store`), keeps its one timer, polls
//! the registry file and serves Prometheus metrics on a loopback admin
//! address; it decides nothing about the protocol. The network simulator
//! (`nightjar-sim`) drives the same engine on virtual time with an
//! in-memory store. [`config`] is the TOML configuration the `nightjar-node`
//! binary reads.
//!
//! A node never sees plaintext: envelopes are sealed to their recipients and
//! carry no sender the node can read. Logs at info level carry no IP
//! addresses, account IDs or message data.
//!
//! Swarms: with a registry file the node knows the swarm map; it serves only
//! accounts of its own swarm (others get a "wrong swarm" answer naming the
//! right one), replicates each store to its swarm peers over pooled
//! node-to-node connections ([`peers`]) and acknowledges it once a write
//! quorum holds it (each member's receipt verified), and runs anti-entropy
//! and hand-off rounds (state machines in [`engine`]; the ring arithmetic
//! is in [`sync`]).
//!
//! Onion relaying: an `onion` request carries one layer for this node
//! ([`onion`] decides, sans-IO): forward it to the next hop over the pooled
//! node-to-node connections and wrap the answer, or handle the request it
//! carries as the destination. With `debug_accounting` (test networks only)
//! the node records what it saw ([`accounting`]).
//!
//! Not here: client logic and path selection (`nightjar-client`).

pub mod accounting;
pub mod circuit;
pub mod config;
pub mod core;
pub mod driver;
pub mod engine;
pub mod metrics;
pub mod onion;
pub mod peers;
pub mod sync;

pub use config::{ChainConfig, NodeConfig};
pub use driver::{NodeError, RunningNode, start, unix_now_ms};
