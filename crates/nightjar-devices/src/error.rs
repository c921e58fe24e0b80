//! [`DeviceError`], the one error type of this crate.

use nightjar_crypto::CryptoError;

/// Why a device record could not be built, read or adopted.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum DeviceError {
    /// A record is larger than its format allows (checked before decoding).
    #[error("{what} is {got} bytes, more than the {max} bytes allowed")]
    TooLarge {
        /// Which record.
        what: &'static str,
        /// Its size.
        got: usize,
        /// The limit.
        max: usize,
    },
    /// A record does not decode, or a field breaks the format's rules.
    #[error("invalid {what}: {why}")]
    Invalid {
        /// Which record or field.
        what: &'static str,
        /// What is wrong with it.
        why: String,
    },
    /// The record has a format version this software does not read.
    #[error("{what} has format {got}, this software reads format 1; update Nightjar")]
    UnsupportedFormat {
        /// Which record.
        what: &'static str,
        /// The version it carries.
        got: u32,
    },
    /// A device list older than (or as old as, but different from) the one
    /// already adopted.
    #[error(
        "device list version {offered} is not newer than the adopted version {adopted}; keeping the adopted one"
    )]
    Stale {
        /// The version offered.
        offered: u64,
        /// The version already adopted.
        adopted: u64,
    },
    /// The list cannot take another device.
    #[error(
        "this account already has {0} live devices, the most a device list may hold; remove one first (`nightjar device remove`)"
    )]
    TooManyDevices(usize),
    /// No device with that ID is live in the list.
    #[error("no live device {0} in this account's device list; see `nightjar device list`")]
    UnknownDevice(String),
    /// A key or randomness failure from the crypto crate.
    #[error(transparent)]
    Crypto(#[from] CryptoError),
}
