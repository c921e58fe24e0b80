//! The one write-quorum tracker: a message sent to the members of a swarm,
//! each member's receipt verified against that member's key and the
//! message's hash, counted until a quorum holds it or the deadline passes.
//!
//! Client stores use it (the entry node's own receipt counts once its store
//! is durable), and so does hand-off (only the new owners' receipts count).
//! A member that answers `stored` without a receipt that verifies is not
//! counted: a node that acknowledges without storing never causes a loss.
//! Not here: sending anything (the core emits the requests) or timers.

use std::collections::HashMap;
use std::sync::Arc;

use nightjar_crypto::identity::PublicKey;
use nightjar_crypto::receipt_tree::{leaf_hash, root_from_path};
use nightjar_registry::NodeEntry;
use nightjar_types::MessageHash;
use nightjar_wire::{LABEL_RECEIPT_BATCH, Receipt, Response, ResponseBody};

use super::effect::{OpId, RequestId};
use super::signatures::Signatures;

/// Who waits for a write's quorum.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Purpose {
    /// A store or replicate request: answer it.
    Request(RequestId),
    /// A hand-off of one message: tell the hand-off.
    HandOff,
}

/// How a write ended, decided once.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Decision {
    /// `receipts` (a quorum of them) hold the message.
    Reached {
        /// The verified receipts, the entry node's first.
        receipts: Vec<Receipt>,
        /// The entry node already held the message.
        already_stored: bool,
    },
    /// The deadline passed with `count` of `need` copies.
    NotReached {
        /// Verified copies.
        count: usize,
        /// Copies needed.
        need: usize,
    },
}

/// One write in flight.
#[derive(Debug)]
pub(crate) struct Write {
    /// The message's hash (receipts sign it).
    pub hash: MessageHash,
    /// The message's expiry (receipts sign it).
    pub expiry_ms: u64,
    /// Who waits for the decision.
    pub purpose: Purpose,
    members: Vec<NodeEntry>,
    receipts: Vec<Receipt>,
    need: usize,
    /// The local copy is durable (or not needed: hand-off).
    local_done: bool,
    already_stored: bool,
    /// Peer requests not answered yet.
    pub outstanding: Vec<OpId>,
    decided: bool,
    /// When the decision is forced (set once the local copy is durable).
    pub deadline_ms: Option<u64>,
}

impl Write {
    /// Whether the decision was made and no peer answer is still expected.
    pub fn is_over(&self) -> bool {
        self.decided && self.outstanding.is_empty()
    }
}

/// Id of a write in [`Quorums`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub(crate) struct WriteId(pub u64);

/// Every write in flight.
#[derive(Debug)]
pub(crate) struct Quorums {
    writes: HashMap<WriteId, Write>,
    next: u64,
    /// Checks members' receipts.
    signatures: Arc<dyn Signatures>,
}

impl Quorums {
    /// No writes yet; receipts are checked with `signatures`.
    pub fn new(signatures: Arc<dyn Signatures>) -> Quorums {
        Quorums {
            writes: HashMap::new(),
            next: 0,
            signatures,
        }
    }

    /// Track a write to `members` needing `need` verified copies. With
    /// `local_done` (hand-off) no local copy is awaited and the deadline
    /// starts now.
    pub fn start(
        &mut self,
        hash: MessageHash,
        expiry_ms: u64,
        members: Vec<NodeEntry>,
        need: usize,
        purpose: Purpose,
        local_done_deadline: Option<u64>,
    ) -> WriteId {
        let id = WriteId(self.next);
        self.next = self.next.wrapping_add(1);
        self.writes.insert(
            id,
            Write {
                hash,
                expiry_ms,
                purpose,
                members,
                receipts: Vec::new(),
                need,
                local_done: local_done_deadline.is_some(),
                already_stored: false,
                outstanding: Vec::new(),
                decided: false,
                deadline_ms: local_done_deadline,
            },
        );
        id
    }

    /// The write `id`, if it is still tracked.
    pub fn get_mut(&mut self, id: WriteId) -> Option<&mut Write> {
        self.writes.get_mut(&id)
    }

    /// Forget a write (its remaining peer requests are returned to cancel).
    pub fn remove(&mut self, id: WriteId) -> Vec<OpId> {
        self.writes
            .remove(&id)
            .map(|w| w.outstanding)
            .unwrap_or_default()
    }

    /// How many writes are tracked.
    pub fn len(&self) -> usize {
        self.writes.len()
    }

    /// The local copy is durable: `own` is this node's receipt. The write
    /// must be decided by `deadline_ms`.
    pub fn local_stored(
        &mut self,
        id: WriteId,
        own: Receipt,
        already_stored: bool,
        deadline_ms: u64,
    ) -> Option<Decision> {
        let w = self.writes.get_mut(&id)?;
        w.receipts.insert(0, own);
        w.local_done = true;
        w.already_stored = already_stored;
        w.deadline_ms = Some(deadline_ms);
        Self::decide(w)
    }

    /// Member `member` (an index into the write's members) answered the
    /// peer request `op`; counts its receipt if it verifies. Returns the
    /// decision if this answer made it, and whether the answer was counted.
    pub fn member_answered(
        &mut self,
        id: WriteId,
        op: OpId,
        member: usize,
        answer: Option<&Response>,
    ) -> (Option<Decision>, bool) {
        let Some(w) = self.writes.get_mut(&id) else {
            return (None, false);
        };
        w.outstanding.retain(|o| *o != op);
        let receipt = match (w.members.get(member), answer) {
            (Some(m), Some(resp)) => verified_receipt(&*self.signatures, m, &w.hash, resp),
            _ => None,
        };
        let counted = receipt.is_some();
        if let Some(r) = receipt
            && !w.receipts.iter().any(|x| x.node_key == r.node_key)
        {
            w.receipts.push(r);
        }
        (Self::decide(w), counted)
    }

    /// The deadline of `id` passed: decide it now if it is still open.
    pub fn expire(&mut self, id: WriteId, now_ms: u64) -> Option<Decision> {
        let w = self.writes.get_mut(&id)?;
        if w.decided || w.deadline_ms.is_none_or(|d| d > now_ms) {
            return None;
        }
        w.decided = true;
        Some(Decision::NotReached {
            count: w.receipts.len(),
            need: w.need,
        })
    }

    /// Mark `id` decided without an answer (its local store failed).
    pub fn abandon(&mut self, id: WriteId) {
        if let Some(w) = self.writes.get_mut(&id) {
            w.decided = true;
        }
    }

    fn decide(w: &mut Write) -> Option<Decision> {
        if w.decided || !w.local_done {
            return None;
        }
        if w.receipts.len() >= w.need {
            w.decided = true;
            return Some(Decision::Reached {
                receipts: w.receipts.clone(),
                already_stored: w.already_stored,
            });
        }
        if w.outstanding.is_empty() {
            // Nobody left to answer: no need to wait for the deadline.
            w.decided = true;
            return Some(Decision::NotReached {
                count: w.receipts.len(),
                need: w.need,
            });
        }
        None
    }
}

/// A receipt from `member` for this message, if its answer carries one that
/// names the member, the message's hash and a signature by the member's key.
pub(crate) fn verified_receipt(
    signatures: &dyn Signatures,
    member: &NodeEntry,
    hash: &MessageHash,
    resp: &Response,
) -> Option<Receipt> {
    let ResponseBody::Stored {
        hash: stored,
        receipts,
        ..
    } = &resp.body
    else {
        return None;
    };
    if stored != hash {
        return None;
    }
    receipts
        .iter()
        .find(|r| {
            r.node_key.as_bytes() == member.id.0.as_bytes()
                && receipt_verifies(signatures, &member.id.0, hash, r)
        })
        .cloned()
}

/// Whether `receipt` is `key`'s receipt for the message `hash`: its leaf
/// `(hash, receipt.expiry_ms)` with its inclusion path leads to a root
/// whose signature by `key` (with the tree's size) verifies
/// (docs/PROTOCOL.md §5.4). Does not look at `receipt.node_key`.
pub fn receipt_verifies(
    signatures: &dyn Signatures,
    key: &PublicKey,
    hash: &MessageHash,
    receipt: &Receipt,
) -> bool {
    let leaf = leaf_hash(hash.as_bytes(), receipt.expiry_ms);
    let Some(root) = root_from_path(
        &leaf,
        u64::from(receipt.leaf_index),
        u64::from(receipt.tree_size),
        &receipt.path,
    ) else {
        return false;
    };
    signatures.verify(
        key,
        LABEL_RECEIPT_BATCH,
        &nightjar_wire::receipt_batch_signed_data(&root, receipt.tree_size),
        &receipt.signature,
    )
}
