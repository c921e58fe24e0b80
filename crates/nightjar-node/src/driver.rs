//! The tokio driver: QUIC endpoint, store, waits, purge timer and admin server
//! around [`crate::core::NodeCore`].

use std::collections::HashMap;
use std::net::{IpAddr, Ipv6Addr, SocketAddr};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use nightjar_crypto::identity::{Identity, PublicKey};
use nightjar_crypto::onion::HopFailure;
use nightjar_registry::{NodeEntry, NodeId, Registry};
use nightjar_store::{NewMessage, Store, StoreConfig, StoreError, StoreOutcome};
use nightjar_wire::{
    ErrorCode, LABEL_RECEIPT, MAX_RETRIEVE_BYTES, MAX_RETRIEVE_MESSAGES, MAX_SYNC_ENTRIES,
    MessageHash, OnionRequest, Receipt, ReplicateRequest, Request, Response, ResponseBody,
};
use tokio::sync::{Notify, watch};
use tracing::{debug, info, warn};

use crate::accounting::Accounting;
use crate::config::NodeConfig;
use crate::core::{self, Action, NodeCore, WriteQuorum};
use crate::metrics::{KindLabels, Metrics, RefusedLabels, RequestLabels};
use crate::onion::{self, OnionStep};
use crate::peers::Peers;
use crate::sync::{self, Arc64, SyncDriver};

/// How long a tombstone for a message this node never held is kept.
pub const TOMBSTONE_TTL_MS: u64 = nightjar_wire::MAX_TTL_MS;
/// How long a store waits for its write quorum before answering `quorum_not_reached`.
pub const QUORUM_TIMEOUT: Duration = Duration::from_secs(10);
/// How often the node checks its registry file for changes.
pub const REGISTRY_POLL: Duration = Duration::from_secs(1);

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

type MailboxKey = ([u8; 32], u16);

/// Most writes (stores and deletes) queued for the store at once; beyond this
/// the node answers `Unavailable` instead of queueing without bound.
pub const MAX_PENDING_WRITES: usize = 8192;

/// The key connections are counted under: an IPv4 address, or the /64
/// prefix of an IPv6 one (one host usually holds a whole /64). IPv4-mapped
/// IPv6 addresses count as their IPv4 address.
fn source_key(ip: IpAddr) -> IpAddr {
    match ip.to_canonical() {
        IpAddr::V4(v4) => IpAddr::V4(v4),
        IpAddr::V6(v6) => IpAddr::V6(Ipv6Addr::from(u128::from(v6) & !(u128::MAX >> 64))),
    }
}

/// Which connection limit refused a connection.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Refusal {
    /// `max_connections_per_ip`.
    PerIp,
    /// `max_connections`.
    Total,
}

impl Refusal {
    fn label(self) -> &'static str {
        match self {
            Refusal::PerIp => "per_ip",
            Refusal::Total => "total",
        }
    }
}

#[derive(Debug, Default)]
struct ConnectionCounts {
    total: usize,
    per_source: HashMap<IpAddr, usize>,
}

/// Counts open connections (handshakes included), overall and per source.
#[derive(Debug)]
struct ConnectionLimits {
    max_total: usize,
    max_per_source: usize,
    counts: Mutex<ConnectionCounts>,
}

/// One admitted connection; dropping it frees its place.
#[derive(Debug)]
struct ConnectionSlot {
    limits: Arc<ConnectionLimits>,
    source: IpAddr,
}

impl ConnectionLimits {
    fn new(max_total: usize, max_per_source: usize) -> Arc<ConnectionLimits> {
        Arc::new(ConnectionLimits {
            max_total,
            max_per_source,
            counts: Mutex::new(ConnectionCounts::default()),
        })
    }

    /// Admit a connection from `ip`, or say which limit it would break.
    fn admit(self: &Arc<Self>, ip: IpAddr) -> Result<ConnectionSlot, Refusal> {
        let source = source_key(ip);
        let mut counts = lock(&self.counts);
        if counts.total >= self.max_total {
            return Err(Refusal::Total);
        }
        let from_source = counts.per_source.get(&source).copied().unwrap_or(0);
        if from_source >= self.max_per_source {
            return Err(Refusal::PerIp);
        }
        counts.total += 1;
        counts.per_source.insert(source, from_source + 1);
        Ok(ConnectionSlot {
            limits: self.clone(),
            source,
        })
    }
}

impl Drop for ConnectionSlot {
    fn drop(&mut self) {
        let mut counts = lock(&self.limits.counts);
        counts.total = counts.total.saturating_sub(1);
        if let Some(n) = counts.per_source.get_mut(&self.source) {
            *n = n.saturating_sub(1);
            if *n == 0 {
                counts.per_source.remove(&self.source);
            }
        }
    }
}

/// A connection's request budget: `rate` requests a second, up to twice
/// that in a burst.
#[derive(Debug)]
struct TokenBucket {
    rate: f64,
    capacity: f64,
    tokens: f64,
    last: Instant,
}

impl TokenBucket {
    fn new(per_sec: u32, now: Instant) -> TokenBucket {
        let rate = f64::from(per_sec);
        TokenBucket {
            rate,
            capacity: 2.0 * rate,
            tokens: 2.0 * rate,
            last: now,
        }
    }

    /// Take one token if there is one.
    fn try_take(&mut self, now: Instant) -> bool {
        let elapsed = now.saturating_duration_since(self.last).as_secs_f64();
        self.last = now;
        self.tokens = (self.tokens + elapsed * self.rate).min(self.capacity);
        if self.tokens >= 1.0 {
            self.tokens -= 1.0;
            true
        } else {
            false
        }
    }
}

/// The per-stream and per-connection limits in force.
#[derive(Debug, Clone, Copy)]
struct StreamLimits {
    read_timeout: Duration,
    requests_per_sec: u32,
    max_hop_timeout: Duration,
}

struct Shared {
    core: Mutex<NodeCore>,
    store: Store,
    identity: Identity,
    peers: Arc<Peers>,
    quorum: WriteQuorum,
    waiters: Mutex<HashMap<MailboxKey, Arc<Notify>>>,
    metrics: Metrics,
    shutdown: watch::Receiver<bool>,
    write_slots: tokio::sync::Semaphore,
    limits: StreamLimits,
    connections: Arc<ConnectionLimits>,
    /// Test networks only (`debug_accounting`): what this node saw.
    accounting: Option<Mutex<Accounting>>,
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    // A panic while holding these locks cannot leave them inconsistent (each
    // critical section is a single map or state update), so recover the guard.
    m.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
}

impl Shared {
    fn waiter(&self, key: MailboxKey) -> Arc<Notify> {
        lock(&self.waiters).entry(key).or_default().clone()
    }

    fn wake(&self, key: &MailboxKey) {
        if let Some(n) = lock(&self.waiters).get(key) {
            n.notify_waiters();
        }
    }

    fn prune_waiters(&self) {
        lock(&self.waiters).retain(|_, n| Arc::strong_count(n) > 1);
    }
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
    let identity_for_log = identity.public_key();
    config.validate()?;
    std::fs::create_dir_all(&config.data_dir).map_err(|source| NodeError::DataDir {
        path: config.data_dir.clone(),
        source,
    })?;
    let mut store_config = StoreConfig::new(
        config.db_path(),
        nightjar_crypto::hash::ring_position_of_bytes,
    );
    store_config.max_messages_per_account = config.max_messages_per_account;
    store_config.max_bytes_per_account = config.max_bytes_per_account;
    store_config.max_batch = config.max_batch;
    let store = Store::open(store_config)?;
    let registry = match &config.registry {
        Some(path) => {
            let registry = Registry::load(path)?;
            let known = known_nodes(&registry);
            let map = registry.swarm_map()?;
            let snapshot = core::RegistrySnapshot::of(&registry);
            Some((path.clone(), map, known, snapshot))
        }
        None => None,
    };
    let endpoint = nightjar_transport::server_endpoint(&identity, config.listen)?;
    let listen =
        endpoint
            .local_addr()
            .map_err(|source| nightjar_transport::TransportError::Bind {
                addr: config.listen,
                source,
            })?;
    let node_key = identity_for_log;
    let (stop, stop_rx) = watch::channel(false);
    let quorum = config
        .write_quorum
        .map_or(WriteQuorum::Majority, WriteQuorum::Count);
    let mut node_core = NodeCore::new(node_key.to_bytes());
    node_core.set_quorum(quorum);
    let registry_path = registry.as_ref().map(|(p, _, _, _)| p.clone());
    if let Some((_, map, known, snapshot)) = registry {
        node_core.set_map(map, known);
        node_core.set_snapshot(snapshot);
    }
    let shared = Arc::new(Shared {
        core: Mutex::new(node_core),
        store: store.clone(),
        peers: Arc::new(Peers::new(endpoint.clone(), identity.clone())),
        identity,
        quorum,
        waiters: Mutex::new(HashMap::new()),
        metrics: Metrics::new(),
        shutdown: stop_rx.clone(),
        write_slots: tokio::sync::Semaphore::new(MAX_PENDING_WRITES),
        limits: StreamLimits {
            read_timeout: Duration::from_millis(config.request_read_timeout_ms),
            requests_per_sec: config.requests_per_sec_per_connection,
            max_hop_timeout: Duration::from_millis(config.max_hop_timeout_ms),
        },
        connections: ConnectionLimits::new(config.max_connections, config.max_connections_per_ip),
        accounting: config
            .debug_accounting
            .then(|| Mutex::new(Accounting::default())),
    });
    let mut tasks = Vec::new();
    let mut admin = None;
    if let Some(addr) = config.admin {
        let listener = tokio::net::TcpListener::bind(addr)
            .await
            .map_err(|source| NodeError::Admin { addr, source })?;
        admin = listener.local_addr().ok();
        tasks.push(tokio::spawn(serve_admin(listener, shared.clone())));
    }
    tasks.push(tokio::spawn(accept_loop(endpoint.clone(), shared.clone())));
    tasks.push(tokio::spawn(purge_loop(
        shared.clone(),
        Duration::from_secs(config.purge_interval_secs),
    )));
    if let Some(path) = registry_path {
        tasks.push(tokio::spawn(registry_loop(shared.clone(), path)));
        tasks.push(tokio::spawn(sync_loop(
            shared.clone(),
            Duration::from_secs(config.sync_interval_secs),
        )));
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

async fn accept_loop(endpoint: quinn::Endpoint, shared: Arc<Shared>) {
    let mut shutdown = shared.shutdown.clone();
    loop {
        let incoming = tokio::select! {
            i = endpoint.accept() => i,
            _ = shutdown.changed() => break,
        };
        let Some(incoming) = incoming else { break };
        // Count the connection before its handshake costs anything; refuse it
        // outright when its source or the node is at its limit.
        let slot = match shared.connections.admit(incoming.remote_address().ip()) {
            Ok(slot) => slot,
            Err(refusal) => {
                let limit = refusal.label();
                debug!(limit, "incoming connection refused");
                shared
                    .metrics
                    .refused_connections
                    .get_or_create(&RefusedLabels { limit })
                    .inc();
                incoming.refuse();
                continue;
            }
        };
        let shared = shared.clone();
        tokio::spawn(async move {
            let _slot = slot;
            let conn = match incoming.await {
                Ok(c) => c,
                Err(e) => {
                    debug!(error = %e, "handshake failed");
                    return;
                }
            };
            shared.metrics.connections.inc();
            serve_connection(conn, shared.clone()).await;
            shared.metrics.connections.dec();
        });
    }
}

async fn serve_connection(conn: quinn::Connection, shared: Arc<Shared>) {
    let peer = nightjar_transport::peer_node_key(&conn);
    if let Some(accounting) = &shared.accounting {
        lock(accounting).saw_connection(conn.remote_address().ip(), peer.is_some());
    }
    let mut budget = TokenBucket::new(shared.limits.requests_per_sec, Instant::now());
    loop {
        // QUIC flow control (the transport's concurrent-stream cap) bounds
        // how many of these are in progress at once.
        let (send, recv) = match conn.accept_bi().await {
            Ok(s) => s,
            Err(e) => {
                debug!(error = %e, "connection closed");
                return;
            }
        };
        let read_deadline = tokio::time::Instant::now() + shared.limits.read_timeout;
        // Registered nodes carry replication and sync for whole swarms: they
        // are few, authenticated, and not rate limited.
        let allowed = budget.try_take(Instant::now())
            || peer
                .as_ref()
                .is_some_and(|k| lock(&shared.core).is_registered_peer(k));
        if allowed {
            tokio::spawn(serve_stream(
                send,
                recv,
                shared.clone(),
                peer,
                read_deadline,
            ));
        } else {
            shared.metrics.rate_limited.inc();
            tokio::spawn(refuse_stream(send, recv, read_deadline));
        }
    }
}

/// Error code for streams the node stops reading (the request took too long
/// or is not wanted); the answer on the stream says why.
const STREAM_STOPPED: u32 = 1;

/// Answer `rate_limited` without decoding anything, then discard what the
/// client sends on the stream (up to the read deadline) so it can finish its
/// half cleanly and read the answer.
async fn refuse_stream(
    mut send: quinn::SendStream,
    mut recv: quinn::RecvStream,
    read_deadline: tokio::time::Instant,
) {
    let response = Response::error(
        unix_now_ms(),
        ErrorCode::RateLimited,
        "too many requests on this connection; slow down and retry",
    );
    let exchange = async {
        if let Err(e) = nightjar_transport::write_response(&mut send, &response).await {
            debug!(error = %e, "could not deliver a rate_limited answer");
        }
        let mut discarded = 0usize;
        while discarded <= nightjar_wire::MAX_REQUEST_FRAME {
            match recv
                .read_chunk(nightjar_wire::MAX_REQUEST_FRAME, true)
                .await
            {
                Ok(Some(chunk)) => discarded += chunk.bytes.len(),
                Ok(None) | Err(_) => return,
            }
        }
    };
    if tokio::time::timeout_at(read_deadline, exchange)
        .await
        .is_err()
    {
        let _ = recv.stop(STREAM_STOPPED.into());
    }
}

async fn serve_stream(
    mut send: quinn::SendStream,
    mut recv: quinn::RecvStream,
    shared: Arc<Shared>,
    peer: Option<PublicKey>,
    read_deadline: tokio::time::Instant,
) {
    let started = Instant::now();
    let read = tokio::time::timeout_at(read_deadline, nightjar_transport::read_request(&mut recv));
    let request = match read.await {
        Ok(Ok(r)) => r,
        Ok(Err(e)) => {
            debug!(error = %e, "stream failed before a request arrived");
            return;
        }
        Err(_) => {
            // A request that never finishes must not hold a stream (and its
            // buffer) forever: stop reading, say why, and free it.
            let _ = recv.stop(STREAM_STOPPED.into());
            let response = Response::error(
                unix_now_ms(),
                ErrorCode::BadRequest,
                format!(
                    "the request did not arrive completely within {} ms",
                    shared.limits.read_timeout.as_millis()
                ),
            );
            finish(&shared, &mut send, "invalid", started, response).await;
            return;
        }
    };
    let kind = request.as_ref().map_or("invalid", |r| r.kind());
    if let (Some(accounting), Ok(r)) = (&shared.accounting, &request) {
        lock(accounting).saw_request(r);
    }
    let action = lock(&shared.core).handle(unix_now_ms(), peer.as_ref(), request);
    let response = match action {
        Action::Onion(onion) => {
            let (kind, response) = serve_onion(&shared, &mut send, onion).await;
            finish(&shared, &mut send, kind, started, response).await;
            return;
        }
        action => execute(&shared, &mut send, action).await,
    };
    finish(&shared, &mut send, kind, started, response).await;
}

/// Carry out what the core decided, and say what to answer.
async fn execute(shared: &Arc<Shared>, send: &mut quinn::SendStream, action: Action) -> Response {
    let _write_slot = match &action {
        Action::Store { .. } | Action::Delete { .. } => match shared.write_slots.try_acquire() {
            Ok(permit) => Some(permit),
            Err(_) => {
                return Response::error(
                    unix_now_ms(),
                    ErrorCode::Unavailable,
                    "too many writes in flight; retry shortly",
                );
            }
        },
        _ => None,
    };
    match action {
        Action::Respond(r) => r,
        Action::Onion(_) => Response::error(
            unix_now_ms(),
            ErrorCode::BadRequest,
            "an onion layer may not deliver another onion request",
        ),
        Action::Store {
            account,
            namespace,
            hash,
            data,
            expiry_ms,
            replicate_to,
            quorum,
        } => {
            store_replicated(
                shared,
                account,
                namespace,
                hash,
                data,
                expiry_ms,
                replicate_to,
                quorum,
            )
            .await
        }
        Action::Retrieve {
            account,
            namespace,
            after_seq,
            wait_until_ms,
        } => retrieve(shared, send, account, namespace, after_seq, wait_until_ms).await,
        Action::Delete {
            account,
            namespace,
            hashes,
            request,
            forward_to,
        } => {
            // Forward the signed request as is; members that miss it get the
            // tombstones from anti-entropy.
            for member in forward_to {
                let peers = shared.peers.clone();
                let request = request.clone();
                tokio::spawn(async move {
                    if let Err(e) = peers.request(&member, &request, QUORUM_TIMEOUT).await {
                        debug!(error = %e, "forwarding a delete failed");
                    }
                });
            }
            let result = shared
                .store
                .delete(account, namespace, hashes, unix_now_ms(), TOMBSTONE_TTL_MS)
                .await
                .unwrap_or(Err(StoreError::WriterGone));
            if let Err(e) = &result {
                warn!(error = %e, "delete failed");
            }
            core::deleted_response(unix_now_ms(), result)
        }
        Action::SyncDigest {
            start,
            end,
            buckets,
        } => {
            let arc = Arc64 { start, end };
            let entries = own_entries(shared, arc).await;
            match entries {
                Ok(entries) => Response {
                    node_time_ms: unix_now_ms(),
                    body: ResponseBody::Digest(sync::bucket_digests(arc, buckets, &entries)),
                },
                Err(e) => core::store_error_response(unix_now_ms(), &e),
            }
        }
        Action::SyncList { start, end } => match own_entries(shared, Arc64 { start, end }).await {
            Ok(entries) => {
                let truncated = entries.len() > MAX_SYNC_ENTRIES;
                let entries = &entries[..entries.len().min(MAX_SYNC_ENTRIES)];
                Response {
                    node_time_ms: unix_now_ms(),
                    body: ResponseBody::Entries {
                        entries: sync::to_wire(entries),
                        truncated,
                    },
                }
            }
            Err(e) => core::store_error_response(unix_now_ms(), &e),
        },
        Action::SyncFetch(keys) => {
            let store = shared.store.clone();
            let keys = sync::fetch_keys(&keys);
            let now = unix_now_ms();
            match tokio::task::spawn_blocking(move || store.fetch(&keys, now))
                .await
                .unwrap_or(Err(StoreError::WriterGone))
            {
                Ok(messages) => Response {
                    node_time_ms: unix_now_ms(),
                    body: ResponseBody::Full(
                        messages
                            .into_iter()
                            .map(|m| nightjar_wire::FullMessage {
                                account: m.account,
                                namespace: m.namespace,
                                data: m.data,
                                expiry_ms: m.expiry_ms,
                            })
                            .collect(),
                    ),
                },
                Err(e) => core::store_error_response(unix_now_ms(), &e),
            }
        }
    }
}

/// Peel this node's onion layer; forward it to the next hop and wrap the
/// answer, or handle the request it carries and wrap the response.
async fn serve_onion(
    shared: &Arc<Shared>,
    send: &mut quinn::SendStream,
    onion: OnionRequest,
) -> (&'static str, Response) {
    let step = onion::step(
        &shared.identity,
        unix_now_ms(),
        &onion,
        shared.limits.max_hop_timeout,
        |key| lock(&shared.core).registered_node(key),
    );
    let (kind, response) = match step {
        OnionStep::Respond(r) => ("onion_relay", r),
        OnionStep::Forward {
            next,
            onion,
            timeout,
            reply,
        } => {
            let request = Request::Onion(onion);
            let exchange = shared.peers.request(&next, &request, timeout);
            let answer = tokio::select! {
                a = exchange => a,
                _ = send.stopped() => {
                    // The previous hop gave up; so do we (dropping the
                    // exchange resets the stream to the next hop).
                    return (
                        "onion_relay",
                        Response::error(unix_now_ms(), ErrorCode::Unavailable, "previous hop went away"),
                    );
                }
            };
            let now = unix_now_ms();
            let response = match answer {
                Ok(answer) => onion::wrap_relayed(now, reply, &answer),
                Err(nightjar_transport::TransportError::Timeout(_)) => {
                    onion::wrap_failure(now, reply, HopFailure::TimedOut)
                }
                Err(e) => {
                    debug!(error = %e, "next hop unreachable");
                    onion::wrap_failure(now, reply, HopFailure::Unreachable)
                }
            };
            ("onion_relay", response)
        }
        OnionStep::Deliver { request, reply } => {
            let started = Instant::now();
            let kind = request.as_ref().map_or("invalid", |r| r.kind());
            if let (Some(accounting), Ok(r)) = (&shared.accounting, &request) {
                lock(accounting).saw_request(r);
            }
            let action = lock(&shared.core).handle(unix_now_ms(), None, request);
            let inner = execute(shared, send, action).await;
            count(shared, kind, started, &inner);
            (
                "onion_deliver",
                onion::wrap_final(unix_now_ms(), reply, &inner),
            )
        }
    };
    if let (Some(accounting), ResponseBody::Onion(blob)) = (&shared.accounting, &response.body) {
        lock(accounting).saw_onion_answer(blob);
    }
    (kind, response)
}

/// The entries of `arc` this node holds for its own swarm (all of them
/// without a swarm map).
async fn own_entries(
    shared: &Shared,
    arc: Arc64,
) -> Result<Vec<nightjar_store::SyncEntry>, StoreError> {
    let store = shared.store.clone();
    let now = unix_now_ms();
    let entries = tokio::task::spawn_blocking(move || store.list_range(arc.start, arc.end, now))
        .await
        .unwrap_or(Err(StoreError::WriterGone))?;
    let core = lock(&shared.core);
    let me = NodeId(shared.identity.public_key());
    Ok(
        match core
            .map()
            .and_then(|m| m.swarm_of_node(&me).map(|s| (m, s)))
        {
            Some((map, swarm)) => sync::owned(map, swarm, entries),
            None => entries,
        },
    )
}

/// This node's signed receipt for a message it holds durably.
fn receipt(identity: &Identity, hash: &MessageHash, expiry_ms: u64) -> Receipt {
    Receipt {
        node_key: identity.public_key().to_bytes(),
        expiry_ms,
        signature: identity.sign_labelled(
            LABEL_RECEIPT,
            &nightjar_wire::receipt_signed_data(hash, expiry_ms),
        ),
    }
}

/// A receipt from `member` for this message, if it is one and it verifies.
fn verified_receipt(member: &NodeEntry, hash: &MessageHash, resp: &Response) -> Option<Receipt> {
    let ResponseBody::Stored {
        hash: stored,
        receipts,
        ..
    } = &resp.body
    else {
        return None;
    };
    if stored != hash {
        return None;
    }
    receipts.iter().copied().find(|r| {
        r.node_key == member.id.0.to_bytes()
            && member
                .id
                .0
                .verify_labelled(
                    LABEL_RECEIPT,
                    &nightjar_wire::receipt_signed_data(hash, r.expiry_ms),
                    &r.signature,
                )
                .is_ok()
    })
}

/// Store locally and at the other swarm members at once; answer when
/// `quorum` copies (this one included) are durable, with their receipts.
#[allow(clippy::too_many_arguments)]
async fn store_replicated(
    shared: &Arc<Shared>,
    account: [u8; 32],
    namespace: u16,
    hash: MessageHash,
    data: Vec<u8>,
    expiry_ms: u64,
    replicate_to: Vec<NodeEntry>,
    quorum: usize,
) -> Response {
    let (tx, mut rx) = tokio::sync::mpsc::channel(replicate_to.len().max(1));
    if !replicate_to.is_empty() {
        let req = Request::Replicate(ReplicateRequest {
            account,
            namespace,
            data: data.clone(),
            expiry_ms,
        });
        for member in replicate_to {
            let peers = shared.peers.clone();
            let req = req.clone();
            let tx = tx.clone();
            // Each replica keeps going after the client has its answer.
            tokio::spawn(async move {
                let receipt = match peers.request(&member, &req, QUORUM_TIMEOUT).await {
                    Ok(resp) => verified_receipt(&member, &hash, &resp),
                    Err(e) => {
                        debug!(error = %e, "replication to a swarm member failed");
                        None
                    }
                };
                let _ = tx.send(receipt).await;
            });
        }
    }
    drop(tx);
    let local = shared
        .store
        .store(NewMessage {
            account,
            namespace,
            hash,
            data,
            now_ms: unix_now_ms(),
            expiry_ms,
        })
        .await
        .unwrap_or(Err(StoreError::WriterGone));
    let already_stored = match local {
        Ok(StoreOutcome::Stored { .. }) => {
            shared.wake(&(account, namespace));
            false
        }
        Ok(StoreOutcome::AlreadyStored { .. }) => true,
        Ok(StoreOutcome::Tombstoned) => {
            return Response::error(
                unix_now_ms(),
                ErrorCode::Deleted,
                "the recipient deleted this message",
            );
        }
        Err(e) => {
            if !matches!(e, StoreError::QuotaExceeded { .. }) {
                warn!(error = %e, "store failed");
            }
            return core::store_error_response(unix_now_ms(), &e);
        }
    };
    let mut receipts = vec![receipt(&shared.identity, &hash, expiry_ms)];
    let deadline = tokio::time::Instant::now() + QUORUM_TIMEOUT;
    while receipts.len() < quorum {
        match tokio::time::timeout_at(deadline, rx.recv()).await {
            Ok(Some(Some(r))) => receipts.push(r),
            Ok(Some(None)) => {}
            Ok(None) | Err(_) => break,
        }
    }
    if receipts.len() < quorum {
        return Response::error(
            unix_now_ms(),
            ErrorCode::QuorumNotReached,
            format!(
                "{} of {quorum} swarm members confirmed; retry",
                receipts.len()
            ),
        );
    }
    core::stored_response(unix_now_ms(), hash, expiry_ms, already_stored, receipts)
}

/// Re-read the registry file when it changes and install the new swarm map.
async fn registry_loop(shared: Arc<Shared>, path: std::path::PathBuf) {
    let mut shutdown = shared.shutdown.clone();
    let stamp = |p: &std::path::Path| {
        std::fs::metadata(p)
            .ok()
            .map(|m| (m.modified().ok(), m.len()))
    };
    let mut seen = stamp(&path);
    loop {
        tokio::select! {
            _ = tokio::time::sleep(REGISTRY_POLL) => {}
            _ = shutdown.changed() => return,
        }
        let now = stamp(&path);
        if now == seen {
            continue;
        }
        let loaded = Registry::load(&path).and_then(|r| {
            Ok((
                r.swarm_map()?,
                known_nodes(&r),
                core::RegistrySnapshot::of(&r),
            ))
        });
        match loaded {
            Ok((map, known, snapshot)) => {
                seen = now;
                shared.peers.retain(&map.nodes());
                let height = map.height();
                let mut core = lock(&shared.core);
                core.set_map(map, known);
                core.set_snapshot(snapshot);
                drop(core);
                info!(height, "registry changed; swarm map updated");
            }
            // A half-written file: try again on the next poll.
            Err(e) => debug!(error = %e, "registry not readable yet"),
        }
    }
}

/// The key of every node the registry log ever named.
fn known_nodes(registry: &Registry) -> Vec<[u8; 32]> {
    registry
        .log()
        .iter()
        .filter_map(|e| match e {
            nightjar_registry::RegistryEvent::Join { node } => Some(node.id.0.to_bytes()),
            _ => None,
        })
        .collect()
}

/// Anti-entropy and hand-off rounds.
async fn sync_loop(shared: Arc<Shared>, every: Duration) {
    let mut shutdown = shared.shutdown.clone();
    let waker = Arc::downgrade(&shared);
    let driver = SyncDriver {
        me: NodeId(shared.identity.public_key()),
        store: shared.store.clone(),
        peers: shared.peers.clone(),
        quorum: shared.quorum,
        on_stored: Arc::new(move |account, namespace| {
            if let Some(shared) = waker.upgrade() {
                shared.wake(&(account, namespace));
            }
        }),
    };
    loop {
        tokio::select! {
            _ = tokio::time::sleep(every) => {}
            _ = shutdown.changed() => return,
        }
        let Some(map) = lock(&shared.core).map().cloned() else {
            continue;
        };
        let stats = driver.round(&map, unix_now_ms()).await;
        if stats != sync::RoundStats::default() {
            info!(
                pulled = stats.pulled,
                tombstones = stats.tombstones,
                handed_off = stats.handed_off,
                "anti-entropy round"
            );
            shared.metrics.synced.inc_by(stats.pulled);
            shared.metrics.handed_off.inc_by(stats.handed_off);
        }
    }
}

/// Count the answer in the metrics and send it.
async fn finish(
    shared: &Shared,
    send: &mut quinn::SendStream,
    kind: &'static str,
    started: Instant,
    response: Response,
) {
    count(shared, kind, started, &response);
    if let Err(e) = nightjar_transport::write_response(send, &response).await {
        debug!(error = %e, "could not deliver a response");
    }
}

/// Count an answer in the metrics.
fn count(shared: &Shared, kind: &'static str, started: Instant, response: &Response) {
    let outcome = match &response.body {
        ResponseBody::Error { code, .. } => code.name(),
        _ => "ok",
    };
    debug!(kind, outcome, "request answered");
    shared
        .metrics
        .requests
        .get_or_create(&RequestLabels { kind, outcome })
        .inc();
    shared
        .metrics
        .request_seconds
        .get_or_create(&KindLabels { kind })
        .observe(started.elapsed().as_secs_f64());
}

async fn read_mailbox(
    shared: &Shared,
    account: [u8; 32],
    namespace: u16,
    after_seq: u64,
) -> Result<Vec<nightjar_store::StoredMessage>, StoreError> {
    let store = shared.store.clone();
    tokio::task::spawn_blocking(move || {
        store.retrieve(
            &account,
            namespace,
            after_seq,
            unix_now_ms(),
            MAX_RETRIEVE_MESSAGES,
            MAX_RETRIEVE_BYTES,
        )
    })
    .await
    .unwrap_or(Err(StoreError::WriterGone))
}

/// Read the mailbox; if it is empty and the client asked to wait, hold the
/// request until a store to this mailbox lands, the deadline passes, the
/// client goes away, or the node shuts down.
async fn retrieve(
    shared: &Shared,
    send: &mut quinn::SendStream,
    account: [u8; 32],
    namespace: u16,
    after_seq: u64,
    wait_until_ms: Option<u64>,
) -> Response {
    let deadline = wait_until_ms.map(|until| {
        let ms = until.saturating_sub(unix_now_ms());
        tokio::time::Instant::now() + Duration::from_millis(ms)
    });
    let notify = shared.waiter((account, namespace));
    let mut shutdown = shared.shutdown.clone();
    let mut waiting = false;
    let response = loop {
        // Register interest before reading, so a store that lands between the
        // read and the wait still wakes us.
        let notified = notify.notified();
        tokio::pin!(notified);
        notified.as_mut().enable();
        let rows = read_mailbox(shared, account, namespace, after_seq).await;
        let expired = deadline.is_none_or(|d| tokio::time::Instant::now() >= d);
        let stopping = *shutdown.borrow();
        if !matches!(&rows, Ok(r) if r.is_empty()) || expired || stopping {
            break core::messages_response(unix_now_ms(), after_seq, rows, MAX_RETRIEVE_MESSAGES);
        }
        if !waiting {
            waiting = true;
            shared.metrics.waiting_retrieves.inc();
        }
        let Some(deadline) = deadline else {
            break core::messages_response(unix_now_ms(), after_seq, rows, MAX_RETRIEVE_MESSAGES);
        };
        tokio::select! {
            _ = &mut notified => {}
            _ = tokio::time::sleep_until(deadline) => {}
            _ = shutdown.changed() => {}
            _ = send.stopped() => {
                break Response::error(unix_now_ms(), ErrorCode::Unavailable, "client went away");
            }
        }
    };
    if waiting {
        shared.metrics.waiting_retrieves.dec();
    }
    response
}

async fn purge_loop(shared: Arc<Shared>, every: Duration) {
    let mut shutdown = shared.shutdown.clone();
    let mut tick = tokio::time::interval(every);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            _ = tick.tick() => {}
            _ = shutdown.changed() => return,
        }
        match shared.store.purge_expired(unix_now_ms()).await {
            Ok(Ok(n)) => {
                shared.metrics.purged.inc_by(n);
                if n > 0 {
                    debug!(purged = n, "expired messages removed");
                }
            }
            Ok(Err(e)) => warn!(error = %e, "purge failed"),
            Err(_) => return,
        }
        shared.prune_waiters();
        let store = shared.store.clone();
        if let Ok(Ok(stats)) = tokio::task::spawn_blocking(move || store.stats()).await {
            shared
                .metrics
                .stored_messages
                .set(i64::try_from(stats.messages).unwrap_or(i64::MAX));
            shared
                .metrics
                .stored_bytes
                .set(i64::try_from(stats.bytes).unwrap_or(i64::MAX));
            shared
                .metrics
                .store_commits
                .set(i64::try_from(stats.commits).unwrap_or(i64::MAX));
        }
    }
}

async fn serve_admin(listener: tokio::net::TcpListener, shared: Arc<Shared>) {
    use axum::routing::get;
    let metrics_shared = shared.clone();
    let app = axum::Router::new()
        .route(
            "/metrics",
            get(move || {
                let shared = metrics_shared.clone();
                async move {
                    (
                        [(
                            axum::http::header::CONTENT_TYPE,
                            "application/openmetrics-text; version=1.0.0; charset=utf-8",
                        )],
                        shared.metrics.render(),
                    )
                }
            }),
        )
        .route("/health", get(|| async { "ok\n" }));
    let app = if shared.accounting.is_some() {
        let debug_shared = shared.clone();
        app.route(
            "/debug/accounting",
            get(move || {
                let shared = debug_shared.clone();
                async move {
                    let body = shared
                        .accounting
                        .as_ref()
                        .map(|a| lock(a).to_json())
                        .unwrap_or_default();
                    (
                        [(axum::http::header::CONTENT_TYPE, "application/json")],
                        body,
                    )
                }
            }),
        )
    } else {
        app
    };
    let mut shutdown = shared.shutdown.clone();
    let result = axum::serve(listener, app)
        .with_graceful_shutdown(async move {
            let _ = shutdown.changed().await;
        })
        .await;
    if let Err(e) = result {
        warn!(error = %e, "admin server stopped");
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn token_bucket_allows_a_burst_of_twice_the_rate_then_the_rate() {
        let t0 = Instant::now();
        let mut bucket = TokenBucket::new(10, t0);
        let burst = (0..100).filter(|_| bucket.try_take(t0)).count();
        assert_eq!(burst, 20);
        // Half a second later: five more.
        let t1 = t0 + Duration::from_millis(500);
        assert_eq!((0..100).filter(|_| bucket.try_take(t1)).count(), 5);
        // A long pause refills only up to the burst.
        let t2 = t1 + Duration::from_secs(3600);
        assert_eq!((0..100).filter(|_| bucket.try_take(t2)).count(), 20);
    }

    #[test]
    fn connection_limits_count_per_source_and_in_total_and_free_on_drop() {
        let limits = ConnectionLimits::new(5, 2);
        let a: IpAddr = "192.0.2.1".parse().unwrap();
        let b: IpAddr = "192.0.2.2".parse().unwrap();
        let a1 = limits.admit(a).unwrap();
        let _a2 = limits.admit(a).unwrap();
        assert_eq!(limits.admit(a).unwrap_err(), Refusal::PerIp);
        // The same IPv4 address, mapped into IPv6, is the same source.
        let mapped: IpAddr = "::ffff:192.0.2.1".parse().unwrap();
        assert_eq!(limits.admit(mapped).unwrap_err(), Refusal::PerIp);
        drop(a1);
        let _a3 = limits.admit(mapped).unwrap();
        let _b1 = limits.admit(b).unwrap();
        // One IPv6 /64 is one source.
        let v6a: IpAddr = "2001:db8::1".parse().unwrap();
        let v6b: IpAddr = "2001:db8::ffff:2".parse().unwrap();
        let _v1 = limits.admit(v6a).unwrap();
        let _v2 = limits.admit(v6b).unwrap();
        assert_eq!(limits.admit(b).unwrap_err(), Refusal::Total);
        drop((_b1, _v1, _v2, _a2, _a3));
        assert_eq!(lock(&limits.counts).total, 0);
        assert!(lock(&limits.counts).per_source.is_empty());
    }
}
