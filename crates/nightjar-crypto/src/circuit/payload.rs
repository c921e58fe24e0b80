//! The exit's plaintext `X` of a data cell, and cutting padded requests and
//! responses into fragments (`docs/PROTOCOL.md` §11.10, "Payloads").
//!
//! Not for: the cells around it (`layout`, `data`) or when to send what.

use super::error::CircuitError;
use super::layout::MAX_CIRCUIT_RESPONSE_BUCKET;
use crate::onion::layout::bucket_for;
use crate::onion::{REQUEST_BUCKETS, RESPONSE_BUCKETS};

/// `kind ‖ request ID ‖ index ‖ count` before a fragment's chunk.
pub const FRAGMENT_HEADER_LEN: usize = 1 + 4 + 2 + 2;

/// Most fragments one request or response may have (the largest request
/// bucket needs 92 on an 8-hop circuit).
pub const MAX_FRAGMENTS: u16 = 128;

/// A payload's kind byte.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
#[repr(u8)]
pub enum PayloadKind {
    /// A fragment of a padded request or response.
    Fragment = 0x01,
    /// The circuit is ready (exit → client).
    Created = 0x02,
    /// The exit could not answer a request (exit → client).
    Error = 0x03,
}

/// A parsed payload, borrowed from `X`.
#[derive(Clone, PartialEq, Eq, Debug)]
pub enum Payload<'a> {
    /// One fragment.
    Fragment {
        /// The request it belongs to (the client numbers them from 1).
        request_id: u32,
        /// 0-based index.
        index: u16,
        /// How many fragments there are (1 to [`MAX_FRAGMENTS`]).
        count: u16,
        /// `P − 9` bytes.
        chunk: &'a [u8],
    },
    /// The circuit is ready.
    Created,
    /// The exit could not answer `request_id`: 1 the response needs a larger
    /// bucket than circuits carry, 2 the request is for another account than
    /// the circuit's, 3 the exit is busy.
    Error {
        /// The request.
        request_id: u32,
        /// The code.
        code: u8,
    },
}

impl<'a> Payload<'a> {
    /// Parses `X`. Never panics.
    pub fn parse(x: &'a [u8]) -> Result<Payload<'a>, CircuitError> {
        let bad = CircuitError::Malformed("payload");
        let (&kind, rest) = x.split_first().ok_or(bad.clone())?;
        match kind {
            0x01 => {
                let (id, rest) = rest.split_first_chunk::<4>().ok_or(bad.clone())?;
                let (index, rest) = rest.split_first_chunk::<2>().ok_or(bad.clone())?;
                let (count, chunk) = rest.split_first_chunk::<2>().ok_or(bad.clone())?;
                let (index, count) = (u16::from_be_bytes(*index), u16::from_be_bytes(*count));
                if count == 0 || count > MAX_FRAGMENTS || index >= count || chunk.is_empty() {
                    return Err(CircuitError::Malformed("fragment index or count"));
                }
                Ok(Payload::Fragment {
                    request_id: u32::from_be_bytes(*id),
                    index,
                    count,
                    chunk,
                })
            }
            0x02 if rest.iter().all(|&b| b == 0) => Ok(Payload::Created),
            0x03 => {
                let (id, rest) = rest.split_first_chunk::<4>().ok_or(bad.clone())?;
                let (&code, zeros) = rest.split_first().ok_or(bad.clone())?;
                if zeros.iter().any(|&b| b != 0) {
                    return Err(bad);
                }
                Ok(Payload::Error {
                    request_id: u32::from_be_bytes(*id),
                    code,
                })
            }
            _ => Err(bad),
        }
    }
}

/// The *created* payload, `payload_len` bytes.
pub fn created_payload(payload_len: usize) -> Vec<u8> {
    let mut x = vec![0u8; payload_len];
    if let Some(k) = x.first_mut() {
        *k = PayloadKind::Created as u8;
    }
    x
}

/// An error payload for `request_id`, `payload_len` bytes.
pub fn error_payload(payload_len: usize, request_id: u32, code: u8) -> Vec<u8> {
    let mut x = Vec::with_capacity(payload_len.max(6));
    x.push(PayloadKind::Error as u8);
    x.extend_from_slice(&request_id.to_be_bytes());
    x.push(code);
    x.resize(payload_len.max(6), 0);
    x
}

fn pad(frame: &[u8], buckets: &[usize], what: &'static str) -> Result<Vec<u8>, CircuitError> {
    let too_large = CircuitError::TooLarge {
        what,
        len: frame.len(),
    };
    let bucket = bucket_for(buckets, frame.len()).ok_or(too_large.clone())?;
    let len = u32::try_from(frame.len()).map_err(|_| too_large)?;
    let mut d = Vec::with_capacity(bucket);
    d.extend_from_slice(&len.to_be_bytes());
    d.extend_from_slice(frame);
    d.resize(bucket, 0);
    Ok(d)
}

/// `D = u32be(|F|) ‖ F ‖ zeros` up to the smallest request bucket (§11.3).
pub fn pad_request(frame: &[u8]) -> Result<Vec<u8>, CircuitError> {
    pad(frame, &REQUEST_BUCKETS, "request")
}

/// `D' = u32be(|G|) ‖ G ‖ zeros` up to the smallest response bucket, which
/// must be at most [`MAX_CIRCUIT_RESPONSE_BUCKET`] (else
/// [`CircuitError::TooLarge`]: answer error 1).
pub fn pad_response(frame: &[u8]) -> Result<Vec<u8>, CircuitError> {
    let buckets: Vec<usize> = RESPONSE_BUCKETS
        .iter()
        .copied()
        .filter(|&b| b <= MAX_CIRCUIT_RESPONSE_BUCKET)
        .collect();
    pad(frame, &buckets, "response")
}

/// The fragments' payloads (each `payload_len` bytes) of a padded request
/// or response `padded`.
pub fn fragments(
    request_id: u32,
    padded: &[u8],
    payload_len: usize,
) -> Result<Vec<Vec<u8>>, CircuitError> {
    let chunk_len = payload_len
        .checked_sub(FRAGMENT_HEADER_LEN)
        .filter(|&c| c > 0)
        .ok_or(CircuitError::Malformed("payload too short for a fragment"))?;
    let count = padded.len().div_ceil(chunk_len);
    let count = u16::try_from(count)
        .ok()
        .filter(|&c| c > 0 && c <= MAX_FRAGMENTS)
        .ok_or(CircuitError::TooLarge {
            what: "padded message",
            len: padded.len(),
        })?;
    Ok(padded
        .chunks(chunk_len)
        .enumerate()
        .map(|(index, chunk)| {
            let mut x = Vec::with_capacity(payload_len);
            x.push(PayloadKind::Fragment as u8);
            x.extend_from_slice(&request_id.to_be_bytes());
            x.extend_from_slice(&(index as u16).to_be_bytes());
            x.extend_from_slice(&count.to_be_bytes());
            x.extend_from_slice(chunk);
            x.resize(payload_len, 0);
            x
        })
        .collect())
}

/// One request's or response's fragments as they arrive, in any order.
#[derive(Clone, Debug)]
pub struct Reassembly {
    count: u16,
    chunk_len: usize,
    have: Vec<bool>,
    missing: u16,
    buf: Vec<u8>,
}

impl Reassembly {
    /// Starts collecting `count` fragments of `chunk_len` bytes each.
    pub fn new(count: u16, chunk_len: usize) -> Result<Self, CircuitError> {
        if count == 0 || count > MAX_FRAGMENTS || chunk_len == 0 {
            return Err(CircuitError::Malformed("fragment count"));
        }
        Ok(Reassembly {
            count,
            chunk_len,
            have: vec![false; usize::from(count)],
            missing: count,
            buf: vec![0; usize::from(count) * chunk_len],
        })
    }

    /// The number of fragments expected.
    pub fn count(&self) -> u16 {
        self.count
    }

    /// Adds a fragment; a duplicate is ignored. Returns the concatenated
    /// chunks when the last missing one arrives (once). A fragment whose count or chunk length
    /// differs from the first one's is refused.
    pub fn insert(
        &mut self,
        index: u16,
        count: u16,
        chunk: &[u8],
    ) -> Result<Option<Vec<u8>>, CircuitError> {
        if count != self.count || chunk.len() != self.chunk_len {
            return Err(CircuitError::Malformed(
                "fragment does not match its request",
            ));
        }
        let i = usize::from(index);
        let seen = self
            .have
            .get_mut(i)
            .ok_or(CircuitError::Malformed("fragment index"))?;
        if *seen {
            return Ok(None);
        }
        *seen = true;
        self.missing -= 1;
        if let Some(dst) = self
            .buf
            .get_mut(i * self.chunk_len..(i + 1) * self.chunk_len)
        {
            dst.copy_from_slice(chunk);
        }
        if self.missing == 0 {
            return Ok(Some(core::mem::take(&mut self.buf)));
        }
        Ok(None)
    }
}

fn unpad(
    joined: &[u8],
    count: u16,
    chunk_len: usize,
    buckets: &[usize],
) -> Result<Vec<u8>, CircuitError> {
    let bad = CircuitError::Malformed("padding");
    let (len, rest) = joined.split_first_chunk::<4>().ok_or(bad.clone())?;
    let len = usize::try_from(u32::from_be_bytes(*len)).map_err(|_| bad.clone())?;
    let bucket = bucket_for(buckets, len).ok_or(bad.clone())?;
    if bucket.div_ceil(chunk_len) != usize::from(count) {
        return Err(bad);
    }
    let frame = rest.get(..len).ok_or(bad.clone())?;
    if rest
        .get(len..)
        .is_some_and(|pad| pad.iter().any(|&b| b != 0))
    {
        return Err(bad);
    }
    Ok(frame.to_vec())
}

/// The request frame `F` of a reassembled request (`count` fragments of
/// `chunk_len` bytes).
pub fn unpad_request(joined: &[u8], count: u16, chunk_len: usize) -> Result<Vec<u8>, CircuitError> {
    unpad(joined, count, chunk_len, &REQUEST_BUCKETS)
}

/// The response frame `G` of a reassembled response.
pub fn unpad_response(
    joined: &[u8],
    count: u16,
    chunk_len: usize,
) -> Result<Vec<u8>, CircuitError> {
    let buckets: Vec<usize> = RESPONSE_BUCKETS
        .iter()
        .copied()
        .filter(|&b| b <= MAX_CIRCUIT_RESPONSE_BUCKET)
        .collect();
    unpad(joined, count, chunk_len, &buckets)
}
