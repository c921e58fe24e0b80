//! Fuzzes a client profile's `history.sqlite` and its sealed history records.
//! The body, and what it checks, is `nightjar_fuzzing::profile_files`.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| nightjar_fuzzing::profile_files(data));
