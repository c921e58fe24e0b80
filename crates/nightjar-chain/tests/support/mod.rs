//! Test-only helpers for a real local chain: start `anvil` (installed by
//! `contrib/chain-tools.sh`) on a free port, deploy the committed artifacts
//! (`contracts/artifacts/*.json`) and send transactions from anvil's unlocked
//! dev accounts. Devnet and test use only: nothing here signs with a real
//! key, and none of it is part of the crate.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, dead_code)]

use std::path::{Path, PathBuf};
use std::time::Duration;

use alloy_provider::{Provider, RootProvider};
use alloy_sol_types::{SolCall, SolValue, sol};
use nightjar_chain::{Address, B256, U256};
use serde_json::{Value, json};

sol! {
    function approve(address spender, uint256 amount) returns (bool);
    function register(bytes32 ed25519Key, bytes contact, bytes signature) returns (uint256 nonce);
    function requestExit(bytes32 ed25519Key);
    function updateContact(bytes32 ed25519Key, bytes contact);
    function nonces(address operator) returns (uint256);
}

/// The std-only anvil launcher the chain-tx and CLI tests share.
#[path = "../../../nightjar-chain-tx/tests/support/mod.rs"]
mod base;

pub use base::CHAIN_ID;

/// The stake per registration the tests deploy with (25,000 tokens).
pub fn stake() -> U256 {
    U256::from(25_000u64) * U256::from(10u64).pow(U256::from(18u64))
}

fn workspace_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

/// A running anvil on a free loopback port (the shared launcher's, killed
/// on drop, also when the test panics) and a provider for it.
pub struct Anvil {
    _process: base::Anvil,
    /// Its JSON-RPC URL.
    pub url: String,
    /// A provider for it.
    pub provider: RootProvider,
}

impl Anvil {
    /// Starts anvil (chain 31337, a block per transaction) and waits until it listens.
    pub fn start() -> Anvil {
        let process = base::Anvil::start();
        let url = process.url.clone();
        let provider = RootProvider::new_http(url.parse().unwrap());
        Anvil {
            _process: process,
            url,
            provider,
        }
    }

    /// A JSON-RPC call.
    pub async fn rpc<
        R: serde::de::DeserializeOwned + std::fmt::Debug + Send + Sync + Unpin + 'static,
    >(
        &self,
        method: &'static str,
        params: Value,
    ) -> R {
        self.provider
            .raw_request::<Value, R>(method.into(), params)
            .await
            .unwrap_or_else(|e| panic!("{method}: {e}"))
    }

    /// Anvil's funded, unlocked dev accounts.
    pub async fn accounts(&self) -> Vec<Address> {
        self.rpc("eth_accounts", json!([])).await
    }

    /// The head.
    pub async fn head(&self) -> u64 {
        self.provider.get_block_number().await.unwrap()
    }

    /// Sends a transaction from the unlocked `from` (mined at once); returns
    /// its receipt, which must succeed.
    pub async fn send(&self, from: Address, to: Option<Address>, data: Vec<u8>) -> Value {
        let mut tx = json!({"from": from, "data": format!("0x{}", hex::encode(&data))});
        if let Some(to) = to {
            tx["to"] = json!(to);
        }
        let hash: B256 = self.rpc("eth_sendTransaction", json!([tx])).await;
        // Automine mines it at once, but the receipt may show up a moment later.
        for _ in 0..500 {
            let receipt: Value = self.rpc("eth_getTransactionReceipt", json!([hash])).await;
            if !receipt.is_null() {
                assert_eq!(receipt["status"], "0x1", "transaction failed: {receipt}");
                return receipt;
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        panic!("no receipt for {hash} after 10 s");
    }

    /// A read-only call.
    pub async fn call(&self, to: Address, data: Vec<u8>) -> Vec<u8> {
        let out: alloy_primitives::Bytes = self
            .rpc(
                "eth_call",
                json!([{"to": to, "data": format!("0x{}", hex::encode(&data))}, "latest"]),
            )
            .await;
        out.to_vec()
    }

    /// Mines `n` empty blocks.
    pub async fn mine(&self, n: u64) {
        let _: Value = self.rpc("anvil_mine", json!([n])).await;
    }
}

/// The bytecode of a committed artifact.
fn bytecode(name: &str) -> Vec<u8> {
    let path = workspace_root().join(format!("contracts/artifacts/{name}.json"));
    let text = std::fs::read_to_string(&path).unwrap();
    let json: Value = serde_json::from_str(&text).unwrap();
    let code = json["bytecode"]
        .as_str()
        .or_else(|| json["bytecode"]["object"].as_str())
        .expect("the artifact's bytecode");
    hex::decode(code.trim_start_matches("0x")).unwrap()
}

/// The deployed test token and registry.
pub struct Deployment {
    /// The token.
    pub token: Address,
    /// The registry contract.
    pub registry: Address,
    /// The block the registry was deployed in.
    pub block: u64,
}

fn created(receipt: &Value) -> (Address, u64) {
    let address = receipt["contractAddress"]
        .as_str()
        .unwrap()
        .parse()
        .unwrap();
    let block = u64::from_str_radix(
        receipt["blockNumber"]
            .as_str()
            .unwrap()
            .trim_start_matches("0x"),
        16,
    )
    .unwrap();
    (address, block)
}

/// Deploys the committed artifacts from `admin`: the token (each of
/// `holders` gets ten stakes) and the registry (no unbonding, no minimum
/// age, slashed stake to 0x…dEaD).
pub async fn deploy(anvil: &Anvil, admin: Address, holders: &[Address]) -> Deployment {
    let mut code = bytecode("NightjarTestToken");
    code.extend((holders.to_vec(), stake() * U256::from(10)).abi_encode_params());
    let (token, _) = created(&anvil.send(admin, None, code).await);
    let mut code = bytecode("NodeRegistry");
    let dead: Address = "0x000000000000000000000000000000000000dEaD"
        .parse()
        .unwrap();
    code.extend((token, stake(), U256::ZERO, U256::ZERO, dead, admin).abi_encode_params());
    let (registry, block) = created(&anvil.send(admin, None, code).await);
    Deployment {
        token,
        registry,
        block,
    }
}

impl Deployment {
    /// `operator`'s next registration nonce.
    pub async fn nonce(&self, anvil: &Anvil, operator: Address) -> u64 {
        let out = anvil
            .call(self.registry, noncesCall { operator }.abi_encode())
            .await;
        U256::abi_decode(&out).unwrap().to::<u64>()
    }

    /// `operator` approves one stake and registers `key` with `signature`.
    pub async fn register(
        &self,
        anvil: &Anvil,
        operator: Address,
        key: B256,
        contact: Vec<u8>,
        signature: Vec<u8>,
    ) -> Value {
        let approve = approveCall {
            spender: self.registry,
            amount: stake(),
        };
        anvil
            .send(operator, Some(self.token), approve.abi_encode())
            .await;
        let call = registerCall {
            ed25519Key: key,
            contact: contact.into(),
            signature: signature.into(),
        };
        anvil
            .send(operator, Some(self.registry), call.abi_encode())
            .await
    }

    /// `operator` requests the exit of its registration of `key`.
    pub async fn request_exit(&self, anvil: &Anvil, operator: Address, key: B256) {
        let call = requestExitCall { ed25519Key: key };
        anvil
            .send(operator, Some(self.registry), call.abi_encode())
            .await;
    }
}
