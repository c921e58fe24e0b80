//! The [`Store`] handle.

use std::fmt;
use std::path::PathBuf;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError, mpsc};
use std::thread::JoinHandle;

use rusqlite::{Connection, params};
use tokio::sync::oneshot;

use crate::error::{StoreError, from_disk, to_i64};
use crate::schema;
use crate::types::{NewMessage, StoreConfig, StoreOutcome, StoreStats, StoredMessage};
use crate::writer::{self, Limits, Op};

/// Handle to one node's message store. Cheap to clone; `Send + Sync`.
///
/// Writes ([`Store::store`], [`Store::delete`], [`Store::purge_expired`]) are
/// queued to a single writer thread and answered through a oneshot channel
/// once durably committed. Reads ([`Store::retrieve`], [`Store::stats`])
/// block the calling thread on a separate read connection; call them from
/// `spawn_blocking` in async code.
///
/// The writer thread finishes all queued work and exits when the last handle
/// is dropped (the drop waits for it) or on [`Store::shutdown`].
#[derive(Clone)]
pub struct Store {
    inner: Arc<Inner>,
}

struct Inner {
    tx: Mutex<Option<mpsc::Sender<Op>>>,
    writer: Mutex<Option<JoinHandle<()>>>,
    reader: Mutex<Connection>,
    commits: Arc<AtomicU64>,
    path: PathBuf,
}

/// Locks a mutex, ignoring poisoning: nothing panics while these are held,
/// and the guarded values stay valid anyway.
fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(PoisonError::into_inner)
}

impl Inner {
    fn shutdown(&self) {
        // Dropping the only sender lets the writer drain the queue and exit.
        drop(lock(&self.tx).take());
        // Held while joining so concurrent callers also wait for the flush.
        let mut writer = lock(&self.writer);
        if let Some(handle) = writer.take()
            && handle.join().is_err()
        {
            tracing::error!("store writer thread panicked");
        }
    }

    fn submit(&self, op: Op) {
        let guard = lock(&self.tx);
        match guard.as_ref() {
            Some(tx) => {
                if let Err(mpsc::SendError(op)) = tx.send(op) {
                    op.fail(StoreError::WriterGone);
                }
            }
            None => op.fail(StoreError::WriterGone),
        }
    }
}

impl Drop for Inner {
    fn drop(&mut self) {
        self.shutdown();
    }
}

impl fmt::Debug for Store {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Store")
            .field("path", &self.inner.path)
            .finish_non_exhaustive()
    }
}

impl Store {
    /// Opens (creating if needed) the database at `config.path`.
    ///
    /// Creates missing parent directories and the schema, checks the schema
    /// version, enables WAL with `synchronous=FULL`, and spawns the writer
    /// thread that owns the write connection.
    ///
    /// # Errors
    /// [`StoreError::Io`] if the directory or thread cannot be created,
    /// [`StoreError::UnsupportedSchema`] for an unknown or foreign database,
    /// [`StoreError::Sqlite`] if SQLite cannot open or set up the file.
    pub fn open(config: StoreConfig) -> Result<Store, StoreError> {
        if let Some(parent) = config.path.parent()
            && !parent.as_os_str().is_empty()
        {
            std::fs::create_dir_all(parent).map_err(StoreError::io("create parent directory"))?;
        }
        let mut write_conn =
            Connection::open(&config.path).map_err(StoreError::sql("open write connection"))?;
        schema::configure_writer(&write_conn)?;
        schema::init(&mut write_conn)?;

        let read_conn =
            Connection::open(&config.path).map_err(StoreError::sql("open read connection"))?;
        schema::configure_reader(&read_conn)?;

        let limits = Limits {
            max_messages: config.max_messages_per_account,
            max_bytes: config.max_bytes_per_account,
            max_batch: config.max_batch,
        };
        let commits = Arc::new(AtomicU64::new(0));
        let (tx, rx) = mpsc::channel();
        let thread_commits = Arc::clone(&commits);
        let handle = std::thread::Builder::new()
            .name("nightjar-store-writer".to_owned())
            .spawn(move || writer::run(write_conn, rx, limits, thread_commits))
            .map_err(StoreError::io("spawn writer thread"))?;

        Ok(Store {
            inner: Arc::new(Inner {
                tx: Mutex::new(Some(tx)),
                writer: Mutex::new(Some(handle)),
                reader: Mutex::new(read_conn),
                commits,
                path: config.path,
            }),
        })
    }

    /// Queues `msg` for storage.
    ///
    /// The receiver resolves only after the transaction holding the message
    /// has committed (durable), or with the error that prevented it. Storing
    /// a live duplicate `(account, namespace, hash)` is idempotent and raises
    /// its expiry to the later of the two ([`StoreOutcome::AlreadyStored`]).
    /// A `RecvError` on the receiver means [`StoreError::WriterGone`].
    pub fn store(&self, msg: NewMessage) -> oneshot::Receiver<Result<StoreOutcome, StoreError>> {
        let (reply, rx) = oneshot::channel();
        self.inner.submit(Op::Store { msg, reply });
        rx
    }

    /// Queues deletion of the listed messages of one account namespace
    /// (expired or not). Resolves after commit with the number of rows
    /// deleted; unknown hashes are ignored.
    pub fn delete(
        &self,
        account: [u8; 32],
        namespace: u16,
        hashes: Vec<[u8; 32]>,
    ) -> oneshot::Receiver<Result<u64, StoreError>> {
        let (reply, rx) = oneshot::channel();
        self.inner.submit(Op::Delete {
            account,
            namespace,
            hashes,
            reply,
        });
        rx
    }

    /// Queues removal of every message with `expiry_ms <= now_ms`. Resolves
    /// after commit with the number of rows removed.
    pub fn purge_expired(&self, now_ms: u64) -> oneshot::Receiver<Result<u64, StoreError>> {
        let (reply, rx) = oneshot::channel();
        self.inner.submit(Op::Purge { now_ms, reply });
        rx
    }

    /// Returns live messages (`expiry_ms > now_ms`) of one account namespace
    /// with `seq > after_seq`, in ascending `seq` order, at most
    /// `max_messages` of them. Stops before the total `data` size would
    /// exceed `max_bytes`, but returns at least one message if any matches
    /// (and `max_messages > 0`). Blocking.
    ///
    /// # Errors
    /// [`StoreError::ValueOutOfRange`] if `after_seq` or `now_ms` exceeds
    /// `i64::MAX`, [`StoreError::Corrupt`] if a row does not decode,
    /// [`StoreError::Sqlite`] on database errors.
    pub fn retrieve(
        &self,
        account: &[u8; 32],
        namespace: u16,
        after_seq: u64,
        now_ms: u64,
        max_messages: usize,
        max_bytes: usize,
    ) -> Result<Vec<StoredMessage>, StoreError> {
        const OP: &str = "retrieve";
        let after = to_i64("after_seq", after_seq)?;
        let now = to_i64("now_ms", now_ms)?;
        if max_messages == 0 {
            return Ok(Vec::new());
        }
        let limit = i64::try_from(max_messages).unwrap_or(i64::MAX);

        let conn = lock(&self.inner.reader);
        let mut stmt = conn
            .prepare_cached(
                "SELECT seq, hash, data, stored_at_ms, expiry_ms FROM messages
                 WHERE account = ?1 AND namespace = ?2 AND seq > ?3 AND expiry_ms > ?4
                 ORDER BY seq ASC LIMIT ?5",
            )
            .map_err(StoreError::sql(OP))?;
        let mut rows = stmt
            .query(params![account, i64::from(namespace), after, now, limit])
            .map_err(StoreError::sql(OP))?;

        let mut out = Vec::new();
        let mut total: usize = 0;
        while let Some(row) = rows.next().map_err(StoreError::sql(OP))? {
            let seq: i64 = row.get(0).map_err(StoreError::sql("decode seq"))?;
            let hash: [u8; 32] = row.get(1).map_err(StoreError::sql("decode hash"))?;
            let data: Vec<u8> = row.get(2).map_err(StoreError::sql("decode data"))?;
            let stored_at: i64 = row.get(3).map_err(StoreError::sql("decode stored_at_ms"))?;
            let expiry: i64 = row.get(4).map_err(StoreError::sql("decode expiry_ms"))?;
            let size = data.len();
            if !out.is_empty() && total.saturating_add(size) > max_bytes {
                break;
            }
            total = total.saturating_add(size);
            out.push(StoredMessage {
                seq: from_disk("seq", seq)?,
                hash,
                data,
                stored_at_ms: from_disk("stored_at_ms", stored_at)?,
                expiry_ms: from_disk("expiry_ms", expiry)?,
            });
        }
        Ok(out)
    }

    /// Store-wide totals for metrics (includes expired messages not yet
    /// purged). Blocking; O(number of accounts).
    ///
    /// # Errors
    /// [`StoreError::Sqlite`] or [`StoreError::Corrupt`] on database errors.
    pub fn stats(&self) -> Result<StoreStats, StoreError> {
        let conn = lock(&self.inner.reader);
        let (messages, bytes, accounts): (i64, i64, i64) = conn
            .query_row(
                "SELECT coalesce(sum(messages), 0), coalesce(sum(bytes), 0), count(*)
                 FROM account_usage",
                [],
                |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)),
            )
            .map_err(StoreError::sql("stats"))?;
        Ok(StoreStats {
            messages: from_disk("total messages", messages)?,
            bytes: from_disk("total bytes", bytes)?,
            accounts: from_disk("accounts", accounts)?,
            commits: self.inner.commits.load(Ordering::Relaxed),
        })
    }

    /// Stops accepting writes, lets the writer thread commit and answer
    /// everything already queued, and waits for it to exit. Idempotent; it
    /// affects every clone of this handle (later writes fail with
    /// [`StoreError::WriterGone`]; reads keep working).
    pub fn shutdown(&self) {
        self.inner.shutdown();
    }

    /// Same as [`Store::shutdown`], consuming this handle.
    pub fn close(self) {
        self.shutdown();
    }
}
