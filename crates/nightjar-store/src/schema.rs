//! Connection setup and schema creation / version check.

use std::time::Duration;

use rusqlite::types::Value;
use rusqlite::{Connection, OptionalExtension, params};

use nightjar_types::AccountKey;

use crate::error::StoreError;
use crate::ring;

/// Schema version written to `PRAGMA user_version`.
///
/// History:
/// - 1: `messages` and `account_usage`.
/// - 2: `messages.pos` (ring position) and its index; `tombstones` and
///   `tombstone_usage`. Version-1 files are migrated on open.
/// - 3: `claims` and `claim_usage`. Version-1 and version-2 files are
///   migrated on open.
/// - 4: `messages` loses its `UNIQUE (account, namespace, hash)` key (and
///   the index SQLite kept for it): `messages_by_pos`, which already holds
///   `(pos, hash, account, namespace)` and `pos` is a function of the
///   account, answers every lookup by message key, and the single writer
///   checks it before every insert. One index fewer per stored message,
///   and the one dropped was keyed by the random hash. Older files are
///   migrated on open (the table is rebuilt, keeping every row, its `seq`
///   and the `AUTOINCREMENT` high-water mark).
pub(crate) const SCHEMA_VERSION: u32 = 4;

/// How long a connection waits for a lock held by another connection.
const BUSY_TIMEOUT: Duration = Duration::from_secs(5);

/// The `messages` table of schema versions 2 and 3, with its `UNIQUE
/// (account, namespace, hash)` key, and its three indexes: the schema-3
/// table, for migration tests and the WAL benchmark. The store itself
/// never creates it (a fresh file starts at version 4; older files are
/// migrated on open, see [`SCHEMA_VERSION`]).
pub const MESSAGES_V3_DDL: &str = "
CREATE TABLE messages (
    seq          INTEGER PRIMARY KEY AUTOINCREMENT,
    account      BLOB    NOT NULL,
    namespace    INTEGER NOT NULL,
    hash         BLOB    NOT NULL,
    data         BLOB    NOT NULL,
    stored_at_ms INTEGER NOT NULL,
    expiry_ms    INTEGER NOT NULL,
    pos          INTEGER NOT NULL DEFAULT 0,
    UNIQUE (account, namespace, hash)
);
CREATE INDEX messages_by_cursor ON messages (account, namespace, seq);
CREATE INDEX messages_by_expiry ON messages (expiry_ms);
CREATE INDEX messages_by_pos ON messages (pos, hash, account, namespace, expiry_ms);
";

/// `CREATE TABLE` of the version-4 `messages` table under the name `$name`:
/// the version-1 to 3 one without its `UNIQUE (account, namespace, hash)`.
///
/// `pos` is a ring position encoded by [`crate::ring::pos_to_sql`]. Its
/// `DEFAULT 0` exists only because `ALTER TABLE ... ADD COLUMN ... NOT NULL`
/// (the version 1 to 2 migration) requires a default; with it, fresh and
/// migrated databases have the same columns. The store always writes `pos`
/// explicitly.
macro_rules! messages_v4_table {
    ($name:literal) => {
        concat!(
            "CREATE TABLE ",
            $name,
            " (
    seq          INTEGER PRIMARY KEY AUTOINCREMENT,
    account      BLOB    NOT NULL,
    namespace    INTEGER NOT NULL,
    hash         BLOB    NOT NULL,
    data         BLOB    NOT NULL,
    stored_at_ms INTEGER NOT NULL,
    expiry_ms    INTEGER NOT NULL,
    pos          INTEGER NOT NULL DEFAULT 0
);
"
        )
    };
}

/// A fresh database's version-4 `messages` table (its indexes are
/// [`MESSAGES_V4_INDEXES`]).
const CREATE_MESSAGES: &str = messages_v4_table!("messages");

/// The version-4 `messages` table under the name `messages_v4`, created and
/// renamed by [`migrate_v3_to_v4`] (a fresh file creates
/// [`CREATE_MESSAGES`] directly).
const MESSAGES_V4: &str = messages_v4_table!("messages_v4");

/// The indexes of the version-4 `messages` table. `messages_by_pos` drives
/// ring range scans and key lookups; besides its key `(pos, hash)` it
/// carries the other columns a range listing returns, so listing never
/// reads message payloads. Created after the migration's rename (index
/// names are global, so the old table must be gone first).
const MESSAGES_V4_INDEXES: &str = "
CREATE INDEX messages_by_cursor ON messages (account, namespace, seq);
CREATE INDEX messages_by_expiry ON messages (expiry_ms);
CREATE INDEX messages_by_pos ON messages (pos, hash, account, namespace, expiry_ms);
";

/// The table of version 1 that every later version keeps unchanged.
const CREATE_ACCOUNT_USAGE: &str = "
CREATE TABLE account_usage (
    account  BLOB    PRIMARY KEY NOT NULL,
    messages INTEGER NOT NULL,
    bytes    INTEGER NOT NULL
) WITHOUT ROWID;
";

/// The index on `messages.pos` that version 2 added (the version-1 to 2
/// migration creates it; version 4 keeps it, see [`MESSAGES_V4_INDEXES`]).
const CREATE_V2_POS_INDEX: &str =
    "CREATE INDEX messages_by_pos ON messages (pos, hash, account, namespace, expiry_ms);";

/// The tables version 2 adds; run by both creation and migration, so both
/// end with the same schema.
///
/// - `tombstones` records deleted messages until `expiry_ms`, so that
///   replication and sync do not resurrect them; `pos` as in `messages`.
/// - `tombstone_usage` counts each account's tombstones (for the cap),
///   like `account_usage` counts messages; rows with 0 are deleted.
const CREATE_V2_ADDITIONS: &str = "
CREATE TABLE tombstones (
    account   BLOB    NOT NULL,
    namespace INTEGER NOT NULL,
    hash      BLOB    NOT NULL,
    pos       INTEGER NOT NULL,
    expiry_ms INTEGER NOT NULL,
    PRIMARY KEY (account, namespace, hash)
) WITHOUT ROWID;
CREATE INDEX tombstones_by_pos ON tombstones (pos, hash);
CREATE INDEX tombstones_by_expiry ON tombstones (expiry_ms);
CREATE TABLE tombstone_usage (
    account    BLOB    PRIMARY KEY NOT NULL,
    tombstones INTEGER NOT NULL
) WITHOUT ROWID;
";

/// What version 3 adds on top of version 2; run by both creation and
/// migration, so both end with the same schema.
///
/// - `claims` records, per record of a claimable namespace, who claimed it
///   (`claimant`, 16 bytes) until `expiry_ms`; `pos` as in `messages`, so a
///   range handed over drops its claims too.
/// - `claim_usage` counts each account's claims (for the cap), like
///   `tombstone_usage`; rows with 0 are deleted.
const CREATE_V3_ADDITIONS: &str = "
CREATE TABLE claims (
    account   BLOB    NOT NULL,
    namespace INTEGER NOT NULL,
    hash      BLOB    NOT NULL,
    claimant  BLOB    NOT NULL,
    pos       INTEGER NOT NULL,
    expiry_ms INTEGER NOT NULL,
    PRIMARY KEY (account, namespace, hash)
) WITHOUT ROWID;
CREATE INDEX claims_by_pos ON claims (pos);
CREATE INDEX claims_by_expiry ON claims (expiry_ms);
CREATE TABLE claim_usage (
    account BLOB    PRIMARY KEY NOT NULL,
    claims  INTEGER NOT NULL
) WITHOUT ROWID;
";

/// Sets `PRAGMA user_version` to [`SCHEMA_VERSION`] (last step of creation
/// and of every migration, inside its transaction).
fn set_version(tx: &rusqlite::Transaction<'_>, op: &'static str) -> Result<(), StoreError> {
    tx.pragma_update(None, "user_version", SCHEMA_VERSION)
        .map_err(StoreError::sql(op))
}

/// Settings shared by both connections.
fn common(conn: &Connection) -> Result<(), StoreError> {
    conn.busy_timeout(BUSY_TIMEOUT)
        .map_err(StoreError::sql("set busy_timeout"))?;
    conn.pragma_update(None, "synchronous", "FULL")
        .map_err(StoreError::sql("set synchronous"))?;
    Ok(())
}

/// Page cache of the store's write connection, in KiB (SQLite's default is 2,000
/// KiB). Every store descends four B-trees keyed by random values (the
/// message key, the cursor, the ring position, the expiry); with the
/// default cache, a node holding a million messages re-read about 55 pages
/// per store from the OS (BENCHMARKS.md, memory). 32 MiB keeps the interior
/// pages of those indexes in memory well past a million messages, at a
/// cost in resident memory that the memory benchmark measures.
pub const WRITER_CACHE_KIB: i64 = 32 * 1024;

/// Configures the write connection: WAL, `synchronous=FULL`, busy timeout,
/// a [`WRITER_CACHE_KIB`] page cache.
pub(crate) fn configure_writer(conn: &Connection) -> Result<(), StoreError> {
    common(conn)?;
    // A negative value is a size in KiB, not a page count.
    conn.pragma_update(None, "cache_size", -WRITER_CACHE_KIB)
        .map_err(StoreError::sql("set cache_size"))?;
    let mode: String = conn
        .pragma_update_and_check(None, "journal_mode", "WAL", |row| row.get(0))
        .map_err(StoreError::sql("set journal_mode"))?;
    if !mode.eq_ignore_ascii_case("wal") {
        tracing::warn!(%mode, "SQLite refused WAL journal mode; continuing with this mode");
    }
    Ok(())
}

/// Configures the read connection: busy timeout, `query_only`.
pub(crate) fn configure_reader(conn: &Connection) -> Result<(), StoreError> {
    common(conn)?;
    conn.pragma_update(None, "query_only", true)
        .map_err(StoreError::sql("set query_only"))?;
    Ok(())
}

/// Creates the version-4 schema in an empty database (no migration runs),
/// migrates a version-1, 2 or 3 one, or checks the version of an existing
/// one. Runs in one immediate
/// transaction, so concurrent openers and crashes never leave a
/// half-created or half-migrated schema.
pub(crate) fn init(
    conn: &mut Connection,
    ring_position: fn(&AccountKey) -> u64,
) -> Result<(), StoreError> {
    let tx = conn
        .transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)
        .map_err(StoreError::sql("begin schema transaction"))?;
    let version: i64 = tx
        .pragma_query_value(None, "user_version", |row| row.get(0))
        .map_err(StoreError::sql("read schema version"))?;
    let version = u32::try_from(version)
        .map_err(|_| StoreError::Corrupt(format!("negative schema version {version}")))?;
    match version {
        0 => {
            let objects: i64 = tx
                .query_row("SELECT count(*) FROM sqlite_schema", [], |row| row.get(0))
                .map_err(StoreError::sql("inspect schema"))?;
            if objects != 0 {
                return Err(StoreError::UnsupportedSchema(0));
            }
            for ddl in [
                CREATE_MESSAGES,
                MESSAGES_V4_INDEXES,
                CREATE_ACCOUNT_USAGE,
                CREATE_V2_ADDITIONS,
                CREATE_V3_ADDITIONS,
            ] {
                tx.execute_batch(ddl)
                    .map_err(StoreError::sql("create schema"))?;
            }
            set_version(&tx, "create schema")?;
            tx.commit().map_err(StoreError::sql("commit schema"))?;
            Ok(())
        }
        1..=3 => {
            if version == 1 {
                migrate_v1_to_v2(&tx, ring_position)?;
            }
            if version <= 2 {
                migrate_v2_to_v3(&tx)?;
            }
            migrate_v3_to_v4(&tx)?;
            set_version(&tx, "migrate schema")?;
            tx.commit().map_err(StoreError::sql("commit migration"))?;
            Ok(())
        }
        SCHEMA_VERSION => Ok(()),
        other => Err(StoreError::UnsupportedSchema(other)),
    }
}

/// Adds `messages.pos`, fills it for every row (one `UPDATE` per account,
/// through the `(account, ...)` index) and creates the version-2 additions.
/// Runs inside the caller's transaction: on any error nothing changes.
///
/// A row whose account is not a 32-byte blob (damaged outside this crate)
/// does not stop the migration: it keeps the stored default `pos = 0` (ring position 2^63) and a warning
/// is logged; reads that reach it report [`StoreError::Corrupt`] as before.
fn migrate_v1_to_v2(
    tx: &rusqlite::Transaction<'_>,
    ring_position: fn(&AccountKey) -> u64,
) -> Result<(), StoreError> {
    const OP: &str = "migrate schema 1 to 2";
    tx.execute_batch("ALTER TABLE messages ADD COLUMN pos INTEGER NOT NULL DEFAULT 0")
        .map_err(StoreError::sql(OP))?;
    // Raw values, so that a malformed account cannot abort the migration.
    let accounts: Vec<Value> = tx
        .prepare("SELECT DISTINCT account FROM messages")
        .and_then(|mut s| s.query_map([], |r| r.get(0))?.collect())
        .map_err(StoreError::sql(OP))?;
    let mut update = tx
        .prepare("UPDATE messages SET pos = ?2 WHERE account = ?1")
        .map_err(StoreError::sql(OP))?;
    let mut rows: usize = 0;
    let mut skipped: usize = 0;
    for account in &accounts {
        let key = match account {
            Value::Blob(bytes) => <[u8; 32]>::try_from(bytes.as_slice())
                .ok()
                .map(AccountKey::new),
            _ => None,
        };
        let Some(key) = key else {
            skipped = skipped.saturating_add(1);
            continue;
        };
        let pos = ring::pos_to_sql(ring_position(&key));
        let n = update
            .execute(params![account, pos])
            .map_err(StoreError::sql(OP))?;
        rows = rows.saturating_add(n);
    }
    drop(update);
    if skipped > 0 {
        tracing::warn!(
            skipped,
            "schema migration: accounts that are not 32-byte blobs keep ring position 0"
        );
    }
    tx.execute_batch(CREATE_V2_POS_INDEX)
        .map_err(StoreError::sql(OP))?;
    tx.execute_batch(CREATE_V2_ADDITIONS)
        .map_err(StoreError::sql(OP))?;
    tracing::info!(
        accounts = accounts.len(),
        rows,
        "migrated message store schema from version 1 to 2"
    );
    Ok(())
}

/// Creates the version-3 additions (claims). Nothing existing changes.
/// Runs inside the caller's transaction: on any error nothing changes.
fn migrate_v2_to_v3(tx: &rusqlite::Transaction<'_>) -> Result<(), StoreError> {
    tx.execute_batch(CREATE_V3_ADDITIONS)
        .map_err(StoreError::sql("migrate schema 2 to 3"))?;
    tracing::info!("migrated message store schema from version 2 to 3");
    Ok(())
}

/// Rebuilds `messages` without its `UNIQUE` key (see [`SCHEMA_VERSION`]):
/// every row is copied with its `seq`, the old table (and its four
/// indexes) dropped, the new one renamed and indexed, and the
/// `AUTOINCREMENT` high-water mark restored, so a `seq` once handed out is
/// never handed out again even if its message is gone. Runs inside the
/// caller's transaction: on any error nothing changes.
fn migrate_v3_to_v4(tx: &rusqlite::Transaction<'_>) -> Result<(), StoreError> {
    const OP: &str = "migrate schema 3 to 4";
    let high: Option<i64> = tx
        .query_row(
            "SELECT seq FROM sqlite_sequence WHERE name = 'messages'",
            [],
            |r| r.get(0),
        )
        .optional()
        .map_err(StoreError::sql(OP))?;
    tx.execute_batch(MESSAGES_V4).map_err(StoreError::sql(OP))?;
    let rows = tx
        .execute(
            "INSERT INTO messages_v4
                 (seq, account, namespace, hash, data, stored_at_ms, expiry_ms, pos)
             SELECT seq, account, namespace, hash, data, stored_at_ms, expiry_ms, pos
             FROM messages ORDER BY seq",
            [],
        )
        .map_err(StoreError::sql(OP))?;
    tx.execute_batch("DROP TABLE messages; ALTER TABLE messages_v4 RENAME TO messages;")
        .map_err(StoreError::sql(OP))?;
    tx.execute_batch(MESSAGES_V4_INDEXES)
        .map_err(StoreError::sql(OP))?;
    if let Some(high) = high {
        // The copy set the new table's mark to its largest `seq`; the old
        // mark may be higher (its newest messages deleted or purged).
        let updated = tx
            .execute(
                "UPDATE sqlite_sequence SET seq = max(seq, ?1) WHERE name = 'messages'",
                [high],
            )
            .map_err(StoreError::sql(OP))?;
        if updated == 0 {
            tx.execute(
                "INSERT INTO sqlite_sequence (name, seq) VALUES ('messages', ?1)",
                [high],
            )
            .map_err(StoreError::sql(OP))?;
        }
    }
    tracing::info!(rows, "migrated message store schema from version 3 to 4");
    Ok(())
}
