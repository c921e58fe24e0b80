//! Circuit cells share the node's QUIC port: the wrapped socket hands every
//! cell to the handler exactly once, QUIC keeps working beside them, and
//! cells sent from the endpoint's socket arrive as separate datagrams.

#![allow(clippy::unwrap_used)]

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use nightjar_crypto::identity::Identity;
use nightjar_transport::{CellHandler, CellSocket, is_cell};
use nightjar_wire::{NodeKey, Request, Response, ResponseBody};
use tokio::sync::mpsc;

/// Bound on waiting for one datagram that must come; not a pause.
const WAIT: Duration = Duration::from_secs(10);

/// Records every cell it is handed, and echoes it to its sender if asked.
struct Recorder {
    seen: mpsc::UnboundedSender<(SocketAddr, Vec<u8>)>,
    echo: bool,
    batches: AtomicUsize,
    send_errors: AtomicUsize,
}

impl CellHandler for Recorder {
    fn handle_cell(&self, from: SocketAddr, cell: &[u8], socket: &CellSocket) {
        self.seen.send((from, cell.to_vec())).unwrap();
        if self.echo && socket.send(from, cell).is_err() {
            self.send_errors.fetch_add(1, Ordering::Relaxed);
        }
    }

    fn end_of_batch(&self, _socket: &CellSocket) {
        self.batches.fetch_add(1, Ordering::Relaxed);
    }
}

type Seen = mpsc::UnboundedReceiver<(SocketAddr, Vec<u8>)>;

fn recorder(echo: bool) -> (Arc<Recorder>, Seen) {
    let (tx, rx) = mpsc::unbounded_channel();
    let recorder = Arc::new(Recorder {
        seen: tx,
        echo,
        batches: AtomicUsize::new(0),
        send_errors: AtomicUsize::new(0),
    });
    (recorder, rx)
}

/// A node endpoint with cells on 127.0.0.1, answering `Info` requests.
fn node(handler: Arc<Recorder>) -> (Identity, SocketAddr, CellSocket) {
    let identity = Identity::generate().unwrap();
    let config = nightjar_transport::server_config(&identity).unwrap();
    let (endpoint, cells) = nightjar_transport::server_endpoint_with_cells(
        config,
        "127.0.0.1:0".parse().unwrap(),
        handler,
    )
    .unwrap();
    let addr = endpoint.local_addr().unwrap();
    assert_eq!(cells.local_addr().unwrap(), addr);
    tokio::spawn(serve(endpoint));
    (identity, addr, cells)
}

async fn serve(endpoint: quinn::Endpoint) {
    while let Some(incoming) = endpoint.accept().await {
        let Ok(conn) = incoming.await else { continue };
        tokio::spawn(async move {
            while let Ok((mut send, mut recv)) = conn.accept_bi().await {
                let req = nightjar_transport::read_request(&mut recv).await.unwrap();
                assert_eq!(req, Ok(Request::Info));
                let resp = Response {
                    node_time_ms: 7,
                    body: ResponseBody::Info {
                        software_version: "cells".into(),
                        protocol_version: 1,
                        node_key: NodeKey::new([0; 32]),
                    },
                };
                nightjar_transport::write_response(&mut send, &resp)
                    .await
                    .unwrap();
            }
        });
    }
}

/// A unique cell of `len` bytes (at least 5): a first byte with bit 0x40
/// clear (0x80 set on odd ids, so both top bits vary), the id, filler.
fn cell(id: u32, len: usize) -> Vec<u8> {
    let first = (id % 0x40) as u8 | if id % 2 == 1 { 0x80 } else { 0 };
    let mut c = vec![first];
    c.extend_from_slice(&id.to_be_bytes());
    c.resize(len, (id % 251) as u8);
    assert!(is_cell(&c));
    c
}

async fn recv_from(socket: &tokio::net::UdpSocket) -> (Vec<u8>, SocketAddr) {
    let mut buf = vec![0u8; 65_536];
    let (n, from) = tokio::time::timeout(WAIT, socket.recv_from(&mut buf))
        .await
        .unwrap_or_else(|_| panic!("a datagram that should have come did not"))
        .unwrap();
    buf.truncate(n);
    (buf, from)
}

async fn next_seen(seen: &mut Seen) -> (SocketAddr, Vec<u8>) {
    tokio::time::timeout(WAIT, seen.recv())
        .await
        .unwrap_or_else(|_| panic!("the handler missed a cell"))
        .unwrap()
}

fn count(
    cells: impl IntoIterator<Item = (SocketAddr, Vec<u8>)>,
) -> HashMap<(SocketAddr, Vec<u8>), usize> {
    let mut m = HashMap::new();
    for c in cells {
        *m.entry(c).or_insert(0) += 1;
    }
    m
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn quic_and_cells_share_the_port_and_every_cell_arrives_once() {
    let (handler, mut seen) = recorder(true);
    let (identity, addr, _cells) = node(handler.clone());

    let client = nightjar_transport::client_endpoint("127.0.0.1:0".parse().unwrap()).unwrap();
    let conn = nightjar_transport::connect(&client, addr, &identity.public_key())
        .await
        .unwrap();
    let plain = tokio::net::UdpSocket::bind("127.0.0.1:0").await.unwrap();
    let plain_addr = plain.local_addr().unwrap();

    // A second node sends bursts with GSO, which the kernel may hand over
    // as one GRO buffer; the first node's echoes come back to its handler.
    let (gso_handler, mut gso_seen) = recorder(false);
    let (_, gso_addr, gso_cells) = node(gso_handler.clone());

    let mut sent = Vec::new();
    let mut handled = Vec::new();
    let mut echoed = Vec::new();
    let mut gso_sent = Vec::new();
    let mut gso_echoed = Vec::new();
    let mut id = 0u32;
    for round in 0..24u32 {
        // A burst of 32 cells: equal lengths on even rounds, all different
        // lengths on odd ones.
        let mut burst = Vec::new();
        for i in 0..32u32 {
            let len = if round % 2 == 0 {
                100
            } else {
                5 + ((i * 37 + round) % 600) as usize
            };
            burst.push(cell(id, len));
            id += 1;
        }
        for c in &burst {
            plain.send_to(c, addr).await.unwrap();
        }
        // A GSO burst of 16 equal cells and a shorter one.
        let mut segments = Vec::new();
        for _ in 0..16 {
            let c = cell(id, 64);
            id += 1;
            segments.extend_from_slice(&c);
            gso_sent.push((gso_addr, c));
        }
        let last = cell(id, 20);
        id += 1;
        segments.extend_from_slice(&last);
        gso_sent.push((gso_addr, last));
        gso_cells.send_segments(addr, &segments, 64).unwrap();

        // A QUIC round trip while those cells are on their way.
        let resp = nightjar_transport::request(&conn, &Request::Info, WAIT)
            .await
            .unwrap();
        assert_eq!(resp.node_time_ms, 7);

        for _ in 0..burst.len() + 17 {
            handled.push(next_seen(&mut seen).await);
        }
        for _ in 0..burst.len() {
            let (bytes, from) = recv_from(&plain).await;
            assert_eq!(from, addr, "echoes come from the node's one port");
            echoed.push((plain_addr, bytes));
        }
        for _ in 0..17 {
            gso_echoed.push(next_seen(&mut gso_seen).await);
        }
        sent.extend(burst.into_iter().map(|c| (plain_addr, c)));
    }
    let mut all_sent = sent.clone();
    all_sent.extend(gso_sent.iter().cloned());
    assert_eq!(
        count(handled),
        count(all_sent),
        "each cell handled exactly once, with its sender"
    );
    assert_eq!(count(echoed), count(sent.clone()), "each echo back once");
    let gso_echo_expect = gso_sent.iter().map(|(_, c)| (addr, c.clone()));
    assert_eq!(count(gso_echoed), count(gso_echo_expect));
    assert_eq!(handler.send_errors.load(Ordering::Relaxed), 0);
    let batches = handler.batches.load(Ordering::Relaxed);
    assert!(batches >= 1 && batches <= sent.len() + gso_sent.len());
    assert!(gso_handler.batches.load(Ordering::Relaxed) >= 1);

    // Nothing more came: no duplicates were waiting.
    assert!(seen.try_recv().is_err());
    // QUIC still answers afterwards.
    nightjar_transport::request(&conn, &Request::Info, WAIT)
        .await
        .unwrap();
}

#[tokio::test]
async fn send_segments_delivers_separate_datagrams() {
    let (handler, _seen) = recorder(false);
    let (_, addr, cells) = node(handler);
    assert!(cells.max_segments() >= 1);
    let plain = tokio::net::UdpSocket::bind("127.0.0.1:0").await.unwrap();
    let to = plain.local_addr().unwrap();

    // 20 equal cells; then 19 equal cells and a shorter last one.
    for (n, last_len) in [(20u32, 48usize), (20, 11)] {
        let expect: Vec<Vec<u8>> = (0..n)
            .map(|i| cell(1000 * n + i, if i == n - 1 { last_len } else { 48 }))
            .collect();
        cells.send_segments(to, &expect.concat(), 48).unwrap();
        for want in &expect {
            let (got, from) = recv_from(&plain).await;
            assert_eq!(from, addr);
            assert_eq!(&got, want);
        }
    }
    // A single cell, and cells longer than one call may carry in all.
    let one = cell(7, 9);
    cells.send_segments(to, &one, 48).unwrap();
    assert_eq!(recv_from(&plain).await.0, one);
    let big: Vec<Vec<u8>> = (0..80).map(|i| cell(5000 + i, 1000)).collect();
    cells.send_segments(to, &big.concat(), 1000).unwrap();
    for want in &big {
        assert_eq!(&recv_from(&plain).await.0, want);
    }
    assert!(cells.send_segments(to, &one, 0).is_err());
}

#[tokio::test]
async fn datagrams_with_the_fixed_bit_never_reach_the_handler() {
    let (handler, mut seen) = recorder(true);
    let (identity, addr, _cells) = node(handler);
    let plain = tokio::net::UdpSocket::bind("127.0.0.1:0").await.unwrap();
    let plain_addr = plain.local_addr().unwrap();

    let mut garbage: Vec<Vec<u8>> = vec![vec![0x40], vec![0xc0, 0, 0, 0, 1], vec![0xff; 30]];
    garbage.push((0..200u32).map(|i| (i * 7) as u8 | 0x40).collect());
    garbage.push([vec![0x7f], vec![0xab; 1300]].concat());
    for g in &garbage {
        plain.send_to(g, addr).await.unwrap();
    }
    let marker = cell(42, 12);
    plain.send_to(&marker, addr).await.unwrap();

    // Datagrams from one socket are handled in order: once the marker is
    // in, the garbage has been through the demultiplexer.
    assert_eq!(next_seen(&mut seen).await, (plain_addr, marker.clone()));
    assert!(seen.try_recv().is_err(), "only the marker was a cell");
    // The echo comes back (quinn may also answer the garbage, e.g. with a
    // stateless reset, which has the fixed bit set).
    loop {
        let (got, from) = recv_from(&plain).await;
        assert_eq!(from, addr);
        if is_cell(&got) {
            assert_eq!(got, marker);
            break;
        }
    }
    // QUIC on the port still works.
    let client = nightjar_transport::client_endpoint("127.0.0.1:0".parse().unwrap()).unwrap();
    let conn = nightjar_transport::connect(&client, addr, &identity.public_key())
        .await
        .unwrap();
    nightjar_transport::request(&conn, &Request::Info, WAIT)
        .await
        .unwrap();
    assert!(seen.try_recv().is_err());
}

#[test]
fn is_cell_on_edge_bytes() {
    assert!(is_cell(&[0x00]));
    assert!(is_cell(&[0x3f]));
    assert!(!is_cell(&[0x40]));
    assert!(!is_cell(&[0xc0]));
    assert!(is_cell(&[0x80]));
    assert!(!is_cell(&[]));
}

/// On a dual-stack IPv6 socket, an IPv4 sender is named by its IPv4 address,
/// and a cell sent to that address reaches it.
#[tokio::test]
async fn ipv4_senders_on_a_dual_stack_socket_keep_their_ipv4_address() {
    let (handler, mut seen) = recorder(true);
    let identity = Identity::generate().unwrap();
    let config = nightjar_transport::server_config(&identity).unwrap();
    let (endpoint, cells) =
        nightjar_transport::server_endpoint_with_cells(config, "[::]:0".parse().unwrap(), handler)
            .unwrap();
    let port = endpoint.local_addr().unwrap().port();
    assert!(cells.local_addr().unwrap().is_ipv6());
    let plain = tokio::net::UdpSocket::bind("127.0.0.1:0").await.unwrap();
    let plain_addr = plain.local_addr().unwrap();
    let c = cell(3, 30);
    plain.send_to(&c, ("127.0.0.1", port)).await.unwrap();
    assert_eq!(next_seen(&mut seen).await, (plain_addr, c.clone()));
    let (echo, from) = recv_from(&plain).await;
    assert_eq!(echo, c);
    assert_eq!(from.port(), port);
    let again = cell(4, 31);
    cells.send_segments(plain_addr, &again, 31).unwrap();
    assert_eq!(recv_from(&plain).await.0, again);
}
