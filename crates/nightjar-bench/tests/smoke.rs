//! Smoke run of each benchmark with tiny sizes: checks the JSON shape and
//! that every figure is positive, never the speed.

#![allow(clippy::unwrap_used)]

#[test]
fn store_benchmark_prints_positive_figures() {
    let dir = tempfile::tempdir().unwrap();
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_nightjar-bench"))
        .args([
            "store",
            "--nodes",
            "3",
            "--messages",
            "20",
            "--concurrency",
            "2",
            "--dir",
        ])
        .arg(dir.path())
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(v["bench"], "store");
    assert_eq!(v["acked"], 20);
    for key in [
        "stores_per_sec",
        "stores_per_cpu_sec",
        "single_node_stores_per_sec",
        "ratio",
        "receipts_per_store",
    ] {
        assert!(v[key].as_f64().unwrap() > 0.0, "{key} in {v}");
    }
    // Three nodes form one swarm; a majority (2) must have signed each store.
    assert!(v["receipts_per_store"].as_f64().unwrap() >= 2.0);
}
