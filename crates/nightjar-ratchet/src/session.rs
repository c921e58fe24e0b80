//! A session between two devices: the handshake's result and the ratchet,
//! with encryption, decryption and the saved state (`docs/PROTOCOL.md`
//! §15.6).

use core::fmt;

use nightjar_crypto::RandomSource;
use nightjar_crypto::dh::{DhKeyPair, DhPublic, DhSecret};
use nightjar_crypto::hash::ct_eq;
use nightjar_crypto::kdf::{ChainKey, HeaderKey, MessageKey, RootKey};
use nightjar_crypto::kem::{
    MLKEM768_CIPHERTEXT_LEN, MLKEM768_PUBLIC_KEY_LEN, MLKEM768_SECRET_KEY_LEN, MlKemCiphertext,
    MlKemKeyPair, MlKemPublicKey, MlKemSecretKey,
};
use zeroize::Zeroizing;

use crate::codec::Reader;
use crate::error::RatchetError;
use crate::message::{INITIAL_PREFIX_LEN, InitialMessage, KIND_INITIAL, Message};
use crate::pqxdh::{self, MAX_CONTEXT_LEN, PrekeyBundle, PrekeyStore};
use crate::ratchet::{
    MAX_SKIPPED_KEYS, RatchetState, RecvChain, SendChain, SkippedKey, SkippedKeys,
};

/// Version byte of the saved state layout ([`Session::to_bytes`]).
pub const STATE_VERSION: u8 = 0x01;

/// Largest saved state [`Session::from_bytes`] accepts.
pub const MAX_STATE_LEN: usize = 262_144;

/// Which side of the handshake a session is.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Role {
    /// It read the peer's prekey bundle and sent the initial message.
    Initiator,
    /// It answered an initial message with its prekeys.
    Responder,
}

/// One end of a session between two devices.
///
/// Holds every secret of the session (zeroized when dropped; `Debug` shows
/// only the role and the skipped-key count). Save it with
/// [`Session::to_bytes`] after every [`Session::encrypt`] and successful
/// [`Session::decrypt`], encrypted at rest: a state saved *before* a
/// decryption can decrypt that message again, and a stale state that sends
/// reuses message keys. For the same reason a clone must never send: `Clone`
/// exists for trial work and tests, and the clone is zeroized when dropped.
#[derive(Clone)]
pub struct Session {
    role: Role,
    ad: Vec<u8>,
    handshake_id: [u8; 32],
    handshake_bytes: Vec<u8>,
    acknowledged: bool,
    ratchet: RatchetState,
}

impl fmt::Debug for Session {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Session")
            .field("role", &self.role)
            .field("acknowledged", &self.acknowledged)
            .field("skipped_keys", &self.ratchet.skipped.len())
            .field("secrets", &"[redacted]")
            .finish()
    }
}

impl Session {
    /// Starts a session with the device whose (checked) prekey bundle is
    /// `bundle`, as the device whose identity key pair is `identity`.
    ///
    /// `context` goes into the associated data (at most 1,024 bytes; the
    /// responder must pass the same bytes). Draws the ephemeral key (32
    /// bytes) and the encapsulation randomness (32) from `rng`. Nothing is
    /// sent yet: every [`Session::encrypt`] gives an initial message until a
    /// reply has been read.
    pub fn initiate(
        rng: &mut dyn RandomSource,
        identity: &DhKeyPair,
        bundle: &PrekeyBundle,
        context: &[u8],
    ) -> Result<Session, RatchetError> {
        let hs = pqxdh::initiate(rng, identity, bundle, context)?;
        let keys = hs.keys;
        Ok(Session {
            role: Role::Initiator,
            ad: hs.ad,
            handshake_id: hs.transcript_hash,
            handshake_bytes: hs.handshake_bytes,
            acknowledged: false,
            ratchet: RatchetState {
                root: keys.root.clone(),
                dh_self: None,
                kem_self: None,
                dh_peer: Some(bundle.signed_prekey),
                kem_peer: Some(bundle.kem_prekey.clone()),
                send: None,
                recv: None,
                next_send_header: keys.initiator_header.clone(),
                next_recv_header: keys.responder_next_header.clone(),
                previous_send_len: 0,
                send_step_pending: true,
                skipped: SkippedKeys::default(),
            },
        })
    }

    /// Answers an initial message as the device whose identity key pair is
    /// `identity` and whose prekey secrets are in `store`: runs the
    /// handshake, decrypts the first message and returns the new session
    /// with that plaintext.
    ///
    /// The one-time prekeys the message used are consumed from `store` only
    /// if it authenticates; on any error nothing changes. The caller checks
    /// first that the message's `initiator_identity` is the identity key
    /// the sender's device list names ([`InitialMessage::decode`]), and
    /// passes the same `context` as the initiator did.
    ///
    /// An initial message without one-time prekeys can be replayed to create
    /// the same session again; a client keeps the [`Session::handshake_id`]s
    /// it has answered and refuses a second one
    /// ([`Session::matches_initial`] recognises the initial messages of an
    /// existing session).
    pub fn respond(
        identity: &DhKeyPair,
        store: &mut dyn PrekeyStore,
        context: &[u8],
        message: &[u8],
    ) -> Result<(Session, Zeroizing<Vec<u8>>), RatchetError> {
        let initial = InitialMessage::decode(message)?;
        let (hs, prekeys) = pqxdh::respond(identity, store, &initial, context)?;
        let keys = hs.keys;
        let mut session = Session {
            role: Role::Responder,
            ad: hs.ad,
            handshake_id: hs.transcript_hash,
            handshake_bytes: hs.handshake_bytes,
            acknowledged: true,
            ratchet: RatchetState {
                root: keys.root.clone(),
                dh_self: Some(prekeys.signed_prekey),
                kem_self: Some(prekeys.kem_prekey),
                dh_peer: None,
                kem_peer: None,
                send: None,
                recv: None,
                next_send_header: keys.responder_next_header.clone(),
                next_recv_header: keys.initiator_header.clone(),
                previous_send_len: 0,
                send_step_pending: false,
                skipped: SkippedKeys::default(),
            },
        };
        let plain = session.ratchet.decrypt(&session.ad, &initial.message)?;
        if let Some(id) = initial.prekeys.one_time_prekey {
            store.consume_one_time_prekey(id);
        }
        if initial.prekeys.kem_prekey_one_time {
            store.consume_kem_one_time_prekey(initial.prekeys.kem_prekey);
        }
        Ok((session, plain))
    }

    /// Encrypts `plaintext` (at most [`crate::MAX_PLAINTEXT_LEN`] bytes)
    /// into a message for the peer: an initial message while this is an
    /// initiator that has read no reply, else a ratchet message.
    ///
    /// Draws from `rng` as documented in `docs/PROTOCOL.md` §15.4: when the
    /// message starts a new sending chain, 32 + 64 + 32 bytes for the new
    /// X25519 key, the new ML-KEM key and the encapsulation; then 24 bytes
    /// for the header nonce. On error the session is unchanged.
    pub fn encrypt(
        &mut self,
        rng: &mut dyn RandomSource,
        plaintext: &[u8],
    ) -> Result<Vec<u8>, RatchetError> {
        let message = self.ratchet.encrypt(rng, &self.ad, plaintext)?;
        if self.acknowledged {
            Ok(message.encode())
        } else {
            let mut out = self.handshake_bytes.clone();
            out.extend_from_slice(&message.encode());
            Ok(out)
        }
    }

    /// Passes over the next sending message key without using it, so that
    /// a copy of this session saved now is one key ahead of this one: a
    /// device that keeps sending from this one after saving that copy never
    /// needs to save before a message leaves, and a restart from the copy
    /// cannot use a key twice (docs/PROTOCOL.md §15.6). The peer reads the
    /// next message as though one had been lost. `Ok(false)`, with nothing
    /// changed, when the next message starts a new sending chain.
    pub fn skip_send_key(&mut self) -> Result<bool, RatchetError> {
        self.ratchet.skip_send_key()
    }

    /// Decrypts a message from the peer: a ratchet message, or an initial
    /// message of this session's own handshake (the initiator repeats it
    /// until it reads a reply).
    ///
    /// On error the session is unchanged: a message that does not
    /// authenticate, a replay, or one that would skip too many keys leaves
    /// no trace. A message key is used once and then erased.
    pub fn decrypt(&mut self, message: &[u8]) -> Result<Zeroizing<Vec<u8>>, RatchetError> {
        let ratchet_message = match Message::decode(message)? {
            Message::Ratchet(m) => m,
            Message::Initial(initial) => {
                if self.role == Role::Initiator {
                    return Err(RatchetError::UnexpectedInitialMessage);
                }
                if !ct_eq(&initial.handshake_bytes(), &self.handshake_bytes) {
                    return Err(RatchetError::OtherHandshake);
                }
                initial.message
            }
        };
        let plain = self.ratchet.decrypt(&self.ad, &ratchet_message)?;
        self.acknowledged = true;
        Ok(plain)
    }

    /// Whether `message` is an initial message of this session's handshake
    /// (so it goes to [`Session::decrypt`], not [`Session::respond`]).
    pub fn matches_initial(&self, message: &[u8]) -> bool {
        self.role == Role::Responder
            && message.first() == Some(&KIND_INITIAL)
            && message
                .get(..self.handshake_bytes.len())
                .is_some_and(|prefix| ct_eq(prefix, &self.handshake_bytes))
    }

    /// Which side of the handshake this is.
    pub fn role(&self) -> Role {
        self.role
    }

    /// `TH`, the hash of the handshake transcript: the same on both sides,
    /// and different for every handshake.
    pub fn handshake_id(&self) -> &[u8; 32] {
        &self.handshake_id
    }

    /// The associated data `AD = IK_I ‖ IK_R ‖ u16be(|context|) ‖ context`.
    pub fn associated_data(&self) -> &[u8] {
        &self.ad
    }

    /// The initiator's and the responder's identity keys, from `AD`.
    fn identities(&self) -> (DhPublic, DhPublic) {
        let key = |range: core::ops::Range<usize>| {
            self.ad
                .get(range)
                .and_then(|b| DhPublic::from_slice(b).ok())
                .unwrap_or(DhPublic::from_bytes([0; 32]))
        };
        (key(0..32), key(32..64))
    }

    /// This device's identity key.
    pub fn local_identity(&self) -> DhPublic {
        let (i, r) = self.identities();
        match self.role {
            Role::Initiator => i,
            Role::Responder => r,
        }
    }

    /// The peer device's identity key.
    pub fn peer_identity(&self) -> DhPublic {
        let (i, r) = self.identities();
        match self.role {
            Role::Initiator => r,
            Role::Responder => i,
        }
    }

    /// Whether a message of the peer has been read (for an initiator: until
    /// then every message it sends is an initial message).
    pub fn is_acknowledged(&self) -> bool {
        self.acknowledged
    }

    /// How many skipped message keys are kept (at most 2,000).
    pub fn skipped_key_count(&self) -> usize {
        self.ratchet.skipped.len()
    }

    /// The whole state as versioned bytes (layout in `docs/PROTOCOL.md`
    /// §15.6), for the client to store encrypted at rest. The buffer is
    /// zeroized when dropped.
    pub fn to_bytes(&self) -> Zeroizing<Vec<u8>> {
        let r = &self.ratchet;
        let mut out = Zeroizing::new(Vec::with_capacity(
            8_192 + self.ad.len() + r.skipped.len() * 68,
        ));
        out.push(STATE_VERSION);
        out.push(match self.role {
            Role::Initiator => 0,
            Role::Responder => 1,
        });
        out.push(u8::from(self.acknowledged));
        // AD is at most 66 + 1,024 bytes: its length fits a u16.
        out.extend_from_slice(&(self.ad.len() as u16).to_be_bytes());
        out.extend_from_slice(&self.ad);
        out.extend_from_slice(&self.handshake_id);
        out.extend_from_slice(&(self.handshake_bytes.len() as u16).to_be_bytes());
        out.extend_from_slice(&self.handshake_bytes);
        out.extend_from_slice(r.root.as_bytes());
        match &r.dh_self {
            Some(k) => {
                out.push(1);
                out.extend_from_slice(k.secret().as_bytes());
            }
            None => out.push(0),
        }
        match &r.kem_self {
            Some(k) => {
                out.push(1);
                out.extend_from_slice(k.secret_key().as_bytes());
            }
            None => out.push(0),
        }
        match &r.dh_peer {
            Some(k) => {
                out.push(1);
                out.extend_from_slice(k.as_bytes());
            }
            None => out.push(0),
        }
        match &r.kem_peer {
            Some(k) => {
                out.push(1);
                out.extend_from_slice(k.as_bytes());
            }
            None => out.push(0),
        }
        match &r.send {
            Some(s) => {
                out.push(1);
                out.extend_from_slice(s.chain.as_bytes());
                out.extend_from_slice(s.header_key.as_bytes());
                out.extend_from_slice(&s.n.to_be_bytes());
                out.extend_from_slice(s.kem_ciphertext.as_bytes());
            }
            None => out.push(0),
        }
        match &r.recv {
            Some(c) => {
                out.push(1);
                out.extend_from_slice(c.chain.as_bytes());
                out.extend_from_slice(c.header_key.as_bytes());
                out.extend_from_slice(&c.n.to_be_bytes());
            }
            None => out.push(0),
        }
        out.extend_from_slice(r.next_send_header.as_bytes());
        out.extend_from_slice(r.next_recv_header.as_bytes());
        out.extend_from_slice(&r.previous_send_len.to_be_bytes());
        out.push(u8::from(r.send_step_pending));
        // At most 2,000 entries.
        out.extend_from_slice(&(r.skipped.len() as u32).to_be_bytes());
        for e in r.skipped.iter() {
            out.extend_from_slice(e.header_key.as_bytes());
            out.extend_from_slice(&e.n.to_be_bytes());
            out.extend_from_slice(e.message_key.as_bytes());
        }
        out
    }

    /// Reads a state written by [`Session::to_bytes`]: at most
    /// [`MAX_STATE_LEN`] bytes, known version, every field in range and no
    /// trailing bytes; keys are checked as on the wire (ML-KEM keys by
    /// FIPS 203's checks).
    pub fn from_bytes(bytes: &[u8]) -> Result<Session, RatchetError> {
        const WHAT: &str = "saved session";
        let bad = |why| RatchetError::malformed(WHAT, why);
        if bytes.len() > MAX_STATE_LEN {
            return Err(RatchetError::TooLarge {
                what: WHAT,
                len: bytes.len(),
                max: MAX_STATE_LEN,
            });
        }
        let mut r = Reader::new(bytes, WHAT);
        let version = r.u8()?;
        if version != STATE_VERSION {
            return Err(RatchetError::UnknownStateVersion(version));
        }
        let role = match r.u8()? {
            0 => Role::Initiator,
            1 => Role::Responder,
            _ => return Err(bad("unknown role")),
        };
        let acknowledged = r.flag()?;
        let ad_len = usize::from(r.u16()?);
        let ad = r.take(ad_len)?.to_vec();
        check_ad(&ad).ok_or(bad("associated data layout"))?;
        let handshake_id = r.array()?;
        let hs_len = usize::from(r.u16()?);
        if hs_len != INITIAL_PREFIX_LEN && hs_len != INITIAL_PREFIX_LEN + 4 {
            return Err(bad("handshake length"));
        }
        let handshake_bytes = r.take(hs_len)?.to_vec();
        if handshake_bytes.first() != Some(&KIND_INITIAL) {
            return Err(bad("handshake kind"));
        }
        let root = RootKey::from_bytes(r.array()?);
        let dh_self = if r.flag()? {
            Some(DhKeyPair::from_secret(DhSecret::from_bytes(r.array()?)))
        } else {
            None
        };
        let kem_self = if r.flag()? {
            let secret = MlKemSecretKey::from_bytes(r.take(MLKEM768_SECRET_KEY_LEN)?)
                .map_err(RatchetError::InvalidKey)?;
            Some(MlKemKeyPair::from_secret(secret).map_err(RatchetError::InvalidKey)?)
        } else {
            None
        };
        let dh_peer = if r.flag()? {
            Some(DhPublic::from_bytes(r.array()?))
        } else {
            None
        };
        let kem_peer = if r.flag()? {
            Some(
                MlKemPublicKey::from_bytes(r.take(MLKEM768_PUBLIC_KEY_LEN)?)
                    .map_err(RatchetError::InvalidKey)?,
            )
        } else {
            None
        };
        let send = if r.flag()? {
            let chain = ChainKey::from_bytes(r.array()?);
            let header_key = HeaderKey::from_bytes(r.array()?);
            let n = r.u32()?;
            let kem_ciphertext = MlKemCiphertext::from_bytes(r.take(MLKEM768_CIPHERTEXT_LEN)?)
                .map_err(|_| bad("ciphertext length"))?;
            Some(SendChain {
                chain,
                header_key,
                n,
                kem_ciphertext,
            })
        } else {
            None
        };
        let recv = if r.flag()? {
            Some(RecvChain {
                chain: ChainKey::from_bytes(r.array()?),
                header_key: HeaderKey::from_bytes(r.array()?),
                n: r.u32()?,
            })
        } else {
            None
        };
        let next_send_header = HeaderKey::from_bytes(r.array()?);
        let next_recv_header = HeaderKey::from_bytes(r.array()?);
        let previous_send_len = r.u32()?;
        let send_step_pending = r.flag()?;
        let count = usize::try_from(r.u32()?).map_err(|_| bad("skipped key count"))?;
        if count > MAX_SKIPPED_KEYS {
            return Err(bad("too many skipped keys"));
        }
        let mut skipped = SkippedKeys::default();
        for _ in 0..count {
            skipped.push(SkippedKey {
                header_key: HeaderKey::from_bytes(r.array()?),
                n: r.u32()?,
                message_key: MessageKey::from_bytes(r.array()?),
            });
        }
        r.finish()?;

        // What the state machine relies on.
        if send_step_pending && (dh_peer.is_none() || kem_peer.is_none()) {
            return Err(bad("a step is due but the peer's keys are missing"));
        }
        if send.is_some() && (dh_self.is_none() || kem_self.is_none()) {
            return Err(bad("a sending chain without our keys"));
        }
        if send.is_none() && !send_step_pending {
            // Only a responder that has not yet read its first message has
            // neither, and such a state is never saved.
            return Err(bad("no sending chain and no step due"));
        }
        if recv.is_some() && dh_peer.is_none() {
            return Err(bad("a receiving chain without the peer's key"));
        }
        if role == Role::Responder && !acknowledged {
            return Err(bad("a responder has always read a message"));
        }
        Ok(Session {
            role,
            ad,
            handshake_id,
            handshake_bytes,
            acknowledged,
            ratchet: RatchetState {
                root,
                dh_self,
                kem_self,
                dh_peer,
                kem_peer,
                send,
                recv,
                next_send_header,
                next_recv_header,
                previous_send_len,
                send_step_pending,
                skipped,
            },
        })
    }
}

/// `Some(())` if `ad` is `IK_I (32) ‖ IK_R (32) ‖ u16be(n) ‖ n bytes` with
/// `n ≤ 1,024`.
fn check_ad(ad: &[u8]) -> Option<()> {
    let len = ad.get(64..66)?;
    let n = usize::from(u16::from_be_bytes([*len.first()?, *len.get(1)?]));
    (n <= MAX_CONTEXT_LEN && ad.len() == 66 + n).then_some(())
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use crate::message::RatchetMessage;
    use crate::pqxdh::InMemoryPrekeyStore;
    use crate::ratchet::body_aad;
    use nightjar_crypto::SeededRandom;
    use nightjar_crypto::kdf::chain_kdf;

    fn setup() -> (Session, Session, SeededRandom) {
        let mut rng = SeededRandom::from_seed([42; 32]);
        let a = DhKeyPair::generate_with(&mut rng).unwrap();
        let b = DhKeyPair::generate_with(&mut rng).unwrap();
        let spk = DhKeyPair::generate_with(&mut rng).unwrap();
        let kem = MlKemKeyPair::generate_with(&mut rng).unwrap();
        let mut store = InMemoryPrekeyStore::new();
        store.add_signed_prekey(1, spk.secret().clone());
        store.add_kem_prekey(2, false, kem.secret_key().clone());
        let bundle = PrekeyBundle {
            identity_key: *b.public(),
            signed_prekey_id: 1,
            signed_prekey: *spk.public(),
            one_time_prekey: None,
            kem_prekey_id: 2,
            kem_prekey: kem.public_key().clone(),
            kem_prekey_one_time: false,
        };
        let mut alice = Session::initiate(&mut rng, &a, &bundle, b"ctx").unwrap();
        let first = alice.encrypt(&mut rng, b"first").unwrap();
        let (bob, _) = Session::respond(&b, &mut store, b"ctx", &first).unwrap();
        (alice, bob, rng)
    }

    /// Every symmetric secret in a state, and the chain keys' next 64
    /// successors' message keys: all an attacker could derive from it.
    fn derivable_message_keys(s: &Session) -> Vec<MessageKey> {
        let r = &s.ratchet;
        let mut keys: Vec<MessageKey> = r.skipped.iter().map(|e| e.message_key.clone()).collect();
        let mut chains: Vec<ChainKey> = Vec::new();
        chains.extend(r.send.iter().map(|c| c.chain.clone()));
        chains.extend(r.recv.iter().map(|c| c.chain.clone()));
        // Every 32-byte secret of the state, tried as a chain key and as a
        // message key too.
        let raw: Vec<[u8; 32]> = [
            Some(*r.root.as_bytes()),
            Some(*r.next_send_header.as_bytes()),
            Some(*r.next_recv_header.as_bytes()),
            r.send.as_ref().map(|c| *c.header_key.as_bytes()),
            r.recv.as_ref().map(|c| *c.header_key.as_bytes()),
            r.dh_self.as_ref().map(|k| *k.secret().as_bytes()),
        ]
        .into_iter()
        .flatten()
        .collect();
        for bytes in raw {
            keys.push(MessageKey::from_bytes(bytes));
            chains.push(ChainKey::from_bytes(bytes));
        }
        for chain in chains {
            let mut ck = chain;
            for _ in 0..64 {
                let (next, mk) = chain_kdf(&ck);
                keys.push(mk);
                ck = next;
            }
        }
        keys
    }

    #[test]
    fn no_key_derivable_from_a_state_copied_after_reading_opens_an_earlier_body() {
        let (mut alice, mut bob, mut rng) = setup();
        let mut read_by_alice: Vec<RatchetMessage> = Vec::new();
        for round in 0..3u8 {
            let batch: Vec<Vec<u8>> = (0..4u8)
                .map(|i| bob.encrypt(&mut rng, &[round, i]).unwrap())
                .collect();
            for i in [3usize, 1, 0, 2] {
                alice.decrypt(&batch[i]).unwrap();
                read_by_alice.push(RatchetMessage::decode(&batch[i]).unwrap());
            }
            if round < 2 {
                let m = alice.encrypt(&mut rng, b"reply").unwrap();
                bob.decrypt(&m).unwrap();
            }
        }
        let stolen = Session::from_bytes(&alice.to_bytes()).unwrap();
        let keys = derivable_message_keys(&stolen);
        assert!(keys.len() > 128);
        for m in &read_by_alice {
            let aad = body_aad(&stolen.ad, m);
            for k in &keys {
                assert!(
                    k.open(&aad, &m.body).is_err(),
                    "a stolen key opened a read message"
                );
            }
        }
        // The check can succeed: the key of Bob's next message in the same
        // chain follows from Alice's receiving chain key, so one opens it.
        let next = RatchetMessage::decode(&bob.encrypt(&mut rng, b"later").unwrap()).unwrap();
        let aad = body_aad(&stolen.ad, &next);
        assert!(keys.iter().any(|k| k.open(&aad, &next.body).is_ok()));
    }

    #[test]
    fn a_copy_saved_one_key_ahead_never_sends_with_a_key_the_session_used() {
        let (mut alice, mut bob, mut rng) = setup();
        // A copy saved before a send, restarted from, repeats that send's
        // number: the peer refuses it (and the key was used twice).
        let mut not_ahead = alice.clone();
        bob.decrypt(&alice.encrypt(&mut rng, b"one").unwrap())
            .unwrap();
        let repeated = not_ahead.encrypt(&mut rng, b"other").unwrap();
        assert!(bob.clone().decrypt(&repeated).is_err());

        // A copy one key ahead, while the session sends on from memory.
        let mut saved = alice.clone();
        assert!(saved.skip_send_key().unwrap());
        let two = alice.encrypt(&mut rng, b"two").unwrap();
        assert_eq!(&*bob.decrypt(&two).unwrap(), b"two");
        // A restart from the copy sends with the number after "two".
        let three = saved.encrypt(&mut rng, b"three").unwrap();
        assert_eq!(&*bob.decrypt(&three).unwrap(), b"three");
        assert_eq!(bob.skipped_key_count(), 0);

        // When the session stops before using the key its copy passed over
        // (a crash after the save), the peer keeps that number as skipped.
        let mut ahead = saved.clone();
        assert!(ahead.skip_send_key().unwrap());
        let four = ahead.encrypt(&mut rng, b"four").unwrap();
        assert_eq!(&*bob.decrypt(&four).unwrap(), b"four");
        assert_eq!(bob.skipped_key_count(), 1);
    }

    #[test]
    fn no_key_is_passed_over_while_the_next_message_starts_a_new_chain() {
        let (mut alice, mut bob, mut rng) = setup();
        // Bob has not sent yet: his first message starts his first chain.
        assert!(!bob.skip_send_key().unwrap());
        bob.decrypt(&alice.encrypt(&mut rng, b"again").unwrap())
            .unwrap();
        let reply = bob.encrypt(&mut rng, b"reply").unwrap();
        alice.decrypt(&reply).unwrap();
        // Alice read a new ratchet key: her next message takes a step.
        let before = alice.to_bytes();
        assert!(!alice.skip_send_key().unwrap());
        assert_eq!(alice.to_bytes(), before, "nothing changed");
        // After she sends, she can pass over the next key.
        bob.decrypt(&alice.encrypt(&mut rng, b"next").unwrap())
            .unwrap();
        assert!(alice.skip_send_key().unwrap());
        let after = alice.encrypt(&mut rng, b"after").unwrap();
        assert_eq!(&*bob.decrypt(&after).unwrap(), b"after");
        assert_eq!(bob.skipped_key_count(), 1, "the number passed over");
    }
}
