//! Property test of the conformance between stores: the same random
//! sequence of [`StoreCommand`]s (claims included, in a claimable namespace
//! beside two plain ones) runs through [`MessageStore::execute`] on
//! the SQLite [`Store`] (on a temporary directory) and on [`MemoryStore`],
//! with the same small limits; every reply and the stats after every
//! command must agree (errors compared by their `Debug` form).
//!
//! Sequence numbers are compared up to an order-preserving renaming: both
//! stores promise strictly increasing numbers, never reused, but the SQLite
//! store may skip some. Each new message's pair of numbers is recorded, and
//! retrieval cursors are picked among known messages and translated.
//!
//! Not for: fixed scenarios (`tests/conformance.rs`).
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::collections::BTreeMap;

use nightjar_store::{
    AccountKey, Claimant, MemoryConfig, MemoryStore, MessageHash, MessageKey, MessageStore,
    NewClaim, NewMessage, Store, StoreCommand, StoreConfig, StoreOutcome, StoreReply,
    StoredMessage, SyncCursor, Tombstone,
};
use proptest::prelude::*;

fn ring(account: &AccountKey) -> u64 {
    u64::from(account.as_bytes()[0]) << 56
}

fn config(dir: &std::path::Path) -> StoreConfig {
    StoreConfig {
        max_messages_per_account: 3,
        max_bytes_per_account: 100,
        max_tombstones_per_account: 4,
        max_claims_per_account: 4,
        ..StoreConfig::new(dir.join("messages.sqlite"), ring)
    }
}

/// The accounts used (their first byte is their ring position's).
const ACCOUNTS: [u8; 3] = [0x10, 0x80, 0xf0];
/// Ring range bounds used (top byte).
const BOUNDS: [u8; 6] = [0, 0x10, 0x20, 0x80, 0xf0, 0xff];

/// A command, with the retrieval cursor left abstract.
#[derive(Debug, Clone)]
enum Step {
    /// A command run as is on both stores.
    Plain(StoreCommand),
    /// A retrieve after the `cursor % n`-th known message (from the start
    /// when none is known).
    Retrieve {
        account: AccountKey,
        namespace: u16,
        cursor: usize,
        now_ms: u64,
        max_messages: usize,
        max_bytes: usize,
    },
}

fn account() -> impl Strategy<Value = AccountKey> {
    (0..ACCOUNTS.len()).prop_map(|i| AccountKey::new([ACCOUNTS[i]; 32]))
}

/// Namespaces: two plain ones and a claimable one.
fn namespace() -> impl Strategy<Value = u16> {
    prop_oneof![Just(0u16), Just(1), Just(0xff80)]
}

fn hash() -> impl Strategy<Value = MessageHash> {
    (0u8..4).prop_map(|h| MessageHash::new([h; 32]))
}

fn now() -> impl Strategy<Value = u64> {
    prop_oneof![20 => 0u64..60, 1 => Just(u64::MAX)]
}

fn bound() -> impl Strategy<Value = u64> {
    (0..BOUNDS.len()).prop_map(|i| u64::from(BOUNDS[i]) << 56)
}

fn step() -> impl Strategy<Value = Step> {
    let store = (
        account(),
        namespace(),
        hash(),
        0usize..40,
        0u64..60,
        0u64..40,
    )
        .prop_map(|(account, namespace, hash, len, now_ms, ttl)| {
            Step::Plain(StoreCommand::Store(NewMessage {
                account,
                namespace,
                hash,
                data: vec![hash.as_bytes()[0]; len],
                now_ms,
                expiry_ms: now_ms + ttl,
            }))
        });
    let delete = (
        account(),
        namespace(),
        prop::collection::vec(hash(), 0..4),
        now(),
        0u64..40,
    )
        .prop_map(|(account, namespace, hashes, now_ms, tombstone_ttl_ms)| {
            Step::Plain(StoreCommand::Delete {
                account,
                namespace,
                hashes,
                now_ms,
                tombstone_ttl_ms,
            })
        });
    let tombstone = (account(), namespace(), hash(), 0u64..100).prop_map(
        |(account, namespace, hash, expiry_ms)| Tombstone {
            key: MessageKey {
                account,
                namespace,
                hash,
            },
            expiry_ms,
        },
    );
    let add = prop::collection::vec(tombstone, 0..4)
        .prop_map(|t| Step::Plain(StoreCommand::AddTombstones(t)));
    let drop = (bound(), bound())
        .prop_map(|(start, end)| Step::Plain(StoreCommand::DropRange { start, end }));
    let purge = now().prop_map(|now_ms| Step::Plain(StoreCommand::Purge { now_ms }));
    let retrieve = (
        account(),
        namespace(),
        any::<usize>(),
        now(),
        0usize..4,
        0usize..60,
    )
        .prop_map(
            |(account, namespace, cursor, now_ms, max_messages, max_bytes)| Step::Retrieve {
                account,
                namespace,
                cursor,
                now_ms,
                max_messages,
                max_bytes,
            },
        );
    // Pages start after keys at account positions and between them.
    let after = (
        prop_oneof![account().prop_map(|a| ring(&a)), bound()],
        hash(),
        any::<bool>(),
        account(),
        namespace(),
    )
        .prop_map(
            |(position, hash, tombstone, account, namespace)| SyncCursor {
                position,
                key: MessageKey {
                    account,
                    namespace,
                    hash,
                },
                tombstone,
            },
        );
    let limit = prop_oneof![3 => 0usize..6, 1 => Just(usize::MAX)];
    let list = (bound(), bound(), now(), prop::option::of(after), limit).prop_map(
        |(start, end, now_ms, after, limit)| {
            Step::Plain(StoreCommand::ListRange {
                start,
                end,
                now_ms,
                after,
                limit,
            })
        },
    );
    let key = (account(), namespace(), hash()).prop_map(|(account, namespace, hash)| MessageKey {
        account,
        namespace,
        hash,
    });
    let fetch = (prop::collection::vec(key, 0..5), now())
        .prop_map(|(keys, now_ms)| Step::Plain(StoreCommand::Fetch { keys, now_ms }));
    let claim = (account(), namespace(), hash(), 0u8..3, now(), 0u64..40).prop_map(
        |(account, namespace, hash, claimant, now_ms, ttl_ms)| {
            Step::Plain(StoreCommand::Claim(NewClaim {
                key: MessageKey {
                    account,
                    namespace,
                    hash,
                },
                claimant: Claimant::new([claimant; 16]),
                now_ms,
                ttl_ms,
            }))
        },
    );
    prop_oneof![
        8 => store,
        3 => claim,
        3 => delete,
        2 => add,
        1 => drop,
        2 => purge,
        3 => retrieve,
        2 => list,
        2 => fetch,
    ]
}

/// The pairs `(SQLite seq, memory seq)` of the messages stored so far.
#[derive(Default)]
struct Seqs {
    pairs: BTreeMap<u64, u64>,
    last_memory: u64,
}

impl Seqs {
    /// A new message got `sqlite` and `memory`: both must be later than
    /// every earlier one.
    fn record(&mut self, sqlite: u64, memory: u64) {
        let last_sqlite = self.pairs.keys().next_back().copied().unwrap_or(0);
        assert!(sqlite > last_sqlite, "SQLite seq {sqlite} not increasing");
        assert!(
            memory > self.last_memory,
            "memory seq {memory} not increasing"
        );
        self.pairs.insert(sqlite, memory);
        self.last_memory = memory;
    }

    /// The memory seq of the message SQLite numbers `sqlite`.
    fn memory(&self, sqlite: u64) -> u64 {
        *self
            .pairs
            .get(&sqlite)
            .unwrap_or_else(|| panic!("SQLite seq {sqlite} never stored"))
    }

    /// The cursors (SQLite, memory) for `cursor`.
    fn cursor(&self, cursor: usize) -> (u64, u64) {
        if self.pairs.is_empty() {
            return (0, 0);
        }
        let (s, m) = self.pairs.iter().nth(cursor % self.pairs.len()).unwrap();
        (*s, *m)
    }
}

fn same_messages(seqs: &Seqs, sqlite: &[StoredMessage], memory: &[StoredMessage]) {
    assert_eq!(sqlite.len(), memory.len(), "{sqlite:?} vs {memory:?}");
    for (s, m) in sqlite.iter().zip(memory) {
        assert_eq!(seqs.memory(s.seq), m.seq);
        assert_eq!(
            (&s.hash, &s.data, s.stored_at_ms, s.expiry_ms),
            (&m.hash, &m.data, m.stored_at_ms, m.expiry_ms)
        );
    }
}

/// Runs one step on both stores and checks the replies agree.
fn run(seqs: &mut Seqs, sqlite: &Store, memory: &MemoryStore, step: Step) {
    let (a, b) = match step {
        Step::Plain(command) => (sqlite.execute(command.clone()), memory.execute(command)),
        Step::Retrieve {
            account,
            namespace,
            cursor,
            now_ms,
            max_messages,
            max_bytes,
        } => {
            let (after_sqlite, after_memory) = seqs.cursor(cursor);
            let command = |after_seq| StoreCommand::Retrieve {
                account,
                namespace,
                after_seq,
                now_ms,
                max_messages,
                max_bytes,
            };
            (
                sqlite.execute(command(after_sqlite)),
                memory.execute(command(after_memory)),
            )
        }
    };
    match (&a, &b) {
        (StoreReply::Stored(Ok(x)), StoreReply::Stored(Ok(y))) => match (x, y) {
            (StoreOutcome::Stored { seq: s }, StoreOutcome::Stored { seq: m }) => {
                seqs.record(*s, *m);
            }
            (StoreOutcome::AlreadyStored { seq: s }, StoreOutcome::AlreadyStored { seq: m }) => {
                assert_eq!(seqs.memory(*s), *m);
            }
            (StoreOutcome::Tombstoned, StoreOutcome::Tombstoned) => {}
            _ => panic!("outcomes differ: {x:?} vs {y:?}"),
        },
        (StoreReply::Messages(Ok(x)), StoreReply::Messages(Ok(y))) => same_messages(seqs, x, y),
        _ => assert_eq!(format!("{a:?}"), format!("{b:?}")),
    }
    assert_eq!(sqlite.stats().unwrap(), memory.stats().unwrap());
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(64))]

    #[test]
    fn both_stores_answer_every_command_alike(steps in prop::collection::vec(step(), 1..40)) {
        let dir = tempfile::tempdir().unwrap();
        let config = config(dir.path());
        let memory = MemoryStore::with_config(MemoryConfig::from(&config));
        let sqlite = Store::open(config).unwrap();
        let mut seqs = Seqs::default();
        for step in steps {
            run(&mut seqs, &sqlite, &memory, step);
        }
    }
}
