//! The messages-v2 test vectors, `test-vectors/pqxdh.json` and
//! `test-vectors/ratchet.json`.
//!
//! The generator drives real [`Session`]s with a seeded generator whose
//! draws it records, and recomputes every intermediate value beside them
//! from `docs/PROTOCOL.md` §14–§15 with `nightjar_crypto`'s `dh`, `kem` and
//! `kdf` functions (a small model of the sender's side, independent of the
//! session's code); the session's bytes must equal the model's. The test
//! then fails if a committed file differs from what it generates (run with
//! `NIGHTJAR_REGEN_VECTORS=1` to rewrite them), and
//! `python3 test-vectors/check_v2.py` recomputes everything with libsodium
//! and kyber-py.

#![allow(clippy::unwrap_used, clippy::expect_used, missing_docs)]

use std::cell::RefCell;
use std::path::PathBuf;
use std::rc::Rc;

use nightjar_crypto::dh::{DhKeyPair, DhSecret, dh};
use nightjar_crypto::kdf::{self, ChainKey, HandshakeKeys, HeaderKey, RootKey};
use nightjar_crypto::kem::{MlKemKeyPair, encapsulate_deterministic};
use nightjar_crypto::{CryptoError, RandomSource, SeededRandom};
use nightjar_ratchet::message::PrekeyIds;
use nightjar_ratchet::pqxdh::{associated_data, transcript};
use nightjar_ratchet::{InMemoryPrekeyStore, PrekeyBundle, RatchetError, Session};
use serde_json::{Value, json};

// ---------------------------------------------------------------------------
// A generator whose draws are recorded
// ---------------------------------------------------------------------------

#[derive(Clone)]
struct Recorder {
    inner: Rc<RefCell<SeededRandom>>,
    log: Rc<RefCell<Vec<Vec<u8>>>>,
}

impl Recorder {
    fn new(seed: u8) -> Recorder {
        Recorder {
            inner: Rc::new(RefCell::new(SeededRandom::from_seed([seed; 32]))),
            log: Rc::new(RefCell::new(Vec::new())),
        }
    }

    /// The draws since the last call, by length.
    fn take(&self) -> Vec<Vec<u8>> {
        std::mem::take(&mut *self.log.borrow_mut())
    }
}

impl RandomSource for Recorder {
    fn fill(&mut self, dest: &mut [u8]) -> Result<(), CryptoError> {
        self.inner.borrow_mut().fill(dest)?;
        self.log.borrow_mut().push(dest.to_vec());
        Ok(())
    }
}

fn h(bytes: &[u8]) -> Value {
    Value::String(hex::encode(bytes))
}

fn arr<const N: usize>(v: &[u8]) -> [u8; N] {
    v.try_into().unwrap()
}

// ---------------------------------------------------------------------------
// Devices
// ---------------------------------------------------------------------------

struct Responder {
    identity: DhKeyPair,
    spk: DhKeyPair,
    opk: DhKeyPair,
    kem_one_time_seed: [u8; 64],
    kem_last_resort_seed: [u8; 64],
    store: InMemoryPrekeyStore,
}

fn responder() -> Responder {
    let identity = DhKeyPair::from_secret(DhSecret::from_bytes([0xb1; 32]));
    let spk = DhKeyPair::from_secret(DhSecret::from_bytes([0xb2; 32]));
    let opk = DhKeyPair::from_secret(DhSecret::from_bytes([0xb3; 32]));
    let kem_one_time_seed = [0xb4; 64];
    let kem_last_resort_seed = [0xb5; 64];
    let mut store = InMemoryPrekeyStore::new();
    store.add_signed_prekey(7, spk.secret().clone());
    store.add_one_time_prekey(1001, opk.secret().clone());
    store.add_kem_prekey(
        2001,
        true,
        MlKemKeyPair::from_seed(&kem_one_time_seed)
            .secret_key()
            .clone(),
    );
    store.add_kem_prekey(
        3,
        false,
        MlKemKeyPair::from_seed(&kem_last_resort_seed)
            .secret_key()
            .clone(),
    );
    Responder {
        identity,
        spk,
        opk,
        kem_one_time_seed,
        kem_last_resort_seed,
        store,
    }
}

fn initiator_identity() -> DhKeyPair {
    DhKeyPair::from_secret(DhSecret::from_bytes([0xa1; 32]))
}

const CONTEXT: &[u8] = b"nj1initiatoraccount|device-0001|nj1responderaccount|device-0002";

// ---------------------------------------------------------------------------
// The model of a sender (docs/PROTOCOL.md §15), for intermediate values
// ---------------------------------------------------------------------------

struct Party {
    dh: Option<DhKeyPair>,
    kem: Option<MlKemKeyPair>,
    next_send_header: HeaderKey,
    send: Option<(ChainKey, HeaderKey, u32, Vec<u8>)>,
    previous_send_len: u32,
    pending: bool,
}

struct Model {
    root: RootKey,
    ad: Vec<u8>,
    parties: [Party; 2],
}

impl Model {
    /// One sent message: returns the vector fields and the ratchet message
    /// bytes. `draws` are the generator's draws for it.
    fn send(&mut self, from: usize, plaintext: &[u8], draws: &[Vec<u8>]) -> (Value, Vec<u8>) {
        let peer_dh = *self.parties[1 - from].dh.as_ref().unwrap().public();
        let peer_kem = self.parties[1 - from]
            .kem
            .as_ref()
            .unwrap()
            .public_key()
            .clone();
        let me = &mut self.parties[from];
        let mut fields = serde_json::Map::new();
        let nonce_draw;
        if me.pending {
            assert_eq!(draws.len(), 4, "a step draws 32, 64, 32 and 24 bytes");
            let dh_new = DhKeyPair::from_secret(DhSecret::from_bytes(arr(&draws[0])));
            let kem_new = MlKemKeyPair::from_seed(&arr(&draws[1]));
            let (ct, ss) = encapsulate_deterministic(&peer_kem, &arr(&draws[2]));
            let shared = dh(dh_new.secret(), &peer_dh).unwrap();
            let (rk, ck, nhk) = kdf::root_kdf(&self.root, &shared, &ss);
            let hk = std::mem::replace(&mut me.next_send_header, nhk.clone());
            let previous = me.send.as_ref().map_or(0, |s| s.2);
            fields.insert(
                "step".into(),
                json!({
                    "dh_secret": h(&draws[0]),
                    "dh_public": h(dh_new.public().as_bytes()),
                    "peer_dh_public": h(peer_dh.as_bytes()),
                    "dh_output": h(shared.as_bytes()),
                    "kem_seed": h(&draws[1]),
                    "kem_public": h(kem_new.public_key().as_bytes()),
                    "peer_kem_public": h(peer_kem.as_bytes()),
                    "kem_randomness": h(&draws[2]),
                    "kem_ciphertext": h(ct.as_bytes()),
                    "kem_shared_secret": h(ss.as_bytes()),
                    "root_key_before": h(self.root.as_bytes()),
                    "root_key": h(rk.as_bytes()),
                    "chain_key": h(ck.as_bytes()),
                    "header_key": h(hk.as_bytes()),
                    "next_header_key": h(nhk.as_bytes()),
                }),
            );
            self.root = rk;
            me.previous_send_len = previous;
            me.send = Some((ck, hk, 0, ct.as_bytes().to_vec()));
            me.dh = Some(dh_new);
            me.kem = Some(kem_new);
            me.pending = false;
            nonce_draw = &draws[3];
        } else {
            assert_eq!(draws.len(), 1, "a message in a chain draws its nonce only");
            nonce_draw = &draws[0];
        }
        let nonce: [u8; 24] = arr(nonce_draw);
        let dh_pub = *me.dh.as_ref().unwrap().public();
        let kem_pub = me.kem.as_ref().unwrap().public_key().clone();
        let (ck, hk, n, ct) = me.send.as_mut().unwrap();
        let (next_ck, mk) = kdf::chain_kdf(ck);
        let mut header = dh_pub.as_bytes().to_vec();
        header.extend_from_slice(&me.previous_send_len.to_be_bytes());
        header.extend_from_slice(&n.to_be_bytes());
        header.extend_from_slice(kem_pub.as_bytes());
        header.extend_from_slice(ct);
        let enc_header = hk.seal(&nonce, &self.ad, &header).unwrap();
        let mut wire = vec![0x02];
        wire.extend_from_slice(&nonce);
        wire.extend_from_slice(&enc_header);
        let mut aad = self.ad.clone();
        aad.extend_from_slice(&wire);
        let (aead_key, aead_nonce) = mk.aead_key_nonce();
        let body = mk.seal(&aad, plaintext).unwrap();
        wire.extend_from_slice(&body);
        fields.insert("n".into(), json!(*n));
        fields.insert("previous_chain_len".into(), json!(me.previous_send_len));
        fields.insert("chain_key".into(), h(ck.as_bytes()));
        fields.insert("next_chain_key".into(), h(next_ck.as_bytes()));
        fields.insert("header_key".into(), h(hk.as_bytes()));
        fields.insert("message_key".into(), h(mk.as_bytes()));
        fields.insert("aead_key".into(), h(&*aead_key));
        fields.insert("aead_nonce".into(), h(&aead_nonce));
        fields.insert("header_nonce".into(), h(&nonce));
        fields.insert("header".into(), h(&header));
        fields.insert("encrypted_header".into(), h(&enc_header));
        fields.insert("body".into(), h(&body));
        *ck = next_ck;
        *n += 1;
        (Value::Object(fields), wire)
    }
}

// ---------------------------------------------------------------------------
// pqxdh.json
// ---------------------------------------------------------------------------

struct Started {
    case: Value,
    model: Model,
    alice: Session,
    bob_first: Option<(Session, Vec<u8>)>,
    handshake_bytes: Vec<u8>,
    rng: Recorder,
}

/// Runs a handshake and the initiator's first message; returns the case
/// and the state to go on with.
fn handshake(name: &str, one_time: bool, seed: u8) -> Started {
    let mut rng = Recorder::new(seed);
    let b = responder();
    let a = initiator_identity();
    let kem_seed = if one_time {
        b.kem_one_time_seed
    } else {
        b.kem_last_resort_seed
    };
    let kem = MlKemKeyPair::from_seed(&kem_seed);
    let bundle = PrekeyBundle {
        identity_key: *b.identity.public(),
        signed_prekey_id: 7,
        signed_prekey: *b.spk.public(),
        one_time_prekey: one_time.then(|| (1001, *b.opk.public())),
        kem_prekey_id: if one_time { 2001 } else { 3 },
        kem_prekey: kem.public_key().clone(),
        kem_prekey_one_time: one_time,
    };
    let mut alice = Session::initiate(&mut rng, &a, &bundle, CONTEXT).unwrap();
    let draws = rng.take();
    assert_eq!(draws.len(), 2, "the handshake draws EK and m");

    // The model of the handshake (§14.3).
    let ek = DhKeyPair::from_secret(DhSecret::from_bytes(arr(&draws[0])));
    let (ct, ss) = encapsulate_deterministic(&bundle.kem_prekey, &arr(&draws[1]));
    let dh1 = dh(a.secret(), &bundle.signed_prekey).unwrap();
    let dh2 = dh(ek.secret(), &bundle.identity_key).unwrap();
    let dh3 = dh(ek.secret(), &bundle.signed_prekey).unwrap();
    let dh4 = bundle
        .one_time_prekey
        .as_ref()
        .map(|(_, k)| dh(ek.secret(), k).unwrap());
    let ad = associated_data(a.public(), &bundle.identity_key, CONTEXT).unwrap();
    let ids = PrekeyIds {
        signed_prekey: 7,
        one_time_prekey: bundle.one_time_prekey.as_ref().map(|(id, _)| *id),
        kem_prekey: bundle.kem_prekey_id,
        kem_prekey_one_time: one_time,
    };
    let t = transcript(
        &ad,
        ek.public(),
        &ids,
        &bundle.signed_prekey,
        bundle.one_time_prekey.as_ref().map(|(_, k)| k),
        &bundle.kem_prekey,
        &ct,
    );
    let th = kdf::pqxdh_transcript_hash(&t);
    assert_eq!(&th, alice.handshake_id());
    let sk = kdf::pqxdh_secret(&th, &dh1, &dh2, &dh3, dh4.as_ref(), &ss);
    let keys = HandshakeKeys::expand(&sk);
    let mut handshake_bytes = vec![0x01];
    handshake_bytes.extend_from_slice(a.public().as_bytes());
    handshake_bytes.extend_from_slice(ek.public().as_bytes());
    handshake_bytes.extend_from_slice(&7u32.to_be_bytes());
    handshake_bytes.push(ids.flags());
    if let Some(id) = ids.one_time_prekey {
        handshake_bytes.extend_from_slice(&id.to_be_bytes());
    }
    handshake_bytes.extend_from_slice(&ids.kem_prekey.to_be_bytes());
    handshake_bytes.extend_from_slice(ct.as_bytes());

    let mut model = Model {
        root: keys.root.clone(),
        ad: ad.clone(),
        parties: [
            Party {
                dh: None,
                kem: None,
                next_send_header: keys.initiator_header.clone(),
                send: None,
                previous_send_len: 0,
                pending: true,
            },
            Party {
                dh: Some(b.spk.clone()),
                kem: Some(kem.clone()),
                next_send_header: keys.responder_next_header.clone(),
                send: None,
                previous_send_len: 0,
                pending: false,
            },
        ],
    };
    let plaintext = b"Hello from the initiator's device: the first message of a session.";
    let wire = alice.encrypt(&mut rng, plaintext).unwrap();
    let (first, ratchet_bytes) = model.send(0, plaintext, &rng.take());
    let mut expected = handshake_bytes.clone();
    expected.extend_from_slice(&ratchet_bytes);
    assert_eq!(
        wire, expected,
        "the session's initial message is the model's"
    );

    let mut store = b.store.clone();
    let (bob, opened) = Session::respond(&b.identity, &mut store, CONTEXT, &wire).unwrap();
    assert_eq!(&opened[..], plaintext);
    assert_eq!(bob.handshake_id(), &th);

    let case = json!({
        "name": name,
        "initiator_identity_secret": h(a.secret().as_bytes()),
        "initiator_identity_public": h(a.public().as_bytes()),
        "responder_identity_secret": h(b.identity.secret().as_bytes()),
        "responder_identity_public": h(b.identity.public().as_bytes()),
        "signed_prekey_id": 7,
        "signed_prekey_secret": h(b.spk.secret().as_bytes()),
        "signed_prekey_public": h(b.spk.public().as_bytes()),
        "one_time_prekey_id": if one_time { json!(1001) } else { Value::Null },
        "one_time_prekey_secret": if one_time { h(b.opk.secret().as_bytes()) } else { Value::Null },
        "one_time_prekey_public": if one_time { h(b.opk.public().as_bytes()) } else { Value::Null },
        "kem_prekey_id": ids.kem_prekey,
        "kem_prekey_one_time": one_time,
        "kem_prekey_seed": h(&kem_seed),
        "kem_prekey_public": h(kem.public_key().as_bytes()),
        "context": h(CONTEXT),
        "ephemeral_secret": h(&draws[0]),
        "ephemeral_public": h(ek.public().as_bytes()),
        "kem_randomness": h(&draws[1]),
        "kem_ciphertext": h(ct.as_bytes()),
        "kem_shared_secret": h(ss.as_bytes()),
        "dh1": h(dh1.as_bytes()),
        "dh2": h(dh2.as_bytes()),
        "dh3": h(dh3.as_bytes()),
        "dh4": dh4.as_ref().map_or(Value::Null, |d| h(d.as_bytes())),
        "flags": ids.flags(),
        "associated_data": h(&ad),
        "transcript": h(&t),
        "transcript_hash": h(&th),
        "secret": h(sk.as_bytes()),
        "root_key": h(keys.root.as_bytes()),
        "initiator_header_key": h(keys.initiator_header.as_bytes()),
        "responder_next_header_key": h(keys.responder_next_header.as_bytes()),
        "handshake_bytes": h(&handshake_bytes),
        "first_message": {
            "plaintext": h(plaintext),
            "send": first,
        },
        "initial_message": h(&wire),
    });
    Started {
        case,
        model,
        alice,
        bob_first: Some((bob, wire)),
        handshake_bytes,
        rng,
    }
}

fn pqxdh_file() -> Value {
    let cases: Vec<Value> = [
        handshake("one-time prekeys", true, 0x11),
        handshake("last-resort prekeys only", false, 0x12),
    ]
    .into_iter()
    .map(|s| s.case)
    .collect();
    json!({
        "description": "Messages v2 handshake (docs/PROTOCOL.md §14). X25519 keys are raw 32-byte secrets (clamped when used). ML-KEM-768 keys come from KeyGen_internal(d, z) with kem_*_seed = d || z, encapsulation from Encaps_internal(ek, m) with m = kem_randomness. DH1 = X25519(IK_I, SPK_R), DH2 = X25519(EK_I, IK_R), DH3 = X25519(EK_I, SPK_R), DH4 = X25519(EK_I, OPK_R) or absent. AD = IK_I || IK_R || u16be(len(context)) || context. transcript = AD || EK_I || u32be(spk id) || SPK_R || flags || [u32be(opk id) || OPK_R] || u32be(kem id) || PQPK_R || CT; TH = BLAKE2b-32(key 'nightjar/v2/pqxdh-transcript', transcript); SK = BLAKE2b-32(key 'nightjar/v2/pqxdh-secret', TH || DH1 || DH2 || DH3 [|| DH4] || SS); root_key, initiator_header_key, responder_next_header_key = BLAKE2b-32(SK) keyed 'nightjar/v2/pqxdh-root', 'nightjar/v2/pqxdh-initiator-header', 'nightjar/v2/pqxdh-responder-header'. initial_message = handshake_bytes || the first ratchet message, whose fields are as in ratchet.json (its step: the initiator's new ratchet key against SPK_R, encapsulating to PQPK_R).",
        "cases": cases,
    })
}

// ---------------------------------------------------------------------------
// ratchet.json
// ---------------------------------------------------------------------------

const NAMES: [&str; 2] = ["initiator", "responder"];

fn ratchet_file() -> Value {
    let mut s = handshake("conversation", true, 0x21);
    let (bob, _) = s.bob_first.take().unwrap();
    let mut sessions = [s.alice, bob];
    let mut rng = s.rng.clone();
    let mut events: Vec<Value> = Vec::new();
    let mut sent: Vec<(usize, Vec<u8>, Vec<u8>, u32)> = Vec::new(); // (from, wire, plaintext, chain id)
    let mut chain_id = [0u32, 0u32];
    let mut last_seen = [0u32, 0u32];
    // Message 0 is the handshake case's first message; it is sent and read
    // as in pqxdh.json, listed here so that ids start at 0.
    let first = s.case["first_message"]["send"].clone();
    let first_wire = hex::decode(s.case["initial_message"].as_str().unwrap()).unwrap();
    events.push(json!({
        "event": "send", "id": 0, "from": "initiator", "initial": true,
        "plaintext": s.case["first_message"]["plaintext"].clone(),
        "send": first, "message": h(&first_wire),
    }));
    sent.push((0, first_wire, Vec::new(), 1));
    chain_id[0] = 1;
    events.push(
        json!({"event": "receive", "id": 0, "to": "responder", "result": "ok",
        "plaintext": s.case["first_message"]["plaintext"].clone(), "skipped_keys_after": 0}),
    );
    last_seen[1] = 1;
    s.model.parties[1].pending = true;

    let mut send = |from: usize,
                    text: &str,
                    sessions: &mut [Session; 2],
                    events: &mut Vec<Value>,
                    sent: &mut Vec<(usize, Vec<u8>, Vec<u8>, u32)>,
                    model: &mut Model| {
        let wire = sessions[from].encrypt(&mut rng, text.as_bytes()).unwrap();
        let stepping = model.parties[from].pending;
        let (fields, ratchet_bytes) = model.send(from, text.as_bytes(), &rng.take());
        let initial = !sessions[from].is_acknowledged();
        let mut expected = if initial {
            s.handshake_bytes.clone()
        } else {
            Vec::new()
        };
        expected.extend_from_slice(&ratchet_bytes);
        assert_eq!(
            wire,
            expected,
            "message {} from the session is the model's",
            sent.len()
        );
        if stepping {
            chain_id[from] += 1;
        }
        let id = sent.len();
        events.push(json!({
            "event": "send", "id": id, "from": NAMES[from], "plaintext": h(text.as_bytes()),
            "initial": initial, "send": fields, "message": h(&wire),
        }));
        sent.push((from, wire, text.as_bytes().to_vec(), chain_id[from]));
    };
    let receive = |id: usize,
                   sessions: &mut [Session; 2],
                   events: &mut Vec<Value>,
                   sent: &[(usize, Vec<u8>, Vec<u8>, u32)],
                   model: &mut Model,
                   last_seen: &mut [u32; 2]| {
        let (from, wire, plain, chain) = &sent[id];
        let to = 1 - from;
        let result = sessions[to].decrypt(wire);
        match result {
            Ok(opened) => {
                assert_eq!(&opened[..], &plain[..]);
                if *chain > last_seen[to] {
                    last_seen[to] = *chain;
                    model.parties[to].pending = true;
                }
                events.push(json!({
                    "event": "receive", "id": id, "to": NAMES[to], "result": "ok",
                    "plaintext": h(plain), "skipped_keys_after": sessions[to].skipped_key_count(),
                }));
            }
            Err(e) => {
                assert_eq!(e, RatchetError::DuplicateOrExpired);
                events.push(json!({
                    "event": "receive", "id": id, "to": NAMES[to], "result": "duplicate_or_expired",
                    "skipped_keys_after": sessions[to].skipped_key_count(),
                }));
            }
        }
    };
    let m = &mut s.model;
    // 1–2: the initiator sends two more initial messages; the second is read
    // first, the first stays in flight.
    send(
        0,
        "second, still an initial message",
        &mut sessions,
        &mut events,
        &mut sent,
        m,
    );
    send(
        0,
        "third, still an initial message",
        &mut sessions,
        &mut events,
        &mut sent,
        m,
    );
    receive(2, &mut sessions, &mut events, &sent, m, &mut last_seen);
    // 3–4: the responder answers (a step); the initiator reads 4 then 3.
    send(1, "first reply", &mut sessions, &mut events, &mut sent, m);
    send(1, "second reply", &mut sessions, &mut events, &mut sent, m);
    receive(4, &mut sessions, &mut events, &sent, m, &mut last_seen);
    receive(3, &mut sessions, &mut events, &sent, m, &mut last_seen);
    // 5–7: the initiator steps; the responder reads 7, then 1 (a skipped key
    // of the previous chain), then 5, 6.
    send(
        0,
        "after the reply: a new chain",
        &mut sessions,
        &mut events,
        &mut sent,
        m,
    );
    send(0, "same chain", &mut sessions, &mut events, &mut sent, m);
    send(
        0,
        "same chain, read first",
        &mut sessions,
        &mut events,
        &mut sent,
        m,
    );
    receive(7, &mut sessions, &mut events, &sent, m, &mut last_seen);
    receive(1, &mut sessions, &mut events, &sent, m, &mut last_seen);
    receive(5, &mut sessions, &mut events, &sent, m, &mut last_seen);
    receive(6, &mut sessions, &mut events, &sent, m, &mut last_seen);
    // 8–11: the responder steps and sends four; 11 is read, then 9, then 9
    // again (refused), then 8; 10 is never delivered.
    for text in ["r1", "r2 (read late)", "r3 (lost)", "r4 (read first)"] {
        send(1, text, &mut sessions, &mut events, &mut sent, m);
    }
    receive(11, &mut sessions, &mut events, &sent, m, &mut last_seen);
    receive(9, &mut sessions, &mut events, &sent, m, &mut last_seen);
    receive(9, &mut sessions, &mut events, &sent, m, &mut last_seen);
    receive(8, &mut sessions, &mut events, &sent, m, &mut last_seen);
    // 12–13: one more step each way.
    send(0, "i: last step", &mut sessions, &mut events, &mut sent, m);
    receive(12, &mut sessions, &mut events, &sent, m, &mut last_seen);
    send(1, "", &mut sessions, &mut events, &mut sent, m);
    receive(13, &mut sessions, &mut events, &sent, m, &mut last_seen);
    receive(12, &mut sessions, &mut events, &sent, m, &mut last_seen);

    let mut handshake = s.case;
    if let Value::Object(map) = &mut handshake {
        map.remove("first_message");
        map.remove("initial_message");
        map.remove("name");
    }
    json!({
        "description": "A messages-v2 conversation (docs/PROTOCOL.md §15) after the handshake given (fields as in pqxdh.json). Events in order: 'send' (with the sender's randomness and every derived value: for a message starting a chain, 'step' = DH and ML-KEM step: dh_output = X25519(dh_secret, peer_dh_public); (kem_ciphertext, kem_shared_secret) = Encaps_internal(peer_kem_public, kem_randomness); root_key || chain_key = BLAKE2b-64(key 'nightjar/v2/ratchet-root', root_key_before || dh_output || kem_shared_secret); next_header_key = BLAKE2b-32(key 'nightjar/v2/ratchet-next-header', same input); header_key = the sender's previous next_header_key. Per message: message_key = BLAKE2b-32(key 'nightjar/v2/ratchet-message', chain_key), next_chain_key = BLAKE2b-32(key 'nightjar/v2/ratchet-chain', chain_key); aead_key || aead_nonce = BLAKE2b-56(key 'nightjar/v2/message-key', message_key); header = DH (32) || u32be(PN) || u32be(N) || KEM public (1184) || KEM ciphertext (1088); encrypted_header = XChaCha20-Poly1305(header_key, header_nonce, header, aad = AD); message = [0x02] || header_nonce || encrypted_header || body, body = XChaCha20-Poly1305(aead_key, aead_nonce, plaintext, aad = AD || [0x02] || header_nonce || encrypted_header); while the initiator has read nothing its messages are handshake_bytes || message) and 'receive' (delivery of message id to a side, in this order: 'ok' with the plaintext, or 'duplicate_or_expired'; skipped_keys_after = skipped message keys the receiver then holds).",
        "handshake": handshake,
        "events": events,
    })
}

// ---------------------------------------------------------------------------
// Writing and checking the files
// ---------------------------------------------------------------------------

fn vectors_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../test-vectors")
}

fn render(v: &Value) -> String {
    let mut text = serde_json::to_string_pretty(v).unwrap();
    text.push('\n');
    text
}

#[test]
fn committed_v2_vectors_are_what_the_generator_writes() {
    let files = [
        ("pqxdh.json", pqxdh_file()),
        ("ratchet.json", ratchet_file()),
    ];
    let regen = std::env::var("NIGHTJAR_REGEN_VECTORS").as_deref() == Ok("1");
    let mut stale = Vec::new();
    for (name, value) in files {
        let path = vectors_dir().join(name);
        let text = render(&value);
        if regen {
            std::fs::write(&path, text).unwrap();
        } else if std::fs::read_to_string(&path).ok().as_deref() != Some(text.as_str()) {
            stale.push(name);
        }
    }
    assert!(
        stale.is_empty(),
        "test vectors differ from what the code computes (if the change is intended: \
         NIGHTJAR_REGEN_VECTORS=1 cargo test -p nightjar-ratchet --test vectors, check with \
         python3 test-vectors/check_v2.py, and commit): {stale:?}"
    );
}

#[test]
fn the_ratchet_vector_has_steps_both_ways_out_of_order_skips_and_a_replay() {
    let v = ratchet_file();
    let events = v["events"].as_array().unwrap();
    let steps = |who: &str| {
        events
            .iter()
            .filter(|e| e["event"] == "send" && e["from"] == who && e["send"]["step"].is_object())
            .count()
    };
    assert!(steps("initiator") >= 3 && steps("responder") >= 3);
    assert!(events.iter().any(|e| e["result"] == "duplicate_or_expired"));
    assert!(
        events
            .iter()
            .any(|e| e["skipped_keys_after"].as_u64() > Some(0))
    );
}
