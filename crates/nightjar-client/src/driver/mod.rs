//! The async driver, [`Client`]: it moves bytes (QUIC connections,
//! timers), reads the wall clock and saves the profile; every decision is
//! taken by the sans-IO modules ([`crate::bootstrap`], [`crate::call`],
//! [`crate::failover`], [`crate::registry_refresh`], [`crate::paths`]).
//!
//! Not for: protocol decisions (add them to the sans-IO modules, with tests).

mod circuits;
mod connections;
mod link;
mod sessions_ahead;
mod swarm;
mod v2;

pub use circuits::CircuitUse;
pub use link::{JoinOptions, Joined, Linked};
pub use v2::{FALLBACK_NO_PREKEYS, SentV2};

use std::collections::HashMap;
use std::net::SocketAddr;
use std::time::Duration;

use nightjar_crypto::identity::{AccountId, PublicKey};
use nightjar_registry::{NetworkFile, NodeEntry, NodeId, Registry, SwarmId, SwarmMap};
use nightjar_types::NodeKey;
use nightjar_wire::{ErrorCode, Request, Response, ResponseBody};

use crate::{
    ClientError, ClockEstimator, GuardState, HistoryRecord, Path, PathManager, Profile,
    REQUEST_TIMEOUT, Sent, bootstrap, call, clock, failover, logic, paths, registry_refresh,
};

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
    /// The registry snapshot in use.
    registry: Registry,
    /// Whether the last attempt to refresh it got an answer.
    registry_fresh: bool,
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
    /// When each account's device list was last read from its swarm
    /// (by Account ID), for [`Client::set_device_list_max_age`].
    device_lists_read: HashMap<String, tokio::time::Instant>,
    /// How long `send` may rely on a device list read before (`None`:
    /// every send reads the lists again).
    device_list_max_age: Option<Duration>,
    /// Per-account circuits, by the account they carry requests for.
    circuits: HashMap<nightjar_types::AccountKey, crate::circuit::ClientCircuit>,
    /// The UDP socket cells go out of (bound on first use).
    cell_socket: Option<tokio::net::UdpSocket>,
    /// Accounts whose circuits failed, and until when (Unix ms) their
    /// mailbox requests go through v1 layers instead.
    circuit_pauses: HashMap<nightjar_types::AccountKey, u64>,
    /// Whether mailbox requests use circuits.
    circuits_enabled: bool,
    /// What the circuits did.
    circuit_use: circuits::CircuitUse,
    /// The address the client binds its sockets on.
    bind_ip: std::net::IpAddr,
    /// Sessions kept while their saved copy is one key ahead, when this
    /// client sends ahead ([`Client::set_sessions_ahead`]).
    sessions_ahead: Option<sessions_ahead::Kept>,
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
            registry: Registry::genesis(network.network.clone(), Vec::new()),
            registry_fresh: false,
            registry_hash: [0; 32],
            registry_height: 0,
            endpoint,
            connections: HashMap::new(),
            unreachable: failover::Unreachable::new(),
            paths: PathManager::new(guards),
            clock: ClockEstimator::default(),
            seeds_asked: Vec::new(),
            device_lists_read: HashMap::new(),
            device_list_max_age: None,
            circuits: HashMap::new(),
            cell_socket: None,
            circuit_pauses: HashMap::new(),
            circuits_enabled: true,
            circuit_use: circuits::CircuitUse::default(),
            bind_ip: bind.ip(),
            sessions_ahead: None,
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
                client.registry_fresh = true;
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
        self.registry = registry.clone();
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

    /// Ask a random node, through a path, for the current registry snapshot,
    /// and adopt it when it is newer than the one in use.
    pub async fn refresh_registry(&mut self) -> Result<(), ClientError> {
        self.registry_fresh = false;
        let candidates = registry_refresh::refresh_candidates(&self.nodes, self.paths.guards());
        let Some(dest) = candidates.get(pick(candidates.len())).cloned() else {
            return Ok(());
        };
        let resp = self
            .call(&dest, &Request::GetRegistry, Duration::from_secs(2))
            .await?;
        // The height the node serves it at: for a chain registry the block
        // the node has read up to, which (unlike the registry's own block)
        // still grows when a reorganisation removed the last contract log.
        let served_height = match &resp.body {
            ResponseBody::Registry { height, .. } => *height,
            _ => 0,
        };
        let (hash, registry) = bootstrap::registry_of(resp, &self.network)?;
        self.registry_fresh = true;
        let current = registry_refresh::SnapshotId {
            hash: self.registry_hash,
            height: self.registry_height,
        };
        let offered = registry_refresh::SnapshotId {
            hash,
            height: registry.height().max(served_height),
        };
        if registry_refresh::should_adopt(current, offered) {
            self.adopt(&registry)?;
            self.registry_height = offered.height;
            self.save_registry(&registry)?;
        }
        Ok(())
    }

    /// The registry snapshot in use, and whether the last attempt to
    /// refresh it from the network (at connect, or
    /// [`Client::refresh_registry`]) got an answer: `false` means it may be
    /// out of date.
    pub fn registry(&self) -> (&Registry, bool) {
        (&self.registry, self.registry_fresh)
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
        if self.circuits_enabled
            && let Some(account) = req.mailbox().copied()
            && let Some(resp) = self.call_circuit(dest, account, req, work).await
        {
            return Ok(resp);
        }
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
            ResponseBody::Info { node_key, .. } if node_key.as_bytes() == node.id.0.as_bytes() => {
                Ok(())
            }
            ResponseBody::Info { .. } => Err(ClientError::Protocol(
                "node reported a different key than pinned".into(),
            )),
            ResponseBody::Error { code, message } => Err(ClientError::Refused { code, message }),
            other => Err(ClientError::Protocol(format!(
                "unexpected answer to info: {other:?}"
            ))),
        }
    }

    /// Send `text` to `to`: as messages v2 to every device `to` has
    /// published (and a copy to this account's other devices) when it has
    /// any, else sealed to the account (v1; [`Sent::fallback`] says why).
    /// Returns once a write quorum of the recipient's swarm holds it durably.
    pub async fn send(
        &mut self,
        to: &AccountId,
        text: &str,
        ttl: Duration,
    ) -> Result<Sent, ClientError> {
        if let Some(sent) = self.send_v2(to, text, ttl).await? {
            return Ok(Sent {
                message_id: sent.message_id,
                sent_at_ms: self.now_ms(),
                expiry_ms: 0,
                version: 2,
                fallback: None,
                expires_at_ms: sent.expires_at_ms,
            });
        }
        let mut sent = self.send_v1(to, text, ttl).await?;
        sent.fallback = Some(FALLBACK_NO_PREKEYS.to_owned());
        Ok(sent)
    }

    /// Seal `text` to `to` and store it in the recipient's swarm (v1); returns once
    /// a write quorum of the swarm holds it durably. Tries the swarm's members
    /// in turn, and follows a "wrong swarm" answer once.
    pub async fn send_v1(
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
                        version: 1,
                        fallback: None,
                        expires_at_ms: None,
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
    ///
    /// Cancel-safe: every answer is recorded (history, sessions, cursor) in
    /// code that does not await, so dropping the future at any await point
    /// loses no message; the next call retrieves from the saved cursor.
    pub async fn inbox(
        &mut self,
        wait: Option<Duration>,
    ) -> Result<Vec<HistoryRecord>, ClientError> {
        self.inbox_until(wait, false).await
    }

    /// As [`Client::inbox`], but when messages not shown before are already
    /// there, still holds the retrieve open until a retrieve brings
    /// something (or `wait` passes): for a long-running client (the daemon)
    /// that announces what arrives and leaves showing to its users.
    /// Cancel-safe as [`Client::inbox`] is.
    pub async fn wait_new(&mut self, wait: Duration) -> Result<Vec<HistoryRecord>, ClientError> {
        self.inbox_until(Some(wait), true).await
    }

    async fn inbox_until(
        &mut self,
        wait: Option<Duration>,
        only_new: bool,
    ) -> Result<Vec<HistoryRecord>, ClientError> {
        let me = self.profile.account_id();
        let deadline = wait.map(|w| tokio::time::Instant::now() + w);
        // A removed device still reads what reached it before; nothing new
        // comes (its mailbox is no longer in the list).
        let mut device = match self.publish_device(false).await {
            Ok(device) => device,
            Err(ClientError::DeviceRemoved) => {
                tracing::warn!("{}", ClientError::DeviceRemoved);
                self.device()?
            }
            Err(e) => return Err(e),
        };
        let mut members = failover::Failover::new(self.members_for(&me)?);
        while let Some(node) = members.next_member() {
            match self.inbox_via(&node, deadline, &mut device, only_new).await {
                Ok(messages) => return Ok(messages),
                Err(e) => members.member_failed(e)?,
            }
        }
        Err(members.into_error())
    }

    /// One retrieve of `namespace` at `node` from the saved cursor; the
    /// answer's messages, the new cursor and whether more is waiting.
    async fn retrieve_from(
        &mut self,
        node: &NodeEntry,
        namespace: u16,
        wait_ms: u32,
    ) -> Result<(Vec<nightjar_types::StoredMessage>, u64, bool), ClientError> {
        let node_key = NodeKey::new(node.id.0.to_bytes());
        let cursor = self.profile.cursor(&node_key, namespace)?;
        let req = logic::retrieve_request(
            self.profile.identity(),
            namespace,
            cursor,
            wait_ms,
            self.now_ms(),
        );
        let work = failover::work_with_wait(REQUEST_TIMEOUT, wait_ms);
        let resp = self.call(node, &req, work).await?;
        match failover::retrieve_answer(resp)? {
            failover::RetrieveAnswer::Messages {
                messages,
                cursor: new_cursor,
                more,
            } => Ok((messages, new_cursor.max(cursor), more)),
            failover::RetrieveAnswer::WrongSwarm(_) => {
                if let Err(e) = self.refresh_registry().await {
                    tracing::debug!(error = %e, "registry refresh failed");
                }
                Err(ClientError::Refused {
                    code: ErrorCode::Unavailable,
                    message: "node is not in this account's swarm".into(),
                })
            }
        }
    }

    async fn inbox_via(
        &mut self,
        node: &NodeEntry,
        deadline: Option<tokio::time::Instant>,
        device: &mut nightjar_devices::OwnDevice,
        only_new: bool,
    ) -> Result<Vec<HistoryRecord>, ClientError> {
        // Whether a retrieve of this call brought anything (for `only_new`).
        let mut brought = false;
        self.sync_clock(node).await?;
        let node_key = NodeKey::new(node.id.0.to_bytes());
        let me_key = self.profile.identity().public_key();
        let mailbox = self
            .profile
            .known_devices(&me_key)?
            .live_device(&device.id())
            .map(|d| d.mailbox);
        // v1 (sealed to the account): everything new, without waiting.
        loop {
            let namespace = nightjar_wire::NAMESPACE_DEFAULT;
            let (messages, cursor, more) = self.retrieve_from(node, namespace, 0).await?;
            brought |= !messages.is_empty();
            let profile = &self.profile;
            let outcome =
                logic::process_messages(profile.identity(), &messages, |h| profile.knows(h))?;
            // Which message is for debug logs only: a hash links this
            // account to a message the network carried.
            for (hash, reason) in &outcome.rejected_reasons {
                tracing::warn!(%reason, "ignoring a message that does not open");
                tracing::debug!(message = %hex::encode(hash), "the message that does not open");
            }
            self.profile.record_incoming(
                &node_key,
                namespace,
                cursor,
                &outcome.received,
                &outcome.rejected,
            )?;
            if !more {
                break;
            }
        }
        // v2 (this device's mailbox), holding the retrieve open when waiting.
        let Some(mailbox) = mailbox else {
            return self.profile.unshown();
        };
        loop {
            let remaining = deadline
                .map(|d| d.saturating_duration_since(tokio::time::Instant::now()))
                .unwrap_or_default();
            let wait_ms = failover::retrieve_wait_ms(paths::millis(remaining));
            let (messages, cursor, more) = self.retrieve_from(node, mailbox, wait_ms).await?;
            brought |= !messages.is_empty();
            let (delete, cursor_saved) =
                self.process_v2(device, &messages, mailbox, (&node_key, cursor))?;
            if !cursor_saved {
                self.profile
                    .record_incoming(&node_key, mailbox, cursor, &[], &[])?;
            }
            if let Err(e) = self.delete_own(mailbox, delete).await {
                tracing::warn!(error = %e, "could not delete read disappearing messages from the swarm");
            }
            if more {
                continue;
            }
            self.profile.purge_expired(self.now_ms())?;
            let unshown = self.profile.unshown()?;
            let done = if only_new {
                brought
            } else {
                !unshown.is_empty()
            };
            if done || wait_ms == 0 {
                return Ok(unshown);
            }
        }
    }

    /// Ask `account`'s swarm `request` through onion paths, member after
    /// member (as [`Client::send`] does: a retryable error moves on to the
    /// next member, one `wrong_swarm` answer is followed); `read` turns a
    /// member's answer into the result, or into the redirect it names.
    async fn ask_swarm<T>(
        &mut self,
        account: &AccountId,
        request: &Request,
        mut read: impl FnMut(Response) -> Result<Asked<T>, ClientError>,
    ) -> Result<T, ClientError> {
        let mut members = failover::Failover::new(self.members_for(account)?);
        while let Some(node) = members.next_member() {
            let answer = self
                .call(&node, request, REQUEST_TIMEOUT)
                .await
                .and_then(&mut read);
            match answer {
                Ok(Asked::Done(result)) => return Ok(result),
                Ok(Asked::WrongSwarm(info)) => {
                    if let Err(e) = self.refresh_registry().await {
                        tracing::debug!(error = %e, "registry refresh failed");
                    }
                    let known = self.nodes.clone();
                    members.redirect(&info, &known, &|nodes| {
                        self.address_aware_order(logic::preference_order(account, nodes))
                    });
                }
                Err(e) => members.member_failed(e)?,
            }
        }
        Err(members.into_error())
    }

    /// Publish `body` in this account's published `namespace` (signed with
    /// the account key, `docs/PROTOCOL.md` §5.12) for `ttl`; returns the
    /// record's hash once a write quorum of the swarm holds it.
    pub async fn publish(
        &mut self,
        namespace: u16,
        body: &[u8],
        ttl: Duration,
    ) -> Result<nightjar_types::MessageHash, ClientError> {
        let me = self.profile.account_id();
        let (request, hash) =
            logic::publish_request(self.profile.identity(), namespace, body, ttl)?;
        self.ask_swarm(&me, &request, |resp| {
            Ok(match failover::store_answer(resp, &hash)? {
                failover::StoreAnswer::Stored { .. } => Asked::Done(hash),
                failover::StoreAnswer::WrongSwarm(info) => Asked::WrongSwarm(info),
            })
        })
        .await
    }

    /// Every record of `account`'s published `namespace` that one member of
    /// its swarm holds and hands out (claimed one-time records are not),
    /// each checked (hash and signature); records that do not check are
    /// left out. No signature is needed: anyone may read.
    pub async fn published(
        &mut self,
        account: &AccountId,
        namespace: u16,
    ) -> Result<Vec<logic::PublishedRecord>, ClientError> {
        let mut members = failover::Failover::new(self.members_for(account)?);
        while let Some(node) = members.next_member() {
            match self.published_via(&node, account, namespace).await {
                Ok(records) => return Ok(records),
                Err(e) => members.member_failed(e)?,
            }
        }
        Err(members.into_error())
    }

    async fn published_via(
        &mut self,
        node: &NodeEntry,
        account: &AccountId,
        namespace: u16,
    ) -> Result<Vec<logic::PublishedRecord>, ClientError> {
        let key = account.public_key();
        let mut records = Vec::new();
        let mut cursor = 0;
        loop {
            let request = logic::public_retrieve_request(key, namespace, cursor, 0)?;
            let resp = self.call(node, &request, REQUEST_TIMEOUT).await?;
            let (messages, next, more) = match failover::retrieve_answer(resp)? {
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
            let (page, refused) = logic::published_records(key, namespace, &messages);
            if refused > 0 {
                tracing::warn!(refused, "ignoring published records that do not check");
            }
            records.extend(page);
            if !more || next <= cursor {
                return Ok(records);
            }
            cursor = next;
        }
    }

    /// Claim `account`'s record `hash` of the claimable `namespace`
    /// (`docs/PROTOCOL.md` §5.13): `Some(record)` if it is now this
    /// client's, `None` if another claimant got it first (or the swarm's
    /// votes split; pick another record). A retry after a failure sends
    /// the same claimant, so it cannot be refused by this claim's own
    /// earlier votes.
    pub async fn claim(
        &mut self,
        account: &AccountId,
        namespace: u16,
        hash: nightjar_types::MessageHash,
    ) -> Result<Option<logic::PublishedRecord>, ClientError> {
        let claimant = logic::new_claimant(&mut nightjar_crypto::OsRandom)?;
        let key = *account.public_key();
        let request = logic::claim_request(&key, namespace, hash, claimant)?;
        self.ask_swarm(account, &request, |resp| {
            Ok(
                match failover::claim_answer(resp, &key, namespace, &hash)? {
                    failover::ClaimAnswer::Claimed(record) => Asked::Done(Some(record)),
                    failover::ClaimAnswer::AlreadyClaimed => Asked::Done(None),
                    failover::ClaimAnswer::WrongSwarm(info) => Asked::WrongSwarm(info),
                },
            )
        })
        .await
    }

    /// Close connections politely.
    pub async fn close(mut self) {
        self.close_circuits().await;
        for conn in self.connections.values() {
            conn.close(0u32.into(), b"bye");
        }
        self.endpoint.wait_idle().await;
    }
}

/// What [`Client::ask_swarm`] makes of a member's answer.
enum Asked<T> {
    /// The result.
    Done(T),
    /// The member is not in the account's swarm; it names these members.
    WrongSwarm(nightjar_wire::SwarmInfo),
}

/// A uniformly random index below `n` (0 when `n` is 0 or randomness fails,
/// which only makes path choice less random, never unsafe to run).
fn pick(n: usize) -> usize {
    if n == 0 {
        return 0;
    }
    nightjar_crypto::random_index(n).unwrap_or(0)
}
