//! End to end through the `nightjar` command against a devnet of real
//! `nightjar-node` processes.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod support;

use std::str::FromStr;

use support::{Devnet, TestProfile, files_under};

/// Whether `text` holds something shaped like a dotted-quad IPv4 address.
fn looks_like_ipv4(text: &str) -> bool {
    text.split(|c: char| !(c.is_ascii_digit() || c == '.'))
        .any(|w| {
            let parts: Vec<&str> = w.split('.').collect();
            parts.len() == 4
                && parts
                    .iter()
                    .all(|p| !p.is_empty() && p.len() <= 3 && p.parse::<u8>().is_ok())
        })
}

/// A plaintext that is easy to search for on disk.
fn text(i: usize) -> String {
    format!("plaintext-marker-{i:03}-the-owl-flies-at-midnight")
}

#[test]
fn hundred_messages_arrive_once_in_order_across_a_node_restart_and_leave_no_plaintext() {
    let devnet = Devnet::up(5);
    let alice = TestProfile::new(&devnet.network());
    let bob = TestProfile::new(&devnet.network());
    let (alice_id, alice_mnemonic) = alice.create();
    let (bob_id, bob_mnemonic) = bob.create();
    assert!(alice_id.starts_with("nj1") && bob_id.starts_with("nj1"));
    assert_ne!(alice_id, bob_id);
    assert_eq!(bob_mnemonic.split_whitespace().count(), 24);

    // A contact's name stands for the Account ID.
    support::run_ok(alice.cmd().args(["contact", "add", "Bob", &bob_id]));
    let mut sent_ids = Vec::new();
    for i in 0..100 {
        if i == 50 {
            // Restart every node: what was acknowledged must survive.
            devnet.stop();
            devnet.start(3);
        }
        let to = if i % 2 == 0 { "bob" } else { bob_id.as_str() };
        sent_ids.push(alice.send(to, &text(i)));
    }

    let got = bob.inbox(&[]);
    let texts: Vec<&str> = got.iter().map(|m| m["text"].as_str().unwrap()).collect();
    let expected: Vec<String> = (0..100).map(text).collect();
    assert_eq!(
        texts, expected,
        "bob must read exactly the 100 texts, in order"
    );
    for (m, id) in got.iter().zip(&sent_ids) {
        assert_eq!(m["from"], alice_id.as_str());
        assert_eq!(m["message_id"], id.as_str());
        assert!(m["sent_at"].as_u64().unwrap() > 1_600_000_000_000);
    }
    assert!(
        bob.inbox(&[]).is_empty(),
        "each message is shown once per profile"
    );

    // Bob on a second device: same account from the phrase on stdin, and the
    // messages are still on the network for it.
    let bob2 = TestProfile::new(&devnet.network());
    assert_eq!(bob2.restore(&bob_mnemonic), bob_id);
    let shown = bob2
        .cmd()
        .args(["account", "show", "--json"])
        .output()
        .unwrap();
    let shown: serde_json::Value = serde_json::from_slice(&shown.stdout).unwrap();
    assert_eq!(shown["account_id"], bob_id.as_str());
    let again: Vec<String> = bob2
        .inbox(&[])
        .iter()
        .map(|m| m["text"].as_str().unwrap().to_string())
        .collect();
    assert_eq!(again, expected);

    // A waiting inbox returns when nothing comes, with nothing.
    assert!(bob2.inbox(&["--wait", "1"]).is_empty());

    // `send ID -` takes a long, multi-line text from standard input, less
    // the one newline a pipe adds.
    let long = format!("first line\n{}\nlast line", "x".repeat(20_000));
    let id = alice.send_stdin(&bob_id, &format!("{long}\n"));
    let got = bob.inbox(&[]);
    assert_eq!(got.len(), 1, "{got:?}");
    assert_eq!(got[0]["message_id"], id.as_str());
    assert_eq!(got[0]["text"], long.as_str());

    // Nothing on disk holds a plaintext, nor the recovery phrases.
    devnet.stop();
    let roots = [
        devnet.dir.path(),
        alice.dir.path(),
        bob.dir.path(),
        bob2.dir.path(),
    ];
    let mut needles: Vec<Vec<u8>> = expected.iter().map(|t| t.as_bytes().to_vec()).collect();
    needles.push(b"plaintext-marker".to_vec());
    needles.push(alice_mnemonic.as_bytes().to_vec());
    needles.push(bob_mnemonic.as_bytes().to_vec());
    let mut scanned = 0;
    for root in roots {
        for file in files_under(root) {
            let bytes = std::fs::read(&file).unwrap();
            scanned += bytes.len();
            for needle in &needles {
                assert!(
                    !bytes.windows(needle.len()).any(|w| w == needle.as_slice()),
                    "{} contains plaintext {:?}",
                    file.display(),
                    String::from_utf8_lossy(needle)
                );
            }
        }
    }
    assert!(
        scanned > 100 * 256,
        "the scan must have covered the stored messages ({scanned} bytes)"
    );

    // The nodes' logs at their default level name no IP address, account or
    // message text.
    let logs: Vec<_> = files_under(devnet.dir.path())
        .into_iter()
        .filter(|p| p.file_name().is_some_and(|n| n == "node.log"))
        .collect();
    assert_eq!(logs.len(), 5);
    let accounts = [
        alice_id.clone(),
        bob_id.clone(),
        nightjar_crypto::identity::AccountId::from_str(&alice_id)
            .unwrap()
            .public_key()
            .to_hex(),
        nightjar_crypto::identity::AccountId::from_str(&bob_id)
            .unwrap()
            .public_key()
            .to_hex(),
    ];
    for log in logs {
        let text = std::fs::read_to_string(&log).unwrap();
        assert!(
            text.contains("nightjar-node serving"),
            "{}: {text}",
            log.display()
        );
        assert!(
            !looks_like_ipv4(&text),
            "{} names an IP address: {text}",
            log.display()
        );
        for needle in accounts
            .iter()
            .map(String::as_str)
            .chain(expected.iter().map(String::as_str))
        {
            assert!(
                !text.contains(needle),
                "{} contains {needle}",
                log.display()
            );
        }
    }
}

#[test]
fn contacts_are_added_listed_and_removed_and_broken_ones_refused() {
    let dir = tempfile::tempdir().unwrap();
    let p = TestProfile::new(&dir.path().join("network.toml"));
    p.create();
    let bob = TestProfile::new(&dir.path().join("network.toml"));
    let (bob_id, _) = bob.create();
    let added: serde_json::Value = serde_json::from_str(&support::run_ok(
        p.cmd().args(["contact", "add", "Bob", &bob_id, "--json"]),
    ))
    .unwrap();
    assert_eq!(
        added,
        serde_json::json!({"name": "Bob", "account_id": bob_id})
    );
    let refused = |args: &[&str], why: &str| {
        let out = p.cmd().args(args).output().unwrap();
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(!out.status.success(), "{args:?} succeeded");
        assert!(stderr.contains(why), "{args:?}: {stderr}");
    };
    refused(
        &["contact", "add", "BOB", &bob_id],
        "already a contact named",
    );
    refused(&["contact", "add", "Robert", &bob_id], "already a contact");
    refused(
        &["contact", "add", "nj1x", &bob_id],
        "may not start with nj1",
    );
    // A bad Account ID: what is wrong with it, and what one looks like.
    refused(
        &["contact", "add", "Carol", "nj1nope"],
        "\"nj1nope\" is not a valid Account ID: not a well-formed Account ID",
    );
    refused(
        &["contact", "add", "Carol", "nj1nope"],
        "an Account ID is `nj1` followed by 58 letters and digits",
    );
    refused(&["contact", "remove", "carol"], "no contact named");
    refused(&["send", "carol", "hi"], "no contact named");
    let list: serde_json::Value = serde_json::from_str(&support::run_ok(
        p.cmd().args(["contact", "list", "--json"]),
    ))
    .unwrap();
    assert_eq!(
        list,
        serde_json::json!([{"name": "Bob", "account_id": bob_id}])
    );
    support::run_ok(p.cmd().args(["contact", "remove", "bob"]));
    let list: serde_json::Value = serde_json::from_str(&support::run_ok(
        p.cmd().args(["contact", "list", "--json"]),
    ))
    .unwrap();
    assert_eq!(list, serde_json::json!([]));
}

#[test]
fn restore_rejects_a_bad_phrase_and_create_refuses_to_overwrite() {
    let devnet_dir = tempfile::tempdir().unwrap();
    let network = devnet_dir.path().join("network.toml");
    let p = TestProfile::new(&network);
    let (id, _) = p.create();
    let out = p
        .cmd()
        .args(["account", "create", "--json"])
        .output()
        .unwrap();
    assert!(
        !out.status.success(),
        "a second create must not replace the account"
    );
    let out = p
        .cmd()
        .args(["account", "show", "--json"])
        .output()
        .unwrap();
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(v["account_id"], id.as_str());

    let q = TestProfile::new(&network);
    let mut child = q
        .cmd()
        .args(["account", "restore", "--json"])
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    use std::io::Write;
    child
        .stdin
        .take()
        .unwrap()
        .write_all(b"abandon abandon abandon")
        .unwrap();
    let out = child.wait_with_output().unwrap();
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("recovery phrase"));
}

#[test]
fn devnet_up_refuses_fewer_nodes_than_onion_paths_need_and_says_why_once() {
    let dir = tempfile::tempdir().unwrap();
    let out = support::nightjar()
        .args(["devnet", "up", "--registry-file", "--nodes", "4", "--dir"])
        .arg(dir.path().join("dn"))
        .output()
        .unwrap();
    assert!(!out.status.success(), "4 nodes cannot carry onion paths");
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("at least 5 nodes"), "{err}");
    assert!(err.contains("onion paths"), "{err}");
    assert_eq!(err.matches("at least 5 nodes").count(), 1, "{err}");
    assert!(
        !dir.path().join("dn").exists(),
        "nothing is written for a refused devnet"
    );
}
