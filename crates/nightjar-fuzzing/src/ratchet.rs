//! `ratchet_initial`, `ratchet_message`, `ratchet_state`: the decoders of
//! messages v2 (`nightjar-ratchet`): the initial message a device answers
//! with its prekeys, the ratchet message every later message is, and the
//! saved session state a client reads back from its disk.

use std::sync::OnceLock;

use nightjar_crypto::SeededRandom;
use nightjar_crypto::dh::{DhKeyPair, DhSecret};
use nightjar_crypto::kem::MlKemKeyPair;
use nightjar_ratchet::message::{InitialMessage, Message};
use nightjar_ratchet::{InMemoryPrekeyStore, PrekeyBundle, Session};

use crate::mask::masked;

/// The associated-data context of the reference session.
pub const RATCHET_CONTEXT: &[u8] = b"fuzz initiator | fuzz responder";

/// The reference devices, prekeys and messages every ratchet target uses.
pub struct RatchetFixture {
    /// The responder device's identity key pair.
    pub responder_identity: DhKeyPair,
    /// The responder's prekey secrets (signed prekey 1, one-time prekey 2,
    /// one-time ML-KEM prekey 3, last-resort ML-KEM prekey 4).
    pub store: InMemoryPrekeyStore,
    /// An initial message using the one-time prekeys.
    pub initial_one_time: Vec<u8>,
    /// An initial message using only the signed and last-resort prekeys.
    pub initial_last_resort: Vec<u8>,
    /// The initiator's session after the responder's first reply was read.
    pub initiator: Session,
    /// The responder's session at the same moment.
    pub responder: Session,
    /// Three messages from the responder to `initiator`, unread: the first
    /// starts a new chain, the other two follow it.
    pub to_initiator: Vec<Vec<u8>>,
}

fn pair(byte: u8) -> DhKeyPair {
    DhKeyPair::from_secret(DhSecret::from_bytes([byte; 32]))
}

fn build() -> Result<RatchetFixture, nightjar_ratchet::RatchetError> {
    let mut rng = SeededRandom::from_seed([0x5a; 32]);
    let initiator_identity = pair(0x11);
    let responder_identity = pair(0x21);
    let spk = pair(0x22);
    let opk = pair(0x23);
    let kem_one_time = MlKemKeyPair::from_seed(&[0x24; 64]);
    let kem_last = MlKemKeyPair::from_seed(&[0x25; 64]);
    let mut store = InMemoryPrekeyStore::new();
    store.add_signed_prekey(1, spk.secret().clone());
    store.add_one_time_prekey(2, opk.secret().clone());
    store.add_kem_prekey(3, true, kem_one_time.secret_key().clone());
    store.add_kem_prekey(4, false, kem_last.secret_key().clone());
    let one_time = PrekeyBundle {
        identity_key: *responder_identity.public(),
        signed_prekey_id: 1,
        signed_prekey: *spk.public(),
        one_time_prekey: Some((2, *opk.public())),
        kem_prekey_id: 3,
        kem_prekey: kem_one_time.public_key().clone(),
        kem_prekey_one_time: true,
    };
    let last_resort = PrekeyBundle {
        one_time_prekey: None,
        kem_prekey_id: 4,
        kem_prekey: kem_last.public_key().clone(),
        kem_prekey_one_time: false,
        ..one_time.clone()
    };
    let mut other =
        Session::initiate(&mut rng, &initiator_identity, &last_resort, RATCHET_CONTEXT)?;
    let initial_last_resort = other.encrypt(&mut rng, b"fuzz: last-resort prekeys")?;

    let mut initiator =
        Session::initiate(&mut rng, &initiator_identity, &one_time, RATCHET_CONTEXT)?;
    let initial_one_time = initiator.encrypt(&mut rng, b"fuzz: one-time prekeys")?;
    let mut used = store.clone();
    let (mut responder, _) = Session::respond(
        &responder_identity,
        &mut used,
        RATCHET_CONTEXT,
        &initial_one_time,
    )?;
    let reply = responder.encrypt(&mut rng, b"fuzz: reply")?;
    initiator.decrypt(&reply)?;
    let again = initiator.encrypt(&mut rng, b"fuzz: second step")?;
    responder.decrypt(&again)?;
    let mut to_initiator = Vec::new();
    for text in [&b"fuzz: new chain"[..], b"fuzz: same chain", b""] {
        to_initiator.push(responder.encrypt(&mut rng, text)?);
    }
    Ok(RatchetFixture {
        responder_identity,
        store,
        initial_one_time,
        initial_last_resort,
        initiator,
        responder,
        to_initiator,
    })
}

/// The reference fixture, built once (deterministically).
pub fn ratchet_fixture() -> &'static RatchetFixture {
    static FIXTURE: OnceLock<RatchetFixture> = OnceLock::new();
    FIXTURE.get_or_init(|| match build() {
        Ok(f) => f,
        Err(e) => panic!("cannot build the ratchet fixture: {e}"),
    })
}

/// Fuzzes `InitialMessage::decode` and `Session::respond` (a device answers
/// every initial message it fetches with its prekeys).
///
/// Checks, for each input:
/// 1. Raw: decoding never panics, and a decoded message re-encodes to the
///    input; `respond` with the reference responder never panics, and
///    accepts only messages that decode.
/// 2. Structured: the reference initial message (one-time prekeys) XORed
///    with the input is answered only when the mask is all zero; a refused
///    one consumes no prekey.
pub fn ratchet_initial(data: &[u8]) {
    let f = ratchet_fixture();
    let decoded = InitialMessage::decode(data);
    if let Ok(m) = &decoded {
        assert_eq!(
            m.encode(),
            data,
            "an initial message did not re-encode to itself"
        );
    }
    let mut store = f.store.clone();
    let answered = Session::respond(&f.responder_identity, &mut store, RATCHET_CONTEXT, data);
    assert!(
        answered.is_err() || decoded.is_ok(),
        "answered an undecodable message"
    );

    let (bytes, altered) = masked(&f.initial_one_time, data);
    let mut store = f.store.clone();
    match Session::respond(&f.responder_identity, &mut store, RATCHET_CONTEXT, &bytes) {
        Ok(_) if altered => panic!("an altered initial message was answered"),
        Ok((_, plain)) => assert_eq!(&plain[..], b"fuzz: one-time prekeys"),
        Err(e) if !altered => panic!("the reference initial message failed: {e}"),
        Err(_) => assert_eq!(
            store.one_time_counts(),
            f.store.one_time_counts(),
            "a refused initial message consumed a prekey"
        ),
    }
}

/// Fuzzes `Message::decode` and `Session::decrypt` (every message of a
/// session after the first).
///
/// Checks, for each input:
/// 1. Raw: decoding never panics and a decoded message re-encodes to the
///    input; the reference initiator's `decrypt` never panics.
/// 2. Structured: each of the three reference messages XORed with the input
///    opens only when the mask is all zero, and a refused one leaves the
///    session's saved bytes unchanged.
pub fn ratchet_message(data: &[u8]) {
    let f = ratchet_fixture();
    if let Ok(m) = Message::decode(data) {
        assert_eq!(m.encode(), data, "a message did not re-encode to itself");
    }
    let mut session = f.initiator.clone();
    let _ = session.decrypt(data);

    let before = f.initiator.to_bytes();
    for reference in &f.to_initiator {
        let (bytes, altered) = masked(reference, data);
        let mut session = f.initiator.clone();
        match session.decrypt(&bytes) {
            Ok(_) if altered => panic!("an altered message opened"),
            Ok(_) => {}
            Err(e) if !altered => panic!("a reference message failed to open: {e}"),
            Err(_) => assert_eq!(
                *session.to_bytes(),
                *before,
                "a refused message changed the session"
            ),
        }
    }
}

/// Fuzzes `Session::from_bytes` (a client reads every session back from its
/// disk; the file may be damaged).
///
/// Checks, for each input: decoding never panics; a decoded state re-encodes
/// to the input, and can encrypt (or refuse to) and decrypt the reference
/// messages (or refuse to) without panicking.
pub fn ratchet_state(data: &[u8]) {
    let Ok(mut session) = Session::from_bytes(data) else {
        return;
    };
    assert_eq!(
        *session.to_bytes(),
        data,
        "a saved state did not re-encode to itself"
    );
    let mut copy = session.clone();
    let _ = copy.encrypt(&mut SeededRandom::from_seed([1; 32]), b"after a restore");
    for m in &ratchet_fixture().to_initiator {
        let _ = session.decrypt(m);
    }
}
