//! `envelope_v2_open`: the v2 envelope decoder
//! (`nightjar_crypto::sealed_sender::open_v2`), and what a client does with
//! an envelope that opens (`nightjar_client::messaging::incoming`: the
//! recipient device check, the certificate, the handshake, the content).

use std::sync::OnceLock;

use nightjar_client::ClientError;
use nightjar_client::messaging::incoming::open_sealed;
use nightjar_client::messaging::outgoing::FetchedPrekeys;
use nightjar_client::messaging::{
    ContentV2, Incoming, Recipient, SessionSet, Timer, TimerMode, open_envelope, seal_for_device,
};
use nightjar_crypto::SeededRandom;
use nightjar_crypto::dh::DhSecret;
use nightjar_crypto::envelope;
use nightjar_crypto::identity::{Identity, Seed};
use nightjar_crypto::sealed_sender::{Sealed, open_v2, seal_v2_with_ephemeral};
use nightjar_devices::{DeviceEntry, DeviceList, OwnDevice};

use crate::mask::masked;

/// The seed of the account the recipient device belongs to.
pub const ENVELOPE_V2_RECIPIENT_SEED: [u8; 32] = [0x72; 32];

/// The seed of the sender's account.
pub const ENVELOPE_V2_SENDER_SEED: [u8; 32] = [0x73; 32];

/// When the fixture's devices were made and its messages sent, Unix ms.
const T0: u64 = 1_764_150_000_000;

/// The reference devices and envelopes of [`envelope_v2_open`].
pub struct EnvelopeV2Fixture {
    /// The recipient's account ([`ENVELOPE_V2_RECIPIENT_SEED`]).
    pub recipient: Identity,
    /// The recipient device, with its one-time prekeys (never changed: a
    /// fresh copy comes from [`EnvelopeV2Fixture::fresh_device`]).
    pub device: OwnDevice,
    device_state: Vec<u8>,
    /// The recipient device's entry in its account's device list.
    pub device_entry: DeviceEntry,
    /// The sender's account ([`ENVELOPE_V2_SENDER_SEED`]).
    pub sender: Identity,
    /// The sender's device.
    pub sender_device: OwnDevice,
    /// The content of both first messages.
    pub content: ContentV2,
    /// A first message to the recipient device using one of its one-time
    /// prekeys (with the sender device's certificate).
    pub first_one_time: Vec<u8>,
    /// A first message using only its signed and last-resort prekeys.
    pub first_last_resort: Vec<u8>,
    /// What `first_one_time` carries inside its sealed layer.
    pub first_sealed: Sealed,
}

impl EnvelopeV2Fixture {
    /// The recipient device as it was before any message was read (decoded
    /// afresh: reading a first message consumes a one-time prekey).
    pub fn fresh_device(&self) -> OwnDevice {
        match OwnDevice::decode(&self.device_state) {
            Ok(d) => d,
            Err(e) => panic!("the fixture's device state does not decode: {e}"),
        }
    }
}

fn build() -> Result<EnvelopeV2Fixture, Box<dyn std::error::Error>> {
    let rng = &mut SeededRandom::from_seed([0x74; 32]);
    let recipient = Identity::from_seed(Seed::from_bytes(ENVELOPE_V2_RECIPIENT_SEED));
    let mut device = OwnDevice::generate_with(rng, "fuzz phone", T0)?;
    let mut one_time = device.replenish_with(rng)?;
    let device_state = device.encode().to_vec();
    let list = DeviceList::first(device.id(), device.identity_public(), "fuzz phone", T0)?;
    let device_entry = list
        .entries()
        .first()
        .cloned()
        .ok_or("a first device list has its device")?;

    let sender = Identity::from_seed(Seed::from_bytes(ENVELOPE_V2_SENDER_SEED));
    let sender_device = OwnDevice::generate_with(rng, "fuzz laptop", T0)?;
    let content = ContentV2 {
        message_id: [0x33; 32],
        text: "fuzz: a first v2 message".to_owned(),
        sent_at_ms: T0,
        timer: Some(Timer {
            after_ms: 60_000,
            mode: TimerMode::Read,
        }),
        sent_to: None,
    };
    let plain = content.encode()?;
    let to = Recipient {
        account: &recipient.public_key(),
        device: &device_entry,
    };
    let with_one_time = FetchedPrekeys {
        bundle: device.bundle()?,
        one_time: Some(one_time.remove(0)),
    };
    let first_one_time = seal_for_device(
        rng,
        &sender,
        &sender_device,
        &mut SessionSet::new(),
        to,
        Some(&with_one_time),
        &plain,
    )?;
    let last_resort = FetchedPrekeys {
        bundle: device.bundle()?,
        one_time: None,
    };
    let first_last_resort = seal_for_device(
        rng,
        &sender,
        &sender_device,
        &mut SessionSet::new(),
        to,
        Some(&last_resort),
        &plain,
    )?;
    let first_sealed = open_v2(device.identity_secret(), &first_one_time)?;
    Ok(EnvelopeV2Fixture {
        recipient,
        device,
        device_state,
        device_entry,
        sender,
        sender_device,
        content,
        first_one_time,
        first_last_resort,
        first_sealed,
    })
}

/// The reference devices and envelopes, made once (deterministically).
pub fn envelope_v2_fixture() -> &'static EnvelopeV2Fixture {
    static FIXTURE: OnceLock<EnvelopeV2Fixture> = OnceLock::new();
    FIXTURE.get_or_init(|| match build() {
        Ok(f) => f,
        Err(e) => panic!("cannot build the v2 envelope fixture: {e}"),
    })
}

/// What the fixture's recipient device does with `envelope` as its first
/// message from anyone: [`open_sealed`], then [`open_envelope`] with a fresh
/// copy of the device, no sessions and no handshake answered before.
pub fn envelope_v2_receive(envelope: &[u8]) -> Result<Incoming, ClientError> {
    let f = envelope_v2_fixture();
    let (sealed, sender_device) = open_sealed(&f.recipient, &f.device, envelope)?;
    let mut device = f.fresh_device();
    open_envelope(
        &f.recipient,
        &mut device,
        &sealed,
        sender_device,
        &mut SessionSet::new(),
        false,
        |_| false,
    )
}

/// Fuzzes `open_v2` with the fixture's recipient device key, which a client
/// runs on every envelope fetched from its device mailbox (outside input).
///
/// Checks, for each input:
/// 1. Raw: `open_v2` never panics. When it opens: the message is not
///    empty; v1's `envelope::open` refuses the bytes; the `Sealed` re-seals
///    (another ephemeral key) to an envelope no longer than the input that
///    opens to the same `Sealed`; the client's `open_sealed` agrees with
///    `open_v2` (it accepts exactly when the envelope names this device and
///    is not from it); and reading it as a first message ([`envelope_v2_receive`])
///    never panics, and when it succeeds names the sealed sender and gives
///    a content that re-encodes and decodes to itself.
/// 2. Structured: the reference first message (one-time prekey) XORed with
///    the input opens only when the mask is all zero, and then is read to
///    the reference content with a new handshake.
pub fn envelope_v2_open(data: &[u8]) {
    let f = envelope_v2_fixture();
    let secret = f.device.identity_secret();

    if let Ok(sealed) = open_v2(secret, data) {
        check_opened(f, data, &sealed);
    }

    let (bytes, altered) = masked(&f.first_one_time, data);
    match open_v2(secret, &bytes) {
        Ok(opened) if altered => panic!("an altered v2 envelope opened: {opened:?}"),
        Ok(opened) => {
            assert_eq!(opened, f.first_sealed, "the reference opened differently");
            match envelope_v2_receive(&bytes) {
                Ok(incoming) => {
                    assert_eq!(incoming.content, f.content, "content changed");
                    assert_eq!(incoming.sender_account, f.sender.public_key());
                    assert_eq!(incoming.sender_device, f.sender_device.id());
                    assert!(incoming.new_handshake.is_some(), "no new handshake");
                }
                Err(e) => panic!("the reference first message was not read: {e}"),
            }
        }
        Err(e) if !altered => panic!("the unaltered reference envelope failed to open: {e}"),
        Err(_) => {}
    }
}

/// What must hold of an envelope `open_v2` accepted.
fn check_opened(f: &EnvelopeV2Fixture, data: &[u8], sealed: &Sealed) {
    assert!(!sealed.message.is_empty(), "an empty message opened");
    assert!(
        envelope::open(&f.recipient, data).is_err(),
        "a v2 envelope opened as v1"
    );

    let ephemeral = DhSecret::from_bytes([0x5e; 32]);
    match seal_v2_with_ephemeral(&f.device.identity_public(), sealed, &ephemeral) {
        Ok(again) => {
            assert!(
                again.len() <= data.len(),
                "re-sealed to a larger bucket: {} > {}",
                again.len(),
                data.len()
            );
            match open_v2(f.device.identity_secret(), &again) {
                Ok(reopened) => assert!(reopened == *sealed, "re-sealed to something else"),
                Err(e) => panic!("a re-sealed envelope does not open: {e}"),
            }
        }
        Err(e) => panic!("an opened envelope does not seal again: {e}"),
    }

    let ours = sealed.recipient_device == *f.device.id().as_bytes();
    let from_us = sealed.sender_account == f.recipient.public_key()
        && sealed.sender_device == *f.device.id().as_bytes();
    match open_sealed(&f.recipient, &f.device, data) {
        Ok((same, sender_device)) => {
            assert!(ours && !from_us, "open_sealed accepted {sealed:?}");
            assert!(same == *sealed, "open_sealed opened differently");
            assert_eq!(*sender_device.as_bytes(), sealed.sender_device);
        }
        Err(e) => assert!(!ours || from_us, "open_sealed refused {sealed:?}: {e}"),
    }

    if let Ok(incoming) = envelope_v2_receive(data) {
        assert_eq!(incoming.sender_account, sealed.sender_account);
        assert_eq!(*incoming.sender_device.as_bytes(), sealed.sender_device);
        assert!(
            incoming.new_handshake.is_some(),
            "a first message read without a handshake"
        );
        match incoming.content.encode() {
            Ok(bytes) => assert_eq!(
                ContentV2::decode(&bytes).ok().as_ref(),
                Some(&incoming.content),
                "a content changed across its encoding"
            ),
            Err(e) => panic!("a content read does not encode: {e}"),
        }
    }
}
