//! Onion paths, sans-IO: which guard and relays a request goes through.
//!
//! A client talks only to its [`GUARDS`] guard nodes. Every request goes
//! guard → relay → relay → destination (a swarm member); the three nodes
//! before the destination are a [`Path`]. [`PathManager`] chooses the guards,
//! builds and reuses paths, and learns from failures. It reads no clock and
//! opens no socket: callers pass the registry's nodes, the time (`now`, Unix ms or any
//! virtual clock in ms) and a
//! random-index function (`pick(n)` returns an index in `0..n`; an index out
//! of range is reduced modulo `n`, never trusted).
//!
//! The rules (those of Session's onion requests):
//!
//! - **Guards.** [`GUARDS`] distinct nodes, in distinct networks where the
//!   registry allows, kept across runs ([`GuardState`], persisted by the
//!   caller). A guard that leaves the registry is dropped; one with
//!   [`MAX_STRIKES`] consecutive failures is replaced
//!   ([`PathManager::ensure_guards`] refills).
//! - **Paths.** Three distinct nodes: one of the guards, then two relays
//!   drawn at random among the nodes that are not guards, not the
//!   destination and not struck out. A path never contains its destination.
//!   At most one path is kept per guard, and requests alternate between the
//!   guards' paths.
//! - **Network diversity.** The relays are in networks distinct from each
//!   other, from the guard and from the destination when enough such nodes
//!   exist; the constraints are relaxed step by step (first the
//!   destination's network, then the guard's, then between the relays) when
//!   the registry does not allow them, down to "distinct nodes" (a devnet
//!   with every node on 127.0.0.1). A "network" is the /24 for IPv4 and the
//!   /48 for IPv6 (the usual size of one site's allocation, so that one
//!   operator's hosts count as one network); an IPv4-mapped IPv6 address
//!   counts as its IPv4 address.
//! - **Strikes.** A node is struck when it is the hop that failed; with
//!   [`MAX_STRIKES`] strikes it is excluded for [`STRIKE_FORGET`] after its
//!   last strike (paths through it are dropped, and a guard struck out is
//!   replaced). Strikes older than [`STRIKE_FORGET`] are forgotten. A path
//!   that failed at an unknown hop is struck; with [`MAX_STRIKES`] strikes it
//!   is dropped. A path that failed at a known hop is dropped at once.
//! - **Backoff.** After consecutive failures, building a new path waits
//!   [`backoff`]`(failures)` (200 ms × 2^(failures − 1), at most 5 s) from
//!   the last failure; reusing a healthy path does not wait. Any success
//!   resets the count.

use std::collections::{HashMap, HashSet};
use std::net::{IpAddr, SocketAddr};
use std::time::Duration;

use nightjar_crypto::identity::PublicKey;
use nightjar_registry::{NodeEntry, NodeId};

/// How many guard nodes a client keeps.
pub const GUARDS: usize = 2;
/// Nodes in a path before the destination: a guard and two relays.
pub const PATH_LEN: usize = 3;
/// Relays in a path.
pub const RELAYS: usize = PATH_LEN - 1;
/// The fewest registered nodes on which a client can build onion paths:
/// its guards, the relays after a guard, and a destination, all distinct.
pub const MIN_NETWORK_NODES: usize = GUARDS + RELAYS + 1;
/// Strikes after which a node is excluded, a path dropped, or (as
/// consecutive failures) a guard replaced.
pub const MAX_STRIKES: u32 = 3;
/// How long a struck-out node stays excluded after its last strike (and how
/// long any strike is remembered).
pub const STRIKE_FORGET: Duration = Duration::from_secs(10 * 60);
/// The first build backoff after a failure.
pub const BACKOFF_BASE: Duration = Duration::from_millis(200);
/// The longest build backoff.
pub const BACKOFF_CAP: Duration = Duration::from_secs(5);
/// Most guards a saved [`GuardState`] may hold (room above [`GUARDS`] for a
/// later build that keeps more).
pub const MAX_SAVED_GUARDS: usize = 8;
/// The version byte of the [`GuardState`] encoding.
pub const GUARD_STATE_VERSION: u8 = 1;

/// Bytes of one encoded guard: node ID (32) and failure count (1).
const GUARD_RECORD_LEN: usize = 33;

/// Why no path could be given.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum PathError {
    /// Too few usable nodes for the relays of a path.
    #[error(
        "not enough usable nodes for an onion path: {have} available as relays, {need} needed; \
         add nodes to the network, refresh the registry, or wait for failing nodes to be forgiven"
    )]
    NotEnoughNodes {
        /// Nodes that could serve as relays (not a guard, not the
        /// destination, not struck out).
        have: usize,
        /// Relays a path needs.
        need: usize,
    },
    /// Paths failed recently; building another now would hammer the network.
    #[error("building onion paths is backing off after failures; retry in {} ms", .0.as_millis())]
    Backoff(Duration),
    /// No guard can be used (none chosen yet, none in the registry, all
    /// struck out, or the only one is the destination).
    #[error(
        "no usable guard node; refresh the registry and call ensure_guards to choose guards \
         (the network needs at least {MIN_NETWORK_NODES} nodes for onion paths)"
    )]
    NoGuards,
    /// Saved guard state does not decode.
    #[error(
        "saved guard state is corrupt ({0}); discard it and start from an empty guard state, \
         new guards will be chosen"
    )]
    Corrupt(String),
}

/// A path: the guard, then two relays. The destination is not part of it.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Path {
    /// Guard, first relay, second relay.
    pub hops: [NodeEntry; PATH_LEN],
}

impl Path {
    /// The guard: the node the client connects to.
    pub fn guard(&self) -> &NodeEntry {
        let [guard, _, _] = &self.hops;
        guard
    }

    /// The node IDs of the hops, in order.
    pub fn ids(&self) -> [NodeId; PATH_LEN] {
        let [a, b, c] = &self.hops;
        [a.id, b.id, c.id]
    }

    /// Whether `id` is one of the hops.
    pub fn contains(&self, id: &NodeId) -> bool {
        self.hops.iter().any(|h| h.id == *id)
    }
}

/// One saved guard.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct GuardRecord {
    /// The guard's node ID.
    pub id: NodeId,
    /// Its consecutive failures (saved as one byte, saturating at 255).
    pub failures: u32,
}

/// The guards to keep across runs, in the order they are used.
///
/// Encoding ([`GuardState::to_bytes`]): version byte [`GUARD_STATE_VERSION`],
/// a count byte (at most [`MAX_SAVED_GUARDS`]), then per guard its 32-byte
/// node ID and a failure-count byte. Nothing may follow.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct GuardState {
    /// The guards (distinct IDs).
    pub guards: Vec<GuardRecord>,
}

impl GuardState {
    /// The encoding; at most [`MAX_SAVED_GUARDS`] guards are written (the
    /// first ones), failure counts saturate at 255.
    pub fn to_bytes(&self) -> Vec<u8> {
        let records: Vec<&GuardRecord> = self.guards.iter().take(MAX_SAVED_GUARDS).collect();
        let mut out = Vec::with_capacity(2 + records.len() * GUARD_RECORD_LEN);
        out.push(GUARD_STATE_VERSION);
        out.push(u8::try_from(records.len()).unwrap_or(u8::MAX));
        for r in records {
            out.extend_from_slice(r.id.0.as_bytes());
            out.push(u8::try_from(r.failures).unwrap_or(u8::MAX));
        }
        out
    }

    /// Decode [`GuardState::to_bytes`]. Any other input (another version, a
    /// count over [`MAX_SAVED_GUARDS`], a wrong length, a node ID that is not
    /// an Ed25519 key, a repeated guard) is [`PathError::Corrupt`].
    pub fn from_bytes(bytes: &[u8]) -> Result<GuardState, PathError> {
        let corrupt = |what: String| PathError::Corrupt(what);
        let (&version, rest) = bytes.split_first().ok_or_else(|| corrupt("empty".into()))?;
        if version != GUARD_STATE_VERSION {
            return Err(corrupt(format!(
                "version {version}, this build reads {GUARD_STATE_VERSION}"
            )));
        }
        let (&count, mut rest) = rest
            .split_first()
            .ok_or_else(|| corrupt("no guard count".into()))?;
        let count = usize::from(count);
        if count > MAX_SAVED_GUARDS {
            return Err(corrupt(format!(
                "{count} guards, at most {MAX_SAVED_GUARDS} allowed"
            )));
        }
        if rest.len() != count * GUARD_RECORD_LEN {
            return Err(corrupt(format!(
                "{} bytes of guards, {} expected for {count}",
                rest.len(),
                count * GUARD_RECORD_LEN
            )));
        }
        let mut guards: Vec<GuardRecord> = Vec::with_capacity(count);
        while let Some((record, tail)) = rest.split_first_chunk::<GUARD_RECORD_LEN>() {
            rest = tail;
            let (key, failures) = record.split_at(32);
            let key = PublicKey::from_slice(key)
                .map_err(|e| corrupt(format!("a guard's node ID is not a key: {e}")))?;
            let failures = failures.first().copied().map_or(0, u32::from);
            let id = NodeId(key);
            if guards.iter().any(|g| g.id == id) {
                return Err(corrupt(format!("guard {id} is listed twice")));
            }
            guards.push(GuardRecord { id, failures });
        }
        Ok(GuardState { guards })
    }
}

/// The build backoff after `failures` consecutive failures: none for 0, then
/// 200 ms × 2^(failures − 1), at most [`BACKOFF_CAP`].
pub fn backoff(failures: u32) -> Duration {
    match failures.checked_sub(1) {
        None => Duration::ZERO,
        Some(exp) => BACKOFF_BASE
            .checked_mul(1u32 << exp.min(16))
            .unwrap_or(BACKOFF_CAP)
            .min(BACKOFF_CAP),
    }
}

/// The network a node is in, for diversity: the /24 of an IPv4 address, the
/// /48 of an IPv6 one (IPv4-mapped IPv6 counts as IPv4).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Network {
    /// The first three octets of an IPv4 address.
    V4([u8; 3]),
    /// The first six bytes of an IPv6 address.
    V6([u8; 6]),
}

impl Network {
    /// The network of `addr`.
    pub fn of(addr: &SocketAddr) -> Network {
        let ip = match addr.ip() {
            IpAddr::V6(v6) => match v6.to_ipv4_mapped() {
                Some(v4) => IpAddr::V4(v4),
                None => IpAddr::V6(v6),
            },
            v4 => v4,
        };
        match ip {
            IpAddr::V4(v4) => {
                let [a, b, c, _] = v4.octets();
                Network::V4([a, b, c])
            }
            IpAddr::V6(v6) => {
                let [a, b, c, d, e, f, ..] = v6.octets();
                Network::V6([a, b, c, d, e, f])
            }
        }
    }
}

/// What is remembered about a node's failures.
#[derive(Debug, Clone, Copy)]
struct Strikes {
    count: u32,
    last: u64,
}

/// A kept path and its strikes (failures at an unknown hop).
#[derive(Debug, Clone)]
struct Slot {
    path: Path,
    strikes: u32,
}

/// Guards, paths and strikes for one client. See the module documentation
/// for the rules.
///
/// Typical use per request: `if manager.ensure_guards(&nodes, &mut pick) {
/// save(manager.state()) }`, then `manager.path_for(&nodes, &destination,
/// now, &mut pick)`, then [`PathManager::report_success`] or
/// [`PathManager::report_failure`] (and save the state again if the guard
/// set or the failure counts matter to you).
#[derive(Debug, Clone, Default)]
pub struct PathManager {
    /// Guard node IDs, in use order.
    guards: Vec<NodeId>,
    /// Consecutive failures per guard.
    guard_failures: HashMap<NodeId, u32>,
    /// At most one path per guard.
    slots: Vec<Slot>,
    /// Strikes per node.
    strikes: HashMap<NodeId, Strikes>,
    /// Index in `guards` of the guard to try first next time.
    next_guard: usize,
    /// Consecutive failures, for the build backoff.
    failures: u32,
    /// When the latest of them was reported.
    last_failure: Option<u64>,
    /// The latest time any call passed in (for calls that take none).
    latest_now: Option<u64>,
    /// Whether guards were dropped since the last `ensure_guards`.
    guards_dropped: bool,
}

impl PathManager {
    /// A manager starting from saved guards. Only the first [`GUARDS`]
    /// distinct guards are kept; guards already at [`MAX_STRIKES`] failures
    /// are dropped (they would have been replaced).
    pub fn new(state: GuardState) -> PathManager {
        let mut manager = PathManager::default();
        for record in state.guards {
            if manager.guards.len() >= GUARDS {
                break;
            }
            if manager.guards.contains(&record.id) {
                continue;
            }
            if record.failures >= MAX_STRIKES {
                manager.guards_dropped = true;
                continue;
            }
            manager.guards.push(record.id);
            manager.guard_failures.insert(record.id, record.failures);
        }
        manager
    }

    /// The guards and their failure counts, to save.
    pub fn state(&self) -> GuardState {
        GuardState {
            guards: self
                .guards
                .iter()
                .map(|id| GuardRecord {
                    id: *id,
                    failures: self.guard_failures.get(id).copied().unwrap_or(0),
                })
                .collect(),
        }
    }

    /// The current guards' node IDs.
    pub fn guards(&self) -> &[NodeId] {
        &self.guards
    }

    /// The paths currently kept (at most one per guard).
    pub fn paths(&self) -> Vec<Path> {
        self.slots.iter().map(|s| s.path.clone()).collect()
    }

    /// Drop guards that are no longer in `nodes` (or are struck out), then
    /// fill up to [`GUARDS`] with random distinct nodes that are not struck
    /// out, in networks distinct from the other guards' where possible.
    /// Returns whether the guard set changed since the last call (including
    /// guards dropped meanwhile by failures), so the caller saves
    /// [`PathManager::state`].
    pub fn ensure_guards(
        &mut self,
        nodes: &[NodeEntry],
        pick: &mut dyn FnMut(usize) -> usize,
    ) -> bool {
        let mut changed = std::mem::take(&mut self.guards_dropped);
        let by_id = index(nodes);
        let gone: Vec<NodeId> = self
            .guards
            .iter()
            .filter(|g| !by_id.contains_key(*g) || self.struck_out(g, self.latest_now))
            .copied()
            .collect();
        for g in gone {
            self.drop_guard(&g);
            changed = true;
        }
        // Reported through `changed`.
        self.guards_dropped = false;
        let mut candidates: Vec<&NodeEntry> = distinct(nodes)
            .into_iter()
            .filter(|n| !self.guards.contains(&n.id) && !self.struck_out(&n.id, self.latest_now))
            .collect();
        while self.guards.len() < GUARDS && !candidates.is_empty() {
            let taken: HashSet<Network> = self
                .guards
                .iter()
                .filter_map(|g| by_id.get(g))
                .map(|n| Network::of(&n.addr))
                .collect();
            let diverse: Vec<usize> = (0..candidates.len())
                .filter(|&i| {
                    candidates
                        .get(i)
                        .is_some_and(|n| !taken.contains(&Network::of(&n.addr)))
                })
                .collect();
            let i = if diverse.is_empty() {
                choose(candidates.len(), pick)
            } else {
                diverse
                    .get(choose(diverse.len(), pick))
                    .copied()
                    .unwrap_or(0)
            };
            if i >= candidates.len() {
                break;
            }
            let node = candidates.swap_remove(i);
            self.guards.push(node.id);
            self.guard_failures.insert(node.id, 0);
            changed = true;
        }
        changed
    }

    /// A path to reach `destination`: a kept, healthy path that does not
    /// contain it (alternating between the guards), or a new one.
    ///
    /// Errors: [`PathError::NoGuards`] when no guard is usable (call
    /// [`PathManager::ensure_guards`]); [`PathError::Backoff`] when a new
    /// path is needed but failures were reported too recently;
    /// [`PathError::NotEnoughNodes`] when too few nodes can be relays.
    pub fn path_for(
        &mut self,
        nodes: &[NodeEntry],
        destination: &NodeEntry,
        now: u64,
        pick: &mut dyn FnMut(usize) -> usize,
    ) -> Result<Path, PathError> {
        self.observe(now);
        let by_id = index(nodes);
        // Paths whose nodes left the registry, moved, or were struck out,
        // or whose guard is no longer a guard, are gone.
        let guards = &self.guards;
        let strikes = &self.strikes;
        self.slots.retain(|s| {
            guards.contains(&s.path.guard().id)
                && s.path.hops.iter().all(|h| {
                    by_id.get(&h.id).is_some_and(|n| **n == *h)
                        && !is_struck_out(strikes, &h.id, Some(now))
                })
        });
        let count = self.guards.len();
        let order: Vec<NodeId> = (0..count)
            .filter_map(|i| self.guards.get((self.next_guard + i) % count))
            .filter(|g| {
                **g != destination.id && by_id.contains_key(*g) && !self.struck_out(g, Some(now))
            })
            .copied()
            .collect();
        if order.is_empty() {
            return Err(PathError::NoGuards);
        }
        let wait = self.backoff_remaining(now);
        let mut last_error = None;
        for guard in &order {
            match self.slots.iter().find(|s| s.path.guard().id == *guard) {
                Some(slot) if !slot.path.contains(&destination.id) => {
                    let path = slot.path.clone();
                    self.advance_past(guard);
                    return Ok(path);
                }
                // Kept for other destinations; try the other guard first.
                Some(_) => {}
                None => match wait {
                    Some(w) => last_error = Some(PathError::Backoff(w)),
                    None => match self.build(nodes, &by_id, guard, destination, now, pick) {
                        Ok(path) => return Ok(path),
                        Err(e) => last_error = Some(e),
                    },
                },
            }
        }
        if let Some(e) = last_error {
            return Err(e);
        }
        // Every usable guard's path contains the destination: replace the
        // first one's.
        if let Some(w) = wait {
            return Err(PathError::Backoff(w));
        }
        let guard = order.first().copied().ok_or(PathError::NoGuards)?;
        self.build(nodes, &by_id, &guard, destination, now, pick)
    }

    /// `path` carried a request: the guard's failures, the path's strikes,
    /// the hops' strikes and the build backoff are cleared.
    pub fn report_success(&mut self, path: &Path, now: u64) {
        self.observe(now);
        let guard = path.guard().id;
        if let Some(f) = self.guard_failures.get_mut(&guard) {
            *f = 0;
        }
        for slot in self.slots.iter_mut().filter(|s| s.path == *path) {
            slot.strikes = 0;
        }
        for id in path.ids() {
            self.strikes.remove(&id);
        }
        self.failures = 0;
        self.last_failure = None;
    }

    /// `path` failed. `failed_hop` is the index in the path of the hop that
    /// failed, when the error says:
    ///
    /// - `Some(0)`: the guard. It is struck, counts a consecutive failure
    ///   (replaced at [`MAX_STRIKES`]), and the path is dropped.
    /// - `Some(1)`, `Some(2)`: a relay. It is struck and the path is dropped.
    /// - `Some(3)`: the destination. Nothing in the path is to blame, so this
    ///   changes nothing here: strike the destination with
    ///   [`PathManager::strike_node`] (the path does not name it).
    /// - `None` (or any other index): unknown. The path is struck (dropped at
    ///   [`MAX_STRIKES`]) and the guard counts a consecutive failure.
    ///
    /// Every case but the destination's counts toward the build backoff.
    pub fn report_failure(&mut self, path: &Path, failed_hop: Option<usize>, now: u64) {
        self.observe(now);
        let guard = path.guard().id;
        match failed_hop {
            Some(3) => return,
            Some(0) => {
                self.strike_node(&guard, now);
                self.guard_failed(&guard, now);
                self.drop_path(path);
            }
            Some(hop @ (1 | 2)) => {
                if let Some(node) = path.hops.get(hop) {
                    let id = node.id;
                    self.strike_node(&id, now);
                }
                self.drop_path(path);
            }
            _ => {
                let mut dead = false;
                for slot in self.slots.iter_mut().filter(|s| s.path == *path) {
                    slot.strikes = slot.strikes.saturating_add(1);
                    dead |= slot.strikes >= MAX_STRIKES;
                }
                if dead {
                    self.drop_path(path);
                }
                self.guard_failed(&guard, now);
            }
        }
        self.failures = self.failures.saturating_add(1);
        self.last_failure = Some(now);
    }

    /// How many unforgiven strikes node `id` has (as of the latest time
    /// passed in); [`MAX_STRIKES`] or more excludes it.
    pub fn strikes_of(&self, id: &NodeId) -> u32 {
        self.strikes
            .get(id)
            .filter(|s| {
                self.latest_now
                    .is_none_or(|now| elapsed(now, s.last) < STRIKE_FORGET)
            })
            .map_or(0, |s| s.count)
    }

    /// Strike node `id` (it failed to answer, or answered wrongly). At
    /// [`MAX_STRIKES`] strikes within [`STRIKE_FORGET`] of each other it is
    /// excluded until [`STRIKE_FORGET`] after the last one: paths through it
    /// are dropped, and if it is a guard it is replaced.
    pub fn strike_node(&mut self, id: &NodeId, now: u64) {
        self.observe(now);
        let entry = self.strikes.entry(*id).or_insert(Strikes {
            count: 0,
            last: now,
        });
        entry.count = entry.count.saturating_add(1);
        entry.last = entry.last.max(now);
        if entry.count >= MAX_STRIKES {
            self.slots.retain(|s| !s.path.contains(id));
            if self.guards.contains(id) {
                self.drop_guard(id);
            }
        }
    }

    /// Record the latest time seen and forget strikes older than
    /// [`STRIKE_FORGET`].
    fn observe(&mut self, now: u64) {
        self.latest_now = Some(self.latest_now.map_or(now, |t| t.max(now)));
        self.strikes
            .retain(|_, s| elapsed(now, s.last) < STRIKE_FORGET);
    }

    fn struck_out(&self, id: &NodeId, now: Option<u64>) -> bool {
        is_struck_out(&self.strikes, id, now)
    }

    /// How long a build must still wait, if at all.
    fn backoff_remaining(&self, now: u64) -> Option<Duration> {
        let last = self.last_failure?;
        let wait = backoff(self.failures);
        let elapsed = elapsed(now, last);
        (elapsed < wait).then(|| wait.saturating_sub(elapsed))
    }

    fn guard_failed(&mut self, guard: &NodeId, now: u64) {
        let Some(failures) = self.guard_failures.get_mut(guard) else {
            return;
        };
        *failures = failures.saturating_add(1);
        if *failures >= MAX_STRIKES {
            self.drop_guard(guard);
            // Not chosen again as a guard or relay for a while.
            self.strikes.insert(
                *guard,
                Strikes {
                    count: MAX_STRIKES,
                    last: now,
                },
            );
        }
    }

    fn drop_guard(&mut self, guard: &NodeId) {
        let before = self.guards.len();
        self.guards.retain(|g| g != guard);
        self.guard_failures.remove(guard);
        self.slots.retain(|s| s.path.guard().id != *guard);
        if self.guards.len() != before {
            self.guards_dropped = true;
            self.next_guard = 0;
        }
    }

    fn drop_path(&mut self, path: &Path) {
        self.slots.retain(|s| s.path != *path);
    }

    fn advance_past(&mut self, guard: &NodeId) {
        if let Some(i) = self.guards.iter().position(|g| g == guard) {
            self.next_guard = i.saturating_add(1) % self.guards.len().max(1);
        }
    }

    /// Build, keep and return a new path from `guard` (replacing its old one).
    fn build(
        &mut self,
        nodes: &[NodeEntry],
        by_id: &HashMap<NodeId, &NodeEntry>,
        guard: &NodeId,
        destination: &NodeEntry,
        now: u64,
        pick: &mut dyn FnMut(usize) -> usize,
    ) -> Result<Path, PathError> {
        let guard_entry = by_id.get(guard).copied().ok_or(PathError::NoGuards)?;
        let candidates: Vec<&NodeEntry> = distinct(nodes)
            .into_iter()
            .filter(|n| {
                !self.guards.contains(&n.id)
                    && n.id != destination.id
                    && !self.struck_out(&n.id, Some(now))
            })
            .collect();
        let [first, second] = choose_relays(&candidates, guard_entry, destination, pick)?;
        let path = Path {
            hops: [guard_entry.clone(), first.clone(), second.clone()],
        };
        self.slots.retain(|s| s.path.guard().id != *guard);
        self.slots.push(Slot {
            path: path.clone(),
            strikes: 0,
        });
        self.advance_past(guard);
        Ok(path)
    }
}

/// How long ago `then` was at `now` (both Unix ms or any one virtual clock);
/// zero if `then` is later.
fn elapsed(now: u64, then: u64) -> Duration {
    Duration::from_millis(now.saturating_sub(then))
}

/// A duration in whole milliseconds, saturating.
pub fn millis(d: Duration) -> u64 {
    u64::try_from(d.as_millis()).unwrap_or(u64::MAX)
}

fn is_struck_out(strikes: &HashMap<NodeId, Strikes>, id: &NodeId, now: Option<u64>) -> bool {
    strikes.get(id).is_some_and(|s| {
        s.count >= MAX_STRIKES && now.is_none_or(|now| elapsed(now, s.last) < STRIKE_FORGET)
    })
}

/// The nodes by ID (the first entry of a repeated ID wins).
fn index(nodes: &[NodeEntry]) -> HashMap<NodeId, &NodeEntry> {
    let mut map = HashMap::with_capacity(nodes.len());
    for n in nodes {
        map.entry(n.id).or_insert(n);
    }
    map
}

/// The nodes without repeated IDs, in order.
fn distinct(nodes: &[NodeEntry]) -> Vec<&NodeEntry> {
    let mut seen = HashSet::with_capacity(nodes.len());
    nodes.iter().filter(|n| seen.insert(n.id)).collect()
}

/// An index in `0..len` from the caller's random function (`len` > 0).
fn choose(len: usize, pick: &mut dyn FnMut(usize) -> usize) -> usize {
    pick(len).checked_rem(len).unwrap_or(0)
}

/// Two distinct relays among `candidates`, in distinct networks, avoiding
/// the guard's and the destination's networks, relaxing those constraints
/// in turn (destination, guard, each other) when the candidates do not
/// allow them.
fn choose_relays<'a>(
    candidates: &[&'a NodeEntry],
    guard: &NodeEntry,
    destination: &NodeEntry,
    pick: &mut dyn FnMut(usize) -> usize,
) -> Result<[&'a NodeEntry; RELAYS], PathError> {
    if candidates.len() < RELAYS {
        return Err(PathError::NotEnoughNodes {
            have: candidates.len(),
            need: RELAYS,
        });
    }
    let guard_net = Network::of(&guard.addr);
    let dest_net = Network::of(&destination.addr);
    let tiers: [&[Network]; 3] = [&[guard_net, dest_net], &[guard_net], &[]];
    for avoid in tiers {
        let pool: Vec<&'a NodeEntry> = candidates
            .iter()
            .filter(|n| !avoid.contains(&Network::of(&n.addr)))
            .copied()
            .collect();
        let Some(first) = pool.get(choose(pool.len().max(1), pick)).copied() else {
            continue;
        };
        let first_net = Network::of(&first.addr);
        let rest: Vec<&'a NodeEntry> = pool
            .iter()
            .filter(|n| Network::of(&n.addr) != first_net)
            .copied()
            .collect();
        if let Some(second) = rest.get(choose(rest.len().max(1), pick)).copied() {
            return Ok([first, second]);
        }
    }
    // Every candidate is in one network: distinct nodes will do.
    let first_i = choose(candidates.len(), pick);
    let first = candidates
        .get(first_i)
        .copied()
        .ok_or(PathError::NotEnoughNodes {
            have: candidates.len(),
            need: RELAYS,
        })?;
    let rest: Vec<&'a NodeEntry> = candidates
        .iter()
        .filter(|n| n.id != first.id)
        .copied()
        .collect();
    let second =
        rest.get(choose(rest.len().max(1), pick))
            .copied()
            .ok_or(PathError::NotEnoughNodes {
                have: candidates.len(),
                need: RELAYS,
            })?;
    Ok([first, second])
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use nightjar_crypto::identity::{Identity, Seed};
    use proptest::prelude::*;

    /// A start time on the virtual clock (Unix ms).
    const T0: u64 = 1_700_000_000_000;

    fn node(i: u8, addr: &str) -> NodeEntry {
        NodeEntry {
            id: NodeId(Identity::from_seed(Seed::from_bytes([i; 32])).public_key()),
            addr: addr.parse().unwrap(),
        }
    }

    /// `n` nodes, each in its own /24.
    fn spread(n: u8) -> Vec<NodeEntry> {
        (1..=n)
            .map(|i| node(i, &format!("10.0.{i}.1:4000")))
            .collect()
    }

    /// A deterministic pseudo-random `pick`.
    fn rng(seed: u64) -> impl FnMut(usize) -> usize {
        let mut state = seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1;
        move |n| {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            usize::try_from(state % n as u64).unwrap()
        }
    }

    fn manager(nodes: &[NodeEntry], seed: u64) -> PathManager {
        let mut m = PathManager::new(GuardState::default());
        assert!(m.ensure_guards(nodes, &mut rng(seed)));
        assert_eq!(m.guards().len(), GUARDS);
        m
    }

    fn entry<'a>(nodes: &'a [NodeEntry], id: &NodeId) -> &'a NodeEntry {
        nodes.iter().find(|n| n.id == *id).unwrap()
    }

    #[test]
    fn guards_persist_across_a_state_round_trip() {
        let nodes = spread(8);
        let t0 = T0;
        let mut m = manager(&nodes, 1);
        let dest = nodes
            .iter()
            .find(|n| !m.guards().contains(&n.id))
            .unwrap()
            .clone();
        let path = m.path_for(&nodes, &dest, t0, &mut rng(2)).unwrap();
        m.report_failure(&path, None, t0);
        let state = m.state();
        assert_eq!(state.guards.iter().map(|g| g.failures).sum::<u32>(), 1);

        let bytes = state.to_bytes();
        assert_eq!(bytes.len(), 2 + GUARDS * 33);
        let decoded = GuardState::from_bytes(&bytes).unwrap();
        assert_eq!(decoded, state);
        let mut again = PathManager::new(decoded);
        assert_eq!(again.guards(), m.guards());
        assert_eq!(again.state(), state);
        assert!(
            !again.ensure_guards(&nodes, &mut rng(3)),
            "same guards kept"
        );
        assert_eq!(again.guards(), m.guards());
    }

    #[test]
    fn guard_state_rejects_bad_encodings() {
        let good = GuardState {
            guards: vec![GuardRecord {
                id: node(1, "10.0.0.1:1").id,
                failures: 2,
            }],
        }
        .to_bytes();
        assert!(GuardState::from_bytes(&good).is_ok());
        let mut other_version = good.clone();
        other_version[0] = 2;
        let mut trailing = good.clone();
        trailing.push(0);
        let mut too_many = vec![1, 9];
        too_many.extend(std::iter::repeat_n(good[2..].to_vec(), 9).flatten());
        let mut twice = vec![1, 2];
        twice.extend_from_slice(&good[2..]);
        twice.extend_from_slice(&good[2..]);
        let bad_key = (0u8..=255)
            .map(|b| [b; 32])
            .find(|k| PublicKey::from_bytes(k).is_err())
            .unwrap();
        let mut not_a_key = vec![1, 1];
        not_a_key.extend_from_slice(&bad_key);
        not_a_key.push(0);
        for bad in [
            vec![],
            vec![1],
            other_version,
            trailing,
            good[..good.len() - 1].to_vec(),
            too_many,
            twice,
            not_a_key,
        ] {
            assert!(
                matches!(GuardState::from_bytes(&bad), Err(PathError::Corrupt(_))),
                "{bad:?}"
            );
        }
        assert_eq!(
            GuardState::from_bytes(&[1, 0]).unwrap(),
            GuardState::default()
        );
    }

    proptest! {
        #[test]
        fn guard_state_from_bytes_never_panics(bytes in proptest::collection::vec(any::<u8>(), 0..400)) {
            let _ = GuardState::from_bytes(&bytes);
        }

        #[test]
        fn guard_state_from_bytes_never_panics_on_plausible_headers(
            count in 0u8..=10,
            body in proptest::collection::vec(any::<u8>(), 0..350),
        ) {
            let mut bytes = vec![GUARD_STATE_VERSION, count];
            bytes.extend_from_slice(&body);
            if let Ok(state) = GuardState::from_bytes(&bytes) {
                prop_assert_eq!(state.to_bytes(), bytes);
            }
        }
    }

    #[test]
    fn path_never_contains_the_destination_and_hops_are_distinct() {
        let mut nodes = spread(7);
        // Some nodes sharing networks too.
        nodes.push(node(20, "10.0.1.2:4000"));
        nodes.push(node(21, "10.0.2.2:4000"));
        for seed in 0..200u64 {
            let mut m = manager(&nodes, seed);
            let mut pick = rng(seed + 1000);
            let t0 = T0;
            for (k, dest) in nodes.iter().enumerate() {
                let path = m.path_for(&nodes, dest, t0, &mut pick).unwrap();
                assert!(!path.contains(&dest.id), "seed {seed}, destination {k}");
                let ids = path.ids();
                let unique: HashSet<NodeId> = ids.iter().copied().collect();
                assert_eq!(unique.len(), PATH_LEN, "seed {seed}");
                assert!(m.guards().contains(&path.guard().id));
                for relay in &ids[1..] {
                    assert!(!m.guards().contains(relay));
                }
            }
            assert!(m.paths().len() <= GUARDS);
        }
    }

    #[test]
    fn a_guard_that_is_the_destination_is_not_used() {
        let nodes = spread(6);
        let mut m = manager(&nodes, 5);
        let guard0 = entry(&nodes, &m.guards()[0]).clone();
        let guard1 = m.guards()[1];
        let t0 = T0;
        for _ in 0..4 {
            let path = m.path_for(&nodes, &guard0, t0, &mut rng(9)).unwrap();
            assert_eq!(path.guard().id, guard1);
        }
    }

    #[test]
    fn requests_alternate_between_the_guards_paths() {
        let nodes = spread(8);
        let mut m = manager(&nodes, 11);
        let dest = nodes
            .iter()
            .find(|n| !m.guards().contains(&n.id))
            .unwrap()
            .clone();
        let t0 = T0;
        let mut pick = rng(12);
        let first: Vec<Path> = (0..2)
            .map(|_| m.path_for(&nodes, &dest, t0, &mut pick).unwrap())
            .collect();
        // Another destination that is in neither path.
        let dest = nodes
            .iter()
            .find(|n| !m.guards().contains(&n.id) && !first.iter().any(|p| p.contains(&n.id)))
            .unwrap()
            .clone();
        let again: Vec<Path> = (0..4)
            .map(|_| m.path_for(&nodes, &dest, t0, &mut pick).unwrap())
            .collect();
        assert_ne!(first[0].guard(), first[1].guard());
        assert_eq!(
            again,
            [&first[..], &first[..]].concat(),
            "paths reused in turn"
        );
        assert_eq!(m.paths().len(), GUARDS);
    }

    #[test]
    fn relays_are_in_distinct_networks_when_possible() {
        // Guards will be in 10.0.1/24 and 10.0.2/24 (the only nodes there
        // besides others in the same two networks would not matter).
        let nodes = vec![
            node(1, "10.0.1.1:4000"),
            node(2, "10.0.2.1:4000"),
            node(3, "10.0.3.1:4000"),
            node(4, "10.0.3.2:4000"),
            node(5, "10.0.3.3:4000"),
            node(6, "10.0.4.1:4000"),
            node(7, "10.0.5.1:4000"),
            node(8, "10.0.5.2:4000"),
            node(9, "10.0.1.2:4000"),
        ];
        let dest = nodes[6].clone();
        for seed in 0..200u64 {
            let state = GuardState {
                guards: vec![
                    GuardRecord {
                        id: nodes[0].id,
                        failures: 0,
                    },
                    GuardRecord {
                        id: nodes[1].id,
                        failures: 0,
                    },
                ],
            };
            let mut m = PathManager::new(state);
            assert!(!m.ensure_guards(&nodes, &mut rng(seed)));
            let path = m.path_for(&nodes, &dest, T0, &mut rng(seed)).unwrap();
            let mut nets: Vec<Network> = path.hops.iter().map(|h| Network::of(&h.addr)).collect();
            nets.push(Network::of(&dest.addr));
            let unique: HashSet<Network> = nets.iter().copied().collect();
            assert_eq!(unique.len(), 4, "seed {seed}: {path:?}");
        }
    }

    #[test]
    fn guards_are_in_distinct_networks_when_possible() {
        let nodes = vec![
            node(1, "10.0.1.1:4000"),
            node(2, "10.0.1.2:4000"),
            node(3, "10.0.1.3:4000"),
            node(4, "10.0.1.4:4000"),
            node(5, "10.0.9.1:4000"),
        ];
        for seed in 0..100u64 {
            let m = manager(&nodes, seed);
            let nets: HashSet<Network> = m
                .guards()
                .iter()
                .map(|g| Network::of(&entry(&nodes, g).addr))
                .collect();
            assert_eq!(nets.len(), GUARDS, "seed {seed}");
        }
    }

    #[test]
    fn paths_fall_back_to_distinct_nodes_when_all_share_a_network() {
        let nodes: Vec<NodeEntry> = (1..=6)
            .map(|i| node(i, &format!("127.0.0.1:{}", 4000 + u16::from(i))))
            .collect();
        for seed in 0..100u64 {
            let mut m = manager(&nodes, seed);
            let dest = nodes
                .iter()
                .find(|n| !m.guards().contains(&n.id))
                .unwrap()
                .clone();
            let path = m.path_for(&nodes, &dest, T0, &mut rng(seed)).unwrap();
            let unique: HashSet<NodeId> = path.ids().into_iter().collect();
            assert_eq!(unique.len(), PATH_LEN);
            assert!(!path.contains(&dest.id));
        }
    }

    #[test]
    fn too_few_nodes_is_a_clear_error() {
        let nodes = spread(4);
        let mut m = manager(&nodes, 1);
        let dest = nodes
            .iter()
            .find(|n| !m.guards().contains(&n.id))
            .unwrap()
            .clone();
        assert_eq!(
            m.path_for(&nodes, &dest, T0, &mut rng(1)),
            Err(PathError::NotEnoughNodes { have: 1, need: 2 })
        );
        let mut empty = PathManager::new(GuardState::default());
        assert_eq!(
            empty.path_for(&nodes, &dest, T0, &mut rng(1)),
            Err(PathError::NoGuards)
        );
    }

    #[test]
    fn a_guard_failing_three_times_is_replaced_and_the_other_kept() {
        let nodes = spread(8);
        let mut m = manager(&nodes, 3);
        let [failing, kept] = [m.guards()[0], m.guards()[1]];
        let dest = nodes
            .iter()
            .find(|n| !m.guards().contains(&n.id))
            .unwrap()
            .clone();
        let mut now = T0;
        let mut pick = rng(4);
        let mut failed = 0;
        while failed < MAX_STRIKES {
            let path = m.path_for(&nodes, &dest, now, &mut pick).unwrap();
            if path.guard().id == failing {
                m.report_failure(&path, Some(0), now);
                failed += 1;
                assert_eq!(m.guards().contains(&failing), failed < MAX_STRIKES);
            }
            now += millis(BACKOFF_CAP);
        }
        assert_eq!(m.guards(), [kept]);
        assert!(m.ensure_guards(&nodes, &mut pick), "refilled");
        assert_eq!(m.guards().len(), GUARDS);
        assert_eq!(m.guards()[0], kept);
        assert!(!m.guards().contains(&failing));
        for _ in 0..4 {
            let path = m.path_for(&nodes, &dest, now, &mut pick).unwrap();
            assert!(!path.contains(&failing));
        }
    }

    #[test]
    fn unknown_failures_drop_a_path_after_three_strikes_and_success_clears_them() {
        let nodes = spread(8);
        let mut m = manager(&nodes, 6);
        let guard = m.guards()[0];
        let dest = nodes
            .iter()
            .find(|n| !m.guards().contains(&n.id))
            .unwrap()
            .clone();
        let now = T0;
        let path = m.path_for(&nodes, &dest, now, &mut rng(1)).unwrap();
        assert_eq!(path.guard().id, guard);
        m.report_failure(&path, None, now);
        m.report_failure(&path, None, now);
        assert!(m.paths().contains(&path), "kept after two strikes");
        m.report_success(&path, now);
        assert!(m.state().guards.iter().all(|g| g.failures == 0));
        m.report_failure(&path, None, now);
        m.report_failure(&path, None, now);
        assert!(m.paths().contains(&path), "success cleared the strikes");
        m.report_failure(&path, None, now);
        assert!(!m.paths().contains(&path), "dropped at three strikes");
        assert!(!m.guards().contains(&guard), "three consecutive failures");
    }

    #[test]
    fn a_destination_failure_strikes_nothing_in_the_path() {
        let nodes = spread(8);
        let mut m = manager(&nodes, 7);
        let dest = nodes
            .iter()
            .find(|n| !m.guards().contains(&n.id))
            .unwrap()
            .clone();
        let now = T0;
        let path = m.path_for(&nodes, &dest, now, &mut rng(1)).unwrap();
        for _ in 0..5 {
            m.report_failure(&path, Some(3), now);
            m.strike_node(&dest.id, now);
        }
        assert!(m.paths().contains(&path));
        assert_eq!(m.state().guards.iter().map(|g| g.failures).sum::<u32>(), 0);
        // The struck-out destination is not a relay for other destinations.
        let other = nodes
            .iter()
            .find(|n| !m.guards().contains(&n.id) && n.id != dest.id)
            .unwrap()
            .clone();
        for seed in 0..50 {
            let mut fresh = m.clone();
            fresh.slots.clear();
            let p = fresh.path_for(&nodes, &other, now, &mut rng(seed)).unwrap();
            assert!(!p.contains(&dest.id));
        }
    }

    #[test]
    fn a_struck_out_node_is_unused_for_ten_minutes_then_used_again() {
        // Two guards, two possible relays, one destination.
        let nodes = spread(5);
        let mut m = manager(&nodes, 8);
        let relays: Vec<&NodeEntry> = nodes
            .iter()
            .filter(|n| !m.guards().contains(&n.id))
            .collect();
        let dest = relays[0].clone();
        let struck = relays[1].id;
        let t0 = T0;
        let path = m.path_for(&nodes, &dest, t0, &mut rng(1)).unwrap();
        assert!(path.contains(&struck));
        for _ in 0..MAX_STRIKES {
            m.strike_node(&struck, t0);
        }
        assert!(m.paths().is_empty(), "paths through it dropped");
        for later in [
            Duration::ZERO,
            Duration::from_secs(60),
            STRIKE_FORGET - Duration::from_secs(1),
        ] {
            assert_eq!(
                m.path_for(&nodes, &dest, t0 + millis(later), &mut rng(2)),
                Err(PathError::NotEnoughNodes { have: 1, need: 2 }),
                "{later:?}"
            );
        }
        let path = m
            .path_for(&nodes, &dest, t0 + millis(STRIKE_FORGET), &mut rng(3))
            .unwrap();
        assert!(path.contains(&struck));
    }

    #[test]
    fn backoff_doubles_and_caps() {
        assert_eq!(backoff(0), Duration::ZERO);
        assert_eq!(backoff(1), Duration::from_millis(200));
        assert_eq!(backoff(2), Duration::from_millis(400));
        assert_eq!(backoff(3), Duration::from_millis(800));
        assert_eq!(backoff(5), Duration::from_millis(3200));
        assert_eq!(backoff(6), BACKOFF_CAP);
        assert_eq!(backoff(u32::MAX), BACKOFF_CAP);

        let nodes = spread(12);
        let mut m = manager(&nodes, 9);
        let dest = nodes
            .iter()
            .find(|n| !m.guards().contains(&n.id))
            .unwrap()
            .clone();
        let mut now = T0;
        let mut pick = rng(10);
        let mut seen = Vec::new();
        for _ in 0..7 {
            // Fail every kept path at a relay, so a new one must be built.
            for path in m.paths() {
                m.report_failure(&path, Some(1), now);
            }
            if let Ok(path) = m.path_for(&nodes, &dest, now, &mut pick) {
                m.report_failure(&path, Some(2), now);
            }
            let Err(PathError::Backoff(wait)) = m.path_for(&nodes, &dest, now, &mut pick) else {
                panic!("no backoff after a failure");
            };
            seen.push(wait);
            let almost = now + millis(wait) - 1;
            assert_eq!(
                m.path_for(&nodes, &dest, almost, &mut pick),
                Err(PathError::Backoff(Duration::from_millis(1)))
            );
            now += millis(wait);
            assert!(m.path_for(&nodes, &dest, now, &mut pick).is_ok());
            // Forgive the relays' strikes so relays stay available.
            m.strikes.clear();
        }
        let ms = |v: u64| Duration::from_millis(v);
        assert_eq!(
            seen,
            [
                ms(200),
                ms(400),
                ms(800),
                ms(1600),
                ms(3200),
                ms(5000),
                ms(5000)
            ]
        );

        let path = m.path_for(&nodes, &dest, now, &mut pick).unwrap();
        m.report_success(&path, now);
        m.slots.clear();
        assert!(
            m.path_for(&nodes, &dest, now, &mut pick).is_ok(),
            "success reset the backoff"
        );
        m.report_failure(&m.paths()[0], Some(1), now);
        m.slots.clear();
        assert_eq!(
            m.path_for(&nodes, &dest, now, &mut pick),
            Err(PathError::Backoff(BACKOFF_BASE))
        );
    }

    #[test]
    fn ipv6_networks_are_slash_48() {
        let a: SocketAddr = "[2001:db8:1::1]:1".parse().unwrap();
        let b: SocketAddr = "[2001:db8:1:ffff::2]:2".parse().unwrap();
        let c: SocketAddr = "[2001:db8:2::1]:1".parse().unwrap();
        assert_eq!(Network::of(&a), Network::of(&b));
        assert_ne!(Network::of(&a), Network::of(&c));
        let mapped: SocketAddr = "[::ffff:10.0.1.7]:1".parse().unwrap();
        let v4: SocketAddr = "10.0.1.200:9".parse().unwrap();
        assert_eq!(Network::of(&mapped), Network::of(&v4));
    }

    #[test]
    fn guards_that_leave_the_registry_are_replaced() {
        let nodes = spread(6);
        let mut m = manager(&nodes, 13);
        let [gone, kept] = [m.guards()[0], m.guards()[1]];
        let remaining: Vec<NodeEntry> = nodes.iter().filter(|n| n.id != gone).cloned().collect();
        assert!(m.ensure_guards(&remaining, &mut rng(14)));
        assert_eq!(m.guards().len(), GUARDS);
        assert_eq!(m.guards()[0], kept);
        assert!(!m.guards().contains(&gone));
        assert!(!m.ensure_guards(&remaining, &mut rng(15)));
    }
}
