//! The errors of device linking: [`LinkError`].
//!
//! Not for: errors of identities, envelopes or onion layers
//! (`crate::error`, `crate::onion`). No error carries secret material: a
//! link code's text never appears in one.

use crate::error::CryptoError;

/// Errors from link codes and from sealing and opening the records of
/// device linking ([`crate::link`]).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum LinkError {
    /// The text is not bech32 at all: a character outside the bech32 set,
    /// no `1` separator, or upper and lower case mixed.
    #[error(
        "not a well-formed link code (expected `njlink1` followed by bech32 characters, all \
         lowercase or all uppercase); check that it was copied completely"
    )]
    CodeMalformed,

    /// The text is bech32 with a human-readable prefix other than `njlink`
    /// (an Account ID, `nj1…`, is the usual mistake).
    #[error(
        "this is not a link code: it starts with `{0}1`, but link codes start with `njlink1` \
         (an Account ID starts with `nj1`); enter the code the existing device shows"
    )]
    CodeWrongPrefix(String),

    /// The bech32m checksum does not match (a character is wrong, or the
    /// text carries the older bech32 checksum).
    #[error(
        "the link code's checksum does not match: a character is wrong; compare it with the \
         code the existing device shows"
    )]
    CodeChecksum,

    /// The text (whitespace removed) is not 117 characters long.
    #[error(
        "the link code is {chars} characters long, but link codes have exactly 117; check \
         that it was copied completely"
    )]
    CodeLength {
        /// Its length in characters, whitespace removed.
        chars: usize,
    },

    /// The code's first byte is a version this build does not know.
    #[error(
        "the link code has version {0}, which this build does not know; update Nightjar on \
         this device or on the one that showed the code"
    )]
    CodeUnknownVersion(u8),

    /// The account key inside the code is not a valid Ed25519 public key.
    #[error(
        "the link code names an account key that is not a valid Ed25519 public key; the \
         code was not made by Nightjar"
    )]
    CodeInvalidAccount,

    /// A payload to seal is longer than its record allows.
    #[error(
        "the {what} payload is {len} bytes, but at most {max} fit in one record; split it \
         (answers) or shorten it"
    )]
    PayloadTooLarge {
        /// Which record.
        what: &'static str,
        /// The payload's length.
        len: usize,
        /// The most allowed.
        max: usize,
    },

    /// A record is longer than its kind allows.
    #[error("the {what} is {len} bytes, more than the {max}-byte maximum; refuse it")]
    TooLarge {
        /// Which record.
        what: &'static str,
        /// Its length.
        len: usize,
        /// The most allowed.
        max: usize,
    },

    /// A record is shorter than its kind requires (this includes empty input).
    #[error("the {what} is truncated ({len} bytes); it was damaged or is not such a record")]
    Truncated {
        /// Which record.
        what: &'static str,
        /// Its length.
        len: usize,
    },

    /// A record's first byte (its version, or in the account's published
    /// link records its kind: 1 hello, 2 answer) is not the one expected.
    #[error(
        "the {what} starts with byte {got:#04x} instead of {expected:#04x}: it is another kind \
         of record, or from a newer Nightjar"
    )]
    UnexpectedKind {
        /// Which record was expected.
        what: &'static str,
        /// The byte expected.
        expected: u8,
        /// The byte found.
        got: u8,
    },

    /// An answer record names another hello's key `E_X` than this
    /// session's: it belongs to another joining device's session.
    #[error(
        "the link answer belongs to another session (its hello key is not this session's); \
         skip it"
    )]
    OtherSession,

    /// An X25519 agreement gave the all-zero secret: the peer's ephemeral
    /// key has small order.
    #[error(
        "key agreement produced an all-zero secret (the peer's X25519 key has small order); \
         the record is malicious or damaged, refuse it"
    )]
    LowOrderPoint,

    /// Authenticated decryption (or the hello's tag check) failed.
    #[error(
        "the {what} does not authenticate: it was made with another link code or for another \
         session, or it was altered; refuse it"
    )]
    DecryptFailed {
        /// Which record.
        what: &'static str,
    },

    /// The random number generator failed.
    #[error(
        "the random number generator failed ({0}); check that the OS provides getrandom(2) or \
         /dev/urandom and retry"
    )]
    RandomUnavailable(String),
}

impl LinkError {
    /// A failure of the random source (the only error drawing can give).
    pub(crate) fn from_random(e: CryptoError) -> LinkError {
        match e {
            CryptoError::RandomUnavailable(why) => LinkError::RandomUnavailable(why),
            other => LinkError::RandomUnavailable(other.to_string()),
        }
    }
}
