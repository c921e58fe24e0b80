//! The responses built from store results: stored, messages, deleted, and
//! store failures mapped to error codes that leak no internals.

use nightjar_types::{MessageHash, StoredMessage};
use nightjar_wire::{ErrorCode, Response, ResponseBody};

use super::Action;

pub(crate) fn unknown_account_response(now_ms: u64) -> Response {
    Response::error(
        now_ms,
        ErrorCode::UnknownAccount,
        "account is not a valid Ed25519 public key",
    )
}

pub(crate) fn wrong_swarm(now_ms: u64, info: nightjar_wire::SwarmInfo) -> Action {
    Action::Respond(Response {
        node_time_ms: now_ms,
        body: ResponseBody::WrongSwarm(info),
    })
}

/// A store or replicate in a published namespace whose data is not the
/// account's signed record.
pub(crate) fn bad_record(now_ms: u64) -> Action {
    Action::Respond(Response::error(
        now_ms,
        ErrorCode::BadSignature,
        "a published namespace takes only the account's signed record",
    ))
}

pub(crate) fn unknown_account(now_ms: u64) -> Action {
    Action::Respond(unknown_account_response(now_ms))
}

/// The response to a store that reached its quorum.
pub fn stored_response(
    now_ms: u64,
    hash: MessageHash,
    expiry_ms: u64,
    already_stored: bool,
    receipts: Vec<nightjar_wire::Receipt>,
) -> Response {
    Response {
        node_time_ms: now_ms,
        body: ResponseBody::Stored {
            hash,
            expiry_ms,
            already_stored,
            receipts,
        },
    }
}

/// The response to a finished read.
pub fn messages_response(
    now_ms: u64,
    after_seq: u64,
    result: Result<Vec<StoredMessage>, nightjar_store::StoreError>,
    limit_messages: usize,
) -> Response {
    match result {
        Ok(rows) => {
            let cursor = rows.last().map_or(after_seq, |m| m.seq);
            let more = rows.len() >= limit_messages;
            Response {
                node_time_ms: now_ms,
                body: ResponseBody::Messages {
                    messages: rows,
                    cursor,
                    more,
                },
            }
        }
        Err(e) => store_error_response(now_ms, &e),
    }
}

/// The response to a finished delete.
pub fn deleted_response(now_ms: u64, result: Result<u64, nightjar_store::StoreError>) -> Response {
    match result {
        Ok(count) => Response {
            node_time_ms: now_ms,
            body: ResponseBody::Deleted { count },
        },
        Err(e) => store_error_response(now_ms, &e),
    }
}

/// Map a store failure to an error response that leaks no internals.
///
/// A full disk is `storage_full` (retryable: the client tries another
/// member; this node keeps serving reads); other store failures are
/// `internal`.
pub fn store_error_response(now_ms: u64, e: &nightjar_store::StoreError) -> Response {
    match e {
        nightjar_store::StoreError::QuotaExceeded { limit } => Response::error(
            now_ms,
            ErrorCode::QuotaExceeded,
            format!("the account's {limit} quota is full"),
        ),
        nightjar_store::StoreError::DiskFull { .. } => Response::error(
            now_ms,
            ErrorCode::StorageFull,
            "this node's disk is full: nothing was stored; reads still work; \
             try another node or retry later",
        ),
        _ => Response::error(now_ms, ErrorCode::Internal, "storage failure"),
    }
}
