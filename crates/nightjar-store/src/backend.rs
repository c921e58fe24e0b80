//! [`MessageStore`]: the operations every message store offers, so that the
//! node's logic and its tests do not depend on which store runs them.
//!
//! The durable SQLite [`crate::Store`] that production nodes run and the
//! in-memory [`crate::MemoryStore`] of simulators and tests implement it;
//! the node's logic emits [`StoreCommand`]s and a driver runs them with
//! [`MessageStore::execute`].

use crate::command::{StoreCommand, StoreReply};
use crate::error::StoreError;
use crate::types::{
    ClaimOutcome, NewClaim, NewMessage, PositionedEntry, StoreOutcome, StoreStats, Tombstone,
};
use nightjar_types::{AccountKey, FullMessage, MessageHash, MessageKey, StoredMessage, SyncCursor};

/// A node's message store: TTLs, per-account quotas, cursors, tombstones and
/// ring ranges, with the semantics documented on [`crate::Store`]'s methods
/// of the same names. Every call takes the clock from the caller. Calls
/// block until done (writes: until durable, for a durable store).
pub trait MessageStore {
    /// Store a message (idempotent; a live tombstone refuses it).
    fn store(&self, msg: NewMessage) -> Result<StoreOutcome, StoreError>;
    /// Delete messages of one mailbox, leaving tombstones; how many were held.
    fn delete(
        &self,
        account: AccountKey,
        namespace: u16,
        hashes: Vec<MessageHash>,
        now_ms: u64,
        tombstone_ttl_ms: u64,
    ) -> Result<u64, StoreError>;
    /// Add tombstones received from other members; how many messages they deleted.
    fn add_tombstones(&self, tombstones: Vec<Tombstone>) -> Result<u64, StoreError>;
    /// Remove every message and tombstone in a ring range; how many messages.
    fn drop_range(&self, start: u64, end: u64) -> Result<u64, StoreError>;
    /// Remove everything expired at `now_ms`; how many messages.
    fn purge_expired(&self, now_ms: u64) -> Result<u64, StoreError>;
    /// Live messages of one mailbox after a cursor, in order, within limits.
    fn retrieve(
        &self,
        account: &AccountKey,
        namespace: u16,
        after_seq: u64,
        now_ms: u64,
        max_messages: usize,
        max_bytes: usize,
    ) -> Result<Vec<StoredMessage>, StoreError>;
    /// Live messages and tombstones in a ring range, sorted (entry order).
    fn list_range(
        &self,
        start: u64,
        end: u64,
        now_ms: u64,
    ) -> Result<Vec<PositionedEntry>, StoreError> {
        self.list_range_after(start, end, now_ms, None, usize::MAX)
    }
    /// One page of [`MessageStore::list_range`]: the first `limit` entries
    /// strictly after `after` in entry order ([`SyncCursor`]); from the start
    /// without `after`. Fewer than `limit` entries means the range is done;
    /// otherwise the next page starts after the last entry's key. The work
    /// is proportional to the page, not to the range.
    fn list_range_after(
        &self,
        start: u64,
        end: u64,
        now_ms: u64,
        after: Option<&SyncCursor>,
        limit: usize,
    ) -> Result<Vec<PositionedEntry>, StoreError>;
    /// The live messages named by `keys`, each with its hash.
    fn fetch(
        &self,
        keys: &[MessageKey],
        now_ms: u64,
    ) -> Result<Vec<(MessageHash, FullMessage)>, StoreError>;
    /// Store-wide counters.
    fn stats(&self) -> Result<StoreStats, StoreError>;
    /// Record a claim of a record of a claimable namespace, unless another
    /// claimant's is recorded; with the record's data if held.
    fn claim(&self, claim: NewClaim) -> Result<ClaimOutcome, StoreError>;

    /// Run one [`StoreCommand`] and give its [`StoreReply`].
    fn execute(&self, command: StoreCommand) -> StoreReply {
        match command {
            StoreCommand::Store(msg) => StoreReply::Stored(self.store(msg)),
            StoreCommand::Delete {
                account,
                namespace,
                hashes,
                now_ms,
                tombstone_ttl_ms,
            } => {
                StoreReply::Count(self.delete(account, namespace, hashes, now_ms, tombstone_ttl_ms))
            }
            StoreCommand::AddTombstones(t) => StoreReply::Count(self.add_tombstones(t)),
            StoreCommand::DropRange { start, end } => {
                StoreReply::Count(self.drop_range(start, end))
            }
            StoreCommand::Purge { now_ms } => StoreReply::Count(self.purge_expired(now_ms)),
            StoreCommand::Retrieve {
                account,
                namespace,
                after_seq,
                now_ms,
                max_messages,
                max_bytes,
            } => StoreReply::Messages(self.retrieve(
                &account,
                namespace,
                after_seq,
                now_ms,
                max_messages,
                max_bytes,
            )),
            StoreCommand::ListRange {
                start,
                end,
                now_ms,
                after,
                limit,
            } => StoreReply::Entries(self.list_range_after(
                start,
                end,
                now_ms,
                after.as_ref(),
                limit,
            )),
            StoreCommand::Fetch { keys, now_ms } => StoreReply::Full(self.fetch(&keys, now_ms)),
            StoreCommand::Claim(claim) => StoreReply::Claimed(self.claim(claim)),
        }
    }
}
