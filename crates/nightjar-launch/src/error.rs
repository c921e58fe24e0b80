//! The crate's one error type.

use std::net::{IpAddr, SocketAddr};
use std::path::PathBuf;
use std::process::ExitStatus;
use std::time::Duration;

/// Why a node process could not be found, prepared, started, checked or measured.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum LaunchError {
    /// The path of the running executable is unknown (needed to look for
    /// `nightjar-node` beside it).
    #[error("cannot locate the current executable: {0}")]
    CurrentExe(#[source] std::io::Error),
    /// No `nightjar-node` in any place looked at.
    #[error(
        "nightjar-node not found {searched}; build it (`cargo build --release --bin nightjar-node`) or set NIGHTJAR_NODE_BIN"
    )]
    BinaryNotFound {
        /// Where it was looked for, as a phrase ("next to … or on PATH").
        searched: String,
    },
    /// An explicitly named node binary does not exist (or is not a file).
    #[error("node binary {0} does not exist")]
    BinaryMissing(PathBuf),
    /// The OS gave no free port.
    #[error("no free {protocol} port on {ip}: {source}")]
    NoFreePort {
        /// `UDP` or `TCP`.
        protocol: &'static str,
        /// The address a port was asked for.
        ip: IpAddr,
        /// What the OS said.
        #[source]
        source: std::io::Error,
    },
    /// A file or directory could not be read or written.
    #[error("cannot {action} {path}: {source}")]
    Io {
        /// What was being done ("write", "create", "read", "open").
        action: &'static str,
        /// The file or directory.
        path: PathBuf,
        /// What the OS said.
        #[source]
        source: std::io::Error,
    },
    /// The node's key file could not be written or read.
    #[error(transparent)]
    Keystore(#[from] nightjar_keystore::KeystoreError),
    /// A key file already holds another node's identity; it is never overwritten.
    #[error("the key file {path} holds node {found}, not {expected}; refusing to overwrite it")]
    KeyMismatch {
        /// The key file.
        path: PathBuf,
        /// The node ID (hex) in the file.
        found: String,
        /// The node ID (hex) that was to be written.
        expected: String,
    },
    /// The process could not be started.
    #[error("cannot start {binary}: {source}")]
    Spawn {
        /// The executable.
        binary: PathBuf,
        /// What the OS said.
        #[source]
        source: std::io::Error,
    },
    /// Waiting for the child process failed.
    #[error("cannot check on {label}: {source}")]
    Wait {
        /// Which node.
        label: String,
        /// What the OS said.
        #[source]
        source: std::io::Error,
    },
    /// No QUIC endpoint to ask the node whether it is ready.
    #[error("cannot open a QUIC endpoint to check on the node: {0}")]
    Endpoint(#[source] nightjar_transport::TransportError),
    /// The process exited before it answered `info`.
    #[error("{label} exited ({status}) before answering (log {log}):\n{tail}")]
    Exited {
        /// Which node.
        label: String,
        /// How it ended.
        status: ExitStatus,
        /// Its log file.
        log: PathBuf,
        /// The last lines of the log.
        tail: String,
    },
    /// The process kept running but did not answer `info` before the deadline.
    #[error("{label} did not answer at {addr} within {timeout:?} (log {log}):\n{tail}")]
    NotReady {
        /// Which node.
        label: String,
        /// The QUIC address asked.
        addr: SocketAddr,
        /// How long it was given.
        timeout: Duration,
        /// Its log file.
        log: PathBuf,
        /// The last lines of the log.
        tail: String,
    },
    /// A node's ports file (see [`crate::PortsFile`]) could not be parsed.
    #[error("ports file {path}: {reason}")]
    PortsFile {
        /// The file.
        path: PathBuf,
        /// What is wrong with it.
        reason: String,
    },
    /// The launch names port 0 but no ports file, so the node's address
    /// cannot be known.
    #[error("{label} has port 0 and no ports file: its address cannot be known")]
    UnknownAddress {
        /// Which node.
        label: String,
    },
    /// A node did not serve the expected registry before the deadline.
    #[error(
        "the node at {addr} did not serve registry height {height} within {timeout:?} (last: {last})"
    )]
    RegistryNotServed {
        /// The node's QUIC address.
        addr: SocketAddr,
        /// The height waited for.
        height: u64,
        /// How long it was given.
        timeout: Duration,
        /// What it answered last (or why it did not).
        last: String,
    },
    /// A `/proc` file did not have the expected form (or the process is gone).
    #[error("{path}: {reason}")]
    Proc {
        /// The file.
        path: PathBuf,
        /// What was wrong.
        reason: String,
    },
}
