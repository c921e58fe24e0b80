#![allow(clippy::unwrap_used)]

use nightjar_crypto::SeededRandom;
use nightjar_crypto::identity::{Identity, Seed};
use nightjar_devices::{DeviceEntry, DeviceList, OwnDevice};

use super::incoming::open_sealed;
use super::outgoing::FetchedPrekeys;
use super::*;

struct Party {
    me: Identity,
    device: OwnDevice,
    list: DeviceList,
}

fn party(seed: u8, rng: &mut SeededRandom) -> Party {
    let me = Identity::from_seed(Seed::from_bytes([seed; 32]));
    let mut device = OwnDevice::generate_with(rng, "phone", 1_000).unwrap();
    device.replenish_with(rng).unwrap();
    let list = DeviceList::first(device.id(), device.identity_public(), "phone", 1_000).unwrap();
    Party { me, device, list }
}

fn entry(p: &Party) -> DeviceEntry {
    p.list.entries()[0].clone()
}

fn content(text: &str) -> Vec<u8> {
    ContentV2 {
        message_id: [text.len() as u8; 32],
        text: text.into(),
        sent_at_ms: 7,
        timer: None,
        sent_to: None,
    }
    .encode()
    .unwrap()
    .to_vec()
}

fn prekeys(p: &mut Party, rng: &mut SeededRandom, one_time: bool) -> FetchedPrekeys {
    let one_time = one_time.then(|| {
        // A fresh pair as the device would publish it; its secret stays in
        // the device's state.
        let mut extra = p.device.replenish_with(rng).unwrap();
        if extra.is_empty() {
            // Full: take the secret of one published pair out and put a
            // record for it back by publishing afresh.
            let id = (1..10_000u32)
                .find(|id| p.device.peek_one_time(*id).is_some())
                .unwrap();
            let s = p.device.peek_one_time(id).unwrap();
            extra.push(nightjar_devices::OneTimePrekey {
                device_id: p.device.id(),
                prekey_id: id,
                x25519: s.x25519.public(),
                kem: s.kem.public_key().clone(),
            });
        }
        extra.remove(0)
    });
    FetchedPrekeys {
        bundle: p.device.bundle().unwrap(),
        one_time,
    }
}

fn send(
    rng: &mut SeededRandom,
    from: &Party,
    sessions: &mut SessionSet,
    to: &Party,
    fetched: Option<&FetchedPrekeys>,
    text: &str,
) -> Vec<u8> {
    let to_entry = entry(to);
    seal_for_device(
        rng,
        &from.me,
        &from.device,
        sessions,
        Recipient {
            account: &to.me.public_key(),
            device: &to_entry,
        },
        fetched,
        &content(text),
    )
    .unwrap()
}

fn receive(
    to: &mut Party,
    sessions: &mut SessionSet,
    envelope: &[u8],
    answered: &[[u8; 32]],
) -> Result<Incoming, crate::ClientError> {
    let (sealed, sender) = open_sealed(&to.me, &to.device, envelope)?;
    open_envelope(
        &to.me,
        &mut to.device,
        &sealed,
        sender,
        sessions,
        false,
        |id| answered.contains(id),
    )
}

#[test]
fn a_first_message_uses_a_one_time_prekey_once_and_the_reply_ratchets() {
    let rng = &mut SeededRandom::from_seed([1; 32]);
    let mut alice = party(1, rng);
    let mut bob = party(2, rng);
    let fetched = prekeys(&mut bob, rng, true);
    let otk = fetched.one_time.as_ref().unwrap().prekey_id;
    let (mut a_sessions, mut b_sessions) = (SessionSet::new(), SessionSet::new());

    let first = send(
        rng,
        &alice,
        &mut a_sessions,
        &bob,
        Some(&fetched),
        "hello bob",
    );
    let got = receive(&mut bob, &mut b_sessions, &first, &[]).unwrap();
    assert_eq!(got.content.text, "hello bob");
    assert_eq!(got.sender_account, alice.me.public_key());
    assert_eq!(got.sender_device, alice.device.id());
    let handshake = got.new_handshake.unwrap();
    assert!(
        bob.device.peek_one_time(otk).is_none(),
        "the one-time prekey is gone"
    );

    // The same envelope again: a known handshake, so it decrypts with the
    // session (as a repeat) — and the message key is used once.
    assert!(receive(&mut bob, &mut b_sessions, &first, &[handshake]).is_err());

    // Until Bob answers, Alice's messages repeat the handshake.
    let second = send(rng, &alice, &mut a_sessions, &bob, None, "still there?");
    assert_eq!(
        receive(&mut bob, &mut b_sessions, &second, &[handshake])
            .unwrap()
            .content
            .text,
        "still there?"
    );
    let reply = send(rng, &bob, &mut b_sessions, &alice, None, "hi alice");
    let got = receive(&mut alice, &mut a_sessions, &reply, &[]).unwrap();
    assert_eq!(got.content.text, "hi alice");
    assert!(got.new_handshake.is_none());
    let third = send(rng, &alice, &mut a_sessions, &bob, None, "ratcheted");
    assert_eq!(
        receive(&mut bob, &mut b_sessions, &third, &[])
            .unwrap()
            .content
            .text,
        "ratcheted"
    );
}

#[test]
fn a_replayed_handshake_without_one_time_prekeys_is_refused_by_a_fresh_session_set() {
    let rng = &mut SeededRandom::from_seed([2; 32]);
    let alice = party(1, rng);
    let mut bob = party(2, rng);
    let fetched = prekeys(&mut bob, rng, false);
    let mut a_sessions = SessionSet::new();
    let first = send(rng, &alice, &mut a_sessions, &bob, Some(&fetched), "once");
    let mut b_sessions = SessionSet::new();
    let got = receive(&mut bob, &mut b_sessions, &first, &[]).unwrap();
    let id = got.new_handshake.unwrap();
    // Bob lost the session set but kept the handshake IDs: refused.
    let mut lost = SessionSet::new();
    assert!(receive(&mut bob, &mut lost, &first, &[id]).is_err());
}

#[test]
fn two_devices_that_start_sessions_at_once_settle_on_one() {
    let rng = &mut SeededRandom::from_seed([3; 32]);
    let mut alice = party(1, rng);
    let mut bob = party(2, rng);
    let for_bob = prekeys(&mut bob, rng, true);
    let for_alice = prekeys(&mut alice, rng, true);
    let (mut a, mut b) = (SessionSet::new(), SessionSet::new());
    let from_alice = send(rng, &alice, &mut a, &bob, Some(&for_bob), "a1");
    let from_bob = send(rng, &bob, &mut b, &alice, Some(&for_alice), "b1");
    assert_eq!(
        receive(&mut bob, &mut b, &from_alice, &[])
            .unwrap()
            .content
            .text,
        "a1"
    );
    assert_eq!(
        receive(&mut alice, &mut a, &from_bob, &[])
            .unwrap()
            .content
            .text,
        "b1"
    );
    assert_eq!((a.len(), b.len()), (2, 2));
    for round in 0..3 {
        let m = send(rng, &alice, &mut a, &bob, None, &format!("a{round}"));
        assert_eq!(
            receive(&mut bob, &mut b, &m, &[]).unwrap().content.text,
            format!("a{round}")
        );
        let m = send(rng, &bob, &mut b, &alice, None, &format!("b{round}"));
        assert_eq!(
            receive(&mut alice, &mut a, &m, &[]).unwrap().content.text,
            format!("b{round}")
        );
    }
    // The stored form keeps both.
    let back = SessionSet::decode(&a.encode()).unwrap();
    assert_eq!(back.len(), 2);
}

#[test]
fn an_envelope_for_another_device_or_with_a_forged_certificate_is_refused() {
    let rng = &mut SeededRandom::from_seed([4; 32]);
    let alice = party(1, rng);
    let mut bob = party(2, rng);
    let mut carol = party(3, rng);
    let fetched = prekeys(&mut bob, rng, false);
    let env = send(
        rng,
        &alice,
        &mut SessionSet::new(),
        &bob,
        Some(&fetched),
        "for bob",
    );
    assert!(receive(&mut carol, &mut SessionSet::new(), &env, &[]).is_err());

    // Mallory (another account) claims to be Alice's device: the
    // certificate must be Alice's.
    let mallory = party(4, rng);
    let mut sessions = SessionSet::new();
    let forged = {
        let env = send(
            rng,
            &mallory,
            &mut sessions,
            &bob,
            Some(&fetched),
            "it's alice",
        );
        let (mut sealed, _) = {
            let (s, d) = open_sealed(&bob.me, &bob.device, &env).unwrap();
            (s, d)
        };
        sealed.sender_account = alice.me.public_key();
        sealed.sender_device = *alice.device.id().as_bytes();
        sealed
    };
    let result = open_envelope(
        &bob.me,
        &mut bob.device,
        &forged,
        alice.device.id(),
        &mut SessionSet::new(),
        false,
        |_| false,
    );
    assert!(
        result.is_err(),
        "a certificate by another account is refused"
    );
    let (sealed, sender) = open_sealed(&bob.me, &bob.device, &env).unwrap();
    let removed = open_envelope(
        &bob.me,
        &mut bob.device,
        &sealed,
        sender,
        &mut SessionSet::new(),
        true,
        |_| false,
    );
    assert!(removed.is_err(), "a removed device cannot start a session");
}
