//! Claims (`docs/PROTOCOL.md` §5.13): handing a record of a claimable
//! namespace (a one-time prekey) to one claimant, once, by a vote of the
//! account's swarm.
//!
//! The entry node of a client's claim asks every member, itself included,
//! to record the claim. Each member records `(account, namespace, hash) →
//! claimant` durably unless another claimant's is recorded (then it votes
//! no); a member that holds the record sends its copy with its yes. With
//! `need` yes votes (at least a majority: two majorities share a member, so
//! two claimants never both win) and one copy whose hash is the record's,
//! the entry node answers `claimed` with the copy. If so many members voted
//! no that `need` yes votes cannot come, or the yes votes came without a
//! copy, it answers `already_claimed`; if members failed to answer and the
//! rest does not decide it, `quorum_not_reached` (the same claimant may
//! retry: its votes stand).
//!
//! [`Claims`] is the tally, a pure function of the votes and the clock; the
//! engine sends the votes (through the per-peer bounds, like replicas),
//! runs the local vote on the store and answers a member's vote (a claim
//! from a registered node). Not here: storing claims (the store), the
//! order of checks (the request logic).

use std::collections::HashMap;

use nightjar_crypto::hash::message_hash;
use nightjar_crypto::identity::PublicKey;
use nightjar_store::{ClaimOutcome, NewClaim, StoreCommand, StoreError, StoreReply};
use nightjar_types::{Claimant, MessageKey};
use nightjar_wire::{ClaimRequest, ErrorCode, Request, Response, ResponseBody};

use super::{CoreEvent, NodeCore, Op, OpId, PeerFailure, RequestId, Timer};
use crate::core;

/// Id of a claim being decided, in [`Claims`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub(crate) struct ClaimId(pub u64);

/// One member's vote, as the entry node counts it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Vote {
    /// The claim is recorded for this claimant there; with the member's
    /// copy of the record if it holds one (already checked against the
    /// record's hash).
    Yes(Option<Vec<u8>>),
    /// Another claimant's claim is recorded there.
    No,
    /// No usable answer (unreachable, timed out, overloaded, an error, or
    /// a copy that is not the record).
    Failed,
}

/// How a claim ended, decided once.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum ClaimDecision {
    /// Enough yes votes and a copy: the record.
    Claimed(Vec<u8>),
    /// Another claimant holds the votes, or the yes votes came without a
    /// copy of the record.
    AlreadyClaimed(&'static str),
    /// Too few members answered to decide.
    NotReached {
        /// Yes votes.
        yes: usize,
        /// Yes votes needed.
        need: usize,
    },
}

impl ClaimDecision {
    /// The answer to the client.
    pub(crate) fn response(self, now_ms: u64) -> Response {
        match self {
            ClaimDecision::Claimed(data) => Response {
                node_time_ms: now_ms,
                body: ResponseBody::Claimed { data },
            },
            ClaimDecision::AlreadyClaimed(why) => {
                Response::error(now_ms, ErrorCode::AlreadyClaimed, why)
            }
            ClaimDecision::NotReached { yes, need } => Response::error(
                now_ms,
                ErrorCode::QuorumNotReached,
                format!("{yes} of {need} swarm members granted the claim; retry"),
            ),
        }
    }
}

/// One claim being decided.
#[derive(Debug)]
pub(crate) struct Claim {
    /// The client's request, answered with the decision.
    pub id: RequestId,
    /// The record.
    pub record: MessageKey,
    /// The account's key, to hash members' copies.
    pub key: PublicKey,
    /// Voters: the swarm's members, this node included.
    voters: usize,
    need: usize,
    yes: usize,
    no: usize,
    failed: usize,
    /// A copy of the record (its hash checked).
    data: Option<Vec<u8>>,
    /// Votes not in yet: the members' requests and the local store command.
    pub outstanding: Vec<OpId>,
    decided: bool,
}

impl Claim {
    /// Whether the decision was made and no vote is still expected.
    pub fn is_over(&self) -> bool {
        self.decided && self.outstanding.is_empty()
    }

    /// The decision, if the votes so far make it (`final_`: no more votes
    /// will be counted).
    fn decide(&mut self, final_: bool) -> Option<ClaimDecision> {
        if self.decided {
            return None;
        }
        let pending = if final_ {
            0
        } else {
            self.voters.saturating_sub(self.yes + self.no + self.failed)
        };
        let decision = if self.yes >= self.need {
            match &self.data {
                Some(data) => ClaimDecision::Claimed(data.clone()),
                // Wait for the other votes: one of them may bring a copy.
                None if pending > 0 => return None,
                None => ClaimDecision::AlreadyClaimed(
                    "the members that granted the claim hold no copy of the record",
                ),
            }
        } else if self.yes + pending >= self.need {
            return None;
        } else if self.no > self.voters.saturating_sub(self.need) {
            ClaimDecision::AlreadyClaimed("another claimant holds this record")
        } else {
            ClaimDecision::NotReached {
                yes: self.yes,
                need: self.need,
            }
        };
        self.decided = true;
        Some(decision)
    }
}

/// Every claim this node is deciding.
#[derive(Debug, Default)]
pub(crate) struct Claims {
    claims: HashMap<ClaimId, Claim>,
    next: u64,
}

impl Claims {
    /// Start deciding a claim of `record` among `voters` members (this node
    /// included) that needs `need` yes votes.
    pub fn start(
        &mut self,
        id: RequestId,
        record: MessageKey,
        key: PublicKey,
        voters: usize,
        need: usize,
    ) -> ClaimId {
        let claim = ClaimId(self.next);
        self.next = self.next.wrapping_add(1);
        self.claims.insert(
            claim,
            Claim {
                id,
                record,
                key,
                voters,
                need,
                yes: 0,
                no: 0,
                failed: 0,
                data: None,
                outstanding: Vec::new(),
                decided: false,
            },
        );
        claim
    }

    /// The claim `id`, if it is still tracked.
    pub fn get_mut(&mut self, id: ClaimId) -> Option<&mut Claim> {
        self.claims.get_mut(&id)
    }

    /// How many claims are tracked.
    pub fn len(&self) -> usize {
        self.claims.len()
    }

    /// The vote that op `op` brought; the decision if it made one.
    pub fn vote(&mut self, id: ClaimId, op: OpId, vote: Vote) -> Option<ClaimDecision> {
        let claim = self.claims.get_mut(&id)?;
        if !claim.outstanding.contains(&op) {
            return None;
        }
        claim.outstanding.retain(|o| *o != op);
        match vote {
            Vote::Yes(data) => {
                claim.yes += 1;
                if claim.data.is_none() {
                    claim.data = data;
                }
            }
            Vote::No => claim.no += 1,
            Vote::Failed => claim.failed += 1,
        }
        claim.decide(false)
    }

    /// The claim's deadline passed: decide it now if it is still open.
    pub fn expire(&mut self, id: ClaimId) -> Option<ClaimDecision> {
        self.claims.get_mut(&id)?.decide(true)
    }

    /// Forget `id` once it is decided and every vote is in.
    pub fn forget_if_over(&mut self, id: ClaimId) {
        if self.claims.get(&id).is_some_and(Claim::is_over) {
            self.claims.remove(&id);
        }
    }
}

/// A member's answer to a claim, as a vote: `claimed` is yes (with its copy
/// if the copy's hash is the record's; a copy that is not the record makes
/// the vote count as failed), `already_claimed` is no, anything else failed.
pub(crate) fn vote_of(
    record: &MessageKey,
    key: &PublicKey,
    answer: Result<Response, PeerFailure>,
) -> Vote {
    match answer.map(|r| r.body) {
        Ok(ResponseBody::Claimed { data }) if data.is_empty() => Vote::Yes(None),
        Ok(ResponseBody::Claimed { data }) => {
            let hash = message_hash(key, record.namespace, &data);
            if nightjar_crypto::hash::ct_eq(&hash, record.hash.as_bytes()) {
                Vote::Yes(Some(data))
            } else {
                Vote::Failed
            }
        }
        Ok(ResponseBody::Error {
            code: ErrorCode::AlreadyClaimed,
            ..
        }) => Vote::No,
        _ => Vote::Failed,
    }
}

/// This node's own vote, from its store's answer (its copy is trusted: the
/// store keeps records under the hash computed when they were stored).
fn local_vote(reply: StoreReply) -> Vote {
    match reply {
        StoreReply::Claimed(Ok(ClaimOutcome::Granted { data })) => Vote::Yes(data),
        StoreReply::Claimed(Ok(ClaimOutcome::Refused)) => Vote::No,
        _ => Vote::Failed,
    }
}

impl NodeCore {
    /// The store command that records `claimant`'s claim of `record` now.
    fn claim_command(&self, now_ms: u64, record: MessageKey, claimant: Claimant) -> StoreCommand {
        StoreCommand::Claim(NewClaim {
            key: record,
            claimant,
            now_ms,
            ttl_ms: self.config.claim_ttl_ms,
        })
    }

    /// A client's claim, this node its entry node: vote here, ask the
    /// other members, decide when the votes (or the deadline) allow.
    #[allow(clippy::too_many_arguments)]
    pub(super) fn start_claim(
        &mut self,
        now_ms: u64,
        id: RequestId,
        record: MessageKey,
        key: PublicKey,
        claimant: Claimant,
        members: Vec<nightjar_registry::NodeEntry>,
        need: usize,
    ) {
        let claim = self.claims.start(id, record, key, members.len() + 1, need);
        // The client's claim, as every member gets it (from a node: a vote).
        let request = Request::Claim(ClaimRequest {
            account: record.account,
            namespace: record.namespace,
            hash: record.hash,
            claimant,
        });
        for to in members {
            let op = self.send_bounded(
                Op::ClaimVote(claim),
                to,
                request.clone(),
                self.config.quorum_timeout_ms,
            );
            if let Some(c) = self.claims.get_mut(claim) {
                c.outstanding.push(op);
            }
        }
        let command = self.claim_command(now_ms, record, claimant);
        let op = self.store(Op::LocalClaim(claim), command);
        if let Some(c) = self.claims.get_mut(claim) {
            c.outstanding.push(op);
        }
        let deadline = now_ms.saturating_add(self.config.quorum_timeout_ms);
        self.timers.insert((deadline, Timer::ClaimDeadline(claim)));
    }

    /// A member's vote on a claim another member decides: record it here.
    pub(super) fn claim_vote(
        &mut self,
        now_ms: u64,
        id: RequestId,
        record: MessageKey,
        claimant: Claimant,
    ) {
        let command = self.claim_command(now_ms, record, claimant);
        self.store(Op::AnswerVote(id), command);
    }

    /// The store recorded (or refused) this node's vote for request `id`.
    pub(super) fn vote_recorded(&mut self, now_ms: u64, id: RequestId, reply: StoreReply) {
        let response = match reply {
            StoreReply::Claimed(Ok(ClaimOutcome::Granted { data })) => Response {
                node_time_ms: now_ms,
                body: ResponseBody::Claimed {
                    data: data.unwrap_or_default(),
                },
            },
            StoreReply::Claimed(Ok(ClaimOutcome::Refused)) => Response::error(
                now_ms,
                ErrorCode::AlreadyClaimed,
                "another claimant holds this record",
            ),
            StoreReply::Claimed(Err(e)) => self.claim_store_failed(now_ms, &e),
            _ => self.claim_store_failed(now_ms, &StoreError::WriterGone),
        };
        self.reply(now_ms, id, response);
    }

    fn claim_store_failed(&mut self, now_ms: u64, e: &StoreError) -> Response {
        if !matches!(e, StoreError::QuotaExceeded { .. }) {
            self.event(CoreEvent::StoreFailed { what: "claim" });
        }
        core::store_error_response(now_ms, e)
    }

    /// This node's own vote on claim `claim` is in.
    pub(super) fn local_claim_done(
        &mut self,
        now_ms: u64,
        claim: ClaimId,
        op: OpId,
        reply: StoreReply,
    ) {
        if let StoreReply::Claimed(Err(e)) = &reply {
            self.claim_store_failed(now_ms, e);
        }
        let decision = self.claims.vote(claim, op, local_vote(reply));
        self.claim_decided(now_ms, claim, decision);
    }

    /// A member answered claim `claim`'s request `op`.
    pub(super) fn member_voted(
        &mut self,
        now_ms: u64,
        claim: ClaimId,
        op: OpId,
        answer: Result<Response, PeerFailure>,
    ) {
        let Some(c) = self.claims.get_mut(claim) else {
            return;
        };
        let vote = vote_of(&c.record, &c.key, answer);
        if vote == Vote::Failed {
            self.event(CoreEvent::PeerFailed { what: "claim" });
        }
        let decision = self.claims.vote(claim, op, vote);
        self.claim_decided(now_ms, claim, decision);
    }

    /// The deadline of `claim` passed.
    pub(super) fn claim_deadline(&mut self, now_ms: u64, claim: ClaimId) {
        let decision = self.claims.expire(claim);
        self.claim_decided(now_ms, claim, decision);
    }

    /// Answer the client if `decision` is made; forget the claim once over.
    fn claim_decided(&mut self, now_ms: u64, claim: ClaimId, decision: Option<ClaimDecision>) {
        if let Some(decision) = decision
            && let Some(c) = self.claims.get_mut(claim)
        {
            let id = c.id;
            self.reply(now_ms, id, decision.response(now_ms));
        }
        self.claims.forget_if_over(claim);
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;
    use nightjar_crypto::identity::Identity;
    use nightjar_types::{AccountKey, MessageHash};

    fn setup(voters: usize, need: usize) -> (Claims, ClaimId, Vec<OpId>) {
        let id = Identity::generate().unwrap();
        let record = MessageKey {
            account: AccountKey::new(id.public_key().to_bytes()),
            namespace: 0xff80,
            hash: MessageHash::new([1; 32]),
        };
        let mut claims = Claims::default();
        let claim = claims.start(RequestId(1), record, id.public_key(), voters, need);
        let ops: Vec<OpId> = (0..voters as u64).map(OpId).collect();
        claims.get_mut(claim).unwrap().outstanding = ops.clone();
        (claims, claim, ops)
    }

    #[test]
    fn a_majority_of_yes_votes_with_a_copy_claims_the_record() {
        let (mut claims, c, ops) = setup(5, 3);
        assert_eq!(claims.vote(c, ops[0], Vote::Yes(None)), None);
        assert_eq!(claims.vote(c, ops[1], Vote::No), None);
        assert_eq!(claims.vote(c, ops[2], Vote::Yes(Some(vec![7]))), None);
        assert_eq!(
            claims.vote(c, ops[3], Vote::Yes(None)),
            Some(ClaimDecision::Claimed(vec![7]))
        );
        // Later votes only clean up; the claim is forgotten once all are in.
        assert_eq!(claims.vote(c, ops[4], Vote::No), None);
        claims.forget_if_over(c);
        assert_eq!(claims.len(), 0);
    }

    #[test]
    fn no_votes_that_rule_out_a_majority_mean_already_claimed() {
        let (mut claims, c, ops) = setup(5, 3);
        assert_eq!(claims.vote(c, ops[0], Vote::No), None);
        assert_eq!(claims.vote(c, ops[1], Vote::No), None);
        assert!(matches!(
            claims.vote(c, ops[2], Vote::No),
            Some(ClaimDecision::AlreadyClaimed(_))
        ));
    }

    #[test]
    fn failures_that_rule_out_a_majority_mean_not_reached() {
        let (mut claims, c, ops) = setup(5, 3);
        claims.vote(c, ops[0], Vote::No);
        claims.vote(c, ops[1], Vote::Yes(Some(vec![1])));
        assert_eq!(claims.vote(c, ops[2], Vote::Failed), None);
        assert_eq!(
            claims.vote(c, ops[3], Vote::Failed),
            Some(ClaimDecision::NotReached { yes: 1, need: 3 })
        );
    }

    #[test]
    fn yes_votes_without_a_copy_wait_for_the_rest_then_answer_already_claimed() {
        let (mut claims, c, ops) = setup(3, 2);
        assert_eq!(claims.vote(c, ops[0], Vote::Yes(None)), None);
        assert_eq!(claims.vote(c, ops[1], Vote::Yes(None)), None, "waits");
        assert!(matches!(
            claims.vote(c, ops[2], Vote::Failed),
            Some(ClaimDecision::AlreadyClaimed(_))
        ));
        // ... and a copy in the last vote claims it.
        let (mut claims, c, ops) = setup(3, 2);
        claims.vote(c, ops[0], Vote::Yes(None));
        claims.vote(c, ops[1], Vote::Yes(None));
        assert_eq!(
            claims.vote(c, ops[2], Vote::Yes(Some(vec![3]))),
            Some(ClaimDecision::Claimed(vec![3]))
        );
    }

    #[test]
    fn the_deadline_decides_with_the_votes_in() {
        let (mut claims, c, ops) = setup(5, 3);
        claims.vote(c, ops[0], Vote::Yes(Some(vec![1])));
        claims.vote(c, ops[1], Vote::Yes(None));
        assert_eq!(
            claims.expire(c),
            Some(ClaimDecision::NotReached { yes: 2, need: 3 })
        );
        assert_eq!(claims.expire(c), None, "decided once");
        let (mut claims, c, ops) = setup(5, 3);
        for op in &ops[..3] {
            claims.vote(c, *op, Vote::Yes(None));
        }
        assert!(matches!(
            claims.expire(c),
            Some(ClaimDecision::AlreadyClaimed(_))
        ));
    }

    #[test]
    fn a_vote_counts_once_and_only_from_an_outstanding_request() {
        let (mut claims, c, ops) = setup(3, 2);
        claims.vote(c, ops[0], Vote::Yes(Some(vec![1])));
        assert_eq!(claims.vote(c, ops[0], Vote::Yes(Some(vec![1]))), None);
        assert_eq!(claims.vote(c, OpId(99), Vote::Yes(Some(vec![1]))), None);
        assert_eq!(
            claims.vote(c, ops[1], Vote::Yes(None)),
            Some(ClaimDecision::Claimed(vec![1]))
        );
    }

    #[test]
    fn a_members_copy_counts_only_if_it_is_the_record() {
        let id = Identity::generate().unwrap();
        let data = b"sig and body".to_vec();
        let record = MessageKey {
            account: AccountKey::new(id.public_key().to_bytes()),
            namespace: 0xff80,
            hash: MessageHash::new(message_hash(&id.public_key(), 0xff80, &data)),
        };
        let claimed = |data: Vec<u8>| {
            Ok(Response {
                node_time_ms: 1,
                body: ResponseBody::Claimed { data },
            })
        };
        let key = id.public_key();
        assert_eq!(
            vote_of(&record, &key, claimed(data.clone())),
            Vote::Yes(Some(data))
        );
        assert_eq!(vote_of(&record, &key, claimed(Vec::new())), Vote::Yes(None));
        assert_eq!(
            vote_of(&record, &key, claimed(b"another".to_vec())),
            Vote::Failed
        );
        assert_eq!(
            vote_of(
                &record,
                &key,
                Ok(Response::error(1, ErrorCode::AlreadyClaimed, "no"))
            ),
            Vote::No
        );
        assert_eq!(
            vote_of(
                &record,
                &key,
                Ok(Response::error(1, ErrorCode::Internal, "x"))
            ),
            Vote::Failed
        );
        assert_eq!(
            vote_of(&record, &key, Err(PeerFailure::TimedOut)),
            Vote::Failed
        );
    }
}
