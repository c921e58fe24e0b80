//! Fuzzes `nightjar_ratchet::message::Message::decode` and `Session::decrypt`
//! (every later message of a messages-v2 session).
//! The body, and what it checks, is `nightjar_fuzzing::ratchet_message`.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| nightjar_fuzzing::ratchet_message(data));
