//! Conversion between [`Request`]/[`Response`] and their protobuf form,
//! with bounded, validating decoding: every length, count, range and version
//! is checked on the way in.
//!
//! Not for: the length-prefix framing itself (see `framing`).

use prost::Message as _;

use crate::error::{ErrorCode, WireError};
use crate::framing::{frame, unframe};
use crate::limits::*;
use crate::proto;
use nightjar_types::namespace::{is_claimable, is_published};
use nightjar_types::{
    Claimant, FullMessage, MailboxKey, MessageKey, StoredMessage, SyncCursor, SyncEntry,
};

use crate::request::{
    ClaimRequest, DeleteRequest, OnionRequest, ReplicateRequest, Request, RetrieveRequest,
    StoreRequest,
};
use crate::response::{Receipt, Response, ResponseBody, SwarmInfo};

impl Request {
    /// Encode as a complete frame (length prefix included).
    pub fn to_frame(&self) -> Vec<u8> {
        let body = match self {
            Request::Store(r) => proto::request::Body::Store(proto::Store {
                account: r.account.as_bytes().to_vec(),
                namespace: u32::from(r.namespace),
                ttl_ms: r.ttl_ms,
                data: r.data.clone(),
            }),
            Request::Retrieve(r) => proto::request::Body::Retrieve(proto::Retrieve {
                account: r.account.as_bytes().to_vec(),
                namespace: u32::from(r.namespace),
                after_seq: r.after_seq,
                wait_ms: r.wait_ms,
                timestamp_ms: r.timestamp_ms,
                // A published namespace's retrieve carries no signature.
                signature: if r.is_public() && r.signature == [0; 64] {
                    Vec::new()
                } else {
                    r.signature.to_vec()
                },
            }),
            Request::Delete(r) => proto::request::Body::Delete(proto::Delete {
                account: r.account.as_bytes().to_vec(),
                namespace: u32::from(r.namespace),
                hashes: r.hashes.iter().map(|h| h.as_bytes().to_vec()).collect(),
                timestamp_ms: r.timestamp_ms,
                signature: r.signature.to_vec(),
            }),
            Request::Info => proto::request::Body::Info(proto::Info {}),
            Request::Replicate(r) => proto::request::Body::Replicate(proto::Replicate {
                account: r.account.as_bytes().to_vec(),
                namespace: u32::from(r.namespace),
                data: r.data.clone(),
                expiry_ms: r.expiry_ms,
            }),
            Request::SyncDigest {
                start,
                end,
                buckets,
            } => proto::request::Body::SyncDigest(proto::SyncDigest {
                start: *start,
                end: *end,
                buckets: *buckets,
            }),
            Request::SyncList { start, end, after } => {
                proto::request::Body::SyncList(proto::SyncList {
                    start: *start,
                    end: *end,
                    after: after.as_ref().map(cursor_to_proto),
                })
            }
            Request::SyncFetch(keys) => proto::request::Body::SyncFetch(proto::SyncFetch {
                keys: keys.iter().map(key_to_proto).collect(),
            }),
            Request::GetSwarm { account } => proto::request::Body::GetSwarm(proto::GetSwarm {
                account: account.as_bytes().to_vec(),
            }),
            Request::Onion(o) => proto::request::Body::Onion(proto::Onion {
                ephemeral_key: o.ephemeral_key.to_vec(),
                layer: o.layer.clone(),
                hop: o.hop,
            }),
            Request::GetRegistry => proto::request::Body::GetRegistry(proto::GetRegistry {}),
            Request::Claim(c) => proto::request::Body::Claim(proto::Claim {
                account: c.account.as_bytes().to_vec(),
                namespace: u32::from(c.namespace),
                hash: c.hash.as_bytes().to_vec(),
                claimant: c.claimant.as_bytes().to_vec(),
            }),
        };
        frame(&proto::Request {
            version: PROTOCOL_VERSION,
            body: Some(body),
        })
    }

    /// Decode and validate a complete request frame of at most [`MAX_REQUEST_FRAME`](crate::MAX_REQUEST_FRAME) bytes.
    pub fn from_frame(bytes: &[u8]) -> Result<Request, WireError> {
        let body = unframe(bytes, MAX_REQUEST_FRAME)?;
        let raw = proto::Request::decode(body).map_err(|e| WireError::Malformed(e.to_string()))?;
        if raw.version != PROTOCOL_VERSION {
            return Err(WireError::UnsupportedVersion(raw.version));
        }
        match raw.body.ok_or(WireError::MissingField("body"))? {
            proto::request::Body::Store(s) => {
                if s.data.len() > MAX_MESSAGE_SIZE {
                    return Err(WireError::MessageTooLarge(s.data.len()));
                }
                if s.data.is_empty() {
                    return Err(invalid("data", "empty message"));
                }
                if !(MIN_TTL_MS..=MAX_TTL_MS).contains(&s.ttl_ms) {
                    return Err(WireError::TtlOutOfRange(s.ttl_ms));
                }
                Ok(Request::Store(StoreRequest {
                    account: key("account", &s.account)?,
                    namespace: namespace(s.namespace)?,
                    ttl_ms: s.ttl_ms,
                    data: s.data,
                }))
            }
            proto::request::Body::Retrieve(r) => {
                if r.wait_ms > MAX_WAIT_MS {
                    return Err(invalid(
                        "wait_ms",
                        format!("{} exceeds {MAX_WAIT_MS}", r.wait_ms),
                    ));
                }
                let namespace = namespace(r.namespace)?;
                // Published namespaces are read without a signature.
                let signature = if r.signature.is_empty() && is_published(namespace) {
                    [0; 64]
                } else {
                    fixed("signature", &r.signature)?
                };
                Ok(Request::Retrieve(RetrieveRequest {
                    account: key("account", &r.account)?,
                    namespace,
                    after_seq: r.after_seq,
                    wait_ms: r.wait_ms,
                    timestamp_ms: r.timestamp_ms,
                    signature,
                }))
            }
            proto::request::Body::Delete(d) => {
                if d.hashes.is_empty() || d.hashes.len() > MAX_DELETE_HASHES {
                    return Err(invalid(
                        "hashes",
                        format!("{} hashes, need 1..={MAX_DELETE_HASHES}", d.hashes.len()),
                    ));
                }
                let hashes = d
                    .hashes
                    .iter()
                    .map(|h| key("hashes", h))
                    .collect::<Result<Vec<_>, _>>()?;
                Ok(Request::Delete(DeleteRequest {
                    account: key("account", &d.account)?,
                    namespace: namespace(d.namespace)?,
                    hashes,
                    timestamp_ms: d.timestamp_ms,
                    signature: fixed("signature", &d.signature)?,
                }))
            }
            proto::request::Body::Info(_) => Ok(Request::Info),
            proto::request::Body::Replicate(r) => {
                if r.data.len() > MAX_MESSAGE_SIZE {
                    return Err(WireError::MessageTooLarge(r.data.len()));
                }
                if r.data.is_empty() {
                    return Err(invalid("data", "empty message"));
                }
                Ok(Request::Replicate(ReplicateRequest {
                    account: key("account", &r.account)?,
                    namespace: namespace(r.namespace)?,
                    data: r.data,
                    expiry_ms: r.expiry_ms,
                }))
            }
            proto::request::Body::SyncDigest(d) => {
                if d.buckets == 0 || d.buckets > MAX_SYNC_BUCKETS {
                    return Err(invalid(
                        "buckets",
                        format!("{}, need 1..={MAX_SYNC_BUCKETS}", d.buckets),
                    ));
                }
                Ok(Request::SyncDigest {
                    start: d.start,
                    end: d.end,
                    buckets: d.buckets,
                })
            }
            proto::request::Body::SyncList(l) => Ok(Request::SyncList {
                start: l.start,
                end: l.end,
                after: l.after.as_ref().map(cursor_from_proto).transpose()?,
            }),
            proto::request::Body::SyncFetch(f) => {
                if f.keys.is_empty() || f.keys.len() > MAX_FETCH_KEYS {
                    return Err(invalid(
                        "keys",
                        format!("{} keys, need 1..={MAX_FETCH_KEYS}", f.keys.len()),
                    ));
                }
                Ok(Request::SyncFetch(
                    f.keys
                        .iter()
                        .map(key_from_proto)
                        .collect::<Result<_, _>>()?,
                ))
            }
            proto::request::Body::GetSwarm(g) => Ok(Request::GetSwarm {
                account: key("account", &g.account)?,
            }),
            proto::request::Body::Onion(o) => {
                if o.layer.is_empty() || o.layer.len() > MAX_ONION_LAYER {
                    return Err(invalid(
                        "layer",
                        format!("{} bytes, need 1..={MAX_ONION_LAYER}", o.layer.len()),
                    ));
                }
                if o.hop >= MAX_ONION_HOPS {
                    return Err(invalid(
                        "hop",
                        format!("{}, need 0..{MAX_ONION_HOPS}", o.hop),
                    ));
                }
                Ok(Request::Onion(OnionRequest {
                    ephemeral_key: fixed("ephemeral_key", &o.ephemeral_key)?,
                    layer: o.layer,
                    hop: o.hop,
                }))
            }
            proto::request::Body::GetRegistry(_) => Ok(Request::GetRegistry),
            proto::request::Body::Claim(c) => {
                let namespace = namespace(c.namespace)?;
                if !is_claimable(namespace) {
                    return Err(invalid(
                        "namespace",
                        format!("{namespace} is not claimable (65408..=65535)"),
                    ));
                }
                Ok(Request::Claim(ClaimRequest {
                    account: key("account", &c.account)?,
                    namespace,
                    hash: key("hash", &c.hash)?,
                    claimant: Claimant::new(fixed("claimant", &c.claimant)?),
                }))
            }
        }
    }
}

impl Response {
    /// Encode as a complete frame.
    pub fn to_frame(&self) -> Vec<u8> {
        let body = match &self.body {
            ResponseBody::Stored {
                hash,
                expiry_ms,
                already_stored,
                receipts,
            } => proto::response::Body::Stored(proto::Stored {
                hash: hash.as_bytes().to_vec(),
                expiry_ms: *expiry_ms,
                already_stored: *already_stored,
                receipts: receipts
                    .iter()
                    .map(|r| proto::Receipt {
                        node_key: r.node_key.as_bytes().to_vec(),
                        expiry_ms: r.expiry_ms,
                        signature: r.signature.to_vec(),
                        leaf_index: r.leaf_index,
                        tree_size: r.tree_size,
                        path: r.path.iter().map(|h| h.to_vec()).collect(),
                    })
                    .collect(),
            }),
            ResponseBody::Messages {
                messages,
                cursor,
                more,
            } => proto::response::Body::Messages(proto::Messages {
                messages: messages
                    .iter()
                    .map(|m| proto::Message {
                        seq: m.seq,
                        hash: m.hash.as_bytes().to_vec(),
                        data: m.data.clone(),
                        stored_at_ms: m.stored_at_ms,
                        expiry_ms: m.expiry_ms,
                    })
                    .collect(),
                cursor: *cursor,
                more: *more,
            }),
            ResponseBody::Deleted { count } => {
                proto::response::Body::Deleted(proto::Deleted { count: *count })
            }
            ResponseBody::Info {
                software_version,
                protocol_version,
                node_key,
            } => proto::response::Body::Info(proto::InfoOk {
                software_version: software_version.clone(),
                protocol_version: *protocol_version,
                node_key: node_key.as_bytes().to_vec(),
            }),
            ResponseBody::Error { code, message } => proto::response::Body::Error(proto::Error {
                code: code.as_u32(),
                message: message.clone(),
            }),
            ResponseBody::WrongSwarm(info) => {
                proto::response::Body::WrongSwarm(swarm_to_proto(info))
            }
            ResponseBody::Swarm(info) => proto::response::Body::Swarm(swarm_to_proto(info)),
            ResponseBody::Digest(d) => proto::response::Body::Digest(proto::Digest {
                digests: d.iter().map(|x| x.to_vec()).collect(),
            }),
            ResponseBody::Entries {
                entries,
                truncated,
                next,
            } => proto::response::Body::Entries(proto::Entries {
                entries: entries
                    .iter()
                    .map(|e| proto::Entry {
                        account: e.key.account.as_bytes().to_vec(),
                        namespace: u32::from(e.key.namespace),
                        hash: e.key.hash.as_bytes().to_vec(),
                        expiry_ms: e.expiry_ms,
                        tombstone: e.tombstone,
                    })
                    .collect(),
                truncated: *truncated,
                next: next.as_ref().map(cursor_to_proto),
            }),
            ResponseBody::Full(messages) => proto::response::Body::Full(proto::Full {
                messages: messages
                    .iter()
                    .map(|m| proto::FullMessage {
                        account: m.mailbox.account.as_bytes().to_vec(),
                        namespace: u32::from(m.mailbox.namespace),
                        data: m.data.clone(),
                        expiry_ms: m.expiry_ms,
                    })
                    .collect(),
            }),
            ResponseBody::Onion(blob) => {
                proto::response::Body::Onion(proto::OnionBlob { blob: blob.clone() })
            }
            ResponseBody::Registry { height, hash, text } => {
                proto::response::Body::Registry(proto::Registry {
                    height: *height,
                    hash: hash.to_vec(),
                    text: text.clone(),
                })
            }
            ResponseBody::Claimed { data } => {
                proto::response::Body::Claimed(proto::Claimed { data: data.clone() })
            }
        };
        frame(&proto::Response {
            version: PROTOCOL_VERSION,
            node_time_ms: self.node_time_ms,
            body: Some(body),
        })
    }

    /// Decode and validate a complete response frame of at most [`MAX_RESPONSE_FRAME`](crate::MAX_RESPONSE_FRAME) bytes.
    pub fn from_frame(bytes: &[u8]) -> Result<Response, WireError> {
        let body = unframe(bytes, MAX_RESPONSE_FRAME)?;
        let raw = proto::Response::decode(body).map_err(|e| WireError::Malformed(e.to_string()))?;
        if raw.version != PROTOCOL_VERSION {
            return Err(WireError::UnsupportedVersion(raw.version));
        }
        let body = match raw.body.ok_or(WireError::MissingField("body"))? {
            proto::response::Body::Stored(s) => {
                if s.receipts.len() > MAX_RECEIPTS {
                    return Err(invalid(
                        "receipts",
                        format!("{} receipts", s.receipts.len()),
                    ));
                }
                ResponseBody::Stored {
                    hash: key("hash", &s.hash)?,
                    expiry_ms: s.expiry_ms,
                    already_stored: s.already_stored,
                    receipts: s
                        .receipts
                        .iter()
                        .map(receipt)
                        .collect::<Result<_, WireError>>()?,
                }
            }
            proto::response::Body::Messages(m) => ResponseBody::Messages {
                messages: m
                    .messages
                    .into_iter()
                    .map(|w| {
                        if w.data.len() > MAX_MESSAGE_SIZE {
                            return Err(WireError::MessageTooLarge(w.data.len()));
                        }
                        Ok(StoredMessage {
                            seq: w.seq,
                            hash: key("hash", &w.hash)?,
                            data: w.data,
                            stored_at_ms: w.stored_at_ms,
                            expiry_ms: w.expiry_ms,
                        })
                    })
                    .collect::<Result<Vec<_>, _>>()?,
                cursor: m.cursor,
                more: m.more,
            },
            proto::response::Body::Deleted(d) => ResponseBody::Deleted { count: d.count },
            proto::response::Body::Info(i) => ResponseBody::Info {
                software_version: i.software_version,
                protocol_version: i.protocol_version,
                node_key: key("node_key", &i.node_key)?,
            },
            proto::response::Body::Error(e) => ResponseBody::Error {
                code: ErrorCode::from_u32(e.code),
                message: e.message,
            },
            proto::response::Body::WrongSwarm(w) => ResponseBody::WrongSwarm(swarm_from_proto(&w)?),
            proto::response::Body::Swarm(w) => ResponseBody::Swarm(swarm_from_proto(&w)?),
            proto::response::Body::Digest(d) => {
                if d.digests.len() > MAX_SYNC_BUCKETS as usize {
                    return Err(invalid("digests", format!("{} digests", d.digests.len())));
                }
                ResponseBody::Digest(
                    d.digests
                        .iter()
                        .map(|x| fixed("digests", x))
                        .collect::<Result<_, _>>()?,
                )
            }
            proto::response::Body::Entries(e) => {
                if e.entries.len() > MAX_SYNC_ENTRIES {
                    return Err(invalid("entries", format!("{} entries", e.entries.len())));
                }
                ResponseBody::Entries {
                    entries: e
                        .entries
                        .iter()
                        .map(|x| {
                            Ok(SyncEntry {
                                key: MessageKey {
                                    account: key("account", &x.account)?,
                                    namespace: namespace(x.namespace)?,
                                    hash: key("hash", &x.hash)?,
                                },
                                expiry_ms: x.expiry_ms,
                                tombstone: x.tombstone,
                            })
                        })
                        .collect::<Result<_, WireError>>()?,
                    truncated: e.truncated,
                    next: e.next.as_ref().map(cursor_from_proto).transpose()?,
                }
            }
            proto::response::Body::Full(f) => {
                if f.messages.len() > MAX_FETCH_KEYS {
                    return Err(invalid(
                        "messages",
                        format!("{} messages", f.messages.len()),
                    ));
                }
                ResponseBody::Full(
                    f.messages
                        .into_iter()
                        .map(|m| {
                            if m.data.len() > MAX_MESSAGE_SIZE {
                                return Err(WireError::MessageTooLarge(m.data.len()));
                            }
                            Ok(FullMessage {
                                mailbox: MailboxKey {
                                    account: key("account", &m.account)?,
                                    namespace: namespace(m.namespace)?,
                                },
                                data: m.data,
                                expiry_ms: m.expiry_ms,
                            })
                        })
                        .collect::<Result<_, _>>()?,
                )
            }
            proto::response::Body::Onion(o) => {
                if o.blob.is_empty() || o.blob.len() > MAX_RESPONSE_FRAME {
                    return Err(invalid(
                        "blob",
                        format!("{} bytes, need 1..={MAX_RESPONSE_FRAME}", o.blob.len()),
                    ));
                }
                ResponseBody::Onion(o.blob)
            }
            proto::response::Body::Registry(r) => {
                if r.text.len() > MAX_REGISTRY_TEXT {
                    return Err(invalid(
                        "text",
                        format!("{} bytes, more than {MAX_REGISTRY_TEXT}", r.text.len()),
                    ));
                }
                ResponseBody::Registry {
                    height: r.height,
                    hash: fixed("hash", &r.hash)?,
                    text: r.text,
                }
            }
            proto::response::Body::Claimed(c) => {
                if c.data.len() > MAX_MESSAGE_SIZE {
                    return Err(WireError::MessageTooLarge(c.data.len()));
                }
                ResponseBody::Claimed { data: c.data }
            }
        };
        Ok(Response {
            node_time_ms: raw.node_time_ms,
            body,
        })
    }
}

fn key_to_proto(k: &MessageKey) -> proto::MessageKey {
    proto::MessageKey {
        account: k.account.as_bytes().to_vec(),
        namespace: u32::from(k.namespace),
        hash: k.hash.as_bytes().to_vec(),
    }
}

fn key_from_proto(k: &proto::MessageKey) -> Result<MessageKey, WireError> {
    Ok(MessageKey {
        account: key("account", &k.account)?,
        namespace: namespace(k.namespace)?,
        hash: key("hash", &k.hash)?,
    })
}

fn cursor_to_proto(c: &SyncCursor) -> proto::SyncCursor {
    proto::SyncCursor {
        position: c.position,
        account: c.key.account.as_bytes().to_vec(),
        namespace: u32::from(c.key.namespace),
        hash: c.key.hash.as_bytes().to_vec(),
        tombstone: c.tombstone,
    }
}

fn cursor_from_proto(c: &proto::SyncCursor) -> Result<SyncCursor, WireError> {
    Ok(SyncCursor {
        position: c.position,
        key: MessageKey {
            account: key("account", &c.account)?,
            namespace: namespace(c.namespace)?,
            hash: key("hash", &c.hash)?,
        },
        tombstone: c.tombstone,
    })
}

fn swarm_to_proto(info: &SwarmInfo) -> proto::Swarm {
    proto::Swarm {
        swarm_id: info.swarm_id,
        nodes: info
            .nodes
            .iter()
            .map(|(key, addr)| proto::SwarmNode {
                node_key: key.as_bytes().to_vec(),
                addr: addr.to_string(),
            })
            .collect(),
    }
}

fn swarm_from_proto(s: &proto::Swarm) -> Result<SwarmInfo, WireError> {
    if s.nodes.len() > MAX_SWARM_NODES {
        return Err(invalid("nodes", format!("{} nodes", s.nodes.len())));
    }
    Ok(SwarmInfo {
        swarm_id: s.swarm_id,
        nodes: s
            .nodes
            .iter()
            .map(|n| {
                let addr = n
                    .addr
                    .parse()
                    .map_err(|_| invalid("addr", format!("{:?} is not ip:port", n.addr)))?;
                Ok((key("node_key", &n.node_key)?, addr))
            })
            .collect::<Result<_, WireError>>()?,
    })
}

fn fixed<const N: usize>(field: &'static str, bytes: &[u8]) -> Result<[u8; N], WireError> {
    bytes
        .try_into()
        .map_err(|_| invalid(field, format!("{} bytes, expected {N}", bytes.len())))
}

/// A 32-byte key or hash field as its type (`AccountKey`, `MessageHash`,
/// `NodeKey`).
fn key<T: From<[u8; 32]>>(field: &'static str, bytes: &[u8]) -> Result<T, WireError> {
    fixed(field, bytes).map(T::from)
}

/// A receipt, its tree's shape checked: `1 <= tree_size <=`
/// [`MAX_RECEIPT_TREE`], `leaf_index < tree_size`, at most
/// [`MAX_RECEIPT_PATH`] 32-byte hashes in the path. (Whether the path
/// fits the index and size is the verifier's check.)
fn receipt(r: &proto::Receipt) -> Result<Receipt, WireError> {
    if r.tree_size == 0 || r.tree_size > MAX_RECEIPT_TREE {
        return Err(invalid(
            "tree_size",
            format!("{} (1..={MAX_RECEIPT_TREE})", r.tree_size),
        ));
    }
    if r.leaf_index >= r.tree_size {
        return Err(invalid(
            "leaf_index",
            format!("{} not below tree_size {}", r.leaf_index, r.tree_size),
        ));
    }
    if r.path.len() > MAX_RECEIPT_PATH {
        return Err(invalid(
            "path",
            format!("{} hashes (at most {MAX_RECEIPT_PATH})", r.path.len()),
        ));
    }
    Ok(Receipt {
        node_key: key("node_key", &r.node_key)?,
        expiry_ms: r.expiry_ms,
        signature: fixed("signature", &r.signature)?,
        leaf_index: r.leaf_index,
        tree_size: r.tree_size,
        path: r
            .path
            .iter()
            .map(|h| fixed("path", h))
            .collect::<Result<_, _>>()?,
    })
}

fn namespace(n: u32) -> Result<u16, WireError> {
    u16::try_from(n).map_err(|_| invalid("namespace", format!("{n} exceeds 65535")))
}

fn invalid(field: &'static str, reason: impl Into<String>) -> WireError {
    WireError::InvalidField {
        field,
        reason: reason.into(),
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use nightjar_types::{AccountKey, MessageHash, NodeKey};

    fn request_frame(body: proto::request::Body) -> Vec<u8> {
        frame(&proto::Request {
            version: 1,
            body: Some(body),
        })
    }

    #[test]
    fn a_public_retrieve_carries_no_signature_only_in_published_namespaces() {
        let public = Request::Retrieve(RetrieveRequest::public(
            AccountKey::new([5; 32]),
            0xff01,
            3,
            0,
        ));
        let raw = proto::Request::decode(&public.to_frame()[4..]).unwrap();
        let Some(proto::request::Body::Retrieve(r)) = raw.body else {
            panic!("not a retrieve");
        };
        assert!(r.signature.is_empty(), "the field is left out");
        assert_eq!(r.timestamp_ms, 0);

        let unsigned = |namespace: u32| {
            request_frame(proto::request::Body::Retrieve(proto::Retrieve {
                account: vec![5; 32],
                namespace,
                ..Default::default()
            }))
        };
        for namespace in [0xff00, 0xff80, 0xffff] {
            let Request::Retrieve(r) = Request::from_frame(&unsigned(namespace)).unwrap() else {
                panic!("not a retrieve");
            };
            assert_eq!(r.signature, [0; 64]);
            assert!(r.is_public());
        }
        for namespace in [0, 0x1000, 0xfe00, 0xfeff] {
            let err = Request::from_frame(&unsigned(namespace)).unwrap_err();
            assert_eq!(field_of(err), "signature", "{namespace:#x}");
        }
    }

    #[test]
    fn a_claim_names_a_claimable_namespace_and_a_16_byte_claimant() {
        let claim = |namespace: u32, hash: Vec<u8>, claimant: Vec<u8>| {
            request_frame(proto::request::Body::Claim(proto::Claim {
                account: vec![1; 32],
                namespace,
                hash,
                claimant,
            }))
        };
        assert!(Request::from_frame(&claim(0xff80, vec![2; 32], vec![3; 16])).is_ok());
        for (frame, field) in [
            (claim(0, vec![2; 32], vec![3; 16]), "namespace"),
            (claim(0xff00, vec![2; 32], vec![3; 16]), "namespace"),
            (claim(0xff7f, vec![2; 32], vec![3; 16]), "namespace"),
            (claim(0x1_ff80, vec![2; 32], vec![3; 16]), "namespace"),
            (claim(0xff80, vec![2; 31], vec![3; 16]), "hash"),
            (claim(0xff80, vec![2; 32], vec![3; 15]), "claimant"),
            (claim(0xff80, vec![2; 32], vec![]), "claimant"),
        ] {
            let err = Request::from_frame(&frame).unwrap_err();
            assert_eq!(err.code(), ErrorCode::BadRequest);
            assert_eq!(field_of(err), field);
        }
        let claim = Request::from_frame(&claim(0xff80, vec![2; 32], vec![3; 16])).unwrap();
        assert_eq!(claim.kind(), "claim");
        assert!(!claim.is_node_only(), "clients send claims");
    }

    #[test]
    fn a_claimed_record_is_at_most_one_message_long() {
        let claimed = |len: usize| {
            frame(&proto::Response {
                version: 1,
                node_time_ms: 1,
                body: Some(proto::response::Body::Claimed(proto::Claimed {
                    data: vec![1; len],
                })),
            })
        };
        assert!(Response::from_frame(&claimed(MAX_MESSAGE_SIZE)).is_ok());
        assert_eq!(
            Response::from_frame(&claimed(MAX_MESSAGE_SIZE + 1)).unwrap_err(),
            WireError::MessageTooLarge(MAX_MESSAGE_SIZE + 1)
        );
    }

    fn store() -> Request {
        Request::Store(StoreRequest {
            account: AccountKey::new([7; 32]),
            namespace: 0,
            ttl_ms: 60_000,
            data: vec![1, 2, 3],
        })
    }

    #[test]
    fn every_request_round_trips() {
        let reqs = [
            store(),
            Request::Retrieve(RetrieveRequest {
                account: AccountKey::new([1; 32]),
                namespace: 3,
                after_seq: 99,
                wait_ms: 30_000,
                timestamp_ms: 1_700_000_000_000,
                signature: [9; 64],
            }),
            Request::Delete(DeleteRequest {
                account: AccountKey::new([1; 32]),
                namespace: 0,
                hashes: vec![MessageHash::new([4; 32]), MessageHash::new([5; 32])],
                timestamp_ms: 5,
                signature: [2; 64],
            }),
            Request::Info,
            Request::Replicate(ReplicateRequest {
                account: AccountKey::new([3; 32]),
                namespace: 1,
                data: vec![1; 500],
                expiry_ms: 77,
            }),
            Request::SyncDigest {
                start: u64::MAX,
                end: 5,
                buckets: 16,
            },
            Request::SyncList {
                start: 0,
                end: 0,
                after: None,
            },
            Request::SyncList {
                start: 5,
                end: 1,
                after: Some(SyncCursor {
                    position: u64::MAX,
                    key: MessageKey {
                        account: AccountKey::new([4; 32]),
                        namespace: u16::MAX,
                        hash: MessageHash::new([5; 32]),
                    },
                    tombstone: true,
                }),
            },
            Request::SyncFetch(vec![MessageKey {
                account: AccountKey::new([1; 32]),
                namespace: 2,
                hash: MessageHash::new([3; 32]),
            }]),
            Request::GetSwarm {
                account: AccountKey::new([6; 32]),
            },
            Request::Onion(OnionRequest {
                ephemeral_key: [8; 32],
                layer: vec![0xab; MAX_ONION_LAYER],
                hop: MAX_ONION_HOPS - 1,
            }),
            Request::Onion(OnionRequest {
                ephemeral_key: [0; 32],
                layer: vec![1],
                hop: 0,
            }),
            Request::GetRegistry,
            Request::Claim(ClaimRequest {
                account: AccountKey::new([2; 32]),
                namespace: 0xff80,
                hash: MessageHash::new([3; 32]),
                claimant: Claimant::new([4; 16]),
            }),
            Request::Claim(ClaimRequest {
                account: AccountKey::new([2; 32]),
                namespace: u16::MAX,
                hash: MessageHash::new([0; 32]),
                claimant: Claimant::new([0; 16]),
            }),
            Request::Retrieve(RetrieveRequest::public(
                AccountKey::new([5; 32]),
                0xff00,
                7,
                1_000,
            )),
            // A signature in a published namespace is carried (and ignored).
            Request::Retrieve(RetrieveRequest {
                signature: [1; 64],
                ..RetrieveRequest::public(AccountKey::new([5; 32]), 0xff80, 0, 0)
            }),
        ];
        for r in reqs {
            assert_eq!(Request::from_frame(&r.to_frame()).unwrap(), r);
        }
    }

    #[test]
    fn receipt_shapes_beyond_the_limits_are_refused() {
        let frame = |leaf_index: u32, tree_size: u32, path: usize, hash_len: usize| {
            let raw = proto::Response {
                version: PROTOCOL_VERSION,
                node_time_ms: 1,
                body: Some(proto::response::Body::Stored(proto::Stored {
                    hash: vec![3; 32],
                    expiry_ms: 10,
                    already_stored: false,
                    receipts: vec![proto::Receipt {
                        node_key: vec![4; 32],
                        expiry_ms: 10,
                        signature: vec![5; 64],
                        leaf_index,
                        tree_size,
                        path: vec![vec![6; hash_len]; path],
                    }],
                })),
            };
            frame(&raw)
        };
        assert!(Response::from_frame(&frame(0, 1, 0, 32)).is_ok());
        assert!(Response::from_frame(&frame(5, MAX_RECEIPT_TREE, MAX_RECEIPT_PATH, 32)).is_ok());
        for (i, n, p, h) in [
            (0, 0, 0, 32),
            (1, 1, 0, 32),
            (0, MAX_RECEIPT_TREE + 1, 0, 32),
            (0, 4, MAX_RECEIPT_PATH + 1, 32),
            (0, 4, 2, 31),
        ] {
            assert!(
                matches!(
                    Response::from_frame(&frame(i, n, p, h)),
                    Err(WireError::InvalidField { .. })
                ),
                "{i} {n} {p} {h}"
            );
        }
    }

    #[test]
    fn every_response_round_trips() {
        let bodies = [
            ResponseBody::Stored {
                hash: MessageHash::new([3; 32]),
                expiry_ms: 10,
                already_stored: true,
                receipts: vec![Receipt {
                    node_key: NodeKey::new([4; 32]),
                    expiry_ms: 10,
                    signature: [5; 64],
                    leaf_index: 2,
                    tree_size: 3,
                    path: vec![[6; 32]],
                }],
            },
            ResponseBody::WrongSwarm(SwarmInfo {
                swarm_id: 9,
                nodes: vec![(NodeKey::new([1; 32]), "127.0.0.1:5".parse().unwrap())],
            }),
            ResponseBody::Swarm(SwarmInfo {
                swarm_id: u64::MAX,
                nodes: vec![],
            }),
            ResponseBody::Digest(vec![[1; 32], [2; 32]]),
            ResponseBody::Entries {
                entries: vec![SyncEntry {
                    key: MessageKey {
                        account: AccountKey::new([1; 32]),
                        namespace: 0,
                        hash: MessageHash::new([2; 32]),
                    },
                    expiry_ms: 5,
                    tombstone: true,
                }],
                truncated: false,
                next: None,
            },
            ResponseBody::Entries {
                entries: vec![],
                truncated: true,
                next: Some(SyncCursor {
                    position: 7,
                    key: MessageKey {
                        account: AccountKey::new([1; 32]),
                        namespace: 3,
                        hash: MessageHash::new([2; 32]),
                    },
                    tombstone: false,
                }),
            },
            ResponseBody::Full(vec![FullMessage {
                mailbox: MailboxKey {
                    account: AccountKey::new([1; 32]),
                    namespace: 0,
                },
                data: vec![1, 2],
                expiry_ms: 3,
            }]),
            ResponseBody::Messages {
                messages: vec![StoredMessage {
                    seq: 1,
                    hash: MessageHash::new([1; 32]),
                    data: vec![5; 100],
                    stored_at_ms: 2,
                    expiry_ms: 3,
                }],
                cursor: 1,
                more: false,
            },
            ResponseBody::Deleted { count: 2 },
            ResponseBody::Info {
                software_version: "0.1.0".into(),
                protocol_version: 1,
                node_key: NodeKey::new([8; 32]),
            },
            ResponseBody::Error {
                code: ErrorCode::Replay,
                message: "seen".into(),
            },
            ResponseBody::Error {
                code: ErrorCode::OnionFailed,
                message: "cannot open the layer".into(),
            },
            ResponseBody::Onion(vec![7; 1042]),
            ResponseBody::Registry {
                height: 12,
                hash: [9; 32],
                text: "version = 1\nnetwork = \"nightjar-devnet\"\n".into(),
            },
            ResponseBody::Registry {
                height: 0,
                hash: [0; 32],
                text: String::new(),
            },
            ResponseBody::Claimed {
                data: vec![7; MAX_MESSAGE_SIZE],
            },
            ResponseBody::Claimed { data: Vec::new() },
            ResponseBody::Error {
                code: ErrorCode::AlreadyClaimed,
                message: "claimed by another".into(),
            },
        ];
        for body in bodies {
            let r = Response {
                node_time_ms: 42,
                body,
            };
            assert_eq!(Response::from_frame(&r.to_frame()).unwrap(), r);
        }
    }

    #[test]
    fn truncated_frame_is_rejected_at_every_length() {
        let f = store().to_frame();
        for cut in 0..f.len() {
            let err = Request::from_frame(&f[..cut]).unwrap_err();
            assert!(
                matches!(err, WireError::Truncated { .. }),
                "cut {cut}: {err:?}"
            );
        }
    }

    #[test]
    fn trailing_bytes_are_rejected() {
        let mut f = store().to_frame();
        f.push(0);
        assert_eq!(
            Request::from_frame(&f).unwrap_err(),
            WireError::TrailingBytes(1)
        );
    }

    #[test]
    fn oversized_announcement_is_rejected_before_reading() {
        let mut f = vec![0xff, 0xff, 0xff, 0xff];
        f.extend_from_slice(&[0; 10]);
        assert!(matches!(
            Request::from_frame(&f).unwrap_err(),
            WireError::FrameTooLarge { .. }
        ));
    }

    #[test]
    fn unknown_version_is_rejected() {
        let f = frame(&proto::Request {
            version: 2,
            body: Some(proto::request::Body::Info(proto::Info {})),
        });
        assert_eq!(
            Request::from_frame(&f).unwrap_err(),
            WireError::UnsupportedVersion(2)
        );
        assert_eq!(
            WireError::UnsupportedVersion(2).code(),
            ErrorCode::UnsupportedVersion
        );
    }

    #[test]
    fn oversized_message_and_bad_ttl_are_rejected() {
        let mut big = match store() {
            Request::Store(s) => s,
            _ => unreachable!(),
        };
        big.data = vec![0; MAX_MESSAGE_SIZE + 1];
        let err = Request::from_frame(&Request::Store(big.clone()).to_frame()).unwrap_err();
        assert_eq!(err, WireError::MessageTooLarge(MAX_MESSAGE_SIZE + 1));
        assert_eq!(err.code(), ErrorCode::TooLarge);
        big.data = vec![0; MAX_MESSAGE_SIZE];
        assert!(Request::from_frame(&Request::Store(big.clone()).to_frame()).is_ok());
        for ttl in [0, MIN_TTL_MS - 1, MAX_TTL_MS + 1] {
            big.ttl_ms = ttl;
            let err = Request::from_frame(&Request::Store(big.clone()).to_frame()).unwrap_err();
            assert_eq!(err.code(), ErrorCode::TtlOutOfRange);
        }
    }

    #[test]
    fn wrong_field_lengths_are_rejected() {
        let f = frame(&proto::Request {
            version: 1,
            body: Some(proto::request::Body::Retrieve(proto::Retrieve {
                account: vec![1; 31],
                signature: vec![0; 64],
                ..Default::default()
            })),
        });
        assert!(matches!(
            Request::from_frame(&f).unwrap_err(),
            WireError::InvalidField {
                field: "account",
                ..
            }
        ));
    }

    #[test]
    fn sync_list_cursor_is_optional_and_its_fields_are_checked() {
        // A node that predates paging sends no cursor: the first page.
        let old = frame(&proto::Request {
            version: 1,
            body: Some(proto::request::Body::SyncList(proto::SyncList {
                start: 1,
                end: 2,
                after: None,
            })),
        });
        assert_eq!(
            Request::from_frame(&old).unwrap(),
            Request::SyncList {
                start: 1,
                end: 2,
                after: None
            }
        );
        let cursor = |account: Vec<u8>, namespace: u32, hash: Vec<u8>| proto::SyncCursor {
            position: 3,
            account,
            namespace,
            hash,
            tombstone: true,
        };
        for (bad, field) in [
            (cursor(vec![1; 31], 0, vec![2; 32]), "account"),
            (cursor(vec![1; 32], 1 << 16, vec![2; 32]), "namespace"),
            (cursor(vec![1; 32], 0, vec![]), "hash"),
        ] {
            let request = frame(&proto::Request {
                version: 1,
                body: Some(proto::request::Body::SyncList(proto::SyncList {
                    start: 1,
                    end: 2,
                    after: Some(bad.clone()),
                })),
            });
            assert_eq!(field_of(Request::from_frame(&request).unwrap_err()), field);
            let response = frame(&proto::Response {
                version: 1,
                node_time_ms: 1,
                body: Some(proto::response::Body::Entries(proto::Entries {
                    entries: vec![],
                    truncated: true,
                    next: Some(bad),
                })),
            });
            assert_eq!(
                field_of(Response::from_frame(&response).unwrap_err()),
                field
            );
        }
    }

    fn onion_frame(ephemeral_key: Vec<u8>, layer: Vec<u8>, hop: u32) -> Vec<u8> {
        frame(&proto::Request {
            version: 1,
            body: Some(proto::request::Body::Onion(proto::Onion {
                ephemeral_key,
                layer,
                hop,
            })),
        })
    }

    fn field_of(err: WireError) -> &'static str {
        match err {
            WireError::InvalidField { field, .. } => field,
            other => panic!("expected an invalid field, got {other:?}"),
        }
    }

    #[test]
    fn onion_request_fields_are_validated() {
        assert!(Request::from_frame(&onion_frame(vec![1; 32], vec![1; 10], 7)).is_ok());
        for len in [0, 31, 33] {
            let err = Request::from_frame(&onion_frame(vec![1; len], vec![1; 10], 0)).unwrap_err();
            assert_eq!(err.code(), ErrorCode::BadRequest);
            assert_eq!(field_of(err), "ephemeral_key");
        }
        for layer in [vec![], vec![1; MAX_ONION_LAYER + 1]] {
            let err = Request::from_frame(&onion_frame(vec![1; 32], layer, 0)).unwrap_err();
            assert_eq!(field_of(err), "layer");
        }
        for hop in [MAX_ONION_HOPS, u32::MAX] {
            let err = Request::from_frame(&onion_frame(vec![1; 32], vec![1], hop)).unwrap_err();
            assert_eq!(field_of(err), "hop");
        }
    }

    #[test]
    fn largest_onion_request_fits_a_request_frame() {
        let r = Request::Onion(OnionRequest {
            ephemeral_key: [0xff; 32],
            layer: vec![0xff; MAX_ONION_LAYER],
            hop: MAX_ONION_HOPS - 1,
        });
        assert!(r.to_frame().len() <= MAX_REQUEST_FRAME);
        assert_eq!(Request::from_frame(&r.to_frame()).unwrap(), r);
    }

    #[test]
    fn onion_and_get_registry_are_open_to_clients() {
        let onion = Request::Onion(OnionRequest {
            ephemeral_key: [1; 32],
            layer: vec![1],
            hop: 0,
        });
        assert!(!onion.is_node_only());
        assert!(!Request::GetRegistry.is_node_only());
        assert_eq!(onion.kind(), "onion");
        assert_eq!(Request::GetRegistry.kind(), "get_registry");
    }

    fn response_frame(body: proto::response::Body) -> Vec<u8> {
        frame(&proto::Response {
            version: 1,
            node_time_ms: 1,
            body: Some(body),
        })
    }

    #[test]
    fn onion_and_registry_responses_are_validated() {
        let empty = response_frame(proto::response::Body::Onion(proto::OnionBlob {
            blob: vec![],
        }));
        assert_eq!(field_of(Response::from_frame(&empty).unwrap_err()), "blob");

        let registry = |hash: Vec<u8>, text: String| {
            response_frame(proto::response::Body::Registry(proto::Registry {
                height: 1,
                hash,
                text,
            }))
        };
        for len in [0, 31, 33] {
            let err = Response::from_frame(&registry(vec![0; len], "x".into())).unwrap_err();
            assert_eq!(field_of(err), "hash");
        }
        let err = Response::from_frame(&registry(vec![0; 32], "x".repeat(MAX_REGISTRY_TEXT + 1)))
            .unwrap_err();
        assert_eq!(field_of(err), "text");
        assert!(
            Response::from_frame(&registry(vec![0; 32], "x".repeat(MAX_REGISTRY_TEXT))).is_ok()
        );

        // Invalid UTF-8 in the text is a malformed protobuf.
        let mut bad = proto::Registry {
            height: 1,
            hash: vec![0; 32],
            text: "ab".into(),
        }
        .encode_to_vec();
        let at = bad.len() - 1;
        bad[at] = 0xff;
        let mut outer = vec![
            0x08,
            0x01,
            0x10,
            0x01,
            0xb2,
            0x01,
            u8::try_from(bad.len()).unwrap(),
        ];
        outer.extend_from_slice(&bad);
        let mut f = u32::try_from(outer.len()).unwrap().to_be_bytes().to_vec();
        f.extend_from_slice(&outer);
        assert!(matches!(
            Response::from_frame(&f).unwrap_err(),
            WireError::Malformed(_)
        ));
    }

    #[test]
    fn frame_limits_hold_the_largest_onion_answer() {
        // 8,454,144 padded bytes + version, kind and tag at each of 8 hops.
        let blob = vec![0u8; 8_454_144 + 8 * 18];
        let r = Response {
            node_time_ms: u64::MAX,
            body: ResponseBody::Onion(blob),
        };
        assert!(r.to_frame().len() <= MAX_RESPONSE_FRAME);
        assert_eq!(MAX_REQUEST_FRAME, 131_072);
        assert_eq!(MAX_RESPONSE_FRAME, 9_437_184);
    }
}
