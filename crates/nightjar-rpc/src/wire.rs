//! JSON-RPC 2.0 objects and their line encodings.

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value, json};

use crate::{INVALID_REQUEST, MAX_LINE, PARSE_ERROR};

/// A request id: a number or a string (`null` and fractions are refused).
#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(untagged)]
pub enum Id {
    /// A whole number.
    Number(i64),
    /// A string.
    String(String),
}

/// A request as the daemon reads it. Without an `id` it is a notification:
/// the daemon runs it and answers nothing.
#[derive(Clone, Debug, PartialEq)]
pub struct Request {
    /// The id to answer with, if any.
    pub id: Option<Id>,
    /// The method name.
    pub method: String,
    /// The parameters: an object or an array (`{}` when absent).
    pub params: Value,
}

/// A JSON-RPC error object.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ErrorObject {
    /// The code (see the constants of this crate).
    pub code: i64,
    /// A readable message.
    pub message: String,
    /// More detail, if any.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub data: Option<Value>,
}

impl ErrorObject {
    /// An error with this code and message and no data.
    pub fn new(code: i64, message: impl Into<String>) -> Self {
        Self {
            code,
            message: message.into(),
            data: None,
        }
    }
}

impl std::fmt::Display for ErrorObject {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{} ({})", self.message, self.code)
    }
}

/// A notification from the daemon (a line without an id).
#[derive(Clone, Debug, PartialEq)]
pub struct Notification {
    /// The notification's method, e.g. `message`.
    pub method: String,
    /// Its parameters.
    pub params: Value,
}

/// What a client reads from the daemon: a response or a notification.
#[derive(Clone, Debug, PartialEq)]
pub enum Incoming {
    /// The answer to the request with this id (`None`: the daemon could not
    /// read a request's id, e.g. a parse error).
    Response {
        /// The request's id.
        id: Option<Id>,
        /// Its result or error.
        result: Result<Value, ErrorObject>,
    },
    /// A notification.
    Notification(Notification),
}

/// Decodes one line a client sent (with or without its `'\n'`).
///
/// Refuses, with the error object to answer (with `"id": null`): a line
/// over [`MAX_LINE`], invalid JSON or UTF-8 (-32700), a batch, anything but
/// an object, a `jsonrpc` other than `"2.0"`, a missing or non-string
/// `method`, an id that is neither a whole number nor a string, params that
/// are neither an object nor an array (-32600).
pub fn decode_request(line: &[u8]) -> Result<Request, ErrorObject> {
    let line = trim_newline(line);
    if line.len() > MAX_LINE {
        return Err(ErrorObject::new(
            INVALID_REQUEST,
            format!("request line longer than {MAX_LINE} bytes"),
        ));
    }
    let value: Value = serde_json::from_slice(line)
        .map_err(|e| ErrorObject::new(PARSE_ERROR, format!("parse error: {e}")))?;
    let mut object = match value {
        Value::Object(o) => o,
        Value::Array(_) => {
            return Err(ErrorObject::new(
                INVALID_REQUEST,
                "batches are not supported: send one request object per line",
            ));
        }
        _ => {
            return Err(ErrorObject::new(
                INVALID_REQUEST,
                "a request must be a JSON object",
            ));
        }
    };
    if object.get("jsonrpc") != Some(&Value::String("2.0".into())) {
        return Err(ErrorObject::new(
            INVALID_REQUEST,
            "\"jsonrpc\" must be \"2.0\"",
        ));
    }
    let method = match object.remove("method") {
        Some(Value::String(m)) => m,
        _ => {
            return Err(ErrorObject::new(
                INVALID_REQUEST,
                "\"method\" must be a string",
            ));
        }
    };
    let id = match object.remove("id") {
        None => None,
        Some(Value::String(s)) => Some(Id::String(s)),
        Some(Value::Number(n)) => match n.as_i64() {
            Some(n) => Some(Id::Number(n)),
            None => {
                return Err(ErrorObject::new(
                    INVALID_REQUEST,
                    "\"id\" must be a whole number or a string",
                ));
            }
        },
        Some(_) => {
            return Err(ErrorObject::new(
                INVALID_REQUEST,
                "\"id\" must be a whole number or a string",
            ));
        }
    };
    let params = match object.remove("params") {
        None | Some(Value::Null) => Value::Object(Map::new()),
        Some(p @ (Value::Object(_) | Value::Array(_))) => p,
        Some(_) => {
            return Err(ErrorObject::new(
                INVALID_REQUEST,
                "\"params\" must be an object or an array",
            ));
        }
    };
    Ok(Request { id, method, params })
}

/// Decodes one line the daemon wrote: a response (with `result` or `error`)
/// or a notification (a `method` and no `id`).
pub fn decode_incoming(line: &[u8]) -> Result<Incoming, String> {
    let line = trim_newline(line);
    if line.len() > MAX_LINE {
        return Err(format!("line longer than {MAX_LINE} bytes"));
    }
    let value: Value = serde_json::from_slice(line).map_err(|e| format!("invalid JSON: {e}"))?;
    let Value::Object(mut object) = value else {
        return Err("not a JSON object".into());
    };
    if object.get("jsonrpc") != Some(&Value::String("2.0".into())) {
        return Err("\"jsonrpc\" is not \"2.0\"".into());
    }
    if let Some(Value::String(method)) = object.get("method").cloned() {
        if object.get("id").is_none() {
            let params = object.remove("params").unwrap_or(Value::Null);
            return Ok(Incoming::Notification(Notification { method, params }));
        }
        return Err("a request from the daemon (it sends none)".into());
    }
    let id = match object.remove("id") {
        None | Some(Value::Null) => None,
        Some(v) => Some(serde_json::from_value::<Id>(v).map_err(|e| format!("bad id: {e}"))?),
    };
    let result = match (object.remove("result"), object.remove("error")) {
        (Some(result), None) => Ok(result),
        (None, Some(error)) => Err(serde_json::from_value::<ErrorObject>(error)
            .map_err(|e| format!("bad error object: {e}"))?),
        _ => return Err("a response needs exactly one of result and error".into()),
    };
    Ok(Incoming::Response { id, result })
}

/// A response line (ending in `'\n'`): `id` is `null` when unknown.
pub fn response_line(id: Option<&Id>, result: &Result<Value, ErrorObject>) -> String {
    let value = match result {
        Ok(result) => json!({ "jsonrpc": "2.0", "id": id, "result": result }),
        Err(error) => json!({ "jsonrpc": "2.0", "id": id, "error": error }),
    };
    let mut line = value.to_string();
    line.push('\n');
    line
}

/// A request line (ending in `'\n'`); `params` `null` is left out.
pub fn request_line(id: &Id, method: &str, params: &Value) -> String {
    let mut value = json!({ "jsonrpc": "2.0", "id": id, "method": method });
    if !params.is_null() {
        value["params"] = params.clone();
    }
    let mut line = value.to_string();
    line.push('\n');
    line
}

/// A notification line (ending in `'\n'`).
pub fn notification_line(method: &str, params: &Value) -> String {
    let mut line = json!({ "jsonrpc": "2.0", "method": method, "params": params }).to_string();
    line.push('\n');
    line
}

fn trim_newline(line: &[u8]) -> &[u8] {
    let line = line.strip_suffix(b"\n").unwrap_or(line);
    line.strip_suffix(b"\r").unwrap_or(line)
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;
    use crate::{INVALID_REQUEST, PARSE_ERROR};

    #[test]
    fn a_request_decodes_with_its_id_and_params() {
        let r = decode_request(br#"{"jsonrpc":"2.0","id":7,"method":"send","params":{"to":"x"}}"#)
            .unwrap();
        assert_eq!(r.id, Some(Id::Number(7)));
        assert_eq!(r.method, "send");
        assert_eq!(r.params, json!({"to": "x"}));
        let r =
            decode_request(b"{\"jsonrpc\":\"2.0\",\"id\":\"a\",\"method\":\"account\"}\n").unwrap();
        assert_eq!(r.id, Some(Id::String("a".into())));
        assert_eq!(r.params, json!({}));
        let r = decode_request(br#"{"jsonrpc":"2.0","method":"status"}"#).unwrap();
        assert_eq!(r.id, None);
    }

    #[test]
    fn malformed_requests_get_the_right_codes() {
        let code = |line: &[u8]| decode_request(line).unwrap_err().code;
        assert_eq!(code(b"garbage"), PARSE_ERROR);
        assert_eq!(code(b"{\"jsonrpc\":\"2.0\""), PARSE_ERROR);
        assert_eq!(code(&[0xff, 0xfe]), PARSE_ERROR);
        assert_eq!(
            code(br#"[{"jsonrpc":"2.0","id":1,"method":"a"}]"#),
            INVALID_REQUEST
        );
        assert_eq!(code(b"42"), INVALID_REQUEST);
        assert_eq!(code(br#"{"id":1,"method":"a"}"#), INVALID_REQUEST);
        assert_eq!(
            code(br#"{"jsonrpc":"1.0","id":1,"method":"a"}"#),
            INVALID_REQUEST
        );
        assert_eq!(
            code(br#"{"jsonrpc":"2.0","id":1,"method":5}"#),
            INVALID_REQUEST
        );
        assert_eq!(
            code(br#"{"jsonrpc":"2.0","id":1.5,"method":"a"}"#),
            INVALID_REQUEST
        );
        assert_eq!(
            code(br#"{"jsonrpc":"2.0","id":null,"method":"a"}"#),
            INVALID_REQUEST
        );
        assert_eq!(
            code(br#"{"jsonrpc":"2.0","id":{},"method":"a"}"#),
            INVALID_REQUEST
        );
        assert_eq!(
            code(br#"{"jsonrpc":"2.0","id":1,"method":"a","params":3}"#),
            INVALID_REQUEST
        );
    }

    #[test]
    fn an_over_long_line_is_refused_before_parsing() {
        let mut line = br#"{"jsonrpc":"2.0","id":1,"method":"send","params":{"text":""#.to_vec();
        line.resize(MAX_LINE + 10, b'a');
        line.extend_from_slice(b"\"}}");
        assert_eq!(decode_request(&line).unwrap_err().code, INVALID_REQUEST);
    }

    #[test]
    fn responses_and_notifications_round_trip_through_the_client_decoder() {
        let id = Id::Number(3);
        let ok = response_line(Some(&id), &Ok(json!({"a": 1})));
        assert!(ok.ends_with('\n'));
        assert_eq!(
            decode_incoming(ok.as_bytes()).unwrap(),
            Incoming::Response {
                id: Some(id.clone()),
                result: Ok(json!({"a": 1}))
            }
        );
        let err = ErrorObject::new(-32001, "no such contact");
        let line = response_line(None, &Err(err.clone()));
        assert!(line.contains("\"id\":null"));
        assert_eq!(
            decode_incoming(line.as_bytes()).unwrap(),
            Incoming::Response {
                id: None,
                result: Err(err)
            }
        );
        let n = notification_line("message", &json!({"subscription": 1}));
        assert_eq!(
            decode_incoming(n.as_bytes()).unwrap(),
            Incoming::Notification(Notification {
                method: "message".into(),
                params: json!({"subscription": 1})
            })
        );
        let req = request_line(&Id::String("x".into()), "status", &Value::Null);
        let decoded = decode_request(req.as_bytes()).unwrap();
        assert_eq!(decoded.method, "status");
        assert_eq!(decoded.id, Some(Id::String("x".into())));
    }

    #[test]
    fn the_client_decoder_refuses_what_is_not_a_response() {
        assert!(decode_incoming(b"nope").is_err());
        assert!(decode_incoming(br#"{"jsonrpc":"2.0","id":1}"#).is_err());
        assert!(decode_incoming(br#"{"jsonrpc":"2.0","id":1,"result":1,"error":{}}"#).is_err());
        assert!(decode_incoming(br#"{"jsonrpc":"2.0","id":1,"method":"x"}"#).is_err());
    }
}
