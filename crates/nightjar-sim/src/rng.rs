//! Seeded pseudo-random streams, one per concern.
//!
//! Every decision the simulator draws comes from a [`SimRng`] derived from
//! the run's `--seed` and a label naming the concern (traffic, churn,
//! latency, ...), so adding draws to one concern does not shift another.
//! This is not a cryptographic generator: key material and envelopes use
//! `nightjar_crypto::SeededRandom`, seeded from [`SimRng::seed32`].

/// A small, fast, seedable generator (SplitMix64).
#[derive(Debug, Clone)]
pub struct SimRng {
    state: u64,
}

fn mix(mut z: u64) -> u64 {
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    z ^ (z >> 31)
}

/// A stable 64-bit value of `seed`, `label` and `index` (FNV-1a then mixed).
pub fn derive(seed: u64, label: &str, index: u64) -> u64 {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for b in label.bytes() {
        h ^= u64::from(b);
        h = h.wrapping_mul(0x0100_0000_01b3);
    }
    mix(mix(seed ^ h).wrapping_add(index.wrapping_mul(0x9e37_79b9_7f4a_7c15)))
}

impl SimRng {
    /// The stream for `label` under `seed`.
    pub fn new(seed: u64, label: &str) -> SimRng {
        SimRng {
            state: derive(seed, label, 0),
        }
    }

    /// The next 64 random bits.
    pub fn next_u64(&mut self) -> u64 {
        self.state = self.state.wrapping_add(0x9e37_79b9_7f4a_7c15);
        mix(self.state)
    }

    /// A uniform value in `0..n` (0 when `n` is 0).
    pub fn below(&mut self, n: u64) -> u64 {
        if n == 0 {
            return 0;
        }
        // Multiply-shift: the bias is below 2^-64 * n, irrelevant here.
        let wide = u128::from(self.next_u64()) * u128::from(n);
        u64::try_from(wide >> 64).unwrap_or(0)
    }

    /// A uniform index into a slice of `len` items.
    pub fn index(&mut self, len: usize) -> usize {
        usize::try_from(self.below(u64::try_from(len).unwrap_or(u64::MAX))).unwrap_or(0)
    }

    /// A uniform float in `[0, 1)`.
    pub fn unit(&mut self) -> f64 {
        // 53 random mantissa bits.
        (self.next_u64() >> 11) as f64 / (1u64 << 53) as f64
    }

    /// True with probability `p`.
    pub fn chance(&mut self, p: f64) -> bool {
        self.unit() < p
    }

    /// An exponentially distributed delay with the given mean, in ms.
    pub fn exp_ms(&mut self, mean_ms: f64) -> u64 {
        let u = 1.0 - self.unit();
        let v = -u.ln() * mean_ms;
        if v.is_finite() && v > 0.0 {
            v as u64
        } else {
            0
        }
    }

    /// 32 bytes for seeding a `nightjar_crypto::SeededRandom` or an identity.
    pub fn seed32(&mut self) -> [u8; 32] {
        let mut out = [0u8; 32];
        for chunk in out.chunks_mut(8) {
            chunk.copy_from_slice(&self.next_u64().to_le_bytes());
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn same_seed_and_label_give_the_same_stream() {
        let mut a = SimRng::new(7, "traffic");
        let mut b = SimRng::new(7, "traffic");
        for _ in 0..100 {
            assert_eq!(a.next_u64(), b.next_u64());
        }
    }

    #[test]
    fn different_labels_give_different_streams() {
        let mut a = SimRng::new(7, "traffic");
        let mut b = SimRng::new(7, "churn");
        assert_ne!(a.next_u64(), b.next_u64());
    }

    #[test]
    fn below_stays_in_range() {
        let mut r = SimRng::new(1, "x");
        for _ in 0..1000 {
            assert!(r.below(13) < 13);
        }
        assert_eq!(r.below(0), 0);
    }
}
