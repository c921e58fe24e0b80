//! `request_frame` and `response_frame`: the wire decoders.

use nightjar_wire::{MAX_REQUEST_FRAME, MAX_RESPONSE_FRAME, Request, Response};

/// Fuzzes `nightjar_wire::Request::from_frame`, the decoder a node runs on
/// every request frame from the network.
///
/// Checks: decoding arbitrary bytes never panics, and any frame it accepts
/// round-trips: `from_frame(to_frame(r)) == r`, and the re-encoded frame is
/// no larger than `MAX_REQUEST_FRAME` (what we send, we must also accept).
pub fn request_frame(data: &[u8]) {
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
}

/// Fuzzes `nightjar_wire::Response::from_frame`, the decoder a client (and a
/// node, for its peers' answers) runs on every response frame.
///
/// Checks: decoding arbitrary bytes never panics, and any frame it accepts
/// round-trips: `from_frame(to_frame(r)) == r`, and the re-encoded frame is
/// no larger than `MAX_RESPONSE_FRAME`.
pub fn response_frame(data: &[u8]) {
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
}
