//! Swarms on a real devnet: quorum writes survive crashed members, killed and
//! wiped nodes catch up by anti-entropy, and membership changes move data to
//! the new owners without losing anything acknowledged.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod support;

use std::collections::BTreeSet;
use std::net::SocketAddr;
use std::time::{Duration, Instant};

use nightjar_client::{Client, Profile, logic};
use nightjar_crypto::identity::Identity;
use nightjar_registry::NetworkFile;
use nightjar_wire::{MessageHash, ResponseBody};
use serde_json::Value;
use support::{Devnet, held_by, run_ok, unix_now_ms as now_ms};

const TTL: Duration = Duration::from_secs(3600);

fn network(devnet: &Devnet) -> NetworkFile {
    NetworkFile::load(&devnet.network()).unwrap()
}

/// Wait until every member of `account`'s current swarm holds all of `expected`.
async fn wait_converged(
    devnet: &Devnet,
    account: &Identity,
    expected: &BTreeSet<String>,
    limit: Duration,
) {
    let started = Instant::now();
    loop {
        let map = nightjar_client::swarm_map(&network(devnet)).unwrap();
        let swarm = map.swarm_for_account(&account.public_key()).unwrap();
        let members = map.members(swarm).unwrap();
        let mut missing = Vec::new();
        for m in &members {
            match held_by(m, account).await {
                Some(held) if expected.is_subset(&held) => {}
                Some(held) => missing.push(format!(
                    "{} lacks {}",
                    m.id,
                    expected.difference(&held).count()
                )),
                None => missing.push(format!("{} unreachable", m.id)),
            }
        }
        if missing.is_empty() {
            return;
        }
        assert!(
            started.elapsed() < limit,
            "swarm did not converge in {limit:?}: {missing:?}"
        );
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
}

async fn sender(devnet: &Devnet, dir: &std::path::Path) -> Client {
    let profile = Profile::create(dir, Identity::generate().unwrap(), None).unwrap();
    Client::connect(
        profile,
        &network(devnet),
        SocketAddr::from(([127, 0, 0, 1], 0)),
    )
    .await
    .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn acknowledged_messages_survive_killed_members_and_killed_or_wiped_nodes_catch_up() {
    let devnet = Devnet::up(12);
    let bob = support::TestProfile::new(&devnet.network());
    let (bob_id, bob_phrase) = bob.create();
    let bob_identity = Identity::from_mnemonic(&bob_phrase).unwrap();

    let swarm: Value =
        serde_json::from_str(&run_ok(bob.cmd().args(["swarm", &bob_id, "--json"]))).unwrap();
    let members: Vec<String> = swarm["nodes"]
        .as_array()
        .unwrap()
        .iter()
        .map(|n| n["node_id"].as_str().unwrap().to_string())
        .collect();
    assert!(
        (5..=10).contains(&members.len()),
        "swarm of {}",
        members.len()
    );
    assert_eq!(swarm["swarm_id"].as_str().unwrap().len(), 16);
    let index = devnet.indices();
    // Kill the two members the client prefers for Bob: the worst case.
    let preferred = logic::preference_order(
        &bob_identity.account_id(),
        nightjar_client::swarm_map(&network(&devnet))
            .unwrap()
            .nodes()
            .into_iter()
            .filter(|n| members.contains(&n.id.to_string()))
            .collect(),
    );
    let victims = [
        index[&preferred[0].id.to_string()],
        index[&preferred[1].id.to_string()],
    ];

    // A node outside Bob's swarm answers a store with Bob's swarm.
    let map = nightjar_client::swarm_map(&network(&devnet)).unwrap();
    let outsider = map
        .nodes()
        .into_iter()
        .find(|n| !members.contains(&n.id.to_string()))
        .unwrap();
    let endpoint =
        nightjar_transport::client_endpoint(SocketAddr::from(([127, 0, 0, 1], 0))).unwrap();
    let conn = nightjar_transport::connect(&endpoint, outsider.addr, &outsider.id.0)
        .await
        .unwrap();
    let misdirected = logic::prepare_send(
        &Identity::generate().unwrap(),
        &bob_identity.account_id(),
        "x",
        now_ms(),
        TTL,
    )
    .unwrap();
    match nightjar_transport::request(&conn, &misdirected.request, Duration::from_secs(10))
        .await
        .unwrap()
        .body
    {
        ResponseBody::WrongSwarm(info) => {
            let named: BTreeSet<String> = info.nodes.iter().map(|(k, _)| hex::encode(k)).collect();
            assert_eq!(named, members.iter().cloned().collect::<BTreeSet<_>>());
            assert_eq!(
                format!("{:016x}", info.swarm_id),
                swarm["swarm_id"].as_str().unwrap()
            );
        }
        other => panic!("expected wrong_swarm, got {other:?}"),
    }

    let tmp = tempfile::tempdir().unwrap();
    let mut alice = sender(&devnet, &tmp.path().join("alice")).await;
    let to = bob_id.parse().unwrap();
    // With two of the swarm's 5–10 members killed, a majority is still
    // alive, and the client tries the other members when one fails: every
    // store must be acknowledged.
    let mut acked = BTreeSet::new();
    let mut failed = Vec::new();
    for i in 0..1000 {
        if i == 300 {
            devnet.cmd(&["stop-node", "--kill", "--index", &victims[0].to_string()]);
        }
        if i == 600 {
            devnet.cmd(&["stop-node", "--kill", "--index", &victims[1].to_string()]);
        }
        match alice.send(&to, &format!("message {i}"), TTL).await {
            Ok(sent) => {
                assert!(acked.insert(sent.message_id), "message ids are unique");
            }
            Err(e) => failed.push(format!("message {i}: {e:?}")),
        }
    }
    assert!(
        failed.is_empty(),
        "{} of 1000 stores not acknowledged with two members down:\n{}",
        failed.len(),
        failed.join("\n")
    );
    assert_eq!(acked.len(), 1000);

    // Every acknowledged message is read back exactly once.
    let got = bob.inbox(&[]);
    let ids: Vec<String> = got
        .iter()
        .map(|m| m["message_id"].as_str().unwrap().to_string())
        .collect();
    let unique: BTreeSet<String> = ids.iter().cloned().collect();
    assert_eq!(ids.len(), unique.len(), "a message was shown twice");
    assert!(
        acked.is_subset(&unique),
        "{} acknowledged messages missing",
        acked.difference(&unique).count()
    );

    // Restart the first victim as it was, and the second with an empty disk.
    let wiped = devnet.dir.path().join(format!("node-{}", victims[1]));
    for f in [
        "messages.sqlite",
        "messages.sqlite-wal",
        "messages.sqlite-shm",
    ] {
        let _ = std::fs::remove_file(wiped.join(f));
    }
    devnet.cmd(&["start-node", "--index", &victims[0].to_string()]);
    devnet.cmd(&["start-node", "--index", &victims[1].to_string()]);
    wait_converged(&devnet, &bob_identity, &acked, Duration::from_secs(90)).await;
    alice.close().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn nodes_joining_and_leaving_while_messages_flow_lose_nothing() {
    let devnet = Devnet::up(10);
    let tmp = tempfile::tempdir().unwrap();
    let mut alice = sender(&devnet, &tmp.path().join("alice")).await;
    let recipients: Vec<Identity> = (0..6).map(|_| Identity::generate().unwrap()).collect();
    let mut acked: Vec<BTreeSet<String>> = vec![BTreeSet::new(); recipients.len()];

    let mut step = 0;
    let changes: [&[&str]; 5] = [
        &["add-node"],
        &["remove-node", "--index", "0"],
        &["add-node"],
        &["remove-node", "--index", "1"],
        &["add-node"],
    ];
    // Every node stays up (a node that leaves keeps running to hand its data
    // over), and a client that meets a node no longer in the swarm follows
    // its `wrong_swarm` answer: every store must be acknowledged.
    let mut failed = Vec::new();
    for change in changes {
        devnet.cmd(change);
        for _ in 0..20 {
            let r = step % recipients.len();
            step += 1;
            match alice
                .send(&recipients[r].account_id(), &format!("message {step}"), TTL)
                .await
            {
                Ok(sent) => {
                    assert!(acked[r].insert(sent.message_id), "message ids are unique");
                }
                Err(e) => failed.push(format!("message {step} after {change:?}: {e:?}")),
            }
        }
    }
    assert!(
        failed.is_empty(),
        "{} of 100 stores not acknowledged:\n{}",
        failed.len(),
        failed.join("\n")
    );
    let total: usize = acked.iter().map(BTreeSet::len).sum();
    assert_eq!(total, 100);

    // Every account's messages end up on every member of its current swarm
    // (including the nodes that joined empty), and are retrievable.
    for (r, identity) in recipients.iter().enumerate() {
        wait_converged(&devnet, identity, &acked[r], Duration::from_secs(90)).await;
    }
    for r in 0..recipients.len() {
        let dir = tmp.path().join(format!("r{r}"));
        let profile = Profile::create(
            &dir,
            Identity::from_seed(recipients[r].seed().clone()),
            None,
        )
        .unwrap();
        let mut client = Client::connect(
            profile,
            &network(&devnet),
            SocketAddr::from(([127, 0, 0, 1], 0)),
        )
        .await
        .unwrap();
        let got: BTreeSet<String> = client
            .inbox(None)
            .await
            .unwrap()
            .into_iter()
            .map(|m| m.message_id)
            .collect();
        assert_eq!(got, acked[r], "recipient {r}");
        client.close().await;
    }
    alice.close().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_delete_reaches_every_member_and_sync_never_brings_the_message_back() {
    let devnet = Devnet::up(5);
    let tmp = tempfile::tempdir().unwrap();
    let mut alice = sender(&devnet, &tmp.path().join("alice")).await;
    let bob = Identity::generate().unwrap();
    let mut ids = Vec::new();
    for i in 0..3 {
        ids.push(
            alice
                .send(&bob.account_id(), &format!("m{i}"), TTL)
                .await
                .unwrap()
                .message_id,
        );
    }
    let all: BTreeSet<String> = ids.iter().cloned().collect();
    wait_converged(&devnet, &bob, &all, Duration::from_secs(60)).await;

    // One member is down while the first message is deleted through another.
    let map = nightjar_client::swarm_map(&network(&devnet)).unwrap();
    let members = map
        .members(map.swarm_for_account(&bob.public_key()).unwrap())
        .unwrap();
    let index = devnet.indices();
    let (down, via) = (&members[0], &members[1]);
    devnet.cmd(&[
        "stop-node",
        "--kill",
        "--index",
        &index[&down.id.to_string()].to_string(),
    ]);
    let endpoint =
        nightjar_transport::client_endpoint(SocketAddr::from(([127, 0, 0, 1], 0))).unwrap();
    let conn = nightjar_transport::connect(&endpoint, via.addr, &via.id.0)
        .await
        .unwrap();
    let hash: [u8; 32] = hex::decode(&ids[0]).unwrap().try_into().unwrap();
    let hash = MessageHash::new(hash);
    let resp = nightjar_transport::request(
        &conn,
        &logic::delete_request(&bob, 0, vec![hash], now_ms()),
        Duration::from_secs(10),
    )
    .await
    .unwrap();
    assert!(
        matches!(resp.body, ResponseBody::Deleted { count: 1 }),
        "{resp:?}"
    );
    devnet.cmd(&[
        "start-node",
        "--index",
        &index[&down.id.to_string()].to_string(),
    ]);

    // The member that missed the delete learns it from its peers, and no
    // peer re-learns the message from it.
    let rest: BTreeSet<String> = ids[1..].iter().cloned().collect();
    let started = Instant::now();
    loop {
        let mut held = Vec::new();
        for m in &members {
            held.push(held_by(m, &bob).await);
        }
        if held.iter().all(|h| h.as_ref() == Some(&rest)) {
            break;
        }
        assert!(
            started.elapsed() < Duration::from_secs(60),
            "delete did not converge: {held:?}"
        );
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
    alice.close().await;
}
