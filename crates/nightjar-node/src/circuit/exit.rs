//! The exit's side of a circuit: reassembling requests from fragments,
//! binding the circuit to one account, and cutting answers into fragments
//! (`docs/PROTOCOL.md` §11.10, "Payloads").
//!
//! Not for: the cells' layers (the relay, `super`) or running requests.

use std::collections::{HashMap, HashSet};

use nightjar_crypto::circuit::{
    CircuitError, FRAGMENT_HEADER_LEN, Payload, Reassembly, error_payload, fragments, pad_response,
    unpad_request,
};
use nightjar_types::AccountKey;
use nightjar_wire::{ErrorCode, Request, Response};

/// Most requests in progress (reassembling or handled) per circuit.
pub(super) const MAX_REQUESTS_IN_PROGRESS: usize = 8;
/// Fragments of a request older than this are dropped.
pub(super) const PARTIAL_TIMEOUT_MS: u64 = 30_000;

/// Error payload codes.
pub(super) const ERROR_TOO_LARGE: u8 = 1;
pub(super) const ERROR_OTHER_ACCOUNT: u8 = 2;
pub(super) const ERROR_BUSY: u8 = 3;

pub(super) enum ExitEvent {
    Nothing,
    Deliver {
        request_id: u32,
        request: Request,
    },
    /// Answer at once with this response frame (the request did not decode).
    Answer {
        request_id: u32,
        frame: Vec<u8>,
    },
    Refuse {
        request_id: u32,
        code: u8,
    },
}

pub(super) struct Exit {
    payload_len: usize,
    next_seq: u64,
    account: Option<AccountKey>,
    partial: HashMap<u32, (Reassembly, u64)>,
    handling: HashSet<u32>,
}

impl Exit {
    pub(super) fn new(payload_len: usize) -> Self {
        Exit {
            payload_len,
            // 0 carried *created*.
            next_seq: 1,
            account: None,
            partial: HashMap::new(),
            handling: HashSet::new(),
        }
    }

    pub(super) fn next_seq(&mut self) -> u64 {
        let seq = self.next_seq;
        self.next_seq = self.next_seq.saturating_add(1);
        seq
    }

    fn chunk_len(&self) -> usize {
        self.payload_len.saturating_sub(FRAGMENT_HEADER_LEN)
    }

    pub(super) fn receive(
        &mut self,
        now_ms: u64,
        payload: &[u8],
    ) -> Result<ExitEvent, CircuitError> {
        let Payload::Fragment {
            request_id,
            index,
            count,
            chunk,
        } = Payload::parse(payload)?
        else {
            return Err(CircuitError::Malformed(
                "only fragments go towards the exit",
            ));
        };
        if self.handling.contains(&request_id) {
            return Ok(ExitEvent::Nothing);
        }
        if !self.partial.contains_key(&request_id) {
            if self.partial.len() + self.handling.len() >= MAX_REQUESTS_IN_PROGRESS {
                return Ok(ExitEvent::Refuse {
                    request_id,
                    code: ERROR_BUSY,
                });
            }
            self.partial.insert(
                request_id,
                (Reassembly::new(count, self.chunk_len())?, now_ms),
            );
        }
        let Some((parts, _)) = self.partial.get_mut(&request_id) else {
            return Ok(ExitEvent::Nothing);
        };
        let Some(joined) = parts.insert(index, count, chunk)? else {
            return Ok(ExitEvent::Nothing);
        };
        self.partial.remove(&request_id);
        let request = unpad_request(&joined, count, self.chunk_len())
            .map_err(|_| "the request's padding is malformed".to_owned())
            .and_then(|frame| Request::from_frame(&frame).map_err(|e| e.to_string()))
            .and_then(|r| {
                if r.is_node_only() || matches!(r, Request::Onion(_)) {
                    Err(format!("a circuit does not carry {} requests", r.kind()))
                } else {
                    Ok(r)
                }
            });
        let request = match request {
            Ok(r) => r,
            Err(why) => {
                let frame = Response::error(now_ms, ErrorCode::BadRequest, why).to_frame();
                self.handling.insert(request_id);
                return Ok(ExitEvent::Answer { request_id, frame });
            }
        };
        if let Some(account) = request.mailbox() {
            match &self.account {
                None => self.account = Some(*account),
                Some(bound) if bound == account => {}
                Some(_) => {
                    return Ok(ExitEvent::Refuse {
                        request_id,
                        code: ERROR_OTHER_ACCOUNT,
                    });
                }
            }
        }
        self.handling.insert(request_id);
        Ok(ExitEvent::Deliver {
            request_id,
            request,
        })
    }

    /// The payloads answering `request_id` with `frame`.
    pub(super) fn answer(&mut self, request_id: u32, frame: &[u8]) -> Vec<Vec<u8>> {
        self.handling.remove(&request_id);
        match pad_response(frame).and_then(|d| fragments(request_id, &d, self.payload_len)) {
            Ok(parts) => parts,
            Err(_) => vec![self.error(request_id, ERROR_TOO_LARGE)],
        }
    }

    pub(super) fn error(&self, request_id: u32, code: u8) -> Vec<u8> {
        error_payload(self.payload_len, request_id, code)
    }

    pub(super) fn prune(&mut self, now_ms: u64) {
        self.partial
            .retain(|_, (_, started)| now_ms.saturating_sub(*started) < PARTIAL_TIMEOUT_MS);
    }
}
