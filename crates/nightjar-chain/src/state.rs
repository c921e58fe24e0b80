//! The follower's state file: where it is on the chain and every registry
//! log it has processed, so that a restart resumes where it stopped.
//!
//! JSON (UTF-8), at most [`MAX_STATE_FILE`] bytes, unknown keys refused:
//!
//! ```json
//! {
//!   "version": 1,
//!   "chain_id": 31337,
//!   "contract": "0xe7f1725e7734ce288f8367e1bb143e90bb3f0512",
//!   "start_block": 0,
//!   "processed": {"number": 42, "hash": "0x…"},
//!   "checkpoints": [{"number": 40, "hash": "0x…"}, {"number": 42, "hash": "0x…"}],
//!   "logs": [{"block": 7, "block_hash": "0x…", "index": 0,
//!             "topics": ["0x…", "0x…", "0x…"], "data": "0x…"}]
//! }
//! ```
//!
//! `processed` is the last block read (`null` before the first range);
//! `checkpoints` are known hashes of processed blocks (recent range ends),
//! ascending; `logs` are the registry contract's logs as received, in chain
//! order — the ledger and the registry log are rebuilt from them (every
//! proof verified again), so the file holds no derived data that could
//! disagree with its logs. A reorganisation below the saved position is
//! still found after a restart: the first range read checks its parent
//! against `processed`, and the walk back uses `checkpoints` and the logs'
//! block hashes.
//!
//! [`save`] writes a temporary file beside the target, syncs it and renames
//! it over the target (then syncs the directory), so a crash leaves the old
//! file or the new one, never a mix. [`SavedState::decode`] never panics: a
//! file that is not a valid state is [`ChainError::StateCorrupt`].

use std::io::Write;
use std::path::Path;
use std::sync::Arc;

use alloy_primitives::{Address, B256};
use serde::{Deserialize, Serialize};

use crate::error::ChainError;
use crate::events::decode_event;
use crate::types::{BlockRef, ChainLog, LogPosition};

/// The only state file version this build reads and writes.
pub const STATE_VERSION: u32 = 1;
/// Largest state file read, in bytes (about 200,000 registry events).
pub const MAX_STATE_FILE: u64 = 64 * 1024 * 1024;

/// What the follower keeps across restarts (see the [module
/// documentation](self)).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SavedState {
    /// The chain followed.
    pub chain_id: u64,
    /// The registry contract followed.
    pub contract: Address,
    /// The first block read.
    pub start_block: u64,
    /// The last block processed.
    pub processed: Option<BlockRef>,
    /// Known hashes of processed blocks, ascending.
    pub checkpoints: Vec<BlockRef>,
    /// Every registry log processed, in chain order.
    pub logs: Vec<ChainLog>,
}

#[derive(Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawBlock {
    number: u64,
    hash: String,
}

#[derive(Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawSavedLog {
    block: u64,
    block_hash: String,
    index: u64,
    topics: Vec<String>,
    data: String,
}

#[derive(Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawState {
    version: u32,
    chain_id: u64,
    contract: String,
    start_block: u64,
    processed: Option<RawBlock>,
    checkpoints: Vec<RawBlock>,
    logs: Vec<RawSavedLog>,
}

fn hex0x(bytes: &[u8]) -> String {
    format!("0x{}", hex::encode(bytes))
}

/// `0x` followed by lowercase or uppercase hex digits.
fn parse_hex(what: &str, text: &str) -> Result<Vec<u8>, String> {
    let digits = text
        .strip_prefix("0x")
        .ok_or_else(|| format!("{what} {text:?} does not start with 0x"))?;
    hex::decode(digits).map_err(|e| format!("{what} is not hex: {e}"))
}

fn parse_b256(what: &str, text: &str) -> Result<B256, String> {
    let bytes = parse_hex(what, text)?;
    B256::try_from(bytes.as_slice()).map_err(|_| format!("{what} is not 32 bytes"))
}

impl SavedState {
    /// The state as JSON bytes.
    pub fn encode(&self) -> Vec<u8> {
        let block = |b: &BlockRef| RawBlock {
            number: b.number,
            hash: hex0x(b.hash.as_slice()),
        };
        let raw = RawState {
            version: STATE_VERSION,
            chain_id: self.chain_id,
            contract: hex0x(self.contract.as_slice()),
            start_block: self.start_block,
            processed: self.processed.as_ref().map(block),
            checkpoints: self.checkpoints.iter().map(block).collect(),
            logs: self
                .logs
                .iter()
                .map(|log| RawSavedLog {
                    block: log.position.block,
                    block_hash: hex0x(log.block_hash.as_slice()),
                    index: log.position.index,
                    topics: log.topics.iter().map(|t| hex0x(t.as_slice())).collect(),
                    data: hex0x(&log.data),
                })
                .collect(),
        };
        // Strings, numbers and vectors of them always serialize.
        serde_json::to_vec(&raw).unwrap_or_default()
    }

    /// Parses and checks a state: the version, the hex fields, every log a
    /// registry event of block `start_block..=processed`, logs in strictly
    /// increasing positions, one hash per block, checkpoints ascending and
    /// not past `processed`, and the processed block's own hash among them
    /// if it is listed.
    pub fn decode(bytes: &[u8]) -> Result<SavedState, ChainError> {
        Self::decode_inner(bytes).map_err(|reason| ChainError::StateCorrupt {
            what: "bytes".into(),
            reason,
        })
    }

    fn decode_inner(bytes: &[u8]) -> Result<SavedState, String> {
        if bytes.len() as u64 > MAX_STATE_FILE {
            return Err(format!(
                "{} bytes, more than the limit of {MAX_STATE_FILE}",
                bytes.len()
            ));
        }
        let raw: RawState = serde_json::from_slice(bytes).map_err(|e| e.to_string())?;
        if raw.version != STATE_VERSION {
            return Err(format!(
                "version {} (this build reads version {STATE_VERSION})",
                raw.version
            ));
        }
        let contract = parse_hex("contract", &raw.contract)?;
        let contract =
            Address::try_from(contract.as_slice()).map_err(|_| "contract is not 20 bytes")?;
        let block = |what: &str, b: &RawBlock| -> Result<BlockRef, String> {
            Ok(BlockRef {
                number: b.number,
                hash: parse_b256(what, &b.hash)?,
            })
        };
        let processed = raw
            .processed
            .as_ref()
            .map(|b| block("processed hash", b))
            .transpose()?;
        let last = processed.map(|p| p.number);
        if let Some(p) = last
            && p < raw.start_block
        {
            return Err(format!(
                "processed block {p} is before the start block {}",
                raw.start_block
            ));
        }
        let mut checkpoints: Vec<BlockRef> = Vec::with_capacity(raw.checkpoints.len());
        for c in &raw.checkpoints {
            let c = block("checkpoint hash", c)?;
            if last.is_none_or(|p| c.number > p) {
                return Err(format!(
                    "checkpoint {} is past the processed block",
                    c.number
                ));
            }
            if checkpoints
                .last()
                .is_some_and(|prev| prev.number >= c.number)
            {
                return Err("checkpoints are not in ascending order".into());
            }
            if let Some(p) = processed
                && c.number == p.number
                && c.hash != p.hash
            {
                return Err("the processed block has two hashes".into());
            }
            checkpoints.push(c);
        }
        let mut logs: Vec<ChainLog> = Vec::with_capacity(raw.logs.len());
        for (i, log) in raw.logs.into_iter().enumerate() {
            let at = |m: String| format!("log {i}: {m}");
            let position = LogPosition {
                block: log.block,
                index: log.index,
            };
            if log.block < raw.start_block || last.is_none_or(|p| log.block > p) {
                return Err(at(format!(
                    "block {} is outside the processed blocks",
                    log.block
                )));
            }
            let block_hash = parse_b256("block hash", &log.block_hash).map_err(at)?;
            if let Some(prev) = logs.last() {
                if prev.position >= position {
                    return Err(at("logs are not in chain order".into()));
                }
                if prev.position.block == position.block && prev.block_hash != block_hash {
                    return Err(at(format!("two hashes for block {}", log.block)));
                }
            }
            if let Some(p) = processed
                && log.block == p.number
                && block_hash != p.hash
            {
                return Err(at("the processed block has two hashes".into()));
            }
            let topics = log
                .topics
                .iter()
                .map(|t| parse_b256("topic", t))
                .collect::<Result<Vec<B256>, String>>()
                .map_err(at)?;
            let data = parse_hex("data", &log.data).map_err(at)?;
            let event = match decode_event(&topics, &data) {
                Ok(Some(event)) => event,
                Ok(None) => return Err(at("not a registry event".into())),
                Err(e) => return Err(at(e.to_string())),
            };
            logs.push(ChainLog {
                position,
                block_hash,
                topics,
                data,
                event,
            });
        }
        Ok(SavedState {
            chain_id: raw.chain_id,
            contract,
            start_block: raw.start_block,
            processed,
            checkpoints,
            logs,
        })
    }
}

/// Reads the state file at `path`: `Ok(None)` if there is none.
///
/// Fails with [`ChainError::StateTooLarge`] (not read), [`ChainError::StateRead`]
/// or [`ChainError::StateCorrupt`].
pub fn load(path: &Path) -> Result<Option<SavedState>, ChainError> {
    let read_err = |e: std::io::Error| ChainError::StateRead {
        path: path.to_path_buf(),
        source: Arc::new(e),
    };
    let size = match std::fs::metadata(path) {
        Ok(m) => m.len(),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(read_err(e)),
    };
    if size > MAX_STATE_FILE {
        return Err(ChainError::StateTooLarge {
            path: path.to_path_buf(),
            size,
            limit: MAX_STATE_FILE,
        });
    }
    let bytes = std::fs::read(path).map_err(read_err)?;
    SavedState::decode(&bytes).map(Some).map_err(|e| match e {
        ChainError::StateCorrupt { reason, .. } => ChainError::StateCorrupt {
            what: path.display().to_string(),
            reason,
        },
        other => other,
    })
}

/// Writes `state` to `path` atomically: a temporary file beside it
/// (`<name>.tmp`), synced, renamed over `path`, then the directory synced.
pub fn save(path: &Path, state: &SavedState) -> Result<(), ChainError> {
    let write_err = |e: std::io::Error| ChainError::StateWrite {
        path: path.to_path_buf(),
        source: Arc::new(e),
    };
    let bytes = state.encode();
    if bytes.len() as u64 > MAX_STATE_FILE {
        return Err(ChainError::StateTooLarge {
            path: path.to_path_buf(),
            size: bytes.len() as u64,
            limit: MAX_STATE_FILE,
        });
    }
    let mut tmp_name = path
        .file_name()
        .ok_or_else(|| write_err(std::io::Error::other("the path has no file name")))?
        .to_os_string();
    tmp_name.push(".tmp");
    let tmp = path.with_file_name(tmp_name);
    let result = (|| {
        let mut file = std::fs::File::create(&tmp)?;
        file.write_all(&bytes)?;
        file.sync_all()?;
        drop(file);
        std::fs::rename(&tmp, path)?;
        if let Some(dir) = path.parent() {
            let dir = if dir.as_os_str().is_empty() {
                Path::new(".")
            } else {
                dir
            };
            std::fs::File::open(dir)?.sync_all()?;
        }
        Ok(())
    })();
    if result.is_err() {
        let _ = std::fs::remove_file(&tmp);
    }
    result.map_err(write_err)
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]
    use super::*;
    use crate::events::ContractEvent;
    use alloy_primitives::U256;

    fn sample() -> SavedState {
        let event = ContractEvent::Withdrawn {
            key: B256::repeat_byte(1),
            operator: Address::repeat_byte(2),
            stake: U256::from(3),
        };
        let (topics, data) = event.encode();
        let log = |block, index| ChainLog {
            position: LogPosition { block, index },
            block_hash: B256::repeat_byte(block as u8),
            topics: topics.clone(),
            data: data.clone(),
            event: event.clone(),
        };
        SavedState {
            chain_id: 31337,
            contract: Address::repeat_byte(0xcc),
            start_block: 2,
            processed: Some(BlockRef {
                number: 9,
                hash: B256::repeat_byte(9),
            }),
            checkpoints: vec![
                BlockRef {
                    number: 5,
                    hash: B256::repeat_byte(5),
                },
                BlockRef {
                    number: 9,
                    hash: B256::repeat_byte(9),
                },
            ],
            logs: vec![log(3, 0), log(3, 4), log(9, 0)],
        }
    }

    fn corrupt(bytes: &[u8]) -> String {
        match SavedState::decode(bytes) {
            Err(ChainError::StateCorrupt { reason, .. }) => reason,
            other => panic!("not refused as corrupt: {other:?}"),
        }
    }

    /// The sample's JSON with `edit` applied.
    fn edited(edit: impl FnOnce(&mut serde_json::Value)) -> Vec<u8> {
        let mut json: serde_json::Value = serde_json::from_slice(&sample().encode()).unwrap();
        edit(&mut json);
        serde_json::to_vec(&json).unwrap()
    }

    #[test]
    fn round_trips() {
        let s = sample();
        assert_eq!(SavedState::decode(&s.encode()).unwrap(), s);
        let empty = SavedState {
            processed: None,
            checkpoints: Vec::new(),
            logs: Vec::new(),
            ..s
        };
        assert_eq!(SavedState::decode(&empty.encode()).unwrap(), empty);
        let text = String::from_utf8(sample().encode()).unwrap();
        assert!(
            text.starts_with("{\"version\":1,\"chain_id\":31337,"),
            "{text}"
        );
    }

    #[test]
    fn corrupt_states_are_refused_with_a_reason() {
        assert!(corrupt(b"").contains("EOF"));
        assert!(corrupt(b"\xff\xfe").contains("expected value"));
        let full = sample().encode();
        corrupt(&full[..full.len() / 2]);
        let cases: Vec<(Vec<u8>, &str)> = vec![
            (edited(|j| j["version"] = 2.into()), "version 2"),
            (edited(|j| j["extra"] = 1.into()), "unknown field"),
            (edited(|j| j["contract"] = "cc".into()), "0x"),
            (edited(|j| j["contract"] = "0x1234".into()), "20 bytes"),
            (edited(|j| j["processed"]["hash"] = "0xzz".into()), "hex"),
            (
                edited(|j| j["processed"]["number"] = 1.into()),
                "before the start block",
            ),
            (
                edited(|j| j["checkpoints"][1]["number"] = 10.into()),
                "past the processed",
            ),
            (
                edited(|j| j["checkpoints"][1]["number"] = 5.into()),
                "ascending",
            ),
            (
                edited(|j| j["checkpoints"][1]["hash"] = j["checkpoints"][0]["hash"].clone()),
                "two hashes",
            ),
            (edited(|j| j["logs"][0]["block"] = 1.into()), "outside"),
            (edited(|j| j["logs"][2]["block"] = 10.into()), "outside"),
            (edited(|j| j["logs"][1]["index"] = 0.into()), "chain order"),
            (
                edited(|j| j["logs"][1]["block_hash"] = j["logs"][2]["block_hash"].clone()),
                "two hashes",
            ),
            (
                edited(|j| j["logs"][2]["block_hash"] = j["logs"][0]["block_hash"].clone()),
                "two hashes",
            ),
            (
                edited(|j| j["logs"][0]["topics"][0] = format!("0x{}", "11".repeat(32)).into()),
                "not a registry event",
            ),
            (
                edited(|j| j["logs"][0]["data"] = "0x00".into()),
                "Withdrawn",
            ),
            (
                edited(|j| j["logs"][0]["topics"] = serde_json::json!([])),
                "not a registry event",
            ),
            (
                edited(|j| j["processed"] = serde_json::Value::Null),
                "past the processed",
            ),
        ];
        for (bytes, want) in cases {
            let reason = corrupt(&bytes);
            assert!(reason.contains(want), "{want:?} not in {reason:?}");
        }
    }

    #[test]
    fn load_and_save() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("chain-state.json");
        assert_eq!(load(&path).unwrap(), None);
        save(&path, &sample()).unwrap();
        assert_eq!(load(&path).unwrap(), Some(sample()));
        // Overwritten in place; no temporary file left behind.
        let mut second = sample();
        second.logs.pop();
        save(&path, &second).unwrap();
        assert_eq!(load(&path).unwrap(), Some(second));
        let names: Vec<_> = std::fs::read_dir(dir.path())
            .unwrap()
            .map(|e| e.unwrap().file_name())
            .collect();
        assert_eq!(names, vec![std::ffi::OsString::from("chain-state.json")]);

        // Corrupt: the error names the file and says what to do.
        std::fs::write(&path, b"{\"version\":1").unwrap();
        let message = load(&path).unwrap_err().to_string();
        assert!(message.contains("chain-state.json"), "{message}");
        assert!(message.contains("move it away"), "{message}");

        // Too large: refused before reading.
        let big = std::fs::File::create(&path).unwrap();
        big.set_len(MAX_STATE_FILE + 1).unwrap();
        assert!(matches!(
            load(&path),
            Err(ChainError::StateTooLarge { size, .. }) if size == MAX_STATE_FILE + 1
        ));

        // Unwritable: a clear error, nothing left behind.
        let missing = dir.path().join("no-such-dir").join("state.json");
        assert!(matches!(
            save(&missing, &sample()),
            Err(ChainError::StateWrite { .. })
        ));
    }
}
