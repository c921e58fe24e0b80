//! The frames of `test-vectors/wire.json` (`docs/PROTOCOL.md` §5.2–§5.3),
//! written by hand from the text: what each decodes to, which of them our
//! encoder writes byte for byte (empty oneof members included), and the
//! error code of each frame that is refused.

#![allow(clippy::unwrap_used, clippy::expect_used, missing_docs)]

use nightjar_wire::{ErrorCode, Request, Response, ResponseBody};
use serde_json::Value;

fn unhex(s: &str) -> Vec<u8> {
    assert!(s.len().is_multiple_of(2), "odd hex {s}");
    (0..s.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(&s[i..i + 2], 16).unwrap())
        .collect()
}

fn code_name(code: ErrorCode) -> &'static str {
    match code {
        ErrorCode::BadRequest => "bad_request",
        ErrorCode::UnsupportedVersion => "unsupported_version",
        ErrorCode::TooLarge => "too_large",
        ErrorCode::TtlOutOfRange => "ttl_out_of_range",
        other => panic!("no vector expects {other:?}"),
    }
}

fn response_kind(body: &ResponseBody) -> &'static str {
    match body {
        ResponseBody::Deleted { .. } => "deleted",
        other => panic!("no vector decodes to {other:?}"),
    }
}

/// (what it decodes to, our encoding of that) or the error code.
fn decode(kind: &str, frame: &[u8]) -> Result<(&'static str, Vec<u8>), &'static str> {
    match kind {
        "request" => Request::from_frame(frame)
            .map(|r| (r.kind(), r.to_frame()))
            .map_err(|e| code_name(e.code())),
        "response" => Response::from_frame(frame)
            .map(|r| (response_kind(&r.body), r.to_frame()))
            .map_err(|e| code_name(e.code())),
        other => panic!("unknown kind {other}"),
    }
}

#[test]
fn wire_vectors_replay() {
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/../../test-vectors/wire.json");
    let text = std::fs::read_to_string(path).expect("test-vectors/wire.json");
    let file: Value = serde_json::from_str(&text).unwrap();
    let cases = file["cases"].as_array().unwrap();
    assert!(cases.iter().any(|c| c["encodes"] == true));
    assert!(cases.iter().any(|c| c["error"].is_string()));
    for c in cases {
        let name = c["name"].as_str().unwrap();
        let frame = unhex(c["frame"].as_str().unwrap());
        let got = decode(c["kind"].as_str().unwrap(), &frame);
        match (c["decodes"].as_str(), c["error"].as_str()) {
            (Some(kind), None) => {
                let (decoded, encoded) = got.unwrap_or_else(|e| panic!("{name}: refused, {e}"));
                assert_eq!(decoded, kind, "{name}");
                assert_eq!(encoded == frame, c["encodes"] == true, "{name}");
            }
            (None, Some(error)) => {
                assert_eq!(got.err(), Some(error), "{name}");
            }
            _ => panic!("{name}: needs exactly one of decodes and error"),
        }
    }
}
