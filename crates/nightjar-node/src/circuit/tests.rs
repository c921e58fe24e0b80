#![allow(clippy::unwrap_used, clippy::indexing_slicing, clippy::expect_used)]

use std::net::SocketAddr;
use std::sync::Arc;

use nightjar_crypto::SeededRandom;
use nightjar_crypto::circuit::{
    Backward, Cell, CircuitId, CircuitKeys, FRAGMENT_HEADER_LEN, Payload, Reassembly, build_create,
    fragments, pad_request, unpad_response,
};
use nightjar_crypto::identity::Identity;
use nightjar_types::AccountKey;
use nightjar_wire::{Request, Response, RetrieveRequest};

use super::*;

const NOW: u64 = 1_800_000_000_000;

struct Net {
    nodes: Vec<(SocketAddr, Arc<Identity>, CircuitRelay)>,
    client: SocketAddr,
    /// Datagrams that reached the client.
    inbox: Vec<Vec<u8>>,
    /// Every datagram sent to a node, to replay.
    log: Vec<(SocketAddr, SocketAddr, Vec<u8>)>,
}

impl Net {
    fn new(n: usize, lifetime_ms: u64) -> Self {
        let nodes = (0..n)
            .map(|i| {
                let id = Arc::new(Identity::generate().unwrap());
                let addr: SocketAddr = format!("127.0.0.1:{}", 9000 + i).parse().unwrap();
                let relay = CircuitRelay::new(
                    id.clone(),
                    CircuitConfig {
                        lifetime_ms,
                        ..CircuitConfig::default()
                    },
                    Box::new(SeededRandom::from_seed([i as u8; 32])),
                );
                (addr, id, relay)
            })
            .collect();
        Net {
            nodes,
            client: "127.0.0.1:5000".parse().unwrap(),
            inbox: Vec::new(),
            log: Vec::new(),
        }
    }

    fn addr_of(&self, key: &[u8; 32]) -> Option<SocketAddr> {
        self.nodes
            .iter()
            .find(|(_, id, _)| id.public_key().as_bytes() == key)
            .map(|(a, _, _)| *a)
    }

    /// Delivers `cell` from `from` to `to` and everything it causes, until
    /// quiet; returns the requests delivered at exits.
    fn deliver(
        &mut self,
        now: u64,
        from: SocketAddr,
        to: SocketAddr,
        cell: Vec<u8>,
    ) -> Vec<Delivery> {
        let mut queue = vec![(from, to, cell)];
        let mut delivered = Vec::new();
        let table: Vec<([u8; 32], SocketAddr)> = self
            .nodes
            .iter()
            .map(|(a, id, _)| (*id.public_key().as_bytes(), *a))
            .collect();
        let lookup = Table(table);
        while let Some((from, to, cell)) = queue.pop() {
            if to == self.client {
                self.inbox.push(cell);
                continue;
            }
            self.log.push((from, to, cell.clone()));
            let Some((_, _, relay)) = self.nodes.iter_mut().find(|(a, _, _)| *a == to) else {
                continue;
            };
            relay.handle_cell(now, from, &cell, &lookup);
            while let Some(t) = relay.poll_transmit() {
                queue.push((to, t.to, t.bytes));
            }
            while let Some(d) = relay.poll_delivery() {
                delivered.push(d);
            }
        }
        delivered
    }

    fn answer(&mut self, now: u64, exit: usize, d: &Delivery, frame: &[u8]) {
        let (addr, _, relay) = &mut self.nodes[exit];
        let addr = *addr;
        relay.handle_answer(now, d.circuit, d.request_id, frame);
        let mut out = Vec::new();
        while let Some(t) = relay.poll_transmit() {
            out.push(t);
        }
        for t in out {
            self.deliver(now, addr, t.to, t.bytes);
        }
    }

    fn path(&self) -> Vec<nightjar_crypto::identity::PublicKey> {
        self.nodes
            .iter()
            .map(|(_, id, _)| id.public_key())
            .collect()
    }
}

struct Table(Vec<([u8; 32], SocketAddr)>);

impl NodeDirectory for Table {
    fn addr_of(&self, key: &[u8; 32]) -> Option<SocketAddr> {
        self.0.iter().find(|(k, _)| k == key).map(|(_, a)| *a)
    }
    fn is_node(&self, addr: &SocketAddr) -> bool {
        self.0.iter().any(|(_, a)| a == addr)
    }
}

fn retrieve(account: [u8; 32]) -> Request {
    Request::Retrieve(RetrieveRequest::public(AccountKey::new(account), 1, 0, 0))
}

/// Sends `request` as fragments on the circuit; returns the delivered requests.
fn send_request(
    net: &mut Net,
    keys: &CircuitKeys,
    circuit: CircuitId,
    seq: &mut u64,
    request_id: u32,
    request: &Request,
) -> Vec<Delivery> {
    let d = pad_request(&request.to_frame()).unwrap();
    let guard = net.nodes[0].0;
    let client = net.client;
    let mut delivered = Vec::new();
    for x in fragments(request_id, &d, keys.payload_len()).unwrap() {
        let cell = keys.forward_cell(circuit, *seq, &x).unwrap();
        *seq += 1;
        delivered.extend(net.deliver(NOW, client, guard, cell));
    }
    delivered
}

fn open_all(keys: &CircuitKeys, inbox: &[Vec<u8>]) -> Vec<Backward> {
    inbox
        .iter()
        .map(|cell| match Cell::parse(cell).unwrap() {
            Cell::Backward { seq, layer, .. } => keys.open_backward(seq, layer).unwrap(),
            other => panic!("not a backward cell: {other:?}"),
        })
        .collect()
}

fn build(net: &mut Net, circuit: CircuitId) -> CircuitKeys {
    let mut rng = SeededRandom::from_seed([42; 32]);
    let (packet, keys) = build_create(&mut rng, &net.path()).unwrap();
    let guard = net.nodes[0].0;
    let client = net.client;
    net.deliver(NOW, client, guard, packet.cell(circuit));
    let got = open_all(&keys, &std::mem::take(&mut net.inbox));
    assert_eq!(got.len(), 1);
    let Backward::Payload(x) = &got[0] else {
        panic!("{got:?}")
    };
    assert_eq!(Payload::parse(x).unwrap(), Payload::Created);
    keys
}

#[test]
fn a_request_crosses_a_circuit_and_its_answer_comes_back() {
    let mut net = Net::new(4, MAX_CIRCUIT_LIFETIME_MS);
    let keys = build(&mut net, CircuitId(77));
    for (_, _, relay) in &net.nodes {
        assert_eq!(relay.len(), 1);
    }
    let mut seq = 0;
    let request = retrieve([5; 32]);
    let delivered = send_request(&mut net, &keys, CircuitId(77), &mut seq, 1, &request);
    assert_eq!(delivered.len(), 1);
    assert_eq!(delivered[0].request, request);
    // A large answer comes back in fragments.
    let response = Response::error(NOW, nightjar_wire::ErrorCode::BadRequest, "x".repeat(3000));
    net.answer(NOW, 3, &delivered[0], &response.to_frame());
    let chunk = keys.payload_len() - FRAGMENT_HEADER_LEN;
    let mut r: Option<Reassembly> = None;
    let mut frame = None;
    for b in open_all(&keys, &std::mem::take(&mut net.inbox)) {
        let Backward::Payload(x) = b else { panic!() };
        let Payload::Fragment {
            request_id,
            index,
            count,
            chunk: c,
        } = Payload::parse(&x).unwrap()
        else {
            panic!()
        };
        assert_eq!(request_id, 1);
        let r = r.get_or_insert_with(|| Reassembly::new(count, chunk).unwrap());
        if let Some(joined) = r.insert(index, count, c).unwrap() {
            frame = Some(unpad_response(&joined, count, chunk).unwrap());
        }
    }
    assert_eq!(Response::from_frame(&frame.unwrap()).unwrap(), response);
    let stats = net.nodes[1].2.stats();
    assert_eq!(stats.forwarded, 1);
    assert!(stats.backwarded >= 4);
}

#[test]
fn a_replayed_cell_is_refused_at_every_hop() {
    let mut net = Net::new(3, MAX_CIRCUIT_LIFETIME_MS);
    let keys = build(&mut net, CircuitId(1));
    let mut seq = 0;
    let delivered = send_request(
        &mut net,
        &keys,
        CircuitId(1),
        &mut seq,
        1,
        &retrieve([5; 32]),
    );
    assert_eq!(delivered.len(), 1);
    // Replay the client's cell to the guard, and the guard's to the relay.
    let sent: Vec<_> = net
        .log
        .iter()
        .filter(|(_, _, c)| c.first() == Some(&0x02))
        .cloned()
        .collect();
    assert_eq!(sent.len(), 3);
    for (from, to, cell) in sent {
        assert!(net.deliver(NOW, from, to, cell).is_empty());
    }
    for (_, _, relay) in &net.nodes {
        assert_eq!(relay.stats().replays, 1);
    }
}

#[test]
fn a_circuit_serves_one_account_only() {
    let mut net = Net::new(2, MAX_CIRCUIT_LIFETIME_MS);
    let keys = build(&mut net, CircuitId(1));
    let mut seq = 0;
    assert_eq!(
        send_request(
            &mut net,
            &keys,
            CircuitId(1),
            &mut seq,
            1,
            &retrieve([5; 32])
        )
        .len(),
        1
    );
    assert!(
        send_request(
            &mut net,
            &keys,
            CircuitId(1),
            &mut seq,
            2,
            &retrieve([6; 32])
        )
        .is_empty()
    );
    let got = open_all(&keys, &std::mem::take(&mut net.inbox));
    let Backward::Payload(x) = &got[0] else {
        panic!()
    };
    assert_eq!(
        Payload::parse(x).unwrap(),
        Payload::Error {
            request_id: 2,
            code: 2
        }
    );
}

#[test]
fn an_expired_circuit_is_destroyed_both_ways() {
    let mut net = Net::new(3, 1_000);
    let keys = build(&mut net, CircuitId(9));
    let x = vec![0u8; keys.payload_len()];
    let cell = keys.forward_cell(CircuitId(9), 0, &x).unwrap();
    let (client, guard) = (net.client, net.nodes[0].0);
    net.deliver(NOW + 1_000, client, guard, cell);
    let destroys: Vec<_> = net
        .inbox
        .iter()
        .filter_map(|c| match Cell::parse(c) {
            Ok(Cell::Destroy { circuit, reason }) => Some((circuit, reason)),
            _ => None,
        })
        .collect();
    assert_eq!(destroys, vec![(CircuitId(9), DestroyReason::Expired as u8)]);
    // The guard told the relay too, which tore its part down (and the exit's).
    for (_, _, relay) in &net.nodes {
        assert!(relay.is_empty());
    }
}

#[test]
fn a_node_that_forgot_its_circuits_answers_destroy() {
    let mut net = Net::new(3, MAX_CIRCUIT_LIFETIME_MS);
    let keys = build(&mut net, CircuitId(3));
    // The middle relay restarts.
    let id = net.nodes[1].1.clone();
    net.nodes[1].2 = CircuitRelay::new(
        id,
        CircuitConfig::default(),
        Box::new(SeededRandom::from_seed([8; 32])),
    );
    let mut seq = 0;
    assert!(
        send_request(
            &mut net,
            &keys,
            CircuitId(3),
            &mut seq,
            1,
            &retrieve([1; 32])
        )
        .is_empty()
    );
    let got: Vec<_> = net.inbox.iter().map(|c| Cell::parse(c).unwrap()).collect();
    assert_eq!(
        got,
        vec![Cell::Destroy {
            circuit: CircuitId(3),
            reason: DestroyReason::Unknown as u8
        }]
    );
    assert!(net.nodes[0].2.is_empty(), "the guard dropped its part");
    assert_eq!(net.nodes[1].2.stats().unknown, 1);
}

#[test]
fn an_unknown_next_hop_is_reported_by_the_relay() {
    let mut net = Net::new(3, MAX_CIRCUIT_LIFETIME_MS);
    let mut path = net.path();
    path[2] = Identity::generate().unwrap().public_key();
    let mut rng = SeededRandom::from_seed([1; 32]);
    let (packet, keys) = build_create(&mut rng, &path).unwrap();
    let (client, guard) = (net.client, net.nodes[0].0);
    net.deliver(NOW, client, guard, packet.cell(CircuitId(4)));
    assert_eq!(
        open_all(&keys, &net.inbox),
        vec![Backward::RelayError { hop: 1, code: 1 }]
    );
    assert!(net.nodes[1].2.is_empty());
}

#[test]
fn a_source_gets_at_most_its_share_of_circuits() {
    let mut net = Net::new(1, MAX_CIRCUIT_LIFETIME_MS);
    let mut rng = SeededRandom::from_seed([1; 32]);
    let (client, guard) = (net.client, net.nodes[0].0);
    for i in 0..(MAX_CIRCUITS_PER_SOURCE as u64 + 1) {
        let (packet, _) = build_create(&mut rng, &net.path()).unwrap();
        net.deliver(NOW, client, guard, packet.cell(CircuitId(i)));
    }
    assert_eq!(net.nodes[0].2.len(), MAX_CIRCUITS_PER_SOURCE as usize);
    assert_eq!(net.nodes[0].2.stats().full, 1);
    let _ = net.addr_of(&[0; 32]);
}

#[test]
fn circuits_relayed_by_a_node_are_not_limited_per_source() {
    // The guard's circuits all reach the relay from the guard's address.
    let mut net = Net::new(2, MAX_CIRCUIT_LIFETIME_MS);
    let mut rng = SeededRandom::from_seed([2; 32]);
    let guard = net.nodes[0].0;
    for i in 0..(MAX_CIRCUITS_PER_SOURCE as u64 + 10) {
        let (packet, _) = build_create(&mut rng, &net.path()).unwrap();
        // Many clients, each well within its own share at the guard.
        let client = SocketAddr::new(format!("127.0.3.{}", i % 200 + 1).parse().unwrap(), 5000);
        net.deliver(NOW, client, guard, packet.cell(CircuitId(i)));
    }
    assert_eq!(
        net.nodes[1].2.len(),
        MAX_CIRCUITS_PER_SOURCE as usize + 10,
        "the exit took every circuit the guard relayed"
    );
    assert_eq!(net.nodes[1].2.stats().full, 0);
}
