//! Encrypting a content for one device and sealing it (envelope v2).

use nightjar_crypto::RandomSource;
use nightjar_crypto::dh::DhKeyPair;
use nightjar_crypto::identity::{Identity, PublicKey};
use nightjar_crypto::sealed_sender::{Sealed, seal_v2_with, sign_device_certificate};
use nightjar_devices::{DeviceEntry, OneTimePrekey, OwnDevice, PrekeyBundle};
use nightjar_ratchet::{Role, Session};

use super::{SessionSet, session_context};
use crate::ClientError;

/// A device to write to: its account and its entry in that account's
/// device list.
#[derive(Debug, Clone, Copy)]
pub struct Recipient<'a> {
    /// The account.
    pub account: &'a PublicKey,
    /// The device.
    pub device: &'a DeviceEntry,
}

/// What a sender fetched to start a session with a device: its bundle
/// (checked: published by the device's account) and, if one could be
/// claimed, a one-time prekey.
#[derive(Debug, Clone)]
pub struct FetchedPrekeys {
    /// The device's prekey bundle.
    pub bundle: PrekeyBundle,
    /// A claimed one-time prekey of the device.
    pub one_time: Option<OneTimePrekey>,
}

fn protocol(e: impl std::fmt::Display) -> ClientError {
    ClientError::Protocol(e.to_string())
}

/// Encrypts `content` for the recipient device and seals it to the device's
/// identity key. With no session yet, starts one from `prekeys` (required
/// then). The new or advanced session is in `sessions`: save it before
/// sending the returned envelope.
pub fn seal_for_device(
    rng: &mut dyn RandomSource,
    me: &Identity,
    own: &OwnDevice,
    sessions: &mut SessionSet,
    to: Recipient<'_>,
    prekeys: Option<&FetchedPrekeys>,
    content: &[u8],
) -> Result<Vec<u8>, ClientError> {
    if sessions.is_empty() {
        let fetched = prekeys.ok_or_else(|| {
            ClientError::Protocol("no session with the device and no prekeys to start one".into())
        })?;
        let bundle = &fetched.bundle;
        if bundle.device_id != to.device.id
            || fetched
                .one_time
                .as_ref()
                .is_some_and(|o| o.device_id != to.device.id)
        {
            return Err(ClientError::Protocol(
                "the prekeys fetched belong to another device".into(),
            ));
        }
        let ratchet_bundle = nightjar_ratchet::PrekeyBundle {
            identity_key: to.device.identity_key,
            signed_prekey_id: bundle.signed_prekey_id,
            signed_prekey: bundle.signed_prekey,
            one_time_prekey: fetched.one_time.as_ref().map(|o| (o.prekey_id, o.x25519)),
            kem_prekey_id: fetched
                .one_time
                .as_ref()
                .map_or(bundle.kem_prekey_id, |o| o.prekey_id),
            kem_prekey: fetched
                .one_time
                .as_ref()
                .map_or_else(|| bundle.kem_prekey.clone(), |o| o.kem.clone()),
            kem_prekey_one_time: fetched.one_time.is_some(),
        };
        let context = session_context((&me.public_key(), &own.id()), (to.account, &to.device.id));
        let identity = DhKeyPair::from_secret(own.identity_secret().clone());
        let session =
            Session::initiate(rng, &identity, &ratchet_bundle, &context).map_err(protocol)?;
        sessions.push_active(session);
    }
    let session = sessions
        .active_mut()
        .ok_or_else(|| ClientError::Protocol("no session".into()))?;
    let first = session.role() == Role::Initiator && !session.is_acknowledged();
    let message = session.encrypt(rng, content).map_err(protocol)?;
    let device_certificate =
        first.then(|| sign_device_certificate(me, own.id().as_bytes(), &own.identity_public()));
    let sealed = Sealed {
        sender_account: me.public_key(),
        sender_device: *own.id().as_bytes(),
        recipient_device: *to.device.id.as_bytes(),
        device_certificate,
        message,
    };
    Ok(seal_v2_with(rng, &to.device.identity_key, &sealed)?)
}
