//! Signed checkpoints: the log's size and head at a time, in the text form of the
//! transparency-log checkpoints (C2SP tlog-checkpoint: origin, size, base64 head), with
//! the time and the hash function as extension lines, signed with Ed25519 or, by
//! configuration, SM2 (国密, GB/T 32918.2, with the standard's default identity).

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as B64;
use serde::{Deserialize, Serialize};
use sha2::Digest as _;

use crate::tree::{Hash, HashAlg};

/// The signer identity of SM2 signatures: GB/T 35276's default.
const SM2_ID: &str = "1234567812345678";

/// How checkpoints are signed.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum SigAlg {
    #[default]
    Ed25519,
    Sm2,
}

impl SigAlg {
    pub fn name(self) -> &'static str {
        match self {
            Self::Ed25519 => "ed25519",
            Self::Sm2 => "sm2",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "ed25519" => Some(Self::Ed25519),
            "sm2" => Some(Self::Sm2),
            _ => None,
        }
    }
}

/// The key that signs checkpoints.
#[derive(Debug, Clone)]
pub enum SigningKey {
    Ed25519(Box<ed25519_dalek::SigningKey>),
    Sm2(Box<sm2::dsa::SigningKey>),
}

/// The key that verifies checkpoints, as the platform publishes it: 32 bytes for
/// Ed25519, the 65-byte uncompressed point for SM2.
#[derive(Debug, Clone)]
pub enum VerifyingKey {
    Ed25519(ed25519_dalek::VerifyingKey),
    Sm2(Box<sm2::dsa::VerifyingKey>),
}

impl SigningKey {
    /// An Ed25519 key from its 32-byte seed.
    pub fn from_bytes(seed: &[u8; 32]) -> Self {
        Self::Ed25519(Box::new(ed25519_dalek::SigningKey::from_bytes(seed)))
    }

    /// A key of `alg` derived from a 32-byte seed. An SM2 secret must lie in [1, n-1]:
    /// the seed is hashed with a counter until it does (all but a 2⁻¹²⁸ share of seeds
    /// take the first try).
    pub fn derive(alg: SigAlg, seed: &[u8; 32]) -> Self {
        match alg {
            SigAlg::Ed25519 => Self::from_bytes(seed),
            SigAlg::Sm2 => {
                let mut candidate = *seed;
                loop {
                    if let Ok(k) = sm2::dsa::SigningKey::from_slice(SM2_ID, &candidate) {
                        return Self::Sm2(Box::new(k));
                    }
                    candidate = sha2::Sha256::digest(candidate).into();
                }
            }
        }
    }

    pub fn alg(&self) -> SigAlg {
        match self {
            Self::Ed25519(_) => SigAlg::Ed25519,
            Self::Sm2(_) => SigAlg::Sm2,
        }
    }

    pub fn verifying_key(&self) -> VerifyingKey {
        match self {
            Self::Ed25519(k) => VerifyingKey::Ed25519(k.verifying_key()),
            Self::Sm2(k) => VerifyingKey::Sm2(Box::new(k.verifying_key().clone())),
        }
    }

    fn sign(&self, message: &[u8]) -> Vec<u8> {
        match self {
            Self::Ed25519(k) => {
                use ed25519_dalek::Signer as _;
                k.sign(message).to_bytes().to_vec()
            }
            Self::Sm2(k) => {
                use sm2::dsa::signature::Signer as _;
                let signature: sm2::dsa::Signature = k.sign(message);
                signature.to_bytes().to_vec()
            }
        }
    }
}

impl VerifyingKey {
    /// The key as published: 32 bytes (Ed25519) or 65 bytes (SM2, uncompressed).
    pub fn from_bytes(bytes: &[u8]) -> Result<Self, CheckpointError> {
        match bytes.len() {
            32 => {
                let b: [u8; 32] = bytes.try_into().map_err(|_| CheckpointError::BadKey)?;
                ed25519_dalek::VerifyingKey::from_bytes(&b)
                    .map(Self::Ed25519)
                    .map_err(|_| CheckpointError::BadKey)
            }
            65 => sm2::dsa::VerifyingKey::from_sec1_bytes(SM2_ID, bytes)
                .map(|k| Self::Sm2(Box::new(k)))
                .map_err(|_| CheckpointError::BadKey),
            _ => Err(CheckpointError::BadKey),
        }
    }

    pub fn to_bytes(&self) -> Vec<u8> {
        match self {
            Self::Ed25519(k) => k.as_bytes().to_vec(),
            Self::Sm2(k) => k.to_sec1_bytes().to_vec(),
        }
    }

    pub fn alg(&self) -> SigAlg {
        match self {
            Self::Ed25519(_) => SigAlg::Ed25519,
            Self::Sm2(_) => SigAlg::Sm2,
        }
    }

    fn verifies(&self, message: &[u8], signature: &[u8]) -> bool {
        match self {
            Self::Ed25519(k) => ed25519_dalek::Signature::from_slice(signature)
                .is_ok_and(|s| k.verify_strict(message, &s).is_ok()),
            Self::Sm2(k) => {
                use sm2::dsa::signature::Verifier as _;
                sm2::dsa::Signature::from_slice(signature)
                    .is_ok_and(|s| k.verify(message, &s).is_ok())
            }
        }
    }
}

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
    /// The signature over `body()`, base64.
    pub signature: String,
    /// How it is signed; checkpoints written before SM2 existed are Ed25519.
    #[serde(default)]
    pub sig: SigAlg,
}

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum CheckpointError {
    #[error("the checkpoint's head is not a hash")]
    BadRoot,
    #[error("the checkpoint was signed by key {found}, not {expected}")]
    OtherKey { expected: String, found: String },
    #[error("the checkpoint's signature does not verify")]
    BadSignature,
    #[error("not an Ed25519 (32 bytes) or SM2 (65 bytes) public key")]
    BadKey,
}

/// A key's id: the first 8 bytes of SHA-256 of the public key, hex.
pub fn key_id(key: &VerifyingKey) -> String {
    hex::encode(&sha2::Sha256::digest(key.to_bytes())[..8])
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
            sig: key.alg(),
        };
        c.signature = B64.encode(key.sign(c.body().as_bytes()));
        c
    }

    /// The signed text.
    pub fn body(&self) -> String {
        let root = crate::tree::parse_hash(&self.root).map_or_else(String::new, |r| B64.encode(r));
        // Ed25519 bodies stay as they always were; an SM2 one says so, so that the
        // algorithm is signed too.
        let sig = match self.sig {
            SigAlg::Ed25519 => String::new(),
            other => format!("sig {}\n", other.name()),
        };
        format!(
            "{}\n{}\n{}\ntime {}\nhash {}\n{sig}",
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
        if self.sig != key.alg() {
            return Err(CheckpointError::BadSignature);
        }
        let bytes = B64
            .decode(&self.signature)
            .map_err(|_| CheckpointError::BadSignature)?;
        if key.verifies(self.body().as_bytes(), &bytes) {
            Ok(())
        } else {
            Err(CheckpointError::BadSignature)
        }
    }
}

/// Keys are the same when their published bytes are.
impl PartialEq for VerifyingKey {
    fn eq(&self, other: &Self) -> bool {
        self.to_bytes() == other.to_bytes()
    }
}

impl Eq for VerifyingKey {}
