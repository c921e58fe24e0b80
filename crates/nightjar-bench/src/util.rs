//! Shared pieces: clocks, `/proc` readings, statistics, and real node
//! processes started and stopped by the benchmark.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use nightjar_crypto::identity::Identity;
use nightjar_node::NodeConfig;
use nightjar_registry::{NodeEntry, NodeId};

/// Seconds of CPU this process (all its threads) has used, user and system,
/// at nanosecond resolution.
pub fn cpu_seconds() -> anyhow::Result<f64> {
    let t = nix::time::clock_gettime(nix::time::ClockId::CLOCK_PROCESS_CPUTIME_ID)
        .context("reading the process CPU clock")?;
    Ok(t.tv_sec() as f64 + t.tv_nsec() as f64 / 1e9)
}

/// Clock ticks per second of `/proc/<pid>/stat` times.
fn clock_ticks() -> f64 {
    match nix::unistd::sysconf(nix::unistd::SysconfVar::CLK_TCK) {
        Ok(Some(t)) if t > 0 => t as f64,
        // USER_HZ is 100 on every Linux architecture we build for.
        _ => 100.0,
    }
}

/// Seconds of CPU (utime + stime, all threads, living and exited) another
/// process has used, from `/proc/<pid>/stat` (resolution: one clock tick,
/// usually 10 ms).
pub fn proc_cpu_seconds(pid: u32) -> anyhow::Result<f64> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat"))
        .with_context(|| format!("reading /proc/{pid}/stat"))?;
    // Fields after the command name (which may contain spaces) in parentheses.
    let rest = stat
        .rsplit_once(')')
        .map(|(_, r)| r)
        .context("unexpected /proc/<pid>/stat format")?;
    let fields: Vec<&str> = rest.split_whitespace().collect();
    // `rest` starts at field 3 (state); utime and stime are fields 14 and 15.
    let field = |n: usize| -> anyhow::Result<f64> {
        fields
            .get(n - 3)
            .context("short /proc/<pid>/stat")?
            .parse::<f64>()
            .context("bad number in /proc/<pid>/stat")
    };
    Ok((field(14)? + field(15)?) / clock_ticks())
}

/// A line of `/proc/<pid>/status` in kB (e.g. `VmRSS`), as MB (2^20 bytes).
pub fn proc_status_mb(pid: u32, key: &str) -> anyhow::Result<f64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status"))
        .with_context(|| format!("reading /proc/{pid}/status"))?;
    let line = status
        .lines()
        .find(|l| l.starts_with(key) && l[key.len()..].starts_with(':'))
        .with_context(|| format!("no {key} in /proc/{pid}/status"))?;
    let kb: f64 = line[key.len() + 1..]
        .trim()
        .trim_end_matches("kB")
        .trim()
        .parse()
        .with_context(|| format!("bad {key} line: {line}"))?;
    Ok(kb / 1024.0)
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
    let iters = iters.max(1);
    let mut samples: [Vec<f64>; N] = std::array::from_fn(|_| Vec::with_capacity(rounds));
    for _ in 0..rounds.max(1) {
        for (op, out) in ops.iter_mut().zip(samples.iter_mut()) {
            let c0 = cpu_seconds()?;
            for _ in 0..iters {
                op()?;
            }
            out.push((cpu_seconds()? - c0) * 1e9 / iters as f64);
        }
    }
    Ok(samples.map(|mut v| median(&mut v)))
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

/// `n` free loopback UDP addresses (held together so no two are equal).
pub fn free_udp_addrs(n: usize) -> anyhow::Result<Vec<SocketAddr>> {
    let sockets: Vec<std::net::UdpSocket> = (0..n)
        .map(|_| std::net::UdpSocket::bind("127.0.0.1:0"))
        .collect::<Result<_, _>>()
        .context("no free UDP port on 127.0.0.1")?;
    sockets
        .iter()
        .map(|s| s.local_addr().context("local address"))
        .collect()
}

/// `n` fresh node identities with free loopback addresses.
pub fn node_identities(n: usize) -> anyhow::Result<(Vec<Identity>, Vec<NodeEntry>)> {
    let addrs = free_udp_addrs(n)?;
    let mut ids = Vec::with_capacity(n);
    let mut entries = Vec::with_capacity(n);
    for addr in addrs {
        let id = Identity::generate()?;
        entries.push(NodeEntry {
            id: NodeId(id.public_key()),
            addr,
        });
        ids.push(id);
    }
    Ok((ids, entries))
}

/// How a node process is started: the `nightjar-node` binary, or this
/// benchmark binary's hidden `node` subcommand (which runs the same
/// `nightjar_node::start` on the same configuration and key file).
#[derive(Clone, Debug)]
pub struct NodeBinary {
    path: PathBuf,
    is_self: bool,
}

impl NodeBinary {
    /// `explicit` (from `--node-bin` or `NIGHTJAR_NODE_BIN`), else
    /// `nightjar-node` next to this executable. A path naming this
    /// executable itself selects its `node` subcommand.
    pub fn find(explicit: Option<&Path>) -> anyhow::Result<NodeBinary> {
        let me = std::env::current_exe().context("cannot locate this executable")?;
        let path = match explicit {
            Some(p) => p.to_path_buf(),
            None => {
                let sibling = me
                    .parent()
                    .map(|d| d.join("nightjar-node"))
                    .filter(|p| p.is_file());
                match sibling {
                    Some(s) => s,
                    None => bail!(
                        "nightjar-node not found next to {}; build it (`cargo build --release -p nightjar`) \
                         or pass --node-bin / set NIGHTJAR_NODE_BIN",
                        me.display()
                    ),
                }
            }
        };
        let canon = |p: &Path| std::fs::canonicalize(p).unwrap_or_else(|_| p.to_path_buf());
        let is_self = canon(&path) == canon(&me);
        if !path.is_file() {
            bail!("node binary {} does not exist", path.display());
        }
        Ok(NodeBinary { path, is_self })
    }

    /// What to print: the path, and whether it is this binary's `node` mode.
    pub fn describe(&self) -> String {
        if self.is_self {
            format!("{} node", self.path.display())
        } else {
            self.path.display().to_string()
        }
    }
}

/// A node running as a child process; stopped (SIGTERM, then SIGKILL) on drop.
pub struct NodeProcess {
    child: Child,
    /// The node's registry entry.
    pub entry: NodeEntry,
    /// Its log file.
    pub log: PathBuf,
}

impl NodeProcess {
    /// Write `identity`'s key file and `config` under `config.data_dir`,
    /// start the process, and wait until it answers `info` over QUIC.
    pub async fn start(
        bin: &NodeBinary,
        config: &NodeConfig,
        identity: &Identity,
    ) -> anyhow::Result<NodeProcess> {
        let mut node = NodeProcess::spawn(bin, config, identity)?;
        node.wait_ready().await?;
        Ok(node)
    }

    /// Start every node, then wait until each answers (faster than one by
    /// one). On error, the nodes started so far are stopped.
    pub async fn start_all(
        bin: &NodeBinary,
        nodes: &[(NodeConfig, &Identity)],
    ) -> anyhow::Result<Vec<NodeProcess>> {
        let mut started = Vec::with_capacity(nodes.len());
        for (config, identity) in nodes {
            match NodeProcess::spawn(bin, config, identity) {
                Ok(n) => started.push(n),
                Err(e) => {
                    NodeProcess::stop_all(started);
                    return Err(e);
                }
            }
        }
        for i in 0..started.len() {
            if let Err(e) = started[i].wait_ready().await {
                NodeProcess::stop_all(started);
                return Err(e);
            }
        }
        Ok(started)
    }

    /// Stop every node: SIGTERM to all, then wait for each (SIGKILL after 10 s).
    pub fn stop_all(mut nodes: Vec<NodeProcess>) {
        for n in &nodes {
            n.signal(nix::sys::signal::Signal::SIGTERM);
        }
        for n in &mut nodes {
            n.stop();
        }
    }

    fn spawn(
        bin: &NodeBinary,
        config: &NodeConfig,
        identity: &Identity,
    ) -> anyhow::Result<NodeProcess> {
        std::fs::create_dir_all(&config.data_dir)?;
        let key_path = config.key_path();
        if !key_path.exists() {
            nightjar_keystore::create(&key_path, identity.seed(), None)?;
        }
        let config_path = config.data_dir.join("node.toml");
        std::fs::write(&config_path, config.to_toml())?;
        let log = config.data_dir.join("node.log");
        let log_file = std::fs::File::create(&log)?;
        let mut cmd = Command::new(&bin.path);
        if bin.is_self {
            cmd.arg("node");
        }
        cmd.arg("--config")
            .arg(&config_path)
            .env_remove("NIGHTJAR_PASSPHRASE")
            .stdin(Stdio::null())
            .stdout(log_file.try_clone()?)
            .stderr(log_file);
        let child = cmd
            .spawn()
            .with_context(|| format!("cannot start {}", bin.path.display()))?;
        Ok(NodeProcess {
            child,
            entry: NodeEntry {
                id: NodeId(identity.public_key()),
                addr: config.listen,
            },
            log,
        })
    }

    fn signal(&self, sig: nix::sys::signal::Signal) {
        if let Ok(pid) = i32::try_from(self.child.id()) {
            // The process may have exited already; that is the goal.
            let _ = nix::sys::signal::kill(nix::unistd::Pid::from_raw(pid), sig);
        }
    }

    /// The process ID.
    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    async fn wait_ready(&mut self) -> anyhow::Result<()> {
        let endpoint = nightjar_transport::client_endpoint(SocketAddr::from(([127, 0, 0, 1], 0)))?;
        let deadline = Instant::now() + Duration::from_secs(60);
        loop {
            if let Some(status) = self.child.try_wait()? {
                let log = std::fs::read_to_string(&self.log).unwrap_or_default();
                bail!("node process exited ({status}) before answering:\n{log}");
            }
            if nightjar_transport::answers_info(
                &endpoint,
                self.entry.addr,
                &self.entry.id.0,
                Duration::from_secs(2),
            )
            .await
            {
                endpoint.close(0u32.into(), b"ready");
                return Ok(());
            }
            if Instant::now() >= deadline {
                bail!(
                    "node did not answer within 60 s; see {}",
                    self.log.display()
                );
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    /// Seconds of CPU the process has used so far.
    pub fn cpu_seconds(&self) -> anyhow::Result<f64> {
        proc_cpu_seconds(self.pid())
    }

    /// Resident memory, MB.
    pub fn rss_mb(&self) -> anyhow::Result<f64> {
        proc_status_mb(self.pid(), "VmRSS")
    }

    /// Peak resident memory, MB.
    pub fn peak_rss_mb(&self) -> anyhow::Result<f64> {
        proc_status_mb(self.pid(), "VmHWM")
    }

    /// Stop the process: SIGTERM, then SIGKILL after 10 s.
    pub fn stop(&mut self) {
        if matches!(self.child.try_wait(), Ok(Some(_))) {
            return;
        }
        self.signal(nix::sys::signal::Signal::SIGTERM);
        let deadline = Instant::now() + Duration::from_secs(10);
        while Instant::now() < deadline {
            if matches!(self.child.try_wait(), Ok(Some(_))) {
                return;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Drop for NodeProcess {
    fn drop(&mut self) {
        self.stop();
    }
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
/// exactly as `nightjar-node --config FILE` does, until SIGTERM or SIGINT.
pub async fn run_node(config: &Path) -> anyhow::Result<()> {
    let config = NodeConfig::from_file(config)?;
    config.validate()?;
    let identity = nightjar_keystore::load(&config.key_path(), None)?;
    let node = nightjar_node::start(config, identity).await?;
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
