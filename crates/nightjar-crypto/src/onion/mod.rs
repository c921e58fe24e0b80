//! Onion layers, version 1: a request wrapped once per hop of a path of
//! service nodes, so that each node learns only its neighbours, and the
//! answer wrapped back once per hop on the way home.
//!
//! This module builds and opens the *bytes* of onion layers and onion
//! responses. It is **not** a router: it does no I/O, picks no paths (see
//! [`crate::identity::random_index`] for the randomness clients use to pick
//! them), keeps no state between calls, and does not know the wire format of
//! the request frame it carries (`nightjar-wire` does; checking that the inner
//! frame is not itself an onion request is the caller's job). It gives no
//! protection against a global observer timing packets, and a path's nodes
//! see the packet sizes (which the buckets below make coarse).
//!
//! # Keys of one hop
//!
//! ```text
//! N_i  = node i's Ed25519 key;  Y_i = ed25519_pk_to_curve25519(N_i)
//! e_i  = 32 random bytes;  E_i = X25519(e_i, 9);  S_i = X25519(e_i, Y_i)  (≠ 0)
//! q    = BLAKE2b(outlen 56, key "nightjar/v1/onion-request",  S_i ‖ E_i ‖ Y_i)
//! r    = BLAKE2b(outlen 56, key "nightjar/v1/onion-response", S_i ‖ E_i ‖ Y_i)
//! req  = (q[0..32], q[32..56]);  resp = (r[0..32], r[32..56])
//! aad  = 0x01 ‖ E_i    (both directions)
//! ```
//!
//! # Request layers (built destination first)
//!
//! ```text
//! D       = u32be(|F|) ‖ F ‖ 0x00…   padded to the smallest REQUEST_BUCKETS ≥ 4 + |F|
//! P_{n-1} = 0x01 ‖ 0x02 ‖ D                                         (deliver)
//! P_i     = 0x01 ‖ 0x01 ‖ N_{i+1} ‖ E_{i+1} ‖ u32be(timeout_ms_i) ‖ L_{i+1}   (forward)
//! L_i     = XChaCha20-Poly1305-IETF(req key_i, req nonce_i, P_i, aad_i)
//! ```
//!
//! # Response layers (built destination first, on the way back)
//!
//! ```text
//! destination: R = 0x01 ‖ 0x02 ‖ D'   D' = u32be(|G|) ‖ G ‖ 0x00… to a RESPONSE_BUCKETS size
//! relay i:     R = 0x01 ‖ 0x01 ‖ B_{i+1}
//! relay error: R = 0x01 ‖ 0x03 ‖ code ‖ 0x00 × (HOP_ERROR_PAD − 1)
//! B_i = XChaCha20-Poly1305-IETF(resp key_i, resp nonce_i, R, aad_i)
//! ```
//!
//! Each ephemeral key carries exactly one request and one response, so the
//! derived nonces are never reused. `docs/PROTOCOL.md` ("Onion routing") is
//! the normative text; `test-vectors/onion.json` holds byte-exact vectors.
//!
//! One file per concept: `layout` (version, kinds, buckets, sizes,
//! padding), `error` ([`OnionError`], [`HopFailure`]), `keys` (the hop KDF
//! and sealing), `build` (the client builds a packet), `peel` (a node peels
//! its layer), `reply` (a node answers, exactly once) and `open` (the client
//! opens the answer).

mod build;
mod error;
mod keys;
pub(crate) mod layout;
mod open;
mod peel;
mod reply;
#[cfg(test)]
mod tests;

pub use build::{OnionPacket, build, build_with, build_with_ephemerals};
pub use error::{HopFailure, OnionError};
// The bound's unit tests check its own KDF against this one.
#[cfg(all(feature = "bench", test))]
pub(crate) use keys::hop_key_material;
pub use layout::{
    FORWARD_OVERHEAD, HOP_ERROR_PAD, MAX_HOPS, MAX_LAYER_LEN, MAX_REQUEST_FRAME_LEN,
    MAX_RESPONSE_FRAME_LEN, ONION_VERSION, REQUEST_BUCKETS, RESPONSE_BUCKETS,
};
pub use open::ReturnKeys;
pub use peel::{Peeled, peel};
pub use reply::ReplyKey;
