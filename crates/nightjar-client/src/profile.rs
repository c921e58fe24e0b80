//! A profile: one account's keys and local history in a directory.
//!
//! Layout (see `docs/CLI.md`):
//! - `identity.key` — the account seed, encrypted (`nightjar-keystore`), mode 0600;
//! - `history.sqlite` — the local history. Every message record (sender or
//!   recipient, text, times) is encrypted with the profile's
//!   [`LocalCipher`]; only message hashes, directions and read cursors are
//!   stored in the clear. The same database holds a small key-value `state`
//!   table (guards, the cached registry snapshot) whose values are encrypted
//!   the same way, bound to their key name. The directory itself is mode 0700.

use std::path::{Path, PathBuf};

use nightjar_crypto::at_rest::LocalCipher;
use nightjar_crypto::identity::{AccountId, Identity};
use nightjar_types::{MessageHash, NodeKey};
use rusqlite::{Connection, OptionalExtension, params};
use serde::{Deserialize, Serialize};

use crate::ClientError;

/// File name of the key file inside a profile.
pub const IDENTITY_FILE: &str = "identity.key";
/// File name of the history database inside a profile.
pub const HISTORY_FILE: &str = "history.sqlite";
/// Schema version of the history database: 1 had `cursors` and `messages`;
/// 2 added `state`; 3 added messages v2's `sessions`, `handshakes` and
/// `envelopes`, and `messages.expires_at`. Older databases are migrated when
/// opened.
const SCHEMA_VERSION: i64 = 3;

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
    /// The message's version: 1 (sealed to the account, §3) or 2 (a
    /// messages-v2 session between devices). Left out of the JSON when 1.
    #[serde(default = "version_1", skip_serializing_if = "is_version_1")]
    pub version: u8,
    /// The disappearing timer it was sent with, if any.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub timer: Option<crate::messaging::Timer>,
    /// When it disappears from this device, Unix ms: set when it is sent or
    /// received (timer after sending) or first shown (timer after reading).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub expires_at_ms: Option<u64>,
}

fn version_1() -> u8 {
    1
}

fn is_version_1(v: &u8) -> bool {
    *v == 1
}

/// The start of a history record's associated data (`docs/PROTOCOL.md` §9.2).
const RECORD_AAD_LABEL: &[u8] = b"nightjar/history/v1";

/// A history record's associated data: `"nightjar/history/v1" ‖ hash`, 51
/// bytes, with no length prefix or separator (the hash is always 32 bytes).
fn record_aad(hash: &MessageHash) -> Vec<u8> {
    let mut aad = RECORD_AAD_LABEL.to_vec();
    aad.extend_from_slice(hash.as_bytes());
    aad
}

/// A history record's plaintext: compact JSON (no whitespace), members in
/// the order of [`HistoryRecord`]'s fields, strings escaped only where JSON
/// requires it.
fn record_json(record: &HistoryRecord) -> Result<zeroize::Zeroizing<Vec<u8>>, ClientError> {
    serde_json::to_vec(record)
        .map(zeroize::Zeroizing::new)
        .map_err(|e| ClientError::Protocol(e.to_string()))
}

/// Decrypts a history record sealed for `hash` and decodes its JSON.
fn open_record_with(
    cipher: &LocalCipher,
    hash: &MessageHash,
    blob: &[u8],
) -> Result<HistoryRecord, ClientError> {
    let json = cipher.decrypt(&record_aad(hash), blob)?;
    serde_json::from_slice(&json)
        .map_err(|e| ClientError::Protocol(format!("history record does not decode: {e}")))
}

/// An open profile.
pub struct Profile {
    dir: PathBuf,
    identity: Identity,
    pub(crate) cipher: LocalCipher,
    pub(crate) db: Connection,
    /// A deferred commit has not been synced yet (see `durability`).
    pub(crate) unsynced: bool,
}

impl Drop for Profile {
    fn drop(&mut self) {
        if let Err(e) = self.sync() {
            tracing::warn!(error = %e, "could not sync the history on close");
        }
    }
}

impl std::fmt::Debug for Profile {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Profile")
            .field("dir", &self.dir)
            .field("account", &self.identity.account_id())
            .finish_non_exhaustive()
    }
}

pub(crate) fn io_err(path: &Path) -> impl FnOnce(std::io::Error) -> ClientError + '_ {
    move |source| ClientError::Io {
        path: path.to_path_buf(),
        source,
    }
}

pub(crate) fn db_err(what: &'static str) -> impl FnOnce(rusqlite::Error) -> ClientError {
    move |source| ClientError::History { what, source }
}

/// Bring the database to [`SCHEMA_VERSION`], one step at a time, in one
/// immediate transaction (so two processes opening the same old profile do
/// not both migrate it).
fn migrate(db: &Connection) -> Result<(), ClientError> {
    db.execute_batch("BEGIN IMMEDIATE")
        .map_err(db_err("begin migration"))?;
    let result = migrate_steps(db);
    let end = if result.is_ok() { "COMMIT" } else { "ROLLBACK" };
    let ended = db.execute_batch(end).map_err(db_err("end migration"));
    result.and(ended)
}

fn migrate_steps(db: &Connection) -> Result<(), ClientError> {
    let version: i64 = db
        .pragma_query_value(None, "user_version", |r| r.get(0))
        .map_err(db_err("schema version"))?;
    if !(0..=SCHEMA_VERSION).contains(&version) {
        return Err(ClientError::UnsupportedHistory(version));
    }
    if version < 1 {
        db.execute_batch(
            "CREATE TABLE IF NOT EXISTS cursors (
                 node_id BLOB NOT NULL, namespace INTEGER NOT NULL, seq INTEGER NOT NULL,
                 PRIMARY KEY (node_id, namespace));
             CREATE TABLE IF NOT EXISTS messages (
                 id INTEGER PRIMARY KEY AUTOINCREMENT,
                 hash BLOB NOT NULL UNIQUE,
                 direction INTEGER NOT NULL,
                 shown INTEGER NOT NULL DEFAULT 0,
                 record BLOB);",
        )
        .map_err(db_err("create schema"))?;
    }
    if version < 2 {
        db.execute_batch(
            "CREATE TABLE IF NOT EXISTS state (key TEXT PRIMARY KEY, value BLOB NOT NULL);",
        )
        .map_err(db_err("add state table"))?;
    }
    if version < 3 {
        db.execute_batch(
            "CREATE TABLE IF NOT EXISTS sessions (
                 peer_account BLOB NOT NULL, peer_device BLOB NOT NULL, state BLOB NOT NULL,
                 PRIMARY KEY (peer_account, peer_device));
             CREATE TABLE IF NOT EXISTS handshakes (id BLOB PRIMARY KEY, seen_at_ms INTEGER NOT NULL);
             CREATE TABLE IF NOT EXISTS envelopes (hash BLOB PRIMARY KEY);
             ALTER TABLE messages ADD COLUMN expires_at INTEGER;
             CREATE INDEX IF NOT EXISTS messages_by_expiry ON messages (expires_at)
                 WHERE expires_at IS NOT NULL;",
        )
        .map_err(db_err("add messages v2 tables"))?;
    }
    if version != SCHEMA_VERSION {
        db.pragma_update(None, "user_version", SCHEMA_VERSION)
            .map_err(db_err("set schema version"))?;
    }
    Ok(())
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
        // Deleted rows (disappeared messages, replaced sessions) are
        // overwritten, not left in free pages.
        db.pragma_update(None, "secure_delete", "ON")
            .map_err(db_err("secure delete"))?;
        migrate(&db)?;
        let cipher = LocalCipher::from_seed(identity.seed());
        Ok(Profile {
            dir: dir.to_path_buf(),
            identity,
            cipher,
            db,
            unsynced: false,
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

    fn state_aad(key: &str) -> Vec<u8> {
        let mut aad = b"nightjar/state/v1\0".to_vec();
        aad.extend_from_slice(key.as_bytes());
        aad
    }

    /// The value saved under `key` in the profile's state table (decrypted),
    /// or `None` if there is none. A value that does not decrypt (damaged,
    /// or from another account) is an error.
    pub fn load_state(&self, key: &str) -> Result<Option<Vec<u8>>, ClientError> {
        let blob: Option<Vec<u8>> = self
            .db
            .query_row(
                "SELECT value FROM state WHERE key = ?1",
                params![key],
                |r| r.get(0),
            )
            .optional()
            .map_err(db_err("read state"))?;
        match blob {
            None => Ok(None),
            Some(blob) => {
                let value = self.cipher.decrypt(&Self::state_aad(key), &blob)?;
                Ok(Some(value.to_vec()))
            }
        }
    }

    /// Save `value` under `key` in the profile's state table (replacing any
    /// previous value), encrypted with the profile's at-rest key and bound to
    /// `key`, so a value cannot be moved to another key unnoticed.
    pub fn save_state(&mut self, key: &str, value: &[u8]) -> Result<(), ClientError> {
        let blob = self.cipher.encrypt(&Self::state_aad(key), value)?;
        self.db
            .execute(
                "INSERT INTO state (key, value) VALUES (?1, ?2)
                 ON CONFLICT (key) DO UPDATE SET value = excluded.value",
                params![key, blob],
            )
            .map_err(db_err("write state"))?;
        Ok(())
    }

    /// The read cursor for a node's mailbox.
    pub fn cursor(&self, node: &NodeKey, namespace: u16) -> Result<u64, ClientError> {
        let seq: Option<i64> = self
            .db
            .query_row(
                "SELECT seq FROM cursors WHERE node_id = ?1 AND namespace = ?2",
                params![node.as_bytes().as_slice(), namespace],
                |r| r.get(0),
            )
            .optional()
            .map_err(db_err("read cursor"))?;
        Ok(seq.and_then(|s| u64::try_from(s).ok()).unwrap_or(0))
    }

    /// Whether the history already has this message (in either direction, or rejected).
    pub fn knows(&self, hash: &MessageHash) -> Result<bool, ClientError> {
        self.db
            .query_row(
                "SELECT 1 FROM messages WHERE hash = ?1",
                params![hash.as_bytes().as_slice()],
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
        node: &NodeKey,
        namespace: u16,
        cursor: u64,
        received: &[(MessageHash, HistoryRecord)],
        rejected: &[MessageHash],
    ) -> Result<(), ClientError> {
        let mut sealed = Vec::with_capacity(received.len());
        for (hash, record) in received {
            sealed.push((hash, self.seal_record(hash, record)?));
        }
        // Deferred: the cursor goes with the messages (see `durability`).
        self.write_deferred(|tx| {
            for (hash, blob) in sealed {
                tx.execute(
                    "INSERT OR IGNORE INTO messages (hash, direction, shown, record) VALUES (?1, 0, 0, ?2)",
                    params![hash.as_bytes().as_slice(), blob],
                )
                .map_err(db_err("insert message"))?;
            }
            for hash in rejected {
                tx.execute(
                    "INSERT OR IGNORE INTO messages (hash, direction, shown, record) VALUES (?1, 0, 1, NULL)",
                    params![hash.as_bytes().as_slice()],
                )
                .map_err(db_err("insert rejected"))?;
            }
            save_cursor(tx, node, namespace, cursor)
        })
    }

    /// Record a message this account sent.
    pub fn record_sent(
        &mut self,
        hash: &MessageHash,
        record: &HistoryRecord,
    ) -> Result<(), ClientError> {
        let blob = self.seal_record(hash, record)?;
        self.db
            .execute(
                "INSERT OR IGNORE INTO messages (hash, direction, shown, record) VALUES (?1, 1, 1, ?2)",
                params![hash.as_bytes().as_slice(), blob],
            )
            .map_err(db_err("insert sent"))?;
        Ok(())
    }

    /// Messages not yet shown, oldest first: incoming ones, and copies of
    /// what this account's other devices sent.
    pub fn unshown(&self) -> Result<Vec<HistoryRecord>, ClientError> {
        self.records("shown = 0 AND record IS NOT NULL")
    }

    /// Mark messages as shown, so `inbox` prints each once; also makes
    /// every deferred commit durable ([`Profile::sync`]).
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
        tx.commit().map_err(db_err("commit"))?;
        // Shown, so kept: what the retrieves deferred is synced now.
        self.sync()
    }

    /// The whole conversation history, oldest first.
    pub fn history(&self) -> Result<Vec<HistoryRecord>, ClientError> {
        self.records("record IS NOT NULL")
    }

    /// The decrypted records of the rows matching `condition` (a fixed SQL
    /// expression from this module, never user input), oldest first.
    fn records(&self, condition: &str) -> Result<Vec<HistoryRecord>, ClientError> {
        Ok(self
            .records_shown(condition)?
            .into_iter()
            .map(|(record, _)| record)
            .collect())
    }

    /// The decrypted records of the rows matching `condition` (a fixed SQL
    /// expression from this crate, never user input), oldest first, each
    /// with whether it has been shown.
    pub(crate) fn records_shown(
        &self,
        condition: &str,
    ) -> Result<Vec<(HistoryRecord, bool)>, ClientError> {
        let sql = format!("SELECT hash, record, shown FROM messages WHERE {condition} ORDER BY id");
        let mut stmt = self
            .db
            .prepare(&sql)
            .map_err(db_err("prepare history read"))?;
        let rows = stmt
            .query_map([], |r| {
                Ok((
                    r.get::<_, Vec<u8>>(0)?,
                    r.get::<_, Vec<u8>>(1)?,
                    r.get::<_, bool>(2)?,
                ))
            })
            .map_err(db_err("read history"))?;
        let mut out = Vec::new();
        for row in rows {
            let (hash, blob, shown) = row.map_err(db_err("read history"))?;
            let hash: [u8; 32] = hash
                .try_into()
                .map_err(|_| ClientError::Protocol("history holds a malformed hash".into()))?;
            let hash = MessageHash::new(hash);
            out.push((self.open_record(&hash, &blob)?, shown));
        }
        Ok(out)
    }

    fn seal_record(
        &self,
        hash: &MessageHash,
        record: &HistoryRecord,
    ) -> Result<Vec<u8>, ClientError> {
        let json = record_json(record)?;
        Ok(self.cipher.encrypt(&record_aad(hash), &json)?)
    }

    fn open_record(&self, hash: &MessageHash, blob: &[u8]) -> Result<HistoryRecord, ClientError> {
        open_record_with(&self.cipher, hash, blob)
    }

    /// A history record sealed for its row (`hash`), as the database keeps it.
    pub(crate) fn seal_history_record(
        &self,
        hash: &MessageHash,
        record: &HistoryRecord,
    ) -> Result<Vec<u8>, ClientError> {
        self.seal_record(hash, record)
    }

    /// A state value sealed for its key, as the `state` table keeps it.
    pub(crate) fn seal_state(&self, key: &str, value: &[u8]) -> Result<Vec<u8>, ClientError> {
        Ok(self.cipher.encrypt(&Self::state_aad(key), value)?)
    }

    /// The history record of one row, if it has one.
    pub(crate) fn history_record(
        &self,
        hash: &MessageHash,
    ) -> Result<Option<HistoryRecord>, ClientError> {
        let blob: Option<Option<Vec<u8>>> = self
            .db
            .query_row(
                "SELECT record FROM messages WHERE hash = ?1",
                params![hash.as_bytes().as_slice()],
                |r| r.get(0),
            )
            .optional()
            .map_err(db_err("read message"))?;
        match blob.flatten() {
            None => Ok(None),
            Some(blob) => self.open_record(hash, &blob).map(Some),
        }
    }
}

/// Moves the read cursor of `node`'s mailbox `namespace` forward to
/// `cursor` (never back), inside the caller's transaction; a cursor that
/// does not move changes no row (a retrieve that brought nothing commits
/// nothing).
pub(crate) fn save_cursor(
    tx: &rusqlite::Transaction<'_>,
    node: &NodeKey,
    namespace: u16,
    cursor: u64,
) -> Result<(), ClientError> {
    let cursor =
        i64::try_from(cursor).map_err(|_| ClientError::Protocol("cursor out of range".into()))?;
    tx.execute(
        "INSERT INTO cursors (node_id, namespace, seq) VALUES (?1, ?2, ?3)
         ON CONFLICT (node_id, namespace) DO UPDATE SET seq = excluded.seq
         WHERE excluded.seq > cursors.seq",
        params![node.as_bytes().as_slice(), namespace, cursor],
    )
    .map_err(db_err("update cursor"))?;
    Ok(())
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    const SECRET: &[u8] = b"guard-node-7f3a9c-plaintext-marker";

    fn files_contain(dir: &Path, needle: &[u8]) -> bool {
        std::fs::read_dir(dir).unwrap().any(|e| {
            let bytes = std::fs::read(e.unwrap().path()).unwrap();
            bytes.windows(needle.len()).any(|w| w == needle)
        })
    }

    #[test]
    fn a_cursor_only_moves_forward_and_one_that_stays_writes_nothing() {
        let dir = tempfile::tempdir().unwrap();
        let mut p = Profile::create(dir.path(), Identity::generate().unwrap(), None).unwrap();
        let node = NodeKey::new([7; 32]);
        p.record_incoming(&node, 3, 10, &[], &[]).unwrap();
        assert_eq!(p.cursor(&node, 3).unwrap(), 10);
        let changes = p.db.total_changes();
        p.record_incoming(&node, 3, 10, &[], &[]).unwrap();
        p.record_incoming(&node, 3, 4, &[], &[]).unwrap();
        assert_eq!(
            p.db.total_changes(),
            changes,
            "nothing moved, nothing written"
        );
        assert_eq!(p.cursor(&node, 3).unwrap(), 10, "never back");
        p.record_incoming(&node, 3, 11, &[], &[]).unwrap();
        assert_eq!(p.cursor(&node, 3).unwrap(), 11);
        assert_eq!(p.cursor(&node, 4).unwrap(), 0, "per namespace");
    }

    #[test]
    fn state_values_round_trip_and_survive_reopening() {
        let dir = tempfile::tempdir().unwrap();
        let mut p = Profile::create(dir.path(), Identity::generate().unwrap(), None).unwrap();
        assert_eq!(p.load_state("guards").unwrap(), None);
        p.save_state("guards", SECRET).unwrap();
        p.save_state("registry", b"").unwrap();
        assert_eq!(p.load_state("guards").unwrap().as_deref(), Some(SECRET));
        assert_eq!(p.load_state("registry").unwrap().as_deref(), Some(&b""[..]));
        p.save_state("registry", b"v2").unwrap();
        assert_eq!(
            p.load_state("registry").unwrap().as_deref(),
            Some(&b"v2"[..])
        );
        drop(p);

        let p = Profile::open(dir.path(), None).unwrap();
        assert_eq!(p.load_state("guards").unwrap().as_deref(), Some(SECRET));
        assert_eq!(
            p.load_state("registry").unwrap().as_deref(),
            Some(&b"v2"[..])
        );
        assert_eq!(p.load_state("other").unwrap(), None);
        drop(p);
        assert!(
            !files_contain(dir.path(), SECRET),
            "state stored in plaintext"
        );
    }

    #[test]
    fn state_value_moved_to_another_key_does_not_open() {
        let dir = tempfile::tempdir().unwrap();
        let mut p = Profile::create(dir.path(), Identity::generate().unwrap(), None).unwrap();
        p.save_state("guards", SECRET).unwrap();
        p.db.execute(
            "INSERT INTO state (key, value) SELECT 'registry', value FROM state WHERE key = 'guards'",
            [],
        )
        .unwrap();
        assert!(p.load_state("registry").is_err());
    }

    #[test]
    fn a_version_1_profile_is_migrated_and_keeps_its_history() {
        let dir = tempfile::tempdir().unwrap();
        let identity = Identity::generate().unwrap();
        let to = identity.account_id();
        let mut p = Profile::create(dir.path(), identity, None).unwrap();
        let record = HistoryRecord {
            message_id: hex::encode([7u8; 32]),
            direction: Direction::Out,
            peer: to.to_string(),
            text: "before the upgrade".into(),
            sent_at_ms: 1,
            version: 1,
            timer: None,
            expires_at_ms: None,
        };
        p.record_sent(&MessageHash::new([7; 32]), &record).unwrap();
        drop(p);
        // Turn the database back into what version 1 wrote.
        let db = Connection::open(dir.path().join(HISTORY_FILE)).unwrap();
        db.execute_batch(
            "DROP TABLE state; DROP TABLE sessions; DROP TABLE handshakes; DROP TABLE envelopes;
             DROP INDEX messages_by_expiry; ALTER TABLE messages DROP COLUMN expires_at;
             PRAGMA user_version = 1;",
        )
        .unwrap();
        drop(db);

        let mut p = Profile::open(dir.path(), None).unwrap();
        assert_eq!(p.history().unwrap(), vec![record]);
        p.save_state("guards", b"x").unwrap();
        assert_eq!(p.load_state("guards").unwrap().as_deref(), Some(&b"x"[..]));
        let version: i64 =
            p.db.pragma_query_value(None, "user_version", |r| r.get(0))
                .unwrap();
        assert_eq!(version, SCHEMA_VERSION);
    }

    #[test]
    fn a_newer_schema_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        drop(Profile::create(dir.path(), Identity::generate().unwrap(), None).unwrap());
        let db = Connection::open(dir.path().join(HISTORY_FILE)).unwrap();
        db.execute_batch("PRAGMA user_version = 99;").unwrap();
        drop(db);
        assert!(matches!(
            Profile::open(dir.path(), None),
            Err(ClientError::UnsupportedHistory(99))
        ));
    }
}

/// `test-vectors/history_record.json` (`docs/PROTOCOL.md` §9.2): written by
/// the generator below, replayed against this module's record functions and
/// a real profile's history. `NIGHTJAR_REGEN_VECTORS=1` rewrites the file.
#[cfg(test)]
mod history_record_vectors {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use nightjar_crypto::CryptoError;
    use nightjar_crypto::identity::Seed;

    const FILE: &str = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../../test-vectors/history_record.json"
    );

    #[derive(Serialize, Deserialize)]
    struct VectorFile {
        description: String,
        cases: Vec<Case>,
    }

    #[derive(Serialize, Deserialize)]
    struct Case {
        name: String,
        /// The profile's seed: its history key (BLAKE2b-32 keyed with
        /// "nightjar/v1/local-store", `local_store.json`) reads the record.
        seed: String,
        message_hash: String,
        /// What the reader binds: "nightjar/history/v1" ‖ message_hash.
        aad: String,
        /// The JSON plaintext, in hex (it need not be UTF-8).
        plaintext: String,
        /// The record it decodes to, when it does.
        record: Option<HistoryRecord>,
        /// Whether `plaintext` is byte for byte what the client writes for `record`.
        canonical: bool,
        nonce: String,
        /// The seed whose key, and the associated data, the record was
        /// sealed with (the reader's own, except in cases that must not open).
        sealed_with_seed: String,
        sealed_with_aad: String,
        /// nonce ‖ XChaCha20-Poly1305(key of sealed_with_seed, nonce, plaintext, sealed_with_aad).
        blob: String,
        /// `null`, `decrypt_failed` or `does_not_decode`.
        error: Option<String>,
    }

    const SEED: [u8; 32] = [0x5e; 32];
    const OTHER_SEED: [u8; 32] = [0x6f; 32];
    const HASH: [u8; 32] = [0xa7; 32];
    const OTHER_HASH: [u8; 32] = [0xa8; 32];

    fn key_of(seed: [u8; 32]) -> LocalCipher {
        LocalCipher::from_seed(&Seed::from_bytes(seed))
    }

    fn peer() -> String {
        Identity::from_seed(Seed::from_bytes([0x42; 32]))
            .account_id()
            .to_string()
    }

    fn record(hash: [u8; 32], direction: Direction, text: &str, sent_at_ms: u64) -> HistoryRecord {
        HistoryRecord {
            message_id: hex::encode(hash),
            direction,
            peer: peer(),
            text: text.into(),
            sent_at_ms,
            version: 1,
            timer: None,
            expires_at_ms: None,
        }
    }

    /// One case: `plaintext` sealed with (`seed`'s key or `sealed_seed`'s, `sealed_aad`).
    #[allow(clippy::too_many_arguments)]
    fn case(
        name: &str,
        hash: [u8; 32],
        plaintext: &[u8],
        record: Option<HistoryRecord>,
        nonce_byte: u8,
        sealed_seed: [u8; 32],
        sealed_aad: Vec<u8>,
        error: Option<&str>,
    ) -> Case {
        let hash = MessageHash::new(hash);
        let nonce = [nonce_byte; 24];
        let blob = key_of(sealed_seed)
            .encrypt_with_nonce(&nonce, &sealed_aad, plaintext)
            .unwrap();
        let canonical = record
            .as_ref()
            .is_some_and(|r| *record_json(r).unwrap() == plaintext);
        Case {
            name: name.into(),
            seed: hex::encode(SEED),
            message_hash: hex::encode(hash.as_bytes()),
            aad: hex::encode(record_aad(&hash)),
            plaintext: hex::encode(plaintext),
            record,
            canonical,
            nonce: hex::encode(nonce),
            sealed_with_seed: hex::encode(sealed_seed),
            sealed_with_aad: hex::encode(&sealed_aad),
            blob: hex::encode(&blob),
            error: error.map(str::to_owned),
        }
    }

    fn generate() -> VectorFile {
        let mut cases = Vec::new();
        let aad = record_aad(&MessageHash::new(HASH));
        let received = record(HASH, Direction::In, "hello, nightjar", 1_700_000_000_000);
        let json = record_json(&received).unwrap();
        cases.push(case(
            "received, plain text",
            HASH,
            &json,
            Some(received.clone()),
            0x01,
            SEED,
            aad.clone(),
            None,
        ));
        let escaped = record(
            OTHER_HASH,
            Direction::Out,
            "quote \" backslash \\ slash / newline \n tab \t cr \r backspace \u{8} \
             form feed \u{c} nul \u{0} unit separator \u{1f} delete \u{7f} é 🐦 \u{2028}",
            u64::MAX,
        );
        cases.push(case(
            "sent, text that JSON escapes (and text it does not), the largest sent_at_ms",
            OTHER_HASH,
            &record_json(&escaped).unwrap(),
            Some(escaped),
            0x02,
            SEED,
            record_aad(&MessageHash::new(OTHER_HASH)),
            None,
        ));
        let empty = record(HASH, Direction::In, "", 0);
        cases.push(case(
            "received, empty text, sent_at_ms 0",
            HASH,
            &record_json(&empty).unwrap(),
            Some(empty),
            0x03,
            SEED,
            aad.clone(),
            None,
        ));
        let tolerated = format!(
            "{{ \"sent_at_ms\" : 1700000000000, \"text\": \"hello, \\u006eightjar\", \
             \"peer\": \"{}\", \"direction\": \"in\", \"message_id\": \"{}\", \
             \"reactions\": [] }}",
            peer(),
            hex::encode(HASH)
        );
        cases.push(case(
            "another member order, spaces, a \\u escape and an unknown member: read all the same",
            HASH,
            tolerated.as_bytes(),
            Some(received.clone()),
            0x04,
            SEED,
            aad.clone(),
            None,
        ));

        let labelled = [&[19u8][..], RECORD_AAD_LABEL, &HASH].concat();
        for (name, sealed_aad) in [
            (
                "sealed for another message's hash (a record moved to another row)",
                record_aad(&MessageHash::new(OTHER_HASH)),
            ),
            (
                "AAD with a NUL after the label (as the state table's)",
                [RECORD_AAD_LABEL, b"\0", &HASH].concat(),
            ),
            (
                "AAD with a length byte before the label (as a labelled signature)",
                labelled,
            ),
            ("AAD of the hash alone", HASH.to_vec()),
            ("AAD of the label alone", RECORD_AAD_LABEL.to_vec()),
        ] {
            cases.push(case(
                name,
                HASH,
                &json,
                None,
                0x05,
                SEED,
                sealed_aad,
                Some("decrypt_failed"),
            ));
        }
        cases.push(case(
            "sealed under another seed's history key",
            HASH,
            &json,
            None,
            0x06,
            OTHER_SEED,
            aad.clone(),
            Some("decrypt_failed"),
        ));

        let text = String::from_utf8(json.to_vec()).unwrap();
        let not_records: [(&str, Vec<u8>); 6] = [
            (
                "direction \"received\" (only \"in\" and \"out\")",
                text.replace("\"in\"", "\"received\"").into_bytes(),
            ),
            (
                "direction in upper case (\"IN\")",
                text.replace("\"in\"", "\"IN\"").into_bytes(),
            ),
            (
                "sent_at_ms as a float (1.7e12)",
                text.replace("1700000000000", "1.7e12").into_bytes(),
            ),
            (
                "sent_at_ms negative",
                text.replace("1700000000000", "-1").into_bytes(),
            ),
            (
                "peer missing",
                text.replace(&format!("\"peer\":\"{}\",", peer()), "")
                    .into_bytes(),
            ),
            (
                "text that is not UTF-8 (a raw ff byte)",
                text.replace("nightjar", "night\u{1}jar")
                    .into_bytes()
                    .into_iter()
                    .map(|b| if b == 1 { 0xff } else { b })
                    .collect(),
            ),
        ];
        for (name, plaintext) in not_records {
            assert_ne!(plaintext, *json, "{name}");
            cases.push(case(
                name,
                HASH,
                &plaintext,
                None,
                0x07,
                SEED,
                aad.clone(),
                Some("does_not_decode"),
            ));
        }
        VectorFile {
            description: "History records of a profile (docs/PROTOCOL.md \u{a7}9.2): blob = \
                          nonce (24) || XChaCha20-Poly1305-IETF(key, nonce, plaintext, aad) with \
                          key = BLAKE2b-32(key 'nightjar/v1/local-store', seed) and aad = \
                          'nightjar/history/v1' || message_hash (51 bytes); plaintext = the \
                          record as compact JSON, members in the order message_id, direction, \
                          peer, text, sent_at_ms. Cases with an error were sealed with \
                          the key of sealed_with_seed and sealed_with_aad (decrypt_failed: the reader's key and \
                          aad do not open them) or hold JSON that is not a record \
                          (does_not_decode). canonical: plaintext is what the client writes for \
                          record."
                .into(),
            cases,
        }
    }

    fn render(file: &VectorFile) -> String {
        let mut text = serde_json::to_string_pretty(file).unwrap();
        text.push('\n');
        text
    }

    #[test]
    fn committed_file_is_what_the_generator_writes() {
        let text = render(&generate());
        if std::env::var("NIGHTJAR_REGEN_VECTORS").as_deref() == Ok("1") {
            std::fs::write(FILE, text).unwrap();
            return;
        }
        let committed = std::fs::read_to_string(FILE).unwrap();
        assert!(
            committed == text,
            "test-vectors/history_record.json is not what the generator writes (regenerate \
             with NIGHTJAR_REGEN_VECTORS=1, check with check_libsodium.py, and commit)"
        );
    }

    #[test]
    fn committed_cases_replay() {
        let file: VectorFile =
            serde_json::from_str(&std::fs::read_to_string(FILE).unwrap()).unwrap();
        for error in [None, Some("decrypt_failed"), Some("does_not_decode")] {
            assert!(file.cases.iter().any(|c| c.error.as_deref() == error));
        }
        assert!(file.cases.iter().any(|c| c.error.is_none() && !c.canonical));
        let dir = tempfile::tempdir().unwrap();
        for (i, c) in file.cases.iter().enumerate() {
            let seed: [u8; 32] = hex::decode(&c.seed).unwrap().try_into().unwrap();
            let hash = MessageHash::new(hex::decode(&c.message_hash).unwrap().try_into().unwrap());
            let blob = hex::decode(&c.blob).unwrap();
            assert_eq!(hex::encode(record_aad(&hash)), c.aad, "{}", c.name);
            let opened = open_record_with(&key_of(seed), &hash, &blob);
            match c.error.as_deref() {
                None => {
                    let record = opened.unwrap();
                    assert_eq!(Some(&record), c.record.as_ref(), "{}", c.name);
                    let written = hex::encode(&*record_json(&record).unwrap());
                    assert_eq!(written == c.plaintext, c.canonical, "{}", c.name);
                }
                Some("decrypt_failed") => assert!(
                    matches!(opened, Err(ClientError::Crypto(CryptoError::DecryptFailed))),
                    "{}",
                    c.name
                ),
                Some("does_not_decode") => assert!(
                    matches!(opened, Err(ClientError::Protocol(_))),
                    "{}",
                    c.name
                ),
                Some(other) => panic!("{}: unknown error {other}", c.name),
            }

            // A real profile of that seed reads the record from its database.
            let profile_dir = dir.path().join(i.to_string());
            let p = Profile::create(
                &profile_dir,
                Identity::from_seed(Seed::from_bytes(seed)),
                None,
            )
            .unwrap();
            p.db.execute(
                "INSERT INTO messages (hash, direction, shown, record) VALUES (?1, 0, 1, ?2)",
                params![hash.as_bytes().as_slice(), blob],
            )
            .unwrap();
            let history = p.history();
            match c.error {
                None => assert_eq!(history.unwrap(), vec![c.record.clone().unwrap()]),
                Some(_) => assert!(history.is_err(), "{}", c.name),
            }
        }
    }
}
