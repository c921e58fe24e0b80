//! Fuzzes `nightjar_wire::Response::from_frame` (what a client reads back from a node).
//! The body, and what it checks, is `nightjar_fuzzing::response_frame`.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| nightjar_fuzzing::response_frame(data));
