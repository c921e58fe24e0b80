//! The write operations other than purge and claims: store, delete, add
//! tombstones and drop a ring range, each run inside the batch's
//! transaction.
//!
//! Not for: batching (`batch`) or the expiry purge (`purge`).

use crate::error::StoreError;
use crate::error::from_disk;
use crate::error::len_to_i64;
use crate::error::to_i64;
use crate::ring::sql_intervals;
use crate::types::NewMessage;
use crate::types::StoreOutcome;
use crate::types::Tombstone;
use nightjar_types::namespace::is_claimable;
use nightjar_types::{AccountKey, MessageHash};
use rusqlite::Connection;
use rusqlite::OptionalExtension;
use rusqlite::params;
use rusqlite::types::ToSql;
use std::collections::BTreeMap;

use super::Settings;
use super::batch::exec_cached;
use super::claims::claim_usage_add;
use super::claims::keep_claim_alive;
use super::quotas::WriterState;
use super::quotas::enforce_tombstone_cap;
use super::quotas::over_quota;
use super::quotas::purge_account;
use super::quotas::tomb_usage_add;
use super::quotas::usage;
use super::quotas::usage_sub;
use super::sql::DROP_RANGE_CLAIM_USAGE;
use super::sql::DROP_RANGE_CLAIMS;
use super::sql::DROP_RANGE_MESSAGE_USAGE;
use super::sql::DROP_RANGE_MESSAGES;
use super::sql::DROP_RANGE_TOMBSTONE_USAGE;
use super::sql::DROP_RANGE_TOMBSTONES;
use super::sql::FIND_MESSAGE;
use super::sql::INSERT_MESSAGE;
use super::sql::INSERT_UNLESS_HELD_OR_TOMBSTONED;
use super::sql::ROLLBACK_TO_OP;
use super::sql::USAGE_ADD;

/// Deletes the message with this key, if held (expired or not), and
/// returns its `(expiry_ms, data length)`. Does not update `account_usage`:
/// the caller does, once per account.
pub(super) fn take_message(
    conn: &Connection,
    settings: &Settings,
    account: &AccountKey,
    namespace: i64,
    hash: &MessageHash,
) -> Result<Option<(i64, i64)>, StoreError> {
    const OP: &str = "delete message";
    let found: Option<(i64, i64, i64)> = conn
        .prepare_cached(FIND_MESSAGE)
        .and_then(|mut s| {
            s.query_row(
                params![
                    account.as_bytes(),
                    namespace,
                    hash.as_bytes(),
                    settings.pos(account)
                ],
                |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)),
            )
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
pub(super) fn put_tombstone(
    conn: &Connection,
    account: &AccountKey,
    namespace: i64,
    hash: &MessageHash,
    pos: i64,
    expiry: i64,
) -> Result<bool, StoreError> {
    const OP: &str = "write tombstone";
    let (account, hash) = (account.as_bytes(), hash.as_bytes());
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
pub(super) enum Held {
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
pub(super) fn held(
    conn: &Connection,
    settings: &Settings,
    msg: &NewMessage,
    now: i64,
    expiry: i64,
) -> Result<Held, StoreError> {
    let namespace = i64::from(msg.namespace);
    let (account, hash) = (msg.account.as_bytes(), msg.hash.as_bytes());
    let tombstoned: bool = conn
        .prepare_cached(
            "SELECT EXISTS (SELECT 1 FROM tombstones
             WHERE account = ?1 AND namespace = ?2 AND hash = ?3 AND expiry_ms > ?4)",
        )
        .and_then(|mut s| s.query_row(params![account, namespace, hash, now], |r| r.get(0)))
        .map_err(StoreError::sql("look up tombstone"))?;
    if tombstoned {
        return Ok(Held::Answered(StoreOutcome::Tombstoned));
    }
    let pos = settings.pos(&msg.account);
    let existing: Option<(i64, i64, i64)> = conn
        .prepare_cached(FIND_MESSAGE)
        .and_then(|mut s| {
            s.query_row(params![account, namespace, hash, pos], |r| {
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
pub(super) enum Attempt {
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
pub(super) fn store_once(
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
    let account = msg.account.as_bytes();
    let row = params![
        account,
        namespace,
        msg.hash.as_bytes(),
        msg.data,
        now,
        expiry,
        pos
    ];
    let inserted = conn
        .prepare_cached(INSERT_UNLESS_HELD_OR_TOMBSTONED)
        .and_then(|mut s| s.execute(row))
        .map_err(StoreError::sql("insert message"))?;
    if inserted == 0 {
        match held(conn, settings, msg, now, expiry)? {
            Held::Answered(outcome) => return Ok(Attempt::Done(outcome)),
            Held::Expired { seq, len: old_len } => {
                // The old copy expired (not purged yet): replace it with a
                // fresh message so it gets a new seq and is seen by clients
                // past the old one.
                conn.prepare_cached("DELETE FROM messages WHERE seq = ?1")
                    .and_then(|mut s| s.execute(params![seq]))
                    .map_err(StoreError::sql("replace expired duplicate"))?;
                usage_sub(conn, account, 1, old_len)?;
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
        .and_then(|mut s| s.query_row(params![account, len], |r| Ok((r.get(0)?, r.get(1)?))))
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

/// Stores `msg` (see [`crate::Store::store`]); in a claimable namespace a
/// live claim of the record is kept at least as long as the record.
pub(super) fn exec_store(
    conn: &Connection,
    settings: &Settings,
    state: &mut WriterState,
    msg: &NewMessage,
) -> Result<StoreOutcome, StoreError> {
    let outcome = store_message(conn, settings, state, msg)?;
    if is_claimable(msg.namespace)
        && matches!(
            outcome,
            StoreOutcome::Stored { .. } | StoreOutcome::AlreadyStored { .. }
        )
    {
        let now = to_i64("now_ms", msg.now_ms)?;
        let expiry = to_i64("expiry_ms", msg.expiry_ms)?;
        keep_claim_alive(conn, &msg.account, msg.namespace, &msg.hash, now, expiry)?;
    }
    Ok(outcome)
}

fn store_message(
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
        match held(conn, settings, msg, now, expiry)? {
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

pub(super) fn exec_delete(
    conn: &Connection,
    settings: &Settings,
    account: &AccountKey,
    namespace: u16,
    mut hashes: Vec<MessageHash>,
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
        let held = take_message(conn, settings, account, namespace, hash)?;
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
        usage_sub(conn, account.as_bytes(), rows, bytes)?;
    }
    if new_tombstones > 0 {
        tomb_usage_add(conn, account.as_bytes(), new_tombstones)?;
        enforce_tombstone_cap(conn, settings, account, Some(now))?;
    }
    from_disk("deleted rows", rows)
}

pub(super) fn exec_add_tombstones(
    conn: &Connection,
    settings: &Settings,
    tombstones: &[Tombstone],
) -> Result<u64, StoreError> {
    // Per account: (messages deleted, bytes deleted, tombstones inserted).
    let mut per_account: BTreeMap<AccountKey, (i64, i64, i64)> = BTreeMap::new();
    let mut deleted: u64 = 0;
    for t in tombstones {
        let key = &t.key;
        let mut expiry = to_i64("expiry_ms", t.expiry_ms)?;
        let namespace = i64::from(key.namespace);
        let held = take_message(conn, settings, &key.account, namespace, &key.hash)?;
        let counts = per_account.entry(key.account).or_default();
        if let Some((message_expiry, len)) = held {
            deleted = deleted.saturating_add(1);
            counts.0 = counts.0.saturating_add(1);
            counts.1 = counts.1.saturating_add(len);
            // Our copy may live longer than the sender's (its expiry was
            // extended here): keep it from coming back until it expires.
            expiry = expiry.max(message_expiry);
        }
        let pos = settings.pos(&key.account);
        if put_tombstone(conn, &key.account, namespace, &key.hash, pos, expiry)? {
            counts.2 = counts.2.saturating_add(1);
        }
    }
    for (account, (rows, bytes, new_tombstones)) in &per_account {
        if *rows > 0 {
            usage_sub(conn, account.as_bytes(), *rows, *bytes)?;
        }
        if *new_tombstones > 0 {
            tomb_usage_add(conn, account.as_bytes(), *new_tombstones)?;
            enforce_tombstone_cap(conn, settings, account, None)?;
        }
    }
    Ok(deleted)
}

/// Per-account `(account, count, bytes)` of the rows `query` selects with
/// `params`. Accounts are read as raw values so that a malformed row cannot
/// block bulk removal.
pub(super) fn group_by_account(
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

pub(super) fn exec_drop_range(conn: &Connection, start: u64, end: u64) -> Result<u64, StoreError> {
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
        let claims = group_by_account(conn, OP, DROP_RANGE_CLAIM_USAGE, params![lo, hi])?;
        if !claims.is_empty() {
            for (account, n, _) in &claims {
                claim_usage_add(conn, account, n.saturating_neg())?;
            }
            conn.prepare_cached(DROP_RANGE_CLAIMS)
                .and_then(|mut s| s.execute(params![lo, hi]))
                .map_err(StoreError::sql(OP))?;
        }
    }
    Ok(deleted)
}
