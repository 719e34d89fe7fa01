//! The tamper-evident audit log (SD-BIGDATA §33-38: 全流程审计、可追溯).
//!
//! Entries are canonical JSON, hashed into an RFC 9162 Merkle tree; the platform signs a
//! checkpoint (size, head, time) now and then with Ed25519. Anyone holding a checkpoint
//! can check that an entry is in the log (inclusion) and that a later log extends it
//! (consistency); `verify_log` recomputes a whole log offline against its checkpoints, so
//! an altered, removed, reordered or truncated entry is found.
//!
//! This crate does no IO: the store keeps the entries and checkpoints, the app appends and
//! signs, the CLI verifies.

mod checkpoint;
mod entry;
mod tree;
mod verify;

pub use checkpoint::{Checkpoint, CheckpointError, SigAlg, SigningKey, VerifyingKey, key_id};
pub use entry::Entry;
pub use tree::{CompactRange, Hash, HashAlg, MerkleTree, parse_hash};
pub use verify::{LogProblem, Verified, verify_log};

#[cfg(test)]
mod tests;
