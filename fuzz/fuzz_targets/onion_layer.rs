//! Fuzzes `nightjar_crypto::onion::peel` (every onion request a node relays)
//! and `ReturnKeys::open` (every onion answer a client reads). The body, and
//! what it checks, is `nightjar_fuzzing::onion_layer`.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| nightjar_fuzzing::onion_layer(data));
