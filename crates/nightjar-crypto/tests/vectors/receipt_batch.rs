//! `test-vectors/receipt_batch.json`: batched store receipts
//! (`docs/PROTOCOL.md` §5.4).
//!
//! The generator computes leaves and inner nodes with keyed BLAKE2b
//! directly, the root and every inclusion path by RFC 6962's recursive
//! definitions, and signs `[25] ‖ "nightjar/v2/receipt-batch" ‖ root ‖
//! u32be(tree_size)` with ed25519-dalek; it checks
//! `nightjar_crypto::receipt_tree` against all of it. The replay runs
//! `receipt_tree` on the file: every receipt's path leads to its batch's
//! root, whose signature verifies; every refused receipt fails (its path
//! leads nowhere, or to a root the signature is not over).

use nightjar_crypto::identity::{Identity, PublicKey};
use nightjar_crypto::labels;
use nightjar_crypto::receipt_tree::{self, ReceiptTree};
use serde::{Deserialize, Serialize};

use super::{blake2b_32, h, labelled, seed, unh, unh32};

/// The signature label (`nightjar_wire::LABEL_RECEIPT_BATCH`; the wire
/// crate is not a dependency of this one).
const LABEL: &str = "nightjar/v2/receipt-batch";

#[derive(Serialize, Deserialize)]
pub(crate) struct ReceiptBatchFile {
    description: String,
    cases: Vec<BatchCase>,
    refused: Vec<RefusedReceipt>,
}

#[derive(Serialize, Deserialize)]
struct BatchCase {
    name: String,
    seed: String,
    node_key: String,
    messages: Vec<Leaf>,
    tree_size: u32,
    root: String,
    /// `root ‖ u32be(tree_size)`.
    signed_data: String,
    /// `[25] ‖ "nightjar/v2/receipt-batch" ‖ signed_data`.
    signed_message: String,
    signature: String,
}

#[derive(Serialize, Deserialize)]
struct Leaf {
    /// The message hash (32 bytes).
    hash: String,
    expiry_ms: u64,
    /// `BLAKE2b(32, key "nightjar/v2/receipt-leaf", hash ‖ u64be(expiry_ms))`.
    leaf: String,
    /// The leaf's inclusion path, bottom up (RFC 9162 §2.1.3.1).
    path: Vec<String>,
}

/// A receipt that must not verify: what a verifier is given.
#[derive(Serialize, Deserialize)]
struct RefusedReceipt {
    name: String,
    node_key: String,
    hash: String,
    expiry_ms: u64,
    leaf_index: u32,
    tree_size: u32,
    path: Vec<String>,
    signature: String,
}

const NODE_A: &str = "e6e6e6e6e6e6e6e6e6e6e6e6e6e6e6e6e6e6e6e6e6e6e6e6e6e6e6e6e6e6e6e6";
const NODE_B: &str = "f7f7f7f7f7f7f7f7f7f7f7f7f7f7f7f7f7f7f7f7f7f7f7f7f7f7f7f7f7f7f7f7";

fn ed25519_sign(seed_hex: &str, msg: &[u8]) -> [u8; 64] {
    use ed25519_dalek::Signer;
    ed25519_dalek::SigningKey::from_bytes(&unh32(seed_hex))
        .sign(msg)
        .to_bytes()
}

fn leaf(hash: &[u8; 32], expiry_ms: u64) -> [u8; 32] {
    blake2b_32(labels::RECEIPT_LEAF, &[hash, &expiry_ms.to_be_bytes()])
}

fn node(l: &[u8; 32], r: &[u8; 32]) -> [u8; 32] {
    blake2b_32(labels::RECEIPT_NODE, &[l, r])
}

/// RFC 6962 `MTH`.
fn mth(leaves: &[[u8; 32]]) -> [u8; 32] {
    if leaves.len() == 1 {
        return leaves[0];
    }
    let k = leaves.len().next_power_of_two() / 2;
    node(&mth(&leaves[..k]), &mth(&leaves[k..]))
}

/// RFC 6962 `PATH(m, D[n])`.
fn path(m: usize, leaves: &[[u8; 32]]) -> Vec<[u8; 32]> {
    if leaves.len() == 1 {
        return Vec::new();
    }
    let k = leaves.len().next_power_of_two() / 2;
    let (mut p, sibling) = if m < k {
        (path(m, &leaves[..k]), mth(&leaves[k..]))
    } else {
        (path(m - k, &leaves[k..]), mth(&leaves[..k]))
    };
    p.push(sibling);
    p
}

fn signed_data(root: &[u8; 32], size: u32) -> Vec<u8> {
    [&root[..], &size.to_be_bytes()].concat()
}

/// The batch of `n` messages of case `tag`.
fn messages(tag: u8, n: usize) -> Vec<([u8; 32], u64)> {
    (0..n)
        .map(|i| {
            let i8 = u8::try_from(i).unwrap();
            let mut hash = [tag; 32];
            hash[0] = i8;
            hash[31] = i8.wrapping_mul(37);
            (hash, 1_800_000_000_000 + 3_600_000 * (i as u64 + 1))
        })
        .collect()
}

fn batch_case(name: &str, seed_hex: &str, tag: u8, n: usize) -> BatchCase {
    let msgs = messages(tag, n);
    let leaves: Vec<[u8; 32]> = msgs.iter().map(|(m, e)| leaf(m, *e)).collect();
    let root = mth(&leaves);
    let size = u32::try_from(n).unwrap();
    // The crate computes the same tree.
    let tree = ReceiptTree::new(
        msgs.iter()
            .map(|(m, e)| receipt_tree::leaf_hash(m, *e))
            .collect(),
    )
    .unwrap();
    assert_eq!(tree.root(), root, "{name}");
    let data = signed_data(&root, size);
    let msg = labelled(LABEL, &data);
    let id = Identity::from_seed(seed(seed_hex));
    let signature = ed25519_sign(seed_hex, &msg);
    assert_eq!(id.sign_labelled(LABEL, &data), signature);
    BatchCase {
        name: name.into(),
        seed: seed_hex.into(),
        node_key: id.public_key().to_hex(),
        messages: msgs
            .iter()
            .zip(&leaves)
            .enumerate()
            .map(|(i, ((m, e), l))| {
                let p = path(i, &leaves);
                assert_eq!(tree.path(i).unwrap(), p, "{name} path {i}");
                Leaf {
                    hash: h(m),
                    expiry_ms: *e,
                    leaf: h(l),
                    path: p.iter().map(h).collect(),
                }
            })
            .collect(),
        tree_size: size,
        root: h(root),
        signed_data: h(&data),
        signed_message: h(&msg),
        signature: h(signature),
    }
}

/// A receipt of leaf `i` of `c`, as the node hands it out.
fn receipt_of(c: &BatchCase, name: &str, i: usize) -> RefusedReceipt {
    let m = &c.messages[i];
    RefusedReceipt {
        name: name.into(),
        node_key: c.node_key.clone(),
        hash: m.hash.clone(),
        expiry_ms: m.expiry_ms,
        leaf_index: u32::try_from(i).unwrap(),
        tree_size: c.tree_size,
        path: m.path.clone(),
        signature: c.signature.clone(),
    }
}

fn flip(hex_text: &str, byte: usize) -> String {
    let mut b = unh(hex_text);
    b[byte] ^= 1;
    h(b)
}

pub(crate) fn gen_receipt_batch() -> ReceiptBatchFile {
    let cases = vec![
        batch_case("one message", NODE_A, 0x11, 1),
        batch_case("two messages", NODE_A, 0x22, 2),
        batch_case("three messages", NODE_B, 0x33, 3),
        batch_case("seven messages", NODE_A, 0x77, 7),
        batch_case("thirty-two messages", NODE_B, 0x32, 32),
        batch_case("thirty-three messages", NODE_A, 0x21, 33),
    ];
    let seven = &cases[3];
    let other = &cases[5];
    let mut refused = Vec::new();
    let mut add = |mut r: RefusedReceipt, change: &dyn Fn(&mut RefusedReceipt)| {
        change(&mut r);
        refused.push(r);
    };
    add(receipt_of(seven, "another message's hash", 2), &|r| {
        r.hash = seven.messages[3].hash.clone();
    });
    add(receipt_of(seven, "another expiry", 2), &|r| {
        r.expiry_ms += 1;
    });
    add(receipt_of(seven, "a path hash changed", 2), &|r| {
        r.path[1] = flip(&r.path[1], 31);
    });
    add(receipt_of(seven, "another leaf index", 2), &|r| {
        r.leaf_index = 3;
    });
    add(receipt_of(seven, "another tree size", 2), &|r| {
        r.tree_size = 8;
    });
    add(receipt_of(seven, "a path hash missing", 2), &|r| {
        r.path.pop();
    });
    add(receipt_of(seven, "a path hash added", 6), &|r| {
        r.path.push(h([0u8; 32]));
    });
    add(receipt_of(seven, "the signature changed", 0), &|r| {
        r.signature = flip(&r.signature, 5);
    });
    add(receipt_of(seven, "another node's key", 0), &|r| {
        r.node_key = cases[2].node_key.clone();
    });
    add(
        receipt_of(seven, "another batch's signature by the same key", 1),
        &|r| r.signature = other.signature.clone(),
    );
    add(receipt_of(seven, "leaf index beyond the tree", 6), &|r| {
        r.leaf_index = 7;
    });
    ReceiptBatchFile {
        description: "Batched store receipts (PROTOCOL.md 5.4). leaf = BLAKE2b(outlen 32, key \
                      'nightjar/v2/receipt-leaf', hash || u64be(expiry_ms)); node = \
                      BLAKE2b(outlen 32, key 'nightjar/v2/receipt-node', left || right); root = \
                      RFC 6962 MTH over the leaves; path = RFC 6962 PATH, verified as RFC 9162 \
                      2.1.3.2; signature = Ed25519 over [25] || 'nightjar/v2/receipt-batch' || \
                      root || u32be(tree_size). Every refused receipt must fail."
            .into(),
        cases,
        refused,
    }
}

pub(crate) fn render(file: &ReceiptBatchFile) -> String {
    let mut text = serde_json::to_string_pretty(file).unwrap();
    text.push('\n');
    text
}

fn path32(p: &[String]) -> Vec<[u8; 32]> {
    p.iter().map(|x| unh32(x)).collect()
}

/// Whether a receipt verifies as a node verifies it.
fn verifies(
    key: &str,
    hash: &str,
    expiry: u64,
    index: u32,
    size: u32,
    p: &[String],
    sig: &str,
) -> bool {
    let Ok(key) = PublicKey::from_bytes(&unh32(key)) else {
        return false;
    };
    let leaf = receipt_tree::leaf_hash(&unh32(hash), expiry);
    let Some(root) =
        receipt_tree::root_from_path(&leaf, u64::from(index), u64::from(size), &path32(p))
    else {
        return false;
    };
    key.verify_labelled(LABEL, &signed_data(&root, size), &unh(sig))
        .is_ok()
}

pub(crate) fn replay(file: &ReceiptBatchFile) {
    assert!(file.cases.len() >= 5);
    for c in &file.cases {
        let id = Identity::from_seed(seed(&c.seed));
        assert_eq!(id.public_key().to_hex(), c.node_key, "{}", c.name);
        let tree = ReceiptTree::new(
            c.messages
                .iter()
                .map(|m| receipt_tree::leaf_hash(&unh32(&m.hash), m.expiry_ms))
                .collect(),
        )
        .unwrap();
        assert_eq!(h(tree.root()), c.root, "{}", c.name);
        assert_eq!(tree.size(), c.tree_size as usize);
        let data = signed_data(&tree.root(), c.tree_size);
        assert_eq!(h(&data), c.signed_data);
        assert_eq!(h(labelled(LABEL, &data)), c.signed_message);
        assert_eq!(h(id.sign_labelled(LABEL, &data)), c.signature);
        for (i, m) in c.messages.iter().enumerate() {
            assert_eq!(
                h(receipt_tree::leaf_hash(&unh32(&m.hash), m.expiry_ms)),
                m.leaf
            );
            assert_eq!(tree.path(i).unwrap(), path32(&m.path), "{} {i}", c.name);
            let index = u32::try_from(i).unwrap();
            assert!(verifies(
                &c.node_key,
                &m.hash,
                m.expiry_ms,
                index,
                c.tree_size,
                &m.path,
                &c.signature
            ));
        }
    }
    assert!(file.refused.len() >= 10);
    for r in &file.refused {
        assert!(
            !verifies(
                &r.node_key,
                &r.hash,
                r.expiry_ms,
                r.leaf_index,
                r.tree_size,
                &r.path,
                &r.signature
            ),
            "{}",
            r.name
        );
    }
}
