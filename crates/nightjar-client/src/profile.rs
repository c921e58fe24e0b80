//! A profile: one account's keys and local history in a directory.
//!
//! Layout (see `docs/CLI.md`):
//! - `identity.key` — the account seed, encrypted (`nightjar-keystore`), mode 0600;
//! - `history.sqlite` — the local history. Every message record (sender or
//!   recipient, text, times) is encrypted with the profile's
//!   [`LocalCipher`]; only message hashes, directions and read cursors are
//!   stored in the clear. The directory itself is mode 0700.

use std::path::{Path, PathBuf};

use nightjar_crypto::at_rest::LocalCipher;
use nightjar_crypto::identity::{AccountId, Identity};
use rusqlite::{Connection, OptionalExtension, params};
use serde::{Deserialize, Serialize};

use crate::ClientError;

/// File name of the key file inside a profile.
pub const IDENTITY_FILE: &str = "identity.key";
/// File name of the history database inside a profile.
pub const HISTORY_FILE: &str = "history.sqlite";
/// Schema version of the history database.
const SCHEMA_VERSION: i64 = 1;

/// Which way a message went.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Direction {
    /// Received by this account.
    In,
    /// Sent by this account.
    Out,
}

/// A message as the history keeps it (the decrypted form of a record).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct HistoryRecord {
    /// Message ID: hex of the node's message hash.
    pub message_id: String,
    /// Which way it went.
    pub direction: Direction,
    /// The other party's Account ID.
    pub peer: String,
    /// The text.
    pub text: String,
    /// The sender's clock when it was sent, Unix ms.
    pub sent_at_ms: u64,
}

/// An open profile.
pub struct Profile {
    dir: PathBuf,
    identity: Identity,
    cipher: LocalCipher,
    db: Connection,
}

impl std::fmt::Debug for Profile {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Profile")
            .field("dir", &self.dir)
            .field("account", &self.identity.account_id())
            .finish_non_exhaustive()
    }
}

fn io_err(path: &Path) -> impl FnOnce(std::io::Error) -> ClientError + '_ {
    move |source| ClientError::Io {
        path: path.to_path_buf(),
        source,
    }
}

fn db_err(what: &'static str) -> impl FnOnce(rusqlite::Error) -> ClientError {
    move |source| ClientError::History { what, source }
}

impl Profile {
    /// Whether `dir` already holds an account.
    pub fn exists(dir: &Path) -> bool {
        dir.join(IDENTITY_FILE).exists()
    }

    /// Create a profile in `dir` for `identity`. Refuses if `dir` already holds one.
    pub fn create(
        dir: &Path,
        identity: Identity,
        passphrase: Option<&[u8]>,
    ) -> Result<Profile, ClientError> {
        if Self::exists(dir) {
            return Err(ClientError::ProfileExists(dir.to_path_buf()));
        }
        std::fs::create_dir_all(dir).map_err(io_err(dir))?;
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            std::fs::set_permissions(dir, std::fs::Permissions::from_mode(0o700))
                .map_err(io_err(dir))?;
        }
        // A previous account's history must not be read with the new key.
        let history = dir.join(HISTORY_FILE);
        for suffix in ["", "-wal", "-shm"] {
            let p = PathBuf::from(format!("{}{suffix}", history.display()));
            if p.exists() {
                std::fs::remove_file(&p).map_err(io_err(&p))?;
            }
        }
        nightjar_keystore::create(&dir.join(IDENTITY_FILE), identity.seed(), passphrase)?;
        Self::with_identity(dir, identity)
    }

    /// Open the profile in `dir`.
    pub fn open(dir: &Path, passphrase: Option<&[u8]>) -> Result<Profile, ClientError> {
        let path = dir.join(IDENTITY_FILE);
        if !path.exists() {
            return Err(ClientError::NoProfile(dir.to_path_buf()));
        }
        let identity = nightjar_keystore::load(&path, passphrase)?;
        Self::with_identity(dir, identity)
    }

    fn with_identity(dir: &Path, identity: Identity) -> Result<Profile, ClientError> {
        let db = Connection::open(dir.join(HISTORY_FILE)).map_err(db_err("open"))?;
        db.busy_timeout(std::time::Duration::from_secs(10))
            .map_err(db_err("busy timeout"))?;
        db.pragma_update(None, "journal_mode", "WAL")
            .map_err(db_err("journal mode"))?;
        db.pragma_update(None, "synchronous", "FULL")
            .map_err(db_err("synchronous"))?;
        let version: i64 = db
            .pragma_query_value(None, "user_version", |r| r.get(0))
            .map_err(db_err("schema version"))?;
        match version {
            0 => {
                db.execute_batch(
                    "BEGIN;
                     CREATE TABLE IF NOT EXISTS cursors (
                         node_id BLOB NOT NULL, namespace INTEGER NOT NULL, seq INTEGER NOT NULL,
                         PRIMARY KEY (node_id, namespace));
                     CREATE TABLE IF NOT EXISTS messages (
                         id INTEGER PRIMARY KEY AUTOINCREMENT,
                         hash BLOB NOT NULL UNIQUE,
                         direction INTEGER NOT NULL,
                         shown INTEGER NOT NULL DEFAULT 0,
                         record BLOB);
                     PRAGMA user_version = 1;
                     COMMIT;",
                )
                .map_err(db_err("create schema"))?;
            }
            SCHEMA_VERSION => {}
            other => return Err(ClientError::UnsupportedHistory(other)),
        }
        let cipher = LocalCipher::from_seed(identity.seed());
        Ok(Profile {
            dir: dir.to_path_buf(),
            identity,
            cipher,
            db,
        })
    }

    /// The profile's directory.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// The account's identity.
    pub fn identity(&self) -> &Identity {
        &self.identity
    }

    /// The account's ID.
    pub fn account_id(&self) -> AccountId {
        self.identity.account_id()
    }

    fn aad(hash: &[u8; 32]) -> Vec<u8> {
        let mut aad = b"nightjar/history/v1".to_vec();
        aad.extend_from_slice(hash);
        aad
    }

    /// The read cursor for a node's mailbox.
    pub fn cursor(&self, node: &[u8; 32], namespace: u16) -> Result<u64, ClientError> {
        let seq: Option<i64> = self
            .db
            .query_row(
                "SELECT seq FROM cursors WHERE node_id = ?1 AND namespace = ?2",
                params![node.as_slice(), namespace],
                |r| r.get(0),
            )
            .optional()
            .map_err(db_err("read cursor"))?;
        Ok(seq.and_then(|s| u64::try_from(s).ok()).unwrap_or(0))
    }

    /// Whether the history already has this message (in either direction, or rejected).
    pub fn knows(&self, hash: &[u8; 32]) -> Result<bool, ClientError> {
        self.db
            .query_row(
                "SELECT 1 FROM messages WHERE hash = ?1",
                params![hash.as_slice()],
                |_| Ok(()),
            )
            .optional()
            .map(|o| o.is_some())
            .map_err(db_err("look up message"))
    }

    /// Record what one retrieve brought: new incoming messages (not yet shown),
    /// hashes of envelopes that failed to open (so they are not tried again),
    /// and the new cursor — all in one transaction.
    pub fn record_incoming(
        &mut self,
        node: &[u8; 32],
        namespace: u16,
        cursor: u64,
        received: &[([u8; 32], HistoryRecord)],
        rejected: &[[u8; 32]],
    ) -> Result<(), ClientError> {
        let mut sealed = Vec::with_capacity(received.len());
        for (hash, record) in received {
            sealed.push((hash, self.seal_record(hash, record)?));
        }
        let cursor = i64::try_from(cursor)
            .map_err(|_| ClientError::Protocol("cursor out of range".into()))?;
        let tx = self.db.transaction().map_err(db_err("begin"))?;
        for (hash, blob) in sealed {
            tx.execute(
                "INSERT OR IGNORE INTO messages (hash, direction, shown, record) VALUES (?1, 0, 0, ?2)",
                params![hash.as_slice(), blob],
            )
            .map_err(db_err("insert message"))?;
        }
        for hash in rejected {
            tx.execute(
                "INSERT OR IGNORE INTO messages (hash, direction, shown, record) VALUES (?1, 0, 1, NULL)",
                params![hash.as_slice()],
            )
            .map_err(db_err("insert rejected"))?;
        }
        tx.execute(
            "INSERT INTO cursors (node_id, namespace, seq) VALUES (?1, ?2, ?3)
             ON CONFLICT (node_id, namespace) DO UPDATE SET seq = max(seq, excluded.seq)",
            params![node.as_slice(), namespace, cursor],
        )
        .map_err(db_err("update cursor"))?;
        tx.commit().map_err(db_err("commit"))
    }

    /// Record a message this account sent.
    pub fn record_sent(
        &mut self,
        hash: &[u8; 32],
        record: &HistoryRecord,
    ) -> Result<(), ClientError> {
        let blob = self.seal_record(hash, record)?;
        self.db
            .execute(
                "INSERT OR IGNORE INTO messages (hash, direction, shown, record) VALUES (?1, 1, 1, ?2)",
                params![hash.as_slice(), blob],
            )
            .map_err(db_err("insert sent"))?;
        Ok(())
    }

    /// Incoming messages not yet shown, oldest first.
    pub fn unshown(&self) -> Result<Vec<HistoryRecord>, ClientError> {
        self.records("direction = 0 AND shown = 0 AND record IS NOT NULL")
    }

    /// Mark messages as shown, so `inbox` prints each once.
    pub fn mark_shown(&mut self, message_ids: &[String]) -> Result<(), ClientError> {
        let tx = self.db.transaction().map_err(db_err("begin"))?;
        for id in message_ids {
            let Ok(hash) = hex::decode(id) else { continue };
            tx.execute(
                "UPDATE messages SET shown = 1 WHERE hash = ?1",
                params![hash],
            )
            .map_err(db_err("mark shown"))?;
        }
        tx.commit().map_err(db_err("commit"))
    }

    /// The whole conversation history, oldest first.
    pub fn history(&self) -> Result<Vec<HistoryRecord>, ClientError> {
        self.records("record IS NOT NULL")
    }

    /// The decrypted records of the rows matching `condition` (a fixed SQL
    /// expression from this module, never user input), oldest first.
    fn records(&self, condition: &str) -> Result<Vec<HistoryRecord>, ClientError> {
        let sql = format!("SELECT hash, record FROM messages WHERE {condition} ORDER BY id");
        let mut stmt = self
            .db
            .prepare(&sql)
            .map_err(db_err("prepare history read"))?;
        let rows = stmt
            .query_map([], |r| {
                Ok((r.get::<_, Vec<u8>>(0)?, r.get::<_, Vec<u8>>(1)?))
            })
            .map_err(db_err("read history"))?;
        let mut out = Vec::new();
        for row in rows {
            let (hash, blob) = row.map_err(db_err("read history"))?;
            let hash: [u8; 32] = hash
                .try_into()
                .map_err(|_| ClientError::Protocol("history holds a malformed hash".into()))?;
            out.push(self.open_record(&hash, &blob)?);
        }
        Ok(out)
    }

    fn seal_record(&self, hash: &[u8; 32], record: &HistoryRecord) -> Result<Vec<u8>, ClientError> {
        let json = zeroize::Zeroizing::new(
            serde_json::to_vec(record).map_err(|e| ClientError::Protocol(e.to_string()))?,
        );
        Ok(self.cipher.encrypt(&Self::aad(hash), &json)?)
    }

    fn open_record(&self, hash: &[u8; 32], blob: &[u8]) -> Result<HistoryRecord, ClientError> {
        let json = self.cipher.decrypt(&Self::aad(hash), blob)?;
        serde_json::from_slice(&json)
            .map_err(|e| ClientError::Protocol(format!("history record does not decode: {e}")))
    }
}
