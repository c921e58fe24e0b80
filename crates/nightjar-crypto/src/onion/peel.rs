//! A node's side of a request: peeling one layer to learn whether to
//! forward or deliver.
//!
//! Not for: answering (see `reply`) or relaying (the node's transport does).

use super::error::OnionError;
use super::keys::hop_keys;
use super::layout::*;
use super::reply::ReplyKey;
use crate::identity::Identity;
use crate::xchacha;

/// What a node found inside its layer.
#[derive(Clone, PartialEq, Eq, Debug)]
pub enum Peeled {
    /// Relay: send `Onion { ephemeral_key, layer, hop: hop + 1 }` to `next`,
    /// and wrap its answer with [`ReplyKey::relayed`].
    Forward {
        /// The next node's Ed25519 key (not validated here: look it up in
        /// the registry, and answer [`HopFailure::NotANode`](super::HopFailure::NotANode) if it is not there).
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
