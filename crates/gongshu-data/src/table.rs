//! CSV/TSV → Arrow: detect the encoding and the delimiter, skip title rows above the
//! header, infer column types from the first rows, then stream the rest into batches.
//! A row that does not fit is reported with its line number and reason.

use std::io::{BufRead, BufReader, Read};
use std::sync::Arc;

use arrow_array::builder::{
    BooleanBuilder, Date32Builder, Decimal128Builder, Int64Builder, StringBuilder,
};
use arrow_array::{ArrayRef, RecordBatch};
use arrow_schema::{DataType, Field, Schema, SchemaRef};
use chrono::NaiveDate;

use crate::DataError;
use crate::encoding::{TextEncoding, decode, decode_sample, detect, looks_binary};
use crate::infer::{ColumnType, infer, parse_bool, parse_date, parse_decimal, parse_integer};

#[derive(Debug, Clone)]
pub struct CsvOptions {
    /// Rows read before deciding the column types.
    pub infer_rows: usize,
    /// Rows per Arrow batch.
    pub batch_rows: usize,
    /// Longest line accepted, in bytes (a file with no newline is not a table).
    pub max_line_bytes: usize,
    /// Most columns accepted (Excel's limit).
    pub max_columns: usize,
    /// How far down a title block above the header may reach.
    pub header_search_rows: usize,
    /// Rejected rows reported one by one; past this only their number is kept, so a file
    /// of ten million bad rows cannot fill memory with reasons.
    pub max_rejected_details: usize,
    /// Column types the catalog declares (信息项), by column name; they win over inference.
    pub declared: Vec<Declared>,
}

/// The type a catalog data item (信息项) declares for a column.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DeclaredType {
    Text,
    Integer,
    /// Any number: integers stay integers, decimals keep the scale the values show.
    Number,
    Date,
    Boolean,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Declared {
    pub name: String,
    pub kind: DeclaredType,
}

/// The declared type wins; where it leaves room (a number's scale) the values decide.
fn apply_declared(kind: DeclaredType, inferred: ColumnType) -> ColumnType {
    match (kind, inferred) {
        (DeclaredType::Text, _) => ColumnType::Text,
        (DeclaredType::Integer, _) => ColumnType::Integer,
        (DeclaredType::Number, t @ (ColumnType::Integer | ColumnType::Decimal { .. })) => t,
        // Values that are not all numbers: the ones that are not will be rejected rows.
        (DeclaredType::Number, _) => ColumnType::Decimal { scale: 4 },
        (DeclaredType::Date, _) => ColumnType::Date,
        (DeclaredType::Boolean, _) => ColumnType::Boolean,
    }
}

impl Default for CsvOptions {
    fn default() -> Self {
        Self {
            infer_rows: 10_000,
            batch_rows: 8192,
            max_line_bytes: 16 * 1024 * 1024,
            max_columns: 16_384,
            header_search_rows: 20,
            max_rejected_details: 1000,
            declared: Vec::new(),
        }
    }
}

/// A row that was not taken, and why.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Rejected {
    /// 1-based line of the file where the row starts.
    pub line: u64,
    pub reason: String,
}

/// What kind of file the table came from, and what was detected about it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Source {
    Csv {
        encoding: TextEncoding,
        delimiter: u8,
    },
    Xlsx {
        sheet: String,
    },
    Json {
        geojson: bool,
    },
    Parquet,
}

impl Source {
    /// How the file was read, for the people who uploaded it.
    pub fn describe(&self) -> String {
        match self {
            Self::Csv {
                encoding,
                delimiter,
            } => {
                let d = match delimiter {
                    b'\t' => "tab".to_owned(),
                    d => (*d as char).to_string(),
                };
                format!("CSV, {}, delimiter {d}", encoding.label())
            }
            Self::Xlsx { sheet } => format!("spreadsheet, sheet {sheet}"),
            Self::Json { geojson: true } => "GeoJSON".into(),
            Self::Json { geojson: false } => "JSON".into(),
            Self::Parquet => "Parquet".into(),
        }
    }
}

/// A table read whole into memory: for small files and tests. Large files go through a
/// [`Sink`] instead and only their [`Summary`] stays.
#[derive(Debug)]
pub struct Table {
    pub schema: SchemaRef,
    pub batches: Vec<RecordBatch>,
    /// The first `max_rejected_details` rejected rows, in line order.
    pub rejected: Vec<Rejected>,
    /// Every rejected row, counted.
    pub rejected_rows: u64,
    pub source: Source,
    /// 1-based line (row, in a sheet) of the header; lines above it were titles.
    pub header_line: u64,
    pub rows: u64,
    /// Declared data items no column carries.
    pub missing_declared: Vec<String>,
}

/// What reading a table found, without its rows.
#[derive(Debug, Clone)]
pub struct Summary {
    pub schema: SchemaRef,
    pub rejected: Vec<Rejected>,
    pub rejected_rows: u64,
    pub source: Source,
    pub header_line: u64,
    pub rows: u64,
    pub missing_declared: Vec<String>,
}

/// Where the batches of a table go as they are read.
pub trait Sink {
    fn batch(&mut self, batch: RecordBatch) -> Result<(), DataError>;
    /// Rows taken and rejected so far, after each batch.
    fn progress(&mut self, _rows: u64, _rejected: u64) {}
}

impl Sink for Vec<RecordBatch> {
    fn batch(&mut self, batch: RecordBatch) -> Result<(), DataError> {
        self.push(batch);
        Ok(())
    }
}

impl Table {
    pub(crate) fn collect(
        read: impl FnOnce(&mut dyn Sink) -> Result<Summary, DataError>,
    ) -> Result<Self, DataError> {
        let mut batches = Vec::new();
        let s = read(&mut batches)?;
        Ok(Self {
            schema: s.schema,
            batches,
            rejected: s.rejected,
            rejected_rows: s.rejected_rows,
            source: s.source,
            header_line: s.header_line,
            rows: s.rows,
            missing_declared: s.missing_declared,
        })
    }
}

/// One row of any source with its 1-based line, as the shared stage reads it.
pub(crate) type Row = (u64, csv::StringRecord);

/// What a source hands the shared stage: a row, or a record it already knows cannot be
/// one (with the reason), which goes straight to `rejected`.
#[derive(Debug)]
pub(crate) enum Line {
    Row(Row),
    Rejected(Rejected),
}

/// Fails the read when a line grows past the limit, so a file with no newline cannot
/// make the reader buffer gigabytes.
struct LineLimit<R> {
    inner: R,
    since_newline: usize,
    max: usize,
}

impl<R: Read> Read for LineLimit<R> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let n = self.inner.read(buf)?;
        for &b in &buf[..n] {
            if b == b'\n' {
                self.since_newline = 0;
            } else {
                self.since_newline += 1;
                if self.since_newline > self.max {
                    return Err(std::io::Error::new(
                        std::io::ErrorKind::InvalidData,
                        LINE_TOO_LONG,
                    ));
                }
            }
        }
        Ok(n)
    }
}

const LINE_TOO_LONG: &str = "line too long";

/// The delimiter that splits the sample's lines most consistently into several fields.
fn sniff_delimiter(sample: &str) -> u8 {
    let lines: Vec<&str> = sample
        .lines()
        .take(30)
        .filter(|l| !l.trim().is_empty())
        .collect();
    let mut best = (b',', 0usize);
    for d in [b',', b'\t', b';', b'|'] {
        let counts: Vec<usize> = lines.iter().map(|l| l.matches(d as char).count()).collect();
        let Some(&max) = counts.iter().max() else {
            continue;
        };
        // How many lines share the most common non-zero count: the steadier the better.
        let modal = (1..=max)
            .map(|c| counts.iter().filter(|&&n| n == c).count())
            .max()
            .unwrap_or(0);
        if max > 0 && modal > best.1 {
            best = (d, modal);
        }
    }
    best.0
}

fn non_empty(record: &csv::StringRecord) -> usize {
    record.iter().filter(|f| !f.trim().is_empty()).count()
}

/// The header is the first row that fills most of the columns the data rows fill; rows
/// above it are titles such as "2024年度企业名单" or "单位：万元".
fn find_header(rows: &[(u64, csv::StringRecord)], search: usize) -> Option<usize> {
    let widths: Vec<usize> = rows.iter().map(|(_, r)| non_empty(r)).collect();
    let widest = *widths.iter().max()?;
    if widest == 0 {
        return None;
    }
    widths
        .iter()
        .take(search)
        .position(|&w| w >= 2.max(widest * 4 / 5) || (widest == 1 && w == 1))
}

/// The column every stored table starts with: the row's 1-based position in the upload,
/// the stable key of keyset paging.
pub const ROW_COLUMN: &str = "_row";

fn column_names(header: &csv::StringRecord) -> Vec<String> {
    let mut seen = std::collections::HashMap::<String, usize>::new();
    header
        .iter()
        .enumerate()
        .map(|(i, h)| {
            let base = match h.trim() {
                "" => format!("列{}", i + 1),
                // The platform's own row number; a user's column of that name keeps its data.
                ROW_COLUMN => format!("{ROW_COLUMN}_user"),
                t => t.to_owned(),
            };
            let n = seen.entry(base.clone()).or_insert(0);
            *n += 1;
            if *n == 1 { base } else { format!("{base}_{n}") }
        })
        .collect()
}

enum Builder {
    Integer(Int64Builder),
    Decimal(Decimal128Builder, u8),
    Date(Date32Builder),
    Boolean(BooleanBuilder),
    Text(StringBuilder),
}

const EPOCH: NaiveDate = match NaiveDate::from_ymd_opt(1970, 1, 1) {
    Some(d) => d,
    None => NaiveDate::MIN,
};

/// A typed value of one cell, checked before anything is appended so a bad row adds nothing.
enum Cell<'a> {
    Null,
    Int(i64),
    Dec(i128),
    Date(i32),
    Bool(bool),
    Text(&'a str),
}

fn parse_cell<'a>(ty: ColumnType, raw: &'a str) -> Option<Cell<'a>> {
    let v = raw.trim();
    if v.is_empty() {
        return Some(Cell::Null);
    }
    Some(match ty {
        ColumnType::Integer => Cell::Int(parse_integer(v)?),
        ColumnType::Decimal { scale } => Cell::Dec(parse_decimal(v, scale)?),
        ColumnType::Date => Cell::Date((parse_date(v, true)? - EPOCH).num_days() as i32),
        ColumnType::Boolean => Cell::Bool(parse_bool(v)?),
        ColumnType::Text => Cell::Text(raw),
    })
}

fn type_name(ty: ColumnType) -> &'static str {
    match ty {
        ColumnType::Integer => "整数 integer",
        ColumnType::Decimal { .. } => "小数 decimal",
        ColumnType::Date => "日期 date",
        ColumnType::Boolean => "是/否 boolean",
        ColumnType::Text => "文本 text",
    }
}

impl Builder {
    fn new(ty: ColumnType) -> Self {
        match ty {
            ColumnType::Integer => Self::Integer(Int64Builder::new()),
            ColumnType::Decimal { scale } => Self::Decimal(Decimal128Builder::new(), scale),
            ColumnType::Date => Self::Date(Date32Builder::new()),
            ColumnType::Boolean => Self::Boolean(BooleanBuilder::new()),
            ColumnType::Text => Self::Text(StringBuilder::new()),
        }
    }

    fn append(&mut self, cell: &Cell<'_>) {
        match (self, cell) {
            (Self::Integer(b), Cell::Int(v)) => b.append_value(*v),
            (Self::Decimal(b, _), Cell::Dec(v)) => b.append_value(*v),
            (Self::Date(b), Cell::Date(v)) => b.append_value(*v),
            (Self::Boolean(b), Cell::Bool(v)) => b.append_value(*v),
            (Self::Text(b), Cell::Text(v)) => b.append_value(v),
            (Self::Integer(b), _) => b.append_null(),
            (Self::Decimal(b, _), _) => b.append_null(),
            (Self::Date(b), _) => b.append_null(),
            (Self::Boolean(b), _) => b.append_null(),
            (Self::Text(b), _) => b.append_null(),
        }
    }

    fn finish(&mut self) -> Result<ArrayRef, DataError> {
        Ok(match self {
            Self::Integer(b) => Arc::new(b.finish()),
            Self::Decimal(b, scale) => {
                Arc::new(b.finish().with_precision_and_scale(38, *scale as i8)?)
            }
            Self::Date(b) => Arc::new(b.finish()),
            Self::Boolean(b) => Arc::new(b.finish()),
            Self::Text(b) => Arc::new(b.finish()),
        })
    }
}

fn data_type(ty: ColumnType) -> DataType {
    match ty {
        ColumnType::Integer => DataType::Int64,
        ColumnType::Decimal { scale } => DataType::Decimal128(38, scale as i8),
        ColumnType::Date => DataType::Date32,
        ColumnType::Boolean => DataType::Boolean,
        ColumnType::Text => DataType::Utf8,
    }
}

struct Assembler<'s> {
    types: Vec<ColumnType>,
    names: Vec<String>,
    builders: Vec<Builder>,
    schema: SchemaRef,
    sink: &'s mut dyn Sink,
    pending: usize,
    rows: u64,
    rejected: Vec<Rejected>,
    rejected_rows: u64,
    max_rejected: usize,
    batch_rows: usize,
}

impl Assembler<'_> {
    fn reject(&mut self, r: Rejected) {
        self.rejected_rows += 1;
        if self.rejected.len() < self.max_rejected {
            self.rejected.push(r);
        }
    }

    fn push(&mut self, line: u64, record: &csv::StringRecord) -> Result<(), DataError> {
        let width = self.types.len();
        // Excel often pads rows with empty trailing cells: those are not extra fields.
        let extra = record.iter().skip(width).any(|f| !f.trim().is_empty());
        if record.len() < width || extra {
            let found = record.len()
                - record
                    .iter()
                    .rev()
                    .take_while(|f| f.trim().is_empty())
                    .count();
            self.reject(Rejected {
                line,
                reason: format!(
                    "应有{width}列，实际{found}列 (expected {width} fields, found {found})"
                ),
            });
            return Ok(());
        }
        let mut cells = Vec::with_capacity(width);
        for i in 0..width {
            let ty = self.types[i];
            let raw = &record[i];
            if raw.contains('\u{FFFD}') {
                let name = &self.names[i];
                let reason =
                    format!("“{name}”列含无法解码的字节 (undecodable bytes in column {name})");
                self.reject(Rejected { line, reason });
                return Ok(());
            }
            match parse_cell(ty, raw) {
                Some(c) => cells.push(c),
                None => {
                    let shown: String = raw.chars().take(40).collect();
                    let name = &self.names[i];
                    let reason = format!(
                        "“{name}”列的值“{shown}”不是{} (value in column {name} does not fit its type)",
                        type_name(ty),
                    );
                    self.reject(Rejected { line, reason });
                    return Ok(());
                }
            }
        }
        for (b, c) in self.builders.iter_mut().zip(&cells) {
            b.append(c);
        }
        self.pending += 1;
        self.rows += 1;
        if self.pending == self.batch_rows {
            self.flush()?;
        }
        Ok(())
    }

    fn flush(&mut self) -> Result<(), DataError> {
        if self.pending == 0 {
            return Ok(());
        }
        let columns = self
            .builders
            .iter_mut()
            .map(Builder::finish)
            .collect::<Result<Vec<_>, _>>()?;
        self.sink
            .batch(RecordBatch::try_new(self.schema.clone(), columns)?)?;
        self.pending = 0;
        self.sink.progress(self.rows, self.rejected_rows);
        Ok(())
    }
}

fn io_error(e: csv::Error, max_line: usize) -> DataError {
    let msg = e.to_string();
    if msg.contains(LINE_TOO_LONG) {
        return DataError::LineTooLong(max_line);
    }
    match e.into_kind() {
        csv::ErrorKind::Io(io) => DataError::Io(io),
        other => DataError::Io(std::io::Error::new(
            std::io::ErrorKind::InvalidData,
            format!("{other:?}"),
        )),
    }
}

/// Reads a delimited text table in whatever encoding and shape it comes, into memory.
pub fn read_csv<R: Read>(reader: R, options: &CsvOptions) -> Result<Table, DataError> {
    Table::collect(|sink| read_csv_into(reader, options, sink))
}

/// Reads a delimited text table batch by batch into `sink`.
pub fn read_csv_into<R: Read>(
    reader: R,
    options: &CsvOptions,
    sink: &mut dyn Sink,
) -> Result<Summary, DataError> {
    let mut buffered = BufReader::with_capacity(64 * 1024, reader);
    let sample = buffered.fill_buf()?.to_vec();
    if sample.is_empty() {
        return Err(DataError::Empty);
    }
    let encoding = detect(&sample);
    if looks_binary(&sample, encoding) {
        return Err(DataError::Binary);
    }
    let delimiter = sniff_delimiter(&decode_sample(&sample, encoding));
    let limited = LineLimit {
        inner: decode(buffered, encoding),
        since_newline: 0,
        max: options.max_line_bytes,
    };
    let csv = csv::ReaderBuilder::new()
        .has_headers(false)
        .flexible(true)
        .delimiter(delimiter)
        .from_reader(limited);

    let rows = csv.into_records().map(|next| {
        let record = next.map_err(|e| io_error(e, options.max_line_bytes))?;
        Ok(Line::Row((
            record.position().map_or(0, |p| p.line()),
            record,
        )))
    });
    build(
        rows,
        Source::Csv {
            encoding,
            delimiter,
        },
        options,
        sink,
    )
}

/// The stage every source shares: find the header under any title rows, infer the types
/// from the first rows, then stream every row into Arrow batches or into `rejected`.
pub(crate) fn build(
    rows: impl Iterator<Item = Result<Line, DataError>>,
    source: Source,
    options: &CsvOptions,
    sink: &mut dyn Sink,
) -> Result<Summary, DataError> {
    let mut rows = rows;
    let mut head: Vec<Row> = Vec::new();
    let mut known_bad: Vec<Rejected> = Vec::new();
    for next in rows.by_ref() {
        let (line, record) = match next? {
            Line::Row(row) => row,
            Line::Rejected(r) => {
                known_bad.push(r);
                continue;
            }
        };
        if record.len() > options.max_columns {
            return Err(DataError::TooManyColumns {
                found: record.len(),
                max: options.max_columns,
            });
        }
        head.push((line, record));
        if head.len() >= options.infer_rows + options.header_search_rows {
            break;
        }
    }
    if head.iter().all(|(_, r)| non_empty(r) == 0) {
        return Err(DataError::Empty);
    }
    let header_at = find_header(&head, options.header_search_rows)
        .ok_or(DataError::NoHeader(options.header_search_rows))?;
    let (header_line, header) = head[header_at].clone();
    let names = column_names(&header);
    let body: Vec<&Row> = head[header_at + 1..]
        .iter()
        .filter(|(_, r)| non_empty(r) > 0)
        .collect();
    let types: Vec<ColumnType> = names
        .iter()
        .enumerate()
        .map(|(i, name)| {
            let declared = options.declared.iter().find(|d| d.name.trim() == name);
            let sample = body.iter().take(options.infer_rows);
            let inferred = infer(
                name,
                sample.map(move |(_, r)| r.get(i).map_or("", str::trim)),
            );
            declared.map_or(inferred, |d| apply_declared(d.kind, inferred))
        })
        .collect();
    let missing_declared = options
        .declared
        .iter()
        .filter(|d| !names.iter().any(|n| n == d.name.trim()))
        .map(|d| d.name.clone())
        .collect();
    let schema: SchemaRef = Arc::new(Schema::new(
        names
            .iter()
            .zip(&types)
            .map(|(n, t)| Field::new(n, data_type(*t), true))
            .collect::<Vec<_>>(),
    ));
    let mut out = Assembler {
        builders: types.iter().map(|t| Builder::new(*t)).collect(),
        types,
        names,
        schema: schema.clone(),
        sink,
        pending: 0,
        rows: 0,
        rejected: Vec::new(),
        rejected_rows: 0,
        max_rejected: options.max_rejected_details,
        batch_rows: options.batch_rows.max(1),
    };
    for r in known_bad {
        out.reject(r);
    }
    for (line, record) in body {
        out.push(*line, record)?;
    }
    for next in rows {
        match next? {
            Line::Row((line, record)) if non_empty(&record) > 0 => out.push(line, &record)?,
            Line::Row(_) => {}
            Line::Rejected(r) => out.reject(r),
        }
    }
    out.flush()?;
    out.rejected.sort_by_key(|r| r.line);
    Ok(Summary {
        schema,
        rejected: out.rejected,
        rejected_rows: out.rejected_rows,
        source,
        header_line,
        rows: out.rows,
        missing_declared,
    })
}
