//! Which swarm member to ask, in which order, and what to do when one
//! fails or redirects — sans-IO.
//!
//! The order ([`member_order`]): highest rendezvous score first
//! ([`crate::logic::preference_order`]), so an account keeps reading from the
//! same node (and its cursor) while that node answers; then, as a tie-break
//! that goes last, members that failed to answer in the last
//! [`RETRY_UNREACHABLE_AFTER`], and after them the nodes that know this
//! client's address (its guards, the seeds it asked at bootstrap).
//!
//! A [`Failover`] walks that order for one operation: [`Failover::next_member`]
//! gives the member to try, [`Failover::member_failed`] says whether the error
//! is worth another member ([`is_worth_another_node`]) or ends the operation,
//! and [`Failover::redirect`] follows a `wrong_swarm` answer at most once, and
//! only to members the client's own snapshot knows (a node cannot steer the
//! client to keys of its choosing). [`store_answer`], [`retrieve_answer`]
//! and [`claim_answer`] read a member's answer to a store, a retrieve or a
//! claim.
//!
//! Not here: sending (see [`crate::call`]), the clock, sockets.

use std::collections::HashMap;
use std::time::Duration;

use nightjar_crypto::identity::{AccountId, PublicKey};
use nightjar_registry::{NodeEntry, NodeId};
use nightjar_types::{MessageHash, StoredMessage};
use nightjar_wire::{Response, ResponseBody, SwarmInfo};

use crate::ClientError;
use crate::paths::millis;

/// How long a node that failed to answer is tried only after the others.
pub const RETRY_UNREACHABLE_AFTER: Duration = Duration::from_secs(30);

/// Destinations that failed to answer, and when (ms on the caller's clock).
#[derive(Debug, Clone, Default)]
pub struct Unreachable {
    at: HashMap<NodeEntry, u64>,
}

impl Unreachable {
    /// Nothing unreachable.
    pub fn new() -> Unreachable {
        Unreachable::default()
    }

    /// `node` failed to answer at `now_ms`.
    pub fn mark(&mut self, node: &NodeEntry, now_ms: u64) {
        self.at.insert(node.clone(), now_ms);
    }

    /// `node` answered.
    pub fn clear(&mut self, node: &NodeEntry) {
        self.at.remove(node);
    }

    /// Whether `node` failed less than [`RETRY_UNREACHABLE_AFTER`] before `now_ms`.
    pub fn is_recent(&self, node: &NodeEntry, now_ms: u64) -> bool {
        self.at
            .get(node)
            .is_some_and(|at| now_ms.saturating_sub(*at) < millis(RETRY_UNREACHABLE_AFTER))
    }
}

/// Put nodes that know this client's address, then recently unreachable
/// ones, last; otherwise keep the order given (the sort is stable).
pub fn address_aware_order(
    mut nodes: Vec<NodeEntry>,
    knows_my_address: &dyn Fn(&NodeId) -> bool,
    unreachable: &Unreachable,
    now_ms: u64,
) -> Vec<NodeEntry> {
    nodes.sort_by_key(|n| (knows_my_address(&n.id), unreachable.is_recent(n, now_ms)));
    nodes
}

/// The members of `account`'s swarm in the order a client tries them (see
/// the module documentation).
pub fn member_order(
    account: &AccountId,
    members: Vec<NodeEntry>,
    knows_my_address: &dyn Fn(&NodeId) -> bool,
    unreachable: &Unreachable,
    now_ms: u64,
) -> Vec<NodeEntry> {
    address_aware_order(
        crate::logic::preference_order(account, members),
        knows_my_address,
        unreachable,
        now_ms,
    )
}

/// Whether another member of the swarm might succeed where this one failed.
pub fn is_worth_another_node(e: &ClientError) -> bool {
    match e {
        ClientError::Transport { .. }
        | ClientError::HopFailed { .. }
        | ClientError::DestinationUnreachable
        | ClientError::Protocol(_) => true,
        ClientError::Refused { code, .. } => code.is_retryable(),
        _ => false,
    }
}

/// The members a `wrong_swarm` answer names that `known` (the client's
/// snapshot) also holds, with the same address.
pub fn known_nodes(info: &SwarmInfo, known: &[NodeEntry]) -> Vec<NodeEntry> {
    info.nodes
        .iter()
        .filter_map(|(key, addr)| {
            PublicKey::from_bytes(key.as_bytes())
                .ok()
                .map(|k| NodeEntry {
                    id: NodeId(k),
                    addr: *addr,
                })
        })
        .filter(|n| known.contains(n))
        .collect()
}

/// One operation's walk over swarm members.
#[derive(Debug)]
pub struct Failover {
    candidates: Vec<NodeEntry>,
    next: usize,
    redirected: bool,
    last_error: Option<ClientError>,
}

impl Failover {
    /// Try `candidates` in this order (see [`member_order`]).
    pub fn new(candidates: Vec<NodeEntry>) -> Failover {
        Failover {
            candidates,
            next: 0,
            redirected: false,
            last_error: None,
        }
    }

    /// The member to try next, or `None` when every one was tried (then
    /// [`Failover::into_error`]).
    pub fn next_member(&mut self) -> Option<NodeEntry> {
        let node = self.candidates.get(self.next).cloned()?;
        self.next += 1;
        Some(node)
    }

    /// The member tried last failed with `e`: `Ok` to try the next one,
    /// `Err(e)` when no other member would do better.
    pub fn member_failed(&mut self, e: ClientError) -> Result<(), ClientError> {
        if is_worth_another_node(&e) {
            tracing::debug!(error = %e, "one swarm member failed; trying another");
            self.last_error = Some(e);
            Ok(())
        } else {
            Err(e)
        }
    }

    /// The member tried last answered `wrong_swarm`. The first time, the
    /// walk restarts over the named members `known` holds (ordered by
    /// `order`) and this returns `true`: refresh the registry snapshot. Later
    /// redirects count as a failure of that member.
    pub fn redirect(
        &mut self,
        info: &SwarmInfo,
        known: &[NodeEntry],
        order: &dyn Fn(Vec<NodeEntry>) -> Vec<NodeEntry>,
    ) -> bool {
        if self.redirected {
            self.last_error = Some(ClientError::Protocol(
                "nodes disagree on the account's swarm".into(),
            ));
            return false;
        }
        self.redirected = true;
        self.candidates = order(known_nodes(info, known));
        self.next = 0;
        true
    }

    /// Why the operation failed once no member is left.
    pub fn into_error(self) -> ClientError {
        self.last_error.unwrap_or(ClientError::Registry(
            nightjar_registry::RegistryError::Empty,
        ))
    }
}

/// A member's answer to a store.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum StoreAnswer {
    /// Stored by a write quorum; the expiry the entry node set.
    Stored {
        /// Node clock.
        expiry_ms: u64,
    },
    /// The node is not in the account's swarm; these are the members it names.
    WrongSwarm(SwarmInfo),
}

/// Read a member's answer to a store of the message hashed `expected`.
pub fn store_answer(resp: Response, expected: &MessageHash) -> Result<StoreAnswer, ClientError> {
    match resp.body {
        ResponseBody::Stored {
            hash, expiry_ms, ..
        } => {
            if hash != *expected {
                return Err(ClientError::Protocol(
                    "node stored the message under a different hash".into(),
                ));
            }
            Ok(StoreAnswer::Stored { expiry_ms })
        }
        ResponseBody::WrongSwarm(info) => Ok(StoreAnswer::WrongSwarm(info)),
        ResponseBody::Error { code, message } => Err(ClientError::Refused { code, message }),
        other => Err(ClientError::Protocol(format!(
            "unexpected answer to store: {other:?}"
        ))),
    }
}

/// A member's answer to a retrieve.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RetrieveAnswer {
    /// A batch, the new cursor, and whether more is waiting.
    Messages {
        /// The envelopes.
        messages: Vec<StoredMessage>,
        /// The node's cursor after them.
        cursor: u64,
        /// Whether another retrieve would give more right away.
        more: bool,
    },
    /// The node is not in the account's swarm: refresh the registry and
    /// try another member.
    WrongSwarm(SwarmInfo),
}

/// Read a member's answer to a retrieve.
pub fn retrieve_answer(resp: Response) -> Result<RetrieveAnswer, ClientError> {
    match resp.body {
        ResponseBody::Messages {
            messages,
            cursor,
            more,
        } => Ok(RetrieveAnswer::Messages {
            messages,
            cursor,
            more,
        }),
        ResponseBody::WrongSwarm(info) => Ok(RetrieveAnswer::WrongSwarm(info)),
        ResponseBody::Error { code, message } => Err(ClientError::Refused { code, message }),
        other => Err(ClientError::Protocol(format!(
            "unexpected answer to retrieve: {other:?}"
        ))),
    }
}

/// A member's answer to a claim (`docs/PROTOCOL.md` §5.13).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ClaimAnswer {
    /// The record is this claimant's (its hash and signature checked).
    Claimed(crate::logic::PublishedRecord),
    /// Another claimant got it, or the swarm's votes split: pick another
    /// record (or do without).
    AlreadyClaimed,
    /// The node is not in the account's swarm; these are the members it names.
    WrongSwarm(SwarmInfo),
}

/// Read a member's answer to a claim of `account`'s record `hash` in
/// `namespace`. A record that does not check is the node's fault: a
/// [`ClientError::Protocol`], worth another member.
pub fn claim_answer(
    resp: Response,
    account: &PublicKey,
    namespace: u16,
    hash: &MessageHash,
) -> Result<ClaimAnswer, ClientError> {
    match resp.body {
        ResponseBody::Claimed { data } => Ok(ClaimAnswer::Claimed(
            crate::logic::open_published(account, namespace, hash, &data)
                .map_err(|_| ClientError::Protocol("the claimed record does not check".into()))?,
        )),
        ResponseBody::Error {
            code: nightjar_wire::ErrorCode::AlreadyClaimed,
            ..
        } => Ok(ClaimAnswer::AlreadyClaimed),
        ResponseBody::WrongSwarm(info) => Ok(ClaimAnswer::WrongSwarm(info)),
        ResponseBody::Error { code, message } => Err(ClientError::Refused { code, message }),
        other => Err(ClientError::Protocol(format!(
            "unexpected answer to claim: {other:?}"
        ))),
    }
}

/// The wait a retrieve asks for with `remaining_ms` left of the caller's
/// wait: at most [`nightjar_wire::MAX_WAIT_MS`].
pub fn retrieve_wait_ms(remaining_ms: u64) -> u32 {
    u32::try_from(remaining_ms)
        .unwrap_or(u32::MAX)
        .min(nightjar_wire::MAX_WAIT_MS)
}

/// How long the destination may take for a request that waits `wait_ms`:
/// `base` plus the wait.
pub fn work_with_wait(base: Duration, wait_ms: u32) -> Duration {
    base + Duration::from_millis(u64::from(wait_ms))
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use crate::testnet::Net;
    use nightjar_crypto::identity::Identity;
    use nightjar_types::NodeKey;
    use nightjar_wire::ErrorCode;

    const T0: u64 = 1_700_000_000_000;

    fn info(nodes: &[NodeEntry]) -> SwarmInfo {
        SwarmInfo {
            swarm_id: 7,
            nodes: nodes
                .iter()
                .map(|n| (NodeKey::new(n.id.0.to_bytes()), n.addr))
                .collect(),
        }
    }

    #[test]
    fn a_claim_answer_is_the_checked_record_or_already_claimed() {
        let alice = Identity::generate().unwrap();
        let key = alice.public_key();
        let data = nightjar_crypto::published::sign(&alice, 0xff80, b"prekey");
        let hash = MessageHash::new(nightjar_crypto::hash::message_hash(&key, 0xff80, &data));
        let answer = |body| Response {
            node_time_ms: 1,
            body,
        };
        assert_eq!(
            claim_answer(
                answer(ResponseBody::Claimed { data: data.clone() }),
                &key,
                0xff80,
                &hash
            )
            .unwrap(),
            ClaimAnswer::Claimed(crate::logic::PublishedRecord {
                hash,
                body: b"prekey".to_vec()
            })
        );
        // Another record, or none, is the node's fault: try another member.
        for bad in [b"other".to_vec(), Vec::new()] {
            let err = claim_answer(
                answer(ResponseBody::Claimed { data: bad }),
                &key,
                0xff80,
                &hash,
            )
            .unwrap_err();
            assert!(is_worth_another_node(&err), "{err}");
        }
        assert_eq!(
            claim_answer(
                answer(ResponseBody::Error {
                    code: ErrorCode::AlreadyClaimed,
                    message: String::new()
                }),
                &key,
                0xff80,
                &hash
            )
            .unwrap(),
            ClaimAnswer::AlreadyClaimed
        );
        let err = claim_answer(
            answer(ResponseBody::Error {
                code: ErrorCode::QuorumNotReached,
                message: String::new(),
            }),
            &key,
            0xff80,
            &hash,
        )
        .unwrap_err();
        assert!(is_worth_another_node(&err), "a retry may win: {err}");
    }

    #[test]
    fn members_are_tried_by_rendezvous_score() {
        let net = Net::new(5);
        let account =
            Identity::from_seed(nightjar_crypto::identity::Seed::from_bytes([9; 32])).account_id();
        let order = member_order(
            &account,
            net.nodes.clone(),
            &|_| false,
            &Unreachable::new(),
            T0,
        );
        assert_eq!(
            order,
            crate::logic::preference_order(&account, net.nodes.clone())
        );
        let mut reversed = net.nodes.clone();
        reversed.reverse();
        assert_eq!(
            member_order(&account, reversed, &|_| false, &Unreachable::new(), T0),
            order,
            "the input order does not matter"
        );
    }

    #[test]
    fn nodes_that_know_our_address_go_last_and_recently_unreachable_before_them() {
        let net = Net::new(5);
        let [a, b, c, d, e] = [0, 1, 2, 3, 4].map(|i| net.nodes[i].clone());
        let mut unreachable = Unreachable::new();
        unreachable.mark(&b, T0);
        unreachable.mark(&d, T0);
        let guard = d.id;
        let knows = move |id: &NodeId| *id == guard;
        let order = address_aware_order(net.nodes.clone(), &knows, &unreachable, T0 + 1);
        assert_eq!(
            order,
            vec![a.clone(), c.clone(), e.clone(), b.clone(), d.clone()]
        );
    }

    #[test]
    fn an_unreachable_node_is_forgiven_after_the_window() {
        let net = Net::new(3);
        let mut unreachable = Unreachable::new();
        unreachable.mark(&net.nodes[0], T0);
        let window = millis(RETRY_UNREACHABLE_AFTER);
        assert!(unreachable.is_recent(&net.nodes[0], T0 + window - 1));
        assert!(!unreachable.is_recent(&net.nodes[0], T0 + window));
        let order = address_aware_order(net.nodes.clone(), &|_| false, &unreachable, T0 + window);
        assert_eq!(order, net.nodes);
        unreachable.mark(&net.nodes[1], T0);
        unreachable.clear(&net.nodes[1]);
        assert!(!unreachable.is_recent(&net.nodes[1], T0));
    }

    #[test]
    fn retryable_errors_move_on_and_fatal_ones_stop() {
        let addr = "10.0.0.1:1".parse().unwrap();
        for e in [
            ClientError::DestinationUnreachable,
            ClientError::Protocol("odd".into()),
            ClientError::Transport {
                addr,
                source: nightjar_transport::TransportError::Timeout(Duration::from_secs(1)),
            },
            ClientError::HopFailed {
                hop: 3,
                failure: nightjar_crypto::onion::HopFailure::TimedOut,
            },
            ClientError::Refused {
                code: ErrorCode::Unavailable,
                message: String::new(),
            },
            ClientError::Refused {
                code: ErrorCode::QuorumNotReached,
                message: String::new(),
            },
        ] {
            assert!(is_worth_another_node(&e), "{e}");
        }
        for e in [
            ClientError::InvalidMessage("empty".into()),
            ClientError::Refused {
                code: ErrorCode::QuotaExceeded,
                message: String::new(),
            },
            ClientError::Refused {
                code: ErrorCode::BadSignature,
                message: String::new(),
            },
        ] {
            assert!(!is_worth_another_node(&e), "{e}");
        }
    }

    #[test]
    fn failover_tries_each_member_then_reports_the_last_error() {
        let net = Net::new(3);
        let mut f = Failover::new(net.nodes.clone());
        assert_eq!(f.next_member(), Some(net.nodes[0].clone()));
        f.member_failed(ClientError::Protocol("first".into()))
            .unwrap();
        assert_eq!(f.next_member(), Some(net.nodes[1].clone()));
        f.member_failed(ClientError::DestinationUnreachable)
            .unwrap();
        assert_eq!(f.next_member(), Some(net.nodes[2].clone()));
        f.member_failed(ClientError::Protocol("last".into()))
            .unwrap();
        assert_eq!(f.next_member(), None);
        assert!(f.into_error().to_string().contains("last"));
    }

    #[test]
    fn a_fatal_error_ends_the_failover_at_once() {
        let net = Net::new(3);
        let mut f = Failover::new(net.nodes.clone());
        f.next_member();
        let e = f
            .member_failed(ClientError::InvalidMessage("no".into()))
            .unwrap_err();
        assert!(matches!(e, ClientError::InvalidMessage(_)));
    }

    #[test]
    fn wrong_swarm_is_followed_once_and_only_to_known_nodes() {
        let snapshot = Net::new(6).nodes;
        let strangers = Net::new(9).nodes[6..].to_vec();
        let mut f = Failover::new(snapshot[..2].to_vec());
        f.next_member();
        // The node names two members we know and one we do not.
        let named = [
            snapshot[4].clone(),
            strangers[0].clone(),
            snapshot[3].clone(),
        ];
        assert!(f.redirect(&info(&named), &snapshot, &|n| n));
        assert_eq!(f.next_member(), Some(snapshot[4].clone()));
        assert_eq!(f.next_member(), Some(snapshot[3].clone()));
        assert_eq!(f.next_member(), None, "the stranger is not tried");
        // A second redirect is not followed.
        assert!(!f.redirect(&info(&snapshot), &snapshot, &|n| n));
        assert_eq!(f.next_member(), None);
        assert!(f.into_error().to_string().contains("disagree"));
    }

    #[test]
    fn a_known_key_at_another_address_is_not_followed() {
        let snapshot = Net::new(3).nodes;
        let mut moved = snapshot[1].clone();
        moved.addr = "192.0.2.1:4000".parse().unwrap();
        assert!(known_nodes(&info(&[moved]), &snapshot).is_empty());
    }

    #[test]
    fn store_answers_are_checked_against_the_message_hash() {
        let stored = |hash| Response {
            node_time_ms: 1,
            body: ResponseBody::Stored {
                hash,
                expiry_ms: 99,
                already_stored: false,
                receipts: Vec::new(),
            },
        };
        assert_eq!(
            store_answer(
                stored(MessageHash::new([1; 32])),
                &MessageHash::new([1; 32])
            )
            .unwrap(),
            StoreAnswer::Stored { expiry_ms: 99 }
        );
        assert!(matches!(
            store_answer(
                stored(MessageHash::new([2; 32])),
                &MessageHash::new([1; 32])
            ),
            Err(ClientError::Protocol(_))
        ));
        let wrong = Response {
            node_time_ms: 1,
            body: ResponseBody::WrongSwarm(info(&[])),
        };
        assert!(matches!(
            store_answer(wrong.clone(), &MessageHash::new([1; 32])),
            Ok(StoreAnswer::WrongSwarm(_))
        ));
        assert!(matches!(
            retrieve_answer(wrong),
            Ok(RetrieveAnswer::WrongSwarm(_))
        ));
        let refused = Response::error(1, ErrorCode::QuotaExceeded, "full");
        assert!(matches!(
            store_answer(refused, &MessageHash::new([1; 32])),
            Err(ClientError::Refused {
                code: ErrorCode::QuotaExceeded,
                ..
            })
        ));
    }

    #[test]
    fn a_retrieve_waits_at_most_the_wire_maximum() {
        assert_eq!(retrieve_wait_ms(0), 0);
        assert_eq!(retrieve_wait_ms(1_234), 1_234);
        assert_eq!(retrieve_wait_ms(u64::MAX), nightjar_wire::MAX_WAIT_MS);
        assert_eq!(
            work_with_wait(Duration::from_secs(10), 5_000),
            Duration::from_secs(15)
        );
    }
}
