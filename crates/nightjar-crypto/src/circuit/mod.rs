//! Circuits: a path of service nodes set up once with one key agreement per
//! hop, then used for many requests whose cells each hop decrypts or
//! encrypts with a symmetric key only (`docs/PROTOCOL.md` §11.10–11.12).
//!
//! This module holds the bytes: the cell layout ([`Cell`]), the keys of a
//! hop ([`HopKeys`]) and of the client ([`CircuitKeys`]), building and
//! peeling the `create` layers, sealing and opening data layers, the replay
//! window ([`ReplayWindow`]) and the exit's payloads (fragments of a padded
//! request or response, *created*, errors).
//!
//! It is **not** a relay or a client: it keeps no circuit tables, sends
//! nothing, reads no clock and picks no paths (`nightjar-node`'s and
//! `nightjar-client`'s `circuit` modules do). `test-vectors/circuit.json`
//! holds byte-exact vectors, checked with libsodium by
//! `test-vectors/check_circuit.py`.
//!
//! One file per concept: `layout` (constants and the cell codec), `error`,
//! `keys` (the KDF and a direction's key), `create` (building and peeling
//! create layers), `data` (data layers, both sides), `replay` (the window),
//! `payload` (the exit's plaintext and fragmentation).

mod create;
mod data;
mod error;
mod keys;
mod layout;
mod payload;
mod replay;
#[cfg(test)]
mod tests;

pub use create::{
    CreatePacket, CreatePeeled, build_create, build_create_with_ephemerals, peel_create,
};
pub use data::{Backward, CircuitKeys};
pub use error::CircuitError;
pub use keys::HopKeys;
pub use layout::{
    CELL_BACKWARD, CELL_CREATE, CELL_DESTROY, CELL_FORWARD, CELL_HEADER_LEN, CELL_LEN,
    CREATE_HEADER_LEN, Cell, CircuitId, DestroyReason, MAX_CIRCUIT_RESPONSE_BUCKET,
    RELAY_ERROR_LEN, destroy_cell, payload_len,
};
pub use payload::{
    FRAGMENT_HEADER_LEN, MAX_FRAGMENTS, Payload, PayloadKind, Reassembly, created_payload,
    error_payload, fragments, pad_request, pad_response, unpad_request, unpad_response,
};
pub use replay::{REPLAY_WINDOW, ReplayWindow};
