//! Reference costs for benchmarks; not used by the protocol. Compiled only
//! with the `bench` cargo feature (which `nightjar-bench` enables).
//!
//! `nightjar-bench onion-hop` compares the node's real relay path (peel a
//! layer, wrap the answer) with a **bound**: the sum of what the
//! cryptographic primitives one hop needs cost, each primitive measured on
//! its own, in the same process on the same bytes, taking for each the
//! **fastest** implementation available here ([`HopBound`]). Only this crate
//! may name primitive crypto crates, so the bare operations live here.
//!
//! The bound is defined independently of the relay's code: every operation
//! here calls the primitive crates directly (x25519-dalek, aws-lc-rs,
//! RustCrypto's `blake2`, `chacha20` and `chacha20poly1305`), never the
//! protocol's own functions ([`crate::onion`], `crate::xchacha`,
//! [`crate::identity`]); only the unit tests compare the bytes with those.
//! So a relay that adds copies, allocations, parsing or a slower
//! implementation shows a ratio below 1, and a change to the relay's code
//! does not move the bound. Nothing in the protocol calls these functions,
//! and they carry none of its checks beyond what the primitives do.
//!
//! One relay hop needs, and so the bound counts:
//!
//! - `S = X25519(node secret, E)`: x25519-dalek's `StaticSecret`, or
//!   aws-lc-rs's `agreement` with a static private key
//!   (`PrivateKey::from_private_key`, already in the build under rustls);
//! - the KDF, `BLAKE2b-56(label, S ‖ E ‖ Y)` under the request and the
//!   response label: RustCrypto's `blake2` (the only implementation here);
//! - an XChaCha20-Poly1305 open of the layer, and
//! - an XChaCha20-Poly1305 seal of the answer passed back: RustCrypto's
//!   `chacha20poly1305`, or HChaCha20 (RustCrypto `chacha20`) followed by
//!   aws-lc-rs's ChaCha20-Poly1305 (the same construction, the same bytes).
//!
//! What the bound leaves out is what a relay does beyond the primitives:
//! parsing the layer, looking the next hop up, copying and allocating.

use aws_lc_rs::aead::{Aad, CHACHA20_POLY1305, LessSafeKey, Nonce, UnboundKey};
use aws_lc_rs::agreement::{self, UnparsedPublicKey, X25519};
use blake2::Blake2bMac;
use blake2::digest::consts::U56;
use blake2::digest::{FixedOutput, Update};
use chacha20poly1305::aead::AeadInOut;
use chacha20poly1305::aead::inout::InOutBuf;
use chacha20poly1305::{KeyInit, XChaCha20Poly1305};
use ed25519_dalek::SigningKey;
use x25519_dalek::StaticSecret;
use zeroize::Zeroizing;

use crate::identity::Identity;
use crate::labels;
use crate::onion::OnionError;

const TAG_LEN: usize = 16;

/// The version byte that opens a layer's associated data (onion v1).
const LAYER_VERSION: u8 = 1;

/// An X25519 implementation.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum X25519Impl {
    /// x25519-dalek (`StaticSecret::diffie_hellman`).
    Dalek,
    /// aws-lc-rs `agreement` with a static private key.
    AwsLc,
}

/// An XChaCha20-Poly1305 implementation.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum AeadImpl {
    /// RustCrypto `chacha20poly1305::XChaCha20Poly1305`.
    RustCrypto,
    /// HChaCha20 (RustCrypto `chacha20`) then aws-lc-rs ChaCha20-Poly1305.
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

    /// The X25519 secret of `identity` (the one a node peels with), for
    /// `imp`: `clamp(SHA-512(seed)[0..32])`, derived here from the seed.
    pub fn of_identity(imp: X25519Impl, identity: &Identity) -> Result<StaticX25519, OnionError> {
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
        let shared = match &self.secret {
            Secret::Dalek(s) => {
                let shared = s.diffie_hellman(&x25519_dalek::PublicKey::from(*their_public));
                Zeroizing::new(shared.to_bytes())
            }
            Secret::AwsLc(k) => {
                let peer = UnparsedPublicKey::new(&X25519, their_public);
                agreement::agree(k, peer, (), |s| {
                    <[u8; 32]>::try_from(s).map(Zeroizing::new).map_err(|_| ())
                })
                .ok()?
            }
        };
        shared.iter().any(|&b| b != 0).then_some(shared)
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

/// `BLAKE2b-56(label, S ‖ E ‖ Y)` split into key and nonce.
fn kdf_one(label: &'static str, s: &[u8; 32], e: &[u8; 32], y: &[u8; 32]) -> HopKey {
    let mut key = HopKey {
        key: Zeroizing::new([0; 32]),
        nonce: [0; 24],
    };
    let mut mac =
        match <Blake2bMac<U56> as blake2::digest::KeyInit>::new_from_slice(label.as_bytes()) {
            Ok(mac) => mac,
            Err(_) => unreachable!("domain labels are 1..=64 bytes"),
        };
    mac.update(s);
    mac.update(e);
    mac.update(y);
    let out = Zeroizing::new(<[u8; 56]>::from(mac.finalize_fixed()));
    let (k, n) = out.split_at(32);
    key.key.copy_from_slice(k);
    key.nonce.copy_from_slice(n);
    key
}

/// The onion KDF of one hop: request and response keys from the shared
/// secret `s`, the ephemeral key `e` and the node's X25519 public key `y`
/// (two keyed BLAKE2b-56, computed here with `blake2`).
pub fn hop_kdf(s: &[u8; 32], e: &[u8; 32], y: &[u8; 32]) -> (HopKey, HopKey) {
    (
        kdf_one(labels::ONION_REQUEST, s, e, y),
        kdf_one(labels::ONION_RESPONSE, s, e, y),
    )
}

/// The associated data of a hop: version byte and ephemeral key.
pub fn hop_aad(e: &[u8; 32]) -> [u8; 33] {
    let mut aad = [0u8; 33];
    aad[0] = LAYER_VERSION;
    aad[1..].copy_from_slice(e);
    aad
}

/// XChaCha20-Poly1305 under `key` reduced to ChaCha20-Poly1305 for
/// aws-lc-rs: the HChaCha20 subkey of the key and the first 16 nonce bytes,
/// and the nonce `0⁴ ‖ last 8 nonce bytes`.
fn aws_lc_key(key: &HopKey) -> Result<(LessSafeKey, Nonce), OnionError> {
    let mut prefix = [0u8; 16];
    prefix.copy_from_slice(&key.nonce[..16]);
    let sub = Zeroizing::new(<[u8; 32]>::from(chacha20::hchacha::<chacha20::R20>(
        &(*key.key).into(),
        &prefix.into(),
    )));
    let mut short = [0u8; 12];
    short[4..].copy_from_slice(&key.nonce[16..]);
    let unbound = UnboundKey::new(&CHACHA20_POLY1305, sub.as_slice())
        .map_err(|_| OnionError::Malformed("aws-lc-rs refused the key"))?;
    Ok((
        LessSafeKey::new(unbound),
        Nonce::assume_unique_for_key(short),
    ))
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
        AeadImpl::AwsLc => {
            if ct.len() != out.len() {
                return Err(OnionError::DecryptFailed);
            }
            let (k, n) = aws_lc_key(key)?;
            k.open_separate_gather(n, Aad::from(aad), ct, tag, out)
                .map_err(|_| OnionError::DecryptFailed)
        }
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
            let (k, n) = aws_lc_key(key)?;
            let tag = k
                .seal_in_place_separate_tag(n, Aad::from(aad), plain)
                .map_err(|_| OnionError::Malformed("too long to encrypt"))?;
            tag_out.copy_from_slice(tag.as_ref());
        }
    }
    Ok(())
}

/// XChaCha20-Poly1305 under one key and one 16-byte nonce prefix, with the
/// HChaCha20 subkey computed once (RustCrypto `chacha20`) and each call one
/// aws-lc-rs ChaCha20-Poly1305 under the nonce `0⁴ ‖ suffix`: what a circuit
/// hop's direction key costs per cell, for the bare UDP relay of
/// `nightjar-bench onion-hop`. Calls the primitive crates directly, never
/// the protocol's `crate::xchacha`.
pub struct SubkeyAead {
    key: LessSafeKey,
}

impl std::fmt::Debug for SubkeyAead {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("SubkeyAead([redacted])")
    }
}

impl SubkeyAead {
    /// The key of XChaCha20-Poly1305 under `key` for nonces starting with
    /// `prefix`.
    pub fn new(key: &[u8; 32], prefix: &[u8; 16]) -> Result<SubkeyAead, OnionError> {
        let sub = Zeroizing::new(<[u8; 32]>::from(chacha20::hchacha::<chacha20::R20>(
            &(*key).into(),
            &(*prefix).into(),
        )));
        let unbound = UnboundKey::new(&CHACHA20_POLY1305, sub.as_slice())
            .map_err(|_| OnionError::Malformed("aws-lc-rs refused the key"))?;
        Ok(SubkeyAead {
            key: LessSafeKey::new(unbound),
        })
    }

    fn nonce(suffix: &[u8; 8]) -> Nonce {
        let mut short = [0u8; 12];
        short[4..].copy_from_slice(suffix);
        Nonce::assume_unique_for_key(short)
    }

    /// Opens `sealed` (ciphertext ‖ tag) under the nonce `prefix ‖ suffix`
    /// into `out` (`sealed.len() − 16` bytes), out of place.
    pub fn open(
        &self,
        suffix: &[u8; 8],
        aad: &[u8],
        sealed: &[u8],
        out: &mut [u8],
    ) -> Result<(), OnionError> {
        let (ct, tag) = sealed
            .split_last_chunk::<TAG_LEN>()
            .ok_or(OnionError::Malformed("shorter than a tag"))?;
        if ct.len() != out.len() {
            return Err(OnionError::DecryptFailed);
        }
        self.key
            .open_separate_gather(Self::nonce(suffix), Aad::from(aad), ct, tag, out)
            .map_err(|_| OnionError::DecryptFailed)
    }

    /// Seals `buf[..len − 16]` in place under the nonce `prefix ‖ suffix`,
    /// writing the tag into the last 16 bytes.
    pub fn seal(&self, suffix: &[u8; 8], aad: &[u8], buf: &mut [u8]) -> Result<(), OnionError> {
        let (plain, tag_out) = buf
            .split_last_chunk_mut::<TAG_LEN>()
            .ok_or(OnionError::Malformed("shorter than a tag"))?;
        let tag = self
            .key
            .seal_in_place_separate_tag(Self::nonce(suffix), Aad::from(aad), plain)
            .map_err(|_| OnionError::Malformed("too long to encrypt"))?;
        tag_out.copy_from_slice(tag.as_ref());
        Ok(())
    }
}

/// The bound of one relay hop: for each primitive the fastest of the
/// implementations measured, and the sum of their costs.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct HopBound {
    /// The fastest X25519 and its cost, ns per call.
    pub x25519: (X25519Impl, f64),
    /// The KDF (both keyed BLAKE2b-56), ns per call.
    pub kdf_ns: f64,
    /// The fastest open of the layer and its cost, ns per call.
    pub open: (AeadImpl, f64),
    /// The fastest seal of the answer and its cost, ns per call.
    pub seal: (AeadImpl, f64),
}

impl HopBound {
    /// The bound from measured costs (ns per call, each primitive timed on
    /// its own): the cheapest of each list. `None` if a list is empty or a
    /// cost is not a positive finite number (a measurement that failed).
    pub fn from_measured(
        x25519: &[(X25519Impl, f64)],
        kdf_ns: f64,
        open: &[(AeadImpl, f64)],
        seal: &[(AeadImpl, f64)],
    ) -> Option<HopBound> {
        fn valid(ns: f64) -> bool {
            ns.is_finite() && ns > 0.0
        }
        fn fastest<T: Copy>(costs: &[(T, f64)]) -> Option<(T, f64)> {
            if !costs.iter().all(|(_, ns)| valid(*ns)) {
                return None;
            }
            costs.iter().copied().min_by(|a, b| a.1.total_cmp(&b.1))
        }
        if !valid(kdf_ns) {
            return None;
        }
        Some(HopBound {
            x25519: fastest(x25519)?,
            kdf_ns,
            open: fastest(open)?,
            seal: fastest(seal)?,
        })
    }

    /// The bound's cost of one hop, ns: X25519 + KDF + open + seal.
    pub fn ns(&self) -> f64 {
        self.x25519.1 + self.kdf_ns + self.open.1 + self.seal.1
    }
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
    fn the_kdf_and_the_aad_are_the_onion_layers() {
        let (s, e, y) = ([3u8; 32], [1u8; 32], [2u8; 32]);
        let (q, r) = crate::onion::hop_key_material(&s, &e, &y);
        let (req, resp) = hop_kdf(&s, &e, &y);
        assert_eq!(&q[..32], &req.key[..]);
        assert_eq!(&q[32..], &req.nonce[..]);
        assert_eq!(&r[..32], &resp.key[..]);
        assert_eq!(&r[32..], &resp.nonce[..]);
        assert_eq!(hop_aad(&e)[0], crate::onion::ONION_VERSION);
    }

    #[test]
    fn the_primitives_open_a_real_layer_as_peel_does_with_either_implementation() {
        let relay = node();
        let dest = Identity::from_seed(Seed::from_bytes([8; 32]));
        let hops = [(relay.public_key(), 1000), (dest.public_key(), 0)];
        let (packet, _) = onion::build(&hops, &[0x42; 500]).unwrap();
        let (peeled, _) = onion::peel(&relay, &packet.ephemeral_key, &packet.layer).unwrap();
        let Peeled::Forward { layer: inner, .. } = peeled else {
            panic!("expected a forward layer");
        };
        let e = packet.ephemeral_key;
        for x in [X25519Impl::Dalek, X25519Impl::AwsLc] {
            let k = StaticX25519::of_identity(x, &relay).unwrap();
            let shared = k.agree(&e).unwrap();
            let (req, _) = hop_kdf(&shared, &e, &k.public_key());
            for a in [AeadImpl::RustCrypto, AeadImpl::AwsLc] {
                let mut plain = vec![0u8; packet.layer.len() - TAG_LEN];
                aead_open(a, &req, &hop_aad(&e), &packet.layer, &mut plain).unwrap();
                // The plaintext is the forward header followed by the inner layer.
                assert_eq!(
                    &plain[plain.len() - inner.len()..],
                    &inner[..],
                    "{x:?} {a:?}"
                );
                let mut bad = packet.layer.clone();
                bad[3] ^= 1;
                assert_eq!(
                    aead_open(a, &req, &hop_aad(&e), &bad, &mut plain),
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

    #[test]
    fn the_cached_subkey_seals_and_opens_xchacha20_poly1305() {
        let key = [5u8; 32];
        let mut nonce = [6u8; 24];
        nonce[16..].copy_from_slice(&[1, 2, 3, 4, 5, 6, 7, 8]);
        let prefix: [u8; 16] = nonce[..16].try_into().unwrap();
        let suffix: [u8; 8] = nonce[16..].try_into().unwrap();
        let aead = SubkeyAead::new(&key, &prefix).unwrap();
        let aad = [1u8, 2];
        let mut ours = vec![0x5au8; 200];
        aead.seal(&suffix, &aad, &mut ours).unwrap();
        let mut theirs = vec![0x5au8; 200 - TAG_LEN];
        let tag = XChaCha20Poly1305::new(&key.into())
            .encrypt_inout_detached(&nonce.into(), &aad, theirs.as_mut_slice().into())
            .unwrap();
        theirs.extend_from_slice(&tag);
        assert_eq!(ours, theirs);
        let mut out = vec![0u8; 200 - TAG_LEN];
        aead.open(&suffix, &aad, &ours, &mut out).unwrap();
        assert!(out.iter().all(|&x| x == 0x5a));
        ours[0] ^= 1;
        assert_eq!(
            aead.open(&suffix, &aad, &ours, &mut out),
            Err(OnionError::DecryptFailed)
        );
    }

    #[test]
    fn the_bound_is_the_sum_of_the_fastest_of_each_primitive() {
        let b = HopBound::from_measured(
            &[(X25519Impl::Dalek, 100.0), (X25519Impl::AwsLc, 40.0)],
            2.0,
            &[(AeadImpl::RustCrypto, 5.0), (AeadImpl::AwsLc, 2.0)],
            &[(AeadImpl::RustCrypto, 3.0), (AeadImpl::AwsLc, 4.0)],
        )
        .unwrap();
        assert_eq!(b.x25519, (X25519Impl::AwsLc, 40.0));
        assert_eq!(b.open, (AeadImpl::AwsLc, 2.0));
        assert_eq!(b.seal, (AeadImpl::RustCrypto, 3.0));
        assert_eq!(b.ns(), 47.0);
        assert!(HopBound::from_measured(&[], 2.0, &[], &[]).is_none());
        assert!(
            HopBound::from_measured(
                &[(X25519Impl::Dalek, 0.0)],
                2.0,
                &[(AeadImpl::AwsLc, 2.0)],
                &[(AeadImpl::AwsLc, 2.0)]
            )
            .is_none(),
            "a cost of 0 is a failed measurement"
        );
    }
}
