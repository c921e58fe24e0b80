//! `nightjar operator` against a real chain: anvil, `operator deploy`
//! (test tokens to anvil's ten dev accounts), then `register`,
//! `update-contact`, `request-exit` and `withdraw` with a node key file
//! (encrypted, opened with NIGHTJAR_PASSPHRASE) and an operator key from a
//! file or NIGHTJAR_OPERATOR_KEY; each command's JSON keys (a scripting
//! contract, docs/CLI.md) and its effect on the contract checked; the
//! refusals — wrong chain ID, a key file others may read, a revert by
//! name — leave the chain as it was.
//!
//! Needs anvil: `contrib/chain-tools.sh` installs it (the test runs it, and
//! fails with its message if it cannot), or `$NIGHTJAR_ANVIL`.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

#[path = "../../nightjar-chain-tx/tests/support/mod.rs"]
mod anvil;

use std::os::unix::fs::PermissionsExt;
use std::path::Path;
use std::process::{Command, Output, Stdio};

use anvil::{Anvil, CHAIN_ID, DEV_KEYS};
use nightjar_chain_tx::deploy::tokens;
use nightjar_chain_tx::{Address, Operator, OperatorKey, U256};
use nightjar_crypto::identity::{Identity, Seed};
use serde_json::Value;

const NIGHTJAR: &str = env!("CARGO_BIN_EXE_nightjar");
const PASSPHRASE: &str = "correct horse battery staple";

/// `nightjar operator ARGS` with no key, passphrase or log settings
/// inherited.
fn operator(args: &[&str]) -> Command {
    let mut cmd = Command::new(NIGHTJAR);
    for var in [
        "NIGHTJAR_PROFILE",
        "NIGHTJAR_NETWORK",
        "NIGHTJAR_PASSPHRASE",
        "NIGHTJAR_LOG",
        "NIGHTJAR_OPERATOR_KEY",
        "NIGHTJAR_DEPLOYER_KEY",
    ] {
        cmd.env_remove(var);
    }
    cmd.arg("operator").args(args).stdin(Stdio::null());
    cmd
}

fn output(cmd: &mut Command) -> Output {
    cmd.output().expect("spawn nightjar")
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

/// Runs and requires success; returns stdout parsed as one JSON object.
fn json_ok(cmd: &mut Command) -> Value {
    let out = output(cmd);
    assert!(
        out.status.success(),
        "{cmd:?} failed:\nstdout: {}\nstderr: {}",
        text(&out.stdout),
        text(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).unwrap_or_else(|e| panic!("{e}: {}", text(&out.stdout)))
}

/// Runs and requires failure; returns stderr.
fn fails(cmd: &mut Command) -> String {
    let out = output(cmd);
    assert!(
        !out.status.success(),
        "{cmd:?} succeeded:\nstdout: {}",
        text(&out.stdout)
    );
    assert!(out.stdout.is_empty(), "{}", text(&out.stdout));
    text(&out.stderr)
}

fn write_key(path: &Path, contents: &str, mode: u32) {
    std::fs::write(path, contents).unwrap();
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(mode)).unwrap();
}

fn is_tx_hash(v: &Value) -> bool {
    v.as_str()
        .is_some_and(|s| s.len() == 66 && s.starts_with("0x") && hex::decode(&s[2..]).is_ok())
}

#[test]
fn operator_commands_on_anvil() {
    let anvil = Anvil::start();
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let dir = tempfile::tempdir().unwrap();
    let url = anvil.url.as_str();
    let chain = CHAIN_ID.to_string();

    // Deploy, the deployer's key from NIGHTJAR_DEPLOYER_KEY, tokens to every
    // dev account.
    let d = json_ok(
        operator(&[
            "deploy",
            "--rpc",
            url,
            "--chain-id",
            &chain,
            "--dev-accounts",
            "--json",
        ])
        .env("NIGHTJAR_DEPLOYER_KEY", DEV_KEYS[0]),
    );
    let deployer = OperatorKey::from_hex(DEV_KEYS[0]).unwrap();
    assert_eq!(d["chain_id"], CHAIN_ID);
    assert_eq!(d["deployer"], deployer.address().to_string());
    assert_eq!(d["admin"], d["deployer"]);
    assert_eq!(d["treasury"], "0x000000000000000000000000000000000000dEaD");
    assert_eq!(d["stake"], tokens(25_000).to_string());
    assert_eq!(d["amount_each"], tokens(250_000).to_string());
    assert_eq!(d["unbonding_period"], 0);
    assert_eq!(d["minimum_age"], 0);
    assert!(d["block"].as_u64().unwrap() > 0);
    assert!(is_tx_hash(&d["token_tx"]) && is_tx_hash(&d["registry_tx"]));
    let holders: Vec<Address> = d["holders"]
        .as_array()
        .unwrap()
        .iter()
        .map(|h| h.as_str().unwrap().parse().unwrap())
        .collect();
    assert_eq!(holders.len(), 10);
    for key in DEV_KEYS {
        assert!(holders.contains(&OperatorKey::from_hex(key).unwrap().address()));
    }
    let registry = d["registry"].as_str().unwrap().to_owned();
    let token: Address = d["token"].as_str().unwrap().parse().unwrap();

    // The operator is dev account #1, its key in a file only it may read.
    let op_key = OperatorKey::from_hex(DEV_KEYS[1]).unwrap();
    let op_file = dir.path().join("operator.key");
    write_key(&op_file, &format!("{}\n", DEV_KEYS[1]), 0o600);
    let op_file = op_file.to_str().unwrap().to_owned();
    let op = rt
        .block_on(Operator::connect(
            url,
            CHAIN_ID,
            registry.parse().unwrap(),
            &op_key,
        ))
        .unwrap();
    assert_eq!(op.token(), token);
    let start_balance = rt.block_on(op.token_balance(op_key.address())).unwrap();
    assert_eq!(start_balance, tokens(250_000));

    // The node's key file, encrypted with a passphrase.
    let node = Identity::from_seed(Seed::from_bytes([7; 32]));
    let node_id = node.public_key().to_hex();
    let node_file = dir.path().join("node.key");
    nightjar_keystore::create(&node_file, node.seed(), Some(PASSPHRASE.as_bytes())).unwrap();
    let node_file = node_file.to_str().unwrap().to_owned();
    let chain_args = |chain_id: &str| -> Vec<String> {
        [
            "--rpc",
            url,
            "--contract",
            &registry,
            "--chain-id",
            chain_id,
        ]
        .iter()
        .map(|s| (*s).to_owned())
        .collect()
    };
    let register = |chain_id: &str, key_file: &str| {
        let mut args = vec!["register".to_owned()];
        args.extend(chain_args(chain_id));
        args.extend(
            [
                "--operator-key",
                key_file,
                "--node-key",
                &node_file,
                "--contact",
                "127.0.0.1:40001",
                "--json",
            ]
            .map(str::to_owned),
        );
        let mut cmd = operator(&args.iter().map(String::as_str).collect::<Vec<_>>());
        cmd.env("NIGHTJAR_PASSPHRASE", PASSPHRASE);
        cmd
    };
    let unchanged = || {
        assert!(
            !rt.block_on(op.registration(&node.public_key()))
                .unwrap()
                .exists()
        );
        assert_eq!(
            rt.block_on(op.token_balance(op_key.address())).unwrap(),
            start_balance
        );
    };

    // Refused before anything is sent: the wrong chain ID; an operator key
    // file others may read; the node key without its passphrase.
    let err = fails(&mut register("1", &op_file));
    assert!(err.contains("chain 31337, not chain 1"), "{err}");
    assert!(err.contains("nothing was sent"), "{err}");
    let loose = dir.path().join("loose.key");
    write_key(&loose, DEV_KEYS[1], 0o640);
    let err = fails(&mut register(&chain, loose.to_str().unwrap()));
    assert!(
        err.contains("mode 640") && err.contains("chmod 600"),
        "{err}"
    );
    assert!(!err.contains(&DEV_KEYS[1][2..]), "{err}");
    let err = fails(register(&chain, &op_file).env_remove("NIGHTJAR_PASSPHRASE"));
    assert!(err.contains("NIGHTJAR_PASSPHRASE"), "{err}");
    // Both a key file and NIGHTJAR_OPERATOR_KEY: ambiguous, refused.
    let err = fails(register(&chain, &op_file).env("NIGHTJAR_OPERATOR_KEY", DEV_KEYS[2]));
    assert!(err.contains("use one"), "{err}");
    unchanged();

    // Register.
    let reg = json_ok(&mut register(&chain, &op_file));
    assert!(is_tx_hash(&reg["tx"]), "{reg}");
    let reg_block = reg["block"].as_u64().unwrap();
    assert_eq!(reg["node_id"], node_id);
    assert_eq!(reg["operator"], op_key.address().to_string());
    assert_eq!(reg["contract"], registry);
    assert_eq!(reg["chain_id"], CHAIN_ID);
    assert_eq!(reg["contact"], "127.0.0.1:40001");
    assert_eq!(reg["nonce"], 0);
    assert_eq!(reg["stake"], tokens(25_000).to_string());
    assert!(is_tx_hash(&reg["approve_tx"]), "{reg}");
    assert!(reg["approve_block"].as_u64().unwrap() < reg_block);
    let state = rt.block_on(op.registration(&node.public_key())).unwrap();
    assert_eq!(state.stake, tokens(25_000));
    assert_eq!(
        rt.block_on(op.token_balance(op_key.address())).unwrap(),
        start_balance - tokens(25_000)
    );

    // Registering it again: the contract's error by name.
    let err = fails(&mut register(&chain, &op_file));
    assert!(err.contains("AlreadyRegistered"), "{err}");

    // Update the contact: the node named by its ID, the operator key from
    // NIGHTJAR_OPERATOR_KEY; human output.
    let mut args = vec!["update-contact".to_owned()];
    args.extend(chain_args(&chain));
    args.extend(["--node-id", &node_id, "--contact", "[2001:db8::1]:443"].map(str::to_owned));
    let out = output(
        operator(&args.iter().map(String::as_str).collect::<Vec<_>>())
            .env("NIGHTJAR_OPERATOR_KEY", DEV_KEYS[1]),
    );
    assert!(out.status.success(), "{}", text(&out.stderr));
    let stdout = text(&out.stdout);
    assert!(stdout.contains("[2001:db8::1]:443"), "{stdout}");
    assert!(stdout.contains("updateContact: tx 0x"), "{stdout}");
    assert!(stdout.contains(" in block "), "{stdout}");

    // Withdraw before the exit: refused by name, nothing sent.
    let node_cmd = |command: &str, json: bool| {
        let mut args = vec![command.to_owned()];
        args.extend(chain_args(&chain));
        args.extend(["--operator-key", &op_file, "--node-key", &node_file].map(str::to_owned));
        if json {
            args.push("--json".into());
        }
        let mut cmd = operator(&args.iter().map(String::as_str).collect::<Vec<_>>());
        cmd.env("NIGHTJAR_PASSPHRASE", PASSPHRASE);
        cmd
    };
    let err = fails(&mut node_cmd("withdraw", true));
    assert!(err.contains("ExitNotRequested"), "{err}");
    assert!(err.contains("nothing was sent"), "{err}");

    // Request the exit.
    let exit = json_ok(&mut node_cmd("request-exit", true));
    assert!(is_tx_hash(&exit["tx"]), "{exit}");
    assert!(exit["block"].as_u64().unwrap() > reg_block);
    assert_eq!(exit["node_id"], node_id);
    assert!(exit["withdrawable_at"].as_u64().unwrap() > 0);
    let state = rt.block_on(op.registration(&node.public_key())).unwrap();
    assert!(state.exit_requested_at > U256::ZERO);

    // Withdraw (this deployment has no unbonding period): the stake is back.
    let out = json_ok(&mut node_cmd("withdraw", true));
    assert!(is_tx_hash(&out["tx"]), "{out}");
    assert_eq!(out["stake"], tokens(25_000).to_string());
    assert_eq!(out["operator"], op_key.address().to_string());
    unchanged();

    // Nothing left to withdraw.
    let err = fails(&mut node_cmd("withdraw", false));
    assert!(err.contains("NotRegistered"), "{err}");
}
