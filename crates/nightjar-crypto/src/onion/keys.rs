//! The keys of one hop: the KDF from the shared secret, the response key
//! and nonce, the associated data, and sealing under them.
//!
//! Not for: layouts (see `layout`) or deciding what to seal.

use zeroize::{Zeroize, ZeroizeOnDrop, Zeroizing};

use super::error::OnionError;
use super::layout::{KEY_LEN, NONCE_LEN, ONION_VERSION, TAG_LEN};
use crate::hash::blake2b_keyed_56;
use crate::labels;
use crate::xchacha;

/// Response keys of one hop: XChaCha20-Poly1305 key, nonce, and the
/// ephemeral public key bound as associated data. Zeroized on drop.
#[derive(Zeroize, ZeroizeOnDrop)]
pub(super) struct HopKey {
    pub(super) key: [u8; KEY_LEN],
    pub(super) nonce: [u8; NONCE_LEN],
    pub(super) ephemeral: [u8; KEY_LEN],
}

impl HopKey {
    pub(super) fn aad(&self) -> [u8; 1 + KEY_LEN] {
        aad(&self.ephemeral)
    }
}

pub(super) fn aad(ephemeral: &[u8; KEY_LEN]) -> [u8; 1 + KEY_LEN] {
    let mut aad = [0u8; 1 + KEY_LEN];
    let (version, rest) = aad.split_at_mut(1);
    version.fill(ONION_VERSION);
    rest.copy_from_slice(ephemeral);
    aad
}

/// The request and response keys of one hop, from its shared secret `s`,
/// ephemeral public key `e` and the node's X25519 public key `y`.
pub(super) fn hop_keys(s: &[u8; 32], e: &[u8; 32], y: &[u8; 32]) -> (HopKey, HopKey) {
    let (q, r) = hop_key_material(s, e, y);
    let split = |h: &[u8; 56]| {
        let mut key = HopKey {
            key: [0; KEY_LEN],
            nonce: [0; NONCE_LEN],
            ephemeral: *e,
        };
        let (k, n) = h.split_at(KEY_LEN);
        key.key.copy_from_slice(k);
        key.nonce.copy_from_slice(n);
        key
    };
    (split(&q), split(&r))
}

/// The 56 bytes (key ‖ nonce) of a hop's request and of its response:
/// `BLAKE2b-56(label, S ‖ E ‖ Y)` under the request and response labels.
/// The one KDF of the onion layers.
pub(crate) fn hop_key_material(
    s: &[u8; 32],
    e: &[u8; 32],
    y: &[u8; 32],
) -> (Zeroizing<[u8; 56]>, Zeroizing<[u8; 56]>) {
    (
        blake2b_keyed_56(labels::ONION_REQUEST, &[s, e, y]),
        blake2b_keyed_56(labels::ONION_RESPONSE, &[s, e, y]),
    )
}

/// Encrypts `buf[start..end - 16]` in place and writes the tag to
/// `buf[end - 16..end]`.
pub(super) fn seal_in_place(
    key: &HopKey,
    buf: &mut [u8],
    start: usize,
    end: usize,
) -> Result<(), OnionError> {
    let region = buf
        .get_mut(start..end)
        .ok_or(OnionError::Malformed("layer offsets out of range"))?;
    let (plain, tag_out) = region
        .split_last_chunk_mut::<TAG_LEN>()
        .ok_or(OnionError::Malformed("layer shorter than its tag"))?;
    let tag = xchacha::seal_detached(&key.key, &key.nonce, &key.aad(), plain)
        .map_err(|_| OnionError::Malformed("layer too long to encrypt"))?;
    tag_out.copy_from_slice(&tag);
    Ok(())
}

/// Seals a response plaintext `R` (given as a buffer already holding `R`
/// followed by 16 spare bytes for the tag).
pub(super) fn seal_response(key: &HopKey, mut buf: Vec<u8>) -> Result<Vec<u8>, OnionError> {
    let len = buf.len();
    seal_in_place(key, &mut buf, 0, len)?;
    Ok(buf)
}
