//! The single writer thread: batches queued operations into one durable
//! transaction, one SAVEPOINT per operation.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::mpsc;

use rusqlite::types::{ToSql, Value};
use rusqlite::{Connection, OptionalExtension, params};
use tokio::sync::oneshot;

use crate::error::{StoreError, from_disk, len_to_i64, to_i64};
use crate::ring::{pos_to_sql, sql_intervals};
use crate::types::{NewMessage, StoreOutcome, Tombstone};

/// Where the answer to one operation goes.
pub(crate) type Reply<T> = oneshot::Sender<Result<T, StoreError>>;

/// What the writer needs from the config: per-account limits, batch size
/// and the ring position function.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Settings {
    pub(crate) max_messages: u64,
    pub(crate) max_bytes: u64,
    pub(crate) max_tombstones: u64,
    pub(crate) max_batch: usize,
    pub(crate) ring_position: fn(&[u8; 32]) -> u64,
}

impl Settings {
    /// The encoded ring position of `account`.
    fn pos(&self, account: &[u8; 32]) -> i64 {
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
}

/// The operations answered with the number of messages they removed.
pub(crate) enum CountOp {
    /// Delete messages of one account namespace and tombstone them.
    Delete {
        account: [u8; 32],
        namespace: u16,
        hashes: Vec<[u8; 32]>,
        now_ms: u64,
        tombstone_ttl_ms: u64,
    },
    /// Insert replicated tombstones, deleting the messages they name.
    AddTombstones(Vec<Tombstone>),
    /// Remove messages and tombstones of a ring range, without tombstoning.
    DropRange { start: u64, end: u64 },
    /// Remove expired messages and tombstones.
    Purge { now_ms: u64 },
}

impl Op {
    /// Answers the operation with `err` without running it.
    pub(crate) fn fail(self, err: StoreError) {
        // A dropped receiver means the caller no longer cares: ignore.
        match self {
            Op::Store { reply, .. } => {
                let _ = reply.send(Err(err));
            }
            Op::Count { reply, .. } => {
                let _ = reply.send(Err(err));
            }
        }
    }

    /// Runs the operation inside the current transaction.
    fn execute(self, conn: &Connection, settings: &Settings) -> Pending {
        match self {
            Op::Store { msg, reply } => {
                let result = exec_store(conn, settings, &msg);
                Pending::Store(reply, result)
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
                    CountOp::Purge { now_ms } => exec_purge(conn, now_ms),
                };
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

    /// The operation's own error, if it is [`StoreError::DiskFull`].
    fn disk_full(&self) -> Option<StoreError> {
        let err = match self {
            Pending::Store(_, Err(e)) | Pending::Count(_, Err(e)) => e,
            _ => return None,
        };
        matches!(err, StoreError::DiskFull { .. }).then(|| err.clone())
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
    settings: Settings,
    commits: Arc<AtomicU64>,
) {
    let max_batch = settings.max_batch.max(1);
    while let Ok(first) = rx.recv() {
        let mut batch = Vec::with_capacity(max_batch.min(64));
        batch.push(first);
        while batch.len() < max_batch {
            match rx.try_recv() {
                Ok(op) => batch.push(op),
                Err(_) => break,
            }
        }
        run_batch(&mut conn, &settings, batch, &commits);
    }
    tracing::debug!("store writer thread exiting");
}

/// Runs `ops` in one transaction and answers each after COMMIT.
fn run_batch(conn: &mut Connection, settings: &Settings, ops: Vec<Op>, commits: &AtomicU64) {
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
        let (p, fatal) = run_in_savepoint(conn, settings, op);
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
fn run_in_savepoint(
    conn: &Connection,
    settings: &Settings,
    op: Op,
) -> (Pending, Option<StoreError>) {
    if let Err(e) = conn.execute_batch("SAVEPOINT nj_op") {
        let err = StoreError::sqlite("savepoint", e);
        // Answered later with the batch error: use a placeholder pending.
        return (placeholder(op, &err), Some(err));
    }
    let pending = op.execute(conn, settings);
    // SQLite may roll back the whole transaction on some errors (e.g. disk
    // full); the savepoint is then gone and earlier operations are lost.
    let rolled_back = conn.is_autocommit();
    let end = if rolled_back {
        Ok(())
    } else if pending.is_ok() {
        conn.execute_batch("RELEASE nj_op")
            .map_err(StoreError::sql("release savepoint"))
    } else {
        conn.execute_batch("ROLLBACK TO nj_op; RELEASE nj_op")
            .map_err(StoreError::sql("rollback to savepoint"))
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
fn placeholder(op: Op, err: &StoreError) -> Pending {
    match op {
        Op::Store { reply, .. } => Pending::Store(reply, Err(err.clone())),
        Op::Count { reply, .. } => Pending::Count(reply, Err(err.clone())),
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
fn over_quota(usage: (u64, u64), len: u64, settings: &Settings) -> Option<&'static str> {
    if usage.0.saturating_add(1) > settings.max_messages {
        Some("messages")
    } else if usage.1.saturating_add(len) > settings.max_bytes {
        Some("bytes")
    } else {
        None
    }
}

/// Adds `delta` (may be negative) to an account's tombstone count,
/// dropping the row when it reaches 0.
fn tomb_usage_add(conn: &Connection, account: &dyn ToSql, delta: i64) -> Result<(), StoreError> {
    const OP: &str = "update tombstone usage";
    if delta > 0 {
        conn.prepare_cached(
            "INSERT INTO tombstone_usage (account, tombstones) VALUES (?1, ?2)
             ON CONFLICT (account) DO UPDATE SET tombstones = tombstones + excluded.tombstones",
        )
        .and_then(|mut s| s.execute(params![account, delta]))
        .map_err(StoreError::sql(OP))?;
    } else if delta < 0 {
        conn.prepare_cached(
            "UPDATE tombstone_usage SET tombstones = tombstones + ?2 WHERE account = ?1",
        )
        .and_then(|mut s| s.execute(params![account, delta]))
        .map_err(StoreError::sql(OP))?;
        conn.prepare_cached("DELETE FROM tombstone_usage WHERE account = ?1 AND tombstones <= 0")
            .and_then(|mut s| s.execute(params![account]))
            .map_err(StoreError::sql(OP))?;
    }
    Ok(())
}

/// Reads an account's tombstone count.
fn tomb_usage(conn: &Connection, account: &[u8; 32]) -> Result<u64, StoreError> {
    let n: Option<i64> = conn
        .prepare_cached("SELECT tombstones FROM tombstone_usage WHERE account = ?1")
        .and_then(|mut s| s.query_row(params![account], |r| r.get(0)).optional())
        .map_err(StoreError::sql("read tombstone usage"))?;
    n.map_or(Ok(0), |n| from_disk("tombstone usage", n))
}

/// Removes an account's expired tombstones (used when it hits its cap).
fn purge_account_tombstones(
    conn: &Connection,
    account: &[u8; 32],
    now: i64,
) -> Result<(), StoreError> {
    const OP: &str = "purge account tombstones";
    let removed = conn
        .prepare_cached("DELETE FROM tombstones WHERE account = ?1 AND expiry_ms <= ?2")
        .and_then(|mut s| s.execute(params![account, now]))
        .map_err(StoreError::sql(OP))?;
    if removed > 0 {
        tomb_usage_add(conn, account, -i64::try_from(removed).unwrap_or(i64::MAX))?;
    }
    Ok(())
}

/// Fails with `QuotaExceeded { limit: "tombstones" }` if the account has
/// more tombstones than allowed. With `now`, first removes the account's
/// expired tombstones if that could help.
fn enforce_tombstone_cap(
    conn: &Connection,
    settings: &Settings,
    account: &[u8; 32],
    now: Option<i64>,
) -> Result<(), StoreError> {
    if tomb_usage(conn, account)? <= settings.max_tombstones {
        return Ok(());
    }
    if let Some(now) = now {
        purge_account_tombstones(conn, account, now)?;
        if tomb_usage(conn, account)? <= settings.max_tombstones {
            return Ok(());
        }
    }
    Err(StoreError::QuotaExceeded {
        limit: "tombstones",
    })
}

/// Deletes the message with this key, if held (expired or not), and
/// returns its `(expiry_ms, data length)`. Does not update `account_usage`:
/// the caller does, once per account.
fn take_message(
    conn: &Connection,
    account: &[u8; 32],
    namespace: i64,
    hash: &[u8; 32],
) -> Result<Option<(i64, i64)>, StoreError> {
    const OP: &str = "delete message";
    let found: Option<(i64, i64, i64)> = conn
        .prepare_cached(
            "SELECT seq, expiry_ms, length(data) FROM messages
             WHERE account = ?1 AND namespace = ?2 AND hash = ?3",
        )
        .and_then(|mut s| {
            s.query_row(params![account, namespace, hash], |r| {
                Ok((r.get(0)?, r.get(1)?, r.get(2)?))
            })
            .optional()
        })
        .map_err(StoreError::sql(OP))?;
    let Some((seq, expiry, len)) = found else {
        return Ok(None);
    };
    conn.prepare_cached("DELETE FROM messages WHERE seq = ?1")
        .and_then(|mut s| s.execute(params![seq]))
        .map_err(StoreError::sql(OP))?;
    Ok(Some((expiry, len)))
}

/// Inserts a tombstone, or raises an existing one's expiry to `expiry`
/// if that is later. Returns `true` if a new row was inserted. Does not
/// update `tombstone_usage`: the caller does, once per account.
fn put_tombstone(
    conn: &Connection,
    account: &[u8; 32],
    namespace: i64,
    hash: &[u8; 32],
    pos: i64,
    expiry: i64,
) -> Result<bool, StoreError> {
    const OP: &str = "write tombstone";
    let inserted = conn
        .prepare_cached(
            "INSERT INTO tombstones (account, namespace, hash, pos, expiry_ms)
             VALUES (?1, ?2, ?3, ?4, ?5) ON CONFLICT DO NOTHING",
        )
        .and_then(|mut s| s.execute(params![account, namespace, hash, pos, expiry]))
        .map_err(StoreError::sql(OP))?;
    if inserted > 0 {
        return Ok(true);
    }
    conn.prepare_cached(
        "UPDATE tombstones SET expiry_ms = ?4
         WHERE account = ?1 AND namespace = ?2 AND hash = ?3 AND expiry_ms < ?4",
    )
    .and_then(|mut s| s.execute(params![account, namespace, hash, expiry]))
    .map_err(StoreError::sql(OP))?;
    Ok(false)
}

fn exec_store(
    conn: &Connection,
    settings: &Settings,
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

    let tombstoned: bool = conn
        .prepare_cached(
            "SELECT EXISTS (SELECT 1 FROM tombstones
             WHERE account = ?1 AND namespace = ?2 AND hash = ?3 AND expiry_ms > ?4)",
        )
        .and_then(|mut s| s.query_row(params![msg.account, namespace, msg.hash, now], |r| r.get(0)))
        .map_err(StoreError::sql("look up tombstone"))?;
    if tombstoned {
        return Ok(StoreOutcome::Tombstoned);
    }

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
    if over_quota(usage(conn, &msg.account)?, len_u64, settings).is_some() {
        purge_account(conn, &msg.account, now)?;
        if let Some(limit) = over_quota(usage(conn, &msg.account)?, len_u64, settings) {
            return Err(StoreError::QuotaExceeded { limit });
        }
    }

    conn.prepare_cached(
        "INSERT INTO messages (account, namespace, hash, data, stored_at_ms, expiry_ms, pos)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
    )
    .and_then(|mut s| {
        s.execute(params![
            msg.account,
            namespace,
            msg.hash,
            msg.data,
            now,
            expiry,
            settings.pos(&msg.account),
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
    settings: &Settings,
    account: &[u8; 32],
    namespace: u16,
    mut hashes: Vec<[u8; 32]>,
    now_ms: u64,
    tombstone_ttl_ms: u64,
) -> Result<u64, StoreError> {
    let now = to_i64("now_ms", now_ms)?;
    let unknown_expiry = to_i64(
        "now_ms + tombstone_ttl_ms",
        now_ms.saturating_add(tombstone_ttl_ms),
    )?;
    let namespace = i64::from(namespace);
    let pos = settings.pos(account);
    // A repeated hash would otherwise get the unknown-hash expiry on its
    // second occurrence, after the first deleted the message.
    hashes.sort_unstable();
    hashes.dedup();

    let mut rows: i64 = 0;
    let mut bytes: i64 = 0;
    let mut new_tombstones: i64 = 0;
    for hash in &hashes {
        let held = take_message(conn, account, namespace, hash)?;
        let tombstone_expiry = match held {
            Some((expiry, len)) => {
                rows = rows.saturating_add(1);
                bytes = bytes.saturating_add(len);
                if expiry > now { expiry } else { unknown_expiry }
            }
            // Possibly a message not replicated here yet.
            None => unknown_expiry,
        };
        // An already expired tombstone would protect nothing.
        if tombstone_expiry > now
            && put_tombstone(conn, account, namespace, hash, pos, tombstone_expiry)?
        {
            new_tombstones = new_tombstones.saturating_add(1);
        }
    }
    if rows > 0 {
        usage_sub(conn, account, rows, bytes)?;
    }
    if new_tombstones > 0 {
        tomb_usage_add(conn, account, new_tombstones)?;
        enforce_tombstone_cap(conn, settings, account, Some(now))?;
    }
    from_disk("deleted rows", rows)
}

fn exec_add_tombstones(
    conn: &Connection,
    settings: &Settings,
    tombstones: &[Tombstone],
) -> Result<u64, StoreError> {
    // Per account: (messages deleted, bytes deleted, tombstones inserted).
    let mut per_account: BTreeMap<[u8; 32], (i64, i64, i64)> = BTreeMap::new();
    let mut deleted: u64 = 0;
    for t in tombstones {
        let mut expiry = to_i64("expiry_ms", t.expiry_ms)?;
        let namespace = i64::from(t.namespace);
        let held = take_message(conn, &t.account, namespace, &t.hash)?;
        let counts = per_account.entry(t.account).or_default();
        if let Some((message_expiry, len)) = held {
            deleted = deleted.saturating_add(1);
            counts.0 = counts.0.saturating_add(1);
            counts.1 = counts.1.saturating_add(len);
            // Our copy may live longer than the sender's (its expiry was
            // extended here): keep it from coming back until it expires.
            expiry = expiry.max(message_expiry);
        }
        let pos = settings.pos(&t.account);
        if put_tombstone(conn, &t.account, namespace, &t.hash, pos, expiry)? {
            counts.2 = counts.2.saturating_add(1);
        }
    }
    for (account, (rows, bytes, new_tombstones)) in &per_account {
        if *rows > 0 {
            usage_sub(conn, account, *rows, *bytes)?;
        }
        if *new_tombstones > 0 {
            tomb_usage_add(conn, account, *new_tombstones)?;
            enforce_tombstone_cap(conn, settings, account, None)?;
        }
    }
    Ok(deleted)
}

/// Per-account `(account, count, bytes)` of the rows `query` selects with
/// `params`. Accounts are read as raw values so that a malformed row cannot
/// block bulk removal.
fn group_by_account(
    conn: &Connection,
    op: &'static str,
    query: &str,
    params: &[&dyn ToSql],
) -> Result<Vec<(Value, i64, i64)>, StoreError> {
    conn.prepare_cached(query)
        .and_then(|mut s| {
            s.query_map(params, |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)))?
                .collect()
        })
        .map_err(StoreError::sql(op))
}

fn exec_drop_range(conn: &Connection, start: u64, end: u64) -> Result<u64, StoreError> {
    const OP: &str = "drop range";
    let mut deleted: u64 = 0;
    for (lo, hi) in sql_intervals(start, end) {
        let messages = group_by_account(
            conn,
            OP,
            "SELECT account, count(*), coalesce(sum(length(data)), 0) FROM messages
             WHERE pos BETWEEN ?1 AND ?2 GROUP BY account",
            params![lo, hi],
        )?;
        if !messages.is_empty() {
            for (account, n, b) in &messages {
                usage_sub(conn, account, *n, *b)?;
            }
            let n = conn
                .prepare_cached("DELETE FROM messages WHERE pos BETWEEN ?1 AND ?2")
                .and_then(|mut s| s.execute(params![lo, hi]))
                .map_err(StoreError::sql(OP))?;
            deleted = deleted.saturating_add(u64::try_from(n).unwrap_or(u64::MAX));
        }
        let tombstones = group_by_account(
            conn,
            OP,
            "SELECT account, count(*), 0 FROM tombstones
             WHERE pos BETWEEN ?1 AND ?2 GROUP BY account",
            params![lo, hi],
        )?;
        if !tombstones.is_empty() {
            for (account, n, _) in &tombstones {
                tomb_usage_add(conn, account, n.saturating_neg())?;
            }
            conn.prepare_cached("DELETE FROM tombstones WHERE pos BETWEEN ?1 AND ?2")
                .and_then(|mut s| s.execute(params![lo, hi]))
                .map_err(StoreError::sql(OP))?;
        }
    }
    Ok(deleted)
}

fn exec_purge(conn: &Connection, now_ms: u64) -> Result<u64, StoreError> {
    const OP: &str = "purge expired";
    let now = to_i64("now_ms", now_ms)?;
    let mut deleted: u64 = 0;
    let messages = group_by_account(
        conn,
        OP,
        "SELECT account, count(*), coalesce(sum(length(data)), 0) FROM messages
         WHERE expiry_ms <= ?1 GROUP BY account",
        params![now],
    )?;
    if !messages.is_empty() {
        for (account, n, b) in &messages {
            usage_sub(conn, account, *n, *b)?;
        }
        let n = conn
            .prepare_cached("DELETE FROM messages WHERE expiry_ms <= ?1")
            .and_then(|mut s| s.execute(params![now]))
            .map_err(StoreError::sql(OP))?;
        deleted = u64::try_from(n).unwrap_or(u64::MAX);
    }
    let tombstones = group_by_account(
        conn,
        OP,
        "SELECT account, count(*), 0 FROM tombstones WHERE expiry_ms <= ?1 GROUP BY account",
        params![now],
    )?;
    if !tombstones.is_empty() {
        for (account, n, _) in &tombstones {
            tomb_usage_add(conn, account, n.saturating_neg())?;
        }
        conn.prepare_cached("DELETE FROM tombstones WHERE expiry_ms <= ?1")
            .and_then(|mut s| s.execute(params![now]))
            .map_err(StoreError::sql(OP))?;
    }
    Ok(deleted)
}
