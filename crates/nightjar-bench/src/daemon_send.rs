//! `daemon-send`: how long the one-shot `nightjar send` takes, alone and
//! through a warm `nightjar daemon`, on a devnet of node processes.
//!
//! Runs the real `nightjar` binary throughout: `nightjar devnet up` (a
//! registry-file devnet of `nodes` node processes), two accounts (each
//! publishes its device once with `inbox`, so every send is messages v2),
//! then `sends` timed `nightjar send` processes from Alice to Bob with no
//! daemon (each opens the profile, connects and builds its paths), then
//! Alice's `nightjar daemon`, one untimed send through it to warm it up,
//! and `sends` timed `nightjar send` processes that go through it. A send's
//! time is the whole process, from spawn to exit, as a script sees it.
//! The baseline (alone) and the daemon figures come from the same run.

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::Instant;

use anyhow::{Context, bail};
use serde_json::{Value, json};

use crate::util;

/// Settings of one run.
pub struct Args {
    /// Node processes of the devnet.
    pub nodes: usize,
    /// Timed sends of each kind.
    pub sends: usize,
    /// The `nightjar` binary.
    pub nightjar_bin: Option<PathBuf>,
    /// The `nightjar-node` binary (for the devnet).
    pub node_bin: Option<PathBuf>,
    /// Directory for the devnet and profiles.
    pub dir: Option<PathBuf>,
}

/// The `nightjar` binary: the argument, else `nightjar` next to this one.
fn find_nightjar(arg: Option<&Path>) -> anyhow::Result<PathBuf> {
    if let Some(p) = arg {
        return Ok(p.to_path_buf());
    }
    let me = std::env::current_exe()?;
    let next = me.with_file_name("nightjar");
    if next.is_file() {
        return Ok(next);
    }
    bail!(
        "no nightjar binary next to {} (build it: cargo build -p nightjar); or pass --nightjar-bin / NIGHTJAR_BIN",
        me.display()
    )
}

/// Kills the child (and waits) on drop.
struct Killed(Child);

impl Drop for Killed {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// Stops the devnet on drop.
struct DevnetDown<'a> {
    bin: &'a Path,
    dir: PathBuf,
}

impl Drop for DevnetDown<'_> {
    fn drop(&mut self) {
        let _ = Command::new(self.bin)
            .args(["devnet", "down", "--dir"])
            .arg(&self.dir)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status();
    }
}

/// Runs the command, requires success, returns stdout.
fn run_ok(cmd: &mut Command) -> anyhow::Result<String> {
    let out = cmd.output().with_context(|| format!("spawn {cmd:?}"))?;
    if !out.status.success() {
        bail!(
            "{cmd:?} failed: {}",
            String::from_utf8_lossy(&out.stderr).trim()
        );
    }
    Ok(String::from_utf8(out.stdout)?)
}

/// Runs the benchmark and prints its JSON.
pub async fn run(args: Args) -> anyhow::Result<()> {
    if args.nodes < 5 {
        bail!("--nodes must be at least 5 (an onion path needs them)");
    }
    if args.sends == 0 {
        bail!("--sends must be positive");
    }
    let bin = find_nightjar(args.nightjar_bin.as_deref())?;
    let tmp = util::bench_dir(args.dir.clone())?;
    let dir = tmp.path();
    let devnet = dir.join("devnet");
    let mut up = Command::new(&bin);
    up.args([
        "devnet",
        "up",
        "--detach",
        "--json",
        "--registry-file",
        "--nodes",
    ])
    .arg(args.nodes.to_string())
    .arg("--dir")
    .arg(&devnet)
    .stdin(Stdio::null());
    if let Some(node) = &args.node_bin {
        up.env("NIGHTJAR_NODE_BIN", node);
    }
    let _down = DevnetDown {
        bin: &bin,
        dir: devnet.clone(),
    };
    run_ok(&mut up)?;
    let network = devnet.join("network.toml");
    let cmd = |profile: &Path| {
        let mut c = Command::new(&bin);
        c.arg("--profile")
            .arg(profile)
            .arg("--network")
            .arg(&network)
            .env_remove("NIGHTJAR_PASSPHRASE")
            .env_remove("NIGHTJAR_LOG")
            .stdin(Stdio::null());
        c
    };
    let alice = dir.join("alice");
    let bob = dir.join("bob");
    let mut ids = Vec::new();
    for p in [&alice, &bob] {
        let v: Value =
            serde_json::from_str(&run_ok(cmd(p).args(["account", "create", "--json"]))?)?;
        ids.push(
            v["account_id"]
                .as_str()
                .context("account create printed no account_id")?
                .to_owned(),
        );
        // Publishes the device, so that sends go as v2.
        run_ok(cmd(p).args(["inbox", "--json"]))?;
    }
    let bob_id = ids.get(1).context("two accounts")?.clone();
    let send = |text: String| -> anyhow::Result<f64> {
        let start = Instant::now();
        let out = run_ok(cmd(&alice).args(["send", &bob_id, &text, "--ttl", "3600", "--json"]))?;
        let ms = start.elapsed().as_secs_f64() * 1e3;
        let v: Value = serde_json::from_str(&out)?;
        if v["version"] != 2 {
            bail!("a send went as version {} ({out})", v["version"]);
        }
        Ok(ms)
    };

    let mut alone = Vec::with_capacity(args.sends);
    for i in 0..args.sends {
        alone.push(send(format!("alone {i}"))?);
    }

    let mut child = cmd(&alice)
        .args(["daemon", "--json"])
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()?;
    let stdout = child.stdout.take().context("daemon stdout")?;
    let daemon = Killed(child);
    let mut line = String::new();
    BufReader::new(stdout).read_line(&mut line)?;
    if serde_json::from_str::<Value>(&line).is_err() {
        bail!("the daemon did not start (printed {line:?})");
    }
    send("warm-up".to_owned())?;
    let mut warm = Vec::with_capacity(args.sends);
    for i in 0..args.sends {
        warm.push(send(format!("daemon {i}"))?);
    }
    drop(daemon);

    alone.sort_by(f64::total_cmp);
    warm.sort_by(f64::total_cmp);
    let p = util::percentile;
    let (a50, a90, d50, d90) = (
        p(&alone, 50.0),
        p(&alone, 90.0),
        p(&warm, 50.0),
        p(&warm, 90.0),
    );
    let load = std::fs::read_to_string("/proc/loadavg").unwrap_or_default();
    let out = json!({
        "bench": "daemon-send",
        "nodes": args.nodes,
        "sends": args.sends,
        "alone_p50_ms": a50,
        "alone_p90_ms": a90,
        "daemon_p50_ms": d50,
        "daemon_p90_ms": d90,
        "speedup_p50": a50 / d50,
        "speedup_p90": a90 / d90,
        "loadavg": load.split_whitespace().take(3).collect::<Vec<_>>().join(" "),
    });
    eprintln!(
        "daemon-send: {} nodes, {} sends each: alone p50 {a50:.1} ms p90 {a90:.1} ms; \
         through a warm daemon p50 {d50:.1} ms p90 {d90:.1} ms ({:.1}x at p50)",
        args.nodes,
        args.sends,
        a50 / d50
    );
    println!("{out}");
    Ok(())
}
