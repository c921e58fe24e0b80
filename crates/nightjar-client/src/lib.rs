//! The Nightjar client: an account's profile, and sending and receiving
//! end-to-end-encrypted messages through service nodes, over onion paths.
//!
//! The client's decisions are sans-IO (no tokio, quinn, clock or OS
//! randomness: time comes in as `now_ms: u64`, randomness as a
//! `pick: &mut dyn FnMut(usize) -> usize`, answers as values), so a
//! simulator can run many clients on virtual time:
//!
//! - [`bootstrap`]: the vote between seeds on the first registry snapshot.
//! - [`call`]: one request through onion paths — the layered request with
//!   per-hop timeouts, the blame rule for a failed answer, path retries.
//! - [`failover`]: the order in which swarm members are tried, moving on
//!   after a retryable error, the single `wrong_swarm` redirect, reading
//!   store and retrieve answers.
//! - [`registry_refresh`]: when a newer snapshot is adopted.
//! - [`paths`]: guards, paths guard → relay → relay of distinct nodes
//!   (distinct /24s where the registry allows), strikes, rebuild backoff.
//! - [`logic`]: signed requests, sealing and opening envelopes, the network
//!   clock estimate.
//!
//! Around them: [`profile`] keeps the account key (encrypted, mode 0600),
//! the local history and small client state (guards, registry snapshot),
//! encrypted at rest; [`Client`] is the async driver that only moves bytes
//! (QUIC connections to the seeds at bootstrap, then to its two guards
//! only), sleeps, reads the wall clock and saves the profile.
//!
//! # Driving one send by hand
//!
//! A simulator does what [`Client::send`] does: order the swarm's members,
//! and for each, run a [`call::CallOp`] until it is done, then let
//! [`failover::Failover`] decide. Here the "network" peels the real onion
//! layers with the node-side functions and the destination answers `Stored`.
//!
//! ```
//! use std::time::Duration;
//! use nightjar_client::call::{CallContext, CallOp, CallStep};
//! use nightjar_client::failover::{self, Failover, StoreAnswer, Unreachable};
//! use nightjar_client::{ClockEstimator, GuardState, PathManager, logic};
//! use nightjar_crypto::identity::{Identity, Seed};
//! use nightjar_crypto::onion::{Peeled, peel};
//! use nightjar_registry::{NodeEntry, NodeId};
//! use nightjar_wire::{Request, Response, ResponseBody};
//!
//! // Eight nodes, each in its own /24.
//! let ids: Vec<Identity> =
//!     (1..=8u8).map(|i| Identity::from_seed(Seed::from_bytes([i; 32]))).collect();
//! let nodes: Vec<NodeEntry> = ids.iter().zip(1..=8u8).map(|(id, i)| NodeEntry {
//!     id: NodeId(id.public_key()),
//!     addr: format!("10.0.{i}.1:4000").parse().unwrap(),
//! }).collect();
//! let mut seed = 7usize;
//! let mut pick = move |n: usize| { seed = seed.wrapping_mul(31).wrapping_add(17); seed % n.max(1) };
//!
//! let (alice, bob) = (Identity::generate().unwrap(), Identity::generate().unwrap());
//! let now_ms = 1_700_000_000_000u64;
//! let mut paths = PathManager::new(GuardState::default());
//! paths.ensure_guards(&nodes, &mut pick);
//! let (mut unreachable, mut clock) = (Unreachable::new(), ClockEstimator::new());
//! let guards = paths.guards().to_vec();
//! let swarm: Vec<NodeEntry> =
//!     nodes.iter().filter(|n| !guards.contains(&n.id)).take(3).cloned().collect();
//! let order = failover::member_order(
//!     &bob.account_id(), swarm, &|id| guards.contains(id), &unreachable, now_ms);
//!
//! let prepared = logic::prepare_send(
//!     &alice, &bob.account_id(), "hi", now_ms, Duration::from_secs(3600)).unwrap();
//! let mut members = Failover::new(order);
//! let member = members.next_member().unwrap();
//! let mut op = CallOp::new(&member, &prepared.request, Duration::from_secs(10));
//! let mut ctx = CallContext {
//!     paths: &mut paths, nodes: &nodes, unreachable: &mut unreachable,
//!     clock: &mut clock, pick: &mut pick,
//! };
//! let CallStep::Send(attempt) = op.poll(&mut ctx, now_ms) else { panic!() };
//! // The simulated network: `attempt.request()` goes to `attempt.guard()`.
//! fn carry(ids: &[Identity], key: [u8; 32], eph: [u8; 32], layer: &[u8], stored: &Response) -> Vec<u8> {
//!     let me = ids.iter().find(|i| i.public_key().to_bytes() == key).unwrap();
//!     match peel(me, &eph, layer).unwrap() {
//!         (Peeled::Forward { next, ephemeral_key, layer, .. }, reply) =>
//!             reply.relayed(&carry(ids, next, ephemeral_key, &layer, stored)),
//!         (Peeled::Deliver { .. }, reply) => reply.final_response(&stored.to_frame()).unwrap(),
//!     }
//! }
//! let Request::Onion(onion) = attempt.request() else { panic!() };
//! let stored = Response { node_time_ms: now_ms, body: ResponseBody::Stored {
//!     hash: prepared.hash, expiry_ms: now_ms + 3_600_000, already_stored: false, receipts: vec![],
//! } };
//! let blob = carry(&ids, attempt.guard().id.0.to_bytes(), onion.ephemeral_key, &onion.layer, &stored);
//! let answer = Ok(Response { node_time_ms: now_ms, body: ResponseBody::Onion(blob) });
//! // Feed the guard's answer: the call is done with the destination's answer.
//! let resp = op.handle_answer(&mut ctx, attempt, answer, now_ms, now_ms + 40).unwrap().unwrap();
//! match failover::store_answer(resp, &prepared.hash).unwrap() {
//!     StoreAnswer::Stored { expiry_ms } => assert_eq!(expiry_ms, now_ms + 3_600_000),
//!     StoreAnswer::WrongSwarm(info) => { members.redirect(&info, &nodes, &|n| n); }
//! }
//! ```
//!
//! Not here: the command line (`nightjar`), the layer format
//! (`nightjar_crypto::onion`), the node's side.

pub mod bootstrap;
pub mod call;
mod error;
pub mod failover;
pub mod logic;
pub mod paths;
pub mod profile;
pub mod registry_refresh;
#[cfg(test)]
mod testnet;

use std::collections::HashMap;
use std::net::SocketAddr;
use std::time::Duration;

use nightjar_crypto::identity::{AccountId, PublicKey};
use nightjar_registry::{
    NetworkFile, NodeEntry, NodeId, Registry, RegistryEvent, SwarmId, SwarmMap,
};
use nightjar_wire::{ErrorCode, Request, Response, ResponseBody};

pub use bootstrap::BOOTSTRAP_AGREEMENT;
pub use call::{HOP_MARGIN, PATH_ATTEMPTS};
pub use error::ClientError;
pub use failover::RETRY_UNREACHABLE_AFTER;
pub use logic::ClockEstimator;
pub use paths::{GuardState, Path, PathError, PathManager};
pub use profile::{Direction, HistoryRecord, Profile};

/// How long one request may take before the client gives up on it
/// (a waiting retrieve gets its wait on top of this).
pub const REQUEST_TIMEOUT: Duration = Duration::from_secs(10);

/// How long the client waits for a QUIC handshake before trying another node.
pub const CONNECT_TIMEOUT: Duration = Duration::from_secs(3);

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
    unreachable: failover::Unreachable,
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
            unreachable: failover::Unreachable::new(),
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
        let id = registry_refresh::SnapshotId::of(registry);
        self.registry_hash = id.hash;
        self.registry_height = id.height;
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
        let mut vote = bootstrap::BootstrapVote::new(seeds.len(), &network.network);
        loop {
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
                let answer = self
                    .direct(seed, &Request::GetRegistry, REQUEST_TIMEOUT)
                    .await;
                if let Some(registry) = vote.record(answer) {
                    self.drop_bootstrap_connections();
                    return Ok(registry);
                }
            }
            if !vote.end_round() {
                break;
            }
            tokio::time::sleep(bootstrap::BOOTSTRAP_ROUND_PAUSE).await;
        }
        self.drop_bootstrap_connections();
        Err(vote.into_error())
    }

    fn drop_bootstrap_connections(&mut self) {
        for (_, conn) in self.connections.drain() {
            conn.close(0u32.into(), b"bootstrap done");
        }
    }

    /// Ask a random node, through a path, for the current registry snapshot,
    /// and adopt it when it is newer than the one in use.
    pub async fn refresh_registry(&mut self) -> Result<(), ClientError> {
        let candidates = registry_refresh::refresh_candidates(&self.nodes, self.paths.guards());
        let Some(dest) = candidates.get(pick(candidates.len())).cloned() else {
            return Ok(());
        };
        let resp = self
            .call(&dest, &Request::GetRegistry, Duration::from_secs(2))
            .await?;
        let (hash, registry) = bootstrap::registry_of(resp, &self.network)?;
        let current = registry_refresh::SnapshotId {
            hash: self.registry_hash,
            height: self.registry_height,
        };
        let offered = registry_refresh::SnapshotId {
            hash,
            height: u64::try_from(registry.log().len()).unwrap_or(u64::MAX),
        };
        if registry_refresh::should_adopt(current, offered) {
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
        Ok(failover::member_order(
            account,
            members,
            &|id| self.knows_my_address(id),
            &self.unreachable,
            clock::unix_now_ms(),
        ))
    }

    fn address_aware_order(&self, nodes: Vec<NodeEntry>) -> Vec<NodeEntry> {
        failover::address_aware_order(
            nodes,
            &|id| self.knows_my_address(id),
            &self.unreachable,
            clock::unix_now_ms(),
        )
    }

    /// Whether `node` has seen this client's address (a guard, or a seed
    /// asked at bootstrap).
    pub fn knows_my_address(&self, node: &NodeId) -> bool {
        self.paths.guards().contains(node) || self.seeds_asked.contains(node)
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
    /// retrieve's wait included); each hop gets a little more. The decisions
    /// (paths, blame, retries) are [`call::CallOp`]'s; this moves the bytes.
    async fn call(
        &mut self,
        dest: &NodeEntry,
        req: &Request,
        work: Duration,
    ) -> Result<Response, ClientError> {
        let mut op = call::CallOp::new(dest, req, work);
        let mut rng = pick;
        let result = loop {
            let step = op.poll(&mut self.call_context(&mut rng), clock::unix_now_ms());
            let attempt = match step {
                call::CallStep::Send(attempt) => attempt,
                call::CallStep::Wait(wait) => {
                    tokio::time::sleep(wait).await;
                    continue;
                }
                call::CallStep::Done(result) => break result,
            };
            let guard = attempt.guard().clone();
            let sent_at = clock::unix_now_ms();
            let answer = self
                .direct(&guard, attempt.request(), attempt.timeout())
                .await;
            let now = clock::unix_now_ms();
            if let Some(result) = op.handle_answer(
                &mut self.call_context(&mut rng),
                attempt,
                answer,
                sent_at,
                now,
            ) {
                break result;
            }
        };
        if op.guards_changed() {
            self.save_guards()?;
        }
        result
    }

    /// The state a [`call::CallOp`] reads and updates.
    fn call_context<'a>(
        &'a mut self,
        pick: &'a mut dyn FnMut(usize) -> usize,
    ) -> call::CallContext<'a> {
        call::CallContext {
            paths: &mut self.paths,
            nodes: &self.nodes,
            unreachable: &mut self.unreachable,
            clock: &mut self.clock,
            pick,
        }
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
        let candidates = self.members_for(to)?;
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
        let mut members = failover::Failover::new(candidates);
        while let Some(node) = members.next_member() {
            let answer = self
                .call(&node, &prepared.request, REQUEST_TIMEOUT)
                .await
                .and_then(|resp| failover::store_answer(resp, &prepared.hash));
            match answer {
                Ok(failover::StoreAnswer::Stored { expiry_ms }) => {
                    self.profile.record_sent(&prepared.hash, &prepared.record)?;
                    return Ok(Sent {
                        message_id: prepared.record.message_id,
                        sent_at_ms: now,
                        expiry_ms,
                    });
                }
                Ok(failover::StoreAnswer::WrongSwarm(info)) => {
                    // Our snapshot may be behind: refresh it, then try the
                    // members the node named that the snapshot knows.
                    if let Err(e) = self.refresh_registry().await {
                        tracing::debug!(error = %e, "registry refresh failed");
                    }
                    let known = self.nodes.clone();
                    members.redirect(&info, &known, &|nodes| {
                        self.address_aware_order(logic::preference_order(to, nodes))
                    });
                }
                Err(e) => members.member_failed(e)?,
            }
        }
        Err(members.into_error())
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
        let mut members = failover::Failover::new(self.members_for(&me)?);
        while let Some(node) = members.next_member() {
            match self.inbox_via(&node, deadline).await {
                Ok(messages) => return Ok(messages),
                Err(e) => members.member_failed(e)?,
            }
        }
        Err(members.into_error())
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
            let wait_ms = failover::retrieve_wait_ms(paths::millis(remaining));
            let cursor = self.profile.cursor(node.id.0.as_bytes(), namespace)?;
            let req = logic::retrieve_request(
                self.profile.identity(),
                namespace,
                cursor,
                wait_ms,
                self.now_ms(),
            );
            let work = failover::work_with_wait(REQUEST_TIMEOUT, wait_ms);
            let resp = self.call(node, &req, work).await?;
            let (messages, new_cursor, more) = match failover::retrieve_answer(resp)? {
                failover::RetrieveAnswer::Messages {
                    messages,
                    cursor,
                    more,
                } => (messages, cursor, more),
                failover::RetrieveAnswer::WrongSwarm(_) => {
                    if let Err(e) = self.refresh_registry().await {
                        tracing::debug!(error = %e, "registry refresh failed");
                    }
                    return Err(ClientError::Refused {
                        code: ErrorCode::Unavailable,
                        message: "node is not in this account's swarm".into(),
                    });
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

/// A uniformly random index below `n` (0 when `n` is 0 or randomness fails,
/// which only makes path choice less random, never unsafe to run).
fn pick(n: usize) -> usize {
    if n == 0 {
        return 0;
    }
    nightjar_crypto::random_index(n).unwrap_or(0)
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
