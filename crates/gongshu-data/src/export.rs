//! Writing tables out for download and for the row API.
//!
//! Downloads stream: the caller feeds batches one at a time and sends each returned chunk
//! straight out, so memory stays bounded by one batch whatever the table's size. XLSX is the
//! exception (a zip cannot be emitted piecemeal) and goes to a file instead.
//!
//! CSV and XLSX cells that a spreadsheet would run as a formula are neutralised; JSON, NDJSON
//! and Parquet carry values exactly.

use std::borrow::Cow;
use std::fmt;
use std::path::Path;

use arrow_array::cast::AsArray;
use arrow_array::timezone::Tz;
use arrow_array::types::{
    ArrowPrimitiveType, Date64Type, TimestampMicrosecondType, TimestampMillisecondType,
    TimestampNanosecondType, TimestampSecondType,
};
use arrow_array::{
    Array, ArrayRef, BooleanArray, Date32Array, Float32Array, Float64Array, Int64Array,
    LargeStringArray, RecordBatch, StringArray, StringViewArray,
};
use arrow_cast::display::{ArrayFormatter, FormatOptions};
use arrow_schema::{ArrowError, DataType, Schema, SchemaRef, TimeUnit};
use chrono::{DateTime, NaiveDate, NaiveDateTime};
use parquet::arrow::ArrowWriter;
use parquet::basic::Compression;
use parquet::file::properties::WriterProperties;
use rust_xlsxwriter::{Format, Workbook, Worksheet};

/// Excel's sheet holds 1,048,576 rows; one of them is the header.
pub const XLSX_MAX_DATA_ROWS: u64 = 1_048_575;

/// Excel's column limit (XFD).
const XLSX_MAX_COLUMNS: usize = 16_384;

/// Excel refuses longer text in a cell (counted in UTF-16 units).
const XLSX_MAX_STRING_UTF16: usize = 32_767;

/// Row groups are cut at whichever comes first, so one group in progress (the writer's
/// memory) stays bounded even for very wide rows.
const PARQUET_ROW_GROUP_ROWS: usize = 65_536;
const PARQUET_ROW_GROUP_BYTES: usize = 64 * 1024 * 1024;

/// Errors surface instead of ending up as "ERROR: ..." text inside a cell.
const FORMAT: FormatOptions<'static> = FormatOptions::new().with_display_error(false);

const BOM: &[u8] = b"\xEF\xBB\xBF";

/// A download format.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ExportFormat {
    /// UTF-8 CSV without a byte-order mark.
    Csv,
    /// UTF-8 CSV with a byte-order mark, which Excel needs to read it as UTF-8 rather than
    /// GBK.
    CsvBom,
    /// One JSON array of row objects.
    Json,
    /// One JSON object per line.
    Ndjson,
    Xlsx,
    Parquet,
}

impl ExportFormat {
    pub const ALL: [ExportFormat; 6] = [
        ExportFormat::CsvBom,
        ExportFormat::Csv,
        ExportFormat::Json,
        ExportFormat::Ndjson,
        ExportFormat::Xlsx,
        ExportFormat::Parquet,
    ];

    /// Parses a `?format=` value. "csv" carries a BOM because most people who click a
    /// download link open the file in Excel; "csv-utf8" is the plain one.
    pub fn from_name(name: &str) -> Option<Self> {
        let name = name.trim();
        let is = |s: &str| name.eq_ignore_ascii_case(s);
        if is("csv") {
            Some(Self::CsvBom)
        } else if is("csv-utf8") {
            Some(Self::Csv)
        } else if is("json") {
            Some(Self::Json)
        } else if is("ndjson") || is("jsonl") {
            Some(Self::Ndjson)
        } else if is("xlsx") {
            Some(Self::Xlsx)
        } else if is("parquet") {
            Some(Self::Parquet)
        } else {
            None
        }
    }

    /// Picks a format from an HTTP `Accept` header, honouring q-values. Wildcards match
    /// nothing, so the caller's default applies. `text/csv` gives CSV without a BOM: a
    /// client negotiating by header is a program, and a BOM would end up in its first
    /// column name.
    pub fn from_accept(accept: &str) -> Option<Self> {
        let mut best: Option<(f32, Self)> = None;
        for range in accept.split(',') {
            let mut parts = range.split(';');
            let media = parts.next().unwrap_or("").trim();
            let mut q = 1.0f32;
            for param in parts {
                if let Some((k, v)) = param.split_once('=')
                    && k.trim().eq_ignore_ascii_case("q")
                {
                    q = v.trim().parse().unwrap_or(0.0);
                }
            }
            let Some(format) = Self::from_media_type(media) else {
                continue;
            };
            // Strictly greater keeps the first of equally weighted types, as listed.
            if q > 0.0 && best.is_none_or(|(b, _)| q > b) {
                best = Some((q, format));
            }
        }
        best.map(|(_, f)| f)
    }

    fn from_media_type(media: &str) -> Option<Self> {
        let is = |s: &str| media.eq_ignore_ascii_case(s);
        if is("text/csv") {
            Some(Self::Csv)
        } else if is("application/json") {
            Some(Self::Json)
        } else if is("application/x-ndjson")
            || is("application/ndjson")
            || is("application/jsonl")
            || is("application/x-jsonlines")
        {
            Some(Self::Ndjson)
        } else if is("application/vnd.openxmlformats-officedocument.spreadsheetml.sheet") {
            Some(Self::Xlsx)
        } else if is("application/vnd.apache.parquet") || is("application/x-parquet") {
            Some(Self::Parquet)
        } else {
            None
        }
    }

    pub fn content_type(self) -> &'static str {
        match self {
            Self::Csv | Self::CsvBom => "text/csv; charset=utf-8",
            Self::Json => "application/json",
            Self::Ndjson => "application/x-ndjson",
            Self::Xlsx => "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
            Self::Parquet => "application/vnd.apache.parquet",
        }
    }

    pub fn extension(self) -> &'static str {
        match self {
            Self::Csv | Self::CsvBom => "csv",
            Self::Json => "json",
            Self::Ndjson => "ndjson",
            Self::Xlsx => "xlsx",
            Self::Parquet => "parquet",
        }
    }

    /// The name `from_name` accepts.
    pub fn name(self) -> &'static str {
        match self {
            Self::CsvBom => "csv",
            Self::Csv => "csv-utf8",
            Self::Json => "json",
            Self::Ndjson => "ndjson",
            Self::Xlsx => "xlsx",
            Self::Parquet => "parquet",
        }
    }
}

impl fmt::Display for ExportFormat {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

#[derive(Debug, thiserror::Error)]
pub enum ExportError {
    #[error("formatting a value: {0}")]
    Arrow(#[from] ArrowError),
    #[error("writing Parquet: {0}")]
    Parquet(#[from] parquet::errors::ParquetError),
    #[error("writing CSV: {0}")]
    Csv(#[from] csv::Error),
    #[error("writing XLSX: {0}")]
    Xlsx(String),
    #[error("writing the file: {0}")]
    Io(#[from] std::io::Error),
    #[error("more than {rows_max} rows: too many for Excel; download CSV or Parquet instead")]
    TooManyRowsForXlsx { rows_max: u64 },
    #[error("{found} columns: too many for Excel (at most {max}); download CSV or Parquet instead")]
    TooManyColumnsForXlsx { found: usize, max: usize },
    #[error("{0} cannot be streamed")]
    UnsupportedFormat(ExportFormat),
    #[error("a batch has {found} columns where the schema has {expected}")]
    SchemaMismatch { expected: usize, found: usize },
}

impl From<rust_xlsxwriter::XlsxError> for ExportError {
    fn from(e: rust_xlsxwriter::XlsxError) -> Self {
        Self::Xlsx(e.to_string())
    }
}

impl From<serde_json::Error> for ExportError {
    fn from(e: serde_json::Error) -> Self {
        Self::Io(e.into())
    }
}

/// Prefixes an apostrophe to a cell that a spreadsheet would otherwise run as a formula
/// (OWASP "CSV injection"). Spreadsheets hide the apostrophe; the value stays readable.
pub fn neutralise(cell: &str) -> Cow<'_, str> {
    match cell.as_bytes().first() {
        Some(b'=' | b'+' | b'-' | b'@' | b'\t' | b'\r') => Cow::Owned(format!("'{cell}")),
        _ => Cow::Borrowed(cell),
    }
}

/// Streaming encoder for CSV, JSON, NDJSON and Parquet: every call returns the bytes to send
/// next, and the concatenation of all of them is the file.
#[derive(Debug)]
pub struct StreamExport {
    schema: SchemaRef,
    started: bool,
    encoder: Encoder,
}

enum Encoder {
    Csv {
        csv: CsvEncoder,
        bom: bool,
    },
    Json {
        json: JsonEncoder,
        rows_written: u64,
    },
    Ndjson(JsonEncoder),
    Parquet(Box<ArrowWriter<Vec<u8>>>),
}

impl fmt::Debug for Encoder {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::Csv { .. } => "Csv",
            Self::Json { .. } => "Json",
            Self::Ndjson(_) => "Ndjson",
            Self::Parquet(_) => "Parquet",
        })
    }
}

impl StreamExport {
    /// Fails for XLSX, which cannot be streamed: use [`write_xlsx`].
    pub fn new(format: ExportFormat, schema: SchemaRef) -> Result<Self, ExportError> {
        let encoder = match format {
            ExportFormat::Csv | ExportFormat::CsvBom => Encoder::Csv {
                csv: CsvEncoder::new(),
                bom: format == ExportFormat::CsvBom,
            },
            ExportFormat::Json => Encoder::Json {
                json: JsonEncoder::new(&schema)?,
                rows_written: 0,
            },
            ExportFormat::Ndjson => Encoder::Ndjson(JsonEncoder::new(&schema)?),
            ExportFormat::Parquet => {
                let props = WriterProperties::builder()
                    .set_compression(Compression::SNAPPY)
                    .set_max_row_group_row_count(Some(PARQUET_ROW_GROUP_ROWS))
                    .set_max_row_group_bytes(Some(PARQUET_ROW_GROUP_BYTES))
                    .build();
                let writer = ArrowWriter::try_new(Vec::new(), schema.clone(), Some(props))?;
                Encoder::Parquet(Box::new(writer))
            }
            ExportFormat::Xlsx => return Err(ExportError::UnsupportedFormat(format)),
        };
        Ok(Self {
            schema,
            started: false,
            encoder,
        })
    }

    pub fn schema(&self) -> &SchemaRef {
        &self.schema
    }

    /// Bytes that open the file: BOM and header line for CSV, "[" for JSON, the magic
    /// number for Parquet, nothing for NDJSON. Calling it is optional — the first
    /// `batch` or `finish` includes it otherwise — and a second call returns nothing.
    pub fn start(&mut self) -> Result<Vec<u8>, ExportError> {
        if self.started {
            return Ok(Vec::new());
        }
        self.started = true;
        match &mut self.encoder {
            Encoder::Csv { csv, bom } => {
                let mut out = if *bom { BOM.to_vec() } else { Vec::new() };
                csv.header(&self.schema, &mut out)?;
                Ok(out)
            }
            Encoder::Json { .. } => Ok(b"[".to_vec()),
            Encoder::Ndjson(_) => Ok(Vec::new()),
            Encoder::Parquet(writer) => drain_parquet(writer),
        }
    }

    /// Bytes for one batch (possibly none: Parquet holds rows until a row group fills).
    pub fn batch(&mut self, batch: &RecordBatch) -> Result<Vec<u8>, ExportError> {
        let expected = self.schema.fields().len();
        if batch.num_columns() != expected {
            return Err(ExportError::SchemaMismatch {
                expected,
                found: batch.num_columns(),
            });
        }
        let mut out = self.start()?;
        match &mut self.encoder {
            Encoder::Csv { csv, .. } => {
                csv.rows(batch, &mut out)?;
            }
            Encoder::Json { json, rows_written } => {
                json.rows(batch, &mut out, Layout::Array { rows_written })?;
            }
            Encoder::Ndjson(json) => json.rows(batch, &mut out, Layout::Lines)?,
            Encoder::Parquet(writer) => {
                writer.write(batch)?;
                out.extend(drain_parquet(writer)?);
            }
        }
        Ok(out)
    }

    /// Bytes that close the file: "]" for JSON, the footer for Parquet.
    pub fn finish(mut self) -> Result<Vec<u8>, ExportError> {
        let mut out = self.start()?;
        match self.encoder {
            Encoder::Csv { .. } | Encoder::Ndjson(_) => {}
            Encoder::Json { rows_written, .. } => {
                out.extend_from_slice(if rows_written == 0 { b"]\n" } else { b"\n]\n" })
            }
            Encoder::Parquet(writer) => out.extend(writer.into_inner()?),
        }
        Ok(out)
    }
}

/// Takes what the Parquet writer has produced so far. Its offsets are counted by the
/// writer itself, so emptying the buffer underneath it is safe.
fn drain_parquet(writer: &mut ArrowWriter<Vec<u8>>) -> Result<Vec<u8>, ExportError> {
    writer.sync()?;
    Ok(std::mem::take(writer.inner_mut()))
}

/// A JSON array of row objects, keys in column order, for the row API.
pub fn json_rows(batches: &[RecordBatch]) -> Result<Vec<u8>, ExportError> {
    let Some(first) = batches.first() else {
        return Ok(b"[]".to_vec());
    };
    let mut json = JsonEncoder::new(first.schema_ref())?;
    let mut out = Vec::with_capacity(batches.iter().map(|b| b.num_rows() * 64).sum());
    out.push(b'[');
    let mut rows_written = 0;
    for batch in batches {
        json.rows(
            batch,
            &mut out,
            Layout::Array {
                rows_written: &mut rows_written,
            },
        )?;
    }
    out.push(b']');
    Ok(out)
}

/// Casts dictionary columns to their values and half floats to floats, so each encoder
/// only deals with plain types.
fn plain(column: &ArrayRef) -> Result<ArrayRef, ArrowError> {
    match column.data_type() {
        DataType::Dictionary(_, values) => arrow_cast::cast(column, values),
        DataType::Float16 => arrow_cast::cast(column, &DataType::Float32),
        _ => Ok(column.clone()),
    }
}

fn plain_columns(batch: &RecordBatch) -> Result<Vec<ArrayRef>, ArrowError> {
    batch.columns().iter().map(plain).collect()
}

fn is_number(t: &DataType) -> bool {
    t.is_integer() || t.is_floating() || t.is_decimal()
}

/// The three string layouts, read without copying.
enum Strings<'a> {
    Small(&'a StringArray),
    Large(&'a LargeStringArray),
    View(&'a StringViewArray),
}

impl<'a> Strings<'a> {
    fn of(array: &'a dyn Array) -> Option<Self> {
        match array.data_type() {
            DataType::Utf8 => Some(Self::Small(array.as_string())),
            DataType::LargeUtf8 => Some(Self::Large(array.as_string())),
            DataType::Utf8View => Some(Self::View(array.as_string_view())),
            _ => None,
        }
    }

    fn value(&self, i: usize) -> &'a str {
        match self {
            Self::Small(a) => a.value(i),
            Self::Large(a) => a.value(i),
            Self::View(a) => a.value(i),
        }
    }
}

fn format_into(f: &ArrayFormatter<'_>, i: usize, buf: &mut String) -> Result<(), ArrowError> {
    buf.clear();
    f.value(i).write(buf)
}

// ---------------------------------------------------------------------------------- CSV

struct CsvEncoder {
    scratch: String,
}

enum CsvColumn<'a> {
    Strings(Strings<'a>),
    Text {
        format: ArrayFormatter<'a>,
        neutralise: bool,
    },
}

/// A writer per call, into the chunk being returned: csv's writer cannot hand back what it
/// has written while keeping on.
fn csv_writer(out: &mut Vec<u8>) -> csv::Writer<&mut Vec<u8>> {
    // CRLF as RFC 4180 asks; Excel and every CSV reader accept it.
    csv::WriterBuilder::new()
        .terminator(csv::Terminator::CRLF)
        .from_writer(out)
}

impl CsvEncoder {
    fn new() -> Self {
        Self {
            scratch: String::new(),
        }
    }

    fn header(&mut self, schema: &Schema, out: &mut Vec<u8>) -> Result<(), ExportError> {
        let mut writer = csv_writer(out);
        for field in schema.fields() {
            writer.write_field(&*neutralise(field.name()))?;
        }
        writer.write_record(None::<&[u8]>)?;
        writer.flush()?;
        Ok(())
    }

    fn rows(&mut self, batch: &RecordBatch, out: &mut Vec<u8>) -> Result<(), ExportError> {
        let arrays = plain_columns(batch)?;
        let columns = arrays
            .iter()
            .map(|a| match Strings::of(a.as_ref()) {
                Some(s) => Ok(CsvColumn::Strings(s)),
                None => Ok(CsvColumn::Text {
                    format: ArrayFormatter::try_new(a.as_ref(), &FORMAT)?,
                    // Numbers are never formulas; "-2" in a number column stays a number.
                    neutralise: !is_number(a.data_type()) && a.data_type() != &DataType::Boolean,
                }),
            })
            .collect::<Result<Vec<_>, ArrowError>>()?;
        let mut writer = csv_writer(out);
        for i in 0..batch.num_rows() {
            for (array, column) in arrays.iter().zip(&columns) {
                if array.is_null(i) {
                    writer.write_field([])?;
                    continue;
                }
                match column {
                    CsvColumn::Strings(s) => writer.write_field(&*neutralise(s.value(i)))?,
                    CsvColumn::Text { format, neutralise } => {
                        format_into(format, i, &mut self.scratch)?;
                        if *neutralise {
                            writer.write_field(&*self::neutralise(&self.scratch))?;
                        } else {
                            writer.write_field(&self.scratch)?;
                        }
                    }
                }
            }
            writer.write_record(None::<&[u8]>)?;
        }
        writer.flush()?;
        Ok(())
    }
}

// --------------------------------------------------------------------------------- JSON

/// Writes rows as JSON objects byte by byte; no `serde_json::Value` is ever built.
struct JsonEncoder {
    /// `"name":` for each column, escaped once.
    keys: Vec<Vec<u8>>,
    scratch: String,
}

enum Layout<'a> {
    /// Inside a JSON array: rows separated by commas.
    Array { rows_written: &'a mut u64 },
    /// One row per line.
    Lines,
}

enum JsonColumn<'a> {
    Null,
    Strings(Strings<'a>),
    Bool(&'a BooleanArray),
    Int64(&'a Int64Array),
    Float64(&'a Float64Array),
    Float32(&'a Float32Array),
    /// Integers and decimals, whose display text is already a JSON number — decimals stay
    /// exact this way, where going through f64 would not.
    Number(ArrayFormatter<'a>),
    /// Dates, timestamps and anything else, as the string arrow displays.
    Text(ArrayFormatter<'a>),
}

impl JsonEncoder {
    fn new(schema: &Schema) -> Result<Self, ExportError> {
        let keys = schema
            .fields()
            .iter()
            .map(|f| {
                let mut key = Vec::with_capacity(f.name().len() + 3);
                serde_json::to_writer(&mut key, f.name())?;
                key.push(b':');
                Ok(key)
            })
            .collect::<Result<_, ExportError>>()?;
        Ok(Self {
            keys,
            scratch: String::new(),
        })
    }

    fn rows(
        &mut self,
        batch: &RecordBatch,
        out: &mut Vec<u8>,
        mut layout: Layout<'_>,
    ) -> Result<(), ExportError> {
        if batch.num_columns() != self.keys.len() {
            return Err(ExportError::SchemaMismatch {
                expected: self.keys.len(),
                found: batch.num_columns(),
            });
        }
        let arrays = plain_columns(batch)?;
        let columns = arrays
            .iter()
            .map(|a| json_column(a.as_ref()))
            .collect::<Result<Vec<_>, ArrowError>>()?;
        for i in 0..batch.num_rows() {
            if let Layout::Array { rows_written } = &mut layout {
                out.extend_from_slice(if **rows_written == 0 { b"\n" } else { b",\n" });
                **rows_written += 1;
            }
            out.push(b'{');
            for (c, (array, column)) in arrays.iter().zip(&columns).enumerate() {
                if c > 0 {
                    out.push(b',');
                }
                out.extend_from_slice(&self.keys[c]);
                if array.is_null(i) {
                    out.extend_from_slice(b"null");
                    continue;
                }
                match column {
                    JsonColumn::Null => out.extend_from_slice(b"null"),
                    JsonColumn::Strings(s) => serde_json::to_writer(&mut *out, s.value(i))?,
                    JsonColumn::Bool(a) => {
                        out.extend_from_slice(if a.value(i) { b"true" } else { b"false" })
                    }
                    JsonColumn::Int64(a) => serde_json::to_writer(&mut *out, &a.value(i))?,
                    JsonColumn::Float64(a) => write_float(out, a.value(i))?,
                    JsonColumn::Float32(a) => {
                        let v = a.value(i);
                        if v.is_finite() {
                            serde_json::to_writer(&mut *out, &v)?;
                        } else {
                            out.extend_from_slice(b"null");
                        }
                    }
                    JsonColumn::Number(f) => {
                        format_into(f, i, &mut self.scratch)?;
                        out.extend_from_slice(self.scratch.as_bytes());
                    }
                    JsonColumn::Text(f) => {
                        format_into(f, i, &mut self.scratch)?;
                        serde_json::to_writer(&mut *out, self.scratch.as_str())?;
                    }
                }
            }
            out.push(b'}');
            if let Layout::Lines = layout {
                out.push(b'\n');
            }
        }
        Ok(())
    }
}

/// JSON has no NaN or infinity.
fn write_float(out: &mut Vec<u8>, v: f64) -> Result<(), ExportError> {
    if v.is_finite() {
        serde_json::to_writer(out, &v)?;
    } else {
        out.extend_from_slice(b"null");
    }
    Ok(())
}

fn json_column(array: &dyn Array) -> Result<JsonColumn<'_>, ArrowError> {
    if let Some(s) = Strings::of(array) {
        return Ok(JsonColumn::Strings(s));
    }
    Ok(match array.data_type() {
        DataType::Null => JsonColumn::Null,
        DataType::Boolean => JsonColumn::Bool(array.as_boolean()),
        DataType::Int64 => JsonColumn::Int64(array.as_primitive()),
        DataType::Float64 => JsonColumn::Float64(array.as_primitive()),
        DataType::Float32 => JsonColumn::Float32(array.as_primitive()),
        t if t.is_integer() || t.is_decimal() => {
            JsonColumn::Number(ArrayFormatter::try_new(array, &FORMAT)?)
        }
        _ => JsonColumn::Text(ArrayFormatter::try_new(array, &FORMAT)?),
    })
}

// --------------------------------------------------------------------------------- XLSX

/// Writes an XLSX file in rust_xlsxwriter's constant-memory mode (rows go to a temporary
/// file as they come). Returns the number of data rows written. More rows than Excel holds
/// is an error, raised before any of the offending batch is written.
pub fn write_xlsx(
    schema: &SchemaRef,
    batches: impl Iterator<Item = Result<RecordBatch, ExportError>>,
    out: &Path,
) -> Result<u64, ExportError> {
    write_xlsx_with_limit(schema, batches, out, XLSX_MAX_DATA_ROWS)
}

/// [`write_xlsx`] with a lower row limit (data rows, header not counted).
pub fn write_xlsx_with_limit(
    schema: &SchemaRef,
    batches: impl Iterator<Item = Result<RecordBatch, ExportError>>,
    out: &Path,
    max_rows: u64,
) -> Result<u64, ExportError> {
    let max_rows = max_rows.min(XLSX_MAX_DATA_ROWS);
    let n_columns = schema.fields().len();
    if n_columns > XLSX_MAX_COLUMNS {
        return Err(ExportError::TooManyColumnsForXlsx {
            found: n_columns,
            max: XLSX_MAX_COLUMNS,
        });
    }
    let mut workbook = Workbook::new();
    // Keep the temporary sheet data next to the output: the system temp directory is
    // often a small tmpfs, and the output's disk is known to have room for the result.
    if let Some(dir) = out.parent().filter(|d| !d.as_os_str().is_empty()) {
        workbook.set_tempdir(dir)?;
    }
    // Past roughly 150 million cells the sheet XML outgrows plain zip's 4 GB; wide tables
    // can get there within Excel's row limit.
    if n_columns > 100 {
        workbook.use_zip_large_file(true);
    }
    let formats = XlsxFormats {
        header: Format::new().set_bold(),
        date: Format::new().set_num_format("yyyy-mm-dd"),
        datetime: Format::new().set_num_format("yyyy-mm-dd hh:mm:ss"),
    };
    let sheet = workbook.add_worksheet_with_constant_memory()?;
    let mut widths: Vec<usize> = schema
        .fields()
        .iter()
        .map(|f| display_width(f.name()))
        .collect();
    for (c, field) in schema.fields().iter().enumerate() {
        sheet.write_string_with_format(0, col(c), &*neutralise(field.name()), &formats.header)?;
    }
    sheet.set_freeze_panes(1, 0)?;

    let mut rows: u64 = 0;
    let mut sampled = false;
    for batch in batches {
        let batch = batch?;
        if batch.num_columns() != n_columns {
            return Err(ExportError::SchemaMismatch {
                expected: n_columns,
                found: batch.num_columns(),
            });
        }
        if rows + batch.num_rows() as u64 > max_rows {
            return Err(ExportError::TooManyRowsForXlsx { rows_max: max_rows });
        }
        let sample = if sampled { None } else { Some(&mut widths) };
        write_xlsx_batch(sheet, &batch, rows, &formats, sample)?;
        sampled |= batch.num_rows() > 0;
        rows += batch.num_rows() as u64;
    }
    for (c, w) in widths.iter().enumerate() {
        // Widths come from the header and the first rows; constant-memory mode cannot
        // autofit, and a sample is what people judge a sheet by anyway.
        sheet.set_column_width(col(c), (*w + 2).clamp(8, 60) as f64)?;
    }
    workbook.save(out)?;
    Ok(rows)
}

struct XlsxFormats {
    header: Format,
    date: Format,
    datetime: Format,
}

/// Rows of the first batch looked at for column widths.
const WIDTH_SAMPLE_ROWS: usize = 200;

type NaiveAt = fn(&dyn Array, usize, Option<Tz>) -> Option<NaiveDateTime>;

enum XlsxColumn<'a> {
    Strings(Strings<'a>),
    Bool(&'a BooleanArray),
    /// Integers: numbers, unless longer than the 15 digits Excel keeps (IDs, codes), which
    /// go in as text so that no digit is lost.
    Integer(ArrayFormatter<'a>),
    /// Floats and decimals, as Excel numbers.
    Number(ArrayFormatter<'a>),
    Date(&'a Date32Array),
    DateTime {
        at: NaiveAt,
        tz: Option<Tz>,
        date_only: bool,
        text: ArrayFormatter<'a>,
    },
    Text(ArrayFormatter<'a>),
}

fn col(c: usize) -> u16 {
    // The column count was checked against Excel's 16,384 up front.
    u16::try_from(c).unwrap_or(u16::MAX)
}

fn naive_at<T: ArrowPrimitiveType<Native = i64>>(
    array: &dyn Array,
    i: usize,
    tz: Option<Tz>,
) -> Option<NaiveDateTime> {
    let v = array.as_primitive::<T>().value(i);
    match tz {
        Some(tz) => arrow_array::temporal_conversions::as_datetime_with_timezone::<T>(v, tz)
            .map(|d| d.naive_local()),
        None => arrow_array::temporal_conversions::as_datetime::<T>(v),
    }
}

fn xlsx_column(array: &dyn Array) -> Result<XlsxColumn<'_>, ArrowError> {
    if let Some(s) = Strings::of(array) {
        return Ok(XlsxColumn::Strings(s));
    }
    let datetime = |at: NaiveAt, tz: Option<&str>, date_only: bool| {
        let text = ArrayFormatter::try_new(array, &FORMAT)?;
        let tz = match tz.map(str::parse::<Tz>) {
            Some(Ok(tz)) => Some(tz),
            // A zone this build cannot resolve: the displayed text still says it all.
            Some(Err(_)) => return Ok(XlsxColumn::Text(text)),
            None => None,
        };
        Ok(XlsxColumn::DateTime {
            at,
            tz,
            date_only,
            text,
        })
    };
    match array.data_type() {
        DataType::Boolean => Ok(XlsxColumn::Bool(array.as_boolean())),
        DataType::Date32 => Ok(XlsxColumn::Date(array.as_primitive())),
        DataType::Date64 => datetime(naive_at::<Date64Type>, None, true),
        DataType::Timestamp(unit, tz) => {
            let at: NaiveAt = match unit {
                TimeUnit::Second => naive_at::<TimestampSecondType>,
                TimeUnit::Millisecond => naive_at::<TimestampMillisecondType>,
                TimeUnit::Microsecond => naive_at::<TimestampMicrosecondType>,
                TimeUnit::Nanosecond => naive_at::<TimestampNanosecondType>,
            };
            datetime(at, tz.as_deref(), false)
        }
        t if t.is_integer() => Ok(XlsxColumn::Integer(ArrayFormatter::try_new(
            array, &FORMAT,
        )?)),
        t if t.is_floating() || t.is_decimal() => {
            Ok(XlsxColumn::Number(ArrayFormatter::try_new(array, &FORMAT)?))
        }
        _ => Ok(XlsxColumn::Text(ArrayFormatter::try_new(array, &FORMAT)?)),
    }
}

/// Serial day of 1970-01-01 in Excel's 1900 date system.
const EXCEL_UNIX_EPOCH: i64 = 25_569;

/// Excel's serial number for a moment, or None where Excel has no date: before 1900-03-01
/// (its serials there are skewed by the 1900 leap-year bug) or after 9999-12-31.
fn excel_serial(at: NaiveDateTime) -> Option<f64> {
    let first = NaiveDate::from_ymd_opt(1900, 3, 1)?.and_hms_opt(0, 0, 0)?;
    if at < first || at.date() > NaiveDate::from_ymd_opt(9999, 12, 31)? {
        return None;
    }
    let since_epoch = at - DateTime::UNIX_EPOCH.naive_utc();
    let days = since_epoch.num_milliseconds() as f64 / 86_400_000.0;
    Some(days + EXCEL_UNIX_EPOCH as f64)
}

/// Excel's limit on text in a cell; longer text is cut rather than failing the download.
fn excel_text(s: &str) -> &str {
    if s.len() <= XLSX_MAX_STRING_UTF16 {
        return s;
    }
    let mut units = 0;
    for (at, ch) in s.char_indices() {
        units += ch.len_utf16();
        if units > XLSX_MAX_STRING_UTF16 {
            return &s[..at];
        }
    }
    s
}

/// Roughly how many character cells text takes: CJK characters are twice as wide.
fn display_width(s: &str) -> usize {
    s.chars().map(|c| if c.is_ascii() { 1 } else { 2 }).sum()
}

fn write_xlsx_batch(
    sheet: &mut Worksheet,
    batch: &RecordBatch,
    first_row: u64,
    formats: &XlsxFormats,
    mut widths: Option<&mut Vec<usize>>,
) -> Result<(), ExportError> {
    let arrays = plain_columns(batch)?;
    let columns = arrays
        .iter()
        .map(|a| xlsx_column(a.as_ref()))
        .collect::<Result<Vec<_>, ArrowError>>()?;
    let mut scratch = String::new();
    for i in 0..batch.num_rows() {
        // +1 for the header row; the caller keeps the total within Excel's row limit.
        let row = u32::try_from(first_row + i as u64 + 1).map_err(|_| {
            ExportError::TooManyRowsForXlsx {
                rows_max: XLSX_MAX_DATA_ROWS,
            }
        })?;
        for (c, (array, column)) in arrays.iter().zip(&columns).enumerate() {
            if array.is_null(i) {
                continue;
            }
            let x = col(c);
            let width = match column {
                XlsxColumn::Strings(s) => {
                    let text = neutralise(excel_text(s.value(i)));
                    sheet.write_string(row, x, &*text)?;
                    display_width(&text)
                }
                XlsxColumn::Bool(a) => {
                    sheet.write_boolean(row, x, a.value(i))?;
                    5
                }
                XlsxColumn::Integer(f) => {
                    format_into(f, i, &mut scratch)?;
                    let digits = scratch.bytes().filter(u8::is_ascii_digit).count();
                    match scratch.parse::<f64>() {
                        Ok(v) if digits <= 15 => sheet.write_number(row, x, v)?,
                        _ => sheet.write_string(row, x, &*neutralise(&scratch))?,
                    };
                    scratch.len()
                }
                XlsxColumn::Number(f) => {
                    format_into(f, i, &mut scratch)?;
                    match scratch.parse::<f64>() {
                        Ok(v) => sheet.write_number(row, x, v)?,
                        Err(_) => sheet.write_string(row, x, &*neutralise(&scratch))?,
                    };
                    scratch.len().min(16)
                }
                XlsxColumn::Date(a) => {
                    let serial = i64::from(a.value(i)) + EXCEL_UNIX_EPOCH;
                    // 61 is 1900-03-01 and 2,958,465 is 9999-12-31, Excel's date range.
                    if (61..=2_958_465).contains(&serial) {
                        sheet.write_number_with_format(row, x, serial as f64, &formats.date)?;
                    } else {
                        let text = a
                            .value_as_date(i)
                            .map(|d| d.to_string())
                            .unwrap_or_default();
                        sheet.write_string(row, x, &*neutralise(&text))?;
                    }
                    10
                }
                XlsxColumn::DateTime {
                    at,
                    tz,
                    date_only,
                    text,
                } => {
                    let format = if *date_only {
                        &formats.date
                    } else {
                        &formats.datetime
                    };
                    match at(array.as_ref(), i, *tz).and_then(excel_serial) {
                        Some(serial) => {
                            sheet.write_number_with_format(row, x, serial, format)?;
                        }
                        None => {
                            format_into(text, i, &mut scratch)?;
                            sheet.write_string(row, x, &*neutralise(&scratch))?;
                        }
                    }
                    if *date_only { 10 } else { 19 }
                }
                XlsxColumn::Text(f) => {
                    format_into(f, i, &mut scratch)?;
                    let text = neutralise(excel_text(&scratch));
                    sheet.write_string(row, x, &*text)?;
                    display_width(&text)
                }
            };
            if i < WIDTH_SAMPLE_ROWS
                && let Some(widths) = widths.as_deref_mut()
            {
                widths[c] = widths[c].max(width);
            }
        }
    }
    Ok(())
}

/// A small table of figures (a report's every number) as CSV with a byte-order mark, so
/// that Excel reads the Chinese headers right. Text that a spreadsheet would take for a
/// formula is neutralised.
pub fn table_csv(header: &[String], rows: &[Vec<String>]) -> Result<Vec<u8>, ExportError> {
    let mut out = BOM.to_vec();
    {
        let mut w = csv::Writer::from_writer(&mut out);
        w.write_record(header.iter().map(|h| neutralise(h).into_owned()))?;
        for row in rows {
            w.write_record(row.iter().map(|c| neutralise(c).into_owned()))?;
        }
        w.flush()?;
    }
    Ok(out)
}

/// The same table as an XLSX workbook of one sheet; cells that read as numbers are
/// written as numbers.
pub fn table_xlsx(
    sheet_name: &str,
    header: &[String],
    rows: &[Vec<String>],
) -> Result<Vec<u8>, ExportError> {
    let mut workbook = Workbook::new();
    let bold = Format::new().set_bold();
    let sheet = workbook.add_worksheet();
    sheet.set_name(sheet_name)?;
    for (c, h) in header.iter().enumerate() {
        sheet.write_string_with_format(0, col(c), &*neutralise(h), &bold)?;
    }
    for (r, row) in rows.iter().enumerate() {
        let r = u32::try_from(r + 1).unwrap_or(u32::MAX);
        for (c, cell) in row.iter().enumerate() {
            match cell.parse::<f64>() {
                Ok(v) if v.is_finite() => {
                    sheet.write_number(r, col(c), v)?;
                }
                _ => {
                    sheet.write_string(r, col(c), &*neutralise(cell))?;
                }
            }
        }
    }
    sheet.set_freeze_panes(1, 0)?;
    Ok(workbook.save_to_buffer()?)
}
