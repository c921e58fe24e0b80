//! Fuzzes a `Stored` answer's batched receipts as an entry node verifies them
//! (`Response::from_frame`, then `receipt_verifies`). The body, and what it
//! checks, is `nightjar_fuzzing::store_receipt`.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| nightjar_fuzzing::store_receipt(data));
