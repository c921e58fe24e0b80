//! Nightjar's device model: what an account's devices are and what each of
//! them publishes in the account's swarm so that others can write to it.
//!
//! An account is its recovery-phrase key; it only certifies devices. Each
//! device has its own identity key, mailbox and prekeys
//! (docs/PROTOCOL.md §16):
//!
//! - [`DeviceId`]: a device's 16 random bytes, shown as 32 hex digits;
//! - [`device_list`]: the account-signed, versioned [`DeviceList`] (live
//!   devices and removal tombstones), and [`KnownDevices`], the rule by which
//!   a reader adopts newer lists and never forgets a removal;
//! - [`prekeys`]: the records a device publishes: its [`PrekeyBundle`]
//!   (signed X25519 prekey and last-resort ML-KEM-768 prekey) and its
//!   [`OneTimePrekey`]s (an X25519 and an ML-KEM-768 key, claimed once);
//! - [`own_device`]: this device's secrets ([`OwnDevice`]: identity key,
//!   prekey secrets) and when to rotate and replenish them.
//!
//! Every record here is a *body*: the account's signature around it is the
//! published-record wrapper of `nightjar-crypto`, which nodes check on store
//! and readers check again. Decoders are size-limited and refuse anything the
//! encoder would not write.
//!
//! What it is **not** for: no cryptographic primitive is named here (key
//! types come from `nightjar-crypto`), no session or ratchet state
//! (`nightjar-ratchet`), no network or file I/O, and no clock: times come in
//! as `now_ms`, randomness as a [`nightjar_crypto::RandomSource`].

#![forbid(unsafe_code)]

mod device_id;
pub mod device_list;
mod error;
mod keys;
pub mod own_device;
pub mod prekeys;
mod proto;

pub use device_id::DeviceId;
pub use device_list::{DeviceEntry, DeviceList, KnownDevices};
pub use error::DeviceError;
pub use own_device::{OneTimeSecrets, OwnDevice};
pub use prekeys::{OneTimePrekey, PrekeyBundle};
