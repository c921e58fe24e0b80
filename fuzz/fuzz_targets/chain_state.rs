//! Fuzzes the chain follower's state file (`nightjar_chain::SavedState::decode`, then resuming a follower).
//! The body, and what it checks, is `nightjar_fuzzing::chain_state`.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| nightjar_fuzzing::chain_state(data));
