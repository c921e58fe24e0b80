//! The Nightjar client: an account's profile, and sending and receiving
//! end-to-end-encrypted messages through service nodes.
//!
//! - [`profile`] keeps the account key (encrypted, mode 0600) and the local
//!   history (records encrypted at rest) in a directory.
//! - [`logic`] is the sans-IO part: it builds signed requests and turns
//!   retrieved envelopes into history records, given the time; no sockets.
//! - [`Client`] is the thin async driver: it finds the account's swarm in the
//!   registry snapshot, talks QUIC to its members (in a stable preference
//!   order, moving on when one fails or redirects), and keeps a clock offset
//!   from the node times in responses.
//!
//! Not here: onion paths (a later issue), the command line (`nightjar`).

pub mod logic;
pub mod profile;

use std::collections::HashMap;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use nightjar_crypto::identity::AccountId;
use nightjar_registry::{
    NetworkFile, NodeEntry, NodeId, Registry, RegistryEvent, SwarmId, SwarmMap,
};
use nightjar_wire::{ErrorCode, Request, Response, ResponseBody, SwarmInfo};

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

/// A connected client for one profile.
pub struct Client {
    profile: Profile,
    map: SwarmMap,
    endpoint: quinn::Endpoint,
    connections: HashMap<NodeEntry, quinn::Connection>,
    /// Nodes that failed to answer, and when: tried last for a while.
    unreachable: HashMap<NodeEntry, std::time::Instant>,
    /// Node clock minus local clock, from the latest response.
    clock_offset_ms: i64,
    /// Whether any node has answered yet (so the offset means something).
    clock_known: bool,
}

impl Client {
    /// A client for `profile` on the network described by `network`; binds a
    /// UDP socket on `bind` (port 0 for an ephemeral port).
    pub fn new(
        profile: Profile,
        network: &NetworkFile,
        bind: SocketAddr,
    ) -> Result<Client, ClientError> {
        let map = swarm_map(network)?;
        let endpoint = nightjar_transport::client_endpoint(bind)
            .map_err(|source| ClientError::Transport { addr: bind, source })?;
        Ok(Client {
            profile,
            map,
            endpoint,
            connections: HashMap::new(),
            unreachable: HashMap::new(),
            clock_offset_ms: 0,
            clock_known: false,
        })
    }

    /// The profile.
    pub fn profile(&self) -> &Profile {
        &self.profile
    }

    /// The profile, mutably.
    pub fn profile_mut(&mut self) -> &mut Profile {
        &mut self.profile
    }

    /// The client's estimate of network time, Unix ms.
    pub fn now_ms(&self) -> u64 {
        logic::corrected(clock::unix_now_ms(), self.clock_offset_ms)
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
    /// answer in the last [`RETRY_UNREACHABLE_AFTER`] go last.
    pub fn members_for(&self, account: &AccountId) -> Result<Vec<NodeEntry>, ClientError> {
        let (_, members) = self.swarm_for(account)?;
        let mut ordered = logic::preference_order(account, members);
        ordered.sort_by_key(|n| self.recently_unreachable(n));
        Ok(ordered)
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

    /// Send one request to `node`, reconnecting once if a pooled connection
    /// turns out to be dead, and update the clock offset from the answer.
    async fn call(
        &mut self,
        node: &NodeEntry,
        req: &Request,
        timeout: Duration,
    ) -> Result<Response, ClientError> {
        let mut attempt = 0;
        loop {
            let conn = match self.connection(node).await {
                Ok(c) => c,
                Err(e) => {
                    self.unreachable
                        .insert(node.clone(), std::time::Instant::now());
                    return Err(e);
                }
            };
            let sent_at = clock::unix_now_ms();
            match nightjar_transport::request(&conn, req, timeout).await {
                Ok(resp) => {
                    let received_at = clock::unix_now_ms();
                    self.clock_offset_ms =
                        logic::clock_offset(sent_at, received_at, resp.node_time_ms);
                    self.clock_known = true;
                    self.unreachable.remove(node);
                    return Ok(resp);
                }
                Err(e) if attempt == 0 && conn.close_reason().is_some() => {
                    tracing::debug!(error = %e, "pooled connection was closed; reconnecting");
                    self.connections.remove(node);
                    attempt += 1;
                }
                Err(source) => {
                    self.connections.remove(node);
                    self.unreachable
                        .insert(node.clone(), std::time::Instant::now());
                    return Err(ClientError::Transport {
                        addr: node.addr,
                        source,
                    });
                }
            }
        }
    }

    /// Learn the network's clock (an `info` round trip) before signing
    /// anything, unless a node has answered already; every later response
    /// keeps the offset current.
    async fn sync_clock(&mut self, node: &NodeEntry) -> Result<(), ClientError> {
        if self.clock_known {
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
        if !self.clock_known {
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
                    candidates = logic::preference_order(to, nodes_of(&info));
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

    async fn store_via(
        &mut self,
        node: &NodeEntry,
        prepared: &logic::PreparedSend,
    ) -> Result<SendOutcome, ClientError> {
        let timeout = REQUEST_TIMEOUT + Duration::from_secs(10);
        let resp = self.call(node, &prepared.request, timeout).await?;
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
    /// rounds of at most 30 s) until a message arrives or `wait` passes.
    /// Returns the messages not shown before, oldest first; call
    /// [`Profile::mark_shown`] once they have been displayed.
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
            let timeout = REQUEST_TIMEOUT + Duration::from_millis(u64::from(wait_ms));
            let resp = self.call(node, &req, timeout).await?;
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
        ClientError::Transport { .. } => true,
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
