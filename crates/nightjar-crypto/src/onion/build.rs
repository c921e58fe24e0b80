//! The client's side of a request: building the layers of an onion packet.
//!
//! Not for: choosing the path (the caller does, with
//! [`crate::random_index_with`] or [`crate::random_index`]).

use zeroize::Zeroizing;

use super::error::OnionError;
use super::keys::{hop_keys, seal_in_place};
use super::layout::*;
use super::open::ReturnKeys;
use crate::identity::{PublicKey, ephemeral_agree};
use crate::random::{OsRandom, RandomSource};

/// What the client sends to the first node of the path (its guard):
/// `Onion { ephemeral_key, layer, hop: 0 }` on the wire.
#[derive(Clone, PartialEq, Eq, Debug)]
pub struct OnionPacket {
    /// `E_0`, the first hop's ephemeral X25519 public key.
    pub ephemeral_key: [u8; 32],
    /// `L_0`, the first hop's layer.
    pub layer: Vec<u8>,
}

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

pub(super) fn check_path(
    hops: &[(PublicKey, u32)],
    request_frame: &[u8],
) -> Result<(), OnionError> {
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
