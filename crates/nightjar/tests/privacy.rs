//! Privacy hygiene of the command line: the recovery phrase never appears in
//! any process's argv (which every user of the machine can read in
//! `/proc/PID/cmdline`, `ps`, `top`), nor in the environment of the
//! `nightjar` processes.
//!
//! A watcher thread scans `/proc/*/cmdline` of every process, and
//! `/proc/PID/environ` of the `nightjar` processes this test starts, over
//! and over while `nightjar account create` and `nightjar account restore`
//! (phrase on standard input) run, keeping every distinct text it saw. Then
//! no text may hold the phrase, or any 3 consecutive words of it. The scanner
//! is shown to work (a phrase's words planted in a child's argv and
//! environment are found), and to have looked at each `nightjar` process
//! while it ran. The CLI has no option that takes a phrase: one given as
//! arguments is refused before anything is created.
//!
//! The other privacy checks (logs, data directories, file modes) are in
//! `messaging.rs`.

#![cfg(target_os = "linux")]
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod support;

use std::collections::{HashMap, HashSet};
use std::io::Write;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use nightjar_crypto::identity::{Identity, Seed};
use serde_json::Value;
use support::{NIGHTJAR, nightjar};

/// `bytes` as lowercase words separated by single spaces: every run of
/// ASCII letters is a word and everything else (NULs between arguments,
/// spaces, punctuation, path separators) separates words, so a phrase is
/// found however it was split into arguments or joined into one.
fn words_of(bytes: &[u8]) -> String {
    let mut out = String::with_capacity(bytes.len());
    for &b in bytes {
        let c = b.to_ascii_lowercase();
        if c.is_ascii_lowercase() {
            out.push(char::from(c));
        } else if !out.is_empty() && !out.ends_with(' ') {
            out.push(' ');
        }
    }
    out.trim_end().to_owned()
}

/// The first run of 3 consecutive words of `phrase` that `text` (from
/// [`words_of`]) holds, if any. A 24-word phrase has 22 such runs.
fn leaked_fragment(text: &str, phrase: &str) -> Option<String> {
    let text = format!(" {text} ");
    let words: Vec<&str> = phrase.split_whitespace().collect();
    assert!(words.len() >= 3, "not a phrase: {phrase:?}");
    words
        .windows(3)
        .map(|w| w.join(" "))
        .find(|fragment| text.contains(&format!(" {fragment} ")))
}

/// What the watcher saw.
#[derive(Debug, Default)]
struct Seen {
    /// Every distinct text (after [`words_of`]) → where it was first seen.
    texts: HashMap<String, String>,
    /// Full sweeps of `/proc` done.
    sweeps: u64,
}

/// A thread scanning `/proc` until stopped.
struct Watcher {
    stop: Arc<AtomicBool>,
    /// The `nightjar` processes whose environment is read too.
    children: Arc<Mutex<Vec<u32>>>,
    /// Children seen running `nightjar` (argv[0] is the binary, so after exec).
    alive: Arc<Mutex<HashSet<u32>>>,
    /// Children whose environment was read after they were seen running
    /// `nightjar` (so it is theirs, not the test's inherited before exec).
    env_read: Arc<Mutex<HashSet<u32>>>,
    thread: Option<JoinHandle<Seen>>,
}

impl Watcher {
    fn start() -> Watcher {
        let stop = Arc::new(AtomicBool::new(false));
        let children = Arc::new(Mutex::new(Vec::new()));
        let alive = Arc::new(Mutex::new(HashSet::new()));
        let env_read = Arc::new(Mutex::new(HashSet::new()));
        let thread = {
            let (stop, children, alive, env_read) = (
                stop.clone(),
                children.clone(),
                alive.clone(),
                env_read.clone(),
            );
            std::thread::spawn(move || scan(&stop, &children, &alive, &env_read))
        };
        Watcher {
            stop,
            children,
            alive,
            env_read,
            thread: Some(thread),
        }
    }

    /// Start `cmd` and watch its environment as well.
    fn spawn(&self, cmd: &mut Command) -> Child {
        let child = cmd.spawn().expect("spawn nightjar");
        self.children.lock().unwrap().push(child.id());
        child
    }

    fn saw_alive(&self, pid: u32) -> bool {
        self.alive.lock().unwrap().contains(&pid)
    }

    /// Wait until the watcher has read `pid`'s argv after its exec.
    fn wait_until_seen(&self, pid: u32) {
        let deadline = Instant::now() + Duration::from_secs(30);
        while !self.saw_alive(pid) {
            assert!(
                Instant::now() < deadline,
                "the watcher never saw process {pid} run"
            );
            std::thread::sleep(Duration::from_millis(1));
        }
    }

    /// Wait until the watcher has read `pid`'s environment after its exec.
    fn wait_until_env_read(&self, pid: u32) {
        let deadline = Instant::now() + Duration::from_secs(30);
        while !self.env_read.lock().unwrap().contains(&pid) {
            assert!(
                Instant::now() < deadline,
                "the watcher never read the environment of process {pid}"
            );
            std::thread::sleep(Duration::from_millis(1));
        }
    }

    fn finish(mut self) -> Seen {
        self.stop.store(true, Ordering::SeqCst);
        self.thread.take().unwrap().join().expect("watcher thread")
    }
}

impl Drop for Watcher {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
    }
}

fn record(seen: &mut Seen, bytes: &[u8], origin: impl FnOnce() -> String) {
    let text = words_of(bytes);
    if !text.is_empty() && !seen.texts.contains_key(&text) {
        seen.texts.insert(text, origin());
    }
}

/// The watcher's loop: a sweep of every process's argv, then many quick
/// reads of the children's argv and environment; until stopped, plus one
/// last round after.
fn scan(
    stop: &AtomicBool,
    children: &Mutex<Vec<u32>>,
    alive: &Mutex<HashSet<u32>>,
    env_read: &Mutex<HashSet<u32>>,
) -> Seen {
    let mut seen = Seen::default();
    loop {
        let last = stop.load(Ordering::SeqCst);
        if let Ok(dir) = std::fs::read_dir("/proc") {
            for entry in dir.flatten() {
                let name = entry.file_name();
                let Some(pid) = name
                    .to_str()
                    .filter(|n| n.bytes().all(|b| b.is_ascii_digit()))
                else {
                    continue;
                };
                // Processes come and go: one that is gone is simply skipped.
                if let Ok(cmdline) = std::fs::read(entry.path().join("cmdline")) {
                    record(&mut seen, &cmdline, || format!("argv of pid {pid}"));
                }
            }
        }
        seen.sweeps += 1;
        for _ in 0..50 {
            let pids = children.lock().unwrap().clone();
            for pid in pids {
                let proc_dir = Path::new("/proc").join(pid.to_string());
                let mut running = false;
                if let Ok(cmdline) = std::fs::read(proc_dir.join("cmdline")) {
                    if cmdline.starts_with(NIGHTJAR.as_bytes()) {
                        alive.lock().unwrap().insert(pid);
                        running = true;
                    }
                    record(&mut seen, &cmdline, || format!("argv of pid {pid}"));
                }
                if let Ok(environ) = std::fs::read(proc_dir.join("environ")) {
                    record(&mut seen, &environ, || format!("environment of pid {pid}"));
                    if running {
                        env_read.lock().unwrap().insert(pid);
                    }
                }
            }
        }
        if last {
            return seen;
        }
    }
}

/// Every text the watcher saw that holds 3 consecutive words of a phrase.
fn leaks(seen: &Seen, phrases: &[String]) -> Vec<String> {
    let mut found = Vec::new();
    for (text, origin) in &seen.texts {
        for phrase in phrases {
            if let Some(fragment) = leaked_fragment(text, phrase) {
                found.push(format!("{origin}: holds {fragment:?}"));
            }
        }
    }
    found.sort();
    found
}

fn profile_cmd(profile: &Path) -> Command {
    let mut cmd = nightjar();
    cmd.arg("--profile").arg(profile);
    cmd.stdout(Stdio::piped()).stderr(Stdio::piped());
    cmd
}

fn json_of(child: Child, what: &str) -> Value {
    let out = child.wait_with_output().unwrap();
    assert!(
        out.status.success(),
        "{what} failed with {}: {}",
        out.status,
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).unwrap()
}

/// `account create` in a new profile, retried (in another new profile)
/// until the watcher saw the process run: a create takes tens of
/// milliseconds, and a watcher that did not look would prove nothing.
/// Returns the phrases of every account created.
fn create_observed(watcher: &Watcher, root: &Path, name: &str, passphrase: bool) -> Vec<String> {
    let mut phrases = Vec::new();
    for attempt in 0..5 {
        let mut cmd = profile_cmd(&root.join(format!("{name}-{attempt}")));
        cmd.args(["account", "create", "--json"])
            .stdin(Stdio::null());
        if passphrase {
            cmd.env("NIGHTJAR_PASSPHRASE", "correct horse battery staple");
        }
        let child = watcher.spawn(&mut cmd);
        let pid = child.id();
        let v = json_of(child, "account create");
        phrases.push(v["mnemonic"].as_str().unwrap().to_owned());
        if watcher.saw_alive(pid) {
            return phrases;
        }
    }
    panic!("the watcher did not see any of 5 `account create` processes run");
}

/// `account restore` of `phrase` into a new profile; the phrase is written
/// to its standard input only once the watcher has seen the process run.
fn restore_observed(watcher: &Watcher, profile: &Path, phrase: &str, passphrase: bool) -> String {
    let mut cmd = profile_cmd(profile);
    cmd.args(["account", "restore", "--json"])
        .stdin(Stdio::piped());
    if passphrase {
        cmd.env("NIGHTJAR_PASSPHRASE", "correct horse battery staple");
    }
    let mut child = watcher.spawn(&mut cmd);
    watcher.wait_until_seen(child.id());
    let mut stdin = child.stdin.take().unwrap();
    stdin.write_all(phrase.as_bytes()).unwrap();
    stdin.write_all(b"\n").unwrap();
    drop(stdin);
    // Keep watching while it derives the key and writes the profile.
    let v = json_of(child, "account restore");
    v["account_id"].as_str().unwrap().to_owned()
}

#[test]
fn recovery_phrase_never_appears_in_any_process_argv_or_environment() {
    let root = tempfile::Builder::new()
        .prefix("nj-privacy-")
        .tempdir()
        .unwrap();
    let watcher = Watcher::start();

    let created = create_observed(&watcher, root.path(), "created", false);
    let created_pw = create_observed(&watcher, root.path(), "created-pw", true);
    let (phrase, phrase_pw) = (created.last().unwrap(), created_pw.last().unwrap());
    let restored_id = restore_observed(&watcher, &root.path().join("restored"), phrase, false);
    let restored_pw_id =
        restore_observed(&watcher, &root.path().join("restored-pw"), phrase_pw, true);
    let seen = watcher.finish();

    // The restores really restored the accounts (so the phrase was used).
    let id_of = |phrase: &str| {
        Identity::from_mnemonic(phrase)
            .unwrap()
            .account_id()
            .to_string()
    };
    assert_eq!(restored_id, id_of(phrase));
    assert_eq!(restored_pw_id, id_of(phrase_pw));
    let phrases: Vec<String> = created.iter().chain(&created_pw).cloned().collect();
    for phrase in &phrases {
        assert_eq!(phrase.split_whitespace().count(), 24, "{phrase:?}");
    }

    assert!(
        seen.sweeps >= 2,
        "the watcher swept /proc only {} times",
        seen.sweeps
    );
    let leaks = leaks(&seen, &phrases);
    assert!(
        leaks.is_empty(),
        "a recovery phrase was visible to other processes:\n{}",
        leaks.join("\n")
    );
    eprintln!(
        "{} sweeps of /proc, {} distinct argv/environment texts, {} phrases: no leak",
        seen.sweeps,
        seen.texts.len(),
        phrases.len()
    );
}

/// The scanner can fail: three consecutive words of a phrase planted in a
/// child's argv (inside its `--profile` path) and in its environment are
/// both found, by the same code as above.
#[test]
fn scanner_finds_phrase_words_planted_in_argv_and_environment() {
    let phrase = Identity::from_seed(Seed::from_bytes([0x42; 32]))
        .mnemonic()
        .as_str()
        .to_owned();
    let words: Vec<&str> = phrase.split_whitespace().collect();
    let root = tempfile::Builder::new()
        .prefix("nj-privacy-canary-")
        .tempdir()
        .unwrap();
    // One argument holding words 5..8, dash-joined; the environment holds 10..13.
    let profile = root.path().join(words[5..8].join("-"));
    let planted_env = words[10..13].join(" ");

    let watcher = Watcher::start();
    let mut cmd = profile_cmd(&profile);
    cmd.args(["account", "restore", "--json"])
        .stdin(Stdio::piped())
        .env("NIGHTJAR_PRIVACY_CANARY", &planted_env);
    let mut child = watcher.spawn(&mut cmd);
    // `restore` blocks reading standard input: it stays alive until we close it.
    let pid = child.id();
    watcher.wait_until_seen(pid);
    // Its argv has been read; wait until its environment has been too.
    watcher.wait_until_env_read(pid);
    drop(child.stdin.take());
    let out = child.wait_with_output().unwrap();
    assert!(!out.status.success(), "an empty phrase was accepted");
    let seen = watcher.finish();

    let found = leaks(&seen, std::slice::from_ref(&phrase));
    let argv_hit = format!("argv of pid {pid}: holds {:?}", words[5..8].join(" "));
    let env_hit = format!(
        "environment of pid {pid}: holds {:?}",
        words[10..13].join(" ")
    );
    assert!(
        found.contains(&argv_hit),
        "the planted argv words were not found; found: {found:#?}"
    );
    assert!(
        found.contains(&env_hit),
        "the planted environment words were not found; found: {found:#?}"
    );

    // And the matcher itself: 3 words in order are a leak, 2 or a shuffle are not.
    let text = words_of(format!("x\0{}\0y", words[0..3].join("\0")).as_bytes());
    assert_eq!(leaked_fragment(&text, &phrase), Some(words[0..3].join(" ")));
    assert_eq!(
        leaked_fragment(&words_of(words[0..2].join(" ").as_bytes()), &phrase),
        None
    );
    let shuffled = [words[2], words[0], words[1]].join(" ");
    assert_eq!(
        leaked_fragment(&words_of(shuffled.as_bytes()), &phrase),
        None
    );
}

/// The CLI takes the phrase only on standard input: any attempt to pass it
/// as arguments is a usage error (exit status 2) before a profile exists.
#[test]
fn cli_refuses_a_phrase_given_as_arguments() {
    let phrase = Identity::from_seed(Seed::from_bytes([0x43; 32]))
        .mnemonic()
        .as_str()
        .to_owned();
    let words: Vec<&str> = phrase.split_whitespace().collect();
    let root = tempfile::tempdir().unwrap();
    let attempts: Vec<Vec<&str>> = vec![
        [&["account", "restore"][..], &words].concat(),
        vec!["account", "restore", &phrase],
        vec!["account", "restore", "--phrase", &phrase],
        vec!["account", "restore", "--mnemonic", &phrase],
        vec!["account", "restore", "--recovery-phrase", &phrase],
        vec!["account", "create", &phrase],
        vec!["account", "create", "--mnemonic", &phrase],
    ];
    for (i, args) in attempts.iter().enumerate() {
        let profile = root.path().join(format!("p{i}"));
        let out = nightjar()
            .arg("--profile")
            .arg(&profile)
            .args(args)
            .stdin(Stdio::null())
            .output()
            .unwrap();
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(
            out.status.code(),
            Some(2),
            "attempt {i} was not refused as a usage error: {stderr}"
        );
        assert!(
            stderr.contains("unexpected argument"),
            "attempt {i}: {stderr}"
        );
        assert!(
            !profile.exists(),
            "attempt {i} created a profile before refusing"
        );
    }
}
