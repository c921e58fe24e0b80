//! Fuzzes `AccountId::from_str` and `Identity::from_mnemonic` (text users paste or type).
//! The body, and what it checks, is `nightjar_fuzzing::account_text`.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| nightjar_fuzzing::account_text(data));
