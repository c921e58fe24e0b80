//! How the core signs its receipts and checks the signatures it is shown
//! (members' receipts, signed retrieves and deletes).
//!
//! Every real node uses [`Ed25519`], the scheme `docs/PROTOCOL.md`
//! specifies (labelled Ed25519 signatures, §5.4 receipts, §5.2 signed
//! requests). The trait exists so that a network simulator holding thousands
//! of cores in one process may substitute a documented cheaper stand-in for
//! its largest runs (`nightjar-sim --crypto model`); nothing in a node's
//! configuration can select another scheme.
//!
//! Not here: which messages are signed or what they cover (the wire crate's
//! `signed` bytes), or the decision what a failed check means (the core).

use std::fmt;

use nightjar_crypto::identity::{Identity, PublicKey};

/// Signs this node's statements and checks others' signatures.
pub trait Signatures: Send + Sync + fmt::Debug {
    /// `identity`'s signature over `data` under `label`.
    fn sign(&self, identity: &Identity, label: &str, data: &[u8]) -> [u8; 64];

    /// Whether `signature` is `key`'s signature over `data` under `label`.
    fn verify(&self, key: &PublicKey, label: &str, data: &[u8], signature: &[u8; 64]) -> bool;
}

/// Labelled Ed25519 signatures (`Identity::sign_labelled`,
/// `PublicKey::verify_labelled`): the protocol's scheme, used by every node.
#[derive(Debug, Clone, Copy, Default)]
pub struct Ed25519;

impl Signatures for Ed25519 {
    fn sign(&self, identity: &Identity, label: &str, data: &[u8]) -> [u8; 64] {
        identity.sign_labelled(label, data)
    }

    fn verify(&self, key: &PublicKey, label: &str, data: &[u8], signature: &[u8; 64]) -> bool {
        key.verify_labelled(label, data, signature).is_ok()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use nightjar_crypto::identity::Seed;

    #[test]
    fn ed25519_accepts_its_own_signature_and_refuses_a_changed_one() {
        let id = Identity::from_seed(Seed::from_bytes([7; 32]));
        let sig = Ed25519.sign(&id, "nightjar/test", b"data");
        assert!(Ed25519.verify(&id.public_key(), "nightjar/test", b"data", &sig));
        assert!(!Ed25519.verify(&id.public_key(), "nightjar/test", b"datA", &sig));
        assert!(!Ed25519.verify(&id.public_key(), "nightjar/other", b"data", &sig));
        let mut bad = sig;
        bad[0] ^= 1;
        assert!(!Ed25519.verify(&id.public_key(), "nightjar/test", b"data", &bad));
    }
}
