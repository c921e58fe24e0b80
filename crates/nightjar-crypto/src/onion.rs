//! Onion layers, version 1: a request wrapped once per hop of a path of
//! service nodes, so that each node learns only its neighbours, and the
//! answer wrapped back once per hop on the way home.
//!
//! This module builds and opens the *bytes* of onion layers and onion
//! responses. It is **not** a router: it does no I/O, picks no paths (see
//! [`crate::identity::random_index`] for the randomness clients use to pick
//! them), keeps no state between calls, and does not know the wire format of
//! the request frame it carries (`nightjar-wire` does; checking that the inner
//! frame is not itself an onion request is the caller's job). It gives no
//! protection against a global observer timing packets, and a path's nodes
//! see the packet sizes (which the buckets below make coarse).
//!
//! # Keys of one hop
//!
//! ```text
//! N_i  = node i's Ed25519 key;  Y_i = ed25519_pk_to_curve25519(N_i)
//! e_i  = 32 random bytes;  E_i = X25519(e_i, 9);  S_i = X25519(e_i, Y_i)  (≠ 0)
//! q    = BLAKE2b(outlen 56, key "nightjar/v1/onion-request",  S_i ‖ E_i ‖ Y_i)
//! r    = BLAKE2b(outlen 56, key "nightjar/v1/onion-response", S_i ‖ E_i ‖ Y_i)
//! req  = (q[0..32], q[32..56]);  resp = (r[0..32], r[32..56])
//! aad  = 0x01 ‖ E_i    (both directions)
//! ```
//!
//! # Request layers (built destination first)
//!
//! ```text
//! D       = u32be(|F|) ‖ F ‖ 0x00…   padded to the smallest REQUEST_BUCKETS ≥ 4 + |F|
//! P_{n-1} = 0x01 ‖ 0x02 ‖ D                                         (deliver)
//! P_i     = 0x01 ‖ 0x01 ‖ N_{i+1} ‖ E_{i+1} ‖ u32be(timeout_ms_i) ‖ L_{i+1}   (forward)
//! L_i     = XChaCha20-Poly1305-IETF(req key_i, req nonce_i, P_i, aad_i)
//! ```
//!
//! # Response layers (built destination first, on the way back)
//!
//! ```text
//! destination: R = 0x01 ‖ 0x02 ‖ D'   D' = u32be(|G|) ‖ G ‖ 0x00… to a RESPONSE_BUCKETS size
//! relay i:     R = 0x01 ‖ 0x01 ‖ B_{i+1}
//! relay error: R = 0x01 ‖ 0x03 ‖ code ‖ 0x00 × (HOP_ERROR_PAD − 1)
//! B_i = XChaCha20-Poly1305-IETF(resp key_i, resp nonce_i, R, aad_i)
//! ```
//!
//! Each ephemeral key carries exactly one request and one response, so the
//! derived nonces are never reused. `docs/PROTOCOL.md` ("Onion routing") is
//! the normative text; `test-vectors/onion.json` holds byte-exact vectors.

use core::fmt;

use zeroize::{Zeroize, ZeroizeOnDrop, Zeroizing};

pub use crate::error::OnionError;
use crate::hash::blake2b_keyed_56;
use crate::identity::{Identity, PublicKey, ephemeral_agree};
use crate::labels;
use crate::random::{OsRandom, RandomSource};
use crate::xchacha;

/// Version byte: the first byte of every layer plaintext and every response
/// plaintext, and the first byte of the AEAD's associated data.
pub const ONION_VERSION: u8 = 0x01;

/// The allowed lengths of the padded request `D` inside the innermost layer.
pub const REQUEST_BUCKETS: [usize; 5] = [1024, 4096, 16384, 65536, 98304];

/// The allowed lengths of the padded response `D'` inside the destination's
/// answer.
pub const RESPONSE_BUCKETS: [usize; 8] = [
    1024, 4096, 16384, 65536, 262_144, 1_048_576, 4_194_304, 8_454_144,
];

/// Most layers a path may have, the destination's included.
pub const MAX_HOPS: usize = 8;

/// Bytes a forward layer adds around its inner layer: version and kind (2),
/// next node key (32), next ephemeral key (32), timeout (4), AEAD tag (16).
pub const FORWARD_OVERHEAD: usize = 2 + KEY_LEN + KEY_LEN + 4 + TAG_LEN;

/// Longest layer [`peel`] accepts: the layer a node receives first on a
/// path of [`MAX_HOPS`] hops carrying a request in the largest bucket
/// (98,924 bytes).
pub const MAX_LAYER_LEN: usize =
    2 + LARGEST_REQUEST_BUCKET + TAG_LEN + (MAX_HOPS - 1) * FORWARD_OVERHEAD;

/// Length of a hop error's code and padding (the plaintext after version and
/// kind), so that every hop error has the same size.
pub const HOP_ERROR_PAD: usize = 1024;

/// Longest request frame `F` a layer can carry (the largest request bucket
/// minus the 4-byte length).
pub const MAX_REQUEST_FRAME_LEN: usize = LARGEST_REQUEST_BUCKET - 4;

/// Longest response frame `G` a destination can answer with (the largest
/// response bucket minus the 4-byte length).
pub const MAX_RESPONSE_FRAME_LEN: usize = LARGEST_RESPONSE_BUCKET - 4;

const KEY_LEN: usize = 32;
const NONCE_LEN: usize = 24;
const TAG_LEN: usize = 16;
/// Version, kind, next node key, next ephemeral key and timeout.
const FORWARD_HEADER_LEN: usize = 2 + KEY_LEN + KEY_LEN + 4;
const LARGEST_REQUEST_BUCKET: usize = REQUEST_BUCKETS[REQUEST_BUCKETS.len() - 1];
const LARGEST_RESPONSE_BUCKET: usize = RESPONSE_BUCKETS[RESPONSE_BUCKETS.len() - 1];

/// Layer kind: forward to the next hop.
const KIND_FORWARD: u8 = 0x01;
/// Layer kind: deliver to this node.
const KIND_DELIVER: u8 = 0x02;
/// Response kind: a relay's wrapping of the next hop's answer.
const KIND_RELAYED: u8 = 0x01;
/// Response kind: the destination's answer.
const KIND_FINAL: u8 = 0x02;
/// Response kind: a relay reporting that its next hop failed.
const KIND_HOP_ERROR: u8 = 0x03;

// ---------------------------------------------------------------------------
// Public types
// ---------------------------------------------------------------------------

/// What the client sends to the first node of the path (its guard):
/// `Onion { ephemeral_key, layer, hop: 0 }` on the wire.
#[derive(Clone, PartialEq, Eq, Debug)]
pub struct OnionPacket {
    /// `E_0`, the first hop's ephemeral X25519 public key.
    pub ephemeral_key: [u8; 32],
    /// `L_0`, the first hop's layer.
    pub layer: Vec<u8>,
}

/// Why a relay could not get an answer from the next hop, as reported in a
/// hop error (response kind `0x03`).
#[derive(Clone, Copy, PartialEq, Eq, Hash, Debug)]
#[repr(u8)]
pub enum HopFailure {
    /// The next hop is not a registered node.
    NotANode = 1,
    /// The next hop could not be reached (the connection failed).
    Unreachable = 2,
    /// The next hop did not answer within the layer's timeout.
    TimedOut = 3,
    /// The next hop answered an error instead of an onion response (for
    /// example, it could not peel its layer).
    Refused = 4,
    /// The relay itself is overloaded and did not forward the layer.
    Overloaded = 5,
}

impl HopFailure {
    /// The code for a byte on the wire; `None` for codes this build does not know.
    pub fn from_u8(code: u8) -> Option<HopFailure> {
        match code {
            1 => Some(HopFailure::NotANode),
            2 => Some(HopFailure::Unreachable),
            3 => Some(HopFailure::TimedOut),
            4 => Some(HopFailure::Refused),
            5 => Some(HopFailure::Overloaded),
            _ => None,
        }
    }

    /// The byte on the wire.
    pub fn as_u8(self) -> u8 {
        self as u8
    }
}

impl fmt::Display for HopFailure {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            HopFailure::NotANode => "the next hop is not a registered node",
            HopFailure::Unreachable => "the next hop could not be reached",
            HopFailure::TimedOut => "the next hop timed out",
            HopFailure::Refused => "the next hop refused the layer",
            HopFailure::Overloaded => "the relay is overloaded",
        })
    }
}

/// What a node found inside its layer.
#[derive(Clone, PartialEq, Eq, Debug)]
pub enum Peeled {
    /// Relay: send `Onion { ephemeral_key, layer, hop: hop + 1 }` to `next`,
    /// and wrap its answer with [`ReplyKey::relayed`].
    Forward {
        /// The next node's Ed25519 key (not validated here: look it up in
        /// the registry, and answer [`HopFailure::NotANode`] if it is not there).
        next: [u8; 32],
        /// The next hop's ephemeral key.
        ephemeral_key: [u8; 32],
        /// How long to wait for the next hop's answer, in milliseconds (cap
        /// it at the node's own maximum).
        timeout_ms: u32,
        /// The next hop's layer.
        layer: Vec<u8>,
    },
    /// Destination: handle the request frame and answer with
    /// [`ReplyKey::final_response`].
    Deliver {
        /// The request frame (length prefix included), unpadded. The caller
        /// must refuse it if it is itself an onion request.
        request_frame: Vec<u8>,
    },
}

/// Response keys of one hop: XChaCha20-Poly1305 key, nonce, and the
/// ephemeral public key bound as associated data. Zeroized on drop.
#[derive(Zeroize, ZeroizeOnDrop)]
struct HopKey {
    key: [u8; KEY_LEN],
    nonce: [u8; NONCE_LEN],
    ephemeral: [u8; KEY_LEN],
}

impl HopKey {
    fn aad(&self) -> [u8; 1 + KEY_LEN] {
        aad(&self.ephemeral)
    }
}

/// The client's keys to open the answer to one onion request: one response
/// key per hop.
///
/// Zeroized on drop; `Debug` prints only the number of hops.
pub struct ReturnKeys {
    hops: Vec<HopKey>,
}

impl fmt::Debug for ReturnKeys {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ReturnKeys")
            .field("hops", &self.hops.len())
            .field("keys", &"[redacted]")
            .finish()
    }
}

/// A node's key to answer the onion layer it peeled, exactly once.
///
/// Every method consumes it, so a node cannot encrypt two answers under the
/// same key and nonce. Zeroized on drop; `Debug` prints `[redacted]`.
pub struct ReplyKey(HopKey);

impl fmt::Debug for ReplyKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("ReplyKey([redacted])")
    }
}

// ---------------------------------------------------------------------------
// Helpers
// ---------------------------------------------------------------------------

fn aad(ephemeral: &[u8; KEY_LEN]) -> [u8; 1 + KEY_LEN] {
    let mut aad = [0u8; 1 + KEY_LEN];
    let (version, rest) = aad.split_at_mut(1);
    version.fill(ONION_VERSION);
    rest.copy_from_slice(ephemeral);
    aad
}

/// The request and response keys of one hop, from its shared secret `s`,
/// ephemeral public key `e` and the node's X25519 public key `y`.
fn hop_keys(s: &[u8; 32], e: &[u8; 32], y: &[u8; 32]) -> (HopKey, HopKey) {
    let (q, r) = hop_key_material(s, e, y);
    let split = |h: &[u8; 56]| {
        let mut key = HopKey {
            key: [0; KEY_LEN],
            nonce: [0; NONCE_LEN],
            ephemeral: *e,
        };
        let (k, n) = h.split_at(KEY_LEN);
        key.key.copy_from_slice(k);
        key.nonce.copy_from_slice(n);
        key
    };
    (split(&q), split(&r))
}

/// The 56 bytes (key ‖ nonce) of a hop's request and of its response:
/// `BLAKE2b-56(label, S ‖ E ‖ Y)` under the request and response labels.
/// The one KDF of the onion layers; [`crate::bound`] measures it too.
pub(crate) fn hop_key_material(
    s: &[u8; 32],
    e: &[u8; 32],
    y: &[u8; 32],
) -> (Zeroizing<[u8; 56]>, Zeroizing<[u8; 56]>) {
    (
        blake2b_keyed_56(labels::ONION_REQUEST, &[s, e, y]),
        blake2b_keyed_56(labels::ONION_RESPONSE, &[s, e, y]),
    )
}

/// The smallest bucket of `buckets` that holds `4 + len` bytes.
fn bucket_for(buckets: &[usize], len: usize) -> Option<usize> {
    let needed = len.checked_add(4)?;
    buckets.iter().copied().find(|&b| b >= needed)
}

/// Reads `u32be(len) ‖ frame ‖ 0x00…` of a bucket-sized `d`; returns the
/// frame's range within `d`.
fn unpad_range(d: &[u8], buckets: &[usize]) -> Option<core::ops::Range<usize>> {
    if !buckets.contains(&d.len()) {
        return None;
    }
    let (len, rest) = d.split_first_chunk::<4>()?;
    let len = usize::try_from(u32::from_be_bytes(*len)).ok()?;
    let padding = rest.get(len..)?;
    if padding.iter().any(|&b| b != 0) {
        return None;
    }
    Some(4..4 + len)
}

/// Encrypts `buf[start..end - 16]` in place and writes the tag to
/// `buf[end - 16..end]`.
fn seal_in_place(key: &HopKey, buf: &mut [u8], start: usize, end: usize) -> Result<(), OnionError> {
    let region = buf
        .get_mut(start..end)
        .ok_or(OnionError::Malformed("layer offsets out of range"))?;
    let (plain, tag_out) = region
        .split_last_chunk_mut::<TAG_LEN>()
        .ok_or(OnionError::Malformed("layer shorter than its tag"))?;
    let tag = xchacha::seal_detached(&key.key, &key.nonce, &key.aad(), plain)
        .map_err(|_| OnionError::Malformed("layer too long to encrypt"))?;
    tag_out.copy_from_slice(&tag);
    Ok(())
}

/// Seals a response plaintext `R` (given as a buffer already holding `R`
/// followed by 16 spare bytes for the tag).
fn seal_response(key: &HopKey, mut buf: Vec<u8>) -> Result<Vec<u8>, OnionError> {
    let len = buf.len();
    seal_in_place(key, &mut buf, 0, len)?;
    Ok(buf)
}

// ---------------------------------------------------------------------------
// Client: building
// ---------------------------------------------------------------------------

/// Builds the onion layers of `request_frame` through `hops`, with a fresh
/// random ephemeral key per hop.
///
/// `hops[0]` is the guard the client connects to and `hops[n - 1]` the
/// destination that handles the request; `hops[i].1` is how long node `i`
/// waits for node `i + 1`'s answer, in milliseconds (ignored for the last).
/// `request_frame` is a complete request frame, length prefix included, of at
/// most [`MAX_REQUEST_FRAME_LEN`] bytes; it must not itself be an onion
/// request. Returns the packet to send to `hops[0]` and the keys to open the
/// answer with [`ReturnKeys::open`].
pub fn build(
    hops: &[(PublicKey, u32)],
    request_frame: &[u8],
) -> Result<(OnionPacket, ReturnKeys), OnionError> {
    build_with(&mut OsRandom, hops, request_frame)
}

/// [`build`] with the ephemeral keys drawn from `rng` instead of the
/// operating system's generator.
///
/// Real clients pass [`OsRandom`] (or call [`build`]); a
/// [`crate::random::SeededRandom`] makes the packet reproducible, for
/// simulations and tests only.
pub fn build_with(
    rng: &mut dyn RandomSource,
    hops: &[(PublicKey, u32)],
    request_frame: &[u8],
) -> Result<(OnionPacket, ReturnKeys), OnionError> {
    check_path(hops, request_frame)?;
    let mut ephemerals = Zeroizing::new(vec![[0u8; 32]; hops.len()]);
    for e in ephemerals.iter_mut() {
        rng.fill(e).map_err(|err| match err {
            crate::CryptoError::RandomUnavailable(msg) => OnionError::RandomUnavailable(msg),
            other => OnionError::RandomUnavailable(other.to_string()),
        })?;
    }
    build_with_ephemerals(hops, request_frame, &ephemerals)
}

/// Builds the layers with caller-chosen ephemeral X25519 secrets, one per hop.
///
/// **For test vectors only.** Reusing an ephemeral secret for a node reuses
/// that hop's keys and nonces and destroys confidentiality and unlinkability;
/// always call [`build`] in real code.
pub fn build_with_ephemerals(
    hops: &[(PublicKey, u32)],
    request_frame: &[u8],
    ephemerals: &[[u8; 32]],
) -> Result<(OnionPacket, ReturnKeys), OnionError> {
    check_path(hops, request_frame)?;
    if ephemerals.len() != hops.len() {
        return Err(OnionError::Malformed(
            "build_with_ephemerals needs exactly one ephemeral secret per hop",
        ));
    }
    let n = hops.len();
    let bucket =
        bucket_for(&REQUEST_BUCKETS, request_frame.len()).ok_or(OnionError::RequestTooLarge {
            len: request_frame.len(),
        })?;

    // Per-hop keys.
    let mut publics = Vec::with_capacity(n);
    let mut request_keys = Vec::with_capacity(n);
    let mut response_keys = Vec::with_capacity(n);
    for ((node, _), e) in hops.iter().zip(ephemerals) {
        let y = node.x25519();
        let (e_pub, shared) = ephemeral_agree(e, &y).ok_or(OnionError::LowOrderPoint)?;
        let (req, resp) = hop_keys(&shared, &e_pub, &y);
        publics.push(e_pub);
        request_keys.push(req);
        response_keys.push(resp);
    }

    // All layers share one buffer: layer i occupies
    // [i·70, total − i·16), its plaintext the first part and its tag the
    // last 16 bytes, so each layer is encrypted in place around the next.
    let total = 2 + bucket + TAG_LEN + (n - 1) * FORWARD_OVERHEAD;
    let mut buf = vec![0u8; total];
    let off = |i: usize| i * FORWARD_HEADER_LEN;
    let end = |i: usize| total - i * TAG_LEN;

    // Innermost: 0x01 ‖ 0x02 ‖ u32be(|F|) ‖ F ‖ zeros (already zero).
    let frame_len =
        u32::try_from(request_frame.len()).map_err(|_| OnionError::RequestTooLarge {
            len: request_frame.len(),
        })?;
    let last = n - 1;
    let deliver = buf
        .get_mut(off(last)..off(last) + 6 + request_frame.len())
        .ok_or(OnionError::Malformed("layer offsets out of range"))?;
    let (kind, rest) = deliver.split_at_mut(2);
    kind.copy_from_slice(&[ONION_VERSION, KIND_DELIVER]);
    let (len, frame) = rest.split_at_mut(4);
    len.copy_from_slice(&frame_len.to_be_bytes());
    frame.copy_from_slice(request_frame);

    for (i, key) in request_keys.iter().enumerate().rev() {
        // Every layer but the last: 0x01 ‖ 0x01 ‖ N_{i+1} ‖ E_{i+1} ‖ u32be(timeout_i).
        if let (Some((next, _)), Some(next_e)) = (hops.get(i + 1), publics.get(i + 1)) {
            let timeout = hops.get(i).map_or(0, |(_, t)| *t);
            let header = buf
                .get_mut(off(i)..off(i + 1))
                .ok_or(OnionError::Malformed("layer offsets out of range"))?;
            let (vk, rest) = header.split_at_mut(2);
            vk.copy_from_slice(&[ONION_VERSION, KIND_FORWARD]);
            let (node_key, rest) = rest.split_at_mut(KEY_LEN);
            node_key.copy_from_slice(next.as_bytes());
            let (eph, t) = rest.split_at_mut(KEY_LEN);
            eph.copy_from_slice(next_e);
            t.copy_from_slice(&timeout.to_be_bytes());
        }
        seal_in_place(key, &mut buf, off(i), end(i))?;
    }

    let ephemeral_key = *publics.first().ok_or(OnionError::NoHops)?;
    Ok((
        OnionPacket {
            ephemeral_key,
            layer: buf,
        },
        ReturnKeys {
            hops: response_keys,
        },
    ))
}

fn check_path(hops: &[(PublicKey, u32)], request_frame: &[u8]) -> Result<(), OnionError> {
    if hops.is_empty() {
        return Err(OnionError::NoHops);
    }
    if hops.len() > MAX_HOPS {
        return Err(OnionError::TooManyHops(hops.len()));
    }
    if request_frame.len() > MAX_REQUEST_FRAME_LEN {
        return Err(OnionError::RequestTooLarge {
            len: request_frame.len(),
        });
    }
    Ok(())
}

// ---------------------------------------------------------------------------
// Client: opening the answer
// ---------------------------------------------------------------------------

impl ReturnKeys {
    /// Number of hops of the path (the number of response layers to open).
    pub fn hops(&self) -> usize {
        self.hops.len()
    }

    /// Opens the guard's answer `B_0`, one layer per hop, and returns the
    /// destination's response frame `G` (length prefix included, unpadded).
    ///
    /// Fails with [`OnionError::HopFailed`] if hop `i` answered a hop error
    /// (hop `i + 1` failed), and with [`OnionError::BadResponse`] if hop
    /// `i`'s layer does not decrypt or parse (hop `i` answered garbage, or
    /// someone altered it). Never panics, whatever the bytes.
    pub fn open(&self, blob: &[u8]) -> Result<Vec<u8>, OnionError> {
        let mut buf = blob.to_vec();
        let mut start = 0usize;
        let mut end = buf.len();
        let last = self.hops.len().saturating_sub(1);
        for (hop, key) in self.hops.iter().enumerate() {
            let bad = OnionError::BadResponse { hop };
            let region = buf.get_mut(start..end).ok_or(bad.clone())?;
            xchacha::open_in_place(&key.key, &key.nonce, &key.aad(), region)
                .map_err(|_| bad.clone())?;
            end -= TAG_LEN;
            let r = buf.get(start..end).ok_or(bad.clone())?;
            let (&[version, kind], rest) = r.split_first_chunk::<2>().ok_or(bad.clone())?;
            if version != ONION_VERSION {
                return Err(bad);
            }
            match kind {
                KIND_RELAYED if hop < last => start += 2,
                KIND_FINAL if hop == last => {
                    let frame = unpad_range(rest, &RESPONSE_BUCKETS).ok_or(bad)?;
                    let (g_start, g_end) = (start + 2 + frame.start, start + 2 + frame.end);
                    buf.truncate(g_end);
                    buf.drain(..g_start);
                    return Ok(buf);
                }
                KIND_HOP_ERROR if hop < last => {
                    let (&code, padding) = rest.split_first().ok_or(bad.clone())?;
                    if padding.len() != HOP_ERROR_PAD - 1 || padding.iter().any(|&b| b != 0) {
                        return Err(bad);
                    }
                    let failure = HopFailure::from_u8(code).ok_or(bad)?;
                    return Err(OnionError::HopFailed { hop, failure });
                }
                _ => return Err(bad),
            }
        }
        // Only reached with no hops (every path has at least one).
        Err(OnionError::NoHops)
    }
}

// ---------------------------------------------------------------------------
// Node: peeling and answering
// ---------------------------------------------------------------------------

/// Peels one layer with the node's identity: decrypts `layer` under the
/// sender's `ephemeral_key` and says whether to forward or deliver.
///
/// Checks, in order: the layer's size (≤ [`MAX_LAYER_LEN`], else
/// [`OnionError::LayerTooLarge`]) and minimum length, key agreement
/// (non-zero), decryption, the version byte, then the kind and its fields.
/// Never panics, whatever the bytes. On success, also returns the
/// [`ReplyKey`] with which the node must answer, exactly once.
pub fn peel(
    node: &Identity,
    ephemeral_key: &[u8; 32],
    layer: &[u8],
) -> Result<(Peeled, ReplyKey), OnionError> {
    if layer.len() > MAX_LAYER_LEN {
        return Err(OnionError::LayerTooLarge { len: layer.len() });
    }
    let (ct, tag) = layer
        .split_last_chunk::<TAG_LEN>()
        .ok_or(OnionError::Malformed("layer shorter than its tag"))?;
    if ct.len() < 2 {
        return Err(OnionError::Malformed("layer too short"));
    }
    let shared = node
        .x25519_agree(ephemeral_key)
        .ok_or(OnionError::LowOrderPoint)?;
    let (req, resp) = hop_keys(&shared, ephemeral_key, &node.x25519_public());

    // Decrypt straight from the input into the output buffer (one pass).
    let mut p = vec![0u8; ct.len()];
    xchacha::open_detached(&req.key, &req.nonce, &req.aad(), ct, tag, &mut p)
        .map_err(|_| OnionError::DecryptFailed)?;

    let (&[version, kind], rest) = p
        .split_first_chunk::<2>()
        .ok_or(OnionError::Malformed("layer too short"))?;
    if version != ONION_VERSION {
        return Err(OnionError::UnsupportedVersion(version));
    }
    let peeled = match kind {
        KIND_FORWARD => {
            let (next, rest) = rest
                .split_first_chunk::<KEY_LEN>()
                .ok_or(OnionError::Malformed("forward layer too short"))?;
            let (e_next, rest) = rest
                .split_first_chunk::<KEY_LEN>()
                .ok_or(OnionError::Malformed("forward layer too short"))?;
            let (timeout, inner) = rest
                .split_first_chunk::<4>()
                .ok_or(OnionError::Malformed("forward layer too short"))?;
            if inner.is_empty() {
                return Err(OnionError::Malformed("forward layer has no inner layer"));
            }
            let (next, ephemeral_key, timeout_ms) = (*next, *e_next, u32::from_be_bytes(*timeout));
            p.drain(..FORWARD_HEADER_LEN);
            Peeled::Forward {
                next,
                ephemeral_key,
                timeout_ms,
                layer: p,
            }
        }
        KIND_DELIVER => {
            let frame = unpad_range(rest, &REQUEST_BUCKETS)
                .ok_or(OnionError::Malformed("request padding is malformed"))?;
            p.truncate(2 + frame.end);
            p.drain(..2 + frame.start);
            Peeled::Deliver { request_frame: p }
        }
        _ => return Err(OnionError::Malformed("unknown layer kind")),
    };
    Ok((peeled, ReplyKey(resp)))
}

impl ReplyKey {
    /// A relay's answer: wraps `inner`, the bytes the next hop answered
    /// (its `ResponseBody::Onion` blob), as `0x01 ‖ 0x01 ‖ inner`.
    ///
    /// The relay does not (and cannot) check `inner`; the client does. If
    /// `inner` were too long for the cipher (over 2^38 bytes, which no
    /// frame can carry), the answer is a [`HopFailure::Refused`] hop error.
    pub fn relayed(self, inner: &[u8]) -> Vec<u8> {
        let mut buf = Vec::with_capacity(2 + inner.len() + TAG_LEN);
        buf.extend_from_slice(&[ONION_VERSION, KIND_RELAYED]);
        buf.extend_from_slice(inner);
        buf.resize(buf.len() + TAG_LEN, 0);
        match seal_response(&self.0, buf) {
            Ok(sealed) => sealed,
            Err(_) => self.hop_error(HopFailure::Refused),
        }
    }

    /// The destination's answer: pads `response_frame` (a complete response
    /// frame, length prefix included) to a response bucket and seals it.
    ///
    /// Fails with [`OnionError::ResponseTooLarge`] if the frame is longer
    /// than [`MAX_RESPONSE_FRAME_LEN`]; answer something shorter (an error
    /// response) instead.
    pub fn final_response(self, response_frame: &[u8]) -> Result<Vec<u8>, OnionError> {
        let too_large = OnionError::ResponseTooLarge {
            len: response_frame.len(),
        };
        let bucket =
            bucket_for(&RESPONSE_BUCKETS, response_frame.len()).ok_or(too_large.clone())?;
        let len = u32::try_from(response_frame.len()).map_err(|_| too_large)?;
        let mut buf = Vec::with_capacity(2 + bucket + TAG_LEN);
        buf.extend_from_slice(&[ONION_VERSION, KIND_FINAL]);
        buf.extend_from_slice(&len.to_be_bytes());
        buf.extend_from_slice(response_frame);
        buf.resize(2 + bucket + TAG_LEN, 0);
        seal_response(&self.0, buf)
    }

    /// A relay's answer when the next hop failed: `0x01 ‖ 0x03 ‖ code ‖
    /// 0x00 × 1023`, the same size whatever the failure.
    pub fn hop_error(self, failure: HopFailure) -> Vec<u8> {
        let mut buf = vec![0u8; 2 + HOP_ERROR_PAD + TAG_LEN];
        if let Some(head) = buf.get_mut(..3) {
            head.copy_from_slice(&[ONION_VERSION, KIND_HOP_ERROR, failure.as_u8()]);
        }
        // 1,026 bytes always fit the cipher; the fallback is unreachable.
        seal_response(&self.0, buf).unwrap_or_default()
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use crate::identity::Seed;
    use x25519_dalek::StaticSecret;

    fn node(i: u8) -> Identity {
        Identity::from_seed(Seed::from_bytes([0x40 + i; 32]))
    }

    fn path(n: usize) -> (Vec<Identity>, Vec<(PublicKey, u32)>) {
        let ids: Vec<Identity> = (0..n).map(|i| node(i as u8)).collect();
        let hops = ids
            .iter()
            .enumerate()
            .map(|(i, id)| (id.public_key(), 1000 + i as u32))
            .collect();
        (ids, hops)
    }

    /// Runs the packet through the nodes; the destination answers `answer`.
    /// Returns the guard's answer and each hop's answer bytes.
    fn route(
        ids: &[Identity],
        packet: &OnionPacket,
        request: &[u8],
        answer: &[u8],
    ) -> Vec<Vec<u8>> {
        let mut e = packet.ephemeral_key;
        let mut layer = packet.layer.clone();
        let mut replies = Vec::new();
        for (i, id) in ids.iter().enumerate() {
            let (peeled, reply) = peel(id, &e, &layer).unwrap();
            replies.push(reply);
            match peeled {
                Peeled::Forward {
                    next,
                    ephemeral_key,
                    timeout_ms,
                    layer: inner,
                } => {
                    assert!(i + 1 < ids.len());
                    assert_eq!(next, ids[i + 1].public_key().to_bytes());
                    assert_eq!(timeout_ms, 1000 + i as u32);
                    assert_eq!(inner.len() + FORWARD_OVERHEAD, layer.len());
                    e = ephemeral_key;
                    layer = inner;
                }
                Peeled::Deliver { request_frame } => {
                    assert_eq!(i + 1, ids.len());
                    assert_eq!(request_frame, request);
                }
            }
        }
        let mut answers = Vec::new();
        let mut blob = replies.pop().unwrap().final_response(answer).unwrap();
        answers.push(blob.clone());
        while let Some(reply) = replies.pop() {
            blob = reply.relayed(&blob);
            answers.push(blob.clone());
        }
        answers.reverse();
        answers
    }

    #[test]
    fn round_trip_through_one_to_eight_hops() {
        for n in 1..=MAX_HOPS {
            let (ids, hops) = path(n);
            let request = format!("request through {n} hops").into_bytes();
            let (packet, keys) = build(&hops, &request).unwrap();
            assert_eq!(keys.hops(), n);
            let answers = route(&ids, &packet, &request, b"the answer");
            assert_eq!(keys.open(&answers[0]).unwrap(), b"the answer");
        }
    }

    #[test]
    fn seeded_build_replays_from_the_seed_and_still_peels() {
        use crate::random::SeededRandom;
        let (ids, hops) = path(3);
        let request = b"seeded request".to_vec();
        let mut a = SeededRandom::from_seed([3u8; 32]);
        let mut b = SeededRandom::from_seed([3u8; 32]);
        let (pa, ka) = build_with(&mut a, &hops, &request).unwrap();
        let (pb, _) = build_with(&mut b, &hops, &request).unwrap();
        assert_eq!(pa.ephemeral_key, pb.ephemeral_key);
        assert_eq!(pa.layer, pb.layer);
        // The next packet from the same generator uses fresh ephemerals.
        let (pc, _) = build_with(&mut a, &hops, &request).unwrap();
        assert_ne!(pa.ephemeral_key, pc.ephemeral_key);
        let answers = route(&ids, &pa, &request, b"seeded answer");
        assert_eq!(ka.open(&answers[0]).unwrap(), b"seeded answer");
    }

    #[test]
    fn each_relay_answers_different_bytes() {
        let (ids, hops) = path(4);
        let (packet, keys) = build(&hops, b"req").unwrap();
        let answers = route(&ids, &packet, b"req", b"resp");
        for (i, a) in answers.iter().enumerate() {
            for b in answers.iter().skip(i + 1) {
                assert_ne!(a, b);
                // No hop's answer contains the next one's verbatim.
                assert!(!a.windows(b.len()).any(|w| w == b.as_slice()));
            }
        }
        // Each hop adds exactly version, kind and tag.
        for w in answers.windows(2) {
            assert_eq!(w[0].len(), w[1].len() + 2 + TAG_LEN);
        }
        assert_eq!(keys.open(&answers[0]).unwrap(), b"resp");
    }

    #[test]
    fn layers_differ_between_builds_of_the_same_request() {
        let (_, hops) = path(3);
        let (a, _) = build(&hops, b"same").unwrap();
        let (b, _) = build(&hops, b"same").unwrap();
        assert_ne!(a.ephemeral_key, b.ephemeral_key);
        assert_ne!(a.layer, b.layer);
    }

    #[test]
    fn hop_error_is_reported_with_the_failing_relays_index() {
        let (ids, hops) = path(5);
        for failing in 0..4 {
            for failure in [
                HopFailure::NotANode,
                HopFailure::Unreachable,
                HopFailure::TimedOut,
                HopFailure::Refused,
                HopFailure::Overloaded,
            ] {
                let (packet, keys) = build(&hops, b"req").unwrap();
                let mut e = packet.ephemeral_key;
                let mut layer = packet.layer.clone();
                let mut replies = Vec::new();
                for id in ids.iter().take(failing + 1) {
                    let (peeled, reply) = peel(id, &e, &layer).unwrap();
                    replies.push(reply);
                    if let Peeled::Forward {
                        ephemeral_key,
                        layer: inner,
                        ..
                    } = peeled
                    {
                        e = ephemeral_key;
                        layer = inner;
                    }
                }
                let mut blob = replies.pop().unwrap().hop_error(failure);
                assert_eq!(blob.len(), 2 + HOP_ERROR_PAD + TAG_LEN);
                while let Some(reply) = replies.pop() {
                    blob = reply.relayed(&blob);
                }
                assert_eq!(
                    keys.open(&blob),
                    Err(OnionError::HopFailed {
                        hop: failing,
                        failure
                    })
                );
            }
        }
    }

    #[test]
    fn hop_failure_codes_round_trip() {
        for code in 0..=255u8 {
            match HopFailure::from_u8(code) {
                Some(f) => assert_eq!(f.as_u8(), code),
                None => assert!(code == 0 || code > 5),
            }
        }
        assert_eq!(HopFailure::TimedOut.as_u8(), 3);
        assert!(HopFailure::Refused.to_string().contains("refused"));
    }

    #[test]
    fn any_flipped_byte_in_a_layer_is_an_error() {
        let (ids, hops) = path(2);
        let (packet, _) = build(&hops, b"flip me").unwrap();
        for i in 0..packet.layer.len() {
            let mut t = packet.layer.clone();
            t[i] ^= 0x01;
            assert_eq!(
                peel(&ids[0], &packet.ephemeral_key, &t).unwrap_err(),
                OnionError::DecryptFailed,
                "flip of byte {i} accepted"
            );
        }
        for i in 0..32 {
            let mut e = packet.ephemeral_key;
            e[i] ^= 0x80;
            assert!(peel(&ids[0], &e, &packet.layer).is_err());
        }
        for cut in [0usize, 1, 15, 16, 17, 18, packet.layer.len() - 1] {
            assert!(peel(&ids[0], &packet.ephemeral_key, &packet.layer[..cut]).is_err());
        }
        let mut longer = packet.layer.clone();
        longer.push(0);
        assert!(peel(&ids[0], &packet.ephemeral_key, &longer).is_err());
    }

    #[test]
    fn any_flipped_byte_in_a_response_is_an_error() {
        let (ids, hops) = path(3);
        let (packet, keys) = build(&hops, b"req").unwrap();
        let answers = route(&ids, &packet, b"req", b"resp");
        let guard = &answers[0];
        for i in 0..guard.len() {
            let mut t = guard.clone();
            t[i] ^= 0x01;
            assert!(
                matches!(keys.open(&t), Err(OnionError::BadResponse { .. })),
                "flip of byte {i} accepted"
            );
        }
        // A flip in the part of the blob that is hop 1's answer, made before
        // hop 0 wrapped it, is pinned on hop 1.
        let mut inner = answers[1].clone();
        inner[5] ^= 0x40;
        let (_, replies) = replies_for(&ids, &packet);
        let blob = replies.into_iter().next().unwrap().relayed(&inner);
        assert_eq!(keys.open(&blob), Err(OnionError::BadResponse { hop: 1 }));
        for cut in [0usize, 1, 16, 17, guard.len() - 1] {
            assert!(keys.open(&guard[..cut]).is_err());
        }
    }

    /// Peels the whole path and returns the request frame and every hop's reply key.
    fn replies_for(ids: &[Identity], packet: &OnionPacket) -> (Vec<u8>, Vec<ReplyKey>) {
        let mut e = packet.ephemeral_key;
        let mut layer = packet.layer.clone();
        let mut replies = Vec::new();
        for id in ids {
            let (peeled, reply) = peel(id, &e, &layer).unwrap();
            replies.push(reply);
            match peeled {
                Peeled::Forward {
                    ephemeral_key,
                    layer: inner,
                    ..
                } => {
                    e = ephemeral_key;
                    layer = inner;
                }
                Peeled::Deliver { request_frame } => return (request_frame, replies),
            }
        }
        unreachable!("path ended without a deliver layer")
    }

    #[test]
    fn malformed_responses_are_blamed_on_the_right_hop() {
        let (ids, hops) = path(3);
        let (packet, keys) = build(&hops, b"req").unwrap();
        // The destination answering "relayed", or a relay answering "final",
        // is a bad response from that hop.
        let (_, mut replies) = replies_for(&ids, &packet);
        let dest = replies.pop().unwrap();
        let bogus = dest.relayed(b"not a blob");
        let blob = replies.pop().unwrap().relayed(&bogus);
        let blob = replies.pop().unwrap().relayed(&blob);
        assert_eq!(keys.open(&blob), Err(OnionError::BadResponse { hop: 2 }));

        let (_, mut replies) = replies_for(&ids, &packet);
        replies.pop();
        let fake_final = replies.pop().unwrap().final_response(b"forged").unwrap();
        let blob = replies.pop().unwrap().relayed(&fake_final);
        assert_eq!(keys.open(&blob), Err(OnionError::BadResponse { hop: 1 }));

        // The destination cannot send a hop error: it has no next hop.
        let (_, mut replies) = replies_for(&ids, &packet);
        let err = replies.pop().unwrap().hop_error(HopFailure::TimedOut);
        let blob = replies.pop().unwrap().relayed(&err);
        let blob = replies.pop().unwrap().relayed(&blob);
        assert_eq!(keys.open(&blob), Err(OnionError::BadResponse { hop: 2 }));
    }

    #[test]
    fn wrong_node_cannot_peel() {
        let (ids, hops) = path(3);
        let (packet, _) = build(&hops, b"secret request").unwrap();
        for other in &ids[1..] {
            assert_eq!(
                peel(other, &packet.ephemeral_key, &packet.layer).unwrap_err(),
                OnionError::DecryptFailed
            );
        }
        let stranger = node(99);
        assert_eq!(
            peel(&stranger, &packet.ephemeral_key, &packet.layer).unwrap_err(),
            OnionError::DecryptFailed
        );
    }

    #[test]
    fn low_order_ephemeral_key_is_rejected() {
        let (ids, hops) = path(1);
        let (packet, _) = build(&hops, b"x").unwrap();
        let mut one = [0u8; 32];
        one[0] = 1;
        for e in [[0u8; 32], one] {
            assert_eq!(
                peel(&ids[0], &e, &packet.layer).unwrap_err(),
                OnionError::LowOrderPoint
            );
        }
    }

    #[test]
    fn padding_is_exactly_a_bucket() {
        let (ids, hops) = path(1);
        for (len, bucket) in [
            (0usize, 1024usize),
            (1020, 1024),
            (1021, 4096),
            (16_380, 16_384),
            (16_381, 65_536),
            (65_533, 98_304),
            (MAX_REQUEST_FRAME_LEN, 98_304),
        ] {
            let request = vec![0xa5; len];
            let (packet, _) = build(&hops, &request).unwrap();
            assert_eq!(packet.layer.len(), 2 + bucket + TAG_LEN, "len {len}");
            let (peeled, reply) = peel(&ids[0], &packet.ephemeral_key, &packet.layer).unwrap();
            assert_eq!(
                peeled,
                Peeled::Deliver {
                    request_frame: request
                }
            );
            drop(reply);
        }
        for (len, bucket) in [
            (0usize, 1024usize),
            (1020, 1024),
            (1021, 4096),
            (262_140, 262_144),
            (262_141, 1_048_576),
            (MAX_RESPONSE_FRAME_LEN, 8_454_144),
        ] {
            let (packet, keys) = build(&hops, b"r").unwrap();
            let (_, reply) = peel(&ids[0], &packet.ephemeral_key, &packet.layer).unwrap();
            let response = vec![0x5a; len];
            let blob = reply.final_response(&response).unwrap();
            assert_eq!(blob.len(), 2 + bucket + TAG_LEN, "len {len}");
            assert_eq!(keys.open(&blob).unwrap(), response);
        }
    }

    #[test]
    fn oversize_request_and_response_are_rejected() {
        let (ids, hops) = path(2);
        let big = vec![0u8; MAX_REQUEST_FRAME_LEN + 1];
        assert_eq!(
            build(&hops, &big).unwrap_err(),
            OnionError::RequestTooLarge {
                len: MAX_REQUEST_FRAME_LEN + 1
            }
        );
        let (packet, _) = build(&hops, b"ok").unwrap();
        let (_, reply) = peel(&ids[0], &packet.ephemeral_key, &packet.layer).unwrap();
        let big = vec![0u8; MAX_RESPONSE_FRAME_LEN + 1];
        assert_eq!(
            reply.final_response(&big).unwrap_err(),
            OnionError::ResponseTooLarge {
                len: MAX_RESPONSE_FRAME_LEN + 1
            }
        );
        assert_eq!(
            peel(
                &ids[0],
                &packet.ephemeral_key,
                &vec![0u8; MAX_LAYER_LEN + 1]
            )
            .unwrap_err(),
            OnionError::LayerTooLarge {
                len: MAX_LAYER_LEN + 1
            }
        );
    }

    #[test]
    fn path_length_is_checked() {
        assert_eq!(build(&[], b"x").unwrap_err(), OnionError::NoHops);
        let (_, hops) = path(MAX_HOPS + 1);
        assert_eq!(
            build(&hops, b"x").unwrap_err(),
            OnionError::TooManyHops(MAX_HOPS + 1)
        );
        let (_, hops) = path(2);
        assert!(matches!(
            build_with_ephemerals(&hops, b"x", &[[1; 32]]),
            Err(OnionError::Malformed(_))
        ));
    }

    #[test]
    fn max_layer_len_is_the_size_of_a_maximal_eight_hop_layer() {
        assert_eq!(FORWARD_OVERHEAD, 86);
        assert_eq!(MAX_LAYER_LEN, 98_924);
        let (ids, hops) = path(MAX_HOPS);
        let request = vec![7u8; MAX_REQUEST_FRAME_LEN];
        let (packet, keys) = build(&hops, &request).unwrap();
        assert_eq!(packet.layer.len(), MAX_LAYER_LEN);
        let answers = route(&ids, &packet, &request, b"done");
        assert_eq!(keys.open(&answers[0]).unwrap(), b"done");
    }

    #[test]
    fn deliver_layer_with_bad_padding_or_kind_is_malformed() {
        // Hand-build single-hop layers around chosen plaintexts.
        let id = node(0);
        let seal = |p: &[u8]| {
            let e = [9u8; 32];
            let secret = StaticSecret::from(e);
            let e_pub = x25519_dalek::PublicKey::from(&secret).to_bytes();
            let y = id.x25519_public();
            let s = secret.diffie_hellman(&x25519_dalek::PublicKey::from(y));
            let (req, _) = hop_keys(s.as_bytes(), &e_pub, &y);
            let mut buf = p.to_vec();
            buf.resize(p.len() + TAG_LEN, 0);
            let len = buf.len();
            seal_in_place(&req, &mut buf, 0, len).unwrap();
            (e_pub, buf)
        };
        let deliver = |len: u32, d_len: usize, pad: u8| {
            let mut p = vec![ONION_VERSION, KIND_DELIVER];
            p.extend_from_slice(&len.to_be_bytes());
            p.resize(2 + d_len, 0);
            if let Some(b) = p.last_mut() {
                *b = pad;
            }
            p
        };
        let good = deliver(3, 1024, 0);
        let (e, l) = seal(&good);
        assert_eq!(
            peel(&id, &e, &l).unwrap().0,
            Peeled::Deliver {
                request_frame: vec![0, 0, 0]
            }
        );
        for (p, why) in [
            (deliver(3, 1024, 1), "non-zero padding"),
            (deliver(3, 1000, 0), "not a bucket"),
            (deliver(1021, 1024, 0), "length beyond the bucket"),
            (deliver(u32::MAX, 1024, 0), "huge length"),
            (vec![ONION_VERSION, 0x07, 0, 0], "unknown kind"),
            (vec![ONION_VERSION, KIND_FORWARD, 1, 2, 3], "short forward"),
            (
                {
                    let mut p = vec![ONION_VERSION, KIND_FORWARD];
                    p.resize(FORWARD_HEADER_LEN, 1);
                    p
                },
                "forward without inner layer",
            ),
        ] {
            let (e, l) = seal(&p);
            assert!(
                matches!(peel(&id, &e, &l), Err(OnionError::Malformed(_))),
                "{why} accepted"
            );
        }
        let mut v2 = good.clone();
        v2[0] = 2;
        let (e, l) = seal(&v2);
        assert_eq!(
            peel(&id, &e, &l).unwrap_err(),
            OnionError::UnsupportedVersion(2)
        );
    }

    #[test]
    fn debug_output_redacts_keys() {
        let (ids, hops) = path(2);
        let (packet, keys) = build(&hops, b"x").unwrap();
        let (_, reply) = peel(&ids[0], &packet.ephemeral_key, &packet.layer).unwrap();
        let k = format!("{keys:?}");
        assert!(k.contains("[redacted]") && k.contains("hops: 2"), "{k}");
        assert_eq!(format!("{reply:?}"), "ReplyKey([redacted])");
    }
}
