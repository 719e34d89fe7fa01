//! RFC 9162 (Certificate Transparency 2.0) Merkle tree hashing, §2.1: the tree head, the
//! inclusion and consistency proofs, and their verification, over SHA-256 or SM3.

use serde::{Deserialize, Serialize};
use sha2::Digest as _;

pub type Hash = [u8; 32];

/// The hash function of a log. Every entry and node of one log uses the same.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum HashAlg {
    #[default]
    Sha256,
    /// GB/T 32905 (国密 SM3), for deployments that must use commercial cryptography.
    Sm3,
}

impl HashAlg {
    pub fn name(self) -> &'static str {
        match self {
            Self::Sha256 => "sha256",
            Self::Sm3 => "sm3",
        }
    }

    pub fn parse(name: &str) -> Option<Self> {
        match name.trim().to_ascii_lowercase().as_str() {
            "sha256" | "sha-256" => Some(Self::Sha256),
            "sm3" => Some(Self::Sm3),
            _ => None,
        }
    }

    pub(crate) fn digest(self, parts: &[&[u8]]) -> Hash {
        match self {
            Self::Sha256 => {
                let mut h = sha2::Sha256::new();
                for p in parts {
                    h.update(p);
                }
                h.finalize().into()
            }
            Self::Sm3 => {
                let mut h = sm3::Sm3::new();
                for p in parts {
                    h.update(p);
                }
                h.finalize().into()
            }
        }
    }

    /// The head of the empty tree: the hash of nothing.
    pub fn empty(self) -> Hash {
        self.digest(&[])
    }

    /// HASH(0x00 ‖ entry).
    pub fn leaf(self, entry: &[u8]) -> Hash {
        self.digest(&[&[0x00], entry])
    }

    /// HASH(0x01 ‖ left ‖ right).
    pub fn node(self, left: &Hash, right: &Hash) -> Hash {
        self.digest(&[&[0x01], left, right])
    }

    /// MTH(D[n]) over leaf hashes.
    pub fn root(self, leaves: &[Hash]) -> Hash {
        match leaves.len() {
            0 => self.empty(),
            1 => leaves[0],
            n => {
                let k = split(n);
                self.node(&self.root(&leaves[..k]), &self.root(&leaves[k..]))
            }
        }
    }

    /// PATH(m, D[n]): the audit path of leaf `index` in the tree of `leaves`.
    pub fn inclusion_proof(self, leaves: &[Hash], index: usize) -> Option<Vec<Hash>> {
        inclusion_proof_by(&|a, b| self.root(&leaves[a..b]), index, leaves.len())
    }

    /// PROOF(m, D[n]): that the tree of the first `first` leaves is a prefix of the tree
    /// of all `leaves`. Empty when `first` is 0 or the whole tree.
    pub fn consistency_proof(self, leaves: &[Hash], first: usize) -> Option<Vec<Hash>> {
        consistency_proof_by(&|a, b| self.root(&leaves[a..b]), first, leaves.len())
    }

    /// RFC 9162 §2.1.3.2: whether `proof` shows the leaf `leaf` at `index` in the tree of
    /// `size` leaves whose head is `root`.
    pub fn verify_inclusion(
        self,
        index: u64,
        size: u64,
        leaf: &Hash,
        proof: &[Hash],
        root: &Hash,
    ) -> bool {
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
                r = self.node(p, &r);
                while f & 1 == 0 && f != 0 {
                    f >>= 1;
                    s >>= 1;
                }
            } else {
                r = self.node(&r, p);
            }
            f >>= 1;
            s >>= 1;
        }
        s == 0 && r == *root
    }

    /// RFC 9162 §2.1.4.2: whether `proof` shows the tree of `first` leaves with head
    /// `first_root` to be a prefix of the tree of `second` leaves with head `second_root`.
    pub fn verify_consistency(
        self,
        first: u64,
        second: u64,
        first_root: &Hash,
        second_root: &Hash,
        proof: &[Hash],
    ) -> bool {
        if first > second {
            return false;
        }
        if first == second {
            return proof.is_empty() && first_root == second_root;
        }
        if first == 0 {
            return proof.is_empty();
        }
        if proof.is_empty() {
            return false;
        }
        let mut path: Vec<Hash> = Vec::with_capacity(proof.len() + 1);
        if first.is_power_of_two() {
            path.push(*first_root);
        }
        path.extend_from_slice(proof);
        let (mut f, mut s) = (first - 1, second - 1);
        while f & 1 == 1 {
            f >>= 1;
            s >>= 1;
        }
        let (mut fr, mut sr) = (path[0], path[0]);
        for c in &path[1..] {
            if s == 0 {
                return false;
            }
            if f & 1 == 1 || f == s {
                fr = self.node(c, &fr);
                sr = self.node(c, &sr);
                while f & 1 == 0 && f != 0 {
                    f >>= 1;
                    s >>= 1;
                }
            } else {
                sr = self.node(&sr, c);
            }
            f >>= 1;
            s >>= 1;
        }
        fr == *first_root && sr == *second_root && s == 0
    }
}

/// The head of the subtree over leaves `start..end`.
type SubtreeHash<'a> = dyn Fn(usize, usize) -> Hash + 'a;

fn inclusion_proof_by(hash: &SubtreeHash<'_>, index: usize, size: usize) -> Option<Vec<Hash>> {
    if index >= size {
        return None;
    }
    let mut proof = Vec::new();
    path(hash, index, 0, size, &mut proof);
    Some(proof)
}

fn path(hash: &SubtreeHash<'_>, m: usize, start: usize, end: usize, out: &mut Vec<Hash>) {
    let n = end - start;
    if n <= 1 {
        return;
    }
    let k = split(n);
    if m < k {
        path(hash, m, start, start + k, out);
        out.push(hash(start + k, end));
    } else {
        path(hash, m - k, start + k, end, out);
        out.push(hash(start, start + k));
    }
}

fn consistency_proof_by(hash: &SubtreeHash<'_>, first: usize, size: usize) -> Option<Vec<Hash>> {
    if first > size {
        return None;
    }
    let mut proof = Vec::new();
    if first > 0 && first < size {
        subproof(hash, first, 0, size, true, &mut proof);
    }
    Some(proof)
}

fn subproof(
    hash: &SubtreeHash<'_>,
    m: usize,
    start: usize,
    end: usize,
    whole: bool,
    out: &mut Vec<Hash>,
) {
    let n = end - start;
    if m == n {
        if !whole {
            out.push(hash(start, end));
        }
        return;
    }
    let k = split(n);
    if m <= k {
        subproof(hash, m, start, start + k, whole, out);
        out.push(hash(start + k, end));
    } else {
        subproof(hash, m - k, start + k, end, false, out);
        out.push(hash(start, start + k));
    }
}

/// A whole tree kept in memory with every complete aligned subtree's head, level by level,
/// so that any head or proof takes O(log² n) hashes rather than rehashing the log: 64
/// bytes per entry.
#[derive(Debug, Clone)]
pub struct MerkleTree {
    alg: HashAlg,
    /// `levels[k][i]`: the head of leaves `i·2ᵏ .. (i+1)·2ᵏ`.
    levels: Vec<Vec<Hash>>,
}

impl MerkleTree {
    pub fn new(alg: HashAlg) -> Self {
        Self {
            alg,
            levels: vec![Vec::new()],
        }
    }

    pub fn alg(&self) -> HashAlg {
        self.alg
    }

    pub fn len(&self) -> usize {
        self.levels[0].len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    pub fn push(&mut self, leaf: Hash) {
        self.levels[0].push(leaf);
        let mut k = 0;
        while self.levels[k].len().is_multiple_of(2) {
            let n = self.levels[k].len();
            let head = self
                .alg
                .node(&self.levels[k][n - 2], &self.levels[k][n - 1]);
            if self.levels.len() == k + 1 {
                self.levels.push(Vec::new());
            }
            self.levels[k + 1].push(head);
            k += 1;
        }
    }

    /// The leaf hash at `index`.
    pub fn leaf(&self, index: usize) -> Option<Hash> {
        self.levels[0].get(index).copied()
    }

    fn subtree(&self, start: usize, end: usize) -> Hash {
        let n = end - start;
        if n == 0 {
            return self.alg.empty();
        }
        if n.is_power_of_two() && start.is_multiple_of(n) {
            let level = n.trailing_zeros() as usize;
            if let Some(h) = self.levels.get(level).and_then(|l| l.get(start / n)) {
                return *h;
            }
        }
        let k = split(n);
        self.alg.node(
            &self.subtree(start, start + k),
            &self.subtree(start + k, end),
        )
    }

    /// The head of the tree of the first `size` leaves.
    pub fn root(&self, size: usize) -> Option<Hash> {
        (size <= self.len()).then(|| self.subtree(0, size))
    }

    /// PATH(index, D[size]).
    pub fn inclusion_proof(&self, index: usize, size: usize) -> Option<Vec<Hash>> {
        if size > self.len() {
            return None;
        }
        inclusion_proof_by(&|a, b| self.subtree(a, b), index, size)
    }

    /// PROOF(first, D[size]).
    pub fn consistency_proof(&self, first: usize, size: usize) -> Option<Vec<Hash>> {
        if size > self.len() {
            return None;
        }
        consistency_proof_by(&|a, b| self.subtree(a, b), first, size)
    }
}

/// The largest power of two smaller than `n` (n ≥ 2): RFC 9162's split, not the midpoint.
fn split(n: usize) -> usize {
    debug_assert!(n >= 2);
    1 << (usize::BITS - 1 - (n - 1).leading_zeros())
}

/// The roots of the perfect subtrees a tree of `size` leaves is made of, largest first:
/// enough to append to the tree and compute its head without the earlier leaves. A
/// checkpoint stores one, so the next starts where it ended.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct CompactRange {
    pub size: u64,
    #[serde(with = "hex_hashes")]
    pub peaks: Vec<Hash>,
}

impl CompactRange {
    pub fn push(&mut self, alg: HashAlg, leaf: Hash) {
        self.peaks.push(leaf);
        // Each trailing one bit of the old size is a peak of equal height to merge with.
        let mut size = self.size;
        while size & 1 == 1 {
            let right = self.peaks.pop().unwrap_or_default();
            let left = self.peaks.pop().unwrap_or_default();
            self.peaks.push(alg.node(&left, &right));
            size >>= 1;
        }
        self.size += 1;
    }

    /// The tree head: the peaks folded from the right.
    pub fn root(&self, alg: HashAlg) -> Hash {
        let mut peaks = self.peaks.iter().rev();
        match peaks.next() {
            None => alg.empty(),
            Some(last) => peaks.fold(*last, |acc, left| alg.node(left, &acc)),
        }
    }
}

mod hex_hashes {
    use super::Hash;
    use serde::{Deserialize, Deserializer, Serializer};

    pub(super) fn serialize<S: Serializer>(v: &[Hash], s: S) -> Result<S::Ok, S::Error> {
        s.collect_seq(v.iter().map(hex::encode))
    }

    pub(super) fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Vec<Hash>, D::Error> {
        let v: Vec<String> = Vec::deserialize(d)?;
        v.iter()
            .map(|h| super::parse_hash(h).ok_or_else(|| serde::de::Error::custom("not a hash")))
            .collect()
    }
}

/// A hash written as 64 hexadecimal digits.
pub fn parse_hash(s: &str) -> Option<Hash> {
    let mut out = [0u8; 32];
    hex::decode_to_slice(s.trim(), &mut out).ok()?;
    Some(out)
}
