use std::path::Path;

use super::*;

const ACCOUNT: AccountKey = AccountKey::new([7; 32]);
const NOW: u64 = 1_700_000_000_000;

/// Test ring position: the account's first 8 bytes, big-endian.
fn ring(account: &AccountKey) -> u64 {
    let mut first = [0u8; 8];
    first.copy_from_slice(&account.as_bytes()[..8]);
    u64::from_be_bytes(first)
}

fn config(path: &Path) -> StoreConfig {
    StoreConfig::new(path.join("node").join("messages.sqlite"), ring)
}

fn open(dir: &tempfile::TempDir) -> Store {
    Store::open(config(dir.path())).expect("open store")
}

fn msg(hash_byte: u8, data: &[u8], now_ms: u64, expiry_ms: u64) -> NewMessage {
    NewMessage {
        account: ACCOUNT,
        namespace: 0,
        hash: MessageHash::new([hash_byte; 32]),
        data: data.to_vec(),
        now_ms,
        expiry_ms,
    }
}

fn put(store: &Store, m: NewMessage) -> Result<StoreOutcome, StoreError> {
    store.store(m).blocking_recv().expect("writer answered")
}

fn all(store: &Store, now_ms: u64) -> Vec<StoredMessage> {
    store
        .retrieve(&ACCOUNT, 0, 0, now_ms, usize::MAX, usize::MAX)
        .expect("retrieve")
}

#[test]
fn store_is_send_sync_clone() {
    fn check<T: Send + Sync + Clone>() {}
    check::<Store>();
    check::<StoreError>();
}

#[test]
fn write_then_is_called_once_the_message_is_committed() {
    let dir = tempfile::tempdir().expect("tempdir");
    let store = open(&dir);
    let (tx, rx) = std::sync::mpsc::channel();
    let reader = store.clone();
    let command = StoreCommand::Store(msg(1, b"hello", NOW, NOW + 60_000));
    store.write_then(command, move |r| {
        // Called after COMMIT: another connection already sees the row.
        let seen = all(&reader, NOW + 1).len();
        let _ = tx.send((r, seen));
    });
    let (outcome, seen) = rx.recv().expect("called");
    assert!(matches!(
        outcome,
        StoreReply::Stored(Ok(StoreOutcome::Stored { .. }))
    ));
    assert_eq!(seen, 1);
    assert!(rx.recv().is_err(), "called once");
}

#[test]
fn write_then_answers_each_write_with_its_kind_of_reply_and_refuses_a_read() {
    let dir = tempfile::tempdir().expect("tempdir");
    let store = open(&dir);
    put(&store, msg(1, b"hello", NOW, NOW + 60_000)).expect("store");
    let (tx, rx) = std::sync::mpsc::channel();
    let answer = |tx: std::sync::mpsc::Sender<StoreReply>| {
        move |r| {
            let _ = tx.send(r);
        }
    };
    store.write_then(
        StoreCommand::Delete {
            account: ACCOUNT,
            namespace: 0,
            hashes: vec![MessageHash::new([1; 32])],
            now_ms: NOW + 1,
            tombstone_ttl_ms: 60_000,
        },
        answer(tx.clone()),
    );
    assert!(matches!(rx.recv(), Ok(StoreReply::Count(Ok(1)))));
    store.write_then(
        StoreCommand::Retrieve {
            account: ACCOUNT,
            namespace: 0,
            after_seq: 0,
            now_ms: NOW,
            max_messages: 10,
            max_bytes: 10_000,
        },
        answer(tx),
    );
    assert!(matches!(
        rx.recv(),
        Ok(StoreReply::Messages(Err(StoreError::NotAWrite)))
    ));
    assert!(all(&store, NOW + 2).is_empty(), "the delete was committed");
}

#[test]
fn write_then_after_shutdown_says_the_writer_is_gone() {
    let dir = tempfile::tempdir().expect("tempdir");
    let store = open(&dir);
    store.shutdown();
    let (tx, rx) = std::sync::mpsc::channel();
    let command = StoreCommand::Store(msg(1, b"late", NOW, NOW + 60_000));
    store.write_then(command, move |r| {
        let _ = tx.send(r);
    });
    assert!(matches!(
        rx.recv(),
        Ok(StoreReply::Stored(Err(StoreError::WriterGone)))
    ));
}

#[test]
fn stored_message_is_retrieved_after_reopen() {
    let dir = tempfile::tempdir().expect("tempdir");
    let store = open(&dir);
    let out = put(&store, msg(1, b"hello", NOW, NOW + 60_000)).expect("store");
    assert!(matches!(out, StoreOutcome::Stored { .. }));
    store.close();

    let store = open(&dir);
    let got = all(&store, NOW + 1);
    assert_eq!(got.len(), 1);
    assert_eq!(got[0].seq, out.seq());
    assert_eq!(got[0].hash, MessageHash::new([1; 32]));
    assert_eq!(got[0].data, b"hello");
    assert_eq!(got[0].stored_at_ms, NOW);
    assert_eq!(got[0].expiry_ms, NOW + 60_000);
    let stats = store.stats().expect("stats");
    assert_eq!((stats.messages, stats.bytes, stats.accounts), (1, 5, 1));
}

#[test]
fn expired_message_is_not_returned() {
    let dir = tempfile::tempdir().expect("tempdir");
    let store = open(&dir);
    put(&store, msg(1, b"short", NOW, NOW + 10)).expect("store");
    put(&store, msg(2, b"long", NOW, NOW + 1_000)).expect("store");
    let got = all(&store, NOW + 10);
    assert_eq!(got.len(), 1);
    assert_eq!(got[0].hash, MessageHash::new([2; 32]));
    assert!(all(&store, NOW + 1_000).is_empty());
    // Storing an already expired message is rejected.
    assert!(matches!(
        put(&store, msg(3, b"x", NOW, NOW)),
        Err(StoreError::AlreadyExpired { .. })
    ));
}

#[test]
fn purge_removes_only_expired() {
    let dir = tempfile::tempdir().expect("tempdir");
    let store = open(&dir);
    put(&store, msg(1, b"aa", NOW, NOW + 10)).expect("store");
    put(&store, msg(2, b"bbb", NOW, NOW + 20)).expect("store");
    put(&store, msg(3, b"cccc", NOW, NOW + 1_000)).expect("store");
    let purged = store
        .purge_expired(NOW + 20)
        .blocking_recv()
        .expect("answer")
        .expect("purge");
    assert_eq!(purged, 2);
    let stats = store.stats().expect("stats");
    assert_eq!((stats.messages, stats.bytes), (1, 4));
    let got = all(&store, NOW + 20);
    assert_eq!(got.len(), 1);
    assert_eq!(got[0].hash, MessageHash::new([3; 32]));
    let again = store
        .purge_expired(NOW + 20)
        .blocking_recv()
        .expect("answer");
    assert_eq!(again.expect("purge"), 0);
}

#[test]
fn duplicate_store_is_idempotent_and_extends_expiry() {
    let dir = tempfile::tempdir().expect("tempdir");
    let store = open(&dir);
    let first = put(&store, msg(1, b"dup", NOW, NOW + 100)).expect("store");
    let StoreOutcome::Stored { seq } = first else {
        panic!("expected Stored, got {first:?}");
    };
    let second = put(&store, msg(1, b"dup", NOW + 1, NOW + 500)).expect("store");
    assert_eq!(second, StoreOutcome::AlreadyStored { seq });
    // An earlier expiry does not shorten it.
    let third = put(&store, msg(1, b"dup", NOW + 2, NOW + 50)).expect("store");
    assert_eq!(third, StoreOutcome::AlreadyStored { seq });
    let got = all(&store, NOW + 200);
    assert_eq!(got.len(), 1);
    assert_eq!(got[0].expiry_ms, NOW + 500);
    assert_eq!(got[0].stored_at_ms, NOW);
    let stats = store.stats().expect("stats");
    assert_eq!((stats.messages, stats.bytes), (1, 3));
    // Same hash in another namespace is a different message.
    let mut other = msg(1, b"dup", NOW, NOW + 100);
    other.namespace = 5;
    assert!(matches!(
        put(&store, other),
        Ok(StoreOutcome::Stored { .. })
    ));
}

#[test]
fn quota_by_count_rejects_and_keeps_existing() {
    let dir = tempfile::tempdir().expect("tempdir");
    let store = Store::open(StoreConfig {
        max_messages_per_account: 3,
        ..config(dir.path())
    })
    .expect("open");
    for i in 0..3u8 {
        put(&store, msg(i, b"m", NOW, NOW + 1_000)).expect("store");
    }
    // Quota counts all namespaces of the account.
    let mut m = msg(9, b"m", NOW, NOW + 1_000);
    m.namespace = 3;
    match put(&store, m) {
        Err(StoreError::QuotaExceeded { limit }) => assert_eq!(limit, "messages"),
        other => panic!("expected quota error, got {other:?}"),
    }
    assert_eq!(all(&store, NOW).len(), 3);
    // A duplicate of an existing message is still accepted.
    assert!(matches!(
        put(&store, msg(0, b"m", NOW, NOW + 1_000)),
        Ok(StoreOutcome::AlreadyStored { .. })
    ));
    // Another account is unaffected.
    let mut other = msg(1, b"m", NOW, NOW + 1_000);
    other.account = AccountKey::new([8; 32]);
    assert!(put(&store, other).is_ok());
}

#[test]
fn quota_by_bytes_rejects() {
    let dir = tempfile::tempdir().expect("tempdir");
    let store = Store::open(StoreConfig {
        max_bytes_per_account: 10,
        ..config(dir.path())
    })
    .expect("open");
    put(&store, msg(1, &[0; 6], NOW, NOW + 1_000)).expect("store");
    match put(&store, msg(2, &[0; 5], NOW, NOW + 1_000)) {
        Err(StoreError::QuotaExceeded { limit }) => assert_eq!(limit, "bytes"),
        other => panic!("expected quota error, got {other:?}"),
    }
    put(&store, msg(3, &[0; 4], NOW, NOW + 1_000)).expect("exactly at limit");
    assert_eq!(all(&store, NOW).len(), 2);
}

#[test]
fn quota_ignores_expired_unpurged_messages() {
    let dir = tempfile::tempdir().expect("tempdir");
    let store = Store::open(StoreConfig {
        max_messages_per_account: 1,
        ..config(dir.path())
    })
    .expect("open");
    put(&store, msg(1, b"old", NOW, NOW + 10)).expect("store");
    put(&store, msg(2, b"new", NOW + 10, NOW + 100)).expect("expired one purged on demand");
    let stats = store.stats().expect("stats");
    assert_eq!((stats.messages, stats.bytes), (1, 3));
}

#[test]
fn delete_frees_quota() {
    let dir = tempfile::tempdir().expect("tempdir");
    let store = Store::open(StoreConfig {
        max_messages_per_account: 2,
        ..config(dir.path())
    })
    .expect("open");
    put(&store, msg(1, b"a", NOW, NOW + 1_000)).expect("store");
    put(&store, msg(2, b"b", NOW, NOW + 1_000)).expect("store");
    assert!(matches!(
        put(&store, msg(3, b"c", NOW, NOW + 1_000)),
        Err(StoreError::QuotaExceeded { .. })
    ));
    let deleted = store
        .delete(
            ACCOUNT,
            0,
            vec![
                MessageHash::new([1; 32]),
                MessageHash::new([1; 32]),
                MessageHash::new([42; 32]),
            ],
            NOW,
            60_000,
        )
        .blocking_recv()
        .expect("answer")
        .expect("delete");
    assert_eq!(deleted, 1);
    put(&store, msg(3, b"c", NOW, NOW + 1_000)).expect("store after delete");
    let hashes: Vec<_> = all(&store, NOW)
        .iter()
        .map(|m| m.hash.as_bytes()[0])
        .collect();
    assert_eq!(hashes, vec![2, 3]);
    // Wrong namespace deletes nothing.
    let none = store
        .delete(ACCOUNT, 1, vec![MessageHash::new([2; 32])], NOW, 60_000)
        .blocking_recv()
        .expect("answer");
    assert_eq!(none.expect("delete"), 0);
}

#[test]
fn retrieve_after_cursor_returns_newer_only_in_order() {
    let dir = tempfile::tempdir().expect("tempdir");
    let store = open(&dir);
    let seqs: Vec<u64> = (0..5u8)
        .map(|i| {
            put(&store, msg(i, &[i], NOW, NOW + 1_000))
                .expect("store")
                .seq()
        })
        .collect();
    assert!(seqs.windows(2).all(|w| w[0] < w[1]));
    let got = store
        .retrieve(&ACCOUNT, 0, seqs[1], NOW, 100, 1 << 20)
        .expect("retrieve");
    let got_seqs: Vec<u64> = got.iter().map(|m| m.seq).collect();
    assert_eq!(got_seqs, seqs[2..].to_vec());
    let limited = store
        .retrieve(&ACCOUNT, 0, seqs[1], NOW, 2, 1 << 20)
        .expect("retrieve");
    assert_eq!(limited.len(), 2);
    assert_eq!(limited[0].seq, seqs[2]);
    assert!(
        store
            .retrieve(&ACCOUNT, 0, seqs[4], NOW, 100, 1 << 20)
            .expect("retrieve")
            .is_empty()
    );
    assert!(
        store
            .retrieve(&ACCOUNT, 0, 0, NOW, 0, 1 << 20)
            .expect("retrieve")
            .is_empty()
    );
    assert!(matches!(
        store.retrieve(&ACCOUNT, 0, u64::MAX, NOW, 1, 1),
        Err(StoreError::ValueOutOfRange {
            field: "after_seq",
            ..
        })
    ));
}

#[test]
fn retrieve_respects_max_bytes_but_returns_at_least_one() {
    let dir = tempfile::tempdir().expect("tempdir");
    let store = open(&dir);
    for i in 0..4u8 {
        put(&store, msg(i, &[i; 10], NOW, NOW + 1_000)).expect("store");
    }
    let got = store
        .retrieve(&ACCOUNT, 0, 0, NOW, 100, 25)
        .expect("retrieve");
    assert_eq!(got.len(), 2);
    let got = store
        .retrieve(&ACCOUNT, 0, 0, NOW, 100, 30)
        .expect("retrieve");
    assert_eq!(got.len(), 3);
    let got = store
        .retrieve(&ACCOUNT, 0, 0, NOW, 100, 1)
        .expect("retrieve");
    assert_eq!(got.len(), 1);
    assert_eq!(got[0].hash, MessageHash::new([0; 32]));
}

#[test]
fn many_concurrent_stores_share_batches() {
    const N: usize = 2_000;
    let dir = tempfile::tempdir().expect("tempdir");
    let store = open(&dir);
    let receivers: Vec<_> = (0..N)
        .map(|i| {
            let i = u16::try_from(i).expect("small");
            let mut hash = [0u8; 32];
            hash[..2].copy_from_slice(&i.to_be_bytes());
            let mut account = [0u8; 32];
            account[0] = u8::try_from(i % 7).expect("small");
            store.store(NewMessage {
                account: AccountKey::new(account),
                namespace: i % 3,
                hash: MessageHash::new(hash),
                data: vec![1; 16],
                now_ms: NOW,
                expiry_ms: NOW + 1_000,
            })
        })
        .collect();
    let mut seqs = Vec::with_capacity(N);
    for rx in receivers {
        match rx.blocking_recv().expect("answer") {
            Ok(StoreOutcome::Stored { seq }) => seqs.push(seq),
            other => panic!("expected Stored, got {other:?}"),
        }
    }
    seqs.sort_unstable();
    seqs.dedup();
    assert_eq!(seqs.len(), N);
    let stats = store.stats().expect("stats");
    assert_eq!(stats.messages, u64::try_from(N).expect("fits"));
    assert_eq!(stats.accounts, 7);
    assert!(stats.commits >= 1);
    assert!(
        stats.commits < u64::try_from(N).expect("fits"),
        "expected batching, got {} commits for {N} stores",
        stats.commits
    );
}

#[test]
fn failed_op_in_batch_does_not_affect_others() {
    let dir = tempfile::tempdir().expect("tempdir");
    let store = Store::open(StoreConfig {
        max_messages_per_account: 1,
        ..config(dir.path())
    })
    .expect("open");
    // Queue all at once so they likely share a batch.
    let a = store.store(msg(1, b"a", NOW, NOW + 1_000));
    let b = store.store(msg(2, b"b", NOW, NOW + 1_000));
    let c = store.store(msg(3, b"c", u64::MAX, u64::MAX));
    let mut other = msg(4, b"d", NOW, NOW + 1_000);
    other.account = AccountKey::new([9; 32]);
    let d = store.store(other);
    assert!(matches!(
        a.blocking_recv().expect("answer"),
        Ok(StoreOutcome::Stored { .. })
    ));
    assert!(matches!(
        b.blocking_recv().expect("answer"),
        Err(StoreError::QuotaExceeded { limit: "messages" })
    ));
    assert!(matches!(
        c.blocking_recv().expect("answer"),
        Err(StoreError::ValueOutOfRange {
            field: "now_ms",
            ..
        })
    ));
    assert!(matches!(
        d.blocking_recv().expect("answer"),
        Ok(StoreOutcome::Stored { .. })
    ));
    assert_eq!(store.stats().expect("stats").messages, 2);
}

#[test]
fn corrupt_row_gives_error_not_panic() {
    let dir = tempfile::tempdir().expect("tempdir");
    let cfg = config(dir.path());
    let store = Store::open(cfg.clone()).expect("open");
    put(&store, msg(1, b"good", NOW, NOW + 1_000)).expect("store");
    drop(store);
    {
        let raw = rusqlite::Connection::open(&cfg.path).expect("raw open");
        raw.execute(
            "INSERT INTO messages (account, namespace, hash, data, stored_at_ms, expiry_ms)
             VALUES (?1, 0, ?2, ?3, ?4, ?5)",
            rusqlite::params![
                ACCOUNT.as_bytes(),
                vec![1u8, 2, 3],
                b"bad".to_vec(),
                1i64,
                9_000_000_000_000i64
            ],
        )
        .expect("raw insert");
    }
    let store = Store::open(cfg).expect("reopen");
    let result = store.retrieve(&ACCOUNT, 0, 0, NOW, 100, 1 << 20);
    assert!(
        matches!(result, Err(StoreError::Corrupt(_))),
        "got {result:?}"
    );
    // Rows before the corrupt one are still readable.
    let first = store
        .retrieve(&ACCOUNT, 0, 0, NOW, 1, 1 << 20)
        .expect("good row");
    assert_eq!(first.len(), 1);
}

#[test]
fn unknown_schema_version_is_rejected() {
    let dir = tempfile::tempdir().expect("tempdir");
    let cfg = config(dir.path());
    Store::open(cfg.clone()).expect("open").close();
    {
        let raw = rusqlite::Connection::open(&cfg.path).expect("raw open");
        raw.pragma_update(None, "user_version", 99)
            .expect("set version");
    }
    assert!(matches!(
        Store::open(cfg),
        Err(StoreError::UnsupportedSchema(99))
    ));

    let foreign = dir.path().join("foreign.sqlite");
    {
        let raw = rusqlite::Connection::open(&foreign).expect("raw open");
        raw.execute_batch("CREATE TABLE t (x)").expect("create");
    }
    let cfg = StoreConfig::new(foreign, ring);
    assert!(matches!(
        Store::open(cfg),
        Err(StoreError::UnsupportedSchema(0))
    ));
}

#[test]
fn shutdown_is_idempotent_and_later_writes_fail() {
    let dir = tempfile::tempdir().expect("tempdir");
    let store = open(&dir);
    let clone = store.clone();
    let queued = store.store(msg(1, b"q", NOW, NOW + 1_000));
    store.shutdown();
    store.shutdown();
    // Work queued before shutdown was committed.
    assert!(matches!(
        queued.blocking_recv().expect("answer"),
        Ok(StoreOutcome::Stored { .. })
    ));
    assert!(matches!(
        clone
            .store(msg(2, b"r", NOW, NOW + 1_000))
            .blocking_recv()
            .expect("answer"),
        Err(StoreError::WriterGone)
    ));
    // Reads still work.
    assert_eq!(all(&clone, NOW).len(), 1);
}

// ---- Ring positions, tombstones and sync ----

const TTL: u64 = 60_000;

/// An account whose test ring position is `pos`.
fn account_at(pos: u64, tag: u8) -> AccountKey {
    let mut account = [tag; 32];
    account[..8].copy_from_slice(&pos.to_be_bytes());
    AccountKey::new(account)
}

fn msg_for(account: AccountKey, namespace: u16, hash_byte: u8, expiry_ms: u64) -> NewMessage {
    NewMessage {
        account,
        namespace,
        hash: MessageHash::new([hash_byte; 32]),
        data: vec![hash_byte; 3],
        now_ms: NOW,
        expiry_ms,
    }
}

fn key(account: AccountKey, namespace: u16, hash_byte: u8) -> MessageKey {
    MessageKey {
        account,
        namespace,
        hash: MessageHash::new([hash_byte; 32]),
    }
}

fn count(rx: tokio::sync::oneshot::Receiver<Result<u64, StoreError>>) -> Result<u64, StoreError> {
    rx.blocking_recv().expect("writer answered")
}

fn del(store: &Store, account: AccountKey, namespace: u16, hashes: &[u8], now_ms: u64) -> u64 {
    let hashes = hashes.iter().map(|&b| MessageHash::new([b; 32])).collect();
    count(store.delete(account, namespace, hashes, now_ms, TTL)).expect("delete")
}

fn tomb(account: AccountKey, namespace: u16, hash_byte: u8, expiry_ms: u64) -> Tombstone {
    Tombstone {
        key: MessageKey {
            account,
            namespace,
            hash: MessageHash::new([hash_byte; 32]),
        },
        expiry_ms,
    }
}

/// `(position, hash byte, tombstone)` of each entry, in order.
fn summary(entries: &[PositionedEntry]) -> Vec<(u64, u8, bool)> {
    entries
        .iter()
        .map(|e| {
            (
                e.position,
                e.entry.key.hash.as_bytes()[0],
                e.entry.tombstone,
            )
        })
        .collect()
}

fn positions(store: &Store, start: u64, end: u64) -> Vec<u64> {
    store
        .list_range(start, end, NOW)
        .expect("list_range")
        .iter()
        .map(|e| e.position)
        .collect()
}

#[test]
fn ring_position_encoding_preserves_order_at_extremes() {
    use crate::ring::{pos_from_sql, pos_to_sql};
    const HALF: u64 = 1 << 63;
    let values = [0, 1, 2, HALF - 1, HALF, HALF + 1, u64::MAX - 1, u64::MAX];
    assert_eq!(pos_to_sql(0), i64::MIN);
    assert_eq!(pos_to_sql(HALF), 0);
    assert_eq!(pos_to_sql(u64::MAX), i64::MAX);
    for w in values.windows(2) {
        assert!(pos_to_sql(w[0]) < pos_to_sql(w[1]), "{} vs {}", w[0], w[1]);
    }
    for v in values {
        assert_eq!(pos_from_sql(pos_to_sql(v)), v);
    }
    for raw in [i64::MIN, -1, 0, 1, i64::MAX] {
        assert_eq!(pos_to_sql(pos_from_sql(raw)), raw);
    }
    // SQLite orders the encoded values the same way.
    let conn = rusqlite::Connection::open_in_memory().expect("memory db");
    conn.execute_batch("CREATE TABLE t (pos INTEGER NOT NULL)")
        .expect("create");
    for v in values.iter().rev() {
        conn.execute("INSERT INTO t VALUES (?1)", [pos_to_sql(*v)])
            .expect("insert");
    }
    let sorted: Vec<u64> = conn
        .prepare("SELECT pos FROM t ORDER BY pos")
        .expect("prepare")
        .query_map([], |r| r.get::<_, i64>(0))
        .expect("query")
        .map(|r| pos_from_sql(r.expect("row")))
        .collect();
    assert_eq!(sorted, values.to_vec());
}

#[test]
fn store_after_delete_is_tombstoned_not_resurrected() {
    let dir = tempfile::tempdir().expect("tempdir");
    let store = open(&dir);
    put(&store, msg(1, b"gone", NOW, NOW + 10 * TTL)).expect("store");
    put(&store, msg(2, b"kept", NOW, NOW + 10 * TTL)).expect("store");
    assert_eq!(del(&store, ACCOUNT, 0, &[1], NOW + 1), 1);

    // A replica (or sync) re-sending the message does not bring it back.
    assert_eq!(
        put(&store, msg(1, b"gone", NOW + 2, NOW + 20 * TTL)).expect("store"),
        StoreOutcome::Tombstoned
    );
    assert_eq!(StoreOutcome::Tombstoned.seq(), 0);
    let hashes: Vec<u8> = all(&store, NOW + 2)
        .iter()
        .map(|m| m.hash.as_bytes()[0])
        .collect();
    assert_eq!(hashes, vec![2]);
    let stats = store.stats().expect("stats");
    assert_eq!((stats.messages, stats.bytes, stats.tombstones), (1, 4, 1));
    // The tombstone lives as long as the deleted message would have.
    let entries = store.list_range(0, 0, NOW + 2).expect("list_range");
    let t: Vec<_> = entries.iter().filter(|e| e.entry.tombstone).collect();
    assert_eq!(t.len(), 1);
    assert_eq!(t[0].entry.expiry_ms, NOW + 10 * TTL);
    assert_eq!(t[0].position, ring(&ACCOUNT));
    // Deleting it again deletes nothing and keeps one tombstone.
    assert_eq!(del(&store, ACCOUNT, 0, &[1], NOW + 3), 0);
    assert_eq!(store.stats().expect("stats").tombstones, 1);
    // Once the tombstone expired, the hash may be stored again.
    assert!(matches!(
        put(&store, msg(1, b"new", NOW + 10 * TTL, NOW + 11 * TTL)),
        Ok(StoreOutcome::Stored { .. })
    ));
}

#[test]
fn tombstone_for_unknown_hash_blocks_later_store() {
    let dir = tempfile::tempdir().expect("tempdir");
    let store = open(&dir);
    assert_eq!(del(&store, ACCOUNT, 0, &[5, 5], NOW), 0);
    let entries = store.list_range(0, 0, NOW).expect("list_range");
    assert_eq!(entries.len(), 1);
    assert!(entries[0].entry.tombstone);
    assert_eq!(entries[0].entry.expiry_ms, NOW + TTL);
    assert_eq!(entries[0].entry.key, key(ACCOUNT, 0, 5));
    // The message arrives late by replication: it stays deleted.
    assert_eq!(
        put(&store, msg(5, b"late", NOW + 1, NOW + 10 * TTL)).expect("store"),
        StoreOutcome::Tombstoned
    );
    // Other namespaces are not affected.
    let mut other_ns = msg(5, b"late", NOW + 1, NOW + 10 * TTL);
    other_ns.namespace = 1;
    assert!(matches!(
        put(&store, other_ns),
        Ok(StoreOutcome::Stored { .. })
    ));
    assert!(all(&store, NOW + 1).is_empty());
    // After `now + tombstone_ttl_ms` it no longer blocks.
    assert!(matches!(
        put(&store, msg(5, b"later", NOW + TTL, NOW + 10 * TTL)),
        Ok(StoreOutcome::Stored { .. })
    ));
    // A TTL overflowing i64 is rejected, nothing changes.
    assert!(matches!(
        count(store.delete(ACCOUNT, 0, vec![MessageHash::new([5; 32])], NOW, u64::MAX)),
        Err(StoreError::ValueOutOfRange { .. })
    ));
    assert_eq!(all(&store, NOW + TTL).len(), 1);
}

#[test]
fn add_tombstones_deletes_existing_messages() {
    let dir = tempfile::tempdir().expect("tempdir");
    let store = open(&dir);
    let other = account_at(42, 1);
    put(&store, msg(1, b"aaa", NOW, NOW + 5 * TTL)).expect("store");
    put(&store, msg(2, b"bb", NOW, NOW + 5 * TTL)).expect("store");
    put(&store, msg_for(other, 3, 1, NOW + 5 * TTL)).expect("store");

    let deleted = count(store.add_tombstones(vec![
        // Held; the sender's expiry is earlier than our copy's.
        tomb(ACCOUNT, 0, 1, NOW + TTL),
        // Not held here.
        tomb(ACCOUNT, 0, 9, NOW + 2 * TTL),
        // Held by another account.
        tomb(other, 3, 1, NOW + 7 * TTL),
    ]))
    .expect("add_tombstones");
    assert_eq!(deleted, 2);
    let hashes: Vec<u8> = all(&store, NOW)
        .iter()
        .map(|m| m.hash.as_bytes()[0])
        .collect();
    assert_eq!(hashes, vec![2]);
    let stats = store.stats().expect("stats");
    assert_eq!(
        (
            stats.messages,
            stats.bytes,
            stats.accounts,
            stats.tombstones
        ),
        (1, 2, 1, 3)
    );
    let expiry_of = |account: AccountKey, hash: u8| {
        store
            .list_range(0, 0, NOW)
            .expect("list_range")
            .into_iter()
            .map(|e| e.entry)
            .find(|e| {
                e.tombstone
                    && e.key.account == account
                    && e.key.hash == MessageHash::new([hash; 32])
            })
            .map(|e| e.expiry_ms)
    };
    // Raised to our copy's expiry, so it cannot come back in between.
    assert_eq!(expiry_of(ACCOUNT, 1), Some(NOW + 5 * TTL));
    assert_eq!(expiry_of(other, 1), Some(NOW + 7 * TTL));

    // Conflicts keep the later expiry.
    let again = count(store.add_tombstones(vec![
        tomb(ACCOUNT, 0, 9, NOW + TTL),
        tomb(ACCOUNT, 0, 1, NOW + 9 * TTL),
    ]))
    .expect("add_tombstones");
    assert_eq!(again, 0);
    assert_eq!(expiry_of(ACCOUNT, 9), Some(NOW + 2 * TTL));
    assert_eq!(expiry_of(ACCOUNT, 1), Some(NOW + 9 * TTL));
    assert_eq!(store.stats().expect("stats").tombstones, 3);

    // Replicated tombstones block stores too.
    assert_eq!(
        put(&store, msg(9, b"x", NOW, NOW + TTL)).expect("store"),
        StoreOutcome::Tombstoned
    );
    // All or nothing: an out-of-range expiry fails the whole call.
    assert!(matches!(
        count(store.add_tombstones(vec![
            tomb(ACCOUNT, 0, 2, NOW + TTL),
            tomb(ACCOUNT, 0, 3, u64::MAX),
        ])),
        Err(StoreError::ValueOutOfRange {
            field: "expiry_ms",
            ..
        })
    ));
    assert_eq!(all(&store, NOW).len(), 1);
    assert_eq!(count(store.add_tombstones(Vec::new())).expect("count"), 0);
}

#[test]
fn list_range_handles_wraparound_and_full_ring() {
    const HALF: u64 = 1 << 63;
    const MAX: u64 = u64::MAX;
    let dir = tempfile::tempdir().expect("tempdir");
    let store = open(&dir);
    // Stored out of order.
    for (i, pos) in [HALF, MAX, 1, 0].into_iter().enumerate() {
        let tag = u8::try_from(i).expect("small");
        put(&store, msg_for(account_at(pos, tag), 0, tag, NOW + TTL)).expect("store");
    }
    let cases: [(u64, u64, &[u64]); 12] = [
        (0, 2, &[0, 1]),
        (0, 1, &[0]),
        (1, HALF, &[1]),
        (2, HALF, &[]),
        (HALF, MAX, &[HALF]),
        (HALF, 0, &[HALF, MAX]),
        (MAX, 0, &[MAX]),
        (MAX, 1, &[0, MAX]),
        (1, 0, &[1, HALF, MAX]),
        (HALF + 1, HALF, &[0, 1, MAX]),
        (0, 0, &[0, 1, HALF, MAX]),
        (7, 7, &[0, 1, HALF, MAX]),
    ];
    for (start, end, want) in cases {
        assert_eq!(
            positions(&store, start, end),
            want.to_vec(),
            "range [{start}, {end})"
        );
    }
    let full = store.list_range(MAX, MAX, NOW).expect("list_range");
    assert_eq!(full.len(), 4);
    for e in &full {
        assert_eq!(e.position, ring(&e.entry.key.account));
        assert!(!e.entry.tombstone);
        assert_eq!(e.entry.expiry_ms, NOW + TTL);
    }
    assert!(matches!(
        store.list_range(0, 0, u64::MAX),
        Err(StoreError::ValueOutOfRange {
            field: "now_ms",
            ..
        })
    ));
}

#[test]
fn list_range_includes_tombstones_and_skips_expired() {
    let dir = tempfile::tempdir().expect("tempdir");
    let store = open(&dir);
    let a = account_at(100, 1);
    let b = account_at(200, 2);
    put(&store, msg_for(a, 0, 7, NOW + 10)).expect("store");
    put(&store, msg_for(a, 0, 3, NOW + TTL)).expect("store");
    put(&store, msg_for(b, 0, 1, NOW + TTL)).expect("store");
    // Same position and hash as a's message 7, other namespace: tombstone.
    assert_eq!(del(&store, a, 1, &[7], NOW), 0);
    // A short-lived tombstone.
    count(store.add_tombstones(vec![tomb(b, 0, 9, NOW + 10)])).expect("add");

    let got = store.list_range(0, 0, NOW).expect("list_range");
    assert_eq!(
        summary(&got),
        vec![
            (100, 3, false),
            (100, 7, false),
            (100, 7, true),
            (200, 1, false),
            (200, 9, true),
        ]
    );
    assert_eq!(
        (got[2].entry.key.namespace, got[2].entry.expiry_ms),
        (1, NOW + TTL)
    );
    // At NOW + 10 the short-lived message and tombstone are expired.
    let got = store.list_range(0, 0, NOW + 10).expect("list_range");
    assert_eq!(
        summary(&got),
        vec![(100, 3, false), (100, 7, true), (200, 1, false)]
    );
    // A sub-range.
    let got = store.list_range(150, 250, NOW + 10).expect("list_range");
    assert_eq!(summary(&got), vec![(200, 1, false)]);
}

#[test]
fn list_range_uses_position_indexes() {
    let dir = tempfile::tempdir().expect("tempdir");
    let cfg = config(dir.path());
    Store::open(cfg.clone()).expect("open").close();
    let raw = rusqlite::Connection::open(&cfg.path).expect("raw open");
    for (sql, index) in [
        (crate::store::LIST_MESSAGES, "messages_by_pos"),
        (crate::store::LIST_TOMBSTONES, "tombstones_by_pos"),
    ] {
        let plan: Vec<String> = raw
            .prepare(&format!("EXPLAIN QUERY PLAN {sql}"))
            .expect("prepare")
            .query_map(
                rusqlite::params![0i64, vec![0u8], vec![0u8], 0i64, 1i64, 2i64, 10i64],
                |r| r.get(3),
            )
            .expect("query")
            .map(|r| r.expect("row"))
            .collect();
        let plan = plan.join("; ");
        // A page seeks to its start and reads in index order: no scan, no sort.
        assert!(
            plan.contains("SEARCH")
                && plan.contains(index)
                && plan.contains("(pos,hash,account,namespace)>(?,?,?,?) AND pos<?"),
            "{sql}: {plan}"
        );
        assert!(!plan.contains("SCAN"), "{sql}: {plan}");
        assert!(!plan.contains("TEMP B-TREE"), "{sql}: {plan}");
    }
}

#[test]
fn fetch_returns_held_unexpired_only() {
    let dir = tempfile::tempdir().expect("tempdir");
    let store = open(&dir);
    let other = account_at(5, 5);
    put(&store, msg(1, b"one", NOW, NOW + TTL)).expect("store");
    put(&store, msg(2, b"short", NOW, NOW + 10)).expect("store");
    put(&store, msg_for(other, 4, 3, NOW + 2 * TTL)).expect("store");
    let keys = [
        key(other, 4, 3),
        key(ACCOUNT, 0, 2), // expired at NOW + 10
        key(ACCOUNT, 0, 9), // unknown
        key(ACCOUNT, 1, 1), // wrong namespace
        key(ACCOUNT, 0, 1),
        key(other, 4, 3), // repeated
    ];
    let got = store.fetch(&keys, NOW + 10).expect("fetch");
    assert_eq!(
        got,
        vec![
            (
                MessageHash::new([3; 32]),
                FullMessage {
                    mailbox: key(other, 4, 3).mailbox(),
                    data: vec![3; 3],
                    expiry_ms: NOW + 2 * TTL,
                },
            ),
            (
                MessageHash::new([1; 32]),
                FullMessage {
                    mailbox: key(ACCOUNT, 0, 1).mailbox(),
                    data: b"one".to_vec(),
                    expiry_ms: NOW + TTL,
                },
            ),
        ]
    );
    assert_eq!(store.fetch(&keys, NOW).expect("fetch").len(), 3);
    assert!(store.fetch(&[], NOW).expect("fetch").is_empty());
    // Tombstoned (deleted) messages are not held.
    assert_eq!(del(&store, ACCOUNT, 0, &[1], NOW), 1);
    assert!(
        store
            .fetch(&[key(ACCOUNT, 0, 1)], NOW)
            .expect("fetch")
            .is_empty()
    );
    // At most MAX_FETCH_KEYS keys per call.
    let many = vec![key(ACCOUNT, 0, 1); Store::MAX_FETCH_KEYS];
    assert!(store.fetch(&many, NOW).is_ok());
    let too_many = vec![key(ACCOUNT, 0, 1); Store::MAX_FETCH_KEYS + 1];
    assert!(matches!(
        store.fetch(&too_many, NOW),
        Err(StoreError::TooManyKeys {
            given: 1_001,
            max: 1_000
        })
    ));
}

#[test]
fn drop_range_removes_messages_and_tombstones_in_range_only() {
    const HALF: u64 = 1 << 63;
    let dir = tempfile::tempdir().expect("tempdir");
    let store = open(&dir);
    let accounts = [0, 1, HALF, u64::MAX].map(|p| account_at(p, 3));
    for (i, account) in accounts.iter().enumerate() {
        let tag = u8::try_from(i).expect("small");
        put(&store, msg_for(*account, 0, tag, NOW + TTL)).expect("store");
        put(&store, msg_for(*account, 1, tag, NOW + TTL)).expect("store");
        // And a tombstone for an unknown hash of each account.
        assert_eq!(del(&store, *account, 0, &[100 + tag], NOW), 0);
    }
    let before = store.stats().expect("stats");
    assert_eq!(
        (before.messages, before.accounts, before.tombstones),
        (8, 4, 4)
    );

    // Wrapping range: positions HALF, MAX and 0.
    let dropped = count(store.drop_range(HALF, 1)).expect("drop_range");
    assert_eq!(dropped, 6);
    let left = store.list_range(0, 0, NOW).expect("list_range");
    assert_eq!(
        summary(&left),
        vec![(1, 1, false), (1, 1, false), (1, 101, true)]
    );
    let stats = store.stats().expect("stats");
    assert_eq!(
        (
            stats.messages,
            stats.bytes,
            stats.accounts,
            stats.tombstones
        ),
        (2, 6, 1, 1)
    );
    // No tombstones were written, and the dropped ones are gone: the
    // messages can come back (e.g. if the accounts move back here).
    assert!(matches!(
        put(&store, msg_for(accounts[2], 0, 2, NOW + TTL)),
        Ok(StoreOutcome::Stored { .. })
    ));
    assert!(matches!(
        put(&store, msg_for(accounts[2], 0, 102, NOW + TTL)),
        Ok(StoreOutcome::Stored { .. })
    ));
    // An empty range drops nothing; the whole ring drops everything.
    assert_eq!(count(store.drop_range(2, HALF)).expect("count"), 0);
    assert_eq!(count(store.drop_range(5, 5)).expect("count"), 4);
    let stats = store.stats().expect("stats");
    assert_eq!(
        (
            stats.messages,
            stats.bytes,
            stats.accounts,
            stats.tombstones
        ),
        (0, 0, 0, 0)
    );
    assert!(store.list_range(0, 0, NOW).expect("list_range").is_empty());
}

#[test]
fn purge_removes_expired_tombstones() {
    let dir = tempfile::tempdir().expect("tempdir");
    let store = open(&dir);
    put(&store, msg(1, b"a", NOW, NOW + 10)).expect("store");
    put(&store, msg(2, b"b", NOW, NOW + 3 * TTL)).expect("store");
    assert_eq!(del(&store, ACCOUNT, 0, &[1, 2, 3], NOW), 2);
    count(store.add_tombstones(vec![tomb(ACCOUNT, 5, 4, NOW + 20)])).expect("add");
    put(&store, msg(6, b"c", NOW, NOW + 20)).expect("store");
    // Tombstones expire at NOW + 10 (1), NOW + 3 * TTL (2), NOW + TTL (3),
    // NOW + 20 (4).
    assert_eq!(store.stats().expect("stats").tombstones, 4);

    // Returns the messages removed; tombstones are removed too.
    assert_eq!(count(store.purge_expired(NOW + 20)).expect("count"), 1);
    let stats = store.stats().expect("stats");
    assert_eq!((stats.messages, stats.tombstones), (0, 2));
    let left = store.list_range(0, 0, NOW + 20).expect("list_range");
    assert_eq!(
        summary(&left),
        vec![(ring(&ACCOUNT), 2, true), (ring(&ACCOUNT), 3, true)]
    );

    assert_eq!(count(store.purge_expired(NOW + TTL)).expect("count"), 0);
    assert_eq!(store.stats().expect("stats").tombstones, 1);
    assert_eq!(count(store.purge_expired(NOW + 3 * TTL)).expect("count"), 0);
    assert_eq!(store.stats().expect("stats").tombstones, 0);
    assert!(store.list_range(0, 0, NOW).expect("list_range").is_empty());
}

#[test]
fn tombstone_cap_is_enforced() {
    let dir = tempfile::tempdir().expect("tempdir");
    let store = Store::open(StoreConfig {
        max_tombstones_per_account: 2,
        ..config(dir.path())
    })
    .expect("open");
    put(&store, msg(1, b"held", NOW, NOW + 10 * TTL)).expect("store");
    assert_eq!(del(&store, ACCOUNT, 0, &[8, 9], NOW), 0);
    // A third tombstone is over the cap: the whole delete fails and the
    // message is still there.
    assert!(matches!(
        count(store.delete(ACCOUNT, 0, vec![MessageHash::new([1; 32])], NOW, TTL)),
        Err(StoreError::QuotaExceeded {
            limit: "tombstones"
        })
    ));
    assert_eq!(all(&store, NOW).len(), 1);
    // Tombstones do not count toward the message quota, and re-deleting
    // already tombstoned hashes needs no new tombstone.
    assert_eq!(del(&store, ACCOUNT, 0, &[8], NOW), 0);
    let stats = store.stats().expect("stats");
    assert_eq!((stats.messages, stats.tombstones), (1, 2));
    // Replicated tombstones are capped too, all or nothing.
    assert!(matches!(
        count(store.add_tombstones(vec![
            tomb(AccountKey::new([9; 32]), 0, 1, NOW + TTL),
            tomb(ACCOUNT, 0, 1, NOW + TTL),
        ])),
        Err(StoreError::QuotaExceeded {
            limit: "tombstones"
        })
    ));
    assert_eq!(all(&store, NOW).len(), 1);
    // Other accounts are unaffected.
    assert_eq!(del(&store, AccountKey::new([9; 32]), 0, &[1, 2], NOW), 0);
    // Once the account's tombstones expired they make room (removed on
    // demand, without a purge).
    assert_eq!(del(&store, ACCOUNT, 0, &[1], NOW + TTL), 1);
    let stats = store.stats().expect("stats");
    assert_eq!((stats.messages, stats.tombstones), (0, 3));
}

/// The version-1 schema, as shipped.
const V1_SCHEMA: &str = "
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

/// `(account, namespace, hash byte, data, expiry_ms)` of a version-1 row.
type V1Row = (AccountKey, u16, u8, &'static [u8], u64);

/// Creates a version-1 database with messages of two accounts (one of them
/// expired) and one deleted row. Returns the two accounts.
fn create_v1(path: &Path) -> (AccountKey, AccountKey) {
    let a = account_at(0xAAAA_0000_0000_0001, 1);
    let b = account_at(0x0000_0000_0000_BBBB, 2);
    std::fs::create_dir_all(path.parent().expect("parent")).expect("mkdir");
    let raw = rusqlite::Connection::open(path).expect("raw open");
    raw.execute_batch(V1_SCHEMA).expect("v1 schema");
    let rows: [V1Row; 5] = [
        (a, 0, 1, b"a-one", NOW + TTL),
        (a, 0, 2, b"a-two", NOW + TTL),
        (b, 3, 1, b"b-one", NOW + TTL),
        (b, 3, 2, b"b-expired", NOW - 1),
        (b, 3, 3, b"b-deleted", NOW + TTL),
    ];
    for (account, namespace, hash, data, expiry) in rows {
        raw.execute(
            "INSERT INTO messages (account, namespace, hash, data, stored_at_ms, expiry_ms)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
            rusqlite::params![
                account.as_bytes(),
                namespace,
                [hash; 32],
                data,
                i64::try_from(NOW - 100).expect("fits"),
                i64::try_from(expiry).expect("fits")
            ],
        )
        .expect("insert");
    }
    raw.execute("DELETE FROM messages WHERE seq = 5", [])
        .expect("delete");
    raw.execute_batch(&format!(
        "INSERT INTO account_usage VALUES (x'{}', 2, 10), (x'{}', 2, 14);",
        hex(a.as_bytes()),
        hex(b.as_bytes())
    ))
    .expect("usage");
    (a, b)
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

fn user_version(path: &Path) -> i64 {
    rusqlite::Connection::open(path)
        .expect("raw open")
        .pragma_query_value(None, "user_version", |r| r.get(0))
        .expect("user_version")
}

#[test]
fn v1_database_is_migrated_with_positions() {
    let dir = tempfile::tempdir().expect("tempdir");
    let cfg = config(dir.path());
    let (a, b) = create_v1(&cfg.path);
    assert_eq!(user_version(&cfg.path), 1);

    let store = Store::open(cfg.clone()).expect("open migrates");
    assert_eq!(user_version(&cfg.path), 4);
    // Every live row is listed at its account's position.
    let entries = store.list_range(0, 0, NOW).expect("list_range");
    assert_eq!(
        summary(&entries),
        vec![
            (ring(&b), 1, false),
            (ring(&a), 1, false),
            (ring(&a), 2, false),
        ]
    );
    assert_eq!(
        positions(&store, 0xAAAA_0000_0000_0000, 0xAAAA_0000_0000_0002),
        vec![ring(&a); 2]
    );
    // The expired row got its position too (raw check of every row).
    {
        let raw = rusqlite::Connection::open(&cfg.path).expect("raw open");
        let mut stmt = raw
            .prepare("SELECT account, pos FROM messages")
            .expect("prepare");
        let rows: Vec<([u8; 32], i64)> = stmt
            .query_map([], |r| Ok((r.get(0)?, r.get(1)?)))
            .expect("query")
            .map(|r| r.expect("row"))
            .collect();
        assert_eq!(rows.len(), 4);
        for (account, pos) in rows {
            assert_eq!(
                crate::ring::pos_from_sql(pos),
                ring(&AccountKey::new(account))
            );
        }
    }
    // Old data and usage are intact.
    let got = store
        .retrieve(&a, 0, 0, NOW, 100, 1 << 20)
        .expect("retrieve");
    let seqs: Vec<u64> = got.iter().map(|m| m.seq).collect();
    assert_eq!(seqs, vec![1, 2]);
    assert_eq!(got[1].data, b"a-two");
    assert_eq!(got[1].stored_at_ms, NOW - 100);
    let stats = store.stats().expect("stats");
    assert_eq!(
        (
            stats.messages,
            stats.bytes,
            stats.accounts,
            stats.tombstones
        ),
        (4, 24, 2, 0)
    );
    // Sequence numbers are still never reused, new rows get positions, and
    // tombstones work.
    let new = put(&store, msg_for(b, 3, 9, NOW + TTL)).expect("store");
    assert_eq!(new, StoreOutcome::Stored { seq: 6 });
    assert_eq!(del(&store, a, 0, &[1], NOW), 1);
    assert_eq!(
        put(&store, msg_for(a, 0, 1, NOW + TTL)).expect("store"),
        StoreOutcome::Tombstoned
    );
    assert_eq!(
        summary(&store.list_range(0, 0, NOW).expect("list_range")),
        vec![
            (ring(&b), 1, false),
            (ring(&b), 9, false),
            (ring(&a), 1, true),
            (ring(&a), 2, false),
        ]
    );
    store.close();
    // Reopening a version-3 file does not migrate again.
    let store = Store::open(cfg.clone()).expect("reopen");
    assert_eq!(store.list_range(0, 0, NOW).expect("list_range").len(), 4);
    assert_eq!(user_version(&cfg.path), 4);
}

/// The version-2 schema, as shipped, after its `messages` table
/// ([`crate::MESSAGES_V3_DDL`], which version 3 kept unchanged): version
/// 1's `account_usage`, and tombstones.
const V2_SCHEMA_REST: &str = "
CREATE TABLE account_usage (
    account  BLOB    PRIMARY KEY NOT NULL,
    messages INTEGER NOT NULL,
    bytes    INTEGER NOT NULL
) WITHOUT ROWID;
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
PRAGMA user_version = 2;
";

/// The one-time prekey namespace (claimable).
const OTP: u16 = 0xff80;

/// Creates a version-2 database: account `a` with two messages in namespace
/// 0 and a tombstone, account `b` with a live and an expired record in the
/// claimable namespace, and a deleted row (so sequence numbers went up to
/// 5). Returns the two accounts.
fn create_v2(path: &Path) -> (AccountKey, AccountKey) {
    let a = account_at(0xAAAA_0000_0000_0001, 1);
    let b = account_at(0x0000_0000_0000_BBBB, 2);
    std::fs::create_dir_all(path.parent().expect("parent")).expect("mkdir");
    let raw = rusqlite::Connection::open(path).expect("raw open");
    raw.execute_batch(crate::MESSAGES_V3_DDL)
        .expect("v3 messages");
    raw.execute_batch(V2_SCHEMA_REST).expect("v2 schema");
    let rows: [V1Row; 5] = [
        (a, 0, 1, b"a-one", NOW + TTL),
        (a, 0, 2, b"a-two", NOW + TTL),
        (b, OTP, 1, b"b-one", NOW + TTL),
        (b, OTP, 2, b"b-expired", NOW - 1),
        (b, OTP, 3, b"b-deleted", NOW + TTL),
    ];
    for (account, namespace, hash, data, expiry) in rows {
        raw.execute(
            "INSERT INTO messages (account, namespace, hash, data, stored_at_ms, expiry_ms, pos)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
            rusqlite::params![
                account.as_bytes(),
                namespace,
                [hash; 32],
                data,
                i64::try_from(NOW - 100).expect("fits"),
                i64::try_from(expiry).expect("fits"),
                crate::ring::pos_to_sql(ring(&account)),
            ],
        )
        .expect("insert");
    }
    raw.execute("DELETE FROM messages WHERE seq = 5", [])
        .expect("delete");
    raw.execute(
        "INSERT INTO tombstones (account, namespace, hash, pos, expiry_ms)
         VALUES (?1, 0, ?2, ?3, ?4)",
        rusqlite::params![
            a.as_bytes(),
            [3u8; 32],
            crate::ring::pos_to_sql(ring(&a)),
            i64::try_from(NOW + TTL).expect("fits"),
        ],
    )
    .expect("tombstone");
    raw.execute_batch(&format!(
        "INSERT INTO account_usage VALUES (x'{a}', 2, 10), (x'{b}', 2, 14);
         INSERT INTO tombstone_usage VALUES (x'{a}', 1);",
        a = hex(a.as_bytes()),
        b = hex(b.as_bytes())
    ))
    .expect("usage");
    (a, b)
}

/// Every row of every table, in order (for "nothing was lost").
fn dump(path: &Path, tables: &[&str]) -> Vec<String> {
    let raw = rusqlite::Connection::open(path).expect("raw open");
    let mut out = Vec::new();
    for table in tables {
        let mut stmt = raw
            .prepare(&format!("SELECT * FROM {table} ORDER BY 1, 2"))
            .expect("prepare");
        let rows: Vec<String> = stmt
            .query_map([], |r| {
                let n = r.as_ref().column_count();
                let cells: Vec<String> = (0..n)
                    .map(|i| format!("{:?}", r.get_ref(i).expect("cell")))
                    .collect();
                Ok(format!("{table}: {}", cells.join(",")))
            })
            .expect("query")
            .map(|r| r.expect("row"))
            .collect();
        out.extend(rows);
    }
    out
}

const V2_TABLES: &[&str] = &[
    "messages",
    "account_usage",
    "tombstones",
    "tombstone_usage",
    "sqlite_sequence",
];

#[test]
fn v2_database_is_migrated_to_claims_losing_nothing() {
    let dir = tempfile::tempdir().expect("tempdir");
    let cfg = config(dir.path());
    let (a, b) = create_v2(&cfg.path);
    let before = dump(&cfg.path, V2_TABLES);
    assert_eq!(before.len(), 4 + 2 + 1 + 1 + 1);

    let store = Store::open(cfg.clone()).expect("open migrates");
    assert_eq!(user_version(&cfg.path), 4);
    store.close();
    // Every row of every version-2 table is still there, unchanged.
    assert_eq!(dump(&cfg.path, V2_TABLES), before);

    let store = Store::open(cfg.clone()).expect("reopen");
    assert_eq!(user_version(&cfg.path), 4);
    let stats = store.stats().expect("stats");
    assert_eq!(
        (
            stats.messages,
            stats.bytes,
            stats.accounts,
            stats.tombstones,
            stats.claims
        ),
        (4, 24, 2, 1, 0)
    );
    let records = store
        .retrieve(&b, OTP, 0, NOW, 100, 1 << 20)
        .expect("retrieve");
    assert_eq!(records.len(), 1);
    assert_eq!((records[0].seq, &records[0].data[..]), (3, &b"b-one"[..]));
    assert_eq!(
        put(&store, msg_for(a, 0, 3, NOW + TTL)).expect("store"),
        StoreOutcome::Tombstoned
    );
    // Sequence numbers are never reused, and claims work.
    assert_eq!(
        put(&store, msg_for(b, OTP, 9, NOW + TTL)).expect("store"),
        StoreOutcome::Stored { seq: 6 }
    );
    let claim = |hash: u8, claimant: u8| {
        store
            .claim(crate::NewClaim {
                key: MessageKey {
                    account: b,
                    namespace: OTP,
                    hash: MessageHash::new([hash; 32]),
                },
                claimant: crate::Claimant::new([claimant; 16]),
                now_ms: NOW,
                ttl_ms: TTL,
            })
            .blocking_recv()
            .expect("writer answered")
            .expect("claim")
    };
    assert_eq!(
        claim(1, 7),
        crate::ClaimOutcome::Granted {
            data: Some(b"b-one".to_vec())
        }
    );
    assert_eq!(claim(1, 8), crate::ClaimOutcome::Refused);
    let records = store
        .retrieve(&b, OTP, 0, NOW, 100, 1 << 20)
        .expect("retrieve");
    assert_eq!(records.iter().map(|m| m.seq).collect::<Vec<_>>(), vec![6]);
    assert_eq!(store.stats().expect("stats").claims, 1);
}

#[test]
fn failed_migration_leaves_version_2() {
    let dir = tempfile::tempdir().expect("tempdir");
    let cfg = config(dir.path());
    create_v2(&cfg.path);
    let before = dump(&cfg.path, V2_TABLES);
    {
        // A conflicting object makes the last migration step fail.
        let raw = rusqlite::Connection::open(&cfg.path).expect("raw open");
        raw.execute_batch("CREATE TABLE claim_usage (x)")
            .expect("create");
    }
    assert!(matches!(
        Store::open(cfg.clone()),
        Err(StoreError::Sqlite { .. })
    ));
    assert_eq!(user_version(&cfg.path), 2);
    assert_eq!(dump(&cfg.path, V2_TABLES), before);
    let raw = rusqlite::Connection::open(&cfg.path).expect("raw open");
    let claims: i64 = raw
        .query_row(
            "SELECT count(*) FROM sqlite_schema WHERE name = 'claims'",
            [],
            |r| r.get(0),
        )
        .expect("query");
    assert_eq!(claims, 0);
}

/// `(type, name, table)` of every schema object, then each table's and
/// index's columns.
fn schema_shape(path: &Path) -> Vec<String> {
    let raw = rusqlite::Connection::open(path).expect("raw open");
    let objects: Vec<(String, String, String)> = raw
        .prepare(
            "SELECT type, name, tbl_name FROM sqlite_schema
             WHERE name NOT LIKE 'sqlite_%' ORDER BY name",
        )
        .expect("prepare")
        .query_map([], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)))
        .expect("query")
        .map(|r| r.expect("row"))
        .collect();
    let mut shape = Vec::new();
    for (kind, name, table) in objects {
        let pragma = if kind == "table" {
            "pragma_table_info"
        } else {
            "pragma_index_xinfo"
        };
        let columns: Vec<String> = raw
            .prepare(&format!("SELECT * FROM {pragma}(?1)"))
            .expect("prepare")
            .query_map([&name], |r| {
                let n = r.as_ref().column_count();
                let cells: Vec<String> = (0..n)
                    .map(|i| format!("{:?}", r.get_ref(i).expect("cell")))
                    .collect();
                Ok(cells.join(","))
            })
            .expect("query")
            .map(|r| r.expect("row"))
            .collect();
        shape.push(format!("{kind} {name} on {table}: {}", columns.join(" | ")));
    }
    shape
}

#[test]
fn migrated_schema_matches_fresh_schema() {
    let fresh = tempfile::tempdir().expect("tempdir");
    let fresh_cfg = config(fresh.path());
    Store::open(fresh_cfg.clone()).expect("open").close();

    let fresh_shape = schema_shape(&fresh_cfg.path);
    for object in [
        "table tombstones ",
        "index messages_by_pos ",
        "table claims ",
        "index claims_by_expiry ",
        "table claim_usage ",
    ] {
        assert!(
            fresh_shape.iter().any(|s| s.starts_with(object)),
            "{object}"
        );
    }
    for create in [create_v1, create_v2, create_v3] {
        let migrated = tempfile::tempdir().expect("tempdir");
        let migrated_cfg = config(migrated.path());
        create(&migrated_cfg.path);
        Store::open(migrated_cfg.clone()).expect("open").close();
        assert_eq!(fresh_shape, schema_shape(&migrated_cfg.path));
    }
}

/// What version 3 added to version 2 (the claims tables), as version 3
/// created it.
const V3_ADDITIONS: &str = "
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
PRAGMA user_version = 3;
";

/// Creates a version-3 database with the old DDL (`messages` with its
/// `UNIQUE (account, namespace, hash)`): [`create_v2`]'s rows, then the
/// claims tables with one claim of `b`'s record 1. Returns the accounts.
fn create_v3(path: &Path) -> (AccountKey, AccountKey) {
    let (a, b) = create_v2(path);
    let raw = rusqlite::Connection::open(path).expect("raw open");
    raw.execute_batch(V3_ADDITIONS).expect("v3 additions");
    raw.execute(
        "INSERT INTO claims (account, namespace, hash, claimant, pos, expiry_ms)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
        rusqlite::params![
            b.as_bytes(),
            OTP,
            [1u8; 32],
            [7u8; 16],
            crate::ring::pos_to_sql(ring(&b)),
            i64::try_from(NOW + TTL).expect("fits"),
        ],
    )
    .expect("claim");
    raw.execute_batch(&format!(
        "INSERT INTO claim_usage VALUES (x'{b}', 1);",
        b = hex(b.as_bytes())
    ))
    .expect("claim usage");
    (a, b)
}

const V3_TABLES: &[&str] = &[
    "messages",
    "account_usage",
    "tombstones",
    "tombstone_usage",
    "claims",
    "claim_usage",
    "sqlite_sequence",
];

/// Names of the indexes on `messages`, SQLite's own included.
fn message_indexes(path: &Path) -> Vec<String> {
    let raw = rusqlite::Connection::open(path).expect("raw open");
    raw.prepare("SELECT name FROM pragma_index_list('messages') ORDER BY name")
        .expect("prepare")
        .query_map([], |r| r.get(0))
        .expect("query")
        .map(|r| r.expect("row"))
        .collect()
}

#[test]
fn v3_database_is_migrated_to_one_key_index_losing_nothing() {
    let dir = tempfile::tempdir().expect("tempdir");
    let cfg = config(dir.path());
    let (a, b) = create_v3(&cfg.path);
    let before = dump(&cfg.path, V3_TABLES);
    assert_eq!(before.len(), 4 + 2 + 1 + 1 + 1 + 1 + 1);
    assert_eq!(
        message_indexes(&cfg.path),
        [
            "messages_by_cursor",
            "messages_by_expiry",
            "messages_by_pos",
            "sqlite_autoindex_messages_1"
        ]
    );

    let store = Store::open(cfg.clone()).expect("open migrates");
    assert_eq!(user_version(&cfg.path), 4);
    store.close();
    // Every row of every table (with its seq, and the AUTOINCREMENT mark
    // of 5 although the largest seq left is 4) is still there, unchanged.
    assert_eq!(dump(&cfg.path, V3_TABLES), before);
    assert_eq!(
        message_indexes(&cfg.path),
        [
            "messages_by_cursor",
            "messages_by_expiry",
            "messages_by_pos"
        ]
    );

    let store = Store::open(cfg.clone()).expect("reopen");
    assert_eq!(user_version(&cfg.path), 4);
    // A key is still held once: the same message again is a duplicate,
    // and the tombstone still refuses its message.
    assert_eq!(
        put(&store, msg_for(a, 0, 1, NOW + 2 * TTL)).expect("store"),
        StoreOutcome::AlreadyStored { seq: 1 }
    );
    assert_eq!(
        put(&store, msg_for(a, 0, 3, NOW + TTL)).expect("store"),
        StoreOutcome::Tombstoned
    );
    // The expired copy is replaced under a new seq, past the old mark.
    assert_eq!(
        put(&store, msg_for(b, OTP, 2, NOW + TTL)).expect("store"),
        StoreOutcome::Stored { seq: 6 }
    );
    assert_eq!(
        put(&store, msg_for(b, OTP, 9, NOW + TTL)).expect("store"),
        StoreOutcome::Stored { seq: 7 }
    );
    let keys = [key(a, 0, 1), key(a, 0, 2), key(b, OTP, 1)];
    let fetched = store.fetch(&keys, NOW).expect("fetch");
    assert_eq!(fetched.len(), 3);
    assert_eq!(del(&store, a, 0, &[2], NOW), 1);
    assert!(store.fetch(&[key(a, 0, 2)], NOW).expect("fetch").is_empty());
    let raw = rusqlite::Connection::open(&cfg.path).expect("raw open");
    let keys_held_twice: i64 = raw
        .query_row(
            "SELECT count(*) FROM (SELECT 1 FROM messages
             GROUP BY account, namespace, hash HAVING count(*) > 1)",
            [],
            |r| r.get(0),
        )
        .expect("query");
    assert_eq!(keys_held_twice, 0);
    drop(raw);
    store.close();
    assert_usage_exact(&dir);
}

/// The SQL SQLite keeps for the `messages` table.
fn messages_sql(path: &Path) -> String {
    rusqlite::Connection::open(path)
        .expect("raw open")
        .query_row(
            "SELECT sql FROM sqlite_schema WHERE type = 'table' AND name = 'messages'",
            [],
            |r| r.get(0),
        )
        .expect("messages sql")
}

#[test]
fn a_fresh_database_is_created_at_version_4_without_migrating() {
    let fresh = tempfile::tempdir().expect("tempdir");
    let fresh_cfg = config(fresh.path());
    Store::open(fresh_cfg.clone()).expect("open").close();
    assert_eq!(user_version(&fresh_cfg.path), 4);
    // Created under its own name, with no UNIQUE key: not the migration's
    // `messages_v4` renamed (SQLite records a renamed table as `"messages"`,
    // as the migrated file below shows).
    let sql = messages_sql(&fresh_cfg.path);
    assert!(sql.starts_with("CREATE TABLE messages ("), "{sql}");
    assert!(!sql.contains("UNIQUE"), "{sql}");
    assert_eq!(
        message_indexes(&fresh_cfg.path),
        [
            "messages_by_cursor",
            "messages_by_expiry",
            "messages_by_pos"
        ]
    );

    let migrated = tempfile::tempdir().expect("tempdir");
    let migrated_cfg = config(migrated.path());
    create_v3(&migrated_cfg.path);
    assert!(messages_sql(&migrated_cfg.path).contains("UNIQUE (account, namespace, hash)"));
    Store::open(migrated_cfg.clone()).expect("open").close();
    let sql = messages_sql(&migrated_cfg.path);
    assert!(sql.starts_with("CREATE TABLE \"messages\" ("), "{sql}");
    assert!(!sql.contains("UNIQUE"), "{sql}");
}

#[test]
fn failed_migration_leaves_version_3() {
    let dir = tempfile::tempdir().expect("tempdir");
    let cfg = config(dir.path());
    create_v3(&cfg.path);
    let before = dump(&cfg.path, V3_TABLES);
    {
        // A conflicting object makes the rebuild fail.
        let raw = rusqlite::Connection::open(&cfg.path).expect("raw open");
        raw.execute_batch("CREATE TABLE messages_v4 (x)")
            .expect("create");
    }
    assert!(matches!(
        Store::open(cfg.clone()),
        Err(StoreError::Sqlite { .. })
    ));
    assert_eq!(user_version(&cfg.path), 3);
    assert_eq!(dump(&cfg.path, V3_TABLES), before);
    assert!(message_indexes(&cfg.path).contains(&"sqlite_autoindex_messages_1".to_owned()));
}

#[test]
fn key_lookups_seek_the_position_index() {
    let dir = tempfile::tempdir().expect("tempdir");
    let raw = fresh_schema(&dir);
    for sql in [
        crate::writer::sql::FIND_MESSAGE,
        crate::writer::sql::INSERT_UNLESS_HELD_OR_TOMBSTONED,
    ] {
        let plan = query_plan(&raw, sql);
        assert!(
            plan.contains("messages USING COVERING INDEX messages_by_pos (pos=? AND hash=? AND account=? AND namespace=?)")
                || plan.contains("messages USING INDEX messages_by_pos (pos=? AND hash=? AND account=? AND namespace=?)"),
            "{sql}: {plan}"
        );
        assert!(!plan.contains("SCAN messages"), "{sql}: {plan}");
        assert!(!plan.contains("SCAN tombstones"), "{sql}: {plan}");
    }
}

#[test]
fn failed_migration_leaves_version_1() {
    let dir = tempfile::tempdir().expect("tempdir");
    let cfg = config(dir.path());
    create_v1(&cfg.path);
    {
        // A conflicting object makes the last migration step fail.
        let raw = rusqlite::Connection::open(&cfg.path).expect("raw open");
        raw.execute_batch("CREATE TABLE tombstone_usage (x)")
            .expect("create");
    }
    assert!(matches!(
        Store::open(cfg.clone()),
        Err(StoreError::Sqlite { .. })
    ));
    assert_eq!(user_version(&cfg.path), 1);
    let raw = rusqlite::Connection::open(&cfg.path).expect("raw open");
    let has_pos: i64 = raw
        .query_row(
            "SELECT count(*) FROM pragma_table_info('messages') WHERE name = 'pos'",
            [],
            |r| r.get(0),
        )
        .expect("query");
    assert_eq!(has_pos, 0);
}

#[test]
fn sqlite_full_and_enospc_are_disk_full() {
    let full = rusqlite::Error::SqliteFailure(
        rusqlite::ffi::Error::new(rusqlite::ffi::SQLITE_FULL),
        Some("database or disk is full".to_owned()),
    );
    assert!(matches!(
        StoreError::sqlite("commit", full),
        StoreError::DiskFull { op: "commit" }
    ));
    let enospc = std::io::Error::from(std::io::ErrorKind::StorageFull);
    assert!(matches!(
        StoreError::from_io("create parent directory", enospc),
        StoreError::DiskFull {
            op: "create parent directory"
        }
    ));
    #[cfg(target_os = "linux")]
    assert!(matches!(
        StoreError::io("spawn writer thread")(std::io::Error::from_raw_os_error(28)),
        StoreError::DiskFull { .. }
    ));
    // Other errors keep their variants.
    let busy = rusqlite::Error::SqliteFailure(
        rusqlite::ffi::Error::new(rusqlite::ffi::SQLITE_IOERR),
        None,
    );
    assert!(matches!(
        StoreError::sqlite("commit", busy),
        StoreError::Sqlite { op: "commit", .. }
    ));
    assert!(matches!(
        StoreError::from_io(
            "x",
            std::io::Error::from(std::io::ErrorKind::PermissionDenied)
        ),
        StoreError::Io { op: "x", .. }
    ));
    assert_eq!(
        StoreError::DiskFull { op: "commit" }.to_string(),
        "disk full during commit"
    );
}

/// A store whose database cannot grow past its current size plus
/// `extra_pages` pages: SQLite then answers `SQLITE_FULL`, as on a full disk.
fn open_capped(dir: &tempfile::TempDir, extra_pages: i64) -> Store {
    Store::open_with(config(dir.path()), |conn| {
        let pages: i64 = conn
            .pragma_query_value(None, "page_count", |r| r.get(0))
            .map_err(StoreError::sql("page_count"))?;
        conn.pragma_update(None, "max_page_count", pages + extra_pages)
            .map_err(StoreError::sql("max_page_count"))
    })
    .expect("open capped store")
}

/// Stores 4 KiB messages (hash bytes from `first`) until one fails; returns
/// how many were stored and the error.
fn fill(store: &Store, first: u8, expiry_ms: u64) -> (usize, StoreError) {
    for i in 0..=u8::MAX - first {
        match put(store, msg(first + i, &[i; 4096], NOW, expiry_ms)) {
            Ok(StoreOutcome::Stored { .. }) => {}
            Ok(other) => panic!("unexpected outcome {other:?}"),
            Err(e) => return (usize::from(i), e),
        }
    }
    panic!("the capped database never filled up");
}

#[test]
fn full_database_is_disk_full_reads_work_and_writes_resume_after_space_is_freed() {
    let dir = tempfile::tempdir().expect("tempdir");
    let store = open_capped(&dir, 40);
    // Messages that expire early fill most of the space...
    let (early, err) = fill(&store, 0, NOW + 1_000);
    assert!(early > 0, "nothing fit before the cap");
    assert!(
        matches!(err, StoreError::DiskFull { .. }),
        "expected DiskFull, got {err:?}"
    );

    // The writer survived: further writes get an answer (still full).
    for _ in 0..3 {
        let err = put(&store, msg(200, &[1; 4096], NOW, NOW + 60_000)).expect_err("still full");
        assert!(matches!(err, StoreError::DiskFull { .. }), "got {err:?}");
    }
    // Concurrent writes in one batch are all answered, none hangs.
    let rxs: Vec<_> = (0..8u8)
        .map(|i| store.store(msg(210 + i, &[i; 4096], NOW, NOW + 60_000)))
        .collect();
    for rx in rxs {
        let answer = rx.blocking_recv().expect("writer answered");
        assert!(
            matches!(answer, Err(StoreError::DiskFull { .. })),
            "got {answer:?}"
        );
    }

    // Reads keep working and see exactly what was acknowledged.
    let held = all(&store, NOW + 1);
    assert_eq!(held.len(), early);
    assert_eq!(
        store.stats().expect("stats").messages,
        u64::try_from(early).expect("fits")
    );

    // Freeing space (purging the expired messages) lets writes resume.
    let purged = count(store.purge_expired(NOW + 1_000)).expect("purge on a full database");
    assert_eq!(purged, u64::try_from(early).expect("fits"));
    let out = put(&store, msg(250, b"after", NOW + 1_000, NOW + 60_000)).expect("store resumes");
    assert!(matches!(out, StoreOutcome::Stored { .. }));
    assert_eq!(all(&store, NOW + 1_001).len(), 1);
    store.close();

    // Nothing was damaged.
    let conn =
        rusqlite::Connection::open(dir.path().join("node").join("messages.sqlite")).expect("open");
    let check: String = conn
        .query_row("PRAGMA integrity_check", [], |r| r.get(0))
        .expect("integrity_check");
    assert_eq!(check, "ok");
}

#[test]
fn disk_full_in_a_batch_fails_only_what_did_not_fit() {
    let dir = tempfile::tempdir().expect("tempdir");
    let store = open_capped(&dir, 40);
    // Small and large writes queued together: every one gets an answer,
    // small ones may succeed, and every failure is DiskFull.
    let rxs: Vec<_> = (0..64u8)
        .map(|i| {
            let data = if i % 2 == 0 {
                vec![i; 16]
            } else {
                vec![i; 8192]
            };
            store.store(msg(i, &data, NOW, NOW + 60_000))
        })
        .collect();
    let mut stored = 0usize;
    let mut full = 0usize;
    for rx in rxs {
        match rx.blocking_recv().expect("writer answered") {
            Ok(StoreOutcome::Stored { .. }) => stored += 1,
            Err(StoreError::DiskFull { .. }) => full += 1,
            other => panic!("unexpected answer {other:?}"),
        }
    }
    assert!(full > 0, "the cap was never reached");
    // What was acknowledged is exactly what is held.
    assert_eq!(all(&store, NOW + 1).len(), stored);
    // The writer is alive: a small write may still fit, and never hangs.
    let answer = put(&store, msg(100, b"x", NOW, NOW + 60_000));
    assert!(
        matches!(
            answer,
            Ok(StoreOutcome::Stored { .. }) | Err(StoreError::DiskFull { .. })
        ),
        "got {answer:?}"
    );
}

// ---- Purge cost, quotas and usage counters ----

/// The plan SQLite chooses for `sql` (its `?` parameters bound to small
/// integers), one `detail` per row, joined with "; ".
fn query_plan(conn: &rusqlite::Connection, sql: &str) -> String {
    let mut stmt = conn
        .prepare(&format!("EXPLAIN QUERY PLAN {sql}"))
        .expect("prepare");
    let params: Vec<i64> = (0..stmt.parameter_count())
        .map(|i| i64::try_from(i).expect("small"))
        .collect();
    let plan: Vec<String> = stmt
        .query_map(rusqlite::params_from_iter(params), |r| r.get(3))
        .expect("query")
        .map(|r| r.expect("row"))
        .collect();
    plan.join("; ")
}

/// A raw connection to a fresh store's database (closed store).
fn fresh_schema(dir: &tempfile::TempDir) -> rusqlite::Connection {
    let cfg = config(dir.path());
    Store::open(cfg.clone()).expect("open").close();
    rusqlite::Connection::open(&cfg.path).expect("raw open")
}

/// Asserts that `account_usage` and `tombstone_usage` hold exactly the
/// counts of the rows in `messages` and `tombstones`.
fn assert_usage_exact(dir: &tempfile::TempDir) {
    let raw = rusqlite::Connection::open(config(dir.path()).path).expect("raw open");
    let rows = |sql: &str| -> Vec<(Vec<u8>, i64, i64)> {
        raw.prepare(sql)
            .expect("prepare")
            .query_map([], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)))
            .expect("query")
            .map(|r| r.expect("row"))
            .collect()
    };
    assert_eq!(
        rows("SELECT account, messages, bytes FROM account_usage ORDER BY account"),
        rows(
            "SELECT account, count(*), sum(length(data)) FROM messages
             GROUP BY account ORDER BY account"
        ),
        "account_usage"
    );
    assert_eq!(
        rows("SELECT account, tombstones, 0 FROM tombstone_usage ORDER BY account"),
        rows("SELECT account, count(*), 0 FROM tombstones GROUP BY account ORDER BY account"),
        "tombstone_usage"
    );
    assert_eq!(
        rows("SELECT account, claims, 0 FROM claim_usage ORDER BY account"),
        rows("SELECT account, count(*), 0 FROM claims GROUP BY account ORDER BY account"),
        "claim_usage"
    );
}

#[test]
fn a_retrieve_of_a_claimable_namespace_checks_claims_by_key() {
    let dir = tempfile::tempdir().expect("tempdir");
    let raw = fresh_schema(&dir);
    let plan = query_plan(&raw, crate::store::RETRIEVE_UNCLAIMED);
    assert!(
        plan.contains("SEARCH messages USING INDEX messages_by_cursor"),
        "{plan}"
    );
    assert!(plan.contains("SEARCH claims USING PRIMARY KEY"), "{plan}");
    assert!(!plan.contains("SCAN"), "{plan}");
}

#[test]
fn purge_queries_use_expiry_indexes() {
    let dir = tempfile::tempdir().expect("tempdir");
    let raw = fresh_schema(&dir);
    for (sql, index, table) in [
        (
            crate::writer::sql::PURGE_MESSAGES,
            "COVERING INDEX messages_by_expiry (expiry_ms<?)",
            "messages",
        ),
        (
            crate::writer::sql::PURGE_TOMBSTONES,
            "COVERING INDEX tombstones_by_expiry (expiry_ms<?)",
            "tombstones",
        ),
        (
            crate::writer::sql::PURGE_CLAIMS,
            "COVERING INDEX claims_by_expiry (expiry_ms<?)",
            "claims",
        ),
    ] {
        let plan = query_plan(&raw, sql);
        assert!(plan.contains(index), "{sql}: {plan}");
        assert!(!plan.contains(&format!("SCAN {table}")), "{sql}: {plan}");
        // The rows found are then deleted by key, not by a scan.
        assert!(
            plan.contains(&format!("SEARCH {table} USING INTEGER PRIMARY KEY"))
                || plan.contains(&format!("SEARCH {table} USING PRIMARY KEY")),
            "{sql}: {plan}"
        );
    }
}

#[test]
fn purge_account_query_reads_only_the_position_index() {
    let dir = tempfile::tempdir().expect("tempdir");
    let raw = fresh_schema(&dir);
    let sql = crate::writer::sql::ACCOUNT_EXPIRIES;
    let plan = query_plan(&raw, sql);
    assert!(
        plan.contains("SEARCH messages USING COVERING INDEX messages_by_pos (pos=?)"),
        "{sql}: {plan}"
    );
    assert!(!plan.contains("SCAN"), "{sql}: {plan}");
}

#[test]
fn drop_range_queries_use_position_indexes() {
    let dir = tempfile::tempdir().expect("tempdir");
    let raw = fresh_schema(&dir);
    for (sql, index, table) in [
        (
            crate::writer::sql::DROP_RANGE_MESSAGE_USAGE,
            "messages_by_pos (pos>? AND pos<?)",
            "messages",
        ),
        (
            crate::writer::sql::DROP_RANGE_MESSAGES,
            "messages_by_pos (pos>? AND pos<?)",
            "messages",
        ),
        (
            crate::writer::sql::DROP_RANGE_TOMBSTONE_USAGE,
            "tombstones_by_pos (pos>? AND pos<?)",
            "tombstones",
        ),
        (
            crate::writer::sql::DROP_RANGE_TOMBSTONES,
            "tombstones_by_pos (pos>? AND pos<?)",
            "tombstones",
        ),
        (
            crate::writer::sql::DROP_RANGE_CLAIM_USAGE,
            "claims_by_pos (pos>? AND pos<?)",
            "claims",
        ),
        (
            crate::writer::sql::DROP_RANGE_CLAIMS,
            "claims_by_pos (pos>? AND pos<?)",
            "claims",
        ),
    ] {
        let plan = query_plan(&raw, sql);
        assert!(
            plan.contains(&format!("SEARCH {table}")) && plan.contains(index),
            "{sql}: {plan}"
        );
        assert!(!plan.contains(&format!("SCAN {table}")), "{sql}: {plan}");
    }
}

#[test]
fn large_purge_runs_in_chunks_and_keeps_usage_exact() {
    let dir = tempfile::tempdir().expect("tempdir");
    let store = Store::open_tuned(config(dir.path()), |_| Ok(()), 3).expect("open");
    let (a, b) = (account_at(1, 1), account_at(2, 2));
    // 7 expired messages over two accounts, 2 live ones.
    for hash in 0..4 {
        put(&store, msg_for(a, 0, hash, NOW + 10)).expect("store");
    }
    for hash in 0..3 {
        put(&store, msg_for(b, 1, hash, NOW + 10 + u64::from(hash))).expect("store");
    }
    put(&store, msg_for(a, 0, 50, NOW + TTL)).expect("store");
    put(&store, msg_for(b, 0, 51, NOW + TTL)).expect("store");
    // 5 tombstones expiring by NOW + 20, 1 later.
    assert_eq!(del(&store, a, 2, &[60, 61, 62], NOW - TTL + 20), 0);
    count(store.add_tombstones(vec![
        tomb(b, 0, 63, NOW + 15),
        tomb(b, 0, 64, NOW + 20),
        tomb(b, 0, 65, NOW + 21),
    ]))
    .expect("add");
    assert_usage_exact(&dir);
    let before = store.stats().expect("stats");
    assert_eq!((before.messages, before.tombstones), (9, 6));

    assert_eq!(count(store.purge_expired(NOW + 20)).expect("purge"), 7);
    let after = store.stats().expect("stats");
    assert_eq!(
        (
            after.messages,
            after.bytes,
            after.accounts,
            after.tombstones
        ),
        (2, 6, 2, 1)
    );
    // Chunks of 3: messages 3 + 3 + 1 (then 3 tombstones), 2 tombstones;
    // each step is its own commit.
    assert_eq!(after.commits - before.commits, 4);
    assert_usage_exact(&dir);
    let left = store.list_range(0, 0, NOW + 20).expect("list_range");
    assert_eq!(
        summary(&left),
        vec![(1, 50, false), (2, 51, false), (2, 65, true)]
    );

    // A purge with writes queued behind it: everything is answered, and
    // the counters stay exact.
    for hash in 100..110 {
        put(&store, msg_for(a, 3, hash, NOW + 30)).expect("store");
    }
    let purge = store.purge_expired(NOW + 30);
    let stores: Vec<_> = (110..120)
        .map(|hash| store.store(msg_for(b, 3, hash, NOW + TTL)))
        .collect();
    for rx in stores {
        assert!(matches!(
            rx.blocking_recv().expect("answer"),
            Ok(StoreOutcome::Stored { .. })
        ));
    }
    assert_eq!(count(purge).expect("purge"), 10);
    assert_eq!(store.stats().expect("stats").messages, 12);
    assert_usage_exact(&dir);
}

#[test]
fn purge_removes_expired_claims_in_chunks_after_tombstones() {
    let dir = tempfile::tempdir().expect("tempdir");
    let store = Store::open_tuned(config(dir.path()), |_| Ok(()), 3).expect("open");
    let (a, b) = (account_at(1, 1), account_at(2, 2));
    let claim = |account: AccountKey, hash: u8, ttl_ms: u64| {
        store
            .claim(crate::NewClaim {
                key: MessageKey {
                    account,
                    namespace: OTP,
                    hash: MessageHash::new([hash; 32]),
                },
                claimant: crate::Claimant::new([1; 16]),
                now_ms: NOW,
                ttl_ms,
            })
            .blocking_recv()
            .expect("writer answered")
            .expect("claim")
    };
    // 4 claims expiring by NOW + 20 over two accounts, 1 later; 1 expired
    // message.
    for hash in 0..3 {
        claim(a, hash, 10 + u64::from(hash));
    }
    claim(b, 0, 20);
    claim(b, 1, TTL);
    put(&store, msg_for(a, 0, 9, NOW + 10)).expect("store");
    assert_usage_exact(&dir);
    let before = store.stats().expect("stats");
    assert_eq!((before.messages, before.claims), (1, 5));
    assert_eq!(count(store.purge_expired(NOW + 20)).expect("purge"), 1);
    let after = store.stats().expect("stats");
    assert_eq!((after.messages, after.claims, after.accounts), (0, 1, 0));
    // Chunks of 3: 1 message, no tombstone, 3 claims; then 1 claim.
    assert_eq!(after.commits - before.commits, 2);
    assert_usage_exact(&dir);
    // The claim left is still in force.
    assert_eq!(
        store
            .claim(crate::NewClaim {
                key: MessageKey {
                    account: b,
                    namespace: OTP,
                    hash: MessageHash::new([1; 32]),
                },
                claimant: crate::Claimant::new([2; 16]),
                now_ms: NOW + 20,
                ttl_ms: TTL,
            })
            .blocking_recv()
            .expect("writer answered")
            .expect("claim"),
        crate::ClaimOutcome::Refused
    );
}

#[test]
fn store_at_quota_keeps_usage_exact_and_purges_only_what_expired() {
    let dir = tempfile::tempdir().expect("tempdir");
    let store = Store::open(StoreConfig {
        max_messages_per_account: 3,
        ..config(dir.path())
    })
    .expect("open");
    let refused = |m: NewMessage| match put(&store, m) {
        Err(StoreError::QuotaExceeded { limit }) => assert_eq!(limit, "messages"),
        other => panic!("expected quota error, got {other:?}"),
    };
    let at = |hash: u8, now_ms: u64, expiry_ms: u64| msg(hash, &[hash; 2], now_ms, expiry_ms);
    put(&store, at(1, NOW, NOW + 100)).expect("store");
    put(&store, at(2, NOW, NOW + 1_000)).expect("store");
    put(&store, at(3, NOW, NOW + 1_000)).expect("store");
    // Full, nothing expired: refused, nothing changes (the second time
    // the writer knows nothing can have expired before NOW + 100).
    refused(at(4, NOW + 1, NOW + 1_000));
    refused(at(5, NOW + 99, NOW + 1_000));
    assert_usage_exact(&dir);
    assert_eq!(all(&store, NOW).len(), 3);
    // A deleted message stays deleted, full or not.
    assert_eq!(del(&store, ACCOUNT, 0, &[3], NOW + 99), 1);
    put(&store, at(6, NOW + 99, NOW + 1_000)).expect("room after delete");
    assert_eq!(
        put(&store, at(3, NOW + 99, NOW + 1_000)).expect("store"),
        StoreOutcome::Tombstoned
    );
    // A live duplicate of a held message is accepted at the quota.
    assert!(matches!(
        put(&store, at(2, NOW + 99, NOW + 1_000)),
        Ok(StoreOutcome::AlreadyStored { .. })
    ));
    // Message 1 expires at NOW + 100: then it makes room.
    put(&store, at(7, NOW + 100, NOW + 150)).expect("expired one purged on demand");
    let hashes: Vec<u8> = all(&store, NOW + 100)
        .iter()
        .map(|m| m.hash.as_bytes()[0])
        .collect();
    assert_eq!(hashes, vec![2, 6, 7]);
    assert_usage_exact(&dir);
    // Message 7, stored after that purge, expires first: it makes room
    // at NOW + 150.
    refused(at(8, NOW + 149, NOW + 1_000));
    put(&store, at(8, NOW + 150, NOW + 1_000)).expect("expired one purged on demand");
    // Full again, with nothing expired.
    refused(at(9, NOW + 150, NOW + 1_000));
    let stats = store.stats().expect("stats");
    assert_eq!((stats.messages, stats.bytes), (3, 6));
    assert_usage_exact(&dir);
}

#[test]
fn refused_store_still_removes_the_accounts_expired_messages() {
    let dir = tempfile::tempdir().expect("tempdir");
    let store = Store::open(StoreConfig {
        max_bytes_per_account: 10,
        ..config(dir.path())
    })
    .expect("open");
    put(&store, msg(1, &[1; 4], NOW, NOW + 10)).expect("store");
    put(&store, msg(2, &[2; 5], NOW, NOW + 1_000)).expect("store");
    // 5 live bytes + 6 > 10 even without the expired message: refused,
    // but the expired message is gone and counted as gone.
    match put(&store, msg(3, &[3; 6], NOW + 10, NOW + 1_000)) {
        Err(StoreError::QuotaExceeded { limit }) => assert_eq!(limit, "bytes"),
        other => panic!("expected quota error, got {other:?}"),
    }
    let stats = store.stats().expect("stats");
    assert_eq!((stats.messages, stats.bytes), (1, 5));
    assert_usage_exact(&dir);
    // An expired duplicate at the quota is replaced by a fresh copy.
    put(&store, msg(4, &[4; 5], NOW + 10, NOW + 20)).expect("store");
    let old = all(&store, NOW + 10);
    let replaced = put(&store, msg(4, &[4; 5], NOW + 20, NOW + 1_000)).expect("store");
    assert!(matches!(replaced, StoreOutcome::Stored { seq } if seq > old[1].seq));
    let stats = store.stats().expect("stats");
    assert_eq!((stats.messages, stats.bytes), (2, 10));
    assert_usage_exact(&dir);
}
