//! [`MessageStore`] for the SQLite [`Store`], and [`Store::execute_async`],
//! the way a tokio driver runs a [`StoreCommand`] on it.
//!
//! Not for: anything the store does itself; this only adapts the [`Store`]'s
//! queued writes (answered through oneshot channels) and blocking reads to
//! the blocking trait and to async code.

use tokio::sync::oneshot;

use crate::backend::MessageStore;
use crate::command::{StoreCommand, StoreReply};
use crate::error::StoreError;
use crate::store::Store;
use crate::types::{
    ClaimOutcome, NewClaim, NewMessage, PositionedEntry, StoreOutcome, StoreStats, Tombstone,
};
use nightjar_types::{AccountKey, FullMessage, MessageHash, MessageKey, StoredMessage, SyncCursor};

/// Waits on a write's receiver from a thread that may block; a closed
/// channel means the writer is gone.
fn wait<T>(rx: oneshot::Receiver<Result<T, StoreError>>) -> Result<T, StoreError> {
    rx.blocking_recv().unwrap_or(Err(StoreError::WriterGone))
}

/// The SQLite store through the trait. Writes block the calling thread until
/// durably committed (`blocking_recv`: do not call them from inside an async
/// task; use [`Store::execute_async`] there). Reads block on the read
/// connection.
impl MessageStore for Store {
    fn store(&self, msg: NewMessage) -> Result<StoreOutcome, StoreError> {
        wait(Store::store(self, msg))
    }

    fn delete(
        &self,
        account: AccountKey,
        namespace: u16,
        hashes: Vec<MessageHash>,
        now_ms: u64,
        tombstone_ttl_ms: u64,
    ) -> Result<u64, StoreError> {
        wait(Store::delete(
            self,
            account,
            namespace,
            hashes,
            now_ms,
            tombstone_ttl_ms,
        ))
    }

    fn add_tombstones(&self, tombstones: Vec<Tombstone>) -> Result<u64, StoreError> {
        wait(Store::add_tombstones(self, tombstones))
    }

    fn drop_range(&self, start: u64, end: u64) -> Result<u64, StoreError> {
        wait(Store::drop_range(self, start, end))
    }

    fn purge_expired(&self, now_ms: u64) -> Result<u64, StoreError> {
        wait(Store::purge_expired(self, now_ms))
    }

    fn retrieve(
        &self,
        account: &AccountKey,
        namespace: u16,
        after_seq: u64,
        now_ms: u64,
        max_messages: usize,
        max_bytes: usize,
    ) -> Result<Vec<StoredMessage>, StoreError> {
        Store::retrieve(
            self,
            account,
            namespace,
            after_seq,
            now_ms,
            max_messages,
            max_bytes,
        )
    }

    fn list_range_after(
        &self,
        start: u64,
        end: u64,
        now_ms: u64,
        after: Option<&SyncCursor>,
        limit: usize,
    ) -> Result<Vec<PositionedEntry>, StoreError> {
        Store::list_range_after(self, start, end, now_ms, after, limit)
    }

    fn fetch(
        &self,
        keys: &[MessageKey],
        now_ms: u64,
    ) -> Result<Vec<(MessageHash, FullMessage)>, StoreError> {
        Store::fetch(self, keys, now_ms)
    }

    fn stats(&self) -> Result<StoreStats, StoreError> {
        Store::stats(self)
    }

    fn claim(&self, claim: NewClaim) -> Result<ClaimOutcome, StoreError> {
        wait(Store::claim(self, claim))
    }
}

impl Store {
    /// Runs one [`StoreCommand`] from async code and gives its
    /// [`StoreReply`], the same reply [`MessageStore::execute`] gives.
    ///
    /// Writes are queued to the batching writer thread
    /// ([`Store::write_then`]) and their answer awaited (no extra thread
    /// hop); reads run on the read connection in
    /// [`tokio::task::spawn_blocking`], so this must be called inside a tokio
    /// runtime.
    ///
    /// A read task that panics or is cancelled (runtime shutting down)
    /// answers [`StoreError::Io`] with `op: "read task"`.
    pub async fn execute_async(&self, command: StoreCommand) -> StoreReply {
        match command {
            write if write.is_write() => {
                let failed = StoreReply::failed(&write, StoreError::WriterGone);
                let (tx, rx) = oneshot::channel();
                self.write_then(write, move |reply| {
                    let _ = tx.send(reply);
                });
                rx.await.unwrap_or(failed)
            }
            read => {
                let store = self.clone();
                let failed = StoreReply::failed(
                    &read,
                    StoreError::Io {
                        op: "read task",
                        source: std::sync::Arc::new(std::io::Error::other(
                            "the blocking read task did not finish",
                        )),
                    },
                );
                tokio::task::spawn_blocking(move || store.execute(read))
                    .await
                    .unwrap_or(failed)
            }
        }
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]

    use super::*;
    use crate::types::StoreConfig;

    fn ring(account: &AccountKey) -> u64 {
        u64::from(account.as_bytes()[0]) << 56
    }

    fn open(dir: &tempfile::TempDir) -> Store {
        Store::open(StoreConfig::new(dir.path().join("s.sqlite"), ring)).expect("open")
    }

    fn msg(hash: u8) -> NewMessage {
        NewMessage {
            account: AccountKey::new([1; 32]),
            namespace: 0,
            hash: MessageHash::new([hash; 32]),
            data: vec![hash; 10],
            now_ms: 1_000,
            expiry_ms: 10_000,
        }
    }

    fn retrieve_all() -> StoreCommand {
        StoreCommand::Retrieve {
            account: AccountKey::new([1; 32]),
            namespace: 0,
            after_seq: 0,
            now_ms: 2_000,
            max_messages: 100,
            max_bytes: 1 << 20,
        }
    }

    #[test]
    fn execute_through_the_trait_stores_and_retrieves() {
        let dir = tempfile::tempdir().unwrap();
        let store = open(&dir);
        let StoreReply::Stored(Ok(outcome)) = store.execute(StoreCommand::Store(msg(7))) else {
            panic!("store failed");
        };
        let StoreReply::Messages(Ok(got)) = store.execute(retrieve_all()) else {
            panic!("retrieve failed");
        };
        assert_eq!(got.len(), 1);
        assert_eq!(got[0].seq, outcome.seq());
        assert_eq!(got[0].hash, MessageHash::new([7; 32]));
    }

    #[test]
    fn execute_async_gives_the_same_replies_as_execute() {
        let dir = tempfile::tempdir().unwrap();
        let store = open(&dir);
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        rt.block_on(async {
            let StoreReply::Stored(Ok(first)) =
                store.execute_async(StoreCommand::Store(msg(3))).await
            else {
                panic!("store failed");
            };
            let StoreReply::Stored(Ok(again)) =
                store.execute_async(StoreCommand::Store(msg(3))).await
            else {
                panic!("duplicate store failed");
            };
            assert!(matches!(again, StoreOutcome::AlreadyStored { .. }));
            assert_eq!(again.seq(), first.seq());
            let StoreReply::Messages(Ok(got)) = store.execute_async(retrieve_all()).await else {
                panic!("retrieve failed");
            };
            assert_eq!(got.len(), 1);
            let StoreReply::Count(Ok(deleted)) = store
                .execute_async(StoreCommand::Delete {
                    account: AccountKey::new([1; 32]),
                    namespace: 0,
                    hashes: vec![MessageHash::new([3; 32])],
                    now_ms: 2_000,
                    tombstone_ttl_ms: 5_000,
                })
                .await
            else {
                panic!("delete failed");
            };
            assert_eq!(deleted, 1);
        });
        let StoreReply::Messages(Ok(left)) = store.execute(retrieve_all()) else {
            panic!("retrieve failed");
        };
        assert!(left.is_empty());
        assert!(matches!(
            store.execute(StoreCommand::Store(msg(3))),
            StoreReply::Stored(Ok(StoreOutcome::Tombstoned))
        ));
    }

    #[test]
    fn writes_after_shutdown_answer_writer_gone() {
        let dir = tempfile::tempdir().unwrap();
        let store = open(&dir);
        store.shutdown();
        assert!(matches!(
            store.execute(StoreCommand::Store(msg(1))),
            StoreReply::Stored(Err(StoreError::WriterGone))
        ));
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        let reply = rt.block_on(store.execute_async(StoreCommand::Purge { now_ms: 1 }));
        assert!(matches!(
            reply,
            StoreReply::Count(Err(StoreError::WriterGone))
        ));
    }
}
