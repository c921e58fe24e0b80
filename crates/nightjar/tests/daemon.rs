//! `nightjar daemon` and its JSON-RPC socket on a devnet of real node
//! processes: sending and live subscriptions between two daemons, a
//! one-shot command going through a running daemon, the profile lock,
//! malformed JSON-RPC, contacts.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod support;

use std::io::{BufRead, BufReader, Write};
use std::os::unix::net::UnixStream;
use std::path::PathBuf;
use std::process::{Child, Stdio};
use std::time::{Duration, Instant};

use serde_json::{Value, json};
use support::{Devnet, TestProfile, run_ok};

/// A `nightjar daemon` process, killed on drop.
struct Daemon {
    child: Child,
    socket: PathBuf,
}

impl Daemon {
    /// Starts the daemon and waits for its `{"socket", "account_id"}` line.
    fn start(p: &TestProfile) -> Daemon {
        let mut child = p
            .cmd()
            .args(["daemon", "--json"])
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .unwrap();
        let mut line = String::new();
        BufReader::new(child.stdout.take().unwrap())
            .read_line(&mut line)
            .unwrap();
        let mut daemon = Daemon {
            child,
            socket: PathBuf::new(),
        };
        let v: Value =
            serde_json::from_str(&line).unwrap_or_else(|e| panic!("daemon printed {line:?} ({e})"));
        daemon.socket = PathBuf::from(v["socket"].as_str().unwrap());
        assert_eq!(daemon.socket, p.dir.path().join("daemon.sock"));
        daemon
    }

    fn connect(&self) -> Conn {
        Conn::new(UnixStream::connect(&self.socket).unwrap())
    }
}

impl Drop for Daemon {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A one-shot command's process, killed on drop (a failing test leaves
/// none behind).
struct Running(Child);

impl Running {
    /// Starts `cmd` with its stdout piped.
    fn spawn(cmd: &mut std::process::Command) -> Running {
        Running(
            cmd.stdout(Stdio::piped())
                .stderr(Stdio::piped())
                .spawn()
                .unwrap(),
        )
    }

    /// The next line it prints, as JSON (it must print one).
    fn line(&mut self) -> Value {
        let mut line = String::new();
        BufReader::new(self.0.stdout.as_mut().unwrap())
            .read_line(&mut line)
            .unwrap();
        serde_json::from_str(&line).unwrap_or_else(|e| panic!("printed {line:?} ({e})"))
    }

    /// Waits for it to exit; requires success.
    fn success(mut self) {
        let status = self.0.wait().unwrap();
        let mut err = String::new();
        std::io::Read::read_to_string(self.0.stderr.as_mut().unwrap(), &mut err).unwrap();
        assert!(status.success(), "{status}: {err}");
    }
}

impl Drop for Running {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// Waits (up to a minute) until the daemon behind `c` counts `n` subscribers.
fn await_subscribers(c: &mut Conn, n: u64) {
    let deadline = Instant::now() + Duration::from_secs(60);
    while c.call("status", json!({}))["subscribers"] != n {
        assert!(Instant::now() < deadline, "never {n} subscribers");
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// A blocking JSON-RPC connection: lines out, responses and notifications in.
struct Conn {
    stream: UnixStream,
    reader: BufReader<UnixStream>,
    notifications: Vec<Value>,
    next_id: i64,
}

impl Conn {
    fn new(stream: UnixStream) -> Conn {
        stream
            .set_read_timeout(Some(Duration::from_secs(60)))
            .unwrap();
        Conn {
            reader: BufReader::new(stream.try_clone().unwrap()),
            stream,
            notifications: Vec::new(),
            next_id: 1,
        }
    }

    fn write_line(&mut self, line: &str) {
        self.stream.write_all(line.as_bytes()).unwrap();
        self.stream.write_all(b"\n").unwrap();
    }

    /// The next line from the daemon, as JSON.
    fn read(&mut self) -> Value {
        let mut line = String::new();
        let n = self.reader.read_line(&mut line).unwrap();
        assert!(n > 0, "the daemon closed the connection");
        serde_json::from_str(&line).unwrap()
    }

    /// The next response (notifications before it are kept).
    fn response(&mut self) -> Value {
        loop {
            let v = self.read();
            if v.get("method").is_some() && v.get("id").is_none() {
                self.notifications.push(v);
            } else {
                return v;
            }
        }
    }

    /// Calls `method`; the whole response object.
    fn call_raw(&mut self, method: &str, params: Value) -> Value {
        let id = self.next_id;
        self.next_id += 1;
        let line = json!({"jsonrpc": "2.0", "id": id, "method": method, "params": params});
        self.write_line(&line.to_string());
        let resp = self.response();
        assert_eq!(resp["id"], id, "{resp}");
        resp
    }

    /// Calls `method`; its result (an error fails the test).
    fn call(&mut self, method: &str, params: Value) -> Value {
        let resp = self.call_raw(method, params);
        assert!(resp.get("error").is_none(), "{method} failed: {resp}");
        resp["result"].clone()
    }

    /// Waits (up to `timeout`) for a `message` notification with this text.
    fn wait_message(&mut self, text: &str, timeout: Duration) -> Value {
        let deadline = Instant::now() + timeout;
        loop {
            if let Some(i) = self
                .notifications
                .iter()
                .position(|n| n["params"]["message"]["text"] == text)
            {
                return self.notifications.remove(i);
            }
            assert!(
                Instant::now() < deadline,
                "no notification of {text:?}; got {:?}",
                self.notifications
            );
            let v = self.read();
            assert_eq!(v["method"], "message", "{v}");
            self.notifications.push(v);
        }
    }
}

#[test]
fn messages_flow_through_daemons_and_one_shot_commands_use_a_running_daemon() {
    let devnet = Devnet::up(6);
    let net = devnet.network();
    let alice = TestProfile::new(&net);
    let bob = TestProfile::new(&net);
    let (alice_id, _) = alice.create();
    let (bob_id, _) = bob.create();
    // Both publish their devices once, so that messages go as v2.
    alice.inbox(&[]);
    bob.inbox(&[]);

    let alice_d = Daemon::start(&alice);
    let bob_d = Daemon::start(&bob);
    let mut a = alice_d.connect();
    let mut b = bob_d.connect();
    assert_eq!(a.call("account", json!({}))["account_id"], alice_id);
    let status = b.call("status", json!({}));
    assert_eq!(status["account_id"], bob_id);
    assert!(status["paths"].as_u64().unwrap() > 0, "{status}");

    let a_sub = a.call("subscribe", json!({}))["subscription"].clone();
    let b_sub = b.call("subscribe", json!({}))["subscription"].clone();
    assert_eq!(b.call("status", json!({}))["subscribers"], 1);

    // Through Alice's daemon; Bob's subscription receives it live.
    let sent = a.call(
        "send",
        json!({"to": bob_id, "text": "hello through the daemon", "ttl": 3600}),
    );
    assert_eq!(sent["to"], bob_id);
    assert_eq!(sent["version"], 2);
    let got = b.wait_message("hello through the daemon", Duration::from_secs(60));
    assert_eq!(got["params"]["subscription"], b_sub);
    let m = &got["params"]["message"];
    assert_eq!(m["direction"], "in");
    assert_eq!(m["from"], alice_id);
    assert_eq!(m["peer"], alice_id);
    assert_eq!(m["message_id"], sent["message_id"]);
    assert_eq!(m["read"], false);
    // Alice's own subscriber hears of what she sent.
    let out = a.wait_message("hello through the daemon", Duration::from_secs(10));
    assert_eq!(out["params"]["message"]["direction"], "out");
    assert_eq!(out["params"]["subscription"], a_sub);

    // Bob's inbox through the daemon shows it once; his history keeps it.
    let inbox = b.call("inbox", json!({}));
    assert_eq!(inbox.as_array().unwrap().len(), 1, "{inbox}");
    assert_eq!(inbox[0]["text"], "hello through the daemon");
    assert_eq!(b.call("inbox", json!({})), json!([]));
    let history = b.call("history", json!({"peer": alice_id}));
    assert_eq!(history[0]["text"], "hello through the daemon");

    // A one-shot `send` while Alice's daemon runs goes through it: her
    // subscriber gets the `out` notification of that very message.
    let id = alice.send(&bob_id, "one-shot via the daemon");
    let out = a.wait_message("one-shot via the daemon", Duration::from_secs(10));
    assert_eq!(out["params"]["message"]["message_id"], id);
    assert_eq!(out["params"]["message"]["direction"], "out");
    b.wait_message("one-shot via the daemon", Duration::from_secs(60));
    // …and so does a one-shot `inbox` on Bob's side.
    let shown = bob.inbox(&[]);
    assert_eq!(shown.len(), 1, "{shown:?}");
    assert_eq!(shown[0]["text"], "one-shot via the daemon");
    assert_eq!(shown[0]["from"], alice_id);

    // `inbox --wait` through the daemon subscribes on the connection that
    // found it and prints the message that arrives while it waits.
    let mut waiting = Running::spawn(bob.cmd().args(["inbox", "--wait", "120", "--json"]));
    await_subscribers(&mut b, 2);
    alice.send(&bob_id, "while inbox waits");
    let got = waiting.line();
    assert_eq!(got["text"], "while inbox waits", "{got}");
    assert_eq!(got["from"], alice_id);
    waiting.success();
    b.wait_message("while inbox waits", Duration::from_secs(60));
    // `watch` likewise, until it is told to stop.
    await_subscribers(&mut b, 1);
    let mut watching = Running::spawn(bob.cmd().args(["watch", "--json"]));
    await_subscribers(&mut b, 2);
    alice.send(&bob_id, "while watch runs");
    let got = watching.line();
    assert_eq!(got["text"], "while watch runs", "{got}");
    let pid = nix::unistd::Pid::from_raw(i32::try_from(watching.0.id()).unwrap());
    nix::sys::signal::kill(pid, nix::sys::signal::Signal::SIGTERM).unwrap();
    watching.success();
    b.wait_message("while watch runs", Duration::from_secs(60));

    // A command that cannot go through the daemon is refused, clearly.
    let out = alice.cmd().args(["paths", "--json"]).output().unwrap();
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("daemon") && err.contains("daemon.sock"),
        "{err}"
    );

    // A second daemon on the same profile is refused, naming the first.
    let out = alice.cmd().args(["daemon", "--json"]).output().unwrap();
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    let pid = alice_d.child.id().to_string();
    assert!(
        err.contains("already serves this profile")
            && err.contains(&pid)
            && err.contains("daemon.sock"),
        "{err}"
    );
    // The first keeps serving.
    assert_eq!(a.call("account", json!({}))["account_id"], alice_id);
    assert_eq!(
        a.call("unsubscribe", json!({"subscription": a_sub})),
        json!({"unsubscribed": true})
    );
}

#[test]
fn malformed_json_rpc_gets_error_objects_and_the_daemon_keeps_serving() {
    let devnet = Devnet::up(5);
    let alice = TestProfile::new(&devnet.network());
    let (alice_id, _) = alice.create();
    let d = Daemon::start(&alice);
    let mut c = d.connect();

    let expect_error = |c: &mut Conn, line: &str, code: i64| {
        c.write_line(line);
        let r = c.response();
        assert_eq!(r["jsonrpc"], "2.0", "{r}");
        assert_eq!(r["error"]["code"], code, "{line} → {r}");
        assert!(
            r["error"]["message"]
                .as_str()
                .is_some_and(|m| !m.is_empty())
        );
        r
    };
    let r = expect_error(&mut c, "this is not json", -32700);
    assert_eq!(r["id"], Value::Null);
    expect_error(
        &mut c,
        r#"[{"jsonrpc":"2.0","id":1,"method":"account"}]"#,
        -32600,
    );
    expect_error(&mut c, r#"{"jsonrpc":"2.0","id":2,"method":7}"#, -32600);
    let r = expect_error(
        &mut c,
        r#"{"jsonrpc":"2.0","id":3,"method":"no.such"}"#,
        -32601,
    );
    assert_eq!(r["id"], 3);
    let r = expect_error(
        &mut c,
        r#"{"jsonrpc":"2.0","id":4,"method":"send","params":{"to":5,"text":[]}}"#,
        -32602,
    );
    assert_eq!(r["id"], 4);
    expect_error(
        &mut c,
        r#"{"jsonrpc":"2.0","id":5,"method":"history","params":{"peer":"nobody"}}"#,
        -32001,
    );
    // A valid call afterwards, on the same connection, works.
    assert_eq!(c.call("account", json!({}))["account_id"], alice_id);

    // An over-long line gets an error and its connection is closed; the
    // daemon serves others.
    let mut long = d.connect();
    let big = vec![b'x'; (1 << 20) + 16];
    long.stream.write_all(&big).unwrap();
    long.stream.write_all(b"\n").unwrap();
    let r = long.response();
    assert_eq!(r["error"]["code"], -32600, "{r}");
    let mut rest = String::new();
    assert_eq!(long.reader.read_line(&mut rest).unwrap_or(0), 0, "{rest}");
    let mut again = d.connect();
    assert_eq!(again.call("account", json!({}))["account_id"], alice_id);
    assert_eq!(c.call("account", json!({}))["account_id"], alice_id);
}

#[test]
fn contacts_round_trip_through_the_daemon_and_name_messages() {
    let devnet = Devnet::up(5);
    let net = devnet.network();
    let alice = TestProfile::new(&net);
    let bob = TestProfile::new(&net);
    alice.create();
    let (bob_id, _) = bob.create();
    let d = Daemon::start(&alice);
    let mut c = d.connect();

    assert_eq!(c.call("contact.list", json!({})), json!([]));
    let added = c.call("contact.add", json!({"name": "bob", "account_id": bob_id}));
    assert_eq!(added, json!({"name": "bob", "account_id": bob_id}));
    let dup = c.call_raw("contact.add", json!({"name": "bob", "account_id": bob_id}));
    assert_eq!(dup["error"]["code"], -32002, "{dup}");
    // A bad Account ID: the daemon says what is wrong and what one looks
    // like, and the one-shot command through it prints that.
    let bad = c.call_raw(
        "contact.add",
        json!({"name": "carol", "account_id": "nj1nope"}),
    );
    assert_eq!(bad["error"]["code"], -32602, "{bad}");
    let why = bad["error"]["message"].as_str().unwrap();
    for part in [
        "\"nj1nope\" is not a valid Account ID: not a well-formed Account ID",
        "an Account ID is `nj1` followed by 58 letters and digits",
    ] {
        assert!(why.contains(part), "{why}");
    }
    let out = alice
        .cmd()
        .args(["contact", "add", "carol", "nj1nope"])
        .output()
        .unwrap();
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains(why), "{stderr}");
    assert_eq!(
        c.call("contact.list", json!({})),
        json!([{"name": "bob", "account_id": bob_id}])
    );
    // A timer set by contact name resolves to the Account ID.
    let t = c.call(
        "timer.set",
        json!({"peer": "bob", "duration_ms": 60_000, "after": "read"}),
    );
    assert_eq!(
        t,
        json!({"peer": bob_id, "duration_ms": 60_000, "after": "read"})
    );
    // The one-shot `contact list` goes through the daemon too.
    let listed = run_ok(alice.cmd().args(["contact", "list", "--json"]));
    assert!(listed.contains(&bob_id), "{listed}");

    let removed = c.call("contact.remove", json!({"name": "bob"}));
    assert_eq!(removed["account_id"], bob_id);
    let gone = c.call_raw("contact.remove", json!({"name": "bob"}));
    assert_eq!(gone["error"]["code"], -32001, "{gone}");
    assert_eq!(c.call("contact.list", json!({})), json!([]));
}
