//! The cell layout: types, sizes, the circuit ID and the codec of a cell's
//! header (`docs/PROTOCOL.md` §11.10, "Cells").
//!
//! Not for: keys or layers (see `keys`, `create`, `data`).

use super::error::CircuitError;
use crate::onion::MAX_HOPS;

/// Every cell the client sends, and every cell it receives, is exactly this
/// long: the IPv6 minimum MTU less the IP and UDP headers.
pub const CELL_LEN: usize = 1232;

/// `type ‖ circuit ID ‖ seq` of a data cell.
pub const CELL_HEADER_LEN: usize = 1 + 8 + 8;

/// `type ‖ circuit ID ‖ E` of a create cell.
pub const CREATE_HEADER_LEN: usize = 1 + 8 + 32;

/// Cell type: create a circuit.
pub const CELL_CREATE: u8 = 0x01;
/// Cell type: data towards the exit.
pub const CELL_FORWARD: u8 = 0x02;
/// Cell type: data towards the client.
pub const CELL_BACKWARD: u8 = 0x03;
/// Cell type: tear a circuit down (not encrypted).
pub const CELL_DESTROY: u8 = 0x04;

/// Length of a relay error's plaintext: `0x01 ‖ 0x03 ‖ code ‖ 0x00 × 29`.
pub const RELAY_ERROR_LEN: usize = 32;

/// The largest padded response a circuit carries (the fourth response bucket).
pub const MAX_CIRCUIT_RESPONSE_BUCKET: usize = 65_536;

pub(super) const TAG_LEN: usize = 16;
pub(super) const KEY_LEN: usize = 32;
pub(super) const VERSION: u8 = 0x01;
/// Bytes an extend layer adds: version, kind, next node key, next ephemeral, tag.
pub(super) const EXTEND_OVERHEAD: usize = 2 + KEY_LEN + KEY_LEN + TAG_LEN;

/// A circuit's ID on one link, chosen at random by the link's sender of the
/// `create`.
#[derive(Clone, Copy, PartialEq, Eq, Hash, Debug, PartialOrd, Ord)]
pub struct CircuitId(pub u64);

/// Why a circuit was torn down (`destroy`'s reason byte).
#[derive(Clone, Copy, PartialEq, Eq, Hash, Debug)]
#[repr(u8)]
pub enum DestroyReason {
    /// The node knows no such circuit (for example, it restarted).
    Unknown = 1,
    /// The circuit outlived its lifetime.
    Expired = 2,
    /// An end closed it.
    Closed = 3,
    /// The next hop is unreachable, or the node is full.
    Unavailable = 4,
}

impl DestroyReason {
    /// The reason for a byte on the wire (`None` for a code this build does
    /// not know).
    pub fn from_u8(code: u8) -> Option<Self> {
        match code {
            1 => Some(DestroyReason::Unknown),
            2 => Some(DestroyReason::Expired),
            3 => Some(DestroyReason::Closed),
            4 => Some(DestroyReason::Unavailable),
            _ => None,
        }
    }
}

/// One received cell, borrowed from the datagram.
#[derive(Clone, PartialEq, Eq, Debug)]
pub enum Cell<'a> {
    /// Create a circuit: the sender's ID for it, the hop's ephemeral key and
    /// its create layer.
    Create {
        /// The circuit's ID on this link.
        circuit: CircuitId,
        /// `E_i`.
        ephemeral_key: [u8; 32],
        /// `C_i`.
        layer: &'a [u8],
    },
    /// Data towards the exit.
    Forward {
        /// The circuit's ID on this link.
        circuit: CircuitId,
        /// The cell's sequence number.
        seq: u64,
        /// `L_i`.
        layer: &'a [u8],
    },
    /// Data towards the client.
    Backward {
        /// The circuit's ID on this link.
        circuit: CircuitId,
        /// The exit's sequence number.
        seq: u64,
        /// `B_{i+1}` (as received from the next hop).
        layer: &'a [u8],
    },
    /// Tear down.
    Destroy {
        /// The circuit's ID on this link.
        circuit: CircuitId,
        /// The reason byte (unknown codes are kept as they are).
        reason: u8,
    },
}

impl<'a> Cell<'a> {
    /// Parses a datagram as a cell. Checks the length (at most [`CELL_LEN`],
    /// at least the type's header and one tag), the type, and nothing else:
    /// layers are checked by whoever opens them. Never panics.
    pub fn parse(datagram: &'a [u8]) -> Result<Cell<'a>, CircuitError> {
        let len = datagram.len();
        if len > CELL_LEN {
            return Err(CircuitError::BadCell {
                len,
                why: "longer than a cell",
            });
        }
        let short = CircuitError::BadCell {
            len,
            why: "shorter than its header and a tag",
        };
        let (&kind, rest) = datagram.split_first().ok_or(short.clone())?;
        let (id, rest) = rest.split_first_chunk::<8>().ok_or(short.clone())?;
        let circuit = CircuitId(u64::from_be_bytes(*id));
        match kind {
            CELL_CREATE => {
                let (e, layer) = rest.split_first_chunk::<32>().ok_or(short.clone())?;
                if layer.len() < TAG_LEN + 2 {
                    return Err(short);
                }
                Ok(Cell::Create {
                    circuit,
                    ephemeral_key: *e,
                    layer,
                })
            }
            CELL_FORWARD | CELL_BACKWARD => {
                let (seq, layer) = rest.split_first_chunk::<8>().ok_or(short.clone())?;
                if layer.len() < TAG_LEN + 1 {
                    return Err(short);
                }
                let seq = u64::from_be_bytes(*seq);
                Ok(if kind == CELL_FORWARD {
                    Cell::Forward {
                        circuit,
                        seq,
                        layer,
                    }
                } else {
                    Cell::Backward {
                        circuit,
                        seq,
                        layer,
                    }
                })
            }
            CELL_DESTROY => match rest {
                [reason] => Ok(Cell::Destroy {
                    circuit,
                    reason: *reason,
                }),
                _ => Err(CircuitError::BadCell {
                    len,
                    why: "a destroy cell is 10 bytes",
                }),
            },
            other => Err(CircuitError::UnknownType(other)),
        }
    }
}

/// Writes a data cell's header `type ‖ circuit ‖ u64be(seq)` into `out`
/// (17 bytes).
pub(super) fn write_header(
    out: &mut [u8; CELL_HEADER_LEN],
    kind: u8,
    circuit: CircuitId,
    seq: u64,
) {
    let (k, rest) = out.split_at_mut(1);
    k.fill(kind);
    let (id, s) = rest.split_at_mut(8);
    id.copy_from_slice(&circuit.0.to_be_bytes());
    s.copy_from_slice(&seq.to_be_bytes());
}

/// The 10-byte `destroy` cell.
pub fn destroy_cell(circuit: CircuitId, reason: DestroyReason) -> [u8; 10] {
    let mut cell = [0u8; 10];
    let (head, rest) = cell.split_at_mut(1);
    head.fill(CELL_DESTROY);
    let (id, r) = rest.split_at_mut(8);
    id.copy_from_slice(&circuit.0.to_be_bytes());
    r.fill(reason as u8);
    cell
}

/// `P = 1,215 − 16·n`: the exit's plaintext in a data cell of an `hops`-hop
/// circuit.
pub fn payload_len(hops: usize) -> Result<usize, CircuitError> {
    if hops == 0 || hops > MAX_HOPS {
        return Err(CircuitError::HopCount(hops));
    }
    Ok(CELL_LEN - CELL_HEADER_LEN - TAG_LEN * hops)
}
