//! The stateless, expensive part of checking a request, done before the
//! node's state is locked: decoding the account key (an Ed25519 point
//! decompression), hashing a message to store (up to 76.8 KB), verifying a
//! signed request's signature and a published record's signature (a store
//! or replicate in a published namespace), and peeling this node's onion
//! layer (an X25519 exchange and the layer's decryption), with the same
//! checks for the request the layer delivers.
//!
//! [`Prechecker::check`] is the only way to build a [`Checked`] request,
//! and a `Checked` request is the only kind
//! [`crate::engine::NodeCore::handle_request`] accepts. The core keeps what
//! needs its state (placement, the clock window on its own clock, replay,
//! the quorum) and uses the results without redoing the work. The tokio
//! driver runs the pre-check on each stream's task, outside the core's
//! lock, so a flood of signed requests costs the other clients CPU time,
//! not a queue behind one lock; the simulator and the tests call the same
//! function.
//!
//! Not here: any decision that depends on what the node holds or knows
//! (the core), the clock window's verdict (the core checks it again on its
//! own clock; a signature is verified here only when the timestamp is
//! inside the window at the time of the pre-check).

use std::sync::{Arc, Mutex, PoisonError};

use nightjar_crypto::hash::message_hash;
use nightjar_crypto::identity::{Identity, PublicKey};
use nightjar_crypto::onion::ReplyKey;
use nightjar_crypto::{labels, published};
use nightjar_types::namespace::is_published;
use nightjar_types::{AccountKey, MessageHash};
use nightjar_wire::{
    CLOCK_WINDOW_MS, ClaimRequest, DeleteRequest, LABEL_DELETE, LABEL_RETRIEVE, ReplicateRequest,
    Request, RetrieveRequest, StoreRequest, WireError,
};

use super::account_keys::AccountKeys;
use crate::engine::Signatures;
use crate::onion::{self, Layer};

/// What the pre-check found about a signed request's signature.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Verdict {
    /// It verifies for the account.
    Valid,
    /// It does not (or the account key is not a key).
    Invalid,
    /// Not checked: the timestamp was outside the clock window then (the
    /// core refuses it, or verifies it itself if its clock disagrees).
    Unchecked,
}

/// A request after [`Prechecker::check`], with what the check found.
#[derive(Debug)]
pub struct Checked(pub(crate) Inner);

/// The kinds of checked requests.
#[derive(Debug)]
pub(crate) enum Inner {
    /// The bytes did not decode.
    Invalid(WireError),
    /// A store: the account key (`None`: not a key), the message's hash,
    /// and whether its data may be stored in its namespace (`false`: a
    /// published namespace, and the data is not the account's signed
    /// record).
    Store {
        request: StoreRequest,
        key: Option<PublicKey>,
        hash: MessageHash,
        record_ok: bool,
    },
    /// A replica, like a store.
    Replicate {
        request: ReplicateRequest,
        key: Option<PublicKey>,
        hash: MessageHash,
        record_ok: bool,
    },
    /// A retrieve: signed, or (a published namespace) public, then not
    /// verified (`Verdict::Unchecked`).
    Retrieve {
        request: RetrieveRequest,
        key: Option<PublicKey>,
        verdict: Verdict,
    },
    /// A signed delete.
    Delete {
        request: DeleteRequest,
        key: Option<PublicKey>,
        verdict: Verdict,
    },
    /// `get_swarm`: the account key.
    GetSwarm {
        account: AccountKey,
        key: Option<PublicKey>,
    },
    /// A claim (or, from a node, a member's vote on one): the account key.
    Claim {
        request: ClaimRequest,
        key: Option<PublicKey>,
    },
    /// An onion layer, peeled.
    Onion(Box<CheckedLayer>),
    /// A request whose checks are cheap (info, registry, sync requests).
    Other(Request),
}

/// This node's onion layer after the pre-check.
#[derive(Debug)]
pub enum CheckedLayer {
    /// Not readable, or to relay: the core decides with its registry
    /// ([`onion::route`]).
    Route(Layer),
    /// This node is the destination of the request the layer carries.
    Deliver {
        /// The request, checked like any other.
        inner: Box<Checked>,
        /// The key the answer is wrapped with.
        reply: ReplyKey,
    },
}

impl Checked {
    /// The request kind for metrics (`Request::kind`, or `invalid`).
    pub fn kind(&self) -> &'static str {
        match &self.0 {
            Inner::Invalid(_) => "invalid",
            Inner::Store { .. } => "store",
            Inner::Replicate { .. } => "replicate",
            Inner::Retrieve { .. } => "retrieve",
            Inner::Delete { .. } => "delete",
            Inner::GetSwarm { .. } => "get_swarm",
            Inner::Claim { .. } => "claim",
            Inner::Onion(_) => "onion",
            Inner::Other(r) => r.kind(),
        }
    }

    /// The account the request names and whether it reads the mailbox (a
    /// signed retrieve or a delete), as [`crate::accounting::account_of`].
    pub fn account(&self) -> Option<(AccountKey, bool)> {
        match &self.0 {
            Inner::Store { request, .. } => Some((request.account, false)),
            Inner::Retrieve { request, .. } => Some((request.account, !request.is_public())),
            Inner::Delete { request, .. } => Some((request.account, true)),
            Inner::GetSwarm { account, .. } => Some((*account, false)),
            Inner::Claim { request, .. } => Some((request.account, false)),
            _ => None,
        }
    }
}

/// Runs the pre-check (see the module docs). Shared by every stream of a
/// node (`Send + Sync`); it holds the node's identity to peel onion layers,
/// the signature scheme of its core and a bounded cache of decoded account
/// keys.
pub struct Prechecker {
    identity: Identity,
    signatures: Arc<dyn Signatures>,
    keys: Mutex<AccountKeys>,
}

impl std::fmt::Debug for Prechecker {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Prechecker")
            .field("node_key", &self.identity.public_key())
            .field("signatures", &self.signatures)
            .finish_non_exhaustive()
    }
}

impl Prechecker {
    /// A pre-check for the node with `identity` whose core checks
    /// signatures with `signatures`.
    pub fn new(identity: Identity, signatures: Arc<dyn Signatures>) -> Prechecker {
        Prechecker {
            identity,
            signatures,
            keys: Mutex::new(AccountKeys::default()),
        }
    }

    /// Check `request` (or why it did not decode) at `now_ms`, this
    /// machine's clock; hand the result to
    /// [`crate::engine::NodeCore::handle_request`].
    pub fn check(&self, now_ms: u64, request: Result<Request, WireError>) -> Checked {
        self.check_request(now_ms, request, true)
    }

    fn check_request(
        &self,
        now_ms: u64,
        request: Result<Request, WireError>,
        peel: bool,
    ) -> Checked {
        let request = match request {
            Ok(r) => r,
            Err(e) => return Checked(Inner::Invalid(e)),
        };
        Checked(match request {
            Request::Store(request) => {
                let key = self.key(&request.account);
                let (hash, record_ok) =
                    self.message(key.as_ref(), request.namespace, &request.data);
                Inner::Store {
                    request,
                    key,
                    hash,
                    record_ok,
                }
            }
            Request::Replicate(request) => {
                let key = self.key(&request.account);
                let (hash, record_ok) =
                    self.message(key.as_ref(), request.namespace, &request.data);
                Inner::Replicate {
                    request,
                    key,
                    hash,
                    record_ok,
                }
            }
            Request::Retrieve(request) => {
                let key = self.key(&request.account);
                // A published namespace is read without a signature.
                let verdict = if request.is_public() {
                    Verdict::Unchecked
                } else {
                    self.verify(
                        now_ms,
                        key.as_ref(),
                        LABEL_RETRIEVE,
                        request.timestamp_ms,
                        || request.signed_data(),
                        &request.signature,
                    )
                };
                Inner::Retrieve {
                    request,
                    key,
                    verdict,
                }
            }
            Request::Delete(request) => {
                let key = self.key(&request.account);
                let verdict = self.verify(
                    now_ms,
                    key.as_ref(),
                    LABEL_DELETE,
                    request.timestamp_ms,
                    || request.signed_data(),
                    &request.signature,
                );
                Inner::Delete {
                    request,
                    key,
                    verdict,
                }
            }
            Request::GetSwarm { account } => Inner::GetSwarm {
                account,
                key: self.key(&account),
            },
            Request::Claim(request) => Inner::Claim {
                key: self.key(&request.account),
                request,
            },
            // A layer never delivers another onion (`onion::peel_layer`
            // refuses it); `peel` is only a second guard.
            Request::Onion(o) if peel => {
                Inner::Onion(Box::new(match onion::peel_layer(&self.identity, &o) {
                    Layer::Deliver { request, reply } => CheckedLayer::Deliver {
                        inner: Box::new(self.check_request(now_ms, request, false)),
                        reply,
                    },
                    layer => CheckedLayer::Route(layer),
                }))
            }
            other => Inner::Other(other),
        })
    }

    /// The key `account` encodes (cached), or `None` if it is not a key.
    /// The cache's lock is held for lookups only, not for decoding.
    fn key(&self, account: &AccountKey) -> Option<PublicKey> {
        let cached = self
            .keys
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .get(account);
        if cached.is_some() {
            return cached;
        }
        let key = PublicKey::from_bytes(account.as_bytes()).ok()?;
        self.keys
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .insert(*account, key);
        Some(key)
    }

    /// A message's hash and whether its data may be stored in `namespace`
    /// (see [`record_ok`]); a zero hash when the account is not a key (the
    /// core refuses those).
    fn message(&self, key: Option<&PublicKey>, namespace: u16, data: &[u8]) -> (MessageHash, bool) {
        match key {
            Some(k) => (
                MessageHash::new(message_hash(k, namespace, data)),
                record_ok(&*self.signatures, k, namespace, data),
            ),
            None => (MessageHash::new([0; 32]), false),
        }
    }

    /// Verify a signed request's signature if its timestamp is inside the
    /// clock window at `now_ms` (cheapest checks first, as the core does).
    fn verify(
        &self,
        now_ms: u64,
        key: Option<&PublicKey>,
        label: &str,
        timestamp_ms: u64,
        data: impl FnOnce() -> Vec<u8>,
        signature: &[u8; 64],
    ) -> Verdict {
        let stale = timestamp_ms.saturating_add(CLOCK_WINDOW_MS) < now_ms;
        let future = timestamp_ms > now_ms.saturating_add(CLOCK_WINDOW_MS);
        match key {
            _ if stale || future => Verdict::Unchecked,
            None => Verdict::Invalid,
            Some(key) if self.signatures.verify(key, label, &data(), signature) => Verdict::Valid,
            Some(_) => Verdict::Invalid,
        }
    }
}

/// Whether `data` may be stored in `account`'s `namespace`: always outside
/// the published namespaces; in one, only the account's published record
/// (`sig ‖ body`, `docs/PROTOCOL.md` §5.12), its signature checked with
/// `signatures` (strict Ed25519 in every real node). Used by the pre-check
/// for stores and replicas and by anti-entropy for the copies it pulls.
pub(crate) fn record_ok(
    signatures: &dyn Signatures,
    account: &PublicKey,
    namespace: u16,
    data: &[u8],
) -> bool {
    if !is_published(namespace) {
        return true;
    }
    let Some((sig, body)) = published::split(data) else {
        return false;
    };
    signatures.verify(
        account,
        labels::PUBLISHED,
        &published::signed_data(account, namespace, body),
        sig,
    )
}
