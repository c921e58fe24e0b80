//! `test-vectors/envelope_v2.json`: envelopes version 2 and device
//! certificates (`docs/PROTOCOL.md` §16.4).
//!
//! The generator computes every value from the primitives (a protobuf
//! encoder written here, x25519-dalek, RustCrypto's BLAKE2b and
//! XChaCha20-Poly1305, ed25519-dalek) and checks it against
//! `nightjar_crypto::sealed_sender` (`seal_v2_with_ephemeral`, `open_v2`,
//! `sign_device_certificate`, `verify_device_certificate`); the replay runs
//! those functions on the file's inputs and compares every byte, opens
//! every refused envelope, which must fail with the recorded error, and
//! checks every certificate.

use nightjar_crypto::EnvelopeError;
use nightjar_crypto::dh::{DhPublic, DhSecret};
use nightjar_crypto::identity::{Identity, PublicKey};
use nightjar_crypto::labels;
use nightjar_crypto::sealed_sender::{
    self, DEVICE_CERT_LEN, DEVICE_ID_LEN, MAX_ENVELOPE_V2_LEN, Sealed,
};
use serde::{Deserialize, Serialize};
use sha2::Sha256;
use sha2::digest::{FixedOutput, Update};

use super::{
    blake2b_56, envelope_error_name, h, labelled, mixed_order_key, plus_l, seed, unh, unh32,
    xchacha_seal,
};

/// Values longer than this are given as their length and SHA-256 only.
const MAX_HEX_BYTES: usize = 8_192;

#[derive(Serialize, Deserialize)]
pub(crate) struct EnvelopeV2File {
    description: String,
    cases: Vec<EnvelopeV2Case>,
    certificates: Vec<CertificateCase>,
    refused: Vec<RefusedCase>,
    accepted: Vec<AcceptedCase>,
}

#[derive(Serialize, Deserialize)]
struct EnvelopeV2Case {
    name: String,
    sender_account_seed: String,
    /// The sender's account key (Ed25519).
    sender_account: String,
    sender_device: String,
    recipient_device: String,
    /// The sending device's X25519 identity secret and key (`IK_I`), which
    /// the certificate covers; null without a certificate.
    sender_identity_secret: Option<String>,
    sender_identity_key: Option<String>,
    /// `[23] ‖ "nightjar/v2/device-cert" ‖ sender_device ‖ sender_identity_key`.
    certificate_signed_message: Option<String>,
    device_certificate: Option<String>,
    /// The ratchet message (opaque here): byte `i` is `(31·i + pattern)
    /// mod 251`; null when longer than 8,192 bytes.
    message: Option<String>,
    message_pattern: u8,
    message_len: usize,
    /// `I`, the protobuf `Sealed`, null when longer than 8,192 bytes.
    sealed: Option<String>,
    sealed_len: usize,
    sealed_sha256: String,
    /// `P = I ‖ 0x80 ‖ 0x00…`, null when longer than 8,192 bytes.
    padded: Option<String>,
    padded_len: usize,
    padded_sha256: String,
    recipient_identity_secret: String,
    /// `Y`.
    recipient_identity_key: String,
    ephemeral_secret: String,
    /// `E = X25519(e, 9)`.
    ephemeral_public: String,
    /// `S = X25519(e, Y)`.
    shared_secret: String,
    /// `h = BLAKE2b-56(key = "nightjar/v2/envelope-key", S ‖ E ‖ Y)`.
    h: String,
    key: String,
    nonce: String,
    /// `[0x02] ‖ E`.
    aad: String,
    /// `[0x02] ‖ E ‖ ciphertext ‖ tag`, null when longer than 8,192 bytes.
    envelope: Option<String>,
    envelope_len: usize,
    envelope_sha256: String,
}

#[derive(Serialize, Deserialize)]
struct CertificateCase {
    name: String,
    account: String,
    device_id: String,
    identity_key: String,
    signed_message: String,
    certificate: String,
    valid: bool,
}

#[derive(Serialize, Deserialize)]
struct RefusedCase {
    name: String,
    recipient_identity_secret: String,
    envelope: String,
    /// When the AEAD layer is sound (the failure is inside): `P` less its
    /// trailing zero bytes, and `|P|`.
    padded_trimmed: Option<String>,
    padded_len: Option<usize>,
    /// The error of the first failing check: `truncated`,
    /// `unsupported_version`, `low_order_point`, `decrypt_failed`,
    /// `bad_padding`, `bad_content` or `invalid_sender_key`.
    error: String,
}

#[derive(Serialize, Deserialize)]
struct AcceptedCase {
    name: String,
    recipient_identity_secret: String,
    envelope: String,
    /// `P` less its trailing zero bytes, and `|P|`.
    padded_trimmed: String,
    padded_len: usize,
    sender_account: String,
    sender_device: String,
    recipient_device: String,
    device_certificate: Option<String>,
    message: String,
}

// ---------------------------------------------------------------------------
// Inputs
// ---------------------------------------------------------------------------

const ACCOUNT_SEED: &str = "5e5e5e5e5e5e5e5e5e5e5e5e5e5e5e5e5e5e5e5e5e5e5e5e5e5e5e5e5e5e5e5e";
const OTHER_ACCOUNT_SEED: &str = "6f6f6f6f6f6f6f6f6f6f6f6f6f6f6f6f6f6f6f6f6f6f6f6f6f6f6f6f6f6f6f6f";

fn bytes_from<const N: usize>(start: u8, step: u8) -> [u8; N] {
    core::array::from_fn(|i| start.wrapping_add(step.wrapping_mul(i as u8)))
}

/// `len` bytes of an opaque "ratchet message": byte `i` is `(31·i + start)
/// mod 251`.
fn message(len: usize, start: u8) -> Vec<u8> {
    (0..len)
        .map(|i| ((i * 31 + usize::from(start)) % 251) as u8)
        .collect()
}

struct Input {
    name: &'static str,
    sender_device: [u8; 16],
    recipient_device: [u8; 16],
    /// The sending device's identity secret, on a first message.
    sender_identity_secret: Option<[u8; 32]>,
    message_pattern: u8,
    message_len: usize,
    /// The expected `|I|` (checked, so that the bucket edges stay edges).
    sealed_len: usize,
    recipient_identity_secret: [u8; 32],
    ephemeral_secret: [u8; 32],
}

fn inputs() -> Vec<Input> {
    let sender_device = bytes_from(0xd0, 0x01);
    let recipient_device = bytes_from(0x30, 0x07);
    let recipient = bytes_from(0x21, 0x0d);
    vec![
        Input {
            name: "a first message (with the device certificate): the 1,024 bucket",
            sender_device,
            recipient_device,
            sender_identity_secret: Some(bytes_from(0x90, 0x03)),
            message_pattern: 1,
            message_len: 300,
            sealed_len: 439,
            recipient_identity_secret: recipient,
            ephemeral_secret: bytes_from(0x01, 0x02),
        },
        Input {
            name: "a ratchet message (no certificate): the 1,024 bucket",
            sender_device,
            recipient_device,
            sender_identity_secret: None,
            message_pattern: 2,
            message_len: 120,
            sealed_len: 192,
            recipient_identity_secret: recipient,
            ephemeral_secret: bytes_from(0x44, 0x05),
        },
        Input {
            name: "|I| = 1,023: P = I ‖ 0x80 fills the 1,024 bucket",
            sender_device,
            recipient_device,
            sender_identity_secret: None,
            message_pattern: 3,
            message_len: 950,
            sealed_len: 1_023,
            recipient_identity_secret: recipient,
            ephemeral_secret: bytes_from(0x7b, 0x0b),
        },
        Input {
            name: "|I| = 1,024: one byte more crosses into the 2,048 bucket",
            sender_device,
            recipient_device,
            sender_identity_secret: None,
            message_pattern: 4,
            message_len: 951,
            sealed_len: 1_024,
            recipient_identity_secret: recipient,
            ephemeral_secret: bytes_from(0x9c, 0x11),
        },
        Input {
            name: "a first message of an ordinary size (2,900 bytes, with the certificate): \
                   the 4,096 bucket, to another device",
            sender_device: bytes_from(0xe7, 0x13),
            recipient_device: bytes_from(0x5b, 0x29),
            sender_identity_secret: Some(bytes_from(0xa8, 0x2f)),
            message_pattern: 5,
            message_len: 2_900,
            sealed_len: 3_039,
            recipient_identity_secret: bytes_from(0x12, 0x35),
            ephemeral_secret: bytes_from(0xc6, 0x17),
        },
        Input {
            name: "|I| = 65,535: the largest that fits, in the 65,536 bucket (a 65,585-byte \
                   envelope; P and the envelope as length and SHA-256)",
            sender_device,
            recipient_device,
            sender_identity_secret: None,
            message_pattern: 6,
            message_len: 65_461,
            sealed_len: 65_535,
            recipient_identity_secret: recipient,
            ephemeral_secret: bytes_from(0x3d, 0x1f),
        },
    ]
}

// ---------------------------------------------------------------------------
// The construction, from the primitives
// ---------------------------------------------------------------------------

fn varint(mut n: usize) -> Vec<u8> {
    let mut out = Vec::new();
    while n >= 0x80 {
        out.push((n as u8 & 0x7f) | 0x80);
        n >>= 7;
    }
    out.push(n as u8);
    out
}

/// A length-delimited field, left out when empty (proto3 default).
fn field(tag: u8, bytes: &[u8]) -> Vec<u8> {
    if bytes.is_empty() {
        return Vec::new();
    }
    [&[tag << 3 | 2][..], &varint(bytes.len()), bytes].concat()
}

/// `Sealed`, fields in tag order, defaults omitted.
fn sealed_proto(
    account: &[u8],
    sender_device: &[u8],
    recipient_device: &[u8],
    certificate: &[u8],
    message: &[u8],
) -> Vec<u8> {
    [
        field(1, account),
        field(2, sender_device),
        field(3, recipient_device),
        field(4, certificate),
        field(5, message),
    ]
    .concat()
}

/// `I ‖ 0x80 ‖ 0x00…` up to `bucket`.
fn pad_to(inner: &[u8], bucket: usize) -> Vec<u8> {
    let mut p = inner.to_vec();
    p.push(0x80);
    assert!(p.len() <= bucket);
    p.resize(bucket, 0);
    p
}

fn bucket_of(len: usize) -> usize {
    (0..=6).map(|k| 1_024 << k).find(|&b| b > len).unwrap()
}

fn x25519_base(secret: &[u8; 32]) -> [u8; 32] {
    x25519_dalek::x25519(*secret, x25519_dalek::X25519_BASEPOINT_BYTES)
}

struct Sealing {
    e_pub: [u8; 32],
    shared: [u8; 32],
    h: [u8; 56],
    aad: Vec<u8>,
    envelope: Vec<u8>,
}

/// Steps 3–4: `[0x02] ‖ E ‖ AEAD(P)` to `y`.
fn seal_padded(y: &[u8; 32], e: &[u8; 32], p: &[u8]) -> Sealing {
    let e_pub = x25519_base(e);
    let shared = x25519_dalek::x25519(*e, *y);
    let h = blake2b_56(labels::ENVELOPE_V2_KEY, &[&shared, &e_pub, y]);
    let aad = [&[0x02u8][..], &e_pub].concat();
    let envelope = [aad.clone(), xchacha_seal(&h[..32], &h[32..], &aad, p)].concat();
    Sealing {
        e_pub,
        shared,
        h,
        aad,
        envelope,
    }
}

fn certificate_message(device_id: &[u8], identity_key: &[u8; 32]) -> Vec<u8> {
    labelled(labels::DEVICE_CERT, &[device_id, identity_key].concat())
}

/// Ed25519 of `msg` with the seed, through ed25519-dalek.
fn ed25519_sign(seed_hex: &str, msg: &[u8]) -> [u8; 64] {
    use ed25519_dalek::Signer;
    ed25519_dalek::SigningKey::from_bytes(&unh32(seed_hex))
        .sign(msg)
        .to_bytes()
}

fn sha256(bytes: &[u8]) -> String {
    let mut d = Sha256::default();
    d.update(bytes);
    h(d.finalize_fixed())
}

/// `P` less its trailing zero bytes.
fn trimmed(p: &[u8]) -> &[u8] {
    &p[..p.iter().rposition(|&b| b != 0).map_or(0, |i| i + 1)]
}

fn short_hex(bytes: &[u8]) -> Option<String> {
    (bytes.len() <= MAX_HEX_BYTES).then(|| h(bytes))
}

fn account() -> PublicKey {
    Identity::from_seed(seed(ACCOUNT_SEED)).public_key()
}

fn gen_case(input: &Input) -> EnvelopeV2Case {
    let account = account();
    let identity_key = input.sender_identity_secret.as_ref().map(x25519_base);
    let cert_message = identity_key.map(|k| certificate_message(&input.sender_device, &k));
    let cert = cert_message.as_ref().map(|m| ed25519_sign(ACCOUNT_SEED, m));
    let msg = message(input.message_len, input.message_pattern);
    let sealed = sealed_proto(
        account.as_bytes(),
        &input.sender_device,
        &input.recipient_device,
        cert.as_ref().map_or(&[][..], |c| &c[..]),
        &msg,
    );
    assert_eq!(sealed.len(), input.sealed_len, "{}", input.name);
    let p = pad_to(&sealed, bucket_of(sealed.len()));
    let y = x25519_base(&input.recipient_identity_secret);
    let s = seal_padded(&y, &input.ephemeral_secret, &p);

    // The crate makes the same bytes.
    if let (Some(secret), Some(cert)) = (input.sender_identity_secret, cert) {
        let id = Identity::from_seed(seed(ACCOUNT_SEED));
        let key = DhSecret::from_bytes(secret).public();
        assert_eq!(
            sealed_sender::sign_device_certificate(&id, &input.sender_device, &key),
            cert
        );
    }
    assert_eq!(
        sealed_sender::seal_v2_with_ephemeral(
            &DhPublic::from_bytes(y),
            &sealed_of(input, cert),
            &DhSecret::from_bytes(input.ephemeral_secret),
        )
        .unwrap(),
        s.envelope,
        "{}",
        input.name
    );

    EnvelopeV2Case {
        name: input.name.into(),
        sender_account_seed: ACCOUNT_SEED.into(),
        sender_account: h(account.as_bytes()),
        sender_device: h(input.sender_device),
        recipient_device: h(input.recipient_device),
        sender_identity_secret: input.sender_identity_secret.map(h),
        sender_identity_key: identity_key.map(h),
        certificate_signed_message: cert_message.map(h),
        device_certificate: cert.map(h),
        message: short_hex(&msg),
        message_pattern: input.message_pattern,
        message_len: msg.len(),
        sealed: short_hex(&sealed),
        sealed_len: sealed.len(),
        sealed_sha256: sha256(&sealed),
        padded: short_hex(&p),
        padded_len: p.len(),
        padded_sha256: sha256(&p),
        recipient_identity_secret: h(input.recipient_identity_secret),
        recipient_identity_key: h(y),
        ephemeral_secret: h(input.ephemeral_secret),
        ephemeral_public: h(s.e_pub),
        shared_secret: h(s.shared),
        h: h(s.h),
        key: h(&s.h[..32]),
        nonce: h(&s.h[32..]),
        aad: h(&s.aad),
        envelope: short_hex(&s.envelope),
        envelope_len: s.envelope.len(),
        envelope_sha256: sha256(&s.envelope),
    }
}

fn sealed_of(input: &Input, cert: Option<[u8; 64]>) -> Sealed {
    Sealed {
        sender_account: account(),
        sender_device: input.sender_device,
        recipient_device: input.recipient_device,
        device_certificate: cert,
        message: message(input.message_len, input.message_pattern),
    }
}

fn gen_certificates(cases: &[EnvelopeV2Case]) -> Vec<CertificateCase> {
    let mut out = Vec::new();
    let entry = |name: &str, account: &[u8], device: &[u8], key: &[u8], sig: &[u8], valid| {
        CertificateCase {
            name: name.into(),
            account: h(account),
            device_id: h(device),
            identity_key: h(key),
            signed_message: h(certificate_message(device, &key.try_into().unwrap())),
            certificate: h(sig),
            valid,
        }
    };
    for c in cases {
        if let (Some(key), Some(cert)) = (&c.sender_identity_key, &c.device_certificate) {
            out.push(entry(
                &format!("the certificate of '{}'", c.name),
                &unh(&c.sender_account),
                &unh(&c.sender_device),
                &unh(key),
                &unh(cert),
                true,
            ));
        }
    }
    let account = account();
    let other = Identity::from_seed(seed(OTHER_ACCOUNT_SEED)).public_key();
    let device: [u8; 16] = bytes_from(0xd0, 0x01);
    let key = x25519_base(&bytes_from(0x90, 0x03));
    let cert = ed25519_sign(ACCOUNT_SEED, &certificate_message(&device, &key));
    let mut other_device = device;
    other_device[15] ^= 0x01;
    let other_key = x25519_base(&bytes_from(0x91, 0x03));
    let mut s_plus_l = cert;
    s_plus_l[32..].copy_from_slice(&plus_l(&cert[32..]));
    let published_label = ed25519_sign(
        ACCOUNT_SEED,
        &labelled(labels::PUBLISHED, &[&device[..], &key].concat()),
    );
    let unlabelled = ed25519_sign(ACCOUNT_SEED, &[&device[..], &key].concat());
    let acct = account.as_bytes();
    out.extend([
        entry(
            "for another device ID",
            acct,
            &other_device,
            &key,
            &cert,
            false,
        ),
        entry(
            "for another identity key",
            acct,
            &device,
            &other_key,
            &cert,
            false,
        ),
        entry(
            "checked under another account",
            other.as_bytes(),
            &device,
            &key,
            &cert,
            false,
        ),
        entry(
            "S + L in place of S (not canonical)",
            acct,
            &device,
            &key,
            &s_plus_l,
            false,
        ),
        entry(
            "signed under the label nightjar/v1/published",
            acct,
            &device,
            &key,
            &published_label,
            false,
        ),
        entry(
            "signed without the label (device_id ‖ identity_key alone)",
            acct,
            &device,
            &key,
            &unlabelled,
            false,
        ),
    ]);
    out
}

/// (name, envelope, `P` if the AEAD layer is sound, error).
type Refusal = (String, Vec<u8>, Option<Vec<u8>>, &'static str);

/// (name, `P`, the certificate inside).
type Acceptance = (&'static str, Vec<u8>, Option<[u8; DEVICE_CERT_LEN]>);

fn gen_refused(first: &Input) -> (Vec<RefusedCase>, Vec<AcceptedCase>) {
    let secret = first.recipient_identity_secret;
    let y = x25519_base(&secret);
    let e = bytes_from(0x6b, 0x01);
    let account = account();
    let acct = account.as_bytes();
    let (sd, rd) = (&first.sender_device[..], &first.recipient_device[..]);
    let msg = message(120, 7);
    let good_inner = sealed_proto(acct, sd, rd, &[], &msg);
    let good = seal_padded(&y, &e, &pad_to(&good_inner, 1_024)).envelope;

    let mut refused: Vec<Refusal> = Vec::new();
    let mut raw = |name: &str, env: Vec<u8>, error: &'static str| {
        refused.push((name.into(), env, None, error));
    };
    raw("empty (0 bytes)", vec![], "truncated");
    raw("one byte, version 2", vec![0x02], "truncated");
    raw("one byte, version 1", vec![0x01], "unsupported_version");
    let with_version = |v: u8| {
        let mut env = good.clone();
        env[0] = v;
        env
    };
    raw(
        "a whole envelope with version 1",
        with_version(0x01),
        "unsupported_version",
    );
    raw(
        "a whole envelope with version 3",
        with_version(0x03),
        "unsupported_version",
    );
    raw(
        "49 bytes: version, E and a tag, no P",
        [&good[..33], &good[good.len() - 16..]].concat(),
        "truncated",
    );
    raw(
        "one byte short (P of 1,023 bytes)",
        good[..good.len() - 1].to_vec(),
        "truncated",
    );
    raw(
        "one byte too many (P of 1,025 bytes)",
        [&good[..], &[0]].concat(),
        "truncated",
    );
    raw(
        "P of 1,536 bytes (between two buckets)",
        [&good[..], &[0; 512]].concat(),
        "truncated",
    );
    for (name, u) in [
        ("E = 0 (a low-order point)", [0u8; 32]),
        ("E = 1 (a low-order point)", {
            let mut one = [0u8; 32];
            one[0] = 1;
            one
        }),
        (
            "E = a point of order 8",
            unh32("e0eb7a7c3b41b8ae1656e3faf19fc46ada098deb9c32b1fd866205165f49b800"),
        ),
    ] {
        let mut env = good.clone();
        env[1..33].copy_from_slice(&u);
        raw(name, env, "low_order_point");
    }
    let other_device = x25519_base(&bytes_from(0x22, 0x0d));
    raw(
        "sealed to another device's identity key",
        seal_padded(&other_device, &e, &pad_to(&good_inner, 1_024)).envelope,
        "decrypt_failed",
    );
    let flip = |at: usize| {
        let mut env = good.clone();
        env[at] ^= 0x01;
        env
    };
    raw(
        "a bit of the tag flipped",
        flip(good.len() - 1),
        "decrypt_failed",
    );
    raw(
        "a bit of the ciphertext flipped",
        flip(33 + 100),
        "decrypt_failed",
    );
    raw("a bit of E flipped", flip(5), "decrypt_failed");
    {
        // The same P sealed under v1's label: only the key derivation differs.
        let e_pub = x25519_base(&e);
        let s = x25519_dalek::x25519(e, y);
        let hk = blake2b_56(labels::ENVELOPE_KEY, &[&s, &e_pub, &y]);
        let aad = [&[0x02u8][..], &e_pub].concat();
        let p = pad_to(&good_inner, 1_024);
        raw(
            "key and nonce derived under v1's label nightjar/v1/envelope-key",
            [aad.clone(), xchacha_seal(&hk[..32], &hk[32..], &aad, &p)].concat(),
            "decrypt_failed",
        );
    }

    // Sound AEAD layer, bad inside.
    let mut inside: Vec<(&str, Vec<u8>, &'static str)> = Vec::new();
    let mut p_0x81 = vec![0u8; 1_024];
    p_0x81[..good_inner.len()].copy_from_slice(&good_inner);
    p_0x81[good_inner.len()] = 0x81;
    let mut p_after = pad_to(&good_inner, 1_024);
    p_after[good_inner.len() + 1] = 0x01;
    inside.extend([
        (
            "padding: P is 1,024 zero bytes",
            vec![0u8; 1_024],
            "bad_padding",
        ),
        (
            "padding: the last non-zero byte of P is 0x81",
            p_0x81,
            "bad_padding",
        ),
        ("padding: a 0x01 after the 0x80", p_after, "bad_padding"),
    ]);
    let small = [1u8; 1]
        .iter()
        .copied()
        .chain([0u8; 31])
        .collect::<Vec<_>>();
    let content: Vec<(&str, Vec<u8>, &'static str)> = vec![
        (
            "content: not a protobuf (field 1 announces 32 bytes, 3 follow)",
            [&[0x0au8, 0x20][..], &acct[..3]].concat(),
            "bad_content",
        ),
        (
            "content: field 1 (sender_account) sent as a varint",
            [&[0x08u8, 0x01][..], &good_inner].concat(),
            "bad_content",
        ),
        (
            "content: field number 0",
            [&[0x02u8, 0x00][..], &good_inner].concat(),
            "bad_content",
        ),
        (
            "content: sender_account of 31 bytes",
            sealed_proto(&acct[..31], sd, rd, &[], &msg),
            "bad_content",
        ),
        (
            "content: no sender_account",
            sealed_proto(&[], sd, rd, &[], &msg),
            "bad_content",
        ),
        (
            "content: sender_device of 15 bytes",
            sealed_proto(acct, &sd[..15], rd, &[], &msg),
            "bad_content",
        ),
        (
            "content: recipient_device of 17 bytes",
            sealed_proto(acct, sd, &[rd, &[0]].concat(), &[], &msg),
            "bad_content",
        ),
        (
            "content: device_certificate of 63 bytes",
            sealed_proto(acct, sd, rd, &[0x44; 63], &msg),
            "bad_content",
        ),
        (
            "content: no message",
            sealed_proto(acct, sd, rd, &[], &[]),
            "bad_content",
        ),
        (
            "content: a sender_account of small order and a sender_device of 15 bytes \
             (the length is checked first)",
            sealed_proto(&small, &sd[..15], rd, &[], &msg),
            "bad_content",
        ),
        (
            "content: a sender_account of small order and no message (the message is \
             checked first)",
            sealed_proto(&small, sd, rd, &[], &[]),
            "bad_content",
        ),
        (
            "sender key: the identity point (small order)",
            sealed_proto(&small, sd, rd, &[], &msg),
            "invalid_sender_key",
        ),
        (
            "sender key: y = p + 1, a non-canonical encoding of the identity",
            sealed_proto(
                &unh("eeffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff7f"),
                sd,
                rd,
                &[],
                &msg,
            ),
            "invalid_sender_key",
        ),
        (
            "sender key: y = 2, not on the curve",
            sealed_proto(
                &unh("0200000000000000000000000000000000000000000000000000000000000000"),
                sd,
                rd,
                &[],
                &msg,
            ),
            "invalid_sender_key",
        ),
        (
            "sender key: of mixed order (RFC 8032 test 1 key plus a point of order 8)",
            sealed_proto(&mixed_order_key(1), sd, rd, &[], &msg),
            "invalid_sender_key",
        ),
    ];
    for (name, inner, error) in content {
        inside.push((name, pad_to(&inner, bucket_of(inner.len())), error));
    }
    for (name, p, error) in inside {
        refused.push((
            name.into(),
            seal_padded(&y, &e, &p).envelope,
            Some(p),
            error,
        ));
    }

    // Accepted although no writer makes them.
    let mut unknown_field = good_inner.clone();
    unknown_field.extend_from_slice(&[0x32, 0x03, b'n', b'e', b'w']);
    let cert = [0x44u8; DEVICE_CERT_LEN];
    let explicit_empty_cert = [
        field(1, acct),
        field(2, sd),
        field(3, rd),
        vec![0x22, 0x00],
        field(5, &msg),
    ]
    .concat();
    let accepted_inputs: Vec<Acceptance> = vec![
        (
            "P in the 2,048 bucket although I fits in 1,024",
            pad_to(&good_inner, 2_048),
            None,
        ),
        (
            "an unknown field 6 after the message (skipped)",
            pad_to(&unknown_field, 1_024),
            None,
        ),
        (
            "device_certificate present with length 0 (read as absent)",
            pad_to(&explicit_empty_cert, 1_024),
            None,
        ),
        (
            "a certificate that is not checked here (64 bytes of 0x44)",
            pad_to(&sealed_proto(acct, sd, rd, &cert, &msg), 1_024),
            Some(cert),
        ),
    ];
    let accepted = accepted_inputs
        .into_iter()
        .map(|(name, p, cert)| AcceptedCase {
            name: name.into(),
            recipient_identity_secret: h(secret),
            envelope: h(seal_padded(&y, &e, &p).envelope),
            padded_trimmed: h(trimmed(&p)),
            padded_len: p.len(),
            sender_account: h(acct),
            sender_device: h(sd),
            recipient_device: h(rd),
            device_certificate: cert.map(h),
            message: h(&msg),
        })
        .collect();
    let refused = refused
        .into_iter()
        .map(|(name, env, p, error)| RefusedCase {
            name,
            recipient_identity_secret: h(secret),
            envelope: h(&env),
            padded_trimmed: p.as_deref().map(|p| h(trimmed(p))),
            padded_len: p.as_ref().map(Vec::len),
            error: error.into(),
        })
        .collect();
    (refused, accepted)
}

pub(crate) fn gen_envelope_v2() -> EnvelopeV2File {
    let inputs = inputs();
    let cases: Vec<EnvelopeV2Case> = inputs.iter().map(gen_case).collect();
    let certificates = gen_certificates(&cases);
    let (refused, accepted) = gen_refused(&inputs[1]);
    EnvelopeV2File {
        description: "Envelopes version 2 (docs/PROTOCOL.md \u{a7}16.4). I = protobuf Sealed \
                      {bytes sender_account = 1; bytes sender_device = 2; bytes \
                      recipient_device = 3; bytes device_certificate = 4; bytes message = 5} \
                      (fields in tag order, empty ones left out); P = I || 0x80 || 0x00... up to \
                      the smallest 1024 * 2^k (k = 0..6) longer than I; E = \
                      crypto_scalarmult_base(e); S = crypto_scalarmult(e, Y); h = \
                      crypto_generichash(56, S || E || Y, key 'nightjar/v2/envelope-key'); key = \
                      h[0..32], nonce = h[32..56]; envelope = 0x02 || E || \
                      xchacha20poly1305_ietf(P, aad 0x02 || E, nonce, key). Values over 8192 \
                      bytes are given as length and SHA-256 only; message byte i = (31 i + \
                      message_pattern) mod 251. device_certificate = \
                      Ed25519(account, [23] || 'nightjar/v2/device-cert' || device_id (16) || \
                      identity_key (32)); certificates: which verify strictly (valid). \
                      refused: envelopes that do not open with recipient_identity_secret, each \
                      with the error of the first failing check (where the AEAD layer is \
                      sound, sealed with e = 6b6c6d..: padded_trimmed = P less its trailing \
                      zero bytes, and padded_len); accepted: envelopes no writer \
                      makes that open all the same."
            .into(),
        cases,
        certificates,
        refused,
        accepted,
    }
}

pub(crate) fn render(file: &EnvelopeV2File) -> String {
    let mut text = serde_json::to_string_pretty(file).unwrap();
    text.push('\n');
    text
}

fn fixed<const N: usize>(s: &str) -> [u8; N] {
    unh(s).try_into().unwrap()
}

fn check_opened(opened: &Sealed, c: &AcceptedCase) {
    assert_eq!(h(opened.sender_account.as_bytes()), c.sender_account);
    assert_eq!(h(opened.sender_device), c.sender_device);
    assert_eq!(h(opened.recipient_device), c.recipient_device);
    assert_eq!(opened.device_certificate.map(h), c.device_certificate);
    assert_eq!(h(&opened.message), c.message);
}

pub(crate) fn replay(file: &EnvelopeV2File) {
    let mut buckets = std::collections::BTreeSet::new();
    assert!(file.cases.iter().any(|c| c.device_certificate.is_some()));
    assert!(file.cases.iter().any(|c| c.device_certificate.is_none()));
    for c in &file.cases {
        let account = Identity::from_seed(seed(&c.sender_account_seed));
        assert_eq!(h(account.public_key().as_bytes()), c.sender_account);
        let sender_device: [u8; DEVICE_ID_LEN] = fixed(&c.sender_device);
        let cert = match (&c.sender_identity_secret, &c.device_certificate) {
            (Some(secret), Some(cert)) => {
                let key = DhSecret::from_bytes(unh32(secret)).public();
                assert_eq!(Some(h(key.as_bytes())), c.sender_identity_key);
                let made = sealed_sender::sign_device_certificate(&account, &sender_device, &key);
                assert_eq!(h(made), *cert, "{}", c.name);
                assert_eq!(
                    Some(h(labelled(
                        labels::DEVICE_CERT,
                        &[&sender_device[..], key.as_bytes()].concat()
                    ))),
                    c.certificate_signed_message
                );
                sealed_sender::verify_device_certificate(
                    &account.public_key(),
                    &sender_device,
                    &key,
                    &made,
                )
                .unwrap();
                Some(made)
            }
            (None, None) => None,
            _ => panic!("{}: a certificate needs its identity secret", c.name),
        };
        let sealed = Sealed {
            sender_account: account.public_key(),
            sender_device,
            recipient_device: fixed(&c.recipient_device),
            device_certificate: cert,
            message: message(c.message_len, c.message_pattern),
        };
        if let Some(m) = &c.message {
            assert_eq!(h(&sealed.message), *m, "{}", c.name);
        }
        let recipient = DhSecret::from_bytes(unh32(&c.recipient_identity_secret));
        assert_eq!(h(recipient.public().as_bytes()), c.recipient_identity_key);
        let env = sealed_sender::seal_v2_with_ephemeral(
            &recipient.public(),
            &sealed,
            &DhSecret::from_bytes(unh32(&c.ephemeral_secret)),
        )
        .unwrap();
        assert_eq!(env.len(), c.envelope_len, "{}", c.name);
        assert_eq!(sha256(&env), c.envelope_sha256, "{}", c.name);
        if let Some(expected) = &c.envelope {
            assert_eq!(h(&env), *expected, "{}", c.name);
        }
        assert_eq!(h(&env[1..33]), c.ephemeral_public);
        assert_eq!(h(&env[..33]), c.aad);
        assert_eq!(c.padded_len, env.len() - 49);
        assert_eq!(
            Some(c.padded_len),
            sealed_sender::padded_len_v2(c.sealed_len)
        );
        buckets.insert(c.padded_len);

        let opened = sealed_sender::open_v2(&recipient, &env).unwrap();
        assert!(opened == sealed, "{}", c.name);
        if let Some(p) = &c.padded {
            // The AEAD layer with the recorded key and nonce gives P.
            assert_eq!(
                h(super::xchacha_open(
                    &unh(&c.key),
                    &unh(&c.nonce),
                    &env[..33],
                    &env[33..]
                )),
                *p
            );
            assert_eq!(sha256(&unh(p)), c.padded_sha256);
            assert_eq!(c.sealed.as_ref().map(|i| p.starts_with(i)), Some(true));
        }
    }
    assert!(buckets.len() >= 4, "the cases should span several buckets");
    assert!(buckets.contains(&1_024) && buckets.contains(&2_048) && buckets.contains(&65_536));
    assert!(
        file.cases
            .iter()
            .any(|c| c.envelope_len == MAX_ENVELOPE_V2_LEN)
    );

    assert!(file.certificates.iter().filter(|c| !c.valid).count() >= 5);
    for c in &file.certificates {
        let account = PublicKey::from_bytes(&unh32(&c.account)).unwrap();
        let result = sealed_sender::verify_device_certificate(
            &account,
            &fixed(&c.device_id),
            &DhPublic::from_bytes(unh32(&c.identity_key)),
            &fixed(&c.certificate),
        );
        assert_eq!(result.is_ok(), c.valid, "{}", c.name);
        if !c.valid {
            assert_eq!(result, Err(EnvelopeError::BadSignature), "{}", c.name);
        }
    }

    for error in [
        "truncated",
        "unsupported_version",
        "low_order_point",
        "decrypt_failed",
        "bad_padding",
        "bad_content",
        "invalid_sender_key",
    ] {
        assert!(file.refused.iter().any(|c| c.error == error), "{error}");
    }
    for c in &file.refused {
        let recipient = DhSecret::from_bytes(unh32(&c.recipient_identity_secret));
        let env = unh(&c.envelope);
        let err = sealed_sender::open_v2(&recipient, &env).unwrap_err();
        assert_eq!(envelope_error_name(&err), c.error, "{}", c.name);
        if let (Some(p), Some(len)) = (&c.padded_trimmed, c.padded_len) {
            let opened = open_aead(&recipient, &env);
            assert_eq!(opened.len(), len, "{}", c.name);
            assert_eq!(h(trimmed(&opened)), *p, "{}", c.name);
        }
    }
    assert!(file.accepted.len() >= 3);
    for c in &file.accepted {
        let recipient = DhSecret::from_bytes(unh32(&c.recipient_identity_secret));
        let env = unh(&c.envelope);
        let p = open_aead(&recipient, &env);
        assert_eq!(p.len(), c.padded_len, "{}", c.name);
        assert_eq!(h(trimmed(&p)), c.padded_trimmed, "{}", c.name);
        let opened = sealed_sender::open_v2(&recipient, &env).unwrap();
        check_opened(&opened, c);
    }
}

/// `P` of an envelope whose AEAD layer is sound, from the primitives.
fn open_aead(recipient: &DhSecret, env: &[u8]) -> Vec<u8> {
    let e_pub: [u8; 32] = env[1..33].try_into().unwrap();
    let y = recipient.public();
    let s = x25519_dalek::x25519(*recipient.as_bytes(), e_pub);
    let hk = blake2b_56(labels::ENVELOPE_V2_KEY, &[&s, &e_pub, y.as_bytes()]);
    super::xchacha_open(&hk[..32], &hk[32..], &env[..33], &env[33..])
}
