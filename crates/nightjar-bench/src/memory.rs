//! `memory`: a node process's resident memory idle, and after storing many
//! small messages across many accounts.
//!
//! One `nightjar-node` process without a registry (it serves every account
//! alone). RSS (`VmRSS` of `/proc/<pid>/status`) is read once the node
//! answers and has sat idle for a moment, then again after the load
//! generator stored `messages` messages of about 300 random bytes spread
//! round-robin over `accounts` accounts, over a few QUIC connections with
//! many streams in flight, and the node has settled.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use nightjar_crypto::identity::Identity;
use nightjar_launch::NodeBinary;
use nightjar_wire::{AccountKey, Request, ResponseBody, StoreRequest};
use serde_json::json;

use crate::util;

/// Settings of one run.
pub struct Args {
    /// Messages to store.
    pub messages: usize,
    /// Accounts they are spread over.
    pub accounts: usize,
    /// Bytes of each message.
    pub size: usize,
    /// Stores in flight at once.
    pub concurrency: usize,
    /// Where to find `nightjar-node`.
    pub node_bin: Option<PathBuf>,
    /// Directory for the node's files.
    pub dir: Option<PathBuf>,
}

const CONNECTIONS: usize = 4;
const SETTLE: Duration = Duration::from_secs(2);

/// Run the benchmark and print its JSON.
pub async fn run(args: Args) -> anyhow::Result<()> {
    if args.messages == 0 || args.accounts == 0 || args.concurrency == 0 {
        bail!("--messages, --accounts and --concurrency must be positive");
    }
    let bin = NodeBinary::find(args.node_bin.as_deref())?;
    let tmp = util::bench_dir(args.dir.clone())?;
    let id = Identity::generate()?;
    let mut config = util::bench_config(util::ANY_PORT, tmp.path().join("node"), None);
    // Room for every message of an account (the default quota is 10,000).
    let per_account = args.messages.div_ceil(args.accounts) as u64;
    config.max_messages_per_account = config.max_messages_per_account.max(per_account);
    config.max_bytes_per_account = config
        .max_bytes_per_account
        .max(per_account * (args.size as u64 + 64));
    let node = util::launch(&bin, &config, &id)?.start().await?;
    let entry = util::entry(id.public_key(), node.addr());
    tokio::time::sleep(SETTLE).await;
    let rss_idle = util::mb(node.rss_bytes()?);

    let accounts: Vec<AccountKey> = (0..args.accounts)
        .map(|_| Identity::generate().map(|i| AccountKey::new(i.public_key().to_bytes())))
        .collect::<Result<_, _>>()?;
    let accounts = Arc::new(accounts);
    let endpoint = nightjar_transport::client_endpoint(SocketAddr::from(([127, 0, 0, 1], 0)))?;
    let mut conns = Vec::with_capacity(CONNECTIONS);
    for _ in 0..CONNECTIONS {
        conns.push(nightjar_transport::connect(&endpoint, entry.addr, &entry.id.0).await?);
    }
    let next = Arc::new(AtomicUsize::new(0));
    let cpu0 = node.cpu_seconds()?;
    let t0 = Instant::now();
    let mut tasks = tokio::task::JoinSet::new();
    for t in 0..args.concurrency {
        let conn = conns[t % conns.len()].clone();
        let accounts = accounts.clone();
        let next = next.clone();
        let (messages, size) = (args.messages, args.size);
        tasks.spawn(async move {
            let mut rng = util::Rng::new(0x9e37_79b9_7f4a_7c15 ^ t as u64);
            let (mut stored, mut retried) = (0usize, 0usize);
            loop {
                let i = next.fetch_add(1, Ordering::Relaxed);
                if i >= messages {
                    break;
                }
                let mut data = vec![0u8; size];
                rng.fill(&mut data);
                // Unique whatever the generator does: the index leads.
                data[..8.min(size)].copy_from_slice(&(i as u64).to_be_bytes()[..8.min(size)]);
                let req = Request::Store(StoreRequest {
                    account: accounts[i % accounts.len()],
                    namespace: 0,
                    ttl_ms: 14 * 24 * 3600 * 1000,
                    data,
                });
                // Retry what the node refuses for load (writes in flight).
                let mut attempts = 0;
                loop {
                    attempts += 1;
                    match nightjar_transport::request(&conn, &req, Duration::from_secs(60)).await {
                        Ok(r) if matches!(r.body, ResponseBody::Stored { .. }) => {
                            stored += 1;
                            break;
                        }
                        Ok(r) if attempts < 20 => {
                            retried += 1;
                            let _ = r;
                            tokio::time::sleep(Duration::from_millis(20)).await;
                        }
                        Ok(r) => bail!("store {i} refused: {:?}", r.body),
                        Err(e) if attempts < 20 => {
                            retried += 1;
                            let _ = e;
                            tokio::time::sleep(Duration::from_millis(20)).await;
                        }
                        Err(e) => return Err(e).context(format!("store {i}")),
                    }
                }
            }
            Ok((stored, retried))
        });
    }
    let progress = {
        let next = next.clone();
        let messages = args.messages;
        tokio::spawn(async move {
            loop {
                tokio::time::sleep(Duration::from_secs(30)).await;
                eprintln!(
                    "  … {} of {messages} sent",
                    next.load(Ordering::Relaxed).min(messages)
                );
            }
        })
    };
    let (mut stored, mut retried) = (0usize, 0usize);
    while let Some(r) = tasks.join_next().await {
        let (s, rt) = r??;
        stored += s;
        retried += rt;
    }
    progress.abort();
    let wall = t0.elapsed();
    let node_cpu = node.cpu_seconds()? - cpu0;
    for c in &conns {
        c.close(0u32.into(), b"done");
    }
    endpoint.close(0u32.into(), b"done");
    tokio::time::sleep(SETTLE).await;
    let rss_loaded = util::mb(node.rss_bytes()?);
    let rss_peak = util::mb(node.peak_rss_bytes()?);
    let db_mb = dir_size(&config.data_dir) as f64 / (1024.0 * 1024.0);
    drop(node);

    let out = json!({
        "bench": "memory",
        "messages": stored,
        "accounts": args.accounts,
        "message_bytes": args.size,
        "rss_idle_mb": rss_idle,
        "rss_loaded_mb": rss_loaded,
        "rss_peak_mb": rss_peak,
        "database_mb": db_mb,
        "stores_per_sec": stored as f64 / wall.as_secs_f64().max(f64::MIN_POSITIVE),
        "stores_per_cpu_sec": if node_cpu > 0.0 { stored as f64 / node_cpu } else { 0.0 },
        "retried": retried,
        "node_binary": bin.describe(),
    });
    eprintln!(
        "node RSS idle {rss_idle:.1} MB; after {stored} messages of {} B in {} accounts {rss_loaded:.1} MB \
         (peak {rss_peak:.1} MB, database {db_mb:.0} MB on disk); stored at {:.0}/s, {:.0} per node CPU-second",
        args.size,
        args.accounts,
        stored as f64 / wall.as_secs_f64().max(f64::MIN_POSITIVE),
        if node_cpu > 0.0 {
            stored as f64 / node_cpu
        } else {
            0.0
        },
    );
    println!("{out}");
    Ok(())
}

fn dir_size(dir: &std::path::Path) -> u64 {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return 0;
    };
    entries
        .filter_map(Result::ok)
        .map(|e| match e.metadata() {
            Ok(m) if m.is_dir() => dir_size(&e.path()),
            Ok(m) => m.len(),
            Err(_) => 0,
        })
        .sum()
}
