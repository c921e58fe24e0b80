//! ML-KEM-768 (FIPS 203), the post-quantum key encapsulation of messages v2.
//!
//! A thin layer over `libcrux-ml-kem` (Cryspen's formally verified
//! implementation), always through its portable instantiation so that every
//! machine computes with the same code. What this module adds:
//!
//! - newtypes whose constructors check what FIPS 203 asks to check:
//!   [`MlKemPublicKey::from_bytes`] runs the encapsulation-key *modulus check*
//!   (§7.2: every coefficient re-encodes to itself), and
//!   [`MlKemSecretKey::from_bytes`] the decapsulation-key *hash check* (§7.3:
//!   the embedded `H(ek)` matches); a ciphertext only has to be 1,088 bytes;
//! - deterministic key generation from 64 bytes `d ‖ z`
//!   (`ML-KEM.KeyGen_internal(d, z)`, [`MlKemKeyPair::from_seed`]) and
//!   deterministic encapsulation from 32 bytes `m`
//!   (`ML-KEM.Encaps_internal(ek, m)`, [`encapsulate_deterministic`]) for test
//!   vectors, beside the randomised forms that draw from a [`RandomSource`];
//! - zeroized, `Debug`-redacted secret keys and shared secrets.
//!
//! Decapsulation never fails: a ciphertext that was not made for the key gives
//! the *implicit rejection* secret (a pseudorandom value), which only the AEAD
//! that uses it will notice.
//!
//! Not for: Kyber (round 3) or other parameter sets, or hybrid combiners
//! (messages v2 combines X25519 and ML-KEM in its own key derivation,
//! `docs/PROTOCOL.md` §14).
//!
//! Copies: libcrux returns a freshly generated key pair by value, so the
//! secret key passes through the stack once before this module boxes it; the
//! boxed copy is zeroized on drop. The seeds and shared secrets are held in
//! [`Zeroizing`] buffers.

use core::fmt;

use libcrux_ml_kem::mlkem768::portable as mlkem;
use libcrux_ml_kem::mlkem768::{MlKem768Ciphertext, MlKem768PrivateKey, MlKem768PublicKey};
use zeroize::{Zeroize, Zeroizing};

use crate::error::CryptoError;
use crate::random::RandomSource;

/// Length of an ML-KEM-768 encapsulation (public) key.
pub const MLKEM768_PUBLIC_KEY_LEN: usize = 1184;

/// Length of an ML-KEM-768 decapsulation (secret) key in the FIPS 203
/// encoding `dk_PKE ‖ ek ‖ H(ek) ‖ z`.
pub const MLKEM768_SECRET_KEY_LEN: usize = 2400;

/// Length of an ML-KEM-768 ciphertext.
pub const MLKEM768_CIPHERTEXT_LEN: usize = 1088;

/// Length of an ML-KEM shared secret.
pub const MLKEM_SHARED_SECRET_LEN: usize = 32;

/// Length of the key-generation seed `d ‖ z`.
pub const MLKEM_KEYGEN_SEED_LEN: usize = 64;

/// Length of the encapsulation randomness `m`.
pub const MLKEM_ENCAPS_SEED_LEN: usize = 32;

/// Where the encapsulation key sits inside a decapsulation key.
const EK_OFFSET: usize = 1152;

// ---------------------------------------------------------------------------
// Public key
// ---------------------------------------------------------------------------

/// A validated ML-KEM-768 encapsulation key (1,184 bytes).
///
/// Public: `Debug` prints its length and first bytes in hex.
#[derive(Clone)]
pub struct MlKemPublicKey(Box<MlKem768PublicKey>);

impl MlKemPublicKey {
    /// Validates 1,184 bytes as an encapsulation key: the FIPS 203 §7.2
    /// modulus check (every 12-bit coefficient is below q = 3329, so the key
    /// re-encodes to the same bytes). Fails with
    /// [`CryptoError::InvalidLength`] or [`CryptoError::InvalidMlKemPublicKey`].
    pub fn from_bytes(bytes: &[u8]) -> Result<MlKemPublicKey, CryptoError> {
        let arr: &[u8; MLKEM768_PUBLIC_KEY_LEN] =
            bytes.try_into().map_err(|_| CryptoError::InvalidLength {
                what: "an ML-KEM-768 public key",
                expected: MLKEM768_PUBLIC_KEY_LEN,
                got: bytes.len(),
            })?;
        let key = Box::new(MlKem768PublicKey::from(arr));
        if !mlkem::validate_public_key(&key) {
            return Err(CryptoError::InvalidMlKemPublicKey);
        }
        Ok(MlKemPublicKey(key))
    }

    /// The 1,184-byte encoding.
    pub fn as_bytes(&self) -> &[u8; MLKEM768_PUBLIC_KEY_LEN] {
        self.0.as_slice()
    }
}

impl PartialEq for MlKemPublicKey {
    fn eq(&self, other: &MlKemPublicKey) -> bool {
        self.as_bytes() == other.as_bytes()
    }
}

impl Eq for MlKemPublicKey {}

impl fmt::Debug for MlKemPublicKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "MlKemPublicKey(")?;
        for b in self.as_bytes().iter().take(8) {
            write!(f, "{b:02x}")?;
        }
        write!(f, "…, {MLKEM768_PUBLIC_KEY_LEN} bytes)")
    }
}

// ---------------------------------------------------------------------------
// Secret key
// ---------------------------------------------------------------------------

/// An ML-KEM-768 decapsulation key (2,400 bytes, FIPS 203 encoding).
///
/// Zeroized on drop; `Debug` prints `[redacted]`.
#[derive(Clone)]
pub struct MlKemSecretKey(Box<MlKem768PrivateKey>);

impl MlKemSecretKey {
    /// Reads a stored decapsulation key, checking its length and the FIPS 203
    /// §7.3 hash check (the `H(ek)` it embeds is the hash of the `ek` it
    /// embeds) and that the embedded `ek` passes the modulus check. Fails
    /// with [`CryptoError::InvalidLength`] or
    /// [`CryptoError::InvalidMlKemSecretKey`].
    pub fn from_bytes(bytes: &[u8]) -> Result<MlKemSecretKey, CryptoError> {
        if bytes.len() != MLKEM768_SECRET_KEY_LEN {
            return Err(CryptoError::InvalidLength {
                what: "an ML-KEM-768 secret key",
                expected: MLKEM768_SECRET_KEY_LEN,
                got: bytes.len(),
            });
        }
        let mut key = Box::new(MlKem768PrivateKey::default());
        key[0..].copy_from_slice(bytes);
        let key = MlKemSecretKey(key);
        if !mlkem::validate_private_key_only(&key.0) {
            return Err(CryptoError::InvalidMlKemSecretKey);
        }
        key.public_key()
            .map_err(|_| CryptoError::InvalidMlKemSecretKey)?;
        Ok(key)
    }

    /// The 2,400 secret bytes, for storing the key (encrypted at rest).
    pub fn as_bytes(&self) -> &[u8; MLKEM768_SECRET_KEY_LEN] {
        self.0.as_slice()
    }

    /// The encapsulation key embedded in this decapsulation key.
    pub fn public_key(&self) -> Result<MlKemPublicKey, CryptoError> {
        let ek = self
            .as_bytes()
            .get(EK_OFFSET..EK_OFFSET + MLKEM768_PUBLIC_KEY_LEN)
            .ok_or(CryptoError::InvalidMlKemSecretKey)?;
        MlKemPublicKey::from_bytes(ek)
    }
}

impl Drop for MlKemSecretKey {
    fn drop(&mut self) {
        self.0[0..].zeroize();
    }
}

impl fmt::Debug for MlKemSecretKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("MlKemSecretKey([redacted])")
    }
}

// ---------------------------------------------------------------------------
// Key pair
// ---------------------------------------------------------------------------

/// An ML-KEM-768 key pair.
#[derive(Clone, Debug)]
pub struct MlKemKeyPair {
    secret: MlKemSecretKey,
    public: MlKemPublicKey,
}

impl MlKemKeyPair {
    /// The key pair of `ML-KEM.KeyGen_internal(d, z)` with `seed = d ‖ z`
    /// (FIPS 203 Algorithm 16): deterministic, for test vectors and for
    /// [`MlKemKeyPair::generate_with`].
    pub fn from_seed(seed: &[u8; MLKEM_KEYGEN_SEED_LEN]) -> MlKemKeyPair {
        let (sk, pk) = mlkem::generate_key_pair(*seed).into_parts();
        let mut secret = MlKemSecretKey(Box::new(MlKem768PrivateKey::default()));
        secret.0[0..].copy_from_slice(sk.as_slice());
        wipe_private(sk);
        MlKemKeyPair {
            secret,
            public: MlKemPublicKey(Box::new(pk)),
        }
    }

    /// A fresh key pair: 64 bytes `d ‖ z` drawn from `rng`, then
    /// [`MlKemKeyPair::from_seed`].
    pub fn generate_with(rng: &mut dyn RandomSource) -> Result<MlKemKeyPair, CryptoError> {
        let mut seed = Zeroizing::new([0u8; MLKEM_KEYGEN_SEED_LEN]);
        rng.fill(&mut *seed)?;
        Ok(MlKemKeyPair::from_seed(&seed))
    }

    /// Rebuilds a key pair from its stored secret key (the public key is
    /// embedded in it).
    pub fn from_secret(secret: MlKemSecretKey) -> Result<MlKemKeyPair, CryptoError> {
        let public = secret.public_key()?;
        Ok(MlKemKeyPair { secret, public })
    }

    /// The encapsulation key.
    pub fn public_key(&self) -> &MlKemPublicKey {
        &self.public
    }

    /// The decapsulation key.
    pub fn secret_key(&self) -> &MlKemSecretKey {
        &self.secret
    }
}

/// Overwrites a libcrux private key that is about to be dropped.
fn wipe_private(mut sk: MlKem768PrivateKey) {
    sk[0..].zeroize();
}

// ---------------------------------------------------------------------------
// Ciphertext and shared secret
// ---------------------------------------------------------------------------

/// An ML-KEM-768 ciphertext (1,088 bytes). Any 1,088 bytes are accepted:
/// FIPS 203 asks for no other check, and a forged ciphertext decapsulates to
/// an unrelated secret.
#[derive(Clone, PartialEq, Eq)]
pub struct MlKemCiphertext(Box<[u8; MLKEM768_CIPHERTEXT_LEN]>);

impl MlKemCiphertext {
    /// Wraps 1,088 bytes; fails with [`CryptoError::InvalidLength`] otherwise.
    pub fn from_bytes(bytes: &[u8]) -> Result<MlKemCiphertext, CryptoError> {
        let arr: [u8; MLKEM768_CIPHERTEXT_LEN] =
            bytes.try_into().map_err(|_| CryptoError::InvalidLength {
                what: "an ML-KEM-768 ciphertext",
                expected: MLKEM768_CIPHERTEXT_LEN,
                got: bytes.len(),
            })?;
        Ok(MlKemCiphertext(Box::new(arr)))
    }

    /// The 1,088-byte encoding.
    pub fn as_bytes(&self) -> &[u8; MLKEM768_CIPHERTEXT_LEN] {
        &self.0
    }
}

impl fmt::Debug for MlKemCiphertext {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "MlKemCiphertext(")?;
        for b in self.0.iter().take(8) {
            write!(f, "{b:02x}")?;
        }
        write!(f, "…, {MLKEM768_CIPHERTEXT_LEN} bytes)")
    }
}

/// The 32-byte shared secret of an encapsulation. Zeroized on drop; `Debug`
/// prints `[redacted]`.
#[derive(Clone)]
pub struct MlKemSharedSecret(Zeroizing<[u8; MLKEM_SHARED_SECRET_LEN]>);

impl MlKemSharedSecret {
    /// The secret bytes.
    pub fn as_bytes(&self) -> &[u8; MLKEM_SHARED_SECRET_LEN] {
        &self.0
    }
}

impl fmt::Debug for MlKemSharedSecret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("MlKemSharedSecret([redacted])")
    }
}

// ---------------------------------------------------------------------------
// Encapsulation and decapsulation
// ---------------------------------------------------------------------------

/// `ML-KEM.Encaps_internal(ek, m)` (FIPS 203 Algorithm 17) with caller-given
/// randomness `m`: deterministic, **for test vectors only** (reusing `m` with
/// the same key gives the same secret).
pub fn encapsulate_deterministic(
    public_key: &MlKemPublicKey,
    randomness: &[u8; MLKEM_ENCAPS_SEED_LEN],
) -> (MlKemCiphertext, MlKemSharedSecret) {
    let (ct, mut ss) = mlkem::encapsulate(&public_key.0, *randomness);
    let shared = MlKemSharedSecret(Zeroizing::new(ss));
    ss.zeroize();
    (MlKemCiphertext(Box::new(*ct.as_slice())), shared)
}

/// Encapsulates a fresh shared secret to `public_key`, with 32 bytes of
/// randomness `m` drawn from `rng`.
pub fn encapsulate_with(
    rng: &mut dyn RandomSource,
    public_key: &MlKemPublicKey,
) -> Result<(MlKemCiphertext, MlKemSharedSecret), CryptoError> {
    let mut m = Zeroizing::new([0u8; MLKEM_ENCAPS_SEED_LEN]);
    rng.fill(&mut *m)?;
    Ok(encapsulate_deterministic(public_key, &m))
}

/// `ML-KEM.Decaps(dk, c)` (FIPS 203 Algorithm 18). Never fails: a ciphertext
/// not made for this key gives the implicit-rejection secret.
pub fn decapsulate(secret_key: &MlKemSecretKey, ciphertext: &MlKemCiphertext) -> MlKemSharedSecret {
    let ct = MlKem768Ciphertext::from(&*ciphertext.0);
    let mut ss = mlkem::decapsulate(&secret_key.0, &ct);
    let shared = MlKemSharedSecret(Zeroizing::new(ss));
    ss.zeroize();
    shared
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::indexing_slicing)]
    use super::*;
    use crate::random::SeededRandom;

    fn pair(byte: u8) -> MlKemKeyPair {
        MlKemKeyPair::from_seed(&[byte; 64])
    }

    #[test]
    fn encapsulated_secret_decapsulates_to_the_same_bytes() {
        let kp = pair(1);
        let mut rng = SeededRandom::from_seed([2; 32]);
        let (ct, ss) = encapsulate_with(&mut rng, kp.public_key()).unwrap();
        let back = decapsulate(kp.secret_key(), &ct);
        assert_eq!(ss.as_bytes(), back.as_bytes());
        let (ct2, ss2) = encapsulate_with(&mut rng, kp.public_key()).unwrap();
        assert_ne!(ct, ct2);
        assert_ne!(ss.as_bytes(), ss2.as_bytes());
    }

    #[test]
    fn a_ciphertext_for_another_key_gives_an_unrelated_secret() {
        let (a, b) = (pair(1), pair(2));
        let (ct, ss) = encapsulate_deterministic(a.public_key(), &[3; 32]);
        assert_ne!(decapsulate(b.secret_key(), &ct).as_bytes(), ss.as_bytes());
        let mut flipped = *ct.as_bytes();
        flipped[100] ^= 1;
        let flipped = MlKemCiphertext::from_bytes(&flipped).unwrap();
        assert_ne!(
            decapsulate(a.secret_key(), &flipped).as_bytes(),
            ss.as_bytes()
        );
    }

    #[test]
    fn key_generation_and_encapsulation_replay_from_their_seeds() {
        let (a, b) = (pair(9), pair(9));
        assert_eq!(a.public_key(), b.public_key());
        assert_eq!(a.secret_key().as_bytes(), b.secret_key().as_bytes());
        assert_ne!(pair(10).public_key(), a.public_key());
        let (c1, s1) = encapsulate_deterministic(a.public_key(), &[4; 32]);
        let (c2, s2) = encapsulate_deterministic(a.public_key(), &[4; 32]);
        assert_eq!(c1, c2);
        assert_eq!(s1.as_bytes(), s2.as_bytes());
    }

    #[test]
    fn public_key_decoding_checks_length_and_modulus() {
        let kp = pair(5);
        let bytes = *kp.public_key().as_bytes();
        assert_eq!(
            MlKemPublicKey::from_bytes(&bytes).unwrap(),
            *kp.public_key()
        );
        assert!(matches!(
            MlKemPublicKey::from_bytes(&bytes[..1183]),
            Err(CryptoError::InvalidLength { .. })
        ));
        // A coefficient of 0xfff (≥ q) in the first 12 bits fails the
        // modulus check.
        let mut bad = bytes;
        bad[0] = 0xff;
        bad[1] |= 0x0f;
        assert_eq!(
            MlKemPublicKey::from_bytes(&bad),
            Err(CryptoError::InvalidMlKemPublicKey)
        );
        // The last 32 bytes are the seed ρ, which takes any value.
        let mut rho = bytes;
        rho[1183] ^= 0xff;
        assert!(MlKemPublicKey::from_bytes(&rho).is_ok());
    }

    #[test]
    fn secret_key_decoding_checks_the_embedded_hash() {
        let kp = pair(6);
        let bytes = *kp.secret_key().as_bytes();
        let back = MlKemSecretKey::from_bytes(&bytes).unwrap();
        assert_eq!(back.public_key().unwrap(), *kp.public_key());
        let again = MlKemKeyPair::from_secret(back).unwrap();
        assert_eq!(again.public_key(), kp.public_key());
        let mut bad = bytes;
        bad[EK_OFFSET + 5] ^= 1; // ek changed, H(ek) not
        assert_eq!(
            MlKemSecretKey::from_bytes(&bad).unwrap_err(),
            CryptoError::InvalidMlKemSecretKey
        );
        assert!(matches!(
            MlKemSecretKey::from_bytes(&bytes[1..]),
            Err(CryptoError::InvalidLength { .. })
        ));
    }

    #[test]
    fn ciphertext_must_be_1088_bytes() {
        assert!(MlKemCiphertext::from_bytes(&[0; 1088]).is_ok());
        assert!(MlKemCiphertext::from_bytes(&[0; 1087]).is_err());
        assert!(MlKemCiphertext::from_bytes(&[0; 1089]).is_err());
    }

    #[test]
    fn secrets_are_redacted_in_debug() {
        let kp = pair(7);
        let (_, ss) = encapsulate_deterministic(kp.public_key(), &[1; 32]);
        assert_eq!(format!("{ss:?}"), "MlKemSharedSecret([redacted])");
        assert_eq!(
            format!("{:?}", kp.secret_key()),
            "MlKemSecretKey([redacted])"
        );
        assert!(format!("{kp:?}").contains("[redacted]"));
    }
}
