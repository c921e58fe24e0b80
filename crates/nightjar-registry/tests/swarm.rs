//! Properties of the swarm map (see `nightjar_registry::swarm` for the rules
//! and the bounds checked here).

#![allow(clippy::unwrap_used)]

use std::collections::{BTreeMap, BTreeSet};
use std::net::SocketAddr;
use std::sync::OnceLock;

use nightjar_crypto::hash::ring_position;
use nightjar_crypto::identity::{Identity, PublicKey, Seed};
use nightjar_registry::{
    MAX_SWARM_SIZE, MIN_SWARM_SIZE, NodeEntry, NodeId, Registry, RegistryError, RegistryEvent,
    SwarmId, SwarmMap, TARGET_SWARM_SIZE, swarm_members_for_account,
};
use proptest::prelude::*;

/// Accounts sampled to measure how many change swarm.
const ACCOUNTS: usize = 2_000;

fn key(tag: u8, salt: u32, i: u32) -> PublicKey {
    let mut seed = [tag; 32];
    seed[..4].copy_from_slice(&salt.to_le_bytes());
    seed[4..8].copy_from_slice(&i.to_le_bytes());
    Identity::from_seed(Seed::from_bytes(seed)).public_key()
}

fn node(salt: u32, i: u32) -> NodeEntry {
    NodeEntry {
        id: NodeId(key(0x11, salt, i)),
        addr: SocketAddr::from(([10, 0, (i >> 8) as u8, i as u8], 40_000)),
    }
}

/// Fixed pseudo-random accounts: the share of them that moves is then a
/// deterministic function of the swarm count, so the bound checks cannot
/// flake.
fn accounts() -> &'static [(PublicKey, u64)] {
    static ACCOUNTS_CELL: OnceLock<Vec<(PublicKey, u64)>> = OnceLock::new();
    ACCOUNTS_CELL.get_or_init(|| {
        (0..ACCOUNTS as u32)
            .map(|i| {
                let k = key(0xac, 0, i);
                (k, ring_position(&k))
            })
            .collect()
    })
}

fn ids(map: &SwarmMap) -> Vec<SwarmId> {
    map.swarm_ids()
}

/// Brute force: the nearest of `ids` to `pos` (ties: the lower ID).
fn brute_nearest(ids: &[u64], pos: u64) -> u64 {
    ids.iter()
        .copied()
        .min_by_key(|&id| (id.wrapping_sub(pos).min(pos.wrapping_sub(id)), id))
        .unwrap()
}

/// The nearest of the ascending `ids` to `pos` by binary search (ties: the
/// lower ID), for quick reference answers with many IDs.
fn sorted_nearest(ids: &[u64], pos: u64) -> u64 {
    let at = ids.partition_point(|&id| id < pos);
    let after = ids[at % ids.len()];
    let before = ids[(at + ids.len() - 1) % ids.len()];
    let d = |id: u64| id.wrapping_sub(pos).min(pos.wrapping_sub(id));
    (d(after), after).min((d(before), before)).1
}

fn assignment(map: &SwarmMap) -> Vec<Option<SwarmId>> {
    accounts()
        .iter()
        .map(|(_, pos)| map.swarm_for_position(*pos))
        .collect()
}

/// Structural invariants of any map built by the rules.
fn check_invariants(map: &SwarmMap) {
    let nodes = map.nodes();
    let n = nodes.len();
    assert_eq!(n, map.node_count());
    assert!(nodes.windows(2).all(|w| w[0].id < w[1].id), "nodes sorted");
    if let (Some(first), Some(last)) = (nodes.first(), nodes.last()) {
        assert_eq!(map.node(&first.id), Some(first));
        assert_eq!(map.node(&last.id), Some(last));
    }

    // Every node in exactly one swarm; the union is the node set.
    let swarms = map.swarms();
    assert_eq!(swarms.len(), map.swarm_count());
    assert_eq!(
        swarms.iter().map(|(id, _)| *id).collect::<Vec<_>>(),
        ids(map)
    );
    let mut seen = BTreeSet::new();
    for (id, members) in &swarms {
        assert!(!members.is_empty());
        assert!(
            members.windows(2).all(|w| w[0].id < w[1].id),
            "members sorted"
        );
        // The copy-free accessors give the same list.
        assert_eq!(map.member_slice(*id), Some(&members[..]));
        assert_eq!(map.members_shared(*id).as_deref(), Some(&members[..]));
        for m in members {
            assert!(seen.insert(m.id), "{} is in two swarms", m.id);
            assert_eq!(map.swarm_of_node(&m.id), Some(*id));
        }
    }
    assert_eq!(seen, nodes.iter().map(|n| n.id).collect::<BTreeSet<_>>());

    // Sizes.
    if n == 0 {
        assert!(swarms.is_empty());
    } else if n < MIN_SWARM_SIZE {
        assert_eq!(ids(map), vec![SwarmId(0)]);
    } else {
        // With two or more swarms the rules in fact keep them at ≤ 8.
        let most = if swarms.len() >= 2 { 8 } else { MAX_SWARM_SIZE };
        for (id, members) in &swarms {
            assert!(
                (MIN_SWARM_SIZE..=most).contains(&members.len()),
                "swarm {id} has {} members",
                members.len()
            );
        }
    }

    // The IDs are exactly the first S of the canonical sequence, in order.
    let expected: Vec<_> = (0..swarms.len() as u64).map(SwarmId::nth).collect();
    let mut sorted = expected.clone();
    sorted.sort();
    assert_eq!(ids(map), sorted);
}

/// The share of the ring that moves when the swarm count goes between `s`
/// and `s + 1`: 2^-(⌊log2 s⌋ + 1).
fn exact_share(s: usize) -> f64 {
    let k = usize::BITS - 1 - s.leading_zeros();
    1.0 / f64::from(1u32 << (k + 1))
}

/// Sampling tolerance for a share `p` measured over `ACCOUNTS` accounts
/// (4 standard deviations, plus one account).
fn tolerance(p: f64) -> f64 {
    4.0 * (p * (1.0 - p) / ACCOUNTS as f64).sqrt() + 1.0 / ACCOUNTS as f64
}

/// Checks one applied event: nodes moved and accounts moved are within the
/// documented bounds. `old`/`new` are the account assignments.
fn check_transition(
    before: &SwarmMap,
    after: &SwarmMap,
    event: &RegistryEvent,
    old: &[Option<SwarmId>],
    new: &[Option<SwarmId>],
) {
    // Nodes that were there before and after and changed swarm.
    let moved_nodes = before
        .nodes()
        .iter()
        .filter(|n| {
            let a = after.swarm_of_node(&n.id);
            a.is_some() && a != before.swarm_of_node(&n.id)
        })
        .count();
    match event {
        RegistryEvent::Join { .. } => assert!(moved_nodes < MIN_SWARM_SIZE, "{moved_nodes}"),
        RegistryEvent::Exit { .. } => assert!(moved_nodes <= MIN_SWARM_SIZE, "{moved_nodes}"),
        RegistryEvent::Contact { .. } => assert_eq!(moved_nodes, 0),
    }

    let (s0, s1) = (before.swarm_count(), after.swarm_count());
    if s0 == s1 {
        // The ID set (all an account's swarm depends on) is unchanged.
        assert_eq!(ids(before), ids(after));
        assert_eq!(old, new);
        return;
    }
    assert_eq!(
        s0.abs_diff(s1),
        1,
        "one event changes the swarm count by at most one"
    );
    if s0 == 0 || s1 == 0 {
        return; // first swarm created or last one removed
    }
    let small = s0.min(s1);
    let changed = SwarmId::nth(small as u64); // created or retired
    let moved: Vec<_> = (0..ACCOUNTS).filter(|&i| old[i] != new[i]).collect();
    for &i in &moved {
        if s1 > s0 {
            assert_eq!(
                new[i],
                Some(changed),
                "creation only moves accounts into the new swarm"
            );
        } else {
            assert_eq!(
                old[i],
                Some(changed),
                "retirement only moves the retired swarm's accounts"
            );
        }
    }
    let share = moved.len() as f64 / ACCOUNTS as f64;
    // Documented bound: ≤ 1/max(S_before, S_after); exactly 2^-(⌊log2 S⌋+1).
    let bound = 1.0 / s0.max(s1) as f64;
    let p = exact_share(small);
    assert!(p <= bound);
    assert!(
        share <= bound + tolerance(bound),
        "{share} of accounts moved going from {s0} to {s1} swarms (bound {bound})"
    );
    assert!(
        (share - p).abs() <= tolerance(p),
        "{share} moved, expected {p} going from {s0} to {s1} swarms"
    );
}

/// Hysteresis: undoing an event that changed the swarm count (the same node
/// exiting again, or coming back) does not change the count back.
fn check_no_flapping(before: &SwarmMap, after: &SwarmMap, event: &RegistryEvent) {
    let undo = match event {
        RegistryEvent::Join { node } => RegistryEvent::Exit { id: node.id },
        RegistryEvent::Exit { id } => RegistryEvent::Join {
            node: before.node(id).unwrap().clone(),
        },
        // Never changes the swarm count.
        RegistryEvent::Contact { .. } => return,
    };
    let mut undone = after.clone();
    undone.apply(&undo).unwrap();
    if after.node_count() > 0 {
        assert_eq!(
            undone.swarm_count(),
            after.swarm_count(),
            "{event:?} then {undo:?} flaps"
        );
    }
}

#[derive(Debug, Clone)]
enum Op {
    Join(usize),
    Exit(usize),
    /// A join of a present node or an exit of an absent one.
    Invalid(usize),
    /// A present node moves to another address.
    Contact(usize),
}

fn op() -> impl Strategy<Value = (u8, usize)> {
    (0u8..100, any::<usize>())
}

/// A fixed pool of node entries (key generation dominates otherwise).
fn pool() -> &'static [NodeEntry] {
    static POOL_CELL: OnceLock<Vec<NodeEntry>> = OnceLock::new();
    POOL_CELL.get_or_init(|| (0..POOL as u32).map(|i| node(0, i)).collect())
}

/// Nodes in [`pool`]: the most a random log has at once.
const POOL: usize = 200;

/// Runs `grow` joins then `ops` (joins with probability `join_pct`%),
/// checking invariants and bounds after every event; returns the log.
fn run(
    salt: u32,
    grow: usize,
    join_pct: u8,
    ops: &[(u8, usize)],
) -> (SwarmMap, Vec<RegistryEvent>) {
    let pool = pool();
    let mut present: BTreeSet<usize> = BTreeSet::new();
    let mut map = SwarmMap::new();
    let mut log = Vec::new();
    let mut assign = assignment(&map);

    let plan = (0..grow)
        // `salt` shuffles which pool nodes join, and so their ID order.
        .map(|i| {
            Op::Join(((salt as usize) ^ i).wrapping_mul(0x9e37_79b9_7f4a_7c15_u64 as usize) >> 7)
        })
        .chain(ops.iter().map(|&(roll, pick)| {
            if roll >= 97 {
                Op::Invalid(pick)
            } else if roll >= 94 {
                Op::Contact(pick)
            } else if roll < join_pct {
                Op::Join(pick)
            } else {
                Op::Exit(pick)
            }
        }));
    for op in plan {
        let absent: Vec<usize> = (0..POOL).filter(|i| !present.contains(i)).collect();
        let live: Vec<usize> = present.iter().copied().collect();
        let (want_join, pick) = match op {
            Op::Join(pick) => (true, pick),
            Op::Exit(pick) => (false, pick),
            Op::Contact(pick) if !live.is_empty() => {
                let mut node = pool[live[pick % live.len()]].clone();
                node.addr.set_port(40_001 + (pick % 1000) as u16);
                let before = map.clone();
                let event = RegistryEvent::Contact { node: node.clone() };
                map.apply(&event).unwrap();
                log.push(event);
                assert_eq!(map.height(), log.len() as u64);
                check_invariants(&map);
                // Only the address changed: same swarms, same members.
                assert_eq!(map.node(&node.id), Some(&node));
                assert_eq!(map.swarm_ids(), before.swarm_ids());
                for id in before.swarm_ids() {
                    let ids = |m: &SwarmMap| -> Vec<NodeId> {
                        m.members(id).unwrap().iter().map(|n| n.id).collect()
                    };
                    assert_eq!(ids(&map), ids(&before));
                }
                continue;
            }
            Op::Contact(_) => continue,
            Op::Invalid(pick) => {
                let bad = if (pick % 2 == 0 && !live.is_empty()) || absent.is_empty() {
                    RegistryEvent::Join {
                        node: pool[live[pick % live.len()]].clone(),
                    }
                } else {
                    RegistryEvent::Exit {
                        id: pool[absent[pick % absent.len()]].id,
                    }
                };
                let snapshot = map.clone();
                let err = map.apply(&bad).unwrap_err();
                assert!(matches!(
                    err,
                    RegistryError::EventRejected { position, .. } if position == map.height()
                ));
                assert_eq!(map, snapshot, "a rejected event changes nothing");
                continue;
            }
        };
        let event = if (want_join && !absent.is_empty()) || live.is_empty() {
            let i = absent[pick % absent.len()];
            present.insert(i);
            RegistryEvent::Join {
                node: pool[i].clone(),
            }
        } else {
            let i = live[pick % live.len()];
            present.remove(&i);
            RegistryEvent::Exit { id: pool[i].id }
        };
        let before = map.clone();
        map.apply(&event).unwrap();
        log.push(event.clone());
        assert_eq!(map.height(), log.len() as u64);
        check_invariants(&map);
        // The IDs are a function of the swarm count (checked above).
        let next = if before.swarm_count() == map.swarm_count() {
            assign.clone()
        } else {
            assignment(&map)
        };
        check_transition(&before, &map, &event, &assign, &next);
        if before.swarm_count() != map.swarm_count() && before.swarm_count() != 0 {
            check_no_flapping(&before, &map, &event);
        }
        assign = next;
    }
    assert_eq!(
        map.nodes().iter().map(|n| n.id).collect::<BTreeSet<_>>(),
        present.iter().map(|&i| pool[i].id).collect()
    );
    (map, log)
}

proptest! {
    // Modest case counts: the suite should run in seconds in debug builds.
    #![proptest_config(ProptestConfig::with_cases(20))]

    /// Random joins and exits (up to 300 events, up to 200 nodes) keep every
    /// invariant and bound, and the map is a function of the log.
    #[test]
    fn random_logs_keep_invariants_and_replay_identically(
        salt in any::<u32>(),
        grow in 0usize..=150,
        join_pct in 20u8..85,
        ops in prop::collection::vec(op(), 0..=150),
    ) {
        let (map, log) = run(salt, grow, join_pct, &ops);
        // Same log, same map: replayed at once, twice, and through the file.
        let replayed = SwarmMap::replay(&log).unwrap();
        prop_assert_eq!(&replayed, &map);
        prop_assert_eq!(&SwarmMap::replay(&log).unwrap(), &replayed);
        let (genesis, rest) = log.iter().position(|e| !matches!(e, RegistryEvent::Join { .. }))
            .map_or((log.as_slice(), &[][..]), |at| log.split_at(at));
        let registry = Registry {
            network: "prop".into(),
            nodes: genesis.iter().filter_map(|e| match e {
                RegistryEvent::Join { node } => Some(node.clone()),
                RegistryEvent::Exit { .. } | RegistryEvent::Contact { .. } => None,
            }).collect(),
            events: rest.to_vec(),
            chain: None,
        };
        let parsed = Registry::from_toml(&registry.to_toml()).unwrap();
        prop_assert_eq!(&parsed, &registry);
        prop_assert_eq!(parsed.log(), log);
        prop_assert_eq!(&parsed.swarm_map().unwrap(), &map);
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(12))]

    /// Under joins alone, swarms stay between MIN and TARGET once there are
    /// three or more (16 nodes and up).
    #[test]
    fn growth_keeps_swarms_near_target(salt in any::<u32>(), grow in 16usize..=200) {
        let (map, _) = run(salt, grow, 100, &[]);
        let sizes: Vec<_> = map.swarms().iter().map(|(_, m)| m.len()).collect();
        prop_assert!(sizes.iter().all(|&s| (MIN_SWARM_SIZE..=TARGET_SWARM_SIZE).contains(&s)), "{:?}", sizes);
    }
}

/// The exact share moved by each change of swarm count, measured with the
/// sample accounts, for every count up to 300.
#[test]
fn account_share_moved_matches_the_bound_for_each_swarm_count() {
    let positions: Vec<u64> = accounts().iter().map(|(_, p)| *p).collect();
    let mut set = vec![SwarmId::nth(0).0];
    let mut old: Vec<u64> = positions.iter().map(|&p| sorted_nearest(&set, p)).collect();
    for s in 1..300usize {
        let created = SwarmId::nth(s as u64).0;
        let at = set.partition_point(|&id| id < created);
        set.insert(at, created);
        let new: Vec<u64> = positions.iter().map(|&p| sorted_nearest(&set, p)).collect();
        let moved = old.iter().zip(&new).filter(|(a, b)| a != b).count();
        assert!(old.iter().zip(&new).all(|(a, b)| a == b || *b == created));
        let share = moved as f64 / ACCOUNTS as f64;
        let bound = 1.0 / (s + 1) as f64;
        assert!(
            share <= bound + tolerance(bound),
            "{s} → {}: {share} > {bound}",
            s + 1
        );
        assert!((share - exact_share(s)).abs() <= tolerance(exact_share(s)));
        old = new;
    }
}

/// 2,200 nodes: swarm count and sizes, and lookups agree with a brute-force
/// nearest-ID scan for 1,000 random accounts. Then single joins and exits at
/// this size move few nodes and accounts.
#[test]
fn twenty_two_hundred_nodes() {
    const N: u32 = 2_200;
    let log: Vec<_> = (0..N)
        .map(|i| RegistryEvent::Join { node: node(7, i) })
        .collect();
    let mut map = SwarmMap::replay(&log).unwrap();
    check_invariants(&map);
    let sizes: BTreeMap<usize, usize> =
        map.swarms()
            .iter()
            .fold(BTreeMap::new(), |mut acc, (_, m)| {
                *acc.entry(m.len()).or_default() += 1;
                acc
            });
    let s = map.swarm_count();
    // Joins alone keep every swarm within MIN..=TARGET.
    assert!(
        sizes
            .keys()
            .all(|k| (MIN_SWARM_SIZE..=TARGET_SWARM_SIZE).contains(k)),
        "{sizes:?}"
    );
    assert!((N as usize).div_ceil(TARGET_SWARM_SIZE) <= s && s <= N as usize / MIN_SWARM_SIZE);
    assert_eq!(sizes.iter().map(|(k, v)| k * v).sum::<usize>(), N as usize);
    println!("2,200 nodes: {s} swarms, sizes {sizes:?}");

    let ids: Vec<u64> = ids(&map).iter().map(|id| id.0).collect();
    for i in 0..1_000u32 {
        let account = key(0xbb, 0, i);
        let pos = ring_position(&account);
        let brute = brute_nearest(&ids, pos);
        assert_eq!(map.swarm_for_account(&account), Some(SwarmId(brute)));
        let members = swarm_members_for_account(&map, &account);
        assert_eq!(Some(members), map.members(SwarmId(brute)));
    }

    // Joins until a swarm is created, then exits until one is retired.
    let mut assign = assignment(&map);
    let mut next = N;
    let mut created = false;
    while !created {
        let before = map.clone();
        let event = RegistryEvent::Join {
            node: node(7, next),
        };
        next += 1;
        map.apply(&event).unwrap();
        let new = if map.swarm_count() == before.swarm_count() {
            assign.clone()
        } else {
            assignment(&map)
        };
        check_transition(&before, &map, &event, &assign, &new);
        created = map.swarm_count() > before.swarm_count();
        assign = new;
    }
    // Exits (in join order) until a swarm is retired: about 2 per swarm,
    // as every swarm must first be down to MIN. Find how many on a copy, then
    // check every 16th exit and the retiring one in full.
    let exits: Vec<_> = (0..N)
        .map(|i| RegistryEvent::Exit { id: node(7, i).id })
        .collect();
    let mut probe = map.clone();
    let leaving = 1 + exits
        .iter()
        .position(|e| {
            let s = probe.swarm_count();
            probe.apply(e).unwrap();
            probe.swarm_count() < s
        })
        .unwrap();
    for (i, event) in exits[..leaving].iter().enumerate() {
        if i % 16 != 0 && i + 1 != leaving {
            map.apply(event).unwrap();
            continue;
        }
        let before = map.clone();
        map.apply(event).unwrap();
        let new = assignment(&map);
        check_transition(&before, &map, event, &assign, &new);
        assign = new;
    }
    assert_eq!(map, probe);
    assert_eq!(map.swarm_count(), s);
    check_invariants(&map);
    println!(
        "{} joins until a swarm was created, {leaving} exits until one was retired",
        next - N
    );
}
