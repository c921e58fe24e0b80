//! Per-account circuits (`docs/PROTOCOL.md` §11.10–11.11) on real node
//! processes: a client's mailbox requests travel on circuits and survive a
//! relay's restart by rebuilding; a replayed cell is refused by the node; a
//! circuit carries one account's requests only (the client refuses before
//! sending, the exit refuses a forged one); an expired circuit is rebuilt
//! without the caller noticing; a circuit to a dead member sets the
//! account's circuits aside for a while, and sends go on through v1 layers.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing)]

mod support;

use std::net::{SocketAddr, UdpSocket};
use std::time::Duration;

use nightjar_client::circuit::{CircuitRefusal, ClientCircuit};
use nightjar_client::{Client, Profile};
use nightjar_crypto::OsRandom;
use nightjar_crypto::circuit::{
    Backward, Cell, CircuitId, CircuitKeys, FRAGMENT_HEADER_LEN, Payload, Reassembly, build_create,
    fragments, pad_request, unpad_response,
};
use nightjar_crypto::identity::{AccountId, Identity, PublicKey};
use nightjar_registry::{NetworkFile, NodeEntry, NodeId};
use nightjar_wire::{AccountKey, Request, Response, ResponseBody};
use serde_json::Value;
use support::{Devnet, http_get};

/// The nodes of a devnet: address, key, admin address.
fn nodes(devnet: &Devnet) -> Vec<(SocketAddr, PublicKey, SocketAddr)> {
    devnet
        .status()
        .iter()
        .map(|n: &Value| {
            let key = hex::decode(n["node_id"].as_str().unwrap()).unwrap();
            (
                n["addr"].as_str().unwrap().parse().unwrap(),
                PublicKey::from_slice(&key).unwrap(),
                n["admin"].as_str().unwrap().parse().unwrap(),
            )
        })
        .collect()
}

/// `nightjar_circuit_events{event="…"}` of a node.
fn circuit_event(admin: SocketAddr, event: &str) -> f64 {
    let prefix = format!("nightjar_circuit_events{{event=\"{event}\"}} ");
    http_get(admin, "/metrics")
        .lines()
        .find_map(|l| l.strip_prefix(&prefix).and_then(|v| v.trim().parse().ok()))
        .unwrap_or(0.0)
}

/// A circuit driven by hand over a UDP socket, for what a client never does.
struct RawCircuit {
    socket: UdpSocket,
    keys: CircuitKeys,
    id: CircuitId,
    guard: SocketAddr,
    seq: u64,
}

impl RawCircuit {
    fn create(path: &[(SocketAddr, PublicKey)]) -> RawCircuit {
        let socket = UdpSocket::bind("127.0.0.1:0").unwrap();
        socket
            .set_read_timeout(Some(Duration::from_secs(5)))
            .unwrap();
        let hops: Vec<PublicKey> = path.iter().map(|(_, k)| *k).collect();
        let (packet, keys) = build_create(&mut OsRandom, &hops).unwrap();
        let id = CircuitId(0x1234_5678);
        let guard = path[0].0;
        socket.send_to(&packet.cell(id), guard).unwrap();
        let c = RawCircuit {
            socket,
            keys,
            id,
            guard,
            seq: 0,
        };
        assert_eq!(
            c.next_payload().as_deref().map(Payload::parse),
            Some(Ok(Payload::Created))
        );
        c
    }

    /// Sends `request` as request `request_id`; returns the cells sent.
    fn send(&mut self, request_id: u32, request: &Request) -> Vec<Vec<u8>> {
        let d = pad_request(&request.to_frame()).unwrap();
        let mut sent = Vec::new();
        for x in fragments(request_id, &d, self.keys.payload_len()).unwrap() {
            let cell = self.keys.forward_cell(self.id, self.seq, &x).unwrap();
            self.seq += 1;
            self.socket.send_to(&cell, self.guard).unwrap();
            sent.push(cell);
        }
        sent
    }

    /// The next payload that reaches us, within the socket's timeout.
    fn next_payload(&self) -> Option<Vec<u8>> {
        let mut buf = [0u8; 2048];
        let (len, _) = self.socket.recv_from(&mut buf).ok()?;
        match Cell::parse(&buf[..len]).ok()? {
            Cell::Backward { seq, layer, .. } => match self.keys.open_backward(seq, layer).ok()? {
                Backward::Payload(x) => Some(x),
                other => panic!("relay error: {other:?}"),
            },
            other => panic!("unexpected cell {other:?}"),
        }
    }

    /// The answer to the request in flight: a response, or the exit's error code.
    fn answer(&self) -> Option<Result<Response, u8>> {
        let chunk = self.keys.payload_len() - FRAGMENT_HEADER_LEN;
        let mut parts: Option<Reassembly> = None;
        loop {
            let x = self.next_payload()?;
            match Payload::parse(&x).unwrap() {
                Payload::Error { code, .. } => return Some(Err(code)),
                Payload::Fragment {
                    index,
                    count,
                    chunk: c,
                    ..
                } => {
                    let r = parts.get_or_insert_with(|| Reassembly::new(count, chunk).unwrap());
                    if let Some(joined) = r.insert(index, count, c).unwrap() {
                        let frame = unpad_response(&joined, count, chunk).unwrap();
                        return Some(Ok(Response::from_frame(&frame).unwrap()));
                    }
                }
                Payload::Created => panic!("created twice"),
            }
        }
    }
}

#[test]
fn a_replayed_circuit_cell_is_refused_and_not_handled_twice() {
    let devnet = Devnet::up_with(5, &[]);
    let nodes = nodes(&devnet);
    let path: Vec<_> = nodes[..3].iter().map(|(a, k, _)| (*a, *k)).collect();
    let mut circuit = RawCircuit::create(&path);
    let sent = circuit.send(1, &Request::Info);
    assert_eq!(sent.len(), 1);
    let answer = circuit.answer().expect("an answer").expect("not an error");
    assert!(
        matches!(answer.body, ResponseBody::Info { .. }),
        "{answer:?}"
    );
    let exit_admin = nodes[2].2;
    assert_eq!(circuit_event(exit_admin, "delivered"), 1.0);

    // The same cell again: every hop's window refuses it at the guard.
    circuit.socket.send_to(&sent[0], circuit.guard).unwrap();
    circuit
        .socket
        .set_read_timeout(Some(Duration::from_millis(1500)))
        .unwrap();
    assert!(circuit.answer().is_none(), "a replay got an answer");
    let guard_admin = nodes[0].2;
    assert_eq!(circuit_event(guard_admin, "replay"), 1.0);
    assert_eq!(circuit_event(exit_admin, "delivered"), 1.0, "handled once");

    // A fresh cell on the same circuit still works.
    circuit
        .socket
        .set_read_timeout(Some(Duration::from_secs(5)))
        .unwrap();
    circuit.send(2, &Request::Info);
    assert!(circuit.answer().unwrap().is_ok());
}

#[test]
fn a_circuit_carries_one_accounts_requests_only() {
    let devnet = Devnet::up_with(5, &[]);
    let nodes = nodes(&devnet);
    let path: Vec<_> = nodes[..3].iter().map(|(a, k, _)| (*a, *k)).collect();
    let alice = AccountKey::new(*Identity::generate().unwrap().public_key().as_bytes());
    let bob = AccountKey::new(*Identity::generate().unwrap().public_key().as_bytes());

    // The client logic refuses before anything is sent.
    let hops: Vec<NodeEntry> = path
        .iter()
        .map(|(addr, key)| NodeEntry {
            id: NodeId(*key),
            addr: *addr,
        })
        .collect();
    let (mut client_circuit, create) =
        ClientCircuit::build(&mut OsRandom, 0, alice, &hops).unwrap();
    let socket = UdpSocket::bind("127.0.0.1:0").unwrap();
    socket
        .set_read_timeout(Some(Duration::from_secs(5)))
        .unwrap();
    socket.send_to(&create, hops[0].addr).unwrap();
    let mut buf = [0u8; 2048];
    let (len, _) = socket.recv_from(&mut buf).unwrap();
    assert!(client_circuit.handle_cell(&buf[..len]).is_some());
    assert!(client_circuit.is_ready());
    let swarm_of_bob = Request::GetSwarm { account: bob };
    assert_eq!(
        client_circuit
            .request(&bob, &swarm_of_bob.to_frame(), 1)
            .map(|_| ()),
        Err(CircuitRefusal::OtherAccount)
    );
    let (_, cells) = client_circuit
        .request(&alice, &Request::GetSwarm { account: alice }.to_frame(), 1)
        .unwrap();
    assert_eq!(cells.len(), 1);

    // A client that bypasses that logic is refused by the exit (error 2).
    let mut circuit = RawCircuit::create(&path);
    circuit.send(1, &Request::GetSwarm { account: alice });
    assert!(circuit.answer().unwrap().is_ok());
    circuit.send(2, &swarm_of_bob);
    assert_eq!(circuit.answer().unwrap().err(), Some(2));
}

/// Two clients on a devnet, Bob's device published so Alice can send.
async fn pair(devnet: &Devnet, dir: &std::path::Path) -> (Client, Client, AccountId) {
    let network = NetworkFile::load(&devnet.network()).unwrap();
    let alice = Profile::create(&dir.join("a"), Identity::generate().unwrap(), None).unwrap();
    let bob = Profile::create(&dir.join("b"), Identity::generate().unwrap(), None).unwrap();
    let bob_id = bob.account_id();
    let any = SocketAddr::from(([127, 0, 0, 1], 0));
    let alice = Client::connect(alice, &network, any).await.unwrap();
    let bob = Client::connect(bob, &network, any).await.unwrap();
    (alice, bob, bob_id)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn circuits_survive_a_relay_restart_by_rebuilding() {
    let devnet = Devnet::up_with(6, &[]);
    let tmp = tempfile::tempdir().unwrap();
    let (mut alice, mut bob, bob_id) = pair(&devnet, tmp.path()).await;
    alice
        .send(&bob_id, "before", Duration::from_secs(3600))
        .await
        .unwrap();
    let got = bob.inbox(Some(Duration::from_secs(10))).await.unwrap();
    assert_eq!(got.len(), 1);
    assert_eq!(got[0].text, "before");
    let shown: Vec<String> = got.iter().map(|r| r.message_id.clone()).collect();
    bob.profile_mut().mark_shown(&shown).unwrap();
    let used = alice.circuit_use();
    assert!(used.built >= 1 && used.answered >= 2, "{used:?}");
    assert_eq!(used.fallbacks, 0, "{used:?}");

    // Restart the first relay of the circuit Alice stores into Bob's mailbox with.
    let alice_key = *alice.profile().identity().public_key().as_bytes();
    let bob_key = alice
        .circuits()
        .into_iter()
        .find(|(account, _, _)| *account.as_bytes() != alice_key)
        .expect("a circuit for Bob's account");
    let relay = &bob_key.1[1];
    let index = devnet.indices()[&relay.id.0.to_hex()];
    devnet.cmd(&["stop-node", "--index", &index.to_string()]);
    devnet.cmd(&["start-node", "--index", &index.to_string()]);

    alice
        .send(&bob_id, "after", Duration::from_secs(3600))
        .await
        .unwrap();
    let got = bob.inbox(Some(Duration::from_secs(10))).await.unwrap();
    let texts: Vec<&str> = got.iter().map(|r| r.text.as_str()).collect();
    assert_eq!(texts, ["after"]);
    let after = alice.circuit_use();
    assert!(
        after.broken > used.broken,
        "the old circuit broke: {after:?}"
    );
    assert!(after.built > used.built, "a new one was built: {after:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_expired_circuit_is_rebuilt_transparently() {
    let devnet = Devnet::up_with(5, &[]);
    // Circuits live 2 s on every node.
    devnet.stop();
    for entry in std::fs::read_dir(devnet.dir.path()).unwrap() {
        let config = entry.unwrap().path().join("node.toml");
        if config.exists() {
            let text = std::fs::read_to_string(&config).unwrap();
            let short = text.replace("circuit_lifetime_secs = 600", "circuit_lifetime_secs = 2");
            assert_ne!(short, text, "the devnet writes the default lifetime");
            std::fs::write(&config, short).unwrap();
        }
    }
    devnet.start(5);
    let tmp = tempfile::tempdir().unwrap();
    let (_alice, mut bob, _) = pair(&devnet, tmp.path()).await;
    assert!(bob.inbox(None).await.unwrap().is_empty());
    let first = bob.circuit_use();
    assert_eq!(first.built, 1, "{first:?}");
    // Past the circuit's lifetime (a wait for time itself, not for readiness).
    tokio::time::sleep(Duration::from_millis(2_500)).await;
    assert!(bob.inbox(None).await.unwrap().is_empty());
    let second = bob.circuit_use();
    assert_eq!(second.built, 2, "rebuilt: {second:?}");
    assert_eq!(
        second.broken, 1,
        "the expired one was destroyed: {second:?}"
    );
    assert_eq!(second.fallbacks, 0, "{second:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_circuit_to_a_dead_member_sets_the_accounts_circuits_aside_and_sends_go_on() {
    let devnet = Devnet::up_with(6, &[]);
    let tmp = tempfile::tempdir().unwrap();
    let (mut alice, _bob, bob_id) = pair(&devnet, tmp.path()).await;
    let ttl = Duration::from_secs(3600);
    alice.send(&bob_id, "first", ttl).await.unwrap();

    // Kill the member Alice's circuit for Bob's mailbox ends at: the next
    // request on it goes unanswered, and no new circuit can reach it.
    let alice_key = *alice.profile().identity().public_key().as_bytes();
    let (_, hops, _) = alice
        .circuits()
        .into_iter()
        .find(|(account, _, _)| *account.as_bytes() != alice_key)
        .expect("a circuit for Bob's mailbox");
    let exit = hops.last().unwrap();
    let index = devnet.indices()[&exit.id.0.to_hex()];
    devnet.cmd(&["stop-node", "--kill", "--index", &index.to_string()]);

    alice.send(&bob_id, "second", ttl).await.unwrap();
    let failed = alice.circuit_use();
    assert_eq!(
        failed.paused, 1,
        "set aside after the rebuild failed: {failed:?}"
    );
    assert!(failed.build_failures >= 1, "{failed:?}");

    // Within the pause, Bob's mailbox requests go straight through v1
    // layers: no circuit is built or tried for it.
    alice.send(&bob_id, "third", ttl).await.unwrap();
    let after = alice.circuit_use();
    assert_eq!(after.built, failed.built, "{after:?}");
    assert_eq!(after.build_failures, failed.build_failures, "{after:?}");
    assert!(after.fallbacks > failed.fallbacks, "{after:?}");
}
