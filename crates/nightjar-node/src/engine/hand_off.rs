//! Hand-off as a state machine: after a round, every message this node holds
//! that now belongs to another swarm is replicated to that swarm's members
//! through the write-quorum tracker ([`super::quorum`]: each member's
//! receipt verified), one account at a time. An account's copies here
//! (messages and tombstones) are dropped only once each of its messages
//! reached a verified write quorum of its new swarm; otherwise they stay and
//! the next round tries again.

use std::collections::{BTreeMap, VecDeque};

use nightjar_registry::{NodeEntry, SwarmId};
use nightjar_store::{PositionedEntry, StoreCommand, StoreReply};
use nightjar_types::MessageKey;
use nightjar_wire::{MAX_FETCH_KEYS, ReplicateRequest, Request, Response};

use super::quorum::{Purpose, WriteId};
use super::{CoreEvent, NodeCore, Op, OpId, PeerFailure, Timer};
use crate::sync::Arc64;

/// What a hand-off's store command or peer request was for.
#[derive(Debug)]
pub(crate) enum HandOffOp {
    /// Our entries outside our arc.
    List,
    /// Messages of the current account.
    Fetch,
    /// One message to one member of its new swarm.
    Replicate {
        /// The write it counts for.
        write: WriteId,
        /// Index of the member in the write's members.
        member: usize,
    },
    /// Dropping a handed-off account.
    Drop,
}

/// The account being handed off.
#[derive(Debug)]
struct Account {
    position: u64,
    members: Vec<NodeEntry>,
    need: usize,
    chunks: VecDeque<Vec<MessageKey>>,
    open_writes: usize,
    fetching: bool,
    complete: bool,
}

/// A hand-off in progress.
#[derive(Debug)]
pub(crate) struct HandOff {
    accounts: VecDeque<(u64, SwarmId, Vec<MessageKey>)>,
    current: Option<Account>,
    handed: u64,
    pulled: u64,
    tombstones: u64,
}

impl NodeCore {
    /// Start the hand-off of a round that pulled `pulled` messages and
    /// `tombstones` tombstones.
    pub(super) fn start_hand_off(&mut self, now_ms: u64, pulled: u64, tombstones: u64) {
        self.hand_off = Some(HandOff {
            accounts: VecDeque::new(),
            current: None,
            handed: 0,
            pulled,
            tombstones,
        });
        let Some(view) = self.logic.view().cloned() else {
            self.finish_hand_off();
            return;
        };
        if view.map.node_count() == 0 {
            self.finish_hand_off();
            return;
        }
        // Candidates: everything outside our arc (the whole ring if we left
        // the registry); the exact owner is decided per entry.
        let outside = match self.own {
            Some((_, arc)) => {
                if arc.start == arc.end {
                    self.finish_hand_off();
                    return;
                }
                Arc64 {
                    start: arc.end.wrapping_sub(2),
                    end: arc.start.wrapping_add(1),
                }
            }
            None => Arc64 { start: 0, end: 0 },
        };
        self.store(
            Op::HandOff(HandOffOp::List),
            StoreCommand::ListRange {
                start: outside.start,
                end: outside.end,
                now_ms,
                after: None,
                limit: usize::MAX,
            },
        );
    }

    fn finish_hand_off(&mut self) {
        if let Some(h) = self.hand_off.take() {
            self.event(CoreEvent::SyncRound {
                pulled: h.pulled,
                tombstones: h.tombstones,
                handed_off: h.handed,
            });
        }
    }

    fn next_account(&mut self, now_ms: u64) {
        let quorum = self.config.write_quorum;
        let Some(view) = self.logic.view().cloned() else {
            self.finish_hand_off();
            return;
        };
        let Some(h) = self.hand_off.as_mut() else {
            return;
        };
        let Some((position, dest, messages)) = h.accounts.pop_front() else {
            self.finish_hand_off();
            return;
        };
        let members = view.map.members(dest).unwrap_or_default();
        let need = quorum.of(members.len());
        h.current = Some(Account {
            position,
            members,
            need,
            chunks: messages
                .chunks(MAX_FETCH_KEYS)
                .map(<[MessageKey]>::to_vec)
                .collect(),
            open_writes: 0,
            fetching: false,
            complete: true,
        });
        self.next_chunk(now_ms);
    }

    fn next_chunk(&mut self, now_ms: u64) {
        let Some(account) = self.hand_off.as_mut().and_then(|h| h.current.as_mut()) else {
            return;
        };
        if let Some(keys) = account.chunks.pop_front() {
            account.fetching = true;
            self.store(
                Op::HandOff(HandOffOp::Fetch),
                StoreCommand::Fetch { keys, now_ms },
            );
            return;
        }
        if account.open_writes > 0 || account.fetching {
            return;
        }
        let (position, complete) = (account.position, account.complete);
        if complete {
            // This account now lives on its new swarm: drop our copies.
            self.store(
                Op::HandOff(HandOffOp::Drop),
                StoreCommand::DropRange {
                    start: position,
                    end: position.wrapping_add(1),
                },
            );
        } else {
            self.event(CoreEvent::PeerFailed { what: "hand_off" });
            self.next_account(now_ms);
        }
    }

    pub(super) fn hand_off_store_reply(&mut self, now_ms: u64, step: HandOffOp, reply: StoreReply) {
        match step {
            HandOffOp::List => {
                let Some(view) = self.logic.view().cloned() else {
                    self.finish_hand_off();
                    return;
                };
                let mine = view.map.swarm_of_node(&self.me);
                let entries = match reply {
                    StoreReply::Entries(Ok(e)) => e,
                    _ => Vec::new(),
                };
                // Per account (one ring position each): destination and messages.
                let mut accounts: BTreeMap<u64, (SwarmId, Vec<MessageKey>)> = BTreeMap::new();
                for PositionedEntry { position, entry } in entries {
                    match view.map.swarm_for_position(position) {
                        Some(dest) if Some(dest) != mine => {
                            let slot = accounts.entry(position).or_insert((dest, Vec::new()));
                            if !entry.tombstone {
                                slot.1.push(entry.key);
                            }
                        }
                        _ => {}
                    }
                }
                if let Some(h) = self.hand_off.as_mut() {
                    h.accounts = accounts.into_iter().map(|(p, (d, m))| (p, d, m)).collect();
                }
                self.next_account(now_ms);
            }
            HandOffOp::Fetch => {
                let timeout = self.config.sync_timeout_ms;
                let Some(account) = self.hand_off.as_mut().and_then(|h| h.current.as_mut()) else {
                    return;
                };
                account.fetching = false;
                let full = match reply {
                    StoreReply::Full(Ok(m)) => m,
                    _ => {
                        account.complete = false;
                        account.chunks.clear();
                        Vec::new()
                    }
                };
                let members = account.members.clone();
                let need = account.need;
                if members.is_empty() && !full.is_empty() {
                    account.complete = false;
                }
                let deadline = now_ms.saturating_add(timeout);
                let mut opened = 0;
                for (hash, m) in full {
                    if members.is_empty() {
                        break;
                    }
                    let write = self.quorums.start(
                        hash,
                        m.expiry_ms,
                        members.clone(),
                        need,
                        Purpose::HandOff,
                        Some(deadline),
                    );
                    let req = Request::Replicate(ReplicateRequest {
                        account: m.mailbox.account,
                        namespace: m.mailbox.namespace,
                        data: m.data,
                        expiry_ms: m.expiry_ms,
                    });
                    for (member, to) in members.iter().enumerate() {
                        let op = self.send_bounded(
                            Op::HandOff(HandOffOp::Replicate { write, member }),
                            to.clone(),
                            req.clone(),
                            timeout,
                        );
                        if let Some(w) = self.quorums.get_mut(write) {
                            w.outstanding.push(op);
                        }
                    }
                    self.timers.insert((deadline, Timer::WriteDeadline(write)));
                    self.timers
                        .insert((deadline.saturating_add(timeout), Timer::WriteDrop(write)));
                    opened += 1;
                }
                if let Some(account) = self.hand_off.as_mut().and_then(|h| h.current.as_mut()) {
                    account.open_writes += opened;
                }
                self.next_chunk_if_idle(now_ms);
            }
            HandOffOp::Drop => self.next_account(now_ms),
            HandOffOp::Replicate { .. } => {}
        }
    }

    fn next_chunk_if_idle(&mut self, now_ms: u64) {
        let idle = self
            .hand_off
            .as_ref()
            .and_then(|h| h.current.as_ref())
            .is_some_and(|a| a.open_writes == 0 && !a.fetching);
        if idle {
            self.next_chunk(now_ms);
        }
    }

    pub(super) fn hand_off_peer_answer(
        &mut self,
        now_ms: u64,
        op: OpId,
        step: HandOffOp,
        answer: Result<Response, PeerFailure>,
    ) {
        if let HandOffOp::Replicate { write, member } = step {
            self.replica_answered(now_ms, write, op, member, answer.ok());
        }
    }

    /// One handed-off message's write was decided.
    pub(super) fn hand_off_write_decided(&mut self, now_ms: u64, _write: WriteId, reached: bool) {
        let Some(h) = self.hand_off.as_mut() else {
            return;
        };
        let Some(account) = h.current.as_mut() else {
            return;
        };
        account.open_writes = account.open_writes.saturating_sub(1);
        if reached {
            h.handed += 1;
        } else {
            account.complete = false;
        }
        self.next_chunk_if_idle(now_ms);
    }
}
