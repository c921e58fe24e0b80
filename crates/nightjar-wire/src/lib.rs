//! Nightjar's wire messages: what a client and a service node say to each other.
//!
//! This crate turns requests and responses into bytes and back, with every
//! length, range and version checked on the way in. It owns the protocol
//! constants (ALPN, limits, TTL bounds, clock window) and the error codes a node
//! answers with. Each request travels on its own QUIC bidirectional stream as a
//! single *frame*: a 4-byte big-endian length followed by a protobuf message
//! (`docs/PROTOCOL.md`, section "Requests").
//!
//! It is **not** a transport (no sockets, no QUIC: see `nightjar-transport`) and
//! does no cryptography: the bytes a request signature covers are built here
//! ([`RetrieveRequest::signed_data`], [`DeleteRequest::signed_data`]) but signed
//! and checked by `nightjar-crypto`.
//!
//! One module per concept: `limits` (size and count limits, TTL and clock
//! constants), `error` ([`WireError`], [`ErrorCode`]), `request` ([`Request`]
//! and its parts), `response` ([`Response`], [`ResponseBody`] and their
//! parts), `signed` (the bytes signatures and receipts cover, and their
//! labels), `codec` (protobuf conversion and bounded decoding), `framing`
//! (the length prefix) and [`proto`] (the generated protobuf types). Every
//! public item is re-exported here, and so are the keys and records the
//! messages carry ([`AccountKey`], [`MessageHash`], [`NodeKey`],
//! [`MailboxKey`], [`MessageKey`], [`StoredMessage`], [`FullMessage`],
//! [`SyncEntry`], [`Claimant`]) and the namespaces ([`namespace`]), which
//! are `nightjar-types`' and shared with the store.

mod codec;
mod error;
mod framing;
mod limits;
pub mod proto;
mod request;
mod response;
mod signed;

pub use error::{ErrorCode, WireError};
pub use framing::unframe;
pub use limits::*;
pub use nightjar_types::namespace;
pub use nightjar_types::{
    AccountKey, Claimant, FullMessage, MailboxKey, MessageHash, MessageKey, NodeKey, StoredMessage,
    SyncCursor, SyncEntry,
};
pub use request::{
    ClaimRequest, DeleteRequest, OnionRequest, ReplicateRequest, Request, RetrieveRequest,
    StoreRequest,
};
pub use response::{Receipt, Response, ResponseBody, SwarmInfo};
pub use signed::{
    LABEL_DELETE, LABEL_RECEIPT, LABEL_RECEIPT_BATCH, LABEL_RETRIEVE, delete_signed_data,
    receipt_batch_signed_data, receipt_signed_data, retrieve_signed_data,
};
