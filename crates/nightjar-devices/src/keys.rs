//! Reading and writing the public keys the records carry, through
//! `nightjar-crypto`'s key types (the one place this crate touches them).

use nightjar_crypto::dh::DhPublic;
use nightjar_crypto::kem::MlKemPublicKey;

use crate::DeviceError;

/// An X25519 public key from its 32 bytes.
pub(crate) fn dh_public(what: &'static str, bytes: &[u8]) -> Result<DhPublic, DeviceError> {
    DhPublic::from_slice(bytes).map_err(|e| DeviceError::Invalid {
        what,
        why: e.to_string(),
    })
}

/// An ML-KEM-768 encapsulation key from its 1,184 bytes.
pub(crate) fn kem_public(what: &'static str, bytes: &[u8]) -> Result<MlKemPublicKey, DeviceError> {
    MlKemPublicKey::from_bytes(bytes).map_err(|e| DeviceError::Invalid {
        what,
        why: e.to_string(),
    })
}
