//! `latency`: send → arrival time on a real devnet of node processes.
//!
//! Starts `nodes` `nightjar-node` processes with one genesis registry (the
//! settings `nightjar devnet` uses), and two clients in this process
//! (`nightjar_client::Client`: mailbox requests on per-account circuits by
//! default, through one-shot onion paths guard → relay → relay → swarm
//! member with `--no-circuits` and for whatever a circuit does not carry).
//! Sends rely on device lists read within the daemon's max age
//! (`--device-list-max-age-secs`; 0 reads both lists before every send, as
//! a one-shot command does). The recipient holds a waiting retrieve open
//! through its own path (`inbox(Some(30 s))` in a loop, in a task); the
//! sender sends one message at a time, each once the previous one arrived.
//! A message's latency runs from the start of `send` to the moment the
//! recipient's `inbox` returned it. The first messages warm the paths up (a
//! fresh client also learns the network clock on its first request) and are
//! not counted.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use nightjar_client::{Client, Profile};
use nightjar_crypto::identity::Identity;
use nightjar_launch::{DEFAULT_STOP_GRACE, Launch, NodeBinary, NodeProcess};
use nightjar_registry::{NetworkFile, NodeEntry};
use serde_json::json;

use crate::util;

/// Settings of one run.
pub struct Args {
    /// Node processes.
    pub nodes: usize,
    /// Messages timed (after the warm-up).
    pub messages: usize,
    /// Messages sent first and not timed.
    pub warmup: usize,
    /// Where to find `nightjar-node`.
    pub node_bin: Option<PathBuf>,
    /// Directory for the devnet.
    pub dir: Option<PathBuf>,
    /// Mailbox requests through one-shot v1 layers instead of per-account
    /// circuits (`Client::set_circuits(false)`), for comparison.
    pub no_circuits: bool,
    /// How long a send relies on a device list read before
    /// (`Client::set_device_list_max_age`; zero: every send reads the
    /// recipient's and the sender's lists first, as a one-shot command does).
    pub device_list_max_age: Duration,
}

/// Devnet settings (as `nightjar devnet` writes them).
const SYNC_INTERVAL_SECS: u64 = 2;
const MAX_CONNECTIONS_PER_IP: usize = 4096;
const TTL: Duration = Duration::from_secs(3600);
const ARRIVAL_TIMEOUT: Duration = Duration::from_secs(60);

/// Run the benchmark and print its JSON.
pub async fn run(args: Args) -> anyhow::Result<()> {
    if args.nodes < 4 {
        bail!("--nodes must be at least 4 (onion paths need three relays and a destination)");
    }
    if args.messages == 0 {
        bail!("--messages must be positive");
    }
    let bin = NodeBinary::find(args.node_bin.as_deref())?;
    let tmp = util::bench_dir(args.dir.clone())?;
    let dir = tmp.path();
    let ids = util::identities(args.nodes)?;
    let registry_path = dir.join("registry.toml");
    util::empty_registry(&registry_path)?;

    // The nodes bind port 0; once they reported their ports, the registry
    // and the network file list them.
    let started = Instant::now();
    let mut configs = Vec::with_capacity(args.nodes);
    for (i, id) in ids.iter().enumerate() {
        let mut config = util::bench_config(
            util::ANY_PORT,
            dir.join(format!("node-{i}")),
            Some(registry_path.clone()),
        );
        // A devnet node, not a load-test target: default request rate limits.
        config.requests_per_sec_per_connection =
            nightjar_node::NodeConfig::new(util::ANY_PORT, dir.to_path_buf())
                .requests_per_sec_per_connection;
        config.sync_interval_secs = SYNC_INTERVAL_SECS;
        config.max_connections_per_ip = MAX_CONNECTIONS_PER_IP;
        configs.push(util::launch(&bin, &config, id)?);
    }
    let nodes = Launch::start_all(configs).await?;
    let entries: Vec<NodeEntry> = ids
        .iter()
        .zip(&nodes)
        .map(|(id, node)| util::entry(id.public_key(), node.addr()))
        .collect();
    util::publish_registry(&registry_path, &entries).await?;
    let startup = started.elapsed();
    let network_path = dir.join("network.toml");
    std::fs::write(
        &network_path,
        NetworkFile {
            network: util::NETWORK.to_string(),
            registry: None,
            seeds: entries.clone(),
        }
        .to_toml(Some("registry.toml")),
    )?;
    let network = NetworkFile::load(&network_path)?;

    let bind = SocketAddr::from(([127, 0, 0, 1], 0));
    let alice = Profile::create(&dir.join("alice"), Identity::generate()?, None)?;
    let bob = Profile::create(&dir.join("bob"), Identity::generate()?, None)?;
    let bob_id = bob.account_id();
    let mut alice = Client::connect(alice, &network, bind).await?;
    let mut bob = Client::connect(bob, &network, bind).await?;
    alice.set_circuits(!args.no_circuits);
    bob.set_circuits(!args.no_circuits);
    let max_age = Some(args.device_list_max_age).filter(|a| !a.is_zero());
    alice.set_device_list_max_age(max_age);
    bob.set_device_list_max_age(max_age);
    // As the daemon: sessions kept one key ahead of their saved copy.
    alice.set_sessions_ahead(true)?;
    bob.set_sessions_ahead(true)?;

    // The recipient publishes its device first, so that every message is a
    // v2 message to the mailbox it waits on (a send before that would go v1,
    // to the account's mailbox, which a waiting v2 retrieve does not watch).
    bob.inbox(None)
        .await
        .context("the recipient's first inbox (publishing its device)")?;

    // The recipient: waiting retrieves in a loop; every message that arrives
    // goes to the channel with the instant it arrived.
    let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel::<(String, Instant)>();
    let receiver = tokio::spawn(async move {
        loop {
            let got = bob.inbox(Some(Duration::from_secs(30))).await;
            let now = Instant::now();
            match got {
                Ok(records) => {
                    let ids: Vec<String> = records.iter().map(|r| r.message_id.clone()).collect();
                    for r in records {
                        if tx.send((r.text, now)).is_err() {
                            return Ok::<_, anyhow::Error>(());
                        }
                    }
                    bob.profile_mut().mark_shown(&ids)?;
                }
                Err(e) => {
                    eprintln!("recipient: inbox failed ({e}); retrying");
                    tokio::time::sleep(Duration::from_millis(100)).await;
                }
            }
        }
    });

    let total = args.warmup + args.messages;
    let mut latencies = Vec::with_capacity(args.messages);
    let mut acks = Vec::with_capacity(args.messages);
    let mut warmup_ms = Vec::with_capacity(args.warmup);
    let result: anyhow::Result<()> = async {
        for i in 0..total {
            let text = format!("latency probe {i}");
            let t0 = Instant::now();
            alice
                .send(&bob_id, &text, TTL)
                .await
                .with_context(|| format!("sending message {i}"))?;
            let acked = t0.elapsed();
            let arrived = loop {
                let (got, at) = tokio::time::timeout(ARRIVAL_TIMEOUT, rx.recv())
                    .await
                    .with_context(|| {
                        format!("message {i} did not arrive within {ARRIVAL_TIMEOUT:?}")
                    })?
                    .context("the recipient task ended")?;
                if got == text {
                    break at;
                }
            };
            let ms = arrived.saturating_duration_since(t0).as_secs_f64() * 1e3;
            if i < args.warmup {
                warmup_ms.push(ms);
            } else {
                latencies.push(ms);
                acks.push(acked.as_secs_f64() * 1e3);
            }
        }
        Ok(())
    }
    .await;
    receiver.abort();
    let alice_circuits = alice.circuit_use();
    alice.close().await;
    NodeProcess::stop_all(nodes, DEFAULT_STOP_GRACE);
    result?;

    latencies.sort_by(f64::total_cmp);
    acks.sort_by(f64::total_cmp);
    let p = |v: &[f64], q| util::percentile(v, q);
    let out = json!({
        "bench": "latency",
        "nodes": args.nodes,
        "messages": latencies.len(),
        "warmup": args.warmup,
        "warmup_ms": warmup_ms,
        "p50_ms": p(&latencies, 50.0),
        "p90_ms": p(&latencies, 90.0),
        "p99_ms": p(&latencies, 99.0),
        "max_ms": latencies.last().copied().unwrap_or(0.0),
        "ack_p50_ms": p(&acks, 50.0),
        "ack_p99_ms": p(&acks, 99.0),
        "startup_ms": startup.as_secs_f64() * 1e3,
        "circuits": !args.no_circuits,
        "device_list_max_age_secs": args.device_list_max_age.as_secs_f64(),
        "sender_circuits": {
            "built": alice_circuits.built,
            "build_failures": alice_circuits.build_failures,
            "answered": alice_circuits.answered,
            "broken": alice_circuits.broken,
            "aged_out": alice_circuits.aged_out,
            "fallbacks": alice_circuits.fallbacks,
            "paused": alice_circuits.paused,
        },
        "node_binary": bin.describe(),
    });
    eprintln!(
        "{} node processes: {} messages sent one at a time ({}) to a waiting recipient: \
         p50 {:.1} ms, p90 {:.1} ms, p99 {:.1} ms (acked after p50 {:.1} ms); sender's circuits: {:?}",
        args.nodes,
        latencies.len(),
        if args.no_circuits {
            "mailbox requests through v1 onion layers"
        } else {
            "mailbox requests on per-account circuits"
        },
        p(&latencies, 50.0),
        p(&latencies, 90.0),
        p(&latencies, 99.0),
        p(&acks, 50.0),
        alice_circuits,
    );
    println!("{out}");
    Ok(())
}
