//! `chain_log` and `chain_state`: the chain follower's decoders of outside
//! bytes — a registry contract log (topics and data, as an RPC returns
//! them) and the follower's state file.

use nightjar_chain::events::decode_event;
use nightjar_chain::{
    Address, B256, EVENT_TOPICS, Follower, FollowerConfig, Ledger, LogPosition, SavedState,
};
use nightjar_registry::SwarmMap;

/// The chain ID and contract the `chain_log` target's ledger checks proofs
/// against (anvil's, and the registry of `test-vectors/registration.json`).
pub const CHAIN_LOG_CHAIN_ID: u64 = 31337;
/// See [`CHAIN_LOG_CHAIN_ID`].
pub const CHAIN_LOG_CONTRACT: [u8; 20] = [
    0xe7, 0xf1, 0x72, 0x5e, 0x77, 0x34, 0xce, 0x28, 0x8f, 0x83, 0x67, 0xe1, 0xbb, 0x14, 0x3e, 0x90,
    0xbb, 0x3f, 0x05, 0x12,
];

/// The `chain_log` input layout: `[n] ‖ n topics of 32 bytes ‖ data`
/// (`n` at most 4, as in the EVM).
pub fn chain_log_input(topics: &[B256], data: &[u8]) -> Vec<u8> {
    let mut out = vec![u8::try_from(topics.len()).unwrap_or(u8::MAX)];
    for t in topics {
        out.extend_from_slice(t.as_slice());
    }
    out.extend_from_slice(data);
    out
}

/// Splits a `chain_log` input into topics and data.
pub fn chain_log_parts(data: &[u8]) -> Option<(Vec<B256>, &[u8])> {
    let (&n, rest) = data.split_first()?;
    let n = usize::from(n);
    if n > 4 {
        return None;
    }
    let (topics, body) = rest.split_at_checked(n * 32)?;
    let topics = topics
        .chunks_exact(32)
        .map(|c| B256::try_from(c).ok())
        .collect::<Option<Vec<B256>>>()?;
    Some((topics, body))
}

/// Fuzzes `nightjar_chain::events::decode_event` (a log's topics and data
/// from an RPC) and the ledger's rule on what it decodes.
///
/// Checks: never panics; a log that decodes is exactly the canonical
/// encoding of its event (`encode` gives the same topics and data back:
/// strict decoding admits one encoding per event); a log that is "not ours"
/// has no registry topic 0; the ledger applies the event and its registry log
/// replays into swarms.
pub fn chain_log(data: &[u8]) {
    let Some((topics, body)) = chain_log_parts(data) else {
        return;
    };
    match decode_event(&topics, body) {
        Ok(Some(event)) => {
            let (t, d) = event.encode();
            assert_eq!(t, topics, "decoded topics do not re-encode to themselves");
            assert_eq!(d, body, "decoded data does not re-encode to itself");
            let mut ledger = Ledger::new(CHAIN_LOG_CHAIN_ID, Address::from(CHAIN_LOG_CONTRACT));
            ledger.apply(LogPosition { block: 1, index: 0 }, &event);
            if let Err(e) = SwarmMap::replay(&ledger.registry_events()) {
                panic!("the ledger's registry log does not replay: {e}");
            }
        }
        Ok(None) => assert!(
            topics.first().is_none_or(|t| !EVENT_TOPICS.contains(t)),
            "a registry event's log was taken for another event"
        ),
        Err(_) => {}
    }
}

/// Fuzzes `SavedState::decode` (the follower's state file) and resuming a
/// follower from what it accepts.
///
/// Checks: never panics; a decoded state re-encodes to a state that decodes
/// to itself; a follower resumes from it (same chain, contract and start
/// block), publishing a snapshot exactly when a block was processed, and
/// its ledger's registry log replays into swarms.
pub fn chain_state(data: &[u8]) {
    let Ok(state) = SavedState::decode(data) else {
        return;
    };
    match SavedState::decode(&state.encode()) {
        Ok(again) => assert_eq!(again, state, "state changed across a round trip"),
        Err(e) => panic!("an encoded state does not decode: {e}"),
    }
    if state.contract == Address::ZERO {
        return; // no configuration names the zero address
    }
    let config = FollowerConfig {
        start_block: state.start_block,
        ..FollowerConfig::new(state.chain_id, state.contract, 1)
    };
    let processed = state.processed;
    let follower = match Follower::new(config, Some(state)) {
        Ok(f) => f,
        Err(e) => panic!("a decoded state does not resume: {e}"),
    };
    assert_eq!(follower.snapshot().map(|s| s.block), processed);
    if let Err(e) = SwarmMap::replay(&follower.ledger().registry_events()) {
        panic!("the resumed ledger's registry log does not replay: {e}");
    }
}
