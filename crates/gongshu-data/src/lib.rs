//! Reading the tables governments actually publish — GBK CSVs, title rows above the
//! header, codes with leading zeros, dates written 2024年3月5日 — into Arrow, reporting
//! the rows that do not fit instead of failing or dropping them silently.
//!
//! This crate knows nothing of HTTP or of who is calling: the access gate is above it.

pub mod deident;
pub mod detect;
pub mod dp;
pub mod encoding;
pub mod export;
pub mod infer;
pub mod ingest;
pub mod json;
pub mod query;
pub mod sandbox;
pub mod sealed;
mod splice;
pub mod table;
pub mod verify;
pub mod versions;
pub mod xlsx;

pub use ingest::{FileKind, IngestOptions, Prepared, PreparedTable, prepare, sniff};
pub use json::{read_json, read_json_into};
/// Where a file lives in the object store.
pub use object_store::path::Path as ObjectPath;
pub use table::{
    CsvOptions, Declared, DeclaredType, ROW_COLUMN, Rejected, Sink, Source, Summary, Table,
    read_csv, read_csv_into,
};
pub use versions::{
    ColumnInfo, Manifest, OpenTable, StoredFile, VersionError, Versions, type_label,
};
pub use xlsx::{XlsxLimits, read_xlsx, read_xlsx_into, sheet_names};

/// Why a file could not be read at all. Row-level problems are not errors: they are
/// reported in `Table::rejected`.
#[derive(Debug, thiserror::Error)]
pub enum DataError {
    #[error("the file is empty")]
    Empty,
    #[error("this is a binary file, not text (found NUL bytes)")]
    Binary,
    #[error("no header row found in the first {0} rows")]
    NoHeader(usize),
    #[error("{found} columns; at most {max} are accepted")]
    TooManyColumns { found: usize, max: usize },
    #[error("a line is longer than {0} bytes")]
    LineTooLong(usize),
    #[error("reading the spreadsheet: {0}")]
    Spreadsheet(String),
    #[error("reading the file: {0}")]
    Io(#[from] std::io::Error),
    #[error("building the table: {0}")]
    Arrow(#[from] arrow_schema::ArrowError),
}
