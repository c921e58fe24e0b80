//! Unit tests of [`MemoryStore`]; the behaviours shared with the SQLite
//! store are also checked against it in `tests/conformance.rs`.
#![allow(clippy::unwrap_used)]

use super::{MemoryConfig, MemoryStore};
use crate::backend::MessageStore;
use crate::error::StoreError;
use crate::types::{NewMessage, StoreOutcome, Tombstone};
use nightjar_types::{AccountKey, MessageHash, MessageKey};

fn ring(account: &AccountKey) -> u64 {
    u64::from(account.as_bytes()[0]) << 56
}

fn msg(account: u8, hash: u8, now_ms: u64, expiry_ms: u64) -> NewMessage {
    NewMessage {
        account: AccountKey::new([account; 32]),
        namespace: 0,
        hash: MessageHash::new([hash; 32]),
        data: vec![hash; 10],
        now_ms,
        expiry_ms,
    }
}

fn small(max_messages: u64, max_tombstones: u64) -> MemoryStore {
    MemoryStore::with_config(MemoryConfig {
        max_messages_per_account: max_messages,
        max_tombstones_per_account: max_tombstones,
        ..MemoryConfig::new(ring)
    })
}

#[test]
fn memory_store_is_send_and_sync() {
    fn check<T: Send + Sync>() {}
    check::<MemoryStore>();
}

#[test]
fn sequence_numbers_increase_and_duplicates_keep_theirs_and_raise_expiry() {
    let s = MemoryStore::new(ring);
    assert_eq!(
        s.store(msg(1, 1, 0, 100)).unwrap(),
        StoreOutcome::Stored { seq: 1 }
    );
    assert_eq!(
        s.store(msg(2, 1, 0, 100)).unwrap(),
        StoreOutcome::Stored { seq: 2 }
    );
    assert_eq!(
        s.store(msg(1, 1, 10, 500)).unwrap(),
        StoreOutcome::AlreadyStored { seq: 1 }
    );
    let got = s
        .retrieve(&AccountKey::new([1; 32]), 0, 0, 200, 10, 1000)
        .unwrap();
    assert_eq!(got.len(), 1);
    assert_eq!(got[0].expiry_ms, 500);
}

#[test]
fn expired_copy_is_replaced_with_a_new_seq_and_deleted_seqs_are_not_reused() {
    let s = MemoryStore::new(ring);
    assert_eq!(s.store(msg(1, 1, 0, 100)).unwrap().seq(), 1);
    assert_eq!(
        s.store(msg(1, 1, 100, 300)).unwrap(),
        StoreOutcome::Stored { seq: 2 }
    );
    assert_eq!(
        s.delete(
            AccountKey::new([1; 32]),
            0,
            vec![MessageHash::new([1; 32])],
            150,
            10
        )
        .unwrap(),
        1
    );
    assert_eq!(s.store(msg(1, 2, 150, 300)).unwrap().seq(), 3);
    assert_eq!(s.stats().unwrap().messages, 1);
}

#[test]
fn retrieve_follows_cursor_and_limits_but_returns_at_least_one() {
    let s = MemoryStore::new(ring);
    for h in 1..=5 {
        s.store(msg(1, h, 0, 100)).unwrap();
    }
    let all = s
        .retrieve(&AccountKey::new([1; 32]), 0, 2, 50, 10, 1 << 20)
        .unwrap();
    assert_eq!(all.iter().map(|m| m.seq).collect::<Vec<_>>(), [3, 4, 5]);
    assert_eq!(
        s.retrieve(&AccountKey::new([1; 32]), 0, 0, 50, 2, 1 << 20)
            .unwrap()
            .len(),
        2
    );
    assert_eq!(
        s.retrieve(&AccountKey::new([1; 32]), 0, 0, 50, 10, 25)
            .unwrap()
            .len(),
        2
    );
    assert_eq!(
        s.retrieve(&AccountKey::new([1; 32]), 0, 0, 50, 10, 1)
            .unwrap()
            .len(),
        1
    );
    assert!(
        s.retrieve(&AccountKey::new([1; 32]), 0, 0, 100, 10, 1 << 20)
            .unwrap()
            .is_empty()
    );
}

#[test]
fn quota_refusal_changes_nothing_and_purge_frees_room() {
    let s = small(2, 100);
    s.store(msg(1, 1, 0, 100)).unwrap();
    s.store(msg(1, 2, 0, 1000)).unwrap();
    assert!(matches!(
        s.store(msg(1, 3, 50, 1000)),
        Err(StoreError::QuotaExceeded { limit: "messages" })
    ));
    assert_eq!(s.stats().unwrap().messages, 2);
    // At 100 the first has expired: the store removes it to make room.
    assert_eq!(
        s.store(msg(1, 3, 100, 1000)).unwrap(),
        StoreOutcome::Stored { seq: 3 }
    );
    assert_eq!(s.stats().unwrap().messages, 2);
}

#[test]
fn tombstones_block_restore_and_add_tombstones_deletes_held_messages() {
    let s = MemoryStore::new(ring);
    s.store(msg(1, 1, 0, 1000)).unwrap();
    assert_eq!(
        s.delete(
            AccountKey::new([1; 32]),
            0,
            vec![MessageHash::new([1; 32])],
            10,
            50
        )
        .unwrap(),
        1
    );
    assert_eq!(
        s.store(msg(1, 1, 20, 2000)).unwrap(),
        StoreOutcome::Tombstoned
    );
    // The tombstone lives as long as the deleted message would have.
    let entries = s.list_range(0, 0, 900).unwrap();
    assert_eq!(entries.len(), 1);
    assert!(entries[0].entry.tombstone);
    assert_eq!(entries[0].entry.expiry_ms, 1000);

    s.store(msg(2, 7, 0, 5000)).unwrap();
    let t = Tombstone {
        key: MessageKey {
            account: AccountKey::new([2; 32]),
            namespace: 0,
            hash: MessageHash::new([7; 32]),
        },
        expiry_ms: 100,
    };
    assert_eq!(s.add_tombstones(vec![t]).unwrap(), 1);
    let entries = s.list_range(2 << 56, 3 << 56, 4000).unwrap();
    assert_eq!(entries.len(), 1);
    assert_eq!(entries[0].entry.expiry_ms, 5000);
}

#[test]
fn tombstone_cap_refuses_delete_without_deleting() {
    let s = small(100, 1);
    s.store(msg(1, 1, 0, 1000)).unwrap();
    s.store(msg(1, 2, 0, 1000)).unwrap();
    assert!(matches!(
        s.delete(
            AccountKey::new([1; 32]),
            0,
            vec![MessageHash::new([1; 32]), MessageHash::new([2; 32])],
            10,
            50
        ),
        Err(StoreError::QuotaExceeded {
            limit: "tombstones"
        })
    ));
    assert_eq!(s.stats().unwrap().messages, 2);
    assert_eq!(s.stats().unwrap().tombstones, 0);
}

#[test]
fn purge_removes_expired_rows_and_empty_accounts() {
    let s = MemoryStore::new(ring);
    s.store(msg(1, 1, 0, 100)).unwrap();
    s.store(msg(2, 1, 0, 300)).unwrap();
    s.delete(
        AccountKey::new([3; 32]),
        0,
        vec![MessageHash::new([9; 32])],
        0,
        150,
    )
    .unwrap();
    assert_eq!(s.purge_expired(200).unwrap(), 1);
    let stats = s.stats().unwrap();
    assert_eq!(
        (stats.messages, stats.accounts, stats.tombstones),
        (1, 1, 0)
    );
    assert_eq!(s.purge_expired(300).unwrap(), 1);
    assert_eq!(s.stats().unwrap().messages, 0);
    assert_eq!(s.lock().stats().accounts, 0);
}

#[test]
fn ranges_wrap_and_drop_range_removes_messages_and_tombstones() {
    let s = MemoryStore::new(ring);
    for a in [1u8, 0x80, 0xf0] {
        s.store(msg(a, 1, 0, 100)).unwrap();
    }
    s.delete(
        AccountKey::new([0xf0; 32]),
        0,
        vec![MessageHash::new([2; 32])],
        0,
        50,
    )
    .unwrap();
    let wrapped = s.list_range(0xf0 << 56, 2 << 56, 10).unwrap();
    let accounts: Vec<u8> = wrapped
        .iter()
        .map(|e| e.entry.key.account.as_bytes()[0])
        .collect();
    assert_eq!(accounts, [1, 0xf0, 0xf0]);
    assert_eq!(s.list_range(0, 0, 10).unwrap().len(), 4);
    assert_eq!(s.drop_range(0xf0 << 56, 2 << 56).unwrap(), 2);
    let left = s.stats().unwrap();
    assert_eq!((left.messages, left.tombstones), (1, 0));
}

#[test]
fn fetch_skips_missing_and_repeated_keys_and_caps_key_count() {
    let s = MemoryStore::new(ring);
    s.store(msg(1, 1, 0, 100)).unwrap();
    let key = |hash: u8| MessageKey {
        account: AccountKey::new([1; 32]),
        namespace: 0,
        hash: MessageHash::new([hash; 32]),
    };
    let k = key(1);
    let got = s.fetch(&[k, key(2), k], 10).unwrap();
    assert_eq!(got.len(), 1);
    assert!(s.fetch(&[k], 100).unwrap().is_empty());
    let many = vec![k; crate::Store::MAX_FETCH_KEYS + 1];
    assert!(matches!(
        s.fetch(&many, 10),
        Err(StoreError::TooManyKeys { .. })
    ));
}

#[test]
fn out_of_range_inputs_are_refused() {
    let s = MemoryStore::new(ring);
    assert!(matches!(
        s.store(msg(1, 1, 0, u64::MAX)),
        Err(StoreError::ValueOutOfRange {
            field: "expiry_ms",
            ..
        })
    ));
    assert!(matches!(
        s.store(msg(1, 1, 10, 10)),
        Err(StoreError::AlreadyExpired { .. })
    ));
    assert!(matches!(
        s.purge_expired(u64::MAX),
        Err(StoreError::ValueOutOfRange { .. })
    ));
}
