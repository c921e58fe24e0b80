//! `test-vectors/link.json`: linking a device (`docs/PROTOCOL.md` §17).
//!
//! The generator computes every value from the primitives (x25519-dalek,
//! RustCrypto's BLAKE2b and XChaCha20-Poly1305, the bech32 crate), not
//! through `nightjar_crypto::link`; the replay then runs the module with the
//! recorded randomness and compares every byte, and opens every refused
//! record, which must fail with the recorded error.

use nightjar_crypto::CryptoError;
use nightjar_crypto::RandomSource;
use nightjar_crypto::dh::DhPublic;
use nightjar_crypto::identity::{Identity, PublicKey};
use nightjar_crypto::labels;
use nightjar_crypto::link::{self, LinkCode, LinkError, LinkSecret};
use serde::{Deserialize, Serialize};

use super::{File, blake2b_32, blake2b_56, h, seed, unh, unh32, xchacha_seal};

#[derive(Serialize, Deserialize)]
pub(crate) struct LinkAnswerCase {
    index: u32,
    payload: String,
    /// `k_i`, `n_i`: BLAKE2b-56(key = "nightjar/v2/link-answer", L ‖ S ‖ E_J ‖ E_X ‖ u32be(i)).
    key: String,
    nonce: String,
    /// `[0x02] ‖ E_X ‖ E_J ‖ u32be(i)`.
    aad: String,
    record: String,
}

#[derive(Serialize, Deserialize)]
pub(crate) struct LinkRefusedCase {
    name: String,
    /// Which decoder opens it with this case's keys: `request` (X, with
    /// `L`), `hello` (J, with `e_J` and `L`) or `answer` (J's session).
    opened_as: String,
    bytes: String,
    /// The error of the first failing check: `too_large`, `truncated`,
    /// `unexpected_kind`, `other_session`, `low_order_point` or
    /// `decrypt_failed`.
    error: String,
}

#[derive(Serialize, Deserialize)]
pub(crate) struct LinkCase {
    name: String,
    account_seed: String,
    /// The account's Ed25519 public key.
    account: String,
    /// `L`.
    code_secret: String,
    /// `[0x01] ‖ account ‖ L`.
    code_data: String,
    /// `bech32m("njlink", code_data)`.
    code_text: String,
    /// `e_J` (the joining device's only draw).
    joiner_secret: String,
    joiner_public: String,
    request_payload: String,
    request_key: String,
    request_nonce: String,
    /// `[0x01] ‖ E_J`.
    request_aad: String,
    request: String,
    /// `e_X` (the existing device's only draw).
    linker_secret: String,
    linker_public: String,
    /// `S = X25519(e_X, E_J) = X25519(e_J, E_X)`.
    shared_secret: String,
    hello_key: String,
    hello_nonce: String,
    /// `[0x01] ‖ E_X ‖ E_J`.
    hello_aad: String,
    hello_tag: String,
    hello: String,
    /// `h = BLAKE2b-32(key = "nightjar/v2/link-sas", L ‖ S ‖ E_J ‖ E_X)`.
    sas_hash: String,
    /// `u32be(h[0..4]) mod 1,000,000`.
    sas: u32,
    sas_text: String,
    answers: Vec<LinkAnswerCase>,
    refused: Vec<LinkRefusedCase>,
}

/// Inputs of one case: name, account seed, L, e_J, request payload, e_X,
/// answers (index, payload).
struct LinkInput {
    name: &'static str,
    account_seed: [u8; 32],
    code_secret: [u8; 32],
    joiner_secret: [u8; 32],
    request_payload: Vec<u8>,
    linker_secret: [u8; 32],
    answers: Vec<(u32, Vec<u8>)>,
}

fn bytes_from(start: u8, step: u8) -> [u8; 32] {
    core::array::from_fn(|i| start.wrapping_add(step.wrapping_mul(i as u8)))
}

fn inputs() -> Vec<LinkInput> {
    let history: Vec<u8> = (0..700u32).map(|i| (i * 7 % 251) as u8).collect();
    vec![
        LinkInput {
            name: "seed and two history chunks",
            account_seed: bytes_from(0xc3, 0x05),
            code_secret: bytes_from(0x10, 0x01),
            joiner_secret: bytes_from(0x41, 0x0b),
            request_payload: br#"{"device_id":"00112233445566778899aabbccddeeff","name":"laptop"}"#
                .to_vec(),
            linker_secret: bytes_from(0x97, 0x1d),
            answers: vec![
                (
                    0,
                    [
                        &bytes_from(0xc3, 0x05)[..],
                        b" account seed and device list",
                    ]
                    .concat(),
                ),
                (1, history.clone()),
                (2, history[..100].to_vec()),
            ],
        },
        LinkInput {
            name: "empty request payload, empty and last-index answers",
            account_seed: bytes_from(0x07, 0x3b),
            code_secret: bytes_from(0xff, 0xfd),
            joiner_secret: bytes_from(0x66, 0x11),
            request_payload: Vec::new(),
            linker_secret: bytes_from(0x2a, 0x17),
            answers: vec![
                (0, Vec::new()),
                (u32::MAX, b"the last possible record".to_vec()),
            ],
        },
    ]
}

fn x25519(secret: &[u8; 32], public: &[u8; 32]) -> [u8; 32] {
    x25519_dalek::x25519(*secret, *public)
}

fn x25519_base(secret: &[u8; 32]) -> [u8; 32] {
    x25519(secret, &x25519_dalek::X25519_BASEPOINT_BYTES)
}

/// `[0x01] ‖ E_J ‖ AEAD(...)` under `l`, from the primitives.
fn request_bytes(l: &[u8; 32], e_j_pub: &[u8; 32], payload: &[u8]) -> Vec<u8> {
    let kn = blake2b_56(labels::LINK_REQUEST, &[l, e_j_pub]);
    let aad = [&[0x01u8][..], e_j_pub].concat();
    [
        aad.clone(),
        xchacha_seal(&kn[..32], &kn[32..], &aad, payload),
    ]
    .concat()
}

/// `[0x01] ‖ E_X ‖ tag`, from the primitives.
fn hello_bytes(l: &[u8; 32], e_x: &[u8; 32], e_j_pub: &[u8; 32]) -> Vec<u8> {
    let e_x_pub = x25519_base(e_x);
    let s = x25519(e_x, e_j_pub);
    let kn = blake2b_56(labels::LINK_HELLO, &[l, &s, e_j_pub, &e_x_pub]);
    let aad = [&[0x01u8][..], &e_x_pub, e_j_pub].concat();
    [
        &[0x01u8][..],
        &e_x_pub,
        &xchacha_seal(&kn[..32], &kn[32..], &aad, b""),
    ]
    .concat()
}

/// Answer record `index`, from the primitives: `(key, nonce, aad, record)`.
fn answer_bytes(
    l: &[u8; 32],
    e_x: &[u8; 32],
    e_j_pub: &[u8; 32],
    index: u32,
    payload: &[u8],
) -> (Vec<u8>, Vec<u8>, Vec<u8>, Vec<u8>) {
    let e_x_pub = x25519_base(e_x);
    let s = x25519(e_x, e_j_pub);
    let i = index.to_be_bytes();
    let kn = blake2b_56(labels::LINK_ANSWER, &[l, &s, e_j_pub, &e_x_pub, &i]);
    let aad = [&[0x02u8][..], &e_x_pub, e_j_pub, &i].concat();
    let record = [
        &[0x02u8][..],
        &e_x_pub,
        &i,
        &xchacha_seal(&kn[..32], &kn[32..], &aad, payload),
    ]
    .concat();
    (kn[..32].to_vec(), kn[32..].to_vec(), aad, record)
}

fn refused(name: &str, opened_as: &str, bytes: &[u8], error: &str) -> LinkRefusedCase {
    LinkRefusedCase {
        name: name.into(),
        opened_as: opened_as.into(),
        bytes: h(bytes),
        error: error.into(),
    }
}

/// Records that must not open, each a change of one thing from the case.
fn refused_records(input: &LinkInput, request: &[u8], hello: &[u8]) -> Vec<LinkRefusedCase> {
    let l = &input.code_secret;
    let e_j_pub = x25519_base(&input.joiner_secret);
    let mut other_l = *l;
    other_l[31] ^= 0x01;
    let other_e_j_pub = x25519_base(&bytes_from(0x5e, 0x03));
    let other_e_x = bytes_from(0x71, 0x09);

    let mut flipped_request = request.to_vec();
    if let Some(last) = flipped_request.last_mut() {
        *last ^= 0x80;
    }
    let mut request_v2 = request.to_vec();
    request_v2[0] = 0x02;
    let mut request_too_large = request.to_vec();
    request_too_large.resize(link::MAX_REQUEST_LEN + 1, 0);

    let mut low_order_hello = vec![0x01u8];
    low_order_hello.extend_from_slice(&[0u8; 32]);
    low_order_hello.extend_from_slice(&[0u8; 16]);
    let mut flipped_hello = hello.to_vec();
    flipped_hello[40] ^= 0x01;

    let (_, _, _, answer0) = answer_bytes(l, &input.linker_secret, &e_j_pub, 0, b"moved");
    let mut moved = answer0.clone();
    moved[33..37].copy_from_slice(&1u32.to_be_bytes());
    let (_, _, _, other_session) = answer_bytes(l, &other_e_x, &e_j_pub, 0, b"other session");
    let (_, _, _, other_joiner) =
        answer_bytes(l, &input.linker_secret, &other_e_j_pub, 0, b"other joiner");
    let (_, _, _, other_code) =
        answer_bytes(&other_l, &input.linker_secret, &e_j_pub, 0, b"other code");

    vec![
        refused(
            "request under another code",
            "request",
            &request_bytes(&other_l, &e_j_pub, &input.request_payload),
            "decrypt_failed",
        ),
        refused(
            "request with a flipped tag bit",
            "request",
            &flipped_request,
            "decrypt_failed",
        ),
        refused(
            "request with version 2",
            "request",
            &request_v2,
            "unexpected_kind",
        ),
        refused(
            "request cut to 48 bytes",
            "request",
            &request[..48],
            "truncated",
        ),
        refused(
            "request of 4,146 bytes",
            "request",
            &request_too_large,
            "too_large",
        ),
        refused(
            "hello for another request",
            "hello",
            &hello_bytes(l, &input.linker_secret, &other_e_j_pub),
            "decrypt_failed",
        ),
        refused(
            "hello under another code",
            "hello",
            &hello_bytes(&other_l, &input.linker_secret, &e_j_pub),
            "decrypt_failed",
        ),
        refused(
            "hello with a flipped tag bit",
            "hello",
            &flipped_hello,
            "decrypt_failed",
        ),
        refused(
            "hello with E_X = 0",
            "hello",
            &low_order_hello,
            "low_order_point",
        ),
        refused(
            "answer record given as a hello",
            "hello",
            &answer0[..49],
            "unexpected_kind",
        ),
        refused(
            "hello of 50 bytes",
            "hello",
            &[hello, &[0u8][..]].concat(),
            "too_large",
        ),
        refused(
            "answer 0 with its index changed to 1",
            "answer",
            &moved,
            "decrypt_failed",
        ),
        refused(
            "answer of another E_X",
            "answer",
            &other_session,
            "other_session",
        ),
        refused(
            "answer with this E_X sealed for another E_J",
            "answer",
            &other_joiner,
            "decrypt_failed",
        ),
        refused(
            "answer under another code",
            "answer",
            &other_code,
            "decrypt_failed",
        ),
        refused(
            "hello given as an answer",
            "answer",
            hello,
            "unexpected_kind",
        ),
        refused(
            "answer cut to 52 bytes",
            "answer",
            &answer0[..52],
            "truncated",
        ),
    ]
}

pub(crate) fn gen_link() -> File<LinkCase> {
    let cases = inputs()
        .iter()
        .map(|input| {
            let account = Identity::from_seed(seed(&h(input.account_seed))).public_key();
            let l = &input.code_secret;
            let code_data = [&[0x01u8][..], account.as_bytes(), l].concat();
            let code_text = bech32::encode::<bech32::Bech32m>(
                bech32::Hrp::parse("njlink").unwrap(),
                &code_data,
            )
            .unwrap();

            let e_j_pub = x25519_base(&input.joiner_secret);
            let req_kn = blake2b_56(labels::LINK_REQUEST, &[l, &e_j_pub]);
            let request = request_bytes(l, &e_j_pub, &input.request_payload);

            let e_x_pub = x25519_base(&input.linker_secret);
            let s = x25519(&input.linker_secret, &e_j_pub);
            assert_eq!(s, x25519(&input.joiner_secret, &e_x_pub));
            let hello_kn = blake2b_56(labels::LINK_HELLO, &[l, &s, &e_j_pub, &e_x_pub]);
            let hello_aad = [&[0x01u8][..], &e_x_pub, &e_j_pub].concat();
            let hello = hello_bytes(l, &input.linker_secret, &e_j_pub);
            let sas_hash = blake2b_32(labels::LINK_SAS, &[l, &s, &e_j_pub, &e_x_pub]);
            let sas = u32::from_be_bytes(sas_hash[..4].try_into().unwrap()) % 1_000_000;

            let answers = input
                .answers
                .iter()
                .map(|(index, payload)| {
                    let (key, nonce, aad, record) =
                        answer_bytes(l, &input.linker_secret, &e_j_pub, *index, payload);
                    LinkAnswerCase {
                        index: *index,
                        payload: h(payload),
                        key: h(key),
                        nonce: h(nonce),
                        aad: h(aad),
                        record: h(record),
                    }
                })
                .collect();
            LinkCase {
                name: input.name.into(),
                account_seed: h(input.account_seed),
                account: h(account.as_bytes()),
                code_secret: h(l),
                code_data: h(&code_data),
                code_text,
                joiner_secret: h(input.joiner_secret),
                joiner_public: h(e_j_pub),
                request_payload: h(&input.request_payload),
                request_key: h(&req_kn[..32]),
                request_nonce: h(&req_kn[32..]),
                request_aad: h(&request[..33]),
                request: h(&request),
                linker_secret: h(input.linker_secret),
                linker_public: h(e_x_pub),
                shared_secret: h(s),
                hello_key: h(&hello_kn[..32]),
                hello_nonce: h(&hello_kn[32..]),
                hello_aad: h(&hello_aad),
                hello_tag: h(&hello[33..]),
                hello: h(&hello),
                sas_hash: h(sas_hash),
                sas,
                sas_text: format!("{:03} {:03}", sas / 1000, sas % 1000),
                answers,
                refused: refused_records(input, &request, &hello),
            }
        })
        .collect();
    File {
        description: "Linking a device (docs/PROTOCOL.md §17). code_text = bech32m('njlink', \
                      0x01 ‖ account ‖ L). J: E_J = crypto_scalarmult_base(e_J); request key ‖ \
                      nonce = crypto_generichash(56, L ‖ E_J, key 'nightjar/v2/link-request'); \
                      request = 0x01 ‖ E_J ‖ xchacha20poly1305_ietf(payload, aad 0x01 ‖ E_J). \
                      X: E_X = crypto_scalarmult_base(e_X); S = crypto_scalarmult(e_X, E_J); hello \
                      key ‖ nonce = crypto_generichash(56, L ‖ S ‖ E_J ‖ E_X, key \
                      'nightjar/v2/link-hello'); hello = 0x01 ‖ E_X ‖ tag of the empty \
                      plaintext (aad 0x01 ‖ E_X ‖ E_J); sas_hash = crypto_generichash(32, L ‖ S \
                      ‖ E_J ‖ E_X, key 'nightjar/v2/link-sas'); sas = u32be(sas_hash[0..4]) mod \
                      1000000, shown 'ddd ddd'. Answer i: key ‖ nonce = crypto_generichash(56, L \
                      ‖ S ‖ E_J ‖ E_X ‖ u32be(i), key 'nightjar/v2/link-answer'); record = 0x02 ‖ \
                      E_X ‖ u32be(i) ‖ xchacha20poly1305_ietf(payload, aad 0x02 ‖ E_X ‖ E_J ‖ \
                      u32be(i)). refused: records opened with the case's keys that fail with \
                      the error of the first failing check (§17.6)."
            .into(),
        cases,
    }
}

/// Hands out recorded bytes as randomness, and nothing more.
struct Replay(Vec<u8>);

impl RandomSource for Replay {
    fn fill(&mut self, dest: &mut [u8]) -> Result<(), CryptoError> {
        if dest.len() > self.0.len() {
            return Err(CryptoError::RandomUnavailable(
                "the recorded bytes ran out".into(),
            ));
        }
        let rest = self.0.split_off(dest.len());
        dest.copy_from_slice(&self.0);
        self.0 = rest;
        Ok(())
    }
}

fn error_name(e: &LinkError) -> &'static str {
    match e {
        LinkError::TooLarge { .. } => "too_large",
        LinkError::Truncated { .. } => "truncated",
        LinkError::UnexpectedKind { .. } => "unexpected_kind",
        LinkError::OtherSession => "other_session",
        LinkError::LowOrderPoint => "low_order_point",
        LinkError::DecryptFailed { .. } => "decrypt_failed",
        other => panic!("not a decoding error: {other:?}"),
    }
}

pub(crate) fn replay(file: &File<LinkCase>) {
    assert!(file.cases.len() >= 2);
    for c in &file.cases {
        let account = PublicKey::from_bytes(&unh32(&c.account)).unwrap();
        assert_eq!(
            Identity::from_seed(seed(&c.account_seed)).public_key(),
            account
        );
        let l = LinkSecret::from_bytes(unh32(&c.code_secret));
        let code = LinkCode {
            account,
            secret: l.clone(),
        };
        assert_eq!(*code.to_text(), c.code_text, "{}", c.name);
        assert_eq!(LinkCode::parse(&c.code_text).unwrap(), code);
        assert_eq!(LinkCode::parse(&c.code_text.to_uppercase()).unwrap(), code);

        let mut draws = Replay(unh(&c.joiner_secret));
        let (joiner, request) =
            link::seal_request_with(&mut draws, &l, &unh(&c.request_payload)).unwrap();
        assert!(draws.0.is_empty(), "the joiner draws exactly e_J");
        assert_eq!(h(&request), c.request, "{}", c.name);
        assert_eq!(h(joiner.public().as_bytes()), c.joiner_public);
        let (e_j, payload) = link::open_request(&l, &request).unwrap();
        assert_eq!(h(e_j.as_bytes()), c.joiner_public);
        assert_eq!(h(&*payload), c.request_payload);

        let mut draws = Replay(unh(&c.linker_secret));
        let (linker, hello, x_sas) = link::answer_hello_with(&mut draws, &l, &e_j).unwrap();
        assert!(draws.0.is_empty(), "the linker draws exactly e_X");
        assert_eq!(h(&hello), c.hello, "{}", c.name);
        assert_eq!(h(linker.linker_public().as_bytes()), c.linker_public);
        assert_eq!(x_sas.value(), c.sas);
        assert_eq!(x_sas.to_string(), c.sas_text);

        let (session, j_sas) = joiner.open_hello(&l, &hello).unwrap();
        assert_eq!(j_sas, x_sas);
        for a in &c.answers {
            let record = linker.seal_answer(a.index, &unh(&a.payload)).unwrap();
            assert_eq!(h(&record), a.record, "{} answer {}", c.name, a.index);
            let (index, payload) = session.open_answer(&record).unwrap();
            assert_eq!(index, a.index);
            assert_eq!(h(&*payload), a.payload);
        }

        assert!(c.refused.len() >= 10);
        for r in &c.refused {
            let bytes = unh(&r.bytes);
            let err = match r.opened_as.as_str() {
                "request" => link::open_request(&l, &bytes).map(|_| ()),
                "hello" => joiner.open_hello(&l, &bytes).map(|_| ()),
                "answer" => session.open_answer(&bytes).map(|_| ()),
                other => panic!("unknown decoder {other}"),
            }
            .unwrap_err();
            assert_eq!(error_name(&err), r.error, "{}: {}", c.name, r.name);
        }
        // The small-order key of the refused hello is refused by X too.
        assert_eq!(
            link::answer_hello_with(&mut Replay(vec![1; 32]), &l, &DhPublic::from_bytes([0; 32]))
                .unwrap_err(),
            LinkError::LowOrderPoint
        );
    }
}
