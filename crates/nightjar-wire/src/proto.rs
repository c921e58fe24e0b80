//! The protobuf schema of requests and responses, as prost structs.
//!
//! These types mirror `docs/PROTOCOL.md` field by field. They are the raw,
//! unvalidated form: [`crate::Request`] and [`crate::Response`] are what the rest
//! of the code uses, built from these only after every length and range check.

#![allow(missing_docs)] // each field is specified in docs/PROTOCOL.md

/// Outer request message.
#[derive(Clone, PartialEq, prost::Message)]
pub struct Request {
    #[prost(uint32, tag = "1")]
    pub version: u32,
    #[prost(
        oneof = "request::Body",
        tags = "10, 11, 12, 13, 14, 15, 16, 17, 18, 19, 20, 21"
    )]
    pub body: Option<request::Body>,
}

/// Nested types of [`Request`].
pub mod request {
    /// Which request this is.
    #[derive(Clone, PartialEq, prost::Oneof)]
    pub enum Body {
        #[prost(message, tag = "10")]
        Store(super::Store),
        #[prost(message, tag = "11")]
        Retrieve(super::Retrieve),
        #[prost(message, tag = "12")]
        Delete(super::Delete),
        #[prost(message, tag = "13")]
        Info(super::Info),
        #[prost(message, tag = "14")]
        Replicate(super::Replicate),
        #[prost(message, tag = "15")]
        SyncDigest(super::SyncDigest),
        #[prost(message, tag = "16")]
        SyncList(super::SyncList),
        #[prost(message, tag = "17")]
        SyncFetch(super::SyncFetch),
        #[prost(message, tag = "18")]
        GetSwarm(super::GetSwarm),
        #[prost(message, tag = "19")]
        Onion(super::Onion),
        #[prost(message, tag = "20")]
        GetRegistry(super::GetRegistry),
        #[prost(message, tag = "21")]
        Claim(super::Claim),
    }
}

#[derive(Clone, PartialEq, prost::Message)]
pub struct Store {
    #[prost(bytes = "vec", tag = "1")]
    pub account: Vec<u8>,
    #[prost(uint32, tag = "2")]
    pub namespace: u32,
    #[prost(uint64, tag = "3")]
    pub ttl_ms: u64,
    #[prost(bytes = "vec", tag = "4")]
    pub data: Vec<u8>,
}

#[derive(Clone, PartialEq, prost::Message)]
pub struct Retrieve {
    #[prost(bytes = "vec", tag = "1")]
    pub account: Vec<u8>,
    #[prost(uint32, tag = "2")]
    pub namespace: u32,
    #[prost(uint64, tag = "3")]
    pub after_seq: u64,
    #[prost(uint32, tag = "4")]
    pub wait_ms: u32,
    #[prost(uint64, tag = "5")]
    pub timestamp_ms: u64,
    #[prost(bytes = "vec", tag = "6")]
    pub signature: Vec<u8>,
}

#[derive(Clone, PartialEq, prost::Message)]
pub struct Delete {
    #[prost(bytes = "vec", tag = "1")]
    pub account: Vec<u8>,
    #[prost(uint32, tag = "2")]
    pub namespace: u32,
    #[prost(bytes = "vec", repeated, tag = "3")]
    pub hashes: Vec<Vec<u8>>,
    #[prost(uint64, tag = "4")]
    pub timestamp_ms: u64,
    #[prost(bytes = "vec", tag = "5")]
    pub signature: Vec<u8>,
}

#[derive(Clone, PartialEq, prost::Message)]
pub struct Info {}

#[derive(Clone, PartialEq, prost::Message)]
pub struct Replicate {
    #[prost(bytes = "vec", tag = "1")]
    pub account: Vec<u8>,
    #[prost(uint32, tag = "2")]
    pub namespace: u32,
    #[prost(bytes = "vec", tag = "3")]
    pub data: Vec<u8>,
    #[prost(uint64, tag = "4")]
    pub expiry_ms: u64,
}

#[derive(Clone, PartialEq, prost::Message)]
pub struct SyncDigest {
    #[prost(uint64, tag = "1")]
    pub start: u64,
    #[prost(uint64, tag = "2")]
    pub end: u64,
    #[prost(uint32, tag = "3")]
    pub buckets: u32,
}

#[derive(Clone, PartialEq, prost::Message)]
pub struct SyncList {
    #[prost(uint64, tag = "1")]
    pub start: u64,
    #[prost(uint64, tag = "2")]
    pub end: u64,
    #[prost(message, optional, tag = "3")]
    pub after: Option<SyncCursor>,
}

#[derive(Clone, PartialEq, prost::Message)]
pub struct SyncCursor {
    #[prost(uint64, tag = "1")]
    pub position: u64,
    #[prost(bytes = "vec", tag = "2")]
    pub account: Vec<u8>,
    #[prost(uint32, tag = "3")]
    pub namespace: u32,
    #[prost(bytes = "vec", tag = "4")]
    pub hash: Vec<u8>,
    #[prost(bool, tag = "5")]
    pub tombstone: bool,
}

#[derive(Clone, PartialEq, prost::Message)]
pub struct MessageKey {
    #[prost(bytes = "vec", tag = "1")]
    pub account: Vec<u8>,
    #[prost(uint32, tag = "2")]
    pub namespace: u32,
    #[prost(bytes = "vec", tag = "3")]
    pub hash: Vec<u8>,
}

#[derive(Clone, PartialEq, prost::Message)]
pub struct SyncFetch {
    #[prost(message, repeated, tag = "1")]
    pub keys: Vec<MessageKey>,
}

#[derive(Clone, PartialEq, prost::Message)]
pub struct GetSwarm {
    #[prost(bytes = "vec", tag = "1")]
    pub account: Vec<u8>,
}

#[derive(Clone, PartialEq, prost::Message)]
pub struct Onion {
    #[prost(bytes = "vec", tag = "1")]
    pub ephemeral_key: Vec<u8>,
    #[prost(bytes = "vec", tag = "2")]
    pub layer: Vec<u8>,
    #[prost(uint32, tag = "3")]
    pub hop: u32,
}

#[derive(Clone, PartialEq, prost::Message)]
pub struct GetRegistry {}

#[derive(Clone, PartialEq, prost::Message)]
pub struct Claim {
    #[prost(bytes = "vec", tag = "1")]
    pub account: Vec<u8>,
    #[prost(uint32, tag = "2")]
    pub namespace: u32,
    #[prost(bytes = "vec", tag = "3")]
    pub hash: Vec<u8>,
    #[prost(bytes = "vec", tag = "4")]
    pub claimant: Vec<u8>,
}

/// Outer response message.
#[derive(Clone, PartialEq, prost::Message)]
pub struct Response {
    #[prost(uint32, tag = "1")]
    pub version: u32,
    #[prost(uint64, tag = "2")]
    pub node_time_ms: u64,
    #[prost(
        oneof = "response::Body",
        tags = "10, 11, 12, 13, 15, 16, 17, 18, 19, 20, 21, 22, 23"
    )]
    pub body: Option<response::Body>,
}

/// Nested types of [`Response`].
pub mod response {
    /// Which response this is.
    #[derive(Clone, PartialEq, prost::Oneof)]
    pub enum Body {
        #[prost(message, tag = "10")]
        Stored(super::Stored),
        #[prost(message, tag = "11")]
        Messages(super::Messages),
        #[prost(message, tag = "12")]
        Deleted(super::Deleted),
        #[prost(message, tag = "13")]
        Info(super::InfoOk),
        #[prost(message, tag = "15")]
        Error(super::Error),
        #[prost(message, tag = "16")]
        WrongSwarm(super::Swarm),
        #[prost(message, tag = "17")]
        Swarm(super::Swarm),
        #[prost(message, tag = "18")]
        Digest(super::Digest),
        #[prost(message, tag = "19")]
        Entries(super::Entries),
        #[prost(message, tag = "20")]
        Full(super::Full),
        #[prost(message, tag = "21")]
        Onion(super::OnionBlob),
        #[prost(message, tag = "22")]
        Registry(super::Registry),
        #[prost(message, tag = "23")]
        Claimed(super::Claimed),
    }
}

#[derive(Clone, PartialEq, prost::Message)]
pub struct Stored {
    #[prost(bytes = "vec", tag = "1")]
    pub hash: Vec<u8>,
    #[prost(uint64, tag = "2")]
    pub expiry_ms: u64,
    #[prost(bool, tag = "3")]
    pub already_stored: bool,
    #[prost(message, repeated, tag = "4")]
    pub receipts: Vec<Receipt>,
}

#[derive(Clone, PartialEq, prost::Message)]
pub struct Receipt {
    #[prost(bytes = "vec", tag = "1")]
    pub node_key: Vec<u8>,
    #[prost(uint64, tag = "2")]
    pub expiry_ms: u64,
    #[prost(bytes = "vec", tag = "3")]
    pub signature: Vec<u8>,
    #[prost(uint32, tag = "4")]
    pub leaf_index: u32,
    #[prost(uint32, tag = "5")]
    pub tree_size: u32,
    #[prost(bytes = "vec", repeated, tag = "6")]
    pub path: Vec<Vec<u8>>,
}

#[derive(Clone, PartialEq, prost::Message)]
pub struct SwarmNode {
    #[prost(bytes = "vec", tag = "1")]
    pub node_key: Vec<u8>,
    #[prost(string, tag = "2")]
    pub addr: String,
}

#[derive(Clone, PartialEq, prost::Message)]
pub struct Swarm {
    #[prost(uint64, tag = "1")]
    pub swarm_id: u64,
    #[prost(message, repeated, tag = "2")]
    pub nodes: Vec<SwarmNode>,
}

#[derive(Clone, PartialEq, prost::Message)]
pub struct Digest {
    #[prost(bytes = "vec", repeated, tag = "1")]
    pub digests: Vec<Vec<u8>>,
}

#[derive(Clone, PartialEq, prost::Message)]
pub struct Entry {
    #[prost(bytes = "vec", tag = "1")]
    pub account: Vec<u8>,
    #[prost(uint32, tag = "2")]
    pub namespace: u32,
    #[prost(bytes = "vec", tag = "3")]
    pub hash: Vec<u8>,
    #[prost(uint64, tag = "4")]
    pub expiry_ms: u64,
    #[prost(bool, tag = "5")]
    pub tombstone: bool,
}

#[derive(Clone, PartialEq, prost::Message)]
pub struct Entries {
    #[prost(message, repeated, tag = "1")]
    pub entries: Vec<Entry>,
    #[prost(bool, tag = "2")]
    pub truncated: bool,
    #[prost(message, optional, tag = "3")]
    pub next: Option<SyncCursor>,
}

#[derive(Clone, PartialEq, prost::Message)]
pub struct FullMessage {
    #[prost(bytes = "vec", tag = "1")]
    pub account: Vec<u8>,
    #[prost(uint32, tag = "2")]
    pub namespace: u32,
    #[prost(bytes = "vec", tag = "3")]
    pub data: Vec<u8>,
    #[prost(uint64, tag = "4")]
    pub expiry_ms: u64,
}

#[derive(Clone, PartialEq, prost::Message)]
pub struct Full {
    #[prost(message, repeated, tag = "1")]
    pub messages: Vec<FullMessage>,
}

#[derive(Clone, PartialEq, prost::Message)]
pub struct Message {
    #[prost(uint64, tag = "1")]
    pub seq: u64,
    #[prost(bytes = "vec", tag = "2")]
    pub hash: Vec<u8>,
    #[prost(bytes = "vec", tag = "3")]
    pub data: Vec<u8>,
    #[prost(uint64, tag = "4")]
    pub stored_at_ms: u64,
    #[prost(uint64, tag = "5")]
    pub expiry_ms: u64,
}

#[derive(Clone, PartialEq, prost::Message)]
pub struct Messages {
    #[prost(message, repeated, tag = "1")]
    pub messages: Vec<Message>,
    #[prost(uint64, tag = "2")]
    pub cursor: u64,
    #[prost(bool, tag = "3")]
    pub more: bool,
}

#[derive(Clone, PartialEq, prost::Message)]
pub struct Deleted {
    #[prost(uint64, tag = "1")]
    pub count: u64,
}

#[derive(Clone, PartialEq, prost::Message)]
pub struct InfoOk {
    #[prost(string, tag = "1")]
    pub software_version: String,
    #[prost(uint32, tag = "2")]
    pub protocol_version: u32,
    #[prost(bytes = "vec", tag = "3")]
    pub node_key: Vec<u8>,
}

#[derive(Clone, PartialEq, prost::Message)]
pub struct Error {
    #[prost(uint32, tag = "1")]
    pub code: u32,
    #[prost(string, tag = "2")]
    pub message: String,
}

#[derive(Clone, PartialEq, prost::Message)]
pub struct OnionBlob {
    #[prost(bytes = "vec", tag = "1")]
    pub blob: Vec<u8>,
}

#[derive(Clone, PartialEq, prost::Message)]
pub struct Registry {
    #[prost(uint64, tag = "1")]
    pub height: u64,
    #[prost(bytes = "vec", tag = "2")]
    pub hash: Vec<u8>,
    #[prost(string, tag = "3")]
    pub text: String,
}

#[derive(Clone, PartialEq, prost::Message)]
pub struct Claimed {
    #[prost(bytes = "vec", tag = "1")]
    pub data: Vec<u8>,
}
