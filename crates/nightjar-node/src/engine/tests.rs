//! The core driven with no sockets: a few cores wired together in memory,
//! on a clock the test moves. Every test runs twice: with the SQLite store
//! (in a temporary directory) and with the in-memory store the simulator
//! uses.

#![allow(clippy::unwrap_used)]

use std::collections::{BTreeMap, HashMap, VecDeque};
use std::sync::Arc;

use nightjar_crypto::identity::Identity;
use nightjar_registry::{NodeEntry, NodeId, Registry};
use nightjar_store::{MemoryStore, MessageStore, Store, StoreConfig};
use nightjar_types::{AccountKey, MessageHash, NodeKey};
use nightjar_wire::{
    DeleteRequest, ErrorCode, LABEL_DELETE, LABEL_RECEIPT_BATCH, LABEL_RETRIEVE, Receipt, Request,
    Response, ResponseBody, RetrieveRequest, StoreRequest,
};

use super::*;

mod published;

const NOW: u64 = 1_800_000_000_000;

/// How a node in the test network behaves.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Behaviour {
    Honest,
    /// Answers `replicate` with `stored` and a receipt it did not sign
    /// with its key, and stores nothing.
    AckWithoutStoring,
    /// Answers `replicate` with `stored` and a receipt it signed for
    /// another message, and stores nothing.
    AckForAnotherMessage,
    /// Answers `replicate` with `stored` and no receipt, and stores nothing.
    AckWithoutReceipt,
    /// Never answers anything.
    Silent,
    /// Gets peer requests only when the test releases them.
    Late,
}

struct Node {
    core: NodeCore,
    store: Box<dyn MessageStore>,
    /// The same store, if it is SQLite (for batched writes).
    sqlite: Option<Store>,
    entry: NodeEntry,
    behaviour: Behaviour,
    _dir: Option<tempfile::TempDir>,
}

impl Node {
    /// A request arrives: the pre-check, then the core (as the driver does).
    fn deliver(
        &mut self,
        now: u64,
        id: RequestId,
        peer: Option<&nightjar_crypto::identity::PublicKey>,
        request: Request,
    ) {
        let checked = self.core.precheck(now, Ok(request));
        self.core.handle_request(now, id, peer, checked);
    }
}

/// Cores wired together: peer requests become requests to the named core.
struct Net {
    nodes: Vec<Node>,
    now: u64,
    next_request: u64,
    /// (node, request) → (asking node, its op): peer requests in flight.
    in_flight: HashMap<(usize, RequestId), (usize, OpId)>,
    /// Answers to client requests, by (node, request).
    answers: HashMap<(usize, RequestId), Response>,
    events: Vec<(usize, CoreEvent)>,
    queue: VecDeque<(usize, Effect)>,
    /// Peer requests held for `Late` nodes: (to, from, op, request).
    late: Vec<(usize, usize, OpId, Request)>,
    /// Queue store writes and commit them together once nothing else
    /// moves, as the real driver's batching writer does (thousands of
    /// one-by-one SQLite commits would take minutes).
    batch_writes: bool,
    /// Writes queued in that mode: (node, op, command).
    writes: Vec<(usize, OpId, nightjar_store::StoreCommand)>,
    /// The limit of every range listing each core asked for: (node, limit).
    listings: Vec<(usize, usize)>,
    /// Carry out pending effects in a random order drawn from this (store
    /// answers and peer requests of all nodes interleave), instead of in
    /// the order they were emitted.
    shuffle: Option<nightjar_crypto::SeededRandom>,
    /// With `shuffle`: lose this many of every 1,000 peer requests (never
    /// delivered, never answered: the core's own deadline fails them).
    lose_per_mille: usize,
}

impl Net {
    /// `n` honest nodes; the registry holds those of `registered`, and
    /// every node knows all `n` keys (nodes outside it "left").
    fn new(memory: bool, n: usize, registered: &[usize]) -> Net {
        Net::with_config(memory, n, registered, &CoreConfig::default())
    }

    /// As [`Net::new`], every core with `config`.
    fn with_config(memory: bool, n: usize, registered: &[usize], config: &CoreConfig) -> Net {
        let ids: Vec<Identity> = (0..n).map(|_| Identity::generate().unwrap()).collect();
        let entries: Vec<NodeEntry> = ids
            .iter()
            .enumerate()
            .map(|(i, id)| NodeEntry {
                id: NodeId(id.public_key()),
                addr: format!("127.0.0.1:{}", 4000 + i).parse().unwrap(),
            })
            .collect();
        let registry = Registry::genesis(
            "test",
            registered.iter().map(|&i| entries[i].clone()).collect(),
        );
        let view = Arc::new(RegistryView::new(
            registry.swarm_map().unwrap(),
            entries.iter().map(|e| crate::core::node_key_of(&e.id.0)),
            Some(crate::core::RegistrySnapshot::of(&registry)),
        ));
        let nodes = ids
            .into_iter()
            .zip(entries)
            .map(|(id, entry)| {
                let ring = crate::sync::ring_position;
                let (store, sqlite, dir): (Box<dyn MessageStore>, _, _) = if memory {
                    (Box::new(MemoryStore::new(ring)), None, None)
                } else {
                    let dir = tempfile::tempdir().unwrap();
                    let config = StoreConfig::new(dir.path().join("store.db"), ring);
                    let store = Store::open(config).unwrap();
                    (Box::new(store.clone()), Some(store), Some(dir))
                };
                let mut core = NodeCore::new(id, config.clone());
                core.set_registry(NOW, view.clone());
                Node {
                    core,
                    store,
                    sqlite,
                    entry,
                    behaviour: Behaviour::Honest,
                    _dir: dir,
                }
            })
            .collect();
        let mut net = Net {
            nodes,
            now: NOW,
            next_request: 0,
            in_flight: HashMap::new(),
            answers: HashMap::new(),
            events: Vec::new(),
            queue: VecDeque::new(),
            late: Vec::new(),
            batch_writes: false,
            writes: Vec::new(),
            listings: Vec::new(),
            shuffle: None,
            lose_per_mille: 0,
        };
        // Run the first (immediate) purges so they do not clutter the tests.
        net.advance(0);
        net
    }

    fn index_of(&self, entry: &NodeEntry) -> usize {
        self.nodes.iter().position(|n| &n.entry == entry).unwrap()
    }

    fn collect(&mut self) {
        for (i, node) in self.nodes.iter_mut().enumerate() {
            while let Some(e) = node.core.poll_effect() {
                self.queue.push_back((i, e));
            }
        }
    }

    /// Commit the queued writes (each node's in one batch where the store
    /// batches) and hand their replies to the cores.
    fn flush_writes(&mut self) {
        let writes = std::mem::take(&mut self.writes);
        let mut replies = Vec::new();
        let mut waiting = Vec::new();
        for (i, op, command) in writes {
            match (&self.nodes[i].sqlite, command) {
                (Some(sqlite), nightjar_store::StoreCommand::Store(m)) => {
                    waiting.push((i, op, sqlite.store(m)));
                }
                (_, command) => replies.push((i, op, self.nodes[i].store.execute(command))),
            }
        }
        for (i, op, rx) in waiting {
            let reply = nightjar_store::StoreReply::Stored(rx.blocking_recv().unwrap());
            replies.push((i, op, reply));
        }
        // Each node's replies together, as its driver hands in the
        // replies of one commit.
        let mut by_node: BTreeMap<usize, Vec<_>> = BTreeMap::new();
        for (i, op, reply) in replies {
            by_node.entry(i).or_default().push((op, reply));
        }
        for (i, replies) in by_node {
            self.nodes[i].core.handle_store_replies(self.now, replies);
        }
    }

    /// Carry out effects until nothing moves.
    fn pump(&mut self) {
        self.collect();
        loop {
            self.pump_queue();
            if self.writes.is_empty() {
                return;
            }
            self.flush_writes();
            self.collect();
        }
    }

    /// The next effect to carry out: the oldest, or a random one.
    fn next_effect(&mut self) -> Option<(usize, Effect)> {
        let Some(rng) = self.shuffle.as_mut() else {
            return self.queue.pop_front();
        };
        let n = self.queue.len();
        if n == 0 {
            return None;
        }
        let at = nightjar_crypto::random_index_with(rng, n).unwrap();
        self.queue.remove(at)
    }

    /// Whether to lose a peer request (see [`Net::lose_per_mille`]).
    fn lose(&mut self) -> bool {
        match self.shuffle.as_mut() {
            Some(rng) if self.lose_per_mille > 0 => {
                nightjar_crypto::random_index_with(rng, 1_000).unwrap() < self.lose_per_mille
            }
            _ => false,
        }
    }

    fn pump_queue(&mut self) {
        while let Some((i, effect)) = self.next_effect() {
            let now = self.now;
            match effect {
                Effect::Store { op, command } if self.batch_writes && command.is_write() => {
                    self.writes.push((i, op, command));
                }
                Effect::Store {
                    op,
                    command: command @ nightjar_store::StoreCommand::ListRange { limit, .. },
                } => {
                    self.listings.push((i, limit));
                    let reply = self.nodes[i].store.execute(command);
                    self.nodes[i].core.handle_store_reply(now, op, reply);
                }
                Effect::Reply { id, response } => match self.in_flight.remove(&(i, id)) {
                    Some((from, op)) => {
                        self.nodes[from]
                            .core
                            .handle_peer_answer(now, op, Ok(response))
                    }
                    None => {
                        self.answers.insert((i, id), response);
                    }
                },
                Effect::Store { op, command } => {
                    let reply = self.nodes[i].store.execute(command);
                    self.nodes[i].core.handle_store_reply(now, op, reply);
                }
                Effect::SendToPeer {
                    op, to, request, ..
                } => {
                    let j = self.index_of(&to);
                    let lost = self.lose();
                    match (self.nodes[j].behaviour, &*request) {
                        (Behaviour::Silent, _) => {}
                        _ if lost => {}
                        (Behaviour::Late, _) => self.late.push((j, i, op, *request)),
                        (Behaviour::AckWithoutStoring, Request::Replicate(r)) => {
                            let key = nightjar_crypto::identity::PublicKey::from_bytes(
                                r.account.as_bytes(),
                            )
                            .unwrap();
                            let hash = MessageHash::new(nightjar_crypto::hash::message_hash(
                                &key,
                                r.namespace,
                                &r.data,
                            ));
                            let forger = Identity::generate().unwrap();
                            let forged = receipt_by(
                                &forger,
                                crate::core::node_key_of(&self.nodes[j].entry.id.0),
                                &hash,
                                r.expiry_ms,
                            );
                            let answer = crate::core::stored_response(
                                now,
                                hash,
                                r.expiry_ms,
                                false,
                                vec![forged],
                            );
                            self.nodes[i].core.handle_peer_answer(now, op, Ok(answer));
                        }
                        (
                            Behaviour::AckForAnotherMessage | Behaviour::AckWithoutReceipt,
                            Request::Replicate(r),
                        ) => {
                            let key = nightjar_crypto::identity::PublicKey::from_bytes(
                                r.account.as_bytes(),
                            )
                            .unwrap();
                            let hash = MessageHash::new(nightjar_crypto::hash::message_hash(
                                &key,
                                r.namespace,
                                &r.data,
                            ));
                            // A genuine signature of this member, over another hash.
                            let other = MessageHash::new(nightjar_crypto::hash::message_hash(
                                &key, 9, b"other",
                            ));
                            let signed = receipt_by(
                                &self.nodes[j].core.identity,
                                crate::core::node_key_of(&self.nodes[j].entry.id.0),
                                &other,
                                r.expiry_ms,
                            );
                            let receipts = match self.nodes[j].behaviour {
                                Behaviour::AckForAnotherMessage => vec![signed],
                                _ => Vec::new(),
                            };
                            let answer = crate::core::stored_response(
                                now,
                                hash,
                                r.expiry_ms,
                                false,
                                receipts,
                            );
                            self.nodes[i].core.handle_peer_answer(now, op, Ok(answer));
                        }
                        _ => {
                            let id = RequestId(self.next_request);
                            self.next_request += 1;
                            self.in_flight.insert((j, id), (i, op));
                            let from = self.nodes[i].entry.id.0;
                            self.nodes[j].deliver(now, id, Some(&from), *request);
                        }
                    }
                }
                Effect::CancelPeer { op } => {
                    self.in_flight.retain(|_, v| *v != (i, op));
                }
                Effect::Event(e) => self.events.push((i, e)),
            }
            self.collect();
        }
    }

    /// Deliver the requests held for late nodes.
    fn release_late(&mut self) {
        for (j, i, op, request) in std::mem::take(&mut self.late) {
            let id = RequestId(self.next_request);
            self.next_request += 1;
            self.in_flight.insert((j, id), (i, op));
            let from = self.nodes[i].entry.id.0;
            self.nodes[j].deliver(self.now, id, Some(&from), request);
        }
        self.pump();
    }

    fn advance(&mut self, ms: u64) {
        self.now += ms;
        for node in &mut self.nodes {
            if node.core.poll_timeout().is_some_and(|t| t <= self.now) {
                node.core.handle_timeout(self.now);
            }
        }
        self.pump();
    }

    /// A client request to node `i`.
    fn request(&mut self, i: usize, request: Request) -> RequestId {
        let id = RequestId(self.next_request);
        self.next_request += 1;
        self.nodes[i].deliver(self.now, id, None, request);
        self.pump();
        id
    }

    fn answer(&mut self, i: usize, id: RequestId) -> Option<Response> {
        self.answers.remove(&(i, id))
    }

    fn held(&self, i: usize, account: &Identity) -> usize {
        self.nodes[i]
            .store
            .retrieve(
                &AccountKey::new(account.public_key().to_bytes()),
                0,
                0,
                self.now,
                100,
                1 << 20,
            )
            .unwrap()
            .len()
    }
}

fn store_req(account: &Identity, data: &[u8]) -> Request {
    Request::Store(StoreRequest {
        account: AccountKey::new(account.public_key().to_bytes()),
        namespace: 0,
        ttl_ms: 3_600_000,
        data: data.to_vec(),
    })
}

fn retrieve_req(account: &Identity, ts: u64, wait_ms: u32) -> Request {
    let key = AccountKey::new(account.public_key().to_bytes());
    let data = nightjar_wire::retrieve_signed_data(&key, 0, 0, wait_ms, ts);
    Request::Retrieve(RetrieveRequest {
        account: key,
        namespace: 0,
        after_seq: 0,
        wait_ms,
        timestamp_ms: ts,
        signature: account.sign_labelled(LABEL_RETRIEVE, &data),
    })
}

fn code(r: &Response) -> Option<ErrorCode> {
    match &r.body {
        ResponseBody::Error { code, .. } => Some(*code),
        _ => None,
    }
}

/// `identity`'s receipt for one message, as a tree of one leaf (its root
/// is the leaf, its path empty), naming `node_key`.
fn receipt_by(
    identity: &Identity,
    node_key: NodeKey,
    hash: &MessageHash,
    expiry_ms: u64,
) -> Receipt {
    let leaf = nightjar_crypto::receipt_tree::leaf_hash(hash.as_bytes(), expiry_ms);
    Receipt {
        node_key,
        expiry_ms,
        signature: identity.sign_labelled(
            LABEL_RECEIPT_BATCH,
            &nightjar_wire::receipt_batch_signed_data(&leaf, 1),
        ),
        leaf_index: 0,
        tree_size: 1,
        path: Vec::new(),
    }
}

fn receipts(r: &Response) -> Vec<Receipt> {
    match &r.body {
        ResponseBody::Stored { receipts, .. } => receipts.clone(),
        other => panic!("expected stored, got {other:?}"),
    }
}

/// A message of `key`'s namespace 0 with `data`, stored at `now` for an hour.
fn held_for_an_hour(
    key: &nightjar_crypto::identity::PublicKey,
    data: Vec<u8>,
    now: u64,
) -> nightjar_store::NewMessage {
    nightjar_store::NewMessage {
        account: AccountKey::new(key.to_bytes()),
        namespace: 0,
        hash: MessageHash::new(nightjar_crypto::hash::message_hash(key, 0, &data)),
        data,
        now_ms: now,
        expiry_ms: now + 3_600_000,
    }
}

#[test]
fn store_reaches_quorum_with_verified_receipts_and_replicates_to_all() {
    for memory in [false, true] {
        let mut net = Net::new(memory, 3, &[0, 1, 2]);
        let alice = Identity::generate().unwrap();
        let id = net.request(0, store_req(&alice, b"hello"));
        let answer = net.answer(0, id).unwrap();
        let rs = receipts(&answer);
        assert!(rs.len() >= 2, "a majority of 3 signed: {rs:?}");
        assert_eq!(
            rs[0].node_key,
            crate::core::node_key_of(&net.nodes[0].entry.id.0)
        );
        for i in 0..3 {
            assert_eq!(net.held(i, &alice), 1, "node {i} holds the message");
        }
        assert_eq!(net.nodes[0].core.open_writes(), 0);
        assert_eq!(net.nodes[0].core.open_ops(), 0);
    }
}

/// `n` stores delivered to node 0 before any is committed; their
/// answers, in order, with each message's hash.
fn stores_in_one_batch(net: &mut Net, n: usize) -> Vec<(MessageHash, Response)> {
    net.batch_writes = true;
    let alice = Identity::generate().unwrap();
    let key = alice.public_key();
    let mut ids = Vec::new();
    for k in 0..n {
        let data = format!("message {k}").into_bytes();
        let hash = MessageHash::new(nightjar_crypto::hash::message_hash(&key, 0, &data));
        let id = RequestId(net.next_request);
        net.next_request += 1;
        net.nodes[0].deliver(net.now, id, None, store_req(&alice, &data));
        ids.push((hash, id));
    }
    net.pump();
    ids.into_iter()
        .map(|(hash, id)| (hash, net.answer(0, id).unwrap()))
        .collect()
}

#[test]
fn a_batch_of_stores_gets_one_signature_and_a_path_each_that_verifies() {
    const N: usize = 13;
    for memory in [false, true] {
        let mut net = Net::new(memory, 1, &[0]);
        let answers = stores_in_one_batch(&mut net, N);
        let key = net.nodes[0].entry.id.0;
        let own: Vec<Receipt> = answers
            .iter()
            .map(|(_, a)| {
                let rs = receipts(a);
                assert_eq!(rs.len(), 1, "{a:?}");
                rs[0].clone()
            })
            .collect();
        // One signature, over one tree of N leaves, one leaf each.
        assert!(own.iter().all(|r| r.signature == own[0].signature));
        assert!(own.iter().all(|r| r.tree_size == N as u32));
        let mut leaves: Vec<u32> = own.iter().map(|r| r.leaf_index).collect();
        leaves.sort_unstable();
        assert_eq!(leaves, (0..N as u32).collect::<Vec<_>>());
        for ((hash, _), r) in answers.iter().zip(&own) {
            assert!(r.path.len() <= 4, "a path of at most log2(16) hashes");
            assert!(receipt_verifies(&Ed25519, &key, hash, r));
        }
    }
}

#[test]
fn a_receipt_for_another_message_or_a_tampered_tree_is_refused() {
    for memory in [false, true] {
        let mut net = Net::new(memory, 1, &[0]);
        let answers = stores_in_one_batch(&mut net, 5);
        let key = net.nodes[0].entry.id.0;
        let (hash, answer) = &answers[1];
        let r = receipts(answer)[0].clone();
        assert!(receipt_verifies(&Ed25519, &key, hash, &r));
        // Another message's hash (in the same batch, or not), another expiry.
        let (other, _) = &answers[2];
        assert!(!receipt_verifies(&Ed25519, &key, other, &r));
        assert!(!receipt_verifies(
            &Ed25519,
            &key,
            &MessageHash::new([0; 32]),
            &r
        ));
        let later = Receipt {
            expiry_ms: r.expiry_ms + 1,
            ..r.clone()
        };
        assert!(!receipt_verifies(&Ed25519, &key, hash, &later));
        // A path that leads to another root: a hash changed, the leaf
        // moved, the tree's size changed, a hash dropped or added.
        let mut tampered = r.clone();
        tampered.path[0][0] ^= 1;
        assert!(!receipt_verifies(&Ed25519, &key, hash, &tampered));
        for leaf_index in [0, 2, 3, 4] {
            let moved = Receipt {
                leaf_index,
                ..r.clone()
            };
            assert!(!receipt_verifies(&Ed25519, &key, hash, &moved));
        }
        for tree_size in [2, 4, 6, 8] {
            let resized = Receipt {
                tree_size,
                ..r.clone()
            };
            assert!(!receipt_verifies(&Ed25519, &key, hash, &resized));
        }
        let mut shorter = r.clone();
        shorter.path.pop();
        assert!(!receipt_verifies(&Ed25519, &key, hash, &shorter));
        let mut longer = r.clone();
        longer.path.push([0; 32]);
        assert!(!receipt_verifies(&Ed25519, &key, hash, &longer));
        // The signature of another key, or a changed one.
        let stranger = Identity::generate().unwrap().public_key();
        assert!(!receipt_verifies(&Ed25519, &stranger, hash, &r));
        let mut bad = r.clone();
        bad.signature[0] ^= 1;
        assert!(!receipt_verifies(&Ed25519, &key, hash, &bad));
    }
}

#[test]
fn batched_stores_reach_quorum_with_every_members_receipt_verified() {
    for memory in [false, true] {
        let mut net = Net::new(memory, 3, &[0, 1, 2]);
        let answers = stores_in_one_batch(&mut net, 6);
        let keys: Vec<_> = (0..3).map(|i| net.nodes[i].entry.id.0).collect();
        for (hash, answer) in &answers {
            let rs = receipts(answer);
            assert!(rs.len() >= 2, "a majority of 3 signed: {rs:?}");
            for r in &rs {
                let key = keys
                    .iter()
                    .find(|k| crate::core::node_key_of(k) == r.node_key)
                    .unwrap();
                assert!(receipt_verifies(&Ed25519, key, hash, r));
            }
            // The entry node signed the six in one tree.
            assert_eq!(rs[0].tree_size, 6);
        }
    }
}

#[test]
fn member_with_a_forged_receipt_is_not_counted() {
    for memory in [false, true] {
        let mut net = Net::new(memory, 3, &[0, 1, 2]);
        net.nodes[1].behaviour = Behaviour::AckWithoutStoring;
        net.nodes[2].behaviour = Behaviour::AckWithoutStoring;
        let alice = Identity::generate().unwrap();
        let id = net.request(0, store_req(&alice, b"hello"));
        let answer = net.answer(0, id).unwrap();
        assert_eq!(
            code(&answer),
            Some(ErrorCode::QuorumNotReached),
            "{answer:?}"
        );
        assert!(
            net.events
                .iter()
                .any(|(_, e)| *e == CoreEvent::PeerFailed { what: "replicate" })
        );
    }
}

#[test]
fn store_answers_quorum_not_reached_at_the_deadline_and_forgets_silent_peers() {
    for memory in [false, true] {
        // No sync rounds during the test: only the store's requests are in flight.
        let config = CoreConfig {
            sync_interval_ms: 86_400_000,
            ..CoreConfig::default()
        };
        let mut net = Net::with_config(memory, 3, &[0, 1, 2], &config);
        net.nodes[1].behaviour = Behaviour::Silent;
        net.nodes[2].behaviour = Behaviour::Silent;
        let alice = Identity::generate().unwrap();
        let id = net.request(0, store_req(&alice, b"hello"));
        assert!(net.answer(0, id).is_none(), "waits for the quorum");
        net.advance(9_999);
        assert!(net.answer(0, id).is_none());
        net.advance(1);
        let answer = net.answer(0, id).unwrap();
        assert_eq!(code(&answer), Some(ErrorCode::QuorumNotReached));
        // The silent peers' requests are given up after one more timeout.
        net.advance(10_000);
        net.advance(1_000);
        assert_eq!(net.nodes[0].core.open_writes(), 0);
        assert_eq!(net.nodes[0].core.open_ops(), 0);
        assert_eq!(net.nodes[0].core.open_requests(), 0);
    }
}

#[test]
fn pending_writes_are_bounded() {
    for memory in [false, true] {
        let mut net = Net::new(memory, 3, &[0, 1, 2]);
        net.nodes[1].behaviour = Behaviour::Silent;
        net.nodes[2].behaviour = Behaviour::Silent;
        net.nodes[0].core.config.max_pending_writes = 2;
        let alice = Identity::generate().unwrap();
        let a = net.request(0, store_req(&alice, b"1"));
        let b = net.request(0, store_req(&alice, b"2"));
        let c = net.request(0, store_req(&alice, b"3"));
        assert!(net.answer(0, a).is_none() && net.answer(0, b).is_none());
        assert_eq!(
            code(&net.answer(0, c).unwrap()),
            Some(ErrorCode::Unavailable)
        );
        net.advance(10_000);
        let d = net.request(0, store_req(&alice, b"4"));
        assert!(net.answer(0, d).is_none(), "slots freed by the answers");
    }
}

#[test]
fn delete_is_forwarded_to_the_swarm_and_tombstones_everywhere() {
    for memory in [false, true] {
        let mut net = Net::new(memory, 3, &[0, 1, 2]);
        let alice = Identity::generate().unwrap();
        let id = net.request(0, store_req(&alice, b"bye"));
        let ResponseBody::Stored { hash, .. } = net.answer(0, id).unwrap().body else {
            panic!()
        };
        let account = AccountKey::new(alice.public_key().to_bytes());
        let data = nightjar_wire::delete_signed_data(&account, 0, &[hash], net.now);
        let del = Request::Delete(DeleteRequest {
            account,
            namespace: 0,
            hashes: vec![hash],
            timestamp_ms: net.now,
            signature: alice.sign_labelled(LABEL_DELETE, &data),
        });
        let id = net.request(1, del);
        assert!(matches!(
            net.answer(1, id).unwrap().body,
            ResponseBody::Deleted { count: 1 }
        ));
        for i in 0..3 {
            assert_eq!(net.held(i, &alice), 0, "node {i} deleted it");
        }
    }
}

#[test]
fn parked_retrieve_is_woken_by_a_store_and_answered_empty_at_its_deadline() {
    for memory in [false, true] {
        let mut net = Net::new(memory, 1, &[0]);
        let alice = Identity::generate().unwrap();
        let waiting = net.request(0, retrieve_req(&alice, net.now, 5_000));
        assert!(net.answer(0, waiting).is_none());
        assert_eq!(net.nodes[0].core.waiting_retrieves(), 1);
        let s = net.request(0, store_req(&alice, b"wake up"));
        assert!(net.answer(0, s).is_some());
        match net.answer(0, waiting).unwrap().body {
            ResponseBody::Messages { messages, .. } => assert_eq!(messages.len(), 1),
            other => panic!("{other:?}"),
        }
        let bob = Identity::generate().unwrap();
        let empty = net.request(0, retrieve_req(&bob, net.now, 5_000));
        net.advance(4_999);
        assert!(net.answer(0, empty).is_none());
        net.advance(1);
        match net.answer(0, empty).unwrap().body {
            ResponseBody::Messages { messages, .. } => assert!(messages.is_empty()),
            other => panic!("{other:?}"),
        }
        assert_eq!(net.nodes[0].core.waiting_retrieves(), 0);
        assert_eq!(net.nodes[0].core.open_requests(), 0);
    }
}

#[test]
fn client_going_away_drops_its_parked_retrieve() {
    for memory in [false, true] {
        let mut net = Net::new(memory, 1, &[0]);
        let alice = Identity::generate().unwrap();
        let waiting = net.request(0, retrieve_req(&alice, net.now, 5_000));
        net.nodes[0].core.handle_client_gone(net.now, waiting);
        net.pump();
        assert_eq!(net.nodes[0].core.waiting_retrieves(), 0);
        assert_eq!(net.nodes[0].core.open_requests(), 0);
    }
}

#[test]
fn onion_is_relayed_and_delivered_and_the_answer_opens() {
    for memory in [false, true] {
        let mut net = Net::new(memory, 2, &[0, 1]);
        let frame = Request::Info.to_frame();
        let hops = vec![
            (net.nodes[0].entry.id.0, 5_000),
            (net.nodes[1].entry.id.0, 0),
        ];
        let (packet, keys) = nightjar_crypto::onion::build(&hops, &frame).unwrap();
        let id = net.request(
            0,
            Request::Onion(nightjar_wire::OnionRequest {
                ephemeral_key: packet.ephemeral_key,
                layer: packet.layer,
                hop: 0,
            }),
        );
        let ResponseBody::Onion(blob) = net.answer(0, id).unwrap().body else {
            panic!("expected an onion answer")
        };
        let inner = Response::from_frame(&keys.open(&blob).unwrap()).unwrap();
        match inner.body {
            ResponseBody::Info { node_key, .. } => {
                assert_eq!(node_key, crate::core::node_key_of(&net.nodes[1].entry.id.0))
            }
            other => panic!("{other:?}"),
        }
        assert!(net.events.iter().any(|(i, e)| *i == 1
            && matches!(
                e,
                CoreEvent::Answered {
                    kind: "onion_deliver",
                    outcome: "ok",
                    ..
                }
            )));
    }
}

#[test]
fn sync_round_pulls_missing_messages_and_tombstones() {
    for memory in [false, true] {
        let mut net = Net::new(memory, 2, &[0, 1]);
        let alice = Identity::generate().unwrap();
        // Node 1 is silent while node 0 takes two stores; a quorum of one
        // member is enough here.
        net.nodes[0].core.config.write_quorum = crate::core::WriteQuorum::Count(1);
        net.nodes[0]
            .core
            .logic
            .set_quorum(crate::core::WriteQuorum::Count(1));
        net.nodes[1].behaviour = Behaviour::Silent;
        let a = net.request(0, store_req(&alice, b"one"));
        let b = net.request(0, store_req(&alice, b"two"));
        let ResponseBody::Stored { hash, .. } = net.answer(0, a).unwrap().body else {
            panic!()
        };
        assert!(net.answer(0, b).is_some());
        // Delete "one" on node 0 only (as a node-forwarded delete, not fanned out).
        net.nodes[0]
            .store
            .delete(
                AccountKey::new(alice.public_key().to_bytes()),
                0,
                vec![hash],
                net.now,
                3_600_000,
            )
            .unwrap();
        net.nodes[1].behaviour = Behaviour::Honest;
        assert_eq!(net.held(1, &alice), 0);
        // A retrieve waiting on node 1 is woken by the pull.
        let waiting = net.request(1, retrieve_req(&alice, net.now, 60_000));
        net.advance(5_000); // sync interval
        let round = net
            .events
            .iter()
            .find_map(|(i, e)| match e {
                CoreEvent::SyncRound {
                    pulled, tombstones, ..
                } if *i == 1 => Some((*pulled, *tombstones)),
                _ => None,
            })
            .unwrap();
        assert_eq!(round, (1, 1), "node 1 pulled one message and one tombstone");
        assert_eq!(net.held(1, &alice), 1);
        match net.answer(1, waiting).unwrap().body {
            ResponseBody::Messages { messages, .. } => assert_eq!(messages[0].data, b"two"),
            other => panic!("{other:?}"),
        }
    }
}

#[test]
fn hand_off_drops_data_only_after_a_verified_quorum() {
    for memory in [false, true] {
        // Node 0 left the registry (nodes 1..=3 remain) but holds a message.
        for forging in [false, true] {
            let mut net = Net::new(memory, 4, &[1, 2, 3]);
            let alice = Identity::generate().unwrap();
            let key = alice.public_key();
            let data = b"moving".to_vec();
            net.nodes[0]
                .store
                .store(held_for_an_hour(&key, data, net.now))
                .unwrap();
            if forging {
                net.nodes[2].behaviour = Behaviour::AckWithoutStoring;
                net.nodes[3].behaviour = Behaviour::AckWithoutStoring;
            }
            net.advance(5_000);
            let handed = net
                .events
                .iter()
                .find_map(|(i, e)| match e {
                    CoreEvent::SyncRound { handed_off, .. } if *i == 0 => Some(*handed_off),
                    _ => None,
                })
                .unwrap();
            if forging {
                assert_eq!(handed, 0);
                assert_eq!(net.held(0, &alice), 1, "kept: only one verified copy");
            } else {
                assert_eq!(handed, 1);
                assert_eq!(net.held(0, &alice), 0, "dropped after a verified quorum");
                assert_eq!(net.held(1, &alice), 1);
            }
            assert_eq!(net.nodes[0].core.open_writes(), 0);
        }
    }
}

#[test]
fn replication_continues_after_the_answer() {
    for memory in [false, true] {
        let mut net = Net::new(memory, 3, &[0, 1, 2]);
        net.nodes[2].behaviour = Behaviour::Late;
        let alice = Identity::generate().unwrap();
        let id = net.request(0, store_req(&alice, b"later"));
        assert_eq!(receipts(&net.answer(0, id).unwrap()).len(), 2);
        assert_eq!(net.held(2, &alice), 0);
        assert_eq!(net.nodes[0].core.open_writes(), 1, "still replicating");
        net.release_late();
        assert_eq!(net.held(2, &alice), 1, "the late member got its copy");
        assert_eq!(net.nodes[0].core.open_writes(), 0);
        assert_eq!(net.nodes[0].core.open_ops(), 0);
    }
}

#[test]
fn onion_relay_to_a_silent_hop_answers_a_timed_out_hop_error_and_forgets_it() {
    for memory in [false, true] {
        let config = CoreConfig {
            sync_interval_ms: 86_400_000,
            ..CoreConfig::default()
        };
        let mut net = Net::with_config(memory, 3, &[0, 1, 2], &config);
        net.nodes[1].behaviour = Behaviour::Silent;
        let frame = Request::Info.to_frame();
        let hops = vec![
            (net.nodes[0].entry.id.0, 2_000),
            (net.nodes[1].entry.id.0, 2_000),
            (net.nodes[2].entry.id.0, 0),
        ];
        let (packet, keys) = nightjar_crypto::onion::build(&hops, &frame).unwrap();
        let id = net.request(
            0,
            Request::Onion(nightjar_wire::OnionRequest {
                ephemeral_key: packet.ephemeral_key,
                layer: packet.layer,
                hop: 0,
            }),
        );
        assert!(net.answer(0, id).is_none());
        // The driver reports nothing: the core's own deadline (the hop's
        // timeout and a grace) answers.
        net.advance(2_000 + PEER_GRACE_MS);
        let ResponseBody::Onion(blob) = net.answer(0, id).unwrap().body else {
            panic!("expected an onion answer")
        };
        match keys.open(&blob) {
            Err(nightjar_crypto::onion::OnionError::HopFailed { hop, failure }) => {
                assert_eq!(hop, 0);
                assert_eq!(failure, nightjar_crypto::onion::HopFailure::TimedOut);
            }
            other => panic!("{other:?}"),
        }
        assert_eq!(net.nodes[0].core.open_ops(), 0);
        assert_eq!(net.nodes[0].core.open_requests(), 0);
    }
}

/// The digests a node serves for its own arc, asked by node `from`.
fn served_digests(net: &mut Net, i: usize, from: usize) -> Vec<[u8; 32]> {
    let (_, _, arc) = net.nodes[i].core.own_arc().unwrap();
    let id = RequestId(net.next_request);
    net.next_request += 1;
    let peer = net.nodes[from].entry.id.0;
    net.nodes[i].deliver(
        net.now,
        id,
        Some(&peer),
        Request::SyncDigest {
            start: arc.start,
            end: arc.end,
            buckets: crate::sync::SYNC_BUCKETS,
        },
    );
    net.pump();
    match net.answer(i, id).unwrap().body {
        ResponseBody::Digest(d) => d,
        other => panic!("{other:?}"),
    }
}

/// The digests of node `i`'s own arc computed from a listing of it all.
fn listed_digests(net: &Net, i: usize) -> Vec<[u8; 32]> {
    let (view, swarm, arc) = net.nodes[i].core.own_arc().unwrap();
    let entries = net.nodes[i]
        .store
        .list_range(arc.start, arc.end, net.now)
        .unwrap();
    let owned = crate::sync::owned(&view.map, swarm, entries);
    crate::sync::bucket_digests(arc, crate::sync::SYNC_BUCKETS, &owned)
}

#[test]
fn digests_are_listed_again_only_for_buckets_a_write_or_an_expiry_changed() {
    for memory in [false, true] {
        let mut net = Net::new(memory, 3, &[0, 1, 2]);
        let alice = Identity::generate().unwrap();
        let bob = Identity::generate().unwrap();
        for text in [&b"one"[..], b"two", b"three"] {
            let id = net.request(0, store_req(&alice, text));
            assert!(net.answer(0, id).is_some());
        }
        net.advance(5_000);
        let reads = |net: &Net| -> Vec<u64> {
            net.nodes
                .iter()
                .map(|n| n.core.digests.bucket_reads)
                .collect()
        };
        let first = reads(&net);
        assert!(
            first.iter().all(|&r| r > 0),
            "the first round lists: {first:?}"
        );
        // Nothing changed: the next rounds (and the digests each node
        // serves its peers) come from the cache.
        net.advance(5_000);
        assert_eq!(reads(&net), first);
        // One store touches one bucket on each node that holds it.
        let ttl = nightjar_wire::MIN_TTL_MS;
        let short = Request::Store(StoreRequest {
            account: AccountKey::new(bob.public_key().to_bytes()),
            namespace: 0,
            ttl_ms: ttl,
            data: b"short-lived".to_vec(),
        });
        let id = net.request(0, short);
        assert!(net.answer(0, id).is_some());
        net.advance(5_000);
        let after_write = reads(&net);
        for i in 0..3 {
            assert_eq!(after_write[i], first[i] + 1, "node {i}: {after_write:?}");
            assert_eq!(
                served_digests(&mut net, i, (i + 1) % 3),
                listed_digests(&net, i)
            );
        }
        assert_eq!(reads(&net), after_write, "served from the cache");
        // Bob's message expires: its bucket's digest changes with it.
        let before = listed_digests(&net, 1);
        net.advance(ttl);
        let after = listed_digests(&net, 1);
        assert_ne!(before, after);
        assert_eq!(served_digests(&mut net, 1, 0), after);
        assert!(reads(&net)[1] > after_write[1]);
    }
}

/// `n` accounts whose ring positions fall in one bucket of `net`'s arc.
fn accounts_in_one_bucket(net: &Net, n: usize) -> Vec<Identity> {
    let (_, _, arc) = net.nodes[0].core.own_arc().unwrap();
    let bucket_of = |id: &Identity| {
        let position = nightjar_crypto::hash::ring_position_of_bytes(&id.public_key().to_bytes());
        arc.bucket_of(position, crate::sync::SYNC_BUCKETS)
    };
    let first = Identity::generate().unwrap();
    let bucket = bucket_of(&first);
    let mut found = vec![first];
    while found.len() < n {
        let id = Identity::generate().unwrap();
        if bucket_of(&id) == bucket {
            found.push(id);
        }
    }
    found
}

/// Store `messages` on node `i` behind its core's back (a member that had
/// them before the test), committing SQLite writes in batches.
fn seed(net: &Net, i: usize, messages: &[nightjar_store::NewMessage]) {
    match &net.nodes[i].sqlite {
        Some(sqlite) => {
            let waiting: Vec<_> = messages.iter().map(|m| sqlite.store(m.clone())).collect();
            for rx in waiting {
                rx.blocking_recv().unwrap().unwrap();
            }
        }
        None => {
            for m in messages {
                net.nodes[i].store.store(m.clone()).unwrap();
            }
        }
    }
}

#[test]
fn a_wiped_member_catches_up_on_a_bucket_of_more_than_one_sync_page() {
    const PER_ACCOUNT: usize = 7_000;
    for memory in [false, true] {
        let mut net = Net::new(memory, 3, &[0, 1, 2]);
        net.batch_writes = true;
        // Three accounts in one of the 64 buckets, 21,000 messages in all:
        // more than one `sync_list` answer holds.
        let accounts = accounts_in_one_bucket(&net, 3);
        let mut messages = Vec::new();
        for account in &accounts {
            let key = account.public_key();
            for n in 0..PER_ACCOUNT {
                let data = (n as u64).to_be_bytes().to_vec();
                messages.push(held_for_an_hour(&key, data, net.now));
            }
        }
        let total = messages.len() as u64;
        assert!(total > nightjar_wire::MAX_SYNC_ENTRIES as u64);
        // Nodes 0 and 1 hold them all; node 2 was wiped.
        seed(&net, 0, &messages);
        seed(&net, 1, &messages);
        let held = |net: &Net, i: usize| net.nodes[i].store.stats().unwrap().messages;
        assert_eq!(held(&net, 2), 0);
        for _ in 0..3 {
            net.advance(5_000);
        }
        assert_eq!(held(&net, 2), total, "memory store: {memory}");
        assert_eq!(listed_digests(&net, 2), listed_digests(&net, 0));
        let pulled: u64 = net
            .events
            .iter()
            .filter_map(|(i, e)| match e {
                CoreEvent::SyncRound { pulled, .. } if *i == 2 => Some(*pulled),
                _ => None,
            })
            .sum();
        assert_eq!(pulled, total, "each message pulled once");
        assert_eq!(net.nodes[2].core.open_ops(), 0);
    }
}

#[test]
fn hand_off_refuses_answers_whose_receipts_do_not_verify_and_keeps_its_copy() {
    // Node 0 left the registry (nodes 1..=3 remain, a write quorum is 2)
    // and holds a message. One new owner is honest; the other two answer
    // `stored` with a receipt that does not verify for this message (one of
    // each kind in turn). Only one copy is verified, so node 0 keeps its copy.
    let bad = [
        Behaviour::AckWithoutStoring,
        Behaviour::AckForAnotherMessage,
        Behaviour::AckWithoutReceipt,
    ];
    for memory in [false, true] {
        for (a, b) in [(0, 1), (1, 2), (2, 0)] {
            let mut net = Net::new(memory, 4, &[1, 2, 3]);
            let alice = Identity::generate().unwrap();
            let key = alice.public_key();
            let data = b"moving".to_vec();
            net.nodes[0]
                .store
                .store(held_for_an_hour(&key, data, net.now))
                .unwrap();
            net.nodes[2].behaviour = bad[a];
            net.nodes[3].behaviour = bad[b];
            for _ in 0..3 {
                net.advance(5_000);
            }
            let handed: u64 = net
                .events
                .iter()
                .filter_map(|(i, e)| match e {
                    CoreEvent::SyncRound { handed_off, .. } if *i == 0 => Some(*handed_off),
                    _ => None,
                })
                .sum();
            let refused = net
                .events
                .iter()
                .filter(|(i, e)| *i == 0 && *e == CoreEvent::PeerFailed { what: "replicate" })
                .count();
            assert_eq!(handed, 0, "{:?} and {:?}", bad[a], bad[b]);
            assert_eq!(net.held(0, &alice), 1, "node 0 keeps its copy");
            assert!(refused >= 2 * 3, "two refused answers a round: {refused}");
            assert_eq!(net.held(1, &alice), 1, "the honest owner got its copy");
            assert_eq!(net.nodes[0].core.open_writes(), 0);
        }
    }
}

#[test]
fn replicas_to_a_silent_member_are_bounded_and_the_rest_fail_at_once() {
    for memory in [false, true] {
        let config = CoreConfig {
            sync_interval_ms: 86_400_000,
            max_peer_in_flight: 4,
            max_peer_queue: 8,
            ..CoreConfig::default()
        };
        let mut net = Net::with_config(memory, 3, &[0, 1, 2], &config);
        net.nodes[2].behaviour = Behaviour::Silent;
        let alice = Identity::generate().unwrap();
        for n in 0..100u32 {
            let id = net.request(0, store_req(&alice, &n.to_be_bytes()));
            // Node 1's receipt and node 0's own make the quorum of 2.
            assert_eq!(receipts(&net.answer(0, id).unwrap()).len(), 2);
            let core = &net.nodes[0].core;
            assert!(core.peer_requests_in_flight() <= 4);
            assert!(core.peer_requests_queued() <= 8);
            assert!(core.open_writes() <= 4 + 8, "{}", core.open_writes());
        }
        assert_eq!(net.nodes[0].core.peer_requests_in_flight(), 4);
        assert_eq!(net.nodes[0].core.peer_requests_queued(), 8);
        let refused = net
            .events
            .iter()
            .filter(|(i, e)| *i == 0 && *e == CoreEvent::PeerFailed { what: "replicate" })
            .count();
        assert_eq!(refused, 100 - 4 - 8, "the rest failed at once");
        // The silent member's requests time out in turn (the queued ones
        // counting from when they were queued); then nothing is left.
        net.advance(config.quorum_timeout_ms + PEER_GRACE_MS);
        net.advance(config.quorum_timeout_ms + PEER_GRACE_MS);
        let core = &net.nodes[0].core;
        assert_eq!(
            (core.peer_requests_in_flight(), core.peer_requests_queued()),
            (0, 0)
        );
        assert_eq!(core.open_writes(), 0);
        assert_eq!(core.open_ops(), 0);
    }
}

#[test]
fn a_peer_bound_lets_the_queued_replicas_go_as_answers_come_back() {
    for memory in [false, true] {
        let config = CoreConfig {
            max_peer_in_flight: 2,
            max_peer_queue: 100,
            ..CoreConfig::default()
        };
        let mut net = Net::with_config(memory, 3, &[0, 1, 2], &config);
        net.nodes[2].behaviour = Behaviour::Late;
        let alice = Identity::generate().unwrap();
        for n in 0..10u32 {
            let id = net.request(0, store_req(&alice, &n.to_be_bytes()));
            assert!(net.answer(0, id).is_some());
        }
        assert_eq!(net.late.len(), 2, "two sent to the late member");
        assert_eq!(net.nodes[0].core.peer_requests_queued(), 8);
        // Each answer lets the next one go, until all ten are there.
        while !net.late.is_empty() {
            net.release_late();
        }
        assert_eq!(net.held(2, &alice), 10);
        assert_eq!(net.nodes[0].core.open_writes(), 0);
    }
}

#[test]
fn sync_answers_read_in_pages_whatever_the_range_holds() {
    for memory in [false, true] {
        let config = CoreConfig {
            sync_interval_ms: 86_400_000,
            ..CoreConfig::default()
        };
        let mut net = Net::with_config(memory, 3, &[0, 1, 2], &config);
        net.batch_writes = true;
        // 25,000 entries in one bucket of node 0's arc: more than a page of
        // any listing.
        let accounts = accounts_in_one_bucket(&net, 3);
        let mut messages = Vec::new();
        for (a, account) in accounts.iter().enumerate() {
            let key = account.public_key();
            let count = if a == 2 { 5_000 } else { 10_000 };
            for n in 0..count {
                let data = (n as u64).to_be_bytes().to_vec();
                messages.push(held_for_an_hour(&key, data, net.now));
            }
        }
        seed(&net, 0, &messages);
        net.listings.clear();
        // Digests of the own arc (nothing cached yet) ...
        assert_eq!(served_digests(&mut net, 0, 1), listed_digests(&net, 0));
        // ... of a range this node does not cache (another bucket count) ...
        let (view, swarm, arc) = net.nodes[0].core.own_arc().unwrap();
        let id = RequestId(net.next_request);
        net.next_request += 1;
        let peer = net.nodes[1].entry.id.0;
        net.nodes[0].deliver(
            net.now,
            id,
            Some(&peer),
            Request::SyncDigest {
                start: arc.start,
                end: arc.end,
                buckets: 16,
            },
        );
        net.pump();
        let all = net.nodes[0]
            .store
            .list_range(arc.start, arc.end, net.now)
            .unwrap();
        let expected =
            crate::sync::bucket_digests(arc, 16, &crate::sync::owned(&view.map, swarm, all));
        match net.answer(0, id).unwrap().body {
            ResponseBody::Digest(d) => assert_eq!(d, expected),
            other => panic!("{other:?}"),
        }
        // ... and a listing of the whole arc, page by page.
        let mut after = None;
        let mut listed = 0;
        loop {
            let id = RequestId(net.next_request);
            net.next_request += 1;
            net.nodes[0].deliver(
                net.now,
                id,
                Some(&peer),
                Request::SyncList {
                    start: arc.start,
                    end: arc.end,
                    after,
                },
            );
            net.pump();
            let ResponseBody::Entries { entries, next, .. } = net.answer(0, id).unwrap().body
            else {
                panic!("expected entries")
            };
            listed += entries.len();
            match next {
                Some(n) => after = Some(n),
                None => break,
            }
        }
        assert_eq!(listed, messages.len());
        // No store read for these answers listed more than a page: the work
        // each input does under the node's lock is bounded by a page.
        let reads: Vec<usize> = net
            .listings
            .iter()
            .filter(|(i, _)| *i == 0)
            .map(|(_, limit)| *limit)
            .collect();
        assert!(reads.len() >= 6, "paged: {reads:?}");
        assert!(
            reads.iter().all(|&l| l <= nightjar_wire::MAX_SYNC_ENTRIES),
            "{reads:?}"
        );
    }
}
