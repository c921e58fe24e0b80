//! Where replicas are: the loss count and the convergence audits.
//!
//! A message is where it belongs when every running, honest member of its
//! recipient's swarm (in the newest registry) holds it; liars are left out,
//! since they hold nothing by design. It is lost when it was acknowledged
//! and no running member of that swarm holds it. The audits read the
//! nodes' stores directly; they are the simulator's view from outside, not
//! something a node could do.

use nightjar_store::MessageStore;
use nightjar_types::{AccountKey, MessageKey};
use nightjar_wire::NAMESPACE_DEFAULT;

use super::event::EvKind;
use super::node::Behaviour;
use super::{MIN_MS, World};

/// Messages acknowledged this recently are still being replicated; audits
/// skip them.
const SETTLE_MS: u64 = MIN_MS;

/// How the members of one message's swarm hold it.
struct Holding {
    /// Running, honest members expected to hold it.
    expected: u64,
    /// Of those, the ones that do not.
    missing: u64,
    /// Whether any running member holds it.
    held: bool,
}

impl World {
    /// A churn or fault event happened now: audit until it converged.
    pub(super) fn open_event(&mut self) {
        self.open_events.push(self.now);
        if !self.check_scheduled {
            self.check_scheduled = true;
            let at = self.now + self.audit_interval_ms();
            self.schedule(at, EvKind::ConvergeCheck);
        }
    }

    fn audit_interval_ms(&self) -> u64 {
        (self.opts.audit_interval_min * MIN_MS as f64).max(1000.0) as u64
    }

    fn holding(&self, msg: u32) -> Option<Holding> {
        let m = self.msgs.get(msg as usize)?;
        let key = self.accounts.get(m.to as usize)?.key;
        let swarm = self.map.swarm_for_account(&key)?;
        let members = self.map.member_slice(swarm)?;
        let account = AccountKey::new(key.to_bytes());
        let mut h = Holding {
            expected: 0,
            missing: 0,
            held: false,
        };
        for member in members {
            let Some(&i) = self.node_by_key.get(member.id.0.as_bytes()) else {
                continue;
            };
            let Some(n) = self.nodes.get(i as usize) else {
                continue;
            };
            if !n.up {
                continue;
            }
            let has = n
                .store
                .fetch(
                    &[MessageKey {
                        account,
                        namespace: NAMESPACE_DEFAULT,
                        hash: m.hash,
                    }],
                    self.now,
                )
                .is_ok_and(|v| !v.is_empty());
            h.held |= has;
            if n.behaviour != Behaviour::Liar {
                h.expected += 1;
                if !has {
                    h.missing += 1;
                }
            }
        }
        Some(h)
    }

    /// Missing replicas among (a sample of) the settled acknowledged
    /// messages.
    fn missing_replicas(&mut self, sample: usize) -> u64 {
        let settled = self.now.saturating_sub(SETTLE_MS);
        let is_settled = |w: &World, i: u32| {
            w.msgs
                .get(i as usize)
                .and_then(|m| m.acked_ms)
                .is_some_and(|t| t <= settled)
        };
        let total = self.msgs.len();
        let mut missing = 0;
        if sample == 0 || total <= sample {
            for i in 0..total as u32 {
                if is_settled(self, i) {
                    missing += self.holding(i).map_or(0, |h| h.missing);
                }
            }
        } else {
            for _ in 0..sample {
                let i = self.audit_rng.index(total) as u32;
                if is_settled(self, i) {
                    missing += self.holding(i).map_or(0, |h| h.missing);
                }
            }
        }
        missing
    }

    pub(super) fn converge_check(&mut self) {
        self.check_scheduled = false;
        self.audits += 1;
        let missing = self.missing_replicas(self.opts.audit_sample);
        if missing == 0 {
            let now = self.now;
            for at in self.open_events.drain(..) {
                self.converge_ms.push(now - at);
            }
        } else if self.now < self.end_ms {
            self.check_scheduled = true;
            let at = self.now + self.audit_interval_ms();
            self.schedule(at, EvKind::ConvergeCheck);
        }
    }

    /// Acknowledged messages no running member of their swarm holds.
    pub(super) fn acked_lost(&self) -> u64 {
        (0..self.msgs.len() as u32)
            .filter(|&i| {
                self.msgs
                    .get(i as usize)
                    .is_some_and(|m| m.acked_ms.is_some())
            })
            .filter(|&i| self.holding(i).is_none_or(|h| !h.held))
            .count() as u64
    }

    /// Missing replicas of every settled acknowledged message, now.
    pub(super) fn missing_at_end(&mut self) -> u64 {
        self.missing_replicas(0)
    }
}
