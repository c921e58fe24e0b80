//! The node operator's kit: `nightjar-node keygen` and `check-config`, the
//! example configuration in `contrib/`, and a clean exit on SIGTERM. Every
//! test works in its own temporary directory with ports the OS picked, and
//! stops any node it started, also when it fails.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::os::unix::fs::PermissionsExt;
use std::path::Path;
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

use nightjar_node::NodeConfig;

const NODE: &str = env!("CARGO_BIN_EXE_nightjar-node");
const EXAMPLE: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../../contrib/node.toml");
/// The state directory the example names; tests rewrite it.
const EXAMPLE_STATE: &str = "/var/lib/nightjar";

/// `nightjar-node` with no passphrase or log settings inherited.
fn node() -> Command {
    let mut cmd = Command::new(NODE);
    for var in ["NIGHTJAR_PASSPHRASE", "RUST_LOG"] {
        cmd.env_remove(var);
    }
    cmd.stdin(Stdio::null());
    cmd
}

fn run(cmd: &mut Command) -> Output {
    cmd.output().expect("spawn nightjar-node")
}

fn stdout(out: &Output) -> String {
    String::from_utf8_lossy(&out.stdout).into_owned()
}

fn stderr(out: &Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}

fn assert_ok(out: &Output, what: &str) {
    assert!(
        out.status.success(),
        "{what} failed with {}:\nstdout: {}\nstderr: {}",
        out.status,
        stdout(out),
        stderr(out)
    );
}

/// Exit status 1 and a message on stderr containing every one of `needles`.
fn assert_fails_with(out: &Output, needles: &[&str]) {
    assert_eq!(
        out.status.code(),
        Some(1),
        "expected exit 1:\nstdout: {}\nstderr: {}",
        stdout(out),
        stderr(out)
    );
    let err = stderr(out);
    for needle in needles {
        assert!(err.contains(needle), "stderr lacks {needle:?}: {err}");
    }
}

fn is_node_id(s: &str) -> bool {
    s.len() == 64
        && s.bytes()
            .all(|b| b.is_ascii_hexdigit() && !b.is_ascii_uppercase())
}

fn example_text() -> String {
    std::fs::read_to_string(EXAMPLE).expect("contrib/node.toml")
}

/// The example with its state directory moved to `dir`.
fn example_in(dir: &Path) -> String {
    let state = dir.join("state");
    example_text().replace(EXAMPLE_STATE, state.to_str().unwrap())
}

/// The example with every commented-out `# key = value` line switched on.
fn uncommented(text: &str) -> String {
    text.lines()
        .map(|line| match line.strip_prefix("# ") {
            Some(rest) if is_setting(rest) => rest,
            _ => line,
        })
        .collect::<Vec<_>>()
        .join("\n")
}

/// `key = …` with a lower-case key: a setting rather than prose.
fn is_setting(line: &str) -> bool {
    line.split_once(" = ").is_some_and(|(key, _)| {
        !key.is_empty() && key.bytes().all(|b| b.is_ascii_lowercase() || b == b'_')
    })
}

#[test]
fn example_config_parses() {
    let text = example_text();
    let config = NodeConfig::from_toml(&text).expect("contrib/node.toml parses");
    config.validate().expect("contrib/node.toml is valid");
    // The commented-out settings are valid too.
    let all = NodeConfig::from_toml(&uncommented(&text)).expect("uncommented example parses");
    all.validate().unwrap();
    assert!(all.registry.is_some() && all.write_quorum.is_some());

    // Every key the node knows appears, set or commented out: render a
    // configuration with every optional key set and compare its keys.
    let mut full = NodeConfig::new("127.0.0.1:1".parse().unwrap(), "/d".into());
    full.key_file = Some("/k".into());
    full.admin = Some("127.0.0.1:2".parse().unwrap());
    full.registry = Some("/r".into());
    full.write_quorum = Some(1);
    let documented: Vec<&str> = text
        .lines()
        .map(|l| l.strip_prefix("# ").unwrap_or(l))
        .filter(|l| is_setting(l))
        .filter_map(|l| l.split_once(" = ").map(|(k, _)| k))
        .collect();
    let known: Vec<String> = full
        .to_toml()
        .lines()
        .filter_map(|l| l.split_once(" = ").map(|(k, _)| k.to_string()))
        .collect();
    assert!(known.len() >= 12, "{known:?}");
    for key in &known {
        assert!(
            documented.contains(&key.as_str()),
            "contrib/node.toml does not document `{key}`"
        );
    }
}

#[test]
fn keygen_creates_an_owner_only_key_and_refuses_to_overwrite() {
    let dir = tempfile::tempdir().unwrap();
    let key = dir.path().join("keys").join("node.key");

    let out = run(node()
        .arg("keygen")
        .arg("--key-file")
        .arg(&key)
        .arg("--json"));
    assert_ok(&out, "keygen --json");
    let json: serde_json::Value = serde_json::from_str(stdout(&out).trim()).unwrap();
    let id = json["node_id"].as_str().unwrap().to_string();
    assert!(is_node_id(&id), "{id}");
    let mode = std::fs::metadata(&key).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode, 0o600, "key file mode {mode:o}");
    let before = std::fs::read(&key).unwrap();

    // The node uses that key.
    let out = run(node()
        .args(["--print-node-id", "--listen", "127.0.0.1:1", "--data-dir"])
        .arg(dir.path().join("data"))
        .arg("--key-file")
        .arg(&key));
    assert_ok(&out, "--print-node-id");
    assert_eq!(stdout(&out).trim(), id);

    // A second keygen leaves the identity alone.
    let out = run(node().arg("keygen").arg("--key-file").arg(&key));
    assert_fails_with(&out, &["already exists", "refusing to overwrite"]);
    assert_eq!(std::fs::read(&key).unwrap(), before);

    // Without --json: the bare ID. With a passphrase: needed to open it.
    let locked = dir.path().join("locked.key");
    let out = run(node()
        .env("NIGHTJAR_PASSPHRASE", "correct horse")
        .arg("keygen")
        .arg("--key-file")
        .arg(&locked));
    assert_ok(&out, "keygen with a passphrase");
    let locked_id = stdout(&out).trim().to_string();
    assert!(is_node_id(&locked_id) && locked_id != id, "{locked_id}");
    let print_id = |pass: Option<&str>| {
        let mut cmd = node();
        if let Some(p) = pass {
            cmd.env("NIGHTJAR_PASSPHRASE", p);
        }
        run(cmd
            .args(["--print-node-id", "--listen", "127.0.0.1:1", "--data-dir"])
            .arg(dir.path().join("data"))
            .arg("--key-file")
            .arg(&locked))
    };
    let out = print_id(Some("correct horse"));
    assert_ok(&out, "--print-node-id with the passphrase");
    assert_eq!(stdout(&out).trim(), locked_id);
    assert!(!print_id(None).status.success());
}

#[test]
fn check_config_accepts_the_example_and_rejects_a_bad_one() {
    let dir = tempfile::tempdir().unwrap();
    let text = example_in(dir.path());
    let config = NodeConfig::from_toml(&text).unwrap();
    assert!(config.key_path().starts_with(dir.path()));
    let path = dir.path().join("node.toml");
    let check = |text: &str| {
        std::fs::write(&path, text).unwrap();
        run(node().arg("check-config").arg("--config").arg(&path))
    };

    // No key file yet: refused, with the way out.
    let out = check(&text);
    assert_fails_with(&out, &["no key file", "nightjar-node keygen"]);

    let out = run(node()
        .arg("keygen")
        .arg("--key-file")
        .arg(config.key_path()));
    assert_ok(&out, "keygen");
    let id = stdout(&out).trim().to_string();

    let out = check(&text);
    assert_ok(&out, "check-config of the example");
    let said = stdout(&out);
    for needle in [
        "admin 127.0.0.1:9120 is loopback",
        &id,
        "data_dir",
        "config OK",
    ] {
        assert!(said.contains(needle), "stdout lacks {needle:?}: {said}");
    }
    // It did not start the node (no database) nor leave files behind.
    assert!(!config.db_path().exists());
    let entries: Vec<_> = std::fs::read_dir(&config.data_dir)
        .unwrap()
        .map(|e| e.unwrap().file_name())
        .collect();
    assert_eq!(entries, vec![std::ffi::OsString::from("node.key")]);

    // A registry that lists this node.
    let registry = dir.path().join("registry.toml");
    let pk = nightjar_crypto::identity::PublicKey::from_bytes(
        &hex::decode(&id).unwrap().try_into().unwrap(),
    )
    .unwrap();
    let entry = nightjar_registry::NodeEntry {
        id: nightjar_registry::NodeId(pk),
        addr: config.listen,
    };
    std::fs::write(
        &registry,
        nightjar_registry::Registry::genesis("testnet", vec![entry]).to_toml(),
    )
    .unwrap();
    let with_registry = text.replace(
        "# registry = \"/etc/nightjar/registry.toml\"",
        &format!("registry = {:?}", registry.to_str().unwrap()),
    );
    assert_ne!(with_registry, text);
    let out = check(&with_registry);
    assert_ok(&out, "check-config with a registry");
    assert!(
        stdout(&out).contains("this node is listed"),
        "{}",
        stdout(&out)
    );

    // Bad configurations: exit 1 and say why.
    let public_admin = text.replace("admin = \"127.0.0.1:9120\"", "admin = \"0.0.0.0:9120\"");
    assert_ne!(public_admin, text);
    assert_fails_with(&check(&public_admin), &["admin", "not a loopback address"]);
    let typo = format!("{text}\nlisten_port = 22020\n");
    assert_fails_with(&check(&typo), &["unknown field", "listen_port"]);
    let missing_registry = with_registry.replace("registry.toml", "absent.toml");
    assert_fails_with(&check(&missing_registry), &["registry", "absent.toml"]);
    let zero_batch = text.replace("max_batch = 256", "max_batch = 0");
    assert_fails_with(&check(&zero_batch), &["max_batch"]);
    let file_as_dir = text.replace(
        &format!("data_dir = {:?}", config.data_dir.to_str().unwrap()),
        &format!("data_dir = {:?}", path.to_str().unwrap()),
    );
    assert_fails_with(&check(&file_as_dir), &["data_dir", "not a directory"]);

    // A key encrypted with a passphrase opens only with it.
    let locked = dir.path().join("locked.key");
    let out = run(node()
        .env("NIGHTJAR_PASSPHRASE", "correct horse")
        .arg("keygen")
        .arg("--key-file")
        .arg(&locked));
    assert_ok(&out, "keygen with a passphrase");
    let key_line = format!("key_file = {:?}", config.key_path().to_str().unwrap());
    let locked_text = text.replace(
        &key_line,
        &format!("key_file = {:?}", locked.to_str().unwrap()),
    );
    assert_ne!(locked_text, text);
    assert_fails_with(&check(&locked_text), &["key file", "NIGHTJAR_PASSPHRASE"]);
    let out = run(node()
        .env("NIGHTJAR_PASSPHRASE", "correct horse")
        .arg("check-config")
        .arg("--config")
        .arg(&path));
    assert_ok(&out, "check-config with the passphrase");
    assert_fails_with(
        &run(node()
            .arg("check-config")
            .arg("--config")
            .arg(dir.path().join("none.toml"))),
        &["cannot read config"],
    );
}

/// A node process, killed on drop unless it already exited.
struct Running(Child);

impl Drop for Running {
    fn drop(&mut self) {
        if let Ok(None) = self.0.try_wait() {
            let _ = self.0.kill();
            let _ = self.0.wait();
        }
    }
}

/// `text` without ANSI colour sequences (`ESC [ … m`).
fn strip_ansi(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut chars = text.chars();
    while let Some(c) = chars.next() {
        if c == '\u{1b}' {
            for c in chars.by_ref() {
                if c == 'm' {
                    break;
                }
            }
        } else {
            out.push(c);
        }
    }
    out
}

fn health(admin: SocketAddr) -> Option<String> {
    let mut stream = TcpStream::connect_timeout(&admin, Duration::from_millis(500)).ok()?;
    stream.set_read_timeout(Some(Duration::from_secs(2))).ok()?;
    stream
        .write_all(b"GET /health HTTP/1.0\r\nHost: localhost\r\n\r\n")
        .ok()?;
    let mut answer = String::new();
    stream.read_to_string(&mut answer).ok()?;
    Some(answer)
}

/// Started on port 0 with `--ports-file`, the node reports the ports it
/// bound (and its pid) once it serves, and answers `/health` at the admin
/// address reported; SIGTERM then stops it with status 0.
#[test]
fn node_reports_its_ports_and_exits_cleanly_on_sigterm() {
    use nix::sys::signal::{Signal, kill};
    use nix::unistd::Pid;

    let dir = tempfile::tempdir().unwrap();
    let ports = dir.path().join("node.ports");
    let log = std::fs::File::create(dir.path().join("node.log")).unwrap();
    let child = node()
        .args(["--listen", "127.0.0.1:0", "--admin", "127.0.0.1:0"])
        .arg("--data-dir")
        .arg(dir.path().join("data"))
        .arg("--ports-file")
        .arg(&ports)
        .stdout(Stdio::null())
        .stderr(log)
        .spawn()
        .unwrap();
    let mut node = Running(child);
    let read_log = || std::fs::read_to_string(dir.path().join("node.log")).unwrap_or_default();

    let deadline = Instant::now() + Duration::from_secs(30);
    let report = loop {
        if let Some(report) = nightjar_launch::PortsFile::read(&ports).unwrap() {
            break report;
        }
        if let Ok(Some(status)) = node.0.try_wait() {
            panic!("the node exited early with {status}:\n{}", read_log());
        }
        assert!(
            Instant::now() < deadline,
            "the node never wrote its ports file:\n{}",
            read_log()
        );
        std::thread::sleep(Duration::from_millis(20));
    };
    assert_eq!(report.pid, node.0.id());
    assert_eq!(report.quic.ip(), std::net::Ipv4Addr::LOCALHOST);
    assert_ne!(report.quic.port(), 0);
    let admin: SocketAddr = report.admin.expect("an admin address");
    assert_ne!(admin.port(), 0);
    // The start log names the same port.
    let log_text = strip_ansi(&read_log());
    assert!(
        log_text.contains(&format!("quic_port={}", report.quic.port())),
        "{log_text}"
    );
    loop {
        if let Some(answer) = health(admin)
            && answer.starts_with("HTTP/1.")
            && answer.contains(" 200 ")
            && answer.trim_end().ends_with("ok")
        {
            break;
        }
        if let Ok(Some(status)) = node.0.try_wait() {
            panic!("the node exited early with {status}:\n{}", read_log());
        }
        assert!(
            Instant::now() < deadline,
            "the node never answered /health:\n{}",
            read_log()
        );
        std::thread::sleep(Duration::from_millis(100));
    }

    let pid = Pid::from_raw(i32::try_from(node.0.id()).unwrap());
    kill(pid, Signal::SIGTERM).unwrap();
    let deadline = Instant::now() + Duration::from_secs(10);
    let status = loop {
        if let Some(status) = node.0.try_wait().unwrap() {
            break status;
        }
        assert!(
            Instant::now() < deadline,
            "the node did not exit within 10 s of SIGTERM:\n{}",
            read_log()
        );
        std::thread::sleep(Duration::from_millis(50));
    };
    assert!(
        status.success(),
        "exit status after SIGTERM: {status}\n{}",
        read_log()
    );
    assert!(read_log().contains("shutting down"), "{}", read_log());
    // The database was closed properly and the key persisted.
    assert!(dir.path().join("data").join("node.key").exists());
}
