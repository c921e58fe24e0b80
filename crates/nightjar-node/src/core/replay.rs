//! Replay protection for signed requests: each signature is accepted once
//! while its timestamp is inside the clock window, in bounded memory.

use std::collections::{HashMap, VecDeque};

use nightjar_wire::CLOCK_WINDOW_MS;

/// Most signed requests remembered for replay protection; beyond this the node
/// refuses signed requests (as `Unavailable`) rather than forget one early.
pub const MAX_REPLAY_ENTRIES: usize = 2_000_000;

/// Remembers signatures of accepted signed requests for as long as their
/// timestamps are inside the clock window, so each can be used only once.
#[derive(Debug, Default)]
pub(crate) struct ReplayCache {
    seen: HashMap<[u8; 64], u64>,
    order: VecDeque<(u64, [u8; 64])>,
}

impl ReplayCache {
    pub(crate) fn prune(&mut self, now_ms: u64) {
        while let Some((forget_at, sig)) = self.order.front().copied() {
            if forget_at > now_ms {
                break;
            }
            self.order.pop_front();
            if self.seen.get(&sig) == Some(&forget_at) {
                self.seen.remove(&sig);
            }
        }
    }

    /// Record a signature whose timestamp is `timestamp_ms`; false if it was
    /// already recorded. Call [`ReplayCache::prune`] first.
    pub(crate) fn insert(&mut self, timestamp_ms: u64, sig: [u8; 64]) -> Result<bool, ()> {
        if self.seen.contains_key(&sig) {
            return Ok(false);
        }
        if self.seen.len() >= MAX_REPLAY_ENTRIES {
            return Err(());
        }
        // The request stays acceptable until its timestamp leaves the window.
        let forget_at = timestamp_ms
            .saturating_add(CLOCK_WINDOW_MS)
            .saturating_add(1);
        self.seen.insert(sig, forget_at);
        // Keep `order` sorted by forget_at: timestamps arrive nearly in order,
        // so walk back from the end (usually zero steps).
        let pos = self
            .order
            .iter()
            .rposition(|(t, _)| *t <= forget_at)
            .map_or(0, |p| p + 1);
        self.order.insert(pos, (forget_at, sig));
        Ok(true)
    }

    pub(crate) fn len(&self) -> usize {
        self.seen.len()
    }
}
