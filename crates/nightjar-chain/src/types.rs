//! Plain values the follower exchanges with its RPC adapter and keeps.

use alloy_primitives::{Address, B256};

use crate::events::ContractEvent;

/// A block, by number and hash.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct BlockRef {
    /// Its number (height).
    pub number: u64,
    /// Its hash.
    pub hash: B256,
}

/// What the follower needs of a block header.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Header {
    /// The block's number.
    pub number: u64,
    /// The block's hash.
    pub hash: B256,
    /// Its parent's hash.
    pub parent_hash: B256,
}

impl Header {
    /// The block, by number and hash.
    pub fn block(&self) -> BlockRef {
        BlockRef {
            number: self.number,
            hash: self.hash,
        }
    }
}

/// A log as an RPC returns it from `eth_getLogs`: untrusted, every field
/// checked by the follower before use.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct RawLog {
    /// The emitting contract.
    pub address: Address,
    /// The topics (topic 0 is the event signature's hash).
    pub topics: Vec<B256>,
    /// The ABI-encoded non-indexed fields.
    pub data: Vec<u8>,
    /// The block it is in (`None` for a pending log).
    pub block_number: Option<u64>,
    /// That block's hash (`None` for a pending log).
    pub block_hash: Option<B256>,
    /// Its index among the block's logs (`None` for a pending log).
    pub log_index: Option<u64>,
    /// `true` if a reorganisation removed it (only filters report those).
    pub removed: bool,
}

/// Where a log is in the chain: block number, then log index. The registry
/// log follows this order.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct LogPosition {
    /// The block number.
    pub block: u64,
    /// The log index within the block.
    pub index: u64,
}

/// A log of the registry contract, checked and decoded: what the follower
/// keeps (and saves) for every registry event it has processed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ChainLog {
    /// Where it is.
    pub position: LogPosition,
    /// The hash of its block.
    pub block_hash: B256,
    /// Its topics, as received.
    pub topics: Vec<B256>,
    /// Its data, as received.
    pub data: Vec<u8>,
    /// The decoded event.
    pub event: ContractEvent,
}
