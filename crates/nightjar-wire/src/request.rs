//! Requests: what a client or a node asks a node, and their parts.
//!
//! Not for: encoding (see `codec`) or the bytes a signature covers (see
//! `signed`). The keys requests carry ([`AccountKey`], [`MessageHash`],
//! [`MessageKey`]) are `nightjar-types`'.

use nightjar_types::{AccountKey, Claimant, MessageHash, MessageKey, SyncCursor};

/// Deposit a message into an account's mailbox. Not signed: anyone may write
/// to an account's mailboxes, and the node never learns the sender. In a
/// published namespace (`nightjar_types::namespace::PUBLISHED`) `data` must
/// be the account's signed record (`sig ‖ body`, `docs/PROTOCOL.md` §5.12).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoreRequest {
    /// The recipient account's Ed25519 key.
    pub account: AccountKey,
    /// The namespace (0 for direct messages).
    pub namespace: u16,
    /// Time to live, within [`MIN_TTL_MS`](crate::MIN_TTL_MS)..=[`MAX_TTL_MS`](crate::MAX_TTL_MS).
    pub ttl_ms: u64,
    /// The sealed envelope, at most [`MAX_MESSAGE_SIZE`](crate::MAX_MESSAGE_SIZE) bytes.
    pub data: Vec<u8>,
}

/// Read an account's messages after a cursor, optionally waiting for new ones.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RetrieveRequest {
    /// The account whose mailbox is read.
    pub account: AccountKey,
    /// The namespace.
    pub namespace: u16,
    /// Return messages whose node sequence number is greater than this.
    pub after_seq: u64,
    /// If nothing is there yet, hold the request up to this long (≤ [`MAX_WAIT_MS`](crate::MAX_WAIT_MS)).
    pub wait_ms: u32,
    /// The signer's clock, Unix milliseconds (not checked in a published
    /// namespace).
    pub timestamp_ms: u64,
    /// Ed25519 signature by the account key over [`RetrieveRequest::signed_data`]
    /// under the label [`LABEL_RETRIEVE`](crate::LABEL_RETRIEVE).
    ///
    /// A published namespace needs none: there 64 zero bytes stand for "no
    /// signature" (the encoder leaves the field empty, and the decoder reads
    /// an empty field as zeros; see [`RetrieveRequest::public`]).
    pub signature: [u8; 64],
}

impl RetrieveRequest {
    /// An unsigned retrieve of a published namespace (anyone may read one),
    /// with timestamp 0 and no signature. In other namespaces a node
    /// refuses it (`bad_signature` or a timestamp error).
    pub fn public(account: AccountKey, namespace: u16, after_seq: u64, wait_ms: u32) -> Self {
        RetrieveRequest {
            account,
            namespace,
            after_seq,
            wait_ms,
            timestamp_ms: 0,
            signature: [0; 64],
        }
    }

    /// Whether this retrieve reads a published namespace, which needs no
    /// signature.
    pub fn is_public(&self) -> bool {
        nightjar_types::namespace::is_published(self.namespace)
    }
}

/// Delete named messages from an account's mailbox.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DeleteRequest {
    /// The account whose messages are deleted.
    pub account: AccountKey,
    /// The namespace.
    pub namespace: u16,
    /// The hashes of the messages to delete (1..=[`MAX_DELETE_HASHES`](crate::MAX_DELETE_HASHES)).
    pub hashes: Vec<MessageHash>,
    /// The signer's clock, Unix milliseconds.
    pub timestamp_ms: u64,
    /// Ed25519 signature by the account key over [`DeleteRequest::signed_data`]
    /// under the label [`LABEL_DELETE`](crate::LABEL_DELETE).
    pub signature: [u8; 64],
}

/// Node to node: hold a copy of a message another swarm member accepted,
/// with that member's expiry. Only registered nodes may send it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReplicateRequest {
    /// Recipient account key.
    pub account: AccountKey,
    /// Namespace.
    pub namespace: u16,
    /// The sealed envelope.
    pub data: Vec<u8>,
    /// Expiry set by the entry node, Unix ms.
    pub expiry_ms: u64,
}

/// Peel one onion layer: relay it to the next hop, or deliver the request
/// inside. Anyone may send it (`docs/PROTOCOL.md`, "Onion routing").
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OnionRequest {
    /// The ephemeral X25519 public key of this hop's layer.
    pub ephemeral_key: [u8; 32],
    /// This hop's layer, 1..=[`MAX_ONION_LAYER`](crate::MAX_ONION_LAYER) bytes.
    pub layer: Vec<u8>,
    /// The position of the receiving node on the path (0 = the guard), below
    /// [`MAX_ONION_HOPS`](crate::MAX_ONION_HOPS).
    pub hop: u32,
}

/// Hand out one record of a claimable namespace
/// (`nightjar_types::namespace::CLAIMABLE`) to one claimant, once: the entry
/// node asks every member of the account's swarm to record the claim, and
/// answers the record if a majority agreed (`docs/PROTOCOL.md` §5.13). From
/// a registered node it is one member's vote.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClaimRequest {
    /// The account that published the record.
    pub account: AccountKey,
    /// The namespace, claimable (checked when decoding).
    pub namespace: u16,
    /// The record's message hash.
    pub hash: MessageHash,
    /// Who claims it: 16 random bytes, the same on every retry.
    pub claimant: Claimant,
}

/// A validated request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Request {
    /// Deposit a message.
    Store(StoreRequest),
    /// Read messages.
    Retrieve(RetrieveRequest),
    /// Delete messages.
    Delete(DeleteRequest),
    /// Ask for the node's version and time.
    Info,
    /// Node to node: hold a replica.
    Replicate(ReplicateRequest),
    /// Node to node: digests of the entries in a ring range, split into buckets.
    SyncDigest {
        /// Range start (inclusive) on the ring.
        start: u64,
        /// Range end (exclusive); `start == end` is the whole ring; wraps if `start > end`.
        end: u64,
        /// How many equal sub-ranges to digest (1..=[`MAX_SYNC_BUCKETS`](crate::MAX_SYNC_BUCKETS)).
        buckets: u32,
    },
    /// Node to node: list the entries in a ring range, at most
    /// [`MAX_SYNC_ENTRIES`](crate::MAX_SYNC_ENTRIES) per answer.
    SyncList {
        /// Range start.
        start: u64,
        /// Range end.
        end: u64,
        /// Continue strictly after this entry (the previous answer's
        /// `next`); from the start of the range if `None`.
        after: Option<SyncCursor>,
    },
    /// Node to node: the full messages named (1..=[`MAX_FETCH_KEYS`](crate::MAX_FETCH_KEYS)).
    SyncFetch(Vec<MessageKey>),
    /// Which swarm holds this account, and its members.
    GetSwarm {
        /// The account key.
        account: AccountKey,
    },
    /// Peel an onion layer and relay or deliver it.
    Onion(OnionRequest),
    /// The node's current registry snapshot.
    GetRegistry,
    /// Claim a one-time record (from a registered node: a member's vote).
    Claim(ClaimRequest),
}

impl Request {
    /// A short name for logs and metrics.
    pub fn kind(&self) -> &'static str {
        match self {
            Request::Store(_) => "store",
            Request::Retrieve(_) => "retrieve",
            Request::Delete(_) => "delete",
            Request::Info => "info",
            Request::Replicate(_) => "replicate",
            Request::SyncDigest { .. } => "sync_digest",
            Request::SyncList { .. } => "sync_list",
            Request::SyncFetch(_) => "sync_fetch",
            Request::GetSwarm { .. } => "get_swarm",
            Request::Onion(_) => "onion",
            Request::GetRegistry => "get_registry",
            Request::Claim(_) => "claim",
        }
    }

    /// The one account whose mailbox (or published records) this request
    /// concerns, if it concerns exactly one: what binds a circuit
    /// (`docs/PROTOCOL.md` §11.11). `None` for `info`, registry, node-to-node
    /// and onion requests.
    pub fn mailbox(&self) -> Option<&AccountKey> {
        match self {
            Request::Store(r) => Some(&r.account),
            Request::Retrieve(r) => Some(&r.account),
            Request::Delete(r) => Some(&r.account),
            Request::Claim(r) => Some(&r.account),
            Request::GetSwarm { account } => Some(account),
            _ => None,
        }
    }

    /// Whether only registered nodes may send this request.
    pub fn is_node_only(&self) -> bool {
        matches!(
            self,
            Request::Replicate(_)
                | Request::SyncDigest { .. }
                | Request::SyncList { .. }
                | Request::SyncFetch(_)
        )
    }
}
