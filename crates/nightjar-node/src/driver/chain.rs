//! Following the registry contract (`[chain]` in the node's configuration):
//! the `nightjar-chain` follower on this runtime. Each snapshot that differs
//! from the one in use becomes one [`RegistryView`] handed to the core, and
//! the registry the node serves (`get_registry`) names the chain, contract
//! and block it reflects.
//!
//! When every endpoint is down or the chain stops, the follower reports
//! itself stale: the node keeps its last registry (no node is dropped for
//! lack of data), logs the change at warn level and sets
//! `nightjar_registry_stale`. RPC URLs are never logged (one may carry an
//! API key).
//!
//! Not here: the follower's rules (`nightjar-chain`), or transactions.

use std::sync::Arc;
use std::time::Duration;

use nightjar_chain::rpc::ChainFollower;
use nightjar_chain::{BlockRef, FollowerEvent, Snapshot};
use tracing::{debug, error, info, warn};

use super::{NodeError, Shared, effects, unix_now_ms};
use crate::config::{ChainConfig, NodeConfig};
use crate::engine::RegistryView;

/// Longest wait for one JSON-RPC call.
const RPC_TIMEOUT: Duration = Duration::from_secs(10);

/// A follower ready to run, and the registry to start with.
pub(super) struct Following {
    follower: ChainFollower,
    network: String,
    adopted: Option<BlockRef>,
}

impl Following {
    /// The height of the registry in use: the block of the last contract
    /// log it reflects (0 before any).
    pub(super) fn height(&self) -> u64 {
        self.adopted.map_or(0, |b| b.number)
    }
}

/// Opens the follower (resuming from its state file) and gets a first
/// registry: the saved one, or else the chain's, waiting up to
/// `initial_sync_secs`.
pub(super) async fn start(
    config: &NodeConfig,
    chain: &ChainConfig,
) -> Result<(Following, RegistryView), NodeError> {
    let follower_config = chain.follower_config()?;
    let mut follower = ChainFollower::open(
        follower_config,
        &chain.rpc,
        config.chain_state_path(),
        RPC_TIMEOUT,
    )
    .map_err(NodeError::Chain)?;
    let snapshot = match follower.snapshot() {
        Some(saved) => {
            info!(
                block = saved.block.number,
                "chain registry resumed from the saved state"
            );
            saved
        }
        None => {
            let limit = Duration::from_secs(chain.initial_sync_secs);
            info!(
                chain_id = chain.chain_id,
                contract = %chain.contract,
                "no saved chain state: reading the registry contract's history"
            );
            follower.sync(limit).await.map_err(NodeError::Chain)?
        }
    };
    let view = view_of(&snapshot, &chain.network, snapshot.block.number)?;
    Ok((
        Following {
            follower,
            network: chain.network.clone(),
            adopted: snapshot.last_log_block,
        },
        view,
    ))
}

/// The view of `snapshot`; the registry is served with `read_to` (the block
/// the follower has read up to) as its height (`docs/PROTOCOL.md` §12): it
/// only grows, also when a reorganisation removed the last contract log and
/// the registry's own block went back.
fn view_of(snapshot: &Snapshot, network: &str, read_to: u64) -> Result<RegistryView, NodeError> {
    let registry = snapshot.registry(network);
    let mut view = RegistryView::of_registry(&registry)?;
    if let Some(served) = view.snapshot.as_mut() {
        served.height = served.height.max(read_to);
    }
    Ok(view)
}

/// Runs the follower until shutdown, handing every new registry to the core.
pub(super) async fn chain_loop(shared: Arc<Shared>, mut following: Following) {
    let mut shutdown = shared.shutdown.clone();
    loop {
        let event = tokio::select! {
            event = following.follower.next_event() => event,
            _ = shutdown.changed() => {
                if let Err(e) = following.follower.save() {
                    warn!(error = %e, "cannot save the chain follower's state");
                }
                return;
            }
        };
        match event {
            Ok(FollowerEvent::Synced { block, changed }) => {
                let Some(snapshot) = following.follower.snapshot() else {
                    continue;
                };
                if !changed && snapshot.last_log_block == following.adopted {
                    debug!(block = block.number, "chain registry unchanged");
                    continue;
                }
                match view_of(&snapshot, &following.network, block.number) {
                    Ok(view) => {
                        following.adopted = snapshot.last_log_block;
                        shared.peers.retain(&view.map.nodes());
                        let height = snapshot.last_log_block.map_or(0, |b| b.number);
                        let nodes = view.map.node_count();
                        let view = Arc::new(view);
                        shared.circuits.set_view(view.clone());
                        effects::input(&shared, |core| core.set_registry(unix_now_ms(), view));
                        shared
                            .metrics
                            .registry_height
                            .set(i64::try_from(height).unwrap_or(i64::MAX));
                        info!(
                            height,
                            synced_to = block.number,
                            nodes,
                            "registry changed on chain; swarm map updated"
                        );
                    }
                    // The follower's ledger only produces logs that replay;
                    // if one ever did not, keep the registry in use.
                    Err(e) => {
                        error!(error = %e, "chain registry does not replay; keeping the last")
                    }
                }
            }
            Ok(FollowerEvent::StaleChanged { stale }) => {
                shared.metrics.registry_stale.set(i64::from(stale));
                if stale {
                    warn!(
                        "chain registry is stale: the chain or every RPC endpoint stopped; keeping the last registry"
                    );
                } else {
                    info!("chain registry is up to date again");
                }
            }
            Ok(FollowerEvent::Reorg {
                detected_at,
                rolled_back_to,
                logs_dropped,
            }) => warn!(
                detected_at,
                rolled_back_to = ?rolled_back_to.map(|b| b.number),
                logs_dropped,
                "chain reorganisation: registry events rolled back"
            ),
            Ok(FollowerEvent::EndpointFailed { endpoint, error }) => {
                shared.metrics.chain_rpc_failures.inc();
                debug!(endpoint, %error, "chain endpoint failed");
            }
            Ok(FollowerEvent::EndpointRejected { endpoint, error }) => {
                shared.metrics.chain_rpc_failures.inc();
                warn!(endpoint, %error, "chain endpoint is on another chain; never used");
            }
            Err(e) => {
                // Final (every endpoint on another chain): keep the last
                // registry, report stale, and stop following.
                shared.metrics.registry_stale.set(1);
                error!(error = %e, "chain follower stopped; keeping the last registry");
                let _ = shutdown.changed().await;
                return;
            }
        }
    }
}
