//! The client's one error type, [`ClientError`].
//!
//! Not here: which errors are worth trying another swarm member for (see
//! [`crate::failover::is_worth_another_node`]).

use std::net::SocketAddr;
use std::path::PathBuf;

use nightjar_crypto::onion::{HopFailure, OnionError};
use nightjar_wire::ErrorCode;

use crate::paths::PathError;

/// What went wrong on the client side.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ClientError {
    /// No profile in that directory: run `nightjar account create` or `restore` first.
    #[error("no account in profile {0}; create or restore one first")]
    NoProfile(PathBuf),
    /// The directory already holds an account.
    #[error("profile {0} already holds an account; use another --profile")]
    ProfileExists(PathBuf),
    /// A file could not be read or written.
    #[error("{path}: {source}")]
    Io {
        /// The file.
        path: PathBuf,
        /// Why.
        #[source]
        source: std::io::Error,
    },
    /// The key file could not be used.
    #[error(transparent)]
    Keystore(#[from] nightjar_keystore::KeystoreError),
    /// The local history database failed.
    #[error("history database ({what}): {source}")]
    History {
        /// The operation.
        what: &'static str,
        /// The SQLite error.
        #[source]
        source: rusqlite::Error,
    },
    /// The history database is from a newer version of Nightjar.
    #[error("history database has schema version {0}, newer than this build; upgrade Nightjar")]
    UnsupportedHistory(i64),
    /// A cryptographic operation failed (e.g. a damaged history record).
    #[error(transparent)]
    Crypto(#[from] nightjar_crypto::CryptoError),
    /// A message could not be sealed.
    #[error(transparent)]
    Envelope(#[from] nightjar_crypto::EnvelopeError),
    /// The network or registry file is unusable.
    #[error(transparent)]
    Registry(#[from] nightjar_registry::RegistryError),
    /// The node could not be reached.
    #[error("node {addr}: {source}")]
    Transport {
        /// The node's address.
        addr: SocketAddr,
        /// What failed.
        #[source]
        source: nightjar_transport::TransportError,
    },
    /// The node refused the request.
    #[error("node refused the request: {code}: {message}")]
    Refused {
        /// The node's error code.
        code: ErrorCode,
        /// The node's explanation.
        message: String,
    },
    /// The node answered something that does not fit the request.
    #[error("protocol error: {0}")]
    Protocol(String),
    /// The message is invalid before anything is sent (empty, too long, bad TTL).
    #[error("invalid message: {0}")]
    InvalidMessage(String),
    /// No onion path can be built (too few nodes in the registry, or no guards).
    #[error("no onion path: {0}")]
    NoPath(#[from] PathError),
    /// A hop of the onion path (0 = guard, 3 = destination) failed.
    #[error("hop {hop} of the onion path failed: {failure}")]
    HopFailed {
        /// Which hop.
        hop: usize,
        /// How it failed, as the hop before it reported.
        failure: HopFailure,
    },
    /// An onion request could not be built or its answer read.
    #[error("onion: {0}")]
    Onion(#[from] OnionError),
    /// This device was removed from its account's device list: nothing is
    /// sent to it any more, and it may not send as the account.
    #[error(
        "this device was removed from its account; restore the account from its recovery phrase \
         to make a new device"
    )]
    DeviceRemoved,
    /// A contact could not be added, removed or found.
    #[error(transparent)]
    Contact(#[from] crate::contacts::ContactError),
    /// The destination did not answer through any path tried.
    #[error("the destination node did not answer through any onion path; try later")]
    DestinationUnreachable,
}
