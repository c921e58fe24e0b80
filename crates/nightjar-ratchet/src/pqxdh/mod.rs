//! The PQXDH-style hybrid handshake (`docs/PROTOCOL.md` §14): Signal's PQXDH
//! with Nightjar's primitives. An initiator device reads a responder
//! device's prekey bundle and derives the first ratchet keys; the responder
//! derives the same from the initial message and its prekey secrets.
//!
//! ```text
//! DH1 = DH(IK_I, SPK_R)   DH2 = DH(EK_I, IK_R)   DH3 = DH(EK_I, SPK_R)
//! DH4 = DH(EK_I, OPK_R)   (only with a one-time prekey)
//! (CT, SS) = ML-KEM-768.Encaps(PQPK_R)
//! AD = IK_I ‖ IK_R ‖ u16be(|context|) ‖ context
//! TH = transcript hash of AD, EK_I, the prekeys and CT
//! SK = KDF(TH ‖ DH1 ‖ DH2 ‖ DH3 [‖ DH4] ‖ SS)  →  RK0, HK_I, NHK_R
//! ```
//!
//! No signature covers anything the handshake derives or the messages carry
//! (deniability): the bundle's prekeys are signed by the responder's account
//! key where they are published, and the client checks those signatures and
//! that `IK_R` is the identity key its device list names before calling
//! [`crate::Session::initiate`]; likewise the responder checks `IK_I` against
//! the initiator's device list. The identities are then bound by the
//! associated data `AD`, which every message authenticates.

mod store;

pub use store::{InMemoryPrekeyStore, PrekeyStore};

use nightjar_crypto::RandomSource;
use nightjar_crypto::dh::{DhKeyPair, DhPublic, DhSecret, dh};
use nightjar_crypto::kdf::{self, HandshakeKeys, HandshakeSecret};
use nightjar_crypto::kem::{
    MLKEM_ENCAPS_SEED_LEN, MlKemCiphertext, MlKemKeyPair, MlKemPublicKey, decapsulate,
    encapsulate_deterministic,
};
use zeroize::Zeroizing;

use crate::error::RatchetError;
use crate::message::{InitialMessage, PrekeyIds, encode_handshake};

/// Longest caller-given context in the associated data, in bytes.
pub const MAX_CONTEXT_LEN: usize = 1024;

/// What an initiator needs of the responder device: its identity key and
/// published prekeys, already checked by the client (signatures, device
/// list) and, for one-time prekeys, claimed.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PrekeyBundle {
    /// `IK_R`, the responder device's identity X25519 key.
    pub identity_key: DhPublic,
    /// The signed X25519 prekey's id.
    pub signed_prekey_id: u32,
    /// `SPK_R`, the signed X25519 prekey.
    pub signed_prekey: DhPublic,
    /// `(id, OPK_R)`, a one-time X25519 prekey, if one was claimed.
    pub one_time_prekey: Option<(u32, DhPublic)>,
    /// The ML-KEM-768 prekey's id.
    pub kem_prekey_id: u32,
    /// `PQPK_R`: a one-time ML-KEM-768 prekey if one was claimed, else the
    /// last-resort one.
    pub kem_prekey: MlKemPublicKey,
    /// Whether [`PrekeyBundle::kem_prekey`] is a one-time prekey.
    pub kem_prekey_one_time: bool,
}

/// The session's associated data:
/// `AD = IK_I (32) ‖ IK_R (32) ‖ u16be(|context|) ‖ context`.
///
/// `context` is opaque to this crate; both sides must pass the same bytes,
/// in initiator-then-responder order (Nightjar's client passes both
/// accounts' keys and both device ids, §14.2). At most
/// [`MAX_CONTEXT_LEN`] bytes.
pub fn associated_data(
    initiator_identity: &DhPublic,
    responder_identity: &DhPublic,
    context: &[u8],
) -> Result<Vec<u8>, RatchetError> {
    let len = u16::try_from(context.len())
        .ok()
        .filter(|&l| usize::from(l) <= MAX_CONTEXT_LEN)
        .ok_or(RatchetError::ContextTooLong {
            len: context.len(),
            max: MAX_CONTEXT_LEN,
        })?;
    let mut ad = Vec::with_capacity(66 + context.len());
    ad.extend_from_slice(initiator_identity.as_bytes());
    ad.extend_from_slice(responder_identity.as_bytes());
    ad.extend_from_slice(&len.to_be_bytes());
    ad.extend_from_slice(context);
    Ok(ad)
}

/// The handshake transcript whose hash `TH` enters the key derivation:
/// `AD ‖ EK_I ‖ u32be(spk id) ‖ SPK_R ‖ flags ‖ [u32be(opk id) ‖ OPK_R]
/// ‖ u32be(ML-KEM prekey id) ‖ PQPK_R ‖ CT`.
pub fn transcript(
    ad: &[u8],
    ephemeral: &DhPublic,
    prekeys: &PrekeyIds,
    signed_prekey: &DhPublic,
    one_time_prekey: Option<&DhPublic>,
    kem_prekey: &MlKemPublicKey,
    kem_ciphertext: &MlKemCiphertext,
) -> Vec<u8> {
    let mut t = Vec::with_capacity(ad.len() + 2400);
    t.extend_from_slice(ad);
    t.extend_from_slice(ephemeral.as_bytes());
    t.extend_from_slice(&prekeys.signed_prekey.to_be_bytes());
    t.extend_from_slice(signed_prekey.as_bytes());
    t.push(prekeys.flags());
    if let (Some(id), Some(key)) = (prekeys.one_time_prekey, one_time_prekey) {
        t.extend_from_slice(&id.to_be_bytes());
        t.extend_from_slice(key.as_bytes());
    }
    t.extend_from_slice(&prekeys.kem_prekey.to_be_bytes());
    t.extend_from_slice(kem_prekey.as_bytes());
    t.extend_from_slice(kem_ciphertext.as_bytes());
    t
}

/// What a finished handshake gives the session (either side).
pub(crate) struct Handshake {
    /// The associated data.
    pub(crate) ad: Vec<u8>,
    /// `TH`.
    pub(crate) transcript_hash: [u8; 32],
    /// `RK0`, `HK_I`, `NHK_R`.
    pub(crate) keys: HandshakeKeys,
    /// The initial message's handshake part.
    pub(crate) handshake_bytes: Vec<u8>,
}

fn invalid(e: nightjar_crypto::CryptoError) -> RatchetError {
    RatchetError::InvalidKey(e)
}

/// The initiator's side, drawing `EK_I` (32 bytes) and then the
/// encapsulation randomness `m` (32 bytes) from `rng`.
pub(crate) fn initiate(
    rng: &mut dyn RandomSource,
    identity: &DhKeyPair,
    bundle: &PrekeyBundle,
    context: &[u8],
) -> Result<Handshake, RatchetError> {
    let ad = associated_data(identity.public(), &bundle.identity_key, context)?;
    let ephemeral = DhKeyPair::generate_with(rng).map_err(RatchetError::Random)?;
    let mut m = Zeroizing::new([0u8; MLKEM_ENCAPS_SEED_LEN]);
    rng.fill(&mut *m).map_err(RatchetError::Random)?;
    let (ct, ss) = encapsulate_deterministic(&bundle.kem_prekey, &m);

    let dh1 = dh(identity.secret(), &bundle.signed_prekey).map_err(invalid)?;
    let dh2 = dh(ephemeral.secret(), &bundle.identity_key).map_err(invalid)?;
    let dh3 = dh(ephemeral.secret(), &bundle.signed_prekey).map_err(invalid)?;
    let dh4 = match &bundle.one_time_prekey {
        Some((_, key)) => Some(dh(ephemeral.secret(), key).map_err(invalid)?),
        None => None,
    };
    let prekeys = PrekeyIds {
        signed_prekey: bundle.signed_prekey_id,
        one_time_prekey: bundle.one_time_prekey.as_ref().map(|(id, _)| *id),
        kem_prekey: bundle.kem_prekey_id,
        kem_prekey_one_time: bundle.kem_prekey_one_time,
    };
    let th = kdf::pqxdh_transcript_hash(&transcript(
        &ad,
        ephemeral.public(),
        &prekeys,
        &bundle.signed_prekey,
        bundle.one_time_prekey.as_ref().map(|(_, k)| k),
        &bundle.kem_prekey,
        &ct,
    ));
    let secret: HandshakeSecret = kdf::pqxdh_secret(&th, &dh1, &dh2, &dh3, dh4.as_ref(), &ss);
    Ok(Handshake {
        ad,
        transcript_hash: th,
        keys: HandshakeKeys::expand(&secret),
        handshake_bytes: encode_handshake(identity.public(), ephemeral.public(), &prekeys, &ct),
    })
}

/// The prekey secrets a responder used, to hand to the ratchet and to
/// consume once the first message authenticates.
pub(crate) struct ResponderPrekeys {
    /// `SPK_R`, which becomes the responder's first ratchet key.
    pub(crate) signed_prekey: DhKeyPair,
    /// The ML-KEM prekey, the responder's first ratchet ML-KEM key.
    pub(crate) kem_prekey: MlKemKeyPair,
}

/// The responder's side: looks the prekeys up (without consuming them) and
/// derives the same keys as the initiator.
pub(crate) fn respond(
    identity: &DhKeyPair,
    store: &dyn PrekeyStore,
    initial: &InitialMessage,
    context: &[u8],
) -> Result<(Handshake, ResponderPrekeys), RatchetError> {
    let ids = &initial.prekeys;
    let ad = associated_data(&initial.initiator_identity, identity.public(), context)?;
    let spk: DhSecret =
        store
            .signed_prekey(ids.signed_prekey)
            .ok_or(RatchetError::UnknownPrekey {
                which: "signed prekey",
                id: ids.signed_prekey,
            })?;
    let spk = DhKeyPair::from_secret(spk);
    let opk = match ids.one_time_prekey {
        Some(id) => Some(DhKeyPair::from_secret(store.one_time_prekey(id).ok_or(
            RatchetError::UnknownPrekey {
                which: "one-time prekey",
                id,
            },
        )?)),
        None => None,
    };
    let kem_secret = store
        .kem_prekey(ids.kem_prekey, ids.kem_prekey_one_time)
        .ok_or(RatchetError::UnknownPrekey {
            which: if ids.kem_prekey_one_time {
                "one-time ML-KEM prekey"
            } else {
                "last-resort ML-KEM prekey"
            },
            id: ids.kem_prekey,
        })?;
    let kem = MlKemKeyPair::from_secret(kem_secret).map_err(invalid)?;

    let dh1 = dh(spk.secret(), &initial.initiator_identity).map_err(invalid)?;
    let dh2 = dh(identity.secret(), &initial.ephemeral).map_err(invalid)?;
    let dh3 = dh(spk.secret(), &initial.ephemeral).map_err(invalid)?;
    let dh4 = match &opk {
        Some(opk) => Some(dh(opk.secret(), &initial.ephemeral).map_err(invalid)?),
        None => None,
    };
    let ss = decapsulate(kem.secret_key(), &initial.kem_ciphertext);
    let th = kdf::pqxdh_transcript_hash(&transcript(
        &ad,
        &initial.ephemeral,
        ids,
        spk.public(),
        opk.as_ref().map(|k| k.public()),
        kem.public_key(),
        &initial.kem_ciphertext,
    ));
    let secret = kdf::pqxdh_secret(&th, &dh1, &dh2, &dh3, dh4.as_ref(), &ss);
    Ok((
        Handshake {
            ad,
            transcript_hash: th,
            keys: HandshakeKeys::expand(&secret),
            handshake_bytes: initial.handshake_bytes(),
        },
        ResponderPrekeys {
            signed_prekey: spk,
            kem_prekey: kem,
        },
    ))
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn associated_data_layout_and_limit() {
        let a = DhPublic::from_bytes([1; 32]);
        let b = DhPublic::from_bytes([2; 32]);
        let ad = associated_data(&a, &b, b"ctx").unwrap();
        assert_eq!(&ad[..32], &[1; 32]);
        assert_eq!(&ad[32..64], &[2; 32]);
        assert_eq!(&ad[64..66], &[0, 3]);
        assert_eq!(&ad[66..], b"ctx");
        assert!(associated_data(&a, &b, &[0; MAX_CONTEXT_LEN]).is_ok());
        assert_eq!(
            associated_data(&a, &b, &[0; MAX_CONTEXT_LEN + 1]),
            Err(RatchetError::ContextTooLong {
                len: MAX_CONTEXT_LEN + 1,
                max: MAX_CONTEXT_LEN
            })
        );
    }
}
