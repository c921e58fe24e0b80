//! The anti-entropy round as a state machine: with each other member of its
//! swarm in turn, the node lists what it holds over its swarm's arc,
//! compares bucket digests with the peer's, lists the peer's entries in each
//! bucket that differs and pulls the tombstones and messages it lacks
//! (checking each message's hash). Pulled messages wake waiting retrieves.
//! When every peer is done (or failed), the hand-off runs
//! ([`super::hand_off`]); the round's stats are reported after it.

use std::collections::VecDeque;
use std::sync::Arc;

use nightjar_crypto::hash::message_hash;
use nightjar_crypto::identity::PublicKey;
use nightjar_registry::{NodeEntry, SwarmId};
use nightjar_store::{
    NewMessage, PositionedEntry, StoreCommand, StoreError, StoreOutcome, StoreReply,
};
use nightjar_types::{MailboxKey, MessageHash, MessageKey, SyncEntry};
use nightjar_wire::{MAX_FETCH_KEYS, Request, Response, ResponseBody};

use super::digest_cache::Waiter;
use super::{CoreEvent, NodeCore, Op, PeerFailure, RegistryView};
use crate::sync::{self, Arc64};

/// What a round's store command or peer request was for.
#[derive(Debug)]
pub(crate) enum RoundOp {
    /// Our entries in bucket `i`, to compare with the peer's `theirs`.
    ListOwnBucket(u32, Vec<SyncEntry>),
    /// The peer's digests.
    Digest,
    /// The peer's entries in bucket `i`.
    List(u32),
    /// Messages from the peer.
    Fetch,
    /// Storing pulled tombstones.
    AddTombstones,
    /// Storing one pulled message.
    StoreCopy(MailboxKey),
}

/// One anti-entropy round in progress.
#[derive(Debug)]
pub(crate) struct SyncRound {
    view: Arc<RegistryView>,
    swarm: SwarmId,
    arc: Arc64,
    peers: VecDeque<NodeEntry>,
    peer: Option<NodeEntry>,
    mine: Vec<[u8; 32]>,
    buckets: VecDeque<u32>,
    fetches: VecDeque<Vec<MessageKey>>,
    /// Pulled copies being stored.
    stores_in_flight: usize,
    /// Every peer is done.
    peers_done: bool,
    /// Messages pulled.
    pub pulled: u64,
    /// Tombstones pulled.
    pub tombstones: u64,
}

impl NodeCore {
    /// Start a round (pull from swarm peers, then hand off).
    pub(super) fn start_round(&mut self, now_ms: u64) {
        if self.logic.view().is_none() {
            return;
        }
        let Some((view, swarm, arc)) = self.own_arc() else {
            self.start_hand_off(now_ms, 0, 0);
            return;
        };
        let peers = view
            .map
            .members(swarm)
            .unwrap_or_default()
            .into_iter()
            .filter(|n| n.id != self.me)
            .collect();
        self.round = Some(SyncRound {
            view,
            swarm,
            arc,
            peers,
            peer: None,
            mine: Vec::new(),
            buckets: VecDeque::new(),
            fetches: VecDeque::new(),
            stores_in_flight: 0,
            peers_done: false,
            pulled: 0,
            tombstones: 0,
        });
        self.next_peer(now_ms);
    }

    fn next_peer(&mut self, now_ms: u64) {
        let Some(round) = self.round.as_mut() else {
            return;
        };
        round.buckets.clear();
        round.fetches.clear();
        round.peer = round.peers.pop_front();
        if round.peer.is_none() {
            round.peers_done = true;
            self.maybe_finish_round(now_ms);
            return;
        }
        let (view, swarm, arc) = (round.view.clone(), round.swarm, round.arc);
        let buckets = self.config.sync_buckets;
        self.want_digests(now_ms, Waiter::Round, view, swarm, arc, buckets);
    }

    /// Our digests for the current peer are ready: ask for the peer's.
    pub(super) fn round_digests(
        &mut self,
        now_ms: u64,
        digests: Result<Vec<[u8; 32]>, StoreError>,
    ) {
        let timeout = self.config.sync_timeout_ms;
        let buckets = self.config.sync_buckets;
        let Some(round) = self.round.as_mut() else {
            return;
        };
        let Ok(mine) = digests else {
            self.event(CoreEvent::StoreFailed { what: "sync" });
            self.next_peer(now_ms);
            return;
        };
        round.mine = mine;
        let Some(peer) = round.peer.clone() else {
            return;
        };
        let arc = round.arc;
        self.send(
            Op::Round(RoundOp::Digest),
            peer,
            Request::SyncDigest {
                start: arc.start,
                end: arc.end,
                buckets,
            },
            timeout,
        );
    }

    fn maybe_finish_round(&mut self, now_ms: u64) {
        let done = self
            .round
            .as_ref()
            .is_some_and(|r| r.peers_done && r.stores_in_flight == 0);
        if done && let Some(round) = self.round.take() {
            self.start_hand_off(now_ms, round.pulled, round.tombstones);
        }
    }

    /// Ask the current peer for the next bucket's entries or the next fetch.
    fn continue_with_peer(&mut self, now_ms: u64) {
        let timeout = self.config.sync_timeout_ms;
        let buckets = self.config.sync_buckets;
        let Some(round) = self.round.as_mut() else {
            return;
        };
        let Some(peer) = round.peer.clone() else {
            return;
        };
        if let Some(keys) = round.fetches.pop_front() {
            self.send(
                Op::Round(RoundOp::Fetch),
                peer,
                Request::SyncFetch(keys),
                timeout,
            );
        } else if let Some(i) = round.buckets.pop_front() {
            let bucket = round.arc.bucket(i, buckets);
            self.send(
                Op::Round(RoundOp::List(i)),
                peer,
                Request::SyncList {
                    start: bucket.start,
                    end: bucket.end,
                },
                timeout,
            );
        } else {
            self.next_peer(now_ms);
        }
    }

    pub(super) fn round_store_reply(&mut self, now_ms: u64, step: RoundOp, reply: StoreReply) {
        let buckets = self.config.sync_buckets;
        let Some(round) = self.round.as_mut() else {
            return;
        };
        match step {
            RoundOp::ListOwnBucket(i, theirs) => {
                let Ok(entries) = (match reply {
                    StoreReply::Entries(r) => r,
                    _ => Err(StoreError::WriterGone),
                }) else {
                    self.event(CoreEvent::StoreFailed { what: "sync" });
                    self.continue_with_peer(now_ms);
                    return;
                };
                let bucket = round.arc.bucket(i, buckets);
                let ours: Vec<PositionedEntry> = sync::owned(&round.view.map, round.swarm, entries)
                    .into_iter()
                    .filter(|e| bucket.contains(e.position))
                    .collect();
                let pull = sync::diff(&ours, &theirs);
                round.fetches = pull
                    .fetch
                    .chunks(MAX_FETCH_KEYS)
                    .map(<[MessageKey]>::to_vec)
                    .collect();
                if !pull.tombstones.is_empty() {
                    round.tombstones += pull.tombstones.len() as u64;
                    round.stores_in_flight += 1;
                    self.store(
                        Op::Round(RoundOp::AddTombstones),
                        StoreCommand::AddTombstones(pull.tombstones),
                    );
                }
                self.continue_with_peer(now_ms);
            }
            RoundOp::AddTombstones => {
                round.stores_in_flight = round.stores_in_flight.saturating_sub(1);
                self.maybe_finish_round(now_ms);
            }
            RoundOp::StoreCopy(mailbox) => {
                round.stores_in_flight = round.stores_in_flight.saturating_sub(1);
                match reply {
                    StoreReply::Stored(Ok(StoreOutcome::Stored { .. })) => {
                        round.pulled += 1;
                        self.wake(now_ms, &mailbox);
                    }
                    StoreReply::Stored(Ok(StoreOutcome::AlreadyStored { .. })) => {
                        round.pulled += 1;
                    }
                    _ => {}
                }
                self.maybe_finish_round(now_ms);
            }
            RoundOp::Digest | RoundOp::List(_) | RoundOp::Fetch => {}
        }
    }

    pub(super) fn round_peer_answer(
        &mut self,
        now_ms: u64,
        step: RoundOp,
        answer: Result<Response, PeerFailure>,
    ) {
        let buckets = self.config.sync_buckets;
        let Some(round) = self.round.as_mut() else {
            return;
        };
        let body = answer.map(|r| r.body);
        match (step, body) {
            (RoundOp::Digest, Ok(ResponseBody::Digest(theirs))) => {
                round.buckets = round
                    .mine
                    .iter()
                    .zip(theirs.iter())
                    .enumerate()
                    .filter(|(_, (a, b))| a != b)
                    .filter_map(|(i, _)| u32::try_from(i).ok())
                    .collect();
                self.continue_with_peer(now_ms);
            }
            (RoundOp::List(i), Ok(ResponseBody::Entries { entries, .. })) => {
                let bucket = round.arc.bucket(i, buckets);
                self.store(
                    Op::Round(RoundOp::ListOwnBucket(i, entries)),
                    StoreCommand::ListRange {
                        start: bucket.start,
                        end: bucket.end,
                        now_ms,
                    },
                );
            }
            (RoundOp::Fetch, Ok(ResponseBody::Full(messages))) => {
                let copies: Vec<NewMessage> = messages
                    .into_iter()
                    .filter(|m| m.expiry_ms > now_ms)
                    .filter_map(|m| {
                        let MailboxKey { account, namespace } = m.mailbox;
                        let key = PublicKey::from_bytes(account.as_bytes()).ok()?;
                        Some(NewMessage {
                            account,
                            namespace,
                            hash: MessageHash::new(message_hash(&key, namespace, &m.data)),
                            data: m.data,
                            now_ms,
                            expiry_ms: m.expiry_ms,
                        })
                    })
                    .collect();
                round.stores_in_flight += copies.len();
                for copy in copies {
                    self.store(
                        Op::Round(RoundOp::StoreCopy(MailboxKey {
                            account: copy.account,
                            namespace: copy.namespace,
                        })),
                        StoreCommand::Store(copy),
                    );
                }
                self.continue_with_peer(now_ms);
            }
            // A failed or unexpected answer ends the exchange with this peer.
            _ => {
                self.event(CoreEvent::PeerFailed { what: "sync" });
                self.next_peer(now_ms);
            }
        }
    }
}
