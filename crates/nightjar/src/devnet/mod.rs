//! `nightjar devnet`: a local network of real `nightjar-node` processes on loopback.
//!
//! `up` writes (once) each node's key and config into a directory, starts
//! the nodes on port 0 with a registry that lists no node yet, and waits
//! until each reports the ports it bound (its ports file) and answers an
//! `info` request over QUIC there. Then it writes those ports into each
//! node's config (so later starts bind them again), the genesis registry
//! and `network.toml`, and waits until every node serves that registry.
//! No port is chosen here and released for a node to bind, so no other
//! process can take it in between. Running `up` again on the same
//! directory restarts the same nodes with the same keys, ports and data.
//! `down` stops them. The state lives in `DIR/devnet.json`. The processes
//! themselves are started, waited for and stopped by `nightjar-launch`.
//!
//! The registry is the staking contract on a local chain ([`chain`]) unless
//! `up --registry-file` asks for a file: `up` starts a local anvil, deploys the token and the
//! registry, starts every node following the chain, registers each node
//! from one of anvil's funded dev accounts once it has reported its ports,
//! and waits until every node serves the registry with all of them;
//! `add-node` and `remove-node` register and exit through the chain.

pub(crate) mod chain;

use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::path::{Path, PathBuf};
use std::time::Duration;

use anyhow::{Context, bail};
use clap::Subcommand;
use nightjar_client::MIN_NETWORK_NODES;
use nightjar_crypto::identity::{Identity, PublicKey};
use nightjar_launch::{DetachedNode, Launch, NodeBinary, NodeProcess};
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
const STOP_TIMEOUT: Duration = Duration::from_secs(10);
/// How long each node gets to load a rewritten registry file (it polls the
/// file every second).
const REGISTRY_TIMEOUT: Duration = Duration::from_secs(30);
/// The file a node reports its bound ports in, in its directory.
const PORTS_FILE: &str = "node.ports";

#[derive(Debug, Subcommand)]
pub enum DevnetCmd {
    /// Create (or reuse) a devnet in DIR and start its nodes.
    Up {
        /// How many nodes (used when DIR holds no devnet yet): at least 5,
        /// the fewest on which clients can build onion paths (two guards, two
        /// relays and a destination, all distinct).
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
        /// Describe the nodes in a registry file instead of running a local
        /// chain (anvil) with the staking contract: faster to start, for
        /// tests that need no chain (used when DIR holds no devnet yet).
        #[arg(long)]
        registry_file: bool,
        /// Print JSON.
        #[arg(long)]
        json: bool,
    },
    /// Stop the devnet's nodes (and its chain).
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
    /// Its QUIC address (port 0 until the node first reported the port it bound).
    pub addr: SocketAddr,
    /// Its metrics address (port 0 until first reported).
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
    /// The local chain, if the registry is the staking contract.
    #[serde(default)]
    chain: Option<chain::DevnetChain>,
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
    nightjar_launch::config_file_in(&node_dir(dir, index))
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

/// Whether the node has not reported its ports yet (it was never started).
fn unbound(node: &DevnetNode) -> bool {
    node.addr.port() == 0 || node.admin.port() == 0
}

/// Write keys and configs (on port 0) of a new devnet, and a registry that
/// lists no node yet; the genesis registry and the network file are written
/// once the nodes have reported their ports ([`publish`]).
async fn create(
    dir: &Path,
    n: usize,
    ip_base: Option<Ipv4Addr>,
    debug_accounting: bool,
    with_chain: bool,
) -> anyhow::Result<DevnetState> {
    if n < MIN_NETWORK_NODES {
        bail!(
            "a devnet needs at least {MIN_NETWORK_NODES} nodes, {n} asked: every client command goes \
             through onion paths, which need two guards, two relays and a destination, all distinct"
        );
    }
    std::fs::create_dir_all(dir).with_context(|| format!("cannot create {}", dir.display()))?;
    let chain = if with_chain {
        Some(chain::create(dir, &chain::find_anvil()?).await?)
    } else {
        write_registry(dir, &Registry::genesis(NETWORK_NAME, Vec::new()))?;
        None
    };
    let mut state = DevnetState {
        network: NETWORK_NAME.to_string(),
        nodes: Vec::with_capacity(n),
        ip_base,
        debug_accounting,
        chain,
    };
    for index in 0..n {
        let node = new_node(
            dir,
            index,
            SocketAddr::new(ip_of(ip_base, index)?, 0),
            &state,
        )?;
        state.nodes.push(node);
    }
    save_state(dir, &state)?;
    Ok(state)
}

/// Write a node's key and config (QUIC on `addr`, which has port 0, and the
/// admin endpoint on 127.0.0.1 port 0); the node joins the registry
/// separately, once it has reported its ports.
fn new_node(
    dir: &Path,
    index: usize,
    addr: SocketAddr,
    state: &DevnetState,
) -> anyhow::Result<DevnetNode> {
    let identity = Identity::generate()?;
    let admin = SocketAddr::new(nightjar_launch::LOOPBACK, 0);
    let mut config = NodeConfig::new(addr, node_dir(dir, index));
    config.admin = Some(admin);
    match &state.chain {
        Some(c) => config.chain = Some(chain::node_config(c, NETWORK_NAME)),
        None => config.registry = Some(dir.join(REGISTRY_FILE)),
    }
    config.sync_interval_secs = SYNC_INTERVAL_SECS;
    // Every devnet node, client and test shares the loopback address.
    config.max_connections_per_ip = DEVNET_MAX_CONNECTIONS_PER_IP;
    config.debug_accounting = state.debug_accounting;
    nightjar_launch::write_node_files(&config, &identity)?;
    Ok(DevnetNode {
        index,
        node_id: identity.public_key().to_hex(),
        addr,
        admin,
        pid: None,
        registered: true,
    })
}

/// Record the ports `node` reported (`addr`, `admin`) in its state and its
/// config, so that every later start binds them again (the registry lists
/// them).
fn pin_ports(
    dir: &Path,
    node: &mut DevnetNode,
    addr: SocketAddr,
    admin: Option<SocketAddr>,
) -> anyhow::Result<()> {
    let admin = admin.context("the node reported no admin address")?;
    if (node.addr, node.admin) == (addr, admin) {
        return Ok(());
    }
    let path = config_path(dir, node.index);
    let mut config = NodeConfig::from_file(&path)?;
    config.listen = addr;
    config.admin = Some(admin);
    let tmp = path.with_extension("toml.tmp");
    std::fs::write(&tmp, config.to_toml())?;
    std::fs::rename(&tmp, &path).with_context(|| format!("cannot write {}", path.display()))?;
    node.addr = addr;
    node.admin = admin;
    Ok(())
}

/// Once every node of a new devnet has its ports: write the genesis
/// registry listing them all and `network.toml`, and wait until every node
/// serves that registry. Does nothing if the registry lists nodes already.
async fn publish(dir: &Path, state: &mut DevnetState) -> anyhow::Result<()> {
    if state.chain.is_some() {
        return publish_on_chain(dir, state).await;
    }
    let current = Registry::load(&dir.join(REGISTRY_FILE))?;
    if !current.nodes.is_empty() || !current.events.is_empty() {
        return Ok(());
    }
    if let Some(node) = state.nodes.iter().find(|n| unbound(n)) {
        bail!("node {} has not reported its ports yet", node.index);
    }
    let entries = entries(&state.nodes)?;
    let registry = Registry::genesis(NETWORK_NAME, entries.clone());
    write_registry(dir, &registry)?;
    let network = NetworkFile {
        network: NETWORK_NAME.to_string(),
        registry: None,
        seeds: entries.clone(),
    };
    std::fs::write(
        dir.join("network.toml"),
        network.to_toml(Some("registry.toml")),
    )?;
    let targets: Vec<_> = entries.iter().map(|e| (e.addr, e.id.0)).collect();
    let height = u64::try_from(entries.len()).context("too many nodes")?;
    nightjar_launch::wait_for_registry(&targets, height, REGISTRY_TIMEOUT).await?;
    Ok(())
}

/// The chain form of [`publish`]: register every node not registered yet
/// (from its dev account), write `network.toml` (seeds only: clients take
/// the registry from the nodes), and wait until every node serves the
/// registry that reflects the last registration.
async fn publish_on_chain(dir: &Path, state: &mut DevnetState) -> anyhow::Result<()> {
    if let Some(node) = state.nodes.iter().find(|n| unbound(n)) {
        bail!("node {} has not reported its ports yet", node.index);
    }
    let Some(mut chain) = state.chain.clone() else {
        return Ok(());
    };
    let mut pending = Vec::new();
    for node in &state.nodes {
        let done = chain.operators.get(node.index).copied().flatten().is_some();
        if !done && node.registered {
            pending.push((node.index, node_identity(dir, node.index)?, node.addr));
        }
    }
    let registered = chain.register_all(pending).await;
    state.chain = Some(chain);
    save_state(dir, state)?;
    let last_block = registered?;
    let live: Vec<DevnetNode> = state
        .nodes
        .iter()
        .filter(|n| n.registered)
        .cloned()
        .collect();
    let entries = entries(&live)?;
    let network = NetworkFile {
        network: NETWORK_NAME.to_string(),
        registry: None,
        seeds: entries.clone(),
    };
    std::fs::write(dir.join("network.toml"), network.to_toml(None))?;
    if let Some(height) = last_block {
        let targets: Vec<_> = entries.iter().map(|e| (e.addr, e.id.0)).collect();
        nightjar_launch::wait_for_registry(&targets, height, REGISTRY_TIMEOUT).await?;
    }
    Ok(())
}

/// Node `index`'s identity, from its key file (devnet keys have no passphrase).
fn node_identity(dir: &Path, index: usize) -> anyhow::Result<Identity> {
    let config = NodeConfig::from_file(&config_path(dir, index))?;
    Ok(nightjar_keystore::load(&config.key_path(), None)?)
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

/// The running process of `node`, as recorded (checked against its command line).
fn process_of(dir: &Path, node: &DevnetNode) -> Option<DetachedNode> {
    node.pid
        .map(|pid| DetachedNode::new(pid, config_path(dir, node.index)))
}

fn running(dir: &Path, node: &DevnetNode) -> bool {
    process_of(dir, node).is_some_and(|p| p.is_running())
}

/// Stop one node: SIGTERM, then SIGKILL if it has not exited in time.
fn stop_node(dir: &Path, node: &DevnetNode) {
    if let Some(process) = process_of(dir, node) {
        process.stop(STOP_TIMEOUT);
    }
}

/// How to start the process of `node`: `nightjar-node --config
/// node-I/node.toml --ports-file node-I/node.ports`, logging to
/// `node-I/node.log`, ready once it reported its ports and answers `info`
/// there with its key; in its own process group if it is to outlive this
/// command.
fn launch(
    binary: &NodeBinary,
    dir: &Path,
    node: &DevnetNode,
    detach: bool,
) -> anyhow::Result<Launch> {
    let key = PublicKey::from_slice(&hex::decode(&node.node_id)?)?;
    let ndir = node_dir(dir, node.index);
    let launch = Launch::new(binary, node.addr, key, nightjar_launch::log_file_in(&ndir))
        .config_file(config_path(dir, node.index))
        .ports_file(ndir.join(PORTS_FILE))
        .label(format!("node {}", node.index));
    Ok(if detach {
        launch.own_process_group()
    } else {
        launch
    })
}

/// Start `node` detached and wait until it answers; returns its pid and the
/// QUIC and admin addresses it reported. The pid is saved in `state` (with
/// `update`) before the wait, so `down` finds the process even if this
/// command is interrupted.
async fn start_detached(
    dir: &Path,
    node: &DevnetNode,
    state: &mut DevnetState,
    update: impl FnOnce(&mut DevnetState, u32) -> anyhow::Result<()>,
) -> anyhow::Result<(u32, SocketAddr, Option<SocketAddr>)> {
    let binary = NodeBinary::find(None)?;
    let mut process = launch(&binary, dir, node, true)?.spawn()?;
    update(state, process.pid())?;
    save_state(dir, state)?;
    // On failure the process is killed as `process` drops.
    process.wait_ready().await?;
    let (addr, admin) = (process.addr(), process.admin());
    Ok((process.detach(), addr, admin))
}

/// Start every node of the devnet in `dir` that is not running; returns the
/// updated state and, unless `detach`, the processes started (which the
/// caller stops with [`down`] and then drops, reaping them).
pub async fn up(
    dir: &Path,
    n: usize,
    detach: bool,
    ip_base: Option<Ipv4Addr>,
    debug_accounting: bool,
    with_chain: bool,
) -> anyhow::Result<(DevnetState, Vec<NodeProcess>)> {
    let mut state = match load_state(dir)? {
        Some(s) => s,
        None => create(dir, n, ip_base, debug_accounting, with_chain).await?,
    };
    if let Some(mut c) = state.chain.take() {
        let started = chain::ensure_running(dir, &mut c);
        state.chain = Some(c);
        save_state(dir, &state)?;
        started?;
    }
    let stopped: Vec<DevnetNode> = state
        .nodes
        .iter()
        .filter(|node| !running(dir, node))
        .cloned()
        .collect();
    let mut processes = Vec::with_capacity(stopped.len());
    if !stopped.is_empty() {
        let binary = NodeBinary::find(None)?;
        for node in &stopped {
            // A failure here drops (kills) the processes started so far.
            processes.push(launch(&binary, dir, node, detach)?.spawn()?);
        }
    }
    let indices: Vec<usize> = stopped.iter().map(|node| node.index).collect();
    for (index, process) in indices.iter().zip(&processes) {
        node_mut(&mut state, *index)?.pid = Some(process.pid());
    }
    save_state(dir, &state)?;
    let ready = match nightjar_launch::wait_all_ready(&mut processes).await {
        Ok(()) => {
            // Every node now has its ports: pin them, then list the nodes
            // in the registry if this is a new devnet.
            let pinned = indices.iter().zip(&processes).try_for_each(|(index, p)| {
                pin_ports(dir, node_mut(&mut state, *index)?, p.addr(), p.admin())
            });
            save_state(dir, &state)?;
            match pinned {
                Ok(()) => publish(dir, &mut state).await,
                Err(e) => Err(e),
            }
        }
        Err(e) => Err(e.into()),
    };
    if let Err(e) = ready {
        // Kill and reap what this call started; nodes that were already
        // running keep running and stay recorded.
        drop(processes);
        for node in &mut state.nodes {
            if indices.contains(&node.index) {
                node.pid = None;
            }
        }
        save_state(dir, &state)?;
        return Err(e);
    }
    if detach {
        // Detached nodes outlive this process; init reaps them when they exit.
        for process in processes {
            process.detach();
        }
        processes = Vec::new();
    }
    Ok((state, processes))
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
    let node = node_mut(&mut state, index)?.clone();
    if running(dir, &node) {
        return Ok(());
    }
    let (_, addr, admin) = start_detached(dir, &node, &mut state, |state, pid| {
        node_mut(state, index)?.pid = Some(pid);
        Ok(())
    })
    .await?;
    // A node never started before (an interrupted `up`) gets its ports now.
    pin_ports(dir, node_mut(&mut state, index)?, addr, admin)?;
    save_state(dir, &state)
}

/// Stop one node, gracefully or with SIGKILL.
pub fn stop_one(dir: &Path, index: usize, kill: bool) -> anyhow::Result<()> {
    let mut state = state_or_fail(dir)?;
    let node = node_mut(&mut state, index)?;
    if kill {
        if let Some(process) = process_of(dir, node) {
            process.kill(STOP_TIMEOUT);
        }
    } else {
        stop_node(dir, node);
    }
    node.pid = None;
    save_state(dir, &state)
}

/// Add a node: key, config, process (on port 0), then its join event with
/// the ports it reported.
pub async fn add_node(dir: &Path) -> anyhow::Result<DevnetNode> {
    let mut state = state_or_fail(dir)?;
    let index = state.nodes.len();
    let ip = state.ip_of(index)?;
    let node = new_node(dir, index, SocketAddr::new(ip, 0), &state)?;
    let mut registry = match state.chain {
        Some(_) => None,
        None => Some(Registry::load(&dir.join(REGISTRY_FILE))?),
    };
    // Start first, so the node is up when the others learn about it.
    let (_, addr, admin) = start_detached(dir, &node, &mut state, |state, pid| {
        let mut recorded = node.clone();
        recorded.pid = Some(pid);
        state.nodes.push(recorded);
        Ok(())
    })
    .await?;
    let recorded = node_mut(&mut state, index)?;
    pin_ports(dir, recorded, addr, admin)?;
    let node = recorded.clone();
    save_state(dir, &state)?;
    if let Some(mut c) = state.chain.clone() {
        let identity = node_identity(dir, index)?;
        let registered = c.register_all(vec![(index, identity, node.addr)]).await;
        state.chain = Some(c);
        save_state(dir, &state)?;
        registered?;
        return Ok(node);
    }
    let entry = entries(std::slice::from_ref(&node))?
        .into_iter()
        .next()
        .context("node entry")?;
    if let Some(registry) = registry.as_mut() {
        registry.append(nightjar_registry::RegistryEvent::Join { node: entry })?;
        write_registry(dir, registry)?;
    }
    Ok(node)
}

/// Remove a node from the registry (an exit event, or on a chain devnet an
/// exit request from its operator); it keeps running.
pub async fn remove_node(dir: &Path, index: usize) -> anyhow::Result<()> {
    let mut state = state_or_fail(dir)?;
    let chain = state.chain.clone();
    let node = node_mut(&mut state, index)?;
    if !node.registered {
        bail!("node {index} has already left the registry");
    }
    let id = node.node_id.parse::<NodeId>().map_err(anyhow::Error::msg)?;
    if let Some(c) = chain {
        c.request_exit(index, &id.0).await?;
        node.registered = false;
        return save_state(dir, &state);
    }
    let mut registry = Registry::load(&dir.join(REGISTRY_FILE))?;
    registry.append(nightjar_registry::RegistryEvent::Exit { id })?;
    write_registry(dir, &registry)?;
    node.registered = false;
    save_state(dir, &state)
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
    if let Some(c) = state.chain.as_mut() {
        c.stop(dir);
    }
    save_state(dir, &state)
}

/// `"chain": {"rpc", "chain_id", "contract", "token"}`, or `null` for a
/// registry-file devnet.
fn chain_json(state: &DevnetState) -> serde_json::Value {
    match &state.chain {
        Some(c) => json!({
            "rpc": c.url(),
            "chain_id": c.chain_id,
            "contract": c.contract.to_string().to_lowercase(),
            "token": c.token.to_string().to_lowercase(),
        }),
        None => serde_json::Value::Null,
    }
}

fn describe(dir: &Path, state: &DevnetState, json: bool) -> anyhow::Result<()> {
    let network = dir.join("network.toml");
    if json {
        println!(
            "{}",
            json!({
                "dir": dir,
                "network": network,
                "registry": if state.chain.is_some() { serde_json::Value::Null } else { json!(dir.join("registry.toml")) },
                "chain": chain_json(state),
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
        if let Some(c) = &state.chain {
            println!(
                "  chain     anvil at {} (chain {}), registry contract {}, token {}",
                c.url(),
                c.chain_id,
                c.contract,
                c.token
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
            registry_file,
            json,
        } => {
            let dir = std::path::absolute(dir)?;
            let (state, processes) = up(
                &dir,
                *nodes,
                *detach,
                *ip_base,
                *debug_accounting,
                !*registry_file,
            )
            .await?;
            describe(&dir, &state, *json)?;
            if !*detach {
                eprintln!("press Ctrl-C to stop the devnet");
                wait_for_signal().await;
                eprintln!("stopping");
                down(&dir)?;
                // They have exited; dropping the handles reaps them.
                drop(processes);
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
                println!("{}", json!({ "nodes": nodes, "chain": chain_json(&state) }));
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
        DevnetCmd::RemoveNode { dir, index } => {
            remove_node(&std::path::absolute(dir)?, *index).await
        }
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
