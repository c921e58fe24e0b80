//! Messages v2 on the client, sans-IO: what goes into a v2 message, which
//! sessions a device keeps with each peer device, and sealing a message to
//! one device or opening one (docs/PROTOCOL.md §16).
//!
//! - [`content`]: [`ContentV2`], the plaintext of a v2 message (message ID,
//!   text, time, disappearing timer, and for the sender's own devices whom it
//!   was sent to);
//! - [`sessions`]: [`SessionSet`], the few sessions kept with one peer
//!   device (two devices that start a session with each other at once end up
//!   with two, and the one that last decrypted wins);
//! - [`prekey_store`]: this device's prekey secrets as the handshake's
//!   responder reads them;
//! - [`outgoing`]: encrypt a content for one device and seal it (envelope
//!   version 2);
//! - [`incoming`]: open a v2 envelope addressed to this device, answer a
//!   handshake or find the session, and read the content.
//!
//! What it is **not** for: fetching device lists, bundles or one-time
//! prekeys, storing envelopes, or saving state — the driver does that around
//! these functions, and saves every session and device state these return
//! *before* it sends what they produced.

pub mod content;
pub mod incoming;
pub mod link;
pub mod outgoing;
pub mod prekey_store;
pub mod sessions;

pub use content::{ContentV2, Timer, TimerMode};
pub use incoming::{Incoming, open_envelope};
pub use outgoing::{Recipient, seal_for_device};
pub use sessions::SessionSet;

use nightjar_crypto::identity::PublicKey;
use nightjar_devices::DeviceId;

/// The context bytes of a session's associated data (docs/PROTOCOL.md
/// §14.2), initiator first: `initiator account (32) ‖ initiator device (16)
/// ‖ responder account (32) ‖ responder device (16)`.
#[must_use]
pub fn session_context(
    initiator: (&PublicKey, &DeviceId),
    responder: (&PublicKey, &DeviceId),
) -> Vec<u8> {
    let mut c = Vec::with_capacity(96);
    c.extend_from_slice(initiator.0.as_bytes());
    c.extend_from_slice(initiator.1.as_bytes());
    c.extend_from_slice(responder.0.as_bytes());
    c.extend_from_slice(responder.1.as_bytes());
    c
}

#[cfg(test)]
mod tests;
