//! X25519 key pairs that are not an account's identity: a device's identity
//! key, signed and one-time prekeys, handshake ephemerals and ratchet keys
//! (messages v2).
//!
//! A [`DhSecret`] is 32 random bytes, used as RFC 7748 says (clamped when
//! used, so any 32 bytes are a valid secret, and libsodium's
//! `crypto_scalarmult` gives the same results from the same bytes). Its public
//! half is a [`DhPublic`]; [`dh`] is the agreement and refuses an all-zero
//! result (a small-order peer key), as libsodium's `crypto_scalarmult` does.
//!
//! The arithmetic is the same as the identity's (`crate::identity`):
//! aws-lc-rs, with x25519-dalek as the fallback should aws-lc-rs refuse a key.
//!
//! Not for: an account's identity key, which is derived from the seed
//! ([`crate::identity::Identity`]).

use core::fmt;

use x25519_dalek::StaticSecret;
use zeroize::{Zeroize, ZeroizeOnDrop, Zeroizing};

use crate::error::CryptoError;
use crate::random::RandomSource;

/// Length of an X25519 key or shared secret.
pub const DH_LEN: usize = 32;

/// An X25519 public key (32 bytes, the u-coordinate of RFC 7748).
///
/// Any 32 bytes are accepted; a small-order key is refused by [`dh`], which
/// is where it would do harm. Public: `Debug` prints it in hex.
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub struct DhPublic([u8; DH_LEN]);

impl DhPublic {
    /// Wraps 32 bytes.
    pub fn from_bytes(bytes: [u8; DH_LEN]) -> DhPublic {
        DhPublic(bytes)
    }

    /// Wraps a slice, which must be 32 bytes.
    pub fn from_slice(bytes: &[u8]) -> Result<DhPublic, CryptoError> {
        let arr: [u8; DH_LEN] = bytes.try_into().map_err(|_| CryptoError::InvalidLength {
            what: "an X25519 public key",
            expected: DH_LEN,
            got: bytes.len(),
        })?;
        Ok(DhPublic(arr))
    }

    /// The 32 bytes.
    pub fn as_bytes(&self) -> &[u8; DH_LEN] {
        &self.0
    }

    /// The 32 bytes, copied.
    pub fn to_bytes(&self) -> [u8; DH_LEN] {
        self.0
    }
}

impl fmt::Debug for DhPublic {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "DhPublic(")?;
        for b in &self.0 {
            write!(f, "{b:02x}")?;
        }
        write!(f, ")")
    }
}

/// An X25519 secret key: 32 bytes, clamped when used. Zeroized on drop;
/// `Debug` prints `[redacted]`.
#[derive(Clone, Zeroize, ZeroizeOnDrop)]
pub struct DhSecret([u8; DH_LEN]);

impl DhSecret {
    /// A fresh secret: 32 bytes drawn from `rng`.
    pub fn generate_with(rng: &mut dyn RandomSource) -> Result<DhSecret, CryptoError> {
        let mut secret = DhSecret([0u8; DH_LEN]);
        rng.fill(&mut secret.0)?;
        Ok(secret)
    }

    /// Wraps 32 stored secret bytes (a saved state, a test vector).
    pub fn from_bytes(bytes: [u8; DH_LEN]) -> DhSecret {
        DhSecret(bytes)
    }

    /// The 32 secret bytes, for storing the key (encrypted at rest).
    pub fn as_bytes(&self) -> &[u8; DH_LEN] {
        &self.0
    }

    /// The public key, `X25519(secret, 9)` (libsodium `crypto_scalarmult_base`).
    pub fn public(&self) -> DhPublic {
        use aws_lc_rs::agreement::{PrivateKey, X25519};
        if let Ok(key) = PrivateKey::from_private_key(&X25519, &self.0)
            && let Ok(public) = key.compute_public_key()
            && let Ok(bytes) = <[u8; DH_LEN]>::try_from(public.as_ref())
        {
            return DhPublic(bytes);
        }
        let secret = StaticSecret::from(self.0);
        DhPublic(x25519_dalek::PublicKey::from(&secret).to_bytes())
    }
}

impl fmt::Debug for DhSecret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("DhSecret([redacted])")
    }
}

/// The output of [`dh`]. Zeroized on drop; `Debug` prints `[redacted]`.
#[derive(Clone)]
pub struct DhShared(Zeroizing<[u8; DH_LEN]>);

impl DhShared {
    /// The 32 secret bytes.
    pub fn as_bytes(&self) -> &[u8; DH_LEN] {
        &self.0
    }
}

impl fmt::Debug for DhShared {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("DhShared([redacted])")
    }
}

/// A key pair: a secret and its public key, computed once.
#[derive(Clone, Debug)]
pub struct DhKeyPair {
    secret: DhSecret,
    public: DhPublic,
}

impl DhKeyPair {
    /// The key pair of `secret`.
    pub fn from_secret(secret: DhSecret) -> DhKeyPair {
        let public = secret.public();
        DhKeyPair { secret, public }
    }

    /// A fresh key pair from `rng` ([`DhSecret::generate_with`]).
    pub fn generate_with(rng: &mut dyn RandomSource) -> Result<DhKeyPair, CryptoError> {
        Ok(DhKeyPair::from_secret(DhSecret::generate_with(rng)?))
    }

    /// The secret key.
    pub fn secret(&self) -> &DhSecret {
        &self.secret
    }

    /// The public key.
    pub fn public(&self) -> &DhPublic {
        &self.public
    }
}

/// X25519 agreement, `X25519(secret, public)` (libsodium `crypto_scalarmult`).
///
/// Fails with [`CryptoError::LowOrderPoint`] if the result is all zero (the
/// peer's key has small order), so a malicious key cannot force a known
/// shared secret.
pub fn dh(secret: &DhSecret, public: &DhPublic) -> Result<DhShared, CryptoError> {
    use aws_lc_rs::agreement::{PrivateKey, X25519};
    if let Ok(key) = PrivateKey::from_private_key(&X25519, &secret.0) {
        // aws-lc-rs refuses small-order points itself; `aws_lc_agree` also
        // refuses an all-zero result. Either way the answer is the same as
        // x25519-dalek's below (tests).
        return crate::identity::aws_lc_agree(&key, &public.0)
            .map(DhShared)
            .ok_or(CryptoError::LowOrderPoint);
    }
    let shared =
        StaticSecret::from(secret.0).diffie_hellman(&x25519_dalek::PublicKey::from(public.0));
    if shared.was_contributory() {
        Ok(DhShared(Zeroizing::new(shared.to_bytes())))
    } else {
        Err(CryptoError::LowOrderPoint)
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use crate::random::SeededRandom;

    #[test]
    fn both_sides_agree_on_the_shared_secret() {
        let mut rng = SeededRandom::from_seed([1; 32]);
        let a = DhKeyPair::generate_with(&mut rng).unwrap();
        let b = DhKeyPair::generate_with(&mut rng).unwrap();
        let ab = dh(a.secret(), b.public()).unwrap();
        let ba = dh(b.secret(), a.public()).unwrap();
        assert_eq!(ab.as_bytes(), ba.as_bytes());
        assert_ne!(ab.as_bytes(), &[0u8; 32]);
    }

    #[test]
    fn agreement_and_public_key_match_x25519_dalek() {
        for i in 0..16u8 {
            let bytes: [u8; 32] = core::array::from_fn(|j| (j as u8).wrapping_mul(31) ^ i);
            let peer = StaticSecret::from([i.wrapping_add(5); 32]);
            let peer_pub = x25519_dalek::PublicKey::from(&peer).to_bytes();
            let ours = DhSecret::from_bytes(bytes);
            let dalek = StaticSecret::from(bytes);
            assert_eq!(
                ours.public().to_bytes(),
                x25519_dalek::PublicKey::from(&dalek).to_bytes()
            );
            let shared = dh(&ours, &DhPublic::from_bytes(peer_pub)).unwrap();
            assert_eq!(
                *shared.as_bytes(),
                dalek
                    .diffie_hellman(&x25519_dalek::PublicKey::from(peer_pub))
                    .to_bytes()
            );
        }
    }

    #[test]
    fn rfc7748_section_6_1_known_answer() {
        let hex32 = |s: &str| -> [u8; 32] {
            let v: Vec<u8> = (0..32)
                .map(|i| u8::from_str_radix(&s[2 * i..2 * i + 2], 16).unwrap())
                .collect();
            v.try_into().unwrap()
        };
        let alice = DhSecret::from_bytes(hex32(
            "77076d0a7318a57d3c16c17251b26645df4c2f87ebc0992ab177fba51db92c2a",
        ));
        let bob = DhSecret::from_bytes(hex32(
            "5dab087e624a8a4b79e17f8b83800ee66f3bb1292618b6fd1c2f8b27ff88e0eb",
        ));
        assert_eq!(
            alice.public().to_bytes(),
            hex32("8520f0098930a754748b7ddcb43ef75a0dbf3a0d26381af4eba4a98eaa9b4e6a")
        );
        assert_eq!(
            *dh(&alice, &bob.public()).unwrap().as_bytes(),
            hex32("4a5d9d5ba4ce2de1728e3bf480350f25e07e21c947d19e3376f09b3c1e161742")
        );
    }

    #[test]
    fn small_order_peer_keys_are_refused() {
        let secret = DhSecret::from_bytes([7; 32]);
        let mut one = [0u8; 32];
        one[0] = 1;
        for public in [[0u8; 32], one] {
            assert_eq!(
                dh(&secret, &DhPublic::from_bytes(public)).unwrap_err(),
                CryptoError::LowOrderPoint
            );
        }
    }

    #[test]
    fn public_key_slices_must_be_32_bytes() {
        assert!(DhPublic::from_slice(&[1; 32]).is_ok());
        assert!(DhPublic::from_slice(&[1; 31]).is_err());
        assert!(DhPublic::from_slice(&[1; 33]).is_err());
    }

    #[test]
    fn secrets_are_redacted_in_debug() {
        let secret = DhSecret::from_bytes([0xab; 32]);
        assert_eq!(format!("{secret:?}"), "DhSecret([redacted])");
        let pair = DhKeyPair::from_secret(secret.clone());
        assert!(!format!("{pair:?}").contains("abab"));
        let shared = dh(&secret, &DhSecret::from_bytes([3; 32]).public()).unwrap();
        assert_eq!(format!("{shared:?}"), "DhShared([redacted])");
    }
}
