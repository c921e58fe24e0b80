//! The one write-quorum tracker: a message sent to the members of a swarm,
//! each member's receipt verified against that member's key and the
//! message's hash, counted until a quorum holds it or the deadline passes.
//!
//! Client stores use it (the entry node's own receipt counts once its store
//! is durable), and so does hand-off (only the new owners' receipts count).
//! A member that answers `stored` without a receipt that verifies is not
//! counted: a node that acknowledges without storing never causes a loss.
//! Receipts are verified only when they can decide: once the local copy is
//! durable, and only as many as the quorum still needs (the others, and
//! answers after the decision, are never checked). So the signature checks
//! wait until after the entry node's own commit, the one a reader parked
//! here waits for, and a store to n members checks about half of their
//! receipts instead of all.
//! Not here: sending anything (the core emits the requests) or timers.

use std::collections::{HashMap, VecDeque};
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
    /// Members' receipts not checked yet (member index, receipt naming
    /// that member), in the order they arrived.
    unchecked: VecDeque<(usize, Receipt)>,
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
                unchecked: VecDeque::new(),
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
    /// must be decided by `deadline_ms`. Returns the decision if this made
    /// it, and how many members' receipts failed their check.
    pub fn local_stored(
        &mut self,
        id: WriteId,
        own: Receipt,
        already_stored: bool,
        deadline_ms: u64,
    ) -> (Option<Decision>, usize) {
        let Some(w) = self.writes.get_mut(&id) else {
            return (None, 0);
        };
        w.receipts.insert(0, own);
        w.local_done = true;
        w.already_stored = already_stored;
        w.deadline_ms = Some(deadline_ms);
        let failed = Self::check_needed(&*self.signatures, w);
        (Self::decide(w), failed)
    }

    /// Member `member` (an index into the write's members) answered the
    /// peer request `op`. Its receipt is checked when it can decide (see
    /// the module doc). Returns the decision if this answer made it, and how
    /// many answers failed: this one when it carries no receipt of the
    /// member's for this message, and any receipt whose check failed now.
    pub fn member_answered(
        &mut self,
        id: WriteId,
        op: OpId,
        member: usize,
        answer: Option<&Response>,
    ) -> (Option<Decision>, usize) {
        let Some(w) = self.writes.get_mut(&id) else {
            return (None, 1);
        };
        w.outstanding.retain(|o| *o != op);
        let receipt = match (w.members.get(member), answer) {
            (Some(m), Some(resp)) => claimed_receipt(m, &w.hash, resp),
            _ => None,
        };
        let mut failed = usize::from(receipt.is_none());
        if let Some(r) = receipt
            && !w.decided
            && !w.receipts.iter().any(|x| x.node_key == r.node_key)
            && !w.unchecked.iter().any(|(_, x)| x.node_key == r.node_key)
        {
            w.unchecked.push_back((member, r));
        }
        failed += Self::check_needed(&*self.signatures, w);
        (Self::decide(w), failed)
    }

    /// Checks unchecked receipts, oldest first, while the write is open,
    /// its local copy durable and the quorum still short. Returns how many
    /// failed. (So an open write past its local copy never holds unchecked
    /// receipts while it is short: its deadline counts checked copies.)
    fn check_needed(signatures: &dyn Signatures, w: &mut Write) -> usize {
        let mut failed = 0;
        while !w.decided && w.local_done && w.receipts.len() < w.need {
            let Some((member, r)) = w.unchecked.pop_front() else {
                break;
            };
            match w.members.get(member) {
                Some(m) if receipt_verifies(signatures, &m.id.0, &w.hash, &r) => {
                    w.receipts.push(r);
                }
                _ => failed += 1,
            }
        }
        failed
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

/// The receipt `member`'s answer claims for this message: a `stored`
/// answer for its hash carrying a receipt that names the member (not
/// checked: see [`receipt_verifies`]).
pub(crate) fn claimed_receipt(
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
        .find(|r| r.node_key.as_bytes() == member.id.0.as_bytes())
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

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use std::sync::atomic::{AtomicUsize, Ordering};

    use nightjar_crypto::identity::{Identity, Seed};
    use nightjar_registry::NodeId;
    use nightjar_types::NodeKey;

    /// Accepts a signature whose first byte is 1; counts the checks.
    #[derive(Debug, Default)]
    struct Counting(AtomicUsize);

    impl Signatures for Counting {
        fn sign(&self, _: &Identity, _: &str, _: &[u8]) -> [u8; 64] {
            [1; 64]
        }
        fn verify(&self, _: &PublicKey, _: &str, _: &[u8], signature: &[u8; 64]) -> bool {
            self.0.fetch_add(1, Ordering::Relaxed);
            signature[0] == 1
        }
    }

    fn member(i: u8) -> NodeEntry {
        let id = Identity::from_seed(Seed::from_bytes([i; 32]));
        NodeEntry {
            id: NodeId(id.public_key()),
            addr: std::net::SocketAddr::from(([127, 0, 0, 1], 1000 + u16::from(i))),
        }
    }

    fn receipt(m: &NodeEntry, good: bool) -> Receipt {
        Receipt {
            node_key: NodeKey::new(m.id.0.to_bytes()),
            expiry_ms: 9,
            signature: [u8::from(good); 64],
            leaf_index: 0,
            tree_size: 1,
            path: Vec::new(),
        }
    }

    fn stored(hash: MessageHash, r: Receipt) -> Response {
        Response {
            node_time_ms: 1,
            body: ResponseBody::Stored {
                hash,
                expiry_ms: 9,
                already_stored: false,
                receipts: vec![r],
            },
        }
    }

    /// A hand-off write of `hash` to members 1..=`n` needing `need` copies,
    /// a request outstanding to each; with the counter of receipt checks.
    fn open_write(
        n: u8,
        need: usize,
        hash: MessageHash,
    ) -> (Arc<Counting>, Quorums, WriteId, Vec<NodeEntry>) {
        let counting = Arc::new(Counting::default());
        let mut q = Quorums::new(counting.clone());
        let members: Vec<NodeEntry> = (1..=n).map(member).collect();
        let w = q.start(hash, 9, members.clone(), need, Purpose::HandOff, None);
        q.get_mut(w).unwrap().outstanding = (0..u64::from(n)).map(OpId).collect();
        (counting, q, w, members)
    }

    #[test]
    fn receipts_are_checked_once_the_local_copy_is_durable_and_only_as_many_as_the_quorum_needs() {
        let hash = MessageHash::new([5; 32]);
        // Ten copies, six needed: the local one and five members'.
        let (counting, mut q, w, members) = open_write(9, 6, hash);
        // The second member's receipt does not verify.
        for (i, m) in members.iter().enumerate() {
            let (decision, failed) = q.member_answered(
                w,
                OpId(i as u64),
                i,
                Some(&stored(hash, receipt(m, i != 1))),
            );
            assert!(
                decision.is_none() && failed == 0,
                "nothing is checked before the local copy"
            );
        }
        assert_eq!(counting.0.load(Ordering::Relaxed), 0);
        let own = receipt(&member(0), true);
        let (decision, failed) = q.local_stored(w, own, false, 100);
        let Some(Decision::Reached { receipts, .. }) = decision else {
            panic!("the quorum is reached: {decision:?}");
        };
        assert_eq!(receipts.len(), 6);
        assert_eq!(
            failed, 1,
            "the bad receipt was found and replaced by the next"
        );
        assert_eq!(
            counting.0.load(Ordering::Relaxed),
            6,
            "six checks, not nine"
        );
    }

    #[test]
    fn an_answer_after_the_decision_is_not_checked_and_an_answer_without_a_receipt_fails() {
        let hash = MessageHash::new([6; 32]);
        let (counting, mut q, w, members) = open_write(4, 2, hash);
        let (d, _) = q.local_stored(w, receipt(&member(0), true), false, 100);
        assert!(d.is_none());
        let (d, failed) = q.member_answered(
            w,
            OpId(0),
            0,
            Some(&stored(hash, receipt(&members[0], true))),
        );
        assert!(matches!(d, Some(Decision::Reached { .. })) && failed == 0);
        assert_eq!(counting.0.load(Ordering::Relaxed), 1);
        let (d, failed) = q.member_answered(
            w,
            OpId(1),
            1,
            Some(&stored(hash, receipt(&members[1], false))),
        );
        assert!(d.is_none() && failed == 0, "decided: not checked");
        assert_eq!(counting.0.load(Ordering::Relaxed), 1);
        let other = MessageHash::new([7; 32]);
        let (_, failed) = q.member_answered(
            w,
            OpId(2),
            2,
            Some(&stored(other, receipt(&members[2], true))),
        );
        assert_eq!(failed, 1, "a receipt for another message is no receipt");
    }
}
