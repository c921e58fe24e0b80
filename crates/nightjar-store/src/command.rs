//! Store operations as values: what a sans-IO node core asks of its store,
//! and what the store answers.
//!
//! The node core never calls a store: it emits a [`StoreCommand`], its driver
//! runs the command against whichever [`crate::MessageStore`] it holds (the
//! SQLite [`crate::Store`] in production, [`crate::MemoryStore`] in the
//! simulator and in tests) and hands the [`StoreReply`] back. Both sides name
//! one set of operations, so a command means the same thing on every store.

use crate::error::StoreError;
use crate::types::{ClaimOutcome, NewClaim, NewMessage, PositionedEntry, StoreOutcome, Tombstone};
use nightjar_types::{AccountKey, FullMessage, MessageHash, MessageKey, StoredMessage, SyncCursor};

/// One store operation, with all its arguments (the clock included).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum StoreCommand {
    /// [`crate::MessageStore::store`].
    Store(NewMessage),
    /// [`crate::MessageStore::delete`].
    Delete {
        /// The account.
        account: AccountKey,
        /// The namespace.
        namespace: u16,
        /// The hashes to delete.
        hashes: Vec<MessageHash>,
        /// The clock, Unix ms.
        now_ms: u64,
        /// How long a tombstone for a message not held here is kept.
        tombstone_ttl_ms: u64,
    },
    /// [`crate::MessageStore::add_tombstones`].
    AddTombstones(Vec<Tombstone>),
    /// [`crate::MessageStore::drop_range`].
    DropRange {
        /// Range start.
        start: u64,
        /// Range end.
        end: u64,
    },
    /// [`crate::MessageStore::purge_expired`].
    Purge {
        /// The clock, Unix ms.
        now_ms: u64,
    },
    /// [`crate::MessageStore::retrieve`].
    Retrieve {
        /// The account.
        account: AccountKey,
        /// The namespace.
        namespace: u16,
        /// The cursor.
        after_seq: u64,
        /// The clock, Unix ms.
        now_ms: u64,
        /// At most this many messages.
        max_messages: usize,
        /// At most this many payload bytes (at least one message).
        max_bytes: usize,
    },
    /// [`crate::MessageStore::list_range_after`]: one page of a range.
    ListRange {
        /// Range start.
        start: u64,
        /// Range end.
        end: u64,
        /// The clock, Unix ms.
        now_ms: u64,
        /// List strictly after this entry (from the start if `None`).
        after: Option<SyncCursor>,
        /// At most this many entries.
        limit: usize,
    },
    /// [`crate::MessageStore::fetch`].
    Fetch {
        /// The key of each message wanted.
        keys: Vec<MessageKey>,
        /// The clock, Unix ms.
        now_ms: u64,
    },
    /// [`crate::MessageStore::claim`].
    Claim(NewClaim),
}

impl StoreCommand {
    /// Whether the command changes the store (it goes through the writer).
    #[must_use]
    pub fn is_write(&self) -> bool {
        !matches!(
            self,
            StoreCommand::Retrieve { .. }
                | StoreCommand::ListRange { .. }
                | StoreCommand::Fetch { .. }
        )
    }
}

/// The answer to a [`StoreCommand`]; each command has one kind of answer.
#[derive(Debug, Clone)]
pub enum StoreReply {
    /// The answer to [`StoreCommand::Store`].
    Stored(Result<StoreOutcome, StoreError>),
    /// The answer to [`StoreCommand::Delete`], [`StoreCommand::AddTombstones`],
    /// [`StoreCommand::DropRange`] and [`StoreCommand::Purge`]: how many
    /// messages were removed.
    Count(Result<u64, StoreError>),
    /// The answer to [`StoreCommand::Retrieve`].
    Messages(Result<Vec<StoredMessage>, StoreError>),
    /// The answer to [`StoreCommand::ListRange`].
    Entries(Result<Vec<PositionedEntry>, StoreError>),
    /// The answer to [`StoreCommand::Fetch`].
    Full(Result<Vec<(MessageHash, FullMessage)>, StoreError>),
    /// The answer to [`StoreCommand::Claim`].
    Claimed(Result<ClaimOutcome, StoreError>),
}

impl StoreReply {
    /// The reply a command gets when the store cannot run it at all (its
    /// writer is gone): the right kind of answer, carrying `error`.
    #[must_use]
    pub fn failed(command: &StoreCommand, error: StoreError) -> StoreReply {
        match command {
            StoreCommand::Store(_) => StoreReply::Stored(Err(error)),
            StoreCommand::Delete { .. }
            | StoreCommand::AddTombstones(_)
            | StoreCommand::DropRange { .. }
            | StoreCommand::Purge { .. } => StoreReply::Count(Err(error)),
            StoreCommand::Retrieve { .. } => StoreReply::Messages(Err(error)),
            StoreCommand::ListRange { .. } => StoreReply::Entries(Err(error)),
            StoreCommand::Fetch { .. } => StoreReply::Full(Err(error)),
            StoreCommand::Claim(_) => StoreReply::Claimed(Err(error)),
        }
    }
}
