//! Nightjar's chain follower: the node registry contract's events turned
//! into the ordered registry log that [`nightjar_registry::SwarmMap`]
//! replays, following an EVM chain safely.
//!
//! Which service nodes exist is decided by the staking contract
//! (`contracts/src/NodeRegistry.sol`, `docs/PROTOCOL.md` §13). Every node and
//! client follows its events and must derive the same node list; this crate
//! is that follower, shared by the node and the CLI:
//!
//! * [`events`]: the contract's five registry events, decoded strictly from
//!   a log's topics and data; [`contact`]: the contact encoding (§13.3);
//! * [`ledger`]: the follower's rule (§13.4) — first valid registration of a
//!   key wins, proofs checked with [`nightjar_crypto::registration`] against
//!   the configured chain ID and contract — and how each event maps onto the
//!   registry log (join, exit, contact);
//! * [`follower`]: the sans-IO core, in the style of quinn-proto: chain heads,
//!   headers and logs in, JSON-RPC calls and [`Snapshot`]s out, on an
//!   explicit `now_ms`. It reads logs in ranges up to the head minus a
//!   confirmation depth, checks block-hash continuity and rolls back what a
//!   reorganisation removed, checks every endpoint's chain ID, fails over
//!   between endpoints without trusting a lagging one, and reports itself
//!   stale when the chain or the endpoints stop, keeping its last registry;
//! * [`state`]: the state file that lets a restart resume (written
//!   atomically, size-limited, refused with a clear error when corrupt);
//! * [`rpc`] (feature `rpc`, on by default): the thin adapter — alloy's HTTP
//!   provider and a tokio loop ([`rpc::ChainFollower`]).
//!
//! The result is deterministic: the same contract logs give the same ledger
//! and the same registry log on every follower, whatever ranges, endpoints,
//! retries, restarts or reorganisations it went through.
//!
//! Not here: driving a node or a devnet from the chain, CLI commands, or any
//! transaction (registering, exiting, staking; those are
//! `nightjar-chain-tx`'s): the follower only reads.
//! (The crate's anvil test deploys the contract and registers nodes through
//! its own test-only helpers, `tests/support/`.)

pub mod contact;
pub mod error;
pub mod events;
pub mod follower;
pub mod ledger;
#[cfg(feature = "rpc")]
pub mod rpc;
pub mod state;
pub mod types;

pub use alloy_primitives::{Address, B256, U256};
pub use error::ChainError;
pub use events::{ContractEvent, EVENT_TOPICS};
pub use follower::{
    Answer, Call, Follower, FollowerConfig, FollowerEvent, FollowerStatus, Request, RequestId,
    Snapshot,
};
pub use ledger::{ChainNode, Ledger, NodeState};
pub use state::SavedState;
pub use types::{BlockRef, ChainLog, Header, LogPosition, RawLog};
