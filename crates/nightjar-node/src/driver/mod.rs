//! The tokio driver around [`crate::engine::NodeCore`]: it moves bytes,
//! runs the store and keeps the timer, and decides nothing about the
//! protocol.
//!
//! - [`accept`]: the QUIC accept loop, connection and rate limits, reading
//!   a request off each stream and writing the core's reply to it;
//! - [`effects`]: feeding inputs to the core (one `Mutex`; a request's
//!   stateless checks — keys, hashes, signatures, onion layers — run before
//!   it, on the stream's task) and carrying out
//!   its effects: store commands on the SQLite [`Store`], peer requests
//!   through the pooled node-to-node connections ([`crate::peers`]),
//!   cancellations, and metrics from its events;
//! - [`timers`]: one task that calls `handle_timeout` when `poll_timeout`
//!   is due;
//! - [`limits`]: connection counts and token buckets (transport policy);
//! - [`admin`]: the loopback metrics/health server.
//!
//! The registry file is polled here (it is I/O), or the registry contract
//! followed on its chain ([`chain`]); each version becomes one
//! [`RegistryView`] handed to the core.

mod accept;
mod admin;
mod chain;
mod circuits;
mod effects;
mod limits;
mod timers;

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::atomic::AtomicU64;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use nightjar_crypto::identity::{Identity, PublicKey};
use nightjar_registry::Registry;
use nightjar_store::{Store, StoreConfig, StoreError};
use tokio::sync::{Notify, watch};
use tracing::{debug, info, warn};

use crate::accounting::Accounting;
use crate::config::NodeConfig;
use crate::core::WriteQuorum;
use crate::engine::{CoreConfig, NodeCore, OpId, Prechecker, RegistryView, RequestId};
use crate::metrics::Metrics;
use crate::peers::Peers;
use limits::{ConnectionLimits, StreamLimits};

/// How long a tombstone for a message this node never held is kept.
pub const TOMBSTONE_TTL_MS: u64 = nightjar_wire::MAX_TTL_MS;
/// How long a store waits for its write quorum before answering `quorum_not_reached`.
pub const QUORUM_TIMEOUT: Duration = Duration::from_secs(10);
/// How often the node checks its registry file for changes.
pub const REGISTRY_POLL: Duration = Duration::from_secs(1);
/// Most writes (stores and deletes) in flight at once; beyond this the node
/// answers `Unavailable` instead of queueing without bound.
pub const MAX_PENDING_WRITES: usize = 8192;
/// Most requests to other nodes in flight at once (each is a task holding a
/// permit for its lifetime); beyond it a request fails at once as
/// `Overloaded`. The core bounds replication per node well below this
/// (`CoreConfig::max_peer_in_flight`); this caps everything else too
/// (sync requests and onion relays).
pub const MAX_PEER_TASKS: usize = 16_384;

/// Why a node could not start.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum NodeError {
    /// The configuration is invalid.
    #[error(transparent)]
    Config(#[from] crate::config::ConfigError),
    /// The data directory could not be created.
    #[error("cannot create data directory {path}: {source}")]
    DataDir {
        /// The directory.
        path: std::path::PathBuf,
        /// Why.
        #[source]
        source: std::io::Error,
    },
    /// The message store could not be opened.
    #[error("cannot open the message store: {0}")]
    Store(#[from] StoreError),
    /// The QUIC endpoint could not be set up.
    #[error(transparent)]
    Transport(#[from] nightjar_transport::TransportError),
    /// The registry file is unusable.
    #[error("registry: {0}")]
    Registry(#[from] nightjar_registry::RegistryError),
    /// The chain could not be followed at start (no saved state and no
    /// registry from the chain in time, a bad state file, every endpoint on
    /// another chain).
    #[error("chain registry: {0}")]
    Chain(#[source] nightjar_chain::ChainError),
    /// The admin address could not be bound.
    #[error("cannot bind admin address {addr}: {source}")]
    Admin {
        /// The address.
        addr: SocketAddr,
        /// Why.
        #[source]
        source: std::io::Error,
    },
}

/// The wall clock in Unix milliseconds (0 if the clock is before 1970).
pub fn unix_now_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX))
}

/// Where the core's reply to one request goes: called once, with it.
pub(super) type ReplyTo = Box<dyn FnOnce(nightjar_wire::Response) + Send>;

/// A request waiting for the core's reply: where it goes, and since when.
type ReplySlot = (ReplyTo, std::time::Instant);

struct Shared {
    core: Mutex<NodeCore>,
    /// The core's stateless checks, run before taking `core`'s lock.
    pre: Arc<Prechecker>,
    store: Store,
    peers: Arc<Peers>,
    /// Requests waiting for their reply (streams, circuit deliveries).
    replies: Mutex<HashMap<RequestId, ReplySlot>>,
    /// Peer requests in flight, to abort on `CancelPeer`.
    peer_tasks: Mutex<HashMap<OpId, tokio::task::AbortHandle>>,
    /// One permit per peer request task, held until the task ends.
    peer_permits: Arc<tokio::sync::Semaphore>,
    next_request: AtomicU64,
    /// Wakes the timer task when the core's next deadline moved earlier.
    timer: Notify,
    /// The deadline the timer task sleeps until, Unix ms.
    timer_at: AtomicU64,
    metrics: Metrics,
    shutdown: watch::Receiver<bool>,
    limits: StreamLimits,
    connections: Arc<ConnectionLimits>,
    /// Test networks only (`debug_accounting`): what this node saw.
    accounting: Option<Mutex<Accounting>>,
    /// Store replies, handed to the core in groups by
    /// [`effects::store_reply_loop`].
    store_replies:
        tokio::sync::mpsc::UnboundedSender<(crate::engine::OpId, nightjar_store::StoreReply)>,
    /// Circuits relayed or ended here (cells arrive on the endpoint's socket).
    circuits: Arc<circuits::Circuits>,
    /// The endpoint's socket, for the cells of answers to circuit requests.
    cell_socket: nightjar_transport::CellSocket,
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    // A panic while holding these locks cannot leave them inconsistent (each
    // critical section is a single map or state update), so recover the guard.
    m.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
}

/// A node running on the current tokio runtime.
pub struct RunningNode {
    /// The node's identity key.
    pub node_key: PublicKey,
    /// The QUIC address it listens on.
    pub listen: SocketAddr,
    /// The admin (metrics) address, if enabled.
    pub admin: Option<SocketAddr>,
    stop: watch::Sender<bool>,
    tasks: Vec<tokio::task::JoinHandle<()>>,
    endpoint: quinn::Endpoint,
    store: Store,
}

impl RunningNode {
    /// Stop accepting, finish the writes in flight, close the store.
    pub async fn shutdown(self) {
        let _ = self.stop.send(true);
        self.endpoint.close(0u32.into(), b"node shutting down");
        for t in self.tasks {
            let _ = t.await;
        }
        self.endpoint.wait_idle().await;
        let store = self.store;
        let _ = tokio::task::spawn_blocking(move || store.shutdown()).await;
    }
}

/// Start a node: open the store, bind QUIC (and the admin address), and serve
/// until [`RunningNode::shutdown`].
pub async fn start(config: NodeConfig, identity: Identity) -> Result<RunningNode, NodeError> {
    config.validate()?;
    std::fs::create_dir_all(&config.data_dir).map_err(|source| NodeError::DataDir {
        path: config.data_dir.clone(),
        source,
    })?;
    let mut store_config = StoreConfig::new(config.db_path(), crate::sync::ring_position);
    store_config.max_messages_per_account = config.max_messages_per_account;
    store_config.max_bytes_per_account = config.max_bytes_per_account;
    store_config.max_batch = config.max_batch;
    let store = Store::open(store_config)?;
    // Taken before the file is read, so that a change made from here on
    // (e.g. a launcher listing the ports this node is about to bind) is
    // seen by the registry loop.
    let registry_seen = config.registry.as_deref().map(registry_stamp);
    let mut following = None;
    let mut registry_height = 0;
    let view = match (&config.registry, &config.chain) {
        (Some(path), _) => {
            let registry = Registry::load(path)?;
            registry_height = registry.height();
            Some(RegistryView::of_registry(&registry)?)
        }
        (None, Some(chain_config)) => {
            let (f, view) = chain::start(&config, chain_config).await?;
            registry_height = f.height();
            following = Some(f);
            Some(view)
        }
        (None, None) => None,
    };
    let view = view.map(Arc::new);
    let (circuits, deliveries) = circuits::Circuits::new(
        Arc::new(identity.clone()),
        crate::circuit::CircuitConfig {
            lifetime_ms: config.circuit_lifetime_secs.saturating_mul(1000),
            max_circuits: config.circuit_max,
        },
    );
    if let Some(view) = &view {
        circuits.set_view(view.clone());
    }
    let (endpoint, cell_socket) = nightjar_transport::server_endpoint_with_cells(
        nightjar_transport::server_config(&identity)?,
        config.listen,
        circuits.clone(),
    )?;
    let listen =
        endpoint
            .local_addr()
            .map_err(|source| nightjar_transport::TransportError::Bind {
                addr: config.listen,
                source,
            })?;
    let node_key = identity.public_key();
    let (stop, stop_rx) = watch::channel(false);
    let core_config = CoreConfig {
        write_quorum: config
            .write_quorum
            .map_or(WriteQuorum::Majority, WriteQuorum::Count),
        quorum_timeout_ms: u64::try_from(QUORUM_TIMEOUT.as_millis()).unwrap_or(u64::MAX),
        max_hop_timeout_ms: config.max_hop_timeout_ms,
        sync_interval_ms: config.sync_interval_secs.saturating_mul(1000),
        purge_interval_ms: config.purge_interval_secs.saturating_mul(1000),
        max_pending_writes: MAX_PENDING_WRITES,
        tombstone_ttl_ms: TOMBSTONE_TTL_MS,
        report_accounts: config.debug_accounting,
        ..CoreConfig::default()
    };
    let mut node_core = NodeCore::new(identity.clone(), core_config);
    if let Some(view) = view {
        node_core.set_registry(unix_now_ms(), view);
    }
    let (replies_tx, replies_rx) = tokio::sync::mpsc::unbounded_channel();
    let shared = Arc::new(Shared {
        store_replies: replies_tx,
        pre: node_core.prechecker(),
        core: Mutex::new(node_core),
        store: store.clone(),
        peers: Arc::new(Peers::new(endpoint.clone(), identity)),
        replies: Mutex::new(HashMap::new()),
        peer_tasks: Mutex::new(HashMap::new()),
        peer_permits: Arc::new(tokio::sync::Semaphore::new(MAX_PEER_TASKS)),
        next_request: AtomicU64::new(0),
        timer: Notify::new(),
        timer_at: AtomicU64::new(u64::MAX),
        metrics: Metrics::new(),
        shutdown: stop_rx,
        limits: StreamLimits {
            read_timeout: Duration::from_millis(config.request_read_timeout_ms),
            requests_per_sec: config.requests_per_sec_per_connection,
        },
        connections: ConnectionLimits::new(config.max_connections, config.max_connections_per_ip),
        accounting: config
            .debug_accounting
            .then(|| Mutex::new(Accounting::default())),
        circuits: circuits.clone(),
        cell_socket: cell_socket.clone(),
    });
    circuits.set_shared(&shared);
    let mut tasks = Vec::new();
    let mut admin = None;
    if let Some(addr) = config.admin {
        let listener = tokio::net::TcpListener::bind(addr)
            .await
            .map_err(|source| NodeError::Admin { addr, source })?;
        admin = listener.local_addr().ok();
        tasks.push(tokio::spawn(admin::serve_admin(listener, shared.clone())));
    }
    tasks.push(tokio::spawn(accept::accept_loop(
        endpoint.clone(),
        shared.clone(),
    )));
    tasks.push(tokio::spawn(timers::timer_loop(shared.clone())));
    tasks.push(tokio::spawn(circuits::delivery_loop(
        shared.clone(),
        circuits.clone(),
        deliveries,
    )));
    tasks.push(tokio::spawn(circuits::sweep_loop(
        shared.clone(),
        circuits,
        cell_socket,
    )));
    tasks.push(tokio::spawn(effects::store_reply_loop(
        shared.clone(),
        replies_rx,
    )));
    shared
        .metrics
        .registry_height
        .set(i64::try_from(registry_height).unwrap_or(i64::MAX));
    if let (Some(path), Some(seen)) = (config.registry.clone(), registry_seen) {
        tasks.push(tokio::spawn(registry_loop(shared.clone(), path, seen)));
    }
    if let Some(following) = following {
        tasks.push(tokio::spawn(chain::chain_loop(shared.clone(), following)));
    }
    if config.debug_accounting {
        warn!(
            "debug_accounting is on: this node records which addresses connected and which \
             accounts each request named, and serves that at /debug/accounting; test networks \
             only, never on a node serving real users"
        );
    }
    // Ports only: logs at info level carry no IP address, not even the node's own.
    info!(
        node_id = %node_key.to_hex(),
        quic_port = listen.port(),
        admin_port = ?admin.map(|a| a.port()),
        "nightjar-node serving"
    );
    Ok(RunningNode {
        node_key,
        listen,
        admin,
        stop,
        tasks,
        endpoint,
        store,
    })
}

/// What tells one version of the registry file from another: its
/// modification time and length.
type RegistryStamp = Option<(Option<SystemTime>, u64)>;

fn registry_stamp(path: &std::path::Path) -> RegistryStamp {
    std::fs::metadata(path)
        .ok()
        .map(|m| (m.modified().ok(), m.len()))
}

/// Re-read the registry file when it changes (from `seen`, the version the
/// node started with) and hand the new view to the core.
async fn registry_loop(shared: Arc<Shared>, path: std::path::PathBuf, mut seen: RegistryStamp) {
    let mut shutdown = shared.shutdown.clone();
    loop {
        tokio::select! {
            _ = tokio::time::sleep(REGISTRY_POLL) => {}
            _ = shutdown.changed() => return,
        }
        let now = registry_stamp(&path);
        if now == seen {
            continue;
        }
        match Registry::load(&path).and_then(|r| RegistryView::of_registry(&r)) {
            Ok(view) => {
                seen = now;
                shared.peers.retain(&view.map.nodes());
                let height = view.map.height();
                let view = Arc::new(view);
                shared.circuits.set_view(view.clone());
                effects::input(&shared, |core| core.set_registry(unix_now_ms(), view));
                shared
                    .metrics
                    .registry_height
                    .set(i64::try_from(height).unwrap_or(i64::MAX));
                info!(height, "registry changed; swarm map updated");
            }
            // A half-written file: try again on the next poll.
            Err(e) => debug!(error = %e, "registry not readable yet"),
        }
    }
}
