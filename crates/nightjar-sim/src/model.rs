//! The cheaper cryptography of `--crypto model` that is not just "skip it":
//! a stand-in for Ed25519 that keeps every signature check meaningful.
//!
//! A model signature is `BLAKE2b-512(key = "nightjar-sim/model-signature",
//! input = public key ‖ label length ‖ label ‖ data)`. Anyone who knows the
//! public key can compute it, so it is **not** a signature against an
//! adversary who forges; the simulator has none (its liars acknowledge
//! without storing, its droppers drop, its laggards dawdle, all with their
//! own keys). What it keeps: a receipt or a signed request verifies only
//! for the key, label and bytes it was made for, so a receipt naming
//! another node, another message or another expiry is refused exactly as
//! with Ed25519, and the quorum and replay logic run unchanged. What it
//! saves: about 20 µs per signature and 45 µs per verification, which are
//! most of a 2,200-node run's CPU with real signatures (BENCHMARKS.md,
//! "Simulator").
//!
//! Not for: anything outside the simulator. Real nodes build their cores
//! with [`NodeCore::new`](nightjar_node::engine::NodeCore::new), which
//! always uses Ed25519.

use nightjar_crypto::hash::{blake2b_keyed_64, ct_eq};
use nightjar_crypto::identity::{Identity, PublicKey};
use nightjar_node::engine::Signatures;
use nightjar_wire::Request;

/// The key of the model's BLAKE2b.
const MODEL_LABEL: &str = "nightjar-sim/model-signature";

/// The model "signature" of `key` over `data` under `label`.
fn tag(key: &PublicKey, label: &str, data: &[u8]) -> [u8; 64] {
    let label_len = [u8::try_from(label.len()).unwrap_or(u8::MAX)];
    blake2b_keyed_64(
        MODEL_LABEL,
        &[
            key.to_bytes().as_slice(),
            &label_len,
            label.as_bytes(),
            data,
        ],
    )
}

/// The model scheme, for node cores of a `--crypto model` run.
#[derive(Debug, Clone, Copy, Default)]
pub struct ModelSignatures;

impl Signatures for ModelSignatures {
    fn sign(&self, identity: &Identity, label: &str, data: &[u8]) -> [u8; 64] {
        tag(&identity.public_key(), label, data)
    }

    fn verify(&self, key: &PublicKey, label: &str, data: &[u8], signature: &[u8; 64]) -> bool {
        ct_eq(&tag(key, label, data), signature)
    }
}

/// A retrieve request as `nightjar_client::logic::retrieve_request` builds
/// it, with a model signature in place of the Ed25519 one.
pub fn retrieve_request(
    account: &Identity,
    namespace: u16,
    after_seq: u64,
    wait_ms: u32,
    now_ms: u64,
) -> Request {
    nightjar_client::logic::retrieve_request_with(
        account,
        namespace,
        after_seq,
        wait_ms,
        now_ms,
        |label, data| ModelSignatures.sign(account, label, data),
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use nightjar_crypto::identity::Seed;

    #[test]
    fn a_model_signature_verifies_only_for_its_key_label_and_data() {
        let a = Identity::from_seed(Seed::from_bytes([1; 32]));
        let b = Identity::from_seed(Seed::from_bytes([2; 32]));
        let sig = ModelSignatures.sign(&a, "nightjar/test", b"data");
        let m = ModelSignatures;
        assert!(m.verify(&a.public_key(), "nightjar/test", b"data", &sig));
        assert!(!m.verify(&b.public_key(), "nightjar/test", b"data", &sig));
        assert!(!m.verify(&a.public_key(), "nightjar/tesT", b"data", &sig));
        assert!(!m.verify(&a.public_key(), "nightjar/test", b"datA", &sig));
        // The label's length is bound: moving a byte between label and data
        // gives another tag.
        assert!(!m.verify(&a.public_key(), "nightjar/tes", b"tdata", &sig));
    }
}
