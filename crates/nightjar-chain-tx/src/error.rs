//! [`TxError`]: everything that can stop a deployment or an operator's
//! transaction, each saying what to do about it.
//!
//! RPC URLs often carry API keys: no error carries one (a URL that an
//! underlying error quotes is replaced by `<rpc>`).

use std::path::PathBuf;

use alloy_primitives::{Address, B256, U256};

/// Why a deployment or an operator's transaction did not happen (or did not
/// succeed).
#[derive(Debug, Clone, thiserror::Error)]
#[non_exhaustive]
pub enum TxError {
    /// A key (operator or deployer) could not be read or is not a key.
    #[error("{origin}: {reason}")]
    InvalidKey {
        /// Where it came from (`key file PATH`, `environment variable NAME`).
        origin: String,
        /// What is wrong (never the key itself).
        reason: String,
    },
    /// A key file that users other than its owner may access.
    #[error(
        "key file {path} has mode {mode:o}: other users may access it, so it is refused \
         (run `chmod 600 {path}`, and consider the key exposed if others could read it)"
    )]
    KeyFilePermissions {
        /// The file.
        path: PathBuf,
        /// Its permission bits.
        mode: u32,
    },
    /// The RPC URL is not a usable `http://` or `https://` URL.
    #[error("the RPC URL is not a usable http(s) URL: {0}")]
    InvalidUrl(String),
    /// A parameter is out of the range the contract accepts (checked before
    /// anything is sent).
    #[error("invalid {name}: {reason}")]
    InvalidParameter {
        /// Which parameter.
        name: &'static str,
        /// What is wrong.
        reason: String,
    },
    /// The RPC is on another chain than the one asked for: nothing was sent.
    #[error(
        "the RPC is on chain {got}, not chain {expected}: nothing was sent \
         (fix the RPC URL or the chain ID)"
    )]
    WrongChain {
        /// The chain ID asked for.
        expected: u64,
        /// What the RPC's `eth_chainId` said.
        got: u64,
    },
    /// No contract, or not a node registry, at the given address.
    #[error("{address} on chain {chain_id} is not a node registry contract: {reason}")]
    NotARegistry {
        /// The address.
        address: Address,
        /// The chain.
        chain_id: u64,
        /// What was found instead.
        reason: String,
    },
    /// A call to the RPC failed (connection refused, HTTP error, an error
    /// answer that is not a revert, …).
    #[error("RPC call {call} failed: {message}")]
    Rpc {
        /// Which call.
        call: &'static str,
        /// What went wrong (the URL removed).
        message: String,
    },
    /// The RPC did not answer in time.
    #[error("RPC call {call} got no answer within {after_s} s")]
    RpcTimeout {
        /// Which call.
        call: &'static str,
        /// The time allowed.
        after_s: u64,
    },
    /// The RPC answered something that cannot be right.
    #[error("the RPC's answer to {call} cannot be right: {reason}")]
    BadAnswer {
        /// Which call.
        call: &'static str,
        /// What is wrong.
        reason: String,
    },
    /// The sending account has too little of the chain's currency for gas.
    #[error(
        "account {account} has too little ether (or the chain's currency) to pay for {call}: \
         fund it and try again ({message})"
    )]
    InsufficientFunds {
        /// The sending account.
        account: Address,
        /// Which transaction.
        call: &'static str,
        /// The RPC's message.
        message: String,
    },
    /// The operator holds less of the stake token than one registration
    /// takes: nothing was sent.
    #[error(
        "operator {operator} holds {balance} of the stake token {token}, less than the stake \
         of {needed}: nothing was sent (amounts in the token's smallest unit)"
    )]
    InsufficientBalance {
        /// The operator.
        operator: Address,
        /// The token.
        token: Address,
        /// What the operator holds.
        balance: U256,
        /// The stake.
        needed: U256,
    },
    /// The contract refuses the call (found by simulating it, before it is
    /// sent, or by a check of the registration's state): nothing was sent.
    #[error("{call} would revert: {reason}; nothing was sent")]
    Refused {
        /// Which call (`register`, `approve`, …).
        call: &'static str,
        /// The contract's error by name (e.g. `StillUnbonding`), or `revert`
        /// when it gave none that decodes.
        error: String,
        /// The decoded error, with its arguments and what it means.
        reason: String,
    },
    /// The transaction was mined but failed.
    #[error("{call} transaction {tx} failed in block {block} (it reverted on chain)")]
    Reverted {
        /// Which call.
        call: &'static str,
        /// The transaction.
        tx: B256,
        /// Its block.
        block: u64,
    },
    /// The transaction was sent but not seen mined in time; it may still be.
    #[error(
        "{call} transaction {tx} was sent but not mined within {after_s} s; \
         look it up later before sending it again"
    )]
    NotMined {
        /// Which call.
        call: &'static str,
        /// The transaction.
        tx: B256,
        /// The time waited.
        after_s: u64,
    },
    /// The registration was mined with another nonce than the proof signed
    /// (another registration of the same operator went first), so it will
    /// never become a node.
    #[error(
        "the registration (transaction {tx}, block {block}) used operator nonce {used}, but \
         the proof of possession signed nonce {signed}: it will never become a node. Request \
         its exit, withdraw it, and register again (one registration at a time per operator)"
    )]
    NonceMismatch {
        /// The transaction.
        tx: B256,
        /// Its block.
        block: u64,
        /// The nonce the proof signed.
        signed: U256,
        /// The nonce the contract used.
        used: U256,
    },
    /// The node key could not sign its proof of possession.
    #[error("the node key cannot sign its proof of possession: {0}")]
    Proof(String),
    /// A committed contract artifact does not parse (a build problem).
    #[error("the committed artifact {name} is unusable: {reason}")]
    Artifact {
        /// Which artifact.
        name: &'static str,
        /// What is wrong.
        reason: String,
    },
}

impl TxError {
    /// The contract error's name if the contract refused the call
    /// ([`TxError::Refused`]), e.g. `"AlreadyRegistered"`.
    pub fn contract_error(&self) -> Option<&str> {
        match self {
            TxError::Refused { error, .. } => Some(error),
            _ => None,
        }
    }
}

/// `text` with every occurrence of `url` (and of `url` without a trailing
/// slash), and anything else that looks like an http(s) URL (a transport
/// error may quote the URL normalised, or without its credentials),
/// replaced by `<rpc>`.
pub(crate) fn redact(text: &str, url: &str) -> String {
    let mut out = text.to_owned();
    for needle in [url, url.trim_end_matches('/')] {
        if !needle.is_empty() {
            out = out.replace(needle, "<rpc>");
        }
    }
    let mut redacted = String::with_capacity(out.len());
    let mut rest = out.as_str();
    while let Some(at) = ["http://", "https://"]
        .iter()
        .filter_map(|scheme| rest.find(scheme))
        .min()
    {
        redacted.push_str(&rest[..at]);
        redacted.push_str("<rpc>");
        let tail = &rest[at..];
        let end = tail
            .find(|c: char| c.is_whitespace() || matches!(c, ')' | '"' | '\'' | '>' | ','))
            .unwrap_or(tail.len());
        rest = &tail[end..];
    }
    redacted.push_str(rest);
    redacted
}

/// `error` and its chain of causes, `: `-separated (a transport error's
/// own text often leaves out why, e.g. "connection refused").
pub(crate) fn with_causes(error: &dyn std::error::Error) -> String {
    let mut text = error.to_string();
    let mut cause = error.source();
    while let Some(e) = cause {
        let more = e.to_string();
        if !text.contains(&more) {
            text.push_str(": ");
            text.push_str(&more);
        }
        cause = e.source();
    }
    text
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn redaction() {
        let url = "https://rpc.example/v2/SECRET/";
        let text = "error sending request for url (https://rpc.example/v2/SECRET): refused";
        let out = redact(text, url);
        assert!(!out.contains("SECRET"), "{out}");
        assert_eq!(out, "error sending request for url (<rpc>): refused");
        // Forms of the URL that are not the one given.
        let out = redact(
            "error sending request for url (http://127.0.0.1:9/): refused, see https://x.example/a?k=SECRET",
            "http://user:SECRET@127.0.0.1:9",
        );
        assert_eq!(
            out,
            "error sending request for url (<rpc>): refused, see <rpc>"
        );
    }
}
