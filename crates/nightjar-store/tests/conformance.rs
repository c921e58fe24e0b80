//! One conformance suite for every [`MessageStore`]: each behaviour is a
//! generic function, run against the SQLite [`Store`] (on a temporary
//! directory) and against [`MemoryStore`], with the same limits. A property
//! test then runs random command sequences through `execute` on both and
//! compares every reply and the stats after each command.
//!
//! Not for: what only the SQLite store has (schema, migration, a full disk,
//! query plans, batching); those stay in `src/tests.rs`.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use nightjar_store::{
    AccountKey, ClaimOutcome, Claimant, MemoryConfig, MemoryStore, MessageHash, MessageKey,
    MessageStore, NewClaim, NewMessage, PositionedEntry, Store, StoreCommand, StoreConfig,
    StoreError, StoreOutcome, SyncCursor, Tombstone,
};

/// Ring position: the account's first byte, at the top.
fn ring(account: &AccountKey) -> u64 {
    u64::from(account.as_bytes()[0]) << 56
}

/// Small limits, so quotas are reached quickly.
fn config(dir: &std::path::Path) -> StoreConfig {
    StoreConfig {
        max_messages_per_account: 3,
        max_bytes_per_account: 100,
        max_tombstones_per_account: 4,
        max_claims_per_account: 4,
        ..StoreConfig::new(dir.join("messages.sqlite"), ring)
    }
}

fn msg(account: u8, hash: u8, len: usize, now_ms: u64, expiry_ms: u64) -> NewMessage {
    NewMessage {
        account: AccountKey::new([account; 32]),
        namespace: 0,
        hash: MessageHash::new([hash; 32]),
        data: vec![hash; len],
        now_ms,
        expiry_ms,
    }
}

/// The key of message `hash` in account `account`'s namespace 0 (as [`msg`]).
fn key(account: u8, hash: u8) -> MessageKey {
    MessageKey {
        account: AccountKey::new([account; 32]),
        namespace: 0,
        hash: MessageHash::new([hash; 32]),
    }
}

fn seqs(s: &impl MessageStore, account: u8, now_ms: u64) -> Vec<u64> {
    s.retrieve(
        &AccountKey::new([account; 32]),
        0,
        0,
        now_ms,
        usize::MAX,
        usize::MAX,
    )
    .unwrap()
    .iter()
    .map(|m| m.seq)
    .collect()
}

fn quota(r: Result<StoreOutcome, StoreError>) -> &'static str {
    match r {
        Err(StoreError::QuotaExceeded { limit }) => limit,
        other => panic!("expected a quota error, got {other:?}"),
    }
}

fn ttl_and_purge(s: &impl MessageStore) {
    s.store(msg(1, 1, 5, 0, 100)).unwrap();
    s.store(msg(1, 2, 5, 0, 200)).unwrap();
    s.delete(
        AccountKey::new([1; 32]),
        0,
        vec![MessageHash::new([9; 32])],
        0,
        150,
    )
    .unwrap();
    assert_eq!(seqs(s, 1, 99).len(), 2);
    assert_eq!(seqs(s, 1, 100).len(), 1, "expiry_ms == now_ms is expired");
    // Expired rows count until purged.
    assert_eq!(s.stats().unwrap().messages, 2);
    assert_eq!(s.purge_expired(150).unwrap(), 1);
    let stats = s.stats().unwrap();
    assert_eq!((stats.messages, stats.bytes, stats.tombstones), (1, 5, 0));
    assert_eq!(s.purge_expired(150).unwrap(), 0);
    assert!(matches!(
        s.store(msg(1, 3, 5, 10, 10)),
        Err(StoreError::AlreadyExpired { .. })
    ));
}

fn message_quota(s: &impl MessageStore) {
    for h in 1..=3 {
        s.store(msg(1, h, 5, 0, 100 * u64::from(h))).unwrap();
    }
    let before = s.stats().unwrap();
    assert_eq!(quota(s.store(msg(1, 4, 5, 50, 1000))), "messages");
    let after = s.stats().unwrap();
    assert_eq!(
        (after.messages, after.bytes),
        (before.messages, before.bytes)
    );
    assert_eq!(seqs(s, 1, 50), [1, 2, 3]);
    // Another account is not affected.
    assert!(s.store(msg(2, 4, 5, 50, 1000)).is_ok());
    // An expired message makes room (removed by the store itself).
    let fresh = s.store(msg(1, 4, 5, 100, 1000)).unwrap();
    assert!(matches!(fresh, StoreOutcome::Stored { seq } if seq > 3));
    assert_eq!(seqs(s, 1, 100), [2, 3, fresh.seq()]);
    // Delete frees quota.
    assert_eq!(
        s.delete(
            AccountKey::new([1; 32]),
            0,
            vec![MessageHash::new([2; 32])],
            100,
            10
        )
        .unwrap(),
        1
    );
    assert!(s.store(msg(1, 5, 5, 100, 1000)).is_ok());
}

fn byte_quota(s: &impl MessageStore) {
    s.store(msg(1, 1, 60, 0, 100)).unwrap();
    assert_eq!(quota(s.store(msg(1, 2, 41, 0, 1000))), "bytes");
    s.store(msg(1, 2, 40, 0, 1000)).unwrap();
    assert_eq!(s.stats().unwrap().bytes, 100);
    // Purging the expired message frees its bytes.
    assert_eq!(s.purge_expired(100).unwrap(), 1);
    assert!(s.store(msg(1, 3, 60, 100, 1000)).is_ok());
}

fn tombstone_quota(s: &impl MessageStore) {
    let hashes: Vec<MessageHash> = (1..=4).map(|h| MessageHash::new([h; 32])).collect();
    s.store(msg(1, 9, 5, 0, 1000)).unwrap();
    assert_eq!(
        s.delete(AccountKey::new([1; 32]), 0, hashes, 0, 100)
            .unwrap(),
        0
    );
    // A fifth tombstone is refused, and the message is not deleted.
    let refused = s.delete(
        AccountKey::new([1; 32]),
        0,
        vec![MessageHash::new([9; 32])],
        0,
        100,
    );
    assert!(matches!(
        refused,
        Err(StoreError::QuotaExceeded {
            limit: "tombstones"
        })
    ));
    assert_eq!(seqs(s, 1, 0), [1]);
    let t = Tombstone {
        key: key(1, 9),
        expiry_ms: 500,
    };
    assert!(matches!(
        s.add_tombstones(vec![t]),
        Err(StoreError::QuotaExceeded {
            limit: "tombstones"
        })
    ));
    assert_eq!(s.stats().unwrap().tombstones, 4);
    // Once the others expired, delete removes them to make room.
    assert_eq!(
        s.delete(
            AccountKey::new([1; 32]),
            0,
            vec![MessageHash::new([9; 32])],
            100,
            100
        )
        .unwrap(),
        1
    );
    assert_eq!(s.stats().unwrap().tombstones, 1);
}

fn cursors(s: &impl MessageStore) {
    for h in 1..=3 {
        s.store(msg(1, h, 10, 0, 1000)).unwrap();
    }
    s.store(msg(2, 1, 10, 0, 1000)).unwrap();
    assert_eq!(seqs(s, 1, 0), [1, 2, 3]);
    let after = s
        .retrieve(&AccountKey::new([1; 32]), 0, 1, 0, 10, 1000)
        .unwrap();
    assert_eq!(after.iter().map(|m| m.seq).collect::<Vec<_>>(), [2, 3]);
    assert_eq!(
        s.retrieve(&AccountKey::new([1; 32]), 0, 0, 0, 2, 1000)
            .unwrap()
            .len(),
        2
    );
    assert_eq!(
        s.retrieve(&AccountKey::new([1; 32]), 0, 0, 0, 10, 20)
            .unwrap()
            .len(),
        2
    );
    assert_eq!(
        s.retrieve(&AccountKey::new([1; 32]), 0, 0, 0, 10, 0)
            .unwrap()
            .len(),
        1
    );
    assert!(
        s.retrieve(&AccountKey::new([1; 32]), 0, 0, 0, 0, 1000)
            .unwrap()
            .is_empty()
    );
    assert!(
        s.retrieve(&AccountKey::new([1; 32]), 1, 0, 0, 10, 1000)
            .unwrap()
            .is_empty()
    );
    assert!(matches!(
        s.retrieve(&AccountKey::new([1; 32]), 0, u64::MAX, 0, 10, 1000),
        Err(StoreError::ValueOutOfRange {
            field: "after_seq",
            ..
        })
    ));
}

fn duplicates(s: &impl MessageStore) {
    let first = s.store(msg(1, 1, 5, 0, 100)).unwrap();
    assert!(matches!(first, StoreOutcome::Stored { .. }));
    assert_eq!(
        s.store(msg(1, 1, 5, 10, 300)).unwrap(),
        StoreOutcome::AlreadyStored { seq: first.seq() }
    );
    assert_eq!(
        s.store(msg(1, 1, 5, 20, 200)).unwrap(),
        StoreOutcome::AlreadyStored { seq: first.seq() }
    );
    let got = s
        .retrieve(&AccountKey::new([1; 32]), 0, 0, 20, 10, 1000)
        .unwrap();
    assert_eq!(got[0].expiry_ms, 300, "the later expiry wins");
    assert_eq!(got[0].stored_at_ms, 0);
    // Once expired, storing again gives a fresh, later seq (SQLite may
    // skip numbers: only the order is promised).
    let again = s.store(msg(1, 1, 5, 300, 400)).unwrap();
    assert!(matches!(again, StoreOutcome::Stored { .. }));
    assert!(again.seq() > first.seq());
    assert_eq!(seqs(s, 1, 300), [again.seq()]);
    assert_eq!(s.stats().unwrap().messages, 1);
}

fn tombstones(s: &impl MessageStore) {
    s.store(msg(1, 1, 5, 0, 1000)).unwrap();
    assert_eq!(
        s.delete(
            AccountKey::new([1; 32]),
            0,
            vec![MessageHash::new([1; 32]), MessageHash::new([1; 32])],
            10,
            50
        )
        .unwrap(),
        1
    );
    assert_eq!(
        s.store(msg(1, 1, 5, 20, 2000)).unwrap(),
        StoreOutcome::Tombstoned
    );
    // The tombstone lasts as long as the deleted message would have.
    assert_eq!(
        s.store(msg(1, 1, 5, 999, 2000)).unwrap(),
        StoreOutcome::Tombstoned
    );
    assert!(s.store(msg(1, 1, 5, 1000, 2000)).unwrap().seq() > 0);

    s.store(msg(2, 1, 5, 0, 3000)).unwrap();
    let t = |expiry_ms| Tombstone {
        key: key(2, 1),
        expiry_ms,
    };
    assert_eq!(s.add_tombstones(vec![t(100)]).unwrap(), 1);
    assert!(seqs(s, 2, 0).is_empty());
    assert_eq!(s.add_tombstones(vec![t(50)]).unwrap(), 0);
    let listed = s.list_range(2 << 56, 3 << 56, 0).unwrap();
    assert_eq!(listed.len(), 1);
    assert!(listed[0].entry.tombstone);
    assert_eq!(
        listed[0].entry.expiry_ms, 3000,
        "never before the deleted message"
    );
    assert_eq!(s.add_tombstones(vec![t(4000)]).unwrap(), 0);
    assert_eq!(
        s.list_range(2 << 56, 3 << 56, 0).unwrap()[0]
            .entry
            .expiry_ms,
        4000,
        "a later expiry wins"
    );
}

fn ranges(s: &impl MessageStore) {
    for a in [0x10u8, 0x80, 0xf0] {
        s.store(msg(a, 2, 5, 0, 100)).unwrap();
        s.store(msg(a, 1, 5, 0, 1000)).unwrap();
    }
    s.delete(
        AccountKey::new([0xf0; 32]),
        0,
        vec![MessageHash::new([3; 32])],
        0,
        1000,
    )
    .unwrap();
    let key = |e: &PositionedEntry| {
        let k = e.entry.key;
        (
            k.account.as_bytes()[0],
            k.hash.as_bytes()[0],
            e.entry.tombstone,
        )
    };
    let wrapped: Vec<_> = s
        .list_range(0xf0 << 56, 0x20 << 56, 10)
        .unwrap()
        .iter()
        .map(key)
        .collect();
    assert_eq!(
        wrapped,
        [
            (0x10, 1, false),
            (0x10, 2, false),
            (0xf0, 1, false),
            (0xf0, 2, false),
            (0xf0, 3, true)
        ]
    );
    let plain = s.list_range(0x10 << 56, 0x80 << 56, 10).unwrap();
    assert!(
        plain
            .iter()
            .all(|e| e.entry.key.account == AccountKey::new([0x10; 32]))
    );
    assert_eq!(plain[0].position, 0x10 << 56);
    // The whole ring, expired messages skipped.
    let whole: Vec<_> = s.list_range(7, 7, 100).unwrap().iter().map(key).collect();
    assert_eq!(
        whole,
        [
            (0x10, 1, false),
            (0x80, 1, false),
            (0xf0, 1, false),
            (0xf0, 3, true)
        ]
    );
}

/// Every entry of a range, read `limit` at a time from the start.
fn paged(s: &impl MessageStore, start: u64, end: u64, limit: usize) -> Vec<PositionedEntry> {
    let mut all: Vec<PositionedEntry> = Vec::new();
    loop {
        let after = all.last().map(PositionedEntry::cursor);
        let page = s
            .list_range_after(start, end, 10, after.as_ref(), limit)
            .unwrap();
        assert!(page.len() <= limit);
        let done = page.len() < limit;
        all.extend(page);
        if done {
            return all;
        }
    }
}

fn pages(s: &impl MessageStore) {
    // Two accounts share a position; a message and a tombstone share a
    // position and a hash (other namespaces); one range wraps.
    let twin = {
        let mut a = [0x10u8; 32];
        a[1] = 0x20;
        a
    };
    for account in [[0x10u8; 32], twin, [0x80; 32], [0xf0; 32]].map(AccountKey::new) {
        for hash in 1..=3u8 {
            let mut m = msg(0, hash, 5, 0, 1000);
            m.account = account;
            s.store(m).unwrap();
        }
        s.delete(
            account,
            1,
            vec![MessageHash::new([2; 32]), MessageHash::new([4; 32])],
            0,
            1000,
        )
        .unwrap();
        s.delete(account, 0, vec![MessageHash::new([3; 32])], 0, 1000)
            .unwrap();
    }
    // An expired one is never listed.
    s.store(msg(0x80, 9, 5, 0, 5)).unwrap();
    for (start, end) in [(0, 0), (0xf0 << 56, 0x20 << 56), (0x10 << 56, 0x81 << 56)] {
        let whole = s.list_range(start, end, 10).unwrap();
        assert!(whole.windows(2).all(|w| w[0].cursor() < w[1].cursor()));
        assert!(!whole.is_empty());
        for limit in [1, 2, 3, 5, 7, usize::MAX] {
            assert_eq!(
                paged(s, start, end, limit),
                whole,
                "{start:x}..{end:x} by {limit}"
            );
        }
        // After the last entry: nothing; after a key past the range: nothing.
        let last = whole.last().map(PositionedEntry::cursor);
        assert!(
            s.list_range_after(start, end, 10, last.as_ref(), 10)
                .unwrap()
                .is_empty()
        );
    }
    // A page may start after a key nobody holds.
    let between = SyncCursor {
        position: 0x10 << 56,
        key: MessageKey {
            account: AccountKey::new([0x15; 32]),
            namespace: 0,
            hash: MessageHash::new([2; 32]),
        },
        tombstone: false,
    };
    let got = s
        .list_range_after(0, 0, 10, Some(&between), usize::MAX)
        .unwrap();
    let expected: Vec<PositionedEntry> = s
        .list_range(0, 0, 10)
        .unwrap()
        .into_iter()
        .filter(|e| e.cursor() > between)
        .collect();
    assert_eq!(got, expected);
    assert_eq!(
        (
            got[0].entry.key.account,
            got[0].entry.key.hash.as_bytes()[0],
            got[0].entry.tombstone
        ),
        (AccountKey::new([0x10; 32]), 2, true),
        "a tombstone after a message with the same position and hash"
    );
}

fn fetch(s: &impl MessageStore) {
    s.store(msg(1, 1, 5, 0, 100)).unwrap();
    s.store(msg(1, 2, 5, 0, 1000)).unwrap();
    let k = |h: u8| key(1, h);
    let got = s.fetch(&[k(2), k(3), k(1), k(2)], 50).unwrap();
    let hashes: Vec<u8> = got.iter().map(|(h, _)| h.as_bytes()[0]).collect();
    assert_eq!(
        hashes,
        [2, 1],
        "in key order, repeats once, missing skipped"
    );
    assert_eq!(got[0].1.data, vec![2; 5]);
    assert_eq!(got[0].1.mailbox, k(2).mailbox());
    assert_eq!(s.fetch(&[k(1), k(2)], 100).unwrap().len(), 1);
    let too_many = vec![k(1); Store::MAX_FETCH_KEYS + 1];
    assert!(matches!(
        s.fetch(&too_many, 0),
        Err(StoreError::TooManyKeys { .. })
    ));
    assert!(s.fetch(&vec![k(1); Store::MAX_FETCH_KEYS], 0).is_ok());
}

fn drop_range(s: &impl MessageStore) {
    for a in [0x10u8, 0x80, 0xf0] {
        s.store(msg(a, 1, 5, 0, 100)).unwrap();
        s.delete(
            AccountKey::new([a; 32]),
            0,
            vec![MessageHash::new([2; 32])],
            0,
            100,
        )
        .unwrap();
    }
    assert_eq!(s.drop_range(0xf0 << 56, 0x20 << 56).unwrap(), 2);
    let stats = s.stats().unwrap();
    assert_eq!(
        (stats.messages, stats.accounts, stats.tombstones),
        (1, 1, 1)
    );
    // Dropped, not deleted: the message may be stored again.
    assert!(matches!(
        s.store(msg(0x10, 2, 5, 0, 100)).unwrap(),
        StoreOutcome::Stored { .. }
    ));
    assert_eq!(s.drop_range(5, 5).unwrap(), 2);
    assert_eq!(s.stats().unwrap().messages, 0);
}

fn stats(s: &impl MessageStore) {
    assert_eq!(s.stats().unwrap().messages, 0);
    s.store(msg(1, 1, 7, 0, 100)).unwrap();
    s.store(msg(1, 2, 3, 0, 100)).unwrap();
    s.store(msg(2, 1, 5, 0, 100)).unwrap();
    s.delete(
        AccountKey::new([3; 32]),
        0,
        vec![MessageHash::new([1; 32])],
        0,
        100,
    )
    .unwrap();
    let stats = s.stats().unwrap();
    assert_eq!(
        (
            stats.messages,
            stats.bytes,
            stats.accounts,
            stats.tombstones
        ),
        (3, 15, 2, 1)
    );
    assert!(stats.commits >= 4);
}

/// The one-time prekey namespace (claimable).
const OTP: u16 = 0xff80;

/// Record `hash` of account `account` in the claimable namespace.
fn record(account: u8, hash: u8, now_ms: u64, expiry_ms: u64) -> NewMessage {
    NewMessage {
        namespace: OTP,
        ..msg(account, hash, 4, now_ms, expiry_ms)
    }
}

/// `claimant` claims record `hash` of account `account` at `now_ms`, for at
/// least `ttl_ms`.
fn claim(
    s: &impl MessageStore,
    account: u8,
    hash: u8,
    claimant: u8,
    now_ms: u64,
    ttl_ms: u64,
) -> Result<ClaimOutcome, StoreError> {
    s.claim(NewClaim {
        key: MessageKey {
            namespace: OTP,
            ..key(account, hash)
        },
        claimant: Claimant::new([claimant; 16]),
        now_ms,
        ttl_ms,
    })
}

fn granted(data: Option<Vec<u8>>) -> ClaimOutcome {
    ClaimOutcome::Granted { data }
}

/// The hashes (first byte) a retrieve of the claimable namespace returns.
fn unclaimed(s: &impl MessageStore, account: u8, now_ms: u64, max: usize) -> Vec<u8> {
    s.retrieve(
        &AccountKey::new([account; 32]),
        OTP,
        0,
        now_ms,
        max,
        1 << 20,
    )
    .unwrap()
    .iter()
    .map(|m| m.hash.as_bytes()[0])
    .collect()
}

fn first_claimant_wins_and_may_claim_again(s: &impl MessageStore) {
    s.store(record(1, 1, 0, 1_000)).unwrap();
    assert_eq!(
        claim(s, 1, 1, 0xa, 5, 100).unwrap(),
        granted(Some(vec![1; 4]))
    );
    assert_eq!(claim(s, 1, 1, 0xb, 6, 100).unwrap(), ClaimOutcome::Refused);
    // The same claimant again (a retry) is granted again, with the data.
    assert_eq!(
        claim(s, 1, 1, 0xa, 7, 100).unwrap(),
        granted(Some(vec![1; 4]))
    );
    // A record not held here: the claim is recorded all the same.
    assert_eq!(claim(s, 1, 2, 0xb, 8, 100).unwrap(), granted(None));
    assert_eq!(claim(s, 1, 2, 0xa, 9, 100).unwrap(), ClaimOutcome::Refused);
    // ... and holds once the record arrives.
    s.store(record(1, 2, 10, 1_000)).unwrap();
    assert_eq!(claim(s, 1, 2, 0xa, 11, 100).unwrap(), ClaimOutcome::Refused);
    assert_eq!(
        claim(s, 1, 2, 0xb, 12, 100).unwrap(),
        granted(Some(vec![2; 4]))
    );
    // Another account's record of the same hash is another record.
    s.store(record(2, 1, 0, 1_000)).unwrap();
    assert_eq!(
        claim(s, 2, 1, 0xb, 13, 100).unwrap(),
        granted(Some(vec![1; 4]))
    );
    assert_eq!(s.stats().unwrap().claims, 3);
    // Only claimable namespaces take claims.
    for namespace in [0, 0xff00, 0xff7f] {
        let refused = s.claim(NewClaim {
            key: MessageKey {
                namespace,
                ..key(1, 1)
            },
            claimant: Claimant::new([0xa; 16]),
            now_ms: 14,
            ttl_ms: 100,
        });
        assert!(
            matches!(refused, Err(StoreError::NotClaimable(n)) if n == namespace),
            "{namespace:#x}: {refused:?}"
        );
    }
    assert_eq!(s.stats().unwrap().claims, 3);
}

fn claimed_records_are_left_out_of_retrieves_only(s: &impl MessageStore) {
    s.store(record(1, 1, 0, 1_000)).unwrap();
    s.store(record(1, 2, 0, 1_000)).unwrap();
    s.store(msg(1, 1, 4, 0, 1_000)).unwrap();
    assert_eq!(unclaimed(s, 1, 1, 10), vec![1, 2]);
    claim(s, 1, 1, 0xa, 1, 100).unwrap();
    assert_eq!(unclaimed(s, 1, 2, 10), vec![2]);
    // The limit counts what is returned, not what is left out.
    assert_eq!(unclaimed(s, 1, 2, 1), vec![2]);
    // Another namespace's message of the same hash is not the claimed one.
    assert_eq!(seqs(s, 1, 2).len(), 1);
    // Anti-entropy still lists and fetches claimed records.
    let listed = s
        .list_range(0, 0, 2)
        .unwrap()
        .iter()
        .filter(|e| e.entry.key.namespace == OTP)
        .count();
    assert_eq!(listed, 2);
    let claimed_key = MessageKey {
        namespace: OTP,
        ..key(1, 1)
    };
    assert_eq!(s.fetch(&[claimed_key], 2).unwrap().len(), 1);
}

fn claims_expire_with_their_record_or_their_ttl(s: &impl MessageStore) {
    // A record that outlives the TTL keeps its claim alive.
    s.store(record(1, 1, 0, 100)).unwrap();
    claim(s, 1, 1, 0xa, 10, 50).unwrap();
    assert_eq!(claim(s, 1, 1, 0xb, 99, 50).unwrap(), ClaimOutcome::Refused);
    assert_eq!(unclaimed(s, 1, 99, 10), Vec::<u8>::new());
    assert_eq!(
        claim(s, 1, 1, 0xb, 100, 50).unwrap(),
        granted(None),
        "both expired"
    );
    // A record that expires first: the claim lasts its TTL.
    s.store(record(2, 2, 0, 30)).unwrap();
    claim(s, 2, 2, 0xa, 10, 50).unwrap();
    assert_eq!(claim(s, 2, 2, 0xb, 59, 50).unwrap(), ClaimOutcome::Refused);
    assert_eq!(claim(s, 2, 2, 0xb, 60, 50).unwrap(), granted(None));
    // Storing the record again for longer keeps its claim alive as long.
    s.store(record(3, 3, 0, 100)).unwrap();
    claim(s, 3, 3, 0xa, 10, 20).unwrap();
    assert!(matches!(
        s.store(record(3, 3, 50, 200)).unwrap(),
        StoreOutcome::AlreadyStored { .. }
    ));
    assert_eq!(claim(s, 3, 3, 0xb, 150, 20).unwrap(), ClaimOutcome::Refused);
    assert_eq!(unclaimed(s, 3, 150, 10), Vec::<u8>::new());
    // So does a record that reaches this store after the claim.
    claim(s, 4, 4, 0xa, 10, 20).unwrap();
    s.store(record(4, 4, 20, 300)).unwrap();
    assert_eq!(claim(s, 4, 4, 0xb, 250, 20).unwrap(), ClaimOutcome::Refused);
    // A retry never shortens a claim.
    claim(s, 5, 5, 0xa, 10, 500).unwrap();
    claim(s, 5, 5, 0xa, 20, 10).unwrap();
    assert_eq!(claim(s, 5, 5, 0xb, 400, 10).unwrap(), ClaimOutcome::Refused);
    // Out-of-range clocks are refused.
    assert!(matches!(
        claim(s, 1, 6, 0xa, u64::MAX, 0),
        Err(StoreError::ValueOutOfRange { .. })
    ));
    assert!(matches!(
        claim(s, 1, 6, 0xa, 1, i64::MAX as u64),
        Err(StoreError::ValueOutOfRange { .. })
    ));
}

fn claims_are_purged_dropped_and_outlive_deletes(s: &impl MessageStore) {
    s.store(record(0x10, 1, 0, 100)).unwrap();
    claim(s, 0x10, 1, 0xa, 0, 10).unwrap();
    claim(s, 0x10, 2, 0xa, 0, 500).unwrap();
    claim(s, 0xf0, 1, 0xa, 0, 500).unwrap();
    assert_eq!(s.stats().unwrap().claims, 3);
    // A delete of the record leaves its claim.
    s.delete(
        AccountKey::new([0x10; 32]),
        OTP,
        vec![MessageHash::new([1; 32])],
        1,
        1_000,
    )
    .unwrap();
    assert_eq!(
        claim(s, 0x10, 1, 0xb, 2, 10).unwrap(),
        ClaimOutcome::Refused
    );
    // The purge removes expired claims (the first one lives as long as
    // its record would have: 100).
    s.purge_expired(99).unwrap();
    assert_eq!(s.stats().unwrap().claims, 3);
    s.purge_expired(100).unwrap();
    assert_eq!(s.stats().unwrap().claims, 2);
    assert_eq!(s.stats().unwrap().accounts, 0);
    // A range handed over takes its claims along.
    s.drop_range(0xf0 << 56, 0).unwrap();
    assert_eq!(s.stats().unwrap().claims, 1);
    assert_eq!(claim(s, 0xf0, 1, 0xb, 101, 10).unwrap(), granted(None));
}

fn claim_quota(s: &impl MessageStore) {
    for h in 1..=4 {
        assert_eq!(
            claim(s, 1, h, 0xa, 0, 10 * u64::from(h)).unwrap(),
            granted(None)
        );
    }
    // Claiming again what is claimed needs no room.
    assert_eq!(claim(s, 1, 4, 0xa, 1, 10).unwrap(), granted(None));
    assert!(matches!(
        claim(s, 1, 5, 0xa, 5, 10),
        Err(StoreError::QuotaExceeded { limit: "claims" })
    ));
    // Refused: nothing changed, not even the expired claims.
    assert_eq!(s.stats().unwrap().claims, 4);
    // Another account has its own quota.
    assert_eq!(claim(s, 2, 5, 0xa, 5, 10).unwrap(), granted(None));
    // Once a claim expired, it makes room.
    assert_eq!(claim(s, 1, 5, 0xa, 10, 10).unwrap(), granted(None));
    assert_eq!(s.stats().unwrap().claims, 5);
    assert!(matches!(
        claim(s, 1, 6, 0xa, 11, 10),
        Err(StoreError::QuotaExceeded { limit: "claims" })
    ));
}

/// One `#[test]` per behaviour and store.
macro_rules! conformance {
    ($($name:ident),* $(,)?) => {
        mod sqlite {
            $(
                #[test]
                fn $name() {
                    let dir = tempfile::tempdir().unwrap();
                    let store = nightjar_store::Store::open(super::config(dir.path())).unwrap();
                    super::$name(&store);
                }
            )*
        }
        mod memory {
            $(
                #[test]
                fn $name() {
                    let dir = std::path::Path::new("unused");
                    let config = nightjar_store::MemoryConfig::from(&super::config(dir));
                    super::$name(&nightjar_store::MemoryStore::with_config(config));
                }
            )*
        }
    };
}

conformance!(
    ttl_and_purge,
    message_quota,
    byte_quota,
    tombstone_quota,
    cursors,
    duplicates,
    tombstones,
    ranges,
    pages,
    fetch,
    drop_range,
    stats,
    first_claimant_wins_and_may_claim_again,
    claimed_records_are_left_out_of_retrieves_only,
    claims_expire_with_their_record_or_their_ttl,
    claims_are_purged_dropped_and_outlive_deletes,
    claim_quota,
);

/// A memory store built from a [`StoreConfig`] enforces the same limits.
#[test]
fn memory_config_from_store_config_keeps_the_limits() {
    let c = MemoryConfig::from(&config(std::path::Path::new("x")));
    assert_eq!(c.max_messages_per_account, 3);
    assert_eq!(c.max_tombstones_per_account, 4);
    assert_eq!(c.max_claims_per_account, 4);
    let _ = MemoryStore::with_config(c).execute(StoreCommand::Purge { now_ms: 0 });
}
