//! Test vectors in `test-vectors/` at the workspace root.
//!
//! The replay tests always run: they read every JSON file, re-derive every
//! value with this crate and compare bytes. `regenerate_vectors` rewrites the
//! files, but only when `NIGHTJAR_REGEN_VECTORS=1` is set:
//!
//! ```sh
//! NIGHTJAR_REGEN_VECTORS=1 cargo test -p nightjar-crypto --test vectors
//! python3 test-vectors/check_libsodium.py   # independent check with libsodium
//! ```
//!
//! Intermediate values (shared secrets, derived keys) are computed here with
//! the primitive crates directly, independently of the crate's internals.

#![allow(clippy::unwrap_used, missing_docs)]

use std::fs;
use std::path::PathBuf;

use blake2::Blake2bMac;
use blake2::digest::consts::{U32, U56};
use blake2::digest::{FixedOutput, KeyInit, Update};
use nightjar_crypto::at_rest::{self, LocalCipher};
use nightjar_crypto::envelope::{self, Content};
use nightjar_crypto::hash::message_hash;
use nightjar_crypto::identity::{AccountId, Identity, PublicKey, Seed};
use nightjar_crypto::labels;
use serde::{Deserialize, Serialize};

// ---------------------------------------------------------------------------
// File formats
// ---------------------------------------------------------------------------

#[derive(Serialize, Deserialize)]
struct File<T> {
    description: String,
    cases: Vec<T>,
}

#[derive(Serialize, Deserialize)]
struct IdentityCase {
    seed: String,
    mnemonic: String,
    ed25519_public: String,
    x25519_secret: String,
    x25519_public: String,
    account_id: String,
    pkcs8_der: String,
}

#[derive(Serialize, Deserialize)]
struct LabelledSigCase {
    seed: String,
    ed25519_public: String,
    label: String,
    data: String,
    signed_message: String,
    signature: String,
}

#[derive(Serialize, Deserialize)]
struct MessageHashCase {
    account: String,
    namespace: u16,
    data: String,
    hash: String,
}

#[derive(Serialize, Deserialize)]
struct EnvelopeCase {
    name: String,
    sender_seed: String,
    recipient_seed: String,
    sender_ed25519_public: String,
    recipient_ed25519_public: String,
    ephemeral_secret: String,
    text: String,
    sent_at_ms: u64,
    content_protobuf: String,
    padded: String,
    signed_message: String,
    signature: String,
    ephemeral_public: String,
    recipient_x25519_public: String,
    shared_secret: String,
    aead_key: String,
    aead_nonce: String,
    envelope: String,
}

#[derive(Serialize, Deserialize)]
struct KeyfileCase {
    seed: String,
    passphrase: Option<String>,
    salt: String,
    nonce: String,
    kdf: u8,
    m_kib: u32,
    t: u32,
    p: u32,
    key: String,
    keyfile: String,
}

#[derive(Serialize, Deserialize)]
struct LocalStoreCase {
    seed: String,
    key: String,
    nonce: String,
    aad: String,
    plaintext: String,
    blob: String,
}

// ---------------------------------------------------------------------------
// Helpers
// ---------------------------------------------------------------------------

fn dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../test-vectors")
}

fn read<T: for<'de> Deserialize<'de>>(name: &str) -> File<T> {
    let path = dir().join(name);
    let text =
        fs::read_to_string(&path).unwrap_or_else(|e| panic!("cannot read {}: {e}", path.display()));
    serde_json::from_str(&text).unwrap_or_else(|e| panic!("cannot parse {name}: {e}"))
}

fn write<T: Serialize>(name: &str, file: &File<T>) {
    let path = dir().join(name);
    let tmp = dir().join(format!(".{name}.tmp"));
    let mut text = serde_json::to_string_pretty(file).unwrap();
    text.push('\n');
    fs::write(&tmp, text).unwrap();
    fs::rename(&tmp, &path).unwrap();
}

fn h(bytes: impl AsRef<[u8]>) -> String {
    hex::encode(bytes)
}

fn unh(s: &str) -> Vec<u8> {
    hex::decode(s).unwrap()
}

fn unh32(s: &str) -> [u8; 32] {
    unh(s).try_into().unwrap()
}

fn seed(s: &str) -> Seed {
    Seed::from_bytes(unh32(s))
}

fn blake2b_32(key: &str, parts: &[&[u8]]) -> [u8; 32] {
    let mut m = <Blake2bMac<U32> as KeyInit>::new_from_slice(key.as_bytes()).unwrap();
    for p in parts {
        m.update(p);
    }
    m.finalize_fixed().into()
}

fn blake2b_56(key: &str, parts: &[&[u8]]) -> [u8; 56] {
    let mut m = <Blake2bMac<U56> as KeyInit>::new_from_slice(key.as_bytes()).unwrap();
    for p in parts {
        m.update(p);
    }
    m.finalize_fixed().into()
}

fn labelled(label: &str, data: &[u8]) -> Vec<u8> {
    let mut m = vec![u8::try_from(label.len()).unwrap()];
    m.extend_from_slice(label.as_bytes());
    m.extend_from_slice(data);
    m
}

// ---------------------------------------------------------------------------
// Inputs
// ---------------------------------------------------------------------------

const IDENTITY_SEEDS: &[&str] = &[
    "0000000000000000000000000000000000000000000000000000000000000000",
    "7f7f7f7f7f7f7f7f7f7f7f7f7f7f7f7f7f7f7f7f7f7f7f7f7f7f7f7f7f7f7f7f",
    "68a79eaca2324873eacc50cb9c6eca8cc68ea5d936f98787c60c7ebc74e6ce7c",
    "9d61b19deffd5a60ba844af492ec2cc44449c5697b326919703bac031cae7f60",
    "000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f",
    "ffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff",
];

const SENDER_SEED: &str = "a1a1a1a1a1a1a1a1a1a1a1a1a1a1a1a1a1a1a1a1a1a1a1a1a1a1a1a1a1a1a1a1";
const RECIPIENT_SEED: &str = "b2b2b2b2b2b2b2b2b2b2b2b2b2b2b2b2b2b2b2b2b2b2b2b2b2b2b2b2b2b2b2b2";
const SENT_AT_MS: u64 = 1_700_000_000_000;

/// (name, text, ephemeral secret byte) for the envelope cases.
fn envelope_inputs() -> Vec<(String, String, u8)> {
    // Find text lengths whose protobuf encoding is exactly 255 bytes (fills
    // the 256 bucket with its 0x80 marker) and 256 bytes (crosses into 512).
    let len_for = |target: usize| {
        (0..400)
            .find(|&n| encoded_len(&"b".repeat(n)) == target)
            .unwrap()
    };
    vec![
        ("empty".into(), String::new(), 0x01),
        ("short-utf8".into(), "héllo, nightjar 🐦".into(), 0x02),
        ("fills-256-bucket".into(), "b".repeat(len_for(255)), 0x03),
        (
            "crosses-into-512-bucket".into(),
            "b".repeat(len_for(256)),
            0x04,
        ),
        (
            "multi-kilobyte-8192-bucket".into(),
            "The quick brown fox jumps over the lazy dog. ".repeat(120),
            0x05,
        ),
    ]
}

fn content(text: &str) -> Content {
    Content {
        text: text.to_owned(),
        sent_at_ms: SENT_AT_MS,
    }
}

fn encoded_len(text: &str) -> usize {
    prost::Message::encode_to_vec(&content(text)).len()
}

// ---------------------------------------------------------------------------
// Generation
// ---------------------------------------------------------------------------

fn gen_identity() -> File<IdentityCase> {
    let cases = IDENTITY_SEEDS
        .iter()
        .map(|s| {
            let id = Identity::from_seed(seed(s));
            let x_secret = {
                // SHA-512(seed)[0..32], clamped.
                let mut b =
                    ed25519_dalek::SigningKey::from_bytes(id.seed().as_bytes()).to_scalar_bytes();
                b[0] &= 248;
                b[31] &= 127;
                b[31] |= 64;
                b
            };
            IdentityCase {
                seed: s.to_string(),
                mnemonic: id.mnemonic().as_str().to_owned(),
                ed25519_public: id.public_key().to_hex(),
                x25519_secret: h(x_secret),
                x25519_public: h(id.x25519_public()),
                account_id: id.account_id().to_string(),
                pkcs8_der: h(&*id.pkcs8_der()),
            }
        })
        .collect();
    File {
        description: "Identities. seed = BIP39 entropy (no PBKDF2); ed25519_public = \
                      crypto_sign_seed_keypair(seed).pk; x25519_secret = \
                      crypto_sign_ed25519_sk_to_curve25519(sk) (clamped SHA-512(seed)[0..32]); \
                      x25519_public = crypto_sign_ed25519_pk_to_curve25519(pk) = \
                      crypto_scalarmult_base(x25519_secret); account_id = bech32m('nj', pk); \
                      pkcs8_der = RFC 8410 PKCS#8 v1."
            .into(),
        cases,
    }
}

fn gen_labelled() -> File<LabelledSigCase> {
    let inputs: &[(&str, &str, &[u8])] = &[
        (IDENTITY_SEEDS[3], "a", b""),
        (IDENTITY_SEEDS[4], "nightjar/v1/test", b"hello world"),
        (SENDER_SEED, labels::ENVELOPE_SIG, &[0u8, 1, 2, 3, 255]),
        (
            RECIPIENT_SEED,
            "0123456789012345678901234567890123456789012345678901234567890123",
            b"sixty-four byte label",
        ),
    ];
    let cases = inputs
        .iter()
        .map(|(s, label, data)| {
            let id = Identity::from_seed(seed(s));
            LabelledSigCase {
                seed: s.to_string(),
                ed25519_public: id.public_key().to_hex(),
                label: label.to_string(),
                data: h(data),
                signed_message: h(labelled(label, data)),
                signature: h(id.sign_labelled(label, data)),
            }
        })
        .collect();
    File {
        description: "Labelled signatures: signature = Ed25519(sk, signed_message) with \
                      signed_message = [len(label)] || label || data."
            .into(),
        cases,
    }
}

fn gen_message_hash() -> File<MessageHashCase> {
    let inputs: &[(&str, u16, &[u8])] = &[
        (IDENTITY_SEEDS[3], 0, b""),
        (IDENTITY_SEEDS[4], 1, b"hello"),
        (SENDER_SEED, 0xfffe, &[0xab; 300]),
    ];
    let cases = inputs
        .iter()
        .map(|(s, ns, data)| {
            let pk = Identity::from_seed(seed(s)).public_key();
            MessageHashCase {
                account: pk.to_hex(),
                namespace: *ns,
                data: h(data),
                hash: h(message_hash(&pk, *ns, data)),
            }
        })
        .collect();
    File {
        description: "message_hash = BLAKE2b(outlen 32, key 'nightjar/v1/message-hash', \
                      account || namespace (u16 BE) || data)."
            .into(),
        cases,
    }
}

fn gen_envelope() -> File<EnvelopeCase> {
    let sender = Identity::from_seed(seed(SENDER_SEED));
    let recipient = Identity::from_seed(seed(RECIPIENT_SEED));
    let a = sender.public_key().to_bytes();
    let r = recipient.public_key().to_bytes();
    let cases = envelope_inputs()
        .into_iter()
        .map(|(name, text, eph_byte)| {
            let c = content(&text);
            let proto = prost::Message::encode_to_vec(&c);
            let padded = envelope::pad(&proto).unwrap();
            let mut signed_data = padded.clone();
            signed_data.extend_from_slice(&a);
            signed_data.extend_from_slice(&r);
            let signed_message = labelled(labels::ENVELOPE_SIG, &signed_data);
            let signature = sender.sign_labelled(labels::ENVELOPE_SIG, &signed_data);

            let e = [eph_byte.wrapping_mul(0x11) ^ 0x5a; 32];
            let e_pub = x25519_dalek::x25519(e, x25519_dalek::X25519_BASEPOINT_BYTES);
            let y = recipient.public_key().x25519();
            let s = x25519_dalek::x25519(e, y);
            let hk = blake2b_56(labels::ENVELOPE_KEY, &[&s, &e_pub, &y]);

            let env =
                envelope::seal_with_ephemeral(&sender, &recipient.public_key(), &c, &e).unwrap();
            EnvelopeCase {
                name,
                sender_seed: SENDER_SEED.into(),
                recipient_seed: RECIPIENT_SEED.into(),
                sender_ed25519_public: h(a),
                recipient_ed25519_public: h(r),
                ephemeral_secret: h(e),
                text,
                sent_at_ms: SENT_AT_MS,
                content_protobuf: h(&proto),
                padded: h(&padded),
                signed_message: h(&signed_message),
                signature: h(signature),
                ephemeral_public: h(e_pub),
                recipient_x25519_public: h(y),
                shared_secret: h(s),
                aead_key: h(&hk[..32]),
                aead_nonce: h(&hk[32..]),
                envelope: h(&env),
            }
        })
        .collect();
    File {
        description: "Envelope v1. M = pad(protobuf(Content)); signed_message = [24] || \
                      'nightjar/v1/envelope-sig' || M || A || R; P = A || SIG || M; \
                      E = X25519(e, 9); S = X25519(e, Y); h = BLAKE2b(outlen 56, key \
                      'nightjar/v1/envelope-key', S || E || Y); envelope = 0x01 || E || \
                      XChaCha20-Poly1305-IETF(h[0..32], h[32..56], P, aad = 0x01 || E)."
            .into(),
        cases,
    }
}

fn gen_keyfile() -> File<KeyfileCase> {
    let inputs: &[(&str, Option<&str>, u8)] = &[
        (IDENTITY_SEEDS[2], None, 0x10),
        (
            IDENTITY_SEEDS[4],
            Some("correct horse battery staple"),
            0x20,
        ),
        (SENDER_SEED, Some("pässwörd 🔑"), 0x30),
    ];
    let cases = inputs
        .iter()
        .map(|(s, pw, b)| {
            let salt = [*b; 16];
            let nonce = [b.wrapping_add(1); 24];
            let sd = seed(s);
            let blob = at_rest::seal_seed_with(&sd, pw.map(str::as_bytes), &salt, &nonce).unwrap();
            let (kdf, m_kib, t, p, key) = match pw {
                None => (0, 0, 0, 0, blake2b_32(labels::KEYFILE_NOPASS, &[&salt])),
                Some(pw) => {
                    let params = argon2::Params::new(19_456, 2, 1, Some(32)).unwrap();
                    let a = argon2::Argon2::new(
                        argon2::Algorithm::Argon2id,
                        argon2::Version::V0x13,
                        params,
                    );
                    let mut k = [0u8; 32];
                    a.hash_password_into(pw.as_bytes(), &salt, &mut k).unwrap();
                    (1, 19_456, 2, 1, k)
                }
            };
            KeyfileCase {
                seed: s.to_string(),
                passphrase: pw.map(str::to_owned),
                salt: h(salt),
                nonce: h(nonce),
                kdf,
                m_kib,
                t,
                p,
                key: h(key),
                keyfile: h(&blob),
            }
        })
        .collect();
    File {
        description: "Key files (102 bytes): 0x01 || kdf || salt(16) || m_kib(u32 BE) || \
                      t(u32 BE) || p(u32 BE) || nonce(24) || XChaCha20-Poly1305-IETF(key, nonce, \
                      seed, aad = the 54 preceding bytes). kdf 0: key = BLAKE2b(outlen 32, key \
                      'nightjar/v1/keyfile-nopass', salt). kdf 1: key = Argon2id v1.3(passphrase \
                      UTF-8, salt, m_kib, t, p = 1, 32 bytes)."
            .into(),
        cases,
    }
}

fn gen_local_store() -> File<LocalStoreCase> {
    let inputs: &[(&str, &[u8], &[u8], u8)] = &[
        (IDENTITY_SEEDS[2], b"", b"", 0x01),
        (
            IDENTITY_SEEDS[4],
            b"messages/42",
            b"a stored message body",
            0x02,
        ),
        (SENDER_SEED, b"contacts", &[0x00; 100], 0x03),
    ];
    let cases = inputs
        .iter()
        .map(|(s, aad, pt, b)| {
            let sd = seed(s);
            let nonce = [*b; 24];
            let blob = LocalCipher::from_seed(&sd)
                .encrypt_with_nonce(&nonce, aad, pt)
                .unwrap();
            LocalStoreCase {
                seed: s.to_string(),
                key: h(blake2b_32(labels::LOCAL_STORE, &[sd.as_bytes()])),
                nonce: h(nonce),
                aad: h(aad),
                plaintext: h(pt),
                blob: h(&blob),
            }
        })
        .collect();
    File {
        description: "Local store: key = BLAKE2b(outlen 32, key 'nightjar/v1/local-store', seed); \
                      blob = nonce(24) || XChaCha20-Poly1305-IETF(key, nonce, plaintext, aad)."
            .into(),
        cases,
    }
}

#[test]
fn regenerate_vectors() {
    if std::env::var("NIGHTJAR_REGEN_VECTORS").as_deref() != Ok("1") {
        eprintln!("skipping: set NIGHTJAR_REGEN_VECTORS=1 to rewrite test-vectors/");
        return;
    }
    fs::create_dir_all(dir()).unwrap();
    write("identity.json", &gen_identity());
    write("labelled_signature.json", &gen_labelled());
    write("message_hash.json", &gen_message_hash());
    write("envelope.json", &gen_envelope());
    write("keyfile.json", &gen_keyfile());
    write("local_store.json", &gen_local_store());
    let mut words = bip39::Language::English.word_list().join("\n");
    words.push('\n');
    fs::write(dir().join("bip39-english.txt"), words).unwrap();
}

// ---------------------------------------------------------------------------
// Replay (always runs)
// ---------------------------------------------------------------------------

#[test]
fn identity_vectors_replay() {
    let file: File<IdentityCase> = read("identity.json");
    assert!(file.cases.len() >= 3);
    for c in &file.cases {
        let id = Identity::from_seed(seed(&c.seed));
        assert_eq!(id.mnemonic().as_str(), c.mnemonic);
        assert_eq!(id.public_key().to_hex(), c.ed25519_public);
        assert_eq!(h(id.x25519_public()), c.x25519_public);
        assert_eq!(h(id.public_key().x25519()), c.x25519_public);
        assert_eq!(
            h(x25519_dalek::x25519(
                unh32(&c.x25519_secret),
                x25519_dalek::X25519_BASEPOINT_BYTES
            )),
            c.x25519_public
        );
        assert_eq!(id.account_id().to_string(), c.account_id);
        assert_eq!(h(&*id.pkcs8_der()), c.pkcs8_der);

        let restored = Identity::from_mnemonic(&c.mnemonic).unwrap();
        assert_eq!(h(restored.seed().as_bytes()), c.seed);
        let parsed: AccountId = c.account_id.parse().unwrap();
        assert_eq!(parsed.public_key().to_hex(), c.ed25519_public);
    }
}

#[test]
fn labelled_signature_vectors_replay() {
    let file: File<LabelledSigCase> = read("labelled_signature.json");
    for c in &file.cases {
        let id = Identity::from_seed(seed(&c.seed));
        let data = unh(&c.data);
        assert_eq!(id.public_key().to_hex(), c.ed25519_public);
        assert_eq!(h(labelled(&c.label, &data)), c.signed_message);
        assert_eq!(h(id.sign_labelled(&c.label, &data)), c.signature);
        let pk = PublicKey::from_slice(&unh(&c.ed25519_public)).unwrap();
        pk.verify_labelled(&c.label, &data, &unh(&c.signature))
            .unwrap();
    }
}

#[test]
fn message_hash_vectors_replay() {
    let file: File<MessageHashCase> = read("message_hash.json");
    for c in &file.cases {
        let pk = PublicKey::from_slice(&unh(&c.account)).unwrap();
        assert_eq!(h(message_hash(&pk, c.namespace, &unh(&c.data))), c.hash);
    }
}

#[test]
fn envelope_vectors_replay() {
    let file: File<EnvelopeCase> = read("envelope.json");
    assert!(file.cases.len() >= 3);
    let mut sizes = std::collections::BTreeSet::new();
    for c in &file.cases {
        let sender = Identity::from_seed(seed(&c.sender_seed));
        let recipient = Identity::from_seed(seed(&c.recipient_seed));
        let content = Content {
            text: c.text.clone(),
            sent_at_ms: c.sent_at_ms,
        };
        let proto = prost::Message::encode_to_vec(&content);
        assert_eq!(h(&proto), c.content_protobuf, "{}", c.name);
        let padded = envelope::pad(&proto).unwrap();
        assert_eq!(h(&padded), c.padded, "{}", c.name);
        sizes.insert(padded.len());

        let mut signed_data = padded.clone();
        signed_data.extend_from_slice(&sender.public_key().to_bytes());
        signed_data.extend_from_slice(&recipient.public_key().to_bytes());
        assert_eq!(
            h(labelled(labels::ENVELOPE_SIG, &signed_data)),
            c.signed_message
        );
        assert_eq!(
            h(sender.sign_labelled(labels::ENVELOPE_SIG, &signed_data)),
            c.signature
        );

        let e = unh32(&c.ephemeral_secret);
        let env =
            envelope::seal_with_ephemeral(&sender, &recipient.public_key(), &content, &e).unwrap();
        assert_eq!(h(&env), c.envelope, "{}", c.name);
        assert_eq!(env.len(), padded.len() + envelope::ENVELOPE_OVERHEAD);
        assert_eq!(h(&env[1..33]), c.ephemeral_public);

        let opened = envelope::open(&recipient, &unh(&c.envelope)).unwrap();
        assert_eq!(opened.sender, sender.account_id());
        assert_eq!(opened.content, content);
    }
    assert!(
        sizes.len() >= 3,
        "envelope vectors should span several buckets"
    );
    assert!(sizes.contains(&256) && sizes.contains(&512));
}

#[test]
fn keyfile_vectors_replay() {
    let file: File<KeyfileCase> = read("keyfile.json");
    assert!(file.cases.iter().any(|c| c.kdf == 0));
    assert!(file.cases.iter().any(|c| c.kdf == 1));
    for c in &file.cases {
        let sd = seed(&c.seed);
        let pw = c.passphrase.as_deref().map(str::as_bytes);
        let blob = at_rest::seal_seed_with(
            &sd,
            pw,
            &unh(&c.salt).try_into().unwrap(),
            &unh(&c.nonce).try_into().unwrap(),
        )
        .unwrap();
        assert_eq!(h(&blob), c.keyfile);
        assert_eq!(blob.len(), 102);
        assert_eq!(
            at_rest::keyfile_needs_passphrase(&blob).unwrap(),
            c.kdf == 1
        );
        let opened = at_rest::open_seed(&unh(&c.keyfile), pw).unwrap();
        assert_eq!(h(opened.as_bytes()), c.seed);
    }
}

#[test]
fn local_store_vectors_replay() {
    let file: File<LocalStoreCase> = read("local_store.json");
    for c in &file.cases {
        let sd = seed(&c.seed);
        assert_eq!(h(blake2b_32(labels::LOCAL_STORE, &[sd.as_bytes()])), c.key);
        let cipher = LocalCipher::from_seed(&sd);
        let nonce: [u8; 24] = unh(&c.nonce).try_into().unwrap();
        let blob = cipher
            .encrypt_with_nonce(&nonce, &unh(&c.aad), &unh(&c.plaintext))
            .unwrap();
        assert_eq!(h(&blob), c.blob);
        let pt = cipher.decrypt(&unh(&c.aad), &unh(&c.blob)).unwrap();
        assert_eq!(h(&*pt), c.plaintext);
    }
}
