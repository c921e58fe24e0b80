//! The report at the end of a run, built from the world's counters, its
//! messages' fates, the final registry and the audits.

use std::collections::BTreeMap;

use super::World;
use crate::report::{ChurnCost, Convergence, Percentiles, Report, SwarmSizes, peak_rss_mb};

impl World {
    pub(super) fn report(&mut self, wall_s: f64) -> Report {
        let lost = self.acked_lost();
        let missing_at_end = self.missing_at_end();
        let mut latency = Vec::new();
        let mut latency_online = Vec::new();
        let mut ack = Vec::new();
        let mut delivered = 0;
        let mut undelivered = 0;
        for m in &self.msgs {
            if let Some(t) = m.acked_ms {
                ack.push(t - m.sent_ms);
                if m.delivered_ms.is_none() {
                    undelivered += 1;
                }
            }
            if let Some(t) = m.delivered_ms {
                delivered += 1;
                latency.push(t - m.sent_ms);
                if m.to_online {
                    latency_online.push(t - m.sent_ms);
                }
            }
        }
        let mut sizes: Vec<u64> = self
            .map
            .swarms()
            .iter()
            .map(|(_, m)| m.len() as u64)
            .collect();
        sizes.sort_unstable();
        let mut histogram = BTreeMap::new();
        for s in &sizes {
            *histogram.entry(*s).or_insert(0) += 1;
        }
        let swarm_sizes = SwarmSizes {
            swarms: sizes.len() as u64,
            min: sizes.first().copied().unwrap_or(0),
            p50: sizes.get(sizes.len() / 2).copied().unwrap_or(0),
            max: sizes.last().copied().unwrap_or(0),
            histogram,
        };
        let events = self.counts.joins + self.counts.exits + self.counts.crashes;
        let per = |x: u64| x.checked_div(events).unwrap_or(0);
        let churn_cost = ChurnCost {
            events,
            repair_bytes_per_event: per(self.counts.repair_bytes),
            repair_messages_per_event: per(self.counts.repair_messages),
        };
        let convergence = Convergence {
            after_event_s: Percentiles::of(self.converge_ms.iter().map(|ms| ms / 1000).collect()),
            unconverged_events: self.open_events.len() as u64,
            audits: self.audits,
            missing_at_end,
            registry_spread_s: self.registry_spread_ms / 1000,
        };
        let trace_hash = hex::encode(self.trace.hash());
        Report {
            nodes: self.opts.nodes as u64,
            nodes_at_end: self.map.node_count() as u64,
            accounts: self.opts.accounts as u64,
            hours: self.opts.hours,
            seed: self.opts.seed,
            crypto: format!("{:?}", self.opts.crypto).to_lowercase(),
            sent: self.counts.sent,
            acked: self.counts.acked,
            delivered,
            acked_lost: lost,
            acked_undelivered: undelivered,
            latency_ms: Percentiles::of(latency),
            latency_online_ms: Percentiles::of(latency_online),
            ack_latency_ms: Percentiles::of(ack),
            swarm_sizes,
            churn_cost,
            convergence,
            counts: self.counts.clone(),
            wall_s,
            peak_rss_mb: peak_rss_mb(),
            trace_hash,
        }
    }
}
