//! The NIST known-answer tests of ML-KEM-768 (FIPS 203), run through this
//! crate's `kem` API: `test-vectors/mlkem768_nistkats.json` (100 cases; the
//! file's source is in `test-vectors/README.md`).
//!
//! Each case gives the 64-byte key-generation seed `d ‖ z`, the 32-byte
//! encapsulation randomness `m`, SHA3-256 of the public key, of the secret key
//! and of the ciphertext, and the shared secret. SHA3-256 is RustCrypto's
//! `sha3`, independent of the ML-KEM crate's own Keccak.

#![allow(clippy::unwrap_used, clippy::expect_used, missing_docs)]

use nightjar_crypto::kem::{self, MlKemCiphertext, MlKemKeyPair, MlKemPublicKey, MlKemSecretKey};
use serde::Deserialize;
use sha3::{Digest, Sha3_256};

#[derive(Deserialize)]
struct Kat {
    key_generation_seed: String,
    sha3_256_hash_of_public_key: String,
    sha3_256_hash_of_secret_key: String,
    encapsulation_seed: String,
    sha3_256_hash_of_ciphertext: String,
    shared_secret: String,
}

fn sha3(data: &[u8]) -> String {
    hex::encode(Sha3_256::digest(data))
}

fn kats() -> Vec<Kat> {
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../../test-vectors/mlkem768_nistkats.json");
    serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap()
}

#[test]
fn mlkem768_nist_known_answer_tests_pass_through_our_api() {
    let kats = kats();
    assert_eq!(kats.len(), 100, "the NIST file has 100 cases");
    for (i, kat) in kats.iter().enumerate() {
        let seed: [u8; 64] = hex::decode(&kat.key_generation_seed)
            .unwrap()
            .try_into()
            .unwrap();
        let m: [u8; 32] = hex::decode(&kat.encapsulation_seed)
            .unwrap()
            .try_into()
            .unwrap();
        let pair = MlKemKeyPair::from_seed(&seed);
        assert_eq!(
            sha3(pair.public_key().as_bytes()),
            kat.sha3_256_hash_of_public_key,
            "case {i}: public key"
        );
        assert_eq!(
            sha3(pair.secret_key().as_bytes()),
            kat.sha3_256_hash_of_secret_key,
            "case {i}: secret key"
        );
        // Through the decoders, as keys arrive from outside or from storage.
        let public = MlKemPublicKey::from_bytes(pair.public_key().as_bytes()).unwrap();
        let secret = MlKemSecretKey::from_bytes(pair.secret_key().as_bytes()).unwrap();
        let (ct, ss) = kem::encapsulate_deterministic(&public, &m);
        assert_eq!(
            sha3(ct.as_bytes()),
            kat.sha3_256_hash_of_ciphertext,
            "case {i}: ciphertext"
        );
        assert_eq!(
            hex::encode(ss.as_bytes()),
            kat.shared_secret,
            "case {i}: secret"
        );
        let ct = MlKemCiphertext::from_bytes(ct.as_bytes()).unwrap();
        assert_eq!(
            hex::encode(kem::decapsulate(&secret, &ct).as_bytes()),
            kat.shared_secret,
            "case {i}: decapsulated secret"
        );
    }
}

#[test]
fn a_changed_known_answer_fails() {
    // The comparison above can fail: one changed seed bit gives other keys.
    let kat = &kats()[0];
    let mut seed: [u8; 64] = hex::decode(&kat.key_generation_seed)
        .unwrap()
        .try_into()
        .unwrap();
    seed[0] ^= 1;
    let pair = MlKemKeyPair::from_seed(&seed);
    assert_ne!(
        sha3(pair.public_key().as_bytes()),
        kat.sha3_256_hash_of_public_key
    );
}

#[derive(Deserialize)]
struct Acvp {
    keygen: Vec<AcvpKeygen>,
    encapsulation: Vec<AcvpEncaps>,
    decapsulation: Vec<AcvpDecaps>,
    encapsulation_key_check: Vec<AcvpEkCheck>,
    decapsulation_key_check: Vec<AcvpDkCheck>,
}

#[derive(Deserialize)]
struct AcvpKeygen {
    d: String,
    z: String,
    ek: String,
    dk: String,
}

#[derive(Deserialize)]
struct AcvpEncaps {
    ek: String,
    m: String,
    c: String,
    k: String,
}

#[derive(Deserialize)]
struct AcvpDecaps {
    dk: String,
    c: String,
    k: String,
}

#[derive(Deserialize)]
struct AcvpEkCheck {
    #[serde(rename = "tcId")]
    tc_id: u32,
    ek: String,
    valid: bool,
}

#[derive(Deserialize)]
struct AcvpDkCheck {
    #[serde(rename = "tcId")]
    tc_id: u32,
    dk: String,
    valid: bool,
}

fn unhex(s: &str) -> Vec<u8> {
    hex::decode(s).unwrap()
}

/// NIST's ACVP vectors for ML-KEM-768 (`test-vectors/mlkem768_acvp.json`):
/// full keys and ciphertexts (not hashes), decapsulations that must give
/// the implicit-rejection secret, and the FIPS 203 key checks our decoders
/// run, with NIST's verdicts.
#[test]
fn mlkem768_nist_acvp_vectors_pass_through_our_api() {
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../../test-vectors/mlkem768_acvp.json");
    let acvp: Acvp = serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap();
    assert!(!acvp.keygen.is_empty() && !acvp.decapsulation.is_empty());
    for t in &acvp.keygen {
        let mut seed = unhex(&t.d);
        seed.extend(unhex(&t.z));
        let pair = MlKemKeyPair::from_seed(&seed.try_into().unwrap());
        assert_eq!(hex::encode(pair.public_key().as_bytes()), t.ek);
        assert_eq!(hex::encode(pair.secret_key().as_bytes()), t.dk);
    }
    for t in &acvp.encapsulation {
        let ek = MlKemPublicKey::from_bytes(&unhex(&t.ek)).unwrap();
        let (c, k) = kem::encapsulate_deterministic(&ek, &unhex(&t.m).try_into().unwrap());
        assert_eq!(hex::encode(c.as_bytes()), t.c);
        assert_eq!(hex::encode(k.as_bytes()), t.k);
    }
    for t in &acvp.decapsulation {
        let dk = MlKemSecretKey::from_bytes(&unhex(&t.dk)).unwrap();
        let c = MlKemCiphertext::from_bytes(&unhex(&t.c)).unwrap();
        assert_eq!(hex::encode(kem::decapsulate(&dk, &c).as_bytes()), t.k);
    }
    let (mut good, mut bad) = (0, 0);
    for t in &acvp.encapsulation_key_check {
        let ok = MlKemPublicKey::from_bytes(&unhex(&t.ek)).is_ok();
        assert_eq!(ok, t.valid, "encapsulation key check, tcId {}", t.tc_id);
        if ok { good += 1 } else { bad += 1 }
    }
    for t in &acvp.decapsulation_key_check {
        let ok = MlKemSecretKey::from_bytes(&unhex(&t.dk)).is_ok();
        assert_eq!(ok, t.valid, "decapsulation key check, tcId {}", t.tc_id);
        if ok { good += 1 } else { bad += 1 }
    }
    assert!(good > 0 && bad > 0, "both verdicts are exercised");
}
