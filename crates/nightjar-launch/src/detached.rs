//! A node process started (and detached) by an earlier run, known by its
//! recorded pid — a `nightjar-node`, or another program a devnet runs beside
//! its nodes (its chain node, `anvil`).

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use nix::sys::signal::Signal;

use crate::{NODE_BINARY_NAME, proc_stats, signal};

/// Pause between checks whether a signalled process has gone.
const EXIT_POLL: Duration = Duration::from_millis(20);

/// A `nightjar-node` process recorded by pid, started with `--config
/// CONFIG`. Before every signal it checks that the pid still is that node
/// (a live, non-zombie process whose arguments name `nightjar-node` and the
/// configuration file), so a pid reused by another process is never
/// signalled.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DetachedNode {
    pid: u32,
    program: String,
    config: PathBuf,
}

impl DetachedNode {
    /// The process `pid`, which was started with `--config config`.
    pub fn new(pid: u32, config: impl AsRef<Path>) -> DetachedNode {
        DetachedNode::of_program(pid, NODE_BINARY_NAME, config)
    }

    /// The process `pid` of another program (named `program`, e.g.
    /// `anvil`) that was started with `marker` as one of its arguments (a
    /// path that only this process names, such as its state file).
    pub fn of_program(pid: u32, program: &str, marker: impl AsRef<Path>) -> DetachedNode {
        DetachedNode {
            pid,
            program: program.to_owned(),
            config: marker.as_ref().to_path_buf(),
        }
    }

    /// The recorded pid.
    pub fn pid(&self) -> u32 {
        self.pid
    }

    /// Whether the pid is a live process of the program (`nightjar-node`
    /// unless [`DetachedNode::of_program`] named another) with this
    /// configuration (or marker) among its arguments.
    pub fn is_running(&self) -> bool {
        if matches!(proc_stats::state(self.pid), Some('Z' | 'X') | None) {
            return false;
        }
        let Some(args) = proc_stats::cmdline(self.pid) else {
            return false;
        };
        let config = self.config.as_os_str().as_encoded_bytes();
        args.iter().any(|a| a.ends_with(self.program.as_bytes()))
            && args.iter().any(|a| a.as_slice() == config)
    }

    /// Stop it gracefully: SIGTERM, then SIGKILL if it is still running
    /// after `grace`, and wait (up to `grace` again) until it has gone.
    /// Nothing happens if it is not running.
    pub fn stop(&self, grace: Duration) {
        if !self.is_running() {
            return;
        }
        signal::send(self.pid, Signal::SIGTERM);
        if !self.wait_gone(grace) {
            self.kill(grace);
        }
    }

    /// SIGKILL it (a crash) and wait up to `wait` until it has gone.
    /// Nothing happens if it is not running.
    pub fn kill(&self, wait: Duration) {
        if !self.is_running() {
            return;
        }
        signal::send(self.pid, Signal::SIGKILL);
        self.wait_gone(wait);
    }

    /// Whether it went within `limit`.
    fn wait_gone(&self, limit: Duration) -> bool {
        let deadline = Instant::now() + limit;
        loop {
            if !self.is_running() {
                return true;
            }
            if Instant::now() >= deadline {
                return false;
            }
            std::thread::sleep(EXIT_POLL);
        }
    }
}
