//! The Double Ratchet with header encryption and a post-quantum step
//! (`docs/PROTOCOL.md` §15).
//!
//! Signal's DR-HE, with one change at every DH ratchet step: the sender also
//! makes a fresh ML-KEM-768 key pair and encapsulates a secret `SS` to the
//! peer's latest ML-KEM public key; every header of the new sending chain
//! carries the new public key and that ciphertext, and the root KDF takes
//! `DH ‖ SS` (as SimpleX's PQ double ratchet does). So a root key an
//! attacker learns heals after one round trip even against a quantum
//! adversary that recorded the traffic, as long as ML-KEM holds.
//!
//! The sending half of a step runs when the next message is *sent* (not when
//! the peer's new key is received, as in Signal's text): the outputs are the
//! same, and only `encrypt` needs randomness. Decryption works on a copy of
//! the state and keeps it only once the body authenticates.

mod header;
mod skipped;

pub use skipped::{MAX_SKIP, MAX_SKIPPED_KEYS};
pub(crate) use skipped::{SkippedKey, SkippedKeys};

use nightjar_crypto::RandomSource;
use nightjar_crypto::dh::{DhKeyPair, DhPublic, dh};
use nightjar_crypto::kdf::{self, ChainKey, HeaderKey, MessageKey, NONCE_LEN, RootKey};
use nightjar_crypto::kem::{
    MlKemCiphertext, MlKemKeyPair, MlKemPublicKey, decapsulate, encapsulate_with,
};
use zeroize::Zeroizing;

use crate::error::RatchetError;
use crate::message::{Header, MAX_PLAINTEXT_LEN, RatchetMessage};

/// The current sending chain.
#[derive(Clone)]
pub(crate) struct SendChain {
    /// `CKs`.
    pub(crate) chain: ChainKey,
    /// `HKs`.
    pub(crate) header_key: HeaderKey,
    /// `Ns`, the number of the next message.
    pub(crate) n: u32,
    /// The ML-KEM ciphertext of the step that started this chain, repeated
    /// in every header of the chain.
    pub(crate) kem_ciphertext: MlKemCiphertext,
}

/// The current receiving chain.
#[derive(Clone)]
pub(crate) struct RecvChain {
    /// `CKr`.
    pub(crate) chain: ChainKey,
    /// `HKr`.
    pub(crate) header_key: HeaderKey,
    /// `Nr`, the number of the next message expected.
    pub(crate) n: u32,
}

/// The whole ratchet state of one session.
#[derive(Clone)]
pub(crate) struct RatchetState {
    /// `RK`.
    pub(crate) root: RootKey,
    /// `DHs`: our current ratchet key pair (none before the initiator's first
    /// message).
    pub(crate) dh_self: Option<DhKeyPair>,
    /// Our current ML-KEM key pair, to which the peer's next step
    /// encapsulates.
    pub(crate) kem_self: Option<MlKemKeyPair>,
    /// `DHr`: the peer's current ratchet public key.
    pub(crate) dh_peer: Option<DhPublic>,
    /// The peer's latest ML-KEM public key.
    pub(crate) kem_peer: Option<MlKemPublicKey>,
    /// The sending chain.
    pub(crate) send: Option<SendChain>,
    /// The receiving chain.
    pub(crate) recv: Option<RecvChain>,
    /// `NHKs`.
    pub(crate) next_send_header: HeaderKey,
    /// `NHKr`.
    pub(crate) next_recv_header: HeaderKey,
    /// `PN`: the length of our previous sending chain.
    pub(crate) previous_send_len: u32,
    /// Whether our next message starts a new sending chain (a DH and KEM
    /// step).
    pub(crate) send_step_pending: bool,
    /// Skipped message keys.
    pub(crate) skipped: SkippedKeys,
}

/// What a new sending chain needs, computed before anything changes.
struct SendStep {
    root: RootKey,
    chain: ChainKey,
    next_header: HeaderKey,
    dh: DhKeyPair,
    kem: MlKemKeyPair,
    kem_ciphertext: MlKemCiphertext,
}

fn invalid(e: nightjar_crypto::CryptoError) -> RatchetError {
    RatchetError::InvalidKey(e)
}

fn broken_state(why: &'static str) -> RatchetError {
    RatchetError::malformed("session state", why)
}

impl RatchetState {
    /// Encrypts one message. If a sending step is due, draws from `rng`, in
    /// this order: the new X25519 secret (32 bytes), the new ML-KEM key
    /// generation seed `d ‖ z` (64), the encapsulation randomness `m` (32);
    /// then, for every message, the header nonce (24).
    pub(crate) fn encrypt(
        &mut self,
        rng: &mut dyn RandomSource,
        ad: &[u8],
        plaintext: &[u8],
    ) -> Result<RatchetMessage, RatchetError> {
        if plaintext.len() > MAX_PLAINTEXT_LEN {
            return Err(RatchetError::PlaintextTooLarge {
                len: plaintext.len(),
                max: MAX_PLAINTEXT_LEN,
            });
        }
        let step = if self.send_step_pending || self.send.is_none() {
            Some(self.send_step(rng)?)
        } else {
            None
        };
        let mut nonce = [0u8; NONCE_LEN];
        rng.fill(&mut nonce).map_err(RatchetError::Random)?;

        // Nothing has changed so far; from here on nothing fails but the
        // counter check, which comes before any assignment.
        if let Some(step) = step {
            let previous = self.send.as_ref().map_or(0, |s| s.n);
            let header_key = core::mem::replace(&mut self.next_send_header, step.next_header);
            self.send = Some(SendChain {
                chain: step.chain,
                header_key,
                n: 0,
                kem_ciphertext: step.kem_ciphertext,
            });
            self.previous_send_len = previous;
            self.root = step.root;
            self.dh_self = Some(step.dh);
            self.kem_self = Some(step.kem);
            self.send_step_pending = false;
        }
        let (Some(send), Some(dh_self), Some(kem_self)) = (
            self.send.as_mut(),
            self.dh_self.as_ref(),
            self.kem_self.as_ref(),
        ) else {
            return Err(broken_state("no sending chain after a step"));
        };
        let next_n = send.n.checked_add(1).ok_or(RatchetError::ChainExhausted)?;
        let (next_chain, message_key) = kdf::chain_kdf(&send.chain);
        let header = Header {
            dh: *dh_self.public(),
            previous_chain_len: self.previous_send_len,
            n: send.n,
            kem_public: kem_self.public_key().clone(),
            kem_ciphertext: send.kem_ciphertext.clone(),
        };
        let mut message = RatchetMessage {
            header_nonce: nonce,
            encrypted_header: header::seal(&send.header_key, &nonce, ad, &header)?,
            body: Vec::new(),
        };
        message.body = message_key
            .seal(&body_aad(ad, &message), plaintext)
            .map_err(|_| RatchetError::PlaintextTooLarge {
                len: plaintext.len(),
                max: MAX_PLAINTEXT_LEN,
            })?;
        send.chain = next_chain;
        send.n = next_n;
        Ok(message)
    }

    /// Passes over the next sending message key without using it (erased at
    /// once): the next message takes the number after it, and the peer
    /// keeps that key as a skipped one. `false`, with nothing changed, when
    /// the next message starts a new sending chain (its step draws fresh
    /// keys, so it cannot be taken ahead of that message).
    pub(crate) fn skip_send_key(&mut self) -> Result<bool, RatchetError> {
        if self.send_step_pending {
            return Ok(false);
        }
        let Some(send) = self.send.as_mut() else {
            return Ok(false);
        };
        let next_n = send.n.checked_add(1).ok_or(RatchetError::ChainExhausted)?;
        let (next_chain, _passed_over) = kdf::chain_kdf(&send.chain);
        send.chain = next_chain;
        send.n = next_n;
        Ok(true)
    }

    /// The sending half of a DH + KEM ratchet step, computed without
    /// changing the state.
    fn send_step(&self, rng: &mut dyn RandomSource) -> Result<SendStep, RatchetError> {
        let (Some(dh_peer), Some(kem_peer)) = (self.dh_peer.as_ref(), self.kem_peer.as_ref())
        else {
            return Err(broken_state("no peer keys to step to"));
        };
        let dh_new = DhKeyPair::generate_with(rng).map_err(RatchetError::Random)?;
        let kem_new = MlKemKeyPair::generate_with(rng).map_err(RatchetError::Random)?;
        let (kem_ciphertext, ss) = encapsulate_with(rng, kem_peer).map_err(RatchetError::Random)?;
        let shared = dh(dh_new.secret(), dh_peer).map_err(invalid)?;
        let (root, chain, next_header) = kdf::root_kdf(&self.root, &shared, &ss);
        Ok(SendStep {
            root,
            chain,
            next_header,
            dh: dh_new,
            kem: kem_new,
            kem_ciphertext,
        })
    }

    /// Decrypts one message; the state changes only if it authenticates.
    pub(crate) fn decrypt(
        &mut self,
        ad: &[u8],
        message: &RatchetMessage,
    ) -> Result<Zeroizing<Vec<u8>>, RatchetError> {
        let mut next = self.clone();
        let message_key = next.message_key_for(ad, message)?;
        let plain = message_key
            .open(&body_aad(ad, message), &message.body)
            .map_err(|_| RatchetError::DecryptFailed)?;
        *self = next;
        Ok(plain)
    }

    /// Finds (and takes out of the state) the key of `message`: from the
    /// current receiving chain, from the skipped keys, or through a new
    /// ratchet step, by which header key opens the header.
    fn message_key_for(
        &mut self,
        ad: &[u8],
        message: &RatchetMessage,
    ) -> Result<MessageKey, RatchetError> {
        // 1. The current receiving chain (messages in order, later ones, and
        //    earlier ones of this chain that were skipped).
        if let Some(recv) = self.recv.as_ref()
            && let Some(header) = header::try_open(&recv.header_key, ad, message)
        {
            let header = header?;
            if Some(header.dh) != self.dh_peer {
                return Err(RatchetError::malformed(
                    "header",
                    "its ratchet key is not its chain's",
                ));
            }
            if header.n < recv.n {
                let hk = recv.header_key.clone();
                return self
                    .skipped
                    .take(&hk, header.n)
                    .ok_or(RatchetError::DuplicateOrExpired);
            }
            return self.receive_in_chain(header.n);
        }
        // 2. Skipped keys of earlier chains.
        for hk in self.skipped.header_keys() {
            if let Some(header) = header::try_open(&hk, ad, message) {
                let header = header?;
                return self
                    .skipped
                    .take(&hk, header.n)
                    .ok_or(RatchetError::DuplicateOrExpired);
            }
        }
        // 3. The next header key: the peer took a ratchet step.
        if let Some(header) = header::try_open(&self.next_recv_header, ad, message) {
            let header = header?;
            self.receive_step(&header)?;
            return self.receive_in_chain(header.n);
        }
        Err(RatchetError::UnknownHeader)
    }

    /// Skips the current receiving chain to message `n` and takes its key.
    fn receive_in_chain(&mut self, n: u32) -> Result<MessageKey, RatchetError> {
        self.skip_to(n)?;
        let recv = self
            .recv
            .as_mut()
            .ok_or(broken_state("no receiving chain"))?;
        let next_n = recv.n.checked_add(1).ok_or(RatchetError::ChainExhausted)?;
        let (next_chain, message_key) = kdf::chain_kdf(&recv.chain);
        recv.chain = next_chain;
        recv.n = next_n;
        Ok(message_key)
    }

    /// Stores the keys of the current receiving chain's messages before
    /// `until` (at most [`MAX_SKIP`] of them).
    fn skip_to(&mut self, until: u32) -> Result<(), RatchetError> {
        let Some(recv) = self.recv.as_mut() else {
            return Ok(());
        };
        if until <= recv.n {
            return Ok(());
        }
        let skip = until - recv.n;
        if skip > MAX_SKIP {
            return Err(RatchetError::TooManySkipped {
                skip: u64::from(skip),
                max: u64::from(MAX_SKIP),
            });
        }
        while recv.n < until {
            let (next_chain, message_key) = kdf::chain_kdf(&recv.chain);
            self.skipped.push(SkippedKey {
                header_key: recv.header_key.clone(),
                n: recv.n,
                message_key,
            });
            recv.chain = next_chain;
            recv.n += 1;
        }
        Ok(())
    }

    /// The receiving half of a ratchet step: ends the current receiving
    /// chain at the header's `PN` and starts the new one.
    fn receive_step(&mut self, header: &Header) -> Result<(), RatchetError> {
        self.skip_to(header.previous_chain_len)?;
        let (Some(dh_self), Some(kem_self)) = (self.dh_self.as_ref(), self.kem_self.as_ref())
        else {
            return Err(broken_state("a reply arrived before our first message"));
        };
        let shared = dh(dh_self.secret(), &header.dh).map_err(invalid)?;
        let ss = decapsulate(kem_self.secret_key(), &header.kem_ciphertext);
        let (root, chain, next_header) = kdf::root_kdf(&self.root, &shared, &ss);
        let header_key = core::mem::replace(&mut self.next_recv_header, next_header);
        self.recv = Some(RecvChain {
            chain,
            header_key,
            n: 0,
        });
        self.root = root;
        self.dh_peer = Some(header.dh);
        self.kem_peer = Some(header.kem_public.clone());
        self.send_step_pending = true;
        Ok(())
    }
}

/// The body's associated data: `AD ‖ [0x02] ‖ header nonce ‖ encrypted
/// header`.
pub(crate) fn body_aad(ad: &[u8], message: &RatchetMessage) -> Vec<u8> {
    let header = message.header_bytes();
    let mut aad = Vec::with_capacity(ad.len() + header.len());
    aad.extend_from_slice(ad);
    aad.extend_from_slice(&header);
    aad
}
