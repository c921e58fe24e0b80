//! Linking a device: the cryptography by which an account's existing device
//! `X` hands the account (its seed, then history) to a new device `J`,
//! end to end through the account's swarm (`docs/PROTOCOL.md` §17).
//!
//! ```text
//! X: L = 32 random bytes; shows the link code bech32m("njlink", 0x01 ‖ account ‖ L)
//! J: e_J random; request = 0x01 ‖ E_J ‖ AEAD(BLAKE2b-56("…/link-request", L ‖ E_J), payload, aad = 0x01 ‖ E_J)
//! X: e_X random; S = X25519(e_X, E_J)
//!    hello = 0x01 ‖ E_X ‖ tag of AEAD(BLAKE2b-56("…/link-hello", L ‖ S ‖ E_J ‖ E_X), empty, aad = 0x01 ‖ E_X ‖ E_J)
//! both: SAS = u32be(BLAKE2b-32("…/link-sas", L ‖ S ‖ E_J ‖ E_X)[0..4]) mod 10^6, shown as "042 917"
//! X (once the user confirmed the SAS), for i = 0, 1, …:
//!    answer_i = 0x02 ‖ E_X ‖ u32be(i)
//!               ‖ AEAD(BLAKE2b-56("…/link-answer", L ‖ S ‖ E_J ‖ E_X ‖ u32be(i)), payload_i,
//!                      aad = 0x02 ‖ E_X ‖ E_J ‖ u32be(i))
//! ```
//!
//! `J` runs [`LinkCode::parse`], [`seal_request_with`],
//! [`JoinerState::open_hello`] and [`JoinerSession::open_answer`]; `X` runs
//! [`LinkCode::generate_with`], [`open_request`], [`answer_hello_with`] and
//! [`LinkerState::seal_answer`]. Every key, nonce and tag is keyed BLAKE2b,
//! X25519 and XChaCha20-Poly1305-IETF, so libsodium recomputes all of it
//! (`test-vectors/link.json`, `test-vectors/check_link.py`).
//!
//! Not for: storing or fetching the records (the client stores the request
//! unsigned in the account's namespace `0xFE00` and publishes the hello and
//! answers as the account's signed records in `0xFF02`, whose signatures
//! `J` must check against the code's account key: see
//! [`crate::published`]), the payloads' formats, the user interface, or any
//! state kept across restarts. Randomness is always passed in
//! (`…_with`); nothing here does I/O.

mod code;
mod error;
mod records;
#[cfg(test)]
mod tests;

pub use code::{
    LINK_CODE_HRP, LINK_CODE_LEN, LINK_CODE_VERSION, LINK_SECRET_LEN, LinkCode, LinkSecret,
};
pub use error::LinkError;
pub use records::{
    ANSWER_KIND, ANSWER_OVERHEAD, HELLO_KIND, HELLO_LEN, JoinerSession, JoinerState, LinkerState,
    MAX_ANSWER_LEN, MAX_ANSWER_PAYLOAD, MAX_REQUEST_LEN, MAX_REQUEST_PAYLOAD, REQUEST_OVERHEAD,
    REQUEST_VERSION, SAS_MODULUS, Sas, answer_hello_with, open_request, seal_request_with,
};
