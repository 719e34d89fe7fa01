//! Workbooks as departments send them: a title above the header, dates as Excel dates,
//! codes typed as text, formulas, several sheets — and hostile archives.

use std::io::{Cursor, Write};

use arrow_array::cast::AsArray;
use arrow_array::types::{Date32Type, Int64Type};
use arrow_schema::DataType;
use gongshu_data::{CsvOptions, DataError, Source, XlsxLimits, read_xlsx, sheet_names};
use rust_xlsxwriter::{ExcelDateTime, Format, Formula, Workbook};

fn workbook() -> Vec<u8> {
    let mut wb = Workbook::new();
    let notes = wb.add_worksheet();
    notes.set_name("说明").unwrap();
    let data = wb.add_worksheet();
    data.set_name("企业名单").unwrap();
    let date = Format::new().set_num_format("yyyy-mm-dd");
    data.write_string(0, 0, "2024年度青岛市企业名单").unwrap();
    data.merge_range(0, 0, 0, 4, "2024年度青岛市企业名单", &Format::new())
        .unwrap();
    for (c, h) in ["企业名称", "行政区划代码", "成立日期", "员工人数", "合计"]
        .iter()
        .enumerate()
    {
        data.write_string(2, c as u16, *h).unwrap();
    }
    let rows = [
        ("青岛甲公司", "0370202", (2019, 3, 5), 120),
        ("青岛乙公司", "0370203", (2020, 12, 1), 35),
    ];
    for (i, (name, code, (y, m, d), staff)) in rows.iter().enumerate() {
        let r = 3 + i as u32;
        data.write_string(r, 0, *name).unwrap();
        data.write_string(r, 1, *code).unwrap();
        data.write_datetime_with_format(r, 2, ExcelDateTime::from_ymd(*y, *m, *d).unwrap(), &date)
            .unwrap();
        data.write_number(r, 3, f64::from(*staff)).unwrap();
        // A formula whose cached result is read, never evaluated.
        data.write_formula(
            r,
            4,
            Formula::new(format!("=D{}*2", r + 1)).set_result((staff * 2).to_string()),
        )
        .unwrap();
    }
    wb.save_to_buffer().unwrap()
}

#[test]
fn a_sheet_with_a_title_row_reads_as_a_typed_table() {
    let bytes = workbook();
    assert_eq!(
        sheet_names(Cursor::new(&bytes), &XlsxLimits::default()).unwrap(),
        ["说明", "企业名单"]
    );
    // The empty first sheet is skipped when no sheet is named.
    let t = read_xlsx(
        Cursor::new(&bytes),
        None,
        &CsvOptions::default(),
        &XlsxLimits::default(),
    )
    .unwrap();
    assert_eq!(
        t.source,
        Source::Xlsx {
            sheet: "企业名单".into()
        }
    );
    assert_eq!(t.header_line, 3);
    assert_eq!(t.rows, 2);
    assert!(t.rejected.is_empty(), "{:?}", t.rejected);
    let types: Vec<DataType> = t
        .schema
        .fields()
        .iter()
        .map(|f| f.data_type().clone())
        .collect();
    assert_eq!(
        types,
        [
            DataType::Utf8,
            DataType::Utf8,
            DataType::Date32,
            DataType::Int64,
            DataType::Int64
        ]
    );
    let b = &t.batches[0];
    assert_eq!(
        b.column(1).as_string::<i32>().value(0),
        "0370202",
        "leading zeros of codes are kept"
    );
    assert_eq!(b.column(3).as_primitive::<Int64Type>().value(0), 120);
    assert_eq!(
        b.column(4).as_primitive::<Int64Type>().value(1),
        70,
        "the cached formula result"
    );
    let day = b.column(2).as_primitive::<Date32Type>().value(0);
    let epoch = chrono::NaiveDate::from_ymd_opt(1970, 1, 1).unwrap();
    assert_eq!(
        epoch + chrono::Duration::days(day.into()),
        chrono::NaiveDate::from_ymd_opt(2019, 3, 5).unwrap()
    );
}

#[test]
fn a_named_sheet_and_a_missing_one() {
    let bytes = workbook();
    let err = read_xlsx(
        Cursor::new(&bytes),
        Some("不存在"),
        &CsvOptions::default(),
        &XlsxLimits::default(),
    )
    .unwrap_err();
    assert!(err.to_string().contains("no sheet named"), "{err}");
    let err = read_xlsx(
        Cursor::new(&bytes),
        Some("说明"),
        &CsvOptions::default(),
        &XlsxLimits::default(),
    )
    .unwrap_err();
    assert!(matches!(err, DataError::Empty));
}

#[test]
fn broken_and_hostile_archives_are_refused() {
    // Truncated: half a workbook.
    let bytes = workbook();
    let half = &bytes[..bytes.len() / 2];
    assert!(
        read_xlsx(
            Cursor::new(half),
            None,
            &CsvOptions::default(),
            &XlsxLimits::default()
        )
        .is_err()
    );
    // Not a spreadsheet at all.
    assert!(
        read_xlsx(
            Cursor::new(b"just text".as_slice()),
            None,
            &CsvOptions::default(),
            &XlsxLimits::default()
        )
        .is_err()
    );
    // A zip bomb: one entry that expands 10 MiB of zeros from a few KiB.
    let mut bomb = Vec::new();
    {
        let mut z = zip_writer(&mut bomb);
        z.start_file("xl/worksheets/sheet1.xml", zip_options())
            .unwrap();
        z.write_all(&vec![0u8; 10 * 1024 * 1024]).unwrap();
        z.finish().unwrap();
    }
    let err = read_xlsx(
        Cursor::new(&bomb),
        None,
        &CsvOptions::default(),
        &XlsxLimits::default(),
    )
    .unwrap_err();
    assert!(err.to_string().contains("zip bomb"), "{err}");
    // A total size over the limit is refused too.
    let small = XlsxLimits {
        max_uncompressed_bytes: 1024,
        ..XlsxLimits::default()
    };
    let err = read_xlsx(Cursor::new(&bytes), None, &CsvOptions::default(), &small).unwrap_err();
    assert!(err.to_string().contains("expands too far"), "{err}");
}

fn zip_writer(out: &mut Vec<u8>) -> zip::ZipWriter<Cursor<&mut Vec<u8>>> {
    zip::ZipWriter::new(Cursor::new(out))
}

fn zip_options() -> zip::write::SimpleFileOptions {
    zip::write::SimpleFileOptions::default().compression_method(zip::CompressionMethod::Deflated)
}
