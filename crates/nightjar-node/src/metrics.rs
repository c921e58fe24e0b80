//! Prometheus metrics of a node, served on the local-only admin address.
//!
//! Labels are request kinds and outcome codes only: never accounts, hashes or
//! peer addresses.

use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::{Histogram, exponential_buckets};
use prometheus_client::registry::Registry;

/// Labels of a finished request.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct RequestLabels {
    /// `store`, `retrieve`, `delete`, `info` or `invalid`.
    pub kind: &'static str,
    /// `ok` or an error code name.
    pub outcome: &'static str,
}

/// Labels naming a request kind.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct KindLabels {
    /// The request kind.
    pub kind: &'static str,
}

/// Labels of a refused connection.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct RefusedLabels {
    /// Which limit refused it: `per_ip` (`max_connections_per_ip`) or
    /// `total` (`max_connections`). Never the address itself.
    pub limit: &'static str,
}

/// Labels of circuit cell counters.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct CircuitLabels {
    /// `created`, `expired`, `forwarded`, `backwarded`, `replay`,
    /// `malformed`, `unknown`, `full` or `delivered`.
    pub event: &'static str,
}

/// Every metric the node exports.
pub struct Metrics {
    registry: Registry,
    /// Requests answered, by kind and outcome.
    pub requests: Family<RequestLabels, Counter>,
    /// Time from a request's arrival to its answer, by kind (retrieve waits included).
    pub request_seconds: Family<KindLabels, Histogram>,
    /// Open client connections.
    pub connections: Gauge,
    /// Retrieves currently waiting for a message.
    pub waiting_retrieves: Gauge,
    /// Messages held (refreshed by the purge loop).
    pub stored_messages: Gauge,
    /// Bytes of message data held (refreshed by the purge loop).
    pub stored_bytes: Gauge,
    /// Database commits so far (each is one fsync shared by a batch of writes).
    pub store_commits: Gauge,
    /// Expired messages removed.
    pub purged: Counter,
    /// Receipt signatures made (one per receipt tree).
    pub receipt_signatures: Counter,
    /// Messages given a receipt (leaves of the receipt trees signed).
    pub receipt_leaves: Counter,
    /// Messages pulled from swarm peers by anti-entropy.
    pub synced: Counter,
    /// Messages handed to the swarm that now owns them.
    pub handed_off: Counter,
    /// Incoming connections refused before the handshake, by the limit that refused them.
    pub refused_connections: Family<RefusedLabels, Counter>,
    /// Request streams answered `rate_limited` (they are not counted in `requests`).
    pub rate_limited: Counter,
    /// Requests to other nodes in flight (one task each; set when scraped).
    pub peer_requests_in_flight: Gauge,
    /// Replicas, delete forwards and hand-off copies waiting for their turn
    /// to a node (set when scraped).
    pub peer_requests_queued: Gauge,
    /// Tasks alive in the node's runtime (set when scraped).
    pub runtime_tasks: Gauge,
    /// The registry's height in use (`docs/PROTOCOL.md` §12: the chain block
    /// it was derived at, or the number of events of a registry file).
    pub registry_height: Gauge,
    /// 1 while the chain follower reports its registry stale (the chain or
    /// every endpoint stopped; the node keeps its last registry), else 0.
    pub registry_stale: Gauge,
    /// Calls to chain RPC endpoints that failed or answered wrongly.
    pub chain_rpc_failures: Counter,
    /// Circuits kept now.
    pub circuits: Gauge,
    /// What the circuit relay did so far (totals, set from its counters).
    pub circuit_events: Family<CircuitLabels, Gauge>,
}

impl Default for Metrics {
    fn default() -> Self {
        Self::new()
    }
}

impl Metrics {
    /// A fresh set of metrics in its own registry.
    pub fn new() -> Metrics {
        let mut registry = Registry::with_prefix("nightjar");
        let requests = Family::<RequestLabels, Counter>::default();
        let request_seconds = Family::<KindLabels, Histogram>::new_with_constructor(|| {
            Histogram::new(exponential_buckets(0.000_1, 2.0, 20))
        });
        let connections = Gauge::default();
        let waiting_retrieves = Gauge::default();
        let stored_messages = Gauge::default();
        let stored_bytes = Gauge::default();
        let store_commits = Gauge::default();
        let purged = Counter::default();
        let receipt_signatures = Counter::default();
        let receipt_leaves = Counter::default();
        let synced = Counter::default();
        let handed_off = Counter::default();
        let refused_connections = Family::<RefusedLabels, Counter>::default();
        let rate_limited = Counter::default();
        let peer_requests_in_flight = Gauge::default();
        let peer_requests_queued = Gauge::default();
        let runtime_tasks = Gauge::default();
        let registry_height = Gauge::default();
        let registry_stale = Gauge::default();
        let chain_rpc_failures = Counter::default();
        let circuits = Gauge::default();
        let circuit_events = Family::<CircuitLabels, Gauge>::default();
        registry.register(
            "circuits",
            "Circuits this node relays or ends",
            circuits.clone(),
        );
        registry.register(
            "circuit_events",
            "Circuit cells and circuits by what happened to them, since start",
            circuit_events.clone(),
        );
        registry.register("requests", "Requests answered", requests.clone());
        registry.register(
            "request_duration_seconds",
            "Time from request to answer",
            request_seconds.clone(),
        );
        registry.register("connections", "Open connections", connections.clone());
        registry.register(
            "waiting_retrieves",
            "Retrieves waiting for a message",
            waiting_retrieves.clone(),
        );
        registry.register("stored_messages", "Messages held", stored_messages.clone());
        registry.register(
            "stored_bytes",
            "Bytes of messages held",
            stored_bytes.clone(),
        );
        registry.register(
            "store_commits",
            "Database commits (fsyncs) so far",
            store_commits.clone(),
        );
        registry.register(
            "purged_messages",
            "Expired messages removed",
            purged.clone(),
        );
        registry.register(
            "receipt_signatures",
            "Receipt signatures made (one per batch of stores made durable together)",
            receipt_signatures.clone(),
        );
        registry.register(
            "receipt_leaves",
            "Stored messages given a receipt (leaves of the receipt trees signed)",
            receipt_leaves.clone(),
        );
        registry.register(
            "synced_messages",
            "Messages pulled from swarm peers by anti-entropy",
            synced.clone(),
        );
        registry.register(
            "handed_off_messages",
            "Messages handed to the swarm that now owns them",
            handed_off.clone(),
        );
        registry.register(
            "refused_connections",
            "Incoming connections refused before the handshake, by limit",
            refused_connections.clone(),
        );
        registry.register(
            "rate_limited",
            "Request streams answered rate_limited",
            rate_limited.clone(),
        );
        registry.register(
            "peer_requests_in_flight",
            "Requests to other nodes in flight",
            peer_requests_in_flight.clone(),
        );
        registry.register(
            "peer_requests_queued",
            "Replicas, delete forwards and hand-off copies waiting for their turn",
            peer_requests_queued.clone(),
        );
        registry.register(
            "runtime_tasks",
            "Tasks alive in the node's runtime",
            runtime_tasks.clone(),
        );
        registry.register(
            "registry_height",
            "Height of the registry in use (chain block, or events of a registry file)",
            registry_height.clone(),
        );
        registry.register(
            "registry_stale",
            "1 while the chain follower reports the registry stale",
            registry_stale.clone(),
        );
        registry.register(
            "chain_rpc_failures",
            "Chain RPC calls that failed or answered wrongly",
            chain_rpc_failures.clone(),
        );
        Metrics {
            registry,
            requests,
            request_seconds,
            connections,
            waiting_retrieves,
            stored_messages,
            stored_bytes,
            store_commits,
            purged,
            receipt_signatures,
            receipt_leaves,
            synced,
            handed_off,
            refused_connections,
            rate_limited,
            peer_requests_in_flight,
            peer_requests_queued,
            runtime_tasks,
            registry_height,
            registry_stale,
            chain_rpc_failures,
            circuits,
            circuit_events,
        }
    }

    /// The metrics in Prometheus text format.
    pub fn render(&self) -> String {
        let mut out = String::new();
        if prometheus_client::encoding::text::encode(&mut out, &self.registry).is_err() {
            out.clear();
        }
        out
    }
}
