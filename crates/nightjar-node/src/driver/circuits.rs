//! Circuit cells on the node's port: the [`CellHandler`] that feeds
//! [`CircuitRelay`] on the endpoint's receive path and sends what it yields
//! (equal-sized cells to one neighbour in one GSO system call), the task
//! that runs requests delivered at an exit through the core, and the sweep
//! of expired circuits. Moves bytes; the relay decides.

use std::collections::{HashMap, HashSet};
use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, RwLock};
use std::time::{Duration, Instant};

use nightjar_crypto::OsRandom;
use nightjar_transport::{CellHandler, CellSocket};
use nightjar_types::NodeKey;
use nightjar_wire::{ErrorCode, Response};
use tokio::sync::mpsc;
use tracing::debug;

use super::{Shared, accept, lock, unix_now_ms};
use crate::circuit::{
    CircuitConfig, CircuitRelay, CircuitStats, Delivery, ExitHandle, NodeDirectory,
    SWEEP_INTERVAL_MS, Transmit,
};
use crate::engine::RegistryView;
use crate::metrics::CircuitLabels;
use prometheus_client::metrics::gauge::Gauge;

/// Requests from exits waiting for the delivery task; beyond this an exit
/// answers `unavailable` at once.
const MAX_QUEUED_DELIVERIES: usize = 4096;

/// The node's circuits and what the endpoint's receive path needs.
pub(super) struct Circuits {
    relay: Mutex<CircuitRelay>,
    view: RwLock<Option<Arc<Directory>>>,
    deliveries: mpsc::Sender<Delivery>,
    metrics: Mutex<Option<Arc<MetricsSink>>>,
    /// Answers were queued on the relay and not sent yet.
    answered: AtomicBool,
}

/// The registry as the relay needs it: nodes by key, and their addresses.
struct Directory {
    view: Arc<RegistryView>,
    addrs: HashSet<SocketAddr>,
}

impl NodeDirectory for Directory {
    fn addr_of(&self, key: &[u8; 32]) -> Option<SocketAddr> {
        self.view
            .nodes_by_key
            .get(&NodeKey::new(*key))
            .map(|e| e.addr)
    }
    fn is_node(&self, addr: &SocketAddr) -> bool {
        self.addrs.contains(addr)
    }
}

/// No registry yet: no node is known.
struct NoNodes;

impl NodeDirectory for NoNodes {
    fn addr_of(&self, _: &[u8; 32]) -> Option<SocketAddr> {
        None
    }
    fn is_node(&self, _: &SocketAddr) -> bool {
        false
    }
}

/// Where the relay's counters go (set once the node's shared state exists):
/// the gauges themselves, looked up once, so that publishing after every
/// flush is ten atomic stores.
pub(super) struct MetricsSink {
    shared: std::sync::Weak<Shared>,
    circuits: Gauge,
    /// One gauge per [`CircuitStats`] counter, in [`stat_values`]' order.
    events: [Gauge; STAT_COUNT],
}

/// How many counters [`CircuitStats`] has.
const STAT_COUNT: usize = 9;

/// The `event` label of each counter, in [`stat_values`]' order.
const STAT_EVENTS: [&str; STAT_COUNT] = [
    "created",
    "expired",
    "forwarded",
    "backwarded",
    "replay",
    "malformed",
    "unknown",
    "full",
    "delivered",
];

/// The counters, in [`STAT_EVENTS`]' order.
fn stat_values(stats: CircuitStats) -> [u64; STAT_COUNT] {
    [
        stats.created,
        stats.expired,
        stats.forwarded,
        stats.backwarded,
        stats.replays,
        stats.malformed,
        stats.unknown,
        stats.full,
        stats.delivered,
    ]
}

impl Circuits {
    pub(super) fn new(
        identity: Arc<nightjar_crypto::identity::Identity>,
        config: CircuitConfig,
    ) -> (Arc<Self>, mpsc::Receiver<Delivery>) {
        let (tx, rx) = mpsc::channel(MAX_QUEUED_DELIVERIES);
        (
            Arc::new(Circuits {
                relay: Mutex::new(CircuitRelay::new(identity, config, Box::new(OsRandom))),
                view: RwLock::new(None),
                deliveries: tx,
                metrics: Mutex::new(None),
                answered: AtomicBool::new(false),
            }),
            rx,
        )
    }

    /// The registry the relay looks next hops up in.
    pub(super) fn set_view(&self, view: Arc<RegistryView>) {
        let addrs = view.nodes_by_key.values().map(|e| e.addr).collect();
        *self.view.write().unwrap_or_else(|p| p.into_inner()) =
            Some(Arc::new(Directory { view, addrs }));
    }

    pub(super) fn set_shared(&self, shared: &Arc<Shared>) {
        let m = &shared.metrics;
        *lock(&self.metrics) = Some(Arc::new(MetricsSink {
            shared: Arc::downgrade(shared),
            circuits: m.circuits.clone(),
            events: STAT_EVENTS.map(|event| {
                m.circuit_events
                    .get_or_create(&CircuitLabels { event })
                    .clone()
            }),
        }));
    }

    /// Sends everything the relay has queued, and publishes its counters.
    fn flush(&self, relay: &mut CircuitRelay, socket: &CellSocket) {
        let mut out: Vec<Transmit> = Vec::new();
        while let Some(t) = relay.poll_transmit() {
            out.push(t);
        }
        let stats = relay.stats();
        let len = relay.len();
        while let Some(d) = relay.poll_delivery() {
            if let Err(mpsc::error::TrySendError::Full(d) | mpsc::error::TrySendError::Closed(d)) =
                self.deliveries.try_send(d)
            {
                let busy = Response::error(
                    unix_now_ms(),
                    ErrorCode::Unavailable,
                    "the node is busy; retry",
                );
                relay.handle_answer(unix_now_ms(), d.circuit, d.request_id, &busy.to_frame());
                while let Some(t) = relay.poll_transmit() {
                    out.push(t);
                }
            }
        }
        send_grouped(socket, out);
        if let Some(sink) = lock(&self.metrics).as_ref() {
            sink.publish(stats, len);
        }
    }

    /// The answer to request `request_id` delivered on `circuit`: its cells
    /// are queued, and leave at the next [`Circuits::flush_answers`] (the
    /// end of the core input that answered it).
    fn answer(&self, circuit: ExitHandle, request_id: u32, response: &Response) {
        lock(&self.relay).handle_answer(unix_now_ms(), circuit, request_id, &response.to_frame());
        self.answered.store(true, Ordering::Release);
    }

    /// Sends the cells of the answers queued since the last call, if any.
    pub(super) fn flush_answers(&self, socket: &CellSocket) {
        if self.answered.swap(false, Ordering::AcqRel) {
            let mut relay = lock(&self.relay);
            self.flush(&mut relay, socket);
        }
    }
}

impl Circuits {
    /// Test networks only (`debug_accounting`): a circuit asked to be
    /// created from `from` counts as a connection from its address, as a
    /// QUIC connection would.
    fn account_create(&self, from: SocketAddr, nodes: &dyn NodeDirectory) {
        let shared = lock(&self.metrics)
            .as_ref()
            .and_then(|sink| sink.shared.upgrade());
        if let Some(shared) = shared
            && let Some(accounting) = &shared.accounting
        {
            lock(accounting).saw_connection(from.ip(), nodes.is_node(&from));
        }
    }
}

/// Sends `out`, runs of equal-length cells to one destination in one GSO
/// call. A full socket buffer drops cells, as UDP may.
fn send_grouped(socket: &CellSocket, out: Vec<Transmit>) {
    // Group by destination, keeping each destination's order.
    let mut by_dest: HashMap<SocketAddr, Vec<Vec<u8>>> = HashMap::new();
    let mut order = Vec::new();
    for t in out {
        let cells = by_dest.entry(t.to).or_insert_with(|| {
            order.push(t.to);
            Vec::new()
        });
        cells.push(t.bytes);
    }
    let max = socket.max_segments().max(1);
    for to in order {
        let Some(cells) = by_dest.remove(&to) else {
            continue;
        };
        let mut i = 0;
        while let Some(first) = cells.get(i) {
            let len = first.len();
            let mut j = i + 1;
            while j < cells.len() && j - i < max && cells.get(j).is_some_and(|c| c.len() == len) {
                j += 1;
            }
            let result = if j - i == 1 {
                socket.send(to, first)
            } else {
                let batch: Vec<u8> = cells.get(i..j).unwrap_or_default().concat();
                socket.send_segments(to, &batch, len)
            };
            if let Err(e) = result {
                debug!(error = %e, cells = j - i, "circuit cells dropped");
            }
            i = j;
        }
    }
}

impl MetricsSink {
    fn publish(&self, stats: CircuitStats, len: usize) {
        let gauge = |v: u64| i64::try_from(v).unwrap_or(i64::MAX);
        self.circuits.set(i64::try_from(len).unwrap_or(i64::MAX));
        for (g, v) in self.events.iter().zip(stat_values(stats)) {
            g.set(gauge(v));
        }
    }
}

impl CellHandler for Circuits {
    fn handle_cell(&self, from: SocketAddr, cell: &[u8], _socket: &CellSocket) {
        let view = self.view.read().unwrap_or_else(|p| p.into_inner()).clone();
        let nodes: &dyn NodeDirectory = match &view {
            Some(d) => d.as_ref(),
            None => &NoNodes,
        };
        if cell.first() == Some(&nightjar_crypto::circuit::CELL_CREATE) {
            self.account_create(from, nodes);
        }
        lock(&self.relay).handle_cell(unix_now_ms(), from, cell, nodes);
    }

    fn end_of_batch(&self, socket: &CellSocket) {
        let mut relay = lock(&self.relay);
        self.flush(&mut relay, socket);
    }
}

/// Runs the requests exits deliver through the core, as an anonymous
/// client's, and sends the answers back on their circuits.
pub(super) async fn delivery_loop(
    shared: Arc<Shared>,
    circuits: Arc<Circuits>,
    mut rx: mpsc::Receiver<Delivery>,
) {
    let mut shutdown = shared.shutdown.clone();
    loop {
        let delivery = tokio::select! {
            d = rx.recv() => d,
            _ = shutdown.changed() => return,
        };
        let Some(Delivery {
            circuit,
            request_id,
            request,
        }) = delivery
        else {
            return;
        };
        let (shared, circuits) = (shared.clone(), circuits.clone());
        // The checks run on a task of their own (a signature check must not
        // hold up the next delivery); the answer is sealed onto the circuit
        // by whoever runs the effect that answers, no task waits for it.
        tokio::spawn(async move {
            let started = Instant::now();
            if let Some(accounting) = &shared.accounting {
                lock(accounting).saw_request(&request);
            }
            accept::submit_to(
                &shared,
                None,
                Ok(request),
                started,
                Box::new(move |response| circuits.answer(circuit, request_id, &response)),
            );
        });
    }
}

/// Drops expired circuits every [`SWEEP_INTERVAL_MS`].
pub(super) async fn sweep_loop(shared: Arc<Shared>, circuits: Arc<Circuits>, socket: CellSocket) {
    let mut shutdown = shared.shutdown.clone();
    loop {
        tokio::select! {
            _ = tokio::time::sleep(Duration::from_millis(SWEEP_INTERVAL_MS)) => {}
            _ = shutdown.changed() => return,
        }
        let mut relay = lock(&circuits.relay);
        relay.handle_timeout(unix_now_ms());
        circuits.flush(&mut relay, &socket);
    }
}
