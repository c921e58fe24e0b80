//! Error types of this crate.
//!
//! [`CryptoError`] covers identities, keys, signatures, hashing and at-rest
//! encryption; [`EnvelopeError`] covers sealing and opening message envelopes;
//! the onion layers' errors live with them, in `onion::error`
//! ([`crate::onion::OnionError`]), so this module imports nothing from the rest of the crate.
//! No error ever carries secret material.

/// Errors from identities, keys, signatures and at-rest encryption.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum CryptoError {
    /// The operating system's random number generator failed.
    #[error(
        "the operating system random number generator failed ({0}); \
         check that the OS provides getrandom(2) or /dev/urandom and retry"
    )]
    RandomUnavailable(String),

    /// Bytes that should be an Ed25519 public key are not a valid one.
    #[error(
        "not a valid Ed25519 public key (it must be the canonical encoding of a point of the \
         prime-order subgroup other than the identity); check that the key was copied completely"
    )]
    InvalidPublicKey,

    /// An input had the wrong length.
    #[error("{what} must be {expected} bytes long, but {got} bytes were given")]
    InvalidLength {
        /// What the input was supposed to be.
        what: &'static str,
        /// The length it must have.
        expected: usize,
        /// The length it had.
        got: usize,
    },

    /// A recovery phrase did not have exactly 24 words.
    #[error(
        "the recovery phrase has {0} words, but it must have exactly 24; check for missing or extra words"
    )]
    MnemonicWordCount(usize),

    /// A recovery phrase contained a word that is not in the BIP39 English list.
    #[error(
        "word {position} of the recovery phrase is not in the BIP39 English word list; \
         check its spelling"
    )]
    MnemonicUnknownWord {
        /// 1-based position of the offending word.
        position: usize,
    },

    /// A recovery phrase's words are all known, but its checksum does not match.
    #[error(
        "the recovery phrase's checksum does not match; a word is probably wrong or \
         out of order, check it against your written copy"
    )]
    MnemonicChecksum,

    /// An Account ID is not a well-formed bech32m string.
    #[error(
        "not a well-formed Account ID (expected `nj1` followed by bech32 characters, \
         all lowercase or all uppercase); check that it was copied completely"
    )]
    AccountIdMalformed,

    /// An Account ID has a human-readable prefix other than `nj`.
    #[error("the Account ID has prefix `{0}`, but Nightjar Account IDs start with `nj1`")]
    AccountIdWrongPrefix(String),

    /// An Account ID's bech32m checksum does not match (this includes strings
    /// that carry the older bech32 checksum instead of bech32m).
    #[error(
        "the Account ID's checksum does not match (a character is wrong, or it uses the \
         bech32 instead of the bech32m checksum); check it against the original"
    )]
    AccountIdChecksum,

    /// An Account ID decodes to a payload that is not 32 bytes, or whose
    /// padding bits are not zero.
    #[error("the Account ID does not encode exactly 32 bytes; check that it was copied completely")]
    AccountIdLength,

    /// A signature label is not 1..=64 ASCII bytes.
    #[error("signature label must be 1 to 64 ASCII bytes; this is a bug in the calling code")]
    InvalidLabel,

    /// A signature does not verify under the given key, label and data.
    #[error(
        "signature does not verify: the data was altered, signed by another key, or signed \
         for another purpose"
    )]
    BadSignature,

    /// A registration claim names another node key than the identity asked
    /// to sign it.
    #[error(
        "the registration names another node key than the one signing it; sign with the \
         node's own key file"
    )]
    RegistrationKeyMismatch,

    /// Authenticated decryption failed.
    #[error("decryption failed: the data was altered or corrupted, or encrypted under another key")]
    DecryptFailed,

    /// Authenticated encryption refused its input (longer than
    /// XChaCha20-Poly1305 can encrypt).
    #[error("encryption failed: the plaintext is too long for XChaCha20-Poly1305")]
    EncryptFailed,

    /// A ciphertext or key file is shorter than its format allows.
    #[error("the encrypted data is truncated ({0} bytes); it was probably damaged or cut short")]
    Truncated(usize),

    /// A key file starts with a version byte this build does not know.
    #[error("the key file has unknown format version {0}; upgrade Nightjar to read it")]
    KeyfileUnknownVersion(u8),

    /// A key file names a key-derivation function this build does not know.
    #[error("the key file uses unknown key-derivation method {0}; upgrade Nightjar to read it")]
    KeyfileUnknownKdf(u8),

    /// A key file's key-derivation parameters are out of the accepted range.
    #[error(
        "the key file's key-derivation parameters are out of range (memory {m_kib} KiB, \
         passes {t}, lanes {p}); the file is damaged or was not written by Nightjar"
    )]
    KeyfileBadParams {
        /// Memory cost in KiB.
        m_kib: u32,
        /// Number of passes.
        t: u32,
        /// Parallelism (lanes).
        p: u32,
    },

    /// A key file without a passphrase failed to decrypt: it was altered.
    #[error(
        "the key file is corrupted (it failed its integrity check); restore it from a backup or from your recovery phrase"
    )]
    KeyfileCorrupt,

    /// The key file is protected by a passphrase and none was given.
    #[error("the key file is protected by a passphrase; supply the passphrase")]
    PassphraseRequired,

    /// A passphrase was given for a key file that is not protected by one.
    #[error(
        "the key file is not protected by a passphrase, but one was given; open it without a passphrase"
    )]
    PassphraseNotExpected,

    /// The passphrase does not open the key file.
    #[error("wrong passphrase (or the key file is corrupted); check the passphrase and try again")]
    WrongPassphrase,

    /// The password hashing function failed (for example, it could not allocate its memory).
    #[error("password hashing failed ({0}); make sure enough memory is available and retry")]
    Kdf(String),

    /// An X25519 agreement gave the all-zero secret: the peer's key has small
    /// order.
    #[error(
        "key agreement produced an all-zero secret (the peer's X25519 key has small order); \
         the key is malicious or damaged"
    )]
    LowOrderPoint,

    /// Bytes that should be an ML-KEM-768 public key fail the FIPS 203
    /// modulus check.
    #[error(
        "not a valid ML-KEM-768 public key (a coefficient is out of range); the key is \
         damaged or not an ML-KEM-768 key"
    )]
    InvalidMlKemPublicKey,

    /// Bytes that should be an ML-KEM-768 secret key fail the FIPS 203 hash
    /// check.
    #[error(
        "not a valid ML-KEM-768 secret key (its embedded public-key hash does not match); \
         the stored key is damaged"
    )]
    InvalidMlKemSecretKey,

    /// A random choice was asked for among zero items.
    #[error(
        "asked to pick a random index among 0 items; there was nothing to choose from \
         (this is a bug in the calling code)"
    )]
    EmptyChoice,
}

/// Errors from sealing and opening message envelopes.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum EnvelopeError {
    /// The encoded content is longer than the largest padding bucket allows.
    #[error(
        "the message content is {len} bytes once encoded, but at most 65535 bytes fit in an \
         envelope; shorten the message"
    )]
    ContentTooLarge {
        /// Encoded content length.
        len: usize,
    },

    /// The envelope is larger than [`crate::envelope::MAX_ENVELOPE_LEN`].
    #[error(
        "the envelope is {len} bytes, more than the 76800-byte maximum; it is not a valid envelope"
    )]
    TooLarge {
        /// Envelope length.
        len: usize,
    },

    /// The envelope's first byte is not a version this build understands.
    #[error("the envelope has unsupported version {0}; the sender may use a newer Nightjar")]
    UnsupportedVersion(u8),

    /// The envelope (or its decrypted payload) is shorter than its format requires.
    #[error("the envelope is truncated; it was damaged in transit or is not an envelope")]
    Truncated,

    /// The Diffie-Hellman result was all zeros (a low-order point was involved).
    #[error(
        "key agreement produced an all-zero secret (low-order point); the key or envelope is malicious or damaged"
    )]
    LowOrderPoint,

    /// Authenticated decryption failed.
    #[error(
        "the envelope failed to decrypt: it was altered, or it was not encrypted for this identity"
    )]
    DecryptFailed,

    /// The sender key inside the envelope is not a valid Ed25519 public key.
    #[error("the envelope names a sender key that is not a valid Ed25519 public key; discard it")]
    InvalidSenderKey,

    /// The sender's signature does not verify (over the content, the sender
    /// key and *our* key): it was forged, altered, or re-encrypted for us
    /// after being meant for someone else.
    #[error(
        "the envelope's signature does not verify: it was forged, altered, or meant for someone else"
    )]
    BadSignature,

    /// The padded content is not correctly padded.
    #[error("the envelope's content padding is malformed; discard it")]
    BadPadding,

    /// The content is not a valid protobuf `Content` message.
    #[error("the envelope's content is not a valid Content message; discard it")]
    BadContent,

    /// The operating system's random number generator failed.
    #[error(
        "the operating system random number generator failed ({0}); \
         check that the OS provides getrandom(2) or /dev/urandom and retry"
    )]
    RandomUnavailable(String),
}
