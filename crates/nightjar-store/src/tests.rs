use std::path::Path;

use super::*;

const ACCOUNT: [u8; 32] = [7; 32];
const NOW: u64 = 1_700_000_000_000;

fn config(path: &Path) -> StoreConfig {
    StoreConfig {
        path: path.join("node").join("messages.sqlite"),
        ..StoreConfig::default()
    }
}

fn open(dir: &tempfile::TempDir) -> Store {
    Store::open(config(dir.path())).expect("open store")
}

fn msg(hash_byte: u8, data: &[u8], now_ms: u64, expiry_ms: u64) -> NewMessage {
    NewMessage {
        account: ACCOUNT,
        namespace: 0,
        hash: [hash_byte; 32],
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
    assert_eq!(got[0].hash, [1; 32]);
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
    assert_eq!(got[0].hash, [2; 32]);
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
    assert_eq!(got[0].hash, [3; 32]);
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
    other.account = [8; 32];
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
        .delete(ACCOUNT, 0, vec![[1; 32], [1; 32], [42; 32]])
        .blocking_recv()
        .expect("answer")
        .expect("delete");
    assert_eq!(deleted, 1);
    put(&store, msg(3, b"c", NOW, NOW + 1_000)).expect("store after delete");
    let hashes: Vec<_> = all(&store, NOW).iter().map(|m| m.hash[0]).collect();
    assert_eq!(hashes, vec![2, 3]);
    // Wrong namespace deletes nothing.
    let none = store
        .delete(ACCOUNT, 1, vec![[2; 32]])
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
    assert_eq!(got[0].hash, [0; 32]);
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
                account,
                namespace: i % 3,
                hash,
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
    other.account = [9; 32];
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
                ACCOUNT,
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
    let cfg = StoreConfig {
        path: foreign,
        ..StoreConfig::default()
    };
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
