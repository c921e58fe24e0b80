//! Batching: the writer thread's loop, one transaction per batch with one
//! SAVEPOINT per operation, the COMMIT, and answering each operation after it.
//!
//! Not for: what an operation does (`ops`, `purge`) or quota bookkeeping
//! (`quotas`).

use crate::error::StoreError;
use crate::types::ClaimOutcome;
use crate::types::StoreOutcome;
use rusqlite::Connection;
use std::sync::Arc;
use std::sync::atomic::AtomicU64;
use std::sync::atomic::Ordering;
use std::sync::mpsc;

use super::CountOp;
use super::Op;
use super::Reply;
use super::Settings;
use super::quotas::WriterState;
use super::sql::RELEASE_OP;
use super::sql::ROLLBACK_TO_OP;
use super::sql::SAVEPOINT_OP;

/// An executed operation waiting for its transaction to commit.
pub(super) enum Pending {
    Store(Reply<StoreOutcome>, Result<StoreOutcome, StoreError>),
    Count(Reply<u64>, Result<u64, StoreError>),
    Claim(Reply<ClaimOutcome>, Result<ClaimOutcome, StoreError>),
    /// A purge step that removed a full chunk: once this batch commits,
    /// the purge continues in the next one.
    PurgeMore {
        reply: Reply<u64>,
        now_ms: u64,
        removed: u64,
    },
}

impl Pending {
    pub(super) fn is_ok(&self) -> bool {
        match self {
            Pending::Store(_, r) => r.is_ok(),
            Pending::Count(_, r) => r.is_ok(),
            Pending::Claim(_, r) => r.is_ok(),
            Pending::PurgeMore { .. } => true,
        }
    }

    /// The operation's own error, if it is [`StoreError::DiskFull`].
    pub(super) fn disk_full(&self) -> Option<StoreError> {
        let err = match self {
            Pending::Store(_, Err(e)) | Pending::Count(_, Err(e)) | Pending::Claim(_, Err(e)) => e,
            _ => return None,
        };
        matches!(err, StoreError::DiskFull { .. }).then(|| err.clone())
    }

    /// Sends the answer. If the batch failed, successful results are replaced
    /// by `failure` (they were not made durable); errors are kept. Returns
    /// the rest of an unfinished purge, to run in the next batch.
    pub(super) fn answer(self, failure: Option<&StoreError>) -> Option<Op> {
        fn pick<T>(
            r: Result<T, StoreError>,
            failure: Option<&StoreError>,
        ) -> Result<T, StoreError> {
            match (r, failure) {
                (Ok(_), Some(f)) => Err(f.clone()),
                (r, _) => r,
            }
        }
        match self {
            Pending::Store(reply, r) => {
                reply.send(pick(r, failure));
            }
            Pending::Count(reply, r) => {
                reply.send(pick(r, failure));
            }
            Pending::Claim(reply, r) => {
                reply.send(pick(r, failure));
            }
            Pending::PurgeMore {
                reply,
                now_ms,
                removed,
            } => match failure {
                Some(f) => {
                    reply.send(Err(f.clone()));
                }
                None => {
                    return Some(Op::Count {
                        work: CountOp::Purge { now_ms, removed },
                        reply,
                    });
                }
            },
        }
        None
    }
}

/// The writer thread's main loop. Returns when every sender is dropped and
/// the queue is drained (unfinished purges included).
pub(crate) fn run(
    mut conn: Connection,
    rx: mpsc::Receiver<Op>,
    settings: Settings,
    commits: Arc<AtomicU64>,
) {
    // Room for every statement the writer uses, so none is re-prepared.
    conn.set_prepared_statement_cache_capacity(64);
    let max_batch = settings.max_batch.max(1);
    let mut state = WriterState::default();
    let mut carry: Vec<Op> = Vec::new();
    loop {
        let mut batch = Vec::with_capacity(max_batch.min(64));
        // Continued purges first; new operations still get at least one
        // place, so that a long purge cannot starve them.
        let room = if carry.is_empty() {
            match rx.recv() {
                Ok(op) => batch.push(op),
                Err(_) => break,
            }
            max_batch
        } else {
            let new_ops = max_batch.saturating_sub(carry.len()).max(1);
            batch.append(&mut carry);
            batch.len().saturating_add(new_ops)
        };
        while batch.len() < room {
            match rx.try_recv() {
                Ok(op) => batch.push(op),
                Err(_) => break,
            }
        }
        carry = run_batch(&mut conn, &settings, &mut state, batch, &commits);
    }
    tracing::debug!("store writer thread exiting");
}

/// Runs a statement without parameters through the statement cache.
pub(super) fn exec_cached(
    conn: &Connection,
    sql: &str,
    op: &'static str,
) -> Result<(), StoreError> {
    conn.prepare_cached(sql)
        .and_then(|mut s| s.execute([]))
        .map(|_| ())
        .map_err(StoreError::sql(op))
}

/// Runs `ops` in one transaction and answers each after COMMIT. Returns
/// the operations to continue in the next batch (unfinished purges).
pub(super) fn run_batch(
    conn: &mut Connection,
    settings: &Settings,
    state: &mut WriterState,
    ops: Vec<Op>,
    commits: &AtomicU64,
) -> Vec<Op> {
    if let Err(err) = exec_cached(conn, "BEGIN IMMEDIATE", "begin") {
        tracing::warn!(error = %err, "store batch could not begin");
        for op in ops {
            op.fail(err.clone());
        }
        return Vec::new();
    }

    let mut pending = Vec::with_capacity(ops.len());
    let mut abort: Option<StoreError> = None;
    let mut ops = ops.into_iter();
    for op in ops.by_ref() {
        let (p, fatal) = run_in_savepoint(conn, settings, state, op);
        pending.push(p);
        if let Some(err) = fatal {
            abort = Some(err);
            break;
        }
    }

    let failure = match abort {
        Some(err) => {
            // Not-yet-run operations get the same error.
            for op in ops {
                op.fail(err.clone());
            }
            rollback(conn);
            Some(err)
        }
        None => match exec_cached(conn, "COMMIT", "commit") {
            Ok(()) => {
                commits.fetch_add(1, Ordering::Relaxed);
                None
            }
            Err(err) => {
                rollback(conn);
                Some(err)
            }
        },
    };
    if let Some(err) = &failure {
        state.forget();
        tracing::warn!(error = %err, ops = pending.len(), "store batch failed; nothing acknowledged");
    }
    pending
        .into_iter()
        .filter_map(|p| p.answer(failure.as_ref()))
        .collect()
}

/// Rolls back the open transaction, if any.
pub(super) fn rollback(conn: &Connection) {
    if !conn.is_autocommit()
        && let Err(e) = conn.execute_batch("ROLLBACK")
    {
        tracing::warn!(error = %e, "store rollback failed");
    }
}

/// Runs one op inside a SAVEPOINT. Returns a fatal error if the enclosing
/// transaction can no longer be trusted (then the whole batch fails).
pub(super) fn run_in_savepoint(
    conn: &Connection,
    settings: &Settings,
    state: &mut WriterState,
    op: Op,
) -> (Pending, Option<StoreError>) {
    if let Err(err) = exec_cached(conn, SAVEPOINT_OP, "savepoint") {
        // Answered later with the batch error: use a placeholder pending.
        return (placeholder(op, &err), Some(err));
    }
    let pending = op.execute(conn, settings, state);
    // SQLite may roll back the whole transaction on some errors (e.g. disk
    // full); the savepoint is then gone and earlier operations are lost.
    let rolled_back = conn.is_autocommit();
    let end = if rolled_back {
        Ok(())
    } else if pending.is_ok() {
        exec_cached(conn, RELEASE_OP, "release savepoint")
    } else {
        exec_cached(conn, ROLLBACK_TO_OP, "rollback to savepoint")
            .and_then(|()| exec_cached(conn, RELEASE_OP, "rollback to savepoint"))
    };
    let fatal = match end {
        // A full disk is the real cause, whatever failed after it.
        Err(err) => Some(pending.disk_full().unwrap_or(err)),
        Ok(()) if rolled_back || conn.is_autocommit() => {
            Some(pending.disk_full().unwrap_or_else(|| {
                StoreError::sqlite(
                    "batch",
                    rusqlite::Error::SqliteFailure(
                        rusqlite::ffi::Error::new(rusqlite::ffi::SQLITE_ABORT),
                        Some("transaction was rolled back by SQLite during the batch".to_owned()),
                    ),
                )
            }))
        }
        Ok(()) => None,
    };
    (pending, fatal)
}

/// Turns an op that was not run into a pending failure.
pub(super) fn placeholder(op: Op, err: &StoreError) -> Pending {
    match op {
        Op::Store { reply, .. } => Pending::Store(reply, Err(err.clone())),
        Op::Count { reply, .. } => Pending::Count(reply, Err(err.clone())),
        Op::Claim { reply, .. } => Pending::Claim(reply, Err(err.clone())),
    }
}
