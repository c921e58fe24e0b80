//! A node's side of an answer: [`ReplyKey`] and the three answers it can
//! seal, exactly once (relayed, final, hop error).
//!
//! Not for: peeling (see `peel`).

use core::fmt;

use super::error::{HopFailure, OnionError};
use super::keys::{HopKey, seal_response};
use super::layout::*;

/// A node's key to answer the onion layer it peeled, exactly once.
///
/// Every method consumes it, so a node cannot encrypt two answers under the
/// same key and nonce. Zeroized on drop; `Debug` prints `[redacted]`.
pub struct ReplyKey(pub(super) HopKey);

impl fmt::Debug for ReplyKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("ReplyKey([redacted])")
    }
}

impl ReplyKey {
    /// A relay's answer: wraps `inner`, the bytes the next hop answered
    /// (its `ResponseBody::Onion` blob), as `0x01 ‖ 0x01 ‖ inner`.
    ///
    /// The relay does not (and cannot) check `inner`; the client does. If
    /// `inner` were too long for the cipher (over 2^38 bytes, which no
    /// frame can carry), the answer is a [`HopFailure::Refused`] hop error.
    pub fn relayed(self, inner: &[u8]) -> Vec<u8> {
        let mut buf = Vec::with_capacity(2 + inner.len() + TAG_LEN);
        buf.extend_from_slice(&[ONION_VERSION, KIND_RELAYED]);
        buf.extend_from_slice(inner);
        buf.resize(buf.len() + TAG_LEN, 0);
        match seal_response(&self.0, buf) {
            Ok(sealed) => sealed,
            Err(_) => self.hop_error(HopFailure::Refused),
        }
    }

    /// The destination's answer: pads `response_frame` (a complete response
    /// frame, length prefix included) to a response bucket and seals it.
    ///
    /// Fails with [`OnionError::ResponseTooLarge`] if the frame is longer
    /// than [`MAX_RESPONSE_FRAME_LEN`]; answer something shorter (an error
    /// response) instead.
    pub fn final_response(self, response_frame: &[u8]) -> Result<Vec<u8>, OnionError> {
        let too_large = OnionError::ResponseTooLarge {
            len: response_frame.len(),
        };
        let bucket =
            bucket_for(&RESPONSE_BUCKETS, response_frame.len()).ok_or(too_large.clone())?;
        let len = u32::try_from(response_frame.len()).map_err(|_| too_large)?;
        let mut buf = Vec::with_capacity(2 + bucket + TAG_LEN);
        buf.extend_from_slice(&[ONION_VERSION, KIND_FINAL]);
        buf.extend_from_slice(&len.to_be_bytes());
        buf.extend_from_slice(response_frame);
        buf.resize(2 + bucket + TAG_LEN, 0);
        seal_response(&self.0, buf)
    }

    /// A relay's answer when the next hop failed: `0x01 ‖ 0x03 ‖ code ‖
    /// 0x00 × 1023`, the same size whatever the failure.
    pub fn hop_error(self, failure: HopFailure) -> Vec<u8> {
        let mut buf = vec![0u8; 2 + HOP_ERROR_PAD + TAG_LEN];
        if let Some(head) = buf.get_mut(..3) {
            head.copy_from_slice(&[ONION_VERSION, KIND_HOP_ERROR, failure.as_u8()]);
        }
        // 1,026 bytes always fit the cipher; the fallback is unreachable.
        seal_response(&self.0, buf).unwrap_or_default()
    }
}
