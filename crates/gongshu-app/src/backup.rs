//! Backups and restore (灾备, SD-BIGDATA §39, SX-BIGDATA §71; R6.5, R11.5).
//!
//! A backup is a directory: a consistent snapshot of the metadata database, every stored
//! object as it is stored (files encrypted at rest stay encrypted: the keys are not in a
//! backup), and `manifest.json` with each file's size and SHA-256 and the audit log's
//! size and signed head at the time. The search index is derived and left out. The
//! manifest holds no secret: no key, token or password, hashed or not.
//!
//! Restoring checks every checksum before it writes anything, and only into an empty
//! data directory.

use std::path::{Path, PathBuf};

use chrono::{DateTime, Utc};
use futures::StreamExt;
use gongshu_core::{Error, ErrorCode};
use object_store::ObjectStoreExt as _;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use tokio::io::AsyncWriteExt;

use crate::{App, Result, store_error};

const FORMAT: u32 = 1;
const DATABASE: &str = "gongshu.db";
const OBJECTS: &str = "objects";
const MANIFEST: &str = "manifest.json";

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct BackupFile {
    /// Relative to the backup's directory, `/`-separated.
    pub path: String,
    pub bytes: u64,
    pub sha256: String,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct BackupManifest {
    pub format: u32,
    pub created_at: DateTime<Utc>,
    pub platform_version: String,
    pub database: BackupFile,
    pub objects: Vec<BackupFile>,
    /// The audit log when the snapshot was taken: its size and latest signed head, so a
    /// restored log can be checked against what was backed up.
    pub audit_entries: i64,
    pub audit_checkpoint_size: u64,
    pub audit_checkpoint_root: String,
}

fn io(what: &str, e: impl std::fmt::Display) -> Error {
    tracing::error!(what, error = %e, "backup or restore");
    Error::new(
        ErrorCode::Internal,
        format!("备份或恢复失败：{what}"),
        format!("Backup or restore failed: {what}"),
    )
}

async fn hash_file(path: &Path) -> Result<(u64, String)> {
    let mut file = tokio::fs::File::open(path)
        .await
        .map_err(|e| io("reading a file", e))?;
    let mut hasher = Sha256::new();
    let mut buf = vec![0u8; 1 << 20];
    let mut bytes = 0u64;
    loop {
        let n = tokio::io::AsyncReadExt::read(&mut file, &mut buf)
            .await
            .map_err(|e| io("reading a file", e))?;
        if n == 0 {
            break;
        }
        hasher.update(&buf[..n]);
        bytes += n as u64;
    }
    Ok((bytes, hex::encode(hasher.finalize())))
}

/// `a/b` inside `root`, refusing anything that would leave it.
fn inside(root: &Path, relative: &str) -> Result<PathBuf> {
    let mut out = root.to_path_buf();
    for part in relative.split('/') {
        if part.is_empty() || part == "." || part == ".." || part.contains('\\') {
            return Err(Error::new(
                ErrorCode::Validation,
                format!("备份清单中的路径不合法：{relative}"),
                format!("The backup's manifest names an unsafe path: {relative}"),
            ));
        }
        out.push(part);
    }
    Ok(out)
}

impl App {
    /// Writes a backup into `dest`, which must not exist yet. Safe while the platform
    /// serves: the database snapshot is one transaction, and stored objects are never
    /// rewritten in place.
    pub async fn backup(&self, dest: &Path) -> Result<BackupManifest> {
        if dest.exists() {
            return Err(Error::new(
                ErrorCode::Duplicate,
                format!("备份目录已存在：{}", dest.display()),
                format!("The backup directory already exists: {}", dest.display()),
            ));
        }
        tokio::fs::create_dir_all(dest.join(OBJECTS))
            .await
            .map_err(|e| io("creating the backup directory", e))?;
        let checkpoint = self.checkpoint_audit().await?;
        let audit_entries = self.store.audit_size().await.map_err(store_error)?;
        // The database first: every object it names already exists, and objects are
        // never removed or rewritten, so copying them afterwards loses none.
        let db = dest.join(DATABASE);
        self.store.snapshot(&db).await.map_err(store_error)?;
        let (bytes, sha256) = hash_file(&db).await?;
        let database = BackupFile {
            path: DATABASE.into(),
            bytes,
            sha256,
        };
        let store = self.data.versions.sealed().inner().clone();
        let mut listing = store.list(None);
        let mut objects = Vec::new();
        while let Some(meta) = listing.next().await {
            let meta = meta.map_err(|e| io("listing stored objects", e))?;
            let relative = format!("{OBJECTS}/{}", meta.location);
            let target = inside(dest, &relative)?;
            if let Some(parent) = target.parent() {
                tokio::fs::create_dir_all(parent)
                    .await
                    .map_err(|e| io("creating a directory", e))?;
            }
            let mut out = tokio::fs::File::create(&target)
                .await
                .map_err(|e| io("writing a file", e))?;
            let mut stream = store
                .get(&meta.location)
                .await
                .map_err(|e| io("reading a stored object", e))?
                .into_stream();
            let mut hasher = Sha256::new();
            let mut bytes = 0u64;
            while let Some(chunk) = stream.next().await {
                let chunk = chunk.map_err(|e| io("reading a stored object", e))?;
                hasher.update(&chunk);
                bytes += chunk.len() as u64;
                out.write_all(&chunk)
                    .await
                    .map_err(|e| io("writing a file", e))?;
            }
            out.sync_all().await.map_err(|e| io("writing a file", e))?;
            objects.push(BackupFile {
                path: relative,
                bytes,
                sha256: hex::encode(hasher.finalize()),
            });
        }
        objects.sort_by(|a, b| a.path.cmp(&b.path));
        let manifest = BackupManifest {
            format: FORMAT,
            created_at: self.now(),
            platform_version: env!("CARGO_PKG_VERSION").into(),
            database,
            objects,
            audit_entries,
            audit_checkpoint_size: checkpoint.as_ref().map_or(0, |c| c.size),
            audit_checkpoint_root: checkpoint.map(|c| c.root).unwrap_or_default(),
        };
        let text = serde_json::to_vec_pretty(&manifest).map_err(|e| io("the manifest", e))?;
        tokio::fs::write(dest.join(MANIFEST), text)
            .await
            .map_err(|e| io("writing the manifest", e))?;
        tracing::info!(
            dest = %dest.display(),
            objects = manifest.objects.len(),
            audit_entries,
            "backup written"
        );
        Ok(manifest)
    }
}

/// Restores the backup in `src` into `data_dir`, which must hold no database yet. Every
/// file is checked against the manifest before anything is written.
pub async fn restore(src: &Path, data_dir: &Path) -> Result<BackupManifest> {
    let text = tokio::fs::read(src.join(MANIFEST))
        .await
        .map_err(|e| io("reading the manifest", e))?;
    let manifest: BackupManifest = serde_json::from_slice(&text).map_err(|_| {
        Error::new(
            ErrorCode::Validation,
            "备份清单无法读取",
            "The backup's manifest cannot be read",
        )
    })?;
    if manifest.format != FORMAT {
        return Err(Error::new(
            ErrorCode::Validation,
            format!("不支持的备份格式 {}", manifest.format),
            format!("Unsupported backup format {}", manifest.format),
        ));
    }
    if data_dir.join(DATABASE).exists() {
        return Err(Error::new(
            ErrorCode::Duplicate,
            "目标数据目录已有数据库，请恢复到空目录",
            "The data directory already holds a database; restore into an empty one",
        ));
    }
    let files: Vec<&BackupFile> = std::iter::once(&manifest.database)
        .chain(&manifest.objects)
        .collect();
    for f in &files {
        let path = inside(src, &f.path)?;
        let (bytes, sha256) = hash_file(&path).await?;
        if bytes != f.bytes || sha256 != f.sha256 {
            return Err(Error::new(
                ErrorCode::Validation,
                format!("备份文件已损坏或被改动：{}", f.path),
                format!("A backup file is damaged or was altered: {}", f.path),
            ));
        }
    }
    // Objects first, the database last: a restore cut short leaves no database, so the
    // directory is not taken for a platform.
    for f in manifest
        .objects
        .iter()
        .chain(std::iter::once(&manifest.database))
    {
        let from = inside(src, &f.path)?;
        let to = inside(data_dir, &f.path)?;
        if let Some(parent) = to.parent() {
            tokio::fs::create_dir_all(parent)
                .await
                .map_err(|e| io("creating a directory", e))?;
        }
        tokio::fs::copy(&from, &to)
            .await
            .map_err(|e| io("copying a file", e))?;
    }
    Ok(manifest)
}
