//! Durable TTL message store for one Nightjar service node.
//!
//! A node keeps opaque ciphertext blobs for recipients' accounts, split into
//! namespaces, until they expire. This crate stores them in one SQLite file
//! (WAL, `synchronous=FULL`): idempotent stores keyed by
//! `(account, namespace, hash)`, cursor-based retrieval by sequence number,
//! deletion, expiry purge and per-account quotas (message count and bytes).
//! Writes go through one writer thread that batches concurrent requests into
//! a single transaction and acknowledges each only after `COMMIT`.
//!
//! For swarms, every row also records its account's *ring position*
//! ([`StoreConfig::ring_position`]): nodes list ring ranges for
//! anti-entropy ([`Store::list_range`], page by page with
//! [`Store::list_range_after`]), fetch what peers miss
//! ([`Store::fetch`]) and drop ranges handed over to other swarms
//! ([`Store::drop_range`]). Deletes leave tombstones (replicated with
//! [`Store::add_tombstones`]) so that sync cannot resurrect deleted
//! messages ([`StoreOutcome::Tombstoned`]).
//!
//! In claimable namespaces (`nightjar_types::namespace::CLAIMABLE`) a record
//! can be claimed ([`Store::claim`]): the first claimant's claim is recorded
//! and another claimant is refused until it expires, and a retrieve of the
//! namespace no longer returns a record with a live claim (anti-entropy
//! listings and fetches still do: the record stays replicated).
//!
//! Every store operation is also a method of the [`MessageStore`] trait
//! and a value ([`StoreCommand`], answered by a [`StoreReply`]), so the
//! node's logic does not depend on which store runs it. Two stores
//! implement it with the same semantics, checked against each other by
//! one conformance suite (`tests/conformance.rs`,
//! `tests/conformance_random.rs`):
//!
//! - [`Store`], durable on SQLite, for production nodes; async drivers run
//!   commands with [`Store::execute_async`];
//! - [`MemoryStore`], in memory and not durable, for simulators and tests
//!   that run many nodes in one process.
//!
//! Accounts, hashes and message keys are `nightjar-types`' newtypes
//! ([`AccountKey`], [`MessageHash`], [`MessageKey`]), and so are the
//! records it shares with the wire ([`StoredMessage`], [`FullMessage`],
//! [`SyncEntry`], [`SyncCursor`]); they are re-exported here.
//!
//! What it is **not**: it does no networking, no cryptography (payloads and
//! hashes are opaque and not verified), and never reads the clock: every
//! time-dependent call takes `now_ms: u64`, Unix milliseconds, from the
//! caller.
//!
//! ```no_run
//! # fn main() -> Result<(), nightjar_store::StoreError> {
//! use nightjar_store::{AccountKey, MessageHash, NewMessage, Store, StoreConfig};
//! // Stand-in: real nodes use the network's hash of the account key.
//! fn ring_position(account: &AccountKey) -> u64 {
//!     let mut first = [0u8; 8];
//!     first.copy_from_slice(&account.as_bytes()[..8]);
//!     u64::from_be_bytes(first)
//! }
//! let account = AccountKey::new([1; 32]);
//! let store = Store::open(StoreConfig::new(
//!     "/var/lib/nightjar/messages.sqlite".into(),
//!     ring_position,
//! ))?;
//! let rx = store.store(NewMessage {
//!     account, namespace: 0, hash: MessageHash::new([2; 32]), data: b"ciphertext".to_vec(),
//!     now_ms: 1_700_000_000_000, expiry_ms: 1_700_000_060_000,
//! });
//! let outcome = rx.blocking_recv().map_err(|_| nightjar_store::StoreError::WriterGone)??;
//! let msgs = store.retrieve(&account, 0, 0, 1_700_000_000_001, 100, 1 << 20)?;
//! assert_eq!(msgs[0].seq, outcome.seq());
//! // Anti-entropy: everything live in the whole ring (start == end).
//! let entries = store.list_range(0, 0, 1_700_000_000_001)?;
//! assert_eq!(entries[0].position, ring_position(&account));
//! assert_eq!(entries[0].entry.key.hash, MessageHash::new([2; 32]));
//! # Ok(()) }
//! ```

mod backend;
mod command;
mod error;
mod memory;
mod ring;
mod schema;
mod sqlite;
mod store;
mod types;
mod writer;

#[cfg(test)]
mod tests;

pub use backend::MessageStore;
pub use command::{StoreCommand, StoreReply};
pub use error::StoreError;
pub use memory::{MemoryConfig, MemoryStore};
pub use nightjar_types::Claimant;
pub use nightjar_types::{
    AccountKey, FullMessage, MailboxKey, MessageHash, MessageKey, StoredMessage, SyncCursor,
    SyncEntry,
};
pub use schema::{MESSAGES_V3_DDL, WRITER_CACHE_KIB};
pub use store::Store;
pub use types::{
    ClaimOutcome, NewClaim, NewMessage, PositionedEntry, StoreConfig, StoreOutcome, StoreStats,
    Tombstone,
};
