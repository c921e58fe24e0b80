//! Replays the committed fuzz corpora as ordinary tests: every file of
//! `fuzz/corpus/TARGET/` (the seed corpus) and `fuzz/regressions/TARGET/`
//! (inputs that once failed) goes through the target's function, so
//! `cargo test --workspace` on stable checks what `cargo fuzz` checks.
//!
//! Also keeps the three lists of targets in step: `nightjar_fuzzing::TARGETS`,
//! the `[[bin]]`s of `fuzz/Cargo.toml` with their `fuzz/fuzz_targets/*.rs`,
//! and the corpus directories. A target without a non-empty seed corpus fails.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

use nightjar_fuzzing::TARGETS;

fn fuzz_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../fuzz")
}

/// The regular files of `dir`, sorted (none if it does not exist).
fn files_in(dir: &Path) -> Vec<PathBuf> {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return Vec::new();
    };
    let mut files: Vec<PathBuf> = entries
        .map(|e| e.expect("read a corpus directory entry").path())
        .filter(|p| p.is_file())
        .filter(|p| {
            !p.file_name()
                .is_some_and(|n| n.to_string_lossy().starts_with('.'))
        })
        .collect();
    files.sort();
    files
}

/// Runs `target` on each file; returns the files it panicked on, with the message.
fn replay(target: fn(&[u8]), files: &[PathBuf]) -> Vec<String> {
    let mut failures = Vec::new();
    for file in files {
        let data = std::fs::read(file).expect("read a corpus file");
        if let Err(panic) = std::panic::catch_unwind(|| target(&data)) {
            let message = panic
                .downcast_ref::<String>()
                .cloned()
                .or_else(|| panic.downcast_ref::<&str>().map(|s| (*s).to_owned()))
                .unwrap_or_default();
            failures.push(format!("{}: {message}", file.display()));
        }
    }
    failures
}

#[test]
fn every_target_replays_its_seed_corpus_and_regressions() {
    let mut failures = Vec::new();
    for (name, target) in TARGETS {
        let corpus = fuzz_dir().join("corpus").join(name);
        let seeds = files_in(&corpus);
        assert!(
            !seeds.is_empty(),
            "target {name}: its seed corpus {} is missing or empty",
            corpus.display()
        );
        failures.extend(replay(*target, &seeds));
        let regressions = files_in(&fuzz_dir().join("regressions").join(name));
        failures.extend(replay(*target, &regressions));
        eprintln!(
            "{name}: {} seed(s), {} regression(s) replayed",
            seeds.len(),
            regressions.len()
        );
    }
    assert!(
        failures.is_empty(),
        "{} corpus file(s) made a target panic:\n{}",
        failures.len(),
        failures.join("\n")
    );
}

#[test]
fn fuzz_crate_has_exactly_these_targets_each_one_line_into_this_crate() {
    let ours: BTreeSet<&str> = TARGETS.iter().map(|(name, _)| *name).collect();
    assert_eq!(ours.len(), TARGETS.len(), "a target is listed twice");

    let manifest = std::fs::read_to_string(fuzz_dir().join("Cargo.toml")).unwrap();
    let bins: BTreeSet<&str> = manifest
        .lines()
        .filter_map(|l| l.trim().strip_prefix("name = \""))
        .filter_map(|l| l.strip_suffix('"'))
        .filter(|n| *n != "nightjar-fuzz")
        .collect();
    assert_eq!(bins, ours, "fuzz/Cargo.toml [[bin]]s and TARGETS differ");

    let files: BTreeSet<String> = files_in(&fuzz_dir().join("fuzz_targets"))
        .iter()
        .filter_map(|p| p.file_stem().map(|s| s.to_string_lossy().into_owned()))
        .collect();
    let ours_owned: BTreeSet<String> = ours.iter().map(|s| (*s).to_owned()).collect();
    assert_eq!(
        files, ours_owned,
        "fuzz/fuzz_targets/*.rs and TARGETS differ"
    );

    for name in ours {
        let source =
            std::fs::read_to_string(fuzz_dir().join(format!("fuzz_targets/{name}.rs"))).unwrap();
        assert!(
            source.contains(&format!("nightjar_fuzzing::{name}(data)")),
            "fuzz/fuzz_targets/{name}.rs does not call nightjar_fuzzing::{name}"
        );
    }
}

/// The replay must be able to fail: a target that panics on some input is
/// reported with that input's file.
#[test]
fn replay_reports_a_panicking_input() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("good"), b"fine").unwrap();
    std::fs::write(dir.path().join("bad"), b"boom").unwrap();
    fn picky(data: &[u8]) {
        assert!(data != b"boom", "found the bomb");
    }
    let failures = replay(picky, &files_in(dir.path()));
    assert_eq!(failures.len(), 1, "{failures:?}");
    assert!(failures[0].contains("bad") && failures[0].contains("found the bomb"));
}

/// Whether the decoder(s) a target fuzzes accept `data` as the real code
/// would use it (for a config: parses *and* validates).
fn accepts(target: &str, data: &[u8]) -> bool {
    use nightjar_client::{HistoryRecord, Profile};
    use nightjar_crypto::at_rest::{LocalCipher, open_seed, seal_seed};
    use nightjar_crypto::identity::{AccountId, Identity, Seed};

    let text = String::from_utf8_lossy(data);
    match target {
        "request_frame" => nightjar_wire::Request::from_frame(data).is_ok(),
        "response_frame" => nightjar_wire::Response::from_frame(data).is_ok(),
        "store_receipt" => match nightjar_wire::Response::from_frame(data) {
            Ok(nightjar_wire::Response {
                body: nightjar_wire::ResponseBody::Stored { hash, receipts, .. },
                ..
            }) => {
                let key =
                    Identity::from_seed(Seed::from_bytes(nightjar_fuzzing::RECEIPT_NODE_SEED))
                        .public_key();
                receipts.iter().any(|r| {
                    nightjar_node::engine::receipt_verifies(
                        &nightjar_node::engine::Ed25519,
                        &key,
                        &hash,
                        r,
                    )
                })
            }
            _ => false,
        },
        "envelope_open" => {
            let recipient =
                Identity::from_seed(Seed::from_bytes(nightjar_fuzzing::ENVELOPE_RECIPIENT_SEED));
            nightjar_crypto::envelope::open(&recipient, data).is_ok()
        }
        "registry_files" => {
            nightjar_registry::Registry::from_toml(&text).is_ok()
                || nightjar_registry::NetworkFile::from_toml(&text, Path::new("/x")).is_ok()
        }
        "keyfile" => open_seed(data, None).is_ok() || open_seed(data, Some(b"pass")).is_ok(),
        "account_text" => {
            text.parse::<AccountId>().is_ok() || Identity::from_mnemonic(&text).is_ok()
        }
        "node_config" => nightjar_node::NodeConfig::from_toml(&text)
            .is_ok_and(|config| config.validate().is_ok()),
        "profile_files" if data.starts_with(b"SQLite format 3\0") => {
            let dir = tempfile::tempdir().unwrap();
            let seed = Seed::from_bytes(nightjar_fuzzing::PROFILE_SEED);
            std::fs::write(
                dir.path().join("identity.key"),
                seal_seed(&seed, None).unwrap(),
            )
            .unwrap();
            std::fs::write(dir.path().join("history.sqlite"), data).unwrap();
            Profile::open(dir.path(), None).is_ok_and(|p| p.history().is_ok())
        }
        "profile_files" => {
            let cipher = LocalCipher::from_seed(&Seed::from_bytes(nightjar_fuzzing::PROFILE_SEED));
            let mut aad = nightjar_fuzzing::HISTORY_AAD_LABEL.to_vec();
            aad.extend_from_slice(&[0x4a; 32]);
            let plain = cipher.decrypt(&aad, data).map(|p| p.to_vec());
            serde_json::from_slice::<HistoryRecord>(&plain.unwrap_or_else(|_| data.to_vec()))
                .is_ok()
                || nightjar_client::GuardState::from_bytes(data).is_ok()
        }
        "onion_layer" => data.split_first_chunk::<32>().is_some_and(|(ek, layer)| {
            let relay =
                Identity::from_seed(Seed::from_bytes(nightjar_fuzzing::ONION_NODE_SEEDS[0]));
            nightjar_crypto::onion::peel(&relay, ek, layer).is_ok()
        }),
        "chain_log" => nightjar_fuzzing::chain_log_parts(data).is_some_and(|(topics, body)| {
            matches!(
                nightjar_chain::events::decode_event(&topics, body),
                Ok(Some(_))
            )
        }),
        "chain_state" => nightjar_chain::SavedState::decode(data).is_ok(),
        "device_records" => match data.split_first() {
            Some((0, body)) => nightjar_devices::DeviceList::decode(body).is_ok(),
            Some((1, body)) => nightjar_devices::PrekeyBundle::decode(body).is_ok(),
            Some((2, body)) => nightjar_devices::OneTimePrekey::decode(body).is_ok(),
            Some((3, body)) => nightjar_devices::OwnDevice::decode(body).is_ok(),
            _ => false,
        },
        "ratchet_initial" => {
            let f = nightjar_fuzzing::ratchet_fixture();
            let mut store = f.store.clone();
            nightjar_ratchet::Session::respond(
                &f.responder_identity,
                &mut store,
                nightjar_fuzzing::RATCHET_CONTEXT,
                data,
            )
            .is_ok()
        }
        "ratchet_message" => nightjar_fuzzing::ratchet_fixture()
            .initiator
            .clone()
            .decrypt(data)
            .is_ok(),
        "ratchet_state" => nightjar_ratchet::Session::from_bytes(data).is_ok(),
        "link_records" => {
            let f = nightjar_fuzzing::link_fixture();
            text.parse::<nightjar_crypto::link::LinkCode>().is_ok()
                || nightjar_crypto::link::open_request(&f.code.secret, data).is_ok()
                || f.joiner.open_hello(&f.code.secret, data).is_ok()
                || f.session.open_answer(data).is_ok()
        }
        "envelope_v2_open" => nightjar_fuzzing::envelope_v2_receive(data).is_ok(),
        "client_v2_records" => {
            use nightjar_client::messaging::link;
            match data.split_first() {
                Some((0, body)) => nightjar_client::messaging::ContentV2::decode(body).is_ok(),
                Some((1, body)) => nightjar_client::messaging::SessionSet::decode(body).is_ok(),
                Some((2, body)) => link::JoinInfo::decode(body).is_ok(),
                Some((3, body)) => link::decode_first_answer(body).is_ok(),
                Some((4, body)) => link::decode_history_chunk(body).is_ok(),
                Some((5, body)) => {
                    nightjar_client::device_state::decode_known_devices(body).is_ok()
                }
                Some((6, body)) => nightjar_client::contacts::ContactBook::decode(body).is_ok(),
                _ => false,
            }
        }
        "rpc_request" => nightjar_rpc::decode_request(data).is_ok(),
        "circuit_cell" => nightjar_crypto::circuit::Cell::parse(data).is_ok(),
        "cell_demux" => nightjar_fuzzing::cell_demux_has_cell(data),
        other => panic!("no acceptance check for target {other}"),
    }
}

/// The seeds still mean what their names say: every `valid-…` seed is
/// accepted by its decoder and every `bad-…` one refused (`mask-…` seeds are
/// masks over a target's reference value). When a format changes, this fails
/// until `cargo run -p nightjar-fuzzing --example write_seed_corpora`
/// regenerates the seeds, so fuzzing keeps starting from valid inputs.
#[test]
fn valid_seeds_are_accepted_and_bad_ones_refused() {
    let mut wrong = Vec::new();
    for (name, _) in TARGETS {
        for file in files_in(&fuzz_dir().join("corpus").join(name)) {
            let file_name = file.file_name().unwrap().to_string_lossy().into_owned();
            let expected = if file_name.starts_with("valid-") {
                true
            } else if file_name.starts_with("bad-") {
                false
            } else {
                continue;
            };
            let data = std::fs::read(&file).unwrap();
            if accepts(name, &data) != expected {
                wrong.push(format!("{name}/{file_name}"));
            }
        }
    }
    assert!(
        wrong.is_empty(),
        "seeds whose decoder verdict no longer matches their name (regenerate them with \
         `cargo run -p nightjar-fuzzing --example write_seed_corpora`):\n{}",
        wrong.join("\n")
    );
}
