//! `nightjar operator`: a node operator's transactions on the staking
//! contract (`docs/PROTOCOL.md` §13) — register a node with its stake,
//! update its contact, request its exit, withdraw the stake — and `deploy`,
//! which puts the test token and the registry on a devnet or test chain.
//!
//! The work is `nightjar-chain-tx`'s; this is options, key loading and
//! output (human text, or one JSON object with `--json`: a scripting
//! contract documented in `docs/CLI.md`).

use std::net::SocketAddr;
use std::path::{Path, PathBuf};

use anyhow::{Context, bail};
use clap::{Args, Subcommand};
use nightjar_chain_tx::deploy::{
    BURN_ADDRESS, DEVNET_STAKE_TOKENS, DEVNET_STAKES_EACH, TOKEN_UNIT, rpc_accounts, tokens,
};
use nightjar_chain_tx::{
    Address, DEPLOYER_KEY_ENV, DeployParams, Landed, OPERATOR_KEY_ENV, Operator, OperatorKey, U256,
    deploy,
};
use nightjar_crypto::identity::{Identity, PublicKey};
use nightjar_registry::NodeId;
use serde_json::json;

use crate::print_json;

/// The `nightjar operator` subcommands.
#[derive(Debug, Subcommand)]
pub enum OperatorCmd {
    /// Deploy the test stake token and the node registry (a devnet or a test chain).
    Deploy(DeployArgs),
    /// Register a node: stake from the operator account, announce the node's key and contact.
    Register {
        #[command(flatten)]
        chain: ChainArgs,
        #[command(flatten)]
        operator: OperatorKeyArg,
        /// The node's key file (as nightjar-node uses it; opened with
        /// NIGHTJAR_PASSPHRASE if set). The node key signs the proof of
        /// possession.
        #[arg(long, value_name = "PATH")]
        node_key: PathBuf,
        /// The node's public QUIC (UDP) address, IP:PORT or [IPv6]:PORT.
        #[arg(long, value_name = "IP:PORT", value_parser = parse_contact)]
        contact: SocketAddr,
        /// Print JSON.
        #[arg(long)]
        json: bool,
    },
    /// Replace the contact of a node this operator registered.
    UpdateContact {
        #[command(flatten)]
        chain: ChainArgs,
        #[command(flatten)]
        operator: OperatorKeyArg,
        #[command(flatten)]
        node: NodeArg,
        /// The node's new public QUIC (UDP) address, IP:PORT or [IPv6]:PORT.
        #[arg(long, value_name = "IP:PORT", value_parser = parse_contact)]
        contact: SocketAddr,
        /// Print JSON.
        #[arg(long)]
        json: bool,
    },
    /// Request the exit of a node this operator registered (it leaves its swarm; the stake unbonds).
    RequestExit {
        #[command(flatten)]
        chain: ChainArgs,
        #[command(flatten)]
        operator: OperatorKeyArg,
        #[command(flatten)]
        node: NodeArg,
        /// Print JSON.
        #[arg(long)]
        json: bool,
    },
    /// Take back the stake of an exited node once its unbonding period is over.
    Withdraw {
        #[command(flatten)]
        chain: ChainArgs,
        #[command(flatten)]
        operator: OperatorKeyArg,
        #[command(flatten)]
        node: NodeArg,
        /// Print JSON.
        #[arg(long)]
        json: bool,
    },
}

/// Where the registry is.
#[derive(Debug, Args)]
pub struct ChainArgs {
    /// The chain's JSON-RPC URL (http:// or https://).
    #[arg(long = "rpc", value_name = "URL")]
    rpc: String,
    /// The registry contract's address (0x…).
    #[arg(long, value_name = "ADDRESS")]
    contract: Address,
    /// The chain ID; the RPC's must be the same, or nothing is sent.
    #[arg(long, value_name = "N")]
    chain_id: u64,
}

/// The operator account's key.
#[derive(Debug, Args)]
pub struct OperatorKeyArg {
    /// File holding the operator account's private key (64 hex digits; only
    /// its owner may read it: mode 600). Without it, the key is taken from
    /// NIGHTJAR_OPERATOR_KEY (hex).
    #[arg(long, value_name = "PATH")]
    operator_key: Option<PathBuf>,
}

/// Which node (its key file, or just its ID: these commands need no
/// signature of the node).
#[derive(Debug, Args)]
#[group(required = true, multiple = false)]
pub struct NodeArg {
    /// The node's key file (opened with NIGHTJAR_PASSPHRASE if set).
    #[arg(long, value_name = "PATH")]
    node_key: Option<PathBuf>,
    /// The node's ID (64 hex digits), instead of its key file.
    #[arg(long, value_name = "HEX")]
    node_id: Option<NodeId>,
}

/// The options of `nightjar operator deploy`.
#[derive(Debug, Args)]
pub struct DeployArgs {
    /// The chain's JSON-RPC URL (http:// or https://).
    #[arg(long = "rpc", value_name = "URL")]
    rpc: String,
    /// The chain ID the RPC must be on (not checked if absent).
    #[arg(long, value_name = "N")]
    chain_id: Option<u64>,
    /// File holding the deploying account's private key (64 hex digits;
    /// mode 600). Without it, the key is taken from NIGHTJAR_DEPLOYER_KEY (hex).
    #[arg(long, value_name = "PATH")]
    deployer_key: Option<PathBuf>,
    /// Stake per registration, in whole tokens.
    #[arg(long, value_name = "TOKENS", default_value_t = DEVNET_STAKE_TOKENS)]
    stake: u64,
    /// Seconds from an exit request to the earliest withdrawal.
    #[arg(long, value_name = "SECONDS", default_value_t = 0)]
    unbonding_period: u64,
    /// Seconds from a registration to the earliest exit request.
    #[arg(long, value_name = "SECONDS", default_value_t = 0)]
    minimum_age: u64,
    /// Where slashed stake goes (default: the burn address 0x…dEaD).
    #[arg(long, value_name = "ADDRESS")]
    treasury: Option<Address>,
    /// Who may slash and manage roles (default: the deployer).
    #[arg(long, value_name = "ADDRESS")]
    admin: Option<Address>,
    /// An address that receives test tokens (repeatable).
    #[arg(long = "holder", value_name = "ADDRESS")]
    holders: Vec<Address>,
    /// Also give test tokens to every account the RPC node lists
    /// (eth_accounts: anvil's ten funded dev accounts).
    #[arg(long)]
    dev_accounts: bool,
    /// Test tokens each holder receives, in whole tokens (default: ten stakes).
    #[arg(long, value_name = "TOKENS")]
    tokens_each: Option<u64>,
    /// Print JSON.
    #[arg(long)]
    json: bool,
}

/// A contact given on the command line: an IP address and port.
fn parse_contact(text: &str) -> Result<SocketAddr, String> {
    text.trim().parse().map_err(|_| {
        format!(
            "{text:?} is not IP:PORT or [IPv6]:PORT (the chain carries an address, not a host name; \
             e.g. 203.0.113.7:4433 or [2001:db8::1]:4433)"
        )
    })
}

/// The key from `path`, or else from the environment variable `var`.
fn load_key(path: Option<&Path>, var: &str, option: &str) -> anyhow::Result<OperatorKey> {
    let from_env = OperatorKey::from_env(var)?;
    match (path, from_env) {
        (Some(_), Some(_)) => {
            bail!("both {option} and {var} give a key; use one (unset {var} to use the file)")
        }
        (Some(path), None) => Ok(OperatorKey::from_file(path)?),
        (None, Some(key)) => Ok(key),
        (None, None) => bail!("no key: pass {option} FILE or set {var} to the key in hex"),
    }
}

/// The node identity in the key file at `path`.
fn node_identity(path: &Path) -> anyhow::Result<Identity> {
    let passphrase = nightjar_keystore::passphrase_from_env();
    match nightjar_keystore::load(path, passphrase.as_deref()) {
        Ok(identity) => Ok(identity),
        Err(nightjar_keystore::KeystoreError::Missing(p)) => bail!(
            "no node key file at {}; create one with `nightjar-node keygen --key-file {}`",
            p.display(),
            p.display()
        ),
        Err(e @ nightjar_keystore::KeystoreError::Crypto { .. }) => Err(e).context(format!(
            "cannot open the node key file (is {} set to the right passphrase?)",
            nightjar_keystore::PASSPHRASE_ENV
        )),
        Err(e) => Err(e.into()),
    }
}

impl NodeArg {
    fn public_key(&self) -> anyhow::Result<PublicKey> {
        match (&self.node_key, &self.node_id) {
            (Some(path), _) => Ok(node_identity(path)?.public_key()),
            (None, Some(id)) => Ok(id.0),
            (None, None) => bail!("name the node with --node-key PATH or --node-id HEX"),
        }
    }
}

async fn connect(chain: &ChainArgs, operator: &OperatorKeyArg) -> anyhow::Result<Operator> {
    let key = load_key(
        operator.operator_key.as_deref(),
        OPERATOR_KEY_ENV,
        "--operator-key",
    )?;
    Ok(Operator::connect(&chain.rpc, chain.chain_id, chain.contract, &key).await?)
}

/// An amount in the smallest unit as whole tokens (`25000`, `0.5`).
fn token_text(amount: U256) -> String {
    let unit = U256::from(TOKEN_UNIT);
    let whole = amount / unit;
    let fraction = amount % unit;
    if fraction.is_zero() {
        return whole.to_string();
    }
    let digits = format!("{fraction:0>18}");
    format!("{whole}.{}", digits.trim_end_matches('0'))
}

/// The keys every operator action prints.
fn landed_json(
    landed: &Landed,
    operator: &Operator,
    node: &PublicKey,
) -> serde_json::Map<String, serde_json::Value> {
    let mut out = serde_json::Map::new();
    out.insert("tx".into(), json!(landed.tx.to_string()));
    out.insert("block".into(), json!(landed.block));
    out.insert("node_id".into(), json!(node.to_hex()));
    out.insert("operator".into(), json!(operator.address().to_string()));
    out.insert("contract".into(), json!(operator.contract().to_string()));
    out.insert("chain_id".into(), json!(operator.chain_id()));
    out
}

fn landed_text(what: &str, landed: &Landed) {
    println!("{what}: tx {} in block {}", landed.tx, landed.block);
}

/// Runs one `nightjar operator` subcommand.
pub async fn run(command: &OperatorCmd) -> anyhow::Result<()> {
    match command {
        OperatorCmd::Deploy(args) => deploy_cmd(args).await,
        OperatorCmd::Register {
            chain,
            operator,
            node_key,
            contact,
            json,
        } => {
            let node = node_identity(node_key)?;
            let operator = connect(chain, operator).await?;
            let key = node.public_key();
            let reg = operator.register(&node, *contact).await?;
            if *json {
                let mut out = landed_json(&reg.landed, &operator, &key);
                out.insert("contact".into(), json!(contact.to_string()));
                out.insert("nonce".into(), json!(reg.nonce.saturating_to::<u64>()));
                out.insert("stake".into(), json!(reg.stake.to_string()));
                out.insert(
                    "approve_tx".into(),
                    json!(reg.approval.map(|a| a.tx.to_string())),
                );
                out.insert("approve_block".into(), json!(reg.approval.map(|a| a.block)));
                print_json(&out.into())
            } else {
                println!(
                    "registered node {} at {contact}: operator {}, nonce {}, stake {} tokens",
                    key.to_hex(),
                    operator.address(),
                    reg.nonce,
                    token_text(reg.stake)
                );
                if let Some(approval) = &reg.approval {
                    landed_text("approve", approval);
                }
                landed_text("register", &reg.landed);
                Ok(())
            }
        }
        OperatorCmd::UpdateContact {
            chain,
            operator,
            node,
            contact,
            json,
        } => {
            let key = node.public_key()?;
            let operator = connect(chain, operator).await?;
            let landed = operator.update_contact(&key, *contact).await?;
            if *json {
                let mut out = landed_json(&landed, &operator, &key);
                out.insert("contact".into(), json!(contact.to_string()));
                print_json(&out.into())
            } else {
                println!("node {} now has contact {contact}", key.to_hex());
                landed_text("updateContact", &landed);
                Ok(())
            }
        }
        OperatorCmd::RequestExit {
            chain,
            operator,
            node,
            json,
        } => {
            let key = node.public_key()?;
            let operator = connect(chain, operator).await?;
            let exit = operator.request_exit(&key).await?;
            let at = exit.withdrawable_at.saturating_to::<u64>();
            if *json {
                let mut out = landed_json(&exit.landed, &operator, &key);
                out.insert("withdrawable_at".into(), json!(at));
                print_json(&out.into())
            } else {
                println!(
                    "node {} is exiting; its stake may be withdrawn from Unix time {at} on",
                    key.to_hex()
                );
                landed_text("requestExit", &exit.landed);
                Ok(())
            }
        }
        OperatorCmd::Withdraw {
            chain,
            operator,
            node,
            json,
        } => {
            let key = node.public_key()?;
            let operator = connect(chain, operator).await?;
            let withdrawn = operator.withdraw(&key).await?;
            if *json {
                let mut out = landed_json(&withdrawn.landed, &operator, &key);
                out.insert("stake".into(), json!(withdrawn.stake.to_string()));
                print_json(&out.into())
            } else {
                println!(
                    "withdrew the stake of node {}: {} tokens back to {}",
                    key.to_hex(),
                    token_text(withdrawn.stake),
                    operator.address()
                );
                landed_text("withdraw", &withdrawn.landed);
                Ok(())
            }
        }
    }
}

async fn deploy_cmd(args: &DeployArgs) -> anyhow::Result<()> {
    let key = load_key(
        args.deployer_key.as_deref(),
        DEPLOYER_KEY_ENV,
        "--deployer-key",
    )?;
    let mut holders = args.holders.clone();
    if args.dev_accounts {
        holders.extend(rpc_accounts(&args.rpc, args.chain_id, &key).await?);
    }
    if holders.is_empty() {
        holders.push(key.address());
    }
    let mut seen = std::collections::BTreeSet::new();
    holders.retain(|h| seen.insert(*h));
    let stake = tokens(args.stake);
    let amount_each = match args.tokens_each {
        Some(n) => tokens(n),
        None => stake * U256::from(DEVNET_STAKES_EACH),
    };
    let params = DeployParams {
        chain_id: args.chain_id,
        stake,
        unbonding_period: args.unbonding_period,
        minimum_age: args.minimum_age,
        treasury: args.treasury.unwrap_or(BURN_ADDRESS),
        admin: args.admin,
        holders: holders.clone(),
        amount_each,
    };
    let d = deploy(&args.rpc, &key, &params).await?;
    let admin = args.admin.unwrap_or(d.deployer);
    if args.json {
        let holders: Vec<String> = holders.iter().map(ToString::to_string).collect();
        print_json(&json!({
            "chain_id": d.chain_id,
            "token": d.token.to_string(),
            "registry": d.registry.to_string(),
            "block": d.block,
            "token_tx": d.token_tx.to_string(),
            "registry_tx": d.registry_tx.to_string(),
            "deployer": d.deployer.to_string(),
            "admin": admin.to_string(),
            "treasury": params.treasury.to_string(),
            "stake": stake.to_string(),
            "unbonding_period": params.unbonding_period,
            "minimum_age": params.minimum_age,
            "holders": holders,
            "amount_each": amount_each.to_string(),
        }))
    } else {
        println!("deployed on chain {} by {}", d.chain_id, d.deployer);
        println!("token     {}  (tx {})", d.token, d.token_tx);
        println!(
            "registry  {}  (tx {}, block {}: a follower's start block)",
            d.registry, d.registry_tx, d.block
        );
        println!(
            "stake {} tokens, unbonding period {} s, minimum age {} s, admin {admin}, treasury {}",
            token_text(stake),
            params.unbonding_period,
            params.minimum_age,
            params.treasury
        );
        println!(
            "{} holder(s) with {} test tokens each",
            holders.len(),
            token_text(amount_each)
        );
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn token_amounts_read_as_whole_tokens() {
        assert_eq!(token_text(tokens(25_000)), "25000");
        assert_eq!(token_text(U256::ZERO), "0");
        assert_eq!(token_text(U256::from(TOKEN_UNIT / 2)), "0.5");
        assert_eq!(token_text(U256::from(1u64)), "0.000000000000000001");
        assert_eq!(token_text(tokens(3) + U256::from(TOKEN_UNIT / 4)), "3.25");
    }

    #[test]
    fn contacts_are_addresses_not_names() {
        assert_eq!(
            parse_contact("127.0.0.1:40001").unwrap(),
            "127.0.0.1:40001".parse::<SocketAddr>().unwrap()
        );
        assert!(parse_contact("[2001:db8::1]:443").is_ok());
        let err = parse_contact("node.example:443").unwrap_err();
        assert!(err.contains("not a host name"), "{err}");
        assert!(parse_contact("127.0.0.1").is_err());
    }
}
