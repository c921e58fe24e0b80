//! Real transactions on a real local chain: anvil, the committed artifacts
//! deployed by `deploy()`, a node registered, its contact updated, its exit
//! requested and its stake withdrawn after the unbonding period (anvil's
//! `evm_increaseTime`), each step checked through the chain follower of
//! `nightjar-chain` the way every node will see it; and every refusal —
//! wrong chain, no registry, a revert decoded by the contract's error name,
//! a short token balance — shown to send nothing.
//!
//! Needs anvil: `contrib/chain-tools.sh` installs it (the test runs it, and
//! fails with its message if it cannot), or `$NIGHTJAR_ANVIL`.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod support;

use std::collections::BTreeSet;
use std::net::SocketAddr;
use std::os::unix::fs::PermissionsExt;
use std::sync::Arc;
use std::time::Duration;

use alloy_provider::{Provider, RootProvider};
use alloy_sol_types::{SolCall, sol};
use nightjar_chain::rpc::ChainFollower;
use nightjar_chain::{FollowerConfig, FollowerEvent, NodeState, Snapshot};
use nightjar_chain_tx::deploy::tokens;
use nightjar_chain_tx::{
    Address, B256, DeployParams, Operator, OperatorKey, TxError, U256, deploy,
};
use nightjar_crypto::identity::{Identity, Seed};
use nightjar_registry::SwarmMap;
use serde_json::{Value, json};
use support::{Anvil, CHAIN_ID, DEV_KEYS};

sol! {
    function approve(address spender, uint256 value) returns (bool);
    function transfer(address to, uint256 value) returns (bool);
}

/// The unbonding period the test deploys with.
const UNBONDING: u64 = 3600;

fn identity(n: u8) -> Identity {
    Identity::from_seed(Seed::from_bytes([n; 32]))
}

fn key_of(n: u8) -> B256 {
    B256::from(identity(n).public_key().to_bytes())
}

fn addr(text: &str) -> SocketAddr {
    text.parse().unwrap()
}

/// Raw JSON-RPC to anvil (its test methods, and counting transactions).
struct Rpc(RootProvider);

impl Rpc {
    fn new(url: &str) -> Rpc {
        Rpc(RootProvider::new_http(url.parse().unwrap()))
    }

    async fn call<R>(&self, method: &'static str, params: Value) -> R
    where
        R: serde::de::DeserializeOwned + std::fmt::Debug + Send + Sync + Unpin + 'static,
    {
        self.0
            .raw_request::<Value, R>(method.into(), params)
            .await
            .unwrap_or_else(|e| panic!("{method}: {e}"))
    }

    /// The receipt of `hash` (automine mines at once, but the receipt may
    /// show up a moment later: polled, up to 10 s).
    async fn receipt(&self, hash: B256) -> Value {
        for _ in 0..500 {
            let receipt: Value = self.call("eth_getTransactionReceipt", json!([hash])).await;
            if !receipt.is_null() {
                return receipt;
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        panic!("no receipt for {hash} after 10 s");
    }

    /// How many transactions `account` has sent.
    async fn sent(&self, account: Address) -> u64 {
        self.0.get_transaction_count(account).await.unwrap()
    }
}

/// Follows until a caught-up snapshot satisfies `done`.
async fn follow_until(
    follower: &mut ChainFollower,
    done: impl Fn(&Snapshot) -> bool,
) -> Arc<Snapshot> {
    let work = async {
        loop {
            let event = follower.next_event().await.unwrap();
            if matches!(event, FollowerEvent::Synced { .. })
                && let Some(s) = follower.snapshot()
                && done(&s)
            {
                return s;
            }
        }
    };
    match tokio::time::timeout(Duration::from_secs(60), work).await {
        Ok(s) => s,
        Err(_) => panic!(
            "the follower did not get there within 60 s; status {:?}",
            follower.follower().status(follower.now_ms())
        ),
    }
}

fn node(snapshot: &Snapshot, n: u8) -> Option<nightjar_chain::ChainNode> {
    snapshot
        .nodes
        .iter()
        .find(|c| c.id.0.to_bytes() == key_of(n).0)
        .cloned()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn deploy_register_update_exit_withdraw_on_anvil() {
    let anvil = Anvil::start();
    let rpc = Rpc::new(&anvil.url);
    let accounts: Vec<Address> = rpc.call("eth_accounts", json!([])).await;
    assert_eq!(accounts.len(), 10, "anvil's ten dev accounts");
    for (key, account) in DEV_KEYS.iter().zip(&accounts) {
        assert_eq!(OperatorKey::from_hex(key).unwrap().address(), *account);
    }

    // The operator's key comes from a file only its owner may read.
    let dir = tempfile::tempdir().unwrap();
    let key_file = dir.path().join("operator.key");
    std::fs::write(&key_file, format!("{}\n", DEV_KEYS[0])).unwrap();
    std::fs::set_permissions(&key_file, std::fs::Permissions::from_mode(0o600)).unwrap();
    let key = OperatorKey::from_file(&key_file).unwrap();
    let me = key.address();
    assert_eq!(me, accounts[0]);

    // Deploy: refused on the wrong chain before anything is sent; then the
    // devnet's deployment with an unbonding period.
    let params = DeployParams {
        chain_id: Some(CHAIN_ID),
        unbonding_period: UNBONDING,
        ..DeployParams::devnet(accounts.clone())
    };
    let wrong = DeployParams {
        chain_id: Some(1),
        ..params.clone()
    };
    let err = deploy(&anvil.url, &key, &wrong).await.unwrap_err();
    assert!(
        matches!(
            err,
            TxError::WrongChain {
                expected: 1,
                got: CHAIN_ID
            }
        ),
        "{err}"
    );
    assert_eq!(rpc.sent(me).await, 0);
    let d = deploy(&anvil.url, &key, &params).await.unwrap();
    assert_eq!(d.chain_id, CHAIN_ID);
    assert_eq!(d.deployer, me);
    assert_eq!(rpc.sent(me).await, 2);

    let operator = Operator::connect(&anvil.url, CHAIN_ID, d.registry, &key)
        .await
        .unwrap();
    let stake = tokens(25_000);
    assert_eq!(operator.stake(), stake);
    assert_eq!(operator.token(), d.token);
    assert_eq!(operator.address(), me);
    // Each of anvil's ten dev accounts can stake ten nodes.
    for account in &accounts {
        assert_eq!(
            operator.token_balance(*account).await.unwrap(),
            stake * U256::from(10)
        );
    }

    // Refused before sending: wrong chain, no contract, not a registry.
    let err = Operator::connect(&anvil.url, 1, d.registry, &key)
        .await
        .unwrap_err();
    assert!(
        matches!(
            err,
            TxError::WrongChain {
                expected: 1,
                got: CHAIN_ID
            }
        ),
        "{err}"
    );
    for not_registry in [Address::repeat_byte(0x42), d.token] {
        let err = Operator::connect(&anvil.url, CHAIN_ID, not_registry, &key)
            .await
            .unwrap_err();
        assert!(matches!(err, TxError::NotARegistry { .. }), "{err}");
    }
    assert_eq!(rpc.sent(me).await, 2);

    // Register node 1: the nonce is read, the proof signed, the stake
    // approved (the allowance is zero), the registration sent.
    let reg = operator
        .register(&identity(1), addr("127.0.0.1:40001"))
        .await
        .unwrap();
    assert_eq!(reg.nonce, U256::ZERO);
    assert_eq!(reg.stake, stake);
    let approval = reg.approval.expect("the allowance was zero");
    assert!(approval.block < reg.landed.block);
    assert_eq!(rpc.sent(me).await, 4);
    assert_eq!(operator.nonce().await.unwrap(), U256::from(1));
    assert_eq!(
        operator.token_balance(me).await.unwrap(),
        stake * U256::from(9)
    );
    let state = operator
        .registration(&identity(1).public_key())
        .await
        .unwrap();
    assert!(state.exists());
    assert_eq!(state.exit_requested_at, U256::ZERO);

    // The same key again: refused, nothing sent.
    let err = operator
        .register(&identity(1), addr("127.0.0.1:40001"))
        .await
        .unwrap_err();
    assert_eq!(err.contract_error(), Some("AlreadyRegistered"), "{err}");
    assert_eq!(rpc.sent(me).await, 4);

    // Node 2 with the allowance already there (approved by hand): no
    // approve, the next nonce.
    let approve = approveCall {
        spender: d.registry,
        value: stake,
    };
    let hash: B256 = rpc
        .call(
            "eth_sendTransaction",
            json!([{"from": me, "to": d.token,
                    "data": format!("0x{}", hex::encode(approve.abi_encode()))}]),
        )
        .await;
    assert_eq!(rpc.receipt(hash).await["status"], "0x1");
    let reg2 = operator
        .register(&identity(2), addr("127.0.0.1:40002"))
        .await
        .unwrap();
    assert_eq!(reg2.nonce, U256::from(1));
    assert!(reg2.approval.is_none());

    // Followers see both, with their contacts.
    let mut follower = ChainFollower::open(
        FollowerConfig {
            start_block: d.block,
            confirmations: 0,
            poll_interval_ms: 100,
            ..FollowerConfig::new(CHAIN_ID, d.registry, 1)
        },
        std::slice::from_ref(&anvil.url),
        None,
        Duration::from_secs(5),
    )
    .unwrap();
    let snapshot = follow_until(&mut follower, |s| s.nodes.len() == 2).await;
    let n1 = node(&snapshot, 1).unwrap();
    assert_eq!(n1.addr, addr("127.0.0.1:40001"));
    assert_eq!(n1.operator, me);
    assert_eq!(n1.state, NodeState::Active);
    assert_eq!(n1.stake, stake);
    assert_eq!(node(&snapshot, 2).unwrap().addr, addr("127.0.0.1:40002"));
    assert!(snapshot.block.number >= reg2.landed.block);

    // Update node 1's contact (to IPv6).
    let landed = operator
        .update_contact(&identity(1).public_key(), addr("[2001:db8::1]:443"))
        .await
        .unwrap();
    assert!(landed.block > reg2.landed.block);
    let snapshot = follow_until(&mut follower, |s| {
        node(s, 1).is_some_and(|n| n.addr == addr("[2001:db8::1]:443"))
    })
    .await;
    assert!(snapshot.block.number >= landed.block);

    // Withdraw before an exit: the contract's error, by name; nothing sent.
    let sent = rpc.sent(me).await;
    let err = operator
        .withdraw(&identity(1).public_key())
        .await
        .unwrap_err();
    assert_eq!(err.contract_error(), Some("ExitNotRequested"), "{err}");
    assert!(err.to_string().contains("nothing was sent"), "{err}");
    // A contact nobody can reach is refused before the contract is asked.
    let err = operator
        .update_contact(&identity(1).public_key(), addr("0.0.0.0:443"))
        .await
        .unwrap_err();
    assert!(matches!(err, TxError::InvalidParameter { .. }), "{err}");
    // Another operator's node: NotRegistered.
    let err = operator
        .request_exit(&identity(9).public_key())
        .await
        .unwrap_err();
    assert_eq!(err.contract_error(), Some("NotRegistered"), "{err}");
    assert_eq!(rpc.sent(me).await, sent);

    // Request node 1's exit: it leaves the swarms, listed as exiting.
    let exit = operator
        .request_exit(&identity(1).public_key())
        .await
        .unwrap();
    let block: Value = rpc
        .call(
            "eth_getBlockByNumber",
            json!([format!("0x{:x}", exit.landed.block), false]),
        )
        .await;
    let timestamp = u64::from_str_radix(
        block["timestamp"]
            .as_str()
            .unwrap()
            .trim_start_matches("0x"),
        16,
    )
    .unwrap();
    assert_eq!(exit.withdrawable_at, U256::from(timestamp + UNBONDING));
    let snapshot = follow_until(&mut follower, |s| {
        node(s, 1).is_some_and(|n| n.state == NodeState::Exiting)
    })
    .await;
    let map = SwarmMap::replay(&snapshot.events).unwrap();
    assert_eq!(map.node_count(), 1, "only node 2 is in a swarm");
    let err = operator
        .request_exit(&identity(1).public_key())
        .await
        .unwrap_err();
    assert_eq!(err.contract_error(), Some("ExitAlreadyRequested"), "{err}");

    // Withdraw during the unbonding period: refused, with the time it ends.
    let err = operator
        .withdraw(&identity(1).public_key())
        .await
        .unwrap_err();
    assert_eq!(err.contract_error(), Some("StillUnbonding"), "{err}");
    assert!(
        err.to_string().contains(&exit.withdrawable_at.to_string()),
        "{err}"
    );

    // After the unbonding period: the stake comes back.
    let _: Value = rpc.call("evm_increaseTime", json!([UNBONDING])).await;
    let _: Value = rpc.call("anvil_mine", json!([1])).await;
    let before = operator.token_balance(me).await.unwrap();
    let withdrawn = operator.withdraw(&identity(1).public_key()).await.unwrap();
    assert_eq!(withdrawn.stake, stake);
    assert_eq!(operator.token_balance(me).await.unwrap(), before + stake);
    assert!(
        !operator
            .registration(&identity(1).public_key())
            .await
            .unwrap()
            .exists()
    );
    let snapshot = follow_until(&mut follower, |s| node(s, 1).is_none()).await;
    assert!(snapshot.block.number >= withdrawn.landed.block);
    assert_eq!(
        snapshot
            .nodes
            .iter()
            .map(|n| n.id.0.to_bytes())
            .collect::<BTreeSet<_>>(),
        BTreeSet::from([key_of(2).0])
    );

    // An operator with ether but none of the token: refused before any
    // approve.
    let poor = OperatorKey::from_hex(&"11".repeat(32)).unwrap();
    let _: Value = rpc
        .call(
            "anvil_setBalance",
            json!([poor.address(), "0xde0b6b3a7640000"]),
        )
        .await;
    let poor_operator = Operator::connect(&anvil.url, CHAIN_ID, d.registry, &poor)
        .await
        .unwrap();
    let err = poor_operator
        .register(&identity(3), addr("127.0.0.1:40003"))
        .await
        .unwrap_err();
    assert!(
        matches!(err, TxError::InsufficientBalance { balance, needed, .. }
            if balance.is_zero() && needed == stake),
        "{err}"
    );
    assert_eq!(rpc.sent(poor.address()).await, 0);

    // An operator with the token but no ether for gas: the approve cannot
    // be paid for, and says so.
    let broke = OperatorKey::from_hex(&"22".repeat(32)).unwrap();
    let gift = transferCall {
        to: broke.address(),
        value: stake,
    };
    let hash: B256 = rpc
        .call(
            "eth_sendTransaction",
            json!([{"from": me, "to": d.token,
                    "data": format!("0x{}", hex::encode(gift.abi_encode()))}]),
        )
        .await;
    assert_eq!(rpc.receipt(hash).await["status"], "0x1");
    let broke_operator = Operator::connect(&anvil.url, CHAIN_ID, d.registry, &broke)
        .await
        .unwrap();
    let err = broke_operator
        .register(&identity(4), addr("127.0.0.1:40004"))
        .await
        .unwrap_err();
    assert!(
        matches!(err, TxError::InsufficientFunds { account, call: "approve", .. }
            if account == broke.address()),
        "{err}"
    );
    assert_eq!(rpc.sent(broke.address()).await, 0);
}

/// An RPC that does not answer: a clear error that never quotes the URL
/// (which may carry an API key).
#[tokio::test]
async fn an_unreachable_rpc_is_named_without_its_url() {
    let key = OperatorKey::from_hex(DEV_KEYS[0]).unwrap();
    let url = "http://127.0.0.1:1/v2/SECRET-API-KEY";
    let err = Operator::connect(url, CHAIN_ID, Address::repeat_byte(1), &key)
        .await
        .unwrap_err();
    let message = err.to_string();
    assert!(matches!(err, TxError::Rpc { .. }), "{message}");
    assert!(!message.contains("SECRET"), "{message}");
    assert!(!message.contains("127.0.0.1:1"), "{message}");
    // Why it failed, not only that it did.
    assert!(message.to_lowercase().contains("refused"), "{message}");
    let err = Operator::connect("ws://127.0.0.1:1", CHAIN_ID, Address::repeat_byte(1), &key)
        .await
        .unwrap_err();
    assert!(matches!(err, TxError::InvalidUrl(_)), "{err}");
}
