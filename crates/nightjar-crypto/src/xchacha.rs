//! XChaCha20-Poly1305 (IETF) for the onion layers, on aws-lc-rs.
//!
//! XChaCha20-Poly1305 is HChaCha20 of the key and the first 16 nonce bytes
//! (a subkey), then ChaCha20-Poly1305 IETF under that subkey with the nonce
//! `0⁴ ‖ last 8 nonce bytes` (draft-irtf-cfrg-xchacha §2.3; libsodium's
//! `crypto_aead_xchacha20poly1305_ietf_*` does the same). HChaCha20 is
//! RustCrypto's `chacha20::hchacha`; the AEAD is aws-lc-rs's
//! `CHACHA20_POLY1305`, which costs about a third of RustCrypto's
//! `XChaCha20Poly1305` per 1 KiB layer on this machine kind (BENCHMARKS.md,
//! onion hop). The bytes are identical to RustCrypto's (unit tests below);
//! the onion test vectors are checked against libsodium.
//!
//! Not for: anything but the onion path's hot loop. Envelopes and local
//! storage keep RustCrypto's `XChaCha20Poly1305`, whose cost does not matter
//! there.

use aws_lc_rs::aead::{Aad, CHACHA20_POLY1305, LessSafeKey, Nonce, UnboundKey};
use zeroize::Zeroizing;

/// Length of a Poly1305 tag.
pub(crate) const TAG_LEN: usize = 16;

/// Why an XChaCha20-Poly1305 operation failed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum AeadFailure {
    /// The tag did not verify (wrong key, altered bytes), or the input and
    /// output lengths disagree.
    Open,
    /// The input is longer than ChaCha20-Poly1305 can encrypt.
    Seal,
}

/// `key` with the first 16 bytes of `nonce` ([`PrefixKey`]: HChaCha20
/// once, the subkey zeroized as soon as aws-lc-rs holds it), and the last 8.
fn reduce(key: &[u8; 32], nonce: &[u8; 24]) -> Result<(PrefixKey, [u8; 8]), AeadFailure> {
    let (prefix, suffix) = nonce.split_first_chunk::<16>().ok_or(AeadFailure::Open)?;
    let suffix: [u8; 8] = suffix.try_into().map_err(|_| AeadFailure::Open)?;
    Ok((PrefixKey::new(key, prefix)?, suffix))
}

/// Encrypts `plain` in place and returns its tag.
pub(crate) fn seal_detached(
    key: &[u8; 32],
    nonce: &[u8; 24],
    aad: &[u8],
    plain: &mut [u8],
) -> Result<[u8; TAG_LEN], AeadFailure> {
    let (k, suffix) = reduce(key, nonce).map_err(|_| AeadFailure::Seal)?;
    k.seal(&suffix, aad, plain)
}

/// Decrypts `ct` (whose tag is `tag`) into `out`, which must be as long as
/// `ct`. On failure `out` holds no plaintext worth reading.
pub(crate) fn open_detached(
    key: &[u8; 32],
    nonce: &[u8; 24],
    aad: &[u8],
    ct: &[u8],
    tag: &[u8; TAG_LEN],
    out: &mut [u8],
) -> Result<(), AeadFailure> {
    let (k, suffix) = reduce(key, nonce)?;
    k.open(&suffix, aad, ct, tag, out)
}

/// Decrypts `sealed` = `ciphertext ‖ tag` in place; on success the first
/// `sealed.len() − 16` bytes hold the plaintext.
pub(crate) fn open_in_place(
    key: &[u8; 32],
    nonce: &[u8; 24],
    aad: &[u8],
    sealed: &mut [u8],
) -> Result<(), AeadFailure> {
    let (k, suffix) = reduce(key, nonce)?;
    k.open_in_place(&suffix, aad, sealed)
}

/// XChaCha20-Poly1305 under one key and one 16-byte nonce prefix, with the
/// HChaCha20 subkey computed once: many messages whose nonces differ only in
/// their last 8 bytes (a circuit's cells, whose nonce is a base XOR a
/// counter in those bytes) then cost one ChaCha20-Poly1305 each. The bytes
/// are exactly XChaCha20-Poly1305's.
pub(crate) struct PrefixKey {
    key: LessSafeKey,
}

impl PrefixKey {
    /// The key for nonces `prefix ‖ *` under `key`.
    pub(crate) fn new(key: &[u8; 32], prefix: &[u8; 16]) -> Result<Self, AeadFailure> {
        let sub = Zeroizing::new(<[u8; 32]>::from(chacha20::hchacha::<chacha20::R20>(
            &(*key).into(),
            &(*prefix).into(),
        )));
        let unbound =
            UnboundKey::new(&CHACHA20_POLY1305, sub.as_slice()).map_err(|_| AeadFailure::Open)?;
        Ok(PrefixKey {
            key: LessSafeKey::new(unbound),
        })
    }

    fn nonce(suffix: &[u8; 8]) -> Nonce {
        let mut short = [0u8; 12];
        if let Some(tail) = short.get_mut(4..) {
            tail.copy_from_slice(suffix);
        }
        Nonce::assume_unique_for_key(short)
    }

    /// Encrypts `plain` in place under the nonce `prefix ‖ suffix` and returns its tag.
    pub(crate) fn seal(
        &self,
        suffix: &[u8; 8],
        aad: &[u8],
        plain: &mut [u8],
    ) -> Result<[u8; TAG_LEN], AeadFailure> {
        let tag = self
            .key
            .seal_in_place_separate_tag(Self::nonce(suffix), Aad::from(aad), plain)
            .map_err(|_| AeadFailure::Seal)?;
        <[u8; TAG_LEN]>::try_from(tag.as_ref()).map_err(|_| AeadFailure::Seal)
    }

    /// Decrypts `ct` (tag `tag`) into `out`, as long as `ct`, under the
    /// nonce `prefix ‖ suffix`.
    pub(crate) fn open(
        &self,
        suffix: &[u8; 8],
        aad: &[u8],
        ct: &[u8],
        tag: &[u8; TAG_LEN],
        out: &mut [u8],
    ) -> Result<(), AeadFailure> {
        if ct.len() != out.len() {
            return Err(AeadFailure::Open);
        }
        self.key
            .open_separate_gather(Self::nonce(suffix), Aad::from(aad), ct, tag, out)
            .map_err(|_| AeadFailure::Open)
    }

    /// Decrypts `sealed` = `ciphertext ‖ tag` in place.
    pub(crate) fn open_in_place(
        &self,
        suffix: &[u8; 8],
        aad: &[u8],
        sealed: &mut [u8],
    ) -> Result<(), AeadFailure> {
        if sealed.len() < TAG_LEN {
            return Err(AeadFailure::Open);
        }
        self.key
            .open_in_place(Self::nonce(suffix), Aad::from(aad), sealed)
            .map(|_| ())
            .map_err(|_| AeadFailure::Open)
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::indexing_slicing)]
    use super::*;
    use chacha20poly1305::aead::AeadInOut;
    use chacha20poly1305::{KeyInit, XChaCha20Poly1305};

    fn rustcrypto_seal(key: &[u8; 32], nonce: &[u8; 24], aad: &[u8], plain: &[u8]) -> Vec<u8> {
        let mut buf = plain.to_vec();
        let tag = XChaCha20Poly1305::new(&(*key).into())
            .encrypt_inout_detached(&(*nonce).into(), aad, buf.as_mut_slice().into())
            .unwrap();
        buf.extend_from_slice(&tag);
        buf
    }

    fn ours_seal(key: &[u8; 32], nonce: &[u8; 24], aad: &[u8], plain: &[u8]) -> Vec<u8> {
        let mut buf = plain.to_vec();
        let tag = seal_detached(key, nonce, aad, &mut buf).unwrap();
        buf.extend_from_slice(&tag);
        buf
    }

    #[test]
    fn aws_lc_construction_gives_rustcrypto_bytes() {
        for len in [0usize, 1, 15, 16, 63, 64, 65, 1000, 1128, 70_000] {
            let key: [u8; 32] = std::array::from_fn(|i| (i * 7 + len) as u8);
            let nonce: [u8; 24] = std::array::from_fn(|i| (i * 13 + 1) as u8);
            let aad = [1u8, 2, 3, (len % 251) as u8];
            let plain: Vec<u8> = (0..len).map(|i| (i * 31 % 256) as u8).collect();
            let a = rustcrypto_seal(&key, &nonce, &aad, &plain);
            let b = ours_seal(&key, &nonce, &aad, &plain);
            assert_eq!(a, b, "length {len}");

            let (ct, tag) = a.split_last_chunk::<TAG_LEN>().unwrap();
            let mut out = vec![0u8; ct.len()];
            open_detached(&key, &nonce, &aad, ct, tag, &mut out).unwrap();
            assert_eq!(out, plain);
            let mut in_place = a.clone();
            open_in_place(&key, &nonce, &aad, &mut in_place).unwrap();
            assert_eq!(&in_place[..len], plain.as_slice());
        }
    }

    #[test]
    fn altered_ciphertext_tag_nonce_or_aad_does_not_open() {
        let key = [9u8; 32];
        let nonce = [4u8; 24];
        let sealed = ours_seal(&key, &nonce, b"aad", b"the plaintext");
        let (ct, tag) = sealed.split_last_chunk::<TAG_LEN>().unwrap();
        let mut out = vec![0u8; ct.len()];
        for i in 0..sealed.len() {
            let mut bad = sealed.clone();
            bad[i] ^= 0x01;
            assert_eq!(
                open_in_place(&key, &nonce, b"aad", &mut bad),
                Err(AeadFailure::Open)
            );
        }
        let mut other_nonce = nonce;
        other_nonce[0] ^= 1; // the HChaCha20 part
        assert!(open_detached(&key, &other_nonce, b"aad", ct, tag, &mut out).is_err());
        other_nonce = nonce;
        other_nonce[23] ^= 1; // the ChaCha20 part
        assert!(open_detached(&key, &other_nonce, b"aad", ct, tag, &mut out).is_err());
        assert!(open_detached(&key, &nonce, b"aaD", ct, tag, &mut out).is_err());
        assert!(open_detached(&key, &nonce, b"aad", ct, tag, &mut out[1..]).is_err());
        assert!(open_in_place(&key, &nonce, b"aad", &mut [0u8; 15]).is_err());
    }

    #[test]
    fn prefix_key_gives_xchacha_bytes() {
        let key = [7u8; 32];
        let mut nonce = [3u8; 24];
        nonce[20] = 9;
        let prefix: [u8; 16] = nonce[..16].try_into().unwrap();
        let suffix: [u8; 8] = nonce[16..].try_into().unwrap();
        let pk = PrefixKey::new(&key, &prefix).unwrap();
        let mut a = b"circuit cell payload".to_vec();
        let tag = pk.seal(&suffix, b"ad", &mut a).unwrap();
        a.extend_from_slice(&tag);
        assert_eq!(
            a,
            rustcrypto_seal(&key, &nonce, b"ad", b"circuit cell payload")
        );
        let mut out = vec![0u8; a.len() - 16];
        let t: [u8; 16] = a[a.len() - 16..].try_into().unwrap();
        pk.open(&suffix, b"ad", &a[..a.len() - 16], &t, &mut out)
            .unwrap();
        assert_eq!(out, b"circuit cell payload");
        assert!(
            pk.open(&[0; 8], b"ad", &a[..a.len() - 16], &t, &mut out)
                .is_err()
        );
        pk.open_in_place(&suffix, b"ad", &mut a).unwrap();
        assert_eq!(&a[..20], b"circuit cell payload");
    }
}
