//! [`MemoryStore`]: a [`MessageStore`] held in memory, with the semantics of
//! the SQLite [`crate::Store`], for simulators and tests that run many nodes.
//!
//! It answers every operation exactly as the SQLite store does (sequence
//! numbers, duplicates, tombstones, quotas counted the same way, ring
//! ranges and their sort order, errors for out-of-range inputs), so a node
//! behaves the same on either; the conformance suite
//! (`tests/conformance.rs`) checks both against each other. One difference
//! is allowed: sequence numbers are strictly increasing and never reused
//! in both, but the SQLite store may skip numbers (a store answered
//! `AlreadyStored` can use one up), while this one numbers new messages
//! 1, 2, 3, ...
//!
//! What it is **not**: not durable (everything is lost when it is dropped;
//! a crash with disk loss is a fresh store), it never fails for lack of
//! space ([`StoreError::DiskFull`] never happens) nor with
//! [`StoreError::Sqlite`], [`StoreError::Corrupt`] or
//! [`StoreError::WriterGone`], and it does not batch: each write is applied
//! at once, and [`crate::StoreStats::commits`] counts one per write
//! operation (what the SQLite store counts when each write is waited for
//! before the next).
//!
//! Memory: per message its payload plus about 130 bytes (two B-tree
//! entries: by hash and by sequence number); per tombstone or claim one
//! B-tree entry; per account its key and counters. Every query is a range scan of one account's rows or of the
//! accounts in a ring range; a purge visits only accounts whose earliest
//! expiry has passed.

mod account;
mod state;

#[cfg(test)]
mod tests;

use std::fmt;
use std::sync::{Mutex, MutexGuard, PoisonError};

use crate::backend::MessageStore;
use crate::error::StoreError;
use crate::types::{
    ClaimOutcome, NewClaim, NewMessage, PositionedEntry, StoreConfig, StoreOutcome, StoreStats,
    Tombstone,
};
use nightjar_types::{AccountKey, FullMessage, MessageHash, MessageKey, StoredMessage, SyncCursor};
use state::State;

/// The limits and ring position function of a [`MemoryStore`]: the fields
/// of [`StoreConfig`] that are not about the database file.
#[derive(Debug, Clone, Copy)]
pub struct MemoryConfig {
    /// Maps an account to its ring position, as
    /// [`StoreConfig::ring_position`] (deterministic).
    pub ring_position: fn(&AccountKey) -> u64,
    /// As [`StoreConfig::max_messages_per_account`]. Default 10 000.
    pub max_messages_per_account: u64,
    /// As [`StoreConfig::max_bytes_per_account`]. Default 100 MiB.
    pub max_bytes_per_account: u64,
    /// As [`StoreConfig::max_tombstones_per_account`]. Default 100 000.
    pub max_tombstones_per_account: u64,
    /// As [`StoreConfig::max_claims_per_account`]. Default 10 000.
    pub max_claims_per_account: u64,
}

impl MemoryConfig {
    /// The default limits (those of [`StoreConfig::new`]) with
    /// `ring_position`.
    #[must_use]
    pub fn new(ring_position: fn(&AccountKey) -> u64) -> MemoryConfig {
        MemoryConfig::from(&StoreConfig::new(std::path::PathBuf::new(), ring_position))
    }
}

impl From<&StoreConfig> for MemoryConfig {
    fn from(config: &StoreConfig) -> MemoryConfig {
        MemoryConfig {
            ring_position: config.ring_position,
            max_messages_per_account: config.max_messages_per_account,
            max_bytes_per_account: config.max_bytes_per_account,
            max_tombstones_per_account: config.max_tombstones_per_account,
            max_claims_per_account: config.max_claims_per_account,
        }
    }
}

/// A node's message store in memory; `Send + Sync`, every call takes
/// `&self` (one internal mutex). See the module documentation for what it
/// is not.
///
/// ```
/// use nightjar_store::{AccountKey, MemoryStore, MessageHash, MessageStore, NewMessage, StoreOutcome};
/// fn ring_position(account: &AccountKey) -> u64 {
///     u64::from(account.as_bytes()[0]) << 56
/// }
/// let store = MemoryStore::new(ring_position);
/// let account = AccountKey::new([1; 32]);
/// let outcome = store.store(NewMessage {
///     account, namespace: 0, hash: MessageHash::new([2; 32]), data: b"ciphertext".to_vec(),
///     now_ms: 1_000, expiry_ms: 61_000,
/// })?;
/// assert_eq!(outcome, StoreOutcome::Stored { seq: 1 });
/// let msgs = store.retrieve(&account, 0, 0, 2_000, 100, 1 << 20)?;
/// assert_eq!(msgs[0].data, b"ciphertext");
/// # Ok::<(), nightjar_store::StoreError>(())
/// ```
pub struct MemoryStore {
    state: Mutex<State>,
}

impl fmt::Debug for MemoryStore {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let stats = self.lock().stats();
        f.debug_struct("MemoryStore")
            .field("messages", &stats.messages)
            .field("tombstones", &stats.tombstones)
            .finish_non_exhaustive()
    }
}

impl MemoryStore {
    /// An empty store with the default limits ([`MemoryConfig::new`]).
    #[must_use]
    pub fn new(ring_position: fn(&AccountKey) -> u64) -> MemoryStore {
        MemoryStore::with_config(MemoryConfig::new(ring_position))
    }

    /// An empty store with these limits.
    #[must_use]
    pub fn with_config(config: MemoryConfig) -> MemoryStore {
        MemoryStore {
            state: Mutex::new(State::new(config)),
        }
    }

    /// Locks the state, ignoring poisoning: no operation panics halfway.
    fn lock(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

/// The semantics are those of the [`crate::Store`] methods of the same
/// names; calls never block on anything but the store's own mutex.
impl MessageStore for MemoryStore {
    fn store(&self, msg: NewMessage) -> Result<StoreOutcome, StoreError> {
        self.lock().store(msg)
    }

    fn delete(
        &self,
        account: AccountKey,
        namespace: u16,
        hashes: Vec<MessageHash>,
        now_ms: u64,
        tombstone_ttl_ms: u64,
    ) -> Result<u64, StoreError> {
        self.lock()
            .delete(account, namespace, hashes, now_ms, tombstone_ttl_ms)
    }

    fn add_tombstones(&self, tombstones: Vec<Tombstone>) -> Result<u64, StoreError> {
        self.lock().add_tombstones(tombstones)
    }

    fn drop_range(&self, start: u64, end: u64) -> Result<u64, StoreError> {
        self.lock().drop_range(start, end)
    }

    fn purge_expired(&self, now_ms: u64) -> Result<u64, StoreError> {
        self.lock().purge_expired(now_ms)
    }

    fn retrieve(
        &self,
        account: &AccountKey,
        namespace: u16,
        after_seq: u64,
        now_ms: u64,
        max_messages: usize,
        max_bytes: usize,
    ) -> Result<Vec<StoredMessage>, StoreError> {
        self.lock().retrieve(
            account,
            namespace,
            after_seq,
            now_ms,
            max_messages,
            max_bytes,
        )
    }

    fn list_range_after(
        &self,
        start: u64,
        end: u64,
        now_ms: u64,
        after: Option<&SyncCursor>,
        limit: usize,
    ) -> Result<Vec<PositionedEntry>, StoreError> {
        self.lock()
            .list_range_after(start, end, now_ms, after, limit)
    }

    fn fetch(
        &self,
        keys: &[MessageKey],
        now_ms: u64,
    ) -> Result<Vec<(MessageHash, FullMessage)>, StoreError> {
        self.lock().fetch(keys, now_ms)
    }

    fn stats(&self) -> Result<StoreStats, StoreError> {
        Ok(self.lock().stats())
    }

    fn claim(&self, claim: NewClaim) -> Result<ClaimOutcome, StoreError> {
        self.lock().claim(claim)
    }
}
