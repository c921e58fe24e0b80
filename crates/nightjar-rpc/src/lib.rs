//! Nightjar's local JSON-RPC 2.0 interface, the contract between
//! `nightjar daemon` and the programs that talk to it (the one-shot CLI, the
//! TUI, scripts and bots).
//!
//! Transport: a Unix stream socket `PROFILE/daemon.sock` ([`socket_path`]),
//! one JSON object per `'\n'`-terminated line of at most [`MAX_LINE`] bytes,
//! as signal-cli's socket mode does. This crate holds:
//!
//! - the wire types: [`Request`], [`Id`], [`ErrorObject`] (with the error
//!   codes), [`Notification`], and the encoders of response, request and
//!   notification lines;
//! - [`decode_request`]: the sans-IO decoder the daemon runs on every line
//!   it reads (size-limited, fuzzed by the `rpc_request` target), and
//!   [`decode_incoming`], the client's decoder of what the daemon writes;
//! - [`read_line`]: reading one line with the size limit from any async
//!   reader;
//! - [`methods`]: every method's name, parameters and result, and the
//!   `message` notification, as serde structs;
//! - [`RpcClient`]: an async client whose background task routes responses
//!   by id and notifications to a channel.
//!
//! What it is **not** for: no daemon logic (what a method does lives in
//! `nightjar-daemon`), no profile, network or cryptography, and no
//! transport other than a local Unix socket.

#![forbid(unsafe_code)]

mod client;
mod framing;
pub mod methods;
mod wire;

use std::path::{Path, PathBuf};

pub use client::RpcClient;
pub use framing::{LineRead, read_line};
pub use wire::{
    ErrorObject, Id, Incoming, Notification, Request, decode_incoming, decode_request,
    notification_line, request_line, response_line,
};

/// The longest line either side accepts, in bytes, without its `'\n'`.
pub const MAX_LINE: usize = 1 << 20;

/// JSON-RPC 2.0: invalid JSON.
pub const PARSE_ERROR: i64 = -32700;
/// JSON-RPC 2.0: not a valid request object (also: a batch, refused here).
pub const INVALID_REQUEST: i64 = -32600;
/// JSON-RPC 2.0: no such method.
pub const METHOD_NOT_FOUND: i64 = -32601;
/// JSON-RPC 2.0: the parameters do not fit the method.
pub const INVALID_PARAMS: i64 = -32602;
/// Application error: the network or the client failed (message = the error chain).
pub const CLIENT_FAILURE: i64 = -32000;
/// Application error: not found (an unknown contact, device, subscription).
pub const NOT_FOUND: i64 = -32001;
/// Application error: refused by the daemon's rules (a duplicate contact name…).
pub const REFUSED: i64 = -32002;

/// The daemon's socket in a profile directory: `PROFILE/daemon.sock`.
pub fn socket_path(profile_dir: &Path) -> PathBuf {
    profile_dir.join("daemon.sock")
}

/// The lock a daemon (or a one-shot command) holds on a profile:
/// `PROFILE/daemon.lock`, which holds the holder's pid.
pub fn lock_path(profile_dir: &Path) -> PathBuf {
    profile_dir.join("daemon.lock")
}

/// What can go wrong talking to a daemon.
#[derive(Debug, thiserror::Error)]
pub enum RpcError {
    /// The socket could not be reached, read or written.
    #[error("daemon socket: {0}")]
    Io(#[from] std::io::Error),
    /// The daemon answered with an error object.
    #[error("{}", .0.message)]
    Remote(ErrorObject),
    /// The daemon wrote something this client does not understand.
    #[error("daemon protocol error: {0}")]
    Protocol(String),
    /// The connection closed before the answer came.
    #[error("the daemon closed the connection")]
    Closed,
}
