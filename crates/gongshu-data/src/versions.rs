//! Immutable versions of a resource in an object store (a local directory by default,
//! S3-compatible storage in a cluster). Each upload becomes a new version: the original
//! file as it came, the table as Parquet, and a manifest. A version becomes current only
//! when every part is written, by one atomic write of the `current` pointer, so a failure
//! at any earlier step leaves the previous version serving.

use std::path::Path as FsPath;
use std::sync::Arc;

use arrow_array::RecordBatch;
use bytes::Bytes;
use object_store::local::LocalFileSystem;
use object_store::path::Path;
use object_store::{ObjectStore, ObjectStoreExt, PutMode, PutOptions, PutPayload};
use parquet::arrow::ArrowWriter;
use parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::Table;

#[derive(Debug, thiserror::Error)]
pub enum VersionError {
    #[error("object store: {0}")]
    Store(#[from] object_store::Error),
    #[error("parquet: {0}")]
    Parquet(#[from] parquet::errors::ParquetError),
    #[error("manifest: {0}")]
    Manifest(#[from] serde_json::Error),
    #[error("invalid resource key {0:?}")]
    Key(String),
    #[error("no version {1} of {0}")]
    Missing(String, u64),
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct StoredFile {
    pub name: String,
    pub bytes: u64,
    pub sha256: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ColumnInfo {
    pub name: String,
    pub data_type: String,
}

/// What a version holds; written next to its files and never changed.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Manifest {
    pub version: u64,
    pub created_at: String,
    pub rows: u64,
    pub rejected_rows: u64,
    pub columns: Vec<ColumnInfo>,
    pub original: StoredFile,
    pub parquet: StoredFile,
}

#[derive(Debug, Clone)]
pub struct Versions {
    store: Arc<dyn ObjectStore>,
}

fn sha256(bytes: &[u8]) -> String {
    hex::encode(Sha256::digest(bytes))
}

/// Keys are the platform's own resource identifiers; anything else is refused so that no
/// caller-chosen text becomes a path.
fn check_key(key: &str) -> Result<(), VersionError> {
    let ok = !key.is_empty()
        && key.len() <= 128
        && key
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_');
    if ok {
        Ok(())
    } else {
        Err(VersionError::Key(key.to_owned()))
    }
}

fn file_name(name: &str) -> String {
    let base = name.rsplit(['/', '\\']).next().unwrap_or("");
    let clean: String = base.chars().filter(|c| !c.is_control()).take(200).collect();
    if clean.is_empty() || clean == "." || clean == ".." {
        "upload".into()
    } else {
        clean
    }
}

impl Versions {
    pub fn new(store: Arc<dyn ObjectStore>) -> Self {
        Self { store }
    }

    /// A local directory as the object store (the embedded default).
    pub fn local(root: &FsPath) -> Result<Self, VersionError> {
        std::fs::create_dir_all(root).map_err(|e| object_store::Error::Generic {
            store: "local",
            source: Box::new(e),
        })?;
        Ok(Self::new(Arc::new(LocalFileSystem::new_with_prefix(root)?)))
    }

    /// A file of one version; `name` is a checked key part or a cleaned file name.
    fn version_file(key: &str, version: u64, name: &str) -> Path {
        Path::from(format!("resources/{key}/versions/{version:010}/{name}"))
    }

    fn pointer(key: &str) -> Path {
        Path::from(format!("resources/{key}/current.json"))
    }

    /// The version the resource serves now, if any.
    pub async fn current(&self, key: &str) -> Result<Option<Manifest>, VersionError> {
        check_key(key)?;
        match self.store.get(&Self::pointer(key)).await {
            Ok(got) => Ok(Some(serde_json::from_slice(&got.bytes().await?)?)),
            Err(object_store::Error::NotFound { .. }) => Ok(None),
            Err(e) => Err(e.into()),
        }
    }

    /// Writes every part of the next version, claiming its number so that concurrent
    /// uploads never share one. Nothing serves it yet.
    async fn write_version(
        &self,
        key: &str,
        original_name: &str,
        original: Bytes,
        table: &Table,
    ) -> Result<Manifest, VersionError> {
        let mut parquet = Vec::new();
        {
            let mut writer = ArrowWriter::try_new(&mut parquet, table.schema.clone(), None)?;
            for batch in &table.batches {
                writer.write(batch)?;
            }
            writer.close()?;
        }
        let mut version = self.current(key).await?.map_or(1, |m| m.version + 1);
        loop {
            let manifest = Manifest {
                version,
                created_at: chrono::Utc::now().to_rfc3339(),
                rows: table.rows,
                rejected_rows: table.rejected.len() as u64,
                columns: table
                    .schema
                    .fields()
                    .iter()
                    .map(|f| ColumnInfo {
                        name: f.name().clone(),
                        data_type: f.data_type().to_string(),
                    })
                    .collect(),
                original: StoredFile {
                    name: file_name(original_name),
                    bytes: original.len() as u64,
                    sha256: sha256(&original),
                },
                parquet: StoredFile {
                    name: "data.parquet".into(),
                    bytes: parquet.len() as u64,
                    sha256: sha256(&parquet),
                },
            };
            // The manifest is created first and only if absent: it is the claim on the number.
            let claim = PutOptions {
                mode: PutMode::Create,
                ..PutOptions::default()
            };
            let body = PutPayload::from(serde_json::to_vec_pretty(&manifest)?);
            match self
                .store
                .put_opts(
                    &Self::version_file(key, version, "manifest.json"),
                    body,
                    claim,
                )
                .await
            {
                Ok(_) => {}
                Err(object_store::Error::AlreadyExists { .. }) => {
                    version += 1;
                    continue;
                }
                Err(e) => return Err(e.into()),
            }
            let original_path = Self::version_file(
                key,
                version,
                &format!("original/{}", manifest.original.name),
            );
            self.store
                .put(&original_path, PutPayload::from(original))
                .await?;
            self.store
                .put(
                    &Self::version_file(key, version, "data.parquet"),
                    PutPayload::from(parquet),
                )
                .await?;
            return Ok(manifest);
        }
    }

    /// Makes a fully written version the one that serves: a single atomic write.
    async fn make_current(&self, key: &str, manifest: &Manifest) -> Result<(), VersionError> {
        let body = PutPayload::from(serde_json::to_vec_pretty(manifest)?);
        self.store.put(&Self::pointer(key), body).await?;
        Ok(())
    }

    /// Stores a new version and makes it current.
    pub async fn publish(
        &self,
        key: &str,
        original_name: &str,
        original: Bytes,
        table: &Table,
    ) -> Result<Manifest, VersionError> {
        check_key(key)?;
        let manifest = self
            .write_version(key, original_name, original, table)
            .await?;
        self.make_current(key, &manifest).await?;
        Ok(manifest)
    }

    /// The table of one version, read back from its Parquet file.
    pub async fn read(&self, key: &str, version: u64) -> Result<Vec<RecordBatch>, VersionError> {
        check_key(key)?;
        let path = Self::version_file(key, version, "data.parquet");
        let bytes = match self.store.get(&path).await {
            Ok(got) => got.bytes().await?,
            Err(object_store::Error::NotFound { .. }) => {
                return Err(VersionError::Missing(key.to_owned(), version));
            }
            Err(e) => return Err(e.into()),
        };
        let reader = ParquetRecordBatchReaderBuilder::try_new(bytes)?.build()?;
        Ok(reader
            .collect::<Result<Vec<_>, _>>()
            .map_err(parquet::errors::ParquetError::from)?)
    }

    /// The original file of one version, as it was uploaded.
    pub async fn original(&self, key: &str, manifest: &Manifest) -> Result<Bytes, VersionError> {
        check_key(key)?;
        let path = Self::version_file(
            key,
            manifest.version,
            &format!("original/{}", manifest.original.name),
        );
        Ok(self.store.get(&path).await?.bytes().await?)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{CsvOptions, read_csv};

    fn table(csv: &str) -> Table {
        read_csv(csv.as_bytes(), &CsvOptions::default()).unwrap()
    }

    // R3.2: a failure after the files are written but before the pointer moves leaves
    // the previous version serving.
    #[tokio::test]
    async fn an_unfinished_version_never_serves() {
        let dir = tempfile::tempdir().unwrap();
        let v = Versions::local(dir.path()).unwrap();
        let first = v
            .publish(
                "r1",
                "a.csv",
                Bytes::from_static(b"x"),
                &table("a,b\n1,2\n"),
            )
            .await
            .unwrap();
        let second = table("a,b\n3,4\n5,6\n");
        let unfinished = v
            .write_version("r1", "b.csv", Bytes::from_static(b"y"), &second)
            .await
            .unwrap();
        assert_eq!(unfinished.version, 2);
        assert_eq!(v.current("r1").await.unwrap(), Some(first.clone()));
        // The next publish takes a fresh number rather than reusing the unfinished one.
        let third = v
            .publish("r1", "c.csv", Bytes::from_static(b"z"), &second)
            .await
            .unwrap();
        assert_eq!(third.version, 3);
        assert_eq!(v.current("r1").await.unwrap().unwrap().version, 3);
        // Every version stays readable.
        assert_eq!(v.read("r1", 1).await.unwrap()[0].num_rows(), 1);
        assert_eq!(v.read("r1", 3).await.unwrap()[0].num_rows(), 2);
    }
}
