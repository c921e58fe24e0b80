//! `onion_layer`: the onion layer decoder a relay runs on every onion request,
//! and the reply decoder a client runs on every onion answer.

use std::sync::OnceLock;

use nightjar_crypto::identity::{Identity, PublicKey, Seed};
use nightjar_crypto::onion::{self, Peeled, ReturnKeys};

use crate::mask::masked;

/// Seeds of the two nodes of the reference path (relay, destination).
pub const ONION_NODE_SEEDS: [[u8; 32]; 2] = [[21; 32], [22; 32]];

/// The ephemeral secrets of the reference packet.
const EPHEMERALS: [[u8; 32]; 2] = [[31; 32], [32; 32]];

/// The request frame the reference packet delivers.
pub const ONION_INNER_FRAME: &[u8] = b"\x00\x00\x00\x05hello";

fn node(i: usize) -> &'static Identity {
    static NODES: OnceLock<[Identity; 2]> = OnceLock::new();
    let nodes = NODES
        .get_or_init(|| ONION_NODE_SEEDS.map(|seed| Identity::from_seed(Seed::from_bytes(seed))));
    &nodes[i % 2]
}

fn path() -> [(PublicKey, u32); 2] {
    [(node(0).public_key(), 5_000), (node(1).public_key(), 0)]
}

/// The reference packet (relay's ephemeral key ‖ relay's layer) and the
/// client's keys for its answer, built once with fixed ephemerals.
fn reference() -> &'static (Vec<u8>, ReturnKeys) {
    static REFERENCE: OnceLock<(Vec<u8>, ReturnKeys)> = OnceLock::new();
    REFERENCE.get_or_init(|| {
        match onion::build_with_ephemerals(&path(), ONION_INNER_FRAME, &EPHEMERALS) {
            Ok((packet, keys)) => {
                let mut bytes = packet.ephemeral_key.to_vec();
                bytes.extend_from_slice(&packet.layer);
                (bytes, keys)
            }
            Err(e) => panic!("cannot build the reference onion packet: {e}"),
        }
    })
}

/// The reference packet as a relay sees it: ephemeral key (32) ‖ layer.
pub fn onion_reference_packet() -> Vec<u8> {
    reference().0.clone()
}

/// Fuzzes `nightjar_crypto::onion::peel` (every onion request a node gets)
/// and `ReturnKeys::open` (every onion answer a client gets).
///
/// Checks, for each input:
/// 1. Raw: the first 32 bytes as the ephemeral key and the rest as the layer,
///    `peel` with the reference relay's key never panics, and neither does
///    the destination's; the input as an answer blob never panics `open`.
/// 2. Structured: the reference packet XORed with the input (over its first
///    bytes) peels at the relay only when the mask is all zero, and then
///    names the destination, whose own layer delivers the reference frame.
pub fn onion_layer(data: &[u8]) {
    let (packet, keys) = reference();

    // 1. Raw bytes.
    if let Some((ek, layer)) = data.split_first_chunk::<32>() {
        let _ = onion::peel(node(0), ek, layer);
        let _ = onion::peel(node(1), ek, layer);
    }
    let _ = keys.open(data);

    // 2. Bit flips over the reference packet.
    let (bytes, altered) = masked(packet, data);
    let Some((ek, layer)) = bytes.split_first_chunk::<32>() else {
        panic!("the reference packet is shorter than a key");
    };
    match onion::peel(node(0), ek, layer) {
        Ok(_) if altered => panic!("an altered onion layer peeled"),
        Ok((
            Peeled::Forward {
                next,
                ephemeral_key,
                layer,
                ..
            },
            _,
        )) => {
            assert_eq!(&next, node(1).public_key().as_bytes(), "next hop changed");
            match onion::peel(node(1), &ephemeral_key, &layer) {
                Ok((Peeled::Deliver { request_frame }, _)) => {
                    assert_eq!(request_frame, ONION_INNER_FRAME, "inner frame changed");
                }
                other => panic!("the destination's layer did not deliver: {other:?}"),
            }
        }
        Ok((other, _)) => panic!("the relay's layer did not forward: {other:?}"),
        Err(e) if !altered => panic!("the unaltered reference layer failed to peel: {e}"),
        Err(_) => {}
    }
}
