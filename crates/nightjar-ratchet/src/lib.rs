//! Nightjar messages v2: end-to-end encryption between two *devices* with
//! forward secrecy, post-compromise security and deniability, post-quantum
//! included (`docs/PROTOCOL.md` §14–§15).
//!
//! - [`pqxdh`]: the PQXDH-style hybrid handshake (X25519 + ML-KEM-768)
//!   that starts a session from the responder device's prekey bundle, so
//!   the first message can reach an offline device; the [`PrekeyStore`]
//!   trait where a responder keeps its prekey secrets, and an in-memory
//!   implementation;
//! - [`ratchet`]: the Double Ratchet with header encryption and a
//!   post-quantum step (every DH ratchet step also encapsulates to the peer's
//!   latest ML-KEM key, mixed into the root key), bounded skipped keys;
//! - [`Session`]: one end of a session — [`Session::initiate`],
//!   [`Session::respond`], [`Session::encrypt`], [`Session::decrypt`], and the
//!   whole state as versioned bytes ([`Session::to_bytes`],
//!   [`Session::from_bytes`]) for the client to store encrypted at rest;
//! - [`message`]: the wire layouts of the initial message and the ratchet
//!   message, with size-limited decoders;
//! - [`RatchetError`]: the one error type.
//!
//! Every primitive comes from `nightjar-crypto` (its `dh`, `kem` and `kdf`
//! modules); nothing here names a cryptography crate. No signature covers
//! content: authentication comes from the handshake's DH outputs and the
//! associated data, so a transcript proves nothing to a third party.
//!
//! What it is **not** for: it does no I/O, reads no clock and stores
//! nothing — the caller passes randomness ([`nightjar_crypto::RandomSource`]),
//! keeps the prekey secrets behind [`PrekeyStore`] and saves each session's
//! bytes. It does not fetch or verify prekey bundles, device lists or their
//! signatures, does not pad plaintexts, and does not seal the sender
//! (envelope v2): the client does those around it.

#![forbid(unsafe_code)]

mod codec;
mod error;
pub mod message;
pub mod pqxdh;
pub mod ratchet;
mod session;

pub use error::RatchetError;
pub use message::{MAX_MESSAGE_LEN, MAX_PLAINTEXT_LEN};
pub use pqxdh::{InMemoryPrekeyStore, PrekeyBundle, PrekeyStore};
pub use session::{MAX_STATE_LEN, Role, STATE_VERSION, Session};
