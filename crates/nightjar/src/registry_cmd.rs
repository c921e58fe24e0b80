//! `nightjar registry`: the node registry as this client sees it — the
//! snapshot it bootstrapped from its seeds and refreshed through an onion
//! path — and, with `--rpc`, checked against the chain read through an RPC
//! endpoint of the user's own choosing.
//!
//! Not here: following the chain continuously (the node does that) or any
//! transaction (`nightjar operator`).

use std::time::Duration;

use anyhow::{Context, bail};
use nightjar_chain::rpc::ChainFollower;
use nightjar_chain::{Address, FollowerConfig};
use nightjar_registry::{ChainOrigin, Registry, StakedState};
use serde_json::{Value, json};

/// How long `--rpc` may take to read the contract's history.
const RPC_SYNC_LIMIT: Duration = Duration::from_secs(120);
/// Longest wait for one JSON-RPC call.
const RPC_TIMEOUT: Duration = Duration::from_secs(10);

/// What `--rpc` found.
struct RpcCheck {
    block: u64,
    block_hash: String,
    synced_to: u64,
    stale: bool,
    agrees: bool,
}

/// Prints `registry` (`fresh`: the client's last refresh got an answer),
/// checked against `rpc` endpoints if any are given.
pub(crate) async fn show(
    registry: &Registry,
    fresh: bool,
    rpc: &[String],
    confirmations: u64,
    json: bool,
) -> anyhow::Result<()> {
    let check = if rpc.is_empty() {
        None
    } else {
        let chain = registry.chain.as_ref().context(
            "this network's registry is a file, not derived from a chain: there is nothing to check with --rpc",
        )?;
        Some(check_against_rpc(registry, chain, rpc, confirmations).await?)
    };
    let stale = !fresh || check.as_ref().is_some_and(|c| c.stale);
    if json {
        crate::print_json(&to_json(registry, stale, check.as_ref()))
    } else {
        print_text(registry, stale, check.as_ref());
        Ok(())
    }
}

async fn check_against_rpc(
    registry: &Registry,
    chain: &ChainOrigin,
    rpc: &[String],
    confirmations: u64,
) -> anyhow::Result<RpcCheck> {
    let mut config = FollowerConfig::new(chain.chain_id, Address::from(chain.contract), rpc.len());
    config.confirmations = confirmations;
    let mut follower = ChainFollower::open(config, rpc, None, RPC_TIMEOUT)?;
    let snapshot = follower
        .sync(RPC_SYNC_LIMIT)
        .await
        .context("cannot read the registry contract through --rpc")?;
    let own = snapshot.registry(&registry.network);
    let Some(own_chain) = own.chain.as_ref() else {
        bail!("the chain follower gave a registry without its chain section");
    };
    Ok(RpcCheck {
        block: own_chain.block,
        block_hash: own_chain.block_hash_hex(),
        synced_to: snapshot.block.number,
        stale: follower.is_stale(),
        agrees: own.to_toml() == registry.to_toml(),
    })
}

fn to_json(registry: &Registry, stale: bool, check: Option<&RpcCheck>) -> Value {
    let mut out = match &registry.chain {
        Some(chain) => json!({
            "network": registry.network,
            "chain_id": chain.chain_id,
            "contract": chain.contract_hex(),
            "block": chain.block,
            "block_hash": chain.block_hash_hex(),
            "stale": stale,
            "nodes": chain.nodes.iter().map(|n| json!({
                "node_id": n.node.id.to_string(),
                "contact": n.node.addr.to_string(),
                "operator": ChainOrigin::address_hex(&n.operator),
                "stake": n.stake,
                "state": n.state.as_str(),
            })).collect::<Vec<_>>(),
        }),
        None => json!({
            "network": registry.network,
            "chain_id": Value::Null,
            "contract": Value::Null,
            "block": Value::Null,
            "block_hash": Value::Null,
            "stale": stale,
            "nodes": registry.live_nodes().unwrap_or_default().iter().map(|n| json!({
                "node_id": n.id.to_string(),
                "contact": n.addr.to_string(),
                "operator": Value::Null,
                "stake": Value::Null,
                "state": StakedState::Active.as_str(),
            })).collect::<Vec<_>>(),
        }),
    };
    if let (Some(c), Some(obj)) = (check, out.as_object_mut()) {
        obj.insert(
            "rpc".into(),
            json!({
                "block": c.block,
                "block_hash": c.block_hash,
                "synced_to": c.synced_to,
                "stale": c.stale,
                "agrees": c.agrees,
            }),
        );
    }
    out
}

fn print_text(registry: &Registry, stale: bool, check: Option<&RpcCheck>) {
    let freshness = if stale {
        "stale: could not be refreshed"
    } else {
        "up to date"
    };
    match &registry.chain {
        Some(chain) => {
            println!(
                "network {} — chain {} contract {} at block {} ({}), {freshness}",
                registry.network,
                chain.chain_id,
                chain.contract_hex(),
                chain.block,
                chain.block_hash_hex()
            );
            for n in &chain.nodes {
                println!(
                    "  {}  {:<22}  {:<7}  stake {}  operator {}",
                    n.node.id,
                    n.node.addr,
                    n.state.as_str(),
                    n.stake,
                    ChainOrigin::address_hex(&n.operator)
                );
            }
        }
        None => {
            println!(
                "network {} — registry file, {} events, {freshness}",
                registry.network,
                registry.height()
            );
            for n in registry.live_nodes().unwrap_or_default() {
                println!("  {}  {}", n.id, n.addr);
            }
        }
    }
    if let Some(c) = check {
        let verdict = if c.agrees {
            "agrees with this registry"
        } else {
            "DIFFERS from this registry"
        };
        println!(
            "rpc: block {} ({}), read to block {}{}: {verdict}",
            c.block,
            c.block_hash,
            c.synced_to,
            if c.stale { ", stale" } else { "" }
        );
    }
}
