//! `circuit_cell`: the decoders a node runs on every circuit cell (the cell
//! header, a `create` layer, its relay table) and the one a client runs on
//! every backward cell.

use std::net::SocketAddr;
use std::sync::{Arc, OnceLock};

use nightjar_crypto::SeededRandom;
use nightjar_crypto::circuit::{
    Cell, CircuitId, CircuitKeys, CreatePacket, Payload, build_create_with_ephemerals, peel_create,
};
use nightjar_crypto::identity::{Identity, Seed};
use nightjar_node::circuit::{CircuitConfig, CircuitRelay, NodeDirectory};

use crate::mask::masked;

/// Seeds of the reference circuit's two nodes (relay, exit).
pub const CIRCUIT_NODE_SEEDS: [[u8; 32]; 2] = [[41; 32], [42; 32]];

const EPHEMERALS: [[u8; 32]; 2] = [[51; 32], [52; 32]];
const NOW_MS: u64 = 1_800_000_000_000;

fn node(i: usize) -> &'static Arc<Identity> {
    static NODES: OnceLock<[Arc<Identity>; 2]> = OnceLock::new();
    let nodes = NODES.get_or_init(|| {
        CIRCUIT_NODE_SEEDS.map(|seed| Arc::new(Identity::from_seed(Seed::from_bytes(seed))))
    });
    &nodes[i % 2]
}

fn reference() -> &'static (CreatePacket, CircuitKeys) {
    static REFERENCE: OnceLock<(CreatePacket, CircuitKeys)> = OnceLock::new();
    REFERENCE.get_or_init(|| {
        let hops = [node(0).public_key(), node(1).public_key()];
        match build_create_with_ephemerals(&hops, &EPHEMERALS) {
            Ok(r) => r,
            Err(e) => panic!("cannot build the reference circuit: {e}"),
        }
    })
}

/// The reference circuit's `create` cell for its relay (circuit ID 7).
pub fn circuit_reference_create() -> Vec<u8> {
    reference().0.cell(CircuitId(7))
}

/// The registry of the reference circuit: its exit only.
struct OneExit {
    key: [u8; 32],
    addr: SocketAddr,
}

impl NodeDirectory for OneExit {
    fn addr_of(&self, key: &[u8; 32]) -> Option<SocketAddr> {
        (*key == self.key).then_some(self.addr)
    }
    fn is_node(&self, addr: &SocketAddr) -> bool {
        *addr == self.addr
    }
}

/// Fuzzes circuit cells.
///
/// Checks, for each input:
/// 1. Raw: `Cell::parse`, `Payload::parse`, the relay's and the exit's
///    `peel_create` of the input as `E ‖ layer`, the client's
///    `open_backward` of it, and a relay (`CircuitRelay::handle_cell`, with
///    the reference circuit created from the same address first) never panic,
///    and the relay never sends anything larger than a cell.
/// 2. Structured: the reference `create` cell XORed with the input peels at
///    the relay only if unaltered, and then extends to the exit.
pub fn circuit_cell(data: &[u8]) {
    let (packet, keys) = reference();

    // 1. Raw bytes.
    let _ = Cell::parse(data);
    let _ = Payload::parse(data);
    if let Some((e, layer)) = data.split_first_chunk::<32>() {
        let _ = peel_create(node(0), e, layer);
        let _ = peel_create(node(1), e, layer);
    }
    let _ = keys.open_backward(0, data);
    let mut relay = CircuitRelay::new(
        node(0).clone(),
        CircuitConfig::default(),
        Box::new(SeededRandom::from_seed([1; 32])),
    );
    let from = SocketAddr::from(([127, 0, 0, 1], 5000));
    let exit_addr = SocketAddr::from(([127, 0, 0, 2], 6000));
    let exit_key = *node(1).public_key().as_bytes();
    let lookup = OneExit {
        key: exit_key,
        addr: exit_addr,
    };
    relay.handle_cell(NOW_MS, from, &packet.cell(CircuitId(7)), &lookup);
    relay.handle_cell(NOW_MS, from, data, &lookup);
    relay.handle_cell(NOW_MS, exit_addr, data, &lookup);
    relay.handle_timeout(NOW_MS + 700_000);
    while let Some(t) = relay.poll_transmit() {
        assert!(
            t.bytes.len() <= nightjar_crypto::circuit::CELL_LEN,
            "the relay sent a datagram longer than a cell"
        );
    }

    // 2. Bit flips over the reference create cell's layer.
    let mut reference_bytes = packet.ephemeral_key.to_vec();
    reference_bytes.extend_from_slice(&packet.layer);
    let (bytes, altered) = masked(&reference_bytes, data);
    let Some((e, layer)) = bytes.split_first_chunk::<32>() else {
        panic!("the reference packet is shorter than a key");
    };
    match peel_create(node(0), e, layer) {
        Ok(_) if altered => panic!("an altered create layer peeled"),
        Ok((nightjar_crypto::circuit::CreatePeeled::Extend { next, .. }, _)) => {
            assert_eq!(next, exit_key, "the reference circuit extends to its exit");
        }
        Ok(other) => panic!("the reference create layer peeled to {:?}", other.0),
        Err(_) if !altered => panic!("the reference create layer did not peel"),
        Err(_) => {}
    }
}
