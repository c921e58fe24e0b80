//! Shared helpers for the integration tests: real `nightjar` and
//! `nightjar-node` processes, each test in its own temporary directory,
//! every node binding ports the OS picks (port 0, reported back in a ports
//! file, so no port is released and re-bound), and every child stopped on
//! drop (also on failure).

#![allow(dead_code, clippy::unwrap_used, clippy::expect_used)]

use std::io::Write;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::time::Duration;

use serde_json::Value;

pub const NIGHTJAR: &str = env!("CARGO_BIN_EXE_nightjar");
pub const NIGHTJAR_NODE: &str = env!("CARGO_BIN_EXE_nightjar-node");

/// A `nightjar` command with a clean environment: no inherited profile,
/// network or passphrase, and the node binary of this build.
pub fn nightjar() -> Command {
    let mut cmd = Command::new(NIGHTJAR);
    for var in [
        "NIGHTJAR_PROFILE",
        "NIGHTJAR_NETWORK",
        "NIGHTJAR_PASSPHRASE",
        "NIGHTJAR_LOG",
    ] {
        cmd.env_remove(var);
    }
    cmd.env("NIGHTJAR_NODE_BIN", NIGHTJAR_NODE);
    cmd.stdin(Stdio::null());
    cmd
}

/// Run and require success; returns stdout.
pub fn run_ok(cmd: &mut Command) -> String {
    let out = cmd.output().expect("spawn nightjar");
    check(&out, cmd);
    String::from_utf8(out.stdout).expect("utf-8 stdout")
}

fn check(out: &Output, cmd: &Command) {
    assert!(
        out.status.success(),
        "{cmd:?} failed with {}:\nstdout: {}\nstderr: {}",
        out.status,
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}

/// A devnet of real node processes in a temporary directory; `devnet down`
/// on drop, and SIGKILL to any pid still recorded as a last resort.
pub struct Devnet {
    pub dir: tempfile::TempDir,
}

impl Devnet {
    pub fn up(nodes: usize) -> Devnet {
        Devnet::up_with(nodes, &[])
    }

    /// A devnet whose registry is the staking contract on a local anvil
    /// (what `devnet up` makes by default).
    pub fn up_on_chain(nodes: usize) -> Devnet {
        Devnet::create(nodes, &[])
    }

    /// A devnet with a registry file (`--registry-file`: starts in seconds;
    /// for tests that need no chain) and extra `devnet up` options (e.g.
    /// `--ip-base`).
    pub fn up_with(nodes: usize, extra: &[&str]) -> Devnet {
        let mut args = vec!["--registry-file"];
        args.extend_from_slice(extra);
        Devnet::create(nodes, &args)
    }

    fn create(nodes: usize, extra: &[&str]) -> Devnet {
        let dir = tempfile::Builder::new()
            .prefix("nj-devnet-")
            .tempdir()
            .unwrap();
        let devnet = Devnet { dir };
        devnet.start_with(nodes, extra);
        devnet
    }

    pub fn start(&self, nodes: usize) -> Value {
        self.start_with(nodes, &[])
    }

    fn start_with(&self, nodes: usize, extra: &[&str]) -> Value {
        let out = run_ok(
            nightjar()
                .args(["devnet", "up", "--detach", "--json", "--nodes"])
                .arg(nodes.to_string())
                .args(extra)
                .arg("--dir")
                .arg(self.dir.path()),
        );
        serde_json::from_str(&out).unwrap()
    }

    /// Run `nightjar devnet ARGS --dir DIR` and return its stdout.
    pub fn cmd(&self, args: &[&str]) -> String {
        run_ok(
            nightjar()
                .arg("devnet")
                .args(args)
                .arg("--dir")
                .arg(self.dir.path()),
        )
    }

    /// `devnet status --json`: one object per node.
    pub fn status(&self) -> Vec<Value> {
        let v: Value = serde_json::from_str(&self.cmd(&["status", "--json"])).unwrap();
        v["nodes"].as_array().unwrap().clone()
    }

    /// Devnet index of each node ID (hex).
    pub fn indices(&self) -> std::collections::HashMap<String, usize> {
        self.status()
            .iter()
            .map(|n| {
                (
                    n["node_id"].as_str().unwrap().to_string(),
                    n["index"].as_u64().unwrap() as usize,
                )
            })
            .collect()
    }

    pub fn stop(&self) {
        run_ok(
            nightjar()
                .args(["devnet", "down", "--dir"])
                .arg(self.dir.path()),
        );
    }

    pub fn network(&self) -> PathBuf {
        self.dir.path().join("network.toml")
    }

    fn pids(&self) -> Vec<i32> {
        let Ok(bytes) = std::fs::read(self.dir.path().join("devnet.json")) else {
            return vec![];
        };
        let state: Value = serde_json::from_slice(&bytes).unwrap_or(Value::Null);
        let mut pids: Vec<i32> = state["nodes"]
            .as_array()
            .map(|nodes| {
                nodes
                    .iter()
                    .filter_map(|n| n["pid"].as_i64())
                    .map(|p| p as i32)
                    .collect()
            })
            .unwrap_or_default();
        // A chain devnet's anvil.
        pids.extend(state["chain"]["pid"].as_i64().map(|p| p as i32));
        pids
    }
}

impl Drop for Devnet {
    fn drop(&mut self) {
        let pids = self.pids();
        let _ = nightjar()
            .args(["devnet", "down", "--dir"])
            .arg(self.dir.path())
            .output();
        for pid in pids {
            let _ = nix::sys::signal::kill(
                nix::unistd::Pid::from_raw(pid),
                nix::sys::signal::Signal::SIGKILL,
            );
        }
    }
}

/// A client profile in its own temporary directory.
pub struct TestProfile {
    pub dir: tempfile::TempDir,
    pub network: PathBuf,
    /// The local address the client sends from (`--bind`), if set.
    pub bind: Option<String>,
}

impl TestProfile {
    pub fn new(network: &Path) -> TestProfile {
        TestProfile {
            dir: tempfile::Builder::new()
                .prefix("nj-profile-")
                .tempdir()
                .unwrap(),
            network: network.to_path_buf(),
            bind: None,
        }
    }

    /// A profile whose client sends from `ip`.
    pub fn bound(network: &Path, ip: &str) -> TestProfile {
        let mut p = TestProfile::new(network);
        p.bind = Some(ip.to_string());
        p
    }

    pub fn cmd(&self) -> Command {
        let mut c = nightjar();
        c.arg("--profile")
            .arg(self.dir.path())
            .arg("--network")
            .arg(&self.network);
        if let Some(ip) = &self.bind {
            c.arg("--bind").arg(ip);
        }
        c
    }

    /// `paths --json`: (guards, paths), node IDs in hex.
    pub fn paths(&self) -> (Vec<String>, Vec<Vec<String>>) {
        let v: Value = serde_json::from_str(&run_ok(self.cmd().args(["paths", "--json"]))).unwrap();
        let ids = |v: &Value| -> Vec<String> {
            v.as_array()
                .unwrap()
                .iter()
                .map(|s| s.as_str().unwrap().to_string())
                .collect()
        };
        (
            ids(&v["guards"]),
            v["paths"].as_array().unwrap().iter().map(ids).collect(),
        )
    }

    pub fn create(&self) -> (String, String) {
        let v: Value =
            serde_json::from_str(&run_ok(self.cmd().args(["account", "create", "--json"])))
                .unwrap();
        (
            v["account_id"].as_str().unwrap().to_string(),
            v["mnemonic"].as_str().unwrap().to_string(),
        )
    }

    pub fn restore(&self, mnemonic: &str) -> String {
        let v = self.json_with_stdin(&["account", "restore", "--json"], mnemonic);
        v["account_id"].as_str().unwrap().to_string()
    }

    /// Runs the command with `input` on standard input; it must succeed and
    /// print one JSON object.
    fn json_with_stdin(&self, args: &[&str], input: &str) -> Value {
        let mut child = self
            .cmd()
            .args(args)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        child
            .stdin
            .take()
            .unwrap()
            .write_all(input.as_bytes())
            .unwrap();
        let out = child.wait_with_output().unwrap();
        assert!(
            out.status.success(),
            "{args:?} failed: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        serde_json::from_slice(&out.stdout).unwrap()
    }

    pub fn send(&self, to: &str, text: &str) -> String {
        let v: Value = serde_json::from_str(&run_ok(
            self.cmd()
                .args(["send", to, text, "--ttl", "3600", "--json"]),
        ))
        .unwrap();
        v["message_id"].as_str().unwrap().to_string()
    }

    /// `send TO -` with `text` on standard input; returns the message ID.
    pub fn send_stdin(&self, to: &str, text: &str) -> String {
        let v = self.json_with_stdin(&["send", to, "-", "--ttl", "3600", "--json"], text);
        v["message_id"].as_str().unwrap().to_string()
    }

    pub fn inbox(&self, extra: &[&str]) -> Vec<Value> {
        run_ok(self.cmd().args(["inbox", "--json"]).args(extra))
            .lines()
            .map(|l| serde_json::from_str(l).unwrap())
            .collect()
    }
}

/// GET `path` from an admin address on tokio (HTTP/1.1, `Connection:
/// close`); returns the whole response, status line and headers included.
pub async fn http_get_async(addr: SocketAddr, path: &str) -> String {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let mut s = tokio::net::TcpStream::connect(addr).await.unwrap();
    s.write_all(
        format!("GET {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n\r\n").as_bytes(),
    )
    .await
    .unwrap();
    let mut out = String::new();
    s.read_to_string(&mut out).await.unwrap();
    out
}

/// GET `path` from an admin address (HTTP/1.0, blocking); returns the body.
pub fn http_get(addr: SocketAddr, path: &str) -> String {
    use std::io::Read;
    let mut stream = std::net::TcpStream::connect(addr).unwrap();
    stream
        .set_read_timeout(Some(Duration::from_secs(10)))
        .unwrap();
    stream
        .write_all(format!("GET {path} HTTP/1.0\r\nHost: localhost\r\n\r\n").as_bytes())
        .unwrap();
    let mut response = String::new();
    stream.read_to_string(&mut response).unwrap();
    match response.split_once("\r\n\r\n") {
        Some((head, body)) => {
            assert!(
                head.starts_with("HTTP/1.0 200") || head.starts_with("HTTP/1.1 200"),
                "{head}"
            );
            body.to_string()
        }
        None => panic!("no HTTP body in {response:?}"),
    }
}

/// The `nightjar-node` binary of this build.
fn node_binary() -> nightjar_launch::NodeBinary {
    nightjar_launch::NodeBinary::at(NIGHTJAR_NODE).expect("cargo built nightjar-node")
}

/// Port 0 on loopback: the OS picks, the node reports.
const ANY_PORT: SocketAddr = SocketAddr::new(nightjar_launch::LOOPBACK, 0);

/// A fresh identity written as the key file `data_dir/node.key`; its key.
fn new_key(data_dir: &Path) -> nightjar_crypto::identity::PublicKey {
    let identity = nightjar_crypto::identity::Identity::generate().expect("identity");
    nightjar_launch::write_key(&data_dir.join("node.key"), &identity).expect("write node.key");
    identity.public_key()
}

/// `nightjar-node --listen 127.0.0.1:0 --data-dir DIR --admin 127.0.0.1:0
/// EXTRA --log info --ports-file PORTS` (with `RUST_LOG` removed so `--log`
/// decides), logging to `log`; ready once it reported its ports in `ports`
/// and answers there.
fn node_launch(
    key: nightjar_crypto::identity::PublicKey,
    data_dir: &Path,
    log: &Path,
    ports: &Path,
    extra: &[&str],
) -> nightjar_launch::Launch {
    nightjar_launch::Launch::new(&node_binary(), ANY_PORT, key, log)
        .arg("--listen")
        .arg(ANY_PORT.to_string())
        .arg("--data-dir")
        .arg(data_dir)
        .arg("--admin")
        .arg(ANY_PORT.to_string())
        .args(extra)
        .args(["--log", "info"])
        .env_remove("RUST_LOG")
        .ports_file(ports)
}

/// The QUIC and admin addresses a started node reported.
fn reported(process: &nightjar_launch::NodeProcess) -> (SocketAddr, SocketAddr) {
    (
        process.addr(),
        process
            .admin()
            .expect("the node reported its admin address"),
    )
}

/// One `nightjar-node` process started directly, killed on drop.
pub struct NodeProcess {
    /// The process (declared first, so it is killed before `dir` goes).
    pub process: nightjar_launch::NodeProcess,
    pub dir: tempfile::TempDir,
    pub addr: SocketAddr,
    pub admin: SocketAddr,
    pub key: nightjar_crypto::identity::PublicKey,
}

impl NodeProcess {
    pub fn log_path(&self) -> PathBuf {
        self.dir.path().join("node.log")
    }

    /// Start a node with the given extra flags and wait until it answers.
    pub async fn start(extra: &[&str]) -> NodeProcess {
        let dir = tempfile::Builder::new()
            .prefix("nj-node-")
            .tempdir()
            .unwrap();
        let key = new_key(dir.path());
        let process = node_launch(
            key,
            dir.path(),
            &dir.path().join("node.log"),
            &dir.path().join("node.ports"),
            extra,
        )
        .start()
        .await
        .unwrap_or_else(|e| panic!("{e}"));
        let (addr, admin) = reported(&process);
        NodeProcess {
            process,
            dir,
            addr,
            admin,
            key,
        }
    }
}

/// Every file under `root`, recursively.
pub fn files_under(root: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    let mut stack = vec![root.to_path_buf()];
    while let Some(dir) = stack.pop() {
        let Ok(entries) = std::fs::read_dir(&dir) else {
            continue;
        };
        for e in entries.flatten() {
            let p = e.path();
            if p.is_dir() {
                stack.push(p);
            } else {
                out.push(p);
            }
        }
    }
    out
}

/// One `nightjar-node` process on a data directory the test owns (which may
/// be on a special file system), logging to a file elsewhere (its ports
/// file beside the log); it can be SIGKILLed and restarted on the same
/// directory, ports and key. Killed on drop.
pub struct NodeAt {
    pub process: nightjar_launch::NodeProcess,
    pub data_dir: PathBuf,
    pub log: PathBuf,
    pub addr: SocketAddr,
    pub admin: SocketAddr,
    pub key: nightjar_crypto::identity::PublicKey,
}

impl NodeAt {
    /// Start a node on `data_dir` (key in `data_dir/node.key`), logging to
    /// `log` (appended), with extra flags; wait until it answers.
    pub async fn start(data_dir: &Path, log: &Path, extra: &[&str]) -> NodeAt {
        let key = new_key(data_dir);
        let process = node_launch(key, data_dir, log, &log.with_extension("ports"), extra)
            .start()
            .await
            .unwrap_or_else(|e| panic!("{e}"));
        let (addr, admin) = reported(&process);
        NodeAt {
            process,
            data_dir: data_dir.to_path_buf(),
            log: log.to_path_buf(),
            addr,
            admin,
            key,
        }
    }

    /// The running process's id.
    pub fn pid(&self) -> u32 {
        self.process.pid()
    }

    /// Whether the process is still running.
    pub fn is_running(&mut self) -> bool {
        self.process.is_running()
    }

    /// SIGKILL the node and reap it.
    pub fn kill(&mut self) {
        let _ = self.process.kill();
    }

    /// Start the node again on the same data directory, ports and key.
    pub async fn restart(&mut self) {
        self.process
            .restart()
            .await
            .unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(
            reported(&self.process),
            (self.addr, self.admin),
            "restarted on other ports"
        );
    }

    /// The log so far.
    pub fn log_text(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }
}

/// Unix time in milliseconds.
pub fn unix_now_ms() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_millis() as u64
}

/// Every message hash (hex) the node at `addr` holds for `account`, read
/// page by page (cursor, `more`) with signed retrieves; `None` if the node
/// cannot be reached or does not answer with messages.
pub async fn held_at(
    addr: SocketAddr,
    key: &nightjar_crypto::identity::PublicKey,
    account: &nightjar_crypto::identity::Identity,
) -> Option<std::collections::BTreeSet<String>> {
    let endpoint =
        nightjar_transport::client_endpoint(SocketAddr::from(([127, 0, 0, 1], 0))).ok()?;
    let conn = tokio::time::timeout(
        Duration::from_secs(3),
        nightjar_transport::connect(&endpoint, addr, key),
    )
    .await
    .ok()?
    .ok()?;
    let mut cursor = 0;
    let mut out = std::collections::BTreeSet::new();
    loop {
        let req = nightjar_client::logic::retrieve_request(account, 0, cursor, 0, unix_now_ms());
        let resp = nightjar_transport::request(&conn, &req, Duration::from_secs(10))
            .await
            .ok()?;
        match resp.body {
            nightjar_wire::ResponseBody::Messages {
                messages,
                cursor: next,
                more,
            } => {
                out.extend(messages.iter().map(|m| hex::encode(m.hash)));
                cursor = next;
                if !more {
                    break;
                }
            }
            _ => return None,
        }
    }
    conn.close(0u32.into(), b"done");
    Some(out)
}

/// Every message hash (hex) the registered `node` holds for `account`
/// (see [`held_at`]).
pub async fn held_by(
    node: &nightjar_registry::NodeEntry,
    account: &nightjar_crypto::identity::Identity,
) -> Option<std::collections::BTreeSet<String>> {
    held_at(node.addr, &node.id.0, account).await
}

/// Send raw bytes as one request stream and read the node's response frame.
/// The node may answer (and stop reading) before an oversized frame is fully
/// written, so write errors are ignored.
pub async fn raw_request(conn: &quinn::Connection, bytes: &[u8]) -> nightjar_wire::Response {
    let (mut send, mut recv) = conn.open_bi().await.unwrap();
    let _ = send.write_all(bytes).await;
    let _ = send.finish();
    let resp = tokio::time::timeout(
        Duration::from_secs(10),
        recv.read_to_end(nightjar_wire::MAX_RESPONSE_FRAME),
    )
    .await
    .expect("node answered in time")
    .expect("node answered");
    nightjar_wire::Response::from_frame(&resp).unwrap()
}

/// The error code of a response, if it is an error.
pub fn error_code(resp: &nightjar_wire::Response) -> Option<nightjar_wire::ErrorCode> {
    match &resp.body {
        nightjar_wire::ResponseBody::Error { code, .. } => Some(*code),
        _ => None,
    }
}

/// A store of `data` into `account`'s default namespace.
pub fn store_request(
    account: &nightjar_crypto::identity::Identity,
    data: Vec<u8>,
    ttl_ms: u64,
) -> nightjar_wire::Request {
    nightjar_wire::Request::Store(nightjar_wire::StoreRequest {
        account: nightjar_wire::AccountKey::new(account.public_key().to_bytes()),
        namespace: 0,
        ttl_ms,
        data,
    })
}
