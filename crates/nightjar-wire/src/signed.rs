//! The exact bytes that request signatures and store receipts cover, and
//! their domain labels.
//!
//! Not for: signing or verifying — `nightjar-crypto` does that over these
//! bytes.

use nightjar_types::{AccountKey, MessageHash};

use crate::request::{DeleteRequest, RetrieveRequest};

/// Domain label of a node's store receipt signature, version 1 (one
/// signature per message, over [`receipt_signed_data`]). No node signs or
/// accepts it any more; kept so that old signatures can be recognised.
pub const LABEL_RECEIPT: &str = "nightjar/v1/receipt";

/// Domain label of a node's batched store receipt signature (over
/// [`receipt_batch_signed_data`]).
pub const LABEL_RECEIPT_BATCH: &str = "nightjar/v2/receipt-batch";

/// Domain label of the retrieve request signature.
pub const LABEL_RETRIEVE: &str = "nightjar/v1/retrieve";

/// Domain label of the delete request signature.
pub const LABEL_DELETE: &str = "nightjar/v1/delete";

impl RetrieveRequest {
    /// The bytes the signature covers: account ‖ namespace (u16 BE) ‖ after_seq
    /// (u64 BE) ‖ wait_ms (u32 BE) ‖ timestamp_ms (u64 BE).
    pub fn signed_data(&self) -> Vec<u8> {
        retrieve_signed_data(
            &self.account,
            self.namespace,
            self.after_seq,
            self.wait_ms,
            self.timestamp_ms,
        )
    }
}

/// The bytes a retrieve signature covers, for a request not yet built.
pub fn retrieve_signed_data(
    account: &AccountKey,
    namespace: u16,
    after_seq: u64,
    wait_ms: u32,
    timestamp_ms: u64,
) -> Vec<u8> {
    let mut out = Vec::with_capacity(32 + 2 + 8 + 4 + 8);
    out.extend_from_slice(account.as_bytes());
    out.extend_from_slice(&namespace.to_be_bytes());
    out.extend_from_slice(&after_seq.to_be_bytes());
    out.extend_from_slice(&wait_ms.to_be_bytes());
    out.extend_from_slice(&timestamp_ms.to_be_bytes());
    out
}

impl DeleteRequest {
    /// The bytes the signature covers: account ‖ namespace (u16 BE) ‖
    /// timestamp_ms (u64 BE) ‖ count (u32 BE) ‖ each hash.
    pub fn signed_data(&self) -> Vec<u8> {
        delete_signed_data(
            &self.account,
            self.namespace,
            &self.hashes,
            self.timestamp_ms,
        )
    }
}

/// The bytes a delete signature covers, for a request not yet built.
pub fn delete_signed_data(
    account: &AccountKey,
    namespace: u16,
    hashes: &[MessageHash],
    timestamp_ms: u64,
) -> Vec<u8> {
    let mut out = Vec::with_capacity(32 + 2 + 8 + 4 + 32 * hashes.len());
    out.extend_from_slice(account.as_bytes());
    out.extend_from_slice(&namespace.to_be_bytes());
    out.extend_from_slice(&timestamp_ms.to_be_bytes());
    // MAX_DELETE_HASHES keeps this far below u32::MAX; saturate rather than wrap.
    let count = u32::try_from(hashes.len()).unwrap_or(u32::MAX);
    out.extend_from_slice(&count.to_be_bytes());
    for h in hashes {
        out.extend_from_slice(h.as_bytes());
    }
    out
}

/// The bytes a version-1 receipt signature covered: message hash (32) ‖
/// expiry_ms (u64 BE). Version 2 signs [`receipt_batch_signed_data`]; a
/// message's `(hash, expiry_ms)` is now a leaf of the tree it names
/// (`nightjar_crypto::receipt_tree::leaf_hash`).
pub fn receipt_signed_data(hash: &MessageHash, expiry_ms: u64) -> Vec<u8> {
    let mut out = Vec::with_capacity(40);
    out.extend_from_slice(hash.as_bytes());
    out.extend_from_slice(&expiry_ms.to_be_bytes());
    out
}

/// The bytes a batched receipt signature covers: the receipt tree's root
/// (32) ‖ tree_size (u32 BE).
pub fn receipt_batch_signed_data(root: &[u8; 32], tree_size: u32) -> [u8; 36] {
    let mut out = [0u8; 36];
    out[..32].copy_from_slice(root);
    out[32..].copy_from_slice(&tree_size.to_be_bytes());
    out
}
