//! Swarms: the registry log replayed into a map of node groups.
//!
//! Service nodes are grouped into **swarms**; every member of a swarm holds a
//! replica of the mailboxes of the accounts mapped to that swarm. The map is
//! a pure function of the registry log, so every node and client that
//! replays the same log gets the same swarms. This module does no I/O.
//!
//! # Placement rules
//!
//! (Normative; this text is meant to be pasted into `docs/PROTOCOL.md`.)
//!
//! Constants: `MIN = 5`, `TARGET = 7`, `MAX = 10` (swarm members).
//!
//! **Log.** The registry log is the genesis nodes as joins, in file order,
//! followed by the `[[events]]`, in file order. The map starts empty and
//! applies the events one by one. A join of a node that is already in the
//! map, or an exit or contact change of a node that is not, makes the log
//! invalid. A contact change replaces the node's address and moves nothing.
//!
//! **Orderings.** Node IDs compare as their 32 key bytes, lexicographically
//! (the same order as their hex). *The smallest swarm* is the swarm with the
//! fewest members, ties broken by the lowest swarm ID; *the largest swarm* is
//! the one with the most members, ties broken by the lowest swarm ID; *the
//! lowest member* of a swarm is its member with the lowest node ID.
//!
//! **Swarm IDs.** A swarm ID is a point on the ring of 2^64 positions
//! (arithmetic mod 2^64). When there are `S` swarms, their IDs are exactly
//! `c(0), …, c(S−1)`, where `c(0) = 0` and, for `i ≥ 1` with
//! `k = ⌊log2 i⌋`, `c(i) = (2·(i − 2^k) + 1) · 2^(63−k)`; that is
//! 0, 2^63, 2^62, 3·2^62, 2^61, 3·2^61, 5·2^61, 7·2^61, 2^60, …
//! Equivalently: a new swarm takes the midpoint of the largest gap between
//! consecutive swarm IDs going round the ring (ties: the gap that starts at
//! the lowest ID; a single swarm at `s` leaves one gap, the whole ring, whose
//! midpoint is `s + 2^63`), and the swarm that is retired is always the one
//! created last, `c(S−1)`. A single swarm therefore always has ID 0.
//!
//! **Accounts.** An account belongs to the swarm whose ID is nearest to the
//! account's ring position `p = u64 BE of BLAKE2b-8(key =
//! "nightjar/v1/ring-position", account key (32 bytes))`, where the distance
//! between `a` and `b` is `min(a − b, b − a)` (mod 2^64); when two swarm IDs
//! are equally near, the numerically lower ID wins.
//!
//! **Join** of node `n`, with `N` nodes and `S` swarms before it:
//!
//! 1. If `S = 0`: create swarm `c(0) = 0` with `n` as its only member.
//! 2. Else, if every swarm has at least `TARGET` members and
//!    `N + 1 > MIN·(S + 1)`: create swarm `c(S)`. Its members are `n` and
//!    `MIN − 1` existing nodes, taken one at a time: each time, the lowest
//!    member of the (then) largest of the `S` existing swarms moves to the new
//!    swarm.
//! 3. Else `n` joins the smallest swarm.
//!
//! **Exit** of node `n`, a member of swarm `X`, with `S` swarms before it:
//!
//! 1. Remove `n` from `X`. If `X` is now empty (it was the only swarm),
//!    remove it: the map is empty.
//! 2. Else, if `S ≥ 2` and `X` has fewer than `MIN` members:
//!    1. if the largest swarm has more than `MIN` members, its lowest member
//!       moves to `X`;
//!    2. otherwise (every other swarm has exactly `MIN` members) retire swarm
//!       `L = c(S−1)` (possibly `X` itself): remove it and re-add its members
//!       one at a time in node-ID order, each to the (then) smallest swarm.
//!       (Rule 2 of *Join* does not apply here.)
//!
//! # Guarantees
//!
//! * Every node is in exactly one swarm.
//! * With fewer than `MIN` nodes there is one swarm (ID 0) holding them all.
//!   A lone swarm has at most `MAX` members (it splits when an eleventh node
//!   joins); with two or more swarms every swarm has `MIN..=8` members. So
//!   once there are at least `MIN` nodes, every swarm has `MIN..=MAX`
//!   members. With three or more swarms a join never makes a swarm larger
//!   than `TARGET` (rule 2 applies as soon as every swarm has `TARGET`).
//! * **Nodes moved per event.** Apart from the joining or exiting node, a
//!   join moves at most `MIN − 1 = 4` nodes to another swarm (only when it
//!   creates a swarm), an exit at most `MIN = 5` (one when it refills `X`,
//!   `MIN` or `MIN − 1` when it retires a swarm).
//! * **Accounts moved per event.** The set of swarm IDs depends only on the
//!   number of swarms, and an account's swarm depends only on that set, so an
//!   event that leaves the swarm count unchanged moves no account. An event
//!   that changes it between `S` and `S + 1` (`S ≥ 1`) moves exactly the
//!   accounts whose position lies within `2^(62−k)` of `c(S)`, with
//!   `k = ⌊log2 S⌋`: a share `2^−(k+1) ≤ 1/(S+1)` of the ring. On creation
//!   they all move from the two ring neighbours of `c(S)` into `c(S)`; on
//!   retirement they all move from `c(S)` to those neighbours. No other
//!   account changes swarm. So one join or exit moves at most
//!   `1/max(S_before, S_after)` of all accounts — the share that a fair new
//!   swarm must receive anyway — and usually none.
//! * **Hysteresis.** A swarm is created only when every swarm has at least
//!   `TARGET` members, and going from `S` to `S + 1` swarms needs more than
//!   `MIN·(S+1)` nodes; going back from `S + 1` to `S` happens only when every
//!   swarm is down to `MIN` and one falls below it, i.e. at exactly
//!   `MIN·(S+1) − 1` nodes. So after a creation at least two exits are
//!   needed before a retirement, and after a retirement at least two joins
//!   before a creation: a node that flaps in and out never makes accounts
//!   move back and forth.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt;
use std::str::FromStr;
use std::sync::Arc;

use nightjar_crypto::hash::ring_position;
use nightjar_crypto::identity::PublicKey;

use crate::{EventProblem, NodeEntry, NodeId, RegistryError};

/// `MIN`: a swarm never has fewer members once there are two or more swarms.
pub const MIN_SWARM_SIZE: usize = 5;
/// `TARGET`: a new swarm is created once every swarm has this many members.
pub const TARGET_SWARM_SIZE: usize = 7;
/// `MAX`: a swarm never has more members (only a lone swarm reaches it).
pub const MAX_SWARM_SIZE: usize = 10;

/// One entry of the registry log.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RegistryEvent {
    /// A node enters the network.
    Join {
        /// The node and its address.
        node: NodeEntry,
    },
    /// A node leaves the network.
    Exit {
        /// The node.
        id: NodeId,
    },
    /// A node in the network moves to another address; it stays in its
    /// swarm and nothing else changes (the chain's `ContactUpdated`,
    /// `docs/PROTOCOL.md` §13.4).
    Contact {
        /// The node, with its new address.
        node: NodeEntry,
    },
}

/// A swarm's ID: its point on the 64-bit ring, shown as exactly 16 lowercase
/// hex digits.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct SwarmId(pub u64);

impl SwarmId {
    /// The ID of the swarm created `index`-th (0-based): `c(index)` in the
    /// placement rules. While there are `S` swarms their IDs are exactly
    /// `nth(0), …, nth(S − 1)`.
    pub fn nth(index: u64) -> SwarmId {
        if index == 0 {
            return SwarmId(0);
        }
        // k = ⌊log2 index⌋; j < 2^k, so (2j + 1) < 2^(k+1) and the shift by
        // 63 − k stays below 2^64.
        let k = 63 - index.leading_zeros();
        let j = index - (1u64 << k);
        SwarmId((2 * j + 1) << (63 - k))
    }

    /// Distance on the ring between this ID and `position`.
    pub fn distance(self, position: u64) -> u64 {
        self.0
            .wrapping_sub(position)
            .min(position.wrapping_sub(self.0))
    }
}

impl fmt::Display for SwarmId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:016x}", self.0)
    }
}

/// A string is not a swarm ID (exactly 16 lowercase hex digits).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("a swarm ID is exactly 16 lowercase hex digits")]
#[non_exhaustive]
pub struct ParseSwarmIdError;

impl FromStr for SwarmId {
    type Err = ParseSwarmIdError;
    fn from_str(s: &str) -> Result<SwarmId, ParseSwarmIdError> {
        if s.len() != 16 || !s.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f')) {
            return Err(ParseSwarmIdError);
        }
        u64::from_str_radix(s, 16)
            .map(SwarmId)
            .map_err(|_| ParseSwarmIdError)
    }
}

/// The swarms, built by replaying the registry log with the rules in the
/// [module documentation](self).
///
/// Lookups are `O(log n)`; applying an event is `O(log n)` (a retirement
/// re-adds at most `MIN` nodes). Each swarm keeps its members' entries
/// ready, so [`SwarmMap::member_slice`] and [`SwarmMap::members_shared`]
/// copy nothing.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SwarmMap {
    /// Events applied.
    height: u64,
    /// Every node, with its swarm.
    nodes: BTreeMap<NodeId, (NodeEntry, SwarmId)>,
    /// Every swarm, with its members.
    swarms: BTreeMap<SwarmId, Swarm>,
    /// (member count, swarm ID) of every swarm, for smallest/largest.
    by_size: BTreeSet<(usize, SwarmId)>,
    /// Swarms whose `entries` no longer match their `ids` (or that no longer
    /// exist). Empty whenever a public method returns: [`SwarmMap::apply`]
    /// ends with [`SwarmMap::refresh`], [`SwarmMap::replay`] with
    /// [`SwarmMap::refresh_all`].
    stale: BTreeSet<SwarmId>,
}

/// One swarm's members.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Swarm {
    /// The member IDs (the source of truth; the rules work on these).
    ids: BTreeSet<NodeId>,
    /// The members' entries, in `ids` order: a function of `ids` and the
    /// node map, rebuilt after every event that changes `ids` or a member's
    /// address (a contact change):
    /// by [`SwarmMap::refresh`] after one event, by [`SwarmMap::refresh_all`]
    /// once at the end of a replay. Shared, so a caller can keep it without
    /// copying and a clone of the map shares it.
    entries: Arc<[NodeEntry]>,
}

impl Swarm {
    fn new() -> Swarm {
        Swarm {
            ids: BTreeSet::new(),
            entries: Arc::from(Vec::new()),
        }
    }
}

impl SwarmMap {
    /// An empty map (height 0, no nodes, no swarms).
    pub fn new() -> SwarmMap {
        SwarmMap::default()
    }

    /// Replays `events` from an empty map.
    ///
    /// Fails with [`RegistryError::EventRejected`] at the first event that
    /// does not fit (its `position` is its index in `events`).
    pub fn replay(events: &[RegistryEvent]) -> Result<SwarmMap, RegistryError> {
        let mut map = SwarmMap::new();
        for event in events {
            map.apply_deferred(event)?;
        }
        map.refresh_all();
        Ok(map)
    }

    /// Applies one event.
    ///
    /// A join of a node already in the map, or an exit or contact change of a
    /// node that is not, fails with [`RegistryError::EventRejected`] (whose
    /// `position` is this map's height) and leaves the map unchanged.
    pub fn apply(&mut self, event: &RegistryEvent) -> Result<(), RegistryError> {
        let result = self.apply_deferred(event);
        self.refresh();
        result
    }

    /// [`SwarmMap::apply`] without rebuilding the swarms' shared entries:
    /// the caller must call [`SwarmMap::refresh`] or [`SwarmMap::refresh_all`]
    /// before the map is used (replaying a log rebuilds each swarm once
    /// instead of once per event).
    pub(crate) fn apply_deferred(&mut self, event: &RegistryEvent) -> Result<(), RegistryError> {
        let rejected = |problem| RegistryError::EventRejected {
            position: self.height,
            problem: Box::new(problem),
        };
        match event {
            RegistryEvent::Join { node } => {
                if self.nodes.contains_key(&node.id) {
                    return Err(rejected(EventProblem::AlreadyJoined(node.id)));
                }
                self.join(node);
            }
            RegistryEvent::Exit { id } => {
                if !self.nodes.contains_key(id) {
                    return Err(rejected(EventProblem::NotJoined(*id)));
                }
                self.exit(id);
            }
            RegistryEvent::Contact { node } => {
                let Some((entry, swarm)) = self.nodes.get_mut(&node.id) else {
                    return Err(rejected(EventProblem::NotJoined(node.id)));
                };
                entry.addr = node.addr;
                // Its swarm's shared entries carry the old address.
                self.stale.insert(*swarm);
            }
        }
        self.height += 1;
        Ok(())
    }

    /// How many events have been applied.
    pub fn height(&self) -> u64 {
        self.height
    }

    /// How many nodes are in the network.
    pub fn node_count(&self) -> usize {
        self.nodes.len()
    }

    /// How many swarms there are.
    pub fn swarm_count(&self) -> usize {
        self.swarms.len()
    }

    /// Every node, sorted by node ID.
    pub fn nodes(&self) -> Vec<NodeEntry> {
        self.nodes
            .values()
            .map(|(entry, _)| entry.clone())
            .collect()
    }

    /// One node, if it is in the network.
    pub fn node(&self, id: &NodeId) -> Option<&NodeEntry> {
        self.nodes.get(id).map(|(entry, _)| entry)
    }

    /// The swarm IDs, ascending.
    pub fn swarm_ids(&self) -> Vec<SwarmId> {
        self.swarms.keys().copied().collect()
    }

    /// Every swarm with its members, sorted by swarm ID; members sorted by
    /// node ID.
    pub fn swarms(&self) -> Vec<(SwarmId, Vec<NodeEntry>)> {
        self.swarms
            .iter()
            .map(|(id, swarm)| (*id, swarm.entries.to_vec()))
            .collect()
    }

    /// The members of `swarm`, sorted by node ID, as a new `Vec` (a copy of
    /// [`SwarmMap::member_slice`]); `None` if there is no such swarm.
    ///
    /// Prefer [`SwarmMap::member_slice`] or [`SwarmMap::members_shared`]
    /// where a borrowed or shared list will do: they copy nothing.
    pub fn members(&self, swarm: SwarmId) -> Option<Vec<NodeEntry>> {
        self.member_slice(swarm).map(<[NodeEntry]>::to_vec)
    }

    /// The members of `swarm`, sorted by node ID, borrowed from the map
    /// (nothing is copied); `None` if there is no such swarm.
    pub fn member_slice(&self, swarm: SwarmId) -> Option<&[NodeEntry]> {
        self.swarms.get(&swarm).map(|s| &*s.entries)
    }

    /// The members of `swarm`, sorted by node ID, shared with the map: the
    /// entries are not copied (cloning the `Arc` is one atomic increment),
    /// and the list stays valid, unchanged, after the map changes or is
    /// dropped. `None` if there is no such swarm.
    pub fn members_shared(&self, swarm: SwarmId) -> Option<Arc<[NodeEntry]>> {
        self.swarms.get(&swarm).map(|s| Arc::clone(&s.entries))
    }

    /// The swarm `id` is a member of.
    pub fn swarm_of_node(&self, id: &NodeId) -> Option<SwarmId> {
        self.nodes.get(id).map(|(_, swarm)| *swarm)
    }

    /// The swarm that holds `account`'s mailbox: the swarm whose ID is
    /// nearest to [`ring_position`]`(account)`; `None` if there are no
    /// swarms.
    pub fn swarm_for_account(&self, account: &PublicKey) -> Option<SwarmId> {
        self.swarm_for_position(ring_position(account))
    }

    /// The swarm whose ID is nearest to `position` on the ring (ties: the
    /// lower ID); `None` if there are no swarms.
    pub fn swarm_for_position(&self, position: u64) -> Option<SwarmId> {
        // The nearest ID is the first one at or after `position` or the last
        // one before it, going round the ring.
        let after = self
            .swarms
            .range(SwarmId(position)..)
            .next()
            .or_else(|| self.swarms.first_key_value())?;
        let before = self
            .swarms
            .range(..SwarmId(position))
            .next_back()
            .or_else(|| self.swarms.last_key_value())?;
        let (a, b) = (*after.0, *before.0);
        Some(match a.distance(position).cmp(&b.distance(position)) {
            std::cmp::Ordering::Less => a,
            std::cmp::Ordering::Greater => b,
            std::cmp::Ordering::Equal => a.min(b),
        })
    }

    /// Rebuilds the shared entries of every stale swarm from its member IDs
    /// and the node map.
    pub(crate) fn refresh(&mut self) {
        for id in std::mem::take(&mut self.stale) {
            if let Some(swarm) = self.swarms.get_mut(&id) {
                swarm.entries = swarm
                    .ids
                    .iter()
                    .filter_map(|id| self.nodes.get(id).map(|(entry, _)| entry.clone()))
                    .collect();
            }
        }
    }

    /// Rebuilds the shared entries of every swarm in one pass over the node
    /// map (in node-ID order, so each swarm's list comes out sorted), with no
    /// per-member lookup: what a replay does once at the end.
    pub(crate) fn refresh_all(&mut self) {
        self.stale.clear();
        let mut lists: BTreeMap<SwarmId, Vec<NodeEntry>> = self
            .swarms
            .iter()
            .map(|(id, swarm)| (*id, Vec::with_capacity(swarm.ids.len())))
            .collect();
        for (entry, swarm) in self.nodes.values() {
            if let Some(list) = lists.get_mut(swarm) {
                list.push(entry.clone());
            }
        }
        for (id, swarm) in &mut self.swarms {
            swarm.entries = lists.remove(id).unwrap_or_default().into();
        }
    }

    fn size(&self, swarm: SwarmId) -> usize {
        self.swarms.get(&swarm).map_or(0, |s| s.ids.len())
    }

    /// Fewest members, ties to the lowest ID.
    fn smallest(&self) -> Option<SwarmId> {
        self.by_size.first().map(|&(_, id)| id)
    }

    /// Most members, ties to the lowest ID.
    fn largest(&self) -> Option<(usize, SwarmId)> {
        let &(most, _) = self.by_size.last()?;
        self.by_size.range((most, SwarmId(0))..).next().copied()
    }

    fn create_swarm(&mut self, swarm: SwarmId) {
        self.swarms.insert(swarm, Swarm::new());
        self.by_size.insert((0, swarm));
        self.stale.insert(swarm);
    }

    /// Removes `swarm`, returning its members (who are left without a swarm).
    fn remove_swarm(&mut self, swarm: SwarmId) -> BTreeSet<NodeId> {
        let members = self
            .swarms
            .remove(&swarm)
            .map(|s| s.ids)
            .unwrap_or_default();
        self.by_size.remove(&(members.len(), swarm));
        self.stale.remove(&swarm);
        members
    }

    /// Makes `id` (already in `nodes`) a member of `swarm`.
    fn add_member(&mut self, swarm: SwarmId, id: NodeId) {
        let Some(members) = self.swarms.get_mut(&swarm).map(|s| &mut s.ids) else {
            return;
        };
        let before = members.len();
        if members.insert(id) {
            self.by_size.remove(&(before, swarm));
            self.by_size.insert((before + 1, swarm));
            self.stale.insert(swarm);
        }
        if let Some(slot) = self.nodes.get_mut(&id) {
            slot.1 = swarm;
        }
    }

    fn remove_member(&mut self, swarm: SwarmId, id: &NodeId) {
        let Some(members) = self.swarms.get_mut(&swarm).map(|s| &mut s.ids) else {
            return;
        };
        let before = members.len();
        if members.remove(id) {
            self.by_size.remove(&(before, swarm));
            self.by_size.insert((before - 1, swarm));
            self.stale.insert(swarm);
        }
    }

    /// Removes and returns the lowest member of `swarm`.
    fn take_lowest(&mut self, swarm: SwarmId) -> Option<NodeId> {
        let id = *self.swarms.get(&swarm)?.ids.first()?;
        self.remove_member(swarm, &id);
        Some(id)
    }

    fn join(&mut self, node: &NodeEntry) {
        let before = self.nodes.len();
        let count = self.swarms.len();
        self.nodes.insert(node.id, (node.clone(), SwarmId(0)));
        let fewest = self.by_size.first().map_or(0, |&(size, _)| size);
        if count == 0 {
            let first = SwarmId::nth(0);
            self.create_swarm(first);
            self.add_member(first, node.id);
        } else if fewest >= TARGET_SWARM_SIZE && before + 1 > MIN_SWARM_SIZE * (count + 1) {
            // Rule 2: take the donors before the new swarm exists, so it is
            // never its own donor.
            let mut members = vec![node.id];
            for _ in 1..MIN_SWARM_SIZE {
                if let Some((_, donor)) = self.largest()
                    && let Some(id) = self.take_lowest(donor)
                {
                    members.push(id);
                }
            }
            let new = SwarmId::nth(count as u64);
            self.create_swarm(new);
            for id in members {
                self.add_member(new, id);
            }
        } else if let Some(smallest) = self.smallest() {
            self.add_member(smallest, node.id);
        }
    }

    fn exit(&mut self, id: &NodeId) {
        let Some((_, swarm)) = self.nodes.remove(id) else {
            return;
        };
        self.remove_member(swarm, id);
        let left = self.size(swarm);
        if left == 0 {
            // Only a lone swarm can empty (others keep ≥ MIN − 1 members).
            self.remove_swarm(swarm);
            return;
        }
        let count = self.swarms.len();
        if count < 2 || left >= MIN_SWARM_SIZE {
            return;
        }
        match self.largest() {
            Some((most, donor)) if most > MIN_SWARM_SIZE => {
                if let Some(moved) = self.take_lowest(donor) {
                    self.add_member(swarm, moved);
                }
            }
            _ => {
                let last = SwarmId::nth(count as u64 - 1);
                for member in self.remove_swarm(last) {
                    if let Some(smallest) = self.smallest() {
                        self.add_member(smallest, member);
                    }
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use crate::tests::rejection;
    use nightjar_crypto::identity::{Identity, Seed};
    use std::net::SocketAddr;

    fn key(tag: u8, i: u32) -> PublicKey {
        let mut seed = [tag; 32];
        seed[..4].copy_from_slice(&i.to_le_bytes());
        Identity::from_seed(Seed::from_bytes(seed)).public_key()
    }

    fn entry(i: u32) -> NodeEntry {
        NodeEntry {
            id: NodeId(key(1, i)),
            addr: SocketAddr::from(([127, 0, 0, 1], 1000 + (i % 60000) as u16)),
        }
    }

    fn join(i: u32) -> RegistryEvent {
        RegistryEvent::Join { node: entry(i) }
    }

    fn exit(i: u32) -> RegistryEvent {
        RegistryEvent::Exit { id: entry(i).id }
    }

    fn sizes(map: &SwarmMap) -> Vec<usize> {
        map.swarms().iter().map(|(_, m)| m.len()).collect()
    }

    /// The rule as written in the brief: midpoint of the largest gap, ties to
    /// the gap starting at the lowest ID.
    fn midpoint_of_largest_gap(ids: &[u64]) -> u64 {
        let mut sorted = ids.to_vec();
        sorted.sort_unstable();
        let mut best = (0u128, 0u64); // (gap, start)
        for (i, &start) in sorted.iter().enumerate() {
            let gap = if sorted.len() == 1 {
                1u128 << 64
            } else {
                u128::from(sorted[(i + 1) % sorted.len()].wrapping_sub(start))
            };
            // Ascending starts, strictly larger gaps: ties keep the lowest start.
            if gap > best.0 {
                best = (gap, start);
            }
        }
        best.1.wrapping_add((best.0 / 2) as u64)
    }

    #[test]
    fn swarm_ids_follow_the_largest_gap_rule() {
        assert_eq!(SwarmId::nth(0), SwarmId(0));
        assert_eq!(SwarmId::nth(1), SwarmId(1 << 63));
        assert_eq!(SwarmId::nth(2), SwarmId(1 << 62));
        assert_eq!(SwarmId::nth(3), SwarmId(3 << 62));
        assert_eq!(SwarmId::nth(4), SwarmId(1 << 61));
        assert_eq!(SwarmId::nth(7), SwarmId(7 << 61));
        assert_eq!(SwarmId::nth(u64::MAX), SwarmId(u64::MAX));
        let mut ids = vec![0u64];
        for s in 1..1100u64 {
            let next = midpoint_of_largest_gap(&ids);
            assert_eq!(SwarmId::nth(s), SwarmId(next), "swarm {s}");
            ids.push(next);
        }
    }

    #[test]
    fn swarm_id_text_is_16_lowercase_hex_digits() {
        assert_eq!(SwarmId(0).to_string(), "0000000000000000");
        assert_eq!(SwarmId(1 << 63).to_string(), "8000000000000000");
        assert_eq!(SwarmId(u64::MAX).to_string(), "ffffffffffffffff");
        for id in [0, 1, 0xdead_beef, 3 << 62, u64::MAX] {
            assert_eq!(SwarmId(id).to_string().parse::<SwarmId>(), Ok(SwarmId(id)));
        }
        for bad in [
            "",
            "0",
            "000000000000000",
            "00000000000000000",
            "DEADBEEFDEADBEEF",
            "+00000000000000f",
            "-00000000000000f",
            "000000000000000g",
            " 000000000000000",
            "00000000000000é",
        ] {
            assert_eq!(bad.parse::<SwarmId>(), Err(ParseSwarmIdError), "{bad:?}");
        }
    }

    #[test]
    fn small_networks_have_one_swarm_with_id_zero() {
        let mut map = SwarmMap::new();
        assert_eq!(map.swarm_for_position(42), None);
        for i in 0..10 {
            map.apply(&join(i)).unwrap();
            assert_eq!(map.swarm_count(), 1);
            assert_eq!(map.swarm_ids(), vec![SwarmId(0)]);
            assert_eq!(map.swarm_for_position(u64::MAX / 3), Some(SwarmId(0)));
        }
        // The eleventh join splits the lone swarm: the joiner and the four
        // lowest members of swarm 0 form swarm 2^63.
        let lowest: Vec<_> = map.members(SwarmId(0)).unwrap()[..4].to_vec();
        map.apply(&join(10)).unwrap();
        assert_eq!(sizes(&map), vec![6, 5]);
        assert_eq!(map.swarm_ids(), vec![SwarmId(0), SwarmId(1 << 63)]);
        let mut expected = lowest;
        expected.push(entry(10));
        expected.sort_by_key(|n| n.id);
        assert_eq!(map.members(SwarmId(1 << 63)), Some(expected));
        assert_eq!(map.height(), 11);
    }

    #[test]
    fn growth_creates_swarms_at_target_and_shrinking_retires_the_last() {
        let mut map = SwarmMap::new();
        for i in 0..15 {
            map.apply(&join(i)).unwrap();
        }
        // 15 nodes are exactly enough for three swarms of MIN: not more.
        assert_eq!(sizes(&map), vec![8, 7]);
        map.apply(&join(15)).unwrap();
        let new = SwarmId::nth(2);
        assert_eq!(map.swarm_ids(), vec![SwarmId(0), new, SwarmId(1 << 63)]);
        assert_eq!(sizes(&map), vec![5, 5, 6]);
        assert!(map.members(new).unwrap().contains(&entry(15)));

        // Below MIN with a donor: borrow.
        let victim = map.members(SwarmId(0)).unwrap()[0].id;
        map.apply(&RegistryEvent::Exit { id: victim }).unwrap();
        assert_eq!(sizes(&map), vec![5, 5, 5]);
        // Below MIN with no donor: the last swarm created is retired and its
        // members re-added to the smallest swarms.
        let victim = map.members(SwarmId(0)).unwrap()[0].id;
        map.apply(&RegistryEvent::Exit { id: victim }).unwrap();
        assert_eq!(map.swarm_ids(), vec![SwarmId(0), SwarmId(1 << 63)]);
        assert_eq!(sizes(&map), vec![7, 7]);
        // Hysteresis: the node coming back does not recreate the swarm.
        map.apply(&RegistryEvent::Join {
            node: NodeEntry {
                id: victim,
                addr: entry(0).addr,
            },
        })
        .unwrap();
        assert_eq!(map.swarm_count(), 2);
    }

    #[test]
    fn exit_below_min_borrows_from_the_largest_swarm() {
        let mut map = SwarmMap::new();
        for i in 0..12 {
            map.apply(&join(i)).unwrap();
        }
        assert_eq!(sizes(&map), vec![6, 6]);
        // Bring swarm 0 to MIN, then one more exit from it borrows.
        let s0 = map.members(SwarmId(0)).unwrap();
        map.apply(&RegistryEvent::Exit { id: s0[0].id }).unwrap();
        assert_eq!(sizes(&map), vec![5, 6]);
        let donor_lowest = map.members(SwarmId(1 << 63)).unwrap()[0].id;
        map.apply(&RegistryEvent::Exit { id: s0[1].id }).unwrap();
        assert_eq!(sizes(&map), vec![5, 5]);
        assert_eq!(map.swarm_of_node(&donor_lowest), Some(SwarmId(0)));
    }

    #[test]
    fn last_exit_empties_the_map_and_a_new_join_starts_at_zero() {
        let mut map = SwarmMap::replay(&[join(1), join(2), exit(1), exit(2)]).unwrap();
        assert_eq!(map.swarm_count(), 0);
        assert_eq!(map.node_count(), 0);
        assert_eq!(map.height(), 4);
        map.apply(&join(2)).unwrap();
        assert_eq!(map.swarm_of_node(&entry(2).id), Some(SwarmId(0)));
    }

    #[test]
    fn invalid_events_are_rejected_and_change_nothing() {
        let mut map = SwarmMap::replay(&[join(1), join(2)]).unwrap();
        let before = map.clone();
        assert_eq!(
            rejection(map.apply(&join(1))),
            Some((2, EventProblem::AlreadyJoined(entry(1).id)))
        );
        assert_eq!(map, before);
        assert_eq!(
            rejection(map.apply(&exit(3))),
            Some((2, EventProblem::NotJoined(entry(3).id)))
        );
        assert_eq!(map, before);
        assert_eq!(
            rejection(SwarmMap::replay(&[join(1), exit(1), exit(1)])),
            Some((2, EventProblem::NotJoined(entry(1).id)))
        );
    }

    /// xorshift64*: a fixed seed gives the same event sequence on every run.
    struct Rng(u64);

    impl Rng {
        fn next(&mut self) -> u64 {
            self.0 ^= self.0 >> 12;
            self.0 ^= self.0 << 25;
            self.0 ^= self.0 >> 27;
            self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
        }

        fn below(&mut self, n: usize) -> usize {
            (self.next() % n as u64) as usize
        }
    }

    /// The members of `swarm` the slow way, as `members` used to get them:
    /// each member ID looked up again in the node map.
    fn members_slow(map: &SwarmMap, swarm: SwarmId) -> Option<Vec<NodeEntry>> {
        let ids = &map.swarms.get(&swarm)?.ids;
        Some(
            ids.iter()
                .map(|id| map.node(id).cloned().expect("every member is a node"))
                .collect(),
        )
    }

    /// Every accessor of every swarm gives what the slow path gives.
    fn assert_shared_is_slow_path(map: &SwarmMap, step: usize) {
        assert!(map.stale.is_empty(), "step {step}: stale swarms left");
        let swarms = map.swarms();
        assert_eq!(swarms.len(), map.swarm_count());
        for (id, listed) in swarms {
            let slow = members_slow(map, id).unwrap();
            assert_eq!(
                map.member_slice(id),
                Some(&slow[..]),
                "step {step}, swarm {id}"
            );
            assert_eq!(map.members_shared(id).as_deref(), Some(&slow[..]));
            assert_eq!(map.members(id).as_ref(), Some(&slow));
            assert_eq!(listed, slow);
        }
        // An ID that is not a swarm (SwarmId(1) would be the 2^63-th).
        assert_eq!(map.member_slice(SwarmId(1)), None);
        assert_eq!(map.members_shared(SwarmId(1)), None);
        assert_eq!(map.members(SwarmId(1)), None);
    }

    #[test]
    fn shared_members_always_equal_the_slow_path() {
        const POOL: u32 = 160;
        let mut rng = Rng(0x5eed_0f5a_a44a);
        let mut map = SwarmMap::new();
        let mut log = Vec::new();
        // The address each live node joined with (an exit then a join with a
        // new address is how a member's entry changes).
        let mut live: BTreeMap<u32, SocketAddr> = BTreeMap::new();
        let mut most_swarms = 0;
        let ids: Vec<NodeId> = (0..POOL).map(|i| entry(i).id).collect();
        for step in 0..3000 {
            // Phases of growth and of shrinking, so the swarm count goes up
            // and down (creations, borrowing, retirements).
            let growing = (step / 400) % 2 == 0;
            let i = rng.below(POOL as usize) as u32;
            let addr = |rng: &mut Rng| {
                SocketAddr::from((
                    [10, 0, (i >> 8) as u8, i as u8],
                    1 + rng.below(60000) as u16,
                ))
            };
            let mut events = Vec::new();
            match live.get(&i) {
                None if rng.below(10) < if growing { 9 } else { 3 } => {
                    let node = NodeEntry {
                        id: ids[i as usize],
                        addr: addr(&mut rng),
                    };
                    live.insert(i, node.addr);
                    events.push(RegistryEvent::Join { node });
                }
                None => {}
                Some(_) if rng.below(50) == 0 => {
                    // Rejected (already joined): nothing changes.
                    let before = map.clone();
                    let node = NodeEntry {
                        id: ids[i as usize],
                        addr: addr(&mut rng),
                    };
                    assert!(map.apply(&RegistryEvent::Join { node }).is_err());
                    assert_eq!(map, before);
                }
                Some(_) if rng.below(10) < if growing { 4 } else { 7 } => {
                    live.remove(&i);
                    events.push(RegistryEvent::Exit {
                        id: ids[i as usize],
                    });
                }
                Some(old) => {
                    // Update: the node comes back at another address.
                    let old = *old;
                    let mut node = NodeEntry {
                        id: ids[i as usize],
                        addr: addr(&mut rng),
                    };
                    if node.addr == old {
                        node.addr.set_port(old.port() % 60000 + 1);
                    }
                    live.insert(i, node.addr);
                    events.push(RegistryEvent::Exit { id: node.id });
                    events.push(RegistryEvent::Join { node });
                }
            }
            for event in events {
                map.apply(&event).unwrap();
                log.push(event);
                assert_shared_is_slow_path(&map, step);
            }
            for (&i, &addr) in &live {
                assert_eq!(map.node(&ids[i as usize]).map(|n| n.addr), Some(addr));
            }
            most_swarms = most_swarms.max(map.swarm_count());
            if step % 500 == 499 {
                // Replaying the log (entries rebuilt once, at the end) gives
                // the same map, shared entries included.
                let replayed = SwarmMap::replay(&log).unwrap();
                assert_shared_is_slow_path(&replayed, step);
                assert_eq!(replayed, map);
            }
        }
        assert!(most_swarms >= 10, "only {most_swarms} swarms");
        assert!(log.len() > 2000);
    }

    #[test]
    fn shared_members_outlive_changes_to_the_map() {
        let mut map = SwarmMap::replay(&(0..12).map(join).collect::<Vec<_>>()).unwrap();
        let held = map.members_shared(SwarmId(0)).unwrap();
        let copy = held.to_vec();
        let first = held[0].id;
        map.apply(&RegistryEvent::Exit { id: first }).unwrap();
        // What was handed out is unchanged; the map has the new members.
        assert_eq!(&*held, &copy[..]);
        assert!(
            !map.member_slice(SwarmId(0))
                .unwrap()
                .iter()
                .any(|n| n.id == first)
        );
        assert_shared_is_slow_path(&map, 0);
    }

    #[test]
    fn nearest_swarm_wraps_round_the_ring_and_ties_go_low() {
        let mut map = SwarmMap::new();
        for i in 0..16 {
            map.apply(&join(i)).unwrap();
        }
        // IDs 0, 2^63, 2^62.
        assert_eq!(map.swarm_for_position(0), Some(SwarmId(0)));
        assert_eq!(map.swarm_for_position(u64::MAX), Some(SwarmId(0)));
        assert_eq!(map.swarm_for_position(1 << 61), Some(SwarmId(0)));
        assert_eq!(
            map.swarm_for_position((1 << 61) + 1),
            Some(SwarmId(1 << 62))
        );
        assert_eq!(
            map.swarm_for_position((3 << 62) - 1),
            Some(SwarmId(1 << 63))
        );
        // Equally near 2^63 and 0 (going round): the lower ID.
        assert_eq!(map.swarm_for_position(3 << 62), Some(SwarmId(0)));
        assert_eq!(map.swarm_for_position((3 << 62) + 1), Some(SwarmId(0)));
        // Equally near 2^62 and 2^63.
        assert_eq!(map.swarm_for_position(3 << 61), Some(SwarmId(1 << 62)));
        assert_eq!(
            map.swarm_for_position((3 << 61) + 1),
            Some(SwarmId(1 << 63))
        );
    }
}
