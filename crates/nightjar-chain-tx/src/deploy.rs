//! Deploying the committed contracts: the test stake token
//! (`NightjarTestToken`, which mints its whole supply to the given holders
//! in its constructor) and the registry (`NodeRegistry`) staking it.

use alloy_primitives::{Address, B256, U256, address};
use alloy_sol_types::SolValue;

use crate::abi::Artifact;
use crate::chain::{Chain, Landed};
use crate::error::TxError;
use crate::key::OperatorKey;

/// One whole token in the smallest unit (the test token has 18 decimals).
pub const TOKEN_UNIT: u64 = 1_000_000_000_000_000_000;

/// The devnet's stake per registration, in whole tokens (Session's 25,000).
pub const DEVNET_STAKE_TOKENS: u64 = 25_000;

/// How many stakes each holder gets from a devnet deployment
/// ([`DeployParams::devnet`]): enough to register that many nodes.
pub const DEVNET_STAKES_EACH: u64 = 10;

/// Where slashed stake goes unless told otherwise: `0x…dEaD`, a burn
/// address.
pub const BURN_ADDRESS: Address = address!("0x000000000000000000000000000000000000dEaD");

/// The longest unbonding period or minimum age the contract accepts, in
/// seconds (its `MAX_PERIOD`, ten years).
pub const MAX_PERIOD: u64 = 3650 * 24 * 3600;

/// `n` whole tokens in the smallest unit.
pub fn tokens(n: u64) -> U256 {
    U256::from(n) * U256::from(TOKEN_UNIT)
}

/// What to deploy: the registry's constructor arguments and the test
/// token's holders.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DeployParams {
    /// The chain the RPC must be on, if checked (nothing is sent otherwise).
    pub chain_id: Option<u64>,
    /// Stake per registration, in the token's smallest unit (non-zero, below
    /// 2^128).
    pub stake: U256,
    /// Seconds from `requestExit` to the earliest `withdraw` (at most
    /// [`MAX_PERIOD`]).
    pub unbonding_period: u64,
    /// Seconds from `register` to the earliest `requestExit` (at most
    /// [`MAX_PERIOD`]).
    pub minimum_age: u64,
    /// Receives slashed stake (not the zero address).
    pub treasury: Address,
    /// Gets the admin and slasher roles; the deployer if `None`.
    pub admin: Option<Address>,
    /// Who receives test tokens (the token is minted once, here, and never
    /// again).
    pub holders: Vec<Address>,
    /// How many tokens each holder receives, in the smallest unit.
    pub amount_each: U256,
}

impl DeployParams {
    /// A devnet's deployment: a stake of [`DEVNET_STAKE_TOKENS`], no
    /// unbonding period and no minimum age (`docs/PROTOCOL.md` §13.5),
    /// slashed stake burnt, the deployer as admin, and
    /// [`DEVNET_STAKES_EACH`] stakes for each of `holders` (for a devnet on
    /// anvil: its ten funded dev accounts).
    pub fn devnet(holders: Vec<Address>) -> DeployParams {
        DeployParams {
            chain_id: None,
            stake: tokens(DEVNET_STAKE_TOKENS),
            unbonding_period: 0,
            minimum_age: 0,
            treasury: BURN_ADDRESS,
            admin: None,
            holders,
            amount_each: tokens(DEVNET_STAKE_TOKENS) * U256::from(DEVNET_STAKES_EACH),
        }
    }

    /// Checks the parameters as the constructors do, before anything is sent.
    pub fn validate(&self) -> Result<(), TxError> {
        let bad = |name: &'static str, reason: &str| {
            Err(TxError::InvalidParameter {
                name,
                reason: reason.to_owned(),
            })
        };
        if self.stake.is_zero() {
            return bad("stake", "it must not be zero");
        }
        if self.stake > U256::from(u128::MAX) {
            return bad("stake", "it must be below 2^128 smallest units");
        }
        if self.unbonding_period > MAX_PERIOD {
            return bad("unbonding period", "it must be at most ten years");
        }
        if self.minimum_age > MAX_PERIOD {
            return bad("minimum age", "it must be at most ten years");
        }
        if self.treasury.is_zero() {
            return bad("treasury", "it must not be the zero address");
        }
        if self.admin.is_some_and(|a| a.is_zero()) {
            return bad("admin", "it must not be the zero address");
        }
        if self.holders.iter().any(|h| h.is_zero()) {
            return bad("holders", "the zero address cannot hold tokens");
        }
        if U256::from(self.holders.len())
            .checked_mul(self.amount_each)
            .is_none()
        {
            return bad("amount each", "the total supply would overflow");
        }
        Ok(())
    }
}

/// The deployed contracts.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Deployment {
    /// The chain they are on.
    pub chain_id: u64,
    /// The test stake token (`NightjarTestToken`).
    pub token: Address,
    /// The registry (`NodeRegistry`); followers read its logs.
    pub registry: Address,
    /// The block the registry was deployed in: a follower's start block.
    pub block: u64,
    /// The token's deployment transaction.
    pub token_tx: B256,
    /// The registry's deployment transaction.
    pub registry_tx: B256,
    /// The account that deployed them.
    pub deployer: Address,
}

/// Deploys the test token, minting `params.amount_each` to each of
/// `params.holders`, then the registry staking it, from `deployer` through
/// `rpc_url`; waits for both to be mined.
pub async fn deploy(
    rpc_url: &str,
    deployer: &OperatorKey,
    params: &DeployParams,
) -> Result<Deployment, TxError> {
    params.validate()?;
    let chain = Chain::connect(rpc_url, params.chain_id, deployer).await?;
    let mut code = Artifact::NightjarTestToken.bytecode()?;
    code.extend((params.holders.clone(), params.amount_each).abi_encode_params());
    let (token_landed, receipt) = chain.send("deploy NightjarTestToken", None, code).await?;
    let token = created(&receipt, token_landed)?;

    let admin = params.admin.unwrap_or(chain.from());
    let mut code = Artifact::NodeRegistry.bytecode()?;
    code.extend(
        (
            token,
            params.stake,
            U256::from(params.unbonding_period),
            U256::from(params.minimum_age),
            params.treasury,
            admin,
        )
            .abi_encode_params(),
    );
    let (registry_landed, receipt) = chain.send("deploy NodeRegistry", None, code).await?;
    let registry = created(&receipt, registry_landed)?;
    Ok(Deployment {
        chain_id: chain.chain_id(),
        token,
        registry,
        block: registry_landed.block,
        token_tx: token_landed.tx,
        registry_tx: registry_landed.tx,
        deployer: chain.from(),
    })
}

/// The accounts the node behind `rpc_url` holds keys for (`eth_accounts`):
/// on anvil, its ten funded dev accounts (the holders a devnet's test token
/// is minted to); most public RPC endpoints list none. `key` is the
/// account the connection is for (nothing is sent); the RPC must be on
/// `chain_id` if one is given.
pub async fn rpc_accounts(
    rpc_url: &str,
    chain_id: Option<u64>,
    key: &OperatorKey,
) -> Result<Vec<Address>, TxError> {
    Chain::connect(rpc_url, chain_id, key)
        .await?
        .node_accounts()
        .await
}

/// The address a creation receipt names.
fn created(
    receipt: &alloy_rpc_types_eth::TransactionReceipt,
    landed: Landed,
) -> Result<Address, TxError> {
    receipt.contract_address.ok_or_else(|| TxError::BadAnswer {
        call: "eth_getTransactionReceipt",
        reason: format!(
            "the receipt of the deployment {} names no contract address",
            landed.tx
        ),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn devnet_parameters_are_valid_and_checked() {
        let holders = vec![Address::repeat_byte(1), Address::repeat_byte(2)];
        let params = DeployParams::devnet(holders);
        assert!(params.validate().is_ok());
        assert_eq!(params.amount_each, tokens(250_000));
        let broken = [
            DeployParams {
                stake: U256::ZERO,
                ..params.clone()
            },
            DeployParams {
                stake: U256::from(u128::MAX) + U256::from(1),
                ..params.clone()
            },
            DeployParams {
                unbonding_period: MAX_PERIOD + 1,
                ..params.clone()
            },
            DeployParams {
                minimum_age: MAX_PERIOD + 1,
                ..params.clone()
            },
            DeployParams {
                treasury: Address::ZERO,
                ..params.clone()
            },
            DeployParams {
                admin: Some(Address::ZERO),
                ..params.clone()
            },
            DeployParams {
                holders: vec![Address::ZERO],
                ..params.clone()
            },
            DeployParams {
                amount_each: U256::MAX,
                ..params.clone()
            },
        ];
        for p in broken {
            assert!(
                matches!(p.validate(), Err(TxError::InvalidParameter { .. })),
                "{p:?}"
            );
        }
    }
}
