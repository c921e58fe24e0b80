//! Fuzzes `nightjar_ratchet::message::InitialMessage::decode` and `Session::respond`
//! (every initial message of messages v2 a device answers).
//! The body, and what it checks, is `nightjar_fuzzing::ratchet_initial`.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| nightjar_fuzzing::ratchet_initial(data));
