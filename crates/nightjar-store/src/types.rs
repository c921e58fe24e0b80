//! Plain data types of the public API.

use std::path::PathBuf;

/// How to open a [`crate::Store`] and the per-account limits it enforces.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoreConfig {
    /// Path of the SQLite database file. Missing parent directories are
    /// created. SQLite also creates `<path>-wal` and `<path>-shm` next to it.
    pub path: PathBuf,
    /// Maximum number of messages one account may hold, over all its
    /// namespaces (expired but not yet purged messages count until purged).
    /// Default 10 000.
    pub max_messages_per_account: u64,
    /// Maximum total `data` bytes one account may hold, over all its
    /// namespaces. Default 100 MiB.
    pub max_bytes_per_account: u64,
    /// Maximum number of queued write operations committed together in one
    /// transaction (values below 1 are treated as 1). Default 256.
    pub max_batch: usize,
}

impl Default for StoreConfig {
    fn default() -> Self {
        Self {
            path: PathBuf::from("messages.sqlite"),
            max_messages_per_account: 10_000,
            max_bytes_per_account: 100 * 1024 * 1024,
            max_batch: 256,
        }
    }
}

/// A message to store (an opaque ciphertext blob).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewMessage {
    /// The recipient account (public key bytes; opaque to the store).
    pub account: [u8; 32],
    /// Namespace within the account.
    pub namespace: u16,
    /// Message hash; `(account, namespace, hash)` identifies the message.
    /// The store does not verify it against `data`.
    pub hash: [u8; 32],
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
}

impl StoreOutcome {
    /// Sequence number of the message, whether new or existing.
    #[must_use]
    pub fn seq(&self) -> u64 {
        match *self {
            StoreOutcome::Stored { seq } | StoreOutcome::AlreadyStored { seq } => seq,
        }
    }
}

/// A message as returned by [`crate::Store::retrieve`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredMessage {
    /// Sequence number; strictly increasing in store order and never reused,
    /// usable as a retrieval cursor.
    pub seq: u64,
    /// Message hash.
    pub hash: [u8; 32],
    /// The opaque payload.
    pub data: Vec<u8>,
    /// When the message was (first) stored, Unix milliseconds.
    pub stored_at_ms: u64,
    /// When the message expires, Unix milliseconds.
    pub expiry_ms: u64,
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
    /// Write transactions committed by this handle's writer thread since
    /// [`crate::Store::open`] (each commit may carry many operations).
    pub commits: u64,
}
