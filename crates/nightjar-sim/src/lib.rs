//! `nightjar-sim`: a whole Nightjar network in one process, on virtual
//! time, seeded and reproducible.
//!
//! What it is for: showing that placement, write quorums, anti-entropy,
//! hand-off, onion paths and client failover hold at the network's size
//! (2,200 nodes and more) under churn, faults and misbehaving nodes, and
//! measuring what they cost. It runs the production code: every node is a
//! real [`nightjar_node::engine::NodeCore`] on a
//! [`nightjar_store::MemoryStore`] (the store that passes the same
//! conformance suite as SQLite); every account uses the real client logic
//! (`nightjar_client::call`, `paths`, `failover`, `logic`), with real
//! envelopes and onion layers unless `--crypto model` is given (see
//! [`CryptoMode`]). The simulator is their driver, as the tokio drivers are
//! in production: it carries requests with a latency, jitter, loss and
//! bandwidth model ([`net`]), runs store commands, keeps timers, and
//! applies churn, faults and misbehaviour ([`world`]).
//!
//! What it is not: a model of QUIC, TLS or SQLite (those are the drivers',
//! tested by the integration tests against real processes), of node CPU
//! (store commands and crypto take no virtual time), or of clients' own
//! bandwidth. Nodes learn registry changes from the simulator, with
//! delays, not from a chain.
//!
//! Determinism: every random draw comes from the seed ([`rng`]), events at
//! the same instant run in the order they were scheduled, and the report's
//! `trace_hash` is a hash over every event, so the same options give the
//! same hash.
//!
//! The report ([`Report`]) is a scripting contract; its keys are documented
//! on the type and in docs/ARCHITECTURE.md.

pub mod error;
pub mod model;
pub mod net;
pub mod options;
pub mod report;
pub mod rng;
pub mod world;

pub use error::SimError;
pub use options::{CryptoMode, Options};
pub use report::Report;
pub use world::World;

/// Run one simulation with `opts`.
pub fn run(opts: Options) -> Result<Report, SimError> {
    World::new(opts)?.run()
}
