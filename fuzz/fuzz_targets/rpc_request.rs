//! Fuzzes `nightjar_rpc::decode_request` (every line a local client writes to the daemon's socket).
//! The body, and what it checks, is `nightjar_fuzzing::rpc_request`.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| nightjar_fuzzing::rpc_request(data));
