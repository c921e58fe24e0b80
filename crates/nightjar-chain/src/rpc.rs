//! The thin adapter (feature `rpc`): [`RpcEndpoints`] makes the core's
//! [`Call`]s over HTTP(S) JSON-RPC with alloy, and [`ChainFollower`] runs the
//! [`Follower`] core on tokio — timers, concurrent calls, the state file.
//!
//! Nothing here decides anything: every check, choice of endpoint, retry and
//! rollback is the core's.
//!
//! Privacy: an RPC URL often carries an API key, so endpoints are named by
//! their position (`endpoint #0`) in errors and logs, and a URL that a
//! transport error quotes is replaced by that name.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};

use alloy_primitives::{Address, B256, U64};
use alloy_provider::{Provider, RootProvider};
use alloy_rpc_types_eth::Filter;
use alloy_transport::{RpcError, TransportError};
use serde::Deserialize;
use tokio::task::JoinSet;

use crate::error::ChainError;
use crate::events::EVENT_TOPICS;
use crate::follower::{Answer, Call, Follower, FollowerConfig, FollowerEvent, RequestId, Snapshot};
use crate::state;
use crate::types::{Header, RawLog};

/// Default time allowed for one call.
pub const DEFAULT_REQUEST_TIMEOUT: Duration = Duration::from_secs(15);
/// While catching up, the state file is written at most this often (and at
/// every catch-up and rollback).
pub const SAVE_INTERVAL: Duration = Duration::from_secs(30);

/// The configured RPC endpoints, as alloy HTTP providers.
#[derive(Debug)]
pub struct RpcEndpoints {
    endpoints: Vec<(RootProvider, String)>,
    contract: Address,
    timeout: Duration,
}

/// The fields of `eth_getBlockByNumber` the follower reads.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
struct RpcHeader {
    number: U64,
    hash: B256,
    parent_hash: B256,
}

impl RpcEndpoints {
    /// Providers for `urls` (`http://` or `https://`), for logs of
    /// `contract`, each call limited to `timeout`.
    pub fn new(
        urls: &[String],
        contract: Address,
        timeout: Duration,
    ) -> Result<RpcEndpoints, ChainError> {
        let mut endpoints = Vec::with_capacity(urls.len());
        for (endpoint, text) in urls.iter().enumerate() {
            let url = url::Url::parse(text).map_err(|e| ChainError::InvalidEndpoint {
                endpoint,
                reason: e.to_string(),
            })?;
            if !matches!(url.scheme(), "http" | "https") {
                return Err(ChainError::InvalidEndpoint {
                    endpoint,
                    reason: format!("scheme {:?}, not http or https", url.scheme()),
                });
            }
            endpoints.push((RootProvider::new_http(url), text.clone()));
        }
        Ok(RpcEndpoints {
            endpoints,
            contract,
            timeout,
        })
    }

    /// How many endpoints there are.
    pub fn len(&self) -> usize {
        self.endpoints.len()
    }

    /// Whether there are none.
    pub fn is_empty(&self) -> bool {
        self.endpoints.is_empty()
    }

    /// Makes `call` on `endpoint`.
    pub async fn call(&self, endpoint: usize, call: Call) -> Result<Answer, ChainError> {
        let Some((provider, url)) = self.endpoints.get(endpoint) else {
            return Err(ChainError::Rpc {
                endpoint,
                message: "no such endpoint".into(),
            });
        };
        let after_ms = u64::try_from(self.timeout.as_millis()).unwrap_or(u64::MAX);
        let work = async {
            match call {
                Call::ChainId => provider.get_chain_id().await.map(Answer::ChainId),
                Call::BlockNumber => provider.get_block_number().await.map(Answer::BlockNumber),
                Call::Header { number } => provider
                    .raw_request::<_, Option<RpcHeader>>(
                        "eth_getBlockByNumber".into(),
                        (format!("0x{number:x}"), false),
                    )
                    .await
                    .map(|h| {
                        Answer::Header(h.map(|h| Header {
                            number: h.number.to::<u64>(),
                            hash: h.hash,
                            parent_hash: h.parent_hash,
                        }))
                    }),
                Call::Logs { from, to } => {
                    let filter = Filter::new()
                        .address(self.contract)
                        .event_signature(EVENT_TOPICS.to_vec())
                        .from_block(from)
                        .to_block(to);
                    provider.get_logs(&filter).await.map(|logs| {
                        Answer::Logs(
                            logs.into_iter()
                                .map(|log| RawLog {
                                    address: log.inner.address,
                                    topics: log.inner.data.topics().to_vec(),
                                    data: log.inner.data.data.to_vec(),
                                    block_number: log.block_number,
                                    block_hash: log.block_hash,
                                    log_index: log.log_index,
                                    removed: log.removed,
                                })
                                .collect(),
                        )
                    })
                }
            }
        };
        match tokio::time::timeout(self.timeout, work).await {
            Err(_) => Err(ChainError::RpcTimeout { endpoint, after_ms }),
            Ok(Ok(answer)) => Ok(answer),
            Ok(Err(e)) => Err(classify(endpoint, url, e)),
        }
    }
}

/// An alloy error as a [`ChainError`], with the endpoint's URL removed.
fn classify(endpoint: usize, url: &str, error: TransportError) -> ChainError {
    let redact = |text: String| {
        let name = format!("<endpoint #{endpoint}>");
        let trimmed = url.trim_end_matches('/');
        let text = text.replace(url, &name);
        if trimmed.is_empty() {
            text
        } else {
            text.replace(trimmed, &name)
        }
    };
    match error {
        RpcError::ErrorResp(payload) => ChainError::RpcRefused {
            endpoint,
            code: payload.code,
            message: redact(payload.message.to_string()),
        },
        RpcError::NullResp => ChainError::BadAnswer {
            endpoint,
            reason: "a null answer".into(),
        },
        RpcError::DeserError { err, .. } => ChainError::BadAnswer {
            endpoint,
            reason: redact(format!("an answer that does not parse: {err}")),
        },
        other => ChainError::Rpc {
            endpoint,
            message: redact(other.to_string()),
        },
    }
}

/// The follower running on tokio over HTTP JSON-RPC: the [`Follower`] core,
/// its endpoints, and its state file.
///
/// Call [`ChainFollower::next_event`] in a loop; adopt
/// [`ChainFollower::snapshot`] on [`FollowerEvent::Synced`] with `changed`.
#[derive(Debug)]
pub struct ChainFollower {
    core: Follower,
    rpc: Arc<RpcEndpoints>,
    state_path: Option<PathBuf>,
    clock: Instant,
    inflight: JoinSet<(RequestId, Result<Answer, ChainError>)>,
    last_save: Option<Instant>,
}

impl ChainFollower {
    /// A follower of `config` over `urls` (one per endpoint, in the order of
    /// preference among equally advanced endpoints; `config.endpoints` is
    /// set to their number), each call limited to `request_timeout`; resumes
    /// from the state file at `state_path` if it exists, and keeps it up to
    /// date.
    ///
    /// Fails on an invalid configuration or URL, or an unreadable, corrupt
    /// or mismatched state file (nothing is followed then: move the file
    /// away to start from `start_block`).
    pub fn open(
        mut config: FollowerConfig,
        urls: &[String],
        state_path: Option<PathBuf>,
        request_timeout: Duration,
    ) -> Result<ChainFollower, ChainError> {
        config.endpoints = urls.len();
        let rpc = RpcEndpoints::new(urls, config.contract, request_timeout)?;
        let saved = match &state_path {
            Some(path) => state::load(path)?,
            None => None,
        };
        let core = Follower::new(config, saved)?;
        Ok(ChainFollower {
            core,
            rpc: Arc::new(rpc),
            state_path,
            clock: Instant::now(),
            inflight: JoinSet::new(),
            last_save: None,
        })
    }

    /// The core (status, ledger, configuration).
    pub fn follower(&self) -> &Follower {
        &self.core
    }

    /// The clock the core runs on: milliseconds since this follower opened.
    pub fn now_ms(&self) -> u64 {
        u64::try_from(self.clock.elapsed().as_millis()).unwrap_or(u64::MAX)
    }

    /// The published snapshot.
    pub fn snapshot(&self) -> Option<Arc<Snapshot>> {
        self.core.snapshot()
    }

    /// Whether the registry may be out of date ([`Follower::is_stale`]).
    pub fn is_stale(&self) -> bool {
        self.core.is_stale(self.now_ms())
    }

    /// Runs the follower until it has something to report.
    ///
    /// Errors: [`ChainError::NoEndpointOnChain`] is final (every endpoint is
    /// on another chain). A failure to write the state file
    /// ([`ChainError::StateWrite`]) is not: following goes on, and the write
    /// is tried again later.
    pub async fn next_event(&mut self) -> Result<FollowerEvent, ChainError> {
        loop {
            if let Some(error) = self.core.fatal() {
                return Err(error.clone());
            }
            if let Some(event) = self.core.poll_event() {
                let force = matches!(
                    event,
                    FollowerEvent::Synced { .. } | FollowerEvent::Reorg { .. }
                );
                self.save_if_due(force)?;
                return Ok(event);
            }
            while let Some(request) = self.core.poll_request() {
                let rpc = Arc::clone(&self.rpc);
                self.inflight.spawn(async move {
                    (request.id, rpc.call(request.endpoint, request.call).await)
                });
            }
            let wait_ms = self.core.poll_timeout().saturating_sub(self.now_ms());
            tokio::select! {
                Some(joined) = self.inflight.join_next() => {
                    let now = self.now_ms();
                    // A call task only ends by returning (it never panics
                    // or is aborted while the follower lives).
                    if let Ok((id, answer)) = joined {
                        self.core.handle_response(id, answer, now);
                    }
                }
                () = tokio::time::sleep(Duration::from_millis(wait_ms)) => {
                    let now = self.now_ms();
                    self.core.handle_timeout(now);
                }
            }
        }
    }

    /// Follows until the follower has caught up (a [`FollowerEvent::Synced`])
    /// or `limit` has passed; returns the snapshot. For a one-shot reader
    /// (`nightjar registry --rpc`) and tests.
    pub async fn sync(&mut self, limit: Duration) -> Result<Arc<Snapshot>, ChainError> {
        let after_ms = u64::try_from(limit.as_millis()).unwrap_or(u64::MAX);
        let work = async {
            loop {
                if let FollowerEvent::Synced { .. } = self.next_event().await?
                    && let Some(snapshot) = self.core.snapshot()
                {
                    return Ok(snapshot);
                }
            }
        };
        match tokio::time::timeout(limit, work).await {
            Ok(result) => result,
            Err(_) => Err(ChainError::SyncTimeout { after_ms }),
        }
    }

    /// Writes the state file now if anything changed (for a clean shutdown).
    pub fn save(&mut self) -> Result<(), ChainError> {
        self.save_if_due(true)
    }

    fn save_if_due(&mut self, force: bool) -> Result<(), ChainError> {
        let Some(path) = &self.state_path else {
            return Ok(());
        };
        if !self.core.is_dirty() {
            return Ok(());
        }
        let due = force || self.last_save.is_none_or(|t| t.elapsed() >= SAVE_INTERVAL);
        if !due {
            return Ok(());
        }
        self.last_save = Some(Instant::now());
        state::save(path, &self.core.saved_state())?;
        self.core.mark_saved();
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use alloy_transport::TransportErrorKind;

    #[test]
    fn errors_never_carry_the_url() {
        let url = "https://rpc.example/v2/SECRET-API-KEY";
        let error = TransportErrorKind::custom_str(&format!(
            "error sending request for url ({url}/): connection refused"
        ));
        let message = classify(3, url, error).to_string();
        assert!(!message.contains("SECRET"), "{message}");
        assert!(message.contains("<endpoint #3>"), "{message}");
        assert!(message.starts_with("RPC endpoint #3:"), "{message}");
    }

    #[test]
    fn only_http_urls_are_endpoints() {
        let contract = Address::repeat_byte(1);
        let timeout = Duration::from_secs(1);
        for bad in ["ws://127.0.0.1:8545", "127.0.0.1:8545", "not a url"] {
            assert!(matches!(
                RpcEndpoints::new(
                    &["http://127.0.0.1:1".into(), bad.into()],
                    contract,
                    timeout
                ),
                Err(ChainError::InvalidEndpoint { endpoint: 1, .. })
            ));
        }
        let ok = RpcEndpoints::new(&["https://x.example/k".into()], contract, timeout);
        assert!(ok.is_ok_and(|e| e.len() == 1));
    }
}
