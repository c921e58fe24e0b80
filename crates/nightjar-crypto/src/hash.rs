//! Keyed BLAKE2b hashing and constant-time comparison.
//!
//! All hashes here are BLAKE2b with a key and an explicit output length, as
//! libsodium's `crypto_generichash(out, outlen, in, inlen, key, keylen)`
//! computes them. The output length is a parameter of BLAKE2b, so a 32- or
//! 56-byte output is *not* a prefix of the 64-byte output.

use blake2::digest::consts::{U8, U32, U56, U64};
use blake2::digest::{FixedOutput, KeyInit, Output, Update};
use blake2::{Blake2b, Blake2bMac};
use subtle::ConstantTimeEq;
use zeroize::Zeroizing;

use crate::identity::PublicKey;
use crate::labels;

/// Keyed BLAKE2b of the concatenation of `parts`, with the MAC type fixing
/// the output length.
fn keyed<M: KeyInit + Update + FixedOutput>(label: &'static str, parts: &[&[u8]]) -> Output<M> {
    // Labels are compile-time constants of 1..=64 bytes (asserted at compile
    // time in `labels`), exactly the key lengths BLAKE2b accepts.
    let mut mac = match M::new_from_slice(label.as_bytes()) {
        Ok(mac) => mac,
        Err(_) => unreachable!("domain labels are 1..=64 bytes"),
    };
    for part in parts {
        mac.update(part);
    }
    mac.finalize_fixed()
}

/// Keyed BLAKE2b with a 32-byte output, keyed by a domain `label`.
pub(crate) fn blake2b_keyed_32(label: &'static str, parts: &[&[u8]]) -> Zeroizing<[u8; 32]> {
    Zeroizing::new(keyed::<Blake2bMac<U32>>(label, parts).into())
}

/// Keyed BLAKE2b with a 56-byte output, keyed by a domain `label`.
pub(crate) fn blake2b_keyed_56(label: &'static str, parts: &[&[u8]]) -> Zeroizing<[u8; 56]> {
    Zeroizing::new(keyed::<Blake2bMac<U56>>(label, parts).into())
}

/// The content address of a stored message.
///
/// `BLAKE2b(outlen = 32, key = "nightjar/v1/message-hash",
///          input = account (32 bytes) ‖ namespace (u16 big-endian) ‖ data)`.
///
/// libsodium: `crypto_generichash(out, 32, input, len, "nightjar/v1/message-hash", 24)`.
pub fn message_hash(account: &PublicKey, namespace: u16, data: &[u8]) -> [u8; 32] {
    *blake2b_keyed_32(
        labels::MESSAGE_HASH,
        &[account.as_bytes(), &namespace.to_be_bytes(), data],
    )
}

/// The rendezvous score of `node` for `account`: whichever node scores
/// highest holds the account's mailbox.
///
/// `BLAKE2b(outlen = 8, key = "nightjar/v1/node-choice",
///          input = account (32 bytes) ‖ node key (32 bytes))`, read as a
/// big-endian u64.
pub fn rendezvous_score(account: &PublicKey, node: &PublicKey) -> u64 {
    let out = keyed::<Blake2bMac<U8>>(labels::NODE_CHOICE, &[account.as_bytes(), node.as_bytes()]);
    u64::from_be_bytes(out.into())
}

/// The position of `account` on the 64-bit swarm ring: the account's
/// mailbox lives in the swarm whose ID is nearest to it.
///
/// `BLAKE2b(outlen = 8, key = "nightjar/v1/ring-position",
///          input = account key (32 bytes))`, read as a big-endian u64.
///
/// libsodium: `crypto_generichash(out, 8, key, 32, "nightjar/v1/ring-position", 25)`.
pub fn ring_position(account: &PublicKey) -> u64 {
    ring_position_of_bytes(account.as_bytes())
}

/// [`ring_position`] of raw key bytes, for stores that hold keys already
/// validated when they arrived.
pub fn ring_position_of_bytes(account: &[u8; 32]) -> u64 {
    let out = keyed::<Blake2bMac<U8>>(labels::RING_POSITION, &[account]);
    u64::from_be_bytes(out.into())
}

/// The anti-entropy digest of a set of entries, each `(message hash,
/// expiry_ms, is_tombstone)`, in the order given (sorted by ring position,
/// then hash): two nodes holding the same entries get the same digest.
///
/// `BLAKE2b(outlen = 32, key = "nightjar/v1/sync-digest",
///          input = for each entry: hash (32) ‖ expiry_ms (u64 BE) ‖ [tombstone as 0 or 1])`.
pub fn sync_digest<'a>(entries: impl IntoIterator<Item = (&'a [u8; 32], u64, bool)>) -> [u8; 32] {
    let mut digest = SyncDigest::new();
    for (hash, expiry_ms, tombstone) in entries {
        digest.update(hash, expiry_ms, tombstone);
    }
    digest.finish()
}

/// [`sync_digest`] computed piece by piece: entries are fed in order, for
/// instance one page of a listing at a time; [`SyncDigest::finish`] gives
/// the same digest as [`sync_digest`] over all of them.
#[derive(Clone)]
pub struct SyncDigest(Blake2bMac<U32>);

impl std::fmt::Debug for SyncDigest {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("SyncDigest")
    }
}

impl Default for SyncDigest {
    fn default() -> SyncDigest {
        SyncDigest::new()
    }
}

impl SyncDigest {
    /// The digest of no entries so far.
    pub fn new() -> SyncDigest {
        match Blake2bMac::<U32>::new_from_slice(labels::SYNC_DIGEST.as_bytes()) {
            Ok(mac) => SyncDigest(mac),
            Err(_) => unreachable!("domain labels are 1..=64 bytes"),
        }
    }

    /// Add the next entry.
    pub fn update(&mut self, hash: &[u8; 32], expiry_ms: u64, tombstone: bool) {
        self.0.update(hash);
        self.0.update(&expiry_ms.to_be_bytes());
        self.0.update(&[u8::from(tombstone)]);
    }

    /// The digest of the entries added.
    pub fn finish(self) -> [u8; 32] {
        self.0.finalize_fixed().into()
    }
}

/// The hash of a registry snapshot, as a node serves it to `GetRegistry`:
/// whoever holds the text checks that it hashes to the value it expected.
///
/// `BLAKE2b(outlen = 32, key = "nightjar/v1/registry-snapshot", input = text bytes)`.
///
/// libsodium: `crypto_generichash(out, 32, text, len, "nightjar/v1/registry-snapshot", 29)`.
pub fn registry_snapshot_hash(text: &[u8]) -> [u8; 32] {
    *blake2b_keyed_32(labels::REGISTRY_SNAPSHOT, &[text])
}

/// Keyed BLAKE2b with a 64-byte output over the concatenation of `parts`,
/// keyed by a domain `label` (1..=64 bytes). For tools that need a
/// reproducible tag (the simulator's cheaper signature model); no protocol
/// construction uses it.
///
/// libsodium: `crypto_generichash(out, 64, input, len, label, label_len)`.
pub fn blake2b_keyed_64(label: &'static str, parts: &[&[u8]]) -> [u8; 64] {
    keyed::<Blake2bMac<U64>>(label, parts).into()
}

/// An incremental, unkeyed BLAKE2b-256 started with a domain label: a
/// transcript of events whose hash shows that two runs saw the same events
/// in the same order (the simulator's trace hash). Not a MAC; no protocol
/// construction uses it.
#[derive(Clone)]
pub struct Transcript(Blake2b<U32>);

impl Transcript {
    /// A transcript whose first input is `label`.
    pub fn new(label: &[u8]) -> Transcript {
        let mut h = Blake2b::<U32>::default();
        Update::update(&mut h, label);
        Transcript(h)
    }

    /// Append `bytes`.
    pub fn update(&mut self, bytes: &[u8]) {
        Update::update(&mut self.0, bytes);
    }

    /// The hash of everything appended so far.
    pub fn hash(&self) -> [u8; 32] {
        self.0.clone().finalize_fixed().into()
    }
}

impl std::fmt::Debug for Transcript {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Transcript(..)")
    }
}

/// Compares two byte strings in constant time (for equal lengths).
///
/// Returns `false` at once if the lengths differ; lengths are not secret.
/// Use this whenever a secret or an authenticator is compared.
pub fn ct_eq(a: &[u8], b: &[u8]) -> bool {
    a.ct_eq(b).into()
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn sync_digest_depends_on_every_field_and_order() {
        let (a, b) = ([1u8; 32], [2u8; 32]);
        let base = sync_digest([(&a, 5, false), (&b, 6, false)]);
        assert_eq!(base, sync_digest([(&a, 5, false), (&b, 6, false)]));
        assert_ne!(base, sync_digest([(&b, 6, false), (&a, 5, false)]));
        assert_ne!(base, sync_digest([(&a, 5, false), (&b, 7, false)]));
        assert_ne!(base, sync_digest([(&a, 5, false), (&b, 6, true)]));
        assert_ne!(base, sync_digest([(&a, 5, false)]));
        let mut pieces = SyncDigest::new();
        pieces.update(&a, 5, false);
        let mut later = pieces.clone();
        later.update(&b, 6, false);
        assert_eq!(later.finish(), base, "fed in pieces, the same digest");
        assert_eq!(pieces.finish(), sync_digest([(&a, 5, false)]));
    }

    #[test]
    fn registry_snapshot_hash_is_keyed_blake2b_32() {
        let text = b"version = 1\n";
        assert_eq!(
            registry_snapshot_hash(text),
            *blake2b_keyed_32(labels::REGISTRY_SNAPSHOT, &[text])
        );
        assert_ne!(
            registry_snapshot_hash(text),
            *blake2b_keyed_32(labels::MESSAGE_HASH, &[text])
        );
        assert_ne!(registry_snapshot_hash(text), registry_snapshot_hash(b""));
    }

    #[test]
    fn ct_eq_compares_contents_and_lengths() {
        assert!(ct_eq(b"", b""));
        assert!(ct_eq(b"abc", b"abc"));
        assert!(!ct_eq(b"abc", b"abd"));
        assert!(!ct_eq(b"abc", b"abcd"));
    }

    #[test]
    fn blake2b_56_is_not_a_truncation_of_longer_outputs() {
        let a = blake2b_keyed_56(labels::ENVELOPE_KEY, &[b"x"]);
        let b = blake2b_keyed_32(labels::ENVELOPE_KEY, &[b"x"]);
        assert_ne!(&a[..32], &b[..]);
    }

    #[test]
    fn keyed_hash_concatenates_parts() {
        let a = blake2b_keyed_32(labels::LOCAL_STORE, &[b"ab", b"cd"]);
        let b = blake2b_keyed_32(labels::LOCAL_STORE, &[b"abcd"]);
        let c = blake2b_keyed_32(labels::KEYFILE_NOPASS, &[b"abcd"]);
        assert_eq!(*a, *b);
        assert_ne!(*a, *c);
    }

    #[test]
    fn keyed_blake2b_matches_libsodium_known_answers() {
        // Computed with libsodium (PyNaCl nacl.hash.blake2b, key=..., digest_size=...).
        assert_eq!(
            hex::encode(*blake2b_keyed_56(labels::ENVELOPE_KEY, &[b"x"])),
            "10f7c4cb847d833801e0e27fd75c602cb87c099860947e8b460f34e8fdda48d1\
             36f3c53edb3dcb1d2bc996805ed03f1dceb86d8c9cff194c"
        );
        assert_eq!(
            hex::encode(*blake2b_keyed_32(labels::LOCAL_STORE, &[])),
            "5ec231bd26b3b05b5303390eebf43510a5c9ed828e12dafaab777496e4fc7e0d"
        );
    }

    #[test]
    fn message_hash_matches_libsodium_known_answer() {
        // libsodium: pk = crypto_sign_seed_keypair([7; 32]).pk;
        // crypto_generichash(32, pk ‖ 00 05 ‖ "hello", key "nightjar/v1/message-hash").
        let account =
            crate::identity::Identity::from_seed(crate::identity::Seed::from_bytes([7u8; 32]))
                .public_key();
        assert_eq!(
            account.to_hex(),
            "ea4a6c63e29c520abef5507b132ec5f9954776aebebe7b92421eea691446d22c"
        );
        assert_eq!(
            hex::encode(message_hash(&account, 5, b"hello")),
            "dca25c416cd76b01c6ea6fc9dcd7ba8d8485f8a387e9c34f1604158804719bbd"
        );
        assert_ne!(
            message_hash(&account, 5, b"hello"),
            message_hash(&account, 6, b"hello")
        );
    }

    #[test]
    fn rendezvous_score_matches_libsodium_known_answer() {
        // libsodium: a = pk([7; 32]), n = pk([8; 32]);
        // crypto_generichash(8, a ‖ n, key "nightjar/v1/node-choice"), big-endian.
        let seed = |b| crate::identity::Seed::from_bytes([b; 32]);
        let account = crate::identity::Identity::from_seed(seed(7)).public_key();
        let node = crate::identity::Identity::from_seed(seed(8)).public_key();
        assert_eq!(rendezvous_score(&account, &node), 0x0a6c_8c3a_fbf3_62db);
    }

    #[test]
    fn ring_position_is_keyed_and_depends_on_the_account() {
        let seed = |b| crate::identity::Seed::from_bytes([b; 32]);
        let a = crate::identity::Identity::from_seed(seed(7)).public_key();
        let b = crate::identity::Identity::from_seed(seed(8)).public_key();
        assert_eq!(ring_position(&a), ring_position(&a));
        assert_ne!(ring_position(&a), ring_position(&b));
        // Same input, different key: not the rendezvous hash nor an unkeyed one.
        let other = keyed::<Blake2bMac<U8>>(labels::NODE_CHOICE, &[a.as_bytes()]);
        assert_ne!(ring_position(&a), u64::from_be_bytes(other.into()));
    }

    #[test]
    fn ring_position_matches_libsodium_known_answer() {
        // libsodium: a = pk([7; 32]), b = pk([8; 32]);
        // crypto_generichash(8, key bytes, key "nightjar/v1/ring-position"), big-endian.
        let seed = |b| crate::identity::Seed::from_bytes([b; 32]);
        let a = crate::identity::Identity::from_seed(seed(7)).public_key();
        let b = crate::identity::Identity::from_seed(seed(8)).public_key();
        assert_eq!(ring_position(&a), 0x6058_2623_6926_ba87);
        assert_eq!(ring_position(&b), 0xc257_a3fe_6519_06c5);
    }
}
