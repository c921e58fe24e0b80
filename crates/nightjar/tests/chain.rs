//! A devnet whose registry is the staking contract on a real local chain
//! (`devnet up`: anvil, the committed contract artifacts, every node
//! registered by a dev account and following the chain): messages flow, a
//! node registered later joins every node's registry, an exit request
//! takes a node out of the swarms while it stays listed as exiting, and a
//! chain that stops makes nodes report stale without dropping anyone.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod support;

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use nightjar_crypto::identity::{Identity, PublicKey};
use serde_json::Value;
use support::{Devnet, TestProfile, http_get};

/// `nightjar registry --json` as `profile`'s client sees it.
fn registry(profile: &TestProfile) -> Value {
    let out = support::run_ok(profile.cmd().args(["registry", "--json"]));
    serde_json::from_str(&out).unwrap()
}

/// Polls `registry --json` (each call bootstraps or refreshes through the
/// network) until `done` holds, for at most `limit`.
fn registry_until(profile: &TestProfile, limit: Duration, done: impl Fn(&Value) -> bool) -> Value {
    let started = Instant::now();
    loop {
        let r = registry(profile);
        if done(&r) {
            return r;
        }
        assert!(
            started.elapsed() < limit,
            "the registry did not get there in {limit:?}: {r}"
        );
        std::thread::sleep(Duration::from_millis(500));
    }
}

fn states(r: &Value) -> Vec<(String, String)> {
    r["nodes"]
        .as_array()
        .unwrap()
        .iter()
        .map(|n| {
            (
                n["node_id"].as_str().unwrap().to_owned(),
                n["state"].as_str().unwrap().to_owned(),
            )
        })
        .collect()
}

fn active(r: &Value) -> usize {
    states(r).iter().filter(|(_, s)| s == "active").count()
}

/// A fresh account whose swarm (as `profile`'s client sees it) holds the
/// node `node_id`.
fn account_in_swarm_of(profile: &TestProfile, node_id: &str) -> (Identity, String) {
    for _ in 0..64 {
        let identity = Identity::generate().unwrap();
        let account = identity.account_id().to_string();
        let swarm: Value = serde_json::from_str(&support::run_ok(
            profile.cmd().args(["swarm", &account, "--json"]),
        ))
        .unwrap();
        if swarm["nodes"]
            .as_array()
            .unwrap()
            .iter()
            .any(|n| n["node_id"] == node_id)
        {
            return (identity, account);
        }
    }
    panic!("no account of 64 lands in the swarm of {node_id}");
}

/// The members of `account`'s swarm (node ID and address), as `profile`'s
/// client sees it.
fn swarm_of(profile: &TestProfile, account: &str) -> Vec<(String, SocketAddr)> {
    let swarm: Value = serde_json::from_str(&support::run_ok(
        profile.cmd().args(["swarm", account, "--json"]),
    ))
    .unwrap();
    swarm["nodes"]
        .as_array()
        .unwrap()
        .iter()
        .map(|n| {
            (
                n["node_id"].as_str().unwrap().to_owned(),
                n["addr"].as_str().unwrap().parse().unwrap(),
            )
        })
        .collect()
}

/// Waits until the node `(id, addr)` holds a message for `account`.
fn wait_held(node: &(String, SocketAddr), account: &Identity, limit: Duration) {
    let key = PublicKey::from_slice(&hex::decode(&node.0).unwrap()).unwrap();
    let runtime = tokio::runtime::Runtime::new().unwrap();
    let started = Instant::now();
    loop {
        let held = runtime.block_on(support::held_at(node.1, &key, account));
        if held.is_some_and(|h| !h.is_empty()) {
            return;
        }
        assert!(
            started.elapsed() < limit,
            "node {} holds nothing for the account after {limit:?}",
            node.0
        );
        std::thread::sleep(Duration::from_millis(250));
    }
}

/// A metric's value from a node's admin address.
fn metric(admin: SocketAddr, name: &str) -> Option<f64> {
    http_get(admin, "/metrics")
        .lines()
        .find_map(|l| l.strip_prefix(&format!("{name} ")))
        .and_then(|v| v.trim().parse().ok())
}

#[test]
fn twelve_nodes_registered_on_chain_carry_messages_and_follow_joins_exits_and_a_stopped_chain() {
    let devnet = Devnet::up_on_chain(12);
    let status: Value = serde_json::from_str(&devnet.cmd(&["status", "--json"])).unwrap();
    let chain = &status["chain"];
    assert_eq!(chain["chain_id"], 31337);
    assert!(
        chain["rpc"]
            .as_str()
            .unwrap()
            .starts_with("http://127.0.0.1:")
    );
    for key in ["contract", "token"] {
        let address = chain[key].as_str().unwrap();
        assert!(
            address.starts_with("0x") && address.len() == 42,
            "{key}: {address}"
        );
    }
    assert!(
        !devnet.dir.path().join("registry.toml").exists(),
        "a chain devnet has no registry file"
    );

    // Messages both ways.
    let alice = TestProfile::new(&devnet.network());
    let bob = TestProfile::new(&devnet.network());
    let (alice_id, _) = alice.create();
    let (bob_id, _) = bob.create();
    let sent = alice.send(&bob_id, "registered on chain");
    let got = bob.inbox(&["--wait", "10"]);
    assert_eq!(got.len(), 1, "{got:?}");
    assert_eq!(got[0]["message_id"], sent.as_str());
    bob.send(&alice_id, "and back");
    assert_eq!(alice.inbox(&["--wait", "10"]).len(), 1);

    // The registry a client sees: every node active, staked, at a block.
    let r = registry(&alice);
    assert_eq!(active(&r), 12, "{r}");
    assert_eq!(r["stale"], false);
    assert_eq!(r["contract"], chain["contract"]);
    let block = r["block"].as_u64().unwrap();
    assert!(block > 0);
    for n in r["nodes"].as_array().unwrap() {
        assert_eq!(n["stake"], "25000000000000000000000");
        assert!(n["operator"].as_str().unwrap().starts_with("0x"));
    }
    // Checked against the chain through an RPC of the client's own.
    let checked: Value = serde_json::from_str(&support::run_ok(alice.cmd().args([
        "registry",
        "--json",
        "--confirmations",
        "0",
        "--rpc",
        chain["rpc"].as_str().unwrap(),
    ])))
    .unwrap();
    assert_eq!(checked["rpc"]["agrees"], true, "{checked}");

    // A 13th node registers while the network runs: every node takes it in.
    let added: Value = serde_json::from_str(&devnet.cmd(&["add-node", "--json"])).unwrap();
    let new_id = added["node_id"].as_str().unwrap().to_owned();
    let r = registry_until(&alice, Duration::from_secs(30), |r| active(r) == 13);
    assert!(r["block"].as_u64().unwrap() > block);
    assert!(states(&r).contains(&(new_id.clone(), "active".into())));
    let height = r["block"].as_f64().unwrap();
    let nodes = devnet.status();
    for n in &nodes {
        let admin: SocketAddr = n["admin"].as_str().unwrap().parse().unwrap();
        let started = Instant::now();
        while metric(admin, "nightjar_registry_height") != Some(height) {
            assert!(
                started.elapsed() < Duration::from_secs(30),
                "node {} never reached registry height {height}",
                n["index"]
            );
            std::thread::sleep(Duration::from_millis(200));
        }
    }

    // The new node receives its share: a message to an account of its
    // swarm reaches it.
    let (carol, carol_id) = account_in_swarm_of(&alice, &new_id);
    alice.send(&carol_id, "for the new node's swarm");
    let new_member = swarm_of(&alice, &carol_id)
        .into_iter()
        .find(|(id, _)| *id == new_id)
        .unwrap();
    wait_held(&new_member, &carol, Duration::from_secs(30));

    // Node 0's operator requests its exit: out of every swarm, still listed
    // as exiting, and what it held for its accounts is held by their swarms'
    // current members.
    let leaving = nodes[0]["node_id"].as_str().unwrap().to_owned();
    let (dave, dave_id) = account_in_swarm_of(&alice, &leaving);
    alice.send(&dave_id, "before node 0 leaves");
    devnet.cmd(&["remove-node", "--index", "0"]);
    let r = registry_until(&alice, Duration::from_secs(30), |r| {
        states(r).contains(&(leaving.clone(), "exiting".into()))
    });
    assert_eq!(active(&r), 12);
    let members = swarm_of(&alice, &dave_id);
    assert!(
        members.iter().all(|(id, _)| *id != leaving),
        "node 0 is still in a swarm: {members:?}"
    );
    for member in &members {
        wait_held(member, &dave, Duration::from_secs(60));
    }
    alice.send(&bob_id, "after the exit");
    assert_eq!(bob.inbox(&["--wait", "10"]).len(), 1);

    // The chain stops: nodes report stale, keep every node, and messages
    // still flow; when it returns they are fresh again.
    let anvil = nix::unistd::Pid::from_raw(
        serde_json::from_slice::<Value>(
            &std::fs::read(devnet.dir.path().join("devnet.json")).unwrap(),
        )
        .unwrap()["chain"]["pid"]
            .as_i64()
            .unwrap() as i32,
    );
    nix::sys::signal::kill(anvil, nix::sys::signal::Signal::SIGSTOP).unwrap();
    let stopped_at = Instant::now();
    let admin: SocketAddr = nodes[1]["admin"].as_str().unwrap().parse().unwrap();
    let started = Instant::now();
    while metric(admin, "nightjar_registry_stale") != Some(1.0) {
        if started.elapsed() > Duration::from_secs(40) {
            let _ = nix::sys::signal::kill(anvil, nix::sys::signal::Signal::SIGCONT);
            panic!("node 1 never reported its registry stale");
        }
        std::thread::sleep(Duration::from_millis(250));
    }
    // Messages keep flowing for the rest of a minute with the chain stopped.
    let mut received = 0;
    let mut sent = 0;
    while sent == 0 || stopped_at.elapsed() < Duration::from_secs(60) {
        alice.send(&bob_id, &format!("while the chain is stopped {sent}"));
        sent += 1;
        received += bob.inbox(&["--wait", "10"]).len();
    }
    let still = registry(&alice);
    nix::sys::signal::kill(anvil, nix::sys::signal::Signal::SIGCONT).unwrap();
    assert_eq!(
        received, sent,
        "every message sent while the chain was stopped arrives"
    );
    assert_eq!(
        active(&still),
        12,
        "no node is dropped for lack of data: {still}"
    );
    let started = Instant::now();
    while metric(admin, "nightjar_registry_stale") != Some(0.0) {
        assert!(
            started.elapsed() < Duration::from_secs(30),
            "node 1 did not catch up after the chain returned"
        );
        std::thread::sleep(Duration::from_millis(250));
    }
}

/// Foundry's `cast`, where `contrib/chain-tools.sh` installs it.
fn cast() -> std::path::PathBuf {
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../../contracts/node_modules/@foundry-rs/cast-linux-amd64/bin/cast");
    assert!(
        path.is_file(),
        "cast is missing: run `bash contrib/chain-tools.sh` (contrib/test.sh does)"
    );
    path
}

/// Runs `cast ARGS` and returns its trimmed stdout.
fn cast_ok(args: &[&str]) -> String {
    support::run_ok(std::process::Command::new(cast()).args(args))
        .trim()
        .to_owned()
}

/// Waits until every node of the devnet serves a registry at `height`.
fn every_node_at(devnet: &Devnet, height: u64) {
    for n in devnet.status() {
        if n["registered"] == false {
            continue;
        }
        let admin: SocketAddr = n["admin"].as_str().unwrap().parse().unwrap();
        let started = Instant::now();
        while metric(admin, "nightjar_registry_height") != Some(height as f64) {
            assert!(
                started.elapsed() < Duration::from_secs(30),
                "node {} never reached registry height {height} (at {:?})",
                n["index"],
                metric(admin, "nightjar_registry_height")
            );
            std::thread::sleep(Duration::from_millis(200));
        }
    }
}

#[test]
fn junk_and_duplicate_registrations_never_become_nodes_and_a_reorg_removes_a_registration_everywhere()
 {
    let devnet = Devnet::up_on_chain(5);
    let state: Value =
        serde_json::from_slice(&std::fs::read(devnet.dir.path().join("devnet.json")).unwrap())
            .unwrap();
    let chain = &state["chain"];
    let rpc = format!("http://{}", chain["rpc"].as_str().unwrap());
    let contract = chain["contract"].as_str().unwrap().to_owned();
    let token = chain["token"].as_str().unwrap().to_owned();
    let dev_keys: Vec<String> = chain["dev_keys"]
        .as_array()
        .unwrap()
        .iter()
        .map(|k| k.as_str().unwrap().to_owned())
        .collect();
    let stake = "25000000000000000000000";

    // A registration whose proof is junk (64 zero bytes), of a fresh key,
    // from dev account 9: the contract takes the stake, no follower lists it.
    let junk_key = nightjar_crypto::identity::Identity::generate()
        .unwrap()
        .public_key();
    let contact = nightjar_chain::contact::encode_contact(&"127.0.0.1:9".parse().unwrap());
    let send = |key: &str, to: &str, sig: &str, args: &[&str]| {
        let mut all = vec!["send", "--rpc-url", &rpc, "--private-key", key, to, sig];
        all.extend_from_slice(args);
        cast_ok(&all)
    };
    send(
        &dev_keys[9],
        &token,
        "approve(address,uint256)",
        &[&contract, stake],
    );
    let junk = send(
        &dev_keys[9],
        &contract,
        "register(bytes32,bytes,bytes)",
        &[
            &format!("0x{}", junk_key.to_hex()),
            &format!("0x{}", hex::encode(&contact)),
            &format!("0x{}", "00".repeat(64)),
        ],
    );
    assert!(
        junk.contains("status") && junk.contains("1 (success)"),
        "{junk}"
    );

    // Node 1's key registered again, with a valid proof, by another
    // operator (dev account 8): the first registration of a key wins.
    let node1 = devnet.status()[1].clone();
    let node1_key = devnet.dir.path().join("node-1/node.key");
    let out = support::run_ok(
        support::nightjar()
            .env("NIGHTJAR_OPERATOR_KEY", &dev_keys[8])
            .args([
                "operator",
                "register",
                "--json",
                "--rpc",
                &rpc,
                "--contract",
                &contract,
            ])
            .args(["--chain-id", "31337", "--contact", "127.0.0.1:10"])
            .arg("--node-key")
            .arg(&node1_key),
    );
    let duplicate: Value = serde_json::from_str(&out).unwrap();
    let duplicate_block = duplicate["block"].as_u64().unwrap();

    // Every node has processed both logs (its registry is at the
    // duplicate's block) and lists neither: five nodes, node 1 at its own
    // address.
    let fresh = TestProfile::new(&devnet.network());
    fresh.create();
    let r = registry_until(&fresh, Duration::from_secs(30), |r| {
        r["block"].as_u64() == Some(duplicate_block)
    });
    every_node_at(&devnet, duplicate_block);
    let ids: Vec<String> = states(&r).into_iter().map(|(id, _)| id).collect();
    assert_eq!(active(&r), 5, "{r}");
    assert!(
        !ids.contains(&junk_key.to_hex()),
        "the junk registration is a node: {r}"
    );
    let listed1 = r["nodes"]
        .as_array()
        .unwrap()
        .iter()
        .find(|n| n["node_id"] == node1["node_id"])
        .unwrap();
    assert_eq!(
        listed1["contact"], node1["addr"],
        "the duplicate moved node 1: {r}"
    );
    assert_ne!(
        listed1["operator"].as_str().unwrap().to_lowercase(),
        duplicate["operator"].as_str().unwrap().to_lowercase(),
        "the second operator's registration took node 1: {r}"
    );

    // A sixth node registers; then anvil_reorg replaces every block from its
    // registration on: it disappears from every node.
    let added: Value = serde_json::from_str(&devnet.cmd(&["add-node", "--json"])).unwrap();
    let sixth = added["node_id"].as_str().unwrap().to_owned();
    let with6 = registry_until(&fresh, Duration::from_secs(30), |r| active(r) == 6);
    let joined_at = with6["block"].as_u64().unwrap();
    every_node_at(&devnet, joined_at);
    let head: u64 = cast_ok(&["block-number", "--rpc-url", &rpc])
        .parse()
        .unwrap();
    let depth = head - joined_at + 2;
    cast_ok(&[
        "rpc",
        "--rpc-url",
        &rpc,
        "anvil_reorg",
        &depth.to_string(),
        "[]",
    ]);
    // Every node is back at the duplicate's block; the client that saw the
    // sixth node adopts the rolled-back registry at its next refresh (the
    // registry's own block went down, the height nodes serve did not), and
    // one that never saw it bootstraps it from the seeds.
    every_node_at(&devnet, duplicate_block);
    let refreshed = registry_until(&fresh, Duration::from_secs(30), |r| active(r) == 5);
    assert_eq!(
        refreshed["block"].as_u64(),
        Some(duplicate_block),
        "{refreshed}"
    );
    let later = TestProfile::new(&devnet.network());
    later.create();
    let r = registry(&later);
    assert_eq!(r["block"].as_u64(), Some(duplicate_block), "{r}");
    assert_eq!(active(&r), 5, "{r}");
    assert!(
        !states(&r).iter().any(|(id, _)| *id == sixth),
        "the reorganised registration is still a node: {r}"
    );
}
