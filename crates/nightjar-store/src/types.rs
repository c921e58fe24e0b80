//! Plain data types of the public API that are the store's own; the keys
//! and the records shared with the wire ([`crate::StoredMessage`],
//! [`crate::FullMessage`], [`SyncEntry`]) are `nightjar-types`'.

use std::path::PathBuf;

use nightjar_types::{AccountKey, Claimant, MessageHash, MessageKey, SyncCursor, SyncEntry};

/// How to open a [`crate::Store`] and the per-account limits it enforces.
///
/// There is no `Default`: the ring position function is defined by the
/// network and has no sensible default. Use [`StoreConfig::new`], with
/// struct update syntax for the other fields:
///
/// ```
/// # use nightjar_store::{AccountKey, StoreConfig};
/// fn ring_position(account: &AccountKey) -> u64 {
///     let mut first = [0u8; 8];
///     first.copy_from_slice(&account.as_bytes()[..8]);
///     u64::from_be_bytes(first)
/// }
/// let config = StoreConfig {
///     max_batch: 64,
///     ..StoreConfig::new("messages.sqlite".into(), ring_position)
/// };
/// assert_eq!(config.max_tombstones_per_account, 100_000);
/// ```
///
/// Not `PartialEq`: function pointers do not compare meaningfully.
#[derive(Debug, Clone)]
pub struct StoreConfig {
    /// Path of the SQLite database file. Missing parent directories are
    /// created. SQLite also creates `<path>-wal` and `<path>-shm` next to it.
    pub path: PathBuf,
    /// Maps an account to its position on the swarm ring (a hash of the
    /// account key). The store records each message's and tombstone's
    /// position so that ring ranges can be listed and dropped
    /// ([`crate::Store::list_range`], [`crate::Store::drop_range`]).
    ///
    /// Must be deterministic and must not change for an existing database:
    /// positions are computed when rows are written (and for every row when
    /// a version-1 database is migrated), never recomputed later.
    pub ring_position: fn(&AccountKey) -> u64,
    /// Maximum number of messages one account may hold, over all its
    /// namespaces (expired but not yet purged messages count until purged).
    /// Default 10 000.
    pub max_messages_per_account: u64,
    /// Maximum total `data` bytes one account may hold, over all its
    /// namespaces. Default 100 MiB.
    pub max_bytes_per_account: u64,
    /// Maximum number of tombstones (records of deleted messages) one
    /// account may have, over all its namespaces. Tombstones do not count
    /// toward the message and byte quotas. Expired but not yet purged
    /// tombstones count until purged. Default 100 000.
    pub max_tombstones_per_account: u64,
    /// Maximum number of claims ([`crate::Store::claim`]) recorded for one
    /// account, over all its claimable namespaces. Expired but not yet
    /// purged claims count until purged (a claim that would exceed the cap
    /// first removes the account's expired ones). Default 10 000.
    pub max_claims_per_account: u64,
    /// Maximum number of queued write operations committed together in one
    /// transaction (values below 1 are treated as 1). Default 256.
    pub max_batch: usize,
}

impl StoreConfig {
    /// A configuration for the database at `path` using `ring_position`,
    /// with the default limits (10 000 messages and 100 MiB per account,
    /// 100 000 tombstones and 10 000 claims per account, batches of up to
    /// 256 operations).
    #[must_use]
    pub fn new(path: PathBuf, ring_position: fn(&AccountKey) -> u64) -> StoreConfig {
        StoreConfig {
            path,
            ring_position,
            max_messages_per_account: 10_000,
            max_bytes_per_account: 100 * 1024 * 1024,
            max_tombstones_per_account: 100_000,
            max_claims_per_account: 10_000,
            max_batch: 256,
        }
    }
}

/// A message to store (an opaque ciphertext blob).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewMessage {
    /// The recipient account (public key bytes; opaque to the store).
    pub account: AccountKey,
    /// Namespace within the account.
    pub namespace: u16,
    /// Message hash; `(account, namespace, hash)` identifies the message.
    /// The store does not verify it against `data`.
    pub hash: MessageHash,
    /// The opaque payload.
    pub data: Vec<u8>,
    /// Current time (Unix milliseconds), recorded as `stored_at_ms`.
    pub now_ms: u64,
    /// Expiry time (Unix milliseconds); must be greater than `now_ms`.
    pub expiry_ms: u64,
}

/// Result of a successful [`crate::Store::store`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum StoreOutcome {
    /// The message was new and is now durably stored under `seq`.
    Stored {
        /// Sequence number assigned to the message.
        seq: u64,
    },
    /// A live message with the same `(account, namespace, hash)` already
    /// existed; its expiry was raised to the later of the two.
    AlreadyStored {
        /// Sequence number of the existing message.
        seq: u64,
    },
    /// The message was deleted earlier: an unexpired tombstone exists for
    /// its `(account, namespace, hash)`. Nothing was stored, so replication
    /// and sync cannot resurrect deleted messages. Callers usually treat
    /// this like success (the message existed and was deleted).
    Tombstoned,
}

impl StoreOutcome {
    /// Sequence number of the message, whether new or existing; `0` for
    /// [`StoreOutcome::Tombstoned`] (sequence numbers start at 1, and `0`
    /// as a retrieval cursor means "from the start").
    #[must_use]
    pub fn seq(&self) -> u64 {
        match *self {
            StoreOutcome::Stored { seq } | StoreOutcome::AlreadyStored { seq } => seq,
            StoreOutcome::Tombstoned => 0,
        }
    }
}

/// A record that a message was deleted, replicated between swarm members
/// ([`crate::Store::add_tombstones`]). While unexpired it blocks storing the
/// message again.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Tombstone {
    /// The deleted message.
    pub key: MessageKey,
    /// When the tombstone expires, Unix milliseconds (at most `i64::MAX`).
    pub expiry_ms: u64,
}

/// A claim to record ([`crate::Store::claim`]): `claimant` asks for the
/// record `key` of a claimable namespace
/// (`nightjar_types::namespace::CLAIMABLE`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct NewClaim {
    /// The record claimed (its namespace must be claimable).
    pub key: MessageKey,
    /// Who claims it.
    pub claimant: Claimant,
    /// Current time (Unix milliseconds).
    pub now_ms: u64,
    /// The claim is kept at least this long from `now_ms`, and at least as
    /// long as the record it names (the node passes 14 days, the longest
    /// TTL).
    pub ttl_ms: u64,
}

/// Result of a successful [`crate::Store::claim`].
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum ClaimOutcome {
    /// The record is this claimant's: the claim was recorded now, or was
    /// already recorded for the same claimant (a retry).
    Granted {
        /// The record's data, if the store holds it live; `None` if it
        /// holds no live copy (not replicated here yet, deleted, expired).
        data: Option<Vec<u8>>,
    },
    /// A live claim of another claimant is recorded; nothing changed.
    Refused,
}

/// One entry of a ring range listing ([`crate::Store::list_range`]): a held
/// message or a tombstone, without payload, and its account's ring
/// position. Anti-entropy compares digests of these between swarm members
/// and sends the [`SyncEntry`] itself (the position is the store's).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct PositionedEntry {
    /// The account's ring position (as computed when the row was written).
    pub position: u64,
    /// The message or tombstone.
    pub entry: SyncEntry,
}

impl PositionedEntry {
    /// This entry's place in entry order (the listing's sort key, where a
    /// paged listing continues).
    #[must_use]
    pub const fn cursor(&self) -> SyncCursor {
        SyncCursor::of(self.position, &self.entry)
    }
}

/// Store-wide counters, for metrics.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct StoreStats {
    /// Messages held (including expired ones not purged yet).
    pub messages: u64,
    /// Total `data` bytes held (including expired ones not purged yet).
    pub bytes: u64,
    /// Accounts holding at least one message.
    pub accounts: u64,
    /// Tombstones held (including expired ones not purged yet).
    pub tombstones: u64,
    /// Claims recorded (including expired ones not purged yet).
    pub claims: u64,
    /// Write transactions committed by this handle's writer thread since
    /// [`crate::Store::open`] (each commit may carry many operations).
    pub commits: u64,
}
