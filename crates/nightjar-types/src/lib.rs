//! The identifiers and records that Nightjar's wire format, message store,
//! service node, client and simulator share.
//!
//! One definition each, so that a value read from the store is the value
//! sent on the wire and no crate converts between look-alike structs:
//!
//! - keys as plain bytes: [`AccountKey`] (an account's Ed25519 public key),
//!   [`NodeKey`] (a service node's Ed25519 identity key) and
//!   [`MessageHash`]; they are newtypes over `[u8; 32]`, so one cannot be
//!   passed for another;
//! - where a message lives: [`MailboxKey`] (account and namespace) and
//!   [`MessageKey`] (a mailbox and a message hash); the namespaces assigned
//!   so far and the ranges with rules of their own (published, claimable,
//!   device mailboxes) are named in [`namespace`];
//! - [`Claimant`]: who claims a one-time record (16 random bytes);
//! - records: [`StoredMessage`] (a message as a node's mailbox returns it),
//!   [`FullMessage`] (a message with its mailbox, as nodes copy it to each
//!   other), [`SyncEntry`] (one line of an anti-entropy listing) and
//!   [`SyncCursor`] (a place in such a listing, where a page continues).
//!
//! The keys' `Debug` prints only a short prefix (`AccountKey(3fa2c1…)`) and
//! they have no `Display`: account keys identify users and must not reach
//! logs whole by accident.
//!
//! What it is **not** for:
//!
//! - encoding: the bytes on the wire are `nightjar-wire`'s;
//! - validation: an [`AccountKey`] or a [`NodeKey`] is 32 bytes as carried,
//!   not checked to be a curve point (`nightjar-crypto` decodes keys, the
//!   node rejects accounts that do not decode), and a [`MessageHash`] is
//!   not checked against the data it names;
//! - storage: `nightjar-store` keeps messages.
//!
//! It depends on nothing but `std`.

mod keys;
pub mod namespace;
mod records;

pub use keys::{AccountKey, Claimant, MailboxKey, MessageHash, MessageKey, NodeKey};
pub use records::{FullMessage, StoredMessage, SyncCursor, SyncEntry};
