//! The one error type of the crate.

use std::sync::Arc;

/// Everything that can go wrong in the store.
///
/// Errors are `Clone` because one failed `COMMIT` is reported to every
/// operation of the batch it would have made durable.
#[derive(Debug, Clone, thiserror::Error)]
#[non_exhaustive]
pub enum StoreError {
    /// The account is over its quota; `limit` is `"messages"`, `"bytes"`,
    /// `"tombstones"` or `"claims"`. The operation changed nothing: nothing
    /// was stored (or, for `"tombstones"`, nothing was deleted; for
    /// `"claims"`, no claim recorded) and existing data is untouched.
    ///
    /// What to do: reject the request (e.g. "mailbox full") and let the
    /// client retry later, once it has deleted messages or they (or the
    /// tombstones) expired.
    #[error("account quota exceeded: too many {limit}")]
    QuotaExceeded {
        /// Which quota was hit: `"messages"`, `"bytes"`, `"tombstones"` or
        /// `"claims"`.
        limit: &'static str,
    },

    /// SQLite reported an error while performing `op` (other than a full
    /// disk, which is [`StoreError::DiskFull`]).
    ///
    /// What to do: report a temporary server error to the client. For a
    /// write, the operation was *not* made durable and may be retried.
    /// Persistent failures (I/O errors, `SQLITE_CORRUPT`) need an operator:
    /// check the disk and the database file.
    #[error("sqlite error during {op}")]
    Sqlite {
        /// What the store was doing (e.g. `"commit"`, `"retrieve"`).
        op: &'static str,
        /// The underlying SQLite error.
        #[source]
        source: Arc<rusqlite::Error>,
    },

    /// The disk is full; reads still work; free space and writes resume.
    ///
    /// SQLite reported `SQLITE_FULL`, or the OS reported `ENOSPC`, while
    /// performing `op`. A write that fails this way was *not* made durable
    /// and changed nothing; the writer thread keeps running, so the same
    /// write may be retried once space is available.
    ///
    /// What to do: refuse the write with a retryable "storage full" error
    /// (the client can try another node), keep serving reads, and alert an
    /// operator to free disk space. No restart is needed.
    #[error("disk full during {op}")]
    DiskFull {
        /// What the store was doing (e.g. `"commit"`, `"insert message"`).
        op: &'static str,
    },

    /// A filesystem or OS operation (creating the parent directory,
    /// spawning the writer thread) failed during `op`.
    ///
    /// What to do: fix the path or permissions (or resource limits) and
    /// open the store again.
    #[error("i/o error during {op}")]
    Io {
        /// What the store was doing.
        op: &'static str,
        /// The underlying OS error.
        #[source]
        source: Arc<std::io::Error>,
    },

    /// The writer thread has stopped (the store was shut down), so the write
    /// was not performed.
    ///
    /// What to do: this happens after [`crate::Store::shutdown`]; open a new
    /// store if writes are still needed. A `RecvError` on a returned
    /// receiver means the same thing.
    #[error("the store's writer thread has stopped")]
    WriterGone,

    /// A read command was handed to [`crate::Store::write_then`], which
    /// runs writes only.
    ///
    /// What to do: run reads through
    /// [`MessageStore::execute`](crate::MessageStore::execute) on a thread
    /// that may block.
    #[error("a read was handed to the writer; reads run on the read connection")]
    NotAWrite,

    /// The database file has a schema version this code does not know
    /// (`PRAGMA user_version`). `0` means the file already contains tables
    /// but is not a Nightjar store.
    ///
    /// What to do: run a matching (newer) binary, or point the store at a
    /// different file. The file was not modified.
    #[error("unsupported database schema version {0}")]
    UnsupportedSchema(u32),

    /// Data read from disk does not decode (wrong type, wrong length,
    /// negative integer where an unsigned one is expected, ...).
    ///
    /// What to do: the database was altered outside this crate or is
    /// damaged. Report a server error and alert an operator; the rest of the
    /// database may still be usable.
    #[error("corrupt data in store: {0}")]
    Corrupt(String),

    /// An input integer does not fit SQLite's signed 64-bit integers
    /// (it is greater than `i64::MAX`).
    ///
    /// What to do: reject the request as malformed.
    #[error("{field} = {value} is out of range (max {max})", max = i64::MAX)]
    ValueOutOfRange {
        /// Which input was out of range.
        field: &'static str,
        /// The offending value.
        value: u64,
    },

    /// A batch read asked for more keys than one call allows
    /// (see [`crate::Store::MAX_FETCH_KEYS`]). Nothing was read.
    ///
    /// What to do: split the request into chunks of at most `max` keys.
    #[error("too many keys in one request ({given} > {max})")]
    TooManyKeys {
        /// How many keys were given.
        given: usize,
        /// The most one call accepts.
        max: usize,
    },

    /// A claim names a namespace that is not claimable
    /// (`nightjar_types::namespace::CLAIMABLE`). Nothing was recorded.
    ///
    /// What to do: reject the request as malformed (the wire decoder
    /// already refuses such claims).
    #[error("namespace {0} is not claimable")]
    NotClaimable(u16),

    /// The message's `expiry_ms` is not after `now_ms`, so it would never be
    /// retrievable; it was not stored.
    ///
    /// What to do: reject the request (bad TTL or client clock).
    #[error("message already expired (expiry_ms {expiry_ms} <= now_ms {now_ms})")]
    AlreadyExpired {
        /// The store time given.
        now_ms: u64,
        /// The expiry given.
        expiry_ms: u64,
    },
}

impl StoreError {
    /// Wraps a rusqlite error. Errors converting column values from disk
    /// (wrong type, wrong blob size, out of range) become [`StoreError::Corrupt`];
    /// `SQLITE_FULL` becomes [`StoreError::DiskFull`].
    pub(crate) fn sqlite(op: &'static str, err: rusqlite::Error) -> Self {
        match err {
            rusqlite::Error::SqliteFailure(
                rusqlite::ffi::Error {
                    code: rusqlite::ErrorCode::DiskFull,
                    ..
                },
                _,
            ) => StoreError::DiskFull { op },
            rusqlite::Error::InvalidColumnType(..)
            | rusqlite::Error::FromSqlConversionFailure(..)
            | rusqlite::Error::IntegralValueOutOfRange(..)
            | rusqlite::Error::Utf8Error(..) => StoreError::Corrupt(format!("{op}: {err}")),
            other => StoreError::Sqlite {
                op,
                source: Arc::new(other),
            },
        }
    }

    /// Returns a mapper for `map_err`.
    pub(crate) fn sql(op: &'static str) -> impl FnOnce(rusqlite::Error) -> Self {
        move |err| Self::sqlite(op, err)
    }

    /// Returns a mapper for `map_err` on I/O errors; `ENOSPC` becomes
    /// [`StoreError::DiskFull`].
    pub(crate) fn io(op: &'static str) -> impl FnOnce(std::io::Error) -> Self {
        move |err| Self::from_io(op, err)
    }

    /// Wraps an I/O error; `ENOSPC` (and other "storage full" errors)
    /// become [`StoreError::DiskFull`].
    pub(crate) fn from_io(op: &'static str, err: std::io::Error) -> Self {
        if err.kind() == std::io::ErrorKind::StorageFull {
            StoreError::DiskFull { op }
        } else {
            StoreError::Io {
                op,
                source: Arc::new(err),
            }
        }
    }
}

/// Converts an untrusted `u64` into SQLite's `i64`.
pub(crate) fn to_i64(field: &'static str, value: u64) -> Result<i64, StoreError> {
    i64::try_from(value).map_err(|_| StoreError::ValueOutOfRange { field, value })
}

/// Converts a length into SQLite's `i64`.
pub(crate) fn len_to_i64(field: &'static str, len: usize) -> Result<i64, StoreError> {
    let value = u64::try_from(len).unwrap_or(u64::MAX);
    to_i64(field, value)
}

/// Converts an `i64` read from disk into `u64`; negative means corrupt.
pub(crate) fn from_disk(field: &'static str, value: i64) -> Result<u64, StoreError> {
    u64::try_from(value).map_err(|_| StoreError::Corrupt(format!("{field} is negative ({value})")))
}
