//! Fuzzes circuit cells as a node and a client decode them (cell header,
//! create layers, the relay's table, backward layers). The body, and what it
//! checks, is `nightjar_fuzzing::circuit_cell`.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| nightjar_fuzzing::circuit_cell(data));
