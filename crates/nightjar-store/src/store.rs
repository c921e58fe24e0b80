//! The [`Store`] handle.

use std::collections::HashSet;
use std::fmt;
use std::path::PathBuf;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError, mpsc};
use std::thread::JoinHandle;

use rusqlite::{Connection, OptionalExtension, params};
use tokio::sync::oneshot;

use crate::command::{StoreCommand, StoreReply};
use crate::error::{StoreError, from_disk, to_i64};
use crate::ring::{pos_from_sql, pos_to_sql, sql_intervals};
use crate::schema;
use crate::types::{
    ClaimOutcome, NewClaim, NewMessage, PositionedEntry, StoreConfig, StoreOutcome, StoreStats,
    Tombstone,
};
use crate::writer::{self, CountOp, Op, Reply, Settings};
use nightjar_types::namespace::is_claimable;
use nightjar_types::{
    AccountKey, FullMessage, MessageHash, MessageKey, StoredMessage, SyncCursor, SyncEntry,
};

/// Handle to one node's message store. Cheap to clone; `Send + Sync`.
///
/// Writes ([`Store::store`], [`Store::delete`], [`Store::add_tombstones`],
/// [`Store::drop_range`], [`Store::purge_expired`], [`Store::claim`]) are queued to a single
/// writer thread and answered through a oneshot channel once durably
/// committed ([`Store::write_then`]: by a function the writer thread
/// calls). Reads ([`Store::retrieve`], [`Store::list_range`],
/// [`Store::fetch`], [`Store::stats`]) block the calling thread on a separate
/// read connection; call them from `spawn_blocking` in async code.
///
/// Every message and tombstone carries its account's ring position
/// ([`StoreConfig::ring_position`]); ring ranges `[start, end)` follow one
/// convention everywhere: `start < end` is `start <= p < end`, `start > end`
/// wraps (`p >= start || p < end`), and `start == end` is the whole ring.
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
    /// [`StoreConfig::ring_position`]: key lookups seek `messages_by_pos`.
    ring_position: fn(&AccountKey) -> u64,
}

/// Live messages of one interval of encoded positions, in entry order
/// (their `(pos, hash, account, namespace)` order), strictly after the row
/// value `(?1, ?2, ?3, ?4)` and at most at position `?5`, unexpired at `?6`,
/// at most `?7` rows (`-1`: all). The row value seeks in `messages_by_pos`
/// (which covers every column read) and the index gives the order, so a
/// page costs in proportion to its rows. `+expiry_ms` keeps the planner off
/// the expiry index.
pub(crate) const LIST_MESSAGES: &str = "SELECT account, namespace, hash, pos, expiry_ms
     FROM messages
     WHERE (pos, hash, account, namespace) > (?1, ?2, ?3, ?4) AND pos <= ?5
       AND +expiry_ms > ?6
     ORDER BY pos, hash, account, namespace LIMIT ?7";

/// Live tombstones, like [`LIST_MESSAGES`] (through `tombstones_by_pos`,
/// which on this `WITHOUT ROWID` table ends with the key `account,
/// namespace`).
pub(crate) const LIST_TOMBSTONES: &str = "SELECT account, namespace, hash, pos, expiry_ms
     FROM tombstones
     WHERE (pos, hash, account, namespace) > (?1, ?2, ?3, ?4) AND pos <= ?5
       AND +expiry_ms > ?6
     ORDER BY pos, hash, account, namespace LIMIT ?7";

/// Live messages of mailbox `(?1, ?2)` after seq `?3`, unexpired at `?4`,
/// at most `?5`, in seq order.
const RETRIEVE: &str = "SELECT seq, hash, data, stored_at_ms, expiry_ms FROM messages
     WHERE account = ?1 AND namespace = ?2 AND seq > ?3 AND expiry_ms > ?4
     ORDER BY seq ASC LIMIT ?5";

/// [`RETRIEVE`] without the messages that have a live claim (claimable
/// namespaces).
pub(crate) const RETRIEVE_UNCLAIMED: &str =
    "SELECT seq, hash, data, stored_at_ms, expiry_ms FROM messages
     WHERE account = ?1 AND namespace = ?2 AND seq > ?3 AND expiry_ms > ?4
       AND NOT EXISTS (SELECT 1 FROM claims
                       WHERE claims.account = ?1 AND claims.namespace = ?2
                         AND claims.hash = messages.hash AND claims.expiry_ms > ?4)
     ORDER BY seq ASC LIMIT ?5";

/// The exclusive lower bound `(pos, hash, account, namespace)` of one
/// table's rows in a page that starts after `after` (entry order puts a
/// key's message before its tombstone), within an interval starting at
/// encoded position `lo`. Blobs compare bytewise, shorter first: an empty
/// blob is below every hash and account, and 32 bytes of `0xff` with
/// namespace 65535 are at or above every account and namespace.
fn lower_bound(
    lo: i64,
    after: Option<&SyncCursor>,
    tombstones: bool,
) -> (i64, Vec<u8>, Vec<u8>, i64) {
    let from_start = (lo, Vec::new(), Vec::new(), -1);
    let Some(k) = after else {
        return from_start;
    };
    let pos = pos_to_sql(k.position);
    if pos < lo {
        return from_start;
    }
    match (tombstones, k.tombstone) {
        // Same kind: strictly after the key.
        (false, false) | (true, true) => (
            pos,
            k.key.hash.as_bytes().to_vec(),
            k.key.account.as_bytes().to_vec(),
            i64::from(k.key.namespace),
        ),
        // Messages after a tombstone: only past its (position, hash).
        (false, true) => (
            pos,
            k.key.hash.as_bytes().to_vec(),
            vec![0xff; 32],
            i64::from(u16::MAX),
        ),
        // Tombstones after a message: from its (position, hash) on.
        (true, false) => (pos, k.key.hash.as_bytes().to_vec(), Vec::new(), -1),
    }
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
    /// An older database is migrated to version 3 in one transaction. From
    /// version 1 (before ring positions and tombstones): `messages` gains
    /// `pos`, computed for every row with `config.ring_position`, and the
    /// tombstone tables are created (this rewrites every message row, so it
    /// can take a while on a large store); from version 2, and after that,
    /// the claim tables are created. Nothing held is lost. If anything
    /// fails, the file is left at its version.
    ///
    /// # Errors
    /// [`StoreError::Io`] if the directory or thread cannot be created,
    /// [`StoreError::UnsupportedSchema`] for an unknown or foreign database,
    /// [`StoreError::DiskFull`] if the disk is too full to create or
    /// migrate the file, [`StoreError::Sqlite`] if SQLite cannot open or set
    /// up the file.
    pub fn open(config: StoreConfig) -> Result<Store, StoreError> {
        Self::open_with(config, |_| Ok(()))
    }

    /// [`Store::open`], running `setup` on the write connection once the
    /// schema is ready (tests use it to cap the database size).
    pub(crate) fn open_with(
        config: StoreConfig,
        setup: impl FnOnce(&Connection) -> Result<(), StoreError>,
    ) -> Result<Store, StoreError> {
        Self::open_tuned(config, setup, writer::PURGE_CHUNK)
    }

    /// [`Store::open_with`], with `purge_chunk` rows per purge step
    /// instead of [`writer::PURGE_CHUNK`] (tests use small chunks).
    pub(crate) fn open_tuned(
        config: StoreConfig,
        setup: impl FnOnce(&Connection) -> Result<(), StoreError>,
        purge_chunk: usize,
    ) -> Result<Store, StoreError> {
        if let Some(parent) = config.path.parent()
            && !parent.as_os_str().is_empty()
        {
            std::fs::create_dir_all(parent).map_err(StoreError::io("create parent directory"))?;
        }
        let mut write_conn =
            Connection::open(&config.path).map_err(StoreError::sql("open write connection"))?;
        schema::configure_writer(&write_conn)?;
        schema::init(&mut write_conn, config.ring_position)?;
        setup(&write_conn)?;

        let read_conn =
            Connection::open(&config.path).map_err(StoreError::sql("open read connection"))?;
        schema::configure_reader(&read_conn)?;

        let settings = Settings {
            max_messages: config.max_messages_per_account,
            max_bytes: config.max_bytes_per_account,
            max_tombstones: config.max_tombstones_per_account,
            max_claims: config.max_claims_per_account,
            max_batch: config.max_batch,
            ring_position: config.ring_position,
            purge_chunk,
        };
        let commits = Arc::new(AtomicU64::new(0));
        let (tx, rx) = mpsc::channel();
        let thread_commits = Arc::clone(&commits);
        let handle = std::thread::Builder::new()
            .name("nightjar-store-writer".to_owned())
            .spawn(move || writer::run(write_conn, rx, settings, thread_commits))
            .map_err(StoreError::io("spawn writer thread"))?;

        Ok(Store {
            inner: Arc::new(Inner {
                tx: Mutex::new(Some(tx)),
                writer: Mutex::new(Some(handle)),
                reader: Mutex::new(read_conn),
                commits,
                path: config.path,
                ring_position: config.ring_position,
            }),
        })
    }

    /// Queues `msg` for storage.
    ///
    /// The receiver resolves only after the transaction holding the message
    /// has committed (durable), or with the error that prevented it. Storing
    /// a live duplicate `(account, namespace, hash)` is idempotent and raises
    /// its expiry to the later of the two ([`StoreOutcome::AlreadyStored`]).
    /// If the message was deleted and its tombstone has not expired
    /// (`expiry_ms > msg.now_ms`), nothing is stored
    /// ([`StoreOutcome::Tombstoned`]).
    /// A `RecvError` on the receiver means [`StoreError::WriterGone`].
    pub fn store(&self, msg: NewMessage) -> oneshot::Receiver<Result<StoreOutcome, StoreError>> {
        let (reply, rx) = Reply::oneshot();
        self.inner.submit(Op::Store { msg, reply });
        rx
    }

    /// Queues a write command ([`StoreCommand::is_write`]) as the method of
    /// the same name would, answered by calling `then` with its reply — what
    /// that method's receiver would have resolved to
    /// ([`StoreError::WriterGone`] included). `then` runs on the writer
    /// thread once the batch holding the write has committed (or failed), so
    /// it must only hand the reply on (a channel send, no waiting); it saves
    /// a caller the task that would wait on a receiver. The command is queued
    /// before this returns, so writes keep the order of the calls.
    ///
    /// A read command is not run: `then` gets it back as a failed reply
    /// ([`StoreError::NotAWrite`]); reads go through
    /// [`MessageStore::execute`](crate::MessageStore::execute) on a thread
    /// that may block.
    pub fn write_then(
        &self,
        command: StoreCommand,
        then: impl FnOnce(StoreReply) + Send + 'static,
    ) {
        fn count(work: CountOp, then: impl FnOnce(StoreReply) + Send + 'static) -> Op {
            Op::Count {
                work,
                reply: Reply::to(move |r| then(StoreReply::Count(r))),
            }
        }
        let op = match command {
            StoreCommand::Store(msg) => Op::Store {
                msg,
                reply: Reply::to(move |r| then(StoreReply::Stored(r))),
            },
            StoreCommand::Delete {
                account,
                namespace,
                hashes,
                now_ms,
                tombstone_ttl_ms,
            } => count(
                CountOp::Delete {
                    account,
                    namespace,
                    hashes,
                    now_ms,
                    tombstone_ttl_ms,
                },
                then,
            ),
            StoreCommand::AddTombstones(t) => count(CountOp::AddTombstones(t), then),
            StoreCommand::DropRange { start, end } => {
                count(CountOp::DropRange { start, end }, then)
            }
            StoreCommand::Purge { now_ms } => count(CountOp::Purge { now_ms, removed: 0 }, then),
            StoreCommand::Claim(claim) => Op::Claim {
                claim,
                reply: Reply::to(move |r| then(StoreReply::Claimed(r))),
            },
            read @ (StoreCommand::Retrieve { .. }
            | StoreCommand::ListRange { .. }
            | StoreCommand::Fetch { .. }) => {
                then(StoreReply::failed(&read, StoreError::NotAWrite));
                return;
            }
        };
        self.inner.submit(op);
    }

    /// Queues a count-returning operation.
    fn submit_count(&self, work: CountOp) -> oneshot::Receiver<Result<u64, StoreError>> {
        let (reply, rx) = Reply::oneshot();
        self.inner.submit(Op::Count { work, reply });
        rx
    }

    /// Queues deletion of the listed messages of one account namespace
    /// (expired or not), leaving a tombstone for every listed hash so that
    /// replication and sync cannot bring the messages back. Resolves after
    /// commit with the number of messages deleted; repeated hashes count
    /// once.
    ///
    /// A tombstone expires with the message it replaces if that message is
    /// held and live, else at `now_ms + tombstone_ttl_ms` (the hash may name
    /// a message not replicated here yet); one that would already be
    /// expired is not written. An existing tombstone keeps the later expiry.
    ///
    /// # Errors (through the receiver)
    /// [`StoreError::QuotaExceeded`] with `limit: "tombstones"` if the new
    /// tombstones would put the account over
    /// [`StoreConfig::max_tombstones_per_account`] (after removing its
    /// expired ones); then nothing is deleted.
    /// [`StoreError::ValueOutOfRange`] if `now_ms` or
    /// `now_ms + tombstone_ttl_ms` exceeds `i64::MAX`.
    pub fn delete(
        &self,
        account: AccountKey,
        namespace: u16,
        hashes: Vec<MessageHash>,
        now_ms: u64,
        tombstone_ttl_ms: u64,
    ) -> oneshot::Receiver<Result<u64, StoreError>> {
        self.submit_count(CountOp::Delete {
            account,
            namespace,
            hashes,
            now_ms,
            tombstone_ttl_ms,
        })
    }

    /// Queues insertion of tombstones received from other swarm members,
    /// all in one transaction. Each deletes the message it names, if held,
    /// and blocks storing it again until the tombstone expires. On conflict
    /// with an existing tombstone the later expiry is kept, and a tombstone
    /// never expires before the message it deleted here would have.
    /// Resolves after commit with the number of messages deleted.
    ///
    /// # Errors (through the receiver)
    /// All or nothing: [`StoreError::ValueOutOfRange`] if an `expiry_ms`
    /// exceeds `i64::MAX`; [`StoreError::QuotaExceeded`] with
    /// `limit: "tombstones"` if an account would exceed
    /// [`StoreConfig::max_tombstones_per_account`] (expired tombstones
    /// count until purged, as this call has no clock). Callers that want one
    /// account's excess not to block others should send one call per
    /// account.
    pub fn add_tombstones(
        &self,
        tombstones: Vec<Tombstone>,
    ) -> oneshot::Receiver<Result<u64, StoreError>> {
        self.submit_count(CountOp::AddTombstones(tombstones))
    }

    /// Queues removal of every message, tombstone and claim whose ring
    /// position is in `[start, end)` (see [`Store`] for the range convention;
    /// `start == end` removes **everything**). No tombstones are written:
    /// this is for data handed over to its new owners, not deleted.
    /// Resolves after commit with the number of messages removed (removed
    /// tombstones are not counted; see [`Store::stats`]).
    pub fn drop_range(&self, start: u64, end: u64) -> oneshot::Receiver<Result<u64, StoreError>> {
        self.submit_count(CountOp::DropRange { start, end })
    }

    /// Queues removal of every message, tombstone and claim with
    /// `expiry_ms <= now_ms`. Resolves after commit with the number of
    /// messages removed (removed tombstones are not counted; see
    /// [`Store::stats`]).
    ///
    /// Expired rows are found through the expiry indexes, so a purge costs
    /// what it removes, not the size of the store. A large purge is done
    /// in steps of at most 2,000 messages (then tombstones), each committed
    /// in its own batch with the other writes queued meanwhile, so it does
    /// not hold them up; the receiver resolves after the last step. If a
    /// step fails, the error is returned and what earlier steps removed
    /// stays removed (the usage counters match it).
    pub fn purge_expired(&self, now_ms: u64) -> oneshot::Receiver<Result<u64, StoreError>> {
        self.submit_count(CountOp::Purge { now_ms, removed: 0 })
    }

    /// Queues a claim: `claim.claimant` asks for the record `claim.key` of
    /// a claimable namespace (`nightjar_types::namespace::CLAIMABLE`).
    ///
    /// If a live claim (`expiry_ms > now_ms`) of another claimant is
    /// recorded, nothing changes: [`ClaimOutcome::Refused`]. Otherwise the
    /// claim is recorded for this claimant (replacing an expired one, or
    /// kept when the same claimant claims again) and the answer is
    /// [`ClaimOutcome::Granted`] with the record's data if the store holds
    /// it live. Whether or not the record is held: a member that recorded
    /// the claim before the record reached it still refuses others.
    ///
    /// A claim is kept until the later of `now_ms + ttl_ms` and the held
    /// record's expiry (an existing claim of the same claimant never gets
    /// shorter), and a later store of the record that raises its expiry
    /// raises the claim's too. While live, it hides the record from
    /// [`Store::retrieve`] (not from [`Store::list_range`] or
    /// [`Store::fetch`]: the record stays replicated). Expired claims are
    /// purged with expired messages; [`Store::drop_range`] removes claims
    /// too; deletes leave them.
    ///
    /// # Errors (through the receiver)
    /// [`StoreError::NotClaimable`] for another namespace;
    /// [`StoreError::QuotaExceeded`] with `limit: "claims"` if a new claim
    /// would put the account over [`StoreConfig::max_claims_per_account`]
    /// (after removing its expired claims); [`StoreError::ValueOutOfRange`]
    /// if `now_ms` or `now_ms + ttl_ms` exceeds `i64::MAX`.
    pub fn claim(&self, claim: NewClaim) -> oneshot::Receiver<Result<ClaimOutcome, StoreError>> {
        let (reply, rx) = Reply::oneshot();
        self.inner.submit(Op::Claim { claim, reply });
        rx
    }

    /// Returns live messages (`expiry_ms > now_ms`) of one account namespace
    /// with `seq > after_seq`, in ascending `seq` order, at most
    /// `max_messages` of them. In a claimable namespace, messages with a
    /// live claim ([`Store::claim`]) are left out. Stops before the total `data` size would
    /// exceed `max_bytes`, but returns at least one message if any matches
    /// (and `max_messages > 0`). Blocking.
    ///
    /// # Errors
    /// [`StoreError::ValueOutOfRange`] if `after_seq` or `now_ms` exceeds
    /// `i64::MAX`, [`StoreError::Corrupt`] if a row does not decode,
    /// [`StoreError::Sqlite`] on database errors.
    pub fn retrieve(
        &self,
        account: &AccountKey,
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
        let query = if is_claimable(namespace) {
            RETRIEVE_UNCLAIMED
        } else {
            RETRIEVE
        };
        let mut stmt = conn.prepare_cached(query).map_err(StoreError::sql(OP))?;
        let mut rows = stmt
            .query(params![
                account.as_bytes(),
                i64::from(namespace),
                after,
                now,
                limit
            ])
            .map_err(StoreError::sql(OP))?;

        let mut out = Vec::new();
        let mut total: usize = 0;
        while let Some(row) = rows.next().map_err(StoreError::sql(OP))? {
            let seq: i64 = row.get(0).map_err(StoreError::sql("decode seq"))?;
            let hash: [u8; 32] = row.get(1).map_err(StoreError::sql("decode hash"))?;
            let hash = MessageHash::new(hash);
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

    /// The most keys one [`Store::fetch`] call accepts.
    pub const MAX_FETCH_KEYS: usize = 1_000;

    /// Lists every live message and live tombstone (`expiry_ms > now_ms`)
    /// whose ring position is in `[start, end)` (see [`Store`] for the
    /// range convention), in entry order ([`SyncCursor`]: position, hash,
    /// messages before tombstones, account, namespace). Payloads are not
    /// read. For anti-entropy: compare digests of these lists between swarm
    /// members, then [`Store::fetch`] the missing messages and
    /// [`Store::add_tombstones`] the missing tombstones. Blocking; reads one
    /// consistent snapshot, through the position indexes (cost proportional
    /// to the range's rows, not the store's). For large ranges, list page by
    /// page with [`Store::list_range_after`].
    ///
    /// # Errors
    /// [`StoreError::ValueOutOfRange`] if `now_ms` exceeds `i64::MAX`,
    /// [`StoreError::Corrupt`] if a row does not decode,
    /// [`StoreError::Sqlite`] on database errors.
    pub fn list_range(
        &self,
        start: u64,
        end: u64,
        now_ms: u64,
    ) -> Result<Vec<PositionedEntry>, StoreError> {
        self.list_range_after(start, end, now_ms, None, usize::MAX)
    }

    /// One page of [`Store::list_range`]: the first `limit` entries
    /// strictly after `after` in entry order (from the start of the range
    /// without `after`). Fewer than `limit` entries means the range is done;
    /// otherwise the next page starts after the last entry's key. Each table
    /// is read through its position index from the page's start, at most
    /// `limit` rows, so a page costs in proportion to `limit`, not to the
    /// range. Blocking; one consistent snapshot per page.
    ///
    /// # Errors
    /// As [`Store::list_range`].
    pub fn list_range_after(
        &self,
        start: u64,
        end: u64,
        now_ms: u64,
        after: Option<&SyncCursor>,
        limit: usize,
    ) -> Result<Vec<PositionedEntry>, StoreError> {
        const OP: &str = "list range";
        let now = to_i64("now_ms", now_ms)?;
        // SQLite reads a negative LIMIT as "no limit".
        let sql_limit = i64::try_from(limit).unwrap_or(-1);
        let mut conn = lock(&self.inner.reader);
        let tx = conn.transaction().map_err(StoreError::sql(OP))?;
        let mut out = Vec::new();
        for (lo, hi) in sql_intervals(start, end) {
            if out.len() >= limit {
                break;
            }
            if after.is_some_and(|k| pos_to_sql(k.position) > hi) {
                continue;
            }
            let mut interval = Vec::new();
            for (tombstone, query) in [(false, LIST_MESSAGES), (true, LIST_TOMBSTONES)] {
                let (pos, hash, account, namespace) = lower_bound(lo, after, tombstone);
                let mut stmt = tx.prepare_cached(query).map_err(StoreError::sql(OP))?;
                let mut rows = stmt
                    .query(params![pos, hash, account, namespace, hi, now, sql_limit])
                    .map_err(StoreError::sql(OP))?;
                while let Some(row) = rows.next().map_err(StoreError::sql(OP))? {
                    let account: [u8; 32] =
                        row.get(0).map_err(StoreError::sql("decode account"))?;
                    let namespace: i64 = row.get(1).map_err(StoreError::sql("decode namespace"))?;
                    let hash: [u8; 32] = row.get(2).map_err(StoreError::sql("decode hash"))?;
                    let pos: i64 = row.get(3).map_err(StoreError::sql("decode pos"))?;
                    let expiry: i64 = row.get(4).map_err(StoreError::sql("decode expiry_ms"))?;
                    interval.push(PositionedEntry {
                        position: pos_from_sql(pos),
                        entry: SyncEntry {
                            key: MessageKey {
                                account: AccountKey::new(account),
                                namespace: namespace_from_disk(namespace)?,
                                hash: MessageHash::new(hash),
                            },
                            expiry_ms: from_disk("expiry_ms", expiry)?,
                            tombstone,
                        },
                    });
                }
            }
            // Both tables' rows are each in order: merge them, keep the first.
            interval.sort_unstable_by_key(PositionedEntry::cursor);
            interval.truncate(limit.saturating_sub(out.len()));
            out.append(&mut interval);
        }
        Ok(out)
    }

    /// Returns the held, live (`expiry_ms > now_ms`) messages among `keys`,
    /// each with its hash, in the order of `keys`; keys not held or expired
    /// are skipped, repeated keys are returned once. For replication and
    /// hand-over. Blocking; one consistent snapshot.
    ///
    /// # Errors
    /// [`StoreError::TooManyKeys`] for more than [`Store::MAX_FETCH_KEYS`]
    /// keys, [`StoreError::ValueOutOfRange`] if `now_ms` exceeds
    /// `i64::MAX`, [`StoreError::Corrupt`] if a row does not decode,
    /// [`StoreError::Sqlite`] on database errors.
    pub fn fetch(
        &self,
        keys: &[MessageKey],
        now_ms: u64,
    ) -> Result<Vec<(MessageHash, FullMessage)>, StoreError> {
        const OP: &str = "fetch";
        if keys.len() > Self::MAX_FETCH_KEYS {
            return Err(StoreError::TooManyKeys {
                given: keys.len(),
                max: Self::MAX_FETCH_KEYS,
            });
        }
        let now = to_i64("now_ms", now_ms)?;
        let mut conn = lock(&self.inner.reader);
        let tx = conn.transaction().map_err(StoreError::sql(OP))?;
        let mut stmt = tx
            .prepare_cached(
                "SELECT data, expiry_ms FROM messages INDEXED BY messages_by_pos
                 WHERE pos = ?5 AND hash = ?3 AND account = ?1 AND namespace = ?2
                   AND expiry_ms > ?4",
            )
            .map_err(StoreError::sql(OP))?;
        let mut seen = HashSet::with_capacity(keys.len());
        let mut out = Vec::new();
        for key in keys {
            if !seen.insert(key) {
                continue;
            }
            let found: Option<(Vec<u8>, i64)> = stmt
                .query_row(
                    params![
                        key.account.as_bytes(),
                        i64::from(key.namespace),
                        key.hash.as_bytes(),
                        now,
                        pos_to_sql((self.inner.ring_position)(&key.account))
                    ],
                    |r| Ok((r.get(0)?, r.get(1)?)),
                )
                .optional()
                .map_err(StoreError::sql(OP))?;
            if let Some((data, expiry)) = found {
                out.push((
                    key.hash,
                    FullMessage {
                        mailbox: key.mailbox(),
                        data,
                        expiry_ms: from_disk("expiry_ms", expiry)?,
                    },
                ));
            }
        }
        Ok(out)
    }

    /// Store-wide totals for metrics (includes expired messages and
    /// tombstones not yet purged). Blocking; O(number of accounts).
    ///
    /// # Errors
    /// [`StoreError::Sqlite`] or [`StoreError::Corrupt`] on database errors.
    pub fn stats(&self) -> Result<StoreStats, StoreError> {
        let conn = lock(&self.inner.reader);
        let (messages, bytes, accounts, tombstones, claims): (i64, i64, i64, i64, i64) = conn
            .query_row(
                "SELECT coalesce(sum(messages), 0), coalesce(sum(bytes), 0), count(*),
                        (SELECT coalesce(sum(tombstones), 0) FROM tombstone_usage),
                        (SELECT coalesce(sum(claims), 0) FROM claim_usage)
                 FROM account_usage",
                [],
                |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?, r.get(4)?)),
            )
            .map_err(StoreError::sql("stats"))?;
        Ok(StoreStats {
            messages: from_disk("total messages", messages)?,
            bytes: from_disk("total bytes", bytes)?,
            accounts: from_disk("accounts", accounts)?,
            tombstones: from_disk("total tombstones", tombstones)?,
            claims: from_disk("total claims", claims)?,
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

/// Converts a namespace read from disk; out of `u16` range means corrupt.
fn namespace_from_disk(value: i64) -> Result<u16, StoreError> {
    u16::try_from(value)
        .map_err(|_| StoreError::Corrupt(format!("namespace out of range ({value})")))
}
