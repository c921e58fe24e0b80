//! Records: a message as a mailbox returns it, a message as nodes copy it
//! between them, and one entry of an anti-entropy listing.
//!
//! Not for: how they are encoded (`nightjar-wire`) or stored
//! (`nightjar-store`).

use crate::keys::{MailboxKey, MessageHash, MessageKey};

/// A message as a node's mailbox returns it: the store's answer to a
/// retrieve and, unchanged, a message of the wire's `messages` answer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredMessage {
    /// The node's sequence number: strictly increasing in store order and
    /// never reused; the last one seen is the next retrieve's cursor.
    pub seq: u64,
    /// The message hash (not checked against `data` by the node's store;
    /// the client checks it).
    pub hash: MessageHash,
    /// The sealed envelope, opaque to nodes.
    pub data: Vec<u8>,
    /// When the node first stored it, node clock, Unix milliseconds.
    pub stored_at_ms: u64,
    /// When it expires, node clock, Unix milliseconds.
    pub expiry_ms: u64,
}

/// A whole message with its mailbox, as nodes copy it between them (the
/// store's answer to a fetch, the wire's `sync_fetch` answer).
///
/// Its hash is not part of it: the hash is a function of the mailbox and
/// the data, which is why the wire does not carry it and a receiver
/// recomputes it; the store, which keeps the hash, gives it beside the
/// message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FullMessage {
    /// The mailbox it belongs to.
    pub mailbox: MailboxKey,
    /// The sealed envelope.
    pub data: Vec<u8>,
    /// When it expires, Unix milliseconds (the clock of the node that
    /// accepted it).
    pub expiry_ms: u64,
}

/// One entry of an anti-entropy listing: a message held, or a tombstone (a
/// message deleted), without its payload.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct SyncEntry {
    /// Which message.
    pub key: MessageKey,
    /// When the message expires or, for a tombstone, until when the deletion
    /// is remembered; Unix milliseconds.
    pub expiry_ms: u64,
    /// `true` for a tombstone (a deleted message), `false` for a message.
    pub tombstone: bool,
}
