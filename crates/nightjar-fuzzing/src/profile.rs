//! `profile_files`: what a client reads back from its profile directory.
//!
//! A profile (`nightjar_client::profile`) holds `identity.key` (a key file,
//! fuzzed by [`crate::keyfile`]) and `history.sqlite`, whose `messages.record`
//! column holds history records sealed with the profile's `LocalCipher`
//! (`nonce ‖ ciphertext ‖ tag`, AAD `"nightjar/history/v1" ‖ hash`) around
//! the record's JSON, and whose `state` table holds the client's saved state
//! (sealed the same way, read with `Profile::load_state`): the guard state
//! (`GuardState::from_bytes`), the cached registry (TOML, fuzzed further by
//! [`crate::registry_files`]) and the seeds already asked (32-byte keys).

use std::sync::OnceLock;

use nightjar_client::profile::{HISTORY_FILE, IDENTITY_FILE};
use nightjar_client::{GuardState, HistoryRecord, Profile};
use nightjar_crypto::at_rest::{LocalCipher, seal_seed};
use nightjar_crypto::identity::{Identity, PublicKey, Seed};
use nightjar_registry::Registry;
use nightjar_types::{MessageHash, NodeKey};

use crate::mask::masked;

/// The seed of the account whose profile [`profile_files`] opens: the seed
/// corpus's history databases and sealed records belong to it.
pub const PROFILE_SEED: [u8; 32] = [0x5e; 32];

/// The label that starts a history record's AAD (the message hash follows).
///
/// A copy of the private `Profile::aad` in `nightjar-client`: the record
/// decoder (`Profile::open_record`) is private, so [`profile_files`] mirrors
/// it (decrypt, then JSON) for the record half. Keep the two in step.
pub const HISTORY_AAD_LABEL: &[u8] = b"nightjar/history/v1";

/// The keys of the client's saved state in a profile, as `nightjar-client`
/// names them (private constants `STATE_GUARDS`, `STATE_REGISTRY`,
/// `STATE_SEEDS` there): guard state, cached registry, seeds asked.
pub const PROFILE_STATE_KEYS: [&str; 3] = ["guards", "registry", "bootstrap_seeds"];

/// What every SQLite database file starts with; inputs that do are fuzzed as
/// a whole `history.sqlite`, others as one sealed record.
const SQLITE_MAGIC: &[u8] = b"SQLite format 3\0";

/// The message hash the record half decrypts every input under.
const RECORD_HASH: MessageHash = MessageHash::new([0x4a; 32]);

/// The identity of [`PROFILE_SEED`].
pub fn profile_identity() -> Identity {
    Identity::from_seed(Seed::from_bytes(PROFILE_SEED))
}

fn cipher() -> &'static LocalCipher {
    static CIPHER: OnceLock<LocalCipher> = OnceLock::new();
    CIPHER.get_or_init(|| LocalCipher::from_seed(&Seed::from_bytes(PROFILE_SEED)))
}

/// The profile's key file, sealed once (no passphrase).
fn key_file() -> &'static [u8] {
    static KEY_FILE: OnceLock<Vec<u8>> = OnceLock::new();
    KEY_FILE.get_or_init(|| match seal_seed(&Seed::from_bytes(PROFILE_SEED), None) {
        Ok(blob) => blob,
        Err(e) => panic!("cannot seal the fuzz profile's key file: {e}"),
    })
}

fn history_aad(hash: &MessageHash) -> Vec<u8> {
    let mut aad = HISTORY_AAD_LABEL.to_vec();
    aad.extend_from_slice(hash.as_bytes());
    aad
}

/// The history's record decoder, as `Profile::open_record` does it.
fn open_record(hash: &MessageHash, blob: &[u8]) -> Option<HistoryRecord> {
    let json = cipher().decrypt(&history_aad(hash), blob).ok()?;
    serde_json::from_slice(&json).ok()
}

fn reference_record() -> HistoryRecord {
    HistoryRecord {
        message_id: hex::encode(RECORD_HASH.as_bytes()),
        direction: nightjar_client::Direction::In,
        peer: "fuzz reference peer".to_owned(),
        text: "fuzz reference text".to_owned(),
        sent_at_ms: 1_700_000_000_000,
        version: 1,
        timer: None,
        expires_at_ms: None,
    }
}

/// `record` sealed as the history stores it (JSON, `LocalCipher` of
/// [`PROFILE_SEED`], the AAD of the hash [`profile_files`] uses) with a
/// chosen nonce: a valid input for the record half of [`profile_files`].
pub fn profile_history_record_blob(record: &HistoryRecord, nonce: &[u8; 24]) -> Vec<u8> {
    let json = match serde_json::to_vec(record) {
        Ok(json) => json,
        Err(e) => panic!("cannot encode a history record: {e}"),
    };
    match cipher().encrypt_with_nonce(nonce, &history_aad(&RECORD_HASH), &json) {
        Ok(blob) => blob,
        Err(e) => panic!("cannot seal a history record: {e}"),
    }
}

/// The reference record, sealed once with a constant nonce.
fn reference_blob() -> &'static [u8] {
    static BLOB: OnceLock<Vec<u8>> = OnceLock::new();
    BLOB.get_or_init(|| profile_history_record_blob(&reference_record(), &[3; 24]))
}

/// A record's JSON must survive encode → decode unchanged.
fn check_record_round_trip(record: &HistoryRecord) {
    let json = match serde_json::to_vec(record) {
        Ok(json) => json,
        Err(e) => panic!("a decoded history record does not encode: {e}"),
    };
    match serde_json::from_slice::<HistoryRecord>(&json) {
        Ok(again) => assert_eq!(&again, record, "history record changed across a round trip"),
        Err(e) => panic!("a re-encoded history record does not decode: {e}"),
    }
}

/// Fuzzes the decoders of a client profile's files (`nightjar_client::profile`).
///
/// An input that starts with the SQLite magic is the whole `history.sqlite`:
/// it is written, next to a valid `identity.key` of [`PROFILE_SEED`], into a
/// fresh temporary profile directory, which `Profile::open` then opens
/// (schema version check, or schema creation for an empty file) before
/// `history`, `unshown`, `cursor`, `knows` and `mark_shown` read and decrypt
/// it, and `load_state` reads each saved state value, decoded as the client
/// does (guard state, registry TOML, seed keys). Checks: none of them panics
/// on any file; when both `history` and `unshown` succeed, every unshown
/// record is in the history; a guard state that decodes re-encodes to the
/// same bytes.
///
/// Any other input is one history record:
/// 1. decrypted and decoded as the profile does (`LocalCipher::decrypt` under
///    the record AAD, then JSON): never panics, and a record that opens
///    re-encodes to itself;
/// 2. XORed over a valid sealed record: opens to the original when the mask
///    is all zero and fails for every other mask;
/// 3. decoded as a record's plaintext JSON: never panics, and what decodes
///    round-trips;
/// 4. decoded as a saved guard state (`GuardState::from_bytes`): never
///    panics, and what decodes re-encodes to the same bytes.
pub fn profile_files(data: &[u8]) {
    if data.starts_with(SQLITE_MAGIC) {
        history_database(data);
    } else {
        history_record(data);
    }
}

fn history_record(data: &[u8]) {
    // 1. The raw input as a sealed record.
    if let Some(record) = open_record(&RECORD_HASH, data) {
        check_record_round_trip(&record);
    }

    // 2. Bit flips over a valid sealed record.
    let (blob, altered) = masked(reference_blob(), data);
    match open_record(&RECORD_HASH, &blob) {
        Some(record) if altered => panic!("an altered history record opened: {record:?}"),
        Some(record) => assert_eq!(record, reference_record(), "history record changed"),
        None if !altered => panic!("the unaltered reference history record failed to open"),
        None => {}
    }

    // 3. The raw input as a record's plaintext.
    if let Ok(record) = serde_json::from_slice::<HistoryRecord>(data) {
        check_record_round_trip(&record);
    }

    // 4. The raw input as a saved guard state.
    check_guard_state(data);
}

/// `GuardState::from_bytes`: what decodes is exactly its own encoding.
fn check_guard_state(bytes: &[u8]) {
    if let Ok(state) = GuardState::from_bytes(bytes) {
        assert_eq!(
            state.to_bytes(),
            bytes,
            "a guard state does not re-encode to its bytes"
        );
    }
}

/// A saved state value, decoded as `nightjar_client::Client` decodes it.
fn decode_state(key: &str, value: &[u8]) {
    match key {
        "guards" => check_guard_state(value),
        "registry" => {
            if let Ok(text) = std::str::from_utf8(value) {
                let _ = Registry::from_toml(text);
            }
        }
        _ => {
            let _: Vec<PublicKey> = value
                .chunks_exact(32)
                .filter_map(|k| PublicKey::from_slice(k).ok())
                .collect();
        }
    }
}

fn history_database(data: &[u8]) {
    let dir = match tempfile::Builder::new()
        .prefix("nj-fuzz-profile-")
        .tempdir()
    {
        Ok(dir) => dir,
        Err(e) => panic!("cannot create a temporary profile directory: {e}"),
    };
    for (name, bytes) in [(IDENTITY_FILE, key_file()), (HISTORY_FILE, data)] {
        if let Err(e) = std::fs::write(dir.path().join(name), bytes) {
            panic!("cannot write {name} into the temporary profile: {e}");
        }
    }

    let Ok(mut profile) = Profile::open(dir.path(), None) else {
        return;
    };
    assert_eq!(
        profile.account_id(),
        profile_identity().account_id(),
        "the profile opened as another account"
    );
    let history = profile.history();
    let unshown = profile.unshown();
    if let (Ok(history), Ok(unshown)) = (&history, &unshown) {
        for record in unshown {
            assert!(
                history.contains(record),
                "an unshown message is missing from the history"
            );
        }
    }
    for key in PROFILE_STATE_KEYS {
        if let Ok(Some(value)) = profile.load_state(key) {
            decode_state(key, &value);
        }
    }
    let _ = profile.cursor(&NodeKey::new([0; 32]), 0);
    let _ = profile.knows(&RECORD_HASH);
    if let Ok(unshown) = unshown {
        let ids: Vec<String> = unshown.into_iter().map(|r| r.message_id).collect();
        let _ = profile.mark_shown(&ids);
    }
}
