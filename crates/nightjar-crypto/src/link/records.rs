//! The records of a link: the joining device's request, the existing
//! device's hello and answers, and the short authentication string both
//! show (`docs/PROTOCOL.md` §17.2–§17.5).

use core::fmt;

use zeroize::Zeroizing;

use super::code::LinkSecret;
use super::error::LinkError;
use crate::dh::{DH_LEN, DhPublic, DhSecret, DhShared, dh};
use crate::hash::{blake2b_keyed_32, blake2b_keyed_56, ct_eq};
use crate::labels;
use crate::random::RandomSource;
use crate::xchacha::{self, TAG_LEN};

/// First byte of a link request (its version).
pub const REQUEST_VERSION: u8 = 0x01;

/// First byte of a hello (its kind among the account's published link
/// records).
pub const HELLO_KIND: u8 = 0x01;

/// First byte of an answer record (its kind among the account's published
/// link records).
pub const ANSWER_KIND: u8 = 0x02;

/// Largest payload of a link request.
pub const MAX_REQUEST_PAYLOAD: usize = 4_096;

/// Largest payload of one answer record.
pub const MAX_ANSWER_PAYLOAD: usize = 60_000;

/// Bytes a request adds to its payload: version, `E_J`, tag.
pub const REQUEST_OVERHEAD: usize = 1 + DH_LEN + TAG_LEN;

/// Largest link request.
pub const MAX_REQUEST_LEN: usize = REQUEST_OVERHEAD + MAX_REQUEST_PAYLOAD;

/// Length of a hello: kind, `E_X`, tag.
pub const HELLO_LEN: usize = 1 + DH_LEN + TAG_LEN;

/// Bytes an answer record adds to its payload: kind, `E_X`, index, tag.
pub const ANSWER_OVERHEAD: usize = 1 + DH_LEN + 4 + TAG_LEN;

/// Largest answer record.
pub const MAX_ANSWER_LEN: usize = ANSWER_OVERHEAD + MAX_ANSWER_PAYLOAD;

/// The number of distinct short authentication strings (six digits).
pub const SAS_MODULUS: u32 = 1_000_000;

const REQUEST: &str = "link request";
const HELLO: &str = "link hello";
const ANSWER: &str = "link answer";

/// XChaCha20-Poly1305 key and nonce: `h = BLAKE2b-56(key = label, parts)`,
/// key `h[0..32]`, nonce `h[32..56]`.
fn key_nonce(label: &'static str, parts: &[&[u8]]) -> (Zeroizing<[u8; 32]>, [u8; 24]) {
    let h = blake2b_keyed_56(label, parts);
    let mut key = Zeroizing::new([0u8; 32]);
    let mut nonce = [0u8; 24];
    let (k, n) = h.split_at(32);
    key.copy_from_slice(k);
    nonce.copy_from_slice(n);
    (key, nonce)
}

/// Appends `AEAD(key, nonce, plaintext, aad)` (ciphertext ‖ tag) to `out`.
/// `max` is the payload limit of `what`, already checked by the caller.
fn seal_onto(
    what: &'static str,
    max: usize,
    out: &mut Vec<u8>,
    (key, nonce): (&[u8; 32], &[u8; 24]),
    aad: &[u8],
    plaintext: &[u8],
) -> Result<(), LinkError> {
    let start = out.len();
    out.extend_from_slice(plaintext);
    let (_, body) = out.split_at_mut(start);
    // Payloads are bounded far below what the AEAD can take, so this does
    // not fail; should it ever, the payload was too large for it.
    let tag =
        xchacha::seal_detached(key, nonce, aad, body).map_err(|_| LinkError::PayloadTooLarge {
            what,
            len: plaintext.len(),
            max,
        })?;
    out.extend_from_slice(&tag);
    Ok(())
}

/// Opens `sealed` = ciphertext ‖ tag; the plaintext, or `DecryptFailed`.
fn open(
    what: &'static str,
    key: &[u8; 32],
    nonce: &[u8; 24],
    aad: &[u8],
    sealed: &[u8],
) -> Result<Zeroizing<Vec<u8>>, LinkError> {
    let mut buf = Zeroizing::new(sealed.to_vec());
    xchacha::open_in_place(key, nonce, aad, &mut buf)
        .map_err(|_| LinkError::DecryptFailed { what })?;
    buf.truncate(sealed.len().saturating_sub(TAG_LEN));
    Ok(buf)
}

/// The checks every decoder makes first, in this order: at most `max`
/// bytes (else *too large*), not empty, the first byte `first` (else
/// *unexpected kind*), at least `min` bytes (else *truncated*). Returns the
/// bytes after the first.
fn check_layout<'a>(
    what: &'static str,
    bytes: &'a [u8],
    first: u8,
    min: usize,
    max: usize,
) -> Result<&'a [u8], LinkError> {
    let len = bytes.len();
    if len > max {
        return Err(LinkError::TooLarge { what, len, max });
    }
    let (&got, rest) = bytes
        .split_first()
        .ok_or(LinkError::Truncated { what, len })?;
    if got != first {
        return Err(LinkError::UnexpectedKind {
            what,
            expected: first,
            got,
        });
    }
    if len < min {
        return Err(LinkError::Truncated { what, len });
    }
    Ok(rest)
}

/// Splits a 32-byte X25519 key off the front of `bytes` (whose length the
/// caller has checked).
fn take_key<'a>(what: &'static str, bytes: &'a [u8]) -> Result<(DhPublic, &'a [u8]), LinkError> {
    let (key, rest) = bytes.split_at_checked(DH_LEN).ok_or(LinkError::Truncated {
        what,
        len: bytes.len(),
    })?;
    let key = DhPublic::from_slice(key).map_err(|_| LinkError::Truncated {
        what,
        len: bytes.len(),
    })?;
    Ok((key, rest))
}

/// A short authentication string: six decimal digits both devices show,
/// which the user compares (`h = BLAKE2b-32(key = "nightjar/v2/link-sas",
/// L ‖ S ‖ E_J ‖ E_X)`, `u32be(h[0..4]) mod 1,000,000`).
///
/// `Display` prints it as two groups of three digits, `"042 917"`. Not a
/// secret once shown, so comparing two is ordinary equality.
#[derive(Clone, Copy, PartialEq, Eq, Hash, Debug)]
pub struct Sas(pub(super) u32);

impl Sas {
    /// The value, `0..1_000_000`.
    pub fn value(&self) -> u32 {
        self.0
    }
}

impl fmt::Display for Sas {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:03} {:03}", self.0 / 1_000, self.0 % 1_000)
    }
}

/// What both devices derive every key of a session from once they agree
/// on `S`: `L`, `S`, `E_J` and `E_X`.
#[derive(Clone)]
struct Transcript {
    code: LinkSecret,
    shared: DhShared,
    joiner: DhPublic,
    linker: DhPublic,
}

impl Transcript {
    fn hello_key(&self) -> (Zeroizing<[u8; 32]>, [u8; 24]) {
        key_nonce(
            labels::LINK_HELLO,
            &[
                self.code.as_bytes(),
                self.shared.as_bytes(),
                self.joiner.as_bytes(),
                self.linker.as_bytes(),
            ],
        )
    }

    /// `[0x01] ‖ E_X ‖ E_J`.
    fn hello_aad(&self) -> [u8; 1 + 2 * DH_LEN] {
        let mut aad = [0u8; 1 + 2 * DH_LEN];
        let (kind, keys) = aad.split_at_mut(1);
        let (linker, joiner) = keys.split_at_mut(DH_LEN);
        kind.copy_from_slice(&[HELLO_KIND]);
        linker.copy_from_slice(self.linker.as_bytes());
        joiner.copy_from_slice(self.joiner.as_bytes());
        aad
    }

    fn sas(&self) -> Sas {
        let h = blake2b_keyed_32(
            labels::LINK_SAS,
            &[
                self.code.as_bytes(),
                self.shared.as_bytes(),
                self.joiner.as_bytes(),
                self.linker.as_bytes(),
            ],
        );
        let [a, b, c, d, ..] = *h;
        Sas(u32::from_be_bytes([a, b, c, d]) % SAS_MODULUS)
    }

    fn answer_key(&self, index: u32) -> (Zeroizing<[u8; 32]>, [u8; 24]) {
        key_nonce(
            labels::LINK_ANSWER,
            &[
                self.code.as_bytes(),
                self.shared.as_bytes(),
                self.joiner.as_bytes(),
                self.linker.as_bytes(),
                &index.to_be_bytes(),
            ],
        )
    }

    /// `[0x02] ‖ E_X ‖ E_J ‖ u32be(i)`.
    fn answer_aad(&self, index: u32) -> [u8; 1 + 2 * DH_LEN + 4] {
        let mut aad = [0u8; 1 + 2 * DH_LEN + 4];
        let (kind, rest) = aad.split_at_mut(1);
        let (linker, rest) = rest.split_at_mut(DH_LEN);
        let (joiner, i) = rest.split_at_mut(DH_LEN);
        kind.copy_from_slice(&[ANSWER_KIND]);
        linker.copy_from_slice(self.linker.as_bytes());
        joiner.copy_from_slice(self.joiner.as_bytes());
        i.copy_from_slice(&index.to_be_bytes());
        aad
    }
}

// ---------------------------------------------------------------------------
// The joining device's request
// ---------------------------------------------------------------------------

/// The joining device's side before a hello arrives: its ephemeral X25519
/// key `e_J` and `E_J`. Keep it (in memory) until a hello opens with
/// [`JoinerState::open_hello`].
///
/// Zeroized on drop (the secret); `Debug` prints only `E_J`.
#[derive(Clone)]
pub struct JoinerState {
    secret: DhSecret,
    public: DhPublic,
}

impl fmt::Debug for JoinerState {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("JoinerState")
            .field("joiner", &self.public)
            .field("secret", &"[redacted]")
            .finish()
    }
}

/// Seals a link request (the joining device, with the code the user
/// entered): draws 32 bytes for `e_J` from `rng`, then
/// `k ‖ n = BLAKE2b-56(key = "nightjar/v2/link-request", L ‖ E_J)` and
/// `request = [0x01] ‖ E_J ‖ AEAD(k, n, payload, aad = [0x01] ‖ E_J)`.
///
/// `payload` is the caller's (the client's device information), at most
/// [`MAX_REQUEST_PAYLOAD`] bytes. Returns the state that opens the hello,
/// and the request (49 bytes plus the payload).
pub fn seal_request_with(
    rng: &mut dyn RandomSource,
    code: &LinkSecret,
    payload: &[u8],
) -> Result<(JoinerState, Vec<u8>), LinkError> {
    if payload.len() > MAX_REQUEST_PAYLOAD {
        return Err(LinkError::PayloadTooLarge {
            what: REQUEST,
            len: payload.len(),
            max: MAX_REQUEST_PAYLOAD,
        });
    }
    let secret = DhSecret::generate_with(rng).map_err(LinkError::from_random)?;
    let public = secret.public();
    let (key, nonce) = key_nonce(labels::LINK_REQUEST, &[code.as_bytes(), public.as_bytes()]);
    let mut request = Vec::with_capacity(REQUEST_OVERHEAD + payload.len());
    request.push(REQUEST_VERSION);
    request.extend_from_slice(public.as_bytes());
    let aad = request.clone();
    seal_onto(
        REQUEST,
        MAX_REQUEST_PAYLOAD,
        &mut request,
        (&key, &nonce),
        &aad,
        payload,
    )?;
    Ok((JoinerState { secret, public }, request))
}

/// Opens a link request (the existing device, with the code it showed).
///
/// Checks, in this order: at most [`MAX_REQUEST_LEN`] bytes (*too large*),
/// not empty and first byte `0x01` (*truncated*, *unexpected kind*), at
/// least 49 bytes (*truncated*), then decrypts (*decrypt failed*: another
/// code, or altered). Returns `E_J`, to answer with [`answer_hello_with`],
/// and the payload. `E_J` is not checked here: a small-order one is refused
/// when answering.
pub fn open_request(
    code: &LinkSecret,
    request: &[u8],
) -> Result<(DhPublic, Zeroizing<Vec<u8>>), LinkError> {
    let rest = check_layout(
        REQUEST,
        request,
        REQUEST_VERSION,
        REQUEST_OVERHEAD,
        MAX_REQUEST_LEN,
    )?;
    let (joiner, sealed) = take_key(REQUEST, rest)?;
    let aad = request.get(..1 + DH_LEN).ok_or(LinkError::Truncated {
        what: REQUEST,
        len: request.len(),
    })?;
    let (key, nonce) = key_nonce(labels::LINK_REQUEST, &[code.as_bytes(), joiner.as_bytes()]);
    let payload = open(REQUEST, &key, &nonce, aad, sealed)?;
    Ok((joiner, payload))
}

// ---------------------------------------------------------------------------
// The existing device's hello and answers
// ---------------------------------------------------------------------------

/// The existing device's side of one session, after it answered a request
/// with a hello: `L`, `S`, `E_J`, `E_X` (its ephemeral secret `e_X` is
/// dropped once `S` is computed). Seals the answer records with
/// [`LinkerState::seal_answer`].
///
/// Zeroized on drop; `Debug` prints only the public keys.
#[derive(Clone)]
pub struct LinkerState {
    transcript: Transcript,
    sas: Sas,
}

impl fmt::Debug for LinkerState {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("LinkerState")
            .field("joiner", &self.transcript.joiner)
            .field("linker", &self.transcript.linker)
            .field("secrets", &"[redacted]")
            .finish()
    }
}

/// Answers a request whose `E_J` [`open_request`] returned (the existing
/// device): draws 32 bytes for `e_X` from `rng`; `S = X25519(e_X, E_J)`
/// (all zero: *low-order point*);
/// `k ‖ n = BLAKE2b-56(key = "nightjar/v2/link-hello", L ‖ S ‖ E_J ‖ E_X)`;
/// `hello = [0x01] ‖ E_X ‖ tag`, the tag of `AEAD(k, n, empty, aad = [0x01]
/// ‖ E_X ‖ E_J)`.
///
/// Returns the session's state, the hello (49 bytes) and the short
/// authentication string to show. Send the first answer only once the user
/// has confirmed that the joining device shows the same string.
pub fn answer_hello_with(
    rng: &mut dyn RandomSource,
    code: &LinkSecret,
    joiner: &DhPublic,
) -> Result<(LinkerState, Vec<u8>, Sas), LinkError> {
    let secret = DhSecret::generate_with(rng).map_err(LinkError::from_random)?;
    let linker = secret.public();
    let shared = dh(&secret, joiner).map_err(|_| LinkError::LowOrderPoint)?;
    drop(secret);
    let transcript = Transcript {
        code: code.clone(),
        shared,
        joiner: *joiner,
        linker,
    };
    let (key, nonce) = transcript.hello_key();
    let mut hello = Vec::with_capacity(HELLO_LEN);
    hello.push(HELLO_KIND);
    hello.extend_from_slice(linker.as_bytes());
    seal_onto(
        HELLO,
        0,
        &mut hello,
        (&key, &nonce),
        &transcript.hello_aad(),
        &[],
    )?;
    let sas = transcript.sas();
    Ok((LinkerState { transcript, sas }, hello, sas))
}

impl LinkerState {
    /// `E_J`, the joining device's key this session answers.
    pub fn joiner_public(&self) -> &DhPublic {
        &self.transcript.joiner
    }

    /// `E_X`, this session's key (every hello and answer of it carries it).
    pub fn linker_public(&self) -> &DhPublic {
        &self.transcript.linker
    }

    /// The short authentication string of this session.
    pub fn sas(&self) -> Sas {
        self.sas
    }

    /// Seals answer record `index`:
    /// `k ‖ n = BLAKE2b-56(key = "nightjar/v2/link-answer", L ‖ S ‖ E_J ‖ E_X ‖ u32be(index))`,
    /// `record = [0x02] ‖ E_X ‖ u32be(index) ‖ AEAD(k, n, payload, aad = [0x02] ‖ E_X ‖ E_J ‖ u32be(index))`.
    ///
    /// Record 0 carries the first payload (the account seed and what goes
    /// with it), records 1, 2, … further chunks (history). `payload` is at
    /// most [`MAX_ANSWER_PAYLOAD`] bytes. The key and nonce depend only on
    /// the session and `index`, so **each index carries one payload**:
    /// sealing the same index again with other bytes reuses the nonce (the
    /// same bytes again give the same record, which is harmless).
    pub fn seal_answer(&self, index: u32, payload: &[u8]) -> Result<Vec<u8>, LinkError> {
        if payload.len() > MAX_ANSWER_PAYLOAD {
            return Err(LinkError::PayloadTooLarge {
                what: ANSWER,
                len: payload.len(),
                max: MAX_ANSWER_PAYLOAD,
            });
        }
        let (key, nonce) = self.transcript.answer_key(index);
        let mut record = Vec::with_capacity(ANSWER_OVERHEAD + payload.len());
        record.push(ANSWER_KIND);
        record.extend_from_slice(self.transcript.linker.as_bytes());
        record.extend_from_slice(&index.to_be_bytes());
        seal_onto(
            ANSWER,
            MAX_ANSWER_PAYLOAD,
            &mut record,
            (&key, &nonce),
            &self.transcript.answer_aad(index),
            payload,
        )?;
        Ok(record)
    }
}

// ---------------------------------------------------------------------------
// The joining device opens the hello and the answers
// ---------------------------------------------------------------------------

/// The joining device's side of a session, once a hello has opened: opens
/// the answer records with [`JoinerSession::open_answer`].
///
/// Zeroized on drop; `Debug` prints only the public keys.
#[derive(Clone)]
pub struct JoinerSession {
    transcript: Transcript,
    sas: Sas,
}

impl fmt::Debug for JoinerSession {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("JoinerSession")
            .field("joiner", &self.transcript.joiner)
            .field("linker", &self.transcript.linker)
            .field("secrets", &"[redacted]")
            .finish()
    }
}

impl JoinerState {
    /// `E_J`, the key the request carried.
    pub fn public(&self) -> &DhPublic {
        &self.public
    }

    /// Checks a hello and starts the session (the joining device).
    ///
    /// Checks, in this order: at most 49 bytes (*too large*), not empty and
    /// first byte `0x01` (*truncated*, *unexpected kind*: an answer record
    /// starts with `0x02`), exactly 49 bytes (*truncated*);
    /// `S = X25519(e_J, E_X)` not all zero (*low-order point*); the tag
    /// (*decrypt failed*: a hello for another request, or made without `L`
    /// or `S`). Returns the session and the short authentication string to
    /// show. The state stays usable: a hello that fails changes nothing, so
    /// the device can try the next one.
    pub fn open_hello(
        &self,
        code: &LinkSecret,
        hello: &[u8],
    ) -> Result<(JoinerSession, Sas), LinkError> {
        let rest = check_layout(HELLO, hello, HELLO_KIND, HELLO_LEN, HELLO_LEN)?;
        let (linker, tag) = take_key(HELLO, rest)?;
        let shared = dh(&self.secret, &linker).map_err(|_| LinkError::LowOrderPoint)?;
        let transcript = Transcript {
            code: code.clone(),
            shared,
            joiner: self.public,
            linker,
        };
        let (key, nonce) = transcript.hello_key();
        open(HELLO, &key, &nonce, &transcript.hello_aad(), tag)?;
        let sas = transcript.sas();
        Ok((JoinerSession { transcript, sas }, sas))
    }
}

impl JoinerSession {
    /// `E_J`, this device's key.
    pub fn joiner_public(&self) -> &DhPublic {
        &self.transcript.joiner
    }

    /// `E_X`, the key every answer of this session carries.
    pub fn linker_public(&self) -> &DhPublic {
        &self.transcript.linker
    }

    /// The short authentication string of this session.
    pub fn sas(&self) -> Sas {
        self.sas
    }

    /// Opens an answer record. Checks, in this order: at most
    /// [`MAX_ANSWER_LEN`] bytes (*too large*), not empty and first byte
    /// `0x02` (*truncated*, *unexpected kind*: a hello starts with `0x01`),
    /// at least 53 bytes (*truncated*), its `E_X` this session's (*other
    /// session*), then decrypts (*decrypt failed*). Returns the record's
    /// index and payload.
    pub fn open_answer(&self, record: &[u8]) -> Result<(u32, Zeroizing<Vec<u8>>), LinkError> {
        let rest = check_layout(ANSWER, record, ANSWER_KIND, ANSWER_OVERHEAD, MAX_ANSWER_LEN)?;
        let (linker, rest) = take_key(ANSWER, rest)?;
        if !ct_eq(linker.as_bytes(), self.transcript.linker.as_bytes()) {
            return Err(LinkError::OtherSession);
        }
        let (index, sealed) = rest.split_first_chunk::<4>().ok_or(LinkError::Truncated {
            what: ANSWER,
            len: record.len(),
        })?;
        let index = u32::from_be_bytes(*index);
        let (key, nonce) = self.transcript.answer_key(index);
        let payload = open(
            ANSWER,
            &key,
            &nonce,
            &self.transcript.answer_aad(index),
            sealed,
        )?;
        Ok((index, payload))
    }
}
