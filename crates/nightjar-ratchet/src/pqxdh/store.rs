//! Where a responder's prekey secrets live: the [`PrekeyStore`] trait and
//! its in-memory implementation.

use std::collections::BTreeMap;

use nightjar_crypto::dh::DhSecret;
use nightjar_crypto::kem::MlKemSecretKey;

/// The secrets of a device's published prekeys, looked up by id when an
/// initial message arrives.
///
/// [`crate::Session::respond`] first *reads* the secrets it needs and only
/// *consumes* the one-time ones once the initial message has authenticated,
/// so a forged initial message cannot use up a one-time prekey. A client's
/// persistent store (encrypted at rest) implements this trait; the
/// handshake never sees how.
pub trait PrekeyStore {
    /// The signed X25519 prekey with this id, if still held.
    fn signed_prekey(&self, id: u32) -> Option<DhSecret>;

    /// The one-time X25519 prekey with this id, if not yet used.
    fn one_time_prekey(&self, id: u32) -> Option<DhSecret>;

    /// The ML-KEM-768 prekey with this id: a one-time one if `one_time`,
    /// else a last-resort one (the two are separate id spaces).
    fn kem_prekey(&self, id: u32, one_time: bool) -> Option<MlKemSecretKey>;

    /// Deletes a used one-time X25519 prekey.
    fn consume_one_time_prekey(&mut self, id: u32);

    /// Deletes a used one-time ML-KEM prekey.
    fn consume_kem_one_time_prekey(&mut self, id: u32);
}

/// A [`PrekeyStore`] in memory, for tests and as a model of what a
/// persistent store does.
#[derive(Clone, Default)]
pub struct InMemoryPrekeyStore {
    signed: BTreeMap<u32, DhSecret>,
    one_time: BTreeMap<u32, DhSecret>,
    kem_last_resort: BTreeMap<u32, MlKemSecretKey>,
    kem_one_time: BTreeMap<u32, MlKemSecretKey>,
}

impl InMemoryPrekeyStore {
    /// An empty store.
    pub fn new() -> InMemoryPrekeyStore {
        InMemoryPrekeyStore::default()
    }

    /// Adds (or replaces) a signed X25519 prekey.
    pub fn add_signed_prekey(&mut self, id: u32, secret: DhSecret) {
        self.signed.insert(id, secret);
    }

    /// Adds (or replaces) a one-time X25519 prekey.
    pub fn add_one_time_prekey(&mut self, id: u32, secret: DhSecret) {
        self.one_time.insert(id, secret);
    }

    /// Adds (or replaces) an ML-KEM-768 prekey, one-time or last-resort.
    pub fn add_kem_prekey(&mut self, id: u32, one_time: bool, secret: MlKemSecretKey) {
        if one_time {
            self.kem_one_time.insert(id, secret);
        } else {
            self.kem_last_resort.insert(id, secret);
        }
    }

    /// How many one-time prekeys are left: `(X25519, ML-KEM)`.
    pub fn one_time_counts(&self) -> (usize, usize) {
        (self.one_time.len(), self.kem_one_time.len())
    }
}

impl PrekeyStore for InMemoryPrekeyStore {
    fn signed_prekey(&self, id: u32) -> Option<DhSecret> {
        self.signed.get(&id).cloned()
    }

    fn one_time_prekey(&self, id: u32) -> Option<DhSecret> {
        self.one_time.get(&id).cloned()
    }

    fn kem_prekey(&self, id: u32, one_time: bool) -> Option<MlKemSecretKey> {
        if one_time {
            self.kem_one_time.get(&id).cloned()
        } else {
            self.kem_last_resort.get(&id).cloned()
        }
    }

    fn consume_one_time_prekey(&mut self, id: u32) {
        self.one_time.remove(&id);
    }

    fn consume_kem_one_time_prekey(&mut self, id: u32) {
        self.kem_one_time.remove(&id);
    }
}

impl core::fmt::Debug for InMemoryPrekeyStore {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("InMemoryPrekeyStore")
            .field("signed", &self.signed.keys().collect::<Vec<_>>())
            .field("one_time", &self.one_time.keys().collect::<Vec<_>>())
            .field(
                "kem_last_resort",
                &self.kem_last_resort.keys().collect::<Vec<_>>(),
            )
            .field(
                "kem_one_time",
                &self.kem_one_time.keys().collect::<Vec<_>>(),
            )
            .finish()
    }
}
