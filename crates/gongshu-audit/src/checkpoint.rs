//! Signed checkpoints: the log's size and head at a time, in the text form of the
//! transparency-log checkpoints (C2SP tlog-checkpoint: origin, size, base64 head), with
//! the time and the hash function as extension lines, signed with Ed25519.

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as B64;
use ed25519_dalek::{Signature, Signer as _};
use serde::{Deserialize, Serialize};
use sha2::Digest as _;

use crate::tree::{Hash, HashAlg};

pub use ed25519_dalek::{SigningKey, VerifyingKey};

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Checkpoint {
    /// Names the log: the platform's address or name; a checkpoint of one log proves
    /// nothing about another.
    pub origin: String,
    pub size: u64,
    /// The tree head, hex.
    pub root: String,
    /// Seconds since the epoch.
    pub time: i64,
    pub hash: HashAlg,
    /// The signer's key id (see `key_id`).
    pub key_id: String,
    /// Ed25519 over `body()`, base64.
    pub signature: String,
}

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum CheckpointError {
    #[error("the checkpoint's head is not a hash")]
    BadRoot,
    #[error("the checkpoint was signed by key {found}, not {expected}")]
    OtherKey { expected: String, found: String },
    #[error("the checkpoint's signature does not verify")]
    BadSignature,
}

/// A key's id: the first 8 bytes of SHA-256 of the public key, hex.
pub fn key_id(key: &VerifyingKey) -> String {
    hex::encode(&sha2::Sha256::digest(key.as_bytes())[..8])
}

impl Checkpoint {
    /// Signs the head of a log of `size` entries.
    pub fn sign(
        key: &SigningKey,
        origin: &str,
        size: u64,
        root: &Hash,
        time: i64,
        hash: HashAlg,
    ) -> Self {
        let mut c = Self {
            origin: origin.to_owned(),
            size,
            root: hex::encode(root),
            time,
            hash,
            key_id: key_id(&key.verifying_key()),
            signature: String::new(),
        };
        c.signature = B64.encode(key.sign(c.body().as_bytes()).to_bytes());
        c
    }

    /// The signed text.
    pub fn body(&self) -> String {
        let root = crate::tree::parse_hash(&self.root).map_or_else(String::new, |r| B64.encode(r));
        format!(
            "{}\n{}\n{}\ntime {}\nhash {}\n",
            self.origin,
            self.size,
            root,
            self.time,
            self.hash.name()
        )
    }

    pub fn root_hash(&self) -> Result<Hash, CheckpointError> {
        crate::tree::parse_hash(&self.root).ok_or(CheckpointError::BadRoot)
    }

    pub fn verify(&self, key: &VerifyingKey) -> Result<(), CheckpointError> {
        self.root_hash()?;
        let expected = key_id(key);
        if self.key_id != expected {
            return Err(CheckpointError::OtherKey {
                expected,
                found: self.key_id.clone(),
            });
        }
        let bytes = B64
            .decode(&self.signature)
            .map_err(|_| CheckpointError::BadSignature)?;
        let signature = Signature::from_slice(&bytes).map_err(|_| CheckpointError::BadSignature)?;
        key.verify_strict(self.body().as_bytes(), &signature)
            .map_err(|_| CheckpointError::BadSignature)
    }
}
