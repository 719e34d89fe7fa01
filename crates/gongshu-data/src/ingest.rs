//! Turning an uploaded file into what a version stores: the table as Parquet (with the
//! platform's `_row` column first) or, for a file that is not a table, nothing but the
//! file itself. Reading runs on the calling thread while a second thread encodes Parquet,
//! so both cores work and memory stays bounded by a few batches whatever the file size.

use std::fs::File;
use std::io::{BufReader, Read, Seek, SeekFrom};
use std::path::Path;
use std::sync::Arc;
use std::sync::mpsc::{Receiver, SyncSender, sync_channel};
use std::thread::JoinHandle;

use arrow_array::{ArrayRef, Int64Array, RecordBatch};
use arrow_schema::{DataType, Field, Schema, SchemaRef};
use parquet::arrow::ArrowWriter;
use parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder;
use parquet::basic::Compression;
use parquet::basic::Encoding;
use parquet::file::properties::WriterProperties;
use parquet::schema::types::ColumnPath;
use tempfile::NamedTempFile;

use crate::table::{ROW_COLUMN, Sink, Source, Summary};
use crate::{CsvOptions, DataError, XlsxLimits, read_csv_into, read_json_into, read_xlsx_into};

/// What an upload is, decided from its first bytes and, where those are ambiguous, its
/// name.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FileKind {
    Csv,
    Spreadsheet,
    Json,
    Parquet,
    /// Stored and downloadable as it is (PDF, images, archives, …).
    Other,
}

impl FileKind {
    pub fn name(self) -> &'static str {
        match self {
            Self::Csv => "csv",
            Self::Spreadsheet => "spreadsheet",
            Self::Json => "json",
            Self::Parquet => "parquet",
            Self::Other => "file",
        }
    }

    pub fn is_table(self) -> bool {
        self != Self::Other
    }
}

fn extension(name: &str) -> String {
    name.rsplit_once('.')
        .map(|(_, e)| e.to_ascii_lowercase())
        .unwrap_or_default()
}

/// The magic numbers decide; a name only chooses among text formats, so a PDF renamed
/// `.csv` is still stored as a file and never parsed as a table.
pub fn sniff(name: &str, head: &[u8]) -> FileKind {
    let ext = extension(name);
    if head.starts_with(b"PAR1") {
        return FileKind::Parquet;
    }
    if head.starts_with(b"PK\x03\x04") {
        return if matches!(ext.as_str(), "xlsx" | "xlsm" | "xlsb" | "ods") {
            FileKind::Spreadsheet
        } else {
            FileKind::Other
        };
    }
    if head.starts_with(b"\xD0\xCF\x11\xE0\xA1\xB1\x1A\xE1") {
        return if ext == "xls" {
            FileKind::Spreadsheet
        } else {
            FileKind::Other
        };
    }
    const BINARY: &[&[u8]] = &[
        b"%PDF",
        b"\x89PNG",
        b"\xFF\xD8\xFF",
        b"GIF8",
        b"\x1F\x8B",
        b"Rar!",
        b"7z\xBC\xAF",
        b"BZh",
    ];
    if BINARY.iter().any(|m| head.starts_with(m)) {
        return FileKind::Other;
    }
    match ext.as_str() {
        "json" | "geojson" | "ndjson" | "jsonl" => return FileKind::Json,
        "csv" | "tsv" | "txt" | "tab" => return FileKind::Csv,
        _ => {}
    }
    let text = head
        .strip_prefix(b"\xEF\xBB\xBF")
        .unwrap_or(head)
        .trim_ascii_start();
    if text.starts_with(b"[") || text.starts_with(b"{") {
        FileKind::Json
    } else if head.contains(&0) && !head.starts_with(b"\xFF\xFE") && !head.starts_with(b"\xFE\xFF")
    {
        FileKind::Other
    } else {
        FileKind::Csv
    }
}

#[derive(Debug, Clone)]
pub struct IngestOptions {
    pub csv: CsvOptions,
    pub xlsx: XlsxLimits,
    /// The sheet of a workbook to read; the first with anything in it when unset.
    pub sheet: Option<String>,
    /// Rows per Parquet row group: small enough that `_row` statistics let a deep page
    /// skip straight to its rows, large enough to compress well.
    pub row_group_rows: usize,
}

impl Default for IngestOptions {
    fn default() -> Self {
        Self {
            csv: CsvOptions::default(),
            xlsx: XlsxLimits::default(),
            sheet: None,
            row_group_rows: 128 * 1024,
        }
    }
}

/// A table read and encoded, waiting in a temporary file to be stored.
#[derive(Debug)]
pub struct PreparedTable {
    pub summary: Summary,
    pub parquet: NamedTempFile,
    /// The schema as stored, `_row` first.
    pub stored_schema: SchemaRef,
}

#[derive(Debug)]
pub enum Prepared {
    Table(Box<PreparedTable>),
    File,
}

fn stored_schema(schema: &Schema) -> SchemaRef {
    let mut fields = vec![Arc::new(Field::new(ROW_COLUMN, DataType::Int64, false))];
    fields.extend(schema.fields().iter().cloned());
    Arc::new(Schema::new(fields))
}

/// Hands batches to the encoding thread; the bounded channel keeps the reader at most a
/// few batches ahead, which bounds memory.
struct ParquetSink<'p> {
    tx: Option<SyncSender<RecordBatch>>,
    writer: Option<JoinHandle<Result<(), DataError>>>,
    progress: &'p mut dyn FnMut(u64, u64),
}

impl ParquetSink<'_> {
    /// Waits for the encoder; its error explains a closed channel better than the send did.
    fn finish(&mut self) -> Result<(), DataError> {
        self.tx = None;
        match self.writer.take().map(JoinHandle::join) {
            Some(Ok(result)) => result,
            Some(Err(_)) => Err(DataError::Io(std::io::Error::other(
                "the Parquet encoder stopped unexpectedly",
            ))),
            None => Ok(()),
        }
    }
}

impl Sink for ParquetSink<'_> {
    fn batch(&mut self, batch: RecordBatch) -> Result<(), DataError> {
        let sent = self.tx.as_ref().is_some_and(|tx| tx.send(batch).is_ok());
        if sent {
            return Ok(());
        }
        self.finish()?;
        Err(DataError::Io(std::io::Error::other(
            "the Parquet encoder is gone",
        )))
    }

    fn progress(&mut self, rows: u64, rejected: u64) {
        (self.progress)(rows, rejected);
    }
}

/// How every served table is encoded: the row API, SQL and exports read these files.
pub(crate) fn table_writer_properties(row_group_rows: usize) -> WriterProperties {
    WriterProperties::builder()
        // LZ4 decompresses about twice as fast as Snappy, and a filtered page
        // of the row API decompresses every page its matches span. Exports are
        // written with Snappy, which every reader knows.
        .set_compression(Compression::LZ4_RAW)
        // `_row` counts up by one: delta encoding stores it in almost nothing
        // and decodes it fast, where a dictionary only overflows.
        .set_column_dictionary_enabled(ColumnPath::from(ROW_COLUMN), false)
        .set_column_encoding(ColumnPath::from(ROW_COLUMN), Encoding::DELTA_BINARY_PACKED)
        .set_max_row_group_row_count(Some(row_group_rows))
        // Small pages with a page index: a page of the row API decodes one
        // small page per column instead of a megabyte, and `_row > n` skips
        // straight to the page that holds row n.
        .set_data_page_row_count_limit(1024)
        // A dictionary page is read whole for any row of its chunk: past 64 KiB
        // (names, codes) plain pages are cheaper to serve than a megabyte of
        // dictionary; categorical columns still stay dictionary-encoded.
        .set_dictionary_page_size_limit(64 * 1024)
        .set_statistics_enabled(parquet::file::properties::EnabledStatistics::Page)
        .build()
}

/// Encodes batches as they come, numbering rows from 1. The schema is known only once
/// the reader has found the header, so the writer opens on the first batch.
fn encode(
    rx: Receiver<RecordBatch>,
    file: File,
    row_group_rows: usize,
) -> Result<Option<ArrowWriter<File>>, DataError> {
    let mut writer: Option<ArrowWriter<File>> = None;
    let mut next_row: i64 = 1;
    let mut file = Some(file);
    for batch in rx {
        let stored = stored_schema(&batch.schema());
        let w = match writer.as_mut() {
            Some(w) => w,
            None => {
                let props = table_writer_properties(row_group_rows);
                let f = file.take().ok_or_else(|| {
                    DataError::Io(std::io::Error::other("Parquet file already used"))
                })?;
                writer.insert(
                    ArrowWriter::try_new(f, stored.clone(), Some(props)).map_err(parquet_error)?,
                )
            }
        };
        let n = batch.num_rows() as i64;
        let rows: ArrayRef = Arc::new(Int64Array::from_iter_values(next_row..next_row + n));
        next_row += n;
        let mut columns = vec![rows];
        columns.extend(batch.columns().iter().cloned());
        w.write(&RecordBatch::try_new(stored, columns)?)
            .map_err(parquet_error)?;
    }
    Ok(writer)
}

fn parquet_error(e: parquet::errors::ParquetError) -> DataError {
    DataError::Io(std::io::Error::other(format!("Parquet: {e}")))
}

/// Reads `path` and, if it is a table, encodes it as Parquet in a temporary file under
/// `tmp_dir`. `progress` hears rows taken and rejected as reading goes.
pub fn prepare(
    path: &Path,
    name: &str,
    options: &IngestOptions,
    tmp_dir: &Path,
    progress: &mut dyn FnMut(u64, u64),
) -> Result<Prepared, DataError> {
    let mut file = File::open(path)?;
    let mut head = [0u8; 512];
    let mut got = 0;
    while got < head.len() {
        match file.read(&mut head[got..])? {
            0 => break,
            n => got += n,
        }
    }
    if got == 0 {
        return Err(DataError::Empty);
    }
    file.seek(SeekFrom::Start(0))?;
    let kind = sniff(name, &head[..got]);
    if kind == FileKind::Other {
        return Ok(Prepared::File);
    }
    let parquet = NamedTempFile::new_in(tmp_dir)?;
    let (tx, rx) = sync_channel::<RecordBatch>(4);
    let out = parquet.reopen()?;
    let row_group_rows = options.row_group_rows.max(1);
    let writer = std::thread::Builder::new()
        .name("parquet-encode".into())
        .spawn(move || -> Result<(), DataError> {
            if let Some(w) = encode(rx, out, row_group_rows)? {
                w.close().map_err(parquet_error)?;
            }
            Ok(())
        })?;
    let mut sink = ParquetSink {
        tx: Some(tx),
        writer: Some(writer),
        progress,
    };
    let read = match kind {
        FileKind::Csv => read_csv_into(BufReader::new(file), &options.csv, &mut sink),
        FileKind::Json => read_json_into(BufReader::new(file), &options.csv, &mut sink),
        FileKind::Spreadsheet => {
            // calamine wants a cloneable reader: a buffered file would not be, so the
            // workbook (already bounded by the upload limit) is read into memory.
            let mut bytes = Vec::new();
            file.read_to_end(&mut bytes)?;
            read_xlsx_into(
                std::io::Cursor::new(bytes),
                options.sheet.as_deref(),
                &options.csv,
                &options.xlsx,
                &mut sink,
            )
        }
        FileKind::Parquet => read_parquet_into(file, &options.csv, &mut sink),
        FileKind::Other => unreachable!("handled above"),
    };
    let finished = sink.finish();
    let mut summary = read?;
    finished?;
    let stored = stored_schema(&summary.schema);
    if summary.rows == 0 {
        // No batch reached the encoder, so it wrote nothing: write an empty table so a
        // version with only rejected rows still has a readable Parquet file.
        let f = parquet.reopen()?;
        let w = ArrowWriter::try_new(f, stored.clone(), None).map_err(parquet_error)?;
        w.close().map_err(parquet_error)?;
    }
    summary.rejected.sort_by_key(|r| r.line);
    Ok(Prepared::Table(Box::new(PreparedTable {
        summary,
        parquet,
        stored_schema: stored,
    })))
}

/// An uploaded Parquet file keeps its schema; only the row numbers are added. A column
/// of the platform's reserved name is refused rather than silently renamed.
fn read_parquet_into(
    file: File,
    options: &CsvOptions,
    sink: &mut dyn Sink,
) -> Result<Summary, DataError> {
    let builder = ParquetRecordBatchReaderBuilder::try_new(file).map_err(|e| {
        DataError::Spreadsheet(format!(
            "不是有效的 Parquet 文件 (not a valid Parquet file): {e}"
        ))
    })?;
    let schema = builder.schema().clone();
    if schema.fields().len() > options.max_columns {
        return Err(DataError::TooManyColumns {
            found: schema.fields().len(),
            max: options.max_columns,
        });
    }
    if schema.field_with_name(ROW_COLUMN).is_ok() {
        return Err(DataError::Spreadsheet(format!(
            "列名 {ROW_COLUMN} 为平台保留 (the column name {ROW_COLUMN} is reserved)"
        )));
    }
    let reader = builder
        .with_batch_size(options.batch_rows.max(1))
        .build()
        .map_err(parquet_error)?;
    let mut rows = 0u64;
    for batch in reader {
        let batch = batch?;
        rows += batch.num_rows() as u64;
        sink.batch(batch)?;
        sink.progress(rows, 0);
    }
    Ok(Summary {
        schema,
        rejected: Vec::new(),
        rejected_rows: 0,
        source: Source::Parquet,
        header_line: 0,
        rows,
        missing_declared: Vec::new(),
    })
}
