//! The Merkle tree of a batched store receipt (docs/PROTOCOL.md §5.4).
//!
//! A node signs once per batch of stores it made durable together: over
//! the root of a binary Merkle tree, shaped as RFC 6962 / RFC 9162 section 2.1.1
//! shape theirs, whose leaves are the batch's `(message hash, expiry)`
//! pairs, in the order the node chose. Each answer carries its leaf's
//! index, the tree's size and the inclusion path; a verifier recomputes
//! the root from them (RFC 9162 section 2.1.3.2) and checks the one signature.
//!
//! Domain separation is by BLAKE2b key instead of RFC 6962's `0x00` /
//! `0x01` prefix bytes:
//!
//! - leaf: `BLAKE2b(outlen = 32, key = "nightjar/v2/receipt-leaf",
//!   message hash (32) ‖ expiry_ms (u64 big-endian))`;
//! - inner node: `BLAKE2b(outlen = 32, key = "nightjar/v2/receipt-node",
//!   left (32) ‖ right (32))`.
//!
//! A path fixes the root only together with the tree's size (leaf 0 of
//! three has a path that also fits a tree of four, with the same root),
//! so the signature covers the size with the root.
//!
//! The root of `n ≥ 1` leaves is RFC 6962's `MTH`: one leaf is its own
//! root; otherwise, with `k` the largest power of two below `n`,
//! `node(MTH(leaves[0..k]), MTH(leaves[k..n]))`. An empty tree has no root
//! (no batch is empty).
//!
//! Not for: the signature or the bytes it covers (`nightjar-wire`'s
//! `receipt_batch_signed_data`), nor deciding what goes in a batch (the
//! node).

use crate::hash::blake2b_keyed_32;
use crate::labels;

/// Most leaves a receipt tree may have (so an inclusion path has at most
/// 16 hashes). A node signs larger batches as several trees.
pub const MAX_LEAVES: usize = 1 << 16;

/// Most hashes in an inclusion path (`log2` of [`MAX_LEAVES`]).
pub const MAX_PATH: usize = 16;

/// The leaf of one stored message.
pub fn leaf_hash(message_hash: &[u8; 32], expiry_ms: u64) -> [u8; 32] {
    *blake2b_keyed_32(
        labels::RECEIPT_LEAF,
        &[message_hash, &expiry_ms.to_be_bytes()],
    )
}

/// The inner node over two subtrees.
pub fn node_hash(left: &[u8; 32], right: &[u8; 32]) -> [u8; 32] {
    *blake2b_keyed_32(labels::RECEIPT_NODE, &[left, right])
}

/// A tree over a batch's leaves, every level kept, so each leaf's path
/// is read off without rehashing.
#[derive(Debug, Clone)]
pub struct ReceiptTree {
    /// `levels[0]` are the leaves; each next level pairs the one below,
    /// a last odd node moving up unchanged; the last level is the root.
    levels: Vec<Vec<[u8; 32]>>,
}

impl ReceiptTree {
    /// The tree over `leaves` ([`leaf_hash`]es); `None` if there are none
    /// or more than [`MAX_LEAVES`].
    ///
    /// Pairing adjacent nodes level by level, and moving a last unpaired
    /// node up unchanged, yields exactly RFC 6962's tree: its left subtrees
    /// are the complete ones of the largest powers of two.
    pub fn new(leaves: Vec<[u8; 32]>) -> Option<ReceiptTree> {
        if leaves.is_empty() || leaves.len() > MAX_LEAVES {
            return None;
        }
        let mut levels = vec![leaves];
        while let Some(below) = levels.last().filter(|l| l.len() > 1) {
            let above = below
                .chunks(2)
                .map(|pair| match pair {
                    [l, r] => node_hash(l, r),
                    [single] => *single,
                    _ => unreachable!("chunks(2) yields one or two"),
                })
                .collect();
            levels.push(above);
        }
        Some(ReceiptTree { levels })
    }

    /// How many leaves.
    pub fn size(&self) -> usize {
        self.levels.first().map_or(0, Vec::len)
    }

    /// The root.
    pub fn root(&self) -> [u8; 32] {
        self.levels
            .last()
            .and_then(|l| l.first())
            .copied()
            .unwrap_or([0; 32])
    }

    /// The inclusion path of leaf `index`, bottom up (RFC 9162
    /// section 2.1.3.1); `None` if there is no such leaf.
    pub fn path(&self, index: usize) -> Option<Vec<[u8; 32]>> {
        if index >= self.size() {
            return None;
        }
        let mut path = Vec::new();
        let mut i = index;
        let below_root = self.levels.len().saturating_sub(1);
        for level in self.levels.iter().take(below_root) {
            // A node without a sibling moves up unchanged: no path entry.
            if let Some(sibling) = level.get(i ^ 1) {
                path.push(*sibling);
            }
            i >>= 1;
        }
        Some(path)
    }
}

/// The root that `leaf` at `index` of a tree of `size` leaves, with
/// inclusion `path`, implies (RFC 9162 section 2.1.3.2); `None` if the path
/// cannot belong to such a tree (index out of range, size 0 or above
/// [`MAX_LEAVES`], a path too short or too long).
pub fn root_from_path(
    leaf: &[u8; 32],
    index: u64,
    size: u64,
    path: &[[u8; 32]],
) -> Option<[u8; 32]> {
    if index >= size || size > MAX_LEAVES as u64 || path.len() > MAX_PATH {
        return None;
    }
    let (mut fn_, mut sn) = (index, size - 1);
    let mut r = *leaf;
    for p in path {
        if sn == 0 {
            return None;
        }
        if fn_ & 1 == 1 || fn_ == sn {
            r = node_hash(p, &r);
            if fn_ & 1 == 0 {
                while fn_ & 1 == 0 && fn_ != 0 {
                    fn_ >>= 1;
                    sn >>= 1;
                }
            }
        } else {
            r = node_hash(&r, p);
        }
        fn_ >>= 1;
        sn >>= 1;
    }
    (sn == 0).then_some(r)
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;

    /// RFC 6962's recursive definition, for comparison.
    fn mth(leaves: &[[u8; 32]]) -> [u8; 32] {
        if leaves.len() == 1 {
            return leaves[0];
        }
        let k = leaves.len().next_power_of_two() / 2;
        node_hash(&mth(&leaves[..k]), &mth(&leaves[k..]))
    }

    /// RFC 6962's recursive `PATH(m, D[n])`.
    fn rfc_path(m: usize, leaves: &[[u8; 32]]) -> Vec<[u8; 32]> {
        if leaves.len() == 1 {
            return Vec::new();
        }
        let k = leaves.len().next_power_of_two() / 2;
        if m < k {
            let mut p = rfc_path(m, &leaves[..k]);
            p.push(mth(&leaves[k..]));
            p
        } else {
            let mut p = rfc_path(m - k, &leaves[k..]);
            p.push(mth(&leaves[..k]));
            p
        }
    }

    fn leaves(n: usize) -> Vec<[u8; 32]> {
        (0..n)
            .map(|i| leaf_hash(&[u8::try_from(i % 251).unwrap(); 32], i as u64))
            .collect()
    }

    #[test]
    fn tree_and_paths_are_rfc_6962s_and_verify() {
        for n in 1..=70 {
            let l = leaves(n);
            let tree = ReceiptTree::new(l.clone()).unwrap();
            assert_eq!(tree.size(), n);
            assert_eq!(tree.root(), mth(&l), "root of {n}");
            for (i, leaf) in l.iter().enumerate() {
                let path = tree.path(i).unwrap();
                assert_eq!(path, rfc_path(i, &l), "path {i} of {n}");
                let (i, n64) = (i as u64, n as u64);
                assert_eq!(root_from_path(leaf, i, n64, &path), Some(tree.root()));
                // Another index or another leaf do not lead to this root.
                // (Another size may: leaf 0 of 3 with its path also fits a
                // tree of 4 and gives the same root. That is why the
                // signature covers the size with the root.)
                if n > 1 {
                    let other = (i + 1) % n64;
                    assert_ne!(root_from_path(leaf, other, n64, &path), Some(tree.root()));
                    let other_leaf = l[usize::try_from(other).unwrap()];
                    assert_ne!(
                        root_from_path(&other_leaf, i, n64, &path),
                        Some(tree.root())
                    );
                }
            }
            assert!(tree.path(n).is_none());
        }
    }

    #[test]
    fn bad_shapes_are_refused() {
        assert!(ReceiptTree::new(Vec::new()).is_none());
        let leaf = leaf_hash(&[1; 32], 2);
        assert_eq!(root_from_path(&leaf, 0, 1, &[]), Some(leaf));
        assert_eq!(root_from_path(&leaf, 1, 1, &[]), None);
        assert_eq!(root_from_path(&leaf, 0, 0, &[]), None);
        assert_eq!(root_from_path(&leaf, 0, 2, &[]), None);
        assert_eq!(root_from_path(&leaf, 0, 1, &[leaf]), None);
        let too_big = MAX_LEAVES as u64 + 1;
        assert_eq!(root_from_path(&leaf, 0, too_big, &[leaf; 17]), None);
    }

    #[test]
    fn leaf_and_node_are_domain_separated() {
        let h = [9u8; 32];
        assert_ne!(leaf_hash(&h, 0), node_hash(&h, &[0; 32]));
        assert_ne!(leaf_hash(&h, 1), leaf_hash(&h, 2));
    }
}
