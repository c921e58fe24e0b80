//! Fuzzes the split of a received UDP batch into circuit cells and QUIC
//! datagrams. The body, and what it checks, is `nightjar_fuzzing::cell_demux`.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| nightjar_fuzzing::cell_demux(data));
