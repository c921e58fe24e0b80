//! The protobuf schema of the records, as prost structs (docs/PROTOCOL.md
//! §16). Raw and unchecked: the typed records are built from these only
//! after every length and range check.

#![allow(missing_docs)] // each field is specified in docs/PROTOCOL.md

#[derive(Clone, PartialEq, prost::Message)]
pub struct DeviceList {
    #[prost(uint32, tag = "1")]
    pub format: u32,
    #[prost(uint64, tag = "2")]
    pub version: u64,
    #[prost(message, repeated, tag = "3")]
    pub devices: Vec<Device>,
}

#[derive(Clone, PartialEq, prost::Message)]
pub struct Device {
    #[prost(bytes = "vec", tag = "1")]
    pub device_id: Vec<u8>,
    #[prost(bytes = "vec", tag = "2")]
    pub identity_key: Vec<u8>,
    #[prost(uint32, tag = "3")]
    pub mailbox: u32,
    #[prost(string, tag = "4")]
    pub name: String,
    #[prost(uint64, tag = "5")]
    pub added_at_ms: u64,
    #[prost(uint64, tag = "6")]
    pub removed_at_ms: u64,
}

#[derive(Clone, PartialEq, prost::Message)]
pub struct PrekeyBundle {
    #[prost(uint32, tag = "1")]
    pub format: u32,
    #[prost(bytes = "vec", tag = "2")]
    pub device_id: Vec<u8>,
    #[prost(uint32, tag = "3")]
    pub signed_prekey_id: u32,
    #[prost(bytes = "vec", tag = "4")]
    pub signed_prekey: Vec<u8>,
    #[prost(uint32, tag = "5")]
    pub kem_prekey_id: u32,
    #[prost(bytes = "vec", tag = "6")]
    pub kem_prekey: Vec<u8>,
    #[prost(uint64, tag = "7")]
    pub created_at_ms: u64,
}

#[derive(Clone, PartialEq, prost::Message)]
pub struct OneTimePrekey {
    #[prost(uint32, tag = "1")]
    pub format: u32,
    #[prost(bytes = "vec", tag = "2")]
    pub device_id: Vec<u8>,
    #[prost(uint32, tag = "3")]
    pub prekey_id: u32,
    #[prost(bytes = "vec", tag = "4")]
    pub x25519: Vec<u8>,
    #[prost(bytes = "vec", tag = "5")]
    pub kem: Vec<u8>,
}
