//! Identities: seeds, recovery phrases, Ed25519 keys, Account IDs and
//! labelled signatures.
//!
//! An identity is one 32-byte [`Seed`]. From it come:
//! - the Ed25519 key pair (RFC 8032; libsodium `crypto_sign_seed_keypair`);
//! - the X25519 secret, `clamp(SHA-512(seed)[0..32])` (libsodium
//!   `crypto_sign_ed25519_sk_to_curve25519`), whose public half equals the
//!   birational map of the Ed25519 public key
//!   (`crypto_sign_ed25519_pk_to_curve25519`);
//! - the 24-word BIP39 English recovery phrase, whose 32-byte entropy *is*
//!   the seed (no PBKDF2 stretching);
//! - the [`AccountId`], `bech32m("nj", ed25519_public_key)`.

use core::fmt;
use core::str::FromStr;

use bech32::primitives::decode::{ChecksumError, UncheckedHrpstring};
use bech32::{Bech32m, Hrp};
use ed25519_dalek::{Signature, Signer, SigningKey, VerifyingKey};
use x25519_dalek::StaticSecret;
use zeroize::{Zeroize, ZeroizeOnDrop, Zeroizing};

use crate::error::CryptoError;
use crate::random::{OsRandom, RandomSource, random_index_with};

/// Human-readable part of an [`AccountId`].
pub const ACCOUNT_ID_HRP: &str = "nj";

/// Number of words in a Nightjar recovery phrase.
pub const MNEMONIC_WORDS: usize = 24;

/// Longest label accepted by labelled signatures, in bytes.
pub const MAX_LABEL_LEN: usize = 64;

/// A uniformly random index in `0..n`, from the operating system's random
/// number generator (for example, to pick the nodes of an onion path);
/// [`random_index_with`] draws from a caller-given source.
///
/// Draws 64-bit values and rejects those in the incomplete last block, so
/// every index is exactly equally likely. Fails with
/// [`CryptoError::EmptyChoice`] if `n` is 0 and with
/// [`CryptoError::RandomUnavailable`] if the generator fails.
pub fn random_index(n: usize) -> Result<usize, CryptoError> {
    random_index_with(&mut OsRandom, n)
}

// ---------------------------------------------------------------------------
// Seed
// ---------------------------------------------------------------------------

/// The 32-byte secret from which a whole identity is derived.
///
/// Zeroized on drop; `Debug` prints `[redacted]`.
#[derive(Clone, Zeroize, ZeroizeOnDrop)]
pub struct Seed([u8; 32]);

impl Seed {
    /// Wraps 32 secret bytes.
    pub fn from_bytes(bytes: [u8; 32]) -> Seed {
        Seed(bytes)
    }

    /// The secret bytes.
    pub fn as_bytes(&self) -> &[u8; 32] {
        &self.0
    }

    /// Mutable access, for in-place decryption inside this crate.
    pub(crate) fn as_bytes_mut(&mut self) -> &mut [u8; 32] {
        &mut self.0
    }

    /// A fresh random seed from the operating system's random number generator.
    pub fn generate() -> Result<Seed, CryptoError> {
        Seed::generate_with(&mut OsRandom)
    }

    /// A seed drawn from `rng`. With a [`crate::random::SeededRandom`] this
    /// is for simulations and tests only, never for real users.
    pub fn generate_with(rng: &mut dyn RandomSource) -> Result<Seed, CryptoError> {
        let mut seed = Seed([0u8; 32]);
        rng.fill(&mut seed.0)?;
        Ok(seed)
    }
}

impl fmt::Debug for Seed {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Seed([redacted])")
    }
}

// ---------------------------------------------------------------------------
// Mnemonic
// ---------------------------------------------------------------------------

/// A 24-word BIP39 English recovery phrase, words separated by single spaces.
///
/// Zeroized on drop; `Debug` prints `[redacted]`. It deliberately has no
/// `Display`, so it cannot end up in a log line by accident.
#[derive(Clone)]
pub struct Mnemonic(Zeroizing<String>);

impl Mnemonic {
    /// The phrase: 24 lowercase words separated by single spaces.
    pub fn as_str(&self) -> &str {
        self.0.as_str()
    }
}

impl fmt::Debug for Mnemonic {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Mnemonic([redacted])")
    }
}

/// Parses a 24-word BIP39 English phrase into its 32 bytes of entropy.
fn mnemonic_to_seed(phrase: &str) -> Result<Seed, CryptoError> {
    // Normalise: lowercase, single spaces. Kept in a zeroizing buffer.
    let lower = Zeroizing::new(phrase.to_lowercase());
    let count = lower.split_whitespace().count();
    if count != MNEMONIC_WORDS {
        return Err(CryptoError::MnemonicWordCount(count));
    }
    let mut normalised = Zeroizing::new(String::with_capacity(lower.len()));
    for (i, word) in lower.split_whitespace().enumerate() {
        if i > 0 {
            normalised.push(' ');
        }
        normalised.push_str(word);
    }
    let parsed = bip39::Mnemonic::parse_in_normalized(bip39::Language::English, &normalised)
        .map_err(|e| match e {
            bip39::Error::BadWordCount(n) => CryptoError::MnemonicWordCount(n),
            bip39::Error::UnknownWord(i) => CryptoError::MnemonicUnknownWord { position: i + 1 },
            _ => CryptoError::MnemonicChecksum,
        })?;
    let (entropy, len) = parsed.to_entropy_array();
    let entropy = Zeroizing::new(entropy);
    let bytes: [u8; 32] = entropy
        .get(..len)
        .and_then(|s| s.try_into().ok())
        .ok_or(CryptoError::MnemonicWordCount(count))?;
    Ok(Seed::from_bytes(bytes))
}

/// Renders a seed as its 24-word BIP39 English phrase.
fn seed_to_mnemonic(seed: &Seed) -> Mnemonic {
    // 32 bytes of entropy is always valid BIP39 input.
    let mut out = Zeroizing::new(String::with_capacity(MNEMONIC_WORDS * 9));
    if let Ok(m) = bip39::Mnemonic::from_entropy_in(bip39::Language::English, seed.as_bytes()) {
        for (i, word) in m.words().enumerate() {
            if i > 0 {
                out.push(' ');
            }
            out.push_str(word);
        }
    }
    Mnemonic(out)
}

// ---------------------------------------------------------------------------
// PublicKey
// ---------------------------------------------------------------------------

/// A validated Ed25519 public key.
///
/// Construction guarantees the 32 bytes are the canonical encoding of a curve
/// point of the prime-order subgroup other than the identity: exactly the keys
/// libsodium's `crypto_core_ed25519_is_valid_point` and
/// `crypto_sign_ed25519_pk_to_curve25519` accept (`docs/PROTOCOL.md` §2).
/// Small-order points and mixed-order points (a subgroup point plus a
/// non-zero small-order one) are refused; `crypto_sign_verify_detached`
/// alone would take a mixed-order key. Public keys are not secret: `Debug`
/// prints them in hex.
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub struct PublicKey(VerifyingKey);

impl PublicKey {
    /// Validates 32 bytes as an Ed25519 public key (see [`PublicKey`] for
    /// which are valid).
    pub fn from_bytes(bytes: &[u8; 32]) -> Result<PublicKey, CryptoError> {
        let key = VerifyingKey::from_bytes(bytes).map_err(|_| CryptoError::InvalidPublicKey)?;
        let point = key.to_edwards();
        // Reject non-canonical encodings (y >= p, or x = 0 with the sign bit
        // set): re-encoding must give back exactly the input. Then points of
        // small order, and points with a small-order component (mixed order):
        // libsodium refuses both, and a mixed-order key can have signatures
        // that pass a cofactorless check (one in eight of its owner's).
        if point.compress().to_bytes() != *bytes || key.is_weak() || !point.is_torsion_free() {
            return Err(CryptoError::InvalidPublicKey);
        }
        Ok(PublicKey(key))
    }

    /// Validates a slice as an Ed25519 public key; it must be 32 bytes.
    pub fn from_slice(bytes: &[u8]) -> Result<PublicKey, CryptoError> {
        let arr: &[u8; 32] = bytes.try_into().map_err(|_| CryptoError::InvalidLength {
            what: "an Ed25519 public key",
            expected: 32,
            got: bytes.len(),
        })?;
        PublicKey::from_bytes(arr)
    }

    /// The 32-byte encoding.
    pub fn to_bytes(&self) -> [u8; 32] {
        self.0.to_bytes()
    }

    /// The 32-byte encoding, borrowed.
    pub fn as_bytes(&self) -> &[u8; 32] {
        self.0.as_bytes()
    }

    /// The X25519 public key of the same identity (the Edwards→Montgomery
    /// birational map, u = (1 + y) / (1 − y); libsodium
    /// `crypto_sign_ed25519_pk_to_curve25519`).
    pub fn x25519(&self) -> [u8; 32] {
        self.0.to_montgomery().to_bytes()
    }

    /// Verifies a labelled signature made by [`Identity::sign_labelled`].
    ///
    /// The signed message is `[len(label) as u8] ‖ label ‖ data`. Verification
    /// is strict: `S` < L, `R` not of small order, and the cofactorless
    /// equation checked by comparing `R`'s encoding with that of
    /// `[S]B − [k]A` (so a non-canonical `R` fails too). With a valid key
    /// (which this is) libsodium's `crypto_sign_verify_detached` accepts
    /// exactly the same signatures.
    pub fn verify_labelled(&self, label: &str, data: &[u8], sig: &[u8]) -> Result<(), CryptoError> {
        let sig: &[u8; 64] = sig.try_into().map_err(|_| CryptoError::InvalidLength {
            what: "an Ed25519 signature",
            expected: 64,
            got: sig.len(),
        })?;
        let msg = labelled_message(label, &[data])?;
        self.verify_labelled_parts(&msg, sig)
    }

    /// Verifies `sig` over an already-built labelled message.
    pub(crate) fn verify_labelled_parts(
        &self,
        msg: &[u8],
        sig: &[u8; 64],
    ) -> Result<(), CryptoError> {
        let sig = Signature::from_bytes(sig);
        self.0
            .verify_strict(msg, &sig)
            .map_err(|_| CryptoError::BadSignature)
    }

    /// The Account ID of this key.
    pub fn account_id(&self) -> AccountId {
        AccountId(*self)
    }

    /// Lowercase hex of the 32 bytes.
    pub fn to_hex(&self) -> String {
        let mut s = String::with_capacity(64);
        for b in self.as_bytes() {
            s.push(hex_digit(b >> 4));
            s.push(hex_digit(b & 0x0f));
        }
        s
    }
}

fn hex_digit(n: u8) -> char {
    char::from(if n < 10 { b'0' + n } else { b'a' + (n - 10) })
}

impl fmt::Debug for PublicKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "PublicKey({})", self.to_hex())
    }
}

// ---------------------------------------------------------------------------
// Labelled signatures
// ---------------------------------------------------------------------------

/// Builds `[len(label) as u8] ‖ label ‖ parts…`.
pub(crate) fn labelled_message(label: &str, parts: &[&[u8]]) -> Result<Vec<u8>, CryptoError> {
    if label.is_empty() || label.len() > MAX_LABEL_LEN || !label.is_ascii() {
        return Err(CryptoError::InvalidLabel);
    }
    let len = u8::try_from(label.len()).map_err(|_| CryptoError::InvalidLabel)?;
    let total = 1 + label.len() + parts.iter().map(|p| p.len()).sum::<usize>();
    let mut msg = Vec::with_capacity(total);
    msg.push(len);
    msg.extend_from_slice(label.as_bytes());
    for part in parts {
        msg.extend_from_slice(part);
    }
    Ok(msg)
}

// ---------------------------------------------------------------------------
// Identity
// ---------------------------------------------------------------------------

/// A Nightjar identity: the seed, its Ed25519 key pair and its X25519 secret.
///
/// All secrets are zeroized on drop; `Debug` prints only the Account ID.
#[derive(Clone)]
pub struct Identity {
    seed: Seed,
    signing: SigningKey,
    x25519_secret: StaticSecret,
    /// The same X25519 secret, parsed once for aws-lc-rs, whose X25519 is
    /// 2–3× faster than x25519-dalek's on the machines we measured
    /// (`BENCHMARKS.md`, onion hop): every onion hop a node relays and every
    /// envelope a client opens does one agreement with it. `None` only if
    /// aws-lc-rs refused the scalar (then x25519-dalek is used).
    x25519_fast: Option<std::sync::Arc<aws_lc_rs::agreement::PrivateKey>>,
    public: PublicKey,
    x25519_public: [u8; 32],
}

impl Identity {
    /// A new identity from a fresh random seed.
    pub fn generate() -> Result<Identity, CryptoError> {
        Ok(Identity::from_seed(Seed::generate()?))
    }

    /// An identity from a seed drawn from `rng` (see [`Seed::generate_with`]).
    pub fn generate_with(rng: &mut dyn RandomSource) -> Result<Identity, CryptoError> {
        Ok(Identity::from_seed(Seed::generate_with(rng)?))
    }

    /// Derives the identity of a seed.
    pub fn from_seed(seed: Seed) -> Identity {
        let signing = SigningKey::from_bytes(seed.as_bytes());
        // clamp(SHA-512(seed)[0..32]) = crypto_sign_ed25519_sk_to_curve25519.
        let mut scalar = Zeroizing::new(signing.to_scalar_bytes());
        if let Some(first) = scalar.first_mut() {
            *first &= 248;
        }
        if let Some(last) = scalar.last_mut() {
            *last &= 127;
            *last |= 64;
        }
        let x25519_secret = StaticSecret::from(*scalar);
        let x25519_fast = aws_lc_rs::agreement::PrivateKey::from_private_key(
            &aws_lc_rs::agreement::X25519,
            &*scalar,
        )
        .ok()
        .map(std::sync::Arc::new);
        let x25519_public = x25519_dalek::PublicKey::from(&x25519_secret).to_bytes();
        // A key derived from a secret scalar is a valid, prime-order point.
        let public = PublicKey(signing.verifying_key());
        Identity {
            seed,
            signing,
            x25519_secret,
            x25519_fast,
            public,
            x25519_public,
        }
    }

    /// Restores an identity from its 24-word BIP39 English recovery phrase.
    ///
    /// Words may be separated by any whitespace and written in any case;
    /// the checksum is verified. The phrase's 32 bytes of entropy are the seed.
    pub fn from_mnemonic(phrase: &str) -> Result<Identity, CryptoError> {
        Ok(Identity::from_seed(mnemonic_to_seed(phrase)?))
    }

    /// The 24-word recovery phrase of this identity's seed.
    pub fn mnemonic(&self) -> Mnemonic {
        seed_to_mnemonic(&self.seed)
    }

    /// The seed.
    pub fn seed(&self) -> &Seed {
        &self.seed
    }

    /// The Ed25519 public key.
    pub fn public_key(&self) -> PublicKey {
        self.public
    }

    /// The Account ID.
    pub fn account_id(&self) -> AccountId {
        self.public.account_id()
    }

    /// The X25519 public key (equal to `self.public_key().x25519()`).
    pub fn x25519_public(&self) -> [u8; 32] {
        self.x25519_public
    }

    /// X25519 with this identity's secret; `None` if the result is all zero
    /// (the peer's point has small order).
    pub(crate) fn x25519_agree(&self, their_public: &[u8; 32]) -> Option<Zeroizing<[u8; 32]>> {
        if let Some(key) = &self.x25519_fast {
            return aws_lc_agree(key, their_public);
        }
        let shared = self
            .x25519_secret
            .diffie_hellman(&x25519_dalek::PublicKey::from(*their_public));
        if shared.was_contributory() {
            Some(Zeroizing::new(shared.to_bytes()))
        } else {
            None
        }
    }

    /// The Ed25519 private key as PKCS#8 v1 DER (RFC 8410 `OneAsymmetricKey`
    /// version 0, without the optional public key), as rcgen, rustls and
    /// OpenSSL accept it. Always 48 bytes:
    /// `30 2e 02 01 00 30 05 06 03 2b 65 70 04 22 04 20 ‖ seed`.
    pub fn pkcs8_der(&self) -> Zeroizing<Vec<u8>> {
        const PREFIX: [u8; 16] = [
            0x30, 0x2e, // SEQUENCE, 46 bytes
            0x02, 0x01, 0x00, // INTEGER 0 (version v1)
            0x30, 0x05, 0x06, 0x03, 0x2b, 0x65, 0x70, // AlgorithmIdentifier { id-Ed25519 }
            0x04, 0x22, // OCTET STRING, 34 bytes (privateKey)
            0x04, 0x20, // CurvePrivateKey ::= OCTET STRING, 32 bytes
        ];
        let mut der = Zeroizing::new(Vec::with_capacity(PREFIX.len() + 32));
        der.extend_from_slice(&PREFIX);
        der.extend_from_slice(self.seed.as_bytes());
        der
    }

    /// Signs `[len(label) as u8] ‖ label ‖ data` with Ed25519.
    ///
    /// Labels are protocol constants (see [`crate::labels`]).
    ///
    /// # Panics
    ///
    /// If `label` is empty, longer than 64 bytes or not ASCII — a bug in the
    /// calling code, never caused by data from outside. Use
    /// [`Identity::try_sign_labelled`] to get an error instead.
    pub fn sign_labelled(&self, label: &str, data: &[u8]) -> [u8; 64] {
        match self.try_sign_labelled(label, data) {
            Ok(sig) => sig,
            Err(_) => panic!("signature label must be 1..=64 ASCII bytes, got {label:?}"),
        }
    }

    /// Like [`Identity::sign_labelled`], but returns
    /// [`CryptoError::InvalidLabel`] instead of panicking on a bad label.
    pub fn try_sign_labelled(&self, label: &str, data: &[u8]) -> Result<[u8; 64], CryptoError> {
        let msg = labelled_message(label, &[data])?;
        Ok(self.sign_message(&msg))
    }

    /// Signs an already-built labelled message.
    pub(crate) fn sign_message(&self, msg: &[u8]) -> [u8; 64] {
        self.signing.sign(msg).to_bytes()
    }
}

impl fmt::Debug for Identity {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Identity")
            .field("account_id", &self.account_id().to_string())
            .field("secrets", &"[redacted]")
            .finish()
    }
}

// `SigningKey`, `StaticSecret` and `Seed` zeroize themselves on drop.
impl ZeroizeOnDrop for Identity {}

// ---------------------------------------------------------------------------
// AccountId
// ---------------------------------------------------------------------------

/// A user-facing account identifier: the Ed25519 public key in bech32m
/// (BIP-350) with human-readable part `nj`, e.g. `nj1…` (61 characters).
#[derive(Clone, Copy, PartialEq, Eq, Hash, Debug)]
pub struct AccountId(PublicKey);

impl AccountId {
    /// The public key this Account ID names.
    pub fn public_key(&self) -> &PublicKey {
        &self.0
    }
}

impl From<PublicKey> for AccountId {
    fn from(key: PublicKey) -> AccountId {
        AccountId(key)
    }
}

const HRP: Hrp = Hrp::parse_unchecked(ACCOUNT_ID_HRP);

impl fmt::Display for AccountId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        bech32::encode_lower_to_fmt::<Bech32m, _>(f, HRP, self.0.as_bytes()).map_err(|_| fmt::Error)
    }
}

impl FromStr for AccountId {
    type Err = CryptoError;

    /// Parses `nj1…` (all lowercase or all uppercase), checking the bech32m
    /// checksum, the length (exactly 32 bytes, zero padding bits) and that
    /// the bytes are a valid Ed25519 public key.
    fn from_str(s: &str) -> Result<AccountId, CryptoError> {
        let unchecked = UncheckedHrpstring::new(s).map_err(|_| CryptoError::AccountIdMalformed)?;
        if unchecked.hrp() != HRP {
            return Err(CryptoError::AccountIdWrongPrefix(
                unchecked.hrp().to_lowercase(),
            ));
        }
        let checked = unchecked
            .validate_and_remove_checksum::<Bech32m>()
            .map_err(|e| match e {
                ChecksumError::InvalidResidue(_) => CryptoError::AccountIdChecksum,
                _ => CryptoError::AccountIdMalformed,
            })?;
        // 32 bytes = 256 bits = 52 five-bit groups, the last 4 bits padding.
        if checked.fe32_iter().len() != 52 {
            return Err(CryptoError::AccountIdLength);
        }
        if checked.validate_segwit_padding().is_err() {
            return Err(CryptoError::AccountIdLength);
        }
        let bytes: Vec<u8> = checked.byte_iter().collect();
        let arr: [u8; 32] = bytes
            .as_slice()
            .try_into()
            .map_err(|_| CryptoError::AccountIdLength)?;
        Ok(AccountId(PublicKey::from_bytes(&arr)?))
    }
}

/// X25519 of `key` with `their_public` through aws-lc-rs; `None` if the
/// result is all zero (aws-lc-rs refuses a small-order point itself; the
/// check stays as a second guard) or aws-lc-rs fails.
pub(crate) fn aws_lc_agree(
    key: &aws_lc_rs::agreement::PrivateKey,
    their_public: &[u8; 32],
) -> Option<Zeroizing<[u8; 32]>> {
    let peer =
        aws_lc_rs::agreement::UnparsedPublicKey::new(&aws_lc_rs::agreement::X25519, their_public);
    aws_lc_rs::agreement::agree(key, peer, (), |shared| {
        let mut out = Zeroizing::new([0u8; 32]);
        if shared.len() != out.len() {
            return Err(());
        }
        out.copy_from_slice(shared);
        Ok(out)
    })
    .ok()
    .filter(|s| s.iter().any(|&b| b != 0))
}

/// X25519 with a one-time secret: returns the secret's public key `E` and
/// `X25519(secret, their_public)`, or `None` if the result is all zero (the
/// peer's point has small order).
///
/// aws-lc-rs computes both (about half the cost of x25519-dalek's fixed-base
/// and variable-base multiplications on this machine kind, BENCHMARKS.md);
/// x25519-dalek is the fallback should aws-lc-rs refuse the key. Both clamp
/// the secret as RFC 7748 says and give the same bytes (unit test).
pub(crate) fn ephemeral_agree(
    secret: &[u8; 32],
    their_public: &[u8; 32],
) -> Option<([u8; 32], Zeroizing<[u8; 32]>)> {
    use aws_lc_rs::agreement::{self, X25519};
    if let Ok(key) = agreement::PrivateKey::from_private_key(&X25519, secret)
        && let Ok(public) = key.compute_public_key()
        && let Ok(e_pub) = <[u8; 32]>::try_from(public.as_ref())
    {
        return aws_lc_agree(&key, their_public).map(|shared| (e_pub, shared));
    }
    let secret = StaticSecret::from(*secret);
    let e_pub = x25519_dalek::PublicKey::from(&secret).to_bytes();
    let shared = secret.diffie_hellman(&x25519_dalek::PublicKey::from(*their_public));
    shared
        .was_contributory()
        .then(|| (e_pub, Zeroizing::new(shared.to_bytes())))
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    fn hex32(s: &str) -> [u8; 32] {
        hex::decode(s).unwrap().try_into().unwrap()
    }

    #[test]
    fn ephemeral_agree_matches_x25519_dalek() {
        for i in 0..16u8 {
            let secret: [u8; 32] = core::array::from_fn(|j| (j as u8).wrapping_mul(29) ^ i);
            let peer_secret = StaticSecret::from([i.wrapping_add(3); 32]);
            let peer = x25519_dalek::PublicKey::from(&peer_secret).to_bytes();
            let (e_pub, shared) = ephemeral_agree(&secret, &peer).unwrap();
            let dalek = StaticSecret::from(secret);
            assert_eq!(e_pub, x25519_dalek::PublicKey::from(&dalek).to_bytes());
            assert_eq!(
                *shared,
                dalek
                    .diffie_hellman(&x25519_dalek::PublicKey::from(peer))
                    .to_bytes()
            );
        }
        // A small-order point (here the identity, 1) gives an all-zero result.
        let mut one = [0u8; 32];
        one[0] = 1;
        assert!(ephemeral_agree(&[7u8; 32], &one).is_none());
        assert!(ephemeral_agree(&[7u8; 32], &[0u8; 32]).is_none());
    }

    #[test]
    fn bip39_official_vector_all_zero_entropy() {
        let words = format!("{}art", "abandon ".repeat(23));
        let id = Identity::from_seed(Seed::from_bytes([0u8; 32]));
        assert_eq!(id.mnemonic().as_str(), words);
        let restored = Identity::from_mnemonic(&words).unwrap();
        assert_eq!(restored.seed().as_bytes(), &[0u8; 32]);
    }

    #[test]
    fn bip39_official_vectors_24_words() {
        // From the BIP39 reference vectors (Trezor python-mnemonic), checked
        // independently with Python's hashlib against the English word list.
        let cases = [
            (
                "7f7f7f7f7f7f7f7f7f7f7f7f7f7f7f7f7f7f7f7f7f7f7f7f7f7f7f7f7f7f7f7f",
                "legal winner thank year wave sausage worth useful legal winner thank year wave sausage worth useful legal winner thank year wave sausage worth title",
            ),
            (
                "68a79eaca2324873eacc50cb9c6eca8cc68ea5d936f98787c60c7ebc74e6ce7c",
                "hamster diagram private dutch cause delay private meat slide toddler razor book happy fancy gospel tennis maple dilemma loan word shrug inflict delay length",
            ),
            (
                "ffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff",
                "zoo zoo zoo zoo zoo zoo zoo zoo zoo zoo zoo zoo zoo zoo zoo zoo zoo zoo zoo zoo zoo zoo zoo vote",
            ),
        ];
        for (entropy, words) in cases {
            let id = Identity::from_seed(Seed::from_bytes(hex32(entropy)));
            assert_eq!(id.mnemonic().as_str(), words);
            let back = Identity::from_mnemonic(words).unwrap();
            assert_eq!(back.seed().as_bytes(), &hex32(entropy));
        }
    }

    #[test]
    fn mnemonic_restores_same_account() {
        let id = Identity::generate().unwrap();
        let phrase = id.mnemonic();
        assert_eq!(phrase.as_str().split(' ').count(), 24);
        let restored = Identity::from_mnemonic(phrase.as_str()).unwrap();
        assert_eq!(restored.account_id(), id.account_id());
        assert_eq!(restored.seed().as_bytes(), id.seed().as_bytes());
    }

    #[test]
    fn mnemonic_parsing_tolerates_case_and_whitespace() {
        let words = format!("{}art", "abandon ".repeat(23));
        let messy = format!("  \t{}\n", words.to_uppercase().replace(' ', "  \n "));
        let id = Identity::from_mnemonic(&messy).unwrap();
        assert_eq!(id.seed().as_bytes(), &[0u8; 32]);
    }

    #[test]
    fn mnemonic_rejects_bad_checksum_count_and_unknown_words() {
        let bad_checksum = format!("{}abandon", "abandon ".repeat(23));
        assert_eq!(
            Identity::from_mnemonic(&bad_checksum).unwrap_err(),
            CryptoError::MnemonicChecksum
        );
        let twelve = format!("{}about", "abandon ".repeat(11));
        assert_eq!(
            Identity::from_mnemonic(&twelve).unwrap_err(),
            CryptoError::MnemonicWordCount(12)
        );
        let unknown = format!("{}nightjar art", "abandon ".repeat(22));
        assert_eq!(
            Identity::from_mnemonic(&unknown).unwrap_err(),
            CryptoError::MnemonicUnknownWord { position: 23 }
        );
        assert_eq!(
            Identity::from_mnemonic("").unwrap_err(),
            CryptoError::MnemonicWordCount(0)
        );
    }

    #[test]
    fn x25519_public_matches_birational_map_of_ed25519_key() {
        for _ in 0..8 {
            let id = Identity::generate().unwrap();
            assert_eq!(id.x25519_public(), id.public_key().x25519());
        }
    }

    #[test]
    fn rfc8032_test_vector_1_public_key() {
        let id = Identity::from_seed(Seed::from_bytes(hex32(
            "9d61b19deffd5a60ba844af492ec2cc44449c5697b326919703bac031cae7f60",
        )));
        assert_eq!(
            id.public_key().to_hex(),
            "d75a980182b10ab7d54bfed3c964073a0ee172f3daa62325af021a68f707511a"
        );
    }

    #[test]
    fn labelled_signature_verifies_and_binds_label_and_data() {
        let id = Identity::generate().unwrap();
        let pk = id.public_key();
        let sig = id.sign_labelled("nightjar/test", b"data");
        pk.verify_labelled("nightjar/test", b"data", &sig).unwrap();
        assert_eq!(
            pk.verify_labelled("nightjar/test2", b"data", &sig),
            Err(CryptoError::BadSignature)
        );
        assert_eq!(
            pk.verify_labelled("nightjar/test", b"datA", &sig),
            Err(CryptoError::BadSignature)
        );
        let other = Identity::generate().unwrap().public_key();
        assert_eq!(
            other.verify_labelled("nightjar/test", b"data", &sig),
            Err(CryptoError::BadSignature)
        );
        assert!(matches!(
            pk.verify_labelled("nightjar/test", b"data", &sig[..63]),
            Err(CryptoError::InvalidLength { .. })
        ));
    }

    #[test]
    fn labelled_signature_is_plain_ed25519_over_length_prefixed_label() {
        let id = Identity::from_seed(Seed::from_bytes([1u8; 32]));
        let sig = id.sign_labelled("ab", b"xyz");
        let mut msg = vec![2u8];
        msg.extend_from_slice(b"abxyz");
        let vk = VerifyingKey::from_bytes(id.public_key().as_bytes()).unwrap();
        vk.verify_strict(&msg, &Signature::from_bytes(&sig))
            .unwrap();
    }

    #[test]
    fn invalid_labels_are_rejected() {
        let id = Identity::from_seed(Seed::from_bytes([1u8; 32]));
        assert_eq!(
            id.try_sign_labelled("", b""),
            Err(CryptoError::InvalidLabel)
        );
        let long = "x".repeat(65);
        assert_eq!(
            id.try_sign_labelled(&long, b""),
            Err(CryptoError::InvalidLabel)
        );
        assert!(id.try_sign_labelled(&"x".repeat(64), b"").is_ok());
        assert_eq!(
            id.try_sign_labelled("é", b""),
            Err(CryptoError::InvalidLabel)
        );
        let sig = [0u8; 64];
        assert_eq!(
            id.public_key().verify_labelled("", b"", &sig),
            Err(CryptoError::InvalidLabel)
        );
    }

    #[test]
    fn public_key_rejects_small_order_and_non_canonical_points() {
        // Identity point (small order).
        let mut identity = [0u8; 32];
        identity[0] = 1;
        assert_eq!(
            PublicKey::from_bytes(&identity),
            Err(CryptoError::InvalidPublicKey)
        );
        // Non-canonical encoding of y = 1 (p + 1).
        let noncanon = hex32("eeffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff7f");
        assert_eq!(
            PublicKey::from_bytes(&noncanon),
            Err(CryptoError::InvalidPublicKey)
        );
        // Not on the curve (y = 2 has no x).
        let mut y2 = [0u8; 32];
        y2[0] = 2;
        assert_eq!(
            PublicKey::from_bytes(&y2),
            Err(CryptoError::InvalidPublicKey)
        );
        assert!(matches!(
            PublicKey::from_slice(&[0u8; 31]),
            Err(CryptoError::InvalidLength { got: 31, .. })
        ));
        let good = Identity::from_seed(Seed::from_bytes([3u8; 32])).public_key();
        assert_eq!(PublicKey::from_slice(good.as_bytes()).unwrap(), good);
    }

    #[test]
    fn public_key_rejects_mixed_order_points() {
        // RFC 8032 test 1's key plus a point of order 8: on the curve, canonical,
        // not of small order, but outside the prime-order subgroup. libsodium's
        // crypto_sign_ed25519_pk_to_curve25519 and crypto_core_ed25519_is_valid_point
        // refuse it (test-vectors/check_libsodium.py).
        let mixed = hex32("3b5b475c4b82dd1572799fc546f4c6c03e478c6654aa4c7f945b347ea32af60d");
        let point = VerifyingKey::from_bytes(&mixed).unwrap();
        assert!(!point.is_weak());
        assert_eq!(point.to_edwards().compress().to_bytes(), mixed);
        // It matters: this signature over "mixed \x06" (made with the
        // RFC 8032 key's secret, its hash ≡ 0 mod 8) passes ed25519-dalek's
        // verify_strict, and libsodium's crypto_sign_verify_detached, under the
        // mixed-order key.
        let sig: [u8; 64] = hex::decode(
            "ef4f62f8479733ad879cfaced3c89a9c39dd4fc795ef2efa1c3eafe4d729a081\
             10785e6f92b5a15394a240ffb09b658628c0c83ce987262faad741f03119300f",
        )
        .unwrap()
        .try_into()
        .unwrap();
        point
            .verify_strict(b"mixed \x06", &Signature::from_bytes(&sig))
            .unwrap();
        assert_eq!(
            PublicKey::from_bytes(&mixed),
            Err(CryptoError::InvalidPublicKey)
        );
        let text = bech32::encode::<Bech32m>(HRP, &mixed).unwrap();
        assert_eq!(
            text.parse::<AccountId>().unwrap_err(),
            CryptoError::InvalidPublicKey
        );
    }

    #[test]
    fn generate_with_a_seeded_source_replays_the_identity() {
        use crate::random::SeededRandom;
        let mut a = SeededRandom::from_seed([6u8; 32]);
        let mut b = SeededRandom::from_seed([6u8; 32]);
        let x = Identity::generate_with(&mut a).unwrap();
        let y = Identity::generate_with(&mut b).unwrap();
        assert_eq!(x.account_id(), y.account_id());
        let z = Identity::generate_with(&mut a).unwrap();
        assert_ne!(x.account_id(), z.account_id());
    }

    #[test]
    fn account_id_round_trips_and_rejects_bech32_checksum() {
        let id = Identity::from_seed(Seed::from_bytes([9u8; 32]));
        let text = id.account_id().to_string();
        assert!(text.starts_with("nj1"));
        assert_eq!(text.len(), 61);
        assert_eq!(text, text.to_lowercase());
        assert_eq!(text.parse::<AccountId>().unwrap(), id.account_id());
        assert_eq!(
            text.to_uppercase().parse::<AccountId>().unwrap(),
            id.account_id()
        );

        // Same data with the (non-m) bech32 checksum must be rejected.
        let bech32 = bech32::encode::<bech32::Bech32>(HRP, id.public_key().as_bytes()).unwrap();
        assert_eq!(
            bech32.parse::<AccountId>().unwrap_err(),
            CryptoError::AccountIdChecksum
        );
        // A changed character breaks the checksum.
        let mut chars: Vec<char> = text.chars().collect();
        chars[10] = if chars[10] == 'q' { 'p' } else { 'q' };
        let typo: String = chars.into_iter().collect();
        assert_eq!(
            typo.parse::<AccountId>().unwrap_err(),
            CryptoError::AccountIdChecksum
        );
    }

    #[test]
    fn account_id_rejects_mixed_case_wrong_prefix_length_and_bad_points() {
        let id = Identity::from_seed(Seed::from_bytes([9u8; 32]));
        let text = id.account_id().to_string();
        let mixed = format!("NJ1{}", &text[3..]);
        assert_eq!(
            mixed.parse::<AccountId>().unwrap_err(),
            CryptoError::AccountIdMalformed
        );

        let other =
            bech32::encode::<Bech32m>(Hrp::parse("sj").unwrap(), id.public_key().as_bytes())
                .unwrap();
        assert_eq!(
            other.parse::<AccountId>().unwrap_err(),
            CryptoError::AccountIdWrongPrefix("sj".into())
        );
        let short = bech32::encode::<Bech32m>(HRP, &[1u8; 31]).unwrap();
        assert_eq!(
            short.parse::<AccountId>().unwrap_err(),
            CryptoError::AccountIdLength
        );
        let long = bech32::encode::<Bech32m>(HRP, &[1u8; 33]).unwrap();
        assert_eq!(
            long.parse::<AccountId>().unwrap_err(),
            CryptoError::AccountIdLength
        );

        let mut identity = [0u8; 32];
        identity[0] = 1;
        let weak = bech32::encode::<Bech32m>(HRP, &identity).unwrap();
        assert_eq!(
            weak.parse::<AccountId>().unwrap_err(),
            CryptoError::InvalidPublicKey
        );

        assert_eq!(
            "".parse::<AccountId>().unwrap_err(),
            CryptoError::AccountIdMalformed
        );
        assert_eq!(
            "nj1".parse::<AccountId>().unwrap_err(),
            CryptoError::AccountIdMalformed
        );
    }

    #[test]
    fn account_id_rejects_nonzero_padding_bits() {
        // Build a 52-character data part whose last character has non-zero
        // padding bits, with a valid bech32m checksum.
        let id = Identity::from_seed(Seed::from_bytes([9u8; 32]));
        let text = id.account_id().to_string();
        let checked = bech32::primitives::decode::CheckedHrpstring::new::<Bech32m>(&text).unwrap();
        let mut fes: Vec<bech32::Fe32> = checked.fe32_iter().collect();
        let last = fes.len() - 1;
        fes[last] = bech32::Fe32::try_from(fes[last].to_u8() | 1).unwrap();
        use bech32::Fe32IterExt;
        let s: String = fes
            .into_iter()
            .with_checksum::<Bech32m>(&HRP)
            .chars()
            .collect();
        assert_eq!(
            s.parse::<AccountId>().unwrap_err(),
            CryptoError::AccountIdLength
        );
    }

    #[test]
    fn random_index_stays_in_range_and_covers_it() {
        assert_eq!(random_index(0), Err(CryptoError::EmptyChoice));
        assert_eq!(random_index(1).unwrap(), 0);
        let mut seen = [0usize; 7];
        for _ in 0..2_000 {
            seen[random_index(7).unwrap()] += 1;
        }
        // Each of 7 values is expected ~286 times; 150 is > 8 sigma below.
        assert!(seen.iter().all(|&c| c > 150), "{seen:?}");
        assert!(random_index(usize::MAX).unwrap() < usize::MAX);
    }

    #[test]
    fn debug_output_redacts_secrets() {
        let id = Identity::from_seed(Seed::from_bytes([5u8; 32]));
        let hex_seed = "05".repeat(32);
        for s in [
            format!("{id:?}"),
            format!("{:?}", id.seed()),
            format!("{:?}", id.mnemonic()),
        ] {
            assert!(s.contains("[redacted]"), "{s}");
            assert!(!s.contains(&hex_seed));
            assert!(!s.contains("abandon"));
            assert!(!s.contains("5, 5, 5"));
        }
    }

    #[test]
    fn pkcs8_der_is_rfc8410_v1_and_parses() {
        use ed25519_dalek::pkcs8::DecodePrivateKey;
        let id = Identity::from_seed(Seed::from_bytes([4u8; 32]));
        let der = id.pkcs8_der();
        assert_eq!(der.len(), 48);
        let key = SigningKey::from_pkcs8_der(&der).unwrap();
        assert_eq!(key.to_bytes(), [4u8; 32]);
        assert_eq!(key.verifying_key().to_bytes(), id.public_key().to_bytes());
    }
}
