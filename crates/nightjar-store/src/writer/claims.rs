//! Claims of records in claimable namespaces: recording one (the first
//! claimant's holds until it expires), keeping a claim alive as long as the
//! record it names, and the per-account claim count and cap.
//!
//! Not for: hiding claimed records from retrieves (the read side,
//! `crate::store`) or purging expired claims (`purge`).

use crate::error::StoreError;
use crate::error::from_disk;
use crate::error::to_i64;
use crate::types::ClaimOutcome;
use crate::types::NewClaim;
use nightjar_types::namespace::is_claimable;
use nightjar_types::{AccountKey, MessageHash};
use rusqlite::Connection;
use rusqlite::OptionalExtension;
use rusqlite::params;
use rusqlite::types::ToSql;

use super::Settings;

/// Records `claim` (see [`crate::Store::claim`]).
pub(super) fn exec_claim(
    conn: &Connection,
    settings: &Settings,
    claim: &NewClaim,
) -> Result<ClaimOutcome, StoreError> {
    const OP: &str = "claim";
    let key = &claim.key;
    if !is_claimable(key.namespace) {
        return Err(StoreError::NotClaimable(key.namespace));
    }
    let now = to_i64("now_ms", claim.now_ms)?;
    let min_expiry = to_i64("now_ms + ttl_ms", claim.now_ms.saturating_add(claim.ttl_ms))?;
    let namespace = i64::from(key.namespace);
    let (account, hash) = (key.account.as_bytes(), key.hash.as_bytes());
    let held: Option<(Vec<u8>, i64)> = conn
        .prepare_cached(
            "SELECT data, expiry_ms FROM messages INDEXED BY messages_by_pos
             WHERE pos = ?5 AND hash = ?3 AND account = ?1 AND namespace = ?2
               AND expiry_ms > ?4",
        )
        .and_then(|mut s| {
            let pos = settings.pos(&key.account);
            s.query_row(params![account, namespace, hash, now, pos], |r| {
                Ok((r.get(0)?, r.get(1)?))
            })
            .optional()
        })
        .map_err(StoreError::sql(OP))?;
    // The claim lives at least as long as the record it names.
    let expiry = held
        .as_ref()
        .map_or(min_expiry, |(_, e)| min_expiry.max(*e));
    let recorded: Option<(Vec<u8>, i64)> = conn
        .prepare_cached(
            "SELECT claimant, expiry_ms FROM claims
             WHERE account = ?1 AND namespace = ?2 AND hash = ?3",
        )
        .and_then(|mut s| {
            s.query_row(params![account, namespace, hash], |r| {
                Ok((r.get(0)?, r.get(1)?))
            })
            .optional()
        })
        .map_err(StoreError::sql(OP))?;
    let claimant = claim.claimant.as_bytes().as_slice();
    match recorded {
        Some((other, e)) if e > now && other.as_slice() != claimant => {
            return Ok(ClaimOutcome::Refused);
        }
        Some((_, e)) => {
            // The same claimant again (its claim kept, maybe lengthened),
            // or an expired claim replaced: the count does not change.
            let expiry = if e > now { e.max(expiry) } else { expiry };
            conn.prepare_cached(
                "UPDATE claims SET claimant = ?4, expiry_ms = ?5
                 WHERE account = ?1 AND namespace = ?2 AND hash = ?3",
            )
            .and_then(|mut s| s.execute(params![account, namespace, hash, claimant, expiry]))
            .map_err(StoreError::sql(OP))?;
        }
        None => {
            conn.prepare_cached(
                "INSERT INTO claims (account, namespace, hash, claimant, pos, expiry_ms)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
            )
            .and_then(|mut s| {
                s.execute(params![
                    account,
                    namespace,
                    hash,
                    claimant,
                    settings.pos(&key.account),
                    expiry
                ])
            })
            .map_err(StoreError::sql(OP))?;
            claim_usage_add(conn, account, 1)?;
            enforce_claim_cap(conn, settings, &key.account, now)?;
        }
    }
    Ok(ClaimOutcome::Granted {
        data: held.map(|(data, _)| data),
    })
}

/// A record of a claimable namespace was stored (or stored again) with
/// `expiry`: its live claim, if any, is kept at least that long, so the
/// record never outlives the claim that hides it.
pub(super) fn keep_claim_alive(
    conn: &Connection,
    account: &AccountKey,
    namespace: u16,
    hash: &MessageHash,
    now: i64,
    expiry: i64,
) -> Result<(), StoreError> {
    conn.prepare_cached(
        "UPDATE claims SET expiry_ms = ?5
         WHERE account = ?1 AND namespace = ?2 AND hash = ?3
           AND expiry_ms > ?4 AND expiry_ms < ?5",
    )
    .and_then(|mut s| {
        s.execute(params![
            account.as_bytes(),
            i64::from(namespace),
            hash.as_bytes(),
            now,
            expiry
        ])
    })
    .map_err(StoreError::sql("keep claim alive"))?;
    Ok(())
}

/// Adds `delta` (may be negative) to an account's claim count, dropping the
/// row when it reaches 0.
pub(super) fn claim_usage_add(
    conn: &Connection,
    account: &dyn ToSql,
    delta: i64,
) -> Result<(), StoreError> {
    const OP: &str = "update claim usage";
    if delta > 0 {
        conn.prepare_cached(
            "INSERT INTO claim_usage (account, claims) VALUES (?1, ?2)
             ON CONFLICT (account) DO UPDATE SET claims = claims + excluded.claims",
        )
        .and_then(|mut s| s.execute(params![account, delta]))
        .map_err(StoreError::sql(OP))?;
    } else if delta < 0 {
        let left: Option<Option<i64>> = conn
            .prepare_cached(
                "UPDATE claim_usage SET claims = claims + ?2 WHERE account = ?1
                 RETURNING claims",
            )
            .and_then(|mut s| {
                s.query_row(params![account, delta], |r| r.get(0))
                    .optional()
            })
            .map_err(StoreError::sql(OP))?;
        if left.is_some_and(|n| n.is_none_or(|n| n <= 0)) {
            conn.prepare_cached("DELETE FROM claim_usage WHERE account = ?1 AND claims <= 0")
                .and_then(|mut s| s.execute(params![account]))
                .map_err(StoreError::sql(OP))?;
        }
    }
    Ok(())
}

/// Reads an account's claim count.
fn claim_usage(conn: &Connection, account: &AccountKey) -> Result<u64, StoreError> {
    let n: Option<i64> = conn
        .prepare_cached("SELECT claims FROM claim_usage WHERE account = ?1")
        .and_then(|mut s| {
            s.query_row(params![account.as_bytes()], |r| r.get(0))
                .optional()
        })
        .map_err(StoreError::sql("read claim usage"))?;
    n.map_or(Ok(0), |n| from_disk("claim usage", n))
}

/// Fails with `QuotaExceeded { limit: "claims" }` if the account has more
/// claims than allowed, after removing its expired claims if that could
/// help (the caller's savepoint undoes that removal when this fails).
fn enforce_claim_cap(
    conn: &Connection,
    settings: &Settings,
    account: &AccountKey,
    now: i64,
) -> Result<(), StoreError> {
    if claim_usage(conn, account)? <= settings.max_claims {
        return Ok(());
    }
    let removed = conn
        .prepare_cached("DELETE FROM claims WHERE account = ?1 AND expiry_ms <= ?2")
        .and_then(|mut s| s.execute(params![account.as_bytes(), now]))
        .map_err(StoreError::sql("purge account claims"))?;
    if removed > 0 {
        claim_usage_add(
            conn,
            account.as_bytes(),
            -i64::try_from(removed).unwrap_or(i64::MAX),
        )?;
    }
    if claim_usage(conn, account)? <= settings.max_claims {
        return Ok(());
    }
    Err(StoreError::QuotaExceeded { limit: "claims" })
}
