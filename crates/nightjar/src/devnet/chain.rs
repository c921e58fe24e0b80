//! A devnet's chain: a local `anvil` (Foundry's chain node) running beside
//! the nodes, the registry contract and its test token deployed on it, and
//! the nodes registered and exited through it with anvil's funded dev
//! accounts as operators.
//!
//! anvil is found through `NIGHTJAR_ANVIL`, on `PATH`, or where
//! `contrib/chain-tools.sh` installs it (`contracts/node_modules/` of the
//! source tree this binary was built in, or of the current directory or one
//! above it). It mines a block every second and keeps its chain in
//! `DIR/chain/anvil-state.json`, so `devnet up` on an existing devnet
//! resumes the same chain.
//!
//! Not here: following the chain (every node does, `nightjar-chain`), or
//! anything a real network's operator does differently (`nightjar operator`
//! with a key of their own).

use std::io::{BufRead, BufReader, Seek, SeekFrom};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use nightjar_chain::Address;
use nightjar_chain_tx::deploy::{DeployParams, deploy};
use nightjar_chain_tx::key::OperatorKey;
use nightjar_chain_tx::operator::Operator;
use nightjar_crypto::identity::Identity;
use nightjar_launch::DetachedNode;
use serde::{Deserialize, Serialize};

/// anvil's chain ID.
pub const CHAIN_ID: u64 = 31337;
/// Where to find anvil, before `PATH` and the repository's install.
pub const ANVIL_ENV: &str = "NIGHTJAR_ANVIL";
/// The program name (and the process name checked before any signal).
const ANVIL: &str = "anvil";
/// Where `contrib/chain-tools.sh` installs anvil, relative to the
/// repository's root.
const INSTALLED: &str = "contracts/node_modules/@foundry-rs/anvil-linux-amd64/bin/anvil";
/// Seconds between blocks.
const BLOCK_TIME_SECS: u64 = 1;
/// How far behind the head devnet nodes follow (a devnet has no real
/// reorganisations to wait out; `anvil_reorg` tests them anyway).
pub const CONFIRMATIONS: u64 = 1;
/// How often devnet nodes poll the chain.
pub const POLL_INTERVAL_MS: u64 = 500;
/// How long a devnet node's registry may go without the chain advancing
/// before it reports stale.
pub const STALE_AFTER_SECS: u64 = 10;
/// How long anvil gets to start listening.
const START_TIMEOUT: Duration = Duration::from_secs(30);
const STOP_TIMEOUT: Duration = Duration::from_secs(10);

/// The chain of a devnet, as recorded in `devnet.json`.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub(crate) struct DevnetChain {
    /// anvil's JSON-RPC address.
    pub rpc: SocketAddr,
    /// Its pid while it runs.
    pub pid: Option<u32>,
    /// The chain ID.
    pub chain_id: u64,
    /// The registry contract.
    pub contract: Address,
    /// The test stake token.
    pub token: Address,
    /// The block the registry was deployed in (the nodes' start block).
    pub start_block: u64,
    /// anvil's funded dev accounts' keys (public test material: anvil
    /// prints them to everyone), which act as the devnet's operators.
    pub dev_keys: Vec<String>,
    /// Which dev account registered each node, by node index.
    #[serde(default)]
    pub operators: Vec<Option<usize>>,
}

impl DevnetChain {
    /// The JSON-RPC URL.
    pub fn url(&self) -> String {
        format!("http://{}", self.rpc)
    }

    fn dev_key(&self, i: usize) -> anyhow::Result<OperatorKey> {
        let text = self
            .dev_keys
            .get(i)
            .with_context(|| format!("anvil has no dev account {i}"))?;
        Ok(OperatorKey::from_hex(text)?)
    }

    async fn operator(&self, account: usize) -> anyhow::Result<Operator> {
        Ok(Operator::connect(
            &self.url(),
            self.chain_id,
            self.contract,
            &self.dev_key(account)?,
        )
        .await?)
    }

    /// Registers every `(index, identity, contact)` of `nodes`, node
    /// `index` with dev account `index mod 10` as its operator (recorded in
    /// `operators`), the nodes of different accounts at once (those of one
    /// account one after another: each registration takes the account's
    /// next nonce); returns the last block one landed in.
    pub async fn register_all(
        &mut self,
        nodes: Vec<(usize, Identity, SocketAddr)>,
    ) -> anyhow::Result<Option<u64>> {
        let accounts = self.dev_keys.len().max(1);
        let mut groups: std::collections::BTreeMap<usize, Vec<(usize, Identity, SocketAddr)>> =
            std::collections::BTreeMap::new();
        for node in nodes {
            groups.entry(node.0 % accounts).or_default().push(node);
        }
        let mut tasks = tokio::task::JoinSet::new();
        for (account, group) in groups {
            let chain = self.clone();
            // Returns what landed, and the failure that stopped the rest.
            tasks.spawn(async move {
                let mut done = Vec::new();
                let operator = match chain.operator(account).await {
                    Ok(o) => o,
                    Err(e) => return (done, Some(e)),
                };
                for (index, identity, addr) in group {
                    match operator.register(&identity, addr).await {
                        Ok(registered) => done.push((index, account, registered.landed.block)),
                        Err(e) => {
                            let e = anyhow::Error::from(e)
                                .context(format!("registering node {index} on the devnet's chain"));
                            return (done, Some(e));
                        }
                    }
                }
                (done, None)
            });
        }
        let mut last = None;
        let mut failure = None;
        while let Some(joined) = tasks.join_next().await {
            let (done, error) = match joined {
                Ok(result) => result,
                Err(e) => (Vec::new(), Some(anyhow::Error::from(e))),
            };
            for (index, account, block) in done {
                if self.operators.len() <= index {
                    self.operators.resize(index + 1, None);
                }
                if let Some(slot) = self.operators.get_mut(index) {
                    *slot = Some(account);
                }
                last = last.max(Some(block));
            }
            if let Some(e) = error {
                failure = failure.or(Some(e));
            }
        }
        match failure {
            Some(e) => Err(e),
            None => Ok(last),
        }
    }

    /// Requests the exit of node `index` (key `node`) from its operator;
    /// returns the block it landed in.
    pub async fn request_exit(
        &self,
        index: usize,
        node: &nightjar_crypto::identity::PublicKey,
    ) -> anyhow::Result<u64> {
        let account = self
            .operators
            .get(index)
            .copied()
            .flatten()
            .with_context(|| format!("node {index} was never registered on the chain"))?;
        let exit = self
            .operator(account)
            .await?
            .request_exit(node)
            .await
            .with_context(|| format!("requesting the exit of node {index}"))?;
        Ok(exit.landed.block)
    }

    /// The running anvil, as recorded (checked against its command line).
    pub fn process(&self, dir: &Path) -> Option<DetachedNode> {
        self.pid
            .map(|pid| DetachedNode::of_program(pid, ANVIL, state_path(dir)))
    }

    /// Whether the recorded anvil runs.
    pub fn running(&self, dir: &Path) -> bool {
        self.process(dir).is_some_and(|p| p.is_running())
    }

    /// Stops anvil (SIGTERM: it writes its state file on the way out).
    pub fn stop(&mut self, dir: &Path) {
        if let Some(p) = self.process(dir) {
            p.stop(STOP_TIMEOUT);
        }
        self.pid = None;
    }
}

fn chain_dir(dir: &Path) -> PathBuf {
    dir.join("chain")
}

fn state_path(dir: &Path) -> PathBuf {
    chain_dir(dir).join("anvil-state.json")
}

fn log_path(dir: &Path) -> PathBuf {
    chain_dir(dir).join("anvil.log")
}

/// The anvil binary: `NIGHTJAR_ANVIL`, `PATH`, or the repository's install.
pub fn find_anvil() -> anyhow::Result<PathBuf> {
    if let Some(path) = std::env::var_os(ANVIL_ENV).filter(|p| !p.is_empty()) {
        return Ok(PathBuf::from(path));
    }
    if let Some(paths) = std::env::var_os("PATH") {
        for dir in std::env::split_paths(&paths) {
            let candidate = dir.join(ANVIL);
            if candidate.is_file() {
                return Ok(candidate);
            }
        }
    }
    let mut roots: Vec<PathBuf> = vec![PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../..")];
    if let Ok(cwd) = std::env::current_dir() {
        roots.extend(cwd.ancestors().map(Path::to_path_buf));
    }
    if let Ok(exe) = std::env::current_exe() {
        roots.extend(exe.ancestors().map(Path::to_path_buf));
    }
    roots
        .iter()
        .map(|root| root.join(INSTALLED))
        .find(|candidate| candidate.is_file())
        .context(
            "a devnet runs a local chain with Foundry's anvil, which was not found: install it \
             with `bash contrib/chain-tools.sh` from the Nightjar source tree (it puts it in \
             contracts/node_modules/), put `anvil` on PATH, or set NIGHTJAR_ANVIL to its path",
        )
}

/// [`find_anvil`], or else, when this binary was built from a source tree
/// that has `contrib/chain-tools.sh`, that script run once to install it
/// (from the committed npm lockfile). For `nightjar demo`, whose README
/// command must work on a fresh machine.
pub fn find_or_install_anvil() -> anyhow::Result<PathBuf> {
    if let Ok(found) = find_anvil() {
        return Ok(found);
    }
    let script = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../contrib/chain-tools.sh");
    if !script.is_file() {
        return find_anvil();
    }
    eprintln!("  installing the local chain's tools (bash contrib/chain-tools.sh, once)…");
    let out = Command::new("bash")
        .arg(&script)
        .stderr(Stdio::inherit())
        .output()
        .with_context(|| format!("cannot run {}", script.display()))?;
    if !out.status.success() {
        bail!("{} failed ({})", script.display(), out.status);
    }
    find_anvil_from(&out.stdout)
        .filter(|p| p.is_file())
        .map_or_else(find_anvil, Ok)
}

/// The `anvil=PATH` line `contrib/chain-tools.sh` prints, if any.
fn find_anvil_from(stdout: &[u8]) -> Option<PathBuf> {
    String::from_utf8_lossy(stdout)
        .lines()
        .find_map(|l| l.strip_prefix("anvil=").map(PathBuf::from))
}

/// The `[chain]` section of a node on this chain.
pub fn node_config(chain: &DevnetChain, network: &str) -> nightjar_node::ChainConfig {
    nightjar_node::ChainConfig {
        network: network.to_owned(),
        rpc: vec![chain.url()],
        chain_id: chain.chain_id,
        contract: chain.contract.to_string().to_lowercase(),
        start_block: chain.start_block,
        confirmations: CONFIRMATIONS,
        poll_interval_ms: POLL_INTERVAL_MS,
        stale_after_secs: STALE_AFTER_SECS,
        initial_sync_secs: 60,
        state_file: None,
    }
}

/// Starts anvil for the devnet in `dir` on `port` (0: any free port), in
/// its own process group so it outlives this command; returns its pid, the
/// address it listens on and its dev accounts' keys.
pub fn start_anvil(
    dir: &Path,
    port: u16,
    binary: &Path,
) -> anyhow::Result<(u32, SocketAddr, Vec<String>)> {
    std::fs::create_dir_all(chain_dir(dir))?;
    let log_file = log_path(dir);
    let log = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(&log_file)
        .with_context(|| format!("cannot open {}", log_file.display()))?;
    let start = log.metadata().map(|m| m.len()).unwrap_or(0);
    let mut child = {
        use std::os::unix::process::CommandExt;
        Command::new(binary)
            .args(["--host", "127.0.0.1", "--port"])
            .arg(port.to_string())
            .args(["--chain-id", &CHAIN_ID.to_string()])
            .args(["--block-time", &BLOCK_TIME_SECS.to_string()])
            .arg("--state")
            .arg(state_path(dir))
            .args(["--state-interval", "5"])
            .stdin(Stdio::null())
            .stdout(log.try_clone()?)
            .stderr(log)
            .process_group(0)
            .spawn()
            .with_context(|| format!("cannot start {}", binary.display()))?
    };
    let pid = child.id();
    let deadline = Instant::now() + START_TIMEOUT;
    loop {
        if let Some(found) = read_start(&log_file, start)? {
            // Detached: anvil outlives this command; init reaps it.
            drop(child);
            return Ok((pid, found.0, found.1));
        }
        if let Ok(Some(status)) = child.try_wait() {
            bail!(
                "anvil exited at start ({status}); see {}",
                log_file.display()
            );
        }
        if Instant::now() >= deadline {
            let _ = child.kill();
            let _ = child.wait();
            bail!(
                "anvil did not start listening within {} s; see {}",
                START_TIMEOUT.as_secs(),
                log_file.display()
            );
        }
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// The address anvil printed it listens on and the dev keys it printed,
/// from the log written since `offset`, once it is listening.
fn read_start(log: &Path, offset: u64) -> anyhow::Result<Option<(SocketAddr, Vec<String>)>> {
    let mut file = std::fs::File::open(log)?;
    file.seek(SeekFrom::Start(offset))?;
    let mut keys = Vec::new();
    let mut in_keys = false;
    for line in BufReader::new(file).lines() {
        let line = line?;
        let line = line.trim();
        if line.starts_with("Private Keys") {
            in_keys = true;
            keys.clear();
            continue;
        }
        if in_keys {
            // "(0) 0xac09…"
            match line.split_once(") ") {
                Some((_, key)) if key.starts_with("0x") => keys.push(key.trim().to_owned()),
                _ if line.is_empty() || line.starts_with('=') => {}
                _ => in_keys = false,
            }
        }
        if let Some(addr) = line.strip_prefix("Listening on ") {
            let addr: SocketAddr = addr
                .trim()
                .parse()
                .with_context(|| format!("anvil printed an address that does not parse: {addr}"))?;
            if keys.is_empty() {
                bail!("anvil printed no dev account keys before listening");
            }
            return Ok(Some((addr, keys)));
        }
    }
    Ok(None)
}

/// Starts anvil (the binary at `anvil`) and deploys the token and registry
/// (the token minted to every dev account); the devnet's chain.
pub async fn create(dir: &Path, anvil: &Path) -> anyhow::Result<DevnetChain> {
    let (pid, rpc, dev_keys) = start_anvil(dir, 0, anvil)?;
    let mut chain = DevnetChain {
        rpc,
        pid: Some(pid),
        chain_id: CHAIN_ID,
        contract: Address::ZERO,
        token: Address::ZERO,
        start_block: 0,
        dev_keys,
        operators: Vec::new(),
    };
    let deployed = async {
        let deployer = chain.dev_key(0)?;
        let holders = chain
            .dev_keys
            .iter()
            .map(|k| Ok(OperatorKey::from_hex(k)?.address()))
            .collect::<anyhow::Result<Vec<Address>>>()?;
        let mut params = DeployParams::devnet(holders);
        params.chain_id = Some(CHAIN_ID);
        Ok::<_, anyhow::Error>(deploy(&chain.url(), &deployer, &params).await?)
    }
    .await;
    match deployed {
        Ok(d) => {
            chain.contract = d.registry;
            chain.token = d.token;
            chain.start_block = d.block;
            Ok(chain)
        }
        Err(e) => {
            chain.stop(dir);
            Err(e.context("deploying the registry contract on the devnet's anvil"))
        }
    }
}

/// Starts the recorded anvil again if it is not running (same port, same
/// chain from its state file).
pub fn ensure_running(dir: &Path, chain: &mut DevnetChain) -> anyhow::Result<()> {
    if chain.running(dir) {
        return Ok(());
    }
    let (pid, rpc, _) = start_anvil(dir, chain.rpc.port(), &find_anvil()?)?;
    chain.pid = Some(pid);
    chain.rpc = rpc;
    Ok(())
}
