//! One node process: how it is started ([`Launch`]) and the handle that
//! owns it ([`NodeProcess`]).

use std::ffi::OsString;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Child, ExitStatus, Stdio};
use std::time::{Duration, Instant};

use nightjar_crypto::identity::PublicKey;
use nix::sys::signal::Signal;

use crate::{LaunchError, NodeBinary, PortsFile, signal};

/// How long a node gets to answer after it starts, unless the launch says otherwise.
pub const DEFAULT_READY_TIMEOUT: Duration = Duration::from_secs(30);

/// How long a node gets to exit after SIGTERM before it gets SIGKILL.
pub const DEFAULT_STOP_GRACE: Duration = Duration::from_secs(10);

/// Pause between checks whether a signalled process has exited.
const EXIT_POLL: Duration = Duration::from_millis(20);

/// What dropping a [`NodeProcess`] does to a process still running.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum OnDrop {
    /// SIGKILL at once (tests: nothing outlives a failed test).
    Kill,
    /// SIGTERM, then SIGKILL after the grace period.
    Stop(Duration),
}

/// How to start one node process: the binary and its arguments, where its
/// output goes, and the address and key it answers on once ready.
///
/// The child's standard output and error are appended to the log file; its
/// standard input is `/dev/null`; `NIGHTJAR_PASSPHRASE` is removed from its
/// environment (the launcher's key files have no passphrase, and one meant
/// for a client profile must not reach the node).
///
/// A node whose ports the OS is to choose is started with port 0 and a
/// [ports file](Launch::ports_file): readiness then waits for the node to
/// report the addresses it bound (see [`PortsFile`]) before it asks `info`
/// there, and [`NodeProcess::addr`] / [`NodeProcess::admin`] give them.
#[derive(Clone, Debug)]
pub struct Launch {
    binary: NodeBinary,
    args: Vec<OsString>,
    addr: SocketAddr,
    key: PublicKey,
    log: PathBuf,
    label: String,
    env_remove: Vec<OsString>,
    own_process_group: bool,
    pub(crate) ready_timeout: Duration,
    on_drop: OnDrop,
    /// `--ports-file PATH`: where the node reports its addresses.
    pub(crate) ports_file: Option<PathBuf>,
    /// The addresses a restart binds again (`--listen`, `--admin`): those
    /// the node reported before it was restarted.
    pinned: Option<PortsFile>,
}

impl Launch {
    /// Run `binary` (no arguments yet), logging to `log`; ready once it
    /// answers `info` at `addr` as `key`. With port 0 in `addr` the address
    /// is the one the node reports in its [ports file](Launch::ports_file).
    pub fn new(
        binary: &NodeBinary,
        addr: SocketAddr,
        key: PublicKey,
        log: impl AsRef<Path>,
    ) -> Launch {
        Launch {
            binary: binary.clone(),
            args: Vec::new(),
            addr,
            key,
            log: log.as_ref().to_path_buf(),
            label: format!("nightjar-node at {addr}"),
            env_remove: vec![nightjar_keystore::PASSPHRASE_ENV.into()],
            own_process_group: false,
            ready_timeout: DEFAULT_READY_TIMEOUT,
            on_drop: OnDrop::Kill,
            ports_file: None,
            pinned: None,
        }
    }

    /// Pass `--ports-file PATH`: once it serves, the node writes the
    /// addresses it bound to `path` (see [`PortsFile`]). The file is removed
    /// before every start, and readiness waits for the one the started
    /// process writes. Needed when the node binds port 0.
    pub fn ports_file(mut self, path: impl AsRef<Path>) -> Launch {
        self.ports_file = Some(path.as_ref().to_path_buf());
        self
    }

    /// Add `--config PATH`.
    pub fn config_file(self, path: impl AsRef<Path>) -> Launch {
        self.arg("--config").arg(path.as_ref())
    }

    /// Add one argument.
    pub fn arg(mut self, arg: impl Into<OsString>) -> Launch {
        self.args.push(arg.into());
        self
    }

    /// Add arguments.
    pub fn args<I, S>(mut self, args: I) -> Launch
    where
        I: IntoIterator<Item = S>,
        S: Into<OsString>,
    {
        self.args.extend(args.into_iter().map(Into::into));
        self
    }

    /// Remove `var` from the child's environment (e.g. `RUST_LOG`, so that
    /// `--log` decides).
    pub fn env_remove(mut self, var: impl Into<OsString>) -> Launch {
        self.env_remove.push(var.into());
        self
    }

    /// The name errors use (default `nightjar-node at ADDR`), e.g. `node 3`.
    pub fn label(mut self, label: impl Into<String>) -> Launch {
        self.label = label.into();
        self
    }

    /// How long the node gets to answer (default [`DEFAULT_READY_TIMEOUT`]).
    pub fn ready_timeout(mut self, timeout: Duration) -> Launch {
        self.ready_timeout = timeout;
        self
    }

    /// Start the process in its own process group, so that a terminal's
    /// Ctrl-C to the launching command does not reach it; for processes
    /// that will be [detached](NodeProcess::detach).
    pub fn own_process_group(mut self) -> Launch {
        self.own_process_group = true;
        self
    }

    /// On drop, stop the process gracefully (SIGTERM, SIGKILL after
    /// `grace`) instead of killing it at once.
    pub fn stop_on_drop(mut self, grace: Duration) -> Launch {
        self.on_drop = OnDrop::Stop(grace);
        self
    }

    /// Start the process without waiting for it to answer.
    pub fn spawn(self) -> Result<NodeProcess, LaunchError> {
        let child = self.spawn_child()?;
        Ok(NodeProcess {
            pid: child.id(),
            child: Some(child),
            launch: self,
            reported: None,
        })
    }

    /// Start the process and wait until it answers. If it exits or does not
    /// answer in time, it is killed and the error shows the end of its log.
    pub async fn start(self) -> Result<NodeProcess, LaunchError> {
        let mut node = self.spawn()?;
        node.wait_ready().await?;
        Ok(node)
    }

    /// Start every launch, then wait until each answers (faster than one by
    /// one). On error, the processes started so far are stopped.
    pub async fn start_all(launches: Vec<Launch>) -> Result<Vec<NodeProcess>, LaunchError> {
        let mut nodes = Vec::with_capacity(launches.len());
        for launch in launches {
            nodes.push(launch.spawn()?);
        }
        crate::wait_all_ready(&mut nodes).await?;
        Ok(nodes)
    }

    fn spawn_child(&self) -> Result<Child, LaunchError> {
        if let Some(path) = &self.ports_file {
            match std::fs::remove_file(path) {
                Ok(()) => {}
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
                Err(source) => {
                    return Err(LaunchError::Io {
                        action: "remove",
                        path: path.clone(),
                        source,
                    });
                }
            }
        }
        let log = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&self.log)
            .map_err(|source| LaunchError::Io {
                action: "open",
                path: self.log.clone(),
                source,
            })?;
        let log_err = log.try_clone().map_err(|source| LaunchError::Io {
            action: "open",
            path: self.log.clone(),
            source,
        })?;
        let mut cmd = self.binary.command();
        cmd.args(&self.args);
        if let Some(path) = &self.ports_file {
            cmd.arg("--ports-file").arg(path);
        }
        if let Some(pinned) = &self.pinned {
            // Later flags override earlier ones and the configuration file.
            cmd.arg("--listen").arg(pinned.quic.to_string());
            if let Some(admin) = pinned.admin {
                cmd.arg("--admin").arg(admin.to_string());
            }
        }
        cmd.stdin(Stdio::null()).stdout(log).stderr(log_err);
        for var in &self.env_remove {
            cmd.env_remove(var);
        }
        if self.own_process_group {
            use std::os::unix::process::CommandExt;
            cmd.process_group(0);
        }
        cmd.spawn().map_err(|source| LaunchError::Spawn {
            binary: self.binary.path().to_path_buf(),
            source,
        })
    }
}

/// A node process started by this process. Dropping the handle kills the
/// process (or stops it gracefully, see [`Launch::stop_on_drop`]) and reaps
/// it, also while a panic unwinds; [`detach`](NodeProcess::detach) lets it
/// run on instead.
#[derive(Debug)]
pub struct NodeProcess {
    launch: Launch,
    /// `None` only once detached.
    child: Option<Child>,
    pid: u32,
    /// What the running process reported in its ports file, once read.
    reported: Option<PortsFile>,
}

impl NodeProcess {
    /// The process ID (of the latest start, even if it has exited since).
    pub fn pid(&self) -> u32 {
        self.pid
    }

    /// The QUIC address the node answers on: the one it reported in its
    /// ports file once readiness has read it, else the launch's.
    pub fn addr(&self) -> SocketAddr {
        self.reported.map_or(self.launch.addr, |r| r.quic)
    }

    /// The admin address the node reported in its ports file (known once
    /// it is ready; `None` without a ports file or an admin endpoint).
    pub fn admin(&self) -> Option<SocketAddr> {
        self.reported.and_then(|r| r.admin)
    }

    /// What the node reported in its ports file, once readiness has read it.
    pub fn reported(&self) -> Option<PortsFile> {
        self.reported
    }

    /// Record the running process's report (readiness reads it).
    pub(crate) fn set_reported(&mut self, report: PortsFile) {
        self.reported = Some(report);
    }

    /// The node's identity key.
    pub fn key(&self) -> &PublicKey {
        &self.launch.key
    }

    /// The log file.
    pub fn log_path(&self) -> &Path {
        &self.launch.log
    }

    /// The name errors use.
    pub fn label(&self) -> &str {
        &self.launch.label
    }

    /// How this process was started.
    pub fn launch(&self) -> &Launch {
        &self.launch
    }

    /// The last `lines` lines of the log (empty if it cannot be read).
    pub fn log_tail(&self, lines: usize) -> String {
        crate::readiness::log_tail(&self.launch.log, lines)
    }

    /// Wait until the node answers `info` (see [`crate::wait_all_ready`]).
    pub async fn wait_ready(&mut self) -> Result<(), LaunchError> {
        crate::wait_all_ready(std::slice::from_mut(self)).await
    }

    /// How the process ended, if it has (without blocking).
    pub fn try_wait(&mut self) -> Result<Option<ExitStatus>, LaunchError> {
        let Some(child) = self.child.as_mut() else {
            return Ok(None);
        };
        child.try_wait().map_err(|source| LaunchError::Wait {
            label: self.launch.label.clone(),
            source,
        })
    }

    /// Whether the process is still running (false if it cannot be told).
    pub fn is_running(&mut self) -> bool {
        self.child.is_some() && matches!(self.try_wait(), Ok(None))
    }

    /// Send `sig` to the process if it is still running.
    pub fn signal(&mut self, sig: Signal) {
        if self.is_running() {
            signal::send(self.pid, sig);
        }
    }

    /// SIGKILL the process and reap it; returns how it ended.
    pub fn kill(&mut self) -> Result<ExitStatus, LaunchError> {
        let label = self.launch.label.clone();
        let wait = |source| LaunchError::Wait { label, source };
        let Some(child) = self.child.as_mut() else {
            return Err(wait(std::io::Error::other("the process was detached")));
        };
        // Fails only if it has been reaped already; `wait` then returns the status.
        let _ = child.kill();
        child.wait().map_err(wait)
    }

    /// Stop the process gracefully: SIGTERM, then SIGKILL if it has not
    /// exited within `grace`; returns how it ended.
    pub fn stop(&mut self, grace: Duration) -> Result<ExitStatus, LaunchError> {
        self.signal(Signal::SIGTERM);
        let deadline = Instant::now() + grace;
        while Instant::now() < deadline {
            if let Some(status) = self.try_wait()? {
                return Ok(status);
            }
            std::thread::sleep(EXIT_POLL);
        }
        self.kill()
    }

    /// Stop every process: SIGTERM to all at once, then wait for each
    /// (SIGKILL to any still running `grace` after the SIGTERMs).
    pub fn stop_all(mut nodes: Vec<NodeProcess>, grace: Duration) {
        for node in &mut nodes {
            node.signal(Signal::SIGTERM);
        }
        let deadline = Instant::now() + grace;
        for node in &mut nodes {
            let _ = node.stop(deadline.saturating_duration_since(Instant::now()));
        }
    }

    /// Kill the process (if running) and start it again as before (same
    /// binary, arguments, log — appended — and key), on the same addresses:
    /// if the node reported the ones it bound, the new process gets them
    /// with `--listen` and `--admin` (overriding earlier flags and its
    /// configuration file). Then wait until it answers.
    pub async fn restart(&mut self) -> Result<(), LaunchError> {
        if self.child.is_some() {
            self.kill()?;
        }
        if let Some(report) = self.reported.take() {
            self.launch.pinned = Some(report);
        }
        let child = self.launch.spawn_child()?;
        self.pid = child.id();
        self.child = Some(child);
        self.wait_ready().await
    }

    /// Let the process run on after this handle is gone (a devnet's nodes
    /// outlive the command that started them); returns its pid. Manage it
    /// later with [`crate::DetachedNode`].
    pub fn detach(mut self) -> u32 {
        // Dropping a `Child` neither kills nor waits; init reaps the process
        // once this one has exited.
        self.child = None;
        self.pid
    }

    /// Seconds of CPU the process has used so far (from `/proc`).
    pub fn cpu_seconds(&self) -> Result<f64, LaunchError> {
        crate::cpu_seconds(self.pid)
    }

    /// Resident memory now, in bytes (from `/proc`).
    pub fn rss_bytes(&self) -> Result<u64, LaunchError> {
        crate::rss_bytes(self.pid)
    }

    /// Peak resident memory so far, in bytes (from `/proc`).
    pub fn peak_rss_bytes(&self) -> Result<u64, LaunchError> {
        crate::peak_rss_bytes(self.pid)
    }
}

impl Drop for NodeProcess {
    fn drop(&mut self) {
        if self.child.is_none() {
            return;
        }
        let _ = match self.launch.on_drop {
            OnDrop::Kill => self.kill(),
            OnDrop::Stop(grace) => self.stop(grace),
        };
    }
}
