//! The single writer thread: batches queued operations into one durable
//! transaction, one SAVEPOINT per operation.

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::mpsc;

use rusqlite::types::{ToSql, ValueRef};
use rusqlite::{Connection, OptionalExtension, params};
use tokio::sync::oneshot;

use crate::error::{StoreError, from_disk, len_to_i64, to_i64};
use crate::ring::{pos_to_sql, sql_intervals};
use crate::types::{NewMessage, StoreOutcome, Tombstone};

/// Where the answer to one operation goes.
pub(crate) type Reply<T> = oneshot::Sender<Result<T, StoreError>>;

/// Most expired messages (then tombstones) one purge step removes. A step
/// is one operation of one batch; a purge with more to do continues in the
/// next batch, after this one committed, so a large purge does not hold
/// up other writes for the whole of it.
pub(crate) const PURGE_CHUNK: usize = 2_000;

/// Most accounts whose expiry floor the writer remembers (see
/// [`WriterState`]); past that the map is cleared and refilled on demand.
const MAX_EXPIRY_FLOORS: usize = 100_000;

/// Removes up to `?2` messages with `expiry_ms <= ?1`, found through
/// `messages_by_expiry`, returning each one's account and data length
/// (the usage counters are updated from exactly the rows removed).
pub(crate) const PURGE_MESSAGES: &str = "DELETE FROM messages WHERE seq IN (
     SELECT seq FROM messages INDEXED BY messages_by_expiry WHERE expiry_ms <= ?1 LIMIT ?2)
     RETURNING account, length(data)";

/// Removes up to `?2` tombstones with `expiry_ms <= ?1`, found through
/// `tombstones_by_expiry`, returning each one's account.
pub(crate) const PURGE_TOMBSTONES: &str = "DELETE FROM tombstones
     WHERE (account, namespace, hash) IN (
     SELECT account, namespace, hash FROM tombstones INDEXED BY tombstones_by_expiry
     WHERE expiry_ms <= ?1 LIMIT ?2)
     RETURNING account";

/// `(seq, expiry_ms)` of every message of account `?2` at encoded ring
/// position `?1`, read from `messages_by_pos` alone (it holds `account`,
/// `expiry_ms` and the rowid), so a full mailbox is walked without reading
/// the table.
pub(crate) const ACCOUNT_EXPIRIES: &str = "SELECT seq, expiry_ms
     FROM messages INDEXED BY messages_by_pos WHERE pos = ?1 AND account = ?2";

/// Per-account count and bytes of the messages in an interval of encoded
/// positions (through `messages_by_pos`).
pub(crate) const DROP_RANGE_MESSAGE_USAGE: &str =
    "SELECT account, count(*), coalesce(sum(length(data)), 0)
     FROM messages INDEXED BY messages_by_pos WHERE pos BETWEEN ?1 AND ?2 GROUP BY account";

/// Removes the messages counted by [`DROP_RANGE_MESSAGE_USAGE`].
pub(crate) const DROP_RANGE_MESSAGES: &str =
    "DELETE FROM messages INDEXED BY messages_by_pos WHERE pos BETWEEN ?1 AND ?2";

/// Per-account count of the tombstones in an interval of encoded
/// positions (through `tombstones_by_pos`).
pub(crate) const DROP_RANGE_TOMBSTONE_USAGE: &str = "SELECT account, count(*), 0
     FROM tombstones INDEXED BY tombstones_by_pos WHERE pos BETWEEN ?1 AND ?2 GROUP BY account";

/// Removes the tombstones counted by [`DROP_RANGE_TOMBSTONE_USAGE`].
pub(crate) const DROP_RANGE_TOMBSTONES: &str =
    "DELETE FROM tombstones INDEXED BY tombstones_by_pos WHERE pos BETWEEN ?1 AND ?2";

/// Inserts a message unless a live tombstone (`expiry_ms > ?5`, now)
/// names it or a row with its key exists; then nothing is inserted.
const INSERT_UNLESS_HELD_OR_TOMBSTONED: &str =
    "INSERT INTO messages (account, namespace, hash, data, stored_at_ms, expiry_ms, pos)
     SELECT ?1, ?2, ?3, ?4, ?5, ?6, ?7
     WHERE NOT EXISTS (SELECT 1 FROM tombstones
                       WHERE account = ?1 AND namespace = ?2 AND hash = ?3 AND expiry_ms > ?5)
     ON CONFLICT (account, namespace, hash) DO NOTHING";

/// Inserts a message (after the caller checked tombstone and duplicate).
const INSERT_MESSAGE: &str =
    "INSERT INTO messages (account, namespace, hash, data, stored_at_ms, expiry_ms, pos)
     VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)";

/// Adds one message of `?2` bytes to an account's usage and returns the
/// new `(messages, bytes)`.
const USAGE_ADD: &str = "INSERT INTO account_usage (account, messages, bytes) VALUES (?1, 1, ?2)
     ON CONFLICT (account) DO UPDATE SET messages = messages + 1, bytes = bytes + excluded.bytes
     RETURNING messages, bytes";

/// The per-operation savepoint, and ending it.
const SAVEPOINT_OP: &str = "SAVEPOINT nj_op";
const RELEASE_OP: &str = "RELEASE nj_op";
const ROLLBACK_TO_OP: &str = "ROLLBACK TO nj_op";

/// What the writer needs from the config: per-account limits, batch size
/// and the ring position function.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Settings {
    pub(crate) max_messages: u64,
    pub(crate) max_bytes: u64,
    pub(crate) max_tombstones: u64,
    pub(crate) max_batch: usize,
    pub(crate) ring_position: fn(&[u8; 32]) -> u64,
    /// Rows per purge step ([`PURGE_CHUNK`]; smaller in tests).
    pub(crate) purge_chunk: usize,
}

impl Settings {
    /// The encoded ring position of `account`.
    fn pos(&self, account: &[u8; 32]) -> i64 {
        pos_to_sql((self.ring_position)(account))
    }
}

/// What the writer thread remembers between operations, in memory only.
///
/// `expiry_floor`: for an account in the map, no message of that account
/// has `expiry_ms` below the value. So while the floor is above `now`, an
/// over-quota store need not look for expired messages to remove (a
/// refused store to a full mailbox then costs no mailbox walk). The floor
/// is set by [`purge_account`] once its removals are part of the
/// transaction, lowered by every message stored, and never raised
/// otherwise (deletes and purges only make it more conservative). The map
/// is cleared whenever a batch is rolled back, since a floor may then
/// describe removals that did not happen. It assumes this writer is the
/// only one adding messages to the database (as [`crate::Store`] ensures
/// for its own file); with another writer a floor could be too high, and
/// a store would be refused until the next purge removed the expired
/// messages — the usage counters stay exact either way.
#[derive(Debug, Default)]
pub(crate) struct WriterState {
    expiry_floor: HashMap<[u8; 32], i64>,
}

impl WriterState {
    /// `true` if the account is known to hold no message with
    /// `expiry_ms <= now`.
    fn nothing_expired(&self, account: &[u8; 32], now: i64) -> bool {
        self.expiry_floor.get(account).is_some_and(|&f| f > now)
    }

    /// Records that no message of `account` expires before `floor`.
    fn set_floor(&mut self, account: &[u8; 32], floor: i64) {
        if self.expiry_floor.len() >= MAX_EXPIRY_FLOORS && !self.expiry_floor.contains_key(account)
        {
            self.expiry_floor.clear();
        }
        self.expiry_floor.insert(*account, floor);
    }

    /// A message of `account` expiring at `expiry` was stored.
    fn stored(&mut self, account: &[u8; 32], expiry: i64) {
        if let Some(floor) = self.expiry_floor.get_mut(account) {
            *floor = (*floor).min(expiry);
        }
    }

    /// Forgets every floor (after a rollback).
    fn forget(&mut self) {
        self.expiry_floor.clear();
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
    /// Remove expired messages and tombstones, at most one chunk per batch;
    /// `removed` counts the messages earlier steps of this purge removed.
    Purge { now_ms: u64, removed: u64 },
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
    fn execute(self, conn: &Connection, settings: &Settings, state: &mut WriterState) -> Pending {
        match self {
            Op::Store { msg, reply } => {
                let result = exec_store(conn, settings, state, &msg);
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

/// An executed operation waiting for its transaction to commit.
enum Pending {
    Store(Reply<StoreOutcome>, Result<StoreOutcome, StoreError>),
    Count(Reply<u64>, Result<u64, StoreError>),
    /// A purge step that removed a full chunk: once this batch commits,
    /// the purge continues in the next one.
    PurgeMore {
        reply: Reply<u64>,
        now_ms: u64,
        removed: u64,
    },
}

impl Pending {
    fn is_ok(&self) -> bool {
        match self {
            Pending::Store(_, r) => r.is_ok(),
            Pending::Count(_, r) => r.is_ok(),
            Pending::PurgeMore { .. } => true,
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
    /// by `failure` (they were not made durable); errors are kept. Returns
    /// the rest of an unfinished purge, to run in the next batch.
    fn answer(self, failure: Option<&StoreError>) -> Option<Op> {
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
            Pending::PurgeMore {
                reply,
                now_ms,
                removed,
            } => match failure {
                Some(f) => {
                    let _ = reply.send(Err(f.clone()));
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
fn exec_cached(conn: &Connection, sql: &str, op: &'static str) -> Result<(), StoreError> {
    conn.prepare_cached(sql)
        .and_then(|mut s| s.execute([]))
        .map(|_| ())
        .map_err(StoreError::sql(op))
}

/// Runs `ops` in one transaction and answers each after COMMIT. Returns
/// the operations to continue in the next batch (unfinished purges).
fn run_batch(
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
    let left: Option<Option<i64>> = conn
        .prepare_cached(
            "UPDATE account_usage SET messages = messages - ?2, bytes = bytes - ?3
             WHERE account = ?1 RETURNING messages",
        )
        .and_then(|mut s| {
            s.query_row(params![account, messages, bytes], |r| r.get(0))
                .optional()
        })
        .map_err(StoreError::sql("update usage"))?;
    // A row is kept only while it counts messages (NULL would be damage:
    // leave it to the DELETE's condition).
    if left.is_some_and(|m| m.is_none_or(|m| m <= 0)) {
        conn.prepare_cached("DELETE FROM account_usage WHERE account = ?1 AND messages <= 0")
            .and_then(|mut s| s.execute(params![account]))
            .map_err(StoreError::sql("update usage"))?;
    }
    Ok(())
}

/// Removes an account's expired messages (used when a store would put it
/// over its quota), unless `state` knows that none has expired.
///
/// Reads the account's `(seq, expiry_ms)` from `messages_by_pos` alone
/// ([`ACCOUNT_EXPIRIES`]), deletes the expired rows by `seq` and subtracts
/// exactly what was deleted from the usage row. Removals are then released
/// into the batch transaction (the op's savepoint is restarted), so they
/// stay even if the store is refused after all; and the account's expiry
/// floor becomes the earliest expiry left, so that later over-quota stores
/// skip this walk until something can have expired.
fn purge_account(
    conn: &Connection,
    settings: &Settings,
    state: &mut WriterState,
    account: &[u8; 32],
    now: i64,
) -> Result<(), StoreError> {
    const OP: &str = "purge account";
    if state.nothing_expired(account, now) {
        return Ok(());
    }
    let mut expired: Vec<i64> = Vec::new();
    let mut floor = i64::MAX;
    {
        let mut stmt = conn
            .prepare_cached(ACCOUNT_EXPIRIES)
            .map_err(StoreError::sql(OP))?;
        let mut rows = stmt
            .query(params![settings.pos(account), account])
            .map_err(StoreError::sql(OP))?;
        while let Some(row) = rows.next().map_err(StoreError::sql(OP))? {
            let seq: i64 = row.get(0).map_err(StoreError::sql(OP))?;
            let expiry: i64 = row.get(1).map_err(StoreError::sql(OP))?;
            if expiry <= now {
                expired.push(seq);
            } else {
                floor = floor.min(expiry);
            }
        }
    }
    if !expired.is_empty() {
        let mut rows: i64 = 0;
        let mut bytes: i64 = 0;
        let mut delete = conn
            .prepare_cached("DELETE FROM messages WHERE seq = ?1 RETURNING length(data)")
            .map_err(StoreError::sql(OP))?;
        for seq in &expired {
            let len: Option<Option<i64>> = delete
                .query_row(params![seq], |r| r.get(0))
                .optional()
                .map_err(StoreError::sql(OP))?;
            if let Some(len) = len {
                rows = rows.saturating_add(1);
                bytes = bytes.saturating_add(len.unwrap_or(0));
            }
        }
        drop(delete);
        usage_sub(conn, account, rows, bytes)?;
        // Keep the removals whatever happens to the rest of this op.
        exec_cached(conn, RELEASE_OP, OP)?;
        exec_cached(conn, SAVEPOINT_OP, OP)?;
    }
    state.set_floor(account, floor);
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
        let left: Option<Option<i64>> = conn
            .prepare_cached(
                "UPDATE tombstone_usage SET tombstones = tombstones + ?2 WHERE account = ?1
                 RETURNING tombstones",
            )
            .and_then(|mut s| {
                s.query_row(params![account, delta], |r| r.get(0))
                    .optional()
            })
            .map_err(StoreError::sql(OP))?;
        if left.is_some_and(|n| n.is_none_or(|n| n <= 0)) {
            conn.prepare_cached(
                "DELETE FROM tombstone_usage WHERE account = ?1 AND tombstones <= 0",
            )
            .and_then(|mut s| s.execute(params![account]))
            .map_err(StoreError::sql(OP))?;
        }
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

/// What the store already has for a message's key.
enum Held {
    /// A live tombstone, or a live copy (whose expiry was raised to the
    /// later of the two): the store is answered without inserting.
    Answered(StoreOutcome),
    /// An expired copy, not purged yet.
    Expired { seq: i64, len: i64 },
    /// Neither.
    No,
}

/// Looks up a live tombstone, then a copy, of `msg`'s key; raises a live
/// copy's expiry to `expiry` if that is later.
fn held(conn: &Connection, msg: &NewMessage, now: i64, expiry: i64) -> Result<Held, StoreError> {
    let namespace = i64::from(msg.namespace);
    let tombstoned: bool = conn
        .prepare_cached(
            "SELECT EXISTS (SELECT 1 FROM tombstones
             WHERE account = ?1 AND namespace = ?2 AND hash = ?3 AND expiry_ms > ?4)",
        )
        .and_then(|mut s| s.query_row(params![msg.account, namespace, msg.hash, now], |r| r.get(0)))
        .map_err(StoreError::sql("look up tombstone"))?;
    if tombstoned {
        return Ok(Held::Answered(StoreOutcome::Tombstoned));
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
    let Some((seq, old_expiry, len)) = existing else {
        return Ok(Held::No);
    };
    if old_expiry <= now {
        return Ok(Held::Expired { seq, len });
    }
    if expiry > old_expiry {
        conn.prepare_cached("UPDATE messages SET expiry_ms = ?2 WHERE seq = ?1")
            .and_then(|mut s| s.execute(params![seq, expiry]))
            .map_err(StoreError::sql("extend expiry"))?;
    }
    Ok(Held::Answered(StoreOutcome::AlreadyStored {
        seq: from_disk("seq", seq)?,
    }))
}

/// The result of one attempt at storing a message.
enum Attempt {
    Done(StoreOutcome),
    /// Stored, but the account is now over this quota: the caller rolls
    /// the attempt back.
    OverQuota(&'static str),
}

/// Stores `msg` if it is new, with as few statements as possible: one
/// insert that does nothing for a live tombstone or an existing key, and
/// one usage update that returns the new usage. Only when nothing was
/// inserted does it look at why (tombstone, live or expired duplicate).
/// The quota is checked after the insert: [`Attempt::OverQuota`] leaves
/// the message inserted and counted, for the caller to roll back.
fn store_once(
    conn: &Connection,
    settings: &Settings,
    state: &mut WriterState,
    msg: &NewMessage,
    now: i64,
    expiry: i64,
    len: i64,
) -> Result<Attempt, StoreError> {
    let namespace = i64::from(msg.namespace);
    let pos = settings.pos(&msg.account);
    let row = params![msg.account, namespace, msg.hash, msg.data, now, expiry, pos];
    let inserted = conn
        .prepare_cached(INSERT_UNLESS_HELD_OR_TOMBSTONED)
        .and_then(|mut s| s.execute(row))
        .map_err(StoreError::sql("insert message"))?;
    if inserted == 0 {
        match held(conn, msg, now, expiry)? {
            Held::Answered(outcome) => return Ok(Attempt::Done(outcome)),
            Held::Expired { seq, len: old_len } => {
                // The old copy expired (not purged yet): replace it with a
                // fresh message so it gets a new seq and is seen by clients
                // past the old one.
                conn.prepare_cached("DELETE FROM messages WHERE seq = ?1")
                    .and_then(|mut s| s.execute(params![seq]))
                    .map_err(StoreError::sql("replace expired duplicate"))?;
                usage_sub(conn, &msg.account, 1, old_len)?;
            }
            Held::No => {}
        }
        conn.prepare_cached(INSERT_MESSAGE)
            .and_then(|mut s| s.execute(row))
            .map_err(StoreError::sql("insert message"))?;
    }
    let seq = conn.last_insert_rowid();
    let (messages, bytes): (i64, i64) = conn
        .prepare_cached(USAGE_ADD)
        .and_then(|mut s| s.query_row(params![msg.account, len], |r| Ok((r.get(0)?, r.get(1)?))))
        .map_err(StoreError::sql("update usage"))?;
    let messages = from_disk("usage messages", messages)?;
    let bytes = from_disk("usage bytes", bytes)?;
    if messages > settings.max_messages {
        return Ok(Attempt::OverQuota("messages"));
    }
    if bytes > settings.max_bytes {
        return Ok(Attempt::OverQuota("bytes"));
    }
    state.stored(&msg.account, expiry);
    Ok(Attempt::Done(StoreOutcome::Stored {
        seq: from_disk("seq", seq)?,
    }))
}

fn exec_store(
    conn: &Connection,
    settings: &Settings,
    state: &mut WriterState,
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
    let len_u64 = from_disk("data length", len)?;
    // An account known to be full with nothing expired (it was over quota
    // before): answer without inserting and rolling back, unless the
    // message is already held or tombstoned.
    if state.nothing_expired(&msg.account, now)
        && let Some(limit) = over_quota(usage(conn, &msg.account)?, len_u64, settings)
    {
        match held(conn, msg, now, expiry)? {
            Held::Answered(outcome) => return Ok(outcome),
            Held::No => return Err(StoreError::QuotaExceeded { limit }),
            // Cannot be while nothing expired; take the general path.
            Held::Expired { .. } => {}
        }
    }
    if let Attempt::Done(outcome) = store_once(conn, settings, state, msg, now, expiry, len)? {
        return Ok(outcome);
    }
    // Over quota: undo the attempt, remove the account's expired messages
    // (kept even if the store is refused) and try again if that made room.
    exec_cached(conn, ROLLBACK_TO_OP, "rollback over-quota store")?;
    purge_account(conn, settings, state, &msg.account, now)?;
    if let Some(limit) = over_quota(usage(conn, &msg.account)?, len_u64, settings) {
        return Err(StoreError::QuotaExceeded { limit });
    }
    match store_once(conn, settings, state, msg, now, expiry, len)? {
        Attempt::Done(outcome) => Ok(outcome),
        // Not expected after the check above; the op's savepoint undoes it.
        Attempt::OverQuota(limit) => Err(StoreError::QuotaExceeded { limit }),
    }
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
) -> Result<Vec<(rusqlite::types::Value, i64, i64)>, StoreError> {
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
        let messages = group_by_account(conn, OP, DROP_RANGE_MESSAGE_USAGE, params![lo, hi])?;
        if !messages.is_empty() {
            for (account, n, b) in &messages {
                usage_sub(conn, account, *n, *b)?;
            }
            let n = conn
                .prepare_cached(DROP_RANGE_MESSAGES)
                .and_then(|mut s| s.execute(params![lo, hi]))
                .map_err(StoreError::sql(OP))?;
            deleted = deleted.saturating_add(u64::try_from(n).unwrap_or(u64::MAX));
        }
        let tombstones = group_by_account(conn, OP, DROP_RANGE_TOMBSTONE_USAGE, params![lo, hi])?;
        if !tombstones.is_empty() {
            for (account, n, _) in &tombstones {
                tomb_usage_add(conn, account, n.saturating_neg())?;
            }
            conn.prepare_cached(DROP_RANGE_TOMBSTONES)
                .and_then(|mut s| s.execute(params![lo, hi]))
                .map_err(StoreError::sql(OP))?;
        }
    }
    Ok(deleted)
}

/// Rows removed by one `DELETE … RETURNING account[, length(data)]`,
/// counted per account.
#[derive(Default)]
struct Removed {
    /// Rows removed in all.
    rows: u64,
    /// Per account (as stored: a blob): `(rows, bytes)`.
    by_account: HashMap<Vec<u8>, (i64, i64)>,
    /// Rows whose account is not a blob (damaged outside this crate): no
    /// usage row can be keyed by them.
    malformed: u64,
}

/// Runs `sql` (a `DELETE … RETURNING account[, length]`) with `(now,
/// limit)` and counts what it removed.
fn remove_counted(
    conn: &Connection,
    sql: &str,
    now: i64,
    limit: i64,
    with_len: bool,
) -> rusqlite::Result<Removed> {
    let mut out = Removed::default();
    let mut stmt = conn.prepare_cached(sql)?;
    let mut rows = stmt.query(params![now, limit])?;
    while let Some(row) = rows.next()? {
        out.rows = out.rows.saturating_add(1);
        let len: i64 = if with_len {
            row.get::<_, Option<i64>>(1)?.unwrap_or(0)
        } else {
            0
        };
        match row.get_ref(0)? {
            ValueRef::Blob(account) => match out.by_account.get_mut(account) {
                Some((n, b)) => {
                    *n = n.saturating_add(1);
                    *b = b.saturating_add(len);
                }
                None => {
                    out.by_account.insert(account.to_vec(), (1, len));
                }
            },
            _ => out.malformed = out.malformed.saturating_add(1),
        }
    }
    Ok(out)
}

/// One step of a purge: removes up to `chunk` messages with `expiry_ms <=
/// now_ms` ([`PURGE_MESSAGES`]) or, once none is left, up to `chunk`
/// expired tombstones ([`PURGE_TOMBSTONES`]), and subtracts exactly what
/// it removed from the usage counters. Returns the number of messages
/// removed and whether more may be left.
fn exec_purge_step(
    conn: &Connection,
    now_ms: u64,
    chunk: usize,
) -> Result<(u64, bool), StoreError> {
    const OP: &str = "purge expired";
    let now = to_i64("now_ms", now_ms)?;
    let chunk = chunk.max(1);
    let limit = i64::try_from(chunk).unwrap_or(i64::MAX);
    let full = u64::try_from(chunk).unwrap_or(u64::MAX);
    let messages =
        remove_counted(conn, PURGE_MESSAGES, now, limit, true).map_err(StoreError::sql(OP))?;
    for (account, (n, b)) in &messages.by_account {
        usage_sub(conn, account, *n, *b)?;
    }
    if messages.malformed > 0 {
        tracing::warn!(
            rows = messages.malformed,
            "purged messages whose account is not a blob"
        );
    }
    if messages.rows >= full {
        return Ok((messages.rows, true));
    }
    let tombstones =
        remove_counted(conn, PURGE_TOMBSTONES, now, limit, false).map_err(StoreError::sql(OP))?;
    for (account, (n, _)) in &tombstones.by_account {
        tomb_usage_add(conn, account, n.saturating_neg())?;
    }
    Ok((messages.rows, tombstones.rows >= full))
}
