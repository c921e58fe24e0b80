//! Domain-separation labels.
//!
//! Every keyed hash and every signature in Nightjar is bound to one of these
//! ASCII labels, so that a value computed for one purpose can never be
//! mistaken for a value computed for another. A label is used either as the
//! BLAKE2b key (keyed hashes) or as the length-prefixed label of a labelled
//! signature (see [`crate::identity::Identity::sign_labelled`]).
//!
//! These strings are part of the wire and storage formats: changing one
//! breaks compatibility.

/// Labelled-signature label of the sender's signature inside an envelope.
pub const ENVELOPE_SIG: &str = "nightjar/v1/envelope-sig";

/// BLAKE2b key (outlen 56) deriving an envelope's AEAD key and nonce.
pub const ENVELOPE_KEY: &str = "nightjar/v1/envelope-key";

/// BLAKE2b key (outlen 32) of [`crate::hash::message_hash`].
pub const MESSAGE_HASH: &str = "nightjar/v1/message-hash";

/// BLAKE2b key (outlen 32) deriving the client's local-storage key from its seed.
pub const LOCAL_STORE: &str = "nightjar/v1/local-store";

/// BLAKE2b key (outlen 32) deriving the key of a key file that has no passphrase.
pub const KEYFILE_NOPASS: &str = "nightjar/v1/keyfile-nopass";

/// BLAKE2b key (outlen 8) of the rendezvous score that picks an account's node.
pub const NODE_CHOICE: &str = "nightjar/v1/node-choice";

/// BLAKE2b key (outlen 8) of [`crate::hash::ring_position`], an account's
/// position on the swarm ring.
pub const RING_POSITION: &str = "nightjar/v1/ring-position";

/// BLAKE2b key (outlen 32) of the anti-entropy digest of a set of entries.
pub const SYNC_DIGEST: &str = "nightjar/v1/sync-digest";

/// BLAKE2b key (outlen 56) deriving an onion hop's request key and nonce.
pub const ONION_REQUEST: &str = "nightjar/v1/onion-request";

/// BLAKE2b key (outlen 56) deriving an onion hop's response key and nonce.
pub const ONION_RESPONSE: &str = "nightjar/v1/onion-response";

/// BLAKE2b key (outlen 56) deriving a circuit hop's create-layer key and nonce.
pub const CIRCUIT_CREATE: &str = "nightjar/v1/circuit-create";

/// BLAKE2b key (outlen 56) deriving a circuit hop's forward key and nonce base.
pub const CIRCUIT_FORWARD: &str = "nightjar/v1/circuit-forward";

/// BLAKE2b key (outlen 56) deriving a circuit hop's backward key and nonce base.
pub const CIRCUIT_BACKWARD: &str = "nightjar/v1/circuit-backward";

/// BLAKE2b key (outlen 32) of [`crate::hash::registry_snapshot_hash`].
pub const REGISTRY_SNAPSHOT: &str = "nightjar/v1/registry-snapshot";

/// Labelled-signature label of a node key's proof of possession for the
/// on-chain node registry ([`crate::registration`]).
pub const NODE_REGISTRATION: &str = "nightjar/v1/node-registration";

/// BLAKE2b key (outlen 32) of the messages-v2 handshake's transcript hash
/// `TH` ([`crate::kdf::pqxdh_transcript_hash`]).
pub const PQXDH_TRANSCRIPT: &str = "nightjar/v2/pqxdh-transcript";

/// BLAKE2b key (outlen 32) of the handshake's master secret `SK`
/// ([`crate::kdf::pqxdh_secret`]).
pub const PQXDH_SECRET: &str = "nightjar/v2/pqxdh-secret";

/// BLAKE2b key (outlen 32) deriving the first root key `RK0` from `SK`.
pub const PQXDH_ROOT: &str = "nightjar/v2/pqxdh-root";

/// BLAKE2b key (outlen 32) deriving `HK_I`, the header key of the
/// initiator's first sending chain, from `SK`.
pub const PQXDH_INITIATOR_HEADER: &str = "nightjar/v2/pqxdh-initiator-header";

/// BLAKE2b key (outlen 32) deriving `NHK_R`, the header key of the
/// responder's first sending chain, from `SK`.
pub const PQXDH_RESPONDER_HEADER: &str = "nightjar/v2/pqxdh-responder-header";

/// BLAKE2b key (outlen 64) of the ratchet's root KDF, giving `RK' ‖ CK`
/// ([`crate::kdf::root_kdf`]).
pub const RATCHET_ROOT: &str = "nightjar/v2/ratchet-root";

/// BLAKE2b key (outlen 32) of the ratchet's root KDF, giving the next header
/// key `NHK`.
pub const RATCHET_NEXT_HEADER: &str = "nightjar/v2/ratchet-next-header";

/// BLAKE2b key (outlen 32) of the chain KDF's next chain key
/// ([`crate::kdf::chain_kdf`]).
pub const RATCHET_CHAIN: &str = "nightjar/v2/ratchet-chain";

/// BLAKE2b key (outlen 32) of the chain KDF's message key.
pub const RATCHET_MESSAGE: &str = "nightjar/v2/ratchet-message";

/// BLAKE2b key (outlen 56) deriving a message body's AEAD key and nonce from
/// its message key ([`crate::kdf::MessageKey::seal`]).
pub const MESSAGE_KEY: &str = "nightjar/v2/message-key";

/// BLAKE2b key (outlen 56) deriving a v2 envelope's AEAD key and nonce
/// ([`crate::sealed_sender`]).
pub const ENVELOPE_V2_KEY: &str = "nightjar/v2/envelope-key";

/// Labelled-signature label of an account's certificate of one of its
/// devices' identity keys ([`crate::sealed_sender`]).
pub const DEVICE_CERT: &str = "nightjar/v2/device-cert";

/// Labelled-signature label of a published record: the account's signature
/// over `account ‖ namespace ‖ body` ([`crate::published`]).
pub const PUBLISHED: &str = "nightjar/v1/published";

/// BLAKE2b key (outlen 56) deriving a link request's AEAD key and nonce
/// from the link code's secret ([`crate::link::seal_request_with`]).
pub const LINK_REQUEST: &str = "nightjar/v2/link-request";

/// BLAKE2b key (outlen 56) deriving the key and nonce of a link hello's tag
/// ([`crate::link::answer_hello_with`]).
pub const LINK_HELLO: &str = "nightjar/v2/link-hello";

/// BLAKE2b key (outlen 32) of a link's short authentication string
/// ([`crate::link::Sas`]).
pub const LINK_SAS: &str = "nightjar/v2/link-sas";

/// BLAKE2b key (outlen 56) deriving a link answer record's AEAD key and
/// nonce ([`crate::link::LinkerState::seal_answer`]).
pub const LINK_ANSWER: &str = "nightjar/v2/link-answer";

/// BLAKE2b key (outlen 32) of a leaf of a batched-receipt tree
/// ([`crate::receipt_tree::leaf_hash`]).
pub const RECEIPT_LEAF: &str = "nightjar/v2/receipt-leaf";

/// BLAKE2b key (outlen 32) of an inner node of a batched-receipt tree
/// ([`crate::receipt_tree::node_hash`]).
pub const RECEIPT_NODE: &str = "nightjar/v2/receipt-node";

/// Every label defined here, for documentation and uniqueness tests.
pub const ALL: &[&str] = &[
    ENVELOPE_SIG,
    ENVELOPE_KEY,
    MESSAGE_HASH,
    LOCAL_STORE,
    KEYFILE_NOPASS,
    NODE_CHOICE,
    RING_POSITION,
    SYNC_DIGEST,
    ONION_REQUEST,
    ONION_RESPONSE,
    CIRCUIT_CREATE,
    CIRCUIT_FORWARD,
    CIRCUIT_BACKWARD,
    REGISTRY_SNAPSHOT,
    NODE_REGISTRATION,
    PQXDH_TRANSCRIPT,
    PQXDH_SECRET,
    PQXDH_ROOT,
    PQXDH_INITIATOR_HEADER,
    PQXDH_RESPONDER_HEADER,
    RATCHET_ROOT,
    RATCHET_NEXT_HEADER,
    RATCHET_CHAIN,
    RATCHET_MESSAGE,
    MESSAGE_KEY,
    ENVELOPE_V2_KEY,
    DEVICE_CERT,
    PUBLISHED,
    LINK_REQUEST,
    LINK_HELLO,
    LINK_SAS,
    LINK_ANSWER,
    RECEIPT_LEAF,
    RECEIPT_NODE,
];

// Every label must be usable both as a BLAKE2b key (1..=64 bytes) and as a
// labelled-signature label (1..=64 ASCII bytes); checked at compile time.
const _: () = {
    let mut i = 0;
    while i < ALL.len() {
        let label = ALL[i].as_bytes();
        assert!(!label.is_empty() && label.len() <= 64);
        let mut j = 0;
        while j < label.len() {
            assert!(label[j].is_ascii());
            j += 1;
        }
        i += 1;
    }
};

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn labels_are_distinct_ascii_and_fit_blake2b_keys() {
        for (i, a) in ALL.iter().enumerate() {
            assert!(a.is_ascii());
            assert!(!a.is_empty() && a.len() <= 64);
            for b in ALL.iter().skip(i + 1) {
                assert_ne!(a, b);
            }
        }
    }
}
