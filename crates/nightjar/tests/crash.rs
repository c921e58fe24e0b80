//! Crashes and resource exhaustion on real `nightjar-node` processes: a
//! SIGKILL in the middle of concurrent stores loses nothing acknowledged and
//! leaves a sound database; a full disk refuses stores with `storage_full`
//! while reads keep working, and stores resume once space is freed; a node
//! frozen with SIGSTOP catches up with its swarm after SIGCONT.
//!
//! The full-disk test mounts a small tmpfs, which needs root (CI runs as
//! root). Where that cannot be done it fails, unless
//! `NIGHTJAR_TEST_SKIP_FULL_DISK=1` says to skip it (CI does not set it).

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod support;

use std::collections::BTreeSet;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use nightjar_client::{Client, Profile, logic};
use nightjar_crypto::identity::Identity;
use nightjar_registry::NetworkFile;
use nightjar_wire::{ErrorCode, MessageHash, Request, ResponseBody};
use serde_json::Value;
use support::{Devnet, NodeAt, held_at, held_by, run_ok, unix_now_ms};

const TTL: Duration = Duration::from_secs(3600);

/// `PRAGMA integrity_check` of the node database in `data_dir` (the node
/// must be stopped).
fn integrity_check(data_dir: &Path) -> String {
    let conn = rusqlite::Connection::open(data_dir.join("messages.sqlite")).unwrap();
    let rows: Vec<String> = conn
        .prepare("PRAGMA integrity_check")
        .unwrap()
        .query_map([], |r| r.get(0))
        .unwrap()
        .collect::<Result<_, _>>()
        .unwrap();
    rows.join("\n")
}

async fn connect(node: &NodeAt) -> quinn::Connection {
    let endpoint =
        nightjar_transport::client_endpoint(SocketAddr::from(([127, 0, 0, 1], 0))).unwrap();
    nightjar_transport::connect(&endpoint, node.addr, &node.key)
        .await
        .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn acknowledged_stores_survive_sigkill_and_the_database_checks_out() {
    const TASKS: usize = 8;
    const KILL_AFTER: usize = 300;
    let tmp = tempfile::Builder::new()
        .prefix("nj-crash-")
        .tempdir()
        .unwrap();
    let data_dir = tmp.path().join("data");
    let mut node = NodeAt::start(&data_dir, &tmp.path().join("node.log"), &[]).await;
    let bob = Identity::generate().unwrap();
    let to = bob.account_id();

    // Every hash the node acknowledged, from all tasks.
    let acked: Arc<Mutex<Vec<MessageHash>>> = Arc::default();
    let mut tasks = Vec::new();
    for t in 0..TASKS {
        let conn = connect(&node).await;
        let acked = Arc::clone(&acked);
        // Each task stores one message after the other until the node is
        // gone; it returns the one that got no answer (sent, perhaps
        // stored, never acknowledged).
        tasks.push(tokio::spawn(async move {
            let sender = Identity::generate().unwrap();
            for i in 0.. {
                let prepared = logic::prepare_send(
                    &sender,
                    &to,
                    &format!("task {t} message {i}"),
                    unix_now_ms(),
                    TTL,
                )
                .unwrap();
                match nightjar_transport::request(&conn, &prepared.request, Duration::from_secs(10))
                    .await
                {
                    Ok(resp) => match resp.body {
                        ResponseBody::Stored { hash, .. } => {
                            assert_eq!(hash, prepared.hash, "acknowledged the wrong hash");
                            acked.lock().unwrap().push(prepared.hash);
                        }
                        other => panic!("store {t}/{i} answered {other:?}"),
                    },
                    // The node was killed: this store was in flight.
                    Err(_) => return prepared.hash,
                }
            }
            unreachable!("the loop ends only when the node is gone")
        }));
    }

    // Kill the node: each task always has one store in flight.
    let deadline = Instant::now() + Duration::from_secs(60);
    while acked.lock().unwrap().len() < KILL_AFTER {
        assert!(Instant::now() < deadline, "stores too slow");
        assert!(node.is_running(), "node died: {}", node.log_text());
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    node.kill();
    let mut in_flight = BTreeSet::new();
    for task in tasks {
        in_flight.insert(hex::encode(task.await.unwrap()));
    }
    let acked: BTreeSet<String> = acked.lock().unwrap().iter().map(hex::encode).collect();
    eprintln!(
        "{} stores acknowledged, {} in flight when the node was killed",
        acked.len(),
        in_flight.len()
    );
    assert!(acked.len() >= KILL_AFTER);

    // Restarted on the same directory, port and key: nothing acknowledged is lost.
    node.restart().await;
    let held = held_at(node.addr, &node.key, &bob)
        .await
        .expect("retrieve after restart");
    let lost: Vec<_> = acked.difference(&held).collect();
    assert!(
        lost.is_empty(),
        "{} acknowledged messages lost: {lost:?}",
        lost.len()
    );
    // What is held beyond the acknowledged stores can only be stores that
    // were in flight (each may or may not have been committed).
    let sent: BTreeSet<String> = acked.union(&in_flight).cloned().collect();
    let unknown: Vec<_> = held.difference(&sent).collect();
    assert!(unknown.is_empty(), "held but never sent: {unknown:?}");
    eprintln!(
        "{} messages held after restart ({} of the {} in flight)",
        held.len(),
        held.intersection(&in_flight).count(),
        in_flight.len()
    );

    node.kill();
    assert_eq!(integrity_check(&data_dir), "ok");
}

/// A tmpfs mounted for one test; unmounted on drop (lazily if busy).
struct TmpfsMount {
    path: PathBuf,
}

impl TmpfsMount {
    /// Mounts a tmpfs of `size` (e.g. `"2m"`) at `path`, or says why not.
    fn mount(path: &Path, size: &str) -> Result<TmpfsMount, String> {
        let out = Command::new("mount")
            .args(["-t", "tmpfs", "-o"])
            .arg(format!("size={size},mode=0700"))
            .arg("nightjar-test")
            .arg(path)
            .output()
            .map_err(|e| format!("cannot run mount: {e}"))?;
        if !out.status.success() {
            return Err(format!(
                "mount -t tmpfs failed ({}): {}",
                out.status,
                String::from_utf8_lossy(&out.stderr).trim()
            ));
        }
        Ok(TmpfsMount {
            path: path.to_path_buf(),
        })
    }

    fn resize(&self, size: &str) {
        let out = Command::new("mount")
            .arg("-o")
            .arg(format!("remount,size={size}"))
            .arg(&self.path)
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "remount failed: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
}

impl Drop for TmpfsMount {
    fn drop(&mut self) {
        let ok = Command::new("umount")
            .arg(&self.path)
            .output()
            .is_ok_and(|o| o.status.success());
        if !ok {
            let _ = Command::new("umount").arg("-l").arg(&self.path).output();
        }
    }
}

/// The environment variable that lets the full-disk test be skipped where
/// its tmpfs cannot be mounted (CI never sets it).
const SKIP_FULL_DISK: &str = "NIGHTJAR_TEST_SKIP_FULL_DISK";

/// A tmpfs of `size` at `path` for the full-disk test, or `None` if it
/// cannot be mounted and `NIGHTJAR_TEST_SKIP_FULL_DISK=1` allows skipping;
/// without that, a test that cannot run fails.
fn tmpfs_or_skip(path: &Path, size: &str) -> Option<TmpfsMount> {
    let why = if nix::unistd::geteuid().is_root() {
        match TmpfsMount::mount(path, size) {
            Ok(mount) => return Some(mount),
            Err(why) => why,
        }
    } else {
        "mounting a tmpfs needs root".to_string()
    };
    if std::env::var(SKIP_FULL_DISK).as_deref() == Ok("1") {
        eprintln!("SKIPPED ({SKIP_FULL_DISK}=1): {why}");
        return None;
    }
    panic!(
        "the full-disk test cannot run: {why}. Run the tests as root (CI does), \
         or set {SKIP_FULL_DISK}=1 to skip this test knowingly."
    );
}

/// The error code of a response, if it is an error.
fn error_code(body: &ResponseBody) -> Option<ErrorCode> {
    match body {
        ResponseBody::Error { code, .. } => Some(*code),
        _ => None,
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn full_disk_refuses_stores_keeps_serving_reads_and_recovers() {
    let tmp = tempfile::Builder::new()
        .prefix("nj-full-")
        .tempdir()
        .unwrap();
    let mount_point = tmp.path().join("disk");
    std::fs::create_dir(&mount_point).unwrap();
    // Declared before the node so the node is killed before the unmount.
    let Some(mount) = tmpfs_or_skip(&mount_point, "2m") else {
        return;
    };
    let data_dir = mount_point.join("data");
    // The log lives off the small disk.
    let mut node = NodeAt::start(&data_dir, &tmp.path().join("node.log"), &[]).await;
    let conn = connect(&node).await;
    let sender = Identity::generate().unwrap();
    let bob = Identity::generate().unwrap();
    let to = bob.account_id();
    let text = "x".repeat(6_000);

    let store = |i: usize| {
        logic::prepare_send(&sender, &to, &format!("{i} {text}"), unix_now_ms(), TTL).unwrap()
    };
    let mut acked = BTreeSet::new();
    let mut refusal = None;
    for i in 0..2_000 {
        let prepared = store(i);
        let resp = nightjar_transport::request(&conn, &prepared.request, Duration::from_secs(10))
            .await
            .unwrap_or_else(|e| panic!("store {i} got no answer ({e}): {}", node.log_text()));
        match resp.body {
            ResponseBody::Stored { hash, .. } => {
                assert_eq!(hash, prepared.hash);
                acked.insert(hex::encode(prepared.hash));
            }
            other => {
                refusal = Some((i, other));
                break;
            }
        }
    }
    let (at, refusal) = refusal.expect("a 2 MiB disk never filled up");
    eprintln!(
        "store {at} refused after {} stored: {refusal:?}",
        acked.len()
    );
    assert_eq!(
        error_code(&refusal),
        Some(ErrorCode::StorageFull),
        "a full disk must be storage_full, got {refusal:?}"
    );
    assert!(!acked.is_empty());

    // Still full: more stores are refused the same way, and the node lives.
    for i in 0..5 {
        let resp =
            nightjar_transport::request(&conn, &store(10_000 + i).request, Duration::from_secs(10))
                .await
                .unwrap();
        assert_eq!(
            error_code(&resp.body),
            Some(ErrorCode::StorageFull),
            "got {:?}",
            resp.body
        );
    }
    assert!(node.is_running(), "node died: {}", node.log_text());

    // Reads and info still answer.
    let held = held_at(node.addr, &node.key, &bob)
        .await
        .expect("retrieve on a full disk");
    assert_eq!(held, acked, "a full disk changed what is held");
    let info = nightjar_transport::request(&conn, &Request::Info, Duration::from_secs(5))
        .await
        .unwrap();
    assert!(
        matches!(info.body, ResponseBody::Info { .. }),
        "info on a full disk: {:?}",
        info.body
    );

    // Free space: stores succeed again, without a restart.
    mount.resize("64m");
    let prepared = store(20_000);
    let resp = nightjar_transport::request(&conn, &prepared.request, Duration::from_secs(10))
        .await
        .unwrap();
    assert!(
        matches!(resp.body, ResponseBody::Stored { .. }),
        "store after freeing space: {:?}",
        resp.body
    );
    acked.insert(hex::encode(prepared.hash));
    let held = held_at(node.addr, &node.key, &bob).await.unwrap();
    assert_eq!(held, acked);
    assert!(
        !node.log_text().contains("panicked"),
        "node log has a panic: {}",
        node.log_text()
    );

    node.kill();
    assert_eq!(integrity_check(&data_dir), "ok");
}

/// A process stopped with SIGSTOP; on drop (the test failed) it gets SIGCONT
/// and SIGKILL, so nothing stays frozen.
struct Frozen {
    pid: nix::unistd::Pid,
    armed: bool,
}

impl Frozen {
    fn stop(pid: i32) -> Frozen {
        let pid = nix::unistd::Pid::from_raw(pid);
        nix::sys::signal::kill(pid, nix::sys::signal::Signal::SIGSTOP).unwrap();
        Frozen { pid, armed: true }
    }

    /// SIGCONT; the process is left running.
    fn resume(mut self) {
        nix::sys::signal::kill(self.pid, nix::sys::signal::Signal::SIGCONT).unwrap();
        self.armed = false;
    }
}

impl Drop for Frozen {
    fn drop(&mut self) {
        if self.armed {
            let _ = nix::sys::signal::kill(self.pid, nix::sys::signal::Signal::SIGCONT);
            let _ = nix::sys::signal::kill(self.pid, nix::sys::signal::Signal::SIGKILL);
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_frozen_node_converges_with_its_swarm_after_resume() {
    const FROZEN_FOR: Duration = Duration::from_secs(60);
    // Six nodes: with one frozen, onion paths still find two guards, two
    // relays and a destination.
    let devnet = Devnet::up(6);
    let network = NetworkFile::load(&devnet.network()).unwrap();
    let map = nightjar_client::swarm_map(&network).unwrap();
    let bob = Identity::generate().unwrap();
    let swarm = map.swarm_for_account(&bob.public_key()).unwrap();
    let members = map.members(swarm).unwrap();
    assert_eq!(members.len(), 6, "6 nodes make one swarm");

    // Freeze the member the client tries last, so sends need no failover.
    let order = logic::preference_order(&bob.account_id(), members.clone());
    let victim = order.last().unwrap().clone();
    let status: Value = serde_json::from_str(&run_ok(
        support::nightjar()
            .args(["devnet", "status", "--json", "--dir"])
            .arg(devnet.dir.path()),
    ))
    .unwrap();
    let pid = status["nodes"]
        .as_array()
        .unwrap()
        .iter()
        .find(|n| n["node_id"].as_str() == Some(&victim.id.to_string()))
        .and_then(|n| n["pid"].as_i64())
        .expect("victim's pid in devnet status") as i32;

    let frozen_at = Instant::now();
    let frozen = Frozen::stop(pid);
    let tmp = tempfile::tempdir().unwrap();
    let profile = Profile::create(
        &tmp.path().join("alice"),
        Identity::generate().unwrap(),
        None,
    )
    .unwrap();
    let mut alice = Client::connect(profile, &network, SocketAddr::from(([127, 0, 0, 1], 0)))
        .await
        .unwrap();
    let to = bob.account_id();
    let mut sent = BTreeSet::new();
    for i in 0..30 {
        let s = alice
            .send(&to, &format!("while frozen {i}"), TTL)
            .await
            .unwrap_or_else(|e| panic!("send {i} with one member frozen: {e}"));
        sent.insert(s.message_id);
    }
    assert_eq!(sent.len(), 30);
    eprintln!("30 messages sent in {:?}", frozen_at.elapsed());
    // While it is frozen: every live member comes to hold all 30 (each store
    // was acknowledged by a majority, the entry node replicates to every
    // member and anti-entropy runs every 2 s), and the frozen member answers
    // nothing at all (so the freeze is real).
    let live: Vec<_> = members.iter().filter(|m| m.id != victim.id).collect();
    assert_eq!(live.len(), 5);
    let deadline = Instant::now() + Duration::from_secs(30);
    for m in &live {
        loop {
            let held = held_by(m, &bob).await.expect("a live member answers");
            let missing = sent.difference(&held).count();
            if missing == 0 {
                break;
            }
            assert!(
                Instant::now() < deadline,
                "live member {} still lacks {missing} of 30 while one is frozen",
                m.id
            );
            tokio::time::sleep(Duration::from_millis(250)).await;
        }
    }
    assert!(
        held_by(&victim, &bob).await.is_none(),
        "the frozen member answered a retrieve"
    );

    // Stay frozen for the rest of the minute (the point of the test).
    if let Some(rest) = FROZEN_FOR.checked_sub(frozen_at.elapsed()) {
        tokio::time::sleep(rest).await;
    }
    let resumed_at = Instant::now();
    frozen.resume();

    let limit = Duration::from_secs(60);
    loop {
        let held = held_by(&victim, &bob).await;
        let missing = held
            .as_ref()
            .map_or(sent.len(), |h| sent.difference(h).count());
        if missing == 0 {
            break;
        }
        assert!(
            resumed_at.elapsed() < limit,
            "resumed node still lacks {missing} of 30 after {limit:?} (reachable: {})",
            held.is_some()
        );
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
    eprintln!("resumed node holds all 30 after {:?}", resumed_at.elapsed());
}
