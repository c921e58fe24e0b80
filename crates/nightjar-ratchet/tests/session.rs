//! Sessions end to end through the public API: the handshake, the
//! ratchet's ordering rules and limits, tampering, saved states, and forward
//! secrecy and post-compromise security.

#![allow(clippy::unwrap_used, clippy::expect_used, missing_docs)]

mod common;

use common::{BrokenRandom, CONTEXT, alice, bob, pair, rng};
use nightjar_crypto::dh::DhPublic;
use nightjar_ratchet::message::{InitialMessage, KIND_INITIAL, KIND_RATCHET, Message};
use nightjar_ratchet::ratchet::{MAX_SKIP, MAX_SKIPPED_KEYS};
use nightjar_ratchet::{MAX_PLAINTEXT_LEN, RatchetError, Role, Session};

fn text(i: usize) -> Vec<u8> {
    format!("message {i}").into_bytes()
}

#[test]
fn first_message_and_replies_round_trip_in_both_directions() {
    for one_time in [true, false] {
        let mut r = rng(1);
        let a = alice();
        let mut b = bob();
        let bundle = if one_time {
            b.bundle_one_time.clone()
        } else {
            b.bundle_last_resort.clone()
        };
        let mut alice = Session::initiate(&mut r, &a.identity, &bundle, CONTEXT).unwrap();
        let m1 = alice.encrypt(&mut r, b"hi bob").unwrap();
        assert_eq!(m1[0], KIND_INITIAL);
        let (mut bob, p1) = Session::respond(&b.identity, &mut b.store, CONTEXT, &m1).unwrap();
        assert_eq!(&p1[..], b"hi bob");
        assert_eq!(alice.handshake_id(), bob.handshake_id());
        assert_eq!(alice.associated_data(), bob.associated_data());
        assert_eq!(alice.peer_identity(), *b.identity.public());
        assert_eq!(bob.peer_identity(), *a.identity.public());
        assert_eq!(bob.local_identity(), *b.identity.public());
        assert_eq!(
            (alice.role(), bob.role()),
            (Role::Initiator, Role::Responder)
        );
        // One-time prekeys are used up; last-resort ones stay.
        let expected = if one_time { (1, 0) } else { (2, 1) };
        assert_eq!(b.store.one_time_counts(), expected);

        for round in 0..4 {
            let m = bob.encrypt(&mut r, &text(round)).unwrap();
            assert_eq!(m[0], KIND_RATCHET);
            assert_eq!(&alice.decrypt(&m).unwrap()[..], text(round));
            for k in 0..3 {
                let m = alice.encrypt(&mut r, &text(100 * round + k)).unwrap();
                assert_eq!(
                    m[0], KIND_RATCHET,
                    "Alice read a reply: no more initial messages"
                );
                assert_eq!(&bob.decrypt(&m).unwrap()[..], text(100 * round + k));
            }
        }
    }
}

#[test]
fn an_unanswered_initiator_repeats_the_initial_message_which_the_responder_recognises() {
    let mut r = rng(2);
    let a = alice();
    let mut b = bob();
    let mut alice = Session::initiate(&mut r, &a.identity, &b.bundle_one_time, CONTEXT).unwrap();
    let m1 = alice.encrypt(&mut r, b"one").unwrap();
    let m2 = alice.encrypt(&mut r, b"two").unwrap();
    let m3 = alice.encrypt(&mut r, b"three").unwrap();
    assert!(!alice.is_acknowledged());
    for m in [&m1, &m2, &m3] {
        assert_eq!(m[0], KIND_INITIAL);
    }
    // The second arrives first: it starts the session, the others follow.
    let (mut bob, p2) = Session::respond(&b.identity, &mut b.store, CONTEXT, &m2).unwrap();
    assert_eq!(&p2[..], b"two");
    assert!(bob.matches_initial(&m1) && bob.matches_initial(&m3));
    assert_eq!(&bob.decrypt(&m3).unwrap()[..], b"three");
    assert_eq!(&bob.decrypt(&m1).unwrap()[..], b"one");
    // Responding to it again fails: the one-time prekeys are gone.
    assert!(matches!(
        Session::respond(&b.identity, &mut b.store, CONTEXT, &m1),
        Err(RatchetError::UnknownPrekey { .. })
    ));
    // An initial message of another handshake is refused by this session.
    let mut other =
        Session::initiate(&mut rng(3), &a.identity, &b.bundle_last_resort, CONTEXT).unwrap();
    let foreign = other.encrypt(&mut rng(4), b"x").unwrap();
    assert!(!bob.matches_initial(&foreign));
    assert_eq!(bob.decrypt(&foreign), Err(RatchetError::OtherHandshake));
    // The initiator does not take initial messages.
    assert_eq!(
        alice.decrypt(&m1),
        Err(RatchetError::UnexpectedInitialMessage)
    );

    let reply = bob.encrypt(&mut r, b"ack").unwrap();
    assert_eq!(&alice.decrypt(&reply).unwrap()[..], b"ack");
    assert!(alice.is_acknowledged());
    assert_eq!(alice.encrypt(&mut r, b"four").unwrap()[0], KIND_RATCHET);
}

#[test]
fn messages_read_out_of_order_within_and_across_ratchet_steps() {
    let (mut alice, mut bob, mut r) = pair(5);
    let a1: Vec<Vec<u8>> = (0..5)
        .map(|i| bob.encrypt(&mut r, &text(i)).unwrap())
        .collect();
    // Alice reads 3 first, then replies (a step), Bob steps again.
    assert_eq!(&alice.decrypt(&a1[3]).unwrap()[..], text(3));
    let reply = alice.encrypt(&mut r, b"r").unwrap();
    assert_eq!(&bob.decrypt(&reply).unwrap()[..], b"r");
    let b2: Vec<Vec<u8>> = (10..13)
        .map(|i| bob.encrypt(&mut r, &text(i)).unwrap())
        .collect();
    // A message of the new chain first, then the old chain's, in any order.
    assert_eq!(&alice.decrypt(&b2[2]).unwrap()[..], text(12));
    assert_eq!(alice.skipped_key_count(), 3 + 1 + 2);
    for i in [4usize, 0, 2, 1] {
        assert_eq!(&alice.decrypt(&a1[i]).unwrap()[..], text(i));
    }
    assert_eq!(&alice.decrypt(&b2[0]).unwrap()[..], text(10));
    assert_eq!(&alice.decrypt(&b2[1]).unwrap()[..], text(11));
    assert_eq!(alice.skipped_key_count(), 0);
}

#[test]
fn a_message_key_is_used_once_so_replays_are_refused() {
    let (mut alice, mut bob, mut r) = pair(6);
    let m0 = bob.encrypt(&mut r, b"zero").unwrap();
    let m1 = bob.encrypt(&mut r, b"one").unwrap();
    assert_eq!(&alice.decrypt(&m1).unwrap()[..], b"one");
    assert_eq!(alice.decrypt(&m1), Err(RatchetError::DuplicateOrExpired));
    assert_eq!(&alice.decrypt(&m0).unwrap()[..], b"zero");
    assert_eq!(alice.decrypt(&m0), Err(RatchetError::DuplicateOrExpired));
    // After a ratchet step the old chain's messages are still refused.
    let reply = alice.encrypt(&mut r, b"r").unwrap();
    bob.decrypt(&reply).unwrap();
    let m2 = bob.encrypt(&mut r, b"two").unwrap();
    alice.decrypt(&m2).unwrap();
    assert!(alice.decrypt(&m0).is_err());
    assert!(alice.decrypt(&m2).is_err());
    assert!(bob.decrypt(&reply).is_err());
}

#[test]
fn any_altered_byte_is_refused_and_leaves_the_session_unchanged() {
    let (mut alice, mut bob, mut r) = pair(7);
    // A message that starts a new chain (a step) and one inside a chain.
    let step = bob.encrypt(&mut r, b"step message").unwrap();
    let inside = bob.encrypt(&mut r, b"in chain").unwrap();
    let before = alice.to_bytes();
    for m in [&step, &inside] {
        for i in 0..m.len() {
            for bit in [0x01u8, 0x80] {
                let mut t = m.clone();
                t[i] ^= bit;
                assert!(
                    alice.decrypt(&t).is_err(),
                    "flip of byte {i} bit {bit:#x} accepted"
                );
            }
        }
        let mut longer = m.clone();
        longer.push(0);
        assert!(alice.decrypt(&longer).is_err());
        assert!(alice.decrypt(&m[..m.len() - 1]).is_err());
    }
    assert_eq!(
        *alice.to_bytes(),
        *before,
        "failed decryptions changed nothing"
    );
    assert_eq!(&alice.decrypt(&step).unwrap()[..], b"step message");
    assert_eq!(&alice.decrypt(&inside).unwrap()[..], b"in chain");
}

#[test]
fn an_altered_initial_message_consumes_no_prekey() {
    let mut r = rng(8);
    let a = alice();
    let mut b = bob();
    let mut alice = Session::initiate(&mut r, &a.identity, &b.bundle_one_time, CONTEXT).unwrap();
    let m = alice.encrypt(&mut r, b"hi").unwrap();
    // Every field of the handshake part, and the ratchet message after it.
    for i in [1usize, 40, 70, 75, 80, 200, 1170, 1500, m.len() - 1] {
        let mut t = m.clone();
        t[i] ^= 0x04;
        assert!(
            Session::respond(&b.identity, &mut b.store, CONTEXT, &t).is_err(),
            "byte {i}"
        );
    }
    // Another context (another sender device, say) fails too: the header's
    // associated data differs, so no header key opens it.
    assert_eq!(
        Session::respond(&b.identity, &mut b.store, b"other context", &m).unwrap_err(),
        RatchetError::UnknownHeader
    );
    assert_eq!(b.store.one_time_counts(), (2, 1));
    Session::respond(&b.identity, &mut b.store, CONTEXT, &m).unwrap();
    assert_eq!(b.store.one_time_counts(), (1, 0));
}

#[test]
fn handshakes_refuse_unknown_prekeys_and_small_order_keys() {
    let mut r = rng(9);
    let a = alice();
    let mut b = bob();
    let mut bundle = b.bundle_one_time.clone();
    bundle.signed_prekey_id = 2;
    let mut alice = Session::initiate(&mut r, &a.identity, &bundle, CONTEXT).unwrap();
    let m = alice.encrypt(&mut r, b"x").unwrap();
    assert_eq!(
        Session::respond(&b.identity, &mut b.store, CONTEXT, &m).unwrap_err(),
        RatchetError::UnknownPrekey {
            which: "signed prekey",
            id: 2
        }
    );
    let mut bundle = b.bundle_one_time.clone();
    bundle.signed_prekey = DhPublic::from_bytes([0; 32]);
    assert!(matches!(
        Session::initiate(&mut r, &a.identity, &bundle, CONTEXT),
        Err(RatchetError::InvalidKey(_))
    ));
    assert!(matches!(
        Session::initiate(&mut r, &a.identity, &b.bundle_one_time, &[0; 1025]),
        Err(RatchetError::ContextTooLong { .. })
    ));
}

#[test]
fn max_skip_is_enforced_per_step() {
    let (mut alice, mut bob, mut r) = pair(10);
    let msgs: Vec<Vec<u8>> = (0..=MAX_SKIP as usize + 1)
        .map(|i| bob.encrypt(&mut r, &text(i)).unwrap())
        .collect();
    // Message MAX_SKIP + 1 would skip MAX_SKIP + 1 keys: refused, no change.
    assert_eq!(
        alice.decrypt(&msgs[MAX_SKIP as usize + 1]),
        Err(RatchetError::TooManySkipped {
            skip: u64::from(MAX_SKIP) + 1,
            max: u64::from(MAX_SKIP)
        })
    );
    assert_eq!(alice.skipped_key_count(), 0);
    // Message MAX_SKIP skips exactly MAX_SKIP: accepted.
    assert_eq!(
        &alice.decrypt(&msgs[MAX_SKIP as usize]).unwrap()[..],
        text(MAX_SKIP as usize)
    );
    assert_eq!(alice.skipped_key_count(), MAX_SKIP as usize);
    assert_eq!(
        &alice.decrypt(&msgs[MAX_SKIP as usize + 1]).unwrap()[..],
        text(1001)
    );
    assert_eq!(&alice.decrypt(&msgs[17]).unwrap()[..], text(17));
}

#[test]
fn at_most_two_thousand_skipped_keys_are_kept_oldest_evicted_first() {
    let (mut alice, mut bob, mut r) = pair(11);
    let mut firsts = Vec::new();
    for chain in 0..3 {
        let msgs: Vec<Vec<u8>> = (0..=MAX_SKIP as usize)
            .map(|i| bob.encrypt(&mut r, &text(chain * 10_000 + i)).unwrap())
            .collect();
        firsts.push(msgs[0].clone());
        alice.decrypt(&msgs[MAX_SKIP as usize]).unwrap();
        assert!(alice.skipped_key_count() <= MAX_SKIPPED_KEYS);
        // A round trip so that Bob's next messages start a new chain.
        let m = alice.encrypt(&mut r, b"step").unwrap();
        bob.decrypt(&m).unwrap();
    }
    assert_eq!(alice.skipped_key_count(), MAX_SKIPPED_KEYS);
    assert!(
        alice.decrypt(&firsts[0]).is_err(),
        "the oldest chain's keys were evicted"
    );
    assert_eq!(&alice.decrypt(&firsts[1]).unwrap()[..], text(10_000));
    assert_eq!(&alice.decrypt(&firsts[2]).unwrap()[..], text(20_000));
}

#[test]
fn a_saved_state_restores_to_the_same_session() {
    let (mut alice, mut bob, mut r) = pair(12);
    let b1: Vec<Vec<u8>> = (0..4)
        .map(|i| bob.encrypt(&mut r, &text(i)).unwrap())
        .collect();
    alice.decrypt(&b1[3]).unwrap(); // three skipped keys
    for s in [&alice, &bob] {
        let bytes = s.to_bytes();
        let restored = Session::from_bytes(&bytes).unwrap();
        assert_eq!(*restored.to_bytes(), *bytes);
        assert_eq!(restored.handshake_id(), s.handshake_id());
    }
    let mut alice2 = Session::from_bytes(&alice.to_bytes()).unwrap();
    let mut bob2 = Session::from_bytes(&bob.to_bytes()).unwrap();
    assert_eq!(&alice2.decrypt(&b1[1]).unwrap()[..], text(1));
    let m = alice2.encrypt(&mut r, b"from the restored state").unwrap();
    assert_eq!(&bob2.decrypt(&m).unwrap()[..], b"from the restored state");
    // An initiator saved before any reply still sends initial messages.
    let mut r = rng(13);
    let b = common::bob();
    let fresh = Session::initiate(
        &mut r,
        &common::alice().identity,
        &b.bundle_one_time,
        CONTEXT,
    )
    .unwrap();
    let mut fresh2 = Session::from_bytes(&fresh.to_bytes()).unwrap();
    assert_eq!(fresh2.encrypt(&mut r, b"x").unwrap()[0], KIND_INITIAL);
}

#[test]
fn saved_state_decoder_refuses_malformed_input() {
    let (alice, _, _) = pair(14);
    let bytes = alice.to_bytes();
    for cut in [0usize, 1, 10, 100, 1000, bytes.len() - 1] {
        assert!(Session::from_bytes(&bytes[..cut]).is_err(), "cut at {cut}");
    }
    let mut longer = bytes.to_vec();
    longer.push(0);
    assert!(Session::from_bytes(&longer).is_err());
    let mut v = bytes.to_vec();
    v[0] = 2;
    assert_eq!(
        Session::from_bytes(&v).unwrap_err(),
        RatchetError::UnknownStateVersion(2)
    );
    let mut role = bytes.to_vec();
    role[1] = 7;
    assert!(Session::from_bytes(&role).is_err());
    assert!(matches!(
        Session::from_bytes(&vec![1u8; nightjar_ratchet::MAX_STATE_LEN + 1]),
        Err(RatchetError::TooLarge { .. })
    ));
}

#[test]
fn plaintext_limits_and_a_failing_generator_leave_the_session_unchanged() {
    let (mut alice, mut bob, mut r) = pair(15);
    let before = bob.to_bytes();
    assert!(matches!(
        bob.encrypt(&mut r, &vec![0; MAX_PLAINTEXT_LEN + 1]),
        Err(RatchetError::PlaintextTooLarge { .. })
    ));
    assert!(matches!(
        bob.encrypt(&mut BrokenRandom, b"x"),
        Err(RatchetError::Random(_))
    ));
    assert_eq!(*bob.to_bytes(), *before);
    let big = vec![7u8; MAX_PLAINTEXT_LEN];
    let m = bob.encrypt(&mut r, &big).unwrap();
    assert!(m.len() <= nightjar_ratchet::MAX_MESSAGE_LEN);
    assert_eq!(&alice.decrypt(&m).unwrap()[..], &big[..]);
    let empty = bob.encrypt(&mut r, b"").unwrap();
    assert_eq!(&alice.decrypt(&empty).unwrap()[..], b"");
}

#[test]
fn debug_output_shows_no_secrets() {
    let (alice, _, _) = pair(16);
    let shown = format!("{alice:?}");
    assert!(shown.contains("[redacted]") && shown.contains("Initiator"));
    assert!(!shown.contains("a1a1"));
}

#[test]
fn decoded_messages_expose_what_the_client_checks() {
    let mut r = rng(17);
    let a = alice();
    let b = bob();
    let mut alice = Session::initiate(&mut r, &a.identity, &b.bundle_one_time, CONTEXT).unwrap();
    let m = alice.encrypt(&mut r, b"x").unwrap();
    let initial = InitialMessage::decode(&m).unwrap();
    assert_eq!(initial.initiator_identity, *a.identity.public());
    assert_eq!(initial.prekeys.one_time_prekey, Some(10));
    assert!(initial.prekeys.kem_prekey_one_time);
    assert!(matches!(Message::decode(&m).unwrap(), Message::Initial(_)));
}

// ---------------------------------------------------------------------------
// Forward secrecy and post-compromise security
// ---------------------------------------------------------------------------

/// Forward secrecy: a copy of Alice's whole state, taken after she read a
/// conversation with steps in both directions and out-of-order messages,
/// opens none of the messages she read (nor any she sent).
#[test]
fn a_state_copied_after_reading_opens_no_earlier_message() {
    let (mut alice, mut bob, mut r) = pair(18);
    let mut to_alice = Vec::new();
    let mut to_bob = Vec::new();
    for round in 0..3 {
        let batch: Vec<Vec<u8>> = (0..3)
            .map(|i| bob.encrypt(&mut r, &text(round * 10 + i)).unwrap())
            .collect();
        for i in [2usize, 0, 1] {
            alice.decrypt(&batch[i]).unwrap();
        }
        to_alice.extend(batch);
        let m = alice.encrypt(&mut r, &text(round)).unwrap();
        bob.decrypt(&m).unwrap();
        to_bob.push(m);
    }
    assert_eq!(alice.skipped_key_count(), 0);
    let stolen = alice.to_bytes();
    for m in to_alice.iter().chain(&to_bob) {
        let mut copy = Session::from_bytes(&stolen).unwrap();
        assert!(
            copy.decrypt(m).is_err(),
            "the copy opened an earlier message"
        );
    }
}

/// Post-compromise security: copies of both states taken at one moment stop
/// opening messages once a ratchet round trip (a message each way, each
/// starting a new chain with fresh X25519 and ML-KEM keys) has happened,
/// even for an attacker that feeds the copies every message in order.
#[test]
fn a_state_copied_before_a_round_trip_opens_no_later_message() {
    let (mut alice, mut bob, mut r) = pair(19);
    let warmup = bob.encrypt(&mut r, b"w").unwrap();
    alice.decrypt(&warmup).unwrap();
    let mut eve_alice = Session::from_bytes(&alice.to_bytes()).unwrap();
    let mut eve_bob = Session::from_bytes(&bob.to_bytes()).unwrap();

    // The round trip: Alice → Bob (new chain), Bob → Alice (new chain).
    let a1 = alice.encrypt(&mut r, b"a1").unwrap();
    bob.decrypt(&a1).unwrap();
    // Until the round trip completes, the copy of Bob reads what was
    // encrypted to Bob's keys it holds: the copies are real.
    assert_eq!(&eve_bob.decrypt(&a1).unwrap()[..], b"a1");
    let b1 = bob.encrypt(&mut r, b"b1").unwrap();
    alice.decrypt(&b1).unwrap();
    assert!(eve_alice.decrypt(&b1).is_err(), "b1 uses Bob's fresh keys");

    // After it, nothing more opens, in either direction.
    for i in 0..3 {
        let a = alice.encrypt(&mut r, &text(i)).unwrap();
        bob.decrypt(&a).unwrap();
        let b = bob.encrypt(&mut r, &text(i)).unwrap();
        alice.decrypt(&b).unwrap();
        assert!(
            eve_bob.decrypt(&a).is_err(),
            "copy of Bob opened a later message"
        );
        assert!(
            eve_alice.decrypt(&b).is_err(),
            "copy of Alice opened a later message"
        );
    }
}
