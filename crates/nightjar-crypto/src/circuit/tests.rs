#![allow(clippy::unwrap_used, clippy::indexing_slicing, clippy::expect_used)]

use super::*;
use crate::identity::Identity;
use crate::random::SeededRandom;

struct Hop {
    node: Identity,
    keys: Option<HopKeys>,
}

/// Builds a circuit through `n` fresh nodes and peels every create layer as
/// the nodes would; returns the client's keys and the nodes' keys.
fn circuit(n: usize) -> (CircuitKeys, Vec<Hop>, Vec<usize>) {
    let mut rng = SeededRandom::from_seed([n as u8; 32]);
    let mut hops: Vec<Hop> = (0..n)
        .map(|_| Hop {
            node: Identity::generate().unwrap(),
            keys: None,
        })
        .collect();
    let path: Vec<_> = hops.iter().map(|h| h.node.public_key()).collect();
    let (packet, client) = build_create(&mut rng, &path).unwrap();
    let cell = packet.cell(CircuitId(7));
    assert_eq!(cell.len(), CELL_LEN);
    let mut sizes = vec![cell.len()];
    let Cell::Create {
        circuit,
        mut ephemeral_key,
        layer,
    } = Cell::parse(&cell).unwrap()
    else {
        panic!("not a create cell")
    };
    assert_eq!(circuit, CircuitId(7));
    let mut layer = layer.to_vec();
    for i in 0..n {
        let (peeled, keys) = peel_create(&hops[i].node, &ephemeral_key, &layer).unwrap();
        hops[i].keys = Some(keys);
        match peeled {
            CreatePeeled::Extend {
                next,
                ephemeral_key: e,
                layer: inner,
            } => {
                assert!(i < n - 1);
                assert_eq!(next, *path[i + 1].as_bytes());
                ephemeral_key = e;
                layer = inner;
                sizes.push(CREATE_HEADER_LEN + layer.len());
            }
            CreatePeeled::End { hops: told } => {
                assert_eq!(i, n - 1);
                assert_eq!(told, n);
            }
        }
    }
    (client, hops, sizes)
}

#[test]
fn a_request_and_its_answer_cross_every_hop() {
    for n in 1..=8 {
        let (client, hops, sizes) = circuit(n);
        for w in sizes.windows(2) {
            assert_eq!(w[0] - w[1], 82, "every extend layer is 82 bytes");
        }
        let p = client.payload_len();
        assert_eq!(p, payload_len(n).unwrap());
        let x: Vec<u8> = (0..p).map(|i| i as u8).collect();
        let mut cell = client.forward_cell(CircuitId(9), 3, &x).unwrap();
        assert_eq!(cell.len(), CELL_LEN);
        // Every relay opens its layer and passes on a cell 16 bytes shorter.
        for hop in &hops[..n - 1] {
            let Cell::Forward { seq, layer, .. } = Cell::parse(&cell).unwrap() else {
                panic!()
            };
            assert_eq!(seq, 3);
            let mut out = Vec::new();
            hop.keys
                .as_ref()
                .unwrap()
                .relay_forward(seq, layer, CircuitId(11), &mut out)
                .unwrap();
            assert_eq!(out.len(), cell.len() - 16);
            cell = out;
        }
        let Cell::Forward { seq, layer, .. } = Cell::parse(&cell).unwrap() else {
            panic!()
        };
        let exit = hops[n - 1].keys.as_ref().unwrap();
        assert_eq!(exit.open_payload(seq, layer).unwrap(), x);
        // The answer: the exit seals, every relay seals again.
        let answer: Vec<u8> = (0..p).map(|i| (i * 7) as u8).collect();
        let mut back = Vec::new();
        exit.seal_backward(5, &answer, CircuitId(12), &mut back)
            .unwrap();
        for hop in hops[..n - 1].iter().rev() {
            let Cell::Backward { seq, layer, .. } = Cell::parse(&back).unwrap() else {
                panic!()
            };
            let mut out = Vec::new();
            hop.keys
                .as_ref()
                .unwrap()
                .seal_backward(seq, layer, CircuitId(13), &mut out)
                .unwrap();
            back = out;
        }
        assert_eq!(back.len(), CELL_LEN);
        let Cell::Backward { seq, layer, .. } = Cell::parse(&back).unwrap() else {
            panic!()
        };
        assert_eq!(
            client.open_backward(seq, layer).unwrap(),
            Backward::Payload(answer)
        );
        // Another sequence number does not open.
        assert_eq!(
            client.open_backward(seq + 1, layer),
            Err(CircuitError::DecryptFailed)
        );
    }
}

#[test]
fn a_relay_error_names_its_hop() {
    let (client, hops, _) = circuit(4);
    let mut back = Vec::new();
    hops[1]
        .keys
        .as_ref()
        .unwrap()
        .relay_error(0, 1, CircuitId(1), &mut back)
        .unwrap();
    let Cell::Backward { seq, layer, .. } = Cell::parse(&back).unwrap() else {
        panic!()
    };
    let mut out = Vec::new();
    hops[0]
        .keys
        .as_ref()
        .unwrap()
        .seal_backward(seq, layer, CircuitId(2), &mut out)
        .unwrap();
    let Cell::Backward { seq, layer, .. } = Cell::parse(&out).unwrap() else {
        panic!()
    };
    assert_eq!(
        client.open_backward(seq, layer).unwrap(),
        Backward::RelayError { hop: 1, code: 1 }
    );
}

#[test]
fn altered_cells_do_not_open() {
    let (client, hops, _) = circuit(3);
    let x = vec![1u8; client.payload_len()];
    let mut cell = client.forward_cell(CircuitId(1), 0, &x).unwrap();
    let last = cell.len() - 1;
    cell[last] ^= 1;
    let Cell::Forward { seq, layer, .. } = Cell::parse(&cell).unwrap() else {
        panic!()
    };
    let mut out = vec![9u8];
    assert_eq!(
        hops[0]
            .keys
            .as_ref()
            .unwrap()
            .relay_forward(seq, layer, CircuitId(2), &mut out),
        Err(CircuitError::DecryptFailed)
    );
    assert_eq!(out, vec![9u8], "a failed open leaves the output as it was");
    // The wrong node cannot peel a create layer.
    let mut rng = SeededRandom::from_seed([1; 32]);
    let path: Vec<_> = hops.iter().map(|h| h.node.public_key()).collect();
    let (packet, _) = build_create(&mut rng, &path).unwrap();
    assert_eq!(
        peel_create(&hops[1].node, &packet.ephemeral_key, &packet.layer).err(),
        Some(CircuitError::DecryptFailed)
    );
}

#[test]
fn cells_parse_by_type_and_length() {
    assert!(matches!(
        Cell::parse(&destroy_cell(CircuitId(5), DestroyReason::Expired)),
        Ok(Cell::Destroy {
            circuit: CircuitId(5),
            reason: 2
        })
    ));
    assert!(Cell::parse(&[]).is_err());
    assert!(
        Cell::parse(&[0x02; 20]).is_err(),
        "shorter than header and tag"
    );
    assert!(Cell::parse(&[0x02; CELL_LEN + 1]).is_err());
    assert_eq!(
        Cell::parse(&[0x05; 40]),
        Err(CircuitError::UnknownType(0x05))
    );
    assert!(Cell::parse(&[0x04; 11]).is_err());
}

#[test]
fn a_request_survives_fragmenting_in_any_order() {
    let p = payload_len(4).unwrap();
    let chunk = p - FRAGMENT_HEADER_LEN;
    for len in [0usize, 10, 1020, 1021, 5000, 98_300] {
        let frame: Vec<u8> = (0..len).map(|i| (i % 251) as u8).collect();
        let d = pad_request(&frame).unwrap();
        let parts = fragments(42, &d, p).unwrap();
        let mut r: Option<Reassembly> = None;
        let mut joined = None;
        for x in parts.iter().rev() {
            assert_eq!(x.len(), p);
            let Payload::Fragment {
                request_id,
                index,
                count,
                chunk: c,
            } = Payload::parse(x).unwrap()
            else {
                panic!()
            };
            assert_eq!(request_id, 42);
            let r = r.get_or_insert_with(|| Reassembly::new(count, chunk).unwrap());
            if let Some(j) = r.insert(index, count, c).unwrap() {
                joined = Some((j, count));
            }
            // Duplicates are harmless.
            assert_eq!(r.insert(index, count, c).unwrap(), None);
        }
        let (joined, count) = joined.expect("complete");
        assert_eq!(unpad_request(&joined, count, chunk).unwrap(), frame);
    }
    assert!(pad_request(&vec![0; 98_301]).is_err());
    assert!(pad_response(&vec![0; 65_532]).is_ok());
    assert!(matches!(
        pad_response(&vec![0; 65_533]),
        Err(CircuitError::TooLarge { .. })
    ));
}

#[test]
fn payload_kinds_round_trip() {
    let p = payload_len(4).unwrap();
    assert_eq!(Payload::parse(&created_payload(p)), Ok(Payload::Created));
    assert_eq!(
        Payload::parse(&error_payload(p, 9, 2)),
        Ok(Payload::Error {
            request_id: 9,
            code: 2
        })
    );
    let mut bad = created_payload(p);
    bad[10] = 1;
    assert!(Payload::parse(&bad).is_err());
}
