//! What a run prints: counters gathered during the run and the report built
//! from them at the end.
//!
//! The report is one JSON object (`--json`) or the same fields as text. Its
//! keys are a scripting contract, listed in the crate docs. This module does
//! not measure anything itself; the world fills [`Counts`].

use std::collections::BTreeMap;

use serde::Serialize;

/// Counters the world bumps while it runs.
#[derive(Debug, Default, Clone, Serialize)]
pub struct Counts {
    /// Events processed.
    pub events: u64,
    /// Messages handed to a sending client.
    pub sent: u64,
    /// Sends whose entry node answered `Stored` (a write quorum acknowledged).
    pub acked: u64,
    /// Sends that failed at every member tried.
    pub send_failed: u64,
    /// Retrieves that failed at every member tried.
    pub retrieve_failed: u64,
    /// Retrieves answered.
    pub retrieves: u64,
    /// Onion attempts sent to a guard.
    pub onion_attempts: u64,
    /// Bytes of node-to-node requests and answers.
    pub node_bytes: u64,
    /// Node-to-node requests and answers.
    pub node_messages: u64,
    /// Bytes between clients and their first node.
    pub client_bytes: u64,
    /// Bytes of anti-entropy and hand-off traffic (part of `node_bytes`).
    pub repair_bytes: u64,
    /// Anti-entropy and hand-off requests and answers (part of `node_messages`).
    pub repair_messages: u64,
    /// Anti-entropy rounds finished.
    pub sync_rounds: u64,
    /// Messages pulled by anti-entropy.
    pub sync_pulled: u64,
    /// Messages handed off to their new swarm.
    pub handed_off: u64,
    /// Peer requests that failed or came back without a valid receipt.
    pub peer_failures: u64,
    /// Graceful joins.
    pub joins: u64,
    /// Graceful exits.
    pub exits: u64,
    /// Crashes (churn, correlated and test faults).
    pub crashes: u64,
    /// Crashes that lost the disk.
    pub disk_losses: u64,
    /// Restarts.
    pub restarts: u64,
    /// Nodes crashed by the correlated failure.
    pub correlated_crashed: u64,
    /// Nodes crashed by the two-per-swarm test fault.
    pub killed: u64,
    /// Partitions.
    pub partitions: u64,
    /// Replicas a lying node acknowledged without storing.
    pub liar_acks: u64,
    /// Onion requests a dropping node discarded.
    pub dropped_by_droppers: u64,
    /// Envelopes delivered that did not open (must be 0).
    pub rejected_envelopes: u64,
}

/// Percentiles of a sample, in the sample's unit.
#[derive(Debug, Default, Clone, Serialize, PartialEq)]
pub struct Percentiles {
    /// How many values.
    pub count: u64,
    /// Median.
    pub p50: u64,
    /// 90th percentile.
    pub p90: u64,
    /// 99th percentile.
    pub p99: u64,
    /// Largest.
    pub max: u64,
}

impl Percentiles {
    /// The percentiles of `values` (sorted here; empty gives zeros).
    pub fn of(mut values: Vec<u64>) -> Percentiles {
        values.sort_unstable();
        let at = |q: f64| -> u64 {
            if values.is_empty() {
                return 0;
            }
            let i = ((values.len() - 1) as f64 * q).round() as usize;
            values.get(i).copied().unwrap_or(0)
        };
        Percentiles {
            count: values.len() as u64,
            p50: at(0.50),
            p90: at(0.90),
            p99: at(0.99),
            max: values.last().copied().unwrap_or(0),
        }
    }
}

/// Swarm sizes in the final registry.
#[derive(Debug, Default, Clone, Serialize)]
pub struct SwarmSizes {
    /// Swarms.
    pub swarms: u64,
    /// Smallest swarm.
    pub min: u64,
    /// Median swarm.
    pub p50: u64,
    /// Largest swarm.
    pub max: u64,
    /// How many swarms have each size.
    pub histogram: BTreeMap<u64, u64>,
}

/// Network traffic attributed to registry changes.
#[derive(Debug, Default, Clone, Serialize)]
pub struct ChurnCost {
    /// Joins, exits and crashes in the run.
    pub events: u64,
    /// Anti-entropy and hand-off bytes per event (all repair traffic of the
    /// run, including rounds that found nothing, divided by `events`).
    pub repair_bytes_per_event: u64,
    /// Anti-entropy and hand-off messages per event, likewise.
    pub repair_messages_per_event: u64,
}

/// Time until every replica sat where the registry puts it, after each
/// churn or fault event (sampled audits, see `--audit-sample`).
#[derive(Debug, Default, Clone, Serialize)]
pub struct Convergence {
    /// Seconds from each event to the first audit that found nothing missing.
    pub after_event_s: Percentiles,
    /// Events still not converged when the run ended.
    pub unconverged_events: u64,
    /// Audits run.
    pub audits: u64,
    /// Replicas missing at the final audit (messages acknowledged before it,
    /// at live members of their swarm; 0 when the network converged).
    pub missing_at_end: u64,
    /// The longest delay until a node learned a registry version, seconds.
    pub registry_spread_s: u64,
}

/// The result of one run.
#[derive(Debug, Clone, Serialize)]
pub struct Report {
    /// Nodes at genesis.
    pub nodes: u64,
    /// Nodes registered at the end.
    pub nodes_at_end: u64,
    /// Accounts.
    pub accounts: u64,
    /// Simulated hours of traffic (a quiet repair period follows).
    pub hours: f64,
    /// The seed.
    pub seed: u64,
    /// `real` or `model`.
    pub crypto: String,
    /// Messages sent.
    pub sent: u64,
    /// Messages acknowledged by a write quorum.
    pub acked: u64,
    /// Messages that reached their recipient.
    pub delivered: u64,
    /// Acknowledged messages that no live member of their swarm holds at the
    /// end (the one number that must be 0).
    pub acked_lost: u64,
    /// Acknowledged messages not (yet) delivered at the end (recipients
    /// offline, or not yet polled).
    pub acked_undelivered: u64,
    /// Send-to-delivery latency of every delivered message, ms.
    pub latency_ms: Percentiles,
    /// The same, for messages whose recipient was online when they were sent.
    pub latency_online_ms: Percentiles,
    /// Send-to-acknowledgement latency, ms.
    pub ack_latency_ms: Percentiles,
    /// Swarm sizes at the end.
    pub swarm_sizes: SwarmSizes,
    /// Repair traffic per registry change.
    pub churn_cost: ChurnCost,
    /// Convergence after events.
    pub convergence: Convergence,
    /// Every counter.
    pub counts: Counts,
    /// Wall-clock seconds the run took.
    pub wall_s: f64,
    /// Peak resident memory of the process, MiB (`VmHWM`; 0 where unknown).
    pub peak_rss_mb: u64,
    /// BLAKE2b-256 over every event (time, kind, ids), hex: same seed and
    /// options, same hash.
    pub trace_hash: String,
}

impl Report {
    /// The report as text, one `key: value` per line.
    pub fn to_text(&self) -> String {
        let mut out = String::new();
        let mut line = |k: &str, v: String| {
            out.push_str(k);
            out.push_str(": ");
            out.push_str(&v);
            out.push('\n');
        };
        line(
            "nodes",
            format!("{} (at end {})", self.nodes, self.nodes_at_end),
        );
        line("accounts", self.accounts.to_string());
        line("hours", self.hours.to_string());
        line("crypto", self.crypto.clone());
        line("sent", self.sent.to_string());
        line("acked", self.acked.to_string());
        line("delivered", self.delivered.to_string());
        line("acked_lost", self.acked_lost.to_string());
        line("acked_undelivered", self.acked_undelivered.to_string());
        let p =
            |x: &Percentiles| format!("p50 {} p90 {} p99 {} max {}", x.p50, x.p90, x.p99, x.max);
        line("latency_ms", p(&self.latency_ms));
        line("latency_online_ms", p(&self.latency_online_ms));
        line("ack_latency_ms", p(&self.ack_latency_ms));
        line(
            "swarm_sizes",
            format!(
                "{} swarms, min {} p50 {} max {}",
                self.swarm_sizes.swarms,
                self.swarm_sizes.min,
                self.swarm_sizes.p50,
                self.swarm_sizes.max
            ),
        );
        line(
            "repair_per_event",
            format!(
                "{} bytes, {} messages",
                self.churn_cost.repair_bytes_per_event, self.churn_cost.repair_messages_per_event
            ),
        );
        line(
            "converge_after_event_s",
            format!(
                "{} (unconverged {}, missing at end {})",
                p(&self.convergence.after_event_s),
                self.convergence.unconverged_events,
                self.convergence.missing_at_end
            ),
        );
        line("events", self.counts.events.to_string());
        line("wall_s", format!("{:.1}", self.wall_s));
        line("peak_rss_mb", self.peak_rss_mb.to_string());
        line("trace_hash", self.trace_hash.clone());
        out
    }
}

/// The process's peak resident set in MiB, from `/proc/self/status`.
pub fn peak_rss_mb() -> u64 {
    let Ok(status) = std::fs::read_to_string("/proc/self/status") else {
        return 0;
    };
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmHWM:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<u64>().ok())
        .map_or(0, |kb| kb / 1024)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn percentiles_of_one_to_a_hundred() {
        let p = Percentiles::of((1..=100).collect());
        assert_eq!((p.count, p.p50, p.p99, p.max), (100, 51, 99, 100));
    }

    #[test]
    fn percentiles_of_nothing_are_zero() {
        assert_eq!(Percentiles::of(Vec::new()), Percentiles::default());
    }
}
