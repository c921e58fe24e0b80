//! Whole-network behaviour on the simulator, at small sizes: the write
//! quorum's promise under the loss of two members per swarm, lying nodes,
//! a healed partition, churn, and a reproducible trace.

#![allow(clippy::expect_used)]

use clap::Parser;
use nightjar_sim::{Options, Report};

/// A quiet network of `nodes` nodes and `accounts` accounts for `hours`,
/// with no churn unless the extra arguments add some.
fn run(nodes: usize, accounts: usize, hours: f64, extra: &[&str]) -> Report {
    let mut args = vec![
        "nightjar-sim".to_string(),
        format!("--nodes={nodes}"),
        format!("--accounts={accounts}"),
        format!("--hours={hours}"),
        "--joins-per-hour=0".into(),
        "--exits-per-hour=0".into(),
        "--crashes-per-hour=0".into(),
        "--messages-per-account-day=200".into(),
        "--online-share=0.2".into(),
        "--offline-spell-min=20".into(),
        "--audit-sample=0".into(),
    ];
    args.extend(extra.iter().map(|s| s.to_string()));
    let opts = Options::try_parse_from(args).expect("options parse");
    nightjar_sim::run(opts).expect("the run completes")
}

#[test]
fn killing_two_members_of_every_swarm_loses_no_acknowledged_message() {
    let r = run(
        30,
        60,
        1.0,
        &["--crypto=model", "--kill-two-per-swarm-at-hour=0.5"],
    );
    assert!(
        r.acked > 100,
        "too little traffic to mean anything: {}",
        r.acked
    );
    assert!(
        r.counts.killed >= 2 * r.swarm_sizes.swarms.min(1),
        "{:?}",
        r.counts
    );
    assert_eq!(r.acked_lost, 0, "{r:?}");
}

#[test]
fn a_node_that_acknowledges_without_storing_never_causes_a_loss() {
    // Six liars among 30 nodes: most swarms hold one. Their forged
    // receipts must not count toward the quorum, or killing two honest
    // members of a swarm would lose the messages the liar "held".
    let r = run(
        30,
        60,
        1.0,
        &[
            "--crypto=model",
            "--liars=6",
            "--kill-two-per-swarm-at-hour=0.5",
        ],
    );
    assert!(
        r.counts.liar_acks > 0,
        "the liars were never asked: {:?}",
        r.counts
    );
    assert!(r.counts.peer_failures > 0, "no forged receipt was refused");
    assert!(r.acked > 100);
    assert_eq!(r.acked_lost, 0, "{r:?}");
    // With twelve liars most swarms cannot reach a quorum of verified
    // receipts for some writes: those sends must fail, not be acknowledged.
    let many = run(
        30,
        60,
        1.0,
        &[
            "--crypto=model",
            "--liars=12",
            "--kill-two-per-swarm-at-hour=0.5",
        ],
    );
    assert!(many.acked < many.sent, "{:?}", many.counts);
    assert_eq!(many.acked_lost, 0, "{many:?}");
}

#[test]
fn a_healed_partition_converges() {
    let r = run(
        30,
        60,
        1.0,
        &[
            "--crypto=model",
            "--partition-at-hour=0.25",
            "--partition-share=0.4",
            "--partition-heal-after-min=15",
            "--repair-min=30",
        ],
    );
    assert_eq!(r.counts.partitions, 1);
    assert!(r.acked > 100);
    assert_eq!(r.convergence.unconverged_events, 0, "{:?}", r.convergence);
    assert_eq!(r.convergence.missing_at_end, 0, "{:?}", r.convergence);
    assert_eq!(r.acked_lost, 0);
}

#[test]
fn churn_with_crashes_exits_and_joins_loses_nothing_and_converges() {
    let r = run(
        30,
        60,
        2.0,
        &[
            "--crypto=model",
            "--joins-per-hour=4",
            "--exits-per-hour=4",
            "--crashes-per-hour=4",
            "--disk-loss-share=0.5",
            "--restart-after-min=10",
            "--repair-min=40",
        ],
    );
    assert!(
        r.counts.joins + r.counts.exits + r.counts.crashes >= 4,
        "{:?}",
        r.counts
    );
    assert!(r.acked > 100);
    assert_eq!(r.acked_lost, 0, "{r:?}");
    assert_eq!(r.convergence.missing_at_end, 0, "{:?}", r.convergence);
}

#[test]
fn real_crypto_delivers_through_onion_paths_and_the_trace_is_reproducible() {
    let args = ["--crypto=real", "--seed=11", "--droppers=1", "--laggards=1"];
    let a = run(12, 16, 0.25, &args);
    let b = run(12, 16, 0.25, &args);
    assert_eq!(a.trace_hash, b.trace_hash);
    assert_eq!(
        (a.sent, a.acked, a.delivered),
        (b.sent, b.acked, b.delivered)
    );
    assert!(a.counts.onion_attempts > 0);
    assert!(a.delivered > 0, "{a:?}");
    assert_eq!(a.counts.rejected_envelopes, 0);
    assert_eq!(a.acked_lost, 0);
    let other = run(12, 16, 0.25, &["--crypto=real", "--seed=12"]);
    assert_ne!(a.trace_hash, other.trace_hash);
}
