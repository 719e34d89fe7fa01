//! Immutable versions of a resource in an object store (a local directory by default,
//! S3-compatible storage in a cluster). Each upload becomes a new version: the original
//! file as it came, the table as Parquet, and a manifest, none of which ever changes.
//! Which version serves is not decided here: the metadata database points at one in the
//! same transaction that publishes it, so a version staged by a process that then dies
//! is never served.

use std::path::Path as FsPath;
use std::sync::Arc;

use arrow_array::RecordBatch;
use futures::StreamExt;
use futures::stream::BoxStream;
use object_store::local::LocalFileSystem;
use object_store::path::Path;
use object_store::{
    ObjectStore, ObjectStoreExt, PutMode, PutMultipartOptions, PutOptions, PutPayload,
    WriteMultipart,
};
use parquet::arrow::ProjectionMask;
// ParquetObjectReader is deprecated in favour of a hand-written AsyncFileReader; it still
// does exactly what is needed (ranged reads through any object store), so it stays until
// arrow-rs ships its replacement.
#[allow(deprecated)]
use parquet::arrow::async_reader::{ParquetObjectReader, ParquetRecordBatchStreamBuilder};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use tokio::io::AsyncReadExt;

use crate::ingest::Prepared;
use crate::sealed::{Seal, SealedStore};
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
    #[error("de-identification: {0}")]
    Deident(#[from] crate::deident::DeidentError),
    #[error("writing the open version: {0}")]
    Io(#[from] std::io::Error),
}

/// The open (de-identified) version of a table under one set of rules.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct OpenTable {
    pub file: StoredFile,
    pub columns: Vec<ColumnInfo>,
    pub rows: u64,
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
    /// Who uploaded it (a user name, or `cli:` and the operator's account).
    pub uploader: String,
    /// `table` (queryable, with Parquet) or `file` (stored and downloadable as it is).
    pub kind: String,
    pub rows: u64,
    pub rejected_rows: u64,
    pub columns: Vec<ColumnInfo>,
    /// How the file was read: encoding, delimiter, sheet.
    pub source: String,
    pub original: StoredFile,
    pub parquet: Option<StoredFile>,
}

#[derive(Debug, Clone)]
pub struct Versions {
    store: Arc<dyn ObjectStore>,
    sealed: Arc<SealedStore>,
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

/// The last path segment of an uploaded file's name, without control characters; the
/// object store's own path rules refuse the rest.
pub fn file_name(name: &str) -> String {
    let base = name.rsplit(['/', '\\']).next().unwrap_or("");
    let clean: String = base
        .chars()
        .filter(|c| !c.is_control() && !matches!(c, '*' | '?' | '"' | '<' | '>' | '|' | ':' | '%'))
        .take(200)
        .collect();
    let clean = clean.trim().trim_start_matches('.').to_owned();
    if clean.is_empty() {
        "upload".into()
    } else {
        clean
    }
}

const CHUNK: usize = 8 * 1024 * 1024;

impl Versions {
    /// Versions in `store`, read and written through a `SealedStore` so that what is
    /// asked to be sealed is encrypted there and read back in the clear.
    pub fn new(store: Arc<dyn ObjectStore>) -> Self {
        let sealed = Arc::new(SealedStore::new(store));
        Self {
            store: sealed.clone(),
            sealed,
        }
    }

    /// The encryption layer: its keyring, census and re-sealing.
    pub fn sealed(&self) -> &Arc<SealedStore> {
        &self.sealed
    }

    /// Where every file of a resource lives, for sweeps over them.
    pub fn resource_prefix(key: &str) -> Result<Path, VersionError> {
        check_key(key)?;
        Ok(Path::from(format!("resources/{key}/versions")))
    }

    /// Brings the data files of a resource (originals, tables, open versions) to the
    /// active key: those sealed under another key, and with `seal_plain` those in the
    /// clear as well. Manifests and claims, which hold no values, stay as they are.
    /// Returns how many files were rewritten.
    pub async fn reseal_resource(&self, key: &str, seal_plain: bool) -> Result<u64, VersionError> {
        let prefix = Self::resource_prefix(key)?;
        let mut listing = self.sealed.inner().list(Some(&prefix));
        let mut paths = Vec::new();
        let stale = chrono::Utc::now() - chrono::Duration::hours(1);
        while let Some(meta) = listing.next().await {
            let meta = meta?;
            let location = meta.location;
            let name = location.filename().unwrap_or_default();
            if name == "manifest.json" || name == "claim" {
                continue;
            }
            if crate::sealed::is_reseal_temp(&location) {
                // Left by a rewrite that died (the object it was to replace is intact),
                // unless another node is writing it now.
                if meta.last_modified < stale {
                    let _ = self.sealed.inner().delete(&location).await;
                }
                continue;
            }
            paths.push(location);
        }
        let mut rewritten = 0;
        for location in paths {
            match self.sealed.reseal(&location, seal_plain).await {
                Ok(true) => rewritten += 1,
                // Deleted since it was listed: nothing left to seal.
                Ok(false) | Err(object_store::Error::NotFound { .. }) => {}
                Err(e) => return Err(e.into()),
            }
        }
        Ok(rewritten)
    }

    /// A local directory as the object store (the embedded default).
    pub fn local(root: &FsPath) -> Result<Self, VersionError> {
        std::fs::create_dir_all(root).map_err(|e| object_store::Error::Generic {
            store: "local",
            source: Box::new(e),
        })?;
        Ok(Self::new(Arc::new(LocalFileSystem::new_with_prefix(root)?)))
    }

    pub fn store(&self) -> Arc<dyn ObjectStore> {
        self.store.clone()
    }

    fn version_file(key: &str, version: u64, name: &str) -> Path {
        Path::from(format!("resources/{key}/versions/{version:010}/{name}"))
    }

    /// Where a version's table lives, for the query engine.
    pub fn parquet_path(key: &str, version: u64) -> Path {
        Self::version_file(key, version, "data.parquet")
    }

    /// Where the open version of a version's table lives, for the rules whose hash is
    /// `rules_hash`: derived, so it is rewritten whenever the rules change.
    pub fn open_path(key: &str, version: u64, rules_hash: &str) -> Path {
        Self::version_file(key, version, &format!("open/{rules_hash}.parquet"))
    }

    /// Computes the open version of a table: reads the raw Parquet, `_row` included,
    /// applies the rules batch by batch and writes the result beside it. Columns without
    /// a rule are copied as they are; the caller names every column that needs one.
    // Each argument is one fact of the version being written; a struct to carry them
    // once would add nothing but a name.
    #[allow(clippy::too_many_arguments)]
    pub async fn write_open(
        &self,
        key: &str,
        manifest: &Manifest,
        rules: &gongshu_core::deident::RuleSet,
        secrets: &crate::deident::Secrets,
        rules_hash: &str,
        tmp_dir: &FsPath,
        seal: bool,
    ) -> Result<OpenTable, VersionError> {
        check_key(key)?;
        if !rules_hash.bytes().all(|b| b.is_ascii_hexdigit()) || rules_hash.is_empty() {
            return Err(VersionError::Key(rules_hash.to_owned()));
        }
        let Some(parquet) = &manifest.parquet else {
            return Err(VersionError::Missing(key.to_owned(), manifest.version));
        };
        #[allow(deprecated)]
        let reader = ParquetObjectReader::new(
            self.store.clone(),
            Self::parquet_path(key, manifest.version),
        )
        .with_file_size(parquet.bytes);
        let builder = ParquetRecordBatchStreamBuilder::new(reader).await?;
        let deidentifier = crate::deident::Deidentifier::new(builder.schema(), rules, secrets)?;
        let output = deidentifier.output_schema();
        let tmp = tempfile::NamedTempFile::new_in(tmp_dir)?;
        let props = crate::ingest::table_writer_properties(128 * 1024);
        // Flat tables (every table read from CSV, spreadsheets and JSON) are spliced:
        // untouched columns copied as stored. A nested column (from an uploaded
        // Parquet) has several leaves per column, which the splice does not map.
        let flat = output.fields().iter().all(|f| !f.data_type().is_nested());
        let rows = if flat {
            drop(builder);
            crate::splice::write_open_spliced(
                self.store.clone(),
                &Self::parquet_path(key, manifest.version),
                parquet.bytes,
                deidentifier,
                tmp.reopen()?,
                props,
            )
            .await?
        } else {
            write_open_decoded(builder, deidentifier, tmp.reopen()?, props).await?
        };
        let file = self
            .put_file(
                &Self::open_path(key, manifest.version, rules_hash),
                tmp.path(),
                "data.parquet".into(),
                seal,
            )
            .await?;
        let columns = output
            .fields()
            .iter()
            .filter(|f| f.name() != crate::ROW_COLUMN)
            .map(|f| ColumnInfo {
                name: f.name().clone(),
                data_type: type_label(f.data_type()),
            })
            .collect();
        Ok(OpenTable {
            file,
            columns,
            rows,
        })
    }

    /// Where a version's original file lives.
    pub fn original_path(key: &str, manifest: &Manifest) -> Path {
        Self::version_file(
            key,
            manifest.version,
            &format!("original/{}", manifest.original.name),
        )
    }

    /// Streams a local file into the store in parts, hashing it on the way; the object
    /// appears only when the upload completes.
    async fn put_file(
        &self,
        to: &Path,
        from: &FsPath,
        name: String,
        seal: bool,
    ) -> Result<StoredFile, VersionError> {
        let mut file = tokio::fs::File::open(from).await.map_err(io_error)?;
        let mut options = PutMultipartOptions::default();
        if seal {
            options.extensions.insert(Seal);
        }
        let mut upload = WriteMultipart::new_with_chunk_size(
            self.store.put_multipart_opts(to, options).await?,
            CHUNK,
        );
        let mut hash = Sha256::new();
        let mut bytes = 0u64;
        let mut buf = vec![0u8; 1024 * 1024];
        loop {
            let n = file.read(&mut buf).await.map_err(io_error)?;
            if n == 0 {
                break;
            }
            hash.update(&buf[..n]);
            bytes += n as u64;
            upload.wait_for_capacity(4).await?;
            upload.write(&buf[..n]);
        }
        upload.finish().await?;
        Ok(StoredFile {
            name,
            bytes,
            sha256: hex::encode(hash.finalize()),
        })
    }

    /// Stores every part of the next version and returns its manifest. The manifest is
    /// created first and only if absent, which claims the number, so concurrent uploads
    /// never share one. Nothing serves the version until the caller publishes it.
    // Each argument is one fact of the version being written; a struct to carry them
    // once would add nothing but a name.
    #[allow(clippy::too_many_arguments)]
    pub async fn stage(
        &self,
        key: &str,
        original: &FsPath,
        original_name: &str,
        prepared: &Prepared,
        uploader: &str,
        after: u64,
        seal: bool,
    ) -> Result<Manifest, VersionError> {
        check_key(key)?;
        let name = file_name(original_name);
        let mut version = after + 1;
        let claim = PutOptions {
            mode: PutMode::Create,
            ..PutOptions::default()
        };
        loop {
            let path = Self::version_file(key, version, "claim");
            match self
                .store
                .put_opts(&path, PutPayload::from_static(b""), claim.clone())
                .await
            {
                Ok(_) => break,
                Err(object_store::Error::AlreadyExists { .. }) => version += 1,
                Err(e) => return Err(e.into()),
            }
        }
        let original_file = self
            .put_file(
                &Self::version_file(key, version, &format!("original/{name}")),
                original,
                name,
                seal,
            )
            .await?;
        let (kind, rows, rejected_rows, columns, source, parquet) = match prepared {
            Prepared::File => ("file", 0, 0, Vec::new(), "file".to_owned(), None),
            Prepared::Table(t) => {
                let stored = self
                    .put_file(
                        &Self::parquet_path(key, version),
                        t.parquet.path(),
                        "data.parquet".into(),
                        seal,
                    )
                    .await?;
                let columns = t
                    .summary
                    .schema
                    .fields()
                    .iter()
                    .map(|f| ColumnInfo {
                        name: f.name().clone(),
                        data_type: type_label(f.data_type()),
                    })
                    .collect();
                (
                    "table",
                    t.summary.rows,
                    t.summary.rejected_rows,
                    columns,
                    t.summary.source.describe(),
                    Some(stored),
                )
            }
        };
        let manifest = Manifest {
            version,
            created_at: chrono::Utc::now().to_rfc3339(),
            uploader: uploader.to_owned(),
            kind: kind.to_owned(),
            rows,
            rejected_rows,
            columns,
            source,
            original: original_file,
            parquet,
        };
        let body = PutPayload::from(serde_json::to_vec_pretty(&manifest)?);
        self.store
            .put(&Self::version_file(key, version, "manifest.json"), body)
            .await?;
        Ok(manifest)
    }

    pub async fn manifest(&self, key: &str, version: u64) -> Result<Manifest, VersionError> {
        check_key(key)?;
        match self
            .store
            .get(&Self::version_file(key, version, "manifest.json"))
            .await
        {
            Ok(got) => Ok(serde_json::from_slice(&got.bytes().await?)?),
            Err(object_store::Error::NotFound { .. }) => {
                Err(VersionError::Missing(key.to_owned(), version))
            }
            Err(e) => Err(e.into()),
        }
    }

    /// The user's columns of a version's table, batch by batch, without `_row`: reads
    /// only as far as the consumer pulls, so a download holds a batch at a time.
    pub async fn stream_table(
        &self,
        key: &str,
        manifest: &Manifest,
        batch_rows: usize,
    ) -> Result<BoxStream<'static, Result<RecordBatch, VersionError>>, VersionError> {
        check_key(key)?;
        self.stream_parquet(
            &Self::parquet_path(key, manifest.version),
            manifest,
            batch_rows,
        )
        .await
    }

    /// As `stream_table`, with only the named columns, in that order: a scan that needs
    /// two columns of twenty decodes two.
    pub async fn stream_columns(
        &self,
        key: &str,
        manifest: &Manifest,
        columns: &[String],
        batch_rows: usize,
    ) -> Result<BoxStream<'static, Result<RecordBatch, VersionError>>, VersionError> {
        check_key(key)?;
        let Some(parquet) = &manifest.parquet else {
            return Err(VersionError::Missing(key.to_owned(), manifest.version));
        };
        #[allow(deprecated)]
        let reader = ParquetObjectReader::new(
            self.store.clone(),
            Self::parquet_path(key, manifest.version),
        )
        .with_file_size(parquet.bytes);
        let builder = ParquetRecordBatchStreamBuilder::new(reader).await?;
        let schema = builder.schema().clone();
        let indices: Vec<usize> = columns
            .iter()
            .map(|c| {
                schema
                    .index_of(c)
                    .map_err(|_| VersionError::Missing(format!("{key}:{c}"), manifest.version))
            })
            .collect::<Result<_, _>>()?;
        let mask = ProjectionMask::roots(builder.parquet_schema(), indices.iter().copied());
        let stream = builder
            .with_projection(mask)
            .with_batch_size(batch_rows.max(1))
            .build()?;
        // The projection keeps the file's column order; put the batches in the asked one.
        let mut order: Vec<usize> = indices.clone();
        order.sort_unstable();
        let positions: Vec<usize> = indices
            .iter()
            .map(|i| order.iter().position(|o| o == i).unwrap_or(0))
            .collect();
        Ok(stream
            .map(move |b| {
                let b = b.map_err(VersionError::from)?;
                b.project(&positions).map_err(|e| {
                    VersionError::Parquet(parquet::errors::ParquetError::General(e.to_string()))
                })
            })
            .boxed())
    }

    /// As `stream_table`, from the Parquet at `path` that `manifest` describes (the raw
    /// table, or an open version whose manifest names its file).
    pub async fn stream_parquet(
        &self,
        path: &Path,
        manifest: &Manifest,
        batch_rows: usize,
    ) -> Result<BoxStream<'static, Result<RecordBatch, VersionError>>, VersionError> {
        let Some(parquet) = &manifest.parquet else {
            return Err(VersionError::Missing(path.to_string(), manifest.version));
        };
        #[allow(deprecated)]
        let reader = ParquetObjectReader::new(self.store.clone(), path.clone())
            .with_file_size(parquet.bytes);
        let builder = ParquetRecordBatchStreamBuilder::new(reader).await?;
        let roots = builder.parquet_schema().root_schema().get_fields().len();
        let mask = ProjectionMask::roots(builder.parquet_schema(), 1..roots);
        let stream = builder
            .with_projection(mask)
            .with_batch_size(batch_rows.max(1))
            .build()?;
        Ok(stream.map(|b| b.map_err(VersionError::from)).boxed())
    }

    /// A version's table read whole: for small tables and tests.
    pub async fn read(&self, key: &str, version: u64) -> Result<Vec<RecordBatch>, VersionError> {
        let manifest = self.manifest(key, version).await?;
        let mut stream = self.stream_table(key, &manifest, 8192).await?;
        let mut out = Vec::new();
        while let Some(b) = stream.next().await {
            out.push(b?);
        }
        Ok(out)
    }
}

/// The open version written by decoding every column, transforming and encoding all:
/// for tables the splice does not handle.
#[allow(deprecated)]
async fn write_open_decoded(
    builder: ParquetRecordBatchStreamBuilder<ParquetObjectReader>,
    deidentifier: crate::deident::Deidentifier,
    file: std::fs::File,
    props: parquet::file::properties::WriterProperties,
) -> Result<u64, VersionError> {
    let output = deidentifier.output_schema();
    let mut stream = builder.with_batch_size(8192).build()?;
    let mut writer = parquet::arrow::ArrowWriter::try_new(file, output, Some(props))?;
    // Decoding here and transforming and encoding on a thread of its own keep both
    // cores busy, as ingest does; the bounded channel keeps memory to a few batches.
    let (tx, rx) = std::sync::mpsc::sync_channel::<RecordBatch>(4);
    let encoder = tokio::task::spawn_blocking(move || {
        let mut rows = 0u64;
        for batch in rx {
            let open = deidentifier.apply(&batch)?;
            rows += open.num_rows() as u64;
            writer.write(&open)?;
        }
        writer.close()?;
        Ok::<u64, VersionError>(rows)
    });
    let mut read_error = None;
    while let Some(batch) = stream.next().await {
        match batch {
            Ok(b) => {
                // A closed channel means the encoder failed; its error says why.
                if tx.send(b).is_err() {
                    break;
                }
            }
            Err(e) => {
                read_error = Some(e);
                break;
            }
        }
    }
    drop(tx);
    let encoded = encoder
        .await
        .map_err(|e| VersionError::Io(std::io::Error::other(e.to_string())))?;
    if let Some(e) = read_error {
        return Err(e.into());
    }
    encoded
}

/// A local file error as the object store reports its own.
pub fn io_error(e: std::io::Error) -> object_store::Error {
    object_store::Error::Generic {
        store: "local file",
        source: Box::new(e),
    }
}

/// Column types as the catalog's readers know them.
pub fn type_label(t: &arrow_schema::DataType) -> String {
    use arrow_schema::DataType as T;
    match t {
        T::Int8 | T::Int16 | T::Int32 | T::Int64 | T::UInt8 | T::UInt16 | T::UInt32 | T::UInt64 => {
            "integer".into()
        }
        T::Decimal128(_, s) | T::Decimal256(_, s) => format!("decimal({s})"),
        T::Float16 | T::Float32 | T::Float64 => "number".into(),
        T::Date32 | T::Date64 => "date".into(),
        T::Timestamp(..) => "datetime".into(),
        T::Boolean => "boolean".into(),
        T::Utf8 | T::LargeUtf8 | T::Utf8View => "text".into(),
        other => other.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ingest::{IngestOptions, prepare};

    async fn stage(v: &Versions, dir: &FsPath, csv: &str, after: u64) -> Manifest {
        let path = dir.join("upload.csv");
        std::fs::write(&path, csv).unwrap();
        let prepared = prepare(
            &path,
            "upload.csv",
            &IngestOptions::default(),
            dir,
            &mut |_, _| {},
        )
        .unwrap();
        v.stage(
            "r1",
            &path,
            "../../etc/passwd",
            &prepared,
            "tester",
            after,
            false,
        )
        .await
        .unwrap()
    }

    // Concurrent or crashed uploads never share or reuse a version number, and every
    // version stays readable with its original file.
    #[tokio::test]
    async fn versions_are_numbered_once_and_kept() {
        let dir = tempfile::tempdir().unwrap();
        let v = Versions::local(&dir.path().join("store")).unwrap();
        let first = stage(&v, dir.path(), "a,b\n1,2\n", 0).await;
        assert_eq!(first.version, 1);
        assert_eq!(first.original.name, "passwd");
        // A caller that believes the latest is 0 still gets a fresh number.
        let second = stage(&v, dir.path(), "a,b\n3,4\n5,6\n", 0).await;
        assert_eq!(second.version, 2);
        assert_eq!(v.read("r1", 1).await.unwrap()[0].num_rows(), 1);
        let again = v.read("r1", 2).await.unwrap();
        assert_eq!(again[0].num_rows(), 2);
        // `_row` is the platform's: downloads see the user's columns only.
        assert_eq!(again[0].schema().field(0).name(), "a");
        assert_eq!(v.manifest("r1", 2).await.unwrap(), second);
        assert!(matches!(
            v.manifest("r1", 9).await,
            Err(VersionError::Missing(..))
        ));
        assert!(matches!(
            v.manifest("../x", 1).await,
            Err(VersionError::Key(_))
        ));
    }
}
