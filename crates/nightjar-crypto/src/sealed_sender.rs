//! Envelopes, version 2: a messages-v2 ratchet message sealed to one
//! recipient *device*, hiding the sender from the nodes that store it
//! (docs/PROTOCOL.md §16.4).
//!
//! The outer layer is v1's (§3.3) with its own label: one ephemeral X25519
//! agreement with the recipient device's identity key, a BLAKE2b-derived key
//! and nonce, XChaCha20-Poly1305. Inside, padded to a size bucket: the
//! sender's account and device, the recipient device, on a first message the
//! sender's [device certificate](sign_device_certificate), and the ratchet
//! message. Nothing inside is signed by the sender: the ratchet authenticates
//! the content (deniability); the certificate says only that the account owns
//! the device key, not what the device wrote.
//!
//! The outer layer is not forward-secret (it is keyed by the device's
//! long-term identity key): whoever later holds that key learns who sent a
//! stored envelope, never what it says.

use chacha20poly1305::aead::AeadInOut;
use prost::Message as _;
use zeroize::Zeroizing;

use crate::dh::{DhPublic, DhSecret};
use crate::envelope::{cipher_and_nonce, derive_key_nonce_with};
use crate::identity::{Identity, PublicKey};
use crate::{EnvelopeError, RandomSource, labels};

/// The version byte of a v2 envelope.
pub const ENVELOPE_VERSION_2: u8 = 0x02;
/// The smallest padded size.
pub const MIN_BUCKET: usize = 1_024;
/// The largest padded size.
pub const MAX_BUCKET: usize = 65_536;
/// The longest sealed content: one byte of padding must fit the largest bucket.
pub const MAX_SEALED_CONTENT_LEN: usize = MAX_BUCKET - 1;
/// Shortest v2 envelope: version, `E`, the smallest bucket and the tag.
pub const MIN_ENVELOPE_V2_LEN: usize = 1 + 32 + MIN_BUCKET + 16;
/// Longest v2 envelope.
pub const MAX_ENVELOPE_V2_LEN: usize = 1 + 32 + MAX_BUCKET + 16;
/// A device ID's length.
pub const DEVICE_ID_LEN: usize = 16;
/// A device certificate's length (an Ed25519 signature).
pub const DEVICE_CERT_LEN: usize = 64;

/// What a v2 envelope carries inside its sealed layer.
#[derive(Clone, PartialEq, Eq)]
pub struct Sealed {
    /// The sender's account key.
    pub sender_account: PublicKey,
    /// The sender's device ID.
    pub sender_device: [u8; DEVICE_ID_LEN],
    /// The device it was sealed for.
    pub recipient_device: [u8; DEVICE_ID_LEN],
    /// On a first message (an initial ratchet message): the sender
    /// account's certificate of the sending device's identity key.
    pub device_certificate: Option<[u8; DEVICE_CERT_LEN]>,
    /// The ratchet message (initial or ratchet, `nightjar-ratchet`).
    pub message: Vec<u8>,
}

/// Shows who and how long, not the message.
impl std::fmt::Debug for Sealed {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Sealed")
            .field("sender_account", &self.sender_account)
            .field("certificate", &self.device_certificate.is_some())
            .field("message_len", &self.message.len())
            .finish_non_exhaustive()
    }
}

/// The protobuf of the sealed content (§16.4).
#[derive(Clone, PartialEq, prost::Message)]
struct SealedProto {
    #[prost(bytes = "vec", tag = "1")]
    sender_account: Vec<u8>,
    #[prost(bytes = "vec", tag = "2")]
    sender_device: Vec<u8>,
    #[prost(bytes = "vec", tag = "3")]
    recipient_device: Vec<u8>,
    #[prost(bytes = "vec", tag = "4")]
    device_certificate: Vec<u8>,
    #[prost(bytes = "vec", tag = "5")]
    message: Vec<u8>,
}

/// The padded size of `len` content bytes: the smallest `1,024 · 2^k` (k =
/// 0..=6) that holds `len + 1`, or `None` if none does.
#[must_use]
pub fn padded_len_v2(len: usize) -> Option<usize> {
    (0..=6)
        .map(|k| MIN_BUCKET << k)
        .find(|&bucket| bucket > len)
}

/// The account's certificate of one of its devices:
/// `Ed25519-sign(account, [23] ‖ "nightjar/v2/device-cert" ‖ device_id (16)
/// ‖ identity_key (32))` (a labelled signature, §2).
#[must_use]
pub fn sign_device_certificate(
    account: &Identity,
    device_id: &[u8; DEVICE_ID_LEN],
    identity_key: &DhPublic,
) -> [u8; DEVICE_CERT_LEN] {
    account.sign_labelled(labels::DEVICE_CERT, &cert_data(device_id, identity_key))
}

/// Checks a device certificate strictly.
pub fn verify_device_certificate(
    account: &PublicKey,
    device_id: &[u8; DEVICE_ID_LEN],
    identity_key: &DhPublic,
    certificate: &[u8; DEVICE_CERT_LEN],
) -> Result<(), EnvelopeError> {
    account
        .verify_labelled(
            labels::DEVICE_CERT,
            &cert_data(device_id, identity_key),
            certificate,
        )
        .map_err(|_| EnvelopeError::BadSignature)
}

fn cert_data(device_id: &[u8; DEVICE_ID_LEN], identity_key: &DhPublic) -> [u8; 48] {
    let mut data = [0u8; 48];
    data[..DEVICE_ID_LEN].copy_from_slice(device_id);
    data[DEVICE_ID_LEN..].copy_from_slice(identity_key.as_bytes());
    data
}

/// Seals `sealed` to the recipient device's identity key, with the
/// ephemeral secret drawn from `rng`.
pub fn seal_v2_with(
    rng: &mut dyn RandomSource,
    recipient_identity: &DhPublic,
    sealed: &Sealed,
) -> Result<Vec<u8>, EnvelopeError> {
    let ephemeral = DhSecret::generate_with(rng)
        .map_err(|e| EnvelopeError::RandomUnavailable(e.to_string()))?;
    seal_v2_with_ephemeral(recipient_identity, sealed, &ephemeral)
}

/// Seals with a caller-chosen ephemeral secret. **For test vectors only**:
/// reusing an ephemeral secret reuses the key and nonce.
pub fn seal_v2_with_ephemeral(
    recipient_identity: &DhPublic,
    sealed: &Sealed,
    ephemeral: &DhSecret,
) -> Result<Vec<u8>, EnvelopeError> {
    let inner = Zeroizing::new(
        SealedProto {
            sender_account: sealed.sender_account.to_bytes().to_vec(),
            sender_device: sealed.sender_device.to_vec(),
            recipient_device: sealed.recipient_device.to_vec(),
            device_certificate: sealed
                .device_certificate
                .map(|c| c.to_vec())
                .unwrap_or_default(),
            message: sealed.message.clone(),
        }
        .encode_to_vec(),
    );
    let bucket =
        padded_len_v2(inner.len()).ok_or(EnvelopeError::ContentTooLarge { len: inner.len() })?;
    let mut p = Zeroizing::new(Vec::with_capacity(bucket));
    p.extend_from_slice(&inner);
    p.push(0x80);
    p.resize(bucket, 0);

    let y = recipient_identity.as_bytes();
    let (e_pub, shared) = crate::identity::ephemeral_agree(ephemeral.as_bytes(), y)
        .ok_or(EnvelopeError::LowOrderPoint)?;
    let h = derive_key_nonce_with(labels::ENVELOPE_V2_KEY, &shared, &e_pub, y);
    let (cipher, nonce) = cipher_and_nonce(&h);
    let aad = aad(&e_pub);
    let tag = cipher
        .encrypt_inout_detached(&nonce.into(), &aad, p.as_mut_slice().into())
        .map_err(|_| EnvelopeError::ContentTooLarge { len: inner.len() })?;
    let mut out = Vec::with_capacity(1 + 32 + p.len() + 16);
    out.push(ENVELOPE_VERSION_2);
    out.extend_from_slice(&e_pub);
    out.extend_from_slice(&p);
    out.extend_from_slice(&tag);
    Ok(out)
}

fn aad(e_pub: &[u8; 32]) -> [u8; 33] {
    let mut aad = [0u8; 33];
    aad[0] = ENVELOPE_VERSION_2;
    aad[1..].copy_from_slice(e_pub);
    aad
}

/// Opens a v2 envelope with this device's identity secret.
///
/// Checks, in order, each failure its own error: size
/// (≤ [`MAX_ENVELOPE_V2_LEN`], else *too large*), version byte `0x02`
/// (*unsupported version*; an empty input is *truncated*), length ≥
/// [`MIN_ENVELOPE_V2_LEN`] and a padded part whose length is a bucket
/// (*truncated*), key agreement (*low-order point*), decryption (*decrypt
/// failed*), padding (*bad padding*), the protobuf, then the length of
/// every field, then a non-empty message (*bad content*), then the sender
/// key (*invalid sender key*). It does not check the certificate or the
/// recipient device: the caller knows which keys to hold them against.
pub fn open_v2(identity: &DhSecret, envelope: &[u8]) -> Result<Sealed, EnvelopeError> {
    if envelope.len() > MAX_ENVELOPE_V2_LEN {
        return Err(EnvelopeError::TooLarge {
            len: envelope.len(),
        });
    }
    let (&version, rest) = envelope.split_first().ok_or(EnvelopeError::Truncated)?;
    if version != ENVELOPE_VERSION_2 {
        return Err(EnvelopeError::UnsupportedVersion(version));
    }
    let (e_pub, ct) = rest
        .split_first_chunk::<32>()
        .ok_or(EnvelopeError::Truncated)?;
    let (ct, tag) = ct
        .split_last_chunk::<16>()
        .ok_or(EnvelopeError::Truncated)?;
    if padded_len_v2(ct.len().saturating_sub(1)) != Some(ct.len()) {
        return Err(EnvelopeError::Truncated);
    }
    let y = identity.public();
    let (_, shared) = crate::identity::ephemeral_agree(identity.as_bytes(), e_pub)
        .ok_or(EnvelopeError::LowOrderPoint)?;
    let h = derive_key_nonce_with(labels::ENVELOPE_V2_KEY, &shared, e_pub, y.as_bytes());
    let (cipher, nonce) = cipher_and_nonce(&h);
    let mut p = Zeroizing::new(ct.to_vec());
    cipher
        .decrypt_inout_detached(
            &nonce.into(),
            &aad(e_pub),
            p.as_mut_slice().into(),
            &(*tag).into(),
        )
        .map_err(|_| EnvelopeError::DecryptFailed)?;
    let end = p
        .iter()
        .rposition(|&b| b != 0)
        .ok_or(EnvelopeError::BadPadding)?;
    if p.get(end) != Some(&0x80) {
        return Err(EnvelopeError::BadPadding);
    }
    let inner = p.get(..end).ok_or(EnvelopeError::BadPadding)?;
    let raw = SealedProto::decode(inner).map_err(|_| EnvelopeError::BadContent)?;
    // Every field length first (sender_account's too), then a non-empty
    // message, then the sender key: §16.4's order.
    let sender_account = <[u8; 32]>::try_from(raw.sender_account.as_slice())
        .map_err(|_| EnvelopeError::BadContent)?;
    let fixed = |bytes: &[u8]| {
        <[u8; DEVICE_ID_LEN]>::try_from(bytes).map_err(|_| EnvelopeError::BadContent)
    };
    let sender_device = fixed(&raw.sender_device)?;
    let recipient_device = fixed(&raw.recipient_device)?;
    let device_certificate = match raw.device_certificate.len() {
        0 => None,
        _ => Some(
            <[u8; DEVICE_CERT_LEN]>::try_from(raw.device_certificate.as_slice())
                .map_err(|_| EnvelopeError::BadContent)?,
        ),
    };
    if raw.message.is_empty() {
        return Err(EnvelopeError::BadContent);
    }
    Ok(Sealed {
        sender_account: PublicKey::from_bytes(&sender_account)
            .map_err(|_| EnvelopeError::InvalidSenderKey)?,
        sender_device,
        recipient_device,
        device_certificate,
        message: raw.message,
    })
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use crate::SeededRandom;
    use crate::identity::Seed;

    fn sample(rng: &mut SeededRandom) -> (Identity, DhSecret, Sealed) {
        let alice = Identity::from_seed(Seed::from_bytes([1; 32]));
        let device = DhSecret::generate_with(rng).unwrap();
        let sealed = Sealed {
            sender_account: alice.public_key(),
            sender_device: [2; 16],
            recipient_device: [3; 16],
            device_certificate: Some(sign_device_certificate(&alice, &[2; 16], &device.public())),
            message: b"ratchet message".to_vec(),
        };
        (alice, device, sealed)
    }

    #[test]
    fn a_sealed_envelope_opens_only_with_the_device_key_and_hides_its_length() {
        let rng = &mut SeededRandom::from_seed([1; 32]);
        let (alice, sender_device_key, sealed) = sample(rng);
        let bob_device = DhSecret::generate_with(rng).unwrap();
        let env = seal_v2_with(rng, &bob_device.public(), &sealed).unwrap();
        assert_eq!(env.len(), 1 + 32 + MIN_BUCKET + 16);
        let opened = open_v2(&bob_device, &env).unwrap();
        assert_eq!(opened, sealed);
        let cert = opened.device_certificate.unwrap();
        verify_device_certificate(
            &alice.public_key(),
            &[2; 16],
            &sender_device_key.public(),
            &cert,
        )
        .unwrap();
        assert!(
            verify_device_certificate(
                &alice.public_key(),
                &[9; 16],
                &sender_device_key.public(),
                &cert
            )
            .is_err(),
            "the certificate names one device"
        );
        let other = DhSecret::generate_with(rng).unwrap();
        assert_eq!(open_v2(&other, &env), Err(EnvelopeError::DecryptFailed));
        for i in [0usize, 1, 40, env.len() - 1] {
            let mut bad = env.clone();
            bad[i] ^= 1;
            assert!(open_v2(&bob_device, &bad).is_err(), "byte {i}");
        }
    }

    #[test]
    fn opening_errors_come_in_the_documented_order() {
        let rng = &mut SeededRandom::from_seed([2; 32]);
        let (_, _, sealed) = sample(rng);
        let bob = DhSecret::generate_with(rng).unwrap();
        let env = seal_v2_with(rng, &bob.public(), &sealed).unwrap();
        assert_eq!(open_v2(&bob, &[]), Err(EnvelopeError::Truncated));
        assert_eq!(
            open_v2(&bob, &[0x01]),
            Err(EnvelopeError::UnsupportedVersion(1))
        );
        assert_eq!(
            open_v2(&bob, &env[..env.len() - 1]),
            Err(EnvelopeError::Truncated)
        );
        assert!(matches!(
            open_v2(&bob, &vec![2; MAX_ENVELOPE_V2_LEN + 1]),
            Err(EnvelopeError::TooLarge { .. })
        ));
        let mut low = env.clone();
        low[1..33].fill(0);
        assert_eq!(open_v2(&bob, &low), Err(EnvelopeError::LowOrderPoint));
        let big = Sealed {
            message: vec![7; MAX_BUCKET],
            ..sealed
        };
        assert!(matches!(
            seal_v2_with(rng, &bob.public(), &big),
            Err(EnvelopeError::ContentTooLarge { .. })
        ));
    }

    /// `0x02 ‖ E ‖ AEAD(P)` for a hand-made padded part `p`.
    fn seal_padded(recipient: &DhPublic, p: &[u8]) -> Vec<u8> {
        let ephemeral = [0x5a; 32];
        let y = recipient.as_bytes();
        let (e_pub, shared) = crate::identity::ephemeral_agree(&ephemeral, y).unwrap();
        let h = derive_key_nonce_with(labels::ENVELOPE_V2_KEY, &shared, &e_pub, y);
        let (cipher, nonce) = cipher_and_nonce(&h);
        let mut ct = p.to_vec();
        let tag = cipher
            .encrypt_inout_detached(&nonce.into(), &aad(&e_pub), ct.as_mut_slice().into())
            .unwrap();
        [&[ENVELOPE_VERSION_2][..], &e_pub, &ct, &tag].concat()
    }

    /// Pads `inner` to its bucket and seals it.
    fn seal_inner(recipient: &DhPublic, inner: &[u8]) -> Vec<u8> {
        let mut p = inner.to_vec();
        p.push(0x80);
        p.resize(padded_len_v2(inner.len()).unwrap(), 0);
        seal_padded(recipient, &p)
    }

    fn proto(
        account: &[u8],
        sender_device: &[u8],
        recipient_device: &[u8],
        cert: &[u8],
        message: &[u8],
    ) -> Vec<u8> {
        SealedProto {
            sender_account: account.to_vec(),
            sender_device: sender_device.to_vec(),
            recipient_device: recipient_device.to_vec(),
            device_certificate: cert.to_vec(),
            message: message.to_vec(),
        }
        .encode_to_vec()
    }

    #[test]
    fn the_content_is_checked_for_field_lengths_before_the_sender_key() {
        let rng = &mut SeededRandom::from_seed([3; 32]);
        let bob = DhSecret::generate_with(rng).unwrap();
        let y = bob.public();
        let alice = Identity::from_seed(Seed::from_bytes([1; 32])).public_key();
        let good = alice.to_bytes();
        // The identity point: 32 bytes, not a valid key.
        let mut small = [0u8; 32];
        small[0] = 1;
        let open = |inner: &[u8]| open_v2(&bob, &seal_inner(&y, inner));

        assert!(open(&proto(&good, &[2; 16], &[3; 16], &[], b"m")).is_ok());
        assert!(open(&proto(&good, &[2; 16], &[3; 16], &[4; 64], b"m")).is_ok());
        assert_eq!(
            open(&proto(&small, &[2; 16], &[3; 16], &[], b"m")),
            Err(EnvelopeError::InvalidSenderKey)
        );
        // A field of the wrong length is bad content, sender_account's too
        // (§16.4: "a field length"), and it is found before the key is read.
        for (what, inner) in [
            (
                "account of 31 bytes",
                proto(&good[..31], &[2; 16], &[3; 16], &[], b"m"),
            ),
            ("no account", proto(&[], &[2; 16], &[3; 16], &[], b"m")),
            (
                "sender device of 15 bytes",
                proto(&good, &[2; 15], &[3; 16], &[], b"m"),
            ),
            (
                "recipient device of 17 bytes",
                proto(&good, &[2; 16], &[3; 17], &[], b"m"),
            ),
            (
                "certificate of 63 bytes",
                proto(&good, &[2; 16], &[3; 16], &[4; 63], b"m"),
            ),
            ("empty message", proto(&good, &[2; 16], &[3; 16], &[], b"")),
            (
                "invalid key, sender device of 15 bytes",
                proto(&small, &[2; 15], &[3; 16], &[], b"m"),
            ),
            (
                "invalid key, recipient device of 0 bytes",
                proto(&small, &[2; 16], &[], &[], b"m"),
            ),
            (
                "invalid key, empty message",
                proto(&small, &[2; 16], &[3; 16], &[], b""),
            ),
            ("not a protobuf", vec![0x0a, 0x20, 0x01]),
            ("field 1 as a varint", vec![0x08, 0x01]),
        ] {
            assert_eq!(open(&inner), Err(EnvelopeError::BadContent), "{what}");
        }
    }

    #[test]
    fn padding_is_checked_after_decryption() {
        let rng = &mut SeededRandom::from_seed([4; 32]);
        let bob = DhSecret::generate_with(rng).unwrap();
        let y = bob.public();
        assert_eq!(
            open_v2(&bob, &seal_padded(&y, &[0; MIN_BUCKET])),
            Err(EnvelopeError::BadPadding)
        );
        let mut p = vec![0u8; MIN_BUCKET];
        p[10] = 0x81;
        assert_eq!(
            open_v2(&bob, &seal_padded(&y, &p)),
            Err(EnvelopeError::BadPadding)
        );
        // An inner part in a bucket larger than needed still opens.
        let alice = Identity::from_seed(Seed::from_bytes([1; 32])).public_key();
        let mut p = proto(alice.as_bytes(), &[2; 16], &[3; 16], &[], b"m");
        p.push(0x80);
        p.resize(2 * MIN_BUCKET, 0);
        assert!(open_v2(&bob, &seal_padded(&y, &p)).is_ok());
    }

    #[test]
    fn buckets_double_from_one_to_sixty_four_kib() {
        assert_eq!(padded_len_v2(0), Some(1_024));
        assert_eq!(padded_len_v2(1_023), Some(1_024));
        assert_eq!(padded_len_v2(1_024), Some(2_048));
        assert_eq!(padded_len_v2(65_535), Some(65_536));
        assert_eq!(padded_len_v2(65_536), None);
    }
}
