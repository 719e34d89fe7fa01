//! Uploads become immutable, numbered versions: the original kept byte for byte, the
//! table as Parquet with the platform's `_row` first, and files that are not tables kept
//! as they are.

use std::path::Path;

use arrow_array::cast::AsArray;
use arrow_array::types::Int64Type;
use gongshu_data::{
    Declared, DeclaredType, FileKind, IngestOptions, Prepared, Versions, prepare, sniff,
};
use object_store::ObjectStoreExt;
use parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder;
use sha2::{Digest, Sha256};

fn write(dir: &Path, name: &str, bytes: &[u8]) -> std::path::PathBuf {
    let path = dir.join(name);
    std::fs::write(&path, bytes).unwrap();
    path
}

fn prepared(dir: &Path, name: &str, bytes: &[u8], options: &IngestOptions) -> Prepared {
    let path = write(dir, name, bytes);
    prepare(&path, name, options, dir, &mut |_, _| {}).unwrap()
}

#[test]
fn magic_numbers_decide_what_a_file_is() {
    assert_eq!(sniff("a.csv", b"%PDF-1.7 ..."), FileKind::Other);
    assert_eq!(sniff("a.csv", b"PK\x03\x04...."), FileKind::Other);
    assert_eq!(sniff("a.xlsx", b"PK\x03\x04...."), FileKind::Spreadsheet);
    assert_eq!(
        sniff("a.xls", b"\xD0\xCF\x11\xE0\xA1\xB1\x1A\xE1"),
        FileKind::Spreadsheet
    );
    assert_eq!(sniff("data", b"PAR1...."), FileKind::Parquet);
    assert_eq!(sniff("data", b"  [{\"a\":1}]"), FileKind::Json);
    assert_eq!(sniff("x.geojson", b"{\"type\":"), FileKind::Json);
    assert_eq!(sniff("名单.txt", "名称,代码\n".as_bytes()), FileKind::Csv);
    assert_eq!(sniff("photo", b"\x89PNG\r\n"), FileKind::Other);
}

#[test]
fn a_large_table_streams_into_row_groups_numbered_from_one() {
    let dir = tempfile::tempdir().unwrap();
    let mut csv = String::from("编号,数量\n");
    for i in 0..50_000 {
        csv.push_str(&format!("N{i:05},{i}\n"));
    }
    csv.push_str("bad,row,extra\n");
    let options = IngestOptions {
        row_group_rows: 10_000,
        ..IngestOptions::default()
    };
    let mut last = (0, 0);
    let path = write(dir.path(), "big.csv", csv.as_bytes());
    let Prepared::Table(t) = prepare(&path, "big.csv", &options, dir.path(), &mut |r, j| {
        last = (r, j)
    })
    .unwrap() else {
        panic!("a CSV is a table")
    };
    assert_eq!(t.summary.rows, 50_000);
    assert_eq!(t.summary.rejected_rows, 1);
    assert_eq!(t.summary.rejected[0].line, 50_002);
    assert_eq!(last, (50_000, 1), "progress heard the end");
    let reader =
        ParquetRecordBatchReaderBuilder::try_new(std::fs::File::open(t.parquet.path()).unwrap())
            .unwrap();
    assert_eq!(reader.metadata().num_row_groups(), 5);
    assert_eq!(reader.schema().field(0).name(), "_row");
    let rows: Vec<i64> = reader
        .build()
        .unwrap()
        .flat_map(|b| {
            let b = b.unwrap();
            b.column(0).as_primitive::<Int64Type>().values().to_vec()
        })
        .collect();
    assert_eq!(rows.len(), 50_000);
    assert_eq!((rows[0], rows[49_999]), (1, 50_000));
}

// The catalog's declared data items (信息项) win over inference: a declared character
// column stays text, and values that do not fit a declared type are rejected rows.
#[test]
fn declared_items_decide_column_types() {
    let dir = tempfile::tempdir().unwrap();
    let mut options = IngestOptions::default();
    options.csv.declared = vec![
        Declared {
            name: "数量".into(),
            kind: DeclaredType::Text,
        },
        Declared {
            name: "金额".into(),
            kind: DeclaredType::Number,
        },
        Declared {
            name: "不存在".into(),
            kind: DeclaredType::Date,
        },
    ];
    let Prepared::Table(t) = prepared(
        dir.path(),
        "a.csv",
        "数量,金额\n1,2.5\n2,N/A\n".as_bytes(),
        &options,
    ) else {
        panic!()
    };
    let types: Vec<String> = t
        .summary
        .schema
        .fields()
        .iter()
        .map(|f| f.data_type().to_string())
        .collect();
    assert_eq!(types, ["Utf8", "Decimal128(38, 4)"]);
    assert_eq!(t.summary.rows, 1);
    assert_eq!(t.summary.rejected_rows, 1);
    assert!(t.summary.rejected[0].reason.contains("金额"));
    assert_eq!(t.summary.missing_declared, ["不存在"]);
}

#[tokio::test]
async fn versions_keep_the_original_and_never_share_a_number() {
    let dir = tempfile::tempdir().unwrap();
    let v = Versions::local(&dir.path().join("store")).unwrap();
    let gbk = encoding_rs::GBK.encode("编号,数量\nN1,1\n").0.into_owned();
    let path = write(dir.path(), "up.csv", &gbk);
    let p = prepare(
        &path,
        "up.csv",
        &IngestOptions::default(),
        dir.path(),
        &mut |_, _| {},
    )
    .unwrap();
    let (a, b) = tokio::join!(
        v.stage(
            "res-1",
            &path,
            "../../../etc/企业名单.csv",
            &p,
            "alice",
            0,
            false
        ),
        v.stage("res-1", &path, "b.csv", &p, "bob", 0, false)
    );
    let (a, b) = (a.unwrap(), b.unwrap());
    let mut numbers = [a.version, b.version];
    numbers.sort_unstable();
    assert_eq!(numbers, [1, 2]);
    assert_eq!(
        a.original.name, "企业名单.csv",
        "no path travels with the name"
    );
    assert_eq!(a.original.sha256, hex::encode(Sha256::digest(&gbk)));
    assert_eq!(
        (a.rows, a.kind.as_str(), a.uploader.as_str()),
        (1, "table", "alice")
    );
    assert_eq!(a.columns[0].name, "编号");
    assert!(a.source.contains("GB18030"));
    let got = v
        .store()
        .get(&Versions::original_path("res-1", &a))
        .await
        .unwrap()
        .bytes()
        .await
        .unwrap();
    assert_eq!(&got[..], &gbk[..]);
    assert!(!dir.path().join("etc").exists());
    assert_eq!(v.read("res-1", a.version).await.unwrap()[0].num_rows(), 1);
    assert!(v.read("res-1", 3).await.is_err());
    for key in ["", "../x", "a/b", "a b", &"k".repeat(200)] {
        assert!(
            v.stage(key, &path, "a.csv", &p, "x", 0, false)
                .await
                .is_err(),
            "{key:?}"
        );
    }
}

#[tokio::test]
async fn files_that_are_not_tables_are_kept_as_they_are() {
    let dir = tempfile::tempdir().unwrap();
    let v = Versions::local(&dir.path().join("store")).unwrap();
    let pdf = b"%PDF-1.4\n binary \x00\x01 stuff";
    let p = prepared(dir.path(), "report.csv", pdf, &IngestOptions::default());
    assert!(
        matches!(p, Prepared::File),
        "a PDF named .csv is still a PDF"
    );
    let path = write(dir.path(), "report.pdf", pdf);
    let m = v
        .stage("res-2", &path, "report.pdf", &p, "alice", 0, false)
        .await
        .unwrap();
    assert_eq!((m.kind.as_str(), m.parquet.is_none()), ("file", true));
    assert!(
        v.read("res-2", 1).await.is_err(),
        "a file has no table to read"
    );
}
