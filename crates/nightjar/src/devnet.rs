//! `nightjar devnet`: a local network of real `nightjar-node` processes on loopback.
//!
//! `up` writes (once) each node's key and config, the genesis registry and
//! `network.toml` into a directory, starts the nodes, and waits until each
//! answers an `info` request over QUIC. Running `up` again on the same
//! directory restarts the same nodes with the same keys, ports and data.
//! `down` stops them. The state lives in `DIR/devnet.json`.

use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use clap::Subcommand;
use nightjar_crypto::identity::{Identity, PublicKey};
use nightjar_node::NodeConfig;
use nightjar_registry::{NetworkFile, NodeEntry, NodeId, Registry};
use serde::{Deserialize, Serialize};
use serde_json::json;

/// The devnet's network name.
pub const NETWORK_NAME: &str = "nightjar-devnet";
const STATE_FILE: &str = "devnet.json";
const REGISTRY_FILE: &str = "registry.toml";
/// Devnet nodes run anti-entropy every 2 s (the default is 5 s) so tests converge quickly.
const SYNC_INTERVAL_SECS: u64 = 2;
/// On a devnet every node and client connects from 127.0.0.1, so the
/// per-address connection limit is raised from its internet default.
const DEVNET_MAX_CONNECTIONS_PER_IP: usize = 4096;
const READY_TIMEOUT: Duration = Duration::from_secs(30);
const STOP_TIMEOUT: Duration = Duration::from_secs(10);

#[derive(Debug, Subcommand)]
pub enum DevnetCmd {
    /// Create (or reuse) a devnet in DIR and start its nodes.
    Up {
        /// How many nodes (used when DIR holds no devnet yet). Onion paths
        /// need at least four: three relays and a destination.
        #[arg(long, default_value_t = 6)]
        nodes: usize,
        /// The devnet's directory.
        #[arg(long)]
        dir: PathBuf,
        /// Return once the nodes answer, leaving them running (stop them with `devnet down`).
        #[arg(long)]
        detach: bool,
        /// Give node i the loopback address IP_BASE + i (e.g. 127.0.1.1, .2, …)
        /// instead of sharing 127.0.0.1 (used when DIR holds no devnet yet).
        #[arg(long)]
        ip_base: Option<Ipv4Addr>,
        /// Run the nodes with `debug_accounting` (test networks only; used when
        /// DIR holds no devnet yet).
        #[arg(long)]
        debug_accounting: bool,
        /// Print JSON.
        #[arg(long)]
        json: bool,
    },
    /// Stop the devnet's nodes.
    Down {
        /// The devnet's directory.
        #[arg(long)]
        dir: PathBuf,
    },
    /// Show each node and whether it runs.
    Status {
        /// The devnet's directory.
        #[arg(long)]
        dir: PathBuf,
        /// Print JSON.
        #[arg(long)]
        json: bool,
    },
    /// Stop one node (SIGTERM, or SIGKILL with --kill).
    StopNode {
        /// The devnet's directory.
        #[arg(long)]
        dir: PathBuf,
        /// The node's index.
        #[arg(long)]
        index: usize,
        /// Kill it at once with SIGKILL (a crash).
        #[arg(long)]
        kill: bool,
    },
    /// Start one stopped node again (same key, address and data).
    StartNode {
        /// The devnet's directory.
        #[arg(long)]
        dir: PathBuf,
        /// The node's index.
        #[arg(long)]
        index: usize,
    },
    /// Create a node, append its join event to the registry, and start it.
    AddNode {
        /// The devnet's directory.
        #[arg(long)]
        dir: PathBuf,
        /// Print JSON.
        #[arg(long)]
        json: bool,
    },
    /// Append a node's exit event to the registry. The node keeps running
    /// to hand its data to the new owners; stop it afterwards with stop-node.
    RemoveNode {
        /// The devnet's directory.
        #[arg(long)]
        dir: PathBuf,
        /// The node's index.
        #[arg(long)]
        index: usize,
    },
}

/// One node of the devnet, as recorded in `devnet.json`.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub(crate) struct DevnetNode {
    /// Position in the devnet (0-based).
    pub index: usize,
    /// Hex of the node's identity key.
    pub node_id: String,
    /// Its QUIC address.
    pub addr: SocketAddr,
    /// Its metrics address.
    pub admin: SocketAddr,
    /// The running process, if any.
    pub pid: Option<u32>,
    /// False once an exit event for the node is in the registry.
    #[serde(default = "registered_default")]
    pub registered: bool,
}

fn registered_default() -> bool {
    true
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub(crate) struct DevnetState {
    network: String,
    nodes: Vec<DevnetNode>,
    /// Node i listens on this address + i (else 127.0.0.1).
    #[serde(default)]
    ip_base: Option<Ipv4Addr>,
    /// Whether nodes record debug accounting.
    #[serde(default)]
    debug_accounting: bool,
}

impl DevnetState {
    /// The address node `index` listens on.
    fn ip_of(&self, index: usize) -> anyhow::Result<IpAddr> {
        ip_of(self.ip_base, index)
    }
}

fn ip_of(base: Option<Ipv4Addr>, index: usize) -> anyhow::Result<IpAddr> {
    let Some(base) = base else {
        return Ok(IpAddr::V4(Ipv4Addr::LOCALHOST));
    };
    let offset = u32::try_from(index).context("too many nodes")?;
    let ip = Ipv4Addr::from(
        u32::from(base)
            .checked_add(offset)
            .context("--ip-base leaves no room for this many nodes")?,
    );
    if !ip.is_loopback() {
        bail!("{ip} is not a loopback address; --ip-base must leave every node inside 127.0.0.0/8");
    }
    Ok(IpAddr::V4(ip))
}

fn node_dir(dir: &Path, index: usize) -> PathBuf {
    dir.join(format!("node-{index}"))
}

fn config_path(dir: &Path, index: usize) -> PathBuf {
    node_dir(dir, index).join("node.toml")
}

fn load_state(dir: &Path) -> anyhow::Result<Option<DevnetState>> {
    let path = dir.join(STATE_FILE);
    match std::fs::read(&path) {
        Ok(bytes) => {
            Ok(Some(serde_json::from_slice(&bytes).with_context(|| {
                format!("{} is damaged", path.display())
            })?))
        }
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(e).with_context(|| format!("cannot read {}", path.display())),
    }
}

fn save_state(dir: &Path, state: &DevnetState) -> anyhow::Result<()> {
    let path = dir.join(STATE_FILE);
    let tmp = dir.join(format!("{STATE_FILE}.tmp"));
    std::fs::write(&tmp, serde_json::to_vec_pretty(state)?)?;
    std::fs::rename(&tmp, &path).with_context(|| format!("cannot write {}", path.display()))
}

/// Free loopback ports: a UDP one on each given address for QUIC and a TCP
/// one on 127.0.0.1 for metrics, all held open together so no two nodes get
/// the same port.
fn free_ports(ips: &[IpAddr]) -> anyhow::Result<Vec<(SocketAddr, SocketAddr)>> {
    let mut held = Vec::with_capacity(ips.len());
    for ip in ips {
        let udp = std::net::UdpSocket::bind(SocketAddr::new(*ip, 0))
            .with_context(|| format!("no free UDP port on {ip}"))?;
        let tcp = std::net::TcpListener::bind("127.0.0.1:0").context("no free TCP port")?;
        held.push((udp, tcp));
    }
    held.iter()
        .map(|(u, t)| Ok((u.local_addr()?, t.local_addr()?)))
        .collect()
}

/// Write keys, configs, the registry and the network file of a new devnet.
fn create(
    dir: &Path,
    n: usize,
    ip_base: Option<Ipv4Addr>,
    debug_accounting: bool,
) -> anyhow::Result<DevnetState> {
    if n == 0 {
        bail!("a devnet needs at least one node");
    }
    std::fs::create_dir_all(dir).with_context(|| format!("cannot create {}", dir.display()))?;
    let ips = (0..n)
        .map(|i| ip_of(ip_base, i))
        .collect::<anyhow::Result<Vec<_>>>()?;
    let ports = free_ports(&ips)?;
    let mut nodes = Vec::with_capacity(n);
    for (index, (addr, admin)) in ports.into_iter().enumerate() {
        nodes.push(new_node(dir, index, addr, admin, debug_accounting)?);
    }
    let entries = entries(&nodes)?;
    let registry = Registry::genesis(NETWORK_NAME, entries.clone());
    write_registry(dir, &registry)?;
    let network = NetworkFile {
        network: NETWORK_NAME.to_string(),
        registry: None,
        seeds: entries,
    };
    std::fs::write(
        dir.join("network.toml"),
        network.to_toml(Some("registry.toml")),
    )?;
    let state = DevnetState {
        network: NETWORK_NAME.to_string(),
        nodes,
        ip_base,
        debug_accounting,
    };
    save_state(dir, &state)?;
    Ok(state)
}

/// Write a node's key and config; the node joins the registry separately.
fn new_node(
    dir: &Path,
    index: usize,
    addr: SocketAddr,
    admin: SocketAddr,
    debug_accounting: bool,
) -> anyhow::Result<DevnetNode> {
    let ndir = node_dir(dir, index);
    std::fs::create_dir_all(&ndir)?;
    let identity = Identity::generate()?;
    let mut config = NodeConfig::new(addr, ndir);
    config.admin = Some(admin);
    config.registry = Some(dir.join(REGISTRY_FILE));
    config.sync_interval_secs = SYNC_INTERVAL_SECS;
    // Every devnet node, client and test shares the loopback address.
    config.max_connections_per_ip = DEVNET_MAX_CONNECTIONS_PER_IP;
    config.debug_accounting = debug_accounting;
    nightjar_keystore::create(&config.key_path(), identity.seed(), None)?;
    std::fs::write(config_path(dir, index), config.to_toml())?;
    Ok(DevnetNode {
        index,
        node_id: identity.public_key().to_hex(),
        addr,
        admin,
        pid: None,
        registered: true,
    })
}

/// Replace the registry file atomically, so running nodes never read half of it.
fn write_registry(dir: &Path, registry: &Registry) -> anyhow::Result<()> {
    let tmp = dir.join(format!("{REGISTRY_FILE}.tmp"));
    std::fs::write(&tmp, registry.to_toml())?;
    std::fs::rename(&tmp, dir.join(REGISTRY_FILE))
        .with_context(|| format!("cannot write {}", dir.join(REGISTRY_FILE).display()))
}

fn entries(nodes: &[DevnetNode]) -> anyhow::Result<Vec<NodeEntry>> {
    nodes
        .iter()
        .map(|n| {
            Ok(NodeEntry {
                id: n.node_id.parse::<NodeId>().map_err(anyhow::Error::msg)?,
                addr: n.addr,
            })
        })
        .collect()
}

/// The `nightjar-node` binary: `NIGHTJAR_NODE_BIN`, else next to this executable, else PATH.
fn node_binary() -> anyhow::Result<PathBuf> {
    if let Some(p) = std::env::var_os("NIGHTJAR_NODE_BIN") {
        return Ok(PathBuf::from(p));
    }
    let exe = std::env::current_exe().context("cannot locate the nightjar executable")?;
    if let Some(sibling) = exe.parent().map(|d| d.join("nightjar-node"))
        && sibling.is_file()
    {
        return Ok(sibling);
    }
    if let Some(path) = std::env::var_os("PATH") {
        for d in std::env::split_paths(&path) {
            let c = d.join("nightjar-node");
            if c.is_file() {
                return Ok(c);
            }
        }
    }
    bail!(
        "nightjar-node not found next to {} or on PATH; build it (`cargo build --release --bin nightjar-node`) or set NIGHTJAR_NODE_BIN",
        exe.display()
    )
}

/// Whether `pid` is a live `nightjar-node` process running this devnet's node `index`.
fn is_our_node(pid: u32, dir: &Path, index: usize) -> bool {
    let Ok(cmdline) = std::fs::read(format!("/proc/{pid}/cmdline")) else {
        return false;
    };
    if let Ok(stat) = std::fs::read_to_string(format!("/proc/{pid}/stat"))
        && let Some(state) = stat
            .rsplit(')')
            .next()
            .and_then(|r| r.split_whitespace().next())
        && (state == "Z" || state == "X")
    {
        return false;
    }
    let want = config_path(dir, index);
    let args: Vec<&[u8]> = cmdline.split(|b| *b == 0).collect();
    args.iter().any(|a| a.ends_with(b"nightjar-node"))
        && args
            .iter()
            .any(|a| *a == want.as_os_str().as_encoded_bytes())
}

fn signal(pid: u32, sig: nix::sys::signal::Signal) {
    if let Ok(raw) = i32::try_from(pid) {
        // The process may be gone already; that is the goal.
        let _ = nix::sys::signal::kill(nix::unistd::Pid::from_raw(raw), sig);
    }
}

/// Stop one node: SIGTERM, then SIGKILL if it has not exited in time.
fn stop_node(dir: &Path, node: &DevnetNode) {
    let Some(pid) = node.pid else { return };
    if !is_our_node(pid, dir, node.index) {
        return;
    }
    signal(pid, nix::sys::signal::Signal::SIGTERM);
    let deadline = Instant::now() + STOP_TIMEOUT;
    while is_our_node(pid, dir, node.index) {
        if Instant::now() >= deadline {
            signal(pid, nix::sys::signal::Signal::SIGKILL);
            break;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

async fn wait_ready(
    node: &DevnetNode,
    child: &mut std::process::Child,
    log: &Path,
) -> anyhow::Result<()> {
    let key = PublicKey::from_slice(&hex::decode(&node.node_id)?)?;
    let endpoint = nightjar_transport::client_endpoint(SocketAddr::from(([127, 0, 0, 1], 0)))?;
    let deadline = Instant::now() + READY_TIMEOUT;
    loop {
        if let Some(status) = child.try_wait()? {
            let tail = std::fs::read_to_string(log).unwrap_or_default();
            let tail: String = tail
                .lines()
                .rev()
                .take(10)
                .collect::<Vec<_>>()
                .into_iter()
                .rev()
                .collect::<Vec<_>>()
                .join("\n");
            bail!(
                "node {} exited ({status}) before answering:\n{tail}",
                node.index
            );
        }
        if nightjar_transport::answers_info(&endpoint, node.addr, &key, Duration::from_secs(2))
            .await
        {
            endpoint.wait_idle().await;
            return Ok(());
        }
        if Instant::now() >= deadline {
            bail!(
                "node {} did not answer within {READY_TIMEOUT:?}; see {}",
                node.index,
                log.display()
            );
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// Start the process of `node`; returns the child.
fn spawn_node(
    dir: &Path,
    node: &DevnetNode,
    detach: bool,
) -> anyhow::Result<(std::process::Child, PathBuf)> {
    let binary = node_binary()?;
    let log_path = node_dir(dir, node.index).join("node.log");
    let log = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(&log_path)
        .with_context(|| format!("cannot open {}", log_path.display()))?;
    let mut cmd = std::process::Command::new(&binary);
    cmd.arg("--config")
        .arg(config_path(dir, node.index))
        .stdin(Stdio::null())
        .stdout(log.try_clone()?)
        .stderr(log);
    if detach {
        // Own process group: the terminal's Ctrl-C for this command does not reach the nodes.
        use std::os::unix::process::CommandExt;
        cmd.process_group(0);
    }
    let child = cmd
        .spawn()
        .with_context(|| format!("cannot start {}", binary.display()))?;
    Ok((child, log_path))
}

fn running(dir: &Path, node: &DevnetNode) -> bool {
    node.pid
        .is_some_and(|pid| is_our_node(pid, dir, node.index))
}

/// Start every node of the devnet in `dir` that is not running; returns the updated state.
pub async fn up(
    dir: &Path,
    n: usize,
    detach: bool,
    ip_base: Option<Ipv4Addr>,
    debug_accounting: bool,
) -> anyhow::Result<DevnetState> {
    let mut state = match load_state(dir)? {
        Some(s) => s,
        None => create(dir, n, ip_base, debug_accounting)?,
    };
    let mut children = Vec::new();
    for node in &mut state.nodes {
        if running(dir, node) {
            continue;
        }
        let (child, log_path) = spawn_node(dir, node, detach)?;
        node.pid = Some(child.id());
        children.push((node.clone(), child, log_path));
    }
    save_state(dir, &state)?;
    for (node, child, log) in &mut children {
        if let Err(e) = wait_ready(node, child, log).await {
            for (_, c, _) in &mut children {
                let _ = c.kill();
                let _ = c.wait();
            }
            for node in &mut state.nodes {
                node.pid = None;
            }
            save_state(dir, &state)?;
            return Err(e);
        }
    }
    if !detach {
        // Keep the handles so the nodes are reaped when `run` stops them.
        CHILDREN.with(|c| {
            c.borrow_mut()
                .extend(children.into_iter().map(|(_, c, _)| c))
        });
    }
    // Detached nodes outlive this process; init reaps them when they exit.
    Ok(state)
}

fn state_or_fail(dir: &Path) -> anyhow::Result<DevnetState> {
    load_state(dir)?.with_context(|| format!("no devnet in {}", dir.display()))
}

fn node_mut(state: &mut DevnetState, index: usize) -> anyhow::Result<&mut DevnetNode> {
    let count = state.nodes.len();
    state
        .nodes
        .get_mut(index)
        .with_context(|| format!("no node {index}; the devnet has {count}"))
}

/// Start one node and wait until it answers.
pub async fn start_node(dir: &Path, index: usize) -> anyhow::Result<()> {
    let mut state = state_or_fail(dir)?;
    let node = node_mut(&mut state, index)?;
    if running(dir, node) {
        return Ok(());
    }
    let (mut child, log) = spawn_node(dir, node, true)?;
    node.pid = Some(child.id());
    let snapshot = node.clone();
    save_state(dir, &state)?;
    wait_ready(&snapshot, &mut child, &log).await
}

/// Stop one node, gracefully or with SIGKILL.
pub fn stop_one(dir: &Path, index: usize, kill: bool) -> anyhow::Result<()> {
    let mut state = state_or_fail(dir)?;
    let node = node_mut(&mut state, index)?;
    if kill {
        if let Some(pid) = node.pid
            && is_our_node(pid, dir, node.index)
        {
            signal(pid, nix::sys::signal::Signal::SIGKILL);
            let deadline = Instant::now() + STOP_TIMEOUT;
            while is_our_node(pid, dir, node.index) && Instant::now() < deadline {
                std::thread::sleep(Duration::from_millis(10));
            }
        }
    } else {
        stop_node(dir, node);
    }
    node.pid = None;
    save_state(dir, &state)
}

/// Add a node: key, config, join event, process.
pub async fn add_node(dir: &Path) -> anyhow::Result<DevnetNode> {
    let mut state = state_or_fail(dir)?;
    let index = state.nodes.len();
    let ip = state.ip_of(index)?;
    let (addr, admin) = free_ports(&[ip])?
        .into_iter()
        .next()
        .context("no free port")?;
    let node = new_node(dir, index, addr, admin, state.debug_accounting)?;
    let mut registry = Registry::load(&dir.join(REGISTRY_FILE))?;
    let entry = entries(std::slice::from_ref(&node))?
        .into_iter()
        .next()
        .context("node entry")?;
    // Start first, so the node is up when the others learn about it.
    let (mut child, log) = spawn_node(dir, &node, true)?;
    let mut node = node;
    node.pid = Some(child.id());
    state.nodes.push(node.clone());
    save_state(dir, &state)?;
    wait_ready(&node, &mut child, &log).await?;
    registry.append(nightjar_registry::RegistryEvent::Join { node: entry })?;
    write_registry(dir, &registry)?;
    Ok(node)
}

/// Remove a node from the registry (an exit event); it keeps running.
pub fn remove_node(dir: &Path, index: usize) -> anyhow::Result<()> {
    let mut state = state_or_fail(dir)?;
    let node = node_mut(&mut state, index)?;
    if !node.registered {
        bail!("node {index} has already left the registry");
    }
    let id = node.node_id.parse::<NodeId>().map_err(anyhow::Error::msg)?;
    let mut registry = Registry::load(&dir.join(REGISTRY_FILE))?;
    registry.append(nightjar_registry::RegistryEvent::Exit { id })?;
    write_registry(dir, &registry)?;
    node.registered = false;
    save_state(dir, &state)
}

thread_local! {
    static CHILDREN: std::cell::RefCell<Vec<std::process::Child>> = const { std::cell::RefCell::new(Vec::new()) };
}

/// Stop every node of the devnet in `dir`.
pub fn down(dir: &Path) -> anyhow::Result<()> {
    let Some(mut state) = load_state(dir)? else {
        bail!("no devnet in {}", dir.display());
    };
    for node in &state.nodes {
        stop_node(dir, node);
    }
    for node in &mut state.nodes {
        node.pid = None;
    }
    save_state(dir, &state)
}

fn describe(dir: &Path, state: &DevnetState, json: bool) -> anyhow::Result<()> {
    let network = dir.join("network.toml");
    if json {
        println!(
            "{}",
            json!({
                "dir": dir,
                "network": network,
                "registry": dir.join("registry.toml"),
                "nodes": state.nodes,
            })
        );
    } else {
        println!(
            "devnet {} is up: {} nodes",
            dir.display(),
            state.nodes.len()
        );
        for n in &state.nodes {
            println!(
                "  node {:>2}  {}  quic {}  metrics http://{}/metrics  pid {}",
                n.index,
                n.node_id,
                n.addr,
                n.admin,
                n.pid.map_or("-".to_string(), |p| p.to_string())
            );
        }
        println!("use it with: export NIGHTJAR_NETWORK={}", network.display());
    }
    Ok(())
}

/// Run a `devnet` subcommand.
pub async fn run(cmd: &DevnetCmd) -> anyhow::Result<()> {
    match cmd {
        DevnetCmd::Up {
            nodes,
            dir,
            detach,
            ip_base,
            debug_accounting,
            json,
        } => {
            let dir = std::path::absolute(dir)?;
            let state = up(&dir, *nodes, *detach, *ip_base, *debug_accounting).await?;
            describe(&dir, &state, *json)?;
            if !*detach {
                eprintln!("press Ctrl-C to stop the devnet");
                wait_for_signal().await;
                eprintln!("stopping");
                down(&dir)?;
                CHILDREN.with(|c| {
                    for mut child in c.borrow_mut().drain(..) {
                        let _ = child.wait();
                    }
                });
            }
            Ok(())
        }
        DevnetCmd::Down { dir } => {
            let dir = std::path::absolute(dir)?;
            down(&dir)
        }
        DevnetCmd::Status { dir, json } => {
            let dir = std::path::absolute(dir)?;
            let state = state_or_fail(&dir)?;
            let nodes: Vec<_> = state
                .nodes
                .iter()
                .map(|n| {
                    json!({
                        "index": n.index,
                        "node_id": n.node_id,
                        "addr": n.addr,
                        "admin": n.admin,
                        "pid": n.pid,
                        "running": running(&dir, n),
                        "registered": n.registered,
                    })
                })
                .collect();
            if *json {
                println!("{}", json!({ "nodes": nodes }));
            } else {
                for n in &state.nodes {
                    println!(
                        "node {:>2}  {}  {}  {}{}",
                        n.index,
                        n.node_id,
                        n.addr,
                        if running(&dir, n) {
                            "running"
                        } else {
                            "stopped"
                        },
                        if n.registered {
                            ""
                        } else {
                            "  (left the registry)"
                        }
                    );
                }
            }
            Ok(())
        }
        DevnetCmd::StopNode { dir, index, kill } => {
            stop_one(&std::path::absolute(dir)?, *index, *kill)
        }
        DevnetCmd::StartNode { dir, index } => start_node(&std::path::absolute(dir)?, *index).await,
        DevnetCmd::AddNode { dir, json } => {
            let node = add_node(&std::path::absolute(dir)?).await?;
            if *json {
                println!(
                    "{}",
                    json!({ "index": node.index, "node_id": node.node_id, "addr": node.addr })
                );
            } else {
                println!(
                    "added node {} ({}) at {}",
                    node.index, node.node_id, node.addr
                );
            }
            Ok(())
        }
        DevnetCmd::RemoveNode { dir, index } => remove_node(&std::path::absolute(dir)?, *index),
    }
}

async fn wait_for_signal() {
    use tokio::signal::unix::{SignalKind, signal};
    match (
        signal(SignalKind::terminate()),
        signal(SignalKind::interrupt()),
    ) {
        (Ok(mut term), Ok(mut int)) => {
            tokio::select! {
                _ = term.recv() => {}
                _ = int.recv() => {}
            }
        }
        _ => {
            let _ = tokio::signal::ctrl_c().await;
        }
    }
}
