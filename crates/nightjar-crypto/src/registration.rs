//! The node key's proof of possession for the on-chain node registry.
//!
//! An operator registers a service node by calling `register(ed25519Key,
//! contact, signature)` on the registry contract (`contracts/` at the
//! workspace root). `signature` is the node key's labelled signature
//! ([`crate::identity::Identity::sign_labelled`], label
//! [`labels::NODE_REGISTRATION`]) over a [`RegistrationClaim`]:
//!
//! ```text
//! data = chain_id (uint256, 32 bytes BE) ‖ contract (20) ‖ operator (20)
//!        ‖ node key (32) ‖ nonce (uint256, 32 bytes BE)          (136 bytes)
//! signed message = [29] ‖ "nightjar/v1/node-registration" ‖ data  (166 bytes)
//! ```
//!
//! The contract does not verify it (the EVM has no cheap Ed25519): every
//! follower of the chain does, with [`RegistrationClaim::verify`], taking the
//! chain ID and contract address from its configuration and the operator,
//! key, nonce and signature from the `Registered` event. Because the chain,
//! the contract, the operator and the operator's nonce are all signed, a
//! proof cannot be replayed on another chain, against another contract, by
//! another operator, or again by the same operator. `docs/PROTOCOL.md` §13
//! has the byte layout, the events and the follower's acceptance rule;
//! `test-vectors/registration.json` has vectors.

use crate::error::CryptoError;
use crate::identity::{Identity, PublicKey};
use crate::labels;

/// Length of [`RegistrationClaim::data`]: 32 + 20 + 20 + 32 + 32 bytes.
pub const REGISTRATION_DATA_LEN: usize = 136;

/// Length of [`RegistrationClaim::signed_message`]: 1 + 29 + 136 bytes.
pub const REGISTRATION_MESSAGE_LEN: usize =
    1 + labels::NODE_REGISTRATION.len() + REGISTRATION_DATA_LEN;

/// What a node key signs to let one operator register it in one registry
/// contract on one chain, once.
///
/// The fields are raw bytes, as a follower reads them from its configuration
/// and from a `Registered` event; nothing is validated until
/// [`RegistrationClaim::verify`].
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct RegistrationClaim {
    /// The EVM chain ID (a uint256), 32 bytes big-endian.
    pub chain_id: [u8; 32],
    /// The registry contract's 20-byte address.
    pub contract: [u8; 20],
    /// The operator's 20-byte address: the account that calls `register`
    /// (`msg.sender`), which pays and gets back the stake.
    pub operator: [u8; 20],
    /// The node's Ed25519 public key, as the 32 bytes of the event's
    /// `ed25519Key`.
    pub node_key: [u8; 32],
    /// The operator's registration nonce that the registration used (a
    /// uint256, 32 bytes big-endian): the contract's `nonces(operator)` at the
    /// time of the call, carried in the `Registered` event.
    pub nonce: [u8; 32],
}

/// The label's length byte (the label is a checked constant of 29 bytes,
/// see [`labels`]).
const LABEL_LEN: u8 = {
    assert!(labels::NODE_REGISTRATION.len() <= crate::identity::MAX_LABEL_LEN);
    labels::NODE_REGISTRATION.len() as u8
};

/// A uint256 of value `n`, as 32 bytes big-endian (for chain IDs and nonces).
pub fn uint256(n: u64) -> [u8; 32] {
    let mut out = [0u8; 32];
    out[24..].copy_from_slice(&n.to_be_bytes());
    out
}

impl RegistrationClaim {
    /// A claim for the node key `node_key`, with a chain ID and nonce that fit
    /// in 64 bits (every chain ID in use does).
    pub fn new(
        chain_id: u64,
        contract: [u8; 20],
        operator: [u8; 20],
        node_key: &PublicKey,
        nonce: u64,
    ) -> RegistrationClaim {
        RegistrationClaim {
            chain_id: uint256(chain_id),
            contract,
            operator,
            node_key: node_key.to_bytes(),
            nonce: uint256(nonce),
        }
    }

    /// The signed data: `chain_id ‖ contract ‖ operator ‖ node_key ‖ nonce`.
    pub fn data(&self) -> [u8; REGISTRATION_DATA_LEN] {
        let mut out = [0u8; REGISTRATION_DATA_LEN];
        let parts: [&[u8]; 5] = [
            &self.chain_id,
            &self.contract,
            &self.operator,
            &self.node_key,
            &self.nonce,
        ];
        let mut at = 0;
        for part in parts {
            out[at..at + part.len()].copy_from_slice(part);
            at += part.len();
        }
        out
    }

    /// The whole signed message, `[29] ‖ "nightjar/v1/node-registration" ‖
    /// data` (what the contract's `registrationMessage` view returns).
    pub fn signed_message(&self) -> Vec<u8> {
        let label = labels::NODE_REGISTRATION.as_bytes();
        let mut msg = Vec::with_capacity(REGISTRATION_MESSAGE_LEN);
        msg.push(LABEL_LEN);
        msg.extend_from_slice(label);
        msg.extend_from_slice(&self.data());
        msg
    }

    /// The node's proof of possession: `identity` signs this claim.
    ///
    /// Fails with [`CryptoError::RegistrationKeyMismatch`] if the claim names
    /// another key than the identity's (such a proof could never verify).
    pub fn sign(&self, identity: &Identity) -> Result<[u8; 64], CryptoError> {
        if identity.public_key().to_bytes() != self.node_key {
            return Err(CryptoError::RegistrationKeyMismatch);
        }
        identity.try_sign_labelled(labels::NODE_REGISTRATION, &self.data())
    }

    /// Checks a proof of possession, as every follower does for each
    /// `Registered` event; returns the validated node key.
    ///
    /// Fails with [`CryptoError::InvalidPublicKey`] if `node_key` is not a
    /// valid Ed25519 key, [`CryptoError::InvalidLength`] if `signature` is not
    /// 64 bytes, and [`CryptoError::BadSignature`] if it does not verify
    /// (strictly) over this claim. Any failure means the registration never
    /// becomes a node.
    pub fn verify(&self, signature: &[u8]) -> Result<PublicKey, CryptoError> {
        let key = PublicKey::from_bytes(&self.node_key)?;
        key.verify_labelled(labels::NODE_REGISTRATION, &self.data(), signature)?;
        Ok(key)
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;
    use crate::identity::Seed;

    fn node() -> Identity {
        Identity::from_seed(Seed::from_bytes([7u8; 32]))
    }

    fn claim(id: &Identity) -> RegistrationClaim {
        RegistrationClaim::new(31337, [0xaa; 20], [0xbb; 20], &id.public_key(), 0)
    }

    #[test]
    fn layout() {
        let id = node();
        let c = RegistrationClaim::new(0x0102, [1; 20], [2; 20], &id.public_key(), 0x0304);
        let data = c.data();
        assert_eq!(data.len(), 136);
        assert_eq!(&data[..30], &[0u8; 30]);
        assert_eq!(&data[30..32], &[1, 2]);
        assert_eq!(&data[32..52], &[1; 20]);
        assert_eq!(&data[52..72], &[2; 20]);
        assert_eq!(&data[72..104], id.public_key().as_bytes());
        assert_eq!(&data[104..134], &[0u8; 30]);
        assert_eq!(&data[134..], &[3, 4]);
        let msg = c.signed_message();
        assert_eq!(msg.len(), REGISTRATION_MESSAGE_LEN);
        assert_eq!(msg.len(), 166);
        assert_eq!(msg[0], 29);
        assert_eq!(&msg[1..30], b"nightjar/v1/node-registration");
        assert_eq!(&msg[30..], &data);
    }

    #[test]
    fn sign_is_a_labelled_signature_and_verifies() {
        let id = node();
        let c = claim(&id);
        let sig = c.sign(&id).unwrap();
        assert_eq!(sig, id.sign_labelled(labels::NODE_REGISTRATION, &c.data()));
        assert_eq!(c.verify(&sig).unwrap(), id.public_key());
    }

    #[test]
    fn every_bound_field_breaks_a_replayed_proof() {
        let id = node();
        let c = claim(&id);
        let sig = c.sign(&id).unwrap();
        let other = Identity::from_seed(Seed::from_bytes([8u8; 32]));
        let replays = [
            RegistrationClaim {
                chain_id: uint256(42161),
                ..c
            },
            RegistrationClaim {
                contract: [0xab; 20],
                ..c
            },
            RegistrationClaim {
                operator: [0xbc; 20],
                ..c
            },
            RegistrationClaim {
                nonce: uint256(1),
                ..c
            },
            RegistrationClaim {
                node_key: other.public_key().to_bytes(),
                ..c
            },
        ];
        for r in replays {
            assert_eq!(r.verify(&sig), Err(CryptoError::BadSignature), "{r:?}");
        }
        // Another purpose's signature over the same data does not verify.
        let envelope_sig = id.sign_labelled(labels::ENVELOPE_SIG, &c.data());
        assert_eq!(c.verify(&envelope_sig), Err(CryptoError::BadSignature));
    }

    #[test]
    fn junk_is_rejected_without_panicking() {
        let id = node();
        let c = claim(&id);
        let sig = c.sign(&id).unwrap();
        assert!(matches!(
            c.verify(&sig[..63]),
            Err(CryptoError::InvalidLength { got: 63, .. })
        ));
        assert!(matches!(
            c.verify(&[]),
            Err(CryptoError::InvalidLength { got: 0, .. })
        ));
        assert_eq!(c.verify(&[0u8; 64]), Err(CryptoError::BadSignature));
        let mut flipped = sig;
        flipped[10] ^= 1;
        assert_eq!(c.verify(&flipped), Err(CryptoError::BadSignature));
        // The all-zero key (the contract rejects it too) and a small-order key.
        for bad in [[0u8; 32], {
            let mut k = [0u8; 32];
            k[0] = 1;
            k
        }] {
            let c = RegistrationClaim { node_key: bad, ..c };
            assert_eq!(c.verify(&sig), Err(CryptoError::InvalidPublicKey));
        }
    }

    #[test]
    fn signing_a_claim_for_another_key_fails() {
        let id = node();
        let other = Identity::from_seed(Seed::from_bytes([8u8; 32]));
        assert_eq!(
            claim(&other).sign(&id),
            Err(CryptoError::RegistrationKeyMismatch)
        );
    }

    #[test]
    fn uint256_is_big_endian() {
        assert_eq!(uint256(0), [0u8; 32]);
        let x = uint256(0x0102_0304_0506_0708);
        assert_eq!(&x[..24], &[0u8; 24]);
        assert_eq!(&x[24..], &[1, 2, 3, 4, 5, 6, 7, 8]);
    }
}
