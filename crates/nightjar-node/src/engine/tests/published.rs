//! Published namespaces and claims, on cores wired together in memory
//! (`docs/PROTOCOL.md` §5.12, §5.13): only the account's signed records
//! are stored, replicated or pulled there, anyone reads them, and a
//! claimable record goes to one claimant only, whatever the interleaving.

use nightjar_crypto::published;
use nightjar_types::Claimant;
use nightjar_types::namespace::{ONE_TIME_PREKEYS, PREKEY_BUNDLE};
use nightjar_wire::{ClaimRequest, ReplicateRequest};

use super::*;

/// A store of `data` in `account`'s `namespace`, for an hour.
fn store_in(account: &Identity, namespace: u16, data: Vec<u8>) -> Request {
    Request::Store(StoreRequest {
        account: AccountKey::new(account.public_key().to_bytes()),
        namespace,
        ttl_ms: 3_600_000,
        data,
    })
}

/// `account`'s record of `body` in `namespace`, and its message hash.
fn record(account: &Identity, namespace: u16, body: &[u8]) -> (Vec<u8>, MessageHash) {
    let data = published::sign(account, namespace, body);
    let hash = MessageHash::new(nightjar_crypto::hash::message_hash(
        &account.public_key(),
        namespace,
        &data,
    ));
    (data, hash)
}

/// An unsigned retrieve of `account`'s `namespace`.
fn public_retrieve(account: &Identity, namespace: u16) -> Request {
    Request::Retrieve(RetrieveRequest::public(
        AccountKey::new(account.public_key().to_bytes()),
        namespace,
        0,
        0,
    ))
}

fn claim_req(account: &Identity, hash: MessageHash, claimant: u8) -> Request {
    Request::Claim(ClaimRequest {
        account: AccountKey::new(account.public_key().to_bytes()),
        namespace: ONE_TIME_PREKEYS,
        hash,
        claimant: Claimant::new([claimant; 16]),
    })
}

/// The data of the messages of a `messages` answer.
fn datas(r: &Response) -> Vec<Vec<u8>> {
    match &r.body {
        ResponseBody::Messages { messages, .. } => {
            messages.iter().map(|m| m.data.clone()).collect()
        }
        other => panic!("expected messages, got {other:?}"),
    }
}

/// What node `i` answers a public retrieve of `account`'s `namespace`.
fn read_public(net: &mut Net, i: usize, account: &Identity, namespace: u16) -> Vec<Vec<u8>> {
    let id = net.request(i, public_retrieve(account, namespace));
    datas(&net.answer(i, id).unwrap())
}

/// The record of a `claimed` answer.
fn claimed(r: &Response) -> Option<Vec<u8>> {
    match &r.body {
        ResponseBody::Claimed { data } => Some(data.clone()),
        _ => None,
    }
}

/// A net of `n` nodes in one swarm, without anti-entropy rounds during
/// the test.
fn swarm(memory: bool, n: usize) -> Net {
    let config = CoreConfig {
        sync_interval_ms: 86_400_000,
        ..CoreConfig::default()
    };
    let all: Vec<usize> = (0..n).collect();
    let net = Net::with_config(memory, n, &all, &config);
    let members = net.nodes[0]
        .core
        .logic
        .map()
        .unwrap()
        .swarm_of_node(&net.nodes[0].core.me)
        .and_then(|s| net.nodes[0].core.logic.map().unwrap().members(s))
        .unwrap();
    assert_eq!(members.len(), n, "one swarm of {n}");
    net
}

#[test]
fn a_published_store_needs_the_accounts_signed_record_and_anyone_reads_it() {
    for memory in [false, true] {
        let mut net = swarm(memory, 3);
        let alice = Identity::generate().unwrap();
        let mallory = Identity::generate().unwrap();
        let (valid, _) = record(&alice, PREKEY_BUNDLE, b"bundle");
        let forged = published::sign(&mallory, PREKEY_BUNDLE, b"bundle");
        let (moved, _) = record(&alice, ONE_TIME_PREKEYS, b"bundle");
        let mut altered = valid.clone();
        *altered.last_mut().unwrap() ^= 1;
        for bad in [b"unsigned".to_vec(), forged, moved, altered, vec![1; 63]] {
            let id = net.request(0, store_in(&alice, PREKEY_BUNDLE, bad));
            assert_eq!(
                code(&net.answer(0, id).unwrap()),
                Some(ErrorCode::BadSignature)
            );
        }
        for i in 0..3 {
            assert_eq!(net.nodes[i].store.stats().unwrap().messages, 0, "node {i}");
        }
        let id = net.request(0, store_in(&alice, PREKEY_BUNDLE, valid.clone()));
        assert_eq!(receipts(&net.answer(0, id).unwrap()).len(), 2);
        // Anyone reads it from any member, unsigned, again and again.
        for i in 0..3 {
            for _ in 0..2 {
                assert_eq!(
                    read_public(&mut net, i, &alice, PREKEY_BUNDLE),
                    std::slice::from_ref(&valid)
                );
            }
        }
        assert_eq!(net.nodes[0].core.replay_entries(), 0, "no replay cache");
        // Other namespaces still need the account's signature.
        let unsigned = Request::Retrieve(RetrieveRequest {
            timestamp_ms: net.now,
            ..RetrieveRequest::public(AccountKey::new(alice.public_key().to_bytes()), 0, 0, 0)
        });
        let id = net.request(0, unsigned);
        assert_eq!(
            code(&net.answer(0, id).unwrap()),
            Some(ErrorCode::BadSignature)
        );
        // And plain namespaces take any data, as before.
        let id = net.request(0, store_in(&alice, 0, b"sealed envelope".to_vec()));
        assert_eq!(receipts(&net.answer(0, id).unwrap()).len(), 2);
    }
}

#[test]
fn a_replica_that_is_not_the_accounts_record_is_refused() {
    for memory in [false, true] {
        let mut net = swarm(memory, 3);
        let alice = Identity::generate().unwrap();
        let replicate = |data: Vec<u8>, now: u64| {
            Request::Replicate(ReplicateRequest {
                account: AccountKey::new(alice.public_key().to_bytes()),
                namespace: PREKEY_BUNDLE,
                data,
                expiry_ms: now + 3_600_000,
            })
        };
        let from = net.nodes[0].entry.id.0;
        let forged = published::sign(&Identity::generate().unwrap(), PREKEY_BUNDLE, b"x");
        let id = RequestId(9_000);
        net.nodes[1].deliver(net.now, id, Some(&from), replicate(forged, net.now));
        net.pump();
        assert_eq!(
            code(&net.answer(1, id).unwrap()),
            Some(ErrorCode::BadSignature)
        );
        assert_eq!(net.nodes[1].store.stats().unwrap().messages, 0);
        let (valid, _) = record(&alice, PREKEY_BUNDLE, b"x");
        let id = RequestId(9_001);
        net.nodes[1].deliver(net.now, id, Some(&from), replicate(valid, net.now));
        net.pump();
        assert_eq!(receipts(&net.answer(1, id).unwrap()).len(), 1);
    }
}

#[test]
fn anti_entropy_keeps_only_the_accounts_signed_records() {
    for memory in [false, true] {
        let config = CoreConfig {
            sync_interval_ms: 5_000,
            ..CoreConfig::default()
        };
        let mut net = Net::with_config(memory, 2, &[0, 1], &config);
        let alice = Identity::generate().unwrap();
        let key = alice.public_key();
        let (valid, _) = record(&alice, PREKEY_BUNDLE, b"good");
        let forged = published::sign(&Identity::generate().unwrap(), PREKEY_BUNDLE, b"bad");
        // Node 1 holds both behind its core's back (a member that lies or
        // was written to directly); node 0 holds neither.
        let held = |data: Vec<u8>| nightjar_store::NewMessage {
            namespace: PREKEY_BUNDLE,
            hash: MessageHash::new(nightjar_crypto::hash::message_hash(
                &key,
                PREKEY_BUNDLE,
                &data,
            )),
            ..held_for_an_hour(&key, data, NOW)
        };
        seed(&net, 1, &[held(valid.clone()), held(forged)]);
        net.advance(5_000);
        net.advance(5_000);
        assert_eq!(read_public(&mut net, 0, &alice, PREKEY_BUNDLE), [valid]);
        assert!(
            net.events
                .iter()
                .any(|(i, e)| *i == 0 && *e == CoreEvent::PeerFailed { what: "sync" })
        );
    }
}

#[test]
fn a_claim_hands_the_record_to_one_claimant_who_may_ask_again() {
    for memory in [false, true] {
        let mut net = swarm(memory, 5);
        let alice = Identity::generate().unwrap();
        let (one, hash) = record(&alice, ONE_TIME_PREKEYS, b"one-time prekey 1");
        let (two, _) = record(&alice, ONE_TIME_PREKEYS, b"one-time prekey 2");
        for data in [&one, &two] {
            let id = net.request(0, store_in(&alice, ONE_TIME_PREKEYS, data.clone()));
            assert!(net.answer(0, id).is_some());
        }
        for i in 0..5 {
            assert_eq!(read_public(&mut net, i, &alice, ONE_TIME_PREKEYS).len(), 2);
        }
        let a = net.request(1, claim_req(&alice, hash, 0xa));
        assert_eq!(claimed(&net.answer(1, a).unwrap()), Some(one.clone()));
        // Every member recorded the claim: the record is gone from their
        // public reads, the other one stays.
        for i in 0..5 {
            assert_eq!(
                read_public(&mut net, i, &alice, ONE_TIME_PREKEYS),
                std::slice::from_ref(&two),
                "node {i}"
            );
        }
        let b = net.request(2, claim_req(&alice, hash, 0xb));
        assert_eq!(
            code(&net.answer(2, b).unwrap()),
            Some(ErrorCode::AlreadyClaimed)
        );
        // The same claimant again, at another entry node: the record again.
        let again = net.request(3, claim_req(&alice, hash, 0xa));
        assert_eq!(claimed(&net.answer(3, again).unwrap()), Some(one.clone()));
        for i in 0..5 {
            assert_eq!(net.nodes[i].core.open_claims(), 0, "node {i}");
            assert_eq!(net.nodes[i].core.open_ops(), 0, "node {i}");
        }
        // A record nobody holds: the yes votes bring no copy.
        let nothing = MessageHash::new([7; 32]);
        let id = net.request(0, claim_req(&alice, nothing, 0xc));
        assert_eq!(
            code(&net.answer(0, id).unwrap()),
            Some(ErrorCode::AlreadyClaimed)
        );
    }
}

#[test]
fn a_claim_from_a_registered_node_is_that_members_vote_only() {
    for memory in [false, true] {
        let mut net = swarm(memory, 3);
        let alice = Identity::generate().unwrap();
        let (one, hash) = record(&alice, ONE_TIME_PREKEYS, b"prekey");
        let id = net.request(0, store_in(&alice, ONE_TIME_PREKEYS, one.clone()));
        assert!(net.answer(0, id).is_some());
        let from = net.nodes[0].entry.id.0;
        let vote = RequestId(9_000);
        net.nodes[1].deliver(net.now, vote, Some(&from), claim_req(&alice, hash, 0xa));
        net.pump();
        assert_eq!(claimed(&net.answer(1, vote).unwrap()), Some(one.clone()));
        // Node 1 asked nobody: the others never heard of the claim.
        assert_eq!(read_public(&mut net, 1, &alice, ONE_TIME_PREKEYS).len(), 0);
        for i in [0, 2] {
            assert_eq!(
                read_public(&mut net, i, &alice, ONE_TIME_PREKEYS),
                std::slice::from_ref(&one)
            );
        }
        // Another claimant's vote there is a no.
        let vote = RequestId(9_001);
        net.nodes[1].deliver(net.now, vote, Some(&from), claim_req(&alice, hash, 0xb));
        net.pump();
        assert_eq!(
            code(&net.answer(1, vote).unwrap()),
            Some(ErrorCode::AlreadyClaimed)
        );
        // A member without the record votes yes with no copy.
        let vote = RequestId(9_002);
        let other = MessageHash::new([3; 32]);
        net.nodes[2].deliver(net.now, vote, Some(&from), claim_req(&alice, other, 0xb));
        net.pump();
        assert_eq!(claimed(&net.answer(2, vote).unwrap()), Some(Vec::new()));
    }
}

#[test]
fn a_claim_too_few_members_answer_is_not_reached_and_a_retry_wins() {
    for memory in [false, true] {
        let mut net = swarm(memory, 5);
        let alice = Identity::generate().unwrap();
        let (one, hash) = record(&alice, ONE_TIME_PREKEYS, b"prekey");
        let id = net.request(0, store_in(&alice, ONE_TIME_PREKEYS, one.clone()));
        assert!(net.answer(0, id).is_some());
        for i in [2, 3, 4] {
            net.nodes[i].behaviour = Behaviour::Silent;
        }
        let id = net.request(0, claim_req(&alice, hash, 0xa));
        assert!(net.answer(0, id).is_none(), "waits for the votes");
        net.advance(10_000);
        assert_eq!(
            code(&net.answer(0, id).unwrap()),
            Some(ErrorCode::QuorumNotReached)
        );
        net.advance(1_000);
        assert_eq!(net.nodes[0].core.open_claims(), 0);
        assert_eq!(net.nodes[0].core.open_ops(), 0);
        // The votes given stand: another claimant cannot win now either...
        net.nodes[2].behaviour = Behaviour::Honest;
        let id = net.request(2, claim_req(&alice, hash, 0xb));
        net.advance(10_000);
        assert_eq!(
            code(&net.answer(2, id).unwrap()),
            Some(ErrorCode::QuorumNotReached)
        );
        // ... and once the members answer, the first claimant's retry wins.
        for i in [3, 4] {
            net.nodes[i].behaviour = Behaviour::Honest;
        }
        let id = net.request(1, claim_req(&alice, hash, 0xa));
        assert_eq!(claimed(&net.answer(1, id).unwrap()), Some(one));
    }
}

#[test]
fn a_claim_needs_a_majority_even_with_a_smaller_write_quorum() {
    for memory in [false, true] {
        let config = CoreConfig {
            write_quorum: crate::core::WriteQuorum::Count(1),
            sync_interval_ms: 86_400_000,
            ..CoreConfig::default()
        };
        let mut net = Net::with_config(memory, 3, &[0, 1, 2], &config);
        let alice = Identity::generate().unwrap();
        let (one, hash) = record(&alice, ONE_TIME_PREKEYS, b"prekey");
        let id = net.request(0, store_in(&alice, ONE_TIME_PREKEYS, one.clone()));
        assert!(net.answer(0, id).is_some());
        net.nodes[1].behaviour = Behaviour::Silent;
        net.nodes[2].behaviour = Behaviour::Silent;
        // One yes (node 0's) would be a write quorum, not a majority.
        let id = net.request(0, claim_req(&alice, hash, 0xa));
        net.advance(10_000);
        assert_eq!(
            code(&net.answer(0, id).unwrap()),
            Some(ErrorCode::QuorumNotReached)
        );
        assert_eq!(crate::core::claim_quorum(1, 3), 2);
        assert_eq!(crate::core::claim_quorum(5, 5), 5);
        assert_eq!(crate::core::claim_quorum(1, 1), 1);
    }
}

/// Two claimants for one record, at two entry nodes of a 5-member swarm,
/// their votes and the members' store answers carried out in a random
/// order, some votes lost: never do both get the record.
#[test]
fn two_concurrent_claimants_never_both_win() {
    let mut outcomes = std::collections::BTreeMap::new();
    for seed in 0u8..48 {
        let memory = seed % 4 != 0;
        let mut net = swarm(memory, 5);
        let alice = Identity::generate().unwrap();
        let (one, hash) = record(&alice, ONE_TIME_PREKEYS, b"one-time prekey");
        let id = net.request(0, store_in(&alice, ONE_TIME_PREKEYS, one.clone()));
        assert!(net.answer(0, id).is_some());
        net.shuffle = Some(nightjar_crypto::SeededRandom::from_seed([seed; 32]));
        net.lose_per_mille = usize::from(seed % 3) * 150;
        let (x, y) = (usize::from(seed % 5), usize::from((seed / 5 + 1) % 5));
        // Both arrive before either entry node has done anything.
        let ida = RequestId(net.next_request);
        let idb = RequestId(net.next_request + 1);
        net.next_request += 2;
        let (now, a, b) = (
            net.now,
            claim_req(&alice, hash, 0xa),
            claim_req(&alice, hash, 0xb),
        );
        net.nodes[x].deliver(now, ida, None, a);
        net.nodes[y].deliver(now, idb, None, b);
        net.pump();
        net.advance(10_000);
        net.advance(2_000);
        let answers = [net.answer(x, ida).unwrap(), net.answer(y, idb).unwrap()];
        let won: Vec<Vec<u8>> = answers.iter().filter_map(claimed).collect();
        assert!(won.len() <= 1, "seed {seed}: both won: {answers:?}");
        assert!(won.iter().all(|d| *d == one), "seed {seed}");
        for r in &answers {
            assert!(
                claimed(r).is_some()
                    || matches!(
                        code(r),
                        Some(ErrorCode::AlreadyClaimed | ErrorCode::QuorumNotReached)
                    ),
                "seed {seed}: {r:?}"
            );
        }
        let winner = match (claimed(&answers[0]), claimed(&answers[1])) {
            (Some(_), _) => "a",
            (_, Some(_)) => "b",
            _ => "nobody",
        };
        *outcomes.entry(winner).or_insert(0) += 1;
        // The loser cannot win later either.
        net.shuffle = None;
        let a_again = net.request(1, claim_req(&alice, hash, 0xa));
        let b_again = net.request(2, claim_req(&alice, hash, 0xb));
        net.advance(10_000);
        let again = [
            net.answer(1, a_again).unwrap(),
            net.answer(2, b_again).unwrap(),
        ];
        assert!(
            again.iter().filter_map(claimed).count() <= 1,
            "seed {seed}: {again:?}"
        );
        for i in 0..5 {
            assert_eq!(net.nodes[i].core.open_claims(), 0, "seed {seed} node {i}");
        }
    }
    // The interleavings are different ones: either claimant may win.
    assert!(
        outcomes.get("a").is_some_and(|n| *n > 0) && outcomes.get("b").is_some_and(|n| *n > 0),
        "{outcomes:?}"
    );
}
