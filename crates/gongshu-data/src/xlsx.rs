//! Spreadsheets (XLSX, XLS, ODS) through calamine, into the same header-and-types stage as
//! CSV. Formulas are never evaluated: only the values the file cached are read.

use std::io::{Read, Seek, SeekFrom};

use calamine::{Data, Reader};

use crate::DataError;
use crate::table::{CsvOptions, Line, Sink, Source, Summary, Table, build};

/// Limits that keep a hostile workbook from exhausting the machine.
#[derive(Debug, Clone)]
pub struct XlsxLimits {
    /// Total uncompressed size the archive may declare.
    pub max_uncompressed_bytes: u64,
    /// Largest compression ratio of one entry (a zip bomb's is in the thousands).
    pub max_ratio: u64,
}

impl Default for XlsxLimits {
    fn default() -> Self {
        Self {
            max_uncompressed_bytes: 2 * 1024 * 1024 * 1024,
            max_ratio: 1000,
        }
    }
}

/// Checks the sizes an XLSX/ODS archive declares before anything is decompressed. XLS
/// (not a zip) passes through.
fn check_archive<R: Read + Seek>(reader: &mut R, limits: &XlsxLimits) -> Result<(), DataError> {
    let start = reader.stream_position()?;
    let mut magic = [0u8; 4];
    let n = reader.read(&mut magic)?;
    reader.seek(SeekFrom::Start(start))?;
    if n < 4 || magic != *b"PK\x03\x04" {
        return Ok(());
    }
    let mut archive = zip::ZipArchive::new(&mut *reader)
        .map_err(|e| DataError::Spreadsheet(format!("not a valid archive: {e}")))?;
    let mut total = 0u64;
    for i in 0..archive.len() {
        let entry = archive
            .by_index_raw(i)
            .map_err(|e| DataError::Spreadsheet(e.to_string()))?;
        total = total.saturating_add(entry.size());
        let ratio = entry.size() / entry.compressed_size().max(1);
        if total > limits.max_uncompressed_bytes || ratio > limits.max_ratio {
            return Err(DataError::Spreadsheet(format!(
                "archive expands too far ({} bytes, ratio {ratio}): refused as a possible zip bomb",
                total
            )));
        }
    }
    drop(archive);
    reader.seek(SeekFrom::Start(start))?;
    Ok(())
}

/// Excel's serial day 0 is 1899-12-30 (with the 1900 leap-year bug folded in).
fn excel_date(serial: f64) -> Option<String> {
    let base = chrono::NaiveDate::from_ymd_opt(1899, 12, 30)?;
    let days = serial.floor();
    let seconds = ((serial - days) * 86_400.0).round() as i64;
    let date = base.checked_add_signed(chrono::Duration::days(days as i64))?;
    Some(if seconds == 0 {
        date.format("%Y-%m-%d").to_string()
    } else {
        (date.and_hms_opt(0, 0, 0)? + chrono::Duration::seconds(seconds))
            .format("%Y-%m-%d %H:%M:%S")
            .to_string()
    })
}

/// A cell as the text a person reads in it, so that all sources share one type inference.
fn cell_text(cell: &Data) -> String {
    match cell {
        Data::Empty => String::new(),
        Data::String(s) | Data::DateTimeIso(s) | Data::DurationIso(s) => s.clone(),
        Data::Int(i) => i.to_string(),
        // Whole numbers stored as floats (Excel stores every number so) print as integers.
        Data::Float(f) if f.fract() == 0.0 && f.abs() < 1e15 => format!("{}", *f as i64),
        Data::Float(f) => f.to_string(),
        Data::Bool(b) => if *b { "true" } else { "false" }.to_owned(),
        Data::DateTime(dt) => excel_date(dt.as_f64()).unwrap_or_default(),
        Data::Error(e) => format!("#{e:?}"),
    }
}

/// The names of the workbook's sheets, in order.
pub fn sheet_names<R: Read + Seek + Clone>(
    mut reader: R,
    limits: &XlsxLimits,
) -> Result<Vec<String>, DataError> {
    check_archive(&mut reader, limits)?;
    let workbook = calamine::open_workbook_auto_from_rs(reader)
        .map_err(|e| DataError::Spreadsheet(e.to_string()))?;
    Ok(workbook.sheet_names())
}

/// Reads one sheet (by name, or the first that holds anything) into memory.
pub fn read_xlsx<R: Read + Seek + Clone>(
    reader: R,
    sheet: Option<&str>,
    options: &CsvOptions,
    limits: &XlsxLimits,
) -> Result<Table, DataError> {
    Table::collect(|sink| read_xlsx_into(reader, sheet, options, limits, sink))
}

/// Reads one sheet (by name, or the first that holds anything) batch by batch into `sink`.
pub fn read_xlsx_into<R: Read + Seek + Clone>(
    mut reader: R,
    sheet: Option<&str>,
    options: &CsvOptions,
    limits: &XlsxLimits,
    sink: &mut dyn Sink,
) -> Result<Summary, DataError> {
    check_archive(&mut reader, limits)?;
    let mut workbook = calamine::open_workbook_auto_from_rs(reader)
        .map_err(|e| DataError::Spreadsheet(e.to_string()))?;
    let names = workbook.sheet_names();
    let candidates: Vec<String> = match sheet {
        Some(name) => {
            if !names.iter().any(|n| n == name) {
                return Err(DataError::Spreadsheet(format!(
                    "no sheet named {name:?}; the sheets are {names:?}"
                )));
            }
            vec![name.to_owned()]
        }
        None => names,
    };
    for name in candidates {
        let range = workbook
            .worksheet_range(&name)
            .map_err(|e| DataError::Spreadsheet(e.to_string()))?;
        if range.is_empty() {
            continue;
        }
        if range.width() > options.max_columns {
            return Err(DataError::TooManyColumns {
                found: range.width(),
                max: options.max_columns,
            });
        }
        let first_row = range.start().map_or(0, |(r, _)| u64::from(r));
        let rows = range.rows().enumerate().map(move |(i, cells)| {
            let record: csv::StringRecord = cells.iter().map(cell_text).collect();
            Ok::<Line, DataError>(Line::Row((first_row + i as u64 + 1, record)))
        });
        return build(rows, Source::Xlsx { sheet: name }, options, sink);
    }
    Err(DataError::Empty)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn excel_serial_dates() {
        assert_eq!(excel_date(45356.0).as_deref(), Some("2024-03-05"));
        assert_eq!(excel_date(45356.5).as_deref(), Some("2024-03-05 12:00:00"));
    }
}
