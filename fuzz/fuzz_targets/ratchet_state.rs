//! Fuzzes `nightjar_ratchet::Session::from_bytes` (every saved session a
//! client reads back).
//! The body, and what it checks, is `nightjar_fuzzing::ratchet_state`.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| nightjar_fuzzing::ratchet_state(data));
