//! Tests of the onion layers as a whole: build, peel, answer and open
//! through paths of one to eight hops, with every corruption rejected.

#![allow(clippy::unwrap_used)]
use super::keys::*;
use super::layout::*;
use super::*;
use crate::identity::{Identity, PublicKey, Seed};
use x25519_dalek::StaticSecret;

fn node(i: u8) -> Identity {
    Identity::from_seed(Seed::from_bytes([0x40 + i; 32]))
}

fn path(n: usize) -> (Vec<Identity>, Vec<(PublicKey, u32)>) {
    let ids: Vec<Identity> = (0..n).map(|i| node(i as u8)).collect();
    let hops = ids
        .iter()
        .enumerate()
        .map(|(i, id)| (id.public_key(), 1000 + i as u32))
        .collect();
    (ids, hops)
}

/// Runs the packet through the nodes; the destination answers `answer`.
/// Returns the guard's answer and each hop's answer bytes.
fn route(ids: &[Identity], packet: &OnionPacket, request: &[u8], answer: &[u8]) -> Vec<Vec<u8>> {
    let mut e = packet.ephemeral_key;
    let mut layer = packet.layer.clone();
    let mut replies = Vec::new();
    for (i, id) in ids.iter().enumerate() {
        let (peeled, reply) = peel(id, &e, &layer).unwrap();
        replies.push(reply);
        match peeled {
            Peeled::Forward {
                next,
                ephemeral_key,
                timeout_ms,
                layer: inner,
            } => {
                assert!(i + 1 < ids.len());
                assert_eq!(next, ids[i + 1].public_key().to_bytes());
                assert_eq!(timeout_ms, 1000 + i as u32);
                assert_eq!(inner.len() + FORWARD_OVERHEAD, layer.len());
                e = ephemeral_key;
                layer = inner;
            }
            Peeled::Deliver { request_frame } => {
                assert_eq!(i + 1, ids.len());
                assert_eq!(request_frame, request);
            }
        }
    }
    let mut answers = Vec::new();
    let mut blob = replies.pop().unwrap().final_response(answer).unwrap();
    answers.push(blob.clone());
    while let Some(reply) = replies.pop() {
        blob = reply.relayed(&blob);
        answers.push(blob.clone());
    }
    answers.reverse();
    answers
}

#[test]
fn round_trip_through_one_to_eight_hops() {
    for n in 1..=MAX_HOPS {
        let (ids, hops) = path(n);
        let request = format!("request through {n} hops").into_bytes();
        let (packet, keys) = build(&hops, &request).unwrap();
        assert_eq!(keys.hops(), n);
        let answers = route(&ids, &packet, &request, b"the answer");
        assert_eq!(keys.open(&answers[0]).unwrap(), b"the answer");
    }
}

#[test]
fn seeded_build_replays_from_the_seed_and_still_peels() {
    use crate::random::SeededRandom;
    let (ids, hops) = path(3);
    let request = b"seeded request".to_vec();
    let mut a = SeededRandom::from_seed([3u8; 32]);
    let mut b = SeededRandom::from_seed([3u8; 32]);
    let (pa, ka) = build_with(&mut a, &hops, &request).unwrap();
    let (pb, _) = build_with(&mut b, &hops, &request).unwrap();
    assert_eq!(pa.ephemeral_key, pb.ephemeral_key);
    assert_eq!(pa.layer, pb.layer);
    // The next packet from the same generator uses fresh ephemerals.
    let (pc, _) = build_with(&mut a, &hops, &request).unwrap();
    assert_ne!(pa.ephemeral_key, pc.ephemeral_key);
    let answers = route(&ids, &pa, &request, b"seeded answer");
    assert_eq!(ka.open(&answers[0]).unwrap(), b"seeded answer");
}

#[test]
fn each_relay_answers_different_bytes() {
    let (ids, hops) = path(4);
    let (packet, keys) = build(&hops, b"req").unwrap();
    let answers = route(&ids, &packet, b"req", b"resp");
    for (i, a) in answers.iter().enumerate() {
        for b in answers.iter().skip(i + 1) {
            assert_ne!(a, b);
            // No hop's answer contains the next one's verbatim.
            assert!(!a.windows(b.len()).any(|w| w == b.as_slice()));
        }
    }
    // Each hop adds exactly version, kind and tag.
    for w in answers.windows(2) {
        assert_eq!(w[0].len(), w[1].len() + 2 + TAG_LEN);
    }
    assert_eq!(keys.open(&answers[0]).unwrap(), b"resp");
}

#[test]
fn layers_differ_between_builds_of_the_same_request() {
    let (_, hops) = path(3);
    let (a, _) = build(&hops, b"same").unwrap();
    let (b, _) = build(&hops, b"same").unwrap();
    assert_ne!(a.ephemeral_key, b.ephemeral_key);
    assert_ne!(a.layer, b.layer);
}

#[test]
fn hop_error_is_reported_with_the_failing_relays_index() {
    let (ids, hops) = path(5);
    for failing in 0..4 {
        for failure in [
            HopFailure::NotANode,
            HopFailure::Unreachable,
            HopFailure::TimedOut,
            HopFailure::Refused,
            HopFailure::Overloaded,
        ] {
            let (packet, keys) = build(&hops, b"req").unwrap();
            let mut e = packet.ephemeral_key;
            let mut layer = packet.layer.clone();
            let mut replies = Vec::new();
            for id in ids.iter().take(failing + 1) {
                let (peeled, reply) = peel(id, &e, &layer).unwrap();
                replies.push(reply);
                if let Peeled::Forward {
                    ephemeral_key,
                    layer: inner,
                    ..
                } = peeled
                {
                    e = ephemeral_key;
                    layer = inner;
                }
            }
            let mut blob = replies.pop().unwrap().hop_error(failure);
            assert_eq!(blob.len(), 2 + HOP_ERROR_PAD + TAG_LEN);
            while let Some(reply) = replies.pop() {
                blob = reply.relayed(&blob);
            }
            assert_eq!(
                keys.open(&blob),
                Err(OnionError::HopFailed {
                    hop: failing,
                    failure
                })
            );
        }
    }
}

#[test]
fn any_flipped_byte_in_a_layer_is_an_error() {
    let (ids, hops) = path(2);
    let (packet, _) = build(&hops, b"flip me").unwrap();
    for i in 0..packet.layer.len() {
        let mut t = packet.layer.clone();
        t[i] ^= 0x01;
        assert_eq!(
            peel(&ids[0], &packet.ephemeral_key, &t).unwrap_err(),
            OnionError::DecryptFailed,
            "flip of byte {i} accepted"
        );
    }
    for i in 0..32 {
        let mut e = packet.ephemeral_key;
        e[i] ^= 0x80;
        assert!(peel(&ids[0], &e, &packet.layer).is_err());
    }
    for cut in [0usize, 1, 15, 16, 17, 18, packet.layer.len() - 1] {
        assert!(peel(&ids[0], &packet.ephemeral_key, &packet.layer[..cut]).is_err());
    }
    let mut longer = packet.layer.clone();
    longer.push(0);
    assert!(peel(&ids[0], &packet.ephemeral_key, &longer).is_err());
}

#[test]
fn any_flipped_byte_in_a_response_is_an_error() {
    let (ids, hops) = path(3);
    let (packet, keys) = build(&hops, b"req").unwrap();
    let answers = route(&ids, &packet, b"req", b"resp");
    let guard = &answers[0];
    for i in 0..guard.len() {
        let mut t = guard.clone();
        t[i] ^= 0x01;
        assert!(
            matches!(keys.open(&t), Err(OnionError::BadResponse { .. })),
            "flip of byte {i} accepted"
        );
    }
    // A flip in the part of the blob that is hop 1's answer, made before
    // hop 0 wrapped it, is pinned on hop 1.
    let mut inner = answers[1].clone();
    inner[5] ^= 0x40;
    let (_, replies) = replies_for(&ids, &packet);
    let blob = replies.into_iter().next().unwrap().relayed(&inner);
    assert_eq!(keys.open(&blob), Err(OnionError::BadResponse { hop: 1 }));
    for cut in [0usize, 1, 16, 17, guard.len() - 1] {
        assert!(keys.open(&guard[..cut]).is_err());
    }
}

/// Peels the whole path and returns the request frame and every hop's reply key.
fn replies_for(ids: &[Identity], packet: &OnionPacket) -> (Vec<u8>, Vec<ReplyKey>) {
    let mut e = packet.ephemeral_key;
    let mut layer = packet.layer.clone();
    let mut replies = Vec::new();
    for id in ids {
        let (peeled, reply) = peel(id, &e, &layer).unwrap();
        replies.push(reply);
        match peeled {
            Peeled::Forward {
                ephemeral_key,
                layer: inner,
                ..
            } => {
                e = ephemeral_key;
                layer = inner;
            }
            Peeled::Deliver { request_frame } => return (request_frame, replies),
        }
    }
    unreachable!("path ended without a deliver layer")
}

#[test]
fn malformed_responses_are_blamed_on_the_right_hop() {
    let (ids, hops) = path(3);
    let (packet, keys) = build(&hops, b"req").unwrap();
    // The destination answering "relayed", or a relay answering "final",
    // is a bad response from that hop.
    let (_, mut replies) = replies_for(&ids, &packet);
    let dest = replies.pop().unwrap();
    let bogus = dest.relayed(b"not a blob");
    let blob = replies.pop().unwrap().relayed(&bogus);
    let blob = replies.pop().unwrap().relayed(&blob);
    assert_eq!(keys.open(&blob), Err(OnionError::BadResponse { hop: 2 }));

    let (_, mut replies) = replies_for(&ids, &packet);
    replies.pop();
    let fake_final = replies.pop().unwrap().final_response(b"forged").unwrap();
    let blob = replies.pop().unwrap().relayed(&fake_final);
    assert_eq!(keys.open(&blob), Err(OnionError::BadResponse { hop: 1 }));

    // The destination cannot send a hop error: it has no next hop.
    let (_, mut replies) = replies_for(&ids, &packet);
    let err = replies.pop().unwrap().hop_error(HopFailure::TimedOut);
    let blob = replies.pop().unwrap().relayed(&err);
    let blob = replies.pop().unwrap().relayed(&blob);
    assert_eq!(keys.open(&blob), Err(OnionError::BadResponse { hop: 2 }));
}

#[test]
fn wrong_node_cannot_peel() {
    let (ids, hops) = path(3);
    let (packet, _) = build(&hops, b"secret request").unwrap();
    for other in &ids[1..] {
        assert_eq!(
            peel(other, &packet.ephemeral_key, &packet.layer).unwrap_err(),
            OnionError::DecryptFailed
        );
    }
    let stranger = node(99);
    assert_eq!(
        peel(&stranger, &packet.ephemeral_key, &packet.layer).unwrap_err(),
        OnionError::DecryptFailed
    );
}

#[test]
fn low_order_ephemeral_key_is_rejected() {
    let (ids, hops) = path(1);
    let (packet, _) = build(&hops, b"x").unwrap();
    let mut one = [0u8; 32];
    one[0] = 1;
    for e in [[0u8; 32], one] {
        assert_eq!(
            peel(&ids[0], &e, &packet.layer).unwrap_err(),
            OnionError::LowOrderPoint
        );
    }
}

#[test]
fn padding_is_exactly_a_bucket() {
    let (ids, hops) = path(1);
    for (len, bucket) in [
        (0usize, 1024usize),
        (1020, 1024),
        (1021, 4096),
        (16_380, 16_384),
        (16_381, 65_536),
        (65_533, 98_304),
        (MAX_REQUEST_FRAME_LEN, 98_304),
    ] {
        let request = vec![0xa5; len];
        let (packet, _) = build(&hops, &request).unwrap();
        assert_eq!(packet.layer.len(), 2 + bucket + TAG_LEN, "len {len}");
        let (peeled, reply) = peel(&ids[0], &packet.ephemeral_key, &packet.layer).unwrap();
        assert_eq!(
            peeled,
            Peeled::Deliver {
                request_frame: request
            }
        );
        drop(reply);
    }
    for (len, bucket) in [
        (0usize, 1024usize),
        (1020, 1024),
        (1021, 4096),
        (262_140, 262_144),
        (262_141, 1_048_576),
        (MAX_RESPONSE_FRAME_LEN, 8_454_144),
    ] {
        let (packet, keys) = build(&hops, b"r").unwrap();
        let (_, reply) = peel(&ids[0], &packet.ephemeral_key, &packet.layer).unwrap();
        let response = vec![0x5a; len];
        let blob = reply.final_response(&response).unwrap();
        assert_eq!(blob.len(), 2 + bucket + TAG_LEN, "len {len}");
        assert_eq!(keys.open(&blob).unwrap(), response);
    }
}

#[test]
fn oversize_request_and_response_are_rejected() {
    let (ids, hops) = path(2);
    let big = vec![0u8; MAX_REQUEST_FRAME_LEN + 1];
    assert_eq!(
        build(&hops, &big).unwrap_err(),
        OnionError::RequestTooLarge {
            len: MAX_REQUEST_FRAME_LEN + 1
        }
    );
    let (packet, _) = build(&hops, b"ok").unwrap();
    let (_, reply) = peel(&ids[0], &packet.ephemeral_key, &packet.layer).unwrap();
    let big = vec![0u8; MAX_RESPONSE_FRAME_LEN + 1];
    assert_eq!(
        reply.final_response(&big).unwrap_err(),
        OnionError::ResponseTooLarge {
            len: MAX_RESPONSE_FRAME_LEN + 1
        }
    );
    assert_eq!(
        peel(
            &ids[0],
            &packet.ephemeral_key,
            &vec![0u8; MAX_LAYER_LEN + 1]
        )
        .unwrap_err(),
        OnionError::LayerTooLarge {
            len: MAX_LAYER_LEN + 1
        }
    );
}

#[test]
fn path_length_is_checked() {
    assert_eq!(build(&[], b"x").unwrap_err(), OnionError::NoHops);
    let (_, hops) = path(MAX_HOPS + 1);
    assert_eq!(
        build(&hops, b"x").unwrap_err(),
        OnionError::TooManyHops(MAX_HOPS + 1)
    );
    let (_, hops) = path(2);
    assert!(matches!(
        build_with_ephemerals(&hops, b"x", &[[1; 32]]),
        Err(OnionError::Malformed(_))
    ));
}

#[test]
fn max_layer_len_is_the_size_of_a_maximal_eight_hop_layer() {
    assert_eq!(FORWARD_OVERHEAD, 86);
    assert_eq!(MAX_LAYER_LEN, 98_924);
    let (ids, hops) = path(MAX_HOPS);
    let request = vec![7u8; MAX_REQUEST_FRAME_LEN];
    let (packet, keys) = build(&hops, &request).unwrap();
    assert_eq!(packet.layer.len(), MAX_LAYER_LEN);
    let answers = route(&ids, &packet, &request, b"done");
    assert_eq!(keys.open(&answers[0]).unwrap(), b"done");
}

#[test]
fn deliver_layer_with_bad_padding_or_kind_is_malformed() {
    // Hand-build single-hop layers around chosen plaintexts.
    let id = node(0);
    let seal = |p: &[u8]| {
        let e = [9u8; 32];
        let secret = StaticSecret::from(e);
        let e_pub = x25519_dalek::PublicKey::from(&secret).to_bytes();
        let y = id.x25519_public();
        let s = secret.diffie_hellman(&x25519_dalek::PublicKey::from(y));
        let (req, _) = hop_keys(s.as_bytes(), &e_pub, &y);
        let mut buf = p.to_vec();
        buf.resize(p.len() + TAG_LEN, 0);
        let len = buf.len();
        seal_in_place(&req, &mut buf, 0, len).unwrap();
        (e_pub, buf)
    };
    let deliver = |len: u32, d_len: usize, pad: u8| {
        let mut p = vec![ONION_VERSION, KIND_DELIVER];
        p.extend_from_slice(&len.to_be_bytes());
        p.resize(2 + d_len, 0);
        if let Some(b) = p.last_mut() {
            *b = pad;
        }
        p
    };
    let good = deliver(3, 1024, 0);
    let (e, l) = seal(&good);
    assert_eq!(
        peel(&id, &e, &l).unwrap().0,
        Peeled::Deliver {
            request_frame: vec![0, 0, 0]
        }
    );
    for (p, why) in [
        (deliver(3, 1024, 1), "non-zero padding"),
        (deliver(3, 1000, 0), "not a bucket"),
        (deliver(1021, 1024, 0), "length beyond the bucket"),
        (deliver(u32::MAX, 1024, 0), "huge length"),
        (vec![ONION_VERSION, 0x07, 0, 0], "unknown kind"),
        (vec![ONION_VERSION, KIND_FORWARD, 1, 2, 3], "short forward"),
        (
            {
                let mut p = vec![ONION_VERSION, KIND_FORWARD];
                p.resize(FORWARD_HEADER_LEN, 1);
                p
            },
            "forward without inner layer",
        ),
    ] {
        let (e, l) = seal(&p);
        assert!(
            matches!(peel(&id, &e, &l), Err(OnionError::Malformed(_))),
            "{why} accepted"
        );
    }
    let mut v2 = good.clone();
    v2[0] = 2;
    let (e, l) = seal(&v2);
    assert_eq!(
        peel(&id, &e, &l).unwrap_err(),
        OnionError::UnsupportedVersion(2)
    );
}

#[test]
fn debug_output_redacts_keys() {
    let (ids, hops) = path(2);
    let (packet, keys) = build(&hops, b"x").unwrap();
    let (_, reply) = peel(&ids[0], &packet.ephemeral_key, &packet.layer).unwrap();
    let k = format!("{keys:?}");
    assert!(k.contains("[redacted]") && k.contains("hops: 2"), "{k}");
    assert_eq!(format!("{reply:?}"), "ReplyKey([redacted])");
}
