//! Fuzzes the chain follower's decoder of registry contract logs (`nightjar_chain::events::decode_event`).
//! The body, and what it checks, is `nightjar_fuzzing::chain_log`.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| nightjar_fuzzing::chain_log(data));
