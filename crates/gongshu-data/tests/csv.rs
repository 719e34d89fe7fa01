//! The files governments publish, and the broken ones people upload by mistake.

use arrow_array::cast::AsArray;
use arrow_array::types::{Date32Type, Decimal128Type, Int64Type};
use arrow_schema::DataType;
use gongshu_data::encoding::TextEncoding;
use gongshu_data::table::Source;
use gongshu_data::{CsvOptions, DataError, Table, read_csv};

fn encoding(t: &Table) -> TextEncoding {
    match t.source {
        Source::Csv { encoding, .. } => encoding,
        Source::Xlsx { .. } | Source::Json { .. } | Source::Parquet => panic!("not a CSV"),
    }
}

fn read(bytes: &[u8]) -> Result<Table, DataError> {
    read_csv(bytes, &CsvOptions::default())
}

fn types(t: &Table) -> Vec<(String, DataType)> {
    t.schema
        .fields()
        .iter()
        .map(|f| (f.name().clone(), f.data_type().clone()))
        .collect()
}

const ENTERPRISES: &str = "2024年度淄博市企业登记信息\n单位：元\n\
企业名称,统一社会信用代码,成立日期,注册资本,是否存续,邮编\n\
淄博甲有限公司,91370303MA3C0000X1,2019年3月5日,\"1,000,000\",是,255000\n\
淄博乙有限公司,91370303MA3C0001X2,2020/12/1,250000.50,否,255100\n\
淄博丙有限公司,91370303MA3C0002X3,2021-07-09,,是,255000\n";

#[test]
fn gbk_csv_with_title_rows_reads_as_a_typed_table() {
    let gbk = encoding_rs::GBK.encode(ENTERPRISES).0.into_owned();
    let t = read(&gbk).unwrap();
    assert_eq!(encoding(&t), TextEncoding::Gb18030);
    assert_eq!(t.header_line, 3);
    assert_eq!(t.rows, 3);
    assert!(t.rejected.is_empty(), "{:?}", t.rejected);
    assert_eq!(
        types(&t),
        vec![
            ("企业名称".into(), DataType::Utf8),
            ("统一社会信用代码".into(), DataType::Utf8),
            ("成立日期".into(), DataType::Date32),
            ("注册资本".into(), DataType::Decimal128(38, 2)),
            ("是否存续".into(), DataType::Boolean),
            ("邮编".into(), DataType::Utf8),
        ]
    );
    let b = &t.batches[0];
    assert_eq!(b.column(0).as_string::<i32>().value(0), "淄博甲有限公司");
    assert_eq!(
        b.column(3).as_primitive::<Decimal128Type>().value(0),
        100_000_000
    );
    assert!(b.column(3).is_null(2));
    let day = b.column(2).as_primitive::<Date32Type>().value(1);
    assert_eq!(
        chrono::NaiveDate::from_ymd_opt(1970, 1, 1).unwrap() + chrono::Duration::days(day.into()),
        chrono::NaiveDate::from_ymd_opt(2020, 12, 1).unwrap()
    );
}

#[test]
fn the_same_table_in_every_encoding_reads_the_same() {
    let utf8 = ENTERPRISES.as_bytes().to_vec();
    let mut bom = vec![0xEF, 0xBB, 0xBF];
    bom.extend_from_slice(&utf8);
    let mut utf16 = vec![0xFF, 0xFE];
    utf16.extend(ENTERPRISES.encode_utf16().flat_map(u16::to_le_bytes));
    let gb = encoding_rs::GB18030.encode(ENTERPRISES).0.into_owned();
    let reference = types(&read(&utf8).unwrap());
    for (name, bytes) in [("bom", bom), ("utf16", utf16), ("gb18030", gb)] {
        let t = read(&bytes).unwrap();
        assert_eq!(types(&t), reference, "{name}");
        assert_eq!(t.rows, 3, "{name}");
        assert_eq!(
            t.batches[0].column(0).as_string::<i32>().value(2),
            "淄博丙有限公司",
            "{name}"
        );
    }
}

#[test]
fn rows_that_do_not_fit_are_reported_not_dropped() {
    let csv = "编号,数量,日期\nA1,1,2024-01-01\nA2,2\nA3,x,2024-01-03\nA4,4,2024-01-04,,\nA5,5,2024-01-05,extra\n";
    let t = read_csv(
        csv.as_bytes(),
        &CsvOptions {
            infer_rows: 2,
            ..CsvOptions::default()
        },
    )
    .unwrap();
    assert_eq!(t.rows, 2, "A1 and A4 (trailing empty cells are padding)");
    let lines: Vec<u64> = t.rejected.iter().map(|r| r.line).collect();
    assert_eq!(lines, vec![3, 4, 6]);
    assert!(t.rejected[0].reason.contains("expected 3 fields, found 2"));
    assert!(
        t.rejected[1].reason.contains("“数量”列的值“x”"),
        "{}",
        t.rejected[1].reason
    );
    assert_eq!(
        t.batches[0].column(1).as_primitive::<Int64Type>().values(),
        &[1, 4]
    );
}

#[test]
fn tabs_and_semicolons_are_detected() {
    for (d, text, rows) in [
        (b'\t', "a\tb\n1\t2\n3\t4\n", 2),
        (b';', "a;b\n1;2\n3;4\n", 2),
        (b',', "a,b\n1,2\n", 1),
    ] {
        let t = read(text.as_bytes()).unwrap();
        assert!(matches!(t.source, Source::Csv { delimiter, .. } if delimiter == d));
        assert_eq!(t.rows, rows);
        assert_eq!(t.schema.fields().len(), 2);
    }
}

#[test]
fn duplicate_and_blank_headers_get_distinct_names() {
    let t = read("名称,名称,,备注\n甲,乙,丙,丁\n".as_bytes()).unwrap();
    let names: Vec<&str> = t
        .schema
        .fields()
        .iter()
        .map(|f| f.name().as_str())
        .collect();
    assert_eq!(names, ["名称", "名称_2", "列3", "备注"]);
}

#[test]
fn hostile_and_broken_files_get_clear_errors() {
    assert!(matches!(read(b""), Err(DataError::Empty)));
    assert!(matches!(read(b"\n\n,,\n"), Err(DataError::Empty)));
    assert!(matches!(
        read(b"\x89PNG\r\n\x1a\n\0\0\0\rIHDR\0\0"),
        Err(DataError::Binary)
    ));
    // A "line" of 2 MiB with no newline, against a 1 MiB limit.
    let long = vec![b'a'; 2 * 1024 * 1024];
    let opts = CsvOptions {
        max_line_bytes: 1024 * 1024,
        ..CsvOptions::default()
    };
    assert!(matches!(
        read_csv(&long[..], &opts),
        Err(DataError::LineTooLong(_))
    ));
    let wide = (0..20_000)
        .map(|i| format!("c{i}"))
        .collect::<Vec<_>>()
        .join(",");
    assert!(matches!(
        read(wide.as_bytes()),
        Err(DataError::TooManyColumns { found: 20_000, .. })
    ));
    // 10,000 columns are within Excel's limit and read cleanly.
    let header = (0..10_000)
        .map(|i| format!("c{i}"))
        .collect::<Vec<_>>()
        .join(",");
    let row = (0..10_000)
        .map(|i| i.to_string())
        .collect::<Vec<_>>()
        .join(",");
    let t = read(format!("{header}\n{row}\n").as_bytes()).unwrap();
    assert_eq!(t.schema.fields().len(), 10_000);
    // Bytes that are not valid in the detected encoding are reported on their row.
    let mut mixed = "名称,值\n甲,1\n".as_bytes().to_vec();
    mixed.extend_from_slice(b"\xff\xfe\xfd,2\n");
    let t = read(&mixed).unwrap();
    assert_eq!(t.rows + t.rejected.len() as u64, 2);
}

#[test]
fn large_tables_stream_into_batches() {
    let mut csv = String::from("编号,金额,日期\n");
    for i in 0..20_000 {
        csv.push_str(&format!(
            "N{i:06},{}.{:02},2024-{:02}-{:02}\n",
            i,
            i % 100,
            i % 12 + 1,
            i % 28 + 1
        ));
    }
    let t = read_csv(
        csv.as_bytes(),
        &CsvOptions {
            batch_rows: 4096,
            ..CsvOptions::default()
        },
    )
    .unwrap();
    assert_eq!(t.rows, 20_000);
    assert_eq!(t.batches.len(), 5);
    assert!(t.batches.iter().all(|b| b.num_rows() <= 4096));
    assert_eq!(
        t.batches[0].column(0).as_string::<i32>().value(0),
        "N000000"
    );
}
