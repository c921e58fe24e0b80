//! The whole state of a [`crate::MemoryStore`] and its operations, with the
//! semantics of the SQLite store's writer and reads.
//!
//! Not for: locking or the trait (see `super`); one [`State`] is only ever
//! used behind the store's mutex.

use std::collections::{BTreeMap, BTreeSet, HashSet};

use super::MemoryConfig;
use super::account::{Account, Msg, len_of};
use crate::error::{StoreError, to_i64};
use crate::ring::intervals;
use crate::store::Store;
use crate::types::{
    ClaimOutcome, NewClaim, NewMessage, PositionedEntry, StoreOutcome, StoreStats, Tombstone,
};
use nightjar_types::namespace::is_claimable;
use nightjar_types::{
    AccountKey, FullMessage, MessageHash, MessageKey, StoredMessage, SyncCursor, SyncEntry,
};

/// An account's key: its ring position first, so ring ranges are range
/// scans.
type Key = (u64, AccountKey);

/// Everything a memory store holds.
#[derive(Debug)]
pub(super) struct State {
    config: MemoryConfig,
    accounts: BTreeMap<Key, Account>,
    /// `(floor, position, account)` for every account (see
    /// [`Account::floor`]): a purge visits only accounts whose floor has
    /// passed.
    floors: BTreeSet<(u64, u64, AccountKey)>,
    /// The last sequence number given out.
    last_seq: u64,
    /// Write operations run.
    commits: u64,
}

/// Which quota storing `len` more bytes on top of `usage` would exceed.
fn over_quota(usage: (u64, u64), len: u64, config: &MemoryConfig) -> Option<&'static str> {
    if usage.0.saturating_add(1) > config.max_messages_per_account {
        Some("messages")
    } else if usage.1.saturating_add(len) > config.max_bytes_per_account {
        Some("bytes")
    } else {
        None
    }
}

impl State {
    /// An empty store.
    pub(super) fn new(config: MemoryConfig) -> State {
        State {
            config,
            accounts: BTreeMap::new(),
            floors: BTreeSet::new(),
            last_seq: 0,
            commits: 0,
        }
    }

    fn key(&self, account: &AccountKey) -> Key {
        ((self.config.ring_position)(account), *account)
    }

    /// Counts one write operation (the SQLite store commits one batch per
    /// operation when each is waited for).
    fn count_write(&mut self) {
        self.commits = self.commits.saturating_add(1);
    }

    /// The account, created (with its floor entry) if missing.
    fn account_mut(&mut self, key: Key) -> &mut Account {
        let floors = &mut self.floors;
        self.accounts.entry(key).or_insert_with(|| {
            let account = Account::new();
            floors.insert((account.floor, key.0, key.1));
            account
        })
    }

    /// After `key`'s account changed: drops it if empty, else files its
    /// floor under the value it has now (`old_floor` was filed before).
    fn settle(&mut self, key: Key, old_floor: u64) {
        let Some(account) = self.accounts.get(&key) else {
            return;
        };
        let floor = account.floor;
        if account.is_empty() {
            self.accounts.remove(&key);
            self.floors.remove(&(old_floor, key.0, key.1));
        } else if floor != old_floor {
            self.floors.remove(&(old_floor, key.0, key.1));
            self.floors.insert((floor, key.0, key.1));
        }
    }

    /// The floor currently filed for `key` (`u64::MAX` for a new account).
    fn floor_of(&self, key: &Key) -> u64 {
        self.accounts.get(key).map_or(u64::MAX, |a| a.floor)
    }

    pub(super) fn store(&mut self, msg: NewMessage) -> Result<StoreOutcome, StoreError> {
        self.count_write();
        to_i64("now_ms", msg.now_ms)?;
        to_i64("expiry_ms", msg.expiry_ms)?;
        if msg.expiry_ms <= msg.now_ms {
            return Err(StoreError::AlreadyExpired {
                now_ms: msg.now_ms,
                expiry_ms: msg.expiry_ms,
            });
        }
        let key = self.key(&msg.account);
        let old_floor = self.floor_of(&key);
        let (namespace, hash, now_ms, expiry_ms) =
            (msg.namespace, msg.hash, msg.now_ms, msg.expiry_ms);
        let result = self.store_in(key, msg);
        // A claim lives at least as long as the record it names.
        if is_claimable(namespace)
            && matches!(
                result,
                Ok(StoreOutcome::Stored { .. } | StoreOutcome::AlreadyStored { .. })
            )
            && let Some(account) = self.accounts.get_mut(&key)
        {
            account.raise_claim(namespace, &hash, now_ms, expiry_ms);
        }
        self.settle(key, old_floor);
        result
    }

    fn store_in(&mut self, key: Key, msg: NewMessage) -> Result<StoreOutcome, StoreError> {
        let now = msg.now_ms;
        let len = len_of(&msg.data);
        let config = self.config;
        let seq = self.last_seq.saturating_add(1);
        let account = self.account_mut(key);
        if account
            .tombstone(msg.namespace, &msg.hash)
            .is_some_and(|e| e > now)
        {
            return Ok(StoreOutcome::Tombstoned);
        }
        let mut usage = account.usage();
        if let Some(old) = account.message(msg.namespace, &msg.hash) {
            if old.expiry_ms > now {
                let seq = old.seq;
                account.raise_expiry(msg.namespace, &msg.hash, msg.expiry_ms);
                return Ok(StoreOutcome::AlreadyStored { seq });
            }
            // An expired copy, not purged yet: it is replaced.
            usage = (
                usage.0.saturating_sub(1),
                usage.1.saturating_sub(len_of(&old.data)),
            );
        }
        if over_quota(usage, len, &config).is_some() {
            // Removing the account's expired messages is kept even if the
            // store is refused.
            account.remove_expired_messages(now);
            if let Some(limit) = over_quota(account.usage(), len, &config) {
                return Err(StoreError::QuotaExceeded { limit });
            }
        }
        account.take(msg.namespace, &msg.hash);
        account.insert(
            msg.namespace,
            msg.hash,
            Msg {
                seq,
                data: msg.data.into_boxed_slice(),
                stored_at_ms: now,
                expiry_ms: msg.expiry_ms,
            },
        );
        self.last_seq = seq;
        Ok(StoreOutcome::Stored { seq })
    }

    pub(super) fn delete(
        &mut self,
        account: AccountKey,
        namespace: u16,
        mut hashes: Vec<MessageHash>,
        now_ms: u64,
        tombstone_ttl_ms: u64,
    ) -> Result<u64, StoreError> {
        self.count_write();
        to_i64("now_ms", now_ms)?;
        let unknown_expiry = now_ms.saturating_add(tombstone_ttl_ms);
        to_i64("now_ms + tombstone_ttl_ms", unknown_expiry)?;
        hashes.sort_unstable();
        hashes.dedup();
        let key = self.key(&account);
        let max_tombstones = self.config.max_tombstones_per_account;
        let old_floor = self.floor_of(&key);
        let acct = self.account_mut(key);

        // Plan: each hash's tombstone expiry (None: not written).
        let mut plan: Vec<(MessageHash, Option<u64>)> = Vec::with_capacity(hashes.len());
        let mut new_tombstones: u64 = 0;
        let mut raised: Vec<(u16, MessageHash)> = Vec::new();
        for hash in &hashes {
            let expiry = match acct.message(namespace, hash) {
                Some(m) if m.expiry_ms > now_ms => m.expiry_ms,
                _ => unknown_expiry,
            };
            let write = (expiry > now_ms).then_some(expiry);
            if write.is_some() {
                if acct.tombstone(namespace, hash).is_none() {
                    new_tombstones = new_tombstones.saturating_add(1);
                }
                raised.push((namespace, *hash));
            }
            plan.push((*hash, write));
        }
        let mut purge_tombstones = false;
        if new_tombstones > 0 {
            let total = acct.tombstone_count().saturating_add(new_tombstones);
            if total > max_tombstones {
                let freed = acct.expired_tombstones_except(now_ms, &raised);
                if total.saturating_sub(freed) > max_tombstones {
                    self.settle(key, old_floor);
                    return Err(StoreError::QuotaExceeded {
                        limit: "tombstones",
                    });
                }
                purge_tombstones = true;
            }
        }
        let mut deleted: u64 = 0;
        for (hash, write) in plan {
            if acct.take(namespace, &hash).is_some() {
                deleted = deleted.saturating_add(1);
            }
            if let Some(expiry) = write {
                acct.put_tombstone(namespace, hash, expiry);
            }
        }
        if purge_tombstones {
            acct.remove_expired_tombstones(now_ms);
        }
        self.settle(key, old_floor);
        Ok(deleted)
    }

    pub(super) fn add_tombstones(&mut self, tombstones: Vec<Tombstone>) -> Result<u64, StoreError> {
        self.count_write();
        for t in &tombstones {
            to_i64("expiry_ms", t.expiry_ms)?;
        }
        // All or nothing: check every account's cap first.
        let mut new_keys: BTreeMap<Key, HashSet<(u16, MessageHash)>> = BTreeMap::new();
        for t in &tombstones {
            let key = self.key(&t.key.account);
            let known = self
                .accounts
                .get(&key)
                .is_some_and(|a| a.tombstone(t.key.namespace, &t.key.hash).is_some());
            if !known {
                new_keys
                    .entry(key)
                    .or_default()
                    .insert((t.key.namespace, t.key.hash));
            }
        }
        for (key, new) in &new_keys {
            let held = self.accounts.get(key).map_or(0, Account::tombstone_count);
            let new = u64::try_from(new.len()).unwrap_or(u64::MAX);
            if held.saturating_add(new) > self.config.max_tombstones_per_account {
                return Err(StoreError::QuotaExceeded {
                    limit: "tombstones",
                });
            }
        }
        let mut deleted: u64 = 0;
        for t in tombstones {
            let key = self.key(&t.key.account);
            let old_floor = self.floor_of(&key);
            let acct = self.account_mut(key);
            let mut expiry = t.expiry_ms;
            if let Some(m) = acct.take(t.key.namespace, &t.key.hash) {
                deleted = deleted.saturating_add(1);
                expiry = expiry.max(m.expiry_ms);
            }
            acct.put_tombstone(t.key.namespace, t.key.hash, expiry);
            self.settle(key, old_floor);
        }
        Ok(deleted)
    }

    pub(super) fn claim(&mut self, claim: NewClaim) -> Result<ClaimOutcome, StoreError> {
        self.count_write();
        let NewClaim {
            key: record,
            claimant,
            now_ms,
            ttl_ms,
        } = claim;
        if !is_claimable(record.namespace) {
            return Err(StoreError::NotClaimable(record.namespace));
        }
        to_i64("now_ms", now_ms)?;
        let min_expiry = now_ms.saturating_add(ttl_ms);
        to_i64("now_ms + ttl_ms", min_expiry)?;
        let max_claims = self.config.max_claims_per_account;
        let (namespace, hash) = (record.namespace, record.hash);
        let key = self.key(&record.account);
        let old_floor = self.floor_of(&key);
        let acct = self.account_mut(key);
        let data = acct
            .message(namespace, &hash)
            .filter(|m| m.expiry_ms > now_ms)
            .map(|m| (m.data.to_vec(), m.expiry_ms));
        let expiry = data
            .as_ref()
            .map_or(min_expiry, |(_, e)| min_expiry.max(*e));
        let result = match acct.claim(namespace, &hash) {
            Some((other, e)) if e > now_ms && other != claimant => Ok(ClaimOutcome::Refused),
            Some((_, e)) => {
                // The same claimant again, or an expired claim replaced.
                let expiry = if e > now_ms { e.max(expiry) } else { expiry };
                acct.put_claim(namespace, hash, claimant, expiry);
                Ok(ClaimOutcome::Granted {
                    data: data.map(|(d, _)| d),
                })
            }
            None => {
                let held = acct.claim_count();
                if held >= max_claims {
                    // Expired claims make room, but only if that is enough.
                    let live = acct.live_claims(now_ms);
                    if live >= max_claims {
                        self.settle(key, old_floor);
                        return Err(StoreError::QuotaExceeded { limit: "claims" });
                    }
                    acct.remove_expired_claims(now_ms);
                }
                acct.put_claim(namespace, hash, claimant, expiry);
                Ok(ClaimOutcome::Granted {
                    data: data.map(|(d, _)| d),
                })
            }
        };
        self.settle(key, old_floor);
        result
    }

    /// Keys of the accounts whose position is in the ring range.
    fn keys_in_range(&self, start: u64, end: u64) -> Vec<Key> {
        let mut keys = Vec::new();
        for (lo, hi) in intervals(start, end) {
            keys.extend(
                self.accounts
                    .range((lo, AccountKey::new([0; 32]))..=(hi, AccountKey::new([u8::MAX; 32])))
                    .map(|(k, _)| *k),
            );
        }
        keys
    }

    pub(super) fn drop_range(&mut self, start: u64, end: u64) -> Result<u64, StoreError> {
        self.count_write();
        let mut removed: u64 = 0;
        for key in self.keys_in_range(start, end) {
            if let Some(account) = self.accounts.remove(&key) {
                removed = removed.saturating_add(account.usage().0);
                self.floors.remove(&(account.floor, key.0, key.1));
            }
        }
        Ok(removed)
    }

    pub(super) fn purge_expired(&mut self, now_ms: u64) -> Result<u64, StoreError> {
        self.count_write();
        to_i64("now_ms", now_ms)?;
        let mut removed: u64 = 0;
        while let Some(&(floor, pos, account)) = self.floors.first()
            && floor <= now_ms
        {
            let key = (pos, account);
            let Some(acct) = self.accounts.get_mut(&key) else {
                // Not expected: the index names only held accounts.
                self.floors.remove(&(floor, pos, account));
                continue;
            };
            removed = removed.saturating_add(acct.remove_expired_messages(now_ms));
            acct.remove_expired_tombstones(now_ms);
            acct.remove_expired_claims(now_ms);
            acct.floor = acct.earliest_expiry();
            self.settle(key, floor);
        }
        Ok(removed)
    }

    pub(super) fn retrieve(
        &self,
        account: &AccountKey,
        namespace: u16,
        after_seq: u64,
        now_ms: u64,
        max_messages: usize,
        max_bytes: usize,
    ) -> Result<Vec<StoredMessage>, StoreError> {
        to_i64("after_seq", after_seq)?;
        to_i64("now_ms", now_ms)?;
        let mut out = Vec::new();
        if max_messages == 0 {
            return Ok(out);
        }
        let Some(acct) = self.accounts.get(&self.key(account)) else {
            return Ok(out);
        };
        let mut total: usize = 0;
        // Records claimed here are no longer handed out.
        let claimable = is_claimable(namespace);
        for (hash, m) in acct
            .after(namespace, after_seq)
            .filter(|(_, m)| m.expiry_ms > now_ms)
            .filter(|(hash, _)| !(claimable && acct.is_claimed(namespace, hash, now_ms)))
            .take(max_messages)
        {
            let size = m.data.len();
            if !out.is_empty() && total.saturating_add(size) > max_bytes {
                break;
            }
            total = total.saturating_add(size);
            out.push(StoredMessage {
                seq: m.seq,
                hash,
                data: m.data.to_vec(),
                stored_at_ms: m.stored_at_ms,
                expiry_ms: m.expiry_ms,
            });
        }
        Ok(out)
    }

    /// Entries in the range strictly after `after` (entry order), at most
    /// `limit`: accounts are visited in ring order from `after`'s position,
    /// one position at a time (entries of accounts sharing a position
    /// interleave by hash), until a position completes the page.
    pub(super) fn list_range_after(
        &self,
        start: u64,
        end: u64,
        now_ms: u64,
        after: Option<&SyncCursor>,
        limit: usize,
    ) -> Result<Vec<PositionedEntry>, StoreError> {
        to_i64("now_ms", now_ms)?;
        let mut out = Vec::new();
        let mut group: Vec<PositionedEntry> = Vec::new();
        let flush = |group: &mut Vec<PositionedEntry>, out: &mut Vec<PositionedEntry>| {
            group.sort_unstable_by_key(PositionedEntry::cursor);
            out.extend(
                group
                    .drain(..)
                    .filter(|e| after.is_none_or(|k| e.cursor() > *k)),
            );
        };
        'intervals: for (lo, hi) in intervals(start, end) {
            let lo = match after {
                Some(k) if k.position > hi => continue,
                Some(k) => lo.max(k.position),
                None => lo,
            };
            for (key, acct) in self
                .accounts
                .range((lo, AccountKey::new([0; 32]))..=(hi, AccountKey::new([u8::MAX; 32])))
            {
                if group.first().is_some_and(|e| e.position != key.0) {
                    flush(&mut group, &mut out);
                    if out.len() >= limit {
                        break 'intervals;
                    }
                }
                let entry = |tombstone: bool| {
                    move |(namespace, hash, expiry_ms): (u16, MessageHash, u64)| PositionedEntry {
                        position: key.0,
                        entry: SyncEntry {
                            key: MessageKey {
                                account: key.1,
                                namespace,
                                hash,
                            },
                            expiry_ms,
                            tombstone,
                        },
                    }
                };
                let live = |e: &(u16, MessageHash, u64)| e.2 > now_ms;
                group.extend(acct.message_keys().filter(live).map(entry(false)));
                group.extend(acct.tombstone_keys().filter(live).map(entry(true)));
            }
        }
        flush(&mut group, &mut out);
        out.truncate(limit);
        Ok(out)
    }

    pub(super) fn fetch(
        &self,
        keys: &[MessageKey],
        now_ms: u64,
    ) -> Result<Vec<(MessageHash, FullMessage)>, StoreError> {
        if keys.len() > Store::MAX_FETCH_KEYS {
            return Err(StoreError::TooManyKeys {
                given: keys.len(),
                max: Store::MAX_FETCH_KEYS,
            });
        }
        to_i64("now_ms", now_ms)?;
        let mut seen = HashSet::with_capacity(keys.len());
        let mut out = Vec::new();
        for key in keys {
            if !seen.insert(key) {
                continue;
            }
            let held = self
                .accounts
                .get(&self.key(&key.account))
                .and_then(|a| a.message(key.namespace, &key.hash))
                .filter(|m| m.expiry_ms > now_ms);
            if let Some(m) = held {
                out.push((
                    key.hash,
                    FullMessage {
                        mailbox: key.mailbox(),
                        data: m.data.to_vec(),
                        expiry_ms: m.expiry_ms,
                    },
                ));
            }
        }
        Ok(out)
    }

    pub(super) fn stats(&self) -> StoreStats {
        let mut stats = StoreStats {
            commits: self.commits,
            ..StoreStats::default()
        };
        for acct in self.accounts.values() {
            let (messages, bytes) = acct.usage();
            stats.messages = stats.messages.saturating_add(messages);
            stats.bytes = stats.bytes.saturating_add(bytes);
            if messages > 0 {
                stats.accounts = stats.accounts.saturating_add(1);
            }
            stats.tombstones = stats.tombstones.saturating_add(acct.tombstone_count());
            stats.claims = stats.claims.saturating_add(acct.claim_count());
        }
        stats
    }
}
