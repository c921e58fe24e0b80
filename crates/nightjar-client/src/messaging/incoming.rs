//! Opening a v2 envelope addressed to this device.

use nightjar_crypto::dh::DhKeyPair;
use nightjar_crypto::identity::{Identity, PublicKey};
use nightjar_crypto::sealed_sender::{Sealed, open_v2, verify_device_certificate};
use nightjar_devices::{DeviceId, OwnDevice};
use nightjar_ratchet::Session;
use nightjar_ratchet::message::Message;

use super::prekey_store::OwnPrekeys;
use super::{ContentV2, SessionSet, session_context};
use crate::ClientError;

/// An opened v2 message.
#[derive(Debug)]
pub struct Incoming {
    /// The sender's account.
    pub sender_account: PublicKey,
    /// The sender's device.
    pub sender_device: DeviceId,
    /// What it says.
    pub content: ContentV2,
    /// If it started a new session: the handshake's ID (keep it, to refuse
    /// the same handshake again).
    pub new_handshake: Option<[u8; 32]>,
}

fn protocol(e: impl std::fmt::Display) -> ClientError {
    ClientError::InvalidMessage(e.to_string())
}

/// Opens the sealed layer of a v2 envelope with this device's identity key
/// and checks that it was sealed for this device and not by it.
pub fn open_sealed(
    me: &Identity,
    own: &OwnDevice,
    envelope: &[u8],
) -> Result<(Sealed, DeviceId), ClientError> {
    let sealed = open_v2(own.identity_secret(), envelope)?;
    if sealed.recipient_device != *own.id().as_bytes() {
        return Err(protocol("sealed for another device"));
    }
    let sender_device = DeviceId::new(sealed.sender_device);
    if sealed.sender_account == me.public_key() && sender_device == own.id() {
        return Err(protocol("sealed by this device"));
    }
    Ok((sealed, sender_device))
}

/// Reads the ratchet message of an opened envelope with the sessions kept
/// with its sender device (`sessions`, updated in place), or answers its
/// handshake as a new session (consuming the one-time prekeys it used from
/// `own`).
///
/// A handshake is answered only if the message carries a valid certificate
/// of the sending device by the sender's account, `sender_removed` is false
/// (the sender's device list, as this device last read it, has not removed
/// the device), and `answered_before` does not know the handshake. Save
/// `sessions`, `own` and the handshake ID before showing the content.
pub fn open_envelope(
    me: &Identity,
    own: &mut OwnDevice,
    sealed: &Sealed,
    sender_device: DeviceId,
    sessions: &mut SessionSet,
    sender_removed: bool,
    answered_before: impl Fn(&[u8; 32]) -> bool,
) -> Result<Incoming, ClientError> {
    let message = Message::decode(&sealed.message).map_err(protocol)?;
    let (plain, new_handshake) = match message {
        Message::Ratchet(_) => (sessions.decrypt(&sealed.message).map_err(protocol)?, None),
        Message::Initial(_) if sessions.answered(&sealed.message) => {
            (sessions.decrypt(&sealed.message).map_err(protocol)?, None)
        }
        Message::Initial(initial) => {
            if sender_removed {
                return Err(protocol("the sending device was removed from its account"));
            }
            let certificate = sealed
                .device_certificate
                .as_ref()
                .ok_or_else(|| protocol("a first message without a device certificate"))?;
            verify_device_certificate(
                &sealed.sender_account,
                sender_device.as_bytes(),
                &initial.initiator_identity,
                certificate,
            )?;
            let context = session_context(
                (&sealed.sender_account, &sender_device),
                (&me.public_key(), &own.id()),
            );
            let identity = DhKeyPair::from_secret(own.identity_secret().clone());
            let (session, plain) =
                Session::respond(&identity, &mut OwnPrekeys(own), &context, &sealed.message)
                    .map_err(protocol)?;
            let id = *session.handshake_id();
            if answered_before(&id) || sessions.has_handshake(&id) {
                return Err(protocol("a handshake answered before (a replay)"));
            }
            sessions.push_active(session);
            (plain, Some(id))
        }
    };
    let content = ContentV2::decode(&plain)?;
    Ok(Incoming {
        sender_account: sealed.sender_account,
        sender_device,
        content,
        new_handshake,
    })
}
