//! [`CircuitError`]: why a cell, a layer or a payload was refused.
//!
//! Not for: onion v1 errors (`crate::onion::OnionError`).

/// Why a circuit operation failed. Never carries secret material.
#[derive(Clone, PartialEq, Eq, Debug, thiserror::Error)]
pub enum CircuitError {
    /// A path needs 1 to 8 hops.
    #[error("a circuit needs 1 to 8 hops, not {0}")]
    HopCount(usize),
    /// The cell is longer than a cell may be, or shorter than its header.
    #[error("cell of {len} bytes: {why}")]
    BadCell {
        /// The datagram's length.
        len: usize,
        /// What is wrong.
        why: &'static str,
    },
    /// The first byte names no cell type (or is a QUIC packet).
    #[error("unknown cell type {0:#04x}")]
    UnknownType(u8),
    /// A key agreement gave the all-zero secret (a low-order key).
    #[error("key agreement with a low-order key")]
    LowOrderPoint,
    /// A layer did not decrypt (wrong key, sequence number or altered bytes).
    #[error("the layer does not decrypt")]
    DecryptFailed,
    /// A decrypted layer or a payload does not parse.
    #[error("malformed: {0}")]
    Malformed(&'static str),
    /// The request or response does not fit what a circuit carries.
    #[error("{what} of {len} bytes does not fit a circuit")]
    TooLarge {
        /// Request or response.
        what: &'static str,
        /// Its length.
        len: usize,
    },
    /// No randomness was available.
    #[error("random number generator unavailable: {0}")]
    RandomUnavailable(String),
}
