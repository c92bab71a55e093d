//! RFC 6962 / RFC 9162 Merkle tree hashing, proofs and proof verification.
//!
//! `leaf = SHA-256(0x00 || data)`, `node = SHA-256(0x01 || left || right)`,
//! the empty tree hashes to `SHA-256("")`. A tree of `n` leaves splits at the
//! largest power of two smaller than `n`.
//!
//! Written here rather than taken from a crate because the log needs three
//! things together that no single crate offered with the same hash types: an
//! O(log n) *frontier* persisted between appends, proof generation over
//! stored leaf hashes, and verification with transparency-dev's strict
//! semantics (checked against `shared/data/rfc6962-vectors.json`).

use sha2::{Digest as _, Sha256};

/// A 32-byte tree hash.
pub type Hash = [u8; 32];

/// Why a proof does not verify.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ProofError {
    /// The leaf index is not below the tree size.
    #[error("leaf index {index} is not inside a tree of size {size}")]
    IndexOutOfRange {
        /// The leaf index.
        index: u64,
        /// The tree size.
        size: u64,
    },
    /// The old tree is larger than the new one.
    #[error("tree size {old} is larger than tree size {new}")]
    SizesReversed {
        /// The old tree size.
        old: u64,
        /// The new tree size.
        new: u64,
    },
    /// The old tree is empty: a consistency proof from it is refused, as
    /// transparency-dev does.
    #[error("a consistency proof needs a non-empty old tree")]
    EmptyOldTree,
    /// The proof has too few or too many hashes for the index and tree sizes.
    #[error("proof has the wrong number of hashes for these tree sizes")]
    WrongLength,
    /// The proof is well formed but the root it yields differs from the
    /// expected one (for a consistency proof, either root).
    #[error("computed root does not match the expected root")]
    RootMismatch,
}

/// `SHA-256(0x00 || data)`.
pub fn leaf_hash(data: &[u8]) -> Hash {
    let mut h = Sha256::new();
    h.update([0u8]);
    h.update(data);
    h.finalize().into()
}

/// `SHA-256(0x01 || left || right)`.
pub fn node_hash(left: &Hash, right: &Hash) -> Hash {
    let mut h = Sha256::new();
    h.update([1u8]);
    h.update(left);
    h.update(right);
    h.finalize().into()
}

/// The root of the empty tree, `SHA-256("")`.
pub fn empty_root() -> Hash {
    Sha256::digest(b"").into()
}

/// The largest power of two strictly smaller than `n` (`n >= 2`).
fn split(n: usize) -> usize {
    debug_assert!(n >= 2);
    1usize << (usize::BITS - 1 - (n - 1).leading_zeros())
}

/// The Merkle tree hash of a list of leaf hashes.
pub fn root_of(leaves: &[Hash]) -> Hash {
    let mut f = Frontier::new();
    for l in leaves {
        f.push(*l);
    }
    f.root()
}

/// The right edge of a tree: the roots of its maximal perfect subtrees,
/// largest (leftmost) first. Enough to append a leaf and to compute the root
/// in O(log n) without reading earlier leaves.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Frontier {
    size: u64,
    peaks: Vec<Hash>,
}

impl Frontier {
    /// The frontier of the empty tree.
    pub fn new() -> Self {
        Self::default()
    }

    /// Rebuilds a frontier from stored parts; `None` if they cannot belong
    /// together (a tree of size n has exactly popcount(n) peaks).
    pub fn from_parts(size: u64, peaks: Vec<Hash>) -> Option<Self> {
        (peaks.len() == size.count_ones() as usize).then_some(Frontier { size, peaks })
    }

    /// The number of leaves in the tree.
    pub fn size(&self) -> u64 {
        self.size
    }

    /// The roots of the maximal perfect subtrees, largest (leftmost) first;
    /// one per set bit of [`Frontier::size`].
    pub fn peaks(&self) -> &[Hash] {
        &self.peaks
    }

    /// Appends one leaf hash.
    pub fn push(&mut self, leaf: Hash) {
        self.peaks.push(leaf);
        self.size += 1;
        for _ in 0..self.size.trailing_zeros() {
            // Two equal-sized subtrees sit at the end; merge them. The
            // trailing-zero count guarantees at least two peaks here.
            let (Some(right), Some(left)) = (self.peaks.pop(), self.peaks.pop()) else {
                break;
            };
            self.peaks.push(node_hash(&left, &right));
        }
    }

    /// The tree's root hash.
    pub fn root(&self) -> Hash {
        let mut iter = self.peaks.iter().rev();
        match iter.next() {
            None => empty_root(),
            Some(last) => iter.fold(*last, |acc, peak| node_hash(peak, &acc)),
        }
    }
}

/// The inclusion proof (RFC 6962 `PATH`) of leaf `index` in the tree made of
/// `leaves`. `None` if `index` is out of range.
pub fn inclusion_proof(index: u64, leaves: &[Hash]) -> Option<Vec<Hash>> {
    let index = usize::try_from(index).ok()?;
    if index >= leaves.len() {
        return None;
    }
    let mut proof = Vec::new();
    path(index, leaves, &mut proof);
    Some(proof)
}

fn path(m: usize, d: &[Hash], out: &mut Vec<Hash>) {
    if d.len() <= 1 {
        return;
    }
    let k = split(d.len());
    if m < k {
        path(m, &d[..k], out);
        out.push(root_of(&d[k..]));
    } else {
        path(m - k, &d[k..], out);
        out.push(root_of(&d[..k]));
    }
}

/// The consistency proof (RFC 6962 `PROOF`) between the first `old_size`
/// leaves and all of `leaves`. `None` unless `0 < old_size <= leaves.len()`.
pub fn consistency_proof(old_size: u64, leaves: &[Hash]) -> Option<Vec<Hash>> {
    let m = usize::try_from(old_size).ok()?;
    if m == 0 || m > leaves.len() {
        return None;
    }
    let mut proof = Vec::new();
    subproof(m, leaves, true, &mut proof);
    Some(proof)
}

fn subproof(m: usize, d: &[Hash], complete: bool, out: &mut Vec<Hash>) {
    if m == d.len() {
        if !complete {
            out.push(root_of(d));
        }
        return;
    }
    let k = split(d.len());
    if m <= k {
        subproof(m, &d[..k], complete, out);
        out.push(root_of(&d[k..]));
    } else {
        subproof(m - k, &d[k..], false, out);
        out.push(root_of(&d[..k]));
    }
}

/// Verifies an inclusion proof (RFC 9162 section 2.1.3.2).
pub fn verify_inclusion(
    index: u64,
    size: u64,
    leaf: &Hash,
    proof: &[Hash],
    root: &Hash,
) -> Result<(), ProofError> {
    if index >= size {
        return Err(ProofError::IndexOutOfRange { index, size });
    }
    let (mut f, mut s) = (index, size - 1);
    let mut r = *leaf;
    for p in proof {
        if s == 0 {
            return Err(ProofError::WrongLength);
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
    if s != 0 {
        return Err(ProofError::WrongLength);
    }
    if &r != root {
        return Err(ProofError::RootMismatch);
    }
    Ok(())
}

/// Verifies a consistency proof (RFC 9162 section 2.1.4.2), with
/// transparency-dev's rules for the edge cases: an empty old tree is an
/// error, equal sizes need an empty proof and equal roots.
pub fn verify_consistency(
    old_size: u64,
    new_size: u64,
    old_root: &Hash,
    new_root: &Hash,
    proof: &[Hash],
) -> Result<(), ProofError> {
    if new_size < old_size {
        return Err(ProofError::SizesReversed {
            old: old_size,
            new: new_size,
        });
    }
    if old_size == 0 {
        return Err(ProofError::EmptyOldTree);
    }
    if old_size == new_size {
        if !proof.is_empty() {
            return Err(ProofError::WrongLength);
        }
        return if old_root == new_root {
            Ok(())
        } else {
            Err(ProofError::RootMismatch)
        };
    }
    let Some((first, rest)) = proof.split_first() else {
        return Err(ProofError::WrongLength);
    };
    let (start, rest): (Hash, &[Hash]) = if old_size.is_power_of_two() {
        (*old_root, proof)
    } else {
        (*first, rest)
    };
    let (mut f, mut s) = (old_size - 1, new_size - 1);
    while f & 1 == 1 {
        f >>= 1;
        s >>= 1;
    }
    let (mut fr, mut sr) = (start, start);
    for c in rest {
        if s == 0 {
            return Err(ProofError::WrongLength);
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
    if s != 0 {
        return Err(ProofError::WrongLength);
    }
    if &fr != old_root || &sr != new_root {
        return Err(ProofError::RootMismatch);
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn leaves(n: usize) -> Vec<Hash> {
        (0..n)
            .map(|i| leaf_hash(&(i as u64).to_be_bytes()))
            .collect()
    }

    /// The recursive definition of RFC 6962, as a reference for the frontier.
    fn mth(d: &[Hash]) -> Hash {
        match d.len() {
            0 => empty_root(),
            1 => d[0],
            n => {
                let k = split(n);
                node_hash(&mth(&d[..k]), &mth(&d[k..]))
            }
        }
    }

    #[test]
    fn frontier_matches_recursive_definition() {
        for n in 0..70 {
            let l = leaves(n);
            assert_eq!(root_of(&l), mth(&l), "size {n}");
        }
    }

    proptest! {
        #[test]
        fn every_inclusion_proof_verifies(n in 1usize..300, pick in any::<prop::sample::Index>()) {
            let l = leaves(n);
            let root = root_of(&l);
            let i = pick.index(n) as u64;
            let p = inclusion_proof(i, &l).unwrap();
            prop_assert_eq!(verify_inclusion(i, n as u64, &l[i as usize], &p, &root), Ok(()));
            // Any other leaf at that index fails.
            let other = leaf_hash(b"not this one");
            prop_assert!(verify_inclusion(i, n as u64, &other, &p, &root).is_err());
        }

        #[test]
        fn every_consistency_proof_verifies(n in 1usize..300, pick in any::<prop::sample::Index>()) {
            let l = leaves(n);
            let m = pick.index(n) + 1;
            let p = consistency_proof(m as u64, &l).unwrap();
            let (r1, r2) = (root_of(&l[..m]), root_of(&l));
            prop_assert_eq!(verify_consistency(m as u64, n as u64, &r1, &r2, &p), Ok(()));
            // A history with one leaf changed before m is inconsistent.
            if m < n {
                let mut forged = l.clone();
                forged[pick.index(m)] = leaf_hash(b"forged");
                let fr1 = root_of(&forged[..m]);
                prop_assert!(verify_consistency(m as u64, n as u64, &fr1, &r2, &p).is_err());
            }
        }

        #[test]
        fn tampering_with_any_proof_hash_is_detected(n in 2usize..200, pick in any::<prop::sample::Index>(), which in any::<prop::sample::Index>()) {
            let l = leaves(n);
            let i = pick.index(n);
            let mut p = inclusion_proof(i as u64, &l).unwrap();
            prop_assume!(!p.is_empty());
            let j = which.index(p.len());
            p[j][0] ^= 1;
            prop_assert!(verify_inclusion(i as u64, n as u64, &l[i], &p, &root_of(&l)).is_err());
        }
    }
}
