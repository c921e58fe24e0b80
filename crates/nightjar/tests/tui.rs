//! `nightjar tui` in a real terminal: tmux runs Alice's and Bob's TUIs
//! (each starting its profile's daemon in-process) against a devnet of real
//! nodes; keys go in with `send-keys`, the screens come out with
//! `capture-pane`. Skipped, saying so, only when tmux is not installed
//! (contrib/test.sh installs it).

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod support;

use std::process::{Command, Output};
use std::time::{Duration, Instant};

use support::{Devnet, NIGHTJAR, NIGHTJAR_NODE, TestProfile};

/// How long any one screen may take to show what the test waits for
/// (the first screen waits for a daemon to bootstrap and warm its paths).
const DEADLINE: Duration = Duration::from_secs(90);

/// A tmux server of its own (its socket in a temporary directory, so
/// nothing of it outlives the test), killed on drop.
struct Tmux {
    dir: tempfile::TempDir,
}

impl Tmux {
    /// `None` when tmux is not installed.
    fn new() -> Option<Tmux> {
        let present = Command::new("tmux")
            .arg("-V")
            .output()
            .is_ok_and(|o| o.status.success());
        if !present {
            return None;
        }
        let dir = tempfile::Builder::new()
            .prefix("nj-tmux-")
            .tempdir()
            .unwrap();
        // remain-on-exit: a TUI that dies (a panic) leaves its pane to read.
        std::fs::write(dir.path().join("tmux.conf"), "set -g remain-on-exit on\n").unwrap();
        Some(Tmux { dir })
    }

    fn tmux(&self, args: &[&str]) -> Output {
        Command::new("tmux")
            .arg("-u")
            .arg("-S")
            .arg(self.dir.path().join("tmux.sock"))
            .arg("-f")
            .arg(self.dir.path().join("tmux.conf"))
            .args(args)
            .env("LANG", "C.UTF-8")
            .output()
            .unwrap()
    }

    fn ok(&self, args: &[&str]) -> String {
        let out = self.tmux(args);
        assert!(
            out.status.success(),
            "tmux {args:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8_lossy(&out.stdout).into_owned()
    }

    /// A 100×30 session `name` running `nightjar tui` on `profile`.
    fn start_tui(&self, name: &str, profile: &TestProfile) {
        let script = self.dir.path().join(format!("{name}.sh"));
        std::fs::write(
            &script,
            format!(
                "env -u NIGHTJAR_PROFILE -u NIGHTJAR_NETWORK -u NIGHTJAR_PASSPHRASE -u NIGHTJAR_LOG \
                 LANG=C.UTF-8 TERM=xterm-256color NIGHTJAR_NODE_BIN='{}' '{}' --profile '{}' --network '{}' tui\n\
                 echo \"tui exited: $?\"\n",
                NIGHTJAR_NODE,
                NIGHTJAR,
                profile.dir.path().display(),
                profile.network.display()
            ),
        )
        .unwrap();
        let command = format!("sh '{}'", script.display());
        self.ok(&[
            "new-session",
            "-d",
            "-s",
            name,
            "-x",
            "100",
            "-y",
            "30",
            &command,
        ]);
    }

    /// Literal text typed into the pane.
    fn type_text(&self, name: &str, text: &str) {
        self.ok(&["send-keys", "-t", name, "-l", text]);
    }

    /// Named keys (`Enter`, `Tab`, `Escape`, `M-Enter`…).
    fn keys(&self, name: &str, keys: &[&str]) {
        for key in keys {
            self.ok(&["send-keys", "-t", name, key]);
        }
    }

    fn capture(&self, name: &str) -> String {
        self.ok(&["capture-pane", "-p", "-t", name])
    }

    fn pane_dead(&self, name: &str) -> bool {
        self.ok(&["list-panes", "-t", name, "-F", "#{pane_dead}"])
            .trim()
            == "1"
    }

    /// Polls the pane until `check` holds, or fails with the screen.
    fn wait_until(&self, name: &str, what: &str, check: impl Fn(&str) -> bool) -> String {
        let start = Instant::now();
        loop {
            let screen = self.capture(name);
            if check(&screen) {
                return screen;
            }
            if self.pane_dead(name) {
                // It may have printed its last words between the capture
                // and this check: read the screen once more.
                let last = self.capture(name);
                assert!(
                    check(&last),
                    "{name}'s TUI exited while waiting for {what}:\n{last}"
                );
                return last;
            }
            assert!(
                start.elapsed() < DEADLINE,
                "{name}'s screen never showed {what} within {DEADLINE:?}:\n{screen}"
            );
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    fn wait_for(&self, name: &str, text: &str) -> String {
        self.wait_until(name, &format!("{text:?}"), |s| s.contains(text))
    }
}

impl Drop for Tmux {
    fn drop(&mut self) {
        let _ = self.tmux(&["kill-server"]);
    }
}

/// Whether a line of the screen shows an own message whose delivery state
/// is "stored" (`you HH:MM ✓ stored`), not the status line's "stored by
/// the swarm".
fn shows_stored(screen: &str) -> bool {
    screen
        .lines()
        .any(|l| l.trim_start().starts_with("you ") && l.trim_end().ends_with("stored"))
}

/// Whether a line of the screen heads a message from `name`:
/// `NAME HH:MM` (the chat's header line has the ID after the name instead).
fn shows_sender(screen: &str, name: &str) -> bool {
    screen.lines().any(|l| {
        l.trim_start()
            .strip_prefix(name)
            .and_then(|rest| rest.strip_prefix(' '))
            .is_some_and(|rest| {
                let b = rest.as_bytes();
                b.len() >= 5
                    && b[0].is_ascii_digit()
                    && b[1].is_ascii_digit()
                    && b[2] == b':'
                    && b[3].is_ascii_digit()
                    && b[4].is_ascii_digit()
            })
    })
}

/// Adds a contact in the TUI: contacts screen, add form, name, Tab, ID.
fn add_contact(tmux: &Tmux, pane: &str, name: &str, id: &str) {
    tmux.keys(pane, &["c"]);
    tmux.wait_for(pane, "Nightjar · contacts");
    tmux.keys(pane, &["a"]);
    tmux.wait_for(pane, "add a contact");
    tmux.type_text(pane, name);
    tmux.keys(pane, &["Tab"]);
    // A truncated ID is refused as typed, with the reason.
    tmux.type_text(pane, &id[..20]);
    tmux.wait_for(pane, "✗");
    tmux.type_text(pane, &id[20..]);
    tmux.wait_for(pane, "✓ valid Account ID");
    tmux.keys(pane, &["Enter"]);
    tmux.wait_for(pane, &format!("added contact {name}"));
}

#[test]
fn two_tuis_chat_live_with_names_and_delivery_states_and_survive_resizing() {
    let Some(tmux) = Tmux::new() else {
        eprintln!(
            "SKIPPED: tmux is not installed (contrib/test.sh installs it); the TUI test needs a real terminal"
        );
        return;
    };
    let devnet = Devnet::up(5);
    let alice = TestProfile::new(&devnet.network());
    let bob = TestProfile::new(&devnet.network());
    let (alice_id, _) = alice.create();
    let (bob_id, _) = bob.create();

    tmux.start_tui("alice", &alice);
    tmux.start_tui("bob", &bob);
    for pane in ["alice", "bob"] {
        tmux.wait_for(pane, "Nightjar · conversations");
        // The account answered: the daemon is up.
        tmux.wait_for(pane, "connected");
    }

    // Each adds the other as a contact in the TUI.
    add_contact(&tmux, "bob", "Alice", &alice_id);
    tmux.keys("bob", &["Escape"]);
    tmux.wait_for("bob", "Nightjar · conversations");
    add_contact(&tmux, "alice", "Bob", &bob_id);

    // Alice opens the chat from her contacts and writes two lines.
    tmux.keys("alice", &["Enter"]);
    tmux.wait_for("alice", "chat with Bob");
    tmux.type_text("alice", "hello Bob, from a terminal");
    tmux.keys("alice", &["M-Enter"]);
    tmux.type_text("alice", "second line");
    tmux.keys("alice", &["Enter"]);
    tmux.wait_until("alice", "her message stored", shows_stored);

    // Bob's list shows it live, under Alice's name, unread.
    let screen = tmux.wait_for("bob", "Alice · 1 unread");
    assert!(screen.contains("hello Bob, from a terminal"), "{screen}");
    tmux.keys("bob", &["Enter"]);
    let screen = tmux.wait_for("bob", "chat with Alice");
    let screen = if screen.contains("second line") {
        screen
    } else {
        tmux.wait_for("bob", "second line")
    };
    assert!(
        shows_sender(&screen, "Alice"),
        "the message is shown under Alice's name:\n{screen}"
    );
    tmux.type_text("bob", "hi Alice, got it");
    tmux.keys("bob", &["Enter"]);
    tmux.wait_until("bob", "his answer stored", shows_stored);

    // Alice's open chat shows the answer live, under Bob's name.
    let screen = tmux.wait_for("alice", "hi Alice, got it");
    assert!(shows_sender(&screen, "Bob"), "{screen}");
    assert!(shows_stored(&screen), "{screen}");

    // Resizing to 20×8, smaller still, and back: no panic, drawn again.
    tmux.ok(&["resize-window", "-t", "alice", "-x", "20", "-y", "8"]);
    tmux.wait_until("alice", "the 20×8 screen", |s| {
        s.lines().count() <= 8 && s.contains("Nightjar")
    });
    tmux.ok(&["resize-window", "-t", "alice", "-x", "12", "-y", "4"]);
    tmux.wait_for("alice", "too");
    tmux.ok(&["resize-window", "-t", "alice", "-x", "100", "-y", "30"]);
    let screen = tmux.wait_for("alice", "chat with Bob");
    assert!(screen.contains("hi Alice, got it"), "{screen}");
    assert!(!tmux.pane_dead("alice"));

    // Alice quits; her profile's daemon stopped with the TUI, so a
    // one-shot command opens the profile again.
    tmux.keys("alice", &["Escape"]);
    tmux.wait_for("alice", "Nightjar · conversations");
    tmux.keys("alice", &["q"]);
    // The terminal is back to normal and the TUI exited with status 0.
    tmux.wait_for("alice", "tui exited: 0");
    assert!(
        alice.inbox(&[]).is_empty(),
        "Alice read Bob's answer in the TUI"
    );

    // Bob's terminal is killed (SIGHUP): his profile stays consistent, and
    // what he read in the TUI is not new to a one-shot inbox.
    tmux.ok(&["kill-session", "-t", "bob"]);
    let start = Instant::now();
    let inbox = loop {
        let out = bob.cmd().args(["inbox", "--json"]).output().unwrap();
        if out.status.success() {
            break String::from_utf8(out.stdout).unwrap();
        }
        // The TUI process may still be stopping its daemon.
        assert!(
            start.elapsed() < DEADLINE,
            "bob's profile is unusable after his terminal was killed: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        std::thread::sleep(Duration::from_millis(200));
    };
    assert_eq!(inbox.trim(), "", "Bob read Alice's message in the TUI");
}
