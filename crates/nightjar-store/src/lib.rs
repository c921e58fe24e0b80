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
//! What it is **not**: it does no networking, no cryptography (payloads and
//! hashes are opaque and not verified), and never reads the clock: every
//! time-dependent call takes `now_ms: u64`, Unix milliseconds, from the
//! caller.
//!
//! ```no_run
//! # fn main() -> Result<(), nightjar_store::StoreError> {
//! use nightjar_store::{NewMessage, Store, StoreConfig};
//! let store = Store::open(StoreConfig { path: "/var/lib/nightjar/messages.sqlite".into(), ..Default::default() })?;
//! let rx = store.store(NewMessage {
//!     account: [1; 32], namespace: 0, hash: [2; 32], data: b"ciphertext".to_vec(),
//!     now_ms: 1_700_000_000_000, expiry_ms: 1_700_000_060_000,
//! });
//! let outcome = rx.blocking_recv().map_err(|_| nightjar_store::StoreError::WriterGone)??;
//! let msgs = store.retrieve(&[1; 32], 0, 0, 1_700_000_000_001, 100, 1 << 20)?;
//! assert_eq!(msgs[0].seq, outcome.seq());
//! # Ok(()) }
//! ```

mod error;
mod schema;
mod store;
mod types;
mod writer;

#[cfg(test)]
mod tests;

pub use error::StoreError;
pub use store::Store;
pub use types::{NewMessage, StoreConfig, StoreOutcome, StoreStats, StoredMessage};
