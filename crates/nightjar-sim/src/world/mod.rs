//! The simulated world: one event queue on virtual time driving real
//! [`NodeCore`](nightjar_node::engine::NodeCore)s on
//! [`MemoryStore`](nightjar_store::MemoryStore)s, and clients built on the
//! real client logic (`nightjar_client::call`, `paths`, `failover`,
//! `logic`).
//!
//! The world is the nodes' and clients' driver, as the tokio drivers are
//! in production: it moves requests and answers between them with the
//! [`NetModel`]'s delays, runs each node's store commands, keeps each node's
//! timer and each client's deadlines, and applies churn and faults. It makes
//! no protocol decision itself, except where a misbehaving node is told to
//! lie, drop or dawdle.
//!
//! One file per concern: [`event`] (the queue's events), `node` (delivering
//! to and draining node cores), `client` (accounts, onion calls, sends and
//! retrieves), `churn` (registry changes, crashes, partitions), `audit`
//! (where replicas are, losses, convergence) and `summary` (the report).

mod audit;
mod churn;
mod client;
pub(crate) mod event;
mod node;
mod summary;

use std::cmp::Reverse;
use std::collections::{BinaryHeap, HashMap};
use std::sync::Arc;

use nightjar_crypto::hash::Transcript;
use nightjar_node::engine::RegistryView;
use nightjar_registry::{NodeEntry, Registry, RegistryEvent, SwarmMap};
use nightjar_types::{MessageHash, NodeKey};

use crate::SimError;
use crate::net::NetModel;
use crate::options::Options;
use crate::report::{Counts, Report};
use crate::rng::SimRng;

use client::{Account, ClientOp, MsgRec};
use event::{Ev, EvKind};
use node::SimNode;

pub(crate) const MIN_MS: u64 = 60_000;
pub(crate) const HOUR_MS: u64 = 3_600_000;
/// Virtual time starts here (a plausible Unix time, so that the cores'
/// timestamps look like real ones).
pub(crate) const T0: u64 = 1_767_225_600_000;

/// One registry version as nodes and clients learn it.
pub(crate) struct Version {
    /// The view a node core is given.
    pub(crate) view: Arc<RegistryView>,
    /// The registry's live nodes, for clients' path building.
    pub(crate) nodes: Arc<Vec<NodeEntry>>,
    /// When it was published.
    pub(crate) at: u64,
}

/// One simulation run: build with [`World::new`], run with [`World::run`].
pub struct World {
    opts: Options,
    now: u64,
    seq: u64,
    queue: BinaryHeap<Reverse<Ev>>,
    trace: Transcript,
    net: NetModel,
    nodes: Vec<SimNode>,
    node_by_key: HashMap<[u8; 32], u32>,
    accounts: Vec<Account>,
    registry: Registry,
    map: SwarmMap,
    known_keys: Vec<NodeKey>,
    versions: Vec<Version>,
    msgs: Vec<MsgRec>,
    msg_by_hash: HashMap<MessageHash, u32>,
    ops: HashMap<u64, ClientOp>,
    next_op: u64,
    traffic_rng: SimRng,
    churn_rng: SimRng,
    fault_rng: SimRng,
    presence_rng: SimRng,
    audit_rng: SimRng,
    end_traffic_ms: u64,
    end_ms: u64,
    partitioned: bool,
    model_len: usize,
    counts: Counts,
    registry_spread_ms: u64,
    /// Churn and fault events not yet converged: when each happened.
    open_events: Vec<u64>,
    converge_ms: Vec<u64>,
    audits: u64,
    check_scheduled: bool,
}

impl World {
    /// Build the genesis network and the accounts.
    pub fn new(opts: Options) -> Result<World, SimError> {
        opts.validate()?;
        let seed = opts.seed;
        let net = NetModel::new(
            opts.regions,
            opts.jitter,
            opts.loss,
            opts.bandwidth_mbit,
            seed,
        );
        let trace = Transcript::new(b"nightjar-sim/trace v1");
        let end_traffic_ms = T0 + (opts.hours * HOUR_MS as f64) as u64;
        let end_ms = end_traffic_ms + (opts.repair_min * MIN_MS as f64) as u64;
        let mut world = World {
            now: T0,
            seq: 0,
            queue: BinaryHeap::new(),
            trace,
            net,
            nodes: Vec::new(),
            node_by_key: HashMap::new(),
            accounts: Vec::new(),
            registry: Registry::genesis("sim", Vec::new()),
            map: SwarmMap::new(),
            known_keys: Vec::new(),
            versions: Vec::new(),
            msgs: Vec::new(),
            msg_by_hash: HashMap::new(),
            ops: HashMap::new(),
            next_op: 0,
            traffic_rng: SimRng::new(seed, "traffic"),
            churn_rng: SimRng::new(seed, "churn"),
            fault_rng: SimRng::new(seed, "faults"),
            presence_rng: SimRng::new(seed, "presence"),
            audit_rng: SimRng::new(seed, "audit"),
            end_traffic_ms,
            end_ms,
            partitioned: false,
            model_len: 0,
            counts: Counts::default(),
            registry_spread_ms: 0,
            open_events: Vec::new(),
            converge_ms: Vec::new(),
            audits: 0,
            check_scheduled: false,
            opts,
        };
        let mut genesis = Vec::with_capacity(world.opts.nodes);
        for _ in 0..world.opts.nodes {
            let i = world.add_node()?;
            if let Some(n) = world.nodes.get(i as usize) {
                genesis.push(n.entry.clone());
            }
        }
        world.assign_behaviours();
        for node in &genesis {
            world
                .map
                .apply(&RegistryEvent::Join { node: node.clone() })?;
        }
        world.registry = Registry::genesis("sim", genesis);
        world.push_version();
        for i in 0..world.nodes.len() {
            world.learn(i as u32, 0);
        }
        world.make_accounts()?;
        Ok(world)
    }

    /// Publish the current map as a new registry version.
    fn push_version(&mut self) {
        let view = RegistryView::new(self.map.clone(), self.known_keys.iter().copied(), None);
        let nodes = self.map.nodes();
        self.versions.push(Version {
            view: Arc::new(view),
            nodes: Arc::new(nodes),
            at: self.now,
        });
    }

    /// The newest registry version's number.
    fn latest(&self) -> u32 {
        u32::try_from(self.versions.len().saturating_sub(1)).unwrap_or(0)
    }

    fn schedule(&mut self, at: u64, kind: EvKind) {
        self.seq += 1;
        self.queue.push(Reverse(Ev {
            at: at.max(self.now),
            seq: self.seq,
            kind,
        }));
    }

    /// Run to the end and build the report.
    pub fn run(mut self) -> Result<Report, SimError> {
        let started = std::time::Instant::now();
        self.seed_events();
        let mut next_progress = T0 + HOUR_MS;
        while let Some(Reverse(ev)) = self.queue.pop() {
            if ev.at > self.end_ms {
                break;
            }
            if self.opts.progress && ev.at >= next_progress {
                eprintln!(
                    "nightjar-sim: hour {:.0}: {} events, {} sent, {} acked, {:.0} s wall",
                    (next_progress - T0) as f64 / HOUR_MS as f64,
                    self.counts.events,
                    self.counts.sent,
                    self.counts.acked,
                    started.elapsed().as_secs_f64()
                );
                next_progress += HOUR_MS;
            }
            self.now = ev.at;
            self.counts.events += 1;
            self.trace_event(&ev);
            self.dispatch(ev.kind)?;
        }
        self.now = self.end_ms;
        let wall = started.elapsed().as_secs_f64();
        Ok(self.report(wall))
    }

    fn trace_event(&mut self, ev: &Ev) {
        let (a, b) = ev.kind.ids();
        let mut buf = [0u8; 25];
        buf[..8].copy_from_slice(&ev.at.to_le_bytes());
        buf[8] = ev.kind.tag();
        buf[9..17].copy_from_slice(&a.to_le_bytes());
        buf[17..25].copy_from_slice(&b.to_le_bytes());
        self.trace.update(&buf);
    }

    fn seed_events(&mut self) {
        self.seed_traffic();
        self.seed_churn();
    }

    fn dispatch(&mut self, kind: EvKind) -> Result<(), SimError> {
        match kind {
            EvKind::NodeTimer { node } => self.node_timer(node),
            EvKind::ToNode {
                node,
                from,
                request,
            } => self.node_request(node, from, *request),
            EvKind::PeerAnswer {
                node,
                op,
                epoch,
                response,
            } => self.peer_answer(node, op, epoch, *response),
            EvKind::ToClient {
                account,
                op,
                flight,
                response,
            } => self.client_answer(account, op, flight, Ok(*response)),
            EvKind::ClientDeadline {
                account,
                op,
                flight,
            } => self.client_deadline(account, op, flight),
            EvKind::ClientRetry { account, op } => self.client_retry(account, op),
            EvKind::ClientSend { account } => self.client_send(account)?,
            EvKind::Presence { account } => self.presence(account),
            EvKind::NodeLearn { node, version } => self.learn(node, version),
            EvKind::Join => self.join()?,
            EvKind::Exit => self.exit()?,
            EvKind::Crash => self.churn_crash(),
            EvKind::Restart { node } => self.restart(node),
            EvKind::ExitDone { node } => self.exit_done(node),
            EvKind::Correlated => self.correlated(),
            EvKind::KillTwo => self.kill_two(),
            EvKind::Partition => self.partition(),
            EvKind::Heal => self.heal(),
            EvKind::ConvergeCheck => self.converge_check(),
        }
        Ok(())
    }
}
