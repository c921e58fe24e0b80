//! [`DeviceList`] and its entries: encoding, checks and edits.

use std::collections::BTreeSet;

use nightjar_crypto::dh::DhPublic;
use prost::Message;

use super::{
    FIRST_MAILBOX, LAST_MAILBOX, MAX_ENTRIES, MAX_LIST_BYTES, MAX_LIVE_DEVICES, MAX_NAME_BYTES,
};
use crate::keys::dh_public;
use crate::{DeviceError, DeviceId, proto};

/// The record format this software writes and reads.
const FORMAT: u32 = 1;

/// One device of an account, live or removed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DeviceEntry {
    /// Its ID.
    pub id: DeviceId,
    /// Its identity key (X25519): what the handshake authenticates.
    pub identity_key: DhPublic,
    /// The namespace of its mailbox in the account's swarm (in
    /// [`FIRST_MAILBOX`]`..=`[`LAST_MAILBOX`]).
    pub mailbox: u16,
    /// A name for people ("laptop"): at most [`MAX_NAME_BYTES`] bytes, no
    /// control characters.
    pub name: String,
    /// When it was added, Unix ms.
    pub added_at_ms: u64,
    /// When it was removed, Unix ms; `None` while it is live.
    pub removed_at_ms: Option<u64>,
}

impl DeviceEntry {
    /// Whether the device is live (not removed).
    #[must_use]
    pub fn is_live(&self) -> bool {
        self.removed_at_ms.is_none()
    }
}

/// One version of an account's device list.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DeviceList {
    version: u64,
    devices: Vec<DeviceEntry>,
}

/// Checks a device name: what a list may carry.
pub(crate) fn check_name(name: &str) -> Result<(), DeviceError> {
    if name.len() > MAX_NAME_BYTES {
        return Err(DeviceError::Invalid {
            what: "device name",
            why: format!("{} bytes, at most {MAX_NAME_BYTES} allowed", name.len()),
        });
    }
    if name.chars().any(char::is_control) {
        return Err(DeviceError::Invalid {
            what: "device name",
            why: "contains a control character".into(),
        });
    }
    Ok(())
}

impl DeviceList {
    /// The first list of an account: version 1 with one live device, whose
    /// mailbox is the first one.
    pub fn first(
        id: DeviceId,
        identity_key: DhPublic,
        name: &str,
        now_ms: u64,
    ) -> Result<DeviceList, DeviceError> {
        check_name(name)?;
        Ok(DeviceList {
            version: 1,
            devices: vec![DeviceEntry {
                id,
                identity_key,
                mailbox: FIRST_MAILBOX,
                name: name.to_owned(),
                added_at_ms: now_ms,
                removed_at_ms: None,
            }],
        })
    }

    /// The version: strictly increasing from one list to the next.
    #[must_use]
    pub fn version(&self) -> u64 {
        self.version
    }

    /// Every entry, live and removed, in list order.
    #[must_use]
    pub fn entries(&self) -> &[DeviceEntry] {
        &self.devices
    }

    /// The live devices, in list order.
    pub fn live(&self) -> impl Iterator<Item = &DeviceEntry> {
        self.devices.iter().filter(|d| d.is_live())
    }

    /// The entry of a device, live or removed.
    #[must_use]
    pub fn entry(&self, id: &DeviceId) -> Option<&DeviceEntry> {
        self.devices.iter().find(|d| d.id == *id)
    }

    /// The next version with one more live device, given the lowest free
    /// mailbox. Refused if the ID is listed already (live or removed) or
    /// [`MAX_LIVE_DEVICES`] are live; a full list drops its oldest
    /// tombstone to make room.
    pub fn with_device(
        &self,
        id: DeviceId,
        identity_key: DhPublic,
        name: &str,
        now_ms: u64,
    ) -> Result<DeviceList, DeviceError> {
        check_name(name)?;
        if self.entry(&id).is_some() {
            return Err(DeviceError::Invalid {
                what: "device list",
                why: format!("device {id} is listed already"),
            });
        }
        let live = self.live().count();
        if live >= MAX_LIVE_DEVICES {
            return Err(DeviceError::TooManyDevices(live));
        }
        let mut devices = self.devices.clone();
        while devices.len() >= MAX_ENTRIES {
            let oldest = devices
                .iter()
                .enumerate()
                .filter_map(|(i, d)| d.removed_at_ms.map(|at| (at, i)))
                .min()
                .map(|(_, i)| i);
            match oldest {
                Some(i) => {
                    devices.remove(i);
                }
                None => return Err(DeviceError::TooManyDevices(live)),
            }
        }
        let used: BTreeSet<u16> = devices.iter().map(|d| d.mailbox).collect();
        let mailbox = (FIRST_MAILBOX..=LAST_MAILBOX)
            .find(|m| !used.contains(m))
            .ok_or_else(|| DeviceError::Invalid {
                what: "device list",
                why: "no free mailbox".into(),
            })?;
        devices.push(DeviceEntry {
            id,
            identity_key,
            mailbox,
            name: name.to_owned(),
            added_at_ms: now_ms,
            removed_at_ms: None,
        });
        Ok(DeviceList {
            version: self.next_version()?,
            devices,
        })
    }

    /// The next version with a live device removed (kept as a tombstone).
    pub fn without_device(&self, id: &DeviceId, now_ms: u64) -> Result<DeviceList, DeviceError> {
        let mut devices = self.devices.clone();
        let entry = devices
            .iter_mut()
            .find(|d| d.id == *id && d.is_live())
            .ok_or_else(|| DeviceError::UnknownDevice(id.to_string()))?;
        entry.removed_at_ms = Some(now_ms.max(entry.added_at_ms));
        Ok(DeviceList {
            version: self.next_version()?,
            devices,
        })
    }

    /// The same devices under the next version: a re-publication, so that a
    /// list still in use never expires from the swarm.
    pub fn bumped(&self) -> Result<DeviceList, DeviceError> {
        Ok(DeviceList {
            version: self.next_version()?,
            devices: self.devices.clone(),
        })
    }

    fn next_version(&self) -> Result<u64, DeviceError> {
        self.version.checked_add(1).ok_or(DeviceError::Invalid {
            what: "device list",
            why: "version exhausted".into(),
        })
    }

    /// The record's bytes (the body the account signs).
    #[must_use]
    pub fn encode(&self) -> Vec<u8> {
        proto::DeviceList {
            format: FORMAT,
            version: self.version,
            devices: self
                .devices
                .iter()
                .map(|d| proto::Device {
                    device_id: d.id.as_bytes().to_vec(),
                    identity_key: d.identity_key.as_bytes().to_vec(),
                    mailbox: u32::from(d.mailbox),
                    name: d.name.clone(),
                    added_at_ms: d.added_at_ms,
                    removed_at_ms: d.removed_at_ms.unwrap_or(0),
                })
                .collect(),
        }
        .encode_to_vec()
    }

    /// Reads a record, refusing anything [`DeviceList::encode`] would not
    /// write: sizes, counts, duplicate IDs or mailboxes, mailboxes out of
    /// range, invalid keys or names, a removal before the addition, a
    /// non-canonical encoding.
    pub fn decode(bytes: &[u8]) -> Result<DeviceList, DeviceError> {
        let invalid = |why: String| DeviceError::Invalid {
            what: "device list",
            why,
        };
        if bytes.len() > MAX_LIST_BYTES {
            return Err(DeviceError::TooLarge {
                what: "device list",
                got: bytes.len(),
                max: MAX_LIST_BYTES,
            });
        }
        let raw = proto::DeviceList::decode(bytes).map_err(|e| invalid(e.to_string()))?;
        if raw.format != FORMAT {
            return Err(DeviceError::UnsupportedFormat {
                what: "device list",
                got: raw.format,
            });
        }
        if raw.version == 0 {
            return Err(invalid("version 0".into()));
        }
        if raw.devices.is_empty() || raw.devices.len() > MAX_ENTRIES {
            return Err(invalid(format!(
                "{} entries, 1 to {MAX_ENTRIES} allowed",
                raw.devices.len()
            )));
        }
        let mut devices = Vec::with_capacity(raw.devices.len());
        let mut ids = BTreeSet::new();
        let mut mailboxes = BTreeSet::new();
        for d in &raw.devices {
            let id = DeviceId::from_slice(&d.device_id)?;
            let identity_key = dh_public("device identity key", &d.identity_key)?;
            let mailbox = u16::try_from(d.mailbox)
                .ok()
                .filter(|m| (FIRST_MAILBOX..=LAST_MAILBOX).contains(m))
                .ok_or_else(|| invalid(format!("mailbox {:#x} out of range", d.mailbox)))?;
            check_name(&d.name)?;
            if !ids.insert(id) {
                return Err(invalid(format!("device {id} listed twice")));
            }
            if !mailboxes.insert(mailbox) {
                return Err(invalid(format!("mailbox {mailbox:#x} listed twice")));
            }
            let removed_at_ms = (d.removed_at_ms != 0).then_some(d.removed_at_ms);
            if removed_at_ms.is_some_and(|r| r < d.added_at_ms) {
                return Err(invalid(format!("device {id} removed before it was added")));
            }
            devices.push(DeviceEntry {
                id,
                identity_key,
                mailbox,
                name: d.name.clone(),
                added_at_ms: d.added_at_ms,
                removed_at_ms,
            });
        }
        let list = DeviceList {
            version: raw.version,
            devices,
        };
        let live = list.live().count();
        if live > MAX_LIVE_DEVICES {
            return Err(DeviceError::TooManyDevices(live));
        }
        if list.encode() != bytes {
            return Err(invalid("not in canonical encoding".into()));
        }
        Ok(list)
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use nightjar_crypto::SeededRandom;
    use nightjar_crypto::dh::DhSecret;

    use super::*;
    use crate::device_list::MAX_ENTRIES;

    fn key(rng: &mut SeededRandom) -> DhPublic {
        DhSecret::generate_with(rng).unwrap().public()
    }

    fn id(n: u8) -> DeviceId {
        DeviceId::new([n; 16])
    }

    #[test]
    fn a_list_grows_and_shrinks_one_version_at_a_time_and_round_trips() {
        let rng = &mut SeededRandom::from_seed([1; 32]);
        let v1 = DeviceList::first(id(1), key(rng), "phone", 1_000).unwrap();
        let v2 = v1.with_device(id(2), key(rng), "laptop", 2_000).unwrap();
        let v3 = v2.without_device(&id(1), 3_000).unwrap();
        assert_eq!((v1.version(), v2.version(), v3.version()), (1, 2, 3));
        assert_eq!(v2.entry(&id(2)).unwrap().mailbox, FIRST_MAILBOX + 1);
        assert_eq!(v3.live().map(|d| d.id).collect::<Vec<_>>(), vec![id(2)]);
        assert_eq!(v3.entry(&id(1)).unwrap().removed_at_ms, Some(3_000));
        for list in [&v1, &v2, &v3] {
            assert_eq!(&DeviceList::decode(&list.encode()).unwrap(), list);
        }
        assert!(matches!(
            v3.without_device(&id(1), 4_000),
            Err(DeviceError::UnknownDevice(_))
        ));
        assert!(
            v3.with_device(id(1), key(rng), "again", 4_000).is_err(),
            "a removed id stays taken"
        );
    }

    #[test]
    fn the_ninth_live_device_is_refused_and_a_full_list_drops_its_oldest_tombstone() {
        let rng = &mut SeededRandom::from_seed([2; 32]);
        let mut list = DeviceList::first(id(0), key(rng), "0", 0).unwrap();
        for n in 1..8u8 {
            list = list
                .with_device(id(n), key(rng), "d", u64::from(n))
                .unwrap();
        }
        assert!(matches!(
            list.with_device(id(8), key(rng), "d", 8),
            Err(DeviceError::TooManyDevices(8))
        ));
        // Churn until the list is full of tombstones.
        let mut next = 8u8;
        while list.entries().len() < MAX_ENTRIES {
            let oldest_live = list.live().next().unwrap().id;
            list = list.without_device(&oldest_live, u64::from(next)).unwrap();
            list = list
                .with_device(id(next), key(rng), "d", u64::from(next))
                .unwrap();
            next += 1;
        }
        let first_tombstone = list.entries().iter().find(|d| !d.is_live()).unwrap().id;
        let oldest_live = list.live().next().unwrap().id;
        list = list.without_device(&oldest_live, 1_000).unwrap();
        list = list.with_device(id(200), key(rng), "d", 1_000).unwrap();
        assert_eq!(list.entries().len(), MAX_ENTRIES);
        assert!(
            list.entry(&first_tombstone).is_none(),
            "the oldest tombstone made room"
        );
        assert_eq!(DeviceList::decode(&list.encode()).unwrap(), list);
    }

    fn raw(list: &DeviceList) -> proto::DeviceList {
        proto::DeviceList::decode(list.encode().as_slice()).unwrap()
    }

    #[test]
    fn decoding_refuses_what_the_encoder_never_writes() {
        let rng = &mut SeededRandom::from_seed([3; 32]);
        let list = DeviceList::first(id(1), key(rng), "phone", 5)
            .unwrap()
            .with_device(id(2), key(rng), "laptop", 6)
            .unwrap();
        type Edit = Box<dyn Fn(&mut proto::DeviceList)>;
        let cases: Vec<(&str, Edit)> = vec![
            ("format", Box::new(|l| l.format = 2)),
            ("version 0", Box::new(|l| l.version = 0)),
            ("no entries", Box::new(|l| l.devices.clear())),
            (
                "duplicate id",
                Box::new(|l| l.devices[1].device_id = l.devices[0].device_id.clone()),
            ),
            (
                "duplicate mailbox",
                Box::new(|l| l.devices[1].mailbox = l.devices[0].mailbox),
            ),
            ("mailbox range", Box::new(|l| l.devices[1].mailbox = 0xFF00)),
            (
                "mailbox over u16",
                Box::new(|l| l.devices[1].mailbox = 0x1_1000),
            ),
            (
                "short id",
                Box::new(|l| l.devices[0].device_id.pop().map(drop).unwrap_or(())),
            ),
            (
                "short key",
                Box::new(|l| l.devices[0].identity_key.truncate(31)),
            ),
            (
                "long name",
                Box::new(|l| l.devices[0].name = "n".repeat(65)),
            ),
            (
                "control name",
                Box::new(|l| l.devices[0].name = "a\nb".into()),
            ),
            (
                "removed before added",
                Box::new(|l| l.devices[0].removed_at_ms = 4),
            ),
        ];
        for (what, edit) in cases {
            let mut r = raw(&list);
            edit(&mut r);
            assert!(
                DeviceList::decode(&r.encode_to_vec()).is_err(),
                "{what} accepted"
            );
        }
        // Not canonical: a field written twice decodes (the last wins) but is refused.
        let mut bytes = list.encode();
        bytes.extend_from_slice(&[0x10, 0x02]); // version = 2 again
        assert!(DeviceList::decode(&bytes).is_err());
        assert!(matches!(
            DeviceList::decode(&vec![0u8; MAX_LIST_BYTES + 1]),
            Err(DeviceError::TooLarge { .. })
        ));
    }
}
