//! The bucket digests of this node's own swarm arc, cached between sync
//! rounds and refreshed one bucket at a time.
//!
//! A digest comparison (`sync_digest`, §5.10) needs the digest of each of the
//! arc's buckets. Listing the whole arc and hashing every entry on every
//! round, for every peer and every peer's request, costs time in proportion
//! to what the node holds; with the cache it costs time in proportion to what
//! changed. A bucket's digest stays valid until
//! - a write that may touch the bucket is issued or completes (every write
//!   goes through [`NodeCore::store`](super::NodeCore), so the core sees
//!   them all; counting both ends means a listing that raced a write is
//!   never cached), or
//! - the earliest expiry among its entries passes (listings leave out
//!   expired entries, so the digest changes then), or
//! - the registry view changes (arcs and ownership move).
//!
//! A waiter (the round, or a peer's `sync_digest` request) gets digests from
//! one batch of store reads: only the buckets without a valid digest are
//! listed. The answer is the same as listing the whole arc at once would
//! give; only the work differs. Purges change nothing here: they remove
//! entries listings already leave out.
//!
//! The cache relies on every write to the node's store going through the
//! core; a tool that writes the store behind a running node's back would
//! leave digests stale until the bucket changes again (anti-entropy would
//! still converge once any write or expiry touches it, or on restart).
//!
//! Not here: the comparison with a peer's digests and the pulls (the round,
//! [`super::sync_round`]), the digest function ([`crate::sync`]).

use std::collections::HashMap;
use std::sync::Arc;

use nightjar_crypto::hash::sync_digest;
use nightjar_registry::SwarmId;
use nightjar_store::{PositionedEntry, StoreCommand, StoreError, StoreReply};
use nightjar_wire::{Response, ResponseBody};

use super::{NodeCore, Op, OpId, RegistryView, RequestId};
use crate::core;
use crate::sync::{self, Arc64, ring_position};

/// Who waits for a set of digests.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Waiter {
    /// The running anti-entropy round (for its current peer).
    Round,
    /// A peer's `sync_digest` request.
    Serve(RequestId),
}

/// The positions a write may change.
#[derive(Debug, Clone)]
enum Touch {
    /// These ring positions.
    Positions(Vec<u64>),
    /// Anything.
    All,
}

/// What a cached digest is for: one view's arc, split into `buckets`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Key {
    epoch: u64,
    arc: Arc64,
    buckets: u32,
}

/// One bucket's digest, as of write generation `generation`.
#[derive(Debug, Clone, Copy)]
struct Cached {
    generation: u64,
    digest: [u8; 32],
    /// The earliest expiry among its entries (`u64::MAX` if none).
    valid_until_ms: u64,
}

/// A batch of bucket reads for one waiter.
#[derive(Debug)]
struct Batch {
    waiter: Waiter,
    key: Key,
    view: Arc<RegistryView>,
    swarm: SwarmId,
    digests: Vec<[u8; 32]>,
    pending: usize,
    failed: Option<StoreError>,
}

/// The cache (see the module docs).
#[derive(Debug, Default)]
pub(crate) struct DigestCache {
    key: Option<Key>,
    /// Write generation of each bucket of `key`.
    gens: Vec<u64>,
    cached: Vec<Option<Cached>>,
    /// Writes in flight and what they may touch (touched again when done).
    writes: HashMap<OpId, Touch>,
    batches: HashMap<u64, Batch>,
    next_batch: u64,
    /// Bucket listings done (a measure of the work the cache leaves).
    pub(crate) bucket_reads: u64,
}

/// A store read listing one bucket for a batch.
#[derive(Debug)]
pub(crate) struct BucketRead {
    batch: u64,
    /// The bucket listed, or `None` for a listing of the whole arc.
    bucket: Option<u32>,
    generation: u64,
}

impl DigestCache {
    /// Make `key` the cached one (forgetting everything if it differs).
    fn rekey(&mut self, key: Key) {
        if self.key != Some(key) {
            self.key = Some(key);
            self.gens = vec![0; key.buckets as usize];
            self.cached = vec![None; key.buckets as usize];
        }
    }

    fn touch(&mut self, touch: &Touch) {
        let Some(key) = self.key else {
            return;
        };
        match touch {
            Touch::All => {
                self.gens.iter_mut().for_each(|g| *g += 1);
                self.cached.iter_mut().for_each(|c| *c = None);
            }
            Touch::Positions(positions) => {
                for &p in positions {
                    if !key.arc.contains(p) {
                        continue;
                    }
                    let i = key.arc.bucket_of(p, key.buckets) as usize;
                    if let Some(g) = self.gens.get_mut(i) {
                        *g += 1;
                    }
                    if let Some(c) = self.cached.get_mut(i) {
                        *c = None;
                    }
                }
            }
        }
    }

    /// A write was issued as store command `op`.
    pub(crate) fn write_issued(&mut self, op: OpId, command: &StoreCommand) {
        let touch = match command {
            StoreCommand::Store(m) => Touch::Positions(vec![ring_position(&m.account)]),
            StoreCommand::Delete { account, .. } => Touch::Positions(vec![ring_position(account)]),
            StoreCommand::AddTombstones(t) => {
                Touch::Positions(t.iter().map(|t| ring_position(&t.key.account)).collect())
            }
            // Purges remove only what listings leave out already.
            StoreCommand::Purge { .. } => return,
            StoreCommand::DropRange { .. } => Touch::All,
            StoreCommand::Retrieve { .. }
            | StoreCommand::ListRange { .. }
            | StoreCommand::Fetch { .. } => return,
        };
        self.touch(&touch);
        self.writes.insert(op, touch);
    }

    /// Store command `op` finished (a write's positions are touched again:
    /// a listing issued while it was in flight may or may not show it).
    pub(crate) fn command_done(&mut self, op: OpId) {
        if let Some(touch) = self.writes.remove(&op) {
            self.touch(&touch);
        }
    }

    /// The valid digest of bucket `i` at `now_ms`, if `key` is the cached one.
    fn valid(&self, key: Key, i: usize, now_ms: u64) -> Option<[u8; 32]> {
        if self.key != Some(key) {
            return None;
        }
        let c = self.cached.get(i).copied().flatten()?;
        (self.gens.get(i) == Some(&c.generation) && now_ms < c.valid_until_ms).then_some(c.digest)
    }
}

impl NodeCore {
    /// This node's swarm and its arc in the current view.
    pub(super) fn own_arc(&self) -> Option<(Arc<RegistryView>, SwarmId, Arc64)> {
        let view = self.logic.view()?.clone();
        let (swarm, arc) = self.own?;
        Some((view, swarm, arc))
    }

    /// Digests of `arc` in `buckets` buckets over the entries `swarm` owns
    /// in `view`, for `waiter`: at once if every bucket's digest is valid,
    /// otherwise after listing the others.
    pub(super) fn want_digests(
        &mut self,
        now_ms: u64,
        waiter: Waiter,
        view: Arc<RegistryView>,
        swarm: SwarmId,
        arc: Arc64,
        buckets: u32,
    ) {
        let key = Key {
            epoch: self.view_epoch,
            arc,
            buckets,
        };
        // Only our own arc in the current view is worth caching.
        let own = self.own_arc().is_some_and(|(v, s, a)| {
            Arc::ptr_eq(&v, &view) && s == swarm && a == arc && buckets == self.config.sync_buckets
        });
        let mut batch = Batch {
            waiter,
            key,
            view,
            swarm,
            digests: vec![[0u8; 32]; buckets as usize],
            pending: 1,
            failed: None,
        };
        if !own {
            // Someone else's arc, or an old view: one listing of it all (no
            // caching, and never more than one read per request).
            let id = self.new_batch(batch);
            self.read_for(now_ms, id, None, arc);
            return;
        }
        self.digests.rekey(key);
        let mut stale = Vec::new();
        for (i, d) in batch.digests.iter_mut().enumerate() {
            match self.digests.valid(key, i, now_ms) {
                Some(v) => *d = v,
                None => stale.push(i as u32),
            }
        }
        if stale.is_empty() {
            self.digests_ready(now_ms, waiter, Ok(batch.digests));
            return;
        }
        batch.pending = stale.len();
        let id = self.new_batch(batch);
        for i in stale {
            self.read_for(now_ms, id, Some(i), arc.bucket(i, buckets));
        }
    }

    fn new_batch(&mut self, batch: Batch) -> u64 {
        let id = self.digests.next_batch;
        self.digests.next_batch += 1;
        self.digests.batches.insert(id, batch);
        id
    }

    /// List `range` for batch `batch` (`bucket`: which one, `None` for all).
    fn read_for(&mut self, now_ms: u64, batch: u64, bucket: Option<u32>, range: Arc64) {
        let generation = bucket
            .and_then(|i| self.digests.gens.get(i as usize).copied())
            .unwrap_or(0);
        self.digests.bucket_reads += 1;
        self.store(
            Op::Digests(BucketRead {
                batch,
                bucket,
                generation,
            }),
            StoreCommand::ListRange {
                start: range.start,
                end: range.end,
                now_ms,
                after: None,
                limit: usize::MAX,
            },
        );
    }

    /// A bucket listing for a batch came back.
    pub(super) fn bucket_read_done(&mut self, now_ms: u64, read: BucketRead, reply: StoreReply) {
        let Some(b) = self.digests.batches.get_mut(&read.batch) else {
            return;
        };
        b.pending = b.pending.saturating_sub(1);
        match reply {
            StoreReply::Entries(Ok(entries)) => {
                let owned: Vec<PositionedEntry> = sync::owned(&b.view.map, b.swarm, entries);
                let Some(bucket) = read.bucket else {
                    b.digests = sync::bucket_digests(b.key.arc, b.key.buckets, &owned);
                    return self.maybe_batch_done(now_ms, read.batch);
                };
                let digest =
                    sync_digest(owned.iter().map(|PositionedEntry { entry: e, .. }| {
                        (e.key.hash.as_bytes(), e.expiry_ms, e.tombstone)
                    }));
                let valid_until_ms = owned
                    .iter()
                    .map(|e| e.entry.expiry_ms)
                    .min()
                    .unwrap_or(u64::MAX);
                if let Some(d) = b.digests.get_mut(bucket as usize) {
                    *d = digest;
                }
                let key = b.key;
                let cache = &mut self.digests;
                if cache.key == Some(key)
                    && cache.gens.get(bucket as usize) == Some(&read.generation)
                    && let Some(slot) = cache.cached.get_mut(bucket as usize)
                {
                    *slot = Some(Cached {
                        generation: read.generation,
                        digest,
                        valid_until_ms,
                    });
                }
            }
            StoreReply::Entries(Err(e)) => b.failed = Some(e),
            _ => b.failed = Some(StoreError::WriterGone),
        }
        self.maybe_batch_done(now_ms, read.batch);
    }

    fn maybe_batch_done(&mut self, now_ms: u64, batch: u64) {
        let done = self
            .digests
            .batches
            .get(&batch)
            .is_some_and(|b| b.pending == 0);
        if done && let Some(b) = self.digests.batches.remove(&batch) {
            let result = match b.failed {
                Some(e) => Err(e),
                None => Ok(b.digests),
            };
            self.digests_ready(now_ms, b.waiter, result);
        }
    }

    fn digests_ready(
        &mut self,
        now_ms: u64,
        waiter: Waiter,
        digests: Result<Vec<[u8; 32]>, StoreError>,
    ) {
        match waiter {
            Waiter::Round => self.round_digests(now_ms, digests),
            Waiter::Serve(id) => {
                let response = match digests {
                    Ok(d) => Response {
                        node_time_ms: now_ms,
                        body: ResponseBody::Digest(d),
                    },
                    Err(e) => core::store_error_response(now_ms, &e),
                };
                self.reply(now_ms, id, response);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use nightjar_store::{NewMessage, Tombstone};
    use nightjar_types::{AccountKey, MessageHash, MessageKey};

    fn key() -> Key {
        Key {
            epoch: 1,
            arc: Arc64 { start: 0, end: 0 },
            buckets: 4,
        }
    }

    fn cached(c: &mut DigestCache, i: usize, valid_until_ms: u64) {
        let generation = c.gens[i];
        c.cached[i] = Some(Cached {
            generation,
            digest: [i as u8; 32],
            valid_until_ms,
        });
    }

    fn store_of(account: AccountKey) -> StoreCommand {
        StoreCommand::Store(NewMessage {
            account,
            namespace: 0,
            hash: MessageHash::new([9; 32]),
            data: vec![1],
            now_ms: 0,
            expiry_ms: 10,
        })
    }

    #[test]
    fn a_write_invalidates_only_its_bucket_when_issued_and_again_when_done() {
        let mut c = DigestCache::default();
        c.rekey(key());
        for i in 0..4 {
            cached(&mut c, i, u64::MAX);
        }
        let account = AccountKey::new([7u8; 32]);
        let bucket = key().arc.bucket_of(ring_position(&account), 4) as usize;
        c.write_issued(OpId(1), &store_of(account));
        for i in 0..4 {
            assert_eq!(c.valid(key(), i, 0).is_some(), i != bucket, "bucket {i}");
        }
        // A listing issued while the write was in flight is cached ...
        cached(&mut c, bucket, u64::MAX);
        assert!(c.valid(key(), bucket, 0).is_some());
        // ... and dropped when the write completes.
        c.command_done(OpId(1));
        assert!(c.valid(key(), bucket, 0).is_none());
        assert!(c.writes.is_empty());
    }

    #[test]
    fn a_digest_expires_with_its_earliest_entry() {
        let mut c = DigestCache::default();
        c.rekey(key());
        cached(&mut c, 0, 100);
        assert!(c.valid(key(), 0, 99).is_some());
        assert!(c.valid(key(), 0, 100).is_none());
    }

    #[test]
    fn another_view_or_arc_forgets_everything() {
        let mut c = DigestCache::default();
        c.rekey(key());
        cached(&mut c, 0, u64::MAX);
        let other = Key { epoch: 2, ..key() };
        assert!(c.valid(other, 0, 0).is_none());
        c.rekey(other);
        assert!(c.valid(other, 0, 0).is_none());
        c.rekey(other);
        cached(&mut c, 0, u64::MAX);
        assert!(c.valid(other, 0, 0).is_some());
    }

    #[test]
    fn tombstones_and_drops_invalidate_purges_and_reads_do_not() {
        let mut c = DigestCache::default();
        c.rekey(key());
        for i in 0..4 {
            cached(&mut c, i, u64::MAX);
        }
        c.write_issued(OpId(1), &StoreCommand::Purge { now_ms: 5 });
        c.write_issued(
            OpId(2),
            &StoreCommand::ListRange {
                start: 0,
                end: 0,
                now_ms: 5,
                after: None,
                limit: usize::MAX,
            },
        );
        assert!((0..4).all(|i| c.valid(key(), i, 0).is_some()));
        c.write_issued(
            OpId(3),
            &StoreCommand::AddTombstones(vec![Tombstone {
                key: MessageKey {
                    account: AccountKey::new([3u8; 32]),
                    namespace: 0,
                    hash: MessageHash::new([1; 32]),
                },
                expiry_ms: 9,
            }]),
        );
        assert_eq!(
            (0..4).filter(|&i| c.valid(key(), i, 0).is_some()).count(),
            3
        );
        c.write_issued(OpId(4), &StoreCommand::DropRange { start: 1, end: 2 });
        assert!((0..4).all(|i| c.valid(key(), i, 0).is_none()));
    }
}
