//! Fuzzes `nightjar_wire::Request::from_frame`, the decoder a node runs on
//! every request frame from the network.
//!
//! Checks: decoding arbitrary bytes never panics, and any frame it accepts
//! round-trips: `from_frame(to_frame(r)) == r`, and the re-encoded frame is
//! no larger than `MAX_REQUEST_FRAME` (what we send, we must also accept).
#![no_main]

use libfuzzer_sys::fuzz_target;
use nightjar_wire::{MAX_REQUEST_FRAME, Request};

fuzz_target!(|data: &[u8]| {
    let Ok(request) = Request::from_frame(data) else {
        return;
    };
    let frame = request.to_frame();
    assert!(
        frame.len() <= MAX_REQUEST_FRAME,
        "re-encoded {} request is {} bytes, over MAX_REQUEST_FRAME",
        request.kind(),
        frame.len()
    );
    match Request::from_frame(&frame) {
        Ok(again) => assert_eq!(again, request, "request changed across a round trip"),
        Err(e) => panic!("re-encoded {} request does not decode: {e}", request.kind()),
    }
});
