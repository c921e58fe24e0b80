//! Frames: a 4-byte big-endian length followed by a protobuf message.
//!
//! Not for: what the message means (see `codec`).

use crate::error::WireError;

pub(crate) fn frame(msg: &impl prost::Message) -> Vec<u8> {
    let len = msg.encoded_len();
    let mut out = Vec::with_capacity(4 + len);
    // Frames are bounded far below 4 GiB by the limits in `limits`; saturating keeps a
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
