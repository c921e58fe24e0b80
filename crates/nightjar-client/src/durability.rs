//! When the profile's writes reach the disk: most commits are durable when
//! they return (`synchronous=FULL`: the write-ahead log is synced), but
//! what a retrieve brought is committed *deferred* and synced just after.
//!
//! A deferred commit is written to the write-ahead log and survives the
//! process crashing at once; only a power cut before the next sync can
//! undo it. Every deferred write carries the read cursor that brought it
//! (v1 messages, v2 envelopes with the session they advanced, a cursor that
//! moved), so what such a cut undoes is undone whole: the cursor goes back
//! with the messages, and the next retrieve brings them again from the
//! swarm, which keeps them until they expire. The log is a single file
//! written in order, so a sync (or any durable commit after it) makes every
//! earlier deferred commit durable too, and a cut keeps a prefix of the
//! commits, never a hole.
//!
//! The deferred window ends at [`Profile::sync`]: when the messages are
//! marked shown ([`Profile::mark_shown`], which every caller of
//! [`crate::Client::inbox`] does once it has displayed them), before this
//! device deletes anything it read from the swarm (the swarm's copy is what
//! a cut would need), and when the profile is dropped. What must be durable
//! before something leaves this device (a session before its envelope is
//! sent, prekeys before they are published) is never deferred.
//!
//! Why: a retrieve's answer used to wait for its own sync before `inbox`
//! returned, on the path from a send to the message reaching its reader.
//!
//! Not here: what is written (see `profile` and `device_state`).

use rusqlite::Transaction;

use crate::ClientError;
use crate::profile::{Profile, db_err, io_err};

impl Profile {
    /// Runs `write` in one transaction committed without a sync (see the
    /// module doc for which writes may be). The connection is back to
    /// syncing every commit when this returns, whether or not `write`
    /// succeeded.
    pub(crate) fn write_deferred<T>(
        &mut self,
        write: impl FnOnce(&Transaction<'_>) -> Result<T, ClientError>,
    ) -> Result<T, ClientError> {
        self.db
            .pragma_update(None, "synchronous", "NORMAL")
            .map_err(db_err("synchronous"))?;
        let changes = self.db.total_changes();
        let result = (|| -> Result<T, ClientError> {
            let tx = self.db.transaction().map_err(db_err("begin"))?;
            let out = write(&tx)?;
            tx.commit().map_err(db_err("commit"))?;
            Ok(out)
        })();
        let restored = self
            .db
            .pragma_update(None, "synchronous", "FULL")
            .map_err(db_err("synchronous"));
        let out = result?;
        // A transaction that changed no row (a cursor that did not move)
        // left nothing to sync.
        self.unsynced |= self.db.total_changes() != changes;
        restored?;
        Ok(out)
    }

    /// Makes every deferred commit durable (syncs the write-ahead log);
    /// nothing to do when there is none.
    pub fn sync(&mut self) -> Result<(), ClientError> {
        if !self.unsynced {
            return Ok(());
        }
        let wal = self.wal_path();
        match std::fs::File::open(&wal) {
            // fsync covers the file, whichever descriptor wrote it.
            Ok(file) => file.sync_data().map_err(io_err(&wal))?,
            // Checkpointed and removed: SQLite synced it before copying it
            // into the database, and synced the database after.
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
            Err(e) => return Err(io_err(&wal)(e)),
        }
        self.unsynced = false;
        Ok(())
    }

    /// Whether a deferred commit has not been synced yet.
    pub fn has_unsynced(&self) -> bool {
        self.unsynced
    }

    /// The history database's write-ahead log.
    fn wal_path(&self) -> std::path::PathBuf {
        let mut name = std::ffi::OsString::from(crate::profile::HISTORY_FILE);
        name.push("-wal");
        self.dir().join(name)
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use nightjar_crypto::identity::Identity;

    fn synchronous(profile: &Profile) -> i64 {
        profile
            .db
            .pragma_query_value(None, "synchronous", |r| r.get(0))
            .unwrap()
    }

    #[test]
    fn a_deferred_write_commits_and_leaves_the_connection_syncing_every_commit() {
        let dir = tempfile::tempdir().unwrap();
        let mut p =
            Profile::create(&dir.path().join("p"), Identity::generate().unwrap(), None).unwrap();
        assert_eq!(synchronous(&p), 2, "FULL");
        p.write_deferred(|tx| {
            tx.execute("INSERT INTO envelopes (hash) VALUES (x'01')", [])
                .map_err(db_err("insert"))
        })
        .unwrap();
        assert_eq!(synchronous(&p), 2, "back to FULL after the deferred commit");
        assert!(p.has_unsynced());
        let n: i64 =
            p.db.query_row("SELECT count(*) FROM envelopes", [], |r| r.get(0))
                .unwrap();
        assert_eq!(n, 1, "the deferred write was committed");
        p.sync().unwrap();
        assert!(!p.has_unsynced());
    }

    #[test]
    fn a_failed_deferred_write_rolls_back_and_still_restores_full_sync() {
        let dir = tempfile::tempdir().unwrap();
        let mut p =
            Profile::create(&dir.path().join("p"), Identity::generate().unwrap(), None).unwrap();
        let err = p.write_deferred(|tx| {
            tx.execute("INSERT INTO envelopes (hash) VALUES (x'02')", [])
                .map_err(db_err("insert"))?;
            tx.execute("INSERT INTO no_such_table VALUES (1)", [])
                .map_err(db_err("insert"))
        });
        assert!(err.is_err());
        assert_eq!(synchronous(&p), 2);
        assert!(!p.has_unsynced(), "nothing was committed");
        let n: i64 =
            p.db.query_row("SELECT count(*) FROM envelopes", [], |r| r.get(0))
                .unwrap();
        assert_eq!(n, 0, "the failed transaction left nothing");
    }

    #[test]
    fn marking_messages_shown_syncs_what_a_retrieve_deferred() {
        let dir = tempfile::tempdir().unwrap();
        let mut p =
            Profile::create(&dir.path().join("p"), Identity::generate().unwrap(), None).unwrap();
        let node = nightjar_types::NodeKey::new([7; 32]);
        p.record_incoming(&node, 0, 5, &[], &[]).unwrap();
        assert!(p.has_unsynced(), "a moved cursor is a deferred write");
        p.mark_shown(&[]).unwrap();
        assert!(!p.has_unsynced());
        p.record_incoming(&node, 0, 5, &[], &[]).unwrap();
        assert!(
            !p.has_unsynced(),
            "a cursor that did not move wrote nothing"
        );
    }
}
