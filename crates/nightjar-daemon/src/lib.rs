//! `nightjar daemon`: one long-running client per profile. It keeps the
//! onion paths warm and a waiting retrieve open, and serves the local
//! JSON-RPC 2.0 interface of `nightjar-rpc` on `PROFILE/daemon.sock`
//! (mode 0600) to the one-shot CLI, the TUI, scripts and bots.
//!
//! Inside, an engine task owns the one [`nightjar_client::Client`]; every
//! request of every connection reaches it through one channel, and between
//! requests it holds a waiting retrieve that a request cancels
//! ([`nightjar_client::Client::wait_new`] is cancel-safe). What arrives and
//! what is sent through the daemon is broadcast to subscriptions as
//! `message` notifications. [`ProfileLock`] (`PROFILE/daemon.lock`) keeps a
//! second daemon, or a one-shot command, from writing the profile at once.
//!
//! What it is **not** for: no wire format (that is `nightjar-rpc`), no
//! messaging logic of its own (the client does it), no command-line
//! parsing (the `nightjar` binary), and no network listener: the socket is
//! local and only its owner may connect.

#![forbid(unsafe_code)]

mod convert;
mod engine;
mod lock;
mod server;

use std::net::SocketAddr;
use std::path::{Path, PathBuf};

use nightjar_client::{Client, ClientError, Profile};
use nightjar_registry::NetworkFile;
use tokio::sync::{broadcast, mpsc, watch};

pub use lock::{LockHolder, ProfileLock};

/// How long the daemon's sends rely on a device list read before
/// ([`Client::set_device_list_max_age`]): a device added to or removed from
/// a peer's list is noticed at most this late (a failed send reads it
/// again at once).
pub const DEVICE_LIST_MAX_AGE: std::time::Duration = std::time::Duration::from_secs(60);

/// How a daemon is started.
#[derive(Clone, Debug)]
pub struct DaemonOptions {
    /// The profile directory.
    pub profile_dir: PathBuf,
    /// The profile's passphrase, if its key is encrypted.
    pub passphrase: Option<Vec<u8>>,
    /// The network to join.
    pub network: NetworkFile,
    /// The local address the client sends from (port 0: any).
    pub bind: SocketAddr,
}

/// What can go wrong starting or running a daemon.
#[derive(Debug, thiserror::Error)]
pub enum DaemonError {
    /// Another daemon serves this profile.
    #[error("a nightjar daemon (pid {pid}) already serves this profile on {}", socket.display())]
    AlreadyRunning {
        /// Its process id.
        pid: u32,
        /// Its socket.
        socket: PathBuf,
    },
    /// Other nightjar commands have the profile open.
    #[error("another nightjar command has this profile open; start the daemon when it is done")]
    Busy,
    /// The profile or the network failed.
    #[error(transparent)]
    Client(#[from] ClientError),
    /// The lock file or the socket failed.
    #[error("{what}: {source}")]
    Io {
        /// What was being done.
        what: String,
        /// Why it failed.
        source: std::io::Error,
    },
    /// A task of the daemon stopped unexpectedly.
    #[error("daemon task failed: {0}")]
    Task(String),
}

/// A started daemon.
#[derive(Debug)]
pub struct Running {
    socket: PathBuf,
    account_id: String,
    stop: watch::Sender<bool>,
    engine: tokio::task::JoinHandle<()>,
    server: tokio::task::JoinHandle<()>,
    _lock: ProfileLock,
}

/// Takes `PROFILE/daemon.lock` (a second daemon gets
/// [`DaemonError::AlreadyRunning`]), connects the client, warms paths,
/// binds `PROFILE/daemon.sock` (0600; a stale socket from a dead daemon is
/// replaced) and serves until [`Running::shutdown`].
pub async fn start(opts: DaemonOptions) -> Result<Running, DaemonError> {
    let lock = ProfileLock::acquire(&opts.profile_dir, LockHolder::Daemon)?;
    let profile = Profile::open(&opts.profile_dir, opts.passphrase.as_deref())?;
    let mut client = Client::connect(profile, &opts.network, opts.bind).await?;
    client.set_device_list_max_age(Some(DEVICE_LIST_MAX_AGE));
    // A long-running client: a message leaves without waiting for its
    // session's save (the saved copy is one key ahead).
    client.set_sessions_ahead(true)?;
    if let Err(e) = client.warm_paths().await {
        client.close().await;
        return Err(e.into());
    }
    let account_id = client.profile().account_id().to_string();
    let socket = nightjar_rpc::socket_path(&opts.profile_dir);
    let listener = match server::bind(&socket) {
        Ok(l) => l,
        Err(e) => {
            client.close().await;
            return Err(e);
        }
    };
    let (stop, stop_rx) = watch::channel(false);
    let (bus, _) = broadcast::channel(engine::BUS_CAPACITY);
    let (calls, calls_rx) = mpsc::channel(engine::QUEUE);
    let shared = server::Shared::new(calls, bus.clone());
    let engine = engine::Engine::new(client, bus, shared.subscribers(), &opts.network)?;
    let engine = tokio::spawn(engine.run(calls_rx, stop_rx.clone()));
    let server = tokio::spawn(server::serve(listener, shared, stop_rx));
    tracing::info!(socket = %socket.display(), "daemon serving");
    Ok(Running {
        socket,
        account_id,
        stop,
        engine,
        server,
        _lock: lock,
    })
}

impl Running {
    /// The socket it serves on.
    pub fn socket(&self) -> &Path {
        &self.socket
    }

    /// The profile's Account ID.
    pub fn account_id(&self) -> &str {
        &self.account_id
    }

    /// Stops serving, closes the client, removes the socket and releases
    /// the lock.
    pub async fn shutdown(self) -> Result<(), DaemonError> {
        let _ = self.stop.send(true);
        self.wait().await
    }

    /// Waits until the daemon stops (after [`Running::shutdown`] from
    /// elsewhere, or when a task fails), then cleans up as `shutdown` does.
    pub async fn wait(self) -> Result<(), DaemonError> {
        let server = self.server.await;
        let _ = self.stop.send(true);
        let engine = self.engine.await;
        if let Err(e) = std::fs::remove_file(&self.socket)
            && e.kind() != std::io::ErrorKind::NotFound
        {
            tracing::warn!(error = %e, "could not remove the daemon socket");
        }
        server.map_err(|e| DaemonError::Task(e.to_string()))?;
        engine.map_err(|e| DaemonError::Task(e.to_string()))?;
        Ok(())
    }
}
