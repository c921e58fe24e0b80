//! Responses: what a node answers, and their parts.
//!
//! Not for: encoding (see `codec`). The records responses carry
//! ([`StoredMessage`], [`SyncEntry`], [`FullMessage`]) and the keys in them
//! are `nightjar-types`', shared with the store.

use nightjar_types::{FullMessage, MessageHash, NodeKey, StoredMessage, SyncCursor, SyncEntry};

use crate::error::ErrorCode;

/// A swarm: its ID on the ring and its members.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SwarmInfo {
    /// The swarm's ID on the 64-bit ring.
    pub swarm_id: u64,
    /// Members: identity key and QUIC address.
    pub nodes: Vec<(NodeKey, std::net::SocketAddr)>,
}

/// A swarm member's signed statement that it durably holds a message: one
/// signature over a batch of stores (the root of their receipt tree,
/// `nightjar_crypto::receipt_tree`) and this message's inclusion path.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Receipt {
    /// The member's identity key.
    pub node_key: NodeKey,
    /// The expiry it holds the message until.
    pub expiry_ms: u64,
    /// Ed25519 signature by `node_key` under
    /// [`LABEL_RECEIPT_BATCH`](crate::LABEL_RECEIPT_BATCH) over
    /// [`receipt_batch_signed_data`](crate::receipt_batch_signed_data) of
    /// the tree's root and `tree_size`.
    pub signature: [u8; 64],
    /// This message's leaf in the tree (below `tree_size`).
    pub leaf_index: u32,
    /// How many leaves the tree has (1 ..= [`MAX_RECEIPT_TREE`](crate::MAX_RECEIPT_TREE)).
    pub tree_size: u32,
    /// The leaf's inclusion path, bottom up (at most
    /// [`MAX_RECEIPT_PATH`](crate::MAX_RECEIPT_PATH) hashes).
    pub path: Vec<[u8; 32]>,
}

/// What a node answered.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ResponseBody {
    /// The message is durably stored.
    Stored {
        /// Its hash.
        hash: MessageHash,
        /// When it expires, node clock.
        expiry_ms: u64,
        /// True when the node already held it (the store is idempotent).
        already_stored: bool,
        /// Signed receipts of the swarm members that hold it durably
        /// (the answering node's included).
        receipts: Vec<Receipt>,
    },
    /// Messages after the cursor.
    Messages {
        /// In ascending sequence order.
        messages: Vec<StoredMessage>,
        /// The cursor to send next time (the last sequence number, or the request's if none).
        cursor: u64,
        /// True when more messages are waiting beyond this response's limits.
        more: bool,
    },
    /// Messages deleted.
    Deleted {
        /// How many of the named messages existed and are now gone.
        count: u64,
    },
    /// Node information.
    Info {
        /// The node software's version.
        software_version: String,
        /// The highest protocol version the node speaks.
        protocol_version: u32,
        /// The node's Ed25519 identity key.
        node_key: NodeKey,
    },
    /// The request failed.
    Error {
        /// What went wrong, as a code.
        code: ErrorCode,
        /// A human-readable detail; carries no user data.
        message: String,
    },
    /// This node is not in the account's swarm; ask one of these nodes.
    WrongSwarm(SwarmInfo),
    /// The account's swarm (answer to `GetSwarm`).
    Swarm(SwarmInfo),
    /// Sync digests, one per bucket.
    Digest(Vec<[u8; 32]>),
    /// Sync listing.
    Entries {
        /// Entries sorted by ring position, then hash.
        entries: Vec<SyncEntry>,
        /// True when the listing stopped before the end of the range (set
        /// together with `next`; nodes that predate paging set only this).
        truncated: bool,
        /// Where the listing stopped: ask again with this as `after` for
        /// the rest. `None` when the range is done.
        next: Option<SyncCursor>,
    },
    /// Fetched messages.
    Full(Vec<FullMessage>),
    /// The answer to an onion request: this hop's response layer (opened by
    /// the client with `nightjar_crypto::onion::ReturnKeys::open`).
    Onion(Vec<u8>),
    /// The node's registry snapshot (answer to `GetRegistry`). The reader
    /// must check `hash` against the text
    /// (`nightjar_crypto::hash::registry_snapshot_hash`); this crate does not.
    Registry {
        /// Number of events in the registry log.
        height: u64,
        /// `registry_snapshot_hash(text)`.
        hash: [u8; 32],
        /// The registry in TOML, at most [`MAX_REGISTRY_TEXT`](crate::MAX_REGISTRY_TEXT) bytes.
        text: String,
    },
    /// The answer to a claim: the claim holds for this claimant. To a
    /// client, `data` is the record (the entry node checked its hash); in a
    /// member's vote to the entry node it is the member's copy, or empty if
    /// the member does not hold the record.
    Claimed {
        /// The record, at most [`MAX_MESSAGE_SIZE`](crate::MAX_MESSAGE_SIZE) bytes.
        data: Vec<u8>,
    },
}

/// A node's response: every response carries the node's clock.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Response {
    /// The node's clock when it answered, Unix ms.
    pub node_time_ms: u64,
    /// The answer.
    pub body: ResponseBody,
}

impl Response {
    /// An error response.
    pub fn error(node_time_ms: u64, code: ErrorCode, message: impl Into<String>) -> Response {
        Response {
            node_time_ms,
            body: ResponseBody::Error {
                code,
                message: message.into(),
            },
        }
    }
}
