//! Reference costs for benchmarks; not used by the protocol. Compiled only
//! with the `bench` cargo feature (which `nightjar-bench` enables).
//!
//! `nightjar-bench onion-hop` compares the node's real relay path (peel a
//! layer, wrap the answer) with the bare primitives the same work needs, run
//! in the same process on the same bytes. Only this crate may name primitive
//! crypto crates, so the bare operations live here. Nothing in the protocol
//! calls them, and they carry none of the protocol's checks beyond what the
//! primitives do themselves.
//!
//! The bound takes the **fastest** implementation available, not
//! necessarily the one the protocol uses:
//!
//! - X25519: x25519-dalek (what the client's ephemeral keys use) or aws-lc-rs's
//!   `agreement` with a static private key (`PrivateKey::from_private_key`,
//!   already in the build under rustls);
//! - XChaCha20-Poly1305: RustCrypto's `chacha20poly1305`, or HChaCha20
//!   (RustCrypto) followed by aws-lc-rs's ChaCha20-Poly1305, which is the
//!   same construction and what [`crate::onion`] uses;
//! - keyed BLAKE2b with 56-byte outputs: RustCrypto's `blake2` (the only one
//!   here).
//!
//! Both implementations of each primitive give the same bytes; the unit
//! tests check that against [`crate::onion`].
//!
//! What one relay hop does, and so what [`hop_bound`] does:
//! `S = X25519(node secret, E)`, the request and response keys
//! `BLAKE2b-56(label, S ‖ E ‖ Y)` (twice), an AEAD open of the layer, and an
//! AEAD seal of the answer it passes back. The bound works in buffers the
//! caller provides, so it allocates nothing.

use aws_lc_rs::agreement::{self, UnparsedPublicKey, X25519};
use chacha20poly1305::aead::AeadInOut;
use chacha20poly1305::aead::inout::InOutBuf;
use chacha20poly1305::{KeyInit, XChaCha20Poly1305};
use ed25519_dalek::SigningKey;
use x25519_dalek::StaticSecret;
use zeroize::Zeroizing;

use crate::identity::Identity;
use crate::onion::OnionError;
use crate::xchacha;

const TAG_LEN: usize = 16;

/// An X25519 implementation.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum X25519Impl {
    /// x25519-dalek (`StaticSecret::diffie_hellman`), as the protocol uses.
    Dalek,
    /// aws-lc-rs `agreement` with a static private key.
    AwsLc,
}

/// An XChaCha20-Poly1305 implementation.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum AeadImpl {
    /// RustCrypto `chacha20poly1305::XChaCha20Poly1305` (envelopes and local
    /// storage use it).
    RustCrypto,
    /// HChaCha20 (RustCrypto `chacha20`) then aws-lc-rs ChaCha20-Poly1305,
    /// as the onion layers use.
    AwsLc,
}

enum Secret {
    Dalek(StaticSecret),
    AwsLc(agreement::PrivateKey),
}

/// A node's static X25519 secret, prepared once for one implementation (as
/// a node would hold it), with its public key.
pub struct StaticX25519 {
    secret: Secret,
    public: [u8; 32],
}

impl std::fmt::Debug for StaticX25519 {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("StaticX25519")
            .field("public", &self.public)
            .finish_non_exhaustive()
    }
}

impl StaticX25519 {
    /// The secret `scalar` (32 bytes; clamped by X25519 itself) for `imp`.
    pub fn new(imp: X25519Impl, scalar: &[u8; 32]) -> Result<StaticX25519, OnionError> {
        let dalek = StaticSecret::from(*scalar);
        let public = x25519_dalek::PublicKey::from(&dalek).to_bytes();
        let secret = match imp {
            X25519Impl::Dalek => Secret::Dalek(dalek),
            X25519Impl::AwsLc => Secret::AwsLc(
                agreement::PrivateKey::from_private_key(&X25519, scalar)
                    .map_err(|_| OnionError::Malformed("aws-lc-rs refused the X25519 key"))?,
            ),
        };
        Ok(StaticX25519 { secret, public })
    }

    /// The X25519 secret of `identity` (the one [`crate::onion::peel`]
    /// uses), for `imp`.
    pub fn of_identity(imp: X25519Impl, identity: &Identity) -> Result<StaticX25519, OnionError> {
        // clamp(SHA-512(seed)[0..32]), as `Identity::from_seed` derives it.
        let signing = SigningKey::from_bytes(identity.seed().as_bytes());
        let mut scalar = Zeroizing::new(signing.to_scalar_bytes());
        if let Some(first) = scalar.first_mut() {
            *first &= 248;
        }
        if let Some(last) = scalar.last_mut() {
            *last &= 127;
            *last |= 64;
        }
        StaticX25519::new(imp, &scalar)
    }

    /// The public key.
    pub fn public_key(&self) -> [u8; 32] {
        self.public
    }

    /// Which implementation this key uses.
    pub fn implementation(&self) -> X25519Impl {
        match self.secret {
            Secret::Dalek(_) => X25519Impl::Dalek,
            Secret::AwsLc(_) => X25519Impl::AwsLc,
        }
    }

    /// X25519 with `their_public`; `None` if the result is all zero (a
    /// small-order point) or the implementation refuses the point.
    pub fn agree(&self, their_public: &[u8; 32]) -> Option<Zeroizing<[u8; 32]>> {
        match &self.secret {
            Secret::Dalek(s) => {
                let shared = s.diffie_hellman(&x25519_dalek::PublicKey::from(*their_public));
                shared
                    .was_contributory()
                    .then(|| Zeroizing::new(shared.to_bytes()))
            }
            Secret::AwsLc(k) => crate::identity::aws_lc_agree(k, their_public),
        }
    }
}

/// One-shot x25519-dalek X25519 (the secret prepared on every call); all
/// zero for a small-order point.
pub fn x25519_dalek(secret: &[u8; 32], public: &[u8; 32]) -> [u8; 32] {
    StaticSecret::from(*secret)
        .diffie_hellman(&x25519_dalek::PublicKey::from(*public))
        .to_bytes()
}

/// One-shot aws-lc-rs X25519 (the private key parsed on every call); `None`
/// if aws-lc-rs refuses the key or the point.
pub fn x25519_aws_lc(secret: &[u8; 32], public: &[u8; 32]) -> Option<[u8; 32]> {
    let key = agreement::PrivateKey::from_private_key(&X25519, secret).ok()?;
    agreement::agree(&key, UnparsedPublicKey::new(&X25519, public), (), |s| {
        <[u8; 32]>::try_from(s).map_err(|_| ())
    })
    .ok()
}

/// Key and nonce of one direction of one hop.
pub struct HopKey {
    key: Zeroizing<[u8; 32]>,
    nonce: [u8; 24],
}

impl std::fmt::Debug for HopKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("HopKey([redacted])")
    }
}

/// The onion KDF of one hop: request and response keys from the shared
/// secret `s`, the ephemeral key `e` and the node's X25519 public key `y`
/// (two keyed BLAKE2b-56), as [`crate::onion`] derives them.
pub fn hop_kdf(s: &[u8; 32], e: &[u8; 32], y: &[u8; 32]) -> (HopKey, HopKey) {
    let split = |h: &[u8; 56]| {
        let mut key = HopKey {
            key: Zeroizing::new([0; 32]),
            nonce: [0; 24],
        };
        let (k, n) = h.split_at(32);
        key.key.copy_from_slice(k);
        key.nonce.copy_from_slice(n);
        key
    };
    let (q, r) = crate::onion::hop_key_material(s, e, y);
    (split(&q), split(&r))
}

/// The associated data of a hop: version byte and ephemeral key.
pub fn hop_aad(e: &[u8; 32]) -> [u8; 33] {
    let mut aad = [0u8; 33];
    aad[0] = crate::onion::ONION_VERSION;
    aad[1..].copy_from_slice(e);
    aad
}

/// XChaCha20-Poly1305 open of `ct ‖ tag` (`sealed`) into `out` (of
/// `sealed.len() − 16` bytes), out of place.
pub fn aead_open(
    imp: AeadImpl,
    key: &HopKey,
    aad: &[u8],
    sealed: &[u8],
    out: &mut [u8],
) -> Result<(), OnionError> {
    let (ct, tag) = sealed
        .split_last_chunk::<TAG_LEN>()
        .ok_or(OnionError::Malformed("shorter than a tag"))?;
    match imp {
        AeadImpl::RustCrypto => {
            let inout = InOutBuf::new(ct, out).map_err(|_| OnionError::DecryptFailed)?;
            XChaCha20Poly1305::new(&(*key.key).into())
                .decrypt_inout_detached(&key.nonce.into(), aad, inout, &(*tag).into())
                .map_err(|_| OnionError::DecryptFailed)
        }
        AeadImpl::AwsLc => xchacha::open_detached(&key.key, &key.nonce, aad, ct, tag, out)
            .map_err(|_| OnionError::DecryptFailed),
    }
}

/// XChaCha20-Poly1305 seal in place: encrypts `buf[..len − 16]` and writes
/// the tag into the last 16 bytes.
pub fn aead_seal(
    imp: AeadImpl,
    key: &HopKey,
    aad: &[u8],
    buf: &mut [u8],
) -> Result<(), OnionError> {
    let (plain, tag_out) = buf
        .split_last_chunk_mut::<TAG_LEN>()
        .ok_or(OnionError::Malformed("shorter than a tag"))?;
    match imp {
        AeadImpl::RustCrypto => {
            let tag = XChaCha20Poly1305::new(&(*key.key).into())
                .encrypt_inout_detached(&key.nonce.into(), aad, plain.into())
                .map_err(|_| OnionError::Malformed("too long to encrypt"))?;
            tag_out.copy_from_slice(&tag);
        }
        AeadImpl::AwsLc => {
            let tag = xchacha::seal_detached(&key.key, &key.nonce, aad, plain)
                .map_err(|_| OnionError::Malformed("too long to encrypt"))?;
            tag_out.copy_from_slice(&tag);
        }
    }
    Ok(())
}

/// The bare work of one relay hop: X25519 of `node` with `ephemeral`, the
/// two KDF hashes, an AEAD open of `layer` (the node's layer, tag included)
/// into `plain` (resized to fit, so after the first call it does not
/// allocate), and an AEAD seal in place of `response` (the answer passed
/// back: plaintext followed by 16 bytes for the tag).
pub fn hop_bound(
    node: &StaticX25519,
    aead: AeadImpl,
    ephemeral: &[u8; 32],
    layer: &[u8],
    plain: &mut Vec<u8>,
    response: &mut [u8],
) -> Result<(), OnionError> {
    let shared = node.agree(ephemeral).ok_or(OnionError::LowOrderPoint)?;
    let (req, resp) = hop_kdf(&shared, ephemeral, &node.public_key());
    let aad = hop_aad(ephemeral);
    plain.resize(layer.len().saturating_sub(TAG_LEN), 0);
    aead_open(aead, &req, &aad, layer, plain)?;
    aead_seal(aead, &resp, &aad, response)
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use crate::identity::Seed;
    use crate::onion::{self, Peeled};

    fn node() -> Identity {
        Identity::from_seed(Seed::from_bytes([7; 32]))
    }

    #[test]
    fn both_x25519_implementations_agree_with_the_identity() {
        let id = node();
        let peer = [9u8; 32];
        let peer_pub = x25519_dalek::PublicKey::from(&StaticSecret::from(peer)).to_bytes();
        let expected = id.x25519_agree(&peer_pub).unwrap();
        for imp in [X25519Impl::Dalek, X25519Impl::AwsLc] {
            let k = StaticX25519::of_identity(imp, &id).unwrap();
            assert_eq!(k.implementation(), imp);
            assert_eq!(k.public_key(), id.x25519_public());
            assert_eq!(*k.agree(&peer_pub).unwrap(), *expected, "{imp:?}");
        }
        let a = x25519_dalek(&peer, &id.x25519_public());
        assert_eq!(x25519_aws_lc(&peer, &id.x25519_public()).unwrap(), a);
        assert_eq!(a, *expected);
    }

    #[test]
    fn small_order_points_give_none() {
        let id = node();
        for imp in [X25519Impl::Dalek, X25519Impl::AwsLc] {
            let k = StaticX25519::of_identity(imp, &id).unwrap();
            assert!(k.agree(&[0; 32]).is_none(), "{imp:?}");
        }
    }

    #[test]
    fn hop_bound_opens_a_real_layer_like_peel_with_either_implementation() {
        let relay = node();
        let dest = Identity::from_seed(Seed::from_bytes([8; 32]));
        let hops = [(relay.public_key(), 1000), (dest.public_key(), 0)];
        let (packet, _) = onion::build(&hops, &[0x42; 500]).unwrap();
        let (peeled, _) = onion::peel(&relay, &packet.ephemeral_key, &packet.layer).unwrap();
        let Peeled::Forward { layer: inner, .. } = peeled else {
            panic!("expected a forward layer");
        };
        for x in [X25519Impl::Dalek, X25519Impl::AwsLc] {
            for a in [AeadImpl::RustCrypto, AeadImpl::AwsLc] {
                let k = StaticX25519::of_identity(x, &relay).unwrap();
                let mut plain = Vec::new();
                let mut response = vec![5u8; 1000];
                hop_bound(
                    &k,
                    a,
                    &packet.ephemeral_key,
                    &packet.layer,
                    &mut plain,
                    &mut response,
                )
                .unwrap();
                // The plaintext is the forward header followed by the inner layer.
                assert_eq!(
                    &plain[plain.len() - inner.len()..],
                    &inner[..],
                    "{x:?} {a:?}"
                );
                let mut bad = packet.layer.clone();
                bad[3] ^= 1;
                assert_eq!(
                    hop_bound(
                        &k,
                        a,
                        &packet.ephemeral_key,
                        &bad,
                        &mut plain,
                        &mut response
                    ),
                    Err(OnionError::DecryptFailed)
                );
            }
        }
    }

    #[test]
    fn both_aead_implementations_seal_the_same_bytes() {
        let s = [3u8; 32];
        let (k, _) = hop_kdf(&s, &[1; 32], &[2; 32]);
        let aad = hop_aad(&[1; 32]);
        let mut a = vec![0xabu8; 300];
        let mut b = a.clone();
        aead_seal(AeadImpl::RustCrypto, &k, &aad, &mut a).unwrap();
        aead_seal(AeadImpl::AwsLc, &k, &aad, &mut b).unwrap();
        assert_eq!(a, b);
        let mut out = vec![0u8; a.len() - TAG_LEN];
        for imp in [AeadImpl::RustCrypto, AeadImpl::AwsLc] {
            aead_open(imp, &k, &aad, &a, &mut out).unwrap();
            assert!(out.iter().all(|&x| x == 0xab));
        }
    }
}
