//! The node's per-request logic as a plain state machine (no sockets, no
//! disk, no clock): authentication (clock window, signature, replay),
//! placement (`wrong_swarm`, `not_a_node`) and what each request needs.
//!
//! [`NodeCore::handle`] takes the node's clock and a request the
//! pre-check ([`Prechecker`]: account keys, hashes, signatures and onion
//! layers, done before the node's lock) has seen, and returns an
//! [`Action`]: a response to send right away, or what to do next. The
//! event-driven [`crate::engine::NodeCore`] carries the actions out
//! (quorum, waits, fan-out, sync answers, onion); the response builders in
//! [`responses`] turn store results into answers. Not here: anything that
//! waits or talks to other nodes.

mod account_keys;
mod placement;
mod precheck;
mod replay;
mod responses;
mod snapshot;

#[cfg(test)]
mod tests;

use std::sync::Arc;

use crate::engine::{Ed25519, RegistryView, Signatures};
use nightjar_crypto::identity::PublicKey;
use nightjar_registry::{NodeEntry, SwarmMap};
use nightjar_types::{AccountKey, Claimant, MessageHash, MessageKey, NodeKey};
use nightjar_wire::{
    CLOCK_WINDOW_MS, ErrorCode, LABEL_DELETE, LABEL_RETRIEVE, MAX_TTL_MS, Request, Response,
    ResponseBody, SwarmInfo, SyncCursor,
};

use placement::Placement;
pub use placement::WriteQuorum;
pub use precheck::{Checked, CheckedLayer, Prechecker};
pub(crate) use precheck::{Inner, Verdict, record_ok};
pub use replay::MAX_REPLAY_ENTRIES;
use replay::ReplayCache;
use responses::{bad_record, unknown_account, unknown_account_response, wrong_swarm};
pub use responses::{deleted_response, messages_response, store_error_response, stored_response};
pub use snapshot::RegistrySnapshot;

/// How many yes votes give a claim the record in a swarm of `members`: the
/// write quorum `quorum`, but never fewer than a majority — two majorities
/// of one swarm always share a member, which is what keeps two claimants
/// from both winning (`docs/PROTOCOL.md` §5.13).
pub fn claim_quorum(quorum: usize, members: usize) -> usize {
    quorum.max(members / 2 + 1).min(members.max(1))
}

/// A node's identity key as the bytes the wire carries.
pub(crate) fn node_key_of(key: &PublicKey) -> NodeKey {
    NodeKey::new(key.to_bytes())
}

/// What the driver must do for a request.
#[derive(Debug)]
pub enum Action {
    /// Send this response now.
    Respond(Response),
    /// Store the message durably and send it to `replicate_to` as a
    /// `Replicate`; answer with [`stored_response`] once `quorum` nodes
    /// (this one included) hold it.
    Store {
        /// Recipient account key.
        account: AccountKey,
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
        account: AccountKey,
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
        account: AccountKey,
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
    /// Answer with one page of the entries in a ring range.
    SyncList {
        /// Range start.
        start: u64,
        /// Range end.
        end: u64,
        /// List strictly after this entry (from the start if `None`).
        after: Option<SyncCursor>,
    },
    /// Answer with the named messages.
    SyncFetch(Vec<MessageKey>),
    /// This node's onion layer, peeled by the pre-check: relay it or
    /// deliver the request it carries (see [`crate::onion::route`]).
    Onion(Box<CheckedLayer>),
    /// A client's claim (this node is its entry node): record the claim
    /// here and send it to every other member of the account's swarm;
    /// answer the record once `need` members, this one included, voted yes
    /// and one of them holds the record (`docs/PROTOCOL.md` §5.13).
    Claim {
        /// The record claimed.
        record: MessageKey,
        /// The account's key (to check a member's copy against the hash).
        key: Box<PublicKey>,
        /// Who claims it.
        claimant: Claimant,
        /// The other members of the account's swarm.
        members: Vec<NodeEntry>,
        /// How many yes votes (this node's included) give the record.
        need: usize,
    },
    /// A swarm member's vote on a claim another member is deciding: record
    /// it here and answer this node's vote.
    ClaimVote {
        /// The record claimed.
        record: MessageKey,
        /// Who claims it.
        claimant: Claimant,
    },
}

/// The node's protocol state.
#[derive(Debug)]
pub struct NodeCore {
    node_key: NodeKey,
    software_version: String,
    replay: ReplayCache,
    /// The registry in force (shared with other cores; never copied here).
    view: Option<Arc<RegistryView>>,
    quorum: WriteQuorum,
    /// `get_registry`'s answer when no view is installed (legacy `set_snapshot`).
    snapshot: Option<RegistrySnapshot>,
    /// Checks signed requests ([`Ed25519`](crate::engine::Ed25519) in every real node).
    signatures: Arc<dyn Signatures>,
}

impl NodeCore {
    /// A node whose identity key is `node_key`. Without a swarm map it serves
    /// every account alone (a single-node network).
    pub fn new(node_key: NodeKey) -> NodeCore {
        NodeCore {
            node_key,
            software_version: env!("CARGO_PKG_VERSION").to_string(),
            replay: ReplayCache::default(),
            view: None,
            quorum: WriteQuorum::Majority,
            snapshot: None,
            signatures: Arc::new(Ed25519),
        }
    }

    /// Check signed requests with `signatures` instead of Ed25519 (a
    /// simulator's cheaper model only; see [`Signatures`]).
    pub fn set_signatures(&mut self, signatures: Arc<dyn Signatures>) {
        self.signatures = signatures;
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
    pub fn registered_node(&self, key: &NodeKey) -> Option<NodeEntry> {
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
    pub fn set_map(&mut self, map: SwarmMap, known_nodes: impl IntoIterator<Item = NodeKey>) {
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
        let key = node_key_of(key);
        key != self.node_key
            && self
                .view
                .as_ref()
                .is_some_and(|v| v.known_nodes.contains(&key))
    }

    fn swarm_info(map: &SwarmMap, swarm: nightjar_registry::SwarmId) -> SwarmInfo {
        SwarmInfo {
            swarm_id: swarm.0,
            nodes: map
                .members(swarm)
                .unwrap_or_default()
                .into_iter()
                .map(|n| (node_key_of(&n.id.0), n.addr))
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
        let me = self.node_key.as_bytes();
        if members.iter().any(|n| n.id.0.as_bytes() == me) {
            let quorum = self.quorum.of(members.len());
            Placement::Here {
                peers: members
                    .into_iter()
                    .filter(|n| n.id.0.as_bytes() != me)
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

    /// Decide what to do with a pre-checked request (or with bytes that
    /// failed to decode). `peer` is the key the sender proved with a
    /// certificate, if any; requests from registered nodes are replicas and
    /// forwards, not client requests.
    pub fn handle(&mut self, now_ms: u64, peer: Option<&PublicKey>, request: Checked) -> Action {
        let from_node = peer.is_some_and(|k| self.is_registered_peer(k));
        let node_only = match &request.0 {
            Inner::Replicate { .. } => true,
            Inner::Other(r) => r.is_node_only(),
            _ => false,
        };
        if node_only && !from_node {
            return Action::Respond(Response::error(
                now_ms,
                ErrorCode::NotANode,
                "only registered nodes may send this request",
            ));
        }
        match request.0 {
            Inner::Invalid(e) => Action::Respond(Response::error(now_ms, e.code(), e.to_string())),
            Inner::Onion(layer) => Action::Onion(layer),
            Inner::Other(Request::GetRegistry) => Action::Respond(match &self.snapshot {
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
            Inner::Other(Request::Info) => Action::Respond(Response {
                node_time_ms: now_ms,
                body: ResponseBody::Info {
                    software_version: self.software_version.clone(),
                    protocol_version: nightjar_wire::PROTOCOL_VERSION,
                    node_key: self.node_key,
                },
            }),
            Inner::Store {
                request: s,
                key,
                hash,
                record_ok,
            } => {
                let Some(key) = key else {
                    return unknown_account(now_ms);
                };
                let (replicate_to, quorum) = match self.placement(&key) {
                    Placement::Here { peers, quorum } => (peers, quorum),
                    Placement::Elsewhere(info) => return wrong_swarm(now_ms, info),
                };
                if !record_ok {
                    return bad_record(now_ms);
                }
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
            Inner::Replicate {
                request: r,
                key,
                hash,
                record_ok,
            } => {
                let Some(key) = key else {
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
                if !record_ok {
                    return bad_record(now_ms);
                }
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
            Inner::GetSwarm { key, .. } => {
                let Some(key) = key else {
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
            Inner::Other(Request::SyncDigest {
                start,
                end,
                buckets,
            }) => Action::SyncDigest {
                start,
                end,
                buckets,
            },
            Inner::Other(Request::SyncList { start, end, after }) => {
                Action::SyncList { start, end, after }
            }
            Inner::Other(Request::SyncFetch(keys)) => Action::SyncFetch(keys),
            Inner::Retrieve {
                request: r,
                key,
                verdict,
            } => {
                if let Some(key) = &key
                    && let Placement::Elsewhere(info) = self.placement(key)
                {
                    return wrong_swarm(now_ms, info);
                }
                // A published namespace is anyone's to read: no signature,
                // no clock window, no replay cache.
                if r.is_public() {
                    if key.is_none() {
                        return unknown_account(now_ms);
                    }
                    return Action::Retrieve {
                        account: r.account,
                        namespace: r.namespace,
                        after_seq: r.after_seq,
                        wait_until_ms: (r.wait_ms > 0)
                            .then(|| now_ms.saturating_add(u64::from(r.wait_ms))),
                    };
                }
                if let Err(resp) = self.authenticate(
                    now_ms,
                    key.as_ref(),
                    verdict,
                    LABEL_RETRIEVE,
                    || r.signed_data(),
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
            Inner::Delete {
                request: d,
                key,
                verdict,
            } => {
                let forward_to = match key.as_ref().map(|k| self.placement(k)) {
                    Some(Placement::Elsewhere(info)) => return wrong_swarm(now_ms, info),
                    Some(Placement::Here { peers, .. }) if !from_node => peers,
                    _ => Vec::new(),
                };
                if let Err(resp) = self.authenticate(
                    now_ms,
                    key.as_ref(),
                    verdict,
                    LABEL_DELETE,
                    || d.signed_data(),
                    d.timestamp_ms,
                    &d.signature,
                ) {
                    return Action::Respond(resp);
                }
                Action::Delete {
                    account: d.account,
                    namespace: d.namespace,
                    hashes: d.hashes.clone(),
                    request: Request::Delete(d),
                    forward_to,
                }
            }
            Inner::Claim { request: c, key } => {
                let Some(key) = key else {
                    return unknown_account(now_ms);
                };
                let (members, quorum) = match self.placement(&key) {
                    Placement::Here { peers, quorum } => (peers, quorum),
                    Placement::Elsewhere(info) => return wrong_swarm(now_ms, info),
                };
                let record = MessageKey {
                    account: c.account,
                    namespace: c.namespace,
                    hash: c.hash,
                };
                // From a member: its vote only (it is deciding the claim).
                if from_node {
                    return Action::ClaimVote {
                        record,
                        claimant: c.claimant,
                    };
                }
                Action::Claim {
                    record,
                    key: Box::new(key),
                    claimant: c.claimant,
                    need: claim_quorum(quorum, members.len() + 1),
                    members,
                }
            }
            // Requests the pre-check classifies elsewhere never get here.
            Inner::Other(
                Request::Store(_)
                | Request::Replicate(_)
                | Request::Retrieve(_)
                | Request::Delete(_)
                | Request::GetSwarm { .. }
                | Request::Onion(_)
                | Request::Claim(_),
            ) => Action::Respond(Response::error(
                now_ms,
                ErrorCode::BadRequest,
                "this request may not be delivered here",
            )),
        }
    }

    /// Check the timestamp window, the account key, the signature and replay,
    /// cheapest first; remember the signature only once it verified. The
    /// signature was verified by the pre-check (`verdict`) unless the
    /// timestamp was outside the window then; if this node's clock now
    /// finds it inside, it is verified here.
    #[allow(clippy::too_many_arguments)]
    fn authenticate(
        &mut self,
        now_ms: u64,
        key: Option<&PublicKey>,
        verdict: Verdict,
        label: &str,
        data: impl FnOnce() -> Vec<u8>,
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
        let key = key.ok_or_else(|| unknown_account_response(now_ms))?;
        let valid = match verdict {
            Verdict::Valid => true,
            Verdict::Invalid => false,
            Verdict::Unchecked => self.signatures.verify(key, label, &data(), signature),
        };
        if !valid {
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
