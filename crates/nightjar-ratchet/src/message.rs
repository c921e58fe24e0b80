//! Wire layouts of the two messages (`docs/PROTOCOL.md` §14.5, §15.3) and
//! their size-limited decoders.
//!
//! ```text
//! ratchet message = [0x02] ‖ header nonce (24) ‖ encrypted header (2,328) ‖ body (|P| + 16)
//! header          = DH (32) ‖ u32be(PN) ‖ u32be(N) ‖ KEM public key (1,184) ‖ KEM ciphertext (1,088)
//! initial message = [0x01] ‖ IK_I (32) ‖ EK_I (32) ‖ u32be(spk id) ‖ flags (1)
//!                   ‖ [u32be(one-time prekey id), if flags bit 0] ‖ u32be(ML-KEM prekey id)
//!                   ‖ KEM ciphertext (1,088) ‖ ratchet message
//! ```
//!
//! Flags: bit 0 set = a one-time X25519 prekey was used; bit 1 set = the
//! ML-KEM prekey is a one-time one (clear: the last-resort one); the other
//! bits must be zero.

use nightjar_crypto::dh::{DH_LEN, DhPublic};
use nightjar_crypto::kdf::{AEAD_TAG_LEN, NONCE_LEN};
use nightjar_crypto::kem::{
    MLKEM768_CIPHERTEXT_LEN, MLKEM768_PUBLIC_KEY_LEN, MlKemCiphertext, MlKemPublicKey,
};

use crate::codec::Reader;
use crate::error::RatchetError;

/// First byte of an initial message.
pub const KIND_INITIAL: u8 = 0x01;

/// First byte of a ratchet message.
pub const KIND_RATCHET: u8 = 0x02;

/// Length of a header's plaintext.
pub const HEADER_LEN: usize = DH_LEN + 4 + 4 + MLKEM768_PUBLIC_KEY_LEN + MLKEM768_CIPHERTEXT_LEN;

/// Length of an encrypted header (plaintext and tag).
pub const ENCRYPTED_HEADER_LEN: usize = HEADER_LEN + AEAD_TAG_LEN;

/// Bytes a ratchet message adds to its plaintext: kind, header nonce,
/// encrypted header and the body's tag (2,369).
pub const RATCHET_OVERHEAD: usize = 1 + NONCE_LEN + ENCRYPTED_HEADER_LEN + AEAD_TAG_LEN;

/// Longest plaintext a message carries: a padded v1-style content of up to
/// 65,536 bytes plus 4,096 bytes for what the client adds around it.
pub const MAX_PLAINTEXT_LEN: usize = 65_536 + 4_096;

/// Longest ratchet message [`RatchetMessage::decode`] accepts.
pub const MAX_RATCHET_MESSAGE_LEN: usize = RATCHET_OVERHEAD + MAX_PLAINTEXT_LEN;

/// Length of an initial message's handshake part (before the ratchet
/// message) without a one-time prekey; 4 more with one.
pub const INITIAL_PREFIX_LEN: usize = 1 + DH_LEN + DH_LEN + 4 + 1 + 4 + MLKEM768_CIPHERTEXT_LEN;

/// Longest initial message [`InitialMessage::decode`] accepts.
pub const MAX_INITIAL_MESSAGE_LEN: usize = INITIAL_PREFIX_LEN + 4 + MAX_RATCHET_MESSAGE_LEN;

/// Longest message of either kind.
pub const MAX_MESSAGE_LEN: usize = MAX_INITIAL_MESSAGE_LEN;

const FLAG_ONE_TIME_PREKEY: u8 = 0x01;
const FLAG_KEM_ONE_TIME: u8 = 0x02;

/// A decrypted ratchet header.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Header {
    /// The sender's current ratchet public key.
    pub dh: DhPublic,
    /// `PN`: how many messages the sender sent in its previous sending chain.
    pub previous_chain_len: u32,
    /// `N`: this message's number in its chain (from 0).
    pub n: u32,
    /// The sender's current ML-KEM-768 public key.
    pub kem_public: MlKemPublicKey,
    /// The ciphertext this sending chain's step encapsulated to the
    /// receiver's ML-KEM public key.
    pub kem_ciphertext: MlKemCiphertext,
}

impl Header {
    /// The 2,312-byte plaintext layout.
    pub fn encode(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(HEADER_LEN);
        out.extend_from_slice(self.dh.as_bytes());
        out.extend_from_slice(&self.previous_chain_len.to_be_bytes());
        out.extend_from_slice(&self.n.to_be_bytes());
        out.extend_from_slice(self.kem_public.as_bytes());
        out.extend_from_slice(self.kem_ciphertext.as_bytes());
        out
    }

    /// Decodes a decrypted header; the ML-KEM public key must pass its
    /// FIPS 203 check.
    pub fn decode(bytes: &[u8]) -> Result<Header, RatchetError> {
        if bytes.len() != HEADER_LEN {
            return Err(RatchetError::malformed("header", "wrong length"));
        }
        let mut r = Reader::new(bytes, "header");
        let dh = DhPublic::from_bytes(r.array()?);
        let previous_chain_len = r.u32()?;
        let n = r.u32()?;
        let kem_public = MlKemPublicKey::from_bytes(r.take(MLKEM768_PUBLIC_KEY_LEN)?)
            .map_err(RatchetError::InvalidKey)?;
        let kem_ciphertext = MlKemCiphertext::from_bytes(r.take(MLKEM768_CIPHERTEXT_LEN)?)
            .map_err(|_| RatchetError::malformed("header", "ciphertext length"))?;
        r.finish()?;
        Ok(Header {
            dh,
            previous_chain_len,
            n,
            kem_public,
            kem_ciphertext,
        })
    }
}

/// A ratchet message as carried: its header still encrypted.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RatchetMessage {
    /// The random nonce the header was encrypted with.
    pub header_nonce: [u8; NONCE_LEN],
    /// The encrypted header (2,328 bytes).
    pub encrypted_header: Vec<u8>,
    /// The encrypted body (plaintext length + 16).
    pub body: Vec<u8>,
}

impl RatchetMessage {
    /// `[0x02] ‖ nonce ‖ encrypted header ‖ body`.
    pub fn encode(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(RATCHET_OVERHEAD - AEAD_TAG_LEN + self.body.len());
        out.extend_from_slice(&self.header_bytes());
        out.extend_from_slice(&self.body);
        out
    }

    /// Everything before the body, `[0x02] ‖ nonce ‖ encrypted header`,
    /// which the body's associated data covers.
    pub fn header_bytes(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(1 + NONCE_LEN + self.encrypted_header.len());
        out.push(KIND_RATCHET);
        out.extend_from_slice(&self.header_nonce);
        out.extend_from_slice(&self.encrypted_header);
        out
    }

    /// Decodes a ratchet message: at most [`MAX_RATCHET_MESSAGE_LEN`] bytes,
    /// kind `0x02`, at least [`RATCHET_OVERHEAD`] bytes.
    pub fn decode(bytes: &[u8]) -> Result<RatchetMessage, RatchetError> {
        if bytes.len() > MAX_RATCHET_MESSAGE_LEN {
            return Err(RatchetError::TooLarge {
                what: "ratchet message",
                len: bytes.len(),
                max: MAX_RATCHET_MESSAGE_LEN,
            });
        }
        let mut r = Reader::new(bytes, "ratchet message");
        let kind = r.u8()?;
        if kind != KIND_RATCHET {
            return Err(RatchetError::UnknownKind(kind));
        }
        let header_nonce = r.array()?;
        let encrypted_header = r.take(ENCRYPTED_HEADER_LEN)?.to_vec();
        let body = r.rest();
        if body.len() < AEAD_TAG_LEN {
            return Err(RatchetError::malformed("ratchet message", "truncated"));
        }
        Ok(RatchetMessage {
            header_nonce,
            encrypted_header,
            body: body.to_vec(),
        })
    }
}

/// Which one-time prekeys an initial message used, and which ML-KEM prekey.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct PrekeyIds {
    /// The signed X25519 prekey's id.
    pub signed_prekey: u32,
    /// The one-time X25519 prekey's id, if one was used.
    pub one_time_prekey: Option<u32>,
    /// The ML-KEM-768 prekey's id.
    pub kem_prekey: u32,
    /// Whether that ML-KEM prekey is a one-time one (else the last-resort).
    pub kem_prekey_one_time: bool,
}

impl PrekeyIds {
    /// The flags byte.
    pub fn flags(&self) -> u8 {
        let mut flags = 0;
        if self.one_time_prekey.is_some() {
            flags |= FLAG_ONE_TIME_PREKEY;
        }
        if self.kem_prekey_one_time {
            flags |= FLAG_KEM_ONE_TIME;
        }
        flags
    }
}

/// The first message of a session: what the responder needs to run the
/// handshake, then the first ratchet message. An initiator sends every
/// message in this form until it has read a reply.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct InitialMessage {
    /// `IK_I`, the initiator device's identity key.
    pub initiator_identity: DhPublic,
    /// `EK_I`, the initiator's ephemeral key.
    pub ephemeral: DhPublic,
    /// The prekeys used.
    pub prekeys: PrekeyIds,
    /// The ciphertext encapsulated to the responder's ML-KEM prekey.
    pub kem_ciphertext: MlKemCiphertext,
    /// The ratchet message that follows.
    pub message: RatchetMessage,
}

/// The handshake part of an initial message (everything before its ratchet
/// message).
pub(crate) fn encode_handshake(
    initiator_identity: &DhPublic,
    ephemeral: &DhPublic,
    prekeys: &PrekeyIds,
    kem_ciphertext: &MlKemCiphertext,
) -> Vec<u8> {
    let mut out = Vec::with_capacity(INITIAL_PREFIX_LEN + 4);
    out.push(KIND_INITIAL);
    out.extend_from_slice(initiator_identity.as_bytes());
    out.extend_from_slice(ephemeral.as_bytes());
    out.extend_from_slice(&prekeys.signed_prekey.to_be_bytes());
    out.push(prekeys.flags());
    if let Some(id) = prekeys.one_time_prekey {
        out.extend_from_slice(&id.to_be_bytes());
    }
    out.extend_from_slice(&prekeys.kem_prekey.to_be_bytes());
    out.extend_from_slice(kem_ciphertext.as_bytes());
    out
}

impl InitialMessage {
    /// The handshake part: everything before the ratchet message.
    pub fn handshake_bytes(&self) -> Vec<u8> {
        encode_handshake(
            &self.initiator_identity,
            &self.ephemeral,
            &self.prekeys,
            &self.kem_ciphertext,
        )
    }

    /// The whole message.
    pub fn encode(&self) -> Vec<u8> {
        let mut out = self.handshake_bytes();
        out.extend_from_slice(&self.message.encode());
        out
    }

    /// Decodes an initial message: at most [`MAX_INITIAL_MESSAGE_LEN`]
    /// bytes, kind `0x01`, no unknown flag bits, a well-formed ratchet
    /// message after the handshake part.
    pub fn decode(bytes: &[u8]) -> Result<InitialMessage, RatchetError> {
        if bytes.len() > MAX_INITIAL_MESSAGE_LEN {
            return Err(RatchetError::TooLarge {
                what: "initial message",
                len: bytes.len(),
                max: MAX_INITIAL_MESSAGE_LEN,
            });
        }
        let mut r = Reader::new(bytes, "initial message");
        let kind = r.u8()?;
        if kind != KIND_INITIAL {
            return Err(RatchetError::UnknownKind(kind));
        }
        let initiator_identity = DhPublic::from_bytes(r.array()?);
        let ephemeral = DhPublic::from_bytes(r.array()?);
        let signed_prekey = r.u32()?;
        let flags = r.u8()?;
        if flags & !(FLAG_ONE_TIME_PREKEY | FLAG_KEM_ONE_TIME) != 0 {
            return Err(RatchetError::malformed(
                "initial message",
                "unknown flag bits",
            ));
        }
        let one_time_prekey = if flags & FLAG_ONE_TIME_PREKEY != 0 {
            Some(r.u32()?)
        } else {
            None
        };
        let kem_prekey = r.u32()?;
        let kem_ciphertext = MlKemCiphertext::from_bytes(r.take(MLKEM768_CIPHERTEXT_LEN)?)
            .map_err(|_| RatchetError::malformed("initial message", "ciphertext length"))?;
        let message = RatchetMessage::decode(r.rest())?;
        Ok(InitialMessage {
            initiator_identity,
            ephemeral,
            prekeys: PrekeyIds {
                signed_prekey,
                one_time_prekey,
                kem_prekey,
                kem_prekey_one_time: flags & FLAG_KEM_ONE_TIME != 0,
            },
            kem_ciphertext,
            message,
        })
    }
}

/// A message of either kind, told apart by its first byte.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Message {
    /// Kind `0x01`.
    Initial(InitialMessage),
    /// Kind `0x02`.
    Ratchet(RatchetMessage),
}

impl Message {
    /// Decodes either kind (at most [`MAX_MESSAGE_LEN`] bytes).
    pub fn decode(bytes: &[u8]) -> Result<Message, RatchetError> {
        match bytes.first() {
            Some(&KIND_INITIAL) => InitialMessage::decode(bytes).map(Message::Initial),
            Some(&KIND_RATCHET) => RatchetMessage::decode(bytes).map(Message::Ratchet),
            Some(&other) => Err(RatchetError::UnknownKind(other)),
            None => Err(RatchetError::malformed("message", "empty")),
        }
    }

    /// The encoding.
    pub fn encode(&self) -> Vec<u8> {
        match self {
            Message::Initial(m) => m.encode(),
            Message::Ratchet(m) => m.encode(),
        }
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use nightjar_crypto::kem::{MlKemKeyPair, encapsulate_deterministic};

    fn ratchet_message(body_len: usize) -> RatchetMessage {
        RatchetMessage {
            header_nonce: [3; NONCE_LEN],
            encrypted_header: vec![4; ENCRYPTED_HEADER_LEN],
            body: vec![5; body_len + AEAD_TAG_LEN],
        }
    }

    fn initial(one_time: Option<u32>, kem_one_time: bool) -> InitialMessage {
        let kem = MlKemKeyPair::from_seed(&[1; 64]);
        InitialMessage {
            initiator_identity: DhPublic::from_bytes([1; 32]),
            ephemeral: DhPublic::from_bytes([2; 32]),
            prekeys: PrekeyIds {
                signed_prekey: 7,
                one_time_prekey: one_time,
                kem_prekey: 9,
                kem_prekey_one_time: kem_one_time,
            },
            kem_ciphertext: encapsulate_deterministic(kem.public_key(), &[2; 32]).0,
            message: ratchet_message(10),
        }
    }

    #[test]
    fn layouts_have_the_documented_lengths() {
        assert_eq!(HEADER_LEN, 2312);
        assert_eq!(ENCRYPTED_HEADER_LEN, 2328);
        assert_eq!(RATCHET_OVERHEAD, 2369);
        assert_eq!(INITIAL_PREFIX_LEN, 1162);
        assert_eq!(ratchet_message(0).encode().len(), RATCHET_OVERHEAD);
        assert_eq!(
            initial(None, false).encode().len(),
            INITIAL_PREFIX_LEN + RATCHET_OVERHEAD + 10
        );
        assert_eq!(
            initial(Some(1), true).encode().len(),
            INITIAL_PREFIX_LEN + 4 + RATCHET_OVERHEAD + 10
        );
    }

    #[test]
    fn messages_round_trip_through_their_decoders() {
        for m in [
            initial(None, false),
            initial(Some(5), false),
            initial(None, true),
            initial(Some(0xffff_ffff), true),
        ] {
            let bytes = m.encode();
            assert_eq!(InitialMessage::decode(&bytes).unwrap(), m);
            assert_eq!(Message::decode(&bytes).unwrap(), Message::Initial(m));
        }
        let r = ratchet_message(0);
        assert_eq!(RatchetMessage::decode(&r.encode()).unwrap(), r);
        assert_eq!(Message::decode(&r.encode()).unwrap(), Message::Ratchet(r));
    }

    #[test]
    fn decoders_refuse_bad_kinds_flags_lengths_and_sizes() {
        assert!(Message::decode(&[]).is_err());
        assert_eq!(Message::decode(&[7]), Err(RatchetError::UnknownKind(7)));
        let bytes = ratchet_message(0).encode();
        for cut in [1, 25, RATCHET_OVERHEAD - 1] {
            assert!(RatchetMessage::decode(&bytes[..cut]).is_err(), "cut {cut}");
        }
        let big = vec![KIND_RATCHET; MAX_RATCHET_MESSAGE_LEN + 1];
        assert!(matches!(
            RatchetMessage::decode(&big),
            Err(RatchetError::TooLarge { .. })
        ));
        let mut init = initial(Some(3), false).encode();
        assert!(InitialMessage::decode(&init[..INITIAL_PREFIX_LEN]).is_err());
        init[1 + 32 + 32 + 4] |= 0x80;
        assert!(matches!(
            InitialMessage::decode(&init),
            Err(RatchetError::Malformed { .. })
        ));
        let big = vec![KIND_INITIAL; MAX_INITIAL_MESSAGE_LEN + 1];
        assert!(matches!(
            InitialMessage::decode(&big),
            Err(RatchetError::TooLarge { .. })
        ));
    }

    #[test]
    fn header_round_trips_and_checks_the_kem_key() {
        let kem = MlKemKeyPair::from_seed(&[1; 64]);
        let header = Header {
            dh: DhPublic::from_bytes([8; 32]),
            previous_chain_len: 3,
            n: 4,
            kem_public: kem.public_key().clone(),
            kem_ciphertext: encapsulate_deterministic(kem.public_key(), &[2; 32]).0,
        };
        let mut bytes = header.encode();
        assert_eq!(bytes.len(), HEADER_LEN);
        assert_eq!(Header::decode(&bytes).unwrap(), header);
        assert!(Header::decode(&bytes[1..]).is_err());
        bytes[40] = 0xff;
        bytes[41] = 0xff;
        assert!(matches!(
            Header::decode(&bytes),
            Err(RatchetError::InvalidKey(_))
        ));
    }
}
