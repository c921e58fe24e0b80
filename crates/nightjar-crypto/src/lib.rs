//! Cryptography for Nightjar, an end-to-end-encrypted messenger.
//!
//! This crate is the **only** crate of the workspace that names primitive
//! cryptography crates (ed25519-dalek, x25519-dalek, aws-lc-rs for X25519
//! and the onion layers' ChaCha20-Poly1305, chacha20 for HChaCha20,
//! chacha20poly1305, blake2, libcrux-ml-kem for ML-KEM-768, argon2, bip39,
//! bech32). Everything else uses the Nightjar-level operations it exports:
//!
//! - [`identity`]: seeds, 24-word recovery phrases, Ed25519 identities,
//!   `nj1…` Account IDs, labelled signatures and uniform random choice
//!   ([`random_index`]);
//! - [`envelope`]: sealing and opening end-to-end-encrypted message
//!   envelopes (version 1);
//! - [`sealed_sender`]: envelopes version 2, a messages-v2 ratchet message
//!   sealed to one recipient device without naming the sender to nodes, and
//!   the account's certificate of a device key;
//! - [`onion`]: building, peeling and answering onion layers (version 1),
//!   which carry a request through a path of service nodes;
//! - [`hash`]: message hashes, ring positions, the registry snapshot hash
//!   and constant-time comparison;
//! - [`at_rest`]: the local-storage cipher and the key file that stores the
//!   seed;
//! - [`registration`]: the node key's proof of possession for the on-chain
//!   node registry (the message a node key signs to be registered, and its
//!   verification by followers);
//! - [`dh`]: X25519 key pairs that are not an account identity (device
//!   identity keys, prekeys, ephemerals, ratchet keys) and their agreement;
//! - [`kdf`]: the key schedule of messages v2 (the handshake's derivation,
//!   the ratchet's root and chain KDFs, header and message AEAD);
//! - [`kem`]: ML-KEM-768 (FIPS 203) key pairs, encapsulation and
//!   decapsulation, deterministic forms for test vectors;
//! - [`published`]: published records (`sig ‖ body`, the account's
//!   labelled signature over account, namespace and body): signing one and
//!   checking it, as the service node does before it stores one;
//! - [`link`]: linking a device (the link code, the joining device's
//!   request, the existing device's hello and answers, the short
//!   authentication string both show);
//! - [`receipt_tree`]: the Merkle tree of a node's batched store receipts
//!   (one signature per batch; each stored message's inclusion proof);
//! - [`labels`]: every domain-separation label in use;
//! - [`random`]: the [`RandomSource`] every randomised operation can take
//!   (`…_with` variants), the OS generator [`OsRandom`] and the deterministic
//!   [`SeededRandom`] for simulations and tests.
//!
//! What it is **not** for: it does no I/O (no files, sockets, clocks or
//! logging — callers read and write the bytes), it holds no state, and it
//! defines no network protocol beyond the byte layouts documented here.
//!
//! Every construction can be reproduced with libsodium (Ed25519,
//! Ed25519→X25519 conversion, X25519, keyed BLAKE2b with explicit output
//! length, XChaCha20-Poly1305-IETF and Argon2id v1.3) plus, for messages v2,
//! any FIPS 203 ML-KEM-768; `test-vectors/` at the workspace root holds
//! vectors, the NIST ML-KEM known-answer tests and independent checkers
//! (libsodium through PyNaCl, and `kyber-py` for ML-KEM).

#![forbid(unsafe_code)]

pub mod at_rest;
#[cfg(feature = "bench")]
pub mod bound;
pub mod circuit;
pub mod dh;
pub mod envelope;
mod error;
pub mod hash;
pub mod identity;
pub mod kdf;
pub mod kem;
pub mod labels;
pub mod link;
pub mod onion;
pub mod published;
pub mod random;
pub mod receipt_tree;
pub mod registration;
pub mod sealed_sender;
mod xchacha;

pub use error::{CryptoError, EnvelopeError};
pub use identity::random_index;
pub use link::LinkError;
pub use onion::OnionError;
pub use random::{OsRandom, RandomSource, SeededRandom, random_index_with};
