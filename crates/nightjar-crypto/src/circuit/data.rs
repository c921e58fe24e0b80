//! Data layers on the client's side: sealing a forward cell through every
//! hop and opening a backward cell (`docs/PROTOCOL.md` §11.10, "Data
//! cells"). A relay's side is [`HopKeys`]' methods.
//!
//! Not for: create layers (see `create`) or payload formats (`payload`).

use core::fmt;

use super::error::CircuitError;
use super::keys::{AAD_BACKWARD, AAD_FORWARD, HopKeys};
use super::layout::*;

/// The client's keys of one circuit: every hop's, guard first. `Debug`
/// prints the number of hops only.
pub struct CircuitKeys {
    hops: Vec<HopKeys>,
}

impl fmt::Debug for CircuitKeys {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("CircuitKeys")
            .field("hops", &self.hops.len())
            .finish_non_exhaustive()
    }
}

/// What a backward cell held.
#[derive(Clone, PartialEq, Eq, Debug)]
pub enum Backward {
    /// The exit's payload `X'` ([`payload_len`] bytes).
    Payload(Vec<u8>),
    /// Relay `hop` reports `code` (the v1 hop error codes).
    RelayError {
        /// The relay that reports (0 = the guard).
        hop: usize,
        /// Its code.
        code: u8,
    },
}

impl CircuitKeys {
    pub(super) fn new(hops: Vec<HopKeys>) -> Self {
        CircuitKeys { hops }
    }

    /// The number of hops.
    pub fn hops(&self) -> usize {
        self.hops.len()
    }

    /// The exit's plaintext length `P` of this circuit's data cells.
    pub fn payload_len(&self) -> usize {
        CELL_LEN - CELL_HEADER_LEN - TAG_LEN * self.hops.len()
    }

    /// The forward cell carrying `payload` (exactly [`Self::payload_len`]
    /// bytes) with sequence number `seq`, for the guard on `circuit`:
    /// 1,232 bytes. Never call it twice with one `seq`.
    pub fn forward_cell(
        &self,
        circuit: CircuitId,
        seq: u64,
        payload: &[u8],
    ) -> Result<Vec<u8>, CircuitError> {
        if payload.len() != self.payload_len() {
            return Err(CircuitError::Malformed("payload is not P bytes"));
        }
        let mut cell = Vec::with_capacity(CELL_LEN);
        let mut header = [0u8; CELL_HEADER_LEN];
        write_header(&mut header, CELL_FORWARD, circuit, seq);
        cell.extend_from_slice(&header);
        cell.extend_from_slice(payload);
        cell.resize(CELL_LEN, 0);
        let n = self.hops.len();
        for (i, hop) in self.hops.iter().enumerate().rev() {
            // Layer i = cell[17 .. 17 + P + 16·(n − i)].
            let end = CELL_HEADER_LEN + self.payload_len() + TAG_LEN * (n - i);
            let region = cell
                .get_mut(CELL_HEADER_LEN..end)
                .ok_or(CircuitError::Malformed("cell offsets"))?;
            hop.forward.seal(seq, &AAD_FORWARD, region)?;
        }
        Ok(cell)
    }

    /// Opens the layers of a backward cell's `layer` (sequence number `seq`),
    /// guard first. A 32-byte plaintext of the form `0x01 ‖ 0x03 ‖ code ‖
    /// zeros` under a relay's layer is that relay's error; anything that does
    /// not open or parse is [`CircuitError::DecryptFailed`] or `Malformed`.
    pub fn open_backward(&self, seq: u64, layer: &[u8]) -> Result<Backward, CircuitError> {
        let mut buf = layer.to_vec();
        let mut len = buf.len();
        let last = self.hops.len().saturating_sub(1);
        for (i, hop) in self.hops.iter().enumerate() {
            let region = buf.get_mut(..len).ok_or(CircuitError::DecryptFailed)?;
            hop.backward.open_in_place(seq, &AAD_BACKWARD, region)?;
            len -= TAG_LEN;
            if i < last && len == RELAY_ERROR_LEN {
                let plain = buf.get(..len).ok_or(CircuitError::DecryptFailed)?;
                return match plain {
                    [VERSION, 0x03, code, zeros @ ..] if zeros.iter().all(|&b| b == 0) => {
                        Ok(Backward::RelayError {
                            hop: i,
                            code: *code,
                        })
                    }
                    _ => Err(CircuitError::Malformed("relay error")),
                };
            }
        }
        if len != self.payload_len() {
            return Err(CircuitError::Malformed("backward payload is not P bytes"));
        }
        buf.truncate(len);
        Ok(Backward::Payload(buf))
    }
}
