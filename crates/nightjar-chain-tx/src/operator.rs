//! [`Operator`]: an operator's transactions on a registry contract —
//! register a node with its stake, update its contact, request its exit,
//! withdraw the stake.

use std::net::SocketAddr;

use alloy_primitives::{Address, B256, U256};
use alloy_sol_types::SolCall;
use nightjar_chain::contact::encode_contact;
use nightjar_chain::events::{ContractEvent, decode_event};
use nightjar_crypto::identity::{Identity, PublicKey};
use nightjar_crypto::registration::{RegistrationClaim, uint256};

use crate::abi::{ContractErrors, INodeRegistry, IStakeToken, Revert, decode_revert};
use crate::chain::{Chain, Landed};
use crate::error::TxError;
use crate::key::OperatorKey;

/// A registration that landed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Registered {
    /// The `register` transaction and its block.
    pub landed: Landed,
    /// The operator nonce it used (and its proof signed).
    pub nonce: U256,
    /// The stake it pulled, in the token's smallest unit.
    pub stake: U256,
    /// The `approve` sent first because the allowance was short, if one was.
    pub approval: Option<Landed>,
}

/// An exit request that landed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ExitRequested {
    /// The `requestExit` transaction and its block.
    pub landed: Landed,
    /// The Unix time (`block.timestamp`) from which `withdraw` succeeds.
    pub withdrawable_at: U256,
}

/// A withdrawal that landed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Withdrawn {
    /// The `withdraw` transaction and its block.
    pub landed: Landed,
    /// The stake returned, in the token's smallest unit.
    pub stake: U256,
}

/// An operator's registration of a key, as the contract holds it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RegistrationState {
    /// Its stake; zero if there is no registration.
    pub stake: U256,
    /// When it was registered (Unix time).
    pub registered_at: U256,
    /// When its exit was requested (Unix time), zero while active.
    pub exit_requested_at: U256,
}

impl RegistrationState {
    /// Whether there is a registration.
    pub fn exists(&self) -> bool {
        !self.stake.is_zero()
    }
}

/// One operator's connection to one registry contract, on a checked chain.
#[derive(Debug, Clone)]
pub struct Operator {
    chain: Chain,
    contract: Address,
    token: Address,
    stake: U256,
}

/// The node key as the contract's `bytes32`.
fn key_word(key: &PublicKey) -> B256 {
    B256::from(key.to_bytes())
}

impl Operator {
    /// Connects `key` to the registry `contract` through `rpc_url`.
    ///
    /// Refused with [`TxError::WrongChain`] if the RPC is not on `chain_id`
    /// (the proof of possession binds it, and a transaction to the wrong
    /// chain would stake there), and with [`TxError::NotARegistry`] if there
    /// is no registry contract at `contract`. Nothing is sent.
    pub async fn connect(
        rpc_url: &str,
        chain_id: u64,
        contract: Address,
        key: &OperatorKey,
    ) -> Result<Operator, TxError> {
        let chain = Chain::connect(rpc_url, Some(chain_id), key).await?;
        let not_registry = |reason: String| TxError::NotARegistry {
            address: contract,
            chain_id,
            reason,
        };
        if !chain.has_code(contract).await? {
            return Err(not_registry("there is no contract code there".into()));
        }
        let answer = async {
            let token = chain.view(contract, &INodeRegistry::tokenCall {}).await?;
            let stake = chain
                .view(contract, &INodeRegistry::stakingRequirementCall {})
                .await?;
            Ok::<_, TxError>((token, stake))
        };
        let (token, stake) = match answer.await {
            Ok(found) => found,
            Err(TxError::BadAnswer { .. } | TxError::Refused { .. }) => {
                return Err(not_registry(
                    "its contract does not answer token() and stakingRequirement() as a \
                     NodeRegistry does"
                        .into(),
                ));
            }
            Err(other) => return Err(other),
        };
        Ok(Operator {
            chain,
            contract,
            token,
            stake,
        })
    }

    /// The operator's address.
    pub fn address(&self) -> Address {
        self.chain.from()
    }

    /// The chain ID (checked against the RPC's).
    pub fn chain_id(&self) -> u64 {
        self.chain.chain_id()
    }

    /// The registry contract.
    pub fn contract(&self) -> Address {
        self.contract
    }

    /// The stake token.
    pub fn token(&self) -> Address {
        self.token
    }

    /// The stake per registration, in the token's smallest unit.
    pub fn stake(&self) -> U256 {
        self.stake
    }

    /// How much of the stake token `owner` holds (smallest unit).
    pub async fn token_balance(&self, owner: Address) -> Result<U256, TxError> {
        self.chain
            .view(self.token, &IStakeToken::balanceOfCall { account: owner })
            .await
    }

    /// The operator's next registration nonce (`nonces(operator)`).
    pub async fn nonce(&self) -> Result<U256, TxError> {
        self.chain
            .view(
                self.contract,
                &INodeRegistry::noncesCall {
                    operator: self.address(),
                },
            )
            .await
    }

    /// This operator's registration of `node` (`getRegistration`).
    pub async fn registration(&self, node: &PublicKey) -> Result<RegistrationState, TxError> {
        let r = self
            .chain
            .view(
                self.contract,
                &INodeRegistry::getRegistrationCall {
                    ed25519Key: key_word(node),
                    operator: self.address(),
                },
            )
            .await?;
        Ok(RegistrationState {
            stake: r.stake,
            registered_at: r.registeredAt,
            exit_requested_at: r.exitRequestedAt,
        })
    }

    /// Registers the node `node` at `contact`, staking from this operator.
    ///
    /// Reads the operator's nonce from the contract, has the node key sign
    /// its proof of possession for (chain ID, contract, operator, key,
    /// nonce) (`docs/PROTOCOL.md` §13.2), approves the stake if the
    /// registry's allowance is short, then calls `register`. Refused before
    /// anything is sent if the contact is not one others can reach, the
    /// operator already holds a registration of this key, or holds less of
    /// the token than the stake. Fails with [`TxError::NonceMismatch`] if
    /// another registration by the same operator landed first (then this one
    /// never becomes a node).
    pub async fn register(
        &self,
        node: &Identity,
        contact: SocketAddr,
    ) -> Result<Registered, TxError> {
        let contact = contact_bytes(contact)?;
        let key = node.public_key();
        let word = key_word(&key);
        if self.registration(&key).await?.exists() {
            return Err(refused(
                "register",
                &Revert::AlreadyRegistered(ContractErrors::AlreadyRegistered {
                    ed25519Key: word,
                    operator: self.address(),
                }),
            ));
        }
        let balance = self.token_balance(self.address()).await?;
        if balance < self.stake {
            return Err(TxError::InsufficientBalance {
                operator: self.address(),
                token: self.token,
                balance,
                needed: self.stake,
            });
        }
        let nonce = self.nonce().await?;
        let claim = RegistrationClaim {
            chain_id: uint256(self.chain_id()),
            contract: self.contract.into_array(),
            operator: self.address().into_array(),
            node_key: key.to_bytes(),
            nonce: nonce.to_be_bytes::<32>(),
        };
        let proof = claim
            .sign(node)
            .map_err(|e| TxError::Proof(e.to_string()))?;

        let allowance = self
            .chain
            .view(
                self.token,
                &IStakeToken::allowanceCall {
                    owner: self.address(),
                    spender: self.contract,
                },
            )
            .await?;
        let approval = if allowance < self.stake {
            let approve = IStakeToken::approveCall {
                spender: self.contract,
                value: self.stake,
            };
            let (landed, _) = self
                .chain
                .send("approve", Some(self.token), approve.abi_encode())
                .await?;
            Some(landed)
        } else {
            None
        };

        let call = INodeRegistry::registerCall {
            ed25519Key: word,
            contact: contact.into(),
            signature: proof.to_vec().into(),
        };
        let (landed, receipt) = self
            .chain
            .send("register", Some(self.contract), call.abi_encode())
            .await?;
        let event = self.event(&receipt, "register", |e| {
            matches!(e, ContractEvent::Registered { key, operator, .. }
                if *key == word && *operator == self.address())
        })?;
        let ContractEvent::Registered {
            nonce: used, stake, ..
        } = event
        else {
            return Err(missing_event("register", "Registered"));
        };
        if used != nonce {
            return Err(TxError::NonceMismatch {
                tx: landed.tx,
                block: landed.block,
                signed: nonce,
                used,
            });
        }
        Ok(Registered {
            landed,
            nonce,
            stake,
            approval,
        })
    }

    /// Replaces the contact of this operator's registration of `node` (also
    /// while it is exiting).
    pub async fn update_contact(
        &self,
        node: &PublicKey,
        contact: SocketAddr,
    ) -> Result<Landed, TxError> {
        let call = INodeRegistry::updateContactCall {
            ed25519Key: key_word(node),
            contact: contact_bytes(contact)?.into(),
        };
        let (landed, _) = self
            .chain
            .send("updateContact", Some(self.contract), call.abi_encode())
            .await?;
        Ok(landed)
    }

    /// Requests the exit of this operator's registration of `node`: the node
    /// leaves its swarm, and the stake becomes withdrawable after the
    /// unbonding period.
    pub async fn request_exit(&self, node: &PublicKey) -> Result<ExitRequested, TxError> {
        let word = key_word(node);
        let call = INodeRegistry::requestExitCall { ed25519Key: word };
        let (landed, receipt) = self
            .chain
            .send("requestExit", Some(self.contract), call.abi_encode())
            .await?;
        let event = self.event(&receipt, "requestExit", |e| {
            matches!(e, ContractEvent::ExitRequested { key, operator, .. }
                if *key == word && *operator == self.address())
        })?;
        let ContractEvent::ExitRequested {
            withdrawable_at, ..
        } = event
        else {
            return Err(missing_event("requestExit", "ExitRequested"));
        };
        Ok(ExitRequested {
            landed,
            withdrawable_at,
        })
    }

    /// Ends this operator's registration of `node` after its unbonding
    /// period and takes the stake back.
    pub async fn withdraw(&self, node: &PublicKey) -> Result<Withdrawn, TxError> {
        let word = key_word(node);
        let call = INodeRegistry::withdrawCall { ed25519Key: word };
        let (landed, receipt) = self
            .chain
            .send("withdraw", Some(self.contract), call.abi_encode())
            .await?;
        let event = self.event(&receipt, "withdraw", |e| {
            matches!(e, ContractEvent::Withdrawn { key, operator, .. }
                if *key == word && *operator == self.address())
        })?;
        let ContractEvent::Withdrawn { stake, .. } = event else {
            return Err(missing_event("withdraw", "Withdrawn"));
        };
        Ok(Withdrawn { landed, stake })
    }

    /// The registry event in `receipt` that `wanted` picks.
    fn event(
        &self,
        receipt: &alloy_rpc_types_eth::TransactionReceipt,
        call: &'static str,
        wanted: impl Fn(&ContractEvent) -> bool,
    ) -> Result<ContractEvent, TxError> {
        for log in receipt.logs() {
            if log.address() != self.contract {
                continue;
            }
            let decoded =
                decode_event(log.topics(), &log.data().data).map_err(|e| TxError::BadAnswer {
                    call: "eth_getTransactionReceipt",
                    reason: e.to_string(),
                })?;
            if let Some(event) = decoded
                && wanted(&event)
            {
                return Ok(event);
            }
        }
        Err(missing_event(call, "its"))
    }
}

fn missing_event(call: &'static str, event: &str) -> TxError {
    TxError::BadAnswer {
        call: "eth_getTransactionReceipt",
        reason: format!("the receipt of {call} carries no {event} event of the registry"),
    }
}

/// `error` as the contract would report it for `call`.
fn refused(call: &'static str, error: &Revert) -> TxError {
    use alloy_sol_types::SolInterface;
    let data = error.abi_encode();
    let (error, reason) =
        decode_revert(&data).unwrap_or_else(|| ("revert".to_owned(), "refused".to_owned()));
    TxError::Refused {
        call,
        error,
        reason,
    }
}

/// The contact's bytes (§13.3), refused if the contract would refuse it or
/// no one could reach it.
fn contact_bytes(contact: SocketAddr) -> Result<Vec<u8>, TxError> {
    let bad = |reason: &str| {
        Err(TxError::InvalidParameter {
            name: "contact",
            reason: format!("{contact}: {reason}"),
        })
    };
    if contact.port() == 0 {
        return bad("port 0 is not a port others can reach (the contract refuses it)");
    }
    if contact.ip().is_unspecified() {
        return bad("an unspecified address is not one others can reach");
    }
    if contact.ip().is_multicast() {
        return bad("a multicast address is not a node's address");
    }
    Ok(encode_contact(&contact))
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn contacts_others_cannot_reach_are_refused() {
        for bad in ["127.0.0.1:0", "0.0.0.0:4000", "[::]:4000", "224.0.0.1:4000"] {
            let err = contact_bytes(bad.parse().unwrap()).unwrap_err();
            assert!(
                matches!(
                    err,
                    TxError::InvalidParameter {
                        name: "contact",
                        ..
                    }
                ),
                "{bad}"
            );
        }
        assert_eq!(
            hex::encode(contact_bytes("127.0.0.1:40001".parse().unwrap()).unwrap()),
            "047f0000019c41"
        );
    }

    #[test]
    fn a_refusal_names_the_contract_error() {
        let err = refused(
            "register",
            &Revert::AlreadyRegistered(ContractErrors::AlreadyRegistered {
                ed25519Key: B256::repeat_byte(7),
                operator: Address::repeat_byte(8),
            }),
        );
        assert_eq!(err.contract_error(), Some("AlreadyRegistered"));
        assert!(err.to_string().contains("nothing was sent"), "{err}");
    }
}
