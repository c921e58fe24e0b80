//! Published namespaces and claims on a real devnet (`docs/PROTOCOL.md`
//! §5.12, §5.13): an account publishes records through its client; a node
//! refuses a record the account did not sign; anyone reads the records
//! without a signature; two clients claiming one one-time record at the
//! same time through onion paths get it once between them, and the claimed
//! record is gone from every member's public reads.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod support;

use std::collections::BTreeSet;
use std::net::SocketAddr;
use std::time::{Duration, Instant};

use nightjar_client::{Client, Profile, logic};
use nightjar_crypto::identity::{Identity, PublicKey};
use nightjar_registry::{NetworkFile, NodeEntry};
use nightjar_wire::namespace::{ONE_TIME_PREKEYS, PREKEY_BUNDLE};
use nightjar_wire::{ErrorCode, MessageHash, Request, ResponseBody, StoreRequest};
use support::{Devnet, error_code};

const TTL: Duration = Duration::from_secs(3600);

async fn client(devnet: &Devnet, dir: &std::path::Path, identity: Identity) -> Client {
    let profile = Profile::create(dir, identity, None).unwrap();
    let network = NetworkFile::load(&devnet.network()).unwrap();
    Client::connect(profile, &network, SocketAddr::from(([127, 0, 0, 1], 0)))
        .await
        .unwrap()
}

/// A direct connection to `node` (no onion: this test plays a node's
/// neighbour, not a client whose address matters).
async fn connect(node: &NodeEntry) -> quinn::Connection {
    let endpoint =
        nightjar_transport::client_endpoint(SocketAddr::from(([127, 0, 0, 1], 0))).unwrap();
    nightjar_transport::connect(&endpoint, node.addr, &node.id.0)
        .await
        .unwrap()
}

/// The hashes `node` hands out to an unsigned read of `account`'s
/// `namespace`.
async fn public_hashes(
    node: &NodeEntry,
    account: &PublicKey,
    namespace: u16,
) -> BTreeSet<MessageHash> {
    let conn = connect(node).await;
    let request = logic::public_retrieve_request(account, namespace, 0, 0).unwrap();
    let resp = nightjar_transport::request(&conn, &request, Duration::from_secs(10))
        .await
        .unwrap();
    conn.close(0u32.into(), b"done");
    match resp.body {
        ResponseBody::Messages { messages, .. } => messages.iter().map(|m| m.hash).collect(),
        other => panic!("expected messages, got {other:?}"),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_clients_claim_one_record_through_onion_paths_and_one_gets_it() {
    let devnet = Devnet::up(5);
    let tmp = tempfile::tempdir().unwrap();
    let owner_id = Identity::generate().unwrap();
    let owner_key = owner_id.public_key();
    let owner_account = owner_id.account_id();
    let mut owner = client(&devnet, &tmp.path().join("owner"), owner_id.clone()).await;
    let mut alice = client(
        &devnet,
        &tmp.path().join("alice"),
        Identity::generate().unwrap(),
    )
    .await;
    let mut bob = client(
        &devnet,
        &tmp.path().join("bob"),
        Identity::generate().unwrap(),
    )
    .await;

    // The owner publishes a bundle and two one-time records.
    let bundle = owner
        .publish(PREKEY_BUNDLE, b"signed prekey bundle", TTL)
        .await
        .unwrap();
    let first = owner
        .publish(ONE_TIME_PREKEYS, b"one-time prekey 1", TTL)
        .await
        .unwrap();
    let second = owner
        .publish(ONE_TIME_PREKEYS, b"one-time prekey 2", TTL)
        .await
        .unwrap();

    // Anyone reads them through a path, no signature needed.
    let bundles = alice
        .published(&owner_account, PREKEY_BUNDLE)
        .await
        .unwrap();
    assert_eq!(bundles.len(), 1);
    assert_eq!(
        (bundles[0].hash, &bundles[0].body[..]),
        (bundle, &b"signed prekey bundle"[..])
    );
    let offered: BTreeSet<MessageHash> = bob
        .published(&owner_account, ONE_TIME_PREKEYS)
        .await
        .unwrap()
        .iter()
        .map(|r| r.hash)
        .collect();
    assert_eq!(offered, BTreeSet::from([first, second]));

    // A record the owner did not sign is refused by every member.
    let map = nightjar_client::swarm_map(&NetworkFile::load(&devnet.network()).unwrap()).unwrap();
    let members = map
        .members(map.swarm_for_account(&owner_key).unwrap())
        .unwrap();
    let mallory = Identity::generate().unwrap();
    let forged = nightjar_crypto::published::sign(&mallory, PREKEY_BUNDLE, b"mallory's bundle");
    let forged_store = Request::Store(StoreRequest {
        account: nightjar_wire::AccountKey::new(owner_key.to_bytes()),
        namespace: PREKEY_BUNDLE,
        ttl_ms: 3_600_000,
        data: forged,
    });
    for node in &members {
        let conn = connect(node).await;
        let resp = nightjar_transport::request(&conn, &forged_store, Duration::from_secs(10))
            .await
            .unwrap();
        assert_eq!(error_code(&resp), Some(ErrorCode::BadSignature), "{resp:?}");
        conn.close(0u32.into(), b"done");
    }

    // Both claim the first record at once, each through its own paths.
    let (a, b) = tokio::join!(
        alice.claim(&owner_account, ONE_TIME_PREKEYS, first),
        bob.claim(&owner_account, ONE_TIME_PREKEYS, first)
    );
    let (a, b) = (a.unwrap(), b.unwrap());
    let winners: Vec<_> = [&a, &b].into_iter().flatten().collect();
    assert_eq!(
        winners.len(),
        1,
        "exactly one claimant gets it: {a:?} {b:?}"
    );
    assert_eq!(winners[0].hash, first);
    assert_eq!(winners[0].body, b"one-time prekey 1");
    // The loser, asking again, still does not get it.
    let (loser, again) = if a.is_some() {
        (&mut bob, "bob")
    } else {
        (&mut alice, "alice")
    };
    assert_eq!(
        loser
            .claim(&owner_account, ONE_TIME_PREKEYS, first)
            .await
            .unwrap(),
        None,
        "{again} again"
    );

    // The claimed record leaves every member's public reads; the other
    // one stays on offer.
    let started = Instant::now();
    loop {
        let mut offered = Vec::new();
        for node in &members {
            offered.push(public_hashes(node, &owner_key, ONE_TIME_PREKEYS).await);
        }
        if offered.iter().all(|o| *o == BTreeSet::from([second])) {
            break;
        }
        assert!(
            started.elapsed() < Duration::from_secs(20),
            "members still offer: {offered:?}"
        );
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
    // And the second record can still be claimed.
    let got = alice
        .claim(&owner_account, ONE_TIME_PREKEYS, second)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(got.body, b"one-time prekey 2");

    owner.close().await;
    alice.close().await;
    bob.close().await;
    devnet.stop();
}
