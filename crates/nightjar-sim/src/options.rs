//! The simulator's command-line options (also used by the tests).
//!
//! Every knob of a run is here, with its default; `nightjar-sim --help`
//! lists them. This module only describes a run; it does not run anything.

use clap::{Parser, ValueEnum};
use serde::Serialize;

use crate::SimError;

/// How much of the real cryptography a run performs.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum CryptoMode {
    /// Everything real: sealed envelopes (`envelope::seal_with`, opened by
    /// the recipient), onion paths of three relays with real layers built by
    /// the client and peeled by the nodes' cores, signed retrieves, Ed25519
    /// receipts signed by every member and verified by the entry node.
    Real,
    /// The documented cheaper model, for the largest runs: requests go from
    /// the client straight to the swarm member (no onion layers, so no path,
    /// guard or relay logic and no relay traffic); envelopes are seeded
    /// random bytes of a real envelope's length (not sealed, not opened);
    /// receipts and retrieves carry model signatures (a keyed BLAKE2b of
    /// key, label and data, checked exactly where Ed25519 would be: see
    /// [`crate::model`]). Unchanged: the nodes' cores, replication with
    /// receipts checked per member, replay protection, anti-entropy,
    /// hand-off, failover and redirects.
    Model,
}

/// One simulated run.
#[derive(Debug, Clone, Parser, Serialize)]
#[command(
    name = "nightjar-sim",
    args_override_self = true,
    about = "Run a whole Nightjar network (real node core and client logic) on virtual time, seeded, and print a report."
)]
pub struct Options {
    /// Service nodes at genesis.
    #[arg(long, default_value_t = 50)]
    pub nodes: usize,
    /// Client accounts.
    #[arg(long, default_value_t = 200)]
    pub accounts: usize,
    /// Simulated hours of traffic and churn (a quiet repair period follows).
    #[arg(long, default_value_t = 1.0)]
    pub hours: f64,
    /// Seed of every random stream (same seed => same trace hash).
    #[arg(long, default_value_t = 1)]
    pub seed: u64,
    /// Print the report as one JSON object.
    #[arg(long)]
    pub json: bool,
    /// Print a progress line on standard error every simulated hour.
    #[arg(long)]
    pub progress: bool,

    /// Messages each account sends per simulated day.
    #[arg(long, default_value_t = 4.0)]
    pub messages_per_account_day: f64,
    /// Share of accounts online (watching with a waiting retrieve) at any
    /// time. With the default spells: the app open about three times a day
    /// for a couple of minutes.
    #[arg(long, default_value_t = 0.005)]
    pub online_share: f64,
    /// Mean length of an offline spell, minutes.
    #[arg(long, default_value_t = 480.0)]
    pub offline_spell_min: f64,
    /// Message text length in bytes (the envelope adds its overhead).
    #[arg(long, default_value_t = 200)]
    pub message_bytes: usize,

    /// Graceful node joins per hour.
    #[arg(long, default_value_t = 3.0)]
    pub joins_per_hour: f64,
    /// Graceful node exits (with hand-off) per hour.
    #[arg(long, default_value_t = 3.0)]
    pub exits_per_hour: f64,
    /// Node crashes per hour (the node stays registered and restarts).
    #[arg(long, default_value_t = 2.0)]
    pub crashes_per_hour: f64,
    /// Share of crashes that also lose the node's disk.
    #[arg(long, default_value_t = 0.25)]
    pub disk_loss_share: f64,
    /// Minutes until a crashed node restarts.
    #[arg(long, default_value_t = 30.0)]
    pub restart_after_min: f64,
    /// Hour at which a correlated failure crashes a share of all nodes at once.
    #[arg(long)]
    pub correlated_failure_at_hour: Option<f64>,
    /// Share of nodes the correlated failure crashes.
    #[arg(long, default_value_t = 0.10)]
    pub correlated_failure_share: f64,
    /// Hour at which a share of nodes (and their region's clients) is cut off.
    #[arg(long)]
    pub partition_at_hour: Option<f64>,
    /// Share of nodes on the cut-off side of the partition.
    #[arg(long, default_value_t = 0.3)]
    pub partition_share: f64,
    /// Minutes until the partition heals.
    #[arg(long, default_value_t = 20.0)]
    pub partition_heal_after_min: f64,
    /// Test fault: at this hour crash two members of every swarm at once.
    #[arg(long)]
    pub kill_two_per_swarm_at_hour: Option<f64>,

    /// Nodes that answer replicas with `Stored` and a receipt without storing.
    #[arg(long, default_value_t = 0)]
    pub liars: usize,
    /// Nodes that silently drop node-to-node traffic (replicas, sync).
    #[arg(long, default_value_t = 0)]
    pub droppers: usize,
    /// Nodes that answer every request late by `--lag-ms`.
    #[arg(long, default_value_t = 0)]
    pub laggards: usize,
    /// Extra delay of a laggard's answers, ms.
    #[arg(long, default_value_t = 4_000)]
    pub lag_ms: u64,

    /// Regions (1-5) nodes and clients are spread over; see `net` for the matrix.
    #[arg(long, default_value_t = 4)]
    pub regions: usize,
    /// Latency jitter as a share of the one-way latency.
    #[arg(long, default_value_t = 0.1)]
    pub jitter: f64,
    /// Probability that a datagram exchange is lost (the sender times out).
    #[arg(long, default_value_t = 0.001)]
    pub loss: f64,
    /// Each node's uplink in Mbit/s (a serialisation queue per node).
    #[arg(long, default_value_t = 100.0)]
    pub bandwidth_mbit: f64,
    /// Real envelopes and Ed25519 receipts, or the documented cheaper model.
    #[arg(long, value_enum, default_value_t = CryptoMode::Real)]
    pub crypto: CryptoMode,

    /// Longest delay until a node learns a registry version, seconds (uniform 1..this).
    #[arg(long, default_value_t = 30.0)]
    pub node_registry_delay_s: f64,
    /// Longest delay until a client learns a registry version, minutes (its refresh schedule).
    #[arg(long, default_value_t = 30.0)]
    pub client_registry_delay_min: f64,
    /// Anti-entropy interval of each node, seconds.
    #[arg(long, default_value_t = 300.0)]
    pub sync_interval_s: f64,
    /// Quiet repair period after the traffic (no churn, no traffic), minutes.
    #[arg(long, default_value_t = 30.0)]
    pub repair_min: f64,
    /// The work a client allows the destination of a request, ms (a
    /// waiting retrieve adds its wait; each relay adds its margin).
    #[arg(long, default_value_t = 3_000)]
    pub hop_wait_ms: u64,
    /// Minutes between convergence audits while an event is unconverged.
    #[arg(long, default_value_t = 5.0)]
    pub audit_interval_min: f64,
    /// Messages an audit samples (0: every acknowledged message).
    #[arg(long, default_value_t = 2_000)]
    pub audit_sample: usize,
}

impl Options {
    /// The defaults, as `nightjar-sim` with no arguments would use them.
    pub fn small() -> Options {
        Options::parse_from(["nightjar-sim"])
    }

    /// Refuse options that contradict each other or leave nothing to run.
    pub fn validate(&self) -> Result<(), SimError> {
        let bad = |m: &str| Err(SimError::InvalidOption(m.into()));
        if self.nodes < 1 || self.accounts < 2 {
            return bad("need at least 1 node and 2 accounts");
        }
        if self.liars + self.droppers + self.laggards > self.nodes {
            return bad("more misbehaving nodes than nodes");
        }
        let shares = [
            self.online_share,
            self.disk_loss_share,
            self.correlated_failure_share,
            self.partition_share,
            self.loss,
        ];
        if shares.iter().any(|s| !(0.0..=1.0).contains(s)) {
            return bad("shares and probabilities must lie in 0..=1");
        }
        let nonneg = [
            self.hours,
            self.messages_per_account_day,
            self.offline_spell_min,
            self.joins_per_hour,
            self.exits_per_hour,
            self.crashes_per_hour,
            self.restart_after_min,
            self.partition_heal_after_min,
            self.jitter,
            self.node_registry_delay_s,
            self.client_registry_delay_min,
            self.repair_min,
            self.audit_interval_min,
        ];
        if nonneg.iter().any(|x| !x.is_finite() || *x < 0.0) {
            return bad("times and rates must be finite and not negative");
        }
        if self.message_bytes == 0 || self.message_bytes > 16 * 1024 {
            return bad("--message-bytes must be 1..=16384");
        }
        if !(1..=crate::net::MAX_REGIONS).contains(&self.regions) {
            return bad("--regions must be 1..=5");
        }
        if self.offline_spell_min <= 0.0 || self.sync_interval_s < 1.0 || self.bandwidth_mbit <= 0.0
        {
            return bad(
                "--offline-spell-min and --bandwidth-mbit must be positive, --sync-interval-s at least 1",
            );
        }
        Ok(())
    }
}
