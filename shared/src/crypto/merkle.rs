//! RFC 6962 (RFC 9162 §2.1) Merkle trees: the access log's events are the leaves.
//!
//! The leaf of the event at `seq` is its chain hash (see [`super::chain`]) and sits at
//! index `seq - 1`, so a tree of size `n` covers events 1 to `n`. A checkpoint signs the
//! root of such a tree; an inclusion proof shows an event is under a signed root, and a
//! consistency proof shows a later root extends an earlier one — which is what a witness
//! checks before it cosigns, so that no signed history can be rewritten afterwards.
//!
//! Proofs are computed from the full list of leaf hashes: linear in the log's size, which
//! at a CLSPD's scale (tens of thousands of events a year) costs milliseconds.

use ring::digest;

/// A SHA-256 hash.
pub type Hash = [u8; 32];

fn sha256(parts: &[&[u8]]) -> Hash {
    let mut ctx = digest::Context::new(&digest::SHA256);
    for part in parts {
        ctx.update(part);
    }
    let mut out = [0u8; 32];
    out.copy_from_slice(ctx.finish().as_ref());
    out
}

/// `SHA-256(0x00 ‖ data)`: the hash of a leaf.
pub fn leaf_hash(data: &[u8]) -> Hash {
    sha256(&[&[0x00], data])
}

/// `SHA-256(0x01 ‖ left ‖ right)`: the hash of an interior node.
pub fn node_hash(left: &Hash, right: &Hash) -> Hash {
    sha256(&[&[0x01], left, right])
}

/// The root of the empty tree: `SHA-256("")`.
pub fn empty_root() -> Hash {
    sha256(&[])
}

/// The largest power of two strictly below `n` (`n >= 2`).
fn split(n: usize) -> usize {
    let mut k = 1;
    while k << 1 < n {
        k <<= 1;
    }
    k
}

/// MTH: the root of the tree whose leaf hashes are `leaves`.
pub fn root(leaves: &[Hash]) -> Hash {
    match leaves.len() {
        0 => empty_root(),
        1 => leaves[0],
        n => {
            let k = split(n);
            node_hash(&root(&leaves[..k]), &root(&leaves[k..]))
        }
    }
}

/// The audit path of leaf `index` in the tree of `leaves` (RFC 6962 §2.1.1), or `None`
/// if the index is outside the tree.
pub fn inclusion_proof(index: usize, leaves: &[Hash]) -> Option<Vec<Hash>> {
    if index >= leaves.len() {
        return None;
    }
    let mut proof = Vec::new();
    path(index, leaves, &mut proof);
    Some(proof)
}

fn path(index: usize, leaves: &[Hash], out: &mut Vec<Hash>) {
    let n = leaves.len();
    if n <= 1 {
        return;
    }
    let k = split(n);
    if index < k {
        path(index, &leaves[..k], out);
        out.push(root(&leaves[k..]));
    } else {
        path(index - k, &leaves[k..], out);
        out.push(root(&leaves[..k]));
    }
}

/// The consistency proof from the tree of the first `old_size` leaves to the tree of all
/// of `leaves` (RFC 6962 §2.1.2); `None` if `old_size` exceeds the tree. Empty when
/// `old_size` is 0 or the whole tree.
pub fn consistency_proof(old_size: usize, leaves: &[Hash]) -> Option<Vec<Hash>> {
    if old_size > leaves.len() {
        return None;
    }
    let mut proof = Vec::new();
    if old_size > 0 {
        subproof(old_size, leaves, true, &mut proof);
    }
    Some(proof)
}

fn subproof(m: usize, leaves: &[Hash], complete: bool, out: &mut Vec<Hash>) {
    let n = leaves.len();
    if m == n {
        if !complete {
            out.push(root(leaves));
        }
        return;
    }
    let k = split(n);
    if m <= k {
        subproof(m, &leaves[..k], complete, out);
        out.push(root(&leaves[k..]));
    } else {
        subproof(m - k, &leaves[k..], false, out);
        out.push(root(&leaves[..k]));
    }
}

/// Whether `proof` shows that the leaf `leaf` sits at `index` in the tree of `size` leaves
/// whose root is `root` (RFC 9162 §2.1.3.2).
pub fn verify_inclusion(index: u64, size: u64, leaf: &Hash, proof: &[Hash], root: &Hash) -> bool {
    if index >= size {
        return false;
    }
    let (mut f, mut s) = (index, size - 1);
    let mut r = *leaf;
    for p in proof {
        if s == 0 {
            return false;
        }
        if f & 1 == 1 || f == s {
            r = node_hash(p, &r);
            while f & 1 == 0 && f != 0 {
                f >>= 1;
                s >>= 1;
            }
        } else {
            r = node_hash(&r, p);
        }
        f >>= 1;
        s >>= 1;
    }
    s == 0 && &r == root
}

/// Whether `proof` shows that the tree of `new_size` leaves with root `new_root` extends
/// the tree of `old_size` leaves with root `old_root` (RFC 9162 §2.1.4.2). A tree of size 0
/// is extended by every tree.
pub fn verify_consistency(
    old_size: u64,
    new_size: u64,
    old_root: &Hash,
    new_root: &Hash,
    proof: &[Hash],
) -> bool {
    if old_size > new_size {
        return false;
    }
    if old_size == 0 {
        return proof.is_empty();
    }
    if old_size == new_size {
        return proof.is_empty() && old_root == new_root;
    }
    let mut nodes: Vec<Hash> = Vec::with_capacity(proof.len() + 1);
    if old_size.is_power_of_two() {
        nodes.push(*old_root);
    }
    nodes.extend_from_slice(proof);
    let Some((first, rest)) = nodes.split_first() else {
        return false;
    };
    let (mut f, mut s) = (old_size - 1, new_size - 1);
    while f & 1 == 1 {
        f >>= 1;
        s >>= 1;
    }
    let (mut fr, mut sr) = (*first, *first);
    for c in rest {
        if s == 0 {
            return false;
        }
        if f & 1 == 1 || f == s {
            fr = node_hash(c, &fr);
            sr = node_hash(c, &sr);
            while f & 1 == 0 && f != 0 {
                f >>= 1;
                s >>= 1;
            }
        } else {
            sr = node_hash(&sr, c);
        }
        f >>= 1;
        s >>= 1;
    }
    s == 0 && &fr == old_root && &sr == new_root
}

/// The right edge of a growing tree (its perfect subtrees, largest first): appending a
/// leaf and reading the root cost O(log n), so the writer can sign a checkpoint at any
/// size without rereading the log.
#[derive(Clone, Debug, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Frontier {
    size: u64,
    /// (height, hash) of each perfect subtree, left to right; heights strictly decrease.
    nodes: Vec<(u32, Hash)>,
}

impl Frontier {
    /// The empty tree.
    pub fn new() -> Frontier {
        Frontier::default()
    }

    /// How many leaves the tree has.
    pub fn size(&self) -> u64 {
        self.size
    }

    /// Appends a leaf hash.
    pub fn push(&mut self, leaf: Hash) {
        let mut node = (0u32, leaf);
        while let Some(&(height, left)) = self.nodes.last() {
            if height != node.0 {
                break;
            }
            self.nodes.pop();
            node = (height + 1, node_hash(&left, &node.1));
        }
        self.nodes.push(node);
        self.size += 1;
    }

    /// The tree's root (MTH).
    pub fn root(&self) -> Hash {
        let mut nodes = self.nodes.iter().rev();
        let Some(&(_, mut acc)) = nodes.next() else {
            return empty_root();
        };
        for (_, left) in nodes {
            acc = node_hash(left, &acc);
        }
        acc
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn hex(hash: &Hash) -> String {
        crate::crypto::test_support::to_hex(hash)
    }

    /// The leaves of the RFC 6962 test tree used by certificate-transparency's suites.
    fn ct_leaves() -> Vec<Hash> {
        let data: [&[u8]; 8] = [
            b"",
            b"\x00",
            b"\x10",
            b"\x20\x21",
            b"\x30\x31",
            b"\x40\x41\x42\x43",
            b"\x50\x51\x52\x53\x54\x55\x56\x57",
            b"\x60\x61\x62\x63\x64\x65\x66\x67\x68\x69\x6a\x6b\x6c\x6d\x6e\x6f",
        ];
        data.iter().map(|d| leaf_hash(d)).collect()
    }

    #[test]
    fn roots_match_the_rfc_6962_reference_vectors() {
        let leaves = ct_leaves();
        assert_eq!(
            hex(&empty_root()),
            "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
        );
        let expected = [
            "6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d",
            "fac54203e7cc696cf0dfcb42c92a1d9dbaf70ad9e621f4bd8d98662f00e3c125",
            "aeb6bcfe274b70a14fb067a5e5578264db0fa9b51af5e0ba159158f329e06e77",
            "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7",
            "4e3bbb1f7b478dcfe71fb631631519a3bca12c9aefca1612bfce4c13a86264d4",
            "76e67dadbcdf1e10e1b74ddc608abd2f98dfb16fbce75277b5232a127f2087ef",
            "ddb89be403809e325750d3d263cd78929c2942b7942a34b77e122c9594a74c8c",
            "5dc9da79a70659a9ad559cb701ded9a2ab9d823aad2f4960cfe370eff4604328",
        ];
        let mut frontier = Frontier::new();
        for (n, want) in expected.iter().enumerate() {
            assert_eq!(hex(&root(&leaves[..=n])), *want, "size {}", n + 1);
            frontier.push(leaves[n]);
            assert_eq!(hex(&frontier.root()), *want, "frontier size {}", n + 1);
        }
    }

    fn leaves(n: usize) -> Vec<Hash> {
        (0..n)
            .map(|i| leaf_hash(&(i as u64).to_be_bytes()))
            .collect()
    }

    #[test]
    fn every_inclusion_proof_recomputes_the_root_and_no_other() {
        let all = leaves(33);
        for size in 1..=all.len() {
            let tree = &all[..size];
            let top = root(tree);
            for index in 0..size {
                let proof = inclusion_proof(index, tree).unwrap();
                assert!(verify_inclusion(
                    index as u64,
                    size as u64,
                    &tree[index],
                    &proof,
                    &top
                ));
                // Another leaf or another position does not verify. (Another size may: the
                // size is bound to the root by the signed checkpoint, not by the path.)
                let other = leaf_hash(b"forged");
                assert!(!verify_inclusion(
                    index as u64,
                    size as u64,
                    &other,
                    &proof,
                    &top
                ));
                if size > 1 {
                    let elsewhere = (index + 1) % size;
                    assert!(!verify_inclusion(
                        elsewhere as u64,
                        size as u64,
                        &tree[index],
                        &proof,
                        &top
                    ));
                }
            }
            assert!(inclusion_proof(size, tree).is_none());
        }
    }

    #[test]
    fn every_consistency_proof_verifies_and_a_rewritten_prefix_does_not() {
        let all = leaves(33);
        for new in 1..=all.len() {
            let new_root = root(&all[..new]);
            for old in 0..=new {
                let old_root = root(&all[..old]);
                let proof = consistency_proof(old, &all[..new]).unwrap();
                assert!(
                    verify_consistency(old as u64, new as u64, &old_root, &new_root, &proof),
                    "{old} -> {new}"
                );
                if old > 0 && old < new {
                    // A history where one old leaf was rewritten is not an extension.
                    let mut forged = all[..new].to_vec();
                    forged[old - 1] = leaf_hash(b"rewritten");
                    let forged_root = root(&forged);
                    let forged_proof = consistency_proof(old, &forged).unwrap();
                    assert!(
                        !verify_consistency(
                            old as u64,
                            new as u64,
                            &old_root,
                            &forged_root,
                            &forged_proof
                        ),
                        "{old} -> {new} forged"
                    );
                    assert!(!verify_consistency(
                        new as u64, old as u64, &new_root, &old_root, &proof
                    ));
                }
            }
        }
        assert!(consistency_proof(5, &all[..4]).is_none());
    }

    #[test]
    fn the_frontier_agrees_with_the_recursive_root_at_every_size() {
        let all = leaves(70);
        let mut frontier = Frontier::new();
        assert_eq!(frontier.root(), empty_root());
        for (n, leaf) in all.iter().enumerate() {
            frontier.push(*leaf);
            assert_eq!(frontier.size(), n as u64 + 1);
            assert_eq!(frontier.root(), root(&all[..=n]));
        }
    }
}
