//! `nightjar-bench`: measure Nightjar's real code against a baseline taken in
//! the same run on the same machine, and print one JSON object per run (with
//! a human summary on standard error).
//!
//! It is a load generator, not a test: it asserts nothing about speed. Each
//! figure comes with the process's CPU time (`CLOCK_PROCESS_CPUTIME_ID`, the
//! clock behind `/proc/self/stat`'s utime + stime, at nanosecond resolution)
//! next to wall time, because on a shared 2-core machine CPU time is the
//! steadier measure.
//!
//! Subcommands:
//! - `store`: acknowledged durable stores per second through an N-node swarm
//!   (every node real: QUIC on loopback, SQLite on disk, in this process),
//!   against the same load on a single node in the same run.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use clap::{Parser, Subcommand};
use nightjar_client::logic::prepare_send;
use nightjar_crypto::identity::Identity;
use nightjar_node::{NodeConfig, RunningNode};
use nightjar_registry::{NodeEntry, NodeId, Registry};
use nightjar_wire::{Request, ResponseBody};
use serde_json::json;

#[derive(Debug, Parser)]
#[command(name = "nightjar-bench", version)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Acknowledged stores per second through a swarm, against one node.
    Store {
        /// Nodes in the swarm (all form one swarm when fewer than 10).
        #[arg(long, default_value_t = 7)]
        nodes: usize,
        /// Messages to store in each phase.
        #[arg(long, default_value_t = 2000)]
        messages: usize,
        /// Stores in flight at once.
        #[arg(long, default_value_t = 32)]
        concurrency: usize,
        /// Directory for the nodes' databases (default: a temporary directory
        /// under the current directory, so fsync hits the real disk).
        #[arg(long)]
        dir: Option<PathBuf>,
    },
}

/// Seconds of CPU this process (all its threads: every in-process node and
/// the load generator) has used, user and system, at nanosecond resolution.
fn cpu_seconds() -> anyhow::Result<f64> {
    let t = nix::time::clock_gettime(nix::time::ClockId::CLOCK_PROCESS_CPUTIME_ID)
        .context("reading the process CPU clock")?;
    Ok(t.tv_sec() as f64 + t.tv_nsec() as f64 / 1e9)
}

/// A network of `n` in-process nodes forming one registry.
async fn network(dir: &Path, n: usize) -> anyhow::Result<(Vec<RunningNode>, Vec<NodeEntry>)> {
    let sockets: Vec<std::net::UdpSocket> = (0..n)
        .map(|_| std::net::UdpSocket::bind("127.0.0.1:0"))
        .collect::<Result<_, _>>()?;
    let mut identities = Vec::with_capacity(n);
    let mut entries = Vec::with_capacity(n);
    for s in &sockets {
        let id = Identity::generate()?;
        entries.push(NodeEntry {
            id: NodeId(id.public_key()),
            addr: s.local_addr()?,
        });
        identities.push(id);
    }
    drop(sockets);
    let registry_path = dir.join("registry.toml");
    std::fs::write(
        &registry_path,
        Registry::genesis("bench", entries.clone()).to_toml(),
    )?;
    let mut nodes = Vec::with_capacity(n);
    for (i, (identity, entry)) in identities.into_iter().zip(&entries).enumerate() {
        let mut config = NodeConfig::new(entry.addr, dir.join(format!("node-{i}")));
        config.registry = Some(registry_path.clone());
        config.log = "warn".into();
        // The load generator is one client pushing as hard as it can.
        config.requests_per_sec_per_connection = u32::MAX / 4;
        nodes.push(nightjar_node::start(config, identity).await?);
    }
    Ok((nodes, entries))
}

/// Result of one phase.
struct Phase {
    acked: usize,
    wall: Duration,
    cpu: f64,
    receipts: usize,
}

/// Store `messages` pre-sealed envelopes through `entries` with
/// `concurrency` in flight, spreading entry points over the members.
async fn run_phase(
    dir: &Path,
    n: usize,
    messages: usize,
    concurrency: usize,
) -> anyhow::Result<Phase> {
    let (nodes, entries) = network(dir, n).await?;
    let sender = Identity::generate()?;
    let recipient = Identity::generate()?.account_id();
    // Seal everything first: the phase measures the nodes, not the client's crypto.
    let requests: Vec<Request> = (0..messages)
        .map(|i| {
            prepare_send(
                &sender,
                &recipient,
                &format!("bench {i}"),
                1,
                Duration::from_secs(3600),
            )
            .map(|p| p.request)
        })
        .collect::<Result<_, _>>()?;
    let requests = Arc::new(requests);
    let endpoint = nightjar_transport::client_endpoint(SocketAddr::from(([127, 0, 0, 1], 0)))?;
    let mut conns = Vec::with_capacity(concurrency);
    for i in 0..concurrency {
        let e = &entries[i % entries.len()];
        conns.push(nightjar_transport::connect(&endpoint, e.addr, &e.id.0).await?);
    }
    let next = Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let cpu0 = cpu_seconds()?;
    let t0 = Instant::now();
    let mut tasks = tokio::task::JoinSet::new();
    for conn in conns {
        let requests = requests.clone();
        let next = next.clone();
        tasks.spawn(async move {
            let (mut acked, mut receipts) = (0usize, 0usize);
            loop {
                let i = next.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                let Some(req) = requests.get(i) else { break };
                if let Ok(resp) =
                    nightjar_transport::request(&conn, req, Duration::from_secs(30)).await
                    && let ResponseBody::Stored { receipts: r, .. } = resp.body
                {
                    acked += 1;
                    receipts += r.len();
                }
            }
            (acked, receipts)
        });
    }
    let (mut acked, mut receipts) = (0, 0);
    while let Some(r) = tasks.join_next().await {
        let (a, rc) = r?;
        acked += a;
        receipts += rc;
    }
    let wall = t0.elapsed();
    let cpu = cpu_seconds()? - cpu0;
    endpoint.close(0u32.into(), b"done");
    for node in nodes {
        node.shutdown().await;
    }
    Ok(Phase {
        acked,
        wall,
        cpu,
        receipts,
    })
}

async fn store(
    nodes: usize,
    messages: usize,
    concurrency: usize,
    dir: Option<PathBuf>,
) -> anyhow::Result<()> {
    if nodes == 0 || messages == 0 || concurrency == 0 {
        bail!("--nodes, --messages and --concurrency must be positive");
    }
    let base = match dir {
        Some(d) => d,
        None => std::env::current_dir()?,
    };
    let tmp = tempfile::Builder::new()
        .prefix("nightjar-bench-")
        .tempdir_in(base)?;
    let single_dir = tmp.path().join("single");
    let swarm_dir = tmp.path().join("swarm");
    std::fs::create_dir_all(&single_dir)?;
    std::fs::create_dir_all(&swarm_dir)?;
    let single = run_phase(&single_dir, 1, messages, concurrency).await?;
    let swarm = run_phase(&swarm_dir, nodes, messages, concurrency).await?;
    let rate = |p: &Phase| p.acked as f64 / p.wall.as_secs_f64();
    let cpu_rate = |p: &Phase| {
        if p.cpu > 0.0 {
            p.acked as f64 / p.cpu
        } else {
            0.0
        }
    };
    let out = json!({
        "bench": "store",
        "nodes": nodes,
        "messages": messages,
        "concurrency": concurrency,
        "acked": swarm.acked,
        "stores_per_sec": rate(&swarm),
        "stores_per_cpu_sec": cpu_rate(&swarm),
        "receipts_per_store": swarm.receipts as f64 / swarm.acked.max(1) as f64,
        "single_node_stores_per_sec": rate(&single),
        "single_node_stores_per_cpu_sec": cpu_rate(&single),
        "ratio": rate(&swarm) / rate(&single).max(f64::MIN_POSITIVE),
        "ratio_cpu": cpu_rate(&swarm) / cpu_rate(&single).max(f64::MIN_POSITIVE),
    });
    eprintln!(
        "{nodes}-node swarm: {:.0} acked stores/s ({:.0} per CPU-second, {:.1} receipts each); \
         one node: {:.0}/s ({:.0} per CPU-second); ratio {:.2} (CPU {:.2})",
        rate(&swarm),
        cpu_rate(&swarm),
        swarm.receipts as f64 / swarm.acked.max(1) as f64,
        rate(&single),
        cpu_rate(&single),
        rate(&swarm) / rate(&single).max(f64::MIN_POSITIVE),
        cpu_rate(&swarm) / cpu_rate(&single).max(f64::MIN_POSITIVE),
    );
    println!("{out}");
    Ok(())
}

fn main() -> anyhow::Result<()> {
    let cli = Cli::parse();
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?;
    runtime.block_on(async move {
        match cli.command {
            Command::Store {
                nodes,
                messages,
                concurrency,
                dir,
            } => store(nodes, messages, concurrency, dir).await,
        }
    })
}
