//! The network model: regions, latency, jitter, loss and per-node uplinks.
//!
//! One-way latencies between regions are round figures of public
//! inter-continental round-trip times halved (e.g. Frankfurt–Virginia about
//! 90 ms RTT, Frankfurt–Singapore about 160 ms, Virginia–Oregon about 70 ms,
//! Singapore–Sydney about 90 ms, within a region 5–10 ms RTT). They are a
//! model, not measurements of this project. This module decides delays; it
//! does not carry bytes.

use crate::rng::SimRng;

/// One-way latency in ms between regions 0..5 (EU, US-East, US-West, Asia, Oceania).
const ONE_WAY_MS: [[u64; 5]; 5] = [
    [4, 45, 75, 80, 140],
    [45, 4, 35, 110, 100],
    [75, 35, 4, 85, 70],
    [80, 110, 85, 4, 45],
    [140, 100, 70, 45, 4],
];

/// Most regions the matrix describes.
pub const MAX_REGIONS: usize = 5;

/// Latency, jitter, loss and bandwidth.
#[derive(Debug)]
pub struct NetModel {
    regions: usize,
    jitter: f64,
    loss: f64,
    bytes_per_ms: f64,
    rng: SimRng,
}

impl NetModel {
    /// A model over `regions` regions.
    pub fn new(regions: usize, jitter: f64, loss: f64, bandwidth_mbit: f64, seed: u64) -> NetModel {
        NetModel {
            regions: regions.clamp(1, MAX_REGIONS),
            jitter: jitter.max(0.0),
            loss: loss.clamp(0.0, 1.0),
            bytes_per_ms: (bandwidth_mbit.max(0.001) * 1_000_000.0 / 8.0) / 1000.0,
            rng: SimRng::new(seed, "net"),
        }
    }

    /// How many regions are in use.
    pub fn regions(&self) -> usize {
        self.regions
    }

    /// The base one-way latency between two regions.
    pub fn base_ms(&self, a: usize, b: usize) -> u64 {
        ONE_WAY_MS
            .get(a % MAX_REGIONS)
            .and_then(|row| row.get(b % MAX_REGIONS))
            .copied()
            .unwrap_or(100)
    }

    /// One delivery's latency with jitter, or `None` if it is lost.
    pub fn delay_ms(&mut self, a: usize, b: usize) -> Option<u64> {
        if self.loss > 0.0 && self.rng.chance(self.loss) {
            return None;
        }
        let base = self.base_ms(a, b) as f64;
        let j = base * self.jitter * self.rng.unit();
        Some((base + j).round() as u64 + 1)
    }

    /// Time to put `bytes` on a node's uplink, ms (at least 0).
    pub fn serialise_ms(&self, bytes: usize) -> u64 {
        (bytes as f64 / self.bytes_per_ms) as u64
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn latency_is_symmetric_and_local_is_fastest() {
        let n = NetModel::new(5, 0.0, 0.0, 100.0, 1);
        for a in 0..5 {
            for b in 0..5 {
                assert_eq!(n.base_ms(a, b), n.base_ms(b, a));
                assert!(n.base_ms(a, a) <= n.base_ms(a, b));
            }
        }
    }

    #[test]
    fn full_loss_loses_everything() {
        let mut n = NetModel::new(2, 0.1, 1.0, 100.0, 1);
        assert_eq!(n.delay_ms(0, 1), None);
    }

    #[test]
    fn a_megabyte_takes_about_80_ms_at_100_mbit() {
        let n = NetModel::new(1, 0.0, 0.0, 100.0, 1);
        let ms = n.serialise_ms(1_000_000);
        assert!((75..=85).contains(&ms), "{ms}");
    }
}
