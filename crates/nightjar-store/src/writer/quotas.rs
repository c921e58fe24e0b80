//! Per-account usage counters (messages, bytes, tombstones), the quota
//! checks, and the writer's in-memory expiry floors that let a refused store
//! skip walking a full mailbox.
//!
//! Not for: the operations that change usage (`ops`, `purge`).

use crate::error::StoreError;
use crate::error::from_disk;
use rusqlite::Connection;
use rusqlite::OptionalExtension;
use rusqlite::params;
use rusqlite::types::ToSql;
use std::collections::HashMap;

use nightjar_types::AccountKey;

use super::Settings;
use super::batch::exec_cached;
use super::sql::ACCOUNT_EXPIRIES;
use super::sql::RELEASE_OP;
use super::sql::SAVEPOINT_OP;

/// Most accounts whose expiry floor the writer remembers (see
/// [`WriterState`]); past that the map is cleared and refilled on demand.
pub(crate) const MAX_EXPIRY_FLOORS: usize = 100_000;

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
    expiry_floor: HashMap<AccountKey, i64>,
}

impl WriterState {
    /// `true` if the account is known to hold no message with
    /// `expiry_ms <= now`.
    pub(super) fn nothing_expired(&self, account: &AccountKey, now: i64) -> bool {
        self.expiry_floor.get(account).is_some_and(|&f| f > now)
    }

    /// Records that no message of `account` expires before `floor`.
    pub(super) fn set_floor(&mut self, account: &AccountKey, floor: i64) {
        if self.expiry_floor.len() >= MAX_EXPIRY_FLOORS && !self.expiry_floor.contains_key(account)
        {
            self.expiry_floor.clear();
        }
        self.expiry_floor.insert(*account, floor);
    }

    /// A message of `account` expiring at `expiry` was stored.
    pub(super) fn stored(&mut self, account: &AccountKey, expiry: i64) {
        if let Some(floor) = self.expiry_floor.get_mut(account) {
            *floor = (*floor).min(expiry);
        }
    }

    /// Forgets every floor (after a rollback).
    pub(super) fn forget(&mut self) {
        self.expiry_floor.clear();
    }
}

/// Subtracts removed messages from an account's usage row.
pub(super) fn usage_sub(
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
pub(super) fn purge_account(
    conn: &Connection,
    settings: &Settings,
    state: &mut WriterState,
    account: &AccountKey,
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
            .query(params![settings.pos(account), account.as_bytes()])
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
        usage_sub(conn, account.as_bytes(), rows, bytes)?;
        // Keep the removals whatever happens to the rest of this op.
        exec_cached(conn, RELEASE_OP, OP)?;
        exec_cached(conn, SAVEPOINT_OP, OP)?;
    }
    state.set_floor(account, floor);
    Ok(())
}

/// Reads an account's usage `(messages, bytes)`.
pub(super) fn usage(conn: &Connection, account: &AccountKey) -> Result<(u64, u64), StoreError> {
    let row: Option<(i64, i64)> = conn
        .prepare_cached("SELECT messages, bytes FROM account_usage WHERE account = ?1")
        .and_then(|mut s| {
            s.query_row(params![account.as_bytes()], |r| Ok((r.get(0)?, r.get(1)?)))
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
pub(super) fn over_quota(usage: (u64, u64), len: u64, settings: &Settings) -> Option<&'static str> {
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
pub(super) fn tomb_usage_add(
    conn: &Connection,
    account: &dyn ToSql,
    delta: i64,
) -> Result<(), StoreError> {
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
pub(super) fn tomb_usage(conn: &Connection, account: &AccountKey) -> Result<u64, StoreError> {
    let n: Option<i64> = conn
        .prepare_cached("SELECT tombstones FROM tombstone_usage WHERE account = ?1")
        .and_then(|mut s| {
            s.query_row(params![account.as_bytes()], |r| r.get(0))
                .optional()
        })
        .map_err(StoreError::sql("read tombstone usage"))?;
    n.map_or(Ok(0), |n| from_disk("tombstone usage", n))
}

/// Removes an account's expired tombstones (used when it hits its cap).
pub(super) fn purge_account_tombstones(
    conn: &Connection,
    account: &AccountKey,
    now: i64,
) -> Result<(), StoreError> {
    const OP: &str = "purge account tombstones";
    let removed = conn
        .prepare_cached("DELETE FROM tombstones WHERE account = ?1 AND expiry_ms <= ?2")
        .and_then(|mut s| s.execute(params![account.as_bytes(), now]))
        .map_err(StoreError::sql(OP))?;
    if removed > 0 {
        tomb_usage_add(
            conn,
            account.as_bytes(),
            -i64::try_from(removed).unwrap_or(i64::MAX),
        )?;
    }
    Ok(())
}

/// Fails with `QuotaExceeded { limit: "tombstones" }` if the account has
/// more tombstones than allowed. With `now`, first removes the account's
/// expired tombstones if that could help.
pub(super) fn enforce_tombstone_cap(
    conn: &Connection,
    settings: &Settings,
    account: &AccountKey,
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
