//! Circuits on a node, without I/O: the table of circuits this node relays
//! or ends, and what to do with each cell (`docs/PROTOCOL.md` §11.10).
//!
//! [`CircuitRelay`] takes cells ([`CircuitRelay::handle_cell`]) and the
//! answers to requests it delivered ([`CircuitRelay::handle_answer`]), each
//! with the clock, and yields datagrams to send ([`CircuitRelay::poll_transmit`])
//! and requests to handle ([`CircuitRelay::poll_delivery`]); expiry runs on
//! [`CircuitRelay::handle_timeout`]. Randomness (the circuit IDs it picks)
//! is passed in at construction.
//!
//! Not here: the socket, batching sends, running the delivered requests
//! (the driver), the cell and key formats (`nightjar_crypto::circuit`), or
//! one-shot v1 onion layers ([`crate::onion`]). Nothing here is written to
//! disk: a restart forgets every circuit.

mod exit;
#[cfg(test)]
mod tests;

use std::collections::{HashMap, VecDeque};
use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;

use nightjar_crypto::RandomSource;
use nightjar_crypto::circuit::{
    CELL_CREATE, Cell, CircuitId, CreatePeeled, DestroyReason, HopKeys, ReplayWindow,
    created_payload, destroy_cell, payload_len, peel_create,
};
use nightjar_crypto::identity::Identity;
use nightjar_crypto::onion::HopFailure;
use nightjar_wire::Request;

use exit::{Exit, ExitEvent};

/// The longest a circuit may live, and the default.
pub const MAX_CIRCUIT_LIFETIME_MS: u64 = 600_000;
/// Default most circuits a node keeps.
pub const DEFAULT_MAX_CIRCUITS: usize = 65_536;
/// Most circuits created from one client IP address (circuits from
/// registered nodes are not counted).
pub const MAX_CIRCUITS_PER_SOURCE: u32 = 64;
/// How often expired circuits are swept.
pub const SWEEP_INTERVAL_MS: u64 = 10_000;

/// What the relay needs to know of the registry.
pub trait NodeDirectory {
    /// A registered node's address, by its key.
    fn addr_of(&self, key: &[u8; 32]) -> Option<SocketAddr>;
    /// Whether `addr` is a registered node's: circuits from nodes (relayed
    /// for many clients) are not limited per source, only clients' are.
    fn is_node(&self, addr: &SocketAddr) -> bool;
}

/// The relay's settings.
#[derive(Clone, Debug)]
pub struct CircuitConfig {
    /// A circuit is dropped this long after its creation (at most
    /// [`MAX_CIRCUIT_LIFETIME_MS`]).
    pub lifetime_ms: u64,
    /// Most circuits kept at once.
    pub max_circuits: usize,
}

impl Default for CircuitConfig {
    fn default() -> Self {
        CircuitConfig {
            lifetime_ms: MAX_CIRCUIT_LIFETIME_MS,
            max_circuits: DEFAULT_MAX_CIRCUITS,
        }
    }
}

/// A datagram to send.
#[derive(Clone, PartialEq, Eq, Debug)]
pub struct Transmit {
    /// Where.
    pub to: SocketAddr,
    /// The cell.
    pub bytes: Vec<u8>,
}

/// Names a circuit this node is the exit of, for [`CircuitRelay::handle_answer`].
#[derive(Clone, Copy, PartialEq, Eq, Hash, Debug)]
pub struct ExitHandle(u64);

/// A request that arrived complete on a circuit this node ends: handle it as
/// an anonymous client's and give the answer to [`CircuitRelay::handle_answer`].
#[derive(Debug)]
pub struct Delivery {
    /// The circuit.
    pub circuit: ExitHandle,
    /// The client's number for the request.
    pub request_id: u32,
    /// The request, decoded; never node-only or onion (refused before).
    pub request: Request,
}

/// Counters of what the relay did (for metrics).
#[derive(Clone, Copy, Default, Debug, PartialEq, Eq)]
pub struct CircuitStats {
    /// Circuits created (relayed or ended here).
    pub created: u64,
    /// Circuits dropped at their lifetime's end.
    pub expired: u64,
    /// Forward cells passed on.
    pub forwarded: u64,
    /// Backward cells passed on (or sent by the exit).
    pub backwarded: u64,
    /// Cells refused as replays or too old for the window.
    pub replays: u64,
    /// Cells that did not parse or decrypt.
    pub malformed: u64,
    /// Cells for circuits this node does not know.
    pub unknown: u64,
    /// `create`s refused because the node or the source was full.
    pub full: u64,
    /// Requests delivered to the node at an exit.
    pub delivered: u64,
}

struct Circuit {
    prev: (SocketAddr, CircuitId),
    /// Whether `prev` is a client (counted in `per_source`).
    from_client: bool,
    next: Option<(SocketAddr, CircuitId)>,
    keys: HopKeys,
    expires_ms: u64,
    forward: ReplayWindow,
    backward: ReplayWindow,
    exit: Option<Exit>,
}

/// This node's circuits (see the module doc).
pub struct CircuitRelay {
    identity: Arc<Identity>,
    config: CircuitConfig,
    rng: Box<dyn RandomSource + Send>,
    circuits: HashMap<u64, Circuit>,
    by_prev: HashMap<(SocketAddr, CircuitId), u64>,
    by_next: HashMap<(SocketAddr, CircuitId), u64>,
    per_source: HashMap<IpAddr, u32>,
    next_key: u64,
    next_sweep_ms: u64,
    transmits: VecDeque<Transmit>,
    deliveries: VecDeque<Delivery>,
    stats: CircuitStats,
}

impl CircuitRelay {
    /// A relay with no circuits for the node `identity`.
    pub fn new(
        identity: Arc<Identity>,
        config: CircuitConfig,
        rng: Box<dyn RandomSource + Send>,
    ) -> Self {
        let config = CircuitConfig {
            lifetime_ms: config.lifetime_ms.min(MAX_CIRCUIT_LIFETIME_MS),
            ..config
        };
        CircuitRelay {
            identity,
            config,
            rng,
            circuits: HashMap::new(),
            by_prev: HashMap::new(),
            by_next: HashMap::new(),
            per_source: HashMap::new(),
            next_key: 0,
            next_sweep_ms: 0,
            transmits: VecDeque::new(),
            deliveries: VecDeque::new(),
            stats: CircuitStats::default(),
        }
    }

    /// How many circuits the node keeps now.
    pub fn len(&self) -> usize {
        self.circuits.len()
    }

    /// Whether the node keeps no circuit.
    pub fn is_empty(&self) -> bool {
        self.circuits.is_empty()
    }

    /// What the relay did so far.
    pub fn stats(&self) -> CircuitStats {
        self.stats
    }

    /// The next datagram to send.
    pub fn poll_transmit(&mut self) -> Option<Transmit> {
        self.transmits.pop_front()
    }

    /// The next request to handle.
    pub fn poll_delivery(&mut self) -> Option<Delivery> {
        self.deliveries.pop_front()
    }

    /// When [`Self::handle_timeout`] should run next (Unix ms).
    pub fn poll_timeout(&self) -> Option<u64> {
        (!self.circuits.is_empty()).then_some(self.next_sweep_ms)
    }

    fn send(&mut self, to: SocketAddr, bytes: Vec<u8>) {
        self.transmits.push_back(Transmit { to, bytes });
    }

    fn destroy(&mut self, to: SocketAddr, circuit: CircuitId, reason: DestroyReason) {
        self.send(to, destroy_cell(circuit, reason).to_vec());
    }

    /// One received datagram `datagram` from `from`; `nodes` is the
    /// registry as the relay needs it.
    pub fn handle_cell(
        &mut self,
        now_ms: u64,
        from: SocketAddr,
        datagram: &[u8],
        nodes: &dyn NodeDirectory,
    ) {
        let cell = match Cell::parse(datagram) {
            Ok(c) => c,
            Err(_) => {
                self.stats.malformed += 1;
                return;
            }
        };
        match cell {
            Cell::Create {
                circuit,
                ephemeral_key,
                layer,
            } => self.create(now_ms, from, circuit, &ephemeral_key, layer, nodes),
            Cell::Forward {
                circuit,
                seq,
                layer,
            } => self.forward(now_ms, from, circuit, seq, layer),
            Cell::Backward {
                circuit,
                seq,
                layer,
            } => self.backward(now_ms, from, circuit, seq, layer),
            Cell::Destroy { circuit, reason } => self.destroyed(from, circuit, reason),
        }
    }

    fn create(
        &mut self,
        now_ms: u64,
        from: SocketAddr,
        circuit: CircuitId,
        ephemeral_key: &[u8; 32],
        layer: &[u8],
        nodes: &dyn NodeDirectory,
    ) {
        if self.by_prev.contains_key(&(from, circuit)) {
            self.stats.malformed += 1;
            return;
        }
        let from_client = !nodes.is_node(&from);
        let from_source = self.per_source.get(&from.ip()).copied().unwrap_or(0);
        if self.circuits.len() >= self.config.max_circuits
            || (from_client && from_source >= MAX_CIRCUITS_PER_SOURCE)
        {
            self.stats.full += 1;
            self.destroy(from, circuit, DestroyReason::Unavailable);
            return;
        }
        let (peeled, keys) = match peel_create(&self.identity, ephemeral_key, layer) {
            Ok(p) => p,
            Err(_) => {
                self.stats.malformed += 1;
                return;
            }
        };
        let (next, exit) = match peeled {
            CreatePeeled::Extend {
                next,
                ephemeral_key,
                layer,
            } => {
                let addr = (next != *self.identity.public_key().as_bytes())
                    .then(|| nodes.addr_of(&next))
                    .flatten();
                let Some(addr) = addr else {
                    // Not a node of the registry (or this node): say so,
                    // under this hop's backward key, and keep nothing.
                    let mut out = Vec::new();
                    if keys
                        .relay_error(0, HopFailure::NotANode.as_u8(), circuit, &mut out)
                        .is_ok()
                    {
                        self.send(from, out);
                    }
                    return;
                };
                let mut id = [0u8; 8];
                if self.rng.fill(&mut id).is_err() {
                    self.destroy(from, circuit, DestroyReason::Unavailable);
                    return;
                }
                let out_id = CircuitId(u64::from_be_bytes(id));
                if self.by_next.contains_key(&(addr, out_id)) {
                    self.destroy(from, circuit, DestroyReason::Unavailable);
                    return;
                }
                let mut cell = Vec::with_capacity(9 + 32 + layer.len());
                cell.push(CELL_CREATE);
                cell.extend_from_slice(&out_id.0.to_be_bytes());
                cell.extend_from_slice(&ephemeral_key);
                cell.extend_from_slice(&layer);
                self.send(addr, cell);
                (Some((addr, out_id)), None)
            }
            CreatePeeled::End { hops } => {
                let Ok(p) = payload_len(hops) else {
                    self.stats.malformed += 1;
                    return;
                };
                let mut out = Vec::new();
                if keys
                    .seal_backward(0, &created_payload(p), circuit, &mut out)
                    .is_err()
                {
                    return;
                }
                self.send(from, out);
                self.stats.backwarded += 1;
                (None, Some(Exit::new(p)))
            }
        };
        let key = self.next_key;
        self.next_key += 1;
        let mut backward = ReplayWindow::new();
        if exit.is_some() {
            backward.accept(0);
        }
        self.circuits.insert(
            key,
            Circuit {
                prev: (from, circuit),
                from_client,
                next,
                keys,
                expires_ms: now_ms.saturating_add(self.config.lifetime_ms),
                forward: ReplayWindow::new(),
                backward,
                exit,
            },
        );
        self.by_prev.insert((from, circuit), key);
        if let Some(n) = next {
            self.by_next.insert(n, key);
        }
        if from_client {
            *self.per_source.entry(from.ip()).or_insert(0) += 1;
        }
        self.stats.created += 1;
        if self.next_sweep_ms == 0 || self.circuits.len() == 1 {
            self.next_sweep_ms = now_ms.saturating_add(SWEEP_INTERVAL_MS);
        }
    }

    /// Whether `key` is alive at `now_ms`; an expired circuit is dropped with
    /// `destroy` to both sides.
    fn alive(&mut self, now_ms: u64, key: u64) -> bool {
        let Some(c) = self.circuits.get(&key) else {
            return false;
        };
        if now_ms < c.expires_ms {
            return true;
        }
        self.expire(key);
        false
    }

    fn expire(&mut self, key: u64) {
        if let Some(c) = self.remove(key) {
            self.stats.expired += 1;
            self.destroy(c.prev.0, c.prev.1, DestroyReason::Expired);
            if let Some((addr, id)) = c.next {
                self.destroy(addr, id, DestroyReason::Expired);
            }
        }
    }

    fn remove(&mut self, key: u64) -> Option<Circuit> {
        let c = self.circuits.remove(&key)?;
        self.by_prev.remove(&c.prev);
        if let Some(n) = c.next {
            self.by_next.remove(&n);
        }
        if c.from_client
            && let Some(count) = self.per_source.get_mut(&c.prev.0.ip())
        {
            *count = count.saturating_sub(1);
            if *count == 0 {
                self.per_source.remove(&c.prev.0.ip());
            }
        }
        Some(c)
    }

    /// The live circuit a data cell from `from` on `circuit` belongs to
    /// (`forward`: as its previous hop, else as its next), if `seq` is fresh
    /// in that direction; an unknown circuit is answered with `destroy`, a
    /// replay counted and dropped.
    fn data_cell_circuit(
        &mut self,
        now_ms: u64,
        from: SocketAddr,
        circuit: CircuitId,
        seq: u64,
        forward: bool,
    ) -> Option<(u64, &mut Circuit)> {
        let table = if forward {
            &self.by_prev
        } else {
            &self.by_next
        };
        let Some(&key) = table.get(&(from, circuit)) else {
            self.stats.unknown += 1;
            self.destroy(from, circuit, DestroyReason::Unknown);
            return None;
        };
        if !self.alive(now_ms, key) {
            return None;
        }
        let c = self.circuits.get_mut(&key)?;
        let window = if forward { &c.forward } else { &c.backward };
        if !window.is_fresh(seq) {
            self.stats.replays += 1;
            return None;
        }
        Some((key, c))
    }

    fn forward(
        &mut self,
        now_ms: u64,
        from: SocketAddr,
        circuit: CircuitId,
        seq: u64,
        layer: &[u8],
    ) {
        let Some((key, c)) = self.data_cell_circuit(now_ms, from, circuit, seq, true) else {
            return;
        };
        if let Some((addr, out_id)) = c.next {
            let mut out = Vec::with_capacity(layer.len() + 1);
            if c.keys.relay_forward(seq, layer, out_id, &mut out).is_err() {
                self.stats.malformed += 1;
                return;
            }
            c.forward.accept(seq);
            self.stats.forwarded += 1;
            self.send(addr, out);
            return;
        }
        let Ok(payload) = c.keys.open_payload(seq, layer) else {
            self.stats.malformed += 1;
            return;
        };
        c.forward.accept(seq);
        let Some(exit) = c.exit.as_mut() else {
            return;
        };
        let answer = match exit.receive(now_ms, &payload) {
            Ok(ExitEvent::Nothing) => return,
            Ok(ExitEvent::Answer { request_id, frame }) => exit.answer(request_id, &frame),
            Ok(ExitEvent::Refuse { request_id, code }) => vec![exit.error(request_id, code)],
            Ok(ExitEvent::Deliver {
                request_id,
                request,
            }) => {
                self.stats.delivered += 1;
                self.deliveries.push_back(Delivery {
                    circuit: ExitHandle(key),
                    request_id,
                    request,
                });
                return;
            }
            Err(_) => {
                self.stats.malformed += 1;
                return;
            }
        };
        self.send_backward(key, &answer);
    }

    /// Seals the exit's payloads backward on circuit `key`.
    fn send_backward(&mut self, key: u64, payloads: &[Vec<u8>]) {
        let Some(c) = self.circuits.get_mut(&key) else {
            return;
        };
        let Some(exit) = c.exit.as_mut() else {
            return;
        };
        let mut cells = Vec::with_capacity(payloads.len());
        for payload in payloads {
            let seq = exit.next_seq();
            let mut out = Vec::new();
            if c.keys
                .seal_backward(seq, payload, c.prev.1, &mut out)
                .is_ok()
            {
                c.backward.accept(seq);
                cells.push(out);
            }
        }
        let to = c.prev.0;
        self.stats.backwarded += cells.len() as u64;
        for cell in cells {
            self.send(to, cell);
        }
    }

    fn backward(
        &mut self,
        now_ms: u64,
        from: SocketAddr,
        circuit: CircuitId,
        seq: u64,
        layer: &[u8],
    ) {
        let Some((_, c)) = self.data_cell_circuit(now_ms, from, circuit, seq, false) else {
            return;
        };
        let mut out = Vec::with_capacity(layer.len() + 33);
        if c.keys
            .seal_backward(seq, layer, c.prev.1, &mut out)
            .is_err()
        {
            self.stats.malformed += 1;
            return;
        }
        c.backward.accept(seq);
        let to = c.prev.0;
        self.stats.backwarded += 1;
        self.send(to, out);
    }

    fn destroyed(&mut self, from: SocketAddr, circuit: CircuitId, reason: u8) {
        let reason = DestroyReason::from_u8(reason).unwrap_or(DestroyReason::Closed);
        if let Some(&key) = self.by_prev.get(&(from, circuit)) {
            if let Some(c) = self.remove(key)
                && let Some((addr, id)) = c.next
            {
                self.destroy(addr, id, reason);
            }
        } else if let Some(&key) = self.by_next.get(&(from, circuit))
            && let Some(c) = self.remove(key)
        {
            self.destroy(c.prev.0, c.prev.1, reason);
        }
    }

    /// The answer (a complete response frame) to a delivered request. A
    /// circuit gone meanwhile drops it.
    pub fn handle_answer(
        &mut self,
        now_ms: u64,
        circuit: ExitHandle,
        request_id: u32,
        frame: &[u8],
    ) {
        if !self.alive(now_ms, circuit.0) {
            return;
        }
        let payloads = match self
            .circuits
            .get_mut(&circuit.0)
            .and_then(|c| c.exit.as_mut())
        {
            Some(exit) => exit.answer(request_id, frame),
            None => return,
        };
        self.send_backward(circuit.0, &payloads);
    }

    /// Drops the circuits whose lifetime ended (sending `destroy` both ways)
    /// and stale partial requests.
    pub fn handle_timeout(&mut self, now_ms: u64) {
        if now_ms < self.next_sweep_ms {
            return;
        }
        let expired: Vec<u64> = self
            .circuits
            .iter()
            .filter(|(_, c)| now_ms >= c.expires_ms)
            .map(|(&k, _)| k)
            .collect();
        for key in expired {
            self.expire(key);
        }
        for c in self.circuits.values_mut() {
            if let Some(exit) = c.exit.as_mut() {
                exit.prune(now_ms);
            }
        }
        self.next_sweep_ms = now_ms.saturating_add(SWEEP_INTERVAL_MS);
    }
}
