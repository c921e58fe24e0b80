//! Fuzzes the decoders of a device's published records (device list, prekey
//! bundle, one-time prekey). The body, and what it checks, is
//! `nightjar_fuzzing::device_records`.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| nightjar_fuzzing::device_records(data));
