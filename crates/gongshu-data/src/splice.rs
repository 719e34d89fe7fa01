//! Writing an open version by splicing: the column chunks of columns no rule touches
//! (most of a table, `_row` always) are copied byte for byte from the raw Parquet, page
//! indexes included, and only the columns a rule changes are decoded, transformed and
//! encoded, row group by row group. Decoding and re-encoding every column was what made
//! de-identification cost half an ingest.

use std::io::Write;
use std::sync::Arc;

use arrow_array::RecordBatch;
use bytes::{Buf, Bytes};
use futures::StreamExt;
use object_store::path::Path;
use object_store::{ObjectStore, ObjectStoreExt};
use parquet::arrow::ProjectionMask;
use parquet::arrow::arrow_reader::ArrowReaderOptions;
use parquet::arrow::arrow_writer::{ArrowWriter, compute_leaves};
// See versions.rs: the deprecated reader still does what is needed.
#[allow(deprecated)]
use parquet::arrow::async_reader::{ParquetObjectReader, ParquetRecordBatchStreamBuilder};
use parquet::column::writer::ColumnCloseResult;
use parquet::errors::ParquetError;
use parquet::file::metadata::ParquetMetaData;
use parquet::file::reader::{ChunkReader, Length};

use crate::deident::Deidentifier;
use crate::versions::VersionError;

/// Bytes of the raw file from `base` on, read as if they were the file.
struct Window {
    base: u64,
    bytes: Bytes,
}

impl Length for Window {
    fn len(&self) -> u64 {
        self.base + self.bytes.len() as u64
    }
}

impl Window {
    fn slice(&self, start: u64, len: Option<usize>) -> parquet::errors::Result<Bytes> {
        let from = start
            .checked_sub(self.base)
            .map(|f| f as usize)
            .filter(|f| *f <= self.bytes.len())
            .ok_or_else(|| ParquetError::General(format!("offset {start} outside the window")))?;
        let to = len.map_or(self.bytes.len(), |l| from + l);
        if to > self.bytes.len() {
            return Err(ParquetError::General("read past the window".into()));
        }
        Ok(self.bytes.slice(from..to))
    }
}

impl ChunkReader for Window {
    type T = bytes::buf::Reader<Bytes>;

    fn get_read(&self, start: u64) -> parquet::errors::Result<Self::T> {
        Ok(self.slice(start, None)?.reader())
    }

    fn get_bytes(&self, start: u64, length: usize) -> parquet::errors::Result<Bytes> {
        self.slice(start, Some(length))
    }
}

/// Where each output column comes from.
#[derive(Debug, Clone, Copy)]
enum Source {
    /// Copied: the raw file's column at this index.
    Copy(usize),
    /// Encoded: this column of the transformed batch.
    Encode(usize),
}

/// What one row group needs: the raw bytes of its copied chunks, and its transformed
/// columns.
struct RowGroupPart {
    index: usize,
    window: Window,
    transformed: Option<RecordBatch>,
}

/// Writes the open version of the raw Parquet at `path` (of `size` bytes) to `out`;
/// returns the rows written. The result reads as `Deidentifier::apply` over every batch
/// would have written it.
pub(crate) async fn write_open_spliced<W: Write + Send + 'static>(
    store: Arc<dyn ObjectStore>,
    path: &Path,
    size: u64,
    deidentifier: Deidentifier,
    out: W,
    props: parquet::file::properties::WriterProperties,
) -> Result<u64, VersionError> {
    #[allow(deprecated)]
    let reader = ParquetObjectReader::new(store.clone(), path.clone()).with_file_size(size);
    let builder = ParquetRecordBatchStreamBuilder::new_with_options(
        reader,
        ArrowReaderOptions::new()
            .with_page_index_policy(parquet::file::metadata::PageIndexPolicy::Required),
    )
    .await?;
    let metadata: Arc<ParquetMetaData> = builder.metadata().clone();
    let output = deidentifier.output_schema();
    let plan = deidentifier.sources();
    // The transformed columns, in the order the transformed batch holds them.
    let transformed: Vec<usize> = plan
        .iter()
        .filter_map(|s| match s {
            crate::deident::OutputSource::Transform(i) => Some(*i),
            crate::deident::OutputSource::Keep(_) => None,
        })
        .collect();
    let mut encode_at = 0;
    let sources: Vec<Source> = plan
        .iter()
        .map(|s| match s {
            crate::deident::OutputSource::Keep(i) => Source::Copy(*i),
            crate::deident::OutputSource::Transform(_) => {
                encode_at += 1;
                Source::Encode(encode_at - 1)
            }
        })
        .collect();
    // A de-identifier over the transformed columns alone, fed their projection.
    let narrow = deidentifier.narrowed(&transformed)?;
    let mut stream = if transformed.is_empty() {
        None
    } else {
        let mask = ProjectionMask::roots(builder.parquet_schema(), transformed.iter().copied());
        let largest = (0..metadata.num_row_groups())
            .map(|i| metadata.row_group(i).num_rows())
            .max()
            .unwrap_or(1)
            .max(1) as usize;
        // A batch never spans row groups, and one this large is a whole row group.
        Some(
            builder
                .with_projection(mask)
                .with_batch_size(largest)
                .build()?,
        )
    };

    let writer = ArrowWriter::try_new(out, output.clone(), Some(props))?;
    let (file_writer, factory) = writer.into_serialized_writer()?;
    let copied: Vec<usize> = sources
        .iter()
        .filter_map(|s| match s {
            Source::Copy(i) => Some(*i),
            Source::Encode(_) => None,
        })
        .collect();

    // Reading (and decrypting, and transforming) on this task, writing on a thread of
    // its own: both cores busy, a row group or two in memory.
    let (tx, rx) = std::sync::mpsc::sync_channel::<RowGroupPart>(2);
    let writing_metadata = metadata.clone();
    let writing = tokio::task::spawn_blocking(move || {
        let metadata = writing_metadata;
        let mut file_writer = file_writer;
        let mut rows = 0u64;
        for part in rx {
            let rg = metadata.row_group(part.index);
            let mut writers = factory.create_column_writers(part.index)?.into_iter();
            let mut group = file_writer.next_row_group()?;
            for (out_index, source) in sources.iter().enumerate() {
                // One writer per output leaf, in order; a copied column skips its own.
                let column_writer = writers.next().ok_or_else(|| {
                    ParquetError::General("fewer column writers than columns".into())
                })?;
                match *source {
                    Source::Copy(i) => {
                        let chunk = rg.column(i);
                        let close = ColumnCloseResult {
                            bytes_written: chunk.compressed_size() as u64,
                            rows_written: rg.num_rows() as u64,
                            metadata: chunk.clone(),
                            bloom_filter: None,
                            column_index: metadata
                                .column_index()
                                .and_then(|c| c.get(part.index))
                                .and_then(|c| c.get(i))
                                .cloned(),
                            offset_index: metadata
                                .offset_index()
                                .and_then(|o| o.get(part.index))
                                .and_then(|o| o.get(i))
                                .cloned(),
                        };
                        group.append_column(&part.window, close)?;
                    }
                    Source::Encode(j) => {
                        let batch = part.transformed.as_ref().ok_or_else(|| {
                            ParquetError::General("no transformed batch for a row group".into())
                        })?;
                        let mut column_writer = column_writer;
                        for leaf in compute_leaves(output.field(out_index), batch.column(j))? {
                            column_writer.write(&leaf)?;
                        }
                        column_writer.close()?.append_to_row_group(&mut group)?;
                    }
                }
            }
            group.close()?;
            rows += rg.num_rows() as u64;
        }
        file_writer.close()?;
        Ok::<u64, VersionError>(rows)
    });

    let mut failure = None;
    for index in 0..metadata.num_row_groups() {
        let part = async {
            let rg = metadata.row_group(index);
            let (start, end) = copied
                .iter()
                .map(|&i| {
                    let c = rg.column(i);
                    let (start, len) = c.byte_range();
                    (start, start + len)
                })
                .fold((u64::MAX, 0), |(s, e), (a, b)| (s.min(a), e.max(b)));
            let window = if start < end {
                Window {
                    base: start,
                    bytes: store.get_range(path, start..end).await?,
                }
            } else {
                Window {
                    base: 0,
                    bytes: Bytes::new(),
                }
            };
            let transformed = match stream.as_mut() {
                None => None,
                Some(s) => {
                    let batch = s.next().await.ok_or_else(|| {
                        ParquetError::General("the raw table ended early".into())
                    })??;
                    if batch.num_rows() as i64 != rg.num_rows() {
                        return Err(VersionError::Parquet(ParquetError::General(
                            "a batch did not match its row group".into(),
                        )));
                    }
                    Some(narrow.apply(&batch)?)
                }
            };
            Ok::<_, VersionError>(RowGroupPart {
                index,
                window,
                transformed,
            })
        }
        .await;
        match part {
            Ok(p) => {
                // A closed channel means the writer failed; its error says why.
                if tx.send(p).is_err() {
                    break;
                }
            }
            Err(e) => {
                failure = Some(e);
                break;
            }
        }
    }
    drop(tx);
    let written = writing
        .await
        .map_err(|e| VersionError::Io(std::io::Error::other(e.to_string())))?;
    if let Some(e) = failure {
        return Err(e);
    }
    written
}

#[cfg(test)]
mod tests {
    use super::*;
    use arrow_array::{ArrayRef, Int64Array, StringArray};
    use arrow_schema::{DataType, Field, Schema};
    use object_store::memory::InMemory;
    use parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder;

    use crate::deident::Secrets;

    /// A table of several row groups: `_row`, a kept number and text, a masked and a
    /// pseudonymised column, a dropped one.
    fn raw_table(rows: i64) -> RecordBatch {
        let schema = Arc::new(Schema::new(vec![
            Field::new(crate::ROW_COLUMN, DataType::Int64, false),
            Field::new("金额", DataType::Int64, true),
            Field::new("街道", DataType::Utf8, true),
            Field::new("证件号码", DataType::Utf8, true),
            Field::new("姓名", DataType::Utf8, true),
            Field::new("备注", DataType::Utf8, true),
        ]));
        let text = |f: &dyn Fn(i64) -> Option<String>| -> ArrayRef {
            Arc::new((0..rows).map(f).collect::<StringArray>())
        };
        RecordBatch::try_new(
            schema,
            vec![
                Arc::new(Int64Array::from_iter_values(0..rows)),
                Arc::new(
                    (0..rows)
                        .map(|i| (i % 7 != 0).then_some(i * 3))
                        .collect::<Int64Array>(),
                ),
                text(&|i| Some(format!("街道{}", i % 13))),
                text(&|i| (i % 11 != 0).then(|| format!("11010519{:010}", i))),
                text(&|i| Some(format!("姓名{i}"))),
                text(&|i| Some(format!("备注{i}"))),
            ],
        )
        .unwrap()
    }

    #[tokio::test]
    async fn spliced_open_version_equals_the_decoded_one_with_page_indexes() {
        let raw = raw_table(30_000);
        let mut buf = Vec::new();
        let mut w = ArrowWriter::try_new(
            &mut buf,
            raw.schema(),
            Some(crate::ingest::table_writer_properties(4_096)),
        )
        .unwrap();
        w.write(&raw).unwrap();
        w.close().unwrap();
        let store: Arc<dyn ObjectStore> = Arc::new(InMemory::new());
        let path = Path::from("raw.parquet");
        let size = buf.len() as u64;
        store.put(&path, buf.into()).await.unwrap();
        let rules: gongshu_core::deident::RuleSet = serde_json::from_value(serde_json::json!({
            "columns": [
                {"column": "证件号码", "rule": {"kind": "mask", "keep_first": 6, "keep_last": 4}},
                {"column": "姓名", "rule": {"kind": "pseudonym"}},
                {"column": "备注", "rule": {"kind": "drop"}}
            ]
        }))
        .unwrap();
        let secrets = Secrets::new([1; 32], [2; 32]);
        let deidentifier = Deidentifier::new(&raw.schema(), &rules, &secrets).unwrap();
        let expected = Deidentifier::new(&raw.schema(), &rules, &secrets)
            .unwrap()
            .apply(&raw)
            .unwrap();
        let dir = tempfile::tempdir().unwrap();
        let out = dir.path().join("open.parquet");
        let rows = write_open_spliced(
            store,
            &path,
            size,
            deidentifier,
            std::fs::File::create(&out).unwrap(),
            crate::ingest::table_writer_properties(4_096),
        )
        .await
        .unwrap();
        assert_eq!(rows, 30_000);

        let file = std::fs::File::open(&out).unwrap();
        let builder = ParquetRecordBatchReaderBuilder::try_new_with_options(
            file,
            ArrowReaderOptions::new()
                .with_page_index_policy(parquet::file::metadata::PageIndexPolicy::Required),
        )
        .unwrap();
        let meta = builder.metadata().clone();
        assert_eq!(meta.num_row_groups(), 30_000usize.div_ceil(4_096));
        assert!(meta.row_groups().iter().all(|rg| rg.num_rows() <= 4_096));
        let offsets = meta.offset_index().expect("offset index");
        assert_eq!(offsets.len(), meta.num_row_groups());
        assert!(
            offsets
                .iter()
                .all(|rg| rg.len() == 5 && rg.iter().all(|c| !c.page_locations.is_empty()))
        );
        assert!(meta.column_index().is_some());
        assert_eq!(builder.schema(), &expected.schema());
        let batches: Vec<RecordBatch> = builder.build().unwrap().map(Result::unwrap).collect();
        let got = datafusion::arrow::compute::concat_batches(&expected.schema(), &batches).unwrap();
        assert_eq!(got, expected);
    }
}
