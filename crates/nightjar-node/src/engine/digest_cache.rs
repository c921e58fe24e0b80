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
//! Every listing is read page by page ([`DIGEST_PAGE`] entries a read),
//! each bucket's digest fed one page at a time ([`SyncDigest`]), so no
//! input to the core does work in proportion to a bucket, let alone to the
//! whole arc or to another range a peer asks about (listed in pages too,
//! never cached). A listing that a write races over several pages is
//! returned to its waiter but not cached (the write changed the bucket's
//! generation); the next comparison sees the write.
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

use nightjar_crypto::hash::SyncDigest;
use nightjar_registry::SwarmId;
use nightjar_store::{PositionedEntry, StoreCommand, StoreError, StoreReply};
use nightjar_types::SyncCursor;
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

/// Entries one store read lists for digests: the most work (filtering and
/// hashing) one store reply makes the core do.
pub(crate) const DIGEST_PAGE: usize = 10_000;

/// Which entries count: those `swarm` owns in the view (all if `None`: a
/// node in no swarm).
pub(crate) type Owner = Option<(Arc<RegistryView>, SwarmId)>;

/// A batch of bucket reads for one waiter.
#[derive(Debug)]
struct Batch {
    waiter: Waiter,
    key: Key,
    owner: Owner,
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

/// A listing for a batch, read page by page: one bucket, or a whole arc.
#[derive(Debug)]
pub(crate) struct BucketRead {
    batch: u64,
    /// The bucket listed, or `None` for a listing of the whole arc.
    bucket: Option<u32>,
    generation: u64,
    /// What is listed.
    range: Arc64,
    /// Where the next page starts.
    after: Option<SyncCursor>,
    /// The digest of each bucket listed so far (one for a bucket, one per
    /// bucket for a whole arc).
    digests: Vec<SyncDigest>,
    /// The earliest expiry among the entries so far.
    valid_until_ms: u64,
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
            // Claims are not entries of a listing.
            StoreCommand::Claim(_) => return,
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

    /// Digests of `arc` in `buckets` buckets over the entries `owner` keeps,
    /// for `waiter`: at once if every bucket's digest is valid, otherwise
    /// after listing the others.
    pub(super) fn want_digests(
        &mut self,
        now_ms: u64,
        waiter: Waiter,
        owner: Owner,
        arc: Arc64,
        buckets: u32,
    ) {
        let key = Key {
            epoch: self.view_epoch,
            arc,
            buckets,
        };
        // Only our own arc in the current view is worth caching.
        let own = match (self.own_arc(), &owner) {
            (Some((v, s, a)), Some((view, swarm))) => {
                Arc::ptr_eq(&v, view)
                    && s == *swarm
                    && a == arc
                    && buckets == self.config.sync_buckets
            }
            _ => false,
        };
        let mut batch = Batch {
            waiter,
            key,
            owner,
            digests: vec![[0u8; 32]; buckets as usize],
            pending: 1,
            failed: None,
        };
        if !own {
            // Someone else's arc, or an old view: one listing of it all, in
            // pages (no caching).
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
        let digests = match (bucket, self.digests.batches.get(&batch)) {
            (None, Some(b)) => b.key.buckets as usize,
            _ => 1,
        };
        self.digests.bucket_reads += 1;
        let read = BucketRead {
            batch,
            bucket,
            generation,
            range,
            after: None,
            digests: vec![SyncDigest::new(); digests],
            valid_until_ms: u64::MAX,
        };
        self.read_page(now_ms, Box::new(read));
    }

    /// The next page of `read`.
    fn read_page(&mut self, now_ms: u64, read: Box<BucketRead>) {
        let command = StoreCommand::ListRange {
            start: read.range.start,
            end: read.range.end,
            now_ms,
            after: read.after,
            limit: DIGEST_PAGE,
        };
        self.store(Op::Digests(read), command);
    }

    /// A page of a listing for a batch came back.
    pub(super) fn bucket_read_done(
        &mut self,
        now_ms: u64,
        mut read: Box<BucketRead>,
        reply: StoreReply,
    ) {
        let Some(b) = self.digests.batches.get_mut(&read.batch) else {
            return;
        };
        let entries = match reply {
            StoreReply::Entries(Ok(entries)) => entries,
            StoreReply::Entries(Err(e)) => {
                b.failed = Some(e);
                b.pending = b.pending.saturating_sub(1);
                return self.maybe_batch_done(now_ms, read.batch);
            }
            _ => {
                b.failed = Some(StoreError::WriterGone);
                b.pending = b.pending.saturating_sub(1);
                return self.maybe_batch_done(now_ms, read.batch);
            }
        };
        let more = entries.len() >= DIGEST_PAGE;
        read.after = entries.last().map(PositionedEntry::cursor);
        let owned: Vec<PositionedEntry> = match &b.owner {
            Some((view, swarm)) => sync::owned(&view.map, *swarm, entries),
            None => entries,
        };
        let (arc, n) = (b.key.arc, b.key.buckets);
        for e in &owned {
            let i = match read.bucket {
                Some(_) => 0,
                None if arc.contains(e.position) => arc.bucket_of(e.position, n) as usize,
                None => continue,
            };
            if let Some(d) = read.digests.get_mut(i) {
                d.update(
                    e.entry.key.hash.as_bytes(),
                    e.entry.expiry_ms,
                    e.entry.tombstone,
                );
            }
            read.valid_until_ms = read.valid_until_ms.min(e.entry.expiry_ms);
        }
        if more {
            return self.read_page(now_ms, read);
        }
        b.pending = b.pending.saturating_sub(1);
        let BucketRead {
            batch,
            bucket,
            generation,
            digests,
            valid_until_ms,
            ..
        } = *read;
        let Some(bucket) = bucket else {
            b.digests = digests.into_iter().map(SyncDigest::finish).collect();
            return self.maybe_batch_done(now_ms, batch);
        };
        let digest = digests
            .into_iter()
            .next()
            .map_or_else(|| SyncDigest::new().finish(), SyncDigest::finish);
        if let Some(d) = b.digests.get_mut(bucket as usize) {
            *d = digest;
        }
        let key = b.key;
        let cache = &mut self.digests;
        if cache.key == Some(key)
            && cache.gens.get(bucket as usize) == Some(&generation)
            && let Some(slot) = cache.cached.get_mut(bucket as usize)
        {
            *slot = Some(Cached {
                generation,
                digest,
                valid_until_ms,
            });
        }
        self.maybe_batch_done(now_ms, batch);
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
