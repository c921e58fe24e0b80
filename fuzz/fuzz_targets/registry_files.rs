//! Fuzzes `Registry::from_toml` and `NetworkFile::from_toml` (`registry.toml`, `network.toml`).
//! The body, and what it checks, is `nightjar_fuzzing::registry_files`.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| nightjar_fuzzing::registry_files(data));
