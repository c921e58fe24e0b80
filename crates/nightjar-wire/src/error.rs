//! Errors: [`WireError`] (bytes that are not a valid frame) and
//! [`ErrorCode`] (the codes a node answers a request with).
//!
//! Not for: transport or storage failures, which belong to the crates that
//! do I/O.

use crate::limits::{MAX_MESSAGE_SIZE, MAX_TTL_MS, MIN_TTL_MS, PROTOCOL_VERSION};

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
    /// The message data exceeds [`MAX_MESSAGE_SIZE`](crate::MAX_MESSAGE_SIZE).
    #[error("message of {0} bytes exceeds the limit of {MAX_MESSAGE_SIZE}")]
    MessageTooLarge(usize),
    /// The TTL is outside [`MIN_TTL_MS`](crate::MIN_TTL_MS)..=[`MAX_TTL_MS`](crate::MAX_TTL_MS).
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
    /// The record of a claim was handed out to another claimant (or the
    /// swarm's votes split, or no member holds it); pick another record.
    AlreadyClaimed,
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
            ErrorCode::AlreadyClaimed => 19,
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
            19 => ErrorCode::AlreadyClaimed,
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
            ErrorCode::AlreadyClaimed => "already_claimed",
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn onion_failed_is_code_18_and_not_retryable() {
        assert_eq!(ErrorCode::OnionFailed.as_u32(), 18);
        assert_eq!(ErrorCode::from_u32(18), ErrorCode::OnionFailed);
        assert_eq!(ErrorCode::OnionFailed.name(), "onion_failed");
        assert!(!ErrorCode::OnionFailed.is_retryable());
        assert_eq!(ErrorCode::from_u32(20), ErrorCode::Unknown(20));
    }

    #[test]
    fn already_claimed_is_code_19_and_not_retryable() {
        assert_eq!(ErrorCode::AlreadyClaimed.as_u32(), 19);
        assert_eq!(ErrorCode::from_u32(19), ErrorCode::AlreadyClaimed);
        assert_eq!(ErrorCode::AlreadyClaimed.name(), "already_claimed");
        assert!(!ErrorCode::AlreadyClaimed.is_retryable());
    }

    #[test]
    fn error_codes_round_trip() {
        for n in 0..22 {
            assert_eq!(ErrorCode::from_u32(n).as_u32(), n);
        }
    }
}
