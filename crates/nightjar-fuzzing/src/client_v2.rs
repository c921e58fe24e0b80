//! `client_v2_records`: the client's messages-v2 decoders of bytes that are
//! not an envelope: a message's plaintext ([`ContentV2`]), the sessions kept
//! with a peer device and the device lists known of an account (both read
//! back from the profile), and the payloads of a device link (the joining
//! device's description, the seed, the history), and the contact book read
//! back from the profile.

use nightjar_client::contacts::{ContactBook, MAX_CONTACTS, check_name};
use nightjar_client::device_state::{
    MAX_REMOVED_DEVICES, decode_known_devices, encode_known_devices,
};
use nightjar_client::messaging::SessionSet;
use nightjar_client::messaging::content::{ContentV2, MAX_CONTENT_V2_LEN};
use nightjar_client::messaging::link::{
    HISTORY_CHUNK_BYTES, JoinInfo, MAX_HISTORY_CHUNKS, decode_first_answer, decode_history_chunk,
    encode_first_answer, history_chunks,
};
use nightjar_crypto::link::MAX_ANSWER_PAYLOAD;

/// The decoders of [`client_v2_records`], by the input's first byte.
const CLIENT_V2_DECODERS: [&str; 7] = [
    "ContentV2::decode",
    "SessionSet::decode",
    "JoinInfo::decode",
    "decode_first_answer",
    "decode_history_chunk",
    "decode_known_devices",
    "ContactBook::decode",
];

/// The first byte picks the decoder ([`CLIENT_V2_DECODERS`]: 0 content,
/// 1 stored sessions, 2 a link request's payload, 3 the first link answer,
/// 4 a history answer, 5 a stored device-list cache, 6 a stored contact
/// book; anything else: all seven); the rest is the input.
///
/// Checks: no decoder panics, and what each accepts holds up:
/// - a content encodes again (within [`MAX_CONTENT_V2_LEN`]) to bytes that
///   decode to it and encode to themselves (the decoder takes any protobuf
///   encoding, so not necessarily to the input);
/// - stored sessions re-encode to exactly the input, at most 5 of them,
///   and try the ratchet fixture's first message to its initiator without
///   panicking, still re-encoding to a set that decodes;
/// - a link request's payload re-encodes to the input, with a name of at
///   most 64 bytes and no control characters;
/// - a first answer re-encodes to the input and announces at most
///   [`MAX_HISTORY_CHUNKS`] history records;
/// - a history answer's records survive JSON and the linking device's own
///   chunking ([`history_chunks`]) unchanged, in chunks of at most
///   [`HISTORY_CHUNK_BYTES`] (or a record alone, within
///   [`MAX_ANSWER_PAYLOAD`]);
/// - a device-list cache encodes again (a set of removed IDs may come in
///   any order; the list's tombstones join it) to bytes that decode to it
///   and encode to themselves;
/// - a contact book holds at most [`MAX_CONTACTS`] contacts whose names pass
///   the rules, and re-encodes to bytes that decode to it.
pub fn client_v2_records(data: &[u8]) {
    let Some((&which, body)) = data.split_first() else {
        return;
    };
    let all = usize::from(which) >= CLIENT_V2_DECODERS.len();
    if which == 0 || all {
        content(body);
    }
    if which == 1 || all {
        sessions(body);
    }
    if which == 2 || all {
        join_info(body);
    }
    if which == 3 || all {
        first_answer(body);
    }
    if which == 4 || all {
        history(body);
    }
    if which == 5 || all {
        known_devices(body);
    }
    if which == 6 || all {
        contact_book(body);
    }
}

fn contact_book(body: &[u8]) {
    let Ok(book) = ContactBook::decode(body) else {
        return;
    };
    assert!(book.contacts().len() <= MAX_CONTACTS);
    for c in book.contacts() {
        assert_eq!(
            check_name(&c.name).ok().as_deref(),
            Some(c.name.as_str()),
            "a stored name breaks the rules"
        );
    }
    match ContactBook::decode(&book.encode()) {
        Ok(again) => assert_eq!(again, book, "a contact book changed across its encoding"),
        Err(e) => panic!("a re-encoded contact book does not decode: {e}"),
    }
}

fn content(body: &[u8]) {
    let Ok(content) = ContentV2::decode(body) else {
        return;
    };
    let bytes = match content.encode() {
        Ok(b) => b,
        Err(e) => panic!("a decoded content does not encode: {e}"),
    };
    assert!(bytes.len() <= MAX_CONTENT_V2_LEN);
    match ContentV2::decode(&bytes) {
        Ok(again) => {
            assert_eq!(again, content, "a content changed across its encoding");
            assert_eq!(again.encode().ok(), Some(bytes), "encoding is not stable");
        }
        Err(e) => panic!("a re-encoded content does not decode: {e}"),
    }
}

fn sessions(body: &[u8]) {
    let Ok(mut set) = SessionSet::decode(body) else {
        return;
    };
    assert_eq!(*set.encode(), body, "stored sessions re-encode differently");
    assert!(set.len() <= nightjar_client::messaging::sessions::MAX_SESSIONS_PER_DEVICE);
    let count = set.len();
    let message = &crate::ratchet_fixture().to_initiator[0];
    let _ = set.decrypt(message);
    assert_eq!(
        set.len(),
        count,
        "decrypting changed the number of sessions"
    );
    assert!(
        SessionSet::decode(&set.encode()).is_ok(),
        "sessions saved after a decryption do not decode"
    );
}

fn join_info(body: &[u8]) {
    let Ok(info) = JoinInfo::decode(body) else {
        return;
    };
    assert_eq!(info.encode(), body, "a join request re-encodes differently");
    assert!(info.name.len() <= 64, "a device name over 64 bytes");
    assert!(
        !info.name.chars().any(char::is_control),
        "a device name with a control character"
    );
}

fn first_answer(body: &[u8]) {
    let Ok((seed, count)) = decode_first_answer(body) else {
        return;
    };
    assert!(count <= MAX_HISTORY_CHUNKS, "too many history records");
    assert_eq!(
        *encode_first_answer(&seed, count),
        body,
        "a first answer re-encodes differently"
    );
}

fn history(body: &[u8]) {
    let Ok(records) = decode_history_chunk(body) else {
        return;
    };
    let json = match serde_json::to_vec(&records) {
        Ok(j) => j,
        Err(e) => panic!("decoded history records do not serialize: {e}"),
    };
    match decode_history_chunk(&json) {
        Ok(again) => assert_eq!(again, records, "history changed across JSON"),
        Err(e) => panic!("re-serialized history does not decode: {e}"),
    }
    let chunks = match history_chunks(&records) {
        Ok(c) => c,
        Err(e) => panic!("decoded history records do not chunk: {e}"),
    };
    let mut back = Vec::with_capacity(records.len());
    for chunk in &chunks {
        let part = match decode_history_chunk(chunk) {
            Ok(p) => p,
            Err(e) => panic!("a history chunk does not decode: {e}"),
        };
        assert!(
            chunk.len() <= HISTORY_CHUNK_BYTES
                || (part.len() == 1 && chunk.len() <= MAX_ANSWER_PAYLOAD),
            "a history chunk of {} bytes with {} records",
            chunk.len(),
            part.len()
        );
        back.extend(part);
    }
    assert_eq!(back, records, "history changed across chunks");
}

fn known_devices(body: &[u8]) {
    let Ok(known) = decode_known_devices(body) else {
        return;
    };
    assert!(known.removed().len() <= MAX_REMOVED_DEVICES);
    for entry in known.live() {
        assert!(
            !known.removed().contains(&entry.id),
            "a removed device is live"
        );
    }
    let bytes = match encode_known_devices(&known) {
        Ok(b) => b,
        Err(e) => panic!("a decoded device-list cache does not encode: {e}"),
    };
    match decode_known_devices(&bytes) {
        Ok(again) => {
            assert_eq!(
                again, known,
                "a device-list cache changed across its encoding"
            );
            assert_eq!(
                encode_known_devices(&again).ok(),
                Some(bytes),
                "encoding is not stable"
            );
        }
        Err(e) => panic!("a re-encoded device-list cache does not decode: {e}"),
    }
}
