//! `device_records`: the decoders of the records a device publishes in its
//! account's swarm (`nightjar-devices`): the device list, the prekey bundle
//! and the one-time prekey; and the decoder of a device's own secret state
//! (stored encrypted in its profile).

use nightjar_devices::{DeviceList, OneTimePrekey, OwnDevice, PrekeyBundle};

/// The first byte picks the decoder (0: device list, 1: prekey bundle, 2:
/// one-time prekey, 3: own device state, anything else: all four); the rest
/// is the record.
///
/// Checks: no decoder panics; an accepted record re-encodes to exactly the
/// input (the decoders accept only canonical encodings, which the account's
/// signature covers) and decodes back to itself.
pub fn device_records(data: &[u8]) {
    let Some((&which, body)) = data.split_first() else {
        return;
    };
    let all = which > 3;
    if (which == 0 || all)
        && let Ok(list) = DeviceList::decode(body)
    {
        assert_eq!(list.encode(), body, "device list re-encodes differently");
        assert_eq!(DeviceList::decode(&list.encode()).ok(), Some(list));
    }
    if (which == 1 || all)
        && let Ok(bundle) = PrekeyBundle::decode(body)
    {
        assert_eq!(
            bundle.encode(),
            body,
            "prekey bundle re-encodes differently"
        );
        assert_eq!(PrekeyBundle::decode(&bundle.encode()).ok(), Some(bundle));
    }
    if (which == 3 || all)
        && let Ok(device) = OwnDevice::decode(body)
    {
        assert_eq!(
            *device.encode(),
            body,
            "device state re-encodes differently"
        );
        assert!(
            device.bundle().is_ok(),
            "a decoded state always has a bundle"
        );
    }
    if (which == 2 || all)
        && let Ok(otk) = OneTimePrekey::decode(body)
    {
        assert_eq!(otk.encode(), body, "one-time prekey re-encodes differently");
        assert_eq!(OneTimePrekey::decode(&otk.encode()).ok(), Some(otk));
    }
}
