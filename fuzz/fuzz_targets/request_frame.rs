//! Fuzzes `nightjar_wire::Request::from_frame` (what a node reads from every stream).
//! The body, and what it checks, is `nightjar_fuzzing::request_frame`.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| nightjar_fuzzing::request_frame(data));
