//! Two devices, Alice's and Bob's, with Bob's prekeys published and stored.

#![allow(dead_code, clippy::unwrap_used)]

use nightjar_crypto::dh::{DhKeyPair, DhSecret};
use nightjar_crypto::kem::MlKemKeyPair;
use nightjar_crypto::{CryptoError, RandomSource, SeededRandom};
use nightjar_ratchet::{InMemoryPrekeyStore, PrekeyBundle, Session};

/// The context both sides pass (in the client: both accounts and devices).
pub const CONTEXT: &[u8] = b"alice-account|alice-device|bob-account|bob-device";

pub struct Device {
    pub identity: DhKeyPair,
}

pub struct Bob {
    pub identity: DhKeyPair,
    pub store: InMemoryPrekeyStore,
    pub bundle_one_time: PrekeyBundle,
    pub bundle_last_resort: PrekeyBundle,
}

pub fn alice() -> Device {
    Device {
        identity: DhKeyPair::from_secret(DhSecret::from_bytes([0xa1; 32])),
    }
}

/// Bob with signed prekey 1, one-time prekeys 10 and 11, ML-KEM one-time
/// prekey 20 and last-resort 30.
pub fn bob() -> Bob {
    let identity = DhKeyPair::from_secret(DhSecret::from_bytes([0xb1; 32]));
    let spk = DhKeyPair::from_secret(DhSecret::from_bytes([0xb2; 32]));
    let opk = DhKeyPair::from_secret(DhSecret::from_bytes([0xb3; 32]));
    let opk2 = DhKeyPair::from_secret(DhSecret::from_bytes([0xb4; 32]));
    let kem_one_time = MlKemKeyPair::from_seed(&[0xb5; 64]);
    let kem_last = MlKemKeyPair::from_seed(&[0xb6; 64]);
    let mut store = InMemoryPrekeyStore::new();
    store.add_signed_prekey(1, spk.secret().clone());
    store.add_one_time_prekey(10, opk.secret().clone());
    store.add_one_time_prekey(11, opk2.secret().clone());
    store.add_kem_prekey(20, true, kem_one_time.secret_key().clone());
    store.add_kem_prekey(30, false, kem_last.secret_key().clone());
    let bundle_one_time = PrekeyBundle {
        identity_key: *identity.public(),
        signed_prekey_id: 1,
        signed_prekey: *spk.public(),
        one_time_prekey: Some((10, *opk.public())),
        kem_prekey_id: 20,
        kem_prekey: kem_one_time.public_key().clone(),
        kem_prekey_one_time: true,
    };
    let bundle_last_resort = PrekeyBundle {
        one_time_prekey: None,
        kem_prekey_id: 30,
        kem_prekey: kem_last.public_key().clone(),
        kem_prekey_one_time: false,
        ..bundle_one_time.clone()
    };
    Bob {
        identity,
        store,
        bundle_one_time,
        bundle_last_resort,
    }
}

pub fn rng(seed: u8) -> SeededRandom {
    SeededRandom::from_seed([seed; 32])
}

/// A started session: Alice's and Bob's ends, after Alice's first message
/// ("hello") was read by Bob.
pub fn pair(seed: u8) -> (Session, Session, SeededRandom) {
    let mut r = rng(seed);
    let a = alice();
    let mut b = bob();
    let mut alice = Session::initiate(&mut r, &a.identity, &b.bundle_one_time, CONTEXT).unwrap();
    let first = alice.encrypt(&mut r, b"hello").unwrap();
    let (bob, plain) = Session::respond(&b.identity, &mut b.store, CONTEXT, &first).unwrap();
    assert_eq!(&plain[..], b"hello");
    (alice, bob, r)
}

/// A generator that always fails.
pub struct BrokenRandom;

impl RandomSource for BrokenRandom {
    fn fill(&mut self, _: &mut [u8]) -> Result<(), CryptoError> {
        Err(CryptoError::RandomUnavailable("broken on purpose".into()))
    }
}
