//! One account's rows in a [`crate::MemoryStore`]: its messages (by hash and
//! by sequence number), its tombstones, its claims and its usage.
//!
//! Not for: quotas, clocks or anything spanning accounts; the store's state
//! (`super::state`) decides, this only keeps the rows and their indexes
//! consistent.

use std::collections::BTreeMap;
use std::ops::Bound;

use nightjar_types::{Claimant, MessageHash};

/// A held message, keyed elsewhere by `(namespace, hash)`.
#[derive(Debug, Clone)]
pub(super) struct Msg {
    /// Sequence number (store-wide, never reused).
    pub(super) seq: u64,
    /// The payload.
    pub(super) data: Box<[u8]>,
    /// When first stored, Unix ms.
    pub(super) stored_at_ms: u64,
    /// When it expires, Unix ms.
    pub(super) expiry_ms: u64,
}

/// Everything the store holds for one account.
#[derive(Debug, Default)]
pub(super) struct Account {
    /// Messages by `(namespace, hash)`.
    by_hash: BTreeMap<(u16, MessageHash), Msg>,
    /// The hash of each message, by `(namespace, seq)`: cursor order.
    by_seq: BTreeMap<(u16, u64), MessageHash>,
    /// Tombstone expiries by `(namespace, hash)`.
    tombstones: BTreeMap<(u16, MessageHash), u64>,
    /// Claims by `(namespace, hash)`: the claimant and the expiry.
    claims: BTreeMap<(u16, MessageHash), (Claimant, u64)>,
    /// Total payload bytes of `by_hash`.
    bytes: u64,
    /// No message, tombstone or claim of the account expires before this (a
    /// lower bound, kept in the store's floor index).
    pub(super) floor: u64,
}

/// Payload length as `u64`.
pub(super) fn len_of(data: &[u8]) -> u64 {
    u64::try_from(data.len()).unwrap_or(u64::MAX)
}

impl Account {
    /// A new, empty account (floor "nothing ever expires").
    pub(super) fn new() -> Account {
        Account {
            floor: u64::MAX,
            ..Account::default()
        }
    }

    /// `(messages, bytes)` held, expired ones included.
    pub(super) fn usage(&self) -> (u64, u64) {
        (
            u64::try_from(self.by_hash.len()).unwrap_or(u64::MAX),
            self.bytes,
        )
    }

    /// Tombstones held, expired ones included.
    pub(super) fn tombstone_count(&self) -> u64 {
        u64::try_from(self.tombstones.len()).unwrap_or(u64::MAX)
    }

    /// Claims recorded, expired ones included.
    pub(super) fn claim_count(&self) -> u64 {
        u64::try_from(self.claims.len()).unwrap_or(u64::MAX)
    }

    /// Whether the account holds nothing at all.
    pub(super) fn is_empty(&self) -> bool {
        self.by_hash.is_empty() && self.tombstones.is_empty() && self.claims.is_empty()
    }

    /// The claim recorded for this key, if any: claimant and expiry.
    pub(super) fn claim(&self, namespace: u16, hash: &MessageHash) -> Option<(Claimant, u64)> {
        self.claims.get(&(namespace, *hash)).copied()
    }

    /// Records (or replaces) the claim for this key.
    pub(super) fn put_claim(
        &mut self,
        namespace: u16,
        hash: MessageHash,
        claimant: Claimant,
        expiry_ms: u64,
    ) {
        self.floor = self.floor.min(expiry_ms);
        self.claims.insert((namespace, hash), (claimant, expiry_ms));
    }

    /// Raises a live claim's expiry (`> now_ms`) to `expiry_ms` if later.
    pub(super) fn raise_claim(
        &mut self,
        namespace: u16,
        hash: &MessageHash,
        now_ms: u64,
        expiry_ms: u64,
    ) {
        if let Some((_, expiry)) = self.claims.get_mut(&(namespace, *hash))
            && *expiry > now_ms
        {
            *expiry = (*expiry).max(expiry_ms);
        }
    }

    /// Whether a live claim (`expiry > now_ms`) names this key.
    pub(super) fn is_claimed(&self, namespace: u16, hash: &MessageHash, now_ms: u64) -> bool {
        self.claims
            .get(&(namespace, *hash))
            .is_some_and(|(_, expiry)| *expiry > now_ms)
    }

    /// How many claims have `expiry_ms > now_ms`.
    pub(super) fn live_claims(&self, now_ms: u64) -> u64 {
        let n = self
            .claims
            .values()
            .filter(|(_, expiry)| *expiry > now_ms)
            .count();
        u64::try_from(n).unwrap_or(u64::MAX)
    }

    /// Removes every claim with `expiry_ms <= now_ms`.
    pub(super) fn remove_expired_claims(&mut self, now_ms: u64) {
        self.claims.retain(|_, (_, expiry)| *expiry > now_ms);
    }

    /// The message with this key.
    pub(super) fn message(&self, namespace: u16, hash: &MessageHash) -> Option<&Msg> {
        self.by_hash.get(&(namespace, *hash))
    }

    /// Raises a held message's expiry to `expiry_ms` if that is later.
    pub(super) fn raise_expiry(&mut self, namespace: u16, hash: &MessageHash, expiry_ms: u64) {
        if let Some(m) = self.by_hash.get_mut(&(namespace, *hash)) {
            m.expiry_ms = m.expiry_ms.max(expiry_ms);
        }
    }

    /// Inserts a message (the caller made sure its key is free).
    pub(super) fn insert(&mut self, namespace: u16, hash: MessageHash, msg: Msg) {
        self.bytes = self.bytes.saturating_add(len_of(&msg.data));
        self.floor = self.floor.min(msg.expiry_ms);
        self.by_seq.insert((namespace, msg.seq), hash);
        self.by_hash.insert((namespace, hash), msg);
    }

    /// Removes the message with this key, if held.
    pub(super) fn take(&mut self, namespace: u16, hash: &MessageHash) -> Option<Msg> {
        let msg = self.by_hash.remove(&(namespace, *hash))?;
        self.by_seq.remove(&(namespace, msg.seq));
        self.bytes = self.bytes.saturating_sub(len_of(&msg.data));
        Some(msg)
    }

    /// Removes every message with `expiry_ms <= now_ms`; how many.
    pub(super) fn remove_expired_messages(&mut self, now_ms: u64) -> u64 {
        let expired: Vec<(u16, MessageHash)> = self
            .by_hash
            .iter()
            .filter(|(_, m)| m.expiry_ms <= now_ms)
            .map(|(k, _)| *k)
            .collect();
        let mut removed: u64 = 0;
        for (namespace, hash) in &expired {
            if self.take(*namespace, hash).is_some() {
                removed = removed.saturating_add(1);
            }
        }
        removed
    }

    /// Removes every tombstone with `expiry_ms <= now_ms`.
    pub(super) fn remove_expired_tombstones(&mut self, now_ms: u64) {
        self.tombstones.retain(|_, expiry| *expiry > now_ms);
    }

    /// How many tombstones have `expiry_ms <= now_ms`, not counting the
    /// keys in `except`.
    pub(super) fn expired_tombstones_except(
        &self,
        now_ms: u64,
        except: &[(u16, MessageHash)],
    ) -> u64 {
        let n = self
            .tombstones
            .iter()
            .filter(|(k, expiry)| **expiry <= now_ms && !except.contains(k))
            .count();
        u64::try_from(n).unwrap_or(u64::MAX)
    }

    /// The tombstone's expiry for this key, if any.
    pub(super) fn tombstone(&self, namespace: u16, hash: &MessageHash) -> Option<u64> {
        self.tombstones.get(&(namespace, *hash)).copied()
    }

    /// Inserts a tombstone, or raises an existing one's expiry to
    /// `expiry_ms` if later.
    pub(super) fn put_tombstone(&mut self, namespace: u16, hash: MessageHash, expiry_ms: u64) {
        self.floor = self.floor.min(expiry_ms);
        let entry = self
            .tombstones
            .entry((namespace, hash))
            .or_insert(expiry_ms);
        *entry = (*entry).max(expiry_ms);
    }

    /// The earliest expiry of any message, tombstone or claim (`u64::MAX`
    /// if none).
    pub(super) fn earliest_expiry(&self) -> u64 {
        let messages = self.by_hash.values().map(|m| m.expiry_ms);
        let tombstones = self.tombstones.values().copied();
        let claims = self.claims.values().map(|(_, expiry)| *expiry);
        messages
            .chain(tombstones)
            .chain(claims)
            .min()
            .unwrap_or(u64::MAX)
    }

    /// Messages of one namespace with `seq > after_seq`, in `seq` order.
    pub(super) fn after(
        &self,
        namespace: u16,
        after_seq: u64,
    ) -> impl Iterator<Item = (MessageHash, &Msg)> + '_ {
        self.by_seq
            .range((
                Bound::Excluded((namespace, after_seq)),
                Bound::Included((namespace, u64::MAX)),
            ))
            .filter_map(move |((ns, _), hash)| self.by_hash.get(&(*ns, *hash)).map(|m| (*hash, m)))
    }

    /// Every message as `(namespace, hash, expiry_ms)`.
    pub(super) fn message_keys(&self) -> impl Iterator<Item = (u16, MessageHash, u64)> + '_ {
        self.by_hash
            .iter()
            .map(|((ns, h), m)| (*ns, *h, m.expiry_ms))
    }

    /// Every tombstone as `(namespace, hash, expiry_ms)`.
    pub(super) fn tombstone_keys(&self) -> impl Iterator<Item = (u16, MessageHash, u64)> + '_ {
        self.tombstones.iter().map(|((ns, h), e)| (*ns, *h, *e))
    }
}
