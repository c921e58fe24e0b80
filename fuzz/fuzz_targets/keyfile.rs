//! Fuzzes the key-file decoder, `nightjar_crypto::at_rest::open_seed` (`identity.key`, `node.key`).
//! The body, and what it checks, is `nightjar_fuzzing::keyfile`.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| nightjar_fuzzing::keyfile(data));
