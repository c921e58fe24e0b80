//! The device list: which devices an account has, signed by the account.
//!
//! A [`DeviceList`] is published in the account's swarm (namespace
//! `0xFF00`) inside the account's published-record signature. Every version
//! replaces the one before; a removed device stays listed as a tombstone so
//! that a reader learns of its removal. [`KnownDevices`] is a reader's view
//! across versions: it adopts only newer lists (ties broken the same way by
//! every reader) and never forgets a removal it has seen.

mod known;
mod list;

pub use known::{Adoption, KnownDevices};
pub(crate) use list::check_name;
pub use list::{DeviceEntry, DeviceList};

/// Most devices a list may hold live at once.
pub const MAX_LIVE_DEVICES: usize = 8;
/// Most entries (live devices and tombstones) a list may hold; the oldest
/// tombstones are dropped first when a device is added to a full list.
pub const MAX_ENTRIES: usize = 64;
/// Longest device name, in bytes of UTF-8.
pub const MAX_NAME_BYTES: usize = 64;
/// Largest encoded device list, in bytes (checked before decoding).
pub const MAX_LIST_BYTES: usize = 16_384;
/// First namespace a device mailbox may use.
pub const FIRST_MAILBOX: u16 = *nightjar_types::namespace::DEVICE_MAILBOXES.start();
/// Last namespace a device mailbox may use.
pub const LAST_MAILBOX: u16 = *nightjar_types::namespace::DEVICE_MAILBOXES.end();
