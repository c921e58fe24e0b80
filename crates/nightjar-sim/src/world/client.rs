//! Accounts in the world: sending, watching and fetching through the real
//! client logic.
//!
//! Each operation (a send or a retrieve) walks the account's swarm members
//! with [`Failover`] in [`failover::member_order`], follows a `wrong_swarm`
//! redirect once, and reaches each member through onion paths with
//! [`CallOp`] (guards, strikes and backoff kept by the account's
//! [`PathManager`], layers built with the account's seeded generator), as
//! the production client does. With `--crypto model` a request goes to the
//! member directly and envelopes are random bytes of an envelope's length
//! (see [`crate::options::CryptoMode`]).
//!
//! Accounts learn registry versions late (uniformly within
//! `--client-registry-delay-min` of their publication), and at once when a
//! node redirects them, as a client refreshing its snapshot would.

use std::collections::HashSet;
use std::time::Duration;

use nightjar_client::call::{CallContext, CallOp, CallStep, OnionAttempt};
use nightjar_client::failover::{
    self, Failover, RetrieveAnswer, StoreAnswer, Unreachable, retrieve_answer, store_answer,
};
use nightjar_client::{ClientError, ClockEstimator, GuardState, HOP_MARGIN, PathManager, logic};
use nightjar_crypto::hash::message_hash;
use nightjar_crypto::identity::{Identity, PublicKey, Seed};
use nightjar_crypto::{RandomSource, SeededRandom};
use nightjar_registry::{NodeEntry, NodeId};
use nightjar_types::{AccountKey, MessageHash, StoredMessage};
use nightjar_wire::{MAX_WAIT_MS, NAMESPACE_DEFAULT, Request, Response, StoreRequest};

use super::event::{EvKind, From};
use super::{MIN_MS, World};
use crate::SimError;
use crate::options::CryptoMode;
use crate::rng::{SimRng, derive};

/// The longest time to live: nothing expires within a simulated run.
const TTL: Duration = Duration::from_millis(nightjar_wire::MAX_TTL_MS);
/// How long an account waits before watching again after a failed retrieve.
const WATCH_RETRY_MS: u64 = 10_000;
/// `ClientRetry` with this op restarts the account's watch.
const RESTART_WATCH: u64 = 0;

/// One simulated account (one device).
pub(crate) struct Account {
    identity: Identity,
    pub(crate) key: PublicKey,
    pub(crate) region: usize,
    pub(crate) side: bool,
    pub(crate) online: bool,
    /// Hashes received.
    known: HashSet<MessageHash>,
    /// The running retrieve, if any.
    watch: Option<u64>,
    unreachable: Unreachable,
    paths: PathManager,
    clock: ClockEstimator,
    rng: SeededRandom,
    pick: SimRng,
    /// The oldest registry version it may use (raised by redirects).
    floor_version: u32,
    /// The member it read last and its cursor there.
    cursor: Option<(NodeId, u64)>,
}

/// One message's fate.
pub(crate) struct MsgRec {
    pub(crate) to: u32,
    pub(crate) hash: MessageHash,
    pub(crate) sent_ms: u64,
    pub(crate) to_online: bool,
    pub(crate) acked_ms: Option<u64>,
    pub(crate) delivered_ms: Option<u64>,
}

enum OpKind {
    Send { msg: u32, request: Request },
    Retrieve,
}

/// One send or retrieve in progress.
pub(crate) struct ClientOp {
    account: u32,
    kind: OpKind,
    failover: Failover,
    member: Option<NodeEntry>,
    call: Option<CallOp>,
    /// Numbers attempts, so that late answers and stale deadlines are ignored.
    flight: u64,
    attempt: Option<Box<OnionAttempt>>,
    sent_at: u64,
}

impl World {
    pub(super) fn make_accounts(&mut self) -> Result<(), SimError> {
        let mut rng = SimRng::new(self.opts.seed, "accounts");
        for i in 0..self.opts.accounts {
            let identity = Identity::from_seed(Seed::from_bytes(rng.seed32()));
            let key = identity.public_key();
            let i64 = i as u64;
            let region =
                (derive(self.opts.seed, "acct-region", i64) % self.net.regions() as u64) as usize;
            let side = self.on_cut_side(derive(self.opts.seed, "acct-side", i64));
            let online = self.presence_rng.chance(self.opts.online_share);
            self.accounts.push(Account {
                identity,
                key,
                region,
                side,
                online,
                known: HashSet::new(),
                watch: None,
                unreachable: Unreachable::new(),
                paths: PathManager::new(GuardState::default()),
                clock: ClockEstimator::new(),
                rng: SeededRandom::from_seed(rng.seed32()),
                pick: SimRng::new(derive(self.opts.seed, "acct-pick", i64), "pick"),
                floor_version: 0,
                cursor: None,
            });
        }
        if self.opts.crypto == CryptoMode::Model {
            // The length of a real envelope of this text, for the model's
            // random stand-ins.
            let mut probe = SeededRandom::from_seed([7u8; 32]);
            let from = Identity::from_seed(Seed::from_bytes([1u8; 32]));
            let to = Identity::from_seed(Seed::from_bytes([2u8; 32]));
            let text = "m".repeat(self.opts.message_bytes);
            let p = logic::prepare_send_with(
                &mut probe,
                &from,
                &to.public_key().account_id(),
                &text,
                self.now,
                TTL,
            )
            .map_err(|e| SimError::Crypto(e.to_string()))?;
            if let Request::Store(s) = p.request {
                self.model_len = s.data.len();
            }
        }
        Ok(())
    }

    pub(super) fn seed_traffic(&mut self) {
        let per_day = self.opts.messages_per_account_day;
        for a in 0..self.accounts.len() as u32 {
            if per_day > 0.0 {
                let at = self.now + self.traffic_rng.exp_ms(86_400_000.0 / per_day);
                self.schedule(at, EvKind::ClientSend { account: a });
            }
            let online = self.accounts.get(a as usize).is_some_and(|x| x.online);
            let at = self.now + self.presence_delay(online);
            self.schedule(at, EvKind::Presence { account: a });
            if online {
                self.start_watch(a);
            }
        }
    }

    /// How long the current online or offline spell lasts.
    fn presence_delay(&mut self, online: bool) -> u64 {
        let off = self.opts.offline_spell_min * MIN_MS as f64;
        let share = self.opts.online_share.clamp(0.0001, 0.9999);
        let on = off * share / (1.0 - share);
        self.presence_rng.exp_ms(if online { on } else { off })
    }

    pub(super) fn presence(&mut self, a: u32) {
        let Some(acct) = self.accounts.get_mut(a as usize) else {
            return;
        };
        // After the traffic, spells only end (no one comes online to stay).
        if self.now >= self.end_traffic_ms && !acct.online {
            return;
        }
        acct.online = !acct.online;
        let online = acct.online;
        if self.now < self.end_traffic_ms {
            let at = self.now + self.presence_delay(online);
            self.schedule(at, EvKind::Presence { account: a });
        }
        if online {
            self.start_watch(a);
        }
    }

    fn start_watch(&mut self, a: u32) {
        let idle = self
            .accounts
            .get(a as usize)
            .is_some_and(|x| x.online && x.watch.is_none());
        if idle {
            let op = self.start_op(a, OpKind::Retrieve);
            if let Some(acct) = self.accounts.get_mut(a as usize) {
                acct.watch = Some(op);
            }
            self.next_member(op);
        }
    }

    pub(super) fn client_send(&mut self, a: u32) -> Result<(), SimError> {
        if self.now >= self.end_traffic_ms {
            return Ok(());
        }
        let per_day = self.opts.messages_per_account_day.max(1e-9);
        let next = self.now + self.traffic_rng.exp_ms(86_400_000.0 / per_day);
        self.schedule(next, EvKind::ClientSend { account: a });
        let n = self.accounts.len();
        let mut to = self.traffic_rng.index(n - 1);
        if to >= a as usize {
            to += 1;
        }
        let Some((to_key, to_online)) = self.accounts.get(to).map(|x| (x.key, x.online)) else {
            return Ok(());
        };
        let now = self.now;
        let model_len = self.model_len;
        let text = "m".repeat(self.opts.message_bytes);
        let mode = self.opts.crypto;
        let Some(acct) = self.accounts.get_mut(a as usize) else {
            return Ok(());
        };
        let (request, hash) = match mode {
            CryptoMode::Real => {
                let p = logic::prepare_send_with(
                    &mut acct.rng,
                    &acct.identity,
                    &to_key.account_id(),
                    &text,
                    now,
                    TTL,
                )
                .map_err(|e| SimError::Crypto(e.to_string()))?;
                (p.request, p.hash)
            }
            CryptoMode::Model => {
                let mut data = vec![0u8; model_len];
                acct.rng
                    .fill(&mut data)
                    .map_err(|e| SimError::Crypto(e.to_string()))?;
                let hash = MessageHash::new(message_hash(&to_key, NAMESPACE_DEFAULT, &data));
                let request = Request::Store(StoreRequest {
                    account: AccountKey::new(to_key.to_bytes()),
                    namespace: NAMESPACE_DEFAULT,
                    ttl_ms: nightjar_wire::MAX_TTL_MS,
                    data,
                });
                (request, hash)
            }
        };
        let msg = u32::try_from(self.msgs.len()).unwrap_or(u32::MAX);
        self.msgs.push(MsgRec {
            to: to as u32,
            hash,
            sent_ms: now,
            to_online,
            acked_ms: None,
            delivered_ms: None,
        });
        self.msg_by_hash.insert(hash, msg);
        self.counts.sent += 1;
        let op = self.start_op(a, OpKind::Send { msg, request });
        self.next_member(op);
        Ok(())
    }

    /// The registry version account `a` knows now.
    fn client_version(&self, a: u32) -> u32 {
        let floor = self.accounts.get(a as usize).map_or(0, |x| x.floor_version);
        let spread = (self.opts.client_registry_delay_min * MIN_MS as f64).max(1.0) as u64;
        let mut v = self.latest();
        while v > floor {
            let at = self.versions.get(v as usize).map_or(0, |x| x.at);
            let delay = derive(
                self.opts.seed,
                "client-learn",
                (u64::from(v) << 32) | u64::from(a),
            ) % spread;
            if at + delay <= self.now {
                break;
            }
            v -= 1;
        }
        v
    }

    /// Register a new operation of account `a` over the members of the
    /// swarm it concerns, in the client's order.
    fn start_op(&mut self, a: u32, kind: OpKind) -> u64 {
        let target = match &kind {
            OpKind::Send { msg, .. } => self
                .msgs
                .get(*msg as usize)
                .and_then(|m| self.accounts.get(m.to as usize))
                .map(|x| x.key),
            OpKind::Retrieve => self.accounts.get(a as usize).map(|x| x.key),
        };
        let v = self.client_version(a);
        let members = match (target, self.versions.get(v as usize)) {
            (Some(key), Some(version)) => version
                .view
                .map
                .swarm_for_account(&key)
                .and_then(|s| version.view.map.members(s))
                .unwrap_or_default(),
            _ => Vec::new(),
        };
        let ordered = match (target, self.accounts.get(a as usize)) {
            (Some(key), Some(acct)) => failover::member_order(
                &key.account_id(),
                members,
                &|_| false,
                &acct.unreachable,
                self.now,
            ),
            _ => members,
        };
        self.next_op += 1;
        let op = self.next_op;
        self.ops.insert(
            op,
            ClientOp {
                account: a,
                kind,
                failover: Failover::new(ordered),
                member: None,
                call: None,
                flight: 0,
                attempt: None,
                sent_at: 0,
            },
        );
        op
    }

    /// Try the operation's next member, or end it.
    fn next_member(&mut self, op: u64) {
        let Some(o) = self.ops.get_mut(&op) else {
            return;
        };
        match o.failover.next_member() {
            Some(m) => {
                o.member = Some(m);
                self.try_member(op);
            }
            None => {
                let e = std::mem::replace(&mut o.failover, Failover::new(Vec::new())).into_error();
                self.finish(op, Err(e));
            }
        }
    }

    /// Send the operation's request to its current member.
    fn try_member(&mut self, op: u64) {
        let now = self.now;
        let base = Duration::from_millis(self.opts.hop_wait_ms);
        let Some(o) = self.ops.get_mut(&op) else {
            return;
        };
        let Some(member) = o.member.clone() else {
            return;
        };
        let Some(acct) = self.accounts.get(o.account as usize) else {
            return;
        };
        let (request, wait_ms) = match &o.kind {
            OpKind::Send { request, .. } => (request.clone(), 0),
            OpKind::Retrieve => {
                let after_seq = match acct.cursor {
                    Some((id, seq)) if id == member.id => seq,
                    _ => 0,
                };
                let wait = if acct.online { MAX_WAIT_MS } else { 0 };
                let r = match self.opts.crypto {
                    CryptoMode::Real => logic::retrieve_request(
                        &acct.identity,
                        NAMESPACE_DEFAULT,
                        after_seq,
                        wait,
                        now,
                    ),
                    CryptoMode::Model => crate::model::retrieve_request(
                        &acct.identity,
                        NAMESPACE_DEFAULT,
                        after_seq,
                        wait,
                        now,
                    ),
                };
                (r, wait)
            }
        };
        let work = failover::work_with_wait(base, wait_ms);
        match self.opts.crypto {
            CryptoMode::Real => {
                o.call = Some(CallOp::new(&member, &request, work));
                self.step(op);
            }
            CryptoMode::Model => {
                o.flight += 1;
                let flight = o.flight;
                let a = o.account;
                let deadline = now + paths_ms(work + HOP_MARGIN * 2);
                let node = self.node_by_key.get(member.id.0.as_bytes()).copied();
                self.send_flight(a, op, flight, node, request, deadline);
            }
        }
    }

    /// Send flight `flight` of operation `op` to `node` (if the snapshot
    /// knows it) and give up on it at `deadline`.
    fn send_flight(
        &mut self,
        a: u32,
        op: u64,
        flight: u64,
        node: Option<u32>,
        request: Request,
        deadline: u64,
    ) {
        if let Some(node) = node {
            let from = From::Client {
                account: a,
                op,
                flight,
            };
            self.client_to_node(a, node, from, request);
        }
        self.schedule(
            deadline,
            EvKind::ClientDeadline {
                account: a,
                op,
                flight,
            },
        );
    }

    /// Poll the operation's onion call: send an attempt, wait, or finish.
    fn step(&mut self, op: u64) {
        let now = self.now;
        let v = match self.ops.get(&op) {
            Some(o) => self.client_version(o.account),
            None => return,
        };
        let Some(nodes) = self.versions.get(v as usize).map(|x| x.nodes.clone()) else {
            return;
        };
        let (Some(o), accounts) = (self.ops.get_mut(&op), &mut self.accounts) else {
            return;
        };
        let Some(acct) = accounts.get_mut(o.account as usize) else {
            return;
        };
        let Some(call) = o.call.as_mut() else {
            return;
        };
        let Account {
            paths,
            unreachable,
            clock,
            rng,
            pick,
            ..
        } = acct;
        let mut pick_fn = |n: usize| pick.index(n);
        paths.ensure_guards(&nodes, &mut pick_fn);
        let mut ctx = CallContext {
            paths,
            nodes: &nodes,
            unreachable,
            clock,
            pick: &mut pick_fn,
        };
        let step = call.poll_with(&mut ctx, rng, now);
        let a = o.account;
        match step {
            CallStep::Send(attempt) => {
                o.flight += 1;
                o.sent_at = now;
                let flight = o.flight;
                let deadline = now + paths_ms(attempt.timeout());
                let guard = self
                    .node_by_key
                    .get(attempt.guard().id.0.as_bytes())
                    .copied();
                let request = attempt.request().clone();
                o.attempt = Some(attempt);
                self.counts.onion_attempts += 1;
                self.send_flight(a, op, flight, guard, request, deadline);
            }
            CallStep::Wait(d) => {
                self.schedule(now + paths_ms(d), EvKind::ClientRetry { account: a, op });
            }
            CallStep::Done(result) => self.member_done(op, result),
        }
    }

    pub(super) fn client_retry(&mut self, a: u32, op: u64) {
        if op == RESTART_WATCH {
            self.start_watch(a);
        } else {
            self.step(op);
        }
    }

    pub(super) fn client_deadline(&mut self, a: u32, op: u64, flight: u64) {
        let addr = self
            .ops
            .get(&op)
            .and_then(|o| o.member.as_ref().map(|m| m.addr));
        if let Some(addr) = addr {
            let e = ClientError::Transport {
                addr,
                source: nightjar_transport::TransportError::Read(
                    "no answer in time (simulated)".into(),
                ),
            };
            self.client_answer(a, op, flight, Err(e));
        }
    }

    /// The answer (or failure) of attempt `flight` of operation `op`.
    pub(super) fn client_answer(
        &mut self,
        a: u32,
        op: u64,
        flight: u64,
        answer: Result<Response, ClientError>,
    ) {
        let now = self.now;
        let v = self.client_version(a);
        let Some(nodes) = self.versions.get(v as usize).map(|x| x.nodes.clone()) else {
            return;
        };
        let (Some(o), accounts) = (self.ops.get_mut(&op), &mut self.accounts) else {
            return;
        };
        if o.flight != flight || o.account != a {
            return;
        }
        // This attempt is answered; later answers to it are stale.
        o.flight += 1;
        let result = match self.opts.crypto {
            CryptoMode::Model => Some(answer),
            CryptoMode::Real => {
                let (Some(call), Some(attempt), Some(acct)) = (
                    o.call.as_mut(),
                    o.attempt.take(),
                    accounts.get_mut(a as usize),
                ) else {
                    return;
                };
                let Account {
                    paths,
                    unreachable,
                    clock,
                    pick,
                    ..
                } = acct;
                let mut pick_fn = |n: usize| pick.index(n);
                let mut ctx = CallContext {
                    paths,
                    nodes: &nodes,
                    unreachable,
                    clock,
                    pick: &mut pick_fn,
                };
                call.handle_answer(&mut ctx, attempt, answer, o.sent_at, now)
            }
        };
        match result {
            Some(r) => self.member_done(op, r),
            None => self.step(op),
        }
    }

    /// The current member answered (or could not be reached).
    fn member_done(&mut self, op: u64, result: Result<Response, ClientError>) {
        let Some(o) = self.ops.get(&op) else {
            return;
        };
        let a = o.account;
        let member = o.member.as_ref().map(|m| m.id);
        let send = match &o.kind {
            OpKind::Send { msg, .. } => Some(*msg),
            OpKind::Retrieve => None,
        };
        match (send, result) {
            (_, Err(e)) => self.member_failed(op, e),
            (Some(msg), Ok(resp)) => {
                let Some(hash) = self.msgs.get(msg as usize).map(|m| m.hash) else {
                    return;
                };
                match store_answer(resp, &hash) {
                    Ok(StoreAnswer::Stored { .. }) => self.finish(op, Ok(())),
                    Ok(StoreAnswer::WrongSwarm(info)) => self.redirect(op, &info),
                    Err(e) => self.member_failed(op, e),
                }
            }
            (None, Ok(resp)) => match retrieve_answer(resp) {
                Ok(RetrieveAnswer::Messages {
                    messages,
                    cursor,
                    more,
                }) => {
                    self.counts.retrieves += 1;
                    self.deliver(a, &messages);
                    let online = self.accounts.get(a as usize).is_some_and(|x| x.online);
                    if let (Some(acct), Some(id)) = (self.accounts.get_mut(a as usize), member) {
                        acct.cursor = Some((id, cursor));
                    }
                    if (more || online) && self.now < self.end_ms {
                        self.try_member(op);
                    } else {
                        self.finish(op, Ok(()));
                    }
                }
                Ok(RetrieveAnswer::WrongSwarm(info)) => self.redirect(op, &info),
                Err(e) => self.member_failed(op, e),
            },
        }
    }

    fn member_failed(&mut self, op: u64, e: ClientError) {
        let Some(o) = self.ops.get_mut(&op) else {
            return;
        };
        match o.failover.member_failed(e) {
            Ok(()) => self.next_member(op),
            Err(e) => self.finish(op, Err(e)),
        }
    }

    /// A member answered `wrong_swarm`: refresh the registry (the newest
    /// version) and walk the members it names that the snapshot knows.
    fn redirect(&mut self, op: u64, info: &nightjar_wire::SwarmInfo) {
        let latest = self.latest();
        let now = self.now;
        let Some(nodes) = self.versions.get(latest as usize).map(|x| x.nodes.clone()) else {
            return;
        };
        let (Some(o), accounts) = (self.ops.get_mut(&op), &self.accounts) else {
            return;
        };
        let Some(acct) = accounts.get(o.account as usize) else {
            return;
        };
        let target = match &o.kind {
            OpKind::Send { msg, .. } => self
                .msgs
                .get(*msg as usize)
                .and_then(|m| accounts.get(m.to as usize))
                .map(|x| x.key),
            OpKind::Retrieve => Some(acct.key),
        };
        let Some(target) = target else {
            return;
        };
        let id = target.account_id();
        let unreachable = &acct.unreachable;
        let order =
            |m: Vec<NodeEntry>| failover::member_order(&id, m, &|_| false, unreachable, now);
        o.failover.redirect(info, &nodes, &order);
        let a = o.account;
        if let Some(acct) = self.accounts.get_mut(a as usize) {
            acct.floor_version = acct.floor_version.max(latest);
        }
        self.next_member(op);
    }

    /// The operation is over.
    fn finish(&mut self, op: u64, result: Result<(), ClientError>) {
        let Some(o) = self.ops.remove(&op) else {
            return;
        };
        let a = o.account;
        match o.kind {
            OpKind::Send { msg, .. } => match result {
                Ok(()) => {
                    if let Some(m) = self.msgs.get_mut(msg as usize)
                        && m.acked_ms.is_none()
                    {
                        m.acked_ms = Some(self.now);
                        self.counts.acked += 1;
                    }
                }
                Err(_) => self.counts.send_failed += 1,
            },
            OpKind::Retrieve => {
                let mut again = false;
                if let Some(acct) = self.accounts.get_mut(a as usize) {
                    acct.watch = None;
                    again = acct.online;
                }
                if result.is_err() {
                    self.counts.retrieve_failed += 1;
                }
                if again && self.now < self.end_ms {
                    let at = self.now + if result.is_err() { WATCH_RETRY_MS } else { 0 };
                    self.schedule(
                        at,
                        EvKind::ClientRetry {
                            account: a,
                            op: RESTART_WATCH,
                        },
                    );
                }
            }
        }
    }

    /// Account `a` retrieved `messages`: open them (real crypto) and record
    /// the deliveries.
    fn deliver(&mut self, a: u32, messages: &[StoredMessage]) {
        let now = self.now;
        let mode = self.opts.crypto;
        let Some(acct) = self.accounts.get_mut(a as usize) else {
            return;
        };
        let fresh: Vec<MessageHash> = match mode {
            CryptoMode::Real => {
                let known = &acct.known;
                match logic::process_messages(&acct.identity, messages, |h| Ok(known.contains(h))) {
                    Ok(p) => {
                        self.counts.rejected_envelopes += p.rejected.len() as u64;
                        p.received.into_iter().map(|(h, _)| h).collect()
                    }
                    Err(_) => Vec::new(),
                }
            }
            CryptoMode::Model => messages
                .iter()
                .filter(|m| !acct.known.contains(&m.hash))
                .map(|m| m.hash)
                .collect(),
        };
        for h in fresh {
            acct.known.insert(h);
            if let Some(&i) = self.msg_by_hash.get(&h)
                && let Some(m) = self.msgs.get_mut(i as usize)
                && m.delivered_ms.is_none()
            {
                m.delivered_ms = Some(now);
            }
        }
    }
}

/// A duration in whole ms.
fn paths_ms(d: Duration) -> u64 {
    u64::try_from(d.as_millis()).unwrap_or(u64::MAX)
}
