//! The one error type of this crate. No error carries secret material.

use nightjar_crypto::CryptoError;

/// Everything that can go wrong in a handshake, a ratchet step, a message or
/// a saved state. Whenever one is returned from [`crate::Session::decrypt`]
/// the session is unchanged.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum RatchetError {
    /// The input is longer than its decoder accepts.
    #[error("the {what} is {len} bytes, more than the {max}-byte limit; it is not a valid {what}")]
    TooLarge {
        /// What was being decoded.
        what: &'static str,
        /// Its length.
        len: usize,
        /// The limit.
        max: usize,
    },

    /// The input is shorter than its layout, or a field is out of range.
    #[error("malformed {what}: {why}; it was damaged or is not a Nightjar v2 {what}")]
    Malformed {
        /// What was being decoded.
        what: &'static str,
        /// What is wrong with it.
        why: &'static str,
    },

    /// The first byte names a message kind this build does not know.
    #[error("unknown message kind {0:#04x}; the sender may use a newer Nightjar")]
    UnknownKind(u8),

    /// A saved session state starts with a version this build does not know.
    #[error("the saved session has unknown format version {0}; upgrade Nightjar to read it")]
    UnknownStateVersion(u8),

    /// The associated-data context given by the caller is too long.
    #[error("the session context is {len} bytes, but at most {max} are allowed")]
    ContextTooLong {
        /// Its length.
        len: usize,
        /// The limit.
        max: usize,
    },

    /// A plaintext is longer than a message may carry.
    #[error("the plaintext is {len} bytes, but a message carries at most {max}")]
    PlaintextTooLarge {
        /// Its length.
        len: usize,
        /// The limit.
        max: usize,
    },

    /// A key from a prekey bundle or a message is invalid (for example an
    /// ML-KEM public key failing its modulus check), or an X25519 agreement
    /// gave the all-zero secret.
    #[error("invalid key: {0}")]
    InvalidKey(CryptoError),

    /// The random number generator failed.
    #[error("randomness unavailable: {0}")]
    Random(CryptoError),

    /// An initial message names a prekey this device does not hold (already
    /// used, rotated away, or never ours).
    #[error(
        "the initial message names {which} {id}, which this device does not hold (it was used \
         already, rotated away, or the message is not for this device)"
    )]
    UnknownPrekey {
        /// Which kind of prekey.
        which: &'static str,
        /// Its id.
        id: u32,
    },

    /// An initial message is not the one that started this session.
    #[error("the initial message belongs to another handshake than this session's")]
    OtherHandshake,

    /// An initial message reached the session that sent it.
    #[error("an initial message reached the session that started the handshake; it is not for us")]
    UnexpectedInitialMessage,

    /// No header key of this session opens the message's header: it was
    /// not sent in this session, or it was altered.
    #[error(
        "no header key of this session opens the message: it is not for this session, or it was altered"
    )]
    UnknownHeader,

    /// The message's header opens, but its message key was already used or
    /// evicted: a replay, or a message older than the skipped keys kept.
    #[error("the message was already read (a replay) or is too old to be read any more")]
    DuplicateOrExpired,

    /// Reading the message would skip more message keys than allowed.
    #[error("the message would skip {skip} message keys, more than the {max} allowed at once")]
    TooManySkipped {
        /// Keys it would skip.
        skip: u64,
        /// The limit.
        max: u64,
    },

    /// The message body does not authenticate under its message key.
    #[error("the message failed to decrypt: it was altered or forged")]
    DecryptFailed,

    /// A chain has sent or received 2³² − 1 messages; start a new session.
    #[error("the message counter of a chain is exhausted; start a new session")]
    ChainExhausted,
}

impl RatchetError {
    pub(crate) fn malformed(what: &'static str, why: &'static str) -> RatchetError {
        RatchetError::Malformed { what, why }
    }
}
