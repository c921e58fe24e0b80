//! What the two devices of a link exchange inside the link records
//! (docs/PROTOCOL.md §17.7): the joining device's description in its
//! request, and the account seed and the history in the answers.

use nightjar_crypto::dh::DhPublic;
use nightjar_crypto::identity::Seed;
use nightjar_crypto::link::MAX_ANSWER_PAYLOAD;
use nightjar_devices::DeviceId;
use zeroize::Zeroizing;

use crate::ClientError;
use crate::profile::HistoryRecord;

/// Most history bytes one answer record carries (JSON; the record's limit
/// is 60,000).
pub const HISTORY_CHUNK_BYTES: usize = 48_000;
/// Most answer records with history one link sends.
pub const MAX_HISTORY_CHUNKS: u32 = 4_096;

fn bad(why: &str) -> ClientError {
    ClientError::InvalidMessage(format!("link: {why}"))
}

/// The joining device, as its request describes it:
/// `device_id (16) ‖ identity_key (32) ‖ name (UTF-8, ≤ 64 bytes)`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct JoinInfo {
    /// Its device ID.
    pub device_id: DeviceId,
    /// Its identity key.
    pub identity_key: DhPublic,
    /// Its name.
    pub name: String,
}

impl JoinInfo {
    /// The request payload.
    #[must_use]
    pub fn encode(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(48 + self.name.len());
        out.extend_from_slice(self.device_id.as_bytes());
        out.extend_from_slice(self.identity_key.as_bytes());
        out.extend_from_slice(self.name.as_bytes());
        out
    }

    /// Reads a request payload.
    pub fn decode(bytes: &[u8]) -> Result<JoinInfo, ClientError> {
        let (id, rest) = bytes
            .split_first_chunk::<16>()
            .ok_or_else(|| bad("request too short"))?;
        let (key, name) = rest
            .split_first_chunk::<32>()
            .ok_or_else(|| bad("request too short"))?;
        let name = std::str::from_utf8(name).map_err(|_| bad("device name is not UTF-8"))?;
        if name.len() > 64 || name.chars().any(char::is_control) {
            return Err(bad("device name too long or with control characters"));
        }
        Ok(JoinInfo {
            device_id: DeviceId::new(*id),
            identity_key: DhPublic::from_bytes(*key),
            name: name.to_owned(),
        })
    }
}

/// Answer record 0: `seed (32) ‖ u32be(history records that follow)`.
pub fn encode_first_answer(seed: &Seed, history_chunks: u32) -> Zeroizing<Vec<u8>> {
    let mut out = Zeroizing::new(Vec::with_capacity(36));
    out.extend_from_slice(seed.as_bytes());
    out.extend_from_slice(&history_chunks.to_be_bytes());
    out
}

/// Reads answer record 0: the seed and how many history records follow.
pub fn decode_first_answer(bytes: &[u8]) -> Result<(Seed, u32), ClientError> {
    let (seed, rest) = bytes
        .split_first_chunk::<32>()
        .ok_or_else(|| bad("answer too short"))?;
    let count: [u8; 4] = rest
        .try_into()
        .map_err(|_| bad("answer has the wrong length"))?;
    let count = u32::from_be_bytes(count);
    if count > MAX_HISTORY_CHUNKS {
        return Err(bad("too many history records"));
    }
    Ok((Seed::from_bytes(*seed), count))
}

/// The history as answer records 1…: JSON arrays of records (§9.2's JSON),
/// each at most [`HISTORY_CHUNK_BYTES`] (a record longer than that goes
/// alone).
pub fn history_chunks(records: &[HistoryRecord]) -> Result<Vec<Zeroizing<Vec<u8>>>, ClientError> {
    let mut chunks = Vec::new();
    let mut current: Vec<&HistoryRecord> = Vec::new();
    let mut size = 2;
    for r in records {
        let len = serde_json::to_vec(r)
            .map_err(|e| bad(&e.to_string()))?
            .len()
            + 1;
        if !current.is_empty() && size + len > HISTORY_CHUNK_BYTES {
            chunks.push(Zeroizing::new(
                serde_json::to_vec(&current).map_err(|e| bad(&e.to_string()))?,
            ));
            current.clear();
            size = 2;
        }
        current.push(r);
        size += len;
    }
    if !current.is_empty() {
        chunks.push(Zeroizing::new(
            serde_json::to_vec(&current).map_err(|e| bad(&e.to_string()))?,
        ));
    }
    Ok(chunks)
}

/// Reads one history record of the answer, refusing more than an answer
/// record carries ([`MAX_ANSWER_PAYLOAD`]).
pub fn decode_history_chunk(bytes: &[u8]) -> Result<Vec<HistoryRecord>, ClientError> {
    if bytes.len() > MAX_ANSWER_PAYLOAD {
        return Err(bad("history record too large"));
    }
    serde_json::from_slice(bytes).map_err(|e| bad(&format!("history: {e}")))
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use crate::profile::Direction;

    #[test]
    fn link_payloads_round_trip_and_history_is_chunked() {
        let info = JoinInfo {
            device_id: DeviceId::new([3; 16]),
            identity_key: DhPublic::from_bytes([4; 32]),
            name: "new laptop".into(),
        };
        assert_eq!(JoinInfo::decode(&info.encode()).unwrap(), info);
        assert!(JoinInfo::decode(&info.encode()[..47]).is_err());
        let (seed, n) =
            decode_first_answer(&encode_first_answer(&Seed::from_bytes([5; 32]), 3)).unwrap();
        assert_eq!((seed.as_bytes(), n), (&[5; 32], 3));
        let records: Vec<HistoryRecord> = (0..200)
            .map(|i| HistoryRecord {
                message_id: format!("{i:064x}"),
                direction: Direction::In,
                peer: "nj1peer".into(),
                text: "x".repeat(1_000),
                sent_at_ms: i,
                version: 2,
                timer: None,
                expires_at_ms: None,
            })
            .collect();
        let chunks = history_chunks(&records).unwrap();
        assert!(chunks.len() > 1 && chunks.iter().all(|c| c.len() <= HISTORY_CHUNK_BYTES));
        let back: Vec<HistoryRecord> = chunks
            .iter()
            .flat_map(|c| decode_history_chunk(c).unwrap())
            .collect();
        assert_eq!(back, records);
        let mut padded = chunks[0].to_vec();
        padded.resize(MAX_ANSWER_PAYLOAD, b' ');
        assert!(decode_history_chunk(&padded).is_ok());
        padded.push(b' ');
        assert!(
            decode_history_chunk(&padded).is_err(),
            "longer than a record"
        );
    }
}
