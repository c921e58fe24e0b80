//! The prekey records a device publishes in its account's swarm, so that
//! others can start a session with it while it is offline.
//!
//! - [`PrekeyBundle`] (namespace `0xFF01`, one per device, replaced when the
//!   device rotates its signed prekey): a signed X25519 prekey and the
//!   last-resort ML-KEM-768 prekey.
//! - [`OneTimePrekey`] (namespace `0xFF80`, claimable: handed out once): an
//!   X25519 and an ML-KEM-768 key used together for one session.
//!
//! "Signed" means covered by the account's published-record signature.

use nightjar_crypto::dh::DhPublic;
use nightjar_crypto::kem::MlKemPublicKey;
use prost::Message;

use crate::keys::{dh_public, kem_public};
use crate::{DeviceError, DeviceId, proto};

/// The record format this software writes and reads.
const FORMAT: u32 = 1;
/// Largest encoded bundle or one-time prekey, in bytes (checked before
/// decoding); the ML-KEM-768 key is 1,184 of them.
pub const MAX_PREKEY_RECORD_BYTES: usize = 2_048;

/// A device's signed prekey and last-resort ML-KEM prekey.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PrekeyBundle {
    /// The device.
    pub device_id: DeviceId,
    /// Which signed prekey (the device keeps the secret under this ID).
    pub signed_prekey_id: u32,
    /// The signed X25519 prekey.
    pub signed_prekey: DhPublic,
    /// Which ML-KEM prekey.
    pub kem_prekey_id: u32,
    /// The last-resort ML-KEM-768 prekey (used when no one-time prekey can
    /// be claimed).
    pub kem_prekey: MlKemPublicKey,
    /// When the device made this bundle, Unix ms.
    pub created_at_ms: u64,
}

/// One one-time prekey pair of a device.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OneTimePrekey {
    /// The device.
    pub device_id: DeviceId,
    /// Which pair (the device keeps both secrets under this ID).
    pub prekey_id: u32,
    /// The one-time X25519 prekey.
    pub x25519: DhPublic,
    /// The one-time ML-KEM-768 prekey.
    pub kem: MlKemPublicKey,
}

fn check_size(what: &'static str, bytes: &[u8]) -> Result<(), DeviceError> {
    if bytes.len() > MAX_PREKEY_RECORD_BYTES {
        return Err(DeviceError::TooLarge {
            what,
            got: bytes.len(),
            max: MAX_PREKEY_RECORD_BYTES,
        });
    }
    Ok(())
}

fn check_format(what: &'static str, format: u32) -> Result<(), DeviceError> {
    if format != FORMAT {
        return Err(DeviceError::UnsupportedFormat { what, got: format });
    }
    Ok(())
}

fn canonical(what: &'static str, encoded: Vec<u8>, bytes: &[u8]) -> Result<(), DeviceError> {
    if encoded != bytes {
        return Err(DeviceError::Invalid {
            what,
            why: "not in canonical encoding".into(),
        });
    }
    Ok(())
}

impl PrekeyBundle {
    /// The record's bytes (the body the account signs).
    #[must_use]
    pub fn encode(&self) -> Vec<u8> {
        proto::PrekeyBundle {
            format: FORMAT,
            device_id: self.device_id.as_bytes().to_vec(),
            signed_prekey_id: self.signed_prekey_id,
            signed_prekey: self.signed_prekey.as_bytes().to_vec(),
            kem_prekey_id: self.kem_prekey_id,
            kem_prekey: self.kem_prekey.as_bytes().to_vec(),
            created_at_ms: self.created_at_ms,
        }
        .encode_to_vec()
    }

    /// Reads a record, refusing oversized, invalid or non-canonical ones.
    pub fn decode(bytes: &[u8]) -> Result<PrekeyBundle, DeviceError> {
        const WHAT: &str = "prekey bundle";
        check_size(WHAT, bytes)?;
        let raw = proto::PrekeyBundle::decode(bytes).map_err(|e| DeviceError::Invalid {
            what: WHAT,
            why: e.to_string(),
        })?;
        check_format(WHAT, raw.format)?;
        let bundle = PrekeyBundle {
            device_id: DeviceId::from_slice(&raw.device_id)?,
            signed_prekey_id: raw.signed_prekey_id,
            signed_prekey: dh_public("signed prekey", &raw.signed_prekey)?,
            kem_prekey_id: raw.kem_prekey_id,
            kem_prekey: kem_public("ML-KEM prekey", &raw.kem_prekey)?,
            created_at_ms: raw.created_at_ms,
        };
        canonical(WHAT, bundle.encode(), bytes)?;
        Ok(bundle)
    }
}

impl OneTimePrekey {
    /// The record's bytes (the body the account signs).
    #[must_use]
    pub fn encode(&self) -> Vec<u8> {
        proto::OneTimePrekey {
            format: FORMAT,
            device_id: self.device_id.as_bytes().to_vec(),
            prekey_id: self.prekey_id,
            x25519: self.x25519.as_bytes().to_vec(),
            kem: self.kem.as_bytes().to_vec(),
        }
        .encode_to_vec()
    }

    /// Reads a record, refusing oversized, invalid or non-canonical ones.
    pub fn decode(bytes: &[u8]) -> Result<OneTimePrekey, DeviceError> {
        const WHAT: &str = "one-time prekey";
        check_size(WHAT, bytes)?;
        let raw = proto::OneTimePrekey::decode(bytes).map_err(|e| DeviceError::Invalid {
            what: WHAT,
            why: e.to_string(),
        })?;
        check_format(WHAT, raw.format)?;
        let prekey = OneTimePrekey {
            device_id: DeviceId::from_slice(&raw.device_id)?,
            prekey_id: raw.prekey_id,
            x25519: dh_public("one-time X25519 prekey", &raw.x25519)?,
            kem: kem_public("one-time ML-KEM prekey", &raw.kem)?,
        };
        canonical(WHAT, prekey.encode(), bytes)?;
        Ok(prekey)
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use nightjar_crypto::SeededRandom;
    use nightjar_crypto::dh::DhSecret;
    use nightjar_crypto::kem::MlKemKeyPair;

    use super::*;

    #[test]
    fn prekey_records_round_trip_and_refuse_bad_keys_and_sizes() {
        let rng = &mut SeededRandom::from_seed([6; 32]);
        let kem = MlKemKeyPair::generate_with(rng)
            .unwrap()
            .public_key()
            .clone();
        let bundle = PrekeyBundle {
            device_id: DeviceId::new([9; 16]),
            signed_prekey_id: 3,
            signed_prekey: DhSecret::generate_with(rng).unwrap().public(),
            kem_prekey_id: 4,
            kem_prekey: kem.clone(),
            created_at_ms: 1_700_000_000_000,
        };
        let bytes = bundle.encode();
        assert!(bytes.len() <= MAX_PREKEY_RECORD_BYTES);
        assert_eq!(PrekeyBundle::decode(&bytes).unwrap(), bundle);
        let otk = OneTimePrekey {
            device_id: DeviceId::new([9; 16]),
            prekey_id: 77,
            x25519: DhSecret::generate_with(rng).unwrap().public(),
            kem,
        };
        assert_eq!(OneTimePrekey::decode(&otk.encode()).unwrap(), otk);

        // An ML-KEM key with a coefficient ≥ q fails FIPS 203's check.
        let mut raw = proto::PrekeyBundle::decode(bytes.as_slice()).unwrap();
        raw.kem_prekey[0] = 0xFF;
        raw.kem_prekey[1] = 0xFF;
        assert!(PrekeyBundle::decode(&raw.encode_to_vec()).is_err());
        let mut raw = proto::OneTimePrekey::decode(otk.encode().as_slice()).unwrap();
        raw.format = 9;
        assert!(matches!(
            OneTimePrekey::decode(&raw.encode_to_vec()),
            Err(DeviceError::UnsupportedFormat { got: 9, .. })
        ));
        assert!(matches!(
            OneTimePrekey::decode(&vec![0u8; MAX_PREKEY_RECORD_BYTES + 1]),
            Err(DeviceError::TooLarge { .. })
        ));
        assert!(
            PrekeyBundle::decode(&[]).is_err(),
            "format 0 is not format 1"
        );
    }
}
