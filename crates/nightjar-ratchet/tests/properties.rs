//! Property test: whatever the interleaving of sends, deliveries in any
//! order, losses and save/restore cycles, every delivered message opens
//! exactly once, to what was sent.

#![allow(clippy::unwrap_used, clippy::expect_used, missing_docs)]

mod common;

use common::pair;
use nightjar_ratchet::Session;
use proptest::prelude::*;

#[derive(Clone, Debug)]
enum Op {
    /// Side 0 (Alice) or 1 (Bob) sends.
    Send(usize),
    /// Delivers the in-flight message to side `.0` at this index (modulo).
    Deliver(usize, usize),
    /// Delivers an already delivered message again.
    Replay(usize, usize),
    /// Side saves and restores its state.
    Restore(usize),
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        4 => (0..2usize).prop_map(Op::Send),
        4 => (0..2usize, any::<usize>()).prop_map(|(s, i)| Op::Deliver(s, i)),
        1 => (0..2usize, any::<usize>()).prop_map(|(s, i)| Op::Replay(s, i)),
        1 => (0..2usize).prop_map(Op::Restore),
    ]
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 128, ..ProptestConfig::default() })]

    #[test]
    fn every_delivered_message_opens_once_to_what_was_sent(
        seed in any::<u8>(),
        ops in proptest::collection::vec(op(), 1..40),
    ) {
        let (alice, bob, mut rng) = pair(seed);
        let mut sides = [alice, bob];
        // in_flight[s]: messages to side s not yet delivered; done[s]: delivered.
        let mut in_flight: [Vec<(Vec<u8>, Vec<u8>)>; 2] = [Vec::new(), Vec::new()];
        let mut done: [Vec<Vec<u8>>; 2] = [Vec::new(), Vec::new()];
        let mut counter = 0u32;
        for op in ops {
            match op {
                Op::Send(s) => {
                    counter += 1;
                    let plain = format!("{s}:{counter}").into_bytes();
                    let wire = sides[s].encrypt(&mut rng, &plain).unwrap();
                    in_flight[1 - s].push((wire, plain));
                }
                Op::Deliver(to, i) => {
                    if in_flight[to].is_empty() {
                        continue;
                    }
                    let (wire, plain) = in_flight[to].remove(i % in_flight[to].len());
                    let opened = sides[to].decrypt(&wire).unwrap();
                    prop_assert_eq!(&opened[..], &plain[..]);
                    done[to].push(wire);
                }
                Op::Replay(to, i) => {
                    if done[to].is_empty() {
                        continue;
                    }
                    let wire = &done[to][i % done[to].len()];
                    prop_assert!(sides[to].decrypt(wire).is_err());
                }
                Op::Restore(s) => {
                    let bytes = sides[s].to_bytes();
                    sides[s] = Session::from_bytes(&bytes).unwrap();
                    prop_assert_eq!(&*sides[s].to_bytes(), &*bytes);
                }
            }
        }
        // Whatever is still in flight opens now, in reverse order.
        for to in 0..2 {
            while let Some((wire, plain)) = in_flight[to].pop() {
                prop_assert_eq!(&sides[to].decrypt(&wire).unwrap()[..], &plain[..]);
            }
        }
    }
}
