//! What the core does with each request once [`crate::core::NodeCore`]
//! (authentication, replay, placement) decided on it: stores through the
//! write quorum, deletes with their fan-out, claims and claim votes
//! ([`super::claim`]), retrieves (parking them when they may wait), onion
//! relay and delivery.

use nightjar_crypto::onion::HopFailure;
use nightjar_crypto::receipt_tree::{MAX_LEAVES, ReceiptTree, leaf_hash};
use nightjar_store::{NewMessage, StoreCommand, StoreError, StoreOutcome, StoreReply};
use nightjar_types::{MailboxKey, MessageHash, NodeKey};
use nightjar_wire::{ErrorCode, Receipt, ReplicateRequest, Request, Response};

use super::quorum::{Decision, Purpose, WriteId};
use super::retrieve_wait::Waiter;
use super::serve_sync::Serve;
use super::{CoreEvent, NodeCore, Op, OpId, PeerFailure, RequestId, Timer};
use crate::core::{self, Action, CheckedLayer};
use crate::onion::{self, OnionStep};

impl NodeCore {
    /// Carry out the decision on request `id`.
    pub(super) fn dispatch(&mut self, now_ms: u64, id: RequestId, action: Action) {
        if matches!(
            action,
            Action::Store { .. }
                | Action::Delete { .. }
                | Action::Claim { .. }
                | Action::ClaimVote { .. }
        ) {
            if self.pending_writes >= self.config.max_pending_writes {
                self.reply(
                    now_ms,
                    id,
                    Response::error(
                        now_ms,
                        ErrorCode::Unavailable,
                        "too many writes in flight; retry shortly",
                    ),
                );
                return;
            }
            self.pending_writes += 1;
            if let Some(p) = self.requests.get_mut(&id) {
                p.write = true;
            }
        }
        match action {
            Action::Respond(r) => self.reply(now_ms, id, r),
            Action::Store {
                account,
                namespace,
                hash,
                data,
                expiry_ms,
                replicate_to,
                quorum,
            } => {
                let write = self.quorums.start(
                    hash,
                    expiry_ms,
                    replicate_to.clone(),
                    quorum,
                    Purpose::Request(id),
                    None,
                );
                if !replicate_to.is_empty() {
                    let req = Request::Replicate(ReplicateRequest {
                        account,
                        namespace,
                        data: data.clone(),
                        expiry_ms,
                    });
                    for (member, to) in replicate_to.into_iter().enumerate() {
                        let op = self.send_bounded(
                            Op::Replica { write, member },
                            to,
                            req.clone(),
                            self.config.quorum_timeout_ms,
                        );
                        if let Some(w) = self.quorums.get_mut(write) {
                            w.outstanding.push(op);
                        }
                    }
                }
                self.store(
                    Op::LocalWrite(write, MailboxKey { account, namespace }),
                    StoreCommand::Store(NewMessage {
                        account,
                        namespace,
                        hash,
                        data,
                        now_ms,
                        expiry_ms,
                    }),
                );
            }
            Action::Retrieve {
                account,
                namespace,
                after_seq,
                wait_until_ms,
            } => {
                let mailbox = MailboxKey { account, namespace };
                if let Some(p) = self.requests.get_mut(&id) {
                    p.wait_until_ms = wait_until_ms;
                    p.mailbox = Some(mailbox);
                }
                self.read(now_ms, id, mailbox, after_seq);
            }
            Action::Delete {
                account,
                namespace,
                hashes,
                request,
                forward_to,
            } => {
                // Forward the signed request as is; members that miss it get
                // the tombstones from anti-entropy.
                for to in forward_to {
                    self.send_bounded(
                        Op::DeleteForward,
                        to,
                        request.clone(),
                        self.config.quorum_timeout_ms,
                    );
                }
                self.store(
                    Op::Delete(id),
                    StoreCommand::Delete {
                        account,
                        namespace,
                        hashes,
                        now_ms,
                        tombstone_ttl_ms: self.config.tombstone_ttl_ms,
                    },
                );
            }
            Action::SyncDigest {
                start,
                end,
                buckets,
            } => self.serve_digest(now_ms, id, crate::sync::Arc64 { start, end }, buckets),
            Action::SyncList { start, end, after } => {
                self.serve(now_ms, id, Serve::List { start, end, after })
            }
            Action::SyncFetch(keys) => self.serve(now_ms, id, Serve::Fetch(keys)),
            Action::Onion(layer) => self.onion(now_ms, id, *layer),
            Action::Claim {
                record,
                key,
                claimant,
                members,
                need,
            } => self.start_claim(now_ms, id, record, *key, claimant, members, need),
            Action::ClaimVote { record, claimant } => self.claim_vote(now_ms, id, record, claimant),
        }
    }

    fn onion(&mut self, now_ms: u64, id: RequestId, layer: CheckedLayer) {
        let delivered = self.requests.get(&id).is_some_and(|p| p.deliver.is_some());
        if delivered {
            // The pre-check already refuses this; never relay from inside a layer.
            self.reply(
                now_ms,
                id,
                Response::error(
                    now_ms,
                    ErrorCode::BadRequest,
                    "an onion layer may not deliver another onion request",
                ),
            );
            return;
        }
        if let Some(p) = self.requests.get_mut(&id) {
            p.kind = "onion_relay";
        }
        let layer = match layer {
            CheckedLayer::Route(layer) => layer,
            CheckedLayer::Deliver { inner, reply } => {
                if self.config.report_accounts
                    && let Some((account, read)) = inner.account()
                {
                    self.event(CoreEvent::DeliveredFor { account, read });
                }
                if let Some(p) = self.requests.get_mut(&id) {
                    p.kind = inner.kind();
                    p.deliver = Some(reply);
                }
                let action = self.logic.handle(now_ms, None, *inner);
                self.dispatch(now_ms, id, action);
                return;
            }
        };
        let max = std::time::Duration::from_millis(self.config.max_hop_timeout_ms);
        let own = NodeKey::new(self.identity.public_key().to_bytes());
        let logic = &self.logic;
        let step = onion::route(layer, &own, now_ms, max, |key| logic.registered_node(key));
        match step {
            OnionStep::Respond(r) => self.reply(now_ms, id, r),
            OnionStep::Forward {
                next,
                onion,
                timeout,
                reply,
            } => {
                let timeout_ms = u64::try_from(timeout.as_millis()).unwrap_or(u64::MAX);
                let op = self.send(Op::Relay(id), next, Request::Onion(onion), timeout_ms);
                if let Some(p) = self.requests.get_mut(&id) {
                    p.relay = Some((op, reply));
                }
            }
            // `route` delivers only `Layer::Deliver`, which the pre-check
            // turned into `CheckedLayer::Deliver` above.
            OnionStep::Deliver { reply, .. } => {
                let r = Response::error(now_ms, ErrorCode::Internal, "layer delivered twice");
                self.reply(now_ms, id, onion::wrap_final(now_ms, reply, &r));
            }
        }
    }

    pub(super) fn relay_answered(
        &mut self,
        now_ms: u64,
        id: RequestId,
        answer: Result<Response, PeerFailure>,
    ) {
        let Some((_, reply)) = self.requests.get_mut(&id).and_then(|p| p.relay.take()) else {
            return;
        };
        let response = match answer {
            Ok(answer) => onion::wrap_relayed(now_ms, reply, &answer),
            Err(PeerFailure::TimedOut) => onion::wrap_failure(now_ms, reply, HopFailure::TimedOut),
            Err(PeerFailure::Unreachable | PeerFailure::Overloaded) => {
                self.event(CoreEvent::PeerFailed { what: "relay" });
                onion::wrap_failure(now_ms, reply, HopFailure::Unreachable)
            }
        };
        self.reply(now_ms, id, response);
    }

    /// Read a retrieve's mailbox.
    pub(super) fn read(&mut self, now_ms: u64, id: RequestId, mailbox: MailboxKey, after_seq: u64) {
        self.waits.reading(id, mailbox);
        self.store(
            Op::Read {
                id,
                mailbox,
                after_seq,
            },
            StoreCommand::Retrieve {
                account: mailbox.account,
                namespace: mailbox.namespace,
                after_seq,
                now_ms,
                max_messages: self.config.retrieve_max_messages,
                max_bytes: self.config.retrieve_max_bytes,
            },
        );
    }

    pub(super) fn read_done(
        &mut self,
        now_ms: u64,
        id: RequestId,
        mailbox: MailboxKey,
        after_seq: u64,
        reply: StoreReply,
    ) {
        let woken = self.waits.read_done(id, mailbox);
        let Some(pending) = self.requests.get(&id) else {
            return;
        };
        let rows = match reply {
            StoreReply::Messages(r) => r,
            _ => Err(StoreError::WriterGone),
        };
        let empty = matches!(&rows, Ok(r) if r.is_empty());
        if let Some(deadline_ms) = pending.wait_until_ms
            && empty
            && deadline_ms > now_ms
        {
            if woken {
                self.read(now_ms, id, mailbox, after_seq);
            } else {
                self.waits.park(
                    id,
                    Waiter {
                        mailbox,
                        after_seq,
                        deadline_ms,
                    },
                );
                self.timers.insert((deadline_ms, Timer::Wait(id)));
                self.emit_waiting();
            }
            return;
        }
        let response =
            core::messages_response(now_ms, after_seq, rows, self.config.retrieve_max_messages);
        self.reply(now_ms, id, response);
    }

    /// A message landed in `mailbox`: read again for its waiting retrieves.
    pub(super) fn wake(&mut self, now_ms: u64, mailbox: &MailboxKey) {
        let woken = self.waits.wake(mailbox);
        if woken.is_empty() {
            return;
        }
        self.emit_waiting();
        for (id, w) in woken {
            self.timers.remove(&(w.deadline_ms, Timer::Wait(id)));
            self.read(now_ms, id, w.mailbox, w.after_seq);
        }
    }

    pub(super) fn delete_done(&mut self, now_ms: u64, id: RequestId, reply: StoreReply) {
        let result = match reply {
            StoreReply::Count(r) => r,
            _ => Err(StoreError::WriterGone),
        };
        if result.is_err() {
            self.event(CoreEvent::StoreFailed { what: "delete" });
        }
        self.reply(now_ms, id, core::deleted_response(now_ms, result));
    }

    /// The local copy of a tracked write is durable (or failed).
    pub(super) fn local_write_done(
        &mut self,
        now_ms: u64,
        write: WriteId,
        mailbox: MailboxKey,
        reply: StoreReply,
    ) {
        let outcome = match reply {
            StoreReply::Stored(r) => r,
            _ => Err(StoreError::WriterGone),
        };
        let already_stored = match outcome {
            Ok(StoreOutcome::Stored { .. }) => {
                self.wake(now_ms, &mailbox);
                false
            }
            Ok(StoreOutcome::AlreadyStored { .. }) => true,
            Ok(StoreOutcome::Tombstoned) => {
                let r = Response::error(
                    now_ms,
                    ErrorCode::Deleted,
                    "the recipient deleted this message",
                );
                self.write_failed(now_ms, write, r);
                return;
            }
            Err(e) => {
                if !matches!(e, StoreError::QuotaExceeded { .. }) {
                    self.event(CoreEvent::StoreFailed { what: "store" });
                }
                let r = core::store_error_response(now_ms, &e);
                self.write_failed(now_ms, write, r);
                return;
            }
        };
        if self.quorums.get_mut(write).is_some() {
            // Signed with the other writes made durable in this input.
            self.durable.push((write, already_stored));
        }
    }

    /// Sign this node's receipts for the writes made durable in this input
    /// ([`NodeCore::handle_store_replies`]): one receipt tree over their
    /// `(hash, expiry)` leaves, in the order they became durable, one
    /// signature over its root (per [`MAX_LEAVES`] writes), and each
    /// write's receipt carrying its inclusion path. Then each write goes on
    /// as its own receipt is in.
    pub(super) fn sign_durable(&mut self, now_ms: u64) {
        let durable = std::mem::take(&mut self.durable);
        for batch in durable.chunks(MAX_LEAVES) {
            let writes: Vec<(WriteId, bool, MessageHash, u64)> = batch
                .iter()
                .filter_map(|&(write, already)| {
                    let w = self.quorums.get_mut(write)?;
                    Some((write, already, w.hash, w.expiry_ms))
                })
                .collect();
            let leaves = writes
                .iter()
                .map(|(_, _, hash, expiry)| leaf_hash(hash.as_bytes(), *expiry))
                .collect();
            let Some(tree) = ReceiptTree::new(leaves) else {
                continue;
            };
            let Some(signed) = sign_tree(&*self.signatures, &self.identity, &tree) else {
                continue;
            };
            self.event(CoreEvent::ReceiptsSigned {
                messages: writes.len(),
            });
            for (index, (write, already_stored, _, expiry_ms)) in writes.into_iter().enumerate() {
                let Some(own) = signed.receipt(&tree, index, expiry_ms) else {
                    continue;
                };
                let deadline = now_ms.saturating_add(self.config.quorum_timeout_ms);
                let (decision, failed) =
                    self.quorums
                        .local_stored(write, own, already_stored, deadline);
                for _ in 0..failed {
                    self.event(CoreEvent::PeerFailed { what: "replicate" });
                }
                self.timers.insert((deadline, Timer::WriteDeadline(write)));
                self.timers.insert((
                    deadline.saturating_add(self.config.quorum_timeout_ms),
                    Timer::WriteDrop(write),
                ));
                if let Some(d) = decision {
                    self.write_decided(now_ms, write, d);
                }
                self.forget_write_if_over(write);
            }
        }
    }

    fn write_failed(&mut self, now_ms: u64, write: WriteId, response: Response) {
        self.quorums.abandon(write);
        if let Some(w) = self.quorums.get_mut(write)
            && let Purpose::Request(id) = w.purpose
        {
            self.reply(now_ms, id, response);
        }
        // Replicas already sent keep going; their answers only clean up.
        let drop_at = now_ms.saturating_add(self.config.quorum_timeout_ms);
        self.timers.insert((drop_at, Timer::WriteDrop(write)));
        self.forget_write_if_over(write);
    }

    pub(super) fn replica_answered(
        &mut self,
        now_ms: u64,
        write: WriteId,
        op: OpId,
        member: usize,
        answer: Option<Response>,
    ) {
        let (decision, failed) = self
            .quorums
            .member_answered(write, op, member, answer.as_ref());
        for _ in 0..failed {
            self.event(CoreEvent::PeerFailed { what: "replicate" });
        }
        if let Some(d) = decision {
            self.write_decided(now_ms, write, d);
        }
        self.forget_write_if_over(write);
    }

    /// A write's quorum was decided: tell whoever waits for it.
    pub(super) fn write_decided(&mut self, now_ms: u64, write: WriteId, decision: Decision) {
        let Some(w) = self.quorums.get_mut(write) else {
            return;
        };
        let (purpose, hash, expiry_ms) = (w.purpose, w.hash, w.expiry_ms);
        match purpose {
            Purpose::Request(id) => {
                let response = match decision {
                    Decision::Reached {
                        receipts,
                        already_stored,
                    } => core::stored_response(now_ms, hash, expiry_ms, already_stored, receipts),
                    Decision::NotReached { count, need } => Response::error(
                        now_ms,
                        ErrorCode::QuorumNotReached,
                        format!("{count} of {need} swarm members confirmed; retry"),
                    ),
                };
                self.reply(now_ms, id, response);
            }
            Purpose::HandOff => {
                let reached = matches!(decision, Decision::Reached { .. });
                self.hand_off_write_decided(now_ms, write, reached);
            }
        }
    }

    /// Forget `write` once it is decided and every peer answered.
    pub(super) fn forget_write_if_over(&mut self, write: WriteId) {
        if self.quorums.get_mut(write).is_some_and(|w| w.is_over()) {
            self.quorums.remove(write);
        }
    }
}

/// This node's signature over one receipt tree.
pub(super) struct SignedTree {
    node_key: nightjar_wire::NodeKey,
    signature: [u8; 64],
    size: u32,
}

/// Sign `tree`'s root and size under [`nightjar_wire::LABEL_RECEIPT_BATCH`];
/// `None` only for a tree larger than a receipt can name.
pub(super) fn sign_tree(
    signatures: &dyn super::Signatures,
    identity: &nightjar_crypto::identity::Identity,
    tree: &ReceiptTree,
) -> Option<SignedTree> {
    let size = u32::try_from(tree.size()).ok()?;
    Some(SignedTree {
        node_key: crate::core::node_key_of(&identity.public_key()),
        signature: signatures.sign(
            identity,
            nightjar_wire::LABEL_RECEIPT_BATCH,
            &nightjar_wire::receipt_batch_signed_data(&tree.root(), size),
        ),
        size,
    })
}

impl SignedTree {
    /// The receipt of the message at leaf `index` (held until `expiry_ms`).
    pub(super) fn receipt(
        &self,
        tree: &ReceiptTree,
        index: usize,
        expiry_ms: u64,
    ) -> Option<Receipt> {
        Some(Receipt {
            node_key: self.node_key,
            expiry_ms,
            signature: self.signature,
            leaf_index: u32::try_from(index).ok()?,
            tree_size: self.size,
            path: tree.path(index)?,
        })
    }
}
