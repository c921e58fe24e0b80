//! Launching and supervising real `nightjar-node` processes on this machine.
//!
//! One job: start `nightjar-node` as a separate OS process and manage it
//! until it is gone. `nightjar devnet`, `nightjar-bench` and the `nightjar`
//! integration tests all start their nodes through this crate:
//!
//! - [`NodeBinary`] finds the executable (an explicit path,
//!   `NIGHTJAR_NODE_BIN`, next to the current executable, the Cargo target
//!   directory, `PATH`);
//! - nodes bind port 0 and report the addresses they bound in a ports file
//!   ([`PortsFile`], [`Launch::ports_file`]), which readiness reads: no
//!   port is chosen here and released for the node to bind (another process
//!   could take it in between);
//! - [`write_node_files`] writes what a node needs to start from a
//!   configuration file (its key and `node.toml`);
//! - [`Launch`] describes one process (binary, arguments, log file, the
//!   address and key it will answer on) and spawns it as a [`NodeProcess`]:
//!   an owned child that is killed when the handle is dropped — also when a
//!   test panics — or, with [`NodeProcess::detach`], a process that outlives
//!   this one (a devnet's);
//! - readiness is the node answering an `info` request over QUIC at its
//!   address (the reported one), pinned to its key (no sleeps: a short poll
//!   inside a deadline, and an error with the end of the node's log if it
//!   exits or never answers); [`wait_for_registry`] waits until nodes serve
//!   a registry height (after the caller rewrote their registry file);
//! - graceful stop (SIGTERM, then SIGKILL after a grace period), kill,
//!   restart, the pid, and the process's CPU seconds, RSS and peak RSS from
//!   `/proc`;
//! - [`DetachedNode`] manages a process started by an earlier run by its
//!   recorded pid, checking that the pid still is that node.
//!
//! It is **not** for: running a node inside this process (that is
//! `nightjar_node::start`); choosing a node's settings (callers build the
//! [`nightjar_node::NodeConfig`]); a devnet's state file, registry or
//! network file (the `nightjar` CLI owns those); restarting nodes that
//! crash on their own (there is no supervision loop); or machines other than
//! this one. Linux only: readiness and statistics read `/proc`.

mod binary;
mod detached;
mod error;
mod files;
mod ports;
mod ports_file;
mod proc_stats;
mod process;
mod readiness;
mod signal;

pub use binary::{NODE_BIN_ENV, NODE_BINARY_NAME, NodeBinary, SELF_NODE_SUBCOMMAND};
pub use detached::DetachedNode;
pub use error::LaunchError;
pub use files::{
    CONFIG_FILE, LOG_FILE, NodeFiles, config_file_in, log_file_in, write_key, write_node_files,
};
pub use ports::LOOPBACK;
pub use ports_file::PortsFile;
pub use proc_stats::{cpu_seconds, peak_rss_bytes, rss_bytes};
pub use process::{DEFAULT_READY_TIMEOUT, DEFAULT_STOP_GRACE, Launch, NodeProcess};
pub use readiness::{wait_all_ready, wait_for_registry};
