//! Setting a circuit up: the client builds the `create` layers, one per hop,
//! and each node peels its own (`docs/PROTOCOL.md` §11.10, "Creating").
//!
//! Not for: data cells (see `data`) or the circuit tables (the node's and
//! the client's `circuit` modules).

use zeroize::Zeroizing;

use super::data::CircuitKeys;
use super::error::CircuitError;
use super::keys::{CreateKey, hop_keys};
use super::layout::*;
use crate::identity::{Identity, PublicKey, ephemeral_agree};
use crate::random::RandomSource;
use crate::xchacha;

const KIND_EXTEND: u8 = 0x01;
const KIND_END: u8 = 0x02;

/// What the client sends the guard to create a circuit:
/// `0x01 ‖ circuit ID ‖ ephemeral_key ‖ layer`, 1,232 bytes in all.
#[derive(Clone, PartialEq, Eq, Debug)]
pub struct CreatePacket {
    /// `E_0`.
    pub ephemeral_key: [u8; 32],
    /// `C_0`.
    pub layer: Vec<u8>,
}

impl CreatePacket {
    /// The `create` cell for the guard, with the client's circuit ID.
    pub fn cell(&self, circuit: CircuitId) -> Vec<u8> {
        let mut cell = Vec::with_capacity(CELL_LEN);
        cell.push(CELL_CREATE);
        cell.extend_from_slice(&circuit.0.to_be_bytes());
        cell.extend_from_slice(&self.ephemeral_key);
        cell.extend_from_slice(&self.layer);
        cell
    }
}

/// What a node found in its create layer.
#[derive(Clone, PartialEq, Eq, Debug)]
pub enum CreatePeeled {
    /// Relay: extend the circuit to `next` with this ephemeral key and layer.
    Extend {
        /// The next node's Ed25519 key (check it against the registry).
        next: [u8; 32],
        /// `E_{i+1}`.
        ephemeral_key: [u8; 32],
        /// `C_{i+1}`.
        layer: Vec<u8>,
    },
    /// This node is the circuit's exit, of a circuit of `hops` hops (told
    /// by the end layer's length, so the exit knows its payload length
    /// [`payload_len`]`(hops)`).
    End {
        /// The circuit's number of hops, 1 to 8.
        hops: usize,
    },
}

/// Builds the create layers of a circuit through `hops` (guard first, exit
/// last) with fresh ephemeral keys from `rng`. Returns the packet for the
/// guard and the client's keys for the circuit's data cells.
pub fn build_create(
    rng: &mut dyn RandomSource,
    hops: &[PublicKey],
) -> Result<(CreatePacket, CircuitKeys), CircuitError> {
    payload_len(hops.len())?;
    let mut ephemerals = Zeroizing::new(vec![[0u8; 32]; hops.len()]);
    for e in ephemerals.iter_mut() {
        rng.fill(e)
            .map_err(|err| CircuitError::RandomUnavailable(err.to_string()))?;
    }
    build_create_with_ephemerals(hops, &ephemerals)
}

/// [`build_create`] with caller-chosen ephemeral secrets, one per hop.
///
/// **For test vectors only**: reusing an ephemeral secret reuses a hop's
/// keys and nonces.
pub fn build_create_with_ephemerals(
    hops: &[PublicKey],
    ephemerals: &[[u8; 32]],
) -> Result<(CreatePacket, CircuitKeys), CircuitError> {
    let n = hops.len();
    payload_len(n)?;
    if ephemerals.len() != n {
        return Err(CircuitError::Malformed("one ephemeral secret per hop"));
    }
    let mut publics = Vec::with_capacity(n);
    let mut create_keys = Vec::with_capacity(n);
    let mut keys = Vec::with_capacity(n);
    for (node, e) in hops.iter().zip(ephemerals) {
        let y = node.x25519();
        let (e_pub, shared) = ephemeral_agree(e, &y).ok_or(CircuitError::LowOrderPoint)?;
        let (c, k) = hop_keys(&shared, &e_pub, &y)?;
        publics.push(e_pub);
        create_keys.push(c);
        keys.push(k);
    }
    // Layer i occupies buf[i·66 .. total − i·16]: its plaintext, then its tag.
    let total = CELL_LEN - CREATE_HEADER_LEN;
    let header = EXTEND_OVERHEAD - TAG_LEN;
    let mut buf = vec![0u8; total];
    let last = n - 1;
    if let Some(end) = buf.get_mut(last * header..last * header + 2) {
        end.copy_from_slice(&[VERSION, KIND_END]);
    }
    for i in (0..n).rev() {
        if let (Some(next), Some(next_e)) = (hops.get(i + 1), publics.get(i + 1)) {
            let h = buf
                .get_mut(i * header..(i + 1) * header)
                .ok_or(CircuitError::Malformed("layer offsets"))?;
            let (vk, rest) = h.split_at_mut(2);
            vk.copy_from_slice(&[VERSION, KIND_EXTEND]);
            let (nk, ek) = rest.split_at_mut(KEY_LEN);
            nk.copy_from_slice(next.as_bytes());
            ek.copy_from_slice(next_e);
        }
        let (key, e) = match (create_keys.get(i), publics.get(i)) {
            (Some(k), Some(e)) => (k, e),
            _ => return Err(CircuitError::Malformed("layer offsets")),
        };
        let region = buf
            .get_mut(i * header..total - i * TAG_LEN)
            .ok_or(CircuitError::Malformed("layer offsets"))?;
        seal_create(key, e, region)?;
    }
    let ephemeral_key = *publics.first().ok_or(CircuitError::HopCount(0))?;
    Ok((
        CreatePacket {
            ephemeral_key,
            layer: buf,
        },
        CircuitKeys::new(keys),
    ))
}

fn create_aad(e: &[u8; 32]) -> [u8; 2 + KEY_LEN] {
    let mut aad = [0u8; 2 + KEY_LEN];
    let (head, rest) = aad.split_at_mut(2);
    head.copy_from_slice(&[VERSION, CELL_CREATE]);
    rest.copy_from_slice(e);
    aad
}

fn seal_create(key: &CreateKey, e: &[u8; 32], region: &mut [u8]) -> Result<(), CircuitError> {
    let (plain, tag_out) = region
        .split_last_chunk_mut::<TAG_LEN>()
        .ok_or(CircuitError::Malformed("layer shorter than its tag"))?;
    let tag = xchacha::seal_detached(&key.key, &key.nonce, &create_aad(e), plain)
        .map_err(|_| CircuitError::Malformed("layer too long"))?;
    tag_out.copy_from_slice(&tag);
    Ok(())
}

/// Peels a node's create layer: key agreement with `node`'s key, the layer's
/// decryption, then version, kind and fields. Returns what to do and the
/// node's keys for the circuit. Never panics, whatever the bytes.
pub fn peel_create(
    node: &Identity,
    ephemeral_key: &[u8; 32],
    layer: &[u8],
) -> Result<(CreatePeeled, HopKeys), CircuitError> {
    if layer.len() > CELL_LEN - CREATE_HEADER_LEN {
        return Err(CircuitError::BadCell {
            len: layer.len(),
            why: "create layer longer than a cell",
        });
    }
    let (ct, tag) = layer
        .split_last_chunk::<TAG_LEN>()
        .ok_or(CircuitError::Malformed("create layer shorter than its tag"))?;
    if ct.len() < 2 {
        return Err(CircuitError::Malformed("create layer too short"));
    }
    let shared = node
        .x25519_agree(ephemeral_key)
        .ok_or(CircuitError::LowOrderPoint)?;
    let (c, keys) = hop_keys(&shared, ephemeral_key, &node.x25519_public())?;
    let mut p = vec![0u8; ct.len()];
    xchacha::open_detached(
        &c.key,
        &c.nonce,
        &create_aad(ephemeral_key),
        ct,
        tag,
        &mut p,
    )
    .map_err(|_| CircuitError::DecryptFailed)?;
    let (&[version, kind], rest) = p
        .split_first_chunk::<2>()
        .ok_or(CircuitError::Malformed("create layer too short"))?;
    if version != VERSION {
        return Err(CircuitError::Malformed("unsupported create version"));
    }
    let peeled = match kind {
        KIND_EXTEND => {
            let (next, rest) = rest
                .split_first_chunk::<KEY_LEN>()
                .ok_or(CircuitError::Malformed("extend layer too short"))?;
            let (e_next, inner) = rest
                .split_first_chunk::<KEY_LEN>()
                .ok_or(CircuitError::Malformed("extend layer too short"))?;
            if inner.len() < TAG_LEN + 2 {
                return Err(CircuitError::Malformed("extend layer has no inner layer"));
            }
            CreatePeeled::Extend {
                next: *next,
                ephemeral_key: *e_next,
                layer: inner.to_vec(),
            }
        }
        KIND_END => {
            if rest.iter().any(|&b| b != 0) {
                return Err(CircuitError::Malformed("end layer padding is not zero"));
            }
            // The end plaintext is 1,175 − 82·(n − 1) bytes long.
            let first_end = CELL_LEN - CREATE_HEADER_LEN - TAG_LEN;
            let shrink = first_end
                .checked_sub(p.len())
                .ok_or(CircuitError::Malformed("end layer length"))?;
            if shrink % EXTEND_OVERHEAD != 0 {
                return Err(CircuitError::Malformed("end layer length"));
            }
            let hops = shrink / EXTEND_OVERHEAD + 1;
            payload_len(hops)?;
            CreatePeeled::End { hops }
        }
        _ => return Err(CircuitError::Malformed("unknown create kind")),
    };
    Ok((peeled, keys))
}

use super::keys::HopKeys;
