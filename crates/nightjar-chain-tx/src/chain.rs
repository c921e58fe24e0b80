//! The connection one key sends through: alloy's HTTP provider with the
//! recommended fillers (nonce, gas, chain ID) and a wallet of that key; its
//! chain checked before anything is sent; every call bounded in time; every
//! transaction simulated first, so that a revert is reported by the
//! contract's error name without being sent.

use std::future::IntoFuture;
use std::time::Duration;

use alloy_network::{EthereumWallet, TransactionBuilder};
use alloy_primitives::{Address, B256, Bytes};
use alloy_provider::{DynProvider, Provider, ProviderBuilder};
use alloy_rpc_types_eth::{TransactionReceipt, TransactionRequest};
use alloy_sol_types::SolCall;
use alloy_transport::{RpcError, TransportError, TransportResult};

use crate::abi::decode_revert;
use crate::error::{TxError, redact, with_causes};
use crate::key::OperatorKey;

/// Time allowed for one RPC call (a read, a simulation, sending).
pub const CALL_TIMEOUT: Duration = Duration::from_secs(30);

/// Time a transaction is waited for, once sent, before giving up with
/// [`TxError::NotMined`] (it may still be mined later).
pub const RECEIPT_TIMEOUT: Duration = Duration::from_secs(180);

/// A transaction that landed: its hash and the block it was mined in.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Landed {
    /// The transaction hash.
    pub tx: B256,
    /// The number of the block it was mined in.
    pub block: u64,
}

/// One account's connection to one RPC endpoint on a checked chain.
#[derive(Debug, Clone)]
pub(crate) struct Chain {
    provider: DynProvider,
    url: String,
    chain_id: u64,
    from: Address,
}

impl Chain {
    /// Connects to `rpc_url` to send as `key`; checks the RPC's chain ID
    /// against `expected` if given.
    pub(crate) async fn connect(
        rpc_url: &str,
        expected: Option<u64>,
        key: &OperatorKey,
    ) -> Result<Chain, TxError> {
        let url = url::Url::parse(rpc_url).map_err(|e| TxError::InvalidUrl(e.to_string()))?;
        if !matches!(url.scheme(), "http" | "https") {
            return Err(TxError::InvalidUrl(format!(
                "scheme {:?}, not http or https",
                url.scheme()
            )));
        }
        // The chain ID is asked first, through a provider that cannot sign.
        let reader = ProviderBuilder::new()
            .disable_recommended_fillers()
            .connect_http(url.clone());
        let got = rpc(rpc_url, key.address(), "eth_chainId", reader.get_chain_id()).await?;
        if let Some(expected) = expected
            && expected != got
        {
            return Err(TxError::WrongChain { expected, got });
        }
        // Every transaction is then signed for that chain (EIP-155), with
        // the account's nonce asked afresh each time (another tool may have
        // sent from the same account meanwhile) and its gas estimated.
        let wallet = EthereumWallet::from(key.signer().clone());
        let provider = ProviderBuilder::new()
            .disable_recommended_fillers()
            .with_gas_estimation()
            .with_simple_nonce_management()
            .with_chain_id(got)
            .wallet(wallet)
            .connect_http(url)
            .erased();
        Ok(Chain {
            provider,
            url: rpc_url.to_owned(),
            chain_id: got,
            from: key.address(),
        })
    }

    /// The accounts the RPC node itself holds keys for (`eth_accounts`).
    pub(crate) async fn node_accounts(&self) -> Result<Vec<Address>, TxError> {
        self.rpc("eth_accounts", self.provider.get_accounts()).await
    }

    /// The chain ID (checked).
    pub(crate) fn chain_id(&self) -> u64 {
        self.chain_id
    }

    /// The sending account.
    pub(crate) fn from(&self) -> Address {
        self.from
    }

    /// Awaits an RPC call named `call` within [`CALL_TIMEOUT`].
    pub(crate) async fn rpc<T, F>(&self, call: &'static str, work: F) -> Result<T, TxError>
    where
        F: IntoFuture<Output = TransportResult<T>>,
    {
        rpc(&self.url, self.from, call, work).await
    }

    /// Whether there is contract code at `address`.
    pub(crate) async fn has_code(&self, address: Address) -> Result<bool, TxError> {
        let code = self
            .rpc("eth_getCode", self.provider.get_code_at(address))
            .await?;
        Ok(!code.is_empty())
    }

    /// A read-only call of `call` on `to`, decoded.
    pub(crate) async fn view<C: SolCall>(
        &self,
        to: Address,
        call: &C,
    ) -> Result<C::Return, TxError> {
        let tx = TransactionRequest::default()
            .with_to(to)
            .with_input(call.abi_encode());
        let out: Bytes = self.rpc(C::SIGNATURE, self.provider.call(tx)).await?;
        C::abi_decode_returns(&out).map_err(|e| TxError::BadAnswer {
            call: C::SIGNATURE,
            reason: format!("the answer does not decode: {e}"),
        })
    }

    /// Simulates, sends and waits for a transaction named `call` (`to` a
    /// contract with `input`, or creating one with `input` as its code if
    /// `to` is `None`); returns where it landed and its receipt.
    pub(crate) async fn send(
        &self,
        call: &'static str,
        to: Option<Address>,
        input: Vec<u8>,
    ) -> Result<(Landed, TransactionReceipt), TxError> {
        let tx = TransactionRequest::default().with_from(self.from);
        let tx = match to {
            Some(to) => tx.with_to(to).with_input(input),
            None => tx.with_deploy_code(input),
        };
        // A revert shows up here, by the contract's error, before anything
        // is signed (the gas estimate of the send would catch it too).
        let _: Bytes = self.rpc(call, self.provider.call(tx.clone())).await?;
        let pending = self
            .rpc(call, self.provider.send_transaction(tx))
            .await?
            .with_timeout(Some(RECEIPT_TIMEOUT));
        let hash = *pending.tx_hash();
        let not_mined = TxError::NotMined {
            call,
            tx: hash,
            after_s: RECEIPT_TIMEOUT.as_secs(),
        };
        // A little beyond the watcher's own timeout, in case it stalls.
        let receipt =
            match tokio::time::timeout(RECEIPT_TIMEOUT + CALL_TIMEOUT, pending.get_receipt()).await
            {
                Err(_) => return Err(not_mined),
                Ok(Err(alloy_provider::PendingTransactionError::TxWatcher(_))) => {
                    return Err(not_mined);
                }
                Ok(Err(alloy_provider::PendingTransactionError::TransportError(e))) => {
                    return Err(self.classify(call, e));
                }
                Ok(Err(e)) => {
                    return Err(TxError::Rpc {
                        call,
                        message: format!(
                            "waiting for transaction {hash}: {}",
                            redact(&with_causes(&e), &self.url)
                        ),
                    });
                }
                Ok(Ok(receipt)) => receipt,
            };
        let block = receipt.block_number.ok_or_else(|| TxError::BadAnswer {
            call: "eth_getTransactionReceipt",
            reason: format!("the receipt of {hash} names no block"),
        })?;
        if receipt.transaction_hash != hash {
            return Err(TxError::BadAnswer {
                call: "eth_getTransactionReceipt",
                reason: format!(
                    "asked for the receipt of {hash}, got that of {}",
                    receipt.transaction_hash
                ),
            });
        }
        if !receipt.status() {
            return Err(TxError::Reverted {
                call,
                tx: hash,
                block,
            });
        }
        Ok((Landed { tx: hash, block }, receipt))
    }

    fn classify(&self, call: &'static str, error: TransportError) -> TxError {
        classify(&self.url, self.from, call, error)
    }
}

/// Awaits an RPC call named `call` to `url` on behalf of `from` within
/// [`CALL_TIMEOUT`].
async fn rpc<T, F>(url: &str, from: Address, call: &'static str, work: F) -> Result<T, TxError>
where
    F: IntoFuture<Output = TransportResult<T>>,
{
    match tokio::time::timeout(CALL_TIMEOUT, work.into_future()).await {
        Err(_) => Err(TxError::RpcTimeout {
            call,
            after_s: CALL_TIMEOUT.as_secs(),
        }),
        Ok(Ok(value)) => Ok(value),
        Ok(Err(e)) => Err(classify(url, from, call, e)),
    }
}

/// An alloy error as a [`TxError`]: a revert by the contract's error, too
/// little currency for gas as such, anything else with the URL removed.
fn classify(url: &str, from: Address, call: &'static str, error: TransportError) -> TxError {
    {
        match error {
            RpcError::ErrorResp(payload) => {
                let message = redact(&payload.message, url);
                if let Some(data) = payload.as_revert_data() {
                    let (error, reason) = decode_revert(&data).unwrap_or_else(|| {
                        (
                            "revert".to_owned(),
                            format!(
                                "it reverted with data 0x{} that is no error of the contract",
                                hex::encode(&data)
                            ),
                        )
                    });
                    return TxError::Refused {
                        call,
                        error,
                        reason,
                    };
                }
                let lower = message.to_lowercase();
                if lower.contains("insufficient funds") {
                    return TxError::InsufficientFunds {
                        account: from,
                        call,
                        message,
                    };
                }
                if lower.contains("revert") {
                    return TxError::Refused {
                        call,
                        error: "revert".to_owned(),
                        reason: format!("it reverted without a reason ({message})"),
                    };
                }
                TxError::Rpc {
                    call,
                    message: format!("{message} (code {})", payload.code),
                }
            }
            other => TxError::Rpc {
                call,
                message: redact(&with_causes(&other), url),
            },
        }
    }
}
