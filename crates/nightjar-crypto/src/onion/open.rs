//! The client's side of an answer: [`ReturnKeys`] and opening the layered
//! response.
//!
//! Not for: building the request (see `build`).

use core::fmt;

use super::error::{HopFailure, OnionError};
use super::keys::HopKey;
use super::layout::*;
use crate::xchacha;

/// The client's keys to open the answer to one onion request: one response
/// key per hop.
///
/// Zeroized on drop; `Debug` prints only the number of hops.
pub struct ReturnKeys {
    pub(super) hops: Vec<HopKey>,
}

impl fmt::Debug for ReturnKeys {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ReturnKeys")
            .field("hops", &self.hops.len())
            .field("keys", &"[redacted]")
            .finish()
    }
}

impl ReturnKeys {
    /// Number of hops of the path (the number of response layers to open).
    pub fn hops(&self) -> usize {
        self.hops.len()
    }

    /// Opens the guard's answer `B_0`, one layer per hop, and returns the
    /// destination's response frame `G` (length prefix included, unpadded).
    ///
    /// Fails with [`OnionError::HopFailed`] if hop `i` answered a hop error
    /// (hop `i + 1` failed), and with [`OnionError::BadResponse`] if hop
    /// `i`'s layer does not decrypt or parse (hop `i` answered garbage, or
    /// someone altered it). Never panics, whatever the bytes.
    pub fn open(&self, blob: &[u8]) -> Result<Vec<u8>, OnionError> {
        let mut buf = blob.to_vec();
        let mut start = 0usize;
        let mut end = buf.len();
        let last = self.hops.len().saturating_sub(1);
        for (hop, key) in self.hops.iter().enumerate() {
            let bad = OnionError::BadResponse { hop };
            let region = buf.get_mut(start..end).ok_or(bad.clone())?;
            xchacha::open_in_place(&key.key, &key.nonce, &key.aad(), region)
                .map_err(|_| bad.clone())?;
            end -= TAG_LEN;
            let r = buf.get(start..end).ok_or(bad.clone())?;
            let (&[version, kind], rest) = r.split_first_chunk::<2>().ok_or(bad.clone())?;
            if version != ONION_VERSION {
                return Err(bad);
            }
            match kind {
                KIND_RELAYED if hop < last => start += 2,
                KIND_FINAL if hop == last => {
                    let frame = unpad_range(rest, &RESPONSE_BUCKETS).ok_or(bad)?;
                    let (g_start, g_end) = (start + 2 + frame.start, start + 2 + frame.end);
                    buf.truncate(g_end);
                    buf.drain(..g_start);
                    return Ok(buf);
                }
                KIND_HOP_ERROR if hop < last => {
                    let (&code, padding) = rest.split_first().ok_or(bad.clone())?;
                    if padding.len() != HOP_ERROR_PAD - 1 || padding.iter().any(|&b| b != 0) {
                        return Err(bad);
                    }
                    let failure = HopFailure::from_u8(code).ok_or(bad)?;
                    return Err(OnionError::HopFailed { hop, failure });
                }
                _ => return Err(bad),
            }
        }
        // Only reached with no hops (every path has at least one).
        Err(OnionError::NoHops)
    }
}
