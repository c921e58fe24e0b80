//! The single writer thread: batches queued operations into one durable
//! transaction, one SAVEPOINT per operation.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::mpsc;

use rusqlite::types::{ToSql, Value};
use rusqlite::{Connection, OptionalExtension, params};
use tokio::sync::oneshot;

use crate::error::{StoreError, from_disk, len_to_i64, to_i64};
use crate::types::{NewMessage, StoreOutcome};

/// Where the answer to one operation goes.
pub(crate) type Reply<T> = oneshot::Sender<Result<T, StoreError>>;

/// Per-account limits, copied from the config.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Limits {
    pub(crate) max_messages: u64,
    pub(crate) max_bytes: u64,
    pub(crate) max_batch: usize,
}

/// One queued write operation.
pub(crate) enum Op {
    Store {
        msg: NewMessage,
        reply: Reply<StoreOutcome>,
    },
    Delete {
        account: [u8; 32],
        namespace: u16,
        hashes: Vec<[u8; 32]>,
        reply: Reply<u64>,
    },
    Purge {
        now_ms: u64,
        reply: Reply<u64>,
    },
}

impl Op {
    /// Answers the operation with `err` without running it.
    pub(crate) fn fail(self, err: StoreError) {
        // A dropped receiver means the caller no longer cares: ignore.
        match self {
            Op::Store { reply, .. } => {
                let _ = reply.send(Err(err));
            }
            Op::Delete { reply, .. } | Op::Purge { reply, .. } => {
                let _ = reply.send(Err(err));
            }
        }
    }

    /// Runs the operation inside the current transaction.
    fn execute(self, conn: &Connection, limits: &Limits) -> Pending {
        match self {
            Op::Store { msg, reply } => {
                let result = exec_store(conn, limits, &msg);
                Pending::Store(reply, result)
            }
            Op::Delete {
                account,
                namespace,
                hashes,
                reply,
            } => {
                let result = exec_delete(conn, &account, namespace, &hashes);
                Pending::Count(reply, result)
            }
            Op::Purge { now_ms, reply } => {
                let result = exec_purge(conn, now_ms);
                Pending::Count(reply, result)
            }
        }
    }
}

/// An executed operation waiting for its transaction to commit.
enum Pending {
    Store(Reply<StoreOutcome>, Result<StoreOutcome, StoreError>),
    Count(Reply<u64>, Result<u64, StoreError>),
}

impl Pending {
    fn is_ok(&self) -> bool {
        match self {
            Pending::Store(_, r) => r.is_ok(),
            Pending::Count(_, r) => r.is_ok(),
        }
    }

    /// Sends the answer. If the batch failed, successful results are replaced
    /// by `failure` (they were not made durable); errors are kept.
    fn answer(self, failure: Option<&StoreError>) {
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
                let _ = reply.send(pick(r, failure));
            }
            Pending::Count(reply, r) => {
                let _ = reply.send(pick(r, failure));
            }
        }
    }
}

/// The writer thread's main loop. Returns when every sender is dropped and
/// the queue is drained.
pub(crate) fn run(
    mut conn: Connection,
    rx: mpsc::Receiver<Op>,
    limits: Limits,
    commits: Arc<AtomicU64>,
) {
    let max_batch = limits.max_batch.max(1);
    while let Ok(first) = rx.recv() {
        let mut batch = Vec::with_capacity(max_batch.min(64));
        batch.push(first);
        while batch.len() < max_batch {
            match rx.try_recv() {
                Ok(op) => batch.push(op),
                Err(_) => break,
            }
        }
        run_batch(&mut conn, &limits, batch, &commits);
    }
    tracing::debug!("store writer thread exiting");
}

/// Runs `ops` in one transaction and answers each after COMMIT.
fn run_batch(conn: &mut Connection, limits: &Limits, ops: Vec<Op>, commits: &AtomicU64) {
    if let Err(e) = conn.execute_batch("BEGIN IMMEDIATE") {
        let err = StoreError::sqlite("begin", e);
        tracing::warn!(error = %err, "store batch could not begin");
        for op in ops {
            op.fail(err.clone());
        }
        return;
    }

    let mut pending = Vec::with_capacity(ops.len());
    let mut abort: Option<StoreError> = None;
    let mut ops = ops.into_iter();
    for op in ops.by_ref() {
        let (p, fatal) = run_in_savepoint(conn, limits, op);
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
        None => match conn.execute_batch("COMMIT") {
            Ok(()) => {
                commits.fetch_add(1, Ordering::Relaxed);
                None
            }
            Err(e) => {
                rollback(conn);
                Some(StoreError::sqlite("commit", e))
            }
        },
    };
    if let Some(err) = &failure {
        tracing::warn!(error = %err, ops = pending.len(), "store batch failed; nothing acknowledged");
    }
    for p in pending {
        p.answer(failure.as_ref());
    }
}

/// Rolls back the open transaction, if any.
fn rollback(conn: &Connection) {
    if !conn.is_autocommit()
        && let Err(e) = conn.execute_batch("ROLLBACK")
    {
        tracing::warn!(error = %e, "store rollback failed");
    }
}

/// Runs one op inside a SAVEPOINT. Returns a fatal error if the enclosing
/// transaction can no longer be trusted (then the whole batch fails).
fn run_in_savepoint(conn: &Connection, limits: &Limits, op: Op) -> (Pending, Option<StoreError>) {
    if let Err(e) = conn.execute_batch("SAVEPOINT nj_op") {
        let err = StoreError::sqlite("savepoint", e);
        // Answered later with the batch error: use a placeholder pending.
        return (placeholder(op, &err), Some(err));
    }
    let pending = op.execute(conn, limits);
    let end = if pending.is_ok() {
        conn.execute_batch("RELEASE nj_op")
            .map_err(StoreError::sql("release savepoint"))
    } else {
        conn.execute_batch("ROLLBACK TO nj_op; RELEASE nj_op")
            .map_err(StoreError::sql("rollback to savepoint"))
    };
    let fatal = match end {
        Err(err) => Some(err),
        // SQLite may roll back the whole transaction on some errors
        // (e.g. disk full); earlier operations would then be lost.
        Ok(()) if conn.is_autocommit() => Some(StoreError::sqlite(
            "batch",
            rusqlite::Error::SqliteFailure(
                rusqlite::ffi::Error::new(rusqlite::ffi::SQLITE_ABORT),
                Some("transaction was rolled back by SQLite during the batch".to_owned()),
            ),
        )),
        Ok(()) => None,
    };
    (pending, fatal)
}

/// Turns an op that was not run into a pending failure.
fn placeholder(op: Op, err: &StoreError) -> Pending {
    match op {
        Op::Store { reply, .. } => Pending::Store(reply, Err(err.clone())),
        Op::Delete { reply, .. } | Op::Purge { reply, .. } => {
            Pending::Count(reply, Err(err.clone()))
        }
    }
}

/// Subtracts removed messages from an account's usage row.
fn usage_sub(
    conn: &Connection,
    account: &dyn ToSql,
    messages: i64,
    bytes: i64,
) -> Result<(), StoreError> {
    conn.prepare_cached(
        "UPDATE account_usage SET messages = messages - ?2, bytes = bytes - ?3 WHERE account = ?1",
    )
    .and_then(|mut s| s.execute(params![account, messages, bytes]))
    .map_err(StoreError::sql("update usage"))?;
    conn.prepare_cached("DELETE FROM account_usage WHERE account = ?1 AND messages <= 0")
        .and_then(|mut s| s.execute(params![account]))
        .map_err(StoreError::sql("update usage"))?;
    Ok(())
}

/// Removes an account's expired messages (used when it hits its quota).
fn purge_account(conn: &Connection, account: &[u8; 32], now: i64) -> Result<(), StoreError> {
    let (n, b): (i64, i64) = conn
        .prepare_cached(
            "SELECT count(*), coalesce(sum(length(data)), 0) FROM messages
             WHERE account = ?1 AND expiry_ms <= ?2",
        )
        .and_then(|mut s| s.query_row(params![account, now], |r| Ok((r.get(0)?, r.get(1)?))))
        .map_err(StoreError::sql("purge account"))?;
    if n > 0 {
        conn.prepare_cached("DELETE FROM messages WHERE account = ?1 AND expiry_ms <= ?2")
            .and_then(|mut s| s.execute(params![account, now]))
            .map_err(StoreError::sql("purge account"))?;
        usage_sub(conn, account, n, b)?;
    }
    Ok(())
}

/// Reads an account's usage `(messages, bytes)`.
fn usage(conn: &Connection, account: &[u8; 32]) -> Result<(u64, u64), StoreError> {
    let row: Option<(i64, i64)> = conn
        .prepare_cached("SELECT messages, bytes FROM account_usage WHERE account = ?1")
        .and_then(|mut s| {
            s.query_row(params![account], |r| Ok((r.get(0)?, r.get(1)?)))
                .optional()
        })
        .map_err(StoreError::sql("read usage"))?;
    match row {
        None => Ok((0, 0)),
        Some((m, b)) => Ok((
            from_disk("usage messages", m)?,
            from_disk("usage bytes", b)?,
        )),
    }
}

/// Which quota (if any) storing `len` more bytes would exceed.
fn over_quota(usage: (u64, u64), len: u64, limits: &Limits) -> Option<&'static str> {
    if usage.0.saturating_add(1) > limits.max_messages {
        Some("messages")
    } else if usage.1.saturating_add(len) > limits.max_bytes {
        Some("bytes")
    } else {
        None
    }
}

fn exec_store(
    conn: &Connection,
    limits: &Limits,
    msg: &NewMessage,
) -> Result<StoreOutcome, StoreError> {
    let now = to_i64("now_ms", msg.now_ms)?;
    let expiry = to_i64("expiry_ms", msg.expiry_ms)?;
    let len = len_to_i64("data length", msg.data.len())?;
    if msg.expiry_ms <= msg.now_ms {
        return Err(StoreError::AlreadyExpired {
            now_ms: msg.now_ms,
            expiry_ms: msg.expiry_ms,
        });
    }
    let namespace = i64::from(msg.namespace);

    let existing: Option<(i64, i64, i64)> = conn
        .prepare_cached(
            "SELECT seq, expiry_ms, length(data) FROM messages
             WHERE account = ?1 AND namespace = ?2 AND hash = ?3",
        )
        .and_then(|mut s| {
            s.query_row(params![msg.account, namespace, msg.hash], |r| {
                Ok((r.get(0)?, r.get(1)?, r.get(2)?))
            })
            .optional()
        })
        .map_err(StoreError::sql("look up duplicate"))?;
    if let Some((seq, old_expiry, old_len)) = existing {
        if old_expiry > now {
            if expiry > old_expiry {
                conn.prepare_cached("UPDATE messages SET expiry_ms = ?2 WHERE seq = ?1")
                    .and_then(|mut s| s.execute(params![seq, expiry]))
                    .map_err(StoreError::sql("extend expiry"))?;
            }
            return Ok(StoreOutcome::AlreadyStored {
                seq: from_disk("seq", seq)?,
            });
        }
        // The old copy expired (not purged yet): replace it with a fresh
        // message so it gets a new seq and is seen by clients past the old one.
        conn.prepare_cached("DELETE FROM messages WHERE seq = ?1")
            .and_then(|mut s| s.execute(params![seq]))
            .map_err(StoreError::sql("replace expired duplicate"))?;
        usage_sub(conn, &msg.account, 1, old_len)?;
    }

    let len_u64 = from_disk("data length", len)?;
    if over_quota(usage(conn, &msg.account)?, len_u64, limits).is_some() {
        purge_account(conn, &msg.account, now)?;
        if let Some(limit) = over_quota(usage(conn, &msg.account)?, len_u64, limits) {
            return Err(StoreError::QuotaExceeded { limit });
        }
    }

    conn.prepare_cached(
        "INSERT INTO messages (account, namespace, hash, data, stored_at_ms, expiry_ms)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
    )
    .and_then(|mut s| {
        s.execute(params![
            msg.account,
            namespace,
            msg.hash,
            msg.data,
            now,
            expiry
        ])
    })
    .map_err(StoreError::sql("insert message"))?;
    let seq = conn.last_insert_rowid();
    conn.prepare_cached(
        "INSERT INTO account_usage (account, messages, bytes) VALUES (?1, 1, ?2)
         ON CONFLICT (account) DO UPDATE SET messages = messages + 1, bytes = bytes + excluded.bytes",
    )
    .and_then(|mut s| s.execute(params![msg.account, len]))
    .map_err(StoreError::sql("update usage"))?;
    Ok(StoreOutcome::Stored {
        seq: from_disk("seq", seq)?,
    })
}

fn exec_delete(
    conn: &Connection,
    account: &[u8; 32],
    namespace: u16,
    hashes: &[[u8; 32]],
) -> Result<u64, StoreError> {
    let namespace = i64::from(namespace);
    let mut rows: i64 = 0;
    let mut bytes: i64 = 0;
    for hash in hashes {
        let found: Option<(i64, i64)> = conn
            .prepare_cached(
                "SELECT seq, length(data) FROM messages
                 WHERE account = ?1 AND namespace = ?2 AND hash = ?3",
            )
            .and_then(|mut s| {
                s.query_row(params![account, namespace, hash], |r| {
                    Ok((r.get(0)?, r.get(1)?))
                })
                .optional()
            })
            .map_err(StoreError::sql("delete messages"))?;
        if let Some((seq, len)) = found {
            conn.prepare_cached("DELETE FROM messages WHERE seq = ?1")
                .and_then(|mut s| s.execute(params![seq]))
                .map_err(StoreError::sql("delete messages"))?;
            rows = rows.saturating_add(1);
            bytes = bytes.saturating_add(len);
        }
    }
    if rows > 0 {
        usage_sub(conn, account, rows, bytes)?;
    }
    from_disk("deleted rows", rows)
}

fn exec_purge(conn: &Connection, now_ms: u64) -> Result<u64, StoreError> {
    let now = to_i64("now_ms", now_ms)?;
    // The account is read as a raw value so that a malformed row cannot
    // block purging.
    let per_account: Vec<(Value, i64, i64)> = conn
        .prepare_cached(
            "SELECT account, count(*), coalesce(sum(length(data)), 0) FROM messages
             WHERE expiry_ms <= ?1 GROUP BY account",
        )
        .and_then(|mut s| {
            s.query_map(params![now], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)))?
                .collect()
        })
        .map_err(StoreError::sql("purge expired"))?;
    if per_account.is_empty() {
        return Ok(0);
    }
    for (account, n, b) in &per_account {
        usage_sub(conn, account, *n, *b)?;
    }
    let deleted = conn
        .prepare_cached("DELETE FROM messages WHERE expiry_ms <= ?1")
        .and_then(|mut s| s.execute(params![now]))
        .map_err(StoreError::sql("purge expired"))?;
    Ok(u64::try_from(deleted).unwrap_or(u64::MAX))
}
