//! Fuzzes the client's messages-v2 decoders: `ContentV2::decode`,
//! `SessionSet::decode`, the link payloads (`JoinInfo::decode`,
//! `decode_first_answer`, `decode_history_chunk`), `decode_known_devices` and
//! `ContactBook::decode`.
//! The body, and what it checks, is `nightjar_fuzzing::client_v2_records`.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| nightjar_fuzzing::client_v2_records(data));
