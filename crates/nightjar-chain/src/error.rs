//! [`ChainError`]: everything that can go wrong while following the chain.

use std::path::PathBuf;
use std::sync::Arc;

/// Why the follower could not do something. Each variant says what failed
/// and what to do about it.
///
/// RPC endpoints are named by their position in the configured list
/// (`endpoint #0` is the first), never by URL: URLs often carry API keys.
#[derive(Debug, Clone, thiserror::Error)]
#[non_exhaustive]
pub enum ChainError {
    /// The follower's configuration is unusable.
    #[error("invalid chain follower configuration: {0}")]
    Config(String),
    /// A configured RPC URL is not a usable `http://` or `https://` URL.
    #[error("RPC endpoint #{endpoint}: not a usable http(s) URL ({reason})")]
    InvalidEndpoint {
        /// Its position in the configured list.
        endpoint: usize,
        /// What is wrong with it.
        reason: String,
    },
    /// An endpoint serves another chain than the configured one. It is never
    /// followed.
    #[error(
        "RPC endpoint #{endpoint} is on chain {got}, not the configured chain {expected}: \
         it is never followed (fix its URL or the configured chain ID)"
    )]
    WrongChain {
        /// Its position in the configured list.
        endpoint: usize,
        /// The configured chain ID.
        expected: u64,
        /// What the endpoint's `eth_chainId` said.
        got: u64,
    },
    /// Every configured endpoint is on another chain: nothing can be followed.
    #[error(
        "every RPC endpoint is on another chain than the configured chain {expected}: \
         nothing is followed (fix the URLs or the configured chain ID)"
    )]
    NoEndpointOnChain {
        /// The configured chain ID.
        expected: u64,
    },
    /// A call could not be made or its answer not read (connection refused,
    /// HTTP error, …). The endpoint is retried later; others are used meanwhile.
    #[error("RPC endpoint #{endpoint}: {message}")]
    Rpc {
        /// Its position in the configured list.
        endpoint: usize,
        /// What went wrong (the URL removed).
        message: String,
    },
    /// A call got no answer in time.
    #[error("RPC endpoint #{endpoint} did not answer within {after_ms} ms")]
    RpcTimeout {
        /// Its position in the configured list.
        endpoint: usize,
        /// The time allowed.
        after_ms: u64,
    },
    /// The endpoint answered the call with a JSON-RPC error (for `eth_getLogs`
    /// often a range or result limit: the follower asks for smaller ranges).
    #[error("RPC endpoint #{endpoint} refused the call: {message} (code {code})")]
    RpcRefused {
        /// Its position in the configured list.
        endpoint: usize,
        /// The JSON-RPC error code.
        code: i64,
        /// The JSON-RPC error message.
        message: String,
    },
    /// The endpoint answered something that cannot be true of the chain (a
    /// log outside the asked range, a missing block below its own head, two
    /// hashes for one block, …). Its answer is dropped and another endpoint
    /// is asked.
    #[error("RPC endpoint #{endpoint} gave an impossible answer: {reason}")]
    BadAnswer {
        /// Its position in the configured list.
        endpoint: usize,
        /// What is wrong with it.
        reason: String,
    },
    /// A log that carries one of the registry's event signatures does not
    /// decode as that event (the contract never emits such a log).
    #[error("malformed registry event log: {0}")]
    BadLog(String),
    /// The follower did not catch up with the chain in the time allowed.
    #[error(
        "the chain follower did not catch up within {after_ms} ms (are the RPC endpoints reachable?)"
    )]
    SyncTimeout {
        /// The time allowed.
        after_ms: u64,
    },
    /// The state file could not be read.
    #[error("cannot read the chain follower's state file {path}: {source}")]
    StateRead {
        /// The file.
        path: PathBuf,
        /// Why.
        #[source]
        source: Arc<std::io::Error>,
    },
    /// The state file could not be written.
    #[error("cannot write the chain follower's state file {path}: {source}")]
    StateWrite {
        /// The file.
        path: PathBuf,
        /// Why.
        #[source]
        source: Arc<std::io::Error>,
    },
    /// The state file is larger than [`crate::state::MAX_STATE_FILE`]; it is
    /// not read.
    #[error(
        "the chain follower's state file {path} is {size} bytes, more than the limit of {limit}: \
         move it away to follow the chain from its start block again"
    )]
    StateTooLarge {
        /// The file.
        path: PathBuf,
        /// Its size.
        size: u64,
        /// The limit.
        limit: u64,
    },
    /// The state file is not a valid state file.
    #[error(
        "the chain follower's state ({what}) is corrupt: {reason}; \
         move it away to follow the chain from its start block again"
    )]
    StateCorrupt {
        /// The file (or "bytes" when decoding from memory).
        what: String,
        /// What is wrong.
        reason: String,
    },
    /// The state file follows another chain, contract or start block than
    /// the configuration.
    #[error(
        "the chain follower's state file is for {field} {file}, the configuration says {config}: \
         move the file away to follow the configured one from its start block"
    )]
    StateMismatch {
        /// Which setting differs (`chain ID`, `contract`, `start block`).
        field: &'static str,
        /// The file's value.
        file: String,
        /// The configuration's value.
        config: String,
    },
}

impl ChainError {
    /// The endpoint this error is about, if it is about one.
    pub fn endpoint(&self) -> Option<usize> {
        match self {
            ChainError::InvalidEndpoint { endpoint, .. }
            | ChainError::WrongChain { endpoint, .. }
            | ChainError::Rpc { endpoint, .. }
            | ChainError::RpcTimeout { endpoint, .. }
            | ChainError::RpcRefused { endpoint, .. }
            | ChainError::BadAnswer { endpoint, .. } => Some(*endpoint),
            _ => None,
        }
    }
}
