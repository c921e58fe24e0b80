//! `test-vectors/published.json`: published records (`docs/PROTOCOL.md`
//! §5.12).
//!
//! The generator builds the signed data and message by hand and signs with
//! ed25519-dalek, and checks `nightjar_crypto::published::sign` against it;
//! the replay runs `published::sign`, `signed_data` and `verify` on the
//! file: every record verifies and gives its body, every refused one fails.

use nightjar_crypto::CryptoError;
use nightjar_crypto::identity::{Identity, PublicKey};
use nightjar_crypto::labels;
use nightjar_crypto::published;
use serde::{Deserialize, Serialize};

use super::{h, labelled, plus_l, seed, unh, unh32};

#[derive(Serialize, Deserialize)]
pub(crate) struct PublishedFile {
    description: String,
    cases: Vec<PublishedCase>,
    refused: Vec<RefusedRecord>,
}

#[derive(Serialize, Deserialize)]
struct PublishedCase {
    name: String,
    seed: String,
    /// The account's Ed25519 public key.
    account: String,
    namespace: u16,
    body: String,
    /// `account ‖ u16be(namespace) ‖ body`.
    signed_data: String,
    /// `[21] ‖ "nightjar/v1/published" ‖ signed_data`.
    signed_message: String,
    signature: String,
    /// `signature ‖ body`.
    record: String,
}

#[derive(Serialize, Deserialize)]
struct RefusedRecord {
    name: String,
    /// The account and namespace the record is checked under.
    account: String,
    namespace: u16,
    record: String,
}

const ALICE: &str = "c4c4c4c4c4c4c4c4c4c4c4c4c4c4c4c4c4c4c4c4c4c4c4c4c4c4c4c4c4c4c4c4";
const BOB: &str = "d5d5d5d5d5d5d5d5d5d5d5d5d5d5d5d5d5d5d5d5d5d5d5d5d5d5d5d5d5d5d5d5";

fn ed25519_sign(seed_hex: &str, msg: &[u8]) -> [u8; 64] {
    use ed25519_dalek::Signer;
    ed25519_dalek::SigningKey::from_bytes(&unh32(seed_hex))
        .sign(msg)
        .to_bytes()
}

fn public(seed_hex: &str) -> [u8; 32] {
    Identity::from_seed(seed(seed_hex)).public_key().to_bytes()
}

/// `sig ‖ body`, signed by `seed_hex` over `data` under `label` (or no
/// label).
fn record_over(seed_hex: &str, label: Option<&str>, data: &[u8], body: &[u8]) -> Vec<u8> {
    let msg = label.map_or_else(|| data.to_vec(), |l| labelled(l, data));
    [&ed25519_sign(seed_hex, &msg)[..], body].concat()
}

fn signed_data(account: &[u8; 32], namespace: u16, body: &[u8]) -> Vec<u8> {
    [&account[..], &namespace.to_be_bytes(), body].concat()
}

fn inputs() -> Vec<(&'static str, &'static str, u16, Vec<u8>)> {
    let prekey: Vec<u8> = (0..1_230u32).map(|i| (i * 13 % 256) as u8).collect();
    // DeviceList {format 1, version 1, devices [Device {device_id, identity_key,
    // mailbox 0x1000, name "phone"}]} (§16.2).
    let device = [
        &[0x0a, 0x10][..],
        &[0x11; 16],
        &[0x12, 0x20],
        &[0x22; 32],
        &[0x18, 0x80, 0x20],
        &[0x22, 0x05],
        b"phone",
    ]
    .concat();
    let device_list = [
        &[
            0x08,
            0x01,
            0x10,
            0x01,
            0x1a,
            u8::try_from(device.len()).unwrap(),
        ][..],
        &device,
    ]
    .concat();
    vec![
        (
            "an empty body, in the device-list namespace",
            ALICE,
            0xff00,
            vec![],
        ),
        (
            "a device-list body (one device, \"phone\", mailbox 0x1000)",
            ALICE,
            0xff00,
            device_list,
        ),
        (
            "a prekey-bundle-sized body in 0xFF01, another account",
            BOB,
            0xff01,
            prekey[..200].to_vec(),
        ),
        (
            "a one-time prekey-sized body (1,230 bytes) in 0xFF80",
            ALICE,
            0xff80,
            prekey,
        ),
        (
            "a short text in 0xFFFF, the last published namespace",
            BOB,
            0xffff,
            b"the last namespace".to_vec(),
        ),
    ]
}

pub(crate) fn gen_published() -> PublishedFile {
    let cases: Vec<PublishedCase> = inputs()
        .into_iter()
        .map(|(name, seed_hex, namespace, body)| {
            let account = public(seed_hex);
            let data = signed_data(&account, namespace, &body);
            let msg = labelled(labels::PUBLISHED, &data);
            let sig = ed25519_sign(seed_hex, &msg);
            let record = [&sig[..], &body].concat();
            let id = Identity::from_seed(seed(seed_hex));
            assert_eq!(published::sign(&id, namespace, &body), record, "{name}");
            PublishedCase {
                name: name.into(),
                seed: seed_hex.into(),
                account: h(account),
                namespace,
                body: h(&body),
                signed_data: h(&data),
                signed_message: h(&msg),
                signature: h(sig),
                record: h(&record),
            }
        })
        .collect();

    let alice = public(ALICE);
    let bob = public(BOB);
    let body = b"prekey".to_vec();
    let ns = 0xff80u16;
    let good = record_over(
        ALICE,
        Some(labels::PUBLISHED),
        &signed_data(&alice, ns, &body),
        &body,
    );
    let mut flipped_body = good.clone();
    *flipped_body.last_mut().unwrap() ^= 0x01;
    let mut flipped_r = good.clone();
    flipped_r[0] ^= 0x01;
    let mut s_plus_l = good.clone();
    let s = plus_l(&good[32..64]);
    s_plus_l[32..64].copy_from_slice(&s);
    let le_namespace = [&alice[..], &ns.to_le_bytes(), &body].concat();
    let refused = |name: &str, account: &[u8; 32], namespace: u16, record: &[u8]| RefusedRecord {
        name: name.into(),
        account: h(account),
        namespace,
        record: h(record),
    };
    let refused = vec![
        refused(
            "checked under another namespace (0xFF81)",
            &alice,
            0xff81,
            &good,
        ),
        refused("checked under another account", &bob, ns, &good),
        refused("a bit of the body flipped", &alice, ns, &flipped_body),
        refused("a bit of R flipped", &alice, ns, &flipped_r),
        refused(
            "a byte appended to the body",
            &alice,
            ns,
            &[&good[..], &[0]].concat(),
        ),
        refused(
            "the last byte of the body cut",
            &alice,
            ns,
            &good[..good.len() - 1],
        ),
        refused(
            "63 bytes (shorter than a signature)",
            &alice,
            ns,
            &good[..63],
        ),
        refused("empty", &alice, ns, &[]),
        refused("S + L in place of S (S >= L)", &alice, ns, &s_plus_l),
        refused(
            "signed by another account over this account's signed data",
            &alice,
            ns,
            &record_over(
                BOB,
                Some(labels::PUBLISHED),
                &signed_data(&alice, ns, &body),
                &body,
            ),
        ),
        refused(
            "signed under the label nightjar/v1/envelope-sig",
            &alice,
            ns,
            &record_over(
                ALICE,
                Some(labels::ENVELOPE_SIG),
                &signed_data(&alice, ns, &body),
                &body,
            ),
        ),
        refused(
            "signed without the label",
            &alice,
            ns,
            &record_over(ALICE, None, &signed_data(&alice, ns, &body), &body),
        ),
        refused(
            "the namespace signed little-endian",
            &alice,
            ns,
            &record_over(ALICE, Some(labels::PUBLISHED), &le_namespace, &body),
        ),
        refused(
            "the body alone signed (no account, no namespace)",
            &alice,
            ns,
            &record_over(ALICE, Some(labels::PUBLISHED), &body, &body),
        ),
    ];
    PublishedFile {
        description: "Published records (docs/PROTOCOL.md \u{a7}5.12): signed_data = account \
                      (32) || u16be(namespace) || body; signature = Ed25519(account's seed, [21] \
                      || 'nightjar/v1/published' || signed_data) (crypto_sign_detached); record = \
                      signature || body. refused: records that must not verify under account \
                      and namespace (crypto_sign_verify_detached refuses each; a record under 64 \
                      bytes has no signature)."
            .into(),
        cases,
        refused,
    }
}

pub(crate) fn render(file: &PublishedFile) -> String {
    let mut text = serde_json::to_string_pretty(file).unwrap();
    text.push('\n');
    text
}

pub(crate) fn replay(file: &PublishedFile) {
    assert!(file.cases.len() >= 4);
    assert!(file.cases.iter().any(|c| c.body.is_empty()));
    for c in &file.cases {
        let id = Identity::from_seed(seed(&c.seed));
        let account = PublicKey::from_bytes(&unh32(&c.account)).unwrap();
        assert_eq!(id.public_key(), account, "{}", c.name);
        let body = unh(&c.body);
        let data = published::signed_data(&account, c.namespace, &body);
        assert_eq!(h(&data), c.signed_data, "{}", c.name);
        assert_eq!(h(labelled(labels::PUBLISHED, &data)), c.signed_message);
        let record = published::sign(&id, c.namespace, &body);
        assert_eq!(h(&record), c.record, "{}", c.name);
        assert_eq!(h(&record[..64]), c.signature);
        assert_eq!(
            published::verify(&account, c.namespace, &unh(&c.record)).unwrap(),
            &body[..],
            "{}",
            c.name
        );
    }
    assert!(file.refused.len() >= 10);
    for r in &file.refused {
        let account = PublicKey::from_bytes(&unh32(&r.account)).unwrap();
        assert_eq!(
            published::verify(&account, r.namespace, &unh(&r.record)),
            Err(CryptoError::BadSignature),
            "{}",
            r.name
        );
    }
}
