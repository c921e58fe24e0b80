//! Fuzzes `nightjar_crypto::sealed_sender::open_v2` (a v2 envelope, opened
//! with a fixed recipient device key) and the client's reading of what opens.
//! The body, and what it checks, is `nightjar_fuzzing::envelope_v2_open`.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| nightjar_fuzzing::envelope_v2_open(data));
