//! Anti-entropy and hand-off between nodes, and the ring arithmetic they use.
//!
//! Every sync round a node (1) compares, with each other member of its swarm,
//! digests of what both hold over its swarm's arc of the ring, split into
//! buckets; for each bucket that differs it lists the peer's entries and
//! pulls the messages and tombstones it lacks (each node pulls; the peer does
//! the same on its own round). Then (2) it hands every message it holds that
//! now belongs to another swarm to that swarm's members, and drops its copies
//! only once a write quorum of the new owners holds each of them.
//!
//! This module holds the pure parts (arcs, buckets, digests, diffs), with
//! unit tests; the round and the hand-off themselves are state machines of
//! the node core ([`crate::engine`]), which emit the store commands and peer
//! requests. Nothing here does I/O.

use std::collections::HashMap;

use nightjar_crypto::hash::{ring_position_of_bytes, sync_digest};
use nightjar_registry::{SwarmId, SwarmMap};
use nightjar_store::{PositionedEntry, Tombstone};
use nightjar_types::{AccountKey, MessageKey, SyncEntry};

/// Buckets per digest comparison.
pub const SYNC_BUCKETS: u32 = 64;

/// An account's position on the ring
/// ([`nightjar_crypto::hash::ring_position_of_bytes`] of its key bytes): the
/// [`nightjar_store::StoreConfig::ring_position`] of every node's store.
pub fn ring_position(account: &AccountKey) -> u64 {
    ring_position_of_bytes(account.as_bytes())
}

/// A half-open range of the ring: `[start, end)`, wrapping when `start > end`,
/// the whole ring when `start == end`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Arc64 {
    /// First position in the range.
    pub start: u64,
    /// First position after the range.
    pub end: u64,
}

impl Arc64 {
    /// The number of positions covered (2^64 for the whole ring).
    pub fn span(self) -> u128 {
        match self.end.wrapping_sub(self.start) {
            0 => 1u128 << 64,
            n => u128::from(n),
        }
    }

    /// Whether `p` is in the range.
    pub fn contains(self, p: u64) -> bool {
        u128::from(p.wrapping_sub(self.start)) < self.span()
    }

    /// The `i`-th of `n` equal sub-ranges (the last takes the remainder).
    pub fn bucket(self, i: u32, n: u32) -> Arc64 {
        let span = self.span();
        let n = u128::from(n.max(1));
        let lo = span * u128::from(i) / n;
        let hi = span * (u128::from(i) + 1) / n;
        // lo and hi are at most 2^64; truncating 2^64 to 0 is the wrap we want.
        Arc64 {
            start: self.start.wrapping_add(lo as u64),
            end: self.start.wrapping_add(hi as u64),
        }
    }

    /// Which of `n` buckets holds `p` (p must be in the range).
    pub fn bucket_of(self, p: u64, n: u32) -> u32 {
        let n = n.max(1);
        let span = self.span();
        let offset = u128::from(p.wrapping_sub(self.start));
        let lower = |i: u32| span * u128::from(i) / u128::from(n);
        // Bucket i covers offsets [lower(i), lower(i + 1)); start from the
        // estimate and correct for rounding.
        let mut i = u32::try_from(offset * u128::from(n) / span)
            .unwrap_or(n - 1)
            .min(n - 1);
        while i + 1 < n && lower(i + 1) <= offset {
            i += 1;
        }
        while i > 0 && lower(i) > offset {
            i -= 1;
        }
        i
    }
}

/// An over-approximation of the positions owned by `swarm` (exactly filter
/// entries with [`SwarmMap::swarm_for_position`]): from halfway to the
/// previous swarm ID to halfway to the next, one position wider each side.
pub fn swarm_arc(map: &SwarmMap, swarm: SwarmId) -> Arc64 {
    let ids: Vec<u64> = map.swarms().into_iter().map(|(id, _)| id.0).collect();
    let Some(i) = ids.iter().position(|&id| id == swarm.0) else {
        return Arc64 { start: 0, end: 0 };
    };
    if ids.len() < 2 {
        return Arc64 { start: 0, end: 0 };
    }
    let prev = ids[(i + ids.len() - 1) % ids.len()];
    let next = ids[(i + 1) % ids.len()];
    let back = swarm.0.wrapping_sub(prev) / 2;
    let ahead = next.wrapping_sub(swarm.0) / 2;
    Arc64 {
        start: swarm.0.wrapping_sub(back).wrapping_sub(1),
        end: swarm.0.wrapping_add(ahead).wrapping_add(2),
    }
}

/// The entries of `entries` (sorted) that `swarm` owns.
pub fn owned(
    map: &SwarmMap,
    swarm: SwarmId,
    entries: Vec<PositionedEntry>,
) -> Vec<PositionedEntry> {
    entries
        .into_iter()
        .filter(|e| map.swarm_for_position(e.position) == Some(swarm))
        .collect()
}

/// Digest of each of `n` buckets of `arc` over `entries` (sorted by position, hash).
pub fn bucket_digests(arc: Arc64, n: u32, entries: &[PositionedEntry]) -> Vec<[u8; 32]> {
    let mut per_bucket: Vec<Vec<(&[u8; 32], u64, bool)>> = vec![Vec::new(); n as usize];
    for PositionedEntry { position, entry } in entries {
        if arc.contains(*position)
            && let Some(b) = per_bucket.get_mut(arc.bucket_of(*position, n) as usize)
        {
            b.push((entry.key.hash.as_bytes(), entry.expiry_ms, entry.tombstone));
        }
    }
    per_bucket.into_iter().map(sync_digest).collect()
}

/// What to take from a peer's listing of a range, given ours.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct Pull {
    /// Tombstones we lack or hold with an earlier expiry.
    pub tombstones: Vec<Tombstone>,
    /// Messages we lack (and have not deleted) or hold with an earlier expiry.
    pub fetch: Vec<MessageKey>,
}

/// Compare the peer's entries with ours: deletions win over messages, and
/// later expiries win over earlier ones.
pub fn diff(ours: &[PositionedEntry], theirs: &[SyncEntry]) -> Pull {
    // For each message: the latest expiry we hold, and whether we deleted it.
    let mut have: HashMap<MessageKey, (u64, bool)> = HashMap::new();
    for PositionedEntry { entry: e, .. } in ours {
        let slot = have.entry(e.key).or_insert((0, false));
        slot.0 = slot.0.max(e.expiry_ms);
        slot.1 |= e.tombstone;
    }
    let mut pull = Pull::default();
    for t in theirs {
        let mine = have.get(&t.key).copied();
        if t.tombstone {
            let known = mine.is_some_and(|(exp, tomb)| tomb && exp >= t.expiry_ms);
            if !known {
                pull.tombstones.push(Tombstone {
                    key: t.key,
                    expiry_ms: t.expiry_ms,
                });
            }
        } else {
            let known = mine.is_some_and(|(exp, tomb)| tomb || exp >= t.expiry_ms);
            if !known {
                pull.fetch.push(t.key);
            }
        }
    }
    pull
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn arcs_wrap_and_buckets_tile_the_range() {
        let whole = Arc64 { start: 0, end: 0 };
        assert_eq!(whole.span(), 1u128 << 64);
        assert!(whole.contains(u64::MAX));
        let wrap = Arc64 {
            start: u64::MAX - 9,
            end: 10,
        };
        assert_eq!(wrap.span(), 20);
        assert!(wrap.contains(u64::MAX) && wrap.contains(0) && wrap.contains(9));
        assert!(!wrap.contains(10) && !wrap.contains(u64::MAX - 10));
        for arc in [
            whole,
            wrap,
            Arc64 {
                start: 5,
                end: 1000,
            },
        ] {
            let n = 7;
            let mut total = 0u128;
            for i in 0..n {
                let b = arc.bucket(i, n);
                total += b.span() % (1u128 << 64);
                if i + 1 < n {
                    assert_eq!(b.end, arc.bucket(i + 1, n).start);
                }
            }
            assert_eq!(arc.bucket(n - 1, n).end, arc.end);
            assert!(total <= arc.span());
            for p in [
                arc.start,
                arc.start.wrapping_add(3),
                arc.end.wrapping_sub(1),
            ] {
                let i = arc.bucket_of(p, n);
                assert!(arc.bucket(i, n).contains(p), "{arc:?} p={p} i={i}");
            }
        }
    }

    fn entry(pos: u64, hash: u8, expiry: u64, tomb: bool) -> PositionedEntry {
        PositionedEntry {
            position: pos,
            entry: SyncEntry {
                key: MessageKey {
                    account: AccountKey::new([1; 32]),
                    namespace: 0,
                    hash: nightjar_types::MessageHash::new([hash; 32]),
                },
                expiry_ms: expiry,
                tombstone: tomb,
            },
        }
    }

    #[test]
    fn diff_pulls_missing_and_later_and_lets_deletions_win() {
        let ours = vec![
            entry(1, 1, 100, false),
            entry(2, 2, 100, false),
            entry(3, 3, 100, true),
        ];
        let theirs = vec![
            entry(1, 1, 100, false).entry, // same
            entry(2, 2, 200, false).entry, // later expiry: fetch
            entry(3, 3, 100, false).entry, // we deleted it: never fetch
            entry(4, 4, 100, false).entry, // missing: fetch
            entry(1, 1, 100, true).entry,  // they deleted it: take the tombstone
        ];
        let pull = diff(&ours, &theirs);
        let fetched: Vec<u8> = pull.fetch.iter().map(|k| k.hash.as_bytes()[0]).collect();
        assert_eq!(fetched, vec![2, 4]);
        assert_eq!(pull.tombstones.len(), 1);
        assert_eq!(pull.tombstones[0].key, entry(1, 1, 0, true).entry.key);
    }

    #[test]
    fn equal_sets_give_equal_digests_and_a_difference_shows_in_one_bucket() {
        let arc = Arc64 { start: 0, end: 0 };
        let a = vec![entry(5, 1, 10, false), entry(1 << 63, 2, 10, false)];
        let mut b = a.clone();
        assert_eq!(bucket_digests(arc, 8, &a), bucket_digests(arc, 8, &b));
        b[1].entry.expiry_ms = 11;
        let (da, db) = (bucket_digests(arc, 8, &a), bucket_digests(arc, 8, &b));
        let differing: Vec<usize> = (0..8).filter(|&i| da[i] != db[i]).collect();
        assert_eq!(differing, vec![4]);
    }
}
