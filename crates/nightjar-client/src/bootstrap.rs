//! The bootstrap vote, sans-IO: which registry snapshot a client without one
//! accepts from the seeds it asks directly.
//!
//! The driver asks every seed of the network file for its snapshot
//! (`get_registry`), feeds each answer to [`BootstrapVote::record`], and calls
//! [`BootstrapVote::end_round`] after each pass over the seeds, pausing
//! [`BOOTSTRAP_ROUND_PAUSE`] between at most [`BOOTSTRAP_ROUNDS`] rounds. A
//! snapshot wins as soon as [`BOOTSTRAP_AGREEMENT`] seeds (fewer only if the
//! network file lists fewer) answered the same hash within one round. An
//! answer whose text does not match its hash, or that is for another
//! network, is not counted.
//!
//! Not here: connections to the seeds, the pause itself, saving the
//! snapshot (the driver does those).

use std::collections::HashMap;
use std::time::Duration;

use nightjar_registry::Registry;
use nightjar_wire::{Response, ResponseBody};

use crate::ClientError;

/// How many seeds must agree on the registry snapshot at bootstrap (fewer
/// only if the network file lists fewer).
pub const BOOTSTRAP_AGREEMENT: usize = 2;

/// How many passes over the seeds a bootstrap makes before giving up.
pub const BOOTSTRAP_ROUNDS: u32 = 3;

/// The pause between two bootstrap rounds.
pub const BOOTSTRAP_ROUND_PAUSE: Duration = Duration::from_millis(300);

/// One bootstrap's votes. See the module documentation.
#[derive(Debug)]
pub struct BootstrapVote {
    need: usize,
    network: String,
    rounds_done: u32,
    votes: HashMap<[u8; 32], (usize, Registry)>,
    last_error: Option<ClientError>,
}

impl BootstrapVote {
    /// A vote among `seeds` seeds of network `network`.
    pub fn new(seeds: usize, network: &str) -> BootstrapVote {
        BootstrapVote {
            need: BOOTSTRAP_AGREEMENT.min(seeds).max(1),
            network: network.to_string(),
            rounds_done: 0,
            votes: HashMap::new(),
            last_error: None,
        }
    }

    /// How many equal answers win.
    pub fn needed(&self) -> usize {
        self.need
    }

    /// Count one seed's answer (or its failure). Returns the snapshot once
    /// enough seeds agree on it in this round.
    pub fn record(&mut self, answer: Result<Response, ClientError>) -> Option<Registry> {
        match answer.and_then(|resp| registry_of(resp, &self.network)) {
            Ok((hash, registry)) => {
                let entry = self.votes.entry(hash).or_insert((0, registry));
                entry.0 += 1;
                (entry.0 >= self.need).then(|| entry.1.clone())
            }
            Err(e) => {
                tracing::debug!(error = %e, "a seed did not give its registry snapshot");
                self.last_error = Some(e);
                None
            }
        }
    }

    /// Close a round without a winner. Returns whether another round may
    /// start (after [`BOOTSTRAP_ROUND_PAUSE`]).
    pub fn end_round(&mut self) -> bool {
        if self.votes.len() > 1 {
            self.last_error = Some(ClientError::Protocol(
                "seed nodes disagree on the registry snapshot".into(),
            ));
        }
        self.votes.clear();
        self.rounds_done = self.rounds_done.saturating_add(1);
        self.rounds_done < BOOTSTRAP_ROUNDS
    }

    /// Why the bootstrap failed, once no round is left.
    pub fn into_error(self) -> ClientError {
        let need = self.need;
        self.last_error.unwrap_or(ClientError::Protocol(format!(
            "fewer than {need} seed nodes agreed on the registry snapshot"
        )))
    }
}

/// The registry snapshot in an answer, checked against its hash and network.
pub fn registry_of(resp: Response, network: &str) -> Result<([u8; 32], Registry), ClientError> {
    match resp.body {
        ResponseBody::Registry { hash, text, .. } => {
            let actual = nightjar_crypto::hash::registry_snapshot_hash(text.as_bytes());
            if !nightjar_crypto::hash::ct_eq(&actual, &hash) {
                return Err(ClientError::Protocol(
                    "registry snapshot does not match its hash".into(),
                ));
            }
            let registry = Registry::from_toml(&text)?;
            if registry.network != network {
                return Err(ClientError::Protocol(format!(
                    "node serves the registry of network {:?}, not {network:?}",
                    registry.network
                )));
            }
            Ok((hash, registry))
        }
        ResponseBody::Error { code, message } => Err(ClientError::Refused { code, message }),
        other => Err(ClientError::Protocol(format!(
            "unexpected answer to get_registry: {other:?}"
        ))),
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use crate::testnet::Net;
    use nightjar_registry::RegistryEvent;

    fn answer(registry: &Registry) -> Result<Response, ClientError> {
        let text = registry.to_toml();
        Ok(Response {
            node_time_ms: 1,
            body: ResponseBody::Registry {
                height: registry.height(),
                hash: nightjar_crypto::hash::registry_snapshot_hash(text.as_bytes()),
                text,
            },
        })
    }

    fn registries() -> (Registry, Registry) {
        let net = Net::new(6);
        let old = Registry::genesis("devnet", net.nodes[..5].to_vec());
        let mut new = old.clone();
        new.append(RegistryEvent::Join {
            node: net.nodes[5].clone(),
        })
        .unwrap();
        (old, new)
    }

    #[test]
    fn two_agreeing_seeds_win() {
        let (registry, _) = registries();
        let mut vote = BootstrapVote::new(3, "devnet");
        assert_eq!(vote.needed(), 2);
        assert!(vote.record(answer(&registry)).is_none());
        assert_eq!(vote.record(answer(&registry)), Some(registry));
    }

    #[test]
    fn a_single_seed_is_enough_when_the_network_lists_one() {
        let (registry, _) = registries();
        let mut vote = BootstrapVote::new(1, "devnet");
        assert_eq!(vote.record(answer(&registry)), Some(registry));
    }

    #[test]
    fn disagreeing_seeds_fail_after_the_rounds() {
        let (old, new) = registries();
        let mut vote = BootstrapVote::new(2, "devnet");
        let mut rounds = 0;
        loop {
            rounds += 1;
            assert!(vote.record(answer(&old)).is_none());
            assert!(vote.record(answer(&new)).is_none());
            if !vote.end_round() {
                break;
            }
        }
        assert_eq!(rounds, BOOTSTRAP_ROUNDS);
        let e = vote.into_error();
        assert!(e.to_string().contains("disagree"), "{e}");
    }

    #[test]
    fn votes_do_not_carry_over_between_rounds() {
        let (registry, _) = registries();
        let mut vote = BootstrapVote::new(2, "devnet");
        assert!(vote.record(answer(&registry)).is_none());
        assert!(vote.end_round());
        assert!(
            vote.record(answer(&registry)).is_none(),
            "one vote this round"
        );
        assert_eq!(vote.record(answer(&registry)), Some(registry));
    }

    #[test]
    fn a_seed_whose_snapshot_does_not_match_its_hash_is_not_counted() {
        let (registry, other) = registries();
        let mut vote = BootstrapVote::new(2, "devnet");
        let mut lie = answer(&registry).unwrap();
        if let ResponseBody::Registry { text, .. } = &mut lie.body {
            *text = other.to_toml();
        }
        assert!(vote.record(Ok(lie.clone())).is_none());
        assert!(vote.record(Ok(lie)).is_none(), "two lies are not agreement");
        assert!(
            vote.record(answer(&other)).is_none(),
            "only one honest vote"
        );
        assert_eq!(vote.record(answer(&other)), Some(other));
    }

    #[test]
    fn a_seed_of_another_network_is_not_counted() {
        let (registry, _) = registries();
        let mut foreign = registry.clone();
        foreign.network = "elsewhere".into();
        let mut vote = BootstrapVote::new(2, "devnet");
        assert!(vote.record(answer(&foreign)).is_none());
        assert!(vote.record(answer(&foreign)).is_none());
        assert!(vote.record(answer(&registry)).is_none());
        assert_eq!(vote.record(answer(&registry)), Some(registry));
    }

    #[test]
    fn failed_seeds_give_the_last_error() {
        let mut vote = BootstrapVote::new(2, "devnet");
        assert!(
            vote.record(Err(ClientError::Protocol("unreachable".into())))
                .is_none()
        );
        while vote.end_round() {}
        assert!(vote.into_error().to_string().contains("unreachable"));
    }
}
