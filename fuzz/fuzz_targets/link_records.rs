//! Fuzzes `nightjar_crypto::link`'s decoders: `LinkCode::parse`,
//! `open_request`, `JoinerState::open_hello` and `JoinerSession::open_answer`.
//! The body, and what it checks, is `nightjar_fuzzing::link_records`.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| nightjar_fuzzing::link_records(data));
