//! The core against a scripted chain: several endpoints, each with its own
//! copy of a chain of blocks (so one can lag, fork or fail), answering every
//! call synchronously; the clock moves only when a test says so.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::collections::VecDeque;

use alloy_primitives::U256;
use nightjar_crypto::identity::{Identity, Seed};
use nightjar_crypto::registration::RegistrationClaim;
use nightjar_registry::SwarmMap;

use super::*;
use crate::contact::encode_contact;
use crate::events::ContractEvent;
use crate::ledger::NodeState;
use crate::state::SavedState;

const CHAIN: u64 = 31337;
const POLL: u64 = 1_000;
const STALE: u64 = 10_000;

fn contract() -> Address {
    Address::repeat_byte(0xcc)
}

fn operator(n: u8) -> Address {
    Address::repeat_byte(n)
}

fn identity(n: u8) -> Identity {
    Identity::from_seed(Seed::from_bytes([n; 32]))
}

fn key(n: u8) -> B256 {
    B256::from(identity(n).public_key().to_bytes())
}

/// A valid registration of node `n` by operator `op` with nonce `nonce`.
fn registered(n: u8, op: u8, nonce: u64) -> ContractEvent {
    let id = identity(n);
    let claim = RegistrationClaim::new(
        CHAIN,
        contract().into_array(),
        operator(op).into_array(),
        &id.public_key(),
        nonce,
    );
    ContractEvent::Registered {
        key: key(n),
        operator: operator(op),
        contact: encode_contact(&std::net::SocketAddr::from(([10, 0, 0, n], 40_000))),
        signature: claim.sign(&id).unwrap().to_vec(),
        nonce: U256::from(nonce),
        stake: U256::from(1_000),
    }
}

/// A registration of node `n` with a junk proof.
fn junk(n: u8, op: u8, nonce: u64) -> ContractEvent {
    let ContractEvent::Registered { contact, .. } = registered(n, op, nonce) else {
        unreachable!()
    };
    ContractEvent::Registered {
        key: key(n),
        operator: operator(op),
        contact,
        signature: vec![7; 64],
        nonce: U256::from(nonce),
        stake: U256::from(1_000),
    }
}

fn exit(n: u8, op: u8) -> ContractEvent {
    ContractEvent::ExitRequested {
        key: key(n),
        operator: operator(op),
        withdrawable_at: U256::ZERO,
    }
}

fn withdrawn(n: u8, op: u8) -> ContractEvent {
    ContractEvent::Withdrawn {
        key: key(n),
        operator: operator(op),
        stake: U256::from(1_000),
    }
}

fn slashed(n: u8, op: u8) -> ContractEvent {
    ContractEvent::Slashed {
        key: key(n),
        operator: operator(op),
        stake: U256::from(1_000),
        treasury: Address::repeat_byte(0xde),
        reason: B256::ZERO,
    }
}

/// The hash of block `number` on fork `fork`.
fn hash(fork: u8, number: u64) -> B256 {
    let mut h = [0xaa; 32];
    h[0] = fork;
    h[1..9].copy_from_slice(&number.to_be_bytes());
    B256::from(h)
}

#[derive(Debug, Clone)]
struct Block {
    hash: B256,
    parent: B256,
    logs: Vec<RawLog>,
}

/// A chain of blocks from genesis (block 0).
#[derive(Debug, Clone)]
struct Chain {
    blocks: Vec<Block>,
}

impl Chain {
    fn new() -> Chain {
        Chain {
            blocks: vec![Block {
                hash: hash(0, 0),
                parent: B256::ZERO,
                logs: Vec::new(),
            }],
        }
    }

    fn head(&self) -> u64 {
        self.blocks.len() as u64 - 1
    }

    /// Appends a block of fork `fork` holding `events`.
    fn push_on(&mut self, fork: u8, events: &[ContractEvent]) {
        let number = self.blocks.len() as u64;
        let parent = self.blocks.last().unwrap().hash;
        let hash = hash(fork, number);
        let logs = events
            .iter()
            .enumerate()
            .map(|(i, e)| {
                let (topics, data) = e.encode();
                RawLog {
                    address: contract(),
                    topics,
                    data,
                    block_number: Some(number),
                    block_hash: Some(hash),
                    log_index: Some(i as u64),
                    removed: false,
                }
            })
            .collect();
        self.blocks.push(Block { hash, parent, logs });
    }

    fn push(&mut self, events: &[ContractEvent]) {
        self.push_on(0, events);
    }

    fn empty_blocks(&mut self, n: usize) {
        for _ in 0..n {
            self.push(&[]);
        }
    }

    /// Drops the last `depth` blocks.
    fn truncate(&mut self, depth: usize) {
        self.blocks.truncate(self.blocks.len() - depth);
    }

    fn header(&self, number: u64) -> Option<Header> {
        let b = self.blocks.get(usize::try_from(number).ok()?)?;
        Some(Header {
            number,
            hash: b.hash,
            parent_hash: b.parent,
        })
    }

    fn logs(&self, from: u64, to: u64) -> Vec<RawLog> {
        (from..=to.min(self.head()))
            .flat_map(|n| self.blocks[n as usize].logs.clone())
            .collect()
    }
}

/// Which call a scripted answer is for.
type CallMatcher = fn(&Call) -> bool;

/// One scripted endpoint.
#[derive(Debug, Clone)]
struct Endpoint {
    chain_id: u64,
    chain: Chain,
    down: bool,
    /// Reports a head this much higher than it has.
    head_lie: u64,
    /// Returns every log twice.
    duplicate_logs: bool,
    /// Refuses `eth_getLogs` over more than this many blocks.
    max_logs_range: Option<u64>,
    /// Answers the next calls with these (once each) instead.
    scripted: VecDeque<(CallMatcher, Result<Answer, ChainError>)>,
    calls: Vec<Call>,
}

impl Endpoint {
    fn new(chain: &Chain) -> Endpoint {
        Endpoint {
            chain_id: CHAIN,
            chain: chain.clone(),
            down: false,
            head_lie: 0,
            duplicate_logs: false,
            max_logs_range: None,
            scripted: VecDeque::new(),
            calls: Vec::new(),
        }
    }

    fn answer(&mut self, index: usize, call: Call) -> Result<Answer, ChainError> {
        self.calls.push(call);
        if let Some(pos) = self.scripted.iter().position(|(matches, _)| matches(&call)) {
            return self.scripted.remove(pos).unwrap().1;
        }
        if self.down {
            return Err(ChainError::Rpc {
                endpoint: index,
                message: "connection refused".into(),
            });
        }
        Ok(match call {
            Call::ChainId => Answer::ChainId(self.chain_id),
            Call::BlockNumber => Answer::BlockNumber(self.chain.head() + self.head_lie),
            Call::Header { number } => Answer::Header(self.chain.header(number)),
            Call::Logs { from, to } => {
                if self.max_logs_range.is_some_and(|max| to - from + 1 > max) {
                    return Err(ChainError::RpcRefused {
                        endpoint: index,
                        code: -32005,
                        message: "query returned more than 10000 results".into(),
                    });
                }
                let mut logs = self.chain.logs(from, to);
                if self.duplicate_logs {
                    let copy = logs.clone();
                    logs.extend(copy);
                    logs.reverse();
                }
                Answer::Logs(logs)
            }
        })
    }
}

struct Harness {
    follower: Follower,
    endpoints: Vec<Endpoint>,
    now: u64,
    events: Vec<FollowerEvent>,
}

fn config(endpoints: usize) -> FollowerConfig {
    FollowerConfig {
        chain_id: CHAIN,
        contract: contract(),
        start_block: 0,
        confirmations: 0,
        max_range: 4,
        poll_interval_ms: POLL,
        stale_after_ms: STALE,
        max_backoff_ms: 8 * POLL,
        endpoints,
    }
}

impl Harness {
    fn new(chain: &Chain, endpoints: usize) -> Harness {
        Harness::with(config(endpoints), chain, endpoints, None)
    }

    fn with(
        config: FollowerConfig,
        chain: &Chain,
        endpoints: usize,
        saved: Option<SavedState>,
    ) -> Harness {
        Harness {
            follower: Follower::new(config, saved).unwrap(),
            endpoints: (0..endpoints).map(|_| Endpoint::new(chain)).collect(),
            now: 1,
            events: Vec::new(),
        }
    }

    /// Answers every request until none is left.
    fn pump(&mut self) {
        let mut guard = 0;
        while let Some(request) = self.follower.poll_request() {
            guard += 1;
            assert!(guard < 100_000, "the follower never stops asking");
            let answer = self.endpoints[request.endpoint].answer(request.endpoint, request.call);
            self.follower.handle_response(request.id, answer, self.now);
        }
        while let Some(event) = self.follower.poll_event() {
            self.events.push(event);
        }
    }

    /// Runs `n` rounds, `POLL` ms apart (each answered at once).
    fn rounds(&mut self, n: usize) {
        for _ in 0..n {
            self.now += POLL;
            self.follower.handle_timeout(self.now);
            self.pump();
        }
    }

    /// Every endpoint gets `f` applied to its chain.
    fn on_chains(&mut self, f: impl Fn(&mut Chain)) {
        for e in &mut self.endpoints {
            f(&mut e.chain);
        }
    }

    fn snapshot(&self) -> Arc<Snapshot> {
        self.follower.snapshot().expect("a snapshot")
    }

    fn node_keys(&self) -> Vec<B256> {
        self.snapshot()
            .nodes
            .iter()
            .map(|n| B256::from(n.id.0.to_bytes()))
            .collect()
    }

    fn take_events(&mut self) -> Vec<FollowerEvent> {
        std::mem::take(&mut self.events)
    }

    fn reorgs(&self) -> Vec<(u64, Option<u64>, usize)> {
        self.events
            .iter()
            .filter_map(|e| match e {
                FollowerEvent::Reorg {
                    detected_at,
                    rolled_back_to,
                    logs_dropped,
                } => Some((
                    *detected_at,
                    rolled_back_to.map(|b| b.number),
                    *logs_dropped,
                )),
                _ => None,
            })
            .collect()
    }
}

fn sorted(mut keys: Vec<B256>) -> Vec<B256> {
    keys.sort();
    keys
}

/// A chain of 30 blocks with registrations, a junk one, an exit and a slash.
fn busy_chain() -> Chain {
    let mut c = Chain::new();
    c.push(&[registered(1, 1, 0)]);
    c.empty_blocks(3);
    c.push(&[junk(2, 9, 0), registered(3, 1, 1)]);
    c.empty_blocks(5);
    c.push(&[registered(2, 2, 0)]); // key 2's owner, after the squatter
    c.empty_blocks(2);
    c.push(&[registered(4, 1, 2), registered(5, 1, 3)]);
    c.empty_blocks(4);
    c.push(&[exit(4, 1)]);
    c.empty_blocks(3);
    c.push(&[slashed(5, 1), withdrawn(2, 9)]);
    c.empty_blocks(6);
    c
}

#[test]
fn follows_in_ranges_and_derives_the_registry() {
    let chain = busy_chain();
    let mut h = Harness::new(&chain, 1);
    assert!(h.follower.is_stale(h.now));
    assert!(h.follower.snapshot().is_none());
    h.rounds(1);
    let snap = h.snapshot();
    assert_eq!(snap.block, chain.header(chain.head()).unwrap().block());
    // 1 and 3 active, 2 (the owner's registration, after the junk one)
    // active, 4 exiting, 5 slashed.
    assert_eq!(
        sorted(h.node_keys()),
        sorted(vec![key(1), key(2), key(3), key(4)])
    );
    let node4 = snap
        .nodes
        .iter()
        .find(|n| n.id.0.to_bytes() == key(4).0)
        .unwrap();
    assert_eq!(node4.state, NodeState::Exiting);
    assert_eq!(
        snap.nodes
            .iter()
            .find(|n| n.id.0.to_bytes() == key(2).0)
            .unwrap()
            .operator,
        operator(2)
    );
    let map = SwarmMap::replay(&snap.events).unwrap();
    assert_eq!(map.node_count(), 3);
    assert_eq!(snap.registry("chain").swarm_map().unwrap(), map);
    // Ranges of at most 4 blocks, each: header(from), header(to), logs.
    let logs_calls: Vec<(u64, u64)> = h.endpoints[0]
        .calls
        .iter()
        .filter_map(|c| match c {
            Call::Logs { from, to } => Some((*from, *to)),
            _ => None,
        })
        .collect();
    assert!(logs_calls.iter().all(|(f, t)| t - f < 4), "{logs_calls:?}");
    assert_eq!(logs_calls.first(), Some(&(0, 3)));
    assert_eq!(logs_calls.last().unwrap().1, chain.head());
    for pair in logs_calls.windows(2) {
        assert_eq!(pair[1].0, pair[0].1 + 1, "contiguous ranges");
    }
    assert!(!h.follower.is_stale(h.now));
    assert!(
        h.events
            .iter()
            .any(|e| matches!(e, FollowerEvent::Synced { changed: true, .. }))
    );
    assert!(
        h.events
            .iter()
            .any(|e| matches!(e, FollowerEvent::StaleChanged { stale: false }))
    );
}

#[test]
fn confirmations_keep_the_follower_behind_the_head() {
    let mut chain = Chain::new();
    chain.empty_blocks(5);
    chain.push(&[registered(1, 1, 0)]); // block 6
    chain.empty_blocks(2); // head 8
    let mut h = Harness::with(
        FollowerConfig {
            confirmations: 3,
            ..config(1)
        },
        &chain,
        1,
        None,
    );
    h.rounds(1);
    assert_eq!(h.snapshot().block.number, 5);
    assert!(h.node_keys().is_empty());
    h.on_chains(|c| c.empty_blocks(1));
    h.rounds(1);
    assert_eq!(h.snapshot().block.number, 6);
    assert_eq!(h.node_keys(), vec![key(1)]);
}

#[test]
fn a_reorg_of_depth_one_removes_what_it_removed() {
    let mut chain = Chain::new();
    chain.push(&[registered(1, 1, 0)]);
    chain.empty_blocks(3);
    chain.push(&[registered(2, 1, 1)]); // block 5, the tip
    let mut h = Harness::new(&chain, 1);
    h.rounds(1);
    assert_eq!(sorted(h.node_keys()), sorted(vec![key(1), key(2)]));

    // Block 5 is replaced by a block without the registration; block 6 follows.
    h.on_chains(|c| {
        c.truncate(1);
        c.push_on(1, &[]);
        c.push_on(1, &[]);
    });
    h.rounds(1);
    assert_eq!(h.reorgs(), vec![(6, Some(4), 1)]);
    assert_eq!(h.node_keys(), vec![key(1)]);
    assert_eq!(
        h.snapshot().block,
        BlockRef {
            number: 6,
            hash: hash(1, 6)
        }
    );
    SwarmMap::replay(&h.snapshot().events).unwrap();
}

#[test]
fn a_reorg_at_the_same_height_is_found_by_the_tip_check() {
    let mut chain = Chain::new();
    chain.push(&[registered(1, 1, 0)]);
    chain.push(&[registered(2, 1, 1)]);
    let mut h = Harness::new(&chain, 1);
    h.rounds(1);
    assert_eq!(h.node_keys().len(), 2);
    // Same height, another block 2 (the chain did not grow).
    h.on_chains(|c| {
        c.truncate(1);
        c.push_on(1, &[]);
    });
    h.rounds(1);
    assert_eq!(h.reorgs(), vec![(2, Some(1), 1)]);
    assert_eq!(h.node_keys(), vec![key(1)]);
    assert_eq!(h.snapshot().block.hash, hash(1, 2));
}

#[test]
fn a_deep_reorg_walks_back_to_the_newest_block_still_on_the_chain() {
    let chain = busy_chain(); // 30 blocks, events at 1, 5, 11, 14, 19, 23
    let mut h = Harness::new(&chain, 1);
    h.rounds(1);
    let before = h.snapshot();
    // Everything from block 12 on is replaced: the registrations of block 14
    // and everything after are gone; the new fork registers node 6.
    h.on_chains(|c| {
        c.truncate(c.blocks.len() - 12);
        c.push_on(2, &[registered(6, 3, 0)]);
        for _ in 0..20 {
            c.push_on(2, &[]);
        }
    });
    h.take_events();
    h.endpoints[0].calls.clear();
    h.rounds(1);
    let reorgs = h.reorgs();
    assert_eq!(reorgs.len(), 1, "{reorgs:?}");
    let (_, to, dropped) = reorgs[0];
    // The newest known block at or before 11 (the walk only knows range
    // ends and blocks with logs).
    assert_eq!(to, Some(11));
    // Blocks 14 (two), 19 and 23 (two).
    assert_eq!(dropped, 5);
    assert_eq!(
        sorted(h.node_keys()),
        sorted(vec![key(1), key(2), key(3), key(6)])
    );
    // Exactly the registry of a follower that only ever saw the new chain.
    let mut fresh = Harness::new(&h.endpoints[0].chain, 1);
    fresh.rounds(1);
    assert_eq!(fresh.snapshot().events, h.snapshot().events);
    assert_eq!(fresh.snapshot().nodes, h.snapshot().nodes);
    assert_ne!(before.events, h.snapshot().events);
    // Few header calls for the walk over 18 known blocks (newest first,
    // then further apart, then a binary search), not one per block.
    let walk: Vec<u64> = h.endpoints[0]
        .calls
        .iter()
        .filter_map(|c| match c {
            Call::Header { number } if *number < 30 => Some(*number),
            _ => None,
        })
        .collect();
    assert_eq!(walk[..8], [28, 27, 23, 15, 3, 8, 12, 11]);
    // Then it reads again from block 12.
    assert_eq!(walk[8], 12);
}

#[test]
fn a_reorg_below_everything_known_starts_over() {
    let mut chain = Chain::new();
    chain.push(&[registered(1, 1, 0)]);
    chain.empty_blocks(3);
    let mut h = Harness::new(&chain, 1);
    h.rounds(1);
    // Another chain altogether, genesis included (a devnet's anvil started
    // again on the same chain ID).
    h.on_chains(|c| {
        c.blocks.clear();
        c.blocks.push(Block {
            hash: hash(3, 0),
            parent: B256::ZERO,
            logs: Vec::new(),
        });
        for _ in 0..6 {
            c.push_on(3, &[]);
        }
        c.push_on(3, &[registered(2, 1, 0)]);
    });
    h.rounds(1);
    assert_eq!(h.reorgs(), vec![(5, None, 1)]);
    assert_eq!(h.node_keys(), vec![key(2)]);
}

#[test]
fn the_snapshot_stays_while_the_follower_catches_up_after_a_rollback() {
    let mut chain = Chain::new();
    chain.push(&[registered(1, 1, 0)]);
    chain.push(&[registered(2, 1, 1)]);
    chain.empty_blocks(2);
    let mut h = Harness::new(&chain, 1);
    h.rounds(1);
    let before = h.snapshot();
    // A fork from block 2 on, and the endpoint fails after the walk back
    // (mid catch-up): the old snapshot stays, nodes are not dropped.
    h.on_chains(|c| {
        c.truncate(3);
        for _ in 0..6 {
            c.push_on(4, &[]);
        }
    });
    h.endpoints[0].scripted.push_back((
        |c| matches!(c, Call::Logs { .. }),
        Err(ChainError::RpcTimeout {
            endpoint: 0,
            after_ms: 1,
        }),
    ));
    h.rounds(1);
    assert_eq!(h.reorgs().len(), 1);
    assert_eq!(h.follower.ledger().node_count(), 1);
    assert_eq!(h.snapshot(), before);
    // Later rounds catch up and publish.
    h.rounds(10);
    assert_eq!(h.node_keys(), vec![key(1)]);
    assert_eq!(h.snapshot().block.number, 7);
}

#[test]
fn duplicate_logs_are_harmless_and_conflicting_ones_refused() {
    let chain = busy_chain();
    let mut plain = Harness::new(&chain, 1);
    plain.rounds(1);
    let mut dup = Harness::new(&chain, 1);
    dup.endpoints[0].duplicate_logs = true;
    dup.rounds(1);
    assert_eq!(dup.snapshot(), plain.snapshot());

    // Two different logs at one position: the answer is refused, another
    // endpoint is asked.
    let mut h = Harness::new(&chain, 2);
    let mut other = chain.logs(1, 1)[0].clone();
    other.data.push(0);
    let bad = [chain.logs(0, 3), vec![other]].concat();
    h.endpoints[0].scripted.push_back((
        |c| matches!(c, Call::Logs { from: 0, .. }),
        Ok(Answer::Logs(bad)),
    ));
    h.rounds(1);
    assert!(h.events.iter().any(|e| matches!(
        e,
        FollowerEvent::EndpointFailed {
            endpoint: 0,
            error: ChainError::BadAnswer { .. }
        }
    )));
    assert_eq!(h.snapshot(), plain.snapshot());
}

#[test]
fn gaps_and_impossible_answers_are_refetched() {
    let chain = busy_chain();
    let mut plain = Harness::new(&chain, 1);
    plain.rounds(1);
    let expected = plain.snapshot();

    let faults: Vec<(CallMatcher, Answer)> = vec![
        // A block it should have.
        (
            |c| matches!(c, Call::Header { number: 4 }),
            Answer::Header(None),
        ),
        // Another block than asked.
        (
            |c| matches!(c, Call::Header { number: 8 }),
            Answer::Header(Some(Header {
                number: 9,
                hash: hash(0, 9),
                parent_hash: hash(0, 8),
            })),
        ),
        // A log outside the range, a log without a position, a removed log,
        // a log of another contract, a malformed registry log, the wrong
        // kind of answer.
        (
            |c| matches!(c, Call::Logs { from: 4, .. }),
            Answer::Logs(
                chain
                    .logs(0, 0)
                    .into_iter()
                    .chain(chain.logs(10, 11))
                    .collect(),
            ),
        ),
        (
            |c| matches!(c, Call::Logs { from: 8, .. }),
            Answer::Logs({
                let mut l = chain.logs(11, 11);
                l[0].log_index = None;
                l
            }),
        ),
        (
            |c| matches!(c, Call::Logs { from: 12, .. }),
            Answer::Logs({
                let mut l = chain.logs(14, 14);
                l[0].removed = true;
                l
            }),
        ),
        (
            |c| matches!(c, Call::Logs { from: 16, .. }),
            Answer::Logs({
                let mut l = chain.logs(19, 19);
                l[0].address = Address::repeat_byte(1);
                l
            }),
        ),
        (
            |c| matches!(c, Call::Logs { from: 20, .. }),
            Answer::Logs({
                let mut l = chain.logs(23, 23);
                l[0].data.truncate(5);
                l
            }),
        ),
        (
            |c| matches!(c, Call::Logs { from: 24, .. }),
            Answer::BlockNumber(3),
        ),
    ];
    let count = faults.len();
    let mut h = Harness::new(&chain, 1);
    for (matches, answer) in faults {
        h.endpoints[0].scripted.push_back((matches, Ok(answer)));
    }
    h.rounds(40);
    let failures = h
        .events
        .iter()
        .filter(|e| {
            matches!(
                e,
                FollowerEvent::EndpointFailed {
                    error: ChainError::BadAnswer { .. },
                    ..
                }
            )
        })
        .count();
    assert_eq!(failures, count);
    assert_eq!(h.snapshot().events, expected.events);
    assert_eq!(h.snapshot().nodes, expected.nodes);

    // Two hashes for one block among the logs (block 5), and a log of the
    // range's last block (11) whose hash is not that block header's: refused.
    let mut h = Harness::new(&chain, 1);
    h.endpoints[0].scripted.push_back((
        |c| matches!(c, Call::Logs { from: 4, .. }),
        Ok(Answer::Logs({
            let mut l = chain.logs(4, 7);
            l[0].block_hash = Some(hash(9, 5));
            l
        })),
    ));
    h.endpoints[0].scripted.push_back((
        |c| matches!(c, Call::Logs { from: 8, .. }),
        Ok(Answer::Logs({
            let mut l = chain.logs(8, 11);
            l[0].block_hash = Some(hash(9, 11));
            l
        })),
    ));
    h.rounds(10);
    let reasons: Vec<&str> = h
        .events
        .iter()
        .filter_map(|e| match e {
            FollowerEvent::EndpointFailed {
                error: ChainError::BadAnswer { reason, .. },
                ..
            } => Some(reason.as_str()),
            _ => None,
        })
        .collect();
    assert_eq!(
        reasons,
        ["two hashes for block 5", "two hashes for block 11"]
    );
    assert_eq!(h.snapshot().events, expected.events);
}

#[test]
fn refused_ranges_shrink_and_give_the_same_registry() {
    let chain = busy_chain();
    let mut plain = Harness::new(&chain, 1);
    plain.rounds(1);
    let mut h = Harness::with(
        FollowerConfig {
            max_range: 1_000,
            ..config(1)
        },
        &chain,
        1,
        None,
    );
    h.endpoints[0].max_logs_range = Some(3);
    h.rounds(3);
    assert_eq!(h.snapshot().events, plain.snapshot().events);
    assert_eq!(h.snapshot().nodes, plain.snapshot().nodes);
    assert!(h.events.iter().any(|e| matches!(
        e,
        FollowerEvent::EndpointFailed {
            error: ChainError::RpcRefused { .. },
            ..
        }
    )));
}

#[test]
fn rpc_errors_fail_over_and_all_down_means_stale_but_nothing_dropped() {
    let chain = busy_chain();
    let mut h = Harness::new(&chain, 2);
    h.endpoints[0].down = true;
    h.rounds(1);
    assert_eq!(h.node_keys().len(), 4);
    assert!(
        h.endpoints[1]
            .calls
            .iter()
            .any(|c| matches!(c, Call::Logs { .. }))
    );
    assert!(
        !h.endpoints[0]
            .calls
            .iter()
            .any(|c| matches!(c, Call::Logs { .. }))
    );
    assert!(!h.follower.is_stale(h.now));

    // A data call fails on the endpoint in use: the same step goes on
    // elsewhere at once.
    h.endpoints[0].down = false;
    h.rounds(10); // endpoint 0 back from its backoff
    h.on_chains(|c| c.push(&[registered(7, 4, 0)]));
    h.endpoints[0].scripted.push_back((
        |c| matches!(c, Call::Logs { .. }),
        Err(ChainError::Rpc {
            endpoint: 0,
            message: "reset".into(),
        }),
    ));
    h.rounds(1);
    assert!(h.node_keys().contains(&key(7)));

    // Everything down: stale after STALE ms, the snapshot is kept.
    let before = h.snapshot();
    h.take_events();
    for e in &mut h.endpoints {
        e.down = true;
    }
    h.on_chains(|c| c.push(&[exit(1, 1)]));
    h.rounds((STALE / POLL) as usize + 2);
    assert!(h.follower.is_stale(h.now));
    assert_eq!(h.snapshot(), before);
    assert!(
        h.events
            .iter()
            .any(|e| matches!(e, FollowerEvent::StaleChanged { stale: true }))
    );
    let status = h.follower.status(h.now);
    assert!(status.stale);
    assert_eq!(status.head, None);
    assert!(status.endpoints.iter().all(|e| e.failures > 0));

    // Back: fresh again, and it catches up.
    for e in &mut h.endpoints {
        e.down = false;
    }
    h.on_chains(|c| c.push(&[]));
    h.rounds(10);
    assert!(!h.follower.is_stale(h.now));
    assert!(
        h.events
            .iter()
            .any(|e| matches!(e, FollowerEvent::StaleChanged { stale: false }))
    );
    let node1 = h
        .snapshot()
        .nodes
        .iter()
        .find(|n| n.id.0.to_bytes() == key(1).0)
        .cloned();
    assert_eq!(node1.unwrap().state, NodeState::Exiting);
}

#[test]
fn a_halted_chain_makes_the_follower_stale() {
    let chain = busy_chain();
    let mut h = Harness::new(&chain, 1);
    h.rounds(1);
    assert!(!h.follower.is_stale(h.now));
    let before = h.snapshot();
    // Endpoints answer, but the head never moves.
    h.rounds((STALE / POLL) as usize + 2);
    assert!(h.follower.is_stale(h.now));
    assert_eq!(h.snapshot(), before);
    h.on_chains(|c| c.push(&[]));
    h.rounds(1);
    assert!(!h.follower.is_stale(h.now));
}

#[test]
fn an_endpoint_on_another_chain_is_never_followed() {
    let chain = busy_chain();
    let mut h = Harness::new(&chain, 2);
    h.endpoints[0].chain_id = 1;
    // Endpoint 0 even claims a higher head: it is never asked for it.
    h.endpoints[0].head_lie = 1_000;
    h.rounds(5);
    assert_eq!(h.node_keys().len(), 4);
    assert_eq!(h.endpoints[0].calls, vec![Call::ChainId]);
    assert!(h.events.iter().any(|e| matches!(
        e,
        FollowerEvent::EndpointRejected {
            endpoint: 0,
            error: ChainError::WrongChain {
                expected: CHAIN,
                got: 1,
                ..
            }
        }
    )));
    assert!(h.follower.fatal().is_none());

    // Every endpoint on another chain: a final error, nothing followed.
    let mut h = Harness::new(&chain, 2);
    for e in &mut h.endpoints {
        e.chain_id = 42161;
    }
    h.rounds(3);
    assert!(matches!(
        h.follower.fatal(),
        Some(ChainError::NoEndpointOnChain { expected: CHAIN })
    ));
    assert!(h.follower.snapshot().is_none());
    assert!(h.endpoints.iter().all(|e| e.calls == vec![Call::ChainId]));
    let message = h.follower.fatal().unwrap().to_string();
    assert!(message.contains("31337"), "{message}");
}

#[test]
fn a_lagging_endpoint_is_not_trusted_for_a_lower_head() {
    let chain = busy_chain();
    let mut h = Harness::new(&chain, 2);
    // Endpoint 0 (preferred on ties) lags 10 blocks behind endpoint 1.
    h.endpoints[0].chain.truncate(10);
    h.rounds(1);
    assert_eq!(h.snapshot().block.number, chain.head());
    assert_eq!(h.node_keys().len(), 4);
    assert!(
        !h.endpoints[0]
            .calls
            .iter()
            .any(|c| matches!(c, Call::Logs { .. }))
    );

    // Only the laggard left: nothing is rolled back for its lower head.
    h.endpoints[1].down = true;
    h.rounds(3);
    assert!(h.reorgs().is_empty());
    assert_eq!(h.snapshot().block.number, chain.head());
    assert_eq!(h.follower.status(h.now).head, Some(chain.head() - 10));
}

#[test]
fn restart_resumes_from_the_saved_position() {
    let chain = busy_chain();
    let mut h = Harness::new(&chain, 1);
    h.rounds(1);
    assert!(h.follower.is_dirty());
    let saved = SavedState::decode(&h.follower.saved_state().encode()).unwrap();
    h.follower.mark_saved();
    assert!(!h.follower.is_dirty());
    assert_eq!(saved, h.follower.saved_state());

    let mut chain2 = chain.clone();
    chain2.push(&[registered(8, 5, 0)]);
    let mut r = Harness::with(config(1), &chain2, 1, Some(saved.clone()));
    // At once: the saved registry, stale until it catches up.
    assert_eq!(r.snapshot().events, h.snapshot().events);
    assert!(r.follower.is_stale(r.now));
    r.rounds(1);
    // It read only what was new.
    let ranges: Vec<Call> = r.endpoints[0]
        .calls
        .iter()
        .filter(|c| matches!(c, Call::Logs { .. }))
        .copied()
        .collect();
    assert_eq!(
        ranges,
        vec![Call::Logs {
            from: chain.head() + 1,
            to: chain.head() + 1
        }]
    );
    assert!(r.node_keys().contains(&key(8)));
    assert!(!r.follower.is_stale(r.now));

    // A reorg below the saved position while it was down is still found.
    let mut forked = chain.clone();
    forked.truncate(forked.blocks.len() - 15); // keeps blocks 0..=14
    for _ in 0..20 {
        forked.push_on(5, &[]);
    }
    let mut r = Harness::with(config(1), &forked, 1, Some(saved));
    r.rounds(1);
    assert_eq!(r.reorgs().len(), 1);
    let mut fresh = Harness::new(&forked, 1);
    fresh.rounds(1);
    assert_eq!(r.snapshot().events, fresh.snapshot().events);
    assert_eq!(r.snapshot().block, fresh.snapshot().block);
}

#[test]
fn a_state_for_another_contract_is_refused() {
    let chain = busy_chain();
    let mut h = Harness::new(&chain, 1);
    h.rounds(1);
    let saved = h.follower.saved_state();
    for (config, field) in [
        (
            FollowerConfig {
                chain_id: 1,
                ..config(1)
            },
            "chain ID",
        ),
        (
            FollowerConfig {
                contract: Address::repeat_byte(1),
                ..config(1)
            },
            "contract",
        ),
        (
            FollowerConfig {
                start_block: 3,
                ..config(1)
            },
            "start block",
        ),
    ] {
        match Follower::new(config, Some(saved.clone())) {
            Err(ChainError::StateMismatch { field: f, .. }) => assert_eq!(f, field),
            other => panic!("{field}: {other:?}"),
        }
    }
}

#[test]
fn the_same_logs_give_the_same_registry_whatever_the_path() {
    let chain = busy_chain();
    let mut reference = Harness::new(&chain, 1);
    reference.rounds(1);
    for (max_range, endpoints, confirmations) in [(1, 1, 0), (7, 3, 0), (1_000, 2, 0), (2, 1, 5)] {
        let mut h = Harness::with(
            FollowerConfig {
                max_range,
                confirmations,
                ..config(endpoints)
            },
            &chain,
            endpoints,
            None,
        );
        if endpoints > 1 {
            h.endpoints[0].duplicate_logs = true;
        }
        h.rounds(2);
        if confirmations > 0 {
            h.on_chains(|c| c.empty_blocks(5));
            h.rounds(1);
        }
        assert_eq!(
            h.snapshot().events,
            reference.snapshot().events,
            "max_range {max_range}, {endpoints} endpoints"
        );
        assert_eq!(h.snapshot().nodes, reference.snapshot().nodes);
    }
}

#[test]
fn synced_reports_whether_the_registry_changed() {
    let chain = busy_chain();
    let mut h = Harness::new(&chain, 1);
    h.rounds(1);
    h.take_events();
    h.on_chains(|c| c.empty_blocks(2));
    h.rounds(1);
    let synced: Vec<bool> = h
        .events
        .iter()
        .filter_map(|e| match e {
            FollowerEvent::Synced { changed, .. } => Some(*changed),
            _ => None,
        })
        .collect();
    // One per round, each without a change.
    assert!(!synced.is_empty());
    assert!(synced.iter().all(|changed| !changed), "{synced:?}");
    h.take_events();
    h.on_chains(|c| c.push(&[withdrawn(4, 1)]));
    h.rounds(1);
    assert!(
        h.events
            .iter()
            .any(|e| matches!(e, FollowerEvent::Synced { changed: true, .. }))
    );
    assert!(!h.node_keys().contains(&key(4)));
}

#[test]
fn invalid_configurations_are_refused() {
    for bad in [
        FollowerConfig {
            endpoints: 0,
            ..config(1)
        },
        FollowerConfig {
            max_range: 0,
            ..config(1)
        },
        FollowerConfig {
            poll_interval_ms: 0,
            ..config(1)
        },
        FollowerConfig {
            contract: Address::ZERO,
            ..config(1)
        },
    ] {
        assert!(matches!(
            Follower::new(bad, None),
            Err(ChainError::Config(_))
        ));
    }
}
