//! `rpc_request`: the daemon's JSON-RPC request decoder.

use nightjar_rpc::{Id, Incoming, decode_incoming, decode_request, request_line, response_line};

/// Fuzzes `nightjar_rpc::decode_request`, the decoder `nightjar daemon` runs
/// on every line a local client writes to its socket.
///
/// Checks: decoding arbitrary bytes never panics; a request it accepts
/// re-encodes to a line that decodes back to the same request; a refusal's
/// error object, written as a response line, reads back unchanged with the
/// client's decoder.
pub fn rpc_request(data: &[u8]) {
    match decode_request(data) {
        Ok(request) => {
            let id = request.id.clone().unwrap_or(Id::Number(0));
            let line = request_line(&id, &request.method, &request.params);
            match decode_request(line.as_bytes()) {
                Ok(again) => {
                    assert_eq!(again.method, request.method, "method changed");
                    assert_eq!(again.params, request.params, "params changed");
                    assert_eq!(again.id, Some(id), "id changed");
                }
                Err(e) => panic!("a re-encoded request does not decode: {e}"),
            }
        }
        Err(error) => {
            let line = response_line(None, &Err(error.clone()));
            match decode_incoming(line.as_bytes()) {
                Ok(Incoming::Response { id: None, result }) => {
                    assert_eq!(result, Err(error), "error object changed");
                }
                other => panic!("an error response reads back as {other:?}"),
            }
        }
    }
}
