//! The expiry purge, in steps of at most one chunk per batch.
//!
//! Not for: the per-account removal of expired messages when a store hits
//! its quota (`quotas`).

use crate::error::StoreError;
use crate::error::to_i64;
use rusqlite::Connection;
use rusqlite::params;
use rusqlite::types::ValueRef;
use std::collections::HashMap;

use super::claims::claim_usage_add;
use super::quotas::tomb_usage_add;
use super::quotas::usage_sub;
use super::sql::PURGE_CLAIMS;
use super::sql::PURGE_MESSAGES;
use super::sql::PURGE_TOMBSTONES;

/// Rows removed by one `DELETE … RETURNING account[, length(data)]`,
/// counted per account.
#[derive(Default)]
pub(super) struct Removed {
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
pub(super) fn remove_counted(
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
/// expired tombstones ([`PURGE_TOMBSTONES`]), then, once none is left, up
/// to `chunk` expired claims ([`PURGE_CLAIMS`]), and subtracts exactly
/// what it removed from the usage counters. Returns the number of messages
/// removed and whether more may be left.
pub(super) fn exec_purge_step(
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
    if tombstones.rows >= full {
        return Ok((messages.rows, true));
    }
    let claims =
        remove_counted(conn, PURGE_CLAIMS, now, limit, false).map_err(StoreError::sql(OP))?;
    for (account, (n, _)) in &claims.by_account {
        claim_usage_add(conn, account, n.saturating_neg())?;
    }
    Ok((messages.rows, claims.rows >= full))
}
