//! The launcher on real processes. A shell script stands in for the node
//! binary (through a symlink named `nightjar-node`), and where a node must
//! answer, one runs inside the test process at the address the launch names
//! (or the script reports in its ports file).

#![allow(clippy::expect_used)]

use std::os::unix::process::ExitStatusExt;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use nightjar_crypto::identity::Identity;
use nightjar_launch::{DetachedNode, LOOPBACK, Launch, LaunchError, NodeBinary, NodeProcess};

/// Runs until SIGTERM, then exits 0; prints `up` once its trap is set.
const RUN: &str = "trap 'exit 0' TERM; echo up; while :; do sleep 0.05; done";
/// Ignores SIGTERM; prints `up` once it does.
const STUBBORN: &str = "trap '' TERM; echo up; while :; do sleep 0.05; done";

/// Wait until the script's trap is in place (it printed `up`).
fn wait_up(process: &NodeProcess) {
    let deadline = Instant::now() + Duration::from_secs(30);
    while process.log_tail(1) != "up" {
        assert!(Instant::now() < deadline, "the script never started");
        std::thread::sleep(Duration::from_millis(10));
    }
}

struct Fake {
    dir: tempfile::TempDir,
    binary: NodeBinary,
}

/// `DIR/nightjar-node`, a symlink to /bin/sh.
fn fake() -> Fake {
    let dir = tempfile::tempdir().expect("tempdir");
    let link = dir.path().join("nightjar-node");
    std::os::unix::fs::symlink("/bin/sh", &link).expect("symlink");
    let binary = NodeBinary::at(&link).expect("the symlink is a file");
    Fake { dir, binary }
}

impl Fake {
    fn config(&self) -> PathBuf {
        self.dir.path().join("node.toml")
    }

    fn log(&self) -> PathBuf {
        self.dir.path().join("node.log")
    }

    /// `nightjar-node -c SCRIPT --config DIR/node.toml`, ready at `addr`.
    fn launch(&self, script: &str, addr: std::net::SocketAddr) -> Launch {
        let key = Identity::generate().expect("identity").public_key();
        Launch::new(&self.binary, addr, key, self.log())
            .args(["-c", script])
            .config_file(self.config())
    }
}

/// A UDP socket that never answers, held for the test's lifetime so that
/// no node can bind its address.
struct Nobody(std::net::UdpSocket);

impl Nobody {
    fn new() -> Nobody {
        Nobody(std::net::UdpSocket::bind((LOOPBACK, 0)).expect("a UDP socket"))
    }

    fn addr(&self) -> std::net::SocketAddr {
        self.0.local_addr().expect("bound")
    }
}

fn gone(pid: u32) -> bool {
    !Path::new(&format!("/proc/{pid}")).exists()
}

/// A real node inside this process (on a port the OS chose); returns it
/// with a launch of `script` that is ready once that node answers.
async fn answering(fake: &Fake, script: &str) -> (nightjar_node::RunningNode, Launch) {
    let identity = Identity::generate().expect("identity");
    let key = identity.public_key();
    let config = nightjar_node::NodeConfig::new(
        std::net::SocketAddr::new(LOOPBACK, 0),
        fake.dir.path().join("data"),
    );
    let node = nightjar_node::start(config, identity)
        .await
        .expect("in-process node");
    let launch = Launch::new(&fake.binary, node.listen, key, fake.log())
        .args(["-c", script])
        .config_file(fake.config());
    (node, launch)
}

/// A script that prints its arguments (`sh -c` makes the first one `$0`),
/// reports `quic` (and its own pid, or `pid` if given) in the ports file
/// the launcher names (`$3`, after `--config FILE --ports-file`), then runs
/// like [`RUN`].
fn reporting(quic: std::net::SocketAddr, pid: Option<u32>) -> String {
    let pid = pid.map_or("$$".to_string(), |p| p.to_string());
    format!(
        "echo \"args: $0 $*\"; printf 'pid = %s\\nquic = \"%s\"\\n' {pid} {quic} > \"$3.tmp\" \
         && mv \"$3.tmp\" \"$3\"; {RUN}"
    )
}

#[tokio::test]
async fn a_process_that_exits_first_is_an_error_with_its_log() {
    let fake = fake();
    let err = fake
        .launch(
            "echo starting; echo 'bad config' >&2; exit 3",
            Nobody::new().addr(),
        )
        .label("node 7")
        .start()
        .await
        .expect_err("it exits");
    match &err {
        LaunchError::Exited {
            label,
            status,
            tail,
            ..
        } => {
            assert_eq!(label, "node 7");
            assert_eq!(status.code(), Some(3));
            assert_eq!(tail, "starting\nbad config");
        }
        other => panic!("wrong error: {other}"),
    }
    assert!(err.to_string().starts_with("node 7 exited"), "{err}");
}

#[tokio::test]
async fn a_process_that_never_answers_times_out_with_its_log() {
    let fake = fake();
    let nobody = Nobody::new();
    let started = Instant::now();
    let err = fake
        .launch(RUN, nobody.addr())
        .ready_timeout(Duration::from_millis(300))
        .start()
        .await
        .expect_err("nobody answers");
    assert!(
        matches!(&err, LaunchError::NotReady { tail, .. } if tail == "up"),
        "{err}"
    );
    assert!(started.elapsed() < Duration::from_secs(10));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ready_restart_stats_and_kill_on_drop() {
    let fake = fake();
    let (node, launch) = answering(&fake, RUN).await;
    let mut process = launch.start().await.expect("ready once the node answers");
    assert!(process.is_running());
    let first = process.pid();
    assert!(process.rss_bytes().expect("rss") > 0);
    assert!(process.peak_rss_bytes().expect("peak") >= process.rss_bytes().expect("rss"));
    assert!(process.cpu_seconds().expect("cpu") >= 0.0);

    process.restart().await.expect("restarted");
    assert_ne!(process.pid(), first);
    assert!(gone(first), "the first process was killed and reaped");
    assert!(process.is_running());
    let deadline = Instant::now() + Duration::from_secs(30);
    while process.log_tail(5) != "up\nup" {
        assert!(Instant::now() < deadline, "the log is appended to");
        std::thread::sleep(Duration::from_millis(10));
    }

    let second = process.pid();
    drop(process);
    assert!(gone(second), "killed and reaped on drop");
    node.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_node_on_port_0_is_asked_where_it_reports_and_restarts_there() {
    let fake = fake();
    let (node, _) = answering(&fake, RUN).await;
    let ports = fake.dir.path().join("node.ports");
    let any_port = std::net::SocketAddr::new(LOOPBACK, 0);
    let key = node.node_key;
    let launch = Launch::new(&fake.binary, any_port, key, fake.log())
        .args(["-c", &reporting(node.listen, None)])
        .config_file(fake.config())
        .ports_file(&ports);
    let mut process = launch.start().await.expect("ready at the reported address");
    assert_eq!(process.addr(), node.listen);
    assert_eq!(process.admin(), None);
    assert_eq!(
        process.reported().map(|r| r.pid),
        Some(process.pid()),
        "the report of the process started"
    );
    let config = fake.config();
    let first_args = format!(
        "args: --config {} --ports-file {}",
        config.display(),
        ports.display()
    );
    assert_eq!(process.log_tail(2), format!("{first_args}\nup"));

    // A restart binds the reported address again, and reports anew.
    process.restart().await.expect("restarted");
    assert_eq!(process.addr(), node.listen);
    assert_eq!(process.reported().map(|r| r.pid), Some(process.pid()));
    let deadline = Instant::now() + Duration::from_secs(30);
    let expected = format!(
        "{first_args}\nup\n{first_args} --listen {}\nup",
        node.listen
    );
    while process.log_tail(4) != expected {
        assert!(
            Instant::now() < deadline,
            "restart arguments: {}",
            process.log_tail(4)
        );
        std::thread::sleep(Duration::from_millis(10));
    }
    drop(process);
    node.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_report_naming_another_process_or_no_report_is_not_ready() {
    let fake = fake();
    let (node, _) = answering(&fake, RUN).await;
    let ports = fake.dir.path().join("node.ports");
    let key = node.node_key;
    let any_port = std::net::SocketAddr::new(LOOPBACK, 0);
    // A stale report (another pid): the node it names answers, but the
    // launcher never asks it.
    let err = Launch::new(&fake.binary, any_port, key, fake.log())
        .args(["-c", &reporting(node.listen, Some(1))])
        .config_file(fake.config())
        .ports_file(&ports)
        .ready_timeout(Duration::from_millis(500))
        .start()
        .await
        .expect_err("not this process's report");
    assert!(matches!(err, LaunchError::NotReady { .. }), "{err}");
    // Port 0 and no ports file: the address cannot be known.
    let err = Launch::new(&fake.binary, any_port, key, fake.log())
        .args(["-c", RUN])
        .config_file(fake.config())
        .start()
        .await
        .expect_err("no address");
    assert!(matches!(err, LaunchError::UnknownAddress { .. }), "{err}");
    node.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn start_all_waits_for_every_node() {
    let fake = fake();
    let (node, launch) = answering(&fake, RUN).await;
    let nodes = Launch::start_all(vec![launch.clone(), launch])
        .await
        .expect("both ready");
    let pids: Vec<u32> = nodes.iter().map(NodeProcess::pid).collect();
    NodeProcess::stop_all(nodes, Duration::from_secs(5));
    assert!(pids.iter().all(|p| gone(*p)));
    node.shutdown().await;
}

#[test]
fn stop_is_sigterm_then_sigkill() {
    let fake = fake();
    let nobody = Nobody::new();
    let mut polite = fake.launch(RUN, nobody.addr()).spawn().expect("spawned");
    wait_up(&polite);
    let status = polite.stop(Duration::from_secs(10)).expect("stopped");
    assert!(status.success(), "{status}");

    std::fs::remove_file(fake.log()).expect("a fresh log");
    let mut stubborn = fake
        .launch(STUBBORN, nobody.addr())
        .spawn()
        .expect("spawned");
    wait_up(&stubborn);
    let started = Instant::now();
    let status = stubborn.stop(Duration::from_millis(300)).expect("stopped");
    assert_eq!(status.signal(), Some(9), "{status}");
    assert!(started.elapsed() >= Duration::from_millis(300));
    assert!(!stubborn.is_running());
}

#[test]
fn a_panicking_owner_still_kills_its_process() {
    let fake = fake();
    let nobody = Nobody::new();
    let launch = fake.launch(RUN, nobody.addr());
    let (tx, rx) = std::sync::mpsc::channel();
    let owner = std::thread::spawn(move || {
        let process = launch.spawn().expect("spawned");
        tx.send(process.pid()).expect("send");
        panic!("a failing test");
    });
    assert!(owner.join().is_err());
    let pid = rx.recv().expect("pid");
    assert!(gone(pid));
}

#[test]
fn a_detached_process_outlives_its_handle_and_is_stopped_by_pid() {
    let fake = fake();
    let nobody = Nobody::new();
    let process = fake
        .launch(RUN, nobody.addr())
        .own_process_group()
        .spawn()
        .expect("spawned");
    wait_up(&process);
    let pid = process.detach();
    let node = DetachedNode::new(pid, fake.config());
    assert!(node.is_running());
    assert_eq!(
        nix::unistd::getpgid(Some(nix::unistd::Pid::from_raw(pid as i32))).ok(),
        Some(nix::unistd::Pid::from_raw(pid as i32)),
        "its own process group"
    );
    assert!(
        !DetachedNode::new(pid, fake.dir.path().join("other.toml")).is_running(),
        "another configuration is another node"
    );
    assert!(!DetachedNode::new(std::process::id(), fake.config()).is_running());
    node.stop(Duration::from_secs(10));
    assert!(!node.is_running());

    std::fs::remove_file(fake.log()).expect("a fresh log");
    let process = fake
        .launch(STUBBORN, nobody.addr())
        .spawn()
        .expect("spawned");
    wait_up(&process);
    let pid = process.detach();
    let node = DetachedNode::new(pid, fake.config());
    node.kill(Duration::from_secs(10));
    assert!(!node.is_running());
}
