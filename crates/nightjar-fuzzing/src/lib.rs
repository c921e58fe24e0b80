//! The bodies of Nightjar's fuzz targets: one function per target, each
//! taking the fuzzer's bytes, `pub fn TARGET(data: &[u8])`.
//!
//! Each function feeds the bytes to one decoder of outside input (a wire
//! frame, an envelope of version 1 or 2, an onion layer, a messages-v2
//! initial or ratchet message, a saved v2 session, a device link's code and
//! records, the client's v2 contents, stored sessions, device-list cache and
//! link payloads, a TOML file, a key file, a profile's files, a chain log,
//! the chain follower's state file, a JSON-RPC request line of the daemon), and when
//! the decoder accepts them checks what must then hold: the value re-encodes
//! and decodes back to itself, related decoders agree, an altered ciphertext
//! never opens. Bad input must only ever give an `Err`; **a panic in here is a
//! finding** (a decoder panicked, or an invariant broke).
//!
//! Two users call them:
//! - `fuzz/` (cargo-fuzz, libFuzzer, nightly): each `fuzz/fuzz_targets/*.rs`
//!   is one line calling the function of the same name;
//! - `tests/replay_corpora.rs` here: `cargo test` runs every function on
//!   every file of `fuzz/corpus/TARGET/` (the committed seed corpora) and
//!   `fuzz/regressions/TARGET/`, so CI replays the corpora on stable.
//!
//! [`TARGETS`] lists them all by name.
//!
//! Not for: production code (nothing here is a decoder of its own, and
//! `publish = false`), property tests of one crate's logic (those live beside
//! the code), or anything that needs the network. `examples/write_seed_corpora.rs`
//! regenerates the valid inputs of the seed corpora with the real encoders.

mod account;
mod chain;
mod circuit;
mod client_v2;
mod demux;
mod devices;
mod envelope;
mod envelope_v2;
mod keyfile;
mod link;
mod mask;
mod node_config;
mod onion;
mod profile;
mod ratchet;
mod registry;
mod rpc;
mod wire;

pub use account::account_text;
pub use chain::{
    CHAIN_LOG_CHAIN_ID, CHAIN_LOG_CONTRACT, chain_log, chain_log_input, chain_log_parts,
    chain_state,
};
pub use circuit::{CIRCUIT_NODE_SEEDS, circuit_cell, circuit_reference_create};
pub use client_v2::client_v2_records;
pub use demux::{cell_demux, cell_demux_has_cell};
pub use devices::device_records;
pub use envelope::{ENVELOPE_RECIPIENT_SEED, envelope_open};
pub use envelope_v2::{
    ENVELOPE_V2_RECIPIENT_SEED, ENVELOPE_V2_SENDER_SEED, EnvelopeV2Fixture, envelope_v2_fixture,
    envelope_v2_open, envelope_v2_receive,
};
pub use keyfile::keyfile;
pub use link::{
    LINK_ACCOUNT_SEED, LINK_ANSWER_PAYLOADS, LINK_CODE_SECRET, LinkFixture, link_fixture,
    link_records,
};
pub use node_config::node_config;
pub use onion::{ONION_INNER_FRAME, ONION_NODE_SEEDS, onion_layer, onion_reference_packet};
pub use profile::{
    HISTORY_AAD_LABEL, PROFILE_SEED, PROFILE_STATE_KEYS, profile_files,
    profile_history_record_blob, profile_identity,
};
pub use ratchet::{
    RATCHET_CONTEXT, RatchetFixture, ratchet_fixture, ratchet_initial, ratchet_message,
    ratchet_state,
};
pub use registry::registry_files;
pub use rpc::rpc_request;
pub use wire::{RECEIPT_NODE_SEED, request_frame, response_frame, store_receipt};

/// A fuzz target's body.
pub type Target = fn(&[u8]);

/// Every target, by its name in `fuzz/Cargo.toml` and `fuzz/corpus/`.
pub const TARGETS: &[(&str, Target)] = &[
    ("request_frame", request_frame),
    ("response_frame", response_frame),
    ("envelope_open", envelope_open),
    ("registry_files", registry_files),
    ("keyfile", keyfile),
    ("account_text", account_text),
    ("node_config", node_config),
    ("profile_files", profile_files),
    ("onion_layer", onion_layer),
    ("chain_log", chain_log),
    ("chain_state", chain_state),
    ("device_records", device_records),
    ("ratchet_initial", ratchet_initial),
    ("ratchet_message", ratchet_message),
    ("ratchet_state", ratchet_state),
    ("link_records", link_records),
    ("envelope_v2_open", envelope_v2_open),
    ("client_v2_records", client_v2_records),
    ("store_receipt", store_receipt),
    ("rpc_request", rpc_request),
    ("circuit_cell", circuit_cell),
    ("cell_demux", cell_demux),
];
