//! Fuzzes `nightjar_wire::Response::from_frame`, the decoder a client runs on
//! every response frame from a node.
//!
//! Checks: decoding arbitrary bytes never panics, and any frame it accepts
//! round-trips: `from_frame(to_frame(r)) == r`, and the re-encoded frame is
//! no larger than `MAX_RESPONSE_FRAME`.
#![no_main]

use libfuzzer_sys::fuzz_target;
use nightjar_wire::{MAX_RESPONSE_FRAME, Response};

fuzz_target!(|data: &[u8]| {
    let Ok(response) = Response::from_frame(data) else {
        return;
    };
    let frame = response.to_frame();
    assert!(
        frame.len() <= MAX_RESPONSE_FRAME,
        "re-encoded response is {} bytes, over MAX_RESPONSE_FRAME",
        frame.len()
    );
    match Response::from_frame(&frame) {
        Ok(again) => assert_eq!(again, response, "response changed across a round trip"),
        Err(e) => panic!("re-encoded response does not decode: {e}"),
    }
});
