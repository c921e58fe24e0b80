//! Shared pieces: this process's CPU clock, statistics, payloads, and the
//! benchmark's settings for node processes (started and measured through
//! `nightjar-launch`).

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use anyhow::Context;
use nightjar_crypto::identity::Identity;
use nightjar_launch::{DEFAULT_STOP_GRACE, LOOPBACK, Launch, NodeBinary};
use nightjar_node::NodeConfig;
use nightjar_registry::{NodeEntry, NodeId, Registry};

/// How long a benchmark node gets to answer after it starts.
const READY_TIMEOUT: Duration = Duration::from_secs(60);

/// How long each node gets to load a rewritten registry file (nodes poll it
/// every second).
const REGISTRY_TIMEOUT: Duration = Duration::from_secs(30);

/// The network name of the benchmarks' registries.
pub const NETWORK: &str = "nightjar-bench";

/// Port 0 on 127.0.0.1: benchmark nodes bind what the OS gives them and
/// report it (no port is chosen and released first).
pub const ANY_PORT: SocketAddr = SocketAddr::new(LOOPBACK, 0);

/// Seconds of CPU this process (all its threads) has used, user and system,
/// at nanosecond resolution.
pub fn cpu_seconds() -> anyhow::Result<f64> {
    let t = nix::time::clock_gettime(nix::time::ClockId::CLOCK_PROCESS_CPUTIME_ID)
        .context("reading the process CPU clock")?;
    Ok(t.tv_sec() as f64 + t.tv_nsec() as f64 / 1e9)
}

/// Context switches of every thread of process `pid` so far (voluntary and
/// involuntary, from `/proc/<pid>/task/*/status`): how often its threads
/// slept and woke.
pub fn context_switches(pid: u32) -> anyhow::Result<u64> {
    let mut total = 0u64;
    for task in std::fs::read_dir(format!("/proc/{pid}/task"))? {
        let Ok(status) = std::fs::read_to_string(task?.path().join("status")) else {
            continue; // the thread ended meanwhile
        };
        for line in status.lines() {
            if let Some(rest) = line
                .strip_prefix("voluntary_ctxt_switches:")
                .or_else(|| line.strip_prefix("nonvoluntary_ctxt_switches:"))
            {
                total += rest.trim().parse::<u64>().unwrap_or(0);
            }
        }
    }
    Ok(total)
}

/// Bytes as MB (2^20 bytes).
pub fn mb(bytes: u64) -> f64 {
    bytes as f64 / (1024.0 * 1024.0)
}

/// The `p`-th percentile (0..=100, nearest rank) of sorted `values`.
pub fn percentile(sorted: &[f64], p: f64) -> f64 {
    if sorted.is_empty() {
        return 0.0;
    }
    let rank = ((p / 100.0) * sorted.len() as f64).ceil() as usize;
    sorted[rank.clamp(1, sorted.len()) - 1]
}

/// The median of `values` (sorted in place).
pub fn median(values: &mut [f64]) -> f64 {
    values.sort_by(f64::total_cmp);
    percentile(values, 50.0)
}

/// Run `op` `iters` times in each of `rounds` rounds and return the median
/// CPU nanoseconds per call over the rounds. `op` gets the global iteration
/// index.
pub fn cpu_ns_per_op(
    rounds: usize,
    iters: usize,
    mut op: impl FnMut(usize) -> anyhow::Result<()>,
) -> anyhow::Result<f64> {
    let iters = iters.max(1);
    let mut per_round = Vec::with_capacity(rounds.max(1));
    let mut i = 0usize;
    for _ in 0..rounds.max(1) {
        let c0 = cpu_seconds()?;
        for _ in 0..iters {
            op(i)?;
            i += 1;
        }
        let c = cpu_seconds()? - c0;
        per_round.push(c * 1e9 / iters as f64);
    }
    Ok(median(&mut per_round))
}

/// One operation to time with [`interleaved`].
pub type Op<'a> = &'a mut dyn FnMut() -> anyhow::Result<()>;

/// Time several operations, `iters` calls each per round, alternating them
/// round by round so that load from other work on the machine hits each
/// alike; returns the median CPU nanoseconds per call of each.
pub fn interleaved<const N: usize>(
    rounds: usize,
    iters: usize,
    mut ops: [Op<'_>; N],
) -> anyhow::Result<[f64; N]> {
    interleaved_all(rounds, iters, &mut ops)?
        .try_into()
        .map_err(|_| anyhow::anyhow!("one median per operation"))
}

/// [`interleaved`] for any number of operations: the median CPU nanoseconds
/// per call of each, in the order given.
pub fn interleaved_all(
    rounds: usize,
    iters: usize,
    ops: &mut [Op<'_>],
) -> anyhow::Result<Vec<f64>> {
    let iters = iters.max(1);
    let mut samples: Vec<Vec<f64>> = ops.iter().map(|_| Vec::with_capacity(rounds)).collect();
    for _ in 0..rounds.max(1) {
        for (op, out) in ops.iter_mut().zip(samples.iter_mut()) {
            let c0 = cpu_seconds()?;
            for _ in 0..iters {
                op()?;
            }
            out.push((cpu_seconds()? - c0) * 1e9 / iters as f64);
        }
    }
    Ok(samples.into_iter().map(|mut v| median(&mut v)).collect())
}

/// A small deterministic PRNG (xorshift64*) for benchmark payloads; not for
/// anything secret.
pub struct Rng(u64);

impl Rng {
    /// A generator from a seed (any value; 0 is replaced).
    pub fn new(seed: u64) -> Rng {
        Rng(seed.max(1))
    }

    /// The next 64 random bits.
    pub fn next_u64(&mut self) -> u64 {
        let mut x = self.0;
        x ^= x >> 12;
        x ^= x << 25;
        x ^= x >> 27;
        self.0 = x;
        x.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }

    /// Fill `buf` with random bytes.
    pub fn fill(&mut self, buf: &mut [u8]) {
        for chunk in buf.chunks_mut(8) {
            let v = self.next_u64().to_le_bytes();
            chunk.copy_from_slice(&v[..chunk.len()]);
        }
    }
}

/// `n` fresh node identities.
pub fn identities(n: usize) -> anyhow::Result<Vec<Identity>> {
    (0..n)
        .map(|_| Ok(Identity::generate()?))
        .collect::<anyhow::Result<_>>()
}

/// The registry entry of a node with `key` serving at `addr`.
pub fn entry(key: nightjar_crypto::identity::PublicKey, addr: SocketAddr) -> NodeEntry {
    NodeEntry {
        id: NodeId(key),
        addr,
    }
}

/// Write a registry listing no node yet at `path`: nodes started on port 0
/// need a registry file before their ports, and so the real one, exist.
pub fn empty_registry(path: &Path) -> anyhow::Result<()> {
    write_registry(path, &Registry::genesis(NETWORK, Vec::new()))
}

/// Replace the registry at `path` by the genesis registry of `entries`
/// (atomically) and wait until every one of those nodes serves it.
pub async fn publish_registry(path: &Path, entries: &[NodeEntry]) -> anyhow::Result<()> {
    write_registry(path, &Registry::genesis(NETWORK, entries.to_vec()))?;
    let targets: Vec<_> = entries.iter().map(|e| (e.addr, e.id.0)).collect();
    nightjar_launch::wait_for_registry(&targets, entries.len() as u64, REGISTRY_TIMEOUT).await?;
    Ok(())
}

fn write_registry(path: &Path, registry: &Registry) -> anyhow::Result<()> {
    let tmp = path.with_extension("toml.tmp");
    std::fs::write(&tmp, registry.to_toml())?;
    std::fs::rename(&tmp, path)?;
    Ok(())
}

/// A launch of a benchmark node: `identity`'s key file and `config` written
/// under `config.data_dir`, then `--config` on `bin`, reporting the ports
/// it bound in `data_dir/node.ports` (60 s to answer; dropping the process
/// stops it gracefully, SIGKILL after 10 s). Its address, once started, is
/// `NodeProcess::addr`.
pub fn launch(
    bin: &NodeBinary,
    config: &NodeConfig,
    identity: &Identity,
) -> anyhow::Result<Launch> {
    Ok(nightjar_launch::write_node_files(config, identity)?
        .launch(bin)
        .ports_file(config.data_dir.join("node.ports"))
        .ready_timeout(READY_TIMEOUT)
        .stop_on_drop(DEFAULT_STOP_GRACE))
}

/// A node configuration for a benchmark node: quiet logs, and limits meant
/// for the open internet (per-connection request rate, connections per
/// address) raised because every load generator here shares 127.0.0.1.
pub fn bench_config(
    listen: SocketAddr,
    data_dir: PathBuf,
    registry: Option<PathBuf>,
) -> NodeConfig {
    let mut config = NodeConfig::new(listen, data_dir);
    config.registry = registry;
    config.log = "warn".into();
    config.requests_per_sec_per_connection = u32::MAX / 4;
    config.max_connections_per_ip = 4096;
    config
}

/// The hidden `node` subcommand: run a node from a configuration file
/// exactly as `nightjar-node --config FILE [--listen A] [--admin A]
/// [--ports-file P]` does, until SIGTERM or SIGINT.
pub async fn run_node(
    config: &Path,
    listen: Option<SocketAddr>,
    admin: Option<SocketAddr>,
    ports_file: Option<&Path>,
) -> anyhow::Result<()> {
    let mut config = NodeConfig::from_file(config)?;
    if let Some(listen) = listen {
        config.listen = listen;
    }
    if admin.is_some() {
        config.admin = admin;
    }
    config.validate()?;
    let identity = nightjar_keystore::load(&config.key_path(), None)?;
    let node = nightjar_node::start(config, identity).await?;
    if let Some(path) = ports_file {
        nightjar_launch::PortsFile::of_this_process(node.listen, node.admin).write(path)?;
    }
    let mut term = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())?;
    tokio::select! {
        _ = term.recv() => {}
        _ = tokio::signal::ctrl_c() => {}
    }
    node.shutdown().await;
    Ok(())
}

/// A temporary directory under `dir` (default: the current directory, so
/// databases live on the real disk rather than a tmpfs).
pub fn bench_dir(dir: Option<PathBuf>) -> anyhow::Result<tempfile::TempDir> {
    let base = match dir {
        Some(d) => d,
        None => std::env::current_dir()?,
    };
    std::fs::create_dir_all(&base)?;
    Ok(tempfile::Builder::new()
        .prefix("nightjar-bench-")
        .tempdir_in(base)?)
}
