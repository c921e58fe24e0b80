//! Onion routing on a real devnet whose nodes each have their own loopback
//! address, with clients sending from addresses of their own (`--bind`):
//! after bootstrap a client exchanges packets only with its guards; no node
//! sees both a client's address and the account it reads; an answer's bytes
//! differ on every link; `watch` gets pushed messages through the path;
//! killing a guard or a relay mid-conversation loses and duplicates nothing;
//! a client whose clock is 10 minutes wrong still sends and receives.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod support;

use std::collections::{BTreeSet, HashMap, HashSet};
use std::io::{BufRead, BufReader};
use std::net::SocketAddr;
use std::process::{Child, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use nightjar_client::{Client, Profile};
use nightjar_crypto::identity::{AccountId, Identity};
use nightjar_registry::NetworkFile;
use serde_json::Value;
use support::{Devnet, TestProfile, http_get};

const NODES: usize = 12;
const IP_BASE: &str = "127.0.1.1";

/// Each node's accounting (`/debug/accounting`), by node ID.
fn accounting(devnet: &Devnet) -> HashMap<String, Value> {
    devnet
        .status()
        .iter()
        .filter(|n| n["running"].as_bool() == Some(true))
        .map(|n| {
            let admin: SocketAddr = n["admin"].as_str().unwrap().parse().unwrap();
            let body = http_get(admin, "/debug/accounting");
            (
                n["node_id"].as_str().unwrap().to_string(),
                serde_json::from_str(&body).unwrap(),
            )
        })
        .collect()
}

/// Connections from `ip` without a node certificate, per node.
fn client_connections(views: &HashMap<String, Value>, ip: &str) -> HashMap<String, u64> {
    views
        .iter()
        .map(|(id, v)| {
            (
                id.clone(),
                v["connections"][ip]["clients"].as_u64().unwrap_or(0),
            )
        })
        .collect()
}

fn key_hex(account_id: &str) -> String {
    account_id
        .parse::<AccountId>()
        .unwrap()
        .public_key()
        .to_hex()
}

/// The node IDs (hex) of the swarm holding `account_id`'s mailbox.
fn swarm_of(network: &NetworkFile, account_id: &str) -> BTreeSet<String> {
    let map = nightjar_client::swarm_map(network).unwrap();
    let account = account_id.parse::<AccountId>().unwrap();
    let swarm = map.swarm_for_account(account.public_key()).unwrap();
    map.members(swarm)
        .unwrap()
        .iter()
        .map(|n| n.id.to_string())
        .collect()
}

/// A `nightjar watch --json` process, killed on drop; its lines arrive on a channel.
struct Watcher {
    child: Child,
    lines: mpsc::Receiver<(Instant, Value)>,
}

impl Watcher {
    fn start(profile: &TestProfile) -> Watcher {
        let mut child = profile
            .cmd()
            .args(["watch", "--json"])
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        let stdout = child.stdout.take().unwrap();
        let (tx, lines) = mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines() {
                let Ok(line) = line else { return };
                if tx
                    .send((Instant::now(), serde_json::from_str(&line).unwrap()))
                    .is_err()
                {
                    return;
                }
            }
        });
        Watcher { child, lines }
    }

    fn next(&self, limit: Duration) -> (Instant, Value) {
        self.lines
            .recv_timeout(limit)
            .expect("watch printed no message in time")
    }
}

impl Drop for Watcher {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A client at `ip` whose guards are both outside its own account's swarm,
/// so reading its mailbox must go beyond the guards. Tries fresh accounts
/// (each with its own address, so earlier tries do not blur the accounting)
/// until the draw allows it.
fn client_with_foreign_guards(
    network_path: &std::path::Path,
    network: &NetworkFile,
    first_ip: u8,
) -> (TestProfile, String, Vec<String>, String) {
    for attempt in 0..40u8 {
        let ip = format!("127.0.0.{}", first_ip + attempt);
        let profile = TestProfile::bound(network_path, &ip);
        let (account, _) = profile.create();
        let (guards, _) = profile.paths();
        assert_eq!(guards.len(), 2, "two guards: {guards:?}");
        let swarm = swarm_of(network, &account);
        if guards.iter().all(|g| !swarm.contains(g)) {
            return (profile, account, guards, ip);
        }
    }
    panic!("no account drew guards outside its own swarm in 40 tries");
}

#[test]
fn client_talks_only_to_its_guards_and_no_node_links_its_address_to_its_account() {
    let devnet = Devnet::up_with(NODES, &["--ip-base", IP_BASE, "--debug-accounting"]);
    let network = NetworkFile::load(&devnet.network()).unwrap();
    let addrs: HashSet<String> = devnet
        .status()
        .iter()
        .map(|n| n["addr"].as_str().unwrap().to_string())
        .collect();
    assert_eq!(addrs.len(), NODES, "every node has its own address");
    assert!(addrs.iter().all(|a| a.starts_with("127.0.1.")), "{addrs:?}");
    // Every node said at startup, as a warning, what it records.
    for node in devnet.status() {
        let index = node["index"].as_u64().unwrap();
        let log = devnet
            .dir
            .path()
            .join(format!("node-{index}"))
            .join("node.log");
        let log = std::fs::read_to_string(&log).unwrap();
        assert!(
            log.lines()
                .any(|l| l.contains("WARN") && l.contains("debug_accounting is on")),
            "node {index} gave no warning:\n{log}"
        );
    }

    let (alice, alice_id, alice_guards, alice_ip) =
        client_with_foreign_guards(&devnet.network(), &network, 20);
    // Bob's mailbox is in Alice's swarm: sending to it also goes beyond her guards.
    let alice_swarm = swarm_of(&network, &alice_id);
    let (bob, bob_id) = (0..40u8)
        .find_map(|i| {
            let bob = TestProfile::bound(&devnet.network(), &format!("127.0.0.{}", 100 + i));
            let (id, _) = bob.create();
            (swarm_of(&network, &id) == alice_swarm).then_some((bob, id))
        })
        .expect("an account in Alice's swarm");
    let bob_ip = bob.bind.clone().unwrap();
    let watcher = Watcher::start(&bob);

    // Alice has bootstrapped (asking two seeds directly); from here on only
    // her guards may see her address.
    let before = client_connections(&accounting(&devnet), &alice_ip);

    let mut latencies = Vec::new();
    for i in 0..5 {
        let text = format!("through the onion {i}");
        let started = Instant::now();
        alice.send(&bob_id, &text);
        let (arrived, message) = watcher.next(Duration::from_secs(30));
        assert_eq!(message["text"], text.as_str());
        assert_eq!(message["from"], alice_id.as_str());
        latencies.push(arrived.saturating_duration_since(started));
    }
    let reply = bob.send(&alice_id, "reply from bob");
    let got = alice.inbox(&[]);
    assert_eq!(got.len(), 1, "{got:?}");
    assert_eq!(got[0]["message_id"], reply.as_str());
    latencies.sort();
    eprintln!("send (a whole CLI process) → watch latencies: {latencies:?}");
    drop(watcher);

    let views = accounting(&devnet);
    let after = client_connections(&views, &alice_ip);
    for (node, count) in &after {
        let new = count - before.get(node).copied().unwrap_or(0);
        if alice_guards.contains(node) {
            continue;
        }
        assert_eq!(
            new, 0,
            "node {node} (not a guard) got {new} connections from Alice"
        );
    }
    let guard_connections: u64 = alice_guards
        .iter()
        .map(|g| after[g] - before.get(g).copied().unwrap_or(0))
        .sum();
    assert!(
        guard_connections >= 6,
        "Alice's commands went through her guards"
    );

    // No node saw both a client's address and the account that client reads
    // (a store to an account may be sent by anyone, so it names no reader).
    for (ip, account) in [(&alice_ip, &alice_id), (&bob_ip, &bob_id)] {
        let key = key_hex(account);
        let mut readers = 0;
        for (node, view) in &views {
            let saw_ip = view["connections"][ip.as_str()].is_object();
            let saw_account = view["read_accounts"]
                .as_array()
                .unwrap()
                .iter()
                .any(|a| a.as_str() == Some(key.as_str()));
            readers += usize::from(saw_account);
            assert!(
                !(saw_ip && saw_account),
                "node {node} saw both {ip} and the account it reads"
            );
        }
        assert!(readers > 0, "some node served {account}");
    }

    // Every onion answer differed on every link: no answer prefix repeats
    // anywhere in the network.
    let answers: Vec<String> = views
        .values()
        .flat_map(|v| {
            v["onion_answers"]
                .as_array()
                .unwrap()
                .iter()
                .map(|a| a.as_str().unwrap().to_string())
                .collect::<Vec<_>>()
        })
        .collect();
    let distinct: HashSet<&String> = answers.iter().collect();
    assert!(answers.len() >= 4 * 7, "{} onion answers", answers.len());
    assert_eq!(
        distinct.len(),
        answers.len(),
        "an answer crossed two links unchanged"
    );
}

fn node_index(devnet: &Devnet, id: &str) -> String {
    devnet.indices()[id].to_string()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn killing_a_relay_and_a_guard_mid_conversation_loses_and_duplicates_nothing() {
    let devnet = Devnet::up_with(10, &["--ip-base", IP_BASE]);
    let network = NetworkFile::load(&devnet.network()).unwrap();
    let tmp = tempfile::tempdir().unwrap();
    let alice =
        Profile::create(&tmp.path().join("a"), Identity::generate().unwrap(), None).unwrap();
    let bob = Profile::create(&tmp.path().join("b"), Identity::generate().unwrap(), None).unwrap();
    let bob_id = bob.account_id();
    let alice_bind = SocketAddr::from(([127, 0, 0, 21], 0));
    let bob_bind = SocketAddr::from(([127, 0, 0, 22], 0));
    let mut alice = Client::connect(alice, &network, alice_bind).await.unwrap();
    let mut bob = Client::connect(bob, &network, bob_bind).await.unwrap();

    // Bob waits for messages through his own path all along.
    let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let reader = {
        let stop = stop.clone();
        tokio::spawn(async move {
            while !stop.load(std::sync::atomic::Ordering::SeqCst) {
                match bob.inbox(Some(Duration::from_secs(2))).await {
                    Ok(messages) => {
                        let ids: Vec<String> =
                            messages.iter().map(|m| m.message_id.clone()).collect();
                        bob.profile_mut().mark_shown(&ids).unwrap();
                    }
                    Err(e) => eprintln!("bob: {e}"),
                }
            }
            bob
        })
    };

    let mut sent = Vec::new();
    let send = async |alice: &mut Client, i: usize| {
        let text = format!("message {i}");
        alice
            .send(&bob_id, &text, Duration::from_secs(3600))
            .await
            .unwrap_or_else(|e| panic!("send {i}: {e}"));
        text
    };
    for i in 0..4 {
        sent.push(send(&mut alice, i).await);
    }
    // Kill the middle relay of the path Alice uses.
    let (_, paths) = alice.paths();
    let path = paths.first().expect("a path").clone();
    let relay = path.hops[1].id.to_string();
    devnet.cmd(&[
        "stop-node",
        "--kill",
        "--index",
        &node_index(&devnet, &relay),
    ]);
    for i in 4..8 {
        sent.push(send(&mut alice, i).await);
    }
    // Then the guard of a path she uses now.
    let (guards, paths) = alice.paths();
    let guard = paths
        .iter()
        .map(|p| p.hops[0].id.to_string())
        .find(|g| *g != relay)
        .expect("a live guard");
    devnet.cmd(&[
        "stop-node",
        "--kill",
        "--index",
        &node_index(&devnet, &guard),
    ]);
    for i in 8..12 {
        sent.push(send(&mut alice, i).await);
    }
    assert_eq!(guards.len(), 2);

    // Bob gets every message exactly once.
    stop.store(true, std::sync::atomic::Ordering::SeqCst);
    let mut bob = reader.await.unwrap();
    let deadline = Instant::now() + Duration::from_secs(60);
    while bob.profile().history().unwrap().len() < sent.len() && Instant::now() < deadline {
        let messages = bob
            .inbox(Some(Duration::from_secs(2)))
            .await
            .unwrap_or_default();
        let ids: Vec<String> = messages.iter().map(|m| m.message_id.clone()).collect();
        bob.profile_mut().mark_shown(&ids).unwrap();
    }
    let history: Vec<String> = bob
        .profile()
        .history()
        .unwrap()
        .into_iter()
        .map(|r| r.text)
        .collect();
    let mut expected = sent.clone();
    expected.sort();
    let mut got = history;
    got.sort();
    assert_eq!(got, expected, "each message exactly once in Bob's history");
    alice.close().await;
    bob.close().await;
}

/// The libfaketime preload library (Debian's `faketime` package; `.ci/run` installs it).
fn libfaketime() -> std::path::PathBuf {
    let candidates = [
        "/usr/lib/x86_64-linux-gnu/faketime/libfaketime.so.1",
        "/usr/lib/aarch64-linux-gnu/faketime/libfaketime.so.1",
        "/usr/lib/faketime/libfaketime.so.1",
    ];
    candidates
        .iter()
        .map(std::path::PathBuf::from)
        .find(|p| p.exists())
        .expect("libfaketime is missing: install it (apt-get install faketime)")
}

#[test]
fn client_with_its_clock_ten_minutes_wrong_sends_and_receives() {
    let devnet = Devnet::up(6);
    let lib = libfaketime();
    let skewed = |profile: &TestProfile, offset: &str| {
        let mut cmd = profile.cmd();
        cmd.env("LD_PRELOAD", &lib)
            .env("FAKETIME", offset)
            .env("FAKETIME_DONT_FAKE_MONOTONIC", "1");
        cmd
    };
    // The preload really moves the wall clock of the processes it runs.
    let probe = std::process::Command::new("date")
        .arg("+%s")
        .env("LD_PRELOAD", &lib)
        .env("FAKETIME", "-10m")
        .output()
        .unwrap();
    let faked: i64 = String::from_utf8_lossy(&probe.stdout)
        .trim()
        .parse()
        .unwrap();
    let real = (support::unix_now_ms() / 1000) as i64;
    assert!(
        (real - faked - 600).abs() <= 5,
        "faketime did not apply: {faked} vs {real}"
    );

    let behind = TestProfile::new(&devnet.network());
    let ahead = TestProfile::new(&devnet.network());
    let (behind_id, _) = behind.create();
    let (ahead_id, _) = ahead.create();
    let out = support::run_ok(skewed(&behind, "-10m").args([
        "send",
        &ahead_id,
        "from the past",
        "--json",
    ]));
    let sent: Value = serde_json::from_str(&out).unwrap();
    let out = support::run_ok(skewed(&ahead, "+10m").args(["inbox", "--json", "--wait", "10"]));
    let got: Vec<Value> = out
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(got.len(), 1, "{got:?}");
    assert_eq!(got[0]["message_id"], sent["message_id"]);
    assert_eq!(got[0]["text"], "from the past");
    // The sender stamped it with network time, not its wrong clock.
    let sent_at = got[0]["sent_at"].as_u64().unwrap();
    let drift = sent_at.abs_diff(support::unix_now_ms());
    assert!(drift < 60_000, "sent_at is {drift} ms off network time");
    support::run_ok(skewed(&ahead, "+10m").args(["send", &behind_id, "from the future"]));
    let out = support::run_ok(skewed(&behind, "-10m").args(["inbox", "--json"]));
    assert!(out.contains("from the future"), "{out}");
}
