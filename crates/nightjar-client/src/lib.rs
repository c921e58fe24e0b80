//! The Nightjar client: an account's profile, and sending and receiving
//! end-to-end-encrypted messages through service nodes, over onion paths.
//!
//! - [`profile`] keeps the account key (encrypted, mode 0600), the local
//!   history and small client state (guards, registry snapshot), all
//!   encrypted at rest, in a directory.
//! - [`logic`] is the sans-IO part: it builds signed requests, turns
//!   retrieved envelopes into history records, and estimates the network's
//!   clock from node answers; no sockets.
//! - [`paths`] is the sans-IO path manager: two guards kept across runs,
//!   paths guard → relay → relay of distinct nodes (distinct /24s where the
//!   registry allows), strikes and rebuild backoff.
//! - [`Client`] is the thin async driver: it bootstraps the registry snapshot
//!   from agreeing seeds, then sends every request as an onion through a
//!   path to a member of the account's swarm (in a stable preference order,
//!   moving on when one fails or redirects). After bootstrap it opens
//!   connections only to its guards.
//!
//! Not here: the command line (`nightjar`), the layer format
//! (`nightjar_crypto::onion`).

pub mod logic;
pub mod paths;
pub mod profile;

use std::collections::HashMap;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use nightjar_crypto::identity::{AccountId, PublicKey};
use nightjar_crypto::onion::{HopFailure, OnionError};
use nightjar_registry::{
    NetworkFile, NodeEntry, NodeId, Registry, RegistryEvent, SwarmId, SwarmMap,
};
use nightjar_wire::{ErrorCode, Request, Response, ResponseBody, SwarmInfo};

pub use logic::ClockEstimator;
pub use paths::{GuardState, Path, PathError, PathManager};
pub use profile::{Direction, HistoryRecord, Profile};

/// How long one request may take before the client gives up on it
/// (a waiting retrieve gets its wait on top of this).
pub const REQUEST_TIMEOUT: Duration = Duration::from_secs(10);

/// How long a node that failed to answer is tried only after the others.
pub const RETRY_UNREACHABLE_AFTER: Duration = Duration::from_secs(30);

/// How long the client waits for a QUIC handshake before trying another node.
pub const CONNECT_TIMEOUT: Duration = Duration::from_secs(3);

/// What went wrong on the client side.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ClientError {
    /// No profile in that directory: run `nightjar account create` or `restore` first.
    #[error("no account in profile {0}; create or restore one first")]
    NoProfile(PathBuf),
    /// The directory already holds an account.
    #[error("profile {0} already holds an account; use another --profile")]
    ProfileExists(PathBuf),
    /// A file could not be read or written.
    #[error("{path}: {source}")]
    Io {
        /// The file.
        path: PathBuf,
        /// Why.
        #[source]
        source: std::io::Error,
    },
    /// The key file could not be used.
    #[error(transparent)]
    Keystore(#[from] nightjar_keystore::KeystoreError),
    /// The local history database failed.
    #[error("history database ({what}): {source}")]
    History {
        /// The operation.
        what: &'static str,
        /// The SQLite error.
        #[source]
        source: rusqlite::Error,
    },
    /// The history database is from a newer version of Nightjar.
    #[error("history database has schema version {0}, newer than this build; upgrade Nightjar")]
    UnsupportedHistory(i64),
    /// A cryptographic operation failed (e.g. a damaged history record).
    #[error(transparent)]
    Crypto(#[from] nightjar_crypto::CryptoError),
    /// A message could not be sealed.
    #[error(transparent)]
    Envelope(#[from] nightjar_crypto::EnvelopeError),
    /// The network or registry file is unusable.
    #[error(transparent)]
    Registry(#[from] nightjar_registry::RegistryError),
    /// The node could not be reached.
    #[error("node {addr}: {source}")]
    Transport {
        /// The node's address.
        addr: SocketAddr,
        /// What failed.
        #[source]
        source: nightjar_transport::TransportError,
    },
    /// The node refused the request.
    #[error("node refused the request: {code}: {message}")]
    Refused {
        /// The node's error code.
        code: ErrorCode,
        /// The node's explanation.
        message: String,
    },
    /// The node answered something that does not fit the request.
    #[error("protocol error: {0}")]
    Protocol(String),
    /// The message is invalid before anything is sent (empty, too long, bad TTL).
    #[error("invalid message: {0}")]
    InvalidMessage(String),
    /// No onion path can be built (too few nodes in the registry, or no guards).
    #[error("no onion path: {0}")]
    NoPath(#[from] PathError),
    /// A hop of the onion path (0 = guard, 3 = destination) failed.
    #[error("hop {hop} of the onion path failed: {failure}")]
    HopFailed {
        /// Which hop.
        hop: usize,
        /// How it failed, as the hop before it reported.
        failure: HopFailure,
    },
    /// An onion request could not be built or its answer read.
    #[error("onion: {0}")]
    Onion(#[from] OnionError),
    /// The destination did not answer through any path tried.
    #[error("the destination node did not answer through any onion path; try later")]
    DestinationUnreachable,
}

/// A message sent.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Sent {
    /// Hex of the message hash.
    pub message_id: String,
    /// The (clock-corrected) time it was sent, Unix ms.
    pub sent_at_ms: u64,
    /// When the node will drop it, node clock.
    pub expiry_ms: u64,
}

/// The swarm map a network file leads to: the registry's, or (without a
/// registry) the seeds joined in order.
pub fn swarm_map(network: &NetworkFile) -> Result<SwarmMap, ClientError> {
    match &network.registry {
        Some(path) => {
            let registry = Registry::load(path)?;
            if registry.network != network.network {
                return Err(ClientError::Protocol(format!(
                    "registry is for network {:?}, network file for {:?}",
                    registry.network, network.network
                )));
            }
            Ok(registry.swarm_map()?)
        }
        None => {
            let joins: Vec<RegistryEvent> = network
                .seeds
                .iter()
                .map(|n| RegistryEvent::Join { node: n.clone() })
                .collect();
            Ok(SwarmMap::replay(&joins)?)
        }
    }
}

/// Profile state key of the guards.
const STATE_GUARDS: &str = "guards";
/// Profile state key of the cached registry snapshot.
const STATE_REGISTRY: &str = "registry";
/// Profile state key of the seeds asked directly at bootstrap (32-byte keys).
const STATE_SEEDS: &str = "bootstrap_seeds";

/// How many seeds must agree on the registry snapshot at bootstrap (fewer
/// only if the network file lists fewer).
pub const BOOTSTRAP_AGREEMENT: usize = 2;

/// How many paths one request tries before giving up on its destination.
pub const PATH_ATTEMPTS: usize = 4;

/// What each relay adds to the time it waits for the next hop, so that the
/// hop closest to the failure reports it first.
pub const HOP_MARGIN: Duration = Duration::from_millis(1_500);

/// A connected client for one profile.
///
/// After bootstrap every request travels through an onion path: the client
/// opens connections only to its two guards.
pub struct Client {
    profile: Profile,
    network: String,
    map: SwarmMap,
    nodes: Vec<NodeEntry>,
    registry_hash: [u8; 32],
    registry_height: u64,
    endpoint: quinn::Endpoint,
    /// Open connections: the guards only (and seeds during bootstrap).
    connections: HashMap<NodeEntry, quinn::Connection>,
    /// Destinations that failed to answer, and when: tried last for a while.
    unreachable: HashMap<NodeEntry, std::time::Instant>,
    paths: PathManager,
    clock: ClockEstimator,
    /// Seeds this profile asked directly at bootstrap: they know its address.
    seeds_asked: Vec<NodeId>,
}

impl Client {
    /// A client for `profile` on the network described by `network`; binds a
    /// UDP socket on `bind` (port 0 for an ephemeral port).
    ///
    /// The registry snapshot comes from the profile's cache, refreshed through
    /// an onion path; without a cache the client bootstraps by asking the
    /// network file's seeds directly and accepts the snapshot only when
    /// [`BOOTSTRAP_AGREEMENT`] of them agree.
    pub async fn connect(
        profile: Profile,
        network: &NetworkFile,
        bind: SocketAddr,
    ) -> Result<Client, ClientError> {
        let endpoint = nightjar_transport::client_endpoint(bind)
            .map_err(|source| ClientError::Transport { addr: bind, source })?;
        let cached = profile
            .load_state(STATE_REGISTRY)?
            .and_then(|bytes| String::from_utf8(bytes).ok())
            .and_then(|text| Registry::from_toml(&text).ok())
            .filter(|r| r.network == network.network);
        let guards = match profile.load_state(STATE_GUARDS)? {
            Some(bytes) => GuardState::from_bytes(&bytes).unwrap_or_else(|e| {
                tracing::warn!(error = %e, "guard state unreadable; choosing new guards");
                GuardState::default()
            }),
            None => GuardState::default(),
        };
        let mut client = Client {
            profile,
            network: network.network.clone(),
            map: SwarmMap::new(),
            nodes: Vec::new(),
            registry_hash: [0; 32],
            registry_height: 0,
            endpoint,
            connections: HashMap::new(),
            unreachable: HashMap::new(),
            paths: PathManager::new(guards),
            clock: ClockEstimator::default(),
            seeds_asked: Vec::new(),
        };
        if let Some(bytes) = client.profile.load_state(STATE_SEEDS)? {
            client.seeds_asked = bytes
                .chunks_exact(32)
                .filter_map(|k| PublicKey::from_slice(k).ok().map(NodeId))
                .collect();
        }
        match cached {
            Some(registry) => {
                client.adopt(&registry)?;
                if let Err(e) = client.refresh_registry().await {
                    tracing::debug!(error = %e, "registry refresh failed; using the cached snapshot");
                }
            }
            None => {
                let registry = client.bootstrap(network).await?;
                client.adopt(&registry)?;
                client.save_registry(&registry)?;
            }
        }
        Ok(client)
    }

    /// Install a registry snapshot: swarm map, node list, guards.
    fn adopt(&mut self, registry: &Registry) -> Result<(), ClientError> {
        let map = registry.swarm_map()?;
        let text = registry.to_toml();
        self.registry_hash = nightjar_crypto::hash::registry_snapshot_hash(text.as_bytes());
        self.registry_height = u64::try_from(registry.log().len()).unwrap_or(u64::MAX);
        self.nodes = map.nodes();
        self.map = map;
        if self.paths.ensure_guards(&self.nodes, &mut pick) {
            self.save_guards()?;
        }
        Ok(())
    }

    fn save_registry(&mut self, registry: &Registry) -> Result<(), ClientError> {
        self.profile
            .save_state(STATE_REGISTRY, registry.to_toml().as_bytes())
    }

    fn save_guards(&mut self) -> Result<(), ClientError> {
        let state = self.paths.state().to_bytes();
        self.profile.save_state(STATE_GUARDS, &state)
    }

    /// Ask the seeds (directly: the client has no path yet) for the registry
    /// snapshot; accept it when enough of them agree.
    async fn bootstrap(&mut self, network: &NetworkFile) -> Result<Registry, ClientError> {
        let seeds = network.seeds.clone();
        let need = BOOTSTRAP_AGREEMENT.min(seeds.len()).max(1);
        let mut last_error = None;
        for round in 0..3u32 {
            if round > 0 {
                tokio::time::sleep(Duration::from_millis(300)).await;
            }
            let mut votes: HashMap<[u8; 32], (usize, Registry)> = HashMap::new();
            for seed in &seeds {
                if !self.seeds_asked.contains(&seed.id) {
                    self.seeds_asked.push(seed.id);
                    let keys: Vec<u8> = self
                        .seeds_asked
                        .iter()
                        .flat_map(|id| id.0.to_bytes())
                        .collect();
                    self.profile.save_state(STATE_SEEDS, &keys)?;
                }
                match self.registry_from(seed).await {
                    Ok((hash, registry)) => {
                        let entry = votes.entry(hash).or_insert((0, registry));
                        entry.0 += 1;
                        if entry.0 >= need {
                            let registry = entry.1.clone();
                            self.drop_bootstrap_connections();
                            return Ok(registry);
                        }
                    }
                    Err(e) => {
                        tracing::debug!(error = %e, "a seed did not give its registry snapshot");
                        last_error = Some(e);
                    }
                }
            }
            if votes.len() > 1 {
                last_error = Some(ClientError::Protocol(
                    "seed nodes disagree on the registry snapshot".into(),
                ));
            }
        }
        self.drop_bootstrap_connections();
        Err(last_error.unwrap_or(ClientError::Protocol(format!(
            "fewer than {need} seed nodes agreed on the registry snapshot"
        ))))
    }

    fn drop_bootstrap_connections(&mut self) {
        for (_, conn) in self.connections.drain() {
            conn.close(0u32.into(), b"bootstrap done");
        }
    }

    /// One seed's registry snapshot, checked against its hash.
    async fn registry_from(
        &mut self,
        seed: &NodeEntry,
    ) -> Result<([u8; 32], Registry), ClientError> {
        let resp = self
            .direct(seed, &Request::GetRegistry, REQUEST_TIMEOUT)
            .await?;
        registry_of(resp, &self.network)
    }

    /// Ask a random node, through a path, for the current registry snapshot,
    /// and adopt it when it is newer than the one in use.
    pub async fn refresh_registry(&mut self) -> Result<(), ClientError> {
        let guards: Vec<NodeId> = self.paths.guards().to_vec();
        let candidates: Vec<NodeEntry> = self
            .nodes
            .iter()
            .filter(|n| !guards.contains(&n.id))
            .cloned()
            .collect();
        let Some(dest) = candidates.get(pick(candidates.len())).cloned() else {
            return Ok(());
        };
        let resp = self
            .call(&dest, &Request::GetRegistry, Duration::from_secs(2))
            .await?;
        let (hash, registry) = registry_of(resp, &self.network)?;
        let height = u64::try_from(registry.log().len()).unwrap_or(u64::MAX);
        if hash != self.registry_hash && height >= self.registry_height {
            self.adopt(&registry)?;
            self.save_registry(&registry)?;
        }
        Ok(())
    }

    /// The profile.
    pub fn profile(&self) -> &Profile {
        &self.profile
    }

    /// The profile, mutably.
    pub fn profile_mut(&mut self) -> &mut Profile {
        &mut self.profile
    }

    /// The client's estimate of network time, Unix ms: the local clock
    /// corrected by the median offset of recent node answers.
    pub fn now_ms(&self) -> u64 {
        logic::corrected(clock::unix_now_ms(), self.clock.offset_ms().unwrap_or(0))
    }

    /// The guards, and the paths built so far (guard first).
    pub fn paths(&self) -> (Vec<NodeId>, Vec<Path>) {
        (self.paths.guards().to_vec(), self.paths.paths())
    }

    /// Make sure a path through each guard exists (building one to a random
    /// destination if needed), so [`Client::paths`] has something to show.
    pub async fn warm_paths(&mut self) -> Result<(), ClientError> {
        // Each request takes the next guard's path (building it if missing),
        // so one refresh per guard leaves a path through every guard.
        for _ in 0..self.paths.guards().len() {
            if self.paths.paths().len() >= self.paths.guards().len() {
                break;
            }
            self.refresh_registry().await?;
        }
        Ok(())
    }

    /// The swarm that holds `account`'s mailbox, from the registry snapshot.
    pub fn swarm_for(&self, account: &AccountId) -> Result<(SwarmId, Vec<NodeEntry>), ClientError> {
        let swarm =
            self.map
                .swarm_for_account(account.public_key())
                .ok_or(ClientError::Registry(
                    nightjar_registry::RegistryError::Empty,
                ))?;
        Ok((swarm, self.map.members(swarm).unwrap_or_default()))
    }

    /// The members of `account`'s swarm in the order this client tries them:
    /// by rendezvous score, so one account keeps reading from the same node
    /// (and its cursor) while that node answers; members that failed to
    /// answer in the last [`RETRY_UNREACHABLE_AFTER`] go last, and the nodes
    /// that know this client's address (its guards, and the seeds it asked at
    /// bootstrap) after them: such a node is asked about the account only
    /// when no other member answers.
    pub fn members_for(&self, account: &AccountId) -> Result<Vec<NodeEntry>, ClientError> {
        let (_, members) = self.swarm_for(account)?;
        let ordered = logic::preference_order(account, members);
        Ok(self.address_aware_order(ordered))
    }

    fn address_aware_order(&self, mut nodes: Vec<NodeEntry>) -> Vec<NodeEntry> {
        nodes.sort_by_key(|n| (self.knows_my_address(&n.id), self.recently_unreachable(n)));
        nodes
    }

    /// Whether `node` has seen this client's address (a guard, or a seed
    /// asked at bootstrap).
    pub fn knows_my_address(&self, node: &NodeId) -> bool {
        self.paths.guards().contains(node) || self.seeds_asked.contains(node)
    }

    fn recently_unreachable(&self, node: &NodeEntry) -> bool {
        self.unreachable
            .get(node)
            .is_some_and(|at| at.elapsed() < RETRY_UNREACHABLE_AFTER)
    }

    /// The node this client reads `account`'s mailbox from first.
    pub fn node_for(&self, account: &AccountId) -> Result<NodeEntry, ClientError> {
        self.members_for(account)?
            .into_iter()
            .next()
            .ok_or(ClientError::Registry(
                nightjar_registry::RegistryError::Empty,
            ))
    }

    async fn connection(&mut self, node: &NodeEntry) -> Result<quinn::Connection, ClientError> {
        if let Some(c) = self.connections.get(node)
            && c.close_reason().is_none()
        {
            return Ok(c.clone());
        }
        let connecting = nightjar_transport::connect(&self.endpoint, node.addr, &node.id.0);
        let conn = tokio::time::timeout(CONNECT_TIMEOUT, connecting)
            .await
            .map_err(|_| nightjar_transport::TransportError::Timeout(CONNECT_TIMEOUT))
            .and_then(|r| r)
            .map_err(|source| ClientError::Transport {
                addr: node.addr,
                source,
            })?;
        self.connections.insert(node.clone(), conn.clone());
        Ok(conn)
    }

    /// Send one request straight to `node` (bootstrap and guards only),
    /// reconnecting once if a pooled connection turns out to be dead.
    async fn direct(
        &mut self,
        node: &NodeEntry,
        req: &Request,
        timeout: Duration,
    ) -> Result<Response, ClientError> {
        let mut attempt = 0;
        loop {
            let conn = self.connection(node).await?;
            let sent_at = clock::unix_now_ms();
            match nightjar_transport::request(&conn, req, timeout).await {
                Ok(resp) => {
                    let received_at = clock::unix_now_ms();
                    self.clock
                        .add(logic::clock_offset(sent_at, received_at, resp.node_time_ms));
                    return Ok(resp);
                }
                Err(e) if attempt == 0 && conn.close_reason().is_some() => {
                    tracing::debug!(error = %e, "pooled connection was closed; reconnecting");
                    self.connections.remove(node);
                    attempt += 1;
                }
                Err(source) => {
                    self.connections.remove(node);
                    return Err(ClientError::Transport {
                        addr: node.addr,
                        source,
                    });
                }
            }
        }
    }

    /// Send `req` to `dest` through an onion path and return the destination's
    /// answer. `work` is how long the destination may take (a waiting
    /// retrieve's wait included); each hop gets a little more. A failing hop
    /// gets a strike and the request is tried on a new path, up to
    /// [`PATH_ATTEMPTS`] paths; if the destination itself fails, the caller
    /// gets [`ClientError::DestinationUnreachable`] and can try another member.
    async fn call(
        &mut self,
        dest: &NodeEntry,
        req: &Request,
        work: Duration,
    ) -> Result<Response, ClientError> {
        let frame = req.to_frame();
        let mut last_error = None;
        for _ in 0..PATH_ATTEMPTS {
            let path =
                match self
                    .paths
                    .path_for(&self.nodes, dest, std::time::Instant::now(), &mut pick)
                {
                    Ok(p) => p,
                    Err(PathError::Backoff(wait)) => {
                        tokio::time::sleep(wait).await;
                        continue;
                    }
                    Err(e) => return Err(ClientError::NoPath(e)),
                };
            match self.through(&path, dest, &frame, work).await {
                Ok(resp) => {
                    self.paths.report_success(&path, std::time::Instant::now());
                    self.unreachable.remove(dest);
                    return Ok(resp);
                }
                Err(Failure::Hop(hop, e)) => {
                    tracing::debug!(hop, error = %e, "onion path failed; building another");
                    self.paths
                        .report_failure(&path, Some(hop), std::time::Instant::now());
                    if self.paths.ensure_guards(&self.nodes, &mut pick) {
                        self.save_guards()?;
                    }
                    last_error = Some(e);
                }
                Err(Failure::Destination(e)) => {
                    let now = std::time::Instant::now();
                    self.paths.report_success(&path, now);
                    if matches!(e, ClientError::HopFailed { .. }) {
                        // Unreachable or timed out: not as a relay either, for a while.
                        self.paths.strike_node(&dest.id, now);
                    }
                    self.unreachable.insert(dest.clone(), now);
                    return Err(e);
                }
                Err(Failure::Fatal(e)) => return Err(e),
            }
        }
        self.unreachable
            .insert(dest.clone(), std::time::Instant::now());
        Err(last_error.unwrap_or(ClientError::DestinationUnreachable))
    }

    /// One attempt through one path.
    async fn through(
        &mut self,
        path: &Path,
        dest: &NodeEntry,
        frame: &[u8],
        work: Duration,
    ) -> Result<Response, Failure> {
        let relays = path.hops.len();
        // hops[i] waits for hops[i+1]: the destination's work plus a margin
        // per hop still to come.
        let wait_ms = |i: usize| {
            let ahead = u32::try_from(relays - i).unwrap_or(u32::MAX);
            let total = work + HOP_MARGIN * ahead;
            u32::try_from(total.as_millis()).unwrap_or(u32::MAX)
        };
        let mut hops: Vec<(PublicKey, u32)> = path
            .hops
            .iter()
            .enumerate()
            .map(|(i, n)| (n.id.0, wait_ms(i)))
            .collect();
        hops.push((dest.id.0, 0));
        let (packet, keys) = nightjar_crypto::onion::build(&hops, frame)
            .map_err(|e| Failure::Fatal(ClientError::Onion(e)))?;
        let request = Request::Onion(nightjar_wire::OnionRequest {
            ephemeral_key: packet.ephemeral_key,
            layer: packet.layer,
            hop: 0,
        });
        let guard = path.guard().clone();
        let timeout = work + HOP_MARGIN * u32::try_from(relays + 1).unwrap_or(u32::MAX);
        let sent_at = clock::unix_now_ms();
        let outer = self
            .direct(&guard, &request, timeout)
            .await
            .map_err(|e| Failure::Hop(0, e))?;
        let blob = match outer.body {
            ResponseBody::Onion(blob) => blob,
            ResponseBody::Error { code, message } => {
                // The guard refused the request itself (its layer, or a limit).
                return Err(Failure::Hop(0, ClientError::Refused { code, message }));
            }
            other => {
                return Err(Failure::Hop(
                    0,
                    ClientError::Protocol(format!("guard answered {other:?} to an onion request")),
                ));
            }
        };
        let inner = match keys.open(&blob) {
            Ok(frame) => frame,
            Err(OnionError::HopFailed { hop, failure }) => {
                // Hop `hop` reports that the hop after it failed.
                let failed = hop + 1;
                let e = ClientError::HopFailed {
                    hop: failed,
                    failure,
                };
                return Err(if failed >= relays {
                    Failure::Destination(e)
                } else {
                    Failure::Hop(failed, e)
                });
            }
            Err(OnionError::BadResponse { hop }) => {
                return Err(Failure::Hop(
                    hop.min(relays - 1),
                    ClientError::Protocol(format!("hop {hop} returned a damaged answer")),
                ));
            }
            Err(e) => return Err(Failure::Hop(0, ClientError::Onion(e))),
        };
        let received_at = clock::unix_now_ms();
        let resp = Response::from_frame(&inner).map_err(|e| {
            Failure::Destination(ClientError::Protocol(format!(
                "destination answered an unreadable response: {e}"
            )))
        })?;
        self.clock
            .add(logic::clock_offset(sent_at, received_at, resp.node_time_ms));
        if let ResponseBody::Error { code, message } = &resp.body
            && *code == ErrorCode::OnionFailed
        {
            return Err(Failure::Destination(ClientError::Refused {
                code: *code,
                message: message.clone(),
            }));
        }
        Ok(resp)
    }

    /// Learn the network's clock before signing anything: an `info` round
    /// trip through a path if no node has answered yet.
    async fn sync_clock(&mut self, node: &NodeEntry) -> Result<(), ClientError> {
        if self.clock.offset_ms().is_some() {
            return Ok(());
        }
        match self.call(node, &Request::Info, REQUEST_TIMEOUT).await?.body {
            ResponseBody::Info { node_key, .. } if node_key == *node.id.0.as_bytes() => Ok(()),
            ResponseBody::Info { .. } => Err(ClientError::Protocol(
                "node reported a different key than pinned".into(),
            )),
            ResponseBody::Error { code, message } => Err(ClientError::Refused { code, message }),
            other => Err(ClientError::Protocol(format!(
                "unexpected answer to info: {other:?}"
            ))),
        }
    }

    /// Seal `text` to `to` and store it in the recipient's swarm; returns once
    /// a write quorum of the swarm holds it durably. Tries the swarm's members
    /// in turn, and follows a "wrong swarm" answer once.
    pub async fn send(
        &mut self,
        to: &AccountId,
        text: &str,
        ttl: Duration,
    ) -> Result<Sent, ClientError> {
        let mut candidates = self.members_for(to)?;
        // Learn the network's time from the first member that answers, then
        // seal once: every retry stores the same envelope (same message ID),
        // so a store that reached some nodes before failing is not duplicated.
        let mut last_error = None;
        for node in &candidates {
            match self.sync_clock(node).await {
                Ok(()) => break,
                Err(e) => last_error = Some(e),
            }
        }
        if self.clock.offset_ms().is_none() {
            return Err(last_error.unwrap_or(ClientError::Registry(
                nightjar_registry::RegistryError::Empty,
            )));
        }
        let now = self.now_ms();
        let prepared = logic::prepare_send(self.profile.identity(), to, text, now, ttl)?;
        let mut redirected = false;
        let mut i = 0;
        while let Some(node) = candidates.get(i).cloned() {
            i += 1;
            match self.store_via(&node, &prepared).await {
                Ok(SendOutcome::Sent(expiry_ms)) => {
                    self.profile.record_sent(&prepared.hash, &prepared.record)?;
                    return Ok(Sent {
                        message_id: prepared.record.message_id,
                        sent_at_ms: now,
                        expiry_ms,
                    });
                }
                Ok(SendOutcome::WrongSwarm(info)) if !redirected => {
                    redirected = true;
                    // Our snapshot is behind: refresh it, and meanwhile try the
                    // members the node named.
                    if let Err(e) = self.refresh_registry().await {
                        tracing::debug!(error = %e, "registry refresh failed");
                    }
                    candidates = self
                        .address_aware_order(logic::preference_order(to, self.known_nodes(&info)));
                    i = 0;
                }
                Ok(SendOutcome::WrongSwarm(_)) => {
                    last_error = Some(ClientError::Protocol(
                        "nodes disagree on the account's swarm".into(),
                    ));
                }
                Err(e) if is_worth_another_node(&e) => {
                    tracing::debug!(error = %e, "store failed on one swarm member; trying another");
                    last_error = Some(e);
                }
                Err(e) => return Err(e),
            }
        }
        Err(last_error.unwrap_or(ClientError::Registry(
            nightjar_registry::RegistryError::Empty,
        )))
    }

    /// The members a `wrong_swarm` answer names that this client's snapshot
    /// also knows (a node cannot steer us to keys of its own choosing).
    fn known_nodes(&self, info: &SwarmInfo) -> Vec<NodeEntry> {
        nodes_of(info)
            .into_iter()
            .filter(|n| self.nodes.contains(n))
            .collect()
    }

    async fn store_via(
        &mut self,
        node: &NodeEntry,
        prepared: &logic::PreparedSend,
    ) -> Result<SendOutcome, ClientError> {
        let resp = self.call(node, &prepared.request, REQUEST_TIMEOUT).await?;
        match resp.body {
            ResponseBody::Stored {
                hash, expiry_ms, ..
            } => {
                if hash != prepared.hash {
                    return Err(ClientError::Protocol(
                        "node stored the message under a different hash".into(),
                    ));
                }
                Ok(SendOutcome::Sent(expiry_ms))
            }
            ResponseBody::WrongSwarm(info) => Ok(SendOutcome::WrongSwarm(info)),
            ResponseBody::Error { code, message } => Err(ClientError::Refused { code, message }),
            other => Err(ClientError::Protocol(format!(
                "unexpected answer to store: {other:?}"
            ))),
        }
    }

    /// Fetch everything new from this account's node into the history. If
    /// nothing new is there and `wait` is given, hold a retrieve open (in
    /// rounds of at most 30 s) through the onion path until a message arrives
    /// or `wait` passes. Returns the messages not shown before, oldest first;
    /// call [`Profile::mark_shown`] once they have been displayed.
    pub async fn inbox(
        &mut self,
        wait: Option<Duration>,
    ) -> Result<Vec<HistoryRecord>, ClientError> {
        let me = self.profile.account_id();
        let deadline = wait.map(|w| tokio::time::Instant::now() + w);
        let mut last_error = None;
        for node in self.members_for(&me)? {
            match self.inbox_via(&node, deadline).await {
                Ok(messages) => return Ok(messages),
                Err(e) if is_worth_another_node(&e) => {
                    tracing::debug!(error = %e, "reading from one swarm member failed; trying another");
                    last_error = Some(e);
                }
                Err(e) => return Err(e),
            }
        }
        Err(last_error.unwrap_or(ClientError::Registry(
            nightjar_registry::RegistryError::Empty,
        )))
    }

    async fn inbox_via(
        &mut self,
        node: &NodeEntry,
        deadline: Option<tokio::time::Instant>,
    ) -> Result<Vec<HistoryRecord>, ClientError> {
        self.sync_clock(node).await?;
        let namespace = nightjar_wire::NAMESPACE_DEFAULT;
        loop {
            let remaining = deadline
                .map(|d| d.saturating_duration_since(tokio::time::Instant::now()))
                .unwrap_or_default();
            let wait_ms = u32::try_from(remaining.as_millis())
                .unwrap_or(u32::MAX)
                .min(nightjar_wire::MAX_WAIT_MS);
            let cursor = self.profile.cursor(node.id.0.as_bytes(), namespace)?;
            let req = logic::retrieve_request(
                self.profile.identity(),
                namespace,
                cursor,
                wait_ms,
                self.now_ms(),
            );
            let work = REQUEST_TIMEOUT + Duration::from_millis(u64::from(wait_ms));
            let resp = self.call(node, &req, work).await?;
            let (messages, new_cursor, more) = match resp.body {
                ResponseBody::Messages {
                    messages,
                    cursor,
                    more,
                } => (messages, cursor, more),
                ResponseBody::Error { code, message } => {
                    return Err(ClientError::Refused { code, message });
                }
                ResponseBody::WrongSwarm(_) => {
                    if let Err(e) = self.refresh_registry().await {
                        tracing::debug!(error = %e, "registry refresh failed");
                    }
                    return Err(ClientError::Refused {
                        code: ErrorCode::Unavailable,
                        message: "node is not in this account's swarm".into(),
                    });
                }
                other => {
                    return Err(ClientError::Protocol(format!(
                        "unexpected answer to retrieve: {other:?}"
                    )));
                }
            };
            let profile = &self.profile;
            let outcome =
                logic::process_messages(profile.identity(), &messages, |h| profile.knows(h))?;
            for (hash, reason) in &outcome.rejected_reasons {
                tracing::warn!(message = %hex::encode(hash), %reason, "ignoring a message that does not open");
            }
            self.profile.record_incoming(
                node.id.0.as_bytes(),
                namespace,
                new_cursor.max(cursor),
                &outcome.received,
                &outcome.rejected,
            )?;
            if more {
                continue;
            }
            let unshown = self.profile.unshown()?;
            if !unshown.is_empty() || wait_ms == 0 {
                return Ok(unshown);
            }
        }
    }

    /// Close connections politely.
    pub async fn close(self) {
        for conn in self.connections.values() {
            conn.close(0u32.into(), b"bye");
        }
        self.endpoint.wait_idle().await;
    }
}

/// How one attempt through a path failed.
enum Failure {
    /// Hop `n` of the path (0 = guard) failed: strike it, try another path.
    Hop(usize, ClientError),
    /// The destination failed; the path worked.
    Destination(ClientError),
    /// Nothing another path would change.
    Fatal(ClientError),
}

/// A uniformly random index below `n` (0 when `n` is 0 or randomness fails,
/// which only makes path choice less random, never unsafe to run).
fn pick(n: usize) -> usize {
    if n == 0 {
        return 0;
    }
    nightjar_crypto::random_index(n).unwrap_or(0)
}

/// The registry snapshot in an answer, checked against its hash and network.
fn registry_of(resp: Response, network: &str) -> Result<([u8; 32], Registry), ClientError> {
    match resp.body {
        ResponseBody::Registry { hash, text, .. } => {
            let actual = nightjar_crypto::hash::registry_snapshot_hash(text.as_bytes());
            if !nightjar_crypto::hash::ct_eq(&actual, &hash) {
                return Err(ClientError::Protocol(
                    "registry snapshot does not match its hash".into(),
                ));
            }
            let registry = Registry::from_toml(&text)?;
            if registry.network != network {
                return Err(ClientError::Protocol(format!(
                    "node serves the registry of network {:?}, not {network:?}",
                    registry.network
                )));
            }
            Ok((hash, registry))
        }
        ResponseBody::Error { code, message } => Err(ClientError::Refused { code, message }),
        other => Err(ClientError::Protocol(format!(
            "unexpected answer to get_registry: {other:?}"
        ))),
    }
}

enum SendOutcome {
    /// Stored by a write quorum; the expiry the entry node set.
    Sent(u64),
    WrongSwarm(SwarmInfo),
}

fn nodes_of(info: &SwarmInfo) -> Vec<NodeEntry> {
    info.nodes
        .iter()
        .filter_map(|(key, addr)| {
            nightjar_crypto::identity::PublicKey::from_bytes(key)
                .ok()
                .map(|k| NodeEntry {
                    id: NodeId(k),
                    addr: *addr,
                })
        })
        .collect()
}

/// Whether another member of the swarm might succeed where this one failed.
fn is_worth_another_node(e: &ClientError) -> bool {
    match e {
        ClientError::Transport { .. }
        | ClientError::HopFailed { .. }
        | ClientError::DestinationUnreachable
        | ClientError::Protocol(_) => true,
        ClientError::Refused { code, .. } => code.is_retryable(),
        _ => false,
    }
}

/// The wall clock, in one place so the client's logic takes time as input.
mod clock {
    use std::time::{SystemTime, UNIX_EPOCH};

    /// Unix milliseconds (0 before 1970).
    pub(crate) fn unix_now_ms() -> u64 {
        SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_or(0, |d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX))
    }
}
