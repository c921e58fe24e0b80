//! Messages v2 on a devnet of real node processes, through the `nightjar`
//! command: first messages to offline devices, every device of both
//! accounts, removed and restored devices, disappearing messages; and,
//! through the client library, forward secrecy and post-compromise security
//! of a device's copied state.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod support;

use std::path::Path;
use std::time::Duration;

use nightjar_client::messaging::SessionSet;
use nightjar_client::messaging::incoming::{open_envelope, open_sealed};
use nightjar_client::{Client, Profile};
use nightjar_registry::NetworkFile;
use serde_json::Value;
use support::{Devnet, TestProfile, run_ok};

fn send_json(p: &TestProfile, to: &str, text: &str) -> Value {
    serde_json::from_str(&run_ok(
        p.cmd().args(["send", to, text, "--ttl", "3600", "--json"]),
    ))
    .unwrap()
}

fn texts(messages: &[Value]) -> Vec<String> {
    messages
        .iter()
        .map(|m| m["text"].as_str().unwrap().to_string())
        .collect()
}

fn devices(p: &TestProfile) -> Vec<Value> {
    let v: Value =
        serde_json::from_str(&run_ok(p.cmd().args(["device", "list", "--json"]))).unwrap();
    v.as_array().unwrap().clone()
}

fn current_device(p: &TestProfile) -> String {
    devices(p)
        .iter()
        .find(|d| d["current"] == true)
        .expect("this device is listed")["device_id"]
        .as_str()
        .unwrap()
        .to_string()
}

#[test]
fn every_device_of_both_accounts_gets_every_message_and_a_removed_device_gets_nothing_more() {
    let devnet = Devnet::up(6);
    let net = devnet.network();
    let alice = TestProfile::new(&net);
    let bob1 = TestProfile::new(&net);
    let (alice_id, alice_phrase) = alice.create();
    let (bob_id, bob_phrase) = bob1.create();

    // Bob's first device publishes its keys once, then is offline.
    assert!(bob1.inbox(&[]).is_empty());
    // A first message to an offline device: a v2 session from its prekeys.
    let first = send_json(&alice, &bob_id, "while you were away");
    assert_eq!(first["version"], 2, "{first}");
    assert_eq!(first["fallback"], Value::Null);

    // Two more devices of Bob's, and a second device of Alice's, restored
    // from the phrases: each is a new device of its account.
    let bob2 = TestProfile::new(&net);
    let bob3 = TestProfile::new(&net);
    let alice2 = TestProfile::new(&net);
    assert_eq!(bob2.restore(&bob_phrase), bob_id);
    assert_eq!(bob3.restore(&bob_phrase), bob_id);
    assert_eq!(alice2.restore(&alice_phrase), alice_id);
    for p in [&bob2, &bob3] {
        assert!(p.inbox(&[]).is_empty(), "sent before the device existed");
    }
    assert!(alice2.inbox(&[]).is_empty());
    assert_eq!(devices(&bob1).len(), 3, "{:?}", devices(&bob1));
    assert_eq!(devices(&alice).len(), 2);

    let got = bob1.inbox(&[]);
    assert_eq!(texts(&got), ["while you were away"]);
    assert_eq!(got[0]["from"], alice_id.as_str());
    assert_eq!(got[0]["version"], 2);
    assert_eq!(got[0]["message_id"], first["message_id"]);

    // One message reaches Bob's three devices and Alice's other device.
    let to_all = send_json(&alice, &bob_id, "to every device");
    assert_eq!(to_all["version"], 2);
    for p in [&bob1, &bob2, &bob3] {
        let got = p.inbox(&[]);
        assert_eq!(texts(&got), ["to every device"]);
        assert_eq!(
            got[0]["message_id"], to_all["message_id"],
            "one ID on every device"
        );
    }
    let copy = alice2.inbox(&[]);
    assert_eq!(texts(&copy), ["to every device"]);
    assert_eq!(copy[0]["direction"], "out");
    assert_eq!(copy[0]["to"], bob_id.as_str());
    // A reply from Bob's second device reaches Alice's two devices and
    // Bob's others.
    send_json(&bob2, &alice_id, "reply from bob2");
    for p in [&alice, &alice2, &bob1, &bob3] {
        assert_eq!(texts(&p.inbox(&[])), ["reply from bob2"]);
    }

    // Bob removes his third device: what Alice sends after she has read the
    // new list does not reach it.
    let bob3_id = current_device(&bob3);
    run_ok(bob1.cmd().args(["device", "remove", &bob3_id]));
    assert_eq!(devices(&bob2).len(), 2, "the list no longer has it");
    send_json(&alice, &bob_id, "after the removal");
    for p in [&bob1, &bob2] {
        assert_eq!(texts(&p.inbox(&[])), ["after the removal"]);
    }
    assert!(
        bob3.inbox(&[]).is_empty(),
        "a removed device gets nothing sent afterwards"
    );
    let out = bob3
        .cmd()
        .args(["send", &alice_id, "still here?"])
        .output()
        .unwrap();
    assert!(
        !out.status.success(),
        "a removed device cannot send as the account"
    );
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("removed"),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

#[test]
fn a_recipient_without_devices_gets_v1_and_the_sender_is_told() {
    let devnet = Devnet::up(5);
    let alice = TestProfile::new(&devnet.network());
    let bob = TestProfile::new(&devnet.network());
    alice.create();
    let (bob_id, _) = bob.create();
    // Bob never ran a network command: no device list, no prekeys.
    let out = alice
        .cmd()
        .args(["send", &bob_id, "old style", "--json"])
        .output()
        .unwrap();
    assert!(out.status.success());
    let sent: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(sent["version"], 1);
    assert!(
        sent["fallback"]
            .as_str()
            .unwrap()
            .contains("no forward secrecy")
    );
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("note:") && stderr.contains("v1"),
        "{stderr}"
    );
    let got = bob.inbox(&[]);
    assert_eq!(texts(&got), ["old style"]);
    assert_eq!(got[0]["version"], 1);
}

/// A client for a profile directory on the devnet (library level).
async fn client_for(dir: &Path, net: &Path) -> Client {
    let network = NetworkFile::load(net).unwrap();
    let profile = Profile::open(dir, None).unwrap();
    Client::connect(profile, &network, "127.0.0.1:0".parse().unwrap())
        .await
        .unwrap()
}

/// Tries to read every envelope with the device state and sessions of the
/// profile in `dir` (a copy), without recording anything; returns the texts
/// that opened.
fn readable_with(dir: &Path, envelopes: &[nightjar_wire::StoredMessage]) -> Vec<String> {
    let profile = Profile::open(dir, None).unwrap();
    let me = profile.identity().clone();
    let mut device = profile.own_device().unwrap().unwrap();
    let mut opened = Vec::new();
    for e in envelopes {
        let Ok((sealed, sender_device)) = open_sealed(&me, &device, &e.data) else {
            continue;
        };
        let mut sessions: SessionSet = profile
            .sessions(&sealed.sender_account, &sender_device)
            .unwrap();
        if let Ok(incoming) = open_envelope(
            &me,
            &mut device,
            &sealed,
            sender_device,
            &mut sessions,
            false,
            |_| false,
        ) {
            opened.push(incoming.content.text);
        }
    }
    opened
}

fn copy_dir(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for entry in std::fs::read_dir(from).unwrap() {
        let entry = entry.unwrap();
        std::fs::copy(entry.path(), to.join(entry.file_name())).unwrap();
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn copied_device_state_opens_no_earlier_message_and_an_earlier_copy_opens_no_later_one() {
    let devnet = Devnet::up(5);
    let net = devnet.network();
    let alice = TestProfile::new(&net);
    let bob = TestProfile::new(&net);
    let (alice_id, _) = alice.create();
    let (bob_id, bob_phrase) = bob.create();
    assert!(bob.inbox(&[]).is_empty());
    assert!(alice.inbox(&[]).is_empty());
    send_json(&alice, &bob_id, "secret one");
    send_json(&alice, &bob_id, "secret two");
    assert_eq!(texts(&bob.inbox(&[])), ["secret one", "secret two"]);

    // The swarm still holds both envelopes.
    let mailbox = {
        let profile = Profile::open(bob.dir.path(), None).unwrap();
        let me = profile.identity().public_key();
        let device = profile.own_device().unwrap().unwrap();
        profile
            .known_devices(&me)
            .unwrap()
            .live_device(&device.id())
            .unwrap()
            .mailbox
    };
    let mut client = client_for(bob.dir.path(), &net).await;
    let held = client.mailbox_envelopes(mailbox).await.unwrap();
    client.close().await;
    assert_eq!(held.len(), 2, "both envelopes are still in the swarm");

    // Forward secrecy: Bob's whole state, copied after reading, opens
    // neither of them.
    let scratch = tempfile::tempdir().unwrap();
    let after = scratch.path().join("after-reading");
    copy_dir(bob.dir.path(), &after);
    assert!(
        readable_with(&after, &held).is_empty(),
        "earlier messages must not open"
    );

    // Post-compromise security: a copy taken now opens nothing sent after a
    // round trip (Bob answers, Alice reads, Alice writes again).
    let before = scratch.path().join("before-round-trip");
    copy_dir(bob.dir.path(), &before);
    send_json(&bob, &alice_id, "answer");
    assert_eq!(texts(&alice.inbox(&[])), ["answer"]);
    send_json(&alice, &bob_id, "after healing");
    let mut client = client_for(bob.dir.path(), &net).await;
    let now_held = client.mailbox_envelopes(mailbox).await.unwrap();
    client.close().await;
    let later: Vec<_> = now_held
        .iter()
        .filter(|m| held.iter().all(|h| h.hash != m.hash))
        .cloned()
        .collect();
    assert_eq!(later.len(), 1);
    assert!(
        readable_with(&before, &later).is_empty(),
        "a state copied before the round trip must not open later messages"
    );
    // The real device reads it.
    assert_eq!(texts(&bob.inbox(&[])), ["after healing"]);

    // A device restored from the phrase after the messages were read cannot
    // read them (they are still in the swarm) but reads new ones.
    let restored = TestProfile::new(&net);
    assert_eq!(restored.restore(&bob_phrase), bob_id);
    assert!(
        restored.inbox(&[]).is_empty(),
        "nothing sent before it joined"
    );
    let all = {
        let mut client = client_for(restored.dir.path(), &net).await;
        let all = client.mailbox_envelopes(mailbox).await.unwrap();
        client.close().await;
        all
    };
    assert_eq!(
        all.len(),
        3,
        "the other device's envelopes are in the swarm"
    );
    assert!(
        readable_with(restored.dir.path(), &all).is_empty(),
        "the restored device opens none of them"
    );
    send_json(&alice, &bob_id, "welcome back");
    assert_eq!(texts(&restored.inbox(&[])), ["welcome back"]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_disappearing_message_is_gone_from_every_device_and_the_swarm_after_its_timer() {
    let devnet = Devnet::up(5);
    let net = devnet.network();
    let alice = TestProfile::new(&net);
    let alice2 = TestProfile::new(&net);
    let bob = TestProfile::new(&net);
    let (alice_id, alice_phrase) = alice.create();
    let (bob_id, _) = bob.create();
    alice2.restore(&alice_phrase);
    for p in [&alice, &alice2, &bob] {
        assert!(p.inbox(&[]).is_empty());
    }
    run_ok(alice.cmd().args(["timer", &bob_id, "12s"]));
    let sent = send_json(&alice, &bob_id, "this will vanish");
    let expires_at = sent["expires_at"].as_u64().expect("a timer from sending");
    let got = bob.inbox(&[]);
    assert_eq!(texts(&got), ["this will vanish"]);
    assert_eq!(got[0]["expires_at"].as_u64(), Some(expires_at));
    assert_eq!(texts(&alice2.inbox(&[])), ["this will vanish"]);
    // Bob's side took the conversation's timer from the message.
    let reply = send_json(&bob, &alice_id, "me too");
    assert!(reply["expires_at"].as_u64().is_some(), "{reply}");

    let bob_mailbox = {
        let profile = Profile::open(bob.dir.path(), None).unwrap();
        let device = profile.own_device().unwrap().unwrap();
        profile
            .known_devices(&profile.identity().public_key())
            .unwrap()
            .live_device(&device.id())
            .unwrap()
            .mailbox
    };
    let wait = expires_at.saturating_sub(support::unix_now_ms()) + 1_500;
    tokio::time::sleep(Duration::from_millis(wait)).await;
    // Gone from every device's history…
    for p in [&alice, &alice2, &bob] {
        p.inbox(&[]);
        let history = Profile::open(p.dir.path(), None)
            .unwrap()
            .history()
            .unwrap();
        assert!(
            history.iter().all(|r| r.text != "this will vanish"),
            "{:?}",
            history.iter().map(|r| &r.text).collect::<Vec<_>>()
        );
    }
    // …and from the swarm.
    let mut client = client_for(bob.dir.path(), &net).await;
    let held = client.mailbox_envelopes(bob_mailbox).await.unwrap();
    client.close().await;
    assert!(
        held.is_empty(),
        "the swarm still holds {} envelopes",
        held.len()
    );
}

#[test]
fn a_linked_device_gets_the_account_the_history_and_every_message_after() {
    use std::io::{BufRead, BufReader};
    use std::process::Stdio;

    let devnet = Devnet::up(5);
    let net = devnet.network();
    let alice = TestProfile::new(&net);
    let bob = TestProfile::new(&net);
    let (alice_id, _) = alice.create();
    let (bob_id, _) = bob.create();
    assert!(bob.inbox(&[]).is_empty());
    send_json(&alice, &bob_id, "history one");
    send_json(&alice, &bob_id, "history two");
    assert_eq!(texts(&bob.inbox(&[])), ["history one", "history two"]);

    // Bob's existing device shows a code; the new device enters it.
    let mut linker = bob
        .cmd()
        .args(["device", "link", "--yes", "--json", "--timeout", "120"])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut lines = BufReader::new(linker.stdout.take().unwrap()).lines();
    let first: Value = serde_json::from_str(&lines.next().unwrap().unwrap()).unwrap();
    let code = first["link_code"].as_str().unwrap().to_string();
    assert!(code.starts_with("njlink1"), "{code}");

    let new_device = TestProfile::new(&net);
    let out = new_device
        .cmd()
        .args([
            "device",
            "join",
            &code,
            "--yes",
            "--json",
            "--name",
            "new laptop",
            "--timeout",
            "120",
        ])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "join: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let join_lines: Vec<Value> = String::from_utf8_lossy(&out.stdout)
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    let joined = join_lines.last().unwrap();
    assert_eq!(joined["account_id"], bob_id.as_str());
    assert_eq!(joined["history"], 2);
    let linker_rest: Vec<Value> = lines
        .map(|l| serde_json::from_str(&l.unwrap()).unwrap())
        .collect();
    assert!(linker.wait().unwrap().success());
    // Both showed the same string.
    assert_eq!(join_lines[0]["sas"], linker_rest[0]["sas"]);
    assert_eq!(
        linker_rest.last().unwrap()["device_id"],
        joined["device_id"]
    );
    assert_eq!(linker_rest.last().unwrap()["name"], "new laptop");

    // The new device has the account and the history, and is in the list.
    let history = Profile::open(new_device.dir.path(), None)
        .unwrap()
        .history()
        .unwrap();
    let old: Vec<&str> = history.iter().map(|r| r.text.as_str()).collect();
    assert_eq!(old, ["history one", "history two"]);
    assert_eq!(devices(&bob).len(), 2);
    assert_eq!(
        current_device(&new_device),
        joined["device_id"].as_str().unwrap()
    );
    // It gets what is sent from now on, like Bob's first device.
    send_json(&alice, &bob_id, "hello both");
    assert_eq!(texts(&new_device.inbox(&[])), ["hello both"]);
    assert_eq!(texts(&bob.inbox(&[])), ["hello both"]);
    // And writes as the account.
    send_json(&new_device, &alice_id, "from the new laptop");
    assert_eq!(texts(&alice.inbox(&[])), ["from the new laptop"]);

    // A code is good for one link: a second join with it finds no answer.
    let late = TestProfile::new(&net);
    let out = late
        .cmd()
        .args(["device", "join", &code, "--yes", "--timeout", "3"])
        .output()
        .unwrap();
    assert!(!out.status.success(), "a used code must not link again");
}

/// Alice's sessions with Bob's device, as Bob's profile holds them: how many
/// message numbers of Alice's his active session keeps as skipped.
fn skipped_at_bob(bob: &TestProfile, alice: &TestProfile) -> usize {
    let alice = Profile::open(alice.dir.path(), None).unwrap();
    let (key, device) = (
        alice.identity().public_key(),
        alice.own_device().unwrap().unwrap().id(),
    );
    let profile = Profile::open(bob.dir.path(), None).unwrap();
    let sessions: SessionSet = profile.sessions(&key, &device).unwrap();
    sessions.active().expect("a session").skipped_key_count()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_client_sending_ahead_never_uses_a_message_key_twice_even_when_it_stops_without_closing()
{
    use std::str::FromStr;
    let devnet = Devnet::up(5);
    let net = devnet.network();
    let alice = TestProfile::new(&net);
    let bob = TestProfile::new(&net);
    let (alice_id, _) = alice.create();
    let (bob_id, _) = bob.create();
    assert!(bob.inbox(&[]).is_empty(), "Bob publishes his device");
    let to = nightjar_crypto::identity::AccountId::from_str(&bob_id).unwrap();
    let ttl = Duration::from_secs(3600);

    // A long-running client: after the first message, each leaves before
    // its session is saved (the saved copy is one key ahead).
    let mut client = client_for(alice.dir.path(), &net).await;
    client.set_sessions_ahead(true).unwrap();
    for text in ["one", "two", "three"] {
        client.send(&to, text, ttl).await.unwrap();
    }
    assert_eq!(texts(&bob.inbox(&[])), ["one", "two", "three"]);
    // A reply is read with the session as kept, not with the copy ahead:
    // Alice's next chain then counts exactly three messages before it, so
    // Bob keeps no number of hers as skipped.
    send_json(&bob, &alice_id, "reply");
    let got = client.inbox(None).await.unwrap();
    assert_eq!(
        got.iter().map(|r| r.text.as_str()).collect::<Vec<_>>(),
        ["reply"]
    );
    for text in ["four", "five"] {
        client.send(&to, text, ttl).await.unwrap();
    }
    // Closed cleanly, it saves what it kept: the next client skips nothing.
    client.close().await;
    let mut client = client_for(alice.dir.path(), &net).await;
    client.send(&to, "six", ttl).await.unwrap();
    client.close().await;
    assert_eq!(texts(&bob.inbox(&[])), ["four", "five", "six"]);
    assert_eq!(skipped_at_bob(&bob, &alice), 0);

    // Stopped without closing (as a crash would: nothing of the client's
    // runs), it leaves the copy one key ahead; the next client starts from
    // it, so its message cannot repeat the number of one already sent, and
    // Bob keeps the number passed over as skipped.
    let mut client = client_for(alice.dir.path(), &net).await;
    client.set_sessions_ahead(true).unwrap();
    for text in ["seven", "eight"] {
        client.send(&to, text, ttl).await.unwrap();
    }
    std::mem::forget(client);
    let mut client = client_for(alice.dir.path(), &net).await;
    client.send(&to, "nine", ttl).await.unwrap();
    client.close().await;
    assert_eq!(texts(&bob.inbox(&[])), ["seven", "eight", "nine"]);
    assert_eq!(skipped_at_bob(&bob, &alice), 1);
}
