//! Connection setup and schema creation / version check.

use std::time::Duration;

use rusqlite::Connection;

use crate::error::StoreError;

/// Schema version written to `PRAGMA user_version`.
pub(crate) const SCHEMA_VERSION: u32 = 1;

/// How long a connection waits for a lock held by another connection.
const BUSY_TIMEOUT: Duration = Duration::from_secs(5);

const CREATE_SCHEMA: &str = "
CREATE TABLE messages (
    seq          INTEGER PRIMARY KEY AUTOINCREMENT,
    account      BLOB    NOT NULL,
    namespace    INTEGER NOT NULL,
    hash         BLOB    NOT NULL,
    data         BLOB    NOT NULL,
    stored_at_ms INTEGER NOT NULL,
    expiry_ms    INTEGER NOT NULL,
    UNIQUE (account, namespace, hash)
);
CREATE INDEX messages_by_cursor ON messages (account, namespace, seq);
CREATE INDEX messages_by_expiry ON messages (expiry_ms);
CREATE TABLE account_usage (
    account  BLOB    PRIMARY KEY NOT NULL,
    messages INTEGER NOT NULL,
    bytes    INTEGER NOT NULL
) WITHOUT ROWID;
PRAGMA user_version = 1;
";

/// Settings shared by both connections.
fn common(conn: &Connection) -> Result<(), StoreError> {
    conn.busy_timeout(BUSY_TIMEOUT)
        .map_err(StoreError::sql("set busy_timeout"))?;
    conn.pragma_update(None, "synchronous", "FULL")
        .map_err(StoreError::sql("set synchronous"))?;
    Ok(())
}

/// Configures the write connection: WAL, `synchronous=FULL`, busy timeout.
pub(crate) fn configure_writer(conn: &Connection) -> Result<(), StoreError> {
    common(conn)?;
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

/// Creates the schema in an empty database, or checks the version of an
/// existing one. Runs in one immediate transaction, so concurrent openers
/// and crashes never leave a half-created schema.
pub(crate) fn init(conn: &mut Connection) -> Result<(), StoreError> {
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
            tx.execute_batch(CREATE_SCHEMA)
                .map_err(StoreError::sql("create schema"))?;
            tx.commit().map_err(StoreError::sql("commit schema"))?;
            Ok(())
        }
        SCHEMA_VERSION => Ok(()),
        other => Err(StoreError::UnsupportedSchema(other)),
    }
}
