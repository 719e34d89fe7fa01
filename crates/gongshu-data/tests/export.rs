//! Downloads and the row API: what each format carries, that spreadsheets never get a
//! formula, and that streaming hands bytes out batch by batch.

use std::sync::Arc;

use arrow_array::{
    ArrayRef, BooleanArray, Date32Array, Decimal128Array, DictionaryArray, Float64Array,
    Int64Array, RecordBatch, StringArray, TimestampMillisecondArray, types::Int32Type,
};
use arrow_schema::{DataType, Field, Schema, SchemaRef, TimeUnit};
use calamine::{Data, Reader};
use gongshu_data::export::{
    ExportError, ExportFormat, StreamExport, json_rows, neutralise, write_xlsx,
    write_xlsx_with_limit,
};
use parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder;
use serde_json::{Value, json};

fn schema() -> SchemaRef {
    Arc::new(Schema::new(vec![
        Field::new("编号", DataType::Int64, true),
        Field::new("企业名称", DataType::Utf8, true),
        Field::new("金额", DataType::Decimal128(38, 2), true),
        Field::new("成立日期", DataType::Date32, true),
        Field::new("在营", DataType::Boolean, true),
    ]))
}

/// Days since 1970-01-01.
fn day(y: i32, m: u32, d: u32) -> i32 {
    let date = chrono::NaiveDate::from_ymd_opt(y, m, d).unwrap();
    (date - chrono::NaiveDate::from_ymd_opt(1970, 1, 1).unwrap()).num_days() as i32
}

type Row<'a> = (
    Option<i64>,
    Option<&'a str>,
    Option<i128>,
    Option<i32>,
    Option<bool>,
);

fn batch(rows: &[Row<'_>]) -> RecordBatch {
    let columns: Vec<ArrayRef> = vec![
        Arc::new(Int64Array::from_iter(rows.iter().map(|r| r.0))),
        Arc::new(StringArray::from_iter(rows.iter().map(|r| r.1))),
        Arc::new(
            Decimal128Array::from_iter(rows.iter().map(|r| r.2))
                .with_precision_and_scale(38, 2)
                .unwrap(),
        ),
        Arc::new(Date32Array::from_iter(rows.iter().map(|r| r.3))),
        Arc::new(BooleanArray::from_iter(rows.iter().map(|r| r.4))),
    ];
    RecordBatch::try_new(schema(), columns).unwrap()
}

fn batches() -> Vec<RecordBatch> {
    vec![
        batch(&[
            (
                Some(1),
                Some("青岛甲公司"),
                Some(1250),
                Some(day(2024, 3, 5)),
                Some(true),
            ),
            (
                Some(-2),
                Some("=HYPERLINK(\"http://evil.example\",\"点我\")"),
                Some(-5),
                Some(day(1999, 12, 31)),
                Some(false),
            ),
        ]),
        batch(&[(None, None, None, None, None)]),
        batch(&[
            (Some(4), Some("+1"), Some(0), Some(day(2020, 1, 1)), None),
            (Some(5), Some("-2"), Some(100), None, Some(true)),
            (
                Some(6),
                Some("@x"),
                Some(1_234_567_890_123_456_789_012_345),
                None,
                None,
            ),
            (Some(7), Some("逗号, \"引号\"\n换行"), None, None, None),
        ]),
    ]
}

fn stream(format: ExportFormat, batches: &[RecordBatch]) -> Vec<u8> {
    let mut export = StreamExport::new(format, schema()).unwrap();
    let mut out = export.start().unwrap();
    for b in batches {
        out.extend(export.batch(b).unwrap());
    }
    out.extend(export.finish().unwrap());
    out
}

fn read_csv(bytes: &[u8]) -> Vec<Vec<String>> {
    csv::ReaderBuilder::new()
        .has_headers(false)
        .from_reader(bytes)
        .records()
        .map(|r| r.unwrap().iter().map(str::to_owned).collect())
        .collect()
}

#[test]
fn csv_with_bom_round_trips_and_neutralises_formulas() {
    let bytes = stream(ExportFormat::CsvBom, &batches());
    assert_eq!(&bytes[..3], b"\xEF\xBB\xBF");
    let rows = read_csv(&bytes[3..]);
    assert_eq!(rows[0], ["编号", "企业名称", "金额", "成立日期", "在营"]);
    assert_eq!(rows[1], ["1", "青岛甲公司", "12.50", "2024-03-05", "true"]);
    // The text is neutralised; the negative number in a number column is left alone.
    assert_eq!(
        rows[2],
        [
            "-2",
            "'=HYPERLINK(\"http://evil.example\",\"点我\")",
            "-0.05",
            "1999-12-31",
            "false"
        ]
    );
    assert_eq!(rows[3], ["", "", "", "", ""]);
    assert_eq!(rows[4], ["4", "'+1", "0.00", "2020-01-01", ""]);
    assert_eq!(rows[5], ["5", "'-2", "1.00", "", "true"]);
    assert_eq!(rows[6], ["6", "'@x", "12345678901234567890123.45", "", ""]);
    assert_eq!(rows[7], ["7", "逗号, \"引号\"\n换行", "", "", ""]);
    assert_eq!(rows.len(), 8);
}

#[test]
fn plain_csv_has_no_bom_and_neutralises_header_names() {
    let schema = Arc::new(Schema::new(vec![
        Field::new("=cmd", DataType::Utf8, true),
        Field::new("v", DataType::Float64, true),
    ]));
    let batch = RecordBatch::try_new(
        schema.clone(),
        vec![
            Arc::new(StringArray::from(vec![Some("\tx"), Some("ok")])),
            Arc::new(Float64Array::from(vec![Some(1.5), None])),
        ],
    )
    .unwrap();
    let mut export = StreamExport::new(ExportFormat::Csv, schema).unwrap();
    let mut bytes = export.start().unwrap();
    bytes.extend(export.batch(&batch).unwrap());
    bytes.extend(export.finish().unwrap());
    assert!(bytes.starts_with(b"'=cmd,v\r\n"));
    let rows = read_csv(&bytes);
    assert_eq!(rows[1], ["'\tx", "1.5"]);
    assert_eq!(rows[2], ["ok", ""]);
}

#[test]
fn a_null_in_a_single_column_csv_is_still_a_row() {
    let schema = Arc::new(Schema::new(vec![Field::new("a", DataType::Utf8, true)]));
    let batch = RecordBatch::try_new(
        schema.clone(),
        vec![Arc::new(StringArray::from(vec![None, Some("x")]))],
    )
    .unwrap();
    let mut export = StreamExport::new(ExportFormat::Csv, schema).unwrap();
    let mut bytes = export.batch(&batch).unwrap();
    bytes.extend(export.finish().unwrap());
    let rows = read_csv(&bytes);
    assert_eq!(rows, [vec!["a"], vec![""], vec!["x"]]);
}

#[test]
fn json_export_parses_into_exact_values() {
    let bytes = stream(ExportFormat::Json, &batches());
    let text = std::str::from_utf8(&bytes).unwrap();
    // Decimals are written from their decimal text, never through f64.
    assert!(text.contains(r#""金额":12.50"#), "{text}");
    assert!(
        text.contains(r#""金额":12345678901234567890123.45"#),
        "{text}"
    );
    assert!(text.contains(r#""金额":-0.05"#), "{text}");
    let value: Value = serde_json::from_slice(&bytes).unwrap();
    let rows = value.as_array().unwrap();
    assert_eq!(rows.len(), 7);
    assert_eq!(
        rows[0],
        json!({"编号": 1, "企业名称": "青岛甲公司", "金额": 12.5, "成立日期": "2024-03-05", "在营": true})
    );
    assert_eq!(
        rows[1]["企业名称"],
        "=HYPERLINK(\"http://evil.example\",\"点我\")"
    );
    assert_eq!(
        rows[2],
        json!({"编号": null, "企业名称": null, "金额": null, "成立日期": null, "在营": null})
    );
    assert_eq!(rows[3]["企业名称"], "+1");
    assert_eq!(rows[4]["企业名称"], "-2");
    assert_eq!(rows[5]["企业名称"], "@x");
    assert_eq!(rows[6]["企业名称"], "逗号, \"引号\"\n换行");
    // Keys keep column order.
    let keys: Vec<_> = rows[0].as_object().unwrap().keys().cloned().collect();
    assert_eq!(keys, ["编号", "企业名称", "金额", "成立日期", "在营"]);
}

#[test]
fn json_export_of_nothing_is_an_empty_array() {
    let bytes = stream(ExportFormat::Json, &[]);
    assert_eq!(serde_json::from_slice::<Value>(&bytes).unwrap(), json!([]));
    assert_eq!(json_rows(&[]).unwrap(), b"[]");
}

#[test]
fn ndjson_has_one_object_per_line() {
    let bytes = stream(ExportFormat::Ndjson, &batches());
    let text = String::from_utf8(bytes).unwrap();
    assert!(text.ends_with('\n'));
    let lines: Vec<&str> = text.lines().collect();
    assert_eq!(lines.len(), 7);
    for line in &lines {
        let value: Value = serde_json::from_str(line).unwrap();
        assert!(value.is_object());
    }
    let first: Value = serde_json::from_str(lines[0]).unwrap();
    assert_eq!(first["成立日期"], "2024-03-05");
    let last: Value = serde_json::from_str(lines[6]).unwrap();
    assert_eq!(last["企业名称"], "逗号, \"引号\"\n换行");
}

#[test]
fn json_handles_floats_timestamps_and_dictionaries() {
    let schema = Arc::new(Schema::new(vec![
        Field::new("f", DataType::Float64, true),
        Field::new(
            "t",
            DataType::Timestamp(TimeUnit::Millisecond, Some("+08:00".into())),
            true,
        ),
        Field::new(
            "d",
            DataType::Dictionary(Box::new(DataType::Int32), Box::new(DataType::Utf8)),
            true,
        ),
    ]));
    let dict: DictionaryArray<Int32Type> = vec![Some("甲"), None, Some("甲")].into_iter().collect();
    let batch = RecordBatch::try_new(
        schema,
        vec![
            Arc::new(Float64Array::from(vec![
                Some(0.1),
                Some(f64::NAN),
                Some(f64::INFINITY),
            ])),
            Arc::new(
                TimestampMillisecondArray::from(vec![Some(1_709_600_400_000), None, Some(0)])
                    .with_timezone("+08:00"),
            ),
            Arc::new(dict),
        ],
    )
    .unwrap();
    let value: Value = serde_json::from_slice(&json_rows(&[batch]).unwrap()).unwrap();
    assert_eq!(
        value,
        json!([
            {"f": 0.1, "t": "2024-03-05T09:00:00+08:00", "d": "甲"},
            {"f": null, "t": null, "d": null},
            {"f": null, "t": "1970-01-01T08:00:00+08:00", "d": "甲"},
        ])
    );
}

#[test]
fn json_rows_escapes_quotes_newlines_and_control_characters() {
    let nasty = "引号\"反斜杠\\换行\n回车\r制表\t\u{1}\u{1f}</script>";
    let schema = Arc::new(Schema::new(vec![
        Field::new("键\"名", DataType::Utf8, false),
        Field::new("n", DataType::Int64, false),
    ]));
    let batch = RecordBatch::try_new(
        schema,
        vec![
            Arc::new(StringArray::from(vec![nasty, "=1+1"])),
            Arc::new(Int64Array::from(vec![i64::MIN, i64::MAX])),
        ],
    )
    .unwrap();
    let bytes = json_rows(&[batch.clone(), batch]).unwrap();
    // Control characters never appear raw.
    assert!(!bytes.iter().any(|b| *b < 0x20 && *b != b'\n'));
    let value: Value = serde_json::from_slice(&bytes).unwrap();
    let rows = value.as_array().unwrap();
    assert_eq!(rows.len(), 4);
    assert_eq!(rows[0]["键\"名"], nasty);
    assert_eq!(rows[0]["n"], i64::MIN);
    assert_eq!(rows[1]["键\"名"], "=1+1");
    assert_eq!(rows[3]["n"], i64::MAX);
}

#[test]
fn parquet_chunks_concatenate_into_the_same_table() {
    let input = batches();
    let mut export = StreamExport::new(ExportFormat::Parquet, schema()).unwrap();
    let mut chunks = vec![export.start().unwrap()];
    for b in &input {
        chunks.push(export.batch(b).unwrap());
    }
    chunks.push(export.finish().unwrap());
    assert_eq!(chunks[0], b"PAR1");
    let file = bytes::Bytes::from(chunks.concat());
    let builder = ParquetRecordBatchReaderBuilder::try_new(file).unwrap();
    assert_eq!(builder.schema().fields(), schema().fields());
    let output: Vec<RecordBatch> = builder.build().unwrap().map(Result::unwrap).collect();
    // Seven rows come back as one batch; each input batch is a slice of it.
    assert_eq!(output.len(), 1);
    assert_eq!(output[0].slice(0, 2), input[0]);
    assert_eq!(output[0].slice(2, 1), input[1]);
    assert_eq!(output[0].slice(3, 4), input[2]);
}

#[test]
fn parquet_streams_row_groups_out_as_they_fill() {
    let schema = Arc::new(Schema::new(vec![Field::new("n", DataType::Int64, false)]));
    let batch = RecordBatch::try_new(
        schema.clone(),
        vec![Arc::new(Int64Array::from_iter_values(0..10_000))],
    )
    .unwrap();
    let mut export = StreamExport::new(ExportFormat::Parquet, schema).unwrap();
    let mut chunks = vec![export.start().unwrap()];
    for _ in 0..30 {
        chunks.push(export.batch(&batch).unwrap());
    }
    // 300k rows cross several 64k-row groups, each handed out when it is complete.
    let non_empty = chunks.iter().filter(|c| !c.is_empty()).count();
    assert!(non_empty >= 4, "{non_empty} non-empty chunks");
    chunks.push(export.finish().unwrap());
    let file = bytes::Bytes::from(chunks.concat());
    let reader = ParquetRecordBatchReaderBuilder::try_new(file).unwrap();
    assert!(reader.metadata().num_row_groups() >= 4);
    let rows: usize = reader.build().unwrap().map(|b| b.unwrap().num_rows()).sum();
    assert_eq!(rows, 300_000);
}

fn read_xlsx(path: &std::path::Path) -> calamine::Range<Data> {
    let mut workbook: calamine::Xlsx<_> = calamine::open_workbook(path).unwrap();
    let sheet = workbook.sheet_names()[0].clone();
    workbook.worksheet_range(&sheet).unwrap()
}

#[test]
fn xlsx_has_typed_cells_and_no_formulas() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("out.xlsx");
    let rows = write_xlsx(&schema(), batches().into_iter().map(Ok), &path).unwrap();
    assert_eq!(rows, 7);
    let range = read_xlsx(&path);
    assert_eq!(range.height(), 8);
    let cell = |r: u32, c: u32| range.get_value((r, c)).cloned().unwrap_or(Data::Empty);
    assert_eq!(cell(0, 0), Data::String("编号".into()));
    assert_eq!(cell(0, 4), Data::String("在营".into()));
    assert_eq!(cell(1, 0), Data::Float(1.0));
    assert_eq!(cell(1, 1), Data::String("青岛甲公司".into()));
    assert_eq!(cell(1, 2), Data::Float(12.5));
    match cell(1, 3) {
        // 45356 is 2024-03-05 in Excel's serial days.
        Data::DateTime(d) => assert_eq!(d.as_f64(), 45356.0),
        other => panic!("expected a date, got {other:?}"),
    }
    assert_eq!(cell(1, 4), Data::Bool(true));
    assert_eq!(cell(2, 0), Data::Float(-2.0));
    assert_eq!(
        cell(2, 1),
        Data::String("'=HYPERLINK(\"http://evil.example\",\"点我\")".into())
    );
    assert_eq!(cell(3, 1), Data::Empty);
    assert_eq!(cell(4, 1), Data::String("'+1".into()));
    assert_eq!(cell(5, 1), Data::String("'-2".into()));
    assert_eq!(cell(6, 1), Data::String("'@x".into()));
    assert_eq!(cell(7, 1), Data::String("逗号, \"引号\"\n换行".into()));

    // No cell of the sheet is a formula.
    let mut workbook: calamine::Xlsx<_> = calamine::open_workbook(&path).unwrap();
    let formulas = workbook.worksheet_formula("Sheet1").unwrap();
    assert!(formulas.used_cells().all(|(_, _, f)| f.is_empty()));
}

#[test]
fn xlsx_keeps_long_integers_as_text() {
    let schema = Arc::new(Schema::new(vec![Field::new("id", DataType::Int64, false)]));
    let batch = RecordBatch::try_new(
        schema.clone(),
        vec![Arc::new(Int64Array::from(vec![
            370_202_199_001_011_234,
            123_456_789_012_345,
        ]))],
    )
    .unwrap();
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("ids.xlsx");
    write_xlsx(&schema, std::iter::once(Ok(batch)), &path).unwrap();
    let range = read_xlsx(&path);
    assert_eq!(
        range.get_value((1, 0)),
        Some(&Data::String("370202199001011234".into()))
    );
    assert_eq!(
        range.get_value((2, 0)),
        Some(&Data::Float(123_456_789_012_345.0))
    );
}

#[test]
fn xlsx_over_the_row_limit_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("big.xlsx");
    let input = batches(); // 2 + 1 + 4 rows
    let err =
        write_xlsx_with_limit(&schema(), input.clone().into_iter().map(Ok), &path, 6).unwrap_err();
    assert!(
        matches!(err, ExportError::TooManyRowsForXlsx { rows_max: 6 }),
        "{err:?}"
    );
    assert!(!path.exists());

    let rows = write_xlsx_with_limit(&schema(), input.into_iter().map(Ok), &path, 7).unwrap();
    assert_eq!(rows, 7);
    assert!(path.exists());
}

#[test]
fn xlsx_passes_on_the_source_error() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("failed.xlsx");
    let source = vec![
        Ok(batches().remove(0)),
        Err(ExportError::Xlsx("source failed".into())),
    ];
    let err = write_xlsx(&schema(), source.into_iter(), &path).unwrap_err();
    assert!(matches!(err, ExportError::Xlsx(ref m) if m == "source failed"));
    assert!(!path.exists());
}

#[test]
fn streaming_csv_hands_out_one_batch_at_a_time() {
    let schema = Arc::new(Schema::new(vec![
        Field::new("n", DataType::Int64, false),
        Field::new("名称", DataType::Utf8, false),
    ]));
    let names: Vec<String> = (0..10_000).map(|i| format!("企业{i}")).collect();
    let batch = RecordBatch::try_new(
        schema.clone(),
        vec![
            Arc::new(Int64Array::from_iter_values(0..10_000)),
            Arc::new(StringArray::from_iter_values(&names)),
        ],
    )
    .unwrap();
    // What one batch should cost: "9999,企业9999\r\n" is at most 22 bytes.
    let per_batch_max = 10_000 * 22;
    let mut export = StreamExport::new(ExportFormat::CsvBom, schema).unwrap();
    let mut total = export.start().unwrap().len();
    for _ in 0..200 {
        let chunk = export.batch(&batch).unwrap();
        assert!(chunk.len() > per_batch_max / 2, "{} bytes", chunk.len());
        assert!(chunk.len() <= per_batch_max, "{} bytes", chunk.len());
        total += chunk.len();
    }
    let tail = export.finish().unwrap();
    assert!(tail.len() < 100);
    total += tail.len();
    assert!(total > 200 * per_batch_max / 2);
}

#[test]
fn streaming_json_chunks_concatenate_into_one_document() {
    let input = batches();
    let mut export = StreamExport::new(ExportFormat::Json, schema()).unwrap();
    let start = export.start().unwrap();
    assert_eq!(start, b"[");
    let mut out = start;
    for b in &input {
        let chunk = export.batch(b).unwrap();
        assert!(!chunk.is_empty());
        out.extend(chunk);
    }
    let end = export.finish().unwrap();
    assert!(end.ends_with(b"]\n"));
    out.extend(end);
    assert_eq!(
        serde_json::from_slice::<Value>(&out).unwrap(),
        serde_json::from_slice::<Value>(&json_rows(&input).unwrap()).unwrap()
    );
}

#[test]
fn xlsx_cannot_be_streamed() {
    assert!(matches!(
        StreamExport::new(ExportFormat::Xlsx, schema()),
        Err(ExportError::UnsupportedFormat(ExportFormat::Xlsx))
    ));
}

#[test]
fn a_batch_of_another_shape_is_refused() {
    let mut export = StreamExport::new(ExportFormat::Ndjson, schema()).unwrap();
    let other = RecordBatch::try_new(
        Arc::new(Schema::new(vec![Field::new("a", DataType::Int64, false)])),
        vec![Arc::new(Int64Array::from(vec![1]))],
    )
    .unwrap();
    assert!(matches!(
        export.batch(&other),
        Err(ExportError::SchemaMismatch {
            expected: 5,
            found: 1
        })
    ));
}

#[test]
fn formats_by_name_and_by_accept_header() {
    assert_eq!(ExportFormat::from_name("csv"), Some(ExportFormat::CsvBom));
    assert_eq!(ExportFormat::from_name("CSV-UTF8"), Some(ExportFormat::Csv));
    assert_eq!(ExportFormat::from_name("jsonl"), Some(ExportFormat::Ndjson));
    assert_eq!(ExportFormat::from_name("xls"), None);
    for f in ExportFormat::ALL {
        assert_eq!(ExportFormat::from_name(f.name()), Some(f));
    }
    assert_eq!(
        ExportFormat::CsvBom.content_type(),
        "text/csv; charset=utf-8"
    );
    assert_eq!(ExportFormat::Ndjson.extension(), "ndjson");
    assert_eq!(ExportFormat::Xlsx.extension(), "xlsx");

    let accept = ExportFormat::from_accept;
    assert_eq!(accept("text/csv"), Some(ExportFormat::Csv));
    assert_eq!(accept("application/json"), Some(ExportFormat::Json));
    assert_eq!(
        accept("text/html, application/json;q=0.5, text/csv;q=0.9"),
        Some(ExportFormat::Csv)
    );
    assert_eq!(
        accept("application/x-ndjson, application/json"),
        Some(ExportFormat::Ndjson)
    );
    assert_eq!(
        accept("application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"),
        Some(ExportFormat::Xlsx)
    );
    assert_eq!(accept("application/x-parquet"), Some(ExportFormat::Parquet));
    assert_eq!(
        accept("Application/Vnd.Apache.Parquet"),
        Some(ExportFormat::Parquet)
    );
    assert_eq!(
        accept("application/json;q=0, text/csv;q=0.1"),
        Some(ExportFormat::Csv)
    );
    assert_eq!(accept("*/*"), None);
    assert_eq!(accept("text/html"), None);
    assert_eq!(accept(""), None);
}

#[test]
fn neutralise_only_touches_formula_starts() {
    for (input, expected) in [
        ("=1+1", "'=1+1"),
        ("+1", "'+1"),
        ("-2", "'-2"),
        ("@SUM(A1)", "'@SUM(A1)"),
        ("\tx", "'\tx"),
        ("\rx", "'\rx"),
        ("1-2", "1-2"),
        ("青岛", "青岛"),
        ("", ""),
    ] {
        assert_eq!(neutralise(input), expected);
    }
}

#[test]
fn odd_decimals_are_still_json_numbers() {
    let schema = Arc::new(Schema::new(vec![
        Field::new("hundreds", DataType::Decimal128(38, -2), true),
        Field::new("small", DataType::Decimal128(10, 4), true),
    ]));
    let batch = RecordBatch::try_new(
        schema,
        vec![
            Arc::new(
                Decimal128Array::from(vec![Some(12), Some(-3)])
                    .with_precision_and_scale(38, -2)
                    .unwrap(),
            ),
            Arc::new(
                Decimal128Array::from(vec![Some(5), Some(-12_345)])
                    .with_precision_and_scale(10, 4)
                    .unwrap(),
            ),
        ],
    )
    .unwrap();
    let bytes = json_rows(&[batch]).unwrap();
    let text = std::str::from_utf8(&bytes).unwrap();
    assert!(text.contains(r#""small":0.0005"#), "{text}");
    assert!(text.contains(r#""small":-1.2345"#), "{text}");
    let value: Value = serde_json::from_slice(&bytes).unwrap();
    assert_eq!(value[0]["hundreds"], json!(1200));
    assert_eq!(value[1]["hundreds"], json!(-300));
}

#[test]
fn xlsx_writes_timestamps_as_local_excel_times() {
    let schema = Arc::new(Schema::new(vec![Field::new(
        "t",
        DataType::Timestamp(TimeUnit::Millisecond, Some("+08:00".into())),
        true,
    )]));
    let batch = RecordBatch::try_new(
        schema.clone(),
        vec![Arc::new(
            // 2024-03-05T01:00:00Z, 09:00 in +08:00; then a moment before Excel's calendar.
            TimestampMillisecondArray::from(vec![
                Some(1_709_600_400_000),
                Some(-2_500_000_000_000),
            ])
            .with_timezone("+08:00"),
        )],
    )
    .unwrap();
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("t.xlsx");
    write_xlsx(&schema, std::iter::once(Ok(batch)), &path).unwrap();
    let range = read_xlsx(&path);
    match range.get_value((1, 0)) {
        Some(Data::DateTime(d)) => assert_eq!(d.as_f64(), 45356.0 + 9.0 / 24.0),
        other => panic!("expected a date-time, got {other:?}"),
    }
    match range.get_value((2, 0)) {
        Some(Data::String(s)) => assert!(s.starts_with("1890-"), "{s}"),
        other => panic!("expected text, got {other:?}"),
    }
}
