//! The key schedule of messages v2 (`docs/PROTOCOL.md` §14–§15): the
//! PQXDH-style handshake's derivation, the Double Ratchet's root and chain
//! KDFs, and the AEAD of ratchet headers and message bodies.
//!
//! Everything is keyed BLAKE2b with a domain label as the key
//! (`crypto_generichash(out, n, input, label)`) and XChaCha20-Poly1305-IETF,
//! so libsodium recomputes it; every input is fixed-length or length-prefixed
//! by the caller. The state machine that decides *when* each function runs
//! (which chain, which header key) is `nightjar-ratchet`'s; this module only
//! holds the constructions, so that the primitives stay in this crate.
//!
//! | function | output |
//! | --- | --- |
//! | [`pqxdh_transcript_hash`] | `BLAKE2b-32(key = "nightjar/v2/pqxdh-transcript", transcript)` |
//! | [`pqxdh_secret`] | `SK = BLAKE2b-32(key = "nightjar/v2/pqxdh-secret", TH ‖ DH1 ‖ DH2 ‖ DH3 [‖ DH4] ‖ SS)` |
//! | [`HandshakeKeys::expand`] | `RK0`, `HK_I`, `NHK_R`: BLAKE2b-32 of `SK` under `…/pqxdh-root`, `…/pqxdh-initiator-header`, `…/pqxdh-responder-header` |
//! | [`root_kdf`] | `RK' ‖ CK = BLAKE2b-64(key = "nightjar/v2/ratchet-root", RK ‖ DH ‖ SS)`, `NHK = BLAKE2b-32(key = "nightjar/v2/ratchet-next-header", RK ‖ DH ‖ SS)` |
//! | [`chain_kdf`] | `MK = BLAKE2b-32(key = "nightjar/v2/ratchet-message", CK)`, `CK' = BLAKE2b-32(key = "nightjar/v2/ratchet-chain", CK)` |
//! | [`MessageKey::seal`] | `h = BLAKE2b-56(key = "nightjar/v2/message-key", MK)`; AEAD with key `h[0..32]`, nonce `h[32..56]` |
//! | [`HeaderKey::seal`] | AEAD with key `HK` and a caller-given (random) 24-byte nonce |
//!
//! Not for: anything but messages v2. All key types are zeroized on drop and
//! print `[redacted]` in `Debug`.

use core::fmt;

use zeroize::{Zeroize, ZeroizeOnDrop, Zeroizing};

use crate::dh::DhShared;
use crate::error::CryptoError;
use crate::hash::{blake2b_keyed_32, blake2b_keyed_56, blake2b_keyed_64};
use crate::kem::MlKemSharedSecret;
use crate::labels;
use crate::xchacha::{self, TAG_LEN};

/// Length of every key of this module.
pub const KEY_LEN: usize = 32;

/// Length of an XChaCha20-Poly1305 nonce.
pub const NONCE_LEN: usize = 24;

/// Length of a Poly1305 tag, the bytes AEAD adds to a plaintext.
pub const AEAD_TAG_LEN: usize = TAG_LEN;

macro_rules! secret_key {
    ($(#[$doc:meta])* $name:ident) => {
        $(#[$doc])*
        ///
        /// 32 bytes; zeroized on drop; `Debug` prints `[redacted]`.
        #[derive(Clone, Zeroize, ZeroizeOnDrop)]
        pub struct $name([u8; KEY_LEN]);

        impl $name {
            /// Wraps 32 stored secret bytes (a saved state, a test vector).
            pub fn from_bytes(bytes: [u8; KEY_LEN]) -> $name {
                $name(bytes)
            }

            /// The 32 secret bytes, for storing the state (encrypted at rest).
            pub fn as_bytes(&self) -> &[u8; KEY_LEN] {
                &self.0
            }

            fn from_zeroizing(bytes: &Zeroizing<[u8; KEY_LEN]>) -> $name {
                $name(**bytes)
            }
        }

        impl fmt::Debug for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(concat!(stringify!($name), "([redacted])"))
            }
        }
    };
}

secret_key!(
    /// The root key of a Double Ratchet (`RK`).
    RootKey
);
secret_key!(
    /// A sending or receiving chain key (`CK`).
    ChainKey
);
secret_key!(
    /// A header key (`HK`, `NHK`): encrypts the headers of one chain.
    HeaderKey
);
secret_key!(
    /// A message key (`MK`): encrypts exactly one message body.
    MessageKey
);
secret_key!(
    /// The handshake's master secret (`SK`), from which [`HandshakeKeys`]
    /// are expanded.
    HandshakeSecret
);

/// `TH = BLAKE2b-32(key = "nightjar/v2/pqxdh-transcript", transcript)`: the
/// hash of the handshake's public transcript (the caller's encoding,
/// `docs/PROTOCOL.md` §14).
pub fn pqxdh_transcript_hash(transcript: &[u8]) -> [u8; 32] {
    *blake2b_keyed_32(labels::PQXDH_TRANSCRIPT, &[transcript])
}

/// The handshake's master secret:
/// `SK = BLAKE2b-32(key = "nightjar/v2/pqxdh-secret", TH ‖ DH1 ‖ DH2 ‖ DH3 [‖ DH4] ‖ SS)`,
/// `DH4` only when a one-time prekey was used (the transcript, hashed into
/// `TH` first, says whether).
pub fn pqxdh_secret(
    transcript_hash: &[u8; 32],
    dh1: &DhShared,
    dh2: &DhShared,
    dh3: &DhShared,
    dh4: Option<&DhShared>,
    kem: &MlKemSharedSecret,
) -> HandshakeSecret {
    let out = match dh4 {
        Some(dh4) => blake2b_keyed_32(
            labels::PQXDH_SECRET,
            &[
                transcript_hash,
                dh1.as_bytes(),
                dh2.as_bytes(),
                dh3.as_bytes(),
                dh4.as_bytes(),
                kem.as_bytes(),
            ],
        ),
        None => blake2b_keyed_32(
            labels::PQXDH_SECRET,
            &[
                transcript_hash,
                dh1.as_bytes(),
                dh2.as_bytes(),
                dh3.as_bytes(),
                kem.as_bytes(),
            ],
        ),
    };
    HandshakeSecret::from_zeroizing(&out)
}

/// The keys a handshake starts the ratchet with.
#[derive(Clone, Debug)]
pub struct HandshakeKeys {
    /// `RK0`, the first root key.
    pub root: RootKey,
    /// `HK_I`: the header key of the initiator's first sending chain.
    pub initiator_header: HeaderKey,
    /// `NHK_R`: the header key of the responder's first sending chain.
    pub responder_next_header: HeaderKey,
}

impl HandshakeKeys {
    /// Expands the master secret: `RK0`, `HK_I` and `NHK_R` are BLAKE2b-32 of
    /// `SK` keyed by `"nightjar/v2/pqxdh-root"`,
    /// `"nightjar/v2/pqxdh-initiator-header"` and
    /// `"nightjar/v2/pqxdh-responder-header"`.
    pub fn expand(secret: &HandshakeSecret) -> HandshakeKeys {
        let sk: &[u8] = secret.as_bytes();
        HandshakeKeys {
            root: RootKey::from_zeroizing(&blake2b_keyed_32(labels::PQXDH_ROOT, &[sk])),
            initiator_header: HeaderKey::from_zeroizing(&blake2b_keyed_32(
                labels::PQXDH_INITIATOR_HEADER,
                &[sk],
            )),
            responder_next_header: HeaderKey::from_zeroizing(&blake2b_keyed_32(
                labels::PQXDH_RESPONDER_HEADER,
                &[sk],
            )),
        }
    }
}

/// The root KDF of a ratchet step, with the post-quantum secret mixed in:
/// with `in = RK ‖ DH ‖ SS`,
/// `RK' ‖ CK = BLAKE2b-64(key = "nightjar/v2/ratchet-root", in)` and
/// `NHK = BLAKE2b-32(key = "nightjar/v2/ratchet-next-header", in)`.
/// Returns `(RK', CK, NHK)`.
pub fn root_kdf(
    root: &RootKey,
    dh: &DhShared,
    kem: &MlKemSharedSecret,
) -> (RootKey, ChainKey, HeaderKey) {
    let parts: [&[u8]; 3] = [root.as_bytes(), dh.as_bytes(), kem.as_bytes()];
    let out = Zeroizing::new(blake2b_keyed_64(labels::RATCHET_ROOT, &parts));
    let mut rk = Zeroizing::new([0u8; KEY_LEN]);
    let mut ck = Zeroizing::new([0u8; KEY_LEN]);
    let (left, right) = out.split_at(KEY_LEN);
    rk.copy_from_slice(left);
    ck.copy_from_slice(right);
    let nhk = blake2b_keyed_32(labels::RATCHET_NEXT_HEADER, &parts);
    (
        RootKey::from_zeroizing(&rk),
        ChainKey::from_zeroizing(&ck),
        HeaderKey::from_zeroizing(&nhk),
    )
}

/// The chain KDF: `CK' = BLAKE2b-32(key = "nightjar/v2/ratchet-chain", CK)`
/// and `MK = BLAKE2b-32(key = "nightjar/v2/ratchet-message", CK)`. Returns
/// `(CK', MK)`.
pub fn chain_kdf(chain: &ChainKey) -> (ChainKey, MessageKey) {
    let ck: &[u8] = chain.as_bytes();
    (
        ChainKey::from_zeroizing(&blake2b_keyed_32(labels::RATCHET_CHAIN, &[ck])),
        MessageKey::from_zeroizing(&blake2b_keyed_32(labels::RATCHET_MESSAGE, &[ck])),
    )
}

fn seal(
    key: &[u8; 32],
    nonce: &[u8; NONCE_LEN],
    aad: &[u8],
    plaintext: &[u8],
) -> Result<Vec<u8>, CryptoError> {
    let mut out = Vec::with_capacity(plaintext.len() + TAG_LEN);
    out.extend_from_slice(plaintext);
    let tag = xchacha::seal_detached(key, nonce, aad, &mut out)
        .map_err(|_| CryptoError::EncryptFailed)?;
    out.extend_from_slice(&tag);
    Ok(out)
}

fn open(
    key: &[u8; 32],
    nonce: &[u8; NONCE_LEN],
    aad: &[u8],
    sealed: &[u8],
) -> Result<Zeroizing<Vec<u8>>, CryptoError> {
    let mut buf = Zeroizing::new(sealed.to_vec());
    xchacha::open_in_place(key, nonce, aad, &mut buf).map_err(|_| CryptoError::DecryptFailed)?;
    let plain_len = sealed.len().saturating_sub(TAG_LEN);
    buf.truncate(plain_len);
    Ok(buf)
}

impl HeaderKey {
    /// Encrypts a header: XChaCha20-Poly1305 under this key with `nonce`,
    /// returning `ciphertext ‖ tag`. A header key encrypts every header of a
    /// chain, so `nonce` must be fresh random bytes for each header.
    pub fn seal(
        &self,
        nonce: &[u8; NONCE_LEN],
        aad: &[u8],
        header: &[u8],
    ) -> Result<Vec<u8>, CryptoError> {
        seal(&self.0, nonce, aad, header)
    }

    /// Decrypts `ciphertext ‖ tag` made by [`HeaderKey::seal`]; fails with
    /// [`CryptoError::DecryptFailed`] (this is how a receiver tries a key).
    pub fn open(
        &self,
        nonce: &[u8; NONCE_LEN],
        aad: &[u8],
        sealed: &[u8],
    ) -> Result<Zeroizing<Vec<u8>>, CryptoError> {
        open(&self.0, nonce, aad, sealed)
    }
}

impl MessageKey {
    /// The AEAD key and nonce of this message key:
    /// `h = BLAKE2b-56(key = "nightjar/v2/message-key", MK)`, key `h[0..32]`,
    /// nonce `h[32..56]`. (A message key encrypts one message, so a derived
    /// nonce is never reused.)
    pub fn aead_key_nonce(&self) -> (Zeroizing<[u8; 32]>, [u8; NONCE_LEN]) {
        let h = blake2b_keyed_56(labels::MESSAGE_KEY, &[&self.0]);
        let mut key = Zeroizing::new([0u8; 32]);
        let mut nonce = [0u8; NONCE_LEN];
        let (k, n) = h.split_at(32);
        key.copy_from_slice(k);
        nonce.copy_from_slice(n);
        (key, nonce)
    }

    /// Encrypts a message body, returning `ciphertext ‖ tag`.
    pub fn seal(&self, aad: &[u8], plaintext: &[u8]) -> Result<Vec<u8>, CryptoError> {
        let (key, nonce) = self.aead_key_nonce();
        seal(&key, &nonce, aad, plaintext)
    }

    /// Decrypts a body made by [`MessageKey::seal`]; fails with
    /// [`CryptoError::DecryptFailed`].
    pub fn open(&self, aad: &[u8], sealed: &[u8]) -> Result<Zeroizing<Vec<u8>>, CryptoError> {
        let (key, nonce) = self.aead_key_nonce();
        open(&key, &nonce, aad, sealed)
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use crate::dh::{DhSecret, dh};
    use crate::kem::{MlKemKeyPair, encapsulate_deterministic};

    fn shared(a: u8, b: u8) -> DhShared {
        dh(
            &DhSecret::from_bytes([a; 32]),
            &DhSecret::from_bytes([b; 32]).public(),
        )
        .unwrap()
    }

    fn kem_secret(byte: u8) -> MlKemSharedSecret {
        let pair = MlKemKeyPair::from_seed(&[byte; 64]);
        encapsulate_deterministic(pair.public_key(), &[byte; 32]).1
    }

    #[test]
    fn pqxdh_secret_depends_on_every_input_and_on_dh4() {
        let th = [1u8; 32];
        let (d1, d2, d3, d4) = (shared(1, 2), shared(3, 4), shared(5, 6), shared(7, 8));
        let ss = kem_secret(1);
        let base = pqxdh_secret(&th, &d1, &d2, &d3, Some(&d4), &ss);
        let again = pqxdh_secret(&th, &d1, &d2, &d3, Some(&d4), &ss);
        assert_eq!(base.as_bytes(), again.as_bytes());
        for other in [
            pqxdh_secret(&[2u8; 32], &d1, &d2, &d3, Some(&d4), &ss),
            pqxdh_secret(&th, &d2, &d1, &d3, Some(&d4), &ss),
            pqxdh_secret(&th, &d1, &d2, &d3, None, &ss),
            pqxdh_secret(&th, &d1, &d2, &d3, Some(&d4), &kem_secret(2)),
        ] {
            assert_ne!(base.as_bytes(), other.as_bytes());
        }
        let keys = HandshakeKeys::expand(&base);
        let all = [
            *keys.root.as_bytes(),
            *keys.initiator_header.as_bytes(),
            *keys.responder_next_header.as_bytes(),
            *base.as_bytes(),
        ];
        for i in 0..all.len() {
            for j in i + 1..all.len() {
                assert_ne!(all[i], all[j]);
            }
        }
    }

    #[test]
    fn root_and_chain_kdfs_give_distinct_keys() {
        let rk = RootKey::from_bytes([9; 32]);
        let (rk2, ck, nhk) = root_kdf(&rk, &shared(1, 2), &kem_secret(3));
        let (rk3, _, _) = root_kdf(&rk, &shared(1, 2), &kem_secret(4));
        assert_ne!(rk2.as_bytes(), rk3.as_bytes(), "the KEM secret counts");
        let (ck2, mk) = chain_kdf(&ck);
        let (ck3, mk2) = chain_kdf(&ck2);
        let keys = [
            *rk2.as_bytes(),
            *ck.as_bytes(),
            *nhk.as_bytes(),
            *ck2.as_bytes(),
            *mk.as_bytes(),
            *ck3.as_bytes(),
            *mk2.as_bytes(),
        ];
        for i in 0..keys.len() {
            for j in i + 1..keys.len() {
                assert_ne!(keys[i], keys[j]);
            }
        }
    }

    #[test]
    fn sealed_bodies_and_headers_open_only_unaltered() {
        let mk = MessageKey::from_bytes([4; 32]);
        let sealed = mk.seal(b"ad", b"hello").unwrap();
        assert_eq!(sealed.len(), 5 + AEAD_TAG_LEN);
        assert_eq!(&mk.open(b"ad", &sealed).unwrap()[..], b"hello");
        assert_eq!(mk.open(b"ae", &sealed), Err(CryptoError::DecryptFailed));
        let mut bad = sealed.clone();
        bad[0] ^= 1;
        assert_eq!(mk.open(b"ad", &bad), Err(CryptoError::DecryptFailed));
        assert_eq!(
            MessageKey::from_bytes([5; 32]).open(b"ad", &sealed),
            Err(CryptoError::DecryptFailed)
        );
        assert_eq!(
            mk.open(b"ad", &sealed[..10]),
            Err(CryptoError::DecryptFailed)
        );

        let hk = HeaderKey::from_bytes([6; 32]);
        let nonce = [7u8; 24];
        let h = hk.seal(&nonce, b"", b"header").unwrap();
        assert_eq!(&hk.open(&nonce, b"", &h).unwrap()[..], b"header");
        assert!(hk.open(&[8u8; 24], b"", &h).is_err());
        assert!(hk.open(&nonce, b"", &h[..3]).is_err());
    }

    #[test]
    fn message_aead_matches_rustcrypto_xchacha20poly1305() {
        use chacha20poly1305::aead::AeadInOut;
        use chacha20poly1305::{KeyInit, XChaCha20Poly1305};
        let mk = MessageKey::from_bytes([3; 32]);
        let (key, nonce) = mk.aead_key_nonce();
        let mut buf = b"body".to_vec();
        let tag = XChaCha20Poly1305::new(&(*key).into())
            .encrypt_inout_detached(&nonce.into(), b"aad", buf.as_mut_slice().into())
            .unwrap();
        buf.extend_from_slice(&tag);
        assert_eq!(mk.seal(b"aad", b"body").unwrap(), buf);
    }

    #[test]
    fn keys_are_redacted_in_debug() {
        assert_eq!(
            format!("{:?}", MessageKey::from_bytes([1; 32])),
            "MessageKey([redacted])"
        );
        let keys = HandshakeKeys::expand(&HandshakeSecret::from_bytes([2; 32]));
        assert_eq!(
            format!("{keys:?}"),
            "HandshakeKeys { root: RootKey([redacted]), initiator_header: HeaderKey([redacted]), \
             responder_next_header: HeaderKey([redacted]) }"
        );
    }
}
