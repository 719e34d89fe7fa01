//! Offline verification of a whole log against its signed checkpoints.

use crate::checkpoint::{Checkpoint, VerifyingKey};
use crate::tree::{CompactRange, HashAlg};

/// What a verification found wrong. Each names the first place it was seen.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum LogProblem {
    #[error("entry {expected} is missing (the next entry is numbered {found})")]
    Gap { expected: u64, found: u64 },
    #[error("entry {seq} is not an audit entry: {reason}")]
    Malformed { seq: u64, reason: String },
    #[error("checkpoint at size {size}: {reason}")]
    BadCheckpoint { size: u64, reason: String },
    #[error(
        "the log's first {size} entries do not hash to the signed checkpoint's head: an entry \
         before it was altered, removed, inserted or moved"
    )]
    RootMismatch { size: u64 },
    #[error(
        "a checkpoint covers {signed} entries, and the log holds only {held}: it was truncated"
    )]
    Truncated { signed: u64, held: u64 },
    #[error("checkpoints use {found} where the log uses {expected}")]
    MixedHashes { expected: String, found: String },
}

/// A log that verified.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Verified {
    pub entries: u64,
    pub checkpoints: usize,
    /// Entries after the last checkpoint: in the log, not yet under a signature.
    pub unsigned_tail: u64,
}

/// Recomputes the tree over `entries` (sequence number from 1, canonical bytes), checks
/// every checkpoint's signature with `key` and its head against the recomputed one, and
/// that nothing a checkpoint covers is missing. Every problem is reported, not only the
/// first.
pub fn verify_log<I, E>(
    entries: I,
    checkpoints: &[Checkpoint],
    key: &VerifyingKey,
) -> Result<Verified, Vec<LogProblem>>
where
    I: IntoIterator<Item = (u64, E)>,
    E: AsRef<[u8]>,
{
    let mut problems = Vec::new();
    let mut sorted: Vec<&Checkpoint> = checkpoints.iter().collect();
    sorted.sort_by_key(|c| c.size);
    let alg = sorted.first().map_or(HashAlg::default(), |c| c.hash);
    for c in &sorted {
        if c.hash != alg {
            problems.push(LogProblem::MixedHashes {
                expected: alg.name().to_owned(),
                found: c.hash.name().to_owned(),
            });
        }
        if let Err(e) = c.verify(key) {
            problems.push(LogProblem::BadCheckpoint {
                size: c.size,
                reason: e.to_string(),
            });
        }
    }
    let mut pending = sorted.iter().peekable();
    // A checkpoint of the empty log says nothing to check.
    while pending.next_if(|c| c.size == 0).is_some() {}
    let mut range = CompactRange::default();
    let mut expected = 1u64;
    for (seq, bytes) in entries {
        if seq != expected {
            problems.push(LogProblem::Gap {
                expected,
                found: seq,
            });
            expected = seq;
        }
        let bytes = bytes.as_ref();
        if let Err(e) = serde_json::from_slice::<crate::Entry>(bytes) {
            problems.push(LogProblem::Malformed {
                seq,
                reason: e.to_string(),
            });
        }
        range.push(alg, alg.leaf(bytes));
        expected += 1;
        while let Some(c) = pending.next_if(|c| c.size == range.size) {
            if c.root_hash().ok() != Some(range.root(alg)) {
                problems.push(LogProblem::RootMismatch { size: c.size });
            }
        }
    }
    if let Some(c) = pending.last() {
        problems.push(LogProblem::Truncated {
            signed: c.size,
            held: range.size,
        });
    }
    if problems.is_empty() {
        let signed = sorted.last().map_or(0, |c| c.size);
        Ok(Verified {
            entries: range.size,
            checkpoints: sorted.len(),
            unsigned_tail: range.size - signed,
        })
    } else {
        Err(problems)
    }
}
