//! Smoke run of each benchmark with small sizes: checks the JSON shape and
//! that every figure is positive, never the speed.
//!
//! A node process's CPU time comes from `/proc/<pid>/stat` in clock ticks
//! (10 ms), so a figure divided by it reads 0 when the process used less
//! than a tick. The runs that measure a node process are sized so that it
//! cannot have: each store or relayed hop costs the node at least one
//! Ed25519 signature or X25519 agreement (tens of µs on any machine this
//! runs on), so 1,000 of them are well over 10 ms.
//!
//! Node processes are this package's own binary (its hidden `node`
//! subcommand runs the node library exactly as `nightjar-node` does), since
//! `cargo test -p nightjar-bench` does not build the `nightjar` package.

#![allow(clippy::unwrap_used)]

use std::process::Command;

const BENCH: &str = env!("CARGO_BIN_EXE_nightjar-bench");

/// Run `nightjar-bench ARGS` (node processes from this binary) in a fresh
/// directory and return its JSON.
fn bench(args: &[&str], dir_flag: bool) -> serde_json::Value {
    let dir = tempfile::tempdir().unwrap();
    let mut cmd = Command::new(BENCH);
    cmd.args(args).env("NIGHTJAR_NODE_BIN", BENCH);
    if dir_flag {
        cmd.arg("--dir").arg(dir.path());
    }
    let out = cmd.output().unwrap();
    assert!(
        out.status.success(),
        "{args:?} failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(!out.stderr.is_empty(), "no human summary on stderr");
    serde_json::from_slice(&out.stdout).unwrap_or_else(|e| {
        panic!(
            "stdout of {args:?} is not one JSON object ({e}): {}",
            String::from_utf8_lossy(&out.stdout)
        )
    })
}

fn assert_positive(v: &serde_json::Value, keys: &[&str]) {
    for key in keys {
        let x = v[key]
            .as_f64()
            .unwrap_or_else(|| panic!("{key} missing in {v}"));
        assert!(x > 0.0 && x.is_finite(), "{key} = {x} in {v}");
    }
}

/// Stores in the store smoke run: each costs the node process a receipt
/// signature, so 1,000 are well over one 10 ms tick of its CPU clock.
const SMOKE_STORES: u64 = 1_000;

#[test]
fn store_benchmark_prints_positive_figures() {
    let v = bench(
        &[
            "store",
            "--nodes",
            "3",
            "--messages",
            &SMOKE_STORES.to_string(),
            "--concurrency",
            "8",
        ],
        true,
    );
    assert_eq!(v["bench"], "store");
    assert_eq!(v["acked"], SMOKE_STORES);
    assert_eq!(v["one_node_process_acked"], SMOKE_STORES);
    assert_eq!(v["circuit_acked"], SMOKE_STORES);
    assert_positive(
        &v,
        &[
            "stores_per_sec",
            "stores_per_cpu_sec",
            "single_node_stores_per_sec",
            "ratio",
            "receipts_per_store",
            "one_node_process_stores_per_sec",
            "one_node_process_stores_per_cpu_sec",
            "sqlite_rows_per_sec",
            "sqlite_rows_per_cpu_sec",
            "ratio_sqlite",
            "circuit_stores_per_sec",
            "circuit_stores_per_cpu_sec",
            "ratio_sqlite_circuit",
            "receipt_signatures_per_store",
            "one_node_process_receipt_signatures_per_store",
            "wal_bytes_per_message",
            "wal_bytes_per_message_schema_v3",
        ],
    );
    // Three nodes form one swarm; a majority (2) must have signed each store.
    assert!(v["receipts_per_store"].as_f64().unwrap() >= 2.0);
    // A node signs at most once per store (once per batch of them): one
    // node's answers carry at most one distinct signature per store, a
    // swarm's at most one per receipt.
    assert!(
        v["one_node_process_receipt_signatures_per_store"]
            .as_f64()
            .unwrap()
            <= 1.0
    );
    assert!(
        v["receipt_signatures_per_store"].as_f64().unwrap()
            <= v["receipts_per_store"].as_f64().unwrap()
    );
}

/// Onion requests through the relay process in the smoke run: each costs
/// the relay an X25519 agreement, so 1,000 are well over one 10 ms tick.
const SMOKE_HOPS: u64 = 1_000;

/// Requests on circuits in the smoke run: a few µs of the relay's CPU each
/// in a release build, so 5,000 are over one 10 ms tick in any build.
const SMOKE_CIRCUIT_REQUESTS: u64 = 5_000;

#[test]
fn onion_hop_benchmark_prints_positive_figures() {
    let v = bench(
        &[
            "onion-hop",
            "--iterations",
            "14",
            "--requests",
            &SMOKE_HOPS.to_string(),
            "--concurrency",
            "8",
            "--circuit-requests",
            &SMOKE_CIRCUIT_REQUESTS.to_string(),
        ],
        true,
    );
    assert_eq!(v["bench"], "onion-hop");
    assert_eq!(v["relayed"], SMOKE_HOPS);
    assert_eq!(v["failed"], 0);
    assert_positive(
        &v,
        &[
            "hops_per_cpu_sec",
            "bound_per_cpu_sec",
            "ratio",
            "x25519_dalek_us",
            "x25519_aws_lc_us",
            "kdf_us",
            "aead_open_aws_lc_us",
            "aead_seal_aws_lc_us",
            "bound_hop_us",
            "framed_hops_per_cpu_sec",
            "relay_hops_per_sec",
            "relay_hops_per_cpu_sec",
            "ratio_networked",
        ],
    );
    // The requests crossed the link in datagrams both ways (concurrent ones
    // may share a datagram, so less than one each is possible).
    let link = &v["client_link_per_request"];
    for key in ["datagrams_to_relay", "datagrams_from_relay"] {
        assert!(link[key].as_f64().is_some_and(|x| x > 0.0), "{key}: {v}");
    }
    // The circuit phase: the same requests on circuits and through the bare
    // UDP relay, every one answered and checked.
    assert_eq!(v["circuit_relayed"], SMOKE_CIRCUIT_REQUESTS);
    assert_eq!(v["circuit_failed"], 0);
    assert_eq!(v["udp_echo_relayed"], SMOKE_CIRCUIT_REQUESTS);
    assert_eq!(v["udp_echo_failed"], 0);
    assert_positive(
        &v,
        &[
            "circuit_requests_per_sec",
            "circuit_requests_per_relay_cpu_sec",
            "circuit_relay_cpu_us_per_request",
            "circuit_cells_to_relay_per_request",
            "circuit_cells_from_relay_per_request",
            "circuit_relay_context_switches_per_request",
            "udp_echo_requests_per_sec",
            "udp_echo_requests_per_relay_cpu_sec",
            "udp_echo_relay_cpu_us_per_request",
            "v1_relay_cpu_us_per_request",
            "ratio_circuit_udp_echo",
            "ratio_circuit_v1_cpu",
        ],
    );
}

#[test]
fn latency_benchmark_prints_positive_figures() {
    let v = bench(
        &[
            "latency",
            "--nodes",
            "5",
            "--messages",
            "3",
            "--warmup",
            "1",
        ],
        true,
    );
    assert_eq!(v["bench"], "latency");
    assert_eq!(v["messages"], 3);
    assert_positive(&v, &["p50_ms", "p90_ms", "p99_ms"]);
    assert!(v["p50_ms"].as_f64() <= v["p99_ms"].as_f64());
    // Mailbox requests went on the sender's circuits (the default).
    assert_eq!(v["circuits"], true);
    assert!(
        v["sender_circuits"]["answered"]
            .as_u64()
            .is_some_and(|n| n > 0),
        "{v}"
    );
}

#[test]
fn memory_benchmark_prints_positive_figures() {
    let v = bench(
        &[
            "memory",
            "--messages",
            "200",
            "--accounts",
            "10",
            "--concurrency",
            "8",
        ],
        true,
    );
    assert_eq!(v["bench"], "memory");
    assert_eq!(v["messages"], 200);
    assert_positive(&v, &["rss_idle_mb", "rss_loaded_mb", "stores_per_sec"]);
}

#[test]
fn swarm_lookup_benchmark_prints_positive_figures() {
    let v = bench(
        &["swarm-lookup", "--nodes", "60", "--lookups", "700"],
        false,
    );
    assert_eq!(v["bench"], "swarm-lookup");
    assert_positive(&v, &["lookup_ns", "baseline_ns", "ratio", "replay_ms"]);
    assert!(v["swarms"].as_u64().unwrap() > 1, "{v}");
}

#[test]
fn micro_benchmarks_print_positive_figures() {
    let v = bench(&["micro", "--iterations", "10"], false);
    assert_eq!(v["bench"], "micro");
    assert_positive(
        &v,
        &[
            "envelope_seal_ns",
            "envelope_open_ns",
            "layer_build_4hop_ns",
            "layer_peel_ns",
            "layer_wrap_ns",
            "registry_replay_2200_ns",
            "swarm_lookup_2200_ns",
        ],
    );
}

/// Every number anywhere in `v` is positive and finite.
fn assert_all_positive(v: &serde_json::Value, path: &str) {
    match v {
        serde_json::Value::Number(x) => {
            let x = x.as_f64().unwrap();
            assert!(x > 0.0 && x.is_finite(), "{path} = {x}");
        }
        serde_json::Value::Object(m) => {
            for (k, x) in m {
                assert_all_positive(x, &format!("{path}.{k}"));
            }
        }
        serde_json::Value::Array(a) => {
            for (i, x) in a.iter().enumerate() {
                assert_all_positive(x, &format!("{path}[{i}]"));
            }
        }
        _ => {}
    }
}

#[test]
fn message_v2_benchmark_prints_positive_figures() {
    let v = bench(&["message-v2", "--iterations", "14", "--text", "10"], false);
    assert_eq!(v["bench"], "message-v2");
    assert_eq!(v["iterations"], 35);
    assert_eq!(v["text_bytes"], 10);
    assert_positive(
        &v,
        &[
            "v1_seal_us",
            "v1_open_us",
            "v1_bytes",
            "plaintext_bytes",
            "v1_padded_bytes",
            "outer_layer_bytes",
        ],
    );
    assert_all_positive(&v, "");
    let ops = v["ops"].as_object().unwrap();
    let names = [
        "first_send",
        "first_send_otk",
        "first_receive",
        "first_receive_otk",
        "ratchet_send",
        "ratchet_receive",
        "step_send",
        "step_receive",
    ];
    assert_eq!(ops.len(), names.len(), "{v}");
    for name in names {
        let op = &ops[name];
        assert_positive(
            op,
            &[
                "cpu_us",
                "bound_us",
                "ratio",
                "vs_v1",
                "bytes",
                "bytes_vs_v1",
                "outer_us",
                "sealed_cpu_us",
                "sealed_vs_v1",
                "sealed_bytes",
                "sealed_bytes_vs_v1",
            ],
        );
        // The bound's parts add up to it.
        let parts: f64 = op["bound_parts_us"]
            .as_object()
            .unwrap()
            .values()
            .map(|x| x.as_f64().unwrap())
            .sum();
        let bound = op["bound_us"].as_f64().unwrap();
        assert!((parts - bound).abs() <= 1e-6 * bound, "{name}: {op}");
        assert!(!op["counts"].as_object().unwrap().is_empty(), "{name}");
        for primitive in op["counts"].as_object().unwrap().keys() {
            assert!(v["primitives_us"][primitive].is_number(), "{primitive}");
        }
        assert_eq!(
            op["sealed_bytes"].as_u64().unwrap(),
            op["bytes"].as_u64().unwrap() + v["outer_layer_bytes"].as_u64().unwrap()
        );
    }
    // Every message's bytes are what the breakdown says they are.
    let n = |x: &serde_json::Value| x.as_u64().unwrap();
    let bytes = |op: &str| n(&ops[op]["bytes"]);
    let b = &v["bytes_breakdown"];
    let ratchet = n(&v["plaintext_bytes"]) + n(&b["ratchet_overhead"]);
    for op in [
        "ratchet_send",
        "ratchet_receive",
        "step_send",
        "step_receive",
    ] {
        assert_eq!(bytes(op), ratchet, "{op}");
    }
    let first = ratchet + n(&b["initial_prefix"]);
    assert_eq!(bytes("first_send"), first);
    assert_eq!(bytes("first_receive"), first);
    assert_eq!(bytes("first_send_otk"), first + n(&b["one_time_prekey_id"]));
    assert_eq!(
        bytes("first_receive_otk"),
        first + n(&b["one_time_prekey_id"])
    );
}

/// `daemon-send` runs the real `nightjar` binary (and its `nightjar-node`),
/// which `cargo test --workspace` builds next to this one; a tiny run on a
/// 5-node devnet checks the shape.
#[test]
fn daemon_send_benchmark_prints_both_kinds_of_send() {
    let target = std::path::Path::new(BENCH).parent().unwrap();
    let nightjar = target.join("nightjar");
    let node = target.join("nightjar-node");
    assert!(
        nightjar.is_file() && node.is_file(),
        "build the nightjar binaries first (cargo build -p nightjar, or cargo test --workspace)"
    );
    let dir = tempfile::tempdir().unwrap();
    let out = Command::new(BENCH)
        .args(["daemon-send", "--nodes", "5", "--sends", "2", "--dir"])
        .arg(dir.path())
        .arg("--nightjar-bin")
        .arg(&nightjar)
        .env("NIGHTJAR_NODE_BIN", &node)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "daemon-send failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(v["bench"], "daemon-send");
    assert_eq!(v["sends"], 2);
    assert_positive(
        &v,
        &[
            "alone_p50_ms",
            "alone_p90_ms",
            "daemon_p50_ms",
            "daemon_p90_ms",
            "speedup_p50",
            "speedup_p90",
        ],
    );
}
