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

#[derive(Clone, PartialEq, prost::Message)]
pub struct OwnDeviceState {
    #[prost(uint32, tag = "1")]
    pub format: u32,
    #[prost(bytes = "vec", tag = "2")]
    pub device_id: Vec<u8>,
    #[prost(string, tag = "3")]
    pub name: String,
    #[prost(bytes = "vec", tag = "4")]
    pub identity: Vec<u8>,
    #[prost(message, repeated, tag = "5")]
    pub signed_prekeys: Vec<SecretPrekey>,
    #[prost(message, repeated, tag = "6")]
    pub kem_prekeys: Vec<SecretPrekey>,
    #[prost(message, repeated, tag = "7")]
    pub one_time: Vec<SecretOneTime>,
    #[prost(uint32, tag = "8")]
    pub next_prekey_id: u32,
}

#[derive(Clone, PartialEq, prost::Message)]
pub struct SecretPrekey {
    #[prost(uint32, tag = "1")]
    pub id: u32,
    #[prost(bytes = "vec", tag = "2")]
    pub secret: Vec<u8>,
    #[prost(uint64, tag = "3")]
    pub created_at_ms: u64,
}

#[derive(Clone, PartialEq, prost::Message)]
pub struct SecretOneTime {
    #[prost(uint32, tag = "1")]
    pub id: u32,
    #[prost(bytes = "vec", tag = "2")]
    pub x25519: Vec<u8>,
    #[prost(bytes = "vec", tag = "3")]
    pub kem_seed: Vec<u8>,
}

impl OwnDeviceState {
    /// Overwrites every secret it holds (call before dropping it).
    pub fn wipe(&mut self) {
        use zeroize::Zeroize;
        self.identity.zeroize();
        for p in self
            .signed_prekeys
            .iter_mut()
            .chain(self.kem_prekeys.iter_mut())
        {
            p.secret.zeroize();
        }
        for o in &mut self.one_time {
            o.x25519.zeroize();
            o.kem_seed.zeroize();
        }
    }
}
