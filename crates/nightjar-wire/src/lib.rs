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
/// Largest request frame a node reads, length prefix included (one maximal
/// message plus room for the other fields).
pub const MAX_REQUEST_FRAME: usize = 80 * 1024;
/// Largest response frame a client reads, length prefix included.
pub const MAX_RESPONSE_FRAME: usize = 8 * 1024 * 1024;
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
            ErrorCode::Unknown(_) => "unknown",
        }
    }

    /// Whether the same request may succeed if sent again later or to another node.
    pub fn is_retryable(self) -> bool {
        matches!(
            self,
            ErrorCode::Internal
                | ErrorCode::Unavailable
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
}

impl Request {
    /// A short name for logs and metrics.
    pub fn kind(&self) -> &'static str {
        match self {
            Request::Store(_) => "store",
            Request::Retrieve(_) => "retrieve",
            Request::Delete(_) => "delete",
            Request::Info => "info",
        }
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
            } => proto::response::Body::Stored(proto::Stored {
                hash: hash.to_vec(),
                expiry_ms: *expiry_ms,
                already_stored: *already_stored,
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
            proto::response::Body::Stored(s) => ResponseBody::Stored {
                hash: fixed("hash", &s.hash)?,
                expiry_ms: s.expiry_ms,
                already_stored: s.already_stored,
            },
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
            },
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

    #[test]
    fn error_codes_round_trip() {
        for n in 0..20 {
            assert_eq!(ErrorCode::from_u32(n).as_u32(), n);
        }
    }
}
