//! The anti-entropy round as a state machine: with each other member of its
//! swarm in turn, the node lists what it holds over its swarm's arc,
//! compares bucket digests with the peer's, lists the peer's entries in each
//! bucket that differs, page by page (each `sync_list` answer says where
//! the next page starts), and pulls the tombstones and messages it lacks
//! (checking each message's hash, and keeping a copy in a published
//! namespace only if it is the account's signed record). Pulled messages
//! wake waiting retrieves.
//! When every peer is done (or failed), the hand-off runs
//! ([`super::hand_off`]); the round's stats are reported after it.
//!
//! Work is bounded per step: a page of the peer's listing is compared with
//! this node's own entries over the same stretch of entry order (one store
//! page), and the next fetch waits while more than one fetch's worth of
//! pulled messages is still being stored.

use std::collections::VecDeque;
use std::sync::Arc;

use nightjar_crypto::hash::message_hash;
use nightjar_crypto::identity::PublicKey;
use nightjar_registry::{NodeEntry, SwarmId};
use nightjar_store::{
    NewMessage, PositionedEntry, StoreCommand, StoreError, StoreOutcome, StoreReply,
};
use nightjar_types::{MailboxKey, MessageHash, MessageKey, SyncCursor, SyncEntry};
use nightjar_wire::{MAX_FETCH_KEYS, MAX_SYNC_ENTRIES, Request, Response, ResponseBody};

use super::digest_cache::Waiter;
use super::{CoreEvent, NodeCore, Op, PeerFailure, RegistryView};
use crate::sync::{self, Arc64};

/// What a round's store command or peer request was for.
#[derive(Debug)]
pub(crate) enum RoundOp {
    /// Our entries in a page of a bucket, to compare with the peer's.
    ListOwnBucket(Box<OwnPage>),
    /// The peer's digests.
    Digest,
    /// A page of the peer's entries in bucket `i`, after a place.
    List(u32, Option<SyncCursor>),
    /// Messages from the peer.
    Fetch,
    /// Storing pulled tombstones.
    AddTombstones,
    /// Storing one pulled message.
    StoreCopy(MailboxKey),
}

/// A page of the peer's listing of a bucket, waiting for ours.
#[derive(Debug)]
pub(crate) struct OwnPage {
    /// The bucket.
    bucket: u32,
    /// The peer's entries (after where the page starts, up to `until`).
    theirs: Vec<SyncEntry>,
    /// Where it ends (inclusive), if the peer has more after it.
    until: Option<SyncCursor>,
}

/// Most pages of one bucket taken from one peer in a round (a peer that
/// never stops listing cannot hold the round forever).
pub(crate) const MAX_PAGES_PER_BUCKET: u32 = 10_000;

/// Most of our own entries listed to compare with one page of the peer's
/// (twice a page: we may hold more than the peer over the same stretch).
/// Ours beyond it count as missing: at worst a few messages are fetched
/// again, and the store turns them into no-ops.
pub(crate) const OWN_PAGE_LIMIT: usize = 2 * MAX_SYNC_ENTRIES;

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
    /// The next page of the current bucket: the bucket and where it starts.
    page: Option<(u32, SyncCursor)>,
    /// Pages of the current bucket asked for so far.
    pages: u32,
    fetches: VecDeque<Vec<MessageKey>>,
    /// Pulled copies being stored.
    stores_in_flight: usize,
    /// The exchange with the peer waits for stores to finish.
    stalled: bool,
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
            page: None,
            pages: 0,
            fetches: VecDeque::new(),
            stores_in_flight: 0,
            stalled: false,
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
        round.page = None;
        round.fetches.clear();
        round.peer = round.peers.pop_front();
        if round.peer.is_none() {
            round.peers_done = true;
            self.maybe_finish_round(now_ms);
            return;
        }
        let (view, swarm, arc) = (round.view.clone(), round.swarm, round.arc);
        let buckets = self.config.sync_buckets;
        self.want_digests(now_ms, Waiter::Round, Some((view, swarm)), arc, buckets);
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
        // Pulled messages are stored before more are fetched.
        if round.stores_in_flight > MAX_FETCH_KEYS {
            round.stalled = true;
            return;
        }
        round.stalled = false;
        if let Some(keys) = round.fetches.pop_front() {
            self.send(
                Op::Round(RoundOp::Fetch),
                peer,
                Request::SyncFetch(keys),
                timeout,
            );
            return;
        }
        let (i, after) = match round.page.take() {
            Some((i, after)) => (i, Some(after)),
            None => match round.buckets.pop_front() {
                Some(i) => {
                    round.pages = 0;
                    (i, None)
                }
                None => return self.next_peer(now_ms),
            },
        };
        round.pages += 1;
        let bucket = round.arc.bucket(i, buckets);
        self.send(
            Op::Round(RoundOp::List(i, after)),
            peer,
            Request::SyncList {
                start: bucket.start,
                end: bucket.end,
                after,
            },
            timeout,
        );
    }

    /// A pulled copy was stored: carry on if the exchange waited for it.
    fn store_done(&mut self, now_ms: u64) {
        let resume = self.round.as_mut().is_some_and(|r| {
            r.stores_in_flight = r.stores_in_flight.saturating_sub(1);
            r.stalled && r.stores_in_flight <= MAX_FETCH_KEYS
        });
        if resume {
            self.continue_with_peer(now_ms);
        }
        self.maybe_finish_round(now_ms);
    }

    pub(super) fn round_store_reply(&mut self, now_ms: u64, step: RoundOp, reply: StoreReply) {
        let buckets = self.config.sync_buckets;
        let Some(round) = self.round.as_mut() else {
            return;
        };
        match step {
            RoundOp::ListOwnBucket(page) => {
                let OwnPage {
                    bucket: i,
                    theirs,
                    until,
                } = *page;
                let Ok(entries) = (match reply {
                    StoreReply::Entries(r) => r,
                    _ => Err(StoreError::WriterGone),
                }) else {
                    round.page = None;
                    self.event(CoreEvent::StoreFailed { what: "sync" });
                    self.continue_with_peer(now_ms);
                    return;
                };
                let bucket = round.arc.bucket(i, buckets);
                let ours: Vec<PositionedEntry> = sync::owned(&round.view.map, round.swarm, entries)
                    .into_iter()
                    .filter(|e| bucket.contains(e.position))
                    .filter(|e| until.is_none_or(|u| e.cursor() <= u))
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
            RoundOp::AddTombstones => self.store_done(now_ms),
            RoundOp::StoreCopy(mailbox) => {
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
                self.store_done(now_ms);
            }
            RoundOp::Digest | RoundOp::List(..) | RoundOp::Fetch => {}
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
            (RoundOp::List(i, after), Ok(ResponseBody::Entries { entries, next, .. })) => {
                let bucket = round.arc.bucket(i, buckets);
                // Continue after `next` only if it moves forward within the
                // bucket (a peer that predates paging sends none: its first
                // page is all we get from it).
                let until = next.filter(|n| {
                    bucket.contains(n.position)
                        && after.is_none_or(|a| *n > a)
                        && round.pages < MAX_PAGES_PER_BUCKET
                });
                round.page = until.map(|n| (i, n));
                self.store(
                    Op::Round(RoundOp::ListOwnBucket(Box::new(OwnPage {
                        bucket: i,
                        theirs: entries,
                        until,
                    }))),
                    StoreCommand::ListRange {
                        start: bucket.start,
                        end: bucket.end,
                        now_ms,
                        after,
                        limit: OWN_PAGE_LIMIT,
                    },
                );
            }
            (RoundOp::Fetch, Ok(ResponseBody::Full(messages))) => {
                let signatures = &*self.signatures;
                let mut refused = 0u64;
                let copies: Vec<NewMessage> = messages
                    .into_iter()
                    .filter(|m| m.expiry_ms > now_ms)
                    .filter_map(|m| {
                        let MailboxKey { account, namespace } = m.mailbox;
                        let key = PublicKey::from_bytes(account.as_bytes()).ok()?;
                        // A published namespace keeps only the account's
                        // signed records, whoever sends them.
                        if !crate::core::record_ok(signatures, &key, namespace, &m.data) {
                            refused += 1;
                            return None;
                        }
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
                if refused > 0 {
                    self.event(CoreEvent::PeerFailed { what: "sync" });
                }
                let Some(round) = self.round.as_mut() else {
                    return;
                };
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
