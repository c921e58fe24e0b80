//! The contracts' calls and errors this crate uses, as inline `sol!`
//! bindings (a unit test checks each against the committed ABI in
//! `contracts/artifacts/`), the committed creation bytecode, and the
//! decoding of a revert into the contract's error by name.

use alloy_primitives::{Address, U256};
use alloy_sol_types::{GenericContractError, SolError, SolInterface};

use crate::error::TxError;

alloy_sol_types::sol! {
    /// The `NodeRegistry` functions an operator's tool calls.
    interface INodeRegistry {
        function token() external view returns (address);
        function stakingRequirement() external view returns (uint256);
        function unbondingPeriod() external view returns (uint256);
        function minimumAge() external view returns (uint256);
        function nonces(address operator) external view returns (uint256);
        function getRegistration(bytes32 ed25519Key, address operator)
            external view returns (uint256 stake, uint256 registeredAt, uint256 exitRequestedAt);
        function register(bytes32 ed25519Key, bytes contact, bytes signature)
            external returns (uint256 nonce);
        function updateContact(bytes32 ed25519Key, bytes contact) external;
        function requestExit(bytes32 ed25519Key) external;
        function withdraw(bytes32 ed25519Key) external;
    }

    /// The ERC-20 functions used on the stake token.
    interface IStakeToken {
        function balanceOf(address account) external view returns (uint256);
        function allowance(address owner, address spender) external view returns (uint256);
        function approve(address spender, uint256 value) external returns (bool);
    }

    /// Every custom error a call to the registry (or, through it, to the
    /// OpenZeppelin stake token) can revert with.
    #[derive(Debug)]
    interface ContractErrors {
        error InvalidContact();
        error InvalidSignatureLength(uint256 length);
        error InvalidKey();
        error AlreadyRegistered(bytes32 ed25519Key, address operator);
        error NotRegistered(bytes32 ed25519Key, address operator);
        error ExitAlreadyRequested(bytes32 ed25519Key, address operator);
        error ExitNotRequested(bytes32 ed25519Key, address operator);
        error TooYoungToExit(uint256 allowedAt);
        error StillUnbonding(uint256 withdrawableAt);
        error TooManyRegistrationsInBlock(uint256 limit);
        error StakeNotReceived(uint256 received);
        error InvalidParameter(string name);
        error AccessControlBadConfirmation();
        error AccessControlUnauthorizedAccount(address account, bytes32 neededRole);
        error ReentrancyGuardReentrantCall();
        error SafeERC20FailedOperation(address token);
        error ERC20InsufficientAllowance(address spender, uint256 allowance, uint256 needed);
        error ERC20InsufficientBalance(address sender, uint256 balance, uint256 needed);
        error ERC20InvalidApprover(address approver);
        error ERC20InvalidReceiver(address receiver);
        error ERC20InvalidSender(address sender);
        error ERC20InvalidSpender(address spender);
    }
}

pub(crate) use ContractErrors::ContractErrorsErrors as Revert;

/// The committed `NodeRegistry` artifact.
const NODE_REGISTRY_JSON: &str = include_str!("../../../contracts/artifacts/NodeRegistry.json");
/// The committed `NightjarTestToken` artifact.
const TEST_TOKEN_JSON: &str = include_str!("../../../contracts/artifacts/NightjarTestToken.json");

/// A committed contract: its name and artifact text.
#[derive(Debug, Clone, Copy)]
pub(crate) enum Artifact {
    /// `contracts/artifacts/NodeRegistry.json`.
    NodeRegistry,
    /// `contracts/artifacts/NightjarTestToken.json`.
    NightjarTestToken,
}

impl Artifact {
    pub(crate) fn name(self) -> &'static str {
        match self {
            Artifact::NodeRegistry => "NodeRegistry",
            Artifact::NightjarTestToken => "NightjarTestToken",
        }
    }

    fn text(self) -> &'static str {
        match self {
            Artifact::NodeRegistry => NODE_REGISTRY_JSON,
            Artifact::NightjarTestToken => TEST_TOKEN_JSON,
        }
    }

    fn json(self) -> Result<serde_json::Value, TxError> {
        serde_json::from_str(self.text()).map_err(|e| self.bad(&e.to_string()))
    }

    fn bad(self, reason: &str) -> TxError {
        TxError::Artifact {
            name: self.name(),
            reason: reason.to_owned(),
        }
    }

    /// The creation bytecode (constructor arguments are appended to it).
    pub(crate) fn bytecode(self) -> Result<Vec<u8>, TxError> {
        let json = self.json()?;
        let code = json["bytecode"]
            .as_str()
            .ok_or_else(|| self.bad("no \"bytecode\" string"))?;
        let code = hex::decode(code.trim_start_matches("0x"))
            .map_err(|e| self.bad(&format!("the bytecode is not hex: {e}")))?;
        if code.is_empty() {
            return Err(self.bad("the bytecode is empty"));
        }
        Ok(code)
    }

    /// The canonical signatures (`name(type,…)`) of the ABI's items of
    /// `kind` (`function`, `error`, `event`, `constructor`).
    #[cfg(test)]
    pub(crate) fn signatures(self, kind: &str) -> Vec<String> {
        let json = self.json().unwrap_or_default();
        let items = json["abi"].as_array().cloned().unwrap_or_default();
        items
            .iter()
            .filter(|item| item["type"] == kind)
            .map(|item| {
                let types: Vec<String> = item["inputs"]
                    .as_array()
                    .map(|inputs| {
                        inputs
                            .iter()
                            .map(|i| i["type"].as_str().unwrap_or("?").to_owned())
                            .collect()
                    })
                    .unwrap_or_default();
                format!(
                    "{}({})",
                    item["name"].as_str().unwrap_or(""),
                    types.join(",")
                )
            })
            .collect()
    }
}

/// A revert's data decoded: the error's name and a sentence with its
/// arguments. `None` if it is empty or not an error this crate knows.
pub(crate) fn decode_revert(data: &[u8]) -> Option<(String, String)> {
    if let Ok(error) = Revert::abi_decode(data) {
        return Some(describe(&error));
    }
    match GenericContractError::abi_decode(data) {
        Ok(GenericContractError::Revert(r)) => {
            Some(("Error".into(), format!("Error({:?})", r.reason)))
        }
        Ok(GenericContractError::Panic(p)) => Some((
            "Panic".into(),
            format!(
                "Panic({}): {}",
                p.code,
                p.kind()
                    .map_or("an unknown panic code".to_owned(), |k| k.to_string())
            ),
        )),
        Err(_) => None,
    }
}

fn amount(value: U256) -> String {
    format!("{value} (smallest units)")
}

/// "operator O's registration of node K".
fn registration(key: &alloy_primitives::B256, operator: &Address) -> String {
    format!(
        "operator {operator}'s registration of node {}",
        hex::encode(key)
    )
}

/// The name of a decoded error and what it means.
fn describe(error: &Revert) -> (String, String) {
    use ContractErrors as E;
    let (name, text) = match error {
        Revert::InvalidContact(_) => (
            E::InvalidContact::SIGNATURE,
            "the contact is not an IPv4 or IPv6 address with a port other than 0".to_owned(),
        ),
        Revert::InvalidSignatureLength(e) => (
            E::InvalidSignatureLength::SIGNATURE,
            format!("the proof of possession is {} bytes, not 64", e.length),
        ),
        Revert::InvalidKey(_) => (
            E::InvalidKey::SIGNATURE,
            "the node key is all zeros".to_owned(),
        ),
        Revert::AlreadyRegistered(e) => (
            E::AlreadyRegistered::SIGNATURE,
            format!(
                "operator {} already holds a registration of node {}",
                e.operator,
                hex::encode(e.ed25519Key)
            ),
        ),
        Revert::NotRegistered(e) => (
            E::NotRegistered::SIGNATURE,
            format!(
                "operator {} holds no registration of node {} (never registered, or already \
                 withdrawn or slashed)",
                e.operator,
                hex::encode(e.ed25519Key)
            ),
        ),
        Revert::ExitAlreadyRequested(e) => (
            E::ExitAlreadyRequested::SIGNATURE,
            format!(
                "the exit of {} was already requested",
                registration(&e.ed25519Key, &e.operator)
            ),
        ),
        Revert::ExitNotRequested(e) => (
            E::ExitNotRequested::SIGNATURE,
            format!(
                "the exit of {} has not been requested: request it first, then withdraw after \
                 the unbonding period",
                registration(&e.ed25519Key, &e.operator)
            ),
        ),
        Revert::TooYoungToExit(e) => (
            E::TooYoungToExit::SIGNATURE,
            format!(
                "the registration is younger than the contract's minimum age: its exit may be \
                 requested from Unix time {} on",
                e.allowedAt
            ),
        ),
        Revert::StillUnbonding(e) => (
            E::StillUnbonding::SIGNATURE,
            format!(
                "the stake is still unbonding: it may be withdrawn from Unix time {} on",
                e.withdrawableAt
            ),
        ),
        Revert::TooManyRegistrationsInBlock(e) => (
            E::TooManyRegistrationsInBlock::SIGNATURE,
            format!(
                "this block already holds its limit of {} registrations: try again in a later block",
                e.limit
            ),
        ),
        Revert::StakeNotReceived(e) => (
            E::StakeNotReceived::SIGNATURE,
            format!(
                "the stake token moved {} instead of the stake (a fee-on-transfer or rebasing token)",
                amount(e.received)
            ),
        ),
        Revert::InvalidParameter(e) => (
            E::InvalidParameter::SIGNATURE,
            format!("the constructor parameter {:?} is out of range", e.name),
        ),
        Revert::AccessControlBadConfirmation(_) => (
            E::AccessControlBadConfirmation::SIGNATURE,
            "a role can only be renounced by its holder".to_owned(),
        ),
        Revert::AccessControlUnauthorizedAccount(e) => (
            E::AccessControlUnauthorizedAccount::SIGNATURE,
            format!("{} lacks the role {}", e.account, e.neededRole),
        ),
        Revert::ReentrancyGuardReentrantCall(_) => (
            E::ReentrancyGuardReentrantCall::SIGNATURE,
            "a re-entrant call".to_owned(),
        ),
        Revert::SafeERC20FailedOperation(e) => (
            E::SafeERC20FailedOperation::SIGNATURE,
            format!("the stake token {} refused the transfer", e.token),
        ),
        Revert::ERC20InsufficientAllowance(e) => (
            E::ERC20InsufficientAllowance::SIGNATURE,
            format!(
                "the registry may take {} of the operator's tokens, less than the {} needed \
                 (approve the stake first)",
                amount(e.allowance),
                amount(e.needed)
            ),
        ),
        Revert::ERC20InsufficientBalance(e) => (
            E::ERC20InsufficientBalance::SIGNATURE,
            format!(
                "{} holds {} of the stake token, less than the {} needed",
                e.sender,
                amount(e.balance),
                amount(e.needed)
            ),
        ),
        Revert::ERC20InvalidApprover(e) => (
            E::ERC20InvalidApprover::SIGNATURE,
            format!("{} cannot approve", e.approver),
        ),
        Revert::ERC20InvalidReceiver(e) => (
            E::ERC20InvalidReceiver::SIGNATURE,
            format!("{} cannot receive tokens", e.receiver),
        ),
        Revert::ERC20InvalidSender(e) => (
            E::ERC20InvalidSender::SIGNATURE,
            format!("{} cannot send tokens", e.sender),
        ),
        Revert::ERC20InvalidSpender(e) => (
            E::ERC20InvalidSpender::SIGNATURE,
            format!("{} cannot spend tokens", e.spender),
        ),
    };
    let short = name.split('(').next().unwrap_or(name).to_owned();
    (short.clone(), format!("{short}: {text}"))
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]
    use super::*;
    use alloy_primitives::B256;
    use alloy_sol_types::SolCall;

    #[test]
    fn artifacts_parse() {
        for artifact in [Artifact::NodeRegistry, Artifact::NightjarTestToken] {
            let code = artifact.bytecode().unwrap();
            assert!(code.len() > 1000, "{}", artifact.name());
        }
    }

    #[test]
    fn inline_bindings_match_the_committed_artifacts() {
        let registry = Artifact::NodeRegistry.signatures("function");
        for ours in [
            INodeRegistry::tokenCall::SIGNATURE,
            INodeRegistry::stakingRequirementCall::SIGNATURE,
            INodeRegistry::unbondingPeriodCall::SIGNATURE,
            INodeRegistry::minimumAgeCall::SIGNATURE,
            INodeRegistry::noncesCall::SIGNATURE,
            INodeRegistry::getRegistrationCall::SIGNATURE,
            INodeRegistry::registerCall::SIGNATURE,
            INodeRegistry::updateContactCall::SIGNATURE,
            INodeRegistry::requestExitCall::SIGNATURE,
            INodeRegistry::withdrawCall::SIGNATURE,
        ] {
            assert!(
                registry.iter().any(|s| s == ours),
                "{ours} not in NodeRegistry.json"
            );
        }
        let token = Artifact::NightjarTestToken.signatures("function");
        for ours in [
            IStakeToken::balanceOfCall::SIGNATURE,
            IStakeToken::allowanceCall::SIGNATURE,
            IStakeToken::approveCall::SIGNATURE,
        ] {
            assert!(
                token.iter().any(|s| s == ours),
                "{ours} not in NightjarTestToken.json"
            );
        }
        // Every error either contract can raise decodes by name, and we
        // declare no error neither has.
        let mut theirs = Artifact::NodeRegistry.signatures("error");
        theirs.extend(Artifact::NightjarTestToken.signatures("error"));
        theirs.sort();
        theirs.dedup();
        let mut ours: Vec<String> = Revert::SIGNATURES.iter().map(|s| (*s).to_owned()).collect();
        ours.sort();
        assert_eq!(ours, theirs);
        // The constructors take what deploy() encodes.
        assert_eq!(
            Artifact::NodeRegistry.signatures("constructor"),
            ["(address,uint256,uint256,uint256,address,address)"]
        );
        assert_eq!(
            Artifact::NightjarTestToken.signatures("constructor"),
            ["(address[],uint256)"]
        );
    }

    #[test]
    fn reverts_decode_by_name() {
        let key = B256::repeat_byte(0x11);
        let operator = Address::repeat_byte(0x22);
        let data = ContractErrors::AlreadyRegistered {
            ed25519Key: key,
            operator,
        }
        .abi_encode();
        let (name, text) = decode_revert(&data).unwrap();
        assert_eq!(name, "AlreadyRegistered");
        assert!(text.contains(&hex::encode(key)), "{text}");
        let data = ContractErrors::StillUnbonding {
            withdrawableAt: U256::from(1_800_000_000u64),
        }
        .abi_encode();
        let (name, text) = decode_revert(&data).unwrap();
        assert_eq!(name, "StillUnbonding");
        assert!(text.contains("1800000000"), "{text}");
        let data = alloy_sol_types::Revert::from("nope").abi_encode();
        assert_eq!(decode_revert(&data).unwrap().0, "Error");
        assert!(decode_revert(&[]).is_none());
        assert!(decode_revert(&[1, 2, 3, 4, 5]).is_none());
    }
}
