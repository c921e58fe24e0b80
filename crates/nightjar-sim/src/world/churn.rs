//! Registry changes and faults: joins, graceful exits with hand-off,
//! crashes with and without the disk, restarts, a correlated failure, the
//! two-per-swarm test fault and partitions that heal.
//!
//! A registry change is published as a new version; every running node
//! learns it after its own delay (uniform within
//! `--node-registry-delay-s`; a joining node at once), clients later (see
//! `client`). Every change and fault opens a convergence watch (see
//! `audit`).

use nightjar_registry::RegistryEvent;

use super::event::EvKind;
use super::node::Behaviour;
use super::{HOUR_MS, MIN_MS, World};
use crate::SimError;
use crate::rng::derive;

/// How long an exiting node keeps serving (and handing off) after its exit.
const EXIT_LINGER_MS: u64 = 20 * MIN_MS;

impl World {
    pub(super) fn seed_churn(&mut self) {
        self.next_churn(EvKind::Join);
        self.next_churn(EvKind::Exit);
        self.next_churn(EvKind::Crash);
        let at = |h: f64| super::T0 + (h * HOUR_MS as f64) as u64;
        if let Some(h) = self.opts.correlated_failure_at_hour {
            self.schedule(at(h), EvKind::Correlated);
        }
        if let Some(h) = self.opts.kill_two_per_swarm_at_hour {
            self.schedule(at(h), EvKind::KillTwo);
        }
        if let Some(h) = self.opts.partition_at_hour {
            self.schedule(at(h), EvKind::Partition);
        }
    }

    fn next_churn(&mut self, kind: EvKind) {
        let rate = match kind {
            EvKind::Join => self.opts.joins_per_hour,
            EvKind::Exit => self.opts.exits_per_hour,
            _ => self.opts.crashes_per_hour,
        };
        if rate <= 0.0 {
            return;
        }
        let at = self.now + self.churn_rng.exp_ms(HOUR_MS as f64 / rate);
        if at < self.end_traffic_ms {
            self.schedule(at, kind);
        }
    }

    /// Publish the map as a new version and schedule when each running node
    /// learns it (`joined` at once).
    fn new_version(&mut self, joined: Option<u32>) {
        self.push_version();
        let v = self.latest();
        let spread = (self.opts.node_registry_delay_s * 1000.0).max(1000.0) as u64;
        let mut worst = 0;
        for i in 0..self.nodes.len() as u32 {
            if !self.nodes.get(i as usize).is_some_and(|n| n.up) {
                continue;
            }
            let delay = if Some(i) == joined {
                0
            } else {
                derive(
                    self.opts.seed,
                    "node-learn",
                    (u64::from(v) << 32) | u64::from(i),
                ) % spread
            };
            worst = worst.max(delay);
            self.schedule(
                self.now + delay,
                EvKind::NodeLearn {
                    node: i,
                    version: v,
                },
            );
        }
        self.registry_spread_ms = self.registry_spread_ms.max(worst);
        self.open_event();
    }

    fn live(&self, honest_only: bool) -> Vec<u32> {
        (0..self.nodes.len() as u32)
            .filter(|i| {
                self.nodes.get(*i as usize).is_some_and(|n| {
                    n.up && n.registered && (!honest_only || n.behaviour == Behaviour::Honest)
                })
            })
            .collect()
    }

    pub(super) fn join(&mut self) -> Result<(), SimError> {
        let i = self.add_node()?;
        self.counts.joins += 1;
        if let Some(entry) = self.nodes.get(i as usize).map(|n| n.entry.clone()) {
            let ev = RegistryEvent::Join { node: entry };
            self.registry.append(ev.clone())?;
            self.map.apply(&ev)?;
            self.new_version(Some(i));
        }
        self.next_churn(EvKind::Join);
        Ok(())
    }

    pub(super) fn exit(&mut self) -> Result<(), SimError> {
        let live = self.live(true);
        if live.len() > 1 {
            let pick = live
                .get(self.churn_rng.index(live.len()))
                .copied()
                .unwrap_or(0);
            if let Some(n) = self.nodes.get_mut(pick as usize) {
                n.registered = false;
                let ev = RegistryEvent::Exit { id: n.entry.id };
                self.registry.append(ev.clone())?;
                self.map.apply(&ev)?;
                self.counts.exits += 1;
                self.new_version(None);
                self.schedule(self.now + EXIT_LINGER_MS, EvKind::ExitDone { node: pick });
            }
        }
        self.next_churn(EvKind::Exit);
        Ok(())
    }

    pub(super) fn exit_done(&mut self, node: u32) {
        self.stop_node(node, true);
    }

    /// Crash `node` (losing its disk with `disk_loss`); it restarts after
    /// `--restart-after-min` when `restart`.
    fn crash(&mut self, node: u32, disk_loss: bool, restart: bool) {
        if !self.nodes.get(node as usize).is_some_and(|n| n.up) {
            return;
        }
        self.stop_node(node, disk_loss);
        self.counts.crashes += 1;
        if restart {
            let after = (self.opts.restart_after_min * MIN_MS as f64) as u64;
            self.schedule(self.now + after, EvKind::Restart { node });
        }
    }

    pub(super) fn churn_crash(&mut self) {
        let live = self.live(true);
        if !live.is_empty() {
            let pick = live
                .get(self.churn_rng.index(live.len()))
                .copied()
                .unwrap_or(0);
            let loss = self.churn_rng.chance(self.opts.disk_loss_share);
            self.crash(pick, loss, true);
            self.open_event();
        }
        self.next_churn(EvKind::Crash);
    }

    pub(super) fn correlated(&mut self) {
        let mut pool = self.live(false);
        let k = ((pool.len() as f64) * self.opts.correlated_failure_share).round() as usize;
        for _ in 0..k.min(pool.len()) {
            let i = self.fault_rng.index(pool.len());
            let node = pool.swap_remove(i);
            let loss = self.fault_rng.chance(self.opts.disk_loss_share);
            self.crash(node, loss, true);
            self.counts.correlated_crashed += 1;
        }
        self.open_event();
    }

    /// Two running members of every swarm crash and lose their disks, for
    /// good (the test of the write quorum's promise).
    pub(super) fn kill_two(&mut self) {
        for (_, members) in self.map.swarms() {
            let mut ids: Vec<u32> = members
                .iter()
                .filter_map(|m| self.node_by_key.get(m.id.0.as_bytes()).copied())
                .filter(|i| self.nodes.get(*i as usize).is_some_and(|n| n.up))
                .collect();
            for _ in 0..2 {
                if ids.is_empty() {
                    break;
                }
                let i = self.fault_rng.index(ids.len());
                let node = ids.swap_remove(i);
                self.crash(node, true, false);
                self.counts.killed += 1;
            }
        }
        self.open_event();
    }

    pub(super) fn partition(&mut self) {
        self.partitioned = true;
        self.counts.partitions += 1;
        let heal = (self.opts.partition_heal_after_min * MIN_MS as f64) as u64;
        self.schedule(self.now + heal, EvKind::Heal);
    }

    pub(super) fn heal(&mut self) {
        self.partitioned = false;
        self.open_event();
    }
}
