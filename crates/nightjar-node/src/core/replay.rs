//! Replay protection for signed requests: each signature is accepted once
//! while its timestamp is inside the clock window, in bounded memory.
//!
//! Inserts and pruning are logarithmic in the number of signatures held,
//! wherever in the window a request's timestamp lies: a flood of requests
//! signed at the window's old edge costs no more per request than requests
//! signed now.

use std::cmp::Ordering;
use std::collections::{BTreeSet, HashMap};

use nightjar_wire::CLOCK_WINDOW_MS;

/// Most signed requests remembered for replay protection; beyond this the node
/// refuses signed requests (as `Unavailable`) rather than forget one early.
pub const MAX_REPLAY_ENTRIES: usize = 2_000_000;

/// When a signature may be forgotten: ordered by time, then signature.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Expiry {
    forget_at: u64,
    sig: [u8; 64],
}

impl Ord for Expiry {
    fn cmp(&self, other: &Expiry) -> Ordering {
        #[cfg(test)]
        tests::count_comparison();
        self.forget_at
            .cmp(&other.forget_at)
            .then_with(|| self.sig.cmp(&other.sig))
    }
}

impl PartialOrd for Expiry {
    fn partial_cmp(&self, other: &Expiry) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}

/// Remembers signatures of accepted signed requests for as long as their
/// timestamps are inside the clock window, so each can be used only once.
#[derive(Debug, Default)]
pub(crate) struct ReplayCache {
    /// Each signature held, with when it may be forgotten.
    seen: HashMap<[u8; 64], u64>,
    /// The same, in the order they may be forgotten.
    order: BTreeSet<Expiry>,
}

impl ReplayCache {
    /// Forget the signatures whose timestamps left the window by `now_ms`.
    pub(crate) fn prune(&mut self, now_ms: u64) {
        while let Some(first) = self.order.first().copied() {
            if first.forget_at > now_ms {
                break;
            }
            self.order.pop_first();
            self.seen.remove(&first.sig);
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
        self.order.insert(Expiry { forget_at, sig });
        Ok(true)
    }

    pub(crate) fn len(&self) -> usize {
        self.seen.len()
    }
}

#[cfg(test)]
mod tests {
    use std::cell::Cell;

    use super::*;

    thread_local! {
        /// Comparisons of cache entries made by this thread.
        static COMPARISONS: Cell<u64> = const { Cell::new(0) };
    }

    pub(super) fn count_comparison() {
        COMPARISONS.with(|c| c.set(c.get() + 1));
    }

    fn comparisons() -> u64 {
        COMPARISONS.with(Cell::get)
    }

    fn sig(n: u64) -> [u8; 64] {
        let mut s = [0u8; 64];
        s[..8].copy_from_slice(&n.to_be_bytes());
        s
    }

    const NOW: u64 = 1_800_000_000_000;

    #[test]
    fn a_signature_is_accepted_once_until_its_timestamp_leaves_the_window() {
        let mut c = ReplayCache::default();
        assert_eq!(c.insert(NOW, sig(1)), Ok(true));
        assert_eq!(c.insert(NOW, sig(1)), Ok(false));
        assert_eq!(c.insert(NOW - 10, sig(2)), Ok(true));
        c.prune(NOW + CLOCK_WINDOW_MS - 10);
        assert_eq!(c.insert(NOW - 10, sig(2)), Ok(false), "still in the window");
        c.prune(NOW + CLOCK_WINDOW_MS - 9);
        assert_eq!(c.len(), 1, "the older one is forgotten");
        assert_eq!(c.insert(NOW, sig(1)), Ok(false));
        c.prune(NOW + CLOCK_WINDOW_MS + 1);
        assert_eq!(c.len(), 0);
    }

    #[test]
    fn requests_signed_at_the_windows_old_edge_cost_logarithmic_work() {
        // The cache holds many requests signed at the window's new edge;
        // then a flood of fresh ones signed at its old edge arrives. Each
        // must cost a few dozen comparisons, not a walk past everything the
        // cache holds (which took ~50,000 per request before).
        const HELD: u64 = 50_000;
        const FLOOD: u64 = 2_000;
        let mut c = ReplayCache::default();
        for n in 0..HELD {
            assert_eq!(c.insert(NOW + CLOCK_WINDOW_MS, sig(n)), Ok(true));
        }
        let before = comparisons();
        for n in 0..FLOOD {
            c.prune(NOW);
            assert_eq!(c.insert(NOW - CLOCK_WINDOW_MS, sig(HELD + n)), Ok(true));
        }
        let per_request = (comparisons() - before) / FLOOD;
        assert!(
            per_request <= 200,
            "{per_request} comparisons per request at the old edge"
        );
        // Pruning them is as cheap, and leaves the others.
        let before = comparisons();
        c.prune(NOW + 1);
        assert_eq!(c.len() as u64, HELD);
        assert!((comparisons() - before) / FLOOD <= 200);
        assert_eq!(c.insert(NOW + CLOCK_WINDOW_MS, sig(0)), Ok(false));
    }
}
