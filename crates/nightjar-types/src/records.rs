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

/// A place in *entry order*, the order anti-entropy listings are sorted in
/// (`docs/PROTOCOL.md` §5.10): ring position, then message hash, then
/// messages before tombstones, then account, then namespace. A paged listing
/// continues strictly after one.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct SyncCursor {
    /// The ring position of the entry's account.
    pub position: u64,
    /// The entry's message.
    pub key: MessageKey,
    /// Whether the entry is a tombstone.
    pub tombstone: bool,
}

impl SyncCursor {
    /// The cursor of `entry`, whose account sits at ring `position`.
    #[must_use]
    pub const fn of(position: u64, entry: &SyncEntry) -> Self {
        Self {
            position,
            key: entry.key,
            tombstone: entry.tombstone,
        }
    }
}

impl Ord for SyncCursor {
    fn cmp(&self, other: &Self) -> std::cmp::Ordering {
        (
            self.position,
            self.key.hash,
            self.tombstone,
            self.key.account,
            self.key.namespace,
        )
            .cmp(&(
                other.position,
                other.key.hash,
                other.tombstone,
                other.key.account,
                other.key.namespace,
            ))
    }
}

impl PartialOrd for SyncCursor {
    fn partial_cmp(&self, other: &Self) -> Option<std::cmp::Ordering> {
        Some(self.cmp(other))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::keys::AccountKey;

    fn cursor(position: u64, hash: u8, tombstone: bool, account: u8, namespace: u16) -> SyncCursor {
        SyncCursor {
            position,
            key: MessageKey {
                account: AccountKey::new([account; 32]),
                namespace,
                hash: MessageHash::new([hash; 32]),
            },
            tombstone,
        }
    }

    #[test]
    fn cursors_sort_by_position_hash_kind_account_then_namespace() {
        let sorted = [
            cursor(1, 9, true, 9, 9),
            cursor(2, 1, true, 9, 9),
            cursor(2, 2, false, 9, 9),
            cursor(2, 2, true, 1, 9),
            cursor(2, 2, true, 2, 0),
            cursor(2, 2, true, 2, 1),
        ];
        for pair in sorted.windows(2) {
            assert!(pair[0] < pair[1], "{pair:?}");
        }
        let mut shuffled = sorted;
        shuffled.reverse();
        shuffled.sort();
        assert_eq!(shuffled, sorted);
    }
}
