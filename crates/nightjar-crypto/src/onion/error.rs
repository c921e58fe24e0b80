//! The onion layers' errors: [`OnionError`] and the [`HopFailure`] a relay
//! reports in a hop error.
//!
//! Not for: errors of identities, envelopes or at-rest encryption
//! (`crate::error`). This module imports only the layout constants, so the
//! crate's modules form no cycle.

use core::fmt;

use super::layout::{MAX_HOPS, MAX_LAYER_LEN, MAX_REQUEST_FRAME_LEN, MAX_RESPONSE_FRAME_LEN};

/// Why a relay could not get an answer from the next hop, as reported in a
/// hop error (response kind `0x03`).
#[derive(Clone, Copy, PartialEq, Eq, Hash, Debug)]
#[repr(u8)]
pub enum HopFailure {
    /// The next hop is not a registered node.
    NotANode = 1,
    /// The next hop could not be reached (the connection failed).
    Unreachable = 2,
    /// The next hop did not answer within the layer's timeout.
    TimedOut = 3,
    /// The next hop answered an error instead of an onion response (for
    /// example, it could not peel its layer).
    Refused = 4,
    /// The relay itself is overloaded and did not forward the layer.
    Overloaded = 5,
}

impl HopFailure {
    /// The code for a byte on the wire; `None` for codes this build does not know.
    pub fn from_u8(code: u8) -> Option<HopFailure> {
        match code {
            1 => Some(HopFailure::NotANode),
            2 => Some(HopFailure::Unreachable),
            3 => Some(HopFailure::TimedOut),
            4 => Some(HopFailure::Refused),
            5 => Some(HopFailure::Overloaded),
            _ => None,
        }
    }

    /// The byte on the wire.
    pub fn as_u8(self) -> u8 {
        self as u8
    }
}

impl fmt::Display for HopFailure {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            HopFailure::NotANode => "the next hop is not a registered node",
            HopFailure::Unreachable => "the next hop could not be reached",
            HopFailure::TimedOut => "the next hop timed out",
            HopFailure::Refused => "the next hop refused the layer",
            HopFailure::Overloaded => "the relay is overloaded",
        })
    }
}

/// Errors from building, peeling and answering onion layers
/// ([`crate::onion`]).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum OnionError {
    /// The path has no hops.
    #[error("an onion path needs at least one hop (the destination); give it one or more nodes")]
    NoHops,

    /// The path has more hops than [`crate::onion::MAX_HOPS`].
    #[error("an onion path has {0} hops, but at most {MAX_HOPS} are allowed; use a shorter path")]
    TooManyHops(usize),

    /// The request frame does not fit the largest request bucket.
    #[error(
        "the request frame is {len} bytes, but at most {MAX_REQUEST_FRAME_LEN} bytes fit in \
         an onion layer; send less per request"
    )]
    RequestTooLarge {
        /// Request frame length.
        len: usize,
    },

    /// The response frame does not fit the largest response bucket.
    #[error(
        "the response frame is {len} bytes, but at most {MAX_RESPONSE_FRAME_LEN} bytes fit in \
         an onion response; answer with something shorter (an error response)"
    )]
    ResponseTooLarge {
        /// Response frame length.
        len: usize,
    },

    /// The layer is longer than [`crate::onion::MAX_LAYER_LEN`].
    #[error(
        "the onion layer is {len} bytes, more than the {MAX_LAYER_LEN}-byte maximum; it is not \
         a valid layer, refuse it"
    )]
    LayerTooLarge {
        /// Layer length.
        len: usize,
    },

    /// The Diffie-Hellman result was all zeros (a low-order point was involved).
    #[error(
        "key agreement produced an all-zero secret (low-order point); the ephemeral key is \
         malicious or damaged, refuse the layer"
    )]
    LowOrderPoint,

    /// The layer failed to decrypt.
    #[error(
        "the onion layer failed to decrypt: it was altered, or it was not built for this node; \
         refuse it"
    )]
    DecryptFailed,

    /// The layer's plaintext starts with a version this build does not know.
    #[error("the onion layer has unsupported version {0}; the sender may use a newer Nightjar")]
    UnsupportedVersion(u8),

    /// The layer decrypted but its contents break the format (or a test-only
    /// builder was called wrongly).
    #[error("the onion layer is malformed ({0}); the sender is buggy or malicious, refuse it")]
    Malformed(&'static str),

    /// The answer's layer of hop `hop` did not decrypt or parse: that node
    /// answered garbage, or someone altered its answer.
    #[error(
        "the onion response could not be opened at hop {hop}: that node's answer was corrupted \
         or forged; retry through a path without it"
    )]
    BadResponse {
        /// Index of the hop (0 = the guard) whose layer failed.
        hop: usize,
    },

    /// Relay `hop` answered that the next hop (`hop + 1`) failed.
    #[error(
        "hop {hop} of the onion path reports: {failure}; retry through a path without \
         hop {hop} and the node after it"
    )]
    HopFailed {
        /// Index of the relay that reported the failure (0 = the guard).
        hop: usize,
        /// What went wrong with its next hop.
        failure: HopFailure,
    },

    /// The operating system's random number generator failed.
    #[error(
        "the operating system random number generator failed ({0}); \
         check that the OS provides getrandom(2) or /dev/urandom and retry"
    )]
    RandomUnavailable(String),
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hop_failure_codes_round_trip() {
        for code in 0..=255u8 {
            match HopFailure::from_u8(code) {
                Some(f) => assert_eq!(f.as_u8(), code),
                None => assert!(code == 0 || code > 5),
            }
        }
        assert_eq!(HopFailure::TimedOut.as_u8(), 3);
        assert!(HopFailure::Refused.to_string().contains("refused"));
    }
}
