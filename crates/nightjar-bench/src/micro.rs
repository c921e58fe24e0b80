//! `micro`: CPU nanoseconds per operation of the building blocks, each the
//! median over rounds on the process CPU clock: envelope seal and open,
//! onion layer build (a client's 4-hop path) and peel (one hop), registry
//! replay of 2,200 nodes, and swarm lookup over them.

use std::hint::black_box;

use anyhow::{Context, bail};
use nightjar_crypto::envelope::{self, Content};
use nightjar_crypto::identity::Identity;
use nightjar_crypto::onion;
use nightjar_registry::SwarmMap;
use nightjar_wire::Request;
use serde_json::json;

use crate::lookup;
use crate::util::cpu_ns_per_op;

const ROUNDS: usize = 5;
const REGISTRY_NODES: usize = 2200;

/// Run the benchmarks (`iterations` calls of each fast operation, a tenth
/// as many registry replays) and print their JSON.
pub fn run(iterations: usize) -> anyhow::Result<()> {
    if iterations == 0 {
        bail!("--iterations must be positive");
    }
    let per_round = (iterations / ROUNDS).max(1);
    let sender = Identity::generate()?;
    let recipient = Identity::generate()?;
    let content = Content {
        text: "a typical short chat message, about a hundred bytes long, in a sealed envelope …"
            .into(),
        sent_at_ms: 1_800_000_000_000,
    };
    let envelope_seal_ns = cpu_ns_per_op(ROUNDS, per_round, |_| {
        black_box(envelope::seal(
            &sender,
            &recipient.public_key(),
            black_box(&content),
        )?);
        Ok(())
    })?;
    let sealed = envelope::seal(&sender, &recipient.public_key(), &content)?;
    let envelope_open_ns = cpu_ns_per_op(ROUNDS, per_round, |_| {
        black_box(envelope::open(&recipient, black_box(&sealed))?);
        Ok(())
    })?;

    // A client's path: guard, two relays, destination; a store-sized frame.
    let path: Vec<Identity> = (0..4)
        .map(|_| Identity::generate())
        .collect::<Result<_, _>>()?;
    let hops: Vec<_> = path.iter().map(|i| (i.public_key(), 10_000)).collect();
    let frame = Request::Info.to_frame();
    let layer_build_4hop_ns = cpu_ns_per_op(ROUNDS, per_round, |_| {
        black_box(onion::build(&hops, black_box(&frame))?);
        Ok(())
    })?;
    let (packet, _) = onion::build(&hops, &frame)?;
    let layer_peel_ns = cpu_ns_per_op(ROUNDS, per_round, |_| {
        black_box(onion::peel(
            &path[0],
            &packet.ephemeral_key,
            black_box(&packet.layer),
        )?);
        Ok(())
    })?;
    // Wrapping the next hop's answer (the size of a final answer in the
    // smallest bucket) consumes the reply key, so peel for the keys first.
    let mut replies = (0..per_round * ROUNDS)
        .map(|_| onion::peel(&path[0], &packet.ephemeral_key, &packet.layer).map(|(_, r)| Some(r)))
        .collect::<Result<Vec<_>, _>>()?;
    let answer = vec![0u8; 1042];
    let layer_wrap_ns = cpu_ns_per_op(ROUNDS, per_round, |i| {
        let reply = replies
            .get_mut(i)
            .and_then(Option::take)
            .context("reply key")?;
        black_box(reply.relayed(black_box(&answer)));
        Ok(())
    })?;

    let registry = lookup::registry_of(REGISTRY_NODES);
    let log = registry.log();
    let registry_replay_2200_ns = cpu_ns_per_op(ROUNDS, (per_round / 10).max(1), |_| {
        black_box(SwarmMap::replay(black_box(&log))?);
        Ok(())
    })?;
    let map = SwarmMap::replay(&log)?;
    let accounts = lookup::accounts(256)?;
    let swarm_lookup_2200_ns = cpu_ns_per_op(ROUNDS, per_round, |i| {
        let a = accounts.get(i % accounts.len()).context("account")?;
        black_box(lookup::lookup(&map, black_box(a))?);
        Ok(())
    })?;

    let out = json!({
        "bench": "micro",
        "iterations": per_round * ROUNDS,
        "envelope_seal_ns": envelope_seal_ns,
        "envelope_open_ns": envelope_open_ns,
        "layer_build_4hop_ns": layer_build_4hop_ns,
        "layer_peel_ns": layer_peel_ns,
        "layer_wrap_ns": layer_wrap_ns,
        "registry_replay_2200_ns": registry_replay_2200_ns,
        "swarm_lookup_2200_ns": swarm_lookup_2200_ns,
    });
    eprintln!(
        "envelope seal {:.1} µs, open {:.1} µs; onion build (4 hops) {:.1} µs, peel {:.1} µs, \
         wrap answer {:.2} µs; registry replay ({REGISTRY_NODES} nodes) {:.2} ms; swarm lookup {:.0} ns",
        envelope_seal_ns / 1e3,
        envelope_open_ns / 1e3,
        layer_build_4hop_ns / 1e3,
        layer_peel_ns / 1e3,
        layer_wrap_ns / 1e3,
        registry_replay_2200_ns / 1e6,
        swarm_lookup_2200_ns,
    );
    println!("{out}");
    Ok(())
}
