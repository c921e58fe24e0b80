//! The client's records as the RPC shows them.

use std::collections::HashMap;

use nightjar_client::messaging::{Timer as ClientTimer, TimerMode};
use nightjar_client::{Direction as ClientDirection, HistoryRecord};
use nightjar_rpc::methods::{Direction, Message, Timer, TimerAfter};

/// Contact names by Account ID.
pub(crate) type Names = HashMap<String, String>;

/// One history record as a [`Message`]; `me` is this account's ID, `read`
/// whether it was shown (out messages are always read).
pub(crate) fn message(record: &HistoryRecord, me: &str, names: &Names, read: bool) -> Message {
    let (direction, from, to) = match record.direction {
        ClientDirection::In => (Direction::In, record.peer.clone(), None),
        ClientDirection::Out => (Direction::Out, me.to_owned(), Some(record.peer.clone())),
    };
    Message {
        message_id: record.message_id.clone(),
        direction,
        peer: record.peer.clone(),
        name: names.get(&record.peer).cloned(),
        from,
        to,
        text: record.text.clone(),
        sent_at: record.sent_at_ms,
        version: record.version,
        expires_at: record.expires_at_ms,
        read: read || direction == Direction::Out,
    }
}

/// A client timer as the RPC shows it.
pub(crate) fn timer(t: ClientTimer) -> Timer {
    Timer {
        duration_ms: t.after_ms,
        after: match t.mode {
            TimerMode::Send => TimerAfter::Send,
            TimerMode::Read => TimerAfter::Read,
        },
    }
}

/// An RPC timer mode as the client's.
pub(crate) fn mode(after: TimerAfter) -> TimerMode {
    match after {
        TimerAfter::Send => TimerMode::Send,
        TimerAfter::Read => TimerMode::Read,
    }
}
