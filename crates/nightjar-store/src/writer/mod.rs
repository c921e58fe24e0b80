//! The single writer thread: batches queued operations into one durable
//! transaction, one SAVEPOINT per operation.
//!
//! Split by concept: [`batch`] (the thread loop, savepoints, commit),
//! [`ops`] (store, delete, tombstones, drop range), [`claims`] (claims of
//! records), [`purge`] (expiry purge), [`quotas`] (usage counters and quota
//! checks), [`sql`] (statement texts).

mod batch;
mod claims;
mod ops;
mod purge;
mod quotas;
pub(crate) mod sql;

use crate::error::StoreError;
use crate::ring::pos_to_sql;
use crate::types::ClaimOutcome;
use crate::types::NewClaim;
use crate::types::NewMessage;
use crate::types::StoreOutcome;
use crate::types::Tombstone;
use nightjar_types::{AccountKey, MessageHash};
use rusqlite::Connection;
use tokio::sync::oneshot;

use batch::Pending;
pub(crate) use batch::run;
use claims::exec_claim;
use ops::exec_add_tombstones;
use ops::exec_delete;
use ops::exec_drop_range;
use ops::exec_store;
use purge::exec_purge_step;
use quotas::WriterState;

/// Where the answer to one operation goes: a function the writer thread
/// calls once, after the operation's transaction committed or failed.
/// Dropped unanswered (the writer thread stopped or panicked first), it
/// answers [`StoreError::WriterGone`], so no caller waits forever.
pub(crate) struct Reply<T>(Option<Answer<T>>);

/// The function a [`Reply`] calls.
type Answer<T> = Box<dyn FnOnce(Result<T, StoreError>) + Send>;

impl<T: Send + 'static> Reply<T> {
    /// A reply that calls `f`.
    pub(crate) fn to(f: impl FnOnce(Result<T, StoreError>) + Send + 'static) -> Self {
        Reply(Some(Box::new(f)))
    }

    /// A reply through a oneshot channel, and its receiver.
    pub(crate) fn oneshot() -> (Self, oneshot::Receiver<Result<T, StoreError>>) {
        let (tx, rx) = oneshot::channel();
        (
            Reply::to(move |r| {
                // A dropped receiver means the caller no longer cares.
                let _ = tx.send(r);
            }),
            rx,
        )
    }
}

impl<T> Reply<T> {
    /// Answers with `result`.
    pub(crate) fn send(mut self, result: Result<T, StoreError>) {
        if let Some(f) = self.0.take() {
            f(result);
        }
    }
}

impl<T> Drop for Reply<T> {
    fn drop(&mut self) {
        if let Some(f) = self.0.take() {
            f(Err(StoreError::WriterGone));
        }
    }
}

/// Most expired messages (then tombstones) one purge step removes. A step
/// is one operation of one batch; a purge with more to do continues in the
/// next batch, after this one committed, so a large purge does not hold
/// up other writes for the whole of it.
pub(crate) const PURGE_CHUNK: usize = 2_000;

/// What the writer needs from the config: per-account limits, batch size
/// and the ring position function.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Settings {
    pub(crate) max_messages: u64,
    pub(crate) max_bytes: u64,
    pub(crate) max_tombstones: u64,
    pub(crate) max_claims: u64,
    pub(crate) max_batch: usize,
    pub(crate) ring_position: fn(&AccountKey) -> u64,
    /// Rows per purge step ([`PURGE_CHUNK`]; smaller in tests).
    pub(crate) purge_chunk: usize,
}

impl Settings {
    /// The encoded ring position of `account`.
    fn pos(&self, account: &AccountKey) -> i64 {
        pos_to_sql((self.ring_position)(account))
    }
}

/// One queued write operation.
pub(crate) enum Op {
    /// Store one message.
    Store {
        msg: NewMessage,
        reply: Reply<StoreOutcome>,
    },
    /// An operation answered with a count of messages removed.
    Count { work: CountOp, reply: Reply<u64> },
    /// Record a claim.
    Claim {
        claim: NewClaim,
        reply: Reply<ClaimOutcome>,
    },
}

/// The operations answered with the number of messages they removed.
pub(crate) enum CountOp {
    /// Delete messages of one account namespace and tombstone them.
    Delete {
        account: AccountKey,
        namespace: u16,
        hashes: Vec<MessageHash>,
        now_ms: u64,
        tombstone_ttl_ms: u64,
    },
    /// Insert replicated tombstones, deleting the messages they name.
    AddTombstones(Vec<Tombstone>),
    /// Remove messages and tombstones of a ring range, without tombstoning.
    DropRange { start: u64, end: u64 },
    /// Remove expired messages and tombstones, at most one chunk per batch;
    /// `removed` counts the messages earlier steps of this purge removed.
    Purge { now_ms: u64, removed: u64 },
}

impl Op {
    /// Answers the operation with `err` without running it.
    pub(crate) fn fail(self, err: StoreError) {
        match self {
            Op::Store { reply, .. } => reply.send(Err(err)),
            Op::Count { reply, .. } => reply.send(Err(err)),
            Op::Claim { reply, .. } => reply.send(Err(err)),
        }
    }

    /// Runs the operation inside the current transaction.
    fn execute(self, conn: &Connection, settings: &Settings, state: &mut WriterState) -> Pending {
        match self {
            Op::Store { msg, reply } => {
                let result = exec_store(conn, settings, state, &msg);
                Pending::Store(reply, result)
            }
            Op::Claim { claim, reply } => {
                let result = exec_claim(conn, settings, &claim);
                Pending::Claim(reply, result)
            }
            Op::Count { work, reply } => {
                let result = match work {
                    CountOp::Delete {
                        account,
                        namespace,
                        hashes,
                        now_ms,
                        tombstone_ttl_ms,
                    } => exec_delete(
                        conn,
                        settings,
                        &account,
                        namespace,
                        hashes,
                        now_ms,
                        tombstone_ttl_ms,
                    ),
                    CountOp::AddTombstones(tombstones) => {
                        exec_add_tombstones(conn, settings, &tombstones)
                    }
                    CountOp::DropRange { start, end } => exec_drop_range(conn, start, end),
                    CountOp::Purge { now_ms, removed } => {
                        match exec_purge_step(conn, now_ms, settings.purge_chunk) {
                            Ok((n, more)) => {
                                let removed = removed.saturating_add(n);
                                if more {
                                    return Pending::PurgeMore {
                                        reply,
                                        now_ms,
                                        removed,
                                    };
                                }
                                Ok(removed)
                            }
                            Err(e) => Err(e),
                        }
                    }
                };
                Pending::Count(reply, result)
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_reply_dropped_unanswered_says_the_writer_is_gone() {
        let (reply, mut rx) = Reply::<u64>::oneshot();
        drop(reply);
        assert!(matches!(rx.try_recv(), Ok(Err(StoreError::WriterGone))));
    }

    #[test]
    fn a_reply_answers_once() {
        let (reply, mut rx) = Reply::<u64>::oneshot();
        reply.send(Ok(7));
        assert!(matches!(rx.try_recv(), Ok(Ok(7))));
    }
}
