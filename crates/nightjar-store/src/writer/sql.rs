//! The SQL statements of the writer whose text matters beyond one call
//! (query-plan tests check them), and the per-operation savepoint.
//!
//! Not for: running them (the other writer modules do).

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

/// Removes up to `?2` claims with `expiry_ms <= ?1`, found through
/// `claims_by_expiry`, returning each one's account.
pub(crate) const PURGE_CLAIMS: &str = "DELETE FROM claims
     WHERE (account, namespace, hash) IN (
     SELECT account, namespace, hash FROM claims INDEXED BY claims_by_expiry
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

/// Per-account count of the claims in an interval of encoded positions
/// (through `claims_by_pos`).
pub(crate) const DROP_RANGE_CLAIM_USAGE: &str = "SELECT account, count(*), 0
     FROM claims INDEXED BY claims_by_pos WHERE pos BETWEEN ?1 AND ?2 GROUP BY account";

/// Removes the claims counted by [`DROP_RANGE_CLAIM_USAGE`].
pub(crate) const DROP_RANGE_CLAIMS: &str =
    "DELETE FROM claims INDEXED BY claims_by_pos WHERE pos BETWEEN ?1 AND ?2";

/// Inserts a message unless a live tombstone (`expiry_ms > ?5`, now)
/// names it or a row with its key exists; then nothing is inserted. The
/// key is looked up in `messages_by_pos` (`?7` is the account's encoded
/// ring position): since schema version 4 the table has no `UNIQUE` key,
/// and this check, made by the only connection that writes, inside its
/// transaction, is what keeps a key to one row.
pub(crate) const INSERT_UNLESS_HELD_OR_TOMBSTONED: &str =
    "INSERT INTO messages (account, namespace, hash, data, stored_at_ms, expiry_ms, pos)
     SELECT ?1, ?2, ?3, ?4, ?5, ?6, ?7
     WHERE NOT EXISTS (SELECT 1 FROM tombstones
                       WHERE account = ?1 AND namespace = ?2 AND hash = ?3 AND expiry_ms > ?5)
       AND NOT EXISTS (SELECT 1 FROM messages INDEXED BY messages_by_pos
                       WHERE pos = ?7 AND hash = ?3 AND account = ?1 AND namespace = ?2)";

/// `(seq, expiry_ms, length(data))` of the message with key `(?1, ?2,
/// ?3)` at encoded ring position `?4`, found through `messages_by_pos`.
pub(crate) const FIND_MESSAGE: &str = "SELECT seq, expiry_ms, length(data)
     FROM messages INDEXED BY messages_by_pos
     WHERE pos = ?4 AND hash = ?3 AND account = ?1 AND namespace = ?2";

/// Inserts a message (after the caller checked tombstone and duplicate,
/// with [`FIND_MESSAGE`]: nothing else keeps a key to one row).
pub(crate) const INSERT_MESSAGE: &str =
    "INSERT INTO messages (account, namespace, hash, data, stored_at_ms, expiry_ms, pos)
     VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)";

/// Adds one message of `?2` bytes to an account's usage and returns the
/// new `(messages, bytes)`.
pub(crate) const USAGE_ADD: &str =
    "INSERT INTO account_usage (account, messages, bytes) VALUES (?1, 1, ?2)
     ON CONFLICT (account) DO UPDATE SET messages = messages + 1, bytes = bytes + excluded.bytes
     RETURNING messages, bytes";

/// The per-operation savepoint, and ending it.
pub(crate) const SAVEPOINT_OP: &str = "SAVEPOINT nj_op";
pub(crate) const RELEASE_OP: &str = "RELEASE nj_op";
pub(crate) const ROLLBACK_TO_OP: &str = "ROLLBACK TO nj_op";
