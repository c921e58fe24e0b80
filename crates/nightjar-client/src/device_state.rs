//! What a profile keeps for messages v2, encrypted at rest like the rest of
//! it: this device ([`OwnDevice`]), the sessions with each peer device, the
//! device lists it has read, the handshakes it has answered, the envelopes
//! it has read, each conversation's disappearing timer, and the expiry of
//! disappearing messages.

use std::collections::BTreeSet;

use nightjar_crypto::identity::PublicKey;
use nightjar_devices::device_list::MAX_LIST_BYTES;
use nightjar_devices::{DeviceId, DeviceList, KnownDevices, OwnDevice};
use nightjar_types::{MessageHash, NodeKey};
use rusqlite::{OptionalExtension, params};

use crate::ClientError;
use crate::messaging::{SessionSet, Timer};
use crate::profile::{Direction, HistoryRecord, Profile};

/// The state key of this device.
const DEVICE_KEY: &str = "device";

fn db_err(what: &'static str) -> impl FnOnce(rusqlite::Error) -> ClientError {
    move |source| ClientError::History { what, source }
}

fn session_aad(account: &PublicKey, device: &DeviceId) -> Vec<u8> {
    let mut aad = b"nightjar/sessions/v1\0".to_vec();
    aad.extend_from_slice(account.as_bytes());
    aad.extend_from_slice(device.as_bytes());
    aad
}

fn devices_key(account: &PublicKey) -> String {
    format!("devices/{}", hex::encode(account.as_bytes()))
}

fn timer_key(account: &PublicKey) -> String {
    format!("timer/{}", hex::encode(account.as_bytes()))
}

/// Most removed device IDs kept for one account.
pub const MAX_REMOVED_DEVICES: usize = 4_096;

/// Longest stored device-list cache: the length, the longest list and
/// [`MAX_REMOVED_DEVICES`] IDs.
pub const MAX_KNOWN_DEVICES_BYTES: usize = 4 + MAX_LIST_BYTES + MAX_REMOVED_DEVICES * DeviceId::LEN;

fn bad_known(why: &str) -> ClientError {
    ClientError::Protocol(format!("stored device list: {why}"))
}

/// The stored form of what a profile knows of one account's devices:
/// `u32be(|list|) ‖ list ‖ removed device IDs (16 bytes each, in order)`,
/// the list empty when none was adopted.
///
/// Refuses more than [`MAX_REMOVED_DEVICES`] removed IDs (an account that
/// removed that many devices can no longer be followed), so that whatever
/// this writes [`decode_known_devices`] reads.
pub fn encode_known_devices(known: &KnownDevices) -> Result<Vec<u8>, ClientError> {
    if known.removed().len() > MAX_REMOVED_DEVICES {
        return Err(bad_known("too many removed devices"));
    }
    let list = known.list().map(DeviceList::encode).unwrap_or_default();
    let len = u32::try_from(list.len()).map_err(|_| bad_known("list too large"))?;
    let mut bytes = Vec::with_capacity(4 + list.len() + known.removed().len() * DeviceId::LEN);
    bytes.extend_from_slice(&len.to_be_bytes());
    bytes.extend_from_slice(&list);
    for id in known.removed() {
        bytes.extend_from_slice(id.as_bytes());
    }
    Ok(bytes)
}

/// Reads what [`encode_known_devices`] wrote, refusing more than
/// [`MAX_KNOWN_DEVICES_BYTES`], a list that does not decode, removed IDs
/// that are not whole, or more than [`MAX_REMOVED_DEVICES`] of them
/// (counting the list's tombstones). Repeated or unsorted IDs are accepted
/// (they are a set).
pub fn decode_known_devices(bytes: &[u8]) -> Result<KnownDevices, ClientError> {
    if bytes.len() > MAX_KNOWN_DEVICES_BYTES {
        return Err(bad_known("too large"));
    }
    let (len, rest) = bytes
        .split_first_chunk::<4>()
        .ok_or_else(|| bad_known("truncated"))?;
    let len = usize::try_from(u32::from_be_bytes(*len)).map_err(|_| bad_known("length"))?;
    let (list, removed) = rest
        .split_at_checked(len)
        .ok_or_else(|| bad_known("truncated"))?;
    let list = match list.len() {
        0 => None,
        _ => Some(DeviceList::decode(list).map_err(|e| bad_known(&e.to_string()))?),
    };
    if removed.len() % DeviceId::LEN != 0 {
        return Err(bad_known("a removed device ID is cut short"));
    }
    let mut ids = BTreeSet::new();
    for chunk in removed.chunks_exact(DeviceId::LEN) {
        ids.insert(DeviceId::from_slice(chunk).map_err(|e| bad_known(&e.to_string()))?);
    }
    let known = KnownDevices::from_parts(list, ids);
    if known.removed().len() > MAX_REMOVED_DEVICES {
        return Err(bad_known("too many removed devices"));
    }
    Ok(known)
}

/// What one opened v2 envelope changes, saved in one transaction.
#[derive(Debug)]
pub struct Received<'a> {
    /// The envelope's hash (so it is never read again).
    pub envelope: MessageHash,
    /// The message as the history keeps it, under its message ID.
    pub record: &'a HistoryRecord,
    /// The sender device and the sessions with it after reading.
    pub sessions: (&'a PublicKey, &'a DeviceId, &'a SessionSet),
    /// This device after reading, when reading changed it (a one-time
    /// prekey consumed); `None` leaves the saved device as it is.
    pub device: Option<&'a OwnDevice>,
    /// The handshake the message started, if any.
    pub handshake: Option<[u8; 32]>,
    /// When it was read, Unix ms.
    pub now_ms: u64,
    /// The read cursor the retrieve that brought it reached (node, mailbox,
    /// cursor), saved with it when it is the retrieve's last message: one
    /// durable commit for both.
    pub cursor: Option<(&'a NodeKey, u16, u64)>,
}

/// The sessions with one peer device, named by its account and ID.
pub type PeerSessions<'a> = (&'a PublicKey, &'a DeviceId, &'a SessionSet);

/// The same, encrypted at rest.
type SealedSessions<'a> = (&'a PublicKey, &'a DeviceId, Vec<u8>);

/// Writes the encrypted sessions with one peer device (replacing them).
fn write_sessions(
    db: &rusqlite::Connection,
    account: &PublicKey,
    device: &DeviceId,
    blob: &[u8],
) -> Result<(), ClientError> {
    db.execute(
        "INSERT INTO sessions (peer_account, peer_device, state) VALUES (?1, ?2, ?3)
         ON CONFLICT (peer_account, peer_device) DO UPDATE SET state = excluded.state",
        params![
            account.as_bytes().as_slice(),
            device.as_bytes().as_slice(),
            blob
        ],
    )
    .map_err(db_err("write sessions"))?;
    Ok(())
}

impl Profile {
    /// This device, if the profile has made one.
    pub fn own_device(&self) -> Result<Option<OwnDevice>, ClientError> {
        match self.load_state(DEVICE_KEY)? {
            None => Ok(None),
            Some(bytes) => {
                let bytes = zeroize::Zeroizing::new(bytes);
                Ok(Some(OwnDevice::decode(&bytes).map_err(|e| {
                    ClientError::Protocol(format!("stored device state: {e}"))
                })?))
            }
        }
    }

    /// Saves this device.
    pub fn save_own_device(&mut self, device: &OwnDevice) -> Result<(), ClientError> {
        self.save_state(DEVICE_KEY, &device.encode())
    }

    /// The sessions with one peer device (none yet: an empty set).
    pub fn sessions(
        &self,
        account: &PublicKey,
        device: &DeviceId,
    ) -> Result<SessionSet, ClientError> {
        let blob: Option<Vec<u8>> = self
            .db
            .query_row(
                "SELECT state FROM sessions WHERE peer_account = ?1 AND peer_device = ?2",
                params![account.as_bytes().as_slice(), device.as_bytes().as_slice()],
                |r| r.get(0),
            )
            .optional()
            .map_err(db_err("read sessions"))?;
        match blob {
            None => Ok(SessionSet::new()),
            Some(blob) => {
                let plain = self.cipher.decrypt(&session_aad(account, device), &blob)?;
                SessionSet::decode(&plain)
            }
        }
    }

    /// Saves the sessions with one peer device.
    pub fn save_sessions(
        &mut self,
        account: &PublicKey,
        device: &DeviceId,
        sessions: &SessionSet,
    ) -> Result<(), ClientError> {
        self.save_many_sessions(&[(account, device, sessions)])
    }

    /// Saves the sessions with several peer devices in one transaction.
    pub fn save_many_sessions(&mut self, sessions: &[PeerSessions<'_>]) -> Result<(), ClientError> {
        let blobs = self.seal_sessions(sessions)?;
        let tx = self.db.transaction().map_err(db_err("begin"))?;
        for (account, device, blob) in blobs {
            write_sessions(&tx, account, device, &blob)?;
        }
        tx.commit().map_err(db_err("commit"))
    }

    /// Each peer device's sessions encrypted at rest, bound to the device.
    fn seal_sessions<'a>(
        &self,
        sessions: &[PeerSessions<'a>],
    ) -> Result<Vec<SealedSessions<'a>>, ClientError> {
        sessions
            .iter()
            .map(|&(account, device, set)| {
                let blob = self
                    .cipher
                    .encrypt(&session_aad(account, device), &set.encode())?;
                Ok((account, device, blob))
            })
            .collect()
    }

    /// The device list of `account` as this profile last adopted it, with
    /// every removal it has seen (stored as [`encode_known_devices`] writes
    /// it).
    pub fn known_devices(&self, account: &PublicKey) -> Result<KnownDevices, ClientError> {
        match self.load_state(&devices_key(account))? {
            None => Ok(KnownDevices::new()),
            Some(bytes) => decode_known_devices(&bytes),
        }
    }

    /// Saves what this profile knows of `account`'s devices
    /// ([`encode_known_devices`]).
    pub fn save_known_devices(
        &mut self,
        account: &PublicKey,
        known: &KnownDevices,
    ) -> Result<(), ClientError> {
        let bytes = encode_known_devices(known)?;
        self.save_state(&devices_key(account), &bytes)
    }

    /// Whether a handshake was answered before.
    pub fn handshake_answered(&self, id: &[u8; 32]) -> Result<bool, ClientError> {
        self.db
            .query_row(
                "SELECT 1 FROM handshakes WHERE id = ?1",
                params![id.as_slice()],
                |_| Ok(()),
            )
            .optional()
            .map(|o| o.is_some())
            .map_err(db_err("look up handshake"))
    }

    /// Whether an envelope was read (or refused) before.
    pub fn knows_envelope(&self, hash: &MessageHash) -> Result<bool, ClientError> {
        let read: bool = self
            .db
            .query_row(
                "SELECT 1 FROM envelopes WHERE hash = ?1",
                params![hash.as_bytes().as_slice()],
                |_| Ok(()),
            )
            .optional()
            .map(|o| o.is_some())
            .map_err(db_err("look up envelope"))?;
        Ok(read || self.knows(hash)?)
    }

    /// Saves everything one opened envelope changed, in one transaction (not
    /// yet shown, whichever way it went): the
    /// message, the envelope as read, the sessions with its sender device,
    /// this device and the handshake. A message ID already in the history
    /// (a copy read before) is not added twice.
    pub fn record_received_v2(&mut self, r: &Received<'_>) -> Result<(), ClientError> {
        let id = hex::decode(&r.record.message_id)
            .ok()
            .and_then(|b| <[u8; 32]>::try_from(b).ok())
            .ok_or_else(|| ClientError::Protocol("message ID is not 32 bytes of hex".into()))?;
        let id = MessageHash::new(id);
        let blob = self.seal_history_record(&id, r.record)?;
        let (account, device, sessions) = r.sessions;
        let sealed_sessions = self.seal_sessions(&[(account, device, sessions)])?;
        let device_blob = match r.device {
            Some(d) => Some(self.seal_state(DEVICE_KEY, &d.encode())?),
            None => None,
        };
        let expires = r.record.expires_at_ms.and_then(|e| i64::try_from(e).ok());
        let now = i64::try_from(r.now_ms).unwrap_or(i64::MAX);
        let direction = match r.record.direction {
            Direction::In => 0,
            Direction::Out => 1,
        };
        // A copy of what another device of this account sent is shown
        // like an incoming message, once.
        let shown = 0;
        // Deferred (see `durability`): a power cut takes the cursor back
        // with the message, and the next retrieve brings it again.
        self.write_deferred(|tx| {
            tx.execute(
                "INSERT OR IGNORE INTO messages (hash, direction, shown, record, expires_at)
                 VALUES (?1, ?2, ?3, ?4, ?5)",
                params![id.as_bytes().as_slice(), direction, shown, blob, expires],
            )
            .map_err(db_err("insert message"))?;
            tx.execute(
                "INSERT OR IGNORE INTO envelopes (hash) VALUES (?1)",
                params![r.envelope.as_bytes().as_slice()],
            )
            .map_err(db_err("insert envelope"))?;
            for (account, device, blob) in &sealed_sessions {
                write_sessions(tx, account, device, blob)?;
            }
            if let Some(device_blob) = device_blob {
                tx.execute(
                    "INSERT INTO state (key, value) VALUES (?1, ?2)
                     ON CONFLICT (key) DO UPDATE SET value = excluded.value",
                    params![DEVICE_KEY, device_blob],
                )
                .map_err(db_err("write device"))?;
            }
            if let Some(h) = r.handshake {
                tx.execute(
                    "INSERT OR IGNORE INTO handshakes (id, seen_at_ms) VALUES (?1, ?2)",
                    params![h.as_slice(), now],
                )
                .map_err(db_err("insert handshake"))?;
            }
            if let Some((node, namespace, cursor)) = r.cursor {
                crate::profile::save_cursor(tx, node, namespace, cursor)?;
            }
            Ok(())
        })
    }

    /// Marks envelopes that did not open as read, so they are not tried again.
    pub fn record_refused_envelopes(&mut self, hashes: &[MessageHash]) -> Result<(), ClientError> {
        let tx = self.db.transaction().map_err(db_err("begin"))?;
        for h in hashes {
            tx.execute(
                "INSERT OR IGNORE INTO envelopes (hash) VALUES (?1)",
                params![h.as_bytes().as_slice()],
            )
            .map_err(db_err("insert envelope"))?;
        }
        tx.commit().map_err(db_err("commit"))
    }

    /// Records a v2 message this device sent (under its message ID).
    ///
    /// `sessions` (peer account, device, sessions) are saved in the same
    /// transaction: the copies one key ahead of the sessions a long-running
    /// client keeps (`driver::sessions_ahead`), one durable commit for all.
    pub fn record_sent_v2(
        &mut self,
        record: &HistoryRecord,
        sessions: &[PeerSessions<'_>],
    ) -> Result<(), ClientError> {
        let id = hex::decode(&record.message_id)
            .ok()
            .and_then(|b| <[u8; 32]>::try_from(b).ok())
            .ok_or_else(|| ClientError::Protocol("message ID is not 32 bytes of hex".into()))?;
        let id = MessageHash::new(id);
        let blob = self.seal_history_record(&id, record)?;
        let expires = record.expires_at_ms.and_then(|e| i64::try_from(e).ok());
        let session_blobs = self.seal_sessions(sessions)?;
        let tx = self.db.transaction().map_err(db_err("begin"))?;
        tx.execute(
            "INSERT OR IGNORE INTO messages (hash, direction, shown, record, expires_at)
             VALUES (?1, 1, 1, ?2, ?3)",
            params![id.as_bytes().as_slice(), blob, expires],
        )
        .map_err(db_err("insert sent"))?;
        for (account, device, blob) in session_blobs {
            write_sessions(&tx, account, device, &blob)?;
        }
        tx.commit().map_err(db_err("commit"))
    }

    /// Adds history records a linked device sent (each under its message
    /// ID, shown already; records whose ID is not 32 bytes of hex are
    /// skipped). Returns how many were new.
    pub fn import_history(&mut self, records: &[HistoryRecord]) -> Result<usize, ClientError> {
        let mut sealed = Vec::with_capacity(records.len());
        for r in records {
            let Some(id) = hex::decode(&r.message_id)
                .ok()
                .and_then(|b| <[u8; 32]>::try_from(b).ok())
                .map(MessageHash::new)
            else {
                continue;
            };
            let direction = match r.direction {
                Direction::In => 0,
                Direction::Out => 1,
            };
            let expires = r.expires_at_ms.and_then(|e| i64::try_from(e).ok());
            sealed.push((id, direction, self.seal_history_record(&id, r)?, expires));
        }
        let tx = self.db.transaction().map_err(db_err("begin"))?;
        let mut added = 0;
        for (id, direction, blob, expires) in sealed {
            added += tx
                .execute(
                    "INSERT OR IGNORE INTO messages (hash, direction, shown, record, expires_at)
                     VALUES (?1, ?2, 1, ?3, ?4)",
                    params![id.as_bytes().as_slice(), direction, blob, expires],
                )
                .map_err(db_err("import history"))?;
        }
        tx.commit().map_err(db_err("commit"))?;
        Ok(added)
    }

    /// The disappearing timer of the conversation with `account`, if on.
    pub fn timer(&self, account: &PublicKey) -> Result<Option<Timer>, ClientError> {
        match self.load_state(&timer_key(account))? {
            None => Ok(None),
            Some(bytes) if bytes.is_empty() => Ok(None),
            Some(bytes) => serde_json::from_slice(&bytes)
                .map(Some)
                .map_err(|e| ClientError::Protocol(format!("stored timer: {e}"))),
        }
    }

    /// Sets (or with `None` turns off) the conversation's timer. Writes
    /// nothing when the timer is already that (every message carries it, so
    /// most calls change nothing, and a write is a durable commit).
    pub fn set_timer(
        &mut self,
        account: &PublicKey,
        timer: Option<Timer>,
    ) -> Result<(), ClientError> {
        if self.timer(account).is_ok_and(|current| current == timer) {
            return Ok(());
        }
        let bytes = match timer {
            None => Vec::new(),
            Some(t) => {
                t.check()?;
                serde_json::to_vec(&t).map_err(|e| ClientError::Protocol(e.to_string()))?
            }
        };
        self.save_state(&timer_key(account), &bytes)
    }

    /// Deletes the messages whose time is up (disappearing messages), with
    /// their records overwritten on disk. Returns how many went.
    pub fn purge_expired(&mut self, now_ms: u64) -> Result<usize, ClientError> {
        let now = i64::try_from(now_ms).unwrap_or(i64::MAX);
        self.db
            .execute(
                "DELETE FROM messages WHERE expires_at IS NOT NULL AND expires_at <= ?1",
                params![now],
            )
            .map_err(db_err("purge expired"))
    }

    /// Starts the timers that run from reading: every message among
    /// `message_ids` with a timer after reading and no expiry yet expires
    /// `after_ms` from `now_ms`.
    pub fn start_read_timers(
        &mut self,
        message_ids: &[String],
        now_ms: u64,
    ) -> Result<(), ClientError> {
        for id in message_ids {
            let Some(hash) = hex::decode(id)
                .ok()
                .and_then(|b| <[u8; 32]>::try_from(b).ok())
                .map(MessageHash::new)
            else {
                continue;
            };
            let Some(mut record) = self.history_record(&hash)? else {
                continue;
            };
            let Some(timer) = record.timer else { continue };
            if record.expires_at_ms.is_some() || timer.mode != crate::messaging::TimerMode::Read {
                continue;
            }
            let expires = now_ms.saturating_add(timer.after_ms);
            record.expires_at_ms = Some(expires);
            let blob = self.seal_history_record(&hash, &record)?;
            self.db
                .execute(
                    "UPDATE messages SET record = ?1, expires_at = ?2 WHERE hash = ?3",
                    params![
                        blob,
                        i64::try_from(expires).unwrap_or(i64::MAX),
                        hash.as_bytes().as_slice()
                    ],
                )
                .map_err(db_err("start read timer"))?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use nightjar_crypto::SeededRandom;
    use nightjar_crypto::dh::DhSecret;

    use super::*;

    #[test]
    fn setting_the_timer_it_already_has_writes_nothing() {
        use crate::messaging::content::{MIN_TIMER_MS, TimerMode};
        let dir = tempfile::tempdir().unwrap();
        let identity = nightjar_crypto::identity::Identity::generate().unwrap();
        let peer = nightjar_crypto::identity::Identity::generate()
            .unwrap()
            .public_key();
        let mut p = Profile::create(dir.path(), identity, None).unwrap();
        let timer = Timer {
            after_ms: MIN_TIMER_MS,
            mode: TimerMode::Send,
        };
        let changes = |p: &Profile| p.db.total_changes();
        let before = changes(&p);
        p.set_timer(&peer, None).unwrap();
        assert_eq!(changes(&p), before, "no timer was set: none to turn off");
        p.set_timer(&peer, Some(timer)).unwrap();
        let set = changes(&p);
        assert!(set > before);
        p.set_timer(&peer, Some(timer)).unwrap();
        assert_eq!(changes(&p), set, "the same timer again");
        assert_eq!(p.timer(&peer).unwrap(), Some(timer));
        p.set_timer(&peer, None).unwrap();
        assert!(changes(&p) > set);
        assert_eq!(p.timer(&peer).unwrap(), None);
    }

    #[test]
    fn known_devices_round_trip_and_damaged_ones_are_refused() {
        let rng = &mut SeededRandom::from_seed([3; 32]);
        let mut key = || DhSecret::generate_with(rng).unwrap().public();
        let (a, b, c) = (
            DeviceId::new([1; 16]),
            DeviceId::new([2; 16]),
            DeviceId::new([3; 16]),
        );
        let v1 = DeviceList::first(a, key(), "a", 1).unwrap();
        let v2 = v1.with_device(b, key(), "b", 2).unwrap();
        let v3 = v2.without_device(&b, 3).unwrap();
        let known = KnownDevices::from_parts(Some(v3.clone()), BTreeSet::from([c]));
        assert_eq!(
            known.removed(),
            &BTreeSet::from([b, c]),
            "b from its tombstone"
        );

        let bytes = encode_known_devices(&known).unwrap();
        let list_len = v3.encode().len();
        assert_eq!(bytes.len(), 4 + list_len + 2 * DeviceId::LEN);
        assert_eq!(decode_known_devices(&bytes).unwrap(), known);
        let nothing = encode_known_devices(&KnownDevices::new()).unwrap();
        assert_eq!(nothing, [0, 0, 0, 0]);
        assert_eq!(decode_known_devices(&nothing).unwrap(), KnownDevices::new());

        // Removed IDs are a set: repeated or unsorted, they read the same.
        let mut repeated = bytes.clone();
        repeated.extend_from_slice(&[1; 16]);
        repeated.extend_from_slice(&[2; 16]);
        let again = decode_known_devices(&repeated).unwrap();
        assert_eq!(again.removed(), &BTreeSet::from([a, b, c]));
        assert_eq!(again.list(), Some(&v3));

        assert!(decode_known_devices(&[]).is_err());
        assert!(decode_known_devices(&bytes[..3]).is_err());
        assert!(
            decode_known_devices(&bytes[..bytes.len() - 1]).is_err(),
            "a cut ID"
        );
        assert!(
            decode_known_devices(&bytes[..4 + list_len - 1]).is_err(),
            "a cut list"
        );
        let mut long = bytes.clone();
        long[..4].copy_from_slice(&u32::MAX.to_be_bytes());
        assert!(
            decode_known_devices(&long).is_err(),
            "a length past the end"
        );
        let mut junk = bytes.clone();
        junk[4] ^= 0xff;
        assert!(decode_known_devices(&junk).is_err(), "a damaged list");
        assert!(decode_known_devices(&vec![0; MAX_KNOWN_DEVICES_BYTES + 1]).is_err());

        // The most removed IDs it writes, it reads; one more it refuses
        // either way.
        let ids = |n: u16| -> BTreeSet<DeviceId> {
            (0..n)
                .map(|i| {
                    let mut id = [0u8; 16];
                    id[..2].copy_from_slice(&i.to_be_bytes());
                    DeviceId::new(id)
                })
                .collect()
        };
        let max = u16::try_from(MAX_REMOVED_DEVICES).unwrap();
        let full = KnownDevices::from_parts(None, ids(max));
        let bytes = encode_known_devices(&full).unwrap();
        assert_eq!(decode_known_devices(&bytes).unwrap(), full);
        let over = KnownDevices::from_parts(None, ids(max + 1));
        assert!(encode_known_devices(&over).is_err());
        let mut one_more = bytes;
        one_more.extend_from_slice(&[0xff; 16]);
        assert!(decode_known_devices(&one_more).is_err());
        // Counting the list's tombstones: b is one more.
        let mut with_list = (v3.encode().len() as u32).to_be_bytes().to_vec();
        with_list.extend_from_slice(&v3.encode());
        for id in ids(max) {
            with_list.extend_from_slice(id.as_bytes());
        }
        assert!(decode_known_devices(&with_list).is_err());
    }
}
