//! One member of a swarm is registered but unreachable (nothing answers on
//! its port): 10,000 stores at full rate to another member must keep that
//! node's work bounded — its peer requests, its tasks and its memory —
//! and still be acknowledged by the quorum of the live members.
//!
//! The bounds (asserted, and what was measured when the change that added
//! this test was made, debug build, shared 2-core machine):
//! - peer requests in flight (`nightjar_peer_requests_in_flight`) at most
//!   `MAX_PEER_REQUESTS` (80: 32 per member for each of the two other
//!   members, and a few sync requests);
//! - tasks alive in the node's runtime (`nightjar_runtime_tasks`) at most
//!   `MAX_TASKS` (1,000, with 64 stores in flight from the client);
//! - the node's resident memory grows by at most `MAX_RSS_GROWTH` (96 MiB)
//!   from its level after a warm-up of 500 stores (the store's caches warm).
//!
//! Without a bound per member, every store spawned a request to the dead
//! member that lived for its connection timeout, each with its own copy of
//! the message and its own connection attempt.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod support;

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use nightjar_crypto::identity::Identity;
use nightjar_registry::{NodeEntry, NodeId, Registry};
use nightjar_wire::ResponseBody;
use support::{NodeProcess, store_request};

/// Stores sent to the entry node while the third member is dead.
const STORES: u64 = 10_000;
/// Stores in flight at once from the client.
const CONCURRENCY: usize = 64;
/// Bytes of each message.
const MESSAGE_BYTES: usize = 4_096;
/// Accounts the stores go to (each holds at most 10,000 messages).
const ACCOUNTS: usize = 10;
/// The bound on the entry node's requests to other nodes in flight.
const MAX_PEER_REQUESTS: f64 = 80.0;
/// The bound on tasks alive in the entry node's runtime.
const MAX_TASKS: f64 = 1_000.0;
/// The bound on the entry node's memory growth.
const MAX_RSS_GROWTH: u64 = 96 << 20;

/// The value of the unlabelled metric `name` on the node's `/metrics`.
async fn metric(node: &NodeProcess, name: &str) -> f64 {
    support::http_get_async(node.admin, "/metrics")
        .await
        .lines()
        .filter_map(|l| l.strip_prefix(name)?.strip_prefix(' ')?.parse().ok())
        .next()
        .unwrap_or_else(|| panic!("no metric {name}"))
}

/// Replace the registry file atomically (the nodes poll it).
fn write_registry(path: &std::path::Path, registry: &Registry) {
    let tmp = path.with_extension("tmp");
    std::fs::write(&tmp, registry.to_toml()).unwrap();
    std::fs::rename(&tmp, path).unwrap();
}

/// `count` stores of `MESSAGE_BYTES` to `node`, `CONCURRENCY` at a time,
/// spread over `accounts`; every one must be acknowledged. Calls `sample`
/// every 200 ms meanwhile.
async fn stores(
    conn: &quinn::Connection,
    accounts: &[Identity],
    first: u64,
    count: u64,
    mut sample: impl AsyncFnMut(),
) {
    let next = Arc::new(AtomicU64::new(first));
    let mut workers = Vec::new();
    for _ in 0..CONCURRENCY {
        let conn = conn.clone();
        let next = next.clone();
        let accounts: Vec<Identity> = accounts.to_vec();
        workers.push(tokio::spawn(async move {
            loop {
                let n = next.fetch_add(1, Ordering::Relaxed);
                if n >= first + count {
                    return;
                }
                let account = &accounts[n as usize % accounts.len()];
                let mut data = vec![0x5a; MESSAGE_BYTES];
                data[..8].copy_from_slice(&n.to_be_bytes());
                let req = store_request(account, data, 3_600_000);
                let resp = nightjar_transport::request(&conn, &req, Duration::from_secs(30))
                    .await
                    .unwrap();
                assert!(
                    matches!(resp.body, ResponseBody::Stored { .. }),
                    "store {n}: {resp:?}"
                );
            }
        }));
    }
    while !workers.iter().all(|w| w.is_finished()) {
        sample().await;
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    for w in workers {
        w.await.unwrap();
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ten_thousand_stores_with_a_dead_member_keep_the_entry_nodes_work_bounded() {
    let dir = tempfile::Builder::new()
        .prefix("nj-dead-member-")
        .tempdir()
        .unwrap();
    let registry_path = dir.path().join("registry.toml");
    write_registry(&registry_path, &Registry::genesis("test", Vec::new()));
    let config = dir.path().join("node.toml");
    std::fs::write(
        &config,
        "listen = \"127.0.0.1:1\"\ndata_dir = \"/nonexistent\"\n\
         requests_per_sec_per_connection = 1000000\n",
    )
    .unwrap();
    let flags = [
        "--config",
        config.to_str().unwrap(),
        "--registry",
        registry_path.to_str().unwrap(),
    ];
    let entry = NodeProcess::start(&flags).await;
    let live = NodeProcess::start(&flags).await;
    // The dead member: a registered key whose port holds a UDP socket that
    // nobody reads (packets vanish, as for a hung or cut-off machine).
    let dead_socket = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
    let dead = NodeEntry {
        id: NodeId(Identity::generate().unwrap().public_key()),
        addr: dead_socket.local_addr().unwrap(),
    };
    let entries = vec![
        NodeEntry {
            id: NodeId(entry.key),
            addr: entry.addr,
        },
        NodeEntry {
            id: NodeId(live.key),
            addr: live.addr,
        },
        dead,
    ];
    let registry = Registry::genesis("test", entries);
    let map = registry.swarm_map().unwrap();
    assert_eq!(map.swarms().len(), 1, "the three nodes are one swarm");
    write_registry(&registry_path, &registry);
    nightjar_launch::wait_for_registry(
        &[(entry.addr, entry.key), (live.addr, live.key)],
        3,
        Duration::from_secs(30),
    )
    .await
    .unwrap();

    let endpoint = nightjar_transport::client_endpoint("127.0.0.1:0".parse().unwrap()).unwrap();
    let conn = nightjar_transport::connect(&endpoint, entry.addr, &entry.key)
        .await
        .unwrap();
    let accounts: Vec<Identity> = (0..ACCOUNTS)
        .map(|_| Identity::generate().unwrap())
        .collect();
    // Warm up, then take the memory baseline.
    stores(&conn, &accounts, 0, 500, async || {}).await;
    let rss_before = entry.process.rss_bytes().unwrap();

    let started = Instant::now();
    let mut peak = (0.0f64, 0.0f64, rss_before);
    stores(&conn, &accounts, 500, STORES, async || {
        let in_flight = metric(&entry, "nightjar_peer_requests_in_flight").await;
        let tasks = metric(&entry, "nightjar_runtime_tasks").await;
        let rss = entry.process.rss_bytes().unwrap();
        peak = (peak.0.max(in_flight), peak.1.max(tasks), peak.2.max(rss));
    })
    .await;
    let took = started.elapsed();
    let queued = metric(&entry, "nightjar_peer_requests_queued").await;
    let (in_flight, tasks, rss_peak) = peak;
    let growth = rss_peak.saturating_sub(rss_before);
    eprintln!(
        "{STORES} stores acknowledged in {took:?} with a dead member: \
         peak peer requests in flight {in_flight}, peak runtime tasks {tasks}, \
         RSS {} MiB -> peak {} MiB (+{} MiB); queued at the end {queued}",
        rss_before >> 20,
        rss_peak >> 20,
        growth >> 20
    );
    assert!(
        in_flight <= MAX_PEER_REQUESTS,
        "{in_flight} peer requests in flight"
    );
    assert!(tasks <= MAX_TASKS, "{tasks} tasks alive");
    assert!(
        growth <= MAX_RSS_GROWTH,
        "the node's memory grew by {} MiB",
        growth >> 20
    );
    drop(dead_socket);
}
