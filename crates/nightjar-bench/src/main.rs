//! `nightjar-bench`: measure Nightjar's real code against a baseline taken in
//! the same run on the same machine, and print one JSON object per run (with
//! a human summary on standard error).
//!
//! It is a load generator, not a test: it asserts nothing about speed. Each
//! figure comes with CPU time next to wall time, because on a shared 2-core
//! machine CPU time is the steadier measure: the process's own
//! (`CLOCK_PROCESS_CPUTIME_ID`) for work done in this process, and
//! `/proc/<pid>/stat`'s utime + stime for a node running as a child process.
//!
//! Subcommands:
//! - `store`: acknowledged durable stores per second through an N-node swarm
//!   against the same load on a single node, and one node process against
//!   bare SQLite inserts of the same rows ([`store`]);
//! - `onion-hop`: the node's relay path per hop against the bare primitives,
//!   in process and through a relay process over QUIC ([`onion_hop`]);
//! - `latency`: send → arrival through onion paths on a devnet of node
//!   processes ([`latency`]);
//! - `memory`: a node process's resident memory idle and after many stores
//!   ([`memory`]);
//! - `swarm-lookup`: account → swarm members over a registry of many nodes
//!   against a bare binary search ([`lookup`]);
//! - `micro`: nanoseconds per operation of the building blocks ([`micro`]);
//! - `message-v2`: CPU and bytes of a messages-v2 first message and ratchet
//!   message (with and without a step) against envelope v1 and against the
//!   primitives' bound ([`message_v2`]);
//! - `daemon-send`: the one-shot `nightjar send` process alone against the
//!   same command through a warm `nightjar daemon` ([`daemon_send`]).
//!
//! Node processes are started, waited for and measured by `nightjar-launch`:
//! the binary from `--node-bin` / `NIGHTJAR_NODE_BIN`, else `nightjar-node`
//! next to this one (or on `PATH`); naming this binary instead runs its
//! hidden `node` subcommand, the same node library on the same config.

mod circuit_hop;
mod daemon_send;
mod latency;
mod lookup;
mod memory;
mod message_v2;
mod micro;
mod mmsg;
mod onion_hop;
mod store;
mod util;

use std::path::PathBuf;

use clap::{Parser, Subcommand};

#[derive(Debug, Parser)]
#[command(name = "nightjar-bench", version)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Acknowledged stores per second through a swarm, against one node;
    /// one node process against bare SQLite inserts.
    Store {
        /// Nodes in the swarm (all form one swarm when fewer than 10).
        #[arg(long, default_value_t = 7)]
        nodes: usize,
        /// Messages to store in each phase.
        #[arg(long, default_value_t = 2000)]
        messages: usize,
        /// Stores in flight at once.
        #[arg(long, default_value_t = 32)]
        concurrency: usize,
        /// Directory for the nodes' databases (default: a temporary directory
        /// under the current directory, so fsync hits the real disk).
        #[arg(long)]
        dir: Option<PathBuf>,
        /// The `nightjar-node` binary (default: next to this one).
        #[arg(long, env = "NIGHTJAR_NODE_BIN")]
        node_bin: Option<PathBuf>,
    },
    /// One onion relay hop: the node's code against the bare primitives, in
    /// process and through a relay node process.
    OnionHop {
        /// Hops timed in process.
        #[arg(long, default_value_t = 20_000)]
        iterations: usize,
        /// Bytes of the request frame inside the onion (the layer is padded
        /// to a bucket: 1,024 bytes up to 1,020).
        #[arg(long, default_value_t = 1000)]
        payload: usize,
        /// Onion requests through the relay process (0: skip that part).
        #[arg(long, default_value_t = 20_000)]
        requests: usize,
        /// Requests in flight through the relay, and circuits (at most 64)
        /// in the circuit phase.
        #[arg(long, default_value_t = 32)]
        concurrency: usize,
        /// Requests on circuits, and through the bare UDP relay they are
        /// compared with (0: skip that part; it needs `--requests` too).
        #[arg(long, default_value_t = 200_000)]
        circuit_requests: usize,
        /// Directory for the nodes' files (default: under the current directory).
        #[arg(long)]
        dir: Option<PathBuf>,
        /// The `nightjar-node` binary (default: next to this one).
        #[arg(long, env = "NIGHTJAR_NODE_BIN")]
        node_bin: Option<PathBuf>,
    },
    /// Send → arrival latency through onion paths on a devnet of node processes.
    Latency {
        /// Node processes.
        #[arg(long, default_value_t = 10)]
        nodes: usize,
        /// Messages timed.
        #[arg(long, default_value_t = 200)]
        messages: usize,
        /// Messages sent first and not timed.
        #[arg(long, default_value_t = 2)]
        warmup: usize,
        /// Directory for the devnet (default: under the current directory).
        #[arg(long)]
        dir: Option<PathBuf>,
        /// The `nightjar-node` binary (default: next to this one).
        #[arg(long, env = "NIGHTJAR_NODE_BIN")]
        node_bin: Option<PathBuf>,
        /// Send mailbox requests through one-shot v1 onion layers instead of
        /// per-account circuits (for comparison).
        #[arg(long)]
        no_circuits: bool,
        /// Seconds a send relies on a device list read before (default: the
        /// daemon's setting; 0: every send reads the recipient's and the
        /// sender's lists first, as a one-shot `nightjar send` does).
        #[arg(long, default_value_t = nightjar_daemon::DEVICE_LIST_MAX_AGE.as_secs())]
        device_list_max_age_secs: u64,
    },
    /// A node process's resident memory idle and after many small stores.
    Memory {
        /// Messages to store.
        #[arg(long, default_value_t = 1_000_000)]
        messages: usize,
        /// Accounts they are spread over.
        #[arg(long, default_value_t = 10_000)]
        accounts: usize,
        /// Bytes of each message.
        #[arg(long, default_value_t = 300)]
        size: usize,
        /// Stores in flight at once.
        #[arg(long, default_value_t = 256)]
        concurrency: usize,
        /// Directory for the node's files (default: under the current directory).
        #[arg(long)]
        dir: Option<PathBuf>,
        /// The `nightjar-node` binary (default: next to this one).
        #[arg(long, env = "NIGHTJAR_NODE_BIN")]
        node_bin: Option<PathBuf>,
    },
    /// Account → swarm members over a registry of many nodes, against a bare
    /// binary search.
    SwarmLookup {
        /// Nodes in the registry.
        #[arg(long, default_value_t = 2200)]
        nodes: usize,
        /// Lookups timed.
        #[arg(long, default_value_t = 1_000_000)]
        lookups: usize,
    },
    /// Nanoseconds per operation: envelope, onion layers, registry, lookup.
    Micro {
        /// Calls of each operation (registry replays: a tenth).
        #[arg(long, default_value_t = 20_000)]
        iterations: usize,
    },
    /// CPU and bytes of a messages-v2 first message and ratchet message
    /// (with and without a DH + ML-KEM step), against envelope v1 and the
    /// primitives' bound.
    MessageV2 {
        /// Calls of each operation (split over 35 rounds).
        #[arg(long, default_value_t = 3_500)]
        iterations: usize,
        /// Bytes of the message text.
        #[arg(long, default_value_t = 100)]
        text: usize,
    },
    /// `nightjar send` (the whole process) alone, against the same through a
    /// warm `nightjar daemon`, on a devnet of node processes.
    DaemonSend {
        /// Node processes.
        #[arg(long, default_value_t = 10)]
        nodes: usize,
        /// Timed sends of each kind.
        #[arg(long, default_value_t = 50)]
        sends: usize,
        /// Directory for the devnet and profiles (default: under the current directory).
        #[arg(long)]
        dir: Option<PathBuf>,
        /// The `nightjar` binary (default: next to this one).
        #[arg(long, env = "NIGHTJAR_BIN")]
        nightjar_bin: Option<PathBuf>,
        /// The `nightjar-node` binary (default: the devnet's own choice).
        #[arg(long, env = "NIGHTJAR_NODE_BIN")]
        node_bin: Option<PathBuf>,
    },
    /// Run a node from a config file, as `nightjar-node --config` does (used
    /// when no `nightjar-node` binary is at hand, e.g. in the smoke tests).
    #[command(hide = true, args_override_self = true)]
    Node {
        /// TOML configuration file.
        #[arg(long)]
        config: PathBuf,
        /// Overrides the file's `listen` (a restart by the launcher).
        #[arg(long)]
        listen: Option<std::net::SocketAddr>,
        /// Overrides the file's `admin` (a restart by the launcher).
        #[arg(long)]
        admin: Option<std::net::SocketAddr>,
        /// Once serving, report the bound addresses here, as `nightjar-node
        /// --ports-file` does.
        #[arg(long)]
        ports_file: Option<PathBuf>,
    },
}

fn main() -> anyhow::Result<()> {
    let cli = Cli::parse();
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?;
    runtime.block_on(async move {
        match cli.command {
            Command::Store {
                nodes,
                messages,
                concurrency,
                dir,
                node_bin,
            } => store::run(nodes, messages, concurrency, dir, node_bin).await,
            Command::OnionHop {
                iterations,
                payload,
                requests,
                concurrency,
                circuit_requests,
                dir,
                node_bin,
            } => {
                onion_hop::run(onion_hop::Args {
                    iterations,
                    payload,
                    requests,
                    concurrency,
                    circuit_requests,
                    node_bin,
                    dir,
                })
                .await
            }
            Command::Latency {
                nodes,
                messages,
                warmup,
                dir,
                node_bin,
                no_circuits,
                device_list_max_age_secs,
            } => {
                latency::run(latency::Args {
                    nodes,
                    messages,
                    warmup,
                    node_bin,
                    dir,
                    no_circuits,
                    device_list_max_age: std::time::Duration::from_secs(device_list_max_age_secs),
                })
                .await
            }
            Command::Memory {
                messages,
                accounts,
                size,
                concurrency,
                dir,
                node_bin,
            } => {
                memory::run(memory::Args {
                    messages,
                    accounts,
                    size,
                    concurrency,
                    node_bin,
                    dir,
                })
                .await
            }
            Command::SwarmLookup { nodes, lookups } => lookup::run(lookup::Args { nodes, lookups }),
            Command::Micro { iterations } => micro::run(iterations),
            Command::MessageV2 { iterations, text } => message_v2::run(iterations, text),
            Command::DaemonSend {
                nodes,
                sends,
                dir,
                nightjar_bin,
                node_bin,
            } => {
                daemon_send::run(daemon_send::Args {
                    nodes,
                    sends,
                    nightjar_bin,
                    node_bin,
                    dir,
                })
                .await
            }
            Command::Node {
                config,
                listen,
                admin,
                ports_file,
            } => util::run_node(&config, listen, admin, ports_file.as_deref()).await,
        }
    })
}
