//! The registry contract's events (`docs/PROTOCOL.md` §13.4) and their
//! decoding from a log's topics and data.
//!
//! The bindings are an inline interface matching
//! `contracts/artifacts/NodeRegistry.json` (a unit test checks every event's
//! signature hash against that artifact's ABI). Decoding is strict (alloy's
//! strict ABI decoder): the contract's ABI encoder emits canonical encodings
//! only, so anything else did not come from the contract.

use alloy_primitives::{Address, B256, Bytes, U256};
use alloy_sol_types::SolEvent;
use alloy_sol_types::abi::AbiDecoderConfig;

use crate::error::ChainError;

/// The `sol!` bindings of the events.
mod abi {
    alloy_sol_types::sol! {
        event Registered(
            bytes32 indexed ed25519Key,
            address indexed operator,
            bytes contact,
            bytes signature,
            uint256 nonce,
            uint256 stake
        );
        event ContactUpdated(bytes32 indexed ed25519Key, address indexed operator, bytes contact);
        event ExitRequested(bytes32 indexed ed25519Key, address indexed operator, uint256 withdrawableAt);
        event Withdrawn(bytes32 indexed ed25519Key, address indexed operator, uint256 stake);
        event Slashed(
            bytes32 indexed ed25519Key,
            address indexed operator,
            uint256 stake,
            address treasury,
            bytes32 reason
        );
    }
}

/// Topic 0 of every event the follower reads, in the order of
/// [`ContractEvent`]'s variants (for an `eth_getLogs` filter).
pub const EVENT_TOPICS: [B256; 5] = [
    abi::Registered::SIGNATURE_HASH,
    abi::ContactUpdated::SIGNATURE_HASH,
    abi::ExitRequested::SIGNATURE_HASH,
    abi::Withdrawn::SIGNATURE_HASH,
    abi::Slashed::SIGNATURE_HASH,
];

/// One event of the registry contract.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum ContractEvent {
    /// `Registered(bytes32 indexed ed25519Key, address indexed operator, bytes contact, bytes signature, uint256 nonce, uint256 stake)`.
    Registered {
        /// The node key (`ed25519Key`), 32 bytes in RFC 8032 order.
        key: B256,
        /// The operator (`msg.sender` of `register`).
        operator: Address,
        /// The contact bytes (§13.3).
        contact: Vec<u8>,
        /// The proof of possession (§13.2), 64 bytes.
        signature: Vec<u8>,
        /// The operator nonce the registration used.
        nonce: U256,
        /// The stake pulled.
        stake: U256,
    },
    /// `ContactUpdated(bytes32 indexed ed25519Key, address indexed operator, bytes contact)`.
    ContactUpdated {
        /// The node key.
        key: B256,
        /// The operator.
        operator: Address,
        /// The new contact bytes.
        contact: Vec<u8>,
    },
    /// `ExitRequested(bytes32 indexed ed25519Key, address indexed operator, uint256 withdrawableAt)`.
    ExitRequested {
        /// The node key.
        key: B256,
        /// The operator.
        operator: Address,
        /// The `block.timestamp` from which `withdraw` succeeds.
        withdrawable_at: U256,
    },
    /// `Withdrawn(bytes32 indexed ed25519Key, address indexed operator, uint256 stake)`.
    Withdrawn {
        /// The node key.
        key: B256,
        /// The operator.
        operator: Address,
        /// The stake returned.
        stake: U256,
    },
    /// `Slashed(bytes32 indexed ed25519Key, address indexed operator, uint256 stake, address treasury, bytes32 reason)`.
    Slashed {
        /// The node key.
        key: B256,
        /// The operator.
        operator: Address,
        /// The stake taken.
        stake: U256,
        /// Where it went.
        treasury: Address,
        /// The slasher's code.
        reason: B256,
    },
}

impl ContractEvent {
    /// The node key the event is about.
    pub fn key(&self) -> B256 {
        match self {
            ContractEvent::Registered { key, .. }
            | ContractEvent::ContactUpdated { key, .. }
            | ContractEvent::ExitRequested { key, .. }
            | ContractEvent::Withdrawn { key, .. }
            | ContractEvent::Slashed { key, .. } => *key,
        }
    }

    /// The operator of the registration the event is about.
    pub fn operator(&self) -> Address {
        match self {
            ContractEvent::Registered { operator, .. }
            | ContractEvent::ContactUpdated { operator, .. }
            | ContractEvent::ExitRequested { operator, .. }
            | ContractEvent::Withdrawn { operator, .. }
            | ContractEvent::Slashed { operator, .. } => *operator,
        }
    }

    /// The event's name, as in the contract.
    pub fn name(&self) -> &'static str {
        match self {
            ContractEvent::Registered { .. } => "Registered",
            ContractEvent::ContactUpdated { .. } => "ContactUpdated",
            ContractEvent::ExitRequested { .. } => "ExitRequested",
            ContractEvent::Withdrawn { .. } => "Withdrawn",
            ContractEvent::Slashed { .. } => "Slashed",
        }
    }

    /// The event as the contract logs it: its topics and data. (For tests,
    /// tools and fuzz seeds; [`decode_event`] is its inverse.)
    pub fn encode(&self) -> (Vec<B256>, Vec<u8>) {
        let log = match self.clone() {
            ContractEvent::Registered {
                key,
                operator,
                contact,
                signature,
                nonce,
                stake,
            } => abi::Registered {
                ed25519Key: key,
                operator,
                contact: Bytes::from(contact),
                signature: Bytes::from(signature),
                nonce,
                stake,
            }
            .encode_log_data(),
            ContractEvent::ContactUpdated {
                key,
                operator,
                contact,
            } => abi::ContactUpdated {
                ed25519Key: key,
                operator,
                contact: Bytes::from(contact),
            }
            .encode_log_data(),
            ContractEvent::ExitRequested {
                key,
                operator,
                withdrawable_at,
            } => abi::ExitRequested {
                ed25519Key: key,
                operator,
                withdrawableAt: withdrawable_at,
            }
            .encode_log_data(),
            ContractEvent::Withdrawn {
                key,
                operator,
                stake,
            } => abi::Withdrawn {
                ed25519Key: key,
                operator,
                stake,
            }
            .encode_log_data(),
            ContractEvent::Slashed {
                key,
                operator,
                stake,
                treasury,
                reason,
            } => abi::Slashed {
                ed25519Key: key,
                operator,
                stake,
                treasury,
                reason,
            }
            .encode_log_data(),
        };
        (log.topics().to_vec(), log.data.to_vec())
    }
}

/// Decodes a log of the registry contract.
///
/// `Ok(None)`: topic 0 is missing or not one of [`EVENT_TOPICS`] (another
/// event of the contract, such as `RoleGranted`: not the registry's).
/// `Err(`[`ChainError::BadLog`]`)`: topic 0 names a registry event but the
/// topics or data are not its canonical encoding.
pub fn decode_event(topics: &[B256], data: &[u8]) -> Result<Option<ContractEvent>, ChainError> {
    // Strict: canonical offsets, zero padding, every byte used, and
    // validated values (an address topic's upper 12 bytes are zero).
    fn strict() -> AbiDecoderConfig {
        AbiDecoderConfig::new().strict(true)
    }
    fn bad<E: std::fmt::Display>(name: &'static str) -> impl FnOnce(E) -> ChainError {
        move |e| ChainError::BadLog(format!("{name}: {e}"))
    }
    let Some(topic0) = topics.first() else {
        return Ok(None);
    };
    if !EVENT_TOPICS.contains(topic0) {
        return Ok(None);
    }
    // Every registry event has two indexed fields: three topics, no more.
    if topics.len() != 3 {
        return Err(ChainError::BadLog(format!(
            "{} topics, not 3",
            topics.len()
        )));
    }
    let words = topics.iter().copied();
    let event = if *topic0 == abi::Registered::SIGNATURE_HASH {
        let e = abi::Registered::decode_raw_log_with_config(words, data, strict())
            .map_err(bad("Registered"))?;
        ContractEvent::Registered {
            key: e.ed25519Key,
            operator: e.operator,
            contact: e.contact.to_vec(),
            signature: e.signature.to_vec(),
            nonce: e.nonce,
            stake: e.stake,
        }
    } else if *topic0 == abi::ContactUpdated::SIGNATURE_HASH {
        let e = abi::ContactUpdated::decode_raw_log_with_config(words, data, strict())
            .map_err(bad("ContactUpdated"))?;
        ContractEvent::ContactUpdated {
            key: e.ed25519Key,
            operator: e.operator,
            contact: e.contact.to_vec(),
        }
    } else if *topic0 == abi::ExitRequested::SIGNATURE_HASH {
        let e = abi::ExitRequested::decode_raw_log_with_config(words, data, strict())
            .map_err(bad("ExitRequested"))?;
        ContractEvent::ExitRequested {
            key: e.ed25519Key,
            operator: e.operator,
            withdrawable_at: e.withdrawableAt,
        }
    } else if *topic0 == abi::Withdrawn::SIGNATURE_HASH {
        let e = abi::Withdrawn::decode_raw_log_with_config(words, data, strict())
            .map_err(bad("Withdrawn"))?;
        ContractEvent::Withdrawn {
            key: e.ed25519Key,
            operator: e.operator,
            stake: e.stake,
        }
    } else if *topic0 == abi::Slashed::SIGNATURE_HASH {
        let e = abi::Slashed::decode_raw_log_with_config(words, data, strict())
            .map_err(bad("Slashed"))?;
        ContractEvent::Slashed {
            key: e.ed25519Key,
            operator: e.operator,
            stake: e.stake,
            treasury: e.treasury,
            reason: e.reason,
        }
    } else {
        return Ok(None);
    };
    Ok(Some(event))
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]
    use super::*;
    use alloy_primitives::keccak256;

    /// The canonical signature of every event in the committed artifact's
    /// ABI, by name.
    fn artifact_events() -> Vec<(String, String)> {
        let text = include_str!("../../../contracts/artifacts/NodeRegistry.json");
        let json: serde_json::Value = serde_json::from_str(text).unwrap();
        json["abi"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|item| item["type"] == "event")
            .map(|item| {
                let name = item["name"].as_str().unwrap().to_owned();
                let types: Vec<&str> = item["inputs"]
                    .as_array()
                    .unwrap()
                    .iter()
                    .map(|i| i["type"].as_str().unwrap())
                    .collect();
                (name.clone(), format!("{name}({})", types.join(",")))
            })
            .collect()
    }

    fn samples() -> Vec<ContractEvent> {
        let key = B256::repeat_byte(0x11);
        let operator = Address::repeat_byte(0x22);
        vec![
            ContractEvent::Registered {
                key,
                operator,
                contact: vec![4, 127, 0, 0, 1, 0x9c, 0x41],
                signature: vec![0xab; 64],
                nonce: U256::from(3),
                stake: U256::from(25_000u64) * U256::from(10u64).pow(U256::from(18)),
            },
            ContractEvent::ContactUpdated {
                key,
                operator,
                contact: vec![6; 19],
            },
            ContractEvent::ExitRequested {
                key,
                operator,
                withdrawable_at: U256::from(1_800_000_000u64),
            },
            ContractEvent::Withdrawn {
                key,
                operator,
                stake: U256::from(5),
            },
            ContractEvent::Slashed {
                key,
                operator,
                stake: U256::from(5),
                treasury: Address::repeat_byte(0xde),
                reason: B256::repeat_byte(1),
            },
        ]
    }

    #[test]
    fn inline_bindings_match_the_committed_artifact() {
        let abi = artifact_events();
        let ours = [
            abi::Registered::SIGNATURE,
            abi::ContactUpdated::SIGNATURE,
            abi::ExitRequested::SIGNATURE,
            abi::Withdrawn::SIGNATURE,
            abi::Slashed::SIGNATURE,
        ];
        for (signature, topic) in ours.iter().zip(EVENT_TOPICS) {
            assert!(
                abi.iter().any(|(_, s)| s == signature),
                "{signature} is not in contracts/artifacts/NodeRegistry.json"
            );
            assert_eq!(keccak256(signature.as_bytes()), topic);
        }
        // PROTOCOL.md §13.4's example, and the topic smoke-anvil.sh checks.
        assert_eq!(
            abi::Registered::SIGNATURE,
            "Registered(bytes32,address,bytes,bytes,uint256,uint256)"
        );
        assert_eq!(
            hex::encode(EVENT_TOPICS[0]),
            "405b599784c074d76b41da30cd669d01936c6b772d6f02e76f0eec1d48b7bb3e"
        );
    }

    #[test]
    fn every_event_round_trips() {
        for event in samples() {
            let (topics, data) = event.encode();
            assert_eq!(topics.len(), 3, "{}", event.name());
            assert_eq!(
                decode_event(&topics, &data).unwrap(),
                Some(event.clone()),
                "{}",
                event.name()
            );
        }
    }

    #[test]
    fn other_events_are_not_ours_and_broken_ones_are_errors() {
        assert_eq!(decode_event(&[], &[]).unwrap(), None);
        let role_granted = keccak256("RoleGranted(bytes32,address,address)");
        assert_eq!(
            decode_event(&[role_granted, B256::ZERO, B256::ZERO], &[]).unwrap(),
            None
        );
        for event in samples() {
            let (topics, data) = event.encode();
            // Truncated data, a missing topic, an address topic with junk in
            // its upper bytes, trailing garbage in a bytes field's padding.
            let mut cases = vec![
                (topics.clone(), data[..data.len() - 1].to_vec()),
                (topics[..2].to_vec(), data.clone()),
                ([&topics[..], &[B256::ZERO]].concat(), data.clone()),
            ];
            let mut dirty_operator = topics.clone();
            dirty_operator[2].0[0] = 1;
            cases.push((dirty_operator, data.clone()));
            if matches!(event, ContractEvent::Registered { .. }) {
                // Words: two offsets, nonce, stake, the contact's length,
                // then the contact (7 bytes) and its padding, which must be
                // zero.
                let mut padded = data.clone();
                padded[5 * 32 + 31] = 1;
                cases.push((topics.clone(), padded));
            }
            for (t, d) in cases {
                assert!(
                    matches!(decode_event(&t, &d), Err(ChainError::BadLog(_))),
                    "{}: topics {} data {} -> {:?}",
                    event.name(),
                    t.len(),
                    hex::encode(&d),
                    decode_event(&t, &d)
                );
            }
        }
    }
}
