//! The follower's sans-IO core, [`Follower`]: chain heads, headers and logs
//! in, RPC requests and registry snapshots out, on an explicit clock
//! (`now_ms`, milliseconds of any monotonic clock).
//!
//! # How it is driven
//!
//! ```text
//! loop {
//!     while let Some(request) = follower.poll_request() { send it to request.endpoint }
//!     while let Some(event) = follower.poll_event() { log it, adopt follower.snapshot() on Synced }
//!     wait for an answer or until follower.poll_timeout()
//!     follower.handle_response(id, answer, now_ms) / follower.handle_timeout(now_ms)
//! }
//! ```
//!
//! [`crate::rpc::ChainFollower`] is that loop over HTTP JSON-RPC; the unit
//! tests drive it from a scripted chain.
//!
//! # Rounds and endpoints
//!
//! Every `poll_interval_ms` a **round** asks every endpoint that is not
//! backing off for its head (`eth_blockNumber`); an endpoint is first asked
//! its chain ID (again after each failure), and one on another chain is
//! never used again ([`FollowerEvent::EndpointRejected`]). The chain head is
//! the highest head any endpoint reports: a lagging endpoint is never
//! believed over a more advanced one, and data is read from the most
//! advanced endpoint (ties: the first configured). A failed call puts its
//! endpoint in exponential backoff and forgets its head; the step it served
//! is retried at once on the next endpoint (failover).
//!
//! # Steps
//!
//! After a round the core reads the chain one **step** at a time, each step
//! a short sequence of calls to one endpoint:
//!
//! * **Extend** the processed chain by the range `from..=to`, where `from`
//!   is the block after the processed one (or `start_block`) and `to` is at
//!   most `max_range` blocks on and at most the head minus `confirmations`:
//!   the header of `from` (its parent hash must be the processed block's
//!   hash, else a reorganisation is found), the header of `to` (asked
//!   *before* the logs, so logs from a fork that replaced `to` are caught by
//!   the next parent check), then the logs. The logs are checked (every one
//!   in the range, of the contract, with a position and block hash; one hash
//!   per block; the hashes of `from` and `to` equal to the headers'),
//!   deduplicated, sorted by position and applied to the [`Ledger`]. An
//!   endpoint that refuses a range gets a range half as long (down to one
//!   block); ranges grow back after successes.
//! * **Tip check** once per round when caught up: the processed block's
//!   header must still have the processed hash.
//! * **Walk back** after a mismatch: the known block hashes (the ends of
//!   recent ranges and every block holding a registry log), newest first,
//!   are compared with the endpoint's headers — 1st, 2nd, 4th, 8th, …
//!   newest, then a binary search (if a block is still on the chain, so are
//!   all its ancestors) — to find the newest one still on the chain. Every
//!   log after it is dropped and the ledger is rebuilt from the logs kept; if
//!   none is still on the chain, the follower starts again from
//!   `start_block`. ([`FollowerEvent::Reorg`].)
//!
//! A lower head never rolls anything back (that is a lagging endpoint, or
//! lack of data); only a hash that no longer matches does.
//!
//! # What it publishes, and staleness
//!
//! The [`Snapshot`] (nodes and registry log at a block) is replaced only
//! when the follower has caught up with the head minus `confirmations`
//! ([`FollowerEvent::Synced`]): while it catches up, walks back or re-reads a
//! range after a reorganisation, and while no endpoint answers, the last
//! snapshot stays — nodes are never dropped for lack of data. The follower is
//! **stale** ([`Follower::is_stale`]) until it first catches up, and whenever
//! for more than `stale_after_ms` either the chain head has not advanced
//! (every endpoint down, or the chain halted) or it has not caught up.

use std::collections::{BTreeMap, VecDeque};
use std::sync::Arc;

use alloy_primitives::{Address, B256};
use nightjar_registry::{ChainOrigin, Registry, RegistryEvent, StakedNode, StakedState};

use crate::error::ChainError;
use crate::events::decode_event;
use crate::ledger::{ChainNode, Ledger, NodeState};
use crate::state::SavedState;
use crate::types::{BlockRef, ChainLog, Header, LogPosition, RawLog};

/// Default `confirmations`: blocks between the head and the last block read.
pub const DEFAULT_CONFIRMATIONS: u64 = 20;
/// Default `max_range`: blocks per `eth_getLogs` (Session's nodes use 1,000).
pub const DEFAULT_MAX_RANGE: u64 = 1_000;
/// Default `poll_interval_ms`.
pub const DEFAULT_POLL_INTERVAL_MS: u64 = 5_000;
/// Default `stale_after_ms`.
pub const DEFAULT_STALE_AFTER_MS: u64 = 120_000;
/// Default `max_backoff_ms`.
pub const DEFAULT_MAX_BACKOFF_MS: u64 = 60_000;
/// Most logs accepted in one answer; more and the range is halved.
pub const MAX_LOGS_PER_ANSWER: usize = 10_000;
/// Most range ends kept for walking back (blocks holding logs are kept too).
pub const MAX_CHECKPOINTS: usize = 256;

/// What to follow and how.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FollowerConfig {
    /// The chain ID every endpoint must report (and that proofs bind).
    pub chain_id: u64,
    /// The registry contract's address.
    pub contract: Address,
    /// The first block to read (the contract's deployment block, or 0).
    pub start_block: u64,
    /// How many blocks behind the head the follower stays.
    pub confirmations: u64,
    /// Most blocks per `eth_getLogs` call (at least 1).
    pub max_range: u64,
    /// Time between rounds.
    pub poll_interval_ms: u64,
    /// After this long without the head advancing or without catching up,
    /// the follower is stale.
    pub stale_after_ms: u64,
    /// Longest backoff of a failing endpoint.
    pub max_backoff_ms: u64,
    /// How many RPC endpoints there are (the core only knows their
    /// positions; the adapter holds the URLs).
    pub endpoints: usize,
}

impl FollowerConfig {
    /// A configuration with the defaults above and `start_block` 0.
    pub fn new(chain_id: u64, contract: Address, endpoints: usize) -> FollowerConfig {
        FollowerConfig {
            chain_id,
            contract,
            start_block: 0,
            confirmations: DEFAULT_CONFIRMATIONS,
            max_range: DEFAULT_MAX_RANGE,
            poll_interval_ms: DEFAULT_POLL_INTERVAL_MS,
            stale_after_ms: DEFAULT_STALE_AFTER_MS,
            max_backoff_ms: DEFAULT_MAX_BACKOFF_MS,
            endpoints,
        }
    }

    /// Checks the settings.
    pub fn validate(&self) -> Result<(), ChainError> {
        let bad = |what: &str| Err(ChainError::Config(what.to_owned()));
        if self.endpoints == 0 {
            return bad("at least one RPC endpoint is needed");
        }
        if self.max_range == 0 {
            return bad("max_range must be at least 1 block");
        }
        if self.poll_interval_ms == 0 {
            return bad("poll_interval_ms must be positive");
        }
        if self.contract == Address::ZERO {
            return bad("the contract address is zero");
        }
        Ok(())
    }
}

/// Identifies one request until its answer is handled.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct RequestId(pub u64);

/// A JSON-RPC call the core wants made.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Call {
    /// `eth_chainId`.
    ChainId,
    /// `eth_blockNumber`.
    BlockNumber,
    /// `eth_getBlockByNumber(number, false)`: the header, or none if the
    /// endpoint has no such block.
    Header {
        /// The block number.
        number: u64,
    },
    /// `eth_getLogs` of the contract's registry events ([`crate::EVENT_TOPICS`])
    /// in blocks `from..=to`.
    Logs {
        /// First block.
        from: u64,
        /// Last block.
        to: u64,
    },
}

/// A call to make on one endpoint.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Request {
    /// Hand it back with the answer.
    pub id: RequestId,
    /// Which endpoint (position in the configured list).
    pub endpoint: usize,
    /// What to ask.
    pub call: Call,
}

/// The answer to a [`Call`], of the matching kind.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Answer {
    /// To [`Call::ChainId`].
    ChainId(u64),
    /// To [`Call::BlockNumber`].
    BlockNumber(u64),
    /// To [`Call::Header`].
    Header(Option<Header>),
    /// To [`Call::Logs`].
    Logs(Vec<RawLog>),
}

/// Something the driver should know (log it, surface it in metrics, adopt
/// the new snapshot).
#[derive(Debug, Clone)]
pub enum FollowerEvent {
    /// The follower has caught up with the head minus `confirmations`, at
    /// `block`; [`Follower::snapshot`] is now at that block. `changed`: the
    /// nodes or the registry log differ from the previous snapshot.
    Synced {
        /// The block the snapshot is at.
        block: BlockRef,
        /// Whether nodes or log changed.
        changed: bool,
    },
    /// A reorganisation was found: the block `detected_at` no longer follows
    /// the processed chain. Everything after `rolled_back_to` was dropped
    /// (`None`: everything; the follower starts again from `start_block`).
    /// The published snapshot stays until the follower has caught up again.
    Reorg {
        /// The block whose parent did not match (or the processed block
        /// whose hash changed).
        detected_at: u64,
        /// The newest block still on the chain.
        rolled_back_to: Option<BlockRef>,
        /// How many registry contract logs were dropped.
        logs_dropped: usize,
    },
    /// A call failed or was answered wrongly; the endpoint backs off (or the
    /// range is shortened) and another endpoint is tried.
    EndpointFailed {
        /// The endpoint.
        endpoint: usize,
        /// What happened.
        error: ChainError,
    },
    /// An endpoint is on another chain: it is never used.
    EndpointRejected {
        /// The endpoint.
        endpoint: usize,
        /// [`ChainError::WrongChain`].
        error: ChainError,
    },
    /// The follower became stale (`true`) or fresh again (`false`).
    StaleChanged {
        /// The new state.
        stale: bool,
    },
}

/// The registry as the chain defined it at one block: what a node serves and
/// a client replays.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Snapshot {
    /// The chain followed (its EIP-155 ID).
    pub chain_id: u64,
    /// The registry contract followed.
    pub contract: Address,
    /// The block it was derived at (the last processed block).
    pub block: BlockRef,
    /// The block of the last registry contract log it reflects (`None`
    /// before the first): what the served registry names
    /// ([`Snapshot::registry`]), the same on every follower that has
    /// processed that block, however far past it each one is.
    pub last_log_block: Option<BlockRef>,
    /// Every node (active and exiting), by key.
    pub nodes: Arc<[ChainNode]>,
    /// The registry log, in chain order.
    pub events: Arc<[RegistryEvent]>,
}

impl Snapshot {
    /// The registry log as a [`Registry`] of network `network`, with its
    /// `[chain]` section: chain, contract, the block of the last contract
    /// log it reflects (block 0 and a zero hash before any), and every
    /// registered node with its operator, stake and state
    /// (`docs/PROTOCOL.md` §7). Every follower that has processed the same
    /// logs writes the same registry, byte for byte.
    pub fn registry(&self, network: &str) -> Registry {
        let mut nodes: Vec<StakedNode> = self
            .nodes
            .iter()
            .map(|n| StakedNode {
                node: n.entry(),
                operator: n.operator.into_array(),
                stake: n.stake.to_string(),
                state: match n.state {
                    NodeState::Active => StakedState::Active,
                    NodeState::Exiting => StakedState::Exiting,
                },
            })
            .collect();
        nodes.sort_by_key(|n| n.node.id);
        Registry {
            network: network.to_owned(),
            nodes: Vec::new(),
            events: self.events.to_vec(),
            chain: Some(ChainOrigin {
                chain_id: self.chain_id,
                contract: self.contract.into_array(),
                block: self.last_log_block.map_or(0, |b| b.number),
                block_hash: self.last_log_block.map_or([0; 32], |b| b.hash.0),
                nodes,
            }),
        }
    }
}

/// One endpoint's state, as [`Follower::status`] reports it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EndpointHealth {
    /// Its chain ID has not been confirmed (yet, or again since a failure).
    Unchecked,
    /// On the configured chain and answering.
    Ok,
    /// Backing off after failures.
    BackingOff,
    /// On another chain: never used.
    WrongChain(u64),
}

/// One endpoint, as [`Follower::status`] reports it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct EndpointStatus {
    /// Its state.
    pub health: EndpointHealth,
    /// The head it last reported (forgotten on a failure).
    pub head: Option<u64>,
    /// Failures in a row.
    pub failures: u32,
}

/// The follower's state, for metrics, logs and `nightjar registry --json`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FollowerStatus {
    /// See [`Follower::is_stale`].
    pub stale: bool,
    /// The last processed block.
    pub processed: Option<BlockRef>,
    /// The block the published snapshot is at.
    pub published: Option<BlockRef>,
    /// The highest head an endpoint reports now.
    pub head: Option<u64>,
    /// The highest head ever reported.
    pub highest_head: Option<u64>,
    /// When the highest head last rose (`now_ms` clock).
    pub head_advanced_at_ms: Option<u64>,
    /// When the follower last caught up (`now_ms` clock).
    pub synced_at_ms: Option<u64>,
    /// Per endpoint.
    pub endpoints: Vec<EndpointStatus>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Check {
    Unchecked,
    Ok,
    Wrong(u64),
}

#[derive(Debug, Clone)]
struct Endpoint {
    check: Check,
    head: Option<u64>,
    failures: u32,
    retry_at_ms: u64,
    probing: bool,
}

impl Endpoint {
    fn usable(&self, now_ms: u64) -> bool {
        self.check == Check::Ok && now_ms >= self.retry_at_ms
    }
}

#[derive(Debug, Clone)]
enum ExtendStage {
    First,
    Last { first: Header },
    Logs { first: Header, last: Header },
}

#[derive(Debug, Clone)]
struct WalkBack {
    /// The block whose mismatch started the walk.
    detected_at: u64,
    /// Known blocks below the mismatch, newest first.
    candidates: Vec<BlockRef>,
    /// Every candidate before this index is off the chain.
    lo: usize,
    /// The newest candidate known to be on the chain.
    hi: Option<usize>,
    /// The candidate being asked about.
    probe: usize,
}

#[derive(Debug, Clone)]
enum Step {
    Idle,
    Extend {
        endpoint: usize,
        from: u64,
        to: u64,
        stage: ExtendStage,
        waiting: RequestId,
    },
    TipCheck {
        endpoint: usize,
        at: BlockRef,
        waiting: RequestId,
    },
    WalkBack {
        endpoint: usize,
        walk: WalkBack,
        waiting: RequestId,
    },
}

/// How a failed step is retried.
enum Failure {
    /// The endpoint backs off; another is tried.
    Endpoint(ChainError),
    /// The range was refused: try a shorter one on the same endpoint.
    Shrink(ChainError),
}

/// What the follower has processed: the chain it has read, as kept in the
/// state file.
#[derive(Debug, Clone, Default)]
struct Processed {
    /// The last processed block.
    tip: Option<BlockRef>,
    /// Known hashes of processed blocks: recent range ends (and starts).
    checkpoints: BTreeMap<u64, B256>,
    /// Every registry log processed, in chain order.
    logs: Vec<ChainLog>,
}

/// The chain follower's sans-IO core. See the [module documentation](self).
#[derive(Debug)]
pub struct Follower {
    config: FollowerConfig,
    endpoints: Vec<Endpoint>,
    processed: Processed,
    ledger: Ledger,
    /// Bumped whenever the ledger's nodes or log change.
    generation: u64,
    published: Option<Arc<Snapshot>>,
    published_generation: u64,
    step: Step,
    /// Blocks per `eth_getLogs` now (halved on refusal, doubled on success).
    span: u64,
    next_id: u64,
    /// Outstanding probe requests (chain ID, head), by ID.
    probes: BTreeMap<RequestId, usize>,
    requests: VecDeque<Request>,
    events: VecDeque<FollowerEvent>,
    next_round_ms: u64,
    round_open: bool,
    tip_check_due: bool,
    highest_head: Option<u64>,
    head_advanced_at_ms: Option<u64>,
    synced_at_ms: Option<u64>,
    stale_reported: bool,
    fatal: Option<ChainError>,
    dirty: bool,
}

impl Follower {
    /// A follower for `config`, resuming from `saved` if given.
    ///
    /// Fails if the configuration is invalid or `saved` is for another
    /// chain, contract or start block ([`ChainError::StateMismatch`]).
    pub fn new(config: FollowerConfig, saved: Option<SavedState>) -> Result<Follower, ChainError> {
        config.validate()?;
        let mut follower = Follower {
            endpoints: vec![
                Endpoint {
                    check: Check::Unchecked,
                    head: None,
                    failures: 0,
                    retry_at_ms: 0,
                    probing: false,
                };
                config.endpoints
            ],
            processed: Processed::default(),
            ledger: Ledger::new(config.chain_id, config.contract),
            generation: 0,
            published: None,
            published_generation: 0,
            step: Step::Idle,
            span: config.max_range,
            next_id: 0,
            probes: BTreeMap::new(),
            requests: VecDeque::new(),
            events: VecDeque::new(),
            next_round_ms: 0,
            round_open: false,
            tip_check_due: false,
            highest_head: None,
            head_advanced_at_ms: None,
            synced_at_ms: None,
            stale_reported: true,
            fatal: None,
            dirty: false,
            config,
        };
        if let Some(saved) = saved {
            follower.resume(saved)?;
        }
        Ok(follower)
    }

    fn resume(&mut self, saved: SavedState) -> Result<(), ChainError> {
        let mismatch = |field, file: String, config: String| {
            Err(ChainError::StateMismatch {
                field,
                file,
                config,
            })
        };
        if saved.chain_id != self.config.chain_id {
            return mismatch(
                "chain ID",
                saved.chain_id.to_string(),
                self.config.chain_id.to_string(),
            );
        }
        if saved.contract != self.config.contract {
            return mismatch(
                "contract",
                saved.contract.to_string(),
                self.config.contract.to_string(),
            );
        }
        if saved.start_block != self.config.start_block {
            return mismatch(
                "start block",
                saved.start_block.to_string(),
                self.config.start_block.to_string(),
            );
        }
        self.processed = Processed {
            tip: saved.processed,
            checkpoints: saved
                .checkpoints
                .iter()
                .map(|b| (b.number, b.hash))
                .collect(),
            logs: saved.logs,
        };
        self.rebuild_ledger();
        if let Some(tip) = self.processed.tip {
            self.publish(tip);
        }
        Ok(())
    }

    // ------------------------------------------------------------------
    // What the driver reads
    // ------------------------------------------------------------------

    /// The next call to make, if any.
    pub fn poll_request(&mut self) -> Option<Request> {
        self.requests.pop_front()
    }

    /// The next event, if any.
    pub fn poll_event(&mut self) -> Option<FollowerEvent> {
        self.events.pop_front()
    }

    /// When to call [`Follower::handle_timeout`] next (`now_ms` clock).
    pub fn poll_timeout(&self) -> u64 {
        let mut at = self.next_round_ms;
        if !self.stale_reported
            && let Some(since) = self.freshness_since()
        {
            at = at.min(
                since
                    .saturating_add(self.config.stale_after_ms)
                    .saturating_add(1),
            );
        }
        at
    }

    /// The snapshot published at the last catch-up (or loaded from the
    /// state file); `None` before the first.
    pub fn snapshot(&self) -> Option<Arc<Snapshot>> {
        self.published.clone()
    }

    /// The ledger of everything processed so far (ahead of the snapshot
    /// while catching up, behind it right after a rollback).
    pub fn ledger(&self) -> &Ledger {
        &self.ledger
    }

    /// The last processed block.
    pub fn processed(&self) -> Option<BlockRef> {
        self.processed.tip
    }

    /// The configuration.
    pub fn config(&self) -> &FollowerConfig {
        &self.config
    }

    /// Set when every endpoint is on another chain
    /// ([`ChainError::NoEndpointOnChain`]): nothing can be followed.
    pub fn fatal(&self) -> Option<&ChainError> {
        self.fatal.as_ref()
    }

    /// Whether the registry may be out of date: the follower has never caught
    /// up, or for more than `stale_after_ms` the chain head has not advanced
    /// (every endpoint down, or the chain halted) or it has not caught up.
    /// A stale follower keeps its last snapshot.
    pub fn is_stale(&self, now_ms: u64) -> bool {
        match self.freshness_since() {
            None => true,
            Some(since) => now_ms.saturating_sub(since) > self.config.stale_after_ms,
        }
    }

    /// The older of "head last advanced" and "last caught up".
    fn freshness_since(&self) -> Option<u64> {
        Some(self.head_advanced_at_ms?.min(self.synced_at_ms?))
    }

    /// Where the follower is, for metrics and logs.
    pub fn status(&self, now_ms: u64) -> FollowerStatus {
        FollowerStatus {
            stale: self.is_stale(now_ms),
            processed: self.processed.tip,
            published: self.published.as_ref().map(|s| s.block),
            head: self.best_head(),
            highest_head: self.highest_head,
            head_advanced_at_ms: self.head_advanced_at_ms,
            synced_at_ms: self.synced_at_ms,
            endpoints: self
                .endpoints
                .iter()
                .map(|e| EndpointStatus {
                    health: match e.check {
                        Check::Wrong(id) => EndpointHealth::WrongChain(id),
                        _ if now_ms < e.retry_at_ms => EndpointHealth::BackingOff,
                        Check::Unchecked => EndpointHealth::Unchecked,
                        Check::Ok => EndpointHealth::Ok,
                    },
                    head: e.head,
                    failures: e.failures,
                })
                .collect(),
        }
    }

    /// Whether anything worth saving changed since [`Follower::mark_saved`].
    pub fn is_dirty(&self) -> bool {
        self.dirty
    }

    /// What to save to resume later: the processed position, the recent
    /// block hashes and every registry log processed.
    pub fn saved_state(&self) -> SavedState {
        SavedState {
            chain_id: self.config.chain_id,
            contract: self.config.contract,
            start_block: self.config.start_block,
            processed: self.processed.tip,
            checkpoints: self
                .processed
                .checkpoints
                .iter()
                .map(|(&number, &hash)| BlockRef { number, hash })
                .collect(),
            logs: self.processed.logs.clone(),
        }
    }

    /// Records that the state returned by [`Follower::saved_state`] was
    /// written.
    pub fn mark_saved(&mut self) {
        self.dirty = false;
    }

    // ------------------------------------------------------------------
    // Inputs
    // ------------------------------------------------------------------

    /// Time passed: starts a round when one is due, and reports staleness
    /// changes.
    pub fn handle_timeout(&mut self, now_ms: u64) {
        if now_ms >= self.next_round_ms && self.fatal.is_none() {
            self.next_round_ms = now_ms.saturating_add(self.config.poll_interval_ms);
            if !self.round_open {
                self.start_round(now_ms);
            }
        }
        self.update_stale(now_ms);
    }

    /// The answer to request `id` (an error if the call failed). Answers to
    /// requests the core no longer waits for are ignored.
    pub fn handle_response(
        &mut self,
        id: RequestId,
        answer: Result<Answer, ChainError>,
        now_ms: u64,
    ) {
        if let Some(endpoint) = self.probes.remove(&id) {
            self.handle_probe(endpoint, answer, now_ms);
        } else if self.step_waiting() == Some(id) {
            self.handle_step(answer, now_ms);
        }
        self.update_stale(now_ms);
    }

    // ------------------------------------------------------------------
    // Rounds: chain IDs and heads
    // ------------------------------------------------------------------

    fn request(&mut self, endpoint: usize, call: Call) -> RequestId {
        let id = RequestId(self.next_id);
        self.next_id += 1;
        self.requests.push_back(Request { id, endpoint, call });
        id
    }

    fn start_round(&mut self, now_ms: u64) {
        self.tip_check_due = true;
        for i in 0..self.endpoints.len() {
            let Some(e) = self.endpoints.get(i) else {
                continue;
            };
            if matches!(e.check, Check::Wrong(_)) || e.probing || now_ms < e.retry_at_ms {
                continue;
            }
            let call = if e.check == Check::Ok {
                Call::BlockNumber
            } else {
                Call::ChainId
            };
            let id = self.request(i, call);
            self.probes.insert(id, i);
            if let Some(e) = self.endpoints.get_mut(i) {
                e.probing = true;
            }
        }
        self.round_open = !self.probes.is_empty();
        if !self.round_open {
            self.end_round(now_ms);
        }
    }

    fn handle_probe(&mut self, endpoint: usize, answer: Result<Answer, ChainError>, now_ms: u64) {
        let expected = self.config.chain_id;
        let Some(e) = self.endpoints.get_mut(endpoint) else {
            return;
        };
        e.probing = false;
        match answer {
            Ok(Answer::ChainId(id)) if id == expected => {
                e.check = Check::Ok;
                let id = self.request(endpoint, Call::BlockNumber);
                self.probes.insert(id, endpoint);
                if let Some(e) = self.endpoints.get_mut(endpoint) {
                    e.probing = true;
                }
            }
            Ok(Answer::ChainId(got)) => {
                e.check = Check::Wrong(got);
                e.head = None;
                self.events.push_back(FollowerEvent::EndpointRejected {
                    endpoint,
                    error: ChainError::WrongChain {
                        endpoint,
                        expected,
                        got,
                    },
                });
                if self
                    .endpoints
                    .iter()
                    .all(|e| matches!(e.check, Check::Wrong(_)))
                {
                    self.fatal = Some(ChainError::NoEndpointOnChain { expected });
                }
            }
            Ok(Answer::BlockNumber(head)) => {
                e.head = Some(head);
                e.failures = 0;
            }
            Ok(other) => {
                let error = ChainError::BadAnswer {
                    endpoint,
                    reason: format!("answered a head or chain ID request with {other:?}"),
                };
                self.fail_endpoint(endpoint, error, now_ms);
            }
            Err(error) => self.fail_endpoint(endpoint, error, now_ms),
        }
        if self.round_open && self.probes.is_empty() {
            self.round_open = false;
            self.end_round(now_ms);
        }
    }

    fn end_round(&mut self, now_ms: u64) {
        if let Some(head) = self.best_head()
            && self.highest_head.is_none_or(|h| head > h)
        {
            self.highest_head = Some(head);
            self.head_advanced_at_ms = Some(now_ms);
        }
        self.start_step(now_ms);
    }

    /// The highest head any usable endpoint reports now.
    fn best_head(&self) -> Option<u64> {
        self.endpoints
            .iter()
            .filter(|e| e.check == Check::Ok)
            .filter_map(|e| e.head)
            .max()
    }

    fn fail_endpoint(&mut self, endpoint: usize, error: ChainError, now_ms: u64) {
        let (poll, max) = (self.config.poll_interval_ms, self.config.max_backoff_ms);
        if let Some(e) = self.endpoints.get_mut(endpoint) {
            e.failures = e.failures.saturating_add(1);
            let backoff = poll
                .saturating_mul(1u64 << (e.failures - 1).min(20))
                .min(max.max(poll));
            e.retry_at_ms = now_ms.saturating_add(backoff);
            e.head = None;
            if e.check == Check::Ok {
                e.check = Check::Unchecked;
            }
        }
        self.events
            .push_back(FollowerEvent::EndpointFailed { endpoint, error });
    }

    /// The endpoint to read block `need` from: usable, with a head at least
    /// `need`; the highest head first, then the first configured.
    fn choose_endpoint(&self, need: u64, now_ms: u64) -> Option<usize> {
        self.endpoints
            .iter()
            .enumerate()
            .filter(|(_, e)| e.usable(now_ms))
            .filter_map(|(i, e)| Some((i, e.head?)))
            .filter(|&(_, head)| head >= need)
            .max_by(|a, b| a.1.cmp(&b.1).then(b.0.cmp(&a.0)))
            .map(|(i, _)| i)
    }

    // ------------------------------------------------------------------
    // Steps
    // ------------------------------------------------------------------

    fn step_waiting(&self) -> Option<RequestId> {
        match &self.step {
            Step::Idle => None,
            Step::Extend { waiting, .. }
            | Step::TipCheck { waiting, .. }
            | Step::WalkBack { waiting, .. } => Some(*waiting),
        }
    }

    /// The next block to read and the block to read up to now, if any.
    fn next_range(&self) -> Option<(u64, u64)> {
        let head = self.best_head()?;
        let target = head.checked_sub(self.config.confirmations)?;
        let from = match self.processed.tip {
            Some(tip) => tip.number.checked_add(1)?,
            None => self.config.start_block,
        };
        if target < from {
            return None;
        }
        let to = from.saturating_add(self.span - 1).min(target);
        Some((from, to))
    }

    /// Starts the next step if there is one to take.
    fn start_step(&mut self, now_ms: u64) {
        if !matches!(self.step, Step::Idle) || self.fatal.is_some() {
            return;
        }
        if let Some((from, to)) = self.next_range() {
            if let Some(endpoint) = self.choose_endpoint(to, now_ms) {
                let waiting = self.request(endpoint, Call::Header { number: from });
                self.step = Step::Extend {
                    endpoint,
                    from,
                    to,
                    stage: ExtendStage::First,
                    waiting,
                };
            }
            return;
        }
        if self.best_head().is_none() {
            return;
        }
        match self.processed.tip {
            Some(tip) if self.tip_check_due => {
                if let Some(endpoint) = self.choose_endpoint(tip.number, now_ms) {
                    self.tip_check_due = false;
                    let waiting = self.request(endpoint, Call::Header { number: tip.number });
                    self.step = Step::TipCheck {
                        endpoint,
                        at: tip,
                        waiting,
                    };
                }
            }
            Some(_) => {}
            None => {
                // The chain has not reached start_block + confirmations yet:
                // the empty registry is up to date.
                if self.best_head().is_some_and(|head| {
                    head < self
                        .config
                        .start_block
                        .saturating_add(self.config.confirmations)
                }) {
                    self.synced_at_ms = Some(now_ms);
                }
            }
        }
    }

    fn handle_step(&mut self, answer: Result<Answer, ChainError>, now_ms: u64) {
        let step = std::mem::replace(&mut self.step, Step::Idle);
        let result = match step {
            Step::Idle => Ok(()),
            Step::Extend {
                endpoint,
                from,
                to,
                stage,
                ..
            } => self.extend(endpoint, from, to, stage, answer, now_ms),
            Step::TipCheck { endpoint, at, .. } => self.tip_check(endpoint, at, answer, now_ms),
            Step::WalkBack { endpoint, walk, .. } => self.walk_back(endpoint, walk, answer),
        };
        match result {
            Ok(()) => {}
            Err((endpoint, Failure::Endpoint(error))) => {
                self.fail_endpoint(endpoint, error, now_ms);
            }
            Err((endpoint, Failure::Shrink(error))) => {
                if self.span > 1 {
                    self.span = (self.span / 2).max(1);
                    self.events
                        .push_back(FollowerEvent::EndpointFailed { endpoint, error });
                } else {
                    self.fail_endpoint(endpoint, error, now_ms);
                }
            }
        }
        // Continue: the next range, a retry elsewhere, or nothing until the
        // next round.
        if matches!(self.step, Step::Idle) {
            self.start_step(now_ms);
        }
    }

    fn expect_header(
        endpoint: usize,
        number: u64,
        answer: Result<Answer, ChainError>,
    ) -> Result<Header, (usize, Failure)> {
        let bad = |reason: String| {
            (
                endpoint,
                Failure::Endpoint(ChainError::BadAnswer { endpoint, reason }),
            )
        };
        match answer {
            Ok(Answer::Header(Some(h))) if h.number == number => Ok(h),
            Ok(Answer::Header(Some(h))) => Err(bad(format!(
                "asked for block {number}, got block {}",
                h.number
            ))),
            // It reported a head at or above this block (else it would not
            // have been asked).
            Ok(Answer::Header(None)) => Err(bad(format!(
                "has no block {number} although its head is past it"
            ))),
            Ok(other) => Err(bad(format!("answered a header request with {other:?}"))),
            Err(error) => Err((endpoint, Failure::Endpoint(error))),
        }
    }

    fn extend(
        &mut self,
        endpoint: usize,
        from: u64,
        to: u64,
        stage: ExtendStage,
        answer: Result<Answer, ChainError>,
        now_ms: u64,
    ) -> Result<(), (usize, Failure)> {
        match stage {
            ExtendStage::First => {
                let first = Self::expect_header(endpoint, from, answer)?;
                if let Some(tip) = self.processed.tip
                    && first.parent_hash != tip.hash
                {
                    self.start_walk_back(endpoint, from);
                    return Ok(());
                }
                let (stage, call) = if to == from {
                    (
                        ExtendStage::Logs { first, last: first },
                        Call::Logs { from, to },
                    )
                } else {
                    (ExtendStage::Last { first }, Call::Header { number: to })
                };
                let waiting = self.request(endpoint, call);
                self.step = Step::Extend {
                    endpoint,
                    from,
                    to,
                    stage,
                    waiting,
                };
            }
            ExtendStage::Last { first } => {
                let last = Self::expect_header(endpoint, to, answer)?;
                let waiting = self.request(endpoint, Call::Logs { from, to });
                self.step = Step::Extend {
                    endpoint,
                    from,
                    to,
                    stage: ExtendStage::Logs { first, last },
                    waiting,
                };
            }
            ExtendStage::Logs { first, last } => {
                let raw = match answer {
                    Ok(Answer::Logs(raw)) => raw,
                    Ok(other) => {
                        return Err((
                            endpoint,
                            Failure::Endpoint(ChainError::BadAnswer {
                                endpoint,
                                reason: format!("answered a logs request with {other:?}"),
                            }),
                        ));
                    }
                    Err(error @ ChainError::RpcRefused { .. }) => {
                        return Err((endpoint, Failure::Shrink(error)));
                    }
                    Err(error) => return Err((endpoint, Failure::Endpoint(error))),
                };
                let logs = self.check_logs(endpoint, &first, &last, raw)?;
                self.apply_range(first, last, logs, now_ms);
            }
        }
        Ok(())
    }

    /// Checks an `eth_getLogs` answer for `first.number..=last.number`.
    fn check_logs(
        &self,
        endpoint: usize,
        first: &Header,
        last: &Header,
        raw: Vec<RawLog>,
    ) -> Result<Vec<ChainLog>, (usize, Failure)> {
        let bad = |reason: String| {
            (
                endpoint,
                Failure::Endpoint(ChainError::BadAnswer { endpoint, reason }),
            )
        };
        if raw.len() > MAX_LOGS_PER_ANSWER {
            return Err((
                endpoint,
                Failure::Shrink(ChainError::RpcRefused {
                    endpoint,
                    code: 0,
                    message: format!(
                        "{} logs in one answer, more than {MAX_LOGS_PER_ANSWER}",
                        raw.len()
                    ),
                }),
            ));
        }
        let range = first.number..=last.number;
        let mut hashes: BTreeMap<u64, B256> = BTreeMap::new();
        hashes.insert(first.number, first.hash);
        hashes.insert(last.number, last.hash);
        let mut logs: BTreeMap<LogPosition, ChainLog> = BTreeMap::new();
        for log in raw {
            if log.removed {
                return Err(bad("a removed log".into()));
            }
            if log.address != self.config.contract {
                return Err(bad(format!("a log of another contract, {}", log.address)));
            }
            let (Some(block), Some(block_hash), Some(index)) =
                (log.block_number, log.block_hash, log.log_index)
            else {
                return Err(bad("a log without block number, block hash or index".into()));
            };
            if !range.contains(&block) {
                return Err(bad(format!(
                    "a log of block {block}, outside {}..={}",
                    first.number, last.number
                )));
            }
            match hashes.get(&block) {
                Some(known) if *known != block_hash => {
                    return Err(bad(format!("two hashes for block {block}")));
                }
                Some(_) => {}
                None => {
                    hashes.insert(block, block_hash);
                }
            }
            let event = match decode_event(&log.topics, &log.data) {
                Ok(Some(event)) => event,
                Ok(None) => continue,
                Err(e) => return Err(bad(e.to_string())),
            };
            let position = LogPosition { block, index };
            let entry = ChainLog {
                position,
                block_hash,
                topics: log.topics,
                data: log.data,
                event,
            };
            match logs.get(&position) {
                Some(seen) if *seen != entry => {
                    return Err(bad(format!(
                        "two different logs at block {block} index {index}"
                    )));
                }
                Some(_) => {} // a duplicate
                None => {
                    logs.insert(position, entry);
                }
            }
        }
        Ok(logs.into_values().collect())
    }

    fn apply_range(&mut self, first: Header, last: Header, logs: Vec<ChainLog>, now_ms: u64) {
        for log in logs {
            let outcome = self.ledger.apply(log.position, &log.event);
            if outcome.changes_registry() {
                self.generation += 1;
            }
            tracing::debug!(
                block = log.position.block,
                index = log.position.index,
                event = log.event.name(),
                ?outcome,
                "registry event"
            );
            self.processed.logs.push(log);
        }
        let checkpoints = &mut self.processed.checkpoints;
        checkpoints.insert(first.number, first.hash);
        checkpoints.insert(last.number, last.hash);
        while checkpoints.len() > MAX_CHECKPOINTS {
            checkpoints.pop_first();
        }
        self.processed.tip = Some(last.block());
        self.dirty = true;
        self.span = self
            .span
            .saturating_mul(2)
            .min(self.config.max_range)
            .max(1);
        if self.next_range().is_none() {
            self.caught_up(now_ms);
        }
    }

    fn caught_up(&mut self, now_ms: u64) {
        self.synced_at_ms = Some(now_ms);
        self.tip_check_due = false;
        if let Some(tip) = self.processed.tip {
            let changed = self.publish(tip);
            self.events.push_back(FollowerEvent::Synced {
                block: tip,
                changed,
            });
        }
    }

    /// Publishes the ledger at `tip`; returns whether nodes or log changed.
    fn publish(&mut self, tip: BlockRef) -> bool {
        let changed = self.published.is_none() || self.published_generation != self.generation;
        let (nodes, events) = match (&self.published, changed) {
            (Some(old), false) => (Arc::clone(&old.nodes), Arc::clone(&old.events)),
            _ => (
                self.ledger.nodes().cloned().collect::<Vec<_>>().into(),
                self.ledger.registry_events().into(),
            ),
        };
        self.published = Some(Arc::new(Snapshot {
            chain_id: self.config.chain_id,
            contract: self.config.contract,
            block: tip,
            last_log_block: self.processed.logs.last().map(|l| BlockRef {
                number: l.position.block,
                hash: l.block_hash,
            }),
            nodes,
            events,
        }));
        self.published_generation = self.generation;
        changed
    }

    fn tip_check(
        &mut self,
        endpoint: usize,
        at: BlockRef,
        answer: Result<Answer, ChainError>,
        now_ms: u64,
    ) -> Result<(), (usize, Failure)> {
        let header = Self::expect_header(endpoint, at.number, answer)?;
        if self.processed.tip != Some(at) {
            return Ok(()); // the processed chain moved meanwhile
        }
        if header.hash == at.hash {
            self.caught_up(now_ms);
        } else {
            self.start_walk_back(endpoint, at.number);
        }
        Ok(())
    }

    /// The processed chain no longer matches at `detected_at`: find the
    /// newest known block below the processed tip that is still on the chain.
    fn start_walk_back(&mut self, endpoint: usize, detected_at: u64) {
        let Some(tip) = self.processed.tip else {
            return;
        };
        let mut known: BTreeMap<u64, B256> = self
            .processed
            .checkpoints
            .range(..tip.number)
            .map(|(&n, &h)| (n, h))
            .collect();
        for log in &self.processed.logs {
            if log.position.block < tip.number {
                known.insert(log.position.block, log.block_hash);
            }
        }
        let candidates: Vec<BlockRef> = known
            .into_iter()
            .rev()
            .map(|(number, hash)| BlockRef { number, hash })
            .collect();
        let walk = WalkBack {
            detected_at,
            candidates,
            lo: 0,
            hi: None,
            probe: 0,
        };
        self.continue_walk(endpoint, walk);
    }

    /// Asks about the next candidate, or finishes the walk.
    fn continue_walk(&mut self, endpoint: usize, walk: WalkBack) {
        let found = match walk.hi {
            Some(hi) if walk.lo >= hi => Some(walk.candidates.get(hi).copied()),
            None if walk.lo >= walk.candidates.len() => Some(None),
            _ => None,
        };
        if let Some(to) = found {
            self.roll_back(walk.detected_at, to);
            return;
        }
        let probe = match walk.hi {
            Some(hi) => walk.lo + (hi - walk.lo) / 2,
            // 0, 1, 3, 7, …: the newest candidates first, then further apart.
            None if walk.probe == 0 && walk.lo == 0 => 0,
            None => walk
                .probe
                .saturating_mul(2)
                .saturating_add(1)
                .min(walk.candidates.len() - 1)
                .max(walk.lo),
        };
        let Some(candidate) = walk.candidates.get(probe) else {
            return;
        };
        let waiting = self.request(
            endpoint,
            Call::Header {
                number: candidate.number,
            },
        );
        self.step = Step::WalkBack {
            endpoint,
            walk: WalkBack { probe, ..walk },
            waiting,
        };
    }

    fn walk_back(
        &mut self,
        endpoint: usize,
        mut walk: WalkBack,
        answer: Result<Answer, ChainError>,
    ) -> Result<(), (usize, Failure)> {
        let Some(candidate) = walk.candidates.get(walk.probe).copied() else {
            return Ok(());
        };
        let header = Self::expect_header(endpoint, candidate.number, answer)?;
        if header.hash == candidate.hash {
            walk.hi = Some(walk.probe);
        } else {
            walk.lo = walk.probe + 1;
        }
        self.continue_walk(endpoint, walk);
        Ok(())
    }

    /// Drops everything processed after `to` (everything if `None`) and
    /// rebuilds the ledger from the logs kept. The snapshot stays until the
    /// follower catches up again.
    fn roll_back(&mut self, detected_at: u64, to: Option<BlockRef>) {
        let keep = |block: u64| to.is_some_and(|to| block <= to.number);
        let before = self.processed.logs.len();
        self.processed.logs.retain(|log| keep(log.position.block));
        self.processed.checkpoints.retain(|&n, _| keep(n));
        if let Some(to) = to {
            self.processed.checkpoints.insert(to.number, to.hash);
        }
        self.processed.tip = to;
        let logs_dropped = before - self.processed.logs.len();
        self.rebuild_ledger();
        self.generation += 1;
        self.dirty = true;
        self.events.push_back(FollowerEvent::Reorg {
            detected_at,
            rolled_back_to: to,
            logs_dropped,
        });
    }

    fn rebuild_ledger(&mut self) {
        let mut ledger = Ledger::new(self.config.chain_id, self.config.contract);
        for log in &self.processed.logs {
            ledger.apply(log.position, &log.event);
        }
        self.ledger = ledger;
    }

    fn update_stale(&mut self, now_ms: u64) {
        let stale = self.is_stale(now_ms);
        if stale != self.stale_reported {
            self.stale_reported = stale;
            self.events.push_back(FollowerEvent::StaleChanged { stale });
        }
    }
}

#[cfg(test)]
mod tests;
