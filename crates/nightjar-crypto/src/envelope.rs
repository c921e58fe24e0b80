//! Message envelopes, version 1: sign-then-encrypt to a recipient's
//! Ed25519 identity, with padding to size buckets.
//!
//! # Layout
//!
//! ```text
//! C  = protobuf(Content)
//! M  = C ‖ 0x80 ‖ 0x00…            (padded to 256·2^k bytes, k = 0..=8)
//! A  = sender Ed25519 public key    (32)
//! R  = recipient Ed25519 public key (32)
//! SIG = Ed25519(sender, 24 ‖ "nightjar/v1/envelope-sig" ‖ M ‖ A ‖ R)   (64)
//! P  = A ‖ SIG ‖ M
//! e  = 32 random bytes; E = X25519(e, 9); Y = x25519(R); S = X25519(e, Y)
//! h  = BLAKE2b(outlen 56, key "nightjar/v1/envelope-key", S ‖ E ‖ Y)
//! key = h[0..32], nonce = h[32..56]
//! ct = XChaCha20-Poly1305-IETF(key, nonce, P, aad = 0x01 ‖ E)     (|P| + 16)
//! envelope = 0x01 ‖ E ‖ ct                                         (|M| + 145)
//! ```
//!
//! The signature covers the recipient's key, so an envelope re-encrypted by
//! its recipient to a third party fails verification there
//! ([`EnvelopeError::BadSignature`]).

use chacha20poly1305::aead::AeadInOut;
use chacha20poly1305::{KeyInit, XChaCha20Poly1305};
use zeroize::Zeroizing;

use crate::error::EnvelopeError;
use crate::hash::blake2b_keyed_56;
use crate::identity::{AccountId, Identity, PublicKey};
use crate::labels;
use crate::random::{OsRandom, RandomSource};

/// Version byte of envelope format 1.
pub const ENVELOPE_VERSION_1: u8 = 0x01;

/// Largest envelope [`open`] accepts, in bytes.
pub const MAX_ENVELOPE_LEN: usize = 76_800;

/// Longest encoded [`Content`] that fits in an envelope, in bytes.
pub const MAX_CONTENT_LEN: usize = 65_535;

/// Smallest padding bucket, in bytes.
pub const MIN_PADDED_LEN: usize = 256;

/// Largest padding bucket, in bytes.
pub const MAX_PADDED_LEN: usize = 65_536;

/// Bytes an envelope adds to the padded content:
/// version (1) + E (32) + AEAD tag (16) + A (32) + SIG (64).
pub const ENVELOPE_OVERHEAD: usize = 1 + 32 + 16 + 32 + 64;

/// Smallest possible envelope: the overhead plus the smallest bucket.
pub const MIN_ENVELOPE_LEN: usize = ENVELOPE_OVERHEAD + MIN_PADDED_LEN;

const PUBLIC_LEN: usize = 32;
const SIG_LEN: usize = 64;
const TAG_LEN: usize = 16;

/// The plaintext content of a message (protobuf, proto3).
///
/// ```proto
/// message Content {
///   string text       = 1;
///   uint64 sent_at_ms = 2;
/// }
/// ```
///
/// Fields may be added later with new tags; decoders skip unknown fields,
/// so older clients still open newer envelopes.
#[derive(Clone, PartialEq, Eq, prost::Message)]
pub struct Content {
    /// The message text (UTF-8).
    #[prost(string, tag = "1")]
    pub text: String,
    /// When the sender wrote it, in milliseconds since the Unix epoch.
    #[prost(uint64, tag = "2")]
    pub sent_at_ms: u64,
}

/// An opened envelope: who sent it and what it says.
#[derive(Clone, PartialEq, Eq, Debug)]
pub struct Opened {
    /// The sender, authenticated by their signature.
    pub sender: AccountId,
    /// The decrypted content.
    pub content: Content,
}

/// Whether `len` is one of the padding buckets 256·2^k, k = 0..=8.
fn is_bucket(len: usize) -> bool {
    (MIN_PADDED_LEN..=MAX_PADDED_LEN).contains(&len) && len.is_power_of_two()
}

/// Padded length of content of `content_len` bytes: the smallest bucket
/// ≥ `content_len + 1`, or `None` if the content is longer than 65535 bytes.
pub fn padded_len(content_len: usize) -> Option<usize> {
    if content_len > MAX_CONTENT_LEN {
        return None;
    }
    let needed = content_len.checked_add(1)?;
    needed.max(MIN_PADDED_LEN).checked_next_power_of_two()
}

/// Pads content: `content ‖ 0x80 ‖ 0x00…` up to [`padded_len`].
pub fn pad(content: &[u8]) -> Result<Vec<u8>, EnvelopeError> {
    let len =
        padded_len(content.len()).ok_or(EnvelopeError::ContentTooLarge { len: content.len() })?;
    let mut out = Vec::with_capacity(len);
    out.extend_from_slice(content);
    out.push(0x80);
    out.resize(len, 0);
    Ok(out)
}

/// Removes padding: strips trailing zeros, then requires a 0x80 byte and
/// that the padded length is a bucket.
pub fn unpad(padded: &[u8]) -> Result<&[u8], EnvelopeError> {
    if !is_bucket(padded.len()) {
        return Err(EnvelopeError::BadPadding);
    }
    let end = padded
        .iter()
        .rposition(|&b| b != 0)
        .ok_or(EnvelopeError::BadPadding)?;
    match padded.get(end) {
        Some(0x80) => padded.get(..end).ok_or(EnvelopeError::BadPadding),
        _ => Err(EnvelopeError::BadPadding),
    }
}

/// Derives the AEAD key and nonce from the shared secret S, ephemeral
/// public E and recipient X25519 public Y.
fn derive_key_nonce(s: &[u8; 32], e: &[u8; 32], y: &[u8; 32]) -> Zeroizing<[u8; 56]> {
    derive_key_nonce_with(labels::ENVELOPE_KEY, s, e, y)
}

/// `BLAKE2b-56(key = label, S ‖ E ‖ Y)`: an envelope's key and nonce (v1 and,
/// with its own label, v2).
pub(crate) fn derive_key_nonce_with(
    label: &'static str,
    s: &[u8; 32],
    e: &[u8; 32],
    y: &[u8; 32],
) -> Zeroizing<[u8; 56]> {
    blake2b_keyed_56(label, &[s, e, y])
}

/// Splits a 56-byte derivation into the cipher and the 24-byte nonce.
pub(crate) fn cipher_and_nonce(h: &[u8; 56]) -> (XChaCha20Poly1305, [u8; 24]) {
    let (key, nonce) = h.split_at(32);
    let mut key_arr = Zeroizing::new([0u8; 32]);
    key_arr.copy_from_slice(key);
    let mut nonce_arr = [0u8; 24];
    nonce_arr.copy_from_slice(nonce);
    let cipher = XChaCha20Poly1305::new(&(*key_arr).into());
    (cipher, nonce_arr)
}

/// Builds the signed message `24 ‖ "nightjar/v1/envelope-sig" ‖ M ‖ A ‖ R`
/// (the labelled-signature layout of [`Identity::sign_labelled`]).
fn sig_message(m: &[u8], a: &[u8; 32], r: &[u8; 32]) -> Vec<u8> {
    const LABEL: &str = labels::ENVELOPE_SIG;
    const LABEL_LEN: u8 = {
        assert!(!LABEL.is_empty() && LABEL.len() <= crate::identity::MAX_LABEL_LEN);
        LABEL.len() as u8
    };
    let mut msg = Vec::with_capacity(1 + LABEL.len() + m.len() + 2 * PUBLIC_LEN);
    msg.push(LABEL_LEN);
    msg.extend_from_slice(LABEL.as_bytes());
    msg.extend_from_slice(m);
    msg.extend_from_slice(a);
    msg.extend_from_slice(r);
    msg
}

/// Seals `content` from `sender` to `recipient` with fresh randomness.
pub fn seal(
    sender: &Identity,
    recipient: &PublicKey,
    content: &Content,
) -> Result<Vec<u8>, EnvelopeError> {
    seal_with(&mut OsRandom, sender, recipient, content)
}

/// [`seal`] with the ephemeral key drawn from `rng` instead of the operating
/// system's generator.
///
/// Real clients pass [`OsRandom`] (or call [`seal`]); a
/// [`crate::random::SeededRandom`] makes the envelope reproducible, for
/// simulations and tests only.
pub fn seal_with(
    rng: &mut dyn RandomSource,
    sender: &Identity,
    recipient: &PublicKey,
    content: &Content,
) -> Result<Vec<u8>, EnvelopeError> {
    let mut e = Zeroizing::new([0u8; 32]);
    rng.fill(&mut *e).map_err(|err| match err {
        crate::CryptoError::RandomUnavailable(msg) => EnvelopeError::RandomUnavailable(msg),
        other => EnvelopeError::RandomUnavailable(other.to_string()),
    })?;
    seal_with_ephemeral(sender, recipient, content, &e)
}

/// Seals with a caller-chosen ephemeral X25519 secret.
///
/// **For test vectors only.** Reusing an ephemeral secret across envelopes
/// reuses the key and nonce for the same recipient and destroys
/// confidentiality; always call [`seal`] in real code.
pub fn seal_with_ephemeral(
    sender: &Identity,
    recipient: &PublicKey,
    content: &Content,
    ephemeral_secret: &[u8; 32],
) -> Result<Vec<u8>, EnvelopeError> {
    let encoded = Zeroizing::new(prost::Message::encode_to_vec(content));
    let m = Zeroizing::new(pad(&encoded)?);

    let a = sender.public_key().to_bytes();
    let r = recipient.to_bytes();
    let sig = sender.sign_message(&sig_message(&m, &a, &r));

    let mut buf = Zeroizing::new(Vec::with_capacity(PUBLIC_LEN + SIG_LEN + m.len() + TAG_LEN));
    buf.extend_from_slice(&a);
    buf.extend_from_slice(&sig);
    buf.extend_from_slice(&m);

    let y = recipient.x25519();
    let (e_pub, shared) = crate::identity::ephemeral_agree(ephemeral_secret, &y)
        .ok_or(EnvelopeError::LowOrderPoint)?;
    let h = derive_key_nonce(&shared, &e_pub, &y);
    let (cipher, nonce) = cipher_and_nonce(&h);

    let mut aad = [0u8; 33];
    aad[0] = ENVELOPE_VERSION_1;
    aad[1..].copy_from_slice(&e_pub);

    let tag = cipher
        .encrypt_inout_detached(&nonce.into(), &aad, buf.as_mut_slice().into())
        .map_err(|_| EnvelopeError::ContentTooLarge { len: encoded.len() })?;

    let mut out = Vec::with_capacity(1 + PUBLIC_LEN + buf.len() + TAG_LEN);
    out.push(ENVELOPE_VERSION_1);
    out.extend_from_slice(&e_pub);
    out.extend_from_slice(&buf);
    out.extend_from_slice(&tag);
    Ok(out)
}

/// Opens an envelope addressed to `recipient`.
///
/// Checks, in order: size (≤ [`MAX_ENVELOPE_LEN`]), version byte, minimum
/// length, key agreement (non-zero), decryption, sender key, the sender's
/// signature over `M ‖ A ‖ our own key` (proving the envelope was meant for
/// us), padding, and finally the protobuf content. Any alteration of any
/// byte makes it fail with an error; it never panics.
pub fn open(recipient: &Identity, envelope: &[u8]) -> Result<Opened, EnvelopeError> {
    if envelope.len() > MAX_ENVELOPE_LEN {
        return Err(EnvelopeError::TooLarge {
            len: envelope.len(),
        });
    }
    let (&version, rest) = envelope.split_first().ok_or(EnvelopeError::Truncated)?;
    if version != ENVELOPE_VERSION_1 {
        return Err(EnvelopeError::UnsupportedVersion(version));
    }
    if envelope.len() < MIN_ENVELOPE_LEN {
        return Err(EnvelopeError::Truncated);
    }
    let (e_pub, ct) = rest
        .split_first_chunk::<PUBLIC_LEN>()
        .ok_or(EnvelopeError::Truncated)?;
    let (ct, tag) = ct
        .split_last_chunk::<TAG_LEN>()
        .ok_or(EnvelopeError::Truncated)?;

    let shared = recipient
        .x25519_agree(e_pub)
        .ok_or(EnvelopeError::LowOrderPoint)?;
    let y = recipient.x25519_public();
    let h = derive_key_nonce(&shared, e_pub, &y);
    let (cipher, nonce) = cipher_and_nonce(&h);

    let mut aad = [0u8; 33];
    aad[0] = ENVELOPE_VERSION_1;
    aad[1..].copy_from_slice(e_pub);

    let mut p = Zeroizing::new(ct.to_vec());
    cipher
        .decrypt_inout_detached(&nonce.into(), &aad, p.as_mut_slice().into(), &(*tag).into())
        .map_err(|_| EnvelopeError::DecryptFailed)?;

    let (a, rest) = p
        .split_first_chunk::<PUBLIC_LEN>()
        .ok_or(EnvelopeError::Truncated)?;
    let (sig, m) = rest
        .split_first_chunk::<SIG_LEN>()
        .ok_or(EnvelopeError::Truncated)?;
    let sender = PublicKey::from_bytes(a).map_err(|_| EnvelopeError::InvalidSenderKey)?;
    let r = recipient.public_key().to_bytes();
    sender
        .verify_labelled_parts(&sig_message(m, a, &r), sig)
        .map_err(|_| EnvelopeError::BadSignature)?;
    let c = unpad(m)?;
    let content = <Content as prost::Message>::decode(c).map_err(|_| EnvelopeError::BadContent)?;
    Ok(Opened {
        sender: sender.account_id(),
        content,
    })
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use crate::identity::Seed;
    use x25519_dalek::StaticSecret;

    fn ids() -> (Identity, Identity) {
        (
            Identity::from_seed(Seed::from_bytes([1u8; 32])),
            Identity::from_seed(Seed::from_bytes([2u8; 32])),
        )
    }

    fn content(text: &str) -> Content {
        Content {
            text: text.to_owned(),
            sent_at_ms: 1_700_000_000_000,
        }
    }

    #[test]
    fn seeded_seal_replays_from_the_seed_and_still_opens() {
        use crate::random::SeededRandom;
        let (alice, bob) = ids();
        let c = content("seeded");
        let mut a = SeededRandom::from_seed([4u8; 32]);
        let mut b = SeededRandom::from_seed([4u8; 32]);
        let ea = seal_with(&mut a, &alice, &bob.public_key(), &c).unwrap();
        let eb = seal_with(&mut b, &alice, &bob.public_key(), &c).unwrap();
        assert_eq!(ea, eb);
        let ec = seal_with(&mut a, &alice, &bob.public_key(), &c).unwrap();
        assert_ne!(ea, ec);
        let opened = open(&bob, &ea).unwrap();
        assert_eq!(opened.sender, alice.account_id());
        assert_eq!(opened.content, c);
    }

    #[test]
    fn padding_buckets_are_powers_of_two_from_256_to_65536() {
        assert_eq!(padded_len(0), Some(256));
        assert_eq!(padded_len(255), Some(256));
        assert_eq!(padded_len(256), Some(512));
        assert_eq!(padded_len(511), Some(512));
        assert_eq!(padded_len(512), Some(1024));
        assert_eq!(padded_len(65_535), Some(65_536));
        assert_eq!(padded_len(65_536), None);
        for k in 0..=8 {
            assert!(is_bucket(256 << k));
        }
        assert!(!is_bucket(128));
        assert!(!is_bucket(131_072));
        assert!(!is_bucket(300));
    }

    #[test]
    fn pad_and_unpad_round_trip() {
        for len in [0usize, 1, 254, 255, 256, 1000, 65_535] {
            let c: Vec<u8> = (0..len).map(|i| (i % 7) as u8).collect();
            let m = pad(&c).unwrap();
            assert_eq!(m.len(), padded_len(len).unwrap());
            assert_eq!(m[len], 0x80);
            assert_eq!(unpad(&m).unwrap(), &c[..]);
        }
        assert_eq!(
            pad(&vec![0u8; 65_536]).unwrap_err(),
            EnvelopeError::ContentTooLarge { len: 65_536 }
        );
    }

    #[test]
    fn unpad_rejects_malformed_padding() {
        assert_eq!(unpad(&[0u8; 256]), Err(EnvelopeError::BadPadding));
        let mut m = vec![0u8; 256];
        m[10] = 0x81;
        assert_eq!(unpad(&m), Err(EnvelopeError::BadPadding));
        let mut m = vec![0u8; 300];
        m[0] = 0x80;
        assert_eq!(unpad(&m), Err(EnvelopeError::BadPadding));
        assert_eq!(unpad(&[]), Err(EnvelopeError::BadPadding));
        // Over-long but bucket-sized padding is accepted.
        let mut m = vec![0u8; 1024];
        m[0] = 0x80;
        assert_eq!(unpad(&m).unwrap(), &[] as &[u8]);
    }

    #[test]
    fn sealed_envelope_opens_for_recipient() {
        let (alice, bob) = ids();
        let c = content("hello bob");
        let env = seal(&alice, &bob.public_key(), &c).unwrap();
        assert_eq!(env.len(), 256 + ENVELOPE_OVERHEAD);
        assert_eq!(env[0], ENVELOPE_VERSION_1);
        let opened = open(&bob, &env).unwrap();
        assert_eq!(opened.sender, alice.account_id());
        assert_eq!(opened.content, c);
    }

    #[test]
    fn sealing_twice_gives_different_envelopes() {
        let (alice, bob) = ids();
        let c = content("same");
        let a = seal(&alice, &bob.public_key(), &c).unwrap();
        let b = seal(&alice, &bob.public_key(), &c).unwrap();
        assert_ne!(a, b);
    }

    #[test]
    fn envelope_to_self_opens() {
        let (alice, _) = ids();
        let env = seal(&alice, &alice.public_key(), &content("note")).unwrap();
        assert_eq!(open(&alice, &env).unwrap().sender, alice.account_id());
    }

    #[test]
    fn envelope_sizes_follow_buckets() {
        let (alice, bob) = ids();
        for (len, bucket) in [(0usize, 256usize), (300, 512), (40_000, 65_536)] {
            let c = content(&"x".repeat(len));
            let env = seal(&alice, &bob.public_key(), &c).unwrap();
            assert_eq!(env.len(), bucket + ENVELOPE_OVERHEAD);
            assert_eq!(open(&bob, &env).unwrap().content, c);
        }
        let too_big = content(&"x".repeat(65_536));
        assert!(matches!(
            seal(&alice, &bob.public_key(), &too_big),
            Err(EnvelopeError::ContentTooLarge { .. })
        ));
    }

    #[test]
    fn envelope_for_someone_else_fails_to_decrypt() {
        let (alice, bob) = ids();
        let carol = Identity::from_seed(Seed::from_bytes([3u8; 32]));
        let env = seal(&alice, &bob.public_key(), &content("for bob")).unwrap();
        assert_eq!(open(&carol, &env), Err(EnvelopeError::DecryptFailed));
    }

    #[test]
    fn envelope_for_someone_else_fails_signature() {
        // Bob decrypts an envelope meant for him and re-encrypts the same
        // signed payload to Carol: Carol must reject it.
        let (alice, bob) = ids();
        let carol = Identity::from_seed(Seed::from_bytes([3u8; 32]));
        let env = seal(&alice, &bob.public_key(), &content("for bob only")).unwrap();

        // Bob recovers P (A ‖ SIG ‖ M).
        let e_pub: [u8; 32] = env[1..33].try_into().unwrap();
        let shared = bob.x25519_agree(&e_pub).unwrap();
        let h = derive_key_nonce(&shared, &e_pub, &bob.x25519_public());
        let (cipher, nonce) = cipher_and_nonce(&h);
        let mut aad = vec![ENVELOPE_VERSION_1];
        aad.extend_from_slice(&e_pub);
        let (ct, tag) = env[33..].split_at(env.len() - 33 - 16);
        let mut p = ct.to_vec();
        let tag: [u8; 16] = tag.try_into().unwrap();
        cipher
            .decrypt_inout_detached(&nonce.into(), &aad, p.as_mut_slice().into(), &tag.into())
            .unwrap();

        // Re-encrypt P to Carol with a new ephemeral key.
        let eph = StaticSecret::from([77u8; 32]);
        let e2 = x25519_dalek::PublicKey::from(&eph).to_bytes();
        let y = carol.x25519_public();
        let s = eph.diffie_hellman(&x25519_dalek::PublicKey::from(y));
        let h = derive_key_nonce(s.as_bytes(), &e2, &y);
        let (cipher, nonce) = cipher_and_nonce(&h);
        let mut aad = vec![ENVELOPE_VERSION_1];
        aad.extend_from_slice(&e2);
        let tag = cipher
            .encrypt_inout_detached(&nonce.into(), &aad, p.as_mut_slice().into())
            .unwrap();
        let mut forwarded = vec![ENVELOPE_VERSION_1];
        forwarded.extend_from_slice(&e2);
        forwarded.extend_from_slice(&p);
        forwarded.extend_from_slice(&tag);

        assert_eq!(open(&carol, &forwarded), Err(EnvelopeError::BadSignature));
    }

    #[test]
    fn tampered_envelope_is_rejected() {
        let (alice, bob) = ids();
        let env = seal(&alice, &bob.public_key(), &content("tamper with me")).unwrap();
        assert!(open(&bob, &env).is_ok());
        for i in 0..env.len() {
            for bit in [0x01u8, 0x80] {
                let mut t = env.clone();
                t[i] ^= bit;
                assert!(
                    open(&bob, &t).is_err(),
                    "flip of byte {i} bit {bit:#x} accepted"
                );
            }
        }
    }

    #[test]
    fn truncated_extended_and_oversized_envelopes_are_rejected() {
        let (alice, bob) = ids();
        let env = seal(&alice, &bob.public_key(), &content("x")).unwrap();
        for cut in [0usize, 1, 33, 100, MIN_ENVELOPE_LEN - 1, env.len() - 1] {
            assert!(open(&bob, &env[..cut]).is_err(), "cut at {cut} accepted");
        }
        assert_eq!(open(&bob, &[]), Err(EnvelopeError::Truncated));
        assert_eq!(open(&bob, &env[..100]), Err(EnvelopeError::Truncated));
        let mut longer = env.clone();
        longer.push(0);
        assert_eq!(open(&bob, &longer), Err(EnvelopeError::DecryptFailed));
        assert_eq!(
            open(&bob, &vec![1u8; MAX_ENVELOPE_LEN + 1]),
            Err(EnvelopeError::TooLarge {
                len: MAX_ENVELOPE_LEN + 1
            })
        );
        let mut v2 = env.clone();
        v2[0] = 2;
        assert_eq!(open(&bob, &v2), Err(EnvelopeError::UnsupportedVersion(2)));
    }

    #[test]
    fn low_order_ephemeral_key_is_rejected() {
        let (alice, bob) = ids();
        let mut env = seal(&alice, &bob.public_key(), &content("x")).unwrap();
        // u = 0 and u = 1 are low-order points on Curve25519.
        for u in [[0u8; 32], {
            let mut one = [0u8; 32];
            one[0] = 1;
            one
        }] {
            env[1..33].copy_from_slice(&u);
            assert_eq!(open(&bob, &env), Err(EnvelopeError::LowOrderPoint));
        }
    }

    #[test]
    fn forged_sender_key_fails_signature() {
        // Mallory builds a well-encrypted envelope claiming to be Alice but
        // signed with her own key.
        let (alice, bob) = ids();
        let mallory = Identity::from_seed(Seed::from_bytes([6u8; 32]));
        let env = seal(&mallory, &bob.public_key(), &content("i am alice")).unwrap();
        assert_eq!(open(&bob, &env).unwrap().sender, mallory.account_id());
        assert_ne!(mallory.account_id(), alice.account_id());
    }

    #[test]
    fn content_decodes_with_unknown_fields() {
        // Content with an extra field (tag 3, string) must still decode.
        let mut bytes = prost::Message::encode_to_vec(&content("hi"));
        bytes.extend_from_slice(&[0x1a, 0x02, b'o', b'k']);
        let c = <Content as prost::Message>::decode(&bytes[..]).unwrap();
        assert_eq!(c, content("hi"));
    }
}
