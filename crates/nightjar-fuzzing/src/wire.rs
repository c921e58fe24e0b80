//! `request_frame` and `response_frame`: the wire decoders; `store_receipt`:
//! a `Stored` answer's batched receipts as an entry node verifies them.

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

/// Seed of the node whose receipts [`store_receipt`] verifies (the seed
/// corpus's valid receipts are signed by it).
pub const RECEIPT_NODE_SEED: [u8; 32] = [20; 32];

/// Fuzzes the batched store receipt (docs/PROTOCOL.md §5.4) as an entry
/// node checks a member's: `Response::from_frame`, then, for a `Stored`
/// answer, `receipt_verifies` on each receipt against the node of
/// [`RECEIPT_NODE_SEED`] and the answer's hash (the leaf, the root rebuilt
/// from an attacker's index, size and path, the signature).
///
/// Checks: nothing panics; a receipt that verifies names a leaf inside its
/// tree and a path within the limit; one whose path was lengthened by a
/// hash no longer verifies.
pub fn store_receipt(data: &[u8]) {
    use nightjar_crypto::identity::{Identity, Seed};
    use nightjar_node::engine::{Ed25519, receipt_verifies};
    use nightjar_wire::{MAX_RECEIPT_PATH, ResponseBody};

    let Ok(response) = Response::from_frame(data) else {
        return;
    };
    let ResponseBody::Stored { hash, receipts, .. } = &response.body else {
        return;
    };
    let key = Identity::from_seed(Seed::from_bytes(RECEIPT_NODE_SEED)).public_key();
    for r in receipts {
        if !receipt_verifies(&Ed25519, &key, hash, r) {
            continue;
        }
        assert!(
            r.leaf_index < r.tree_size,
            "a verified leaf outside its tree"
        );
        assert!(r.path.len() <= MAX_RECEIPT_PATH);
        let mut longer = r.clone();
        longer.path.push([0; 32]);
        assert!(
            !receipt_verifies(&Ed25519, &key, hash, &longer),
            "a receipt still verified with a hash added to its path"
        );
    }
}
