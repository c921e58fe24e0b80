//! [`OwnDevice`]: this device's secrets — its identity key and the secret
//! halves of the prekeys it publishes — and the rules for rotating and
//! replenishing them.
//!
//! The client stores the state encrypted at rest ([`OwnDevice::encode`]) and
//! must store it again after every change: a one-time prekey taken by
//! [`OwnDevice::take_one_time`] is gone once the new state is saved, which is
//! what makes it one-time.

use std::collections::BTreeMap;

use nightjar_crypto::RandomSource;
use nightjar_crypto::dh::{DhPublic, DhSecret};
use nightjar_crypto::kem::{MLKEM_KEYGEN_SEED_LEN, MlKemKeyPair};
use prost::Message;
use zeroize::Zeroizing;

use crate::device_list::check_name;
use crate::{DeviceError, DeviceId, OneTimePrekey, PrekeyBundle, proto};

/// The state format this software writes and reads.
const FORMAT: u32 = 1;
/// A signed prekey (and the last-resort ML-KEM prekey with it) is replaced
/// once it is this old: a week.
pub const PREKEY_ROTATION_MS: u64 = 7 * 24 * 3_600_000;
/// A replaced prekey's secret is kept this long after its successor was
/// made (30 days: a first message sealed to it may wait in the swarm for 14
/// days, and the sender may have fetched the bundle earlier).
pub const REPLACED_PREKEY_KEPT_MS: u64 = 30 * 24 * 3_600_000;
/// Below this many unused one-time prekeys, the device publishes more.
pub const ONE_TIME_LOW: usize = 10;
/// How many unused one-time prekeys the device tops up to.
pub const ONE_TIME_TARGET: usize = 25;
/// Most one-time prekey secrets a state may hold (published and not yet
/// used: senders may still claim them).
pub const MAX_ONE_TIME: usize = 200;
/// Most signed (or ML-KEM) prekeys a state may hold, current and replaced.
pub const MAX_PREKEYS: usize = 16;
/// Largest encoded state, in bytes (checked before decoding).
pub const MAX_STATE_BYTES: usize = 65_536;

struct SignedPrekey {
    id: u32,
    secret: DhSecret,
    created_at_ms: u64,
}

struct KemPrekey {
    id: u32,
    seed: Zeroizing<[u8; MLKEM_KEYGEN_SEED_LEN]>,
    created_at_ms: u64,
}

struct OneTime {
    x25519: DhSecret,
    kem_seed: Zeroizing<[u8; MLKEM_KEYGEN_SEED_LEN]>,
}

/// The secret halves of one one-time prekey pair, as the handshake's
/// responder uses them.
#[derive(Debug)]
pub struct OneTimeSecrets {
    /// The one-time X25519 prekey.
    pub x25519: DhSecret,
    /// The one-time ML-KEM-768 key pair.
    pub kem: MlKemKeyPair,
}

/// This device: its ID and name, its identity key, and the secrets of the
/// prekeys it has published. `Debug` shows the ID and counts only.
pub struct OwnDevice {
    id: DeviceId,
    name: String,
    identity: DhSecret,
    /// Oldest first; the last is current. Never empty.
    signed: Vec<SignedPrekey>,
    /// Oldest first; the last is current. Never empty.
    kem: Vec<KemPrekey>,
    one_time: BTreeMap<u32, OneTime>,
    next_prekey_id: u32,
}

impl std::fmt::Debug for OwnDevice {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("OwnDevice")
            .field("id", &self.id)
            .field("signed_prekeys", &self.signed.len())
            .field("kem_prekeys", &self.kem.len())
            .field("one_time_prekeys", &self.one_time.len())
            .finish_non_exhaustive()
    }
}

fn kem_seed_with(
    rng: &mut dyn RandomSource,
) -> Result<Zeroizing<[u8; MLKEM_KEYGEN_SEED_LEN]>, DeviceError> {
    let mut seed = Zeroizing::new([0u8; MLKEM_KEYGEN_SEED_LEN]);
    rng.fill(&mut *seed)?;
    Ok(seed)
}

/// Forgets the keys of `keys` (oldest first) replaced more than
/// [`REPLACED_PREKEY_KEPT_MS`] ago: key `i` was replaced when key `i + 1`
/// was made. The current (last) key always stays.
fn prune_replaced<T>(keys: &mut Vec<T>, created_at: fn(&T) -> u64, now_ms: u64) {
    let mut i = 0;
    while let Some(successor) = keys.get(i + 1) {
        if now_ms.saturating_sub(created_at(successor)) >= REPLACED_PREKEY_KEPT_MS {
            keys.remove(i);
        } else {
            i += 1;
        }
    }
}

impl OwnDevice {
    /// A new device: random ID, identity key, signed prekey and ML-KEM
    /// prekey (no one-time prekeys yet: [`OwnDevice::replenish_with`]).
    pub fn generate_with(
        rng: &mut dyn RandomSource,
        name: &str,
        now_ms: u64,
    ) -> Result<OwnDevice, DeviceError> {
        check_name(name)?;
        let mut device = OwnDevice {
            id: DeviceId::generate_with(rng)?,
            name: name.to_owned(),
            identity: DhSecret::generate_with(rng)?,
            signed: Vec::new(),
            kem: Vec::new(),
            one_time: BTreeMap::new(),
            next_prekey_id: 1,
        };
        device.add_prekeys_with(rng, now_ms)?;
        Ok(device)
    }

    /// The device's ID.
    #[must_use]
    pub fn id(&self) -> DeviceId {
        self.id
    }

    /// The device's name.
    #[must_use]
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The identity key's secret (the handshake uses it).
    #[must_use]
    pub fn identity_secret(&self) -> &DhSecret {
        &self.identity
    }

    /// The identity key, as the device list carries it.
    #[must_use]
    pub fn identity_public(&self) -> DhPublic {
        self.identity.public()
    }

    fn next_id(&mut self) -> u32 {
        let id = self.next_prekey_id;
        // IDs only need to be unique among the secrets held: skip any in use.
        loop {
            self.next_prekey_id = self.next_prekey_id.wrapping_add(1).max(1);
            let n = self.next_prekey_id;
            let used = self.signed.iter().any(|p| p.id == n)
                || self.kem.iter().any(|p| p.id == n)
                || self.one_time.contains_key(&n);
            if !used {
                return id;
            }
        }
    }

    fn add_prekeys_with(
        &mut self,
        rng: &mut dyn RandomSource,
        now_ms: u64,
    ) -> Result<(), DeviceError> {
        let secret = DhSecret::generate_with(rng)?;
        let seed = kem_seed_with(rng)?;
        let id = self.next_id();
        self.signed.push(SignedPrekey {
            id,
            secret,
            created_at_ms: now_ms,
        });
        let id = self.next_id();
        self.kem.push(KemPrekey {
            id,
            seed,
            created_at_ms: now_ms,
        });
        Ok(())
    }

    fn current_signed(&self) -> Result<&SignedPrekey, DeviceError> {
        self.signed.last().ok_or_else(|| DeviceError::Invalid {
            what: "device state",
            why: "no signed prekey".into(),
        })
    }

    fn current_kem(&self) -> Result<&KemPrekey, DeviceError> {
        self.kem.last().ok_or_else(|| DeviceError::Invalid {
            what: "device state",
            why: "no ML-KEM prekey".into(),
        })
    }

    /// The bundle to publish: the current signed and ML-KEM prekeys.
    pub fn bundle(&self) -> Result<PrekeyBundle, DeviceError> {
        let signed = self.current_signed()?;
        let kem = self.current_kem()?;
        Ok(PrekeyBundle {
            device_id: self.id,
            signed_prekey_id: signed.id,
            signed_prekey: signed.secret.public(),
            kem_prekey_id: kem.id,
            kem_prekey: MlKemKeyPair::from_seed(&kem.seed).public_key().clone(),
            created_at_ms: signed.created_at_ms,
        })
    }

    /// Replaces the signed and ML-KEM prekeys if they are
    /// [`PREKEY_ROTATION_MS`] old, and forgets replaced ones kept longer than
    /// [`REPLACED_PREKEY_KEPT_MS`]. Returns whether the bundle changed (then
    /// publish [`OwnDevice::bundle`] again).
    pub fn rotate_if_due_with(
        &mut self,
        rng: &mut dyn RandomSource,
        now_ms: u64,
    ) -> Result<bool, DeviceError> {
        let due = now_ms.saturating_sub(self.current_signed()?.created_at_ms) >= PREKEY_ROTATION_MS;
        if due {
            self.add_prekeys_with(rng, now_ms)?;
        }
        prune_replaced(&mut self.signed, |p| p.created_at_ms, now_ms);
        prune_replaced(&mut self.kem, |p| p.created_at_ms, now_ms);
        while self.signed.len() > MAX_PREKEYS {
            self.signed.remove(0);
        }
        while self.kem.len() > MAX_PREKEYS {
            self.kem.remove(0);
        }
        Ok(due)
    }

    /// How many one-time prekey secrets the device holds.
    #[must_use]
    pub fn one_time_count(&self) -> usize {
        self.one_time.len()
    }

    /// If fewer than [`ONE_TIME_LOW`] one-time prekeys remain, makes new ones
    /// up to [`ONE_TIME_TARGET`] and returns their records to publish (empty
    /// otherwise).
    pub fn replenish_with(
        &mut self,
        rng: &mut dyn RandomSource,
    ) -> Result<Vec<OneTimePrekey>, DeviceError> {
        let mut records = Vec::new();
        if self.one_time.len() >= ONE_TIME_LOW {
            return Ok(records);
        }
        while self.one_time.len() < ONE_TIME_TARGET {
            let x25519 = DhSecret::generate_with(rng)?;
            let kem_seed = kem_seed_with(rng)?;
            let id = self.next_id();
            records.push(OneTimePrekey {
                device_id: self.id,
                prekey_id: id,
                x25519: x25519.public(),
                kem: MlKemKeyPair::from_seed(&kem_seed).public_key().clone(),
            });
            self.one_time.insert(id, OneTime { x25519, kem_seed });
        }
        Ok(records)
    }

    /// Like [`OwnDevice::replenish_with`], counting the one-time prekeys the
    /// swarm still `offered` (those not claimed yet) rather than the secrets
    /// held: a claimed prekey whose first message never comes stays held
    /// but is no longer offered. Beyond [`MAX_ONE_TIME`] secrets, the oldest
    /// (lowest IDs) are forgotten.
    pub fn replenish_offered_with(
        &mut self,
        rng: &mut dyn RandomSource,
        offered: usize,
    ) -> Result<Vec<OneTimePrekey>, DeviceError> {
        let mut records = Vec::new();
        if offered >= ONE_TIME_LOW {
            return Ok(records);
        }
        for _ in offered..ONE_TIME_TARGET {
            let x25519 = DhSecret::generate_with(rng)?;
            let kem_seed = kem_seed_with(rng)?;
            let id = self.next_id();
            records.push(OneTimePrekey {
                device_id: self.id,
                prekey_id: id,
                x25519: x25519.public(),
                kem: MlKemKeyPair::from_seed(&kem_seed).public_key().clone(),
            });
            self.one_time.insert(id, OneTime { x25519, kem_seed });
        }
        let fresh: std::collections::BTreeSet<u32> = records.iter().map(|r| r.prekey_id).collect();
        while self.one_time.len() > MAX_ONE_TIME {
            let Some(oldest) = self.one_time.keys().copied().find(|id| !fresh.contains(id)) else {
                break;
            };
            self.one_time.remove(&oldest);
        }
        Ok(records)
    }

    /// The secret of signed prekey `id`, current or replaced but kept.
    #[must_use]
    pub fn signed_prekey(&self, id: u32) -> Option<&DhSecret> {
        self.signed.iter().find(|p| p.id == id).map(|p| &p.secret)
    }

    /// The key pair of ML-KEM prekey `id`, current or replaced but kept.
    #[must_use]
    pub fn kem_prekey(&self, id: u32) -> Option<MlKemKeyPair> {
        self.kem
            .iter()
            .find(|p| p.id == id)
            .map(|p| MlKemKeyPair::from_seed(&p.seed))
    }

    /// The secrets of one-time prekey `id`, removed from the state: save
    /// the state once the session they start is saved.
    pub fn take_one_time(&mut self, id: u32) -> Option<OneTimeSecrets> {
        self.one_time.remove(&id).map(|o| OneTimeSecrets {
            kem: MlKemKeyPair::from_seed(&o.kem_seed),
            x25519: o.x25519,
        })
    }

    /// The secrets of one-time prekey `id`, left in the state (to try a
    /// handshake before committing to it).
    #[must_use]
    pub fn peek_one_time(&self, id: u32) -> Option<OneTimeSecrets> {
        self.one_time.get(&id).map(|o| OneTimeSecrets {
            kem: MlKemKeyPair::from_seed(&o.kem_seed),
            x25519: o.x25519.clone(),
        })
    }

    /// The state's bytes, to store encrypted at rest.
    #[must_use]
    pub fn encode(&self) -> Zeroizing<Vec<u8>> {
        let mut raw = proto::OwnDeviceState {
            format: FORMAT,
            device_id: self.id.as_bytes().to_vec(),
            name: self.name.clone(),
            identity: self.identity.as_bytes().to_vec(),
            signed_prekeys: self
                .signed
                .iter()
                .map(|p| proto::SecretPrekey {
                    id: p.id,
                    secret: p.secret.as_bytes().to_vec(),
                    created_at_ms: p.created_at_ms,
                })
                .collect(),
            kem_prekeys: self
                .kem
                .iter()
                .map(|p| proto::SecretPrekey {
                    id: p.id,
                    secret: p.seed.to_vec(),
                    created_at_ms: p.created_at_ms,
                })
                .collect(),
            one_time: self
                .one_time
                .iter()
                .map(|(id, o)| proto::SecretOneTime {
                    id: *id,
                    x25519: o.x25519.as_bytes().to_vec(),
                    kem_seed: o.kem_seed.to_vec(),
                })
                .collect(),
            next_prekey_id: self.next_prekey_id,
        };
        let bytes = Zeroizing::new(raw.encode_to_vec());
        raw.wipe();
        bytes
    }

    /// Reads a stored state, refusing oversized or inconsistent ones.
    pub fn decode(bytes: &[u8]) -> Result<OwnDevice, DeviceError> {
        if bytes.len() > MAX_STATE_BYTES {
            return Err(DeviceError::TooLarge {
                what: "device state",
                got: bytes.len(),
                max: MAX_STATE_BYTES,
            });
        }
        let mut raw = proto::OwnDeviceState::decode(bytes).map_err(|e| DeviceError::Invalid {
            what: "device state",
            why: e.to_string(),
        })?;
        let device = OwnDevice::from_raw(&raw);
        raw.wipe();
        let device = device?;
        if *device.encode() != bytes {
            return Err(DeviceError::Invalid {
                what: "device state",
                why: "not in canonical encoding".into(),
            });
        }
        Ok(device)
    }

    fn from_raw(raw: &proto::OwnDeviceState) -> Result<OwnDevice, DeviceError> {
        let invalid = |why: String| DeviceError::Invalid {
            what: "device state",
            why,
        };
        if raw.format != FORMAT {
            return Err(DeviceError::UnsupportedFormat {
                what: "device state",
                got: raw.format,
            });
        }
        check_name(&raw.name)?;
        let dh = |bytes: &[u8]| {
            <[u8; 32]>::try_from(bytes)
                .map(DhSecret::from_bytes)
                .map_err(|_| invalid(format!("an X25519 secret of {} bytes", bytes.len())))
        };
        let seed = |bytes: &[u8]| {
            <[u8; MLKEM_KEYGEN_SEED_LEN]>::try_from(bytes)
                .map(Zeroizing::new)
                .map_err(|_| invalid(format!("an ML-KEM seed of {} bytes", bytes.len())))
        };
        if raw.signed_prekeys.is_empty()
            || raw.kem_prekeys.is_empty()
            || raw.signed_prekeys.len() > MAX_PREKEYS
            || raw.kem_prekeys.len() > MAX_PREKEYS
            || raw.one_time.len() > MAX_ONE_TIME
            || raw.next_prekey_id == 0
        {
            return Err(invalid("prekey counts out of range".into()));
        }
        let mut signed = Vec::with_capacity(raw.signed_prekeys.len());
        for p in &raw.signed_prekeys {
            signed.push(SignedPrekey {
                id: p.id,
                secret: dh(&p.secret)?,
                created_at_ms: p.created_at_ms,
            });
        }
        let mut kem = Vec::with_capacity(raw.kem_prekeys.len());
        for p in &raw.kem_prekeys {
            kem.push(KemPrekey {
                id: p.id,
                seed: seed(&p.secret)?,
                created_at_ms: p.created_at_ms,
            });
        }
        let mut one_time = BTreeMap::new();
        let mut last = None;
        for o in &raw.one_time {
            if last.is_some_and(|l| l >= o.id) {
                return Err(invalid("one-time prekeys out of order".into()));
            }
            last = Some(o.id);
            one_time.insert(
                o.id,
                OneTime {
                    x25519: dh(&o.x25519)?,
                    kem_seed: seed(&o.kem_seed)?,
                },
            );
        }
        let mut ids: Vec<u32> = signed
            .iter()
            .map(|p| p.id)
            .chain(kem.iter().map(|p| p.id))
            .chain(one_time.keys().copied())
            .collect();
        let count = ids.len();
        ids.sort_unstable();
        ids.dedup();
        if ids.len() != count || ids.contains(&0) {
            return Err(invalid("prekey IDs repeat or are 0".into()));
        }
        Ok(OwnDevice {
            id: DeviceId::from_slice(&raw.device_id)?,
            name: raw.name.clone(),
            identity: dh(&raw.identity)?,
            signed,
            kem,
            one_time,
            next_prekey_id: raw.next_prekey_id,
        })
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use nightjar_crypto::SeededRandom;

    use super::*;

    const DAY: u64 = 24 * 3_600_000;

    #[test]
    fn a_new_device_publishes_a_bundle_and_one_time_prekeys_whose_secrets_it_holds() {
        let rng = &mut SeededRandom::from_seed([7; 32]);
        let mut device = OwnDevice::generate_with(rng, "phone", 0).unwrap();
        let bundle = device.bundle().unwrap();
        assert_eq!(bundle.device_id, device.id());
        assert_eq!(
            device
                .signed_prekey(bundle.signed_prekey_id)
                .unwrap()
                .public(),
            bundle.signed_prekey
        );
        assert_eq!(
            device
                .kem_prekey(bundle.kem_prekey_id)
                .unwrap()
                .public_key(),
            &bundle.kem_prekey
        );
        let records = device.replenish_with(rng).unwrap();
        assert_eq!(records.len(), ONE_TIME_TARGET);
        assert!(
            device.replenish_with(rng).unwrap().is_empty(),
            "full already"
        );
        let first = &records[0];
        let secrets = device.take_one_time(first.prekey_id).unwrap();
        assert_eq!(secrets.x25519.public(), first.x25519);
        assert_eq!(secrets.kem.public_key(), &first.kem);
        assert!(
            device.take_one_time(first.prekey_id).is_none(),
            "taken once"
        );
        let mut ids: Vec<u32> = records.iter().map(|r| r.prekey_id).collect();
        ids.extend([bundle.signed_prekey_id, bundle.kem_prekey_id]);
        ids.sort_unstable();
        ids.dedup();
        assert_eq!(ids.len(), ONE_TIME_TARGET + 2, "IDs are unique");
    }

    #[test]
    fn prekeys_rotate_weekly_and_replaced_ones_are_kept_thirty_days() {
        let rng = &mut SeededRandom::from_seed([8; 32]);
        let mut device = OwnDevice::generate_with(rng, "phone", 0).unwrap();
        let old = device.bundle().unwrap();
        assert!(!device.rotate_if_due_with(rng, 6 * DAY).unwrap());
        assert!(device.rotate_if_due_with(rng, 7 * DAY).unwrap());
        let new = device.bundle().unwrap();
        assert_ne!(old.signed_prekey_id, new.signed_prekey_id);
        assert!(device.signed_prekey(old.signed_prekey_id).is_some(), "kept");
        assert!(device.kem_prekey(old.kem_prekey_id).is_some(), "kept");
        device.rotate_if_due_with(rng, 36 * DAY).unwrap();
        assert!(
            device.signed_prekey(old.signed_prekey_id).is_some(),
            "29 days after"
        );
        device.rotate_if_due_with(rng, 37 * DAY).unwrap();
        assert!(
            device.signed_prekey(old.signed_prekey_id).is_none(),
            "30 days after"
        );
        assert!(device.kem_prekey(old.kem_prekey_id).is_none());
        assert!(device.signed_prekey(new.signed_prekey_id).is_some());
    }

    #[test]
    fn the_state_round_trips_and_bad_states_are_refused() {
        let rng = &mut SeededRandom::from_seed([9; 32]);
        let mut device = OwnDevice::generate_with(rng, "laptop", 5).unwrap();
        device.replenish_with(rng).unwrap();
        let bytes = device.encode();
        let back = OwnDevice::decode(&bytes).unwrap();
        assert_eq!(*back.encode(), *bytes);
        assert_eq!(back.bundle().unwrap(), device.bundle().unwrap());
        assert!(!format!("{back:?}").contains(&hex::encode(device.identity_secret().as_bytes())));

        let mut raw = proto::OwnDeviceState::decode(bytes.as_slice()).unwrap();
        raw.one_time[1].id = raw.one_time[0].id;
        assert!(
            OwnDevice::decode(&raw.encode_to_vec()).is_err(),
            "repeated ID"
        );
        let mut raw = proto::OwnDeviceState::decode(bytes.as_slice()).unwrap();
        raw.signed_prekeys.clear();
        assert!(
            OwnDevice::decode(&raw.encode_to_vec()).is_err(),
            "no signed prekey"
        );
        let mut raw = proto::OwnDeviceState::decode(bytes.as_slice()).unwrap();
        raw.kem_prekeys[0].secret.pop();
        assert!(
            OwnDevice::decode(&raw.encode_to_vec()).is_err(),
            "short seed"
        );
        assert!(OwnDevice::decode(&vec![0; MAX_STATE_BYTES + 1]).is_err());
    }
}
