//! [`KnownDevices`]: a reader's view of an account's devices across list
//! versions.

use std::collections::BTreeSet;

use super::{DeviceEntry, DeviceList};
use crate::{DeviceError, DeviceId};

/// What [`KnownDevices::adopt`] did with a list.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Adoption {
    /// The list is newer (or wins a tie): it is now the adopted one.
    Adopted,
    /// It is the adopted list already.
    Unchanged,
}

/// A reader's view of one account's devices.
///
/// The rule every reader follows, so that they agree:
/// - a list with a higher version replaces the adopted one;
/// - of two different lists with the same version (two devices edited the
///   list at once), the one whose encoding is smaller (bytewise) wins;
/// - a device once seen removed stays removed, even if a later list no
///   longer carries its tombstone or lists it live again;
/// - a device is live if the adopted list has it live and it was never seen
///   removed.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct KnownDevices {
    list: Option<DeviceList>,
    removed: BTreeSet<DeviceId>,
}

impl KnownDevices {
    /// Nothing known yet.
    #[must_use]
    pub fn new() -> KnownDevices {
        KnownDevices::default()
    }

    /// Rebuilds a view from what [`KnownDevices::list`] and
    /// [`KnownDevices::removed`] returned (for storage).
    #[must_use]
    pub fn from_parts(list: Option<DeviceList>, removed: BTreeSet<DeviceId>) -> KnownDevices {
        let mut known = KnownDevices { list, removed };
        known.learn_removals();
        known
    }

    /// The adopted list, if any.
    #[must_use]
    pub fn list(&self) -> Option<&DeviceList> {
        self.list.as_ref()
    }

    /// Every device ever seen removed.
    #[must_use]
    pub fn removed(&self) -> &BTreeSet<DeviceId> {
        &self.removed
    }

    /// The live devices.
    pub fn live(&self) -> impl Iterator<Item = &DeviceEntry> {
        self.list
            .iter()
            .flat_map(DeviceList::live)
            .filter(|d| !self.removed.contains(&d.id))
    }

    /// A live device by ID.
    #[must_use]
    pub fn live_device(&self, id: &DeviceId) -> Option<&DeviceEntry> {
        self.live().find(|d| d.id == *id)
    }

    /// Offers a list (already checked: decoded and its signature verified).
    /// An older list, or a losing one of the same version, is refused with
    /// [`DeviceError::Stale`] and changes nothing.
    pub fn adopt(&mut self, list: DeviceList) -> Result<Adoption, DeviceError> {
        if let Some(current) = &self.list {
            let stale = DeviceError::Stale {
                offered: list.version(),
                adopted: current.version(),
            };
            if list.version() < current.version() {
                return Err(stale);
            }
            if list.version() == current.version() {
                if list == *current {
                    return Ok(Adoption::Unchanged);
                }
                if list.encode() > current.encode() {
                    return Err(stale);
                }
            }
        }
        self.list = Some(list);
        self.learn_removals();
        Ok(Adoption::Adopted)
    }

    fn learn_removals(&mut self) {
        if let Some(list) = &self.list {
            self.removed
                .extend(list.entries().iter().filter(|d| !d.is_live()).map(|d| d.id));
        }
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use nightjar_crypto::SeededRandom;
    use nightjar_crypto::dh::{DhPublic, DhSecret};

    use super::*;

    fn key(rng: &mut SeededRandom) -> DhPublic {
        DhSecret::generate_with(rng).unwrap().public()
    }

    fn live_ids(known: &KnownDevices) -> Vec<DeviceId> {
        known.live().map(|d| d.id).collect()
    }

    #[test]
    fn only_newer_lists_are_adopted_and_a_removal_is_never_forgotten() {
        let rng = &mut SeededRandom::from_seed([4; 32]);
        let (a, b) = (DeviceId::new([1; 16]), DeviceId::new([2; 16]));
        let v1 = DeviceList::first(a, key(rng), "a", 1).unwrap();
        let v2 = v1.with_device(b, key(rng), "b", 2).unwrap();
        let v3 = v2.without_device(&b, 3).unwrap();
        let mut known = KnownDevices::new();
        assert_eq!(known.adopt(v2.clone()).unwrap(), Adoption::Adopted);
        assert!(matches!(
            known.adopt(v1.clone()),
            Err(DeviceError::Stale {
                offered: 1,
                adopted: 2
            })
        ));
        assert_eq!(known.adopt(v2.clone()).unwrap(), Adoption::Unchanged);
        assert_eq!(live_ids(&known), vec![a, b]);
        known.adopt(v3).unwrap();
        assert_eq!(live_ids(&known), vec![a]);
        // A later list that lists b live again (written by something holding
        // the account key from before) does not bring b back.
        let mut raw =
            <crate::proto::DeviceList as prost::Message>::decode(v2.encode().as_slice()).unwrap();
        raw.version = 4;
        let resurrect = DeviceList::decode(&prost::Message::encode_to_vec(&raw)).unwrap();
        known.adopt(resurrect).unwrap();
        assert_eq!(live_ids(&known), vec![a], "b stays removed");
        let stored = KnownDevices::from_parts(known.list().cloned(), known.removed().clone());
        assert_eq!(live_ids(&stored), vec![a]);
    }

    #[test]
    fn two_lists_of_one_version_resolve_the_same_way_in_any_order() {
        let rng = &mut SeededRandom::from_seed([5; 32]);
        let a = DeviceId::new([1; 16]);
        let v1 = DeviceList::first(a, key(rng), "a", 1).unwrap();
        let x = v1
            .with_device(DeviceId::new([7; 16]), key(rng), "x", 2)
            .unwrap();
        let y = v1
            .with_device(DeviceId::new([8; 16]), key(rng), "y", 2)
            .unwrap();
        let mut first = KnownDevices::new();
        let mut second = KnownDevices::new();
        first.adopt(x.clone()).unwrap();
        let _ = first.adopt(y.clone());
        second.adopt(y).unwrap();
        let _ = second.adopt(x);
        assert_eq!(first.list(), second.list());
    }
}
