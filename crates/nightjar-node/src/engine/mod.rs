//! The node as one sans-IO, event-driven state machine (in the style of
//! `quinn-proto`'s `Connection`): every protocol decision of a service node
//! — request checks, the write quorum with verified receipts, delete
//! fan-out, claims decided by a vote of the swarm, waiting retrieves, onion
//! relaying, answers to sync requests, anti-entropy rounds and hand-off —
//! and none of its I/O.
//!
//! A driver feeds [`NodeCore`] inputs, each with the clock:
//! [`NodeCore::handle_request`] (a request on a stream the driver numbered
//! with a [`RequestId`], after the stateless pre-check
//! [`Prechecker::check`], which a threaded driver runs before taking its
//! lock around the core), [`NodeCore::handle_store_reply`] and
//! [`NodeCore::handle_peer_answer`] (answers to the [`Effect::Store`] and
//! [`Effect::SendToPeer`] effects, named by their [`OpId`]),
//! [`NodeCore::handle_client_gone`] (a stream stopped),
//! [`NodeCore::handle_timeout`] (once [`NodeCore::poll_timeout`] is due) and
//! [`NodeCore::set_registry`]. After each input it drains
//! [`NodeCore::poll_effect`] and does what the effects say. The tokio
//! driver, the unit tests and the network simulator (`nightjar-sim`) drive
//! this one code.
//!
//! Guarantees: every peer request is answered by the driver (an answer,
//! [`PeerFailure::Unreachable`] or, after its `timeout_ms`,
//! [`PeerFailure::TimedOut`]); the core also keeps its own deadlines, so no
//! state outlives them even if answers never come. Writes in flight are
//! bounded by [`CoreConfig::max_pending_writes`] (beyond it: `unavailable`),
//! and the requests that outlive a write's answer — replicas, delete
//! forwards, claim votes, hand-off copies — by [`CoreConfig::max_peer_in_flight`] sent
//! and [`CoreConfig::max_peer_queue`] waiting per node (beyond it the
//! request fails at once with [`PeerFailure::Overloaded`] and the quorum
//! decides on the other members), so a member that is down costs a bounded
//! amount of work and memory however many stores arrive.
//!
//! Not here: sockets, the store itself, timers, metrics, the registry file
//! (drivers), connection and rate limits (transport policy, in the driver).
//! The core uses no OS clock or randomness: the clock is an argument.

mod claim;
mod digest_cache;
mod effect;
mod hand_off;
mod peer_queue;
mod quorum;
mod registry;
mod requests;
mod retrieve_wait;
mod serve_sync;
mod signatures;
mod sync_round;

#[cfg(test)]
mod tests;

use std::collections::{BTreeSet, HashMap, VecDeque};
use std::sync::Arc;

use nightjar_crypto::identity::{Identity, PublicKey};
use nightjar_crypto::onion::ReplyKey;
use nightjar_registry::NodeId;
use nightjar_store::{StoreCommand, StoreReply};
use nightjar_types::MailboxKey;
use nightjar_wire::{Request, Response, ResponseBody, WireError};

pub use effect::{CoreEvent, Effect, OpId, PeerFailure, RequestId};
pub use quorum::receipt_verifies;
pub use registry::RegistryView;
pub use signatures::{Ed25519, Signatures};

use crate::core::WriteQuorum;
pub use crate::core::{Checked, Prechecker};
use claim::{ClaimId, Claims};
use digest_cache::{BucketRead, DigestCache};
use hand_off::{HandOff, HandOffOp};
use peer_queue::{Admitted, PeerQueues, Queued};
use quorum::{Quorums, WriteId};
use retrieve_wait::RetrieveWaits;
use serve_sync::Serve;
use sync_round::{RoundOp, SyncRound};

/// Everything a node's behaviour depends on, with today's defaults.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CoreConfig {
    /// How many durable copies acknowledge a store.
    pub write_quorum: WriteQuorum,
    /// How long a store waits for its quorum before `quorum_not_reached`
    /// (also the timeout of each replication and delete forward).
    pub quorum_timeout_ms: u64,
    /// Timeout of one sync or hand-off request.
    pub sync_timeout_ms: u64,
    /// Longest wait for the next onion hop a layer may ask for.
    pub max_hop_timeout_ms: u64,
    /// Time between anti-entropy rounds (rounds run only with a registry).
    pub sync_interval_ms: u64,
    /// Time between purges of expired messages.
    pub purge_interval_ms: u64,
    /// Most stores and deletes in flight; beyond it: `unavailable`.
    pub max_pending_writes: usize,
    /// Most replicas, delete forwards and hand-off copies in flight to one
    /// node at a time (see the module docs, Guarantees).
    pub max_peer_in_flight: usize,
    /// Most of those waiting for their turn, per node; beyond it a request
    /// fails at once with [`PeerFailure::Overloaded`].
    pub max_peer_queue: usize,
    /// Most messages in one retrieve answer.
    pub retrieve_max_messages: usize,
    /// Most payload bytes in one retrieve answer.
    pub retrieve_max_bytes: usize,
    /// How long a tombstone for a message never held here is kept.
    pub tombstone_ttl_ms: u64,
    /// How long a claim is kept at least (and at least as long as the
    /// record it names).
    pub claim_ttl_ms: u64,
    /// Buckets per digest comparison in a sync round.
    pub sync_buckets: u32,
    /// Test networks only (`debug_accounting`): report the account of each
    /// request delivered through an onion ([`CoreEvent::DeliveredFor`]).
    pub report_accounts: bool,
}

impl Default for CoreConfig {
    fn default() -> CoreConfig {
        CoreConfig {
            write_quorum: WriteQuorum::Majority,
            quorum_timeout_ms: 10_000,
            sync_timeout_ms: 10_000,
            max_hop_timeout_ms: 45_000,
            sync_interval_ms: 5_000,
            purge_interval_ms: 10_000,
            max_pending_writes: 8192,
            max_peer_in_flight: 32,
            max_peer_queue: 256,
            retrieve_max_messages: nightjar_wire::MAX_RETRIEVE_MESSAGES,
            retrieve_max_bytes: nightjar_wire::MAX_RETRIEVE_BYTES,
            tombstone_ttl_ms: nightjar_wire::MAX_TTL_MS,
            claim_ttl_ms: nightjar_wire::MAX_TTL_MS,
            sync_buckets: crate::sync::SYNC_BUCKETS,
            report_accounts: false,
        }
    }
}

/// A request not answered yet.
#[derive(Debug)]
struct Pending {
    /// Its kind, for [`CoreEvent::Answered`].
    kind: &'static str,
    /// Delivered through an onion: wrap the answer with this key.
    deliver: Option<ReplyKey>,
    /// It holds one of the pending-write slots.
    write: bool,
    /// An onion relay: the peer request and the key to wrap its answer.
    relay: Option<(OpId, ReplyKey)>,
    /// A retrieve that may wait until then.
    wait_until_ms: Option<u64>,
    /// A retrieve's mailbox.
    mailbox: Option<MailboxKey>,
}

/// What an [`OpId`] stands for.
#[derive(Debug)]
enum Op {
    /// The local copy of a tracked write.
    LocalWrite(WriteId, MailboxKey),
    /// A replica of a tracked write at its `member`-th member.
    Replica { write: WriteId, member: usize },
    /// The local part of a delete request.
    Delete(RequestId),
    /// A delete forwarded to a swarm member (fire and forget).
    DeleteForward,
    /// A read for a retrieve.
    Read {
        id: RequestId,
        mailbox: MailboxKey,
        after_seq: u64,
    },
    /// A store read answering a sync request.
    Serve { id: RequestId, what: Serve },
    /// The next hop of an onion relay.
    Relay(RequestId),
    /// A purge of expired messages.
    Purge,
    /// A step of the anti-entropy round.
    Round(RoundOp),
    /// A step of the hand-off.
    HandOff(HandOffOp),
    /// A page of a bucket listing for digests.
    Digests(Box<BucketRead>),
    /// This node's vote on a claim it decides (a store command).
    LocalClaim(ClaimId),
    /// A member's vote on a claim this node decides (a peer request).
    ClaimVote(ClaimId),
    /// Recording this node's vote on a claim another member decides, to
    /// answer request `RequestId` with it.
    AnswerVote(RequestId),
}

/// What a timer is for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
enum Timer {
    /// Decide a write that has not reached its quorum.
    WriteDeadline(WriteId),
    /// Forget a write whose peers never answered.
    WriteDrop(WriteId),
    /// Answer a parked retrieve.
    Wait(RequestId),
    /// A peer request the driver never answered: count it as timed out.
    PeerDeadline(OpId),
    /// Decide a claim whose votes are not all in.
    ClaimDeadline(ClaimId),
}

/// How long after a peer request's own timeout the core gives up on it
/// (the driver should have reported [`PeerFailure::TimedOut`] by then).
const PEER_GRACE_MS: u64 = 1_000;

/// The node's protocol state (see the module docs).
#[derive(Debug)]
pub struct NodeCore {
    identity: Identity,
    /// Signs receipts ([`Ed25519`] in every real node).
    signatures: Arc<dyn Signatures>,
    me: NodeId,
    config: CoreConfig,
    /// Per-request decisions: authentication, replay, placement.
    logic: crate::core::NodeCore,
    /// The stateless checks before `logic` ([`Prechecker`]).
    pre: Arc<Prechecker>,
    next_op: u64,
    ops: HashMap<OpId, Op>,
    requests: HashMap<RequestId, Pending>,
    quorums: Quorums,
    /// Claims this node decides as their entry node ([`claim`]).
    claims: Claims,
    waits: RetrieveWaits,
    timers: BTreeSet<(u64, Timer)>,
    round: Option<SyncRound>,
    hand_off: Option<HandOff>,
    /// Bumped by every registry view installed.
    view_epoch: u64,
    /// This node's swarm and its arc in the current view.
    own: Option<(nightjar_registry::SwarmId, crate::sync::Arc64)>,
    /// Bucket digests of the own arc ([`digest_cache`]).
    digests: DigestCache,
    /// Bounded peer requests per node ([`peer_queue`]).
    peer_queues: PeerQueues,
    /// Peer requests refused by [`peer_queue`], failed at the end of the input.
    refused: VecDeque<OpId>,
    next_sync_ms: Option<u64>,
    next_purge_ms: u64,
    purging: bool,
    pending_writes: usize,
    /// Writes whose local copy became durable during this input, with
    /// `already_stored`: signed together, one receipt tree, at its end
    /// ([`NodeCore::sign_durable`]).
    durable: Vec<(WriteId, bool)>,
    /// The clock of the latest input.
    now_ms: u64,
    effects: VecDeque<Effect>,
}

impl NodeCore {
    /// A node with this identity. Without a registry it serves every
    /// account alone (a single-node network). The first purge is due at
    /// once (the driver's first `poll_timeout` is 0).
    pub fn new(identity: Identity, config: CoreConfig) -> NodeCore {
        NodeCore::with_signatures(identity, config, Arc::new(Ed25519))
    }

    /// Like [`NodeCore::new`], with another signature scheme than the
    /// protocol's Ed25519: for a simulator's documented cheaper model only
    /// (see [`Signatures`]).
    pub fn with_signatures(
        identity: Identity,
        config: CoreConfig,
        signatures: Arc<dyn Signatures>,
    ) -> NodeCore {
        let mut logic =
            crate::core::NodeCore::new(crate::core::node_key_of(&identity.public_key()));
        logic.set_quorum(config.write_quorum);
        logic.set_signatures(signatures.clone());
        NodeCore {
            pre: Arc::new(Prechecker::new(identity.clone(), signatures.clone())),
            signatures: signatures.clone(),
            me: NodeId(identity.public_key()),
            identity,
            config,
            logic,
            next_op: 0,
            ops: HashMap::new(),
            requests: HashMap::new(),
            quorums: Quorums::new(signatures),
            claims: Claims::default(),
            waits: RetrieveWaits::default(),
            timers: BTreeSet::new(),
            round: None,
            hand_off: None,
            view_epoch: 0,
            own: None,
            digests: DigestCache::default(),
            peer_queues: PeerQueues::default(),
            refused: VecDeque::new(),
            next_sync_ms: None,
            next_purge_ms: 0,
            purging: false,
            pending_writes: 0,
            durable: Vec::new(),
            now_ms: 0,
            effects: VecDeque::new(),
        }
    }

    /// This node's key.
    pub fn node_key(&self) -> PublicKey {
        self.identity.public_key()
    }

    /// The configuration in force.
    pub fn config(&self) -> &CoreConfig {
        &self.config
    }

    /// Install a registry version. The first one also schedules the first
    /// anti-entropy round, one interval from now.
    pub fn set_registry(&mut self, now_ms: u64, view: Arc<RegistryView>) {
        self.now_ms = self.now_ms.max(now_ms);
        self.view_epoch += 1;
        self.own = view
            .map
            .swarm_of_node(&self.me)
            .map(|s| (s, crate::sync::swarm_arc(&view.map, s)));
        self.logic.set_view(view);
        if self.next_sync_ms.is_none() {
            self.next_sync_ms = Some(now_ms.saturating_add(self.config.sync_interval_ms));
        }
    }

    /// The registry view in force, if any.
    pub fn registry(&self) -> Option<&Arc<RegistryView>> {
        self.logic.view()
    }

    /// Whether `key` is a node the registry named at some point (other than
    /// this one): the driver exempts such peers from rate limits.
    pub fn is_registered_peer(&self, key: &PublicKey) -> bool {
        self.logic.is_registered_peer(key)
    }

    /// How many signed requests the replay cache holds.
    pub fn replay_entries(&self) -> usize {
        self.logic.replay_entries()
    }

    /// How many requests are not answered yet.
    pub fn open_requests(&self) -> usize {
        self.requests.len()
    }

    /// How many store commands and peer requests are in flight.
    pub fn open_ops(&self) -> usize {
        self.ops.len()
    }

    /// How many writes (stores, replicas, hand-off copies) are tracked.
    pub fn open_writes(&self) -> usize {
        self.quorums.len()
    }

    /// How many claims this node is deciding (or waits for votes of).
    pub fn open_claims(&self) -> usize {
        self.claims.len()
    }

    /// How many retrieves are parked waiting for a message.
    pub fn waiting_retrieves(&self) -> usize {
        self.waits.parked()
    }

    /// How many replicas, delete forwards and hand-off copies are sent and
    /// not answered yet (at most [`CoreConfig::max_peer_in_flight`] per node).
    pub fn peer_requests_in_flight(&self) -> usize {
        self.peer_queues.in_flight()
    }

    /// How many of those wait for their turn (at most
    /// [`CoreConfig::max_peer_queue`] per node).
    pub fn peer_requests_queued(&self) -> usize {
        self.peer_queues.queued()
    }

    /// The pre-check of this node's requests (shared: a driver runs it on
    /// each stream's task before taking the lock around the core).
    pub fn prechecker(&self) -> Arc<Prechecker> {
        self.pre.clone()
    }

    /// [`Prechecker::check`] of this node: a decoded request (or why it did
    /// not decode), checked at `now_ms` for [`NodeCore::handle_request`].
    pub fn precheck(&self, now_ms: u64, request: Result<Request, WireError>) -> Checked {
        self.pre.check(now_ms, request)
    }

    /// A request (pre-checked: [`NodeCore::precheck`]) arrived on stream
    /// `id` from `peer` (the node key it proved with a certificate, if any).
    pub fn handle_request(
        &mut self,
        now_ms: u64,
        id: RequestId,
        peer: Option<&PublicKey>,
        request: Checked,
    ) {
        self.now_ms = self.now_ms.max(now_ms);
        let kind = request.kind();
        self.requests.insert(
            id,
            Pending {
                kind,
                deliver: None,
                write: false,
                relay: None,
                wait_until_ms: None,
                mailbox: None,
            },
        );
        let action = self.logic.handle(now_ms, peer, request);
        self.dispatch(now_ms, id, action);
        self.fail_refused(now_ms);
    }

    /// The client of request `id` went away: a parked retrieve or an onion
    /// relay stops (and is answered `unavailable`, for the record); other
    /// requests carry on (a store still replicates).
    pub fn handle_client_gone(&mut self, now_ms: u64, id: RequestId) {
        self.now_ms = self.now_ms.max(now_ms);
        let Some(pending) = self.requests.get_mut(&id) else {
            return;
        };
        if let Some((op, _key)) = pending.relay.take() {
            self.ops.remove(&op);
            self.peer_op_over(op);
            self.effects.push_back(Effect::CancelPeer { op });
            self.reply(
                now_ms,
                id,
                Response::error(
                    now_ms,
                    nightjar_wire::ErrorCode::Unavailable,
                    "previous hop went away",
                ),
            );
            return;
        }
        if pending.wait_until_ms.is_some()
            && let Some(mailbox) = pending.mailbox
        {
            let was_parked = self.waits.forget(id, mailbox).is_some();
            pending.wait_until_ms = None;
            if was_parked {
                self.emit_waiting();
                self.reply(
                    now_ms,
                    id,
                    Response::error(
                        now_ms,
                        nightjar_wire::ErrorCode::Unavailable,
                        "client went away",
                    ),
                );
            }
        }
    }

    /// The store answered command `op`.
    pub fn handle_store_reply(&mut self, now_ms: u64, op: OpId, reply: StoreReply) {
        self.handle_store_replies(now_ms, vec![(op, reply)]);
    }

    /// The store answered several commands (those the driver found answered
    /// together, typically one commit's): as [`NodeCore::handle_store_reply`]
    /// for each, except that the writes they made durable get their
    /// receipts from one signature (over one receipt tree), not one each.
    pub fn handle_store_replies(&mut self, now_ms: u64, replies: Vec<(OpId, StoreReply)>) {
        self.now_ms = self.now_ms.max(now_ms);
        for (op, reply) in replies {
            self.store_reply(now_ms, op, reply);
        }
        self.sign_durable(now_ms);
        self.fail_refused(now_ms);
    }

    fn store_reply(&mut self, now_ms: u64, op: OpId, reply: StoreReply) {
        let Some(state) = self.ops.remove(&op) else {
            return;
        };
        self.digests.command_done(op);
        match state {
            Op::Digests(read) => self.bucket_read_done(now_ms, read, reply),
            Op::LocalWrite(write, mailbox) => self.local_write_done(now_ms, write, mailbox, reply),
            Op::Delete(id) => self.delete_done(now_ms, id, reply),
            Op::Read {
                id,
                mailbox,
                after_seq,
            } => self.read_done(now_ms, id, mailbox, after_seq, reply),
            Op::Serve { id, what } => self.serve_done(now_ms, id, what, reply),
            Op::Purge => {
                self.purging = false;
                match reply {
                    StoreReply::Count(Ok(count)) => {
                        self.event(CoreEvent::Purged { count });
                    }
                    _ => self.event(CoreEvent::StoreFailed { what: "purge" }),
                }
            }
            Op::Round(step) => self.round_store_reply(now_ms, step, reply),
            Op::HandOff(step) => self.hand_off_store_reply(now_ms, step, reply),
            Op::LocalClaim(claim) => self.local_claim_done(now_ms, claim, op, reply),
            Op::AnswerVote(id) => self.vote_recorded(now_ms, id, reply),
            // Peer requests never get store replies.
            Op::Replica { .. } | Op::DeleteForward | Op::Relay(_) | Op::ClaimVote(_) => {}
        }
    }

    /// Peer request `op` got `answer`.
    pub fn handle_peer_answer(
        &mut self,
        now_ms: u64,
        op: OpId,
        answer: Result<Response, PeerFailure>,
    ) {
        self.now_ms = self.now_ms.max(now_ms);
        self.peer_answer(now_ms, op, answer);
        self.fail_refused(now_ms);
    }

    fn peer_answer(&mut self, now_ms: u64, op: OpId, answer: Result<Response, PeerFailure>) {
        let Some(state) = self.ops.remove(&op) else {
            return;
        };
        self.peer_op_over(op);
        match state {
            Op::Replica { write, member } => {
                self.replica_answered(now_ms, write, op, member, answer.ok())
            }
            Op::DeleteForward => {
                if answer.is_err() {
                    self.event(CoreEvent::PeerFailed {
                        what: "delete_forward",
                    });
                }
            }
            Op::Relay(id) => self.relay_answered(now_ms, id, answer),
            Op::Round(step) => self.round_peer_answer(now_ms, step, answer),
            Op::HandOff(step) => self.hand_off_peer_answer(now_ms, op, step, answer),
            Op::ClaimVote(claim) => self.member_voted(now_ms, claim, op, answer),
            Op::LocalWrite(..)
            | Op::Delete(_)
            | Op::Read { .. }
            | Op::Serve { .. }
            | Op::Purge
            | Op::Digests(_)
            | Op::LocalClaim(_)
            | Op::AnswerVote(_) => {}
        }
    }

    /// Run whatever is due at `now_ms`: write deadlines, parked retrieves'
    /// deadlines, the anti-entropy round and the purge.
    pub fn handle_timeout(&mut self, now_ms: u64) {
        self.now_ms = self.now_ms.max(now_ms);
        while let Some(&(at, timer)) = self.timers.first() {
            if at > now_ms {
                break;
            }
            self.timers.pop_first();
            match timer {
                Timer::WriteDeadline(write) => {
                    if let Some(decision) = self.quorums.expire(write, now_ms) {
                        self.write_decided(now_ms, write, decision);
                    }
                    self.forget_write_if_over(write);
                }
                Timer::WriteDrop(write) => {
                    if let Some(decision) = self.quorums.expire(write, now_ms) {
                        self.write_decided(now_ms, write, decision);
                    }
                    for op in self.quorums.remove(write) {
                        self.ops.remove(&op);
                        self.effects.push_back(Effect::CancelPeer { op });
                        self.peer_op_over(op);
                    }
                }
                Timer::PeerDeadline(op) => {
                    if self.ops.contains_key(&op) {
                        self.effects.push_back(Effect::CancelPeer { op });
                        self.peer_answer(now_ms, op, Err(PeerFailure::TimedOut));
                    }
                }
                Timer::Wait(id) => {
                    if let Some(w) = self.waits.unpark(id) {
                        self.emit_waiting();
                        self.read(now_ms, id, w.mailbox, w.after_seq);
                    }
                }
                Timer::ClaimDeadline(claim) => self.claim_deadline(now_ms, claim),
            }
        }
        if self.next_purge_ms <= now_ms {
            self.next_purge_ms = now_ms.saturating_add(self.config.purge_interval_ms.max(1));
            if !self.purging {
                self.purging = true;
                self.store(Op::Purge, StoreCommand::Purge { now_ms });
            }
        }
        if let Some(at) = self.next_sync_ms
            && at <= now_ms
        {
            self.next_sync_ms = Some(now_ms.saturating_add(self.config.sync_interval_ms.max(1)));
            if self.round.is_none() && self.hand_off.is_none() {
                self.start_round(now_ms);
            }
        }
        self.fail_refused(now_ms);
    }

    /// The next thing for the driver to do, if any.
    pub fn poll_effect(&mut self) -> Option<Effect> {
        self.effects.pop_front()
    }

    /// When [`NodeCore::handle_timeout`] is next due, Unix ms.
    pub fn poll_timeout(&self) -> Option<u64> {
        let timer = self.timers.first().map(|(at, _)| *at);
        [timer, Some(self.next_purge_ms), self.next_sync_ms]
            .into_iter()
            .flatten()
            .min()
    }

    // ---- helpers shared by the concept files ----

    fn op(&mut self, state: Op) -> OpId {
        let op = OpId(self.next_op);
        self.next_op = self.next_op.wrapping_add(1);
        self.ops.insert(op, state);
        op
    }

    fn store(&mut self, state: Op, command: StoreCommand) -> OpId {
        let op = self.op(state);
        self.digests.write_issued(op, &command);
        self.effects.push_back(Effect::Store { op, command });
        op
    }

    fn send(
        &mut self,
        state: Op,
        to: nightjar_registry::NodeEntry,
        request: Request,
        timeout_ms: u64,
    ) -> OpId {
        let op = self.op(state);
        self.peer_deadline(op, timeout_ms);
        self.effects.push_back(Effect::SendToPeer {
            op,
            to,
            request: Box::new(request),
            timeout_ms,
        });
        op
    }

    /// Arms the timer that gives up on peer request `op` (its timeout plus
    /// [`PEER_GRACE_MS`] from now); returns when it fires.
    fn peer_deadline(&mut self, op: OpId, timeout_ms: u64) -> u64 {
        let give_up = self
            .now_ms
            .saturating_add(timeout_ms)
            .saturating_add(PEER_GRACE_MS);
        self.timers.insert((give_up, Timer::PeerDeadline(op)));
        give_up
    }

    /// Send `request` to `to` within the node's bound ([`peer_queue`]): now,
    /// when its turn comes, or (refused) failed with
    /// [`PeerFailure::Overloaded`] at the end of this input.
    fn send_bounded(
        &mut self,
        state: Op,
        to: nightjar_registry::NodeEntry,
        request: Request,
        timeout_ms: u64,
    ) -> OpId {
        let op = self.op(state);
        // The deadline covers the time queued as well.
        let give_up = self.peer_deadline(op, timeout_ms);
        let queued = Queued {
            op,
            to,
            request: Box::new(request),
            deadline_ms: give_up,
        };
        let (max_in_flight, max_queue) =
            (self.config.max_peer_in_flight, self.config.max_peer_queue);
        match self.peer_queues.submit(queued, max_in_flight, max_queue) {
            Admitted::Send(q) => self.send_queued(*q),
            Admitted::Queued => {}
            Admitted::Refused => self.refused.push_back(op),
        }
        op
    }

    fn send_queued(&mut self, q: Queued) {
        let timeout_ms = q
            .deadline_ms
            .saturating_sub(PEER_GRACE_MS)
            .saturating_sub(self.now_ms)
            .max(1);
        self.effects.push_back(Effect::SendToPeer {
            op: q.op,
            to: q.to,
            request: q.request,
            timeout_ms,
        });
    }

    /// Peer request `op` is over: its node's next waiting request may go.
    fn peer_op_over(&mut self, op: OpId) {
        if let Some(next) = self.peer_queues.done(op) {
            self.send_queued(next);
        }
    }

    /// Fail the requests [`NodeCore::send_bounded`] refused in this input.
    fn fail_refused(&mut self, now_ms: u64) {
        while let Some(op) = self.refused.pop_front() {
            self.peer_answer(now_ms, op, Err(PeerFailure::Overloaded));
        }
    }

    fn event(&mut self, event: CoreEvent) {
        self.effects.push_back(Effect::Event(event));
    }

    fn emit_waiting(&mut self) {
        let n = self.waits.parked();
        self.event(CoreEvent::WaitingRetrieves(n));
    }

    /// Answer request `id` (once; later answers are ignored).
    fn reply(&mut self, now_ms: u64, id: RequestId, response: Response) {
        let Some(pending) = self.requests.remove(&id) else {
            return;
        };
        if pending.write {
            self.pending_writes = self.pending_writes.saturating_sub(1);
        }
        self.event(CoreEvent::Answered {
            id,
            kind: pending.kind,
            outcome: outcome(&response),
        });
        let response = match pending.deliver {
            Some(key) => {
                let wrapped = crate::onion::wrap_final(now_ms, key, &response);
                self.event(CoreEvent::Answered {
                    id,
                    kind: "onion_deliver",
                    outcome: outcome(&wrapped),
                });
                wrapped
            }
            None => response,
        };
        self.effects.push_back(Effect::Reply { id, response });
    }
}

/// `ok`, or the error code's name.
fn outcome(response: &Response) -> &'static str {
    match &response.body {
        ResponseBody::Error { code, .. } => code.name(),
        _ => "ok",
    }
}
