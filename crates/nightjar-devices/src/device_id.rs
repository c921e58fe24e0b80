//! [`DeviceId`]: which device of an account.

use std::fmt;
use std::str::FromStr;

use nightjar_crypto::RandomSource;

use crate::DeviceError;

/// A device's identifier: 16 bytes the device draws at random when it is
/// created. Unique within its account (the device list refuses duplicates);
/// shown to users as 32 lowercase hex digits.
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct DeviceId([u8; 16]);

impl DeviceId {
    /// Length in bytes.
    pub const LEN: usize = 16;

    /// Wraps 16 bytes.
    #[must_use]
    pub const fn new(bytes: [u8; 16]) -> DeviceId {
        DeviceId(bytes)
    }

    /// Reads a device ID from exactly 16 bytes.
    pub fn from_slice(bytes: &[u8]) -> Result<DeviceId, DeviceError> {
        <[u8; 16]>::try_from(bytes)
            .map(DeviceId)
            .map_err(|_| DeviceError::Invalid {
                what: "device id",
                why: format!("must be 16 bytes, got {}", bytes.len()),
            })
    }

    /// A fresh random device ID.
    pub fn generate_with(rng: &mut dyn RandomSource) -> Result<DeviceId, DeviceError> {
        let mut bytes = [0u8; 16];
        rng.fill(&mut bytes)?;
        Ok(DeviceId(bytes))
    }

    /// The bytes.
    #[must_use]
    pub const fn as_bytes(&self) -> &[u8; 16] {
        &self.0
    }
}

impl fmt::Display for DeviceId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&hex::encode(self.0))
    }
}

/// Shows the first four bytes only.
impl fmt::Debug for DeviceId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "DeviceId({}…)", hex::encode(&self.0[..4]))
    }
}

impl FromStr for DeviceId {
    type Err = DeviceError;

    fn from_str(s: &str) -> Result<DeviceId, DeviceError> {
        let invalid = |why: &str| DeviceError::Invalid {
            what: "device id",
            why: format!("{why}: a device id is 32 hex digits, as `nightjar device list` shows"),
        };
        if s.len() != 32 {
            return Err(invalid("wrong length"));
        }
        let bytes = hex::decode(s).map_err(|_| invalid("not hex"))?;
        DeviceId::from_slice(&bytes)
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn device_id_text_round_trips_and_rejects_other_lengths() {
        let id = DeviceId::new([0xab; 16]);
        let text = id.to_string();
        assert_eq!(text, "ab".repeat(16));
        assert_eq!(text.parse::<DeviceId>().unwrap(), id);
        assert!("ab".repeat(15).parse::<DeviceId>().is_err());
        assert!("zz".repeat(16).parse::<DeviceId>().is_err());
        assert_eq!(format!("{id:?}"), "DeviceId(abababab…)");
    }
}
