//! The follower against a real chain node: anvil, the committed contract
//! artifacts, registrations with real proofs from node identities, a junk
//! one, a reorganisation by `anvil_reorg`, and a restart from the state file
//! across a reorganisation by `evm_snapshot`/`evm_revert`.
//!
//! Needs anvil: `contrib/chain-tools.sh` installs it (the test runs it, and
//! fails with its message if it cannot; `contrib/test.sh` runs it first).

#![cfg(feature = "rpc")]
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod support;

use std::collections::BTreeSet;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use nightjar_chain::contact::encode_contact;
use nightjar_chain::rpc::ChainFollower;
use nightjar_chain::{Address, B256, FollowerConfig, FollowerEvent, NodeState, Snapshot};
use nightjar_crypto::identity::{Identity, Seed};
use nightjar_crypto::registration::RegistrationClaim;
use nightjar_registry::SwarmMap;
use serde_json::{Value, json};
use support::{Anvil, CHAIN_ID, Deployment, deploy};

fn identity(n: u8) -> Identity {
    Identity::from_seed(Seed::from_bytes([n; 32]))
}

fn key(n: u8) -> B256 {
    B256::from(identity(n).public_key().to_bytes())
}

fn contact(n: u8) -> Vec<u8> {
    encode_contact(&SocketAddr::from(([127, 0, 0, n], 40_000 + u16::from(n))))
}

/// Registers node `n` by `operator` with a real proof of possession.
async fn register(anvil: &Anvil, d: &Deployment, operator: Address, n: u8) {
    let nonce = d.nonce(anvil, operator).await;
    let claim = RegistrationClaim::new(
        CHAIN_ID,
        d.registry.into_array(),
        operator.into_array(),
        &identity(n).public_key(),
        nonce,
    );
    let proof = claim.sign(&identity(n)).unwrap();
    d.register(anvil, operator, key(n), contact(n), proof.to_vec())
        .await;
}

fn keys(snapshot: &Snapshot) -> BTreeSet<B256> {
    snapshot
        .nodes
        .iter()
        .map(|n| B256::from(n.id.0.to_bytes()))
        .collect()
}

fn follower_config(d: &Deployment) -> FollowerConfig {
    FollowerConfig {
        start_block: d.block,
        confirmations: 0,
        max_range: 3,
        poll_interval_ms: 100,
        stale_after_ms: 600_000,
        ..FollowerConfig::new(CHAIN_ID, d.registry, 2)
    }
}

/// Follows until a caught-up snapshot satisfies `done`; returns it and the
/// events seen.
async fn follow_until(
    follower: &mut ChainFollower,
    done: impl Fn(&Snapshot) -> bool,
) -> (Arc<Snapshot>, Vec<FollowerEvent>) {
    let mut events = Vec::new();
    let work = async {
        loop {
            let event = follower.next_event().await.unwrap();
            let synced = matches!(event, FollowerEvent::Synced { .. });
            events.push(event);
            if synced
                && let Some(s) = follower.snapshot()
                && done(&s)
            {
                return s;
            }
        }
    };
    match tokio::time::timeout(Duration::from_secs(60), work).await {
        Ok(s) => (s, events),
        Err(_) => panic!(
            "the follower did not get there within 60 s; status {:?}",
            follower.follower().status(follower.now_ms())
        ),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn follows_a_real_chain_through_a_reorg_and_a_restart() {
    let anvil = Anvil::start();
    let accounts = anvil.accounts().await;
    assert!(
        accounts.len() >= 6,
        "anvil has {} dev accounts",
        accounts.len()
    );
    let d = deploy(&anvil, accounts[0], &accounts[1..]).await;

    // Two real registrations, and a junk one (a proof that does not verify).
    register(&anvil, &d, accounts[1], 1).await;
    register(&anvil, &d, accounts[2], 2).await;
    d.register(&anvil, accounts[3], key(3), contact(3), vec![0x5a; 64])
        .await;
    anvil.mine(4).await;

    // Endpoint #0 is dead (nothing listens on port 1): the follower uses #1.
    let dir = tempfile::tempdir().unwrap();
    let state = dir.path().join("chain-state.json");
    let urls = vec!["http://127.0.0.1:1".to_owned(), anvil.url.clone()];
    let mut follower = ChainFollower::open(
        follower_config(&d),
        &urls,
        Some(state.clone()),
        Duration::from_secs(5),
    )
    .unwrap();
    let snapshot = follower.sync(Duration::from_secs(60)).await.unwrap();
    assert_eq!(keys(&snapshot), BTreeSet::from([key(1), key(2)]));
    assert_eq!(snapshot.block.number, anvil.head().await);
    let map = SwarmMap::replay(&snapshot.events).unwrap();
    assert_eq!(map.node_count(), 2);
    let node1 = snapshot
        .nodes
        .iter()
        .find(|n| n.id.0.to_bytes() == key(1).0)
        .unwrap();
    assert_eq!(node1.operator, accounts[1]);
    assert_eq!(node1.addr, "127.0.0.1:40001".parse::<SocketAddr>().unwrap());
    assert_eq!(node1.state, NodeState::Active);
    assert_eq!(node1.stake, support::stake());
    assert!(!follower.is_stale());

    // A third node registers, then anvil_reorg replaces the block holding
    // its registration (and the one after it): the node disappears.
    register(&anvil, &d, accounts[4], 4).await;
    anvil.mine(1).await;
    let (with4, _) = follow_until(&mut follower, |s| keys(s).contains(&key(4))).await;
    assert_eq!(keys(&with4).len(), 3);
    let _: Value = anvil.rpc("anvil_reorg", json!([2, []])).await;
    let (after, events) = follow_until(&mut follower, |s| !keys(s).contains(&key(4))).await;
    assert_eq!(keys(&after), BTreeSet::from([key(1), key(2)]));
    assert!(
        events
            .iter()
            .any(|e| matches!(e, FollowerEvent::Reorg { .. })),
        "{events:?}"
    );
    assert_ne!(after.block.hash, with4.block.hash);

    // An exit: the node leaves the swarms but stays listed as exiting.
    d.request_exit(&anvil, accounts[2], key(2)).await;
    let (exited, _) = follow_until(&mut follower, |s| {
        s.nodes.iter().any(|n| n.state == NodeState::Exiting)
    })
    .await;
    assert_eq!(SwarmMap::replay(&exited.events).unwrap().node_count(), 1);
    // The registry a node serves from it: the [chain] section lists both
    // nodes (one exiting) at the block of the exit's log, and reads back.
    let served = exited.registry("anvil");
    let origin = served.chain.as_ref().unwrap();
    assert_eq!(origin.nodes.len(), 2);
    assert_eq!(
        origin.block,
        exited.last_log_block.unwrap().number,
        "the block of the last contract log"
    );
    assert_eq!(served.height(), origin.block);
    let text = served.to_toml();
    assert_eq!(
        nightjar_registry::Registry::from_toml(&text).unwrap(),
        served
    );
    // Read further along the chain with nothing new: the same text.
    anvil.mine(3).await;
    let (later, _) = follow_until(&mut follower, |s| s.block.number > exited.block.number).await;
    assert_eq!(later.registry("anvil").to_toml(), text);

    // Restart across a reorganisation below the saved position: node 5
    // registers and is saved; the chain then reverts to before it and grows
    // past it while the follower is down.
    let before5: Value = anvil.rpc("evm_snapshot", json!([])).await;
    register(&anvil, &d, accounts[5], 5).await;
    let (with5, _) = follow_until(&mut follower, |s| keys(s).contains(&key(5))).await;
    follower.save().unwrap();
    drop(follower);
    let saved_at = with5.block.number;
    let reverted: bool = anvil.rpc("evm_revert", json!([before5])).await;
    assert!(reverted);
    anvil.mine(5).await;
    assert!(anvil.head().await > saved_at);

    let mut follower = ChainFollower::open(
        follower_config(&d),
        &urls,
        Some(state.clone()),
        Duration::from_secs(5),
    )
    .unwrap();
    // At once: the saved registry (stale until it has caught up).
    assert_eq!(follower.snapshot().unwrap().events, with5.events);
    assert!(follower.is_stale());
    let (resumed, events) = follow_until(&mut follower, |s| s.block.number > saved_at).await;
    assert!(
        events
            .iter()
            .any(|e| matches!(e, FollowerEvent::Reorg { .. })),
        "{events:?}"
    );
    assert!(!keys(&resumed).contains(&key(5)));
    assert_eq!(resumed.events, exited.events);
    assert!(!follower.is_stale());
}
