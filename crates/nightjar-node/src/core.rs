//! The node's request logic as a plain state machine (no sockets, no disk, no clock).
//!
//! [`NodeCore::handle`] takes the node's clock and a decoded request and returns
//! an [`Action`]: either a response to send right away, or an operation for the
//! driver to run against the store, whose result the driver turns into a
//! response with the `*_response` functions here. The only state is the replay
//! cache of signed requests. The tokio driver, the tests and a future network
//! simulator all call this same code.

use std::collections::{HashMap, VecDeque};
use std::sync::Arc;

use crate::engine::RegistryView;
use nightjar_crypto::hash::message_hash;
use nightjar_crypto::identity::PublicKey;
use nightjar_registry::{NodeEntry, SwarmMap};
use nightjar_wire::{
    CLOCK_WINDOW_MS, ErrorCode, LABEL_DELETE, LABEL_RETRIEVE, MAX_TTL_MS, MessageHash, MessageKey,
    OnionRequest, Request, Response, ResponseBody, SwarmInfo, WireError, WireMessage,
};

/// Most signed requests remembered for replay protection; beyond this the node
/// refuses signed requests (as `Unavailable`) rather than forget one early.
pub const MAX_REPLAY_ENTRIES: usize = 2_000_000;

/// What the driver must do for a request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Action {
    /// Send this response now.
    Respond(Response),
    /// Store the message durably and send it to `replicate_to` as a
    /// `Replicate`; answer with [`stored_response`] once `quorum` nodes
    /// (this one included) hold it.
    Store {
        /// Recipient account key.
        account: [u8; 32],
        /// Namespace.
        namespace: u16,
        /// Message hash.
        hash: MessageHash,
        /// The sealed envelope.
        data: Vec<u8>,
        /// Expiry, node clock, Unix ms.
        expiry_ms: u64,
        /// The other members of the account's swarm (empty for a replica).
        replicate_to: Vec<NodeEntry>,
        /// How many durable copies (this node's included) make the store succeed.
        quorum: usize,
    },
    /// Read messages after the cursor; if there are none and `wait_until_ms`
    /// is set, wait for a store to this mailbox until then. Answer with
    /// [`messages_response`].
    Retrieve {
        /// Account key.
        account: [u8; 32],
        /// Namespace.
        namespace: u16,
        /// Cursor.
        after_seq: u64,
        /// Deadline of the wait, node clock, if the client asked to wait.
        wait_until_ms: Option<u64>,
    },
    /// Delete messages (leaving tombstones), forward the signed request to
    /// `forward_to`, then answer with [`deleted_response`].
    Delete {
        /// Account key.
        account: [u8; 32],
        /// Namespace.
        namespace: u16,
        /// Hashes to delete.
        hashes: Vec<MessageHash>,
        /// The original signed request, to forward as is.
        request: Request,
        /// The other members of the account's swarm (empty when forwarded by a member).
        forward_to: Vec<NodeEntry>,
    },
    /// Answer with digests of the entries in a ring range.
    SyncDigest {
        /// Range start.
        start: u64,
        /// Range end.
        end: u64,
        /// Number of buckets.
        buckets: u32,
    },
    /// Answer with the entries in a ring range.
    SyncList {
        /// Range start.
        start: u64,
        /// Range end.
        end: u64,
    },
    /// Answer with the named messages.
    SyncFetch(Vec<MessageKey>),
    /// Peel this node's onion layer and relay or deliver it
    /// (see [`crate::onion::step`]).
    Onion(OnionRequest),
}

/// The registry snapshot a node serves to bootstrapping clients.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RegistrySnapshot {
    /// Events in the log.
    pub height: u64,
    /// `registry_snapshot_hash` of `text`.
    pub hash: [u8; 32],
    /// The registry in its canonical TOML form.
    pub text: std::sync::Arc<str>,
}

impl RegistrySnapshot {
    /// The snapshot of `registry`.
    pub fn of(registry: &nightjar_registry::Registry) -> RegistrySnapshot {
        let text = registry.to_toml();
        RegistrySnapshot {
            height: u64::try_from(registry.log().len()).unwrap_or(u64::MAX),
            hash: nightjar_crypto::hash::registry_snapshot_hash(text.as_bytes()),
            text: text.into(),
        }
    }
}

/// How many durable copies a store needs before it is acknowledged.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum WriteQuorum {
    /// A majority of the swarm: `members / 2 + 1`.
    Majority,
    /// A fixed number of members (capped at the swarm's size).
    Count(usize),
}

impl WriteQuorum {
    /// The quorum for a swarm of `members` nodes.
    pub fn of(self, members: usize) -> usize {
        match self {
            WriteQuorum::Majority => members / 2 + 1,
            WriteQuorum::Count(n) => n.clamp(1, members.max(1)),
        }
    }
}

/// Where an account's requests belong, from this node's point of view.
enum Placement {
    /// This node serves it; these are the other members and the quorum.
    Here {
        peers: Vec<NodeEntry>,
        quorum: usize,
    },
    /// Another swarm holds it.
    Elsewhere(SwarmInfo),
}

/// Remembers signatures of accepted signed requests for as long as their
/// timestamps are inside the clock window, so each can be used only once.
#[derive(Debug, Default)]
struct ReplayCache {
    seen: HashMap<[u8; 64], u64>,
    order: VecDeque<(u64, [u8; 64])>,
}

impl ReplayCache {
    fn prune(&mut self, now_ms: u64) {
        while let Some((forget_at, sig)) = self.order.front().copied() {
            if forget_at > now_ms {
                break;
            }
            self.order.pop_front();
            if self.seen.get(&sig) == Some(&forget_at) {
                self.seen.remove(&sig);
            }
        }
    }

    /// Record a signature whose timestamp is `timestamp_ms`; false if it was
    /// already recorded. Call [`ReplayCache::prune`] first.
    fn insert(&mut self, timestamp_ms: u64, sig: [u8; 64]) -> Result<bool, ()> {
        if self.seen.contains_key(&sig) {
            return Ok(false);
        }
        if self.seen.len() >= MAX_REPLAY_ENTRIES {
            return Err(());
        }
        // The request stays acceptable until its timestamp leaves the window.
        let forget_at = timestamp_ms
            .saturating_add(CLOCK_WINDOW_MS)
            .saturating_add(1);
        self.seen.insert(sig, forget_at);
        // Keep `order` sorted by forget_at: timestamps arrive nearly in order,
        // so walk back from the end (usually zero steps).
        let pos = self
            .order
            .iter()
            .rposition(|(t, _)| *t <= forget_at)
            .map_or(0, |p| p + 1);
        self.order.insert(pos, (forget_at, sig));
        Ok(true)
    }

    fn len(&self) -> usize {
        self.seen.len()
    }
}

/// The node's protocol state.
#[derive(Debug)]
pub struct NodeCore {
    node_key: [u8; 32],
    software_version: String,
    replay: ReplayCache,
    /// The registry in force (shared with other cores; never copied here).
    view: Option<Arc<RegistryView>>,
    quorum: WriteQuorum,
    /// `get_registry`'s answer when no view is installed (legacy `set_snapshot`).
    snapshot: Option<RegistrySnapshot>,
    /// Account keys decoded recently.
    account_keys: AccountKeys,
}

/// How many decoded account keys [`AccountKeys`] keeps.
const ACCOUNT_KEY_CACHE: usize = 4096;

/// Account keys this node decoded recently, by their bytes.
///
/// Every store, replicate, retrieve and delete names its account by its
/// Ed25519 key bytes, and checking them (a point decompression, 15–20 µs
/// here) was about 5 % of a store's CPU (BENCHMARKS.md, acknowledged
/// stores). Only valid keys are kept; when full, the cache starts over, so
/// it never holds more than [`ACCOUNT_KEY_CACHE`] keys (about 1 MB) and a
/// sender cycling through many keys costs no more than without it.
struct AccountKeys {
    keys: HashMap<[u8; 32], PublicKey>,
    capacity: usize,
}

impl Default for AccountKeys {
    fn default() -> AccountKeys {
        AccountKeys {
            keys: HashMap::new(),
            capacity: ACCOUNT_KEY_CACHE,
        }
    }
}

// Prints only the number of keys: which accounts a node served is not for logs.
impl std::fmt::Debug for AccountKeys {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AccountKeys")
            .field("len", &self.keys.len())
            .finish()
    }
}

impl AccountKeys {
    /// The key `bytes` encode, or `None` if they are not a valid Ed25519 key.
    fn decode(&mut self, bytes: &[u8; 32]) -> Option<PublicKey> {
        if let Some(key) = self.keys.get(bytes) {
            return Some(*key);
        }
        let key = PublicKey::from_bytes(bytes).ok()?;
        if self.keys.len() >= self.capacity {
            self.keys.clear();
        }
        self.keys.insert(*bytes, key);
        Some(key)
    }
}

impl NodeCore {
    /// A node whose identity key is `node_key`. Without a swarm map it serves
    /// every account alone (a single-node network).
    pub fn new(node_key: [u8; 32]) -> NodeCore {
        NodeCore {
            node_key,
            software_version: env!("CARGO_PKG_VERSION").to_string(),
            replay: ReplayCache::default(),
            view: None,
            quorum: WriteQuorum::Majority,
            snapshot: None,
            account_keys: AccountKeys::default(),
        }
    }

    /// Install the registry snapshot served to `get_registry`.
    pub fn set_snapshot(&mut self, snapshot: RegistrySnapshot) {
        if let Some(view) = self.view.as_mut() {
            Arc::make_mut(view).snapshot = Some(snapshot.clone());
        }
        self.snapshot = Some(snapshot);
    }

    /// Install a registry view (map, nodes, snapshot) shared with others.
    pub fn set_view(&mut self, view: Arc<RegistryView>) {
        if let Some(snap) = &view.snapshot {
            self.snapshot = Some(snap.clone());
        }
        self.view = Some(view);
    }

    /// The registry view in force, if any.
    pub fn view(&self) -> Option<&Arc<RegistryView>> {
        self.view.as_ref()
    }

    /// The current registry's node with this key, unless it is this node.
    /// A lookup by the key's bytes (no point decompression): every onion hop
    /// does one.
    pub fn registered_node(&self, key: &[u8; 32]) -> Option<NodeEntry> {
        if key == &self.node_key {
            return None;
        }
        self.view.as_ref()?.nodes_by_key.get(key).cloned()
    }

    /// Set the write quorum rule.
    pub fn set_quorum(&mut self, quorum: WriteQuorum) {
        self.quorum = quorum;
    }

    /// Install the swarm map replayed from the registry, and the keys of
    /// every node the registry log ever named.
    pub fn set_map(&mut self, map: SwarmMap, known_nodes: impl IntoIterator<Item = [u8; 32]>) {
        self.view = Some(Arc::new(RegistryView::new(
            map,
            known_nodes,
            self.snapshot.clone(),
        )));
    }

    /// The swarm map in force, if any.
    pub fn map(&self) -> Option<&SwarmMap> {
        self.view.as_ref().map(|v| &v.map)
    }

    /// Whether `key` belongs to a node the registry named at some point
    /// (other than this one): current members replicate and sync, and nodes
    /// that left hand their data over.
    pub fn is_registered_peer(&self, key: &PublicKey) -> bool {
        key.as_bytes() != &self.node_key
            && self
                .view
                .as_ref()
                .is_some_and(|v| v.known_nodes.contains(key.as_bytes()))
    }

    fn swarm_info(map: &SwarmMap, swarm: nightjar_registry::SwarmId) -> SwarmInfo {
        SwarmInfo {
            swarm_id: swarm.0,
            nodes: map
                .members(swarm)
                .unwrap_or_default()
                .into_iter()
                .map(|n| (n.id.0.to_bytes(), n.addr))
                .collect(),
        }
    }

    fn placement(&self, account: &PublicKey) -> Placement {
        let Some(map) = self.map().filter(|m| m.node_count() > 0) else {
            return Placement::Here {
                peers: Vec::new(),
                quorum: 1,
            };
        };
        let Some(swarm) = map.swarm_for_account(account) else {
            return Placement::Here {
                peers: Vec::new(),
                quorum: 1,
            };
        };
        let members = map.members(swarm).unwrap_or_default();
        if members.iter().any(|n| n.id.0.as_bytes() == &self.node_key) {
            let quorum = self.quorum.of(members.len());
            Placement::Here {
                peers: members
                    .into_iter()
                    .filter(|n| n.id.0.as_bytes() != &self.node_key)
                    .collect(),
                quorum,
            }
        } else {
            Placement::Elsewhere(Self::swarm_info(map, swarm))
        }
    }

    /// How many signed requests the replay cache holds now.
    pub fn replay_entries(&self) -> usize {
        self.replay.len()
    }

    /// Decide what to do with a request (or with bytes that failed to
    /// decode). `peer` is the key the sender proved with a certificate, if any;
    /// requests from registered nodes are replicas and forwards, not client
    /// requests.
    pub fn handle(
        &mut self,
        now_ms: u64,
        peer: Option<&PublicKey>,
        request: Result<Request, WireError>,
    ) -> Action {
        let request = match request {
            Ok(r) => r,
            Err(e) => return Action::Respond(Response::error(now_ms, e.code(), e.to_string())),
        };
        let from_node = peer.is_some_and(|k| self.is_registered_peer(k));
        if request.is_node_only() && !from_node {
            return Action::Respond(Response::error(
                now_ms,
                ErrorCode::NotANode,
                "only registered nodes may send this request",
            ));
        }
        match request {
            Request::Onion(onion) => Action::Onion(onion),
            Request::GetRegistry => Action::Respond(match &self.snapshot {
                Some(snap) => Response {
                    node_time_ms: now_ms,
                    body: ResponseBody::Registry {
                        height: snap.height,
                        hash: snap.hash,
                        text: snap.text.to_string(),
                    },
                },
                None => Response::error(
                    now_ms,
                    ErrorCode::Unavailable,
                    "this node runs without a registry",
                ),
            }),
            Request::Info => Action::Respond(Response {
                node_time_ms: now_ms,
                body: ResponseBody::Info {
                    software_version: self.software_version.clone(),
                    protocol_version: nightjar_wire::PROTOCOL_VERSION,
                    node_key: self.node_key,
                },
            }),
            Request::Store(s) => {
                let Some(key) = self.account_keys.decode(&s.account) else {
                    return unknown_account(now_ms);
                };
                let (replicate_to, quorum) = match self.placement(&key) {
                    Placement::Here { peers, quorum } => (peers, quorum),
                    Placement::Elsewhere(info) => return wrong_swarm(now_ms, info),
                };
                let hash = message_hash(&key, s.namespace, &s.data);
                Action::Store {
                    account: s.account,
                    namespace: s.namespace,
                    hash,
                    data: s.data,
                    expiry_ms: now_ms.saturating_add(s.ttl_ms),
                    replicate_to,
                    quorum,
                }
            }
            Request::Replicate(r) => {
                let Some(key) = self.account_keys.decode(&r.account) else {
                    return unknown_account(now_ms);
                };
                if let Placement::Elsewhere(info) = self.placement(&key) {
                    return wrong_swarm(now_ms, info);
                }
                // The entry node's clock sets the expiry; refuse what is already
                // expired or beyond any TTL (allowing for clock skew).
                let latest = now_ms.saturating_add(MAX_TTL_MS + CLOCK_WINDOW_MS);
                if r.expiry_ms <= now_ms || r.expiry_ms > latest {
                    return Action::Respond(Response::error(
                        now_ms,
                        ErrorCode::TtlOutOfRange,
                        "replica expiry is in the past or beyond the longest TTL",
                    ));
                }
                let hash = message_hash(&key, r.namespace, &r.data);
                Action::Store {
                    account: r.account,
                    namespace: r.namespace,
                    hash,
                    data: r.data,
                    expiry_ms: r.expiry_ms,
                    replicate_to: Vec::new(),
                    quorum: 1,
                }
            }
            Request::GetSwarm { account } => {
                let Some(key) = self.account_keys.decode(&account) else {
                    return unknown_account(now_ms);
                };
                let info = match (
                    self.map(),
                    self.map().and_then(|m| m.swarm_for_account(&key)),
                ) {
                    (Some(map), Some(swarm)) => Self::swarm_info(map, swarm),
                    _ => SwarmInfo {
                        swarm_id: 0,
                        nodes: Vec::new(),
                    },
                };
                Action::Respond(Response {
                    node_time_ms: now_ms,
                    body: ResponseBody::Swarm(info),
                })
            }
            Request::SyncDigest {
                start,
                end,
                buckets,
            } => Action::SyncDigest {
                start,
                end,
                buckets,
            },
            Request::SyncList { start, end } => Action::SyncList { start, end },
            Request::SyncFetch(keys) => Action::SyncFetch(keys),
            Request::Retrieve(r) => {
                if let Some(key) = self.account_keys.decode(&r.account)
                    && let Placement::Elsewhere(info) = self.placement(&key)
                {
                    return wrong_swarm(now_ms, info);
                }
                if let Err(resp) = self.authenticate(
                    now_ms,
                    &r.account,
                    LABEL_RETRIEVE,
                    &r.signed_data(),
                    r.timestamp_ms,
                    &r.signature,
                ) {
                    return Action::Respond(resp);
                }
                Action::Retrieve {
                    account: r.account,
                    namespace: r.namespace,
                    after_seq: r.after_seq,
                    wait_until_ms: (r.wait_ms > 0)
                        .then(|| now_ms.saturating_add(u64::from(r.wait_ms))),
                }
            }
            Request::Delete(d) => {
                let forward_to = match self
                    .account_keys
                    .decode(&d.account)
                    .map(|k| self.placement(&k))
                {
                    Some(Placement::Elsewhere(info)) => return wrong_swarm(now_ms, info),
                    Some(Placement::Here { peers, .. }) if !from_node => peers,
                    _ => Vec::new(),
                };
                let request = Request::Delete(d.clone());
                if let Err(resp) = self.authenticate(
                    now_ms,
                    &d.account,
                    LABEL_DELETE,
                    &d.signed_data(),
                    d.timestamp_ms,
                    &d.signature,
                ) {
                    return Action::Respond(resp);
                }
                Action::Delete {
                    account: d.account,
                    namespace: d.namespace,
                    hashes: d.hashes,
                    request,
                    forward_to,
                }
            }
        }
    }

    /// Check the timestamp window, the account key, the signature and replay,
    /// cheapest first; remember the signature only once it verified.
    fn authenticate(
        &mut self,
        now_ms: u64,
        account: &[u8; 32],
        label: &str,
        data: &[u8],
        timestamp_ms: u64,
        signature: &[u8; 64],
    ) -> Result<(), Response> {
        self.replay.prune(now_ms);
        if timestamp_ms.saturating_add(CLOCK_WINDOW_MS) < now_ms {
            return Err(Response::error(
                now_ms,
                ErrorCode::StaleTimestamp,
                format!("timestamp is more than {CLOCK_WINDOW_MS} ms behind the node clock"),
            ));
        }
        if timestamp_ms > now_ms.saturating_add(CLOCK_WINDOW_MS) {
            return Err(Response::error(
                now_ms,
                ErrorCode::FutureTimestamp,
                format!("timestamp is more than {CLOCK_WINDOW_MS} ms ahead of the node clock"),
            ));
        }
        let key = self
            .account_keys
            .decode(account)
            .ok_or_else(|| unknown_account_response(now_ms))?;
        if key.verify_labelled(label, data, signature).is_err() {
            return Err(Response::error(
                now_ms,
                ErrorCode::BadSignature,
                "signature does not verify for this account",
            ));
        }
        match self.replay.insert(timestamp_ms, *signature) {
            Ok(true) => Ok(()),
            Ok(false) => Err(Response::error(
                now_ms,
                ErrorCode::Replay,
                "this signed request was already used; sign a fresh one",
            )),
            Err(()) => Err(Response::error(
                now_ms,
                ErrorCode::Unavailable,
                "replay cache full; retry shortly",
            )),
        }
    }
}

fn unknown_account_response(now_ms: u64) -> Response {
    Response::error(
        now_ms,
        ErrorCode::UnknownAccount,
        "account is not a valid Ed25519 public key",
    )
}

fn wrong_swarm(now_ms: u64, info: SwarmInfo) -> Action {
    Action::Respond(Response {
        node_time_ms: now_ms,
        body: ResponseBody::WrongSwarm(info),
    })
}

fn unknown_account(now_ms: u64) -> Action {
    Action::Respond(unknown_account_response(now_ms))
}

/// The response to a store that reached its quorum.
pub fn stored_response(
    now_ms: u64,
    hash: MessageHash,
    expiry_ms: u64,
    already_stored: bool,
    receipts: Vec<nightjar_wire::Receipt>,
) -> Response {
    Response {
        node_time_ms: now_ms,
        body: ResponseBody::Stored {
            hash,
            expiry_ms,
            already_stored,
            receipts,
        },
    }
}

/// The response to a finished read.
pub fn messages_response(
    now_ms: u64,
    after_seq: u64,
    result: Result<Vec<nightjar_store::StoredMessage>, nightjar_store::StoreError>,
    limit_messages: usize,
) -> Response {
    match result {
        Ok(rows) => {
            let cursor = rows.last().map_or(after_seq, |m| m.seq);
            let more = rows.len() >= limit_messages;
            Response {
                node_time_ms: now_ms,
                body: ResponseBody::Messages {
                    messages: rows
                        .into_iter()
                        .map(|m| WireMessage {
                            seq: m.seq,
                            hash: m.hash,
                            data: m.data,
                            stored_at_ms: m.stored_at_ms,
                            expiry_ms: m.expiry_ms,
                        })
                        .collect(),
                    cursor,
                    more,
                },
            }
        }
        Err(e) => store_error_response(now_ms, &e),
    }
}

/// The response to a finished delete.
pub fn deleted_response(now_ms: u64, result: Result<u64, nightjar_store::StoreError>) -> Response {
    match result {
        Ok(count) => Response {
            node_time_ms: now_ms,
            body: ResponseBody::Deleted { count },
        },
        Err(e) => store_error_response(now_ms, &e),
    }
}

/// Map a store failure to an error response that leaks no internals.
///
/// A full disk is `storage_full` (retryable: the client tries another
/// member; this node keeps serving reads); other store failures are
/// `internal`.
pub fn store_error_response(now_ms: u64, e: &nightjar_store::StoreError) -> Response {
    match e {
        nightjar_store::StoreError::QuotaExceeded { limit } => Response::error(
            now_ms,
            ErrorCode::QuotaExceeded,
            format!("the account's {limit} quota is full"),
        ),
        nightjar_store::StoreError::DiskFull { .. } => Response::error(
            now_ms,
            ErrorCode::StorageFull,
            "this node's disk is full: nothing was stored; reads still work; \
             try another node or retry later",
        ),
        _ => Response::error(now_ms, ErrorCode::Internal, "storage failure"),
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use nightjar_crypto::identity::Identity;
    use nightjar_wire::{DeleteRequest, RetrieveRequest, StoreRequest};

    const NOW: u64 = 1_800_000_000_000;

    fn retrieve(id: &Identity, ts: u64) -> Request {
        let account = id.public_key().to_bytes();
        let data = nightjar_wire::retrieve_signed_data(&account, 0, 0, 0, ts);
        Request::Retrieve(RetrieveRequest {
            account,
            namespace: 0,
            after_seq: 0,
            wait_ms: 0,
            timestamp_ms: ts,
            signature: id.sign_labelled(LABEL_RETRIEVE, &data),
        })
    }

    fn code(action: Action) -> Option<ErrorCode> {
        match action {
            Action::Respond(Response {
                body: ResponseBody::Error { code, .. },
                ..
            }) => Some(code),
            _ => None,
        }
    }

    #[test]
    fn disk_full_is_storage_full_and_other_store_failures_stay_internal() {
        let full =
            store_error_response(NOW, &nightjar_store::StoreError::DiskFull { op: "commit" });
        assert_eq!(full.node_time_ms, NOW);
        match &full.body {
            ResponseBody::Error { code, message } => {
                assert_eq!(*code, ErrorCode::StorageFull);
                assert!(code.is_retryable());
                assert!(message.contains("disk is full"), "{message}");
                assert!(!message.contains("commit"), "leaks internals: {message}");
            }
            other => panic!("expected an error, got {other:?}"),
        }
        assert_eq!(
            code(Action::Respond(store_error_response(
                NOW,
                &nightjar_store::StoreError::WriterGone
            ))),
            Some(ErrorCode::Internal)
        );
        assert_eq!(
            code(Action::Respond(store_error_response(
                NOW,
                &nightjar_store::StoreError::QuotaExceeded { limit: "bytes" }
            ))),
            Some(ErrorCode::QuotaExceeded)
        );
    }

    #[test]
    fn signed_retrieve_is_accepted_once_then_rejected_as_replay() {
        let id = Identity::generate().unwrap();
        let mut core = NodeCore::new([0; 32]);
        let req = retrieve(&id, NOW);
        assert!(matches!(
            core.handle(NOW, None, Ok(req.clone())),
            Action::Retrieve { .. }
        ));
        assert_eq!(
            code(core.handle(NOW + 5, None, Ok(req))),
            Some(ErrorCode::Replay)
        );
    }

    #[test]
    fn replay_is_forgotten_only_after_the_window() {
        let id = Identity::generate().unwrap();
        let mut core = NodeCore::new([0; 32]);
        let req = retrieve(&id, NOW);
        core.handle(NOW, None, Ok(req.clone()));
        // Still inside the window: replay.
        assert_eq!(
            code(core.handle(NOW + CLOCK_WINDOW_MS, None, Ok(req.clone()))),
            Some(ErrorCode::Replay)
        );
        // Outside the window the timestamp itself is stale.
        assert_eq!(
            code(core.handle(NOW + CLOCK_WINDOW_MS + 2, None, Ok(req))),
            Some(ErrorCode::StaleTimestamp)
        );
        assert_eq!(core.replay_entries(), 0);
    }

    #[test]
    fn stale_and_future_timestamps_are_rejected() {
        let id = Identity::generate().unwrap();
        let mut core = NodeCore::new([0; 32]);
        assert_eq!(
            code(core.handle(NOW, None, Ok(retrieve(&id, NOW - CLOCK_WINDOW_MS - 1)))),
            Some(ErrorCode::StaleTimestamp)
        );
        assert_eq!(
            code(core.handle(NOW, None, Ok(retrieve(&id, NOW + CLOCK_WINDOW_MS + 1)))),
            Some(ErrorCode::FutureTimestamp)
        );
        assert!(matches!(
            core.handle(NOW, None, Ok(retrieve(&id, NOW - CLOCK_WINDOW_MS))),
            Action::Retrieve { .. }
        ));
    }

    #[test]
    fn signature_by_another_key_is_rejected() {
        let owner = Identity::generate().unwrap();
        let thief = Identity::generate().unwrap();
        let mut core = NodeCore::new([0; 32]);
        let account = owner.public_key().to_bytes();
        let hashes = vec![[1; 32]];
        let data = nightjar_wire::delete_signed_data(&account, 0, &hashes, NOW);
        let req = Request::Delete(DeleteRequest {
            account,
            namespace: 0,
            hashes,
            timestamp_ms: NOW,
            signature: thief.sign_labelled(LABEL_DELETE, &data),
        });
        assert_eq!(
            code(core.handle(NOW, None, Ok(req))),
            Some(ErrorCode::BadSignature)
        );
    }

    #[test]
    fn account_key_cache_decodes_like_the_key_and_stays_bounded() {
        let mut cache = AccountKeys {
            capacity: 8,
            ..AccountKeys::default()
        };
        let mut invalid = [0xff; 32];
        invalid[31] = 0x7f;
        assert!(cache.decode(&invalid).is_none());
        assert!(
            cache.decode(&invalid).is_none(),
            "an invalid key is never cached"
        );
        let first = Identity::generate().unwrap().public_key();
        assert_eq!(cache.decode(&first.to_bytes()), Some(first));
        assert_eq!(cache.decode(&first.to_bytes()), Some(first));
        for _ in 0..20 {
            let key = Identity::generate().unwrap().public_key();
            assert_eq!(cache.decode(&key.to_bytes()), Some(key));
            assert!(cache.keys.len() <= 8);
        }
        assert_eq!(cache.decode(&first.to_bytes()), Some(first));
    }

    #[test]
    fn store_to_invalid_account_key_is_rejected() {
        let mut core = NodeCore::new([0; 32]);
        // Not a valid compressed Edwards point.
        let mut account = [0xff; 32];
        account[31] = 0x7f;
        let req = Request::Store(StoreRequest {
            account,
            namespace: 0,
            ttl_ms: 60_000,
            data: vec![1],
        });
        assert_eq!(
            code(core.handle(NOW, None, Ok(req))),
            Some(ErrorCode::UnknownAccount)
        );
    }

    #[test]
    fn store_computes_hash_and_expiry() {
        let id = Identity::generate().unwrap();
        let mut core = NodeCore::new([0; 32]);
        let req = Request::Store(StoreRequest {
            account: id.public_key().to_bytes(),
            namespace: 0,
            ttl_ms: 60_000,
            data: vec![1, 2, 3],
        });
        match core.handle(NOW, None, Ok(req)) {
            Action::Store {
                hash, expiry_ms, ..
            } => {
                assert_eq!(hash, message_hash(&id.public_key(), 0, &[1, 2, 3]));
                assert_eq!(expiry_ms, NOW + 60_000);
            }
            other => panic!("unexpected {other:?}"),
        }
    }

    #[test]
    fn undecodable_request_gets_typed_error_with_node_time() {
        let mut core = NodeCore::new([0; 32]);
        match core.handle(NOW, None, Err(WireError::UnsupportedVersion(9))) {
            Action::Respond(r) => {
                assert_eq!(r.node_time_ms, NOW);
                assert!(matches!(
                    r.body,
                    ResponseBody::Error {
                        code: ErrorCode::UnsupportedVersion,
                        ..
                    }
                ));
            }
            other => panic!("unexpected {other:?}"),
        }
    }
}
