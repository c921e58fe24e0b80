//! Fuzzes `nightjar_crypto::envelope::open` (every message a client fetches).
//! The body, and what it checks, is `nightjar_fuzzing::envelope_open`.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| nightjar_fuzzing::envelope_open(data));
