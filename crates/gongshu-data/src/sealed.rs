//! Encryption at rest of important and core data (重要数据、核心数据; Data Security Law
//! §21, requirements R6.1): an object store that seals the objects it is asked to seal
//! with AES-256-GCM or SM4-GCM and opens them again on every read, so that the query
//! engine, downloads and exports above it read plaintext without knowing.
//!
//! A sealed object is a 64-byte header (magic, algorithm, key id, nonce prefix, chunk
//! size) and then the plaintext in 64 KiB chunks, each encrypted on its own with a
//! 16-byte tag. The nonce is the object's random prefix and the chunk's index; the
//! header, the index and a flag for the last chunk are authenticated with each chunk, so
//! chunks cannot be reordered, moved between objects or cut off at the end unnoticed.
//! Chunks make ranged reads cheap: a Parquet footer read decrypts one or two chunks.
//!
//! Whether an object is sealed is read from its own header, not remembered elsewhere, so
//! objects written before encryption was configured stay readable and re-sealing under a
//! new key (rotation) is a rewrite of one object at a time while the platform serves.

use std::collections::{BTreeMap, HashMap};
use std::ops::Range;
use std::path::Path as FsPath;
use std::sync::{Arc, Mutex, RwLock};

use aes_gcm::aead::{AeadInOut, KeyInit};
use aes_gcm::{Aes256Gcm, AesGcm, Nonce, Tag};
use async_trait::async_trait;
use bytes::{Bytes, BytesMut};
use futures::StreamExt;
use futures::stream::BoxStream;
use object_store::path::Path;
use object_store::{
    CopyOptions, GetOptions, GetRange, GetResult, GetResultPayload, ListResult, MultipartUpload,
    ObjectMeta, ObjectStore, ObjectStoreExt, PutMultipartOptions, PutOptions, PutPayload,
    PutResult, RenameOptions, UploadPart, WriteMultipart,
};
use serde::Deserialize;

type Sm4Gcm = AesGcm<sm4::Sm4, aes_gcm::aead::consts::U12>;

/// Plaintext bytes per chunk.
pub const CHUNK: u64 = 64 * 1024;
const TAG: u64 = 16;
/// Length of the header that starts every sealed object.
pub const HEADER: u64 = 64;
const MAGIC: &[u8; 8] = b"GSSEAL\x00\x01";
const KEY_ID_MAX: usize = 38;

/// Put in a put's or a multipart upload's `extensions` to have the object sealed with the
/// active key.
#[derive(Debug, Clone, Copy)]
pub struct Seal;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Algorithm {
    Aes256Gcm,
    Sm4Gcm,
}

impl Algorithm {
    fn code(self) -> u8 {
        match self {
            Self::Aes256Gcm => 1,
            Self::Sm4Gcm => 2,
        }
    }

    fn from_code(code: u8) -> Option<Self> {
        match code {
            1 => Some(Self::Aes256Gcm),
            2 => Some(Self::Sm4Gcm),
            _ => None,
        }
    }

    pub fn label(self) -> &'static str {
        match self {
            Self::Aes256Gcm => "aes-256-gcm",
            Self::Sm4Gcm => "sm4-gcm",
        }
    }

    fn key_len(self) -> usize {
        match self {
            Self::Aes256Gcm => 32,
            Self::Sm4Gcm => 16,
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum KeyringError {
    #[error("reading the key file {0}: {1}")]
    Read(String, std::io::Error),
    #[error("the key file is not valid TOML: {0}")]
    Syntax(String),
    #[error("unknown algorithm {0:?}: use aes-256-gcm or sm4-gcm")]
    Algorithm(String),
    #[error("key {0:?}: {1}")]
    Key(String, &'static str),
    #[error("the active key {0:?} is not among the keys")]
    Active(String),
    #[error("key id {0:?} appears twice")]
    Duplicate(String),
    #[error(
        "the key file {0} lies inside the data directory; keep keys where a copy of the data does not take them"
    )]
    InsideDataDir(String),
}

enum Cipher {
    Aes(Box<Aes256Gcm>),
    Sm4(Box<Sm4Gcm>),
}

/// One key of the keyring; the key bytes never leave this module.
pub struct DataKey {
    id: String,
    algorithm: Algorithm,
    cipher: Cipher,
}

impl std::fmt::Debug for DataKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("DataKey")
            .field("id", &self.id)
            .field("algorithm", &self.algorithm)
            .finish_non_exhaustive()
    }
}

impl DataKey {
    pub fn new(id: &str, algorithm: Algorithm, key: &[u8]) -> Result<Self, KeyringError> {
        if id.is_empty()
            || id.len() > KEY_ID_MAX
            || !id
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b"-_.".contains(&b))
        {
            return Err(KeyringError::Key(
                id.into(),
                "ids are 1 to 38 letters, digits, '-', '_' or '.'",
            ));
        }
        if key.len() != algorithm.key_len() {
            return Err(KeyringError::Key(
                id.into(),
                match algorithm {
                    Algorithm::Aes256Gcm => "an AES-256 key is 32 bytes (64 hex digits)",
                    Algorithm::Sm4Gcm => "an SM4 key is 16 bytes (32 hex digits)",
                },
            ));
        }
        let bad = || KeyringError::Key(id.into(), "wrong key length");
        let cipher = match algorithm {
            Algorithm::Aes256Gcm => {
                Cipher::Aes(Box::new(Aes256Gcm::new_from_slice(key).map_err(|_| bad())?))
            }
            Algorithm::Sm4Gcm => {
                Cipher::Sm4(Box::new(Sm4Gcm::new_from_slice(key).map_err(|_| bad())?))
            }
        };
        Ok(Self {
            id: id.to_owned(),
            algorithm,
            cipher,
        })
    }

    pub fn id(&self) -> &str {
        &self.id
    }

    pub fn algorithm(&self) -> Algorithm {
        self.algorithm
    }

    fn encrypt(&self, nonce: &[u8; 12], aad: &[u8], buf: &mut [u8]) -> [u8; 16] {
        let nonce = Nonce::<aes_gcm::aead::consts::U12>::from(*nonce);
        // GCM fails only past 64 GiB per message; a chunk is 64 KiB.
        let tag = match &self.cipher {
            Cipher::Aes(c) => c.encrypt_inout_detached(&nonce, aad, buf.into()),
            Cipher::Sm4(c) => c.encrypt_inout_detached(&nonce, aad, buf.into()),
        }
        .unwrap_or_default();
        tag.into()
    }

    fn decrypt(&self, nonce: &[u8; 12], aad: &[u8], buf: &mut [u8], tag: &[u8]) -> bool {
        let nonce = Nonce::<aes_gcm::aead::consts::U12>::from(*nonce);
        let Ok(tag) = <&[u8; 16]>::try_from(tag) else {
            return false;
        };
        let tag = Tag::<aes_gcm::aead::consts::U16>::from(*tag);
        match &self.cipher {
            Cipher::Aes(c) => c.decrypt_inout_detached(&nonce, aad, buf.into(), &tag),
            Cipher::Sm4(c) => c.decrypt_inout_detached(&nonce, aad, buf.into(), &tag),
        }
        .is_ok()
    }
}

/// The keys objects may be sealed with, and the one new objects are sealed with. Old keys
/// stay in the file until no object uses them (`SealedStore::census` counts).
#[derive(Debug)]
pub struct Keyring {
    active: String,
    keys: BTreeMap<String, Arc<DataKey>>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct KeyFile {
    active: String,
    #[serde(default, rename = "keys")]
    keys: Vec<KeyEntry>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct KeyEntry {
    id: String,
    algorithm: String,
    /// 32 or 64 hex digits.
    key: String,
}

impl Keyring {
    pub fn new(active: &str, keys: Vec<DataKey>) -> Result<Self, KeyringError> {
        let mut map = BTreeMap::new();
        for k in keys {
            let id = k.id.clone();
            if map.insert(id.clone(), Arc::new(k)).is_some() {
                return Err(KeyringError::Duplicate(id));
            }
        }
        if !map.contains_key(active) {
            return Err(KeyringError::Active(active.into()));
        }
        Ok(Self {
            active: active.into(),
            keys: map,
        })
    }

    /// Reads a key file:
    ///
    /// ```toml
    /// active = "2026b"
    /// [[keys]]
    /// id = "2026a"
    /// algorithm = "aes-256-gcm"
    /// key = "<64 hex digits>"
    /// [[keys]]
    /// id = "2026b"
    /// algorithm = "sm4-gcm"
    /// key = "<32 hex digits>"
    /// ```
    pub fn parse(text: &str) -> Result<Self, KeyringError> {
        let file: KeyFile =
            toml::from_str(text).map_err(|e| KeyringError::Syntax(e.message().to_owned()))?;
        let mut keys = Vec::new();
        for entry in file.keys {
            let algorithm = match entry.algorithm.to_ascii_lowercase().as_str() {
                "aes-256-gcm" | "aes256gcm" => Algorithm::Aes256Gcm,
                "sm4-gcm" | "sm4gcm" => Algorithm::Sm4Gcm,
                other => return Err(KeyringError::Algorithm(other.into())),
            };
            let bytes = hex::decode(entry.key.trim())
                .map_err(|_| KeyringError::Key(entry.id.clone(), "the key is not hex"))?;
            keys.push(DataKey::new(&entry.id, algorithm, &bytes)?);
        }
        Self::new(&file.active, keys)
    }

    /// Reads the key file at `path`, refusing one inside `data_dir`: a backup of the data
    /// directory must not carry the keys that open it.
    pub fn load(path: &FsPath, data_dir: Option<&FsPath>) -> Result<Self, KeyringError> {
        let shown = path.display().to_string();
        if let Some(dir) = data_dir {
            let file =
                std::fs::canonicalize(path).map_err(|e| KeyringError::Read(shown.clone(), e))?;
            if let Ok(dir) = std::fs::canonicalize(dir)
                && file.starts_with(&dir)
            {
                return Err(KeyringError::InsideDataDir(shown));
            }
        }
        let text = std::fs::read_to_string(path).map_err(|e| KeyringError::Read(shown, e))?;
        Self::parse(&text)
    }

    pub fn active(&self) -> &Arc<DataKey> {
        // `new` checked that the active key is present.
        &self.keys[&self.active]
    }

    pub fn get(&self, id: &str) -> Option<&Arc<DataKey>> {
        self.keys.get(id)
    }

    pub fn ids(&self) -> impl Iterator<Item = &str> {
        self.keys.keys().map(String::as_str)
    }
}

/// What the header of a sealed object says.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Header {
    pub algorithm: Algorithm,
    pub key_id: String,
    prefix: [u8; 8],
    bytes: [u8; HEADER as usize],
}

impl Header {
    fn new(key: &DataKey) -> Self {
        let mut prefix = [0u8; 8];
        rand::RngCore::fill_bytes(&mut rand::rng(), &mut prefix);
        let mut bytes = [0u8; HEADER as usize];
        bytes[..8].copy_from_slice(MAGIC);
        bytes[8] = key.algorithm.code();
        let id = key.id.as_bytes();
        bytes[9] = id.len() as u8;
        bytes[10..10 + id.len()].copy_from_slice(id);
        bytes[48..56].copy_from_slice(&prefix);
        bytes[56..60].copy_from_slice(&(CHUNK as u32).to_le_bytes());
        Self {
            algorithm: key.algorithm,
            key_id: key.id.clone(),
            prefix,
            bytes,
        }
    }

    /// `None` for an object that is not sealed (or not by this format).
    pub fn parse(bytes: &[u8]) -> Option<Self> {
        let bytes: [u8; HEADER as usize] = bytes.get(..HEADER as usize)?.try_into().ok()?;
        if &bytes[..8] != MAGIC {
            return None;
        }
        let algorithm = Algorithm::from_code(bytes[8])?;
        let len = bytes[9] as usize;
        if len == 0 || len > KEY_ID_MAX {
            return None;
        }
        let key_id = std::str::from_utf8(&bytes[10..10 + len]).ok()?.to_owned();
        if u32::from_le_bytes(bytes[56..60].try_into().ok()?) as u64 != CHUNK {
            return None;
        }
        let prefix = bytes[48..56].try_into().ok()?;
        Some(Self {
            algorithm,
            key_id,
            prefix,
            bytes,
        })
    }

    fn nonce(&self, index: u64) -> [u8; 12] {
        let mut nonce = [0u8; 12];
        nonce[..8].copy_from_slice(&self.prefix);
        // Objects larger than 2^32 chunks (256 TiB) are refused before a nonce repeats.
        nonce[8..].copy_from_slice(&(index as u32).to_be_bytes());
        nonce
    }

    fn aad(&self, index: u64, last: bool) -> [u8; HEADER as usize + 9] {
        let mut aad = [0u8; HEADER as usize + 9];
        aad[..HEADER as usize].copy_from_slice(&self.bytes);
        aad[HEADER as usize..HEADER as usize + 8].copy_from_slice(&index.to_le_bytes());
        aad[HEADER as usize + 8] = u8::from(last);
        aad
    }
}

/// Chunks a plaintext of `plain` bytes takes: the last holds 0 to `CHUNK` bytes, so an
/// empty object is one empty chunk and every object ends in a chunk marked last.
fn chunks(plain: u64) -> u64 {
    plain.div_ceil(CHUNK).max(1)
}

/// The stored length of a sealed plaintext of `plain` bytes.
pub fn sealed_len(plain: u64) -> u64 {
    HEADER + plain + TAG * chunks(plain)
}

/// The plaintext length of a sealed object of `sealed` bytes, if that length is possible.
pub fn plain_len(sealed: u64) -> Option<u64> {
    let body = sealed.checked_sub(HEADER)?;
    let n = body.div_ceil(CHUNK + TAG);
    let plain = body.checked_sub(TAG * n)?;
    (n >= 1 && sealed_len(plain) == sealed).then_some(plain)
}

/// Encrypts a stream of plaintext chunk by chunk. A full chunk is written only when more
/// bytes follow it, so the chunk `finish` writes is always the last.
struct Sealer {
    key: Arc<DataKey>,
    header: Header,
    pending: BytesMut,
    index: u64,
    started: bool,
}

impl Sealer {
    fn new(key: Arc<DataKey>) -> Self {
        let header = Header::new(&key);
        Self {
            key,
            header,
            pending: BytesMut::new(),
            index: 0,
            started: false,
        }
    }

    fn seal_chunk(&mut self, plain: &[u8], last: bool, out: &mut Vec<u8>) {
        let start = out.len();
        out.extend_from_slice(plain);
        let tag = self.key.encrypt(
            &self.header.nonce(self.index),
            &self.header.aad(self.index, last),
            &mut out[start..],
        );
        out.extend_from_slice(&tag);
        self.index += 1;
    }

    fn begin(&mut self, out: &mut Vec<u8>) {
        if !self.started {
            out.extend_from_slice(&self.header.bytes);
            self.started = true;
        }
    }

    fn push(&mut self, data: &[u8]) -> Result<Vec<u8>, object_store::Error> {
        let mut out = Vec::new();
        self.begin(&mut out);
        self.pending.extend_from_slice(data);
        // Full chunks that more bytes follow; the last full one may be the end, so it
        // waits for `finish` or for more.
        let full = (self.pending.len() as u64).saturating_sub(1) / CHUNK;
        if full == 0 {
            return Ok(out);
        }
        if self.index + full >= u64::from(u32::MAX) {
            return Err(generic("an object larger than 256 TiB cannot be sealed"));
        }
        let plain = self.pending.split_to((full * CHUNK) as usize);
        let start = out.len();
        out.resize(start + (full * (CHUNK + TAG)) as usize, 0);
        let first = self.index;
        let (key, header) = (&self.key, &self.header);
        let seal = |from: u64, plain: &[u8], sealed: &mut [u8]| {
            for (i, (p, c)) in plain
                .chunks(CHUNK as usize)
                .zip(sealed.chunks_mut((CHUNK + TAG) as usize))
                .enumerate()
            {
                let index = from + i as u64;
                let (body, tag) = c.split_at_mut(CHUNK as usize);
                body.copy_from_slice(p);
                tag.copy_from_slice(&key.encrypt(
                    &header.nonce(index),
                    &header.aad(index, false),
                    body,
                ));
            }
        };
        // Chunks are independent, so a part of many is sealed on every core: SM4 has no
        // instruction of its own and is the slow step of storing important data.
        let threads = std::thread::available_parallelism().map_or(1, |n| n.get()) as u64;
        let per_thread = full.div_ceil(threads).max(8);
        std::thread::scope(|scope| {
            for (t, (p, c)) in plain
                .chunks((per_thread * CHUNK) as usize)
                .zip(out[start..].chunks_mut((per_thread * (CHUNK + TAG)) as usize))
                .enumerate()
            {
                let from = first + t as u64 * per_thread;
                scope.spawn(move || seal(from, p, c));
            }
        });
        self.index += full;
        Ok(out)
    }

    fn finish(&mut self) -> Vec<u8> {
        let mut out = Vec::new();
        self.begin(&mut out);
        let rest = self.pending.split();
        self.seal_chunk(&rest, true, &mut out);
        out
    }
}

fn generic(message: &str) -> object_store::Error {
    object_store::Error::Generic {
        store: "sealed",
        source: message.to_owned().into(),
    }
}

/// What a look at an object's first bytes found; kept per path and checked against the
/// ETag of every later read, so an object re-sealed elsewhere is looked at again.
#[derive(Debug, Clone)]
enum Probe {
    Plain {
        e_tag: Option<String>,
    },
    Sealed {
        e_tag: Option<String>,
        plain: u64,
        header: Arc<Header>,
    },
}

impl Probe {
    fn e_tag(&self) -> &Option<String> {
        match self {
            Self::Plain { e_tag } | Self::Sealed { e_tag, .. } => e_tag,
        }
    }
}

const PROBES_KEPT: usize = 16 * 1024;

/// Marks the object a re-sealing writes before it is renamed over the original.
const RESEAL_TEMP: &str = ".reseal-";

/// Whether `location` is a re-sealing's object in the making (or left by one that died).
pub fn is_reseal_temp(location: &Path) -> bool {
    location.filename().is_some_and(|n| n.contains(RESEAL_TEMP))
}

/// The object store wrapper. Without a keyring it passes everything through and refuses
/// to seal; reads of sealed objects then fail rather than return ciphertext.
#[derive(Debug)]
pub struct SealedStore {
    inner: Arc<dyn ObjectStore>,
    keys: RwLock<Option<Arc<Keyring>>>,
    probes: Arc<Mutex<HashMap<Path, Probe>>>,
}

impl std::fmt::Display for SealedStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Sealed({})", self.inner)
    }
}

/// How many objects under a prefix are sealed with each key, and how many are not.
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize)]
pub struct Census {
    pub plain: u64,
    pub by_key: BTreeMap<String, u64>,
}

impl SealedStore {
    pub fn new(inner: Arc<dyn ObjectStore>) -> Self {
        Self {
            inner,
            keys: RwLock::new(None),
            probes: Arc::new(Mutex::new(HashMap::new())),
        }
    }

    /// Replaces the keyring (at start, and when the operator rotates): new objects are
    /// sealed with its active key from now on; objects sealed with a key it lacks can no
    /// longer be read, which `census` shows before an old key is removed.
    pub fn set_keyring(&self, keyring: Option<Keyring>) {
        let mut keys = self.keys.write().unwrap_or_else(|e| e.into_inner());
        *keys = keyring.map(Arc::new);
    }

    pub fn keyring(&self) -> Option<Arc<Keyring>> {
        self.keys.read().unwrap_or_else(|e| e.into_inner()).clone()
    }

    fn key(&self, id: &str) -> object_store::Result<Arc<DataKey>> {
        self.keyring()
            .and_then(|k| k.get(id).cloned())
            .ok_or_else(|| generic(&format!("the at-rest key {id:?} is not configured")))
    }

    fn active_key(&self) -> object_store::Result<Arc<DataKey>> {
        self.keyring()
            .map(|k| k.active().clone())
            .ok_or_else(|| generic("no at-rest encryption key is configured"))
    }

    fn forget(&self, location: &Path) {
        forget(&self.probes, location);
    }

    async fn probe(&self, location: &Path) -> object_store::Result<Probe> {
        let cached = self
            .probes
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .get(location)
            .cloned();
        if let Some(p) = cached {
            return Ok(p);
        }
        let got = self
            .inner
            .get_opts(
                location,
                GetOptions {
                    range: Some(GetRange::Bounded(0..HEADER)),
                    ..GetOptions::default()
                },
            )
            .await;
        let (meta, first) = match got {
            Ok(got) => (got.meta.clone(), got.bytes().await?),
            // An empty object has no first byte to ask for; a missing one fails twice.
            Err(e) => {
                let meta = self.inner.head(location).await.map_err(|_| e)?;
                (meta, Bytes::new())
            }
        };
        let probe = match Header::parse(&first) {
            Some(header) => Probe::Sealed {
                plain: plain_len(meta.size).ok_or_else(|| {
                    generic(&format!(
                        "{location}: sealed object has an impossible length"
                    ))
                })?,
                e_tag: meta.e_tag,
                header: Arc::new(header),
            },
            None => Probe::Plain { e_tag: meta.e_tag },
        };
        let mut probes = self.probes.lock().unwrap_or_else(|e| e.into_inner());
        if probes.len() >= PROBES_KEPT {
            probes.clear();
        }
        probes.insert(location.clone(), probe.clone());
        Ok(probe)
    }

    /// The key an object is sealed with, or `None` if it is stored in the clear; looked
    /// at afresh.
    pub async fn seal_of(&self, location: &Path) -> object_store::Result<Option<String>> {
        self.forget(location);
        Ok(match self.probe(location).await? {
            Probe::Plain { .. } => None,
            Probe::Sealed { header, .. } => Some(header.key_id.clone()),
        })
    }

    /// Rewrites an object sealed with the active key: one sealed with another key, and
    /// with `seal_plain` one stored in the clear too. The new object is written beside
    /// the old one and renamed over it, so a reader sees one or the other whole.
    /// Returns whether anything was rewritten.
    pub async fn reseal(&self, location: &Path, seal_plain: bool) -> object_store::Result<bool> {
        let active = self.active_key()?;
        match self.seal_of(location).await?.as_deref() {
            Some(id) if id == active.id() => return Ok(false),
            None if !seal_plain => return Ok(false),
            _ => {}
        }
        let mut suffix = [0u8; 6];
        rand::RngCore::fill_bytes(&mut rand::rng(), &mut suffix);
        let tmp = Path::from(format!("{location}{RESEAL_TEMP}{}", hex::encode(suffix)));
        let result = async {
            let mut source = self.get(location).await?.into_stream();
            let mut options = PutMultipartOptions::default();
            options.extensions.insert(Seal);
            let upload = self.put_multipart_opts(&tmp, options).await?;
            let mut writer = WriteMultipart::new_with_chunk_size(upload, 8 * 1024 * 1024);
            while let Some(bytes) = source.next().await {
                writer.wait_for_capacity(4).await?;
                writer.write(&bytes?);
            }
            writer.finish().await?;
            self.inner.rename(&tmp, location).await
        }
        .await;
        self.forget(location);
        if let Err(e) = result {
            let _ = self.inner.delete(&tmp).await;
            return Err(e);
        }
        Ok(true)
    }

    /// Counts the objects under `prefix` by the key that seals them.
    pub async fn census(&self, prefix: &Path) -> object_store::Result<Census> {
        let mut census = Census::default();
        let mut listing = self.inner.list(Some(prefix));
        while let Some(meta) = listing.next().await {
            let meta = meta?;
            if is_reseal_temp(&meta.location) {
                continue;
            }
            // What this node last saw of each file: a census is a report, read often,
            // and re-sealing here forgets what it rewrites.
            match self.probe(&meta.location).await {
                Ok(Probe::Plain { .. }) => census.plain += 1,
                Ok(Probe::Sealed { header, .. }) => {
                    *census.by_key.entry(header.key_id.clone()).or_default() += 1;
                }
                // Deleted since it was listed.
                Err(object_store::Error::NotFound { .. }) => {}
                Err(e) => return Err(e),
            }
        }
        Ok(census)
    }

    /// The inner store, for listing what is stored as it is stored.
    pub fn inner(&self) -> &Arc<dyn ObjectStore> {
        &self.inner
    }

    async fn get_sealed(
        &self,
        location: &Path,
        options: GetOptions,
        plain: u64,
        header: Arc<Header>,
        e_tag: &Option<String>,
    ) -> object_store::Result<Option<GetResult>> {
        let wanted = match &options.range {
            None => 0..plain,
            Some(r) => r.as_range(plain).map_err(|e| generic(&e.to_string()))?,
        };
        let key = self.key(&header.key_id)?;
        let total = chunks(plain);
        let first = (wanted.start / CHUNK).min(total - 1);
        let last = if wanted.is_empty() {
            first
        } else {
            ((wanted.end - 1) / CHUNK).min(total - 1)
        };
        let stored = HEADER + first * (CHUNK + TAG)
            ..(HEADER + (last + 1) * (CHUNK + TAG)).min(sealed_len(plain));
        let inner_options = GetOptions {
            range: Some(GetRange::Bounded(stored)),
            head: options.head,
            ..options.clone()
        };
        let got = self.inner.get_opts(location, inner_options).await?;
        if got.meta.e_tag != *e_tag {
            return Ok(None);
        }
        let mut meta = got.meta.clone();
        meta.size = plain;
        let attributes = got.attributes.clone();
        if options.head {
            return Ok(Some(GetResult {
                payload: GetResultPayload::Stream(futures::stream::empty().boxed()),
                meta,
                range: wanted,
                attributes,
            }));
        }
        let opener = Opener {
            key,
            header,
            total,
            index: first,
            last,
            plain,
            wanted: wanted.clone(),
            buffer: BytesMut::new(),
            source: got.into_stream(),
            done: false,
        };
        let stream = futures::stream::unfold(opener, |mut o| async move {
            o.next().await.map(|item| (item, o))
        })
        // Readers may ask once more after the end (collecting an empty object does).
        .fuse()
        .boxed();
        Ok(Some(GetResult {
            payload: GetResultPayload::Stream(stream),
            meta,
            range: wanted,
            attributes,
        }))
    }
}

fn forget(probes: &Mutex<HashMap<Path, Probe>>, location: &Path) {
    probes
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .remove(location);
}

/// Decrypts the chunks of a ranged read as they arrive and yields the asked-for part,
/// a batch of chunks at a time so that a long read decrypts on every core.
struct Opener {
    key: Arc<DataKey>,
    header: Arc<Header>,
    total: u64,
    /// The next chunk to decrypt, and the last the read needs.
    index: u64,
    last: u64,
    plain: u64,
    wanted: Range<u64>,
    buffer: BytesMut,
    source: BoxStream<'static, object_store::Result<Bytes>>,
    done: bool,
}

/// The stored length of chunk `index` of a plaintext of `plain` bytes, tag included.
fn stored_chunk_len(plain: u64, index: u64) -> u64 {
    let start = index * CHUNK;
    (plain - start.min(plain)).min(CHUNK) + TAG
}

/// Chunks decrypted together: 2 MiB, enough to share among cores, little to hold.
const OPEN_BATCH: u64 = 32;

impl Opener {
    fn chunk_len(&self, index: u64) -> u64 {
        stored_chunk_len(self.plain, index)
    }

    async fn next(&mut self) -> Option<object_store::Result<Bytes>> {
        while !self.done {
            let count = (self.last + 1 - self.index).min(OPEN_BATCH);
            let need: u64 = (self.index..self.index + count)
                .map(|i| self.chunk_len(i))
                .sum();
            while (self.buffer.len() as u64) < need {
                match self.source.next().await {
                    Some(Ok(bytes)) => self.buffer.extend_from_slice(&bytes),
                    Some(Err(e)) => {
                        self.done = true;
                        return Some(Err(e));
                    }
                    None => {
                        self.done = true;
                        return Some(Err(generic("a sealed object ends early")));
                    }
                }
            }
            let mut batch = self.buffer.split_to(need as usize);
            let first = self.index;
            if let Err(e) = self.open_batch(first, count, &mut batch) {
                self.done = true;
                return Some(Err(e));
            }
            // The plaintext of each chunk, tags dropped, cut to the asked-for range.
            let mut out = BytesMut::with_capacity(need as usize);
            let mut at = 0usize;
            for index in first..first + count {
                let body = (self.chunk_len(index) - TAG) as usize;
                let start = index * CHUNK;
                let from = self.wanted.start.saturating_sub(start) as usize;
                let to = self
                    .wanted
                    .end
                    .min(start + body as u64)
                    .saturating_sub(start) as usize;
                if from < to {
                    out.extend_from_slice(&batch[at + from..at + to]);
                }
                at += body + TAG as usize;
            }
            self.index += count;
            if self.index > self.last {
                self.done = true;
            }
            if !out.is_empty() {
                return Some(Ok(out.freeze()));
            }
        }
        None
    }

    /// Decrypts `count` chunks from `first` in place, on as many threads as pay.
    fn open_batch(&self, first: u64, count: u64, batch: &mut [u8]) -> object_store::Result<()> {
        let (key, header, plain, total) = (&*self.key, &*self.header, self.plain, self.total);
        let open = |from: u64, n: u64, bytes: &mut [u8]| -> bool {
            let mut at = 0usize;
            for index in from..from + n {
                let len = stored_chunk_len(plain, index) as usize;
                let (data, tag) = bytes[at..at + len].split_at_mut(len - TAG as usize);
                let last = index + 1 == total;
                if !key.decrypt(&header.nonce(index), &header.aad(index, last), data, tag) {
                    return false;
                }
                at += len;
            }
            true
        };
        let threads = std::thread::available_parallelism().map_or(1, |n| n.get()) as u64;
        let ok = if count < 8 || threads == 1 {
            open(first, count, batch)
        } else {
            // Only the batch's last chunk can be shorter, so every share but the last
            // starts at a whole number of full chunks.
            let per = count.div_ceil(threads);
            std::thread::scope(|scope| {
                let mut rest = batch;
                let mut handles = Vec::new();
                let mut from = first;
                while from < first + count {
                    let n = per.min(first + count - from);
                    let len: u64 = (from..from + n).map(|i| stored_chunk_len(plain, i)).sum();
                    let (mine, tail) = rest.split_at_mut(len as usize);
                    rest = tail;
                    let open = &open;
                    handles.push(scope.spawn(move || open(from, n, mine)));
                    from += n;
                }
                handles.into_iter().all(|h| h.join().unwrap_or(false))
            })
        };
        if ok {
            Ok(())
        } else {
            Err(generic(
                "a sealed chunk failed authentication: the stored object was altered or the key is wrong",
            ))
        }
    }
}

/// A multipart upload that seals what it is given.
struct SealingUpload {
    inner: Box<dyn MultipartUpload>,
    sealer: Sealer,
    probes: Arc<Mutex<HashMap<Path, Probe>>>,
    location: Path,
}

impl std::fmt::Debug for SealingUpload {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SealingUpload")
            .field("location", &self.location)
            .finish_non_exhaustive()
    }
}

#[async_trait]
impl MultipartUpload for SealingUpload {
    fn put_part(&mut self, data: PutPayload) -> UploadPart {
        let mut sealed = Vec::new();
        for part in data.iter() {
            match self.sealer.push(part) {
                Ok(out) => sealed.extend_from_slice(&out),
                Err(e) => return Box::pin(async move { Err(e) }),
            }
        }
        if sealed.is_empty() {
            return Box::pin(async { Ok(()) });
        }
        self.inner.put_part(PutPayload::from(sealed))
    }

    async fn complete(&mut self) -> object_store::Result<PutResult> {
        let rest = self.sealer.finish();
        self.inner.put_part(PutPayload::from(rest)).await?;
        let result = self.inner.complete().await;
        forget(&self.probes, &self.location);
        result
    }

    async fn abort(&mut self) -> object_store::Result<()> {
        self.inner.abort().await
    }
}

#[async_trait]
impl ObjectStore for SealedStore {
    async fn put_opts(
        &self,
        location: &Path,
        payload: PutPayload,
        opts: PutOptions,
    ) -> object_store::Result<PutResult> {
        let payload = if opts.extensions.get::<Seal>().is_some() {
            let mut sealer = Sealer::new(self.active_key()?);
            let mut sealed =
                Vec::with_capacity(sealed_len(payload.content_length() as u64) as usize);
            for part in payload.iter() {
                sealed.extend_from_slice(&sealer.push(part)?);
            }
            sealed.extend_from_slice(&sealer.finish());
            PutPayload::from(sealed)
        } else {
            payload
        };
        let result = self.inner.put_opts(location, payload, opts).await;
        self.forget(location);
        result
    }

    async fn put_multipart_opts(
        &self,
        location: &Path,
        opts: PutMultipartOptions,
    ) -> object_store::Result<Box<dyn MultipartUpload>> {
        let seal = opts.extensions.get::<Seal>().is_some();
        let key = if seal { Some(self.active_key()?) } else { None };
        let inner = self.inner.put_multipart_opts(location, opts).await?;
        self.forget(location);
        Ok(match key {
            None => inner,
            Some(key) => Box::new(SealingUpload {
                inner,
                sealer: Sealer::new(key),
                probes: self.probes.clone(),
                location: location.clone(),
            }),
        })
    }

    async fn get_opts(
        &self,
        location: &Path,
        options: GetOptions,
    ) -> object_store::Result<GetResult> {
        // An object replaced between the look at its header and the read (by a rotation,
        // perhaps on another node) shows as a changed ETag: look again.
        for _ in 0..4 {
            let probe = self.probe(location).await?;
            let result = match &probe {
                Probe::Plain { e_tag } => {
                    let got = self.inner.get_opts(location, options.clone()).await?;
                    (got.meta.e_tag == *e_tag).then_some(got)
                }
                Probe::Sealed {
                    e_tag,
                    plain,
                    header,
                } => {
                    self.get_sealed(location, options.clone(), *plain, header.clone(), e_tag)
                        .await?
                }
            };
            match result {
                Some(got) => return Ok(got),
                None => {
                    tracing::debug!(%location, etag = ?probe.e_tag(), "object changed under a read; looking again");
                    self.forget(location);
                }
            }
        }
        Err(generic(&format!(
            "{location} kept changing while being read"
        )))
    }

    fn delete_stream(
        &self,
        locations: BoxStream<'static, object_store::Result<Path>>,
    ) -> BoxStream<'static, object_store::Result<Path>> {
        let probes = self.probes.clone();
        self.inner
            .delete_stream(locations)
            .map(move |r| {
                if let Ok(p) = &r {
                    forget(&probes, p);
                }
                r
            })
            .boxed()
    }

    /// Lists stored objects with their stored sizes (a sealed object is larger than what
    /// it holds by its header and tags).
    fn list(&self, prefix: Option<&Path>) -> BoxStream<'static, object_store::Result<ObjectMeta>> {
        self.inner.list(prefix)
    }

    async fn list_with_delimiter(&self, prefix: Option<&Path>) -> object_store::Result<ListResult> {
        self.inner.list_with_delimiter(prefix).await
    }

    async fn copy_opts(
        &self,
        from: &Path,
        to: &Path,
        options: CopyOptions,
    ) -> object_store::Result<()> {
        let result = self.inner.copy_opts(from, to, options).await;
        self.forget(to);
        result
    }

    async fn rename_opts(
        &self,
        from: &Path,
        to: &Path,
        options: RenameOptions,
    ) -> object_store::Result<()> {
        let result = self.inner.rename_opts(from, to, options).await;
        self.forget(from);
        self.forget(to);
        result
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use object_store::memory::InMemory;

    fn keyring(active: &str) -> Keyring {
        Keyring::new(
            active,
            vec![
                DataKey::new("a", Algorithm::Aes256Gcm, &[7u8; 32]).unwrap(),
                DataKey::new("s", Algorithm::Sm4Gcm, &[9u8; 16]).unwrap(),
            ],
        )
        .unwrap()
    }

    fn sealed_store(active: &str) -> (Arc<InMemory>, SealedStore) {
        let inner = Arc::new(InMemory::new());
        let store = SealedStore::new(inner.clone());
        store.set_keyring(Some(keyring(active)));
        (inner, store)
    }

    fn seal_opts() -> PutOptions {
        let mut o = PutOptions::default();
        o.extensions.insert(Seal);
        o
    }

    fn sample(n: usize) -> Vec<u8> {
        (0..n).map(|i| (i * 31 % 251) as u8).collect()
    }

    /// RFC 8998 appendix A.1: SM4-GCM, so what the platform writes is SM4-GCM as others
    /// implement it.
    #[test]
    fn sm4_gcm_matches_rfc_8998() {
        let key = DataKey::new(
            "rfc",
            Algorithm::Sm4Gcm,
            &hex::decode("0123456789ABCDEFFEDCBA9876543210").unwrap(),
        )
        .unwrap();
        let nonce: [u8; 12] = hex::decode("00001234567800000000ABCD")
            .unwrap()
            .try_into()
            .unwrap();
        let aad = hex::decode("FEEDFACEDEADBEEFFEEDFACEDEADBEEFABADDAD2").unwrap();
        let mut data = hex::decode(concat!(
            "AAAAAAAAAAAAAAAABBBBBBBBBBBBBBBBCCCCCCCCCCCCCCCCDDDDDDDDDDDDDDDD",
            "EEEEEEEEEEEEEEEEFFFFFFFFFFFFFFFFEEEEEEEEEEEEEEEEAAAAAAAAAAAAAAAA"
        ))
        .unwrap();
        let tag = key.encrypt(&nonce, &aad, &mut data);
        assert_eq!(
            hex::encode_upper(&data),
            concat!(
                "17F399F08C67D5EE19D0DC9969C4BB7D5FD46FD3756489069157B282BB200735",
                "D82710CA5C22F0CCFA7CBF93D496AC15A56834CBCF98C397B4024A2691233B8D"
            )
        );
        assert_eq!(hex::encode_upper(tag), "83DE3541E4C2B58177E065A9BF7B62EC");
    }

    #[test]
    fn lengths_round_trip() {
        for plain in [0, 1, CHUNK - 1, CHUNK, CHUNK + 1, 3 * CHUNK, 3 * CHUNK + 5] {
            assert_eq!(plain_len(sealed_len(plain)), Some(plain), "{plain}");
        }
        assert_eq!(plain_len(HEADER + 3), None);
        assert_eq!(plain_len(10), None);
    }

    #[tokio::test]
    async fn sealed_objects_read_back_whole_and_in_ranges() {
        for active in ["a", "s"] {
            let (inner, store) = sealed_store(active);
            for n in [0usize, 1, CHUNK as usize, CHUNK as usize + 1, 200_000] {
                let data = sample(n);
                let path = Path::from(format!("t/{n}"));
                store
                    .put_opts(&path, data.clone().into(), seal_opts())
                    .await
                    .unwrap();
                let raw = inner.get(&path).await.unwrap().bytes().await.unwrap();
                assert_eq!(raw.len() as u64, sealed_len(n as u64));
                assert_eq!(store.head(&path).await.unwrap().size, n as u64);
                let back = store.get(&path).await.unwrap().bytes().await.unwrap();
                assert_eq!(back.as_ref(), data.as_slice());
                if n > 10 {
                    for r in [0..1, 3..n as u64, (n as u64 - 7)..n as u64, 65_530..65_540] {
                        if r.end > n as u64 {
                            continue;
                        }
                        let got = store.get_range(&path, r.clone()).await.unwrap();
                        assert_eq!(got.as_ref(), &data[r.start as usize..r.end as usize]);
                    }
                    let tail = store
                        .get_opts(
                            &path,
                            GetOptions {
                                range: Some(GetRange::Suffix(8)),
                                ..GetOptions::default()
                            },
                        )
                        .await
                        .unwrap()
                        .bytes()
                        .await
                        .unwrap();
                    assert_eq!(tail.as_ref(), &data[n - 8..]);
                }
            }
        }
    }

    #[tokio::test]
    async fn multipart_uploads_seal_and_plain_objects_pass_through() {
        let (inner, store) = sealed_store("s");
        let data = sample(3 * 1024 * 1024 + 17);
        let mut options = PutMultipartOptions::default();
        options.extensions.insert(Seal);
        let upload = store
            .put_multipart_opts(&Path::from("m"), options)
            .await
            .unwrap();
        let mut w = WriteMultipart::new_with_chunk_size(upload, 1024 * 1024);
        for piece in data.chunks(100_000) {
            w.write(piece);
        }
        w.finish().await.unwrap();
        let raw = inner
            .get(&Path::from("m"))
            .await
            .unwrap()
            .bytes()
            .await
            .unwrap();
        assert!(Header::parse(&raw).is_some());
        assert!(!raw.windows(64).any(|w| data.windows(64).next() == Some(w)));
        let back = store
            .get(&Path::from("m"))
            .await
            .unwrap()
            .bytes()
            .await
            .unwrap();
        assert_eq!(back.as_ref(), data.as_slice());
        // A byte flipped deep inside, where chunks are opened on several threads.
        let mut flipped = raw.to_vec();
        flipped[raw.len() / 2] ^= 0x40;
        inner.put(&Path::from("m"), flipped.into()).await.unwrap();
        let got = store.get(&Path::from("m")).await.unwrap();
        assert!(got.bytes().await.is_err());

        store
            .put(&Path::from("p"), b"in the clear".to_vec().into())
            .await
            .unwrap();
        let raw = inner
            .get(&Path::from("p"))
            .await
            .unwrap()
            .bytes()
            .await
            .unwrap();
        assert_eq!(raw.as_ref(), b"in the clear");
        assert_eq!(
            store
                .get(&Path::from("p"))
                .await
                .unwrap()
                .bytes()
                .await
                .unwrap()
                .as_ref(),
            b"in the clear"
        );
    }

    #[tokio::test]
    async fn tampering_truncation_and_missing_keys_fail_loudly() {
        let (inner, store) = sealed_store("a");
        let data = sample(200_000);
        let path = Path::from("x");
        store
            .put_opts(&path, data.clone().into(), seal_opts())
            .await
            .unwrap();
        let raw = inner
            .get(&path)
            .await
            .unwrap()
            .bytes()
            .await
            .unwrap()
            .to_vec();

        let mut flipped = raw.clone();
        flipped[HEADER as usize + 100] ^= 1;
        inner.put(&path, flipped.into()).await.unwrap();
        assert!(store.get(&path).await.unwrap().bytes().await.is_err());

        // Cut at a chunk boundary: what remains ends in a chunk not marked last.
        let cut = raw[..(HEADER + 2 * (CHUNK + TAG)) as usize].to_vec();
        inner.put(&path, cut.into()).await.unwrap();
        assert!(store.get(&path).await.unwrap().bytes().await.is_err());

        inner.put(&path, raw.into()).await.unwrap();
        store.set_keyring(None);
        assert!(store.get(&path).await.is_err());
        assert!(
            store
                .put_opts(&path, data.into(), seal_opts())
                .await
                .is_err(),
            "sealing without a key must fail, not store in the clear"
        );
    }

    #[tokio::test]
    async fn reseal_moves_objects_to_the_active_key() {
        let (_inner, store) = sealed_store("a");
        let data = sample(150_000);
        let sealed = Path::from("r/sealed");
        let plain = Path::from("r/plain");
        store
            .put_opts(&sealed, data.clone().into(), seal_opts())
            .await
            .unwrap();
        store.put(&plain, data.clone().into()).await.unwrap();
        let census = store.census(&Path::from("r")).await.unwrap();
        assert_eq!(census.plain, 1);
        assert_eq!(census.by_key.get("a"), Some(&1));

        store.set_keyring(Some(keyring("s")));
        // A read cached before the rotation still succeeds after it.
        assert_eq!(
            store
                .get(&sealed)
                .await
                .unwrap()
                .bytes()
                .await
                .unwrap()
                .len(),
            data.len()
        );
        assert!(store.reseal(&sealed, true).await.unwrap());
        assert!(store.reseal(&plain, true).await.unwrap());
        assert!(
            !store.reseal(&sealed, true).await.unwrap(),
            "already under the active key"
        );
        let census = store.census(&Path::from("r")).await.unwrap();
        assert_eq!(census.plain, 0);
        assert_eq!(census.by_key.get("s"), Some(&2));
        for p in [&sealed, &plain] {
            let back = store.get(p).await.unwrap().bytes().await.unwrap();
            assert_eq!(back.as_ref(), data.as_slice());
        }
        // With the old key gone, everything is still readable.
        store.set_keyring(Some(
            Keyring::new(
                "s",
                vec![DataKey::new("s", Algorithm::Sm4Gcm, &[9u8; 16]).unwrap()],
            )
            .unwrap(),
        ));
        assert_eq!(
            store
                .get(&sealed)
                .await
                .unwrap()
                .bytes()
                .await
                .unwrap()
                .len(),
            data.len()
        );
    }

    #[test]
    fn key_files_are_checked() {
        let good = format!(
            "active = \"k2\"\n[[keys]]\nid = \"k1\"\nalgorithm = \"aes-256-gcm\"\nkey = \"{}\"\n[[keys]]\nid = \"k2\"\nalgorithm = \"sm4-gcm\"\nkey = \"{}\"\n",
            "11".repeat(32),
            "22".repeat(16)
        );
        let ring = Keyring::parse(&good).unwrap();
        assert_eq!(ring.active().id(), "k2");
        assert_eq!(ring.active().algorithm(), Algorithm::Sm4Gcm);
        assert!(!format!("{ring:?}").contains("2222"), "keys never print");
        for (bad, why) in [
            (good.replace("k2\"\n[[", "k3\"\n[["), "active missing"),
            (good.replace("sm4-gcm", "des"), "algorithm"),
            (
                good.replace(&"22".repeat(16), &"22".repeat(15)),
                "short key",
            ),
            (good.replace(&"11".repeat(32), "zz"), "not hex"),
            ("active = ".into(), "syntax"),
        ] {
            assert!(Keyring::parse(&bad).is_err(), "{why}");
        }
        let dir = tempfile::tempdir().unwrap();
        let inside = dir.path().join("keys.toml");
        std::fs::write(&inside, &good).unwrap();
        assert!(matches!(
            Keyring::load(&inside, Some(dir.path())),
            Err(KeyringError::InsideDataDir(_))
        ));
        assert!(Keyring::load(&inside, None).is_ok());
    }
}
