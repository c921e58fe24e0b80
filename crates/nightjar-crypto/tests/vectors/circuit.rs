//! `test-vectors/circuit.json`: per-account circuits (`docs/PROTOCOL.md`
//! §11.10).
//!
//! The generator computes every value from the specification with the
//! primitive crates directly (ed25519-dalek for node keys,
//! curve25519-dalek's Edwards-to-Montgomery map for `Y`, x25519-dalek,
//! keyed BLAKE2b-56, RustCrypto's XChaCha20-Poly1305), then checks that
//! `nightjar_crypto::circuit` builds, peels, relays, seals and opens the
//! same bytes. The replay recomputes every case from the inputs recorded in
//! the file (seeds, ephemeral secrets, circuit IDs, sequence numbers,
//! frames) the same independent way, compares, and runs the crate over the
//! file again.

use curve25519_dalek::edwards::CompressedEdwardsY;
use nightjar_crypto::circuit::{
    self, Backward, Cell, CircuitId, CreatePacket, CreatePeeled, HopKeys, Payload,
};
use nightjar_crypto::identity::{Identity, PublicKey};
use serde::{Deserialize, Serialize};

use super::{
    ONION_INFO_FRAME, blake2b_56, h, onion_response_frame, seed, unh, unh32, xchacha_seal,
};

/// The KDF keys of §11.10, spelled out here rather than taken from
/// `nightjar_crypto::labels`.
const LABEL_CREATE: &str = "nightjar/v1/circuit-create";
const LABEL_FORWARD: &str = "nightjar/v1/circuit-forward";
const LABEL_BACKWARD: &str = "nightjar/v1/circuit-backward";

const CELL_LEN: usize = 1232;
const REQUEST_BUCKETS: [usize; 5] = [1024, 4096, 16_384, 65_536, 98_304];
/// The response buckets a circuit carries (up to 65,536).
const CIRCUIT_RESPONSE_BUCKETS: [usize; 4] = [1024, 4096, 16_384, 65_536];

#[derive(Serialize, Deserialize)]
pub(crate) struct CircuitFile {
    description: String,
    cases: Vec<CircuitCase>,
}

#[derive(Serialize, Deserialize, Clone)]
struct CircuitCase {
    name: String,
    /// `n`.
    hops: usize,
    /// `P = 1,215 − 16·n`.
    payload_len: usize,
    /// `1,175 − 82·(n − 1)`.
    end_plaintext_len: usize,
    /// The hop count the exit reads from its end layer's length.
    end_hops: usize,
    nodes: Vec<HopCase>,
    forward: Vec<ForwardCase>,
    backward: Vec<BackwardCase>,
    relay_error: Option<RelayErrorCase>,
}

#[derive(Serialize, Deserialize, Clone)]
struct HopCase {
    node_seed: String,
    /// `N_i`.
    node_ed25519_public: String,
    /// `Y_i`.
    node_x25519_public: String,
    /// `e_i`.
    ephemeral_secret: String,
    /// `E_i`.
    ephemeral_public: String,
    /// `S_i`.
    shared_secret: String,
    /// `c[0..32]`, `c[32..56]`.
    create_key: String,
    create_nonce: String,
    /// `f[0..32]`, `f[32..56]`.
    forward_key: String,
    forward_nonce_base: String,
    /// `b[0..32]`, `b[32..56]`.
    backward_key: String,
    backward_nonce_base: String,
    /// The circuit ID (8 bytes, big-endian) on the link into this hop: the
    /// client's for hop 0, relay `i − 1`'s for hop `i`.
    circuit_id: String,
    /// `C_i`'s plaintext.
    create_plaintext: String,
    /// `C_i`.
    create_layer: String,
    /// `0x01 ‖ circuit_id ‖ E_i ‖ C_i`: the `create` this hop receives.
    create_cell: String,
}

#[derive(Serialize, Deserialize, Clone)]
struct ForwardCase {
    seq: u64,
    request_id: u32,
    /// `F`.
    request_frame: String,
    /// `D`.
    padded_request: String,
    /// `X`: fragment 0 of 1 of `D`.
    payload: String,
    /// `nonce(forward base_i, seq)`, hop 0 first.
    nonces: Vec<String>,
    /// The forward cell hop `i` receives (`cells[0]` from the client).
    cells: Vec<String>,
}

#[derive(Serialize, Deserialize, Clone)]
struct BackwardCase {
    seq: u64,
    /// `created` or `fragment`.
    kind: String,
    /// For a fragment: the request it answers, `G` and `D'`.
    request_id: Option<u32>,
    response_frame: Option<String>,
    padded_response: Option<String>,
    /// `X'`.
    payload: String,
    /// `nonce(backward base_i, seq)`, hop 0 first.
    nonces: Vec<String>,
    /// The backward cell hop `i` emits (`cells[0]` reaches the client).
    cells: Vec<String>,
}

#[derive(Serialize, Deserialize, Clone)]
struct RelayErrorCase {
    /// The relay that reports.
    hop: usize,
    code: u8,
    seq: u64,
    /// `0x01 ‖ 0x03 ‖ code ‖ 0x00 × 29`.
    plaintext: String,
    /// `nonce(backward base_i, seq)` for hops `0 ..= hop`.
    nonces: Vec<String>,
    /// The backward cell hop `i ≤ hop` emits (`cells[0]` reaches the client).
    cells: Vec<String>,
}

// ---------------------------------------------------------------------------
// Inputs
// ---------------------------------------------------------------------------

/// The exit's answer with sequence number `seq'`: `None` for *created*,
/// else the request ID and response frame `G` of a fragment.
type Answer = (u64, Option<(u32, Vec<u8>)>);

/// What a case is computed from.
struct Inputs {
    name: String,
    seeds: Vec<[u8; 32]>,
    ephemerals: Vec<[u8; 32]>,
    circuit_ids: Vec<u64>,
    /// (seq, request ID, F).
    forward: Vec<(u64, u32, Vec<u8>)>,
    backward: Vec<Answer>,
    /// (hop, code, seq').
    relay_error: Option<(usize, u8, u64)>,
}

/// A sequence number past 2³² to exercise the XOR into the nonce base.
const BIG_SEQ: u64 = (1 << 40) + 5;

fn fixed_inputs() -> Vec<Inputs> {
    let f = unh(ONION_INFO_FRAME);
    let g = onion_response_frame();
    let input = |name: &str, seeds: &[u8], client_id: u64, relay_error| Inputs {
        name: name.into(),
        // Node i's seed is 32 times `seeds[i]`; its ephemeral secret 32 times `seeds[i] ^ 0x5a`.
        seeds: seeds.iter().map(|&b| [b; 32]).collect(),
        ephemerals: seeds.iter().map(|&b| [b ^ 0x5a; 32]).collect(),
        circuit_ids: (0..seeds.len() as u64).map(|i| client_id + i).collect(),
        forward: vec![(0, 1, f.clone()), (BIG_SEQ, 2, f.clone())],
        backward: vec![
            (0, None),
            (1, Some((1, g.clone()))),
            (BIG_SEQ + 1, Some((2, g.clone()))),
        ],
        relay_error,
    };
    vec![
        input(
            "four-hops",
            &[0xd1, 0xd2, 0xd3, 0xd4],
            0x8f3a_5c71_0d2e_9b40,
            Some((1, 1, 0)),
        ),
        input("one-hop", &[0xd5], 0x0000_0000_0000_0001, None),
        input(
            "eight-hops",
            &[0xe1, 0xe2, 0xe3, 0xe4, 0xe5, 0xe6, 0xe7, 0xe8],
            0xfedc_ba98_7654_3210,
            None,
        ),
    ]
}

fn inputs_of(c: &CircuitCase) -> Inputs {
    Inputs {
        name: c.name.clone(),
        seeds: c.nodes.iter().map(|x| unh32(&x.node_seed)).collect(),
        ephemerals: c.nodes.iter().map(|x| unh32(&x.ephemeral_secret)).collect(),
        circuit_ids: c.nodes.iter().map(|x| id_of(&x.circuit_id)).collect(),
        forward: c
            .forward
            .iter()
            .map(|x| (x.seq, x.request_id, unh(&x.request_frame)))
            .collect(),
        backward: c
            .backward
            .iter()
            .map(|x| {
                let answer = match x.kind.as_str() {
                    "created" => None,
                    "fragment" => Some((
                        x.request_id.unwrap(),
                        unh(x.response_frame.as_ref().unwrap()),
                    )),
                    other => panic!("unknown backward kind {other}"),
                };
                (x.seq, answer)
            })
            .collect(),
        relay_error: c.relay_error.as_ref().map(|r| (r.hop, r.code, r.seq)),
    }
}

fn id_of(hex_id: &str) -> u64 {
    u64::from_be_bytes(unh(hex_id).try_into().unwrap())
}

// ---------------------------------------------------------------------------
// Independent computation (the primitives and the text of §11.10)
// ---------------------------------------------------------------------------

/// One hop's values from its node seed and ephemeral secret.
struct Hop {
    n: [u8; 32],
    y: [u8; 32],
    e_pub: [u8; 32],
    s: [u8; 32],
    c: [u8; 56],
    f: [u8; 56],
    b: [u8; 56],
}

fn hop(node_seed: &[u8; 32], e: &[u8; 32]) -> Hop {
    let n = ed25519_dalek::SigningKey::from_bytes(node_seed)
        .verifying_key()
        .to_bytes();
    let y = CompressedEdwardsY(n)
        .decompress()
        .unwrap()
        .to_montgomery()
        .to_bytes();
    let e_pub = x25519_dalek::x25519(*e, x25519_dalek::X25519_BASEPOINT_BYTES);
    let s = x25519_dalek::x25519(*e, y);
    assert_ne!(s, [0; 32]);
    let kdf = |label: &str| blake2b_56(label, &[&s, &e_pub, &y]);
    Hop {
        n,
        y,
        e_pub,
        s,
        c: kdf(LABEL_CREATE),
        f: kdf(LABEL_FORWARD),
        b: kdf(LABEL_BACKWARD),
    }
}

/// `nonce(base, seq) = base XOR (0x00 × 16 ‖ u64be(seq))`.
fn nonce(material: &[u8; 56], seq: u64) -> [u8; 24] {
    let mut n: [u8; 24] = material[32..].try_into().unwrap();
    for (a, b) in n[16..].iter_mut().zip(seq.to_be_bytes()) {
        *a ^= b;
    }
    n
}

/// `u32be(|F|) ‖ F ‖ zeros` to the smallest bucket.
fn pad(frame: &[u8], buckets: &[usize]) -> Vec<u8> {
    let bucket = *buckets.iter().find(|&&b| b >= frame.len() + 4).unwrap();
    let mut d = u32::try_from(frame.len()).unwrap().to_be_bytes().to_vec();
    d.extend_from_slice(frame);
    d.resize(bucket, 0);
    d
}

/// The fragment payloads of `padded`: `0x01 ‖ u32be(id) ‖ u16be(index) ‖
/// u16be(count) ‖ chunk`, each `p` bytes, the last chunk zero-filled.
fn fragment_payloads(request_id: u32, padded: &[u8], p: usize) -> Vec<Vec<u8>> {
    let chunks: Vec<&[u8]> = padded.chunks(p - 9).collect();
    let count = u16::try_from(chunks.len()).unwrap();
    chunks
        .iter()
        .enumerate()
        .map(|(i, chunk)| {
            let mut x = vec![0x01];
            x.extend_from_slice(&request_id.to_be_bytes());
            x.extend_from_slice(&u16::try_from(i).unwrap().to_be_bytes());
            x.extend_from_slice(&count.to_be_bytes());
            x.extend_from_slice(chunk);
            x.resize(p, 0);
            x
        })
        .collect()
}

fn data_cell(kind: u8, id: u64, seq: u64, layer: &[u8]) -> Vec<u8> {
    [&[kind][..], &id.to_be_bytes(), &seq.to_be_bytes(), layer].concat()
}

/// Seals `inner` once per hop from `hops[last]` down to `hops[0]` under the
/// direction's keys, returning the layers `[L_0, …, L_last]`.
fn wrap(
    hops: &[Hop],
    material: fn(&Hop) -> &[u8; 56],
    seq: u64,
    aad: &[u8],
    inner: &[u8],
) -> Vec<Vec<u8>> {
    let mut layers = vec![Vec::new(); hops.len()];
    let mut blob = inner.to_vec();
    for (i, hop) in hops.iter().enumerate().rev() {
        let m = material(hop);
        blob = xchacha_seal(&m[..32], &nonce(m, seq), aad, &blob);
        layers[i] = blob.clone();
    }
    layers
}

const AAD_FORWARD: [u8; 2] = [0x01, 0x02];
const AAD_BACKWARD: [u8; 2] = [0x01, 0x03];

fn compute(input: &Inputs) -> CircuitCase {
    let n = input.seeds.len();
    let p = 1215 - 16 * n;
    let end_len = 1175 - 82 * (n - 1);
    let hops: Vec<Hop> = input
        .seeds
        .iter()
        .zip(&input.ephemerals)
        .map(|(s, e)| hop(s, e))
        .collect();
    let ids = &input.circuit_ids;

    // Create layers, from the exit outwards.
    let mut plaintexts = vec![Vec::new(); n];
    let mut layers = vec![Vec::new(); n];
    for i in (0..n).rev() {
        let plain = if i + 1 == n {
            let mut end = vec![0u8; end_len];
            end[..2].copy_from_slice(&[0x01, 0x02]);
            end
        } else {
            [
                &[0x01u8, 0x01][..],
                &hops[i + 1].n,
                &hops[i + 1].e_pub,
                &layers[i + 1],
            ]
            .concat()
        };
        let aad = [&[0x01u8, 0x01][..], &hops[i].e_pub].concat();
        layers[i] = xchacha_seal(&hops[i].c[..32], &hops[i].c[32..], &aad, &plain);
        plaintexts[i] = plain;
    }
    let create_cells: Vec<Vec<u8>> = (0..n)
        .map(|i| {
            [
                &[0x01u8][..],
                &ids[i].to_be_bytes(),
                &hops[i].e_pub,
                &layers[i],
            ]
            .concat()
        })
        .collect();
    assert_eq!(create_cells[0].len(), CELL_LEN, "{}", input.name);

    let nonces = |material: fn(&Hop) -> &[u8; 56], seq: u64, upto: usize| -> Vec<String> {
        hops[..upto]
            .iter()
            .map(|x| h(nonce(material(x), seq)))
            .collect()
    };
    let forward = input
        .forward
        .iter()
        .map(|(seq, request_id, frame)| {
            let d = pad(frame, &REQUEST_BUCKETS);
            let fragments = fragment_payloads(*request_id, &d, p);
            assert_eq!(fragments.len(), 1, "a small request is one fragment");
            let x = &fragments[0];
            let layers = wrap(&hops, |x| &x.f, *seq, &AAD_FORWARD, x);
            let cells: Vec<Vec<u8>> = (0..n)
                .map(|i| data_cell(0x02, ids[i], *seq, &layers[i]))
                .collect();
            assert_eq!(cells[0].len(), CELL_LEN);
            ForwardCase {
                seq: *seq,
                request_id: *request_id,
                request_frame: h(frame),
                padded_request: h(&d),
                payload: h(x),
                nonces: nonces(|x| &x.f, *seq, n),
                cells: cells.iter().map(h).collect(),
            }
        })
        .collect();
    let backward = input
        .backward
        .iter()
        .map(|(seq, answer)| {
            let (x, padded) = match answer {
                None => {
                    let mut x = vec![0u8; p];
                    x[0] = 0x02;
                    (x, None)
                }
                Some((request_id, g)) => {
                    let d = pad(g, &CIRCUIT_RESPONSE_BUCKETS);
                    let fragments = fragment_payloads(*request_id, &d, p);
                    assert_eq!(fragments.len(), 1, "a small response is one fragment");
                    (fragments[0].clone(), Some(d))
                }
            };
            let layers = wrap(&hops, |x| &x.b, *seq, &AAD_BACKWARD, &x);
            let cells: Vec<Vec<u8>> = (0..n)
                .map(|i| data_cell(0x03, ids[i], *seq, &layers[i]))
                .collect();
            assert_eq!(cells[0].len(), CELL_LEN);
            BackwardCase {
                seq: *seq,
                kind: if answer.is_some() {
                    "fragment"
                } else {
                    "created"
                }
                .into(),
                request_id: answer.as_ref().map(|(r, _)| *r),
                response_frame: answer.as_ref().map(|(_, g)| h(g)),
                padded_response: padded.map(h),
                payload: h(&x),
                nonces: nonces(|x| &x.b, *seq, n),
                cells: cells.iter().map(h).collect(),
            }
        })
        .collect();
    let relay_error = input.relay_error.map(|(hop, code, seq)| {
        assert!(hop + 1 < n, "only a relay reports a relay error");
        let mut plain = vec![0x01, 0x03, code];
        plain.resize(32, 0);
        let layers = wrap(&hops[..=hop], |x| &x.b, seq, &AAD_BACKWARD, &plain);
        RelayErrorCase {
            hop,
            code,
            seq,
            plaintext: h(&plain),
            nonces: nonces(|x| &x.b, seq, hop + 1),
            cells: (0..=hop)
                .map(|i| h(data_cell(0x03, ids[i], seq, &layers[i])))
                .collect(),
        }
    });
    CircuitCase {
        name: input.name.clone(),
        hops: n,
        payload_len: p,
        end_plaintext_len: end_len,
        end_hops: n,
        nodes: (0..n)
            .map(|i| {
                let x = &hops[i];
                HopCase {
                    node_seed: h(input.seeds[i]),
                    node_ed25519_public: h(x.n),
                    node_x25519_public: h(x.y),
                    ephemeral_secret: h(input.ephemerals[i]),
                    ephemeral_public: h(x.e_pub),
                    shared_secret: h(x.s),
                    create_key: h(&x.c[..32]),
                    create_nonce: h(&x.c[32..]),
                    forward_key: h(&x.f[..32]),
                    forward_nonce_base: h(&x.f[32..]),
                    backward_key: h(&x.b[..32]),
                    backward_nonce_base: h(&x.b[32..]),
                    circuit_id: h(ids[i].to_be_bytes()),
                    create_plaintext: h(&plaintexts[i]),
                    create_layer: h(&layers[i]),
                    create_cell: h(&create_cells[i]),
                }
            })
            .collect(),
        forward,
        backward,
        relay_error,
    }
}

// ---------------------------------------------------------------------------
// The crate against a case
// ---------------------------------------------------------------------------

/// Runs `nightjar_crypto::circuit` over the case: the client builds the
/// create cell, every node peels its own and sends the next one, forward
/// cells are sealed by the client and relayed hop by hop, backward cells
/// sealed by the exit and every relay and opened by the client, and the
/// relay error sealed by its relay, wrapped and recognised.
fn check_with_crate(c: &CircuitCase) {
    let n = c.hops;
    let name = &c.name;
    let ids: Vec<CircuitId> = c
        .nodes
        .iter()
        .map(|x| CircuitId(id_of(&x.circuit_id)))
        .collect();
    let nodes: Vec<Identity> = c
        .nodes
        .iter()
        .map(|x| Identity::from_seed(seed(&x.node_seed)))
        .collect();
    for (x, node) in c.nodes.iter().zip(&nodes) {
        assert_eq!(node.public_key().to_hex(), x.node_ed25519_public, "{name}");
        assert_eq!(
            h(node.public_key().x25519()),
            x.node_x25519_public,
            "{name}"
        );
    }
    assert_eq!(circuit::payload_len(n).unwrap(), c.payload_len);
    let publics: Vec<PublicKey> = nodes.iter().map(Identity::public_key).collect();
    let ephemerals: Vec<[u8; 32]> = c.nodes.iter().map(|x| unh32(&x.ephemeral_secret)).collect();
    let (packet, keys) = circuit::build_create_with_ephemerals(&publics, &ephemerals).unwrap();
    assert_eq!(keys.hops(), n);
    assert_eq!(keys.payload_len(), c.payload_len);

    // Creating: each node peels the create it receives and sends the next.
    let mut relays: Vec<HopKeys> = Vec::new();
    let mut cell = packet.cell(ids[0]);
    for (i, x) in c.nodes.iter().enumerate() {
        assert_eq!(h(&cell), x.create_cell, "{name} create cell {i}");
        let Cell::Create {
            circuit,
            ephemeral_key,
            layer,
        } = Cell::parse(&cell).unwrap()
        else {
            panic!("{name} create cell {i} parses as another type");
        };
        assert_eq!(circuit, ids[i]);
        assert_eq!(h(ephemeral_key), x.ephemeral_public);
        assert_eq!(h(layer), x.create_layer);
        let (peeled, keys) = circuit::peel_create(&nodes[i], &ephemeral_key, layer).unwrap();
        relays.push(keys);
        match peeled {
            CreatePeeled::Extend {
                next,
                ephemeral_key,
                layer,
            } => {
                assert!(i + 1 < n, "{name}: hop {i} extends past the exit");
                assert_eq!(h(next), c.nodes[i + 1].node_ed25519_public);
                cell = CreatePacket {
                    ephemeral_key,
                    layer,
                }
                .cell(ids[i + 1]);
            }
            CreatePeeled::End { hops } => {
                assert_eq!(i + 1, n, "{name}: hop {i} is not the exit");
                assert_eq!(hops, c.end_hops);
                assert_eq!(hops, n);
            }
        }
    }

    // Forward: the client seals, relays peel, the exit opens X.
    for f in &c.forward {
        let frame = unh(&f.request_frame);
        let d = circuit::pad_request(&frame).unwrap();
        assert_eq!(h(&d), f.padded_request);
        let fragments = circuit::fragments(f.request_id, &d, c.payload_len).unwrap();
        assert_eq!(fragments.len(), 1);
        assert_eq!(h(&fragments[0]), f.payload);
        let x = unh(&f.payload);
        let mut cell = keys.forward_cell(ids[0], f.seq, &x).unwrap();
        for i in 0..n {
            assert_eq!(h(&cell), f.cells[i], "{name} forward {} cell {i}", f.seq);
            let Cell::Forward {
                circuit,
                seq,
                layer,
            } = Cell::parse(&cell).unwrap()
            else {
                panic!("{name} forward cell {i} parses as another type");
            };
            assert_eq!((circuit, seq), (ids[i], f.seq));
            if i + 1 < n {
                let mut out = Vec::new();
                relays[i]
                    .relay_forward(seq, layer, ids[i + 1], &mut out)
                    .unwrap();
                cell = out;
            } else {
                let opened = relays[i].open_payload(seq, layer).unwrap();
                assert_eq!(opened, x);
                let Payload::Fragment {
                    request_id,
                    index,
                    count,
                    chunk,
                } = Payload::parse(&opened).unwrap()
                else {
                    panic!("{name}: the forward payload is not a fragment");
                };
                assert_eq!((request_id, index, count), (f.request_id, 0, 1));
                let frame_back = circuit::unpad_request(chunk, count, c.payload_len - 9).unwrap();
                assert_eq!(frame_back, frame);
            }
        }
    }

    // Backward: the exit seals X', every relay seals again, the client opens.
    for b in &c.backward {
        let x = unh(&b.payload);
        match b.kind.as_str() {
            "created" => {
                assert_eq!(circuit::created_payload(c.payload_len), x);
                assert_eq!(Payload::parse(&x).unwrap(), Payload::Created);
            }
            _ => {
                let g = unh(b.response_frame.as_ref().unwrap());
                let d = circuit::pad_response(&g).unwrap();
                assert_eq!(Some(h(&d)), b.padded_response);
                let request_id = b.request_id.unwrap();
                let fragments = circuit::fragments(request_id, &d, c.payload_len).unwrap();
                assert_eq!(fragments, vec![x.clone()]);
                let Payload::Fragment {
                    request_id: id,
                    index: 0,
                    count: 1,
                    chunk,
                } = Payload::parse(&x).unwrap()
                else {
                    panic!("{name}: the backward payload is not fragment 0 of 1");
                };
                assert_eq!(id, request_id);
                assert_eq!(
                    circuit::unpad_response(chunk, 1, c.payload_len - 9).unwrap(),
                    g
                );
            }
        }
        let mut inner = x.clone();
        for i in (0..n).rev() {
            let mut out = Vec::new();
            relays[i]
                .seal_backward(b.seq, &inner, ids[i], &mut out)
                .unwrap();
            assert_eq!(h(&out), b.cells[i], "{name} backward {} cell {i}", b.seq);
            let Cell::Backward {
                circuit,
                seq,
                layer,
            } = Cell::parse(&out).unwrap()
            else {
                panic!("{name} backward cell {i} parses as another type");
            };
            assert_eq!((circuit, seq), (ids[i], b.seq));
            inner = layer.to_vec();
        }
        assert_eq!(unh(&b.cells[0]).len(), CELL_LEN);
        assert_eq!(
            keys.open_backward(b.seq, &inner).unwrap(),
            Backward::Payload(x)
        );
    }

    // The relay error: sealed by its relay, wrapped by the hops before it.
    if let Some(r) = &c.relay_error {
        let mut out = Vec::new();
        relays[r.hop]
            .relay_error(r.seq, r.code, ids[r.hop], &mut out)
            .unwrap();
        let mut expected_plain = vec![0x01, 0x03, r.code];
        expected_plain.resize(32, 0);
        assert_eq!(h(&expected_plain), r.plaintext);
        for i in (0..=r.hop).rev() {
            if i < r.hop {
                let mut wrapped = Vec::new();
                relays[i]
                    .seal_backward(r.seq, &out[17..], ids[i], &mut wrapped)
                    .unwrap();
                out = wrapped;
            }
            assert_eq!(h(&out), r.cells[i], "{name} relay error cell {i}");
        }
        let Cell::Backward { seq, layer, .. } = Cell::parse(&out).unwrap() else {
            panic!("{name}: the relay error is not a backward cell");
        };
        assert_eq!(
            keys.open_backward(seq, layer).unwrap(),
            Backward::RelayError {
                hop: r.hop,
                code: r.code
            }
        );
    }
}

/// Fails naming the first line where two cases' JSON differ.
fn assert_same(got: &CircuitCase, file: &CircuitCase) {
    let a = serde_json::to_string_pretty(got).unwrap();
    let b = serde_json::to_string_pretty(file).unwrap();
    if let Some((i, (x, y))) = a
        .lines()
        .zip(b.lines())
        .enumerate()
        .find(|(_, (x, y))| x != y)
    {
        panic!(
            "{}: line {} of the case differs:\n  recomputed {x}\n  file       {y}",
            file.name,
            i + 1
        );
    }
    assert_eq!(a, b, "{}", file.name);
}

// ---------------------------------------------------------------------------
// Generation and replay
// ---------------------------------------------------------------------------

pub(crate) fn gen_circuit() -> CircuitFile {
    let cases: Vec<CircuitCase> = fixed_inputs().iter().map(compute).collect();
    for c in &cases {
        check_with_crate(c);
    }
    CircuitFile {
        description: "Circuits (docs/PROTOCOL.md 11.10). Per hop i: N = Ed25519 public key of the \
                      node seed; Y = crypto_sign_ed25519_pk_to_curve25519(N); E = X25519(e, 9); \
                      S = X25519(e, Y); c, f, b = BLAKE2b(outlen 56, key \
                      'nightjar/v1/circuit-create' / '-forward' / '-backward', S || E || Y); key \
                      = [0..32], nonce (base) = [32..56]; nonce(base, seq) = base XOR (0x00 * 16 \
                      || u64be(seq)). Create: end plaintext = 0x01 || 0x02 || zeros (1175 - \
                      82(n-1) bytes); extend plaintext_i = 0x01 || 0x01 || N_{i+1} || E_{i+1} || \
                      C_{i+1}; C_i = XChaCha20-Poly1305-IETF(create key, create nonce, \
                      plaintext, aad 0x01 || 0x01 || E_i); create cell = 0x01 || circuit_id || \
                      E_i || C_i (1232 bytes for hop 0); circuit_id is the ID on the link into \
                      hop i (8 bytes BE). Payload length P = 1215 - 16n; X = 0x01 || \
                      u32be(request_id) || u16be(0) || u16be(1) || D || zeros, D = u32be(|F|) \
                      || F || zeros to a request bucket; created X' = 0x02 || zeros; a response \
                      fragment is X with D' = u32be(|G|) || G || zeros to a response bucket. \
                      Forward: L_last = AEAD(forward key, nonce(forward base, seq), X, aad \
                      0x01 || 0x02), L_i = AEAD(..., L_{i+1}); cells[i] = 0x02 || circuit_id_i || \
                      u64be(seq) || L_i is what hop i receives. Backward: B_last = \
                      AEAD(backward key, nonce(backward base, seq), X', aad 0x01 || 0x03), B_i = \
                      AEAD(..., B_{i+1}); cells[i] = 0x03 || circuit_id_i || u64be(seq) || B_i is \
                      what hop i emits (cells[0] reaches the client). Relay error: hop k seals \
                      0x01 || 0x03 || code || 0x00 * 29 instead of an inner B, hops below wrap it."
            .into(),
        cases,
    }
}

pub(crate) fn render(file: &CircuitFile) -> String {
    let mut text = serde_json::to_string_pretty(file).unwrap();
    text.push('\n');
    text
}

pub(crate) fn replay(file: &CircuitFile) {
    let hop_counts: Vec<usize> = file.cases.iter().map(|c| c.hops).collect();
    for n in [1, 4, 8] {
        assert!(hop_counts.contains(&n), "no {n}-hop case");
    }
    assert!(file.cases.iter().any(|c| {
        c.relay_error
            .as_ref()
            .is_some_and(|r| r.hop == 1 && c.hops == 4)
    }));
    for c in &file.cases {
        assert!(c.forward.iter().any(|f| f.seq > u64::from(u32::MAX)));
        assert!(c.backward.iter().any(|b| b.seq == 0 && b.kind == "created"));
        assert!(c.backward.iter().any(|b| b.kind == "fragment"));
        assert_same(&compute(&inputs_of(c)), c);
        check_with_crate(c);
    }
}
