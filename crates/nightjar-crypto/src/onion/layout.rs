//! The byte layout of onion layers and responses: the version byte, the
//! kinds, the padding buckets, the size limits and padding itself.
//!
//! Not for: keys or encryption (see `keys`).

/// Version byte: the first byte of every layer plaintext and every response
/// plaintext, and the first byte of the AEAD's associated data.
pub const ONION_VERSION: u8 = 0x01;

/// The allowed lengths of the padded request `D` inside the innermost layer.
pub const REQUEST_BUCKETS: [usize; 5] = [1024, 4096, 16384, 65536, 98304];

/// The allowed lengths of the padded response `D'` inside the destination's
/// answer.
pub const RESPONSE_BUCKETS: [usize; 8] = [
    1024, 4096, 16384, 65536, 262_144, 1_048_576, 4_194_304, 8_454_144,
];

/// Most layers a path may have, the destination's included.
pub const MAX_HOPS: usize = 8;

/// Bytes a forward layer adds around its inner layer: version and kind (2),
/// next node key (32), next ephemeral key (32), timeout (4), AEAD tag (16).
pub const FORWARD_OVERHEAD: usize = 2 + KEY_LEN + KEY_LEN + 4 + TAG_LEN;

/// Longest layer [`peel`](super::peel) accepts: the layer a node receives first on a
/// path of [`MAX_HOPS`] hops carrying a request in the largest bucket
/// (98,924 bytes).
pub const MAX_LAYER_LEN: usize =
    2 + LARGEST_REQUEST_BUCKET + TAG_LEN + (MAX_HOPS - 1) * FORWARD_OVERHEAD;

/// Length of a hop error's code and padding (the plaintext after version and
/// kind), so that every hop error has the same size.
pub const HOP_ERROR_PAD: usize = 1024;

/// Longest request frame `F` a layer can carry (the largest request bucket
/// minus the 4-byte length).
pub const MAX_REQUEST_FRAME_LEN: usize = LARGEST_REQUEST_BUCKET - 4;

/// Longest response frame `G` a destination can answer with (the largest
/// response bucket minus the 4-byte length).
pub const MAX_RESPONSE_FRAME_LEN: usize = LARGEST_RESPONSE_BUCKET - 4;

pub(super) const KEY_LEN: usize = 32;
pub(super) const NONCE_LEN: usize = 24;
pub(super) const TAG_LEN: usize = 16;
/// Version, kind, next node key, next ephemeral key and timeout.
pub(super) const FORWARD_HEADER_LEN: usize = 2 + KEY_LEN + KEY_LEN + 4;
pub(super) const LARGEST_REQUEST_BUCKET: usize = REQUEST_BUCKETS[REQUEST_BUCKETS.len() - 1];
pub(super) const LARGEST_RESPONSE_BUCKET: usize = RESPONSE_BUCKETS[RESPONSE_BUCKETS.len() - 1];

/// Layer kind: forward to the next hop.
pub(super) const KIND_FORWARD: u8 = 0x01;
/// Layer kind: deliver to this node.
pub(super) const KIND_DELIVER: u8 = 0x02;
/// Response kind: a relay's wrapping of the next hop's answer.
pub(super) const KIND_RELAYED: u8 = 0x01;
/// Response kind: the destination's answer.
pub(super) const KIND_FINAL: u8 = 0x02;
/// Response kind: a relay reporting that its next hop failed.
pub(super) const KIND_HOP_ERROR: u8 = 0x03;

/// The smallest bucket of `buckets` that holds `4 + len` bytes.
pub(crate) fn bucket_for(buckets: &[usize], len: usize) -> Option<usize> {
    let needed = len.checked_add(4)?;
    buckets.iter().copied().find(|&b| b >= needed)
}

/// Reads `u32be(len) ‖ frame ‖ 0x00…` of a bucket-sized `d`; returns the
/// frame's range within `d`.
pub(crate) fn unpad_range(d: &[u8], buckets: &[usize]) -> Option<core::ops::Range<usize>> {
    if !buckets.contains(&d.len()) {
        return None;
    }
    let (len, rest) = d.split_first_chunk::<4>()?;
    let len = usize::try_from(u32::from_be_bytes(*len)).ok()?;
    let padding = rest.get(len..)?;
    if padding.iter().any(|&b| b != 0) {
        return None;
    }
    Some(4..4 + len)
}
