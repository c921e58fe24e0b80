//! `message-v2`: what a message of messages v2 costs, in CPU and in bytes,
//! against envelope v1 and against the primitives' bound.
//!
//! **Measured**, each the median over rounds of CPU time per call, all
//! interleaved round by round with everything else below (so load from
//! other work hits every figure alike), with the operating system's
//! generator wherever randomness is drawn, as a client would:
//!
//! - v1: `envelope::seal` and `envelope::open` of a `--text`-byte text
//!   (sign-then-encrypt, `docs/PROTOCOL.md` §3);
//! - `first_send`: `Session::initiate` + `Session::encrypt` of the first
//!   message from a prekey bundle without one-time prekeys (signed X25519
//!   prekey, last-resort ML-KEM prekey); `first_send_otk`: with a one-time
//!   X25519 and a one-time ML-KEM prekey;
//! - `first_receive`, `first_receive_otk`: `Session::respond` on those
//!   messages (one-time prekeys consumed from an `InMemoryPrekeyStore`);
//! - `ratchet_send`, `ratchet_receive`: a message in the same sending chain
//!   (no DH or KEM step): `Session::encrypt` and, in order, `decrypt`;
//! - `step_send`, `step_receive`: a reply that ratchets (new X25519 and
//!   ML-KEM-768 key pairs and an encapsulation on the sender; agreement and
//!   decapsulation on the receiver).
//!
//! Every v2 plaintext is the text padded as v1 pads its content
//! (`envelope::pad`, 256-byte buckets and up), padding in the sending and
//! unpadding in the receiving figure, as v1's seal and open include theirs;
//! v1 pads the protobuf of the text and a timestamp, so the two land in the
//! same bucket except for a text just below a bucket's size
//! (`v1_padded_bytes` and `plaintext_bytes` show both). The associated-data
//! context is 96 bytes (both accounts' keys and both device ids, what the
//! client passes).
//!
//! **The bound** of each v2 operation is the sum of the primitive operations
//! the construction requires (counted from `nightjar-ratchet`'s handshake and
//! ratchet: which X25519 key generations and agreements, ML-KEM-768 key
//! generations, encapsulations, decapsulations and public-key checks,
//! keyed BLAKE2b calls over which input sizes and XChaCha20-Poly1305 seals
//! and opens of which sizes; see [`Op::counts`]), each primitive timed alone
//! through `nightjar-crypto`'s public API on the same sizes, taking the
//! fastest implementation available: X25519 key generation as `dh`'s
//! (aws-lc-rs) or x25519-dalek's (`bound::StaticX25519::new`), agreement
//! with a prepared key through `bound::StaticX25519` (x25519-dalek or
//! aws-lc-rs), ML-KEM through `kem` (libcrux, the only implementation),
//! BLAKE2b through `hash::blake2b_keyed_64` (cost per block does not depend
//! on the output length), AEAD through `bound::aead_seal`/`aead_open`
//! (RustCrypto, or HChaCha20 + aws-lc-rs). `ratio` = bound / measured: 1
//! means the session adds nothing measurable to the primitives. Being a sum
//! of separate measurements the bound is not a strict floor; noise can put a
//! ratio slightly above 1. The bound leaves out drawing randomness (timed
//! alone as `other_us.os_random_32`), parsing, copying and allocating.
//!
//! **The outer sealed layer** a v2 message travels in (one ephemeral X25519
//! to the recipient device's identity key, a keyed BLAKE2b over `S ‖ E ‖ Y`,
//! XChaCha20-Poly1305 over the whole ratchet message, as v1's outer layer)
//! is not written in this code base yet, so it is not measured: it is
//! *modelled* from the same primitives (`outer_us`: sender key generation,
//! agreement, KDF and seal of the message's length; receiver agreement, KDF
//! and open) and v1's layout (`outer_layer_bytes` = version byte, `E` and
//! tag), and added in the `sealed_…` figures.
//!
//! JSON keys (µs are CPU microseconds per call):
//!
//! - `bench` (`"message-v2"`), `iterations` (calls of each operation),
//!   `rounds`, `text_bytes`, `plaintext_bytes` (the v2 plaintext, padded),
//!   `v1_padded_bytes`, `context_bytes`;
//! - `v1_seal_us`, `v1_open_us`, `v1_bytes`; `outer_layer_bytes`;
//! - `ops.<op>` for each of `first_send`, `first_send_otk`, `first_receive`,
//!   `first_receive_otk`, `ratchet_send`, `ratchet_receive`, `step_send`,
//!   `step_receive`: `cpu_us`, `bound_us`, `ratio` (bound / cpu), `vs_v1`
//!   (cpu / v1 seal for a send, / v1 open for a receive), `bytes` (the
//!   message as `Session` gives it), `bytes_vs_v1`, `outer_us`,
//!   `sealed_cpu_us` (cpu + outer), `sealed_vs_v1`, `sealed_bytes` (bytes +
//!   outer layer), `sealed_bytes_vs_v1`, `bound_parts_us` (`x25519`,
//!   `mlkem`, `blake2b`, `aead`: the bound by primitive family, those the
//!   operation uses) and `counts`
//!   (primitive name → calls in the bound);
//! - `primitives_us`: each primitive of the bound at its fastest;
//!   `implementations_us`: every implementation timed, by
//!   `<primitive>_<implementation>`; `other_us`: `x25519_dh_parse_each`
//!   (`dh::dh`, which the session calls: parses the secret on every
//!   agreement), `session_clone` (a copy of the receiving session, as
//!   `decrypt` copies its ratchet state before every message) and
//!   `os_random_32` (32 bytes from the OS generator);
//! - `bytes_breakdown`: where a message's bytes go (`ratchet_overhead` and
//!   its `header_mlkem_public_key`, `header_mlkem_ciphertext`,
//!   `header_x25519`; `initial_prefix` and its
//!   `initial_mlkem_ciphertext`; `one_time_prekey_id`).

use std::cell::RefCell;
use std::collections::BTreeMap;
use std::hint::black_box;

use anyhow::{Context, bail};
use nightjar_crypto::bound::{self, AeadImpl, HopKey, StaticX25519, X25519Impl};
use nightjar_crypto::dh::{self, DH_LEN, DhKeyPair, DhSecret};
use nightjar_crypto::envelope::{self, Content};
use nightjar_crypto::hash::blake2b_keyed_64;
use nightjar_crypto::identity::Identity;
use nightjar_crypto::kdf::{AEAD_TAG_LEN, NONCE_LEN};
use nightjar_crypto::kem::{
    self, MLKEM768_CIPHERTEXT_LEN, MLKEM768_PUBLIC_KEY_LEN, MlKemKeyPair, MlKemPublicKey,
};
use nightjar_crypto::{OsRandom, RandomSource};
use nightjar_ratchet::message::{ENCRYPTED_HEADER_LEN, HEADER_LEN, INITIAL_PREFIX_LEN, PrekeyIds};
use nightjar_ratchet::pqxdh::{associated_data, transcript};
use nightjar_ratchet::{InMemoryPrekeyStore, PrekeyBundle, Session};
use serde_json::{Map, Value, json};

use crate::util::{Op as TimedOp, interleaved_all};

/// Rounds: many short ones, so that the operations and the primitives of
/// their bound are timed close together while the load of the shared
/// machine changes (each round takes about 0.3 s at the default size).
const ROUNDS: usize = 35;

/// Bytes of the associated data's context: both accounts' Ed25519 keys (32
/// each) and both device ids (16 each), as the client passes them.
const CONTEXT_LEN: usize = 96;

/// Longest `--text`: v1's protobuf content of it must stay under 65,535.
const MAX_TEXT: usize = 65_000;

/// The label of the BLAKE2b timings (any label costs the same).
const BLAKE2B_LABEL: &str = "nightjar-bench/blake2b";

/// Bytes the outer sealed layer adds, on v1's layout: version byte, the
/// ephemeral X25519 key `E` and the AEAD tag.
const OUTER_LAYER_BYTES: usize = 1 + DH_LEN + AEAD_TAG_LEN;

/// The associated data of the outer layer, as v1's: version byte and `E`.
const OUTER_AAD_LEN: usize = 1 + DH_LEN;

/// Which message an outer layer seals.
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Debug)]
enum Kind {
    First,
    FirstOtk,
    Ratchet,
    Step,
}

/// A primitive operation of the bound.
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Debug)]
enum Prim {
    /// X25519 key generation (a fixed-base multiplication).
    X25519Keygen,
    /// X25519 agreement with a prepared secret.
    X25519Agree,
    MlKemKeygen,
    MlKemEncaps,
    MlKemDecaps,
    /// FIPS 203's modulus check of a received encapsulation key.
    MlKemCheck,
    /// Keyed BLAKE2b over one 32-byte key (handshake expansion, chain KDF,
    /// message key).
    Blake2bKey,
    /// Keyed BLAKE2b over 96 bytes (root KDF `RK ‖ DH ‖ SS`; the outer
    /// layer's `S ‖ E ‖ Y`).
    Blake2bRoot,
    /// Keyed BLAKE2b over `TH ‖ DH1 ‖ DH2 ‖ DH3 ‖ SS` (160 bytes).
    Blake2bSecret,
    /// … with `DH4` (192 bytes).
    Blake2bSecretOtk,
    /// Keyed BLAKE2b over the handshake transcript.
    Blake2bTranscript,
    /// … with a one-time prekey.
    Blake2bTranscriptOtk,
    SealHeader,
    OpenHeader,
    /// Trying the receiving chain's header key on a message of the next
    /// chain (it fails).
    OpenHeaderWrongKey,
    SealBody,
    OpenBody,
    SealOuter(Kind),
    OpenOuter(Kind),
}

impl Prim {
    fn name(self) -> &'static str {
        match self {
            Prim::X25519Keygen => "x25519_keygen",
            Prim::X25519Agree => "x25519_agree",
            Prim::MlKemKeygen => "mlkem_keygen",
            Prim::MlKemEncaps => "mlkem_encaps",
            Prim::MlKemDecaps => "mlkem_decaps",
            Prim::MlKemCheck => "mlkem_check_public_key",
            Prim::Blake2bKey => "blake2b_32B",
            Prim::Blake2bRoot => "blake2b_96B",
            Prim::Blake2bSecret => "blake2b_handshake_secret",
            Prim::Blake2bSecretOtk => "blake2b_handshake_secret_otk",
            Prim::Blake2bTranscript => "blake2b_transcript",
            Prim::Blake2bTranscriptOtk => "blake2b_transcript_otk",
            Prim::SealHeader => "aead_seal_header",
            Prim::OpenHeader => "aead_open_header",
            Prim::OpenHeaderWrongKey => "aead_open_header_wrong_key",
            Prim::SealBody => "aead_seal_body",
            Prim::OpenBody => "aead_open_body",
            Prim::SealOuter(Kind::First) => "aead_seal_outer_first",
            Prim::SealOuter(Kind::FirstOtk) => "aead_seal_outer_first_otk",
            Prim::SealOuter(Kind::Ratchet) => "aead_seal_outer_ratchet",
            Prim::SealOuter(Kind::Step) => "aead_seal_outer_step",
            Prim::OpenOuter(Kind::First) => "aead_open_outer_first",
            Prim::OpenOuter(Kind::FirstOtk) => "aead_open_outer_first_otk",
            Prim::OpenOuter(Kind::Ratchet) => "aead_open_outer_ratchet",
            Prim::OpenOuter(Kind::Step) => "aead_open_outer_step",
        }
    }

    /// The family it is reported under in `bound_parts_us`.
    fn family(self) -> &'static str {
        match self {
            Prim::X25519Keygen | Prim::X25519Agree => "x25519",
            Prim::MlKemKeygen | Prim::MlKemEncaps | Prim::MlKemDecaps | Prim::MlKemCheck => "mlkem",
            Prim::Blake2bKey
            | Prim::Blake2bRoot
            | Prim::Blake2bSecret
            | Prim::Blake2bSecretOtk
            | Prim::Blake2bTranscript
            | Prim::Blake2bTranscriptOtk => "blake2b",
            _ => "aead",
        }
    }
}

/// A v2 operation measured.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum Op {
    FirstSend,
    FirstSendOtk,
    FirstReceive,
    FirstReceiveOtk,
    RatchetSend,
    RatchetReceive,
    StepSend,
    StepReceive,
}

impl Op {
    const ALL: [Op; 8] = [
        Op::FirstSend,
        Op::FirstSendOtk,
        Op::FirstReceive,
        Op::FirstReceiveOtk,
        Op::RatchetSend,
        Op::RatchetReceive,
        Op::StepSend,
        Op::StepReceive,
    ];

    fn name(self) -> &'static str {
        match self {
            Op::FirstSend => "first_send",
            Op::FirstSendOtk => "first_send_otk",
            Op::FirstReceive => "first_receive",
            Op::FirstReceiveOtk => "first_receive_otk",
            Op::RatchetSend => "ratchet_send",
            Op::RatchetReceive => "ratchet_receive",
            Op::StepSend => "step_send",
            Op::StepReceive => "step_receive",
        }
    }

    fn sends(self) -> bool {
        matches!(
            self,
            Op::FirstSend | Op::FirstSendOtk | Op::RatchetSend | Op::StepSend
        )
    }

    fn kind(self) -> Kind {
        match self {
            Op::FirstSend | Op::FirstReceive => Kind::First,
            Op::FirstSendOtk | Op::FirstReceiveOtk => Kind::FirstOtk,
            Op::RatchetSend | Op::RatchetReceive => Kind::Ratchet,
            Op::StepSend | Op::StepReceive => Kind::Step,
        }
    }

    /// The primitive operations the construction requires for this
    /// operation, with how many of each.
    ///
    /// - A first message (initiator): the ephemeral `EK_I` and the first
    ///   ratchet key are generated (2 key generations); `DH1..DH3` (and `DH4`
    ///   with a one-time prekey) and the ratchet's DH with `SPK_R` (4 or 5
    ///   agreements); the handshake encapsulates to the ML-KEM prekey and the
    ///   first ratchet step encapsulates to it again, with a fresh ML-KEM key
    ///   pair; BLAKE2b: `TH`, `SK`, its three expansions, the root KDF's
    ///   two outputs, the chain KDF's two and the message key; one header
    ///   seal and one body seal.
    /// - Its receiver: the same agreements with its prekeys, two
    ///   decapsulations, the modulus check of the initiator's new ML-KEM key
    ///   (which its reply will encapsulate to), the same BLAKE2b, one header
    ///   open (its first header key is the only one it has) and the body.
    /// - A message in the same chain: chain KDF (2) and message key (1);
    ///   header and body. Its receiver opens the header with the receiving
    ///   chain's key on the first try.
    /// - A step: a new X25519 and ML-KEM key pair, one agreement, one
    ///   encapsulation, the root KDF (2 BLAKE2b over 96 bytes), chain KDF and
    ///   message key. Its receiver: one agreement, one decapsulation, the
    ///   check of the new ML-KEM key, the same BLAKE2b, the failed try of
    ///   the current receiving header key (the next header key is tried
    ///   after it, as in the Double Ratchet with header encryption), the
    ///   header and the body.
    fn counts(self) -> Vec<(Prim, u32)> {
        use Prim::*;
        let first = |otk: bool, send: bool| {
            let mut c = vec![
                (X25519Agree, if otk { 5 } else { 4 }),
                (
                    if otk {
                        Blake2bTranscriptOtk
                    } else {
                        Blake2bTranscript
                    },
                    1,
                ),
                (if otk { Blake2bSecretOtk } else { Blake2bSecret }, 1),
                (Blake2bKey, 6),
                (Blake2bRoot, 2),
            ];
            if send {
                c.extend([
                    (X25519Keygen, 2),
                    (MlKemKeygen, 1),
                    (MlKemEncaps, 2),
                    (SealHeader, 1),
                    (SealBody, 1),
                ]);
            } else {
                c.extend([
                    (MlKemDecaps, 2),
                    (MlKemCheck, 1),
                    (OpenHeader, 1),
                    (OpenBody, 1),
                ]);
            }
            c
        };
        match self {
            Op::FirstSend => first(false, true),
            Op::FirstSendOtk => first(true, true),
            Op::FirstReceive => first(false, false),
            Op::FirstReceiveOtk => first(true, false),
            Op::RatchetSend => vec![(Blake2bKey, 3), (SealHeader, 1), (SealBody, 1)],
            Op::RatchetReceive => vec![(Blake2bKey, 3), (OpenHeader, 1), (OpenBody, 1)],
            Op::StepSend => vec![
                (X25519Keygen, 1),
                (X25519Agree, 1),
                (MlKemKeygen, 1),
                (MlKemEncaps, 1),
                (Blake2bRoot, 2),
                (Blake2bKey, 3),
                (SealHeader, 1),
                (SealBody, 1),
            ],
            Op::StepReceive => vec![
                (X25519Agree, 1),
                (MlKemDecaps, 1),
                (MlKemCheck, 1),
                (Blake2bRoot, 2),
                (Blake2bKey, 3),
                (OpenHeaderWrongKey, 1),
                (OpenHeader, 1),
                (OpenBody, 1),
            ],
        }
    }

    /// The modelled outer layer around this operation's message: the sender
    /// generates `E`, agrees with the device's identity key, derives the key
    /// and seals; the receiver agrees, derives and opens.
    fn outer(self) -> Vec<(Prim, u32)> {
        if self.sends() {
            vec![
                (Prim::X25519Keygen, 1),
                (Prim::X25519Agree, 1),
                (Prim::Blake2bRoot, 1),
                (Prim::SealOuter(self.kind()), 1),
            ]
        } else {
            vec![
                (Prim::X25519Agree, 1),
                (Prim::Blake2bRoot, 1),
                (Prim::OpenOuter(self.kind()), 1),
            ]
        }
    }
}

/// What one timed closure measures.
#[derive(Clone, Copy, Debug)]
enum Label {
    V1Seal,
    V1Open,
    Measured(Op),
    /// A primitive, by one implementation.
    Prim(Prim, &'static str),
    /// An informative figure outside the bound.
    Other(&'static str),
}

type Closure<'a> = Box<dyn FnMut() -> anyhow::Result<()> + 'a>;

/// The inputs of the primitive timings: keys and buffers of the sizes the
/// messages use.
struct Fixtures {
    scalar: [u8; 32],
    dh_secret: DhSecret,
    peer: [u8; 32],
    dalek: StaticX25519,
    aws_lc: StaticX25519,
    kem_seed: [u8; 64],
    kem: MlKemKeyPair,
    kem_m: [u8; 32],
    kem_ct: kem::MlKemCiphertext,
    /// Keyed-BLAKE2b inputs by primitive.
    blake2b: BTreeMap<Prim, Vec<u8>>,
    /// AEAD sizes by primitive: (associated data, plaintext) lengths.
    aead: BTreeMap<Prim, (usize, usize)>,
    key: HopKey,
    other_key: HopKey,
}

const X25519_IMPLS: [(X25519Impl, &str); 2] =
    [(X25519Impl::Dalek, "dalek"), (X25519Impl::AwsLc, "aws_lc")];
const AEAD_IMPLS: [(AeadImpl, &str); 2] = [
    (AeadImpl::RustCrypto, "rustcrypto"),
    (AeadImpl::AwsLc, "aws_lc"),
];

/// The closures timing `p`, one per implementation.
fn primitive_closures<'a>(p: Prim, fx: &'a Fixtures) -> anyhow::Result<Vec<(Label, Closure<'a>)>> {
    let mut out: Vec<(Label, Closure<'a>)> = Vec::new();
    match p {
        Prim::X25519Keygen => {
            out.push((
                Label::Prim(p, "aws_lc"),
                Box::new(move || {
                    black_box(black_box(&fx.dh_secret).public());
                    Ok(())
                }),
            ));
            out.push((
                Label::Prim(p, "dalek"),
                Box::new(move || {
                    black_box(StaticX25519::new(X25519Impl::Dalek, black_box(&fx.scalar))?);
                    Ok(())
                }),
            ));
        }
        Prim::X25519Agree => {
            for (imp, name) in X25519_IMPLS {
                let key = match imp {
                    X25519Impl::Dalek => &fx.dalek,
                    X25519Impl::AwsLc => &fx.aws_lc,
                };
                out.push((
                    Label::Prim(p, name),
                    Box::new(move || {
                        black_box(key.agree(black_box(&fx.peer)).context("X25519 failed")?);
                        Ok(())
                    }),
                ));
            }
        }
        Prim::MlKemKeygen => out.push((
            Label::Prim(p, "libcrux"),
            Box::new(move || {
                black_box(MlKemKeyPair::from_seed(black_box(&fx.kem_seed)));
                Ok(())
            }),
        )),
        Prim::MlKemEncaps => out.push((
            Label::Prim(p, "libcrux"),
            Box::new(move || {
                black_box(kem::encapsulate_deterministic(
                    fx.kem.public_key(),
                    black_box(&fx.kem_m),
                ));
                Ok(())
            }),
        )),
        Prim::MlKemDecaps => out.push((
            Label::Prim(p, "libcrux"),
            Box::new(move || {
                black_box(kem::decapsulate(fx.kem.secret_key(), black_box(&fx.kem_ct)));
                Ok(())
            }),
        )),
        Prim::MlKemCheck => out.push((
            Label::Prim(p, "libcrux"),
            Box::new(move || {
                black_box(MlKemPublicKey::from_bytes(black_box(
                    fx.kem.public_key().as_bytes(),
                ))?);
                Ok(())
            }),
        )),
        Prim::Blake2bKey
        | Prim::Blake2bRoot
        | Prim::Blake2bSecret
        | Prim::Blake2bSecretOtk
        | Prim::Blake2bTranscript
        | Prim::Blake2bTranscriptOtk => {
            let input = fx.blake2b.get(&p).context("no BLAKE2b input")?;
            out.push((
                Label::Prim(p, "blake2"),
                Box::new(move || {
                    black_box(blake2b_keyed_64(BLAKE2B_LABEL, &[black_box(input)]));
                    Ok(())
                }),
            ));
        }
        Prim::SealHeader | Prim::SealBody | Prim::SealOuter(_) => {
            let &(aad_len, len) = fx.aead.get(&p).context("no AEAD size")?;
            for (imp, name) in AEAD_IMPLS {
                let aad = vec![0x5a; aad_len];
                let mut buf = vec![0xa5; len + AEAD_TAG_LEN];
                out.push((
                    Label::Prim(p, name),
                    Box::new(move || {
                        bound::aead_seal(imp, &fx.key, &aad, black_box(&mut buf))?;
                        Ok(())
                    }),
                ));
            }
        }
        Prim::OpenHeader | Prim::OpenHeaderWrongKey | Prim::OpenBody | Prim::OpenOuter(_) => {
            let &(aad_len, len) = fx.aead.get(&p).context("no AEAD size")?;
            let wrong = p == Prim::OpenHeaderWrongKey;
            for (imp, name) in AEAD_IMPLS {
                let aad = vec![0x5a; aad_len];
                let mut sealed = vec![0xa5; len + AEAD_TAG_LEN];
                bound::aead_seal(imp, &fx.key, &aad, &mut sealed)?;
                let mut plain = vec![0; len];
                let key = if wrong { &fx.other_key } else { &fx.key };
                out.push((
                    Label::Prim(p, name),
                    Box::new(move || {
                        let r = bound::aead_open(imp, key, &aad, black_box(&sealed), &mut plain);
                        match (r, wrong) {
                            (Ok(()), false) | (Err(_), true) => Ok(()),
                            (Ok(()), true) => bail!("a wrong header key opened a header"),
                            (Err(e), false) => Err(e.into()),
                        }
                    }),
                ));
            }
        }
    }
    Ok(out)
}

/// Run the benchmark (`iterations` calls of each operation, a `text`-byte
/// text) and print its JSON.
pub fn run(iterations: usize, text: usize) -> anyhow::Result<()> {
    if iterations == 0 {
        bail!("--iterations must be positive");
    }
    if text > MAX_TEXT {
        bail!("--text must be at most {MAX_TEXT} bytes");
    }
    let per_round = (iterations / ROUNDS).max(1);
    let n = per_round * ROUNDS;
    let rng: &mut dyn RandomSource = &mut OsRandom;

    // The text, as v1 carries it and as v2's plaintext (padded as v1 pads).
    let text_str: String = "a typical chat message. "
        .chars()
        .cycle()
        .take(text)
        .collect();
    let content = Content {
        text: text_str.clone(),
        sent_at_ms: 1_800_000_000_000,
    };
    let plaintext = envelope::pad(text_str.as_bytes())?;
    let v1_sender = Identity::generate()?;
    let v1_recipient = Identity::generate()?;
    let v1_envelope = envelope::seal(&v1_sender, &v1_recipient.public_key(), &content)?;
    let v1_padded = v1_envelope.len() - envelope::ENVELOPE_OVERHEAD;

    // Two devices: Alice initiates, Bob publishes prekeys.
    let alice = DhKeyPair::generate_with(rng)?;
    let bob = DhKeyPair::generate_with(rng)?;
    let context: Vec<u8> = (0..CONTEXT_LEN).map(|i| i as u8).collect();
    let spk = DhKeyPair::generate_with(rng)?;
    let last_resort = MlKemKeyPair::generate_with(rng)?;
    let mut store = InMemoryPrekeyStore::new();
    store.add_signed_prekey(1, spk.secret().clone());
    store.add_kem_prekey(1, false, last_resort.secret_key().clone());
    let bundle = PrekeyBundle {
        identity_key: *bob.public(),
        signed_prekey_id: 1,
        signed_prekey: *spk.public(),
        one_time_prekey: None,
        kem_prekey_id: 1,
        kem_prekey: last_resort.public_key().clone(),
        kem_prekey_one_time: false,
    };
    // One pair of one-time prekeys per first message answered.
    let mut bundles_otk = Vec::with_capacity(n);
    for i in 0..n {
        let id = u32::try_from(i + 1).context("too many iterations")?;
        let opk = DhKeyPair::generate_with(rng)?;
        let okem = MlKemKeyPair::generate_with(rng)?;
        store.add_one_time_prekey(id, opk.secret().clone());
        store.add_kem_prekey(id, true, okem.secret_key().clone());
        bundles_otk.push(PrekeyBundle {
            one_time_prekey: Some((id, *opk.public())),
            kem_prekey_id: id,
            kem_prekey: okem.public_key().clone(),
            kem_prekey_one_time: true,
            ..bundle.clone()
        });
    }
    let first_message = |rng: &mut dyn RandomSource, b: &PrekeyBundle| {
        Session::initiate(rng, &alice, b, &context)?.encrypt(rng, &plaintext)
    };
    let initials = (0..n)
        .map(|_| first_message(rng, &bundle))
        .collect::<Result<Vec<_>, _>>()?;
    let initials_otk = bundles_otk
        .iter()
        .map(|b| first_message(rng, b))
        .collect::<Result<Vec<_>, _>>()?;

    // A session both ways: Alice's first message, Bob's reply; Alice's next
    // message is a step.
    let mut a0 = Session::initiate(rng, &alice, &bundle, &context)?;
    let (mut b0, got) =
        Session::respond(&bob, &mut store, &context, &a0.encrypt(rng, &plaintext)?)?;
    if *got != plaintext {
        bail!("the first message did not round-trip");
    }
    a0.decrypt(&b0.encrypt(rng, &plaintext)?)?;
    // The same chain: a step opens it, then every message is in it.
    let mut a_chain = a0.clone();
    let mut b_chain = b0.clone();
    b_chain.decrypt(&a_chain.encrypt(rng, &plaintext)?)?;
    let chain_msgs = (0..n)
        .map(|_| a_chain.encrypt(rng, &plaintext))
        .collect::<Result<Vec<_>, _>>()?;
    // Steps: every copy of Alice's session steps on its next message, and
    // every copy of Bob's takes one such step.
    let step_senders = vec![a0.clone(); n];
    let step_msgs = (0..n)
        .map(|_| a0.clone().encrypt(rng, &plaintext))
        .collect::<Result<Vec<_>, _>>()?;
    let step_receivers = vec![b0.clone(); n];
    if *b0.decrypt(&step_msgs[0])? != plaintext {
        bail!("a step message did not round-trip");
    }

    let bytes_of = |kind: Kind| -> usize {
        match kind {
            Kind::First => initials[0].len(),
            Kind::FirstOtk => initials_otk[0].len(),
            Kind::Ratchet => chain_msgs[0].len(),
            Kind::Step => step_msgs[0].len(),
        }
    };
    let msg_bytes: BTreeMap<Kind, usize> = [Kind::First, Kind::FirstOtk, Kind::Ratchet, Kind::Step]
        .into_iter()
        .map(|k| (k, bytes_of(k)))
        .collect();

    // The primitives' inputs, of the sizes these messages use.
    let ad = associated_data(alice.public(), bob.public(), &context)?;
    let (th_ct, _) = kem::encapsulate_deterministic(last_resort.public_key(), &[7; 32]);
    let ids = PrekeyIds {
        signed_prekey: 1,
        one_time_prekey: None,
        kem_prekey: 1,
        kem_prekey_one_time: false,
    };
    let otk_pub = *spk.public();
    let t0 = transcript(
        &ad,
        alice.public(),
        &ids,
        spk.public(),
        None,
        last_resort.public_key(),
        &th_ct,
    );
    let t1 = transcript(
        &ad,
        alice.public(),
        &PrekeyIds {
            one_time_prekey: Some(1),
            ..ids
        },
        spk.public(),
        Some(&otk_pub),
        last_resort.public_key(),
        &th_ct,
    );
    let mut scalar = [0u8; 32];
    rng.fill(&mut scalar)?;
    let mut kem_seed = [0u8; 64];
    rng.fill(&mut kem_seed)?;
    let kem_pair = MlKemKeyPair::from_seed(&kem_seed);
    let (kem_ct, _) = kem::encapsulate_deterministic(kem_pair.public_key(), &[9; 32]);
    let peer = spk.public().to_bytes();
    let (key, other_key) = bound::hop_kdf(&[1; 32], &[2; 32], &[3; 32]);
    let body_aad = ad.len() + 1 + NONCE_LEN + ENCRYPTED_HEADER_LEN;
    let mut aead = BTreeMap::from([
        (Prim::SealHeader, (ad.len(), HEADER_LEN)),
        (Prim::OpenHeader, (ad.len(), HEADER_LEN)),
        (Prim::OpenHeaderWrongKey, (ad.len(), HEADER_LEN)),
        (Prim::SealBody, (body_aad, plaintext.len())),
        (Prim::OpenBody, (body_aad, plaintext.len())),
    ]);
    for (&kind, &len) in &msg_bytes {
        aead.insert(Prim::SealOuter(kind), (OUTER_AAD_LEN, len));
        aead.insert(Prim::OpenOuter(kind), (OUTER_AAD_LEN, len));
    }
    let fx = Fixtures {
        scalar,
        dh_secret: DhSecret::from_bytes(scalar),
        peer,
        dalek: StaticX25519::new(X25519Impl::Dalek, &scalar)?,
        aws_lc: StaticX25519::new(X25519Impl::AwsLc, &scalar)?,
        kem_seed,
        kem: kem_pair,
        kem_m: [9; 32],
        kem_ct,
        blake2b: BTreeMap::from([
            (Prim::Blake2bKey, vec![1; 32]),
            (Prim::Blake2bRoot, vec![2; 96]),
            (Prim::Blake2bSecret, vec![3; 32 + 3 * DH_LEN + 32]),
            (Prim::Blake2bSecretOtk, vec![4; 32 + 4 * DH_LEN + 32]),
            (Prim::Blake2bTranscript, t0),
            (Prim::Blake2bTranscriptOtk, t1),
        ]),
        aead,
        key,
        other_key,
    };

    // Every closure timed: v1, the v2 operations, every primitive the bound
    // or the outer layer uses, and the informative extras.
    let store = RefCell::new(store);
    let session_copy = b_chain.clone();
    let dh_peer = dh::DhPublic::from_bytes(fx.peer);
    let mut random = [0u8; 32];
    let mut timed: Vec<(Label, Closure<'_>)> = Vec::new();
    timed.push((
        Label::V1Seal,
        Box::new(|| {
            black_box(envelope::seal(
                &v1_sender,
                &v1_recipient.public_key(),
                black_box(&content),
            )?);
            Ok(())
        }),
    ));
    timed.push((
        Label::V1Open,
        Box::new(|| {
            black_box(envelope::open(&v1_recipient, black_box(&v1_envelope))?);
            Ok(())
        }),
    ));
    let text_bytes = text_str.as_bytes();
    let send_first = |b: &PrekeyBundle| -> anyhow::Result<()> {
        let mut s = Session::initiate(&mut OsRandom, &alice, b, &context)?;
        black_box(s.encrypt(&mut OsRandom, &envelope::pad(black_box(text_bytes))?)?);
        Ok(())
    };
    timed.push((
        Label::Measured(Op::FirstSend),
        Box::new(move || send_first(&bundle)),
    ));
    let mut i_otk = 0usize;
    timed.push((
        Label::Measured(Op::FirstSendOtk),
        Box::new(move || {
            let b = bundles_otk.get(i_otk % n).context("bundle")?;
            i_otk += 1;
            send_first(b)
        }),
    ));
    for (op, pool) in [
        (Op::FirstReceive, initials),
        (Op::FirstReceiveOtk, initials_otk),
    ] {
        let (store, bob, context) = (&store, &bob, &context);
        let mut i = 0usize;
        timed.push((
            Label::Measured(op),
            Box::new(move || {
                let m = pool.get(i).context("more calls than messages")?;
                i += 1;
                let (s, plain) = Session::respond(bob, &mut *store.borrow_mut(), context, m)?;
                black_box(envelope::unpad(&plain)?);
                black_box(s);
                Ok(())
            }),
        ));
    }
    timed.push((
        Label::Measured(Op::RatchetSend),
        Box::new(move || {
            black_box(a_chain.encrypt(&mut OsRandom, &envelope::pad(black_box(text_bytes))?)?);
            Ok(())
        }),
    ));
    let mut i_chain = 0usize;
    timed.push((
        Label::Measured(Op::RatchetReceive),
        Box::new(move || {
            let m = chain_msgs
                .get(i_chain)
                .context("more calls than messages")?;
            i_chain += 1;
            black_box(envelope::unpad(&b_chain.decrypt(m)?)?);
            Ok(())
        }),
    ));
    let (mut senders, mut i_send) = (step_senders, 0usize);
    timed.push((
        Label::Measured(Op::StepSend),
        Box::new(move || {
            let s = senders
                .get_mut(i_send)
                .context("more calls than sessions")?;
            i_send += 1;
            black_box(s.encrypt(&mut OsRandom, &envelope::pad(black_box(text_bytes))?)?);
            Ok(())
        }),
    ));
    let (mut receivers, mut i_recv) = (step_receivers, 0usize);
    timed.push((
        Label::Measured(Op::StepReceive),
        Box::new(move || {
            let s = receivers
                .get_mut(i_recv)
                .context("more calls than sessions")?;
            let m = step_msgs.get(i_recv).context("more calls than messages")?;
            i_recv += 1;
            black_box(envelope::unpad(&s.decrypt(m)?)?);
            Ok(())
        }),
    ));
    let mut prims: Vec<Prim> = Op::ALL
        .iter()
        .flat_map(|op| op.counts().into_iter().chain(op.outer()))
        .map(|(p, _)| p)
        .collect();
    prims.sort();
    prims.dedup();
    for &p in &prims {
        timed.extend(primitive_closures(p, &fx)?);
    }
    timed.push((
        Label::Other("x25519_dh_parse_each"),
        Box::new(|| {
            black_box(dh::dh(black_box(&fx.dh_secret), &dh_peer)?);
            Ok(())
        }),
    ));
    timed.push((
        Label::Other("session_clone"),
        Box::new(|| {
            black_box(black_box(&session_copy).clone());
            Ok(())
        }),
    ));
    timed.push((
        Label::Other("os_random_32"),
        Box::new(move || {
            OsRandom.fill(black_box(&mut random))?;
            Ok(())
        }),
    ));

    let (labels, mut closures): (Vec<Label>, Vec<Closure<'_>>) = timed.into_iter().unzip();
    let mut ops: Vec<TimedOp<'_>> = closures
        .iter_mut()
        .map(|c| c.as_mut() as TimedOp<'_>)
        .collect();
    let medians = interleaved_all(ROUNDS, per_round, &mut ops)?;
    drop(ops);
    drop(closures);

    // Sort the medians out.
    let us = |ns: f64| ns / 1e3;
    let (mut v1_seal, mut v1_open) = (0.0, 0.0);
    let mut measured: BTreeMap<&str, f64> = BTreeMap::new();
    let mut fastest: BTreeMap<Prim, f64> = BTreeMap::new();
    let mut implementations = Map::new();
    let mut other = Map::new();
    for (label, ns) in labels.into_iter().zip(medians) {
        match label {
            Label::V1Seal => v1_seal = us(ns),
            Label::V1Open => v1_open = us(ns),
            Label::Measured(op) => {
                measured.insert(op.name(), us(ns));
            }
            Label::Prim(p, imp) => {
                let e = fastest.entry(p).or_insert(f64::INFINITY);
                *e = e.min(us(ns));
                implementations.insert(format!("{}_{imp}", p.name()), json!(us(ns)));
            }
            Label::Other(name) => {
                other.insert(name.into(), json!(us(ns)));
            }
        }
    }
    if let Some((p, _)) = fastest.iter().find(|(_, c)| **c <= 0.0 || !c.is_finite()) {
        bail!(
            "{} measured 0 µs per call: too few --iterations for the CPU clock to register",
            p.name()
        );
    }
    let cost = |list: &[(Prim, u32)]| -> anyhow::Result<f64> {
        list.iter().try_fold(0.0, |sum, (p, k)| {
            let c = fastest.get(p).context("a primitive was not timed")?;
            Ok(sum + c * f64::from(*k))
        })
    };
    let v1_bytes = v1_envelope.len();
    let ratio = |a: f64, b: f64| a / b.max(f64::MIN_POSITIVE);

    let mut ops_json = Map::new();
    let mut summary = Vec::new();
    for op in Op::ALL {
        let cpu = *measured
            .get(op.name())
            .context("an operation was not timed")?;
        let counts = op.counts();
        let bound = cost(&counts)?;
        let outer = cost(&op.outer())?;
        let v1 = if op.sends() { v1_seal } else { v1_open };
        let bytes = *msg_bytes.get(&op.kind()).context("message size")?;
        let mut parts: BTreeMap<&str, f64> = BTreeMap::new();
        for &(p, k) in &counts {
            let c = fastest.get(&p).context("a primitive was not timed")?;
            *parts.entry(p.family()).or_default() += c * f64::from(k);
        }
        let counts_json: Map<String, Value> = counts
            .iter()
            .map(|(p, k)| (p.name().to_string(), json!(k)))
            .collect();
        ops_json.insert(
            op.name().into(),
            json!({
                "cpu_us": cpu,
                "bound_us": bound,
                "ratio": ratio(bound, cpu),
                "vs_v1": ratio(cpu, v1),
                "bytes": bytes,
                "bytes_vs_v1": ratio(bytes as f64, v1_bytes as f64),
                "outer_us": outer,
                "sealed_cpu_us": cpu + outer,
                "sealed_vs_v1": ratio(cpu + outer, v1),
                "sealed_bytes": bytes + OUTER_LAYER_BYTES,
                "sealed_bytes_vs_v1": ratio((bytes + OUTER_LAYER_BYTES) as f64, v1_bytes as f64),
                "bound_parts_us": parts,
                "counts": counts_json,
            }),
        );
        let (top, top_us) = parts
            .iter()
            .max_by(|a, b| a.1.total_cmp(b.1))
            .map_or(("none", 0.0), |(f, c)| (*f, *c));
        summary.push(format!(
            "  {:<18} {:>7.1} µs (bound {:>6.1}, ratio {:.2}; {:>4.2}× v1 {}; {} {:.0} % of the bound) \
             {:>5} B ({:.1}× v1); + outer layer {:.1} µs, {} B",
            op.name(),
            cpu,
            bound,
            ratio(bound, cpu),
            ratio(cpu, v1),
            if op.sends() { "seal" } else { "open" },
            top,
            100.0 * ratio(top_us, bound),
            bytes,
            ratio(bytes as f64, v1_bytes as f64),
            outer,
            OUTER_LAYER_BYTES,
        ));
    }
    let primitives: Map<String, Value> = fastest
        .iter()
        .map(|(p, c)| (p.name().to_string(), json!(c)))
        .collect();
    let ratchet_overhead = nightjar_ratchet::message::RATCHET_OVERHEAD;
    let out = json!({
        "bench": "message-v2",
        "iterations": n,
        "rounds": ROUNDS,
        "text_bytes": text,
        "plaintext_bytes": plaintext.len(),
        "v1_padded_bytes": v1_padded,
        "context_bytes": CONTEXT_LEN,
        "v1_seal_us": v1_seal,
        "v1_open_us": v1_open,
        "v1_bytes": v1_bytes,
        "outer_layer_bytes": OUTER_LAYER_BYTES,
        "ops": ops_json,
        "primitives_us": primitives,
        "implementations_us": implementations,
        "other_us": other,
        "bytes_breakdown": {
            "ratchet_overhead": ratchet_overhead,
            "header_x25519": DH_LEN,
            "header_mlkem_public_key": MLKEM768_PUBLIC_KEY_LEN,
            "header_mlkem_ciphertext": MLKEM768_CIPHERTEXT_LEN,
            "initial_prefix": INITIAL_PREFIX_LEN,
            "initial_mlkem_ciphertext": MLKEM768_CIPHERTEXT_LEN,
            "one_time_prekey_id": 4,
        },
    });
    eprintln!(
        "v1: seal {v1_seal:.1} µs, open {v1_open:.1} µs, {v1_bytes} B for a {text}-byte text \
         (v1 pads to {v1_padded} B, v2's plaintext is {} B); v2, CPU per call (ratchet layer; \
         the outer sealed layer modelled from its primitives):",
        plaintext.len()
    );
    for line in summary {
        eprintln!("{line}");
    }
    let p = |prim: Prim| fastest.get(&prim).copied().unwrap_or(f64::NAN);
    eprintln!(
        "  primitives: X25519 keygen {:.1} µs, agree {:.1} µs ({:.1} µs through dh::dh, which \
         parses the secret each time); ML-KEM-768 keygen {:.1}, encaps {:.1}, decaps {:.1}, key \
         check {:.1} µs; BLAKE2b 32 B {:.2} µs, transcript {:.2} µs; AEAD header seal {:.2} µs, \
         open {:.2} µs; a v2 message carries {ratchet_overhead} B of ratchet overhead \
         ({MLKEM768_PUBLIC_KEY_LEN} B ML-KEM key + {MLKEM768_CIPHERTEXT_LEN} B ciphertext in \
         every header), a first message {INITIAL_PREFIX_LEN} B more",
        p(Prim::X25519Keygen),
        p(Prim::X25519Agree),
        other
            .get("x25519_dh_parse_each")
            .and_then(Value::as_f64)
            .unwrap_or(f64::NAN),
        p(Prim::MlKemKeygen),
        p(Prim::MlKemEncaps),
        p(Prim::MlKemDecaps),
        p(Prim::MlKemCheck),
        p(Prim::Blake2bKey),
        p(Prim::Blake2bTranscript),
        p(Prim::SealHeader),
        p(Prim::OpenHeader),
    );
    println!("{out}");
    Ok(())
}
