//! The keys of one circuit hop: the KDF from the hop's shared secret, and a
//! direction's key with its nonce base (`docs/PROTOCOL.md` §11.10, "Keys of
//! one hop").
//!
//! Not for: using them on cells (see `data`) or create layers (`create`).

use core::fmt;

use zeroize::{Zeroize, ZeroizeOnDrop};

use super::error::CircuitError;
use super::layout::{
    CELL_BACKWARD, CELL_FORWARD, CELL_HEADER_LEN, CircuitId, KEY_LEN, RELAY_ERROR_LEN, TAG_LEN,
    VERSION, write_header,
};
use crate::hash::blake2b_keyed_56;
use crate::labels;
use crate::xchacha::PrefixKey;

/// The create layer's key and nonce of one hop.
#[derive(Zeroize, ZeroizeOnDrop)]
pub(super) struct CreateKey {
    pub(super) key: [u8; KEY_LEN],
    pub(super) nonce: [u8; 24],
}

/// One direction's key: XChaCha20-Poly1305 under the key with the nonce
/// `base XOR (0 × 16 ‖ u64be(seq))`; the HChaCha20 subkey of the base's
/// first 16 bytes is computed once.
pub(super) struct DirKey {
    aead: PrefixKey,
    suffix: [u8; 8],
}

impl Drop for DirKey {
    fn drop(&mut self) {
        self.suffix.zeroize();
    }
}

impl DirKey {
    fn new(material: &[u8; 56]) -> Result<Self, CircuitError> {
        let (key, nonce) = material.split_at(KEY_LEN);
        let key: &[u8; 32] = key.try_into().map_err(|_| CircuitError::Malformed("kdf"))?;
        let (prefix, suffix) = nonce.split_at(16);
        let prefix: &[u8; 16] = prefix
            .try_into()
            .map_err(|_| CircuitError::Malformed("kdf"))?;
        let suffix: [u8; 8] = suffix
            .try_into()
            .map_err(|_| CircuitError::Malformed("kdf"))?;
        Ok(DirKey {
            aead: PrefixKey::new(key, prefix).map_err(|_| CircuitError::Malformed("kdf"))?,
            suffix,
        })
    }

    fn nonce_suffix(&self, seq: u64) -> [u8; 8] {
        (u64::from_be_bytes(self.suffix) ^ seq).to_be_bytes()
    }

    /// Seals `buf[..len − 16]` in place, writing the tag into the last 16 bytes.
    pub(super) fn seal(&self, seq: u64, aad: &[u8], buf: &mut [u8]) -> Result<(), CircuitError> {
        let (plain, tag_out) = buf
            .split_last_chunk_mut::<TAG_LEN>()
            .ok_or(CircuitError::Malformed("layer shorter than its tag"))?;
        let tag = self
            .aead
            .seal(&self.nonce_suffix(seq), aad, plain)
            .map_err(|_| CircuitError::Malformed("layer too long"))?;
        tag_out.copy_from_slice(&tag);
        Ok(())
    }

    /// Opens `layer` (ciphertext ‖ tag) into `out`, `layer.len() − 16` long.
    pub(super) fn open(
        &self,
        seq: u64,
        aad: &[u8],
        layer: &[u8],
        out: &mut [u8],
    ) -> Result<(), CircuitError> {
        let (ct, tag) = layer
            .split_last_chunk::<TAG_LEN>()
            .ok_or(CircuitError::DecryptFailed)?;
        self.aead
            .open(&self.nonce_suffix(seq), aad, ct, tag, out)
            .map_err(|_| CircuitError::DecryptFailed)
    }

    /// Opens `sealed` (ciphertext ‖ tag) in place.
    pub(super) fn open_in_place(
        &self,
        seq: u64,
        aad: &[u8],
        sealed: &mut [u8],
    ) -> Result<(), CircuitError> {
        self.aead
            .open_in_place(&self.nonce_suffix(seq), aad, sealed)
            .map_err(|_| CircuitError::DecryptFailed)
    }
}

pub(super) const AAD_FORWARD: [u8; 2] = [VERSION, CELL_FORWARD];
pub(super) const AAD_BACKWARD: [u8; 2] = [VERSION, CELL_BACKWARD];

/// The forward and backward keys of one hop of one circuit: what a relay or
/// exit keeps per circuit, and the client per hop. Zeroized on drop (the
/// raw keys never outlive the KDF; aws-lc-rs holds the subkeys);
/// `Debug` prints `[redacted]`.
pub struct HopKeys {
    pub(super) forward: DirKey,
    pub(super) backward: DirKey,
}

impl fmt::Debug for HopKeys {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("HopKeys([redacted])")
    }
}

/// `c`, `f` and `b` of one hop from `S ‖ E ‖ Y`.
pub(super) fn hop_keys(
    s: &[u8; 32],
    e: &[u8; 32],
    y: &[u8; 32],
) -> Result<(CreateKey, HopKeys), CircuitError> {
    let c = blake2b_keyed_56(labels::CIRCUIT_CREATE, &[s, e, y]);
    let f = blake2b_keyed_56(labels::CIRCUIT_FORWARD, &[s, e, y]);
    let b = blake2b_keyed_56(labels::CIRCUIT_BACKWARD, &[s, e, y]);
    let mut create = CreateKey {
        key: [0; KEY_LEN],
        nonce: [0; 24],
    };
    let (k, n) = c.split_at(KEY_LEN);
    create.key.copy_from_slice(k);
    create.nonce.copy_from_slice(n);
    Ok((
        create,
        HopKeys {
            forward: DirKey::new(&f)?,
            backward: DirKey::new(&b)?,
        },
    ))
}

impl HopKeys {
    /// A relay's forward step: opens `layer` (the `L_i` of a forward cell
    /// with sequence number `seq`) and appends the cell for the next hop,
    /// `0x02 ‖ next_circuit ‖ u64be(seq) ‖ L_{i+1}`, to `out`. On failure
    /// `out` is left as it was.
    pub fn relay_forward(
        &self,
        seq: u64,
        layer: &[u8],
        next_circuit: CircuitId,
        out: &mut Vec<u8>,
    ) -> Result<(), CircuitError> {
        let inner = layer
            .len()
            .checked_sub(TAG_LEN)
            .filter(|&n| n > 0)
            .ok_or(CircuitError::DecryptFailed)?;
        let start = out.len();
        let mut header = [0u8; CELL_HEADER_LEN];
        write_header(&mut header, CELL_FORWARD, next_circuit, seq);
        out.extend_from_slice(&header);
        out.resize(start + CELL_HEADER_LEN + inner, 0);
        let result = match out.get_mut(start + CELL_HEADER_LEN..) {
            Some(dst) => self.forward.open(seq, &AAD_FORWARD, layer, dst),
            None => Err(CircuitError::DecryptFailed),
        };
        if result.is_err() {
            out.truncate(start);
        }
        result
    }

    /// The exit's forward step: opens `layer` into the payload `X`.
    pub fn open_payload(&self, seq: u64, layer: &[u8]) -> Result<Vec<u8>, CircuitError> {
        let inner = layer
            .len()
            .checked_sub(TAG_LEN)
            .ok_or(CircuitError::DecryptFailed)?;
        let mut out = vec![0u8; inner];
        self.forward.open(seq, &AAD_FORWARD, layer, &mut out)?;
        Ok(out)
    }

    /// A relay's backward step: seals `inner` (the `B_{i+1}` of a backward
    /// cell from the next hop, or the exit's payload `X'`) under sequence
    /// number `seq` and appends `0x03 ‖ prev_circuit ‖ u64be(seq) ‖ B_i` to
    /// `out`.
    pub fn seal_backward(
        &self,
        seq: u64,
        inner: &[u8],
        prev_circuit: CircuitId,
        out: &mut Vec<u8>,
    ) -> Result<(), CircuitError> {
        let start = out.len();
        let mut header = [0u8; CELL_HEADER_LEN];
        write_header(&mut header, CELL_BACKWARD, prev_circuit, seq);
        out.extend_from_slice(&header);
        out.extend_from_slice(inner);
        out.resize(out.len() + TAG_LEN, 0);
        let result = match out.get_mut(start + CELL_HEADER_LEN..) {
            Some(region) => self.backward.seal(seq, &AAD_BACKWARD, region),
            None => Err(CircuitError::Malformed("cell offsets")),
        };
        if result.is_err() {
            out.truncate(start);
        }
        result
    }

    /// A relay's own report to the client (relay error `code`, the v1 hop
    /// error codes): appends the backward cell carrying
    /// `0x01 ‖ 0x03 ‖ code ‖ 0x00 × 29` to `out`.
    pub fn relay_error(
        &self,
        seq: u64,
        code: u8,
        prev_circuit: CircuitId,
        out: &mut Vec<u8>,
    ) -> Result<(), CircuitError> {
        let mut plain = [0u8; RELAY_ERROR_LEN];
        if let Some(head) = plain.get_mut(..3) {
            head.copy_from_slice(&[VERSION, 0x03, code]);
        }
        self.seal_backward(seq, &plain, prev_circuit, out)
    }
}
