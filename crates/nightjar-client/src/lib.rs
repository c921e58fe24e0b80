//! The Nightjar client: an account's profile, and sending and receiving
//! end-to-end-encrypted messages through service nodes, over onion paths.
//!
//! The client's decisions are sans-IO (no tokio, quinn, clock or OS
//! randomness: time comes in as `now_ms: u64`, randomness as a
//! `pick: &mut dyn FnMut(usize) -> usize`, answers as values), so a
//! simulator can run many clients on virtual time:
//!
//! - [`bootstrap`]: the vote between seeds on the first registry snapshot.
//! - [`call`]: one request through onion paths — the layered request with
//!   per-hop timeouts, the blame rule for a failed answer, path retries.
//! - [`failover`]: the order in which swarm members are tried, moving on
//!   after a retryable error, the single `wrong_swarm` redirect, reading
//!   store and retrieve answers.
//! - [`registry_refresh`]: when a newer snapshot is adopted.
//! - [`paths`]: guards, paths guard → relay → relay of distinct nodes
//!   (distinct /24s where the registry allows), strikes, rebuild backoff.
//! - [`logic`]: signed requests, sealing and opening envelopes, the network
//!   clock estimate.
//!
//! Around them: [`profile`] keeps the account key (encrypted, mode 0600),
//! the local history and small client state (guards, registry snapshot),
//! encrypted at rest, with [`contacts`] (names for Account IDs) and the
//! history grouped into conversations ([`ConversationSummary`]);
//! [`Client`] is the async driver that only moves bytes (QUIC connections
//! to the seeds at bootstrap, then to its two guards only), sleeps, reads
//! the wall clock and saves the profile.
//!
//! # Driving one send by hand
//!
//! A simulator does what [`Client::send`] does: order the swarm's members,
//! and for each, run a [`call::CallOp`] until it is done, then let
//! [`failover::Failover`] decide. Here the "network" peels the real onion
//! layers with the node-side functions and the destination answers `Stored`.
//!
//! ```
//! use std::time::Duration;
//! use nightjar_client::call::{CallContext, CallOp, CallStep};
//! use nightjar_client::failover::{self, Failover, StoreAnswer, Unreachable};
//! use nightjar_client::{ClockEstimator, GuardState, PathManager, logic};
//! use nightjar_crypto::identity::{Identity, Seed};
//! use nightjar_crypto::onion::{Peeled, peel};
//! use nightjar_registry::{NodeEntry, NodeId};
//! use nightjar_wire::{Request, Response, ResponseBody};
//!
//! // Eight nodes, each in its own /24.
//! let ids: Vec<Identity> =
//!     (1..=8u8).map(|i| Identity::from_seed(Seed::from_bytes([i; 32]))).collect();
//! let nodes: Vec<NodeEntry> = ids.iter().zip(1..=8u8).map(|(id, i)| NodeEntry {
//!     id: NodeId(id.public_key()),
//!     addr: format!("10.0.{i}.1:4000").parse().unwrap(),
//! }).collect();
//! let mut seed = 7usize;
//! let mut pick = move |n: usize| { seed = seed.wrapping_mul(31).wrapping_add(17); seed % n.max(1) };
//!
//! let (alice, bob) = (Identity::generate().unwrap(), Identity::generate().unwrap());
//! let now_ms = 1_700_000_000_000u64;
//! let mut paths = PathManager::new(GuardState::default());
//! paths.ensure_guards(&nodes, &mut pick);
//! let (mut unreachable, mut clock) = (Unreachable::new(), ClockEstimator::new());
//! let guards = paths.guards().to_vec();
//! let swarm: Vec<NodeEntry> =
//!     nodes.iter().filter(|n| !guards.contains(&n.id)).take(3).cloned().collect();
//! let order = failover::member_order(
//!     &bob.account_id(), swarm, &|id| guards.contains(id), &unreachable, now_ms);
//!
//! let prepared = logic::prepare_send(
//!     &alice, &bob.account_id(), "hi", now_ms, Duration::from_secs(3600)).unwrap();
//! let mut members = Failover::new(order);
//! let member = members.next_member().unwrap();
//! let mut op = CallOp::new(&member, &prepared.request, Duration::from_secs(10));
//! let mut ctx = CallContext {
//!     paths: &mut paths, nodes: &nodes, unreachable: &mut unreachable,
//!     clock: &mut clock, pick: &mut pick,
//! };
//! let CallStep::Send(attempt) = op.poll(&mut ctx, now_ms) else { panic!() };
//! // The simulated network: `attempt.request()` goes to `attempt.guard()`.
//! fn carry(ids: &[Identity], key: [u8; 32], eph: [u8; 32], layer: &[u8], stored: &Response) -> Vec<u8> {
//!     let me = ids.iter().find(|i| i.public_key().to_bytes() == key).unwrap();
//!     match peel(me, &eph, layer).unwrap() {
//!         (Peeled::Forward { next, ephemeral_key, layer, .. }, reply) =>
//!             reply.relayed(&carry(ids, next, ephemeral_key, &layer, stored)),
//!         (Peeled::Deliver { .. }, reply) => reply.final_response(&stored.to_frame()).unwrap(),
//!     }
//! }
//! let Request::Onion(onion) = attempt.request() else { panic!() };
//! let stored = Response { node_time_ms: now_ms, body: ResponseBody::Stored {
//!     hash: prepared.hash, expiry_ms: now_ms + 3_600_000, already_stored: false, receipts: vec![],
//! } };
//! let blob = carry(&ids, attempt.guard().id.0.to_bytes(), onion.ephemeral_key, &onion.layer, &stored);
//! let answer = Ok(Response { node_time_ms: now_ms, body: ResponseBody::Onion(blob) });
//! // Feed the guard's answer: the call is done with the destination's answer.
//! let resp = op.handle_answer(&mut ctx, attempt, answer, now_ms, now_ms + 40).unwrap().unwrap();
//! match failover::store_answer(resp, &prepared.hash).unwrap() {
//!     StoreAnswer::Stored { expiry_ms } => assert_eq!(expiry_ms, now_ms + 3_600_000),
//!     StoreAnswer::WrongSwarm(info) => { members.redirect(&info, &nodes, &|n| n); }
//! }
//! ```
//!
//! Not here: the command line (`nightjar`), the layer format
//! (`nightjar_crypto::onion`), the node's side.

pub mod bootstrap;
pub mod call;
pub mod circuit;
mod clock;
pub mod contacts;
mod conversations;
pub mod device_state;
mod driver;
mod durability;
mod error;
pub mod failover;
pub mod logic;
pub mod messaging;
pub mod paths;
pub mod profile;
pub mod registry_refresh;
#[cfg(test)]
mod testnet;

use std::time::Duration;

use nightjar_registry::{NetworkFile, Registry, RegistryEvent, SwarmMap};

pub use bootstrap::BOOTSTRAP_AGREEMENT;
pub use call::{HOP_MARGIN, PATH_ATTEMPTS};
pub use conversations::ConversationSummary;
pub use driver::{CircuitUse, Client, FALLBACK_NO_PREKEYS, JoinOptions, Joined, Linked, SentV2};
pub use error::ClientError;
pub use failover::RETRY_UNREACHABLE_AFTER;
pub use logic::ClockEstimator;
pub use paths::{GuardState, MIN_NETWORK_NODES, Path, PathError, PathManager};
pub use profile::{Direction, HistoryRecord, Profile};

/// How long one request may take before the client gives up on it
/// (a waiting retrieve gets its wait on top of this).
pub const REQUEST_TIMEOUT: Duration = Duration::from_secs(10);

/// How long the client waits for a QUIC handshake before trying another node.
pub const CONNECT_TIMEOUT: Duration = Duration::from_secs(3);

/// A message sent.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Sent {
    /// Hex of the message hash.
    pub message_id: String,
    /// The (clock-corrected) time it was sent, Unix ms.
    pub sent_at_ms: u64,
    /// When the node will drop it, node clock (v1; 0 for v2, whose copies
    /// each have their own).
    pub expiry_ms: u64,
    /// 2 (messages v2: a session with each device) or 1 (sealed to the
    /// account).
    pub version: u8,
    /// Why it went as v1, when it did.
    pub fallback: Option<String>,
    /// When it disappears (a conversation timer that runs from sending).
    pub expires_at_ms: Option<u64>,
}

/// The swarm map a network file leads to: the registry's, or (without a
/// registry) the seeds joined in order.
pub fn swarm_map(network: &NetworkFile) -> Result<SwarmMap, ClientError> {
    match &network.registry {
        Some(path) => {
            let registry = Registry::load(path)?;
            if registry.network != network.network {
                return Err(ClientError::Protocol(format!(
                    "registry is for network {:?}, network file for {:?}",
                    registry.network, network.network
                )));
            }
            Ok(registry.swarm_map()?)
        }
        None => {
            let joins: Vec<RegistryEvent> = network
                .seeds
                .iter()
                .map(|n| RegistryEvent::Join { node: n.clone() })
                .collect();
            Ok(SwarmMap::replay(&joins)?)
        }
    }
}
