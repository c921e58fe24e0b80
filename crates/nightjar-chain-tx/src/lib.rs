//! Nightjar's chain transactions: what an operator (or a devnet) *sends* to
//! the node registry contract (`contracts/src/NodeRegistry.sol`,
//! `docs/PROTOCOL.md` §13), where `nightjar-chain` only reads it.
//!
//! * [`OperatorKey`]: the Ethereum account's secp256k1 key, from a file
//!   only its owner may access or from an environment variable; wiped on
//!   drop, printed as its address only. Transactions are signed by alloy's
//!   local signer.
//! * [`deploy()`]: deploys the committed artifacts (`contracts/artifacts/`,
//!   embedded at build time) — the test stake token, minted once to the
//!   given holders, and the registry staking it — and reports their
//!   addresses and the registry's block (a follower's start block).
//! * [`Operator`]: one operator's connection to a registry on a checked
//!   chain: [`Operator::register`] (reads the operator's nonce, has the node
//!   key sign its proof of possession with
//!   [`nightjar_crypto::registration`], approves the stake if the allowance
//!   is short, registers), [`Operator::update_contact`],
//!   [`Operator::request_exit`] and [`Operator::withdraw`], each returning
//!   the transaction and the block it landed in ([`Landed`]).
//!
//! Every transaction is simulated before it is signed, so a call the
//! contract would refuse is reported by the contract's error name (for
//! example `StillUnbonding`, with the time it ends) and nothing is sent;
//! the RPC's chain ID is checked against the one asked for before anything
//! else; a short token balance is reported before the stake is approved.
//! RPC URLs (which often carry API keys) never appear in errors.
//!
//! Not for: following the chain or deciding which nodes exist (that is
//! `nightjar-chain`, whose events and rule are the registry's only truth —
//! a registration that lands here becomes a node only when followers say
//! so), slashing or role management, managing several transactions in
//! flight (each call waits for its transaction to be mined before it
//! returns), or keeping keys (it reads them; `nightjar-keystore` keeps
//! node keys).

mod abi;
mod chain;
pub mod deploy;
pub mod error;
pub mod key;
pub mod operator;

pub use alloy_primitives::{Address, B256, U256};
pub use chain::{CALL_TIMEOUT, Landed, RECEIPT_TIMEOUT};
pub use deploy::{DeployParams, Deployment, deploy};
pub use error::TxError;
pub use key::{DEPLOYER_KEY_ENV, OPERATOR_KEY_ENV, OperatorKey};
pub use operator::{ExitRequested, Operator, Registered, RegistrationState, Withdrawn};
