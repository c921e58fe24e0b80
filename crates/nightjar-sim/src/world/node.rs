//! Nodes in the world: delivering requests, peer answers and timeouts to
//! each node's real [`NodeCore`], carrying out the effects it emits (store
//! commands on its [`MemoryStore`], peer requests, replies), and the three
//! kinds of misbehaviour.

use std::collections::HashMap;
use std::sync::Arc;

use nightjar_crypto::hash::message_hash;
use nightjar_crypto::identity::{Identity, PublicKey, Seed};
use nightjar_node::core::WriteQuorum;
use nightjar_node::engine::{
    CoreConfig, CoreEvent, Effect, NodeCore, OpId, PeerFailure, RequestId,
};
use nightjar_node::sync::ring_position;
use nightjar_registry::{NodeEntry, NodeId};
use nightjar_store::{MemoryStore, MessageStore, StoreCommand, StoreOutcome, StoreReply};
use nightjar_types::{MessageHash, NodeKey};
use nightjar_wire::{Receipt, Request, Response, ResponseBody};

use super::event::{EvKind, From};
use super::{HOUR_MS, World};
use crate::SimError;
use crate::model::ModelSignatures;
use crate::options::CryptoMode;
use crate::rng::{SimRng, derive};

/// How a node behaves.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Behaviour {
    /// Runs the protocol.
    Honest,
    /// Acknowledges replicas (and its own writes) without storing them.
    Liar,
    /// Discards every onion request it is given.
    Dropper,
    /// Sends every answer `--lag-ms` late.
    Laggard,
}

/// One simulated node.
pub(crate) struct SimNode {
    pub(crate) seed: [u8; 32],
    pub(crate) entry: NodeEntry,
    pub(crate) core: NodeCore,
    pub(crate) store: MemoryStore,
    /// Running (false while crashed, and after an exit's linger).
    pub(crate) up: bool,
    /// In the registry.
    pub(crate) registered: bool,
    pub(crate) region: usize,
    /// Which side of a partition it is on.
    pub(crate) side: bool,
    pub(crate) behaviour: Behaviour,
    /// Incarnation: bumped by every crash, so late answers to a dead
    /// core's requests are dropped.
    pub(crate) epoch: u32,
    next_request: u64,
    requests: HashMap<RequestId, From>,
    /// The pending timer event's time.
    timer_at: Option<u64>,
    uplink_free_ms: u64,
    /// The registry version it knows.
    pub(crate) version: u32,
}

fn addr_of(index: u32) -> std::net::SocketAddr {
    let b = index.to_be_bytes();
    std::net::SocketAddr::V4(std::net::SocketAddrV4::new(
        std::net::Ipv4Addr::new(10, b[1], b[2], b[3]),
        4433,
    ))
}

impl World {
    pub(super) fn core_config(&self) -> CoreConfig {
        CoreConfig {
            write_quorum: WriteQuorum::Majority,
            sync_interval_ms: (self.opts.sync_interval_s * 1000.0).max(1000.0) as u64,
            purge_interval_ms: HOUR_MS,
            ..CoreConfig::default()
        }
    }

    /// A fresh core for `identity`: Ed25519 signatures, or the model's
    /// with `--crypto model` ([`crate::model`]).
    pub(super) fn new_core(&self, identity: Identity) -> NodeCore {
        match self.opts.crypto {
            CryptoMode::Real => NodeCore::new(identity, self.core_config()),
            CryptoMode::Model => {
                NodeCore::with_signatures(identity, self.core_config(), Arc::new(ModelSignatures))
            }
        }
    }

    /// A new node (not yet in the registry), its key derived from the seed.
    pub(super) fn add_node(&mut self) -> Result<u32, SimError> {
        let index = u32::try_from(self.nodes.len())
            .map_err(|_| SimError::InvalidOption("too many nodes".into()))?;
        let seed =
            SimRng::new(derive(self.opts.seed, "node-key", u64::from(index)), "key").seed32();
        let identity = Identity::from_seed(Seed::from_bytes(seed));
        let key = identity.public_key().to_bytes();
        let entry = NodeEntry {
            id: NodeId(identity.public_key()),
            addr: addr_of(index + 1),
        };
        let region = (derive(self.opts.seed, "node-region", u64::from(index))
            % self.net.regions() as u64) as usize;
        let side = self.on_cut_side(derive(self.opts.seed, "node-side", u64::from(index)));
        self.node_by_key.insert(key, index);
        self.known_keys.push(NodeKey::new(key));
        let core = self.new_core(identity);
        self.nodes.push(SimNode {
            seed,
            entry,
            core,
            store: MemoryStore::new(ring_position),
            up: true,
            registered: true,
            region,
            side,
            behaviour: Behaviour::Honest,
            epoch: 0,
            next_request: 0,
            requests: HashMap::new(),
            timer_at: None,
            uplink_free_ms: 0,
            version: 0,
        });
        Ok(index)
    }

    /// The first nodes by index misbehave, in disjoint sets.
    pub(super) fn assign_behaviours(&mut self) {
        let (l, d, g) = (self.opts.liars, self.opts.droppers, self.opts.laggards);
        for (i, n) in self.nodes.iter_mut().enumerate() {
            n.behaviour = if i < l {
                Behaviour::Liar
            } else if i < l + d {
                Behaviour::Dropper
            } else if i < l + d + g {
                Behaviour::Laggard
            } else {
                Behaviour::Honest
            };
        }
    }

    /// Whether a uniform draw puts a node or account on the cut-off side.
    pub(super) fn on_cut_side(&self, draw: u64) -> bool {
        ((draw >> 11) as f64 / (1u64 << 53) as f64) < self.opts.partition_share
    }

    /// Whether traffic passes between two sides now.
    pub(super) fn passes(&self, a_side: bool, b_side: bool) -> bool {
        !self.partitioned || a_side == b_side
    }

    /// Node `node` learns registry version `version` (if newer than its own).
    pub(super) fn learn(&mut self, node: u32, version: u32) {
        let now = self.now;
        let Some(view) = self.versions.get(version as usize).map(|v| v.view.clone()) else {
            return;
        };
        if let Some(n) = self.nodes.get_mut(node as usize) {
            if !n.up || (n.version >= version && n.core.registry().is_some()) {
                return;
            }
            n.version = version;
            n.core.set_registry(now, view);
        }
        self.drain(node);
    }

    /// A node's core stops: its state is gone, its store too with
    /// `disk_loss`.
    pub(super) fn stop_node(&mut self, node: u32, disk_loss: bool) {
        let Some(seed) = self.nodes.get(node as usize).map(|n| n.seed) else {
            return;
        };
        let new_core = self.new_core(Identity::from_seed(Seed::from_bytes(seed)));
        if let Some(n) = self.nodes.get_mut(node as usize) {
            if !n.up {
                return;
            }
            n.up = false;
            n.epoch += 1;
            n.requests.clear();
            n.timer_at = None;
            n.core = new_core;
            if disk_loss {
                n.store = MemoryStore::new(ring_position);
                self.counts.disk_losses += 1;
            }
        }
    }

    /// A stopped node starts again with the newest registry.
    pub(super) fn restart(&mut self, node: u32) {
        let v = self.latest();
        if let Some(n) = self.nodes.get_mut(node as usize) {
            if n.up || !n.registered {
                return;
            }
            n.up = true;
            n.version = 0;
            self.counts.restarts += 1;
        }
        self.learn(node, v);
    }

    pub(super) fn node_timer(&mut self, node: u32) {
        let now = self.now;
        if let Some(n) = self.nodes.get_mut(node as usize) {
            if n.timer_at != Some(now) || !n.up {
                return;
            }
            n.timer_at = None;
            n.core.handle_timeout(now);
        }
        self.drain(node);
    }

    pub(super) fn peer_answer(&mut self, node: u32, op: OpId, epoch: u32, response: Response) {
        let now = self.now;
        if let Some(n) = self.nodes.get_mut(node as usize) {
            if !n.up || n.epoch != epoch {
                return;
            }
            n.core.handle_peer_answer(now, op, Ok(response));
        }
        self.drain(node);
    }

    /// A request arrives at node `node`.
    pub(super) fn node_request(&mut self, node: u32, from: From, request: Request) {
        let now = self.now;
        let peer_key: Option<PublicKey> = match from {
            From::Node { node: src, .. } => self.nodes.get(src as usize).map(|n| n.entry.id.0),
            From::Client { .. } => None,
        };
        let Some(n) = self.nodes.get_mut(node as usize) else {
            return;
        };
        if !n.up {
            return;
        }
        match (n.behaviour, &request) {
            (Behaviour::Dropper, Request::Onion(_)) => {
                self.counts.dropped_by_droppers += 1;
                return;
            }
            (Behaviour::Liar, Request::Replicate(r)) => {
                // "Stored", with a receipt it cannot sign honestly: its key,
                // and a signature that is not one.
                let Ok(pk) = PublicKey::from_bytes(r.account.as_bytes()) else {
                    return;
                };
                let hash = MessageHash::new(message_hash(&pk, r.namespace, &r.data));
                let response = Response {
                    node_time_ms: now,
                    body: ResponseBody::Stored {
                        hash,
                        expiry_ms: r.expiry_ms,
                        already_stored: false,
                        receipts: vec![Receipt {
                            node_key: NodeKey::new(n.entry.id.0.to_bytes()),
                            expiry_ms: r.expiry_ms,
                            signature: [0u8; 64],
                            leaf_index: 0,
                            tree_size: 1,
                            path: Vec::new(),
                        }],
                    },
                };
                self.counts.liar_acks += 1;
                self.respond(node, from, response);
                return;
            }
            _ => {}
        }
        n.next_request += 1;
        let id = RequestId(n.next_request);
        n.requests.insert(id, from);
        let checked = n.core.precheck(now, Ok(request));
        n.core.handle_request(now, id, peer_key.as_ref(), checked);
        self.drain(node);
    }

    /// Carry out everything node `node`'s core asked for, then keep one
    /// timer event at its earliest deadline.
    pub(super) fn drain(&mut self, node: u32) {
        let now = self.now;
        loop {
            let Some(n) = self.nodes.get_mut(node as usize) else {
                return;
            };
            if !n.up {
                return;
            }
            let Some(effect) = n.core.poll_effect() else {
                break;
            };
            match effect {
                Effect::Reply { id, response } => {
                    if let Some(from) = n.requests.remove(&id) {
                        self.respond(node, from, response);
                    }
                }
                Effect::Store { op, command } => {
                    let reply = match (&command, n.behaviour) {
                        (StoreCommand::Store(_), Behaviour::Liar) => {
                            StoreReply::Stored(Ok(StoreOutcome::Stored { seq: 0 }))
                        }
                        _ => n.store.execute(command),
                    };
                    n.core.handle_store_reply(now, op, reply);
                }
                Effect::SendToPeer {
                    op, to, request, ..
                } => {
                    // The core keeps the deadline itself (it answers
                    // `TimedOut` from its own timer).
                    let epoch = n.epoch;
                    let repair = matches!(
                        *request,
                        Request::SyncDigest { .. }
                            | Request::SyncList { .. }
                            | Request::SyncFetch(_)
                    ) || (!n.registered && matches!(*request, Request::Replicate(_)));
                    match self.node_by_key.get(to.id.0.as_bytes()).copied() {
                        Some(target) => self.send_to_node(
                            node,
                            target,
                            From::Node {
                                node,
                                op,
                                epoch,
                                repair,
                            },
                            request,
                        ),
                        None => {
                            if let Some(n) = self.nodes.get_mut(node as usize) {
                                n.core
                                    .handle_peer_answer(now, op, Err(PeerFailure::Unreachable));
                            }
                        }
                    }
                }
                Effect::CancelPeer { .. } => {}
                Effect::Event(e) => match e {
                    CoreEvent::SyncRound {
                        pulled, handed_off, ..
                    } => {
                        self.counts.sync_rounds += 1;
                        self.counts.sync_pulled += pulled;
                        self.counts.handed_off += handed_off;
                    }
                    CoreEvent::PeerFailed { .. } => self.counts.peer_failures += 1,
                    _ => {}
                },
            }
        }
        let mut wake = None;
        if let Some(n) = self.nodes.get_mut(node as usize)
            && let Some(t) = n.core.poll_timeout()
        {
            let t = t.max(now);
            if n.timer_at.is_none_or(|cur| t < cur) {
                n.timer_at = Some(t);
                wake = Some(t);
            }
        }
        if let Some(t) = wake {
            self.schedule(t, EvKind::NodeTimer { node });
        }
    }

    /// Put `bytes` on node `node`'s uplink; when they have left it.
    fn uplink(&mut self, node: u32, bytes: usize) -> u64 {
        let ser = self.net.serialise_ms(bytes);
        let now = self.now;
        match self.nodes.get_mut(node as usize) {
            Some(n) => {
                let start = n.uplink_free_ms.max(now);
                n.uplink_free_ms = start + ser;
                n.uplink_free_ms
            }
            None => now,
        }
    }

    fn send_to_node(&mut self, src: u32, dst: u32, from: From, request: Box<Request>) {
        let size = request.to_frame().len();
        self.counts.node_bytes += size as u64;
        self.counts.node_messages += 1;
        if let From::Node { repair: true, .. } = from {
            self.counts.repair_bytes += size as u64;
            self.counts.repair_messages += 1;
        }
        let (Some(a), Some(b)) = (self.nodes.get(src as usize), self.nodes.get(dst as usize))
        else {
            return;
        };
        if !self.passes(a.side, b.side) {
            return;
        }
        let (ra, rb) = (a.region, b.region);
        let left = self.uplink(src, size);
        if let Some(d) = self.net.delay_ms(ra, rb) {
            self.schedule(
                left + d,
                EvKind::ToNode {
                    node: dst,
                    from,
                    request,
                },
            );
        }
    }

    /// Send node `node`'s answer back to whoever asked.
    fn respond(&mut self, node: u32, to: From, response: Response) {
        let size = response.to_frame().len();
        let Some(n) = self.nodes.get(node as usize) else {
            return;
        };
        let lag = if n.behaviour == Behaviour::Laggard {
            self.opts.lag_ms
        } else {
            0
        };
        let (side, region) = (n.side, n.region);
        match to {
            From::Node {
                node: dst,
                op,
                epoch,
                repair,
            } => {
                self.counts.node_bytes += size as u64;
                self.counts.node_messages += 1;
                if repair {
                    self.counts.repair_bytes += size as u64;
                    self.counts.repair_messages += 1;
                }
                let Some(d) = self.nodes.get(dst as usize) else {
                    return;
                };
                if !self.passes(side, d.side) {
                    return;
                }
                let rb = d.region;
                let left = self.uplink(node, size);
                if let Some(delay) = self.net.delay_ms(region, rb) {
                    self.schedule(
                        left + delay + lag,
                        EvKind::PeerAnswer {
                            node: dst,
                            op,
                            epoch,
                            response: Box::new(response),
                        },
                    );
                }
            }
            From::Client {
                account,
                op,
                flight,
            } => {
                self.counts.client_bytes += size as u64;
                let Some(a) = self.accounts.get(account as usize) else {
                    return;
                };
                if !self.passes(side, a.side) {
                    return;
                }
                let rb = a.region;
                let left = self.uplink(node, size);
                if let Some(delay) = self.net.delay_ms(region, rb) {
                    self.schedule(
                        left + delay + lag,
                        EvKind::ToClient {
                            account,
                            op,
                            flight,
                            response: Box::new(response),
                        },
                    );
                }
            }
        }
    }

    /// A client's request leaves for node `node` (the client's own uplink
    /// is not modelled; its bytes are counted).
    pub(super) fn client_to_node(&mut self, account: u32, node: u32, from: From, request: Request) {
        let size = request.to_frame().len();
        self.counts.client_bytes += size as u64;
        let (Some(a), Some(n)) = (
            self.accounts.get(account as usize),
            self.nodes.get(node as usize),
        ) else {
            return;
        };
        if !self.passes(a.side, n.side) {
            return;
        }
        let (ra, rb) = (a.region, n.region);
        if let Some(d) = self.net.delay_ms(ra, rb) {
            self.schedule(
                self.now + d,
                EvKind::ToNode {
                    node,
                    from,
                    request: Box::new(request),
                },
            );
        }
    }
}
