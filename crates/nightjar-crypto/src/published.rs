//! Published records: what an account stores in its published namespaces
//! (`0xFF00..=0xFFFF`: device list, prekey bundles, one-time prekeys, …),
//! which anyone may read and only the account may write.
//!
//! ```text
//! signed data = account (32) ‖ namespace (u16 BE) ‖ body
//! sig         = Ed25519-sign(account, [21] ‖ "nightjar/v1/published" ‖ signed data)
//! record      = sig (64) ‖ body
//! ```
//!
//! The record is the `data` of a store (or replicate) in that namespace; a
//! service node checks it with [`verify`] (strictly, like every signature
//! here) and refuses it otherwise, so that nobody but the account fills its
//! published namespaces. Binding the account and the namespace means a
//! record cannot be replayed into another account or another namespace.
//! The body's format is the business of whoever reads it (a device list, a
//! prekey bundle, …), not of this module.
//!
//! Not for: deciding which namespaces are published (`nightjar-types`'
//! `namespace` module) or storing anything. `docs/PROTOCOL.md` §5.12 has the
//! layout.

use crate::error::CryptoError;
use crate::identity::{Identity, PublicKey};
use crate::labels;

/// Length of the signature that starts every published record.
pub const SIGNATURE_LEN: usize = 64;

/// The bytes the record's signature covers: `account (32) ‖ namespace (u16
/// BE) ‖ body`. (A node that checks signatures through its own scheme signs
/// and verifies these under [`labels::PUBLISHED`].)
pub fn signed_data(account: &PublicKey, namespace: u16, body: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(32 + 2 + body.len());
    out.extend_from_slice(account.as_bytes());
    out.extend_from_slice(&namespace.to_be_bytes());
    out.extend_from_slice(body);
    out
}

/// `identity`'s published record of `body` in `namespace`: `sig (64) ‖
/// body`, ready to store.
pub fn sign(identity: &Identity, namespace: u16, body: &[u8]) -> Vec<u8> {
    let data = signed_data(&identity.public_key(), namespace, body);
    let sig = identity.sign_labelled(labels::PUBLISHED, &data);
    let mut record = Vec::with_capacity(SIGNATURE_LEN + body.len());
    record.extend_from_slice(&sig);
    record.extend_from_slice(body);
    record
}

/// A record's signature and body, or `None` if it is shorter than a
/// signature. Nothing is checked.
pub fn split(record: &[u8]) -> Option<(&[u8; SIGNATURE_LEN], &[u8])> {
    let (sig, body) = record.split_first_chunk::<SIGNATURE_LEN>()?;
    Some((sig, body))
}

/// Checks that `record` is `account`'s published record in `namespace`
/// and returns its body.
///
/// Fails with [`CryptoError::BadSignature`] if the record is shorter than
/// [`SIGNATURE_LEN`] or its signature does not verify strictly under
/// `account` over this namespace and body.
pub fn verify<'a>(
    account: &PublicKey,
    namespace: u16,
    record: &'a [u8],
) -> Result<&'a [u8], CryptoError> {
    let (sig, body) = split(record).ok_or(CryptoError::BadSignature)?;
    account.verify_labelled(
        labels::PUBLISHED,
        &signed_data(account, namespace, body),
        sig,
    )?;
    Ok(body)
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;
    use crate::identity::Seed;

    fn alice() -> Identity {
        Identity::from_seed(Seed::from_bytes([1; 32]))
    }

    #[test]
    fn a_signed_record_verifies_and_gives_its_body() {
        let id = alice();
        let record = sign(&id, 0xff80, b"one-time prekey");
        assert_eq!(record.len(), SIGNATURE_LEN + 15);
        assert_eq!(&record[SIGNATURE_LEN..], b"one-time prekey");
        assert_eq!(
            verify(&id.public_key(), 0xff80, &record).unwrap(),
            b"one-time prekey"
        );
        // An empty body is a record too.
        let empty = sign(&id, 0xff00, b"");
        assert_eq!(verify(&id.public_key(), 0xff00, &empty).unwrap(), b"");
    }

    #[test]
    fn the_signature_is_the_labelled_signature_over_account_namespace_and_body() {
        let id = alice();
        let record = sign(&id, 0xff01, b"body");
        let mut message = vec![21u8];
        message.extend_from_slice(b"nightjar/v1/published");
        message.extend_from_slice(id.public_key().as_bytes());
        message.extend_from_slice(&[0xff, 0x01]);
        message.extend_from_slice(b"body");
        assert_eq!(labels::PUBLISHED.len(), 21);
        assert_eq!(
            signed_data(&id.public_key(), 0xff01, b"body"),
            message[22..].to_vec()
        );
        id.public_key()
            .verify_labelled(labels::PUBLISHED, &message[22..], &record[..64])
            .unwrap();
    }

    #[test]
    fn a_record_moved_altered_or_signed_by_another_key_is_refused() {
        let id = alice();
        let other = Identity::from_seed(Seed::from_bytes([2; 32]));
        let record = sign(&id, 0xff80, b"prekey");
        let refused = |account: &PublicKey, namespace: u16, record: &[u8]| {
            verify(account, namespace, record) == Err(CryptoError::BadSignature)
        };
        assert!(refused(&id.public_key(), 0xff81, &record), "namespace");
        assert!(refused(&other.public_key(), 0xff80, &record), "account");
        let mut altered = record.clone();
        if let Some(last) = altered.last_mut() {
            *last ^= 1;
        }
        assert!(refused(&id.public_key(), 0xff80, &altered), "body");
        let mut bad_sig = record.clone();
        bad_sig[0] ^= 1;
        assert!(refused(&id.public_key(), 0xff80, &bad_sig), "signature");
        let forged = sign(&other, 0xff80, b"prekey");
        assert!(refused(&id.public_key(), 0xff80, &forged), "other signer");
        // The same signature under another label does not verify either.
        let data = signed_data(&id.public_key(), 0xff80, b"prekey");
        let mut relabelled = id.sign_labelled(labels::ENVELOPE_SIG, &data).to_vec();
        relabelled.extend_from_slice(b"prekey");
        assert!(refused(&id.public_key(), 0xff80, &relabelled), "label");
        for len in [0, 1, 63] {
            assert!(refused(&id.public_key(), 0xff80, &record[..len]), "{len}");
        }
        assert!(split(&record[..63]).is_none());
    }
}
