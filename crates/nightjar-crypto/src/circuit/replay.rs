//! [`ReplayWindow`]: which sequence numbers a hop has accepted, per circuit
//! and direction (`docs/PROTOCOL.md` §11.10: the 1,024 most recent).
//!
//! Not for: deciding what to do with a refused cell (dropped silently by
//! the node).

/// How many of the most recent sequence numbers a window remembers.
pub const REPLAY_WINDOW: u64 = 1024;

const WORDS: usize = (REPLAY_WINDOW / 64) as usize;

/// A sliding window over sequence numbers: a number is fresh if it is not
/// older than the [`REPLAY_WINDOW`] most recent and was not accepted before.
/// Check with [`Self::is_fresh`] before decrypting, [`Self::accept`] after
/// the AEAD succeeded, so forged cells cannot move it.
#[derive(Clone, Debug, Default)]
pub struct ReplayWindow {
    /// The highest accepted number, if any.
    top: Option<u64>,
    /// Bit `s % 1024` is set if `s` (within the window) was accepted.
    bits: [u64; WORDS],
}

impl ReplayWindow {
    /// An empty window.
    pub fn new() -> Self {
        Self::default()
    }

    fn slot(seq: u64) -> (usize, u64) {
        let i = seq % REPLAY_WINDOW;
        ((i / 64) as usize, 1u64 << (i % 64))
    }

    /// Whether `seq` may be accepted.
    pub fn is_fresh(&self, seq: u64) -> bool {
        match self.top {
            None => true,
            Some(top) if seq > top => true,
            Some(top) if top - seq >= REPLAY_WINDOW => false,
            Some(_) => {
                let (w, bit) = Self::slot(seq);
                self.bits.get(w).is_some_and(|word| word & bit == 0)
            }
        }
    }

    /// Records `seq` as accepted; returns `false` (and changes nothing) if
    /// it was not fresh.
    pub fn accept(&mut self, seq: u64) -> bool {
        if !self.is_fresh(seq) {
            return false;
        }
        match self.top {
            Some(top) if seq <= top => {}
            Some(top) if seq - top < REPLAY_WINDOW => {
                // Clear the slots the window slides over.
                for s in top + 1..seq {
                    let (w, bit) = Self::slot(s);
                    if let Some(word) = self.bits.get_mut(w) {
                        *word &= !bit;
                    }
                }
                self.top = Some(seq);
            }
            _ => {
                self.bits = [0; WORDS];
                self.top = Some(seq);
            }
        }
        let (w, bit) = Self::slot(seq);
        if let Some(word) = self.bits.get_mut(w) {
            *word |= bit;
        }
        true
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_number_is_accepted_once() {
        let mut w = ReplayWindow::new();
        assert!(w.accept(0));
        assert!(!w.accept(0));
        assert!(w.accept(5));
        assert!(w.accept(3), "out of order within the window");
        assert!(!w.accept(3));
        assert!(!w.accept(5));
        assert!(w.accept(1));
    }

    #[test]
    fn numbers_older_than_the_window_are_refused() {
        let mut w = ReplayWindow::new();
        assert!(w.accept(2000));
        assert!(!w.is_fresh(2000 - REPLAY_WINDOW));
        assert!(w.is_fresh(2000 - REPLAY_WINDOW + 1));
        assert!(w.accept(2000 - REPLAY_WINDOW + 1));
        assert!(!w.accept(2000 - REPLAY_WINDOW + 1));
    }

    #[test]
    fn sliding_clears_old_slots() {
        let mut w = ReplayWindow::new();
        for s in 0..3000 {
            assert!(w.accept(s), "{s}");
        }
        for s in 3000 - REPLAY_WINDOW..3000 {
            assert!(!w.is_fresh(s), "{s}");
        }
        // A jump of exactly one window: the slot of 3000 + 1023 was used by 2999… and must be free again.
        assert!(w.accept(3000 + REPLAY_WINDOW - 1));
        assert!(w.accept(3000));
        assert!(!w.accept(3000));
    }

    #[test]
    fn the_highest_number_does_not_overflow() {
        let mut w = ReplayWindow::new();
        assert!(w.accept(u64::MAX));
        assert!(!w.accept(u64::MAX));
    }
}
