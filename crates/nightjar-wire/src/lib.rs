//! Nightjar's wire messages: what a client and a service node say to each other.
//!
//! This crate turns requests and responses into bytes and back, with every
//! length, range and version checked on the way in. It owns the protocol
//! constants (ALPN, limits, TTL bounds, clock window) and the error codes a node
//! answers with. Each request travels on its own QUIC bidirectional stream as a
//! single *frame*: a 4-byte big-endian length followed by a protobuf message
//! (`docs/PROTOCOL.md`, section "Requests").
//!
//! It is **not** a transport (no sockets, no QUIC: see `nightjar-transport`) and
//! does no cryptography: the bytes a request signature covers are built here
//! ([`RetrieveRequest::signed_data`], [`DeleteRequest::signed_data`]) but signed
//! and checked by `nightjar-crypto`.

pub mod proto;

use prost::Message as _;

/// The protocol version carried in every request and response.
pub const PROTOCOL_VERSION: u32 = 1;
/// The TLS ALPN identifier of this protocol version.
pub const ALPN: &[u8] = b"nightjar/1";
/// Largest request frame a node reads, length prefix included (128 KiB: a
/// maximal onion layer of [`MAX_ONION_LAYER`] bytes, or one maximal message,
/// plus room for the other fields).
pub const MAX_REQUEST_FRAME: usize = 128 * 1024;
/// Largest response frame a client reads, length prefix included (9 MiB: a
/// maximal onion answer, 8,454,144 bytes of padded response plus 18 bytes per
/// hop, plus room for the other fields).
pub const MAX_RESPONSE_FRAME: usize = 9 * 1024 * 1024;
/// Largest message (`data` of a store) a node accepts, in bytes.
pub const MAX_MESSAGE_SIZE: usize = 76_800;
/// Shortest time to live a node accepts.
pub const MIN_TTL_MS: u64 = 10_000;
/// Longest time to live a node accepts (14 days).
pub const MAX_TTL_MS: u64 = 14 * 24 * 60 * 60 * 1000;
/// Longest a retrieve may ask the node to wait for a new message.
pub const MAX_WAIT_MS: u32 = 30_000;
/// How far a signed request's timestamp may be from the node's clock, either way.
pub const CLOCK_WINDOW_MS: u64 = 60_000;
/// Most message hashes one delete request may name.
pub const MAX_DELETE_HASHES: usize = 1_000;
/// Most bytes of message data one retrieve response carries.
pub const MAX_RETRIEVE_BYTES: usize = 7_800_000;
/// Most messages one retrieve response carries.
pub const MAX_RETRIEVE_MESSAGES: usize = 1_000;
/// The namespace of direct messages.
pub const NAMESPACE_DEFAULT: u16 = 0;
/// Most buckets a sync digest request may ask for.
pub const MAX_SYNC_BUCKETS: u32 = 1024;
/// Most entries one sync list response carries (the rest is marked truncated).
pub const MAX_SYNC_ENTRIES: usize = 20_000;
/// Most messages one sync fetch may name (their data must fit a response frame).
pub const MAX_FETCH_KEYS: usize = 100;
/// Most nodes a swarm description may list.
pub const MAX_SWARM_NODES: usize = 64;
/// Most receipts a store response may carry.
pub const MAX_RECEIPTS: usize = 64;
/// Longest onion `layer` a request may carry, in bytes (at least
/// `nightjar_crypto::onion::MAX_LAYER_LEN`, 98,924).
pub const MAX_ONION_LAYER: usize = 100_000;
/// Most hops an onion path may have: an onion request's `hop` is below this.
pub const MAX_ONION_HOPS: u32 = 8;
/// Longest registry text a `Registry` response may carry (4 MiB, the limit of
/// a registry file).
pub const MAX_REGISTRY_TEXT: usize = 4 * 1024 * 1024;
/// Domain label of a node's store receipt signature.
pub const LABEL_RECEIPT: &str = "nightjar/v1/receipt";
/// Domain label of the retrieve request signature.
pub const LABEL_RETRIEVE: &str = "nightjar/v1/retrieve";
/// Domain label of the delete request signature.
pub const LABEL_DELETE: &str = "nightjar/v1/delete";

/// Why bytes could not be read as a request or response.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum WireError {
    /// The frame ended before its length prefix or body did; the peer sent a partial frame.
    #[error("truncated frame: need {needed} bytes, have {have}")]
    Truncated {
        /// Bytes the frame announced (or 4 for the prefix).
        needed: usize,
        /// Bytes actually present.
        have: usize,
    },
    /// The frame is larger than this side accepts; send less per request.
    #[error("frame of {len} bytes exceeds the limit of {limit}")]
    FrameTooLarge {
        /// Announced or actual length.
        len: usize,
        /// The limit in force.
        limit: usize,
    },
    /// Bytes followed the frame; a stream carries exactly one frame.
    #[error("{0} unexpected bytes after the frame")]
    TrailingBytes(usize),
    /// The protobuf body did not parse.
    #[error("malformed protobuf: {0}")]
    Malformed(String),
    /// The peer speaks a protocol version this build does not; upgrade one side.
    #[error("unsupported protocol version {0} (this build speaks {PROTOCOL_VERSION})")]
    UnsupportedVersion(u32),
    /// A required field is absent.
    #[error("missing field {0}")]
    MissingField(&'static str),
    /// A field has the wrong length or an out-of-range value.
    #[error("invalid field {field}: {reason}")]
    InvalidField {
        /// Which field.
        field: &'static str,
        /// What is wrong with it.
        reason: String,
    },
    /// The message data exceeds [`MAX_MESSAGE_SIZE`].
    #[error("message of {0} bytes exceeds the limit of {MAX_MESSAGE_SIZE}")]
    MessageTooLarge(usize),
    /// The TTL is outside [`MIN_TTL_MS`]..=[`MAX_TTL_MS`].
    #[error("ttl {0} ms is outside {MIN_TTL_MS}..={MAX_TTL_MS} ms")]
    TtlOutOfRange(u64),
}

impl WireError {
    /// The error code a node answers this decoding failure with.
    pub fn code(&self) -> ErrorCode {
        match self {
            WireError::UnsupportedVersion(_) => ErrorCode::UnsupportedVersion,
            WireError::MessageTooLarge(_) | WireError::FrameTooLarge { .. } => ErrorCode::TooLarge,
            WireError::TtlOutOfRange(_) => ErrorCode::TtlOutOfRange,
            _ => ErrorCode::BadRequest,
        }
    }
}

/// The error codes of a node's error response (`docs/PROTOCOL.md`, "Error codes").
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum ErrorCode {
    /// The request did not decode (truncated, malformed, wrong field lengths).
    BadRequest,
    /// The request's protocol version is not spoken by this node.
    UnsupportedVersion,
    /// The message or frame is larger than allowed.
    TooLarge,
    /// The TTL is outside the allowed range.
    TtlOutOfRange,
    /// The request signature does not verify for the account.
    BadSignature,
    /// The signed timestamp is older than the clock window allows.
    StaleTimestamp,
    /// The signed timestamp is further in the future than the clock window allows.
    FutureTimestamp,
    /// This exact signed request was already seen inside the clock window.
    Replay,
    /// The account field is not a valid account key.
    UnknownAccount,
    /// The account's storage quota is full; delete messages or wait for expiry.
    QuotaExceeded,
    /// The node failed internally; retry later or elsewhere.
    Internal,
    /// The node is overloaded or shutting down; retry later or elsewhere.
    Unavailable,
    /// The request is for registered nodes only (replication, sync).
    NotANode,
    /// The message is stored on this node, but fewer swarm members than the
    /// write quorum confirmed it; retry the store (it is idempotent).
    QuorumNotReached,
    /// The recipient deleted this message; it will not be stored again.
    Deleted,
    /// The node's disk is full; it still serves reads. Retry elsewhere or later.
    StorageFull,
    /// This connection or address sent more than the node allows; slow down.
    RateLimited,
    /// The node could not open its onion layer (it does not decrypt, is
    /// malformed, or is too large); not retryable at that hop.
    OnionFailed,
    /// A code this build does not know (from a newer peer).
    Unknown(u32),
}

impl ErrorCode {
    /// The number on the wire.
    pub fn as_u32(self) -> u32 {
        match self {
            ErrorCode::BadRequest => 1,
            ErrorCode::UnsupportedVersion => 2,
            ErrorCode::TooLarge => 3,
            ErrorCode::TtlOutOfRange => 4,
            ErrorCode::BadSignature => 5,
            ErrorCode::StaleTimestamp => 6,
            ErrorCode::FutureTimestamp => 7,
            ErrorCode::Replay => 8,
            ErrorCode::UnknownAccount => 9,
            ErrorCode::QuotaExceeded => 10,
            ErrorCode::Internal => 11,
            ErrorCode::Unavailable => 12,
            ErrorCode::NotANode => 13,
            ErrorCode::QuorumNotReached => 14,
            ErrorCode::Deleted => 15,
            ErrorCode::StorageFull => 16,
            ErrorCode::RateLimited => 17,
            ErrorCode::OnionFailed => 18,
            ErrorCode::Unknown(n) => n,
        }
    }

    /// The code for a number on the wire.
    pub fn from_u32(n: u32) -> ErrorCode {
        match n {
            1 => ErrorCode::BadRequest,
            2 => ErrorCode::UnsupportedVersion,
            3 => ErrorCode::TooLarge,
            4 => ErrorCode::TtlOutOfRange,
            5 => ErrorCode::BadSignature,
            6 => ErrorCode::StaleTimestamp,
            7 => ErrorCode::FutureTimestamp,
            8 => ErrorCode::Replay,
            9 => ErrorCode::UnknownAccount,
            10 => ErrorCode::QuotaExceeded,
            11 => ErrorCode::Internal,
            12 => ErrorCode::Unavailable,
            13 => ErrorCode::NotANode,
            14 => ErrorCode::QuorumNotReached,
            15 => ErrorCode::Deleted,
            16 => ErrorCode::StorageFull,
            17 => ErrorCode::RateLimited,
            18 => ErrorCode::OnionFailed,
            n => ErrorCode::Unknown(n),
        }
    }

    /// A stable snake_case name, for metrics labels and JSON.
    pub fn name(self) -> &'static str {
        match self {
            ErrorCode::BadRequest => "bad_request",
            ErrorCode::UnsupportedVersion => "unsupported_version",
            ErrorCode::TooLarge => "too_large",
            ErrorCode::TtlOutOfRange => "ttl_out_of_range",
            ErrorCode::BadSignature => "bad_signature",
            ErrorCode::StaleTimestamp => "stale_timestamp",
            ErrorCode::FutureTimestamp => "future_timestamp",
            ErrorCode::Replay => "replay",
            ErrorCode::UnknownAccount => "unknown_account",
            ErrorCode::QuotaExceeded => "quota_exceeded",
            ErrorCode::Internal => "internal",
            ErrorCode::Unavailable => "unavailable",
            ErrorCode::NotANode => "not_a_node",
            ErrorCode::QuorumNotReached => "quorum_not_reached",
            ErrorCode::Deleted => "deleted",
            ErrorCode::StorageFull => "storage_full",
            ErrorCode::RateLimited => "rate_limited",
            ErrorCode::OnionFailed => "onion_failed",
            ErrorCode::Unknown(_) => "unknown",
        }
    }

    /// Whether the same request may succeed if sent again later or to another node.
    pub fn is_retryable(self) -> bool {
        matches!(
            self,
            ErrorCode::Internal
                | ErrorCode::Unavailable
                | ErrorCode::QuorumNotReached
                | ErrorCode::StorageFull
                | ErrorCode::RateLimited
                | ErrorCode::StaleTimestamp
                | ErrorCode::FutureTimestamp
        )
    }
}

impl std::fmt::Display for ErrorCode {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}

/// A 32-byte account public key as it appears on the wire (validated as a
/// curve point by the node, not here).
pub type AccountKey = [u8; 32];
/// A 32-byte message hash.
pub type MessageHash = [u8; 32];

/// Deposit a message into an account's mailbox. Not signed: anyone may write
/// to a public namespace, and the node never learns the sender.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoreRequest {
    /// The recipient account's Ed25519 key.
    pub account: AccountKey,
    /// The namespace (0 for direct messages).
    pub namespace: u16,
    /// Time to live, within [`MIN_TTL_MS`]..=[`MAX_TTL_MS`].
    pub ttl_ms: u64,
    /// The sealed envelope, at most [`MAX_MESSAGE_SIZE`] bytes.
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
    /// If nothing is there yet, hold the request up to this long (≤ [`MAX_WAIT_MS`]).
    pub wait_ms: u32,
    /// The signer's clock, Unix milliseconds.
    pub timestamp_ms: u64,
    /// Ed25519 signature by the account key over [`RetrieveRequest::signed_data`]
    /// under the label [`LABEL_RETRIEVE`].
    pub signature: [u8; 64],
}

impl RetrieveRequest {
    /// The bytes the signature covers: account ‖ namespace (u16 BE) ‖ after_seq
    /// (u64 BE) ‖ wait_ms (u32 BE) ‖ timestamp_ms (u64 BE).
    pub fn signed_data(&self) -> Vec<u8> {
        retrieve_signed_data(
            &self.account,
            self.namespace,
            self.after_seq,
            self.wait_ms,
            self.timestamp_ms,
        )
    }
}

/// The bytes a retrieve signature covers, for a request not yet built.
pub fn retrieve_signed_data(
    account: &AccountKey,
    namespace: u16,
    after_seq: u64,
    wait_ms: u32,
    timestamp_ms: u64,
) -> Vec<u8> {
    let mut out = Vec::with_capacity(32 + 2 + 8 + 4 + 8);
    out.extend_from_slice(account);
    out.extend_from_slice(&namespace.to_be_bytes());
    out.extend_from_slice(&after_seq.to_be_bytes());
    out.extend_from_slice(&wait_ms.to_be_bytes());
    out.extend_from_slice(&timestamp_ms.to_be_bytes());
    out
}

/// Delete named messages from an account's mailbox.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DeleteRequest {
    /// The account whose messages are deleted.
    pub account: AccountKey,
    /// The namespace.
    pub namespace: u16,
    /// The hashes of the messages to delete (1..=[`MAX_DELETE_HASHES`]).
    pub hashes: Vec<MessageHash>,
    /// The signer's clock, Unix milliseconds.
    pub timestamp_ms: u64,
    /// Ed25519 signature by the account key over [`DeleteRequest::signed_data`]
    /// under the label [`LABEL_DELETE`].
    pub signature: [u8; 64],
}

impl DeleteRequest {
    /// The bytes the signature covers: account ‖ namespace (u16 BE) ‖
    /// timestamp_ms (u64 BE) ‖ count (u32 BE) ‖ each hash.
    pub fn signed_data(&self) -> Vec<u8> {
        delete_signed_data(
            &self.account,
            self.namespace,
            &self.hashes,
            self.timestamp_ms,
        )
    }
}

/// The bytes a delete signature covers, for a request not yet built.
pub fn delete_signed_data(
    account: &AccountKey,
    namespace: u16,
    hashes: &[MessageHash],
    timestamp_ms: u64,
) -> Vec<u8> {
    let mut out = Vec::with_capacity(32 + 2 + 8 + 4 + 32 * hashes.len());
    out.extend_from_slice(account);
    out.extend_from_slice(&namespace.to_be_bytes());
    out.extend_from_slice(&timestamp_ms.to_be_bytes());
    // MAX_DELETE_HASHES keeps this far below u32::MAX; saturate rather than wrap.
    let count = u32::try_from(hashes.len()).unwrap_or(u32::MAX);
    out.extend_from_slice(&count.to_be_bytes());
    for h in hashes {
        out.extend_from_slice(h);
    }
    out
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

/// A message's identity in a swarm.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct MessageKey {
    /// Account key.
    pub account: AccountKey,
    /// Namespace.
    pub namespace: u16,
    /// Message hash.
    pub hash: MessageHash,
}

/// One entry of a sync listing: a message or a tombstone (deleted message).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SyncEntry {
    /// Which message.
    pub key: MessageKey,
    /// Its expiry (for a tombstone: until when the deletion is remembered).
    pub expiry_ms: u64,
    /// True for a deletion.
    pub tombstone: bool,
}

/// A whole message, as sync fetch returns it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FullMessage {
    /// Account key.
    pub account: AccountKey,
    /// Namespace.
    pub namespace: u16,
    /// The sealed envelope.
    pub data: Vec<u8>,
    /// Expiry, Unix ms.
    pub expiry_ms: u64,
}

/// A swarm: its ID on the ring and its members.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SwarmInfo {
    /// The swarm's ID on the 64-bit ring.
    pub swarm_id: u64,
    /// Members: identity key and QUIC address.
    pub nodes: Vec<([u8; 32], std::net::SocketAddr)>,
}

/// A swarm member's signed statement that it durably holds a message.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Receipt {
    /// The member's identity key.
    pub node_key: [u8; 32],
    /// The expiry it holds the message until.
    pub expiry_ms: u64,
    /// Ed25519 signature by `node_key` under [`LABEL_RECEIPT`] over
    /// [`receipt_signed_data`].
    pub signature: [u8; 64],
}

/// The bytes a receipt signature covers: message hash (32) ‖ expiry_ms (u64 BE).
pub fn receipt_signed_data(hash: &MessageHash, expiry_ms: u64) -> Vec<u8> {
    let mut out = Vec::with_capacity(40);
    out.extend_from_slice(hash);
    out.extend_from_slice(&expiry_ms.to_be_bytes());
    out
}

/// Peel one onion layer: relay it to the next hop, or deliver the request
/// inside. Anyone may send it (`docs/PROTOCOL.md`, "Onion routing").
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OnionRequest {
    /// The ephemeral X25519 public key of this hop's layer.
    pub ephemeral_key: [u8; 32],
    /// This hop's layer, 1..=[`MAX_ONION_LAYER`] bytes.
    pub layer: Vec<u8>,
    /// The position of the receiving node on the path (0 = the guard), below
    /// [`MAX_ONION_HOPS`].
    pub hop: u32,
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
        /// How many equal sub-ranges to digest (1..=[`MAX_SYNC_BUCKETS`]).
        buckets: u32,
    },
    /// Node to node: list the entries in a ring range.
    SyncList {
        /// Range start.
        start: u64,
        /// Range end.
        end: u64,
    },
    /// Node to node: the full messages named (1..=[`MAX_FETCH_KEYS`]).
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

    /// Encode as a complete frame (length prefix included).
    pub fn to_frame(&self) -> Vec<u8> {
        let body = match self {
            Request::Store(r) => proto::request::Body::Store(proto::Store {
                account: r.account.to_vec(),
                namespace: u32::from(r.namespace),
                ttl_ms: r.ttl_ms,
                data: r.data.clone(),
            }),
            Request::Retrieve(r) => proto::request::Body::Retrieve(proto::Retrieve {
                account: r.account.to_vec(),
                namespace: u32::from(r.namespace),
                after_seq: r.after_seq,
                wait_ms: r.wait_ms,
                timestamp_ms: r.timestamp_ms,
                signature: r.signature.to_vec(),
            }),
            Request::Delete(r) => proto::request::Body::Delete(proto::Delete {
                account: r.account.to_vec(),
                namespace: u32::from(r.namespace),
                hashes: r.hashes.iter().map(|h| h.to_vec()).collect(),
                timestamp_ms: r.timestamp_ms,
                signature: r.signature.to_vec(),
            }),
            Request::Info => proto::request::Body::Info(proto::Info {}),
            Request::Replicate(r) => proto::request::Body::Replicate(proto::Replicate {
                account: r.account.to_vec(),
                namespace: u32::from(r.namespace),
                data: r.data.clone(),
                expiry_ms: r.expiry_ms,
            }),
            Request::SyncDigest {
                start,
                end,
                buckets,
            } => proto::request::Body::SyncDigest(proto::SyncDigest {
                start: *start,
                end: *end,
                buckets: *buckets,
            }),
            Request::SyncList { start, end } => proto::request::Body::SyncList(proto::SyncList {
                start: *start,
                end: *end,
            }),
            Request::SyncFetch(keys) => proto::request::Body::SyncFetch(proto::SyncFetch {
                keys: keys.iter().map(key_to_proto).collect(),
            }),
            Request::GetSwarm { account } => proto::request::Body::GetSwarm(proto::GetSwarm {
                account: account.to_vec(),
            }),
            Request::Onion(o) => proto::request::Body::Onion(proto::Onion {
                ephemeral_key: o.ephemeral_key.to_vec(),
                layer: o.layer.clone(),
                hop: o.hop,
            }),
            Request::GetRegistry => proto::request::Body::GetRegistry(proto::GetRegistry {}),
        };
        frame(&proto::Request {
            version: PROTOCOL_VERSION,
            body: Some(body),
        })
    }

    /// Decode and validate a complete request frame of at most [`MAX_REQUEST_FRAME`] bytes.
    pub fn from_frame(bytes: &[u8]) -> Result<Request, WireError> {
        let body = unframe(bytes, MAX_REQUEST_FRAME)?;
        let raw = proto::Request::decode(body).map_err(|e| WireError::Malformed(e.to_string()))?;
        if raw.version != PROTOCOL_VERSION {
            return Err(WireError::UnsupportedVersion(raw.version));
        }
        match raw.body.ok_or(WireError::MissingField("body"))? {
            proto::request::Body::Store(s) => {
                if s.data.len() > MAX_MESSAGE_SIZE {
                    return Err(WireError::MessageTooLarge(s.data.len()));
                }
                if s.data.is_empty() {
                    return Err(invalid("data", "empty message"));
                }
                if !(MIN_TTL_MS..=MAX_TTL_MS).contains(&s.ttl_ms) {
                    return Err(WireError::TtlOutOfRange(s.ttl_ms));
                }
                Ok(Request::Store(StoreRequest {
                    account: fixed("account", &s.account)?,
                    namespace: namespace(s.namespace)?,
                    ttl_ms: s.ttl_ms,
                    data: s.data,
                }))
            }
            proto::request::Body::Retrieve(r) => {
                if r.wait_ms > MAX_WAIT_MS {
                    return Err(invalid(
                        "wait_ms",
                        format!("{} exceeds {MAX_WAIT_MS}", r.wait_ms),
                    ));
                }
                Ok(Request::Retrieve(RetrieveRequest {
                    account: fixed("account", &r.account)?,
                    namespace: namespace(r.namespace)?,
                    after_seq: r.after_seq,
                    wait_ms: r.wait_ms,
                    timestamp_ms: r.timestamp_ms,
                    signature: fixed("signature", &r.signature)?,
                }))
            }
            proto::request::Body::Delete(d) => {
                if d.hashes.is_empty() || d.hashes.len() > MAX_DELETE_HASHES {
                    return Err(invalid(
                        "hashes",
                        format!("{} hashes, need 1..={MAX_DELETE_HASHES}", d.hashes.len()),
                    ));
                }
                let hashes = d
                    .hashes
                    .iter()
                    .map(|h| fixed("hashes", h))
                    .collect::<Result<Vec<_>, _>>()?;
                Ok(Request::Delete(DeleteRequest {
                    account: fixed("account", &d.account)?,
                    namespace: namespace(d.namespace)?,
                    hashes,
                    timestamp_ms: d.timestamp_ms,
                    signature: fixed("signature", &d.signature)?,
                }))
            }
            proto::request::Body::Info(_) => Ok(Request::Info),
            proto::request::Body::Replicate(r) => {
                if r.data.len() > MAX_MESSAGE_SIZE {
                    return Err(WireError::MessageTooLarge(r.data.len()));
                }
                if r.data.is_empty() {
                    return Err(invalid("data", "empty message"));
                }
                Ok(Request::Replicate(ReplicateRequest {
                    account: fixed("account", &r.account)?,
                    namespace: namespace(r.namespace)?,
                    data: r.data,
                    expiry_ms: r.expiry_ms,
                }))
            }
            proto::request::Body::SyncDigest(d) => {
                if d.buckets == 0 || d.buckets > MAX_SYNC_BUCKETS {
                    return Err(invalid(
                        "buckets",
                        format!("{}, need 1..={MAX_SYNC_BUCKETS}", d.buckets),
                    ));
                }
                Ok(Request::SyncDigest {
                    start: d.start,
                    end: d.end,
                    buckets: d.buckets,
                })
            }
            proto::request::Body::SyncList(l) => Ok(Request::SyncList {
                start: l.start,
                end: l.end,
            }),
            proto::request::Body::SyncFetch(f) => {
                if f.keys.is_empty() || f.keys.len() > MAX_FETCH_KEYS {
                    return Err(invalid(
                        "keys",
                        format!("{} keys, need 1..={MAX_FETCH_KEYS}", f.keys.len()),
                    ));
                }
                Ok(Request::SyncFetch(
                    f.keys
                        .iter()
                        .map(key_from_proto)
                        .collect::<Result<_, _>>()?,
                ))
            }
            proto::request::Body::GetSwarm(g) => Ok(Request::GetSwarm {
                account: fixed("account", &g.account)?,
            }),
            proto::request::Body::Onion(o) => {
                if o.layer.is_empty() || o.layer.len() > MAX_ONION_LAYER {
                    return Err(invalid(
                        "layer",
                        format!("{} bytes, need 1..={MAX_ONION_LAYER}", o.layer.len()),
                    ));
                }
                if o.hop >= MAX_ONION_HOPS {
                    return Err(invalid(
                        "hop",
                        format!("{}, need 0..{MAX_ONION_HOPS}", o.hop),
                    ));
                }
                Ok(Request::Onion(OnionRequest {
                    ephemeral_key: fixed("ephemeral_key", &o.ephemeral_key)?,
                    layer: o.layer,
                    hop: o.hop,
                }))
            }
            proto::request::Body::GetRegistry(_) => Ok(Request::GetRegistry),
        }
    }
}

/// One message in a retrieve response.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WireMessage {
    /// The node's sequence number; use the last one as the next cursor.
    pub seq: u64,
    /// The message hash (see `nightjar_crypto::hash::message_hash`).
    pub hash: MessageHash,
    /// The sealed envelope.
    pub data: Vec<u8>,
    /// When the node stored it, node clock, Unix ms.
    pub stored_at_ms: u64,
    /// When it expires, node clock, Unix ms.
    pub expiry_ms: u64,
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
        messages: Vec<WireMessage>,
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
        node_key: [u8; 32],
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
        /// True when the range held more than [`MAX_SYNC_ENTRIES`] entries.
        truncated: bool,
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
        /// The registry in TOML, at most [`MAX_REGISTRY_TEXT`] bytes.
        text: String,
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

    /// Encode as a complete frame.
    pub fn to_frame(&self) -> Vec<u8> {
        let body = match &self.body {
            ResponseBody::Stored {
                hash,
                expiry_ms,
                already_stored,
                receipts,
            } => proto::response::Body::Stored(proto::Stored {
                hash: hash.to_vec(),
                expiry_ms: *expiry_ms,
                already_stored: *already_stored,
                receipts: receipts
                    .iter()
                    .map(|r| proto::Receipt {
                        node_key: r.node_key.to_vec(),
                        expiry_ms: r.expiry_ms,
                        signature: r.signature.to_vec(),
                    })
                    .collect(),
            }),
            ResponseBody::Messages {
                messages,
                cursor,
                more,
            } => proto::response::Body::Messages(proto::Messages {
                messages: messages
                    .iter()
                    .map(|m| proto::Message {
                        seq: m.seq,
                        hash: m.hash.to_vec(),
                        data: m.data.clone(),
                        stored_at_ms: m.stored_at_ms,
                        expiry_ms: m.expiry_ms,
                    })
                    .collect(),
                cursor: *cursor,
                more: *more,
            }),
            ResponseBody::Deleted { count } => {
                proto::response::Body::Deleted(proto::Deleted { count: *count })
            }
            ResponseBody::Info {
                software_version,
                protocol_version,
                node_key,
            } => proto::response::Body::Info(proto::InfoOk {
                software_version: software_version.clone(),
                protocol_version: *protocol_version,
                node_key: node_key.to_vec(),
            }),
            ResponseBody::Error { code, message } => proto::response::Body::Error(proto::Error {
                code: code.as_u32(),
                message: message.clone(),
            }),
            ResponseBody::WrongSwarm(info) => {
                proto::response::Body::WrongSwarm(swarm_to_proto(info))
            }
            ResponseBody::Swarm(info) => proto::response::Body::Swarm(swarm_to_proto(info)),
            ResponseBody::Digest(d) => proto::response::Body::Digest(proto::Digest {
                digests: d.iter().map(|x| x.to_vec()).collect(),
            }),
            ResponseBody::Entries { entries, truncated } => {
                proto::response::Body::Entries(proto::Entries {
                    entries: entries
                        .iter()
                        .map(|e| proto::Entry {
                            account: e.key.account.to_vec(),
                            namespace: u32::from(e.key.namespace),
                            hash: e.key.hash.to_vec(),
                            expiry_ms: e.expiry_ms,
                            tombstone: e.tombstone,
                        })
                        .collect(),
                    truncated: *truncated,
                })
            }
            ResponseBody::Full(messages) => proto::response::Body::Full(proto::Full {
                messages: messages
                    .iter()
                    .map(|m| proto::FullMessage {
                        account: m.account.to_vec(),
                        namespace: u32::from(m.namespace),
                        data: m.data.clone(),
                        expiry_ms: m.expiry_ms,
                    })
                    .collect(),
            }),
            ResponseBody::Onion(blob) => {
                proto::response::Body::Onion(proto::OnionBlob { blob: blob.clone() })
            }
            ResponseBody::Registry { height, hash, text } => {
                proto::response::Body::Registry(proto::Registry {
                    height: *height,
                    hash: hash.to_vec(),
                    text: text.clone(),
                })
            }
        };
        frame(&proto::Response {
            version: PROTOCOL_VERSION,
            node_time_ms: self.node_time_ms,
            body: Some(body),
        })
    }

    /// Decode and validate a complete response frame of at most [`MAX_RESPONSE_FRAME`] bytes.
    pub fn from_frame(bytes: &[u8]) -> Result<Response, WireError> {
        let body = unframe(bytes, MAX_RESPONSE_FRAME)?;
        let raw = proto::Response::decode(body).map_err(|e| WireError::Malformed(e.to_string()))?;
        if raw.version != PROTOCOL_VERSION {
            return Err(WireError::UnsupportedVersion(raw.version));
        }
        let body = match raw.body.ok_or(WireError::MissingField("body"))? {
            proto::response::Body::Stored(s) => {
                if s.receipts.len() > MAX_RECEIPTS {
                    return Err(invalid(
                        "receipts",
                        format!("{} receipts", s.receipts.len()),
                    ));
                }
                ResponseBody::Stored {
                    hash: fixed("hash", &s.hash)?,
                    expiry_ms: s.expiry_ms,
                    already_stored: s.already_stored,
                    receipts: s
                        .receipts
                        .iter()
                        .map(|r| {
                            Ok(Receipt {
                                node_key: fixed("node_key", &r.node_key)?,
                                expiry_ms: r.expiry_ms,
                                signature: fixed("signature", &r.signature)?,
                            })
                        })
                        .collect::<Result<_, WireError>>()?,
                }
            }
            proto::response::Body::Messages(m) => ResponseBody::Messages {
                messages: m
                    .messages
                    .into_iter()
                    .map(|w| {
                        if w.data.len() > MAX_MESSAGE_SIZE {
                            return Err(WireError::MessageTooLarge(w.data.len()));
                        }
                        Ok(WireMessage {
                            seq: w.seq,
                            hash: fixed("hash", &w.hash)?,
                            data: w.data,
                            stored_at_ms: w.stored_at_ms,
                            expiry_ms: w.expiry_ms,
                        })
                    })
                    .collect::<Result<Vec<_>, _>>()?,
                cursor: m.cursor,
                more: m.more,
            },
            proto::response::Body::Deleted(d) => ResponseBody::Deleted { count: d.count },
            proto::response::Body::Info(i) => ResponseBody::Info {
                software_version: i.software_version,
                protocol_version: i.protocol_version,
                node_key: fixed("node_key", &i.node_key)?,
            },
            proto::response::Body::Error(e) => ResponseBody::Error {
                code: ErrorCode::from_u32(e.code),
                message: e.message,
            },
            proto::response::Body::WrongSwarm(w) => ResponseBody::WrongSwarm(swarm_from_proto(&w)?),
            proto::response::Body::Swarm(w) => ResponseBody::Swarm(swarm_from_proto(&w)?),
            proto::response::Body::Digest(d) => {
                if d.digests.len() > MAX_SYNC_BUCKETS as usize {
                    return Err(invalid("digests", format!("{} digests", d.digests.len())));
                }
                ResponseBody::Digest(
                    d.digests
                        .iter()
                        .map(|x| fixed("digests", x))
                        .collect::<Result<_, _>>()?,
                )
            }
            proto::response::Body::Entries(e) => {
                if e.entries.len() > MAX_SYNC_ENTRIES {
                    return Err(invalid("entries", format!("{} entries", e.entries.len())));
                }
                ResponseBody::Entries {
                    entries: e
                        .entries
                        .iter()
                        .map(|x| {
                            Ok(SyncEntry {
                                key: MessageKey {
                                    account: fixed("account", &x.account)?,
                                    namespace: namespace(x.namespace)?,
                                    hash: fixed("hash", &x.hash)?,
                                },
                                expiry_ms: x.expiry_ms,
                                tombstone: x.tombstone,
                            })
                        })
                        .collect::<Result<_, WireError>>()?,
                    truncated: e.truncated,
                }
            }
            proto::response::Body::Full(f) => {
                if f.messages.len() > MAX_FETCH_KEYS {
                    return Err(invalid(
                        "messages",
                        format!("{} messages", f.messages.len()),
                    ));
                }
                ResponseBody::Full(
                    f.messages
                        .into_iter()
                        .map(|m| {
                            if m.data.len() > MAX_MESSAGE_SIZE {
                                return Err(WireError::MessageTooLarge(m.data.len()));
                            }
                            Ok(FullMessage {
                                account: fixed("account", &m.account)?,
                                namespace: namespace(m.namespace)?,
                                data: m.data,
                                expiry_ms: m.expiry_ms,
                            })
                        })
                        .collect::<Result<_, _>>()?,
                )
            }
            proto::response::Body::Onion(o) => {
                if o.blob.is_empty() || o.blob.len() > MAX_RESPONSE_FRAME {
                    return Err(invalid(
                        "blob",
                        format!("{} bytes, need 1..={MAX_RESPONSE_FRAME}", o.blob.len()),
                    ));
                }
                ResponseBody::Onion(o.blob)
            }
            proto::response::Body::Registry(r) => {
                if r.text.len() > MAX_REGISTRY_TEXT {
                    return Err(invalid(
                        "text",
                        format!("{} bytes, more than {MAX_REGISTRY_TEXT}", r.text.len()),
                    ));
                }
                ResponseBody::Registry {
                    height: r.height,
                    hash: fixed("hash", &r.hash)?,
                    text: r.text,
                }
            }
        };
        Ok(Response {
            node_time_ms: raw.node_time_ms,
            body,
        })
    }
}

fn frame(msg: &impl prost::Message) -> Vec<u8> {
    let len = msg.encoded_len();
    let mut out = Vec::with_capacity(4 + len);
    // Frames are bounded far below 4 GiB by the limits above; saturating keeps a
    // hypothetical overflow detectable by the peer's length check instead of wrapping.
    let prefix = u32::try_from(len).unwrap_or(u32::MAX);
    out.extend_from_slice(&prefix.to_be_bytes());
    msg.encode_raw(&mut out);
    out
}

/// Check the length prefix of a complete frame and return its body.
pub fn unframe(bytes: &[u8], limit: usize) -> Result<&[u8], WireError> {
    if bytes.len() > limit {
        return Err(WireError::FrameTooLarge {
            len: bytes.len(),
            limit,
        });
    }
    let (prefix, body) = bytes.split_first_chunk::<4>().ok_or(WireError::Truncated {
        needed: 4,
        have: bytes.len(),
    })?;
    let announced = usize::try_from(u32::from_be_bytes(*prefix)).unwrap_or(usize::MAX);
    if announced > limit.saturating_sub(4) {
        return Err(WireError::FrameTooLarge {
            len: announced,
            limit,
        });
    }
    match body.len().cmp(&announced) {
        std::cmp::Ordering::Less => Err(WireError::Truncated {
            needed: announced,
            have: body.len(),
        }),
        std::cmp::Ordering::Greater => Err(WireError::TrailingBytes(body.len() - announced)),
        std::cmp::Ordering::Equal => Ok(body),
    }
}

fn key_to_proto(k: &MessageKey) -> proto::MessageKey {
    proto::MessageKey {
        account: k.account.to_vec(),
        namespace: u32::from(k.namespace),
        hash: k.hash.to_vec(),
    }
}

fn key_from_proto(k: &proto::MessageKey) -> Result<MessageKey, WireError> {
    Ok(MessageKey {
        account: fixed("account", &k.account)?,
        namespace: namespace(k.namespace)?,
        hash: fixed("hash", &k.hash)?,
    })
}

fn swarm_to_proto(info: &SwarmInfo) -> proto::Swarm {
    proto::Swarm {
        swarm_id: info.swarm_id,
        nodes: info
            .nodes
            .iter()
            .map(|(key, addr)| proto::SwarmNode {
                node_key: key.to_vec(),
                addr: addr.to_string(),
            })
            .collect(),
    }
}

fn swarm_from_proto(s: &proto::Swarm) -> Result<SwarmInfo, WireError> {
    if s.nodes.len() > MAX_SWARM_NODES {
        return Err(invalid("nodes", format!("{} nodes", s.nodes.len())));
    }
    Ok(SwarmInfo {
        swarm_id: s.swarm_id,
        nodes: s
            .nodes
            .iter()
            .map(|n| {
                let addr = n
                    .addr
                    .parse()
                    .map_err(|_| invalid("addr", format!("{:?} is not ip:port", n.addr)))?;
                Ok((fixed("node_key", &n.node_key)?, addr))
            })
            .collect::<Result<_, WireError>>()?,
    })
}

fn fixed<const N: usize>(field: &'static str, bytes: &[u8]) -> Result<[u8; N], WireError> {
    bytes
        .try_into()
        .map_err(|_| invalid(field, format!("{} bytes, expected {N}", bytes.len())))
}

fn namespace(n: u32) -> Result<u16, WireError> {
    u16::try_from(n).map_err(|_| invalid("namespace", format!("{n} exceeds 65535")))
}

fn invalid(field: &'static str, reason: impl Into<String>) -> WireError {
    WireError::InvalidField {
        field,
        reason: reason.into(),
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    fn store() -> Request {
        Request::Store(StoreRequest {
            account: [7; 32],
            namespace: 0,
            ttl_ms: 60_000,
            data: vec![1, 2, 3],
        })
    }

    #[test]
    fn every_request_round_trips() {
        let reqs = [
            store(),
            Request::Retrieve(RetrieveRequest {
                account: [1; 32],
                namespace: 3,
                after_seq: 99,
                wait_ms: 30_000,
                timestamp_ms: 1_700_000_000_000,
                signature: [9; 64],
            }),
            Request::Delete(DeleteRequest {
                account: [1; 32],
                namespace: 0,
                hashes: vec![[4; 32], [5; 32]],
                timestamp_ms: 5,
                signature: [2; 64],
            }),
            Request::Info,
            Request::Replicate(ReplicateRequest {
                account: [3; 32],
                namespace: 1,
                data: vec![1; 500],
                expiry_ms: 77,
            }),
            Request::SyncDigest {
                start: u64::MAX,
                end: 5,
                buckets: 16,
            },
            Request::SyncList { start: 0, end: 0 },
            Request::SyncFetch(vec![MessageKey {
                account: [1; 32],
                namespace: 2,
                hash: [3; 32],
            }]),
            Request::GetSwarm { account: [6; 32] },
            Request::Onion(OnionRequest {
                ephemeral_key: [8; 32],
                layer: vec![0xab; MAX_ONION_LAYER],
                hop: MAX_ONION_HOPS - 1,
            }),
            Request::Onion(OnionRequest {
                ephemeral_key: [0; 32],
                layer: vec![1],
                hop: 0,
            }),
            Request::GetRegistry,
        ];
        for r in reqs {
            assert_eq!(Request::from_frame(&r.to_frame()).unwrap(), r);
        }
    }

    #[test]
    fn every_response_round_trips() {
        let bodies = [
            ResponseBody::Stored {
                hash: [3; 32],
                expiry_ms: 10,
                already_stored: true,
                receipts: vec![Receipt {
                    node_key: [4; 32],
                    expiry_ms: 10,
                    signature: [5; 64],
                }],
            },
            ResponseBody::WrongSwarm(SwarmInfo {
                swarm_id: 9,
                nodes: vec![([1; 32], "127.0.0.1:5".parse().unwrap())],
            }),
            ResponseBody::Swarm(SwarmInfo {
                swarm_id: u64::MAX,
                nodes: vec![],
            }),
            ResponseBody::Digest(vec![[1; 32], [2; 32]]),
            ResponseBody::Entries {
                entries: vec![SyncEntry {
                    key: MessageKey {
                        account: [1; 32],
                        namespace: 0,
                        hash: [2; 32],
                    },
                    expiry_ms: 5,
                    tombstone: true,
                }],
                truncated: false,
            },
            ResponseBody::Full(vec![FullMessage {
                account: [1; 32],
                namespace: 0,
                data: vec![1, 2],
                expiry_ms: 3,
            }]),
            ResponseBody::Messages {
                messages: vec![WireMessage {
                    seq: 1,
                    hash: [1; 32],
                    data: vec![5; 100],
                    stored_at_ms: 2,
                    expiry_ms: 3,
                }],
                cursor: 1,
                more: false,
            },
            ResponseBody::Deleted { count: 2 },
            ResponseBody::Info {
                software_version: "0.1.0".into(),
                protocol_version: 1,
                node_key: [8; 32],
            },
            ResponseBody::Error {
                code: ErrorCode::Replay,
                message: "seen".into(),
            },
            ResponseBody::Error {
                code: ErrorCode::OnionFailed,
                message: "cannot open the layer".into(),
            },
            ResponseBody::Onion(vec![7; 1042]),
            ResponseBody::Registry {
                height: 12,
                hash: [9; 32],
                text: "version = 1\nnetwork = \"nightjar-devnet\"\n".into(),
            },
            ResponseBody::Registry {
                height: 0,
                hash: [0; 32],
                text: String::new(),
            },
        ];
        for body in bodies {
            let r = Response {
                node_time_ms: 42,
                body,
            };
            assert_eq!(Response::from_frame(&r.to_frame()).unwrap(), r);
        }
    }

    #[test]
    fn truncated_frame_is_rejected_at_every_length() {
        let f = store().to_frame();
        for cut in 0..f.len() {
            let err = Request::from_frame(&f[..cut]).unwrap_err();
            assert!(
                matches!(err, WireError::Truncated { .. }),
                "cut {cut}: {err:?}"
            );
        }
    }

    #[test]
    fn trailing_bytes_are_rejected() {
        let mut f = store().to_frame();
        f.push(0);
        assert_eq!(
            Request::from_frame(&f).unwrap_err(),
            WireError::TrailingBytes(1)
        );
    }

    #[test]
    fn oversized_announcement_is_rejected_before_reading() {
        let mut f = vec![0xff, 0xff, 0xff, 0xff];
        f.extend_from_slice(&[0; 10]);
        assert!(matches!(
            Request::from_frame(&f).unwrap_err(),
            WireError::FrameTooLarge { .. }
        ));
    }

    #[test]
    fn unknown_version_is_rejected() {
        let f = frame(&proto::Request {
            version: 2,
            body: Some(proto::request::Body::Info(proto::Info {})),
        });
        assert_eq!(
            Request::from_frame(&f).unwrap_err(),
            WireError::UnsupportedVersion(2)
        );
        assert_eq!(
            WireError::UnsupportedVersion(2).code(),
            ErrorCode::UnsupportedVersion
        );
    }

    #[test]
    fn oversized_message_and_bad_ttl_are_rejected() {
        let mut big = match store() {
            Request::Store(s) => s,
            _ => unreachable!(),
        };
        big.data = vec![0; MAX_MESSAGE_SIZE + 1];
        let err = Request::from_frame(&Request::Store(big.clone()).to_frame()).unwrap_err();
        assert_eq!(err, WireError::MessageTooLarge(MAX_MESSAGE_SIZE + 1));
        assert_eq!(err.code(), ErrorCode::TooLarge);
        big.data = vec![0; MAX_MESSAGE_SIZE];
        assert!(Request::from_frame(&Request::Store(big.clone()).to_frame()).is_ok());
        for ttl in [0, MIN_TTL_MS - 1, MAX_TTL_MS + 1] {
            big.ttl_ms = ttl;
            let err = Request::from_frame(&Request::Store(big.clone()).to_frame()).unwrap_err();
            assert_eq!(err.code(), ErrorCode::TtlOutOfRange);
        }
    }

    #[test]
    fn wrong_field_lengths_are_rejected() {
        let f = frame(&proto::Request {
            version: 1,
            body: Some(proto::request::Body::Retrieve(proto::Retrieve {
                account: vec![1; 31],
                signature: vec![0; 64],
                ..Default::default()
            })),
        });
        assert!(matches!(
            Request::from_frame(&f).unwrap_err(),
            WireError::InvalidField {
                field: "account",
                ..
            }
        ));
    }

    fn onion_frame(ephemeral_key: Vec<u8>, layer: Vec<u8>, hop: u32) -> Vec<u8> {
        frame(&proto::Request {
            version: 1,
            body: Some(proto::request::Body::Onion(proto::Onion {
                ephemeral_key,
                layer,
                hop,
            })),
        })
    }

    fn field_of(err: WireError) -> &'static str {
        match err {
            WireError::InvalidField { field, .. } => field,
            other => panic!("expected an invalid field, got {other:?}"),
        }
    }

    #[test]
    fn onion_request_fields_are_validated() {
        assert!(Request::from_frame(&onion_frame(vec![1; 32], vec![1; 10], 7)).is_ok());
        for len in [0, 31, 33] {
            let err = Request::from_frame(&onion_frame(vec![1; len], vec![1; 10], 0)).unwrap_err();
            assert_eq!(err.code(), ErrorCode::BadRequest);
            assert_eq!(field_of(err), "ephemeral_key");
        }
        for layer in [vec![], vec![1; MAX_ONION_LAYER + 1]] {
            let err = Request::from_frame(&onion_frame(vec![1; 32], layer, 0)).unwrap_err();
            assert_eq!(field_of(err), "layer");
        }
        for hop in [MAX_ONION_HOPS, u32::MAX] {
            let err = Request::from_frame(&onion_frame(vec![1; 32], vec![1], hop)).unwrap_err();
            assert_eq!(field_of(err), "hop");
        }
    }

    #[test]
    fn largest_onion_request_fits_a_request_frame() {
        let r = Request::Onion(OnionRequest {
            ephemeral_key: [0xff; 32],
            layer: vec![0xff; MAX_ONION_LAYER],
            hop: MAX_ONION_HOPS - 1,
        });
        assert!(r.to_frame().len() <= MAX_REQUEST_FRAME);
        assert_eq!(Request::from_frame(&r.to_frame()).unwrap(), r);
    }

    #[test]
    fn onion_and_get_registry_are_open_to_clients() {
        let onion = Request::Onion(OnionRequest {
            ephemeral_key: [1; 32],
            layer: vec![1],
            hop: 0,
        });
        assert!(!onion.is_node_only());
        assert!(!Request::GetRegistry.is_node_only());
        assert_eq!(onion.kind(), "onion");
        assert_eq!(Request::GetRegistry.kind(), "get_registry");
    }

    fn response_frame(body: proto::response::Body) -> Vec<u8> {
        frame(&proto::Response {
            version: 1,
            node_time_ms: 1,
            body: Some(body),
        })
    }

    #[test]
    fn onion_and_registry_responses_are_validated() {
        let empty = response_frame(proto::response::Body::Onion(proto::OnionBlob {
            blob: vec![],
        }));
        assert_eq!(field_of(Response::from_frame(&empty).unwrap_err()), "blob");

        let registry = |hash: Vec<u8>, text: String| {
            response_frame(proto::response::Body::Registry(proto::Registry {
                height: 1,
                hash,
                text,
            }))
        };
        for len in [0, 31, 33] {
            let err = Response::from_frame(&registry(vec![0; len], "x".into())).unwrap_err();
            assert_eq!(field_of(err), "hash");
        }
        let err = Response::from_frame(&registry(vec![0; 32], "x".repeat(MAX_REGISTRY_TEXT + 1)))
            .unwrap_err();
        assert_eq!(field_of(err), "text");
        assert!(
            Response::from_frame(&registry(vec![0; 32], "x".repeat(MAX_REGISTRY_TEXT))).is_ok()
        );

        // Invalid UTF-8 in the text is a malformed protobuf.
        let mut bad = proto::Registry {
            height: 1,
            hash: vec![0; 32],
            text: "ab".into(),
        }
        .encode_to_vec();
        let at = bad.len() - 1;
        bad[at] = 0xff;
        let mut outer = vec![
            0x08,
            0x01,
            0x10,
            0x01,
            0xb2,
            0x01,
            u8::try_from(bad.len()).unwrap(),
        ];
        outer.extend_from_slice(&bad);
        let mut f = u32::try_from(outer.len()).unwrap().to_be_bytes().to_vec();
        f.extend_from_slice(&outer);
        assert!(matches!(
            Response::from_frame(&f).unwrap_err(),
            WireError::Malformed(_)
        ));
    }

    #[test]
    fn onion_failed_is_code_18_and_not_retryable() {
        assert_eq!(ErrorCode::OnionFailed.as_u32(), 18);
        assert_eq!(ErrorCode::from_u32(18), ErrorCode::OnionFailed);
        assert_eq!(ErrorCode::OnionFailed.name(), "onion_failed");
        assert!(!ErrorCode::OnionFailed.is_retryable());
        assert_eq!(ErrorCode::from_u32(19), ErrorCode::Unknown(19));
    }

    #[test]
    fn frame_limits_hold_the_largest_onion_answer() {
        // 8,454,144 padded bytes + version, kind and tag at each of 8 hops.
        let blob = vec![0u8; 8_454_144 + 8 * 18];
        let r = Response {
            node_time_ms: u64::MAX,
            body: ResponseBody::Onion(blob),
        };
        assert!(r.to_frame().len() <= MAX_RESPONSE_FRAME);
        assert_eq!(MAX_REQUEST_FRAME, 131_072);
        assert_eq!(MAX_RESPONSE_FRAME, 9_437_184);
    }

    #[test]
    fn error_codes_round_trip() {
        for n in 0..20 {
            assert_eq!(ErrorCode::from_u32(n).as_u32(), n);
        }
    }
}
