//! `swarm-lookup` and the registry pieces `micro` shares: a registry of many
//! nodes replayed into a `SwarmMap`, and account → swarm members lookups
//! against a bare binary search over a sorted `Vec<u64>` of the same size.
//!
//! What `lookup_ns` measures, per lookup of one of 1,024 random
//! accounts (cycled, so keys and the map are warm in cache, as on a busy
//! node): [`lookup`], i.e. `SwarmMap::swarm_for_account` (the account's ring
//! position, a keyed BLAKE2b of its key, computed on every call, then the
//! nearest swarm ID) and then the swarm's members as a
//! `SwarmMap::members_shared` handle (an `Arc<[NodeEntry]>` the caller owns:
//! every entry readable, kept valid even if the map changes; the entries are
//! kept ready in the map, so no entry is copied, and dropping the handle
//! is part of the loop). Nothing is cached between lookups outside the map
//! itself. The parts are timed alone too: `ring_position_ns`,
//! `swarm_for_position_ns`, `members_ns` (`members_shared` alone), and
//! `members_copy_ns`: `SwarmMap::members`, the members copied into a new
//! `Vec`, for callers that need an owned, mutable list.

use std::hint::black_box;
use std::net::{Ipv4Addr, SocketAddr};
use std::sync::Arc;
use std::time::Instant;

use anyhow::{Context, bail};
use nightjar_crypto::identity::{Identity, PublicKey, Seed};
use nightjar_registry::{NodeEntry, NodeId, Registry, SwarmMap};
use serde_json::json;

use crate::util::{self, cpu_ns_per_op, cpu_seconds};

/// Settings of one run.
pub struct Args {
    /// Nodes in the registry.
    pub nodes: usize,
    /// Lookups timed (split over rounds).
    pub lookups: usize,
}

const ROUNDS: usize = 7;
/// Distinct random accounts looked up (cycled).
const ACCOUNTS: usize = 1024;

/// `n` node entries with deterministic keys and distinct addresses.
pub fn registry_of(n: usize) -> Registry {
    let nodes = (0..n)
        .map(|i| {
            let mut seed = [0u8; 32];
            seed[..8].copy_from_slice(&(i as u64 + 1).to_le_bytes());
            let id = Identity::from_seed(Seed::from_bytes(seed));
            let ip = Ipv4Addr::from(0x0a00_0000u32 + i as u32 + 1);
            NodeEntry {
                id: NodeId(id.public_key()),
                addr: SocketAddr::from((ip, 22020)),
            }
        })
        .collect();
    Registry::genesis("bench", nodes)
}

/// `n` random account keys.
pub fn accounts(n: usize) -> anyhow::Result<Vec<PublicKey>> {
    (0..n)
        .map(|_| {
            Identity::generate()
                .map(|i| i.public_key())
                .map_err(Into::into)
        })
        .collect()
}

/// Look `account` up as a client or node does: its swarm (ring position
/// and nearest swarm ID), then its members, shared with the map (no entry is
/// copied).
pub fn lookup(map: &SwarmMap, account: &PublicKey) -> anyhow::Result<Arc<[NodeEntry]>> {
    let swarm = map.swarm_for_account(account).context("no swarms")?;
    map.members_shared(swarm).context("swarm without members")
}

/// Run the benchmark and print its JSON.
pub fn run(args: Args) -> anyhow::Result<()> {
    if args.nodes == 0 || args.lookups == 0 {
        bail!("--nodes and --lookups must be positive");
    }
    let registry = registry_of(args.nodes);
    let text = registry.to_toml();
    let log = registry.log();

    // Replay: the log alone, and parsing the registry file's text first (what
    // a node does when the file changes).
    let mut replays = Vec::new();
    let mut parses = Vec::new();
    let mut map = SwarmMap::new();
    for _ in 0..3 {
        let c0 = cpu_seconds()?;
        map = SwarmMap::replay(black_box(&log))?;
        replays.push((cpu_seconds()? - c0) * 1e3);
        let c0 = cpu_seconds()?;
        let parsed = Registry::from_toml(black_box(&text))?;
        black_box(parsed.swarm_map()?);
        parses.push((cpu_seconds()? - c0) * 1e3);
    }
    let replay_ms = util::median(&mut replays);
    let parse_replay_ms = util::median(&mut parses);

    let accounts = accounts(ACCOUNTS)?;
    let positions: Vec<u64> = accounts
        .iter()
        .map(nightjar_crypto::hash::ring_position)
        .collect();
    let mut rng = util::Rng::new(42);
    let mut sorted: Vec<u64> = (0..args.nodes).map(|_| rng.next_u64()).collect();
    sorted.sort_unstable();
    let per_round = (args.lookups / ROUNDS).max(1);

    let t0 = Instant::now();
    let lookup_ns = cpu_ns_per_op(ROUNDS, per_round, |i| {
        black_box(lookup(&map, black_box(&accounts[i % ACCOUNTS]))?);
        Ok(())
    })?;
    let baseline_ns = cpu_ns_per_op(ROUNDS, per_round, |i| {
        black_box(
            sorted
                .binary_search(black_box(&positions[i % ACCOUNTS]))
                .ok(),
        );
        Ok(())
    })?;
    // The parts of a lookup.
    let ring_position_ns = cpu_ns_per_op(ROUNDS, per_round, |i| {
        black_box(nightjar_crypto::hash::ring_position(black_box(
            &accounts[i % ACCOUNTS],
        )));
        Ok(())
    })?;
    let swarm_for_position_ns = cpu_ns_per_op(ROUNDS, per_round, |i| {
        black_box(map.swarm_for_position(black_box(positions[i % ACCOUNTS])));
        Ok(())
    })?;
    let swarms: Vec<_> = positions
        .iter()
        .map(|p| map.swarm_for_position(*p).context("no swarms"))
        .collect::<anyhow::Result<_>>()?;
    let members_ns = cpu_ns_per_op(ROUNDS, per_round, |i| {
        black_box(map.members_shared(black_box(swarms[i % ACCOUNTS])));
        Ok(())
    })?;
    let members_copy_ns = cpu_ns_per_op(ROUNDS, per_round, |i| {
        black_box(map.members(black_box(swarms[i % ACCOUNTS])));
        Ok(())
    })?;
    let elapsed = t0.elapsed();

    let out = json!({
        "bench": "swarm-lookup",
        "nodes": args.nodes,
        "swarms": map.swarm_count(),
        "lookups": per_round * ROUNDS,
        "lookup_ns": lookup_ns,
        "baseline_ns": baseline_ns,
        "ratio": baseline_ns / lookup_ns.max(f64::MIN_POSITIVE),
        "replay_ms": replay_ms,
        "parse_replay_ms": parse_replay_ms,
        "ring_position_ns": ring_position_ns,
        "swarm_for_position_ns": swarm_for_position_ns,
        "members_ns": members_ns,
        "members_copy_ns": members_copy_ns,
    });
    eprintln!(
        "{} nodes in {} swarms: lookup {:.0} ns (ring position {:.0} + nearest swarm {:.0} + members {:.0}; \
         members copied into a Vec {:.0}); \
         binary search over {} u64s {:.1} ns; ratio {:.3}; replay {:.1} ms ({:.1} ms with parsing) [{:.1} s]",
        args.nodes,
        map.swarm_count(),
        lookup_ns,
        ring_position_ns,
        swarm_for_position_ns,
        members_ns,
        members_copy_ns,
        args.nodes,
        baseline_ns,
        baseline_ns / lookup_ns.max(f64::MIN_POSITIVE),
        replay_ms,
        parse_replay_ms,
        elapsed.as_secs_f64(),
    );
    println!("{out}");
    Ok(())
}
